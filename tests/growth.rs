//! `HashMap` grows and shrinks (issue 10): the table doubles when an insert
//! takes the length past 3/4 of `capacity()` and halves when a removal takes
//! it below 1/4, never below the capacity it was built with. These tests
//! check what a user sees of that: capacities, every key readable, the
//! longest walk a lookup makes (through the `#[doc(hidden)]`
//! `HashMap::chain_stats` hook), memory that comes back (a counting global
//! allocator), clones, iteration and exact per-thread histories while the
//! table resizes under concurrent writers.
//!
//! No assertion is about time. The heavy test (5,000,000 keys) is `#[ignore]`
//! and has an always-run 600,000-key twin that crosses the same limit
//! (524,288 buckets' load limit of 393,216).
//!
//! Tests that read the counting allocator hold the write side of `LOCK`;
//! every other test holds its read side, so no other test allocates while
//! a figure is taken.

mod common;

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use common::{Counted, DropLedger};
use kovan_map::hash_map::DEFAULT_BUCKETS;
use kovan_map::HashMap;
use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread;

#[global_allocator]
static ALLOCATOR: counting_alloc::Counting = counting_alloc::Counting;

use counting_alloc::live_bytes;

// ---------------------------------------------------------------------------
// Serialization and small helpers.
// ---------------------------------------------------------------------------

/// Write side: a test that reads the counting allocator. Read side: any
/// other test of this binary.
static LOCK: RwLock<()> = RwLock::new(());

