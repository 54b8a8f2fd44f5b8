//! Adversarial review of the growable split-ordered `HashMap` under loom:
//! scenarios that the one-bucket suite (`loom_hash_map.rs`) does not reach.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" cargo test -p kovan-map-models --release --test loom_growth_review`
//!
//! `loom_hash_map.rs` builds every map with a floor of one bucket, so (a) the
//! reader's floor-bucket absent shortcut (`Directory::reader_start` returning
//! `None`) never fires there (the floor bucket is bucket 0), (b) no removal
//! ever shrinks the table (a floor-1 map at size 2 never halves: `2 / 4 == 0`),
//! and (c) no thread ever claims a dummy whose parent is still untouched.
//! Every scenario here is built to reach one of those, and says which.
//! `KeyIsHash`: a key is its own hash, so key `k` lives in bucket
//! `k & (size - 1)`.
#![cfg(kovan_map_loom)]

use kovan_map_models::harness::{loom_race, loom_race_bounds};

use kovan_map_models::harness::hash_map::{map_of as map, sorted_keys as keys, Map};

/// The map is consistent at rest: `len` equals the iteration count, no key
/// twice, `chain_stats` agrees, and every key iterated is found by `get`.
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

#[test]
fn floor_shortcut_get_racing_the_first_insert_of_its_floor_bucket() {
    // Path (a). Floor 2, key 1: floor bucket 1 is untouched until the insert
    // claims it. The get either takes the shortcut (None) or walks; a later
    // get must find the key. Would catch: a shortcut that answers None after
    // the node was linked (claim ordered after the link), a reader that
    // starts from a claimed-but-unlinked dummy.
    loom_race(
        3,
        || map(2, &[(0, 0)]),
        |m| m.insert(1, 10),
        |m| (m.get(&1), m.get(&1)),
        |m, inserted, (first, second)| {
            assert_eq!(inserted, None);
            assert!(matches!(first, None | Some(10)), "{first:?}");
            assert!(matches!(second, None | Some(10)), "{second:?}");
            assert!(
                !(first.is_some() && second.is_none()),
                "reads went backwards"
            );
            assert_eq!(m.get(&1), Some(10));
            at_rest(m);
        },
    );
}

#[test]
fn floor_shortcut_get_of_a_child_bucket_while_its_floor_ancestor_is_claimed() {
    // Path (a) and (c). Floor 2 grown to 4 by keys 0 and 2 (bucket 0 only:
    // buckets 1 and 3 untouched). The writer of key 3 claims bucket 3, then
    // its untouched parent 1 (the floor bucket), links 1, then 3. The reader
    // of key 3 walks 3 -> 1 and may meet either state. Would catch: a
    // shortcut that reads bucket 1 untouched after key 3's node was linked;
    // a reader starting from bucket 3 before it is linked.
    // Bound 2 (bound 3 takes 20 s a run, 80 s in all).
    loom_race(
        2,
        || map(2, &[(0, 0), (2, 2)]),
        |m| {
            assert_eq!(m.capacity(), 4);
            m.insert(3, 30)
        },
        |m| (m.get(&3), m.get(&1), m.get(&3)),
        |m, inserted, (a, one, b)| {
            assert_eq!(inserted, None);
            assert_eq!(one, None);
            assert!(matches!(a, None | Some(30)), "{a:?}");
            assert!(matches!(b, None | Some(30)), "{b:?}");
            assert!(!(a.is_some() && b.is_none()), "reads went backwards");
            assert_eq!(m.get(&3), Some(30));
            assert_eq!(m.get(&1), None);
            at_rest(m);
        },
    );
}

#[test]
fn two_writers_claim_a_child_and_its_parent_at_once() {
    // Path (c). Floor 1 grown to 4 by keys 0 and 4 (bucket 0 only). One
    // writer inserts key 3 (claims 3, then its untouched parent 1), the
    // other key 1 (claims 1). Whichever claims 1 links it; the other is
    // served by bucket 0 meanwhile. Would catch: a dummy linked twice or in
    // the wrong place (a key iterated twice, or lost), a writer that links
    // its node after a dummy whose key is larger than the node's.
    loom_race(
        3,
        || map(1, &[(0, 0), (4, 4)]),
        |m| m.insert(3, 30),
        |m| m.insert(1, 10),
        |m, a, b| {
            assert_eq!((a, b), (None, None));
            assert_eq!(keys(m), vec![0, 1, 3, 4]);
            let stats = m.chain_stats();
            // Buckets 0, 1 and 3 are linked (2 is never written). Taken
            // before `at_rest`, whose lookups link the buckets they reach
            // (key 4's, bucket 4 of the grown table).
            assert_eq!(stats.linked_buckets, 3, "{stats:?}");
            at_rest(m);
        },
    );
}

#[test]
fn two_writers_of_one_key_each_start_from_a_different_dummy() {
    // Path (c). Floor 1 at size 4 (keys 0 and 4). Both insert key 3: one may
    // start from bucket 3's dummy, the other from bucket 1's or 0's (3 is
    // claimed by the first, not yet linked). Would catch: two live nodes of
    // one key when the two searches start at different dummies.
    loom_race(
        3,
        || map(1, &[(0, 0), (4, 4)]),
        |m| m.insert(3, 30),
        |m| m.insert(3, 31),
        |m, a, b| {
            match (a, b) {
                (None, Some(30)) => assert_eq!(m.get(&3), Some(31)),
                (Some(31), None) => assert_eq!(m.get(&3), Some(30)),
                other => panic!("not linearizable: {other:?}"),
            }
            assert_eq!(keys(m), vec![0, 3, 4]);
            at_rest(m);
        },
    );
}

