//! The chaining map: a split-ordered list (one lock-free list of every
//! node, sorted by bit-reversed hash; `list.rs`) cut into buckets by dummy
//! nodes that live in a growable directory (`directory.rs`).
//!
//! # Invariants
//!
//! * The table has `size` buckets, a power of two between the floor it was
//!   built with and [`MAX_BUCKETS`]; it doubles past a load of 3/4 and halves
//!   below 1/4 (never below the floor), each time by one CAS on the size.
//!   No node moves when it does.
//! * A key's node lies in the list after the dummy of bucket `hash & m` for
//!   every table size `m + 1`; at most one live node of a key is reachable
//!   (see `list.rs`).
//! * The length stripes sum to (live keys) + (inserts counted early) −
//!   (removes counted early): each successful insert of a new key adds one
//!   *after* its linearization point, each successful remove subtracts one
//!   after its own, so the sum is exact whenever no write is in flight.

mod directory;
mod iter;
mod lanes;
mod list;
#[cfg(feature = "rayon")]
pub mod par;
mod pinned;
mod std_like;

pub use iter::{IntoIter, Iter, Keys, Values};
pub use pinned::{Pinned, PinnedIter};

use crate::payload::{Claim, Pending};
use crate::reclaim::{self, Guard, Link, Shared};
use crate::sync::{self, AtomicIsize, Ordering};
use crate::{CapacityError, DefaultHashBuilder};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::hash::{BuildHasher, Hash};
use directory::{node_key, Directory};
use list::{Item, Node, Search, DELETED, REPLACED};

/// Buckets of a map made by [`HashMap::new`]: 2^19, 4.1 MiB of directory
/// (an 8-byte link and 2 state bits a bucket), allocated zeroed (pages cost
/// resident memory only once a bucket in them is used). The table grows
/// from there and never shrinks below it.
pub const DEFAULT_BUCKETS: usize = 1 << 19;

/// The most buckets a map may ask for (2^(pointer width − 4) heads).
pub const MAX_BUCKETS: usize = 1 << (usize::BITS - 4);

/// Stripes of the length counter, indexed by hash bits.
#[cfg(not(kovan_map_loom))]
const STRIPES: usize = 16;
#[cfg(kovan_map_loom)]
const STRIPES: usize = 2;

/// A counter stripe on its own cache line.
#[repr(align(128))]
struct Stripe(AtomicIsize);

/// A lock-free concurrent hash map with separate chaining.
///
/// Every operation takes `&self`: share the map with `Arc` or a scoped
/// thread. No operation takes a lock or waits for another thread; every
/// single-key operation is linearizable, and each documents the atomic step
/// at which it takes effect (its *linearization point*). Values are returned
/// as clones (`V: Clone`); [`get_ref`](Self::get_ref) borrows instead, under a
/// [`Guard`].
///
/// # Examples
///
/// ```
/// use kovan_map::HashMap;
/// use std::sync::Arc;
/// use std::thread;
///
/// let map = Arc::new(HashMap::with_capacity(1 << 12));
/// let handles: Vec<_> = (0..4u64)
///     .map(|t| {
///         let map = Arc::clone(&map);
///         thread::spawn(move || {
///             for i in 0..100 {
///                 map.insert(t * 1000 + i, i * 2);
///             }
///         })
///     })
///     .collect();
/// for handle in handles {
///     handle.join().unwrap();
/// }
/// assert_eq!(map.len(), 400);
/// assert_eq!(map.get(&3005), Some(10));
/// assert_eq!(map.remove(&3005), Some(10));
/// assert_eq!(map.get(&3005), None);
/// ```
///
/// A map of values that are not `Send` cannot cross threads:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<kovan_map::HashMap<u64, std::rc::Rc<u64>>>();
/// ```
pub struct HashMap<K: 'static, V: 'static, S = DefaultHashBuilder> {
    dir: Directory<K, V>,
    len: Box<[Stripe]>,
    hasher: S,
}

/// What [`HashMap::chain_stats`] reports (a test and benchmark hook).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainStats {
    /// Buckets in use ([`HashMap::capacity`]).
    pub buckets: usize,
    /// Buckets whose dummy is linked into the list.
    pub linked_buckets: usize,
    /// Live nodes met.
    pub entries: usize,
    /// The most live nodes between two consecutive linked dummies: the
    /// longest walk a lookup can make.
    pub longest_chain: usize,
}

// SAFETY: the map owns its keys and values; moving it moves them.
unsafe impl<K: Send, V: Send, S: Send> Send for HashMap<K, V, S> {}
// SAFETY: through `&HashMap` a thread reads `&K`/`&V` (needs `Sync`), clones
// values, and inserts or removes entries whose nodes another thread may drop
// (needs `Send`).
unsafe impl<K: Send + Sync, V: Send + Sync, S: Sync> Sync for HashMap<K, V, S> {}

