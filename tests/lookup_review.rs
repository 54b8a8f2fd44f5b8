//! Real-thread review of commit ad616e4: `HashMap` lookups claim and link
//! the bucket they reach (`Directory::lookup_start`), so after a growth
//! the readers themselves link the new buckets, racing each other, the
//! writers of those buckets, shrinks and regrowths of the table.
//!
//! Run with: `cargo test --locked --release --test lookup_review` (about a
//! second). Checks behaviour only (what every read answers, and the map at
//! rest), never timing.

use kovan_map::HashMap;
use std::sync::{Arc, Barrier};
use std::thread;

/// Keys present for the whole race (inserted before it, never written in
/// it), their values, and the keys that are never inserted.
const STABLE: u64 = 4000;
fn value_of(k: u64) -> u64 {
    k.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}
const ABSENT: u64 = 1 << 40;
/// Keys the churner inserts and removes.
const CHURN: u64 = 1 << 32;

/// Readers link the buckets of a table that grew under them while one
/// thread churns other keys (growing the table past its limits and
/// shrinking it with `shrink_to_fit` and by removals), so lookups link
/// dummies at stale sizes, larger and smaller, and race writers of the
/// same buckets and their parents. Every stable key must be found by every
/// lookup (`get`, `contains_key`, a `Pinned` handle's `get_key_value`),
/// absent keys never; at rest each stable key is iterated once and `len`
/// and `chain_stats` agree. Would catch: a lookup that starts from a dummy
/// it did not link (a stable key answered absent), two linkers of one
/// dummy (a walk that loops: the test hangs, or keys iterated twice or
/// lost), a shortcut answered at a claimed floor bucket (an absent answer
/// for a stable key), a lookup's link behind the keys of its bucket.
#[test]
fn lookups_that_link_race_growth_shrinks_and_writers_and_lose_no_key() {
    for round in 0..4 {
        let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::with_capacity(16));
        for k in 0..STABLE {
            map.insert(k, value_of(k));
        }
        // 8192 buckets after the inserts; reserved to 16384, whose upper
        // half is untouched (and most of the last doubling's too).
        map.reserve(4000);
        assert_eq!(map.capacity(), 16384);
        let start = Arc::new(Barrier::new(4));
        let mut handles = Vec::new();
        for reader in 0..3u64 {
            let (map, start) = (Arc::clone(&map), Arc::clone(&start));
            handles.push(thread::spawn(move || {
                start.wait();
                // Each reader walks the keys in its own order.
                for pass in 0..3u64 {
                    for i in 0..STABLE {
                        let k = (i * (2 * reader + 1) + pass * 977 + round) % STABLE;
                        match (reader + i) % 3 {
                            0 => assert_eq!(map.get(&k), Some(value_of(k)), "key {k} lost"),
                            1 => assert!(map.contains_key(&k), "key {k} lost"),
                            _ => {
                                let pinned = map.pin();
                                assert_eq!(
                                    pinned.get_key_value(&k),
                                    Some((&k, &value_of(k))),
                                    "key {k} lost"
                                );
                                let absent = ABSENT + k;
                                assert!(pinned.get(&absent).is_none(), "key {absent} invented");
                                // The first reference is still readable
                                // after a second lookup that may link.
                                assert_eq!(pinned.get(&k), Some(&value_of(k)));
                            }
                        }
                        assert!(
                            !map.contains_key(&(ABSENT + i)),
                            "key {} invented",
                            ABSENT + i
                        );
                    }
                }
            }));
        }
        {
            let (map, start) = (Arc::clone(&map), Arc::clone(&start));
            handles.push(thread::spawn(move || {
                start.wait();
                for wave in 0..4u64 {
                    // Enough churn keys to double the table to 32768, then
                    // remove them: the removals and shrink_to_fit halve it
                    // again, to 8192.
                    let n = 9000 + 1000 * (wave % 2);
                    for c in 0..n {
                        assert_eq!(map.insert(CHURN + c, c), None);
                    }
                    assert_eq!(map.capacity(), 32768, "the churn doubles the table");
                    for c in 0..n {
                        assert_eq!(map.get(&(CHURN + c)), Some(c), "churn key {c} lost");
                        assert_eq!(map.remove(&(CHURN + c)), Some(c));
                    }
                    map.shrink_to_fit();
                    assert_eq!(map.capacity(), 8192, "the removals and shrink halve it");
                }
            }));
        }
        for handle in handles {
            handle.join().expect("a thread failed");
        }
        let mut keys: Vec<u64> = map.keys().collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            (0..STABLE).collect::<Vec<_>>(),
            "each stable key iterated once"
        );
        assert_eq!(map.len(), STABLE as usize);
        let stats = map.chain_stats();
        assert_eq!(stats.entries, STABLE as usize, "{stats:?}");
        for k in 0..STABLE {
            assert_eq!(map.get(&k), Some(value_of(k)));
        }
    }
}

/// `clear` (&self) racing lookups that link: the readers look up keys of
/// buckets a growth left untouched while `clear` deletes along the list.
/// Every answer is the key's value or absent, a key once read absent stays
/// absent (nobody re-inserts), and at rest the map is empty. Would catch:
/// a clear that stops at a dummy a lookup linked into its run and leaves
/// the keys behind it, a deletion counted twice (len off), a walk that
/// loops over a dummy linked twice.
#[test]
fn clear_racing_lookups_that_link_empties_the_map() {
    for _ in 0..4 {
        let map: Arc<HashMap<u64, u64>> = Arc::new(HashMap::with_capacity(16));
        for k in 0..STABLE {
            map.insert(k, value_of(k));
        }
        map.reserve(4000);
        let start = Arc::new(Barrier::new(3));
        let mut handles = Vec::new();
        for reader in 0..2u64 {
            let (map, start) = (Arc::clone(&map), Arc::clone(&start));
            handles.push(thread::spawn(move || {
                start.wait();
                let mut gone = vec![false; STABLE as usize];
                for pass in 0..2 {
                    for i in 0..STABLE {
                        let k = if reader == 0 { i } else { STABLE - 1 - i };
                        match map.get(&k) {
                            Some(v) => {
                                assert_eq!(v, value_of(k));
                                assert!(!gone[k as usize], "key {k} came back (pass {pass})");
                            }
                            None => gone[k as usize] = true,
                        }
                    }
                }
            }));
        }
        {
            let (map, start) = (Arc::clone(&map), Arc::clone(&start));
            handles.push(thread::spawn(move || {
                start.wait();
                map.clear();
            }));
        }
        for handle in handles {
            handle.join().expect("a thread failed");
        }
        assert_eq!(map.len(), 0);
        assert_eq!(map.keys().count(), 0);
        assert_eq!(map.chain_stats().entries, 0);
        for k in 0..STABLE {
            assert_eq!(map.get(&k), None);
        }
    }
}
