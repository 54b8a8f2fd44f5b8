//! The reclamation facade: the one door through which the maps reach kovan.
//!
//! What the maps use:
//!
//! * [`Guard`] and [`pin`]: a critical section. A node loaded through a
//!   [`Link`] under a guard stays allocated until the guard is dropped,
//!   *provided the node was reachable (linked, not yet retired) at the load*.
//!   This is kovan's contract for loaded nodes (the rule below says what it
//!   means for a node this thread allocated), and the model reclaimer
//!   enforces exactly it.
//! * [`Link`]: an atomic, tagged pointer to a node. The low [`TAG_BITS`] bits
//!   of the word are tags the maps define (nodes are 8-aligned); loads
//!   through a link are the protected loads of the reclaimer.
//! * [`Shared`]: a word loaded under a guard: a pointer plus tags.
//! * [`Header`]: what every node that can be retired starts with
//!   (`#[repr(C)]`, header first): kovan's `RetiredNode` (40 bytes) in
//!   production, the model's bookkeeping under loom.
//! * [`alloc`], [`retire`], [`destroy`], [`take`]: the life of a node.
//!
//! | build      | reclaimer                                                  |
//! | ---------- | ---------------------------------------------------------- |
//! | production | kovan                                                      |
//! | shuttle    | kovan, with kovan's own `shuttle` feature instrumenting it |
//! | loom       | the model reclaimer, `reclaim/model.rs` (kovan is not loom-aware) |
//! | shuttle with `shuttle-model` | the model reclaimer again, under shuttle's schedules |
//!
//! # The rule the maps follow (kovan 0.2.0, read from its source)
//!
//! kovan protects a node for a thread when the node's batch was scanned
//! while the thread's slot published an epoch at or above the node's birth
//! epoch. A node's birth is its allocator's *cached* birth epoch, and that
//! can run above the allocator's published epoch: every 128th retire of a
//! thread and every `flush` advance the global epoch and set the thread's
//! cached birth to the new epoch without republishing its slot. Hence:
//!
//! * a node loaded through a [`Link`] while it was reachable stays allocated
//!   until the guard is dropped (its birth is at most the epoch the load
//!   published or confirmed, and its retirement scan comes after the load);
//! * a node this thread allocated is **not** protected by this thread's
//!   guard once another thread can retire it, *unless* a protected load of
//!   the same critical section came after the allocation ([`cover_own`]).
//!   After the CAS that publishes it, never dereference it through
//!   [`Shared::from_owned`] otherwise: take what the caller needs (a clone
//!   of the value) from the still-private node before the CAS, or call
//!   `cover_own` between the allocation and the CAS. (The map code once
//!   broke this rule in six places: the use-after-free of issue 7.)
//!
//! # The model reclaimer
//!
//! Under loom, and under shuttle with `shuttle-model`, this module is the
//! model in `reclaim/model.rs`: kovan's epochs, slots, births and scans,
//! with no loom fence (a loom `SeqCst` fence adds happens-before that C11
//! does not give, which hid too-weak orderings in the maps), a check of every
//! protected load's value against kovan's store-buffering pairing, and a
//! failure on any dereference of a node the dereferencing thread's slot does
//! not protect. Its own module doc is the exact statement of what it allows
//! and forbids.

pub use imp::*;

/// Makes `guard` protect every node this thread allocated earlier in the
/// guard's critical section, by one protected load (of any link: `link`).
///
/// kovan stamps a node's birth with the thread's cached birth epoch, which
/// is never above the global epoch; a protected load reads the global epoch
/// after the allocation and leaves the thread's slot published at or above
/// what it read (the fast path: already there; the cold path: published
/// now). So the slot covers the birth, and a batch holding the node is
/// kept for the slot when it is retired, until the thread's next outermost
/// `pin`. Call it after the allocation and **before** the CAS that
/// publishes the node (after the CAS another thread may already have
/// retired it and scanned the slots). The model reclaimer checks the same
/// rule: a dereference of the node after publication passes only if the
/// slot held it at the scan.
#[inline]
pub(crate) fn cover_own<T>(link: &Link<T>, guard: &Guard) {
    let _ = link.load(crate::sync::Ordering::Relaxed, guard);
}

/// Low bits of a [`Link`] word that the maps may use as tags.
pub(crate) const TAG_BITS: usize = 0b111;

