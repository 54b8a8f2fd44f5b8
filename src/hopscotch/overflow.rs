//! The overflow list of a home bucket: where keys go once their
//! neighbourhood cannot take them while the table is sparse (many keys with
//! one hash, above all), so that colliding hashes cost memory linear in their
//! number instead of doubling the table without end.
//!
//! A Harris-Michael list of [`Node`]s, each holding one slot word (the same
//! words as a table slot: [`LIVE`], [`DELETED`], [`FROZEN`], [`COPIED`]), so
//! an entry moves between a neighbourhood, a list and the next table by its
//! pointer alone.
//!
//! # Invariants
//!
//! * New nodes are pushed at the head only, by a CAS on the head word; a
//!   push is the insert of a new key, and the head CAS validates the search
//!   that found the key absent (any other push changes the head).
//! * A node is *live* while its `next` is untagged or only [`SEALED`]. A
//!   removal marks the node's slot [`DELETED`] (its linearization point),
//!   then its `next` [`DEAD`] (after which `next` never changes), and then any
//!   writer unlinks it by a CAS on its predecessor's untagged link. Only the
//!   thread whose CAS unlinked a node retires it, together with its removed
//!   entry.
//! * A migration [`SEALED`]s the head and then every `next`, front to back:
//!   from then on no push or unlink succeeds, so the list is fixed. When the
//!   table is retired its lists are detached from their heads and every node
//!   (and every removed entry still in one) is retired once, by the thread
//!   that retires the table.
//! * Nodes are never linked again once unlinked, so a node read from a live
//!   node's `next` was reachable at that load; a node read through a dead run
//!   is dereferenced only after the run was seen still attached to a live
//!   predecessor (as in the chaining map's lists).

use super::entry::{descriptor, Entry, COPIED, DELETED, FROZEN, LIVE, MOVE};
use crate::reclaim::{self, Guard, Header, Link, Shared};
use crate::sync::{self, Ordering};
use core::borrow::Borrow;
use core::ops::ControlFlow;

/// Tag on a node's `next`: the node is removed; `next` is fixed.
pub(crate) const DEAD: usize = 0b001;
/// Tag on the head or a node's `next`: frozen by a migration.
pub(crate) const SEALED: usize = 0b100;

/// One overflow node: a slot word and the link to the next node.
#[repr(C)]
pub(crate) struct Node<K, V> {
    header: Header,
    pub(crate) slot: Link<Entry<K, V>>,
    pub(crate) next: Link<Node<K, V>>,
}

// SAFETY: a node holds words naming entries; sending it sends nothing else.
unsafe impl<K: Send, V: Send> Send for Node<K, V> {}
// SAFETY: shared nodes are reached through atomics only.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Node<K, V> {}

impl<K, V> Node<K, V> {
    fn new(entry: *mut Entry<K, V>, next: *mut Node<K, V>) -> Self {
        Self {
            header: Header::new(),
            slot: Link::new(entry),
            next: Link::new(next),
        }
    }
}

/// Where a writer's pass over a list ended.
pub(crate) enum Search<'g, K, V> {
    /// `node` holds a live entry that the predicate accepted; its slot held
    /// `word` (tag [`LIVE`]) when the pass saw it.
    Found {
        node: &'g Node<K, V>,
        word: Shared<'g, Entry<K, V>>,
    },
    /// No live entry matched in the list that started at `head` (the head
    /// word at the start of the last pass, untagged).
    Absent { head: Shared<'g, Node<K, V>> },
    /// A migration sealed the list.
    Sealed,
}

