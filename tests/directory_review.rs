//! Adversarial review of `HashMap`'s packed bucket directory (commit
//! cbe06b0): an 8-byte link a bucket, two state bits a bucket packed 32 to a
//! 64-bit word, and list words that name a dummy by its bucket *index*.
//! Real threads and single-thread edge cases aimed at the new layout: the
//! state bits at offsets 0, 1, 30, 31 of a word and at the word and segment
//! boundaries, segments of fewer than 32 buckets, index 0, the reset path
//! (`Drop`, `into_iter`) after growth and shrinkage, hashes at the extremes,
//! and (with `rayon`) the parallel cursors. Each test states what it would
//! catch.
//!
//! `Identity` hashes a key to itself, so key `k` lives in bucket
//! `k & (capacity - 1)` and the buckets a test touches are chosen by hand.

mod common;

use common::{at_rest, Identity, Rng};
use kovan_map::HashMap;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

type Map = HashMap<u64, u64, Identity>;

/// The bucket whose dummy precedes `b`'s: `b` without its highest set bit.
fn parent(b: u64) -> u64 {
    b & !(1u64 << (63 - b.leading_zeros()))
}

/// `b` and all its ancestors down to 0: the buckets a writer of bucket `b`
/// leaves linked (at rest) when none was linked before.
fn chain(b: u64) -> Vec<u64> {
    let mut out = vec![b];
    let mut b = b;
    while b != 0 {
        b = parent(b);
        out.push(b);
    }
    out
}

/// The buckets at the edges of state words and segments below `size`
/// (a power of two) for a map of floor `floor`: offsets 0, 1, 30, 31, 32,
/// 33 and the last two of every segment, and the first and last bucket.
fn edge_buckets(floor: u64, size: u64) -> BTreeSet<u64> {
    let mut segments = vec![(0, floor)];
    let mut start = floor;
    while start < size {
        segments.push((start, start));
        start *= 2;
    }
    let mut out = BTreeSet::new();
    for (start, len) in segments {
        for off in [0, 1, 30, 31, 32, 33, 63, 64, len.wrapping_sub(2), len - 1] {
            if off < len && start + off < size {
                out.insert(start + off);
            }
        }
    }
    out
}

#[test]
fn edge_buckets_of_every_segment_link_exactly_their_chains() {
    // Would catch: a bucket's two bits at the wrong shift (offset 31 is bits
    // 62 and 63 of its word, offset 32 bit 0 of the next), state words of a
    // segment of fewer than 32 buckets laid over its links, a segment or
    // offset computed wrong at a boundary (a bucket reading a neighbour's
    // `LINKED`, so a writer links its node after a dummy that is not in the
    // list: the key is then missing from iteration and `chain_stats`, and
    // the linked count below is off). Floors 1, 2 and 16 make segments of 1,
    // 2, 4, 8 and 16 buckets; 32, 64 and 128 put several words in segment 0.
    for floor in [1u64, 2, 4, 16, 32, 64, 128] {
        let m = Map::with_capacity_and_hasher(floor as usize, Identity);
        m.reserve(3000);
        let size = m.capacity() as u64;
        assert_eq!(size, 4096, "floor {floor}");
        let edges = edge_buckets(floor, size);
        let mut linked = BTreeSet::new();
        for &b in &edges {
            assert_eq!(m.insert(b, b), None);
            linked.extend(chain(b));
            let stats = m.chain_stats();
            assert_eq!(
                stats.linked_buckets,
                linked.len(),
                "floor {floor}, after bucket {b}: {stats:?}"
            );
        }
        assert_eq!(m.capacity() as u64, size, "no growth yet");
        assert_eq!(at_rest(&m), edges.iter().copied().collect::<Vec<_>>());
        // Now every bucket (the neighbours of the edges included): each
        // key still in its own bucket, one node between two dummies.
        let mut order: Vec<u64> = (0..size).collect();
        let mut rng = Rng(0x9E37_79B9 ^ floor);
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next() % (i as u64 + 1)) as usize);
        }
        for k in order {
            m.insert(k, k);
        }
        let stats = m.chain_stats();
        assert_eq!(
            stats.linked_buckets, size as usize,
            "floor {floor}: {stats:?}"
        );
        assert_eq!(stats.longest_chain, 1, "floor {floor}: {stats:?}");
        assert_eq!(at_rest(&m), (0..size).collect::<Vec<_>>());
    }
}

