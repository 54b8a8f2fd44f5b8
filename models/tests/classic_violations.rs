//! Classic violations, each rejected with a minimal counterexample, and
//! classic non-violations accepted. Each history also carries noise (other
//! keys, harmless reads) that the counterexample must leave out.

use kovan_map_models::history::{Operation, PhasedHistory, ThreadLog};
use kovan_map_models::lincheck::{self, Counterexample, Verdict};
use kovan_map_models::spec::{Func, Op, Ret};

fn ret(t: u64, call: u64, ret: u64, op: Op, r: impl Into<Ret>) -> Operation {
    Operation::returned(t, call, ret, op, r)
}

fn get(key: i64) -> Op {
    Op::Get { key }
}
fn insert(key: i64, value: i64) -> Op {
    Op::Insert { key, value }
}

/// Noise on key 99 and a harmless read on the key under test.
fn with_noise(mut ops: Vec<Operation>) -> Vec<Operation> {
    ops.push(ret(7, 1, 2, insert(99, 1), None));
    ops.push(ret(7, 3, 9, get(99), Some(1)));
    ops
}

fn counterexample(ops: &[Operation]) -> Counterexample {
    let report = lincheck::check(ops).expect("valid history");
    match report.verdict {
        Verdict::NotLinearizable(cx) => *cx,
        other => panic!("expected a violation, got {other:?}"),
    }
}

/// The counterexample holds exactly these operations (as recorded).
fn assert_ops(cx: &Counterexample, expected: &[Operation]) {
    let mut got = cx.ops.clone();
    let mut want = expected.to_vec();
    got.sort_by_key(|o| (o.thread, o.call));
    want.sort_by_key(|o| (o.thread, o.call));
    assert_eq!(got, want, "counterexample:\n{}", cx.timeline());
}

#[test]
fn stale_read_after_a_completed_insert_is_rejected() {
    let w = ret(0, 1, 2, insert(1, 5), None);
    let r = ret(1, 3, 4, get(1), None);
    let harmless = ret(2, 1, 3, get(1), None); // may read before the insert
    let cx = counterexample(&with_noise(vec![w.clone(), r.clone(), harmless]));
    assert_eq!(cx.key, 1);
    assert_ops(&cx, &[w, r.clone()]);
    assert_eq!(cx.culprits.len(), 1);
    assert_eq!(cx.ops[cx.culprits[0]], r);
}

#[test]
fn two_insert_if_absent_winners_are_rejected() {
    let a = ret(0, 1, 4, Op::InsertIfAbsent { key: 2, value: 10 }, None);
    let b = ret(1, 2, 5, Op::InsertIfAbsent { key: 2, value: 20 }, None);
    let reader = ret(2, 6, 7, get(2), Some(20));
    let cx = counterexample(&with_noise(vec![a.clone(), b.clone(), reader]));
    assert_ops(&cx, &[a, b]);
}

#[test]
fn a_value_never_written_is_rejected() {
    // Nothing ever writes 7: the read alone is the whole story.
    let w = ret(0, 1, 2, insert(3, 5), None);
    let r = ret(1, 3, 4, get(3), Some(7));
    let cx = counterexample(&with_noise(vec![
        w,
        r.clone(),
        ret(2, 5, 6, get(3), Some(5)),
    ]));
    assert_ops(&cx, &[r]);
    assert!(cx
        .timeline()
        .contains("no operation on this key ever writes 7"));
}

#[test]
fn a_value_written_only_later_is_rejected() {
    // 7 is written, but only after the read returned.
    let r = ret(1, 3, 4, get(3), Some(7));
    let w = ret(0, 5, 6, insert(3, 7), None);
    let cx = counterexample(&with_noise(vec![r.clone(), w]));
    assert_ops(&cx, &[r]);
}

