//! Recording histories (real threads, pending calls, loom-shaped), the file
//! format round trip, and the scenario generators.

use std::sync::Mutex;

use kovan_map_models::history::{History, Operation, Outcome, PhasedHistory, ThreadLog};
use kovan_map_models::jsonl::{self, WriteError};
use kovan_map_models::lincheck::{self, Verdict};
use kovan_map_models::scenario::{
    corrupt, corrupt_unwritten, simulate, OpMix, Scenario, ScenarioConfig, SimConfig,
};
use kovan_map_models::spec::{Func, Op, Ret, Spec};
use quickcheck::{Arbitrary, Gen, QuickCheck, TestResult};

/// A correct "concurrent map": the spec behind a lock.
fn locked_exec(map: &Mutex<Spec>, op: &Op) -> Ret {
    map.lock().unwrap().step(op)
}

#[test]
fn real_thread_histories_are_well_formed_and_ordered() {
    let history = History::new();
    let map = Mutex::new(Spec::new());
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let mut rec = history.recorder(t);
            let map = &map;
            s.spawn(move || {
                for i in 0..50 {
                    let op = Op::Insert {
                        key: i % 3,
                        value: (t * 100 + i as u64) as i64,
                    };
                    rec.record(op, || locked_exec(map, &op));
                }
            });
        }
    });
    let ops = history.operations();
    assert_eq!(ops.len(), 200);
    lincheck::validate(&ops).unwrap();
    // One thread's operations never overlap, so the file format can hold it.
    jsonl::to_string(&ops).unwrap();
    assert!(lincheck::check(&ops).unwrap().verdict.is_linearizable());
}

#[test]
fn a_recorded_broken_map_is_caught() {
    // A "map" that stores only the first insert of a key, yet reports the
    // old value each time as if it had stored them all.
    let history = History::new();
    let map = Mutex::new(Spec::new());
    {
        let mut rec = history.recorder(0);
        for i in 0..3 {
            let op = Op::Insert { key: 1, value: i };
            rec.record(op, || {
                let mut m = map.lock().unwrap();
                let old = m.get(1);
                if old.is_none() {
                    m.step(&op);
                }
                old
            });
        }
    }
    let report = lincheck::check(&history.operations()).unwrap();
    let cx = report.verdict.counterexample().expect("caught");
    assert_eq!(cx.ops.len(), 2, "{}", cx.timeline());
}

#[test]
fn an_unfinished_call_is_recorded_pending() {
    let history = History::for_model();
    {
        let mut rec = history.recorder(3);
        rec.record(Op::Insert { key: 1, value: 1 }, || None::<i64>);
        let call = rec.begin(Op::Remove { key: 1 });
        drop(call); // the thread "crashed" mid-call
    }
    let ops = history.operations();
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1].outcome, Outcome::Pending);
    assert_eq!(ops[1].thread, 3);
    let text = jsonl::to_string(&ops).unwrap();
    assert!(text.lines().nth(1).unwrap().contains("\"ret\":null"));
    // And a finished one is not.
    let history = History::new();
    {
        let mut rec = history.recorder(0);
        rec.begin(Op::Get { key: 2 }).finish(None::<i64>);
    }
    assert!(history.operations()[0].ret().is_some());
}

#[test]
#[should_panic(expected = "returns Opt")]
fn recording_a_result_of_the_wrong_shape_panics() {
    let history = History::new();
    let mut rec = history.recorder(0);
    rec.record(Op::Get { key: 1 }, || true);
}

#[test]
fn the_file_format_round_trips() {
    let cfg = SimConfig {
        ops: 2000,
        threads: 6,
        keys: 5,
        pending: 3,
        ..SimConfig::default()
    };
    let ops = simulate(&cfg, 7);
    let text = jsonl::to_string(&ops).unwrap();
    let back = jsonl::parse(&text).unwrap();
    assert_eq!(back.operations, ops);
    assert!(back.scans.is_empty());
}

