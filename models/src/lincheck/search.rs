//! The search for one key: Wing and Gong's backtracking search with Lowe's
//! memoisation, over a compact configuration.
//!
//! Terms (used in names below):
//! - *completed* operations are sorted by call time and numbered `0..n`;
//!   *pending* ones (never returned, and able to change the state) are kept
//!   apart and numbered `0..r`. Pending operations that can never change the
//!   state are dropped before the search: "took effect, or never" makes no
//!   difference for them.
//! - A *configuration* is the set of linearized operations plus the spec
//!   state (the key's cell). The set is always closed under real-time
//!   precedence, so it is written as `p`, the first completed operation not
//!   linearized (all before it are), a bitset of the linearized completed
//!   operations in `(p, hi)` (none at or past `hi`), and a bitset over the
//!   pending operations. Every linearized operation `x > p` has
//!   `call[x] <= ret[p]`, so the window `(p, hi)` spans only operations that
//!   overlap the oldest open one: about the number of threads, not the
//!   history length. The memo stores these few words, never a bitset over
//!   the whole history.
//! - An operation is a *candidate* if every operation that precedes it is
//!   linearized: its call is at most `minret`, the least return time among
//!   the completed operations not yet linearized (and, for loom-shaped
//!   histories, its thread's previous operation is linearized). A pending
//!   or optional operation is one only until its deadline (no operation
//!   called after it linearized) and, for an optional one, while no later
//!   operation of its thread is linearized: program order holds for it too
//!   when it overlaps its thread's next call (loom-shaped windows).
//! - An *observer* (see [`crate::spec::observes`]) that is a candidate and
//!   matches the current state is linearized at once without branching:
//!   moving it earlier in any linearization keeps every state the same
//!   (unless that would rule out a pending or optional operation still
//!   open: one whose deadline is before the observer's call, or an optional
//!   one of its thread that program order puts before it).
//!
//! The memo (`Memo`) holds every configuration entered; one met again has
//! already failed (the search stops at the first success), so it is not
//! searched twice. Past the time or memory limit the search answers
//! `Undecided`, never a guess.

use std::time::Instant;

use super::memo::{Memo, HOLES_BIT};
use crate::history::{Operation, Outcome};
use crate::spec::{self, Op, Ret, Value};

const NONE: u32 = u32::MAX;
/// Largest number of operations one key may have (`p` and the window width
/// share a memo word).
pub(crate) const MAX_OPS: usize = (1 << 30) - 2;

/// One key's operations, prepared for the search.
#[derive(Debug)]
pub(crate) struct Part {
    call: Vec<u64>,
    ret: Vec<u64>,
    op: Vec<Op>,
    result: Vec<Ret>,
    observer: Vec<bool>,
    /// Previous operation of the same thread (completed index), or NONE.
    prev: Vec<u32>,
    /// An earlier completed operation with the same operation and result,
    /// called no later and returned no later (a *dominating twin*), or
    /// NONE: twins are interchangeable, so this one comes after it.
    twin: Vec<u32>,
    /// `suffix_min_ret[i]` = least `ret[j]` for `j >= i`; `u64::MAX` at `n`.
    suffix_min_ret: Vec<u64>,
    pcall: Vec<u64>,
    pop: Vec<Op>,
    pprev: Vec<u32>,
    /// Deadline of the pending operation: it takes effect by then or never
    /// (`u64::MAX` if none). See [`deadlines`].
    pdeadline: Vec<u64>,
    /// For an *optional* operation (a completed operation that may have
    /// taken effect before a counterexample's window: pending-like, but if
    /// it takes effect it returns this), its result.
    presult: Vec<Option<Ret>>,
    /// The pending operation's effect does not depend on the cell.
    pblind: Vec<bool>,
    /// The previous pending operation (by call) with the very same
    /// operation and arguments, or NONE.
    ptwin: Vec<u32>,
    /// Program order for optional operations: `psucc[psucc_start[q]..
    /// psucc_start[q + 1]]` are the later operations of `q`'s thread called
    /// by `q`'s return (completed `x` as `x`, pending `q'` as `n + q'`),
    /// for an optional `q` (empty otherwise). `q` cannot take effect once
    /// one of them has: it returned before its thread called them. (Later
    /// ones called after its return are ruled out by its deadline; a
    /// pending operation's deadline is its thread's next call, so it needs
    /// no list.) Non-empty only where one thread's operations overlap, in
    /// loom-shaped windows.
    psucc_start: Vec<u32>,
    psucc: Vec<u32>,
    /// The inverse, for completed operations: `bounds[bounds_start[x]..
    /// bounds_start[x + 1]]` are the optional `q` with `x` in their list
    /// (both empty when no list has a completed operation).
    bounds_start: Vec<u32>,
    bounds: Vec<u32>,
    /// Until when the pending operation's bit matters to the memo key: its
    /// deadline, or later, up to the deadline of an optional operation that
    /// has it in its list (whether it took effect rules that one out).
    pkeep: Vec<u64>,
    /// Some thread's operations overlap in time (a loom-shaped history), so
    /// program order must be checked explicitly.
    program_order: bool,
    /// Index in the input slice of each completed, then each pending
    /// operation.
    pub(crate) source: Vec<usize>,
    /// Completed operations whose result needs the cell to hold a value
    /// that no operation here writes: (index, value). Only the initial
    /// cell could supply it.
    unwritten: Vec<(u32, Value)>,
}

