//! The main job: several threads hammer one `HashMap`, as in the seed's
//! example, then the map is checked against what the threads did, and a
//! recorded phase is checked for linearizability.
//!
//! `cargo run --release --example demo [-- THREADS OPS_PER_THREAD] [--history FILE]`
//!
//! With `--history FILE` the recorded phase is also written as JSON Lines
//! (docs/history-format.md), which
//! `cargo run --release -p kovan-map-models --bin lincheck -- check FILE`
//! checks again. The file is created before any work starts, so a path that
//! cannot be written (a missing directory, no permission) fails at once,
//! with exit status 2; it is written whatever the verdict, so a history
//! that is not linearizable can be looked at again.

use kovan_map::HashMap;
use kovan_map_models::adapter::exec;
use kovan_map_models::history::History;
use kovan_map_models::scenario::{arbitrary_op, OpMix};
use kovan_map_models::{jsonl, lincheck};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::Instant;

const USAGE: &str = "\
usage: cargo run --release --example demo [-- [THREADS [OPS_PER_THREAD]] [--history FILE]]

THREADS threads (default 4) insert OPS_PER_THREAD keys each (default 250000) into
one HashMap, run as many mixed operations each, and the map is checked; then a
recorded phase of 25000 operations a thread on 32 hot keys is checked for
linearizability.

  --history FILE   also write the recorded phase as JSON Lines
                   (docs/history-format.md), for
                   `cargo run --release -p kovan-map-models --bin lincheck -- check FILE`;
                   FILE is created before the work starts

exit status: 0 all checks passed, 1 not linearizable, 2 usage or a FILE that
cannot be written, 3 the check was undecided; a failed map check panics (101)";

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return;
    }
    let history_file = match args.iter().position(|a| a == "--history") {
        Some(i) if i + 1 < args.len() => {
            let file = args.remove(i + 1);
            args.remove(i);
            Some(file)
        }
        Some(_) => {
            eprintln!("demo: --history needs a file name");
            std::process::exit(2);
        }
        None => None,
    };
    let mut args = args.into_iter();
    let threads: u64 = parse(args.next(), "THREADS", 4);
    let ops: u64 = parse(args.next(), "OPS_PER_THREAD", 250_000);
    if let Some(extra) = args.next() {
        eprintln!("demo: unexpected argument {extra:?}");
        std::process::exit(2);
    }
    // Before any work: a history path that cannot be written fails now, not
    // after the run.
    let history_out = history_file.map(|path| {
        let file = create_history_file(&path);
        (path, file)
    });

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
        "final len {} = initial - removals + keys added back",
        map.len()
    );

    recorded_phase(threads, history_out);
    println!("all checks passed");
}

/// Phase 3: every operation recorded (call and return times from a shared
/// clock), on 32 hot keys in a map made with 8 buckets, then the whole history is
/// checked for linearizability against the sequential spec.
fn recorded_phase(threads: u64, history_out: Option<(String, File)>) {
    let per_thread = 25_000;
    let map: HashMap<i64, i64> = HashMap::with_capacity(8);
    let history = History::new();
    let start = Instant::now();
    thread::scope(|s| {
        for t in 0..threads {
            let mut rec = history.recorder(t);
            let map = &map;
            s.spawn(move || {
                let mut g = quickcheck::Gen::new(64);
                for _ in 0..per_thread {
                    // The five operations the history file format knows.
                    let op = arbitrary_op(&mut g, 32, 1_000_000, OpMix::FileFormat);
                    rec.record(op, || exec(map, &op));
                }
            });
        }
    });
    let ran = start.elapsed();
    let operations = history.operations();
    let report = lincheck::check(&operations).expect("the recorder writes well-formed histories");
    // Written whatever the verdict: a failing history is the one worth
    // keeping.
    if let Some((path, file)) = history_out {
        let text = jsonl::to_string(&operations).expect("file-format operations only");
        let mut out = BufWriter::new(file);
        if let Err(error) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            eprintln!("demo: cannot write the history to {path}: {error}");
            std::process::exit(2);
        }
        println!("history written to {path}");
    }
    match &report.verdict {
        lincheck::Verdict::Linearizable => println!(
            "recorded phase: {} operations on 32 hot keys in {:.1} ms; linearizable \
             (checked in {:.1} ms, {} states)",
            operations.len(),
            ran.as_secs_f64() * 1e3,
            report.stats.check_time.as_secs_f64() * 1e3,
            report.stats.states
        ),
        lincheck::Verdict::NotLinearizable(cx) => {
            eprintln!("recorded phase: NOT linearizable:\n{}", cx.timeline());
            std::process::exit(1);
        }
        lincheck::Verdict::Undecided { keys, limit } => {
            eprintln!("recorded phase: undecided ({limit:?}) on keys {keys:?}");
            std::process::exit(3);
        }
    }
}

/// Creates (or truncates) the `--history` file, or exits with status 2 and
/// a message that says why it cannot be written.
fn create_history_file(path: &str) -> File {
    match File::create(path) {
        Ok(file) => file,
        Err(error) => {
            let parent = Path::new(path)
                .parent()
                .filter(|p| !p.as_os_str().is_empty());
            match parent {
                Some(dir) if !dir.is_dir() => eprintln!(
                    "demo: --history {path}: the directory {} does not exist ({error})",
                    dir.display()
                ),
                _ => eprintln!("demo: --history {path}: cannot create the file: {error}"),
            }
            std::process::exit(2);
        }
    }
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
