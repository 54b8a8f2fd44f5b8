//! The weaker promises of the whole-map reads, checked on a recorded
//! history alongside linearizability.
//!
//! The maps document (docs/linearizability.md):
//! - `len` is exact whenever no write is in flight, and never negative;
//! - `iter` yields every key present for the whole iteration exactly once,
//!   and never a key twice (keys inserted or removed meanwhile may or may
//!   not appear).
//!
//! Neither is linearizable, so neither takes part in the per-key search.
//! Each is checked against what *every* linearization of the single-key
//! operations agrees on, so a reported violation is one in every
//! linearization (no false alarms), at the price of missing some that only
//! a joint search would find. The facts used, per key:
//!
//! - *Presence after an event.* [`spec::presence_after`] says whether the
//!   key is present just after a completed operation, when its outcome
//!   alone says so (an insert: present; a remove: absent; a `get` that
//!   returned a value: present; a refused `remove_if`: unknown).
//! - *The last event before time `c`.* Of the completed operations on the
//!   key that returned before `c`, the one linearized last is *maximal*: no
//!   other of them was called after it returned (else that one comes
//!   later). So if every maximal one leaves the key present, it is present
//!   at the last of them; if none does, absent; with no such operation, it
//!   is absent (maps start empty).
//! - *In flight.* An operation is in flight during `[c, r]` if it was
//!   called by `r` and returned at or after `c`, or never returned. Only
//!   in-flight operations can take effect between the last event before
//!   `c` and `r`.
//!
//! Then:
//! - a `len` during which no operation that can write (any key, any
//!   operation not [`Op::is_read_only`](crate::spec::Op::is_read_only)) is
//!   in flight must return a count between the keys certainly present and
//!   the keys possibly present at its call; a negative count is always a
//!   violation;
//! - an `iter` must yield a key that is certainly present at its call when
//!   no operation that may remove it ([`spec::may_remove`]) is in flight
//!   during the iteration; and it must never yield a key twice.
//!
//! Pending scans promise nothing (what they yielded so far is not
//! recorded).

use std::collections::{BTreeMap, HashSet};
use std::fmt::{self, Write as _};

use crate::history::{Operation, Scan, Scanned};
use crate::spec::{self, Key};

/// Which promise a scan broke.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanFault {
    /// `len` returned a negative count.
    NegativeLen,
    /// `len`, with no write in flight, returned fewer than the keys
    /// certainly present (`at_least`).
    LenTooSmall {
        /// Keys certainly present during the call.
        at_least: usize,
    },
    /// `len`, with no write in flight, returned more than the keys that
    /// may be present (`at_most`).
    LenTooLarge {
        /// Keys possibly present during the call.
        at_most: usize,
    },
    /// `iter` yielded `key` more than once.
    IterTwice {
        /// The key yielded twice.
        key: Key,
    },
    /// `iter` did not yield `key`, present for the whole iteration.
    IterMissed {
        /// The key missed.
        key: Key,
    },
}

/// A scan that broke its promise, with the operations that show it.
#[derive(Clone, Debug)]
pub struct ScanViolation {
    /// The scan.
    pub scan: Scan,
    /// What it broke.
    pub fault: ScanFault,
    /// Operations from the history that show it, sorted by call: for a
    /// count too small or a missed key, one operation per key that leaves
    /// the key present before the scan is called (each the last of its
    /// key's operations before then, and no removal of it in flight); for
    /// a count too large, one per key that may be present; none otherwise.
    pub ops: Vec<Operation>,
}

