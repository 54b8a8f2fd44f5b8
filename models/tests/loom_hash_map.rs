//! Exhaustive interleavings of small `HashMap` scenarios under loom.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map-models --release --test loom_hash_map`
//!
//! The map is the production code, built over loom's atomics and the model
//! reclaimer (`src/reclaim.rs`), which fails a run that dereferences a node
//! kovan would not protect. Node payloads sit in loom cells, so a publication
//! too weak to carry them to a reader is a causality failure. Every scenario
//! starts from a tiny table (`with_capacity(1)`, or 2 where the floor bucket
//! matters), so every key shares the one split-ordered list, dead runs and
//! unlinks are in play, and the table grows (doubling past a load of 3/4:
//! under loom the first insert already grows 1 -> 2, the second 2 -> 4, the
//! fourth 4 -> 8) and shrinks inside the scenarios. The growth scenarios
//! (below the mutant-table section) put a dummy's claim and link, a size CAS
//! and a segment's publication inside the race. Each test states its
//! preemption bound; with bound 3 each explores all interleavings with at
//! most three preemptions.
#![cfg(kovan_map_loom)]

use kovan_map::HashMap;
use kovan_map_models::harness::hash_map::{map_of, race, sorted_keys as keys, Map};
use kovan_map_models::harness::{loom_race_bounds, OneHash};

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

// Growth and shrinking (issue 10). With `KeyIsHash` a key is its own hash,
// so the list order is by reversed key: D0 < 8 < D4 < 4 < D2 < 2 < D6 < 6 <
// D1 < 1 < D5 < 5 < D3 < 3 < D7 < 7 (Dn: bucket n's dummy). With floor 1,
// prefix {1} leaves the table at 2 buckets with D1 untouched (the list is
// D0 -> 1); prefix {1, 2} leaves it at 4 with D1..D3 untouched (D0 -> 2 ->
// 1). A writer of key 3 then claims D1 (and, at size 4, D3) and links it
// between 2 (or D0) and 1: the other thread's operation races that link.
// Each growth scenario names the mutants it catches (models/mutants/).

/// [`loom_race_bounds`] over a map of floor `floor` holding `prefix`.
#[allow(clippy::too_many_arguments)]
fn race_on<RA: Send + 'static, RB: Send + 'static>(
    advance_bound: usize,
    flush_bound: usize,
    floor: usize,
    prefix: &'static [(u64, u64)],
    a: fn(&Map) -> RA,
    b: fn(&Map) -> RB,
    check: fn(&Map, RA, RB),
) {
    loom_race_bounds(
        advance_bound,
        flush_bound,
        move || map_of(floor, prefix),
        a,
        b,
        check,
    );
}

#[test]
fn an_insert_that_grows_the_table_races_an_insert_into_a_new_bucket() {
    // Bound 3. Size 2 (D0 -> 1); A's insert of 2 takes the load past 3/4
    // and grows the table to 4 (allocating segment 2, then the size CAS);
    // B's insert of 3 reads size 2 or 4, so it claims D1 (and D3) and links
    // them, possibly in the new segment. Catches `hm-grow-size-before-segment`
    // and `hm-grow-size-cas-relaxed` (a writer that acquires the new size
    // reads segment 2's address before it is published: a null segment).
    // Would also catch: a lost node, a dummy linked out of order, a size
    // left wrong.
    race_on(
        3,
        3,
        1,
        &[(1, 1)],
        |m| m.insert(2, 2),
        |m| m.insert(3, 3),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            assert_eq!(
                (m.get(&1), m.get(&2), m.get(&3)),
                (Some(1), Some(2), Some(3))
            );
            assert_eq!(m.len(), 3);
            assert_eq!(m.capacity(), 4);
            assert_eq!(keys(m), [1, 2, 3]);
            assert_eq!(m.chain_stats().entries, 3);
        },
    );
}

