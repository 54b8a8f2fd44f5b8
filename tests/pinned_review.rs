//! Adversarial review of the borrowing API (`HashMap::pin`,
//! `HopscotchMap::pin` and their `Pinned` handles) on real threads: handles
//! that keep many references for a while (answers of `get`, `insert`,
//! `remove`, `get_or_insert_with`, `compute` and `iter`) across the
//! handle's own further writes, nested handles, `flush` calls with the
//! handle alive and closures that flush, while other threads remove and
//! replace the same keys and grow and shrink (HashMap) or resize
//! (HopscotchMap) the table. Every reference is checked when the handle is
//! about to drop: a value whose destructor already ran is caught by its
//! `alive` mark (and, under AddressSanitizer, by the read of its freed
//! heap body: `bash scripts/asan.sh --test pinned_review`, which runs this
//! file beside the stress and reclamation tests). The churn tests run for
//! a wall-clock budget of about a second each; what they check is
//! behaviour (every reference intact, exact answers), never timing. One
//! test orders a race with barriers instead: a handle's own new node,
//! removed and flushed by another thread before the handle reads it, the
//! same every run, so a missing `cover_own` fails it on real kovan.

mod common;

use common::{Identity, Rng};
use kovan_map::{HashMap, HopscotchMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

const ALIVE: u64 = 0xA11C_E5A1_1CE5_A11C;
const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// A value that knows its key and writer, and says when it was dropped.
struct Tracked {
    key: u64,
    stamp: u64,
    alive: AtomicU64,
    /// A heap body: a read of it after the value's drop is a use after free
    /// that AddressSanitizer reports.
    body: Box<[u64; 4]>,
}

impl Tracked {
    fn new(key: u64, stamp: u64) -> Self {
        Self {
            key,
            stamp,
            alive: AtomicU64::new(ALIVE),
            body: Box::new([key ^ stamp; 4]),
        }
    }

    /// Panics unless the value is intact and belongs to `key`.
    fn check(&self, key: u64, what: &str) {
        assert_eq!(
            self.alive.load(Ordering::Relaxed),
            ALIVE,
            "{what}: the value of key {key} was dropped while a handle held it"
        );
        assert_eq!(self.key, key, "{what}: a value of another key");
        assert_eq!(*self.body, [self.key ^ self.stamp; 4], "{what}: body");
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.alive.store(DEAD, Ordering::Relaxed);
        self.body.fill(0);
    }
}

/// The maps under review, of `Tracked` values, keys their own hashes
/// (hopscotch neighbourhoods of 4: bursts of consecutive keys displace,
/// overflow and resize often).
type TrackedHashMap = HashMap<u64, Tracked, Identity>;
type TrackedHopscotch = HopscotchMap<u64, Tracked, Identity, 4>;

/// Shared keys every thread writes (few: they collide and churn).
const SHARED: u64 = 24;
/// Keys of a growth burst: inserted, then removed, by the churner.
const BURST: std::ops::Range<u64> = 1_000..1_400;
/// Keys each holder owns: only that thread writes them.
const OWNED: u64 = 16;
fn owned(thread: u64, i: u64) -> u64 {
    10_000 + thread * 100 + i
}

const BUDGET: Duration = Duration::from_millis(1200);

/// One scenario body for either map: `$map` is the map expression's type.
/// Holders keep references under one handle for a round of operations,
/// then check them all; the churner replaces and removes the shared keys
/// and inserts and removes a burst of keys (growth and shrink).
macro_rules! churn_scenario {
    ($map:expr) => {{
        let map = Arc::new($map);
        let stop = Arc::new(AtomicBool::new(false));
        let stamps = Arc::new(AtomicU64::new(1));
        for k in 0..SHARED {
            map.pin().insert(k, Tracked::new(k, 0));
        }
        let churner = {
            let (map, stop, stamps) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&stamps));
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
                let mut rounds = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let k = rng.below(SHARED);
                        let stamp = stamps.fetch_add(1, Ordering::Relaxed);
                        match rng.below(4) {
                            // Short handles: what they retire is freed soon.
                            0 => {
                                map.pin().remove(&k);
                            }
                            1 => {
                                map.pin().compute(k, |_| Some(Tracked::new(k, stamp)));
                            }
                            _ => {
                                map.pin().insert(k, Tracked::new(k, stamp));
                            }
                        }
                    }
                    if rounds % 4 == 0 {
                        // A growth burst and its removal: the table doubles
                        // (several times) and halves again under the handles.
                        for k in BURST {
                            map.pin().insert(k, Tracked::new(k, 0));
                        }
                        for k in BURST {
                            map.pin().remove(&k);
                        }
                    }
                    if rounds % 8 == 0 {
                        kovan_map::flush();
                    }
                    rounds += 1;
                }
                kovan_map::flush();
                rounds
            })
        };
        let holders: Vec<_> = (0..2u64)
            .map(|t| {
                let (map, stop, stamps) =
                    (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&stamps));
                thread::spawn(move || {
                    let mut rng = Rng(0x2545_F491_4F6C_DD1D ^ (t + 1));
                    // What this thread last wrote under each owned key.
                    let mut mine: Vec<Option<u64>> = vec![None; OWNED as usize];
                    let mut rounds = 0u64;
                    let mut held_total = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        let p = map.pin();
                        let mut held: Vec<(u64, &Tracked, &'static str)> = Vec::new();
                        for step in 0..48 {
                            let k = rng.below(SHARED);
                            let stamp = stamps.fetch_add(1, Ordering::Relaxed);
                            match rng.below(9) {
                                0 => {
                                    if let Some(v) = p.get(&k) {
                                        held.push((k, v, "get"));
                                    }
                                }
                                1 => {
                                    if let Some(v) = p.insert(k, Tracked::new(k, stamp)) {
                                        held.push((k, v, "insert's old value"));
                                    }
                                }
                                2 => {
                                    if let Some(v) = p.remove(&k) {
                                        held.push((k, v, "remove's value"));
                                    }
                                }
                                3 => {
                                    // A closure that flushes: the new node is
                                    // born above the slot's publication.
                                    let v = p.get_or_insert_with(k, || {
                                        if step % 2 == 0 {
                                            kovan_map::flush();
                                        }
                                        Tracked::new(k, stamp)
                                    });
                                    held.push((k, v, "get_or_insert_with"));
                                }
                                4 => {
                                    let v = p.compute(k, |old| {
                                        if step % 3 == 0 {
                                            kovan_map::flush();
                                        }
                                        match old {
                                            Some(old) if old.stamp % 5 == 0 => None,
                                            _ => Some(Tracked::new(k, stamp)),
                                        }
                                    });
                                    if let Some(v) = v {
                                        assert_eq!(
                                            v.stamp, stamp,
                                            "compute answered another value"
                                        );
                                        held.push((k, v, "compute"));
                                    }
                                }
                                5 => {
                                    for (key, v) in p.iter().take(8) {
                                        held.push((*key, v, "iter"));
                                    }
                                }
                                6 => {
                                    // A nested handle comes and goes, and the
                                    // thread flushes with the outer one alive.
                                    {
                                        let q = map.pin();
                                        if let Some(v) = q.get(&k) {
                                            v.check(k, "nested get");
                                        }
                                    }
                                    kovan_map::flush();
                                }
                                _ => {
                                    // An owned key: only this thread writes
                                    // it, so the answers are exact.
                                    let i = rng.below(OWNED);
                                    let ok = owned(t, i);
                                    let old = p.insert(ok, Tracked::new(ok, stamp));
                                    assert_eq!(
                                        old.map(|v| v.stamp),
                                        mine[i as usize],
                                        "insert answered a value that was not the current one"
                                    );
                                    if let Some(v) = old {
                                        held.push((ok, v, "owned insert's old value"));
                                    }
                                    mine[i as usize] = Some(stamp);
                                    if rng.below(3) == 0 {
                                        let gone = p.remove(&ok);
                                        assert_eq!(gone.map(|v| v.stamp), Some(stamp));
                                        held.push((ok, gone.unwrap(), "owned remove"));
                                        mine[i as usize] = None;
                                    }
                                }
                            }
                        }
                        // Let the churner retire what the handle holds.
                        thread::yield_now();
                        for &(k, v, what) in &held {
                            v.check(k, what);
                        }
                        held_total += held.len();
                        drop(held);
                        drop(p);
                        rounds += 1;
                    }
                    kovan_map::flush();
                    (rounds, held_total)
                })
            })
            .collect();
        let started = Instant::now();
        while started.elapsed() < BUDGET {
            thread::sleep(Duration::from_millis(20));
        }
        stop.store(true, Ordering::Relaxed);
        let mut checked = 0;
        for holder in holders {
            let (rounds, held) = holder.join().expect("a holder failed");
            assert!(rounds > 0);
            checked += held;
        }
        let churned = churner.join().expect("the churner failed");
        assert!(checked > 0 && churned > 0);
        // At rest: every entry is intact and under its own key.
        let p = map.pin();
        for (k, v) in p.iter() {
            v.check(*k, "at rest");
        }
        for k in BURST {
            assert!(p.get(&k).is_none(), "burst key {k} survived its removal");
        }
        eprintln!("pinned churn: {checked} references checked, {churned} churn rounds");
    }};
}

