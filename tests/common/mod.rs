//! Test helpers shared by the integration suites: hashers that force
//! collisions, drop-counting values, and the API suite written once and
//! instantiated for every map.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// A hasher whose hash is the key's low bits modulo `buckets`: with a small
/// `buckets`, many keys share a hash, so chains and neighbourhoods fill up.
#[derive(Clone, Copy, Debug)]
pub struct FewHashes {
    pub distinct: u64,
}

impl FewHashes {
    pub fn new(distinct: u64) -> Self {
        Self { distinct }
    }
}

pub struct FewHasher {
    distinct: u64,
    state: u64,
}

impl Hasher for FewHasher {
    fn finish(&self) -> u64 {
        // Spread the few values over the whole word, so that both low bits
        // (bucket index) and high bits (counter stripes) collide.
        (self.state % self.distinct).wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.state = self.state.wrapping_mul(31).wrapping_add(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.state = self.state.wrapping_mul(31).wrapping_add(n);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
}

impl BuildHasher for FewHashes {
    type Hasher = FewHasher;
    fn build_hasher(&self) -> FewHasher {
        FewHasher {
            distinct: self.distinct.max(1),
            state: 0,
        }
    }
}

/// A key is its own hash: buckets, homes and counter stripes are chosen by
/// hand, and small key sets share buckets and homes. (The model suites have
/// the same hasher as `KeyIsHash` in `models/src/harness.rs`, which these
/// root tests cannot depend on.)
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

/// The hasher of [`Identity`].
#[derive(Debug)]
pub struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl BuildHasher for Identity {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

/// A small deterministic generator (xorshift64, shifts 13, 7, 17), one per
/// thread: seeded by the test, so a run's keys are the same every run.
/// The seed must not be 0.
#[derive(Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// The next number, reduced to `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// The text a panic carried (a `panic!` with a literal or with a format
/// string), or the empty string for any other payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Counts creations and drops of [`Counted`] values.
#[derive(Default, Debug)]
pub struct DropLedger {
    pub created: AtomicUsize,
    pub dropped: AtomicUsize,
}

impl DropLedger {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }
    pub fn live(&self) -> isize {
        self.created.load(Ordering::SeqCst) as isize - self.dropped.load(Ordering::SeqCst) as isize
    }
}

/// A value that records its creation and its drop in a ledger.
#[derive(Debug)]
pub struct Counted {
    pub value: u64,
    ledger: Arc<DropLedger>,
}

impl Counted {
    pub fn new(value: u64, ledger: &Arc<DropLedger>) -> Self {
        ledger.created.fetch_add(1, Ordering::SeqCst);
        Self {
            value,
            ledger: Arc::clone(ledger),
        }
    }
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        Self::new(self.value, &self.ledger)
    }
}

impl PartialEq for Counted {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}
impl Eq for Counted {}
impl std::hash::Hash for Counted {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.ledger.dropped.fetch_add(1, Ordering::SeqCst);
    }
}

