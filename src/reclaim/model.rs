//! The model reclaimer: kovan 0.2.0's reclamation rule, written out so that
//! loom and shuttle can check the maps against it (kovan itself is not
//! loom-aware: its thread locals would make every loom thread one thread).
//!
//! It models what kovan *guarantees*, no more. Every stronger promise a
//! model makes hides exactly the bugs that rely on it, so each rule below
//! names the kovan code it stands for (`guard.rs` and `slot.rs` of kovan
//! 0.2.0), and where it departs from kovan this page says which way.
//!
//! # State
//!
//! * kovan's global `EPOCH`, starting at 1, as an atomic *of the model
//!   checker* (loom's or shuttle's), read and advanced with kovan's
//!   orderings: a pin or a load may read a stale epoch exactly when kovan's
//!   may, and loom sees the races on it.
//! * Per thread a **slot**: the epoch it published (0: none), the epoch of
//!   its last transition (`drained_epoch`), its cached birth epoch
//!   (`cached_birth_epoch`), its pin count, its batch of retired nodes not
//!   yet scanned, the retired nodes inserted into its slot list (**held**),
//!   the ticks of its virtual fences, and the nodes it dereferenced in its
//!   current critical section.
//! * Per node: its **birth** epoch, whether and when it was retired and
//!   scanned, and the slots that hold it.
//! * Per [`Link`], under loom: a log of its stores (tick, thread); the
//!   atomic carries the store's index above the 48 bits of the word, so a
//!   load knows which store loom gave it, also when a word is stored again.
//!
//! A *tick* is the model's clock: it advances at every event, so it orders
//! all events in the order loom or shuttle ran them.
//!
//! # Rules
//!
//! | event | kovan | the model |
//! | --- | --- | --- |
//! | allocation | `RetiredNode::new` stamps `cached_birth_epoch` (seeded from `EPOCH` on first use) | the same |
//! | outermost `pin` | reads `EPOCH` (Acquire); transitions iff it differs from `drained_epoch`: traverse the slot list, publish the epoch read, `fence(SeqCst)` | the same: the held nodes are released (freed when no other slot holds them), the epoch read is published and becomes the cached birth, a virtual fence is recorded |
//! | protected load | load, then `EPOCH` (Acquire); fast path (no fence) if at most the published epoch; else publish, `fence(SeqCst)`, reload, until the epoch holds still | the same; a `Relaxed` load therefore has no happens-before to the epoch a node was born at, and may return an unprotected node, as in kovan |
//! | `retire` | joins the batch; every 64th runs `try_retire` (a `fence(SeqCst)`, then each node joins every slot whose epoch is at least the batch's minimum birth); every 128th also advances `EPOCH` and sets the cached birth to the new epoch **without** republishing the slot | which retires are 64th and 128th is the run's choice (see [`Epochs`]): either every retire is a 128th (fence, scan, advance), or none is a 64th (the node waits in the batch); a scan compares each node's own birth (the least protection a batch can get) |
//! | `flush` | returns at once on a thread with no ID and nothing to submit; else scans the batch (fenced) if it holds any, advances the epoch, and with no guard live drains the slot and publishes 0 | the same |
//! | guard drop | nothing (the slot keeps its epoch and its list) | the same |
//! | thread exit | submits the batch, releases the slot | at the end of the run (`model_quiesce`) |
//!
//! A node is **freed** (its payload dropped; its memory kept until the run
//! ends, so an address is never reused within a run) when it was scanned and
//! no slot holds it. A dereference through [`Shared::deref`] fails the model
//! unless the node is unretired, retired but not yet scanned (it still sits
//! in its retirer's batch), or held by the *dereferencing thread's* slot;
//! and freeing a node that a thread dereferenced in a critical section still
//! open fails the model too (the references from that dereference would
//! dangle). That is kovan's protection: nothing else keeps a retired node
//! allocated for that thread. In particular a node its own thread allocated
//! and published is *not* protected by that thread's guard when the thread's
//! cached birth epoch ran above its published epoch (after its own epoch
//! advance): the use-after-free of issue 7 lived there.
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
//!   scan) records a *virtual fence* of its thread;
//! * every protected load under loom checks the store loom gave it against
//!   the link's store log: reading store `s` is impossible if a later store
//!   `s'` of the same link was made by a thread that then made a virtual
//!   fence before the loading thread's latest virtual fence (`s'` sb `F1`,
//!   `F1` <sc `F2`, `F2` sb load: the load must read `s'` or later). An
//!   impossible reading is pruned from loom's exploration
//!   (`loom::skip_branch`) and the load is made again after a yield (loom
//!   never returns a store seen before a yield when a newer one exists), so
//!   the rest of the run is a possible execution and raises no false alarm.
//!
//! # Where the model departs from kovan
//!
//! Towards *allowing* more than kovan (which could only cost false alarms;
//! the suites raise none on the shipped code): only the storing thread's own
//! later fences count (C11 also counts a fence of a third thread that the
//! store happens before); the pairing is applied to [`Link`] loads only
//! (kovan's fences constrain every atomic; the maps must not rely on that);
//! a scan reads each slot's latest publication in the run's order (the
//! pairing guarantees a scan after a publication sees it; before, kovan's
//! scan may or may not).
//!
//! Towards *forbidding* more than kovan (so a bug relying on the difference
//! would be missed): under loom, every retire is a 128th or none is a 64th,
//! never some (shuttle chooses per retire); a slot's publications and the
//! per-node registry are plain memory, so loom's partial-order reduction
//! sees their races only through the epoch atomic and the links around
//! them; and a thread's held nodes stay held until the run ends even after
//! the thread ends (kovan releases them at exit), which only delays payload
//! drops. Under shuttle every load reads the latest store, so no log is
//! kept.

