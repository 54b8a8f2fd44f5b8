//! Benchmark of the checker on histories linearizable by construction, and
//! on the same histories with one corrupted result.
//!
//! ```text
//! cargo run -p kovan-map-models --release --example lincheck_bench [-- [--values N] [--seed S] [--only NAME] [--write DIR] [--no-precheck]]
//! ```
//!
//! For each shape it prints the verdict, time, states, the memo's peak and
//! the process's peak resident memory (VmHWM, reset before each shape
//! through /proc/self/clear_refs where Linux allows). `--write DIR` also
//! writes each history as DIR/NAME.jsonl for timing the command line with
//! `/usr/bin/time -v`; DIR is created (with its parents) before any work,
//! and a DIR that cannot be created or a file that cannot be written ends
//! the run with a message and exit status 2. This is a benchmark, not a
//! test: nothing is asserted about time.

use std::time::Instant;

use kovan_map_models::jsonl;
use kovan_map_models::lincheck::{self, Verdict};
use kovan_map_models::scenario::{corrupt, corrupt_unwritten, simulate, OpMix, SimConfig};

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    l.split_whitespace().nth(1)?.parse().ok()
}

fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn main() {
    let mut values = None;
    let mut seed = 1u64;
    let mut only: Option<String> = None;
    let mut write_dir: Option<String> = None;
    let mut precheck = true;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--values" => values = args.next().and_then(|v| v.parse().ok()),
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).unwrap_or(1),
            "--only" => only = args.next(),
            "--write" => match args.next() {
                Some(dir) => write_dir = Some(dir),
                None => {
                    eprintln!("--write needs a directory");
                    std::process::exit(2);
                }
            },
            // Measure the search itself on reads of unwritten values.
            "--no-precheck" => precheck = false,
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let base = SimConfig {
        ops: 100_000,
        values,
        mix: OpMix::FileFormat,
        ..SimConfig::default()
    };
    let shapes = [
        (
            "keys1024_t8",
            SimConfig {
                keys: 1024,
                threads: 8,
                ..base.clone()
            },
        ),
        (
            "hot4_t8",
            SimConfig {
                keys: 4,
                threads: 8,
                ..base.clone()
            },
        ),
        (
            "key1_t8",
            SimConfig {
                keys: 1,
                threads: 8,
                ..base.clone()
            },
        ),
        (
            "key1_t16_p8",
            SimConfig {
                keys: 1,
                threads: 16,
                pending: 8,
                ..base.clone()
            },
        ),
        (
            "key1_t32",
            SimConfig {
                keys: 1,
                threads: 32,
                ..base.clone()
            },
        ),
        // Scale targets of issue 9: 256 threads on 4 hot keys (about 230
        // operations open at once, 58 on each key), and a million
        // operations over 1,024 keys.
        (
            "hot4_t256",
            SimConfig {
                keys: 4,
                threads: 256,
                ..base.clone()
            },
        ),
        (
            "keys1024_t8_1m",
            SimConfig {
                ops: 1_000_000,
                keys: 1024,
                threads: 8,
                ..base.clone()
            },
        ),
    ];
    if let Some(dir) = &write_dir {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("--write {dir}: cannot create the directory: {e}");
            std::process::exit(2);
        }
    }
    println!(
        "values: {}; seed {seed}; ops 100000 (keys1024_t8_1m: 1000000)",
        values.map_or("unique per write".to_string(), |v| format!("0..{v}"))
    );
    println!(
        "{:<22} {:<18} {:>9} {:>10} {:>10} {:>11} {:>10}",
        "shape", "verdict", "check s", "states", "memo MiB", "VmHWM MiB", "shrink s"
    );
    for (name, cfg) in shapes {
        if only.as_deref().is_some_and(|o| !name.starts_with(o)) {
            continue;
        }
        let clean = simulate(&cfg, seed);
        let mut bad = clean.clone();
        // Unique values: a stale read (never linearizable then). Values from
        // a small range: a read of a value never written.
        let corrupted = match values {
            None => corrupt(&mut bad, seed ^ 0x5eed),
            Some(_) => corrupt_unwritten(&mut bad, seed ^ 0x5eed),
        };
        let mut runs = vec![(name.to_string(), clean)];
        if corrupted.is_some() {
            runs.push((format!("{name}_corrupt"), bad));
        }
        for (label, ops) in runs {
            if let Some(dir) = &write_dir {
                let path = format!("{dir}/{label}.jsonl");
                let text = jsonl::to_string(&ops).expect("simulated histories are in the format");
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("{path}: cannot write: {e}");
                    std::process::exit(2);
                }
            }
            let reset = reset_hwm();
            let t = Instant::now();
            let limits = lincheck::Limits {
                reject_unwritten: precheck,
                ..lincheck::Limits::default()
            };
            let report = lincheck::check_with(&ops, &limits).expect("valid history");
            let secs = t.elapsed().as_secs_f64();
            let verdict = match &report.verdict {
                Verdict::Linearizable => "linearizable".to_string(),
                Verdict::NotLinearizable(cx) => format!("NOT ({} ops)", cx.ops.len()),
                Verdict::Undecided { limit, .. } => format!("undecided {limit:?}"),
            };
            let s = &report.stats;
            println!(
                "{:<22} {:<18} {:>9.3} {:>10} {:>10.1} {:>11} {:>10.3}",
                label,
                verdict,
                s.check_time.as_secs_f64(),
                s.states,
                s.peak_memo_bytes as f64 / 1048576.0,
                match (reset, vm_hwm_kib()) {
                    (true, Some(k)) => format!("{:.1}", k as f64 / 1024.0),
                    (false, Some(k)) => format!("{:.1}*", k as f64 / 1024.0),
                    _ => "?".into(),
                },
                s.shrink_time.as_secs_f64()
            );
            let _ = secs;
        }
    }
}
