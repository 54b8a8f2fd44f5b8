//! The model reclaimer: kovan 0.2.0's reclamation rule, written out so that
//! loom and shuttle can check the maps against it (kovan itself is not
//! loom-aware: its thread locals would make every loom thread one thread).
//!
//! It models what kovan *guarantees*, no more. Every stronger promise a
//! model makes hides exactly the bugs that rely on it, so each rule below
//! names the kovan code it stands for (`guard.rs` and `slot.rs` of kovan
//! 0.2.0), and where it departs from kovan it departs towards fewer
//! guarantees, except where this page says otherwise.
//!
//! # State
//!
//! * A global **epoch** (kovan's `EPOCH`, starting at 1).
//! * Per thread a **slot**: the epoch it published (0: none), the epoch of
//!   its last transition (`drained_epoch`), its cached birth epoch
//!   (`cached_birth_epoch`), its pin count, the retired nodes inserted into
//!   its slot list (**held**), and the ticks of its virtual fences.
//! * Per node: its **birth** epoch, its retire tick and the slots that hold
//!   it.
//! * Per [`Link`], under loom: a log of its stores (word, tick, thread).
//!
//! A *tick* is the model's clock: it advances at every event, so it orders
//! all events in the order loom or shuttle ran them.
//!
//! # Rules
//!
//! | event | kovan | the model |
//! | --- | --- | --- |
//! | allocation | `RetiredNode::new` stamps `cached_birth_epoch` | birth = the thread's cached birth epoch |
//! | outermost `pin` | transitions iff the epoch moved since `drained_epoch`: traverse the slot list, publish the epoch, `fence(SeqCst)` | the same: the held nodes are released (freed when no other slot holds them), the epoch is published and becomes the cached birth, a virtual fence is recorded |
//! | protected load | fast path: load, no fence, if the epoch equals the published one; else publish, `fence(SeqCst)`, reload, until stable | the same |
//! | `retire` | batches; every 64th runs `try_retire` (a `fence(SeqCst)`, then the node joins every slot whose epoch is at least the batch's minimum birth); every 128th advances the epoch and sets the thread's cached birth to the new epoch **without** republishing its slot | each retire is its own batch and scanned at once (the least protection a batch can get); the epoch advances at every retire or never, as the harness chooses (see [`Epochs`]) |
//! | `flush` | submits, advances the epoch, and with no guard live drains the slot and publishes 0 | the same |
//! | guard drop | nothing (the slot keeps its epoch and its list) | the same |
//!
//! A node is **freed** (its payload dropped; its memory kept until the run
//! ends, so an address is never reused within a run) when it is retired and
//! no slot holds it. A dereference through [`Shared::deref`] fails the model
//! unless the node is unretired, or retired and held by the *dereferencing
//! thread's* slot. That is kovan's protection exactly: nothing else keeps a
//! retired node allocated for that thread. In particular a node its own
//! thread allocated and published is *not* protected by that thread's guard
//! when the thread's cached birth epoch ran above its published epoch (after
//! its own epoch advance): the use-after-free of issue 7 lived there.
//!
//! # Load values: the store-buffering pairing, without happens-before
//!
//! kovan's fences pair as store-buffering: either a retirer's scan sees a
//! reader's publication, or the reader's load after its fence sees the
//! retirer's unlink. C11 gives an SC fence no happens-before of its own; it
//! only limits which store a later load may read. The model therefore issues
//! **no loom fence at all** (a loom `SeqCst` fence joins every thread's
//! causality, which would hide too-weak orderings in the maps). Instead:
//!
//! * every event kovan fences at (a transition, a cold-path publication, a
//!   retire's scan, a flush) records a *virtual fence* of its thread;
//! * every protected load under loom checks the value loom gave it against
//!   the link's store log: reading store `s` is impossible if a later store
//!   `s'` of the same link was made by a thread that then made a virtual
//!   fence before the loading thread's latest virtual fence (`s'` sb `F1`,
//!   `F1` <sc `F2`, `F2` sb load: the load must read `s'` or later). An
//!   impossible reading is pruned from loom's exploration
//!   (`loom::skip_branch`) and the load is made again after a yield (loom
//!   never returns a store seen before a yield when a newer one exists), so
//!   the rest of the run is a possible execution and raises no false alarm.
//!
//! Approximations, all towards *allowing* more executions than kovan: only
//! the storing thread's own later fences count (C11 also counts a fence of a
//! third thread that the store happens before); the pairing is applied to
//! [`Link`] loads only (kovan's fences constrain every atomic; the maps must
//! not rely on that, and the model does not grant it). Under shuttle every
//! load reads the latest store, so no log is kept.
//!
//! Where the model is *stronger* than kovan (so a bug relying on the
//! difference would be missed): each retire is scanned at once, which
//! protects nothing kovan would not (a later scan sees more publications),
//! and a thread's held nodes stay held until its next transition even after
//! the thread ends (kovan releases them at thread exit): neither lets a
//! thread dereference a node its own slot does not hold. The epoch advances
//! at every retire or at none (under loom; shuttle chooses per retire): a
//! run in which only some retires advance it is explored only under shuttle.

