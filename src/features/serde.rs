//! `Serialize` and `Deserialize` for both maps (cargo feature `serde`).
//!
//! # Serialize: a map of what one borrowing iteration saw
//!
//! A map serializes as a serde map of its entries. They are taken through
//! the borrowing iterator, `map.pin().iter()`, so neither keys nor values
//! need `Clone`, and collected (as references, two words an entry) before
//! the first is written, so the length given to the serializer is the
//! number of entries that follow (formats with a length prefix need it).
//! The one guard of that handle is held until serialization ends: memory
//! that any thread retires meanwhile waits for it, so serialize a large map
//! that others write to with that cost in mind.
//!
//! Under concurrent writers it is **not a point-in-time snapshot**: it has
//! the iterator's guarantee. Every key present for the whole iteration is
//! written exactly once, no key twice, each with a value it held at some
//! moment of the iteration; a key inserted or removed meanwhile may or may
//! not be written. Two keys written may never have been in the map
//! together. With no concurrent writer it is exactly the map's contents.
//!
//! # Deserialize: inserts into a new map
//!
//! A new map is made with room for the format's size hint, where it gives
//! one (capped, so a hostile length prefix cannot allocate much up front;
//! the map grows past the cap as entries arrive), else as `new()` makes
//! one; then each entry is inserted in the order the format yields them. A
//! key that appears twice keeps its **last** value, as for std's `HashMap`
//! (the earlier value is dropped).

use crate::hash_map::DEFAULT_BUCKETS;
use crate::hopscotch::DEFAULT_CAPACITY;
use crate::{HashMap, HopscotchMap};
use ::serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use ::serde::ser::{Serialize, SerializeMap, Serializer};
use alloc::vec::Vec;
use core::fmt;
use core::hash::{BuildHasher, Hash};
use core::marker::PhantomData;

/// The most slots a deserialized `HopscotchMap` is made with from a size
/// hint (2^17 slots, about 3 MiB); it grows past that as entries arrive.
const HOPSCOTCH_HINT_CAP: usize = 1 << 17;

