//! What a slot word points at: an immutable entry, or a move descriptor.
//!
//! # Slot words
//!
//! Every slot of a table (and the slot of every overflow node) is a
//! [`Link`] whose low three bits say what its pointer is:
//!
//! | tag        | pointer        | meaning                                                        |
//! | ---------- | -------------- | -------------------------------------------------------------- |
//! | [`LIVE`]   | entry or null  | null: empty. Else a committed, present entry                    |
//! | [`DELETED`]| entry          | removed (the removal took effect); bit and slot not yet freed   |
//! | [`PENDING`]| entry          | an insert's reservation; committed iff its hop bit is set       |
//! | [`MOVE`]   | [`Move`]       | the source of a displacement, or of a decided copy: its entry is frozen here |
//! | [`DEST`]   | [`Move`]       | the destination of a displacement, filled after the freeze      |
//! | [`HOLE`]   | [`Move`]       | the destination, before the source was frozen; or a copier's publication in the new table |
//! | [`FROZEN`] | entry or null  | frozen by a migration: the entry still to copy, or nothing      |
//! | [`COPIED`] | entry          | frozen, and the entry is in the next table                      |
//!
//! # Invariants
//!
//! * An entry's hash, key and value never change once another thread can
//!   dereference it (they are written before the entry is committed).
//! * A key has at most one *committed* entry in a table: a slot whose hop bit
//!   is set, or an overflow node.
//! * An entry is retired only after no slot or overflow node holds it as
//!   [`LIVE`], [`DELETED`], [`PENDING`]-and-committed or [`FROZEN`], so every
//!   dereference of such a word is of a node that was reachable when the
//!   word was loaded. Words that may name a retired entry ([`COPIED`], an
//!   uncommitted [`PENDING`]) are compared, never dereferenced.
//! * A displacement's [`Move`] appears in at most two slots (its source and
//!   destination) and is retired by the thread whose CAS took it out of the
//!   last of them. A copy's [`Move`] appears in one slot of the new table
//!   (its publication, [`HOLE`]) and, once it won, in its source
//!   ([`MOVE`], then [`COPIED`]); the winner's is retired by the thread whose
//!   CAS marked the source [`COPIED`], a loser's by its own copier after it
//!   withdrew the publication.

use super::overflow::Node;
use crate::payload::{Carrier, Payload};
use crate::reclaim::{self, Guard, Header, Link, Shared};
use crate::sync::UnsafeCell;

/// Tag: an entry committed and present (or, with a null pointer, an empty slot).
pub(crate) const LIVE: usize = 0;
/// Tag: the entry was removed; its hop bit and slot are cleared next.
pub(crate) const DELETED: usize = 1;
/// Tag: an insert reserved the slot for this entry.
pub(crate) const PENDING: usize = 2;
/// Tag: the pointer is a [`Move`]; this slot is its source.
pub(crate) const MOVE: usize = 3;
/// Tag: the pointer is a [`Move`]; this slot is its filled destination.
pub(crate) const DEST: usize = 4;
/// Tag: the pointer is a [`Move`]; this slot is its destination, not filled.
pub(crate) const HOLE: usize = 5;
/// Tag: frozen by a migration (the pointer, if any, is still to copy).
pub(crate) const FROZEN: usize = 6;
/// Tag: frozen, and the entry was copied into the next table.
pub(crate) const COPIED: usize = 7;

/// One key and its value, behind the reclaimer's header. Immutable: an
/// update replaces the entry in its slot.
#[repr(C)]
pub(crate) struct Entry<K, V> {
    header: Header,
    payload: Payload<K, V>,
}

// SAFETY: an entry owns its key and value; sending it sends them.
unsafe impl<K: Send, V: Send> Send for Entry<K, V> {}
// SAFETY: shared entries hand out `&K` and `&V` only (the payload is written
// once, before another thread can dereference the entry), and any thread may
// drop a retired entry.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Entry<K, V> {}

impl<K: 'static, V: 'static> Carrier for Entry<K, V> {
    type Key = K;
    type Value = V;

    fn wrap(payload: Payload<K, V>) -> Self {
        Self {
            header: Header::new(),
            payload,
        }
    }

    fn unwrap(self) -> Payload<K, V> {
        self.payload
    }

    fn payload(&self) -> &Payload<K, V> {
        &self.payload
    }
}

impl<K, V> Entry<K, V> {
    /// The key and value of a node this thread owns.
    pub(crate) fn into_parts(self) -> (K, V) {
        self.payload.into_parts()
    }
}

impl<K, V> core::ops::Deref for Entry<K, V> {
    type Target = Payload<K, V>;

    fn deref(&self) -> &Payload<K, V> {
        &self.payload
    }
}

/// `from` of a [`Move`] that describes a copy into the next table, not a
/// displacement.
const COPY: usize = usize::MAX;

