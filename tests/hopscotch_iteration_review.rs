//! Adversarial review of 2bf9cb4 (HopscotchMap iteration: `Table::collect`'s
//! one-load fast path, `Cursor::visit`'s `aligned` shortcut, `RankHomes`).
//!
//! * Exact order: with at most one key a home and no resize, an iterator
//!   yields the keys in bit-reversed order of their hashes, for every table
//!   size from 1 to 2^12 slots and every fill (so every home `RankHomes`
//!   computes is checked against the rank, at the boundaries of its groups
//!   of 8 and at sizes below 8).
//! * Interleaved resizes, single-threaded and deterministic: the test thread
//!   steps an iterator (`iter`, `keys`, `values`, `Pinned::iter`) and, between
//!   steps, grows the table (up to 2^17 slots), shrinks it back to its
//!   minimum (1 to 64 slots: shrinks by more than 64x), grows and shrinks
//!   again within one iteration, removes and reinserts keys, and leaves
//!   resizes half done (its writes help only a few chunks). Keys are their
//!   own hashes and many share low bits (one home across many sizes), so
//!   neighbourhoods of 1, 2, 4 or 32 slots overflow into lists. Every key
//!   present from before the iterator was made to its end is yielded
//!   exactly once; no key is yielded twice; every key yielded was present
//!   at some point, with its value.
//! * Concurrent: writers grow and shrink (by more than 64x) and flap keys in
//!   overflow lists while readers iterate.

mod common;

use common::{key_of_value as key_of, value_of_key as val, Identity, IterBooks, Rng};
use kovan_map::HopscotchMap;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Iter,
    Keys,
    Values,
    Pinned,
}

const KINDS: [Kind; 4] = [Kind::Iter, Kind::Keys, Kind::Values, Kind::Pinned];

/// The keys an iterator of `kind` yields, checked against their values
/// where the iterator yields both.
fn yields<'a, const H: usize>(
    map: &'a HopscotchMap<u64, u64, Identity, H>,
    pinned: Option<&'a kovan_map::hopscotch::Pinned<'a, u64, u64, Identity, H>>,
    kind: Kind,
) -> Box<dyn Iterator<Item = u64> + 'a> {
    match kind {
        Kind::Iter => Box::new(map.iter().map(|(k, v)| {
            assert_eq!(v, val(k), "iter: key {k} with a value it never held");
            k
        })),
        Kind::Keys => Box::new(map.keys()),
        Kind::Values => Box::new(map.values().map(key_of)),
        Kind::Pinned => Box::new(pinned.expect("a handle").iter().map(|(k, v)| {
            assert_eq!(
                *v,
                val(*k),
                "Pinned::iter: key {k} with a value it never held"
            );
            *k
        })),
    }
}

// ---------------------------------------------------------------------------
// Exact order without resizes.

/// `n` keys, each its own home in a table of `size` slots (the homes a
/// random subset, seeded, or the last `n` homes), one key a home in its home
/// slot. The cursor reads homes in rank order, so the keys come in the
/// order of their reversed bits.
fn check_order<const H: usize>(size: usize, n: u64, seed: u64) {
    let map: HopscotchMap<u64, u64, Identity, H> =
        HopscotchMap::with_capacity_and_hasher(size, Identity);
    let mut homes: Vec<u64> = (0..size as u64).collect();
    if seed == 0 {
        homes.reverse();
    } else {
        let mut rng = Rng(seed);
        for i in (1..homes.len()).rev() {
            homes.swap(i, rng.below(i as u64 + 1) as usize);
        }
    }
    homes.truncate(n as usize);
    for &k in &homes {
        // Bits above the table's: the key is still home `k`.
        let k = k | (seed << 40);
        map.insert(k, val(k));
    }
    assert_eq!(map.capacity(), size, "no resize (size {size}, {n} keys)");
    let mut expected: Vec<u64> = homes.iter().map(|&k| k | (seed << 40)).collect();
    expected.sort_by_key(|k| k.reverse_bits());
    let pinned = map.pin();
    for kind in KINDS {
        let got: Vec<u64> = yields(&map, Some(&pinned), kind).collect();
        assert_eq!(
            got, expected,
            "{kind:?}: size {size}, {n} keys, seed {seed}"
        );
    }
}

