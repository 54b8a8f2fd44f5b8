//! What both maps implement the same way, written once: the std traits
//! ([`impl_std_traits!`]), the public operations derived from each map's
//! core ones (`claim`, `remove_if`, `replace_if`, `insert`:
//! [`derived_write_ops!`]), and the borrowing `Pinned` handle's public
//! front-end over each map's `*_in` cores ([`pinned_front_end!`]).
//!
//! The macros write docs as well as code: each names its map in the
//! examples (`concat!` with `stringify!($Map)`), so every example runs once
//! per map, and where the two maps' precise linearization points differ the
//! map passes its own text, after a plain first sentence the two share.

/// `PartialEq`, `Eq`, both `Extend`s and `From<[(K, V); N]>` (and, with
/// `debug_by_pin`, a `Debug` that borrows through the map's `Pinned`
/// handle) for a map type with kovan-map's API (`iter`, `len`, `get`,
/// `pin`, `extend(&self, ..)`).
macro_rules! impl_std_traits {
    ($Map:ident, debug_by_pin $(, const $H:ident)?) => {
        impl<K, V, S $(, const $H: usize)?> core::fmt::Debug for $Map<K, V, S $(, $H)?>
        where
            K: core::fmt::Debug + 'static,
            V: core::fmt::Debug + 'static,
        {
            /// The entries as seen by one `Pinned::iter`: borrowed, so
            /// neither `K` nor `V` needs `Clone`.
            ///
            /// ```
            /// use std::sync::atomic::AtomicU64;
            #[doc = concat!(" let map: kovan_map::", stringify!($Map), "<u64, AtomicU64> =")]
            #[doc = concat!("     kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// assert_eq!(format!("{map:?}"), "{}");
            /// map.pin().insert(1, AtomicU64::new(10));
            /// assert_eq!(format!("{map:?}"), "{1: 10}");
            /// ```
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                let pinned = self.pin();
                f.debug_map().entries(pinned.iter()).finish()
            }
        }
        $crate::shared_api::impl_std_traits!($Map $(, const $H)?);
    };
    ($Map:ident $(, const $H:ident)?) => {

        impl<K, V, S $(, const $H: usize)?> PartialEq for $Map<K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + Clone + 'static,
            V: Send + Clone + PartialEq + 'static,
            S: core::hash::BuildHasher,
        {
            /// Equal entries. Meaningful when neither map is written
            /// meanwhile.
            ///
            /// # Linearizability
            ///
            /// Not one instant: it compares the maps entry by entry, so
            /// compare maps that no thread is writing. It reads both
            /// lengths, then each entry of `self` by one `iter` and looks
            /// it up in `other` by `get`, each at its own moment.
            ///
            /// ```
            #[doc = concat!(" let a = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            #[doc = concat!(" let b = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// a.insert(1, "one");
            /// b.insert(1, "one");
            /// assert!(a == b);
            /// b.insert(1, "uno");
            /// assert!(a != b);
            /// ```
            fn eq(&self, other: &Self) -> bool {
                self.len() == other.len()
                    && self
                        .iter()
                        .all(|(key, value)| other.get(&key).is_some_and(|v| v == value))
            }
        }

        impl<K, V, S $(, const $H: usize)?> Eq for $Map<K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + Clone + 'static,
            V: Send + Clone + Eq + 'static,
            S: core::hash::BuildHasher,
        {
        }

        impl<K, V, S $(, const $H: usize)?> Extend<(K, V)> for $Map<K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + 'static,
            V: Send + Clone + 'static,
            S: core::hash::BuildHasher,
        {
            /// Inserts every pair, in order: the inherent `extend(&self, ..)`
            /// through `&mut self`.
            ///
            /// # Linearizability
            ///
            /// Each pair takes effect on its own, as an `insert`; with
            /// `&mut self` no other thread sees the map meanwhile.
            ///
            /// ```
            #[doc = concat!(" let mut map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// Extend::extend(&mut map, [(1, "one"), (1, "uno")]);
            /// assert_eq!(map.get(&1), Some("uno"));
            /// ```
            fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
                $Map::extend(&*self, iter);
            }
        }

        impl<'a, K, V, S $(, const $H: usize)?> Extend<(&'a K, &'a V)>
            for $Map<K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + Copy + 'static,
            V: Send + Copy + 'static,
            S: core::hash::BuildHasher,
        {
            /// Inserts a copy of every pair, in order.
            ///
            /// # Linearizability
            ///
            /// Each pair takes effect on its own, as an `insert`; with
            /// `&mut self` no other thread sees the map meanwhile.
            ///
            /// ```
            /// let pairs = [(1, 10), (2, 20)];
            #[doc = concat!(" let mut map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// Extend::extend(&mut map, pairs.iter().map(|(k, v)| (k, v)));
            /// assert_eq!(map.get(&2), Some(20));
            /// ```
            fn extend<I: IntoIterator<Item = (&'a K, &'a V)>>(&mut self, iter: I) {
                $Map::extend(&*self, iter.into_iter().map(|(k, v)| (*k, *v)));
            }
        }

        impl<K, V, S, const N: usize $(, const $H: usize)?> From<[(K, V); N]> for $Map<K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + 'static,
            V: Send + Clone + 'static,
            S: core::hash::BuildHasher + Default,
        {
            /// A map of the pairs (later pairs win), sized for `N`.
            ///
            /// ```
            #[doc = concat!(" let map: kovan_map::", stringify!($Map), "<_, _> =")]
            #[doc = concat!("     kovan_map::", stringify!($Map), "::from([(1, 'a'), (2, 'b'), (1, 'c')]);")]
            /// assert_eq!(map.len(), 2);
            /// assert_eq!(map.get(&1), Some('c'));
            /// ```
            fn from(pairs: [(K, V); N]) -> Self {
                let map = Self::with_capacity_and_hasher(N.max(1), S::default());
                $Map::extend(&map, pairs);
                map
            }
        }
    };
}