#[test]
fn a_get_racing_the_link_of_its_buckets_dummy_finds_its_key() {
    // Bound 3. Size 2, D0 -> 1, D1 untouched; A's insert of 3 claims D1,
    // links it in front of 1 and inserts 3 behind 1 (then grows to 4); B
    // looks up 1 (present throughout) and 3 while it happens, from a size
    // of 2 or 4 (a stale size starts it at D1 or at D0). Catches
    // `hm-link-cas-relaxed` (B, not yet seeing LINKED, starts at D0 and
    // follows the dummy A's CAS linked, whose `next` it may read as null),
    // `hm-linked-store-relaxed` and `hm-reader-start-relaxed` (B sees
    // LINKED without the link that made it true, and starts at a D1 whose
    // `next` is still null): each makes get(1) answer None.
    race_on(
        3,
        3,
        1,
        &[(1, 1)],
        |m| m.insert(3, 3),
        |m| (m.get(&1), m.get(&3)),
        |m, a, (one, three)| {
            assert_eq!(a, None);
            assert_eq!(one, Some(1), "key 1 is present throughout");
            assert!(matches!(three, None | Some(3)), "read {three:?}");
            assert_eq!((m.get(&1), m.get(&3)), (Some(1), Some(3)));
            assert_eq!(m.len(), 2);
            assert_eq!(keys(m), [1, 3]);
        },
    );
}

#[test]
fn a_writer_meeting_a_claimed_dummy_is_served_by_its_parent() {
    // Bound 3. Size 2, D0 -> 1; both threads insert into bucket 1 (3 and
    // 5), so one may find D1 claimed by the other and not yet linked: it
    // starts from D0 and links its node around the dummy being linked
    // (5 lies between 1 and 3, both behind D1). Would catch: a writer
    // that waits for (or links) a dummy another thread claimed, a node
    // linked on the wrong side of a dummy, a lost insert.
    race_on(
        3,
        3,
        1,
        &[(1, 1)],
        |m| m.insert(3, 3),
        |m| m.insert(5, 5),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            assert_eq!(
                (m.get(&1), m.get(&3), m.get(&5)),
                (Some(1), Some(3), Some(5))
            );
            assert_eq!(m.len(), 3);
            assert_eq!(m.capacity(), 4);
            assert_eq!(keys(m), [1, 3, 5]);
            let stats = m.chain_stats();
            assert_eq!(stats.entries, 3);
            assert!(stats.linked_buckets >= 2, "{stats:?}");
        },
    );
}

#[test]
fn a_removal_in_front_of_a_dummy_being_linked_keeps_the_dummy() {
    // Bound 3. Size 4, D0 -> 2 -> 1; A's insert of 3 links D1 between 2
    // and 1 (and D3 behind 1); B removes 2, whose successor is then 1 or
    // D1. Would catch: a link CAS that
    // succeeds on a predecessor already dead (D1 lost), a removal that
    // unlinks the dummy.
    race_on(
        3,
        3,
        1,
        &[(1, 1), (2, 2)],
        |m| m.insert(3, 3),
        |m| m.remove(&2),
        |m, a, b| {
            assert_eq!((a, b), (None, Some(2)));
            assert_eq!((m.get(&1), m.get(&2), m.get(&3)), (Some(1), None, Some(3)));
            assert_eq!(m.len(), 2);
            assert_eq!(keys(m), [1, 3]);
            assert_eq!(m.chain_stats().entries, 2);
            assert_eq!(m.remove(&1), Some(1));
            assert_eq!(keys(m), [3]);
        },
    );
}

#[test]
fn a_writer_passing_a_removed_node_in_front_of_a_dummy_keeps_the_dummy() {
    // Bound 2. Prefix {1, 2, 3} links D1 and D3 (D0 -> 2 -> D1 -> 1 -> D3
    // -> 3, 4 buckets); A removes 2, whose `next` points at D1; B inserts
    // 6, which claims and links D2 in front of 2 and then searches from D2
    // past 2 (2 < 6 < D1), so if A is preempted between its DELETED tag and
    // its unlink, B unlinks the dead 2 and links 6 in front of what 2's
    // frozen word points at. Catches `hm-delete-drops-dummy-tag` (the tag
    // drops DUMMY from that word, B copies it, and the next pass takes D1
    // for a node). Would also catch: a dead node unlinked from the wrong
    // predecessor, a dummy linked behind a dead node.
    race_on(
        2,
        2,
        1,
        &[(1, 1), (2, 2), (3, 3)],
        |m| m.remove(&2),
        |m| m.insert(6, 6),
        |m, a, b| {
            assert_eq!((a, b), (Some(2), None));
            assert_eq!(keys(m), [1, 3, 6]);
            assert_eq!(m.len(), 3);
            assert_eq!(
                (m.get(&1), m.get(&2), m.get(&3), m.get(&6)),
                (Some(1), None, Some(3), Some(6))
            );
            assert_eq!(m.chain_stats().entries, 3);
            assert_eq!(m.remove(&6), Some(6));
            assert_eq!(keys(m), [1, 3]);
        },
    );
}