/// A writer's pass: the first node whose live entry `accept`s, unlinking
/// (and retiring) every dead node on the way and marking [`DEAD`] any node
/// whose entry a removal left [`DELETED`]. Lock-free: a pass restarts only
/// after another thread changed the list.
pub(crate) fn scan<'g, K: 'static, V: 'static>(
    head: &'g Link<Node<K, V>>,
    guard: &'g Guard,
    mut accept: impl FnMut(&'g Entry<K, V>) -> bool,
) -> Search<'g, K, V> {
    'pass: loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that linked the first
        // node (a push or an unlink), so its fields are visible.
        let first = head.load(Ordering::Acquire, guard);
        if first.tag() & SEALED != 0 {
            return Search::Sealed;
        }
        let mut pred = head;
        let mut curr = first;
        loop {
            if curr.is_null() {
                return Search::Absent { head: first };
            }
            // SAFETY: `curr` was read from `pred` while `pred` was live (an
            // untagged link, or an unlink CAS that just succeeded), so it
            // was reachable at that load.
            let node = unsafe { curr.deref() };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            let next = node.next.load(Ordering::Acquire, guard);
            if next.tag() & SEALED != 0 {
                return Search::Sealed;
            }
            if next.tag() & DEAD != 0 {
                let target = next.with_tag(0);
                if unlink(pred, curr, target, guard) {
                    // The CAS proves `target` was reachable: it is `node`'s
                    // fixed successor and `node` was linked until that CAS.
                    curr = target;
                    continue;
                }
                sync::hint();
                continue 'pass;
            }
            // ORDERING: Acquire pairs with the AcqRel CAS that put the entry
            // in the slot (its push, or the replacement of the one before).
            let word = node.slot.load(Ordering::Acquire, guard);
            match word.tag() {
                LIVE if !word.is_null() => {
                    // SAFETY: a live entry in a linked node is not retired.
                    let entry = unsafe { word.deref() };
                    if accept(entry) {
                        return Search::Found { node, word };
                    }
                }
                DELETED => {
                    // A removal has not marked `next` yet: help it, then
                    // look at the node again.
                    // ORDERING: AcqRel, as the mark in `kill`.
                    node.next.cas(
                        next,
                        next.with_tag(DEAD),
                        Ordering::AcqRel,
                        Ordering::Relaxed,
                        guard,
                    );
                    continue;
                }
                // Frozen, decided (a copy's `MOVE`) or copied: the list is
                // being migrated.
                FROZEN | MOVE | COPIED => return Search::Sealed,
                _ => {}
            }
            pred = &node.next;
            curr = next;
        }
    }
}

/// Unlinks the dead `node` from `pred`, which must still hold it untagged.
/// Retires the node and its removed entry if this call's CAS unlinked it.
fn unlink<'g, K: 'static, V: 'static>(
    pred: &Link<Node<K, V>>,
    node: Shared<'g, Node<K, V>>,
    target: Shared<'g, Node<K, V>>,
    guard: &'g Guard,
) -> bool {
    // ORDERING: AcqRel. Release: a walker that acquires `pred` and finds
    // `target` sees its fields (we acquired `target` through `node.next`).
    // Acquire: pairs with the CAS that last wrote `pred`.
    if !pred.cas(node, target, Ordering::AcqRel, Ordering::Relaxed, guard) {
        return false;
    }
    // SAFETY: loaded under `guard` while reachable (the caller's pass).
    let dead = unsafe { node.deref() };
    // ORDERING: Acquire pairs with the removal's CAS that tagged the slot.
    let entry = dead.slot.load(Ordering::Acquire, guard);
    debug_assert_eq!(entry.tag(), DELETED, "only removed nodes are unlinked");
    // SAFETY: this CAS unlinked the node (dead, so nothing links it again);
    // only the unlinking thread retires it and the entry its removal left
    // (none for a withdrawn publication), which no slot holds any more. Both
    // came from `reclaim::alloc` and start with their headers.
    unsafe {
        if !entry.is_null() {
            reclaim::retire(entry.ptr());
        }
        reclaim::retire(node.ptr());
    }
    true
}

/// Pushes `entry` (a [`LIVE`] word) as a new key, unless the list holds a
/// live entry that `accept`s (the key's). The head CAS alone validates the
/// search: a push expecting head `first` succeeds only if no other node was
/// pushed since, and a list whose head is `first` again after pushes and
/// unlinks holds no key that the search did not see (nodes are pushed at
/// the head only), so the key is still absent at the CAS.
///
/// The node is allocated for each attempt and freed at once when its CAS
/// fails, so a panic in `accept` (user `Eq`) on a later pass leaks nothing.
pub(crate) fn insert<'g, K: 'static, V: 'static>(
    head: &'g Link<Node<K, V>>,
    mut accept: impl FnMut(&'g Entry<K, V>) -> bool,
    entry: Shared<'g, Entry<K, V>>,
    guard: &'g Guard,
) -> Insert {
    loop {
        match scan(head, guard, &mut accept) {
            Search::Found { .. } => return Insert::Present,
            Search::Sealed => return Insert::Sealed,
            Search::Absent { head: first } => {
                let node = reclaim::alloc(Node::new(entry.ptr(), first.ptr()));
                let shared = Shared::from_owned(node, guard);
                // ORDERING: AcqRel. Release publishes the node and its entry
                // to walkers that acquire the head; Acquire pairs with the
                // CAS that last wrote the head.
                // LINEARIZATION(insert): the push of a new key into an
                // overflow list (also of insert_if_absent, get_or_insert,
                // compute).
                if head.cas(first, shared, Ordering::AcqRel, Ordering::Relaxed, guard) {
                    return Insert::Inserted;
                }
                // SAFETY: never published, so no other thread saw it.
                unsafe { reclaim::destroy(node) };
                sync::hint();
            }
        }
    }
}

