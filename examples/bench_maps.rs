//! `HopscotchMap` next to `HashMap`: operations per second on 1 and 2
//! threads for a few mixes, and bytes per entry, counted by a global
//! allocator.
//!
//! ```text
//! cargo run --release --example bench_maps
//! ```
//!
//! Each cell runs three times; the table shows the median and the spread
//! (min..max) in millions of operations per second. Compare within one run:
//! a shared 2-core machine varies a lot between runs. This reports, it
//! asserts nothing.

use kovan_map::{HashMap, HopscotchMap};
#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::{live_bytes, Counting};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The operations a mix uses, for both maps.
trait Bench: Send + Sync + 'static {
    const NAME: &'static str;
    fn fresh() -> Self;
    fn get(&self, key: u64) -> bool;
    fn insert(&self, key: u64, value: u64);
    fn remove(&self, key: u64);
}

impl Bench for HashMap<u64, u64> {
    const NAME: &'static str = "HashMap";
    fn fresh() -> Self {
        HashMap::new()
    }
    fn get(&self, key: u64) -> bool {
        HashMap::get(self, &key).is_some()
    }
    fn insert(&self, key: u64, value: u64) {
        HashMap::insert(self, key, value);
    }
    fn remove(&self, key: u64) {
        HashMap::remove(self, &key);
    }
}

impl Bench for HopscotchMap<u64, u64> {
    const NAME: &'static str = "HopscotchMap";
    fn fresh() -> Self {
        HopscotchMap::new()
    }
    fn get(&self, key: u64) -> bool {
        HopscotchMap::get(self, &key).is_some()
    }
    fn insert(&self, key: u64, value: u64) {
        HopscotchMap::insert(self, key, value);
    }
    fn remove(&self, key: u64) {
        HopscotchMap::remove(self, &key);
    }
}

/// A workload: how many keys to preload, how many operations per thread,
/// and the operation for a random draw.
#[derive(Clone, Copy)]
struct Mix {
    name: &'static str,
    preload: u64,
    ops_per_thread: u64,
    /// Percentages of gets and inserts; the rest removes.
    gets: u64,
    inserts: u64,
    /// Keys are drawn from `0..key_space`, except for `fresh_keys`
    /// (insert-only, every key new: the table grows all the way).
    key_space: u64,
    fresh_keys: bool,
}

const MIXES: [Mix; 3] = [
    Mix {
        name: "read-heavy (94% get, 3% insert, 3% remove; 100k keys)",
        preload: 100_000,
        ops_per_thread: 2_000_000,
        gets: 94,
        inserts: 3,
        key_space: 200_000,
        fresh_keys: false,
    },
    Mix {
        name: "churn (50% insert, 50% remove; ~50k keys)",
        preload: 50_000,
        ops_per_thread: 1_000_000,
        gets: 0,
        inserts: 50,
        key_space: 100_000,
        fresh_keys: false,
    },
    Mix {
        name: "grow (insert 1M new keys into a new map)",
        preload: 0,
        ops_per_thread: 1_000_000,
        gets: 0,
        inserts: 100,
        key_space: u64::MAX,
        fresh_keys: true,
    },
];

/// Runs `mix` on a fresh map with `threads` threads; operations per second.
fn run<M: Bench>(mix: Mix, threads: u64) -> f64 {
    let map = Arc::new(M::fresh());
    for key in 0..mix.preload {
        map.insert(key * 2, key);
    }
    let barrier = Arc::new(Barrier::new(threads as usize + 1));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (map, barrier) = (Arc::clone(&map), Arc::clone(&barrier));
            thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
                barrier.wait();
                for i in 0..mix.ops_per_thread {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if mix.fresh_keys {
                        map.insert(t << 40 | i, i);
                        continue;
                    }
                    let key = x % mix.key_space;
                    let draw = (x >> 40) % 100;
                    if draw < mix.gets {
                        std::hint::black_box(map.get(key));
                    } else if draw < mix.gets + mix.inserts {
                        map.insert(key, i);
                    } else {
                        map.remove(key);
                    }
                }
                kovan_map::flush();
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for handle in handles {
        handle.join().unwrap();
    }
    let seconds = start.elapsed().as_secs_f64();
    (mix.ops_per_thread * threads) as f64 / seconds
}

/// Median, min and max of three runs, in millions of operations a second.
fn cell<M: Bench>(mix: Mix, threads: u64) -> String {
    let mut runs: Vec<f64> = (0..3).map(|_| run::<M>(mix, threads) / 1e6).collect();
    runs.sort_by(f64::total_cmp);
    format!("{:>6.2} ({:.2}..{:.2})", runs[1], runs[0], runs[2])
}

fn reclaim() {
    for _ in 0..64 {
        kovan_map::flush();
    }
}

/// Live bytes per entry after inserting `n` keys into a fresh map.
fn bytes_per_entry<M: Bench>(n: u64) -> f64 {
    reclaim();
    let before = live_bytes();
    let map = M::fresh();
    for key in 0..n {
        map.insert(key, key);
    }
    reclaim();
    let bytes = live_bytes() - before;
    drop(map);
    bytes as f64 / n as f64
}

fn main() {
    println!("million operations per second: median of 3 (min..max)\n");
    for mix in MIXES {
        println!("{}", mix.name);
        for threads in [1, 2] {
            println!(
                "  {threads} thread{}: {:>12} {}   {:>12} {}",
                if threads == 1 { " " } else { "s" },
                HashMap::<u64, u64>::NAME,
                cell::<HashMap<u64, u64>>(mix, threads),
                HopscotchMap::<u64, u64>::NAME,
                cell::<HopscotchMap<u64, u64>>(mix, threads),
            );
        }
    }
    println!("\nbytes per entry (u64 -> u64, default constructor, after reclamation)");
    for n in [10_000u64, 1_000_000] {
        println!(
            "  {n:>9} keys: {:>12} {:>7.1}   {:>12} {:>7.1}",
            HashMap::<u64, u64>::NAME,
            bytes_per_entry::<HashMap<u64, u64>>(n),
            HopscotchMap::<u64, u64>::NAME,
            bytes_per_entry::<HopscotchMap<u64, u64>>(n),
        );
    }
}
