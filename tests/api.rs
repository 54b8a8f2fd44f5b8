//! The public API, checked against its documentation, once per map.

mod common;

mod hash_map {
    use kovan_map::HashMap;
    crate::api_suite!(HashMap);
}

#[test]
fn maps_cross_threads_exactly_when_their_contents_can() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<kovan_map::HashMap<u64, String>>();
    sync::<kovan_map::HashMap<u64, String>>();
    // A map of `Cell`s may move to another thread, but not be shared.
    send::<kovan_map::HashMap<u64, std::cell::Cell<u64>>>();
    send::<kovan_map::HopscotchMap<u64, String>>();
    sync::<kovan_map::HopscotchMap<u64, String>>();
    send::<kovan_map::HopscotchMap<u64, std::cell::Cell<u64>>>();
}

mod hopscotch_map {
    use kovan_map::HopscotchMap;
    crate::api_suite!(HopscotchMap);
}

/// A closure that writes to its own map panics with "recursive update"
/// (issue 13: it used to spin forever, re-running the closure after each of
/// its own writes), for both maps and every closure-taking write.
mod recursive_update {
    use kovan_map::{HashMap, HopscotchMap};
    use std::panic::{catch_unwind, AssertUnwindSafe};

    fn message(result: std::thread::Result<()>) -> String {
        let payload = result.expect_err("the recursive write must panic");
        crate::common::panic_message(&*payload)
    }

    macro_rules! recursive_update_tests {
        ($name:ident, $make:expr) => {
            mod $name {
                use super::*;

                #[test]
                fn compute_calling_compute_on_its_key_panics() {
                    let map = $make;
                    map.insert(1u64, 1u64);
                    let text = message(catch_unwind(AssertUnwindSafe(|| {
                        map.compute(1, |v| {
                            map.compute(1, |w| w.map(|w| w + 1));
                            v.map(|v| v + 1)
                        });
                    })));
                    assert!(text.contains("recursive update"), "{text}");
                    // The inner call panicked before it wrote: nothing changed,
                    // and the map is still usable.
                    assert_eq!(map.get(&1), Some(1));
                    assert_eq!(map.insert(1, 5), Some(1));
                }

                #[test]
                fn compute_inserting_its_key_panics() {
                    let map = $make;
                    let text = message(catch_unwind(AssertUnwindSafe(|| {
                        map.compute(7u64, |_| {
                            map.insert(7, 1u64);
                            Some(2)
                        });
                    })));
                    assert!(text.contains("`insert`"), "{text}");
                }

                #[test]
                fn other_closures_writing_their_map_panic() {
                    let map = $make;
                    map.insert(1u64, 1u64);
                    let text = message(catch_unwind(AssertUnwindSafe(|| {
                        map.remove_if(&1, |_| map.remove(&1).is_some());
                    })));
                    assert!(text.contains("recursive update"), "{text}");
                    map.insert(1, 1);
                    let text = message(catch_unwind(AssertUnwindSafe(|| {
                        let _ = map.replace_if(1, 3, |_| map.insert(2, 2).is_none());
                    })));
                    assert!(text.contains("recursive update"), "{text}");
                    let text = message(catch_unwind(AssertUnwindSafe(|| {
                        map.get_or_insert_with(9, || {
                            map.clear();
                            9
                        });
                    })));
                    assert!(text.contains("`clear`"), "{text}");
                }

                #[test]
                fn closures_may_read_their_map_and_write_another() {
                    let map = $make;
                    let other = $make;
                    map.insert(1u64, 10u64);
                    let got = map.compute(2, |_| {
                        other.insert(2, 20);
                        map.get(&1).map(|v| v + 1)
                    });
                    assert_eq!(got, Some(11));
                    assert_eq!(other.get(&2), Some(20));
                    // The mark is gone once the closure returns.
                    map.insert(3, 30);
                    assert_eq!(map.len(), 3);
                }

                /// A closure of `map` that runs a closure of `other` which
                /// writes `map`: the inner mark (`other`'s) must not hide the
                /// outer one. Undetected, this is the same livelock (the
                /// write makes the outer compute's CAS fail, and the retry
                /// writes again), so it runs on a thread of its own and the
                /// test fails, instead of hanging, if no answer comes.
                #[test]
                fn a_write_through_another_maps_closure_panics() {
                    let (done, answer) = std::sync::mpsc::channel();
                    std::thread::spawn(move || {
                        let map = $make;
                        let other = $make;
                        map.insert(1u64, 1u64);
                        let text = message(catch_unwind(AssertUnwindSafe(|| {
                            map.compute(1, |v| {
                                other.compute(2, |_| {
                                    map.insert(1, 100);
                                    Some(2)
                                });
                                v.map(|v| v + 1)
                            });
                        })));
                        // The inner calls unwound: `map` is usable again.
                        let after = (map.insert(1, 5), map.get(&1));
                        let _ = done.send((text, after));
                    });
                    let (text, after) = answer
                        .recv_timeout(std::time::Duration::from_secs(120))
                        .expect("the nested recursive update was not detected: livelock");
                    assert!(text.contains("recursive update"), "{text}");
                    assert_eq!(after, (Some(1), Some(5)));
                }
            }
        };
    }

    recursive_update_tests!(hash_map, HashMap::<u64, u64>::with_capacity(8));
    recursive_update_tests!(hopscotch, HopscotchMap::<u64, u64>::with_capacity(8));
}

