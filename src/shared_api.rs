//! What both maps implement the same way, written once: the std traits,
//! and the public operations derived from each map's core ones (`claim`,
//! `remove_if`, `replace_if`, `insert`).

/// `PartialEq`, `Eq`, both `Extend`s and `From<[(K, V); N]>` (and, with
/// `debug_by_clone`, a `Debug` through clones) for a map type with
/// kovan-map's API (`iter`, `len`, `get`, `extend(&self, ..)`).
macro_rules! impl_std_traits {
    ($Map:ident, debug_by_clone $(, const $H:ident)?) => {
        impl<K, V, S $(, const $H: usize)?> core::fmt::Debug for $Map<K, V, S $(, $H)?>
        where
            K: Clone + core::fmt::Debug + 'static,
            V: Clone + core::fmt::Debug + 'static,
        {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_map().entries(self.iter()).finish()
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
/// impl block (`K: Hash + Eq + Send`, `V: Send`, `S: BuildHasher`).
macro_rules! derived_write_ops {
    () => {
        /// Inserts `value` unless `key` is present. `None` if it inserted;
        /// otherwise the present value, and the map is unchanged.
        ///
        /// # Linearizability
        ///
        /// Inserted: the publication of the new key's entry, as for a new
        /// key in [`insert`](Self::insert). Present: the search's load that
        /// found the key's entry live.
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
        /// As [`insert_if_absent`](Self::insert_if_absent).
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
        /// As [`insert_if_absent`](Self::insert_if_absent).
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
        /// Present: the CAS that tags the key's entry `DELETED`
        /// (`LINEARIZATION(remove)`); a read that loads it afterwards passes
        /// it by. Absent: a moment of the search when the key had no live
        /// entry.
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
        /// As [`remove`](Self::remove).
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
        /// As [`remove_if`](Self::remove_if).
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
        /// As [`replace_if`](Self::replace_if).
        pub fn compare_and_swap(&self, key: K, expected: &V, value: V) -> Result<V, Option<V>>
        where
            V: PartialEq + Clone,
        {
            self.replace_if(key, value, |present| present == expected)
        }

        /// Inserts every pair of `iter`, in order (as `insert`).
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