/// Writes `entries` (collected first, so the length is exact) as a map.
fn serialize_entries<'a, K, V, Ser>(
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    serializer: Ser,
) -> Result<Ser::Ok, Ser::Error>
where
    K: Serialize + 'a,
    V: Serialize + 'a,
    Ser: Serializer,
{
    let entries: Vec<(&K, &V)> = entries.collect();
    let mut map = serializer.serialize_map(Some(entries.len()))?;
    for (key, value) in entries {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

/// What the one visitor needs of a map: a new one for a size hint, and an
/// insert that needs no `Clone`.
trait Fill<K, V>: Sized {
    const EXPECTING: &'static str;
    fn for_hint(hint: Option<usize>) -> Self;
    fn put(&self, key: K, value: V);
}

/// What the visitor makes, as a marker (`fn() -> _`: it owns no `M`).
type Makes<M, K, V> = PhantomData<fn() -> (M, K, V)>;

/// The visitor of both maps' `Deserialize`.
struct MapVisitor<M, K, V>(Makes<M, K, V>);

impl<'de, M, K, V> Visitor<'de> for MapVisitor<M, K, V>
where
    M: Fill<K, V>,
    K: Deserialize<'de>,
    V: Deserialize<'de>,
{
    type Value = M;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(M::EXPECTING)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<M, A::Error> {
        let map = M::for_hint(access.size_hint());
        while let Some((key, value)) = access.next_entry()? {
            // A repeated key: the later value replaces the earlier.
            map.put(key, value);
        }
        Ok(map)
    }
}

/// `Serialize` and `Deserialize` for a map type, with the docs given, and
/// the [`Fill`] the visitor needs of it: `EXPECTING`, and `for_hint` with
/// the body given (the one thing the maps do differently: how big a map a
/// size hint makes).
macro_rules! serde_impls {
    (
        $Map:ident $(, const $H:ident)?;
        expecting: $expecting:literal;
        $(#[$ser_doc:meta])* fn serialize;
        fn for_hint($hint:ident) $for_hint:block
        $(#[$de_doc:meta])* fn deserialize;
    ) => {
        impl<K, V, S $(, const $H: usize)?> Serialize for $Map<K, V, S $(, $H)?>
        where
            K: Serialize + 'static,
            V: Serialize + 'static,
        {
            $(#[$ser_doc])*
            fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
                let pinned = self.pin();
                serialize_entries(pinned.iter(), serializer)
            }
        }

        impl<K, V, S $(, const $H: usize)?> Fill<K, V> for $Map<K, V, S $(, $H)?>
        where
            K: Hash + Eq + Send + 'static,
            V: Send + 'static,
            S: BuildHasher + Default,
        {
            const EXPECTING: &'static str = $expecting;

            fn for_hint($hint: Option<usize>) -> Self $for_hint

            fn put(&self, key: K, value: V) {
                self.pin().insert(key, value);
            }
        }

        impl<'de, K, V, S $(, const $H: usize)?> Deserialize<'de> for $Map<K, V, S $(, $H)?>
        where
            K: Deserialize<'de> + Hash + Eq + Send + 'static,
            V: Deserialize<'de> + Send + 'static,
            S: BuildHasher + Default,
        {
            $(#[$de_doc])*
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_map(MapVisitor(PhantomData))
            }
        }
    };
}

serde_impls! {
    HashMap;
    expecting: "a map (kovan_map::HashMap)";

    /// A map of the entries one borrowing iteration saw (see the
    /// `features::serde` module doc in the repository for what that is
    /// under concurrent writers).
    ///
    /// # Linearizability
    ///
    /// Not a linearizable snapshot: [`iter`](HashMap::iter)'s guarantee
    /// (every key present for the whole iteration exactly once, each with a
    /// value it held during it; keys inserted or removed meanwhile may or
    /// may not appear).
    fn serialize;

    fn for_hint(hint) {
        match hint {
            // Buckets for the entries below the load of 3/4, at most the
            // default table (8 MiB of directory, zeroed and touched lazily).
            Some(n) => Self::with_capacity_and_hasher(
                (n.saturating_mul(4) / 3 + 1).clamp(64, DEFAULT_BUCKETS),
                S::default(),
            ),
            None => Self::with_hasher(S::default()),
        }
    }

    /// A new map holding the entries in the order the format yields them;
    /// a repeated key keeps its last value. Sized for the format's size
    /// hint (at most [`DEFAULT_BUCKETS`] buckets), else as
    /// [`HashMap::new`].
    ///
    /// # Linearizability
    ///
    /// The map is private to this call until it returns: a sequence of
    /// inserts that no other thread can observe.
    fn deserialize;
}

serde_impls! {
    HopscotchMap, const H;
    expecting: "a map (kovan_map::HopscotchMap)";

    /// A map of the entries one borrowing iteration saw.
    ///
    /// # Linearizability
    ///
    /// Not a linearizable snapshot: [`iter`](HopscotchMap::iter)'s
    /// guarantee, across resizes (every key present for the whole
    /// iteration exactly once, each with a value it held during it; keys
    /// inserted or removed meanwhile may or may not appear).
    fn serialize;

    fn for_hint(hint) {
        match hint {
            // Load 1/2, as `FromIterator` sizes it (a neighbourhood with no
            // room grows the table from half full), at most the cap.
            Some(n) => Self::with_capacity_and_hasher(
                n.saturating_mul(2)
                    .clamp(DEFAULT_CAPACITY, HOPSCOTCH_HINT_CAP),
                S::default(),
            ),
            None => Self::with_hasher(S::default()),
        }
    }

    /// A new map holding the entries in the order the format yields them;
    /// a repeated key keeps its last value. Sized for the format's size
    /// hint at load 1/2 (at most 2^17 slots), else as
    /// [`HopscotchMap::new`].
    ///
    /// # Linearizability
    ///
    /// The map is private to this call until it returns: a sequence of
    /// inserts that no other thread can observe.
    fn deserialize;
}
