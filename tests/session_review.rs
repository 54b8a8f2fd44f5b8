//! Adversarial review of this session's additions (real threads, debug):
//! HopscotchMap's batched iteration (`HopscotchIter::next`,
//! `PinnedIter::next`: up to 64 homes under one guard, `stable_root` again
//! on a frozen home), HashMap's iteration and drop prefetch, HopscotchMap's
//! std-like methods (`retain`, `clear` as a sweep, `reserve`,
//! `shrink_to_fit`, `get_mut`, `iter_mut`), and the entry API.
//!
//! Each test checks answers and final states, never timing: threads loop
//! over fixed amounts of work, and an iterating thread runs until the
//! writers say they are done (at least a fixed number of passes). The
//! comment of each test says what it would catch.

mod common;

use common::{settle, Counted, DropLedger, FewHashes, Rng};
use kovan_map::{HashMap, HopscotchMap};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

/// Keys present for the whole of every test's race (never written by the
/// writers except value updates).
const STABLE: u64 = 300;
/// Keys a writer adds and removes in bursts, so the table grows and shrinks
/// several times in a row.
const BURST: u64 = 3_000;
const BURST_BASE: u64 = 1 << 40;

/// A stable key's value: its key in the high bits, a version below.
fn stable_value(key: u64, version: u64) -> u64 {
    (key << 20) | (version & 0xF_FFFF)
}

/// Checks one pass of a HopscotchMap iteration: no key twice, every stable
/// key present, and each value one the key held (a stable key's value names
/// the key; a burst key's value is the key).
fn check_pass(entries: impl Iterator<Item = (u64, u64)>) -> usize {
    let mut seen = HashSet::new();
    for (key, value) in entries {
        assert!(seen.insert(key), "key {key} yielded twice in one pass");
        if key < STABLE {
            assert_eq!(
                value >> 20,
                key,
                "stable key {key} with a foreign value {value}"
            );
        } else {
            assert!(key >= BURST_BASE, "a key never inserted: {key}");
            assert_eq!(value, key, "burst key {key} with a foreign value {value}");
        }
    }
    for key in 0..STABLE {
        assert!(seen.contains(&key), "stable key {key} not yielded");
    }
    seen.len()
}