impl ScanViolation {
    /// The violation as text: what was broken, then the scan and the
    /// operations that show it, one a line.
    pub fn timeline(&self) -> String {
        let mut s = format!("{self}\n");
        let scan = &self.scan;
        let ret = scan
            .ret()
            .map_or("pending".to_string(), |r| format!("ret {r}"));
        let result = match &scan.outcome {
            Some((_, Scanned::Len(n))) => n.to_string(),
            Some((_, Scanned::Keys(k))) => format!("{k:?}"),
            None => "?".into(),
        };
        let _ = writeln!(
            s,
            "  thread {:<4} call {:<8} {:<12} {}() -> {}",
            scan.thread,
            scan.call,
            ret,
            scan.op.name(),
            result
        );
        for o in &self.ops {
            let ret = o
                .ret()
                .map_or("pending".to_string(), |r| format!("ret {r}"));
            let result = o.result().map_or("?".to_string(), |r| r.to_string());
            let _ = writeln!(
                s,
                "  thread {:<4} call {:<8} {:<12} {} -> {}",
                o.thread, o.call, ret, o.op, result
            );
        }
        s
    }
}

impl fmt::Display for ScanViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (call, ret) = (self.scan.call, self.scan.ret().unwrap_or(u64::MAX));
        match &self.fault {
            ScanFault::NegativeLen => {
                write!(f, "len (call {call}, ret {ret}) returned a negative count")
            }
            ScanFault::LenTooSmall { at_least } => write!(
                f,
                "len (call {call}, ret {ret}) ran with no write in flight, so it is exact, and \
                 returned less than the {at_least} keys certainly present then"
            ),
            ScanFault::LenTooLarge { at_most } => write!(
                f,
                "len (call {call}, ret {ret}) ran with no write in flight, so it is exact, and \
                 returned more than the {at_most} keys that may be present then"
            ),
            ScanFault::IterTwice { key } => {
                write!(f, "iter (call {call}, ret {ret}) yielded key {key} twice")
            }
            ScanFault::IterMissed { key } => write!(
                f,
                "iter (call {call}, ret {ret}) missed key {key}, present for the whole iteration \
                 (present when it was called, and no operation that may remove it in flight)"
            ),
        }
    }
}

/// One key's operations, indexed for the questions above.
struct KeyIndex {
    /// Completed operations, by return time: (ret, call, index in `ops`).
    by_ret: Vec<(u64, u64, usize)>,
    /// `max_call[i]`: the latest call among `by_ret[..=i]`.
    max_call: Vec<u64>,
    /// Operations that may remove the key: (call, end), by call; `end` is
    /// `u64::MAX` for a pending one.
    removers: Vec<(u64, u64)>,
    /// `removers_end[i]`: the latest end among `removers[..=i]`.
    removers_end: Vec<u64>,
}

/// Intervals by call, with the running maximum of their ends: is one of
/// them in flight during `[c, r]`?
fn in_flight(by_call: &[(u64, u64)], max_end: &[u64], c: u64, r: u64) -> bool {
    let n = by_call.partition_point(|&(call, _)| call <= r);
    n > 0 && max_end[n - 1] >= c
}

fn running_max(values: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut m = 0;
    values
        .map(|v| {
            m = m.max(v);
            m
        })
        .collect()
}

impl KeyIndex {
    /// The maximal completed operations that returned before `c` (indices
    /// into `ops`); empty if none returned before `c`.
    fn last_before(&self, c: u64) -> impl Iterator<Item = usize> + '_ {
        let n = self.by_ret.partition_point(|&(ret, _, _)| ret < c);
        let latest_call = if n == 0 {
            u64::MAX
        } else {
            self.max_call[n - 1]
        };
        self.by_ret[..n]
            .iter()
            .rev()
            .take_while(move |&&(ret, _, _)| ret >= latest_call)
            .map(|&(_, _, i)| i)
    }

    /// (certainly present, possibly present) at time `c`, and one operation
    /// that shows it (a write if one does).
    fn presence_at(&self, ops: &[Operation], c: u64) -> (bool, bool, Option<usize>) {
        let mut all_present = true;
        let mut any_present = false;
        let mut witness: Option<usize> = None;
        let mut seen = false;
        for i in self.last_before(c) {
            seen = true;
            let o = &ops[i];
            let p = o.result().and_then(|r| spec::presence_after(&o.op, &r));
            if p != Some(true) {
                all_present = false;
            }
            if p != Some(false) {
                any_present = true;
                let is_write = !o.op.is_read_only();
                if witness.is_none_or(|w| ops[w].op.is_read_only() && is_write) {
                    witness = Some(i);
                }
            }
        }
        (seen && all_present, any_present, witness)
    }
}