use super::TAG_BITS;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};
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

/// Which retires are kovan's 64th and 128th (the ones that scan, fence and
/// advance the epoch): a choice of the run, not of the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Epochs {
    /// Every retire is its thread's 128th: it fences, is scanned at once and
    /// advances the epoch. Births run ahead of publications: the
    /// use-after-free side.
    AdvanceAtEveryRetire,
    /// No retire is a 64th: retires only join their thread's batch, which a
    /// `flush` (or the end of the run) scans; the epoch advances only at
    /// `flush`. Loads stay on the fence-free fast path and may read older
    /// stores: the stale-read side.
    OnlyAtFlush,
    /// Each retire is a 128th with probability 1/2 (shuttle only: its random
    /// source is part of the schedule, so a failure replays).
    Random,
}

/// What the model knows of one allocated node.
struct Meta {
    /// kovan: `birth_epoch`, the allocator's cached birth epoch.
    birth: u64,
    /// Tick of its retirement.
    retired: Option<u64>,
    /// Its batch was scanned (kovan's `try_retire`): from then on only the
    /// slots in `holders` keep it allocated. Before, it waits in its
    /// retirer's batch and nothing frees it.
    scanned: bool,
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
    /// This thread's retired nodes not yet scanned (kovan: its batch).
    batch: Vec<usize>,
    /// Ticks of this thread's virtual fences, ascending.
    fences: Vec<u64>,
    /// Nodes dereferenced in the current critical section: freeing one while
    /// the section lives is a use after free of a reference still held.
    derefs: BTreeSet<usize>,
    /// Whether the thread ever pinned (kovan: it has a thread ID).
    has_id: bool,
}

struct Registry {
    clock: u64,
    /// kovan's `EPOCH`, an atomic of the model checker, so that a load of it
    /// may be stale exactly as loom or shuttle allow, and its races are
    /// visible to loom. Leaked: it belongs to one execution.
    epoch: Option<&'static AtomicU64>,
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
            epoch: None,
            epochs: Epochs::AdvanceAtEveryRetire,
            nodes: BTreeMap::new(),
            slots: Vec::new(),
            slot_of: HashMap::new(),
            pruned: 0,
        }
    }
}