#[test]
fn a_replacement_behind_a_dummy_being_linked_is_never_absent() {
    // Bound 3. Size 4, D0 -> 2 -> 1; A's insert of 3 links D1 in front of
    // 1 while B replaces 1 (so 1's predecessor changes from 2 to D1 under
    // B's unlink, or A's link CAS expecting 1 finds the replacement). Would
    // catch: a replacement lost or doubled by the link, a link behind a
    // dead node, a failed unlink whose tidy misses the dead node.
    race_on(
        3,
        3,
        1,
        &[(1, 1), (2, 2)],
        |m| m.insert(3, 3),
        |m| (m.insert(1, 10), m.get(&1)),
        |m, a, (replaced, seen)| {
            assert_eq!(a, None);
            assert_eq!(replaced, Some(1));
            assert_eq!(seen, Some(10));
            assert_eq!(
                (m.get(&1), m.get(&2), m.get(&3)),
                (Some(10), Some(2), Some(3))
            );
            assert_eq!(m.len(), 3);
            assert_eq!(keys(m), [1, 2, 3]);
            assert_eq!(m.chain_stats().entries, 3);
        },
    );
}

#[test]
fn a_writer_served_by_the_parent_of_a_claimed_floor_bucket_reads_its_own_write() {
    // Bound 3, floor 2 (bucket 1 is in the floor segment, where a reader
    // answers "absent" from an untouched entry without a walk). A's insert
    // of 3 claims D1; B inserts 1 (same bucket) and reads it back. If B
    // finds D1 claimed and not linked, its node goes in from D0, and its
    // get must walk from D0 too. Catches `hm-reader-start-absent-on-claimed`
    // (the shortcut taken on a claimed, not only an untouched, entry).
    race_on(
        3,
        3,
        2,
        &[],
        |m| m.insert(3, 3),
        |m| (m.insert(1, 1), m.get(&1)),
        |m, a, b| {
            assert_eq!(a, None);
            assert_eq!(b, (None, Some(1)));
            assert_eq!((m.get(&1), m.get(&3)), (Some(1), Some(3)));
            assert_eq!(m.len(), 2);
            assert_eq!(keys(m), [1, 3]);
        },
    );
}

#[test]
fn a_removal_that_shrinks_the_table_races_a_writer_with_the_grown_size() {
    // Bound 3. Inserting 1..4 grows the table to 8 (D1 and D3 linked);
    // removing 3 and 4 leaves {1, 2} at 8 buckets (2 is not below a
    // quarter of 8). A removes 2, which takes the length to 1 and halves
    // the table to 4. B inserts 5 and reads it back with a size of 8 or 4:
    // a read before the shrink is a stale larger size, which claims and
    // links D5, a bucket above the new size; if B's insert comes first, the
    // length never drops below 2 and the table stays at 8. Then,
    // sequentially, removing 5 leaves it at 4 and removing 1 halves it
    // down to its floor of 1 (a removal halves while len * 4 < size). Would
    // catch: a shrink that loses nodes or dummies, a start from a bucket
    // above the size that misses the key, a size left wrong.
    loom_race_bounds(
        3,
        3,
        || {
            let map = map_of(1, &[(1, 1), (2, 2), (3, 3), (4, 4)]);
            map.remove(&3);
            map.remove(&4);
            assert_eq!(map.capacity(), 8);
            map
        },
        |m| m.remove(&2),
        |m| (m.insert(5, 5), m.get(&5)),
        |m, a, b| {
            assert_eq!(a, Some(2));
            assert_eq!(b, (None, Some(5)));
            assert_eq!(keys(m), [1, 5]);
            assert_eq!(m.len(), 2);
            let size = m.capacity();
            assert!(matches!(size, 4 | 8), "capacity {size}");
            assert_eq!(m.remove(&5), Some(5));
            assert_eq!(m.capacity(), 4);
            assert_eq!(m.get(&1), Some(1));
            assert_eq!(m.remove(&1), Some(1));
            assert_eq!(m.capacity(), 1, "an empty map is back at its floor");
            assert!(m.is_empty());
            assert_eq!(m.chain_stats().entries, 0);
            assert_eq!(m.get(&5), None);
        },
    );
}

