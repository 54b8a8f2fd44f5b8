//! The list protocol: one Harris-Michael list for the whole map, sorted by
//! split-order key (`directory.rs` says how the buckets' dummies cut it into
//! runs), with copy-on-write replacement.
//!
//! # Invariants
//!
//! * The list is sorted by split-order key, non-strictly: a node's key is
//!   its [`Payload`]'s `hash` word, which for this map holds
//!   `directory::node_key(hash)` (odd); a dummy's is `dummy_key(b)` (even),
//!   read from the directory. Nodes of equal keys (hash collisions) form a
//!   run in any order. A new key is linked at the front of its key's run,
//!   after the last element of smaller key; a dummy likewise; a replacement
//!   right behind the node it replaces (same key). Unlinking keeps order.
//! * A link word that points at a dummy carries the [`DUMMY`] tag. Dummies
//!   are never tagged dead and never unlinked while the map lives.
//! * A node's hash, key and value never change after the node is published
//!   (they live in [`sync::UnsafeCell`]s written only by the constructor).
//! * A node's `next` word carries at most one of two tags:
//!   - [`DELETED`]: the node is logically removed; `next` points at its
//!     successor.
//!   - [`REPLACED`]: the node's entry was replaced; `next` points at the
//!     replacement, a node with the same key whose own `next` is the old
//!     successor.
//!
//!   A node whose `next` is untagged is *live*. Tags are permanent: once
//!   tagged, `next` never changes again (every CAS on a `next` word expects
//!   an untagged value). Hence a dead node's successor is frozen.
//! * At most one live node per key is reachable. A writer's search scans the
//!   whole run of its split-order key before it links a new node at the
//!   run's front, by a CAS on the run's predecessor expecting the word it
//!   read: any concurrent link of the same key targets the same predecessor
//!   (or kills it), so one of the two CASes fails.
//! * A node is unlinked only after it is dead, by a CAS on its predecessor's
//!   link (a dummy's or a live node's `next`) from the node to its frozen
//!   target. Only the thread whose CAS unlinked a node retires it, so
//!   every node is retired at most once, and only when unreachable.
//! * Nodes are never linked again once unlinked. So "`x` is reachable at time
//!   t2, and was loaded at t1 < t2" implies "`x` was reachable, hence not yet
//!   retired, at t1": the condition under which the reclaimer protects `x`.
//!   Every dereference below rests on one of two instances of this:
//!   - a successor read from a node's *untagged* `next` was reachable at that
//!     load (the node was live then);
//!   - a target read from a *tagged* `next` is dereferenced only after the
//!     predecessor of the dead run was seen still pointing at the run's first
//!     node, untagged (the run, frozen, was reachable then).
//!
//! [`sync::UnsafeCell`]: crate::sync::UnsafeCell

use super::directory::{Directory, Dummy, DUMMY};
use crate::payload::{Carrier, Payload};
use crate::reclaim::{self, Guard, Header, Link, Shared};
use crate::sync::{self, Ordering};
use core::borrow::Borrow;
use core::ops::ControlFlow;

/// Tag on a node's `next`: the node is removed; `next` is its successor.
pub(crate) const DELETED: usize = 0b001;
/// Tag on a node's `next`: the node was replaced; `next` is the replacement.
pub(crate) const REPLACED: usize = 0b010;
/// The tags that say a node is dead (its `next` is frozen).
pub(crate) const DEAD: usize = DELETED | REPLACED;

/// Whether the holder of this `next` word is dead.
#[inline]
pub(crate) fn is_dead<K, V>(word: Shared<'_, Node<K, V>>) -> bool {
    word.tag() & DEAD != 0
}

