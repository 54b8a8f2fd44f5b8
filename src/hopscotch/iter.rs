//! Iteration: one home at a time, by a cursor that survives resizes.
//!
//! # Guarantee
//!
//! An iterator yields every key that is present for the whole iteration
//! exactly once, never yields a key twice, and yields each key with a value
//! it held at some moment of the iteration. A key inserted or removed during
//! the iteration may or may not be yielded. This holds across any number of
//! resizes during the iteration.
//!
//! # How
//!
//! Homes are visited in the order of their *bit-reversed* index. A key's
//! place in that order, the bit-reversal of its hash, does not depend on the
//! table size: the keys of home `h` in a table of `2^b` slots are exactly
//! those whose reversed hash starts with the `b` bits of `h` reversed, a
//! contiguous range. The cursor is a position in that order. Each step reads
//! the root table (finishing any resize under way first, so no key is in
//! two tables), collects the home containing the cursor in one consistent
//! scan (`Table::collect`: its home word unchanged across the scan), keeps
//! the keys at or after the cursor, and moves the cursor to the end of the
//! home's range. Positions only grow, so no key is yielded twice; a key
//! present throughout is in the home that covers its position when the
//! cursor passes it, and that home's scan sees it.

use super::HopscotchMap;
use crate::reclaim;
use alloc::vec::Vec;

/// Homes an iterator reads under one guard, at most.
const BATCH_HOMES: usize = 64;
/// Entries after which it stops reading homes under that guard.
pub(crate) const BATCH_ENTRIES: usize = 64;

/// Tables below 2^this homes are not prefetched from: they stay in the
/// caches, where hints only cost instructions.
const PREFETCH_MIN_BITS: u32 = 14;

/// A position in the bit-reversed hash order.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    position: u64,
    done: bool,
}

impl Cursor {
    /// A cursor at the start of the order.
    pub(crate) fn start() -> Self {
        Self::at(0)
    }

    /// A cursor at `position` (a reversed hash), not done: also where a
    /// parallel task's stretch starts (`par.rs`).
    pub(crate) fn at(position: u64) -> Self {
        Self {
            position,
            done: false,
        }
    }

    /// The least reversed hash not yet passed (meaningless once
    /// [`done`](Self::done)).
    #[cfg(feature = "rayon")]
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    pub(crate) fn done(&self) -> bool {
        self.done
    }

    /// The home of a table of `size` slots that covers the position.
    pub(crate) fn home(&self, size: usize) -> usize {
        let bits = size.trailing_zeros();
        if bits == 0 {
            return 0;
        }
        let rank = self.position >> (64 - bits);
        (rank.reverse_bits() >> (64 - bits)) as usize
    }

    /// What a step of an iterator over `table` reads: the home that covers
    /// the position, and whether the position is that home's first (then
    /// every key of the home is at or after it, and [`covers`](Self::covers)
    /// need not be asked); and, as [`prefetch`](Self::prefetch), the hints
    /// for the homes after it. One computation of the rank for all three.
    ///
    /// The hints: the bucket of the home 8 ranks ahead, and the entry in the
    /// slot of the home 4 ranks ahead (whose bucket the step 4 homes ago
    /// prefetched). Homes are read in bit-reversed order, so each is in
    /// another part of the table, another page for a large one; this
    /// overlaps those misses with the reading of the current home. Hints
    /// only (see `Table::prefetch_home`).
    #[inline]
    pub(crate) fn visit<K, V>(
        &self,
        table: &super::table::Table<K, V>,
        guard: &reclaim::Guard,
        homes: &mut RankHomes,
    ) -> (usize, bool) {
        let bits = table.size().trailing_zeros();
        if bits == 0 {
            return (0, self.position == 0);
        }
        let shift = 64 - bits;
        let rank = self.position >> shift;
        let aligned = self.position & ((1u64 << shift) - 1) == 0;
        let (home, ahead4, ahead8) = homes.of(bits, rank);
        if crate::sync::PREFETCH && bits >= PREFETCH_MIN_BITS {
            if rank + 8 < 1u64 << bits {
                table.prefetch_home(ahead8);
            }
            if rank + 4 < 1u64 << bits {
                table.prefetch_entry(ahead4, guard);
            }
        }
        (home, aligned)
    }

