//! One hopscotch table: slots, home words, displacement.
//!
//! A table of `n` slots (a power of two) has one *home word* per slot index
//! (`homes[h]`, an `AtomicU64` kept beside slot `h`), read as
//!
//! ```text
//!  63 ............. 34 | 33     | 32       | 31 ....... 0
//!  relocation counter  | FROZEN | OVERFLOW | hop bitmap
//! ```
//!
//! A key of hash `x` has home `h = x & (n - 1)` and lives in one of the `H`
//! slots `h, h+1, .., h+H-1` (its *neighbourhood*, indices mod `n`; `H` is
//! the map's neighbourhood size, at most `n`), or, once its home is in
//! overflow mode, in the home's overflow list (`overflow.rs`).
//!
//! # Invariants
//!
//! * Bit `d` of `homes[h]` is set iff slot `h + d` holds home `h`'s
//!   *committed* state: an entry [`LIVE`], [`PENDING`] (inserted, not yet
//!   shown), [`DELETED`] (removed, not yet freed), [`FROZEN`]/[`COPIED`] by a
//!   migration, or a [`Move`] of it ([`MOVE`] at the source while the move
//!   is uncommitted, [`DEST`] at the destination once committed). A slot is
//!   committed for at most one home.
//! * Every change of a home's *set of keys or their places* changes its word
//!   and bumps the counter: a commit of a new key (bit set), the commit of a
//!   displacement (bit moved), the release of a removed key's slot (bit
//!   cleared), overflow mode (bit 32), a migration's freeze (bit 33). So a
//!   reader that loads the same word before and after its scan knows that no
//!   key of the home was added or moved meanwhile (the relocation counter of
//!   Kelly, Pearlmutter and Maguire's lock-free hopscotch hashing).
//! * An update of a present key replaces the entry pointer in its slot (one
//!   CAS on the slot, expecting the untagged old entry); a removal tags it
//!   [`DELETED`]. Neither touches the home word, and neither can act on a
//!   slot frozen by a displacement ([`MOVE`]) or a migration.
//! * A new key is committed by one CAS on its home word, expecting the word
//!   its search found the key absent in; the entry waits in its reserved slot
//!   as [`PENDING`] and is shown by a second CAS (untag). Two inserts of one
//!   key therefore cannot both commit, and a committed key is never in two
//!   places.
//! * [`OVERFLOW`] is sticky for the life of the table: once set, new keys of
//!   the home go to its overflow list and never to the neighbourhood, so a
//!   search that finds a key absent from the neighbourhood may then look in
//!   the list alone.
//! * [`FROZEN`] (bit 33) is permanent: no CAS on a frozen home word succeeds
//!   except the migration's own reads. Slots are frozen only after their
//!   home.
//!
//! # Displacement
//!
//! An insert whose free slot `s` is beyond its neighbourhood moves an entry
//! `x` (committed in slot `j < s` of home `hx`, with `s` still in `hx`'s
//! neighbourhood) into `s`, then takes `j`. The move is described by a
//! [`Move`] `M` and driven by slot and home CASes that any thread may perform
//! ([`Table::help_move`]):
//!
//! 1. the inserter replaces its reservation in `s` by `M|HOLE` (private);
//! 2. it freezes the source: `j: x → M|MOVE` (the only decision, and only
//!    the inserter makes it; if it fails, it takes `s` back and retires `M`);
//! 3. anyone: `s: M|HOLE → M|DEST` (fill the destination);
//! 4. anyone: `homes[hx]`: bit `j` → bit `s`, counter + 1 (commit);
//! 5. anyone: `j: M|MOVE → e|PENDING` (the inserter's reservation moves to
//!    `j`), then `s: M|DEST → x`; the thread whose CAS did the last retires
//!    `M`.
//!
//! If a migration freezes `homes[hx]` before step 4, the move can never
//! commit and is undone instead: `s` back to the inserter's reservation,
//! then `j: M|MOVE → x` (that CAS's thread retires `M`). Readers take `x`
//! from `M` at `MOVE` and `DEST` slots: in both `x` is current, since no
//! update or removal can act on it while `M` holds either slot. A reader
//! that scanned while a move committed sees the counter change and rescans.
//!
//! # The overflow heads
//!
//! The heads of the homes' overflow lists are one array of `n` links per
//! table, apart from the buckets (they are read only for homes in overflow
//! mode, which few homes ever enter). It is allocated lazily, by the first
//! thread that is about to put a home of this table in overflow mode, and
//! the table's `overflow` word holds its address:
//!
//! | state (`overflow`) | meaning | left by | who may make the step |
//! | ------------------ | ------- | ------- | --------------------- |
//! | `0` absent | no home of the table is in overflow mode; no list exists | CAS `0 -> a` ([`Table::publish_overflow`]) | any thread in [`Table::set_overflow`] (a writer's `make_room`, or a copier into this table), *before* its CAS of the home word; a thread whose CAS fails frees its own array, which no other thread ever saw |
//! | `a` published | `a[h]` is the head of home `h`'s list (null while `h` is not in overflow mode) | never | nobody; the array is freed with the table (its `Drop`: when kovan frees the retired table, or a map drop, a clear, or a lost `resize::start` frees it) |
//!
//! The CAS expects `0`, which no thread writes again, so it has no ABA; and
//! a table with no home ever in overflow mode (nearly every table) never
//! allocates the array (8 bytes a slot).
//!
//! **O1 (published before overflow mode).** No home word of the table has
//! [`OVERFLOW`] unless the array is published, and every thread that reads
//! a home word with [`OVERFLOW`] finds it published. Argument: the only CAS
//! that sets [`OVERFLOW`] is in [`Table::set_overflow`], whose thread first
//! makes the array published in its own view: by its own successful CAS, or
//! by the failed CAS or the load that read another thread's array with
//! Acquire (so the allocator's Release CAS happens before). Then comes, in
//! program order, its home word CAS (AcqRel). Every later write of a home
//! word is a CAS (an RMW), so every word that has [`OVERFLOW`] (the bit is
//! sticky, and the freeze keeps it) lies in the release sequence of that
//! CAS; a thread that loads such a word with Acquire ([`load_word`]) or
//! reads it in a CAS of its own (AcqRel) synchronizes with the setter. So
//! the publication happens before the thread's load of `overflow`, which
//! coherence forbids to return `0`, and the array's null links (their
//! construction) are visible to it. The load of the address
//! (`overflow_heads`) is Acquire all the same: a caller that saw
//! [`OVERFLOW`] would not need it, but the first check in
//! `publish_overflow` does: a thread that finds another's array there
//! skips its own CAS and may then switch a home and push into that array
//! with no acquiring read in between that carries the array's links to it
//! (mutant `hs-overflow-heads-load-relaxed`, caught by loom).
//!
//! Every reach of an overflow head goes through [`Table::overflow`], for a
//! home whose word the caller saw in overflow mode: `lookup`, `search_home`
//! and `collect` (and, from their results, `insert_new`'s push and
//! `delete`'s unlink); the copier's push into the new table's list, after a
//! new home word it acquired; `migrate_chunk`'s seal, after the freeze that
//! read the word; `finish`'s retirement of the sealed lists. It asserts the
//! array is there, in every build: a silent skip would lose the list's
//! keys. Only two places read a `0` as "no list": `finish`, which has
//! acquired every chunk's done flag (each set after its homes were frozen,
//! so after every [`OVERFLOW`] CAS of the table), and `drain`, with
//! exclusive access.

