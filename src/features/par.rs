//! The rayon glue both maps share (cargo feature `rayon`): the tasks of
//! `par_for_each` and `par_iter`, and the `ParallelIterator` impls, written
//! once over [`ParSplit`], the one thing each map says for itself: how its
//! entries are cut into stretches and how a task reads its own stretch
//! (`hash_map/par.rs`: ranks of buckets along the split-ordered list;
//! `hopscotch/par.rs`: ranks of homes in bit-reversed order). The splitting,
//! and so each map's guarantee, is described there.
//!
//! # What every task does
//!
//! A task takes one stretch (made by `rayon::iter::split` from
//! [`ParSplit::whole_stretch`], once per call, halved by
//! [`ParSplit::split_stretch`] as finely as rayon asks) and reads it in
//! batches, each under a guard that it pins on the worker thread running it
//! (kovan's guards are per thread), from a cursor it makes on that thread
//! too. `par_for_each` calls `f` on a batch's borrowed entries before its
//! guard drops; `par_iter` clones a batch under its guard, drops the guard,
//! then hands the clones on, so no guard is held while the rest of the
//! pipeline runs. A task that read anything ends with
//! [`flush`](crate::flush), so that an idle pool thread holds back no
//! reclamation with the reservation of its last batch. No task locks
//! anything or waits for another, and nothing is collected before the
//! first entry is visited.

use crate::reclaim::{self, Guard};
use alloc::vec::Vec;
use rayon::iter::plumbing::UnindexedConsumer;
use rayon::iter::ParallelIterator;

/// Ranks `first..end` of a table of `2^bits` buckets or homes, the rank of
/// one being its index reversed: the keys `first << (64 - bits) .. end <<
/// (64 - bits)` of the order a map is split in (`HashMap`: split-order
/// keys; `HopscotchMap`: reversed hashes).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stretch {
    pub(crate) first: u64,
    pub(crate) end: u64,
    pub(crate) bits: u32,
}

impl Stretch {
    /// Every rank of a table of `size` buckets or homes (a power of two).
    pub(crate) fn whole(size: usize) -> Self {
        let bits = size.trailing_zeros();
        Self {
            first: 0,
            end: 1u64 << bits,
            bits,
        }
    }

    /// Halves the stretch, if it has two ranks or more (rayon's splitter).
    pub(crate) fn split(self) -> (Self, Option<Self>) {
        if self.end - self.first < 2 {
            return (self, None);
        }
        let mid = self.first + (self.end - self.first) / 2;
        (Self { end: mid, ..self }, Some(Self { first: mid, ..self }))
    }

    /// The first key of rank `rank` (`2^64` for `2^bits`).
    pub(crate) fn key(self, rank: u64) -> u128 {
        (rank as u128) << (64 - self.bits)
    }
}

/// How a map reads a stretch of its entries for rayon's tasks, batch by
/// batch.
///
/// Halving a stretch keeps the halves disjoint and covering it, so a
/// map need only make every key of a stretch its own; a task reading its stretch with [`read_batch`](Self::read_batch)
/// until [`is_done`](Self::is_done) must visit every key of it present for
/// the whole call exactly once, no key twice: the map's `par_for_each`
/// guarantee is this, per task.
pub(crate) trait ParSplit: Sync {
    /// The map's key type.
    type Key;
    /// The map's value type.
    type Value;
    /// A task's position in its stretch, borrowing the map for `'m`.
    type Cursor<'m>
    where
        Self: 'm;

    /// Every rank of the table now, the one stretch the call splits.
    fn whole_stretch(&self) -> Stretch;

    /// A cursor at the start of `stretch`; made on the task's own thread.
    fn cursor(&self, stretch: Stretch) -> Self::Cursor<'_>;

    /// Whether `cursor` has passed the end of its stretch.
    fn is_done(cursor: &Self::Cursor<'_>) -> bool;

    /// Reads one batch at `cursor` under `guard`, pushing `extract` of each
    /// entry of the stretch it finds into `out` (which may hold entries
    /// already; a pass that must restart may clear it), and moves `cursor`
    /// past what it read.
    fn read_batch<'m: 'g, 'g, T>(
        &'m self,
        cursor: &mut Self::Cursor<'m>,
        guard: &'g Guard,
        out: &mut Vec<T>,
        extract: impl Fn(&'g Self::Key, &'g Self::Value) -> T,
    );
}

/// `par_for_each` of either map: `f` on every entry, borrowed, one task
/// per stretch.
pub(crate) fn for_each<M, F>(map: &M, f: F)
where
    M: ParSplit,
    F: Fn(&M::Key, &M::Value) + Sync + Send,
{
    rayon::iter::split(map.whole_stretch(), Stretch::split)
        .for_each(|stretch| visit_stretch(map, stretch, &f));
}

