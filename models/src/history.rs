//! Recording operation histories.
//!
//! An [`Operation`] is (thread, call time, return time or pending, operation
//! and arguments, result). Three ways to record one:
//!
//! - **Real threads**: [`History::new`]. A shared counter is bumped with
//!   `SeqCst` just before each call and just after each return, so if `A`
//!   returned before `B` was called on any two threads, `A.ret < B.call`.
//! - **Shuttle**: [`History::for_model`]. Shuttle runs one thread at a time,
//!   so a plain counter outside the model (a `Relaxed` std atomic, which the
//!   model does not see and which adds no schedule point) orders events.
//! - **Loom**: [`PhasedHistory`]. Under loom the schedule order is not real
//!   time (a load may read an older value), so a loom scenario has the
//!   Lincheck shape: a sequential prefix, a parallel part in which every
//!   operation overlaps every operation of the other threads, and a suffix
//!   after `join`. Operations of one thread in the parallel part keep
//!   program order (the checker orders same-thread operations by `call`).
//!
//! Besides single-key [`Operation`]s, a history may hold [`Scan`]s: calls
//! of `len` and `iter`, which read the whole map and promise less than
//! linearizability (see [`crate::lincheck::weak`]). [`Recorder::record_len`]
//! and [`Recorder::record_iter`] record them, [`History::recording`] returns
//! both kinds as a [`Recording`].
//!
//! Invariants of a recorded history: each operation's `call` is less than
//! its `ret`; one thread's calls are distinct and increase in program order;
//! a thread's pending operation (if any) is its last. Histories from
//! [`History`] also never overlap two operations of one thread, so they can
//! be written in the JSON Lines format ([`crate::jsonl`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::spec::{Key, Op, Ret};

/// One operation of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The thread (process) that ran the operation.
    pub thread: u64,
    /// Logical time just before the call.
    pub call: u64,
    /// The operation and its arguments.
    pub op: Op,
    /// How it ended.
    pub outcome: Outcome,
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It returned `result` at logical time `ret` (`ret > call`).
    Returned {
        /// Logical time just after the return.
        ret: u64,
        /// What the operation returned.
        result: Ret,
    },
    /// It never returned (crashed, or still running when recording stopped):
    /// it took effect at some point after its call, or never.
    Pending,
}

impl Operation {
    /// A completed operation.
    pub fn returned(thread: u64, call: u64, ret: u64, op: Op, result: impl Into<Ret>) -> Self {
        Operation {
            thread,
            call,
            op,
            outcome: Outcome::Returned {
                ret,
                result: result.into(),
            },
        }
    }

    /// A pending operation.
    pub fn pending(thread: u64, call: u64, op: Op) -> Self {
        Operation {
            thread,
            call,
            op,
            outcome: Outcome::Pending,
        }
    }

    /// The return time, `None` if pending.
    pub fn ret(&self) -> Option<u64> {
        match self.outcome {
            Outcome::Returned { ret, .. } => Some(ret),
            Outcome::Pending => None,
        }
    }

    /// The result, `None` if pending.
    pub fn result(&self) -> Option<Ret> {
        match self.outcome {
            Outcome::Returned { result, .. } => Some(result),
            Outcome::Pending => None,
        }
    }

    /// True if `self` precedes `other` in real time (`self.ret < other.call`).
    pub fn precedes(&self, other: &Operation) -> bool {
        matches!(self.ret(), Some(r) if r < other.call)
    }
}

/// A whole-map read: `len` or `iter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScanOp {
    /// `len() -> usize`
    Len,
    /// `iter()`, of which the keys are recorded, in the order yielded.
    Iter,
}

impl ScanOp {
    /// The method's name (and the `op` of the history file format).
    pub fn name(self) -> &'static str {
        match self {
            ScanOp::Len => "len",
            ScanOp::Iter => "iter",
        }
    }
}

/// What a [`Scan`] returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scanned {
    /// The count `len` returned (an `i64`, so that a file can record a
    /// negative count, which the weak check reports).
    Len(i64),
    /// The keys `iter` yielded, in order.
    Keys(Vec<Key>),
}

/// One call of `len` or `iter`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scan {
    /// The thread that ran it.
    pub thread: u64,
    /// Logical time just before the call.
    pub call: u64,
    /// Which scan.
    pub op: ScanOp,
    /// `Some((ret, result))` if it returned; `None` if pending.
    pub outcome: Option<(u64, Scanned)>,
}