fn exclusive() -> RwLockWriteGuard<'static, ()> {
    LOCK.write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared() -> RwLockReadGuard<'static, ()> {
    LOCK.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Hands what this thread retired and holds back to kovan (a few calls: a
/// batch freed by one can be adopted from an exited thread's slot by the
/// next). No guard of this thread may be alive.
fn settle() {
    for _ in 0..4 {
        kovan_map::flush();
    }
}

/// Bytes of directory for `buckets` buckets (a multiple of 32): an 8-byte
/// link per bucket and its two state bits, 32 buckets to a 64-bit word. The
/// directory's segments are never freed while the map lives.
fn directory_bytes(buckets: usize) -> usize {
    buckets * 8 + buckets / 4
}

/// Bytes that may stay allocated besides what a test accounts for: kovan's
/// per-thread state and partial batches of threads that exited, the map's
/// header (segment table, length stripes), the test's own small vectors.
const SLACK: isize = 64 * 1024;

/// A deterministic generator (xorshift64*), one per thread.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Joins every worker, in order, but fails at the first one that panicked,
/// without waiting for the others: a thread that detected a broken map
/// fails the test even while another thread is caught in a broken list.
fn join_all<T>(workers: Vec<(&'static str, thread::JoinHandle<T>)>) -> Vec<T> {
    let mut results: Vec<Option<T>> = workers.iter().map(|_| None).collect();
    let mut pending: Vec<_> = workers
        .into_iter()
        .enumerate()
        .map(Some)
        .collect::<Vec<_>>();
    while pending.iter().any(Option::is_some) {
        let mut progressed = false;
        for entry in pending.iter_mut() {
            if entry
                .as_ref()
                .is_some_and(|(_, (_, handle))| handle.is_finished())
            {
                let (i, (name, handle)) = entry.take().unwrap();
                match handle.join() {
                    Ok(value) => results[i] = Some(value),
                    Err(payload) => {
                        let message = common::panic_message(&*payload);
                        panic!("{name} failed: {message}");
                    }
                }
                progressed = true;
            }
        }
        if !progressed {
            thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    results.into_iter().map(Option::unwrap).collect()
}

/// The value stored under `key` in the fill tests: derived from the key, so
/// a read of a wrong node shows.
fn value_of(key: u64) -> u64 {
    key.wrapping_mul(0x0100_0000_01B3) ^ 0x5bd1_e995
}

/// The smallest table size (power of two, at least `floor`) whose load
/// limit of 3/4 holds `len` entries.
fn fitting(len: usize, floor: usize) -> usize {
    let mut size = floor.max(1).next_power_of_two();
    while len > size / 4 * 3 + (size % 4) * 3 / 4 {
        size *= 2;
    }
    size
}

/// The bound asserted on `ChainStats::longest_chain` in every fill test. At
/// a load of at most 3/4 (and up to 3/2 within the run of a parent whose
/// split child has not been linked yet), a run of more than 16 live nodes
/// between two linked dummies has a chance far below 10^-9 per map; the
/// figures seen are printed.
const LONGEST_CHAIN_BOUND: usize = 16;

// ---------------------------------------------------------------------------
// 1. Millions of keys into `HashMap::new()` by two threads, and back out.
// ---------------------------------------------------------------------------

/// What `fill_and_drain` measured.
#[derive(Debug)]
#[allow(dead_code)] // read through `Debug`
struct FillFigures {
    keys: u64,
    capacity_full: usize,
    longest_chain_full: usize,
    linked_buckets_full: usize,
    live_full: isize,
    live_after_removal: isize,
    capacity_after_removal: usize,
    live_after_drop: isize,
}

/// Inserts `keys` keys into `HashMap::new()` from 2 threads (each its half),
/// checks growth, every key and the longest chain, removes every key from 2
/// threads, checks the shrink back to 524,288 and that the nodes' memory
/// came back. Each worker flushes before it exits (and its exit flushes
/// too); the main thread flushes once the workers are joined.
fn fill_and_drain(keys: u64) -> FillFigures {
    const THREADS: u64 = 2;
    let _lock = exclusive();
    // The main thread's first pin claims its kovan thread state before the
    // baseline.
    drop(kovan_map::pin());
    settle();
    let base = live_bytes();

    let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::new());
    assert_eq!(map.capacity(), DEFAULT_BUCKETS);
    assert_eq!(DEFAULT_BUCKETS, 524_288);
    let live_new = live_bytes() - base;
    // The fresh map: bucket segment 0 (8 bytes and 2 bits a bucket) and a
    // small header.
    assert!(
        live_new >= directory_bytes(DEFAULT_BUCKETS) as isize
            && live_new <= directory_bytes(DEFAULT_BUCKETS) as isize + SLACK,
        "a new map holds {live_new} bytes"
    );

    let run = |work: fn(&HashMap<u64, u64>, u64, u64, u64)| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let map = Arc::clone(&map);
                thread::spawn(move || {
                    work(&map, t, THREADS, keys);
                    // Retired nodes in this thread's partial batch go to
                    // kovan now (the exit would submit them as well).
                    kovan_map::flush();
                })
            })
            .collect();
        for worker in workers {
            worker.join().expect("a worker panicked");
        }
    };

    run(|map, t, threads, keys| {
        let mut k = t;
        while k < keys {
            assert_eq!(map.insert(k, value_of(k)), None, "key {k} inserted twice");
            k += threads;
        }
    });
    let capacity_full = map.capacity();
    assert_eq!(map.len(), keys as usize);
    assert!(
        capacity_full > DEFAULT_BUCKETS,
        "{keys} keys stayed in {capacity_full} buckets"
    );
    assert!(capacity_full.is_power_of_two());
    // Past the load limit of 3/4: the table holds the keys at that load. (A
    // racing insert may see the other thread's count late; two keys of
    // slack, one per thread, cover that.)
    assert!(
        keys as usize <= capacity_full / 4 * 3 + THREADS as usize,
        "{keys} keys in {capacity_full} buckets: past the load limit"
    );
    // It did not grow past what the keys need (the smallest fitting size,
    // or, after the racing count above, one doubling short of it).
    assert!(
        capacity_full <= fitting(keys as usize, DEFAULT_BUCKETS),
        "{keys} keys grew the table to {capacity_full} buckets"
    );

    // Every key readable, from 2 threads.
    run(|map, t, threads, keys| {
        let mut k = t;
        while k < keys {
            assert_eq!(map.get(&k), Some(value_of(k)), "key {k} unreadable");
            k += threads;
        }
    });
    assert_eq!(map.get(&keys), None);

    let stats = map.chain_stats();
    assert_eq!(stats.buckets, capacity_full);
    assert_eq!(stats.entries, keys as usize);
    assert!(stats.linked_buckets <= capacity_full);
    assert!(
        stats.longest_chain <= LONGEST_CHAIN_BOUND,
        "{keys} keys: a lookup may walk {} nodes ({stats:?})",
        stats.longest_chain
    );
    let live_full = live_bytes() - base;

    run(|map, t, threads, keys| {
        let mut k = t;
        while k < keys {
            assert_eq!(map.remove(&k), Some(value_of(k)), "key {k} not removed");
            k += threads;
        }
    });
    assert_eq!(map.len(), 0);
    assert!(map.is_empty());
    let capacity_after_removal = map.capacity();
    assert_eq!(
        capacity_after_removal, DEFAULT_BUCKETS,
        "an emptied map did not shrink back to the 524,288 buckets it was built with"
    );
    assert_eq!(map.iter().count(), 0);
    let empty = map.chain_stats();
    assert_eq!((empty.entries, empty.longest_chain), (0, 0), "{empty:?}");
    for k in (0..keys).step_by(9973) {
        assert_eq!(map.get(&k), None);
    }
    settle();
    let live_after_removal = live_bytes() - base;
    // What stays: the directory keeps every segment it grew into, 8.25 bytes
    // per bucket of the largest size (segment 0's 524,288 buckets, then one
    // segment per doubling), until the map is dropped. The nodes, each
    // retired by its remover and flushed, are freed.
    let directory = directory_bytes(capacity_full) as isize;
    assert!(
        live_after_removal >= directory,
        "{live_after_removal} bytes live: less than the directory's {directory}"
    );
    assert!(
        live_after_removal - directory <= SLACK,
        "{keys} keys removed and every writer flushed: {} bytes live besides the directory's \
         {directory} (at full: {live_full}); the nodes did not come back",
        live_after_removal - directory
    );

    drop(Arc::try_unwrap(map).unwrap_or_else(|_| panic!("workers let go of the map")));
    let live_after_drop = live_bytes() - base;
    assert!(
        live_after_drop <= SLACK,
        "{live_after_drop} bytes live after the emptied map was dropped"
    );

    let figures = FillFigures {
        keys,
        capacity_full,
        longest_chain_full: stats.longest_chain,
        linked_buckets_full: stats.linked_buckets,
        live_full,
        live_after_removal,
        capacity_after_removal,
        live_after_drop,
    };
    let node_bytes = (live_full - directory) as f64 / keys as f64;
    eprintln!(
        "{figures:?}\n  directory {directory} bytes ({} MiB), {node_bytes:.1} bytes per entry \
         besides it; after removal {} bytes besides the directory",
        directory >> 20,
        live_after_removal - directory
    );
    figures
}

#[test]
#[ignore = "5,000,000 keys: run with `cargo test --release --test growth -- --ignored`; \
            `six_hundred_thousand_keys_grow_past_the_default_table_and_give_their_nodes_back` \
            is its always-run twin"]
fn five_million_keys_grow_past_the_default_table_and_give_their_nodes_back() {
    let figures = fill_and_drain(5_000_000);
    // 5,000,000 > 3/4 of 4,194,304: the table doubles four times, to 2^23,
    // and keeps 2^23 * 8.25 bytes = 66 MiB of directory after the removal.
    assert_eq!(figures.capacity_full, 1 << 23);
    assert!(figures.live_after_removal >= directory_bytes(1 << 23) as isize);
}

#[test]
fn six_hundred_thousand_keys_grow_past_the_default_table_and_give_their_nodes_back() {
    // 600,000 > 393,216, the load limit of 524,288 buckets; < 786,432.
    let figures = fill_and_drain(600_000);
    // 2^20 buckets: 8.25 MiB of directory stay after the removal.
    assert_eq!(figures.capacity_full, 1 << 20);
    assert!(figures.live_after_removal >= directory_bytes(1 << 20) as isize);
}

// ---------------------------------------------------------------------------
// 2. Maps that start small grow as they fill.
// ---------------------------------------------------------------------------