use super::{AllocFailed, TAG_BITS};
use crate::sync::{AtomicUsize, Ordering};
use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::marker::PhantomData;
use std::alloc::Layout;
use std::collections::HashMap;

#[cfg(kovan_map_loom)]
type ThreadKey = loom::thread::ThreadId;
#[cfg(not(kovan_map_loom))]
type ThreadKey = shuttle::thread::ThreadId;

fn current_thread() -> ThreadKey {
    #[cfg(kovan_map_loom)]
    return loom::thread::current().id();
    #[cfg(not(kovan_map_loom))]
    return shuttle::thread::current().id();
}

/// When the model's global epoch advances (kovan: every 128th retire of a
/// thread, and every `flush`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epochs {
    /// At every retire, as if each were its thread's 128th, and at every
    /// `flush`. Births run ahead of publications: the use-after-free side.
    AdvanceAtEveryRetire,
    /// Only at `flush`. Loads keep kovan's fast path (no fence), so they may
    /// read older stores: the stale-read side. Nothing is freed before a
    /// thread's next transition.
    OnlyAtFlush,
    /// At each retire with probability 1/2 (shuttle only: its random source
    /// is part of the schedule, so a failure replays).
    Random,
}

/// What the model knows of one allocated node.
struct Meta {
    /// kovan: `birth_epoch`, the allocator's cached birth epoch.
    birth: u64,
    /// Tick of its retirement (its scan).
    retired: Option<u64>,
    /// The slots whose lists hold it (kovan: the batch's reference count).
    holders: BTreeSet<usize>,
    /// Payload dropped; memory kept so the address is never reused.
    freed: bool,
    drop_fn: unsafe fn(*mut u8),
    layout: Layout,
}

/// A thread's slot and thread-local state (kovan: `Handle` and its slot).
#[derive(Default)]
struct Slot {
    pin_count: usize,
    /// kovan: `slots.epoch[0]` (and `cached_epoch`); 0: none.
    published: u64,
    /// kovan: `drained_epoch`.
    drained: u64,
    /// kovan: `cached_birth_epoch`; 0: not seeded yet.
    cached_birth: u64,
    /// Retired nodes in this slot's list.
    held: BTreeSet<usize>,
    /// Ticks of this thread's virtual fences, ascending.
    fences: Vec<u64>,
}

struct Registry {
    clock: u64,
    epoch: u64,
    epochs: Epochs,
    nodes: BTreeMap<usize, Meta>,
    /// Slots by a dense index (so node holders are ordered and cheap).
    slots: Vec<Slot>,
    slot_of: HashMap<ThreadKey, usize>,
    /// Loads pruned as impossible in this run (for the suites' statistics).
    pruned: u64,
}

impl Default for Registry {
    fn default() -> Self {
        Self {
            clock: 0,
            epoch: 1,
            epochs: Epochs::AdvanceAtEveryRetire,
            nodes: BTreeMap::new(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            pruned: 0,
        }
    }
}

impl Registry {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    fn slot_index(&mut self, thread: ThreadKey) -> usize {
        if let Some(&i) = self.slot_of.get(&thread) {
            return i;
        }
        self.slots.push(Slot::default());
        self.slot_of.insert(thread, self.slots.len() - 1);
        self.slots.len() - 1
    }