/// The API suite, instantiated once per map type: `api_suite!(Map);` inside
/// a module. `Map` must offer `with_capacity` and
/// `with_capacity_and_hasher` with kovan-map's signatures.
#[macro_export]
macro_rules! api_suite {
    ($Map:ident) => {
        use std::collections::BTreeMap;
        use $crate::common::{Counted, DropLedger, FewHashes};

        fn small() -> $Map<u64, u64> {
            $Map::with_capacity(64)
        }

        #[test]
        fn insert_then_get_sees_the_value() {
            let map = small();
            assert_eq!(map.insert(1, 10), None);
            assert_eq!(map.get(&1), Some(10));
            assert!(map.contains_key(&1));
            assert!(!map.contains_key(&2));
            assert_eq!(map.get(&2), None);
        }

        #[test]
        fn insert_over_a_present_key_returns_the_old_value() {
            let map = small();
            map.insert(1, 10);
            assert_eq!(map.insert(1, 11), Some(10));
            assert_eq!(map.get(&1), Some(11));
            assert_eq!(map.len(), 1);
        }

        #[test]
        fn remove_then_get_sees_absence() {
            let map = small();
            map.insert(7, 70);
            assert_eq!(map.remove(&7), Some(70));
            assert_eq!(map.get(&7), None);
            assert_eq!(map.remove(&7), None);
            assert!(map.is_empty());
        }

        #[test]
        fn force_remove_removes_the_key() {
            let map = small();
            map.insert(7, 70);
            assert_eq!(map.force_remove(&7), Some(70));
            assert_eq!(map.force_remove(&7), None);
        }

        #[test]
        fn insert_if_absent_keeps_the_first_value() {
            let map = small();
            assert_eq!(map.insert_if_absent(1, 10), None);
            assert_eq!(map.insert_if_absent(1, 20), Some(10));
            assert_eq!(map.get(&1), Some(10));
        }

        #[test]
        fn get_or_insert_returns_present_or_inserted() {
            let map = small();
            assert_eq!(map.get_or_insert(1, 10), 10);
            assert_eq!(map.get_or_insert(1, 20), 10);
            let mut calls = 0;
            assert_eq!(
                map.get_or_insert_with(2, || {
                    calls += 1;
                    30
                }),
                30
            );
            assert_eq!(map.get_or_insert_with(2, || unreachable!("present")), 30);
            assert_eq!(calls, 1);
        }

        #[test]
        fn conditional_removal_checks_the_value() {
            let map = small();
            map.insert(1, 10);
            assert_eq!(map.remove_if(&2, |_| true), None);
            assert_eq!(map.remove_if(&1, |v| *v > 10), None);
            assert_eq!(map.get(&1), Some(10));
            assert_eq!(map.compare_and_remove(&1, &11), None);
            assert_eq!(map.compare_and_remove(&1, &10), Some(10));
            assert_eq!(map.get(&1), None);
        }

        #[test]
        fn conditional_replacement_never_inserts() {
            let map = small();
            assert_eq!(map.replace_if(1, 20, |_| true), Err(None));
            assert_eq!(map.get(&1), None);
            map.insert(1, 10);
            assert_eq!(map.replace_if(1, 20, |v| *v > 10), Err(Some(10)));
            assert_eq!(map.replace_if(1, 20, |v| *v == 10), Ok(10));
            assert_eq!(map.compare_and_swap(1, &10, 30), Err(Some(20)));
            assert_eq!(map.compare_and_swap(1, &20, 30), Ok(20));
            assert_eq!(map.compare_and_swap(2, &20, 30), Err(None));
            assert_eq!(map.get(&1), Some(30));
        }

        #[test]
        fn compute_inserts_updates_and_removes() {
            let map = small();
            let bump = |seen: Option<&u64>| Some(seen.map_or(1, |n| n + 1));
            assert_eq!(map.compute(5, bump), Some(1));
            assert_eq!(map.compute(5, bump), Some(2));
            assert_eq!(map.get(&5), Some(2));
            assert_eq!(map.compute(5, |_| None), None);
            assert_eq!(map.get(&5), None);
            assert_eq!(map.compute(5, |_| None), None);
            assert_eq!(map.len(), 0);
        }

        #[test]
        fn borrowed_lookups_work_with_str_keys() {
            let map: $Map<String, u64> = $Map::with_capacity(16);
            map.insert("alpha".to_string(), 1);
            assert_eq!(map.get("alpha"), Some(1));
            assert!(map.contains_key("alpha"));
            assert_eq!(map.remove("alpha"), Some(1));
        }

        #[test]
        fn get_ref_borrows_without_cloning() {
            let map: $Map<u64, Vec<u8>> = $Map::with_capacity(16);
            map.insert(1, vec![7; 4096]);
            let guard = map.pin();
            let value = map.get_ref(&1, &guard).expect("present");
            // A concurrent-style removal does not invalidate the borrow.
            assert_eq!(map.remove(&1).map(|v| v.len()), Some(4096));
            assert_eq!(value.len(), 4096);
            assert!(map.get_ref(&1, &guard).is_none());
        }

        #[test]
        fn len_counts_distinct_keys() {
            let map = small();
            for i in 0..1000 {
                map.insert(i % 300, i);
            }
            assert_eq!(map.len(), 300);
            for i in 0..100 {
                map.remove(&i);
            }
            assert_eq!(map.len(), 200);
        }

        #[test]
        fn colliding_hashes_keep_every_key() {
            let map: $Map<u64, u64, FewHashes> =
                $Map::with_capacity_and_hasher(64, FewHashes::new(1));
            for i in 0..500 {
                assert_eq!(map.insert(i, i * 3), None);
            }
            for i in 0..500 {
                assert_eq!(map.get(&i), Some(i * 3));
            }
            for i in (0..500).step_by(2) {
                assert_eq!(map.remove(&i), Some(i * 3));
            }
            for i in 0..500 {
                assert_eq!(map.get(&i), if i % 2 == 0 { None } else { Some(i * 3) });
            }
            assert_eq!(map.len(), 250);
        }

        #[test]
        fn iteration_yields_each_entry_once() {
            let map = small();
            for i in 0..777 {
                map.insert(i, i + 1);
            }
            let seen: BTreeMap<u64, u64> = map.iter().collect();
            assert_eq!(seen.len(), 777);
            assert!(seen.iter().all(|(k, v)| *v == k + 1));
            assert_eq!(map.keys().count(), 777);
            assert_eq!(
                map.values().map(|v| v as u128).sum::<u128>(),
                (1..=777u128).sum()
            );
            assert_eq!((&map).into_iter().count(), 777);
        }

        #[test]
        fn clear_empties_the_map() {
            let map = small();
            for i in 0..500 {
                map.insert(i, i);
            }
            map.clear();
            assert!(map.is_empty());
            assert_eq!(map.iter().count(), 0);
            map.insert(1, 1);
            assert_eq!(map.get(&1), Some(1));
        }

        #[test]
        fn std_traits_work() {
            let map: $Map<u64, u64> = (0..100).map(|i| (i, i * i)).collect();
            assert_eq!(map.len(), 100);
            assert_eq!(map.get(&9), Some(81));
            let mut more: $Map<u64, u64> = $Map::default();
            Extend::extend(&mut more, vec![(1, 1), (2, 4)]);
            Extend::extend(&mut more, [(&3, &9)]);
            assert_eq!(more.len(), 3);
            more.extend(vec![(4, 16)]);
            assert_eq!(more.get(&4), Some(16));
            let copy = more.clone();
            assert!(copy == more);
            let text = format!("{:?}", copy);
            assert!(text.contains("3: 9"), "{text}");
            let mut owned: Vec<(u64, u64)> = copy.into_iter().collect();
            owned.sort();
            assert_eq!(owned, vec![(1, 1), (2, 4), (3, 9), (4, 16)]);
        }

        #[test]
        fn capacity_errors_are_reported() {
            assert!($Map::<u64, u64>::try_with_capacity(usize::MAX).is_err());
            let err = $Map::<u64, u64>::try_with_capacity(usize::MAX)
                .err()
                .unwrap();
            assert!(err.to_string().contains("capacity"), "{err}");
            assert!($Map::<u64, u64>::try_with_capacity(0).is_ok());
        }

        #[test]
        fn hashers_are_seeded_per_map() {
            use std::hash::BuildHasher;
            let a: $Map<u64, u64> = $Map::with_capacity(8);
            let b: $Map<u64, u64> = $Map::with_capacity(8);
            let differ = (0..16u64).any(|k| a.hasher().hash_one(k) != b.hasher().hash_one(k));
            assert!(
                differ,
                "two maps hash every key the same way: the seed is fixed"
            );
        }

        #[test]
        fn every_value_is_dropped_exactly_once() {
            let ledger = DropLedger::new();
            {
                let map: $Map<u64, Counted> = $Map::with_capacity(32);
                for i in 0..2000 {
                    map.insert(i % 500, Counted::new(i, &ledger));
                    if i % 3 == 0 {
                        map.remove(&(i % 250));
                    }
                    if i % 7 == 0 {
                        let _ = map.compute(i % 100, |v| v.map(|c| c.clone()));
                    }
                }
                map.clear();
                for i in 0..100 {
                    map.insert(i, Counted::new(i, &ledger));
                }
                let owned: Vec<_> = map.into_iter().collect();
                assert_eq!(owned.len(), 100);
            }
            $crate::common::settle(&ledger);
            assert_eq!(ledger.live(), 0, "{ledger:?}");
        }
    };
}

