//! Shrinking a failing key's sub-history to a small counterexample.
//!
//! Each step keeps the sub-history failing, and keeps it a faithful
//! explanation: every operation shown is from the history, with its real
//! times and result, and the full history fails because the shown one does.
//!
//! 0. **Values never written.** If some result needs the key to hold a
//!    value that no operation of the history writes, that one operation is
//!    the counterexample (it fails alone for the same reason).
//! 1. **End cut.** Order the returns (by time, ties broken by call and
//!    thread); `cut(H, k)` keeps the operations called by the `k`-th return
//!    `T`, and makes pending those not among the first `k` returns. If `H`
//!    is linearizable so is `cut(H, k)` (restrict a linearization: the
//!    operations cut off all come after every operation that returned by
//!    `T`, and a pending operation may take effect or not), so failing is
//!    monotone in `k`, and a binary search finds the least failing `k`. Its
//!    operation is the *culprit*: no linearization survives its return.
//! 2. **Start cut.** `start(H, c)` drops the operations that returned
//!    before `c`; of those still running at `c` it drops the observers and
//!    makes the others *optional* (each took effect before the window, or
//!    inside it returning what it returned). If `H` is linearizable from
//!    some cell, `start(H, c)` is too, from the cell its linearization
//!    reaches after the last dropped operation (an optional operation
//!    linearized before that is left out). So if `start(H, c)` fails from
//!    *every* cell, `H` fails. The latest such `c` is found by trying
//!    windows 1, 2, 4, ... start points back from the culprit, then binary
//!    search; the counterexample says "whatever the key held before". Every cell is covered by a finite set of
//!    representatives (absent, each constant mentioned, and the values
//!    beside each constant, both parities); this is exact unless a
//!    `compute` does arithmetic, in which case this step is skipped.
//! 3. **Drop operations** (delta debugging: all at once, then halves, ...,
//!    then one at a time) while what is left still fails; any operation may
//!    go (writes, pending ones, those made pending by the end cut, the
//!    culprit), with one rule: an operation that is the only writer of a
//!    value another operation of the window reads goes only with that
//!    reader (else the rest could fail only as "a value never written",
//!    which is not why the history fails). The result is 1-minimal: no
//!    single operation can be dropped under the same rule. The culprit is
//!    then found again, by the end cut of what is left.
//!
//! Every search here runs under the shrinking deadline (never past the
//! check's timeout); a search that hits it counts as "does not fail", so a
//! step is then simply not taken, and the counterexample is marked not
//! minimal.

use std::time::Instant;

use super::search::{self, Budget};
use super::{linearizable_from, Counterexample, Limits};
use std::collections::HashSet;

use crate::history::{Operation, Outcome};
use crate::spec::{self, Key, Op, Value};

/// A sub-history with some operations optional (see `search::Part::new`).
#[derive(Clone, Default)]
struct Window {
    ops: Vec<Operation>,
    optional: Vec<bool>,
}

impl Window {
    fn plain(ops: Vec<Operation>) -> Window {
        let optional = vec![false; ops.len()];
        Window { ops, optional }
    }

    fn select(&self, keep: &[usize]) -> Window {
        Window {
            ops: keep.iter().map(|&i| self.ops[i].clone()).collect(),
            optional: keep.iter().map(|&i| self.optional[i]).collect(),
        }
    }
}

