//! Real threads hammering one map. Checked by invariants that hold whatever
//! the interleaving (the history-checked stress runs live in
//! `kovan-map-models`, which has the linearizability checker).

mod common;

use common::FewHashes;
use kovan_map::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

fn threads() -> u64 {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() as u64)
        .clamp(2, 4)
}

#[test]
fn counters_from_many_threads_add_up() {
    let map: Arc<HashMap<u64, u64, FewHashes>> =
        Arc::new(HashMap::with_capacity_and_hasher(8, FewHashes::new(5)));
    let n = threads();
    let per = 20_000u64;
    let handles: Vec<_> = (0..n)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for i in 0..per {
                    map.compute((i + t) % 10, |v| Some(v.map_or(1, |c| c + 1)));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total: u64 = (0..10).map(|k| map.get(&k).unwrap_or(0)).sum();
    assert_eq!(total, n * per);
}

#[test]
fn a_key_being_replaced_never_reads_absent() {
    let map: Arc<HashMap<u64, u64, FewHashes>> =
        Arc::new(HashMap::with_capacity_and_hasher(4, FewHashes::new(2)));
    for k in 0..8 {
        map.insert(k, 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..threads() - 1)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for v in 1..=30_000u64 {
                    map.insert(t % 8, v);
                    // Churn a neighbour in the same chain, so dead runs form.
                    map.remove(&(8 + t));
                    map.insert(8 + t, v);
                }
            })
        })
        .collect();
    let reader = {
        let map = Arc::clone(&map);
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) || reads < 10_000 {
                for k in 0..8 {
                    assert!(map.get(&k).is_some(), "key {k} read absent while replaced");
                }
                reads += 1;
            }
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
}

#[test]
fn iteration_under_churn_never_repeats_a_key_and_keeps_stable_ones() {
    let map: Arc<HashMap<u64, u64, FewHashes>> =
        Arc::new(HashMap::with_capacity_and_hasher(16, FewHashes::new(7)));
    // Keys 0..100 stay present (their values change); 100.. churn.
    for k in 0..100 {
        map.insert(k, k);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let churn: Vec<_> = (0..threads() - 1)
        .map(|t| {
            let map = Arc::clone(&map);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    map.insert(i % 100, i);
                    map.insert(100 + (i + t) % 50, i);
                    map.remove(&(100 + (i + 7 * t) % 50));
                    i += 1;
                }
            })
        })
        .collect();
    for _ in 0..200 {
        let mut keys: Vec<u64> = map.keys().collect();
        let total = keys.len();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), total, "a key was yielded twice");
        for k in 0..100 {
            assert!(keys.binary_search(&k).is_ok(), "stable key {k} missing");
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in churn {
        c.join().unwrap();
    }
}