#[test]
fn the_writer_refuses_what_the_format_cannot_say() {
    let cas = Operation::returned(
        0,
        1,
        2,
        Op::CompareAndSwap {
            key: 1,
            expected: 1,
            value: 2,
        },
        Err::<i64, _>(None),
    );
    assert!(matches!(
        jsonl::to_string(&[cas]),
        Err(WriteError::UnknownOp(0, _))
    ));
    // A loom-shaped history has overlapping operations of one thread.
    let mut h = PhasedHistory::new();
    let mut t = ThreadLog::new();
    t.record(Op::Insert { key: 1, value: 1 }, || None::<i64>);
    t.record(Op::Get { key: 1 }, || Some(1i64));
    h.add_thread(t);
    let err = jsonl::to_string(&h.operations()).unwrap_err();
    assert!(matches!(err, WriteError::Overlap(..)), "{err}");
    assert!(err.to_string().contains("program order"));
}

#[test]
fn phased_histories_put_every_parallel_operation_between_prefix_and_suffix() {
    let mut h = PhasedHistory::new();
    h.prefix(Op::Insert { key: 1, value: 0 }, || None::<i64>);
    for t in 0..3 {
        let mut log = ThreadLog::new();
        for _ in 0..=t {
            log.record(Op::Get { key: 1 }, || Some(0i64));
        }
        h.add_thread(log);
    }
    h.suffix(Op::Remove { key: 1 }, || Some(0i64));
    let ops = h.operations();
    let (pre, post) = (&ops[0], ops.last().unwrap());
    let par = &ops[1..ops.len() - 1];
    for a in par {
        assert!(pre.precedes(a) && a.precedes(post));
        for b in par {
            if a.thread != b.thread {
                assert!(!a.precedes(b), "{a:?} {b:?}");
            }
        }
    }
    lincheck::validate(&ops).unwrap();
    assert!(lincheck::check(&ops).unwrap().verdict.is_linearizable());
}

#[test]
fn simulated_histories_are_linearizable_and_corruption_breaks_them() {
    for (seed, threads, keys, pending, values) in [
        (1, 4, 3, 0, None),
        (2, 8, 1, 3, None),
        (3, 6, 2, 2, Some(3)),
    ] {
        let cfg = SimConfig {
            ops: 3000,
            threads,
            keys,
            pending,
            values,
            ..SimConfig::default()
        };
        let ops = simulate(&cfg, seed);
        assert_eq!(ops.len(), 3000);
        assert_eq!(ops.iter().filter(|o| o.ret().is_none()).count(), pending);
        lincheck::validate(&ops).unwrap();
        assert!(
            lincheck::check(&ops).unwrap().verdict.is_linearizable(),
            "seed {seed}"
        );
        let mut bad = ops.clone();
        let changed = if values.is_none() {
            corrupt(&mut bad, seed)
        } else {
            corrupt_unwritten(&mut bad, seed)
        };
        assert!(changed.is_some());
        let report = lincheck::check(&bad).unwrap();
        let Verdict::NotLinearizable(cx) = report.verdict else {
            panic!("corruption not caught, seed {seed}");
        };
        assert_eq!(cx.culprits.len(), 1);
        assert_eq!(
            cx.ops[cx.culprits[0]],
            bad[changed.unwrap()],
            "{}",
            cx.timeline()
        );
    }
    // All operations of the API.
    let cfg = SimConfig {
        ops: 2000,
        mix: OpMix::All,
        values: Some(4),
        ..SimConfig::default()
    };
    let ops = simulate(&cfg, 9);
    assert!(ops.iter().any(|o| matches!(o.op, Op::Compute { .. })));
    assert!(lincheck::check(&ops).unwrap().verdict.is_linearizable());
}

