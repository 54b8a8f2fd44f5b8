//! The hopscotch map: open addressing with neighbourhoods of `H` slots, a
//! hop bitmap and a relocation counter per home bucket, lock-free
//! displacement, an overflow list per home for keys whose neighbourhood is
//! full while the table is sparse, and lock-free, cooperative resizing.
//!
//! The protocol lives beside this file: `entry.rs` (what a slot points at),
//! `table.rs` (neighbourhoods, home words, displacement), `overflow.rs` (the
//! per-home lists), `resize.rs` (migration), `iter.rs` (iteration). This
//! file is the public API: it finds the table an operation works in and
//! composes the table's steps. docs/hopscotch.md tells the whole story.
//!
//! # Invariants
//!
//! * The map links one table, its *root*; while a resize runs, the root's
//!   `next` links the table it migrates into. Only the root starts a resize,
//!   so at most two tables are live.
//! * A writer works in the root unless a migration is under way; then it
//!   first copies its key's chunk (and helps with others) and works in the
//!   new table. So an operation on a key in the new table always follows the
//!   copy of the key's old entry.
//! * The length stripes sum to (live keys) + (inserts counted early) −
//!   (removes counted early): each successful insert of a new key adds one
//!   just after its commit, each removal subtracts one just after its
//!   linearization point. A migration moves entries without counting.

mod entry;
mod iter;
mod overflow;
#[cfg(feature = "rayon")]
pub mod par;
mod pinned;
mod resize;
mod std_like;
mod table;

pub use iter::{HopscotchIntoIter, HopscotchIter, HopscotchKeys, HopscotchValues};
pub use pinned::{Pinned, PinnedIter};

use crate::payload::{Claim, Pending};
use crate::reclaim::{self, Guard, Link, Shared};
use crate::sync::{self, AtomicIsize, Ordering};
use crate::{CapacityError, DefaultHashBuilder};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use entry::{Entry, DELETED, PENDING};
use table::{Found, Place, Reserve, Search, Table, BITMAP, MAX_NEIGHBOURHOOD, OVERFLOW};

/// Slots of a map made by [`HopscotchMap::new`] (or `with_hasher`,
/// `default`): 64, about 1.5 KiB of table. `with_capacity(n)` gives the
/// least power of two of at least `n` slots, however small; a map never
/// shrinks below the capacity it was made with.
pub const DEFAULT_CAPACITY: usize = 64;

/// The most slots a map may ask for (2^(pointer width − 4)).
pub const MAX_CAPACITY: usize = 1 << (usize::BITS - 4);

/// Stripes of the length counter, indexed by hash bits.
#[cfg(not(kovan_map_loom))]
const STRIPES: usize = 16;
#[cfg(kovan_map_loom)]
const STRIPES: usize = 2;

/// A counter stripe on its own cache line.
#[repr(align(128))]
struct Stripe(AtomicIsize);

/// A lock-free concurrent hash map with hopscotch hashing that grows and
/// shrinks.
///
/// Every key lives within `H` slots of its home bucket (its
/// *neighbourhood*; `H` = 32 by default, 1 to 32), found through the home's
/// hop bitmap, so a lookup reads one home word and, usually, one or two
/// slots. An insert whose free slot is too far away moves other entries
/// closer (displacement) without a lock; a reader racing a displacement
/// rescans when the home's relocation counter moved. The table doubles when
/// it is more than 3/4 full (or a neighbourhood cannot take a key while it
/// is at least half full) and halves when it is less than 1/4 full, never
/// below the capacity it was made with; the copy is shared among the
/// threads that meet it, a chunk at a time. Keys whose neighbourhood is full
/// of keys of the same home go to a per-home overflow list, so many keys
/// with one hash cost memory linear in their number.
///
/// Every operation takes `&self`: share the map with `Arc` or a scoped
/// thread. No operation takes a lock or waits for another thread; every
/// single-key operation is linearizable, including while the table is being
/// resized, and each documents the atomic step at which it takes effect.
/// Values are returned as clones (`V: Clone`); [`get_ref`](Self::get_ref)
/// borrows instead, under a [`Guard`].
///
/// # Examples
///
/// ```
/// use kovan_map::HopscotchMap;
/// use std::sync::Arc;
/// use std::thread;
///
/// let map = Arc::new(HopscotchMap::new());
/// let start = map.capacity();
/// let handles: Vec<_> = (0..4u64)
///     .map(|t| {
///         let map = Arc::clone(&map);
///         thread::spawn(move || {
///             for i in 0..1000 {
///                 map.insert(t * 1000 + i, i * 2);
///             }
///         })
///     })
///     .collect();
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// assert_eq!(map.len(), 4000);
/// assert!(map.capacity() > start); // it grew
/// assert_eq!(map.get(&3005), Some(10));
/// assert_eq!(map.remove(&3005), Some(10));
/// assert_eq!(map.get(&3005), None);
/// ```
///
/// A map of values that are not `Send` cannot cross threads:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<kovan_map::HopscotchMap<u64, std::rc::Rc<u64>>>();
/// ```
pub struct HopscotchMap<K: 'static, V: 'static, S = DefaultHashBuilder, const H: usize = 32> {
    root: Link<Table<K, V>>,
    /// The capacity the map was made with: it never shrinks below it.
    minimum: usize,
    len: Box<[Stripe]>,
    hasher: S,
}