    /// Whether a key of hash `hash` is at or after the position.
    pub(crate) fn covers(&self, hash: u64) -> bool {
        hash.reverse_bits() >= self.position
    }

    /// Moves past the home that covers the position in a table of `size`.
    pub(crate) fn advance(&mut self, size: usize) {
        let bits = size.trailing_zeros();
        if bits == 0 {
            self.done = true;
            return;
        }
        let rank = (self.position >> (64 - bits)) + 1;
        if rank == 1u64 << bits {
            self.done = true;
        } else {
            self.position = rank << (64 - bits);
        }
    }
}

/// The homes of ranks `r`, `r + 4` and `r + 8` in a table of `2^bits`
/// homes (a home is its rank bit-reversed in `bits` bits), for ranks that
/// grow by one a step, with one bit reversal per 8 ranks instead of three a
/// step (x86-64 has no bit-reverse instruction: each is about 18). For
/// `bits >= 3`, rank `8g + j` reversed is `8g` reversed plus `j` reversed
/// in three bits, shifted to the top: `rev(8g + j) = rev(8g) + rev3(j) <<
/// (bits - 3)`. So it keeps `rev(8g)` and `rev(8g + 8)` of the group `g`
/// of the last rank asked for.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RankHomes {
    bits: u32,
    group: u64,
    base: [usize; 2],
}

impl RankHomes {
    /// Knows no group yet.
    pub(crate) fn new() -> Self {
        Self {
            bits: 0,
            group: 0,
            base: [0; 2],
        }
    }

    /// `rank`, `rank + 4` and `rank + 8` reversed in `bits` bits (`bits >=
    /// 1`; ranks past the table's end give homes the caller does not use).
    #[inline]
    pub(crate) fn of(&mut self, bits: u32, rank: u64) -> (usize, usize, usize) {
        let shift = 64 - bits;
        if bits < 3 {
            let home = |r: u64| (r.reverse_bits() >> shift) as usize;
            return (home(rank), home(rank + 4), home(rank + 8));
        }
        /// `j` reversed in three bits.
        const REV3: [usize; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
        let g = rank >> 3;
        if self.bits != bits || g != self.group {
            let base = |g: u64| ((g << 3).reverse_bits() >> shift) as usize;
            self.base = if self.bits == bits && g == self.group.wrapping_add(1) {
                [self.base[1], base(g + 1)]
            } else {
                [base(g), base(g + 1)]
            };
            self.bits = bits;
            self.group = g;
        }
        let top = bits - 3;
        let j = (rank & 7) as usize;
        let home = self.base[0] + (REV3[j] << top);
        // `rank + 4` is in group `g` for `j < 4`, else in `g + 1`.
        let ahead4 = if j < 4 {
            self.base[0] + (REV3[j + 4] << top)
        } else {
            self.base[1] + (REV3[j - 4] << top)
        };
        let ahead8 = self.base[1] + (REV3[j] << top);
        (home, ahead4, ahead8)
    }
}

/// An iterator over `(K, V)` clones of a [`HopscotchMap`]'s entries; see
/// [`HopscotchMap::iter`].
///
/// ```
/// let map = kovan_map::HopscotchMap::new();
/// map.insert("a", 1);
/// let mut iter: kovan_map::hopscotch::HopscotchIter<'_, _, _, _> = map.iter();
/// assert_eq!(iter.next(), Some(("a", 1)));
/// assert_eq!(iter.next(), None);
/// ```
pub struct HopscotchIter<'a, K: 'static, V: 'static, S, const H: usize = 32> {
    map: &'a HopscotchMap<K, V, S, H>,
    cursor: Cursor,
    /// The cursor's homes, computed a group of ranks at a time.
    homes: RankHomes,
    /// The entries of the last home read.
    batch: Vec<(K, V)>,
}

