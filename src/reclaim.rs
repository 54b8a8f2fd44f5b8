//! The reclamation facade: the one door through which the maps reach kovan.
//!
//! What the maps use:
//!
//! * [`Guard`] and [`pin`]: a critical section. A node loaded through a
//!   [`Link`] under a guard stays allocated until the guard is dropped,
//!   *provided the node was reachable (linked, not yet retired) at the load*.
//!   This is kovan's contract, and the model reclaimer below enforces exactly
//!   it.
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
//! | loom       | the model reclaimer in this file (kovan is not loom-aware) |
//! | shuttle with `shuttle-model` | the model reclaimer again, under shuttle's schedules |
//!
//! # The model reclaimer (loom)
//!
//! kovan's thread-locals would make every loom thread the same thread, so
//! under loom this module is a small reclaimer of its own whose bookkeeping
//! lives outside the model (loom runs one thread at a time on one OS thread,
//! so a plain thread-local registry adds no schedule points). It models
//! kovan's era rule at the finest grain, as if the epoch advanced between
//! any two events:
//!
//! 1. Every node has a birth tick (its allocation) and, once retired, a
//!    retire tick. Every guard has reservations: the tick of its `pin` and of
//!    each load through a [`Link`] (kovan publishes a new era at a load that
//!    sees the epoch moved). A guard protects a node iff one of its
//!    reservations lies in `[birth, retire]`; a retired node that no live
//!    guard protects is freed at once (payload dropped, loom `Track`
//!    released).
//! 2. A load that returns a node its guard does not protect (a retired node
//!    read from a dead node's link, say) yields an *unprotected* [`Shared`];
//!    dereferencing it fails the model, naming the node, its lifetime and the
//!    guard's reservations. A freed node's memory is never handed out again
//!    during the run, so a stale pointer cannot alias a new node.
//! 3. Every node carries a `loom::alloc::Track`, so loom's leak check reports
//!    a node that is never freed.
//! 4. `pin` and `retire` carry a `SeqCst` fence, standing for the `SeqCst`
//!    publication and scan of kovan's epoch transitions. (loom joins the
//!    causality of all `SeqCst` fences, which is stronger than C11's fence
//!    rule; the consequence is written in docs/verification.md.)

pub use imp::*;

/// Low bits of a [`Link`] word that the maps may use as tags.
pub(crate) const TAG_BITS: usize = 0b111;

/// The bucket array of a table could not be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AllocFailed;

// ---------------------------------------------------------------------------
// Production and shuttle: kovan.
// ---------------------------------------------------------------------------
#[cfg(not(any(kovan_map_loom, feature = "shuttle-model")))]
mod imp {
    use super::{AllocFailed, TAG_BITS};
    use crate::sync::Ordering;
    use alloc::boxed::Box;
    use core::marker::PhantomData;

    pub use kovan::Guard;

    /// What every retirable node starts with: kovan's retire header.
    pub(crate) type Header = kovan::RetiredNode;

    /// Enters a critical section.
    #[inline]
    pub fn pin() -> Guard {
        kovan::pin()
    }

