//! Lock-free concurrent hash maps on [kovan] memory reclamation, written as a
//! model-checked reference implementation.
//!
//! # Which map
//!
//! Both maps have the same API; every operation takes `&self` (share the
//! map with `Arc` or scoped threads), and every single-key operation is
//! lock-free and linearizable.
//!
//! * [`HashMap`] when the map is big, or when you do not know how big:
//!   it starts big, and a lookup is one bucket load and usually one node.
//!   Keys and values live in nodes of lock-free lists; replacing a present
//!   key swaps in a new node (copy-on-write).
//! * [`HopscotchMap`] when you have many maps, or small ones: it starts at
//!   [`DEFAULT_CAPACITY`](hopscotch::DEFAULT_CAPACITY) = 64 slots (about
//!   1.5 KiB), grows past a load of 3/4, shrinks below 1/4 (never below
//!   the capacity it was made with), so its table stays in proportion to
//!   its contents. Hopscotch hashing: every key lives within `H` slots of
//!   its home (`H` = 32 by default), so a lookup reads the home word and
//!   usually one or two slots; displacement and resizing are lock-free and
//!   shared among the threads that meet them, and keys whose neighbourhood
//!   is full of keys of the same home go to a per-home overflow list.
//!
// HASHMAP-SIZING: the paragraph below describes HashMap's growing table.
// It is the one place on this page to adjust if that behaviour changes
// (the README has its twin, between HASHMAP-SIZING markers).
//! **`HashMap`'s table.** [`HashMap::new`] starts with
//! [`DEFAULT_BUCKETS`](hash_map::DEFAULT_BUCKETS) = 524,288 buckets. Its
//! bucket directory is allocated zeroed, so pages that no bucket has
//! touched cost no resident memory, and buckets are initialised lazily, the
//! first time an operation needs one. The map grows past a load of 3/4
//! (entries per bucket) and shrinks below 1/4, without a lock: all nodes
//! are in one split-ordered list, and the directory (an 8-byte link and 2
//! state bits a bucket, in segments) holds shortcuts into it, so growing
//! moves no node.
//! [`HashMap::with_capacity`]`(n)` gives at least `n` buckets (a power of
//! two) and is the floor the map never shrinks below;
//! [`HashMap::capacity`] is the number of buckets in use. Segments added by
//! growth stay allocated until the map is dropped.
// /HASHMAP-SIZING
//!
//! **What `with_capacity(n)` counts.** For `HashMap`, buckets (above). For
//! `HopscotchMap`, slots: at least `n` (the least power of two, however
//! small, at least one), one entry a slot, and the floor it never shrinks
//! below; [`HopscotchMap::capacity`] is the slots of its current table. Both
//! grow once entries pass 3/4 of that number (`HopscotchMap` also from half
//! full, when a key's neighbourhood has no room), so for `m` entries ask
//! for `m * 4 / 3` or more to start at the size they need.
//! [`HashMap::try_with_capacity`] and
//! [`HopscotchMap::try_with_capacity`] return a [`CapacityError`] instead of
//! panicking.
//!
//! **Keys and values are `'static`** (both maps' type parameters are
//! `K: 'static, V: 'static`): a removed or replaced entry is freed later,
//! possibly by another thread, when kovan reclaims it, after any borrow it
//! held could have ended. Store owned data (`String`, `Arc<str>`,
//! `Box<[u8]>`), not references to locals.
//!
//! # Memory comes back in batches: [`flush`]
//!
//! kovan 0.2.0 collects retired (removed or replaced) entries in per-thread
//! batches and frees a batch once no thread can still read a node in it. A
//! thread's reservation stays published after its [`Guard`] is dropped,
//! until the thread pins again or calls [`flush`]. So an idle thread whose
//! last critical section published an old epoch holds back every batch that
//! contains a node born no later than that epoch: in a map one thread
//! filled and others then churn, that is nearly every batch. Call
//! [`flush`] on a thread that used a map before it goes idle (after filling
//! a map, before blocking on a join or a channel, between a pooled worker's
//! jobs); a thread's exit does it on its own. In one measurement, a cache of
//! 10,000 values of 1 KiB with one writer replacing them held 64 to 108 MiB
//! of live heap where the map and its entries need about 14 MiB, and 14 to
//! 16 MiB once the main thread called `flush()` after filling it. A
//! [`Guard`] held for long delays reclamation for every thread; `flush` may
//! run destructors of removed keys and values.
//!
//! # Promises
//!
//! * **Lock-free.** No operation takes a lock or waits for a flag another
//!   thread must clear. A thread that meets unfinished work (a dead node
//!   still linked, a displacement, a migration) finishes it and goes on.
//!   `get`, `contains_key` and `get_ref` change no entry. `HopscotchMap`'s
//!   write none of the map's memory (its iterator does: it finishes a
//!   resize it meets). `HashMap`'s may write its structure, not its
//!   entries: the first lookup of a bucket after the table doubled links
//!   the bucket into the list as the first write to it would, and that
//!   link's search unlinks (and retires) the removed nodes it passes. They
//!   all write this thread's own reclamation state in kovan, and the
//!   outermost [`pin`] of a thread may free memory its earlier critical
//!   sections held back, running destructors of keys and values that other
//!   threads removed: user `Drop` code can run inside any map method, reads
//!   included (a panic there unwinds out of the call).
//! * **Linearizable.** Each single-key operation takes effect at one
//!   instant between its call and its return: a concurrent `get` of a key
//!   being replaced sees the old value or the new one, never neither. That
//!   instant is one atomic step, named in the method's `# Linearizability`
//!   section and marked in the source with `// LINEARIZATION(op):`.
//! * **Weaker, stated guarantees for the rest.** `len` is not a
//!   linearizable snapshot: it is exact whenever no write is in flight, and
//!   otherwise off by at most the inserts and removals that overlap it.
//!   `iter` is weakly consistent: it yields every key present for the whole
//!   iteration exactly once and never a key twice, each with a value it held
//!   during the iteration; keys inserted or removed meanwhile may or may not
//!   appear. `clear` is not atomic: a sequence of linearizable removals, so
//!   a reader meanwhile may see some keys gone and others not yet.
//! * **Safe reclamation.** A removed or replaced node is handed to kovan only
//!   after it is unreachable, by the one thread whose CAS unlinked it, and a
//!   thread reads only nodes kovan protects for it (a node it allocated
//!   itself is not among them once published; the rule is written out in
//!   the repository's `src/reclaim.rs`).
//!
//! # Model-checked
//!
//! Inside the crate the maps reach atomics through one small private facade
//! and reclamation through another (`src/sync.rs` and `src/reclaim.rs` in
//! the repository). Built with `RUSTFLAGS="--cfg kovan_map_loom"` they run
//! on loom's atomics and a model of kovan 0.2.0's reclamation rule that
//! fails the model on any use of a node the real reclaimer would not
//! protect, and adds no happens-before of its own; with the `shuttle`
//! feature they run on shuttle's atomics (over kovan, or with
//! `shuttle-model` over the same model). The suites live in the
//! `kovan-map-models` crate (a workspace member, not published);
//! the repository's `docs/verification.md` says what each one can and
//! cannot see, and `docs/linearizability.md` how to record and check a
//! history of your own.
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
//!         // This thread is done with the map: let its retired memory go.
//!         kovan_map::flush();
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
//! A map that starts small and follows its contents:
//!
//! ```
//! use kovan_map::HopscotchMap;
//!
//! let map = HopscotchMap::new();
//! assert_eq!(map.capacity(), 64);
//! for i in 0..1000u32 {
//!     map.insert(i, i.to_string());
//! }
//! assert!(map.capacity() >= 1000 * 4 / 3); // grew past a load of 3/4
//! map.clear();
//! assert_eq!(map.capacity(), 64); // shrank back, never below its start
//! ```
//!
//! Keys and values must be `'static`:
//!
//! ```compile_fail
//! let name = String::from("local");
//! let map = kovan_map::HashMap::with_capacity(16);
//! map.insert(name.as_str(), 1); // `name` does not live long enough
//! ```
//!
//! [kovan]: https://docs.rs/kovan

