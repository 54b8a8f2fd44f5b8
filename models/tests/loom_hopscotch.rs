//! Exhaustive interleavings of small `HopscotchMap` scenarios under loom.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map-models --release --test loom_hopscotch`
//!
//! The map is the production code, built over loom's atomics and the model
//! reclaimer (`src/reclaim.rs`), which fails a run that dereferences a node
//! kovan would not protect. Entry payloads sit in loom cells, so a
//! publication too weak to carry them to a reader is a causality failure.
//!
//! Every scenario uses a table of 4 slots with neighbourhoods of H = 2 and
//! the identity hash, so a key's home is `key % 4` (while the table has 4
//! slots) and three keys fill a neighbourhood: the scenarios below force a
//! displacement, a move undone by a migration, and a resize, with two
//! threads. Each test states its preemption bound; with bound `b` loom
//! explores every interleaving with at most `b` preemptions.
#![cfg(kovan_map_loom)]

use kovan_map::model::Epochs::AdvanceAtEveryRetire;
use kovan_map::HopscotchMap;
use kovan_map_models::harness::{loom_race_bounds, loom_race_runs, KeyIsHash};

type Map = HopscotchMap<u64, u64, KeyIsHash, 2>;

/// A 4-slot map holding `prefix`, inserted in order.
fn map_with(prefix: &[(u64, u64)]) -> Map {
    let map = Map::with_capacity_and_hasher(4, KeyIsHash);
    for &(key, value) in prefix {
        map.insert(key, value);
    }
    map
}

/// `loom_race` over a map holding `prefix`, at `bound` under both epoch
/// regimes.
fn race<RA: Send + 'static, RB: Send + 'static>(
    bound: usize,
    prefix: &'static [(u64, u64)],
    a: fn(&Map) -> RA,
    b: fn(&Map) -> RB,
    check: fn(&Map, RA, RB),
) {
    loom_race_bounds(bound, bound, move || map_with(prefix), a, b, check);
}

/// A migration scenario: bound 2 when the epoch advances at every retire,
/// bound 1 when it advances only at flush (at bound 2 that regime alone
/// took more than six minutes for one scenario on the CI-sized machine).
fn race_migration<RA: Send + 'static, RB: Send + 'static>(
    prefix: &'static [(u64, u64)],
    a: fn(&Map) -> RA,
    b: fn(&Map) -> RB,
    check: fn(&Map, RA, RB),
) {
    loom_race_bounds(2, 1, move || map_with(prefix), a, b, check);
}

/// Keys 0 (home 0, slot 0) and 1 (home 1, slot 1): home 0's neighbourhood
/// (slots 0 and 1) is full, and inserting key 4 (home 0) must move key 1
/// from slot 1 to slot 2 before it can take slot 1.
const FULL_NEIGHBOURHOOD: &[(u64, u64)] = &[(0, 100), (1, 101)];

#[test]
fn displacement_racing_get_never_hides_the_moved_key() {
    // Bound 3. Would catch: a reader that scans the old bitmap after the
    // move committed and answers absent without re-checking the home's
    // relocation counter; a reader that trusts a destination filled before
    // the source was frozen; a use of the move descriptor after it was
    // retired.
    race(
        3,
        FULL_NEIGHBOURHOOD,
        |m| m.insert(4, 104),
        |m| (m.get(&1), m.get(&0)),
        |m, inserted, seen| {
            assert_eq!(inserted, None);
            assert_eq!(seen, (Some(101), Some(100)), "a present key looked absent");
            assert_eq!(
                (m.get(&0), m.get(&1), m.get(&4)),
                (Some(100), Some(101), Some(104))
            );
            assert_eq!(m.len(), 3);
        },
    );
}

#[test]
fn displacement_racing_an_update_of_the_moved_key_keeps_the_update() {
    // Bound 3. Would catch: a move that copies the entry and loses an update
    // made to the source meanwhile (the source must be frozen before the
    // copy counts), or an update that lands on the stale source copy.
    race(
        3,
        FULL_NEIGHBOURHOOD,
        |m| m.insert(4, 104),
        |m| m.insert(1, 201),
        |m, inserted, replaced| {
            assert_eq!(inserted, None);
            assert_eq!(replaced, Some(101));
            assert_eq!(m.get(&1), Some(201), "the update was lost");
            assert_eq!(m.get(&4), Some(104));
            assert_eq!(m.len(), 3);
        },
    );
}

