//! A `HopscotchMap` copier that loses its decision, stopped there while
//! another thread finishes the migration, migrates the new table in its
//! turn and retires it: the interleaving behind f019686, forced.
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle --release --test shuttle_copy_pauses`
//! (and `--features shuttle-model`, over the model reclaimer).
//!
//! CI once failed `tests/pinned_review.rs` with `overflow::withdraw`'s
//! panic "a losing copier's publication left its list": the copier's list
//! had been detached by the retirement of the table it was copying into.
//! No schedule of the random and PCT suites reached it (4,000 shuttle
//! schedules, 200,000 PCT ones, 158 ten-second stress runs), because it
//! takes two whole migrations inside one thread's few steps. Here the
//! copier stops at the library's pause points (`kovan_map::model::Pause`,
//! called only in the shuttle builds; `kovan_map_models::pauses` runs the
//! scenarios) and the scenario's other thread does the two migrations
//! meanwhile. Against f019686's parent the overflow
//! scenario panics in every schedule.
//!
//! The slot scenario is the same race on the slot path (`Table::withdraw`
//! into a retired table), which the fix left as harmless by reading: here it
//! is run.
#![cfg(feature = "shuttle")]

use kovan_map::model::Pause;
use kovan_map::HopscotchMap;
use kovan_map_models::harness::{KeyIsHash, OneHash};
use kovan_map_models::pauses::{insert_all, leak, no_check, run, times_ten, Map, Scenario};

/// Every key hashes to 0: with neighbourhoods of 2, keys 1 and 2 take home
/// 0's slots and keys 3 and 4 its overflow list, in every table size.
fn one_home() -> Map<OneHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, OneHash);
    insert_all(&map, &[1, 2, 3]);
    map
}

#[test]
fn an_overflow_copier_that_lost_finds_its_list_detached_by_the_next_migration() {
    run(
        50,
        Scenario {
            make: one_home,
            // The fourth key passes the load of 3/4: this insert starts the
            // growth to 8 slots and copies home 0: its slots, then (the new
            // home's neighbourhood full) the list, where it stops.
            work: |map| insert_all(map, &[4]),
            stops: vec![
                Pause::CopyPublished { overflow: true },
                Pause::CopyLost { overflow: true },
            ],
            steps: vec![
                // A writer helps: it copies the same list node, wins the
                // decision, shows and marks the copy and finishes the
                // migration.
                |map| insert_all(map, &[5]),
                // Two more keys pass 3/4 of 8: the new table grows to 16
                // and, once migrated, is retired, which detaches home 0's
                // list with the copier's node in it.
                |map| insert_all(map, &[6, 7]),
            ],
            check_log: no_check,
            expected: leak(times_ten(&[1, 2, 3, 4, 5, 6, 7])),
        },
    );
}

/// A key's home is the key modulo the table size.
fn three_homes() -> Map<KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, KeyIsHash);
    insert_all(&map, &[0, 1, 2]);
    map
}

#[test]
fn a_slot_copier_that_lost_withdraws_from_a_table_already_retired() {
    run(
        50,
        Scenario {
            make: three_homes,
            // Key 3 grows the table to 8; the copier reserves a slot of key
            // 0's new home and stops.
            work: |map| insert_all(map, &[3]),
            stops: vec![
                Pause::CopyPublished { overflow: false },
                Pause::CopyLost { overflow: false },
            ],
            steps: vec![
                // A writer copies key 0 into the other slot of that
                // neighbourhood, wins, and finishes the migration.
                |map| insert_all(map, &[4]),
                // 7 keys pass 3/4 of 8: the new table grows to 16 and is
                // retired with the copier's reservation still in it.
                |map| insert_all(map, &[5, 6]),
            ],
            check_log: no_check,
            expected: leak(times_ten(&[0, 1, 2, 3, 4, 5, 6])),
        },
    );
}