/// A freed node's address and the function that drops its payload.
type Drop1 = (usize, unsafe fn(*mut u8));

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

    /// kovan's `try_retire` of `batch`: a fence, then every node joins the
    /// list of every slot whose published epoch is at least its birth. (kovan
    /// compares with the batch's minimum birth, which protects more; a
    /// per-node comparison is the least a batch can get.) Answers the nodes
    /// no slot took, to free.
    fn scan(&mut self, slot: usize, batch: Vec<usize>) -> Vec<usize> {
        if batch.is_empty() {
            return Vec::new();
        }
        self.fence(slot);
        let mut free = Vec::new();
        for addr in batch {
            let birth = self.nodes[&addr].birth;
            let holders: BTreeSet<usize> = (0..self.slots.len())
                .filter(|&s| {
                    let published = self.slots[s].published;
                    published != 0 && published >= birth
                })
                .collect();
            for &s in &holders {
                self.slots[s].held.insert(addr);
            }
            let meta = self
                .nodes
                .get_mut(&addr)
                .expect("model: scanned node unknown");
            meta.scanned = true;
            if holders.is_empty() {
                free.push(addr);
            } else {
                meta.holders = holders;
            }
        }
        free
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

    /// Marks freed and answers the drop functions to run (outside the
    /// registry's borrow: a payload's drop may reach the reclaimer). Fails
    /// the model if a thread that dereferenced one of them is still in the
    /// critical section in which it did: its references would dangle.
    fn take_for_freeing(&mut self, addrs: Vec<usize>) -> Vec<Drop1> {
        for &addr in &addrs {
            if let Some(s) = (0..self.slots.len())
                .find(|&s| self.slots[s].pin_count > 0 && self.slots[s].derefs.contains(&addr))
            {
                let meta = &self.nodes[&addr];
                panic!(
                    "model reclaimer: use after reclamation: node {addr:#x} (born at epoch {}) \
                     is freed while slot {s}, which dereferenced it in its current critical \
                     section (published epoch {}), still holds its guard: its references would \
                     dangle (kovan does not protect the node for that thread)",
                    meta.birth, self.slots[s].published
                );
            }
        }
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

    /// Whether reading the store at `index` of a link's log is impossible
    /// for the thread of `slot` under kovan's store-buffering pairing: a
    /// later store of the link was followed, in its writer, by a virtual
    /// fence that precedes this thread's latest one.
    #[cfg(kovan_map_loom)]
    fn impossible_read(&self, log: &[Store], index: usize, slot: usize) -> bool {
        let Some(&my_fence) = self.slots[slot].fences.last() else {
            return false;
        };
        log[index + 1..].iter().any(|later| {
            let Some(writer) = later.slot else {
                return false;
            };
            let fences = &self.slots[writer].fences;
            // The writer's first fence after its store.
            let k = fences.partition_point(|&f| f <= later.tick);
            fences.get(k).is_some_and(|&f| f < my_fence)
        })
    }

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

impl Drop for Registry {
    fn drop(&mut self) {
        self.free_memory();
    }
}

std::thread_local! {
    // loom and shuttle run every model thread on one OS thread, one at a
    // time, so this registry is the whole model's, and touching it adds no
    // schedule point.
    static REGISTRY: RefCell<Registry> = RefCell::new(Registry::default());
}

/// Runs `f` on the registry. Never call the model checker's atomics inside
/// `f`: they may switch threads, and the next thread would find the
/// registry borrowed.
fn with_registry<R>(f: impl FnOnce(&mut Registry) -> R) -> R {
    REGISTRY.with(|r| f(&mut r.borrow_mut()))
}

/// kovan's `EPOCH`.
fn epoch_cell() -> &'static AtomicU64 {
    with_registry(|registry| {
        registry
            .epoch
            .expect("model: call model_reset at the start of every execution")
    })
}

/// kovan's `slot::epoch()`: `EPOCH.load(Acquire)`.
fn read_epoch() -> u64 {
    // ORDERING: Acquire, as kovan's `slot::epoch`; pairs with the AcqRel
    // `fetch_add` of `advance_epoch`.
    epoch_cell().load(Ordering::Acquire)
}

/// kovan's `increment_era`: the epoch advances (`fetch_add`, AcqRel) and
/// this thread's next allocations are born at the new epoch; its published
/// epoch stays.
fn advance(slot: usize) {
    // ORDERING: AcqRel, as kovan's `advance_epoch`; pairs with the Acquire
    // loads of `read_epoch`.
    let new = epoch_cell().fetch_add(1, Ordering::AcqRel) + 1;
    with_registry(|registry| registry.slots[slot].cached_birth = new);
}

/// Runs drop functions with the registry released.
fn run_drops(drops: Vec<Drop1>) {
    for (addr, drop_fn) in drops {
        // SAFETY: retired (unreachable) and held by no slot: kovan would
        // free it now. The memory stays until the run ends.
        unsafe { drop_fn(addr as *mut u8) };
    }
}

unsafe fn drop_as<T>(ptr: *mut u8) {
    // SAFETY: `ptr` is the node of type `T` registered with this function.
    unsafe { core::ptr::drop_in_place(ptr.cast::<T>()) }
}

fn this_slot() -> usize {
    let thread = current_thread();
    with_registry(|registry| registry.slot_index(thread))
}

/// Starts a model run: forgets every node, slot and store of earlier runs,
/// makes the epoch (1, as kovan's starts) and sets which retires advance
/// it. The harness calls it at the start of every loom and shuttle-model
/// execution, before any map exists.
pub fn model_reset(epochs: Epochs) {
    let epoch: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(1)));
    with_registry(|registry| {
        registry.free_memory();
        *registry = Registry::default();
        registry.epochs = epochs;
        registry.epoch = Some(epoch);
    });
}

