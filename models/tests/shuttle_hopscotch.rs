//! Randomized and PCT schedules of `HopscotchMap` scenarios under shuttle.
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle --release --test shuttle_hopscotch`
//! (and with `--features shuttle-model` to run them over the model
//! reclaimer, where a use after reclamation fails the run).
//!
//! The map is the production code over shuttle's atomics. The scenarios use
//! tables of 4 slots with neighbourhoods of 2 and the identity hash (a key's
//! home is the key modulo the table size), so a handful of keys fill
//! neighbourhoods, force displacements and overflow lists, and make the
//! table grow and shrink many times per run: shuttle explores far more
//! operations per scenario than loom can, at random and with PCT's
//! depth-bounded priority changes.
#![cfg(feature = "shuttle")]

use kovan_map::HopscotchMap;
use kovan_map_models::harness::{shuttle_explore as explore, KeyIsHash, OneHash};
use kovan_map_models::scenario::Rng;
use shuttle::sync::Arc;
use shuttle::thread;
use std::collections::{BTreeMap, HashMap as StdMap};
use std::hash::BuildHasher;

/// Every key hashes to 0: one home, neighbourhood full after two keys, the
/// rest in its overflow list.
fn one_hash_map() -> HopscotchMap<u64, u64, OneHash, 2> {
    HopscotchMap::with_capacity_and_hasher(4, OneHash)
}

/// Four slots, neighbourhoods of two.
type Map = HopscotchMap<u64, u64, KeyIsHash, 2>;

fn tiny() -> Map {
    Map::with_capacity_and_hasher(4, KeyIsHash)
}

/// Thread `t` runs `steps` random operations of every kind on its own keys
/// (`keys(t, i)` for `i` in `0..per_thread`), checked against its own
/// sequential model after each; returns the model.
fn own_keys<M, F>(map: &M, t: u64, steps: u64, per_thread: u64, keys: F) -> StdMap<u64, u64>
where
    M: Ops2,
    F: Fn(u64, u64) -> u64,
{
    let mut ops = Rng::new(0x9E37_79B9 + t * 7919);
    let mut model = StdMap::new();
    for step in 0..steps {
        let key = keys(t, ops.below(per_thread));
        let value = step * 100 + t;
        match ops.below(8) {
            0 | 1 => assert_eq!(map.insert(key, value), model.insert(key, value)),
            2 | 3 => assert_eq!(map.remove(key), model.remove(&key)),
            4 => assert_eq!(map.get(key), model.get(&key).copied()),
            5 => {
                let expected = model.get(&key).copied();
                let got = map.bump(key);
                if let Some(n) = expected {
                    model.insert(key, n + 1);
                }
                assert_eq!(got, expected.map(|n| n + 1));
            }
            6 => {
                let expected = model.get(&key).copied();
                model.entry(key).or_insert(value);
                assert_eq!(map.insert_if_absent(key, value), expected);
            }
            _ => {
                let expected = match model.get(&key).copied() {
                    None => Err(None),
                    Some(p) if p % 2 == 0 => Ok(p),
                    Some(p) => Err(Some(p)),
                };
                if expected.is_ok() {
                    model.insert(key, value);
                }
                assert_eq!(map.replace_if_even(key, value), expected);
            }
        }
    }
    model
}

/// The operations `own_keys` uses, over both hashers' maps.
trait Ops2 {
    fn insert(&self, key: u64, value: u64) -> Option<u64>;
    fn remove(&self, key: u64) -> Option<u64>;
    fn get(&self, key: u64) -> Option<u64>;
    fn bump(&self, key: u64) -> Option<u64>;
    fn insert_if_absent(&self, key: u64, value: u64) -> Option<u64>;
    fn replace_if_even(&self, key: u64, value: u64) -> Result<u64, Option<u64>>;
}

impl<S: BuildHasher + Send + Sync> Ops2 for HopscotchMap<u64, u64, S, 2> {
    fn insert(&self, key: u64, value: u64) -> Option<u64> {
        HopscotchMap::insert(self, key, value)
    }
    fn remove(&self, key: u64) -> Option<u64> {
        HopscotchMap::remove(self, &key)
    }
    fn get(&self, key: u64) -> Option<u64> {
        HopscotchMap::get(self, &key)
    }
    fn bump(&self, key: u64) -> Option<u64> {
        HopscotchMap::compute(self, key, |v| v.map(|n| n + 1))
    }
    fn insert_if_absent(&self, key: u64, value: u64) -> Option<u64> {
        HopscotchMap::insert_if_absent(self, key, value)
    }
    fn replace_if_even(&self, key: u64, value: u64) -> Result<u64, Option<u64>> {
        HopscotchMap::replace_if(self, key, value, |p| p % 2 == 0)
    }
}

#[test]
fn private_keys_read_their_own_writes_through_displacements_and_resizes() {
    // Three threads each own four keys and run 40 random operations on
    // them, checked against a sequential model after every step. The keys
    // of all threads share homes, so every thread's inserts displace other
    // threads' entries, and the table grows and shrinks between 4 and 32
    // slots while they run. Would catch: a lost or misplaced write, a move
    // that loses an update, a migration that loses, duplicates or resurrects
    // an entry, a stale read.
    explore(300, || {
        let map = Arc::new(tiny());
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || own_keys(&*map, t, 40, 4, |t, i| t + 3 * i))
            })
            .collect();
        let mut expected = BTreeMap::new();
        for handle in handles {
            expected.extend(handle.join().unwrap());
        }
        let seen: BTreeMap<u64, u64> = map.iter().collect();
        assert_eq!(seen, expected);
        assert_eq!(map.len(), expected.len());
    });
}

#[test]
fn private_keys_in_one_overflow_list_read_their_own_writes() {
    // As above with every key hashing to one home: two keys fill its
    // neighbourhood and the rest share its overflow list, which threads push
    // to, remove from, unlink in, and which resizes seal and copy. Would
    // catch: a lost push, an unlink that drops a live node, a node retired
    // twice, a sealed list that loses or duplicates a key.
    explore(300, || {
        let map = Arc::new(one_hash_map());
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || own_keys(&*map, t, 40, 4, |t, i| t * 10 + i))
            })
            .collect();
        let mut expected = BTreeMap::new();
        for handle in handles {
            expected.extend(handle.join().unwrap());
        }
        let seen: BTreeMap<u64, u64> = map.iter().collect();
        assert_eq!(seen, expected);
        assert_eq!(map.len(), expected.len());
    });
}

#[test]
fn readers_never_see_a_present_key_absent_while_others_displace_and_resize() {
    // Keys 0 and 1 stay present throughout. A writer inserts and removes
    // keys of homes 0 and 1 (so key 1 is displaced out of home 0's
    // neighbourhood and back, and the table grows and shrinks); two readers
    // read keys 0 and 1 over and over. Would catch: a reader that misses a
    // key being moved (the relocation counter re-check), a reader that gives
    // up on a frozen home, a stale value read through a move descriptor.
    explore(400, || {
        let map = Arc::new(tiny());
        map.insert(0, 100);
        map.insert(1, 101);
        let writer = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for round in 0..3u64 {
                    for key in [4, 8, 5, 9, 12] {
                        map.insert(key, round);
                    }
                    map.insert(1, 101);
                    for key in [4, 8, 5, 9, 12] {
                        map.remove(&key);
                    }
                }
            })
        };
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    for _ in 0..15 {
                        assert_eq!(map.get(&0), Some(100), "key 0 looked absent");
                        assert_eq!(map.get(&1), Some(101), "key 1 looked absent");
                    }
                })
            })
            .collect();
        writer.join().unwrap();
        for reader in readers {
            reader.join().unwrap();
        }
        assert_eq!(map.len(), 2);
        // Two keys: the table shrinks below a load of 1/4, so it ends at 4
        // or 8 slots.
        assert!(map.capacity() <= 8, "capacity {}", map.capacity());
    });
}

#[test]
fn concurrent_increments_add_up_across_resizes() {
    // Three threads increment keys 0..3 through `compute` 20 times each
    // while inserting and removing other keys, so increments race moves and
    // copies. Would catch: an increment lost to a move or a migration, a
    // compute that ignores a failed CAS.
    explore(300, || {
        let map = Arc::new(tiny());
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    for i in 0..20u64 {
                        map.compute((i + t) % 3, |v| Some(v.map_or(1, |n| n + 1)));
                        let filler = 10 + t * 4 + i % 4;
                        if i % 2 == 0 {
                            map.insert(filler, i);
                        } else {
                            map.remove(&filler);
                        }
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }
        let total: u64 = (0..3).map(|k| map.get(&k).unwrap()).sum();
        assert_eq!(total, 60);
    });
}

#[test]
fn racing_insert_if_absent_has_one_winner_during_a_resize() {
    // Four threads claim the same two keys while the table (three keys in
    // four slots) resizes under them. Would catch: two winners (two commits
    // of one key), a loser that reports a value never inserted.
    explore(300, || {
        let map = Arc::new(tiny());
        for key in [4, 5, 6] {
            map.insert(key, key);
        }
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
        assert_eq!(map.len(), 5);
    });
}

#[test]
fn iteration_during_resizes_yields_each_stable_key_exactly_once() {
    // Keys 0..4 stay present; a writer grows and shrinks the table around
    // them while a reader iterates twice. Would catch: a key yielded twice
    // (read in both tables), a stable key missed across a resize.
    explore(300, || {
        let map = Arc::new(tiny());
        for key in 0..4 {
            map.insert(key, key);
        }
        let writer = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for key in 10..18 {
                    map.insert(key, key);
                }
                for key in 10..18 {
                    map.remove(&key);
                }
            })
        };
        let reader = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for _ in 0..2 {
                    let mut seen: Vec<u64> = map.keys().collect();
                    seen.sort_unstable();
                    let len = seen.len();
                    seen.dedup();
                    assert_eq!(seen.len(), len, "a key was yielded twice: {seen:?}");
                    for key in 0..4 {
                        assert!(seen.contains(&key), "stable key {key} missed: {seen:?}");
                    }
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
    });
}

#[test]
fn generated_scenarios_are_linearizable_under_many_schedules() {
    // 20 random scenarios of every operation kind (up to 4 threads of 8
    // operations on 3 keys), each run under 100 random and 100 PCT
    // schedules on a 4-slot map with neighbourhoods of 2 that already holds
    // two other keys in the same homes, so scenarios displace, resize and
    // shrink; every history is checked against the sequential spec. Would
    // catch: any single-key operation that is not linearizable in a
    // schedule shuttle reaches.
    use kovan_map_models::harness::shuttle_generated_scenarios;
    use kovan_map_models::spec::{Key, Value};

    type IMap = HopscotchMap<Key, Value, KeyIsHash, 2>;
    shuttle_generated_scenarios(
        20,
        100,
        || {
            let map = IMap::with_capacity_and_hasher(4, KeyIsHash);
            // Keys outside the scenario's (0..3), in its homes: not
            // recorded, and the checker splits histories by key.
            map.insert(4, -1);
            map.insert(5, -1);
            map
        },
        |map| {
            assert_eq!(map.get(&4), Some(-1));
            assert_eq!(map.get(&5), Some(-1));
        },
    );
}

#[test]
fn a_slow_overflow_copier_never_brings_back_a_key_removed_in_the_new_table() {
    // One hash, H = 2, 4 slots: keys 0 and 1 fill home 0's neighbourhood and
    // key 2 sits in its overflow list (load 3/4). Thread a removes key 2
    // while thread b inserts key 3, whose insert passes 3/4 and starts the
    // resize: both copy the one chunk, so both copy key 2's entry into the
    // new table's overflow list, and a removes it there. The race is run
    // 200 times per schedule (fresh maps; a few seconds in all), so the default
    // schedule count reaches the bad interleaving (one run of 300 + 300
    // schedules, unrepeated, did not). Would catch (issue 7, bug 2): a copier
    // that checked its source uncopied, was preempted before its push, and
    // then pushed the entry after the other copier had copied it and a had
    // removed (and retired) it: the head CAS compared only the head pointer,
    // which the unlink had put back.
    explore(300, || {
        for _ in 0..200 {
            let map = Arc::new(one_hash_map());
            for key in 0..3 {
                map.insert(key, 100 + key);
            }
            let remover = {
                let map = Arc::clone(&map);
                thread::spawn(move || map.remove(&2))
            };
            let inserter = {
                let map = Arc::clone(&map);
                thread::spawn(move || map.insert(3, 103))
            };
            assert_eq!(remover.join().unwrap(), Some(102));
            assert_eq!(inserter.join().unwrap(), None);
            assert_eq!(map.get(&2), None, "a removed key came back");
            let mut keys: Vec<u64> = map.keys().collect();
            keys.sort_unstable();
            assert_eq!(keys, [0, 1, 3]);
            assert_eq!(map.len(), 3);
        }
    });
}

#[test]
fn a_removal_that_len_counts_is_seen_by_a_later_get() {
    // As the HashMap scenario of the same name: `remove` subtracts from the
    // length after its DELETED tag and before its slot is released, so
    // (shuttle being sequentially consistent) a reader that saw the length
    // drop to 0 must then find the key absent. Catches mutant
    // `hs-get-ignores-deleted`.
    kovan_map_models::harness::shuttle_a_removal_that_len_counts_is_seen_by_a_later_get(|| {
        kovan_map::HopscotchMap::<i64, i64, KeyIsHash, 2>::with_capacity_and_hasher(4, KeyIsHash)
    });
}