#[test]
fn shrink_to_the_floor_then_regrow_reuses_the_linked_dummies() {
    // Would catch: a shrink that resets or forgets bucket state (the
    // dummies above the new size stay linked in the list, and a regrown
    // table must find them linked: claiming one again links it twice, a
    // key iterated twice or a cycle), a reader with the shrunk size that
    // starts beyond it, index words of high buckets resolved through the
    // wrong segment after the size fell below them.
    for floor in [1u64, 2, 16, 64] {
        let m = Map::with_capacity_and_hasher(floor as usize, Identity);
        let n = 5000u64;
        for k in 0..n {
            m.insert(k, k);
        }
        let grown = m.capacity();
        let linked = m.chain_stats().linked_buckets;
        for k in 0..n {
            assert_eq!(m.remove(&k), Some(k));
        }
        assert_eq!(m.capacity() as u64, floor, "shrunk to the floor");
        let stats = m.chain_stats();
        assert_eq!(stats.entries, 0);
        assert_eq!(stats.linked_buckets, linked, "dummies stay linked");
        for k in 0..n {
            assert_eq!(m.get(&k), None);
        }
        // Regrow with keys landing in the old buckets and beyond them.
        for round in 0..3u64 {
            for k in 0..n {
                m.insert(k + round * grown as u64, k);
            }
            let keys = at_rest(&m);
            assert_eq!(keys.len() as u64, n * (round + 1));
            let stats = m.chain_stats();
            assert!(stats.linked_buckets >= linked, "{stats:?}");
        }
        for round in 0..3u64 {
            for k in 0..n {
                assert_eq!(m.remove(&(k + round * grown as u64)), Some(k));
            }
        }
        assert_eq!(m.capacity() as u64, floor);
        assert!(at_rest(&m).is_empty());
    }
}

#[test]
fn keys_of_bucket_zero_and_extreme_hashes_are_kept_apart() {
    // Would catch: index 0 with the DUMMY tag taken for a null word (a walk
    // that meets bucket 0's word would stop: bucket 0 must never be a link
    // target), hashes whose top bit is lost to the parity bit (0 and 2^63
    // share a split-order key) confused, the last bucket of a large table
    // (all index bits set) resolved wrong.
    let m = Map::with_capacity_and_hasher(2, Identity);
    let extremes = [
        0u64,
        1 << 63,
        1,
        (1 << 63) | 1,
        u64::MAX,
        u64::MAX >> 1,
        u64::MAX - 1,
        1 << 32,
        (1 << 32) - 1,
    ];
    for &k in &extremes {
        assert_eq!(m.insert(k, k), None);
    }
    m.reserve(70_000);
    for &k in &extremes {
        assert_eq!(m.get(&k), Some(k), "key {k:#x}");
    }
    // The last buckets of the table now (every index bit set).
    let size = m.capacity() as u64;
    for k in [size - 1, size - 2, size / 2 - 1, size / 2] {
        m.insert(k, k);
    }
    let keys = at_rest(&m);
    assert_eq!(keys.len(), extremes.len() + 4);
    assert_eq!(m.remove(&(1 << 63)), Some(1 << 63));
    assert_eq!(m.get(&0), Some(0));
    assert_eq!(m.remove(&0), Some(0));
    assert_eq!(m.get(&(1 << 63)), None);
    assert_eq!(m.get(&((1 << 63) | 1)), Some((1 << 63) | 1));
    at_rest(&m);
}

