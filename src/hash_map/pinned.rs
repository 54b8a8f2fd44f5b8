//! The borrowing API: [`HashMap::pin`] gives a [`Pinned`] handle whose
//! reads and writes answer references into the map, valid while the handle
//! lives, so neither keys nor values need `Clone`.
//!
//! # Why the references are valid
//!
//! Every reference points into a node found, or published, under the
//! handle's one guard:
//!
//! * a node loaded through a link while reachable stays allocated until the
//!   guard drops (kovan's rule; `reclaim`'s module doc): the values `get`
//!   finds, and the *old* values `insert` replaces and `remove` removes
//!   (retired by then, but protected);
//! * a node this thread allocates is protected only after a protected load
//!   that follows its allocation: `get_or_insert_with` and `compute` call
//!   [`reclaim::cover_own`] between the allocation and the publishing CAS,
//!   and only then answer a reference into their own node.

use super::directory::node_key;
use super::lanes::Lanes;
use super::list::{self, Node, Search};
use super::{pending_node, HashMap};
use crate::payload::Pending;
use crate::reclaim::{self, Guard, Shared};
use crate::sync::{self, Ordering};
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};

// The handle and its methods, written once for both maps; what follows it
// is this map's: the linearization point of each operation, the iterator
// and the cores.
crate::shared_api::pinned_front_end! {
    map: HashMap,
    iter: PinnedIter<'_, K, V>,
    iter_guarantee: "every key present for the whole iteration exactly once, never a key twice",
    get: "As [`HashMap::get`]: the load that found the key's node live (or the moment \
          the key was absent).",
    insert: "As [`HashMap::insert`]: the push of a new key, or the `REPLACED` tag of the \
             old node.",
    remove: "As [`HashMap::remove`]: the `DELETED` tag on the key's node.",
    get_or_insert_with: "As [`HashMap::get_or_insert_with`]: of calls racing on an absent \
                         key exactly one inserts (its push), and the others answer its value.",
    compute: "As [`HashMap::compute`]: the CAS of the attempt that succeeds.",
}

impl<K, V, S> Pinned<'_, K, V, S>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    /// The key and value of `key`, borrowed.
    ///
    /// # Linearizability
    ///
    /// Takes effect at one instant, as `get`: the key and value answered
    /// are the entry's at one moment during the call.
    ///
    /// As [`get`](Self::get).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(String::from("k"), 1);
    /// assert_eq!(map.pin().get_key_value("k"), Some((&String::from("k"), &1)));
    /// ```
    pub fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.map.hash(key);
        let start = self.map.dir.lookup_start(hash, &self.guard)?;
        list::lookup(start, node_key(hash), key, &self.guard).map(|node| (node.key(), node.value()))
    }
}

/// An iterator over `(&K, &V)` under a [`Pinned`] handle; see
/// [`Pinned::iter`].
pub struct PinnedIter<'p, K: 'static, V: 'static> {
    /// The stretches of the list read in turn (`lanes.rs`).
    lanes: Lanes<'p, K, V, (&'p K, &'p V)>,
    guard: &'p Guard,
    /// The entries of the last round read, handed out from the end.
    batch: Vec<(&'p K, &'p V)>,
}

impl<'p, K: 'static, V: 'static> PinnedIter<'p, K, V> {
    /// The lanes of the map's table as it is now, read under the handle's
    /// `guard`.
    fn new<S>(map: &'p HashMap<K, V, S>, guard: &'p Guard) -> Self {
        PinnedIter {
            lanes: Lanes::new(&map.dir),
            guard,
            batch: Vec::new(),
        }
    }
}

impl<'p, K: 'static, V: 'static> Iterator for PinnedIter<'p, K, V> {
    type Item = (&'p K, &'p V);

    fn next(&mut self) -> Option<(&'p K, &'p V)> {
        loop {
            if let Some(entry) = self.batch.pop() {
                return Some(entry);
            }
            if self.lanes.is_done() {
                return None;
            }
            self.lanes
                .read_round(self.guard, &mut self.batch, |node: &'p Node<K, V>| {
                    (node.key(), node.value())
                });
        }
    }
}

