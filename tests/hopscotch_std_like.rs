//! `HopscotchMap`'s std-like methods (those `HashMap` also has): `retain`,
//! `get_mut`, `iter_mut`, `reserve`, `shrink_to_fit`, `get_key_value` on the
//! map and on its `Pinned` handle. Each test checks answers and final
//! states, never timing; the comment of each says what it would catch.

mod common;

use common::{settle, Counted, DropLedger, FewHashes};
use kovan_map::HopscotchMap;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

/// The value every test stores under `key`.
fn value_of(key: u64) -> u64 {
    key.wrapping_mul(7) + 1
}

/// A hasher with fixed keys: the same table layout on every run, so the
/// resize that `mid_migration` leaves unfinished is the same every time.
type Fixed = BuildHasherDefault<DefaultHasher>;

/// A map of 3,073 keys whose migration from 4,096 into 8,192 slots is under
/// way and unfinished: the 3,073rd insert passed a load of 3/4, started the
/// migration, copied the 4 chunks a starter copies (of 16, 256 homes each)
/// and returned; no operation has helped since, so the root is still the
/// old table and 12 chunks are not copied.
fn mid_migration() -> HopscotchMap<u64, u64, Fixed> {
    let map = HopscotchMap::with_capacity_and_hasher(4096, Fixed::default());
    for i in 0..3_073 {
        map.insert(i, value_of(i));
    }
    assert_eq!(map.len(), 3_073);
    // The root is still the 4,096-slot table although the load is past 3/4:
    // only an unfinished migration leaves it so (a finished one moves the
    // root; an earlier growth would have left 8,192 slots or more).
    assert_eq!(
        map.capacity(),
        4096,
        "precondition: the setup no longer leaves a migration under way"
    );
    map
}

/// A map of neighbourhoods of 4 over `distinct` hashes (so most keys live
/// in overflow lists), holding the keys `0..keys` with their values.
fn overflowing(distinct: u64, keys: u64) -> HopscotchMap<u64, u64, FewHashes, 4> {
    let map = HopscotchMap::with_capacity_and_hasher(8, FewHashes::new(distinct));
    for i in 0..keys {
        map.insert(i, value_of(i));
    }
    map
}

// ---------------------------------------------------------------- get_mut

#[test]
fn get_mut_changes_the_value_in_place_and_answers_none_for_an_absent_key() {
    // Catches a get_mut that mutates a copy, or finds a key that is absent.
    let mut map = HopscotchMap::with_capacity(8);
    map.insert(String::from("a"), vec![1]);
    map.insert(String::from("b"), vec![2]);
    map.get_mut("a").unwrap().push(10);
    assert_eq!(map.get("a"), Some(vec![1, 10]));
    assert_eq!(map.get("b"), Some(vec![2]));
    assert!(map.get_mut("c").is_none());
    map.remove("b");
    assert!(map.get_mut("b").is_none(), "a removed key is absent");
    assert_eq!(map.len(), 1);
}

#[test]
fn get_mut_reaches_keys_in_overflow_lists() {
    // Two distinct hashes, neighbourhoods of 4: most keys live in overflow
    // lists. Catches a get_mut that looks only in the neighbourhood slots.
    let mut map = overflowing(2, 100);
    for i in 0..100 {
        *map.get_mut(&i).unwrap() += 1;
    }
    for i in 0..100 {
        assert_eq!(map.get(&i), Some(value_of(i) + 1), "key {i}");
    }
    assert!(map.get_mut(&100).is_none());
}

#[test]
fn get_mut_on_a_map_left_mid_migration_finishes_it_and_finds_every_key() {
    // Keys in copied chunks have frozen homes in the old root, the others
    // are only there: catches a get_mut that looks in the root alone (it
    // would miss the copied keys) or that leaves the migration unfinished
    // (its documented behaviour: capacity is the new table's afterwards).
    let mut map = mid_migration();
    *map.get_mut(&0).unwrap() += 1;
    assert_eq!(map.capacity(), 8192, "the migration was finished first");
    for i in 1..3_073 {
        *map.get_mut(&i).unwrap() += 1;
    }
    assert!(map.get_mut(&3_073).is_none());
    for i in 0..3_073 {
        assert_eq!(map.get(&i), Some(value_of(i) + 1), "key {i}");
    }
    assert_eq!(map.len(), 3_073);
}

// --------------------------------------------------------------- iter_mut

