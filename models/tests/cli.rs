//! The `lincheck` command line: each exit status, and each rule of
//! docs/history-format.md about malformed input (`FILE:LINE: reason` on
//! standard error, exit 2, never a panic).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_lincheck");

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A fresh temporary path (removed by the caller's `Temp` guard).
struct Temp(PathBuf);

impl Temp {
    fn new(ext: &str) -> Temp {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let mut p = std::env::temp_dir();
        p.push(format!("lincheck-cli-{}-{n}.{ext}", std::process::id()));
        Temp(p)
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn write(content: &[u8]) -> Temp {
    let t = Temp::new("jsonl");
    std::fs::write(&t.0, content).unwrap();
    t
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("run lincheck")
}

fn check(content: &str, extra: &[&str]) -> (i32, String, String, Temp) {
    let f = write(content.as_bytes());
    let path = f.0.to_str().unwrap().to_string();
    let mut args = vec!["check", path.as_str()];
    args.extend_from_slice(extra);
    let out = run(&args);
    (
        out.status.code().expect("exited, not killed"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        f,
    )
}

/// Asserts exit 2 with `FILE:LINE: ...` naming `line`, and that the
/// message mentions `needle`.
fn assert_bad(content: &str, line: usize, needle: &str) {
    let (code, _, err, f) = check(content, &[]);
    let prefix = format!("{}:{line}: ", f.0.display());
    assert_eq!(code, 2, "stderr: {err}");
    assert!(err.starts_with(&prefix), "expected {prefix:?}, got: {err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

const INS: &str = r#"{"thread":0,"call":1,"ret":2,"op":"insert","key":1,"value":5,"result":null}"#;
const GET_OK: &str = r#"{"thread":1,"call":3,"ret":4,"op":"get","key":1,"result":5}"#;
const GET_STALE: &str = r#"{"thread":1,"call":3,"ret":4,"op":"get","key":1,"result":null}"#;

#[test]
fn linearizable_exits_0_with_a_summary() {
    let (code, out, _, _f) = check(&format!("{INS}\n{GET_OK}\n"), &[]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("linearizable: 2 operations, 1 keys"),
        "{out}"
    );
    assert_eq!(out.lines().count(), 1);
}

#[test]
fn lines_may_come_in_any_order() {
    let (code, ..) = check(&format!("{GET_OK}\n{INS}\n"), &[]);
    assert_eq!(code, 0);
}

#[test]
fn not_linearizable_exits_1_with_a_timeline_and_svg() {
    let svg = Temp::new("svg");
    let (code, out, _, _f) = check(
        &format!("{INS}\n{GET_STALE}\n"),
        &["--svg", svg.0.to_str().unwrap()],
    );
    assert_eq!(code, 1);
    assert!(out.contains("not linearizable"), "{out}");
    assert!(out.contains("! get(1) -> None"), "{out}");
    let picture = std::fs::read_to_string(&svg.0).expect("svg written");
    assert!(picture.starts_with("<svg"));
}

#[test]
fn svg_is_not_written_for_a_linearizable_history() {
    let svg = Temp::new("svg");
    let (code, ..) = check(
        &format!("{INS}\n{GET_OK}\n"),
        &["--svg", svg.0.to_str().unwrap()],
    );
    assert_eq!(code, 0);
    assert!(!svg.0.exists());
}

#[test]
fn a_limit_exits_3_naming_the_key() {
    // The time is up before the search starts.
    let (code, out, ..) = check(&format!("{INS}\n{GET_OK}\n"), &["--timeout", "0.000000001"]);
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("undecided") && out.contains("key: 1"), "{out}");
}

#[test]
fn stats_prints_the_counters() {
    let (code, out, ..) = check(&format!("{INS}\n{GET_OK}\n"), &["--stats"]);
    assert_eq!(code, 0);
    for word in [
        "operations 2",
        "keys 1",
        "largest partition 2",
        "states",
        "peak memory",
    ] {
        assert!(out.contains(word), "missing {word:?} in {out}");
    }
}

#[test]
fn an_empty_file_is_linearizable() {
    let (code, ..) = check("\n\n", &[]);
    assert_eq!(code, 0);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["frobnicate"],
        &["check"],
        &["check", "a.jsonl", "b.jsonl"],
        &["check", "a.jsonl", "--bogus"],
        &["check", "a.jsonl", "--timeout"],
        &["check", "a.jsonl", "--timeout", "soon"],
        &["check", "a.jsonl", "--timeout", "-1"],
        &["check", "a.jsonl", "--timeout", "0"],
        &["check", "a.jsonl", "--max-memory", "0"],
        &["check", "a.jsonl", "--svg"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "args {args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("usage:"), "args {args:?}: {err}");
    }
    let out = run(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn bad_json_names_its_line_counting_blank_lines() {
    assert_bad(&format!("{INS}\n\n   \n{{\"thread\":\n"), 4, "bad JSON");
    assert_bad("[1,2]\n", 1, "bad JSON");
    assert_bad(&format!("{INS} {INS}\n"), 1, "bad JSON");
}

#[test]
fn non_utf8_names_its_line() {
    let mut bytes = format!("{INS}\n{GET_OK}\n").into_bytes();
    bytes.extend_from_slice(b"{\"op\":\"\xff\"}\n");
    let f = write(&bytes);
    let out = run(&["check", f.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:3: not valid UTF-8", f.0.display())),
        "{err}"
    );
}

#[test]
fn unknown_op_and_unknown_or_repeated_fields_are_errors() {
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"clear","key":1,"result":null}"#,
        1,
        "unknown op `clear`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","key":1,"result":null,"reslt":1}"#,
        1,
        "unknown field `reslt`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","key":1,"key":2,"result":null}"#,
        1,
        "appears twice",
    );
}

#[test]
fn required_fields_are_required() {
    assert_bad(
        r#"{"call":1,"ret":2,"op":"get","key":1,"result":null}"#,
        1,
        "missing field `thread`",
    );
    assert_bad(
        r#"{"thread":0,"ret":2,"op":"get","key":1,"result":null}"#,
        1,
        "missing field `call`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"op":"get","key":1,"result":null}"#,
        1,
        "missing field `ret`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"key":1,"result":null}"#,
        1,
        "missing field `op`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","result":null}"#,
        1,
        "missing field `key`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","key":1}"#,
        1,
        "missing field `result`",
    );
}

#[test]
fn ret_must_be_after_call() {
    assert_bad(
        r#"{"thread":0,"call":2,"ret":2,"op":"get","key":1,"result":null}"#,
        1,
        "greater than `call`",
    );
    assert_bad(
        r#"{"thread":0,"call":3,"ret":2,"op":"get","key":1,"result":null}"#,
        1,
        "greater than `call`",
    );
}

#[test]
fn numbers_must_be_exact_integers_in_range() {
    let line = |field: &str, v: &str| {
        let mut fields = vec![
            ("thread", "0".to_string()),
            ("call", "1".to_string()),
            ("ret", "2".to_string()),
            ("op", "\"insert\"".to_string()),
            ("key", "1".to_string()),
            ("value", "5".to_string()),
            ("result", "null".to_string()),
        ];
        for f in &mut fields {
            if f.0 == field {
                f.1 = v.to_string();
            }
        }
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", body.join(","))
    };
    for (field, v) in [
        ("key", "1.0"),
        ("key", "1e3"),
        ("key", "9223372036854775808"),
        ("key", "-9223372036854775809"),
        ("key", "\"1\""),
        ("value", "2.5"),
        ("result", "1E2"),
        ("result", "true"),
        ("thread", "-1"),
        ("thread", "18446744073709551616"),
        ("call", "1.5"),
        ("ret", "2.0"),
    ] {
        assert_bad(&line(field, v), 1, &format!("`{field}` must be an integer"));
    }
    // The extremes themselves are fine.
    let ok = line("key", "-9223372036854775808");
    let (code, ..) = check(&ok, &[]);
    assert_eq!(code, 0);
    let ok = line("thread", "18446744073709551615");
    let (code, ..) = check(&ok, &[]);
    assert_eq!(code, 0);
}

#[test]
fn value_rules() {
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"insert","key":1,"result":null}"#,
        1,
        "needs an integer `value`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"insert_if_absent","key":1,"value":null,"result":null}"#,
        1,
        "needs an integer `value`",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","key":1,"value":3,"result":null}"#,
        1,
        "takes no `value`",
    );
    let (code, ..) = check(
        r#"{"thread":0,"call":1,"ret":2,"op":"remove","key":1,"value":null,"result":null}"#,
        &[],
    );
    assert_eq!(code, 0);
}