// SAFETY: the map owns its keys and values; moving it moves them.
unsafe impl<K: Send, V: Send, S: Send, const H: usize> Send for HopscotchMap<K, V, S, H> {}
// SAFETY: through `&HopscotchMap` a thread reads `&K`/`&V` (needs `Sync`),
// clones values, and inserts or removes entries that another thread may drop
// (needs `Send`).
unsafe impl<K: Send + Sync, V: Send + Sync, S: Sync, const H: usize> Sync
    for HopscotchMap<K, V, S, H>
{
}

impl<K: 'static, V: 'static> HopscotchMap<K, V, DefaultHashBuilder> {
    /// An empty map of [`DEFAULT_CAPACITY`] slots with a hasher seeded for
    /// this map alone.
    ///
    /// ```
    /// let map: kovan_map::HopscotchMap<u64, u64> = kovan_map::HopscotchMap::new();
    /// assert_eq!(map.capacity(), kovan_map::hopscotch::DEFAULT_CAPACITY);
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// An empty map of at least `slots` slots (rounded up to a power of
    /// two, at least one). It never shrinks below that. Unlike
    /// [`new`](HopscotchMap::new), it does not round up to
    /// [`DEFAULT_CAPACITY`]: the model suites run on maps of 2 and 4 slots.
    ///
    /// # Panics
    ///
    /// If `slots` exceeds [`MAX_CAPACITY`] or the table cannot be allocated;
    /// [`try_with_capacity`](Self::try_with_capacity) returns the error
    /// instead.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(3);
    /// assert_eq!(map.capacity(), 4);
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// assert!(map.capacity() >= 128); // grew past a load of 3/4
    /// map.clear();
    /// assert_eq!(map.capacity(), 4); // and never below its start
    /// ```
    pub fn with_capacity(slots: usize) -> Self {
        Self::with_capacity_and_hasher(slots, DefaultHashBuilder::default())
    }

    /// As [`with_capacity`](Self::with_capacity), returning a
    /// [`CapacityError`] instead of panicking.
    ///
    /// ```
    /// use kovan_map::{CapacityError, HopscotchMap};
    /// assert!(HopscotchMap::<u64, u64>::try_with_capacity(64).is_ok());
    /// assert!(matches!(
    ///     HopscotchMap::<u64, u64>::try_with_capacity(usize::MAX),
    ///     Err(CapacityError::TooLarge { .. })
    /// ));
    /// ```
    pub fn try_with_capacity(slots: usize) -> Result<Self, CapacityError> {
        Self::try_with_capacity_and_hasher(slots, DefaultHashBuilder::default())
    }
}

