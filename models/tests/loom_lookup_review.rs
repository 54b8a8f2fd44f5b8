//! Adversarial review of commit ad616e4 under loom: `HashMap` lookups
//! (`get`, `get_ref`, `contains_key`, `Pinned::get`) start at
//! `Directory::lookup_start`, which *prepares* (claims and links) an
//! unlinked bucket as a writer does, so a read now writes: it claims a
//! bucket with a Relaxed `fetch_or`, prepares the parent, searches for the
//! dummy's place with `list::position` (unlinking and retiring dead nodes on
//! the way) and links the dummy. The floor shortcut ("certainly absent")
//! applies only at the lookup's own bucket.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom cargo test --locked -p kovan-map-models --release --test loom_lookup_review`
//!
//! (one test binary; 48 s of loom time in all on the review machine,
//! each scenario's four runs printed by the harness.)
//!
//! `KeyIsHash`: key `k` lives in bucket `k & (size - 1)`; a node's place in
//! the list is `reverse(k) | 1`, bucket `b`'s dummy `reverse(b)`. The maps
//! the scenarios start from (load limit: more than 3/4 of `size` entries
//! doubles the table after an insert):
//!
//! * `one`: floor 1, key 1 inserted at size 1: list `d0 n1`, size 2,
//!   bucket 1 untouched (key 1 is served by `d0`).
//! * `one_three`: floor 1, keys 1 and 3 (3 went in at size 2 and linked
//!   `d1`): list `d0 d1 n1 n3`, size 4, bucket 3 untouched (key 3 served
//!   by `d1`).
//! * `sparse_64`: floor 1, keys 1 and 97, reserved to 64 buckets: list
//!   `d0 d1 n1 n97`, bucket 33 (key 97's) untouched.
//! * `floor_two`: floor 2, keys 0 and 2: list `d0 n0 n2`, size 4, buckets 1
//!   (a floor bucket: the shortcut applies to it) and 3 untouched.
#![cfg(kovan_map_loom)]

use kovan_map_models::harness::hash_map::{map_of, sorted_keys as keys, Map};
use kovan_map_models::harness::{loom_race, loom_race_bounds};

/// The map is consistent at rest: no key iterated twice, `len` equals the
/// iteration count, `chain_stats` agrees, and every key iterated is found
/// by `get`. (A dummy linked twice shows up here as a key iterated twice, a
/// lost run of keys, or a walk that never ends: loom's branch limit.)
fn at_rest(m: &Map) {
    let ks = keys(m);
    let mut dedup = ks.clone();
    dedup.dedup();
    assert_eq!(ks, dedup, "a key iterated twice");
    assert_eq!(m.len(), ks.len(), "len disagrees with iteration");
    let stats = m.chain_stats();
    assert_eq!(stats.entries, ks.len(), "chain_stats disagrees: {stats:?}");
    assert_eq!(stats.buckets, m.capacity());
    for k in ks {
        assert!(m.get(&k).is_some(), "key {k} iterated but not found");
    }
}

/// Linked dummies, counted along the list (bucket 0's included).
fn linked(m: &Map) -> usize {
    m.chain_stats().linked_buckets
}

fn one() -> Map {
    let m = map_of(1, &[(1, 1)]);
    assert_eq!((m.capacity(), linked(&m)), (2, 1));
    m
}

fn one_three() -> Map {
    let m = map_of(1, &[(1, 1), (3, 3)]);
    assert_eq!((m.capacity(), linked(&m)), (4, 2));
    m
}

fn sparse_64() -> Map {
    let m = map_of(1, &[(1, 1), (97, 97)]);
    m.reserve(46);
    assert_eq!((m.capacity(), linked(&m)), (64, 2));
    m
}

fn floor_two() -> Map {
    let m = map_of(2, &[(0, 0), (2, 2)]);
    assert_eq!((m.capacity(), linked(&m)), (4, 1));
    m
}