impl Part {
    /// Prepares `ops` (all on one key; a valid history); `deadline[i]` is
    /// the deadline of `ops[i]` if it is pending (see [`deadlines`]);
    /// `optional[i]` (if given) makes a completed operation optional: it
    /// takes effect by its return, returning its result, or never.
    pub(crate) fn new(ops: &[Operation], deadline: &[u64], optional: Option<&[bool]>) -> Part {
        let is_optional = |i: usize| optional.is_some_and(|o| o[i]);
        let mut done: Vec<usize> = Vec::new();
        let mut pend: Vec<usize> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            match o.outcome {
                Outcome::Returned { .. } if is_optional(i) => pend.push(i),
                Outcome::Returned { .. } => done.push(i),
                Outcome::Pending if !o.op.is_read_only() => pend.push(i),
                Outcome::Pending => {}
            }
        }
        done.sort_by_key(|&i| (ops[i].call, ops[i].ret(), ops[i].thread));
        pend.sort_by_key(|&i| (ops[i].call, ops[i].thread));
        let n = done.len();
        debug_assert!(n <= MAX_OPS, "checked by check_with");
        let mut part = Part {
            call: Vec::with_capacity(n),
            ret: Vec::with_capacity(n),
            op: Vec::with_capacity(n),
            result: Vec::with_capacity(n),
            observer: Vec::with_capacity(n),
            prev: vec![NONE; n],
            twin: vec![NONE; n],
            suffix_min_ret: vec![u64::MAX; n + 1],
            pcall: Vec::new(),
            pop: Vec::new(),
            pprev: vec![NONE; pend.len()],
            pdeadline: Vec::new(),
            presult: Vec::new(),
            pblind: Vec::new(),
            ptwin: vec![NONE; pend.len()],
            psucc_start: vec![0; pend.len() + 1],
            psucc: Vec::new(),
            bounds_start: Vec::new(),
            bounds: Vec::new(),
            pkeep: Vec::new(),
            program_order: false,
            source: Vec::with_capacity(n + pend.len()),
            unwritten: Vec::new(),
        };
        for &i in &done {
            let o = &ops[i];
            let (ret, result) = match o.outcome {
                Outcome::Returned { ret, result } => (ret, result),
                Outcome::Pending => unreachable!(),
            };
            part.call.push(o.call);
            part.ret.push(ret);
            part.op.push(o.op);
            part.result.push(result);
            part.observer.push(spec::observes(&o.op, &result));
            part.source.push(i);
        }
        for &i in &pend {
            part.pdeadline.push(ops[i].ret().unwrap_or(deadline[i]));
            part.presult.push(ops[i].result());
            part.pcall.push(ops[i].call);
            part.pop.push(ops[i].op);
            // "Blind" matters only for a result nobody checks.
            part.pblind
                .push(is_blind(&ops[i].op) && ops[i].result().is_none());
            part.source.push(i);
        }
        for i in (0..n).rev() {
            part.suffix_min_ret[i] = part.suffix_min_ret[i + 1].min(part.ret[i]);
        }
        // Program order: completed operations of a thread in call order; a
        // pending operation is its thread's last.
        let mut last: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
        for (x, &i) in done.iter().enumerate() {
            if let Some(&y) = last.get(&ops[i].thread) {
                part.prev[x] = y;
                if part.ret[y as usize] >= part.call[x] {
                    part.program_order = true;
                }
            }
            last.insert(ops[i].thread, x as u32);
        }
        // A pending operation sits between the completed operations of its
        // thread called before and after it.
        let mut of_thread: std::collections::HashMap<u64, Vec<u32>> =
            std::collections::HashMap::new();
        for (x, &i) in done.iter().enumerate() {
            of_thread.entry(ops[i].thread).or_default().push(x as u32);
        }
        let mut twins: std::collections::HashMap<Op, u32> = std::collections::HashMap::new();
        for (q, &i) in pend.iter().enumerate() {
            let mine = of_thread.get(&ops[i].thread).map_or(&[][..], Vec::as_slice);
            let after = mine.partition_point(|&x| part.call[x as usize] < part.pcall[q]);
            if after > 0 {
                let y = mine[after - 1];
                part.pprev[q] = y;
                if part.ret[y as usize] >= part.pcall[q] {
                    part.program_order = true;
                }
            }
            if part.pdeadline[q] != u64::MAX || part.presult[q].is_some() {
                // Not its thread's last, or optional: no twin.
            } else if let Some(t) = twins.insert(ops[i].op, q as u32) {
                // Twins (same operation, both their thread's last) are
                // interchangeable: use the earlier-called one first.
                part.ptwin[q] = t;
            }
        }
        // Program order for optional operations (they exist only in
        // shrinking's windows).
        part.pkeep = part.pdeadline.clone();
        if part.presult.iter().any(Option::is_some) {
            part.program_order_for_optional(ops, &done, &pend);
        }
        // Dominating twins (only for interval histories: the exchange
        // argument needs real-time order alone).
        if !part.program_order {
            let mut seen: std::collections::HashMap<(Op, Ret), Vec<u32>> =
                std::collections::HashMap::new();
            for y in 0..n {
                let list = seen.entry((part.op[y], part.result[y])).or_default();
                if let Some(&x) = list
                    .iter()
                    .rev()
                    .take(8)
                    .find(|&&x| part.ret[x as usize] <= part.ret[y])
                {
                    part.twin[y] = x;
                }
                list.push(y as u32);
            }
        }
        let (x, _) = unwritten_reads(ops);
        let by_source: std::collections::HashMap<usize, u32> = done
            .iter()
            .enumerate()
            .map(|(x, &i)| (i, x as u32))
            .collect();
        part.unwritten = x
            .into_iter()
            .filter_map(|(i, v)| by_source.get(&i).map(|&x| (x, v)))
            .collect();
        part
    }

    /// Program order for optional operations: fills `psucc`, `bounds` and
    /// `pkeep` (see there), and sets `program_order` when an optional
    /// operation overlaps a later call of its thread. Only called when some
    /// operation is optional (in shrinking), so a plain check pays nothing.
    fn program_order_for_optional(&mut self, ops: &[Operation], done: &[usize], pend: &[usize]) {
        let n = done.len();
        // A thread's items by call: completed `x` as `x`, pending `q` as
        // `n + q`.
        let mut items: std::collections::HashMap<u64, Vec<(u64, u32)>> =
            std::collections::HashMap::new();
        for (x, &i) in done.iter().enumerate() {
            items
                .entry(ops[i].thread)
                .or_default()
                .push((self.call[x], x as u32));
        }
        for (q, &i) in pend.iter().enumerate() {
            items
                .entry(ops[i].thread)
                .or_default()
                .push((self.pcall[q], (n + q) as u32));
        }
        for list in items.values_mut() {
            list.sort_unstable();
        }
        let mut bounded_by: Vec<(u32, u32)> = Vec::new(); // (completed x, optional q)
        for (q, &i) in pend.iter().enumerate() {
            self.psucc_start[q] = self.psucc.len() as u32;
            if self.presult[q].is_none() {
                continue;
            }
            let ret = self.pdeadline[q];
            let list = &items[&ops[i].thread];
            let from = list.partition_point(|&(c, _)| c <= self.pcall[q]);
            for &(c, item) in &list[from..] {
                if c > ret {
                    break;
                }
                self.psucc.push(item);
                if (item as usize) < n {
                    bounded_by.push((item, q as u32));
                } else {
                    let k = item as usize - n;
                    self.pkeep[k] = self.pkeep[k].max(ret);
                }
            }
        }
        self.psucc_start[pend.len()] = self.psucc.len() as u32;
        if !self.psucc.is_empty() {
            // A thread's operations overlap: the exchange arguments of the
            // twin rules (in `Part::new`) need real-time order alone.
            self.program_order = true;
            bounded_by.sort_unstable();
            self.bounds_start = vec![0; n + 1];
            let mut k = 0;
            for x in 0..n {
                self.bounds_start[x] = k as u32;
                while k < bounded_by.len() && bounded_by[k].0 as usize == x {
                    self.bounds.push(bounded_by[k].1);
                    k += 1;
                }
            }
            self.bounds_start[n] = self.bounds.len() as u32;
        }
    }

    /// Number of completed operations.
    pub(crate) fn completed(&self) -> usize {
        self.call.len()
    }

    /// Number of pending operations that can change the state.
    pub(crate) fn pending(&self) -> usize {
        self.pcall.len()
    }
}

