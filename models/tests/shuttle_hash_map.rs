//! Randomized and PCT schedules of `HashMap` scenarios under shuttle.
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle --release --test shuttle_hash_map`
//!
//! The map is the production code over shuttle's atomics and kovan with its
//! own `shuttle` instrumentation. Shuttle explores many more operations per
//! scenario than loom can, at random (and with PCT's depth-bounded priority
//! changes), without loom's exhaustiveness.
#![cfg(feature = "shuttle")]

use kovan_map::HashMap;
use kovan_map_models::harness::{shuttle_explore as explore, KeyIsHash};
use kovan_map_models::scenario::Rng;
use shuttle::sync::Arc;
use shuttle::thread;
use std::collections::HashMap as StdMap;

type Map = HashMap<u64, u64, KeyIsHash>;

#[test]
fn private_keys_read_their_own_writes_among_shared_chains() {
    // Three threads each own four keys and run 40 random operations on them,
    // checked against a sequential model after every step; all keys share 2
    // buckets, so every chain is written by every thread and nodes of one
    // thread are unlinked by another. Would catch: a lost or misplaced
    // write, a node unlinked with the wrong successor, a stale read.
    explore(300, || {
        let map = Arc::new(Map::with_capacity_and_hasher(2, KeyIsHash));
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let mut ops = Rng::new(0x9E37_79B9 + t * 7919);
                    let mut model = StdMap::new();
                    for step in 0..40u64 {
                        let key = t * 10 + ops.below(4);
                        let value = step * 100 + t;
                        match ops.below(6) {
                            0 | 1 => assert_eq!(map.insert(key, value), model.insert(key, value)),
                            2 => assert_eq!(map.remove(&key), model.remove(&key)),
                            3 => assert_eq!(map.get(&key), model.get(&key).copied()),
                            4 => {
                                let expected = model.get(&key).copied();
                                let got = map.compute(key, |v| v.map(|n| n + 1));
                                if let Some(n) = expected {
                                    model.insert(key, n + 1);
                                }
                                assert_eq!(got, expected.map(|n| n + 1));
                            }
                            _ => {
                                let expected = model.get(&key).copied();
                                let got = map.insert_if_absent(key, value);
                                model.entry(key).or_insert(value);
                                assert_eq!(got, expected);
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        let mut expected = StdMap::new();
        for handle in handles {
            expected.extend(handle.join().unwrap());
        }
        let mut seen: Vec<(u64, u64)> = map.iter().collect();
        seen.sort_unstable();
        let mut want: Vec<(u64, u64)> = expected.into_iter().collect();
        want.sort_unstable();
        assert_eq!(seen, want);
        assert_eq!(map.len(), want.len());
    });
}

#[test]
fn concurrent_increments_add_up() {
    // Three threads each increment three shared counters ten times with
    // `compute`. Would catch: a lost update.
    explore(300, || {
        let map = Arc::new(Map::with_capacity_and_hasher(1, KeyIsHash));
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    for i in 0..30u64 {
                        map.compute((i + t) % 3, |v| Some(v.map_or(1, |n| n + 1)));
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let total: u64 = (0..3).map(|k| map.get(&k).unwrap()).sum();
        assert_eq!(total, 90);
    });
}

#[test]
fn racing_insert_if_absent_has_one_winner() {
    // Four threads claim the same two keys. Would catch: two winners, or a
    // loser that reports a value never inserted.
    explore(300, || {
        let map = Arc::new(Map::with_capacity_and_hasher(1, KeyIsHash));
        let handles: Vec<_> = (0..4u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || (map.insert_if_absent(1, t), map.get_or_insert(2, t)))
            })
            .collect();
        let answers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let winners = answers.iter().filter(|(a, _)| a.is_none()).count();
        assert_eq!(winners, 1, "{answers:?}");
        let value = map.get(&1).unwrap();
        assert!(answers.iter().all(|(a, _)| a.is_none_or(|v| v == value)));
        let second = map.get(&2).unwrap();
        assert!(answers.iter().all(|(_, b)| *b == second));
    });
}

#[test]
fn readers_never_see_a_replaced_key_absent() {
    // One writer replaces key 1 many times while two readers read it; the
    // key is present throughout, so no read may return None, and each
    // reader's values never go backwards (the writer writes increasing
    // values). Would catch: a replace window, an out-of-order read.
    explore(300, || {
        let map = Arc::new(Map::with_capacity_and_hasher(1, KeyIsHash));
        map.insert(1, 0);
        map.insert(2, 0);
        let writer = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for v in 1..=20 {
                    map.insert(1, v);
                    if v % 5 == 0 {
                        map.remove(&2);
                        map.insert(2, v);
                    }
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    let mut last = 0;
                    for _ in 0..20 {
                        let v = map.get(&1).expect("key 1 is always present");
                        assert!(v >= last, "read {v} after {last}");
                        last = v;
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for r in readers {
            r.join().unwrap();
        }
        assert_eq!(map.get(&1), Some(20));
    });
}

#[test]
fn generated_scenarios_are_linearizable_under_many_schedules() {
    // 20 random scenarios of every operation kind (up to 4 threads of 8
    // operations on 3 keys, one shared bucket), each run under 100 random
    // and 100 PCT schedules; every history is checked against the spec.
    // Would catch: any single-key operation that is not linearizable in a
    // schedule shuttle reaches.
    use kovan_map_models::harness::shuttle_generated_scenarios;
    use kovan_map_models::spec::{Key, Value};

    shuttle_generated_scenarios(
        20,
        100,
        || HashMap::<Key, Value, KeyIsHash>::with_capacity_and_hasher(1, KeyIsHash),
        |_| {},
    );
}

/// A key whose equality panics when a replacement's key (generation 2) is
/// compared with the replaced node's key (generation 1): that comparison
/// happens only in the clean-up after a replacement, never before its CAS.
#[derive(Debug, Clone)]
struct Touchy {
    id: u64,
    generation: u8,
}

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        if self.generation == 2 && other.generation == 1 {
            panic!("user Eq panicked during clean-up");
        }
        self.id == other.id
    }
}

impl Eq for Touchy {}

#[test]
fn a_panic_after_a_replacement_took_effect_keeps_the_new_node() {
    // Thread A replaces key 1 while thread B pushes a neighbour, so A's
    // unlink may fail and A tidies the bucket, where the user's `Eq` panics.
    // The replacement already took effect: the map must keep (not free) the
    // new node. Would catch: a pending node dropped after its publication
    // (found by review; under `shuttle-model` the use after free fails the
    // run, under kovan the final drop frees the node twice).
    explore(300, || {
        let map: Arc<HashMap<Touchy, u64, KeyIsHash>> =
            Arc::new(HashMap::with_capacity_and_hasher(1, KeyIsHash));
        map.insert(
            Touchy {
                id: 1,
                generation: 1,
            },
            10,
        );
        let a = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    map.insert(
                        Touchy {
                            id: 1,
                            generation: 2,
                        },
                        20,
                    )
                }))
                .ok()
            })
        };
        let b = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                map.insert(
                    Touchy {
                        id: 5,
                        generation: 0,
                    },
                    50,
                )
            })
        };
        let replaced = a.join().unwrap();
        assert_eq!(b.join().unwrap(), None);
        assert!(matches!(replaced, None | Some(Some(10))), "{replaced:?}");
        assert_eq!(
            map.get(&Touchy {
                id: 1,
                generation: 0
            }),
            Some(20)
        );
        assert_eq!(
            map.get(&Touchy {
                id: 5,
                generation: 0
            }),
            Some(50)
        );
    });
}

// Scenarios added for the mutant table (models/mutants/, docs/mutants.md):
// each names the mutant it catches, which no scenario above caught.

#[test]
fn a_removal_that_len_counts_is_seen_by_a_later_get() {
    // Two threads, 300 random and 300 PCT schedules. `remove` subtracts
    // from the length just after its linearization point (the DELETED tag)
    // and before its unlink. So, shuttle's memory being sequentially
    // consistent, a reader that sees the length drop to 0 and then looks
    // the key up must find it absent, though the removed node may still be
    // linked (the remover not yet past its unlink). Catches mutant
    // `hm-reader-ignores-deleted`: with the correct writers, a DELETED node
    // is linked only inside its remover's window, so a reader that takes
    // it for live is seen only by an observer of that window, and `len` is
    // the one that needs no third thread. (Not a loom scenario: the length
    // stripes are Relaxed, so under loom a reader may see the new length
    // and the old `next` word.)
    kovan_map_models::harness::shuttle_a_removal_that_len_counts_is_seen_by_a_later_get(|| {
        kovan_map::HashMap::<i64, i64, KeyIsHash>::with_capacity_and_hasher(1, KeyIsHash)
    });
}