/// Checks every scan against its promise; the first violation (by the
/// scan's call) is returned.
pub fn check_scans(ops: &[Operation], scans: &[Scan]) -> Result<(), Box<ScanViolation>> {
    if scans.is_empty() {
        return Ok(());
    }
    let mut keys: BTreeMap<Key, KeyIndex> = BTreeMap::new();
    let mut writes: Vec<(u64, u64)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        let k = keys.entry(o.op.key()).or_insert_with(|| KeyIndex {
            by_ret: Vec::new(),
            max_call: Vec::new(),
            removers: Vec::new(),
            removers_end: Vec::new(),
        });
        let end = o.ret().unwrap_or(u64::MAX);
        if let Some(ret) = o.ret() {
            k.by_ret.push((ret, o.call, i));
        }
        if spec::may_remove(&o.op) {
            k.removers.push((o.call, end));
        }
        if !o.op.is_read_only() {
            writes.push((o.call, end));
        }
    }
    for k in keys.values_mut() {
        k.by_ret.sort_unstable();
        k.max_call = running_max(k.by_ret.iter().map(|&(_, call, _)| call));
        k.removers.sort_unstable();
        k.removers_end = running_max(k.removers.iter().map(|&(_, end)| end));
    }
    writes.sort_unstable();
    let writes_end = running_max(writes.iter().map(|&(_, end)| end));

    let mut order: Vec<&Scan> = scans.iter().collect();
    order.sort_by_key(|s| (s.call, s.thread));
    for scan in order {
        let Some((r, result)) = &scan.outcome else {
            continue;
        };
        let (c, r) = (scan.call, *r);
        let fail = |fault: ScanFault, shown: Vec<usize>| {
            let mut shown = shown;
            shown.sort_by_key(|&i| (ops[i].call, ops[i].thread));
            Err(Box::new(ScanViolation {
                scan: scan.clone(),
                fault,
                ops: shown.into_iter().map(|i| ops[i].clone()).collect(),
            }))
        };
        match result {
            Scanned::Len(n) => {
                if *n < 0 {
                    return fail(ScanFault::NegativeLen, Vec::new());
                }
                if in_flight(&writes, &writes_end, c, r) {
                    continue;
                }
                let mut certain = Vec::new();
                let mut possible = Vec::new();
                for k in keys.values() {
                    let (sure, maybe, witness) = k.presence_at(ops, c);
                    if sure {
                        certain.extend(witness);
                    }
                    if maybe {
                        possible.extend(witness);
                    }
                }
                let n = *n as u64;
                if n < certain.len() as u64 {
                    let at_least = certain.len();
                    certain.truncate(n as usize + 1);
                    return fail(ScanFault::LenTooSmall { at_least }, certain);
                }
                if n > possible.len() as u64 {
                    return fail(
                        ScanFault::LenTooLarge {
                            at_most: possible.len(),
                        },
                        possible,
                    );
                }
            }
            Scanned::Keys(yielded) => {
                let mut seen = HashSet::with_capacity(yielded.len());
                if let Some(&twice) = yielded.iter().find(|k| !seen.insert(**k)) {
                    return fail(ScanFault::IterTwice { key: twice }, Vec::new());
                }
                for (&key, k) in &keys {
                    if seen.contains(&key) || in_flight(&k.removers, &k.removers_end, c, r) {
                        continue;
                    }
                    if let (true, _, Some(w)) = k.presence_at(ops, c) {
                        return fail(ScanFault::IterMissed { key }, vec![w]);
                    }
                }
            }
        }
    }
    Ok(())
}
