//! The linearizability checker.
//!
//! [`check`] decides whether a history has a linearization: a sequential
//! order of its operations, consistent with real-time precedence (`A`
//! precedes `B` iff `A.ret < B.call`, and operations of one thread keep
//! program order), in which every completed operation returns what the
//! sequential [`spec`](crate::spec) returns, and every pending operation
//! either takes effect at some point after its call or never.
//!
//! How:
//! 1. **Split by key.** Every operation touches one key, and a map is the
//!    product of independent cells, so the history is linearizable iff
//!    each key's sub-history is (Herlihy and Wing's locality; for
//!    loom-shaped histories, which order only by program order, this is the
//!    per-key check, which is what an acquire/release map promises).
//! 2. **Smallest keys first**, so a failure is found fast.
//! 3. **Search each key** (see `search`): Wing and Gong's backtracking over
//!    candidate operations, Lowe's memo of configurations (linearized set,
//!    cell), the set stored as a window over the operations still open, and
//!    observers linearized without branching.
//! 4. **On failure, shrink** (see `minimize`): the smallest prefix in time
//!    that fails, the latest start from which it fails whatever the key held
//!    before, then any operations dropped, one chunk at a time down to one
//!    at a time, while what is left still fails: the result is *minimal*
//!    (no single operation can be dropped; see [`Counterexample::minimal`]).
//!    It prints as a timeline ([`Counterexample::timeline`]) and draws as
//!    SVG ([`Counterexample::svg`]).
//! 5. **Scans** (`len`, `iter`; see [`weak`]) are checked against their
//!    weaker promises by [`check_recording`], beside the per-key check.
//!
//! A search stopped by the time or memory limit ([`Limits`]) answers
//! [`Verdict::Undecided`]; the checker never guesses. The time limit bounds
//! the whole check, shrinking included.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::history::{Operation, Outcome, Recording};
use crate::spec::{Key, Value};

mod memo;
mod minimize;
mod render;
mod search;
pub mod weak;

pub use search::Limit;

/// Limits of a check.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The whole check, shrinking included, ends within this long (plus
    /// the few milliseconds of building the answer): deciding past it
    /// answers undecided, and shrinking stops with the smallest failing
    /// sub-history found so far (marked not minimal). `None`: no limit.
    pub timeout: Option<Duration>,
    /// Give up on a key when its memo would hold more than this many bytes
    /// (counted as allocated: every arena chunk and the table).
    pub max_memory: usize,
    /// At most this long shrinking a counterexample, and never past
    /// `timeout`.
    pub shrink_time: Duration,
    /// Reject at once a history in which some result needs the key to hold
    /// a value that no operation writes (a read of garbage), before any
    /// search. On by default; off only to measure the search itself.
    pub reject_unwritten: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: None,
            max_memory: 1 << 30,
            shrink_time: Duration::from_secs(10),
            reject_unwritten: true,
        }
    }
}

/// The outcome of [`check`].
#[derive(Clone, Debug)]
pub struct Report {
    /// The answer.
    pub verdict: Verdict,
    /// What the check did.
    pub stats: Stats,
}

/// The answer of a check.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Some linearization exists.
    Linearizable,
    /// No linearization exists; a small failing sub-history of one key.
    NotLinearizable(Box<Counterexample>),
    /// A limit was hit before an answer: the keys not decided.
    Undecided {
        /// The keys whose sub-histories were not decided.
        keys: Vec<Key>,
        /// The limit that was hit first.
        limit: Limit,
    },
}

impl Verdict {
    /// True for [`Verdict::Linearizable`].
    pub fn is_linearizable(&self) -> bool {
        matches!(self, Verdict::Linearizable)
    }

    /// The counterexample, if the history is not linearizable.
    pub fn counterexample(&self) -> Option<&Counterexample> {
        match self {
            Verdict::NotLinearizable(c) => Some(c),
            _ => None,
        }
    }
}

/// Counters of a check.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Operations in the history.
    pub operations: usize,
    /// Distinct keys.
    pub keys: usize,
    /// Operations of the largest key.
    pub largest_partition: usize,
    /// Configurations the searches entered (memo entries), shrinking
    /// excluded.
    pub states: u64,
    /// Linearization steps taken, shrinking excluded.
    pub steps: u64,
    /// The most memory one key's memo held, in bytes.
    pub peak_memo_bytes: usize,
    /// Time spent deciding (shrinking excluded).
    pub check_time: Duration,
    /// Time spent shrinking the counterexample.
    pub shrink_time: Duration,
}