/// Whether memory of all zero bytes is a valid null [`Link`]: true in
/// production, where a link is kovan's `Atomic` (one `AtomicUsize` of
/// `core`, checked below); false under loom and shuttle, whose atomics (and
/// the model's store logs) must be constructed. `HashMap` allocates its
/// bucket directory zeroed where this holds, so untouched pages cost no
/// resident memory.
#[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
pub(crate) const ZEROED_LINK_IS_NULL: bool = true;
/// See the production definition.
#[cfg(any(kovan_map_loom, feature = "shuttle"))]
pub(crate) const ZEROED_LINK_IS_NULL: bool = false;

// Every byte of a production link is its one `AtomicUsize` (the marker is a
// zero-sized type), so all-zero bytes are the null word.
#[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
const _: () = assert!(
    core::mem::size_of::<kovan::Atomic<u64>>() == core::mem::size_of::<usize>()
        && core::mem::align_of::<kovan::Atomic<u64>>() == core::mem::align_of::<usize>()
);

/// The bucket array of a table could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocFailed;

/// Memory for a block the maps publish with a CAS and free themselves (a
/// `HashMap` directory segment, a `HopscotchMap` table's overflow heads):
/// `layout`, zeroed if `zeroed`, or null if the allocator fails.
///
/// Under loom the block carries a `loom::alloc::Track` in front of it, so
/// loom's leak check fails an execution that ends with the block not freed
/// by [`free_bytes`]: a CAS loser that forgets its own block is caught, as
/// a node never freed is through its model [`Header`]. It comes from the
/// global allocator in every build.
///
/// # Safety
///
/// `layout` has a nonzero size.
pub(crate) unsafe fn alloc_bytes(layout: core::alloc::Layout, zeroed: bool) -> *mut u8 {
    #[cfg(kovan_map_loom)]
    {
        // A `loom::alloc::Track` in front of the block, as the model's
        // `Header` is in front of a node: loom fails an execution that ends
        // with a `Track` alive. (Not `loom::alloc::alloc`: loom 0.7 tracks
        // the null answer of a failed allocation too, and reports it as a
        // leak; the review found it: models/tests/loom_alloc_failure.rs.)
        let Some((full, offset)) = tracked_layout(layout) else {
            return core::ptr::null_mut();
        };
        // SAFETY: `full` is at least as large as `layout` (nonzero).
        let base = unsafe { alloc::alloc::alloc(full) };
        if base.is_null() {
            return base;
        }
        // SAFETY: `base` is a fresh block of `full`, which starts with room
        // for a `Track`, aligned for it; the block proper starts at
        // `offset`, inside it, with `layout.size()` bytes after it.
        unsafe {
            base.cast::<loom::alloc::Track<()>>()
                .write(loom::alloc::Track::new(()));
            let ptr = base.add(offset);
            if zeroed {
                ptr.write_bytes(0, layout.size());
            }
            ptr
        }
    }
    #[cfg(not(kovan_map_loom))]
    {
        if zeroed {
            // SAFETY: the caller's contract (a nonzero size).
            unsafe { alloc::alloc::alloc_zeroed(layout) }
        } else {
            // SAFETY: the caller's contract (a nonzero size).
            unsafe { alloc::alloc::alloc(layout) }
        }
    }
}

/// Frees a block of [`alloc_bytes`].
///
/// # Safety
///
/// `ptr` came from `alloc_bytes(layout, _)` with this `layout`, is freed
/// once, and no thread reads it after this call (whatever it holds was
/// dropped in place first, where that matters).
pub(crate) unsafe fn free_bytes(ptr: *mut u8, layout: core::alloc::Layout) {
    #[cfg(kovan_map_loom)]
    {
        let (full, offset) = tracked_layout(layout).expect("the layout `alloc_bytes` used");
        // SAFETY: the caller's contract: `ptr` is `offset` bytes into a
        // block of `full` that `alloc_bytes` made, with its `Track` at the
        // start; the `Track` is dropped once (the block is freed once).
        unsafe {
            let base = ptr.sub(offset);
            core::ptr::drop_in_place(base.cast::<loom::alloc::Track<()>>());
            alloc::alloc::dealloc(base, full);
        }
    }
    #[cfg(not(kovan_map_loom))]
    // SAFETY: the caller's contract: a block of the global allocator for
    // `layout`, freed only here.
    unsafe {
        alloc::alloc::dealloc(ptr, layout)
    };
}

/// Under loom, the layout of a block of `layout` behind its `Track`, and
/// the block's offset in it.
#[cfg(kovan_map_loom)]
fn tracked_layout(layout: core::alloc::Layout) -> Option<(core::alloc::Layout, usize)> {
    core::alloc::Layout::new::<loom::alloc::Track<()>>()
        .extend(layout)
        .ok()
}

