//! The borrowing API: [`HopscotchMap::pin`] gives a [`Pinned`] handle
//! whose reads and writes answer references into the map, valid while the
//! handle lives, so neither keys nor values need `Clone`.
//!
//! The references are valid for the reasons of `hash_map/pinned.rs`: an
//! entry found through a slot or an overflow node while reachable stays
//! allocated until the guard drops (resizes move entries by pointer and
//! retire only tables, so a found entry survives a migration too); an entry
//! this thread publishes itself is referenced only after
//! [`reclaim::cover_own`] ran between its allocation and its commit.

use super::iter::Cursor;
use super::table::Search;
use super::HopscotchMap;
use crate::payload::Pending;
use crate::reclaim::{self, Guard, Shared};
use crate::sync;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};

/// A critical section on one [`HopscotchMap`], from [`HopscotchMap::pin`]:
/// its methods answer references valid until it is dropped.
///
/// A reference cannot outlive the handle:
///
/// ```compile_fail
/// let map = kovan_map::HopscotchMap::with_capacity(8);
/// map.insert(1, String::from("one"));
/// let one = {
///     let m = map.pin();
///     m.get(&1).unwrap()
/// };
/// assert_eq!(one, "one");
/// ```
pub struct Pinned<'m, K: 'static, V: 'static, S, const H: usize = 32> {
    pub(super) map: &'m HopscotchMap<K, V, S, H>,
    pub(super) guard: Guard,
}

impl<K: 'static, V: 'static, S, const H: usize> core::ops::Deref for Pinned<'_, K, V, S, H> {
    type Target = Guard;

    /// The handle's guard, for [`HopscotchMap::get_ref`].
    fn deref(&self) -> &Guard {
        &self.guard
    }
}

impl<K: 'static, V: 'static, S, const H: usize> core::fmt::Debug for Pinned<'_, K, V, S, H> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pinned").finish_non_exhaustive()
    }
}

impl<'m, K: 'static, V: 'static, S, const H: usize> Pinned<'m, K, V, S, H> {
    /// The map.
    pub fn map(&self) -> &'m HopscotchMap<K, V, S, H> {
        self.map
    }

    /// The number of entries, as [`HopscotchMap::len`].
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether [`len`](Self::len) is zero.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// An iterator over `(&K, &V)` of the entries, with the guarantee of
    /// [`HopscotchMap::iter`] (every key present for the whole iteration
    /// exactly once, never a key twice, across resizes), under this
    /// handle's guard: no clones.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert("k", vec![1, 2, 3]);
    /// let m = map.pin();
    /// let total: usize = m.iter().map(|(_, v)| v.len()).sum();
    /// assert_eq!(total, 3);
    /// ```
    pub fn iter(&self) -> PinnedIter<'_, K, V, S, H> {
        PinnedIter {
            map: self.map,
            guard: &self.guard,
            cursor: Cursor::start(),
            batch: Vec::new(),
        }
    }
}

impl<K, V, S, const H: usize> Pinned<'_, K, V, S, H>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    /// The value of `key`, borrowed.
    ///
    /// # Linearizability
    ///
    /// As [`HopscotchMap::get`]: it takes effect at one instant, also while
    /// the table is being resized.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert(1, "one");
    /// assert_eq!(map.pin().get(&1), Some(&"one"));
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_ref(key, &self.guard)
    }

    /// Whether `key` is present.
    ///
    /// # Linearizability
    ///
    /// As [`get`](Self::get).
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(key).is_some()
    }
}

