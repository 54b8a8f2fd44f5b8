//! Reservation and displacement in one table: how an insert (or a copier)
//! gets a slot of its home's neighbourhood, and how entries move to make
//! one. Split from `table.rs`, whose module doc states the invariants these
//! steps keep; docs/hopscotch.md has their state tables.
//!
//! # A reservation is its owner's
//!
//! A reservation is a slot word unique to the thread that wrote it: an
//! insert's own, still private entry tagged [`PENDING`], or a copier's own
//! descriptor tagged [`HOLE`]. Until it is committed (its bit set in the home
//! word) nobody but its owner writes it, so every CAS on it succeeds for the
//! owner; a displacement borrows it (`M|HOLE`) and gives it back in the slot
//! the move frees. Both facts are checked in every build (`withdraw`'s
//! answer, `move_entry`'s CASes).

use super::super::entry::{
    self, descriptor, Entry, Move, COPIED, DEST, FROZEN, HOLE, LIVE, MOVE, PENDING,
};
use super::{cas_word, load_word, Displace, Reserve, Table, FROZEN_HOME, OVERFLOW, STEP};
use crate::reclaim::{self, Guard, Shared};
use crate::sync::{self, Ordering};

/// How one `move_entry` ended.
enum Moved {
    /// Moved: the reservation is now in the source slot.
    To,
    /// A migration froze the home first: undone, the reservation is back.
    Undone,
    /// The candidate changed before the freeze: nothing happened.
    Changed,
    /// The reservation was no longer this thread's (a relocation-counter
    /// wrap; see `withdraw`).
    Lost,
}