impl<K: 'static, V: 'static, S: Default, const H: usize> Default for HopscotchMap<K, V, S, H> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// An empty map of [`DEFAULT_CAPACITY`] slots with the given hasher.
    ///
    /// ```
    /// use kovan_map::HopscotchMap;
    /// use std::hash::RandomState;
    ///
    /// // Name the type: `H` (32 by default) is not inferred.
    /// let map: HopscotchMap<u64, &str, _> = HopscotchMap::with_hasher(RandomState::new());
    /// map.insert(1, "one");
    /// assert_eq!(map.get(&1), Some("one"));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_capacity_and_hasher(DEFAULT_CAPACITY, hasher)
    }

    /// An empty map of at least `slots` slots and the given hasher.
    ///
    /// # Panics
    ///
    /// If `slots` exceeds [`MAX_CAPACITY`] or the table cannot be allocated.
    ///
    /// The neighbourhood `H` (1 to 32 slots, checked at compile time) is
    /// the type's last parameter:
    ///
    /// ```
    /// use kovan_map::{DefaultHashBuilder, HopscotchMap};
    ///
    /// let map: HopscotchMap<u64, u64, DefaultHashBuilder, 4> =
    ///     HopscotchMap::with_capacity_and_hasher(8, DefaultHashBuilder::default());
    /// for i in 0..20 {
    ///     map.insert(i, i * i);
    /// }
    /// assert_eq!(map.get(&7), Some(49));
    /// assert_eq!(map.len(), 20);
    /// ```
    pub fn with_capacity_and_hasher(slots: usize, hasher: S) -> Self {
        match Self::try_with_capacity_and_hasher(slots, hasher) {
            Ok(map) => map,
            Err(error) => panic!("kovan_map::HopscotchMap::with_capacity: {error}"),
        }
    }

    /// As [`with_capacity_and_hasher`](Self::with_capacity_and_hasher),
    /// returning a [`CapacityError`] instead of panicking.
    ///
    /// ```
    /// use kovan_map::{CapacityError, HopscotchMap};
    /// use std::hash::RandomState;
    ///
    /// let map: HopscotchMap<u64, u64, _> =
    ///     HopscotchMap::try_with_capacity_and_hasher(16, RandomState::new()).unwrap();
    /// assert_eq!(map.capacity(), 16);
    /// let too_big = HopscotchMap::<u64, u64, _>::try_with_capacity_and_hasher(
    ///     kovan_map::hopscotch::MAX_CAPACITY + 1,
    ///     RandomState::new(),
    /// );
    /// assert!(matches!(too_big, Err(CapacityError::TooLarge { .. })));
    /// ```
    pub fn try_with_capacity_and_hasher(slots: usize, hasher: S) -> Result<Self, CapacityError> {
        const {
            assert!(
                H >= 1 && H <= MAX_NEIGHBOURHOOD,
                "HopscotchMap: the neighbourhood H must be 1 to 32 slots"
            );
        }
        if slots > MAX_CAPACITY {
            return Err(CapacityError::TooLarge {
                requested: slots,
                max: MAX_CAPACITY,
            });
        }
        let n = slots.max(1).next_power_of_two();
        let table = Table::allocate(n, H).map_err(|_| CapacityError::AllocFailed { buckets: n })?;
        let mut len = Vec::new();
        len.resize_with(STRIPES, || Stripe(AtomicIsize::new(0)));
        Ok(Self {
            root: Link::new(table),
            minimum: n,
            len: len.into_boxed_slice(),
            hasher,
        })
    }

    /// The number of slots of the current table. It changes as the map
    /// grows and shrinks (while a resize runs, the table being copied).
    ///
    /// # Linearizability
    ///
    /// One load of the root table: its size at that instant, which a
    /// concurrent insert or removal may change right after (by finishing a
    /// resize).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(4);
    /// assert_eq!(map.capacity(), 4);
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// assert!(map.capacity() >= 128);
    /// ```
    pub fn capacity(&self) -> usize {
        let guard = reclaim::pin();
        self.root_table(&guard).size()
    }

    /// The number of entries.
    ///
    /// Exact whenever no write is in flight, resizes included (a migration
    /// moves entries without counting them). While writes run it is the sum
    /// of counters each write updates just after its linearization point,
    /// so it may lag behind by the writes in flight; it is never negative.
    ///
    /// # Linearizability
    ///
    /// Not a linearizable snapshot: while writes run, it may answer a length
    /// the map never had at any one instant. It reads the counter stripes one
    /// after another, and each insert of a new key or removal updates one
    /// stripe just after its linearization point (a replacement or a
    /// migration updates none), so the answer differs from the map's length
    /// at any instant of the call by at most the number of such writes that
    /// overlap the call. With none in flight it is exact.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(4);
    /// for i in 0..10 {
    ///     map.insert(i, i); // the table grows meanwhile
    /// }
    /// map.insert(3, 30); // a replacement
    /// assert_eq!(map.len(), 10);
    /// ```
    pub fn len(&self) -> usize {
        let sum: isize = self
            .len
            .iter()
            .map(|stripe| stripe.0.load(Ordering::Relaxed))
            .fold(0isize, isize::wrapping_add);
        sum.max(0) as usize
    }

    /// Whether [`len`](Self::len) is zero.
    ///
    /// # Linearizability
    ///
    /// As [`len`](Self::len): not a snapshot while writes run; exact when
    /// none is in flight.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// assert!(map.is_empty());
    /// map.insert(1, 1);
    /// assert!(!map.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map's hasher.
    ///
    /// ```
    /// use std::hash::{BuildHasher, RandomState};
    ///
    /// let hasher = RandomState::new();
    /// let map: kovan_map::HopscotchMap<u64, u64, _> =
    ///     kovan_map::HopscotchMap::with_capacity_and_hasher(8, hasher.clone());
    /// assert_eq!(map.hasher().hash_one(7u64), hasher.hash_one(7u64));
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Enters a critical section on this map: a [`Pinned`] handle whose
    /// methods borrow keys and values instead of cloning them (no `Clone`
    /// bound anywhere), valid until the handle is dropped. It derefs to the
    /// [`Guard`] that [`get_ref`](Self::get_ref) takes. Hold it briefly:
    /// memory that any thread retires while it lives is not reclaimed.
    ///
    /// ```
    /// use kovan_map::HopscotchMap;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let words: HopscotchMap<&str, AtomicU64> = HopscotchMap::with_capacity(64);
    /// for word in "a b a c a".split(' ') {
    ///     let m = words.pin();
    ///     m.get_or_insert_with(word, || AtomicU64::new(0))
    ///         .fetch_add(1, Ordering::Relaxed);
    /// }
    /// assert_eq!(words.pin().get("a").map(|n| n.load(Ordering::Relaxed)), Some(3));
    /// ```
    pub fn pin(&self) -> Pinned<'_, K, V, S, H> {
        Pinned {
            map: self,
            guard: reclaim::pin(),
        }
    }

    fn count(&self, hash: u64, delta: isize) {
        let stripe = (hash >> 56) as usize % STRIPES;
        // ORDERING: Relaxed: the counter orders nothing; `len` is exact only
        // once the writes are complete and visible (joined).
        self.len[stripe].0.fetch_add(delta, Ordering::Relaxed);
    }

    /// The root table's word.
    fn root_word<'g>(&self, guard: &'g Guard) -> Shared<'g, Table<K, V>> {
        // ORDERING: Acquire pairs with the CAS that made it the root (a
        // finished migration's, whose copies it carries) or with the map's
        // construction (`&self` was shared after it).
        self.root.load(Ordering::Acquire, guard)
    }

    fn root_table<'g>(&self, guard: &'g Guard) -> &'g Table<K, V> {
        // SAFETY: the root is never null while the map is shared, and was
        // loaded under `guard` while linked.
        unsafe { self.root_word(guard).deref() }
    }
}