#[test]
fn result_rules() {
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"contains_key","key":1,"result":0}"#,
        1,
        "true or false",
    );
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"contains_key","key":1,"result":null}"#,
        1,
        "true or false",
    );
    // Ignored when ret is null, whatever it is.
    let (code, ..) = check(
        r#"{"thread":0,"call":1,"ret":null,"op":"get","key":1,"result":"anything"}"#,
        &[],
    );
    assert_eq!(code, 0);
    let (code, ..) = check(
        r#"{"thread":0,"call":1,"ret":null,"op":"insert","key":1,"value":2}"#,
        &[],
    );
    assert_eq!(code, 0);
}

fn op(thread: u64, call: u64, ret: Option<u64>) -> String {
    let ret = ret.map_or("null".to_string(), |r| r.to_string());
    format!(r#"{{"thread":{thread},"call":{call},"ret":{ret},"op":"get","key":1,"result":null}}"#)
}

#[test]
fn overlapping_operations_of_one_thread_name_the_later_line() {
    // Equal times are an overlap.
    assert_bad(
        &format!("{}\n{}\n", op(0, 1, Some(5)), op(0, 5, Some(6))),
        2,
        "overlaps the operation on line 1",
    );
    // The pair is reported at its later line, whatever the time order.
    assert_bad(
        &format!("{}\n\n{}\n", op(0, 5, Some(9)), op(0, 1, Some(6))),
        3,
        "line 1",
    );
    // Other threads may overlap freely.
    let (code, ..) = check(
        &format!("{}\n{}\n", op(0, 1, Some(5)), op(1, 1, Some(5))),
        &[],
    );
    assert_eq!(code, 0);
}

#[test]
fn a_pending_operation_must_be_its_threads_last() {
    assert_bad(
        &format!("{}\n{}\n", op(0, 1, None), op(0, 5, Some(6))),
        2,
        "pending operation on line 1",
    );
    assert_bad(
        &format!("{}\n{}\n", op(0, 5, Some(6)), op(0, 1, None)),
        2,
        "not its thread's last",
    );
    assert_bad(
        &format!("{}\n{}\n", op(0, 1, None), op(0, 2, None)),
        2,
        "pending",
    );
}

#[test]
fn the_first_offending_line_wins() {
    // A pair completed on line 3 beats a bad line 4.
    let text = format!(
        "{}\n{}\n{}\nnot json\n",
        op(0, 10, Some(20)),
        op(1, 1, Some(2)),
        op(0, 15, Some(30))
    );
    assert_bad(&text, 3, "overlaps the operation on line 1");
    // A bad line 2 beats a pair completed on line 3.
    let text = format!(
        "{}\nnot json\n{}\n",
        op(0, 10, Some(20)),
        op(0, 15, Some(30))
    );
    assert_bad(&text, 2, "bad JSON");
    // Of two pairs, the one completed first in the file wins, even if its
    // first line comes later than the other pair's first line.
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        op(0, 10, Some(20)),
        op(1, 10, Some(20)),
        op(1, 15, Some(16)),
        op(0, 12, Some(13))
    );
    assert_bad(&text, 3, "line 2");
    // An operation that overlaps two earlier ones is reported once, at its line.
    let text = format!(
        "{}\n{}\n{}\n",
        op(0, 1, Some(2)),
        op(0, 10, Some(11)),
        op(0, 2, Some(10))
    );
    assert_bad(&text, 3, "overlaps");
}