fn check_filled(label: &str, map: &HashMap<u64, u64>, keys: impl Iterator<Item = u64>) {
    let mut count = 0;
    for k in keys {
        assert_eq!(map.get(&k), Some(k), "{label}: key {k}");
        count += 1;
    }
    assert_eq!(map.len(), count, "{label}");
    assert!(
        map.capacity() >= count * 4 / 3,
        "{label}: {count} keys in {} buckets",
        map.capacity()
    );
    let stats = map.chain_stats();
    eprintln!("{label}: {count} keys, {stats:?}");
    assert_eq!(stats.entries, count, "{label}");
    assert!(
        stats.longest_chain <= LONGEST_CHAIN_BOUND,
        "{label}: a lookup may walk {} nodes ({stats:?})",
        stats.longest_chain
    );
}

#[test]
fn a_map_collected_from_a_filtered_iterator_grows_as_it_fills() {
    let _lock = shared();
    let pairs = (0..400_000u64).filter(|k| k % 2 == 0).map(|k| (k, k));
    assert_eq!(pairs.size_hint().0, 0);
    let map: HashMap<u64, u64> = pairs.collect();
    check_filled("collect", &map, (0..400_000).step_by(2));
    assert_eq!(map.get(&1), None);
    // 200,000 keys: past 3/4 of 262,144, so at least 524,288 buckets.
    assert!(map.capacity() >= 524_288, "{}", map.capacity());
}

#[test]
fn a_map_built_with_capacity_1024_grows_as_it_fills() {
    let _lock = shared();
    let map: HashMap<u64, u64> = HashMap::with_capacity(1024);
    assert_eq!(map.capacity(), 1024);
    for k in 0..200_000 {
        assert_eq!(map.insert(k, k), None);
    }
    check_filled("with_capacity(1024)", &map, 0..200_000);
    assert_eq!(map.capacity(), fitting(200_000, 1024));
}

// ---------------------------------------------------------------------------
// 3. A clone of a grown map shrinks back like its source (kovan-map 0.2.0).
// ---------------------------------------------------------------------------

#[test]
fn a_clone_of_a_grown_map_shrinks_back_like_its_source() {
    let _lock = shared();
    let source: HashMap<u64, u64> = HashMap::with_capacity(64);
    for k in 0..100_000 {
        source.insert(k, value_of(k));
    }
    assert!(
        source.capacity() >= 100_000 * 4 / 3,
        "{}",
        source.capacity()
    );
    let copy = source.clone();
    assert_eq!(copy.len(), 100_000);
    assert!(copy == source, "the clone holds other entries");
    for k in 0..100_000 {
        assert_eq!(copy.get(&k), Some(value_of(k)));
    }
    assert_eq!(copy.capacity(), source.capacity());
    // The two are independent.
    copy.insert(1 << 40, 1);
    assert_eq!(source.get(&(1 << 40)), None);
    assert_eq!(copy.remove(&(1 << 40)), Some(1));

    for k in 0..100_000 {
        assert_eq!(source.remove(&k), Some(value_of(k)));
    }
    for k in (0..100_000).rev() {
        assert_eq!(copy.remove(&k), Some(value_of(k)));
    }
    assert_eq!((source.len(), copy.len()), (0, 0));
    assert_eq!(source.capacity(), 64, "the source did not shrink back");
    assert_eq!(copy.capacity(), 64, "the clone did not shrink back");
}

/// The clone is filled in its source's iteration order, which is split
/// order (the same hasher), while it grows from its floor: a bucket that
/// splits after its keys are in is linked only when a later write of that
/// bucket comes, and in split order none comes. Lookups in the clone must
/// still be short.
#[test]
fn a_clone_of_a_grown_map_keeps_lookups_short() {
    let _lock = shared();
    let source: HashMap<u64, u64> = HashMap::with_capacity(64);
    for k in 0..100_000 {
        source.insert(k, value_of(k));
    }
    let copy = source.clone();
    let (of_source, of_copy) = (source.chain_stats(), copy.chain_stats());
    eprintln!("source {of_source:?}\nclone  {of_copy:?}");
    assert!(
        of_source.longest_chain <= LONGEST_CHAIN_BOUND,
        "source: {of_source:?}"
    );
    assert_eq!(of_copy.entries, 100_000);
    assert!(
        of_copy.longest_chain <= LONGEST_CHAIN_BOUND,
        "a lookup in the clone may walk {} nodes (the source's longest walk is {}): {of_copy:?}",
        of_copy.longest_chain,
        of_source.longest_chain
    );
}

/// Bucket `b` and its ancestors (a parent clears the top bit): the buckets
/// a thread that prepares `b` leaves linked.
fn with_ancestors(mut b: usize, into: &mut HashSet<usize>) {
    while into.insert(b) && b != 0 {
        b &= !(1usize << (usize::BITS - 1 - b.leading_zeros()));
    }
}

/// A doubling leaves the new buckets untouched, and a bucket that splits
/// after its keys are in is linked only when a thread prepares it. Inserts
/// alone leave most of the last doubling's buckets to their parents, whose
/// walks then cross the nodes of both. A lookup prepares its bucket as a
/// writer does, so after one lookup of every key each key's bucket (and
/// its ancestors) is linked, and the lookups still find every key. Would
/// catch: lookups that never link (the figure stays at the inserts'), a
/// lookup that links a bucket and then walks from the wrong dummy (a key
/// not found), a lookup that links a bucket twice (a key iterated twice,
/// `entries` off).
#[test]
fn lookups_after_growth_link_the_buckets_they_reach() {
    let _lock = shared();
    let map: HashMap<u64, u64> = HashMap::with_capacity(16);
    const KEYS: u64 = 3000;
    for k in 0..KEYS {
        map.insert(k, value_of(k));
    }
    let capacity = map.capacity();
    assert_eq!(capacity, 4096, "3,000 keys from a floor of 16");
    let bucket = |k: u64| map.hasher().hash_one(k) as usize & (capacity - 1);
    let mut reached = HashSet::new();
    for k in 0..KEYS {
        with_ancestors(bucket(k), &mut reached);
    }
    let before = map.chain_stats();
    assert!(
        before.linked_buckets < reached.len(),
        "inserts alone leave buckets of the last doubling unlinked: {before:?}, {} reached",
        reached.len()
    );
    // Half through `get`, half through a `Pinned` handle's `get_key_value`,
    // and absent keys of the same buckets in between.
    let pinned = map.pin();
    for k in 0..KEYS {
        if k % 2 == 0 {
            assert_eq!(map.get(&k), Some(value_of(k)), "key {k}");
        } else {
            assert_eq!(
                pinned.get_key_value(&k),
                Some((&k, &value_of(k))),
                "key {k}"
            );
        }
        assert!(
            !map.contains_key(&(k + KEYS)),
            "key {} was never inserted",
            k + KEYS
        );
    }
    drop(pinned);
    let mut reached_with_absent = reached.clone();
    for k in KEYS..2 * KEYS {
        with_ancestors(bucket(k), &mut reached_with_absent);
    }
    let after = map.chain_stats();
    assert_eq!(after.entries, KEYS as usize, "{after:?}");
    assert!(
        after.linked_buckets >= reached.len() && after.linked_buckets <= reached_with_absent.len(),
        "after a lookup of every key, their buckets are linked: {after:?}, {} buckets reached \
         by the keys, {} with the absent ones",
        reached.len(),
        reached_with_absent.len()
    );
    let mut keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        (0..KEYS).collect::<Vec<_>>(),
        "each key iterated once"
    );
}

