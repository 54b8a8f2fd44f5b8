//! The entry API (`map.entry(key)...`, `pinned.entry(key)...`) and `Index`
//! on the `Pinned` handles, for both maps: each terminal call on its own,
//! the borrowing variant with values that are not `Clone`, exact counts
//! from real threads (lost updates if a terminal call were a read followed
//! by a write), and the recursive-update panic of a closure that writes to
//! its own map.

mod common;

use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// A value without `Clone`: only the borrowing variant can answer it.
#[derive(Debug, Default, PartialEq)]
struct NoClone(u64);

fn panic_text(result: std::thread::Result<()>) -> String {
    let payload = result.expect_err("the call must panic");
    common::panic_message(&*payload)
}

macro_rules! entry_tests {
    ($name:ident, $Map:ident) => {
        mod $name {
            use super::*;
            use kovan_map::$Map;

            fn map<V: 'static>() -> $Map<u64, V> {
                $Map::with_capacity(8)
            }

            #[test]
            fn entry_alone_changes_nothing() {
                // Would catch: `entry` doing work before its terminal call.
                let m = map::<u64>();
                drop(m.entry(1));
                assert!(m.is_empty());
                assert_eq!(*m.entry(7).key(), 7);
                assert!(m.is_empty());
            }

            #[test]
            fn or_insert_inserts_an_absent_key_and_keeps_a_present_one() {
                let m = map();
                assert_eq!(m.entry(1).or_insert(10u64), 10);
                assert_eq!(m.get(&1), Some(10));
                // Present: answered, not replaced.
                assert_eq!(m.entry(1).or_insert(20), 10);
                assert_eq!(m.get(&1), Some(10));
                assert_eq!(m.len(), 1);
            }

            #[test]
            fn or_insert_with_makes_only_for_an_absent_key() {
                let m = map();
                let made = Cell::new(0);
                let make = || {
                    made.set(made.get() + 1);
                    String::from("made")
                };
                assert_eq!(m.entry(1).or_insert_with(make), "made");
                assert_eq!(made.get(), 1);
                assert_eq!(m.entry(1).or_insert_with(make), "made");
                assert_eq!(made.get(), 1, "make ran for a present key");
            }

            #[test]
            fn or_insert_with_key_sees_the_key() {
                let m = map();
                assert_eq!(m.entry(21).or_insert_with_key(|k| k * 2), 42);
                assert_eq!(m.entry(21).or_insert_with_key(|_| unreachable!()), 42);
                assert_eq!(m.get(&21), Some(42));
            }

            #[test]
            fn or_default_inserts_the_default() {
                let m = map::<Vec<u8>>();
                assert_eq!(m.entry(1).or_default(), Vec::<u8>::new());
                assert_eq!(m.get(&1), Some(vec![]));
                m.insert(2, vec![2]);
                assert_eq!(m.entry(2).or_default(), vec![2]);
            }

            #[test]
            fn and_modify_changes_a_present_value_and_skips_an_absent_key() {
                let m = map();
                let modified = Cell::new(0);
                let bump = |v: &mut u64| {
                    modified.set(modified.get() + 1);
                    *v += 1;
                };
                // Absent: the default goes in unmodified.
                assert_eq!(m.entry(1).and_modify(bump).or_insert(100), 100);
                assert_eq!(modified.get(), 0);
                // Present: modified in place of the old value.
                assert_eq!(m.entry(1).and_modify(bump).or_insert(100), 101);
                assert_eq!(modified.get(), 1);
                assert_eq!(m.get(&1), Some(101));
                assert_eq!(m.len(), 1);
            }

            #[test]
            fn and_modify_with_each_terminal_call() {
                let m = map();
                let add = |v: &mut u64| *v += 10;
                let made = Cell::new(0);
                let make = || {
                    made.set(made.get() + 1);
                    1
                };
                assert_eq!(m.entry(1).and_modify(add).or_insert_with(make), 1);
                assert_eq!(m.entry(1).and_modify(add).or_insert_with(make), 11);
                assert_eq!(made.get(), 1, "make ran for a present key");
                assert_eq!(m.entry(2).and_modify(add).or_insert_with_key(|k| *k), 2);
                assert_eq!(m.entry(2).and_modify(add).or_insert_with_key(|k| *k), 12);
                assert_eq!(m.entry(3).and_modify(add).or_default(), 0);
                assert_eq!(m.entry(3).and_modify(add).or_default(), 10);
                let all: std::collections::BTreeMap<u64, u64> = m.iter().collect();
                assert_eq!(all, [(1, 11), (2, 12), (3, 10)].into());
            }

            #[test]
            fn and_modify_leaves_answers_already_taken_unchanged() {
                // Copy-on-write: the clone a terminal call answered is a
                // snapshot, and the published value is a new copy.
                let m = map();
                let first = m.entry(1).or_insert(vec![1]);
                let second = m.entry(1).and_modify(|v| v.push(2)).or_default();
                assert_eq!(first, [1]);
                assert_eq!(second, [1, 2]);
            }

            #[test]
            fn pinned_entry_answers_references_without_clone() {
                // `NoClone` has no `Clone`: this only compiles through the
                // borrowing variant.
                let m = map::<NoClone>();
                let p = m.pin();
                let a: &NoClone = p.entry(1).or_insert(NoClone(1));
                assert_eq!(a, &NoClone(1));
                let b = p.entry(1).or_insert_with(|| unreachable!("present"));
                assert!(std::ptr::eq(a, b), "a present key answers its own value");
                assert_eq!(
                    p.entry(2).or_insert_with_key(|k| NoClone(*k * 5)),
                    &NoClone(10)
                );
                assert_eq!(p.entry(3).or_default(), &NoClone(0));
                assert_eq!(p.len(), 3);
                assert_eq!(p[&2], NoClone(10));
            }

            #[test]
            fn pinned_entry_with_and_modify_answers_the_new_value() {
                let m = map::<u64>();
                let p = m.pin();
                assert_eq!(p.entry(1).and_modify(|v| *v *= 3).or_insert(2), &2);
                let now = p.entry(1).and_modify(|v| *v *= 3).or_insert(2);
                assert_eq!(now, &6);
                // The reference stays valid after another write replaced it.
                p.insert(1, 0);
                assert_eq!(now, &6);
                assert_eq!(p[&1], 0);
            }

            #[test]
            fn pinned_atomic_counters_by_entry() {
                let m = map::<AtomicU64>();
                let p = m.pin();
                for _ in 0..5 {
                    p.entry(9).or_default().fetch_add(1, Ordering::Relaxed);
                }
                assert_eq!(p[&9].load(Ordering::Relaxed), 5);
            }

            #[test]
            fn index_of_an_absent_key_panics() {
                let m = map::<u64>();
                m.insert(1, 1);
                let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
                    let p = m.pin();
                    let _ = p[&2];
                })));
                assert!(text.contains("no entry found"), "{text}");
            }

            #[test]
            fn threads_counting_by_entry_keep_every_increment() {
                // 4 threads x 10,000 upserts over 3 keys, through the map
                // (clones) and through handles (references). Would catch a
                // terminal call that reads and then writes in two steps: two
                // threads reading the same count would both write count + 1,
                // and the sums would come up short (lost updates are likely
                // over 40,000 racing upserts, not certain on a given run).
                const THREADS: u64 = 4;
                const PER_THREAD: u64 = 10_000;
                const KEYS: u64 = 3;
                let m = map::<u64>();
                std::thread::scope(|s| {
                    for t in 0..THREADS {
                        let m = &m;
                        s.spawn(move || {
                            for i in 0..PER_THREAD {
                                let key = (i + t) % KEYS;
                                if i % 2 == 0 {
                                    m.entry(key).and_modify(|v| *v += 1).or_insert(1);
                                } else {
                                    let p = m.pin();
                                    p.entry(key).and_modify(|v| *v += 1).or_insert(1);
                                }
                            }
                            kovan_map::flush();
                        });
                    }
                });
                let total: u64 = (0..KEYS).map(|k| m.get(&k).unwrap()).sum();
                assert_eq!(total, THREADS * PER_THREAD);
                for k in 0..KEYS {
                    // Each thread sends `(i + t) % 3 == k` for a third of its
                    // i (10,000 = 3 * 3,333 + 1: one key gets one more).
                    let expected: u64 = (0..THREADS)
                        .map(|t| (0..PER_THREAD).filter(|i| (i + t) % KEYS == k).count() as u64)
                        .sum();
                    assert_eq!(m.get(&k), Some(expected), "key {k}");
                }
                assert_eq!(m.len(), KEYS as usize);
            }

            #[test]
            fn racing_first_inserts_make_at_most_once_each_and_keep_one_value() {
                // 4 threads insert the same fresh keys with a counting
                // `make`: every call makes at most once, one value per key
                // wins, and the modification counts are exact. Would catch
                // a modified terminal call that made its default on every
                // attempt (made > calls) or lost a concurrent increment.
                const THREADS: usize = 4;
                const KEYS: u64 = 200;
                let made = AtomicUsize::new(0);
                let m = map::<u64>();
                std::thread::scope(|s| {
                    for _ in 0..THREADS {
                        let (m, made) = (&m, &made);
                        s.spawn(move || {
                            for k in 0..KEYS {
                                m.entry(k).and_modify(|v| *v += 1).or_insert_with(|| {
                                    made.fetch_add(1, Ordering::Relaxed);
                                    1
                                });
                            }
                            kovan_map::flush();
                        });
                    }
                });
                let made = made.load(Ordering::Relaxed);
                assert!(
                    made >= KEYS as usize && made <= THREADS * KEYS as usize,
                    "{made}"
                );
                for k in 0..KEYS {
                    assert_eq!(m.get(&k), Some(THREADS as u64), "key {k}");
                }
            }

            #[test]
            fn a_closure_writing_its_own_map_panics_with_recursive_update() {
                // std builds: the closures run under the map's reentry mark.
                let m = map::<u64>();
                m.insert(1, 1);
                let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
                    m.entry(1)
                        .and_modify(|v| {
                            m.insert(2, 2);
                            *v += 1;
                        })
                        .or_insert(0);
                })));
                assert!(text.contains("recursive update"), "{text}");
                let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
                    m.entry(3).or_insert_with(|| {
                        m.remove(&1);
                        3
                    });
                })));
                assert!(text.contains("recursive update"), "{text}");
                let text = panic_text(catch_unwind(AssertUnwindSafe(|| {
                    let p = m.pin();
                    p.entry(4).and_modify(|_| {}).or_insert_with(|| {
                        m.entry(5).or_insert(5);
                        4
                    });
                })));
                assert!(text.contains("recursive update"), "{text}");
                // The panics came before any write: nothing changed.
                assert_eq!(m.get(&1), Some(1));
                assert_eq!(m.len(), 1);
                // Reading the map, or writing another one, is fine.
                let other = map::<u64>();
                let got = m
                    .entry(1)
                    .and_modify(|v| {
                        other.insert(1, *v);
                        *v += m.get(&1).unwrap();
                    })
                    .or_insert(0);
                assert_eq!(got, 2);
                assert_eq!(other.get(&1), Some(1));
            }
        }
    };
}

entry_tests!(hash_map, HashMap);
entry_tests!(hopscotch, HopscotchMap);