/// The word without the holder's dead tags: what it points at (a node, or a
/// dummy with its [`DUMMY`] tag).
#[inline]
pub(crate) fn target<K, V>(word: Shared<'_, Node<K, V>>) -> Shared<'_, Node<K, V>> {
    word.with_tag(word.tag() & DUMMY)
}

/// What a list word (dead tags removed, not null) points at.
pub(crate) enum Item<'d, 'g, K, V> {
    /// A bucket's dummy in the directory (borrowed for as long as the
    /// directory, not only the guard: dummies never die).
    Dummy(Dummy<'d, K, V>),
    /// A node.
    Node(&'g Node<K, V>),
}

/// Resolves a non-null word loaded under `guard` from a link of `dir`'s
/// list.
///
/// # Safety
///
/// A node word must satisfy `Shared::deref`'s contract (reachable when
/// loaded). A dummy word needs only to come from `dir`'s list: dummies live
/// as long as the map ([`Directory::named`]).
#[inline]
pub(crate) unsafe fn item<'d, 'g, K, V>(
    word: Shared<'g, Node<K, V>>,
    dir: &'d Directory<K, V>,
) -> Item<'d, 'g, K, V> {
    if word.tag() & DUMMY != 0 {
        // SAFETY: a `DUMMY` word of `dir`'s list names a bucket of an
        // allocated segment, freed only when the map is dropped.
        Item::Dummy(unsafe { dir.named(word) })
    } else {
        // SAFETY: the caller's contract.
        Item::Node(unsafe { word.deref() })
    }
}

/// One entry of a bucket chain, laid out `hash, key, value, next` behind the
/// reclaimer's header (which kovan requires first).
#[repr(C)]
pub(crate) struct Node<K, V> {
    header: Header,
    payload: Payload<K, V>,
    pub(crate) next: Link<Node<K, V>>,
}

// SAFETY: a node owns its key and value; sending it sends them.
unsafe impl<K: Send, V: Send> Send for Node<K, V> {}
// SAFETY: shared nodes hand out `&K` and `&V` only (the payload is written
// once, before publication), and any thread may drop a retired node.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Node<K, V> {}

impl<K: 'static, V: 'static> Carrier for Node<K, V> {
    type Key = K;
    type Value = V;

    fn wrap(payload: Payload<K, V>) -> Self {
        Self {
            header: Header::new(),
            payload,
            next: Link::null(),
        }
    }

    fn unwrap(self) -> Payload<K, V> {
        self.payload
    }

    fn payload(&self) -> &Payload<K, V> {
        &self.payload
    }
}

impl<K, V> Node<K, V> {
    /// The key and value of a node this thread owns.
    pub(crate) fn into_parts(self) -> (K, V) {
        self.payload.into_parts()
    }
}

impl<K, V> core::ops::Deref for Node<K, V> {
    type Target = Payload<K, V>;

    fn deref(&self) -> &Payload<K, V> {
        &self.payload
    }
}

/// Where a writer's search ended.
pub(crate) enum Search<'g, K, V> {
    /// `node` is the key's live node; `pred` held `node` untagged and
    /// `node.next` held `next` (no dead tag) when the search saw them.
    Found {
        pred: &'g Link<Node<K, V>>,
        node: Shared<'g, Node<K, V>>,
        next: Shared<'g, Node<K, V>>,
    },
    /// No live node of the key. A new node goes between `pred` (the last
    /// live element of smaller split-order key) and `succ`: the word `pred`
    /// held as this search last knew it (loaded, or set by this search's own
    /// unlink), which the linking CAS must expect.
    Absent {
        pred: &'g Link<Node<K, V>>,
        succ: Shared<'g, Node<K, V>>,
    },
}

/// A writer's search for split-order key `so` from `start` (a dummy's
/// `next` whose key is below `so`), `is_key` telling the key's nodes among
/// those of key `so`. It unlinks (and retires) every dead node it passes,
/// restarting from `start` when an unlink fails. Lock-free: a pass restarts
/// only because another thread changed the list.
pub(crate) fn search<'g, K, V>(
    start: Dummy<'g, K, V>,
    so: u64,
    is_key: impl Fn(&Node<K, V>) -> bool,
    guard: &'g Guard,
) -> Search<'g, K, V>
where
    K: 'static,
    V: 'static,
{
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that wrote `start.next`
        // (a link, or an unlink), so what it points at is visible.
        let mut curr = start.next.load(Ordering::Acquire, guard);
        let mut pred = start.next;
        // The insertion point: the last live element of smaller key.
        let (mut ipred, mut isucc) = (start.next, curr);
        loop {
            if curr.is_null() {
                return Search::Absent {
                    pred: ipred,
                    succ: isucc,
                };
            }
            // SAFETY: `curr` was read from `pred` while `pred`'s holder was
            // live (a word without dead tags, or an unlink CAS that just
            // succeeded), so it was reachable at that load.
            let node = match unsafe { item(curr, start.dir) } {
                Item::Dummy(dummy) => {
                    if dummy.key() > so {
                        return Search::Absent {
                            pred: ipred,
                            succ: isucc,
                        };
                    }
                    // A dummy of smaller key (an ancestor started us early).
                    pred = dummy.next;
                    // ORDERING: Acquire, as above.
                    curr = dummy.next.load(Ordering::Acquire, guard);
                    (ipred, isucc) = (pred, curr);
                    continue;
                }
                Item::Node(node) => node,
            };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote this
            // `next` (a replace publishes the replacement through it).
            let next = node.next.load(Ordering::Acquire, guard);
            if is_dead(next) {
                let target = target(next);
                if help_unlink(pred, curr, target, guard) {
                    // `target` was `node`'s frozen successor while `node` was
                    // reachable (the CAS succeeded), so it was reachable at
                    // the load above: it may be dereferenced.
                    if core::ptr::eq(pred, ipred) {
                        // `ipred` now holds `target`: a link expects it.
                        isucc = target;
                    }
                    curr = target;
                    continue;
                }
                sync::hint();
                continue 'pass;
            }
            let key = node.hash();
            if key > so {
                return Search::Absent {
                    pred: ipred,
                    succ: isucc,
                };
            }
            if key == so && is_key(node) {
                return Search::Found {
                    pred,
                    node: curr,
                    next,
                };
            }
            pred = &node.next;
            curr = next;
            if key < so {
                (ipred, isucc) = (pred, curr);
            }
        }
    }
}