#[test]
fn displacement_racing_a_removal_of_the_moved_key_removes_it_once() {
    // Bound 3. Would catch: two live copies of the moved key after a
    // removal of one of them; a removal answered `None` for a present key;
    // an entry retired twice or never.
    race(
        3,
        FULL_NEIGHBOURHOOD,
        |m| m.insert(4, 104),
        |m| m.remove(&1),
        |m, inserted, removed| {
            assert_eq!(inserted, None);
            assert_eq!(removed, Some(101));
            assert_eq!(m.get(&1), None, "a removed key came back");
            assert_eq!((m.get(&0), m.get(&4)), (Some(100), Some(104)));
            assert_eq!(m.len(), 2);
        },
    );
}

#[test]
fn replace_racing_get_sees_the_old_or_the_new_value() {
    // Bound 2 (3 takes minutes under the model reclaimer). Would catch: a
    // torn or absent read during a copy-on-write
    // replacement, a replacement published without its payload (loom cell).
    race(
        2,
        &[(5, 50)],
        |m| m.insert(5, 51),
        |m| m.get(&5),
        |m, replaced, seen| {
            assert_eq!(replaced, Some(50));
            assert!(matches!(seen, Some(50) | Some(51)), "get saw {seen:?}");
            assert_eq!(m.get(&5), Some(51));
        },
    );
}

#[test]
fn two_inserts_of_one_key_have_one_winner() {
    // Bound 3. Would catch: two commits of one key (two reservations both
    // committed), a lost update, an answer other than the value displaced.
    race(
        3,
        &[],
        |m| m.insert(2, 10),
        |m| m.insert(2, 20),
        |m, a, b| {
            let last = m.get(&2);
            match (a, b) {
                (None, Some(10)) => assert_eq!(last, Some(20)),
                (Some(20), None) => assert_eq!(last, Some(10)),
                other => panic!("not linearizable: {other:?}, then {last:?}"),
            }
            assert_eq!(m.len(), 1);
        },
    );
}

#[test]
fn overflow_mode_racing_a_remove_and_reinsert_keeps_one_entry_per_key() {
    // Bounds of `race_migration`.
    // Keys 0 and 4 (both home 0) fill home 0's neighbourhood, so
    // thread a's insert of key 8 cannot be placed: the neighbourhood is all
    // home 0's own keys, so the home switches to overflow mode and 8 is
    // pushed onto its list. Thread b removes key 4 and inserts it again,
    // before or after the switch (after it, into the list). Would catch: a
    // key committed into the neighbourhood and pushed onto the list (two
    // entries), a push lost to the mode switch, a removed entry retired
    // twice or never.
    race_migration(
        &[(0, 100), (4, 104)],
        |m| m.insert(8, 108),
        |m| (m.remove(&4), m.insert(4, 204)),
        |m, inserted, (removed, reinserted)| {
            assert_eq!(inserted, None);
            assert_eq!((removed, reinserted), (Some(104), None));
            assert_eq!(
                (m.get(&0), m.get(&4), m.get(&8)),
                (Some(100), Some(204), Some(108))
            );
            let mut entries: Vec<(u64, u64)> = m.iter().collect();
            entries.sort_unstable();
            assert_eq!(entries, [(0, 100), (4, 204), (8, 108)]);
            assert_eq!(m.len(), 3);
        },
    );
}

/// Four keys in four slots: the fourth insert passed a load of 3/4 and
/// started a resize to 8 slots, copying one chunk (under loom a chunk is one
/// home, and the starter copies one). Homes 1, 2 and 3 are still in the old
/// table, frozen only when someone copies them: the threads race a
/// migration in progress.
const RESIZING: &[(u64, u64)] = &[(0, 100), (1, 101), (2, 102), (3, 103)];

