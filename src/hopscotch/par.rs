//! Parallel iteration on rayon's pool (cargo feature `rayon`):
//! [`HopscotchMap::par_for_each`] and [`HopscotchMap::par_iter`].
//!
//! # How the work is split
//!
//! As the sequential iterator (`iter.rs`), a task walks homes in the order
//! of their bit-reversed index, by a position in the bit-reversed hash
//! order that does not depend on the table size: the keys of home `h` in a
//! table of `2^b` slots are exactly those whose reversed hash starts with
//! the `b` bits of `h` reversed. A call cuts that order at the homes of the
//! table it starts on: ranks (reversed home indices) `r0..r1` of a table of
//! `2^b` slots are the reversed hashes `r0 << (64 - b) .. r1 << (64 - b)`
//! (`Stretch`), split in halves as finely as rayon asks. Each task reads
//! its own stretch home by home, keeping the keys whose reversed hash lies
//! in it. No task locks anything or waits for another, and nothing is
//! collected before the first entry is visited.
//!
//! # Across a resize
//!
//! Each round of a task reads the root table after finishing any migration
//! under way (`stable_root`, as `iter` does: a task may copy
//! part of the table, and the tasks that meet one migration all help it),
//! then scans the homes that cover its position, each in one consistent
//! scan (`Table::collect`), until a home
//! is frozen (the next round reads the new table) or the batch is full.
//! The split is made once, on the slots of the table at the call's start;
//! a table that grows or shrinks later only changes how many homes a task
//! scans, not which keys are its own: a key's stretch is fixed by its hash.
//! After a shrink a home may reach before the task's position or past its
//! end; the keys outside are left to their own task.
//!
//! # Guarantee
//!
//! As [`HopscotchMap::iter`]'s, per task and so for the call: every key
//! present for the whole call is visited exactly once, no key is visited
//! twice, and each key is visited with a value it held at some moment of
//! the call; a key inserted or removed during the call may or may not be
//! visited. This holds across any number of resizes: positions only grow
//! within a task, the stretches are disjoint and cover the order, and a key
//! present throughout is in the home that covers its position when its
//! task's position passes it (in the one table that is the root then, since
//! a home is scanned only while not frozen).
//!
//! # Guards
//!
//! Each task pins its own guard, on the worker thread that runs it, one per
//! round (at most 64 homes or entries), and calls [`flush`](crate::flush)
//! when done, so that an idle pool thread holds back no reclamation.

use super::iter::Cursor;
use super::HopscotchMap;
use crate::features::par::{ParSplit, Stretch};
use crate::reclaim::{self, Guard};
use alloc::vec::Vec;

/// Homes, and entries, a task reads under one guard, at most.
const BATCH: usize = 64;

/// A task's place in its stretch: the sequential iterator's [`Cursor`]
/// (its position in the bit-reversed hash order), and the stretch's end.
pub(crate) struct StretchCursor {
    cursor: Cursor,
    /// The stretch's end (exclusive): `2^64` for the last stretch.
    end: u128,
}

impl StretchCursor {
    fn new(stretch: Stretch) -> Self {
        Self {
            // Below `2^64`: `first < 2^bits`.
            cursor: Cursor::at(stretch.key(stretch.first) as u64),
            end: stretch.key(stretch.end),
        }
    }

    fn done(&self) -> bool {
        self.cursor.done() || u128::from(self.cursor.position()) >= self.end
    }

    /// The home of a table of `size` slots that covers the position.
    fn home(&self, size: usize) -> usize {
        self.cursor.home(size)
    }

    /// Whether a key of hash `hash` lies between the position and the end.
    fn covers(&self, hash: u64) -> bool {
        self.cursor.covers(hash) && u128::from(hash.reverse_bits()) < self.end
    }

    /// Moves past the home that covers the position in a table of `size`.
    fn advance(&mut self, size: usize) {
        self.cursor.advance(size);
    }
}