/// The deadline of each pending operation in `ops` (one key's operations):
/// one before the call of its thread's next operation, for a pending
/// operation that is not its
/// thread's last (a counterexample shows an operation that was running when
/// its window starts as pending; it returned before its thread went on), and
/// `u64::MAX` otherwise. A pending operation takes effect by its deadline or
/// never. Completed operations get `u64::MAX` (unused).
pub(crate) fn deadlines(ops: &[Operation]) -> Vec<u64> {
    let mut d = vec![u64::MAX; ops.len()];
    let mut by_thread: std::collections::HashMap<u64, Vec<usize>> =
        std::collections::HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        by_thread.entry(o.thread).or_default().push(i);
    }
    for idx in by_thread.values_mut() {
        idx.sort_by_key(|&i| ops[i].call);
        for w in idx.windows(2) {
            if ops[w[0]].ret().is_none() {
                d[w[0]] = ops[w[1]].call - 1;
            }
        }
    }
    d
}

/// The completed operations of `ops` (one key) whose result needs a value
/// in the cell that no operation of `ops` writes, as (index into `ops`,
/// value), earliest return first; empty if some `compute` does arithmetic
/// (then written values are not known in advance).
pub(crate) fn unwritten_reads(ops: &[Operation]) -> (Vec<(usize, Value)>, bool) {
    let shifts = ops
        .iter()
        .any(|o| matches!(o.op, Op::Compute { func, .. } if func.shifts_values()));
    if shifts {
        return (Vec::new(), false);
    }
    let written: std::collections::HashSet<Value> = ops
        .iter()
        .filter_map(|o| spec::writes_value(&o.op))
        .collect();
    let mut out: Vec<(usize, Value)> = ops
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            let v = spec::needs_value(&o.op, &o.result()?)?;
            (!written.contains(&v)).then_some((i, v))
        })
        .collect();
    out.sort_by_key(|&(i, _)| (ops[i].ret(), ops[i].call, ops[i].thread));
    (out, true)
}

