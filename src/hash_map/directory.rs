//! The bucket directory of the split-ordered list: one 8-byte link per
//! bucket plus two state bits, in segments that are allocated as the map
//! grows and never move.
//!
//! # The design (Shalev and Shavit's split-ordered list, dummies in place)
//!
//! All nodes of the map are in **one** lock-free list, sorted by their
//! *split-order key*: the bit-reversed hash with the lowest bit set
//! ([`node_key`]). Bucket `b`'s entry is a *dummy* node of the same list with
//! key `reverse(b)` ([`dummy_key`], lowest bit clear), so the nodes of bucket
//! `b` (under any table size) follow `b`'s dummy, and doubling the table
//! splits every bucket's run in two without moving a node: the new bucket
//! `b + size`'s dummy falls in the middle of `b`'s run. Growing is one CAS
//! on [`Directory::size`]; nothing is copied, nobody waits, and nodes keep
//! their `hash, key, value, next` layout and copy-on-write replacement
//! (`list.rs`).
//!
//! The dummies live *in the directory*, not in separate allocations: a
//! dummy is its bucket's `next` link (8 bytes) and two state bits in a
//! word shared with 31 neighbouring buckets. A link word that points at a
//! dummy carries the [`DUMMY`] tag and, in place of an address, the
//! bucket's *index* ([`Shared::from_index`]): a walk that meets it knows
//! the dummy's key (`dummy_key(index)`) without a load, and finds its `next`
//! by the index ([`Directory::dummy`]). So a lookup costs one state-word
//! load (a bitmap of 2 bits per bucket: 128 KiB at 2^19 buckets, mostly in
//! cache), one directory link and, usually, one node.
//!
//! A dummy is only a shortcut into the one list. So initialisation can be
//! exclusive without anyone waiting on it: the thread whose RMW *claims* an
//! untouched bucket links it in; every other thread that finds a bucket
//! claimed but not yet linked starts from the bucket's *parent* (the bucket
//! index with its highest bit cleared, whose dummy precedes it in the
//! list), and bucket 0's dummy is linked when the map is built. A claimer
//! that stalls leaves its bucket served by the parent, with a longer walk
//! and nothing else. Writers and lookups (`lookup_start`) both claim and
//! link: after a doubling, a bucket left to its parent makes every lookup
//! of its keys walk the parent's nodes too. Only `reader_start` (the
//! parallel cursors, `get_mut`) never writes.
//!
//! # State table of a bucket
//!
//! The state is the bucket's two bits (`CLAIMED`, `LINKED`) of its state
//! word; every change is an RMW (`fetch_or`) of the shared word that sets
//! the bucket's bits and leaves the other buckets' bits as they are.
//!
//! | state (bits)           | meaning                                   | left by                         | who may make the step |
//! | ---------------------- | ----------------------------------------- | ------------------------------- | --------------------- |
//! | `00` untouched         | not in the list; never claimed            | `fetch_or(CLAIMED)` whose result had `CLAIMED` clear | any writer or lookup (`prepare`) whose operation's bucket it is (or an ancestor of it), a floor bucket only for a writer or as an ancestor; of racing RMWs exactly one reads the bit clear: the claimer |
//! | `01` claimed           | being linked (or linked, not yet marked)  | `fetch_or(LINKED)` (Release) after the linking CAS | the claimer alone |
//! | `11` linked            | in the list; a start for every thread     | never (until the map is dropped or emptied with `&mut`) | nobody |
//!
//! (`10` never occurs: `LINKED` is set only by the claimer.) And of its
//! `next` link: private to the claimer until the one CAS on its list
//! predecessor (the last node with a smaller key) that links it; from then
//! on it is a link of the list like any live node's `next`, except that no
//! CAS ever tags it: **dummies never die**.
//!
//! # Sizes
//!
//! The map's table has `size` buckets (a power of two, between the floor it
//! was built with and [`MAX_BUCKETS`](super::MAX_BUCKETS)); bucket `b` of a
//! key is `hash & (size - 1)`. Segment 0 holds buckets `0..floor`, segment
//! `j >= 1` buckets `floor << (j - 1) .. floor << j`. A segment is allocated
//! (zeroed where the platform allows it, so untouched pages cost no resident
//! memory) by the first thread that grows into it; a racing allocator frees
//! its own. Shrinking lowers `size`; segments stay until the map is dropped,
//! so a map that grows again reuses its linked dummies.
//!
//! A thread that read an older, smaller size starts from an ancestor
//! dummy; one that read an older, larger size (after a shrink) starts from a
//! dummy that is still linked, or its parent: either precedes the key's
//! place in the list, which is all a start must do.