/// A relocation in progress: a *displacement* inside one table, or a *copy*
/// into the next one. Immutable once shared; helpers drive it to its end
/// through slot and home words only.
///
/// * Displacement (`Table::help_move`): `entry`, committed in slot `from` of
///   home `home`, moves to slot `to`, which held the displacing insert's
///   reservation word `hole` (with its tag: [`PENDING`] for an insert,
///   [`HOLE`] for a copier's reservation).
/// * Copy (`resize::copy`): the descriptor is one copier's *publication* of
///   `entry` in the new table, under new home `home`: its word tagged
///   [`HOLE`] in a reserved slot of the neighbourhood, or in the slot of the
///   overflow node `node`. The source slot's CAS `entry|FROZEN →
///   descriptor|MOVE` decides which copier's publication becomes the copy;
///   the word is this descriptor's alone, so no other copier can recreate it.
#[repr(C)]
pub(crate) struct Move<K, V> {
    header: Header,
    /// The entry being moved or copied.
    pub(crate) entry: Link<Entry<K, V>>,
    /// Displacement: the displacing insert's reservation word; its
    /// reservation comes back in whichever slot the move frees. Copy: null.
    pub(crate) hole: Link<Entry<K, V>>,
    /// Copy into an overflow list: the node whose slot holds the
    /// publication. Null otherwise.
    pub(crate) node: Link<Node<K, V>>,
    home: UnsafeCell<usize>,
    from: UnsafeCell<usize>,
    to: UnsafeCell<usize>,
}

// SAFETY: a descriptor holds only words naming entries it does not own.
unsafe impl<K: Send, V: Send> Send for Move<K, V> {}
// SAFETY: as above; its fields are read-only once shared.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Move<K, V> {}

impl<K, V> Move<K, V> {
    /// A displacement of `entry` from `from` to `to` (home `home`), whose
    /// destination held the reservation word `hole`.
    pub(crate) fn new(
        entry: *mut Entry<K, V>,
        hole: Shared<'_, Entry<K, V>>,
        home: usize,
        from: usize,
        to: usize,
    ) -> Self {
        let holes = Link::null();
        holes.store_private(hole);
        Self {
            header: Header::new(),
            entry: Link::new(entry),
            hole: holes,
            node: Link::null(),
            home: UnsafeCell::new(home),
            from: UnsafeCell::new(from),
            to: UnsafeCell::new(to),
        }
    }

    /// One copier's publication of `entry` under home `home` of the new
    /// table: in a neighbourhood slot (`node` null) or in overflow node
    /// `node`.
    pub(crate) fn copy(entry: *mut Entry<K, V>, home: usize, node: *mut Node<K, V>) -> Self {
        Self {
            header: Header::new(),
            entry: Link::new(entry),
            hole: Link::null(),
            node: Link::new(node),
            home: UnsafeCell::new(home),
            from: UnsafeCell::new(COPY),
            to: UnsafeCell::new(COPY),
        }
    }

    /// Whether this describes a copy into the next table.
    #[inline]
    pub(crate) fn is_copy(&self) -> bool {
        self.from() == COPY
    }

    #[inline]
    pub(crate) fn home(&self) -> usize {
        // SAFETY: written only by `new`/`copy`, before the descriptor was
        // shared.
        self.home.with(|p| unsafe { *p })
    }

    #[inline]
    pub(crate) fn from(&self) -> usize {
        // SAFETY: as in `home`.
        self.from.with(|p| unsafe { *p })
    }

    #[inline]
    pub(crate) fn to(&self) -> usize {
        // SAFETY: as in `home`.
        self.to.with(|p| unsafe { *p })
    }
}

/// The word naming descriptor `ptr`, allocated by this thread under `guard`,
/// for the CASes that publish it; never dereferenced after them.
pub(crate) fn move_word<'g, K, V>(
    ptr: *mut Move<K, V>,
    guard: &'g Guard,
) -> Shared<'g, Entry<K, V>> {
    Shared::from_owned(ptr.cast::<Entry<K, V>>(), guard)
}

/// The descriptor a [`MOVE`], [`DEST`] or [`HOLE`] word names.
///
/// # Safety
///
/// 1. `word` carries one of those three tags, so its pointer came from
///    `reclaim::alloc::<Move<K, V>>`.
/// 2. `word` was loaded under `'g` from a slot that held it (so the
///    descriptor was not yet retired). A descriptor this thread allocated
///    is not protected by its guard once published (kovan stamps its birth
///    with the thread's cached epoch, which can run above the published
///    one): never pass [`move_word`]'s word here.
#[inline]
pub(crate) unsafe fn descriptor<'g, K, V>(word: Shared<'g, Entry<K, V>>) -> &'g Move<K, V> {
    debug_assert!(matches!(word.tag(), MOVE | DEST | HOLE));
    // SAFETY: point 1 gives the type, point 2 keeps the node allocated while
    // the guard lives (the reclaimer protects it like any loaded node).
    unsafe { &*word.ptr().cast::<Move<K, V>>() }
}

/// Retires the descriptor a [`MOVE`], [`DEST`] or [`HOLE`] word names, as
/// the [`Move`] it is (retiring it through the slot's entry type would drop
/// it as an entry).
///
/// # Safety
///
/// As `reclaim::retire`: the descriptor is in no slot any more and never
/// will be, and this is the one thread that retires it.
pub(crate) unsafe fn retire_descriptor<K: 'static, V: 'static>(word: Shared<'_, Entry<K, V>>) {
    // SAFETY: the caller's contract; the pointer came from
    // `reclaim::alloc::<Move<K, V>>`, header first.
    unsafe { reclaim::retire(word.ptr().cast::<Move<K, V>>()) }
}