#[test]
fn iter_mut_yields_every_entry_once_and_its_changes_stick() {
    // Catches an entry yielded twice (it would be bumped twice) or missed.
    let mut map = HopscotchMap::with_capacity(4);
    for i in 0..500u64 {
        map.insert(i, value_of(i));
    }
    let mut seen = BTreeSet::new();
    for (key, value) in map.iter_mut() {
        assert!(seen.insert(*key), "key {key} yielded twice");
        assert_eq!(*value, value_of(*key));
        *value += 1;
    }
    assert_eq!(seen.len(), 500);
    for i in 0..500 {
        assert_eq!(map.get(&i), Some(value_of(i) + 1), "key {i}");
    }
    let mut empty: HopscotchMap<u64, u64> = HopscotchMap::new();
    assert_eq!(empty.iter_mut().count(), 0);
}

#[test]
fn iter_mut_yields_keys_in_overflow_lists_once() {
    // Overflow lists and neighbourhoods both hold keys of one home: catches
    // a walk that reads one of them twice or skips one.
    let mut map = overflowing(3, 200);
    for i in (0..200).step_by(3) {
        map.remove(&i);
    }
    let mut seen = BTreeSet::new();
    for (key, value) in map.iter_mut() {
        assert!(seen.insert(*key), "key {key} yielded twice");
        *value = 0;
    }
    let expected: BTreeSet<u64> = (0..200).filter(|i| i % 3 != 0).collect();
    assert_eq!(seen, expected);
    assert!(map.iter().all(|(_, value)| value == 0));
}

#[test]
fn iter_mut_on_a_map_left_mid_migration_yields_every_entry_once() {
    // Entries are in both tables until the migration ends: catches a walk
    // of the root alone (copied entries missed) or of both tables (an entry
    // yielded twice), and one that does not finish the migration first.
    let mut map = mid_migration();
    let mut seen = BTreeSet::new();
    for (key, value) in map.iter_mut() {
        assert!(seen.insert(*key), "key {key} yielded twice");
        assert_eq!(*value, value_of(*key));
        *value += 1;
    }
    assert_eq!(seen, (0..3_073).collect::<BTreeSet<u64>>());
    assert_eq!(map.capacity(), 8192, "the migration was finished first");
    for i in 0..3_073 {
        assert_eq!(map.get(&i), Some(value_of(i) + 1), "key {i}");
    }
}

// ---------------------------------------------------------- get_key_value

#[test]
fn get_key_value_answers_the_stored_key_and_its_value() {
    // The key is the stored one, found through a borrowed form: catches an
    // answer that echoes the query or pairs the key with a stale value.
    let map = HopscotchMap::with_capacity(8);
    map.insert(String::from("k"), 1);
    map.insert(String::from("k"), 2);
    assert_eq!(map.get_key_value("k"), Some((String::from("k"), 2)));
    assert_eq!(map.get_key_value("x"), None);
    {
        let pinned = map.pin();
        let (key, value) = pinned.get_key_value("k").unwrap();
        assert_eq!((key.as_str(), *value), ("k", 2));
        assert_eq!(pinned.get_key_value("x"), None);
    }
    map.remove("k");
    assert_eq!(map.get_key_value("k"), None);
    assert_eq!(map.pin().get_key_value("k"), None);
}

#[test]
fn get_key_value_follows_a_migration_under_way_and_overflow_lists() {
    // Mid-migration, copied keys are found through frozen homes in the new
    // table: catches a lookup that stops at the root.
    let map = mid_migration();
    for i in 0..3_073 {
        assert_eq!(map.get_key_value(&i), Some((i, value_of(i))), "key {i}");
        assert_eq!(map.pin().get_key_value(&i), Some((&i, &value_of(i))));
    }
    assert_eq!(map.get_key_value(&3_073), None);
    let few = overflowing(2, 50);
    for i in 0..50 {
        assert_eq!(few.pin().get_key_value(&i), Some((&i, &value_of(i))));
    }
}

// ----------------------------------------------------------------- retain

#[test]
fn retain_removes_exactly_the_refused_entries() {
    // Catches a retain that removes kept entries, keeps refused ones, or
    // passes `keep` the wrong value.
    let map = HopscotchMap::with_capacity(4);
    for i in 0..1_000u64 {
        map.insert(i, value_of(i));
    }
    let mut asked = BTreeSet::new();
    map.retain(|key, value| {
        assert_eq!(*value, value_of(*key));
        asked.insert(*key);
        key % 3 == 0
    });
    assert_eq!(asked.len(), 1_000, "keep was asked about every entry");
    for i in 0..1_000 {
        assert_eq!(map.get(&i), (i % 3 == 0).then(|| value_of(i)), "key {i}");
    }
    assert_eq!(map.len(), 334);
    assert_eq!(map.iter().count(), 334);
    map.retain(|_, _| false);
    assert!(map.is_empty());
    assert_eq!(
        map.capacity(),
        4,
        "its removals shrink the table as remove does"
    );
    map.retain(|_, _| panic!("an empty map asks nothing"));
}

