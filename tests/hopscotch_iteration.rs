//! `HopscotchMap` iteration's shortcuts (commit after 7a6fd63): a home whose
//! word names no entry, no overflow list and no freeze is read with one load
//! (`Table::collect`), the covers test is skipped where the cursor stands at
//! a home's first position (`Cursor::visit`), and the homes of consecutive
//! ranks are computed a group of 8 at a time (`RankHomes`). Each test here
//! fails on a mutant of one shortcut (docs/mutants.md): a home in overflow
//! mode with an empty bitmap taken for empty, a cursor left mid-home by a
//! shrink taken as aligned.

mod common;

use common::{counts, FewHashes, Identity};
use kovan_map::HopscotchMap;
use std::collections::BTreeMap;

#[test]
fn a_home_whose_keys_all_sit_in_its_overflow_list_is_read() {
    // One hash for every key: all of them belong to one home. The first
    // ones fill its neighbourhood's slots, the rest go to its overflow
    // list; removing the slot keys (and no others) leaves the home's hop
    // bitmap empty while the list still holds the later keys (overflow
    // mode is sticky). An iterator that took a home with an empty bitmap
    // for an empty home would yield none of them.
    let map: HopscotchMap<u64, u64, FewHashes> =
        HopscotchMap::with_capacity_and_hasher(64, FewHashes::new(1));
    for k in 0..200u64 {
        map.insert(k, k);
    }
    // Which keys sit in slots is the map's business, but at most 32 of them
    // can (one neighbourhood), and they are among the first inserted: remove
    // the first 100 and keep the rest.
    for k in 0..100u64 {
        assert_eq!(map.remove(&k), Some(k));
    }
    let expected: BTreeMap<u64, usize> = (100..200u64).map(|k| (k, 1)).collect();
    assert_eq!(counts(map.keys()), expected, "iter");
    let pinned = map.pin();
    assert_eq!(
        counts(pinned.iter().map(|(k, _)| *k)),
        expected,
        "Pinned::iter"
    );
}

/// A map made with capacity 16 holding `n` keys (seeded), and the keys.
/// Keys are their own hashes (spread by a multiplication), so each case is
/// the same every run.
fn filled(n: u64, seed: u64) -> (HopscotchMap<u64, u64, Identity>, Vec<u64>) {
    let map: HopscotchMap<u64, u64, Identity> =
        HopscotchMap::with_capacity_and_hasher(16, Identity);
    let keys: Vec<u64> = (0..n)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed)
        .collect();
    for &k in &keys {
        map.insert(k, k);
    }
    (map, keys)
}

/// Removes all keys but every `keep_every`-th, and checks that the table
/// shrank more than `ratio` times.
fn shrink(map: &HopscotchMap<u64, u64, Identity>, keys: &[u64], keep_every: usize, ratio: usize) {
    let big = map.capacity();
    for (i, &k) in keys.iter().enumerate() {
        if i % keep_every != 0 {
            map.remove(&k);
        }
    }
    assert!(
        map.capacity() * ratio < big,
        "the table shrank by more than {ratio}x ({big} -> {} slots)",
        map.capacity()
    );
}

/// No key yielded twice, every kept key once.
fn check(seen: &BTreeMap<u64, usize>, keys: &[u64], keep_every: usize, case: &str) {
    for (&k, &count) in seen {
        assert_eq!(count, 1, "key {k} yielded {count} times ({case})");
    }
    for &k in keys.iter().step_by(keep_every) {
        assert_eq!(seen.get(&k), Some(&1), "kept key {k} lost ({case})");
    }
}

#[test]
fn an_iterator_resumed_after_a_shrink_yields_no_key_twice() {
    // A map that grew to 2^17 slots, read partway, then shrunk to at most
    // 2^10 by removals, then read to the end. The iterator stopped at a
    // home boundary of the big table (its batches end every 64 homes),
    // which in the small one (more than 64 times smaller) lies inside a
    // home: that home holds keys already yielded (before the position)
    // and keys not yet yielded (after it). An iterator that took its
    // position for the home's first would yield the first kind again.
    for case in 1..=40u64 {
        let (map, keys) = filled(90_000, case);
        let mut iter = map.keys();
        let mut seen = counts(iter.by_ref().take(100 * case as usize));
        shrink(&map, &keys, 700, 64);
        for k in iter {
            *seen.entry(k).or_insert(0) += 1;
        }
        check(&seen, &keys, 700, &format!("iter, case {case}"));
    }
}

#[test]
fn a_pinned_iterator_resumed_after_a_shrink_yields_no_key_twice() {
    // As above for `Pinned::iter`, whose batches end after 64 entries, so
    // its position is a home boundary of the big table at any rank.
    for case in 1..=40u64 {
        let (map, keys) = filled(20_000, case);
        let pinned = map.pin();
        let mut iter = pinned.iter().map(|(k, _)| *k);
        let mut seen = counts(iter.by_ref().take(150 * case as usize));
        shrink(&map, &keys, 300, 4);
        for k in iter {
            *seen.entry(k).or_insert(0) += 1;
        }
        check(&seen, &keys, 300, &format!("Pinned::iter, case {case}"));
    }
}
