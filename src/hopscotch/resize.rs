//! Migration: growing and shrinking, cooperative and incremental, without a
//! lock or a flag anyone waits on.
//!
//! A resize publishes the new table in the old one's `next` link (one CAS;
//! only the map's current root may start one). From then on:
//!
//! * Every writer that finds its table migrating *helps*: it copies up to
//!   [`HELP_CHUNKS`] chunks handed out by a counter, then the chunk of its own
//!   key's home, and then works in the new table. Readers do not help: they
//!   read the old table and follow frozen homes into the new one.
//! * A chunk is copied home by home: the home word is frozen first (no
//!   commit, displacement or release of that home succeeds after it), then
//!   each slot its hop bits name is settled and frozen ([`FROZEN`]), its
//!   entry copied into the new table by pointer, and the slot marked
//!   [`COPIED`]; then the overflow list is sealed and copied the same way.
//!   Every step is a CAS from a state it alone can leave, so any number of
//!   helpers may copy the same chunk; each then sets the chunk's done flag.
//!   A cursor that any thread may advance over done flags tells when all
//!   are done (no thread waits on another's step).
//! * When every chunk is done, one CAS moves the map's root to the new
//!   table; the thread whose CAS did it retires the old table (and detaches
//!   and retires its overflow nodes). A new resize can only start on the
//!   root, so at most two tables are live.
//!
//! # Copying an entry exactly once
//!
//! An operation on a key works in the new table only after the chunk of the
//! key's old home is done, hence after its entry is [`COPIED`]. A copier
//! ([`copy`]) commits the entry in the new table only if, after its search of
//! the new table found the key absent (at home word `w`), the old slot still
//! holds the entry [`FROZEN`]: then nothing but copiers has touched the key
//! in the new table, and the commit's CAS expecting `w` fails if another
//! copier committed it first. So a slow copier can neither duplicate an
//! entry nor bring back one that was copied and then removed.

use super::entry::{
    self, descriptor, Entry, Move, COPIED, DELETED, DEST, FROZEN, HOLE, LIVE, MOVE, PENDING,
};
use super::overflow::{self, Node};
use super::table::{load_word, Reserve, Table, FROZEN_HOME, OVERFLOW};
use crate::reclaim::{self, Guard, Link, Shared};
use crate::sync::{self, Ordering};

/// Chunks a writer copies (besides its own key's) when it meets a migration.
#[cfg(not(kovan_map_loom))]
pub(crate) const HELP_CHUNKS: usize = 2;
/// Chunks the thread that starts a migration copies at once.
#[cfg(not(kovan_map_loom))]
pub(crate) const START_CHUNKS: usize = 4;
/// Under loom, one of each: a resize stays under way across operations, so
/// the scenarios race operations against a migration in progress while the
/// state space stays small.
#[cfg(kovan_map_loom)]
pub(crate) const HELP_CHUNKS: usize = 1;
#[cfg(kovan_map_loom)]
pub(crate) const START_CHUNKS: usize = 1;

/// Starts migrating `table` (the map's root) into a new table of `size`
/// slots. False if one is already under way or the table cannot be
/// allocated.
pub(crate) fn start<'g, K: 'static, V: 'static>(
    table: Shared<'g, Table<K, V>>,
    size: usize,
    neighbourhood: usize,
    guard: &'g Guard,
) -> bool {
    // SAFETY: loaded from the map's root under `guard`.
    let old = unsafe { table.deref() };
    // ORDERING: Acquire pairs with the CAS that published a successor.
    if !old.next.load(Ordering::Acquire, guard).is_null() {
        return false;
    }
    let Ok(new) = Table::allocate(size, neighbourhood) else {
        return false;
    };
    // ORDERING: AcqRel. Release publishes the new table's empty arrays to
    // helpers that acquire `next`; Acquire pairs with nothing else here.
    if old.next.cas(
        Shared::null(),
        Shared::from_owned(new, guard),
        Ordering::AcqRel,
        Ordering::Relaxed,
        guard,
    ) {
        true
    } else {
        // SAFETY: never published.
        unsafe { reclaim::destroy(new) };
        false
    }
}