use super::entry::{descriptor, Entry, DELETED, DEST, FROZEN, LIVE, MOVE, PENDING};
use super::overflow::{self, Node};

mod reserve;
use crate::reclaim::{self, AllocFailed, Guard, Header, Link, Shared};
use crate::sync::{self, AtomicU64, AtomicUsize, Ordering};
use alloc::boxed::Box;
use alloc::vec::Vec;
use core::borrow::Borrow;
use core::cell::RefCell;
use core::marker::PhantomData;
use core::ops::ControlFlow;

/// The largest neighbourhood: the bitmap is the home word's low 32 bits.
pub(crate) const MAX_NEIGHBOURHOOD: usize = 32;

/// Home word: the hop bitmap.
pub(crate) const BITMAP: u64 = 0xFFFF_FFFF;
/// Home word: new keys of this home go to its overflow list (sticky).
pub(crate) const OVERFLOW: u64 = 1 << 32;
/// Home word: a migration froze this home (permanent).
pub(crate) const FROZEN_HOME: u64 = 1 << 33;
/// Home word: one step of the relocation counter (bits 34..64, wrapping).
pub(crate) const STEP: u64 = 1 << 34;

/// Homes per migration chunk: the unit a helping operation copies. Under
/// loom, one home, so that a 4-slot table's resize has four chunks and a
/// scenario can start with a resize under way.
#[cfg(kovan_map_loom)]
pub(crate) const CHUNK: usize = 1;
#[cfg(all(feature = "shuttle", not(kovan_map_loom)))]
pub(crate) const CHUNK: usize = 4;
#[cfg(not(any(kovan_map_loom, feature = "shuttle")))]
pub(crate) const CHUNK: usize = 256;