impl<K: 'static, V: 'static> HashMap<K, V, DefaultHashBuilder> {
    /// An empty map with [`DEFAULT_BUCKETS`] buckets and a hasher seeded for
    /// this map alone.
    ///
    /// ```
    /// let map: kovan_map::HashMap<u64, u64> = kovan_map::HashMap::new();
    /// assert_eq!(map.capacity(), kovan_map::hash_map::DEFAULT_BUCKETS);
    /// assert!(map.is_empty());
    /// ```
    pub fn new() -> Self {
        Self::with_hasher(DefaultHashBuilder::default())
    }

    /// An empty map with at least `buckets` buckets (rounded up to a power of
    /// two, at least one): the table starts there, grows past a load of 3/4
    /// and never shrinks below it.
    ///
    /// # Panics
    ///
    /// If `buckets` exceeds [`MAX_BUCKETS`] or the array cannot be allocated;
    /// [`try_with_capacity`](Self::try_with_capacity) returns the error
    /// instead.
    ///
    /// ```
    /// let map: kovan_map::HashMap<u64, u64> = kovan_map::HashMap::with_capacity(1000);
    /// assert_eq!(map.capacity(), 1024);
    /// ```
    pub fn with_capacity(buckets: usize) -> Self {
        Self::with_capacity_and_hasher(buckets, DefaultHashBuilder::default())
    }

    /// As [`with_capacity`](Self::with_capacity), returning a
    /// [`CapacityError`] instead of panicking.
    ///
    /// ```
    /// use kovan_map::{CapacityError, HashMap};
    /// assert!(HashMap::<u64, u64>::try_with_capacity(64).is_ok());
    /// assert!(matches!(
    ///     HashMap::<u64, u64>::try_with_capacity(usize::MAX),
    ///     Err(CapacityError::TooLarge { .. })
    /// ));
    /// ```
    pub fn try_with_capacity(buckets: usize) -> Result<Self, CapacityError> {
        Self::try_with_capacity_and_hasher(buckets, DefaultHashBuilder::default())
    }
}

impl<K: 'static, V: 'static, S: Default> Default for HashMap<K, V, S> {
    fn default() -> Self {
        Self::with_hasher(S::default())
    }
}

impl<K: 'static, V: 'static, S> HashMap<K, V, S> {
    /// An empty map with [`DEFAULT_BUCKETS`] buckets and the given hasher.
    ///
    /// ```
    /// use std::hash::RandomState;
    ///
    /// let map = kovan_map::HashMap::with_hasher(RandomState::new());
    /// map.insert(1, "one");
    /// assert_eq!(map.get(&1), Some("one"));
    /// ```
    pub fn with_hasher(hasher: S) -> Self {
        Self::with_capacity_and_hasher(DEFAULT_BUCKETS, hasher)
    }

    /// An empty map with at least `buckets` buckets and the given hasher.
    ///
    /// # Panics
    ///
    /// If `buckets` exceeds [`MAX_BUCKETS`] or the array cannot be allocated.
    ///
    /// ```
    /// use std::hash::RandomState;
    ///
    /// let map = kovan_map::HashMap::with_capacity_and_hasher(100, RandomState::new());
    /// map.insert("k", 1);
    /// assert_eq!(map.capacity(), 128);
    /// assert_eq!(map.get("k"), Some(1));
    /// ```
    pub fn with_capacity_and_hasher(buckets: usize, hasher: S) -> Self {
        match Self::try_with_capacity_and_hasher(buckets, hasher) {
            Ok(map) => map,
            Err(error) => panic!("kovan_map::HashMap::with_capacity: {error}"),
        }
    }

    /// As [`with_capacity_and_hasher`](Self::with_capacity_and_hasher),
    /// returning a [`CapacityError`] instead of panicking.
    ///
    /// ```
    /// use kovan_map::{CapacityError, HashMap};
    /// use std::hash::RandomState;
    ///
    /// let map: HashMap<u64, u64, _> =
    ///     HashMap::try_with_capacity_and_hasher(16, RandomState::new()).unwrap();
    /// assert_eq!(map.capacity(), 16);
    /// let too_big = HashMap::<u64, u64, _>::try_with_capacity_and_hasher(
    ///     kovan_map::hash_map::MAX_BUCKETS + 1,
    ///     RandomState::new(),
    /// );
    /// assert!(matches!(too_big, Err(CapacityError::TooLarge { .. })));
    /// ```
    pub fn try_with_capacity_and_hasher(buckets: usize, hasher: S) -> Result<Self, CapacityError> {
        if buckets > MAX_BUCKETS {
            return Err(CapacityError::TooLarge {
                requested: buckets,
                max: MAX_BUCKETS,
            });
        }
        let n = buckets.max(1).next_power_of_two();
        let dir = Directory::new(n).map_err(|_| CapacityError::AllocFailed { buckets: n })?;
        let mut len = Vec::new();
        len.resize_with(STRIPES, || Stripe(AtomicIsize::new(0)));
        Ok(Self {
            dir,
            len: len.into_boxed_slice(),
            hasher,
        })
    }

