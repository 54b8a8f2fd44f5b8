//! Real threads on both maps, every history recorded and checked for
//! linearizability against the sequential spec, and the `len` and `iter`
//! calls recorded in it checked against their weaker promises (exact when
//! no write is in flight, never negative; every key present throughout
//! yielded once, none twice). Each test is written once, generic over the
//! map, and run for `HashMap` and `HopscotchMap`.
//!
//! `cargo test --release -p kovan-map-models --test stress_maps`
#![cfg(not(any(kovan_map_loom, feature = "shuttle")))]

use foldhash::fast::FixedState;
use kovan_map::{HashMap, HopscotchMap};
use kovan_map_models::adapter::{exec, MapUnderTest};
use kovan_map_models::history::History;
use kovan_map_models::lincheck::{self, Verdict};
use kovan_map_models::scenario::{arbitrary_op, OpMix, Scenario, ScenarioConfig};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};
use std::time::Instant;

/// A chaining map whose 2 buckets make every chain shared by several keys.
fn crowded_chains() -> HashMap<i64, i64, FixedState> {
    HashMap::with_capacity_and_hasher(2, FixedState::default())
}

/// A hopscotch map at its smallest, neighbourhoods of 4, so that keys
/// displace each other, overflow and resize.
fn crowded_hopscotch() -> HopscotchMap<i64, i64, FixedState, 4> {
    HopscotchMap::with_capacity_and_hasher(4, FixedState::default())
}

/// More threads than this machine's 2 cores, so the OS preempts them in
/// the middle of operations too.
fn threads() -> usize {
    4
}

/// A shuttle-sized scenario (up to 4 threads of 8 operations on 3 keys).
#[derive(Clone, Debug)]
struct Sized(Scenario);

impl Arbitrary for Sized {
    fn arbitrary(g: &mut Gen) -> Self {
        Sized(Scenario::generate(g, &ScenarioConfig::shuttle()))
    }
    fn shrink(&self) -> Box<dyn Iterator<Item = Self>> {
        Box::new(self.0.shrink().map(Sized))
    }
}

/// Runs one scenario on real threads and checks its history.
fn scenario_is_linearizable<M: MapUnderTest>(map: M, scenario: Sized) -> TestResult {
    let ops = scenario.0.run_threads(&map, |m, op| exec(m, op));
    match lincheck::check(&ops)
        .expect("a recorded history is well formed")
        .verdict
    {
        Verdict::Linearizable => TestResult::passed(),
        Verdict::NotLinearizable(cx) => {
            TestResult::error(format!("not linearizable:\n{}", cx.timeline()))
        }
        Verdict::Undecided { keys, limit } => {
            TestResult::error(format!("undecided ({limit:?}) on keys {keys:?}"))
        }
    }
}

/// 300 generated scenarios; quickcheck shrinks a failing one.
fn quickcheck_scenarios(property: fn(Sized) -> TestResult) {
    QuickCheck::new().tests(300).quickcheck(property);
}

/// Every thread runs 20,000 random operations of every kind on 6 hot keys,
/// one in 64 of them a `len` or an `iter`; the whole history is checked,
/// scans included.
fn a_long_history_on_hot_keys_is_linearizable<M: MapUnderTest>(map: M) {
    let history = History::new();
    let n = threads();
    std::thread::scope(|s| {
        for t in 0..n {
            let mut rec = history.recorder(t as u64);
            let map = &map;
            s.spawn(move || {
                let mut g = Gen::new(64);
                for i in 0..20_000u32 {
                    match i % 128 {
                        0 => {
                            rec.record_len(|| map.len());
                        }
                        64 => {
                            rec.record_iter(|| map.iter_keys());
                        }
                        _ => {
                            let op = arbitrary_op(&mut g, 6, 1_000, OpMix::All);
                            rec.record(op, || exec(map, &op));
                        }
                    }
                }
            });
        }
    });
    let recording = history.recording();
    assert!(recording.scans.len() >= 4 * 300, "scans recorded");
    if let Err(v) = lincheck::weak::check_scans(&recording.operations, &recording.scans) {
        panic!("a scan broke its promise:\n{}", v.timeline());
    }
    let ops = recording.operations;
    let started = Instant::now();
    let report = lincheck::check(&ops).expect("a recorded history is well formed");
    eprintln!(
        "{} operations by {n} threads checked in {:.3} s: {:?}",
        ops.len(),
        started.elapsed().as_secs_f64(),
        report.stats
    );
    match report.verdict {
        Verdict::Linearizable => {}
        Verdict::NotLinearizable(cx) => panic!("not linearizable:\n{}", cx.timeline()),
        Verdict::Undecided { keys, limit } => panic!("undecided ({limit:?}) on keys {keys:?}"),
    }
}

