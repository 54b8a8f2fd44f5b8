//! Review of 6978da0 (iteration in lanes): small floors, few stable keys
//! (so the iterator is made with 1, 2, 4 or 8 lanes), churn that grows the
//! table far past 2^bits and shrinks it back to the floor while passes run,
//! and `Pinned::iter` holding one guard across all its rounds.

mod common;

use common::{Identity, Rng};
use kovan_map::HashMap;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

fn run(stable: &[u64], churn_mask: u64, millis: u64, pinned: bool) {
    let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(1, Identity);
    for &k in stable {
        map.insert(k, k);
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
            while !stop.load(Ordering::Relaxed) {
                // Churn keys are odd multiples of 2^20 plus anything: their
                // hashes share low bits with the stable keys' lanes.
                let n = 1 + rng.below(3000);
                for i in 0..n {
                    let k = (1 << 40) + (i & churn_mask) * 8 + rng.below(8);
                    map.insert(k, k);
                }
                for i in 0..n {
                    let k = (1 << 40) + (i & churn_mask) * 8;
                    for d in 0..8 {
                        map.remove(&(k + d));
                    }
                }
                // Replace the stable keys (same value) now and then.
                for &k in stable {
                    map.insert(k, k);
                }
            }
        });
        // Stops the writer also when a check below panics (else the scope
        // would wait for it forever).
        struct Stop<'a>(&'a AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let started = std::time::Instant::now();
        let mut pass = 0usize;
        while started.elapsed() < std::time::Duration::from_millis(millis) {
            pass += 1;
            let mut seen = BTreeMap::new();
            if pinned {
                let p = map.pin();
                for (k, v) in p.iter() {
                    assert_eq!(k, v);
                    *seen.entry(*k).or_insert(0usize) += 1;
                }
            } else if pass.is_multiple_of(2) {
                map.iter().for_each(|(k, v)| {
                    assert_eq!(k, v);
                    *seen.entry(k).or_insert(0usize) += 1;
                });
            } else {
                for (k, v) in map.iter() {
                    assert_eq!(k, v);
                    *seen.entry(k).or_insert(0usize) += 1;
                }
            }
            for &k in stable {
                assert_eq!(
                    seen.get(&k),
                    Some(&1),
                    "pass {pass}: stable key {k}: {seen:?}"
                );
            }
            if let Some((k, n)) = seen.iter().find(|(_, &n)| n > 1) {
                panic!("pass {pass}: key {k} yielded {n} times");
            }
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!("{pass} passes, capacity now {}", map.capacity());
    });
}

#[test]
fn one_stable_key_floor_one_lanes_while_table_grows_and_shrinks() {
    for &pinned in &[false, true] {
        run(&[5], u64::MAX, 1500, pinned);
        run(&[0], u64::MAX, 1500, pinned);
    }
}

#[test]
fn stable_keys_in_every_lane_floor_one() {
    let stable: Vec<u64> = (0..16).chain([1 << 63, (1 << 63) | 7, u64::MAX]).collect();
    for &pinned in &[false, true] {
        run(&stable, 0xff, 1500, pinned);
    }
}
