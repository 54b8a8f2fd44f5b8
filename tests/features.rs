//! The optional cargo features, off by default (so `cargo test` skips this
//! file): `serde` round trips and `rayon` parallel iteration, for both maps.
//!
//! Run with `cargo test --locked --features serde,rayon --test features`.
//!
//! serde: the round trips use a small recording serializer written here and
//! serde's own `MapDeserializer`, not `serde_json` or `serde_test`: a
//! dev-dependency on either would pull serde into every `cargo test` of the
//! crate, which must not build it.
#![cfg(any(feature = "serde", feature = "rayon"))]

use kovan_map::{HashMap, HopscotchMap};

/// A value type without `Clone`: serializing must not need it.
#[derive(Debug, PartialEq, Eq)]
struct Token(u64);

#[cfg(feature = "serde")]
mod round_trip {
    use super::*;
    use serde::de::value::{Error as DeError, MapAccessDeserializer, MapDeserializer};
    use serde::de::{DeserializeSeed, MapAccess};
    use serde::ser::{self, Impossible, Serialize, SerializeMap, Serializer};
    use serde::Deserialize;
    use std::collections::BTreeMap;
    use std::fmt;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::Arc;
    use std::thread;

    impl Serialize for Token {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_u64(self.0)
        }
    }

    /// What the recording serializer saw.
    #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
    enum Value {
        U64(u64),
        Str(String),
        /// The length the map announced, and its entries in order.
        Map(Option<usize>, Vec<(Value, Value)>),
    }

    #[derive(Debug)]
    struct Unsupported(String);

    impl fmt::Display for Unsupported {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Unsupported {}

    impl ser::Error for Unsupported {
        fn custom<T: fmt::Display>(msg: T) -> Self {
            Unsupported(msg.to_string())
        }
    }

    /// Records `u64`s, strings and maps; refuses everything else.
    struct Recorder;

    struct MapRecorder {
        announced: Option<usize>,
        entries: Vec<(Value, Value)>,
        key: Option<Value>,
    }

    fn refuse<T>(what: &str) -> Result<T, Unsupported> {
        Err(Unsupported(format!("the recorder does not take {what}")))
    }

    /// `Serializer` methods that refuse their type, one a line:
    /// `method(argument types) -> answer type, "what the error names";`.
    macro_rules! refuse_all {
        ($($method:ident($($arg:ty),*) -> $answer:ty, $what:literal;)*) => {
            $(fn $method(self, $(_: $arg),*) -> Result<$answer, Unsupported> {
                refuse($what)
            })*
        };
    }

    impl Serializer for Recorder {
        type Ok = Value;
        type Error = Unsupported;
        type SerializeSeq = Impossible<Value, Unsupported>;
        type SerializeTuple = Impossible<Value, Unsupported>;
        type SerializeTupleStruct = Impossible<Value, Unsupported>;
        type SerializeTupleVariant = Impossible<Value, Unsupported>;
        type SerializeMap = MapRecorder;
        type SerializeStruct = Impossible<Value, Unsupported>;
        type SerializeStructVariant = Impossible<Value, Unsupported>;

        fn serialize_u64(self, v: u64) -> Result<Value, Unsupported> {
            Ok(Value::U64(v))
        }
        fn serialize_str(self, v: &str) -> Result<Value, Unsupported> {
            Ok(Value::Str(v.to_owned()))
        }
        fn serialize_map(self, len: Option<usize>) -> Result<MapRecorder, Unsupported> {
            Ok(MapRecorder {
                announced: len,
                entries: Vec::new(),
                key: None,
            })
        }
        refuse_all! {
            serialize_bool(bool) -> Value, "bool";
            serialize_i8(i8) -> Value, "i8";
            serialize_i16(i16) -> Value, "i16";
            serialize_i32(i32) -> Value, "i32";
            serialize_i64(i64) -> Value, "i64";
            serialize_u8(u8) -> Value, "u8";
            serialize_u16(u16) -> Value, "u16";
            serialize_u32(u32) -> Value, "u32";
            serialize_f32(f32) -> Value, "f32";
            serialize_f64(f64) -> Value, "f64";
            serialize_char(char) -> Value, "char";
            serialize_bytes(&[u8]) -> Value, "bytes";
            serialize_none() -> Value, "none";
            serialize_unit() -> Value, "unit";
            serialize_unit_struct(&'static str) -> Value, "unit struct";
            serialize_unit_variant(&'static str, u32, &'static str) -> Value, "unit variant";
            serialize_seq(Option<usize>) -> Self::SerializeSeq, "seq";
            serialize_tuple(usize) -> Self::SerializeTuple, "tuple";
            serialize_tuple_struct(&'static str, usize) -> Self::SerializeTupleStruct,
                "tuple struct";
            serialize_tuple_variant(&'static str, u32, &'static str, usize)
                -> Self::SerializeTupleVariant, "tuple variant";
            serialize_struct(&'static str, usize) -> Self::SerializeStruct, "struct";
            serialize_struct_variant(&'static str, u32, &'static str, usize)
                -> Self::SerializeStructVariant, "struct variant";
        }
        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Value, Unsupported> {
            refuse("some")
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: &T,
        ) -> Result<Value, Unsupported> {
            refuse("newtype struct")
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Value, Unsupported> {
            refuse("newtype variant")
        }
    }

    impl SerializeMap for MapRecorder {
        type Ok = Value;
        type Error = Unsupported;

        fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
            assert!(self.key.is_none(), "two keys in a row");
            self.key = Some(key.serialize(Recorder)?);
            Ok(())
        }

        fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
            let key = self.key.take().expect("a value without a key");
            self.entries.push((key, value.serialize(Recorder)?));
            Ok(())
        }

        fn end(self) -> Result<Value, Unsupported> {
            assert!(self.key.is_none(), "a key without a value");
            Ok(Value::Map(self.announced, self.entries))
        }
    }

    /// The recorded entries of a serialized map, after checking that the
    /// announced length is the number of entries written (a length-prefixed
    /// format would be corrupt otherwise).
    fn record(map: &impl Serialize) -> Vec<(Value, Value)> {
        match map
            .serialize(Recorder)
            .expect("the maps write u64s and strings")
        {
            Value::Map(announced, entries) => {
                assert_eq!(announced, Some(entries.len()), "announced length");
                entries
            }
            other => panic!("not a map: {other:?}"),
        }
    }

    fn as_u64_pairs(entries: &[(Value, Value)]) -> Vec<(u64, u64)> {
        entries
            .iter()
            .map(|entry| match entry {
                (Value::U64(k), Value::U64(v)) => (*k, *v),
                other => panic!("not a (u64, u64) entry: {other:?}"),
            })
            .collect()
    }

    fn as_string_pairs(entries: Vec<(Value, Value)>) -> Vec<(u64, String)> {
        entries
            .into_iter()
            .map(|entry| match entry {
                (Value::U64(k), Value::Str(v)) => (k, v),
                other => panic!("not a (u64, String) entry: {other:?}"),
            })
            .collect()
    }

    fn expected(n: u64) -> Vec<(u64, String)> {
        (0..n).map(|i| (i, format!("v{i}"))).collect()
    }

    fn deserialize<'de, M: Deserialize<'de>>(
        pairs: impl Iterator<Item = (u64, String)>,
    ) -> Result<M, DeError> {
        M::deserialize(MapDeserializer::<_, DeError>::new(pairs))
    }

    /// Fills `map` with `expected(1000)` through `insert`, writes it,
    /// checks the entries written, reads them back, and checks the map read
    /// back: 1000 entries, equal to `map`.
    fn round_trip<M>(map: M, insert: impl Fn(&M, u64, String), len: impl Fn(&M) -> usize)
    where
        M: Serialize + for<'de> Deserialize<'de> + PartialEq,
    {
        for (k, v) in expected(1000) {
            insert(&map, k, v);
        }
        let mut written = as_string_pairs(record(&map));
        written.sort();
        assert_eq!(written, expected(1000));
        let back: M = deserialize(written.into_iter()).unwrap();
        assert_eq!(len(&back), 1000);
        assert!(back == map, "the deserialized map differs");
    }

    // Catches: a lost, repeated or misnumbered entry on either way, and a
    // length announced that is not the number of entries written.
    #[test]
    fn hash_map_round_trips_through_serde() {
        round_trip(
            HashMap::<u64, String>::with_capacity(16),
            |map, k, v| {
                map.insert(k, v);
            },
            HashMap::len,
        );
    }

    #[test]
    fn hopscotch_map_round_trips_through_serde() {
        round_trip(
            HopscotchMap::<u64, String>::new(),
            |map, k, v| {
                map.insert(k, v);
            },
            HopscotchMap::len,
        );
    }

    // Catches: an empty map written as anything but an empty map of
    // announced length 0.
    #[test]
    fn empty_maps_round_trip() {
        let map: HashMap<u64, String> = HashMap::with_capacity(1);
        assert!(record(&map).is_empty());
        let map: HopscotchMap<u64, String> = HopscotchMap::with_capacity(1);
        assert!(record(&map).is_empty());
        let back: HashMap<u64, String> = deserialize(std::iter::empty()).unwrap();
        assert!(back.is_empty());
        let back: HopscotchMap<u64, String> = deserialize(std::iter::empty()).unwrap();
        assert!(back.is_empty());
    }

    // Serialize borrows (`pin().iter()`): a value without `Clone` compiles
    // and is written. Catches a serializer that clones (it would not build).
    #[test]
    fn serializing_needs_no_clone() {
        let map: HashMap<u64, Token> = HashMap::with_capacity(8);
        let hop: HopscotchMap<u64, Token> = HopscotchMap::new();
        for i in 0..10 {
            map.pin().insert(i, Token(i * 7));
            hop.pin().insert(i, Token(i * 7));
        }
        for entries in [record(&map), record(&hop)] {
            let mut pairs = as_u64_pairs(&entries);
            pairs.sort();
            assert_eq!(pairs, (0..10).map(|i| (i, i * 7)).collect::<Vec<_>>());
        }
    }

    // Catches: a first value winning over a later one for a repeated key,
    // or a repeated key counted twice.
    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        let pairs = || {
            [(1, "a"), (2, "b"), (1, "c")]
                .into_iter()
                .map(|(k, v)| (k, v.to_owned()))
        };
        let map: HashMap<u64, String> = deserialize(pairs()).unwrap();
        assert_eq!(
            (map.len(), map.get(&1), map.get(&2)),
            (2, Some("c".into()), Some("b".into()))
        );
        let map: HopscotchMap<u64, String> = deserialize(pairs()).unwrap();
        assert_eq!(
            (map.len(), map.get(&1), map.get(&2)),
            (2, Some("c".into()), Some("b".into()))
        );
    }

    // The size hint sizes the new map: a `HopscotchMap` keeps the capacity
    // it was made with as its floor, so after `clear` a map sized from the
    // hint stays at it, and one made without a hint (a format that gives
    // none: the filter hides the length) goes back to the default. Catches
    // a hint that is ignored; for `HashMap`, a map without a hint is made as
    // `new()` makes one.
    #[test]
    fn the_size_hint_sizes_the_new_map() {
        let hinted: HopscotchMap<u64, String> = deserialize(expected(1000).into_iter()).unwrap();
        let unhinted: HopscotchMap<u64, String> =
            deserialize(expected(1000).into_iter().filter(|_| true)).unwrap();
        assert_eq!((hinted.len(), unhinted.len()), (1000, 1000));
        hinted.clear();
        unhinted.clear();
        assert_eq!(hinted.capacity(), 2048, "1000 entries at load 1/2");
        assert_eq!(unhinted.capacity(), kovan_map::hopscotch::DEFAULT_CAPACITY);

        let hinted: HashMap<u64, String> = deserialize(expected(1000).into_iter()).unwrap();
        let unhinted: HashMap<u64, String> =
            deserialize(expected(1000).into_iter().filter(|_| true)).unwrap();
        hinted.clear();
        unhinted.clear();
        assert_eq!(hinted.capacity(), 2048, "1000 entries below a load of 3/4");
        assert_eq!(unhinted.capacity(), kovan_map::hash_map::DEFAULT_BUCKETS);
    }

    /// A map access that claims `usize::MAX` entries and has none.
    struct Hostile;

    impl<'de> MapAccess<'de> for Hostile {
        type Error = DeError;

        fn next_key_seed<K: DeserializeSeed<'de>>(
            &mut self,
            _: K,
        ) -> Result<Option<K::Value>, DeError> {
            Ok(None)
        }

        fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, _: V) -> Result<V::Value, DeError> {
            unreachable!("no key was given")
        }

        fn size_hint(&self) -> Option<usize> {
            Some(usize::MAX)
        }
    }

    // Catches: a size hint taken at its word (`with_capacity(usize::MAX)`
    // panics; a large one would allocate it all up front).
    #[test]
    fn a_hostile_size_hint_is_capped() {
        let map = HashMap::<u64, u64>::deserialize(MapAccessDeserializer::new(Hostile)).unwrap();
        assert!(map.is_empty());
        assert!(map.capacity() <= kovan_map::hash_map::DEFAULT_BUCKETS);
        let map =
            HopscotchMap::<u64, u64>::deserialize(MapAccessDeserializer::new(Hostile)).unwrap();
        assert!(map.is_empty());
        assert!(map.capacity() <= 1 << 17);
    }

    /// Serializes `map` while a writer churns keys `STABLE..2 * STABLE` and
    /// replaces stable keys with their own value: every stable key is
    /// written exactly once with its value, no key twice, no key from
    /// outside the two ranges, and the announced length is exact.
    fn serialize_under_churn<M>(map: Arc<M>, insert: fn(&M, u64), remove: fn(&M, u64))
    where
        M: Serialize + Send + Sync + 'static,
    {
        const STABLE: u64 = 20_000;
        for k in 0..STABLE {
            insert(&map, k);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let writer = {
            let (map, stop, cycles) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&cycles));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for k in STABLE..2 * STABLE {
                        insert(&map, k);
                        if k % 8 == 0 {
                            insert(&map, k - STABLE); // a replacement, same value
                        }
                    }
                    for k in STABLE..2 * STABLE {
                        remove(&map, k);
                    }
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
                kovan_map::flush();
            })
        };
        let mut rounds = 0;
        while rounds < 3 || cycles.load(Ordering::Relaxed) < 2 {
            rounds += 1;
            let entries = as_u64_pairs(&record(&*map));
            let mut seen = BTreeMap::new();
            for (k, v) in entries {
                assert!(k < 2 * STABLE, "key {k} was never inserted");
                assert_eq!(v, k * 3, "key {k} with a value it never held");
                *seen.entry(k).or_insert(0) += 1;
            }
            for k in 0..STABLE {
                assert_eq!(seen.get(&k), Some(&1), "stable key {k} (round {rounds})");
            }
            assert!(seen.values().all(|&n| n == 1), "a key written twice");
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        kovan_map::flush();
    }

    // Catches: a serialization that loses or repeats a key present
    // throughout while the table resizes and entries are replaced, and a
    // length announced from `len()` instead of the entries written.
    #[test]
    fn serializing_under_a_concurrent_writer_writes_each_stable_key_once() {
        serialize_under_churn(
            Arc::new(HashMap::<u64, u64>::with_capacity(64)),
            |m, k| {
                m.pin().insert(k, k * 3);
            },
            |m, k| {
                m.pin().remove(&k);
            },
        );
        serialize_under_churn(
            Arc::new(HopscotchMap::<u64, u64>::new()),
            |m, k| {
                m.pin().insert(k, k * 3);
            },
            |m, k| {
                m.pin().remove(&k);
            },
        );
    }
}

