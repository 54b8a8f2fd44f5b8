//! The atomics facade: the one door through which the maps reach atomics.
//!
//! | build      | selected by                         | atomics from            |
//! | ---------- | ----------------------------------- | ----------------------- |
//! | production | default                             | `core::sync::atomic`    |
//! | loom       | `RUSTFLAGS="--cfg kovan_map_loom"`  | `loom::sync::atomic`    |
//! | shuttle    | cargo feature `shuttle`             | `shuttle::sync::atomic` |
//!
//! Nothing else in `src/` names those paths (a test greps for it), so the code
//! that loom and shuttle explore is the code that ships.
//!
//! Besides the atomics this module offers:
//!
//! * [`hint`]: what a retry loop calls before it tries again. In production it
//!   is the CPU's spin-loop hint; under loom and shuttle it yields, so the
//!   scheduler may run another thread at exactly that point.
//! * [`UnsafeCell`]: where the maps keep node payloads (hash, key, value).
//!   Under loom it is loom's cell, so every read of a payload is checked
//!   against the write that made it: a publication weakened from `Release` to
//!   `Relaxed` becomes a loom failure instead of passing unseen. Elsewhere it
//!   is a zero-cost wrapper of `core::cell::UnsafeCell`.

#[cfg(all(kovan_map_loom, feature = "shuttle"))]
compile_error!(
    "kovan-map: `--cfg kovan_map_loom` and the `shuttle` feature select two different \
     atomics backends; build the loom suite and the shuttle suite separately"
);

#[cfg(kovan_map_loom)]
#[allow(unused_imports)]
pub(crate) use loom::sync::atomic::{fence, AtomicIsize, AtomicUsize, Ordering};
// The hopscotch map's home words (hop bitmap, flags and relocation counter).
#[cfg(kovan_map_loom)]
pub(crate) use loom::sync::atomic::AtomicU64;

#[cfg(all(feature = "shuttle", not(kovan_map_loom)))]
pub(crate) use shuttle::sync::atomic::AtomicU64;
#[cfg(all(feature = "shuttle", not(kovan_map_loom)))]
#[allow(unused_imports)]
pub(crate) use shuttle::sync::atomic::{fence, AtomicIsize, AtomicUsize, Ordering};

#[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
pub(crate) use core::sync::atomic::AtomicU64;
#[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
#[allow(unused_imports)]
pub(crate) use core::sync::atomic::{fence, AtomicIsize, AtomicUsize, Ordering};

/// Whether memory of all zero bytes is a valid atomic holding 0: true for
/// `core`'s atomics (documented to have the layout of their integer), false
/// for loom's and shuttle's, which must be constructed.
pub(crate) const ZEROED_ATOMIC_IS_ZERO: bool = cfg!(not(any(kovan_map_loom, feature = "shuttle")));

/// Called by every retry loop before it tries again.
///
/// A retry in these maps never waits for another thread (that would be a
/// spin-wait, which the maps do not have); it only follows a failed CAS, which
/// means another thread made progress. Under the model checkers the hint is a
/// yield, so they can schedule another thread here.
#[inline]
pub(crate) fn hint() {
    #[cfg(kovan_map_loom)]
    loom::thread::yield_now();
    #[cfg(all(feature = "shuttle", not(kovan_map_loom)))]
    shuttle::thread::yield_now();
    #[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
    core::hint::spin_loop();
}

/// Whether [`prefetch`] does anything: on x86-64 in production builds. Under
/// loom and shuttle it is off, and code that only computes a prefetch
/// address is skipped with it, so the models explore no extra loads.
pub(crate) const PREFETCH: bool = cfg!(all(
    target_arch = "x86_64",
    not(any(kovan_map_loom, feature = "shuttle"))
));

/// Asks the CPU to bring the cache line at `ptr` in, for a read soon.
///
/// A hint, not a memory access: it never faults and reads nothing the
/// program sees, so `ptr` may be any address (a freed one included); it
/// orders nothing and has no place in the maps' protocols.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    #[cfg(all(target_arch = "x86_64", not(any(kovan_map_loom, feature = "shuttle"))))]
    // SAFETY: `prefetcht0` is part of SSE, which every x86-64 CPU has; it
    // dereferences nothing (an invalid address is ignored by the CPU).
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(all(target_arch = "x86_64", not(any(kovan_map_loom, feature = "shuttle")))))]
    let _ = ptr;
}

/// A cell for data that is written once, before its node is published, and
/// read afterwards by any thread that found the node.
///
/// Under loom this is `loom::cell::UnsafeCell`, which checks each access
/// against the causality of the write that created the cell.
#[cfg(kovan_map_loom)]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