/// A private node holding the slot word `word` (a copier's publication).
pub(crate) fn private_node<K, V>(word: Shared<'_, Entry<K, V>>) -> *mut Node<K, V> {
    let node = reclaim::alloc(Node::new(core::ptr::null_mut(), core::ptr::null_mut()));
    // SAFETY: just allocated, private to this thread.
    unsafe { (*node).slot.store_private(word) };
    node
}

/// Pushes the private `node` at the head (a copier's publication: its slot
/// word is invisible to everyone else, so no search is needed). False if
/// the list is sealed; the node is then still private.
pub(crate) fn push<'g, K, V>(
    head: &'g Link<Node<K, V>>,
    node: *mut Node<K, V>,
    guard: &'g Guard,
) -> bool {
    loop {
        // ORDERING: Acquire pairs with the CAS that last wrote the head.
        let first = head.load(Ordering::Acquire, guard);
        if first.tag() & SEALED != 0 {
            return false;
        }
        // SAFETY: private until the CAS below publishes it.
        unsafe { (*node).next.store_private(first) };
        // ORDERING: AcqRel, as in `insert`.
        if head.cas(
            first,
            Shared::from_owned(node, guard),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            return true;
        }
        sync::hint();
    }
}

/// Takes back a losing copier's publication `word` (tag [`HOLE`]): finds its
/// node by a pass (so the node is reached through protected loads, never
/// through the pointer this thread allocated it by), marks its slot removed
/// (a null [`DELETED`] word) and unlinks it.
///
/// The pass can also find the list *detached*: between the lost decision
/// and this call the winner showed the copy, the migration finished, the
/// new table became the root, was migrated in its turn (the seal leaves a
/// `HOLE` node where it is: `settle_node` copies nothing from it) and was
/// retired, which detaches every list and retires its nodes
/// ([`retire_sealed`]). Then there is nothing to take back: the node is
/// retired with the table, and nobody reads a `HOLE` word but its owner, so
/// the caller still owns (and retires) the descriptor. Seen once on real
/// threads (`tests/pinned_review.rs`, a debug build on two busy cores), when
/// this function asserted that the node is always found.
pub(crate) fn withdraw<'g, K: 'static, V: 'static>(
    head: &'g Link<Node<K, V>>,
    word: Shared<'g, Entry<K, V>>,
    guard: &'g Guard,
) {
    let found = walk(
        head,
        guard,
        // ORDERING: Acquire pairs with the push.
        |node| match node.slot.load(Ordering::Acquire, guard) == word {
            true => ControlFlow::Break(node),
            false => ControlFlow::Continue(()),
        },
        || {},
    );
    // Only this thread writes `word` out of the node, and a node leaves its
    // list only once its slot is removed, or with the whole list when the
    // table is retired. So the pass finds it unless the list was detached;
    // checked in every build.
    let Some(node) = found else {
        // ORDERING: Acquire pairs with the Release CAS of `retire_sealed`'s
        // detach (only a detach leaves a head null and sealed).
        let detached = head.load(Ordering::Acquire, guard);
        assert!(
            detached.with_tag(0).is_null() && detached.tag() & SEALED != 0,
            "a losing copier's publication left a list still attached"
        );
        return;
    };
    sync::pause(sync::Pause::WithdrawFound);
    // ORDERING: AcqRel, as the removal in `HopscotchMap::delete`.
    let removed = node.slot.cas(
        word,
        Shared::null().with_tag(DELETED),
        Ordering::AcqRel,
        Ordering::Relaxed,
        guard,
    );
    assert!(
        removed,
        "a losing copier's publication was written by another thread"
    );
    kill(head, node, guard);
}

/// How [`insert`] ended.
pub(crate) enum Insert {
    Inserted,
    /// A live entry that the predicate accepts is in the list.
    Present,
    Sealed,
}