impl<K, V, S, const H: usize> Pinned<'_, K, V, S, H>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Inserts `value` under `key`; answers the value it replaced, borrowed
    /// (retired by the map, but valid while this handle lives).
    ///
    /// # Linearizability
    ///
    /// As [`HopscotchMap::insert`]: a concurrent `get` sees the old value or
    /// the new one, never neither.
    ///
    /// ```
    /// use std::sync::Mutex;
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// let m = map.pin();
    /// assert!(m.insert(1, Mutex::new(1)).is_none());
    /// assert_eq!(*m.insert(1, Mutex::new(2)).unwrap().lock().unwrap(), 1);
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<&V> {
        self.map.insert_in(key, value, &self.guard)
    }

    /// Removes `key`; answers its value, borrowed.
    ///
    /// # Linearizability
    ///
    /// As [`HopscotchMap::remove`]: the `DELETED` tag on the key's entry.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert(1, String::from("one"));
    /// let m = map.pin();
    /// assert_eq!(m.remove(&1).map(String::as_str), Some("one"));
    /// assert_eq!(m.get(&1), None);
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.remove_in(key, &self.guard)
    }

    /// The value of `key`, or `make()` inserted; borrowed either way.
    /// `make` runs at most once, and only if the key was absent when looked
    /// up.
    ///
    /// # Linearizability
    ///
    /// As [`HopscotchMap::get_or_insert_with`]: of calls racing on an absent
    /// key exactly one inserts, and the others answer its value.
    pub fn get_or_insert_with<F>(&self, key: K, make: F) -> &V
    where
        F: FnOnce() -> V,
    {
        self.map.claim_in(key, make, &self.guard)
    }

    /// The value of `key`, or `value` inserted; borrowed either way.
    ///
    /// # Linearizability
    ///
    /// As [`get_or_insert_with`](Self::get_or_insert_with).
    pub fn get_or_insert(&self, key: K, value: V) -> &V {
        self.map.claim_in(key, || value, &self.guard)
    }

    /// One atomic read-modify-write of `key`, as [`HopscotchMap::compute`];
    /// answers the value the key holds after it, borrowed.
    ///
    /// # Linearizability
    ///
    /// As [`HopscotchMap::compute`].
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// let m = map.pin();
    /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), Some(&1));
    /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), Some(&2));
    /// ```
    pub fn compute<F>(&self, key: K, f: F) -> Option<&V>
    where
        F: FnMut(Option<&V>) -> Option<V>,
    {
        self.map.compute_in(key, f, &self.guard)
    }
}

/// An iterator over `(&K, &V)` under a [`Pinned`] handle; see
/// [`Pinned::iter`].
pub struct PinnedIter<'p, K: 'static, V: 'static, S, const H: usize = 32> {
    map: &'p HopscotchMap<K, V, S, H>,
    guard: &'p Guard,
    cursor: Cursor,
    /// The entries of the last home read, in reverse order.
    batch: Vec<(&'p K, &'p V)>,
}

impl<'p, K: 'static, V: 'static, S, const H: usize> Iterator for PinnedIter<'p, K, V, S, H> {
    type Item = (&'p K, &'p V);

    fn next(&mut self) -> Option<(&'p K, &'p V)> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            if self.cursor.done() {
                return None;
            }
            // As `HopscotchIter::next`, under the handle's one guard.
            let table = self.map.stable_root(self.guard);
            let size = table.size();
            let mut entries = Vec::new();
            if table
                .collect(self.cursor.home(size), self.guard, &mut entries)
                .is_err()
            {
                continue;
            }
            for entry in entries {
                if self.cursor.covers(entry.hash()) {
                    self.batch.push((entry.key(), entry.value()));
                }
            }
            self.batch.reverse();
            self.cursor.advance(size);
        }
    }
}

