//! `lincheck check FILE.jsonl [--svg OUT.svg] [--timeout SECONDS]
//! [--max-memory MIB] [--stats]`
//!
//! The file format is docs/history-format.md. Exit status: 0 linearizable
//! (and every scan kept its promise), 1 not linearizable or a scan broke
//! its promise, 2 not a valid history or a usage error, 3 undecided.
//!
//! The exit status never depends on whether standard output could be
//! written (a full disk, a closed pipe): output errors are ignored.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use kovan_map_models::jsonl;
use kovan_map_models::lincheck::{self, Limit, Limits, Verdict};

const USAGE: &str = "\
usage: lincheck check FILE.jsonl [--svg OUT.svg] [--timeout SECONDS] [--max-memory MIB] [--stats]

Checks a history (JSON Lines; the format is docs/history-format.md in the
kovan-map repository) for linearizability against the sequential map
specification, and its len/iter scans (format version 2) against their weaker
promises (len exact when no write is in flight, never negative; iter yields
every key present throughout exactly once, never a key twice).

  --svg OUT.svg       if not linearizable, also draw the counterexample as SVG
  --timeout SECONDS   the whole run (reading, checking, shrinking) ends within this
                      long; a search cut short exits 3, a shrinking cut short shows
                      the smallest failing sub-history found; decimals allowed
  --max-memory MIB    give up on a key whose search memo would pass this (default 1024)
  --stats             print operations, keys, largest key, states, peak memory

exit status: 0 linearizable (and scans kept their promises), 1 not linearizable\n\
(or a scan broke its promise), 2 invalid history or usage, 3 undecided";

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
    let mut out = String::new();
    let code = run(&mut out);
    // A full or closed standard output must not change the verdict.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    ExitCode::from(code)
}

/// Runs the command, writing what goes to standard output into `out`;
/// returns the exit status.
fn run(out: &mut String) -> u8 {
    use std::fmt::Write as _;
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(a)) => a,
        Ok(None) => {
            let _ = writeln!(out, "{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("lincheck: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let started = Instant::now();
    let recording = match jsonl::read_file(&args.file) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{e}");
            return 2;
        }
    };
    let read_time = started.elapsed();
    let limits = Limits {
        timeout: args.timeout.map(|t| t.saturating_sub(read_time)),
        max_memory: args.max_memory,
        ..Limits::default()
    };
    let full = match lincheck::check_recording(&recording, &limits) {
        Ok(r) => r,
        Err(e) => {
            // The parser is stricter than the checker, so this is a bug.
            eprintln!("{}:0: {e}", args.file.display());
            return 2;
        }
    };
    let report = &full.report;
    let s = &report.stats;
    let total = started.elapsed();
    let scans = recording.scans.len();
    let scans_note = if scans == 0 {
        String::new()
    } else {
        format!(", {scans} scans")
    };
    let mut code = match &report.verdict {
        Verdict::Linearizable => {
            if full.scans.is_ok() {
                let _ = writeln!(
                    out,
                    "linearizable: {} operations, {} keys{scans_note}, {:.3} s",
                    s.operations,
                    s.keys,
                    total.as_secs_f64()
                );
            }
            0
        }
        Verdict::NotLinearizable(cx) => {
            let _ = writeln!(
                out,
                "not linearizable: {} operations, {} keys{scans_note}, {:.3} s (shrinking {:.3} s)",
                s.operations,
                s.keys,
                total.as_secs_f64(),
                s.shrink_time.as_secs_f64()
            );
            out.push_str(&cx.timeline());
            if let Some(path) = &args.svg {
                if let Err(e) = std::fs::write(path, cx.svg()) {
                    eprintln!("{}: cannot write: {e}", path.display());
                    return 2;
                }
                let _ = writeln!(out, "wrote {}", path.display());
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
            let _ = writeln!(
                out,
                "undecided: the search hit {why}; undecided key{}: {}{more}",
                if keys.len() == 1 { "" } else { "s" },
                shown.join(", ")
            );
            3
        }
    };
    if let Err(v) = &full.scans {
        let _ = writeln!(
            out,
            "a scan broke its promise: {} operations, {scans} scans, {:.3} s",
            s.operations,
            total.as_secs_f64()
        );
        out.push_str(&v.timeline());
        code = 1;
    }
    if args.stats {
        let _ = writeln!(
            out,
            "stats: operations {}, keys {}, scans {scans}, largest partition {}, states {}, steps {}, \
             peak memo {:.1} MiB, peak memory {}, read {:.3} s, check {:.3} s, shrink {:.3} s",
            s.operations,
            s.keys,
            s.largest_partition,
            s.states,
            s.steps,
            s.peak_memo_bytes as f64 / (1 << 20) as f64,
            peak_rss().unwrap_or_else(|| "unknown (no /proc/self/status)".into()),
            read_time.as_secs_f64(),
            s.check_time.as_secs_f64(),
            s.shrink_time.as_secs_f64()
        );
    }
    code
}