impl<K, V, S, const H: usize> ParSplit for HopscotchMap<K, V, S, H>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: Sync,
{
    type Key = K;
    type Value = V;
    type Cursor<'m>
        = StretchCursor
    where
        Self: 'm;

    /// Every rank of the root table now (after finishing a resize under
    /// way, so the split follows the table the keys are in).
    fn whole_stretch(&self) -> Stretch {
        let guard = reclaim::pin();
        Stretch::whole(self.stable_root(&guard).size())
    }

    fn cursor(&self, stretch: Stretch) -> StretchCursor {
        StretchCursor::new(stretch)
    }

    fn is_done(cursor: &StretchCursor) -> bool {
        cursor.done()
    }

    /// One round of `cursor`'s stretch under `guard`: the root table
    /// (after finishing a resize under way), then the homes that cover the
    /// position, each in one consistent scan, until [`BATCH`] homes or
    /// entries, the stretch's end, or a home frozen by a resize (the next
    /// round reads the new table from the same position). Pushes the
    /// entries of the stretch at or after the position into `out`.
    fn read_batch<'m: 'g, 'g, T>(
        &'m self,
        cursor: &mut StretchCursor,
        guard: &'g Guard,
        out: &mut Vec<T>,
        extract: impl Fn(&'g K, &'g V) -> T,
    ) {
        let table = self.stable_root(guard);
        let size = table.size();
        let mut home = Vec::new();
        for _ in 0..BATCH {
            if cursor.done() || out.len() >= BATCH {
                return;
            }
            home.clear();
            if table.collect(cursor.home(size), guard, &mut home).is_err() {
                return;
            }
            out.extend(
                home.iter()
                    .filter(|entry| cursor.covers(entry.hash()))
                    .map(|entry| extract(entry.key(), entry.value())),
            );
            cursor.advance(size);
        }
    }
}

/// A parallel iterator over `(K, V)` clones of a [`HopscotchMap`]'s
/// entries; see [`HopscotchMap::par_iter`].
pub struct HopscotchParIter<'a, K: 'static, V: 'static, S, const H: usize = 32> {
    map: &'a HopscotchMap<K, V, S, H>,
}

crate::features::par::par_api! {
    HopscotchMap, HopscotchParIter, const H;
    /// Calls `f` on every entry, borrowed (no `Clone`), in parallel on
    /// rayon's current pool.
    ///
    /// The homes of the table, in bit-reversed order, are cut into
    /// stretches, as many as rayon asks for; each task reads its own
    /// stretch, up to 64 homes or entries at a time under a guard of the
    /// worker thread, and calls `f` on those entries before it pins for the
    /// next (the references are valid only during the call of `f`). A task
    /// that meets a resize finishes it first, as [`iter`](Self::iter)
    /// does. Nothing is locked and nothing is collected first. A task ends
    /// with [`flush`](crate::flush) on its thread, so idle pool threads
    /// hold no reclamation back.
    ///
    /// # Linearizability
    ///
    /// Not one atomic step, and not a snapshot: the guarantee of
    /// [`iter`](Self::iter) for the whole call. Every key present for the
    /// whole call is visited exactly once, no key twice, each with a value
    /// it held at some moment of the call; a key inserted or removed during
    /// the call may or may not be visited. This holds across any number of
    /// resizes during the call: the split is made once, on the table at the
    /// start, and a key's stretch depends on its hash alone.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let map = kovan_map::HopscotchMap::new();
    /// for i in 0..1000u64 {
    ///     map.insert(i, vec![i; 2]);
    /// }
    /// let sum = AtomicU64::new(0);
    /// map.par_for_each(|_, v| {
    ///     sum.fetch_add(v.iter().sum::<u64>(), Ordering::Relaxed);
    /// });
    /// assert_eq!(sum.into_inner(), 2 * (0..1000).sum::<u64>());
    /// ```
    fn par_for_each;

    /// A rayon [`ParallelIterator`](rayon::iter::ParallelIterator) over
    /// `(K, V)` clones of the entries.
    ///
    /// Split as [`par_for_each`](Self::par_for_each); each task clones one
    /// round of entries under its guard, drops the guard, then hands the
    /// clones on, so no guard is held while the rest of the pipeline runs.
    /// Also reached as `(&map).into_par_iter()`.
    ///
    /// # Linearizability
    ///
    /// As [`par_for_each`](Self::par_for_each): every key present for the
    /// whole iteration exactly once, no key twice, each with a value it held
    /// during the iteration, across resizes; keys inserted or removed
    /// meanwhile may or may not appear.
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let map = kovan_map::HopscotchMap::new();
    /// for i in 0..1000u64 {
    ///     map.insert(i, i * 2);
    /// }
    /// let mut evens: Vec<u64> = map.par_iter().map(|(_, v)| v).collect();
    /// evens.sort_unstable();
    /// assert_eq!(evens, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
    /// ```
    fn par_iter;
}

