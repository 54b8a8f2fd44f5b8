//! Shrinking a failing key's sub-history to a small counterexample.
//!
//! Each step keeps the sub-history failing, and keeps it a faithful
//! explanation: every operation shown is from the history, with its real
//! times and result, and the full history fails because the shown one does.
//! Failing is never assumed: every window kept is one a search said fails
//! (from the empty key, or from every cell), or the key's whole
//! sub-history, which the check said fails.
//!
//! **Pending operations and their bounds.** A pending operation followed by
//! a later call of its thread (on this key) is bounded by that call: it took
//! effect before it, or never (`search::deadlines`). So removing an
//! operation can loosen a bound (the next call of the thread bounds it
//! instead, or nothing does) and let the rest linearize, which is how an
//! unchecked end cut once gave a "counterexample" that linearized on its
//! own. Each step handles it:
//! - the end cut keeps the call that bounds a pending operation, shown
//!   pending when it is an observer still running at the cut (it then does
//!   nothing but bound), and makes up no bound (see [`end_cut`]);
//! - the start cut drops a pending operation whose bound is at or before
//!   the window's start: it took effect before the window, or never, like
//!   the operations that returned before it (see [`start_cut`]);
//! - dropping operations (step 3) may drop a bounding call only if what is
//!   left still fails with the looser bound (each trial is searched with
//!   the bounds it has): what is shown then fails even with less known of
//!   when the pending operation took effect.
//!
//! The bound is kept as the call that makes it, not folded into the pending
//! operation as a deadline: an [`Operation`] has no field for one (a
//! pending operation is "took effect after its call, or never"), so the
//! counterexample stays a sub-history of the history, checkable as it
//! stands by anything that reads histories, and its timeline shows why the
//! write is bounded (its thread went on) at the cost of one more row.
//!
//! 0. **Values never written.** If some result needs the key to hold a
//!    value that no operation of the history writes, that one operation is
//!    the counterexample (it fails alone for the same reason).
//! 1. **End cut.** Order the returns (by time, ties broken by call and
//!    thread); `cut(H, k)` keeps the operations called by the `k`-th return
//!    `T`, and makes pending those not among the first `k` returns (with
//!    the bound rules above). If `H` is linearizable so is `cut(H, k)`
//!    (restrict a linearization: the operations cut off all come after
//!    every operation that returned by `T`, and a pending operation may take
//!    effect or not; no bound is tightened), so failing is monotone in `k`,
//!    and a binary search finds the least failing `k`. Its operation is the
//!    *culprit*: no linearization survives its return.
//! 2. **Start cut.** `start(H, c)` drops the operations that returned
//!    before `c`; of those still running at `c` it drops the observers and
//!    the pending operations bounded by `c`, and makes the others
//!    *optional* (each took effect before the window, or inside it
//!    returning what it returned). If `H` is linearizable from some cell,
//!    `start(H, c)` is too, from the cell its linearization reaches after
//!    the last dropped operation (an optional operation linearized before
//!    that is left out; a dropped pending operation comes before every
//!    operation called from `c` on). So if `start(H, c)` fails from *every*
//!    cell, `H` fails. The latest such `c` is found by trying windows 1, 2,
//!    4, ... start points back from the culprit, then binary search; the
//!    counterexample says "whatever the key held before". Every cell is
//!    covered by a finite set of representatives (absent, each constant
//!    mentioned, and the values beside each constant, both parities); this
//!    is exact unless a `compute` does arithmetic, in which case this step
//!    is skipped.
//! 3. **Drop operations** (delta debugging: all at once, then halves, ...,
//!    then one at a time) while what is left still fails; any operation may
//!    go (writes, pending ones, those made pending by the end cut, the
//!    culprit, a bounding call), with one rule: an operation that is the
//!    only writer of a value another operation of the window reads goes
//!    only with that reader (else the rest could fail only as "a value
//!    never written", which is not why the history fails). The result is
//!    1-minimal: no single operation can be dropped under the same rule.
//!    The culprit is then found again, by the end cut of what is left.
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
    let whole = Window::plain(ops.to_vec());
    let cut_fails = |k: usize| fails(&end_cut(&whole, &events, k), &empty);
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
    // Every window `h` holds from here on is one a search said fails (or
    // the key's whole sub-history, which the check said fails): a cut below
    // `last` was checked by `cut_fails`; the cut at `last` is checked now.
    // It should fail (it differs from the whole history only by operations
    // that cannot matter: pending ones called after the last return, and
    // observers still running then that bound nothing), but it is not
    // trusted untried: an unchecked cut that linearized was once returned
    // as the counterexample.
    let mut h = end_cut(&whole, &events, hi);
    if hi == last && !fails(&h, &empty) {
        h = whole.clone();
        cut_short |= expired();
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
        let cut = |k: usize| end_cut(&out, &ends, k);
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

/// The end cut of `w` at the `k`-th completion (`events` lists the
/// completed operations of `w` in completion order, `t` is the time of the
/// `k`-th): the operations called by `t`, those completing later shown
/// pending (an optional one loses its mark with its result).
///
/// A pending operation that is not its thread's last is bounded by its
/// thread's next call (it took effect before it, or never; see
/// `search::deadlines`), so the cut must neither lose that bound nor make
/// one up:
/// - An operation that is pending in `w` keeps its bounding call: the
///   next operation of its thread, if called by `t`, stays even when it is
///   an observer still running at `t` (then it is shown pending, and does
///   nothing but bound). Dropping it would let the pending operation take
///   effect later than it did, and the cut could then linearize although
///   `w` does not (the bug a clean-clone CI run found: the cut at the last
///   return, used without a check, was the whole history less a pending
///   `get`, and linearized). A bounding call made after `t` is not needed:
///   every operation of the cut is called by `t`, no later than the bound
///   (one before that call). Why the call is kept rather than folded into
///   the pending operation: see the module documentation.
/// - An operation that completed in `w` but after `t` (made pending here)
///   has no later operation of its thread in the cut in an interval
///   history (its thread's next call came after its return). Where one
///   thread's operations overlap (loom-shaped histories), the thread's
///   later operations are dropped from the cut: kept, they would bound the
///   made-pending one by their call, which it was not (it returned after
///   it), so the cut could fail where `w` does not.
///
/// Other observers still running at `t` are dropped (they change nothing,
/// and their result is not known by `t`). Every change is a relaxation of
/// `w` (an operation dropped, a result forgotten, no bound tightened), so if
/// `w` is linearizable so is its cut.
fn end_cut(w: &Window, events: &[usize], k: usize) -> Window {
    let t = w.ops[events[k]].ret().unwrap_or(u64::MAX);
    let mut done = vec![false; w.ops.len()];
    for &i in &events[..=k] {
        done[i] = true;
    }
    let mut by_thread: Vec<usize> = (0..w.ops.len()).filter(|&i| w.ops[i].call <= t).collect();
    by_thread.sort_by_key(|&i| (w.ops[i].thread, w.ops[i].call));
    let mut keep = vec![false; w.ops.len()];
    let mut made_pending = vec![false; w.ops.len()];
    // For the previous operation of the same thread: (thread, pending in
    // `w`, the cut stopped the thread there).
    let mut prev: Option<(u64, bool, bool)> = None;
    for &i in &by_thread {
        let o = &w.ops[i];
        let (after_pending, stopped) = match prev {
            Some((thread, pending, stopped)) if thread == o.thread => (pending, stopped),
            _ => (false, false),
        };
        let pending = o.ret().is_none();
        prev = Some((o.thread, pending, stopped || (!pending && !done[i])));
        if stopped {
            continue; // after an operation the cut made pending
        }
        if done[i] {
            keep[i] = true;
        } else {
            // Pending in `w`, or made pending here: kept if it can change
            // the cell, or bounds its thread's pending previous operation.
            keep[i] = !o.op.is_read_only() || after_pending;
            made_pending[i] = !pending;
        }
    }
    let mut out = Window::default();
    for (i, o) in w.ops.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if made_pending[i] {
            out.ops.push(Operation::pending(o.thread, o.call, o.op));
            out.optional.push(false);
        } else {
            out.ops.push(o.clone());
            out.optional.push(w.optional[i]);
        }
    }
    out
}

