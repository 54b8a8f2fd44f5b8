//! The bucket list protocol: one Harris-Michael list per bucket, with
//! copy-on-write replacement.
//!
//! # Invariants
//!
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
//! * At most one live node per key is reachable from a bucket. New keys are
//!   pushed at the head; a replacement is linked behind the node it replaces.
//! * A node is unlinked only after it is dead, by a CAS on its predecessor's
//!   link (the bucket word or a live node's `next`) from the node to its
//!   frozen target. Only the thread whose CAS unlinked a node retires it, so
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

use crate::payload::{Carrier, Payload};
use crate::reclaim::{self, Guard, Header, Link, Shared};
use crate::sync::{self, Ordering};
use core::borrow::Borrow;
use core::ops::ControlFlow;

/// Tag on a node's `next`: the node is removed; `next` is its successor.
pub(crate) const DELETED: usize = 0b001;
/// Tag on a node's `next`: the node was replaced; `next` is the replacement.
pub(crate) const REPLACED: usize = 0b010;
/// Reserved for the growth of the table: a link frozen by a migration. No
/// code sets it yet; every CAS expects an untagged word, so a frozen link
/// will stop writers without any change to the code below.
#[allow(dead_code)]
pub(crate) const FROZEN: usize = 0b100;

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
    /// `node.next` held `next` (untagged) when the search saw them.
    Found {
        pred: &'g Link<Node<K, V>>,
        node: Shared<'g, Node<K, V>>,
        next: Shared<'g, Node<K, V>>,
    },
    /// The chain had no live node of the key. `head` is the bucket's word
    /// as this search last knew it: loaded at the start of the last pass, or
    /// set by this search's own unlink of a head node since. It is the word
    /// a push must expect.
    Absent { head: Shared<'g, Node<K, V>> },
}

/// A writer's search of one bucket: unlinks (and retires) every dead node it
/// passes, restarting from the head when an unlink fails. Lock-free: a pass
/// restarts only because another thread changed the chain.
pub(crate) fn search<'g, K, V, Q>(
    bucket: &'g Link<Node<K, V>>,
    hash: u64,
    key: &Q,
    guard: &'g Guard,
) -> Search<'g, K, V>
where
    K: Borrow<Q> + 'static,
    V: 'static,
    Q: Eq + ?Sized,
{
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that linked the head
        // node (a push, or an unlink), so its payload is visible.
        let mut head = bucket.load(Ordering::Acquire, guard);
        let mut pred = bucket;
        let mut curr = head;
        loop {
            if curr.is_null() {
                return Search::Absent { head };
            }
            // SAFETY: `curr` was read from `pred` while `pred` was live (an
            // untagged word, or an unlink CAS that just succeeded), so it was
            // reachable at that load.
            let node = unsafe { curr.deref() };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote this
            // `next` (a replace publishes the replacement through it).
            let next = node.next.load(Ordering::Acquire, guard);
            if next.tag() != 0 {
                let target = next.with_tag(0);
                if help_unlink(pred, curr, target, guard) {
                    // `target` was `node`'s frozen successor while `node` was
                    // reachable (the CAS succeeded), so it was reachable at
                    // the load above: it may be dereferenced.
                    if core::ptr::eq(pred, bucket) {
                        // The bucket now holds `target`: a push expects it.
                        head = target;
                    }
                    curr = target;
                    continue;
                }
                sync::hint();
                continue 'pass;
            }
            if node.matches(hash, key) {
                return Search::Found {
                    pred,
                    node: curr,
                    next,
                };
            }
            pred = &node.next;
            curr = next;
        }
    }
}

/// Unlinks the dead node `node` from `pred`, making `pred` point at `target`
/// (the frozen word of `node.next`, untagged). Retires `node` if this call's
/// CAS unlinked it. False if `pred` no longer held `node` untagged.
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

/// A reader's search: writes none of the map's memory. Returns the key's node at the
/// moment its `next` was seen untagged (the read's linearization point, in
/// [`walk`]), or `None` when the key was absent at some moment of the search.
pub(crate) fn lookup<'g, K, V, Q>(
    bucket: &'g Link<Node<K, V>>,
    hash: u64,
    key: &Q,
    guard: &'g Guard,
) -> Option<&'g Node<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    walk(
        bucket,
        guard,
        |node| {
            if node.matches(hash, key) {
                ControlFlow::Break(node)
            } else {
                ControlFlow::Continue(())
            }
        },
        || {},
    )
}

/// Removes every live node of one bucket, each by its own `DELETED` tag,
/// calling `on_delete(hash)` after each. Nodes pushed after the pass began
/// may survive it; every node live for the whole pass is removed.
pub(crate) fn clear<K: 'static, V: 'static>(
    bucket: &Link<Node<K, V>>,
    guard: &Guard,
    mut on_delete: impl FnMut(u64),
) {
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that linked the head.
        let mut curr = bucket.load(Ordering::Acquire, guard);
        let pred = bucket;
        loop {
            if curr.is_null() {
                return;
            }
            // SAFETY: as in `search`: `curr` was reachable when loaded.
            let node = unsafe { curr.deref() };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            let next = node.next.load(Ordering::Acquire, guard);
            if next.tag() == 0 {
                // ORDERING: AcqRel, as the `DELETED` tag of `remove`.
                // LINEARIZATION(clear): each removal, as `remove`'s.
                if !node.next.cas(
                    next,
                    next.with_tag(DELETED),
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
            let target = next.with_tag(0);
            if help_unlink(pred, curr, target, guard) {
                // As in `search`: the CAS proves `target` was reachable.
                curr = target;
                continue;
            }
            sync::hint();
            continue 'pass;
        }
    }
}

/// A reader's pass over one bucket: calls `visit` on every node whose `next`
/// it found untagged (live at that load), in chain order, until `visit`
/// breaks. Writes none of the map's memory. If the pass must restart (a writer
/// changed a link it relied on), `restart` is called first, so the caller can
/// forget what the abandoned pass visited.
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
pub(crate) fn walk<'g, K, V, R>(
    bucket: &'g Link<Node<K, V>>,
    guard: &'g Guard,
    mut visit: impl FnMut(&'g Node<K, V>) -> ControlFlow<R>,
    mut restart: impl FnMut(),
) -> Option<R> {
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that linked the head.
        let mut curr = bucket.load(Ordering::Acquire, guard);
        let mut pred = bucket;
        // The first node of the dead run `curr` belongs to, if any.
        let mut run_start: Option<Shared<'g, Node<K, V>>> = None;
        loop {
            if curr.is_null() {
                return None;
            }
            // SAFETY: `curr` came from an untagged `next` (its holder was
            // live at the load) or from a dead run validated below: it was
            // reachable when loaded.
            let node = unsafe { curr.deref() };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            // LINEARIZATION(get): this load, when it returns an untagged word
            // and the node holds the key: the node is the key's live entry at
            // this instant (also of contains_key and get_ref).
            let next = node.next.load(Ordering::Acquire, guard);
            if next.tag() == 0 {
                if let ControlFlow::Break(found) = visit(node) {
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
            curr = next.with_tag(0);
        }
    }
}