// ---------------------------------------------------------------------------
// 4. Many resizes under concurrent writers: exact per-thread histories.
// ---------------------------------------------------------------------------

const CHURN_THREADS: u64 = 3;
/// Keys each thread owns: `k % CHURN_THREADS == t`, `k < OWNED_END`.
const OWNED_PER_THREAD: u64 = 1500;
const OWNED_END: u64 = OWNED_PER_THREAD * CHURN_THREADS;
/// Shared keys every thread inserts, removes and updates.
const SHARED: std::ops::Range<u64> = 1_000_000..1_000_048;
/// Shared keys that are inserted (by whoever comes first) and never
/// removed: once a thread saw one present, it must stay present.
const STICKY: std::ops::Range<u64> = 2_000_000..2_000_016;
const CHURN_FLOOR: usize = 8;

/// A value that names its key (top bits) and a stamp (low 24 bits).
fn stamped(key: u64, stamp: u64) -> u64 {
    (key << 24) | (stamp & 0xFF_FFFF)
}

fn key_of(value: u64) -> u64 {
    value >> 24
}

/// A present value read by a thread that does not own the key: it names
/// the key, so it came from a node of that key.
fn check_foreign(key: u64, value: Option<u64>) {
    if let Some(v) = value {
        assert_eq!(
            key_of(v),
            key,
            "key {key} read value {v:#x} of key {}",
            key_of(v)
        );
    }
}

/// One operation on an owned key, its answer checked against the thread's
/// sequential model (`model[i]` is key `t + i * CHURN_THREADS`).
fn owned_op(
    map: &HashMap<u64, u64>,
    model: &mut [Option<u64>],
    rng: &mut Rng,
    key: u64,
    op: u64,
    stamp: u64,
) {
    let slot = &mut model[(key / CHURN_THREADS) as usize];
    let value = stamped(key, stamp);
    match op {
        0 => assert_eq!(map.insert(key, value), slot.replace(value), "insert {key}"),
        1 => assert_eq!(map.remove(&key), slot.take(), "remove {key}"),
        2 => assert_eq!(map.get(&key), *slot, "get {key}"),
        3 => {
            // Increment a present value, insert an absent one; an odd stamp
            // is removed instead, sometimes.
            let remove_odd = rng.below(2) == 0;
            let step = |v: Option<&u64>| match v {
                None => Some(value),
                Some(&v) if remove_odd && v % 2 == 1 => None,
                Some(&v) => Some(stamped(key_of(v), v + 1)),
            };
            let expected = step(slot.as_ref());
            assert_eq!(map.compute(key, step), expected, "compute {key}");
            *slot = expected;
        }
        4 => {
            let expected = match *slot {
                None => Err(None),
                Some(old) if old % 3 != 0 => Ok(old),
                Some(old) => Err(Some(old)),
            };
            assert_eq!(
                map.replace_if(key, value, |v| v % 3 != 0),
                expected,
                "replace_if {key}"
            );
            if expected.is_ok() {
                *slot = Some(value);
            }
        }
        5 => {
            assert_eq!(
                map.insert_if_absent(key, value),
                *slot,
                "insert_if_absent {key}"
            );
            slot.get_or_insert(value);
        }
        6 => {
            let expected = slot.take();
            let guess = expected.unwrap_or(value);
            assert_eq!(
                map.compare_and_remove(&key, &guess),
                expected,
                "compare_and_remove {key}"
            );
        }
        _ => {
            let expected = match *slot {
                Some(old) => Ok(old),
                None => Err(None),
            };
            let current = slot.unwrap_or(0);
            assert_eq!(
                map.compare_and_swap(key, &current, value),
                expected,
                "compare_and_swap {key}"
            );
            if expected.is_ok() {
                *slot = Some(value);
            }
        }
    }
}

/// One operation on a shared or sticky key, or a read of another thread's
/// key or a short iteration: answers checked against invariants.
fn shared_op(map: &HashMap<u64, u64>, rng: &mut Rng, t: u64, stamp: u64, sticky_seen: &[bool]) {
    match rng.below(8) {
        0 | 1 => {
            let key = SHARED.start + rng.below(SHARED.end - SHARED.start);
            check_foreign(key, map.insert(key, stamped(key, stamp)));
        }
        2 => {
            let key = SHARED.start + rng.below(SHARED.end - SHARED.start);
            check_foreign(key, map.remove(&key));
        }
        3 => {
            let key = SHARED.start + rng.below(SHARED.end - SHARED.start);
            let after = map.compute(key, |v| match v {
                Some(&v) if v % 4 == 0 => None,
                Some(&v) => Some(v + 1),
                None => Some(stamped(key, stamp)),
            });
            check_foreign(key, after);
        }
        4 => {
            // A sticky key: updated, never removed.
            let i = rng.below(STICKY.end - STICKY.start);
            let key = STICKY.start + i;
            let after = map.compute(key, |v| Some(v.map_or(stamped(key, t), |&v| v + 1)));
            check_foreign(key, after);
            assert!(after.is_some());
        }
        5 => {
            let key = rng.below(OWNED_END);
            check_foreign(key, map.get(&key));
        }
        6 => {
            for (key, value) in map.iter().take(24) {
                check_foreign(key, Some(value));
            }
        }
        _ => {
            let key = SHARED.start + rng.below(SHARED.end - SHARED.start);
            check_foreign(key, map.get(&key));
        }
    }
    // Every sticky key this thread has seen is still there.
    let i = rng.below(STICKY.end - STICKY.start);
    if sticky_seen[i as usize] {
        let key = STICKY.start + i;
        let value = map.get(&key);
        assert!(value.is_some(), "sticky key {key} vanished");
        check_foreign(key, value);
    }
}