#[test]
fn retain_needs_no_clone_and_drops_the_refused_values() {
    // Values that are not Clone (inserted through the pinned handle); the
    // refused ones are dropped once reclaimed, the kept ones live on.
    // Catches a retain that leaks a refused entry (unlinked, never
    // retired) or drops a kept one.
    struct NoClone(Counted);
    let ledger = DropLedger::new();
    let map = HopscotchMap::with_capacity(8);
    for i in 0..100u64 {
        map.pin().insert(i, NoClone(Counted::new(i, &ledger)));
    }
    map.retain(|key, value| {
        assert_eq!(value.0.value, *key);
        key % 2 == 0
    });
    assert_eq!(map.len(), 50);
    // Patience, not timing: retired entries are freed at kovan's pace.
    for _ in 0..10_000 {
        if ledger.live() == 50 {
            break;
        }
        kovan_map::flush();
        thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(ledger.live(), 50, "{ledger:?}");
    drop(map);
    settle(&ledger);
    assert_eq!(ledger.live(), 0, "{ledger:?}");
}

#[test]
#[should_panic(expected = "recursive update")]
fn retain_whose_keep_writes_to_the_map_panics() {
    // A write from inside `keep` would make the removal it races retry
    // forever; catches a retain that runs `keep` without the mark.
    let map = HopscotchMap::with_capacity(8);
    map.insert(1, 1);
    map.retain(|_, _| {
        map.insert(2, 2);
        true
    });
}

#[test]
fn retain_racing_a_writer_that_resizes_the_table_keeps_exactly_what_keep_says() {
    // 20,000 stable keys, of which `keep` keeps one in four; a writer on
    // another thread inserts and removes keys of its own (which `keep`
    // keeps). Twice, while retain is held inside `keep` (at its first call,
    // and at its 30,000th call on a stable key), the writer inserts keys
    // until the load passes 3/4 and stops: the insert that passed it
    // started a growth and copied only its first chunks, so retain resumes
    // with a migration under way (the writer checks that the root has not
    // moved). Then the writer removes its keys and churns freely until
    // retain returns (its removals shrink the table meanwhile). Catches a
    // retain that loses its place across a resize or skips the homes a
    // migration froze (a refused stable key left in the map), or that
    // removes a key `keep` kept (the writer's own removals check that).
    const STABLE: u64 = 20_000;
    const CHURN: u64 = 20_000;
    const FIRST_CHURN: u64 = 1_000_000;
    let map: Arc<HopscotchMap<u64, u64>> = Arc::new(HopscotchMap::with_capacity(64));
    for i in 0..STABLE {
        map.insert(i, value_of(i));
    }
    let (go, wait_go) = mpsc::channel::<()>();
    let (paused, wait_paused) = mpsc::channel::<bool>();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (map, stop) = (Arc::clone(&map), Arc::clone(&stop));
        thread::spawn(move || {
            // The writer's keys FIRST_CHURN..next are present.
            let mut next = FIRST_CHURN;
            for _ in 0..2 {
                if wait_go.recv().is_err() {
                    break;
                }
                // Retain waits inside `keep`: no other write is in flight,
                // so `len` and `capacity` are exact here.
                while map.len() * 4 <= map.capacity() * 3 {
                    assert_eq!(map.insert(next, value_of(next)), None);
                    next += 1;
                }
                // Still past 3/4 of the root's slots: the growth that the
                // last insert started has not moved the root yet.
                let _ = paused.send(map.len() * 4 > map.capacity() * 3);
            }
            for k in FIRST_CHURN..next {
                assert_eq!(map.remove(&k), Some(value_of(k)), "writer key {k}");
            }
            let mut round = 1;
            while !stop.load(Ordering::Relaxed) {
                for k in FIRST_CHURN..FIRST_CHURN + CHURN {
                    assert_eq!(map.insert(k, value_of(k) + round), None);
                }
                for k in FIRST_CHURN..FIRST_CHURN + CHURN {
                    assert_eq!(map.remove(&k), Some(value_of(k) + round), "writer key {k}");
                }
                round += 1;
            }
        })
    };
    let (mut calls, mut stable_calls) = (0u64, 0u64);
    let mut migrating = Vec::new();
    let pause = |migrating: &mut Vec<bool>| {
        go.send(()).unwrap();
        migrating.push(wait_paused.recv().expect("the writer answers"));
    };
    map.retain(|key, value| {
        calls += 1;
        if calls == 1 {
            pause(&mut migrating);
        }
        if *key >= FIRST_CHURN {
            return true;
        }
        stable_calls += 1;
        if stable_calls == 30_000 {
            pause(&mut migrating);
        }
        assert_eq!(*value, value_of(*key), "stable key {key}");
        key % 4 == 0
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    // Stable keys are asked about once, refused ones once more at their
    // removal: 20,000 + 15,000 calls on stable keys, so both pauses
    // happened.
    assert_eq!(
        migrating,
        [true, true],
        "retain resumed twice with a migration under way"
    );
    for i in 0..STABLE {
        assert_eq!(
            map.get(&i),
            (i % 4 == 0).then(|| value_of(i)),
            "stable key {i}"
        );
    }
    assert_eq!(map.len(), (STABLE / 4) as usize);
    assert_eq!(map.iter().count(), (STABLE / 4) as usize);
}

// ------------------------------------------------- reserve, shrink_to_fit

#[test]
fn reserve_then_inserting_that_many_keys_does_not_change_the_capacity() {
    // Catches a reserve that grows too little (an insert would resize) or
    // leaves its resize unfinished (capacity would still be the old one).
    for (present, additional) in [(0u64, 10_000u64), (500, 5_000), (3, 1)] {
        let map = HopscotchMap::with_capacity(64);
        for i in 0..present {
            map.insert(i, value_of(i));
        }
        map.reserve(additional as usize);
        let capacity = map.capacity();
        let want = (present + additional) as usize;
        assert!(capacity >= 2 * want, "{capacity} slots for {want} keys");
        for i in present..present + additional {
            map.insert(i, value_of(i));
            assert_eq!(map.capacity(), capacity, "resized at key {i}");
        }
        for i in 0..present + additional {
            assert_eq!(map.get(&i), Some(value_of(i)));
        }
    }
}

#[test]
fn reserve_never_shrinks_and_survives_an_impossible_request() {
    // Catches a reserve that resizes a table already big enough, and one
    // that panics or spins when the table cannot be allocated.
    let map = HopscotchMap::with_capacity(1 << 14);
    map.insert(1, 1);
    map.reserve(10);
    assert_eq!(map.capacity(), 1 << 14);
    map.reserve(usize::MAX);
    assert_eq!(map.capacity(), 1 << 14, "no table of MAX_CAPACITY slots");
    assert_eq!(map.get(&1), Some(1));
}

#[test]
fn reserve_and_shrink_to_fit_finish_a_migration_under_way() {
    // Both decide on the finished table: catches one that compares against
    // the old root while a migration is under way.
    let map = mid_migration();
    map.reserve(0);
    assert_eq!(map.capacity(), 8192);
    let map = mid_migration();
    map.shrink_to_fit();
    // 3,073 keys want 8,192 slots at load 1/2: the grown table stays.
    assert_eq!(map.capacity(), 8192);
    for i in 0..3_073 {
        assert_eq!(map.get(&i), Some(value_of(i)), "key {i}");
    }
}

#[test]
fn shrink_to_fit_after_removals_reduces_the_capacity_and_keeps_the_entries() {
    // Removals shrink only below a load of 1/4; shrink_to_fit goes on to a
    // load of 1/2. Catches a shrink_to_fit that does nothing, shrinks too
    // far (past what holds the keys) or loses entries in the copy.
    let map = HopscotchMap::with_capacity(64);
    for i in 0..10_000u64 {
        map.insert(i, value_of(i));
    }
    for i in 3_000..10_000 {
        map.remove(&i);
    }
    let before = map.capacity();
    map.shrink_to_fit();
    let after = map.capacity();
    assert_eq!(after, 8192, "3,000 keys at a load of at most 1/2");
    assert!(after < before, "{before} -> {after}");
    for i in 0..10_000 {
        assert_eq!(map.get(&i), (i < 3_000).then(|| value_of(i)), "key {i}");
    }
    assert_eq!(map.len(), 3_000);
    map.shrink_to_fit();
    assert_eq!(map.capacity(), 8192, "a second call changes nothing");
}

#[test]
fn shrink_to_fit_stops_at_the_capacity_the_map_was_made_with() {
    // Catches a shrink below the floor, and one that grows a full table.
    let map = HopscotchMap::with_capacity(256);
    map.reserve(5_000);
    assert!(map.capacity() >= 10_000);
    for i in 0..3 {
        map.insert(i, i);
    }
    map.shrink_to_fit();
    assert_eq!(map.capacity(), 256, "not 8: the floor");
    let full = HopscotchMap::with_capacity(64);
    for i in 0..40 {
        full.insert(i, i);
    }
    let capacity = full.capacity();
    full.shrink_to_fit();
    assert_eq!(full.capacity(), capacity, "shrink_to_fit never grows");
    let empty: HopscotchMap<u64, u64> = HopscotchMap::with_capacity(1 << 12);
    empty.shrink_to_fit();
    assert_eq!(empty.capacity(), 1 << 12);
}