/// Drops the operations that returned before `c`. Of those running at `c`,
/// observers are dropped (they changed nothing, whenever they took
/// effect), completed ones become optional, pending ones stay pending,
/// except a pending one whose thread called again by `c`: it took effect
/// before that call, so before the window, or never, and goes with the
/// operations before the window into "whatever the key held". (Kept, it
/// would lose its bound when the call that bounds it returned before `c` or
/// is an observer, and could then take effect inside the window, which it
/// cannot.) So a pending operation kept here either has its bounding call
/// in the window too, or is bounded by nothing before the window starts.
fn start_cut(w: &Window, c: u64) -> Window {
    let deadline = search::deadlines(&w.ops);
    let mut out = Window::default();
    for ((o, &opt), &d) in w.ops.iter().zip(&w.optional).zip(&deadline) {
        if o.call >= c {
            out.ops.push(o.clone());
            out.optional.push(opt);
        } else if o.ret().is_some_and(|r| r < c) || is_observer(o) {
            // Returned before the window, or changed nothing.
        } else if o.ret().is_none() && d < c {
            // Pending, and its thread called again by `c` (its deadline is
            // one before that call): before the window, or never.
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Ret;

    fn ck(thread: u64, call: u64, ret: u64, found: bool) -> Operation {
        Operation::returned(
            thread,
            call,
            ret,
            Op::ContainsKey { key: 0 },
            Ret::Bool(found),
        )
    }

    fn shown(w: &Window) -> Vec<(u64, u64, bool)> {
        w.ops
            .iter()
            .map(|o| (o.thread, o.call, o.ret().is_none()))
            .collect()
    }

    /// The CI input: thread 2's pending insert is bounded by its pending
    /// `get` (an observer). The end cut at the last return keeps that
    /// `get`; the old cut dropped it, and the cut linearized.
    #[test]
    fn the_end_cut_keeps_the_call_that_bounds_a_pending_operation() {
        let ops = vec![
            ck(0, 3, 8, false),
            Operation::pending(2, 1, Op::Insert { key: 0, value: 0 }),
            Operation::pending(2, 3, Op::Get { key: 0 }),
            Operation::returned(3, 3, 4, Op::InsertIfAbsent { key: 0, value: 2 }, Some(0)),
        ];
        let w = Window::plain(ops.clone());
        let events = [3, 0]; // by return: thread 3's at 4, thread 0's at 8
        let cut = end_cut(&w, &events, 1);
        assert_eq!(
            cut.ops, ops,
            "nothing may go from the cut at the last return"
        );
        let budget = Budget {
            deadline: None,
            max_memory: 1 << 26,
            reject_unwritten: true,
        };
        assert_eq!(
            linearizable_from(&cut.ops, None, &[None], &budget),
            Some(false)
        );
        // At the first return, thread 0's `contains_key` is still running
        // (an observer: dropped); the `get` still bounds the insert.
        let cut = end_cut(&w, &events, 0);
        assert_eq!(shown(&cut), [(2, 1, true), (2, 3, true), (3, 3, false)]);
        // An observer with no pending operation before it is dropped.
        let lone = Window::plain(vec![
            Operation::pending(2, 3, Op::Get { key: 0 }),
            ck(0, 1, 2, false),
        ]);
        assert_eq!(shown(&end_cut(&lone, &[1], 0)), [(0, 1, false)]);
    }

    /// An observer the cut makes pending (it returns after the cut) still
    /// bounds its thread's pending operation.
    #[test]
    fn the_end_cut_keeps_a_bounding_call_it_makes_pending() {
        let w = Window::plain(vec![
            Operation::pending(2, 1, Op::Insert { key: 0, value: 0 }),
            ck(2, 3, 9, true),
            ck(0, 2, 4, false),
        ]);
        let cut = end_cut(&w, &[2, 1], 0);
        assert_eq!(shown(&cut), [(2, 1, true), (2, 3, true), (0, 2, false)]);
    }

    /// Loom-shaped (one thread's operations overlap): the cut makes thread
    /// 1's first operation pending; its second, called before the first
    /// returned, is dropped rather than shown as a bound it never was.
    #[test]
    fn the_end_cut_makes_up_no_bound_in_loom_shaped_histories() {
        let w = Window::plain(vec![
            Operation::returned(1, 1, 5, Op::Insert { key: 0, value: 1 }, None),
            Operation::returned(1, 2, 6, Op::Insert { key: 0, value: 2 }, Some(1)),
            Operation::returned(2, 1, 4, Op::Remove { key: 0 }, None),
        ]);
        let cut = end_cut(&w, &[2, 0, 1], 0);
        assert_eq!(shown(&cut), [(1, 1, true), (2, 1, false)]);
        // Once the first is done, the second is shown (pending).
        let cut = end_cut(&w, &[2, 0, 1], 1);
        assert_eq!(shown(&cut), [(1, 1, false), (1, 2, true), (2, 1, false)]);
    }

    /// The start cut drops a pending operation whose thread called again
    /// by the start (it took effect before the window, or never), with its
    /// bounding call gone or not; one bounded later stays.
    #[test]
    fn the_start_cut_drops_a_pending_operation_bounded_before_the_window() {
        let w = Window::plain(vec![
            Operation::pending(2, 1, Op::Insert { key: 0, value: 0 }),
            ck(2, 3, 4, true),
            Operation::pending(3, 2, Op::Insert { key: 0, value: 1 }),
            ck(3, 7, 8, true),
            ck(0, 5, 9, false),
        ]);
        let cut = start_cut(&w, 5);
        assert_eq!(shown(&cut), [(3, 2, true), (3, 7, false), (0, 5, false)]);
        // Bounded exactly at the start: before the window too (and thread
        // 0's `contains_key`, an observer running at 7, goes).
        let cut = start_cut(&w, 7);
        assert_eq!(shown(&cut), [(3, 7, false)]);
    }
}