/// One grow (`grow`) or shrink phase of churn thread `t`: mostly inserts
/// (grow) or removals (shrink) of owned keys, other operations in between,
/// each step followed by one on the shared keys, `OWNED_PER_THREAD * 2`
/// steps, each with the next stamp; then every owned key filled (grow,
/// each fill with the next stamp) or emptied (shrink).
fn churn_phase(
    map: &HashMap<u64, u64>,
    model: &mut [Option<u64>],
    rng: &mut Rng,
    t: u64,
    stamp: &mut u64,
    sticky_seen: &[bool],
    grow: bool,
) {
    // The operations as `owned_op` numbers them, drawn uniformly.
    let ops = if grow {
        [0, 0, 0, 5, 3, 2, 4, 7, 1, 6]
    } else {
        [1, 1, 1, 6, 3, 2, 4, 7, 0, 2]
    };
    let mine = |i: u64| t + i * CHURN_THREADS;
    for _ in 0..OWNED_PER_THREAD * 2 {
        *stamp += 1;
        let key = mine(rng.below(OWNED_PER_THREAD));
        let op = ops[rng.below(10) as usize];
        owned_op(map, model, rng, key, op, *stamp);
        shared_op(map, rng, t, *stamp, sticky_seen);
    }
    for i in 0..OWNED_PER_THREAD {
        let present = model[i as usize].is_some();
        if grow && !present {
            *stamp += 1;
            owned_op(map, model, rng, mine(i), 0, *stamp);
        } else if !grow && present {
            owned_op(map, model, rng, mine(i), 1, *stamp);
        }
    }
}

/// What the churn recorded: the capacity at each phase boundary.
struct ChurnRecord {
    /// (capacity, len) at the end of each grow phase.
    grown: Vec<(usize, usize)>,
    /// (capacity, len) at the end of each shrink phase.
    shrunk: Vec<(usize, usize)>,
}

/// A thread's sequential model of its owned keys.
type Model = Vec<Option<u64>>;

fn churn(rounds: u64) -> (Arc<HashMap<u64, u64>>, Vec<Model>, ChurnRecord) {
    let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::with_capacity(CHURN_FLOOR));
    let barrier = Arc::new(Barrier::new(CHURN_THREADS as usize));
    let record = Arc::new(std::sync::Mutex::new(ChurnRecord {
        grown: Vec::new(),
        shrunk: Vec::new(),
    }));
    let workers: Vec<_> = (0..CHURN_THREADS)
        .map(|t| {
            let (map, barrier, record) =
                (Arc::clone(&map), Arc::clone(&barrier), Arc::clone(&record));
            thread::spawn(move || {
                let mut rng = Rng::new(0xC0FFEE + t);
                let mut model: Vec<Option<u64>> = vec![None; OWNED_PER_THREAD as usize];
                let mut sticky_seen = vec![false; (STICKY.end - STICKY.start) as usize];
                let mut stamp = 0u64;
                let mine = |i: u64| t + i * CHURN_THREADS;
                // Where every thread has stopped writing: the leader reads
                // the map; then all go on.
                let pause = |grown: bool| {
                    if barrier.wait().is_leader() {
                        let mut record = record.lock().unwrap();
                        let figures = (map.capacity(), map.len());
                        if grown {
                            record.grown.push(figures);
                        } else {
                            record.shrunk.push(figures);
                        }
                    }
                    barrier.wait();
                };
                for _ in 0..rounds {
                    for i in 0..STICKY.end - STICKY.start {
                        let key = STICKY.start + i;
                        check_foreign(key, Some(map.get_or_insert(key, stamped(key, t))));
                        sticky_seen[i as usize] = true;
                    }
                    for grow in [true, false] {
                        churn_phase(
                            &map,
                            &mut model,
                            &mut rng,
                            t,
                            &mut stamp,
                            &sticky_seen,
                            grow,
                        );
                        pause(grow);
                    }
                }
                // A few owned keys stay, for the final check against the
                // models.
                for i in (0..OWNED_PER_THREAD).step_by(7) {
                    stamp += 1;
                    owned_op(&map, &mut model, &mut rng, mine(i), 0, stamp);
                }
                kovan_map::flush();
                model
            })
        })
        .collect();
    let models = join_all(workers.into_iter().map(|w| ("a churn thread", w)).collect());
    let record = Arc::try_unwrap(record)
        .ok()
        .expect("workers exited")
        .into_inner()
        .unwrap();
    (map, models, record)
}