#[cfg(feature = "rayon")]
mod parallel {
    use super::*;
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::thread;

    /// Keys present for the whole of every parallel call.
    const STABLE: u64 = 100_000;

    /// More workers than cores, so calls split into many stretches.
    fn pool() -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(8)
            .build()
            .unwrap()
    }

    /// One test's map, through the operations the tests need.
    trait Map: Send + Sync + 'static {
        fn put(&self, k: u64, v: u64);
        fn delete(&self, k: u64);
        fn size(&self) -> usize;
        fn visit(&self, f: &(dyn Fn(&u64, &u64) + Sync + Send));
        fn cloned(&self) -> Vec<(u64, u64)>;
    }

    /// `Map` for each map type named: the same calls on both.
    macro_rules! impl_map {
        ($($map:ident),*) => {$(
            impl Map for $map<u64, u64> {
                fn put(&self, k: u64, v: u64) {
                    self.pin().insert(k, v);
                }
                fn delete(&self, k: u64) {
                    self.pin().remove(&k);
                }
                fn size(&self) -> usize {
                    self.capacity()
                }
                fn visit(&self, f: &(dyn Fn(&u64, &u64) + Sync + Send)) {
                    self.par_for_each(f);
                }
                fn cloned(&self) -> Vec<(u64, u64)> {
                    self.par_iter().collect()
                }
            }
        )*};
    }

    impl_map!(HashMap, HopscotchMap);

    /// How often each key `0..2 * STABLE` was visited, and how many visits
    /// were of other keys or had a wrong value.
    struct Tally {
        visits: Vec<AtomicU8>,
        wrong: AtomicUsize,
    }

    impl Tally {
        fn new() -> Self {
            Self {
                visits: (0..2 * STABLE).map(|_| AtomicU8::new(0)).collect(),
                wrong: AtomicUsize::new(0),
            }
        }

        fn see(&self, k: u64, v: u64) {
            if k >= 2 * STABLE || v != k * 3 {
                self.wrong.fetch_add(1, Ordering::Relaxed);
            } else {
                self.visits[k as usize].fetch_add(1, Ordering::Relaxed);
            }
        }

        /// Every stable key once, every churned key at most once, nothing
        /// else.
        fn check(&self, what: &str) {
            self.check_stable(what, STABLE);
        }

        /// As `check`, with the keys `0..stable` stable.
        fn check_stable(&self, what: &str, stable: u64) {
            assert_eq!(
                self.wrong.load(Ordering::Relaxed),
                0,
                "{what}: unknown keys or values"
            );
            for k in 0..stable {
                let n = self.visits[k as usize].load(Ordering::Relaxed);
                assert_eq!(n, 1, "{what}: stable key {k} visited {n} times");
            }
            for k in stable..2 * STABLE {
                let n = self.visits[k as usize].load(Ordering::Relaxed);
                assert!(n <= 1, "{what}: churned key {k} visited {n} times");
            }
        }
    }

    /// Fills `map` with the stable keys, starts a writer that inserts and
    /// removes the keys `STABLE..2 * STABLE` (crossing a growth and a
    /// shrink limit of both maps once a cycle, so their tables resize) and
    /// replaces every eighth stable key with its own value, and runs
    /// rounds of `par_for_each` and `par_iter` in turn on the pool until
    /// four rounds ran and the writer finished a whole cycle. Each round
    /// checks every stable key once, each churned key at most once, and
    /// no other key or value. Answers the table sizes the writer saw.
    fn under_churn<M: Map>(map: M) -> Vec<usize> {
        let map = Arc::new(map);
        for k in 0..STABLE {
            map.put(k, k * 3);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let writer = {
            let (map, stop, cycles) = (Arc::clone(&map), Arc::clone(&stop), Arc::clone(&cycles));
            thread::spawn(move || {
                let mut sizes = vec![map.size()];
                while !stop.load(Ordering::Relaxed) {
                    for k in STABLE..2 * STABLE {
                        map.put(k, k * 3);
                        if k % 8 == 0 {
                            map.put(k - STABLE, (k - STABLE) * 3);
                        }
                    }
                    sizes.push(map.size());
                    for k in STABLE..2 * STABLE {
                        map.delete(k);
                    }
                    sizes.push(map.size());
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
                kovan_map::flush();
                sizes
            })
        };
        let pool = pool();
        let mut rounds = 0;
        while rounds < 4 || cycles.load(Ordering::Relaxed) < 1 {
            let tally = Tally::new();
            if rounds % 2 == 0 {
                pool.install(|| map.visit(&|k, v| tally.see(*k, *v)));
                tally.check(&format!("par_for_each, round {rounds}"));
            } else {
                for (k, v) in pool.install(|| map.cloned()) {
                    tally.see(k, v);
                }
                tally.check(&format!("par_iter, round {rounds}"));
            }
            rounds += 1;
        }
        stop.store(true, Ordering::Relaxed);
        let mut sizes = writer.join().unwrap();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    // Catches: stretches that overlap or leave a gap (a key visited twice or
    // never), a task that keeps the nodes before its stretch that its
    // ancestor start walks over, a batch resumed from the wrong dummy, a
    // replaced key visited in both its old and new node, and a stretch lost
    // when a bucket is certainly empty at the start but filled meanwhile.
    #[test]
    fn hash_map_parallel_iteration_visits_each_stable_key_once_under_churn() {
        let sizes = under_churn(HashMap::<u64, u64>::with_capacity(1024));
        assert!(
            sizes.len() > 1,
            "the writer never resized the table: {sizes:?}"
        );
    }

    // Catches the same for the hopscotch map, and a task that loses or
    // repeats keys when its table grows or shrinks under it (a home of the
    // new size reaching before the task's position or past its end).
    #[test]
    fn hopscotch_parallel_iteration_visits_each_stable_key_once_under_churn() {
        let sizes = under_churn(HopscotchMap::<u64, u64>::new());
        assert!(
            sizes.len() > 1,
            "the writer never resized the table: {sizes:?}"
        );
    }

    /// Runs `par_for_each` on `map` (20,000 stable keys, and the keys from
    /// there to `2 * STABLE` too if `shrink`), whose visit number 10,000
    /// (half-way through the call, on whichever worker it falls) removes
    /// those other keys (`shrink`) or inserts them, so the table shrinks by
    /// a factor of four, or grows by eight, in the middle of the call while
    /// the other tasks are inside their stretches. Checks the visits as
    /// `under_churn` does, and that the table did change size. (Hopscotch
    /// shrinks only to a load of 1/8 or less, hence fewer stable keys.)
    fn resize_mid_call<M: Map>(map: M, shrink: bool) {
        const KEPT: u64 = 20_000;
        for k in 0..KEPT {
            map.put(k, k * 3);
        }
        if shrink {
            for k in KEPT..2 * STABLE {
                map.put(k, k * 3);
            }
        }
        let before = map.size();
        let pool = pool();
        let tally = Tally::new();
        let visited = AtomicUsize::new(0);
        pool.install(|| {
            map.visit(&|k, v| {
                tally.see(*k, *v);
                if visited.fetch_add(1, Ordering::Relaxed) == KEPT as usize / 2 {
                    for k in KEPT..2 * STABLE {
                        if shrink {
                            map.delete(k);
                        } else {
                            map.put(k, k * 3);
                        }
                    }
                }
            })
        });
        let after = map.size();
        let what = if shrink { "shrink" } else { "growth" };
        tally.check_stable(&format!("par_for_each across a {what}"), KEPT);
        if shrink {
            assert!(after < before, "no shrink: {before} -> {after} slots");
        } else {
            assert!(after > before, "no growth: {before} -> {after} slots");
        }
        kovan_map::flush();
    }

    // Catches: a task that keeps the keys of a home of the new, smaller
    // table that lie before its position (visited already, by it or by the
    // task before it) or past its stretch's end (the next task's), and one
    // that loses keys when its table doubles under it.
    #[test]
    fn hopscotch_tasks_keep_their_stretch_across_a_resize_in_the_call() {
        resize_mid_call(HopscotchMap::<u64, u64>::new(), true);
        resize_mid_call(HopscotchMap::<u64, u64>::new(), false);
    }

    // Catches: the same for `HashMap`, whose nodes do not move when the
    // table resizes but whose tasks start from buckets of the size the call
    // began with.
    #[test]
    fn hash_map_tasks_keep_their_stretch_across_a_resize_in_the_call() {
        resize_mid_call(HashMap::<u64, u64>::with_capacity(1024), true);
        resize_mid_call(HashMap::<u64, u64>::with_capacity(1024), false);
    }

    /// With no writer, exactly the keys `0..n`, each once.
    fn exact<M: Map>(map: M, n: u64) {
        for k in 0..n {
            map.put(k, k * 3);
        }
        let pool = pool();
        let visits: Vec<AtomicU8> = (0..n).map(|_| AtomicU8::new(0)).collect();
        let wrong = AtomicUsize::new(0);
        pool.install(|| {
            map.visit(&|k, v| match visits.get(*k as usize) {
                Some(count) if *v == *k * 3 => {
                    count.fetch_add(1, Ordering::Relaxed);
                }
                _ => {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
            })
        });
        assert_eq!(
            wrong.into_inner(),
            0,
            "{n} keys: a visit of an unknown key or value"
        );
        assert!(
            visits.iter().all(|c| c.load(Ordering::Relaxed) == 1),
            "{n} keys: a key not visited exactly once"
        );
        let mut cloned = pool.install(|| map.cloned());
        cloned.sort_unstable();
        assert_eq!(
            cloned,
            (0..n).map(|k| (k, k * 3)).collect::<Vec<_>>(),
            "{n} keys"
        );
    }

    // Catches the edges: an empty map, a one-bucket (one-slot) table that
    // cannot be split, small tables, and a sparse `HashMap::new()` whose
    // 2^19 buckets are nearly all certainly empty (the tasks skip them).
    #[test]
    fn quiescent_maps_are_visited_exactly() {
        for n in [0, 1, 2, 10, 1000] {
            exact(HashMap::<u64, u64>::with_capacity(1), n);
            exact(HopscotchMap::<u64, u64>::with_capacity(1), n);
        }
        exact(HashMap::<u64, u64>::new(), 10);
        exact(HopscotchMap::<u64, u64>::new(), 10);
    }

    // A short-circuiting consumer stops early and drops its tasks' iterators
    // (which flush their threads); the found entry is a real one.
    #[test]
    fn par_iter_can_stop_early() {
        let map = HashMap::<u64, u64>::with_capacity(64);
        let hop = HopscotchMap::<u64, u64>::new();
        for k in 0..10_000 {
            map.insert(k, k * 3);
            hop.insert(k, k * 3);
        }
        let pool = pool();
        assert_eq!(
            pool.install(|| map.par_iter().find_any(|&(k, _)| k == 777)),
            Some((777, 2331))
        );
        assert_eq!(
            pool.install(|| hop.par_iter().find_any(|&(k, _)| k == 777)),
            Some((777, 2331))
        );
        assert_eq!(pool.install(|| (&map).into_par_iter().count()), 10_000);
        assert_eq!(pool.install(|| (&hop).into_par_iter().count()), 10_000);
    }

    // `par_for_each` borrows: a value without `Clone` (and not `Copy`).
    #[test]
    fn par_for_each_needs_no_clone() {
        let map = HashMap::<u64, Token>::with_capacity(64);
        let hop = HopscotchMap::<u64, Token>::new();
        for k in 0..1000 {
            map.pin().insert(k, Token(k));
            hop.pin().insert(k, Token(k));
        }
        let sum = AtomicU64::new(0);
        map.par_for_each(|k, v| {
            assert_eq!(*k, v.0);
            sum.fetch_add(v.0, Ordering::Relaxed);
        });
        hop.par_for_each(|_, v| {
            sum.fetch_add(v.0, Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), 2 * (0..1000).sum::<u64>());
    }
}
