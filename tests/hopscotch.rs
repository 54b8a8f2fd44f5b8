//! `HopscotchMap` on real threads: growth and shrink under load,
//! displacement, overflow lists, iteration across resizes, drop accounting
//! and a stress of every operation. Each test checks behaviour (answers,
//! final states, counts), never timing.

mod common;

use common::{settle, Counted, DropLedger, FewHashes, Rng};
use kovan_map::HopscotchMap;
use std::collections::{BTreeMap, HashMap as StdMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

/// The value every test stores under `key`, so any thread can check any get.
fn value_of(key: u64) -> u64 {
    key.wrapping_mul(7) + 1
}

#[test]
fn two_hundred_thousand_keys_grow_the_table_and_removing_them_shrinks_it_back() {
    // Two threads insert 100,000 keys each (interleaved key spaces), then
    // remove them all. Throughout, every get answers right: a thread's own
    // key is present exactly when it has inserted and not yet removed it,
    // with its value; any other key is absent or holds its value.
    const PER_THREAD: u64 = 100_000;
    let map: Arc<HopscotchMap<u64, u64>> = Arc::new(HopscotchMap::new());
    let initial = map.capacity();
    assert_eq!(initial, 64);
    let barrier = Arc::new(Barrier::new(2));
    let largest = Arc::new(AtomicUsize::new(initial));
    let handles: Vec<_> = (0..2u64)
        .map(|t| {
            let (map, barrier, largest) =
                (Arc::clone(&map), Arc::clone(&barrier), Arc::clone(&largest));
            thread::spawn(move || {
                let key = |i: u64| i * 2 + t;
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ t);
                for i in 0..PER_THREAD {
                    assert_eq!(map.insert(key(i), value_of(key(i))), None);
                    assert_eq!(map.get(&key(i)), Some(value_of(key(i))));
                    let mine = key(rng.below(i + 1));
                    assert_eq!(map.get(&mine), Some(value_of(mine)), "own key {mine} lost");
                    let any = rng.below(2 * PER_THREAD);
                    let seen = map.get(&any);
                    assert!(
                        seen.is_none() || seen == Some(value_of(any)),
                        "{any}: {seen:?}"
                    );
                    largest.fetch_max(map.capacity(), Ordering::Relaxed);
                }
                barrier.wait();
                for i in 0..PER_THREAD {
                    assert_eq!(map.remove(&key(i)), Some(value_of(key(i))));
                    assert_eq!(map.get(&key(i)), None);
                    if i + 1 < PER_THREAD {
                        let left = key(i + 1 + rng.below(PER_THREAD - i - 1));
                        assert_eq!(map.get(&left), Some(value_of(left)), "own key {left} lost");
                    }
                    let any = rng.below(2 * PER_THREAD);
                    let seen = map.get(&any);
                    assert!(
                        seen.is_none() || seen == Some(value_of(any)),
                        "{any}: {seen:?}"
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let largest = largest.load(Ordering::Relaxed);
    assert!(
        largest >= 262_144,
        "200,000 keys at a load of at most 3/4 need 262,144 slots or more; saw at most {largest}"
    );
    assert!(map.is_empty());
    assert_eq!(map.iter().count(), 0);
    assert_eq!(map.capacity(), initial, "the table did not shrink back");
}

#[test]
fn growth_keeps_every_key_when_the_neighbourhoods_are_small() {
    // Neighbourhoods of 4 slots: displacement on most inserts, resizes that
    // copy displaced entries; four threads.
    let map: Arc<HopscotchMap<u64, u64, kovan_map::DefaultHashBuilder, 4>> = Arc::new(
        HopscotchMap::with_capacity_and_hasher(8, Default::default()),
    );
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for i in 0..5_000u64 {
                    let key = t * 1_000_000 + i;
                    assert_eq!(map.insert(key, value_of(key)), None);
                    assert_eq!(map.get(&key), Some(value_of(key)));
                }
                for i in 0..5_000u64 {
                    let key = t * 1_000_000 + i;
                    assert_eq!(map.get(&key), Some(value_of(key)));
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    assert_eq!(map.len(), 20_000);
    let all: BTreeMap<u64, u64> = map.iter().collect();
    assert_eq!(all.len(), 20_000);
    assert!(all.iter().all(|(k, v)| *v == value_of(*k)));
}

#[test]
fn one_hash_for_every_key_goes_to_the_overflow_list_without_growing_forever() {
    // 2,000 keys, one hash: 32 fit the neighbourhood, the rest go to the
    // home's overflow list. The table grows with the load factor only, so
    // its size stays within a small multiple of the key count.
    let map: HopscotchMap<u64, u64, FewHashes> =
        HopscotchMap::with_capacity_and_hasher(64, FewHashes::new(1));
    for key in 0..2_000 {
        assert_eq!(map.insert(key, value_of(key)), None);
    }
    assert!(map.capacity() <= 4 * 2_000, "capacity {}", map.capacity());
    for key in 0..2_000 {
        assert_eq!(map.get(&key), Some(value_of(key)));
    }
    for key in (0..2_000).step_by(3) {
        assert_eq!(map.remove(&key), Some(value_of(key)));
    }
    for key in 0..2_000 {
        let expected = (key % 3 != 0).then(|| value_of(key));
        assert_eq!(map.get(&key), expected);
    }
    assert_eq!(map.iter().count(), map.len());
}

#[test]
fn colliding_keys_on_threads_keep_their_values() {
    // Four hashes over four threads: neighbourhoods full of one home, the
    // rest in overflow lists that all threads push to, remove from and
    // unlink in, while the table resizes.
    let map: Arc<HopscotchMap<u64, u64, FewHashes>> = Arc::new(
        HopscotchMap::with_capacity_and_hasher(16, FewHashes::new(4)),
    );
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                let mut model = StdMap::new();
                let mut rng = Rng(0xDEAD_BEEF ^ (t << 32));
                for step in 0..20_000u64 {
                    let key = t * 1_000 + rng.below(300);
                    match rng.below(4) {
                        0 | 1 => assert_eq!(map.insert(key, step), model.insert(key, step)),
                        2 => assert_eq!(map.remove(&key), model.remove(&key)),
                        _ => assert_eq!(map.get(&key), model.get(&key).copied()),
                    }
                }
                model
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    for handle in handles {
        expected.extend(handle.join().unwrap());
    }
    let seen: BTreeMap<u64, u64> = map.iter().collect();
    assert_eq!(seen, expected);
    assert_eq!(map.len(), expected.len());
}

#[test]
fn iteration_across_resizes_yields_each_stable_key_exactly_once() {
    // 2,000 keys stay put; a writer grows and shrinks the table around them
    // with other keys. Every iteration yields each stable key once, and no
    // key twice.
    let map: Arc<HopscotchMap<u64, u64>> = Arc::new(HopscotchMap::new());
    for key in 0..2_000 {
        map.insert(key, value_of(key));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
        thread::spawn(move || {
            let mut waves = 0;
            while !stop.load(Ordering::Relaxed) || waves < 2 {
                for key in 1_000_000..1_020_000 {
                    map.insert(key, value_of(key));
                }
                for key in 1_000_000..1_020_000 {
                    map.remove(&key);
                }
                waves += 1;
            }
        })
    };
    for _ in 0..20 {
        let mut seen = BTreeMap::new();
        for (key, value) in map.iter() {
            assert_eq!(value, value_of(key));
            assert!(seen.insert(key, ()).is_none(), "key {key} yielded twice");
        }
        for key in 0..2_000 {
            assert!(seen.contains_key(&key), "stable key {key} not yielded");
        }
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(map.len(), 2_000);
}

#[test]
fn churn_growth_and_shrink_drop_every_key_and_value_once() {
    // Keys and values count their drops. Threads grow the table with waves
    // of inserts and shrink it with waves of removals, replace and compute
    // over each other's keys, on a hasher with few hashes (overflow lists)
    // and on the default one.
    for distinct in [u64::MAX, 8] {
        let ledger = DropLedger::new();
        {
            let map: Arc<HopscotchMap<Counted, Counted, FewHashes>> = Arc::new(
                HopscotchMap::with_capacity_and_hasher(16, FewHashes::new(distinct)),
            );
            let handles: Vec<_> = (0..3u64)
                .map(|t| {
                    let (map, ledger) = (Arc::clone(&map), Arc::clone(&ledger));
                    thread::spawn(move || {
                        let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ t);
                        for wave in 0..6u64 {
                            for i in 0..1_500u64 {
                                let key = Counted::new(t * 10_000 + i, &ledger);
                                map.insert(key, Counted::new(wave, &ledger));
                                let other =
                                    Counted::new(rng.below(3) * 10_000 + rng.below(1_500), &ledger);
                                match rng.below(4) {
                                    0 => drop(map.compute(other, |v| {
                                        v.map(|c| Counted::new(c.value + 1, &ledger))
                                    })),
                                    1 => {
                                        drop(map.insert_if_absent(other, Counted::new(i, &ledger)))
                                    }
                                    2 => drop(map.get(&other)),
                                    _ => drop(map.remove(&other)),
                                }
                            }
                            for i in 0..1_500u64 {
                                drop(map.remove(&Counted::new(t * 10_000 + i, &ledger)));
                            }
                        }
                        kovan_map::flush();
                    })
                })
                .collect();
            for handle in handles {
                handle.join().unwrap();
            }
            assert_eq!(map.iter().count(), map.len());
            // Refill, clear, refill: the map is dropped with entries in it.
            for i in 0..500 {
                map.insert(Counted::new(i, &ledger), Counted::new(i, &ledger));
            }
            map.clear();
            assert!(map.is_empty());
            for i in 0..300 {
                map.insert(Counted::new(i, &ledger), Counted::new(i, &ledger));
            }
        }
        settle(&ledger);
        assert_eq!(ledger.live(), 0, "distinct hashes {distinct}: {ledger:?}");
    }
}

#[test]
fn a_map_dropped_in_the_middle_of_a_resize_frees_everything_once() {
    // A resize is started and left unfinished (no operation after the one
    // that started it helps to the end): the map owns entries in both
    // tables, and dropping it frees each exactly once.
    let ledger = DropLedger::new();
    {
        let map: HopscotchMap<u64, Counted> = HopscotchMap::with_capacity(4096);
        // 3,073 keys pass 3/4 of 4,096 on the last insert: its resize copies
        // a few chunks of 256 homes and stops.
        for i in 0..3_073 {
            map.insert(i, Counted::new(i, &ledger));
        }
        assert_eq!(map.len(), 3_073);
        let owned: Vec<_> = map.into_iter().collect();
        assert_eq!(owned.len(), 3_073);
    }
    settle(&ledger);
    assert_eq!(ledger.live(), 0, "{ledger:?}");
}

#[test]
fn every_operation_on_four_threads_behaves_like_a_sequential_map_per_thread() {
    // Each thread owns 48 keys and runs 30,000 random operations of every
    // kind on them, checked answer by answer against its own sequential
    // model; all threads also bump one shared counter through `compute` and
    // race `insert_if_absent` on shared keys. Neighbourhoods of 4 slots and
    // few hashes: displacement, overflow lists and resizes all run while
    // the threads write.
    type Map = HopscotchMap<u64, u64, FewHashes, 4>;
    let map: Arc<Map> = Arc::new(Map::with_capacity_and_hasher(8, FewHashes::new(61)));
    let winners = Arc::new(AtomicUsize::new(0));
    const THREADS: u64 = 4;
    const COUNTER: u64 = 999_999;
    let bumps_per_thread = 2_000u64;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (map, winners) = (Arc::clone(&map), Arc::clone(&winners));
            thread::spawn(move || {
                let mut rng = Rng(0x1234_5678_9ABC_DEF1 ^ (t << 40));
                let mut model: StdMap<u64, u64> = StdMap::new();
                for step in 0..30_000u64 {
                    let key = t * 100 + rng.below(48);
                    let value = step * 10 + t;
                    match rng.below(12) {
                        0 | 1 => assert_eq!(map.insert(key, value), model.insert(key, value)),
                        2 => assert_eq!(map.remove(&key), model.remove(&key)),
                        3 => {
                            assert_eq!(map.get(&key), model.get(&key).copied());
                            assert_eq!(map.contains_key(&key), model.contains_key(&key));
                        }
                        4 => {
                            let expected = model.get(&key).copied();
                            model.entry(key).or_insert(value);
                            assert_eq!(map.insert_if_absent(key, value), expected);
                        }
                        5 => assert_eq!(
                            map.get_or_insert(key, value),
                            *model.entry(key).or_insert(value)
                        ),
                        6 => {
                            let expected = model.get(&key).copied().filter(|v| v % 2 == 0);
                            if expected.is_some() {
                                model.remove(&key);
                            }
                            assert_eq!(map.remove_if(&key, |v| v % 2 == 0), expected);
                        }
                        7 => {
                            let expected = match model.get(&key).copied() {
                                None => Err(None),
                                Some(p) if p % 3 == 0 => Ok(p),
                                Some(p) => Err(Some(p)),
                            };
                            if expected.is_ok() {
                                model.insert(key, value);
                            }
                            assert_eq!(map.replace_if(key, value, |p| p % 3 == 0), expected);
                        }
                        8 => {
                            let current = model.get(&key).copied().unwrap_or(0);
                            let expected = if model.get(&key) == Some(&current) {
                                Ok(current)
                            } else {
                                Err(None)
                            };
                            if expected.is_ok() {
                                model.insert(key, value);
                            }
                            assert_eq!(map.compare_and_swap(key, &current, value), expected);
                        }
                        9 => {
                            let next = model.get(&key).map_or(1, |p| p + 1);
                            model.insert(key, next);
                            assert_eq!(
                                map.compute(key, |p| Some(p.map_or(1, |p| p + 1))),
                                Some(next)
                            );
                        }
                        10 => {
                            if step % 15 == 0 && map.insert_if_absent(1_000_000 + step, t).is_none()
                            {
                                winners.fetch_add(1, Ordering::Relaxed);
                            }
                            let _ = map.get(&(1_000_000 + step));
                        }
                        _ => {}
                    }
                    if step < bumps_per_thread {
                        map.compute(COUNTER, |c| Some(c.map_or(1, |c| c + 1)));
                    }
                }
                model
            })
        })
        .collect();
    let mut expected = BTreeMap::new();
    for handle in handles {
        expected.extend(handle.join().unwrap());
    }
    assert_eq!(map.get(&COUNTER), Some(THREADS * bumps_per_thread));
    let shared = (0..30_000u64)
        .filter(|s| map.get(&(1_000_000 + s)).is_some())
        .count();
    assert_eq!(
        shared,
        winners.load(Ordering::Relaxed),
        "insert_if_absent winners"
    );
    let seen: BTreeMap<u64, u64> = map.iter().filter(|(k, _)| *k < 1_000_000 - 1).collect();
    assert_eq!(seen, expected);
    assert_eq!(map.len(), expected.len() + shared + 1);
}

/// Runs 1,000 insert/remove steps that keep between 31 and 34 keys in a map
/// of neighbourhood 2 starting at 64 slots, and counts the resizes (each
/// change of `capacity()` between two steps on one thread: with one thread
/// every resize finishes within the step that started it).
fn resizes_while_oscillating(seed: u64) -> usize {
    let map: HopscotchMap<u64, u64, foldhash::fast::FixedState, 2> =
        HopscotchMap::with_capacity_and_hasher(64, foldhash::fast::FixedState::with_seed(seed));
    let mut oldest = 0u64;
    let mut next = 0u64;
    while next < 31 {
        map.insert(next, value_of(next));
        next += 1;
    }
    let mut resizes = 0;
    let mut capacity = map.capacity();
    for step in 0..1_000u64 {
        if (step / 3) % 2 == 0 {
            assert_eq!(map.insert(next, value_of(next)), None);
            next += 1;
        } else {
            assert_eq!(map.remove(&oldest), Some(value_of(oldest)));
            oldest += 1;
        }
        if map.capacity() != capacity {
            resizes += 1;
            capacity = map.capacity();
        }
    }
    assert_eq!(map.len() as u64, next - oldest);
    resizes
}

#[test]
fn a_workload_oscillating_at_one_size_resizes_a_bounded_number_of_times() {
    // Would catch (issue 7): growth on a full neighbourhood at load 1/2 lands
    // at load 1/4, the shrink threshold, and the shrink's target (load 1/2)
    // fills the neighbourhood again: 46-90 resizes per 1,000 steps here.
    // With hysteresis (a shrink leaves the load at most 1/4) a workload that
    // stays at one size resizes O(1) times, whatever the hash seed.
    let counts: Vec<usize> = (0..8).map(resizes_while_oscillating).collect();
    eprintln!("resizes per 1,000 steps between 31 and 34 keys, 8 seeds: {counts:?}");
    assert!(counts.iter().all(|&n| n <= 4), "resizes: {counts:?}");
}
