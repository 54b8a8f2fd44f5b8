//! Adversarial review of the rayon `par_for_each` / `par_iter` of both maps
//! (`--features rayon`): a key present for the whole call is visited exactly
//! once, and a visited value is one the key held, while another thread
//! grows the table several times in a row and shrinks it straight back.
//! Checks answers only, never timing; a call is repeated until the writer's
//! fixed work is done (at least a fixed number of calls).
#![cfg(feature = "rayon")]

use kovan_map::{HashMap, HopscotchMap};
use rayon::iter::ParallelIterator;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::thread;

const STABLE: u64 = 2_000;
const BURST_BASE: u64 = 1 << 40;
const BURST: u64 = 4_000;

/// Counts of the stable keys' visits in one call, checked: each exactly 1.
fn check_counts(counts: &[AtomicU32]) {
    for (key, c) in counts.iter().enumerate() {
        assert_eq!(
            c.load(Ordering::Relaxed),
            1,
            "stable key {key} visited {c:?} times"
        );
    }
}

macro_rules! par_race {
    ($name:ident, $Map:ty) => {
        /// Catches a split whose stretches overlap or leave a gap once the
        /// table's size changed since the split (a key twice or missed), a
        /// task that keeps reading an abandoned table, and a cursor filter
        /// dropped across a shrink.
        #[test]
        fn $name() {
            let map: Arc<$Map> = Arc::new(<$Map>::with_capacity(64));
            for key in 0..STABLE {
                map.insert(key, key * 5);
            }
            kovan_map::flush();
            let done = Arc::new(AtomicBool::new(false));
            let writer = {
                let map = Arc::clone(&map);
                let done = Arc::clone(&done);
                thread::spawn(move || {
                    for round in 0..6 {
                        for i in 0..BURST {
                            map.insert(BURST_BASE + i, BURST_BASE + i);
                        }
                        if round % 2 == 0 {
                            map.reserve(8 * BURST as usize);
                        }
                        for i in 0..BURST {
                            map.remove(&(BURST_BASE + i));
                        }
                        map.shrink_to_fit();
                    }
                    done.store(true, Ordering::SeqCst);
                })
            };
            let mut calls = 0;
            while !done.load(Ordering::SeqCst) || calls < 4 {
                let counts: Vec<AtomicU32> = (0..STABLE).map(|_| AtomicU32::new(0)).collect();
                if calls % 2 == 0 {
                    map.par_for_each(|k, v| {
                        if *k < STABLE {
                            assert_eq!(*v, k * 5);
                            counts[*k as usize].fetch_add(1, Ordering::Relaxed);
                        } else {
                            assert_eq!(v, k);
                        }
                    });
                } else {
                    map.par_iter().for_each(|(k, v)| {
                        if k < STABLE {
                            assert_eq!(v, k * 5);
                            counts[k as usize].fetch_add(1, Ordering::Relaxed);
                        } else {
                            assert_eq!(v, k);
                        }
                    });
                }
                check_counts(&counts);
                calls += 1;
            }
            writer.join().unwrap();
        }
    };
}

par_race!(hash_map_par_visits_each_stable_key_once_across_grow_and_shrink, HashMap<u64, u64>);
par_race!(
    hopscotch_par_visits_each_stable_key_once_across_grow_and_shrink,
    HopscotchMap<u64, u64>
);
