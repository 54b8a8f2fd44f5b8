//! Random operation sequences against `std::collections::HashMap`, once per
//! map, with the default hasher and with hashers that make keys collide.

mod common;

use common::FewHashes;
use quickcheck::{Arbitrary, Gen, QuickCheck};
use std::collections::HashMap as StdMap;

/// One call of the public API, over a small key space so that keys repeat.
#[derive(Clone, Debug)]
enum Op {
    Insert(u8, u16),
    Get(u8),
    Remove(u8),
    InsertIfAbsent(u8, u16),
    GetOrInsert(u8, u16),
    RemoveIfEven(u8),
    CompareAndRemove(u8, u16),
    ReplaceIfOdd(u8, u16),
    CompareAndSwap(u8, u16, u16),
    ComputeAdd(u8, u16),
    ComputeRemove(u8),
    Len,
    Clear,
    Iterate,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Self {
        let k = u8::arbitrary(g) % 24;
        let v = u16::arbitrary(g) % 8;
        match u8::arbitrary(g) % 30 {
            0..=6 => Op::Insert(k, v),
            7..=10 => Op::Get(k),
            11..=13 => Op::Remove(k),
            14..=15 => Op::InsertIfAbsent(k, v),
            16 => Op::GetOrInsert(k, v),
            17..=18 => Op::RemoveIfEven(k),
            19 => Op::CompareAndRemove(k, v),
            20..=21 => Op::ReplaceIfOdd(k, v),
            22 => Op::CompareAndSwap(k, v, u16::arbitrary(g) % 8),
            23..=24 => Op::ComputeAdd(k, v),
            25 => Op::ComputeRemove(k),
            26 => Op::Len,
            27 => Op::Clear,
            _ => Op::Iterate,
        }
    }
}

/// Declares `$name(ops)`: runs `ops` on a map built by `$make` and on a
/// `std` map, answer by answer.
macro_rules! against_std {
    ($name:ident, $make:expr) => {
        fn $name(ops: Vec<Op>) -> bool {
            let map = $make;
            let mut model: StdMap<u8, u16> = StdMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Get(k) => {
                        assert_eq!(map.get(&k), model.get(&k).copied());
                        assert_eq!(map.contains_key(&k), model.contains_key(&k));
                    }
                    Op::Remove(k) => assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::InsertIfAbsent(k, v) => {
                        let expected = model.get(&k).copied();
                        model.entry(k).or_insert(v);
                        assert_eq!(map.insert_if_absent(k, v), expected);
                    }
                    Op::GetOrInsert(k, v) => {
                        assert_eq!(map.get_or_insert(k, v), *model.entry(k).or_insert(v))
                    }
                    Op::RemoveIfEven(k) => {
                        let expected = model.get(&k).copied().filter(|v| v % 2 == 0);
                        if expected.is_some() {
                            model.remove(&k);
                        }
                        assert_eq!(map.remove_if(&k, |v| v % 2 == 0), expected);
                    }
                    Op::CompareAndRemove(k, e) => {
                        let expected = model.get(&k).copied().filter(|v| *v == e);
                        if expected.is_some() {
                            model.remove(&k);
                        }
                        assert_eq!(map.compare_and_remove(&k, &e), expected);
                    }
                    Op::ReplaceIfOdd(k, v) => {
                        let expected = match model.get(&k).copied() {
                            None => Err(None),
                            Some(p) if p % 2 == 1 => Ok(p),
                            Some(p) => Err(Some(p)),
                        };
                        if expected.is_ok() {
                            model.insert(k, v);
                        }
                        assert_eq!(map.replace_if(k, v, |p| p % 2 == 1), expected);
                    }
                    Op::CompareAndSwap(k, e, v) => {
                        let expected = match model.get(&k).copied() {
                            None => Err(None),
                            Some(p) if p == e => Ok(p),
                            Some(p) => Err(Some(p)),
                        };
                        if expected.is_ok() {
                            model.insert(k, v);
                        }
                        assert_eq!(map.compare_and_swap(k, &e, v), expected);
                    }
                    Op::ComputeAdd(k, d) => {
                        let next = model.get(&k).map_or(d, |p| p.wrapping_add(d));
                        model.insert(k, next);
                        assert_eq!(
                            map.compute(k, |p| Some(p.map_or(d, |p| p.wrapping_add(d)))),
                            Some(next)
                        );
                    }
                    Op::ComputeRemove(k) => {
                        model.remove(&k);
                        assert_eq!(map.compute(k, |_| None), None);
                    }
                    Op::Len => assert_eq!(map.len(), model.len()),
                    Op::Clear => {
                        map.clear();
                        model.clear();
                    }
                    Op::Iterate => {
                        let mut seen: Vec<(u8, u16)> = map.iter().collect();
                        seen.sort_unstable();
                        let mut want: Vec<(u8, u16)> =
                            model.iter().map(|(k, v)| (*k, *v)).collect();
                        want.sort_unstable();
                        assert_eq!(seen, want);
                    }
                }
            }
            let mut seen: Vec<(u8, u16)> = map.into_iter().collect();
            seen.sort_unstable();
            let mut want: Vec<(u8, u16)> = model.into_iter().collect();
            want.sort_unstable();
            seen == want
        }
    };
}

fn check(property: fn(Vec<Op>) -> bool) {
    // Sequences of up to 100 operations (quickcheck's default size).
    QuickCheck::new()
        .tests(300)
        .quickcheck(property as fn(Vec<Op>) -> bool);
}

mod hash_map {
    use super::*;
    use kovan_map::HashMap;

    against_std!(default_hasher, HashMap::<u8, u16>::with_capacity(64));
    against_std!(
        one_hash,
        HashMap::<u8, u16, FewHashes>::with_capacity_and_hasher(16, FewHashes::new(1))
    );
    against_std!(
        three_hashes,
        HashMap::<u8, u16, FewHashes>::with_capacity_and_hasher(4, FewHashes::new(3))
    );

    #[test]
    fn matches_std_with_the_default_hasher() {
        check(default_hasher);
    }

    #[test]
    fn matches_std_when_every_key_collides() {
        check(one_hash);
    }

    #[test]
    fn matches_std_with_three_hashes_over_four_buckets() {
        check(three_hashes);
    }
}

mod hopscotch_map {
    use super::*;
    use kovan_map::HopscotchMap;

    against_std!(default_hasher, HopscotchMap::<u8, u16>::with_capacity(64));
    against_std!(
        one_hash,
        HopscotchMap::<u8, u16, FewHashes>::with_capacity_and_hasher(16, FewHashes::new(1))
    );
    against_std!(
        three_hashes,
        HopscotchMap::<u8, u16, FewHashes>::with_capacity_and_hasher(4, FewHashes::new(3))
    );
    // Neighbourhoods of two slots in a table of four: displacement, overflow
    // mode and resizes on almost every sequence.
    against_std!(
        tiny_neighbourhoods,
        HopscotchMap::<u8, u16, kovan_map::DefaultHashBuilder, 2>::with_capacity_and_hasher(
            4,
            Default::default()
        )
    );

    #[test]
    fn matches_std_with_the_default_hasher() {
        check(default_hasher);
    }

    #[test]
    fn matches_std_when_every_key_collides() {
        check(one_hash);
    }

    #[test]
    fn matches_std_with_three_hashes_over_four_buckets() {
        check(three_hashes);
    }

    #[test]
    fn matches_std_with_neighbourhoods_of_two_slots() {
        check(tiny_neighbourhoods);
    }
}
