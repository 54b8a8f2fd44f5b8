//! The std-like methods that [`HashMap`](crate::HashMap) also has:
//! `retain`, `get_mut` and `iter_mut` on `&mut self`, `reserve`,
//! `shrink_to_fit`, and `get_key_value` on the map and on its [`Pinned`]
//! handle.
//!
//! They compose the protocol's existing steps and add none: `retain` walks
//! the homes as [`HopscotchMap::clear`] does and removes through the same
//! `DELETED` tag as `remove_if`; `get_mut` and `iter_mut` first finish any
//! migration left under way (with `&mut self` no other thread can help or
//! race, so the map then has one table and every entry is in exactly one
//! place), then reach the entries; `reserve` and `shrink_to_fit` start a
//! resize through the map's own `grow` and finish it through
//! `stable_root`; `get_key_value` is `get_ref`'s lookup, answering the
//! entry instead of its value.
//!
//! # Room
//!
//! A table of `n` slots takes `n / 2` keys with no resize at all: an insert
//! grows the table past a load of 3/4, and also, from a load of 1/2, when a
//! neighbourhood is full and nothing can move away (`make_room`); below 1/2
//! such a key goes to its home's overflow list instead. So "room for `m`
//! keys" is taken here as `2m` slots (rounded up to a power of two):
//! `reserve` grows to it, so that the inserts it made room for cannot
//! resize, and `shrink_to_fit` shrinks to it, so that its result is one
//! `reserve(0)` accepts.

use super::entry::Entry;
use super::iter::Cursor;
use super::table::{Lookup, Search, Table};
use super::{HopscotchMap, Pinned, MAX_CAPACITY};
use crate::reclaim::{self, Guard};
use crate::sync;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};