/// An iterator over the keys of a [`HopscotchMap`]; see
/// [`HopscotchMap::keys`].
///
/// ```
/// let map = kovan_map::HopscotchMap::new();
/// map.insert("a", 1);
/// assert_eq!(map.keys().collect::<Vec<_>>(), ["a"]);
/// ```
pub struct HopscotchKeys<'a, K: 'static, V: 'static, S, const H: usize = 32> {
    iter: HopscotchIter<'a, K, V, S, H>,
}

/// An iterator over the values of a [`HopscotchMap`]; see
/// [`HopscotchMap::values`].
///
/// ```
/// let map = kovan_map::HopscotchMap::new();
/// map.insert("a", 1);
/// assert_eq!(map.values().sum::<i32>(), 1);
/// ```
pub struct HopscotchValues<'a, K: 'static, V: 'static, S, const H: usize = 32> {
    iter: HopscotchIter<'a, K, V, S, H>,
}

/// An owning iterator over the entries of a [`HopscotchMap`], from its
/// `into_iter` (moves, no clones).
///
/// ```
/// let map = kovan_map::HopscotchMap::new();
/// map.insert(1, String::from("one"));
/// let entries: Vec<(u32, String)> = map.into_iter().collect();
/// assert_eq!(entries, [(1, String::from("one"))]);
/// ```
pub struct HopscotchIntoIter<K, V> {
    entries: alloc::vec::IntoIter<(K, V)>,
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// An iterator over `(K, V)` clones of the entries, home by home. It
    /// holds a guard only while it reads one home.
    ///
    /// # Linearizability
    ///
    /// Weakly consistent, not a snapshot: while other threads write, what it
    /// yields may match no single instant of the map. It yields every key
    /// present for the whole iteration exactly once, never a key twice, each
    /// with a value it held during the iteration; keys inserted or removed
    /// meanwhile may or may not appear. This holds while the map grows or
    /// shrinks: a step that meets a resize finishes it first (so iterating
    /// may copy part of the table: unlike `get`, it writes), then reads one
    /// home in one consistent scan (its home word unchanged across the
    /// scan).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, "one");
    /// map.insert(2, "two");
    /// let mut entries: Vec<_> = map.iter().collect();
    /// entries.sort();
    /// assert_eq!(entries, [(1, "one"), (2, "two")]);
    /// ```
    pub fn iter(&self) -> HopscotchIter<'_, K, V, S, H> {
        HopscotchIter {
            map: self,
            cursor: Cursor::start(),
            homes: RankHomes::new(),
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
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(2, ());
    /// map.insert(1, ());
    /// let mut keys: Vec<_> = map.keys().collect();
    /// keys.sort();
    /// assert_eq!(keys, [1, 2]);
    /// ```
    pub fn keys(&self) -> HopscotchKeys<'_, K, V, S, H> {
        HopscotchKeys { iter: self.iter() }
    }