#[test]
fn readers_that_see_two_concurrent_writes_in_opposite_orders_are_rejected() {
    // Two blind writes (compute(Set) returns the value it set, so the
    // writes' own results do not order them) overlap everything; one
    // reader sees 1 then 2, the other 2 then 1.
    let w1 = ret(
        0,
        1,
        100,
        Op::Compute {
            key: 4,
            func: Func::Set(1),
        },
        Some(1),
    );
    let w2 = ret(
        1,
        1,
        100,
        Op::Compute {
            key: 4,
            func: Func::Set(2),
        },
        Some(2),
    );
    let a1 = ret(2, 10, 20, get(4), Some(1));
    let a2 = ret(2, 30, 40, get(4), Some(2));
    let b1 = ret(3, 10, 20, get(4), Some(2));
    let b2 = ret(3, 30, 40, get(4), Some(1));
    let ops = vec![
        w1.clone(),
        w2.clone(),
        a1.clone(),
        a2.clone(),
        b1.clone(),
        b2.clone(),
    ];
    // Each reader alone is fine.
    assert!(lincheck::check(&ops[..4])
        .unwrap()
        .verdict
        .is_linearizable());
    let mut only_b = vec![w1.clone(), w2.clone(), b1.clone(), b2.clone()];
    only_b.push(ret(9, 1, 2, get(4), None));
    assert!(lincheck::check(&only_b).unwrap().verdict.is_linearizable());
    // Together they are not, and every one of the six is needed. The
    // writes had not returned when the last read did, so they are shown
    // pending (took effect at some point, or not).
    let cx = counterexample(&with_noise(ops.clone()));
    let mut expected = ops.clone();
    expected[0] = Operation::pending(0, 1, w1.op);
    expected[1] = Operation::pending(1, 1, w2.op);
    assert_ops(&cx, &expected);
    assert_eq!(cx.ops[cx.culprits[0]], b2);
}

#[test]
fn stale_read_after_remove_is_explained_by_the_remove() {
    // Not "a value never written" (dropping the insert would say that):
    // whatever the key held, a completed remove took 7 out, and a later
    // get still saw 7.
    let w = ret(0, 1, 10, insert(5, 7), None);
    let r1 = ret(1, 20, 30, get(5), Some(7));
    let rm = ret(0, 40, 50, Op::Remove { key: 5 }, Some(7));
    let r2 = ret(1, 60, 70, get(5), Some(7));
    let cx = counterexample(&with_noise(vec![w, r1, rm.clone(), r2.clone()]));
    assert_ops(&cx, &[rm, r2]);
    assert!(cx.any_initial);
    assert!(cx.timeline().contains("whatever the key held"));
}

#[test]
fn lost_update_under_loom_shape_is_rejected() {
    // Two threads add 1 to a counter that starts at 0; both see 1 after
    // their own update, and the suffix reads 1: one update was lost.
    let add = Op::Compute {
        key: 0,
        func: Func::AddOrInsert { add: 1, init: 1 },
    };
    let mut h = PhasedHistory::new();
    h.prefix(insert(0, 0), || None::<i64>);
    for _ in 0..2 {
        let mut t = ThreadLog::new();
        t.record(add, || Some(1i64));
        h.add_thread(t);
    }
    h.suffix(get(0), || Some(1i64));
    let ops = h.operations();
    let cx = counterexample(&ops);
    // The two updates alone: from an absent key, both cannot see 1.
    assert_eq!(cx.ops.len(), 2, "{}", cx.timeline());
    assert!(cx.ops.iter().all(|o| o.op == add), "{}", cx.timeline());
}

#[test]
fn concurrent_updates_in_either_order_are_accepted() {
    // Overlapping insert and reads that see either value: linearizable.
    let ops = vec![
        ret(0, 1, 10, insert(1, 1), None),
        ret(1, 2, 9, insert(1, 2), Some(1)),
        ret(2, 3, 4, get(1), Some(1)),
        ret(2, 5, 6, get(1), Some(2)),
        ret(3, 11, 12, Op::Remove { key: 1 }, Some(2)),
    ];
    assert!(lincheck::check(&ops).unwrap().verdict.is_linearizable());
}

