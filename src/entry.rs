//! The entry API: `map.entry(key)` and its dashmap-like chain
//! (`.and_modify(f)`, `.or_insert(v)`, `.or_insert_with(f)`,
//! `.or_insert_with_key(f)`, `.or_default()`), for both maps and for their
//! [`Pinned`](crate::hash_map::Pinned) handles; and `Index` on the handles.
//!
//! # Invariants
//!
//! * An [`Entry`] is a record, not a position: `entry(key)` reads nothing
//!   and locks nothing; it holds the map, the key and the modification.
//! * Each terminal call (`or_*`) is exactly one call of a public atomic
//!   operation of the map: `get_or_insert_with` when there is no
//!   `and_modify`, `compute` when there is. Never a read followed by a
//!   write, so no write of another thread can fall between them.
//! * `compute`'s closure here always answers a value, so an entry never
//!   removes a key.
//! * Every user closure runs inside the map's own closure (`make` of
//!   `get_or_insert_with`, `f` of `compute`), so it is under the map's
//!   recursive-update mark (`src/reentry.rs`): a write to the same map from
//!   it panics on std builds instead of retrying forever.
//!
//! # Why the maps do not implement `Index`
//!
//! `Index::index(&self, key) -> &V` must answer a reference that lives as
//! long as the borrow of the map. In a lock-free map with reclamation a
//! value is only pinned in memory while a [`Guard`](crate::Guard) that
//! found it lives: a concurrent `remove` or `insert` of the key retires the
//! node, and kovan frees it once no guard that could have seen it remains.
//! `index` could only hold a guard by leaking it (every thread's retired
//! memory would then be held back for as long as the thread lives) or by
//! dropping it before it returns (then the `&V` may dangle while `&map`
//! still lives: unsound). The map's borrow says nothing about reclamation,
//! so there is no sound `Index` on the maps, and they have none:
//!
//! ```compile_fail,E0608
//! let map = kovan_map::HashMap::with_capacity(8);
//! map.insert(1, "one");
//! // error[E0608]: cannot index into a value of type `HashMap<..>`: a
//! // reference tied to `&map` could outlive the node a concurrent remove
//! // retires.
//! let one: &&str = &map[&1];
//! ```
//!
//! What to use instead: `map.get(&k)` (a clone), or `map.pin().get(&k)` (a
//! reference valid while the handle lives). The handles do have `Index`,
//! because there the reference is tied to the handle, which holds the guard:
//! `map.pin()[&k]` is `*map.pin().get(&k).unwrap()` (it panics if the key
//! is absent, as std's `HashMap` does), and needs no `unsafe` of its own.
//!
//! ```
//! let map = kovan_map::HopscotchMap::with_capacity(8);
//! map.insert(1, String::from("one"));
//! let m = map.pin();
//! assert_eq!(m[&1], "one");
//! ```

use crate::hash_map;
use crate::hopscotch;
use crate::{HashMap, HopscotchMap};
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use core::ops::Index;

mod sealed {
    /// Only the crate's maps and handles implement [`super::EntryMap`].
    pub trait Sealed {}

    /// Only this crate can call [`super::EntryMap`]'s methods.
    #[derive(Clone, Copy)]
    pub struct Token(pub(super) ());
}

use sealed::Token;

/// What [`Entry`] works on: [`HashMap`], [`HopscotchMap`], and their
/// [`Pinned`](hash_map::Pinned) handles (sealed: implemented for these four
/// only).
///
/// On a map, an entry's terminal call answers a clone of the value now in
/// the map (`Answer<'a> = V`, so `V: Clone`); on a handle, a reference to
/// it, valid while the handle lives (`Answer<'a> = &'a V`, no `Clone`
/// needed except for `and_modify`).
pub trait EntryMap: sealed::Sealed {
    /// The map's key type.
    type Key;
    /// The map's value type.
    type Value;
    /// What a terminal call answers: `V` for a map, `&'a V` for a handle.
    type Answer<'a>
    where
        Self: 'a;