#[test]
fn hash_map_pinned_references_survive_churn_growth_and_flushes() {
    // Would catch: an insert or remove answering a value that was not the
    // current one (owned keys: a `Pinned::insert` that answers `None` after
    // replacing fails here at once); a borrowed answer (old value of
    // insert, removed value, own new node, an iterated entry) that kovan
    // frees while the handle lives whenever the handle holds it long enough
    // for another thread to remove it and flush (a guard that does not
    // protect what it found, a flush or nested pin that ends the section).
    // Not in practice a missing `cover_own`: its window closes at the
    // holder's next protected load (which republishes the slot); the
    // handshake test below and loom_pinned_review catch those.
    churn_scenario!(TrackedHashMap::with_capacity_and_hasher(2, Identity));
}

#[test]
fn hopscotch_pinned_references_survive_churn_resizes_and_flushes() {
    // As the HashMap test, with neighbourhoods of 4 (so bursts of
    // consecutive keys displace, overflow and resize often). Would catch,
    // beyond the above: an entry freed with a table a resize retired while
    // a handle's reference into it lives.
    churn_scenario!(TrackedHopscotch::with_capacity_and_hasher(8, Identity));
}

/// One iteration scenario for either map: stable keys never removed,
/// transient keys inserted and removed by two churners (the table grows and
/// shrinks); each pass of `Pinned::iter` must yield every stable key exactly
/// once, no key twice, and references that stay intact while the churn
/// goes on.
macro_rules! iteration_scenario {
    ($map:expr) => {{
        const STABLE: u64 = 48;
        let map = Arc::new($map);
        let stop = Arc::new(AtomicBool::new(false));
        for k in 0..STABLE {
            map.pin().insert(k * 7, Tracked::new(k * 7, 1));
        }
        let churners: Vec<_> = (0..2u64)
            .map(|t| {
                let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
                thread::spawn(move || {
                    let base = 100_000 + t * 10_000;
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let n = 50 + (rounds % 4) * 150;
                        for k in base..base + n {
                            map.pin().insert(k, Tracked::new(k, rounds));
                        }
                        // Replace some stable keys too (their old values
                        // are retired while handles may hold them).
                        let s = (rounds % STABLE) * 7;
                        map.pin().insert(s, Tracked::new(s, rounds + 2));
                        for k in base..base + n {
                            map.pin().remove(&k);
                        }
                        rounds += 1;
                    }
                    kovan_map::flush();
                    rounds
                })
            })
            .collect();
        let started = Instant::now();
        let mut passes = 0u64;
        while started.elapsed() < BUDGET {
            let p = map.pin();
            let seen: Vec<(&u64, &Tracked)> = p.iter().collect();
            let mut keys: Vec<u64> = seen.iter().map(|(k, _)| **k).collect();
            keys.sort_unstable();
            let n = keys.len();
            keys.dedup();
            assert_eq!(keys.len(), n, "a key yielded twice in one pass");
            for k in 0..STABLE {
                assert!(
                    keys.binary_search(&(k * 7)).is_ok(),
                    "stable key {} missed by a pass",
                    k * 7
                );
            }
            // Give the churners time to retire what this pass holds.
            thread::sleep(Duration::from_millis(2));
            for (k, v) in &seen {
                v.check(**k, "iter");
            }
            drop(seen);
            drop(p);
            passes += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for churner in churners {
            assert!(churner.join().expect("a churner failed") > 0);
        }
        assert!(passes > 0);
        assert_eq!(map.len(), STABLE as usize);
        eprintln!("pinned iteration: {passes} passes");
    }};
}