/// Helps the migration of `table` (loaded from the map's root) into `next`:
/// copies up to `chunks` handed-out chunks, then the chunk of `home` if
/// given, then one unfinished chunk if all are handed out, and finishes the
/// migration if every chunk is done.
pub(crate) fn help<'g, K: 'static, V: 'static>(
    root: &'g Link<Table<K, V>>,
    table: Shared<'g, Table<K, V>>,
    next: Shared<'g, Table<K, V>>,
    home: Option<usize>,
    chunks: usize,
    guard: &'g Guard,
) {
    // SAFETY: `table` was loaded from the root under `guard`, and `next`
    // from its `next` while it was the root (the caller checked).
    let (old, new) = unsafe { (table.deref(), next.deref()) };
    let total = old.chunks();
    for _ in 0..chunks {
        // ORDERING: Relaxed: the counter only spreads the work; a chunk's
        // completion is published by its flag.
        let c = old.claimed.fetch_add(1, Ordering::Relaxed);
        if c >= total {
            break;
        }
        migrate_chunk(old, new, c, guard);
    }
    if let Some(h) = home {
        migrate_chunk(old, new, old.chunk_of(h), guard);
    }
    // ORDERING: Relaxed, as above.
    if old.claimed.load(Ordering::Relaxed) >= total {
        // Every chunk is handed out; one may belong to a stalled thread.
        // ORDERING: Acquire, as in `finish`.
        let from = old.scanned.load(Ordering::Acquire);
        if let Some(c) = (from..total).find(|&c| !chunk_done(old, c)) {
            migrate_chunk(old, new, c, guard);
        }
    }
    finish(root, table, next, guard);
}

/// Copies every chunk of `table` not yet done and finishes the migration.
pub(crate) fn complete<'g, K: 'static, V: 'static>(
    root: &'g Link<Table<K, V>>,
    table: Shared<'g, Table<K, V>>,
    next: Shared<'g, Table<K, V>>,
    guard: &'g Guard,
) {
    // SAFETY: as in `help`.
    let (old, new) = unsafe { (table.deref(), next.deref()) };
    for c in 0..old.chunks() {
        migrate_chunk(old, new, c, guard);
    }
    finish(root, table, next, guard);
}

fn chunk_done<K, V>(table: &Table<K, V>, c: usize) -> bool {
    // ORDERING: Acquire pairs with the Release that marked the chunk, so the
    // copies it made are visible (an operation then works in the new table).
    table.chunk_done[c].load(Ordering::Acquire) != 0
}

/// Moves the root to `next` once every chunk is done; the thread whose CAS
/// did it retires the old table.
fn finish<'g, K: 'static, V: 'static>(
    root: &'g Link<Table<K, V>>,
    table: Shared<'g, Table<K, V>>,
    next: Shared<'g, Table<K, V>>,
    guard: &'g Guard,
) {
    // SAFETY: as in `help`.
    let old = unsafe { table.deref() };
    // Advance the scan cursor over the chunks marked done. Any thread may
    // advance it: a chunk is done by its flag alone (one CAS), so no thread
    // waits on a step that only the one who copied a chunk could take.
    let total = old.chunks();
    loop {
        // ORDERING: Acquire pairs with the AcqRel CAS that advanced it (and
        // carried the flags of the chunks it passed).
        let scanned = old.scanned.load(Ordering::Acquire);
        if scanned >= total {
            break;
        }
        if !chunk_done(old, scanned) {
            return;
        }
        // ORDERING: AcqRel: Release carries the flags acquired so far to
        // the next reader of the cursor; Acquire pairs with its last writer.
        let _ =
            old.scanned
                .compare_exchange(scanned, scanned + 1, Ordering::AcqRel, Ordering::Acquire);
    }
    // ORDERING: AcqRel. Release: a thread that loads the new root sees the
    // completed copies (we acquired every chunk's completion). Acquire pairs
    // with the CAS that made `table` the root.
    if !root.cas(table, next, Ordering::AcqRel, Ordering::Relaxed, guard) {
        return;
    }
    // No overflow heads: no home of the table was ever in overflow mode
    // (this thread acquired every chunk's done flag, each released after the
    // freeze of its homes, which read any OVERFLOW bit; so every OVERFLOW CAS,
    // and the publication before it, happens before this load: O1 in
    // table.rs). Then no home word needs reading.
    if !old.overflow_heads().is_null() {
        for h in 0..old.size() {
            if load_word(&old.home(h).word) & OVERFLOW != 0 {
                // SAFETY: the table is unreachable now (this CAS unlinked it;
                // a table is never linked again), its lists are sealed (every
                // chunk is done), and only this thread retires it.
                unsafe { overflow::retire_sealed(old.overflow(h), guard) };
            }
        }
    }
    // SAFETY: unlinked by the CAS above, so unreachable; retired once, by the
    // CAS's thread; allocated by `reclaim::alloc`, header first. Its slots
    // own no entries any more: every one was copied, released or retired.
    unsafe { reclaim::retire(table.ptr()) };
}

