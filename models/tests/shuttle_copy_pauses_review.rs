//! Adversarial review of `HopscotchMap`'s migration and copy protocol with
//! pause points: one thread (the *worker*) is stopped at named points of
//! the library (`kovan_map::model::Pause`, called only in the shuttle
//! builds) while the scenario's main thread finishes a migration, migrates
//! the new table in its turn (growing or shrinking it) and retires it,
//! removes and re-inserts keys. Random and PCT schedules give a thread a
//! few steps of window; these stops give it two whole migrations.
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle-model --release --test shuttle_copy_pauses_review`
//! (and `--features shuttle`).
//!
//! Each scenario checks, after every thread is joined: every expected key
//! exactly once in `iter`, each with its expected value from `get`, `len`
//! exact; that the worker made every stop in order (a skipped stop fails
//! the run: the main thread's `recv` sees the worker gone); and, where the
//! window's point is what happens after the stop, the points the worker
//! passed afterwards (its log). Over the model reclaimer any dereference of
//! memory kovan would not protect fails the run.
#![cfg(feature = "shuttle")]

use kovan_map::model::Pause;
use kovan_map::HopscotchMap;
use kovan_map_models::harness::{KeyIsHash, OneHash};
use kovan_map_models::pauses::{
    count, insert_all, leak, no_check, nothing, remove_all, run, times_ten, Map, Scenario,
};

/// A key's home is the key modulo the table size; keys 0, 1, 2 in 4 slots.
fn three_homes() -> Map<KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, KeyIsHash);
    insert_all(&map, &[0, 1, 2]);
    map
}

/// Every key hashes to 0: keys 1, 2 in home 0's slots, 3 in its list.
fn one_home() -> Map<OneHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, OneHash);
    insert_all(&map, &[1, 2, 3]);
    map
}

/// Keys 0..=5 in 8 slots, one per home (load 6/8: the next insert of a new
/// key grows the table, if `len` counts it).
fn six_homes() -> Map<KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(8, KeyIsHash);
    insert_all(&map, &[0, 1, 2, 3, 4, 5]);
    map
}

/// One hash, 8 slots: keys 1, 2 in home 0's slots, 6, 5, 4, 3 in its list
/// (head first).
fn one_home_long_list() -> Map<OneHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(8, OneHash);
    insert_all(&map, &[1, 2, 3, 4, 5, 6]);
    map
}

/// Keys 0..=4 in 8 slots, one per home.
fn five_homes() -> Map<KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(8, KeyIsHash);
    insert_all(&map, &[0, 1, 2, 3, 4]);
    map
}

/// Keys 0, 1 and 8 in 16 slots (homes 0, 1, 8; made 4 slots, so it may
/// shrink to 8): one removal shrinks it.
fn zero_one_eight() -> Map<KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, KeyIsHash);
    insert_all(&map, &[0, 1, 2, 3, 4, 5, 6, 8]);
    assert_eq!(map.capacity(), 16);
    remove_all(&map, &[2, 3, 4, 5, 6]);
    assert_eq!(map.capacity(), 16);
    map
}

// ---------------------------------------------------------------------------
// A copier stopped after it read its new home word, before it publishes.
// ---------------------------------------------------------------------------

/// The copier of key 0 (growth from 4 to 8) stops after reading key 0's
/// new home word. Meanwhile the other thread wins that copy, finishes the
/// migration, removes key 0 (its new slot is empty again), and grows the
/// new table to 16, which migrates it and retires it. The copier, stale,
/// then reserves the empty slot of the retired table, loses the decision
/// (the source is copied) and withdraws there. Checked: it reached the
/// loss (`CopyLost`, after publishing), nothing is lost or doubled.
#[test]
fn a_stale_slot_copier_publishes_into_a_table_already_retired() {
    run(
        30,
        Scenario {
            make: three_homes,
            work: |map| insert_all(map, &[3]),
            stops: vec![
                Pause::CopyHomeRead { overflow: false },
                Pause::CopyLost { overflow: false },
            ],
            steps: vec![
                |map| {
                    // Helps: wins key 0's copy and finishes the migration.
                    insert_all(map, &[4]);
                    remove_all(map, &[0]);
                    // 7 keys pass 3/4 of 8: the new table grows and retires.
                    insert_all(map, &[5, 6, 7]);
                    assert_eq!(map.capacity(), 16);
                },
                nothing,
            ],
            check_log: no_check,
            expected: leak(times_ten(&[1, 2, 3, 4, 5, 6, 7])),
        },
    );
}

/// As above, but the new table stays: the other thread wins key 0's copy,
/// finishes the migration, removes key 0 and inserts it again with another
/// value. The stale copier then reserves in the live new table (displacing
/// live keys to bring a far free slot within reach), loses, and withdraws.
/// Checked: it lost, and the new value is the one present.
#[test]
fn a_stale_slot_copier_publishes_after_its_key_was_removed_and_inserted_again() {
    run(
        30,
        Scenario {
            make: three_homes,
            work: |map| insert_all(map, &[3]),
            stops: vec![
                Pause::CopyHomeRead { overflow: false },
                Pause::CopyLost { overflow: false },
            ],
            steps: vec![
                |map| {
                    insert_all(map, &[4]);
                    remove_all(map, &[0]);
                    assert_eq!(map.insert(0, 1), None);
                },
                nothing,
            ],
            check_log: no_check,
            expected: &[(0, 1), (1, 10), (2, 20), (3, 30), (4, 40)],
        },
    );
}

/// The overflow copier of key 4 (growth from 4 to 8; key 4 is the list's
/// head) stops after reading a new home word in overflow mode, before its
/// push. Meanwhile the other thread wins the copy, finishes, and grows the
/// new table, which migrates it and retires it: its lists are detached.
/// The copier's push then meets the detached (sealed) head and gives up.
/// Checked: after the stop the copier never published (no `CopyPublished`)
/// and never lost a decision.
#[test]
fn a_stale_overflow_copier_finds_its_list_detached_before_it_pushes() {
    run(
        30,
        Scenario {
            make: one_home,
            work: |map| insert_all(map, &[4]),
            stops: vec![Pause::CopyHomeRead { overflow: true }],
            steps: vec![|map| {
                insert_all(map, &[5, 6, 7]);
                assert_eq!(map.capacity(), 16);
            }],
            check_log: |log| {
                assert!(
                    !log.iter()
                        .any(|p| matches!(p, Pause::CopyPublished { .. } | Pause::CopyLost { .. })),
                    "the stale copier published after its stop: {log:?}"
                );
            },
            expected: leak(times_ten(&[1, 2, 3, 4, 5, 6, 7])),
        },
    );
}

// ---------------------------------------------------------------------------
// A winner stopped before it shows its copy.
// ---------------------------------------------------------------------------

/// The copier of key 0 wins its decision and, showing its own copy, stops
/// after re-reading the source (still its descriptor). Meanwhile the other
/// thread shows and marks that copy, finishes the migration, removes key 0
/// (retiring its entry), inserts it again with another value, and grows the
/// new table, which is retired. The winner then shows into the retired
/// table (finding its publication gone) and fails its mark.
#[test]
fn a_winner_stopped_before_showing_its_slot_copy() {
    run(
        30,
        Scenario {
            make: three_homes,
            work: |map| insert_all(map, &[3]),
            stops: vec![
                Pause::CopyWon { overflow: false },
                Pause::ShowChecked { overflow: false },
            ],
            steps: vec![nothing, |map| {
                insert_all(map, &[4]);
                remove_all(map, &[0]);
                assert_eq!(map.insert(0, 1), None);
                insert_all(map, &[5, 6]);
                assert_eq!(map.capacity(), 16);
            }],
            check_log: no_check,
            expected: &[(0, 1), (1, 10), (2, 20), (3, 30), (4, 40), (5, 50), (6, 60)],
        },
    );
}

/// The same on the list path: the overflow copier of key 4 wins and stops
/// before untagging its node. The other thread shows and marks it,
/// finishes, removes key 4 from the new list (the node is unlinked and
/// retired with the entry), inserts it again, and grows and retires the
/// new table. The winner then dereferences its node (retired: protected by
/// its guard) and fails its CAS.
#[test]
fn a_winner_stopped_before_showing_its_overflow_copy() {
    run(
        30,
        Scenario {
            make: one_home,
            work: |map| insert_all(map, &[4]),
            stops: vec![
                Pause::CopyWon { overflow: true },
                Pause::ShowChecked { overflow: true },
            ],
            steps: vec![nothing, |map| {
                insert_all(map, &[5]);
                remove_all(map, &[4]);
                assert_eq!(map.insert(4, 41), None);
                insert_all(map, &[6, 7]);
                assert_eq!(map.capacity(), 16);
            }],
            check_log: no_check,
            expected: &[
                (1, 10),
                (2, 20),
                (3, 30),
                (4, 41),
                (5, 50),
                (6, 60),
                (7, 70),
            ],
        },
    );
}

// ---------------------------------------------------------------------------
// A sealer stopped inside `seal`.
// ---------------------------------------------------------------------------

/// The thread whose insert (key 7) grows the table from 8 to 16 seals the
/// old list of home 0 and stops at its first node (key 7's), before
/// settling it. Meanwhile the other thread finishes the migration (the old
/// table's lists are detached and their five nodes retired), removes keys
/// until the new table shrinks back to 8, which retires it too. The sealer
/// then settles and walks on through the retired nodes. Checked: it
/// visited every node of the old list after its stop (five `SealedNode`s in
/// all) and published nothing.
#[test]
fn a_sealer_stopped_in_an_old_list_walks_it_after_two_migrations() {
    run(
        30,
        Scenario {
            make: one_home_long_list,
            work: |map| insert_all(map, &[7]),
            stops: vec![Pause::SealedNode],
            steps: vec![|map| {
                insert_all(map, &[8]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[8, 7, 6, 5, 4, 3]);
                assert_eq!(map.capacity(), 8);
            }],
            check_log: |log| {
                assert_eq!(count(log, Pause::SealedNode), 5, "{log:?}");
                assert!(
                    !log.iter().any(|p| matches!(p, Pause::CopyPublished { .. })),
                    "{log:?}"
                );
            },
            expected: leak(times_ten(&[1, 2])),
        },
    );
}

// ---------------------------------------------------------------------------
// An insert stopped at its reservation, or between its commit and show.
// ---------------------------------------------------------------------------

/// The insert of key 5 reserves its slot and stops before its commit.
/// Meanwhile the other thread grows the table (8 to 16: the home is frozen
/// with the reservation uncommitted), removes keys until it shrinks back to
/// 8, which retires the table the insert had reserved in. The insert's
/// commit fails, it withdraws in the retired table and inserts again in the
/// newest. Checked: a second reservation and one commit after the stop.
#[test]
fn an_insert_stopped_at_its_reservation_while_two_migrations_run() {
    run(
        30,
        Scenario {
            make: five_homes,
            work: |map| insert_all(map, &[5]),
            stops: vec![Pause::InsertReserved],
            steps: vec![|map| {
                insert_all(map, &[6, 7]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[7, 6, 4, 3, 2]);
                assert_eq!(map.capacity(), 8);
            }],
            check_log: |log| {
                assert_eq!(count(log, Pause::InsertReserved), 2, "{log:?}");
                assert_eq!(count(log, Pause::InsertCommitted), 1, "{log:?}");
            },
            expected: &[(0, 0), (1, 10), (5, 50)],
        },
    );
}

/// The insert of key 5 commits and stops before showing its entry.
/// Meanwhile the other thread grows the table (the freeze shows the
/// insert, which is copied), removes key 5 among others until the new table
/// shrinks and is retired. The insert's untag then fails in the retired
/// table. Checked: key 5 is absent (the removal came after the insert
/// took effect), `len` exact, no second reservation.
#[test]
fn an_insert_stopped_between_its_commit_and_its_show_while_two_migrations_run() {
    run(
        30,
        Scenario {
            make: five_homes,
            work: |map| insert_all(map, &[5]),
            stops: vec![Pause::InsertCommitted],
            steps: vec![|map| {
                insert_all(map, &[6, 7]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[5, 7, 6, 4, 3]);
                assert_eq!(map.capacity(), 8);
            }],
            check_log: |log| {
                assert_eq!(count(log, Pause::InsertReserved), 0, "{log:?}");
            },
            expected: &[(0, 0), (1, 10), (2, 20)],
        },
    );
}

// ---------------------------------------------------------------------------
// A removal stopped after its tag, before its release.
// ---------------------------------------------------------------------------

/// The removal of key 1 tags its entry and stops before releasing the
/// slot. Meanwhile the other thread grows the table (the migration frees
/// the removed slot frozen and retires the entry), then removes keys until
/// the new table shrinks and is retired. The removal then releases in the
/// retired table (nothing left to do).
#[test]
fn a_slot_removal_stopped_after_its_tag_while_two_migrations_run() {
    run(
        30,
        Scenario {
            make: six_homes,
            work: |map| remove_all(map, &[1]),
            stops: vec![Pause::RemoveTagged { overflow: false }],
            steps: vec![|map| {
                // `len` still counts key 1: this insert grows the table.
                insert_all(map, &[6]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[6, 5, 4, 3, 2]);
                assert_eq!(map.capacity(), 8);
            }],
            check_log: no_check,
            expected: &[(0, 0)],
        },
    );
}

/// The same in an overflow list: the removal of key 4 tags its node and
/// stops before unlinking it. The migration seals the list (the node stays,
/// removed), the old table's retirement retires node and entry, and the
/// new table shrinks and is retired too. The removal's unlink then finds
/// the list sealed.
#[test]
fn an_overflow_removal_stopped_after_its_tag_while_two_migrations_run() {
    run(
        30,
        Scenario {
            make: one_home_long_list,
            work: |map| remove_all(map, &[4]),
            stops: vec![Pause::RemoveTagged { overflow: true }],
            steps: vec![|map| {
                insert_all(map, &[7]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[7, 6, 5, 3, 2]);
                assert_eq!(map.capacity(), 8);
            }],
            check_log: no_check,
            expected: &[(1, 10)],
        },
    );
}

// ---------------------------------------------------------------------------
// A losing overflow copier stopped after its pass found its node.
// ---------------------------------------------------------------------------

/// The overflow copier of key 4 publishes and stops; the other thread wins
/// the copy and finishes the migration; the copier loses, its pass finds
/// its node still in the live new list, and it stops again. Now the other
/// thread grows the new table (its migration seals the node in place) and
/// retires it (the node is retired with the list). The copier then marks
/// the retired node's slot removed and finds the list sealed.
#[test]
fn a_losing_overflow_copier_stopped_after_finding_its_node() {
    run(
        30,
        Scenario {
            make: one_home,
            work: |map| insert_all(map, &[4]),
            stops: vec![
                Pause::CopyPublished { overflow: true },
                Pause::WithdrawFound,
            ],
            steps: vec![|map| insert_all(map, &[5]), |map| {
                insert_all(map, &[6, 7]);
                assert_eq!(map.capacity(), 16);
            }],
            check_log: no_check,
            expected: leak(times_ten(&[1, 2, 3, 4, 5, 6, 7])),
        },
    );
}

// ---------------------------------------------------------------------------
// A shrink whose copier loses, and whose target then grows and retires.
// ---------------------------------------------------------------------------

/// Keys 0, 1 and 8 in 16 slots (homes 0, 1, 8); the worker removes key 1,
/// which shrinks the table to 8, where keys 0 and 8 share home 0. It
/// publishes key 0's copy in slot 0 and stops. The other thread copies key
/// 8 into slot 1, then key 0 itself (home 0's neighbourhood full: into its
/// list, which goes into overflow mode), wins, finishes the shrink in two
/// inserts, and grows the small table back to 16, which retires it. The
/// worker loses and withdraws from the retired table.
#[test]
fn a_shrink_copier_that_lost_withdraws_after_its_target_was_grown_and_retired() {
    run(
        30,
        Scenario {
            make: zero_one_eight,
            work: |map| remove_all(map, &[1]),
            stops: vec![
                Pause::CopyPublished { overflow: false },
                Pause::CopyLost { overflow: false },
            ],
            steps: vec![
                |map| {
                    insert_all(map, &[3, 4]);
                    assert_eq!(map.capacity(), 8);
                    insert_all(map, &[5, 6, 7]);
                    assert_eq!(map.capacity(), 16);
                },
                nothing,
            ],
            check_log: no_check,
            expected: leak(times_ten(&[0, 3, 4, 5, 6, 7, 8])),
        },
    );
}

// ---------------------------------------------------------------------------
// `clear` and `iter` stopped inside a migration step.
// ---------------------------------------------------------------------------

/// `clear` tags key 0 removed and stops before releasing it. Meanwhile the
/// other thread inserts two keys (the table grows from 8 to 16, freeing key
/// 0's slot frozen) and removes them again. `clear` then goes on across the
/// resize, and its own removals shrink the table back to 8 as it goes.
/// Checked: every key present for the whole call is gone.
#[test]
fn a_clear_stopped_at_a_removal_while_the_table_grows_under_it() {
    run(
        30,
        Scenario {
            make: six_homes,
            work: |map| map.clear(),
            stops: vec![Pause::RemoveTagged { overflow: false }],
            steps: vec![|map| {
                insert_all(map, &[6, 7]);
                assert_eq!(map.capacity(), 16);
                remove_all(map, &[6, 7]);
            }],
            check_log: no_check,
            expected: &[],
        },
    );
}

/// Keys 0..=24 in 32 slots; the 25th insert grew the table to 64 and copied
/// only four of its eight chunks. An iteration finishes that migration in
/// its first step and stops as the copier of key 16 (chunk 4), published.
/// The other thread helps (wins that copy), finishes the migration, and
/// inserts until the 64-slot table grows to 128, and iterates, which
/// finishes that growth and retires the 64-slot table. The
/// iteration's copier then loses, withdraws from the retired table, and
/// the iteration goes on. Checked inside the worker: it yields each of the
/// keys 0..=24 (present throughout) exactly once, and no key twice.
#[test]
fn an_iteration_whose_resize_step_lost_a_copy_across_two_migrations() {
    run(
        20,
        Scenario {
            make: || {
                let map: Map<KeyIsHash, 2> = HopscotchMap::with_capacity_and_hasher(32, KeyIsHash);
                let keys: Vec<u64> = (0..25).collect();
                insert_all(&map, &keys);
                map
            },
            work: |map| {
                let mut keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
                keys.sort_unstable();
                let mut unique = keys.clone();
                unique.dedup();
                assert_eq!(keys, unique, "a key yielded twice");
                for k in 0..25 {
                    assert!(keys.contains(&k), "key {k} present throughout, not yielded");
                }
            },
            stops: vec![
                Pause::CopyPublished { overflow: false },
                Pause::CopyLost { overflow: false },
            ],
            steps: vec![
                |map| {
                    let keys: Vec<u64> = (100..124).collect();
                    insert_all(map, &keys);
                    // The 49th key started the growth to 128; an iteration
                    // finishes it, which retires the 64-slot table.
                    assert_eq!(map.iter().count(), 49);
                    assert_eq!(map.capacity(), 128);
                },
                nothing,
            ],
            check_log: no_check,
            expected: leak(times_ten(&(0..25).chain(100..124).collect::<Vec<u64>>())),
        },
    );
}