    /// `get_or_insert_with` of the map or handle.
    #[doc(hidden)]
    fn entry_get_or_insert_with<'a>(
        &'a self,
        _: Token,
        key: Self::Key,
        make: impl FnOnce() -> Self::Value,
    ) -> Self::Answer<'a>;

    /// `compute` of the map or handle, with a closure that always answers a
    /// value (so it inserts or replaces, never removes).
    #[doc(hidden)]
    fn entry_upsert<'a>(
        &'a self,
        _: Token,
        key: Self::Key,
        next: impl FnMut(Option<&Self::Value>) -> Self::Value,
    ) -> Self::Answer<'a>;
}

/// `Sealed` and `EntryMap` for `$Self` (a map, or a `Pinned` handle, of
/// generics `$gen`), through its public `get_or_insert_with` and `compute`,
/// which answer `$Answer` (a clone for a map, a reference for a handle).
macro_rules! entry_map_impl {
    (
        [$($gen:tt)*] $Self:ty,
        V: [$($value_bound:tt)*],
        Answer<'a> = $Answer:ty
    ) => {
        impl<$($gen)*> sealed::Sealed for $Self
        where
            K: 'static,
            V: 'static,
        {
        }

        impl<$($gen)*> EntryMap for $Self
        where
            K: Hash + Eq + Send + 'static,
            V: $($value_bound)*,
            S: BuildHasher,
        {
            type Key = K;
            type Value = V;
            type Answer<'a> = $Answer where Self: 'a;

            fn entry_get_or_insert_with(
                &self,
                _: Token,
                key: K,
                make: impl FnOnce() -> V,
            ) -> Self::Answer<'_> {
                // LINEARIZATION(entry): this call's; the insert's publication
                // of the key (absent), or the search load that found it live.
                self.get_or_insert_with(key, make)
            }

            fn entry_upsert(
                &self,
                _: Token,
                key: K,
                mut next: impl FnMut(Option<&V>) -> V,
            ) -> Self::Answer<'_> {
                // LINEARIZATION(entry): this call's; the CAS of its
                // successful attempt (the push of an absent key, or the
                // replacement of a present one).
                self.compute(key, |present| Some(next(present)))
                    .expect("a compute whose closure answers a value leaves one")
            }
        }
    };
}