#[test]
fn many_resizes_under_three_writers_keep_every_threads_history_exact() {
    let _lock = shared();
    let rounds = if cfg!(debug_assertions) { 6 } else { 30 };
    let (map, models, record) = churn(rounds);

    // Every grow phase ended with all 4,500 owned keys in: the table had
    // grown past the floor to hold them; every shrink phase with none: the
    // table had halved back to what the shared keys need.
    eprintln!("grown {:?}\nshrunk {:?}", record.grown, record.shrunk);
    assert_eq!(record.grown.len(), rounds as usize);
    for (&(grown, len_grown), &(shrunk, len_shrunk)) in record.grown.iter().zip(&record.shrunk) {
        assert!(len_grown >= OWNED_END as usize, "{len_grown}");
        assert!(
            len_grown <= grown / 4 * 3,
            "{len_grown} entries in {grown} buckets"
        );
        // At most the shared and sticky keys remain.
        assert!(len_shrunk <= (SHARED.end - SHARED.start + STICKY.end - STICKY.start) as usize);
        assert!(
            len_shrunk >= grown / 16 || shrunk <= grown / 4,
            "{len_shrunk} entries left in {shrunk} buckets, grown to {grown}: no shrink"
        );
        assert!(shrunk >= CHURN_FLOOR);
        // 4,500 keys need 8,192 buckets; 64 keys need at most 256 after
        // the halvings (each removal below 1/4 halves once).
        assert!(grown >= 8192, "{grown}");
        assert!(
            shrunk <= 512,
            "{len_shrunk} entries left in {shrunk} buckets"
        );
    }

    // The final state against the models: each owned key exactly as its
    // owner's model says, shared keys naming themselves, every sticky key.
    let mut expected_owned = 0;
    for (t, model) in models.iter().enumerate() {
        for (i, slot) in model.iter().enumerate() {
            let key = t as u64 + i as u64 * CHURN_THREADS;
            assert_eq!(map.get(&key), *slot, "owned key {key} of thread {t}");
            expected_owned += slot.is_some() as usize;
        }
    }
    for key in STICKY {
        check_foreign(key, map.get(&key));
        assert!(map.contains_key(&key), "sticky key {key}");
    }
    let all: BTreeMap<u64, u64> = map.iter().collect();
    assert_eq!(all.len(), map.len(), "iteration and len disagree");
    let mut owned_seen = 0;
    for (&key, &value) in &all {
        assert_eq!(key_of(value), key);
        if key < OWNED_END {
            owned_seen += 1;
        } else {
            assert!(
                SHARED.contains(&key) || STICKY.contains(&key),
                "stray key {key}"
            );
        }
    }
    assert_eq!(owned_seen, expected_owned);
    let stats = map.chain_stats();
    assert_eq!(stats.entries, all.len());
    assert!(stats.longest_chain <= LONGEST_CHAIN_BOUND, "{stats:?}");
}

/// A hasher under which every bucket `b` of a table of more than `b`
/// buckets holds one "left" and one "right" key: `hash(2b) = b`,
/// `hash(2b + 1) = b + 2^40`. Their split-order keys differ only in the
/// reversed bit 40, so bucket `b`'s run is `dummy(b), left, right` and the
/// right key's node has the next linked bucket dummy as its list successor.
#[derive(Clone, Copy, Default)]
struct Paired;

struct PairedHasher(u64);

impl Hasher for PairedHasher {
    fn finish(&self) -> u64 {
        (self.0 >> 1) | ((self.0 & 1) << 40)
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("u64 keys only");
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for Paired {
    type Hasher = PairedHasher;
    fn build_hasher(&self) -> PairedHasher {
        PairedHasher(0)
    }
}

/// Removals of nodes whose list successor is a bucket dummy, racing with
/// replacements of their predecessors, with searches that pass them and
/// with iterations that walk through them, while the table grows and
/// shrinks.
///
/// Thread 0 replaces the left keys of a few hot buckets, thread 1 removes
/// and reinserts their right keys (each removal's node is followed by a
/// dummy), both sweeping the same buckets in step; thread 2 iterates the
/// map, reads the hot keys and grows and shrinks the table with keys of its
/// own (hashes 1024..2774: their buckets are not hot once the table has
/// 4,096 buckets). When thread 1's unlink of a dead right node loses to the
/// replacement of its left neighbour, its tidying search unlinks the dead
/// node through the node's tagged `next`: a `DELETED` tag that dropped the
/// word's `DUMMY` tag then links a directory entry as if it were a node, and
/// a reader that follows the dead node's link reads the directory as a node.
/// Either loses keys (left keys are never removed, so every iteration and
/// every read must find them) or corrupts the walks.
#[test]
fn removing_the_node_before_a_bucket_dummy_races_with_readers_and_writers() {
    let _lock = shared();
    const HOT: u64 = 8;
    const STEPS: u64 = if cfg!(debug_assertions) {
        200_000
    } else {
        2_000_000
    };
    let map: Arc<HashMap<u64, u64, Paired>> =
        Arc::new(HashMap::with_capacity_and_hasher(4, Paired));
    for k in 0..2 * HOT {
        map.insert(k, stamped(k, 0));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(3));
    let writer = |parity: u64| {
        let (map, stop, start) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&start));
        thread::spawn(move || {
            let mut model: Vec<Option<u64>> =
                (0..HOT).map(|b| Some(stamped(2 * b + parity, 0))).collect();
            start.wait();
            for step in 1..=STEPS {
                let b = step % HOT;
                let key = 2 * b + parity;
                let slot = &mut model[b as usize];
                let value = stamped(key, step);
                if parity == 0 {
                    // The right key's predecessor, replaced.
                    assert_eq!(map.insert(key, value), slot.replace(value), "replace {key}");
                } else if slot.is_some() {
                    // The node before a dummy, removed.
                    assert_eq!(map.remove(&key), slot.take(), "remove {key}");
                } else {
                    assert_eq!(map.insert(key, value), None, "reinsert {key}");
                    *slot = Some(value);
                }
                // The neighbour: a left key is always there.
                let other = key ^ 1;
                let seen = map.get(&other);
                check_foreign(other, seen);
                if other.is_multiple_of(2) {
                    assert!(seen.is_some(), "left key {other} read absent");
                }
            }
            stop.store(true, Ordering::Relaxed);
            kovan_map::flush();
            model
        })
    };
    let left = writer(0);
    let right = writer(1);
    // What the reader saw: its passes and the sizes after each grow and
    // each shrink.
    let reader_saw = Arc::new(std::sync::Mutex::new((0u64, HashSet::new())));
    let reader = {
        let (map, stop, start) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&start));
        let saw = Arc::clone(&reader_saw);
        thread::spawn(move || {
            let check_iteration = |map: &HashMap<u64, u64, Paired>| {
                let mut seen = HashSet::new();
                for (key, value) in map.iter() {
                    assert!(seen.insert(key), "iteration yielded {key} twice");
                    check_foreign(key, Some(value));
                }
                for left in (0..2 * HOT).step_by(2) {
                    assert!(
                        seen.contains(&left),
                        "left key {left} missing from an iteration"
                    );
                }
            };
            let check_hot = |map: &HashMap<u64, u64, Paired>| {
                for key in 0..2 * HOT {
                    let seen = map.get(&key);
                    check_foreign(key, seen);
                    if key % 2 == 0 {
                        assert!(seen.is_some(), "left key {key} read absent");
                    }
                }
            };
            let mut sizes = HashSet::new();
            let mut passes = 0u64;
            start.wait();
            while !stop.load(Ordering::Relaxed) || passes < 4 {
                passes += 1;
                // The hot buckets alone: each iteration walks through them.
                for _ in 0..64 {
                    check_iteration(&map);
                }
                // Grow: 3,500 more keys take the table to 8,192 buckets;
                // removing them takes it back to 64 or fewer.
                const BASE: u64 = 2048;
                const MORE: u64 = 3500;
                for i in 0..MORE {
                    map.insert(BASE + i, stamped(BASE + i, 1));
                    if i % 256 == 0 {
                        check_hot(&map);
                    }
                }
                sizes.insert(map.capacity());
                check_iteration(&map);
                for i in 0..MORE {
                    assert_eq!(map.remove(&(BASE + i)), Some(stamped(BASE + i, 1)));
                    if i % 256 == 0 {
                        check_hot(&map);
                    }
                }
                sizes.insert(map.capacity());
            }
            kovan_map::flush();
            *saw.lock().unwrap() = (passes, sizes);
            Vec::new()
        })
    };
    let mut models = join_all(vec![
        ("the replacing thread", left),
        ("the removing thread", right),
        ("the reading thread", reader),
    ]);
    models.pop();
    let (right, left) = (models.pop().unwrap(), models.pop().unwrap());
    let (passes, sizes) = std::mem::take(&mut *reader_saw.lock().unwrap());
    for b in 0..HOT {
        assert_eq!(map.get(&(2 * b)), left[b as usize], "left key {}", 2 * b);
        assert_eq!(
            map.get(&(2 * b + 1)),
            right[b as usize],
            "right key {}",
            2 * b + 1
        );
    }
    let expected = left.iter().chain(&right).filter(|v| v.is_some()).count();
    assert_eq!(map.len(), expected);
    assert_eq!(map.iter().count(), expected);
    let stats = map.chain_stats();
    assert_eq!(stats.entries, expected);
    eprintln!("{passes} grow/shrink passes, sizes seen {sizes:?}, {stats:?}");
    // The passes grew the table to 8,192 buckets and shrank it to 64 or
    // fewer.
    assert!(
        sizes.contains(&8192) && sizes.iter().any(|&s| s <= 64),
        "{sizes:?}"
    );
}

