//! The std-like methods users reach for: `Debug` without `Clone`,
//! `retain`, `get_mut` and `iter_mut` on `&mut self`, `reserve` and
//! `shrink_to_fit`.

use super::directory::node_key;
use super::list;
use super::HashMap;
use crate::reclaim;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};

impl<K, V, S> core::fmt::Debug for HashMap<K, V, S>
where
    K: core::fmt::Debug + 'static,
    V: core::fmt::Debug + 'static,
{
    /// The entries as seen by one [`Pinned::iter`](super::Pinned::iter):
    /// borrowed, so neither `K` nor `V` needs `Clone`. While other threads
    /// write, it is no snapshot: it has the guarantee of
    /// [`HashMap::iter`].
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(1, "one");
    /// assert_eq!(format!("{map:?}"), r#"{1: "one"}"#);
    /// ```
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let pinned = self.pin();
        f.debug_map().entries(pinned.iter()).finish()
    }
}

impl<K: 'static, V: 'static, S> HashMap<K, V, S> {
    /// Every live node, with exclusive access (`&mut self`: no other thread
    /// reaches the map, and nothing is retired meanwhile).
    fn for_each_exclusive(&mut self, mut visit: impl FnMut(&super::list::Node<K, V>)) {
        let guard = reclaim::pin();
        self.walk_exclusive(
            &guard,
            |_, _| {},
            |_, node, dead| {
                if !dead {
                    visit(node);
                }
            },
        );
    }

    /// An iterator over `(&K, &mut V)` of every entry, with exclusive
    /// access.
    ///
    /// # Linearizability
    ///
    /// Takes `&mut self`, so no other operation runs while the iterator
    /// lives: it sees exactly the entries the map holds.
    ///
    /// ```
    /// let mut map = kovan_map::HashMap::with_capacity(8);
    /// map.insert(1, 10);
    /// map.insert(2, 20);
    /// for (_, v) in map.iter_mut() {
    ///     *v += 1;
    /// }
    /// assert_eq!(map.get(&2), Some(21));
    /// ```
    pub fn iter_mut(&mut self) -> alloc::vec::IntoIter<(&K, &mut V)> {
        let mut entries: Vec<(*const K, *mut V)> = Vec::new();
        self.for_each_exclusive(|node| {
            // SAFETY: `&mut self` (see `Payload::value_mut`); each live node
            // is visited once, so the `&mut V`s are disjoint.
            let value: *mut V = unsafe { node.value_mut() };
            entries.push((node.key() as *const K, value));
        });
        entries
            .into_iter()
            // SAFETY: the nodes stay allocated and unshared for as long as
            // the `&mut self` borrow this iterator holds.
            .map(|(k, v)| unsafe { (&*k, &mut *v) })
            .collect::<Vec<_>>()
            .into_iter()
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    /// The value of `key`, mutably, with exclusive access.
    ///
    /// # Linearizability
    ///
    /// Takes `&mut self`, so no other operation runs meanwhile: there is
    /// nothing to order it against.
    ///
    /// ```
    /// let mut map = kovan_map::HashMap::with_capacity(8);
    /// map.insert("k", vec![1]);
    /// map.get_mut("k").unwrap().push(2);
    /// assert_eq!(map.get("k"), Some(vec![1, 2]));
    /// ```
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let guard = reclaim::pin();
        let start = self.dir.reader_start(hash)?;
        let node =
            list::lookup(start, node_key(hash), key, &guard)? as *const super::list::Node<K, V>;
        // SAFETY: `&mut self`: the node is live and nobody else reaches it
        // while the returned borrow of `self` lasts (nothing is removed or
        // retired without `&self`, which the borrow excludes).
        Some(unsafe { (*node).value_mut() })
    }

    /// Grows the table now so that `additional` more entries fit below the
    /// load of 3/4 (instead of doubling step by step as they arrive).
    /// Stops early, without an error, if a segment cannot be allocated.
    ///
    /// # Linearizability
    ///
    /// Changes no entry, so no reader can tell it ran, except by
    /// [`capacity`](Self::capacity). Each doubling is one CAS on the table
    /// size; the target comes from [`len`](Self::len), so while writes run
    /// it is as approximate as `len`, and a concurrent removal may halve the
    /// table again right after.
    ///
    /// ```
    /// let map: kovan_map::HashMap<u64, u64> = kovan_map::HashMap::with_capacity(1);
    /// map.reserve(1000);
    /// assert!(map.capacity() * 3 / 4 >= 1000);
    /// ```
    pub fn reserve(&self, additional: usize) {
        let want = self.len().saturating_add(additional);
        loop {
            let size = self.dir.size();
            if size.saturating_mul(3) / 4 >= want || size >= super::MAX_BUCKETS {
                return;
            }
            if !self.dir.grow(size) && self.dir.size() == size {
                return; // the segment could not be allocated
            }
        }
    }

    /// Shrinks the table to the smallest size, not below the floor, that
    /// keeps the entries below a load of 3/4. (Directory segments stay
    /// allocated until the map is dropped; shrinking shortens what
    /// `capacity` reports and where operations start.)
    ///
    /// # Linearizability
    ///
    /// Changes no entry, so no reader can tell it ran, except by
    /// [`capacity`](Self::capacity). Each halving is one CAS on the table
    /// size, decided on [`len`](Self::len) (approximate while writes run);
    /// a concurrent insert may double the table again right after.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(1);
    /// map.reserve(1000);
    /// map.insert(1, 1);
    /// map.shrink_to_fit();
    /// assert_eq!(map.capacity(), 2);
    /// ```
    pub fn shrink_to_fit(&self) {
        loop {
            let size = self.dir.size();
            if size <= self.dir.floor() || (size / 2) * 3 / 4 < self.len() {
                return;
            }
            if !self.dir.shrink(size) && self.dir.size() == size {
                return;
            }
        }
    }
}

impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Removes every entry for which `keep` answers false.
    ///
    /// # Linearizability
    ///
    /// Not one atomic step: it removes the refused entries one at a time,
    /// so a reader running meanwhile may see some of them gone and others
    /// still present; each removal takes effect at one instant, and only if
    /// `keep` refused the value present at that instant.
    ///
    /// One pass of the list, and a linearizable removal of each
    /// entry `keep` refused, decided on the value present at that removal
    /// (`keep` may run again for it, as `remove_if`'s predicate). Entries
    /// inserted during the pass may be kept unseen.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// for i in 0..10 {
    ///     map.insert(i, i);
    /// }
    /// map.retain(|_, v| v % 2 == 0);
    /// assert_eq!(map.len(), 5);
    /// assert_eq!(map.get(&3), None);
    /// ```
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        crate::reentry::check(self as *const Self as *const (), "retain");
        let pinned = self.pin();
        for (key, value) in pinned.iter() {
            if !crate::reentry::run(self as *const Self as *const (), || keep(key, value)) {
                self.remove_if_in(
                    key,
                    |present| {
                        !crate::reentry::run(self as *const Self as *const (), || {
                            keep(key, present)
                        })
                    },
                    &pinned,
                );
            }
        }
    }
}