    /// An iterator over value clones, with the guarantee of
    /// [`iter`](Self::iter).
    ///
    /// # Linearizability
    ///
    /// Weakly consistent, as [`iter`](Self::iter).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert("a", 10);
    /// map.insert("b", 20);
    /// assert_eq!(map.values().sum::<u32>(), 30);
    /// ```
    pub fn values(&self) -> HopscotchValues<'_, K, V, S, H> {
        HopscotchValues { iter: self.iter() }
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S, const H: usize> Iterator
    for HopscotchIter<'_, K, V, S, H>
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
            // Up to `BATCH_HOMES` homes under one guard (a guard per home
            // cost more than the scans of a table in cache).
            let guard = reclaim::pin();
            let mut table = self.map.stable_root(&guard);
            let mut entries = Vec::new();
            let mut homes = 0;
            while !self.cursor.done() && homes < BATCH_HOMES && self.batch.len() < BATCH_ENTRIES {
                let size = table.size();
                let (home, aligned) = self.cursor.visit(table, &guard, &mut self.homes);
                entries.clear();
                if table.collect(home, &guard, &mut entries).is_err() {
                    // A resize froze the home meanwhile: finish it and
                    // read the new table.
                    table = self.map.stable_root(&guard);
                    continue;
                }
                for entry in &entries {
                    if aligned || self.cursor.covers(entry.hash()) {
                        self.batch
                            .push((entry.key().clone(), entry.value().clone()));
                    }
                }
                self.cursor.advance(size);
                homes += 1;
            }
            // `pop` hands the batch out from its end.
            self.batch.reverse();
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S, const H: usize> Iterator
    for HopscotchKeys<'_, K, V, S, H>
{
    type Item = K;

    fn next(&mut self) -> Option<K> {
        self.iter.next().map(|(key, _)| key)
    }
}

impl<K: Clone + 'static, V: Clone + 'static, S, const H: usize> Iterator
    for HopscotchValues<'_, K, V, S, H>
{
    type Item = V;

    fn next(&mut self) -> Option<V> {
        self.iter.next().map(|(_, value)| value)
    }
}

impl<'a, K: Clone + 'static, V: Clone + 'static, S, const H: usize> IntoIterator
    for &'a HopscotchMap<K, V, S, H>
{
    type Item = (K, V);
    type IntoIter = HopscotchIter<'a, K, V, S, H>;

    /// As [`HopscotchMap::iter`]: `for (key, value) in &map` yields clones.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, 10);
    /// let mut total = 0;
    /// for (key, value) in &map {
    ///     total += key + value;
    /// }
    /// assert_eq!(total, 11);
    /// ```
    fn into_iter(self) -> HopscotchIter<'a, K, V, S, H> {
        self.iter()
    }
}

impl<K: 'static, V: 'static, S, const H: usize> IntoIterator for HopscotchMap<K, V, S, H> {
    type Item = (K, V);
    type IntoIter = HopscotchIntoIter<K, V>;

    /// Moves the entries out (no clones): the map is owned, so no other
    /// thread can see it.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, vec![1]);
    /// map.insert(2, vec![2, 2]);
    /// let mut entries: Vec<_> = map.into_iter().collect();
    /// entries.sort();
    /// assert_eq!(entries, [(1, vec![1]), (2, vec![2, 2])]);
    /// ```
    fn into_iter(mut self) -> HopscotchIntoIter<K, V> {
        let mut entries = Vec::with_capacity(self.len());
        self.drain(|entry| entries.push(entry));
        HopscotchIntoIter {
            entries: entries.into_iter(),
        }
    }
}

impl<K, V> Iterator for HopscotchIntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        self.entries.next()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.entries.size_hint()
    }
}

impl<K, V> ExactSizeIterator for HopscotchIntoIter<K, V> {}

#[cfg(test)]
mod tests {
    use super::RankHomes;

    #[test]
    fn rank_homes_are_the_ranks_reversed() {
        // Ranks in order, as an iterator asks, then a jump (a resize, a
        // new batch), for every table size up to 2^12 homes.
        for bits in 1..=12u32 {
            let mut homes = RankHomes::new();
            let rev = |r: u64| (r.reverse_bits() >> (64 - bits)) as usize;
            let size = 1u64 << bits;
            for rank in (0..size).chain([size / 2, 3, size - 1, 0]) {
                let (home, ahead4, ahead8) = homes.of(bits, rank);
                assert_eq!(home, rev(rank), "bits {bits} rank {rank}");
                if rank + 4 < size {
                    assert_eq!(ahead4, rev(rank + 4), "bits {bits} rank {rank} + 4");
                }
                if rank + 8 < size {
                    assert_eq!(ahead8, rev(rank + 8), "bits {bits} rank {rank} + 8");
                }
            }
        }
    }
}