impl<K: 'static, V: 'static> Table<K, V> {
    /// Reserves a free slot in home `h`'s neighbourhood for `hole` (an
    /// insert's entry word tagged [`PENDING`], or a copier's descriptor word
    /// tagged [`HOLE`]: either is unique to the thread reserving), displacing
    /// entries to bring a farther free slot within reach.
    pub(crate) fn reserve<'g>(
        &'g self,
        h: usize,
        hole: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) -> Reserve {
        debug_assert!(matches!(hole.tag(), PENDING | HOLE));
        let mut reserved = None;
        for i in 0..self.probe_limit() {
            let index = (h + i) & self.mask;
            let link = self.slot(index);
            // ORDERING: Acquire: a free slot's last writer released it.
            let slot = link.load(Ordering::Acquire, guard);
            match slot.tag() {
                FROZEN | COPIED => return Reserve::Migrating,
                // ORDERING: AcqRel: Release publishes the entry to a helper
                // that validates the commit and untags it; Acquire pairs with
                // the release of the slot.
                LIVE if slot.is_null()
                    && link.cas(slot, hole, Ordering::AcqRel, Ordering::Relaxed, guard) =>
                {
                    reserved = Some(index);
                    break;
                }
                _ => {}
            }
        }
        let Some(mut index) = reserved else {
            return Reserve::Full;
        };
        while self.dist(h, index) >= self.hood {
            match self.displace(index, hole, guard) {
                Displace::To(closer) => index = closer,
                Displace::Lost => return Reserve::Lost,
                stopped => {
                    if !self.withdraw(index, hole, guard) {
                        return Reserve::Lost;
                    }
                    return match stopped {
                        Displace::Stuck => Reserve::Full,
                        _ => Reserve::Migrating,
                    };
                }
            }
        }
        Reserve::At(index)
    }

    /// Takes back an uncommitted reservation. True unless someone else
    /// wrote it, which the protocol excludes: a reservation word is unique
    /// to its owner (an insert's own entry, a copier's own descriptor) and
    /// only the owner writes it while it is uncommitted; the one exception
    /// is a helper that shows an insert's [`PENDING`] entry because a stale
    /// home word equalled the current one after the 30-bit relocation
    /// counter wrapped (docs/hopscotch.md, "Known limits"). Callers check
    /// the answer in every build.
    #[must_use]
    pub(crate) fn withdraw(
        &self,
        index: usize,
        hole: Shared<'_, Entry<K, V>>,
        guard: &Guard,
    ) -> bool {
        // ORDERING: Release: the next reserver of the slot acquires it.
        self.slot(index).cas(
            hole,
            Shared::null(),
            Ordering::Release,
            Ordering::Relaxed,
            guard,
        )
    }

    /// Commits the reservation in slot `index` as a new key of home `h`: one
    /// CAS of the home word from `word` (the word the key was found absent
    /// in) to the same with the slot's bit set and the counter bumped.
    pub(crate) fn commit(&self, h: usize, word: u64, index: usize) -> bool {
        debug_assert!(self.dist(h, index) < self.hood);
        debug_assert_eq!(word & (FROZEN_HOME | OVERFLOW), 0);
        let new = (word | self.bit(h, index)).wrapping_add(STEP);
        cas_word(&self.home(h).word, word, new)
    }

    /// After a successful [`commit`](Self::commit): shows the entry.
    pub(crate) fn untag(&self, index: usize, hole: Shared<'_, Entry<K, V>>, guard: &Guard) {
        // A helper may have shown it, or a migration frozen it: both fine.
        Self::show(self.slot(index), hole, guard);
    }

    /// Brings a farther free slot (`index`, holding `hole`) one step closer:
    /// finds an entry before it that may move into it, and moves it.
    fn displace<'g>(
        &'g self,
        index: usize,
        hole: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) -> Displace {
        'candidates: loop {
            // Farthest back first: the hole moves back the most.
            for back in (1..self.hood).rev() {
                let from = index.wrapping_sub(back) & self.mask;
                // ORDERING: Acquire, as in `lookup`.
                let slot = self.slot(from).load(Ordering::Acquire, guard);
                match slot.tag() {
                    LIVE if !slot.is_null() => {}
                    FROZEN | COPIED => return Displace::Migrating,
                    _ => continue,
                }
                // SAFETY: a live entry in a slot is not retired.
                let entry = unsafe { slot.deref() };
                let owner = self.home_of(entry.hash());
                if self.dist(owner, index) >= self.hood {
                    continue; // the hole is outside its neighbourhood
                }
                if load_word(&self.home(owner).word) & FROZEN_HOME != 0 {
                    return Displace::Migrating;
                }
                match self.move_entry(owner, from, index, slot, hole, guard) {
                    Moved::To => return Displace::To(from),
                    Moved::Undone => return Displace::Migrating,
                    Moved::Lost => return Displace::Lost,
                    Moved::Changed => {
                        // The candidate changed under us: look again.
                        sync::hint();
                        continue 'candidates;
                    }
                }
            }
            return Displace::Stuck;
        }
    }

    /// Moves `entry` (live in `from`, home `owner`) into `to`, which holds
    /// this thread's reservation `hole`. See [`Moved`] for the outcomes.
    fn move_entry<'g>(
        &'g self,
        owner: usize,
        from: usize,
        to: usize,
        entry: Shared<'g, Entry<K, V>>,
        hole: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) -> Moved {
        let descriptor = reclaim::alloc(Move::new(entry.ptr(), hole, owner, from, to));
        let word = entry::move_word(descriptor, guard);
        let (src, dst) = (self.slot(from), self.slot(to));
        // Our reservation becomes the move's hole. Nobody else writes an
        // uncommitted reservation (see `withdraw` for the one exception, a
        // counter wrap), and that is checked here in every build.
        // ORDERING: Release: a helper that later acquires the hole through
        // `dst` sees the descriptor's fields.
        let held = dst.cas(
            hole,
            word.with_tag(HOLE),
            Ordering::Release,
            Ordering::Relaxed,
            guard,
        );
        if !held {
            // SAFETY: the descriptor was never published.
            unsafe { reclaim::destroy(descriptor) };
            return Moved::Lost;
        }
        // ORDERING: AcqRel. Release publishes the descriptor to helpers that
        // find it at the source; Acquire pairs with the CAS that put `entry`
        // there.
        if !src.cas(
            entry,
            word.with_tag(MOVE),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            // Not frozen: the descriptor was only ever in our hole, which no
            // helper acts on (helpers learn of a move only from its source,
            // and it never reached the source). Take the hole back: `M|HOLE`
            // is unique to this move and only this thread writes it, so the
            // CAS succeeds; checked in every build all the same.
            // ORDERING: Release, as in `withdraw`.
            let back = dst.cas(
                word.with_tag(HOLE),
                hole,
                Ordering::Release,
                Ordering::Relaxed,
                guard,
            );
            assert!(back, "a displacement's hole was written by another thread");
            // SAFETY: the descriptor is in no slot any more and never will
            // be (only this thread freezes with it); it came from
            // `reclaim::alloc`, header first; retired once, here.
            unsafe { reclaim::retire(descriptor) };
            return Moved::Changed;
        }
        // From the freeze on, a helper may finish the move and retire the
        // descriptor, and kovan does not protect a node for its allocator:
        // reach it again through a protected load, never through `word`.
        // ORDERING: Acquire pairs with the move's steps.
        let now = src.load(Ordering::Acquire, guard);
        if now == word.with_tag(MOVE) {
            self.help_move(now, guard);
        }
        // Only this thread writes its reservation, so the source holds it
        // exactly when the move committed; otherwise the move was undone
        // (the destination restored to the reservation first).
        // ORDERING: Acquire pairs with the finishing CAS of `help_move`.
        if src.load(Ordering::Acquire, guard) == hole {
            Moved::To
        } else {
            Moved::Undone
        }
    }

    /// Drives the move `word` names (tag [`MOVE`] or [`DEST`], loaded under
    /// `guard` from a slot that held it) to its end: committed and finished,
    /// or undone because a migration froze its home first.
    pub(crate) fn help_move<'g>(&'g self, word: Shared<'g, Entry<K, V>>, guard: &'g Guard) {
        // SAFETY: the caller's contract.
        let mv = unsafe { descriptor(word) };
        let (owner, from, to) = (mv.home(), mv.from(), mv.to());
        let (src, dst) = (self.slot(from), self.slot(to));
        let home = &self.home(owner).word;
        let moving = word.with_tag(MOVE);
        let filled = word.with_tag(DEST);
        let hole_word = word.with_tag(HOLE);
        debug_assert!(!mv.is_copy(), "copies are driven by `resize::copy`");
        // Only compared and written, never dereferenced here. The hole keeps
        // its tag: `PENDING` (an insert's) or `HOLE` (a copier's).
        // ORDERING: Acquire (both): published with the descriptor.
        let entry = mv.entry.load(Ordering::Acquire, guard).with_tag(LIVE);
        let hole = mv.hole.load(Ordering::Acquire, guard);
        let (from_bit, to_bit) = (self.bit(owner, from), self.bit(owner, to));
        loop {
            // ORDERING: Acquire pairs with the CASes of the move's steps.
            if src.load(Ordering::Acquire, guard) != moving {
                break;
            }
            let w = load_word(home);
            // ORDERING: Acquire, as above.
            if src.load(Ordering::Acquire, guard) != moving {
                break;
            }
            // The source still held the descriptor after `w` was read, so
            // the move was not finished then, and `w` tells its state.
            if w & from_bit == 0 {
                // Committed: the source's bit moved. Finish the source: the
                // displacing insert's reservation takes its place.
                // ORDERING: AcqRel. Release: a reader that sees the source
                // changed and then reads the home word sees the commit.
                src.cas(moving, hole, Ordering::AcqRel, Ordering::Relaxed, guard);
                break;
            }
            if w & FROZEN_HOME != 0 {
                // A migration froze the home before the commit: it never
                // will commit. Undo: destination first, then the source.
                loop {
                    // ORDERING: Acquire, as above.
                    let d = dst.load(Ordering::Acquire, guard);
                    if d != hole_word && d != filled {
                        break;
                    }
                    // ORDERING: AcqRel, as the restore of the source below.
                    if dst.cas(d, hole, Ordering::AcqRel, Ordering::Relaxed, guard) {
                        break;
                    }
                    sync::hint();
                }
                // ORDERING: AcqRel: Release republishes the entry in its
                // source slot to readers; Acquire pairs with the freeze.
                if src.cas(moving, entry, Ordering::AcqRel, Ordering::Relaxed, guard) {
                    // SAFETY: the destination was restored before, so this
                    // CAS took the descriptor out of its last slot; only
                    // this CAS's thread retires it.
                    unsafe { entry::retire_descriptor(word) };
                }
                return;
            }
            // Uncommitted and not frozen: fill the destination, then commit.
            // ORDERING: Acquire, as above.
            let d = dst.load(Ordering::Acquire, guard);
            if d == hole_word {
                // ORDERING: AcqRel: Release publishes the filled destination
                // before the commit that makes its bit visible.
                if dst.cas(
                    hole_word,
                    filled,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                    guard,
                ) {
                    continue;
                }
            } else if d == filled {
                // A displacement: bit `from` → bit `to`, counter + 1.
                if cas_word(home, w, ((w & !from_bit) | to_bit).wrapping_add(STEP)) {
                    continue;
                }
            }
            sync::hint();
        }
        // The source is finished (committed) or restored (undone, in which
        // case the destination was restored first and this CAS fails).
        // ORDERING: AcqRel: Release publishes the entry untagged at its new
        // place; Acquire pairs with the source's finishing CAS.
        if dst.cas(filled, entry, Ordering::AcqRel, Ordering::Relaxed, guard) {
            // SAFETY: the source was finished before, so this CAS took the
            // descriptor out of its last slot; retired once, here.
            unsafe { entry::retire_descriptor(word) };
        }
    }

    /// Commits and shows a copier's publication `word` (its descriptor,
    /// tagged [`HOLE`], reserved in home `h`'s neighbourhood), after the
    /// source's CAS decided for it: sets the slot's bit (counter + 1), then
    /// CASes the slot to `entry`. Any thread may call it, any number of
    /// times; returns once the slot no longer holds `word`.
    ///
    /// No CAS here expects a value another copier can recreate: `word` names
    /// a descriptor that only its copier allocated, which stays allocated
    /// while the caller's guard lives (it was loaded from the source), and
    /// once the slot has left `word` it never holds it again.
    pub(crate) fn show_copy<'g>(
        &'g self,
        h: usize,
        word: Shared<'g, Entry<K, V>>,
        entry: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) {
        debug_assert_eq!(word.tag(), HOLE);
        // The publication is in the neighbourhood (the copier reserved it
        // there before it decided) and stays in its slot until shown.
        let Some(index) = (0..self.hood)
            .map(|d| (h + d) & self.mask)
            // ORDERING: Acquire pairs with the reservation's CAS.
            .find(|&i| self.slot(i).load(Ordering::Acquire, guard) == word)
        else {
            return; // shown already
        };
        let link = self.slot(index);
        let home = &self.home(h).word;
        let bit = self.bit(h, index);
        loop {
            let w = load_word(home);
            // ORDERING: Acquire, as above.
            if link.load(Ordering::Acquire, guard) != word {
                return; // shown by another thread
            }
            // The slot still held the publication after `w` was read, so the
            // bit, if set in `w`, is its commit (no other key can commit a
            // slot that holds someone's reservation).
            if w & bit != 0 {
                // ORDERING: AcqRel. Release publishes the entry untagged at
                // its place in the new table; Acquire pairs with the
                // reservation.
                link.cas(word, entry, Ordering::AcqRel, Ordering::Relaxed, guard);
                return;
            }
            // The new table cannot be frozen here: it becomes the root, and
            // only then can it migrate, after every copy into it is shown.
            debug_assert_eq!(w & FROZEN_HOME, 0);
            // The commit: bit set, counter + 1. Overflow mode does not stop
            // it: the key is not new to the map, and no other entry of it can
            // be in this table (the source's decision was for this word).
            if !cas_word(home, w, (w | bit).wrapping_add(STEP)) {
                sync::hint();
            }
        }
    }
}