/// A bucket: the home word of home `h` and slot `h`, side by side, so a
/// lookup whose key sits in its home slot touches one cache line before the
/// entry (16 bytes; four to a line).
pub(crate) struct Bucket<K, V> {
    pub(crate) word: AtomicU64,
    slot: Link<Entry<K, V>>,
}

/// One table. Retired (header first) once a migration has copied it and
/// the map no longer links it.
#[repr(C)]
pub(crate) struct Table<K, V> {
    header: Header,
    mask: usize,
    /// The neighbourhood size: the map's `H`, at most the table size.
    hood: usize,
    buckets: Box<[Bucket<K, V>]>,
    /// The address of the heads of the homes' overflow lists (`size()`
    /// links), or 0 until a home of this table first enters overflow mode
    /// (module doc, "The overflow heads"). Freed in `Drop`.
    overflow: AtomicUsize,
    /// The table owns the array of heads (not the nodes, which the lists'
    /// own protocol retires or drains).
    _heads: PhantomData<Link<Node<K, V>>>,
    /// The table this one migrates into; null until a resize starts.
    pub(crate) next: Link<Table<K, V>>,
    /// Migration: the next chunk to hand out.
    pub(crate) claimed: AtomicUsize,
    /// Migration: every chunk below this index is copied.
    pub(crate) scanned: AtomicUsize,
    /// Migration: per chunk, 1 once copied.
    pub(crate) chunk_done: Box<[AtomicUsize]>,
}

/// Where a writer's search found its key.
pub(crate) enum Place<'g, K, V> {
    /// A neighbourhood slot: `index` of home `home`.
    Slot { home: usize, index: usize },
    /// An overflow node of home `home`.
    Overflow { home: usize, node: &'g Node<K, V> },
}

/// A present key, as a writer's search found it.
pub(crate) struct Found<'g, K, V> {
    /// The slot word holding the entry (a table slot or an overflow node's).
    pub(crate) link: &'g Link<Entry<K, V>>,
    /// The entry, untagged, as loaded.
    pub(crate) word: Shared<'g, Entry<K, V>>,
    pub(crate) place: Place<'g, K, V>,
}

impl<'g, K, V> Found<'g, K, V> {
    pub(crate) fn entry(&self) -> &'g Entry<K, V> {
        // SAFETY: a search loaded it under the guard from a slot that held
        // it live, so it was not retired.
        unsafe { self.word.deref() }
    }
}

/// How a writer's search ended.
pub(crate) enum Search<'g, K, V> {
    Found(Found<'g, K, V>),
    /// Absent from the home while its word was this value (checked after the
    /// scan), with no overflow entry either.
    Absent(u64),
    /// The home is frozen: a migration has reached it.
    Migrating,
}

/// How a reader's lookup ended.
pub(crate) enum Lookup<'g, K, V> {
    Found(&'g Entry<K, V>),
    Absent,
    /// The home is frozen and the key was not among its uncopied entries:
    /// look in the next table.
    Next,
}

/// How a reservation ended.
pub(crate) enum Reserve {
    /// Reserved slot `index`, within the home's neighbourhood.
    At(usize),
    /// No free slot within reach, or no displacement could bring one in.
    Full,
    Migrating,
    /// The reservation stopped being this thread's: another thread showed
    /// it. Only a wrap of the relocation counter can do that (see
    /// `Table::withdraw`); the caller treats its entry as published.
    Lost,
}

/// How one displacement ended.
enum Displace {
    /// The reservation moved to this slot.
    To(usize),
    /// No entry can move into the hole.
    Stuck,
    Migrating,
    /// As [`Reserve::Lost`].
    Lost,
}

