//! Adversarial review of 7a6fd63 (`Lanes::read_round` steps the lanes
//! through one-byte indices of the running ones, `running`, instead of
//! swapping the walks): lanes that end their batches in every order and at
//! every step of a round, with 1, 2, 4 or 8 lanes (tables of 1 to 64
//! buckets when the iterator is made), some lanes empty (never made), and
//! single-threaded writes between the steps of an iterator that grow the
//! table, shrink it, clear the map and insert keys already yielded.

mod common;

use common::{key_of_value as key_of, value_of_key as val, Identity, IterBooks, Rng};
use kovan_map::HashMap;
use std::collections::{BTreeMap, BTreeSet};

/// `i` reversed in three bits.
const REV3: [u64; 8] = [0, 4, 2, 6, 1, 5, 3, 7];

/// The `j`-th key of lane `lane` of 8 (the top three bits of its
/// split-order key, its hash reversed, are `lane`): the hash's low three
/// bits are `lane` reversed.
fn lane_key(lane: u64, j: u64) -> u64 {
    REV3[lane as usize] | (j << 3)
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Next,
    Keys,
    Values,
    Fold,
    Pinned,
    /// A few by `next`, the rest by `for_each`.
    NextThenFold,
}

const KINDS: [Kind; 6] = [
    Kind::Next,
    Kind::Keys,
    Kind::Values,
    Kind::Fold,
    Kind::Pinned,
    Kind::NextThenFold,
];

/// How often each key is yielded by one iteration of `kind`.
fn count(map: &HashMap<u64, u64, Identity>, kind: Kind) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    let mut saw = |k: u64, v: u64| {
        assert_eq!(v, val(k), "key {k} with a value it never held");
        *seen.entry(k).or_insert(0) += 1;
    };
    match kind {
        Kind::Next => {
            let mut iter = map.iter();
            // `next` itself, one entry at a time (not `fold`).
            #[allow(clippy::while_let_on_iterator)]
            while let Some((k, v)) = iter.next() {
                saw(k, v);
            }
        }
        Kind::Keys => {
            for k in map.keys() {
                saw(k, val(k));
            }
        }
        Kind::Values => {
            for v in map.values() {
                saw(key_of(v), v);
            }
        }
        Kind::Fold => map.iter().for_each(|(k, v)| saw(k, v)),
        Kind::Pinned => {
            let pinned = map.pin();
            for (k, v) in pinned.iter() {
                saw(*k, *v);
            }
        }
        Kind::NextThenFold => {
            let mut iter = map.iter();
            for (k, v) in iter.by_ref().take(3) {
                saw(k, v);
            }
            iter.for_each(|(k, v)| saw(k, v));
        }
    }
    seen
}

#[test]
fn lanes_ending_their_batches_in_every_order_yield_each_key_once() {
    // Lane `i` holds `n_i` keys, chosen so that lanes end their batches
    // (8 elements then the next dummy, or their stretch's end) at different
    // steps of a round and in different orders from round to round: empty
    // lanes (not made), lanes of 1 to 9 keys (ending in the first round at
    // every step), and long lanes (many rounds). Tables of 1 to 64 buckets
    // give 1, 2, 4 and 8 lanes, and 1 to 8 dummies a lane.
    let sizes = [0u64, 1, 2, 3, 5, 7, 8, 9, 15, 16, 17, 31, 64, 130];
    let mut rng = Rng(0x5EED_1A4E_5000_0001);
    for round in 0..300 {
        let buckets = 1usize << (round % 7);
        let counts: Vec<u64> = (0..8)
            .map(|_| sizes[rng.below(sizes.len() as u64) as usize])
            .collect();
        let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(buckets, Identity);
        let mut keys = BTreeSet::new();
        for (lane, &n) in counts.iter().enumerate() {
            for j in 0..n {
                let k = lane_key(lane as u64, j);
                map.insert(k, val(k));
                keys.insert(k);
            }
        }
        let expected: BTreeMap<u64, usize> = keys.iter().map(|&k| (k, 1)).collect();
        for kind in KINDS {
            assert_eq!(
                count(&map, kind),
                expected,
                "{kind:?}: {buckets} buckets (now {}), lanes' keys {counts:?}",
                map.capacity()
            );
        }
    }
}

