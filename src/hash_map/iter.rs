//! Iteration: one pass along the split-ordered list, one guard per batch
//! of runs between linked dummies.
//!
//! # Guarantee
//!
//! An iterator yields every key that is present for the whole iteration
//! exactly once, never yields a key twice, and yields each key with a value
//! it held at some moment of the iteration. A key inserted or removed during
//! the iteration may or may not be yielded. Each batch, from a dummy to a
//! later dummy the walk meets, is read in one completed pass of `list::walk`
//! (a pass that had to restart is forgotten, and the run read again from its
//! dummy); dummies never die or move, and a node's place relative to them is
//! fixed by its split-order key, so the batches read are disjoint and cover the
//! list, however the table grows or shrinks meanwhile. The cost is one load
//! per node and one per linked dummy, not one per bucket.

use super::directory::{Directory, Dummy};
use super::list::{self, Item};
use super::HashMap;
use crate::reclaim;
use crate::sync;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::ops::ControlFlow;

/// Entries plus dummies an iterator reads under one guard (at least).
const BATCH: usize = 64;

/// How many buckets ahead of the walk (in list order) a batch prefetches.
pub(super) const PREFETCH_AHEAD: u64 = 8;

/// Tables below this many buckets (1 MiB of directory) are not prefetched
/// from: they stay in the caches, where the prefetch's own instructions
/// made a pass slower (measured: 1,000 keys in 1,024 buckets).
const PREFETCH_MIN_BUCKETS: usize = 1 << 16;

/// The directory to prefetch from while iterating `map`, if the table is
/// large, and dense enough that the buckets next in list order are often
/// linked (at least one entry per 8 buckets). In a sparse table
/// (`HashMap::new()` with few entries) the walk meets few dummies, and
/// fetching buckets it will skip only costs page walks: measured slower
/// there (1,000 keys in 524,288 buckets), and about 1.5 to 2 times faster
/// with 100,000 keys in them (docs/benchmarks.md).
pub(super) fn prefetch_from<K, V, S>(map: &HashMap<K, V, S>) -> Option<&Directory<K, V>> {
    let size = map.dir.size();
    (sync::PREFETCH && size >= PREFETCH_MIN_BUCKETS && map.len().saturating_mul(8) >= size)
        .then_some(&map.dir)
}

/// An iterator over `(K, V)` clones of a [`HashMap`]'s entries; see
/// [`HashMap::iter`].
///
/// ```
/// let map = kovan_map::HashMap::with_capacity(8);
/// map.insert("a", 1);
/// let mut iter: kovan_map::hash_map::Iter<'_, _, _, _> = map.iter();
/// assert_eq!(iter.next(), Some(("a", 1)));
/// assert_eq!(iter.next(), None);
/// ```
pub struct Iter<'a, K: 'static, V: 'static, S> {
    _map: &'a HashMap<K, V, S>,
    /// Where to prefetch from (see [`prefetch_from`]), decided once.
    ahead: Option<&'a Directory<K, V>>,
    /// The dummy the next run starts from; `None` once the list's end was
    /// read.
    at: Option<Dummy<'a, K, V>>,
    /// The entries of the last run read, in reverse list order.
    batch: Vec<(K, V)>,
}

/// An iterator over the keys of a [`HashMap`]; see [`HashMap::keys`].
///
/// ```
/// let map = kovan_map::HashMap::with_capacity(8);
/// map.insert("a", 1);
/// assert_eq!(map.keys().collect::<Vec<_>>(), ["a"]);
/// ```
pub struct Keys<'a, K: 'static, V: 'static, S> {
    iter: Iter<'a, K, V, S>,
}

/// An iterator over the values of a [`HashMap`]; see [`HashMap::values`].
///
/// ```
/// let map = kovan_map::HashMap::with_capacity(8);
/// map.insert("a", 1);
/// assert_eq!(map.values().sum::<i32>(), 1);
/// ```
pub struct Values<'a, K: 'static, V: 'static, S> {
    iter: Iter<'a, K, V, S>,
}

/// An owning iterator over the entries of a [`HashMap`], from its
/// `into_iter` (moves, no clones).
///
/// ```
/// let map = kovan_map::HashMap::with_capacity(8);
/// map.insert(1, String::from("one"));
/// let entries: Vec<(u32, String)> = map.into_iter().collect();
/// assert_eq!(entries, [(1, String::from("one"))]);
/// ```
pub struct IntoIter<K, V> {
    entries: alloc::vec::IntoIter<(K, V)>,
}