/// Copies chunk `c` of `old` into `new` (idempotent; any number of threads).
fn migrate_chunk<'g, K: 'static, V: 'static>(
    old: &'g Table<K, V>,
    new: &'g Table<K, V>,
    c: usize,
    guard: &'g Guard,
) {
    if chunk_done(old, c) {
        return;
    }
    for h in old.chunk_homes(c) {
        let word = freeze_home(old, h);
        for index in old.hops(h, word) {
            settle(old, new, h, index, guard);
        }
        if word & OVERFLOW != 0 {
            overflow::seal(old.overflow(h), guard, |node| {
                sync::pause(sync::Pause::SealedNode);
                settle_node(new, node, guard);
            });
        }
    }
    // ORDERING: Release publishes this chunk's copies to whoever acquires
    // the flag (`chunk_done`). Any copier may set it: each saw every slot of
    // the chunk copied.
    old.chunk_done[c].store(1, Ordering::Release);
}

/// Freezes home `h`'s word; returns it, frozen.
fn freeze_home<K, V>(table: &Table<K, V>, h: usize) -> u64 {
    let home = &table.home(h).word;
    loop {
        let word = load_word(home);
        if word & FROZEN_HOME != 0 {
            return word;
        }
        // ORDERING: AcqRel. Release: a writer whose CAS fails on the frozen
        // word and then reads the slots sees them as the freeze found them;
        // Acquire pairs with the last commit, displacement or release.
        // LINEARIZATION(migration): no key of the home is added, moved or
        // released in this table after this CAS.
        if home
            .compare_exchange(
                word,
                word | FROZEN_HOME,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
        {
            return word | FROZEN_HOME;
        }
        sync::hint();
    }
}

/// Settles slot `index` of frozen home `h` (its bit is set): finishes or
/// undoes what is in flight there, freezes it, copies its entry.
fn settle<'g, K: 'static, V: 'static>(
    old: &'g Table<K, V>,
    new: &'g Table<K, V>,
    h: usize,
    index: usize,
    guard: &'g Guard,
) {
    let link = old.slot(index);
    loop {
        // ORDERING: Acquire pairs with the CAS that wrote the slot.
        let slot = link.load(Ordering::Acquire, guard);
        let frozen = match slot.tag() {
            // Present (or committed and about to be shown, which the freeze
            // shows instead): freeze it.
            LIVE | PENDING => slot.with_tag(FROZEN),
            DELETED => {
                // The bit cannot be cleared any more: free the slot frozen.
                // ORDERING: AcqRel, as in `Table::release`.
                if link.cas(
                    slot,
                    Shared::null().with_tag(FROZEN),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                    guard,
                ) {
                    // SAFETY: this CAS took the removed entry out of its only
                    // slot; retired once, here (`Table::release` retires it
                    // only through the same transition).
                    unsafe { reclaim::retire(slot.ptr()) };
                    return;
                }
                continue;
            }
            MOVE | DEST => {
                // SAFETY: loaded from the slot that held the descriptor.
                if unsafe { descriptor(slot) }.is_copy() {
                    // A decided copy of this slot's entry: finish it.
                    copy(new, link, guard);
                    return;
                }
                // The home is frozen: the move ends (undone or finished).
                old.help_move(slot, guard);
                continue;
            }
            FROZEN if slot.is_null() => return,
            FROZEN => {
                copy(new, link, guard);
                return;
            }
            COPIED => return,
            HOLE => {
                debug_assert!(false, "a committed slot of home {h} holds a hole");
                return;
            }
            _ => unreachable!("three tag bits"),
        };
        // ORDERING: AcqRel. Release: a reader that sees the frozen entry sees
        // its payload (we acquired it); Acquire pairs with the slot's writer.
        // LINEARIZATION(insert): for a committed entry still [`PENDING`],
        // this freeze shows it (it is then present, in this table until
        // copied), in place of the untag.
        link.cas(slot, frozen, Ordering::AcqRel, Ordering::Relaxed, guard);
    }
}

/// Settles one node of a sealed overflow list: freezes its live entry and
/// copies it.
fn settle_node<'g, K: 'static, V: 'static>(
    new: &'g Table<K, V>,
    node: &'g Node<K, V>,
    guard: &'g Guard,
) {
    loop {
        // ORDERING: Acquire pairs with the CAS that wrote the slot.
        let slot = node.slot.load(Ordering::Acquire, guard);
        match slot.tag() {
            LIVE if !slot.is_null() => {
                // ORDERING: AcqRel, as in `settle`.
                node.slot.cas(
                    slot,
                    slot.with_tag(FROZEN),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                    guard,
                );
            }
            // Frozen, or a decided copy of it (only copies put `MOVE` in a
            // list node).
            FROZEN | MOVE if !slot.is_null() => return copy(new, &node.slot, guard),
            // Removed (freed with the table), or copied.
            _ => return,
        }
    }
}