    fn fence(&mut self, slot: usize) {
        let now = self.tick();
        self.slots[slot].fences.push(now);
    }

    /// kovan: the cached birth epoch, seeded from the global epoch.
    fn birth_epoch(&mut self, slot: usize) -> u64 {
        if self.slots[slot].cached_birth == 0 {
            self.slots[slot].cached_birth = self.epoch;
        }
        self.slots[slot].cached_birth
    }

    /// kovan's `increment_era`: the epoch advances and this thread's next
    /// allocations are born at the new epoch; its published epoch stays.
    fn advance(&mut self, slot: usize) {
        self.epoch += 1;
        self.slots[slot].cached_birth = self.epoch;
    }

    /// Releases every node `slot` holds; answers those nobody holds now.
    fn release(&mut self, slot: usize) -> Vec<usize> {
        let held = core::mem::take(&mut self.slots[slot].held);
        let mut free = Vec::new();
        for addr in held {
            let meta = self.nodes.get_mut(&addr).expect("model: held node unknown");
            meta.holders.remove(&slot);
            if meta.holders.is_empty() {
                free.push(addr);
            }
        }
        free
    }

    /// kovan's `do_update` at an outermost pin: traverse, publish, fence.
    fn transition(&mut self, slot: usize) -> Vec<usize> {
        let free = self.release(slot);
        let epoch = self.epoch;
        let s = &mut self.slots[slot];
        s.published = epoch;
        s.drained = epoch;
        s.cached_birth = epoch;
        self.fence(slot);
        free
    }

    /// Marks freed and answers the drop functions to run (outside the
    /// registry's borrow: a payload's drop may reach the reclaimer).
    fn take_for_freeing(&mut self, addrs: Vec<usize>) -> Vec<Drop1> {
        addrs
            .into_iter()
            .map(|addr| {
                let meta = self
                    .nodes
                    .get_mut(&addr)
                    .expect("model: freed node unknown");
                debug_assert!(!meta.freed && meta.holders.is_empty());
                meta.freed = true;
                (addr, meta.drop_fn)
            })
            .collect()
    }

