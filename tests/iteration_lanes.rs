//! `HashMap` iteration in lanes (`src/hash_map/lanes.rs`): up to eight
//! stretches of the list read at once. These tests build tables where a
//! lane must start at an ancestor's dummy and skip another lane's nodes,
//! and check that every lane yields exactly its own stretch, with real
//! threads writing meanwhile.

mod common;

use common::{counts, Identity, Rng};
use kovan_map::HashMap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Barrier;

#[test]
fn lanes_that_start_at_an_ancestor_yield_only_their_own_stretch() {
    // Floor 1; key 1 first, while the table has one bucket (so bucket 0
    // takes it and bucket 1 is never prepared), then only even hashes:
    // every odd bucket stays untouched. So the lanes whose first bucket is
    // odd (the stretches with the top bit of the split-order key set: lanes
    // 4..8 of 8) start at bucket 0's dummy, the ancestor, and walk past all
    // the even keys, which lie in lanes 0..4: a lane that did not skip the
    // nodes before its stretch would yield them again. And lane 3's end,
    // bucket 1's dummy, is not in the list: it stops at key 1's node (lane
    // 4's), and one that did not stop there would yield key 1 again.
    let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(1, Identity);
    let keys: Vec<u64> = [1]
        .into_iter()
        .chain((1..=2_000u64).map(|k| k * 2))
        .collect();
    for &k in &keys {
        map.insert(k, k);
    }
    assert!(map.capacity() >= 8, "eight lanes need eight buckets");
    let expected: BTreeMap<u64, usize> = keys.iter().map(|&k| (k, 1)).collect();
    assert_eq!(counts(map.keys()), expected, "iter");
    let pinned = map.pin();
    assert_eq!(
        counts(pinned.iter().map(|(k, _)| *k)),
        expected,
        "Pinned::iter"
    );
    drop(pinned);
    // `fold` (behind `count`, `for_each`, `sum`) hands out whole rounds,
    // also after some entries were taken one by one.
    assert_eq!(map.iter().count(), map.len());
    let mut keys_iter = map.keys();
    let first: Vec<u64> = keys_iter.by_ref().take(5).collect();
    let mut rest = BTreeMap::new();
    keys_iter.for_each(|k| *rest.entry(k).or_insert(0) += 1);
    for k in first {
        *rest.entry(k).or_insert(0) += 1;
    }
    assert_eq!(rest, expected, "next, then fold");
    let sum: u64 = map.values().sum();
    assert_eq!(sum, keys.iter().sum::<u64>(), "values().sum()");
}

#[test]
fn a_lane_with_many_batches_resumes_from_its_dummies() {
    // One stretch holds nearly everything: keys whose low three bits are
    // 0 all lie in lane 0, so its lane reads hundreds of batches (a batch
    // ends at the first dummy after 8 elements) while the others finish at
    // once; every key still comes exactly once.
    let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(8, Identity);
    let keys: Vec<u64> = (0..5_000u64)
        .map(|k| k << 3)
        .chain([1, 2, 3, 5, 7])
        .collect();
    for &k in &keys {
        map.insert(k, k + 1);
    }
    let expected: BTreeMap<u64, usize> = keys.iter().map(|&k| (k, 1)).collect();
    assert_eq!(counts(map.keys()), expected);
    for (k, v) in map.iter() {
        assert_eq!(v, k + 1);
    }
}

#[test]
fn lanes_yield_every_stable_key_once_while_writers_grow_shrink_and_replace() {
    // Stable keys are present throughout (and replaced with equal values);
    // churn keys come and go, enough to double the table and halve it back
    // while the passes run. Every pass must yield each stable key exactly
    // once and no key twice.
    const STABLE: u64 = 3_000;
    let map: HashMap<u64, u64> = HashMap::with_capacity(64);
    for k in 0..STABLE {
        map.insert(k, k);
    }
    let stop = AtomicBool::new(false);
    let start = Barrier::new(3);
    std::thread::scope(|s| {
        s.spawn(|| {
            start.wait();
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..20_000 {
                    let k = STABLE + rng.below(40_000);
                    map.insert(k, k);
                }
                for k in STABLE..STABLE + 40_000 {
                    map.remove(&k);
                }
            }
        });
        s.spawn(|| {
            start.wait();
            let mut rng = Rng(0x2545_f491_4f6c_dd1d);
            while !stop.load(Ordering::Relaxed) {
                let k = rng.below(STABLE);
                map.insert(k, k);
            }
        });
        start.wait();
        for pass in 0..40 {
            let seen = counts(map.keys());
            for k in 0..STABLE {
                assert_eq!(seen.get(&k), Some(&1), "pass {pass}: stable key {k}");
            }
            if let Some((k, n)) = seen.iter().find(|(_, &n)| n > 1) {
                panic!("pass {pass}: key {k} yielded {n} times");
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
}