/// True if the operation's effect on the cell does not depend on the cell.
fn is_blind(op: &Op) -> bool {
    use crate::spec::Func;
    matches!(
        op,
        Op::Insert { .. }
            | Op::Remove { .. }
            | Op::ForceRemove { .. }
            | Op::Compute {
                func: Func::Set(_) | Func::Remove,
                ..
            }
    )
}

/// Limits of one search.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_memory: usize,
    /// Reject at once a result that needs a value nobody writes.
    pub(crate) reject_unwritten: bool,
}

/// Which limit stopped a search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The time limit.
    Time,
    /// The memory limit of the memo.
    Memory,
}

/// The answer of one search.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    Linearizable,
    NotLinearizable,
    Undecided(Limit),
}

/// Counters of one search.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    /// Distinct configurations entered (memo entries).
    pub(crate) states: u64,
    /// Linearization steps taken, forced ones included.
    pub(crate) steps: u64,
    /// Largest memory the memo held, in bytes.
    pub(crate) memo_bytes: usize,
    /// The largest `minret` of any configuration entered: every operation
    /// that returned before it was linearized in that configuration, so the
    /// history cut just before it is linearizable (a hint for shrinking).
    pub(crate) max_minret: u64,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    /// Candidate order: completed `x` is `x`, pending `q` is `n + q`.
    item: u32,
    forced: bool,
    prev_state: Option<Value>,
    prev_after_pending: bool,
    prev_p: u32,
    prev_hi: u32,
}

/// Searches for a linearization of `part` starting from the cell `init`.
///
/// If `deepest` is given, it receives the longest partial linearization
/// met (as indices into `part.source`) when the answer is negative.
pub(crate) fn search(
    part: &Part,
    init: Option<Value>,
    budget: &Budget,
    counters: &mut Counters,
    mut deepest: Option<&mut Vec<usize>>,
) -> Answer {
    let n = part.completed();
    let r = part.pending();
    if n == 0 {
        return Answer::Linearizable;
    }
    // A result that needs a value nobody writes (and the initial cell does
    // not hold) can never be returned.
    if budget.reject_unwritten && part.unwritten.iter().any(|&(_, v)| init != Some(v)) {
        return Answer::NotLinearizable;
    }
    let words = n / 64 + 2;
    let pwords = r.div_ceil(64);
    let mut s = State {
        lin: vec![0; words],
        plin: vec![0; pwords.max(1)],
        p: 0,
        hi: 1,
        done: 0,
        cell: init,
        after_pending: false,
    };
    let mut memo = Memo::new(pwords);
    let mut key = Vec::with_capacity(8);
    let mut holes: Vec<u32> = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut resume: Option<u32> = None;
    let mut iterations: u64 = 0;
    let mut best = 0usize;

    let answer = 'search: loop {
        iterations += 1;
        if iterations & 1023 == 1 {
            if let Some(d) = budget.deadline {
                if Instant::now() >= d {
                    break 'search Answer::Undecided(Limit::Time);
                }
            }
        }
        let start = match resume.take() {
            Some(item) => item + 1,
            None => {
                if s.done == n {
                    break 'search Answer::Linearizable;
                }
                if let Some(d) = deepest.as_deref_mut() {
                    if stack.len() > best {
                        best = stack.len();
                        d.clear();
                        d.extend(stack.iter().map(|f| f.item as usize));
                    }
                }
                let minret = s.minret(part);
                counters.max_minret = counters.max_minret.max(minret);
                if let Some((x, cell)) = s.forced_observer(part, minret) {
                    stack.push(s.frame(x as u32, true));
                    s.linearize_completed(x, cell);
                    counters.steps += 1;
                    continue 'search;
                }
                s.encode(part, pwords, &mut key, &mut holes);
                if memo.insert(&key) {
                    counters.states += 1;
                    let bytes = memo.bytes();
                    counters.memo_bytes = counters.memo_bytes.max(bytes);
                    if bytes > budget.max_memory || memo.full {
                        break 'search Answer::Undecided(Limit::Memory);
                    }
                    0
                } else {
                    // Entered before, and failed: backtrack.
                    NONE
                }
            }
        };
        if start != NONE {
            let minret = s.minret(part);
            if let Some((item, cell)) = s.next_candidate(part, minret, start) {
                stack.push(s.frame(item, false));
                if (item as usize) < n {
                    s.linearize_completed(item as usize, cell);
                } else {
                    let q = item as usize - n;
                    s.plin[q / 64] |= 1 << (q % 64);
                    s.cell = cell;
                    s.after_pending = true;
                }
                counters.steps += 1;
                continue 'search;
            }
        }
        // Backtrack to the last branching point.
        loop {
            let Some(f) = stack.pop() else {
                break 'search Answer::NotLinearizable;
            };
            let item = f.item as usize;
            if item < n {
                s.lin[item / 64] &= !(1 << (item % 64));
                s.done -= 1;
            } else {
                let q = item - n;
                s.plin[q / 64] &= !(1 << (q % 64));
            }
            s.p = f.prev_p as usize;
            s.hi = f.prev_hi as usize;
            s.cell = f.prev_state;
            s.after_pending = f.prev_after_pending;
            if !f.forced {
                resume = Some(f.item);
                break;
            }
        }
    };
    counters.memo_bytes = counters.memo_bytes.max(memo.bytes());
    if let (Some(d), Answer::NotLinearizable) = (deepest, &answer) {
        for x in d.iter_mut() {
            *x = part.source[*x];
        }
    }
    answer
}