    /// The number of buckets in use now (as kovan-map 0.2.0 reports it).
    ///
    /// It doubles when an insert takes the map past 3/4 entries per bucket
    /// and halves when a removal takes it below 1/4, never below the number
    /// the map was built with. Each bucket costs 8.25 bytes of directory;
    /// buckets added by growth stay allocated until the map is dropped.
    ///
    /// # Linearizability
    ///
    /// One load of the table size: the number of buckets at that instant,
    /// which a concurrent insert or removal may change right after.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(4);
    /// assert_eq!(map.capacity(), 4);
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// assert!(map.capacity() >= 128);
    /// for i in 0..100 {
    ///     map.remove(&i);
    /// }
    /// assert_eq!(map.capacity(), 4);
    /// ```
    pub fn capacity(&self) -> usize {
        self.dir.size()
    }

    /// The number of entries.
    ///
    /// Exact whenever no write is in flight. While writes run it is the sum
    /// of counters each write updates just after its linearization point, so
    /// it may lag behind by the writes in flight; it is never negative and
    /// never wraps (a transiently negative sum reads as 0).
    ///
    /// # Linearizability
    ///
    /// Not a linearizable snapshot: while writes run, it may answer a length
    /// the map never had at any one instant. It reads the counter stripes one
    /// after another, and each insert of a new key or removal updates one
    /// stripe just after its linearization point (a replacement updates
    /// none), so the answer differs from the map's length at any instant of
    /// the call by at most the number of such writes that overlap the call.
    /// With none in flight it is exact.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
    /// map.insert("a", 1);
    /// map.insert("b", 2);
    /// assert_eq!(map.len(), 2);
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
    /// let map = kovan_map::HashMap::with_capacity(8);
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
    /// let map: kovan_map::HashMap<u64, u64, _> =
    ///     kovan_map::HashMap::with_capacity_and_hasher(8, hasher.clone());
    /// assert_eq!(map.hasher().hash_one(7u64), hasher.hash_one(7u64));
    /// ```
    pub fn hasher(&self) -> &S {
        &self.hasher
    }