pub(crate) use impl_std_traits;

/// The operations derived from a map's core `claim`, `remove_if`,
/// `replace_if` and `insert`, as impl items: invoked inside the map's write
/// impl block (`K: Hash + Eq + Send`, `V: Send`, `S: BuildHasher`) as
/// `derived_write_ops!(HashMap)`; the map's name goes into the examples.
macro_rules! derived_write_ops {
    ($Map:ident) => {
        /// Inserts `value` unless `key` is present. `None` if it inserted;
        /// otherwise the present value, and the map is unchanged.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: the key is either found there (and
        /// its value answered) or inserted then, so of calls racing on an
        /// absent key exactly one inserts.
        ///
        /// Inserted: the publication of the new key's entry, as for a new
        /// key in [`insert`](Self::insert). Present: the search's load that
        /// found the key's entry live.
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// assert_eq!(map.insert_if_absent(1, "one"), None);
        /// assert_eq!(map.insert_if_absent(1, "uno"), Some("one"));
        /// assert_eq!(map.get(&1), Some("one"));
        /// ```
        pub fn insert_if_absent(&self, key: K, value: V) -> Option<V>
        where
            V: Clone,
        {
            match self.claim(key, || value, |_| ()) {
                Claim::Inserted(()) => None,
                Claim::Present(present) => Some(present),
            }
        }

        /// The present value of `key`, or `value` inserted and returned.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: the value answered is the one the
        /// key held then, or `value` if it was absent and this call
        /// inserted it.
        ///
        /// As [`insert_if_absent`](Self::insert_if_absent).
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// assert_eq!(map.get_or_insert(1, 10), 10);
        /// assert_eq!(map.get_or_insert(1, 11), 10);
        /// ```
        pub fn get_or_insert(&self, key: K, value: V) -> V
        where
            V: Clone,
        {
            match self.claim(key, || value, V::clone) {
                Claim::Inserted(v) | Claim::Present(v) => v,
            }
        }

        /// The present value of `key`, or `make()` inserted and returned.
        /// `make` runs at most once, and only if the key was absent when
        /// looked up.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: the value answered is the one the
        /// key held then, or `make`'s if it was absent and this call
        /// inserted it; a value made by a call that lost the race is
        /// dropped, never stored.
        ///
        /// As [`insert_if_absent`](Self::insert_if_absent).
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// assert_eq!(map.get_or_insert_with("k", || vec![1]), [1]);
        /// // Present: `make` does not run.
        /// assert_eq!(map.get_or_insert_with("k", || unreachable!()), [1]);
        /// ```
        pub fn get_or_insert_with<F>(&self, key: K, make: F) -> V
        where
            F: FnOnce() -> V,
            V: Clone,
        {
            match self.claim(key, make, V::clone) {
                Claim::Inserted(v) | Claim::Present(v) => v,
            }
        }

        /// Removes `key`, returning its value.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: of calls racing to remove one key
        /// exactly one answers its value, and a `get` that starts after
        /// this call returned finds the key absent (unless it was inserted
        /// again).
        ///
        /// Present: the CAS that tags the key's entry `DELETED`
        /// (`LINEARIZATION(remove)`); a read that loads it afterwards passes
        /// it by. Absent: a moment of the search when the key had no live
        /// entry.
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.insert(1, "one");
        /// assert_eq!(map.remove(&1), Some("one"));
        /// assert_eq!(map.remove(&1), None);
        /// ```
        pub fn remove<Q>(&self, key: &Q) -> Option<V>
        where
            K: core::borrow::Borrow<Q>,
            Q: core::hash::Hash + Eq + ?Sized,
            V: Clone,
        {
            self.remove_if(key, |_| true)
        }

        /// Removes `key`, returning its value: the same as
        /// [`remove`](Self::remove), kept for parity with kovan-map 0.2.0. A
        /// key has at most one live entry, so one removal removes it.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant, exactly as `remove`.
        ///
        /// As [`remove`](Self::remove).
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.insert(1, "one");
        /// assert_eq!(map.force_remove(&1), Some("one"));
        /// assert!(map.is_empty());
        /// ```
        pub fn force_remove<Q>(&self, key: &Q) -> Option<V>
        where
            K: core::borrow::Borrow<Q>,
            Q: core::hash::Hash + Eq + ?Sized,
            V: Clone,
        {
            self.remove(key)
        }

        /// Removes `key` if its value equals `expected`, returning the value.
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: the value compared with `expected`
        /// is the value removed, and no write to the key falls between the
        /// comparison and the removal.
        ///
        /// As [`remove_if`](Self::remove_if).
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.insert(1, 10);
        /// assert_eq!(map.compare_and_remove(&1, &11), None);
        /// assert_eq!(map.compare_and_remove(&1, &10), Some(10));
        /// assert_eq!(map.get(&1), None);
        /// ```
        pub fn compare_and_remove<Q>(&self, key: &Q, expected: &V) -> Option<V>
        where
            K: core::borrow::Borrow<Q>,
            Q: core::hash::Hash + Eq + ?Sized,
            V: PartialEq + Clone,
        {
            self.remove_if(key, |present| present == expected)
        }

        /// Replaces the value of a present `key` with `value` if the present
        /// value equals `expected`; answers as [`replace_if`](Self::replace_if).
        ///
        /// # Linearizability
        ///
        /// Takes effect at one instant: the value compared with `expected`
        /// is the value replaced, and no write to the key falls between the
        /// comparison and the replacement.
        ///
        /// As [`replace_if`](Self::replace_if).
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.insert(1, 10);
        /// assert_eq!(map.compare_and_swap(1, &11, 12), Err(Some(10)));
        /// assert_eq!(map.compare_and_swap(1, &10, 12), Ok(10));
        /// assert_eq!(map.compare_and_swap(2, &10, 12), Err(None));
        /// assert_eq!(map.get(&1), Some(12));
        /// ```
        pub fn compare_and_swap(&self, key: K, expected: &V, value: V) -> Result<V, Option<V>>
        where
            V: PartialEq + Clone,
        {
            self.replace_if(key, value, |present| present == expected)
        }

        /// Inserts every pair of `iter`, in order (as `insert`).
        ///
        /// # Linearizability
        ///
        /// Not one instant: each pair takes effect on its own, as an
        /// [`insert`](Self::insert), so a concurrent reader may see some
        /// pairs and not yet the others.
        ///
        /// ```
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.extend([(1, "one"), (2, "two"), (1, "uno")]);
        /// assert_eq!(map.len(), 2);
        /// assert_eq!(map.get(&1), Some("uno"));
        /// ```
        pub fn extend<I: IntoIterator<Item = (K, V)>>(&self, iter: I)
        where
            V: Clone,
        {
            for (key, value) in iter {
                self.insert(key, value);
            }
        }
    };
}