#[test]
fn migration_racing_an_insert_and_a_remove_loses_nothing() {
    // Bound 2, the epoch advancing at every retire, thread a spawned first:
    // one of the four runs. The largest scenario here: the other spawn order
    // explored 316,487 executions (over two minutes alone), and the regime
    // that advances only at flush did not finish in six minutes even at
    // bound 1 (its loads stay on the fence-free path, so few stale readings
    // are pruned). That regime's migration coverage comes from the other
    // migration scenarios; this one at full coverage is a long run:
    // `loom_race_bounds(2, 2, ..)` in place of the runs below.
    // Thread a inserts key 5 (home 1: it copies a chunk and its own
    // home's before inserting into the new table), thread b removes key 2
    // (likewise). Would catch: a removal lost because it hit the old table
    // after its slot was copied, a removed key copied back by a slow copier,
    // a key copied twice, an entry retired while the old table still showed
    // it to a reader, an insert into a frozen home that is never copied.
    loom_race_runs(
        &[(AdvanceAtEveryRetire, 2, true)],
        || map_with(RESIZING),
        |m| m.insert(5, 105),
        |m| m.remove(&2),
        |m, inserted, removed| {
            assert_eq!(inserted, None);
            assert_eq!(removed, Some(102));
            assert_eq!(m.get(&2), None, "a removed key survived the resize");
            assert_eq!(
                (m.get(&0), m.get(&1), m.get(&3)),
                (Some(100), Some(101), Some(103))
            );
            assert_eq!(m.get(&5), Some(105));
            let mut keys: Vec<u64> = m.keys().collect();
            keys.sort_unstable();
            assert_eq!(keys, [0, 1, 3, 5]);
            assert_eq!(m.len(), 4);
            assert_eq!(m.capacity(), 8, "iteration finishes the resize");
        },
    );
}

#[test]
fn two_copiers_of_one_home_never_bring_back_a_removed_key() {
    // Bounds of `race_migration`.
    // Both threads' keys live in home 1, so both copy it: thread a
    // to insert key 5, thread b to remove key 1, which it then does in the
    // new table. Would catch: a slow copier that commits key 1's entry into
    // the new table after the other copied it and b removed it there (the
    // copier must see its source still uncopied after its search), a key
    // copied twice, a removal that misses the copy.
    race_migration(
        RESIZING,
        |m| m.insert(5, 105),
        |m| m.remove(&1),
        |m, inserted, removed| {
            assert_eq!(inserted, None);
            assert_eq!(removed, Some(101));
            assert_eq!(m.get(&1), None, "a removed key came back");
            let mut keys: Vec<u64> = m.keys().collect();
            keys.sort_unstable();
            assert_eq!(keys, [0, 2, 3, 5]);
            assert_eq!(m.len(), 4);
        },
    );
}

#[test]
fn migration_racing_get_never_misses_a_present_key() {
    // Bounds of `race_migration`.
    // Thread a's insert copies chunks while thread b reads keys
    // whose homes are not yet copied (or are being copied). Would catch: a
    // reader that gives up on a frozen home without looking in the new
    // table, or looks there before the key was copied and answers absent, or
    // dereferences an entry it read as copied.
    race_migration(
        RESIZING,
        |m| m.insert(5, 105),
        |m| (m.get(&1), m.get(&3)),
        |m, inserted, seen| {
            assert_eq!(inserted, None);
            assert_eq!(seen, (Some(101), Some(103)), "a present key looked absent");
            assert_eq!(m.get(&5), Some(105));
        },
    );
}

#[test]
fn migration_racing_an_update_keeps_the_update() {
    // Bounds of `race_migration`.
    // Thread a updates key 1 while thread b's insert copies home 1.
    // Would catch: an update that lands on the old slot after it was frozen
    // (lost), a copy of the old entry made after the update (stale value).
    race_migration(
        RESIZING,
        |m| m.insert(1, 201),
        |m| m.insert(5, 105),
        |m, replaced, inserted| {
            assert_eq!(replaced, Some(101));
            assert_eq!(inserted, None);
            assert_eq!(m.get(&1), Some(201), "the update was lost");
            assert_eq!(m.len(), 5);
        },
    );
}

