//! The bucket directory of the split-ordered list: one 16-byte entry per
//! bucket, in segments that are allocated as the map grows and never move.
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
//! The dummies live *in the directory* (the 16-byte [`Dummy`]: a `next` link
//! and a state word), not in separate allocations, so a lookup costs one
//! directory load and, usually, one node load, as with the fixed table of
//! heads. A link word that points at a dummy carries the [`DUMMY`] tag.
//!
//! A dummy is only a shortcut into the one list. So initialisation can be
//! exclusive without anyone waiting on it: the writer whose CAS *claims* an
//! untouched entry links it in; every other thread, reader or writer, that
//! finds an entry not yet linked starts from the bucket's *parent* (the
//! bucket index with its highest bit cleared, whose dummy precedes it in the
//! list), and bucket 0's dummy is linked when the map is built. A claimer
//! that stalls leaves its bucket served by the parent, with a longer walk
//! and nothing else. Readers never write: they neither claim nor link.
//!
//! # State table of a directory entry
//!
//! | state (`word`)         | meaning                                   | left by                         | who may make the step |
//! | ---------------------- | ----------------------------------------- | ------------------------------- | --------------------- |
//! | `0` untouched          | not in the list; never claimed            | CAS `0 -> key | CLAIMED`        | any writer whose operation's bucket it is (or an ancestor of it) |
//! | `key | CLAIMED`        | claimed; being linked (or linked, not yet marked) | store `key | LINKED` after the linking CAS | the claimer alone |
//! | `key | LINKED`         | in the list; a start for every thread     | never (until the map is dropped) | nobody |
//!
//! and of its `next` link: private to the claimer until the one CAS on its
//! list predecessor (the last node with a smaller key) that links it; from
//! then on it is a link of the list like any live node's `next`, except
//! that no CAS ever tags it: **dummies never die**.
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
use alloc::boxed::Box;
use alloc::vec::Vec;

/// Tag on a link word: the pointer is a bucket's [`Dummy`] in the directory,
/// not a node. (The two low tags, on a node's `next`, say the *holder* is
/// dead; this one says what the word *points at*.)
pub(crate) const DUMMY: usize = 0b100;

/// State bits of a dummy's `word`, below its split-order key.
const CLAIMED: u64 = 0b01;
const LINKED: u64 = 0b10;
const STATE: u64 = 0b11;

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

/// The bucket whose dummy precedes `b`'s in the list: `b` without its
/// highest set bit. `b > 0`.
#[inline]
fn parent(b: usize) -> usize {
    debug_assert!(b > 0);
    b & !(1usize << (usize::BITS - 1 - b.leading_zeros()))
}

/// A bucket's dummy node: a link of the list and its state.
#[repr(C)]
pub(crate) struct Dummy<K, V> {
    /// The dummy's successor in the list (see the module doc for when it is
    /// shared).
    pub(crate) next: Link<Node<K, V>>,
    /// `0`, `key | CLAIMED` or `key | LINKED` (the state table above).
    word: AtomicU64,
}

impl<K, V> Dummy<K, V> {
    fn new() -> Self {
        Self {
            next: Link::null(),
            word: AtomicU64::new(0),
        }
    }

    /// The split-order key of a dummy reached through the list.
    #[inline]
    pub(crate) fn key(&self) -> u64 {
        // ORDERING: Relaxed: the claim CAS wrote the key before the linking
        // CAS released the dummy into the list, and this thread reached the
        // dummy through an Acquire load of a link that CAS (or a later RMW
        // of its release sequence) wrote; coherence then forbids reading the
        // untouched 0 before it. The state bits are masked off.
        self.word.load(Ordering::Relaxed) & !STATE
    }

    /// Back to untouched, with exclusive access (the map is being emptied).
    fn reset(&self) {
        self.next.store_private(Shared::null());
        self.word.store(0, Ordering::Relaxed);
    }
}

/// The directory: the table's size and its segments of dummies.
pub(crate) struct Directory<K, V> {
    /// Buckets in use: a power of two, at least the floor.
    size: AtomicUsize,
    /// log2 of the floor (the size the map was built with).
    floor_shift: u32,
    /// Segment `j`'s address (0 while not allocated); see the module doc.
    segments: Box<[AtomicUsize]>,
    _owns: core::marker::PhantomData<Dummy<K, V>>,
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
        // SAFETY: just allocated with `floor >= 1` entries, not shared yet.
        let zero = unsafe { &*first };
        // Bucket 0's dummy (key 0) heads the list from the start.
        zero.word.store(LINKED, Ordering::Relaxed);
        segments[0] = AtomicUsize::new(first as usize);
        Ok(Self {
            size: AtomicUsize::new(floor),
            floor_shift,
            segments: segments.into_boxed_slice(),
            _owns: core::marker::PhantomData,
        })
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