/// The slots that hold `keys` keys at a load of at most 1/2 (see the module
/// doc, "Room"), capped at [`MAX_CAPACITY`].
fn room_for(keys: usize) -> usize {
    keys.saturating_mul(2)
        .max(1)
        .checked_next_power_of_two()
        .unwrap_or(MAX_CAPACITY)
        .min(MAX_CAPACITY)
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// An iterator over `(&K, &mut V)` of every entry, with exclusive
    /// access. A resize left under way by an earlier operation is finished
    /// first.
    ///
    /// # Linearizability
    ///
    /// Takes `&mut self`, so no other operation runs while the iterator
    /// lives: it sees exactly the entries the map holds, each once.
    ///
    /// ```
    /// let mut map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert(1, 10);
    /// map.insert(2, 20);
    /// for (_, v) in map.iter_mut() {
    ///     *v += 1;
    /// }
    /// assert_eq!(map.get(&2), Some(21));
    /// ```
    pub fn iter_mut(&mut self) -> alloc::vec::IntoIter<(&K, &mut V)> {
        let mut entries: Vec<*const Entry<K, V>> = Vec::new();
        {
            let guard = reclaim::pin();
            'walk: loop {
                entries.clear();
                // Finishes a migration under way: every entry is then in
                // this table, in exactly one home.
                let table = self.stable_root(&guard);
                let mut found = Vec::new();
                for h in 0..table.size() {
                    found.clear();
                    if table.collect(h, &guard, &mut found).is_err() {
                        // A frozen home: only a migration freezes one, and
                        // none can start without `&self`. Defensive: walk
                        // again from the root.
                        continue 'walk;
                    }
                    entries.extend(found.iter().map(|entry| *entry as *const Entry<K, V>));
                }
                break;
            }
        }
        entries
            .into_iter()
            .map(|entry| {
                // SAFETY: `&mut self` borrowed by the iterator: no thread
                // removes or retires an entry meanwhile, and no other
                // reference to a value exists (`Payload::value_mut`). Each
                // entry was collected once (one committed entry per key), so
                // the `&mut V`s are disjoint.
                unsafe { ((*entry).key(), (*entry).value_mut()) }
            })
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    /// The entry of `key` under `guard`: [`get_ref`](Self::get_ref)'s
    /// lookup, answering the entry rather than its value.
    pub(super) fn entry_ref<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g Entry<K, V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let mut word = self.root_word(guard);
        loop {
            // SAFETY: the root, or its successor loaded while it was the
            // root, loaded under `guard`: a table is retired only after the
            // root moved past it, so one loaded while it was reachable stays
            // allocated while `guard` lives (as in `writable`).
            let table = unsafe { word.deref() };
            // The lookup's load is `LINEARIZATION(get)` (table.rs).
            match table.lookup(hash, key, guard) {
                Lookup::Found(entry) => return Some(entry),
                Lookup::Absent => return None,
                Lookup::Next => {
                    // ORDERING: Acquire pairs with the CAS in `resize::start`
                    // that published the successor (its empty arrays), as in
                    // `writable`.
                    let next = table.next.load(sync::Ordering::Acquire, guard);
                    let now = self.root_word(guard);
                    word = if now == word { next } else { now };
                }
            }
            sync::hint();
        }
    }

    /// The key and value of `key`, cloned: the key as the map stores it
    /// (which may differ from the one asked for, if `Eq` says two keys are
    /// equal that are not identical).
    ///
    /// # Linearizability
    ///
    /// Sees one instant of the map, as [`get`](Self::get): the key and value
    /// answered are the key's entry at one moment during the call.
    ///
    /// At the same step as `get` (`LINEARIZATION(get)` in `table.rs` and
    /// `overflow.rs`): the load that returned the entry, or that found the
    /// key's last entry gone.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(String::from("k"), 1);
    /// assert_eq!(map.get_key_value("k"), Some((String::from("k"), 1)));
    /// assert_eq!(map.get_key_value("x"), None);
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q> + Clone,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let guard = reclaim::pin();
        self.entry_ref(key, &guard)
            .map(|entry| (entry.key().clone(), entry.value().clone()))
    }

    /// The value of `key`, mutably, with exclusive access. A resize left
    /// under way by an earlier operation is finished first.
    ///
    /// # Linearizability
    ///
    /// Takes `&mut self`, so no other operation runs meanwhile: there is
    /// nothing to order it against.
    ///
    /// ```
    /// let mut map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert("k", vec![1]);
    /// map.get_mut("k").unwrap().push(2);
    /// assert_eq!(map.get("k"), Some(vec![1, 2]));
    /// assert!(map.get_mut("x").is_none());
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let entry: *const Entry<K, V> = {
            let guard = reclaim::pin();
            loop {
                // Finishes a migration under way, so the key's entry, if
                // any, is in this table.
                let table = self.stable_root(&guard);
                match table.lookup(hash, key, &guard) {
                    Lookup::Found(entry) => break entry,
                    Lookup::Absent => return None,
                    // A frozen home: only a migration freezes one, and none
                    // can start without `&self`. Defensive: look again.
                    Lookup::Next => {}
                }
            }
        };
        // SAFETY: `&mut self`: the entry stays in the table and no other
        // reference to its value exists while the returned borrow of `self`
        // lasts (nothing removes or retires an entry without `&self`, which
        // the borrow excludes): `Payload::value_mut`'s contract.
        Some(unsafe { (*entry).value_mut() })
    }
}

