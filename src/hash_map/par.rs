//! Parallel iteration on rayon's pool (cargo feature `rayon`):
//! [`HashMap::par_for_each`] and [`HashMap::par_iter`].
//!
//! # How the work is split
//!
//! The list is sorted by split-order key, and bucket `b`'s dummy has key
//! `reverse(b)`. In a table of `2^k` buckets the dummies' keys are the
//! multiples of `2^(64 - k)`: the buckets, taken in the order of their
//! *reversed* index (their *rank*), cut the key space into `2^k` equal
//! stretches, and ranks `r0..r1` are one contiguous stretch of the list,
//! the keys `r0 << (64 - k) .. r1 << (64 - k)`. So a call splits the range
//! of ranks of the table it starts on (`Stretch`), as finely as rayon
//! asks, and each task reads its stretch of the list alone, from its first
//! bucket's dummy to the first element at or past its end. No task locks
//! anything or waits for another, and nothing is collected before the first
//! entry is visited.
//!
//! A task starts at `Directory::reader_start` (in `directory.rs`) of its first bucket: the
//! bucket's dummy if it is linked, else the nearest linked ancestor's (an
//! earlier key), and skips the nodes before its stretch. A stretch is
//! aligned (halves of halves of the whole range): ranks `f .. f + 2^m`, `f`
//! a multiple of `2^m`, so its first bucket `x` (the rank reversed) is the
//! low `k - m` bits of the hash of every key of the stretch. Then
//! `reader_start(x)` answering "certainly absent" (it found the floor bucket
//! `x & (floor - 1)` untouched) means the whole stretch is empty: a writer
//! of such a key claims every ancestor of its bucket before it links its
//! node, and those include `x` (when `x` is below the floor) or the floor
//! bucket `x & (floor - 1)` (when it is not); so no node of the stretch was
//! linked before that load, and a key present for the whole call was.
//!
//! # Guarantee
//!
//! As [`HashMap::iter`]'s, per task and so for the call: every key present
//! for the whole call is visited exactly once, no key is visited twice, and
//! each key is visited with a value it held at some moment of the call; a
//! key inserted or removed during the call may or may not be visited. The
//! stretches are disjoint and cover the key space, and a node's stretch is
//! fixed by its split-order key, however the table grows or shrinks during
//! the call (growth moves no node; only the first bucket's dummy of each
//! stretch is a start, and any linked ancestor precedes it). Within a
//! stretch a task reads batches from one dummy to a later dummy, each in
//! one completed `list::walk` under its own guard (a restarted pass is
//! forgotten and read again from its dummy), as [`HashMap::iter`] does.
//!
//! # Guards
//!
//! kovan's guards are per thread: a node is protected only for the thread
//! whose slot made the load. So every task pins its own guard, on the
//! worker thread that runs it, one per batch of about 64 elements,
//! and calls [`flush`](crate::flush) when its stretch is done, so that an idle
//! pool thread does not hold back reclamation with the reservation of its
//! last batch.

use super::directory::Dummy;
use super::list::{self, Item, Node};
use super::HashMap;
use crate::features::par::{ParSplit, Stretch};
use crate::reclaim::Guard;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::ops::ControlFlow;

/// Elements (nodes and dummies) a task reads under one guard, at least.
const BATCH: usize = 64;

/// What only `HashMap`'s split needs of a stretch: its first bucket.
impl Stretch {
    /// Whether the stretch is `2^m` ranks from a multiple of `2^m`.
    fn is_aligned(self) -> bool {
        let len = self.end - self.first;
        len.is_power_of_two() && self.first.is_multiple_of(len)
    }

    /// The bucket of rank `rank < 2^bits`: its index is the rank reversed.
    fn bucket(self, rank: u64) -> usize {
        (self.key(rank) as u64).reverse_bits() as usize
    }
}

