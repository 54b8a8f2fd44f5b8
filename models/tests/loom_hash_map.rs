//! Exhaustive interleavings of small `HashMap` scenarios under loom.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map-models --release --test loom_hash_map`
//!
//! The map is the production code, built over loom's atomics and the model
//! reclaimer (`src/reclaim.rs`), which fails a run that dereferences a node
//! kovan would not protect. Node payloads sit in loom cells, so a publication
//! too weak to carry them to a reader is a causality failure. Every scenario
//! uses a one-bucket map (all keys collide), so chains, dead runs and unlinks
//! are in play. Each test states its preemption bound; with bound 3 each
//! explores all interleavings with at most three preemptions.
#![cfg(kovan_map_loom)]

use kovan_map::HashMap;
use kovan_map_models::harness::{loom_race, KeyIsHash};

type Map = HashMap<u64, u64, KeyIsHash>;

/// A one-bucket map holding `prefix`.
fn map_with(prefix: &[(u64, u64)]) -> Map {
    let map = Map::with_capacity_and_hasher(1, KeyIsHash);
    for &(key, value) in prefix {
        map.insert(key, value);
    }
    map
}

/// [`loom_race`] over a map holding `prefix`.
fn race<RA: Send + 'static, RB: Send + 'static>(
    bound: usize,
    prefix: &'static [(u64, u64)],
    a: fn(&Map) -> RA,
    b: fn(&Map) -> RB,
    check: fn(&Map, RA, RB),
) {
    loom_race(bound, move || map_with(prefix), a, b, check);
}