// Reads retire nothing, so they need no `Send`: a map of `!Send` values
// can still be read on the thread that owns it.
impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + 'static,
    V: 'static,
    S: BuildHasher,
{
    fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Borrows the value of `key` under `guard`, without cloning it.
    ///
    /// # Linearizability
    ///
    /// Sees one instant of the map, at the same step as [`get`](Self::get);
    /// the reference stays valid while `guard` lives, even if the key is
    /// removed or replaced meanwhile (it then still shows the value read at
    /// that instant).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(16);
    /// map.insert("big", vec![0u8; 1024]);
    /// let guard = map.pin();
    /// assert_eq!(map.get_ref("big", &guard).map(Vec::len), Some(1024));
    /// ```
    pub fn get_ref<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // The lookup across tables is `entry_ref` (std_like.rs); its load in
        // `Table::lookup` is `LINEARIZATION(get)`.
        self.entry_ref(key, guard).map(|entry| entry.value())
    }

    /// The value of `key`, cloned.
    ///
    /// # Linearizability
    ///
    /// Sees one instant of the map, resizes included: the value of the last
    /// write of the key that took effect before it, or `None` if that write
    /// was a removal or there was none.
    ///
    /// Present: at the load of the slot (or overflow node) that returns the
    /// key's entry untagged, frozen but not yet copied, or held by a move
    /// (`LINEARIZATION(get)` in `table.rs` and `overflow.rs`); the value is
    /// that entry's, and values never change inside an entry. Absent: at the
    /// load that found the key's last entry gone, which the second read of
    /// the home word (unchanged, so no key of the home was added or moved
    /// meanwhile) confirms. During a migration a frozen home is read in the
    /// old table and, failing that, in the new one; there, the same points
    /// apply.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, String::from("one"));
    /// assert_eq!(map.get(&1), Some(String::from("one")));
    /// assert_eq!(map.get(&2), None);
    /// ```
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        V: Clone,
    {
        let guard = reclaim::pin();
        self.get_ref(key, &guard).cloned()
    }

    /// Whether `key` is present.
    ///
    /// # Linearizability
    ///
    /// Sees one instant of the map, at the same step as [`get`](Self::get).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, ());
    /// assert!(map.contains_key(&1) && !map.contains_key(&2));
    /// ```
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let guard = reclaim::pin();
        self.get_ref(key, &guard).is_some()
    }
}