#[test]
fn hash_map_pinned_iteration_across_growth_and_shrink_is_exact_for_stable_keys() {
    // Would catch: a Pinned pass that misses or repeats a key across a
    // doubling or halving (a batch read from a dummy that moved, an
    // abandoned pass's entries kept), and iterated references freed while
    // the handle lives.
    iteration_scenario!(TrackedHashMap::with_capacity_and_hasher(1, Identity));
}

#[test]
fn hopscotch_pinned_iteration_across_resizes_is_exact_for_stable_keys() {
    // Would catch: a Pinned pass that yields a key twice across a resize
    // (the cursor filter dropped) or misses one (a frozen home's partial
    // collection kept), and references freed while the handle lives.
    iteration_scenario!(TrackedHopscotch::with_capacity_and_hasher(64, Identity));
}

/// Fails to compile if `$t` implements `$tr` (two candidate impls make the
/// call ambiguous exactly then): a stable-Rust negative trait check.
macro_rules! assert_not_impl {
    ($t:ty, $tr:path) => {
        const _: fn() = || {
            trait AmbiguousIfImpl<A> {
                fn some_item() {}
            }
            impl<T: ?Sized> AmbiguousIfImpl<()> for T {}
            #[allow(dead_code)]
            struct Invalid;
            impl<T: ?Sized + $tr> AmbiguousIfImpl<Invalid> for T {}
            let _ = <$t as AmbiguousIfImpl<_>>::some_item;
        };
    };
}