/// Two writers insert and remove keys 0..64 (keys 0..16 are inserted
/// first and never removed), while two scanners call `len` and `iter`
/// (on a map small enough to resize under them); every scan is checked.
/// Would catch: an iteration that skips or repeats a key across a resize or
/// a chain being unlinked, a `len` left wrong after the writers stop.
fn scans_keep_their_promises<M: MapUnderTest>(map: M) {
    let history = History::new();
    {
        let mut rec = history.recorder(0);
        for k in 0..16 {
            let op = kovan_map_models::spec::Op::Insert { key: k, value: k };
            rec.record(op, || exec(&map, &op));
        }
    }
    std::thread::scope(|s| {
        for t in 1..=2u64 {
            let mut rec = history.recorder(t);
            let map = &map;
            s.spawn(move || {
                let mut rng = kovan_map_models::scenario::Rng::new(t);
                for i in 0..3_000i64 {
                    let key = 16 + rng.below(48) as i64;
                    let op = if rng.below(2) == 0 {
                        kovan_map_models::spec::Op::Insert { key, value: i }
                    } else {
                        kovan_map_models::spec::Op::Remove { key }
                    };
                    rec.record(op, || exec(map, &op));
                }
            });
        }
        for t in 3..=4u64 {
            let mut rec = history.recorder(t);
            let map = &map;
            s.spawn(move || {
                for _ in 0..200 {
                    rec.record_iter(|| map.iter_keys());
                    rec.record_len(|| map.len());
                }
            });
        }
    });
    // Quiescent now: len and iter must be exact.
    {
        let mut rec = history.recorder(5);
        rec.record_len(|| map.len());
        rec.record_iter(|| map.iter_keys());
    }
    let recording = history.recording();
    assert_eq!(recording.scans.len(), 802);
    lincheck::assert_recording_ok(&recording);
}

