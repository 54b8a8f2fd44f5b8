//! Memory of `HopscotchMap` when every key has the same hash, counted by a
//! global allocator. Its own test binary: `#[global_allocator]` is per
//! binary, and the count must not include other tests' allocations.
//!
//! kovan-map 0.2.0 doubled its table for every 32 keys of one hash and ran
//! out of memory; here the keys past the neighbourhood go to the home's
//! overflow list, and the table grows with the load factor only.

mod common;

use common::FewHashes;
use kovan_map::HopscotchMap;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes currently allocated.
struct Counting;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Lets kovan free what it retired (old tables, replaced entries).
fn reclaim() {
    for _ in 0..64 {
        kovan_map::flush();
    }
}

#[test]
fn five_thousand_keys_with_one_hash_cost_at_most_two_hundred_bytes_each() {
    const KEYS: u64 = 5_000;
    reclaim();
    let before = LIVE_BYTES.load(Ordering::Relaxed);
    let map: HopscotchMap<u64, u64, FewHashes> =
        HopscotchMap::with_capacity_and_hasher(64, FewHashes::new(1));
    for key in 0..KEYS {
        assert_eq!(map.insert(key, key * 3), None);
    }
    reclaim();
    let bytes = LIVE_BYTES.load(Ordering::Relaxed) - before;
    let per_key = bytes as f64 / KEYS as f64;
    eprintln!(
        "{KEYS} keys of one hash: {bytes} bytes live, {per_key:.1} bytes a key, table of {} slots",
        map.capacity()
    );
    for key in 0..KEYS {
        assert_eq!(map.get(&key), Some(key * 3));
    }
    assert_eq!(map.len(), KEYS as usize);
    assert!(
        per_key <= 200.0,
        "{per_key:.1} bytes a key for keys of one hash (bound: 200)"
    );
    // The table grew with the load factor only: at most 2 slots a key.
    assert!(
        map.capacity() <= 2 * KEYS as usize,
        "capacity {}",
        map.capacity()
    );
    drop(map);
    reclaim();
    let after = LIVE_BYTES.load(Ordering::Relaxed) - before;
    assert!(
        after < 64 * 1024,
        "{after} bytes still allocated after the map was dropped"
    );
}