#[test]
fn two_inserts_of_one_key_have_one_winner() {
    // Bound 3. Would catch: a second push of a present key (two live nodes),
    // a lost update, an answer other than the value the insert displaced.
    race(
        3,
        &[],
        |m| m.insert(1, 10),
        |m| m.insert(1, 20),
        |m, a, b| {
            let last = m.get(&1);
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
fn insert_racing_remove_is_one_or_the_other() {
    // Bound 3, with a second key in the chain so the removal unlinks behind
    // a predecessor. Would catch: a removal that misses a node pushed before
    // its tag, a node retired twice, a length that goes wrong.
    race(
        3,
        &[(2, 2)],
        |m| m.insert(1, 10),
        |m| m.remove(&1),
        |m, inserted, removed| {
            assert_eq!(inserted, None);
            match removed {
                None => assert_eq!(m.get(&1), Some(10)),
                Some(10) => assert_eq!(m.get(&1), None),
                other => panic!("remove returned {other:?}"),
            }
            assert_eq!(m.get(&2), Some(2));
            assert_eq!(m.len(), if removed.is_some() { 1 } else { 2 });
        },
    );
}

#[test]
fn replace_racing_get_never_shows_absence() {
    // Bound 3. A get that runs while key 1 is replaced must see the old or
    // the new value, never None, and two gets in a row never go backwards.
    // Would catch: a replace that deletes then inserts (a window of
    // absence), a reader that drops a dead run instead of following it, a
    // reader that follows a frozen link into a node already retired.
    race(
        3,
        &[(1, 1), (2, 2)],
        |m| m.insert(1, 5),
        |m| (m.get(&1), m.get(&1)),
        |_, replaced, (first, second)| {
            assert_eq!(replaced, Some(1));
            assert!(matches!(first, Some(1) | Some(5)), "first read {first:?}");
            assert!(
                matches!(second, Some(1) | Some(5)),
                "second read {second:?}"
            );
            assert!(
                !(first == Some(5) && second == Some(1)),
                "reads went backwards"
            );
        },
    );
}

#[test]
fn get_behind_a_removed_neighbour_still_finds_its_key() {
    // Bound 3. Chain 3 -> 2 -> 1 (pushed at the head). One thread removes 3
    // and 2 while the other looks up 1 behind them. Would catch: a reader
    // that loses its place when its predecessor is unlinked, or dereferences
    // a node retired under it.
    race(
        3,
        &[(1, 1), (2, 2), (3, 3)],
        |m| m.get(&1),
        |m| (m.remove(&3), m.remove(&2)),
        |m, seen, removed| {
            assert_eq!(seen, Some(1));
            assert_eq!(removed, (Some(3), Some(2)));
            assert_eq!(m.get(&1), Some(1));
            assert_eq!(m.len(), 1);
        },
    );
}

#[test]
fn removals_of_neighbours_unlink_each_node_once() {
    // Bound 3. Two threads remove adjacent keys; both unlinks race on the
    // same links. Would catch: a node retired twice, a node unlinked from a
    // dead predecessor (lost), a removal of the wrong key.
    race(
        3,
        &[(1, 1), (2, 2), (3, 3)],
        |m| m.remove(&3),
        |m| m.remove(&2),
        |m, a, b| {
            assert_eq!((a, b), (Some(3), Some(2)));
            assert_eq!(m.get(&1), Some(1));
            assert_eq!(m.get(&2), None);
            assert_eq!(m.get(&3), None);
            assert_eq!(m.len(), 1);
        },
    );
}

#[test]
fn two_insert_if_absent_have_one_winner() {
    // Bound 3. Would catch: two pushes of one key after both saw it absent.
    race(
        3,
        &[(9, 9)],
        |m| m.insert_if_absent(1, 10),
        |m| m.insert_if_absent(1, 20),
        |m, a, b| match (a, b) {
            (None, Some(10)) => assert_eq!(m.get(&1), Some(10)),
            (Some(20), None) => assert_eq!(m.get(&1), Some(20)),
            other => panic!("two winners or none: {other:?}"),
        },
    );
}

#[test]
fn concurrent_computes_lose_no_increment() {
    // Bound 2. Two read-modify-writes of one key; the closure may rerun.
    // Would catch: a compute that publishes a value computed from a stale
    // read (a lost update).
    fn bump(m: &Map) -> Option<u64> {
        m.compute(1, |v| Some(v.map_or(1, |n| n + 1)))
    }
    race(2, &[(1, 0)], bump, bump, |m, a, b| {
        assert_eq!(m.get(&1), Some(2));
        let mut answers = [a, b];
        answers.sort();
        assert_eq!(answers, [Some(1), Some(2)]);
    });
}

#[test]
fn remove_if_racing_replace_decides_on_the_value_it_removes() {
    // Bound 3. remove_if(even) races a replace 2 -> 3. Would catch: a removal
    // whose predicate saw 2 but which removed 3.
    race(
        3,
        &[(1, 2)],
        |m| m.remove_if(&1, |v| v % 2 == 0),
        |m| m.insert(1, 3),
        |m, removed, replaced| match (removed, replaced) {
            // Removal first: the insert found the key absent.
            (Some(2), None) => assert_eq!(m.get(&1), Some(3)),
            // Replace first: 3 is odd, nothing removed.
            (None, Some(2)) => assert_eq!(m.get(&1), Some(3)),
            other => panic!("not linearizable: {other:?}"),
        },
    );
}

#[test]
fn iteration_during_a_replace_yields_the_key_once() {
    // Bound 2. Would catch: an iterator that meets both the old node and its
    // replacement, or neither.
    race(
        2,
        &[(1, 1), (2, 2)],
        |m| {
            let mut keys: Vec<u64> = m.keys().collect();
            keys.sort();
            keys
        },
        |m| m.insert(1, 5),
        |_, keys, _| assert_eq!(keys, vec![1, 2]),
    );
}

#[test]
fn reader_parked_on_a_dead_node_never_follows_into_reclaimed_memory() {
    // Bound 2. The reader stops on key 1's node; meanwhile the writer
    // replaces it (a node born after the reader pinned) and removes the
    // replacement (retired). Would catch: a reader that follows a dead
    // node's frozen link without checking that the dead run is still linked,
    // reaching a node kovan does not protect for it.
    race(
        3,
        &[(2, 2), (1, 1)],
        |m| m.get(&2),
        |m| (m.insert(1, 10), m.remove(&1)),
        |m, seen, wrote| {
            assert_eq!(seen, Some(2));
            assert_eq!(wrote, (Some(1), Some(10)));
            assert_eq!(m.get(&1), None);
        },
    );
}

#[test]
fn clear_racing_insert_leaves_only_what_came_after() {
    // Bound 2. clear removes what was present for its whole run; a racing
    // insert of a new key may or may not survive, and the length agrees.
    race(
        2,
        &[(1, 1)],
        |m| m.clear(),
        |m| m.insert(2, 2),
        |m, (), inserted| {
            assert_eq!(inserted, None);
            assert_eq!(m.get(&1), None);
            let survivors = usize::from(m.get(&2).is_some());
            assert_eq!(m.len(), survivors);
        },
    );
}

#[test]
fn reader_on_a_removed_node_never_reaches_a_successor_born_and_retired_meanwhile() {
    // Bound 2. Chain D(1) -> T(2). The reader looks up an absent key and
    // stops on D; the writer removes D, replaces T by U and removes U. A
    // reader that then followed D's frozen link without checking that the
    // dead run is still attached would reach U, born after the reader's
    // reservations and retired before its load: the model reclaimer fails
    // that (found by review, together with the model's load order).
    race(
        2,
        &[(2, 2), (1, 1)],
        |m| m.get(&3),
        |m| (m.remove(&1), m.insert(2, 20), m.remove(&2)),
        |m, seen, wrote| {
            assert_eq!(seen, None);
            assert_eq!(wrote, (Some(1), Some(2), Some(20)));
            assert!(m.is_empty());
        },
    );
}

// Issue 7, bug 1: a writer dereferenced the node it had just published.
// kovan 0.2.0 stamps a node with its allocator's *cached* birth epoch, which
// an epoch advance of that thread (its 128th retire, or a `flush`) raises
// above the epoch its slot publishes; once another thread removes and
// retires the node, nothing protects it for its allocator. The model
// reclaimer advances the epoch at every retire (one of the two regimes each
// scenario runs under), so these scenarios reach that state.

#[test]
fn get_or_insert_never_reads_its_node_after_a_remover_retired_it() {
    // Bound 3, no user code: the remover of key 2 is preempted after its tag;
    // get_or_insert's search unlinks (and retires) that dead node, so its
    // epoch advances; its new node for key 1 is born above its publication;
    // the remover then removes key 1 too, before get_or_insert clones the
    // value it inserted. Would catch: `claim` cloning from the published
    // node instead of the private one.
    race(
        3,
        &[(2, 2)],
        |m| m.get_or_insert(1, 10),
        |m| (m.remove(&2), m.remove(&1)),
        |m, got, (two, one)| {
            assert_eq!(got, 10);
            assert_eq!(two, Some(2));
            match one {
                Some(10) => assert_eq!(m.get(&1), None),
                None => assert_eq!(m.get(&1), Some(10)),
                other => panic!("remove(1) returned {other:?}"),
            }
            assert_eq!(m.get(&2), None);
        },
    );
}

#[test]
fn a_flush_inside_get_or_insert_with_never_exposes_the_new_node() {
    // Bound 2. `make` calls `flush` (which advances the epoch, as the
    // docs allow), so the node is born above the caller's publication.
    // Would catch: as above, through the user closure.
    race(
        2,
        &[],
        |m| {
            m.get_or_insert_with(1, || {
                kovan_map::flush();
                10
            })
        },
        |m| m.remove(&1),
        |m, got, removed| {
            assert_eq!(got, 10);
            assert_eq!(m.get(&1), if removed.is_some() { None } else { Some(10) });
        },
    );
}

#[test]
fn compute_of_an_absent_key_never_reads_its_pushed_node() {
    // Bound 2. Would catch: `compute` answering the pushed node's value
    // (read after the push) instead of a clone taken before it.
    race(
        2,
        &[],
        |m| {
            m.compute(1, |_| {
                kovan_map::flush();
                Some(10)
            })
        },
        |m| m.remove(&1),
        |m, got, removed| {
            assert_eq!(got, Some(10));
            assert_eq!(m.get(&1), if removed.is_some() { None } else { Some(10) });
        },
    );
}

#[test]
fn compute_replacing_a_key_never_reads_its_replacement_after_the_cas() {
    // Bound 2. The replacement is built after `f` flushed; a remover then
    // removes it before `compute` answers. Would catch: `replace` handing
    // back a reference to the published replacement.
    race(
        2,
        &[(1, 1)],
        |m| {
            m.compute(1, |v| {
                kovan_map::flush();
                v.map(|v| v + 1)
            })
        },
        |m| m.remove(&1),
        |m, got, removed| match (removed, got) {
            // The removal came first: compute saw the key absent.
            (Some(1), None) => assert_eq!(m.get(&1), None),
            (Some(2), Some(2)) => assert_eq!(m.get(&1), None),
            other => panic!("not linearizable: {other:?}"),
        },
    );
}

#[test]
fn replace_if_never_reads_its_replacement_after_the_cas() {
    // Bound 2. The predicate flushes (the epoch advances), so the
    // replacement is born above the caller's publication; a remover then
    // removes it before `replace_if` returns. Would catch: `replace`
    // dereferencing the published replacement to hand it back. (A plain
    // `insert` cannot reach this state: its search's last load, after any
    // retire of its own, republishes the epoch before the replacement is
    // allocated.)
    race(
        2,
        &[(1, 1)],
        |m| {
            m.replace_if(1, 10, |_| {
                kovan_map::flush();
                true
            })
        },
        |m| m.remove(&1),
        |m, replaced, removed| match (replaced, removed) {
            (Ok(1), Some(10)) | (Err(None), Some(1)) => assert_eq!(m.get(&1), None),
            (Ok(1), None) => unreachable!("the key was present"),
            other => panic!("not linearizable: {other:?}"),
        },
    );
}

// Scenarios added for the mutant table (models/mutants/, docs/mutants.md):
// each names the mutant it catches, which no scenario above caught.

#[test]
fn get_racing_the_push_of_a_new_key_reads_the_whole_node() {
    // Bound 2. A reader meets a node pushed while it runs: its key and value
    // (loom cells) must be visible through the bucket load alone. Catches
    // mutant `hm-walk-head-relaxed` (a reader loading the bucket head
    // Relaxed reads the new head's payload with no happens-before; every
    // other scenario's reader meets only nodes published before the spawn).
    race(
        2,
        &[],
        |m| m.insert(1, 10),
        |m| m.get(&1),
        |m, inserted, seen| {
            assert_eq!(inserted, None);
            assert!(matches!(seen, None | Some(10)), "read {seen:?}");
            assert_eq!(m.get(&1), Some(10));
        },
    );
}

#[test]
fn writer_whose_unlink_failed_never_reaches_a_successor_born_and_retired_meanwhile() {
    // Bound 2. The writer analogue of the reader scenario above: chain
    // D(1) -> T(2); an insert of an absent key loads D's tagged `next`, and
    // its unlink of D fails because the other thread unlinked D first, then
    // replaced T by U and removed U. A search that then went on along the
    // frozen link (instead of restarting from the head) would reach U, born
    // after the inserter's reservation and retired before its load. Catches
    // mutant `hm-search-continues-after-failed-unlink`.
    race(
        2,
        &[(2, 2), (1, 1)],
        |m| m.insert(3, 3),
        |m| (m.remove(&1), m.insert(2, 20), m.remove(&2)),
        |m, inserted, wrote| {
            assert_eq!(inserted, None);
            assert_eq!(wrote, (Some(1), Some(2), Some(20)));
            assert_eq!(m.get(&3), Some(3));
            assert_eq!(m.len(), 1);
        },
    );
}