impl<K: 'static, V: 'static, S> HashMap<K, V, S> {
    /// An iterator over `(K, V)` clones of the entries, in split order (by
    /// bit-reversed hash). It holds a guard only while it reads one batch of
    /// the list (about 64 entries and bucket dummies).
    ///
    /// # Linearizability
    ///
    /// Weakly consistent, not a snapshot: while other threads write, what it
    /// yields may match no single instant of the map. It yields every key
    /// present for the whole iteration exactly once, never a key twice, each
    /// with a value it held during the iteration (read at a load that found
    /// its node live, as `get`'s); keys inserted or removed meanwhile may or
    /// may not appear. This holds while the table grows or shrinks: no node
    /// moves, and each batch is read in one completed pass of the list.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(1, "one");
    /// map.insert(2, "two");
    /// let mut entries: Vec<_> = map.iter().collect();
    /// entries.sort();
    /// assert_eq!(entries, [(1, "one"), (2, "two")]);
    /// ```
    pub fn iter(&self) -> Iter<'_, K, V, S> {
        Iter {
            _map: self,
            ahead: prefetch_from(self),
            at: Some(self.dir.first()),
            batch: Vec::new(),
        }
    }

    /// An iterator over key clones, with the guarantee of [`iter`](Self::iter).
    ///
    /// # Linearizability
    ///
    /// Weakly consistent, as [`iter`](Self::iter).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(2, ());
    /// map.insert(1, ());
    /// let mut keys: Vec<_> = map.keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn keys(&self) -> Keys<'_, K, V, S> {
        Keys { iter: self.iter() }
    }

    /// An iterator over value clones, with the guarantee of
    /// [`iter`](Self::iter).
    ///
    /// # Linearizability
    ///
    /// Weakly consistent, as [`iter`](Self::iter).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert("a", 10);
    /// map.insert("b", 20);
    /// assert_eq!(map.values().sum::<u32>(), 30);
    /// ```
    pub fn values(&self) -> Values<'_, K, V, S> {
        Values { iter: self.iter() }
    }
}

/// Reads one batch of the list from the dummy `at` under `guard` into
/// `out` (`extract` of each live node, in list order), the batch ending at
/// the first dummy met after about [`BATCH`] entries and dummies; answers
/// that dummy, or `None` at the list's end. A pass that must restart
/// forgets what it put into `out` and reads the batch again from `at`.
pub(super) fn read_batch<'d: 'g, 'g, K, V, T>(
    ahead: Option<&'g Directory<K, V>>,
    at: Dummy<'d, K, V>,
    guard: &'g reclaim::Guard,
    out: &mut Vec<T>,
    extract: impl Fn(&'g super::list::Node<K, V>) -> T,
) -> Option<Dummy<'d, K, V>> {
    let batch = RefCell::new(core::mem::take(out));
    let crossed = core::cell::Cell::new(0usize);
    // The dummies this batch will meet, fetched ahead (a hint only: see
    // `Directory::prefetch_ahead`); the size is the table's now, so the
    // guesses are right unless it grows or shrinks meanwhile.
    let ahead = ahead.filter(|_| sync::PREFETCH);
    let size = ahead.map_or(0, Directory::size_acquire);
    if let Some(dir) = ahead {
        let key = at.key();
        for n in 1..=PREFETCH_AHEAD {
            dir.prefetch_ahead(key, size, n, None);
        }
    }
    let next = list::walk(
        at,
        guard,
        |item| match item {
            Item::Dummy(dummy) => {
                if let Some(dir) = ahead {
                    let key = dummy.key();
                    dir.prefetch_ahead(key, size, PREFETCH_AHEAD, None);
                    dir.prefetch_ahead(key, size, PREFETCH_AHEAD / 2, Some(guard));
                }
                crossed.set(crossed.get() + 1);
                if crossed.get() + batch.borrow().len() >= BATCH {
                    ControlFlow::Break(dummy)
                } else {
                    ControlFlow::Continue(())
                }
            }
            Item::Node(node) => {
                batch.borrow_mut().push(extract(node));
                ControlFlow::Continue(())
            }
        },
        // The abandoned pass's entries are forgotten: the next pass reads
        // the batch whole.
        || {
            batch.borrow_mut().clear();
            crossed.set(0);
        },
    );
    *out = batch.into_inner();
    next
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            let at = self.at?;
            let guard = reclaim::pin();
            let next = read_batch(self.ahead, at, &guard, &mut self.batch, |node| {
                (node.key().clone(), node.value().clone())
            });
            self.at = next;
            self.batch.reverse();
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Keys<'_, K, V, S> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(key, _)| key)
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Values<'_, K, V, S> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, value)| value)
    }
}

impl<'a, K: Clone + 'static, V: Clone + 'static, S> IntoIterator for &'a HashMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = Iter<'a, K, V, S>;

    /// As [`HashMap::iter`]: `for (key, value) in &map` yields clones.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(1, 10);
    /// let mut total = 0;
    /// for (key, value) in &map {
    ///     total += key + value;
    /// }
    /// assert_eq!(total, 11);
    /// ```
    fn into_iter(self) -> Iter<'a, K, V, S> {
        self.iter()
    }
}

impl<K: 'static, V: 'static, S> IntoIterator for HashMap<K, V, S> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    /// Moves the entries out (no clones): the map is owned, so no other
    /// thread can see it.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(1, vec![1]);
    /// map.insert(2, vec![2, 2]);
    /// let mut entries: Vec<_> = map.into_iter().collect();
    /// entries.sort();
    /// assert_eq!(entries, [(1, vec![1]), (2, vec![2, 2])]);
    /// ```
    fn into_iter(mut self) -> IntoIter<K, V> {
        let mut entries = Vec::with_capacity(self.len());
        self.drain(|entry| entries.push(entry));
        IntoIter {
            entries: entries.into_iter(),
        }
    }
}

impl<K, V> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.entries.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl<K, V> ExactSizeIterator for IntoIter<K, V> {}