#[test]
fn a_pending_insert_may_take_effect_or_not() {
    let pending = Operation::pending(0, 1, insert(1, 9));
    let seen = ret(1, 5, 6, get(1), Some(9));
    let unseen = ret(2, 2, 3, get(1), None);
    assert!(
        lincheck::check(&[pending.clone(), seen.clone(), unseen.clone()])
            .unwrap()
            .verdict
            .is_linearizable()
    );
    // But it takes effect at most once: a remove of 9, then 9 again.
    let rm = ret(1, 7, 8, Op::Remove { key: 1 }, Some(9));
    let again = ret(1, 9, 10, get(1), Some(9));
    let cx = counterexample(&[pending, seen, unseen, rm, again]);
    assert!(cx.ops.len() <= 4, "{}", cx.timeline());
}

#[test]
fn nested_identical_operations_are_not_reordered_wrongly() {
    // y = insert(1,2)->None inside x = insert(1,2)->None: y first, then
    // the remove, then x is the only order; a twin rule that forced x
    // before y (ignoring that y returns first) would reject this.
    let x = ret(0, 1, 10, insert(1, 2), None);
    let y = ret(1, 2, 3, insert(1, 2), None);
    let z = ret(2, 4, 5, Op::Remove { key: 1 }, Some(2));
    let w = ret(2, 11, 12, get(1), Some(2));
    assert!(lincheck::check(&[x, y, z, w])
        .unwrap()
        .verdict
        .is_linearizable());
}

#[test]
fn the_timeline_and_svg_name_the_culprit() {
    let w = ret(0, 1, 2, insert(1, 5), None);
    let r = ret(1, 3, 4, get(1), None);
    let cx = counterexample(&[w, r]);
    let text = cx.timeline();
    assert!(text.contains("key 1: not linearizable"), "{text}");
    assert!(text.contains("! get(1) -> None"), "{text}");
    assert!(text.contains("t0") && text.contains("t1"), "{text}");
    let svg = cx.svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert!(svg.contains("get(1) -&gt; None"));
}

// Hard inputs (issue 9): histories that are easy to decide but once made
// the search give up. Each asserts a verdict under a limit, not a speed.

/// One `get` spans the whole history while one thread inserts 20,000 times
/// in sequence; the get returns the last value. Linearizable, and the memo
/// must stay linear in the history: the set of linearized operations is
/// kept relative to a moving frontier, so the long get costs O(1) words
/// per configuration (it cost O(n), 36 MB at 20,000 operations).
#[test]
fn one_long_get_over_many_inserts_is_decided_in_linear_memory() {
    let n = 20_000u64;
    let mut ops: Vec<Operation> = (0..n)
        .map(|i| {
            ret(
                0,
                2 * i + 1,
                2 * i + 2,
                insert(0, i as i64),
                i.checked_sub(1).map(|p| p as i64),
            )
        })
        .collect();
    ops.push(ret(1, 0, 2 * n + 1, get(0), Some(n as i64 - 1)));
    let limits = lincheck::Limits {
        max_memory: 8 << 20,
        ..lincheck::Limits::default()
    };
    let report = lincheck::check_with(&ops, &limits).unwrap();
    assert!(
        report.verdict.is_linearizable(),
        "{:?}; peak memo {} bytes",
        report.verdict,
        report.stats.peak_memo_bytes
    );
}

