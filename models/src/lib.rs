//! Models of kovan-map: the sequential specification, history recording,
//! the linearizability checker and scenario generators.
//!
//! - [`adapter`]: the maps under test behind one trait, and [`adapter::exec`]
//!   to perform a recorded operation on any of them.
//! - [`harness`]: deterministic hashers and the loom/shuttle runners the
//!   suites share.
//! - [`spec`]: what each single-key operation of the map does, as a pure
//!   function of the key's cell; predicates and closures recorded as data.
//! - [`history`]: recording (thread, call, return, operation, result) from
//!   real threads, shuttle, or loom (Lincheck-shaped).
//! - [`jsonl`]: the history file format of `docs/history-format.md`
//!   (version 2 adds the `len` and `iter` scans).
//! - [`lincheck`]: the checker (Wing-Gong search with Lowe's memo, split by
//!   key, compact configurations, counterexample shrinking and drawing).
//! - [`scenario`]: quickcheck generators of concurrent scenarios, and
//!   histories linearizable by construction.
//!
//! ```
//! use kovan_map_models::history::Operation;
//! use kovan_map_models::lincheck;
//! use kovan_map_models::spec::Op;
//!
//! // Thread 0 inserts; thread 1, called after that returned, reads nothing.
//! let ops = vec![
//!     Operation::returned(0, 1, 2, Op::Insert { key: 7, value: 1 }, None),
//!     Operation::returned(1, 3, 4, Op::Get { key: 7 }, None),
//! ];
//! let report = lincheck::check(&ops).unwrap();
//! let cx = report.verdict.counterexample().expect("a stale read");
//! assert_eq!(cx.ops.len(), 2);
//! ```
#![warn(missing_docs)]

pub mod adapter;
pub mod harness;
pub mod history;
pub mod jsonl;
pub mod lincheck;
#[cfg(feature = "shuttle")]
pub mod pauses;
pub mod scenario;
pub mod spec;