#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

mod entry;
mod error;
#[cfg(any(feature = "serde", feature = "rayon"))]
mod features;
pub mod hash_map;
pub mod hopscotch;
mod payload;
mod reclaim;
mod reentry;
mod shared_api;
mod sync;

pub use entry::{Entry, EntryMap, Unmodified};
pub use error::CapacityError;
pub use hash_map::HashMap;
pub use hopscotch::HopscotchMap;
pub use reclaim::{flush, pin, Guard};

/// The model reclaimer's controls (loom and `shuttle-model` builds) and the
/// pause points (`shuttle` builds), for the model suites of
/// `kovan-map-models`.
#[cfg(any(kovan_map_loom, feature = "shuttle"))]
#[doc(hidden)]
pub mod model {
    #[cfg(any(kovan_map_loom, feature = "shuttle-model"))]
    pub use crate::reclaim::{model_quiesce, model_reset, Epochs};
    /// Pause points (`shuttle` builds): see `tests/shuttle_copy_pauses.rs`
    /// of `kovan-map-models`.
    #[cfg(feature = "shuttle")]
    pub use crate::sync::{set_pause_hook, Pause};
}

/// The default hasher of the maps: foldhash's `quality` variant, seeded per
/// map (two maps, or two runs, hash the same key differently), so colliding
/// keys cannot be chosen ahead of time.
///
/// Both maps take a key's bucket (`HashMap`) or home slot (`HopscotchMap`)
/// from the low bits of its hash, so the default has to spread structured
/// keys (counters, multiples of a stride) evenly over those bits.
/// `foldhash::fast` does not, for some seeds: its result for an integer key
/// is the high and low halves of one product folded together, and the low
/// half's low bits depend on the key's low bits alone. With 49,152 keys
/// `0, s, 2s, ...` in 65,536 buckets, 15 of 16 processes tried had a stride
/// whose lookups walk 1.42 to 8.6 nodes on average (a random function: 1.375),
/// and 5 of 16 one whose fullest bucket held 12 to 51 keys (a random
/// function: 10 or fewer). A `HashMap` of 200,000 even keys once had a
/// 17-node chain that way and failed a growth test in CI. `quality` adds one
/// more folded multiply (0.5 ns a hash in a loop of `hash_one` over `u64`s,
/// 1.15 against 1.66 ns, medians of 7 on this project's 2-core VM) and passes
/// `tests/default_hasher.rs` in every process tried (worst walk 1.386).
/// A custom hasher passed to `with_hasher` needs the same property.
pub type DefaultHashBuilder = foldhash::quality::RandomState;

/// The README's examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The examples of docs/linearizability.md (recording and checking a
/// history with `kovan-map-models`), compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../docs/linearizability.md")]
struct LinearizabilityDoctests;