impl Scan {
    /// A completed `len`.
    pub fn len_returned(thread: u64, call: u64, ret: u64, count: i64) -> Scan {
        Scan {
            thread,
            call,
            op: ScanOp::Len,
            outcome: Some((ret, Scanned::Len(count))),
        }
    }

    /// A completed `iter` that yielded `keys`.
    pub fn iter_returned(thread: u64, call: u64, ret: u64, keys: Vec<Key>) -> Scan {
        Scan {
            thread,
            call,
            op: ScanOp::Iter,
            outcome: Some((ret, Scanned::Keys(keys))),
        }
    }

    /// A scan that never returned.
    pub fn pending(thread: u64, call: u64, op: ScanOp) -> Scan {
        Scan {
            thread,
            call,
            op,
            outcome: None,
        }
    }

    /// The return time, `None` if pending.
    pub fn ret(&self) -> Option<u64> {
        self.outcome.as_ref().map(|(r, _)| *r)
    }
}

/// A whole recorded history: single-key operations and scans.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recording {
    /// The single-key operations (checked for linearizability).
    pub operations: Vec<Operation>,
    /// The `len` and `iter` calls (checked against their weaker promises).
    pub scans: Vec<Scan>,
}

impl From<Vec<Operation>> for Recording {
    fn from(operations: Vec<Operation>) -> Recording {
        Recording {
            operations,
            scans: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Shared {
    clock: AtomicU64,
    ordering: Ordering,
    log: Mutex<Vec<Operation>>,
    scans: Mutex<Vec<Scan>>,
}

/// A history that many threads record into at once.
///
/// `History` is a cheap handle (an `Arc`); clone it into each thread, or
/// hand each thread a [`Recorder`]. Each recorder keeps its operations
/// locally and adds them to the history when dropped, so recording adds no
/// lock to the code under test.
///
/// ```
/// use kovan_map_models::history::History;
/// use kovan_map_models::spec::{Op, Spec};
/// use std::sync::Mutex;
///
/// let map = Mutex::new(Spec::new()); // stands in for a concurrent map
/// let history = History::new();
/// std::thread::scope(|s| {
///     for t in 0..2 {
///         let mut rec = history.recorder(t);
///         let map = &map;
///         s.spawn(move || {
///             let op = Op::Insert { key: 1, value: t as i64 };
///             rec.record(op, || map.lock().unwrap().step(&op));
///         });
///     }
/// });
/// assert_eq!(history.operations().len(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct History {
    shared: Arc<Shared>,
}

impl Default for History {
    fn default() -> Self {
        History::new()
    }
}

impl History {
    /// A history for real threads: the clock is bumped with `SeqCst`.
    pub fn new() -> History {
        History::with_ordering(Ordering::SeqCst)
    }

    /// A history for shuttle: a plain counter outside the model (the model
    /// runs one thread at a time, so `Relaxed` orders its events).
    pub fn for_model() -> History {
        History::with_ordering(Ordering::Relaxed)
    }

    fn with_ordering(ordering: Ordering) -> History {
        History {
            shared: Arc::new(Shared {
                clock: AtomicU64::new(0),
                ordering,
                log: Mutex::new(Vec::new()),
                scans: Mutex::new(Vec::new()),
            }),
        }
    }

    /// A recorder for one thread. Use one recorder per thread id.
    pub fn recorder(&self, thread: u64) -> Recorder {
        Recorder {
            history: self.clone(),
            thread,
            local: Vec::new(),
            scans: Vec::new(),
        }
    }

    fn tick(&self) -> u64 {
        // ORDERING: SeqCst on real threads: every tick is in one total order
        // with all SeqCst operations, so a return tick taken after the call
        // returned is below a call tick taken later on any thread.
        self.shared.clock.fetch_add(1, self.shared.ordering)
    }

    fn append(&self, ops: &mut Vec<Operation>, scans: &mut Vec<Scan>) {
        if !ops.is_empty() {
            let mut log = self
                .shared
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            log.append(ops);
        }
        if !scans.is_empty() {
            let mut log = self
                .shared
                .scans
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            log.append(scans);
        }
    }

    /// The scans recorded so far by dropped recorders, sorted by call.
    pub fn scans(&self) -> Vec<Scan> {
        let mut scans = self
            .shared
            .scans
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        scans.sort_by_key(|s| (s.call, s.thread));
        scans
    }

    /// Operations and scans recorded so far by dropped recorders.
    pub fn recording(&self) -> Recording {
        Recording {
            operations: self.operations(),
            scans: self.scans(),
        }
    }

    /// The operations recorded so far by dropped recorders, sorted by call.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = self
            .shared
            .log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        ops.sort_by_key(|o| (o.call, o.thread));
        ops
    }
}

/// Records the operations of one thread; see [`History`].
///
/// Dropping the recorder adds its operations to the history.
#[derive(Debug)]
pub struct Recorder {
    history: History,
    thread: u64,
    local: Vec<Operation>,
    scans: Vec<Scan>,
}

impl Recorder {
    /// The thread id this recorder writes.
    pub fn thread(&self) -> u64 {
        self.thread
    }