/// After a removal tagged `node`'s slot [`DELETED`]: marks its `next`
/// [`DEAD`] and unlinks it with one pass over the list (unless a migration
/// sealed the list first; then the table's retirement frees it).
pub(crate) fn kill<'g, K: 'static, V: 'static>(
    head: &'g Link<Node<K, V>>,
    node: &'g Node<K, V>,
    guard: &'g Guard,
) {
    loop {
        // ORDERING: Acquire pairs with the CAS that last wrote `next`.
        let next = node.next.load(Ordering::Acquire, guard);
        if next.tag() & SEALED != 0 {
            return;
        }
        if next.tag() & DEAD != 0 {
            break;
        }
        // ORDERING: AcqRel. Release: an unlinker that acquires the marked
        // word publishes `next` onward; Acquire pairs with its last writer.
        if node.next.cas(
            next,
            next.with_tag(DEAD),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            break;
        }
        sync::hint();
    }
    // A pass that accepts nothing unlinks every dead node it meets.
    let _ = scan(head, guard, |_| false);
}

/// A reader's pass, writing none of the map's memory: calls `visit` on every live
/// node in list order until it breaks. If the pass must restart (a writer
/// changed a link it relied on), `restart` is called first.
///
/// A dead node's fixed link is followed only after checking that the dead
/// run is still attached to the last live predecessor (its link untagged or
/// only sealed), else the pass restarts.
pub(crate) fn walk<'g, K, V, R>(
    head: &'g Link<Node<K, V>>,
    guard: &'g Guard,
    mut visit: impl FnMut(&'g Node<K, V>) -> ControlFlow<R>,
    mut restart: impl FnMut(),
) -> Option<R> {
    'pass: loop {
        let mut pred = head;
        // ORDERING: Acquire pairs with the AcqRel CAS that linked the first
        // node.
        let mut curr = head.load(Ordering::Acquire, guard).with_tag(0);
        let mut run_start: Option<Shared<'g, Node<K, V>>> = None;
        loop {
            if curr.is_null() {
                return None;
            }
            // SAFETY: `curr` came from a live node's link (reachable at the
            // load) or from a dead run checked below to be still attached.
            let node = unsafe { curr.deref() };
            // ORDERING: Acquire pairs with the AcqRel CAS that wrote `next`.
            let next = node.next.load(Ordering::Acquire, guard);
            if next.tag() & DEAD == 0 {
                if let ControlFlow::Break(found) = visit(node) {
                    return Some(found);
                }
                pred = &node.next;
                curr = next.with_tag(0);
                run_start = None;
                continue;
            }
            let first = run_start.unwrap_or(curr);
            // ORDERING: Acquire, as above.
            let link = pred.load(Ordering::Acquire, guard);
            if link.tag() & DEAD != 0 || link.with_tag(0) != first {
                restart();
                sync::hint();
                continue 'pass;
            }
            run_start = Some(first);
            curr = next.with_tag(0);
        }
    }
}

/// A reader's lookup: the live (or frozen, not yet copied) entry of `key`.
pub(crate) fn lookup<'g, K, V, Q>(
    head: &'g Link<Node<K, V>>,
    hash: u64,
    key: &Q,
    guard: &'g Guard,
) -> Option<&'g Entry<K, V>>
where
    K: Borrow<Q>,
    Q: Eq + ?Sized,
{
    walk(
        head,
        guard,
        |node| {
            // ORDERING: Acquire pairs with the CAS that put the entry there.
            // LINEARIZATION(get): this load, when it returns the key's entry
            // untagged (or frozen and not yet copied): it is present now.
            let word = node.slot.load(Ordering::Acquire, guard);
            let entry = match word.tag() {
                // SAFETY: a live or uncopied frozen entry in a reachable node
                // is not retired.
                LIVE | FROZEN if !word.is_null() => unsafe { word.deref() },
                MOVE => {
                    // A decided copy (the only `MOVE` in a list node): the
                    // entry is still this key's until the source is marked.
                    // SAFETY: loaded from the slot that held the descriptor.
                    let copy = unsafe { descriptor(word) };
                    // ORDERING: Acquire (both), as in `Table::lookup`.
                    let entry = copy.entry.load(Ordering::Acquire, guard);
                    if node.slot.load(Ordering::Acquire, guard) != word {
                        // Marked meanwhile: the key is in the next table.
                        return ControlFlow::Continue(());
                    }
                    // SAFETY: the descriptor still held the slot after the
                    // entry was loaded, so the entry was not retired then.
                    unsafe { entry.deref() }
                }
                _ => return ControlFlow::Continue(()),
            };
            if entry.matches(hash, key) {
                return ControlFlow::Break(entry);
            }
            ControlFlow::Continue(())
        },
        || {},
    )
}

