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

use super::entry::Entry;
use super::HopscotchMap;
use crate::reclaim::{self, Guard};
use alloc::vec::Vec;
use rayon::iter::plumbing::UnindexedConsumer;
use rayon::iter::{IntoParallelIterator, ParallelIterator};

/// Homes, and entries, a task reads under one guard, at most.
const BATCH: usize = 64;

/// Ranks `first..end` of a table of `2^bits` homes: the reversed hashes
/// `first << (64 - bits) .. end << (64 - bits)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stretch {
    first: u64,
    end: u64,
    bits: u32,
}

impl Stretch {
    /// Every rank of a table of `size` slots (a power of two).
    fn whole(size: usize) -> Self {
        let bits = size.trailing_zeros();
        Self {
            first: 0,
            end: 1u64 << bits,
            bits,
        }
    }

    /// Halves the stretch, if it has two ranks or more (rayon's splitter).
    fn split(self) -> (Self, Option<Self>) {
        if self.end - self.first < 2 {
            return (self, None);
        }
        let mid = self.first + (self.end - self.first) / 2;
        (Self { end: mid, ..self }, Some(Self { first: mid, ..self }))
    }

    /// The first reversed hash of rank `rank` (`2^64` for `2^bits`).
    fn key(self, rank: u64) -> u128 {
        (rank as u128) << (64 - self.bits)
    }
}

/// A task's position in the bit-reversed hash order, and its end.
struct Cursor {
    /// The least reversed hash not yet passed.
    position: u128,
    /// The stretch's end (exclusive).
    end: u128,
}

impl Cursor {
    fn new(stretch: Stretch) -> Self {
        Self {
            position: stretch.key(stretch.first),
            end: stretch.key(stretch.end),
        }
    }

    fn done(&self) -> bool {
        self.position >= self.end
    }

    /// The home of a table of `size` slots that covers the position.
    fn home(&self, size: usize) -> usize {
        let bits = size.trailing_zeros();
        if bits == 0 {
            return 0;
        }
        let rank = (self.position as u64) >> (64 - bits);
        (rank.reverse_bits() >> (64 - bits)) as usize
    }

    /// Whether a key of hash `hash` lies between the position and the end.
    fn covers(&self, hash: u64) -> bool {
        let at = u128::from(hash.reverse_bits());
        self.position <= at && at < self.end
    }

    /// Moves past the home that covers the position in a table of `size`.
    fn advance(&mut self, size: usize) {
        let bits = size.trailing_zeros();
        let rank = (self.position >> (64 - bits)) + 1;
        self.position = rank << (64 - bits);
    }
}

/// Reads one round of `cursor`'s stretch under `guard`: the root table
/// (after finishing a resize under way), then the homes that cover the
/// position, each in one consistent scan, until [`BATCH`] homes or
/// entries, the stretch's end, or a home frozen by a resize (the next
/// round reads the new table from the same position). Pushes the entries
/// of the stretch at or after the position into `out`.
fn round<'g, K: 'static, V: 'static, S, const H: usize>(
    map: &'g HopscotchMap<K, V, S, H>,
    cursor: &mut Cursor,
    guard: &'g Guard,
    out: &mut Vec<&'g Entry<K, V>>,
) {
    let table = map.stable_root(guard);
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
        out.extend(home.iter().filter(|entry| cursor.covers(entry.hash())));
        cursor.advance(size);
    }
}

/// Runs `f` on every entry of `stretch`, borrowed, round by round, each
/// round under a guard of this thread; then flushes this thread.
fn visit_stretch<K: 'static, V: 'static, S, const H: usize>(
    map: &HopscotchMap<K, V, S, H>,
    stretch: Stretch,
    f: &(impl Fn(&K, &V) + ?Sized),
) {
    let mut cursor = Cursor::new(stretch);
    while !cursor.done() {
        let guard = reclaim::pin();
        let mut entries = Vec::new();
        round(map, &mut cursor, &guard, &mut entries);
        for entry in entries {
            f(entry.key(), entry.value());
        }
    }
    reclaim::flush();
}

/// The clones of one stretch's entries, read round by round (one guard of
/// the iterating thread per round); the sequential part of
/// [`HopscotchParIter`].
struct StretchIter<'m, K: 'static, V: 'static, S, const H: usize> {
    map: &'m HopscotchMap<K, V, S, H>,
    cursor: Cursor,
    /// Whether a round was read (and so this thread pinned).
    started: bool,
    /// The entries of the last round read, in reverse order.
    batch: Vec<(K, V)>,
}

