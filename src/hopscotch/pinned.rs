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

use super::iter::{Cursor, RankHomes};
use super::table::Search;
use super::HopscotchMap;
use crate::payload::Pending;
use crate::reclaim::{self, Guard, Shared};
use crate::sync;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};

// The handle and its methods, written once for both maps; what follows it
// is this map's: the linearization point of each operation, the iterator
// and the cores.
crate::shared_api::pinned_front_end! {
    map: HopscotchMap<const H: usize = 32>,
    iter: PinnedIter<'_, K, V, S, H>,
    iter_guarantee: "every key present for the whole iteration exactly once, never a key \
                     twice, across resizes",
    get: "As [`HopscotchMap::get`], also while the table is being resized: the load of \
          the slot (or overflow node) that returned the key's entry untagged (or the load \
          that found its last entry gone, confirmed by an unchanged home word).",
    insert: "As [`HopscotchMap::insert`]: the CAS that replaces a present key's entry in \
             its slot, or the step that shows a new key's committed entry (or pushes its \
             overflow node).",
    remove: "As [`HopscotchMap::remove`]: the `DELETED` tag on the key's entry.",
    get_or_insert_with: "As [`HopscotchMap::get_or_insert_with`]: of calls racing on an \
                         absent key exactly one inserts, and the others answer its value.",
    compute: "As [`HopscotchMap::compute`]: the step of the attempt that succeeds (the \
              replacement CAS, the `DELETED` tag, or the showing of a new key).",
}

/// An iterator over `(&K, &V)` under a [`Pinned`] handle; see
/// [`Pinned::iter`].
pub struct PinnedIter<'p, K: 'static, V: 'static, S, const H: usize = 32> {
    map: &'p HopscotchMap<K, V, S, H>,
    guard: &'p Guard,
    cursor: Cursor,
    /// The cursor's homes, computed a group of ranks at a time.
    homes: RankHomes,
    /// The entries of the last home read, in reverse order.
    batch: Vec<(&'p K, &'p V)>,
}

impl<'p, K: 'static, V: 'static, S, const H: usize> PinnedIter<'p, K, V, S, H> {
    /// From the first home, under the handle's `guard`.
    fn new(map: &'p HopscotchMap<K, V, S, H>, guard: &'p Guard) -> Self {
        PinnedIter {
            map,
            guard,
            cursor: Cursor::start(),
            homes: RankHomes::new(),
            batch: Vec::new(),
        }
    }
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
            // As `HopscotchIter::next`, under the handle's one guard: homes
            // until a batch's worth of entries, one entry buffer for all.
            let mut table = self.map.stable_root(self.guard);
            let mut entries = Vec::new();
            while !self.cursor.done() && self.batch.len() < super::iter::BATCH_ENTRIES {
                let size = table.size();
                let (home, aligned) = self.cursor.visit(table, self.guard, &mut self.homes);
                entries.clear();
                if table.collect(home, self.guard, &mut entries).is_err() {
                    table = self.map.stable_root(self.guard);
                    continue;
                }
                for entry in &entries {
                    if aligned || self.cursor.covers(entry.hash()) {
                        self.batch.push((entry.key(), entry.value()));
                    }
                }
                self.cursor.advance(size);
            }
            self.batch.reverse();
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