impl<K, V, S, const H: usize> Pinned<'_, K, V, S, H>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    /// The key and value of `key`, borrowed: the key as the map stores it.
    ///
    /// # Linearizability
    ///
    /// Takes effect at one instant, as `get`: the key and value answered
    /// are the entry's at one moment during the call.
    ///
    /// As [`get`](Self::get): the load that returned the entry, or that
    /// found the key's last entry gone (`LINEARIZATION(get)`).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert(String::from("k"), 1);
    /// assert_eq!(map.pin().get_key_value("k"), Some((&String::from("k"), &1)));
    /// assert_eq!(map.pin().get_key_value("x"), None);
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map
            .entry_ref(key, &self.guard)
            .map(|entry| (entry.key(), entry.value()))
    }
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// Calls `each` on every entry, home by home in bit-reversed order,
    /// with the guard it was read under: the one pass of `retain` (and of
    /// [`clear`](Self::clear)'s walk). Each round reads the root table
    /// after finishing any resize under way, then one home in one
    /// consistent scan (`Table::collect`), keeping the entries at or past
    /// the cursor; a home frozen meanwhile is read again, from the new
    /// table. So every key present for the whole pass is met exactly once,
    /// as by [`iter`](Self::iter).
    pub(crate) fn sweep(&self, mut each: impl FnMut(&Entry<K, V>, &Guard)) {
        let mut cursor = Cursor::start();
        while !cursor.done() {
            let guard = reclaim::pin();
            let table = self.stable_root(&guard);
            let h = cursor.home(table.size());
            let mut entries = Vec::new();
            if table.collect(h, &guard, &mut entries).is_err() {
                continue; // frozen meanwhile: the next round finishes the resize
            }
            for entry in entries {
                if cursor.covers(entry.hash()) {
                    each(entry, &guard);
                }
            }
            cursor.advance(table.size());
        }
    }
}