/// Thirty pending `insert_if_absent` that can only ever insert before the
/// two completed ones, which both claim to have inserted: not linearizable.
/// Once the key holds a value a pending `insert_if_absent` changes nothing,
/// so "it never took effect" is as good and the search does not branch on
/// it (it branched on every subset: 2^30).
#[test]
fn pending_operations_that_change_nothing_do_not_make_the_search_exponential() {
    let k = 30u64;
    let mut ops: Vec<Operation> = (0..k)
        .map(|i| {
            Operation::pending(
                10 + i,
                i + 1,
                Op::InsertIfAbsent {
                    key: 0,
                    value: 1000 + i as i64,
                },
            )
        })
        .collect();
    ops.push(ret(
        0,
        k + 1,
        k + 2,
        Op::InsertIfAbsent { key: 0, value: 100 },
        None,
    ));
    ops.push(ret(
        1,
        k + 3,
        k + 4,
        Op::InsertIfAbsent { key: 0, value: 200 },
        None,
    ));
    let limits = lincheck::Limits {
        timeout: Some(std::time::Duration::from_secs(30)),
        ..lincheck::Limits::default()
    };
    let report = lincheck::check_with(&ops, &limits).unwrap();
    assert!(
        matches!(report.verdict, Verdict::NotLinearizable(_)),
        "{:?}",
        report.verdict
    );
}

// The weaker promises of len and iter (lincheck::weak): each violation is
// found with the operations that show it, and what the promise allows is
// accepted.

mod scans {
    use super::*;
    use kovan_map_models::history::Scan;
    use kovan_map_models::lincheck::weak::{check_scans, ScanFault};

    fn remove(key: i64) -> Op {
        Op::Remove { key }
    }

    #[test]
    fn len_with_no_write_in_flight_must_count_every_present_key() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let b = ret(1, 1, 3, insert(2, 20), None);
        let noise = ret(1, 4, 5, get(1), Some(10));
        let len = Scan::len_returned(2, 6, 7, 1);
        let v = check_scans(&[a.clone(), b.clone(), noise], &[len]).unwrap_err();
        assert_eq!(v.fault, ScanFault::LenTooSmall { at_least: 2 });
        // Two keys certainly present, one operation each: dropping either
        // leaves a count of 1 allowed.
        assert_eq!(v.ops.len(), 2, "{}", v.timeline());
        assert!(v.ops.iter().all(|o| o.op.key() != 1 || o.ret().is_some()));
    }

    #[test]
    fn len_with_no_write_in_flight_must_not_count_absent_keys() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let gone = ret(0, 3, 4, remove(1), Some(10));
        let len = Scan::len_returned(1, 5, 6, 1);
        let v = check_scans(&[a, gone], &[len]).unwrap_err();
        assert_eq!(v.fault, ScanFault::LenTooLarge { at_most: 0 });
    }

    #[test]
    fn len_may_lag_while_a_write_is_in_flight_and_is_never_negative() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let b = ret(1, 3, 9, insert(2, 20), None); // in flight during len
        let lagging = Scan::len_returned(2, 4, 5, 0);
        assert!(check_scans(&[a.clone(), b.clone()], &[lagging]).is_ok());
        let negative = Scan::len_returned(2, 4, 5, -1);
        let v = check_scans(&[a, b], &[negative]).unwrap_err();
        assert_eq!(v.fault, ScanFault::NegativeLen);
    }

    #[test]
    fn len_counts_a_key_whose_last_writes_overlap_as_either() {
        // insert and remove of key 1 overlap, both before len: either order.
        let a = ret(0, 1, 5, insert(1, 10), None);
        let b = ret(1, 2, 4, remove(1), None);
        for n in [0, 1] {
            assert!(
                check_scans(&[a.clone(), b.clone()], &[Scan::len_returned(2, 6, 7, n)]).is_ok()
            );
        }
    }

    #[test]
    fn iter_must_yield_a_key_present_throughout() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let b = ret(0, 3, 4, insert(2, 20), None);
        let other = ret(1, 5, 20, insert(3, 30), None); // may or may not appear
        let it = Scan::iter_returned(2, 6, 10, vec![1]);
        let v = check_scans(&[a, b.clone(), other], &[it]).unwrap_err();
        assert_eq!(v.fault, ScanFault::IterMissed { key: 2 });
        assert_eq!(v.ops, vec![b]);
    }

    #[test]
    fn iter_may_miss_a_key_removed_meanwhile() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let gone = ret(1, 7, 8, remove(1), Some(10));
        assert!(check_scans(&[a.clone(), gone], &[Scan::iter_returned(2, 6, 10, vec![])]).is_ok());
        // A pending remove called before the iteration may take effect in it.
        let pending = Operation::pending(1, 3, remove(1));
        assert!(check_scans(&[a, pending], &[Scan::iter_returned(2, 6, 10, vec![])]).is_ok());
    }

    #[test]
    fn iter_never_yields_a_key_twice() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let it = Scan::iter_returned(2, 6, 10, vec![1, 3, 1]);
        let v = check_scans(&[a], &[it]).unwrap_err();
        assert_eq!(v.fault, ScanFault::IterTwice { key: 1 });
        assert!(
            v.timeline().contains("yielded key 1 twice"),
            "{}",
            v.timeline()
        );
    }

    #[test]
    fn pending_scans_promise_nothing() {
        let a = ret(0, 1, 2, insert(1, 10), None);
        let scans = [
            Scan::pending(1, 3, kovan_map_models::history::ScanOp::Iter),
            Scan::pending(2, 3, kovan_map_models::history::ScanOp::Len),
        ];
        assert!(check_scans(&[a], &scans).is_ok());
    }
}