    /// Enters a critical section on this map: a [`Pinned`] handle whose
    /// methods borrow keys and values instead of cloning them (no `Clone`
    /// bound anywhere), valid until the handle is dropped. It derefs to the
    /// [`Guard`] that [`get_ref`](Self::get_ref) takes. Hold it briefly: memory
    /// that any thread retires while it lives is not reclaimed.
    ///
    /// ```
    /// use kovan_map::HashMap;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// let words: HashMap<&str, AtomicU64> = HashMap::with_capacity(64);
    /// for word in "a b a c a".split(' ') {
    ///     let m = words.pin();
    ///     m.get_or_insert_with(word, || AtomicU64::new(0))
    ///         .fetch_add(1, Ordering::Relaxed);
    /// }
    /// assert_eq!(words.pin().get("a").map(|n| n.load(Ordering::Relaxed)), Some(3));
    /// ```
    pub fn pin(&self) -> Pinned<'_, K, V, S> {
        Pinned {
            map: self,
            guard: reclaim::pin(),
        }
    }

    /// Counts a change of `delta` keys of split-order key `so`; answers the
    /// stripe's new value.
    fn count(&self, so: u64, delta: isize) -> isize {
        let stripe = (so >> 58) as usize % STRIPES;
        // ORDERING: Relaxed: the counter orders nothing; `len` is exact only
        // once the writes are complete and visible (joined).
        self.len[stripe].0.fetch_add(delta, Ordering::Relaxed) + delta
    }

    /// After a new key of split-order key `so` was linked: counts it, and
    /// doubles the table if the map is past a load of 3/4. The stripe's
    /// count times the stripes estimates the length, so the exact sum is
    /// read only near the limit.
    fn inserted(&self, so: u64) {
        let stripe = self.count(so, 1);
        let size = self.dir.size();
        let limit = size / 4 * 3 + (size % 4) * 3 / 4;
        if self.load_check_due(stripe, size, |estimate| estimate > limit) && self.len() > limit {
            self.dir.grow(size);
        }
    }

    /// Whether a write whose stripe now counts `stripe` must read the exact
    /// length: when the stripe's estimate (`stripe * STRIPES`) says so, and
    /// also on every `STRIPES`-th count of a stripe and in small tables,
    /// since a skewed hash can pile the keys into few stripes and hide the
    /// load from the estimate (the review's `tests/growth_review.rs` found
    /// 1443 entries in 1024 buckets that way). So the exact sum is read at
    /// most about once per `STRIPES` writes away from a limit, and the table
    /// overshoots a limit by at most `STRIPES * STRIPES` entries.
    #[inline]
    fn load_check_due(&self, stripe: isize, size: usize, says: impl Fn(usize) -> bool) -> bool {
        let stripe = stripe.max(0) as usize;
        says(stripe.saturating_mul(STRIPES))
            || stripe.is_multiple_of(STRIPES)
            || size <= 4 * STRIPES * STRIPES
    }

    /// After a key of split-order key `so` was removed: counts it, and
    /// halves the table if the map is below a load of 1/4 (and above its
    /// floor).
    fn removed(&self, so: u64) {
        let stripe = self.count(so, -1);
        let size = self.dir.size();
        if size > self.dir.floor()
            && self.load_check_due(stripe, size, |estimate| estimate.saturating_mul(4) < size)
        {
            self.shrink_while_sparse(size);
        }
    }

    /// Halves the table from `size` while it holds fewer than a quarter
    /// entry per bucket and is above its floor (a removal that empties a
    /// grown map, or `clear`, can take it down several sizes at once).
    fn shrink_while_sparse(&self, mut size: usize) {
        while size > self.dir.floor()
            && self.len().saturating_mul(4) < size
            && self.dir.shrink(size)
        {
            size /= 2;
        }
    }

    /// Buckets, linked dummies, entries and the longest run of live nodes
    /// between two linked dummies, from one pass over the list. A test and
    /// benchmark hook: exact when no write is in flight.
    #[doc(hidden)]
    pub fn chain_stats(&self) -> ChainStats {
        let mut stats = ChainStats {
            buckets: self.capacity(),
            linked_buckets: 1,
            entries: 0,
            longest_chain: 0,
        };
        let mut at = self.dir.first();
        loop {
            let guard = reclaim::pin();
            let run = core::cell::Cell::new(0);
            let next = list::walk(
                at,
                &guard,
                |item| match item {
                    Item::Dummy(dummy) => core::ops::ControlFlow::Break(dummy),
                    Item::Node(_) => {
                        run.set(run.get() + 1);
                        core::ops::ControlFlow::Continue(())
                    }
                },
                || run.set(0),
            );
            stats.entries += run.get();
            stats.longest_chain = stats.longest_chain.max(run.get());
            match next {
                Some(dummy) => {
                    at = dummy;
                    stats.linked_buckets += 1;
                }
                None => return stats,
            }
        }
    }
}

/// The pending node of a chain insert, with `next` as its successor.
fn pending_node<K: 'static, V: 'static>(
    pending: &mut Pending<Node<K, V>>,
    hash: u64,
    next: Shared<'_, Node<K, V>>,
) -> *mut Node<K, V> {
    let node = pending.node(hash);
    // SAFETY: the node is private to this call until a CAS publishes it.
    unsafe { (*node).next.store_private(next) };
    node
}

impl<K, V, S> HashMap<K, V, S>
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
    /// Sees one instant of the map, as [`get`](Self::get) does; the
    /// reference stays valid while `guard` lives, even if the key is removed
    /// or replaced meanwhile (it then still shows the value read at that
    /// instant).
    ///
    /// As `get`: the load of the key's node's `next` that finds
    /// it untagged (`LINEARIZATION(get)` in `list.rs`).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(16);
    /// map.insert("big", vec![0u8; 1024]);
    /// let guard = map.pin();
    /// assert_eq!(map.get_ref("big", &guard).map(Vec::len), Some(1024));
    /// ```
    pub fn get_ref<'g, Q>(&'g self, key: &Q, guard: &'g Guard) -> Option<&'g V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = self.hash(key);
        let start = self.dir.lookup_start(hash, guard)?;
        list::lookup(start, node_key(hash), key, guard).map(|node| node.value())
    }

    /// The value of `key`, cloned.
    ///
    /// Changes no entry. The first lookup of a bucket after the table
    /// doubled may link that bucket's marker into the map's list, as the
    /// first write to it would (two RMWs and a CAS, once per bucket), so
    /// later lookups of its keys start there. Its `pin` may free memory
    /// this thread held back, running destructors of entries other threads
    /// removed (see the crate's promises).
    ///
    /// # Linearizability
    ///
    /// Sees one instant of the map: the value of the last write of the key
    /// that took effect before it, or `None` if that write was a removal or
    /// there was none.
    ///
    /// Present: at the load of the key's node's `next` that finds it untagged
    /// (`LINEARIZATION(get)` in `list.rs`); the value is that node's, and
    /// values never change inside a node. Absent: at the load that found the
    /// key's floor bucket never used (`LINEARIZATION(get)` in
    /// `directory.rs`), or at a moment during the walk when no live node of
    /// the key was reachable (the load of the link into the key's place in
    /// the list, or just after the removal of the node it found dead). A
    /// resize moves no node, so it changes none of this.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
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
    /// let map = kovan_map::HashMap::with_capacity(8);
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