// The cores of the borrowing writes, under a caller's guard.
impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// `insert` under `guard`, answering the replaced value borrowed.
    pub(super) fn insert_in<'g>(&'g self, key: K, value: V, guard: &'g Guard) -> Option<&'g V> {
        crate::reentry::check(self as *const Self as *const (), "insert");
        let hash = self.hash(&key);
        let so = node_key(hash);
        let mut pending = Pending::new(key, Some(value));
        loop {
            match list::search(
                self.dir.writer_start(hash, guard),
                so,
                |node| node.key() == pending.key(),
                guard,
            ) {
                Search::Absent { pred, succ } => {
                    let node = Shared::from_owned(pending_node(&mut pending, so, succ), guard);
                    // ORDERING: AcqRel, as in `insert`.
                    // LINEARIZATION(insert): the push of a new key.
                    if pred.cas(succ, node, Ordering::AcqRel, Ordering::Relaxed, guard) {
                        pending.published();
                        self.inserted(so);
                        return None;
                    }
                }
                Search::Found { pred, node, next } => {
                    if let Some(old) = self.replace(pred, node, next, &mut pending, guard) {
                        return Some(old);
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
        self.remove_if_in(key, |_| true, guard)
    }

    /// `remove_if` under `guard`, answering the removed value borrowed.
    /// `pred` runs as the caller arranged (the caller marks user closures).
    pub(super) fn remove_if_in<'g, Q>(
        &'g self,
        key: &Q,
        mut pred: impl FnMut(&V) -> bool,
        guard: &'g Guard,
    ) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let so = node_key(hash);
        loop {
            let Search::Found {
                pred: pred_link,
                node,
                next,
            } = list::search(
                self.dir.writer_start(hash, guard),
                so,
                |node| node.key().borrow() == key,
                guard,
            )
            else {
                return None;
            };
            // SAFETY: found under `guard`.
            if !pred(unsafe { node.deref() }.value()) {
                return None;
            }
            if self.delete(pred_link, node, next, guard) {
                // SAFETY: found under `guard` while reachable: protected
                // until the guard drops, retired or not.
                return Some(unsafe { node.deref() }.value());
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
        let so = node_key(hash);
        let mut pending = Pending::new(key, None);
        let mut make = Some(make);
        loop {
            match list::search(
                self.dir.writer_start(hash, guard),
                so,
                |node| node.key() == pending.key(),
                guard,
            ) {
                Search::Found { node, .. } => {
                    // SAFETY: found under `guard`.
                    return unsafe { node.deref() }.value();
                }
                Search::Absent { pred, succ } => {
                    if !pending.has_value() {
                        let make = make.take().expect("value made once");
                        let value = crate::reentry::run(self as *const Self as *const (), make);
                        pending.set_value(value);
                    }
                    let node = pending_node(&mut pending, so, succ);
                    // The guard now covers the node's birth: see the module doc.
                    reclaim::cover_own(pred, guard);
                    // ORDERING: AcqRel, as in `insert`.
                    // LINEARIZATION(insert_if_absent): the push of the key.
                    let shared = Shared::from_owned(node, guard);
                    if pred.cas(succ, shared, Ordering::AcqRel, Ordering::Relaxed, guard) {
                        pending.published();
                        self.inserted(so);
                        // SAFETY: allocated before `cover_own`'s protected
                        // load in this guard's critical section, so protected
                        // until the guard drops (see `reclaim::cover_own`;
                        // the model reclaimer checks this dereference).
                        return unsafe { shared.deref() }.value();
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
        let so = node_key(hash);
        let mut pending = Pending::new(key, None);
        loop {
            match list::search(
                self.dir.writer_start(hash, guard),
                so,
                |node| node.key() == pending.key(),
                guard,
            ) {
                Search::Found { pred, node, next } => {
                    // SAFETY: found under `guard`.
                    let present = unsafe { node.deref() }.value();
                    match crate::reentry::run(self as *const Self as *const (), || f(Some(present)))
                    {
                        None => {
                            if self.delete(pred, node, next, guard) {
                                return None;
                            }
                        }
                        Some(value) => {
                            pending.set_value(value);
                            let new = Shared::from_owned(pending.node(so), guard);
                            // The guard now covers the replacement's birth.
                            reclaim::cover_own(pred, guard);
                            if self
                                .replace(pred, node, next, &mut pending, guard)
                                .is_some()
                            {
                                // SAFETY: allocated before `cover_own`'s
                                // protected load under this guard.
                                return Some(unsafe { new.deref() }.value());
                            }
                        }
                    }
                }
                Search::Absent { pred, succ } => {
                    match crate::reentry::run(self as *const Self as *const (), || f(None)) {
                        None => return None,
                        Some(value) => {
                            pending.set_value(value);
                            let node = pending_node(&mut pending, so, succ);
                            // The guard now covers the node's birth.
                            reclaim::cover_own(pred, guard);
                            let shared = Shared::from_owned(node, guard);
                            // ORDERING: AcqRel, as in `insert`.
                            // LINEARIZATION(compute): the push of an absent key.
                            if pred.cas(succ, shared, Ordering::AcqRel, Ordering::Relaxed, guard) {
                                pending.published();
                                self.inserted(so);
                                // SAFETY: allocated before `cover_own`'s
                                // protected load under this guard.
                                return Some(unsafe { shared.deref() }.value());
                            }
                        }
                    }
                }
            }
            sync::hint();
        }
    }
}