// Writes retire entries, and kovan may drop a retired entry on any thread.
impl<K, V, S, const H: usize> HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// The table a writer of `hash` works in: the root, or, while the root
    /// migrates, the new table once the chunk of `hash`'s home is copied
    /// (this thread copies it, and helps with others, if need be).
    fn writable<'g>(&'g self, hash: u64, guard: &'g Guard) -> &'g Table<K, V> {
        let mut word = self.root_word(guard);
        loop {
            // SAFETY: the root, or its successor loaded while it was the
            // root, loaded under `guard`.
            let table = unsafe { word.deref() };
            // ORDERING: Acquire pairs with the CAS that published the
            // successor (its empty arrays).
            let next = table.next.load(Ordering::Acquire, guard);
            if next.is_null() {
                return table;
            }
            // Only the root migrates, and its successor is retired only after
            // it became the root and was migrated in turn: if `table` is still
            // the root now, `next` was reachable when it was read.
            let now = self.root_word(guard);
            if now != word {
                word = now;
                continue;
            }
            let home = table.home_of(hash);
            resize::help(
                &self.root,
                word,
                next,
                Some(home),
                resize::HELP_CHUNKS,
                guard,
            );
            let now = self.root_word(guard);
            // Still the root after `next` was read: `next` was reachable then.
            word = if now == word { next } else { now };
        }
    }

    /// Inserts `value` under `key`, returning the value it replaced.
    ///
    /// # Linearizability
    ///
    /// Takes effect at one instant: a concurrent `get` sees the old value or
    /// the new one, never neither, and the value returned is exactly the one
    /// replaced.
    ///
    /// A present key: the CAS that replaces its entry in its slot
    /// (`LINEARIZATION(insert)` in `replace`). A new key: the CAS that shows
    /// its committed entry (the untag, by this thread or a helper, or the
    /// migration's freeze of it), or the push of its overflow node. Its
    /// commit (the home word CAS, just before) decides that no other insert
    /// of the key can commit.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// assert_eq!(map.insert(1, "a"), None);
    /// assert_eq!(map.insert(1, "b"), Some("a"));
    /// assert_eq!(map.get(&1), Some("b"));
    /// ```
    pub fn insert(&self, key: K, value: V) -> Option<V>
    where
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "insert");
        let hash = self.hash(&key);
        let mut pending = Pending::new(key, Some(value));
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, pending.key(), &guard) {
                Search::Migrating => {}
                Search::Found(found) => {
                    if let Some(old) = self.replace(&found, &mut pending, hash, &guard) {
                        return Some(old.clone());
                    }
                }
                Search::Absent(word) => {
                    if self.insert_new(table, hash, word, &mut pending, &guard) {
                        return None;
                    }
                }
            }
            sync::hint();
        }
    }

    /// Replaces `found`'s entry by the pending entry (built on first use).
    /// The old value, or `None` if the slot changed since the search (the
    /// caller searches again). The pending entry is marked published right
    /// after the CAS, so nothing that runs later (a panic in user code
    /// included) can free it.
    fn replace<'g>(
        &self,
        found: &Found<'g, K, V>,
        pending: &mut Pending<Entry<K, V>>,
        hash: u64,
        guard: &'g Guard,
    ) -> Option<&'g V> {
        let new = Shared::from_owned(pending.node(hash), guard);
        let old = found.entry();
        // ORDERING: AcqRel. Release publishes the new entry's payload to
        // readers that acquire the slot; Acquire pairs with the CAS that put
        // the old entry there.
        // LINEARIZATION(insert): the replacement of a present key's entry
        // (also of replace_if, compare_and_swap and compute when they
        // replace).
        if !found
            .link
            .cas(found.word, new, Ordering::AcqRel, Ordering::Relaxed, guard)
        {
            return None;
        }
        pending.published();
        // SAFETY: this CAS took the old entry out of its only slot; it is
        // retired once, here (readers that loaded it hold guards).
        unsafe { reclaim::retire(found.word.ptr()) };
        Some(old.value())
    }

    /// Tags `found`'s entry `DELETED` and releases its place. False if the
    /// slot changed since the search.
    fn delete<'g>(
        &self,
        table: &'g Table<K, V>,
        found: &Found<'g, K, V>,
        guard: &'g Guard,
    ) -> bool {
        // ORDERING: AcqRel. Release: a helper that acquires the tag and
        // releases the slot publishes it onward; Acquire pairs with the CAS
        // that put the entry there.
        // LINEARIZATION(remove): the tag that marks the key's entry removed
        // (also of remove_if, compare_and_remove, force_remove, compute
        // returning None, and each removal of clear).
        if !found.link.cas(
            found.word,
            found.word.with_tag(DELETED),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            return false;
        }
        sync::pause(sync::Pause::RemoveTagged {
            overflow: matches!(found.place, Place::Overflow { .. }),
        });
        self.count(found.entry().hash(), -1);
        match found.place {
            Place::Slot { home, index } => table.release(home, index, found.word, guard),
            Place::Overflow { home, node } => overflow::kill(table.overflow(home), node, guard),
        }
        self.maybe_shrink(guard);
        true
    }

    /// Inserts the pending entry as a new key of `table`, whose home was
    /// found without it at `word`. The entry, once committed; `None` if the
    /// attempt must be retried (the key arrived, the table migrates, or room
    /// had to be made first).
    fn insert_new<'g>(
        &'g self,
        table: &'g Table<K, V>,
        hash: u64,
        word: u64,
        pending: &mut Pending<Entry<K, V>>,
        guard: &'g Guard,
    ) -> bool {
        let h = table.home_of(hash);
        let entry = Shared::from_owned(pending.node(hash), guard);
        // SAFETY: this thread allocated the entry, and no other thread can
        // retire it before it is committed: the key is read only before the
        // commit below (the retry's search), never after.
        let key = unsafe { entry.deref() }.key();
        if word & OVERFLOW != 0 {
            let list = table.overflow(h);
            let same_key = |found: &Entry<K, V>| found.matches(hash, key);
            return match overflow::insert(list, same_key, entry, guard) {
                overflow::Insert::Inserted => {
                    pending.published();
                    self.inserted(hash, guard);
                    true
                }
                _ => false,
            };
        }
        let hole = entry.with_tag(PENDING);
        match table.reserve(h, hole, guard) {
            Reserve::At(index) => {
                sync::pause(sync::Pause::InsertReserved);
                let mut word = word;
                loop {
                    // The commit: one CAS of the home word, from the word the
                    // key was found absent in. It fails if any key of the
                    // home arrived, moved or left since. From here on another
                    // thread may remove and retire the entry: it is not
                    // dereferenced again.
                    if table.commit(h, word, index) {
                        pending.published();
                        sync::pause(sync::Pause::InsertCommitted);
                        table.untag(index, hole, guard);
                        self.inserted(hash, guard);
                        return true;
                    }
                    match table.search(hash, key, guard) {
                        Search::Absent(now) if now & OVERFLOW == 0 => word = now,
                        _ => {
                            if !table.withdraw(index, hole, guard) {
                                Self::reservation_lost(pending);
                            }
                            return false;
                        }
                    }
                    sync::hint();
                }
            }
            Reserve::Full => {
                self.make_room(table, h, word, guard);
                false
            }
            Reserve::Migrating => false,
            Reserve::Lost => Self::reservation_lost(pending),
        }
    }

    /// Another thread showed this insert's uncommitted reservation, which
    /// only a wrap of a home's 30-bit relocation counter allows (a helper
    /// took a stale home word for the current one; docs/hopscotch.md, "Known
    /// limits"). The entry is in a slot now: leave it to the table (never
    /// free it) and stop, rather than go on from a broken invariant.
    #[cold]
    fn reservation_lost(pending: &mut Pending<Entry<K, V>>) -> ! {
        pending.published();
        panic!(
            "kovan_map::HopscotchMap: an uncommitted reservation was shown by another \
             thread (a home's relocation counter wrapped while a thread was stalled)"
        );
    }

    /// Home `h` of `table` cannot take a key (its neighbourhood is full and
    /// nothing can move away): grow the table if it is at least half full
    /// and the neighbourhood is not all this home's own keys; otherwise put
    /// the home in overflow mode.
    fn make_room<'g>(&'g self, table: &'g Table<K, V>, h: usize, word: u64, guard: &'g Guard) {
        let size = table.size();
        let crowded = (word & BITMAP).count_ones() as usize >= table.neighbourhood();
        if !crowded && self.len() * 2 >= size && self.grow(table, size * 2, guard) {
            return;
        }
        table.set_overflow(h, word);
    }

    /// After an insert of a new key: grow once the load passes 3/4.
    fn inserted(&self, hash: u64, guard: &Guard) {
        self.count(hash, 1);
        let table = self.root_table(guard);
        let size = table.size();
        let len = self.len();
        if len * 4 > size * 3 {
            let target = (len * 2).next_power_of_two().max(size * 2);
            self.grow(table, target, guard);
        }
    }

    /// After a removal: shrink once the load falls below 1/4, to the least
    /// power of two holding the keys at load at most 1/4, not below the
    /// minimum (so in effect once the load is at most 1/8).
    ///
    /// Hysteresis: every resize leaves the load a factor of two away from
    /// the threshold of the opposite resize. A growth lands at load at least
    /// 1/4 (from 1/2, when a neighbourhood is full; from 3/4 otherwise, at
    /// 3/8); a shrink lands at load 1/8 to 1/4, half of the 1/2 at which a
    /// full neighbourhood may grow the table again. (Shrinking to load 1/2,
    /// as before, refilled the neighbourhoods that had just grown the table:
    /// 34-41 resizes per 1,000 steps of a workload oscillating between 31
    /// and 34 keys at H = 2; test `a_workload_oscillating_at_one_size_...`.)
    fn maybe_shrink(&self, guard: &Guard) {
        let table = self.root_table(guard);
        let size = table.size();
        let len = self.len();
        if size > self.minimum && len * 4 < size {
            let target = (len * 4).next_power_of_two().max(self.minimum);
            self.grow(table, target, guard);
        }
    }

    /// Starts a resize of `table` to `size` slots if it is still the root
    /// and not migrating, and copies a few chunks. True if it started one.
    fn grow(&self, table: &Table<K, V>, size: usize, guard: &Guard) -> bool {
        if size > MAX_CAPACITY || size == table.size() {
            return false;
        }
        let word = self.root_word(guard);
        if !core::ptr::eq(word.ptr(), table) || !resize::start(word, size, H, guard) {
            return false;
        }
        // ORDERING: Acquire pairs with our own publication (same thread).
        let next = table.next.load(Ordering::Acquire, guard);
        resize::help(&self.root, word, next, None, resize::START_CHUNKS, guard);
        true
    }

    crate::shared_api::derived_write_ops!(HopscotchMap);

    fn claim<R>(
        &self,
        key: K,
        make: impl FnOnce() -> V,
        on_insert: impl FnOnce(&V) -> R,
    ) -> Claim<R, V>
    where
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "claim");
        let hash = self.hash(&key);
        let mut pending: Pending<Entry<K, V>> = Pending::new(key, None);
        let mut make = Some(make);
        let mut on_insert = Some(on_insert);
        let mut answer = None;
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, pending.key(), &guard) {
                Search::Migrating => {}
                Search::Found(found) => return Claim::Present(found.entry().value().clone()),
                Search::Absent(word) => {
                    if !pending.has_value() {
                        let make = make.take().expect("value made once");
                        pending
                            .set_value(crate::reentry::run(self as *const Self as *const (), make));
                    }
                    if let Some(on_insert) = on_insert.take() {
                        // The answer comes from the node while no other
                        // thread can retire it (before any commit or push):
                        // once published, another thread may remove it and
                        // kovan may free it under this thread's guard.
                        // SAFETY: the node is this call's, uncommitted.
                        answer = Some(on_insert(unsafe { &*pending.node(hash) }.value()));
                    }
                    if self.insert_new(table, hash, word, &mut pending, &guard) {
                        return Claim::Inserted(answer.expect("answered before publication"));
                    }
                }
            }
            sync::hint();
        }
    }

    /// Removes `key` if `pred` holds for its value, returning the value.
    /// `None` if the key is absent or `pred` refused.
    ///
    /// `pred` may run more than once, each time on the value present at that
    /// moment (a concurrent write of the key makes the removal retry); it
    /// must not write to this map: such a write panics ("recursive update";
    /// it would make the removal retry forever). Reading the map is fine.
    /// No lock is held while it runs.
    ///
    /// # Linearizability
    ///
    /// Checks and removes at one instant: the value returned is exactly the
    /// one `pred` accepted, and no write of the key comes between the check
    /// and the removal.
    ///
    /// Removed: the `DELETED` tag (`LINEARIZATION(remove)`), on the entry
    /// whose value `pred` accepted. Refused: the search's load that found
    /// the entry live, whose value `pred` refused. Absent: as `remove`.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, 10);
    /// assert_eq!(map.remove_if(&1, |v| *v > 100), None);
    /// assert_eq!(map.remove_if(&1, |v| *v == 10), Some(10));
    /// assert!(map.is_empty());
    /// ```
    pub fn remove_if<Q, F>(&self, key: &Q, mut pred: F) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
        F: FnMut(&V) -> bool,
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "remove_if");
        let hash = self.hash(key);
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, key, &guard) {
                Search::Migrating => {}
                Search::Absent(_) => return None,
                Search::Found(found) => {
                    let value = found.entry().value();
                    if !crate::reentry::run(self as *const Self as *const (), || pred(value)) {
                        return None;
                    }
                    if self.delete(table, &found, &guard) {
                        return Some(value.clone());
                    }
                }
            }
            sync::hint();
        }
    }

    /// Removes the present entry of `key`, if any, without cloning it.
    fn delete_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, key, &guard) {
                Search::Migrating => {}
                Search::Absent(_) => return false,
                Search::Found(found) => {
                    if self.delete(table, &found, &guard) {
                        return true;
                    }
                }
            }
            sync::hint();
        }
    }

    /// Replaces the value of a present `key` with `value` if `pred` holds for
    /// the present value. `Ok(old)` if it replaced; `Err(Some(current))` if
    /// `pred` refused `current`; `Err(None)` if the key is absent (nothing is
    /// inserted). `pred` may run more than once, as in
    /// [`remove_if`](Self::remove_if).
    ///
    /// # Linearizability
    ///
    /// Checks and replaces at one instant: the value returned is exactly the
    /// one `pred` accepted, no write of the key comes between the check and
    /// the replacement, and a concurrent `get` sees the old value or the new
    /// one, never neither.
    ///
    /// Replaced: the replacement CAS (`LINEARIZATION(insert)`), on the entry
    /// whose value `pred` accepted. Refused or absent: as in `remove_if`.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// map.insert(1, 10);
    /// assert_eq!(map.replace_if(1, 11, |v| *v == 10), Ok(10));
    /// assert_eq!(map.replace_if(1, 12, |v| *v == 10), Err(Some(11)));
    /// assert_eq!(map.replace_if(2, 20, |_| true), Err(None));
    /// ```
    pub fn replace_if<F>(&self, key: K, value: V, mut pred: F) -> Result<V, Option<V>>
    where
        F: FnMut(&V) -> bool,
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "replace_if");
        let hash = self.hash(&key);
        let mut pending = Pending::new(key, Some(value));
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, pending.key(), &guard) {
                Search::Migrating => {}
                Search::Absent(_) => return Err(None),
                Search::Found(found) => {
                    let present = found.entry().value();
                    if !crate::reentry::run(self as *const Self as *const (), || pred(present)) {
                        return Err(Some(present.clone()));
                    }
                    if let Some(old) = self.replace(&found, &mut pending, hash, &guard) {
                        return Ok(old.clone());
                    }
                }
            }
            sync::hint();
        }
    }

    /// One atomic read-modify-write of `key`: `f` sees the present value
    /// (`None` if absent) and answers the next one (`Some` to insert or
    /// replace, `None` to remove or leave absent). Returns the value the key
    /// holds after the call.
    ///
    /// `f` may run more than once: each attempt calls it on the value then
    /// present, and an attempt whose CAS loses to a concurrent write of the
    /// key (or of its home, for an insert) retries. It must not write to this
    /// map (that panics with "recursive update": the write would make the
    /// call retry forever; reads are fine), and should be cheap and free of
    /// side effects. No lock is held
    /// while it runs.
    ///
    /// # Linearizability
    ///
    /// Reads and writes the key at one instant: the value `f` saw is the
    /// key's value just before the write that `compute` makes, so concurrent
    /// `compute`s of one key never lose an update.
    ///
    /// At the step of the attempt that succeeds: the replacement CAS, the
    /// `DELETED` tag, or the showing of a new key (as in
    /// [`insert`](Self::insert)). An attempt that changes nothing (absent
    /// and `f` answered `None`) takes effect as an absent `get`.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::new();
    /// let bump = |v: Option<&u64>| Some(v.map_or(1, |v| v + 1));
    /// assert_eq!(map.compute("hits", bump), Some(1));
    /// assert_eq!(map.compute("hits", bump), Some(2));
    /// assert_eq!(map.compute("hits", |_| None), None);
    /// assert!(map.is_empty());
    /// ```
    pub fn compute<F>(&self, key: K, mut f: F) -> Option<V>
    where
        F: FnMut(Option<&V>) -> Option<V>,
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "compute");
        let hash = self.hash(&key);
        let mut pending = Pending::new(key, None);
        loop {
            let guard = reclaim::pin();
            let table = self.writable(hash, &guard);
            match table.search(hash, pending.key(), &guard) {
                Search::Migrating => {}
                Search::Found(found) => {
                    let present = found.entry().value();
                    match crate::reentry::run(self as *const Self as *const (), || f(Some(present)))
                    {
                        None => {
                            if self.delete(table, &found, &guard) {
                                return None;
                            }
                        }
                        Some(value) => {
                            // The answer is cloned before the replacement
                            // publishes the value (never read back from the
                            // published entry, which another thread may
                            // retire at once).
                            let answer = value.clone();
                            pending.set_value(value);
                            if self.replace(&found, &mut pending, hash, &guard).is_some() {
                                return Some(answer);
                            }
                        }
                    }
                }
                Search::Absent(word) => {
                    match crate::reentry::run(self as *const Self as *const (), || f(None)) {
                        None => return None,
                        Some(value) => {
                            // As above: cloned before the insert publishes it.
                            let answer = value.clone();
                            pending.set_value(value);
                            if self.insert_new(table, hash, word, &mut pending, &guard) {
                                return Some(answer);
                            }
                        }
                    }
                }
            }
            sync::hint();
        }
    }

    /// Removes every entry.
    ///
    /// # Linearizability
    ///
    /// Not one atomic step: it removes the keys one at a time, so a reader
    /// running meanwhile may see some keys already gone and others still
    /// present (and `len` falling as it goes), never a key half-removed.
    ///
    /// It is a sequence of linearizable removals (each a `remove` of a key
    /// its scan found: `LINEARIZATION(remove)`), home by home, following
    /// resizes as [`iter`](Self::iter) does (it finishes a resize it meets,
    /// and its removals shrink the table as they go). Every key present for
    /// the whole call is removed; a key inserted during the call may survive
    /// it.
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(4);
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// map.clear();
    /// assert!(map.is_empty());
    /// assert_eq!(map.get(&7), None);
    /// assert_eq!(map.capacity(), 4);
    /// ```
    pub fn clear(&self) {
        crate::reentry::check(self as *const Self as *const (), "clear");
        // Home by home, as `iter` (std_like.rs): each key met is removed at
        // its own `LINEARIZATION(remove)`.
        self.sweep(|entry, _| {
            self.delete_key(entry.key());
        });
    }
}

