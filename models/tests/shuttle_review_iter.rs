//! Review of 2bf9cb4 under shuttle: `Cursor::visit` on a one-slot table
//! (`bits == 0`, where the position is aligned only at 0), met by an
//! iterator across a shrink to one slot and a growth back, on the
//! production code over shuttle's atomics.
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle --release --test shuttle_review_iter`
#![cfg(feature = "shuttle")]

use kovan_map::HopscotchMap;
use kovan_map_models::harness::{shuttle_explore as explore, KeyIsHash};
use shuttle::sync::Arc;
use shuttle::thread;

/// A map of minimum one slot, neighbourhood one.
type Map = HopscotchMap<u64, u64, KeyIsHash, 1>;

#[test]
fn a_cursor_past_home_0_that_meets_a_one_slot_table_skips_the_key_it_yielded() {
    // Key 0 alone: a two-slot table (an insert into one slot grows it). The
    // reader's iterator reads home 0 (key 0) and moves its cursor to the
    // second half of the order; the writer removes key 0 (the table shrinks
    // to one slot) and inserts it again (committed in the one-slot table,
    // then the table grows back). A reader whose next home, frozen, sends
    // it to the root while the one-slot table holds key 0 (between the
    // commit and the growth's start) reads home 0 of that table at a
    // position past key 0: the covers test must drop key 0, which it
    // yielded already. Would catch: `visit` taking any position for aligned
    // in a one-slot table.
    explore(3000, || {
        let map = Arc::new(Map::with_capacity_and_hasher(1, KeyIsHash));
        map.insert(0, 0);
        let writer = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for _ in 0..2 {
                    map.remove(&0);
                    map.insert(0, 0);
                }
            })
        };
        let reader = {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for pass in 0..2 {
                    let keys: Vec<u64> = if pass == 0 {
                        map.keys().collect()
                    } else {
                        let pinned = map.pin();
                        pinned.iter().map(|(k, _)| *k).collect()
                    };
                    assert!(
                        keys.len() <= 1,
                        "pass {pass}: key 0 yielded twice: {keys:?}"
                    );
                }
            })
        };
        writer.join().unwrap();
        reader.join().unwrap();
        assert_eq!(map.get(&0), Some(0));
    });
}