// Writes retire nodes, and kovan may drop a retired node on any thread.
impl<K, V, S> HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + 'static,
    S: BuildHasher,
{
    /// Inserts `value` under `key`, returning the value it replaced.
    ///
    /// # Linearizability
    ///
    /// Takes effect at one instant: a concurrent `get` sees the old value or
    /// the new one, never neither, and the value returned is exactly the one
    /// replaced.
    ///
    /// A new key: the CAS that links its node into the list, on the link of
    /// the last live element before its place in split order
    /// (`LINEARIZATION(insert)`: the push). A present key: the CAS that tags
    /// the old node's `next` `REPLACED`,
    /// pointing at the new node, which already links the old successor; a
    /// concurrent `get` therefore finds either the old node live or, through
    /// the tag, the new one: the key never looks absent.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
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
        let so = node_key(hash);
        let mut pending = Pending::new(key, Some(value));
        loop {
            let guard = reclaim::pin();
            match list::search(
                self.dir.writer_start(hash, &guard),
                so,
                |node| node.key() == pending.key(),
                &guard,
            ) {
                Search::Absent { pred, succ } => {
                    let node = Shared::from_owned(pending_node(&mut pending, so, succ), &guard);
                    // ORDERING: AcqRel. Release publishes the node's payload
                    // to readers that acquire the bucket; Acquire pairs with
                    // the CAS that last wrote the head.
                    // LINEARIZATION(insert): the push of a new key.
                    if pred.cas(succ, node, Ordering::AcqRel, Ordering::Relaxed, &guard) {
                        pending.published();
                        self.inserted(so);
                        return None;
                    }
                }
                Search::Found { pred, node, next } => {
                    if let Some(old) = self.replace(pred, node, next, &mut pending, &guard) {
                        return Some(old.clone());
                    }
                }
            }
            sync::hint();
        }
    }

    /// Builds the replacement from `pending` (linking `next`), tags
    /// `node.next` (expected `next`) `REPLACED` → replacement, marks
    /// `pending` published, then unlinks `node`. Answers the replaced value,
    /// or `None` if the CAS failed (the caller searches again).
    ///
    /// It never hands back the replacement: once published, this thread's
    /// guard does not protect it (a remover may retire it at once, and kovan
    /// does not count its allocator's guard; see `reclaim`). A caller that
    /// answers the new value clones it before the call.
    fn replace<'g>(
        &self,
        pred: &'g Link<Node<K, V>>,
        node: Shared<'g, Node<K, V>>,
        next: Shared<'g, Node<K, V>>,
        pending: &mut Pending<Node<K, V>>,
        guard: &'g Guard,
    ) -> Option<&'g V> {
        // SAFETY: `node` came from a search under `guard`.
        let old = unsafe { node.deref() };
        let new = Shared::from_owned(pending_node(pending, old.hash(), next), guard);
        // ORDERING: AcqRel. Release publishes the replacement's payload to
        // readers that acquire `node.next`; Acquire pairs with the write of
        // `next` it replaces.
        // LINEARIZATION(insert): the replacement of a present key (also of
        // replace_if, compare_and_swap and compute when they replace).
        if !old.next.cas(
            next,
            new.with_tag(REPLACED),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            return None;
        }
        // The map owns the replacement from here on, whatever unwinds below.
        pending.published();
        if !list::help_unlink(pred, node, new, guard) {
            self.tidy(node, guard);
        }
        Some(old.value())
    }

    /// Tags `node.next` (expected `next`) `DELETED`, then unlinks `node`.
    /// False if the CAS failed.
    fn delete<'g>(
        &self,
        pred: &'g Link<Node<K, V>>,
        node: Shared<'g, Node<K, V>>,
        next: Shared<'g, Node<K, V>>,
        guard: &'g Guard,
    ) -> bool {
        // SAFETY: `node` came from a search under `guard`.
        let old = unsafe { node.deref() };
        // ORDERING: AcqRel, more than the tag needs: no payload travels
        // through it. A helper that acquires the tagged word synchronizes
        // with the CAS that wrote `next` through the release sequence this
        // RMW continues, and this thread acquired `next` when its search
        // loaded it. Relaxed would do; AcqRel costs nothing more on x86 and
        // keeps every CAS on a `next` word alike.
        // LINEARIZATION(remove): the tag that marks the key's node deleted
        // (also of remove_if, compare_and_remove, force_remove, compute
        // returning None, clear).
        if !old.next.cas(
            next,
            // The word keeps its `DUMMY` tag: it says what `next` points at.
            next.with_tag(next.tag() | DELETED),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        ) {
            return false;
        }
        self.removed(old.hash());
        if !list::help_unlink(pred, node, next, guard) {
            self.tidy(node, guard);
        }
        true
    }

    /// The unlink of a node we killed failed (its predecessor changed): one
    /// more writer's search of its key unlinks it. The search unlinks every
    /// dead node it passes and stops only at the key's live node or the
    /// chain's end. A live node of the key ahead of ours means the key was
    /// inserted again, and that insert's own search (which found the key
    /// absent, so passed our dead node) unlinked it already. So after `tidy`
    /// the node is unlinked, unless a user `Eq` panics inside it; then it
    /// stays linked until a writer passes it or the map is dropped, which
    /// frees it.
    fn tidy(&self, node: Shared<'_, Node<K, V>>, guard: &Guard) {
        // SAFETY: `node` is protected by `guard` (loaded by our search).
        let dead = unsafe { node.deref() };
        let so = dead.hash();
        // The search unlinks every dead node on its way to the key's place.
        // The node's own hash is gone (it holds the split-order key), but a
        // start only has to precede the key: the dummy of the bucket of the
        // reversed key under the current size does.
        let hash = so.reverse_bits();
        let start = self.dir.writer_start(hash, guard);
        let _ = list::search(start, so, |node| node.key() == dead.key(), guard);
    }

    crate::shared_api::derived_write_ops!(HashMap);

    /// Inserts `key` with the value `make` builds if the key is absent;
    /// answers `on_insert` of the inserted value, or a clone of the present
    /// one. `on_insert` runs on the still-private node before each push
    /// attempt (the answer of a failed attempt is dropped): after the push
    /// this thread's guard no longer protects the node (see `reclaim`).
    fn claim<R>(&self, key: K, make: impl FnOnce() -> V, on_insert: impl Fn(&V) -> R) -> Claim<R, V>
    where
        V: Clone,
    {
        crate::reentry::check(self as *const Self as *const (), "claim");
        let hash = self.hash(&key);
        let so = node_key(hash);
        let mut pending = Pending::new(key, None);
        let mut make = Some(make);
        loop {
            let guard = reclaim::pin();
            match list::search(
                self.dir.writer_start(hash, &guard),
                so,
                |node| node.key() == pending.key(),
                &guard,
            ) {
                Search::Found { node, .. } => {
                    // SAFETY: found under `guard`.
                    return Claim::Present(unsafe { node.deref() }.value().clone());
                }
                Search::Absent { pred, succ } => {
                    if !pending.has_value() {
                        let make = make.take().expect("value made once");
                        pending
                            .set_value(crate::reentry::run(self as *const Self as *const (), make));
                    }
                    let node = pending_node(&mut pending, so, succ);
                    // SAFETY: the node is still private to this call.
                    let answer = on_insert(unsafe { &*node }.value());
                    let shared = Shared::from_owned(node, &guard);
                    // ORDERING: AcqRel, as in `insert`.
                    // LINEARIZATION(insert_if_absent): the push of the key.
                    if pred.cas(succ, shared, Ordering::AcqRel, Ordering::Relaxed, &guard) {
                        pending.published();
                        self.inserted(so);
                        return Claim::Inserted(answer);
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
    /// Removed: the `DELETED` tag (`LINEARIZATION(remove)`), on the node
    /// whose value `pred` accepted. Refused: the search's load that found
    /// the node live, whose value `pred` refused. Absent: as `remove`.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
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
        let so = node_key(hash);
        loop {
            let guard = reclaim::pin();
            let Search::Found {
                pred: link,
                node,
                next,
            } = list::search(
                self.dir.writer_start(hash, &guard),
                so,
                |node| node.key().borrow() == key,
                &guard,
            )
            else {
                return None;
            };
            // SAFETY: found under `guard`.
            let value = unsafe { node.deref() }.value();
            if !crate::reentry::run(self as *const Self as *const (), || pred(value)) {
                return None;
            }
            if self.delete(link, node, next, &guard) {
                return Some(value.clone());
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
    /// Replaced: the `REPLACED` tag (`LINEARIZATION(insert)`), on the node
    /// whose value `pred` accepted. Refused or absent: as in `remove_if`.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
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
        let so = node_key(hash);
        let mut pending = Pending::new(key, Some(value));
        loop {
            let guard = reclaim::pin();
            let Search::Found {
                pred: link,
                node,
                next,
            } = list::search(
                self.dir.writer_start(hash, &guard),
                so,
                |node| node.key() == pending.key(),
                &guard,
            )
            else {
                return Err(None);
            };
            // SAFETY: found under `guard`.
            let present = unsafe { node.deref() }.value();
            if !crate::reentry::run(self as *const Self as *const (), || pred(present)) {
                return Err(Some(present.clone()));
            }
            if let Some(old) = self.replace(link, node, next, &mut pending, &guard) {
                return Ok(old.clone());
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
    /// key retries. It must not write to this map (that panics with "recursive
    /// update": the write would make the call retry forever; reads are
    /// fine), and should be cheap and free
    /// of side effects. No lock is held while it runs.
    ///
    /// # Linearizability
    ///
    /// Reads and writes the key at one instant: the value `f` saw is the
    /// key's value just before the write that `compute` makes, so concurrent
    /// `compute`s of one key never lose an update.
    ///
    /// At the CAS of the attempt that succeeds: the push
    /// (`LINEARIZATION(insert)`), the `REPLACED` tag or the `DELETED` tag
    /// (`LINEARIZATION(remove)`). An attempt that changes nothing (absent and
    /// `f` answered `None`) takes effect at a moment of its search when the
    /// key was absent.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(8);
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
        let so = node_key(hash);
        let mut pending = Pending::new(key, None);
        loop {
            let guard = reclaim::pin();
            match list::search(
                self.dir.writer_start(hash, &guard),
                so,
                |node| node.key() == pending.key(),
                &guard,
            ) {
                Search::Found { pred, node, next } => {
                    // SAFETY: found under `guard`.
                    let present = unsafe { node.deref() }.value();
                    match crate::reentry::run(self as *const Self as *const (), || f(Some(present)))
                    {
                        None => {
                            if self.delete(pred, node, next, &guard) {
                                return None;
                            }
                        }
                        Some(value) => {
                            // Cloned while private: see `replace`.
                            let answer = value.clone();
                            pending.set_value(value);
                            if self
                                .replace(pred, node, next, &mut pending, &guard)
                                .is_some()
                            {
                                return Some(answer);
                            }
                        }
                    }
                }
                Search::Absent { pred, succ } => {
                    match crate::reentry::run(self as *const Self as *const (), || f(None)) {
                        None => return None,
                        Some(value) => {
                            // Cloned while private: after the push this thread's
                            // guard does not protect the node (see `reclaim`).
                            let answer = value.clone();
                            pending.set_value(value);
                            let node = pending_node(&mut pending, so, succ);
                            let shared = Shared::from_owned(node, &guard);
                            // ORDERING: AcqRel, as in `insert`.
                            // LINEARIZATION(compute): the push of an absent key.
                            if pred.cas(succ, shared, Ordering::AcqRel, Ordering::Relaxed, &guard) {
                                pending.published();
                                self.inserted(so);
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
    /// It is a sequence of linearizable removals (`LINEARIZATION(clear)` in
    /// `list.rs`: each one the `DELETED` tag of a live node, as in `remove`),
    /// along the list in split order, from one bucket dummy to the next.
    /// Every key present for the whole call is removed; a key inserted
    /// during the call may survive it.
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(4);
    /// for i in 0..100 {
    ///     map.insert(i, i);
    /// }
    /// map.clear();
    /// assert!(map.is_empty());
    /// assert_eq!(map.capacity(), 4);
    /// ```
    pub fn clear(&self) {
        crate::reentry::check(self as *const Self as *const (), "clear");
        let mut at = self.dir.first();
        loop {
            let guard = reclaim::pin();
            match list::clear(at, &guard, |so| {
                self.count(so, -1);
            }) {
                Some(dummy) => at = dummy,
                None => break,
            }
        }
        // One check of the load after the whole pass.
        self.shrink_while_sparse(self.dir.size());
    }
}

impl<K: 'static, V: 'static, S> Drop for HashMap<K, V, S> {
    fn drop(&mut self) {
        // Moving the entries out and dropping them frees every node still
        // linked exactly once.
        self.drain(drop);
        // Nodes this thread retired sit in its partial batch until its 64th
        // retire, a `flush` or its exit; flush (after `drain`'s guard is
        // gone: kovan frees a thread's holdings only with no guard of it
        // alive) so a dropped map gives its memory back.
        reclaim::flush();
    }
}

// `Debug` (by borrowing, no `Clone`) is in `std_like.rs`.
crate::shared_api::impl_std_traits!(HashMap);

impl<K, V, S> Clone for HashMap<K, V, S>
where
    K: Hash + Eq + Send + Clone + 'static,
    V: Send + Clone + 'static,
    S: BuildHasher + Clone,
{
    /// A map with the same floor (the capacity `self` was built with),
    /// hasher and entries (as seen by an iteration of `self`); it grows to
    /// fit them, and shrinks back as its source would.
    ///
    /// Not a snapshot while `self` is written: the copy holds what the
    /// iteration saw (see [`iter`](Self::iter)).
    ///
    /// ```
    /// let map = kovan_map::HashMap::with_capacity(4);
    /// map.insert(1, "one");
    /// let copy = map.clone();
    /// map.insert(2, "two");
    /// assert_eq!(copy.get(&1), Some("one"));
    /// assert_eq!(copy.get(&2), None);
    /// assert_eq!(copy.capacity(), 4);
    /// ```
    fn clone(&self) -> Self {
        let copy = Self::with_capacity_and_hasher(self.dir.floor(), self.hasher.clone());
        // Sized first: a table that grew while the entries arrived would
        // leave the buckets that split after their keys went in unlinked,
        // so lookups would walk from their parents (tests/growth.rs
        // measured walks of 195 when the entries came in split order).
        copy.reserve(self.len());
        for (key, value) in self.iter() {
            copy.insert(key, value);
        }
        copy
    }
}

impl<K, V, S> FromIterator<(K, V)> for HashMap<K, V, S>
where
    K: Hash + Eq + Send + 'static,
    V: Send + Clone + 'static,
    S: BuildHasher + Default,
{
    /// A map sized for the pairs' lower size-hint bound (at least 64
    /// buckets), holding every pair (later pairs win).
    ///
    /// ```
    /// use kovan_map::HashMap;
    ///
    /// let map: HashMap<u32, u32> = (0..10).map(|i| (i % 5, i)).collect();
    /// assert_eq!(map.len(), 5);
    /// assert_eq!(map.get(&3), Some(8));
    /// assert_eq!(map.capacity(), 64);
    /// ```
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let iter = iter.into_iter();
        let buckets = iter.size_hint().0.clamp(64, DEFAULT_BUCKETS);
        let map = Self::with_capacity_and_hasher(buckets, S::default());
        map.extend(iter);
        map
    }
}

impl<K: 'static, V: 'static, S> HashMap<K, V, S> {
    /// Every element still linked, in list order, with exclusive access
    /// (`&mut self`: no other thread reaches the map, nothing is retired
    /// meanwhile): `dummy` gets each dummy after its `next` was read,
    /// `node` each node with its word and whether it is dead, after its
    /// `next` was read, so it may free the node. Prefetches ahead as an
    /// iteration does (`iter::prefetch_from`).
    fn walk_exclusive(
        &mut self,
        guard: &Guard,
        mut dummy: impl FnMut(&Directory<K, V>, directory::Dummy<'_, K, V>),
        mut node: impl FnMut(Shared<'_, Node<K, V>>, &Node<K, V>, bool),
    ) {
        let ahead = iter::prefetch_from(self);
        let size = ahead.map_or(0, Directory::size_acquire);
        let mut curr = self.dir.first().next.load(Ordering::Relaxed, guard);
        while !curr.is_null() {
            // SAFETY: `&mut self`: every element still linked is allocated
            // (retired nodes are unlinked) and visited once; a node word is
            // a node.
            match unsafe { list::item(curr, &self.dir) } {
                Item::Dummy(d) => {
                    if let Some(dir) = ahead {
                        let key = d.key();
                        dir.prefetch_ahead(key, size, iter::PREFETCH_AHEAD, None);
                        dir.prefetch_ahead(key, size, iter::PREFETCH_AHEAD / 2, Some(guard));
                    }
                    curr = d.next.load(Ordering::Relaxed, guard);
                    dummy(&self.dir, d);
                }
                Item::Node(n) => {
                    let next = n.next.load(Ordering::Relaxed, guard);
                    node(curr, n, list::is_dead(next));
                    curr = list::target(next);
                }
            }
        }
    }

    /// Empties the table with exclusive access: each live entry is moved
    /// into `sink`, each dead node still linked is dropped.
    pub(super) fn drain(&mut self, mut sink: impl FnMut((K, V))) {
        let guard = reclaim::pin();
        self.walk_exclusive(
            &guard,
            // The walk read the dummy's `next` already.
            |dir, dummy| dir.reset(dummy),
            |word, _, dead| {
                if dead {
                    // SAFETY: as in `walk_exclusive`: the node is visited
                    // once, and the walk read its `next` already.
                    unsafe { reclaim::destroy(word.ptr()) };
                } else {
                    // SAFETY: as above; the node is live, so its entry is
                    // moved out exactly once.
                    sink(unsafe { reclaim::take(word.ptr()) }.into_parts());
                }
            },
        );
        // Bucket 0's dummy, which the walk starts from and does not pass.
        self.dir.clear_head();
        for stripe in self.len.iter() {
            stripe.0.store(0, Ordering::Relaxed);
        }
    }
}

/// A map of `Cell` values may be sent but not shared between threads:
///
/// ```compile_fail
/// fn assert_sync<T: Sync>() {}
/// assert_sync::<kovan_map::HashMap<u64, std::cell::Cell<u64>>>();
/// ```
#[cfg(doctest)]
struct CellValuesAreNotShared;