#[test]
fn an_insert_that_passes_three_quarters_resizes_while_another_inserts() {
    // Bound 3. Both threads insert a new key into a half-full table; whichever
    // commits second passes 3/4 and starts the resize while the other may
    // still be committing into the old table. Would catch: a commit into a
    // frozen home that the migration does not copy, a reservation left
    // behind in the old table.
    race(
        3,
        &[(0, 100), (1, 101)],
        |m| m.insert(2, 102),
        |m| m.insert(7, 107),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            assert_eq!((m.get(&0), m.get(&1)), (Some(100), Some(101)));
            assert_eq!((m.get(&2), m.get(&7)), (Some(102), Some(107)));
            assert_eq!(m.keys().count(), 4);
            assert_eq!(m.len(), 4);
            assert_eq!(m.capacity(), 8);
        },
    );
}

#[test]
fn a_resize_that_freezes_a_home_mid_displacement_undoes_or_finishes_the_move() {
    // Bounds of `race_migration` (bound 1 never reaches the undo under the
    // first regime; 2 does). Keys 0, 1 and 3 fill
    // slots 0, 1 and 3. Thread a inserts key 4
    // (home 0, neighbourhood full): it reserves slot 2 and moves key 1 there.
    // Thread b inserts key 6 (home 2): if a holds slot 2, b finds no room at
    // a load of 3/4 and resizes, and the freeze of home 1 may land between
    // a's freeze of key 1 and its commit, which then never happens: the move
    // is undone (destination back to a's reservation, then the source). Would
    // catch: a move committed into a frozen home, a key lost or duplicated
    // by the undo, a descriptor retired twice or never.
    race_migration(
        &[(0, 100), (1, 101), (3, 103)],
        |m| m.insert(4, 104),
        |m| m.insert(6, 106),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            let mut keys: Vec<(u64, u64)> = m.iter().collect();
            keys.sort_unstable();
            assert_eq!(keys, [(0, 100), (1, 101), (3, 103), (4, 104), (6, 106)]);
            assert_eq!(m.len(), 5);
        },
    );
}

#[test]
fn an_insert_never_shows_a_reservation_its_home_word_has_not_committed() {
    // Bound 3. Keys 0 and 4 share home 0. Thread b's insert of 4 loads the
    // home word while slot 0 holds key 0; thread a then removes 0 and
    // reserves slot 0 for its own insert of 4, uncommitted. A search that
    // met that PENDING entry under its old word and showed it without
    // re-checking the word would show a reservation that never committed.
    // Catches mutant `hs-search-pending-no-recheck` (since 40004c0 the
    // owner finds its reservation shown and panics, `reservation_lost`).
    race(
        3,
        &[(0, 100)],
        |m| (m.remove(&0), m.insert(4, 1)),
        |m| m.insert(4, 2),
        |m, (removed, a), b| {
            assert_eq!(removed, Some(100));
            let last = m.get(&4);
            match (a, b) {
                (None, Some(1)) => assert_eq!(last, Some(2)),
                (Some(2), None) => assert_eq!(last, Some(1)),
                other => panic!("not linearizable: {other:?}, then {last:?}"),
            }
            let entries: Vec<(u64, u64)> = m.iter().collect();
            assert_eq!(entries.len(), 1, "{entries:?}");
            assert_eq!(m.len(), 1);
        },
    );
}

#[test]
fn get_racing_a_replace_in_an_overflow_list_reads_the_whole_entry() {
    // Bound 2. Keys 0 and 4 fill home 0's neighbourhood, so key 8 (home 0)
    // lives in its overflow list; one thread replaces 8's entry there while
    // the other reads it. The replacement's payload (loom cells) must be
    // visible through the node's entry word alone. Catches mutant
    // `hs-overflow-lookup-slot-relaxed`.
    race(
        2,
        &[(0, 100), (4, 104), (8, 108)],
        |m| m.insert(8, 208),
        |m| m.get(&8),
        |m, replaced, seen| {
            assert_eq!(replaced, Some(108));
            assert!(matches!(seen, Some(108) | Some(208)), "get saw {seen:?}");
            assert_eq!(m.get(&8), Some(208));
        },
    );
}