#[test]
fn large_files_report_the_same_first_bad_line() {
    // Over 1 MiB, so the file is read in chunks on several threads.
    let n = 20_000;
    let good: Vec<String> = (0..n)
        .map(|i| op(i % 7, 10 * (i / 7) + 1, Some(10 * (i / 7) + 5)))
        .collect();
    let with = |edits: &[(usize, String)]| {
        let mut lines = good.clone();
        for (at, text) in edits {
            lines[at - 1] = text.clone();
        }
        lines.join("\n") + "\n"
    };
    let (code, ..) = check(&with(&[]), &[]);
    assert_eq!(code, 0);
    // A bad line late in the file.
    assert_bad(&with(&[(17_001, "{".into())]), 17_001, "bad JSON");
    // A pair completed earlier wins over it: line 12,001 overlaps thread
    // 3's operation on line 7,004 ([10001, 10005]).
    let clash = op(3, 10_003, Some(10_004));
    let mut lines = good.clone();
    lines[17_000] = "{".into();
    lines.insert(12_000, clash);
    let text = lines.join("\n") + "\n";
    assert_bad(&text, 12_001, "overlaps");
    // A bad line in the first chunk wins over one in the last.
    assert_bad(
        &with(&[(2, "[]".into()), (19_999, "{".into())]),
        2,
        "bad JSON",
    );
}