    /// Whether loading `word` from a link with this store log is impossible
    /// for the thread of `slot` under kovan's store-buffering pairing.
    #[cfg(kovan_map_loom)]
    fn impossible_read(&self, log: &[Store], word: usize, slot: usize) -> bool {
        let Some(&my_fence) = self.slots[slot].fences.last() else {
            return false;
        };
        let stale = |i: usize| {
            log[i + 1..].iter().any(|later| {
                let Some(writer) = later.slot else {
                    return false;
                };
                let fences = &self.slots[writer].fences;
                // The writer's first fence after its store.
                let k = fences.partition_point(|&f| f <= later.tick);
                fences.get(k).is_some_and(|&f| f < my_fence)
            })
        };
        let mut matched = false;
        for (i, store) in log.iter().enumerate() {
            if store.word == word {
                matched = true;
                if !stale(i) {
                    return false;
                }
            }
        }
        // A word no store wrote cannot come from this link; say so loudly.
        assert!(
            matched,
            "model: a link returned {word:#x}, which no store of it wrote"
        );
        true
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.free_memory();
    }
}

impl Registry {
    /// Returns the memory of freed nodes to the allocator. Unfreed nodes are
    /// left alone: their drop may belong to an earlier loom execution.
    fn free_memory(&mut self) {
        for (&addr, meta) in &self.nodes {
            if meta.freed {
                // SAFETY: a freed node's payload was dropped; only its
                // memory, allocated with this layout, remains.
                unsafe { std::alloc::dealloc(addr as *mut u8, meta.layout) };
            }
        }
        self.nodes.clear();
    }
}

std::thread_local! {
    // loom and shuttle run every model thread on one OS thread, one at a
    // time, so this registry is the whole model's, and touching it adds no
    // schedule point.
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    REGISTRY.with(|r| f(&mut r.borrow_mut()))
}

/// Runs drop functions with the registry released.
fn run_drops(drops: Vec<Drop1>) {
    for (addr, drop_fn) in drops {
        // SAFETY: retired (unreachable) and held by no slot: kovan would
        // free it now. The memory stays until the run ends.
        unsafe { drop_fn(addr as *mut u8) };
    }
}

/// A freed node's address and the function that drops its payload.
type Drop1 = (usize, unsafe fn(*mut u8));

unsafe fn drop_as<T>(ptr: *mut u8) {
    // SAFETY: `ptr` is the node of type `T` registered with this function.
    unsafe { core::ptr::drop_in_place(ptr.cast::<T>()) }
}

/// Starts a model run: forgets every node, slot and store of earlier runs
/// and sets when the epoch advances. The harness calls it at the start of
/// every loom and shuttle-model execution.
pub fn model_reset(epochs: Epochs) {
    with_registry(|registry| {
        registry.free_memory();
        *registry = Registry::default();
        registry.epochs = epochs;
    });
}

/// Ends a model run, as every thread's exit does in kovan: releases every
/// slot, freeing what no slot holds. Call it once every model thread has
/// joined and no guard is alive (loom's leak check runs after the run).
/// Answers how many loads the run pruned as impossible.
pub fn model_quiesce() -> u64 {
    let (drops, pruned) = with_registry(|registry| {
        let mut free = Vec::new();
        for slot in 0..registry.slots.len() {
            assert_eq!(
                registry.slots[slot].pin_count, 0,
                "model: quiesce with a guard alive"
            );
            free.extend(registry.release(slot));
        }
        (registry.take_for_freeing(free), registry.pruned)
    });
    run_drops(drops);
    pruned
}

/// A critical section of the model reclaimer. Like kovan's, it is `!Send`.
pub struct Guard {
    slot: usize,
    _not_send: PhantomData<*mut ()>,
}

impl core::fmt::Debug for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Guard(slot {})", self.slot)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // kovan's `unpin`: the slot keeps its epoch and its list.
        with_registry(|registry| registry.slots[self.slot].pin_count -= 1);
    }
}

/// The model's retire header: under loom a `Track`, so loom reports a node
/// that is never freed (shuttle has no leak check).
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

/// Enters a critical section (kovan's `pin`).
pub fn pin() -> Guard {
    let thread = current_thread();
    let (slot, drops) = with_registry(|registry| {
        let slot = registry.slot_index(thread);
        registry.slots[slot].pin_count += 1;
        let mut free = Vec::new();
        if registry.slots[slot].pin_count == 1 && registry.epoch != registry.slots[slot].drained {
            free = registry.transition(slot);
        }
        (slot, registry.take_for_freeing(free))
    });
    run_drops(drops);
    Guard {
        slot,
        _not_send: PhantomData,
    }
}

/// kovan's `flush`: submits, advances the epoch and, with no guard alive,
/// drains the slot and publishes 0 (the thread holds nothing back).
pub fn flush() {
    let thread = current_thread();
    let drops = with_registry(|registry| {
        let slot = registry.slot_index(thread);
        let mut free = Vec::new();
        let idle = registry.slots[slot].pin_count == 0;
        if idle {
            free = registry.release(slot);
        }
        registry.fence(slot);
        registry.advance(slot);
        if idle {
            let s = &mut registry.slots[slot];
            s.published = 0;
            s.drained = 0;
        }
        registry.take_for_freeing(free)
    });
    run_drops(drops);
}

