//! The maps under test, behind one trait, so that every suite (real threads,
//! shuttle, loom) drives any map with the same recorded operations, and
//! records its whole-map reads (`len`, the keys of `iter`) the same way.

use crate::spec::{Key, Op, Ret, Value};
use core::hash::BuildHasher;

/// A concurrent map of `i64` keys and values offering kovan-map's API.
pub trait MapUnderTest: Sync {
    /// `get`
    fn get(&self, key: Key) -> Option<Value>;
    /// `contains_key`
    fn contains_key(&self, key: Key) -> bool;
    /// `insert`
    fn insert(&self, key: Key, value: Value) -> Option<Value>;
    /// `insert_if_absent`
    fn insert_if_absent(&self, key: Key, value: Value) -> Option<Value>;
    /// `get_or_insert`
    fn get_or_insert(&self, key: Key, value: Value) -> Value;
    /// `get_or_insert_with`
    fn get_or_insert_with(&self, key: Key, make: &mut dyn FnMut() -> Value) -> Value;
    /// `remove`
    fn remove(&self, key: Key) -> Option<Value>;
    /// `force_remove`
    fn force_remove(&self, key: Key) -> Option<Value>;
    /// `remove_if`
    fn remove_if(&self, key: Key, pred: &mut dyn FnMut(&Value) -> bool) -> Option<Value>;
    /// `compare_and_remove`
    fn compare_and_remove(&self, key: Key, expected: Value) -> Option<Value>;
    /// `replace_if`
    fn replace_if(
        &self,
        key: Key,
        value: Value,
        pred: &mut dyn FnMut(&Value) -> bool,
    ) -> Result<Value, Option<Value>>;
    /// `compare_and_swap`
    fn compare_and_swap(
        &self,
        key: Key,
        expected: Value,
        value: Value,
    ) -> Result<Value, Option<Value>>;
    /// `compute`
    fn compute(
        &self,
        key: Key,
        f: &mut dyn FnMut(Option<&Value>) -> Option<Value>,
    ) -> Option<Value>;
    /// `len`
    fn len(&self) -> usize;
    /// Whether `len` is 0.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The keys `iter` yields, in order.
    fn iter_keys(&self) -> Vec<Key>;
}

/// Performs `op` on `map` and returns what the map answered.
pub fn exec<M: MapUnderTest + ?Sized>(map: &M, op: &Op) -> Ret {
    match *op {
        Op::Get { key } => map.get(key).into(),
        Op::ContainsKey { key } => map.contains_key(key).into(),
        Op::Insert { key, value } => map.insert(key, value).into(),
        Op::InsertIfAbsent { key, value } => map.insert_if_absent(key, value).into(),
        Op::GetOrInsert { key, value } => map.get_or_insert(key, value).into(),
        Op::GetOrInsertWith { key, value } => map.get_or_insert_with(key, &mut || value).into(),
        Op::Remove { key } => map.remove(key).into(),
        Op::ForceRemove { key } => map.force_remove(key).into(),
        Op::RemoveIf { key, pred } => map.remove_if(key, &mut |v| pred.test(*v)).into(),
        Op::CompareAndRemove { key, expected } => map.compare_and_remove(key, expected).into(),
        Op::ReplaceIf { key, value, pred } => {
            map.replace_if(key, value, &mut |v| pred.test(*v)).into()
        }
        Op::CompareAndSwap {
            key,
            expected,
            value,
        } => map.compare_and_swap(key, expected, value).into(),
        Op::Compute { key, func } => map.compute(key, &mut |v| func.call(v.copied())).into(),
    }
}

macro_rules! impl_map_under_test {
    ($Map:ident $(, const $H:ident)?) => {
        impl<S: BuildHasher + Sync $(, const $H: usize)?> MapUnderTest
            for kovan_map::$Map<Key, Value, S $(, $H)?>
        {
            fn get(&self, key: Key) -> Option<Value> {
                kovan_map::$Map::get(self, &key)
            }
            fn contains_key(&self, key: Key) -> bool {
                kovan_map::$Map::contains_key(self, &key)
            }
            fn insert(&self, key: Key, value: Value) -> Option<Value> {
                kovan_map::$Map::insert(self, key, value)
            }
            fn insert_if_absent(&self, key: Key, value: Value) -> Option<Value> {
                kovan_map::$Map::insert_if_absent(self, key, value)
            }
            fn get_or_insert(&self, key: Key, value: Value) -> Value {
                kovan_map::$Map::get_or_insert(self, key, value)
            }
            fn get_or_insert_with(&self, key: Key, make: &mut dyn FnMut() -> Value) -> Value {
                kovan_map::$Map::get_or_insert_with(self, key, make)
            }
            fn remove(&self, key: Key) -> Option<Value> {
                kovan_map::$Map::remove(self, &key)
            }
            fn force_remove(&self, key: Key) -> Option<Value> {
                kovan_map::$Map::force_remove(self, &key)
            }
            fn remove_if(&self, key: Key, pred: &mut dyn FnMut(&Value) -> bool) -> Option<Value> {
                kovan_map::$Map::remove_if(self, &key, pred)
            }
            fn compare_and_remove(&self, key: Key, expected: Value) -> Option<Value> {
                kovan_map::$Map::compare_and_remove(self, &key, &expected)
            }
            fn replace_if(
                &self,
                key: Key,
                value: Value,
                pred: &mut dyn FnMut(&Value) -> bool,
            ) -> Result<Value, Option<Value>> {
                kovan_map::$Map::replace_if(self, key, value, pred)
            }
            fn compare_and_swap(
                &self,
                key: Key,
                expected: Value,
                value: Value,
            ) -> Result<Value, Option<Value>> {
                kovan_map::$Map::compare_and_swap(self, key, &expected, value)
            }
            fn compute(
                &self,
                key: Key,
                f: &mut dyn FnMut(Option<&Value>) -> Option<Value>,
            ) -> Option<Value> {
                kovan_map::$Map::compute(self, key, f)
            }
            fn len(&self) -> usize {
                kovan_map::$Map::len(self)
            }
            fn iter_keys(&self) -> Vec<Key> {
                kovan_map::$Map::iter(self).map(|(k, _)| k).collect()
            }
        }
    };
}

impl_map_under_test!(HashMap);
impl_map_under_test!(HopscotchMap, const H);