/// Copies the entry frozen in `source` (a slot or overflow node of the old
/// table) into `new`, and returns once `source` is [`COPIED`] (by this
/// thread or another). Lock-free: every pass either moves the source on
/// or finds that another thread did.
///
/// # The protocol (docs/hopscotch.md, "Copying an entry exactly once")
///
/// 1. *Publish* (each copier, privately unique): allocate a descriptor `C`
///    of the entry `x` and reserve a slot of its new home for `C|HOLE`
///    (or push an overflow node holding `C|HOLE`). Nobody reads or writes a
///    `HOLE` word except its owner, so a publication is invisible and no
///    other copier can recreate it.
/// 2. *Decide* (the single decision): `source: x|FROZEN → C|MOVE`. At most
///    one copier's CAS succeeds; a loser withdraws its publication and
///    retires its descriptor.
/// 3. *Show* (anyone who reads `C|MOVE` at the source): commit `C`'s slot in
///    the new home word and CAS it `C|HOLE → x` (or CAS its node's slot
///    `C|HOLE → x`).
/// 4. *Mark* (anyone): `source: C|MOVE → C|COPIED`; that CAS's thread
///    retires `C`.
///
/// Until step 4 readers find `x` at the source through `C` (a `MOVE` word,
/// as for a displacement), and no operation on `x`'s key runs in `new`
/// (writers wait for the chunk, which is done only after its sources are
/// marked), so `x` cannot be removed there before it is shown. After step
/// 4 the source is never read for `x` again. A copier preempted anywhere
/// can only fail a CAS on a word that is its own, or on the source.
fn copy<'g, K: 'static, V: 'static>(
    new: &'g Table<K, V>,
    source: &'g Link<Entry<K, V>>,
    guard: &'g Guard,
) {
    loop {
        // ORDERING: Acquire pairs with the CAS that froze, decided or
        // marked the source (the decision carries the descriptor's fields).
        let word = source.load(Ordering::Acquire, guard);
        match word.tag() {
            FROZEN if !word.is_null() => publish_and_decide(new, source, word, guard),
            MOVE => show_decided(new, source, word, guard),
            // Copied (or, for a list node, never frozen with an entry).
            _ => return,
        }
        sync::hint();
    }
}