#[test]
fn colliding_hashes_keep_one_node_per_key() {
    // Bound 3. Every key hashes to 0 (`OneHash`), so all nodes share one
    // split-order key and form one run, newest first: 2 -> 1. A replaces 1
    // (behind 2 in the run) while B removes 2. Catches
    // `hm-search-stops-at-first-equal-key` (a search that answers "absent"
    // at the run's first node of another key links a second node of 1).
    type Colliding = HashMap<u64, u64, OneHash>;
    loom_race_bounds(
        3,
        3,
        || {
            let map = Colliding::with_capacity_and_hasher(1, OneHash);
            map.insert(1, 1);
            map.insert(2, 2);
            map
        },
        |m: &Colliding| m.insert(1, 10),
        |m: &Colliding| m.remove(&2),
        |m: &Colliding, a, b| {
            assert_eq!((a, b), (Some(1), Some(2)));
            assert_eq!((m.get(&1), m.get(&2)), (Some(10), None));
            assert_eq!(m.len(), 1);
            assert_eq!(m.keys().collect::<Vec<_>>(), [1]);
            assert_eq!(m.remove(&1), Some(10));
            assert_eq!(m.get(&1), None);
            assert!(m.is_empty());
        },
    );
}

// The older scenarios above were written for a fixed one-bucket table,
// where keys 1, 2 and 3 were neighbours in one chain. In the split-ordered
// list they are not (D1 and D3 fall between them), so the dead-run and
// unlink races those scenarios were built for need keys that are
// neighbours in split order: 1, 9 and 5 (D1 -> 1 -> 9 -> 5 at 4 buckets,
// D5 not linked). Prefix {1, 9} leaves the table at 4 buckets with D0 ->
// D1 -> 1 -> 9; adding 5 appends it behind 9.

#[test]
fn removals_of_split_order_neighbours_unlink_each_node_once() {
    // Bound 2. D1 -> 1 -> 9 -> 5; A removes 1 while B removes 9, so both
    // unlinks race on the same links (9's predecessor is 1's `next`).
    // Catches `hm-retire-before-unlink` (a failed unlink retires a node
    // still linked, which the helper that unlinks it retires again). Would
    // also catch: a node unlinked from a dead predecessor (lost), a
    // removal of the wrong key.
    race_on(
        2,
        2,
        1,
        &[(1, 1), (9, 9), (5, 5)],
        |m| m.remove(&1),
        |m| m.remove(&9),
        |m, a, b| {
            assert_eq!((a, b), (Some(1), Some(9)));
            assert_eq!((m.get(&1), m.get(&9), m.get(&5)), (None, None, Some(5)));
            assert_eq!(m.len(), 1);
            assert_eq!(keys(m), [5]);
        },
    );
}

#[test]
fn a_writer_whose_unlink_failed_restarts_instead_of_following_a_dead_run() {
    // Bound 2. D1 -> 1 -> 9; A inserts 5 (absent, behind both), B removes
    // 1, replaces 9 by 9' and removes 9'. If A loads 1's tagged `next` and
    // its unlink of 1 fails (B unlinked it), a search that went on along
    // the frozen link would reach 9', born after A's reservation and
    // retired before its load. Catches
    // `hm-search-continues-after-failed-unlink` (the split-order version
    // of the scenario above it in the table).
    race_on(
        2,
        2,
        1,
        &[(1, 1), (9, 9)],
        |m| m.insert(5, 5),
        |m| (m.remove(&1), m.insert(9, 90), m.remove(&9)),
        |m, a, b| {
            assert_eq!(a, None);
            assert_eq!(b, (Some(1), Some(9), Some(90)));
            assert_eq!(m.get(&5), Some(5));
            assert_eq!(m.len(), 1);
            assert_eq!(keys(m), [5]);
        },
    );
}

#[test]
fn a_reader_on_a_removed_split_order_neighbour_never_reaches_reclaimed_memory() {
    // Bound 2. D1 -> 1 -> 9; the reader looks up 5 (absent, behind both)
    // and stops on 1; the writer removes 1, replaces 9 by 9' and removes
    // 9'. A reader that then followed 1's frozen link without checking
    // that the dead run is still attached would reach 9', born after its
    // reservation and retired before its load. Catches `hm-walk-no-recheck`.
    race_on(
        2,
        2,
        1,
        &[(1, 1), (9, 9)],
        |m| m.get(&5),
        |m| (m.remove(&1), m.insert(9, 90), m.remove(&9)),
        |m, seen, wrote| {
            assert_eq!(seen, None);
            assert_eq!(wrote, (Some(1), Some(9), Some(90)));
            assert!(m.is_empty());
            assert_eq!(keys(m), Vec::<u64>::new());
        },
    );
}