/// Every thread runs 30,000 operations in cycles of 1,500: in the first
/// half of a cycle three in four are inserts of keys drawn from 4..100, in
/// the second half three in four are removals of them, and the rest are
/// operations of every kind on 4 hot keys (0..4), a `len` or an `iter`.
/// So the map, built with `floor` buckets, fills to about 100 keys and
/// drains again twenty times: the table doubles to 128 and halves back to
/// near its floor each cycle, with every operation in flight across the
/// resizes. Each thread notes the capacity after each of its operations;
/// the test asserts one of them saw the table grow and shrink at least
/// eight times each. The whole history is checked,
/// scans included. Would catch: a key lost, doubled or resurrected while a
/// dummy is claimed or linked, a search started from a stale size that
/// misses its key, a shrink that loses a node, a `len` or `iter` broken by
/// a resize.
fn a_long_history_across_resizes_is_linearizable(floor: usize) {
    use kovan_map_models::scenario::Rng;
    use kovan_map_models::spec::Op;
    let map: HashMap<i64, i64, FixedState> =
        HashMap::with_capacity_and_hasher(floor, FixedState::default());
    let history = History::new();
    let n = threads();
    let samples: Vec<Vec<usize>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..n)
            .map(|t| {
                let mut rec = history.recorder(t as u64);
                let map = &map;
                s.spawn(move || {
                    let mut g = Gen::new(64);
                    let mut rng = Rng::new(0x5EED + t as u64);
                    // The capacities this thread saw, each change once.
                    let mut samples = vec![map.capacity()];
                    for i in 0..30_000u32 {
                        let filling = i % 1_500 < 750;
                        match (i % 97, rng.below(4)) {
                            (0, _) => {
                                rec.record_len(|| map.len());
                            }
                            (48, _) => {
                                rec.record_iter(|| map.iter_keys());
                            }
                            (_, 0) => {
                                let op = arbitrary_op(&mut g, 4, 1_000, OpMix::All);
                                rec.record(op, || exec(map, &op));
                            }
                            _ => {
                                let key = 4 + rng.below(96) as i64;
                                let op = if filling {
                                    Op::Insert {
                                        key,
                                        value: i as i64,
                                    }
                                } else {
                                    Op::Remove { key }
                                };
                                rec.record(op, || exec(map, &op));
                            }
                        }
                        let c = map.capacity();
                        if samples.last() != Some(&c) {
                            samples.push(c);
                        }
                    }
                    samples
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a worker panicked"))
            .collect()
    });
    // What one thread saw (the one that saw the most changes).
    let samples = samples
        .into_iter()
        .max_by_key(Vec::len)
        .expect("at least one thread");
    let grows = samples.windows(2).filter(|w| w[1] > w[0]).count();
    let shrinks = samples.windows(2).filter(|w| w[1] < w[0]).count();
    let max = samples.iter().copied().max().unwrap_or(0);
    eprintln!(
        "floor {floor}: capacity changed {} times ({grows} up, {shrinks} down), at most {max}",
        samples.len() - 1
    );
    assert!(
        max >= 64,
        "the table never grew past 64 buckets: {samples:?}"
    );
    assert!(
        grows >= 8 && shrinks >= 8,
        "too few resizes seen: {samples:?}"
    );
    {
        let mut rec = history.recorder(n as u64);
        rec.record_len(|| map.len());
        rec.record_iter(|| map.iter_keys());
    }
    let recording = history.recording();
    let started = Instant::now();
    lincheck::assert_recording_ok(&recording);
    eprintln!(
        "{} operations and {} scans checked in {:.3} s",
        recording.operations.len(),
        recording.scans.len(),
        started.elapsed().as_secs_f64()
    );
}

mod hash_map {
    use super::*;

    #[test]
    fn a_long_history_across_resizes_is_linearizable_from_one_bucket() {
        super::a_long_history_across_resizes_is_linearizable(1);
    }

    #[test]
    fn a_long_history_across_resizes_is_linearizable_from_sixteen_buckets() {
        super::a_long_history_across_resizes_is_linearizable(16);
    }

    #[test]
    fn len_and_iter_keep_their_promises() {
        super::scans_keep_their_promises(crowded_chains());
    }

    #[test]
    fn generated_scenarios_on_real_threads_are_linearizable() {
        fn property(scenario: Sized) -> TestResult {
            scenario_is_linearizable(crowded_chains(), scenario)
        }
        quickcheck_scenarios(property);
    }

    #[test]
    fn a_long_history_on_hot_keys_is_linearizable() {
        super::a_long_history_on_hot_keys_is_linearizable(crowded_chains());
    }
}

mod hopscotch_map {
    use super::*;

    #[test]
    fn len_and_iter_keep_their_promises() {
        super::scans_keep_their_promises(crowded_hopscotch());
    }

    #[test]
    fn generated_scenarios_on_real_threads_are_linearizable() {
        fn property(scenario: Sized) -> TestResult {
            scenario_is_linearizable(crowded_hopscotch(), scenario)
        }
        quickcheck_scenarios(property);
    }

    #[test]
    fn a_long_history_on_hot_keys_is_linearizable() {
        super::a_long_history_on_hot_keys_is_linearizable(crowded_hopscotch());
    }
}