impl<K, V> Table<K, V> {
    /// A table of `n` (a power of two) empty slots, neighbourhood
    /// `min(h, n)`.
    pub(crate) fn allocate(n: usize, h: usize) -> Result<*mut Self, AllocFailed> {
        debug_assert!(n.is_power_of_two());
        let mut buckets = Vec::new();
        buckets.try_reserve_exact(n).map_err(|_| AllocFailed)?;
        buckets.resize_with(n, || Bucket {
            word: AtomicU64::new(0),
            slot: Link::null(),
        });
        let chunks = n.div_ceil(CHUNK);
        let mut chunk_done = Vec::new();
        chunk_done
            .try_reserve_exact(chunks)
            .map_err(|_| AllocFailed)?;
        chunk_done.resize_with(chunks, || AtomicUsize::new(0));
        Ok(reclaim::alloc(Self {
            header: Header::new(),
            mask: n - 1,
            hood: h.min(n),
            buckets: buckets.into_boxed_slice(),
            overflow: AtomicUsize::new(0),
            _heads: PhantomData,
            next: Link::null(),
            claimed: AtomicUsize::new(0),
            scanned: AtomicUsize::new(0),
            chunk_done: chunk_done.into_boxed_slice(),
        }))
    }

    /// The number of slots.
    #[inline]
    pub(crate) fn size(&self) -> usize {
        self.mask + 1
    }

    #[inline]
    pub(crate) fn neighbourhood(&self) -> usize {
        self.hood
    }

    #[inline]
    pub(crate) fn home_of(&self, hash: u64) -> usize {
        (hash as usize) & self.mask
    }

    #[inline]
    pub(crate) fn home(&self, h: usize) -> &Bucket<K, V> {
        self.bucket(h)
    }

    /// Bucket `i & mask`, without the bounds check of an index: every
    /// lookup and write reaches its buckets here, and the check (a load of
    /// the length, a compare, a branch, each time) cannot fail.
    #[inline(always)]
    fn bucket(&self, i: usize) -> &Bucket<K, V> {
        debug_assert_eq!(self.buckets.len(), self.mask + 1);
        // SAFETY: `allocate` makes `buckets` exactly `n` long and `mask`
        // `n - 1`, and neither changes; so `i & mask < buckets.len()`.
        unsafe { self.buckets.get_unchecked(i & self.mask) }
    }

    /// The head of home `h`'s overflow list.
    ///
    /// Only for a home whose word this thread saw in overflow mode (a load
    /// or a CAS of it): then the heads are published (O1 in the module
    /// doc). Panics, in every build, if they are not: that would be a broken
    /// invariant, and going on without the list would lose its keys.
    #[inline]
    pub(crate) fn overflow(&self, h: usize) -> &Link<Node<K, V>> {
        let heads = self.overflow_heads();
        assert!(
            !heads.is_null(),
            "kovan_map::HopscotchMap: a home in overflow mode, in a table without overflow heads"
        );
        // SAFETY: a published array of `size()` links (O1), freed only with
        // the table, which `&self` keeps alive; `h & mask < size()`.
        unsafe { &*heads.add(h & self.mask) }
    }

    /// The published array of overflow heads (`size()` links), or null.
    #[inline]
    pub(crate) fn overflow_heads(&self) -> *const Link<Node<K, V>> {
        // ORDERING: Acquire pairs with the AcqRel CAS in `publish_overflow`
        // that published the array, so its links are visible. A caller that
        // saw a home in overflow mode is ordered by that word's Acquire
        // already (O1); `publish_overflow`'s own check is not, and needs it.
        self.overflow.load(Ordering::Acquire) as *const Link<Node<K, V>>
    }

    /// Publishes the array of overflow heads unless a thread already has:
    /// allocates it (null links) and publishes it with one CAS from 0; a
    /// thread whose CAS fails frees its own, never published. Aborts on
    /// allocation failure, as every entry and node allocation does.
    fn publish_overflow(&self) {
        if !self.overflow_heads().is_null() {
            return;
        }
        let n = self.size();
        let heads = match reclaim::alloc_links::<Node<K, V>>(n) {
            Ok(heads) => heads,
            Err(AllocFailed) => alloc::alloc::handle_alloc_error(
                core::alloc::Layout::array::<Link<Node<K, V>>>(n)
                    .expect("half the bytes of the buckets, which exist"),
            ),
        };
        // ORDERING: AcqRel. Release publishes the array's links to every
        // thread that acquires the address (`overflow_heads`) and, through
        // the home word CAS that follows in `set_overflow`, to every thread
        // that acquires a word in overflow mode (O1). Acquire (also on
        // failure) pairs with the winner's CAS, so this thread's home word
        // CAS passes the winner's links on.
        if self
            .overflow
            .compare_exchange(0, heads as usize, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: ours, from `alloc_links(n)`, never published: no
            // other thread saw it.
            unsafe { reclaim::free_links(heads, n) };
        }
    }

    #[inline]
    pub(crate) fn slot(&self, i: usize) -> &Link<Entry<K, V>> {
        &self.bucket(i).slot
    }