/// Where a task's first batch starts: the list link its first bucket is
/// read from, or `None` if the stretch is certainly empty (see the module
/// doc: a stretch is aligned, so its first bucket is an ancestor, or the
/// floor bucket, of every key's bucket in it).
fn start<K: 'static, V: 'static, S>(
    map: &HashMap<K, V, S>,
    stretch: Stretch,
) -> Option<Dummy<'_, K, V>> {
    debug_assert!(stretch.is_aligned());
    // `reader_start` takes a hash, and only its bucket bits count: `x` is
    // its own bucket under any size of at least `2^bits`, and an ancestor
    // of itself under a smaller one (which precedes it in the list).
    map.dir.reader_start(stretch.bucket(stretch.first) as u64)
}

/// Reads one batch of the stretch `lo..hi` (split-order keys) from `from`
/// under `guard` into `out` (`extract` of each live node of the stretch,
/// in list order), the batch ending at the first dummy met after about
/// [`BATCH`] elements; answers that dummy, or `None` at the stretch's or
/// the list's end. A pass that must restart forgets what it put into
/// `out` and reads the batch again from `from`.
fn read_batch<'d: 'g, 'g, K, V, T>(
    from: Dummy<'d, K, V>,
    (lo, hi): (u128, u128),
    guard: &'g Guard,
    out: &mut Vec<T>,
    extract: impl Fn(&'g Node<K, V>) -> T,
) -> Option<Dummy<'d, K, V>> {
    let batch = RefCell::new(core::mem::take(out));
    let read = Cell::new(0usize);
    let next = list::walk(
        from,
        guard,
        |item| {
            read.set(read.get() + 1);
            match item {
                Item::Dummy(dummy) if u128::from(dummy.key()) >= hi => ControlFlow::Break(None),
                Item::Dummy(dummy) if read.get() >= BATCH => ControlFlow::Break(Some(dummy)),
                Item::Dummy(_) => ControlFlow::Continue(()),
                Item::Node(node) => {
                    let key = u128::from(node.hash());
                    if key >= hi {
                        return ControlFlow::Break(None);
                    }
                    // A node before the stretch (the start was an ancestor's
                    // dummy) belongs to another task.
                    if key >= lo {
                        batch.borrow_mut().push(extract(node));
                    }
                    ControlFlow::Continue(())
                }
            }
        },
        // The abandoned pass's entries are forgotten: the next pass reads
        // the batch whole.
        || {
            batch.borrow_mut().clear();
            read.set(0);
        },
    );
    *out = batch.into_inner();
    next.flatten()
}

/// The split-order bounds of `stretch`.
fn bounds(stretch: Stretch) -> (u128, u128) {
    (stretch.key(stretch.first), stretch.key(stretch.end))
}

/// A task's place in its stretch: where its next batch starts.
pub(crate) struct ListCursor<'m, K, V> {
    /// The stretch's split-order bounds.
    bounds: (u128, u128),
    /// Where the next batch starts; `None` once the stretch was read.
    at: Option<Dummy<'m, K, V>>,
}

impl<K, V, S> ParSplit for HashMap<K, V, S>
where
    K: Send + Sync + 'static,
    V: Send + Sync + 'static,
    S: Sync,
{
    type Key = K;
    type Value = V;
    type Cursor<'m>
        = ListCursor<'m, K, V>
    where
        Self: 'm;

    fn whole_stretch(&self) -> Stretch {
        Stretch::whole(self.dir.size())
    }

    fn cursor(&self, stretch: Stretch) -> ListCursor<'_, K, V> {
        ListCursor {
            bounds: bounds(stretch),
            at: start(self, stretch),
        }
    }

    fn is_done(cursor: &ListCursor<'_, K, V>) -> bool {
        cursor.at.is_none()
    }

    fn read_batch<'m: 'g, 'g, T>(
        &'m self,
        cursor: &mut ListCursor<'m, K, V>,
        guard: &'g Guard,
        out: &mut Vec<T>,
        extract: impl Fn(&'g K, &'g V) -> T,
    ) {
        let Some(from) = cursor.at else {
            return;
        };
        let next = read_batch(from, cursor.bounds, guard, out, |node| {
            extract(node.key(), node.value())
        });
        cursor.at = next;
    }
}