// Hostile inputs (issue 9).

/// A valid file over 1 MiB whose multi-byte characters straddle the points
/// where the parallel parser splits it: the split must be at line ends
/// (it sliced the text mid-character and panicked, exit 101).
#[test]
fn a_large_file_with_multibyte_text_is_split_at_line_ends() {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let small = format!("{INS}\n{GET_OK}\n");
    let big = |pad: usize| {
        let run = "é".repeat(600_000);
        format!(
            "{}{small}{{\"thread\":5,\"call\":1,\"ret\":null,\"op\":\"get\",\"key\":1,\"result\":\"{run}\"}}\n",
            " \n".repeat(pad)
        )
    };
    // Padding so that every split point the old parser used (len * k /
    // threads) lands inside an "é" (two bytes).
    let text = (0..2000)
        .map(big)
        .find(|t| (1..threads).all(|k| !t.is_char_boundary(t.len() * k / threads)))
        .expect("some padding puts every split inside a character");
    let (code, out, err, _f) = check(&text, &[]);
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    // The same file with a bad last line is an error on that line.
    let lines = text.lines().count();
    let (code, _, err, _f) = check(&format!("{text}{{\n"), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!(":{}: bad JSON", lines + 1)), "{err}");
}

/// `-0` is the integer 0 in every integer field; `-0.0` is still a fraction.
#[test]
fn minus_zero_is_the_integer_zero() {
    let (code, _, err, _f) = check(
        r#"{"thread":-0,"call":-0,"ret":2,"op":"insert","key":-0,"value":-0,"result":null}
{"thread":1,"call":3,"ret":4,"op":"get","key":0,"result":-0}"#,
        &[],
    );
    assert_eq!(code, 0, "{err}");
    assert_bad(
        r#"{"thread":0,"call":1,"ret":2,"op":"get","key":-0.0,"result":null}"#,
        1,
        "`key` must be an integer",
    );
}