/// Ends a model run, as every thread's exit does in kovan: scans every
/// batch and releases every slot, freeing what no slot holds. Call it once
/// every model thread has joined and no guard is alive (loom's leak check
/// runs after the run). Answers how many loads the run pruned as
/// impossible.
pub fn model_quiesce() -> u64 {
    let (drops, pruned) = with_registry(|registry| {
        let mut free = Vec::new();
        for slot in 0..registry.slots.len() {
            assert_eq!(
                registry.slots[slot].pin_count, 0,
                "model: quiesce with a guard alive"
            );
            let batch = core::mem::take(&mut registry.slots[slot].batch);
            free.extend(registry.scan(slot, batch));
        }
        for slot in 0..registry.slots.len() {
            free.extend(registry.release(slot));
        }
        (registry.take_for_freeing(free), registry.pruned)
    });
    run_drops(drops);
    pruned
}

/// A critical section of the model reclaimer. Like kovan's, it is `!Send`.
pub struct Guard {
    pub(super) slot: usize,
    _not_send: PhantomData<*mut ()>,
}

impl core::fmt::Debug for Guard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Guard(slot {})", self.slot)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        // kovan's `unpin`: the slot keeps its epoch and its list. The
        // references of the section end with its outermost guard.
        with_registry(|registry| {
            let s = &mut registry.slots[self.slot];
            s.pin_count -= 1;
            if s.pin_count == 0 {
                s.derefs.clear();
            }
        });
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

/// Enters a critical section (kovan's `pin`): the outermost pin reads the
/// epoch and transitions if it moved since the last transition.
pub fn pin() -> Guard {
    let slot = this_slot();
    let outermost = with_registry(|registry| {
        let s = &mut registry.slots[slot];
        s.pin_count += 1;
        s.has_id = true;
        s.pin_count == 1
    });
    if outermost {
        let epoch = read_epoch();
        let drops = with_registry(|registry| {
            if epoch == registry.slots[slot].drained {
                return Vec::new();
            }
            // kovan's `do_update`: traverse the list, publish, fence.
            let free = registry.release(slot);
            let s = &mut registry.slots[slot];
            s.published = epoch;
            s.drained = epoch;
            s.cached_birth = epoch;
            registry.fence(slot);
            registry.take_for_freeing(free)
        });
        run_drops(drops);
    }
    Guard {
        slot,
        _not_send: PhantomData,
    }
}

