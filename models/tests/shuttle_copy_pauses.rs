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
//! called only in the shuttle builds) and the scenario's other thread does
//! the two migrations meanwhile. Against f019686's parent the overflow
//! scenario panics in every schedule.
//!
//! The slot scenario is the same race on the slot path (`Table::withdraw`
//! into a retired table), which the fix left as harmless by reading: here it
//! is run.
#![cfg(feature = "shuttle")]

use kovan_map::model::{set_pause_hook, Pause};
use kovan_map::HopscotchMap;
use kovan_map_models::harness::{shuttle_explore as explore, KeyIsHash, OneHash};
use shuttle::sync::mpsc::{channel, Receiver, Sender};
use shuttle::sync::Arc;
use shuttle::thread;
use std::cell::RefCell;
use std::hash::BuildHasher;

/// The stops a thread makes, in order, with the channels that announce a
/// stop and let the thread go on.
struct Stops {
    at: Vec<Pause>,
    announce: Sender<Pause>,
    go: Receiver<()>,
}

shuttle::thread_local! {
    /// Set only on the copier thread of a scenario.
    static STOPS: RefCell<Option<Stops>> = RefCell::new(None);
}

/// The pause hook: stops the copier at its next expected point, once each.
fn hook(point: Pause) {
    STOPS.with(|stops| {
        let mut stops = stops.borrow_mut();
        let Some(stops) = stops.as_mut() else {
            return;
        };
        if stops.at.first() != Some(&point) {
            return;
        }
        stops.at.remove(0);
        stops.announce.send(point).expect("the scenario is waiting");
        stops.go.recv().expect("the scenario lets the copier go on");
    });
}

/// Runs `scenario` with a copier thread that runs `copy` and stops at
/// `CopyPublished` and then `CopyLost` (of the kind `overflow` says).
/// `between` gets the map after the first stop (it must make the copier
/// lose), and `after_loss` after the second (it must finish the migration
/// and then migrate the new table in its turn).
fn race<S, const H: usize>(
    iterations: usize,
    overflow: bool,
    make: fn() -> HopscotchMap<u64, u64, S, H>,
    copy: fn(&HopscotchMap<u64, u64, S, H>),
    between: fn(&HopscotchMap<u64, u64, S, H>),
    after_loss: fn(&HopscotchMap<u64, u64, S, H>),
    expected: &'static [u64],
) where
    S: BuildHasher + Send + Sync + 'static,
{
    set_pause_hook(Some(hook));
    explore(iterations, move || {
        let map = Arc::new(make());
        let (announce, announced) = channel();
        let (let_go, go) = channel();
        let copier = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                STOPS.with(|stops| {
                    *stops.borrow_mut() = Some(Stops {
                        at: vec![
                            Pause::CopyPublished { overflow },
                            Pause::CopyLost { overflow },
                        ],
                        announce,
                        go,
                    })
                });
                copy(&map);
                let left = STOPS.with(|stops| stops.borrow_mut().take().map(|s| s.at));
                assert_eq!(left, Some(vec![]), "the copier skipped a stop");
            })
        };
        assert_eq!(announced.recv().unwrap(), Pause::CopyPublished { overflow });
        between(&map);
        let_go.send(()).unwrap();
        assert_eq!(announced.recv().unwrap(), Pause::CopyLost { overflow });
        after_loss(&map);
        let_go.send(()).unwrap();
        copier.join().unwrap();
        let mut keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, expected, "every key exactly once");
        for &k in expected {
            assert_eq!(map.get(&k), Some(k * 10), "key {k}");
        }
    });
}

fn insert_all<S: BuildHasher, const H: usize>(map: &HopscotchMap<u64, u64, S, H>, keys: &[u64]) {
    for &k in keys {
        assert_eq!(map.insert(k, k * 10), None, "key {k}");
    }
}

/// Every key hashes to 0: with neighbourhoods of 2, keys 1 and 2 take home
/// 0's slots and keys 3 and 4 its overflow list, in every table size.
fn one_home() -> HopscotchMap<u64, u64, OneHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, OneHash);
    insert_all(&map, &[1, 2, 3]);
    map
}

#[test]
fn an_overflow_copier_that_lost_finds_its_list_detached_by_the_next_migration() {
    race(
        50,
        true,
        one_home,
        // The fourth key passes the load of 3/4: this insert starts the
        // growth to 8 slots and copies home 0: its slots, then (the new
        // home's neighbourhood full) the list, where it stops.
        |map| insert_all(map, &[4]),
        // A writer helps: it copies the same list node, wins the decision,
        // shows and marks the copy and finishes the migration.
        |map| insert_all(map, &[5]),
        // Two more keys pass 3/4 of 8: the new table grows to 16 and, once
        // migrated, is retired, which detaches home 0's list with the
        // copier's node in it.
        |map| insert_all(map, &[6, 7]),
        &[1, 2, 3, 4, 5, 6, 7],
    );
}

/// A key's home is the key modulo the table size.
fn three_homes() -> HopscotchMap<u64, u64, KeyIsHash, 2> {
    let map = HopscotchMap::with_capacity_and_hasher(4, KeyIsHash);
    insert_all(&map, &[0, 1, 2]);
    map
}

#[test]
fn a_slot_copier_that_lost_withdraws_from_a_table_already_retired() {
    race(
        50,
        false,
        three_homes,
        // Key 3 grows the table to 8; the copier reserves a slot of key 0's
        // new home and stops.
        |map| insert_all(map, &[3]),
        // A writer copies key 0 into the other slot of that neighbourhood,
        // wins, and finishes the migration.
        |map| insert_all(map, &[4]),
        // 7 keys pass 3/4 of 8: the new table grows to 16 and is retired
        // with the copier's reservation still in it.
        |map| insert_all(map, &[5, 6]),
        &[0, 1, 2, 3, 4, 5, 6],
    );
}