#[test]
fn without_resizes_keys_come_in_bit_reversed_order_at_every_size() {
    // Sizes 1 to 2^12; fills up to 3/4 (no growth) of random homes and of
    // the last homes (whose ranks are the odd ones, the ends of groups of
    // 8): every rank, its group of 8, its neighbours 4 and 8 ahead, from
    // the first rank on. A home computed wrongly for some rank reads that
    // rank's keys out of order, twice or never.
    for bits in 0..=12u32 {
        let size = 1usize << bits;
        let fills: Vec<u64> = if bits <= 5 {
            (0..=(size as u64 * 3 / 4)).collect()
        } else {
            vec![1, 9, size as u64 / 2, size as u64 * 3 / 4]
        };
        for n in fills {
            for seed in 0..4 {
                check_order::<32>(size, n, seed);
            }
            check_order::<1>(size, n, 7);
        }
    }
}

/// A spread key (splitmix64 of `i`), with bit 62 set: never below 64.
fn spread(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (z ^ (z >> 31)) | 1 << 62
}

#[test]
fn a_resumed_iterator_keeps_bit_reversed_order_across_resizes_of_a_one_key_a_home_map() {
    // 16 stable keys below 64 (four patterns of homes) in a map of minimum 64: in every table the map
    // passes through (64 to 2^15 slots) each is alone in its home's range
    // of reversed hashes. The cursor's positions only grow, and a home's
    // keys are all read at one step, so stable keys in distinct homes come
    // in reversed order, however the table grows and shrinks (here by 512x,
    // between steps of the iterator, by spread churn keys). A home computed
    // wrongly for a rank after a resize (`RankHomes` keeping a group of the
    // old size) reads another home's keys early or loses them.
    for (p, pattern) in [
        (0..16).collect::<Vec<u64>>(),
        (48..64).collect(),
        (0..16).map(|i| 2 * i + 33 - 2 * (i / 8) * 16).collect(),
        (0..16).map(|i| (i * 37 + 11) % 64).collect(),
    ]
    .iter()
    .enumerate()
    {
        let mut expected = pattern.clone();
        expected.sort_by_key(|k| k.reverse_bits());
        for kind in KINDS {
            for pause in [1usize, 3, 8, 13, 64, 250] {
                let map: HopscotchMap<u64, u64, Identity> =
                    HopscotchMap::with_capacity_and_hasher(64, Identity);
                for &k in pattern {
                    map.insert(k, val(k));
                }
                // The iterator starts in a big table.
                let mut churn: Vec<u64> = (0..4000).map(spread).collect();
                for &k in &churn {
                    map.insert(k, val(k));
                }
                let pinned = map.pin();
                let mut iter = yields(&map, Some(&pinned), kind);
                let mut got = Vec::new();
                let mut round = 0u64;
                loop {
                    let step: Vec<u64> = iter.by_ref().take(pause).collect();
                    if step.is_empty() {
                        break;
                    }
                    got.extend(step);
                    round += 1;
                    if round > 24 {
                        continue;
                    }
                    if round.is_multiple_of(2) {
                        let n = 500u64 << (round % 5);
                        for i in 0..n {
                            let k = spread(round << 32 | i);
                            map.insert(k, val(k));
                            churn.push(k);
                        }
                    } else {
                        for k in churn.drain(..) {
                            map.remove(&k);
                        }
                        assert_eq!(map.capacity(), 64, "shrank back");
                    }
                }
                let stable: Vec<u64> = got.iter().copied().filter(|&k| k < 64).collect();
                assert_eq!(stable, expected, "pattern {p}, {kind:?}, pause {pause}");
                let set: BTreeSet<u64> = got.iter().copied().collect();
                assert_eq!(
                    set.len(),
                    got.len(),
                    "pattern {p}, {kind:?}, pause {pause}: a key twice"
                );
            }
        }
    }
}