    /// Prefetch hint for a pass that will read home `h` soon: its bucket
    /// (the home word and slot `h`, one line). Reads nothing the program
    /// sees; off in the model builds (`sync::PREFETCH`).
    #[inline]
    pub(crate) fn prefetch_home(&self, h: usize) {
        if sync::PREFETCH {
            sync::prefetch(self.home(h));
        }
    }

    /// Prefetch hint for the entry in slot `h` (where a home's first key
    /// usually sits): the slot is read without protection and its address
    /// only handed to the CPU (it may be an entry, a descriptor, or freed
    /// by now: a prefetch reads nothing). Off in the model builds.
    #[inline]
    pub(crate) fn prefetch_entry(&self, h: usize, guard: &Guard) {
        if sync::PREFETCH {
            let (entry, _) = self.slot(h).peek(guard);
            if !entry.is_null() {
                sync::prefetch(entry);
            }
        }
    }

    /// Slots from `from` forward to `to`, around the end.
    #[inline]
    pub(crate) fn dist(&self, from: usize, to: usize) -> usize {
        to.wrapping_sub(from) & self.mask
    }

    /// The hop bit of slot `index` in home `h`'s word.
    #[inline]
    fn bit(&self, h: usize, index: usize) -> u64 {
        1 << self.dist(h, index)
    }

    /// How far an insert looks for a free slot.
    fn probe_limit(&self) -> usize {
        self.size().min((8 * self.hood).max(64))
    }

    pub(crate) fn chunks(&self) -> usize {
        self.chunk_done.len()
    }

    /// The homes of migration chunk `c`.
    pub(crate) fn chunk_homes(&self, c: usize) -> core::ops::Range<usize> {
        let start = c * CHUNK;
        start..(start + CHUNK).min(self.size())
    }

    pub(crate) fn chunk_of(&self, h: usize) -> usize {
        (h & self.mask) / CHUNK
    }

    /// The hop bits of `word`, as slot indices of home `h`, in order.
    #[inline]
    pub(crate) fn hops(&self, h: usize, word: u64) -> impl Iterator<Item = usize> {
        let mask = self.mask;
        let mut bits = word & BITMAP;
        core::iter::from_fn(move || {
            if bits == 0 {
                return None;
            }
            let d = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            Some((h + d) & mask)
        })
    }
}

/// Loads a home word.
#[inline]
pub(crate) fn load_word(home: &AtomicU64) -> u64 {
    // ORDERING: Acquire pairs with the AcqRel CAS that wrote the word (a
    // commit, a displacement, a release, a freeze), so the slots it names
    // are seen at least as new as that CAS left them.
    home.load(Ordering::Acquire)
}