/// The borrowing API needs no `Clone`: a word counter of `AtomicU64`s
/// shared by threads, and `Mutex` values replaced while borrowed.
mod pinned {
    use kovan_map::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    #[test]
    fn a_shared_counter_of_atomics_counts_every_hit() {
        let words: HashMap<u64, AtomicU64> = HashMap::with_capacity(4);
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let words = &words;
                s.spawn(move || {
                    for i in 0..2_000u64 {
                        let m = words.pin();
                        m.get_or_insert_with((i * 7 + t) % 100, || AtomicU64::new(0))
                            .fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let m = words.pin();
        let total: u64 = m.iter().map(|(_, n)| n.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 8_000);
        assert_eq!(m.iter().count(), 100);
        assert_eq!(m.len(), 100);
    }

    #[test]
    fn borrowed_old_values_stay_readable_while_other_threads_churn() {
        let map: HashMap<u64, Mutex<Vec<u64>>> = HashMap::with_capacity(2);
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let map = &map;
                s.spawn(move || {
                    for i in 0..3_000u64 {
                        let key = i % 50;
                        let m = map.pin();
                        if let Some(old) = m.insert(key, Mutex::new(vec![t, i])) {
                            // The replaced value is retired, yet still ours to read.
                            let old = old.lock().unwrap();
                            assert_eq!(old.len(), 2);
                        }
                        if i % 3 == 0 {
                            if let Some(gone) = m.remove(&((key + 1) % 50)) {
                                assert_eq!(gone.lock().unwrap().len(), 2);
                            }
                        }
                        if let Some(v) = m.compute(key + 100, |v| {
                            Some(Mutex::new(vec![v.map_or(0, |v| v.lock().unwrap()[0] + 1)]))
                        }) {
                            assert!(!v.lock().unwrap().is_empty());
                        }
                    }
                });
            }
        });
        assert!(map.capacity() >= 64, "grew: {}", map.capacity());
    }
}

/// std-like methods of `HashMap` (issue 13).
mod std_like {
    use kovan_map::HashMap;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn debug_needs_no_clone() {
        let map: HashMap<u64, AtomicU64> = HashMap::with_capacity(4);
        map.pin().insert(1, AtomicU64::new(7));
        assert_eq!(format!("{map:?}"), "{1: 7}");
    }

    #[test]
    fn from_an_array_later_pairs_win() {
        let map: HashMap<&str, u32> = HashMap::from([("a", 1), ("b", 2), ("a", 3)]);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get("a"), Some(3));
    }

    #[test]
    fn get_mut_and_iter_mut_change_values_in_place() {
        let mut map: HashMap<u64, Vec<u64>> = HashMap::with_capacity(1);
        for i in 0..100 {
            map.insert(i, vec![i]);
        }
        map.get_mut(&5).unwrap().push(50);
        assert!(map.get_mut(&500).is_none());
        for (k, v) in map.iter_mut() {
            v.push(*k + 1);
        }
        assert_eq!(map.get(&5), Some(vec![5, 50, 6]));
        assert_eq!(map.iter_mut().count(), 100);
    }

    #[test]
    fn retain_keeps_exactly_what_it_is_told() {
        let map = HashMap::with_capacity(2);
        for i in 0..1000u64 {
            map.insert(i, i * 2);
        }
        map.retain(|k, v| k % 3 == 0 && *v < 1000);
        let mut left: Vec<u64> = map.keys().collect();
        left.sort();
        assert_eq!(left, (0..500).filter(|k| k % 3 == 0).collect::<Vec<_>>());
        assert_eq!(map.len(), left.len());
    }

    #[test]
    fn reserve_and_shrink_to_fit_move_the_capacity() {
        let map: HashMap<u64, u64> = HashMap::with_capacity(4);
        map.reserve(10_000);
        assert!(map.capacity() * 3 / 4 >= 10_000);
        for i in 0..10_000 {
            map.insert(i, i);
        }
        let grown = map.capacity();
        map.reserve(1);
        assert_eq!(map.capacity(), grown, "already room for one more");
        for i in 0..9_990 {
            map.remove(&i);
        }
        map.shrink_to_fit();
        assert!(map.capacity() <= 16, "{}", map.capacity());
        assert!(map.capacity() >= 4);
        for i in 9_990..10_000 {
            assert_eq!(map.get(&i), Some(i));
        }
    }
}

/// The borrowing API of `HopscotchMap`.
mod hopscotch_pinned {
    use kovan_map::HopscotchMap;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn a_shared_counter_of_atomics_counts_every_hit_across_resizes() {
        let words: HopscotchMap<u64, AtomicU64> = HopscotchMap::with_capacity(4);
        std::thread::scope(|s| {
            for t in 0..3u64 {
                let words = &words;
                s.spawn(move || {
                    for i in 0..3_000u64 {
                        let m = words.pin();
                        m.get_or_insert_with((i * 7 + t) % 500, || AtomicU64::new(0))
                            .fetch_add(1, Ordering::Relaxed);
                        if i % 10 == 0 {
                            if let Some(v) = m.compute(1000 + i % 7, |v| {
                                Some(AtomicU64::new(
                                    v.map_or(0, |v| v.load(Ordering::Relaxed)) + 1,
                                ))
                            }) {
                                assert!(v.load(Ordering::Relaxed) >= 1);
                            }
                        }
                    }
                });
            }
        });
        let m = words.pin();
        let total: u64 = m
            .iter()
            .filter(|(k, _)| **k < 1000)
            .map(|(_, n)| n.load(Ordering::Relaxed))
            .sum();
        assert_eq!(total, 9_000);
        assert_eq!(m.iter().count(), 507);
        assert!(m.remove(&0).is_some());
        assert!(m.insert(0, AtomicU64::new(5)).is_none());
        assert_eq!(
            m.insert(0, AtomicU64::new(6))
                .map(|v| v.load(Ordering::Relaxed)),
            Some(5)
        );
    }
}
