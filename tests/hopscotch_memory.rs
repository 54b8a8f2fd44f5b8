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
#[path = "common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{live_bytes, Counting};

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
    let before = live_bytes();
    let map: HopscotchMap<u64, u64, FewHashes> =
        HopscotchMap::with_capacity_and_hasher(64, FewHashes::new(1));
    for key in 0..KEYS {
        assert_eq!(map.insert(key, key * 3), None);
    }
    reclaim();
    let bytes = live_bytes() - before;
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
    let after = live_bytes() - before;
    assert!(
        after < 64 * 1024,
        "{after} bytes still allocated after the map was dropped"
    );
}