pub(crate) fn alloc<T>(value: T) -> *mut T {
    let thread = current_thread();
    let ptr = Box::into_raw(Box::new(value));
    with_registry(|registry| {
        let slot = registry.slot_index(thread);
        let birth = registry.birth_epoch(slot);
        let old = registry.nodes.insert(
            ptr as usize,
            Meta {
                birth,
                retired: None,
                holders: BTreeSet::new(),
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
    let thread = current_thread();
    let addr = ptr as usize;
    let advance = match with_registry(|registry| registry.epochs) {
        Epochs::AdvanceAtEveryRetire => true,
        Epochs::OnlyAtFlush => false,
        #[cfg(not(kovan_map_loom))]
        Epochs::Random => shuttle::rand::Rng::gen::<bool>(&mut shuttle::rand::thread_rng()),
        #[cfg(kovan_map_loom)]
        Epochs::Random => panic!("model: Epochs::Random needs shuttle"),
    };
    let drops = with_registry(|registry| {
        let slot = registry.slot_index(thread);
        // kovan's `try_retire`: fence, then scan the slots.
        registry.fence(slot);
        let now = registry.clock;
        let birth = {
            let meta = registry
                .nodes
                .get(&addr)
                .expect("model: retire of a node the reclaimer never allocated");
            assert!(
                meta.retired.is_none(),
                "model: node {addr:#x} retired twice (two threads both believed their CAS unlinked it)"
            );
            meta.birth
        };
        let holders: BTreeSet<usize> = (0..registry.slots.len())
            .filter(|&s| {
                let published = registry.slots[s].published;
                published != 0 && published >= birth
            })
            .collect();
        for &s in &holders {
            registry.slots[s].held.insert(addr);
        }
        let meta = registry.nodes.get_mut(&addr).expect("checked above");
        meta.retired = Some(now);
        let free = if holders.is_empty() {
            alloc::vec![addr]
        } else {
            meta.holders = holders;
            Vec::new()
        };
        if advance {
            registry.advance(slot);
        }
        registry.take_for_freeing(free)
    });
    run_drops(drops);
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

/// One store into a link, for the load check.
#[cfg(kovan_map_loom)]
struct Store {
    word: usize,
    tick: u64,
    /// The storing thread's slot; `None` for the link's initial value.
    slot: Option<usize>,
}

/// An atomic tagged pointer to a node, on a loom (or shuttle) atomic.
pub(crate) struct Link<T> {
    word: AtomicUsize,
    /// Every store this link took, in modification order (loom runs one
    /// thread at a time, so plain memory outside the model is race-free).
    #[cfg(kovan_map_loom)]
    log: core::cell::UnsafeCell<Vec<Store>>,
    _owns: PhantomData<*mut T>,
}

// SAFETY: as kovan's `Atomic<T>`: the link hands out `&T` to other
// threads and lets them drop `T`. The store log is touched only by the one
// OS thread that runs every model thread.
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
            #[cfg(kovan_map_loom)]
            log: core::cell::UnsafeCell::new(alloc::vec![Store {
                word: ptr as usize,
                tick: 0,
                slot: None,
            }]),
            _owns: PhantomData,
        }
    }

    #[cfg(kovan_map_loom)]
    fn record(&self, word: usize) {
        let thread = current_thread();
        let (tick, slot) = with_registry(|registry| (registry.tick(), registry.slot_index(thread)));
        // SAFETY: one OS thread runs the model; no reference into the log
        // outlives a call of this type.
        unsafe { &mut *self.log.get() }.push(Store {
            word,
            tick,
            slot: Some(slot),
        });
    }

    #[cfg(not(kovan_map_loom))]
    fn record(&self, _word: usize) {}

    /// kovan's protected load: the fast path when the epoch is the one this
    /// thread published, else publish, fence, load, until stable.
    pub(crate) fn load<'g>(&self, order: Ordering, guard: &'g Guard) -> Shared<'g, T> {
        let slot = guard.slot;
        let publish_if_moved = || {
            with_registry(|registry| {
                assert!(
                    registry.slots[slot].pin_count > 0,
                    "model: load outside a guard"
                );
                if registry.slots[slot].published != registry.epoch {
                    // kovan's cold path: publish (a SeqCst store), fence.
                    registry.slots[slot].published = registry.epoch;
                    registry.fence(slot);
                }
            })
        };
        publish_if_moved();
        loop {
            let word = self.word.load(order);
            // The epoch may have moved while loom ran other threads before
            // the load: kovan reads it after the load and goes round again.
            let moved = with_registry(|registry| registry.slots[slot].published != registry.epoch);
            if moved {
                publish_if_moved();
                continue;
            }
            #[cfg(kovan_map_loom)]
            {
                // SAFETY: as in `record`.
                let log = unsafe { &*self.log.get() };
                if with_registry(|registry| registry.impossible_read(log, word, slot)) {
                    with_registry(|registry| registry.pruned += 1);
                    loom::skip_branch();
                    loom::thread::yield_now();
                    continue;
                }
            }
            let loaded_at = with_registry(|registry| registry.tick());
            return Shared {
                word,
                loaded_at,
                _guard: PhantomData,
            };
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
        let done = self
            .word
            .compare_exchange(current.word, new.word, success, failure)
            .is_ok();
        if done {
            self.record(new.word);
        }
        done
    }

    pub(crate) fn store_private(&self, new: Shared<'_, T>) {
        self.word.store(new.word, Ordering::Relaxed);
        self.record(new.word);
    }
}

pub(crate) fn null_links<T>(n: usize) -> Result<Box<[Link<T>]>, AllocFailed> {
    let mut links = Vec::new();
    links.try_reserve_exact(n).map_err(|_| AllocFailed)?;
    links.resize_with(n, Link::null);
    Ok(links.into_boxed_slice())
}

/// A tagged word loaded under a guard (or a node this thread allocated).
pub(crate) struct Shared<'g, T> {
    word: usize,
    /// For failure messages: the tick of the load (0: not loaded).
    loaded_at: u64,
    _guard: PhantomData<(&'g Guard, *mut T)>,
}

impl<'g, T> Shared<'g, T> {
    pub(crate) fn null() -> Self {
        Self {
            word: 0,
            loaded_at: 0,
            _guard: PhantomData,
        }
    }

    /// A node this thread allocated, to be offered to a CAS. Dereferencing
    /// it after the CAS that publishes it is checked like any other
    /// dereference: it fails once another thread retired it, unless this
    /// thread's slot holds it.
    pub(crate) fn from_owned(ptr: *mut T, _guard: &'g Guard) -> Self {
        Self {
            word: ptr as usize,
            loaded_at: 0,
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
    /// As in production. The model checks it: the node must be unretired,
    /// or held by this thread's slot.
    pub(crate) unsafe fn deref(self) -> &'g T {
        let addr = self.ptr() as usize;
        assert!(addr != 0, "model: dereference of a null link");
        let thread = current_thread();
        let verdict = with_registry(|registry| {
            let slot = registry.slot_index(thread);
            let Some(meta) = registry.nodes.get(&addr) else {
                return Err(format!(
                    "model reclaimer: node {addr:#x} was dereferenced after the map destroyed \
                     it outright (a node freed while still reachable)"
                ));
            };
            let Some(retired) = meta.retired else {
                return Ok(());
            };
            if meta.holders.contains(&slot) && !meta.freed {
                return Ok(());
            }
            let s = &registry.slots[slot];
            let how = if self.loaded_at == 0 {
                "a pointer to a node this thread allocated and published (kovan protects \
                 its own allocation only while its published epoch covers the birth)"
                    .to_string()
            } else {
                format!("a pointer loaded at tick {}", self.loaded_at)
            };
            Err(format!(
                "model reclaimer: use after reclamation: node {addr:#x} (born at epoch {}, \
                 retired at tick {retired}, {}) was dereferenced through {how} by a thread whose \
                 slot does not hold it (published epoch {}, cached birth epoch {}, now epoch {}, \
                 tick {}): kovan may free it under this guard",
                meta.birth,
                if meta.freed {
                    "already freed".to_string()
                } else {
                    format!("held by {} other slot(s)", meta.holders.len())
                },
                s.published,
                s.cached_birth,
                registry.epoch,
                registry.clock,
            ))
        });
        if let Err(message) = verdict {
            panic!("{message}");
        }
        // SAFETY: checked above: unretired, or held by this thread's slot.
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

/// Fidelity tests of the model against kovan's rule: run with
/// `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map --release --lib`.
#[cfg(all(test, kovan_map_loom))]
mod tests;