    /// Runs `f` (the call of `op` on the map under test) between two clock
    /// ticks and records it. Returns what `f` returned. If `f` panics, the
    /// operation is recorded as pending.
    ///
    /// # Panics
    /// If `f`'s return value converts to a [`Ret`] of another shape than
    /// `op` returns (a mistake in the test, not in the map).
    #[track_caller]
    pub fn record<R: Into<Ret> + Clone>(&mut self, op: Op, f: impl FnOnce() -> R) -> R {
        let call = self.begin(op);
        let out = f();
        call.finish(out.clone());
        out
    }

    /// Starts `op` now; finish it with [`Call::finish`]. A call dropped
    /// unfinished (the thread crashed, or recording stopped) is recorded as
    /// pending.
    pub fn begin(&mut self, op: Op) -> Call<'_> {
        let call = self.history.tick();
        Call {
            recorder: self,
            op,
            call,
            done: false,
        }
    }
}

impl Recorder {
    /// Runs `f` (a call of `len` on the map under test) between two clock
    /// ticks and records it as a `len` scan. If `f` panics, the scan is
    /// recorded as pending.
    pub fn record_len(&mut self, f: impl FnOnce() -> usize) -> usize {
        let call = self.begin_scan(ScanOp::Len);
        let n = f();
        call.finish(Scanned::Len(i64::try_from(n).unwrap_or(i64::MAX)));
        n
    }

    /// Runs `f` (an iteration over the map under test, giving the keys it
    /// yielded in order) between two clock ticks and records it as an
    /// `iter` scan. If `f` panics, the scan is recorded as pending.
    pub fn record_iter<I: IntoIterator<Item = Key>>(&mut self, f: impl FnOnce() -> I) -> Vec<Key> {
        let call = self.begin_scan(ScanOp::Iter);
        let keys: Vec<Key> = f().into_iter().collect();
        call.finish(Scanned::Keys(keys.clone()));
        keys
    }

    fn begin_scan(&mut self, op: ScanOp) -> ScanCall<'_> {
        let call = self.history.tick();
        ScanCall {
            recorder: self,
            op,
            call,
            done: false,
        }
    }
}

/// A scan that has been called and not yet finished; dropped unfinished,
/// it is recorded as pending.
struct ScanCall<'r> {
    recorder: &'r mut Recorder,
    op: ScanOp,
    call: u64,
    done: bool,
}

impl ScanCall<'_> {
    fn finish(mut self, result: Scanned) {
        let ret = self.recorder.history.tick();
        self.done = true;
        self.recorder.scans.push(Scan {
            thread: self.recorder.thread,
            call: self.call,
            op: self.op,
            outcome: Some((ret, result)),
        });
    }
}

impl Drop for ScanCall<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.recorder.scans.push(Scan {
                thread: self.recorder.thread,
                call: self.call,
                op: self.op,
                outcome: None,
            });
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.history.append(&mut self.local, &mut self.scans);
    }
}

#[track_caller]
fn check_shape(op: &Op, result: &Ret) {
    assert!(
        op.ret_kind() == result.kind(),
        "{op} returns {:?}, but the recorded result {result} is {:?}",
        op.ret_kind(),
        result.kind()
    );
}

/// An operation that has been called and not yet finished.
#[derive(Debug)]
pub struct Call<'r> {
    recorder: &'r mut Recorder,
    op: Op,
    call: u64,
    done: bool,
}

impl Call<'_> {
    /// The operation returned `result`.
    ///
    /// # Panics
    /// If `result` has another shape than `op` returns.
    #[track_caller]
    pub fn finish(mut self, result: impl Into<Ret>) {
        let ret = self.recorder.history.tick();
        let result = result.into();
        check_shape(&self.op, &result);
        self.done = true;
        self.recorder.local.push(Operation {
            thread: self.recorder.thread,
            call: self.call,
            op: self.op,
            outcome: Outcome::Returned { ret, result },
        });
    }
}

impl Drop for Call<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.recorder.local.push(Operation {
                thread: self.recorder.thread,
                call: self.call,
                op: self.op,
                outcome: Outcome::Pending,
            });
        }
    }
}