// ---------------------------------------------------------------------------
// 5. Iteration across resizes.
// ---------------------------------------------------------------------------

#[test]
fn iteration_across_resizes_yields_every_stable_key_exactly_once() {
    let _lock = shared();
    const STABLE: u64 = 3000;
    const CHURN_BASE: u64 = 1 << 32;
    const CHURN_KEYS: u64 = 20_000;
    const ITERATIONS: usize = if cfg!(debug_assertions) { 4 } else { 20 };
    /// Items between two waits for a resize by the churner.
    const STEP: usize = 500;
    let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::with_capacity(16));
    for k in 0..STABLE {
        map.insert(k, k * 7);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let resizes = Arc::new(AtomicUsize::new(0));
    let churner = {
        let (map, stop, resizes) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&resizes));
        thread::spawn(move || {
            let mut last = map.capacity();
            let mut note = |map: &HashMap<u64, u64>| {
                let now = map.capacity();
                if now != last {
                    resizes.fetch_add(1, Ordering::SeqCst);
                    last = now;
                }
            };
            while !stop.load(Ordering::SeqCst) {
                for i in 0..CHURN_KEYS {
                    map.insert(CHURN_BASE + i, (CHURN_BASE + i) * 3);
                    note(&map);
                }
                for i in 0..CHURN_KEYS {
                    map.remove(&(CHURN_BASE + i));
                    note(&map);
                }
            }
            kovan_map::flush();
        })
    };
    for _ in 0..ITERATIONS {
        let at_start = resizes.load(Ordering::SeqCst);
        let mut seen = HashSet::new();
        let mut stable_seen = 0;
        let mut iter = map.iter();
        let mut count = 0usize;
        loop {
            if count.is_multiple_of(STEP) {
                // Let the table resize at least once more before reading on.
                let want = resizes.load(Ordering::SeqCst) + 1;
                while resizes.load(Ordering::SeqCst) < want {
                    assert!(!churner.is_finished(), "the churner stopped");
                    thread::yield_now();
                }
            }
            let Some((key, value)) = iter.next() else {
                break;
            };
            count += 1;
            assert!(seen.insert(key), "iteration yielded key {key} twice");
            if key < STABLE {
                assert_eq!(value, key * 7);
                stable_seen += 1;
            } else {
                assert!(
                    (CHURN_BASE..CHURN_BASE + CHURN_KEYS).contains(&key),
                    "stray key {key}"
                );
                assert_eq!(value, key * 3);
            }
        }
        let during = resizes.load(Ordering::SeqCst) - at_start;
        eprintln!("iteration: {count} entries, {stable_seen} stable, across {during} resizes");
        assert_eq!(
            stable_seen, STABLE as usize,
            "stable keys missing from an iteration"
        );
        assert!(during >= STABLE as usize / STEP, "{during} resizes");
    }
    stop.store(true, Ordering::SeqCst);
    churner.join().expect("the churner failed");
}

// ---------------------------------------------------------------------------
// 6. Single-thread edge cases.
// ---------------------------------------------------------------------------