/// kovan's `flush`: submits the batch (a scan, fenced, if it holds any),
/// advances the epoch and, with no guard alive, drains the slot and
/// publishes 0 (the thread holds nothing back).
pub fn flush() {
    let slot = this_slot();
    let proceed = with_registry(|registry| {
        let s = &registry.slots[slot];
        // kovan returns at once on a thread with no ID and nothing to submit.
        s.has_id || !s.batch.is_empty()
    });
    if !proceed {
        return;
    }
    let (idle, drops) = with_registry(|registry| {
        registry.slots[slot].has_id = true;
        let idle = registry.slots[slot].pin_count == 0;
        let mut free = Vec::new();
        if idle {
            free = registry.release(slot);
        }
        let batch = core::mem::take(&mut registry.slots[slot].batch);
        free.extend(registry.scan(slot, batch));
        (idle, registry.take_for_freeing(free))
    });
    run_drops(drops);
    advance(slot);
    if idle {
        let drops = with_registry(|registry| {
            let free = registry.release(slot);
            let s = &mut registry.slots[slot];
            s.published = 0;
            s.drained = 0;
            registry.take_for_freeing(free)
        });
        run_drops(drops);
    }
}

pub(crate) fn alloc<T>(value: T) -> *mut T {
    let slot = this_slot();
    let seed = with_registry(|registry| registry.slots[slot].cached_birth == 0);
    // kovan seeds a thread's cached birth epoch from `EPOCH` on first use.
    let seeded = if seed { read_epoch() } else { 0 };
    let ptr = Box::into_raw(Box::new(value));
    with_registry(|registry| {
        if seed && registry.slots[slot].cached_birth == 0 {
            registry.slots[slot].cached_birth = seeded;
        }
        let birth = registry.slots[slot].cached_birth;
        let old = registry.nodes.insert(
            ptr as usize,
            Meta {
                birth,
                retired: None,
                scanned: false,
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
    let slot = this_slot();
    let addr = ptr as usize;
    let regime = with_registry(|registry| registry.epochs);
    let scan_now = match regime {
        Epochs::AdvanceAtEveryRetire => true,
        Epochs::OnlyAtFlush => false,
        #[cfg(not(kovan_map_loom))]
        Epochs::Random => shuttle::rand::Rng::gen::<bool>(&mut shuttle::rand::thread_rng()),
        #[cfg(kovan_map_loom)]
        Epochs::Random => panic!("model: Epochs::Random needs shuttle"),
    };
    let drops = with_registry(|registry| {
        let now = registry.tick();
        let meta = registry
            .nodes
            .get_mut(&addr)
            .expect("model: retire of a node the reclaimer never allocated");
        assert!(
            meta.retired.is_none(),
            "model: node {addr:#x} retired twice (two threads both believed their CAS unlinked it)"
        );
        meta.retired = Some(now);
        registry.slots[slot].batch.push(addr);
        if !scan_now {
            return Vec::new();
        }
        // kovan's 64th retire: `try_retire` of the batch.
        let batch = core::mem::take(&mut registry.slots[slot].batch);
        let free = registry.scan(slot, batch);
        registry.take_for_freeing(free)
    });
    run_drops(drops);
    if scan_now {
        // And its 128th: `increment_era`.
        advance(slot);
    }
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
    tick: u64,
    /// The storing thread's slot; `None` for the link's initial value.
    slot: Option<usize>,
}

/// Under loom a link's atomic holds its word in the low bits and, above
/// them, the index of the store in the link's log, so a load knows which
/// store loom gave it (a word can be stored again: ABA).
#[cfg(kovan_map_loom)]
const WORD_BITS: u32 = 48;

#[cfg(kovan_map_loom)]
fn pack(index: usize, word: usize) -> usize {
    assert!(word >> WORD_BITS == 0, "model: a link word above 2^48");
    assert!(
        index < 1 << (usize::BITS - WORD_BITS),
        "model: too many stores to one link"
    );
    (index << WORD_BITS) | word
}

#[cfg(kovan_map_loom)]
fn unpack(raw: usize) -> (usize, usize) {
    (raw >> WORD_BITS, raw & ((1 << WORD_BITS) - 1))
}

#[cfg(not(kovan_map_loom))]
fn unpack(raw: usize) -> (usize, usize) {
    (0, raw)
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
        #[cfg(kovan_map_loom)]
        let raw = pack(0, ptr as usize);
        #[cfg(not(kovan_map_loom))]
        let raw = ptr as usize;
        Self {
            word: AtomicUsize::new(raw),
            #[cfg(kovan_map_loom)]
            log: core::cell::UnsafeCell::new(alloc::vec![Store {
                tick: 0,
                slot: None,
            }]),
            _owns: PhantomData,
        }
    }

    /// Records a store that just took effect (loom switches threads only
    /// at its atomics, so nothing ran between the store and this record).
    #[cfg(kovan_map_loom)]
    fn record(&self) {
        let slot = this_slot();
        let tick = with_registry(|registry| registry.tick());
        // SAFETY: one OS thread runs the model; no reference into the log
        // outlives a call of this type.
        unsafe { &mut *self.log.get() }.push(Store {
            tick,
            slot: Some(slot),
        });
    }

    /// The index the next store of this link will have.
    #[cfg(kovan_map_loom)]
    fn next_index(&self) -> usize {
        // SAFETY: as in `record`.
        unsafe { &*self.log.get() }.len()
    }

    /// The production build's prefetch hint: no address in the model, which
    /// never prefetches (`sync::PREFETCH` is false in the model builds), and
    /// so loads nothing here that the model checkers would explore.
    pub(crate) fn peek(&self, _guard: &Guard) -> (*const T, usize) {
        (core::ptr::null(), 0)
    }

    /// kovan's protected load (`protect_load`): load the word, then the
    /// epoch; the fast path if the epoch is at most the published one, else
    /// publish it, fence, reload, until the epoch holds still.
    pub(crate) fn load<'g>(&self, order: Ordering, guard: &'g Guard) -> Shared<'g, T> {
        let slot = guard.slot;
        assert!(
            with_registry(|registry| registry.slots[slot].pin_count > 0),
            "model: load outside a guard"
        );
        let mut raw = self.load_possible(order, slot);
        let mut epoch = read_epoch();
        while epoch > with_registry(|registry| registry.slots[slot].published) {
            // The cold path: publish (a SeqCst store), fence, reload.
            with_registry(|registry| {
                registry.slots[slot].published = epoch;
                registry.fence(slot);
            });
            raw = self.load_possible(order, slot);
            let again = read_epoch();
            if again == epoch {
                break;
            }
            epoch = again;
        }
        let loaded_at = with_registry(|registry| registry.tick());
        Shared {
            word: unpack(raw).1,
            loaded_at,
            _guard: PhantomData,
        }
    }

    /// One load of the atomic whose value kovan's fences allow: a reading
    /// they forbid is pruned from loom's exploration, and the load is made
    /// again after a yield (loom then offers no store seen before it when a
    /// newer one exists), so the run goes on as a possible execution.
    /// Outside loom (the `shuttle-model` build) nothing is pruned and the
    /// loop runs once.
    #[cfg_attr(not(kovan_map_loom), allow(clippy::never_loop))]
    fn load_possible(&self, order: Ordering, slot: usize) -> usize {
        loop {
            let raw = self.word.load(order);
            #[cfg(kovan_map_loom)]
            {
                // SAFETY: as in `record`.
                let log = unsafe { &*self.log.get() };
                let index = unpack(raw).0;
                if with_registry(|registry| registry.impossible_read(log, index, slot)) {
                    with_registry(|registry| registry.pruned += 1);
                    loom::skip_branch();
                    loom::thread::yield_now();
                    continue;
                }
            }
            let _ = slot;
            return raw;
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
        #[cfg(kovan_map_loom)]
        loop {
            // A read-modify-write reads the latest store, the log's last, so
            // the CAS of the word is a CAS of (that store's index, word). If
            // another thread stored between this read of the log and the
            // CAS (loom switches threads at the CAS), the index is stale: a
            // word still equal means the real CAS would succeed now, so try
            // again; this is the CAS taking effect a moment later.
            let latest = self.next_index() - 1;
            match self.word.compare_exchange(
                pack(latest, current.word),
                pack(latest + 1, new.word),
                success,
                failure,
            ) {
                Ok(_) => {
                    self.record();
                    return true;
                }
                Err(actual) if unpack(actual).1 == current.word => continue,
                Err(_) => return false,
            }
        }
        #[cfg(not(kovan_map_loom))]
        {
            self.word
                .compare_exchange(current.word, new.word, success, failure)
                .is_ok()
        }
    }

    /// Stores into a link no other thread can see yet (a node being built),
    /// so no other store can come between the index read and the store.
    pub(crate) fn store_private(&self, new: Shared<'_, T>) {
        #[cfg(kovan_map_loom)]
        {
            self.word
                .store(pack(self.next_index(), new.word), Ordering::Relaxed);
            self.record();
        }
        #[cfg(not(kovan_map_loom))]
        self.word.store(new.word, Ordering::Relaxed);
    }
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
    /// dereference: it fails once another thread's retirement is scanned,
    /// unless this thread's slot holds it.
    pub(crate) fn from_owned(ptr: *mut T, _guard: &'g Guard) -> Self {
        Self {
            word: ptr as usize,
            loaded_at: 0,
            _guard: PhantomData,
        }
    }

    /// As in production: a word holding `index` above the tag bits, never
    /// dereferenced (the model's `deref` would reject it: no node has that
    /// address).
    pub(crate) fn from_index(index: usize, _guard: &'g Guard) -> Self {
        Self {
            word: index << TAG_BITS.count_ones(),
            loaded_at: 0,
            _guard: PhantomData,
        }
    }

    pub(crate) fn index(self) -> usize {
        self.word >> TAG_BITS.count_ones()
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
    /// retired but not yet scanned (still in its retirer's batch), or held
    /// by this thread's slot; and it stays checked while the critical
    /// section lives (freeing it meanwhile fails the model).
    pub(crate) unsafe fn deref(self) -> &'g T {
        let addr = self.ptr() as usize;
        assert!(addr != 0, "model: dereference of a null link");
        let slot = this_slot();
        let verdict = with_registry(|registry| {
            let Some(meta) = registry.nodes.get(&addr) else {
                return Err(format!(
                    "model reclaimer: node {addr:#x} was dereferenced after the map destroyed \
                     it outright (a node freed while still reachable)"
                ));
            };
            let protected = match meta.retired {
                None => true,
                Some(_) if !meta.scanned => true,
                Some(_) => meta.holders.contains(&slot) && !meta.freed,
            };
            if protected {
                registry.slots[slot].derefs.insert(addr);
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
                 retired at tick {:?}, {}) was dereferenced through {how} by a thread whose \
                 slot does not hold it (published epoch {}, cached birth epoch {}, tick {}): \
                 kovan may free it under this guard",
                meta.birth,
                meta.retired,
                if meta.freed {
                    "already freed".to_string()
                } else {
                    format!("held by {} other slot(s)", meta.holders.len())
                },
                s.published,
                s.cached_birth,
                registry.clock,
            ))
        });
        if let Err(message) = verdict {
            panic!("{message}");
        }
        // SAFETY: checked above: unretired, unscanned, or held by this
        // thread's slot.
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