/// Shrinks the failing sub-history `ops` of `key`. `reached`: the failing
/// search linearized every operation that returned before this time in
/// some configuration (so the culprit returns at or after it).
pub(crate) fn shrink(
    key: Key,
    ops: &[Operation],
    limits: &Limits,
    reached: u64,
    deadline: Instant,
) -> Counterexample {
    let budget = Budget {
        deadline: Some(deadline),
        max_memory: limits.max_memory,
        reject_unwritten: true,
    };
    let expired = || Instant::now() >= deadline;
    // Set when a limit stopped a step early: the result may not be minimal.
    let mut cut_short = false;
    let empty = [None];

    // 0. A result that needs a value no operation writes explains itself.
    if let Some(&(i, v)) = search::unwritten_reads(ops).0.first() {
        return Counterexample {
            key,
            any_initial: false,
            ops: vec![ops[i].clone()],
            culprits: vec![0],
            optional: Vec::new(),
            longest_prefix: Vec::new(),
            key_operations: ops.len(),
            note: Some(format!(
                "it needs the key to hold {v}, and no operation on this key ever writes {v}"
            )),
            minimal: true,
        };
    }
    let fails_within = |w: &Window, inits: &[Option<Value>], budget: &Budget| {
        linearizable_from(&w.ops, Some(&w.optional), inits, budget) == Some(false)
    };
    let fails = |w: &Window, inits: &[Option<Value>]| fails_within(w, inits, &budget);

    // 1. End cut: the first completion after which the history fails.
    // Completions are ordered by (ret, call, thread), so exactly one
    // operation, the culprit, completes at the cut.
    let mut events: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].ret().is_some()).collect();
    events.sort_by_key(|&i| (ops[i].ret(), ops[i].call, ops[i].thread));
    // Each failing try costs a whole failing search, each passing one is
    // usually quick, so start at the hint and grow upwards, then bisect.
    let cut_fails = |k: usize| fails(&Window::plain(end_cut(ops, &events, k)), &empty);
    let last = events.len().saturating_sub(1);
    let mut lo = events.partition_point(|&i| ops[i].ret().is_some_and(|r| r < reached));
    let mut hi = last;
    let mut step = 1;
    let mut k = lo.min(last);
    while k < last {
        if expired() {
            cut_short = true;
            break;
        }
        if cut_fails(k) {
            hi = k;
            break;
        }
        lo = k + 1;
        k = (k + step).min(last);
        step *= 2;
    }
    lo = lo.min(hi);
    while lo < hi {
        if expired() {
            cut_short = true;
            break;
        }
        let mid = (lo + hi) / 2;
        if cut_fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut h = Window::plain(end_cut(ops, &events, hi));
    if expired() || !fails(&h, &empty) {
        // Cannot fail to fail for a failing history, unless a limit was hit.
        if hi != last {
            h = Window::plain(ops.to_vec());
        }
        cut_short = true;
    }
    let culprit = events.get(hi).map(|&i| (ops[i].thread, ops[i].call));

    // 2. Start cut, from every cell.
    let mut any_initial = false;
    let shifts = h
        .ops
        .iter()
        .any(|o| matches!(o.op, Op::Compute { func, .. } if func.shifts_values()));
    let culprit_call = culprit.map(|(_, call)| call);
    if let (false, Some(limit), false) = (shifts, culprit_call, expired()) {
        // Start points, latest first. Windows grow 1, 2, 4, ... start
        // points back from the culprit: small windows are cheap to check
        // from every cell, and the latest failing start is what we want.
        // Each try gets a slice of the time left; one that runs out ends
        // the growing (larger windows would cost more).
        let mut calls: Vec<u64> = h
            .ops
            .iter()
            .map(|o| o.call)
            .filter(|&c| c <= limit)
            .collect();
        calls.sort_unstable_by(|a, b| b.cmp(a));
        calls.dedup();
        let try_start = |c: u64| -> Option<bool> {
            let cut = start_cut(&h, c);
            let reps = representatives(&cut.ops);
            let now = Instant::now();
            let left = budget
                .deadline
                .map_or(limits.shrink_time, |d| d.saturating_duration_since(now));
            let slice = Budget {
                deadline: Some(now + left / 4),
                ..budget
            };
            linearizable_from(&cut.ops, Some(&cut.optional), &reps, &slice).map(|l| !l)
        };
        let mut prev = None; // the largest index known not to fail
        let mut found = None;
        let mut w = 0usize;
        while w < calls.len() {
            match try_start(calls[w]) {
                Some(true) => {
                    found = Some(w);
                    break;
                }
                Some(false) => prev = Some(w),
                None => {
                    cut_short = true;
                    break;
                }
            }
            let next = if w == 0 { 1 } else { w * 2 + 1 };
            w = if next >= calls.len() && w + 1 < calls.len() {
                calls.len() - 1
            } else {
                next
            };
        }
        if let Some(mut hi) = found {
            // Tighten: the latest start in (prev, hi] that still fails.
            let mut lo = prev.map_or(0, |p| p + 1);
            while lo < hi && !expired() {
                let mid = (lo + hi) / 2;
                if try_start(calls[mid]) == Some(true) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            let c = calls[hi];
            if h.ops.iter().any(|o| o.call < c) {
                h = start_cut(&h, c);
                any_initial = true;
            }
        }
    }

    // 3. Drop operations, any of them (writes, pending ones, those made
    // pending by the cut, the culprit too), while what is left still
    // fails: delta debugging, all at once first, then halves, quarters,
    // ... down to one at a time. It ends when no single operation can be
    // dropped (1-minimal), unless the time runs out first.
    let mut order: Vec<usize> = (0..h.ops.len()).collect();
    order.sort_by_key(|&i| (h.ops[i].call, h.ops[i].thread));
    h = h.select(&order);
    let cells = |w: &Window| -> Vec<Option<Value>> {
        if any_initial {
            representatives(&w.ops)
        } else {
            empty.to_vec()
        }
    };
    // A trial must still explain itself: an operation that writes a value
    // which another operation of the trial needs the key to hold is dropped
    // only with every such reader (or with another writer of it left).
    // Dropping the writer alone would leave a sub-history that fails only
    // as "a value never written", which is not why the history fails.
    // (Values the window already needs without a writer, because the
    // start cut dropped it, are covered by "whatever the key held".)
    let unexplained = |w: &Window| -> HashSet<Value> {
        let written: HashSet<Value> = w
            .ops
            .iter()
            .filter_map(|o| spec::writes_value(&o.op))
            .collect();
        w.ops
            .iter()
            .filter_map(|o| spec::needs_value(&o.op, &o.result()?))
            .filter(|v| !written.contains(v))
            .collect()
    };
    let base = unexplained(&h);
    let explains = |w: &Window| unexplained(w).is_subset(&base);
    let mut keep: Vec<usize> = (0..h.ops.len()).collect();
    let mut n = 1usize; // chunks: all at once first, then halves, ...
    loop {
        if keep.len() <= 1 {
            break;
        }
        if expired() {
            cut_short = true;
            break;
        }
        let parts = n.min(keep.len());
        let chunk = keep.len().div_ceil(parts);
        let mut reduced = false;
        for (j, _) in keep.chunks(chunk).enumerate() {
            if expired() {
                break;
            }
            let (from, to) = (j * chunk, ((j + 1) * chunk).min(keep.len()));
            let trial: Vec<usize> = keep[..from].iter().chain(&keep[to..]).copied().collect();
            let w = h.select(&trial);
            if explains(&w) && fails(&w, &cells(&w)) {
                keep = trial;
                n = parts.saturating_sub(1).max(1);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if parts >= keep.len() {
                break; // no single operation can be dropped
            }
            n = (parts * 2).min(keep.len());
        }
    }
    let out = h.select(&keep);
    let inits = cells(&out);

    // The culprit of what is left: its first return (by time, call,
    // thread) after which it fails. If a limit cut the shrinking short,
    // the end cut's culprit (searching again would only hit the limit).
    let mut ends: Vec<usize> = (0..out.ops.len())
        .filter(|&i| out.ops[i].ret().is_some())
        .collect();
    ends.sort_by_key(|&i| (out.ops[i].ret(), out.ops[i].call, out.ops[i].thread));
    let culprit = if cut_short || ends.is_empty() {
        (0..out.ops.len()).find(|&i| Some((out.ops[i].thread, out.ops[i].call)) == culprit)
    } else {
        let cut = |k: usize| {
            let t = out.ops[ends[k]].ret().unwrap_or(u64::MAX);
            let mut done = vec![false; out.ops.len()];
            for &i in &ends[..=k] {
                done[i] = true;
            }
            let mut w = Window::default();
            for (i, o) in out.ops.iter().enumerate() {
                if o.call > t {
                    continue;
                }
                w.ops.push(if done[i] || o.ret().is_none() {
                    o.clone()
                } else {
                    Operation::pending(o.thread, o.call, o.op)
                });
                w.optional.push(out.optional[i] && done[i]);
            }
            w
        };
        let (mut lo, mut hi) = (0, ends.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if fails(&cut(mid), &inits) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        Some(ends[hi])
    };

    // The longest partial linearization, for the picture.
    let part = search::Part::new(&out.ops, &search::deadlines(&out.ops), Some(&out.optional));
    let mut longest: Vec<usize> = Vec::new();
    for &init in &inits {
        let mut deepest = Vec::new();
        let mut counters = search::Counters::default();
        let answer = search::search(&part, init, &budget, &mut counters, Some(&mut deepest));
        if answer == search::Answer::NotLinearizable && deepest.len() >= longest.len() {
            longest = deepest;
        }
    }
    Counterexample {
        key,
        any_initial,
        culprits: culprit.into_iter().collect(),
        optional: (0..out.ops.len()).filter(|&i| out.optional[i]).collect(),
        ops: out.ops,
        longest_prefix: longest,
        key_operations: ops.len(),
        note: None,
        minimal: !cut_short,
    }
}

fn is_observer(o: &Operation) -> bool {
    match o.outcome {
        Outcome::Returned { result, .. } => crate::spec::observes(&o.op, &result),
        Outcome::Pending => o.op.is_read_only(),
    }
}

/// Keeps the operations called by the `k`-th completion (`events` lists
/// the completed operations in completion order); those completing later
/// become pending.
fn end_cut(ops: &[Operation], events: &[usize], k: usize) -> Vec<Operation> {
    let t = ops[events[k]].ret().unwrap_or(u64::MAX);
    let mut done = vec![false; ops.len()];
    for &i in &events[..=k] {
        done[i] = true;
    }
    ops.iter()
        .enumerate()
        .filter(|(_, o)| o.call <= t)
        .filter_map(|(i, o)| {
            if done[i] {
                Some(o.clone())
            } else if o.op.is_read_only() {
                None
            } else {
                Some(Operation::pending(o.thread, o.call, o.op))
            }
        })
        .collect()
}

/// Drops the operations that returned before `c`. Of those running at `c`,
/// observers are dropped (they changed nothing, whenever they took
/// effect), completed ones become optional, pending ones stay pending.
fn start_cut(w: &Window, c: u64) -> Window {
    let mut out = Window::default();
    for (o, &opt) in w.ops.iter().zip(&w.optional) {
        if o.call >= c {
            out.ops.push(o.clone());
            out.optional.push(opt);
        } else if o.ret().is_some_and(|r| r < c) || is_observer(o) {
            // Returned before the window, or changed nothing.
        } else {
            out.optional.push(o.ret().is_some());
            out.ops.push(o.clone());
        }
    }
    out
}

/// Cells that stand for every cell, for the operations `ops`: two values
/// that equal the same constants, compare the same way with each, and have
/// the same parity behave the same in every operation (no arithmetic).
pub(crate) fn representatives(ops: &[Operation]) -> Vec<Option<Value>> {
    let mut consts = Vec::new();
    for o in ops {
        o.op.constants(&mut consts);
        match o.result() {
            Some(crate::spec::Ret::Opt(Some(v)))
            | Some(crate::spec::Ret::Value(v))
            | Some(crate::spec::Ret::Swap(Ok(v)))
            | Some(crate::spec::Ret::Swap(Err(Some(v)))) => consts.push(v),
            _ => {}
        }
    }
    consts.sort_unstable();
    consts.dedup();
    let mut reps: Vec<Option<Value>> = vec![None];
    reps.extend(consts.iter().map(|&c| Some(c)));
    if !ops.iter().any(|o| compares_order(&o.op)) {
        // Only equality with constants matters: one fresh value stands for
        // every other value.
        let fresh = (0..).find(|v| consts.binary_search(v).is_err());
        reps.extend(fresh.map(Some));
        return reps;
    }
    reps.clear();
    reps.push(None);
    if consts.is_empty() {
        reps.extend([Some(0), Some(1)]);
        return reps;
    }
    let mut vals: Vec<Value> = consts.clone();
    for &c in &consts {
        for d in [-2i64, -1, 1, 2] {
            if let Some(v) = c.checked_add(d) {
                vals.push(v);
            }
        }
    }
    vals.sort_unstable();
    vals.dedup();
    reps.extend(vals.into_iter().map(Some));
    reps
}

/// True if the operation compares values by order or parity (so values
/// between two constants are not all alike).
fn compares_order(op: &Op) -> bool {
    use crate::spec::{Func, Pred};
    let ordered = |p: Pred| matches!(p, Pred::Lt(_) | Pred::Gt(_) | Pred::Even | Pred::Odd);
    match *op {
        Op::RemoveIf { pred, .. } | Op::ReplaceIf { pred, .. } => ordered(pred),
        Op::Compute {
            func: Func::RemoveIf(pred),
            ..
        } => ordered(pred),
        _ => false,
    }
}
