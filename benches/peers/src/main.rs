//! kovan-map's two maps against their peers, in one run (issue 12).
//!
//! ```text
//! cargo run --release -p kovan-map-peers -- --threads 1,2 --reps 5 --out docs/benchmarks.json
//! python3 benches/peers/plot.py docs/benchmarks.json docs/benchmarks.svg
//! ```
//!
//! Measures, for this crate's `HashMap` and `HopscotchMap`, kovan-map 0.2.0's
//! `HashMap`, papaya, scc, dashmap and `RwLock<std::collections::HashMap>`
//! (every one hashing with foldhash):
//!
//! * throughput of the three conc-map-bench (bustle) mixes, read-heavy
//!   (98% read, 1% insert, 1% remove), exchange (10/40/40/10 with updates)
//!   and rapid-grow (5/80/5/10, from empty), on `u64` keys and values, an
//!   initial capacity of 2^20 (75% prefilled for read-heavy and exchange),
//!   at each thread count asked for, `--reps` times: median, min, max and
//!   each map's ratio to the best other map;
//! * single-thread `get` on 100,000 and 1,000,000 keys, next to
//!   `std::collections::HashMap`, and `get_ref` under one guard;
//! * live bytes per entry after 100,000 and 1,000,000 inserts, counted by a
//!   global allocator (table included);
//! * iteration of 100,000 keys, ns per key.
//!
//! Writes JSON (`--out`) and prints tables. It asserts nothing except that a
//! thread's reads of its own present keys hit (a cheap sanity check that
//! every adapter does what it says).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap as StdHashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};
use std::sync::{Barrier, RwLock};
use std::time::Instant;

type Fold = foldhash::fast::RandomState;