#[test]
fn scenarios_have_the_configured_shape_and_shrink_smaller() {
    let cfg = ScenarioConfig::default();
    let mut g = Gen::new(20);
    for _ in 0..200 {
        let s = Scenario::generate(&mut g, &cfg);
        assert!(cfg.threads.contains(&s.threads.len()));
        assert!(s
            .threads
            .iter()
            .all(|t| cfg.ops_per_thread.contains(&t.len())));
        assert!(cfg.prefix.contains(&s.prefix.len()) && cfg.suffix.contains(&s.suffix.len()));
        let all = s
            .prefix
            .iter()
            .chain(s.threads.iter().flatten())
            .chain(&s.suffix);
        assert!(all.clone().all(|op| (0..cfg.keys).contains(&op.key())));
        for smaller in s.shrink().take(20) {
            assert!(smaller.len() < s.len() || smaller.threads.len() == s.threads.len());
            assert!(!smaller.threads.is_empty());
        }
    }
    let file_ops = ScenarioConfig {
        mix: OpMix::FileFormat,
        ..ScenarioConfig::shuttle()
    };
    let s = Scenario::generate(&mut g, &file_ops);
    let all: Vec<Op> = s.threads.concat();
    assert!(all.iter().all(|op| matches!(
        op,
        Op::Insert { .. }
            | Op::Get { .. }
            | Op::Remove { .. }
            | Op::InsertIfAbsent { .. }
            | Op::ContainsKey { .. }
    )));
}

#[test]
fn scenarios_run_on_real_threads_check_linearizable_against_a_correct_map() {
    fn prop(s: Scenario) -> TestResult {
        let map = Mutex::new(Spec::new());
        let ops = s.run_threads(&map, locked_exec);
        if ops.len() != s.len() {
            return TestResult::error("lost operations");
        }
        TestResult::from_bool(lincheck::check(&ops).unwrap().verdict.is_linearizable())
    }
    QuickCheck::new()
        .tests(40)
        .quickcheck(prop as fn(Scenario) -> TestResult);
}

#[test]
fn scenarios_on_a_map_that_ignores_writes_are_caught() {
    // Every insert "succeeds" (returns None) but nothing is stored; a
    // scenario with an insert then a read of that key on one thread fails.
    let s = Scenario {
        prefix: vec![],
        threads: vec![
            vec![Op::Insert { key: 0, value: 1 }, Op::Get { key: 0 }],
            vec![Op::Get { key: 1 }],
        ],
        suffix: vec![Op::ContainsKey { key: 0 }],
    };
    let broken = |_: &(), op: &Op| match op {
        Op::ContainsKey { .. } => Ret::Bool(false),
        Op::Compute {
            func: Func::Keep, ..
        } => Ret::Opt(None),
        _ => Ret::Opt(None),
    };
    let ops = s.run_threads(&(), broken);
    assert!(lincheck::check(&ops)
        .unwrap()
        .verdict
        .counterexample()
        .is_some());
}

#[test]
fn recordings_with_scans_round_trip_as_version_2() {
    use kovan_map_models::history::{Recording, Scan};
    let history = History::new();
    let map = Mutex::new(Spec::new());
    {
        let mut rec = history.recorder(0);
        let op = Op::Insert { key: 3, value: 4 };
        rec.record(op, || locked_exec(&map, &op));
        rec.record_len(|| map.lock().unwrap().len());
        rec.record_iter(|| {
            map.lock()
                .unwrap()
                .iter()
                .map(|(k, _)| k)
                .collect::<Vec<_>>()
        });
    }
    let recording = history.recording();
    assert_eq!(
        recording.scans,
        vec![
            Scan::len_returned(0, 2, 3, 1),
            Scan::iter_returned(0, 4, 5, vec![3])
        ]
    );
    let text = jsonl::recording_to_string(&recording).unwrap();
    assert!(text.starts_with("{\"version\":2}\n"), "{text}");
    assert_eq!(jsonl::parse(&text).unwrap(), recording);
    lincheck::assert_recording_ok(&recording);
    // Without scans the writer writes version 1, as before.
    let plain = Recording::from(recording.operations.clone());
    let text = jsonl::recording_to_string(&plain).unwrap();
    assert_eq!(text, jsonl::to_string(&plain.operations).unwrap());
}
