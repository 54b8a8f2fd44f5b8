//! What every model suite shares: deterministic hashers, and the loom and
//! shuttle runners with the settings the maps need.

use core::hash::{BuildHasher, Hasher};

/// A deterministic hasher for the model suites: an integer key is its own
/// hash. loom and shuttle replay schedules, so hashing must not depend on a
/// per-run seed; and with few buckets every key shares a chain.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyIsHash;

/// The hasher of [`KeyIsHash`].
#[derive(Debug)]
pub struct KeyIsHashHasher(u64);

impl Hasher for KeyIsHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

impl BuildHasher for KeyIsHash {
    type Hasher = KeyIsHashHasher;
    fn build_hasher(&self) -> KeyIsHashHasher {
        KeyIsHashHasher(0)
    }
}

/// Every key hashes to 0: one home bucket (or one chain) for all keys.
#[derive(Clone, Copy, Debug, Default)]
pub struct OneHash;

/// The hasher of [`OneHash`]: ignores what it is fed.
#[derive(Debug)]
pub struct OneHashHasher;

impl Hasher for OneHashHasher {
    fn finish(&self) -> u64 {
        0
    }
    fn write(&mut self, _bytes: &[u8]) {}
}

impl BuildHasher for OneHash {
    type Hasher = OneHashHasher;
    fn build_hasher(&self) -> OneHashHasher {
        OneHashHasher
    }
}

/// Runs a loom model with the given preemption bound.
#[cfg(kovan_map_loom)]
pub fn loom_model(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    // loom's default (1,000 branches an execution) is too few for a
    // migration under the model reclaimer, whose every pin and protected
    // load reads the epoch atomic too. A real spin would still exceed this.
    builder.max_branches = 20_000;
    builder.check(f);
}

/// Runs `a` and `b` on two spawned loom threads over the map `make`
/// builds, then `check(map, a's answer, b's answer)` after both joined.
///
/// Each scenario is explored four times: with the threads spawned in both
/// orders, and under both epoch regimes of the model reclaimer
/// ([`Epochs`](kovan_map::model::Epochs)): the epoch advancing at every
/// retire (births run ahead of publications: the use-after-free side) and
/// only at `flush` (loads keep kovan's fence-free fast path: the stale-read
/// side). Spawn order matters because loom 0.7's DPOR tracks only the *last*
/// access to each atomic, so a thread that loads a word and then CASes it
/// hides another thread's earlier load of it, and one order can miss
/// interleavings the other reaches (docs/verification.md). The main thread
/// flushes after `make` (so its slot holds none of the prefix while `a`
/// and `b` run; a closure that wants the nodes it retired freed before the
/// run ends flushes last itself). Every execution
/// starts with a fresh model registry and ends by releasing every slot, so
/// loom's leak check sees exactly the nodes kovan would never free. Model
/// threads get a 1 MiB stack (the migration paths of the hopscotch map are
/// deep).
#[cfg(kovan_map_loom)]
pub fn loom_race<M, RA, RB>(
    bound: usize,
    make: impl Fn() -> M + Copy + Send + Sync + 'static,
    a: fn(&M) -> RA,
    b: fn(&M) -> RB,
    check: fn(&M, RA, RB),
) where
    M: Send + Sync + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    loom_race_bounds(bound, bound, make, a, b, check);
}

/// [`loom_race`] with a preemption bound for each epoch regime: the first
/// for *advance at every retire*, the second for *only at flush*. The
/// second regime keeps loads on kovan's fence-free fast path, so fewer
/// stale readings are pruned and a scenario's space grows much faster with
/// the bound; long scenarios (a migration) give it a smaller one to stay in
/// the test command's budget, and say so.
#[cfg(kovan_map_loom)]
pub fn loom_race_bounds<M, RA, RB>(
    advance_bound: usize,
    flush_bound: usize,
    make: impl Fn() -> M + Copy + Send + Sync + 'static,
    a: fn(&M) -> RA,
    b: fn(&M) -> RB,
    check: fn(&M, RA, RB),
) where
    M: Send + Sync + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    use kovan_map::model::Epochs::{AdvanceAtEveryRetire, OnlyAtFlush};
    loom_race_runs(
        &[
            (AdvanceAtEveryRetire, advance_bound, true),
            (AdvanceAtEveryRetire, advance_bound, false),
            (OnlyAtFlush, flush_bound, true),
            (OnlyAtFlush, flush_bound, false),
        ],
        make,
        a,
        b,
        check,
    );
}