#[cfg(kovan_map_loom)]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) fn new(value: T) -> Self {
        Self(loom::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for reading; loom checks the read here.
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        self.0.with(f)
    }

    /// Runs `f` with a pointer for writing (the caller has exclusive access
    /// to the cell's map); loom checks the write here.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        self.0.with_mut(f)
    }

    /// Consumes the cell (the caller owns it: no other thread can reach it).
    #[inline]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// A cell for data that is written once, before its node is published, and
/// read afterwards by any thread that found the node.
#[cfg(not(kovan_map_loom))]
#[derive(Debug)]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(kovan_map_loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for reading.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer for writing (the caller has exclusive access
    /// to the cell's map).
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    /// Consumes the cell (the caller owns it: no other thread can reach it).
    #[inline]
    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

/// A named place in the maps' code where a shuttle scenario may stop a
/// thread ([`pause`]), to force an interleaving that random and PCT
/// schedules reach too rarely to count on: one thread stopped at a point
/// while others finish two migrations.
///
/// The points exist in every build; only the `shuttle` builds call a hook
/// there (`kovan_map::model::set_pause_hook`). Elsewhere [`pause`] is empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pause {
    /// A `HopscotchMap` copier published its copy of a frozen entry in the
    /// new table (a reserved slot, or a node pushed on a home's overflow
    /// list when `overflow`) and is about to try the decision.
    CopyPublished {
        /// The copy went to an overflow list.
        overflow: bool,
    },
    /// That copier's decision failed; it is about to withdraw its copy.
    CopyLost {
        /// The copy went to an overflow list.
        overflow: bool,
    },
    /// A `HopscotchMap` copier read the home word of its entry's new home
    /// (not frozen) and is about to publish its copy: it has neither
    /// reserved a slot nor pushed a node yet.
    CopyHomeRead {
        /// The word it read has the home in overflow mode (the copy will
        /// be pushed on the home's list).
        overflow: bool,
    },
    /// A `HopscotchMap` copier's decision succeeded (the source now names
    /// its descriptor); it has not shown the copy yet.
    CopyWon {
        /// The copy went to an overflow list.
        overflow: bool,
    },
    /// A thread showing a decided copy loaded the descriptor's fields and
    /// saw the source still name it; it is about to show the publication
    /// (commit and untag a slot, or untag a list node).
    ShowChecked {
        /// The publication is an overflow node.
        overflow: bool,
    },
    /// A migration sealed the link into a node of an old table's overflow
    /// list and is about to settle (freeze and copy) that node.
    SealedNode,
    /// A losing overflow copier's pass found its node still in its list;
    /// it is about to mark the node's slot removed.
    WithdrawFound,
    /// A `HopscotchMap` insert of a new key reserved a slot within its
    /// home's neighbourhood and is about to commit it.
    InsertReserved,
    /// That insert committed its slot and is about to show its entry.
    InsertCommitted,
    /// A `HopscotchMap` removal tagged the key's entry removed and is about
    /// to release its slot (or unlink its overflow node).
    RemoveTagged {
        /// The entry was in an overflow node.
        overflow: bool,
    },
}

/// The hook [`pause`] calls: a `fn(Pause)` as an address, 0 for none.
/// A plain std atomic: the registry is set outside the modelled code, before
/// a scenario runs, and is not itself under test.
#[cfg(feature = "shuttle")]
static PAUSE_HOOK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets (or, with `None`, clears) the hook that every [`Pause`] point calls
/// in the `shuttle` builds. The hook runs on the thread at the point, inside
/// the map's operation (its guard held), and may block on shuttle's
/// primitives until the scenario lets it go on.
#[cfg(feature = "shuttle")]
pub fn set_pause_hook(hook: Option<fn(Pause)>) {
    // ORDERING: SeqCst, and no partner in the maps: set before the scenario
    // starts its threads, which orders it before every load below.
    PAUSE_HOOK.store(
        hook.map_or(0, |f| f as usize),
        std::sync::atomic::Ordering::SeqCst,
    );
}

/// Calls the pause hook at `point` (`shuttle` builds; nothing elsewhere).
#[inline(always)]
pub(crate) fn pause(point: Pause) {
    #[cfg(feature = "shuttle")]
    {
        // ORDERING: SeqCst, as in `set_pause_hook`.
        let hook = PAUSE_HOOK.load(std::sync::atomic::Ordering::SeqCst);
        if hook != 0 {
            // SAFETY: only `set_pause_hook` writes the registry, with 0 or
            // the address of a `fn(Pause)`; fn pointers and `usize` have the
            // same size, and a fn item lives for the whole program.
            let hook: fn(Pause) = unsafe { core::mem::transmute::<usize, fn(Pause)>(hook) };
            hook(point);
        }
    }
    #[cfg(not(feature = "shuttle"))]
    let _ = point;
}