impl<K: Clone + 'static, V: Clone + 'static, S, const H: usize> Iterator
    for StretchIter<'_, K, V, S, H>
{
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            if self.cursor.done() {
                return None;
            }
            self.started = true;
            let guard = reclaim::pin();
            let mut entries = Vec::new();
            round(self.map, &mut self.cursor, &guard, &mut entries);
            // Reversed: `next` pops from the back.
            self.batch.extend(
                entries
                    .iter()
                    .rev()
                    .map(|entry| (entry.key().clone(), entry.value().clone())),
            );
        }
    }
}

impl<K: 'static, V: 'static, S, const H: usize> Drop for StretchIter<'_, K, V, S, H> {
    /// Done (or dropped early by a short-circuiting consumer): let this
    /// pool thread hold nothing back.
    fn drop(&mut self) {
        if self.started {
            reclaim::flush();
        }
    }
}

/// A parallel iterator over `(K, V)` clones of a [`HopscotchMap`]'s
/// entries; see [`HopscotchMap::par_iter`].
pub struct HopscotchParIter<'a, K: 'static, V: 'static, S, const H: usize = 32> {
    map: &'a HopscotchMap<K, V, S, H>,
}

impl<K: 'static, V: 'static, S, const H: usize> core::fmt::Debug
    for HopscotchParIter<'_, K, V, S, H>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HopscotchParIter").finish_non_exhaustive()
    }
}

impl<K, V, S, const H: usize> ParallelIterator for HopscotchParIter<'_, K, V, S, H>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Sync,
{
    type Item = (K, V);

    fn drive_unindexed<C>(self, consumer: C) -> C::Result
    where
        C: UnindexedConsumer<Self::Item>,
    {
        let map = self.map;
        rayon::iter::split(map.par_whole_stretch(), Stretch::split)
            .flat_map_iter(move |stretch| StretchIter {
                map,
                cursor: Cursor::new(stretch),
                started: false,
                batch: Vec::new(),
            })
            .drive_unindexed(consumer)
    }
}

impl<'a, K, V, S, const H: usize> IntoParallelIterator for &'a HopscotchMap<K, V, S, H>
where
    K: Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    S: Sync,
{
    type Item = (K, V);
    type Iter = HopscotchParIter<'a, K, V, S, H>;

    fn into_par_iter(self) -> HopscotchParIter<'a, K, V, S, H> {
        self.par_iter()
    }
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// Every rank of the root table now (after finishing a resize under
    /// way, so the split follows the table the keys are in).
    fn par_whole_stretch(&self) -> Stretch {
        let guard = reclaim::pin();
        Stretch::whole(self.stable_root(&guard).size())
    }
}

impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: Sync,
{
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
    pub fn par_for_each<F>(&self, f: F)
    where
        F: Fn(&K, &V) + Sync + Send,
    {
        rayon::iter::split(self.par_whole_stretch(), Stretch::split)
            .for_each(|stretch| visit_stretch(self, stretch, &f));
    }

    /// A rayon [`ParallelIterator`] over `(K, V)` clones of the entries.
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
    pub fn par_iter(&self) -> HopscotchParIter<'_, K, V, S, H>
    where
        K: Clone,
        V: Clone,
    {
        HopscotchParIter { map: self }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cursor, Stretch};

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
        let mut cursor = Cursor::new(right);
        let mut homes = Vec::new();
        while !cursor.done() {
            homes.push(cursor.home(16));
            cursor.advance(16);
        }
        // Ranks 8..16 of 16 homes: the odd homes, in reversed order.
        assert_eq!(homes, [1, 9, 5, 13, 3, 11, 7, 15]);
        let cursor = Cursor::new(left);
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
        let mut cursor = Cursor::new(left);
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
        let mut cursor = Cursor::new(Stretch::whole(4));
        cursor.advance(4); // past home 0 of 4 (ranks 0..1 of 4)
                           // In a table of 16 homes, rank 1 of 4 is rank 4 of 16: home 2.
        assert_eq!(cursor.home(16), 2);
        cursor.advance(16);
        assert_eq!(cursor.home(16), 10);
    }
}
