//! `lincheck check FILE.jsonl [--svg OUT.svg] [--timeout SECONDS]
//! [--max-memory MIB] [--stats]`
//!
//! Exit status (shared/history-format.md): 0 linearizable, 1 not
//! linearizable, 2 not a valid history or a usage error, 3 undecided.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kovan_map_models::jsonl;
use kovan_map_models::lincheck::{self, Limit, Limits, Verdict};

const USAGE: &str = "\
usage: lincheck check FILE.jsonl [--svg OUT.svg] [--timeout SECONDS] [--max-memory MIB] [--stats]

Checks a history (JSON Lines, see shared/history-format.md) for linearizability
against the sequential map specification.

  --svg OUT.svg       if not linearizable, also draw the counterexample as SVG
  --timeout SECONDS   give up (exit 3) after this long; decimals allowed
  --max-memory MIB    give up on a key whose search memo would pass this (default 1024)
  --stats             print operations, keys, largest key, states, peak memory

exit status: 0 linearizable, 1 not linearizable, 2 invalid history or usage, 3 undecided";

struct Args {
    file: PathBuf,
    svg: Option<PathBuf>,
    timeout: Option<Duration>,
    max_memory: usize,
    stats: bool,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    match args.next().as_deref() {
        Some("check") => {}
        Some("-h" | "--help" | "help") => return Ok(None),
        Some(other) => return Err(format!("unknown command `{other}` (expected `check`)")),
        None => return Err("missing command `check`".into()),
    }
    let mut file = None;
    let mut svg = None;
    let mut timeout = None;
    let mut max_memory = 1024usize << 20;
    let mut stats = false;
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--stats" => stats = true,
            "--svg" => svg = Some(PathBuf::from(value("--svg")?)),
            "--timeout" => {
                let v = value("--timeout")?;
                let secs: f64 = v
                    .parse()
                    .map_err(|_| format!("--timeout: `{v}` is not a number of seconds"))?;
                if !(secs.is_finite() && secs > 0.0 && secs < 1e9) {
                    return Err(format!(
                        "--timeout: `{v}` must be a positive number of seconds"
                    ));
                }
                timeout = Some(Duration::from_secs_f64(secs));
            }
            "--max-memory" => {
                let v = value("--max-memory")?;
                let mib: usize =
                    v.parse()
                        .ok()
                        .filter(|&m| m > 0 && m < 1 << 30)
                        .ok_or(format!(
                            "--max-memory: `{v}` is not a positive number of MiB"
                        ))?;
                max_memory = mib << 20;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown option `{flag}`")),
            path => {
                if file.is_some() {
                    return Err(format!("unexpected argument `{path}` (one FILE only)"));
                }
                file = Some(PathBuf::from(path));
            }
        }
    }
    let file = file.ok_or("missing FILE")?;
    Ok(Some(Args {
        file,
        svg,
        timeout,
        max_memory,
        stats,
    }))
}

/// Peak resident memory of this process, from /proc (Linux); `None`
/// elsewhere.
fn peak_rss() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(format!("{:.1} MiB", kib / 1024.0))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("lincheck: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let ops = match jsonl::read_file(&args.file) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let read_time = started.elapsed();
    let limits = Limits {
        timeout: args.timeout.map(|t| t.saturating_sub(read_time)),
        max_memory: args.max_memory,
        ..Limits::default()
    };
    let report = match lincheck::check_with(&ops, &limits) {
        Ok(r) => r,
        Err(e) => {
            // The parser is stricter than the checker, so this is a bug.
            eprintln!("{}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let s = &report.stats;
    let total = started.elapsed();
    let code = match &report.verdict {
        Verdict::Linearizable => {
            println!(
                "linearizable: {} operations, {} keys, {:.3} s",
                s.operations,
                s.keys,
                total.as_secs_f64()
            );
            0
        }
        Verdict::NotLinearizable(cx) => {
            println!(
                "not linearizable: {} operations, {} keys, {:.3} s (shrinking {:.3} s)",
                s.operations,
                s.keys,
                total.as_secs_f64(),
                s.shrink_time.as_secs_f64()
            );
            print!("{}", cx.timeline());
            if let Some(path) = &args.svg {
                if let Err(e) = std::fs::write(path, cx.svg()) {
                    eprintln!("{}: cannot write: {e}", path.display());
                    return ExitCode::from(2);
                }
                println!("wrote {}", path.display());
            }
            1
        }
        Verdict::Undecided { keys, limit } => {
            let why = match limit {
                Limit::Time => "the time limit (--timeout)".to_string(),
                Limit::Memory => format!("the memory limit ({} MiB)", args.max_memory >> 20),
            };
            let shown: Vec<String> = keys.iter().take(10).map(|k| k.to_string()).collect();
            let more = if keys.len() > 10 {
                format!(" and {} more", keys.len() - 10)
            } else {
                String::new()
            };
            println!(
                "undecided: the search hit {why}; undecided key{}: {}{more}",
                if keys.len() == 1 { "" } else { "s" },
                shown.join(", ")
            );
            3
        }
    };
    if args.stats {
        println!(
            "stats: operations {}, keys {}, largest partition {}, states {}, steps {}, \
             peak memo {:.1} MiB, peak memory {}, read {:.3} s, check {:.3} s",
            s.operations,
            s.keys,
            s.largest_partition,
            s.states,
            s.steps,
            s.peak_memo_bytes as f64 / (1 << 20) as f64,
            peak_rss().unwrap_or_else(|| "unknown (no /proc/self/status)".into()),
            read_time.as_secs_f64(),
            s.check_time.as_secs_f64()
        );
    }
    ExitCode::from(code)
}
