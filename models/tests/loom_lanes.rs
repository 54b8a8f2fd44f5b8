//! loom scenarios of `HashMap` iteration in lanes (`src/hash_map/lanes.rs`):
//! an iterator reads up to eight stretches of the list at once, each lane
//! with its own copy of `list::walk`'s steps. These scenarios race one
//! lane against the writers of its stretch.
//!
//! Keys are their own hashes (`KeyIsHash`). Under loom the table grows
//! 1 -> 2 at the first insert and 2 -> 4 at the second, so after a prefix
//! of two keys the iterator has four lanes, the stretches of split-order
//! keys whose top two bits are 00, 01, 10, 11: a key's lane is its hash's
//! low two bits, reversed. Keys 1 and 5 (low bits 01) share lane 2, and 1
//! comes first in it (reversed, 1 is 0x80.. and 5 is 0xA0..).
#![cfg(kovan_map_loom)]

use kovan_map_models::harness::hash_map::{map_of, race, sorted_keys as keys};
use kovan_map_models::harness::loom_race_bounds;

#[test]
fn a_lane_on_a_removed_neighbour_never_reaches_reclaimed_memory() {
    // Bound 2, both epoch regimes. Keys 1 and 9 (low bits 001: one lane
    // however many). The lane stops on 1's node; the writer removes 1
    // (a retire: the epoch advances), replaces 9 by 9' (born after the
    // iterator's reservation) and removes 9' (retired). A lane that then
    // followed 1's frozen link without checking that the dead run is still
    // attached would walk 9's frozen link to 9' and read it unprotected:
    // the model reclaimer fails that dereference (mutant
    // `hm-lane-no-recheck`). As `a_reader_on_a_removed_split_order_
    // neighbour_never_reaches_reclaimed_memory` of loom_hash_map, for `get`.
    loom_race_bounds(
        2,
        2,
        || map_of(1, &[(1, 1), (9, 9)]),
        keys,
        |m| (m.remove(&1), m.insert(9, 90), m.remove(&9)),
        |m, seen, wrote| {
            assert_eq!(wrote, (Some(1), Some(9), Some(90)));
            let mut dedup = seen.clone();
            dedup.dedup();
            assert_eq!(dedup, seen, "no key twice: {seen:?}");
            assert!(m.is_empty());
        },
    );
}

#[test]
fn an_iterator_on_a_node_replaced_and_removed_restarts_its_batch_and_yields_the_live_key_once() {
    // Bound 3. The lane reads 1 (collected) and stops on 5's node; the
    // writer replaces 5 (the old node dead, its `next` frozen on the
    // replacement) and removes the replacement (unlinked, retired: a node
    // born after the iterator pinned). The lane then finds 5's dead run no
    // longer attached to 1's `next` and restarts its batch from the dummy.
    // Would catch: a restart that keeps what the abandoned pass collected
    // (1 yielded twice; mutant `hm-iter-keeps-abandoned-pass`). Not a lane
    // that skips the check: the replacement is born before the writer's
    // first retire, so it is protected for the iterator (the scenario
    // above catches that one).
    race(
        3,
        &[(1, 1), (5, 5)],
        keys,
        |m| (m.insert(5, 50), m.remove(&5)),
        |m, seen, wrote| {
            assert_eq!(wrote, (Some(5), Some(50)));
            assert!(
                seen == [1] || seen == [1, 5],
                "1 is live throughout, once; 5 at most once: {seen:?}"
            );
            assert_eq!(keys(m), [1]);
        },
    );
}

#[test]
fn an_iterator_racing_the_push_of_a_new_key_into_its_lane_reads_the_whole_node() {
    // Bound 2. Key 2 alone (table of 2 buckets, two lanes); the writer
    // inserts 6 (the same lane, after 2) and 3 (the other lane, growing the
    // table to 4 buckets). Would catch: a lane that loads a link Relaxed
    // (a node's `next`, or the dummy's at the batch's start) and then reads
    // the pushed node's key and value without happens-before with their
    // writes (loom's causality check on the payload cell; mutants
    // `hm-lane-next-relaxed`, `hm-lane-head-relaxed`).
    race(
        2,
        &[(2, 2)],
        |m| {
            let mut entries: Vec<(u64, u64)> = m.iter().collect();
            entries.sort_unstable();
            entries
        },
        |m| (m.insert(6, 6), m.insert(3, 3)),
        |m, seen, wrote| {
            assert_eq!(wrote, (None, None));
            for (k, v) in &seen {
                assert_eq!(k, v, "a key with another key's value: {seen:?}");
            }
            assert!(seen.contains(&(2, 2)), "2 is present throughout: {seen:?}");
            assert_eq!(keys(m), [2, 3, 6]);
        },
    );
}

#[test]
fn lanes_made_before_a_doubling_yield_every_stable_key_once() {
    // Bound 2. Keys 1 and 2 (four buckets, four lanes fixed now); the
    // writer inserts 3 and 4, which doubles the table to 8 buckets and
    // links new dummies inside the lanes' stretches. Would catch (each
    // planted, caught in 3 s): a lane that reads on past its end into the
    // next lane's nodes (`hm-lane-no-hi-stop`), one that keeps the nodes
    // before its stretch (`hm-lane-no-lo-skip`): a key yielded twice.
    race(
        2,
        &[(1, 1), (2, 2)],
        keys,
        |m| (m.insert(3, 3), m.insert(4, 4)),
        |m, seen, wrote| {
            assert_eq!(wrote, (None, None));
            let stable: Vec<u64> = seen.iter().copied().filter(|k| *k <= 2).collect();
            assert_eq!(stable, [1, 2], "each stable key once: {seen:?}");
            let mut dedup = seen.clone();
            dedup.dedup();
            assert_eq!(dedup, seen, "no key twice: {seen:?}");
            assert_eq!(keys(m), [1, 2, 3, 4]);
        },
    );
}
