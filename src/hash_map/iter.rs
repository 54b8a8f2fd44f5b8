//! Iteration: the split-ordered list read in up to eight stretches at once
//! (`lanes.rs`), one guard per round of a batch of each.
//!
//! # Guarantee
//!
//! An iterator yields every key that is present for the whole iteration
//! exactly once, never yields a key twice, and yields each key with a value
//! it held at some moment of the iteration. A key inserted or removed during
//! the iteration may or may not be yielded. The stretches (lanes) are fixed
//! when the iterator is made and partition the key space; within a lane each
//! batch, from a dummy to a later dummy, is read in one completed pass with
//! the steps of `list::walk` (a pass that had to restart is forgotten, and
//! the batch read again from its dummy); dummies never die or move, and a
//! node's place relative to them is fixed by its split-order key, so the
//! batches read are disjoint and cover the list, however the table grows or
//! shrinks meanwhile. The cost is one load per node and one per linked
//! dummy, not one per bucket.

use super::directory::Directory;
use super::lanes::Lanes;
use super::HashMap;
use crate::reclaim;
use crate::sync;
use alloc::vec::Vec;

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
    /// The stretches of the list read in turn (`lanes.rs`).
    lanes: Lanes<'a, K, V, (K, V)>,
    /// The entries of the last round read, handed out from the end.
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
    /// An iterator over `(K, V)` clones of the entries, in no particular
    /// order: it reads up to eight stretches of the table at once, a batch
    /// of each in turn, so that their cache misses overlap. It holds a guard
    /// only while it reads one such round (about 64 entries and bucket
    /// dummies in all).
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
            lanes: Lanes::new(&self.dir),
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

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Iter<'_, K, V, S> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            if self.lanes.is_done() {
                return None;
            }
            self.read_round();
        }
    }

    /// Hands out whole rounds (what `count`, `sum`, `for_each` and most
    /// adapters use), not one `next` per entry.
    fn fold<B, F: FnMut(B, (K, V)) -> B>(mut self, init: B, mut f: F) -> B {
        let mut acc = init;
        loop {
            for entry in self.batch.drain(..) {
                acc = f(acc, entry);
            }
            if self.lanes.is_done() {
                return acc;
            }
            self.read_round();
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iter<'_, K, V, S> {
    /// Reads the next round of the lanes into the batch, under a guard of
    /// its own.
    fn read_round(&mut self) {
        let guard = reclaim::pin();
        self.lanes.read_round(&guard, &mut self.batch, |node| {
            (node.key().clone(), node.value().clone())
        });
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Keys<'_, K, V, S> {
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(key, _)| key)
    }

    fn fold<B, F: FnMut(B, K) -> B>(self, init: B, mut f: F) -> B {
        self.iter.fold(init, |acc, (key, _)| f(acc, key))
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S> Iterator for Values<'_, K, V, S> {
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, value)| value)
    }

    fn fold<B, F: FnMut(B, V) -> B>(self, init: B, mut f: F) -> B {
        self.iter.fold(init, |acc, (_, value)| f(acc, value))
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