/// An array of `n > 0` null links, the caller's until it hands it to
/// [`free_links`] with the same `n`; or `AllocFailed`. From
/// [`alloc_bytes`], so loom's leak check sees it.
pub(crate) fn alloc_links<T>(n: usize) -> Result<*mut Link<T>, AllocFailed> {
    let layout = core::alloc::Layout::array::<Link<T>>(n).map_err(|_| AllocFailed)?;
    if layout.size() == 0 {
        return Err(AllocFailed);
    }
    // SAFETY: a nonzero size (checked above).
    let links = unsafe { alloc_bytes(layout, false) }.cast::<Link<T>>();
    if links.is_null() {
        return Err(AllocFailed);
    }
    for i in 0..n {
        // SAFETY: `i < n`: inside the fresh block of `n` links, aligned for
        // them (`Layout::array`); each is written once.
        unsafe { links.add(i).write(Link::null()) };
    }
    Ok(links)
}

/// Frees an array of [`alloc_links`].
///
/// # Safety
///
/// `links` came from `alloc_links(n)` with this `n`, is freed once, and no
/// thread reads it after this call.
pub(crate) unsafe fn free_links<T>(links: *mut Link<T>, n: usize) {
    let layout = core::alloc::Layout::array::<Link<T>>(n).expect("the layout `alloc_links` used");
    // SAFETY: the caller's contract: `n` links `alloc_links` initialised in
    // a block of `layout`; each is dropped once, then the block is freed.
    unsafe {
        core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(links, n));
        free_bytes(links.cast::<u8>(), layout);
    }
}

// ---------------------------------------------------------------------------
// Production and shuttle: kovan.
// ---------------------------------------------------------------------------
#[cfg(not(any(kovan_map_loom, feature = "shuttle-model")))]
mod imp {
    use super::TAG_BITS;
    use crate::sync::Ordering;
    use core::marker::PhantomData;

    /// A critical section: while it lives, the entries this thread reads
    /// through it stay allocated.
    ///
    /// Get one from [`pin`] or a map's `pin` method, and pass it to the
    /// borrowing reads (`get_ref`): a reference read under a guard is valid
    /// until the guard is dropped, even if another thread removes or
    /// replaces the entry meanwhile (the borrow checker ties the reference to
    /// the guard). The maps' other methods pin a guard of their own.
    ///
    /// A guard belongs to its thread: it is neither `Send` nor `Sync`.
    /// Guards nest; only the outermost one does any work.
    ///
    /// Hold it briefly. While a thread holds a guard, entries that *any*
    /// thread removes meanwhile may not be freed, so a guard held for a long
    /// time (across a blocking call, say) lets retired memory pile up for
    /// everyone. Dropping it is cheap (no atomic operation) and does not end
    /// the holding back by itself: kovan 0.2.0 keeps the thread's
    /// reservation until the thread pins again or calls [`flush`], so call
    /// `flush` before a thread that used a map goes idle.
    ///
    /// ```
    /// use kovan_map::HashMap;
    ///
    /// let map = HashMap::with_capacity(8);
    /// map.insert(1, String::from("one"));
    /// let guard = kovan_map::pin(); // or map.pin(), a handle that derefs to it
    /// let one: &String = map.get_ref(&1, &guard).unwrap();
    /// map.remove(&1); // another thread could do this: `one` stays readable
    /// assert_eq!(one, "one");
    /// drop(guard); // from here on the removed entry may be freed
    /// ```
    ///
    /// A guard stays on its thread:
    ///
    /// ```compile_fail
    /// fn assert_send<T: Send>() {}
    /// assert_send::<kovan_map::Guard>();
    /// ```
    pub struct Guard {
        inner: kovan::Guard,
    }

