//! Adversarial review of `HashMap`'s lock-free growth (the split-ordered
//! list of commit 5a1c364 and the floor-bucket shortcut of c462da5): real
//! threads and single-thread edge cases that the other suites do not
//! build. Each test states what it would catch.

mod common;

use common::{at_rest, Identity};
use kovan_map::HashMap;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn shrink_and_regrow_cycles_lose_nothing_and_keep_chains_short() {
    // Would catch: a dummy of a bucket beyond the shrunk size that a
    // regrown table reaches in the wrong state, a stale-size read beyond a
    // segment, chains that grow with each cycle.
    let m: HashMap<u64, u64> = HashMap::with_capacity(4);
    for round in 0..6u64 {
        let n = 3000 + round * 500;
        for i in 0..n {
            assert_eq!(m.insert(i ^ (round << 32), i), None);
        }
        let keys = at_rest(&m);
        assert_eq!(keys.len() as u64, n);
        let stats = m.chain_stats();
        assert!(stats.buckets * 3 / 4 <= n as usize * 2, "{stats:?}");
        assert!(stats.longest_chain < 64, "round {round}: {stats:?}");
        for i in 0..n {
            assert_eq!(m.remove(&(i ^ (round << 32))), Some(i));
        }
        assert!(m.is_empty());
        assert_eq!(m.capacity(), 4, "shrinks back to its floor");
        assert_eq!(at_rest(&m), Vec::<u64>::new());
    }
}

#[test]
fn floor_shortcut_never_hides_a_present_key() {
    // The reader answers absent from the directory when the key's floor
    // bucket is untouched. Floor 64; only floor buckets 5 and 63 get keys,
    // at sizes up to 64 * 64. Every other key must read absent, every key
    // written present, also after growth made their buckets children.
    let m: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(64, Identity);
    let mut present = HashSet::new();
    for i in 0..3000u64 {
        let k = i * 64 + if i % 2 == 0 { 5 } else { 63 };
        m.insert(k, i);
        present.insert(k);
    }
    assert!(m.capacity() >= 4096);
    for k in 0..3000 * 64u64 {
        assert_eq!(m.get(&k).is_some(), present.contains(&k), "key {k}");
    }
    for k in present.iter().copied().filter(|k| k % 128 == 5) {
        m.remove(&k);
    }
    for k in 0..3000 * 64u64 {
        let expect = present.contains(&k) && k % 128 != 5;
        assert_eq!(m.get(&k).is_some(), expect, "key {k}");
    }
    at_rest(&m);
}

#[test]
fn clear_then_reuse_then_into_iter() {
    // Would catch: clear leaving dummies or nodes a later insert trips on,
    // into_iter missing or duplicating an entry, Drop after into_iter
    // touching what drain reset.
    let m: HashMap<u64, u64> = HashMap::with_capacity(2);
    for i in 0..2000 {
        m.insert(i, i);
    }
    m.clear();
    assert!(m.is_empty());
    assert_eq!(m.capacity(), 2);
    assert_eq!(at_rest(&m), Vec::<u64>::new());
    for i in 1000..4000 {
        assert_eq!(m.insert(i, i + 1), None);
    }
    for i in 1000..2000 {
        assert_eq!(m.insert(i, i + 2), Some(i + 1));
    }
    assert_eq!(at_rest(&m).len(), 3000);
    let mut entries: Vec<(u64, u64)> = m.into_iter().collect();
    entries.sort_unstable();
    assert_eq!(entries.len(), 3000);
    for (j, &(k, v)) in entries.iter().enumerate() {
        let k_expected = 1000 + j as u64;
        assert_eq!(k, k_expected);
        assert_eq!(v, if k < 2000 { k + 2 } else { k + 1 });
    }
}

/// A value that counts its clones and drops (`.0`: drops, `.1`: clones).
struct Tracked(Arc<(AtomicUsize, AtomicUsize)>, #[allow(dead_code)] u64);
impl Drop for Tracked {
    fn drop(&mut self) {
        (self.0).0.fetch_add(1, Ordering::SeqCst);
    }
}
impl Clone for Tracked {
    fn clone(&self) -> Self {
        (self.0).1.fetch_add(1, Ordering::SeqCst);
        Tracked(Arc::clone(&self.0), self.1)
    }
}

#[test]
fn a_grown_map_drops_every_value_once() {
    // Would catch: Drop or into_iter freeing a node twice (a dead node that
    // drain also reaches through a dummy) or a value dropped twice.
    let ledger = Arc::new((AtomicUsize::new(0), AtomicUsize::new(0)));
    let drops = || ledger.0.load(Ordering::SeqCst);
    let clones = || ledger.1.load(Ordering::SeqCst);
    let m: HashMap<u64, Tracked> = HashMap::with_capacity(1);
    for i in 0..5000 {
        assert!(m
            .insert_if_absent(i, Tracked(Arc::clone(&ledger), i))
            .is_none());
    }
    for i in 0..1000 {
        drop(m.force_remove(&i).expect("present"));
    }
    assert_eq!(m.len(), 4000);
    assert!(
        drops() <= 1000 + clones(),
        "{} drops: a double drop",
        drops()
    );
    let entries: Vec<_> = m.into_iter().collect();
    assert_eq!(entries.len(), 4000);
    drop(entries);
    kovan_map::flush();
    let (d, c) = (drops(), clones());
    assert!(
        d <= 5000 + c,
        "{d} drops of {} values: a double drop",
        5000 + c
    );
    assert!(
        d >= 4000 + c,
        "{d} drops: the moved-out entries and the clones"
    );
}

fn threads() -> usize {
    thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, 4)
}