/// The verdict's exit status survives a full standard output (it panicked
/// "failed printing to stdout", exit 101).
#[test]
fn a_full_stdout_does_not_change_the_exit_status() {
    for (content, expected) in [
        (format!("{INS}\n{GET_STALE}\n"), 1),
        (format!("{INS}\n{GET_OK}\n"), 0),
    ] {
        let f = write(content.as_bytes());
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(BIN)
            .args(["check", f.0.to_str().unwrap(), "--stats"])
            .stdout(full)
            .output()
            .expect("run lincheck");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(expected), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A file that cannot be read is reported in the documented
/// `FILE:LINE: reason` form, with line 0.
#[test]
fn an_unreadable_file_is_reported_at_line_0() {
    let missing = Temp::new("jsonl");
    let out = run(&["check", missing.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with(&format!("{}:0: cannot read", missing.0.display())),
        "{err}"
    );
}

/// `--timeout` bounds the whole run, shrinking included: the summary line
/// reports the total (reading, checking, shrinking) and it stays within
/// the limit plus a small constant (shrinking had 10 s of its own on top).
/// The history is dense (one key, 32 threads, one stale read), so
/// shrinking it costs many failing searches.
#[test]
fn shrinking_stops_at_its_deadline_whatever_is_left() {
    // The defect: shrinking had a fixed 10 s of its own past `--timeout`.
    // The behaviour that bounds the run: every shrink step first checks the
    // deadline, so with no shrinking time left the first failing
    // sub-history found comes back at once, marked not minimal. (No clock
    // is asserted: the bench example reports the whole run's time under
    // `--timeout`.)
    use kovan_map_models::lincheck::{check_with, Limits, Verdict};
    use kovan_map_models::scenario::{corrupt, simulate, SimConfig};
    let cfg = SimConfig {
        ops: 2_000,
        threads: 8,
        keys: 1,
        ..SimConfig::default()
    };
    let mut ops = simulate(&cfg, 1);
    corrupt(&mut ops, 1 ^ 0x5eed).expect("a read to corrupt");
    let no_time = Limits {
        shrink_time: std::time::Duration::ZERO,
        ..Limits::default()
    };
    let report = check_with(&ops, &no_time).expect("a valid history");
    let Verdict::NotLinearizable(cx) = report.verdict else {
        panic!("a corrupted history must fail: {:?}", report.verdict);
    };
    assert!(!cx.minimal, "no shrinking time, yet marked minimal");
    // With time (an hour: no clock is asserted), the same history shrinks
    // to a 1-minimal counterexample.
    let unhurried = Limits {
        shrink_time: std::time::Duration::from_secs(3600),
        ..Limits::default()
    };
    let report = check_with(&ops, &unhurried).expect("a valid history");
    let Verdict::NotLinearizable(shrunk) = report.verdict else {
        panic!("a corrupted history must fail");
    };
    assert!(shrunk.minimal);
    assert!(shrunk.ops.len() < cx.ops.len());
}

// Format version 2: len and iter (docs/history-format.md).

const V2: &str = "{\"version\":2}";
const LEN_1: &str = r#"{"thread":2,"call":5,"ret":6,"op":"len","result":1}"#;
const ITER_1: &str = r#"{"thread":2,"call":7,"ret":9,"op":"iter","result":[1]}"#;

#[test]
fn version_2_files_with_scans_are_checked() {
    let (code, out, err, _f) = check(&format!("{V2}\n{INS}\n{GET_OK}\n{LEN_1}\n{ITER_1}\n"), &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 scans"), "{out}");
    // A pending scan's result is ignored, like an operation's.
    let pending = r#"{"thread":3,"call":7,"ret":null,"op":"iter","result":"anything"}"#;
    let (code, ..) = check(&format!("{V2}\n{INS}\n{pending}\n"), &[]);
    assert_eq!(code, 0);
}

#[test]
fn a_broken_scan_promise_exits_1_with_the_operations_that_show_it() {
    let missed = r#"{"thread":2,"call":7,"ret":9,"op":"iter","result":[]}"#;
    let (code, out, _, _f) = check(&format!("\n{V2}\n{INS}\n{missed}\n"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("missed key 1"), "{out}");
    assert!(out.contains("insert(1, 5)"), "{out}");
    let twice = r#"{"thread":2,"call":7,"ret":9,"op":"iter","result":[1,1]}"#;
    let (code, out, ..) = check(&format!("{V2}\n{INS}\n{twice}\n"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("yielded key 1 twice"), "{out}");
    let wrong_len = r#"{"thread":2,"call":7,"ret":9,"op":"len","result":2}"#;
    let (code, out, ..) = check(&format!("{V2}\n{INS}\n{wrong_len}\n"), &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("more than the 1 keys"), "{out}");
}

#[test]
fn version_rules() {
    // Old files stay valid; scans need the header.
    assert_bad(&format!("{INS}\n{LEN_1}\n"), 2, "needs version 2");
    // The header is the first non-blank line, once.
    assert_bad(&format!("{INS}\n{V2}\n"), 2, "first non-blank line");
    assert_bad(&format!("{V2}\n{V2}\n"), 2, "first non-blank line");
    assert_bad("{\"version\":3}\n", 1, "unsupported `version`");
    assert_bad("\n{\"version\":2,\"thread\":0}\n", 2, "no other fields");
    let (code, ..) = check(&format!("{{\"version\":1}}\n{INS}\n"), &[]);
    assert_eq!(code, 0);
    // Scan fields.
    assert_bad(
        &format!(
            "{V2}\n{}\n",
            r#"{"thread":2,"call":5,"ret":6,"op":"len","key":1,"result":1}"#
        ),
        2,
        "takes no `key`",
    );
    assert_bad(
        &format!(
            "{V2}\n{}\n",
            r#"{"thread":2,"call":5,"ret":6,"op":"iter","result":[1,2.5]}"#
        ),
        2,
        "array of integer keys",
    );
    assert_bad(
        &format!(
            "{V2}\n{}\n",
            r#"{"thread":2,"call":5,"ret":6,"op":"len","result":1.5}"#
        ),
        2,
        "`result` must be an integer",
    );
    // A scan is an operation of its thread: no overlap.
    assert_bad(
        &format!(
            "{V2}\n{}\n{}\n",
            r#"{"thread":0,"call":1,"ret":9,"op":"len","result":0}"#, INS
        ),
        3,
        "overlaps",
    );
}