/// Flushes the reclaimer until every counted value is dropped, or gives up
/// after a bounded number of rounds (the caller's assertion then fails).
///
/// kovan may park a retired batch in the slot of another thread that was
/// active when it was retired (here: a test running beside this one); that
/// thread frees it at its next pin, flush or exit. So a round also sleeps a
/// little, letting those threads move on. This is patience, not a timing
/// assertion: the verdict is the count.
pub fn settle(ledger: &DropLedger) {
    for _ in 0..10_000 {
        if ledger.live() == 0 {
            return;
        }
        kovan_map::flush();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A `HashMap` at rest (no write in flight): `len`, iteration,
/// `chain_stats` and `get` agree, no key is iterated twice. Answers the
/// keys, sorted.
pub fn at_rest<V: Clone + 'static, S: BuildHasher>(m: &kovan_map::HashMap<u64, V, S>) -> Vec<u64> {
    let mut keys: Vec<u64> = m.keys().collect();
    let n = keys.len();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), n, "a key iterated twice");
    assert_eq!(m.len(), n, "len disagrees with iteration");
    let stats = m.chain_stats();
    assert_eq!(stats.entries, n, "chain_stats disagrees: {stats:?}");
    assert_eq!(stats.buckets, m.capacity());
    for k in &keys {
        assert!(m.get(k).is_some(), "key {k} iterated, not found");
    }
    keys
}