pub(crate) use derived_write_ops;

/// The public front-end of a map's borrowing `Pinned` handle, written once:
/// the struct (with its compile-fail doctests), `Deref` to its guard,
/// `Debug`, and `map`, `len`, `is_empty`, `iter`, `get`, `contains_key`,
/// `insert`, `remove`, `get_or_insert_with`, `get_or_insert` and `compute`,
/// each a call of the map's core under the handle's one guard. Invoked in
/// the map's `pinned.rs`, which keeps what differs per map: the cores
/// (`get_ref`, `insert_in`, `remove_in`, `claim_in`, `compute_in`), the
/// iterator `PinnedIter` with its `PinnedIter::new(map, guard)`, and the
/// precise linearization point of each operation on that map (the strings
/// below; each follows the plain sentence that both maps share).
macro_rules! pinned_front_end {
    (
        map: $Map:ident $(<const $H:ident: usize = $Hd:literal>)?,
        iter: $Iter:ty,
        iter_guarantee: $iter_guarantee:literal,
        get: $get:literal,
        insert: $insert:literal,
        remove: $remove:literal,
        get_or_insert_with: $claim:literal,
        compute: $compute:literal $(,)?
    ) => {
        #[doc = concat!(" A critical section on one [`", stringify!($Map), "`], from [`",
                        stringify!($Map), "::pin`]:")]
        /// its methods answer references valid until it is dropped.
        ///
        /// A reference cannot outlive the handle:
        ///
        /// ```compile_fail
        #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// map.insert(1, String::from("one"));
        /// let one = {
        ///     let m = map.pin();
        ///     m.get(&1).unwrap()
        /// };
        /// assert_eq!(one, "one");
        /// ```
        ///
        /// Nor can the handle cross threads (it holds this thread's
        /// [`Guard`](crate::Guard)):
        ///
        /// ```compile_fail
        /// fn assert_send<T: Send>(_: T) {}
        #[doc = concat!(" let map: kovan_map::", stringify!($Map), "<u64, u64> =")]
        #[doc = concat!("     kovan_map::", stringify!($Map), "::with_capacity(8);")]
        /// assert_send(map.pin());
        /// ```
        pub struct Pinned<'m, K: 'static, V: 'static, S $(, const $H: usize = $Hd)?> {
            pub(super) map: &'m $Map<K, V, S $(, $H)?>,
            pub(super) guard: $crate::reclaim::Guard,
        }

        impl<K: 'static, V: 'static, S $(, const $H: usize)?> core::ops::Deref
            for Pinned<'_, K, V, S $(, $H)?>
        {
            type Target = $crate::reclaim::Guard;

            #[doc = concat!(" The handle's guard, for [`", stringify!($Map), "::get_ref`].")]
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// map.insert(1, "one");
            /// let m = map.pin();
            /// assert_eq!(map.get_ref(&1, &m), Some(&"one"));
            /// ```
            fn deref(&self) -> &$crate::reclaim::Guard {
                &self.guard
            }
        }

        impl<K: 'static, V: 'static, S $(, const $H: usize)?> core::fmt::Debug
            for Pinned<'_, K, V, S $(, $H)?>
        {
            /// `Pinned { .. }`: the entries are the map's `Debug`.
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::<u64, u64>::with_capacity(8);")]
            /// assert_eq!(format!("{:?}", map.pin()), "Pinned { .. }");
            /// ```
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct("Pinned").finish_non_exhaustive()
            }
        }

        impl<'m, K: 'static, V: 'static, S $(, const $H: usize)?> Pinned<'m, K, V, S $(, $H)?> {
            /// The map.
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::<u64, u64>::with_capacity(8);")]
            /// let m = map.pin();
            /// assert!(std::ptr::eq(m.map(), &map));
            /// ```
            pub fn map(&self) -> &'m $Map<K, V, S $(, $H)?> {
                self.map
            }

            #[doc = concat!(" The number of entries, as [`", stringify!($Map), "::len`].")]
            ///
            /// # Linearizability
            ///
            /// Not a snapshot while writes run: it may lag behind the writes
            /// in flight; with none in flight it is exact.
            ///
            #[doc = concat!(" As [`", stringify!($Map), "::len`].")]
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// m.insert("a", 1);
            /// m.insert("b", 2);
            /// assert_eq!(m.len(), 2);
            /// ```
            pub fn len(&self) -> usize {
                self.map.len()
            }

            /// Whether [`len`](Self::len) is zero.
            ///
            /// # Linearizability
            ///
            /// Not a snapshot while writes run, as `len`; exact with none in
            /// flight.
            ///
            /// As [`len`](Self::len).
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// assert!(m.is_empty());
            /// m.insert(1, 1);
            /// assert!(!m.is_empty());
            /// ```
            pub fn is_empty(&self) -> bool {
                self.map.is_empty()
            }

            /// An iterator over `(&K, &V)` of the entries, with the guarantee of
            #[doc = concat!(" [`", stringify!($Map), "::iter`] (", $iter_guarantee, "),")]
            /// under this handle's guard: no clones.
            ///
            /// # Linearizability
            ///
            /// Not a snapshot: keys inserted or removed while it runs may or
            /// may not appear, and every other key appears exactly once.
            ///
            #[doc = concat!(" As [`", stringify!($Map), "::iter`], whose walk it is; the handle's")]
            /// one guard keeps every entry it yields allocated until the
            /// handle drops.
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// map.insert("k", vec![1, 2, 3]);
            /// let m = map.pin();
            /// let total: usize = m.iter().map(|(_, v)| v.len()).sum();
            /// assert_eq!(total, 3);
            /// ```
            pub fn iter(&self) -> $Iter {
                PinnedIter::new(self.map, &self.guard)
            }
        }

        impl<K, V, S $(, const $H: usize)?> Pinned<'_, K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + 'static,
            V: 'static,
            S: core::hash::BuildHasher,
        {
            /// The value of `key`, borrowed.
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant: the answer is the key's value (or
            /// its absence) at one moment during the call, so a concurrent
            /// write is seen whole or not at all.
            ///
            #[doc = concat!(" ", $get)]
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// map.insert(1, "one");
            /// assert_eq!(map.pin().get(&1), Some(&"one"));
            /// ```
            pub fn get<Q>(&self, key: &Q) -> Option<&V>
            where
                K: core::borrow::Borrow<Q>,
                Q: core::hash::Hash + Eq + ?Sized,
            {
                self.map.get_ref(key, &self.guard)
            }

            /// Whether `key` is present.
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant, as `get`: the key was present (or
            /// absent) at one moment during the call.
            ///
            /// As [`get`](Self::get).
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// map.insert(1, ());
            /// let m = map.pin();
            /// assert!(m.contains_key(&1) && !m.contains_key(&2));
            /// ```
            pub fn contains_key<Q>(&self, key: &Q) -> bool
            where
                K: core::borrow::Borrow<Q>,
                Q: core::hash::Hash + Eq + ?Sized,
            {
                self.get(key).is_some()
            }
        }

        impl<K, V, S $(, const $H: usize)?> Pinned<'_, K, V, S $(, $H)?>
        where
            K: core::hash::Hash + Eq + Send + 'static,
            V: Send + 'static,
            S: core::hash::BuildHasher,
        {
            /// Inserts `value` under `key`; answers the value it replaced, borrowed
            /// (retired by the map, but valid while this handle lives).
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant: a concurrent `get` sees the old
            /// value or the new one, never neither, and the value returned is
            /// exactly the one replaced.
            ///
            #[doc = concat!(" ", $insert)]
            ///
            /// ```
            /// use std::sync::Mutex;
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// assert!(m.insert(1, Mutex::new(1)).is_none());
            /// let old = m.insert(1, Mutex::new(2)).unwrap();
            /// assert_eq!(*old.lock().unwrap(), 1);
            /// assert_eq!(*m.get(&1).unwrap().lock().unwrap(), 2);
            /// ```
            pub fn insert(&self, key: K, value: V) -> Option<&V> {
                self.map.insert_in(key, value, &self.guard)
            }

            /// Removes `key`; answers its value, borrowed (valid while this
            /// handle lives).
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant: of calls racing to remove one key
            /// exactly one answers its value, and a `get` that starts after
            /// this call returned finds the key absent (unless it was
            /// inserted again).
            ///
            #[doc = concat!(" ", $remove)]
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// map.insert(1, String::from("one"));
            /// let m = map.pin();
            /// assert_eq!(m.remove(&1).map(String::as_str), Some("one"));
            /// assert_eq!(m.get(&1), None);
            /// ```
            pub fn remove<Q>(&self, key: &Q) -> Option<&V>
            where
                K: core::borrow::Borrow<Q>,
                Q: core::hash::Hash + Eq + ?Sized,
            {
                self.map.remove_in(key, &self.guard)
            }

            /// The value of `key`, or `make()` inserted; borrowed either way.
            /// `make` runs at most once, and only if the key was absent when
            /// looked up.
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant: the value answered is the one the
            /// key held then, or `make`'s if it was absent and this call
            /// inserted it; a value made by a call that lost the race is
            /// dropped, never stored.
            ///
            #[doc = concat!(" ", $claim)]
            ///
            /// ```
            /// use std::sync::atomic::{AtomicU64, Ordering};
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// m.get_or_insert_with("hits", || AtomicU64::new(0)).fetch_add(1, Ordering::Relaxed);
            /// m.get_or_insert_with("hits", || AtomicU64::new(0)).fetch_add(1, Ordering::Relaxed);
            /// assert_eq!(m.get("hits").unwrap().load(Ordering::Relaxed), 2);
            /// ```
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
            /// Takes effect at one instant: the value answered is the one the
            /// key held then, or `value` if it was absent and this call
            /// inserted it.
            ///
            /// As [`get_or_insert_with`](Self::get_or_insert_with).
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// assert_eq!(m.get_or_insert(1, String::from("one")), "one");
            /// assert_eq!(m.get_or_insert(1, String::from("uno")), "one");
            /// ```
            pub fn get_or_insert(&self, key: K, value: V) -> &V {
                self.map.claim_in(key, || value, &self.guard)
            }

            #[doc = concat!(" One atomic read-modify-write of `key`, as [`", stringify!($Map),
                            "::compute`];")]
            /// answers the value the key holds after it, borrowed.
            ///
            /// # Linearizability
            ///
            /// Takes effect at one instant: `f` sees the value the key holds
            /// then and its answer is stored at that same instant, so no
            /// other write falls between the two (`f` runs again if one
            /// would have).
            ///
            #[doc = concat!(" ", $compute)]
            ///
            /// ```
            #[doc = concat!(" let map = kovan_map::", stringify!($Map), "::with_capacity(8);")]
            /// let m = map.pin();
            /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), Some(&1));
            /// assert_eq!(m.compute("n", |v| Some(v.map_or(1, |v| v + 1))), Some(&2));
            /// assert_eq!(m.compute("n", |_| None), None);
            /// ```
            pub fn compute<F>(&self, key: K, f: F) -> Option<&V>
            where
                F: FnMut(Option<&V>) -> Option<V>,
            {
                self.map.compute_in(key, f, &self.guard)
            }
        }
    };
}

pub(crate) use pinned_front_end;