#[test]
fn writers_on_neighbouring_bits_of_one_state_word_race_while_the_table_grows() {
    // Would catch: a claim or link that loses a neighbour's bits (a store,
    // or an RMW computed from a stale load, in place of `fetch_or`), two
    // winners of one claim (a dummy linked twice), a thread that sees a
    // bucket `LINKED` before its dummy is in the list (its node then hangs
    // off a dummy no walk reaches). Two writers take alternate keys, so the
    // two bits of neighbouring buckets of every state word are set by
    // different threads, from a floor of 1 while the table doubles through
    // every segment; a third thread reads keys the writers published.
    const N: u64 = 40_000;
    for round in 0..3u64 {
        let m = Arc::new(Map::with_capacity_and_hasher(1, Identity));
        let published = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
        let writers: Vec<_> = (0..2u64)
            .map(|t| {
                let (m, published) = (Arc::clone(&m), Arc::clone(&published));
                thread::spawn(move || {
                    let mut k = t;
                    while k < N {
                        assert_eq!(m.insert(k, k + round), None);
                        assert_eq!(m.get(&k), Some(k + round), "own key {k}");
                        // Release: the reader that acquires this sees the
                        // insert completed.
                        published[t as usize].store(k + 1, Ordering::Release);
                        k += 2;
                    }
                })
            })
            .collect();
        let reader = {
            let (m, published) = (Arc::clone(&m), Arc::clone(&published));
            thread::spawn(move || {
                let mut checked = [0u64; 2];
                while checked[0] < N - 1 || checked[1] < N {
                    for t in 0..2u64 {
                        let upto = published[t as usize].load(Ordering::Acquire);
                        let mut k = checked[t as usize].max(t);
                        while k < upto {
                            assert_eq!(m.get(&k), Some(k + round), "published key {k}");
                            k += 2;
                        }
                        checked[t as usize] = k.max(checked[t as usize]);
                    }
                    thread::yield_now();
                }
            })
        };
        for w in writers {
            w.join().unwrap();
        }
        reader.join().unwrap();
        assert_eq!(at_rest(&m), (0..N).collect::<Vec<_>>());
        let stats = m.chain_stats();
        assert!(stats.linked_buckets <= m.capacity(), "{stats:?}");
    }
}

#[test]
fn concurrent_shrink_and_regrow_keep_every_stable_key() {
    // Would catch: a reader or writer holding a larger, older size (after a
    // shrink) that starts from a bucket whose segment or state it resolves
    // wrong, a regrowth that claims a bucket whose dummy is still linked,
    // a stable key lost while the table halves and doubles under it. One
    // thread fills and empties a key range (the table grows and shrinks
    // between floor 4 and thousands of buckets), the other checks the
    // stable keys and inserts and removes its own.
    const STABLE: u64 = 64;
    let m = Arc::new(Map::with_capacity_and_hasher(4, Identity));
    for k in 0..STABLE {
        m.insert(k * 4096 + 7, k);
    }
    let churn = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            for round in 0..20u64 {
                let base = 1 << 20;
                for k in 0..3000 {
                    m.insert(base + k * 3 + round, k);
                }
                for k in 0..3000 {
                    assert_eq!(m.remove(&(base + k * 3 + round)), Some(k));
                }
            }
        })
    };
    let checker = {
        let m = Arc::clone(&m);
        thread::spawn(move || {
            let mut rng = Rng(0x1234_5678);
            for i in 0..60_000u64 {
                let k = rng.next() % STABLE;
                assert_eq!(m.get(&(k * 4096 + 7)), Some(k), "stable key {k}");
                let own = (1 << 40) + (i % 500);
                if i % 1000 < 500 {
                    m.insert(own, i);
                    assert!(m.get(&own).is_some());
                } else {
                    m.remove(&own);
                    assert_eq!(m.get(&own), None);
                }
            }
        })
    };
    churn.join().unwrap();
    checker.join().unwrap();
    let keys = at_rest(&m);
    for k in 0..STABLE {
        assert!(keys.contains(&(k * 4096 + 7)));
    }
}

#[test]
fn into_iter_and_drop_after_growth_and_shrinkage_free_every_entry_once() {
    // Would catch: the reset path (`drain` from `into_iter` and `Drop`,
    // `Directory::reset` with `fetch_and`) skipping a dummy or a node of a
    // bucket beyond the current size (a leak: the `Arc` count stays up),
    // taking a node twice (a double drop: the count goes below 1 or the
    // process aborts), or treating a dummy word as a node (a lost `DUMMY`
    // tag: a crash). The map is drained at a size below the buckets it
    // linked, so the walk meets dummies above the size.
    // `token` is held only by entries still live when the map is drained
    // or dropped (the reset path moves or drops those itself); `junk` by
    // the ones removed or replaced before, which the reclaimer frees in
    // its own time, so its count is not checked.
    let (token, junk) = (Arc::new(()), Arc::new(()));
    for floor in [1usize, 2, 32] {
        let m: HashMap<u64, Arc<()>, Identity> = HashMap::with_capacity_and_hasher(floor, Identity);
        for k in 0..4000u64 {
            m.insert(k, Arc::clone(&junk));
        }
        for k in 0..3900u64 {
            m.remove(&k);
        }
        assert!(m.capacity() < 4096, "shrunk: {}", m.capacity());
        // Replacements: the old nodes are dead, maybe still linked.
        for k in 3900..4000u64 {
            m.insert(k, Arc::clone(&token));
        }
        let entries: Vec<(u64, Arc<()>)> = m.into_iter().collect();
        let mut keys: Vec<u64> = entries.iter().map(|(k, _)| *k).collect();
        keys.sort_unstable();
        assert_eq!(keys, (3900..4000).collect::<Vec<_>>());
        assert!(entries.iter().all(|(_, v)| Arc::ptr_eq(v, &token)));
        drop(entries);
        assert_eq!(Arc::strong_count(&token), 1, "into_iter kept an entry");
        // Drop of a map that still holds entries, above and below its size.
        let m: HashMap<u64, Arc<()>, Identity> = HashMap::with_capacity_and_hasher(floor, Identity);
        for k in 0..2000u64 {
            let v = if k < 1990 { &junk } else { &token };
            m.insert(k * 7, Arc::clone(v));
        }
        for k in 0..1990u64 {
            m.remove(&(k * 7));
        }
        drop(m);
        assert_eq!(Arc::strong_count(&token), 1, "drop leaked a live entry");
    }
}

