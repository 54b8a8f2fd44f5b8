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
//! | [`MOVE`]   | [`Move`]       | the source of a displacement: its entry is frozen here          |
//! | [`DEST`]   | [`Move`]       | the destination of a displacement, filled after the freeze      |
//! | [`HOLE`]   | [`Move`]       | the destination, before the source was frozen                   |
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
//! * A [`Move`] appears in at most two slots (its source and destination)
//!   and is retired by the thread whose CAS took it out of the last of them.

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

/// A displacement in progress: `entry`, committed in slot `from` of home
/// `home`, moves to slot `to`, which held the displacing insert's
/// reservation of `hole`. Immutable; helpers drive it to its end through the
/// slot and home words only (see `Table::help_move`).
#[repr(C)]
pub(crate) struct Move<K, V> {
    header: Header,
    /// The entry being moved.
    pub(crate) entry: Link<Entry<K, V>>,
    /// The displacing insert's own entry: its reservation comes back, tagged
    /// [`PENDING`], in whichever slot the move frees.
    pub(crate) hole: Link<Entry<K, V>>,
    home: UnsafeCell<usize>,
    from: UnsafeCell<usize>,
    to: UnsafeCell<usize>,
}

// SAFETY: a descriptor holds only words naming entries it does not own.
unsafe impl<K: Send, V: Send> Send for Move<K, V> {}
// SAFETY: as above; its fields are read-only once shared.
unsafe impl<K: Send + Sync, V: Send + Sync> Sync for Move<K, V> {}

impl<K, V> Move<K, V> {
    pub(crate) fn new(
        entry: *mut Entry<K, V>,
        hole: *mut Entry<K, V>,
        home: usize,
        from: usize,
        to: usize,
    ) -> Self {
        Self {
            header: Header::new(),
            entry: Link::new(entry),
            hole: Link::new(hole),
            home: UnsafeCell::new(home),
            from: UnsafeCell::new(from),
            to: UnsafeCell::new(to),
        }
    }

    #[inline]
    pub(crate) fn home(&self) -> usize {
        // SAFETY: written only by `new`, before the descriptor was shared.
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

/// The word naming descriptor `ptr`, allocated by this thread under `guard`.
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
///    descriptor was not yet retired), or this thread allocated it under `'g`.
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