/// The home of rank `r` in a table of `2^bits` slots.
fn home_of_rank(r: u64, bits: u32) -> u64 {
    r.reverse_bits() >> (64 - bits)
}

/// How the table changes between two batches in
/// [`a_batch_ending_at_any_rank_then_a_resize_loses_and_repeats_nothing`].
#[derive(Clone, Copy, Debug)]
enum Resize {
    /// 1024 -> 512 -> 256 (-> 128), by removals.
    Shrink { witnesses: u64, to: usize },
    /// 1024 -> 2048 or 4096, by inserts.
    Grow { to: usize },
}

/// A map of minimum 128 grown to 1,024 slots; 64 keys at ranks `0..end` of
/// that table (so an iterator's first batch, which stops at 64 entries,
/// ends exactly after rank `end - 1`: its cursor then stands at rank
/// `end`); `witnesses` keys at ranks `end..` one a rank; the iterator takes
/// one key, the table is resized, the iterator read to its end. The
/// witnesses and batch keys are present throughout. Each (end, resize)
/// pair puts `RankHomes`' cached group at one offset from the group the
/// next batch starts in, in another table size: the same group (a shrink
/// by 2 from rank 16), the next one (a growth by 2 from ranks 4..8), and
/// the rest.
fn batch_then_resize(end: u64, resize: Resize, kind: Kind) {
    let case = format!("end {end}, {resize:?}, {kind:?}");
    let map: HopscotchMap<u64, u64, Identity> =
        HopscotchMap::with_capacity_and_hasher(128, Identity);
    let witnesses = match resize {
        Resize::Shrink { witnesses, .. } => witnesses,
        Resize::Grow { .. } => 64,
    };
    let mut throughout = Vec::new();
    // The batch keys: 64, spread over ranks 0..end of the 1,024-slot table,
    // at least one at rank end - 1.
    for i in 0..64u64 {
        let r = if i == 63 { end - 1 } else { i % end };
        let k = home_of_rank(r, 10) | ((i + 1) << 20);
        throughout.push(k);
    }
    for r in end..end + witnesses {
        throughout.push(home_of_rank(r, 10) | (7 << 50));
    }
    // Fillers at ranks from 256 of the 1,024-slot table on (after every
    // key above in any table of at least 128 slots... the fillers of ranks
    // 256 and up of 1,024 are ranks 32 and up of 128, past the witnesses of
    // ranks below 256).
    let fillers: Vec<u64> = (0..300u64)
        .map(|i| home_of_rank(256 + (i * 2) % 768, 10) | ((i + 1) << 30))
        .collect();
    for &k in throughout.iter().chain(&fillers) {
        map.insert(k, val(k));
    }
    assert_eq!(map.capacity(), 1024, "{case}: the start");
    let pinned = map.pin();
    let mut iter = yields(&map, Some(&pinned), kind);
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let first = iter.next().expect("a first key");
    *seen.entry(first).or_default() += 1;
    let mut more = Vec::new();
    match resize {
        Resize::Shrink { to, .. } => {
            for k in &fillers {
                map.remove(k);
            }
            // And the batch keys, read already (the first batch holds them).
            if to < 512 {
                for k in &throughout[..64] {
                    map.remove(k);
                }
            }
        }
        Resize::Grow { to } => {
            let mut i = 0u64;
            while map.capacity() < to {
                let k = home_of_rank(300 + i % 700, 10) | ((i + 1) << 40);
                map.insert(k, val(k));
                more.push(k);
                i += 1;
            }
        }
    }
    let to = match resize {
        Resize::Shrink { to, .. } | Resize::Grow { to } => to,
    };
    for k in iter {
        *seen.entry(k).or_default() += 1;
    }
    assert_eq!(map.capacity(), to, "{case}: resized");
    for (k, n) in &seen {
        assert_eq!(*n, 1, "{case}: key {k} yielded {n} times");
        assert!(
            throughout.contains(k) || fillers.contains(k) || more.contains(k),
            "{case}: key {k} never present"
        );
    }
    for k in &throughout {
        assert_eq!(seen.get(k), Some(&1), "{case}: key {k}, present throughout");
    }
}