#[test]
fn a_map_built_with_zero_or_one_bucket_starts_at_one_and_grows() {
    let _lock = shared();
    for floor in [0, 1] {
        let map: HashMap<u64, u64> = HashMap::with_capacity(floor);
        assert_eq!(map.capacity(), 1, "with_capacity({floor})");
        assert_eq!(map.get(&0), None);
        assert_eq!(map.iter().count(), 0);
        map.insert(0, 0);
        assert_eq!(map.get(&0), Some(0));
        // The insert that takes the length past 3/4 doubles the table when
        // its length stripe's count (times the 16 stripes) says so too, so
        // the length may run a few keys past the limit before the table
        // doubles (3 at most in 300 release runs of this fill).
        let mut excess = 0usize;
        for k in 1..5000 {
            assert_eq!(map.insert(k, value_of(k)), None);
            let capacity = map.capacity();
            let limit = capacity / 4 * 3 + (capacity % 4) * 3 / 4;
            excess = excess.max(map.len().saturating_sub(limit));
        }
        assert!(
            excess <= 32,
            "the length ran {excess} keys past the load limit"
        );
        assert_eq!(map.capacity(), fitting(5000, 1));
        for k in 1..5000 {
            assert_eq!(map.get(&k), Some(value_of(k)));
        }
        let stats = map.chain_stats();
        assert!(stats.longest_chain <= LONGEST_CHAIN_BOUND, "{stats:?}");
    }
}

/// Removing every key takes a map back to the capacity it was built with.
fn shrinks_back_by_removal(floor: usize) -> usize {
    let map: HashMap<u64, u64> = HashMap::with_capacity(floor);
    for k in 0..3000 {
        map.insert(k, k);
    }
    assert!(map.capacity() >= 4096);
    for k in 0..3000 {
        assert_eq!(map.remove(&k), Some(k));
    }
    assert!(map.is_empty());
    map.capacity()
}

/// `clear` takes a grown map back to the capacity it was built with.
fn shrinks_back_by_clear(floor: usize) -> usize {
    let map: HashMap<u64, u64> = HashMap::with_capacity(floor);
    for k in 0..3000 {
        map.insert(k, k);
    }
    assert!(map.capacity() >= 4096);
    map.clear();
    assert!(map.is_empty());
    assert_eq!(map.iter().count(), 0);
    assert_eq!(map.chain_stats().entries, 0);
    let capacity = map.capacity();
    // The cleared map works and grows again.
    for k in 0..3000 {
        assert_eq!(map.insert(k, k + 1), None);
    }
    assert!(map.capacity() >= 4096);
    assert_eq!(map.get(&2999), Some(3000));
    capacity
}

#[test]
fn an_emptied_map_shrinks_back_to_its_floor() {
    let _lock = shared();
    for floor in [4, 8, 64, 1024] {
        assert_eq!(
            shrinks_back_by_removal(floor),
            floor,
            "removal, floor {floor}"
        );
        assert_eq!(shrinks_back_by_clear(floor), floor, "clear, floor {floor}");
    }
}

/// A map built with 0, 1 or 2 buckets, grown and emptied, is back at its
/// floor: 0 entries are below a load of 1/4 of 2 or 4 buckets. (Each
/// removal halves at most once, so the last removals must reach the floor
/// one halving each; and `len < size / 4` reads `0 < 0` at 2 buckets.)
#[test]
fn a_one_bucket_map_emptied_by_removal_shrinks_back_to_one_bucket() {
    let _lock = shared();
    for floor in [0, 1, 2] {
        let expected = floor.max(1);
        assert_eq!(
            shrinks_back_by_removal(floor),
            expected,
            "with_capacity({floor}) grown and emptied by remove"
        );
    }
}

/// As above, by `clear`, which checks the load once after its pass.
#[test]
fn a_one_bucket_map_emptied_by_clear_shrinks_back_to_one_bucket() {
    let _lock = shared();
    for floor in [0, 1, 2] {
        let expected = floor.max(1);
        assert_eq!(
            shrinks_back_by_clear(floor),
            expected,
            "with_capacity({floor}) grown and cleared"
        );
    }
}

#[test]
fn into_iter_of_a_grown_map_moves_every_entry_out_once() {
    let _lock = shared();
    let ledger = DropLedger::new();
    {
        let map: HashMap<u64, Counted> = HashMap::with_capacity(2);
        for k in 0..20_000 {
            map.insert(k, Counted::new(k, &ledger));
        }
        // Some dead nodes and replacements on the way.
        for k in (0..20_000).step_by(3) {
            map.remove(&k);
        }
        for k in (0..20_000).step_by(5) {
            map.insert(k, Counted::new(k + 1, &ledger));
        }
        let capacity = map.capacity();
        assert!(capacity >= 16_384, "{capacity}");
        let len = map.len();
        let mut entries: Vec<(u64, u64)> = map.into_iter().map(|(k, v)| (k, v.value)).collect();
        assert_eq!(entries.len(), len);
        entries.sort_unstable();
        let expected: Vec<(u64, u64)> = (0..20_000)
            .filter_map(|k| match (k % 3 == 0, k % 5 == 0) {
                (_, true) => Some((k, k + 1)),
                (true, false) => None,
                (false, false) => Some((k, k)),
            })
            .collect();
        assert_eq!(entries, expected);
    }
    common::settle(&ledger);
    assert_eq!(ledger.live(), 0, "{ledger:?}");
}

#[test]
fn a_grown_map_gives_its_bytes_back_when_dropped() {
    let _lock = exclusive();
    drop(kovan_map::pin());
    settle();
    let base = live_bytes();
    let map: HashMap<u64, u64> = HashMap::with_capacity(1);
    for k in 0..100_000 {
        map.insert(k, k);
    }
    // Half of them removed (retired nodes), some replaced, others live.
    for k in (0..100_000).step_by(2) {
        map.remove(&k);
    }
    for k in (1..100_000).step_by(6) {
        map.insert(k, k + 1);
    }
    let capacity = map.capacity();
    assert!(capacity >= 131_072, "{capacity}");
    let grown = live_bytes() - base;
    assert!(grown >= directory_bytes(capacity) as isize);
    drop(map);
    // No flush: the user calls nothing (the drop flushes this thread).
    let left = live_bytes() - base;
    eprintln!("grown map of {capacity} buckets: {grown} bytes live, {left} left after drop");
    assert!(
        left <= SLACK,
        "{left} bytes still allocated after the map was dropped"
    );
}