// A handle and its iterator belong to the thread whose guard they hold: a
// `Pinned` shared with (`Sync`) or sent to (`Send`) a scoped thread would
// let that thread read nodes its own slot does not protect. Would catch: a
// guard or handle made `Sync`, an iterator made `Send`. (These fail the
// build of this file, not a test run.)
type HmPinned = kovan_map::hash_map::Pinned<'static, u64, u64, std::hash::RandomState>;
type HmIter = kovan_map::hash_map::PinnedIter<'static, u64, u64>;
type HsPinned = kovan_map::hopscotch::Pinned<'static, u64, u64, std::hash::RandomState>;
type HsIter = kovan_map::hopscotch::PinnedIter<'static, u64, u64, std::hash::RandomState>;
assert_not_impl!(HmPinned, Send);
assert_not_impl!(HmPinned, Sync);
assert_not_impl!(HmIter, Send);
assert_not_impl!(HmIter, Sync);
assert_not_impl!(HsPinned, Send);
assert_not_impl!(HsPinned, Sync);
assert_not_impl!(HsIter, Send);
assert_not_impl!(HsIter, Sync);
assert_not_impl!(kovan_map::Guard, Sync);

#[test]
fn a_single_thread_keeps_every_answer_of_one_handle_valid_across_its_own_writes() {
    // One handle, no other thread: its own later writes remove and replace
    // the nodes its earlier answers point into (128 retires advance the
    // epoch, and a flush in the middle). Would catch: a reference into this
    // thread's own retired node freed by its own scan (its slot not
    // covering the node's birth), which needs no race at all.
    let map = TrackedHashMap::with_capacity_and_hasher(1, Identity);
    let p = map.pin();
    let mut held = Vec::new();
    for round in 0..4u64 {
        for k in 0..100u64 {
            let stamp = round * 1000 + k;
            let v = p.get_or_insert_with(k, || Tracked::new(k, stamp));
            held.push((k, v));
            if let Some(old) = p.insert(k, Tracked::new(k, stamp + 1)) {
                held.push((k, old));
            }
            if let Some(v) = p.compute(k, |_| Some(Tracked::new(k, stamp + 2))) {
                held.push((k, v));
            }
            if k % 3 == 0 {
                held.push((k, p.remove(&k).expect("just computed")));
            }
        }
        kovan_map::flush();
    }
    for (k, v) in p.iter() {
        held.push((*k, v));
    }
    for &(k, v) in &held {
        v.check(k, "own writes");
    }
    assert!(held.len() > 1000);
}