#[test]
fn two_lookups_race_to_link_one_bucket_and_both_find_its_key() {
    // Attack (1), reader against reader. Both look up key 97, whose bucket
    // 33 is untouched: each claims it (one RMW reads CLAIMED clear), or
    // finds it claimed and starts from d1, or finds it LINKED (Acquire) and
    // starts from d33. Would catch: two winners of the claim (d33 linked
    // twice: its second link stores `d33.next` while d33 is in the list, a
    // self-loop or a lost key 97), a LINKED set without Release or read
    // without Acquire (b starts from d33 and reads its `next` null: key 97
    // lost), a lookup that starts from the unlinked d33 without linking it
    // (its `next` is null: key 97 lost).
    loom_race(
        3,
        sparse_64,
        |m| m.get(&97),
        |m| (m.get(&97), m.contains_key(&1)),
        |m, a, (b, one)| {
            assert_eq!(a, Some(97), "a lost key 97");
            assert_eq!(b, Some(97), "b lost key 97");
            assert!(one, "key 1 lost");
            // Buckets 0, 1 and 33: d33 exactly once.
            assert_eq!(linked(m), 3);
            assert_eq!(keys(m), vec![1, 97]);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_links_a_bucket_while_a_writer_inserts_into_its_parent() {
    // Attack (1), a writer of the parent's run. `one_three`: a inserts key 5
    // (bucket 1 at size 4: its place is n1.next, between n1 and n3) and then
    // reads key 3; b reads key 3 (linking d3, whose place is also n1.next,
    // or after n5) and then key 5. The writer's push and the lookup's link
    // CAS the same word: one fails and searches again. Would catch: a link
    // whose position is stale (d3 after n3: key 3 unreachable from d3), a
    // push that lands behind d3 out of order (a lookup of key 5 from d1
    // stops at d3), a lookup's link CAS that overwrites the push (key 5
    // lost), d3 linked twice.
    loom_race(
        2,
        one_three,
        |m| (m.insert(5, 50), m.get(&3)),
        |m| (m.get(&3), m.get(&5), m.get(&3)),
        |m, (inserted, a3), (b3, b5, b3_again)| {
            assert_eq!(inserted, None);
            assert_eq!(a3, Some(3), "a lost key 3");
            assert_eq!((b3, b3_again), (Some(3), Some(3)), "b lost key 3");
            assert!(matches!(b5, None | Some(50)), "{b5:?}");
            assert_eq!(m.get(&5), Some(50));
            assert_eq!(keys(m), vec![1, 3, 5]);
            // Buckets 0, 1 and 3 (5 is in bucket 1 at size 4).
            assert_eq!(linked(m), 3);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_and_a_writer_race_to_link_the_bucket_of_the_writers_key() {
    // Attack (1), the writer's own bucket. `one_three`: a inserts key 7
    // (bucket 3 at size 4: it claims and links d3, then pushes n7 behind
    // n3) and reads it back; b reads key 3 (its bucket is 3 too) and key 7
    // twice. Either thread may claim d3; the other starts from d1 until it
    // sees LINKED. Would catch: d3 linked by both (a key iterated twice, a
    // loop), a writer that pushes behind a claimed-not-linked d3 it took
    // for linked, key 7 seen and then lost, key 3 lost.
    loom_race(
        2,
        one_three,
        |m| (m.insert(7, 70), m.get(&7)),
        |m| (m.get(&3), m.get(&7), m.get(&7)),
        |m, (inserted, a7), (b3, b7, b7_again)| {
            assert_eq!(inserted, None);
            assert_eq!(a7, Some(70), "a lost its own key 7");
            assert_eq!(b3, Some(3), "b lost key 3");
            assert!(matches!(b7, None | Some(70)), "{b7:?}");
            assert!(
                !(b7.is_some() && b7_again.is_none()),
                "key 7 went backwards"
            );
            assert_eq!(keys(m), vec![1, 3, 7]);
            assert_eq!(linked(m), 3);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_claims_the_floor_bucket_as_an_ancestor_while_a_writer_fills_it() {
    // Attack (2). `floor_two` at size 4: a looks up key 3 (absent; bucket 3
    // is above the floor, so no shortcut: the lookup claims 3, then its
    // parent 1, a floor bucket, links d1 and d3) and then key 1; b inserts
    // key 1 (bucket 1: it claims 1, or finds it claimed by a's lookup and
    // pushes from d0) and reads it back. Would catch: the shortcut taken at
    // a CLAIMED floor bucket (b's own key 1 answered absent when a's lookup
    // holds the claim), a lookup that claims an ancestor without linking it
    // (b's writes then serve from d0 forever, and a later lookup from a
    // dummy never linked), d1 linked twice, the node of key 1 lost behind
    // d1 or d3.
    loom_race(
        3,
        floor_two,
        |m| (m.get(&3), m.get(&1)),
        |m| (m.insert(1, 10), m.get(&1)),
        |m, (a3, a1), (inserted, b1)| {
            assert_eq!(a3, None);
            assert!(matches!(a1, None | Some(10)), "{a1:?}");
            assert_eq!(inserted, None);
            assert_eq!(b1, Some(10), "b lost its own key 1");
            assert_eq!(m.get(&1), Some(10));
            assert_eq!(m.get(&3), None);
            assert_eq!(keys(m), vec![0, 1, 2]);
            // Buckets 0, 1 and 3 (3 by a's lookup).
            assert_eq!(linked(m), 3);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_at_a_grown_size_finds_the_key_a_stale_writer_pushes() {
    // Attack (2), stale sizes. `one` at size 2: a inserts key 3 (bucket 1
    // at size 2, or 3 at size 4: it claims 1, or pushes from d0 if b's
    // lookup holds the claim); b inserts key 2 (bucket 0; its count doubles
    // the table to 4) and then reads key 3 twice, so b's lookups may run at
    // size 4 while a still writes at size 2: b links d3 (claiming 3 and
    // perhaps 1 as its ancestor) in front of n3 or of its place. Would
    // catch: a lookup that links d3 behind a node of key 3 pushed from the
    // smaller size's start, then answers absent from d3; key 3 seen and
    // then lost; a dummy linked twice.
    loom_race_bounds(
        2,
        1,
        one,
        |m| m.insert(3, 30),
        |m| (m.insert(2, 20), m.get(&3), m.get(&3)),
        |m, inserted, (i2, x, y)| {
            assert_eq!((inserted, i2), (None, None));
            assert!(matches!(x, None | Some(30)), "{x:?}");
            assert!(matches!(y, None | Some(30)), "{y:?}");
            assert!(!(x.is_some() && y.is_none()), "key 3 went backwards");
            assert_eq!(m.get(&3), Some(30));
            assert_eq!(keys(m), vec![1, 2, 3]);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_with_a_stale_larger_size_links_above_a_shrunk_table() {
    // Attack (3). `one` reserved to 4 buckets (list `d0 n1`, buckets 1, 2
    // and 3 untouched); a halves it to 2 (`shrink_to_fit`) and then reads
    // key 3; b reads key 3 (absent) at size 4 or 2: at 4 it claims 3 and
    // its parent 1 and links both, possibly after the shrink; then b inserts
    // key 3 at size 2 (bucket 1), whose push must land behind d3 if that is
    // linked, and reads keys 3 and 1. Would catch: a dummy linked above the
    // size that hides the keys behind it from a start at the smaller size
    // (a push from d1 that stops at d3's place in front of it, so the node
    // goes in out of order and a lookup from d3 misses it), d1 linked twice
    // (once as b's ancestor, once by b's writer), key 1 lost.
    // Bounds 2 and 1 (2 and 2: 18 s for the four runs).
    loom_race_bounds(
        2,
        1,
        || {
            let m = one();
            m.reserve(2);
            assert_eq!((m.capacity(), linked(&m)), (4, 1));
            m
        },
        |m| {
            m.shrink_to_fit();
            m.get(&3)
        },
        |m| (m.get(&3), m.insert(3, 30), m.get(&3), m.get(&1)),
        |m, a3, (before, inserted, after, one)| {
            assert!(matches!(a3, None | Some(30)), "{a3:?}");
            assert_eq!((before, inserted), (None, None));
            assert_eq!(after, Some(30), "b lost its own key 3");
            assert_eq!(one, Some(1), "key 1 lost");
            // 4 when b's insert was counted before a's length check.
            assert!(matches!(m.capacity(), 2 | 4), "{}", m.capacity());
            assert_eq!(keys(m), vec![1, 3]);
            at_rest(m);
            // The table grows back over the dummy linked above it.
            m.insert(5, 50);
            m.insert(7, 70);
            assert_eq!(m.capacity(), 8);
            for (k, v) in [(1, 1), (3, 30), (5, 50), (7, 70)] {
                assert_eq!(m.get(&k), Some(v), "key {k}");
            }
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_links_while_a_removal_shrinks_the_table() {
    // Attack (3), the shrink by a removal. `one` at size 2 (bucket 1
    // untouched): a removes key 1, which leaves len 0 and halves the table
    // to 1; b reads key 1 (at size 2: it claims and links d1 in front of n1,
    // possibly after the shrink, or while n1 is being removed, unlinking
    // the dead n1 itself), inserts key 1 again (at size 1 or 2) and reads
    // it. Would catch: a lookup whose link lands behind the dead node it
    // unlinked (its own retire then frees what it walks: the model fails),
    // a key seen after its removal was counted, b's own key lost behind a
    // dummy linked above the size.
    loom_race_bounds(
        2,
        1,
        one,
        |m| m.remove(&1),
        |m| (m.get(&1), m.insert(1, 11), m.get(&1)),
        |m, removed, (seen, inserted, after)| {
            match (removed, inserted) {
                // a's removal first: b's insert is new and stays.
                (Some(1), None) => assert_eq!(m.get(&1), Some(11)),
                // b's insert replaced 1 first; a removed b's value.
                (Some(11), Some(1)) => {
                    assert_eq!(seen, Some(1), "b's insert replaced what it could not see");
                    assert_eq!(m.get(&1), None);
                }
                other => panic!("not linearizable: {other:?}"),
            }
            assert!(matches!(seen, None | Some(1)), "{seen:?}");
            if seen.is_none() {
                assert_eq!(inserted, None, "1 seen absent, then replaced");
            }
            if removed == Some(1) {
                assert_eq!(after, Some(11), "b lost its own key 1");
            } else {
                assert!(matches!(after, None | Some(11)), "{after:?}");
            }
            at_rest(m);
        },
    );
}

#[test]
fn clear_racing_a_lookup_that_links_into_its_run_removes_every_key() {
    // Attack (4), `clear` (&self). `one_three`: a clears the map (deleting
    // from d0: n1 and n3 behind d1) while b reads key 3 twice (linking d3
    // between n1 and n3, or in front of a dead n3, unlinking dead nodes on
    // the way) and key 1. Would catch: a clear that stops at the new d3 and
    // leaves n3 (a key that survives a clear it was present for), a
    // deletion counted twice (len off), key 3 read back after it read
    // absent, a lookup's unlink of a node clear tagged that frees it under
    // clear (the model fails).
    loom_race_bounds(
        3,
        2,
        one_three,
        |m| m.clear(),
        |m| (m.get(&3), m.get(&3), m.get(&1)),
        |m, (), (x, y, one)| {
            assert!(matches!(x, None | Some(3)), "{x:?}");
            assert!(!(x.is_none() && y.is_some()), "key 3 came back");
            assert!(matches!(one, None | Some(1)), "{one:?}");
            assert_eq!(m.get(&1), None);
            assert_eq!(m.get(&3), None);
            assert_eq!(m.len(), 0);
            assert_eq!(keys(m), Vec::<u64>::new());
            at_rest(m);
        },
    );
}

#[test]
fn iteration_racing_lookups_that_link_yields_each_key_once() {
    // Attack (4), an iterator. `one_three`: a iterates (one batch, from d0)
    // while b's lookups link d3 (between n1 and n3; key 3 present) and then
    // d2 (key 2 absent: bucket 2, between n... and d1, in front of d1).
    // Would catch: an iteration that meets a newly linked dummy and reads
    // its run twice (key 3 twice) or restarts from it past keys it had
    // batched (key 1 lost), or a link that drops the run behind it.
    loom_race(
        3,
        one_three,
        keys,
        |m| (m.get(&3), m.get(&2)),
        |m, ks, (three, two)| {
            assert_eq!(ks, vec![1, 3], "iterated");
            assert_eq!((three, two), (Some(3), None));
            // Buckets 0, 1, 2 and 3.
            assert_eq!(linked(m), 4);
            at_rest(m);
        },
    );
}

#[test]
fn a_lookup_links_in_front_of_a_node_being_replaced() {
    // Attack (5), reclamation. `one_three`: a replaces key 3 (tags n3
    // REPLACED towards n3', unlinks n3 and retires it); b reads key 3
    // twice: its first lookup links d3, whose place is right in front of n3
    // or n3' (its `position` may meet the dead n3, unlink and retire it),
    // then walks from d3. Would catch: a lookup that dereferences the node
    // its own (or a's) unlink retired without protection (the model fails
    // the run), a link between n3 and n3' (n3' then unreachable from d3:
    // key 3 absent), a read that goes back to the old value.
    // Bounds 3 and 3 took 25 s for the four runs; 2 for the advancing
    // epochs.
    loom_race_bounds(
        2,
        3,
        one_three,
        |m| m.insert(3, 33),
        |m| (m.get(&3), m.get(&3)),
        |m, replaced, (x, y)| {
            assert_eq!(replaced, Some(3));
            assert!(matches!(x, Some(3) | Some(33)), "{x:?}");
            assert!(matches!(y, Some(3) | Some(33)), "{y:?}");
            assert!(!(x == Some(33) && y == Some(3)), "reads went backwards");
            assert_eq!(m.get(&3), Some(33));
            assert_eq!(keys(m), vec![1, 3]);
            assert_eq!(linked(m), 3);
            at_rest(m);
        },
    );
}

#[test]
fn a_pinned_lookup_that_links_and_retires_keeps_its_references() {
    // Attacks (5) and (6). `one_three`: b holds one `Pinned` handle for the
    // whole scenario: it borrows key 1's value, then looks up key 3
    // (linking d3; its `position` from d1 passes n1, which a may have
    // tagged, and then unlinks and retires it under b's guard), and reads
    // the first reference after that; a removes key 1 and flushes (so
    // everything a retired is freed unless a slot holds it). Would catch: a
    // lookup whose link runs under a guard other than the handle's, or
    // whose retire ends the handle's protection of what it borrowed (the
    // model fails when a node b dereferenced is freed while b's guard
    // lives), a value read through a dangling reference, key 3 lost.
    // Bounds 3 and 2 (with a replacement of key 3 in a as well, bound 2
    // took 117 s for the four runs).
    loom_race_bounds(
        3,
        2,
        one_three,
        |m| {
            let removed = m.remove(&1);
            kovan_map::flush();
            removed
        },
        |m| {
            let p = m.pin();
            let one = p.get(&1);
            let three = p.get(&3).copied();
            (one.copied(), three)
        },
        |m, removed, (one, three)| {
            assert_eq!(removed, Some(1));
            assert!(matches!(one, None | Some(1)), "{one:?}");
            assert_eq!(three, Some(3), "key 3 lost");
            assert_eq!(keys(m), vec![3]);
            at_rest(m);
        },
    );
}
