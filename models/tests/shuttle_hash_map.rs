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

// Growth and shrinking (issue 10): scenarios whose table doubles and halves
// many times while they run, every operation recorded and the history
// checked for linearizability (and `len` and `iter` against their weaker
// promises).

/// Executions (over all schedules of one test) in which a thread saw the
/// table grow to at least 8 buckets, and saw it shrink; a test asserts
/// both happened, so the resizes are in the schedules and not only in the
/// intent. Outside the model: a statistic, not a synchronization.
struct Resizes {
    grew: std::sync::atomic::AtomicUsize,
    shrank: std::sync::atomic::AtomicUsize,
}

impl Resizes {
    const fn new() -> Self {
        Self {
            grew: std::sync::atomic::AtomicUsize::new(0),
            shrank: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// Counts what one thread's capacity samples show.
    fn note(&self, samples: &[usize]) {
        use std::sync::atomic::Ordering::Relaxed;
        if samples.iter().any(|&c| c >= 8) {
            self.grew.fetch_add(1, Relaxed);
        }
        if samples.windows(2).any(|w| w[1] < w[0]) {
            self.shrank.fetch_add(1, Relaxed);
        }
    }

    fn assert_both(&self, what: &str) {
        use std::sync::atomic::Ordering::Relaxed;
        let (grew, shrank) = (self.grew.load(Relaxed), self.shrank.load(Relaxed));
        eprintln!(
            "{what}: a thread saw growth to 8+ in {grew} and a shrink in {shrank} thread runs"
        );
        if std::env::var_os("KOVAN_MAP_SHUTTLE_REPLAY").is_some() {
            return; // one replayed schedule proves nothing either way
        }
        assert!(grew > 0, "{what}: no schedule grew the table to 8 buckets");
        assert!(shrank > 0, "{what}: no schedule shrank the table");
    }
}

type ModelMap = HashMap<kovan_map_models::spec::Key, kovan_map_models::spec::Value, KeyIsHash>;

#[test]
fn a_table_that_grows_and_shrinks_many_times_keeps_a_linearizable_history() {
    // From one bucket, three threads each insert their own six keys and
    // remove them again, twice, so the table doubles to 8 or 16 and halves
    // back many times per execution (each thread's cycle on its own, and
    // the three overlapping); between those writes each thread reads,
    // replaces, increments and removes two hot keys shared by all, and now
    // and then takes `len` and `iter`. 300 random and 300 PCT schedules;
    // every history is checked. Would catch: a key lost or doubled while a
    // dummy is claimed or linked, a stale size that starts a search past the
    // key, a shrink that loses nodes, a `len` or `iter` broken by a resize.
    use kovan_map_models::adapter::{exec, MapUnderTest};
    use kovan_map_models::spec::{Func, Op};
    static RESIZES: Resizes = Resizes::new();
    explore(300, || {
        let map = Arc::new(ModelMap::with_capacity_and_hasher(1, KeyIsHash));
        let history = Arc::new(kovan_map_models::history::History::for_model());
        let handles: Vec<_> = (1..=3i64)
            .map(|t| {
                let (map, history) = (Arc::clone(&map), Arc::clone(&history));
                thread::spawn(move || {
                    let mut rec = history.recorder(t as u64);
                    let mut samples = vec![map.capacity()];
                    let mut step = 0i64;
                    let hot = |rec: &mut kovan_map_models::history::Recorder, step: i64| {
                        let op = match (step + t) % 5 {
                            0 => Op::Compute {
                                key: 1,
                                func: Func::AddOrInsert { add: 1, init: 0 },
                            },
                            1 => Op::Get { key: 2 },
                            2 => Op::Insert {
                                key: 2,
                                value: 100 * t + step,
                            },
                            3 => Op::Remove { key: 2 },
                            _ => Op::Get { key: 1 },
                        };
                        rec.record(op, || exec(&*map, &op));
                    };
                    for round in 0..2i64 {
                        for i in 0..6 {
                            let op = Op::Insert {
                                key: 10 * t + i,
                                value: round,
                            };
                            rec.record(op, || exec(&*map, &op));
                            samples.push(map.capacity());
                            if i % 2 == 1 {
                                step += 1;
                                hot(&mut rec, step);
                            }
                        }
                        rec.record_len(|| map.len());
                        for i in 0..6 {
                            let op = Op::Remove { key: 10 * t + i };
                            rec.record(op, || exec(&*map, &op));
                            samples.push(map.capacity());
                            if i % 2 == 1 {
                                step += 1;
                                hot(&mut rec, step);
                            }
                        }
                        rec.record_iter(|| map.iter_keys());
                    }
                    samples
                })
            })
            .collect();
        for handle in handles {
            RESIZES.note(&handle.join().expect("a scenario thread panicked"));
        }
        let mut rec = history.recorder(0);
        for key in [1, 2] {
            let op = Op::Remove { key };
            rec.record(op, || exec(&*map, &op));
        }
        rec.record_len(|| map.len());
        rec.record_iter(|| map.iter_keys());
        drop(rec);
        kovan_map_models::lincheck::assert_recording_ok(&history.recording());
        assert!(map.is_empty());
        assert_eq!(map.chain_stats().entries, 0);
    });
    RESIZES.assert_both("grow-and-shrink history");
}

#[test]
fn readers_of_stable_keys_never_miss_them_while_the_table_resizes() {
    // Keys 1 and 2 are present throughout (one replaced with increasing
    // values); a writer inserts and removes ten other keys three times, so
    // the table grows from 2 to 16 and shrinks back each cycle, linking
    // dummies between and in front of the stable keys; two readers look the
    // stable keys up all along, from whatever size they read, and each
    // reader's values of key 1 never go backwards. Histories recorded and
    // checked. 300 random and 300 PCT schedules. Would catch: a reader that
    // starts behind its key (a stale or too large size, a dummy seen linked
    // before its link is visible), a write lost during a link.
    use kovan_map_models::adapter::{exec, MapUnderTest};
    use kovan_map_models::spec::Op;
    static RESIZES: Resizes = Resizes::new();
    explore(300, || {
        let map = Arc::new(ModelMap::with_capacity_and_hasher(2, KeyIsHash));
        let history = Arc::new(kovan_map_models::history::History::for_model());
        {
            let mut rec = history.recorder(0);
            for key in [1, 2] {
                let op = Op::Insert { key, value: 0 };
                rec.record(op, || exec(&*map, &op));
            }
        }
        let writer = {
            let (map, history) = (Arc::clone(&map), Arc::clone(&history));
            thread::spawn(move || {
                let mut rec = history.recorder(1);
                let mut samples = vec![map.capacity()];
                for cycle in 0..3i64 {
                    for key in 3..13 {
                        let op = Op::Insert { key, value: cycle };
                        rec.record(op, || exec(&*map, &op));
                        samples.push(map.capacity());
                    }
                    let op = Op::Insert {
                        key: 1,
                        value: cycle + 1,
                    };
                    rec.record(op, || exec(&*map, &op));
                    for key in 3..13 {
                        let op = Op::Remove { key };
                        rec.record(op, || exec(&*map, &op));
                        samples.push(map.capacity());
                    }
                }
                samples
            })
        };
        let readers: Vec<_> = (2..=3u64)
            .map(|r| {
                let (map, history) = (Arc::clone(&map), Arc::clone(&history));
                thread::spawn(move || {
                    let mut rec = history.recorder(r);
                    let mut last = 0;
                    for i in 0..12 {
                        let one = rec.record(Op::Get { key: 1 }, || map.get(&1));
                        let one = one.expect("key 1 is present throughout");
                        assert!(one >= last, "read {one} after {last}");
                        last = one;
                        let two = rec.record(Op::Get { key: 2 }, || map.get(&2));
                        assert_eq!(two, Some(0), "key 2 is present throughout");
                        if i % 4 == 3 {
                            rec.record_iter(|| map.iter_keys());
                        }
                    }
                })
            })
            .collect();
        RESIZES.note(&writer.join().expect("the writer panicked"));
        for reader in readers {
            reader.join().expect("a reader panicked");
        }
        kovan_map_models::lincheck::assert_recording_ok(&history.recording());
        assert_eq!((map.get(&1), map.get(&2), map.len()), (Some(3), Some(0), 2));
    });
    RESIZES.assert_both("stable-key readers");
}