/// Runs `f` on every entry of `stretch`, borrowed, batch by batch, each
/// batch under a guard of this thread; then flushes this thread.
fn visit_stretch<M: ParSplit>(
    map: &M,
    stretch: Stretch,
    f: &(impl Fn(&M::Key, &M::Value) + ?Sized),
) {
    let mut cursor = map.cursor(stretch);
    while !M::is_done(&cursor) {
        let guard = reclaim::pin();
        let mut batch = Vec::new();
        map.read_batch(&mut cursor, &guard, &mut batch, |key, value| (key, value));
        for (key, value) in batch {
            f(key, value);
        }
    }
    reclaim::flush();
}

/// `drive_unindexed` of either map's `par_iter`: the clones of every entry,
/// one [`StretchIter`] per stretch.
pub(crate) fn drive<M, C>(map: &M, consumer: C) -> C::Result
where
    M: ParSplit,
    M::Key: Clone + Send,
    M::Value: Clone + Send,
    C: UnindexedConsumer<(M::Key, M::Value)>,
{
    rayon::iter::split(map.whole_stretch(), Stretch::split)
        .flat_map_iter(move |stretch| StretchIter {
            map,
            stretch,
            cursor: None,
            batch: Vec::new(),
        })
        .drive_unindexed(consumer)
}

/// The clones of one stretch's entries, read batch by batch (one guard of
/// the iterating thread per batch); the sequential part of `par_iter`.
struct StretchIter<'m, M: ParSplit + 'm> {
    map: &'m M,
    stretch: Stretch,
    /// Made (lazily, on the thread that iterates) by the first `next`;
    /// `Some` once this thread may have pinned.
    cursor: Option<M::Cursor<'m>>,
    /// The entries of the last batch read, in reverse order.
    batch: Vec<(M::Key, M::Value)>,
}

impl<M> Iterator for StretchIter<'_, M>
where
    M: ParSplit,
    M::Key: Clone,
    M::Value: Clone,
{
    type Item = (M::Key, M::Value);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            let (map, stretch) = (self.map, self.stretch);
            let cursor = self.cursor.get_or_insert_with(|| map.cursor(stretch));
            if M::is_done(cursor) {
                return None;
            }
            let guard = reclaim::pin();
            map.read_batch(cursor, &guard, &mut self.batch, |key, value| {
                (key.clone(), value.clone())
            });
            drop(guard);
            // `pop` hands the batch out from its end.
            self.batch.reverse();
        }
    }
}

impl<M: ParSplit> Drop for StretchIter<'_, M> {
    /// Done (or dropped early by a short-circuiting consumer): let this
    /// pool thread hold nothing back.
    fn drop(&mut self) {
        if self.cursor.is_some() {
            reclaim::flush();
        }
    }
}

/// A map's public rayon surface over its [`ParSplit`]: `par_for_each` and
/// `par_iter` (with the docs given, which are the map's own), and for its
/// iterator type `$Iter` (a struct with one field, `map: &'a $Map<..>`)
/// `Debug`, `ParallelIterator`, and `IntoParallelIterator` for `&$Map`.
macro_rules! par_api {
    (
        $Map:ident, $Iter:ident $(, const $H:ident)?;
        $(#[$for_each_doc:meta])* fn par_for_each;
        $(#[$iter_doc:meta])* fn par_iter;
    ) => {
        impl<K: 'static, V: 'static, S $(, const $H: usize)?> core::fmt::Debug
            for $Iter<'_, K, V, S $(, $H)?>
        {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($Iter)).finish_non_exhaustive()
            }
        }

        impl<K, V, S $(, const $H: usize)?> ::rayon::iter::ParallelIterator
            for $Iter<'_, K, V, S $(, $H)?>
        where
            K: Clone + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
            S: Sync,
        {
            type Item = (K, V);

            fn drive_unindexed<C>(self, consumer: C) -> C::Result
            where
                C: ::rayon::iter::plumbing::UnindexedConsumer<Self::Item>,
            {
                $crate::features::par::drive(self.map, consumer)
            }
        }

        impl<'a, K, V, S $(, const $H: usize)?> ::rayon::iter::IntoParallelIterator
            for &'a $Map<K, V, S $(, $H)?>
        where
            K: Clone + Send + Sync + 'static,
            V: Clone + Send + Sync + 'static,
            S: Sync,
        {
            type Item = (K, V);
            type Iter = $Iter<'a, K, V, S $(, $H)?>;

            fn into_par_iter(self) -> Self::Iter {
                self.par_iter()
            }
        }

        impl<K, V, S $(, const $H: usize)?> $Map<K, V, S $(, $H)?>
        where
            K: Send + Sync + 'static,
            V: Send + Sync + 'static,
            S: Sync,
        {
            $(#[$for_each_doc])*
            pub fn par_for_each<F>(&self, f: F)
            where
                F: Fn(&K, &V) + Sync + Send,
            {
                $crate::features::par::for_each(self, f);
            }

            $(#[$iter_doc])*
            pub fn par_iter(&self) -> $Iter<'_, K, V, S $(, $H)?>
            where
                K: Clone,
                V: Clone,
            {
                $Iter { map: self }
            }
        }
    };
}

pub(crate) use par_api;