/// One CAS of a home word.
#[inline]
fn cas_word(home: &AtomicU64, current: u64, new: u64) -> bool {
    // ORDERING: AcqRel. Release: a reader or writer that acquires the new
    // word sees the slot writes made before it (a filled destination, a
    // reservation). Acquire: pairs with the previous writer of the word.
    home.compare_exchange(current, new, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

impl<K: 'static, V: 'static> Table<K, V> {
    /// A reader's lookup, writing none of the map's memory.
    ///
    /// Scans the hop bits of the home word, then the overflow list if the
    /// home is in overflow mode, and answers absent only if the word is the
    /// same afterwards (no key of the home was added or moved meanwhile).
    #[inline]
    pub(crate) fn lookup<'g, Q>(&'g self, hash: u64, key: &Q, guard: &'g Guard) -> Lookup<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        let h = self.home_of(hash);
        let home = self.home(h);
        'scan: loop {
            let word = load_word(&home.word);
            for index in self.hops(h, word) {
                let link = self.slot(index);
                // ORDERING: Acquire pairs with the AcqRel CAS that wrote the
                // slot (a commit's untag, a replacement, a move step), so the
                // entry's payload is visible.
                // LINEARIZATION(get): this load, when it returns the key's
                // entry untagged or frozen (not copied), or a move of it: the
                // entry is the key's present one at this instant (also of
                // contains_key and get_ref).
                let slot = link.load(Ordering::Acquire, guard);
                let found = match slot.tag() {
                    LIVE | FROZEN if !slot.is_null() => {
                        // SAFETY: a live or uncopied frozen entry in a slot
                        // is not retired (module invariants of `entry`).
                        unsafe { slot.deref() }
                    }
                    MOVE | DEST => {
                        // SAFETY: loaded from a slot that held the descriptor.
                        let mv = unsafe { descriptor(slot) };
                        // ORDERING: Acquire: the entry was published before
                        // the descriptor, which we acquired.
                        let entry = mv.entry.load(Ordering::Acquire, guard);
                        // The entry is retired only after the descriptor has
                        // left both its slots: check it is still here.
                        // ORDERING: Acquire, as the slot's first load.
                        if link.load(Ordering::Acquire, guard) != slot {
                            sync::hint();
                            continue 'scan;
                        }
                        // SAFETY: the descriptor still held the slot after the
                        // load above, so the entry was not retired then.
                        unsafe { entry.deref() }
                    }
                    _ => continue,
                };
                if found.matches(hash, key) {
                    return Lookup::Found(found);
                }
            }
            if word & OVERFLOW != 0 {
                if let Some(found) = overflow::lookup(self.overflow(h), hash, key, guard) {
                    return Lookup::Found(found);
                }
            }
            if word & FROZEN_HOME != 0 {
                return Lookup::Next;
            }
            // LINEARIZATION(get): absent: the home word is unchanged since the
            // scan began, so the key's entry, if any, stayed in the slots
            // scanned; each load that found it missing was at or after its
            // removal, and none could bring it back without a commit.
            if load_word(&home.word) == word {
                return Lookup::Absent;
            }
            sync::hint();
        }
    }

    /// A writer's search for `key`. Helps what it meets on the way: shows a
    /// committed insert of the key, drives a move of the key to its end,
    /// releases the slot of a removed entry of the home.
    pub(crate) fn search<'g, Q>(&'g self, hash: u64, key: &Q, guard: &'g Guard) -> Search<'g, K, V>
    where
        K: Borrow<Q>,
        Q: Eq + ?Sized,
    {
        self.search_home(self.home_of(hash), guard, |entry| entry.matches(hash, key))
    }

    /// A writer's search of home `h` for an entry that `accept`s, as
    /// [`search`](Self::search).
    pub(crate) fn search_home<'g>(
        &'g self,
        h: usize,
        guard: &'g Guard,
        mut accept: impl FnMut(&'g Entry<K, V>) -> bool,
    ) -> Search<'g, K, V> {
        let home = self.home(h);
        'scan: loop {
            let word = load_word(&home.word);
            if word & FROZEN_HOME != 0 {
                return Search::Migrating;
            }
            for index in self.hops(h, word) {
                let link = self.slot(index);
                // ORDERING: Acquire, as in `lookup`.
                let slot = link.load(Ordering::Acquire, guard);
                match slot.tag() {
                    LIVE if !slot.is_null() => {
                        // SAFETY: a live entry in a slot is not retired.
                        let entry = unsafe { slot.deref() };
                        if accept(entry) {
                            return Search::Found(Found {
                                link,
                                word: slot,
                                place: Place::Slot { home: h, index },
                            });
                        }
                    }
                    PENDING => {
                        // Committed iff the bit is set in the home's present
                        // word: the word is unchanged since it named this slot.
                        if load_word(&home.word) != word {
                            sync::hint();
                            continue 'scan;
                        }
                        // Show it, whichever key it is (showing a committed
                        // insert is always right), without dereferencing it:
                        // so even a stale word that equals the present one
                        // after a counter wrap cannot make this thread read
                        // an uncommitted reservation, which its owner may
                        // withdraw and free at any time.
                        Self::show(link, slot, guard);
                        continue 'scan;
                    }
                    DELETED => {
                        // SAFETY: a removed entry is retired only after its
                        // slot is released, and this slot still holds it.
                        let entry = unsafe { slot.deref() };
                        if self.home_of(entry.hash()) == h {
                            self.release(h, index, slot.with_tag(LIVE), guard);
                            continue 'scan;
                        }
                    }
                    MOVE | DEST => {
                        // SAFETY: loaded from a slot that held the descriptor.
                        let mv = unsafe { descriptor(slot) };
                        // ORDERING: Acquire (both loads), as in `lookup`; the
                        // second checks the descriptor still holds the slot.
                        let entry = mv.entry.load(Ordering::Acquire, guard);
                        if link.load(Ordering::Acquire, guard) != slot {
                            sync::hint();
                            continue 'scan;
                        }
                        if mv.is_copy() {
                            // A decided copy sits only in a frozen home: the
                            // word moved on since it was read.
                            sync::hint();
                            continue 'scan;
                        }
                        // SAFETY: as in `lookup`.
                        if accept(unsafe { entry.deref() }) {
                            self.help_move(slot, guard);
                            continue 'scan;
                        }
                    }
                    // An empty slot, a hole, or a frozen slot: a bit of an
                    // older word (the check below sees the word moved on).
                    _ => {}
                }
            }
            if word & OVERFLOW != 0 {
                match overflow::scan(self.overflow(h), guard, &mut accept) {
                    overflow::Search::Found { node, word } => {
                        return Search::Found(Found {
                            link: &node.slot,
                            word,
                            place: Place::Overflow { home: h, node },
                        });
                    }
                    overflow::Search::Absent { .. } => {}
                    overflow::Search::Sealed => return Search::Migrating,
                }
            }
            if load_word(&home.word) == word {
                return Search::Absent(word);
            }
            sync::hint();
        }
    }

    /// Shows a committed insert: its [`PENDING`] word untagged.
    fn show(link: &Link<Entry<K, V>>, pending: Shared<'_, Entry<K, V>>, guard: &Guard) {
        // ORDERING: AcqRel. Release publishes the entry (whose payload this
        // thread acquired through the slot) to readers of the slot.
        // LINEARIZATION(insert): the untag of a committed new key: from now
        // on readers see it (also of insert_if_absent, get_or_insert,
        // compute inserting).
        link.cas(
            pending,
            pending.with_tag(LIVE),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        );
    }

    /// Puts home `h` in overflow mode (from `word`, the word its key was
    /// found absent in): publishes the overflow heads first, then CASes the
    /// word (O1 in the module doc: the order of the two is the proof).
    pub(crate) fn set_overflow(&self, h: usize, word: u64) -> bool {
        debug_assert_eq!(word & (FROZEN_HOME | OVERFLOW), 0);
        self.publish_overflow();
        cas_word(
            &self.home(h).word,
            word,
            (word | OVERFLOW).wrapping_add(STEP),
        )
    }

    /// Releases the slot of a removed entry: clears its hop bit (counter + 1),
    /// then empties the slot; the thread that empties it retires the entry.
    /// On a frozen home the bit stays and the slot is frozen empty instead.
    pub(crate) fn release<'g>(
        &'g self,
        h: usize,
        index: usize,
        entry: Shared<'g, Entry<K, V>>,
        guard: &'g Guard,
    ) {
        let link = self.slot(index);
        let removed = entry.with_tag(DELETED);
        let bit = self.bit(h, index);
        let home = &self.home(h).word;
        loop {
            let word = load_word(home);
            // ORDERING: Acquire pairs with the removal's tag.
            if link.load(Ordering::Acquire, guard) != removed {
                return; // released by another thread
            }
            // The slot still held the removed entry after the word was read,
            // so the bit, if set in `word`, is this entry's.
            let empty = if word & bit == 0 {
                Shared::null()
            } else if word & FROZEN_HOME != 0 {
                Shared::null().with_tag(FROZEN)
            } else {
                if !cas_word(home, word, (word & !bit).wrapping_add(STEP)) {
                    sync::hint();
                }
                continue;
            };
            // ORDERING: AcqRel. Release: the next reserver of the slot sees
            // the bit cleared before it; Acquire pairs with the tag.
            if link.cas(removed, empty, Ordering::AcqRel, Ordering::Relaxed, guard) {
                // SAFETY: this CAS took the removed entry out of its only
                // slot; it is in no other slot or node, and is retired once,
                // here. It came from `reclaim::alloc`, header first.
                unsafe { reclaim::retire(entry.ptr()) };
            }
            return;
        }
    }

    /// Every entry of home `h` present throughout one consistent scan, in
    /// `sink`. `Err(())` if the home is frozen (read the next table).
    ///
    /// An empty home (most of them, below a load of about 1/2: an
    /// iteration reads every home) costs one load: a word with no hop bit,
    /// no overflow list and no freeze says the home held no entry at that
    /// instant, a scan of one step; a key present throughout would have
    /// its bit in it. Only other homes pay for the scan's call.
    #[inline]
    pub(crate) fn collect<'g>(
        &'g self,
        h: usize,
        guard: &'g Guard,
        sink: &mut Vec<&'g Entry<K, V>>,
    ) -> Result<(), ()> {
        if load_word(&self.home(h).word) & (BITMAP | OVERFLOW | FROZEN_HOME) == 0 {
            return Ok(());
        }
        self.collect_scan(h, guard, sink)
    }

    /// [`collect`](Self::collect) of a home whose word named entries, an
    /// overflow list or a freeze.
    fn collect_scan<'g>(
        &'g self,
        h: usize,
        guard: &'g Guard,
        sink: &mut Vec<&'g Entry<K, V>>,
    ) -> Result<(), ()> {
        let home = self.home(h);
        let start = sink.len();
        'scan: loop {
            sink.truncate(start);
            let word = load_word(&home.word);
            if word & FROZEN_HOME != 0 {
                return Err(());
            }
            // Overflow first: a key removed from the neighbourhood and
            // inserted again goes to the list (sticky overflow mode), so
            // reading the list first cannot meet one key twice.
            if word & OVERFLOW != 0 {
                let len = sink.len();
                let found = RefCell::new(&mut *sink);
                overflow::walk::<_, _, ()>(
                    self.overflow(h),
                    guard,
                    |node| {
                        // ORDERING: Acquire, as in `overflow::lookup`.
                        let slot = node.slot.load(Ordering::Acquire, guard);
                        if slot.tag() == LIVE && !slot.is_null() {
                            // SAFETY: a live entry of a reachable node is not
                            // retired.
                            found.borrow_mut().push(unsafe { slot.deref() });
                        }
                        ControlFlow::Continue(())
                    },
                    // The abandoned pass's entries are forgotten.
                    || found.borrow_mut().truncate(len),
                );
            }
            for index in self.hops(h, word) {
                let link = self.slot(index);
                // ORDERING: Acquire, as in `lookup`.
                let slot = link.load(Ordering::Acquire, guard);
                match slot.tag() {
                    // SAFETY: as in `lookup`.
                    LIVE if !slot.is_null() => sink.push(unsafe { slot.deref() }),
                    MOVE | DEST => {
                        // SAFETY: as in `lookup`.
                        let mv = unsafe { descriptor(slot) };
                        // ORDERING: Acquire (both loads), as in `lookup`; the
                        // second checks the descriptor still holds the slot.
                        let entry = mv.entry.load(Ordering::Acquire, guard);
                        if link.load(Ordering::Acquire, guard) != slot {
                            continue 'scan;
                        }
                        // SAFETY: as in `lookup`.
                        sink.push(unsafe { entry.deref() });
                    }
                    _ => {}
                }
            }
            if load_word(&home.word) == word {
                return Ok(());
            }
            sync::hint();
        }
    }
}