/// [`loom_race`] with the runs listed: each an epoch regime, a preemption
/// bound, and whether thread `a` is spawned first. For a scenario whose
/// full set of runs does not fit the test command's budget; it says which
/// runs it drops and why.
#[cfg(kovan_map_loom)]
pub fn loom_race_runs<M, RA, RB>(
    runs: &[(kovan_map::model::Epochs, usize, bool)],
    make: impl Fn() -> M + Copy + Send + Sync + 'static,
    a: fn(&M) -> RA,
    b: fn(&M) -> RB,
    check: fn(&M, RA, RB),
) where
    M: Send + Sync + 'static,
    RA: Send + 'static,
    RB: Send + 'static,
{
    use kovan_map::model::{model_quiesce, model_reset};
    use loom::sync::Arc;
    fn spawn<R: Send + 'static>(
        f: impl FnOnce() -> R + Send + 'static,
    ) -> loom::thread::JoinHandle<R> {
        loom::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(f)
            .expect("spawn a model thread")
    }
    use std::sync::atomic::{AtomicU64, Ordering};
    static EXECUTIONS: AtomicU64 = AtomicU64::new(0);
    static PRUNED: AtomicU64 = AtomicU64::new(0);
    for &(epochs, bound, a_first) in runs {
        {
            EXECUTIONS.store(0, Ordering::Relaxed);
            PRUNED.store(0, Ordering::Relaxed);
            let started = std::time::Instant::now();
            loom_model(bound, move || {
                EXECUTIONS.fetch_add(1, Ordering::Relaxed);
                model_reset(epochs);
                {
                    let map = Arc::new(make());
                    // The main thread only joins from here on: without
                    // this flush its slot stays published at the epoch
                    // the map was built at and holds every node born
                    // then for the whole race, so a thread that failed to
                    // protect a prefix node it found would go unnoticed.
                    // With no guard of the main thread alive, `flush`
                    // drains its slot and publishes 0 (it also advances
                    // the epoch once, before either thread starts).
                    kovan_map::flush();
                    let (ma, mb) = (Arc::clone(&map), Arc::clone(&map));
                    let (ra, rb) = if a_first {
                        let ta = spawn(move || a(&ma));
                        let tb = spawn(move || b(&mb));
                        (ta.join().unwrap(), tb.join().unwrap())
                    } else {
                        let tb = spawn(move || b(&mb));
                        let ta = spawn(move || a(&ma));
                        (ta.join().unwrap(), tb.join().unwrap())
                    };
                    check(&map, ra, rb);
                }
                PRUNED.fetch_add(model_quiesce(), Ordering::Relaxed);
            });
            eprintln!(
                "loom: {epochs:?}, bound {bound}, {} first: {} executions, {} impossible loads \
                 pruned, {:.1} s",
                if a_first { "a" } else { "b" },
                EXECUTIONS.load(Ordering::Relaxed),
                PRUNED.load(Ordering::Relaxed),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// What the loom suites of `HashMap` (loom_hash_map, loom_pinned) start
/// their scenarios from: the map type, a one-bucket map holding a prefix,
/// and a race over it.
#[cfg(kovan_map_loom)]
pub mod hash_map {
    use super::{loom_race, KeyIsHash};

    /// The map of the scenarios: an integer key is its own hash.
    pub type Map = kovan_map::HashMap<u64, u64, KeyIsHash>;

    /// A one-bucket map holding `prefix`, inserted in order.
    pub fn map_with(prefix: &[(u64, u64)]) -> Map {
        map_of(1, prefix)
    }

    /// A map of floor `floor` (it grows and shrinks from there) holding
    /// `prefix`, inserted in order.
    pub fn map_of(floor: usize, prefix: &[(u64, u64)]) -> Map {
        let map = Map::with_capacity_and_hasher(floor, KeyIsHash);
        for &(key, value) in prefix {
            map.insert(key, value);
        }
        map
    }

    /// The keys one iteration yields, sorted, duplicates kept (a key
    /// yielded twice shows up twice).
    pub fn sorted_keys(m: &Map) -> Vec<u64> {
        let mut keys: Vec<u64> = m.keys().collect();
        keys.sort_unstable();
        keys
    }

    /// [`loom_race`] over a one-bucket map holding `prefix`.
    pub fn race<RA: Send + 'static, RB: Send + 'static>(
        bound: usize,
        prefix: &'static [(u64, u64)],
        a: fn(&Map) -> RA,
        b: fn(&Map) -> RB,
        check: fn(&Map, RA, RB),
    ) {
        loom_race(bound, move || map_with(prefix), a, b, check);
    }
}

/// shuttle's configuration for the maps: kovan's `pin` needs more than
/// shuttle's default 32 KiB coroutine stack in a debug build.
#[cfg(feature = "shuttle")]
pub fn shuttle_config() -> shuttle::Config {
    let mut config = shuttle::Config::new();
    config.stack_size = 1 << 20;
    config
}

/// Runs `f` under `iterations` random schedules, then `iterations` PCT
/// schedules (depth 3).
///
/// Two environment variables steer it (docs/verification.md):
/// `KOVAN_MAP_SHUTTLE_ITERS=N` runs `N` schedules per scheduler instead (a
/// long campaign), and `KOVAN_MAP_SHUTTLE_REPLAY=SCHEDULE` replays the one
/// schedule a failure printed (run the failing test alone, with
/// `--test-threads 1`, so no other test consumes it).
#[cfg(feature = "shuttle")]
pub fn shuttle_explore(iterations: usize, f: impl Fn() + Send + Sync + 'static) {
    use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler};
    // Over the model reclaimer, every execution starts from a fresh registry
    // and its epoch advances at a random half of the retires.
    #[cfg(feature = "shuttle-model")]
    let f = move || {
        kovan_map::model::model_reset(kovan_map::model::Epochs::Random);
        f();
        kovan_map::model::model_quiesce();
    };
    if let Ok(schedule) = std::env::var("KOVAN_MAP_SHUTTLE_REPLAY") {
        let replay = shuttle::Runner::new(
            ReplayScheduler::new_from_encoded(&schedule),
            shuttle_config(),
        );
        replay.run(f);
        eprintln!("shuttle: replayed the schedule of KOVAN_MAP_SHUTTLE_REPLAY");
        return;
    }
    let iterations = shuttle_iterations(iterations);
    let f = std::sync::Arc::new(f);
    let g = std::sync::Arc::clone(&f);
    let random = shuttle::Runner::new(RandomScheduler::new(iterations), shuttle_config());
    let runs = random.run(move || g());
    let pct = shuttle::Runner::new(PctScheduler::new(3, iterations), shuttle_config());
    let more = pct.run(move || f());
    eprintln!("shuttle: {runs} random and {more} PCT schedules");
}

/// `default`, or the schedule count `KOVAN_MAP_SHUTTLE_ITERS` asks for.
///
/// # Panics
///
/// If the variable is set but is not a positive integer (a campaign that
/// silently ran the default count would mislead).
#[cfg(feature = "shuttle")]
pub fn shuttle_iterations(default: usize) -> usize {
    match std::env::var("KOVAN_MAP_SHUTTLE_ITERS") {
        Err(_) => default,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => panic!("KOVAN_MAP_SHUTTLE_ITERS must be a positive integer, not {text:?}"),
        },
    }
}

/// A removal that `len` already counts is seen by a later `get`: `remove`
/// subtracts from the length after its linearization point and before it
/// finishes, so under shuttle (sequentially consistent) a reader that saw
/// the length drop to 0 must then find the key absent. Written once for
/// both maps; catches a reader that takes a removed entry for live (the
/// mutants `hm-reader-ignores-deleted` and `hs-get-ignores-deleted`), which
/// is visible only inside the remover's window.
#[cfg(feature = "shuttle")]
pub fn shuttle_a_removal_that_len_counts_is_seen_by_a_later_get<M>(make: fn() -> M)
where
    M: crate::adapter::MapUnderTest + Send + 'static,
{
    use shuttle::sync::Arc;
    use shuttle::thread;
    shuttle_explore(300, move || {
        let map = Arc::new(make());
        map.insert(1, 1);
        let remover = {
            let map = Arc::clone(&map);
            thread::spawn(move || map.remove(1))
        };
        for _ in 0..3 {
            let counted = map.len() == 0;
            let seen = map.get(1);
            if counted {
                assert_eq!(seen, None, "len said the removal took effect");
            }
        }
        assert_eq!(remover.join().unwrap(), Some(1));
        assert_eq!(map.get(1), None);
    });
}

/// Generates `scenarios` random scenarios (shuttle-sized: up to 4 threads
/// of 8 operations of every kind on 3 keys) and runs each under
/// [`shuttle_explore`] with `schedules` iterations per scheduler, on a map
/// from `make` (then `after(&map)` may check what the scenario must not
/// touch). Every history is checked by the linearizability checker.
#[cfg(feature = "shuttle")]
pub fn shuttle_generated_scenarios<M>(
    scenarios: usize,
    schedules: usize,
    make: fn() -> M,
    after: fn(&M),
) where
    M: crate::adapter::MapUnderTest + Send + 'static,
{
    use crate::adapter::exec;
    use crate::history::History;
    use crate::scenario::{Scenario, ScenarioConfig};
    use shuttle::sync::Arc;
    use shuttle::thread;

    let mut g = quickcheck::Gen::new(16);
    for _ in 0..scenarios {
        let scenario = Arc::new(Scenario::generate(&mut g, &ScenarioConfig::shuttle()));
        shuttle_explore(schedules, move || {
            let map = Arc::new(make());
            let history = Arc::new(History::for_model());
            let mut rec = history.recorder(0);
            for op in &scenario.prefix {
                rec.record(*op, || exec(&*map, op));
            }
            drop(rec);
            let handles: Vec<_> = scenario
                .threads
                .iter()
                .enumerate()
                .map(|(i, ops)| {
                    let (map, history, ops) = (Arc::clone(&map), Arc::clone(&history), ops.clone());
                    thread::spawn(move || {
                        let mut rec = history.recorder(i as u64 + 1);
                        for op in &ops {
                            rec.record(*op, || exec(&*map, op));
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.join().expect("a scenario thread panicked");
            }
            let mut rec = history.recorder(0);
            for op in &scenario.suffix {
                rec.record(*op, || exec(&*map, op));
            }
            drop(rec);
            crate::lincheck::assert_linearizable(&history.operations());
            after(&map);
        });
    }
}