/// An insertion point: a link and the word it held.
pub(crate) type Position<'g, K, V> = (&'g Link<Node<K, V>>, Shared<'g, Node<K, V>>);

/// Where an element of split-order key `so` that no node has (a dummy's)
/// goes: `(pred, succ)` as in [`Search::Absent`].
pub(crate) fn position<'g, K: 'static, V: 'static>(
    start: Dummy<'g, K, V>,
    so: u64,
    guard: &'g Guard,
) -> Position<'g, K, V> {
    match search(start, so, |_| false, guard) {
        Search::Absent { pred, succ } => (pred, succ),
        Search::Found { .. } => unreachable!("a dummy key matched a node"),
    }
}

/// Unlinks the dead node `node` from `pred`, making `pred` point at `target`
/// (the frozen word of `node.next`, dead tags removed). Retires `node` if
/// this call's CAS unlinked it. False if `pred` no longer held `node`
/// untagged.
pub(crate) fn help_unlink<'g, K: 'static, V: 'static>(
    pred: &Link<Node<K, V>>,
    node: Shared<'g, Node<K, V>>,
    target: Shared<'g, Node<K, V>>,
    guard: &'g Guard,
) -> bool {
    // ORDERING: AcqRel. Release: a reader that acquires `pred` and finds
    // `target` sees its payload (we acquired `target` through `node.next`).
    // Acquire: pairs with the CAS that last wrote `pred`.
    if pred.cas(node, target, Ordering::AcqRel, Ordering::Relaxed, guard) {
        // SAFETY: this CAS unlinked `node` (it was dead, so nothing links it
        // again); only the unlinking thread retires; the node came from
        // `reclaim::alloc` and starts with its header.
        unsafe { reclaim::retire(node.ptr()) };
        true
    } else {
        false
    }
}

/// A reader's search: writes none of the map's memory. Returns the key's
/// node at the moment its `next` was seen without a dead tag (the read's
/// linearization point, in [`walk`]), or `None` when the key was absent at
/// some moment of the search.
#[inline]
pub(crate) fn lookup<'g, K, V, Q>(
    start: Dummy<'g, K, V>,
    so: u64,
    key: &Q,
    guard: &'g Guard,
) -> Option<&'g Node<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    walk(
        start,
        guard,
        |item| match item {
            Item::Dummy(dummy) if dummy.key() > so => ControlFlow::Break(None),
            Item::Dummy(_) => ControlFlow::Continue(()),
            Item::Node(node) => {
                let k = node.hash();
                if k > so {
                    ControlFlow::Break(None)
                } else if k == so && node.key().borrow() == key {
                    ControlFlow::Break(Some(node))
                } else {
                    ControlFlow::Continue(())
                }
            }
        },
        || {},
    )
    .flatten()
}