/// Writers for a HopscotchMap race: one adds a burst of keys (several
/// growths in a row), forces a large `reserve`, removes the burst and
/// `shrink_to_fit`s (a shrink straight to the floor), `rounds` times; the
/// other rewrites the stable keys' values. Sets `done` when both end.
fn hopscotch_writers<S, const H: usize>(
    map: &Arc<HopscotchMap<u64, u64, S, H>>,
    rounds: u64,
    done: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<()>>
where
    S: std::hash::BuildHasher + Send + Sync + 'static,
{
    let resizer = {
        let map = Arc::clone(map);
        let done = Arc::clone(done);
        thread::spawn(move || {
            for round in 0..rounds {
                for i in 0..BURST {
                    let key = BURST_BASE + i;
                    map.insert(key, key);
                }
                if round % 2 == 0 {
                    map.reserve(16 * BURST as usize);
                }
                for i in 0..BURST {
                    map.remove(&(BURST_BASE + i));
                }
                map.shrink_to_fit();
                if round % 3 == 0 {
                    map.reserve(4 * BURST as usize);
                    map.shrink_to_fit();
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let updater = {
        let map = Arc::clone(map);
        let done = Arc::clone(done);
        thread::spawn(move || {
            let mut rng = Rng(0x5eed_1234);
            let mut version = 1;
            while !done.load(Ordering::SeqCst) {
                let key = rng.below(STABLE);
                map.insert(key, stable_value(key, version));
                version += 1;
            }
        })
    };
    vec![resizer, updater]
}

/// HopscotchMap's batched iteration, owned (`iter`) and borrowing
/// (`pin().iter()`), while the table grows several times in a row and
/// shrinks straight back to its floor: every stable key exactly once, no key
/// twice, values the key held. Catches: the batch keeping the old table
/// after a frozen home (reading an abandoned table, keys missed), the cursor
/// filter dropped (a key twice when a smaller table's home covers homes
/// already read), advancing by the wrong table's size (keys skipped).
#[test]
fn hopscotch_batched_iteration_is_exact_across_back_to_back_grow_and_shrink() {
    let map = Arc::new(HopscotchMap::<u64, u64>::with_capacity(64));
    for key in 0..STABLE {
        map.insert(key, stable_value(key, 0));
    }
    kovan_map::flush();
    let done = Arc::new(AtomicBool::new(false));
    let writers = hopscotch_writers(&map, 12, &done);
    let mut passes = 0;
    while !done.load(Ordering::SeqCst) || passes < 20 {
        check_pass(map.iter());
        {
            let pinned = map.pin();
            check_pass(pinned.iter().map(|(k, v)| (*k, *v)));
        }
        // keys() goes through the same batches.
        let keys: Vec<u64> = map.keys().collect();
        check_pass(
            keys.into_iter()
                .map(|k| if k < STABLE { (k, k << 20) } else { (k, k) }),
        );
        passes += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(check_pass(map.iter()), STABLE as usize);
}

/// As above with 4-slot neighbourhoods and only 64 distinct hashes, so most
/// keys live in overflow lists, which the batch reads first in each home
/// and which a migration seals and copies: catches a key met twice (list
/// and neighbourhood) or missed across a resize within one batch.
#[test]
fn hopscotch_batched_iteration_with_overflow_lists_across_resizes() {
    let map = Arc::new(
        HopscotchMap::<u64, u64, FewHashes, 4>::with_capacity_and_hasher(64, FewHashes::new(64)),
    );
    for key in 0..STABLE {
        map.insert(key, stable_value(key, 0));
    }
    kovan_map::flush();
    let done = Arc::new(AtomicBool::new(false));
    // Fewer rounds: every burst key is in a long overflow list.
    let writers = hopscotch_writers(&map, 2, &done);
    let mut passes = 0;
    while !done.load(Ordering::SeqCst) || passes < 5 {
        check_pass(map.iter());
        {
            let pinned = map.pin();
            check_pass(pinned.iter().map(|(k, v)| (*k, *v)));
        }
        passes += 1;
    }
    for w in writers {
        w.join().unwrap();
    }
    assert_eq!(check_pass(map.iter()), STABLE as usize);
}

/// `retain` (a sweep) racing a writer that grows and shrinks the table:
/// every stable key `keep` refuses (odd ones, present for the whole call)
/// is gone afterwards, every one it keeps is still there, and burst keys
/// (kept) are untouched. Catches a sweep that skips a home frozen meanwhile
/// or reads a table already abandoned, and a removal of the wrong key.
#[test]
fn hopscotch_retain_racing_back_to_back_resizes_removes_exactly_the_refused() {
    for _ in 0..3 {
        let map = Arc::new(HopscotchMap::<u64, u64>::with_capacity(64));
        for key in 0..STABLE {
            map.insert(key, stable_value(key, 0));
        }
        kovan_map::flush();
        let done = Arc::new(AtomicBool::new(false));
        let stop_updates = Arc::new(AtomicBool::new(false));
        let resizer = {
            let map = Arc::clone(&map);
            let done = Arc::clone(&done);
            thread::spawn(move || {
                let mut round = 0;
                while !done.load(Ordering::SeqCst) || round < 2 {
                    for i in 0..BURST {
                        map.insert(BURST_BASE + i, BURST_BASE + i);
                    }
                    map.reserve(8 * BURST as usize);
                    for i in 0..BURST {
                        map.remove(&(BURST_BASE + i));
                    }
                    map.shrink_to_fit();
                    round += 1;
                }
            })
        };
        // The even keys' values change during the sweep: `keep` decides on
        // the key alone, so a kept key must survive whatever its value.
        let updater = {
            let map = Arc::clone(&map);
            let stop = Arc::clone(&stop_updates);
            thread::spawn(move || {
                let mut version = 1;
                while !stop.load(Ordering::SeqCst) {
                    for key in (0..STABLE).step_by(2) {
                        map.insert(key, stable_value(key, version));
                    }
                    version += 1;
                }
            })
        };
        let calls = AtomicUsize::new(0);
        map.retain(|key, value| {
            calls.fetch_add(1, Ordering::Relaxed);
            if *key < STABLE {
                assert_eq!(value >> 20, *key);
                // Give the resizer time inside the sweep.
                if key % 16 == 0 {
                    thread::yield_now();
                }
                key % 2 == 0
            } else {
                true
            }
        });
        done.store(true, Ordering::SeqCst);
        resizer.join().unwrap();
        stop_updates.store(true, Ordering::SeqCst);
        updater.join().unwrap();
        for key in 0..STABLE {
            assert_eq!(
                map.contains_key(&key),
                key % 2 == 0,
                "key {key} after retain kept only the even stable keys"
            );
        }
        assert!(calls.load(Ordering::Relaxed) >= STABLE as usize);
        assert_eq!(map.len(), (STABLE / 2) as usize);
        assert_eq!(map.iter().count(), (STABLE / 2) as usize);
    }
}

/// `clear` (now a sweep) racing a writer that grows and shrinks the table
/// with keys of another range: every key present when clear started and
/// not written meanwhile is gone when it returns, and the writer's keys,
/// inserted again once clear has returned, are all present and counted.
/// Catches a sweep that skips a home frozen by a resize, or stops early
/// when the table shrinks under it.
///
/// The writer waits for clear's return before its last loop: a key that
/// loop inserts while clear still runs may rightly be removed by it ("a key
/// inserted during the call may survive it": may, not must). The first
/// version of this test did not wait, and failed about 1 run in 30 (CI of
/// 2026-12-01: 252 of 3,000 keys absent, each removed by the still-running
/// clear after its reinsertion; `len` agreed with the keys present).
#[test]
fn hopscotch_clear_sweep_racing_resizes_removes_every_untouched_key() {
    for _ in 0..3 {
        let map = Arc::new(HopscotchMap::<u64, u64>::with_capacity(64));
        for key in 0..2_000 {
            map.insert(key, key);
        }
        kovan_map::flush();
        let start = Arc::new(Barrier::new(2));
        let cleared = Arc::new(Barrier::new(2));
        let resizer = {
            let map = Arc::clone(&map);
            let start = Arc::clone(&start);
            let cleared = Arc::clone(&cleared);
            thread::spawn(move || {
                start.wait();
                for _ in 0..3 {
                    for i in 0..BURST {
                        map.insert(BURST_BASE + i, BURST_BASE + i);
                    }
                    map.reserve(8 * BURST as usize);
                    map.shrink_to_fit();
                }
                // Leave the burst keys present at the end: after clear.
                cleared.wait();
                for i in 0..BURST {
                    map.insert(BURST_BASE + i, BURST_BASE + i);
                }
            })
        };
        start.wait();
        map.clear();
        for key in 0..2_000 {
            assert!(!map.contains_key(&key), "key {key} survived clear");
        }
        cleared.wait();
        resizer.join().unwrap();
        for key in 0..2_000 {
            assert!(!map.contains_key(&key), "key {key} came back after clear");
        }
        let missing = (0..BURST)
            .filter(|i| !map.contains_key(&(BURST_BASE + i)))
            .count();
        let keys: HashSet<u64> = map.keys().collect();
        assert_eq!(
            (missing, keys.len(), map.len()),
            (0, BURST as usize, BURST as usize),
            "(burst keys missing by contains_key, keys iterated, len)"
        );
    }
}

/// `reserve` and `shrink_to_fit` racing inserts and removals of the same
/// keys from two threads, then `get_mut` and `iter_mut` on whatever the race
/// left (maybe a migration under way): no key lost or doubled, `iter_mut`'s
/// changes seen by `get`, values dropped exactly once (a drop-counting
/// value). Catches `iter_mut` collecting a key from both tables (two
/// `&mut` to one value, a count off), a migration not finished first.
#[test]
fn hopscotch_reserve_shrink_racing_writers_then_get_mut_and_iter_mut() {
    let ledger = DropLedger::new();
    {
        let map = Arc::new(HopscotchMap::<u64, Counted>::with_capacity(64));
        let mut handles = Vec::new();
        for t in 0..2u64 {
            let map = Arc::clone(&map);
            let ledger = Arc::clone(&ledger);
            handles.push(thread::spawn(move || {
                let mut rng = Rng(0x1234 + t);
                for round in 0..6 {
                    for key in 0..1_500 {
                        map.insert(key, Counted::new(key, &ledger));
                    }
                    if (round + t) % 2 == 0 {
                        map.reserve(10_000);
                    } else {
                        map.shrink_to_fit();
                    }
                    for _ in 0..1_200 {
                        map.remove(&rng.below(1_500));
                    }
                    map.shrink_to_fit();
                }
                // Leave every key present, with its own value.
                for key in 0..1_500 {
                    map.insert(key, Counted::new(key, &ledger));
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let mut map = Arc::try_unwrap(map).unwrap_or_else(|_| panic!("the writers are gone"));
        let mut seen = HashSet::new();
        for (key, value) in map.iter_mut() {
            assert!(seen.insert(*key), "iter_mut yielded {key} twice");
            assert_eq!(value.value, *key);
            value.value += 1_000_000;
        }
        assert_eq!(seen.len(), 1_500);
        for key in 0..1_500u64 {
            let value = map.get_mut(&key).expect("every key present");
            assert_eq!(value.value, key + 1_000_000);
            value.value = key + 2_000_000;
        }
        for key in 0..1_500u64 {
            assert_eq!(map.pin().get(&key).map(|v| v.value), Some(key + 2_000_000));
        }
        assert_eq!(map.len(), 1_500);
    }
    settle(&ledger);
    assert_eq!(ledger.live(), 0, "values leaked or dropped twice");
}

/// HashMap iteration with the prefetch on (at least 2^16 buckets, one
/// entry per 8 buckets, decided when the iterator is made) while another
/// thread shrinks and regrows the table many times: every stable key
/// exactly once, values it held. In debug builds `prefetch_ahead`'s
/// `debug_assert!(b < size)` also checks the computed bucket against the
/// size loaded for the batch. Catches a prefetch whose bucket is computed
/// from a stale size (the assertion), and any change to the walk itself.
#[test]
fn hash_map_prefetching_iteration_is_exact_while_the_table_shrinks_and_regrows() {
    const KEYS: u64 = 20_000;
    let map = Arc::new(HashMap::<u64, u64>::with_capacity(64));
    for key in 0..KEYS {
        map.insert(key, key * 3);
    }
    map.reserve(40_000);
    assert!(map.capacity() >= 1 << 16, "the prefetch needs 2^16 buckets");
    assert!(
        map.len() * 8 >= map.capacity(),
        "and one entry per 8 buckets: {} in {}",
        map.len(),
        map.capacity()
    );
    kovan_map::flush();
    let done = Arc::new(AtomicBool::new(false));
    let resizer = {
        let map = Arc::clone(&map);
        let done = Arc::clone(&done);
        thread::spawn(move || {
            for round in 0..40u64 {
                map.shrink_to_fit();
                // Churn keys above the stable ones, so the walk meets dead
                // nodes and new dummies too.
                for i in 0..200 {
                    let key = KEYS + round * 200 + i;
                    map.insert(key, key * 3);
                }
                map.reserve(40_000);
                for i in 0..200 {
                    map.remove(&(KEYS + round * 200 + i));
                }
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut passes = 0;
    while !done.load(Ordering::SeqCst) || passes < 3 {
        let mut seen = HashSet::new();
        if passes % 2 == 0 {
            for (key, value) in map.iter() {
                assert!(seen.insert(key), "key {key} twice");
                assert_eq!(value, key * 3);
            }
        } else {
            let pinned = map.pin();
            for (key, value) in pinned.iter() {
                assert!(seen.insert(*key), "key {key} twice");
                assert_eq!(*value, key * 3);
            }
        }
        for key in 0..KEYS {
            assert!(seen.contains(&key), "stable key {key} missed");
        }
        passes += 1;
    }
    resizer.join().unwrap();
}

/// HashMap drop and `into_iter` (the exclusive walk, prefetching) after a
/// race that left dead nodes and many dummies: every value dropped exactly
/// once, `into_iter` yields each live entry once. Catches a walk that
/// frees a node twice or skips one (ledger off), or reads a freed node's
/// `next` (ASan).
#[test]
fn hash_map_exclusive_walk_frees_every_node_once_after_a_resizing_race() {
    let ledger = DropLedger::new();
    for into_iter in [false, true] {
        let map = Arc::new(HashMap::<u64, Counted>::with_capacity(64));
        let mut handles = Vec::new();
        for t in 0..2u64 {
            let map = Arc::clone(&map);
            let ledger = Arc::clone(&ledger);
            handles.push(thread::spawn(move || {
                let mut rng = Rng(0xabc + t);
                for key in 0..20_000 {
                    map.insert(key, Counted::new(key, &ledger));
                }
                map.reserve(40_000);
                for _ in 0..4_000 {
                    let key = rng.below(20_000);
                    if rng.below(2) == 0 {
                        map.remove(&key);
                    } else {
                        map.insert(key, Counted::new(key, &ledger));
                    }
                }
                if t == 1 {
                    map.shrink_to_fit();
                    map.reserve(40_000);
                }
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        let map = Arc::try_unwrap(map).unwrap_or_else(|_| panic!("the writers are gone"));
        let expected: HashSet<u64> = map.keys().collect();
        // The exclusive walk prefetches (2^16 buckets or more, one entry
        // per 8 of them at least).
        assert!(map.capacity() >= 1 << 16 && map.len() * 8 >= map.capacity());
        if into_iter {
            let mut seen = HashSet::new();
            for (key, value) in map {
                assert_eq!(key, value.value);
                assert!(seen.insert(key), "into_iter yielded {key} twice");
            }
            assert_eq!(seen, expected);
        } else {
            drop(map);
        }
        settle(&ledger);
        assert_eq!(ledger.live(), 0, "values leaked or dropped twice");
    }
}

/// The entry API under contention on a few keys, on both maps, with a
/// thread resizing meanwhile: `and_modify(+1).or_insert(1)` never loses an
/// update (a retried attempt re-running `and_modify` on a stale clone and
/// winning would lose one), `or_insert_with`'s maker runs exactly once for
/// a key no other thread touches (even when a resize makes the insert
/// retry), and no value is leaked or dropped twice.
macro_rules! entry_contention_test {
    ($name:ident, $Map:ty, $reserve:expr) => {
        #[test]
        fn $name() {
            const THREADS: u64 = 3;
            const PER_THREAD: u64 = 800;
            const KEYS: u64 = 8;
            let ledger = DropLedger::new();
            {
                let map: Arc<$Map> = Arc::new(<$Map>::with_capacity(64));
                let done = Arc::new(AtomicBool::new(false));
                let resizer = {
                    let map = Arc::clone(&map);
                    let done = Arc::clone(&done);
                    let ledger = Arc::clone(&ledger);
                    thread::spawn(move || {
                        let mut round = 0u64;
                        while !done.load(Ordering::SeqCst) {
                            for i in 0..500 {
                                map.insert(1_000_000 + i, Counted::new(0, &ledger));
                            }
                            $reserve(&*map);
                            for i in 0..500 {
                                map.remove(&(1_000_000 + i));
                            }
                            map.shrink_to_fit();
                            round += 1;
                        }
                        round
                    })
                };
                let mut handles = Vec::new();
                for t in 0..THREADS {
                    let map = Arc::clone(&map);
                    let ledger = Arc::clone(&ledger);
                    handles.push(thread::spawn(move || {
                        for i in 0..PER_THREAD {
                            let key = (i + t) % KEYS;
                            let value = map
                                .entry(key)
                                .and_modify(|v| v.value += 1)
                                .or_insert_with(|| Counted::new(1, &ledger));
                            assert!(value.value >= 1);
                            // A get-or-insert on a key of its own: the
                            // maker runs at most once per call.
                            let own = 100 + t * PER_THREAD + i;
                            let made = std::cell::Cell::new(0);
                            let got = map.entry(own).or_insert_with(|| {
                                made.set(made.get() + 1);
                                Counted::new(own, &ledger)
                            });
                            assert_eq!(got.value, own);
                            assert_eq!(made.get(), 1, "an absent own key is made once");
                            map.remove(&own);
                        }
                    }));
                }
                for h in handles {
                    h.join().unwrap();
                }
                done.store(true, Ordering::SeqCst);
                resizer.join().unwrap();
                let mut total = 0;
                for key in 0..KEYS {
                    total += map.get(&key).expect("every contended key present").value;
                }
                assert_eq!(total, THREADS * PER_THREAD, "an update was lost");
            }
            settle(&ledger);
            assert_eq!(ledger.live(), 0, "values leaked or dropped twice");
        }
    };
}

entry_contention_test!(
    entry_upserts_lose_nothing_and_drop_once_on_hash_map,
    HashMap<u64, Counted>,
    |m: &HashMap<u64, Counted>| m.reserve(4_000)
);
entry_contention_test!(
    entry_upserts_lose_nothing_and_drop_once_on_hopscotch_map,
    HopscotchMap<u64, Counted>,
    |m: &HopscotchMap<u64, Counted>| m.reserve(4_000)
);

/// The recursive-update panic from inside an entry closure (a write to the
/// same map from `and_modify` and from `or_insert_with`), on both maps and
/// their handles: the panic propagates, the key keeps the value it had,
/// the map stays usable on the same thread (the re-entry mark is reset on
/// unwind), and nothing is leaked or dropped twice. Catches a mark left set
/// after the unwind (the next write on this thread would panic), and a
/// value made before the panic leaked or dropped twice.
#[test]
fn entry_recursive_update_panic_leaves_both_maps_consistent() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let ledger = DropLedger::new();
    {
        let hm = HashMap::<u64, Counted>::with_capacity(8);
        let hs = HopscotchMap::<u64, Counted>::with_capacity(8);
        hm.insert(1, Counted::new(10, &ledger));
        hs.insert(1, Counted::new(10, &ledger));
        let panicked = |r: std::thread::Result<()>| {
            let message = common::panic_message(&*r.expect_err("a recursive update panics"));
            assert!(message.contains("recursive update"), "{message}");
        };
        // and_modify on a present key writes to the map.
        panicked(catch_unwind(AssertUnwindSafe(|| {
            hm.entry(1)
                .and_modify(|_| {
                    hm.insert(2, Counted::new(20, &ledger));
                })
                .or_insert(Counted::new(0, &ledger));
        })));
        panicked(catch_unwind(AssertUnwindSafe(|| {
            hs.entry(1)
                .and_modify(|_| {
                    hs.insert(2, Counted::new(20, &ledger));
                })
                .or_insert(Counted::new(0, &ledger));
        })));
        // or_insert_with on an absent key writes to the map.
        panicked(catch_unwind(AssertUnwindSafe(|| {
            hm.entry(3).or_insert_with(|| {
                hm.remove(&1);
                Counted::new(30, &ledger)
            });
        })));
        panicked(catch_unwind(AssertUnwindSafe(|| {
            hs.entry(3).or_insert_with(|| {
                hs.remove(&1);
                Counted::new(30, &ledger)
            });
        })));
        // Through the handles (borrowed answers).
        panicked(catch_unwind(AssertUnwindSafe(|| {
            let p = hm.pin();
            p.entry(3).and_modify(|v| v.value += 1).or_insert_with(|| {
                hm.insert(4, Counted::new(40, &ledger));
                Counted::new(30, &ledger)
            });
        })));
        panicked(catch_unwind(AssertUnwindSafe(|| {
            let p = hs.pin();
            p.entry(3).and_modify(|v| v.value += 1).or_insert_with(|| {
                hs.insert(4, Counted::new(40, &ledger));
                Counted::new(30, &ledger)
            });
        })));
        for (name, get1, get2, get3, get4) in [
            (
                "HashMap",
                hm.get(&1).map(|v| v.value),
                hm.contains_key(&2),
                hm.contains_key(&3),
                hm.contains_key(&4),
            ),
            (
                "HopscotchMap",
                hs.get(&1).map(|v| v.value),
                hs.contains_key(&2),
                hs.contains_key(&3),
                hs.contains_key(&4),
            ),
        ] {
            assert_eq!(get1, Some(10), "{name}: key 1 changed");
            assert!(
                !get2 && !get3 && !get4,
                "{name}: a write from a panicked closure"
            );
        }
        // The same thread writes again, through entry too.
        assert_eq!(
            hm.entry(1)
                .and_modify(|v| v.value += 1)
                .or_insert(Counted::new(0, &ledger))
                .value,
            11
        );
        assert_eq!(
            hs.entry(1)
                .and_modify(|v| v.value += 1)
                .or_insert(Counted::new(0, &ledger))
                .value,
            11
        );
        hm.insert(5, Counted::new(5, &ledger));
        hs.insert(5, Counted::new(5, &ledger));
        assert_eq!(hm.len(), 2);
        assert_eq!(hs.len(), 2);
    }
    settle(&ledger);
    assert_eq!(ledger.live(), 0, "values leaked or dropped twice");
}