/// Seals the list for a migration, front to back, calling `each` on every
/// node once its incoming link is sealed (so it stays linked until the
/// table is retired).
pub(crate) fn seal<'g, K, V>(
    head: &'g Link<Node<K, V>>,
    guard: &'g Guard,
    mut each: impl FnMut(&'g Node<K, V>),
) {
    let mut link = head;
    loop {
        // ORDERING: Acquire pairs with the CAS that last wrote the link.
        let word = link.load(Ordering::Acquire, guard);
        // ORDERING: AcqRel: the seal is read by writers whose CAS it fails.
        if word.tag() & SEALED == 0
            && !link.cas(
                word,
                word.with_tag(word.tag() | SEALED),
                Ordering::AcqRel,
                Ordering::Relaxed,
                guard,
            )
        {
            sync::hint();
            continue;
        }
        if word.with_tag(0).is_null() {
            return;
        }
        // SAFETY: loaded from `link`, which held it and is now sealed: the
        // node was reachable at the load.
        let node = unsafe { word.with_tag(0).deref() };
        each(node);
        link = &node.next;
    }
}

/// Detaches a sealed list from its head and retires every node, and every
/// removed entry still in one.
///
/// # Safety
///
/// The table owning `head` is unreachable (its migration is complete and the
/// map no longer links it), the list is sealed, and this is the one thread
/// retiring that table.
pub(crate) unsafe fn retire_sealed<'g, K: 'static, V: 'static>(
    head: &'g Link<Node<K, V>>,
    guard: &'g Guard,
) {
    // ORDERING: Acquire pairs with the seal.
    let word = head.load(Ordering::Acquire, guard);
    if word.with_tag(0).is_null() {
        return;
    }
    // Detach first: a reader that loads the head from now on finds nothing,
    // and one that loaded it before is protected by that load.
    // ORDERING: Release: readers that see the detached head see nothing more.
    let detached = head.cas(
        word,
        Shared::null().with_tag(SEALED),
        Ordering::Release,
        Ordering::Relaxed,
        guard,
    );
    debug_assert!(detached, "only the retiring thread writes a sealed head");
    let mut curr = word.with_tag(0);
    while !curr.is_null() {
        // SAFETY: linked (sealed) until the detach above, under `guard`.
        let node = unsafe { curr.deref() };
        // ORDERING: Acquire pairs with the seal of this link.
        let next = node.next.load(Ordering::Acquire, guard);
        // ORDERING: Acquire pairs with the last CAS on the slot.
        let entry = node.slot.load(Ordering::Acquire, guard);
        if entry.tag() == DELETED && !entry.is_null() {
            // SAFETY: a removed entry in a node nobody unlinked is retired by
            // nobody else; the node is unreachable now.
            unsafe { reclaim::retire(entry.ptr()) };
        }
        // SAFETY: the caller's contract: unreachable, retired once, here.
        unsafe { reclaim::retire(curr.ptr()) };
        curr = next.with_tag(0);
    }
}

/// With exclusive access: moves every entry the list owns into `sink`
/// (live, or frozen and not copied), drops removed ones, frees the nodes.
///
/// # Safety
///
/// No other thread can reach the list, and it is drained once.
pub(crate) unsafe fn drain<K, V>(
    head: &Link<Node<K, V>>,
    guard: &Guard,
    sink: &mut impl FnMut((K, V)),
) {
    let mut curr = head.load(Ordering::Relaxed, guard).with_tag(0);
    head.store_private(Shared::null());
    while !curr.is_null() {
        // SAFETY: exclusive access; each linked node is visited once.
        let node = unsafe { curr.deref() };
        let next = node.next.load(Ordering::Relaxed, guard).with_tag(0);
        let entry = node.slot.load(Ordering::Relaxed, guard);
        match entry.tag() {
            LIVE | FROZEN if !entry.is_null() => {
                // SAFETY: exclusive access; the list owns this entry.
                sink(unsafe { reclaim::take(entry.ptr()) }.into_parts())
            }
            // SAFETY: as above; a removed entry still here was never retired.
            DELETED if !entry.is_null() => unsafe { reclaim::destroy(entry.ptr()) },
            _ => {}
        }
        // SAFETY: as above.
        unsafe { reclaim::destroy(curr.ptr()) };
        curr = next;
    }
}