/// Removes every live node from `start` up to the next dummy, each by its
/// own `DELETED` tag, calling `on_delete(key)` after each; returns that
/// dummy (`None` at the list's end). Nodes linked after the pass began may
/// survive it; every node live for the whole pass is removed.
pub(crate) fn clear<'d: 'g, 'g, K: 'static, V: 'static>(
    start: Dummy<'d, K, V>,
    guard: &'g Guard,
    mut on_delete: impl FnMut(u64),
) -> Option<Dummy<'d, K, V>> {
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that wrote `start.next`.
        let mut curr = start.next.load(Ordering::Acquire, guard);
        loop {
            if curr.is_null() {
                return None;
            }
            // SAFETY: as in `search`: `curr` was reachable when loaded.
            let node = match unsafe { item(curr, start.dir) } {
                Item::Dummy(dummy) => return Some(dummy),
                Item::Node(node) => node,
            };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            let next = node.next.load(Ordering::Acquire, guard);
            if !is_dead(next) {
                // ORDERING: AcqRel, as the `DELETED` tag of `remove`.
                // LINEARIZATION(clear): each removal, as `remove`'s.
                if !node.next.cas(
                    next,
                    next.with_tag(next.tag() | DELETED),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                    guard,
                ) {
                    // `next` changed under us: look at the node again.
                    sync::hint();
                    continue;
                }
                on_delete(node.hash());
            }
            let target = target(next);
            if help_unlink(start.next, curr, target, guard) {
                // As in `search`: the CAS proves `target` was reachable.
                curr = target;
                continue;
            }
            sync::hint();
            continue 'pass;
        }
    }
}

/// A reader's pass from `start`: calls `visit` on every dummy it meets and
/// on every node whose `next` it found without a dead tag (live at that
/// load), in list order, until `visit` breaks. Writes none of the map's
/// memory. If the pass must restart (a writer changed a link it relied on),
/// `restart` is called first, so the caller can forget what the abandoned
/// pass visited.
///
/// A reader that meets a dead node does not unlink it: it follows the frozen
/// link, after checking that the dead run is still attached to the last live
/// predecessor (else it restarts, which happens only if a writer changed that
/// link meanwhile).
///
/// In one completed pass every key is visited at most once, and every key
/// live for the whole pass is visited: a node visited live is left through
/// the successor read with it, so its later replacement is not met; a node
/// found dead is followed to its frozen target (its replacement, if any).
#[inline(always)]
pub(crate) fn walk<'d: 'g, 'g, K, V, R>(
    start: Dummy<'d, K, V>,
    guard: &'g Guard,
    mut visit: impl FnMut(Item<'d, 'g, K, V>) -> ControlFlow<R>,
    mut restart: impl FnMut(),
) -> Option<R> {
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that wrote `start.next`.
        let mut curr = start.next.load(Ordering::Acquire, guard);
        let mut pred = start.next;
        // The first node of the dead run `curr` belongs to, if any.
        let mut run_start: Option<Shared<'g, Node<K, V>>> = None;
        loop {
            if curr.is_null() {
                return None;
            }
            // SAFETY: `curr` came from a live holder's `next` (reachable at
            // the load) or from a dead run validated below.
            let node = match unsafe { item(curr, start.dir) } {
                Item::Dummy(dummy) => {
                    if let ControlFlow::Break(found) = visit(Item::Dummy(dummy)) {
                        return Some(found);
                    }
                    // Dummies never die: their `next` is a live link.
                    pred = dummy.next;
                    // ORDERING: Acquire, as above.
                    curr = dummy.next.load(Ordering::Acquire, guard);
                    run_start = None;
                    continue;
                }
                Item::Node(node) => node,
            };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            // LINEARIZATION(get): this load, when it returns a word without a
            // dead tag and the node holds the key: the node is the key's live
            // entry at this instant (also of contains_key and get_ref).
            let next = node.next.load(Ordering::Acquire, guard);
            if !is_dead(next) {
                if let ControlFlow::Break(found) = visit(Item::Node(node)) {
                    return Some(found);
                }
                pred = &node.next;
                curr = next;
                run_start = None;
                continue;
            }
            // `node` is dead and its `next` frozen. Before following it,
            // check that the run is still attached to `pred`.
            let first = run_start.unwrap_or(curr);
            // ORDERING: Acquire, as above.
            if pred.load(Ordering::Acquire, guard) != first {
                restart();
                sync::hint();
                continue 'pass;
            }
            run_start = Some(first);
            curr = target(next);
        }
    }
}
