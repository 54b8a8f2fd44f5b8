//! Adversarial review of `HashMap`'s packed bucket directory (commit
//! cbe06b0) under loom: two state bits a bucket, 32 buckets to a 64-bit
//! word changed only by `fetch_or` (claim: Relaxed; link: Release), and
//! list words that name a dummy by its bucket index.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom cargo test --locked -p kovan-map-models --release --test loom_directory_review`
//!
//! `KeyIsHash`: key `k` lives in bucket `k & (size - 1)`. With floor 1,
//! segment `j >= 1` holds buckets `2^(j-1) .. 2^j`, so buckets 33 and 35
//! share the first state word of segment 6; with floor 64, buckets 0..31
//! and 32..63 are the two words of segment 0.
#![cfg(kovan_map_loom)]

use kovan_map_models::harness::hash_map::{map_of, sorted_keys, Map};
use kovan_map_models::harness::loom_race;

/// The map is consistent at rest: `len` equals the iteration count, no key
/// twice, `chain_stats` agrees, and every key iterated is found by `get`.
fn at_rest(m: &Map) {
    let ks = sorted_keys(m);
    let mut dedup = ks.clone();
    dedup.dedup();
    assert_eq!(ks, dedup, "a key iterated twice");
    assert_eq!(m.len(), ks.len(), "len disagrees with iteration");
    let stats = m.chain_stats();
    assert_eq!(stats.entries, ks.len(), "chain_stats disagrees: {stats:?}");
    for k in ks {
        assert!(m.get(&k).is_some(), "key {k} iterated but not found");
    }
}

/// Floor 1, keys 1 and 97 inserted while the table was small (so only
/// buckets 0 and 1 are linked: list `d0, d1, n1, n97`), then reserved to
/// 64 buckets. Key 97's bucket is now 33 (untouched), served by bucket 1.
fn sparse_64() -> Map {
    let m = map_of(1, &[(1, 1), (97, 97)]);
    m.reserve(46);
    assert_eq!(m.capacity(), 64);
    assert_eq!(m.chain_stats().linked_buckets, 2);
    m
}

#[test]
fn a_linked_bit_read_through_another_buckets_claim_carries_the_dummys_link() {
    // Attack (1), the release sequence of the state word. Thread a inserts
    // key 33: it claims bucket 33, links its dummy between n1 and n97
    // (`d33.next = n97`, a private store before the linking CAS), then sets
    // LINKED with a Release `fetch_or`. Thread b inserts key 35, whose
    // bucket shares that state word: its claim (a Relaxed `fetch_or` of
    // bit 6) and its own LINKED may come after a's LINKED in the word's
    // modification order, and then b's `get(97)` reads bucket 33 LINKED
    // from a value *b's own* RMWs wrote. Only the release sequence (every
    // RMW of the word continues a's) makes a's `d33.next = n97` visible to
    // b then; without it b starts from d33, reads its link null (the
    // allocation's value) and answers None for key 97, present all along.
    // Would catch: a LINKED set by a store or a Relaxed RMW, the claim made
    // by a plain load-and-store (it would break the release sequence, and
    // may lose a's bits), a state load of Relaxed, bits of 33 and 35 laid
    // over each other (b would see 33 linked after its own claim of 35).
    loom_race(
        3,
        sparse_64,
        |m| (m.insert(33, 33), m.get(&97)),
        |m| (m.insert(35, 35), m.get(&97)),
        |m, (ia, ga), (ib, gb)| {
            assert_eq!((ia, ib), (None, None));
            assert_eq!(ga, Some(97), "a lost key 97");
            assert_eq!(gb, Some(97), "b lost key 97");
            assert_eq!(sorted_keys(m), vec![1, 33, 35, 97]);
            at_rest(m);
            // Buckets 0, 1, 3 (35's ancestor), 33 and 35.
            let stats = m.chain_stats();
            assert_eq!(stats.linked_buckets, 5, "{stats:?}");
        },
    );
}

#[test]
fn a_reader_racing_the_link_of_a_dummy_never_misses_the_keys_behind_it() {
    // Attack (1) from the reader's side. Thread a links bucket 33 (insert
    // 33); thread b, a reader, looks up key 97 twice and then key 33. A
    // lookup prepares its bucket as a writer does, so b either reads 33
    // LINKED (Acquire) and starts from d33, or claims and links 33 itself
    // (racing a's claim), or finds it claimed by a and starts from d1.
    // Would catch: a reader that sees LINKED but not the dummy's link (key
    // 97 lost), a dummy word resolved to the wrong bucket (key 97 lost or a
    // loop), two linkers of d33 (a key iterated twice), key 33 seen and
    // then lost.
    loom_race(
        3,
        sparse_64,
        |m| m.insert(33, 33),
        |m| (m.get(&97), m.get(&33), m.get(&97), m.get(&33)),
        |m, inserted, (x, y, z, w)| {
            assert_eq!(inserted, None);
            assert_eq!((x, z), (Some(97), Some(97)), "key 97 lost");
            assert!(matches!(y, None | Some(33)), "{y:?}");
            assert!(!(y.is_some() && w.is_none()), "key 33 went backwards");
            assert_eq!(sorted_keys(m), vec![1, 33, 97]);
            at_rest(m);
        },
    );
}

#[test]
fn two_writers_race_for_bit_zero_of_the_second_state_word() {
    // Attacks (3) and the claim: floor 64, so bucket 32 is offset 0 of the
    // second state word of segment 0 (and a floor bucket: the reader's
    // absent shortcut applies to it). Both threads write keys of bucket 32
    // (32 and 96) and read key 32; exactly one claims and links it, the
    // other starts from bucket 0 meanwhile. Would catch: a claim with two
    // winners (dummy 32 linked twice: a key iterated twice, or lost), the
    // second word located wrong (bucket 32's bits in word 0: bucket 0's
    // bits), the shortcut answering None after key 32 was linked in the
    // same thread.
    loom_race(
        3,
        || map_of(64, &[(0, 0)]),
        |m| (m.insert(32, 32), m.get(&32)),
        |m| (m.get(&32), m.insert(96, 96), m.get(&32)),
        |m, (ia, ga), (g1, ib, g2)| {
            assert_eq!((ia, ib), (None, None));
            assert_eq!(ga, Some(32), "a's own key lost");
            assert!(matches!(g1, None | Some(32)), "{g1:?}");
            assert!(!(g1.is_some() && g2.is_none()), "key 32 went backwards");
            assert_eq!(sorted_keys(m), vec![0, 32, 96]);
            at_rest(m);
            let stats = m.chain_stats();
            assert_eq!(stats.linked_buckets, 2, "{stats:?}");
        },
    );
}