/// A handshake race, the same every run: the holder thread publishes a node
/// of its own through `write` (whose closure flushes first, so kovan stamps
/// the node with an epoch above the one the holder's slot published) and
/// keeps the reference it answers; only then does the other thread remove
/// the key (retiring that node) and `flush` with no guard alive, which
/// frees every node of its batch that no slot's published epoch covers;
/// then the holder checks its reference. With `cover_own` the holder's slot
/// covers the node's birth and holds it; without it the node is freed and
/// the check fails (its destructor ran). No timing is involved: barriers
/// order the steps.
macro_rules! own_node_handshake {
    ($map:expr, $prefix:expr, |$p:ident| $write:expr) => {{
        let map = Arc::new($map);
        for &k in $prefix {
            map.pin().insert(k, Tracked::new(k, 1));
        }
        let steps = Arc::new(std::sync::Barrier::new(2));
        let remover = {
            let (map, steps) = (Arc::clone(&map), Arc::clone(&steps));
            thread::spawn(move || {
                // Pin once, so the thread has a slot, then step aside.
                drop(map.pin());
                steps.wait(); // the holder published its node
                let removed = map.pin().remove(&7).is_some();
                kovan_map::flush();
                steps.wait(); // the holder may check now
                removed
            })
        };
        {
            let $p = map.pin();
            let v: &Tracked = $write;
            steps.wait();
            steps.wait();
            v.check(
                7,
                "own new node after another thread removed it and flushed",
            );
        }
        assert!(remover.join().expect("the remover failed"));
        kovan_map::flush();
    }};
}

fn flushing_new(k: u64) -> Tracked {
    kovan_map::flush();
    Tracked::new(k, 2)
}

#[test]
fn a_handles_own_new_node_survives_another_threads_removal_and_flush() {
    // Would catch, deterministically on real kovan: `get_or_insert_with` or
    // `compute` (both branches) answering a reference into its own node
    // without `cover_own` before the publishing CAS (HashMap: mutants
    // hm-pinned-claim-no-cover, hm-pinned-compute-no-cover and the compute
    // absent-key twin; HopscotchMap: the compute replacement twin).
    own_node_handshake!(
        TrackedHashMap::with_capacity_and_hasher(4, Identity),
        &[] as &[u64],
        |p| { p.get_or_insert_with(7, || flushing_new(7)) }
    );
    own_node_handshake!(
        TrackedHashMap::with_capacity_and_hasher(4, Identity),
        &[] as &[u64],
        |p| { p.compute(7, |_| Some(flushing_new(7))).unwrap() }
    );
    own_node_handshake!(
        TrackedHashMap::with_capacity_and_hasher(4, Identity),
        &[7u64],
        |p| { p.compute(7, |_| Some(flushing_new(7))).unwrap() }
    );
    own_node_handshake!(
        TrackedHopscotch::with_capacity_and_hasher(8, Identity),
        &[] as &[u64],
        |p| { p.get_or_insert_with(7, || flushing_new(7)) }
    );
    own_node_handshake!(
        TrackedHopscotch::with_capacity_and_hasher(8, Identity),
        &[] as &[u64],
        |p| { p.compute(7, |_| Some(flushing_new(7))).unwrap() }
    );
    own_node_handshake!(
        TrackedHopscotch::with_capacity_and_hasher(8, Identity),
        &[7u64],
        |p| { p.compute(7, |_| Some(flushing_new(7))).unwrap() }
    );
}