/// A failing sub-history of one key, as small as the shrinking found.
///
/// It is not linearizable on its own, and the full history fails because
/// of it: every operation here is from the history, with its real times
/// and results (operations cut off at the start or end are shown pending).
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// The key.
    pub key: Key,
    /// False: the key starts absent (as in the history). True: the
    /// operations before these were cut away, and these fail whatever the
    /// key held before the first of them.
    pub any_initial: bool,
    /// The operations, sorted by call.
    pub ops: Vec<Operation>,
    /// Indices into `ops` of the operations whose return made the history
    /// fail (no linearization of the operations before it fails).
    pub culprits: Vec<usize>,
    /// Indices into `ops` of operations that were running when the shown
    /// window starts: each may have taken effect before the window (then it
    /// is not part of it) or inside it (then it returned what is shown).
    /// Checked on its own, the sub-history treats them as ordinary
    /// operations, which only makes it fail more surely.
    pub optional: Vec<usize>,
    /// Indices into `ops`: the longest sequence the search could linearize
    /// before it got stuck.
    pub longest_prefix: Vec<usize>,
    /// Operations on this key in the full history.
    pub key_operations: usize,
    /// Why it fails, when that can be said in a sentence.
    pub note: Option<String>,
    /// True if no single operation can be dropped from `ops` with what is
    /// left still failing (under the same rule for the initial cell, and
    /// the same optional operations). False only when a time limit stopped
    /// the shrinking first.
    pub minimal: bool,
}

impl Counterexample {
    /// The sub-history as a text timeline, one row per thread.
    pub fn timeline(&self) -> String {
        render::timeline(self)
    }

    /// The sub-history as an SVG picture.
    pub fn svg(&self) -> String {
        render::svg(self)
    }
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.timeline())
    }
}

/// A history that is not well formed (for in-memory histories; files are
/// checked by [`crate::jsonl::parse`] first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidHistory {
    /// Index of the offending operation.
    pub index: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for InvalidHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operation {}: {}", self.index, self.message)
    }
}

impl std::error::Error for InvalidHistory {}

/// Checks that `ops` is a well-formed history: `ret > call`, results of
/// the right shape, and one thread's calls distinct.
///
/// In memory the checker accepts two shapes the file format does not:
/// overlapping operations of one thread (loom-shaped histories: they keep
/// program order, by `call`), and a pending operation followed by more of
/// its thread (a counterexample shows an operation that was running when
/// its window starts as pending): it returned before its thread's next
/// call on the same key, so it takes effect before then (in real time, with
/// respect to every thread), or never. (Per key, so that a key's
/// sub-history means the same on its own.)
pub fn validate(ops: &[Operation]) -> Result<(), InvalidHistory> {
    let bad = |index: usize, message: String| Err(InvalidHistory { index, message });
    let mut threads: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        if let Outcome::Returned { ret, result } = o.outcome {
            if ret <= o.call {
                return bad(i, format!("ret {ret} is not after call {}", o.call));
            }
            if result.kind() != o.op.ret_kind() {
                return bad(i, format!("{} cannot return {result}", o.op));
            }
        }
        threads.entry(o.thread).or_default().push(i);
    }
    for idx in threads.values_mut() {
        idx.sort_by_key(|&i| (ops[i].call, i));
        for w in idx.windows(2) {
            let (a, b) = (&ops[w[0]], &ops[w[1]]);
            if a.call == b.call {
                return bad(
                    w[1],
                    format!("same call time as operation {} of its thread", w[0]),
                );
            }
        }
    }
    Ok(())
}

/// Checks `ops` for linearizability with the default [`Limits`].
pub fn check(ops: &[Operation]) -> Result<Report, InvalidHistory> {
    check_with(ops, &Limits::default())
}