/// The operations one thread ran in the parallel part of a
/// [`PhasedHistory`], in program order.
#[derive(Clone, Debug, Default)]
pub struct ThreadLog {
    entries: Vec<(Op, Ret)>,
}

impl ThreadLog {
    /// An empty log.
    pub fn new() -> ThreadLog {
        ThreadLog::default()
    }

    /// Runs `f` (the call of `op`) and logs it. Returns what `f` returned.
    ///
    /// # Panics
    /// If the result has another shape than `op` returns.
    #[track_caller]
    pub fn record<R: Into<Ret> + Clone>(&mut self, op: Op, f: impl FnOnce() -> R) -> R {
        let out = f();
        let result: Ret = out.clone().into();
        check_shape(&op, &result);
        self.entries.push((op, result));
        out
    }

    /// The logged operations.
    pub fn entries(&self) -> &[(Op, Ret)] {
        &self.entries
    }
}

/// A Lincheck-shaped history for loom: sequential prefix, parallel part,
/// suffix.
///
/// Times are assigned so that every parallel operation overlaps every
/// parallel operation of another thread, the prefix precedes all of them
/// and the suffix follows all of them. Within one thread of the parallel
/// part the operations overlap in time too (loom has no real time), and the
/// checker orders them by program order (their `call`). The prefix and
/// suffix run on thread 0; the parallel threads are 1, 2, ... in the order
/// they are added.
///
/// ```
/// use kovan_map_models::history::{PhasedHistory, ThreadLog};
/// use kovan_map_models::spec::{Op, Ret};
/// let mut h = PhasedHistory::new();
/// h.prefix(Op::Insert { key: 1, value: 1 }, || None::<i64>);
/// let mut a = ThreadLog::new();
/// a.record(Op::Remove { key: 1 }, || Some(1));
/// let mut b = ThreadLog::new();
/// b.record(Op::Get { key: 1 }, || Some(1));
/// h.add_thread(a);
/// h.add_thread(b);
/// h.suffix(Op::Get { key: 1 }, || None::<i64>);
/// assert_eq!(h.operations().len(), 4);
/// ```
#[derive(Clone, Debug, Default)]
pub struct PhasedHistory {
    prefix: Vec<(Op, Ret)>,
    threads: Vec<ThreadLog>,
    suffix: Vec<(Op, Ret)>,
}

impl PhasedHistory {
    /// An empty history.
    pub fn new() -> PhasedHistory {
        PhasedHistory::default()
    }

    /// Runs `f` as the next prefix operation (before any thread starts).
    ///
    /// # Panics
    /// If the result has another shape than `op` returns.
    #[track_caller]
    pub fn prefix<R: Into<Ret> + Clone>(&mut self, op: Op, f: impl FnOnce() -> R) -> R {
        let out = f();
        let result: Ret = out.clone().into();
        check_shape(&op, &result);
        self.prefix.push((op, result));
        out
    }

    /// Adds one thread of the parallel part.
    pub fn add_thread(&mut self, log: ThreadLog) {
        self.threads.push(log);
    }

    /// Runs `f` as the next suffix operation (after every thread joined).
    ///
    /// # Panics
    /// If the result has another shape than `op` returns.
    #[track_caller]
    pub fn suffix<R: Into<Ret> + Clone>(&mut self, op: Op, f: impl FnOnce() -> R) -> R {
        let out = f();
        let result: Ret = out.clone().into();
        check_shape(&op, &result);
        self.suffix.push((op, result));
        out
    }

    /// The history with times assigned.
    pub fn operations(&self) -> Vec<Operation> {
        let mut ops = Vec::new();
        let mut t = 1;
        for (op, result) in &self.prefix {
            ops.push(Operation::returned(0, t, t + 1, *op, *result));
            t += 2;
        }
        // Parallel part: thread i's j-th call at base + j, its return at
        // base + width + j. Every call is below every return, so operations
        // of different threads all overlap.
        let width = self
            .threads
            .iter()
            .map(|l| l.entries.len())
            .max()
            .unwrap_or(0) as u64;
        for (i, log) in self.threads.iter().enumerate() {
            for (j, (op, result)) in log.entries.iter().enumerate() {
                let j = j as u64;
                ops.push(Operation::returned(
                    i as u64 + 1,
                    t + j,
                    t + width + j,
                    *op,
                    *result,
                ));
            }
        }
        t += 2 * width + 1;
        for (op, result) in &self.suffix {
            ops.push(Operation::returned(0, t, t + 1, *op, *result));
            t += 2;
        }
        ops
    }
}