impl<K: 'static, V: 'static, S, const H: usize> HopscotchMap<K, V, S, H> {
    /// The root table after finishing any migration under way.
    pub(crate) fn stable_root<'g>(&'g self, guard: &'g Guard) -> &'g Table<K, V> {
        loop {
            let word = self.root_word(guard);
            // SAFETY: loaded under `guard` while linked.
            let table = unsafe { word.deref() };
            // ORDERING: Acquire, as in `writable`.
            let next = table.next.load(Ordering::Acquire, guard);
            if next.is_null() {
                return table;
            }
            // As in `writable`: `next` is reachable if `table` is still the
            // root after it was read.
            if self.root_word(guard) == word {
                resize::complete(&self.root, word, next, guard);
            }
        }
    }

    /// Empties the map with exclusive access: each entry it owns is moved
    /// into `sink`, removed entries still in place are dropped, the tables
    /// are freed. Leaves the map without a table (only `Drop` and
    /// `into_iter` call it, as their last use of the map).
    pub(super) fn drain(&mut self, mut sink: impl FnMut((K, V))) {
        let guard = reclaim::pin();
        let root = self.root.load(Ordering::Relaxed, &guard);
        if root.is_null() {
            return;
        }
        self.root.store_private(Shared::null());
        // SAFETY: `&mut self`: no other thread reaches the map.
        let table = unsafe { root.deref() };
        let next = table.next.load(Ordering::Relaxed, &guard);
        // SAFETY: exclusive access; the two tables own disjoint entries (a
        // copied entry is `COPIED` in the old one).
        unsafe {
            table.drain(&guard, &mut sink);
            if !next.is_null() {
                next.deref().drain(&guard, &mut sink);
                reclaim::destroy(next.ptr());
            }
            reclaim::destroy(root.ptr());
        }
        for stripe in self.len.iter() {
            stripe.0.store(0, Ordering::Relaxed);
        }
    }
}

