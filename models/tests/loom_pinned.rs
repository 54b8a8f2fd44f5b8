//! The borrowing API of `HashMap::pin` under loom: references into nodes
//! this thread published itself (`get_or_insert_with`, `compute`) rest on
//! `reclaim::cover_own` (a protected load between the allocation and the
//! publishing CAS); references into removed or replaced nodes rest on the
//! guard that found them. The model reclaimer fails any run in which such a
//! node could be freed while the handle lives, under both epoch regimes.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map-models --release --test loom_pinned`
#![cfg(kovan_map_loom)]

use kovan_map_models::harness::hash_map::race;

#[test]
fn a_borrowed_inserted_value_survives_its_removal_by_another_thread() {
    // Bound 2. `make` flushes (advancing the epoch above the caller's
    // publication, as bug 1 of issue 7 needed); the other thread removes the
    // key, retiring the node, while the handle still holds the reference it
    // answers. Would catch: `claim_in` without `cover_own` (the node is born
    // above the slot's published epoch, so its retirement skips the slot).
    race(
        2,
        &[],
        |m| {
            let p = m.pin();
            let v = p.get_or_insert_with(1, || {
                kovan_map::flush();
                10
            });
            // Read again after the other thread had its chance.
            loom::thread::yield_now();
            *v
        },
        |m| m.remove(&1),
        |m, got, removed| {
            assert_eq!(got, 10);
            assert_eq!(m.get(&1), if removed.is_some() { None } else { Some(10) });
        },
    );
}

#[test]
fn a_borrowed_computed_value_survives_its_replacement() {
    // Bound 2, a present key: `compute` replaces it with a node of its own,
    // whose value it answers borrowed, while the other thread replaces the
    // key again (retiring that node). Would catch: `compute_in` without
    // `cover_own` on the replacement path.
    race(
        2,
        &[(1, 1)],
        |m| {
            let p = m.pin();
            let v = p.compute(1, |v| {
                kovan_map::flush();
                v.map(|v| v + 10)
            });
            loom::thread::yield_now();
            v.copied()
        },
        |m| m.insert(1, 100),
        |m, got, old| match (got, old) {
            // compute first: 11, then the insert replaced it.
            (Some(11), Some(11)) => assert_eq!(m.get(&1), Some(100)),
            // insert first: compute saw 100.
            (Some(110), Some(1)) => assert_eq!(m.get(&1), Some(110)),
            other => panic!("not linearizable: {other:?}"),
        },
    );
}

#[test]
fn borrowed_old_values_of_insert_and_remove_stay_valid() {
    // Bound 2. The handle's insert answers the value it replaced and its
    // remove the value it removed; both nodes are retired by then (the
    // other thread's replacement may unlink the first), protected by the handle's
    // guard. Would catch: a guard that did not protect nodes it found.
    race(
        2,
        &[(1, 1), (2, 2)],
        |m| {
            let p = m.pin();
            let old = p.insert(1, 5);
            let removed = p.remove(&2);
            loom::thread::yield_now();
            (old.copied(), removed.copied())
        },
        |m| m.insert(1, 7),
        |m, (old, removed), b_old| {
            // Key 1: two replacements in some order.
            match (old, b_old) {
                (Some(1), Some(5)) => assert_eq!(m.get(&1), Some(7)),
                (Some(7), Some(1)) => assert_eq!(m.get(&1), Some(5)),
                other => panic!("key 1 not linearizable: {other:?}"),
            }
            assert_eq!(removed, Some(2));
            assert_eq!(m.get(&2), None);
        },
    );
}

mod hopscotch {
    use kovan_map::HopscotchMap;
    use kovan_map_models::harness::{loom_race, KeyIsHash};

    type Map = HopscotchMap<u64, u64, KeyIsHash, 2>;

    #[test]
    fn a_borrowed_inserted_entry_survives_its_removal_by_another_thread() {
        // As the HashMap scenario, on a 4-slot hopscotch table. Would catch:
        // a borrowed entry freed by the remover's retirement while the handle
        // lives. Not caught: `claim_in` without its own `cover_own`, since
        // `insert_new`'s reservation also makes protected loads after the
        // allocation (an equivalent mutant today, so none is kept; see
        // src/hopscotch/pinned.rs).
        loom_race(
            2,
            || Map::with_capacity_and_hasher(4, KeyIsHash),
            |m: &Map| {
                let p = m.pin();
                let v = p.get_or_insert_with(1, || {
                    kovan_map::flush();
                    10
                });
                loom::thread::yield_now();
                *v
            },
            |m: &Map| m.remove(&1),
            |m: &Map, got, removed| {
                assert_eq!(got, 10);
                assert_eq!(m.get(&1), if removed.is_some() { None } else { Some(10) });
            },
        );
    }
}