#[test]
fn stable_keys_stay_visible_while_the_table_grows_and_shrinks() {
    // Two writers churn 4096 keys in and out (the table doubles to 8192
    // buckets and halves back to its floor of 2, again and again, linking
    // dummies lazily); a replacer rewrites the 16 stable keys; a reader
    // gets them (never absent) and iterates (each stable key once, no key
    // twice). Would catch: a lost or duplicate key across a resize, a get
    // that sees absence during a replacement, an iteration that restarts
    // from a dummy and repeats keys.
    let m: Arc<HashMap<u64, u64>> = Arc::new(HashMap::with_capacity(2));
    const STABLE: u64 = 16;
    for k in 0..STABLE {
        m.insert(k, 0);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_millis(2500);
    let mut handles = Vec::new();
    for t in 0..threads().max(2) as u64 - 1 {
        let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
        handles.push(thread::spawn(move || {
            let base = 1_000_000 * (t + 1);
            while !stop.load(Ordering::Relaxed) {
                for i in 0..2048 {
                    m.insert(base + i, i);
                }
                for i in 0..2048 {
                    assert_eq!(m.remove(&(base + i)), Some(i), "churn key lost");
                }
            }
            kovan_map::flush();
        }));
    }
    {
        let (m, stop) = (Arc::clone(&m), Arc::clone(&stop));
        handles.push(thread::spawn(move || {
            let mut v = 0;
            while !stop.load(Ordering::Relaxed) {
                v += 1;
                for k in 0..STABLE {
                    assert!(m.insert(k, v).is_some(), "stable key {k} absent at replace");
                }
            }
            kovan_map::flush();
        }));
    }
    let mut iterations = 0;
    while Instant::now() < deadline {
        for k in 0..STABLE {
            assert!(m.get(&k).is_some(), "stable key {k} read absent");
        }
        let mut seen = HashSet::new();
        for (k, _) in m.iter() {
            assert!(seen.insert(k), "key {k} iterated twice");
        }
        for k in 0..STABLE {
            assert!(seen.contains(&k), "stable key {k} not iterated");
        }
        iterations += 1;
    }
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    assert!(iterations > 0);
    let keys = at_rest(&m);
    assert_eq!(keys, (0..STABLE).collect::<Vec<_>>());
    // 16 keys keep 64 buckets (16 is not below 64 / 4); the removals'
    // stripe pre-filter may leave it a step or two above that.
    assert!(
        m.capacity() <= 256,
        "capacity {} after the churn",
        m.capacity()
    );
}

#[test]
fn the_table_doubles_when_an_insert_takes_it_past_three_quarters() {
    // HashMap::capacity's doc: "It doubles when an insert takes the map
    // past 3/4 entries per bucket". The check first filters on the
    // inserting key's counter stripe (stripe count * 16 > limit). Keys are
    // their own hash; the stripe is hash bits 2..5 (split-order key bits
    // 58..61). 768 keys of stripe 0 fill a 1024-bucket map to its limit;
    // then 45 keys in each of the 15 other stripes: each such insert sees
    // its own stripe at most 45 * 16 = 720 <= 768 and skips the exact sum.
    let m: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(1024, Identity);
    let key = |stripe: u64, i: u64| (i & 3) | (stripe << 2) | ((i >> 2) << 6);
    for i in 0..768 {
        m.insert(key(0, i), i);
    }
    assert_eq!(m.capacity(), 1024);
    for stripe in 1..16 {
        for i in 0..45 {
            m.insert(key(stripe, i), i);
        }
    }
    let len = m.len();
    assert_eq!(len, 768 + 15 * 45);
    assert!(
        m.capacity() > 1024,
        "{len} entries in {} buckets (load {:.2}): no doubling past 3/4",
        m.capacity(),
        len as f64 / m.capacity() as f64
    );
}

#[test]
fn the_table_halves_when_a_removal_takes_it_below_one_quarter() {
    // HashMap::capacity's doc: "halves when a removal takes it below 1/4".
    // The removal's check first filters on the removed key's stripe
    // (stripe count * 16 < size / 4). 1024 keys of stripe 0 grow a floor-64
    // map to 2048 buckets; removing 1000 of them leaves 24 entries (load
    // 0.02). It halves once, to 1024; from then on every removal sees its
    // stripe (all the keys) at >= 24 * 16 = 384 >= 1024 / 4 and skips the
    // exact sum, so the table stays at 1024. (Keys that are aligned
    // addresses under an identity hasher all sit in stripe 0 like this.)
    let m: HashMap<u64, u64, Identity> = HashMap::with_capacity_and_hasher(64, Identity);
    let key = |i: u64| (i & 3) | ((i >> 2) << 6); // stripe 0 (hash bits 2..5 clear)
    for i in 0..1024 {
        m.insert(key(i), i);
    }
    let grown = m.capacity();
    assert!(grown >= 1024, "grew to {grown}");
    for i in 0..1000 {
        assert_eq!(m.remove(&key(i)), Some(i));
    }
    let len = m.len();
    assert_eq!(len, 24);
    assert!(
        m.capacity() <= 4 * len.next_power_of_two(),
        "{len} entries in {} buckets (load {:.3}): no halving below 1/4",
        m.capacity(),
        len as f64 / m.capacity() as f64
    );
}
