//! The lazily published overflow heads of a `HopscotchMap` table, under
//! loom (issue 12).
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom cargo test -p kovan-map-models --release --test loom_hopscotch_overflow_heads`
//!
//! A table allocates the array of its homes' overflow heads only when a
//! home first enters overflow mode, and publishes it with one CAS *before*
//! the CAS that sets the home's `OVERFLOW` bit (O1 in
//! `src/hopscotch/table.rs`). These scenarios race that first switch
//! against a reader, against a second writer that switches the same table
//! (two allocators of the array), and, inside a migration, against a reader
//! that follows a frozen home into the new table while the copier switches
//! the new table's home. `Table::overflow` panics if a thread that saw
//! `OVERFLOW` finds no array, so a switch published in the wrong order (or
//! an array whose links reach a thread without happens-before) fails the
//! run; mutant `hs-overflow-heads-after-flag` sets the bit first.
//!
//! The map is the production code over loom's atomics and the model
//! reclaimer (as in `loom_hopscotch.rs`). Tables of 4 slots, the identity
//! hash, and a neighbourhood of **one** slot (`H = 1`): a home whose slot
//! holds its own key cannot take another (nothing can be displaced into a
//! one-slot neighbourhood), so the second key of a home goes straight to
//! overflow mode with the smallest state space. Each test states its
//! preemption bound.
#![cfg(kovan_map_loom)]

use kovan_map::HopscotchMap;
use kovan_map_models::harness::loom_race_bounds;
use kovan_map_models::harness::KeyIsHash;

type Map = HopscotchMap<u64, u64, KeyIsHash, 1>;

/// A 4-slot map holding `prefix`, inserted in order.
fn map_with(prefix: &[(u64, u64)]) -> Map {
    let map = Map::with_capacity_and_hasher(4, KeyIsHash);
    for &(key, value) in prefix {
        map.insert(key, value);
    }
    map
}

/// Every pair the map iterates, sorted.
fn sorted(m: &Map) -> Vec<(u64, u64)> {
    let mut entries: Vec<(u64, u64)> = m.iter().collect();
    entries.sort_unstable();
    entries
}

#[test]
fn a_get_racing_the_first_switch_to_overflow_mode_finds_the_heads() {
    // Bound 3 under both epoch regimes.
    // Key 0 fills home 0's one-slot neighbourhood, and no home of the table
    // has been in overflow mode: thread a's insert of key 4 (home 0)
    // publishes the table's overflow heads, switches home 0 and pushes 4.
    // Thread b reads 4 and 0 meanwhile. Would catch: `OVERFLOW` visible
    // before the heads (b's lookup panics in `Table::overflow`, mutant
    // `hs-overflow-heads-after-flag`), a get that skips the list when the
    // heads look absent (it could miss 4 after the push), a lost key 0.
    loom_race_bounds(
        3,
        3,
        || map_with(&[(0, 100)]),
        |m| m.insert(4, 104),
        |m| (m.get(&4), m.get(&0)),
        |m, inserted, (four, zero)| {
            assert_eq!(inserted, None);
            assert!(matches!(four, None | Some(104)), "get(4) saw {four:?}");
            assert_eq!(zero, Some(100));
            assert_eq!(sorted(m), [(0, 100), (4, 104)]);
            assert_eq!(m.len(), 2);
        },
    );
}

#[test]
fn two_writers_switching_one_table_to_overflow_mode_publish_one_array() {
    // Bound 3 under both epoch regimes.
    // Key 0 fills home 0; threads a and b insert keys 4 and 8 (both home
    // 0), so both find the neighbourhood full, both may allocate the
    // table's overflow heads, one CAS publishes an array and the other
    // thread frees its own; one switches the home, and both keys end up in
    // the one list. Would catch: a loser that frees the published array
    // (use after free, or a double free when the table drops it), two
    // arrays published (a key pushed into an array nobody reads), a push
    // lost to the switch, a leaked array (loom's leak check).
    loom_race_bounds(
        3,
        3,
        || map_with(&[(0, 100)]),
        |m| m.insert(4, 104),
        |m| m.insert(8, 108),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            assert_eq!(
                (m.get(&0), m.get(&4), m.get(&8)),
                (Some(100), Some(104), Some(108))
            );
            assert_eq!(sorted(m), [(0, 100), (4, 104), (8, 108)]);
            assert_eq!(m.len(), 3);
        },
    );
}

#[test]
fn a_get_following_a_frozen_home_into_a_new_table_being_switched_finds_the_heads() {
    // Bound 3 under both epoch regimes (above the 2 / 1 of
    // `loom_hopscotch.rs`'s migration scenarios: this one is small).
    // The prefix: key 0 in home 0's slot, key 8 (home 0) in its overflow
    // list (the old table's heads are published), key 1 in home 1. Thread
    // a's insert of key 2 is the fourth key: it starts a resize to 8 slots
    // and copies chunk 0 (home 0): it seals the old list, copies 0 into the
    // new home 0's slot and then 8, which finds the new one-slot
    // neighbourhood full: the copier publishes the *new* table's heads,
    // switches the new home 0 and pushes 8's copy. Thread b reads 8 (in the
    // old table until its copy is marked, then in the new list) and 16
    // (absent: b follows the frozen old home 0 into the new table and reads
    // the new home 0's word, maybe just switched). Would catch: the new
    // table's `OVERFLOW` visible before its heads (mutant
    // `hs-overflow-heads-after-flag`, on the copier's path), a copy pushed
    // into heads nobody reads, the old table's heads or lists freed while
    // b still walks them, or not freed at all when the migration finishes
    // (the check's iteration finishes it; loom's leak check).
    loom_race_bounds(
        3,
        3,
        || map_with(&[(0, 100), (8, 108), (1, 101)]),
        |m| m.insert(2, 102),
        |m| (m.get(&8), m.get(&16)),
        |m, inserted, seen| {
            assert_eq!(inserted, None);
            assert_eq!(seen, (Some(108), None));
            assert_eq!(
                sorted(m),
                [(0, 100), (1, 101), (2, 102), (8, 108)],
                "a key was lost or doubled by the copy into the new list"
            );
            assert_eq!(m.len(), 4);
            assert_eq!(m.capacity(), 8, "iteration finishes the resize");
        },
    );
}
