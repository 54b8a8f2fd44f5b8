//! The sequential specification: each operation's documented behaviour,
//! and the two facts the checker relies on (observers, read-only
//! operations), checked over many cells.

use kovan_map_models::spec::{self, Func, Op, Pred, Ret, RetKind, Spec, Value};
use quickcheck::{QuickCheck, TestResult};

/// Cells around the operation's constants, plus a few others.
fn cells(op: &Op, ret: &Ret) -> Vec<Option<Value>> {
    let mut consts = Vec::new();
    op.constants(&mut consts);
    if let Ret::Opt(Some(v)) | Ret::Value(v) | Ret::Swap(Ok(v)) | Ret::Swap(Err(Some(v))) = *ret {
        consts.push(v);
    }
    let mut out = vec![None];
    for c in consts.into_iter().chain(-3..6) {
        for d in -3..=3 {
            out.push(Some(c + d));
        }
    }
    out
}

#[test]
fn an_observer_never_changes_a_cell_where_it_returns_that() {
    fn prop(op: Op, cell: Option<i8>) -> TestResult {
        // Results the operation can return (from some cell), and a few more.
        let start = cell.map(Value::from);
        let (ret, _) = spec::apply(start, &op);
        for c in cells(&op, &ret) {
            let (r, after) = spec::apply(c, &op);
            if r == ret && spec::observes(&op, &ret) && after != c {
                return TestResult::error(format!("{op} -> {ret} changed {c:?} to {after:?}"));
            }
        }
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(5000)
        .quickcheck(prop as fn(Op, Option<i8>) -> TestResult);
}

#[test]
fn observers_are_recognised_where_they_should_be() {
    // Not vacuous: these outcomes are observers, these are not.
    let k = 1;
    assert!(spec::observes(&Op::Get { key: k }, &Ret::Opt(Some(3))));
    assert!(spec::observes(
        &Op::Insert { key: k, value: 3 },
        &Ret::Opt(Some(3))
    ));
    assert!(!spec::observes(
        &Op::Insert { key: k, value: 3 },
        &Ret::Opt(Some(4))
    ));
    assert!(!spec::observes(
        &Op::Insert { key: k, value: 3 },
        &Ret::Opt(None)
    ));
    assert!(spec::observes(
        &Op::InsertIfAbsent { key: k, value: 3 },
        &Ret::Opt(Some(1))
    ));
    assert!(!spec::observes(
        &Op::InsertIfAbsent { key: k, value: 3 },
        &Ret::Opt(None)
    ));
    assert!(spec::observes(&Op::Remove { key: k }, &Ret::Opt(None)));
    assert!(!spec::observes(&Op::Remove { key: k }, &Ret::Opt(Some(1))));
    assert!(!spec::observes(
        &Op::GetOrInsert { key: k, value: 3 },
        &Ret::Value(3)
    ));
    assert!(spec::observes(
        &Op::GetOrInsert { key: k, value: 3 },
        &Ret::Value(4)
    ));
    let set = Op::Compute {
        key: k,
        func: Func::Set(3),
    };
    assert!(!spec::observes(&set, &Ret::Opt(Some(3))));
}

#[test]
fn read_only_operations_change_no_cell() {
    fn prop(op: Op) -> TestResult {
        if !op.is_read_only() {
            return TestResult::discard();
        }
        for c in cells(&op, &Ret::Opt(None)) {
            if spec::apply(c, &op).1 != c {
                return TestResult::failed();
            }
        }
        TestResult::passed()
    }
    QuickCheck::new()
        .tests(300)
        .max_tests(100_000)
        .quickcheck(prop as fn(Op) -> TestResult);
}

#[test]
fn every_operation_returns_its_declared_shape() {
    fn prop(op: Op, cell: Option<i8>) -> bool {
        let (ret, _) = spec::apply(cell.map(Value::from), &op);
        ret.kind() == op.ret_kind()
    }
    QuickCheck::new()
        .tests(2000)
        .quickcheck(prop as fn(Op, Option<i8>) -> bool);
}

#[test]
fn operations_return_what_the_map_api_returns() {
    let k = 7;
    let a = |cell: Option<Value>, op: Op| spec::apply(cell, &op);
    assert_eq!(a(None, Op::Get { key: k }), (Ret::Opt(None), None));
    assert_eq!(
        a(Some(1), Op::ContainsKey { key: k }),
        (Ret::Bool(true), Some(1))
    );
    assert_eq!(
        a(Some(1), Op::Insert { key: k, value: 2 }),
        (Ret::Opt(Some(1)), Some(2))
    );
    assert_eq!(
        a(None, Op::InsertIfAbsent { key: k, value: 2 }),
        (Ret::Opt(None), Some(2))
    );
    assert_eq!(
        a(Some(1), Op::InsertIfAbsent { key: k, value: 2 }),
        (Ret::Opt(Some(1)), Some(1))
    );
    assert_eq!(
        a(None, Op::GetOrInsert { key: k, value: 2 }),
        (Ret::Value(2), Some(2))
    );
    assert_eq!(
        a(Some(1), Op::GetOrInsertWith { key: k, value: 2 }),
        (Ret::Value(1), Some(1))
    );
    assert_eq!(a(Some(1), Op::Remove { key: k }), (Ret::Opt(Some(1)), None));
    assert_eq!(a(None, Op::ForceRemove { key: k }), (Ret::Opt(None), None));
    assert_eq!(
        a(
            Some(4),
            Op::RemoveIf {
                key: k,
                pred: Pred::Even
            }
        ),
        (Ret::Opt(Some(4)), None)
    );
    assert_eq!(
        a(
            Some(3),
            Op::RemoveIf {
                key: k,
                pred: Pred::Even
            }
        ),
        (Ret::Opt(None), Some(3))
    );
    assert_eq!(
        a(
            Some(3),
            Op::CompareAndRemove {
                key: k,
                expected: 3
            }
        ),
        (Ret::Opt(Some(3)), None)
    );
    assert_eq!(
        a(
            Some(3),
            Op::CompareAndRemove {
                key: k,
                expected: 4
            }
        ),
        (Ret::Opt(None), Some(3))
    );
    let ri = |pred| Op::ReplaceIf {
        key: k,
        value: 9,
        pred,
    };
    assert_eq!(a(Some(3), ri(Pred::Lt(5))), (Ret::Swap(Ok(3)), Some(9)));
    assert_eq!(
        a(Some(3), ri(Pred::Gt(5))),
        (Ret::Swap(Err(Some(3))), Some(3))
    );
    assert_eq!(a(None, ri(Pred::Always)), (Ret::Swap(Err(None)), None));
    let cas = |e| Op::CompareAndSwap {
        key: k,
        expected: e,
        value: 9,
    };
    assert_eq!(a(Some(3), cas(3)), (Ret::Swap(Ok(3)), Some(9)));
    assert_eq!(a(Some(3), cas(4)), (Ret::Swap(Err(Some(3))), Some(3)));
    assert_eq!(a(None, cas(3)), (Ret::Swap(Err(None)), None));
    let compute = |func| Op::Compute { key: k, func };
    assert_eq!(
        a(Some(3), compute(Func::Add(2))),
        (Ret::Opt(Some(5)), Some(5))
    );
    assert_eq!(a(None, compute(Func::Add(2))), (Ret::Opt(None), None));
    assert_eq!(
        a(None, compute(Func::AddOrInsert { add: 1, init: 1 })),
        (Ret::Opt(Some(1)), Some(1))
    );
    assert_eq!(a(Some(3), compute(Func::Remove)), (Ret::Opt(None), None));
    assert_eq!(
        a(Some(3), compute(Func::InsertIfAbsent(1))),
        (Ret::Opt(Some(3)), Some(3))
    );
    assert_eq!(
        a(Some(3), compute(Func::RemoveIf(Pred::Odd))),
        (Ret::Opt(None), None)
    );
    assert_eq!(
        a(Some(3), compute(Func::Keep)),
        (Ret::Opt(Some(3)), Some(3))
    );
}

#[test]
fn the_whole_map_spec_applies_key_by_key() {
    fn prop(ops: Vec<Op>) -> bool {
        let mut spec = Spec::new();
        let mut cells: std::collections::HashMap<i64, Option<Value>> = Default::default();
        for op in &ops {
            let cell = cells.get(&op.key()).copied().flatten();
            let (want, after) = spec::apply(cell, op);
            let (pure_ret, next) = spec.apply(op);
            let got = spec.step(op);
            if got != want || pure_ret != want || next != spec {
                return false;
            }
            cells.insert(op.key(), after);
        }
        cells.iter().all(|(k, c)| spec.get(*k) == *c)
            && spec.len() == cells.values().filter(|c| c.is_some()).count()
    }
    QuickCheck::new()
        .tests(500)
        .quickcheck(prop as fn(Vec<Op>) -> bool);
}

#[test]
fn ret_converts_from_the_api_types() {
    assert_eq!(Ret::from(Some(1i64)), Ret::Opt(Some(1)));
    assert_eq!(Ret::from(true), Ret::Bool(true));
    assert_eq!(Ret::from(5i64), Ret::Value(5));
    assert_eq!(Ret::from(Err::<i64, _>(None)), Ret::Swap(Err(None)));
    assert_eq!(Op::Get { key: 1 }.ret_kind(), RetKind::Opt);
}
