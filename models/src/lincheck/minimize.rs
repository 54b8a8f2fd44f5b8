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
//! 3. **Drop observers** (delta debugging: all at once, then halves, ...)
//!    while the sub-history still fails. An observer leaves the cell as it
//!    was in every linearization, so dropping one only removes constraints.
//!    Operations that change the cell are never dropped: without them the
//!    rest could fail for another reason (drop the insert before a stale
//!    read after a remove, and it reads as "a value never written"), and
//!    the counterexample would no longer explain why the history fails.
//!
//! Every search here runs under the shrinking time limit; a search that
//! hits it counts as "does not fail", so a step is then simply not taken.

use std::time::Instant;

use super::search::{self, Budget};
use super::{linearizable_from, Counterexample, Limits};
use crate::history::{Operation, Outcome};
use crate::spec::{Key, Op, Value};

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
pub(crate) fn shrink(key: Key, ops: &[Operation], limits: &Limits, reached: u64) -> Counterexample {
    let budget = Budget {
        deadline: Some(Instant::now() + limits.shrink_time),
        max_memory: limits.max_memory,
        reject_unwritten: true,
    };
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
        let mid = (lo + hi) / 2;
        if cut_fails(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let mut h = Window::plain(end_cut(ops, &events, hi));
    if !fails(&h, &empty) {
        // Cannot happen for a failing history, unless a limit was hit.
        h = Window::plain(ops.to_vec());
    }
    let culprit = events.get(hi).map(|&i| (ops[i].thread, ops[i].call));
    let is_culprit = |o: &Operation| Some((o.thread, o.call)) == culprit;

    // 2. Start cut, from every cell.
    let mut any_initial = false;
    let mut inits: Vec<Option<Value>> = empty.to_vec();
    let shifts = h
        .ops
        .iter()
        .any(|o| matches!(o.op, Op::Compute { func, .. } if func.shifts_values()));
    let culprit_call = culprit.map(|(_, call)| call);
    if let (false, Some(limit)) = (shifts, culprit_call) {
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
                None => break,
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
            while lo < hi {
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
                inits = representatives(&h.ops);
                any_initial = true;
            }
        }
    }

    // 3. Drop observers (never the culprit) while it still fails.
    let mut order: Vec<usize> = (0..h.ops.len()).collect();
    order.sort_by_key(|&i| (h.ops[i].call, h.ops[i].thread));
    h = h.select(&order);
    let droppable: Vec<bool> = h
        .ops
        .iter()
        .map(|o| !is_culprit(o) && is_observer(o))
        .collect();
    let mut keep: Vec<usize> = (0..h.ops.len()).collect();
    let mut n = 1usize; // chunks: all at once first, then halves, ...
    loop {
        if budget.deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let cands: Vec<usize> = keep.iter().copied().filter(|&i| droppable[i]).collect();
        if cands.is_empty() {
            break;
        }
        let parts = n.min(cands.len());
        let chunk = cands.len().div_ceil(parts);
        let mut reduced = false;
        for c in cands.chunks(chunk) {
            let trial: Vec<usize> = keep.iter().copied().filter(|i| !c.contains(i)).collect();
            if fails(&h.select(&trial), &inits) {
                keep = trial;
                n = parts.saturating_sub(1).max(1);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if parts >= cands.len() {
                break;
            }
            n = (parts * 2).min(cands.len());
        }
    }
    let out = h.select(&keep);

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
        culprits: (0..out.ops.len())
            .filter(|&i| is_culprit(&out.ops[i]))
            .collect(),
        optional: (0..out.ops.len()).filter(|&i| out.optional[i]).collect(),
        ops: out.ops,
        longest_prefix: longest,
        key_operations: ops.len(),
        note: None,
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