/// The mutable configuration of a search.
struct State {
    lin: Vec<u64>,
    plin: Vec<u64>,
    /// First completed operation not linearized.
    p: usize,
    /// No completed operation at or past `hi` is linearized; `hi > p`.
    hi: usize,
    /// Number of completed operations linearized.
    done: usize,
    cell: Option<Value>,
    /// The last step linearized a pending operation. Then a pending
    /// operation whose effect ignores the cell may not come next: the
    /// first would be overwritten unobserved, and a pending operation may
    /// as well never take effect. Part of the memo key.
    after_pending: bool,
}

impl State {
    fn is_lin(&self, x: usize) -> bool {
        self.lin[x / 64] >> (x % 64) & 1 == 1
    }

    fn is_plin(&self, q: usize) -> bool {
        self.plin[q / 64] >> (q % 64) & 1 == 1
    }

    fn frame(&self, item: u32, forced: bool) -> Frame {
        Frame {
            item,
            forced,
            prev_state: self.cell,
            prev_after_pending: self.after_pending,
            prev_p: self.p as u32,
            prev_hi: self.hi as u32,
        }
    }

    /// The first completed operation in `[from, hi)` not linearized.
    fn next_hole(&self, from: usize) -> Option<usize> {
        if from >= self.hi {
            return None;
        }
        let mut w = from / 64;
        let mut free = !self.lin[w] & (u64::MAX << (from % 64));
        loop {
            if free != 0 {
                let x = w * 64 + free.trailing_zeros() as usize;
                return (x < self.hi).then_some(x);
            }
            w += 1;
            if w * 64 >= self.hi {
                return None;
            }
            free = !self.lin[w];
        }
    }