// The cores of the borrowing writes, under a caller's guard.
impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// `insert` under `guard`, answering the replaced value borrowed.
    pub(super) fn insert_in<'g>(&'g self, key: K, value: V, guard: &'g Guard) -> Option<&'g V> {
        crate::reentry::check(self as *const Self as *const (), "insert");
        let hash = self.hash(&key);
        let mut pending = Pending::new(key, Some(value));
        loop {
            let table = self.writable(hash, guard);
            match table.search(hash, pending.key(), guard) {
                Search::Migrating => {}
                Search::Found(found) => {
                    if let Some(old) = self.replace(&found, &mut pending, hash, guard) {
                        return Some(old);
                    }
                }
                Search::Absent(word) => {
                    if self.insert_new(table, hash, word, &mut pending, guard) {
                        return None;
                    }
                }
            }
            sync::hint();
        }
    }

    /// `remove` under `guard`, answering the removed value borrowed.
    pub(super) fn remove_in<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        crate::reentry::check(self as *const Self as *const (), "remove");
        let hash = self.hash(key);
        loop {
            let table = self.writable(hash, guard);
            match table.search(hash, key, guard) {
                Search::Migrating => {}
                Search::Absent(_) => return None,
                Search::Found(found) => {
                    if self.delete(table, &found, guard) {
                        // Found under `guard` while reachable: protected.
                        return Some(found.entry().value());
                    }
                }
            }
            sync::hint();
        }
    }

    /// `get_or_insert_with` under `guard`, answering a borrowed value.
    pub(super) fn claim_in<'g>(
        &'g self,
        key: K,
        make: impl FnOnce() -> V,
        guard: &'g Guard,
    ) -> &'g V {
        crate::reentry::check(self as *const Self as *const (), "get_or_insert_with");
        let hash = self.hash(&key);
        let mut pending: Pending<super::entry::Entry<K, V>> = Pending::new(key, None);
        let mut make = Some(make);
        loop {
            let table = self.writable(hash, guard);
            match table.search(hash, pending.key(), guard) {
                Search::Migrating => {}
                Search::Found(found) => return found.entry().value(),
                Search::Absent(word) => {
                    if !pending.has_value() {
                        let make = make.take().expect("value made once");
                        let value = crate::reentry::run(self as *const Self as *const (), make);
                        pending.set_value(value);
                    }
                    let entry = Shared::from_owned(pending.node(hash), guard);
                    // The guard now covers the entry's birth (see the
                    // module doc): a reference into it stays valid after
                    // the commit. (`insert_new`'s reservation also makes
                    // protected loads after the allocation, so removing this
                    // call was not caught by loom_pinned: an equivalent
                    // mutant today; kept so the rule does not depend on
                    // `reserve`'s internals.)
                    reclaim::cover_own(&self.root, guard);
                    if self.insert_new(table, hash, word, &mut pending, guard) {
                        // SAFETY: allocated before `cover_own`'s protected
                        // load under this guard (the model checks it).
                        return unsafe { entry.deref() }.value();
                    }
                }
            }
            sync::hint();
        }
    }

    /// `compute` under `guard`, answering the value after it borrowed.
    pub(super) fn compute_in<'g>(
        &'g self,
        key: K,
        mut f: impl FnMut(Option<&V>) -> Option<V>,
        guard: &'g Guard,
    ) -> Option<&'g V> {
        crate::reentry::check(self as *const Self as *const (), "compute");
        let hash = self.hash(&key);
        let mut pending = Pending::new(key, None);
        loop {
            let table = self.writable(hash, guard);
            match table.search(hash, pending.key(), guard) {
                Search::Migrating => {}
                Search::Found(found) => {
                    let present = found.entry().value();
                    match crate::reentry::run(self as *const Self as *const (), || f(Some(present)))
                    {
                        None => {
                            if self.delete(table, &found, guard) {
                                return None;
                            }
                        }
                        Some(value) => {
                            pending.set_value(value);
                            let new = Shared::from_owned(pending.node(hash), guard);
                            // The guard now covers the replacement's birth.
                            reclaim::cover_own(&self.root, guard);
                            if self.replace(&found, &mut pending, hash, guard).is_some() {
                                // SAFETY: allocated before `cover_own`.
                                return Some(unsafe { new.deref() }.value());
                            }
                        }
                    }
                }
                Search::Absent(word) => {
                    match crate::reentry::run(self as *const Self as *const (), || f(None)) {
                        None => return None,
                        Some(value) => {
                            pending.set_value(value);
                            let entry = Shared::from_owned(pending.node(hash), guard);
                            // The guard now covers the entry's birth.
                            reclaim::cover_own(&self.root, guard);
                            if self.insert_new(table, hash, word, &mut pending, guard) {
                                // SAFETY: allocated before `cover_own`.
                                return Some(unsafe { entry.deref() }.value());
                            }
                        }
                    }
                }
            }
            sync::hint();
        }
    }
}