// Writes retire entries (and resizes retire tables), and kovan may drop a
// retired entry on any thread.
impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Removes `key` (whose hash is `hash`) if `refuse` holds for its
    /// present value, under `guard`: `remove_if`'s core without the clone.
    /// True if it removed.
    fn remove_refused(
        &self,
        hash: u64,
        key: &K,
        mut refuse: impl FnMut(&V) -> bool,
        guard: &Guard,
    ) -> bool {
        loop {
            let table = self.writable(hash, guard);
            match table.search(hash, key, guard) {
                Search::Migrating => {}
                Search::Absent(_) => return false,
                Search::Found(found) => {
                    if !refuse(found.entry().value()) {
                        return false;
                    }
                    // `LINEARIZATION(remove)`: the `DELETED` tag in `delete`.
                    if self.delete(table, &found, guard) {
                        return true;
                    }
                }
            }
            sync::hint();
        }
    }

    /// Removes every entry for which `keep` answers false.
    ///
    /// `keep` may run more than once for an entry (again on the value
    /// present at its removal, as `remove_if`'s predicate), and must not
    /// write to this map: such a write panics ("recursive update").
    ///
    /// # Linearizability
    ///
    /// Not one atomic step: it removes the refused entries one at a time,
    /// so a reader running meanwhile may see some of them gone and others
    /// still present; each removal takes effect at one instant, and only if
    /// `keep` refused the value present at that instant.
    ///
    /// One pass over the homes, as [`clear`](Self::clear) (following
    /// resizes as [`iter`](Self::iter) does), and for each entry `keep`
    /// refused a removal decided on the value then present, at the
    /// `DELETED` tag (`LINEARIZATION(remove)`), exactly as `remove_if`.
    /// Every key present for the whole call is kept or removed as `keep`
    /// answers for it; entries inserted during the pass may be kept unseen.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// for i in 0..10 {
    ///     map.insert(i, i);
    /// }
    /// map.retain(|_, v| v % 2 == 0);
    /// assert_eq!(map.len(), 5);
    /// assert_eq!(map.get(&3), None);
    /// assert_eq!(map.get(&4), Some(4));
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        let me = self as *const Self as *const ();
        crate::reentry::check(me, "retain");
        self.sweep(|entry, guard| {
            let key = entry.key();
            if !crate::reentry::run(me, || keep(key, entry.value())) {
                self.remove_refused(
                    entry.hash(),
                    key,
                    |present| !crate::reentry::run(me, || keep(key, present)),
                    guard,
                );
            }
        });
    }

    /// Starts a resize of the root `table` to `size` slots (the caller's
    /// next `stable_root` finishes it). False if the table could not be
    /// allocated.
    fn resize_to(&self, table: &Table<K, V>, size: usize, guard: &Guard) -> bool {
        if self.grow(table, size, guard) {
            return true;
        }
        // Not started: another resize was under way or won the race (the
        // caller's next `stable_root` finishes it and looks again), or the
        // allocation failed: then the root is still `table` with no
        // successor. (`table` cannot be freed and reused while `guard`
        // lives, so the comparison is sound.)
        !core::ptr::eq(self.stable_root(guard), table)
    }

    /// Grows the table now so that `additional` more keys fit without any
    /// resize: to at least twice `len + additional` slots (see the module
    /// doc: below a load of 1/2 no insert resizes), as far as
    /// [`MAX_CAPACITY`] allows, instead of doubling step by step as the keys
    /// arrive. Never shrinks. Stops early, without an error, if the table
    /// cannot be allocated.
    ///
    /// # Linearizability
    ///
    /// Changes no entry, so no reader can tell it ran, except by
    /// [`capacity`](Self::capacity). It is one resize (one migration,
    /// `LINEARIZATION(migration)` per home), which this call finishes
    /// itself; the new size shows at the CAS that makes the new table the
    /// root. The target comes from [`len`](Self::len), so while writes run
    /// it is as approximate as `len`; a concurrent removal may shrink the
    /// table again right after (a removal shrinks a table below a load of
    /// 1/4, as always).
    ///
    /// ```
    /// let map: kovan_map::HopscotchMap<u64, u64> = kovan_map::HopscotchMap::with_capacity(64);
    /// map.reserve(1000);
    /// let capacity = map.capacity();
    /// assert!(capacity >= 2000);
    /// for i in 0..1000 {
    ///     map.insert(i, i);
    /// }
    /// assert_eq!(map.capacity(), capacity); // no resize on the way
    /// ```
    pub fn reserve(&self, additional: usize) {
        let target = room_for(self.len().saturating_add(additional));
        loop {
            let guard = reclaim::pin();
            // Finishes a migration under way (ours, from the round before,
            // or another thread's) before deciding on the size.
            let table = self.stable_root(&guard);
            if table.size() >= target {
                return;
            }
            // LINEARIZATION(reserve): changes no entry; the new size shows
            // (to `capacity`) at the root CAS of `resize::finish`, which
            // the next round's `stable_root` drives.
            if !self.resize_to(table, target, &guard) {
                return; // the table could not be allocated
            }
        }
    }

    /// Shrinks the table to the smallest size, not below the capacity the
    /// map was made with, that holds its keys at a load of at most 1/2 (so
    /// that [`reserve(0)`](Self::reserve) would not grow it, and the next
    /// inserts do not resize at once). Never grows.
    ///
    /// # Linearizability
    ///
    /// Changes no entry, so no reader can tell it ran, except by
    /// [`capacity`](Self::capacity). It is one resize, which this call
    /// finishes itself, decided on [`len`](Self::len) (approximate while
    /// writes run); the new size shows at the CAS that makes the new table
    /// the root. A concurrent insert may grow the table again right after.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(64);
    /// map.reserve(1000);
    /// map.insert(1, 1);
    /// map.shrink_to_fit();
    /// assert_eq!(map.capacity(), 64); // the floor it was made with
    /// assert_eq!(map.get(&1), Some(1));
    /// ```
    pub fn shrink_to_fit(&self) {
        loop {
            let guard = reclaim::pin();
            let table = self.stable_root(&guard);
            let target = room_for(self.len()).max(self.minimum);
            if target >= table.size() {
                return;
            }
            // LINEARIZATION(shrink_to_fit): changes no entry; as in
            // `reserve`, the new size shows at the root CAS of
            // `resize::finish`.
            if !self.resize_to(table, target, &guard) {
                return; // the table could not be allocated
            }
        }
    }
}