    /// Entries in segment `j`.
    #[inline]
    fn segment_len(&self, j: usize) -> usize {
        if j == 0 {
            self.floor()
        } else {
            self.floor() << (j - 1)
        }
    }

    /// Bucket `b`'s dummy.
    ///
    /// # Safety
    ///
    /// `b`'s segment is allocated: `b` is below a size this thread loaded
    /// from `size` with Acquire, or below a bucket it already reached.
    #[inline]
    unsafe fn entry(&self, b: usize) -> &Dummy<K, V> {
        let (j, offset) = if b < self.floor() {
            (0, b)
        } else {
            let top = usize::BITS - 1 - b.leading_zeros();
            ((top - self.floor_shift) as usize + 1, b - (1usize << top))
        };
        // ORDERING: Acquire pairs with the AcqRel CAS that published the
        // segment, so its initialised (or zeroed) entries are visible.
        let base = self.segments[j].load(Ordering::Acquire) as *const Dummy<K, V>;
        debug_assert!(!base.is_null(), "bucket {b} of an unallocated segment");
        // SAFETY: the caller's contract: the segment is allocated, with
        // `segment_len(j) > offset` entries; segments live as long as `self`.
        unsafe { &*base.add(offset) }
    }

    /// Prefetches the dummy `ahead` places after the dummy of key `key` in
    /// list order, counted among the `size` buckets (a size this thread
    /// loaded with Acquire, as every reader does): the bucket whose
    /// reversed index is `key + ahead * 2^64 / size` (`key` cut to its
    /// bucket among `size`), always below `size`. A walk along the list
    /// meets the dummies of a table in bit-reversed order, each in another
    /// part of the directory (another page, for a large table); fetching the
    /// next ones while this run is read overlaps those misses. Nothing is
    /// read for the program: the entry's address is computed from the
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
        let dummy = unsafe { self.entry(b) };
        match node {
            None => sync::prefetch(dummy),
            Some(guard) => {
                let first = dummy.next.peek(guard);
                if !first.is_null() {
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
    pub(crate) fn first(&self) -> &Dummy<K, V> {
        // SAFETY: segment 0 is allocated when the directory is built.
        unsafe { self.entry(0) }
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
    /// before it too, and coherence forbids reading the older 0). This
    /// spares the lookup of an absent key in a sparsely used table the walk
    /// from a distant ancestor.
    #[inline]
    pub(crate) fn reader_start(&self, hash: u64) -> Option<&Link<Node<K, V>>> {
        // ORDERING: Acquire pairs with the CAS that raised the size, which
        // follows the publication of every segment below it.
        let size = self.size.load(Ordering::Acquire);
        let mut b = (hash as usize) & (size - 1);
        loop {
            // SAFETY: `b < size`, loaded above with Acquire.
            let dummy = unsafe { self.entry(b) };
            if b == 0 {
                return Some(&dummy.next);
            }
            // ORDERING: Acquire pairs with the Release store of `LINKED`, so
            // the link that joined the dummy to the list is visible.
            let word = dummy.word.load(Ordering::Acquire);
            if word & LINKED != 0 {
                return Some(&dummy.next);
            }
            // LINEARIZATION(get): an absent key's, when this load finds the
            // floor bucket of the key untouched (see above).
            if word == 0 && b < self.floor() {
                return None;
            }
            b = parent(b);
        }
    }

    /// Where a writer of a key of hash `hash` starts: as `reader_start`,
    /// but an untouched entry on the way is claimed and linked first.
    pub(crate) fn writer_start<'g>(&'g self, hash: u64, guard: &'g Guard) -> &'g Link<Node<K, V>>
    where
        K: 'static,
        V: 'static,
    {
        // ORDERING: Acquire, as in `reader_start`.
        let size = self.size.load(Ordering::Acquire);
        &self.prepare((hash as usize) & (size - 1), guard).next
    }

    /// Bucket `b`'s dummy if it is linked (linking it first if this thread
    /// claims it now), else the nearest ancestor's that is.
    fn prepare<'g>(&'g self, b: usize, guard: &'g Guard) -> &'g Dummy<K, V>
    where
        K: 'static,
        V: 'static,
    {
        // SAFETY: `b` is below the size the caller loaded, or an ancestor.
        let dummy = unsafe { self.entry(b) };
        if b == 0 {
            return dummy;
        }
        // ORDERING: Acquire, as in `reader_start`.
        let word = dummy.word.load(Ordering::Acquire);
        if word & LINKED != 0 {
            return dummy;
        }
        let key = dummy_key(b);
        // ORDERING: Relaxed: the claim publishes nothing (the key it writes
        // travels with the later linking CAS); it only makes this thread the
        // one linker.
        if word == 0
            && dummy
                .word
                .compare_exchange(0, key | CLAIMED, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let parent = self.prepare(parent(b), guard);
            link(dummy, key, &parent.next, guard);
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
        // ORDERING: Acquire, as in `entry`.
        if self.segments[j].load(Ordering::Acquire) == 0 {
            let Ok(segment) = allocate::<K, V>(self.segment_len(j)) else {
                return false;
            };
            // ORDERING: AcqRel. Release publishes the segment's entries to
            // the Acquire loads in `entry`; Acquire (also on failure) pairs
            // with the CAS of the thread that won, whose segment the size
            // CAS below then releases again.
            if self.segments[j]
                .compare_exchange(0, segment as usize, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
            {
                // SAFETY: ours, never published.
                unsafe { free(segment, self.segment_len(j)) };
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

    /// With exclusive access: bucket dummies met by the caller's walk of the
    /// list are put back to untouched, bucket 0's to an empty list.
    pub(crate) fn reset(&self, dummy: &Dummy<K, V>) {
        dummy.reset();
    }

    /// With exclusive access: the list head emptied (bucket 0 stays linked).
    pub(crate) fn clear_head(&self) {
        let first = self.first();
        first.next.store_private(Shared::null());
    }
}

/// Links the claimed dummy `dummy` (of split-order key `key`) into the list
/// after the last node of smaller key, searching from `start` (a linked
/// ancestor's `next`), then marks it linked.
fn link<K: 'static, V: 'static>(
    dummy: &Dummy<K, V>,
    key: u64,
    start: &Link<Node<K, V>>,
    guard: &Guard,
) {
    let word =
        Shared::from_owned(dummy as *const Dummy<K, V> as *mut Node<K, V>, guard).with_tag(DUMMY);
    loop {
        let (pred, succ) = list::position(start, key, guard);
        // The dummy is private until the CAS below: nothing reads its link.
        dummy.next.store_private(succ);
        // ORDERING: AcqRel. Release publishes the dummy's `next` and its
        // claimed key to readers that acquire `pred`; Acquire pairs with the
        // CAS that last wrote `pred`.
        if pred.cas(succ, word, Ordering::AcqRel, Ordering::Relaxed, guard) {
            // ORDERING: Release pairs with the Acquire loads of the state in
            // `reader_start` and `prepare`: a thread that sees `LINKED` sees
            // the dummy in the list.
            dummy.word.store(key | LINKED, Ordering::Release);
            return;
        }
        sync::hint();
    }
}

/// `n` untouched entries.
fn allocate<K, V>(n: usize) -> Result<*mut Dummy<K, V>, AllocFailed> {
    if reclaim::ZEROED_LINK_IS_NULL && sync::ZEROED_ATOMIC_IS_ZERO {
        let layout = core::alloc::Layout::array::<Dummy<K, V>>(n).map_err(|_| AllocFailed)?;
        // SAFETY: `n >= 1` and an entry is 16 bytes, so the layout is not
        // zero-sized. All-zero bytes are a valid untouched entry here: a null
        // link (`ZEROED_LINK_IS_NULL`) and a zero atomic (`ZEROED_ATOMIC_IS_ZERO`).
        let ptr = unsafe { alloc::alloc::alloc_zeroed(layout) } as *mut Dummy<K, V>;
        if ptr.is_null() {
            Err(AllocFailed)
        } else {
            Ok(ptr)
        }
    } else {
        let mut entries: Vec<Dummy<K, V>> = Vec::new();
        entries.try_reserve_exact(n).map_err(|_| AllocFailed)?;
        entries.resize_with(n, Dummy::new);
        Ok(Box::into_raw(entries.into_boxed_slice()) as *mut Dummy<K, V>)
    }
}

/// Frees a segment of `n` entries.
///
/// # Safety
///
/// `ptr` came from `allocate(n)` and no thread can reach it any more.
unsafe fn free<K, V>(ptr: *mut Dummy<K, V>, n: usize) {
    // SAFETY: both ways of `allocate` give memory of the global allocator
    // with the layout of `[Dummy; n]`, holding `n` initialised entries.
    drop(unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, n)) });
}

impl<K, V> Drop for Directory<K, V> {
    fn drop(&mut self) {
        for j in 0..self.segments.len() {
            let ptr = self.segments[j].load(Ordering::Relaxed) as *mut Dummy<K, V>;
            if !ptr.is_null() {
                // SAFETY: `&mut self`: the map is gone; the segment was
                // allocated with `segment_len(j)` entries.
                unsafe { free(ptr, self.segment_len(j)) };
            }
        }
    }
}