/// `EntryMap` for a map type (answers clones) and its `Pinned` handle
/// (answers references), and the `entry` method of each, with the docs
/// given.
macro_rules! entry_map {
    (
        $Map:ident, $pinned:path $(, const $H:ident)?;
        $(#[$map_entry:meta])* map fn entry;
        $(#[$pinned_entry:meta])* pinned fn entry;
    ) => {
        entry_map_impl!(
            [K, V, S $(, const $H: usize)?] $Map<K, V, S $(, $H)?>,
            V: [Send + Clone + 'static],
            Answer<'a> = V
        );

        impl<K, V, S $(, const $H: usize)?> $Map<K, V, S $(, $H)?>
        where
            K: Hash + Eq + Send + 'static,
            V: Send + Clone + 'static,
            S: BuildHasher,
        {
            $(#[$map_entry])*
            pub fn entry(&self, key: K) -> Entry<'_, Self> {
                Entry::new(self, key)
            }
        }

        entry_map_impl!(
            ['m, K, V, S $(, const $H: usize)?] $pinned,
            V: [Send + 'static],
            Answer<'a> = &'a V
        );

        impl<'m, K, V, S $(, const $H: usize)?> $pinned
        where
            K: Hash + Eq + Send + 'static,
            V: Send + 'static,
            S: BuildHasher,
        {
            $(#[$pinned_entry])*
            pub fn entry(&self, key: K) -> Entry<'_, Self> {
                Entry::new(self, key)
            }
        }

        impl<'m, K, Q, V, S $(, const $H: usize)?> Index<&Q> for $pinned
        where
            K: Borrow<Q> + Hash + Eq + 'static,
            Q: Hash + Eq + ?Sized,
            V: 'static,
            S: BuildHasher,
        {
            type Output = V;

            /// The value of `key`, borrowed for as long as the handle:
            /// `*self.get(key).unwrap()`, with no `unsafe` (the handle's
            /// guard is what keeps the node, see the module doc of
            /// `src/entry.rs`, and the maps have no `Index`).
            ///
            /// # Panics
            ///
            /// If `key` is absent.
            ///
            /// # Linearizability
            ///
            /// As the handle's `get`: the load that found the key's entry
            /// live.
            fn index(&self, key: &Q) -> &V {
                // LINEARIZATION(index): inside `get` (its `LINEARIZATION(get)`).
                self.get(key).expect("kovan_map: no entry found for key")
            }
        }
    };
}

entry_map! {
    HashMap, hash_map::Pinned<'m, K, V, S>;

    /// An [`Entry`] for `key`: a pending upsert, run as one atomic operation
    /// by its terminal call, which answers a clone of the value now in the
    /// map. Reads and writes nothing by itself.
    ///
    /// # Linearizability
    ///
    /// None of its own: the terminal call's (see [`Entry::or_insert`]).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// assert_eq!(map.entry(1).and_modify(|v| *v += 1).or_insert(1), 1);
    /// assert_eq!(map.entry(1).and_modify(|v| *v += 1).or_insert(1), 2);
    /// ```
    map fn entry;

    /// An [`Entry`] for `key` whose terminal call answers a reference to the
    /// value now in the map, valid while this handle lives (no `Clone`
    /// needed, except by [`Entry::and_modify`]).
    ///
    /// # Linearizability
    ///
    /// None of its own: the terminal call's (see [`Entry::or_insert`]).
    ///
    /// ```
    /// use std::sync::Mutex;
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// let m = map.pin();
    /// let list = m.entry("log").or_insert_with(|| Mutex::new(Vec::new()));
    /// list.lock().unwrap().push(1);
    /// assert_eq!(*m["log"].lock().unwrap(), [1]);
    /// ```
    pinned fn entry;
}

entry_map! {
    HopscotchMap, hopscotch::Pinned<'m, K, V, S, H>, const H;

    /// An [`Entry`] for `key`: a pending upsert, run as one atomic operation
    /// by its terminal call, which answers a clone of the value now in the
    /// map. Reads and writes nothing by itself.
    ///
    /// # Linearizability
    ///
    /// None of its own: the terminal call's (see [`Entry::or_insert`]).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// assert_eq!(map.entry(1).and_modify(|v| *v += 1).or_insert(1), 1);
    /// assert_eq!(map.entry(1).and_modify(|v| *v += 1).or_insert(1), 2);
    /// ```
    map fn entry;

    /// An [`Entry`] for `key` whose terminal call answers a reference to the
    /// value now in the map, valid while this handle lives (no `Clone`
    /// needed, except by [`Entry::and_modify`]).
    ///
    /// # Linearizability
    ///
    /// None of its own: the terminal call's (see [`Entry::or_insert`]).
    ///
    /// ```
    /// use std::sync::Mutex;
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// let m = map.pin();
    /// let list = m.entry("log").or_insert_with(|| Mutex::new(Vec::new()));
    /// list.lock().unwrap().push(1);
    /// assert_eq!(*m["log"].lock().unwrap(), [1]);
    /// ```
    pinned fn entry;
}

/// The four terminal calls of an [`Entry`] (`or_insert`, `or_insert_with`,
/// `or_insert_with_key`, `or_default`), with the docs given: each hands the
/// default's maker to `$finish`, the one atomic operation of the entry
/// (`get_or_insert_with` unmodified, `compute` modified).
macro_rules! terminal_calls {
    (
        finish: $finish:ident;
        $(#[$or_insert:meta])* fn or_insert;
        $(#[$or_insert_with:meta])* fn or_insert_with;
        $(#[$or_insert_with_key:meta])* fn or_insert_with_key;
        $(#[$or_default:meta])* fn or_default;
    ) => {
        $(#[$or_insert])*
        pub fn or_insert(self, value: M::Value) -> M::Answer<'a> {
            self.$finish(move || value)
        }

        $(#[$or_insert_with])*
        pub fn or_insert_with<D>(self, make: D) -> M::Answer<'a>
        where
            D: FnOnce() -> M::Value,
        {
            self.$finish(make)
        }

        $(#[$or_insert_with_key])*
        pub fn or_insert_with_key<D>(self, make: D) -> M::Answer<'a>
        where
            D: FnOnce(&M::Key) -> M::Value,
            M::Key: Clone,
        {
            let key = self.key.clone();
            self.$finish(move || make(&key))
        }

        $(#[$or_default])*
        pub fn or_default(self) -> M::Answer<'a>
        where
            M::Value: Default,
        {
            self.$finish(M::Value::default)
        }
    };
}

/// Marks an [`Entry`] without [`and_modify`](Entry::and_modify): a present
/// value is left as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Unmodified;

/// A pending upsert of one key, from `entry(key)` on a map or on a
/// [`Pinned`](hash_map::Pinned) handle; nothing happens until one of its
/// terminal calls (`or_insert`, `or_insert_with`, `or_insert_with_key`,
/// `or_default`), which runs as **one** atomic operation of the map.
///
/// ```
/// use kovan_map::HashMap;
///
/// let map = HashMap::with_capacity(8);
/// // Count words: insert 1, or add one to the present count.
/// for word in ["a", "b", "a"] {
///     map.entry(word).and_modify(|n| *n += 1).or_insert(1);
/// }
/// assert_eq!(map.get("a"), Some(2));
/// assert_eq!(map.get("b"), Some(1));
/// ```
///
/// # What is different from dashmap
///
/// * **No lock, no guard on the entry.** dashmap's `entry` write-locks the
///   key's shard and answers `Occupied` or `Vacant` while holding it; here
///   `entry(key)` only records the key, and which case applies is decided
///   inside the terminal call's atomic operation (no `Occupied`/`Vacant`
///   enum: without a lock the answer could be stale before you acted on it;
///   for a decision of your own on the present value use `compute`).
/// * **The answer is a snapshot, not a `RefMut`.** On a map it is a clone
///   of the value now in the map; on a handle a `&V` into it. Values are
///   immutable once published (a replacement is a new copy), so
///   `*map.entry(k).or_insert(0) += 1` does not compile here (it would only
///   change a copy); write `map.entry(k).and_modify(|v| *v += 1).or_insert(1)`,
///   or keep an atomic as the value:
///
///   ```compile_fail,E0614
///   let map = kovan_map::HashMap::with_capacity(8);
///   // error: `or_insert` answers a `u64`, not a place in the map.
///   *map.entry("hits").or_insert(0u64) += 1;
///   ```
/// * **`and_modify` copies, and may run more than once.** Its closure gets
///   `&mut` to a clone of the present value (so `V: Clone`), and the map
///   publishes the modified clone in its place. Under contention (another
///   thread writes the key between this call's read and its CAS) the call
///   retries and the closure runs again on the value then present; so it is
///   `FnMut`, and its side effects (other than on its argument) may repeat.
///   Exactly one of its runs is the one that takes effect.
/// * **Closures must not write to the same map** (no lock to deadlock on,
///   but a write would make the call retry forever): on std builds that
///   panics with "recursive update". Reading the map, or writing another
///   map, is fine.
/// * **`or_insert_with`'s `make` runs at most once**, and only if the key
///   was seen absent; its value may still be dropped unused, if a
///   concurrent insert of the key wins (the answer is then the winner's
///   value, modified if there is an `and_modify`).
/// * **No `Index` on the maps** (a `&V` tied to `&map` would outlive
///   reclamation): use `map.get(&k)`, `map.pin().get(&k)`, or `map.pin()[&k]`.
#[must_use = "an entry does nothing until one of its `or_*` calls"]
pub struct Entry<'a, M: EntryMap, F = Unmodified> {
    map: &'a M,
    key: M::Key,
    modify: F,
}

impl<M: EntryMap, F> core::fmt::Debug for Entry<'_, M, F>
where
    M::Key: core::fmt::Debug,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl<'a, M: EntryMap, F> Entry<'a, M, F> {
    /// The entry's key.
    ///
    /// ```
    /// let map: kovan_map::HashMap<&str, u32> = kovan_map::HashMap::with_capacity(8);
    /// assert_eq!(*map.entry("k").key(), "k");
    /// ```
    pub fn key(&self) -> &M::Key {
        &self.key
    }
}

impl<'a, M: EntryMap> Entry<'a, M> {
    fn new(map: &'a M, key: M::Key) -> Self {
        Entry {
            map,
            key,
            modify: Unmodified,
        }
    }

    /// Modifies a present value: `f` gets `&mut` to a clone of it, and the
    /// terminal call publishes the clone in its place (copy-on-write; so
    /// `V: Clone`). If the key is absent, the terminal call inserts its
    /// default, unmodified. `f` may run more than once (once per attempt
    /// that finds the key present; see the type's docs); it runs inside the
    /// terminal call, not here. The terminal call's default is then made
    /// once and cloned for each attempt that finds the key absent (a failed
    /// attempt consumes the value it tried to publish).
    ///
    /// # Linearizability
    ///
    /// None of its own (it only records `f`): the terminal call's, one
    /// `compute` (see [`or_insert`](Entry::or_insert) of a modified entry).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(8);
    /// map.insert("v", vec![1]);
    /// let now = map.entry("v").and_modify(|v| v.push(2)).or_default();
    /// assert_eq!(now, [1, 2]);
    /// assert_eq!(map.entry("w").and_modify(|v| v.push(2)).or_default(), Vec::<i32>::new());
    /// ```
    pub fn and_modify<F>(self, f: F) -> Entry<'a, M, F>
    where
        F: FnMut(&mut M::Value),
        M::Value: Clone,
    {
        Entry {
            map: self.map,
            key: self.key,
            modify: f,
        }
    }

    /// The one `get_or_insert_with` of an entry without `and_modify`.
    fn insert_absent(self, make: impl FnOnce() -> M::Value) -> M::Answer<'a> {
        self.map.entry_get_or_insert_with(Token(()), self.key, make)
    }

    terminal_calls! {
        finish: insert_absent;

        /// The present value, or `value` inserted; answered as a clone (on a
        /// map) or a reference (on a handle).
        ///
        /// # Linearizability
        ///
        /// One call of the map's `get_or_insert_with`, and its point: absent,
        /// the publication of the new key's entry (`HashMap`: the push marked
        /// `LINEARIZATION(insert_if_absent)`; `HopscotchMap`: the showing of
        /// its committed entry, as a new key's `insert`); present, the search's
        /// load that found the key's entry live.
        ///
        /// ```
        /// let map = kovan_map::HashMap::with_capacity(8);
        /// assert_eq!(map.entry(1).or_insert("a"), "a");
        /// assert_eq!(map.entry(1).or_insert("b"), "a"); // present: unchanged
        /// ```
        fn or_insert;

        /// The present value, or `make()` inserted. `make` runs at most once,
        /// and only if the key was absent when looked up.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `get_or_insert_with`.
        ///
        /// ```
        /// let map = kovan_map::HopscotchMap::with_capacity(8);
        /// assert_eq!(map.entry(1).or_insert_with(|| "made".to_string()), "made");
        /// let again = map.entry(1).or_insert_with(|| unreachable!("present"));
        /// assert_eq!(again, "made");
        /// ```
        fn or_insert_with;

        /// The present value, or `make(&key)` inserted. The key moves into the
        /// map's operation, so `make` sees a clone of it (`K: Clone`; the clone
        /// is made before the call, present or not). `make` runs at most once.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `get_or_insert_with`.
        ///
        /// ```
        /// let map = kovan_map::HashMap::with_capacity(8);
        /// assert_eq!(map.entry("abc").or_insert_with_key(|k| k.len()), 3);
        /// ```
        fn or_insert_with_key;

        /// The present value, or `V::default()` inserted.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `get_or_insert_with`.
        ///
        /// ```
        /// use std::sync::atomic::{AtomicU64, Ordering};
        /// // On a handle no `Clone` is needed: an atomic counter per key.
        /// let map: kovan_map::HashMap<&str, AtomicU64> = kovan_map::HashMap::with_capacity(8);
        /// let m = map.pin();
        /// m.entry("hits").or_default().fetch_add(1, Ordering::Relaxed);
        /// m.entry("hits").or_default().fetch_add(1, Ordering::Relaxed);
        /// assert_eq!(m[&"hits"].load(Ordering::Relaxed), 2);
        /// ```
        fn or_default;
    }
}

impl<'a, M, F> Entry<'a, M, F>
where
    M: EntryMap,
    M::Value: Clone,
    F: FnMut(&mut M::Value),
{
    /// The one `compute` of a modified entry: a present value is cloned and
    /// modified, an absent key gets `make()`, made at most once (kept, and
    /// cloned for each attempt, since a failed attempt consumes its value).
    fn upsert(self, make: impl FnOnce() -> M::Value) -> M::Answer<'a> {
        let Entry {
            map,
            key,
            mut modify,
        } = self;
        let mut make = Some(make);
        let mut made: Option<M::Value> = None;
        map.entry_upsert(Token(()), key, |present| match present {
            Some(value) => {
                let mut next = value.clone();
                modify(&mut next);
                next
            }
            None => made
                .get_or_insert_with(|| make.take().expect("made at most once")())
                .clone(),
        })
    }

    terminal_calls! {
        finish: upsert;

        /// The present value modified, or `value` inserted; answered as a clone
        /// (on a map) or a reference (on a handle) of the value now in the map.
        ///
        /// # Linearizability
        ///
        /// One call of the map's `compute`, and its point: the CAS of the
        /// attempt that succeeds (`HashMap`: the push of an absent key,
        /// `LINEARIZATION(compute)`, or the `REPLACED` tag of the present
        /// node, `LINEARIZATION(insert)`; `HopscotchMap`: the showing of a new
        /// key's entry, or the replacement CAS, `LINEARIZATION(insert)`). The
        /// modification is applied to the value that this CAS replaces, so no
        /// concurrent write of the key is lost.
        ///
        /// ```
        /// let map = kovan_map::HashMap::with_capacity(8);
        /// assert_eq!(map.entry("n").and_modify(|n| *n *= 10).or_insert(1), 1);
        /// assert_eq!(map.entry("n").and_modify(|n| *n *= 10).or_insert(1), 10);
        /// ```
        fn or_insert;

        /// The present value modified, or `make()` inserted. `make` runs at
        /// most once, and only if an attempt found the key absent.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `compute`.
        ///
        /// ```
        /// let map = kovan_map::HopscotchMap::with_capacity(8);
        /// let s = map.entry(1).and_modify(|s: &mut String| s.push('!')).or_insert_with(|| "hi".into());
        /// assert_eq!(s, "hi");
        /// let s = map.entry(1).and_modify(|s| s.push('!')).or_insert_with(|| "hi".into());
        /// assert_eq!(s, "hi!");
        /// ```
        fn or_insert_with;

        /// The present value modified, or `make(&key)` inserted (`make` sees a
        /// clone of the key: `K: Clone`). `make` runs at most once.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `compute`.
        ///
        /// ```
        /// let map = kovan_map::HashMap::with_capacity(8);
        /// let len = |k: &&str| k.len();
        /// assert_eq!(map.entry("abc").and_modify(|n| *n += 1).or_insert_with_key(len), 3);
        /// assert_eq!(map.entry("abc").and_modify(|n| *n += 1).or_insert_with_key(len), 4);
        /// ```
        fn or_insert_with_key;

        /// The present value modified, or `V::default()` inserted.
        ///
        /// # Linearizability
        ///
        /// As [`or_insert`](Self::or_insert): one `compute`.
        ///
        /// ```
        /// let map: kovan_map::HopscotchMap<&str, u32> = kovan_map::HopscotchMap::with_capacity(8);
        /// let m = map.pin();
        /// assert_eq!(m.entry("n").and_modify(|n| *n += 1).or_default(), &0);
        /// assert_eq!(m.entry("n").and_modify(|n| *n += 1).or_default(), &1);
        /// ```
        fn or_default;
    }
}