/// How many times an iteration yielded each key.
pub fn counts(pass: impl Iterator<Item = u64>) -> BTreeMap<u64, usize> {
    let mut seen = BTreeMap::new();
    for k in pass {
        *seen.entry(k).or_insert(0) += 1;
    }
    seen
}

/// The books of one iteration with writes between its steps (the review
/// suites of iteration across resizes): each write's answer is checked
/// against them, and each key yielded.
#[derive(Default)]
pub struct IterBooks {
    /// Every key present at some point since the iterator was made.
    pub ever: BTreeSet<u64>,
    /// Present when the iterator was made and not removed since.
    pub throughout: BTreeSet<u64>,
    /// Present now.
    pub now: BTreeSet<u64>,
    /// How often each key was yielded.
    pub seen: BTreeMap<u64, usize>,
}

impl IterBooks {
    /// An insert of `k` answered that `k` was present (`was`) or not.
    pub fn inserted(&mut self, k: u64, was: bool) {
        assert_eq!(was, self.now.contains(&k), "insert {k}");
        self.now.insert(k);
        self.ever.insert(k);
    }
    /// A removal of `k` answered that `k` was present (`was`) or not.
    pub fn removed(&mut self, k: u64, was: bool) {
        assert_eq!(was, self.now.contains(&k), "remove {k}");
        self.now.remove(&k);
        self.throughout.remove(&k);
    }
    /// The map was cleared.
    pub fn cleared(&mut self) {
        self.now.clear();
        self.throughout.clear();
    }
    /// The iterator yielded `k`: once, and a key that was present.
    pub fn saw(&mut self, k: u64, case: &str) {
        assert!(
            self.ever.contains(&k),
            "{case}: key {k} yielded, never present"
        );
        let n = self.seen.entry(k).or_insert(0);
        *n += 1;
        assert_eq!(*n, 1, "{case}: key {k} yielded twice");
    }
    /// The iterator ended: every key present throughout was yielded.
    pub fn finish(&self, case: &str) {
        for k in &self.throughout {
            assert_eq!(
                self.seen.get(k),
                Some(&1),
                "{case}: key {k}, present throughout, yielded {:?} times",
                self.seen.get(k)
            );
        }
    }
}

/// A key's value in the iteration review suites: a bijection, so a value
/// yielded is checked against its key and `values()` maps back to keys
/// ([`key_of_value`]).
pub fn value_of_key(k: u64) -> u64 {
    k.rotate_left(23) ^ 0x0123_4567_89AB_CDEF
}

/// The key of value `v` (the inverse of [`value_of_key`]).
pub fn key_of_value(v: u64) -> u64 {
    (v ^ 0x0123_4567_89AB_CDEF).rotate_right(23)
}
