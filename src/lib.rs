//! Lock-free concurrent hash maps on [kovan] memory reclamation, written as a
//! model-checked reference implementation.
//!
//! * [`HashMap`]: separate chaining over an array of atomic bucket heads
//!   (524,288 by default), one lock-free list per bucket, copy-on-write
//!   replacement of present keys.
//! * [`HopscotchMap`]: hopscotch hashing (neighbourhoods of 32 slots, a hop
//!   bitmap and a relocation counter per home bucket) with lock-free
//!   displacement, per-home overflow lists for colliding hashes, and
//!   lock-free cooperative resizing: it grows past a load of 3/4 and shrinks
//!   below 1/4, never below its initial capacity.
//!
//! # Promises
//!
//! * **Lock-free.** No operation takes a lock or waits for a flag another
//!   thread must clear. A thread that meets unfinished work (a dead node
//!   still linked, a displacement, a migration) finishes it and goes on.
//!   `get`, `contains_key` and `get_ref` write none of the map's memory
//!   (`HopscotchMap`'s iterator does: it finishes a resize it meets). They
//!   do write this thread's own reclamation state in kovan, and the
//!   outermost [`pin`] of a thread may free memory its earlier critical
//!   sections held back, running destructors of keys and values that other
//!   threads removed: user `Drop` code can run inside any map method, reads
//!   included (a panic there unwinds out of the call).
//! * **Linearizable.** Every single-key operation takes effect at one atomic
//!   step, named in its `# Linearizability` section and marked in the source
//!   with `// LINEARIZATION(op):`.
//! * **Weaker, stated guarantees for the rest.** `len` is exact whenever no
//!   write is in flight; `iter` yields every key present for the whole
//!   iteration exactly once and never a key twice; `clear` is a sequence of
//!   linearizable removals.
//! * **Safe reclamation.** A removed or replaced node is handed to kovan only
//!   after it is unreachable, by the one thread whose CAS unlinked it, and a
//!   thread reads only nodes kovan protects for it (a node it allocated
//!   itself is not among them once published: see the facade's rule).
//! * **Memory comes back in batches.** A thread that used a map and then
//!   idles should call [`flush`]; a [`Guard`] held long delays reclamation
//!   for every thread.
//!
//! # Model-checked
//!
//! The maps reach atomics only through `sync` and reclamation only through
//! `reclaim`. Built with `RUSTFLAGS="--cfg kovan_map_loom"` they run on loom's
//! atomics and a model of kovan 0.2.0's reclamation rule that fails the model
//! on any use of a node the real reclaimer would not protect, and adds no
//! happens-before of its own; with the `shuttle` feature they run on
//! shuttle's atomics (over kovan, or with `shuttle-model` over the same
//! model). The suites live in the `kovan-map-models` crate; the repository's
//! `docs/verification.md` says what each one can and cannot see.
//!
//! # Example
//!
//! ```
//! use kovan_map::HashMap;
//! use std::sync::Arc;
//! use std::thread;
//!
//! // A shared map.
//! let map = Arc::new(HashMap::new());
//!
//! // Four threads insert concurrently.
//! let mut handles = vec![];
//! for thread_id in 0..4u64 {
//!     let map = Arc::clone(&map);
//!     handles.push(thread::spawn(move || {
//!         for i in 0..1000u64 {
//!             map.insert(thread_id * 1000 + i, i);
//!         }
//!     }));
//! }
//!
//! // Wait for all threads to complete.
//! for handle in handles {
//!     handle.join().unwrap();
//! }
//!
//! // Read values from any thread.
//! assert_eq!(map.get(&0), Some(0));
//! assert_eq!(map.get(&3500), Some(500));
//!
//! // Remove values.
//! assert_eq!(map.remove(&0), Some(0));
//! assert_eq!(map.get(&0), None);
//! ```
//!
//! [kovan]: https://docs.rs/kovan

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

mod error;
pub mod hash_map;
pub mod hopscotch;
mod payload;
mod reclaim;
mod shared_api;
mod sync;

pub use error::CapacityError;
pub use hash_map::HashMap;
pub use hopscotch::HopscotchMap;
pub use reclaim::{flush, pin, Guard};

/// The model reclaimer's controls, for the model suites of
/// `kovan-map-models` (loom and `shuttle-model` builds only).
#[cfg(any(kovan_map_loom, feature = "shuttle-model"))]
#[doc(hidden)]
pub mod model {
    pub use crate::reclaim::{model_quiesce, model_reset, Epochs};
}

/// The default hasher of the maps: foldhash, seeded per map (two maps, or
/// two runs, hash the same key differently), so colliding keys cannot be
/// chosen ahead of time.
pub type DefaultHashBuilder = foldhash::fast::RandomState;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
