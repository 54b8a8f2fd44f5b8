//! The std traits both maps implement the same way, written once.

/// `Debug`, `PartialEq`, `Eq` and both `Extend`s for a map type with
/// kovan-map's API (`iter`, `len`, `get`, `extend(&self, ..)`).
macro_rules! impl_std_traits {
    ($Map:ident $(, const $H:ident)?) => {
        impl<K, V, S $(, const $H: usize)?> core::fmt::Debug for $Map<K, V, S $(, $H)?>
        where
            K: Clone + core::fmt::Debug + 'static,
            V: Clone + core::fmt::Debug + 'static,
        {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_map().entries(self.iter()).finish()
            }
        }

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
    };
}

pub(crate) use impl_std_traits;