/// Checks `ops` for linearizability.
pub fn check_with(ops: &[Operation], limits: &Limits) -> Result<Report, InvalidHistory> {
    validate(ops)?;
    let started = Instant::now();
    let deadline = limits.timeout.map(|t| started + t);
    let budget = search::Budget {
        deadline,
        max_memory: limits.max_memory,
        reject_unwritten: limits.reject_unwritten,
    };
    let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        by_key.entry(o.op.key()).or_default().push(i);
    }
    let mut parts: Vec<(Key, Vec<usize>)> = by_key.into_iter().collect();
    parts.sort_by_key(|(k, idx)| (idx.len(), *k));
    if let Some((key, idx)) = parts.last() {
        if idx.len() > search::MAX_OPS {
            return Err(InvalidHistory {
                index: idx[search::MAX_OPS],
                message: format!(
                    "key {key} has more than {} operations, more than the checker handles",
                    search::MAX_OPS
                ),
            });
        }
    }
    let mut stats = Stats {
        operations: ops.len(),
        keys: parts.len(),
        largest_partition: parts.last().map_or(0, |(_, idx)| idx.len()),
        ..Stats::default()
    };
    let mut undecided: Vec<Key> = Vec::new();
    let mut first_limit = None;
    let mut sub: Vec<Operation> = Vec::new();
    for (pos, (key, idx)) in parts.iter().enumerate() {
        sub.clear();
        sub.extend(idx.iter().map(|&i| ops[i].clone()));
        let part = search::Part::new(&sub, &search::deadlines(&sub), None);
        let mut counters = search::Counters::default();
        let answer = search::search(&part, None, &budget, &mut counters, None);
        stats.states += counters.states;
        stats.steps += counters.steps;
        stats.peak_memo_bytes = stats.peak_memo_bytes.max(counters.memo_bytes);
        match answer {
            search::Answer::Linearizable => {}
            search::Answer::NotLinearizable => {
                stats.check_time = started.elapsed();
                let shrink_started = Instant::now();
                let shrink_deadline = match deadline {
                    Some(d) => d.min(shrink_started + limits.shrink_time),
                    None => shrink_started + limits.shrink_time,
                };
                let cx = minimize::shrink(*key, &sub, limits, counters.max_minret, shrink_deadline);
                stats.shrink_time = shrink_started.elapsed();
                return Ok(Report {
                    verdict: Verdict::NotLinearizable(Box::new(cx)),
                    stats,
                });
            }
            search::Answer::Undecided(limit) => {
                first_limit.get_or_insert(limit);
                undecided.push(*key);
                if limit == Limit::Time {
                    undecided.extend(parts[pos + 1..].iter().map(|(k, _)| *k));
                    break;
                }
            }
        }
    }
    stats.check_time = started.elapsed();
    let verdict = match first_limit {
        None => Verdict::Linearizable,
        Some(limit) => Verdict::Undecided {
            keys: undecided,
            limit,
        },
    };
    Ok(Report { verdict, stats })
}

/// The outcome of [`check_recording`]: linearizability of the single-key
/// operations, and the weaker promises of the scans.
#[derive(Clone, Debug)]
pub struct RecordingReport {
    /// The per-key linearizability check.
    pub report: Report,
    /// `Err`: the first scan (by call) that broke its promise.
    pub scans: Result<(), Box<weak::ScanViolation>>,
}

impl RecordingReport {
    /// True if the operations are linearizable and every scan kept its
    /// promise.
    pub fn is_ok(&self) -> bool {
        self.report.verdict.is_linearizable() && self.scans.is_ok()
    }
}

/// Checks a whole recording: its single-key operations for
/// linearizability ([`check_with`]) and its `len`/`iter` scans against
/// their weaker promises ([`weak::check_scans`]), which take no search and
/// are checked whatever the first verdict.
pub fn check_recording(
    recording: &Recording,
    limits: &Limits,
) -> Result<RecordingReport, InvalidHistory> {
    let report = check_with(&recording.operations, limits)?;
    let scans = weak::check_scans(&recording.operations, &recording.scans);
    Ok(RecordingReport { report, scans })
}

/// Panics with the counterexample's timeline unless `ops` is linearizable
/// (for tests of the maps).
///
/// # Panics
/// If the history is invalid, not linearizable, or undecided.
#[track_caller]
pub fn assert_linearizable(ops: &[Operation]) {
    match check(ops) {
        Err(e) => panic!("invalid history: {e}"),
        Ok(report) => match report.verdict {
            Verdict::Linearizable => {}
            Verdict::NotLinearizable(cx) => panic!("not linearizable:\n{}", cx.timeline()),
            Verdict::Undecided { keys, limit } => {
                panic!("undecided ({limit:?} limit) on keys {keys:?}")
            }
        },
    }
}

/// Panics with the counterexample unless the recording's operations are
/// linearizable and its scans keep their promises (for tests of the maps).
///
/// # Panics
/// If the history is invalid, not linearizable, undecided, or a scan broke
/// its promise.
#[track_caller]
pub fn assert_recording_ok(recording: &Recording) {
    assert_linearizable(&recording.operations);
    if let Err(v) = weak::check_scans(&recording.operations, &recording.scans) {
        panic!("a scan broke its promise:\n{}", v.timeline());
    }
}

/// Is `ops` (one key; `optional` marks optional operations, see
/// `search::Part::new`) linearizable from some cell in `inits`? `None` if a
/// limit stopped a search.
pub(crate) fn linearizable_from(
    ops: &[Operation],
    optional: Option<&[bool]>,
    inits: &[Option<Value>],
    budget: &search::Budget,
) -> Option<bool> {
    let part = search::Part::new(ops, &search::deadlines(ops), optional);
    let mut undecided = false;
    for &init in inits {
        let mut counters = search::Counters::default();
        match search::search(&part, init, budget, &mut counters, None) {
            search::Answer::Linearizable => return Some(true),
            search::Answer::NotLinearizable => {}
            search::Answer::Undecided(_) => undecided = true,
        }
    }
    if undecided {
        None
    } else {
        Some(false)
    }
}