#[test]
fn clear_and_retain_on_a_grown_then_shrunk_map_then_reuse() {
    // Would catch: `clear` (which starts each pass from a dummy it
    // re-resolves by index) stopping at or skipping a dummy above the
    // current size, `retain`'s iteration resume points (dummies named by
    // index) resolving to the wrong bucket, a map that cannot be used
    // again afterwards.
    let m = Map::with_capacity_and_hasher(2, Identity);
    for round in 0..3u64 {
        for k in 0..5000u64 {
            m.insert(k * 3 + round, k);
        }
        m.retain(|_, v| v % 3 == 0);
        let keys = at_rest(&m);
        assert_eq!(keys.len(), 1667, "round {round}");
        for k in keys {
            assert_eq!(m.get(&k).map(|v| v % 3), Some(0));
        }
        m.clear();
        assert!(at_rest(&m).is_empty());
        assert_eq!(m.capacity(), 2, "clear shrinks to the floor");
    }
    m.insert(5, 5);
    assert_eq!(at_rest(&m), vec![5]);
}

#[test]
fn iteration_across_many_batches_and_segments_yields_each_key_once() {
    // Would catch: an iteration batch that ends at a dummy and resumes from
    // another (the resume point is a bucket index, re-resolved through the
    // directory), a key visited twice or skipped at a batch edge, the
    // prefetch path (`peek` answering an index word as an address). Large
    // enough (and dense enough) that iteration prefetches ahead.
    let m = Map::with_capacity_and_hasher(1, Identity);
    let n = 200_000u64;
    for k in 0..n {
        m.insert(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20, k);
    }
    let mut seen: Vec<u64> = m.iter().map(|(k, _)| k).collect();
    let total = seen.len();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), total, "a key twice");
    assert_eq!(total, m.len());
    let pinned = m.pin();
    assert_eq!(pinned.iter().count(), total);
    drop(pinned);
    // Remove half and shrink, then iterate again.
    for k in 0..n / 2 {
        m.remove(&(k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20));
    }
    assert_eq!(at_rest(&m).len(), m.len());
}

#[cfg(feature = "rayon")]
#[test]
fn parallel_cursors_start_from_sparse_floor_buckets_and_see_every_key() {
    // Would catch: a parallel stretch whose first bucket is an untouched
    // floor bucket answered empty (`reader_start`'s shortcut) while a
    // descendant bucket of it holds keys, a cursor's resume point (a dummy
    // named by index) resolved wrong, stretches that overlap after a
    // shrink. Run with `--features rayon`.
    use rayon::prelude::*;
    for floor in [1usize, 4, 16, 64] {
        let m = Map::with_capacity_and_hasher(floor, Identity);
        m.reserve(4000);
        // Keys only in the buckets whose index has bit 5 set and are odd.
        let keys: Vec<u64> = (0..4096u64)
            .filter(|b| b & 0b10_0001 == 0b10_0001)
            .collect();
        for &k in &keys {
            m.insert(k, k);
        }
        let mut seen: Vec<u64> = m.par_iter().map(|(k, _)| k).collect();
        seen.sort_unstable();
        assert_eq!(seen, keys, "floor {floor}");
        for &k in &keys[..keys.len() - 3] {
            m.remove(&k);
        }
        let mut seen: Vec<u64> = m.par_iter().map(|(k, _)| k).collect();
        seen.sort_unstable();
        assert_eq!(
            seen,
            keys[keys.len() - 3..].to_vec(),
            "floor {floor}, shrunk"
        );
    }
}