    /// Pushes this thread's retired nodes towards reclamation (kovan's
    /// `flush`): finalises its partial batch, advances the epoch and frees
    /// what no guard protects any more.
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
            Shared::from_word(self.word.load(order, guard).as_raw() as usize)
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
                .compare_exchange(current, new, success, failure, guard)
                .is_ok()
        }

        /// Stores into a link no other thread can see yet (a node being built).
        #[inline]
        pub(crate) fn store_private(&self, new: Shared<'_, T>) {
            // SAFETY: as in `cas`.
            let new = unsafe { kovan::Shared::from_raw(new.word as *mut T) };
            self.word.store(new, Ordering::Relaxed);
        }
    }

    /// A bucket array of `n` null links, or `AllocFailed`.
    pub(crate) fn null_links<T>(n: usize) -> Result<Box<[Link<T>]>, AllocFailed> {
        let mut links = alloc::vec::Vec::new();
        links.try_reserve_exact(n).map_err(|_| AllocFailed)?;
        links.resize_with(n, Link::null);
        Ok(links.into_boxed_slice())
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

        /// A node this thread allocated, about to be (or just) published under
        /// `guard`. kovan stamps a node's birth with the allocating thread's
        /// epoch, so this thread's guard protects it like a loaded node.
        #[inline]
        pub(crate) fn from_owned(ptr: *mut T, _guard: &'g Guard) -> Self {
            Self::from_word(ptr as usize)
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
        /// the guard `'g` (or this thread allocated it under that guard).
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
// loom (and shuttle with `shuttle-model`): the model reclaimer.
// ---------------------------------------------------------------------------
#[cfg(any(kovan_map_loom, feature = "shuttle-model"))]
mod imp {
    use super::{AllocFailed, TAG_BITS};
    use crate::sync::{AtomicUsize, Ordering};
    use alloc::boxed::Box;
    use alloc::collections::BTreeMap;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use core::marker::PhantomData;
    use std::alloc::Layout;

    /// What the model knows of one allocated node. Times are ticks of the
    /// registry's clock, a stand-in for kovan's epochs at the finest
    /// granularity (as if the epoch advanced between any two events).
    struct Meta {
        /// When it was allocated (kovan: its birth epoch).
        birth: u64,
        /// When it was retired (kovan: its retire epoch).
        retired: Option<u64>,
        /// Dropped: payload gone, memory kept so the address is never reused.
        freed: bool,
        drop_fn: unsafe fn(*mut u8),
        layout: Layout,
    }

    #[derive(Default)]
    struct Registry {
        clock: u64,
        nodes: BTreeMap<usize, Meta>,
        /// Retired nodes not yet freed.
        pending: alloc::collections::BTreeSet<usize>,
        /// Live guards: their reservations (kovan: the eras each published).
        guards: BTreeMap<u64, Vec<u64>>,
        next_guard: u64,
    }

    impl Registry {
        fn tick(&mut self) -> u64 {
            self.clock += 1;
            self.clock
        }

        /// kovan protects a node for a guard iff one of the guard's
        /// reservations lies in `[birth, retire]`.
        fn protects(reservations: &[u64], birth: u64, retired: u64) -> bool {
            reservations.iter().any(|&t| birth <= t && t <= retired)
        }

        /// Drops the payload of a retired node no live guard protects; keeps
        /// its memory.
        fn free_if_unprotected(&mut self, addr: usize) {
            let Some(meta) = self.nodes.get_mut(&addr) else {
                return;
            };
            let Some(retired) = meta.retired else {
                return;
            };
            if meta.freed
                || self
                    .guards
                    .values()
                    .any(|r| Self::protects(r, meta.birth, retired))
            {
                return;
            }
            meta.freed = true;
            self.pending.remove(&addr);
            // SAFETY: retired (unreachable) and no live guard protects it.
            unsafe { (meta.drop_fn)(addr as *mut u8) };
        }
    }

    impl Drop for Registry {
        fn drop(&mut self) {
            for (&addr, meta) in &self.nodes {
                if meta.freed {
                    // SAFETY: a freed node's payload was dropped; only its
                    // memory, allocated with this layout, remains.
                    unsafe { std::alloc::dealloc(addr as *mut u8, meta.layout) };
                }
            }
        }
    }

    std::thread_local! {
        static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
    }

    fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
        REGISTRY.with(|r| f(&mut r.borrow_mut()))
    }

    unsafe fn drop_as<T>(ptr: *mut u8) {
        // SAFETY: `ptr` is the node of type `T` registered with this function.
        unsafe { core::ptr::drop_in_place(ptr.cast::<T>()) }
    }

    /// A critical section of the model reclaimer.
    pub struct Guard {
        id: u64,
        _not_send: PhantomData<*mut ()>,
    }

    impl core::fmt::Debug for Guard {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            write!(f, "Guard({})", self.id)
        }
    }

    impl Drop for Guard {
        fn drop(&mut self) {
            // Dropping a payload may drop other guards' state, never this
            // registry's borrow: payload drops run after the loop's lookups.
            let retired: Vec<usize> = with_registry(|registry| {
                registry.guards.remove(&self.id);
                registry.pending.iter().copied().collect()
            });
            for addr in retired {
                with_registry(|registry| registry.free_if_unprotected(addr));
            }
        }
    }

    /// The model's retire header: under loom a `Track`, so loom reports a
    /// node that is never freed (shuttle has no leak check).
    pub(crate) struct Header {
        #[cfg(kovan_map_loom)]
        _track: loom::alloc::Track<()>,
    }

    impl Header {
        pub(crate) fn new() -> Self {
            Self {
                #[cfg(kovan_map_loom)]
                _track: loom::alloc::Track::new(()),
            }
        }
    }

    /// Enters a critical section: its first reservation is now.
    ///
    /// kovan publishes a reservation with a `SeqCst` store and fence when the
    /// epoch moved since the thread's last transition, which the model
    /// assumes always: so does this pin.
    pub fn pin() -> Guard {
        crate::sync::fence(Ordering::SeqCst);
        with_registry(|registry| {
            let now = registry.tick();
            let id = registry.next_guard;
            registry.next_guard += 1;
            registry.guards.insert(id, alloc::vec![now]);
            Guard {
                id,
                _not_send: PhantomData,
            }
        })
    }

    /// Nothing to push under the model: a node is freed as soon as no guard
    /// protects it.
    pub fn flush() {}

    pub(crate) fn alloc<T>(value: T) -> *mut T {
        let ptr = Box::into_raw(Box::new(value));
        with_registry(|registry| {
            let birth = registry.tick();
            let old = registry.nodes.insert(
                ptr as usize,
                Meta {
                    birth,
                    retired: None,
                    freed: false,
                    drop_fn: drop_as::<T>,
                    layout: Layout::new::<T>(),
                },
            );
            assert!(old.is_none(), "model: an address was handed out twice");
        });
        ptr
    }

    /// # Safety
    ///
    /// As in production: `ptr` came from [`alloc`], is unreachable, and is
    /// retired once.
    pub(crate) unsafe fn retire<T: 'static>(ptr: *mut T) {
        // kovan orders a retirement with the reservations it checks through
        // `SeqCst` operations; a fence stands for them here.
        crate::sync::fence(Ordering::SeqCst);
        with_registry(|registry| {
            let now = registry.tick();
            let meta = registry
                .nodes
                .get_mut(&(ptr as usize))
                .expect("model: retire of a node the reclaimer never allocated");
            assert!(
                meta.retired.is_none(),
                "model: node {:#x} retired twice (two threads both believed their CAS unlinked it)",
                ptr as usize
            );
            meta.retired = Some(now);
            registry.pending.insert(ptr as usize);
        });
        with_registry(|registry| registry.free_if_unprotected(ptr as usize));
    }

    /// # Safety
    ///
    /// As in production: exclusive access, let go once.
    pub(crate) unsafe fn destroy<T>(ptr: *mut T) {
        let meta = with_registry(|registry| registry.nodes.remove(&(ptr as usize)));
        let meta = meta.expect("model: destroy of a node the reclaimer never allocated");
        assert!(
            meta.retired.is_none(),
            "model: node {:#x} destroyed after it was retired (double free)",
            ptr as usize
        );
        // SAFETY: the caller owns the node; it came from `Box::into_raw`.
        drop(unsafe { Box::from_raw(ptr) });
    }

    /// # Safety
    ///
    /// As for [`destroy`].
    pub(crate) unsafe fn take<T>(ptr: *mut T) -> T {
        let meta = with_registry(|registry| registry.nodes.remove(&(ptr as usize)));
        assert!(
            meta.is_some_and(|m| m.retired.is_none()),
            "model: take of a retired node"
        );
        // SAFETY: the caller owns the node; it came from `Box::into_raw`.
        *unsafe { Box::from_raw(ptr) }
    }

    /// An atomic tagged pointer to a node, on a loom atomic.
    pub(crate) struct Link<T> {
        word: AtomicUsize,
        _owns: PhantomData<*mut T>,
    }

    // SAFETY: as kovan's `Atomic<T>`: the link hands out `&T` to other
    // threads and lets them drop `T`.
    unsafe impl<T: Send + Sync> Send for Link<T> {}
    // SAFETY: as above.
    unsafe impl<T: Send + Sync> Sync for Link<T> {}

    impl<T> Link<T> {
        pub(crate) fn null() -> Self {
            Self::new(core::ptr::null_mut())
        }

        pub(crate) fn new(ptr: *mut T) -> Self {
            Self {
                word: AtomicUsize::new(ptr as usize),
                _owns: PhantomData,
            }
        }

        pub(crate) fn load<'g>(&self, order: Ordering, guard: &'g Guard) -> Shared<'g, T> {
            // kovan's load when the epoch moved (which the model assumes
            // always): publish a reservation, `SeqCst` fence, load, and load
            // again while the epoch keeps moving. The fence pairs with the
            // one in `retire`: either the retirer's scan sees this
            // reservation, or this load sees the unlink before the retire.
            let word = loop {
                let reserved = with_registry(|registry| {
                    let now = registry.tick();
                    registry
                        .guards
                        .get_mut(&guard.id)
                        .expect("model: unknown guard")
                        .push(now);
                    now
                });
                crate::sync::fence(Ordering::SeqCst);
                let word = self.word.load(order);
                if with_registry(|registry| registry.clock == reserved) {
                    break word;
                }
            };
            let addr = word & !TAG_BITS;
            let (protected, loaded_at, reservations) = with_registry(|registry| {
                let now = registry.clock;
                if addr == 0 {
                    return (true, now, &[][..]);
                }
                let reservations = &registry.guards[&guard.id];
                let protected = match registry.nodes.get(&addr) {
                    Some(meta) if meta.freed => false,
                    Some(meta) => match meta.retired {
                        None => true,
                        Some(retired) => Registry::protects(reservations, meta.birth, retired),
                    },
                    None => false,
                };
                // Kept only for a failure message; leaked on purpose then.
                let snapshot: &'static [u64] = if protected {
                    &[]
                } else {
                    alloc::boxed::Box::leak(reservations.clone().into_boxed_slice())
                };
                (protected, now, snapshot)
            });
            Shared {
                word,
                protected,
                loaded_at,
                reservations,
                _guard: PhantomData,
            }
        }

        pub(crate) fn cas(
            &self,
            current: Shared<'_, T>,
            new: Shared<'_, T>,
            success: Ordering,
            failure: Ordering,
            _guard: &Guard,
        ) -> bool {
            self.word
                .compare_exchange(current.word, new.word, success, failure)
                .is_ok()
        }

        pub(crate) fn store_private(&self, new: Shared<'_, T>) {
            self.word.store(new.word, Ordering::Relaxed);
        }
    }

    pub(crate) fn null_links<T>(n: usize) -> Result<Box<[Link<T>]>, AllocFailed> {
        let mut links = Vec::new();
        links.try_reserve_exact(n).map_err(|_| AllocFailed)?;
        links.resize_with(n, Link::null);
        Ok(links.into_boxed_slice())
    }

    /// A tagged word loaded under a guard, with whether the load protected it.
    pub(crate) struct Shared<'g, T> {
        word: usize,
        protected: bool,
        /// For the failure message: when it was loaded, by whom.
        loaded_at: u64,
        reservations: &'static [u64],
        _guard: PhantomData<(&'g Guard, *mut T)>,
    }

    impl<'g, T> Shared<'g, T> {
        pub(crate) fn null() -> Self {
            Self {
                word: 0,
                protected: true,
                loaded_at: 0,
                reservations: &[],
                _guard: PhantomData,
            }
        }

        pub(crate) fn from_owned(ptr: *mut T, guard: &'g Guard) -> Self {
            let addr = ptr as usize;
            with_registry(|registry| {
                let birth = registry
                    .nodes
                    .get(&addr)
                    .expect("model: from_owned of a node the reclaimer never allocated")
                    .birth;
                // kovan stamps a node's birth with its allocator's published
                // era, so the allocator's guard protects it: a reservation at
                // its birth (if the node was built under an earlier guard,
                // this guard's pin, later than the birth, already covers it).
                let reservations = registry
                    .guards
                    .get_mut(&guard.id)
                    .expect("model: unknown guard");
                if birth > reservations[0] {
                    reservations.push(birth);
                }
            });
            Self {
                word: addr,
                protected: true,
                loaded_at: 0,
                reservations: &[],
                _guard: PhantomData,
            }
        }

        pub(crate) fn ptr(self) -> *mut T {
            (self.word & !TAG_BITS) as *mut T
        }

        pub(crate) fn tag(self) -> usize {
            self.word & TAG_BITS
        }

        pub(crate) fn is_null(self) -> bool {
            self.ptr().is_null()
        }

        pub(crate) fn with_tag(self, tag: usize) -> Self {
            debug_assert_eq!(tag & !TAG_BITS, 0);
            Self {
                word: (self.word & !TAG_BITS) | tag,
                ..self
            }
        }

        /// # Safety
        ///
        /// As in production. The model checks it: dereferencing a node that
        /// was already retired when it was loaded fails the model.
        pub(crate) unsafe fn deref(self) -> &'g T {
            let addr = self.ptr() as usize;
            assert!(addr != 0, "model: dereference of a null link");
            if !self.protected {
                let lifetime = with_registry(|registry| {
                    registry.nodes.get(&addr).map(|m| (m.birth, m.retired))
                });
                let Some((birth, retired)) = lifetime else {
                    panic!(
                        "model reclaimer: node {addr:#x} was dereferenced after the map \
                         destroyed it outright (a node freed while still reachable)"
                    );
                };
                panic!(
                    "model reclaimer: node {addr:#x} (born at tick {birth}, retired at tick \
                     {retired:?}) was dereferenced through a pointer loaded at tick {} by a \
                     guard whose reservations {:?} all miss its lifetime: kovan does not \
                     protect such a load (use after reclamation)",
                    self.loaded_at, self.reservations
                );
            }
            let freed = with_registry(|registry| registry.nodes.get(&addr).map(|m| m.freed));
            assert_eq!(
                freed,
                Some(false),
                "model reclaimer: node {addr:#x} dereferenced after it was freed"
            );
            // SAFETY: checked above: protected and not freed.
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