#[test]
fn iteration_racing_the_link_of_a_new_dummy_yields_each_key_once() {
    // Path (c). Floor 1 at size 4 holding 0, 4 and 1 (buckets 0 and 1
    // linked). The iterator reads while a writer inserts key 3, linking
    // bucket 3's dummy behind key 1 and before nothing. Would catch: an
    // iteration that meets a dummy twice or restarts from a dummy with keys
    // already batched (a duplicate), or skips a key present throughout.
    loom_race_bounds(
        3,
        2,
        || map(1, &[(0, 0), (4, 4), (1, 1)]),
        keys,
        |m| m.insert(3, 30),
        |m, ks, inserted| {
            assert_eq!(inserted, None);
            assert!(
                ks == vec![0, 1, 4] || ks == vec![0, 1, 3, 4],
                "iterated {ks:?}"
            );
            at_rest(m);
        },
    );
}

#[test]
fn removals_that_shrink_the_table_race_an_insert_with_the_stale_size() {
    // Path (b). Floor 1 grown to 4 by keys 1 and 2 (inserted at sizes 1 and
    // 2: only bucket 0 linked). The remover takes both out (linking buckets
    // 1 and 2 at size 4); the second removal leaves len 0 and halves the
    // table to 2. Bounds 1 and 2 (bound 2 under the advancing epochs takes
    // 40 to 60 s a run). The inserter of key 3 reads size 4 (bucket
    // 3, parent 1) or 2 (bucket 1). Would catch: a write that reads a stale
    // size after a shrink and starts beyond the key's place, or a len that
    // goes wrong.
    loom_race_bounds(
        1,
        2,
        || map(1, &[(1, 1), (2, 2)]),
        |m| (m.remove(&1), m.remove(&2)),
        |m| (m.insert(3, 30), m.get(&3)),
        |m, removed, (inserted, seen)| {
            assert_eq!(removed, (Some(1), Some(2)));
            assert_eq!(inserted, None);
            assert_eq!(seen, Some(30));
            assert_eq!(m.get(&3), Some(30));
            assert_eq!(keys(m), vec![3]);
            at_rest(m);
            // 1 is possible too since a removal halves as far as the load
            // allows (dd6bce9): the remover read len 0 and halved 4 -> 2 -> 1
            // while the insert, counted meanwhile, saw size 2 and a load not
            // past its limit. A resize decided on a length that changed
            // meanwhile is not redone: the next write past a limit redoes it
            // (proofs/hash_map.md, "Resizes").
            assert!(matches!(m.capacity(), 1 | 2 | 4), "{}", m.capacity());
        },
    );
}

#[test]
fn a_replacement_during_growth_never_shows_absence() {
    // Paths (a) and (c). Floor 2 holding 1, 3 and 5 (size 4 after the second
    // insert; only bucket 1 linked). One thread replaces key 3 while the
    // other inserts 7 (bucket 3 at size 4: links dummy 3 right in front of
    // key 3's node and grows the table to 8) and reads 3 twice. Would catch: a reader that starts at a
    // dummy that follows key 3's node, or that misses the replacement.
    loom_race_bounds(
        2,
        1,
        || map(2, &[(1, 1), (3, 3), (5, 5)]),
        |m| m.insert(3, 33),
        |m| (m.insert(7, 7), m.get(&3), m.get(&3)),
        |m, replaced, (inserted, a, b)| {
            assert_eq!(replaced, Some(3));
            assert_eq!(inserted, None);
            assert!(matches!(a, Some(3) | Some(33)), "{a:?}");
            assert!(matches!(b, Some(3) | Some(33)), "{b:?}");
            assert!(!(a == Some(33) && b == Some(3)), "reads went backwards");
            assert_eq!(m.get(&3), Some(33));
            assert_eq!(keys(m), vec![1, 3, 5, 7]);
            at_rest(m);
        },
    );
}

#[test]
fn clear_racing_the_link_of_a_dummy_keeps_len_exact() {
    // Path (c). Floor 1 at size 4 (keys 0 and 4, bucket 0 only). `clear`
    // walks the list from bucket 0 while a writer inserts key 1, linking
    // bucket 1's dummy into the run clear is deleting. Would catch: a clear
    // that stops at the new dummy and misses keys behind it, or counts a
    // deletion twice.
    loom_race_bounds(
        3,
        2,
        || map(1, &[(0, 0), (4, 4)]),
        |m| m.clear(),
        |m| m.insert(1, 10),
        |m, (), inserted| {
            assert_eq!(inserted, None);
            assert_eq!(m.get(&0), None);
            assert_eq!(m.get(&4), None);
            let survivors = u64::from(m.get(&1).is_some());
            assert_eq!(m.len() as u64, survivors);
            at_rest(m);
        },
    );
}

#[test]
fn remove_whose_unlink_fails_behind_a_new_dummy_is_tidied() {
    // The `tidy` start (it recomputes the hash as `so.reverse_bits()`).
    // Floor 1 at size 4 holding 1 and 3 (both inserted before bucket 3
    // existed: list D0 D1 n1 n3). The remover of key 3 may find bucket 3
    // claimed by the inserter of key 7 and start from D1, so its node's
    // predecessor is n1.next; the inserter then links D3 between n1 and n3,
    // the remover's unlink fails and `tidy` must unlink n3 from the start
    // it recomputes (D3 or D1). Would catch: a tidy that starts past the
    // dead node, or panics on the recomputed hash; a lost key 7.
    loom_race_bounds(
        3,
        2,
        || map(1, &[(1, 1), (3, 3)]),
        |m| m.remove(&3),
        |m| m.insert(7, 70),
        |m, removed, inserted| {
            assert_eq!(removed, Some(3));
            assert_eq!(inserted, None);
            assert_eq!(m.get(&3), None);
            assert_eq!(keys(m), vec![1, 7]);
            at_rest(m);
        },
    );
}