use super::list::{self, Node};
use crate::reclaim::{self, AllocFailed, Guard, Link, Shared};
use crate::sync::{self, AtomicU64, AtomicUsize, Ordering};
use alloc::vec::Vec;
use core::alloc::Layout;

/// Tag on a link word: the word is a bucket's [`Dummy`] (its index, not an
/// address), not a node. (The two low tags, on a node's `next`, say the
/// *holder* is dead; this one says what the word *points at*.)
pub(crate) const DUMMY: usize = 0b100;

/// A bucket's state bits in its state word (the state table above).
const CLAIMED: u64 = 0b01;
const LINKED: u64 = 0b10;
const STATE: u64 = 0b11;
/// Buckets per state word (2 bits each).
const PER_WORD: usize = 32;

/// The split-order key of a node of hash `hash`: the reversed hash, odd, so
/// it sorts after the dummy of every bucket the hash can fall in. (The
/// hash's top bit is lost to the parity bit; nodes compare their keys, so
/// it only weakens the pre-filter of equal split-order keys.)
#[inline]
pub(crate) fn node_key(hash: u64) -> u64 {
    hash.reverse_bits() | 1
}

/// The split-order key of bucket `b`'s dummy: the reversed index, even (and
/// its two low bits clear, as `b < 2^60`).
#[inline]
pub(crate) fn dummy_key(b: usize) -> u64 {
    (b as u64).reverse_bits()
}

/// What one load of a bucket's state tells a lookup (`Directory::probe`).
enum Probe<'d, K, V> {
    /// Linked: the lookup starts from this dummy.
    Linked(Dummy<'d, K, V>),
    /// A floor bucket never used: no node of the key is in the list.
    Absent,
    /// Untouched above the floor, or claimed and not linked yet.
    Unlinked,
}

/// The bucket whose dummy precedes `b`'s in the list: `b` without its
/// highest set bit. `b > 0`.
#[inline]
fn parent(b: usize) -> usize {
    debug_assert!(b > 0);
    b & !(1usize << (usize::BITS - 1 - b.leading_zeros()))
}

/// A bucket's dummy as a thread meets it: the bucket and its `next` link in
/// the directory. A handle, not the storage: dummies never move or die, so
/// a handle is good for as long as the directory is borrowed.
pub(crate) struct Dummy<'d, K, V> {
    /// The directory the dummy lives in (so a walk can resolve the dummy
    /// words it meets).
    pub(crate) dir: &'d Directory<K, V>,
    bucket: usize,
    /// The dummy's successor in the list (see the module doc for when it is
    /// shared).
    pub(crate) next: &'d Link<Node<K, V>>,
}

impl<K, V> Clone for Dummy<'_, K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Dummy<'_, K, V> {}

impl<'d, K, V> Dummy<'d, K, V> {
    /// The dummy's split-order key, from its index: no load.
    #[inline]
    pub(crate) fn key(self) -> u64 {
        dummy_key(self.bucket)
    }

    /// The dummy's bucket index.
    #[inline]
    pub(crate) fn bucket(self) -> usize {
        self.bucket
    }

    /// The list word that points at this dummy.
    #[inline]
    fn word<'g>(self, guard: &'g Guard) -> Shared<'g, Node<K, V>> {
        Shared::from_index(self.bucket, guard).with_tag(DUMMY)
    }
}

/// The directory: the table's size and its segments of buckets.
pub(crate) struct Directory<K, V> {
    /// Buckets in use: a power of two, at least the floor.
    size: AtomicUsize,
    /// log2 of the floor (the size the map was built with).
    floor_shift: u32,
    /// Segment `j`'s address (0 while not allocated); see the module doc.
    /// A segment of `n` buckets holds `n` links, then `ceil(n / 32)` state
    /// words ([`segment_layout`]).
    segments: alloc::boxed::Box<[AtomicUsize]>,
    _owns: core::marker::PhantomData<Link<Node<K, V>>>,
}