#[cfg(test)]
mod tests {
    use super::{Stretch, StretchCursor};

    /// The reversed hash of a key at `rank` of a table of `2^bits` homes.
    fn hash_at(rank: u64, bits: u32) -> u64 {
        (rank << (64 - bits)).reverse_bits()
    }

    // A stretch's cursor keeps exactly its own keys, home by home, while
    // the table keeps its size. Catches a gap or an overlap at a stretch's
    // edges.
    #[test]
    fn a_cursor_walks_the_homes_of_its_stretch() {
        let (left, right) = Stretch::whole(16).split();
        let right = right.unwrap();
        let mut cursor = StretchCursor::new(right);
        let mut homes = Vec::new();
        while !cursor.done() {
            homes.push(cursor.home(16));
            cursor.advance(16);
        }
        // Ranks 8..16 of 16 homes: the odd homes, in reversed order.
        assert_eq!(homes, [1, 9, 5, 13, 3, 11, 7, 15]);
        let cursor = StretchCursor::new(left);
        assert!(cursor.covers(hash_at(7, 4)) && !cursor.covers(hash_at(8, 4)));
    }

    // After the table shrinks under a task, the home that covers its
    // position reaches before the position (keys the task visited) and past
    // its stretch (the next task's keys): both are left out. Catches a
    // cursor that drops either bound.
    #[test]
    fn after_a_shrink_a_cursor_keeps_only_its_stretch_past_its_position() {
        // Ranks 0..8 of a table of 16 homes, the left half.
        let (left, _) = Stretch::whole(16).split();
        let mut cursor = StretchCursor::new(left);
        for _ in 0..3 {
            cursor.advance(16);
        }
        // Now at rank 3 of 16. The table shrinks to 1 home: home 0 holds
        // every key, before the position, in it, and in the right half.
        assert_eq!(cursor.home(1), 0);
        assert!(!cursor.covers(hash_at(2, 4)), "a key already visited");
        assert!(cursor.covers(hash_at(3, 4)) && cursor.covers(hash_at(7, 4)));
        assert!(!cursor.covers(hash_at(8, 4)), "a key of the next stretch");
        cursor.advance(1);
        assert!(cursor.done());
    }

    // After the table grows under a task, the cursor goes on from its
    // position in homes of the new size. Catches an advance that skips a
    // home of the new table.
    #[test]
    fn after_a_growth_a_cursor_goes_on_from_its_position() {
        let mut cursor = StretchCursor::new(Stretch::whole(4));
        cursor.advance(4); // past home 0 of 4 (ranks 0..1 of 4)
                           // In a table of 16 homes, rank 1 of 4 is rank 4 of 16: home 2.
        assert_eq!(cursor.home(16), 2);
        cursor.advance(16);
        assert_eq!(cursor.home(16), 10);
    }
}