#[test]
fn every_permutation_of_lane_lengths_yields_each_key_once() {
    // Eight lanes of lengths 1..=8 in every order (40,320 orders, sampled
    // every 7th): the lanes end their first batch at eight different steps,
    // in the order the permutation says, so `running` is compacted from
    // every position.
    let map_for = |perm: &[u64]| {
        let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(8, Identity);
        for (lane, &n) in perm.iter().enumerate() {
            for j in 0..n {
                let k = lane_key(lane as u64, j);
                map.insert(k, val(k));
            }
        }
        map
    };
    let mut perm: Vec<u64> = (1..=8).collect();
    let mut index = 0u64;
    // Heap's algorithm, iterative.
    let mut c = [0usize; 8];
    let check = |perm: &[u64], index: u64| {
        if !index.is_multiple_of(7) {
            return;
        }
        let map = map_for(perm);
        let expected: BTreeMap<u64, usize> = perm
            .iter()
            .enumerate()
            .flat_map(|(lane, &n)| (0..n).map(move |j| (lane_key(lane as u64, j), 1)))
            .collect();
        let kind = KINDS[(index / 7) as usize % KINDS.len()];
        assert_eq!(
            count(&map, kind),
            expected,
            "{kind:?}: lane lengths {perm:?}"
        );
    };
    check(&perm, index);
    let mut i = 0;
    while i < 8 {
        if c[i] < i {
            if i % 2 == 0 {
                perm.swap(0, i);
            } else {
                perm.swap(c[i], i);
            }
            index += 1;
            check(&perm, index);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
    assert_eq!(index + 1, 40_320);
}

/// The books' writes.
fn insert(books: &mut IterBooks, map: &HashMap<u64, u64, Identity>, k: u64) {
    books.inserted(k, map.insert(k, val(k)).is_some());
}
fn remove(books: &mut IterBooks, map: &HashMap<u64, u64, Identity>, k: u64) {
    books.removed(k, map.remove(&k).is_some());
}

/// A key: in one lane mostly (the lanes then have very different lengths),
/// or anywhere.
fn pick(rng: &mut Rng, hot: u64) -> u64 {
    match rng.below(3) {
        0 => rng.next(),
        1 => lane_key(hot, rng.below(1 << 20)),
        _ => rng.below(1 << 12),
    }
}

fn scenario(seed: u64, floor: usize, pinned: bool) {
    let case = format!("seed {seed}, floor {floor}, pinned {pinned}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let hot = rng.below(8);
    let map: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(floor, Identity);
    let mut books = IterBooks::default();
    for _ in 0..rng.below(300) {
        let k = pick(&mut rng, hot);
        insert(&mut books, &map, k);
    }
    books.throughout = books.now.clone();
    let handle = map.pin();
    let mut iter: Box<dyn Iterator<Item = (u64, u64)>> = if pinned {
        Box::new(handle.iter().map(|(k, v)| (*k, *v)))
    } else {
        Box::new(map.iter())
    };
    let mut steps = 0;
    'outer: loop {
        let most = if rng.below(2) == 0 { 3 } else { 80 };
        for _ in 0..1 + rng.below(most) {
            match iter.next() {
                Some((k, v)) => {
                    assert_eq!(v, val(k), "{case}: key {k} with a value it never held");
                    books.saw(k, &case)
                }
                None => break 'outer,
            }
        }
        steps += 1;
        assert!(steps < 100_000, "{case}: no end");
        match rng.below(12) {
            // Grow: the table many times past its floor.
            0 | 1 => {
                for _ in 0..(64 << rng.below(7)) {
                    let k = pick(&mut rng, hot) | 1 << 63;
                    insert(&mut books, &map, k);
                }
            }
            // Shrink: remove what was not there at the start, and a few
            // keys that were.
            2 | 3 => {
                let mut doomed = Vec::new();
                for &k in &books.now {
                    if !books.throughout.contains(&k) || rng.below(10) == 0 {
                        doomed.push(k);
                    }
                }
                for k in doomed {
                    remove(&mut books, &map, k);
                }
            }
            // Clear, then put back keys already yielded (they must not come
            // again) and new ones.
            4 => {
                map.clear();
                books.cleared();
                let mut back = Vec::new();
                for &k in books.seen.keys() {
                    if rng.below(2) == 0 {
                        back.push(k);
                    }
                }
                for k in back {
                    insert(&mut books, &map, k);
                }
                for _ in 0..rng.below(50) {
                    let k = pick(&mut rng, hot);
                    insert(&mut books, &map, k);
                }
            }
            // Flap yielded keys.
            5 | 6 => {
                let mut back = Vec::new();
                for &k in books.seen.keys() {
                    if back.len() < 40 && rng.below(3) == 0 {
                        back.push(k);
                    }
                }
                for k in back {
                    if books.now.contains(&k) {
                        remove(&mut books, &map, k);
                    }
                    insert(&mut books, &map, k);
                }
            }
            7..=9 => {
                for _ in 0..rng.below(30) {
                    let k = pick(&mut rng, hot);
                    if rng.below(2) == 0 {
                        insert(&mut books, &map, k);
                    } else {
                        remove(&mut books, &map, k);
                    }
                }
            }
            _ => {}
        }
    }
    books.finish(&case);
    drop(iter);
    drop(handle);
    let all: BTreeSet<u64> = map.keys().collect();
    assert_eq!(all, books.now, "{case}: the map at the end");
}

#[test]
fn writes_between_steps_grow_shrink_and_clear_without_a_key_lost_or_twice() {
    for seed in 1..=80u64 {
        for (i, &floor) in [1usize, 2, 4, 8, 64].iter().enumerate() {
            scenario(
                seed * 16 + i as u64,
                floor,
                (seed + i as u64).is_multiple_of(2),
            );
        }
    }
}

#[test]
fn a_map_cleared_to_empty_mid_iteration_and_refilled_yields_no_key_twice() {
    // Deterministic: every lane full, an iterator stepped `t` keys, the map
    // cleared (its table shrinks to the floor) and refilled with the same
    // keys and as many new ones; no key twice; the new keys, if yielded,
    // once.
    for floor in [1usize, 2, 4, 8] {
        for t in [0usize, 1, 7, 8, 9, 63, 64, 65, 200, 999] {
            for pinned in [false, true] {
                let map: HashMap<u64, u64, Identity> =
                    HashMap::with_capacity_and_hasher(floor, Identity);
                let keys: Vec<u64> = (0..1000u64).map(|i| lane_key(i % 8, i / 8)).collect();
                for &k in &keys {
                    map.insert(k, val(k));
                }
                let handle = map.pin();
                let mut iter: Box<dyn Iterator<Item = (u64, u64)>> = if pinned {
                    Box::new(handle.iter().map(|(k, v)| (*k, *v)))
                } else {
                    Box::new(map.iter())
                };
                let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
                for (k, _) in iter.by_ref().take(t) {
                    *seen.entry(k).or_default() += 1;
                }
                map.clear();
                assert!(map.is_empty());
                for &k in &keys {
                    map.insert(k, val(k));
                    map.insert(k | 1 << 40, val(k | 1 << 40));
                }
                for (k, v) in iter {
                    assert_eq!(v, val(k));
                    *seen.entry(k).or_default() += 1;
                }
                for (k, n) in &seen {
                    assert_eq!(
                        *n, 1,
                        "floor {floor}, t {t}, pinned {pinned}: key {k} {n} times"
                    );
                }
                assert!(seen.len() >= t.min(1000));
            }
        }
    }
}