#[test]
fn a_batch_ending_at_any_rank_then_a_resize_loses_and_repeats_nothing() {
    let resizes = [
        Resize::Shrink {
            witnesses: 64,
            to: 512,
        },
        Resize::Shrink {
            witnesses: 64,
            to: 256,
        },
        Resize::Shrink {
            witnesses: 32,
            to: 128,
        },
        Resize::Grow { to: 2048 },
        Resize::Grow { to: 4096 },
    ];
    for end in 1..=64u64 {
        for resize in resizes {
            for kind in KINDS {
                batch_then_resize(end, resize, kind);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Interleaved resizes, deterministic.

/// A key for scenario generator `rng`: spread, or clustered on few low bits
/// (one home in tables up to 2^24 slots: crowded neighbourhoods, overflow
/// lists), or small.
fn pick(rng: &mut Rng, cluster_bits: u32) -> u64 {
    match rng.below(4) {
        0 => rng.next(),
        1 | 2 => rng.below(1 << cluster_bits) | (rng.next() << 24),
        _ => rng.below(4096),
    }
}

/// The books' writes on a map of neighbourhood `H`.
fn insert<const H: usize>(
    books: &mut IterBooks,
    map: &HopscotchMap<u64, u64, Identity, H>,
    k: u64,
) {
    books.inserted(k, map.insert(k, val(k)).is_some());
}
fn remove<const H: usize>(
    books: &mut IterBooks,
    map: &HopscotchMap<u64, u64, Identity, H>,
    k: u64,
) {
    books.removed(k, map.remove(&k).is_some());
}

/// One scenario: a map of minimum `min` slots and neighbourhood `H`, an
/// iterator of `kind` stepped a random number of keys at a time, random
/// resizing writes between steps.
fn scenario<const H: usize>(seed: u64, min: usize, kind: Kind) {
    let case = format!("seed {seed}, min {min}, H {H}, {kind:?}");
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let cluster_bits = 1 + rng.below(6) as u32;
    let map: HopscotchMap<u64, u64, Identity, H> =
        HopscotchMap::with_capacity_and_hasher(min, Identity);
    let mut books = IterBooks::default();
    let start = rng.below(600) as usize;
    for _ in 0..start {
        let k = pick(&mut rng, cluster_bits);
        insert(&mut books, &map, k);
    }
    books.throughout = books.now.clone();
    let pinned = map.pin();
    let mut iter = yields(&map, Some(&pinned), kind);
    let mut steps = 0;
    loop {
        let most = if rng.below(2) == 0 { 4 } else { 100 };
        let take = 1 + rng.below(most) as usize;
        let mut ended = false;
        for _ in 0..take {
            match iter.next() {
                Some(k) => books.saw(k, &case),
                None => {
                    ended = true;
                    break;
                }
            }
        }
        if ended {
            break;
        }
        steps += 1;
        assert!(steps < 100_000, "{case}: no end");
        match rng.below(10) {
            // Grow a lot (a table 64 to 2048 times the minimum), later
            // shrunk by removals.
            0 => {
                let n = (min as u64 * (64 << rng.below(6))).min(40_000);
                for _ in 0..n {
                    let k = rng.next() | (1 << 63);
                    insert(&mut books, &map, k);
                }
            }
            // Remove every key not present throughout... and some that are.
            1 | 2 => {
                let mut doomed: Vec<u64> = Vec::new();
                for &k in &books.now {
                    if !books.throughout.contains(&k) || rng.below(8) == 0 {
                        doomed.push(k);
                    }
                }
                for k in doomed {
                    remove(&mut books, &map, k);
                }
            }
            // A few inserts and removals (a resize started by one of them is
            // left with only a few chunks copied).
            3..=5 => {
                for _ in 0..rng.below(40) {
                    let k = pick(&mut rng, cluster_bits);
                    if rng.below(2) == 0 {
                        insert(&mut books, &map, k);
                    } else {
                        remove(&mut books, &map, k);
                    }
                }
            }
            // Flap keys already yielded: removed and inserted again, they
            // must not come twice.
            6 => {
                let mut back: Vec<u64> = Vec::new();
                for &k in books.seen.keys() {
                    if back.len() < 64 && rng.below(3) == 0 {
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
            // Clustered keys: crowd one home's neighbourhood into its
            // overflow list, then remove the neighbourhood's first keys.
            7 => {
                let base = rng.below(1 << cluster_bits);
                let keys: Vec<u64> = (0..(H as u64 + 4 + rng.below(8)))
                    .map(|i| base | ((i + 1 + rng.below(1 << 20)) << 24))
                    .collect();
                for &k in &keys {
                    insert(&mut books, &map, k);
                }
                for &k in keys.iter().take(H.min(keys.len())) {
                    remove(&mut books, &map, k);
                }
            }
            _ => {}
        }
    }
    books.finish(&case);
    drop(iter);
    drop(pinned);
    // The map agrees with the books at the end.
    let all: BTreeSet<u64> = map.keys().collect();
    assert_eq!(all, books.now, "{case}: the map at the end");
}

/// Debug builds (the workspace's `cargo test`) run a fifth of the cases;
/// release builds (the mutant runs) all of them.
const DEBUG: bool = cfg!(debug_assertions);

#[test]
fn interleaved_grow_and_shrink_yield_each_key_present_throughout_once_h32() {
    for seed in 1..=if DEBUG { 12 } else { 60u64 } {
        for (i, &min) in [1usize, 2, 4, 8, 16, 64].iter().enumerate() {
            scenario::<32>(seed * 8 + i as u64, min, KINDS[(seed as usize + i) % 4]);
        }
    }
}

#[test]
fn interleaved_grow_and_shrink_yield_each_key_present_throughout_once_small_h() {
    for seed in 1..=if DEBUG { 8 } else { 40u64 } {
        for (i, &min) in [1usize, 2, 4, 8, 16].iter().enumerate() {
            let kind = KINDS[(seed as usize + i) % 4];
            scenario::<1>(seed * 8 + i as u64 + 10_000, min.max(1), kind);
            scenario::<2>(seed * 8 + i as u64 + 20_000, min.max(2), kind);
            scenario::<4>(seed * 8 + i as u64 + 30_000, min.max(4), kind);
        }
    }
}

#[test]
fn an_iterator_across_a_grow_then_a_shrink_by_more_than_64x_in_one_pass() {
    // Deterministic: a map of minimum `min` whose `min / 4` stable keys all
    // sit in one home of the `min`-slot table (home 5) and spread in larger
    // ones; the iterator made, the table grown to at
    // least 2^16, read to its `t`-th stable key, shrunk back to `min` (by
    // 1,024x or more), read to the end. After the shrink its position (a home boundary of a big
    // table) lies inside home 5, whose keys before it were yielded: only
    // the covers test keeps them from coming twice.
    for min in [16usize, 64] {
        let stable: Vec<u64> = (0..min as u64 / 4)
            .map(|i| 5 | (i.wrapping_mul(0x9E37_79B9_7F4A_7C15) << 6))
            .collect();
        let churn: Vec<u64> = (0..40_000u64).map(spread).collect();
        for t in (0..(min / 4 - 1)).step_by(if DEBUG { 5 } else { 1 }) {
            for kind in KINDS {
                let map: HopscotchMap<u64, u64, Identity> =
                    HopscotchMap::with_capacity_and_hasher(min, Identity);
                for &k in &stable {
                    map.insert(k, val(k));
                }
                let pinned = map.pin();
                let mut iter = yields(&map, Some(&pinned), kind);
                let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
                for &k in &churn {
                    map.insert(k, val(k));
                }
                assert!(map.capacity() >= 1 << 16, "grew: {}", map.capacity());
                // Read on to the `t`-th stable key (the position is then in
                // the big table's range of home 5, ahead of some stable keys).
                let mut stable_seen = 0;
                while stable_seen < t.max(1) {
                    let k = iter.next().expect("the stable keys are ahead");
                    *seen.entry(k).or_default() += 1;
                    stable_seen = stable.iter().filter(|s| seen.contains_key(s)).count();
                }
                for &k in &churn {
                    map.remove(&k);
                }
                assert_eq!(map.capacity(), min, "shrank back");
                for k in iter {
                    *seen.entry(k).or_default() += 1;
                }
                let case = format!("{kind:?}, min {min}, t {t}");
                for (k, n) in &seen {
                    assert_eq!(*n, 1, "{case}: key {k} yielded {n} times");
                }
                for k in &stable {
                    assert_eq!(seen.get(k), Some(&1), "{case}: stable key {k}");
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Concurrent.

fn concurrent<const H: usize>(min: usize, millis: u64) {
    let map: HopscotchMap<u64, u64, Identity, H> =
        HopscotchMap::with_capacity_and_hasher(min, Identity);
    // Stable keys: clustered on home 0..4 of small tables (overflow lists
    // for small H) and spread.
    let stable: Vec<u64> = (0..64u64)
        .map(|i| {
            if i % 2 == 0 {
                (i % 4) | (i << 30)
            } else {
                i.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            }
        })
        .collect();
    for &k in &stable {
        map.insert(k, val(k));
    }
    let stop = AtomicBool::new(false);
    struct Stop<'a>(&'a AtomicBool);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    std::thread::scope(|s| {
        // A writer that grows the table by 2^11 to 2^15 keys and shrinks it
        // back to its minimum.
        s.spawn(|| {
            let mut rng = Rng(0x1234_5678_9abc_def1);
            while !stop.load(Ordering::Relaxed) {
                let n = 1u64 << (11 + rng.below(5));
                let base = rng.next() << 16;
                for i in 0..n {
                    let k = (base ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1 << 63;
                    map.insert(k, val(k));
                }
                for i in 0..n {
                    let k = (base ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1 << 63;
                    map.remove(&k);
                }
            }
        });
        // A flapper: keys of the stable keys' homes, in and out of their
        // overflow lists.
        s.spawn(|| {
            let mut rng = Rng(0x0bad_cafe_f00d_0001);
            while !stop.load(Ordering::Relaxed) {
                let k = (rng.below(4)) | ((1000 + rng.below(64)) << 30);
                map.insert(k, val(k));
                let k = (rng.below(4)) | ((1000 + rng.below(64)) << 30);
                map.remove(&k);
            }
        });
        let _stop = Stop(&stop);
        let started = std::time::Instant::now();
        let mut pass = 0usize;
        while started.elapsed() < std::time::Duration::from_millis(millis) {
            let kind = KINDS[pass % 4];
            pass += 1;
            let pinned = map.pin();
            let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
            for k in yields(&map, Some(&pinned), kind) {
                *seen.entry(k).or_default() += 1;
            }
            for (k, n) in &seen {
                assert_eq!(*n, 1, "pass {pass} ({kind:?}): key {k} yielded {n} times");
            }
            for k in &stable {
                assert_eq!(
                    seen.get(k),
                    Some(&1),
                    "pass {pass} ({kind:?}): stable key {k}"
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!("H {H}, min {min}: {pass} passes");
    });
}

#[test]
fn concurrent_grow_and_shrink_by_more_than_64x_with_overflow_lists() {
    let millis = if DEBUG { 800 } else { 2500 };
    concurrent::<32>(1, millis);
    concurrent::<2>(4, millis);
    concurrent::<4>(16, millis);
}