// ---------------------------------------------------------------------------
// Counting allocator: counts live bytes only while `COUNTING` is on, so the
// throughput runs pay one relaxed load of a read-only flag per allocation,
// not a contended read-modify-write.

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, passed on.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as above.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(p, layout) };
        if COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        }
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as above.
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() && COUNTING.load(Ordering::Relaxed) {
            LIVE.fetch_add(
                new_size as isize - layout.size() as isize,
                Ordering::Relaxed,
            );
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

// ---------------------------------------------------------------------------
// Keys: splitmix64's finalizer is a bijection on u64, so distinct indices give
// distinct, well-spread keys. Thread `t` owns the indices `t << 40 | j`.

fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn key(thread: u64, j: u64) -> u64 {
    mix64((thread << 40) | j)
}

/// xorshift64*: a cheap PRNG for picking keys and shuffling the op pattern.
struct Rng(u64);
impl Rng {
    fn new(seed: u64) -> Self {
        Rng(mix64(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0), by multiply-high instead of a division.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
}

// ---------------------------------------------------------------------------
// The maps behind one interface.

trait Map: Send + Sync + Sized {
    /// As the throughput runs build it, for an initial capacity of `cap`
    /// entries.
    fn for_throughput(cap: usize) -> Self;
    /// Default construction (grows by inserting): for `get`, memory and
    /// iteration.
    fn default_built() -> Self;
    fn get(&self, k: u64) -> Option<u64>;
    fn insert(&self, k: u64, v: u64);
    fn remove(&self, k: u64) -> bool;
    /// Sets the value of a present key; false if absent.
    fn update(&self, k: u64, v: u64) -> bool;
    /// Counts the entries by iterating; `None` where the map cannot iterate.
    fn iter_count(&self) -> Option<usize>;
    /// Single-thread reads with one guard (or borrow) held across all of
    /// them; `None` where the map has no such API.
    fn sum_under_one_guard(&self, _keys: &[u64]) -> Option<u64> {
        None
    }
}

impl Map for kovan_map::HashMap<u64, u64> {
    fn for_throughput(_cap: usize) -> Self {
        // As issue 12 measured: `new()`, a fixed table of 524,288 buckets.
        kovan_map::HashMap::new()
    }
    fn default_built() -> Self {
        kovan_map::HashMap::new()
    }
    fn get(&self, k: u64) -> Option<u64> {
        kovan_map::HashMap::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        kovan_map::HashMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) -> bool {
        kovan_map::HashMap::remove(self, &k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.replace_if(k, v, |_| true).is_ok()
    }
    fn iter_count(&self) -> Option<usize> {
        Some(self.iter().count())
    }
    fn sum_under_one_guard(&self, keys: &[u64]) -> Option<u64> {
        let g = self.pin();
        let mut s = 0u64;
        for k in keys {
            s = s.wrapping_add(*self.get_ref(k, &g).unwrap_or(&0));
        }
        Some(s)
    }
}

impl Map for kovan_map::HopscotchMap<u64, u64> {
    fn for_throughput(cap: usize) -> Self {
        kovan_map::HopscotchMap::with_capacity(cap)
    }
    fn default_built() -> Self {
        kovan_map::HopscotchMap::new()
    }
    fn get(&self, k: u64) -> Option<u64> {
        kovan_map::HopscotchMap::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        kovan_map::HopscotchMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) -> bool {
        kovan_map::HopscotchMap::remove(self, &k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.replace_if(k, v, |_| true).is_ok()
    }
    fn iter_count(&self) -> Option<usize> {
        Some(self.iter().count())
    }
    fn sum_under_one_guard(&self, keys: &[u64]) -> Option<u64> {
        let g = self.pin();
        let mut s = 0u64;
        for k in keys {
            s = s.wrapping_add(*self.get_ref(k, &g).unwrap_or(&0));
        }
        Some(s)
    }
}

/// kovan-map 0.2.0 (crates.io), hashing with its own default,
/// `foldhash::fast::FixedState`.
impl Map for upstream::HashMap<u64, u64> {
    fn for_throughput(cap: usize) -> Self {
        upstream::HashMap::with_capacity(cap)
    }
    fn default_built() -> Self {
        upstream::HashMap::new()
    }
    fn get(&self, k: u64) -> Option<u64> {
        upstream::HashMap::get(self, &k)
    }
    fn insert(&self, k: u64, v: u64) {
        upstream::HashMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) -> bool {
        upstream::HashMap::remove(self, &k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        // 0.2.0 has no update-if-present; the key is present in every
        // update this program makes, so an insert does the same.
        upstream::HashMap::insert(self, k, v).is_some()
    }
    fn iter_count(&self) -> Option<usize> {
        None
    }
}

impl Map for papaya::HashMap<u64, u64, Fold> {
    fn for_throughput(cap: usize) -> Self {
        papaya::HashMap::with_capacity_and_hasher(cap, Fold::default())
    }
    fn default_built() -> Self {
        papaya::HashMap::with_hasher(Fold::default())
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.pin().get(&k).copied()
    }
    fn insert(&self, k: u64, v: u64) {
        self.pin().insert(k, v);
    }
    fn remove(&self, k: u64) -> bool {
        self.pin().remove(&k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.pin().update(k, |_| v).is_some()
    }
    fn iter_count(&self) -> Option<usize> {
        Some(self.pin().iter().count())
    }
    fn sum_under_one_guard(&self, keys: &[u64]) -> Option<u64> {
        let m = self.pin();
        let mut s = 0u64;
        for k in keys {
            s = s.wrapping_add(*m.get(k).unwrap_or(&0));
        }
        Some(s)
    }
}

impl Map for scc::HashMap<u64, u64, Fold> {
    fn for_throughput(cap: usize) -> Self {
        scc::HashMap::with_capacity_and_hasher(cap, Fold::default())
    }
    fn default_built() -> Self {
        scc::HashMap::with_hasher(Fold::default())
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.read_sync(&k, |_, v| *v)
    }
    fn insert(&self, k: u64, v: u64) {
        self.upsert_sync(k, v);
    }
    fn remove(&self, k: u64) -> bool {
        self.remove_sync(&k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.update_sync(&k, |_, old| *old = v).is_some()
    }
    fn iter_count(&self) -> Option<usize> {
        let mut n = 0;
        self.iter_sync(|_, _| {
            n += 1;
            true
        });
        Some(n)
    }
}

impl Map for dashmap::DashMap<u64, u64, Fold> {
    fn for_throughput(cap: usize) -> Self {
        dashmap::DashMap::with_capacity_and_hasher(cap, Fold::default())
    }
    fn default_built() -> Self {
        dashmap::DashMap::with_hasher(Fold::default())
    }
    fn get(&self, k: u64) -> Option<u64> {
        dashmap::DashMap::get(self, &k).map(|r| *r)
    }
    fn insert(&self, k: u64, v: u64) {
        dashmap::DashMap::insert(self, k, v);
    }
    fn remove(&self, k: u64) -> bool {
        dashmap::DashMap::remove(self, &k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.get_mut(&k).map(|mut r| *r = v).is_some()
    }
    fn iter_count(&self) -> Option<usize> {
        Some(self.iter().count())
    }
}

impl Map for RwLock<StdHashMap<u64, u64, Fold>> {
    fn for_throughput(cap: usize) -> Self {
        RwLock::new(StdHashMap::with_capacity_and_hasher(cap, Fold::default()))
    }
    fn default_built() -> Self {
        RwLock::new(StdHashMap::with_hasher(Fold::default()))
    }
    fn get(&self, k: u64) -> Option<u64> {
        self.read().unwrap().get(&k).copied()
    }
    fn insert(&self, k: u64, v: u64) {
        self.write().unwrap().insert(k, v);
    }
    fn remove(&self, k: u64) -> bool {
        self.write().unwrap().remove(&k).is_some()
    }
    fn update(&self, k: u64, v: u64) -> bool {
        self.write()
            .unwrap()
            .get_mut(&k)
            .map(|old| *old = v)
            .is_some()
    }
    fn iter_count(&self) -> Option<usize> {
        Some(self.read().unwrap().iter().count())
    }
    fn sum_under_one_guard(&self, keys: &[u64]) -> Option<u64> {
        let m = self.read().unwrap();
        let mut s = 0u64;
        for k in keys {
            s = s.wrapping_add(*m.get(k).unwrap_or(&0));
        }
        Some(s)
    }
}

// ---------------------------------------------------------------------------
// Workloads.

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Read,
    Insert,
    Remove,
    Update,
}

#[derive(Clone, Copy)]
struct Workload {
    name: &'static str,
    /// Percentages: read, insert, remove, update (sum 100).
    mix: [u8; 4],
    /// Prefill 75% of the initial capacity (else start empty).
    prefill: bool,
}

const WORKLOADS: [Workload; 3] = [
    Workload {
        name: "read-heavy",
        mix: [98, 1, 1, 0],
        prefill: true,
    },
    Workload {
        name: "exchange",
        mix: [10, 40, 40, 10],
        prefill: true,
    },
    Workload {
        name: "rapid-grow",
        mix: [5, 80, 5, 10],
        prefill: false,
    },
];

/// 100 operations in the workload's proportions, shuffled per thread; a
/// thread cycles through them.
fn pattern(w: &Workload, rng: &mut Rng) -> Vec<Op> {
    let ops = [Op::Read, Op::Insert, Op::Remove, Op::Update];
    let mut p = Vec::with_capacity(100);
    for (op, &n) in ops.iter().zip(&w.mix) {
        p.extend(std::iter::repeat_n(*op, n as usize));
    }
    for i in (1..p.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        p.swap(i, j);
    }
    p
}

/// One timed run: a fresh map, prefilled (untimed), then `threads` threads
/// doing `ops / threads` operations each. Each thread works on its own
/// keys, present ones in the window `lo..hi` of its key indices: an insert
/// adds index `hi`, a remove takes index `lo`, a read or update picks one in
/// the window at random (a read of an empty window looks for an absent key).
/// Returns millions of operations per second, and the reads that missed a
/// key that should have been present (always 0 for a correct map).
fn run_once<M: Map>(w: &Workload, threads: usize, ops: u64, cap: usize, seed: u64) -> (f64, u64) {
    let map = M::for_throughput(cap);
    let per_thread_prefill = if w.prefill {
        (cap as u64 * 3 / 4) / threads as u64
    } else {
        0
    };
    for t in 0..threads as u64 {
        for j in 0..per_thread_prefill {
            map.insert(key(t, j), j);
        }
    }
    let per_thread_ops = ops / threads as u64;
    let barrier = Barrier::new(threads + 1);
    let mut bad = 0u64;
    let elapsed = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads as u64)
            .map(|t| {
                let map = &map;
                let barrier = &barrier;
                s.spawn(move || {
                    let mut rng = Rng::new(seed ^ ((t + 1) * 0x1234_5678));
                    let pat = pattern(w, &mut rng);
                    let (mut lo, mut hi) = (0u64, per_thread_prefill);
                    let mut sum = 0u64;
                    let mut bad = 0u64;
                    barrier.wait();
                    let start = Instant::now();
                    let mut i = 0usize;
                    for _ in 0..per_thread_ops {
                        match pat[i] {
                            Op::Read => {
                                if hi > lo {
                                    let j = lo + rng.below(hi - lo);
                                    match map.get(key(t, j)) {
                                        Some(v) => sum = sum.wrapping_add(v),
                                        None => bad += 1,
                                    }
                                } else {
                                    sum += map.get(key(t, hi)).is_some() as u64;
                                }
                            }
                            Op::Insert => {
                                map.insert(key(t, hi), hi);
                                hi += 1;
                            }
                            Op::Remove => {
                                if hi > lo {
                                    bad += !map.remove(key(t, lo)) as u64;
                                    lo += 1;
                                } else {
                                    map.remove(key(t, hi));
                                }
                            }
                            Op::Update => {
                                if hi > lo {
                                    let j = lo + rng.below(hi - lo);
                                    bad += !map.update(key(t, j), j) as u64;
                                } else {
                                    map.update(key(t, hi), hi);
                                }
                            }
                        }
                        i += 1;
                        if i == pat.len() {
                            i = 0;
                        }
                    }
                    black_box(sum);
                    (start, Instant::now(), bad)
                })
            })
            .collect();
        barrier.wait();
        // From the first thread's start to the last one's end.
        let mut first: Option<Instant> = None;
        let mut last: Option<Instant> = None;
        for h in handles {
            let (s, e, b) = h.join().unwrap();
            bad += b;
            first = Some(first.map_or(s, |f| f.min(s)));
            last = Some(last.map_or(e, |l| l.max(e)));
        }
        last.unwrap() - first.unwrap()
    });
    drop(map);
    let done = per_thread_ops * threads as u64;
    (done as f64 / elapsed.as_secs_f64() / 1e6, bad)
}

/// Single-thread `get`: a map of `n` keys (default-built, grown by
/// inserting), then `lookups` random present keys. ns per get.
fn get_ns<M: Map>(n: u64, lookups: &[u64]) -> f64 {
    let map = M::default_built();
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    let mut s = 0u64;
    // One warm-up pass, then the timed one.
    for k in lookups.iter().take(lookups.len() / 4) {
        s = s.wrapping_add(map.get(*k).unwrap());
    }
    let start = Instant::now();
    for k in lookups {
        s = s.wrapping_add(map.get(*k).unwrap());
    }
    let ns = start.elapsed().as_nanos() as f64 / lookups.len() as f64;
    black_box(s);
    ns
}

/// As `get_ns`, with one guard (papaya: one pinned handle; the RwLock: one
/// read lock) held across every read.
fn get_guard_ns<M: Map>(n: u64, lookups: &[u64]) -> Option<f64> {
    let map = M::default_built();
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    black_box(map.sum_under_one_guard(&lookups[..lookups.len() / 4])?);
    let start = Instant::now();
    let s = map.sum_under_one_guard(lookups)?;
    let ns = start.elapsed().as_nanos() as f64 / lookups.len() as f64;
    black_box(s);
    Some(ns)
}

fn std_get_ns(n: u64, lookups: &[u64]) -> f64 {
    let mut map = StdHashMap::with_hasher(Fold::default());
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    let mut s = 0u64;
    for k in lookups.iter().take(lookups.len() / 4) {
        s = s.wrapping_add(*map.get(k).unwrap());
    }
    let start = Instant::now();
    for k in lookups {
        s = s.wrapping_add(*map.get(k).unwrap());
    }
    let ns = start.elapsed().as_nanos() as f64 / lookups.len() as f64;
    black_box(s);
    ns
}

/// Live bytes per entry of a default-built map after `n` inserts (table,
/// nodes, and whatever the map keeps for reclamation at that moment).
fn bytes_per_entry<M: Map>(n: u64) -> f64 {
    kovan_map::flush();
    COUNTING.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    let map = M::default_built();
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    kovan_map::flush();
    let after = LIVE.load(Ordering::SeqCst);
    COUNTING.store(false, Ordering::SeqCst);
    drop(black_box(map));
    (after - before) as f64 / n as f64
}

fn std_bytes_per_entry(n: u64) -> f64 {
    COUNTING.store(true, Ordering::SeqCst);
    let before = LIVE.load(Ordering::SeqCst);
    let mut map = StdHashMap::with_hasher(Fold::default());
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    let after = LIVE.load(Ordering::SeqCst);
    COUNTING.store(false, Ordering::SeqCst);
    drop(black_box(map));
    (after - before) as f64 / n as f64
}

/// ns per key of `iter().count()` over a default-built map of `n` keys,
/// one sample per rep.
fn iter_ns<M: Map>(n: u64, reps: usize) -> Option<Vec<f64>> {
    let map = M::default_built();
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    let c = map.iter_count()?;
    assert_eq!(c as u64, n, "iteration yielded {c} of {n} keys");
    let mut out = Vec::new();
    for _ in 0..reps {
        let start = Instant::now();
        let c = black_box(map.iter_count().unwrap());
        out.push(start.elapsed().as_nanos() as f64 / c as f64);
    }
    Some(out)
}

fn std_iter_ns(n: u64, reps: usize) -> Vec<f64> {
    let mut map = StdHashMap::with_hasher(Fold::default());
    for j in 0..n {
        map.insert(key(0, j), j);
    }
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            // Deliberately `iter().count()`, as for the other maps (hashbrown
            // answers it without a walk: docs/benchmarks.md says so).
            #[allow(clippy::iter_count)]
            let c = black_box(map.iter().count());
            start.elapsed().as_nanos() as f64 / c as f64
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The list of maps.

struct Entry {
    id: &'static str,
    label: &'static str,
    /// This crate's own maps: their "best other" leaves out each other.
    ours: bool,
    run: fn(&Workload, usize, u64, usize, u64) -> (f64, u64),
    get: fn(u64, &[u64]) -> f64,
    get_guard: fn(u64, &[u64]) -> Option<f64>,
    bytes: fn(u64) -> f64,
    iter: fn(u64, usize) -> Option<Vec<f64>>,
}

macro_rules! entry {
    ($id:expr, $label:expr, $ours:expr, $t:ty) => {
        Entry {
            id: $id,
            label: $label,
            ours: $ours,
            run: run_once::<$t>,
            get: get_ns::<$t>,
            get_guard: get_guard_ns::<$t>,
            bytes: bytes_per_entry::<$t>,
            iter: iter_ns::<$t>,
        }
    };
}

fn maps() -> Vec<Entry> {
    vec![
        entry!("kovan-map", "kovan-map HashMap (this crate)", true, kovan_map::HashMap<u64, u64>),
        entry!("kovan-map-hopscotch", "kovan-map HopscotchMap (this crate)", true, kovan_map::HopscotchMap<u64, u64>),
        entry!("kovan-map-0.2.0", "kovan-map 0.2.0 HashMap", false, upstream::HashMap<u64, u64>),
        entry!("papaya", "papaya 0.2", false, papaya::HashMap<u64, u64, Fold>),
        entry!("scc", "scc 3", false, scc::HashMap<u64, u64, Fold>),
        entry!("dashmap", "DashMap 6", false, dashmap::DashMap<u64, u64, Fold>),
        entry!(
            "rwlock-std",
            "RwLock<std HashMap>",
            false,
            RwLock<StdHashMap<u64, u64, Fold>>
        ),
    ]
}

// ---------------------------------------------------------------------------
// Arguments, statistics, output.

struct Args {
    threads: Vec<usize>,
    reps: usize,
    ops: u64,
    capacity: usize,
    get_keys: Vec<u64>,
    lookups: u64,
    mem_entries: Vec<u64>,
    iter_keys: u64,
    /// Look keys up in the order they were inserted instead of at random.
    gets_in_order: bool,
    out: Option<String>,
    only: Option<Vec<String>>,
    workloads: Option<Vec<String>>,
}

fn usage() -> ! {
    eprintln!(
        "usage: kovan-map-peers [--threads 1,2] [--reps 5] [--ops 3145728] [--capacity 1048576]\n\
         \x20 [--get-keys 100000,1000000] [--lookups 2000000] [--mem-entries 100000,1000000]\n\
         \x20 [--iter-keys 100000] [--gets-in-order] [--maps ID,..] [--workloads NAME,..] [--out FILE.json]\n\
         map ids: kovan-map kovan-map-hopscotch kovan-map-0.2.0 papaya scc dashmap rwlock-std\n\
         workloads: read-heavy exchange rapid-grow"
    );
    std::process::exit(2)
}

fn list<T: std::str::FromStr>(s: &str) -> Vec<T> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.trim()
                .replace('_', "")
                .parse()
                .unwrap_or_else(|_| usage())
        })
        .collect()
}

fn parse_args() -> Args {
    let mut a = Args {
        threads: vec![1, 2],
        reps: 5,
        ops: 3 << 20,
        capacity: 1 << 20,
        get_keys: vec![100_000, 1_000_000],
        lookups: 2_000_000,
        mem_entries: vec![100_000, 1_000_000],
        iter_keys: 100_000,
        gets_in_order: false,
        out: None,
        only: None,
        workloads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--threads" => a.threads = list(&val()),
            "--reps" => a.reps = val().parse().unwrap_or_else(|_| usage()),
            "--ops" => a.ops = list(&val())[0],
            "--capacity" => a.capacity = list(&val())[0],
            "--get-keys" => a.get_keys = list(&val()),
            "--lookups" => a.lookups = list(&val())[0],
            "--mem-entries" => a.mem_entries = list(&val()),
            "--iter-keys" => a.iter_keys = list(&val())[0],
            "--out" => a.out = Some(val()),
            "--gets-in-order" => a.gets_in_order = true,
            "--maps" => a.only = Some(list(&val())),
            "--workloads" => a.workloads = Some(list(&val())),
            _ => usage(),
        }
    }
    if a.reps == 0 || a.threads.is_empty() || a.threads.contains(&0) {
        usage();
    }
    a
}

struct Stats {
    median: f64,
    min: f64,
    max: f64,
}

fn stats(v: &[f64]) -> Stats {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Stats {
        median,
        min: s[0],
        max: s[n - 1],
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "null".into()
    }
}

fn json_nums(v: &[f64]) -> String {
    let parts: Vec<String> = v.iter().map(|x| json_num(*x)).collect();
    format!("[{}]", parts.join(", "))
}

fn main() {
    let args = parse_args();
    let all = maps();
    let maps: Vec<&Entry> = all
        .iter()
        .filter(|m| {
            args.only
                .as_ref()
                .is_none_or(|o| o.iter().any(|x| x == m.id))
        })
        .collect();
    let workloads: Vec<&Workload> = WORKLOADS
        .iter()
        .filter(|w| {
            args.workloads
                .as_ref()
                .is_none_or(|o| o.iter().any(|x| x == w.name))
        })
        .collect();
    let t0 = Instant::now();
    eprintln!(
        "kovan-map-peers: {} maps, threads {:?}, {} reps, {} ops per run, capacity {}",
        maps.len(),
        args.threads,
        args.reps,
        args.ops,
        args.capacity
    );

    // --- throughput: for each workload and thread count, reps rounds of
    // every map in turn, so that a noisy moment hits every map alike.
    // samples[w][t][m] = Mops/s per rep.
    let mut samples = vec![vec![vec![Vec::new(); maps.len()]; args.threads.len()]; workloads.len()];
    let mut bad_total = vec![0u64; maps.len()];
    for (wi, w) in workloads.iter().enumerate() {
        for (ti, &threads) in args.threads.iter().enumerate() {
            for rep in 0..args.reps {
                for (mi, m) in maps.iter().enumerate() {
                    let seed = (wi as u64) << 32 | (ti as u64) << 16 | rep as u64;
                    let (mops, bad) = (m.run)(w, threads, args.ops, args.capacity, seed);
                    samples[wi][ti][mi].push(mops);
                    bad_total[mi] += bad;
                }
            }
            eprintln!(
                "  {} x{} done ({:.0} s)",
                w.name,
                threads,
                t0.elapsed().as_secs_f64()
            );
        }
    }

    // --- single-thread get.
    let mut gets = Vec::new(); // (n, label, id, samples)
    for &n in &args.get_keys {
        let mut rng = Rng::new(n);
        let lookups: Vec<u64> = (0..args.lookups)
            .map(|i| {
                key(
                    0,
                    if args.gets_in_order {
                        i % n
                    } else {
                        rng.below(n)
                    },
                )
            })
            .collect();
        let mut rows: Vec<(String, String, Vec<f64>)> = Vec::new();
        rows.push(("std".into(), "std HashMap (no lock)".into(), Vec::new()));
        for m in &maps {
            rows.push((m.id.into(), format!("{} get", m.label), Vec::new()));
            rows.push((
                format!("{}/one-guard", m.id),
                format!("{} under one guard", m.label),
                Vec::new(),
            ));
        }
        for _ in 0..args.reps {
            rows[0].2.push(std_get_ns(n, &lookups));
            for (mi, m) in maps.iter().enumerate() {
                rows[1 + 2 * mi].2.push((m.get)(n, &lookups));
                if let Some(x) = (m.get_guard)(n, &lookups) {
                    rows[2 + 2 * mi].2.push(x);
                }
            }
        }
        rows.retain(|r| !r.2.is_empty());
        gets.push((n, rows));
    }
    eprintln!("  get done ({:.0} s)", t0.elapsed().as_secs_f64());

    // --- bytes per entry (deterministic: one sample).
    let mut mem = Vec::new(); // (n, [(id,label,bytes)])
    for &n in &args.mem_entries {
        let mut rows = vec![(
            "std".to_string(),
            "std HashMap (no lock)".to_string(),
            std_bytes_per_entry(n),
        )];
        for m in &maps {
            rows.push((m.id.into(), m.label.into(), (m.bytes)(n)));
        }
        mem.push((n, rows));
    }

    // --- iteration.
    let mut iters = vec![(
        "std".to_string(),
        "std HashMap (no lock)".to_string(),
        std_iter_ns(args.iter_keys, args.reps),
    )];
    for m in &maps {
        if let Some(v) = (m.iter)(args.iter_keys, args.reps) {
            iters.push((m.id.into(), m.label.into(), v));
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("  all done ({secs:.0} s)");

    // --- report.
    let mut table = String::new();
    let mut json = String::new();
    let _ = writeln!(json, "{{");
    let _ = writeln!(
        json,
        "  \"config\": {{\"threads\": {:?}, \"reps\": {}, \"ops\": {}, \"capacity\": {}, \"lookups\": {}, \"iter_keys\": {}, \"gets_in_order\": {}, \"cpus\": {}, \"seconds\": {:.1}}},",
        args.threads,
        args.reps,
        args.ops,
        args.capacity,
        args.lookups,
        args.iter_keys,
        args.gets_in_order,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        secs
    );
    let _ = writeln!(
        json,
        "  \"maps\": [{}],",
        maps.iter()
            .map(|m| format!(
                "{{\"id\": {}, \"label\": {}, \"ours\": {}}}",
                json_str(m.id),
                json_str(m.label),
                m.ours
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let _ = writeln!(table, "\nThroughput, Mops/s: median [min..max] of {} runs; x = ratio of the median to the best other map's", args.reps);
    let _ = writeln!(json, "  \"throughput\": [");
    let mut jrows = Vec::new();
    for (wi, w) in workloads.iter().enumerate() {
        let _ = writeln!(
            table,
            "\n{} ({}% read, {}% insert, {}% remove, {}% update{})",
            w.name,
            w.mix[0],
            w.mix[1],
            w.mix[2],
            w.mix[3],
            if w.prefill {
                ", 75% prefilled"
            } else {
                ", from empty"
            }
        );
        let mut header = format!("{:<38}", "map");
        for t in &args.threads {
            let _ = write!(
                header,
                " | {:>28}",
                format!("{t} thread{}", if *t == 1 { "" } else { "s" })
            );
        }
        let _ = writeln!(table, "{header}");
        for (mi, m) in maps.iter().enumerate() {
            let mut line = format!("{:<38}", m.label);
            for (ti, &threads) in args.threads.iter().enumerate() {
                let st = stats(&samples[wi][ti][mi]);
                let best = maps
                    .iter()
                    .enumerate()
                    .filter(|(oi, o)| *oi != mi && !(m.ours && o.ours))
                    .map(|(oi, o)| (stats(&samples[wi][ti][oi]).median, o.id))
                    .fold((f64::NAN, ""), |acc, x| {
                        if acc.0.is_nan() || x.0 > acc.0 {
                            x
                        } else {
                            acc
                        }
                    });
                let ratio = st.median / best.0;
                let _ = write!(
                    line,
                    " | {:>28}",
                    format!(
                        "{:.2} [{:.2}..{:.2}] x{:.2}",
                        st.median, st.min, st.max, ratio
                    )
                );
                jrows.push(format!(
                    "    {{\"workload\": {}, \"threads\": {}, \"map\": {}, \"mops\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"best_other\": {}, \"ratio_to_best_other\": {}}}",
                    json_str(w.name), threads, json_str(m.id), json_nums(&samples[wi][ti][mi]), json_num(st.median), json_num(st.min), json_num(st.max), json_str(best.1), json_num(ratio)
                ));
            }
            let _ = writeln!(table, "{line}");
        }
    }
    let _ = writeln!(json, "{}\n  ],", jrows.join(",\n"));

    let _ = writeln!(table, "\nSingle-thread get, ns/op: median [min..max] of {} runs of {} present keys ({}); x = ratio to std HashMap", args.reps, args.lookups, if args.gets_in_order { "in insertion order" } else { "at random" });
    let mut jrows = Vec::new();
    for (n, rows) in &gets {
        let std_med = stats(&rows[0].2).median;
        let _ = writeln!(table, "\n{n} keys");
        for (id, label, v) in rows {
            let st = stats(v);
            let _ = writeln!(
                table,
                "{:<56} {:>7.1} [{:>6.1}..{:>6.1}] x{:.2}",
                label,
                st.median,
                st.min,
                st.max,
                st.median / std_med
            );
            jrows.push(format!(
                "    {{\"keys\": {}, \"map\": {}, \"ns\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"ratio_to_std\": {}}}",
                n, json_str(id), json_nums(v), json_num(st.median), json_num(st.min), json_num(st.max), json_num(st.median / std_med)
            ));
        }
    }
    let _ = writeln!(json, "  \"get\": [\n{}\n  ],", jrows.join(",\n"));

    let _ = writeln!(
        table,
        "\nLive bytes per entry after n inserts (default-built map; table included)"
    );
    let mut jrows = Vec::new();
    let mut header = format!("{:<38}", "map");
    for (n, _) in &mem {
        let _ = write!(header, " | {:>10}", n);
    }
    let _ = writeln!(table, "{header}");
    if let Some((_, first)) = mem.first() {
        for (ri, (id, label, _)) in first.iter().enumerate() {
            let mut line = format!("{label:<38}");
            for (n, rows) in &mem {
                let b = rows[ri].2;
                let _ = write!(line, " | {b:>10.1}");
                jrows.push(format!(
                    "    {{\"entries\": {}, \"map\": {}, \"bytes_per_entry\": {}}}",
                    n,
                    json_str(id),
                    json_num(b)
                ));
            }
            let _ = writeln!(table, "{line}");
        }
    }
    let _ = writeln!(json, "  \"memory\": [\n{}\n  ],", jrows.join(",\n"));

    let _ = writeln!(table, "\nIteration of {} keys, ns/key: median [min..max] of {} passes (default-built map); x = ratio to DashMap", args.iter_keys, args.reps);
    let dash = iters
        .iter()
        .find(|r| r.0 == "dashmap")
        .map(|r| stats(&r.2).median);
    let mut jrows = Vec::new();
    for (id, label, v) in &iters {
        let st = stats(v);
        let ratio = dash.map_or(f64::NAN, |d| st.median / d);
        let _ = writeln!(
            table,
            "{:<38} {:>7.2} [{:>6.2}..{:>6.2}] x{:.2}",
            label, st.median, st.min, st.max, ratio
        );
        jrows.push(format!(
            "    {{\"keys\": {}, \"map\": {}, \"ns_per_key\": {}, \"median\": {}, \"min\": {}, \"max\": {}, \"ratio_to_dashmap\": {}}}",
            args.iter_keys, json_str(id), json_nums(v), json_num(st.median), json_num(st.min), json_num(st.max), json_num(ratio)
        ));
    }
    if !maps.iter().any(|m| m.id == "kovan-map-0.2.0") {
    } else {
        let _ = writeln!(table, "(kovan-map 0.2.0 has no iterator)");
    }
    let _ = writeln!(json, "  \"iteration\": [\n{}\n  ]", jrows.join(",\n"));
    let _ = writeln!(json, "}}");

    print!("{table}");
    for (m, bad) in maps.iter().zip(&bad_total) {
        if *bad > 0 {
            println!("WARNING: {}: {bad} operations on keys that should have been present found them absent", m.label);
        }
    }
    if let Some(path) = &args.out {
        if let Some(dir) = std::path::Path::new(path).parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(path, json).expect("write --out");
        eprintln!("wrote {path}");
    }
    if bad_total.iter().any(|b| *b > 0) {
        std::process::exit(1);
    }
}