impl<K: 'static, V: 'static, S, const H: usize> Drop for HopscotchMap<K, V, S, H> {
    /// Drops the entries, frees the tables, and hands this thread's retired
    /// memory to kovan ([`flush`](crate::flush)), so that the old tables a
    /// growth or shrink retired come back with the map.
    ///
    /// Old tables are retired, not freed, since a reader may still be in
    /// one; kovan keeps a thread's retires in a batch until its 64th, so a
    /// map's last retired table (the size of half the final table after a
    /// growth) would stay allocated after the drop until this thread
    /// retired 63 more nodes of any structure, flushed or exited (issue 13
    /// measured 25,356,032 bytes held so after dropping a map of 1M `u64`
    /// pairs). With no guard of this thread live, `flush` frees every batch
    /// that only this thread's slot held back, and what this thread's
    /// earlier walks cached. Tables retired by *another* thread that is
    /// still alive wait in that thread's batch: kovan 0.2.0 offers no way to
    /// reach them (that thread's next retires, `flush` or exit frees them).
    fn drop(&mut self) {
        // Moving the entries out and dropping them frees each exactly once.
        self.drain(drop);
        // After `drain`'s guard is dropped: a flush with a guard of this
        // thread live cannot drain this thread's slot. A drop run inside
        // kovan's reclamation (a map inside a retired value) makes this a
        // no-op: kovan's re-entrancy flag, and the outer walk frees.
        reclaim::flush();
    }
}