/// The SVG is as wide as its widest text, writes every call and return
/// time on its axis, and never marks the culprit as linearized too.
/// (Checked by reading the SVG's geometry; see
/// docs/linearizability-checker.md for why not by rendering it.)
#[test]
fn the_svg_holds_its_text_and_shows_the_times() {
    // A counterexample with a long header (start cut) and several rows.
    let a = ret(0, 10, 20, insert(5, 7), None);
    let b = ret(1, 12, 30, Op::Remove { key: 5 }, Some(7));
    let c = ret(2, 31, 40, get(5), Some(7));
    let d = ret(3, 11, 45, Op::ContainsKey { key: 5 }, true);
    let cx = counterexample(&[a, b, c, d]);
    let svg = cx.svg();
    let attr = |tag: &str, name: &str| -> f64 {
        let at = tag
            .find(&format!(" {name}=\""))
            .unwrap_or_else(|| panic!("{name} in {tag}"));
        let rest = &tag[at + name.len() + 3..];
        rest[..rest.find('"').unwrap()].parse().unwrap()
    };
    let root = &svg[..svg.find('>').unwrap()];
    let (width, height) = (attr(root, "width"), attr(root, "height"));
    // Monospace 12 px: an advance of at most 0.6 em = 7.2 px a character.
    let mut times = Vec::new();
    for piece in svg.split("<text").skip(1) {
        let tag = &piece[..piece.find('>').unwrap()];
        let body = &piece[piece.find('>').unwrap() + 1..piece.find("</text>").unwrap()];
        let chars = body
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
            .chars()
            .count() as f64;
        let (x, y) = (attr(tag, "x"), attr(tag, "y"));
        if tag.contains("rotate(") {
            // Written downwards from (x, y).
            assert!(y + chars * 7.2 <= height, "time {body} runs off the bottom");
            times.push(body.parse::<u64>().unwrap());
        } else {
            assert!(
                x + chars * 7.2 <= width,
                "text {body:?} is clipped at {width} px"
            );
            assert!(y <= height, "text {body:?} below the picture");
        }
        assert!(
            !(body.contains("! ") && body.contains('#')),
            "a culprit marked linearized: {body}"
        );
    }
    for o in &cx.ops {
        assert!(times.contains(&o.call), "call {} not on the axis", o.call);
        if let Some(r) = o.ret() {
            assert!(times.contains(&r), "return {r} not on the axis");
        }
    }
}