/// Steps 1 and 2 of [`copy`] for one copier: publishes its own descriptor
/// of the entry that `frozen` (loaded from `source`) names, and tries the
/// decision; a loser withdraws. Returns after the decision was made (by
/// this thread or another), or after a step that must be retried.
fn publish_and_decide<'g, K: 'static, V: 'static>(
    new: &'g Table<K, V>,
    source: &'g Link<Entry<K, V>>,
    frozen: Shared<'g, Entry<K, V>>,
    guard: &'g Guard,
) {
    let entry = frozen.with_tag(LIVE);
    // SAFETY: loaded from `source` under `guard` while frozen and not
    // decided, so not retired (nothing reaches it in `new` before step 4).
    let h = new.home_of(unsafe { entry.deref() }.hash());
    let word = load_word(&new.home(h).word);
    if word & FROZEN_HOME != 0 {
        // `new` migrates only once it is the root, after every copy into it
        // was decided and marked. So `frozen` is stale: another copier
        // decided this source, the migration finished, and `new` has since
        // begun its own. Nothing to publish; the caller reloads the source
        // and finds it copied. (A debug assertion once claimed this could
        // not happen; `tests/hopscotch.rs` on real threads met it.)
        return;
    }
    sync::pause(sync::Pause::CopyHomeRead {
        overflow: word & OVERFLOW != 0,
    });
    let decide = |publication: Shared<'g, Entry<K, V>>| {
        // ORDERING: AcqRel. Release publishes the descriptor's fields (and
        // the publication it names) to helpers that acquire the source;
        // Acquire pairs with the freeze.
        source.cas(
            frozen,
            publication.with_tag(MOVE),
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        )
    };
    if word & OVERFLOW == 0 {
        let descriptor = reclaim::alloc(Move::copy(entry.ptr(), h, core::ptr::null_mut()));
        let mine = entry::move_word(descriptor, guard).with_tag(HOLE);
        match new.reserve(h, mine, guard) {
            Reserve::At(index) => {
                sync::pause(sync::Pause::CopyPublished { overflow: false });
                if !decide(mine) {
                    sync::pause(sync::Pause::CopyLost { overflow: false });
                    // Lost: nobody else ever wrote our publication.
                    let withdrawn = new.withdraw(index, mine, guard);
                    assert!(
                        withdrawn,
                        "a copier's publication was written by another thread"
                    );
                    // SAFETY: out of its only slot, never decided, so in no
                    // slot any more; retired (not freed: it was shown) once,
                    // here.
                    unsafe { entry::retire_descriptor(mine) };
                } else {
                    sync::pause(sync::Pause::CopyWon { overflow: false });
                }
            }
            failed => {
                // SAFETY: `reserve` took the publication back (a copier's
                // publication is never `Lost`: only an insert's entry can be
                // shown by another thread), so it is in no slot; retired
                // (it was shown) once, here.
                unsafe { entry::retire_descriptor(mine) };
                if let Reserve::Full = failed {
                    // Never grow the new table from inside a migration: the
                    // entry goes to the home's overflow list.
                    new.set_overflow(h, word);
                }
            }
        }
        return;
    }
    let descriptor = reclaim::alloc(Move::copy(entry.ptr(), h, core::ptr::null_mut()));
    let mine = entry::move_word(descriptor, guard).with_tag(HOLE);
    let node = overflow::private_node(mine);
    // SAFETY: both still private to this thread.
    unsafe {
        (*descriptor)
            .node
            .store_private(Shared::from_owned(node, guard))
    };
    let list = new.overflow(h);
    if !overflow::push(list, node, guard) {
        // Sealed: `new` migrates, which it does only after every copy.
        // SAFETY: neither was published.
        unsafe {
            reclaim::destroy(node);
            reclaim::destroy(descriptor);
        }
        return;
    }
    sync::pause(sync::Pause::CopyPublished { overflow: true });
    if !decide(mine) {
        sync::pause(sync::Pause::CopyLost { overflow: true });
        overflow::withdraw(list, mine, guard);
        // SAFETY: withdrawn from its node's slot, or left in a node of a
        // list the table's retirement detached (which retires the node and
        // never a `HOLE` word's descriptor); never decided, read by no other
        // thread: retired once, here.
        unsafe { entry::retire_descriptor(mine) };
    } else {
        sync::pause(sync::Pause::CopyWon { overflow: true });
    }
}

/// Steps 3 and 4 of [`copy`]: `decided` (tag [`MOVE`], loaded from
/// `source`) names the winning copier's descriptor.
fn show_decided<'g, K: 'static, V: 'static>(
    new: &'g Table<K, V>,
    source: &'g Link<Entry<K, V>>,
    decided: Shared<'g, Entry<K, V>>,
    guard: &'g Guard,
) {
    // SAFETY: loaded from `source`, which held it: the descriptor is retired
    // only by the thread that marks the source copied, after this load.
    let copy = unsafe { descriptor(decided) };
    debug_assert!(copy.is_copy());
    // ORDERING: Acquire (both): published with the descriptor.
    let entry = copy.entry.load(Ordering::Acquire, guard);
    let node = copy.node.load(Ordering::Acquire, guard);
    // ORDERING: Acquire, as in `copy`.
    if source.load(Ordering::Acquire, guard) != decided {
        return; // marked meanwhile: `node` may be gone, and nothing is left
    }
    // The source still named the descriptor after `node` was read, so the
    // copy was not shown and marked then, and `node` was reachable.
    let publication = decided.with_tag(HOLE);
    sync::pause(sync::Pause::ShowChecked {
        overflow: !node.is_null(),
    });
    if node.is_null() {
        new.show_copy(copy.home(), publication, entry, guard);
    } else {
        // SAFETY: reachable at its load (above), loaded under `guard`.
        let node = unsafe { node.deref() };
        // ORDERING: AcqRel. Release publishes the entry untagged in the new
        // table's list; Acquire pairs with the push.
        node.slot.cas(
            publication,
            entry,
            Ordering::AcqRel,
            Ordering::Relaxed,
            guard,
        );
    }
    // ORDERING: AcqRel. Release: a thread that acquires the mark (and then
    // the chunk's flag) sees the entry shown in `new`; Acquire pairs with
    // the decision.
    if source.cas(
        decided,
        decided.with_tag(COPIED),
        Ordering::AcqRel,
        Ordering::Relaxed,
        guard,
    ) {
        // SAFETY: the descriptor left its last slot in a state anyone
        // dereferences (its publication was shown, the source now holds a
        // `COPIED` word, which is only compared); only this CAS's thread
        // retires it.
        unsafe { entry::retire_descriptor(decided) };
    }
}