    impl core::fmt::Debug for Guard {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("Guard { .. }")
        }
    }

    /// What every retirable node starts with: kovan's retire header.
    pub(crate) type Header = kovan::RetiredNode;

    /// Enters a critical section on this thread (see [`Guard`]).
    ///
    /// The outermost `pin` of a thread may first free memory that this
    /// thread's earlier critical sections kept alive, running the
    /// destructors of keys and values that any thread removed; so user
    /// `Drop` code can run inside it, and inside every map method, reads
    /// included.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert("k", 7);
    /// let guard = kovan_map::pin();
    /// assert_eq!(map.get_ref(&"k", &guard), Some(&7));
    /// ```
    #[inline]
    pub fn pin() -> Guard {
        Guard {
            inner: kovan::pin(),
        }
    }

    /// Hands this thread's retired memory on for reclamation now.
    ///
    /// Removed and replaced entries are retired in per-thread batches and
    /// freed once no critical section can still read them. A thread that
    /// writes and then goes idle (a pooled worker, a thread about to block
    /// for long) can hold back a partial batch and, through its last
    /// critical section, other threads' batches too. `flush` submits the
    /// partial batch, advances the reclamation epoch and, called with no
    /// [`Guard`] of this thread alive, frees what this thread was holding
    /// back and stops holding anything back until the thread pins again.
    /// Call it before a thread that used a map goes idle; a thread's exit
    /// does the same on its own. It may run destructors of removed keys and
    /// values (of any map, removed by any thread).
    ///
    /// ```
    /// use std::sync::Arc;
    ///
    /// let map = Arc::new(kovan_map::HashMap::with_capacity(64));
    /// let worker = {
    ///     let map = Arc::clone(&map);
    ///     std::thread::spawn(move || {
    ///         for i in 0..100 {
    ///             map.insert(i % 10, vec![0u8; 64]); // replacements retire the old values
    ///         }
    ///         // About to wait for more work: free what this thread holds back.
    ///         kovan_map::flush();
    ///     })
    /// };
    /// worker.join().unwrap();
    /// assert_eq!(map.len(), 10);
    /// ```
    #[inline]
    pub fn flush() {
        kovan::flush();
    }

    /// Allocates a node. It is private until a CAS publishes it.
    #[inline]
    pub(crate) fn alloc<T>(value: T) -> *mut T {
        kovan::alloc_node(value)
    }

    /// Hands a node to kovan, which drops and frees it once no guard that
    /// loaded it while it was reachable is alive.
    ///
    /// # Safety
    ///
    /// 1. `ptr` came from [`alloc`] and `T` is `#[repr(C)]` with a [`Header`]
    ///    as its first field.
    /// 2. `ptr` is unreachable: the caller's CAS unlinked it.
    /// 3. It is retired once, by the thread whose CAS unlinked it.
    /// 4. Its drop may run on any thread (`T: Send` in substance).
    #[inline]
    pub(crate) unsafe fn retire<T: 'static>(ptr: *mut T) {
        // SAFETY: the caller's points 1 to 4 are kovan's contract.
        unsafe { kovan::retire_node(ptr) }
    }

    /// Drops and frees a node now.
    ///
    /// # Safety
    ///
    /// `ptr` came from [`alloc`], no other thread can reach it (the map is
    /// being dropped, or the node was never published), and it is let go
    /// only this once.
    #[inline]
    pub(crate) unsafe fn destroy<T>(ptr: *mut T) {
        // SAFETY: the caller's contract.
        unsafe { kovan::drop_node(ptr) }
    }

    /// Moves the value out of a node and frees its memory.
    ///
    /// # Safety
    ///
    /// As for [`destroy`].
    #[inline]
    pub(crate) unsafe fn take<T>(ptr: *mut T) -> T {
        // SAFETY: the caller owns the initialised node; it is read once and
        // its memory freed without dropping the value again.
        unsafe {
            let value = core::ptr::read(ptr);
            kovan::free_node(ptr);
            value
        }
    }

    /// An atomic tagged pointer to a node.
    pub(crate) struct Link<T> {
        word: kovan::Atomic<T>,
    }

    impl<T> Link<T> {
        #[inline]
        pub(crate) fn null() -> Self {
            Self::new(core::ptr::null_mut())
        }

        #[inline]
        pub(crate) fn new(ptr: *mut T) -> Self {
            Self {
                word: kovan::Atomic::new(ptr),
            }
        }

        /// A protected load: the node stays allocated while `guard` lives if it
        /// was reachable at this load.
        #[inline]
        pub(crate) fn load<'g>(&self, order: Ordering, guard: &'g Guard) -> Shared<'g, T> {
            Shared::from_word(self.word.load(order, &guard.inner).as_raw() as usize)
        }

        /// One compare-and-swap of the whole word (pointer and tags). The
        /// value seen on failure is not returned: it was not loaded under
        /// protection, so the caller loads again.
        #[inline]
        pub(crate) fn cas(
            &self,
            current: Shared<'_, T>,
            new: Shared<'_, T>,
            success: Ordering,
            failure: Ordering,
            guard: &Guard,
        ) -> bool {
            // SAFETY: `Shared::from_raw` only wraps the words; kovan never
            // dereferences them.
            let (current, new) = unsafe {
                (
                    kovan::Shared::from_raw(current.word as *mut T),
                    kovan::Shared::from_raw(new.word as *mut T),
                )
            };
            self.word
                .compare_exchange(current, new, success, failure, &guard.inner)
                .is_ok()
        }

        /// Stores into a link no other thread can see yet (a node being built).
        #[inline]
        pub(crate) fn store_private(&self, new: Shared<'_, T>) {
            // SAFETY: as in `cas`.
            let new = unsafe { kovan::Shared::from_raw(new.word as *mut T) };
            self.word.store(new, Ordering::Relaxed);
        }

        /// The address the link holds (tags cleared) and its tags, read
        /// without protection: a prefetch hint only. The node may be freed at
        /// any moment; never dereference the result.
        #[inline]
        pub(crate) fn peek(&self, guard: &Guard) -> (*const T, usize) {
            // ORDERING: Relaxed: nothing is read through the address.
            // SAFETY: kovan's `load_unprotected` asks that the result not be
            // dereferenced unprotected; it is only handed to the CPU as a
            // prefetch address, which reads nothing the program sees.
            let word = unsafe { self.word.load_unprotected(Ordering::Relaxed, &guard.inner) };
            let word = word.as_raw() as usize;
            ((word & !TAG_BITS) as *const T, word & TAG_BITS)
        }
    }

    /// A tagged word loaded under a guard.
    pub(crate) struct Shared<'g, T> {
        word: usize,
        _guard: PhantomData<(&'g Guard, *mut T)>,
    }

    impl<T> Shared<'_, T> {
        #[inline]
        fn from_word(word: usize) -> Self {
            Self {
                word,
                _guard: PhantomData,
            }
        }
    }

    impl<'g, T> Shared<'g, T> {
        #[inline]
        pub(crate) fn null() -> Self {
            Self::from_word(0)
        }

        /// A node this thread allocated, to be offered to a CAS. After the CAS
        /// that publishes it, kovan does not protect it for this thread (see
        /// the module doc): do not dereference it then.
        #[inline]
        pub(crate) fn from_owned(ptr: *mut T, _guard: &'g Guard) -> Self {
            Self::from_word(ptr as usize)
        }

        /// A word that holds no pointer but `index`, above the tag bits (the
        /// caller adds a tag saying so): never dereferenced, retired or
        /// protected, only stored, compared and read back with [`Self::index`].
        #[inline]
        pub(crate) fn from_index(index: usize, _guard: &'g Guard) -> Self {
            debug_assert!(index <= usize::MAX >> TAG_BITS.count_ones());
            Self::from_word(index << TAG_BITS.count_ones())
        }

        /// The index of a word made by [`Self::from_index`].
        #[inline]
        pub(crate) fn index(self) -> usize {
            self.word >> TAG_BITS.count_ones()
        }

        #[inline]
        pub(crate) fn ptr(self) -> *mut T {
            (self.word & !TAG_BITS) as *mut T
        }

        #[inline]
        pub(crate) fn tag(self) -> usize {
            self.word & TAG_BITS
        }

        #[inline]
        pub(crate) fn is_null(self) -> bool {
            self.ptr().is_null()
        }

        /// The same pointer with `tag` in place of its tags.
        #[inline]
        pub(crate) fn with_tag(self, tag: usize) -> Self {
            debug_assert_eq!(tag & !TAG_BITS, 0);
            Self::from_word((self.word & !TAG_BITS) | tag)
        }

        /// # Safety
        ///
        /// The pointer is not null and was reachable when it was loaded under
        /// the guard `'g` (or this thread allocated it and has not published
        /// it yet: see the module doc).
        #[inline]
        pub(crate) unsafe fn deref(self) -> &'g T {
            // SAFETY: the caller's contract; kovan keeps the node allocated
            // for as long as the guard lives.
            unsafe { &*self.ptr() }
        }
    }

    impl<T> Clone for Shared<'_, T> {
        fn clone(&self) -> Self {
            *self
        }
    }
    impl<T> Copy for Shared<'_, T> {}
    impl<T> PartialEq for Shared<'_, T> {
        fn eq(&self, other: &Self) -> bool {
            self.word == other.word
        }
    }
    impl<T> Eq for Shared<'_, T> {}
}

// ---------------------------------------------------------------------------
// loom (and shuttle with `shuttle-model`): the model reclaimer, in
// `reclaim/model.rs`.
// ---------------------------------------------------------------------------
#[cfg(any(kovan_map_loom, feature = "shuttle-model"))]
mod model;
#[cfg(any(kovan_map_loom, feature = "shuttle-model"))]
use model as imp;