/// The layout of a segment of `n >= 1` buckets and the offset of its state
/// words: `n` links, then the state words.
fn segment_layout<K, V>(n: usize) -> Option<(Layout, usize)> {
    let links = Layout::array::<Link<Node<K, V>>>(n).ok()?;
    let states = Layout::array::<AtomicU64>(n.div_ceil(PER_WORD)).ok()?;
    links.extend(states).ok()
}

/// The offset of the state words in a segment of `n` buckets, as
/// [`segment_layout`] computes it (without its checks: `n` is the length of
/// an allocated segment, so the layout exists).
#[inline]
fn states_offset<K, V>(n: usize) -> usize {
    (n * core::mem::size_of::<Link<Node<K, V>>>())
        .next_multiple_of(core::mem::align_of::<AtomicU64>())
}

impl<K, V> Directory<K, V> {
    /// A directory of `floor` buckets (a power of two), bucket 0 linked.
    pub(crate) fn new(floor: usize) -> Result<Self, AllocFailed> {
        debug_assert!(floor.is_power_of_two() && floor <= super::MAX_BUCKETS);
        let floor_shift = floor.trailing_zeros();
        let count = (super::MAX_BUCKETS.trailing_zeros() - floor_shift) as usize + 1;
        let mut segments = Vec::new();
        segments.try_reserve_exact(count).map_err(|_| AllocFailed)?;
        segments.resize_with(count, || AtomicUsize::new(0));
        let first = allocate::<K, V>(floor)?;
        segments[0] = AtomicUsize::new(first as usize);
        let dir = Self {
            size: AtomicUsize::new(floor),
            floor_shift,
            segments: segments.into_boxed_slice(),
            _owns: core::marker::PhantomData,
        };
        // Bucket 0's dummy (key 0) heads the list from the start.
        // SAFETY: bucket 0 is in segment 0, allocated above.
        let (_, state, shift) = unsafe { dir.bucket(0) };
        state.fetch_or((CLAIMED | LINKED) << shift, Ordering::Relaxed);
        Ok(dir)
    }