impl<K, V> Table<K, V> {
    /// With exclusive access: moves every entry this table owns into `sink`
    /// (live, or frozen and not copied), drops removed ones still in place,
    /// frees the overflow nodes. Copied entries belong to the next table.
    ///
    /// # Safety
    ///
    /// No other thread can reach the table, and it is drained once.
    pub(crate) unsafe fn drain(&self, guard: &Guard, sink: &mut impl FnMut((K, V))) {
        for bucket in self.buckets.iter() {
            let link = &bucket.slot;
            let slot = link.load(Ordering::Relaxed, guard);
            link.store_private(Shared::null());
            match slot.tag() {
                LIVE | FROZEN if !slot.is_null() => {
                    // SAFETY: exclusive access; this table owns the entry,
                    // and each slot is visited once.
                    sink(unsafe { reclaim::take(slot.ptr()) }.into_parts())
                }
                // SAFETY: as above; a removed entry still in its slot was
                // never retired (its releaser retires it when emptying it).
                DELETED => unsafe { reclaim::destroy(slot.ptr()) },
                // Empty, copied, or (only after a panic in user code) an
                // abandoned reservation, which its owner's unwinding freed.
                _ => {}
            }
        }
        // No heads: no home was ever in overflow mode (O1; the caller's
        // exclusive access comes after every writer of the table).
        if !self.overflow_heads().is_null() {
            for h in 0..self.size() {
                // SAFETY: the caller's contract.
                unsafe { overflow::drain(self.overflow(h), guard, sink) };
            }
        }
    }
}

impl<K, V> Drop for Table<K, V> {
    /// Frees the array of overflow heads, if one was published. The nodes
    /// are not the array's: by now they were drained (`drain`), retired
    /// with their sealed lists (`resize::finish`), or never existed.
    fn drop(&mut self) {
        // ORDERING: Relaxed: `&mut self`; whoever handed the table over for
        // dropping synchronized with its last writer.
        let heads = self.overflow.load(Ordering::Relaxed) as *mut Link<Node<K, V>>;
        if !heads.is_null() {
            // SAFETY: published by `publish_overflow` from `alloc_links(n)`,
            // `n = size()`, and freed only here, once (`&mut self`).
            unsafe { reclaim::free_links(heads, self.size()) };
        }
    }
}
