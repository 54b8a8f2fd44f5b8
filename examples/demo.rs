//! The main job: several threads hammer one `HashMap`, as in the seed's
//! example, then the map is checked against what the threads did.
//!
//! `cargo run --release --example demo [-- THREADS OPS_PER_THREAD]`

use kovan_map::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let threads: u64 = parse(args.next(), "THREADS", 4);
    let ops: u64 = parse(args.next(), "OPS_PER_THREAD", 250_000);

    let map = Arc::new(HashMap::new());
    println!(
        "kovan-map demo: {threads} threads x {ops} operations on one HashMap ({} buckets)",
        map.capacity()
    );

    // Phase 1, as in the seed: every thread inserts its own keys.
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                for i in 0..ops {
                    map.insert(t * ops + i, i);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("an inserting thread panicked");
    }
    let elapsed = start.elapsed();
    println!(
        "inserted {} keys in {:.1} ms ({:.1} M inserts/s); len() = {}",
        threads * ops,
        elapsed.as_secs_f64() * 1e3,
        (threads * ops) as f64 / elapsed.as_secs_f64() / 1e6,
        map.len()
    );
    assert_eq!(map.len() as u64, threads * ops);

    // Phase 2: mixed traffic on shared keys: reads, replacements, removals,
    // read-modify-writes. Each thread counts what it did.
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let map = Arc::clone(&map);
            thread::spawn(move || {
                let mut counts = [0u64; 5];
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                for _ in 0..ops {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let key = (x >> 16) % (threads * ops);
                    match x % 10 {
                        0..=5 => {
                            counts[0] += u64::from(map.get(&key).is_some());
                        }
                        6 => {
                            counts[1] += u64::from(map.insert(key, x).is_none());
                        }
                        7 => {
                            counts[2] += u64::from(map.remove(&key).is_some());
                        }
                        8 => {
                            // The closure may run more than once; the last
                            // run is the one that took effect.
                            let mut was_absent = false;
                            map.compute(key, |v| {
                                was_absent = v.is_none();
                                Some(v.map_or(1, |n| n.wrapping_add(1)))
                            });
                            counts[3] += u64::from(was_absent);
                        }
                        _ => {
                            counts[4] += u64::from(map.insert_if_absent(key, 0).is_none());
                        }
                    }
                }
                counts
            })
        })
        .collect();
    let mut totals = [0u64; 5];
    for handle in handles {
        let counts = handle.join().expect("a mixing thread panicked");
        for (total, n) in totals.iter_mut().zip(counts) {
            *total += n;
        }
    }
    let elapsed = start.elapsed();
    println!(
        "mixed phase: {} ops in {:.1} ms ({:.1} M ops/s): {} hits, {} inserts of absent keys, \
         {} removals, {} computes of absent keys, {} claims",
        threads * ops,
        elapsed.as_secs_f64() * 1e3,
        (threads * ops) as f64 / elapsed.as_secs_f64() / 1e6,
        totals[0],
        totals[1],
        totals[2],
        totals[3],
        totals[4]
    );

    // The seed's closing checks, and the map's own accounting.
    let iterated = map.iter().count();
    assert_eq!(iterated, map.len(), "iteration and len disagree at rest");
    let expected_len = threads * ops - totals[2] + totals[1] + totals[3] + totals[4];
    assert_eq!(map.len() as u64, expected_len, "len after the mixed phase");
    map.insert(u64::MAX, 42);
    assert_eq!(map.get(&u64::MAX), Some(42));
    assert_eq!(map.remove(&u64::MAX), Some(42));
    assert_eq!(map.get(&u64::MAX), None);
    println!(
        "final len {} = initial - removals + keys added back; all checks passed",
        map.len()
    );
}

fn parse(arg: Option<String>, name: &str, default: u64) -> u64 {
    match arg {
        None => default,
        Some(text) => match text.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("demo: {name} must be a positive integer, got {text:?}");
                std::process::exit(2);
            }
        },
    }
}