/// A parallel iterator over `(K, V)` clones of a [`HashMap`]'s entries;
/// see [`HashMap::par_iter`].
pub struct ParIter<'a, K: 'static, V: 'static, S> {
    map: &'a HashMap<K, V, S>,
}

crate::features::par::par_api! {
    HashMap, ParIter;
    /// Calls `f` on every entry, borrowed (no `Clone`), in parallel on
    /// rayon's current pool.
    ///
    /// The table's buckets, in split order, are cut into stretches of the
    /// list, as many as rayon asks for; each task reads its own stretch,
    /// one batch of about 64 elements at a time under a guard of the
    /// worker thread, and calls `f` on that batch's entries before it
    /// pins for the next (the references are valid only during the call
    /// of `f`). Nothing is locked and nothing is collected first. A task
    /// ends with [`flush`](crate::flush) on its thread, so idle pool
    /// threads hold no reclamation back.
    ///
    /// # Linearizability
    ///
    /// Not one atomic step, and not a snapshot: the guarantee of
    /// [`iter`](Self::iter) for the whole call. Every key present for the
    /// whole call is visited exactly once, no key twice, each with a value
    /// it held at some moment of the call; a key inserted or removed during
    /// the call may or may not be visited. This holds while the table grows
    /// or shrinks: the split is made once, on the table size at the start,
    /// and a node's stretch does not depend on the size.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let map = kovan_map::HashMap::with_capacity(1024);
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
    /// batch under its guard, drops the guard, then hands the clones on, so
    /// no guard is held while the rest of the pipeline runs. Also reached
    /// as `(&map).into_par_iter()`.
    ///
    /// # Linearizability
    ///
    /// As [`par_for_each`](Self::par_for_each): every key present for the
    /// whole iteration exactly once, no key twice, each with a value it held
    /// during the iteration; keys inserted or removed meanwhile may or may
    /// not appear.
    ///
    /// ```
    /// use rayon::prelude::*;
    ///
    /// let map = kovan_map::HashMap::with_capacity(1024);
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
    use super::Stretch;

    /// Every leaf of splitting `stretch` all the way down.
    fn leaves(stretch: Stretch, out: &mut Vec<Stretch>) {
        match stretch.split() {
            (whole, None) => out.push(whole),
            (left, Some(right)) => {
                leaves(left, out);
                leaves(right, out);
            }
        }
    }

    // A split keeps stretches aligned and disjoint, and their first keys
    // are the dummies' keys of their first buckets. Catches a split that
    // leaves a gap or an overlap, and a rank mapped to the wrong bucket.
    #[test]
    fn split_stretches_are_aligned_and_start_at_their_buckets_dummy() {
        let mut out = Vec::new();
        leaves(Stretch::whole(8), &mut out);
        assert_eq!(out.len(), 8);
        for (rank, leaf) in out.iter().enumerate() {
            assert!(leaf.is_aligned());
            assert_eq!((leaf.first, leaf.end), (rank as u64, rank as u64 + 1));
            let bucket = leaf.bucket(leaf.first);
            assert_eq!(
                leaf.key(leaf.first),
                u128::from((bucket as u64).reverse_bits())
            );
        }
        // Ranks in order are buckets 0, 4, 2, 6, 1, 5, 3, 7 of 8.
        let buckets: Vec<usize> = out.iter().map(|s| s.bucket(s.first)).collect();
        assert_eq!(buckets, [0, 4, 2, 6, 1, 5, 3, 7]);
        let whole = Stretch::whole(1);
        assert_eq!((whole.key(0), whole.key(1)), (0, 1u128 << 64));
        assert!(whole.split().1.is_none());
    }
}