    /// The buckets in use now.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        // ORDERING: Relaxed: a report; the operations load it with Acquire.
        self.size.load(Ordering::Relaxed)
    }

    /// The size the map was built with, below which it never shrinks.
    #[inline]
    pub(crate) fn floor(&self) -> usize {
        1 << self.floor_shift
    }

    /// Buckets in segment `j`.
    #[inline]
    fn segment_len(&self, j: usize) -> usize {
        if j == 0 {
            self.floor()
        } else {
            self.floor() << (j - 1)
        }
    }

    /// Bucket `b`'s segment, its length and `b`'s offset in it.
    ///
    /// # Safety
    ///
    /// `b`'s segment is allocated and visible to this thread: `b` is below a
    /// size this thread loaded from `size` with Acquire, or an ancestor of
    /// such a bucket, or a bucket whose dummy word this thread loaded from
    /// the list (its claimer linked it after acquiring a size above it).
    #[inline]
    unsafe fn locate(&self, b: usize) -> (*const u8, usize, usize) {
        let (j, offset) = if b < self.floor() {
            (0, b)
        } else {
            let top = usize::BITS - 1 - b.leading_zeros();
            ((top - self.floor_shift) as usize + 1, b - (1usize << top))
        };
        // ORDERING: Acquire pairs with the AcqRel CAS that published the
        // segment, so its initialised (or zeroed) buckets are visible.
        let base = self.segments[j].load(Ordering::Acquire) as *const u8;
        debug_assert!(!base.is_null(), "bucket {b} of an unallocated segment");
        (base, self.segment_len(j), offset)
    }

    /// Bucket `b`'s dummy.
    ///
    /// # Safety
    ///
    /// As for [`Self::locate`].
    #[inline]
    unsafe fn dummy(&self, b: usize) -> Dummy<'_, K, V> {
        // SAFETY: the caller's contract.
        unsafe { self.bucket(b) }.0
    }

    /// Bucket `b`'s dummy, its state word and the shift of its two bits in
    /// that word.
    ///
    /// # Safety
    ///
    /// As for [`Self::locate`].
    #[inline]
    unsafe fn bucket(&self, b: usize) -> (Dummy<'_, K, V>, &AtomicU64, u32) {
        // SAFETY: the caller's contract.
        let (base, n, offset) = unsafe { self.locate(b) };
        // SAFETY: an allocated segment of `n > offset` buckets starts with
        // `n` initialised links, and holds `ceil(n / 32)` initialised state
        // words at `states_offset(n)`, aligned for them (`segment_layout`),
        // of which `offset / 32` is one; segments live as long as `self`.
        let (next, state) = unsafe {
            (
                &*(base as *const Link<Node<K, V>>).add(offset),
                &*(base.add(states_offset::<K, V>(n)) as *const AtomicU64).add(offset / PER_WORD),
            )
        };
        let dummy = Dummy {
            dir: self,
            bucket: b,
            next,
        };
        (dummy, state, 2 * (offset % PER_WORD) as u32)
    }

    /// The dummy a list word tagged [`DUMMY`] names.
    ///
    /// # Safety
    ///
    /// `word` was loaded from a link of this directory's list (every such
    /// word was written by `link`, after its claimer acquired a size above
    /// the bucket, so the Acquire load that read the word, or the one it was
    /// read behind, makes the segment visible).
    #[inline]
    pub(crate) unsafe fn named(&self, word: Shared<'_, Node<K, V>>) -> Dummy<'_, K, V> {
        debug_assert!(word.tag() & DUMMY != 0);
        // SAFETY: the caller's contract is `locate`'s third case.
        unsafe { self.dummy(word.index()) }
    }

    /// Prefetches the dummy `ahead` places after the dummy of key `key` in
    /// list order, counted among the `size` buckets (a size this thread
    /// loaded with Acquire, as every reader does): the bucket whose
    /// reversed index is `key + ahead * 2^64 / size` (`key` cut to its
    /// bucket among `size`), always below `size`. A walk along the list
    /// meets the dummies of a table in bit-reversed order, each in another
    /// part of the directory (another page, for a large table); fetching the
    /// next ones while this run is read overlaps those misses. Nothing is
    /// read for the program: the link's address is computed from the
    /// segment table (one Acquire load of a published segment) and handed to
    /// the CPU as a hint. Skipped in the model builds (`sync::PREFETCH`).
    ///
    /// With `node`, it prefetches instead the first node after that dummy:
    /// the dummy's `next` is read without protection (its line was
    /// prefetched a few dummies earlier) and only handed to the CPU.
    #[inline]
    pub(crate) fn prefetch_ahead(&self, key: u64, size: usize, ahead: u64, node: Option<&Guard>) {
        if !sync::PREFETCH || size < 2 {
            return;
        }
        let step = 1u64 << (64 - size.trailing_zeros());
        // The key's bucket among `size` (a dummy met on the walk may be of a
        // bucket at or above `size`: the table grew since, or shrank).
        let key = key & !(step - 1);
        let Some(next) = ahead.checked_mul(step).and_then(|d| key.checked_add(d)) else {
            return; // past the last bucket
        };
        let b = next.reverse_bits() as usize;
        debug_assert!(b < size);
        // SAFETY: `b < size`, a size the caller loaded with Acquire, so its
        // segment is allocated (segments are published before the size CAS
        // that covers them, and never freed while the map lives).
        let dummy = unsafe { self.dummy(b) };
        match node {
            None => sync::prefetch(dummy.next),
            Some(guard) => {
                let (first, tag) = dummy.next.peek(guard);
                // A dummy word holds an index, no address to fetch.
                if !first.is_null() && tag & DUMMY == 0 {
                    sync::prefetch(first);
                }
            }
        }
    }

    /// The buckets in use now, loaded with Acquire: every segment below it
    /// is allocated and visible.
    #[inline]
    pub(crate) fn size_acquire(&self) -> usize {
        // ORDERING: Acquire pairs with the CAS that raised the size, which
        // follows the publication of every segment below it.
        self.size.load(Ordering::Acquire)
    }

    /// Bucket 0's dummy, the head of the list.
    #[inline]
    pub(crate) fn first(&self) -> Dummy<'_, K, V> {
        // SAFETY: segment 0 is allocated when the directory is built.
        unsafe { self.dummy(0) }
    }

    /// Where a reader of a key of hash `hash` starts: the dummy of its
    /// bucket if that is linked, else of the nearest linked ancestor; or
    /// `None` when the key is certainly absent. Writes nothing.
    ///
    /// Absent for certain: the walk up the ancestors reached the bucket
    /// `r = hash & (floor - 1)` of the floor segment and found it untouched.
    /// Every writer reads a size of at least the floor, so a writer of any
    /// key of hash `h` with `h & (floor - 1) == r` prepares a bucket whose
    /// ancestors include `r`, and `prepare` leaves every ancestor it passes
    /// claimed or linked *before* the writer links its node. So no node of
    /// the key was linked before this load read `r` untouched (a node whose
    /// link happens before the load would have its claim of `r` happen
    /// before it too, and coherence forbids reading the older state). This
    /// spares the lookup of an absent key in a sparsely used table the walk
    /// from a distant ancestor.
    #[inline]
    pub(crate) fn reader_start(&self, hash: u64) -> Option<Dummy<'_, K, V>> {
        // ORDERING: Acquire pairs with the CAS that raised the size, which
        // follows the publication of every segment below it.
        let size = self.size.load(Ordering::Acquire);
        let mut b = (hash as usize) & (size - 1);
        loop {
            if b == 0 {
                return Some(self.first());
            }
            match self.probe(b) {
                Probe::Linked(dummy) => return Some(dummy),
                Probe::Absent => return None,
                Probe::Unlinked => b = parent(b),
            }
        }
    }

    /// Where a lookup (`get` and its kin) of a key of hash `hash` starts:
    /// the dummy of its bucket, which the lookup prepares first (claims and
    /// links, as a writer does) if it is not linked yet; or `None` when the
    /// key is certainly absent (as in [`reader_start`](Self::reader_start)).
    ///
    /// A bucket above the floor stays untouched after a doubling until some
    /// thread prepares it, and a lookup from an ancestor walks the nodes of
    /// every bucket between. After growth to 2^21 buckets by 1,000,000
    /// inserts, 39% of the buckets were linked, and a hit cost 385 ns where
    /// it costs 210-250 ns once the lookups have linked their buckets
    /// (docs/benchmarks.md). So a lookup helps: once per bucket and
    /// doubling it claims and links, after that its bucket is one Acquire
    /// load. Linking a dummy changes no key's presence, so it is no step of
    /// the lookup's linearization.
    #[inline]
    pub(crate) fn lookup_start<'g>(&'g self, hash: u64, guard: &'g Guard) -> Option<Dummy<'g, K, V>>
    where
        K: 'static,
        V: 'static,
    {
        // ORDERING: Acquire, as in `reader_start`.
        let size = self.size.load(Ordering::Acquire);
        let b = (hash as usize) & (size - 1);
        if b == 0 {
            return Some(self.first());
        }
        match self.probe(b) {
            Probe::Linked(dummy) => Some(dummy),
            Probe::Absent => None,
            Probe::Unlinked => Some(self.prepare(b, guard)),
        }
    }

    /// What a lookup learns of bucket `b > 0` (below a size loaded with
    /// Acquire, or an ancestor of such a bucket) from one load of its state.
    #[inline(always)]
    fn probe(&self, b: usize) -> Probe<'_, K, V> {
        // SAFETY: `b` is below a size the caller loaded with Acquire, or an
        // ancestor of such a bucket (smaller, so also below it).
        let (dummy, state, shift) = unsafe { self.bucket(b) };
        // The link is read after the state (its Acquire orders the link's
        // load); the prefetch fetches its line now, a hint only, so the miss
        // overlaps the state load and, in a loop of lookups, the previous
        // lookup's node miss. Off in the model builds.
        if sync::PREFETCH {
            sync::prefetch(dummy.next);
        }
        // ORDERING: Acquire pairs with the Release `fetch_or` of `LINKED`,
        // so the link that joined the dummy to the list is visible (the
        // claims and links of the word's other buckets are RMWs: they
        // continue that release sequence).
        let bits = (state.load(Ordering::Acquire) >> shift) & STATE;
        if bits & LINKED != 0 {
            return Probe::Linked(dummy);
        }
        // LINEARIZATION(get): an absent key's, when this load finds the
        // floor bucket of the key untouched (see `reader_start`).
        if bits == 0 && b < self.floor() {
            return Probe::Absent;
        }
        Probe::Unlinked
    }

    /// Where a writer of a key of hash `hash` starts: as `reader_start`,
    /// but an untouched bucket on the way is claimed and linked first.
    pub(crate) fn writer_start<'g>(&'g self, hash: u64, guard: &'g Guard) -> Dummy<'g, K, V>
    where
        K: 'static,
        V: 'static,
    {
        // ORDERING: Acquire, as in `reader_start`.
        let size = self.size.load(Ordering::Acquire);
        self.prepare((hash as usize) & (size - 1), guard)
    }

    /// Bucket `b`'s dummy if it is linked (linking it first if this thread
    /// claims it now), else the nearest ancestor's that is.
    fn prepare<'g>(&'g self, b: usize, guard: &'g Guard) -> Dummy<'g, K, V>
    where
        K: 'static,
        V: 'static,
    {
        if b == 0 {
            return self.first();
        }
        // SAFETY: `b` is below the size the caller loaded, or an ancestor.
        let (dummy, state, shift) = unsafe { self.bucket(b) };
        // As in `reader_start`: the link's line, fetched while the state is.
        if sync::PREFETCH {
            sync::prefetch(dummy.next);
        }
        // ORDERING: Acquire, as in `reader_start`.
        let bits = (state.load(Ordering::Acquire) >> shift) & STATE;
        if bits & LINKED != 0 {
            return dummy;
        }
        // ORDERING: Relaxed: the claim publishes nothing; it only makes this
        // thread the one linker (of RMWs on one word, exactly one reads the
        // bucket's `CLAIMED` bit clear).
        if bits == 0
            && (state.fetch_or(CLAIMED << shift, Ordering::Relaxed) >> shift) & CLAIMED == 0
        {
            let parent = self.prepare(parent(b), guard);
            link(dummy, (state, shift), parent, guard);
            return dummy;
        }
        // Claimed by another thread and not linked yet: the parent serves.
        self.prepare(parent(b), guard)
    }

    /// Doubles the table from `size` (the size the caller saw), allocating
    /// the segment of the new buckets if no thread has. False if the size
    /// moved meanwhile, is the largest, or the segment cannot be allocated
    /// (then the map works on at a higher load).
    pub(crate) fn grow(&self, size: usize) -> bool {
        let Some(new) = size.checked_mul(2).filter(|&n| n <= super::MAX_BUCKETS) else {
            return false;
        };
        let j = (size.trailing_zeros() - self.floor_shift) as usize + 1;
        // ORDERING: Acquire, as in `locate`.
        if self.segments[j].load(Ordering::Acquire) == 0 {
            let Ok(segment) = allocate::<K, V>(self.segment_len(j)) else {
                return false;
            };
            // ORDERING: AcqRel. Release publishes the segment's buckets to
            // the Acquire loads in `locate`; Acquire (also on failure) pairs
            // with the CAS of the thread that won, whose segment the size
            // CAS below then releases again.
            if self.segments[j]
                .compare_exchange(0, segment as usize, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: ours, never published.
                unsafe { free::<K, V>(segment, self.segment_len(j)) };
            }
        }
        // ORDERING: AcqRel. Release: a thread that acquires the new size
        // sees the segment (published or acquired above). Acquire pairs with
        // the CAS that wrote `size`.
        self.size
            .compare_exchange(size, new, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Halves the table from `size` unless that is the floor. False if the
    /// size moved meanwhile.
    pub(crate) fn shrink(&self, size: usize) -> bool {
        if size <= self.floor() {
            return false;
        }
        // ORDERING: AcqRel, as in `grow` (the segments below the new size
        // were published before the size that covered them).
        self.size
            .compare_exchange(size, size / 2, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// With exclusive access: a bucket dummy met by the caller's walk of
    /// the list is put back to untouched (its link emptied, its bits clear).
    pub(crate) fn reset(&self, dummy: Dummy<'_, K, V>) {
        debug_assert!(dummy.bucket > 0);
        dummy.next.store_private(Shared::null());
        // SAFETY: the dummy was reached through the list.
        let (_, state, shift) = unsafe { self.bucket(dummy.bucket) };
        // ORDERING: Relaxed: exclusive access (`&mut` of the map).
        state.fetch_and(!(STATE << shift), Ordering::Relaxed);
    }

    /// With exclusive access: the list head emptied (bucket 0 stays linked).
    pub(crate) fn clear_head(&self) {
        self.first().next.store_private(Shared::null());
    }
}

/// Links the claimed dummy `dummy` into the list after the last node of
/// smaller key, searching from `start` (a linked ancestor), then marks it
/// linked in its state word.
fn link<K: 'static, V: 'static>(
    dummy: Dummy<'_, K, V>,
    (state, shift): (&AtomicU64, u32),
    start: Dummy<'_, K, V>,
    guard: &Guard,
) {
    let word = dummy.word(guard);
    loop {
        let (pred, succ) = list::position(start, dummy.key(), guard);
        // The dummy is private until the CAS below: nothing reads its link.
        dummy.next.store_private(succ);
        // ORDERING: AcqRel. Release publishes the dummy's `next` to readers
        // that acquire `pred`; Acquire pairs with the CAS that last wrote
        // `pred`.
        if pred.cas(succ, word, Ordering::AcqRel, Ordering::Relaxed, guard) {
            // ORDERING: Release pairs with the Acquire loads of the state in
            // `reader_start` and `prepare`: a thread that sees `LINKED` sees
            // the dummy in the list. An RMW, as the word is shared.
            state.fetch_or(LINKED << shift, Ordering::Release);
            return;
        }
        sync::hint();
    }
}

/// A segment of `n` untouched buckets (null links, zero state words).
fn allocate<K, V>(n: usize) -> Result<*mut u8, AllocFailed> {
    let (layout, states) = segment_layout::<K, V>(n).ok_or(AllocFailed)?;
    debug_assert_eq!(states, states_offset::<K, V>(n));
    if reclaim::ZEROED_LINK_IS_NULL && sync::ZEROED_ATOMIC_IS_ZERO {
        // SAFETY: `n >= 1`, so the layout is not zero-sized. All-zero bytes
        // are a null link (`ZEROED_LINK_IS_NULL`) and a zero atomic
        // (`ZEROED_ATOMIC_IS_ZERO`): untouched buckets.
        let ptr = unsafe { reclaim::alloc_bytes(layout, true) };
        if ptr.is_null() {
            Err(AllocFailed)
        } else {
            Ok(ptr)
        }
    } else {
        // SAFETY: as above, not zero-sized.
        let ptr = unsafe { reclaim::alloc_bytes(layout, false) };
        if ptr.is_null() {
            return Err(AllocFailed);
        }
        let links = ptr as *mut Link<Node<K, V>>;
        for i in 0..n {
            // SAFETY: `i < n`: inside the links of the fresh allocation.
            unsafe { links.add(i).write(Link::null()) };
        }
        // SAFETY: the state words start at `states`, inside the allocation
        // and aligned for them (`segment_layout`).
        let words = unsafe { ptr.add(states) } as *mut AtomicU64;
        for i in 0..n.div_ceil(PER_WORD) {
            // SAFETY: `i` is below the number of state words of the layout.
            unsafe { words.add(i).write(AtomicU64::new(0)) };
        }
        Ok(ptr)
    }
}

/// Frees a segment of `n` buckets.
///
/// # Safety
///
/// `ptr` came from `allocate(n)` and no thread can reach it any more.
unsafe fn free<K, V>(ptr: *mut u8, n: usize) {
    let Some((layout, states)) = segment_layout::<K, V>(n) else {
        unreachable!("an allocated segment has a layout");
    };
    let links = ptr as *mut Link<Node<K, V>>;
    // SAFETY: `allocate(n)` initialised `n` links and the state words (zero
    // bytes are valid values of both where it did not write them), and
    // nothing else reaches them: each is dropped once, then the memory is
    // given back with its layout.
    unsafe {
        core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(links, n));
        core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(
            ptr.add(states) as *mut AtomicU64,
            n.div_ceil(PER_WORD),
        ));
        reclaim::free_bytes(ptr, layout);
    }
}

impl<K, V> Drop for Directory<K, V> {
    fn drop(&mut self) {
        for j in 0..self.segments.len() {
            let ptr = self.segments[j].load(Ordering::Relaxed) as *mut u8;
            if !ptr.is_null() {
                // SAFETY: `&mut self`: the map is gone; the segment was
                // allocated with `segment_len(j)` buckets.
                unsafe { free::<K, V>(ptr, self.segment_len(j)) };
            }
        }
    }
}