crate::shared_api::impl_std_traits!(HopscotchMap, debug_by_pin, const H);

impl<K, V, S, const H: usize> Clone for HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + Send + Clone + 'static,
    V: Send + Clone + 'static,
    S: BuildHasher + Clone,
{
    /// A map with the same minimum capacity, hasher and entries (as seen by
    /// an iteration of `self`).
    ///
    /// Not a snapshot while `self` is written: the copy holds what the
    /// iteration saw (see [`iter`](Self::iter)).
    ///
    /// ```
    /// let map = kovan_map::HopscotchMap::with_capacity(4);
    /// map.insert(1, "one");
    /// let copy = map.clone();
    /// map.insert(2, "two");
    /// assert_eq!(copy.get(&1), Some("one"));
    /// assert_eq!(copy.get(&2), None);
    /// assert_eq!(copy.capacity(), 4);
    /// ```
    fn clone(&self) -> Self {
        let copy = Self::with_capacity_and_hasher(self.minimum, self.hasher.clone());
        for (key, value) in self.iter() {
            copy.insert(key, value);
        }
        copy
    }
}

impl<K, V, S, const H: usize> FromIterator<(K, V)> for HopscotchMap<K, V, S, H>
where
    K: Hash + Eq + Send + 'static,
    V: Send + Clone + 'static,
    S: BuildHasher + Default,
{
    /// A map sized for the pairs' lower size-hint bound at load 1/2 (at
    /// least [`DEFAULT_CAPACITY`] slots), holding every pair (later pairs
    /// win).
    ///
    /// ```
    /// use kovan_map::HopscotchMap;
    ///
    /// let map: HopscotchMap<u32, u32> = (0..100).map(|i| (i % 50, i)).collect();
    /// assert_eq!(map.len(), 50);
    /// assert_eq!(map.get(&3), Some(53));
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let slots = iter
            .size_hint()
            .0
            .saturating_mul(2)
            .clamp(DEFAULT_CAPACITY, MAX_CAPACITY);
        let map = Self::with_capacity_and_hasher(slots, S::default());
        map.extend(iter);
        map
    }
}