    /// The candidates from `from` on, in order: the holes of `[p, hi)`,
    /// then the operations from `hi` called by `minret`.
    fn candidates<'a>(
        &'a self,
        part: &'a Part,
        minret: u64,
        from: usize,
    ) -> impl Iterator<Item = usize> + 'a {
        let n = part.completed();
        let mut x = self.next_hole(from.max(self.p));
        let mut tail = self.hi.max(from);
        let program_order = part.program_order;
        let prev = &part.prev;
        let twin = &part.twin;
        let call = &part.call;
        std::iter::from_fn(move || loop {
            let c = if let Some(h) = x {
                x = self.next_hole(h + 1);
                h
            } else if tail < n && call[tail] <= minret {
                tail += 1;
                tail - 1
            } else {
                return None;
            };
            if call[c] <= minret
                && (!program_order || self.prev_done(prev[c]))
                && self.prev_done(twin[c])
            {
                return Some(c);
            }
        })
    }

    /// The least return time among completed operations not linearized.
    fn minret(&self, part: &Part) -> u64 {
        let mut m = part.suffix_min_ret[self.hi];
        let mut x = self.next_hole(self.p);
        while let Some(h) = x {
            m = m.min(part.ret[h]);
            x = self.next_hole(h + 1);
        }
        m
    }

    fn prev_done(&self, prev: u32) -> bool {
        prev == NONE || self.is_lin(prev as usize)
    }

    /// None of the later operations of optional `q`'s thread that bound it
    /// (`Part::psucc`) has taken effect.
    fn no_successor_done(&self, part: &Part, q: usize) -> bool {
        let n = part.completed();
        part.psucc[part.psucc_start[q] as usize..part.psucc_start[q + 1] as usize]
            .iter()
            .all(|&item| {
                let item = item as usize;
                if item < n {
                    !self.is_lin(item)
                } else {
                    !self.is_plin(item - n)
                }
            })
    }

    /// A candidate observer whose result matches the current cell.
    fn forced_observer(&self, part: &Part, minret: u64) -> Option<(usize, Option<Value>)> {
        // Not an observer called after the deadline of a pending operation
        // not yet linearized: moving it earlier would rule out that the
        // pending one takes effect before it.
        // (One whose deadline has passed can never be linearized: ignore it.)
        let latest_call = self.latest_completed_call(part);
        let open_deadline = (0..part.pending())
            .filter(|&q| !self.is_plin(q) && part.pdeadline[q] >= latest_call)
            .map(|q| part.pdeadline[q])
            .min()
            .unwrap_or(u64::MAX);
        // Nor one that would rule out an optional operation of its thread
        // still open (it returned after this observer's call: program
        // order puts it first, if it takes effect).
        let bounds_open = |x: usize| {
            part.bounds[part.bounds_start[x] as usize..part.bounds_start[x + 1] as usize]
                .iter()
                .any(|&q| !self.is_plin(q as usize) && part.pdeadline[q as usize] >= latest_call)
        };
        self.candidates(part, minret, 0)
            .filter(|&x| {
                part.observer[x]
                    && part.call[x] <= open_deadline
                    && (part.bounds.is_empty() || !bounds_open(x))
            })
            .find_map(|x| {
                let (ret, cell) = spec::apply(self.cell, &part.op[x]);
                (ret == part.result[x]).then_some((x, cell))
            })
    }

    /// The first candidate at or after `start` (in candidate order) that the
    /// spec accepts, with the cell after it.
    fn next_candidate(&self, part: &Part, minret: u64, start: u32) -> Option<(u32, Option<Value>)> {
        let n = part.completed();
        let start = start as usize;
        if start < n {
            let found = self.candidates(part, minret, start).find_map(|x| {
                let (ret, cell) = spec::apply(self.cell, &part.op[x]);
                (ret == part.result[x]).then_some((x as u32, cell))
            });
            if found.is_some() {
                return found;
            }
        }
        let latest_call = self.latest_call(part);
        for q in start.saturating_sub(n)..part.pending() {
            if !self.is_plin(q)
                && part.pcall[q] <= minret
                && self.prev_done(part.pprev[q])
                && !(self.after_pending && part.pblind[q])
                && part.pdeadline[q] >= latest_call
                && self.no_successor_done(part, q)
                && (part.program_order
                    || part.ptwin[q] == NONE
                    || self.is_plin(part.ptwin[q] as usize))
            {
                let (ret, cell) = spec::apply(self.cell, &part.pop[q]);
                // A pending (or optional) operation that would leave the
                // cell as it is: "it never took effect" (or "it took effect
                // before the window") is as good, and keeps more choices
                // open, so it is not a branch. Without this, K such
                // operations cost 2^K configurations.
                if cell == self.cell {
                    continue;
                }
                if part.presult[q].is_none_or(|r| r == ret) {
                    return Some(((n + q) as u32, cell));
                }
            }
        }
        None
    }

    /// The latest call among the linearized completed operations (0 if
    /// none): the last one in call order is `hi - 1` or `p - 1`.
    fn latest_completed_call(&self, part: &Part) -> u64 {
        if self.hi > self.p + 1 {
            part.call[self.hi - 1]
        } else if self.p > 0 {
            part.call[self.p - 1]
        } else {
            0
        }
    }

    /// The latest call among the linearized operations (0 if none).
    fn latest_call(&self, part: &Part) -> u64 {
        let completed = self.latest_completed_call(part);
        (0..part.pending())
            .filter(|&q| self.is_plin(q))
            .map(|q| part.pcall[q])
            .fold(completed, u64::max)
    }

    fn linearize_completed(&mut self, x: usize, cell: Option<Value>) {
        self.after_pending = false;
        self.lin[x / 64] |= 1 << (x % 64);
        self.done += 1;
        self.cell = cell;
        if x >= self.hi {
            self.hi = x + 1;
        }
        if x == self.p {
            let mut p = x + 1;
            while p < self.hi && self.is_lin(p) {
                p += 1;
            }
            self.p = p;
            if p == self.hi {
                self.hi = p + 1;
            }
        }
    }

    /// The memo key. Word 0: `p`, the cell and after-pending tags, the
    /// window width `hi - p - 1`, and (top bit) which of two encodings of
    /// the window follows; word 1: the cell's value. Then either the bits
    /// of `(p, hi)` after the pending bits, or, when shorter, the *holes*:
    /// word 2 their count, then the pending bits, then the offsets from `p`
    /// of the operations in `(p, hi)` not linearized, two to a word. The
    /// holes of the window are operations open at the call of `hi - 1`, so
    /// at most one per thread (interval histories): one long operation
    /// keeps the window wide but adds one hole, and a configuration costs
    /// O(threads) words however long the history. The choice of encoding
    /// depends only on the set, so equal sets give equal keys.
    fn encode(&self, part: &Part, pwords: usize, key: &mut Vec<u64>, holes: &mut Vec<u32>) {
        key.clear();
        holes.clear();
        let width = self.hi - self.p - 1;
        let mut x = self.next_hole(self.p + 1);
        let bitset_words = width.div_ceil(64);
        while let Some(h) = x {
            holes.push((h - self.p) as u32);
            if 1 + holes.len().div_ceil(2) >= bitset_words {
                break;
            }
            x = self.next_hole(h + 1);
        }
        let use_holes = 1 + holes.len().div_ceil(2) < bitset_words;
        let tag = u64::from(self.cell.is_some()) | u64::from(self.after_pending) << 1;
        key.push(
            (self.p as u64) << 2 | tag | (width as u64) << 32 | u64::from(use_holes) << HOLES_BIT,
        );
        key.push(self.cell.unwrap_or(0) as u64);
        if use_holes {
            key.push(holes.len() as u64);
        }
        // Pending operations whose deadline has passed (called before the
        // latest linearized completed operation's call... by more than their
        // deadline) can never be linearized: whether they were is the same
        // to the future, so their bits are left out.
        let latest = self.latest_completed_call(part);
        for (w, &bits) in self.plin[..pwords].iter().enumerate() {
            let mut bits = bits;
            let mut m = bits;
            while m != 0 {
                let q = w * 64 + m.trailing_zeros() as usize;
                if part.pkeep[q] < latest {
                    bits &= !(1 << (q % 64));
                }
                m &= m - 1;
            }
            key.push(bits);
        }
        if use_holes {
            for pair in holes.chunks(2) {
                key.push(u64::from(pair[0]) | pair.get(1).map_or(0, |&h| u64::from(h) << 32));
            }
            return;
        }
        let start = self.p + 1;
        let mut left = width;
        let mut pos = start;
        while left > 0 {
            let (w, sh) = (pos / 64, pos % 64);
            let mut bits = self.lin[w] >> sh;
            if sh != 0 {
                bits |= self.lin[w + 1] << (64 - sh);
            }
            if left < 64 {
                bits &= (1u64 << left) - 1;
                left = 0;
            } else {
                left -= 64;
            }
            key.push(bits);
            pos += 64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lincheck::linearizable_from;

    const OPEN: Budget = Budget {
        deadline: None,
        max_memory: 1 << 30,
        reject_unwritten: true,
    };

    fn opt(v: Option<Value>) -> Ret {
        Ret::Opt(v)
    }

    /// Does the search linearize `ops`, the first `optional` of them
    /// optional, from `init`?
    fn from(ops: &[Operation], optional: usize, init: Option<Value>) -> bool {
        let marks: Vec<bool> = (0..ops.len()).map(|i| i < optional).collect();
        linearizable_from(ops, Some(&marks), &[init], &OPEN).expect("decided")
    }

    /// The reproducer of `counterexamples_are_minimal`'s failures (a
    /// loom-shaped window, key holding 2): thread 1's optional insert
    /// overlaps its own next call, a remove. Program order puts the insert
    /// (if it took effect at all) before that remove, and then nothing
    /// linearizes: the insert needs an empty key, and without it thread 1's
    /// remove empties the key before thread 0 removes 2. The search used to
    /// let the insert take effect after its thread's remove (remove -> 2,
    /// insert -> None, remove -> 2), because only its return bounded it.
    #[test]
    fn an_optional_operation_takes_effect_before_its_threads_next_call() {
        let ops = [
            Operation::returned(1, 3, 5, Op::Insert { key: 0, value: 2 }, opt(None)),
            Operation::returned(1, 4, 6, Op::Remove { key: 0 }, opt(Some(2))),
            Operation::returned(0, 8, 9, Op::Remove { key: 0 }, opt(Some(2))),
        ];
        assert!(!from(&ops, 1, Some(2)));
        // The order program order allows is still found: from an empty key
        // the insert goes first, then the two removes see 2 and nothing.
        let ops_ok = [
            ops[0].clone(),
            ops[1].clone(),
            Operation::returned(0, 8, 9, Op::Remove { key: 0 }, opt(None)),
        ];
        assert!(from(&ops_ok, 1, None));
    }

    /// Program order binds the optional operation to its own thread only:
    /// another thread's operation called before the optional one returned
    /// may still come before it. Here the key holds 7; thread 2's remove
    /// (called at 4, before the insert returned at 5) must come first, so
    /// that the insert sees an empty key and thread 1's remove sees 2. (A
    /// fix that cut the optional operation's deadline to one before its
    /// thread's next call, 3, would reject this.)
    #[test]
    fn an_optional_operation_may_follow_another_threads_overlapping_call() {
        let ops = [
            Operation::returned(1, 3, 5, Op::Insert { key: 0, value: 2 }, opt(None)),
            Operation::returned(1, 4, 6, Op::Remove { key: 0 }, opt(Some(2))),
            Operation::returned(2, 4, 6, Op::Remove { key: 0 }, opt(Some(7))),
            Operation::returned(0, 8, 9, Op::Get { key: 0 }, opt(None)),
        ];
        assert!(from(&ops, 1, Some(7)));
    }

    /// The same rule when the later operation of the thread is optional or
    /// pending (it may itself never take effect, but if it does, the
    /// earlier one cannot follow it). Only "2 then 1" explains the final
    /// read, and program order forbids it.
    #[test]
    fn an_optional_operation_does_not_follow_a_later_optional_or_pending_one() {
        let first = Operation::returned(1, 3, 6, Op::Insert { key: 0, value: 1 }, opt(Some(2)));
        let read = Operation::returned(0, 9, 10, Op::Get { key: 0 }, opt(Some(1)));
        let optional_second =
            Operation::returned(1, 4, 7, Op::Insert { key: 0, value: 2 }, opt(None));
        assert!(!from(
            &[first.clone(), optional_second, read.clone()],
            2,
            None
        ));
        let pending_second = Operation::pending(1, 4, Op::Insert { key: 0, value: 2 });
        assert!(!from(&[first, pending_second, read], 1, None));
    }

    /// An observer that is the next call of an optional operation's thread
    /// is not linearized at once (the forced-observer rule) while that
    /// optional operation may still take effect: doing so would rule it
    /// out. Here the only order is: insert 2 (optional), then thread 1's
    /// `contains_key` (true either way), then the read of 2.
    #[test]
    fn an_observer_does_not_jump_ahead_of_its_threads_optional_operation() {
        let ops = [
            Operation::returned(1, 3, 5, Op::Insert { key: 0, value: 2 }, opt(Some(1))),
            Operation::returned(1, 4, 6, Op::ContainsKey { key: 0 }, Ret::Bool(true)),
            Operation::returned(0, 8, 9, Op::Get { key: 0 }, opt(Some(2))),
        ];
        assert!(from(&ops, 1, Some(1)));
    }

    /// The memo key keeps a pending operation's bit past its own deadline
    /// while an optional operation of its thread that it bounds is still
    /// open: whether it took effect decides whether that one still may.
    /// Thread 1: optional insert `A` [3, 10], pending insert `B` at 4
    /// (deadline 5: its thread calls again at 6), `get` `C` [6, 11];
    /// thread 2: `compute` `D` [7, 8]. With `D` linearized (latest call 7,
    /// past `B`'s deadline), "`B` took effect" (then `A` cannot) and "`B`
    /// never did" (then `A` still may) are different configurations; a
    /// key that dropped `B`'s bit would let the memo answer one by the
    /// other.
    #[test]
    fn the_memo_keeps_a_bit_that_still_bounds_an_optional_operation() {
        let ops = [
            Operation::returned(1, 3, 10, Op::Insert { key: 0, value: 7 }, opt(Some(5))),
            Operation::pending(1, 4, Op::Insert { key: 0, value: 9 }),
            Operation::returned(1, 6, 11, Op::Get { key: 0 }, opt(Some(7))),
            Operation::returned(
                2,
                7,
                8,
                Op::Compute {
                    key: 0,
                    func: spec::Func::Set(5),
                },
                opt(Some(5)),
            ),
        ];
        let marks = [true, false, false, false];
        let part = Part::new(&ops, &deadlines(&ops), Some(&marks));
        let (n, pwords) = (part.completed(), part.pending().div_ceil(64));
        let key = |b_done: bool| {
            let mut s = State {
                lin: vec![0; n / 64 + 2],
                plin: vec![0; pwords.max(1)],
                p: 0,
                hi: 1,
                done: 0,
                cell: None,
                after_pending: false,
            };
            // D is completed operation 1 (sorted by call); B is pending 1.
            s.linearize_completed(1, Some(5));
            if b_done {
                s.plin[0] |= 1 << 1;
            }
            assert_eq!(s.no_successor_done(&part, 0), !b_done);
            let (mut key, mut holes) = (Vec::new(), Vec::new());
            s.encode(&part, pwords, &mut key, &mut holes);
            key
        };
        assert_ne!(key(true), key(false));
        // And the search finds D, A, C (B never took effect).
        assert!(from(&ops, 1, None));
    }
}
