//! The history file format: JSON Lines, one operation a line, as
//! `docs/history-format.md` defines it (that page is the contract; this
//! module follows it to the letter).
//!
//! Version 1 (a file without a header) knows five operations: `insert`,
//! `get`, `contains_key`, `remove` and `insert_if_absent`. Version 2 (a
//! file whose first non-blank line is `{"version":2}`) adds the scans `len`
//! and `iter` ([`Scan`]); every version-1 file reads the same as before.
//! [`write`] refuses any other operation, and any history the format
//! cannot express (two operations of one thread that overlap, as in a loom
//! [`PhasedHistory`](crate::history::PhasedHistory)).
//!
//! [`parse`] reports the first bad line as the format says: 1-based line
//! numbers counting blank lines (0 for the file as a whole); an error about
//! two lines names the later one; with several errors, the first line that
//! is wrong on its own or completes a wrong pair wins. Numbers are read
//! exactly, never through floating point. Nothing in the input can make it
//! panic or slow down more than linearly: large files are split at line
//! ends, and thread ids are hashed with a per-process random seed.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::history::{Operation, Outcome, Recording, Scan, ScanOp, Scanned};
use crate::spec::{Op, Ret};

/// The newest version of the format this module reads and writes.
pub const VERSION: u64 = 2;

/// A bad line of a history file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0 if the error is about the whole file).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Reads a history file. Errors print as `FILE:LINE: reason`, with line 0
/// when the file cannot be read at all.
pub fn read_file(path: &Path) -> Result<Recording, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}:0: cannot read: {e}"))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            // Lines before the bad byte may be wrong too; the first wins.
            let before = std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("");
            let cut = before.rfind('\n').map_or(0, |i| i + 1);
            if let Err(err) = parse(&before[..cut]) {
                return Err(format!("{name}:{err}"));
            }
            return Err(format!("{name}:{line}: not valid UTF-8"));
        }
    };
    parse(text).map_err(|e| format!("{name}:{e}"))
}

/// Parses a history in the JSON Lines format (either version).
pub fn parse(text: &str) -> Result<Recording, ParseError> {
    // The version header, if any, is the first non-blank line.
    let bytes = text.as_bytes();
    let mut version = 1;
    let mut body_start = 0;
    let mut body_line = 1;
    {
        let mut at = 0;
        let mut line = 1;
        while at < text.len() {
            let end = memchr_newline(bytes, at).unwrap_or(text.len());
            let l = &text[at..end];
            if !is_blank(l) {
                if let Some(v) = parse_header(l).map_err(|message| ParseError { line, message })? {
                    version = v;
                    body_start = (end + 1).min(text.len());
                    body_line = line + 1;
                }
                break;
            }
            at = end + 1;
            line += 1;
        }
    }
    let body = &text[body_start..];
    // Large files are parsed in chunks of whole lines on a few threads;
    // the first bad line of the first chunk that has one is the first bad
    // line of the file. Chunks end just after a `\n` (found by byte, so a
    // cut is never inside a character).
    let threads = if body.len() < (1 << 20) {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    let mut bounds = vec![0usize];
    for k in 1..threads {
        let at = (body.len() * k / threads).max(*bounds.last().unwrap_or(&0));
        let cut = memchr_newline(body.as_bytes(), at).map_or(body.len(), |i| i + 1);
        bounds.push(cut);
    }
    bounds.push(body.len());
    bounds.dedup();
    let chunks: Vec<&str> = bounds.windows(2).map(|w| &body[w[0]..w[1]]).collect();
    let mut first_line = vec![body_line; chunks.len()];
    for i in 1..chunks.len() {
        first_line[i] = first_line[i - 1] + chunks[i - 1].bytes().filter(|&b| b == b'\n').count();
    }
    let results: Vec<Chunk> = if chunks.len() == 1 {
        vec![parse_chunk(chunks[0], first_line[0], version)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .zip(&first_line)
                .map(|(c, &l)| s.spawn(move || parse_chunk(c, l, version)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut recording = Recording::default();
    let mut spans = Vec::new();
    let mut first_single = None;
    for chunk in results {
        recording.operations.extend(chunk.ops);
        recording.scans.extend(chunk.scans);
        spans.extend(chunk.spans);
        if chunk.error.is_some() {
            first_single = chunk.error;
            break;
        }
    }
    // Pairs among the lines read so far (all before any single-line error).
    if let Some(pair) = first_bad_pair(&spans) {
        return Err(pair);
    }
    match first_single {
        Some(e) => Err(e),
        None => Ok(recording),
    }
}

fn memchr_newline(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

fn is_blank(line: &str) -> bool {
    line.trim_matches(|c| c == ' ' || c == '\t' || c == '\r')
        .is_empty()
}

/// `Some(version)` if `line` is a version header (an object whose only
/// field is `version`), `None` if it is some other line.
fn parse_header(line: &str) -> Result<Option<u64>, String> {
    if !line.contains("\"version\"") {
        return Ok(None);
    }
    let Ok(fields) = read_fields(line) else {
        return Ok(None); // reported as bad JSON when read as a line
    };
    let Some(v) = &fields.version else {
        return Ok(None);
    };
    if fields.has_operation_fields() {
        return Err(
            "a version header has no other fields (write `{\"version\":2}` on a line of its own)"
                .into(),
        );
    }
    match v {
        Field::U64(n @ 1..=VERSION) => Ok(Some(*n)),
        other => Err(format!(
            "unsupported `version` {other} (this reader knows versions 1 to {VERSION})"
        )),
    }
}

/// Where one line's operation or scan sits in time, for the pair rules.
#[derive(Clone, Copy)]
struct Span {
    thread: u64,
    call: u64,
    ret: Option<u64>,
    line: usize,
}

/// The operations and scans of a run of lines, up to its first bad line.
struct Chunk {
    ops: Vec<Operation>,
    scans: Vec<Scan>,
    spans: Vec<Span>,
    error: Option<ParseError>,
}

/// One line's content.
enum Line {
    Op(Operation),
    Scan(Scan),
}

fn parse_chunk(text: &str, first_line: usize, version: u64) -> Chunk {
    let mut chunk = Chunk {
        ops: Vec::new(),
        scans: Vec::new(),
        spans: Vec::new(),
        error: None,
    };
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return chunk;
    }
    for (i, line) in text.split('\n').enumerate() {
        let lineno = first_line + i;
        if is_blank(line) {
            continue;
        }
        match parse_line(line, version) {
            Ok(Line::Op(op)) => {
                chunk.spans.push(Span {
                    thread: op.thread,
                    call: op.call,
                    ret: op.ret(),
                    line: lineno,
                });
                chunk.ops.push(op);
            }
            Ok(Line::Scan(scan)) => {
                chunk.spans.push(Span {
                    thread: scan.thread,
                    call: scan.call,
                    ret: scan.ret(),
                    line: lineno,
                });
                chunk.scans.push(scan);
            }
            Err(message) => {
                chunk.error = Some(ParseError {
                    line: lineno,
                    message,
                });
                break;
            }
        }
    }
    chunk
}

/// The hasher for thread ids read from the file: seeded at random per
/// process, so that no file can choose ids that share a bucket. `quality`,
/// as the maps' default: ids are small structured integers, whose low bits
/// `foldhash::fast` spreads poorly for some seeds (`kovan_map::DefaultHashBuilder`).
type ThreadIdHasher = foldhash::quality::RandomState;

/// The first line (in file order) that completes a pair of overlapping
/// operations of one thread.
fn first_bad_pair(spans: &[Span]) -> Option<ParseError> {
    // Per thread, the intervals seen so far; they are pairwise disjoint
    // (else an earlier line would have completed a bad pair), so checking
    // the neighbours by call time suffices. A pending operation spans
    // [call, infinity). While a thread's lines come in call order (the
    // usual case) the intervals are a sorted list and the only neighbour is
    // the last one; the first line out of order turns the list into a tree.
    enum Seen {
        Sorted(Vec<(u64, u128, usize)>),
        Tree(BTreeMap<u64, (u128, usize)>),
    }
    let mut threads: HashMap<u64, Seen, ThreadIdHasher> = HashMap::default();
    for op in spans {
        let line = op.line;
        let end = op.ret.map_or(u128::MAX, u128::from);
        let seen = threads
            .entry(op.thread)
            .or_insert_with(|| Seen::Sorted(Vec::new()));
        if let Seen::Sorted(list) = seen {
            if list.last().is_some_and(|&(c, _, _)| c >= op.call) {
                *seen = Seen::Tree(list.iter().map(|&(c, e, l)| (c, (e, l))).collect());
            }
        }
        let mut clash = None;
        match seen {
            Seen::Sorted(list) => {
                if let Some(&(c, e, l)) = list.last() {
                    if e >= u128::from(op.call) {
                        clash = Some((c, e, l));
                    }
                }
            }
            Seen::Tree(tree) => {
                if let Some((&c, &(e, l))) = tree.range(..=op.call).next_back() {
                    if e >= u128::from(op.call) {
                        clash = Some((c, e, l));
                    }
                }
                if clash.is_none() {
                    if let Some((&c, &(e, l))) = tree.range(op.call..).next() {
                        if u128::from(c) <= end {
                            clash = Some((c, e, l));
                        }
                    }
                }
            }
        }
        if let Some((other_call, other_end, other_line)) = clash {
            let message = if other_end == u128::MAX && other_call < op.call {
                format!(
                    "thread {} has an operation after its pending operation on line {other_line}; \
                     a pending operation must be its thread's last",
                    op.thread
                )
            } else if end == u128::MAX && op.call < other_call {
                format!(
                    "this pending operation of thread {} is not its thread's last \
                     (line {other_line} comes after it)",
                    op.thread
                )
            } else {
                format!(
                    "overlaps the operation on line {other_line} of the same thread {} \
                     (a thread's call must come strictly after its previous ret)",
                    op.thread
                )
            };
            return Some(ParseError { line, message });
        }
        match seen {
            Seen::Sorted(list) => list.push((op.call, end, line)),
            Seen::Tree(tree) => {
                tree.insert(op.call, (end, line));
            }
        }
    }
    None
}

/// One field's value, read without allocating (strings are borrowed from
/// the line unless they contain escapes). Numbers keep how serde_json read
/// them: an integer in `u64` or `i64` range, or anything else (a fraction,
/// an exponent, or out of range), which is never exact here.
enum Field<'de> {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    Inexact(f64),
    Str(Cow<'de, str>),
    /// An array whose elements are all exact integers in `i64` range.
    Ints(Vec<i64>),
    Other(&'static str),
}

impl fmt::Display for Field<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Null => write!(f, "null"),
            Field::Bool(b) => write!(f, "{b}"),
            Field::U64(n) => write!(f, "{n}"),
            Field::I64(n) => write!(f, "{n}"),
            Field::Inexact(x) => write!(f, "{x:e} (a fraction, an exponent, or out of range)"),
            Field::Str(s) => write!(f, "the string {s:?}"),
            Field::Ints(v) => write!(f, "an array of {} integers", v.len()),
            Field::Other(what) => write!(f, "{what}"),
        }
    }
}

impl<'de> de::Deserialize<'de> for Field<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = Field<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_none<E>(self) -> Result<Field<'de>, E> {
                Ok(Field::Null)
            }
            fn visit_bool<E>(self, b: bool) -> Result<Field<'de>, E> {
                Ok(Field::Bool(b))
            }
            fn visit_u64<E>(self, n: u64) -> Result<Field<'de>, E> {
                Ok(Field::U64(n))
            }
            fn visit_i64<E>(self, n: i64) -> Result<Field<'de>, E> {
                Ok(Field::I64(n))
            }
            fn visit_f64<E>(self, x: f64) -> Result<Field<'de>, E> {
                Ok(Field::Inexact(x))
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(Cow::Owned(s.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                let mut ints = Vec::new();
                let mut all_ints = true;
                while let Some(e) = seq.next_element::<Field<'de>>()? {
                    match e {
                        Field::I64(n) => ints.push(n),
                        Field::U64(n) if i64::try_from(n).is_ok() => ints.push(n as i64),
                        _ => all_ints = false,
                    }
                }
                Ok(if all_ints {
                    Field::Ints(ints)
                } else {
                    Field::Other("an array with an element that is not an integer in i64 range")
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Field<'de>, A::Error> {
                while map
                    .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(Field::Other("an object"))
            }
        }
        d.deserialize_any(FieldVisitor)
    }
}

/// The fields of one line, in the order of the format.
#[derive(Default)]
struct Fields<'de> {
    version: Option<Field<'de>>,
    thread: Option<Field<'de>>,
    call: Option<Field<'de>>,
    ret: Option<Field<'de>>,
    op: Option<Field<'de>>,
    key: Option<Field<'de>>,
    value: Option<Field<'de>>,
    result: Option<Field<'de>>,
}

impl Fields<'_> {
    fn has_operation_fields(&self) -> bool {
        [
            &self.thread,
            &self.call,
            &self.ret,
            &self.op,
            &self.key,
            &self.value,
            &self.result,
        ]
        .iter()
        .any(|f| f.is_some())
    }
}

/// Deserializes a line's object, keeping each known field and rejecting
/// unknown and repeated fields.
struct FieldsVisitor;

impl<'de> Visitor<'de> for FieldsVisitor {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(name) = map.next_key::<FieldName>()? {
            let (slot, label) = match name {
                FieldName::Version => (&mut fields.version, "version"),
                FieldName::Thread => (&mut fields.thread, "thread"),
                FieldName::Call => (&mut fields.call, "call"),
                FieldName::Ret => (&mut fields.ret, "ret"),
                FieldName::Op => (&mut fields.op, "op"),
                FieldName::Key => (&mut fields.key, "key"),
                FieldName::Value => (&mut fields.value, "value"),
                FieldName::Result => (&mut fields.result, "result"),
                FieldName::Unknown(other) => {
                    return Err(de::Error::custom(format_args!(
                        "unknown field `{other}` (the fields are thread, call, ret, op, key, value, result)"
                    )));
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format_args!(
                    "field `{label}` appears twice"
                )));
            }
            *slot = Some(map.next_value()?);
        }
        Ok(fields)
    }
}

/// A field name, read without allocating for the known ones.
enum FieldName {
    Version,
    Thread,
    Call,
    Ret,
    Op,
    Key,
    Value,
    Result,
    Unknown(String),
}

impl<'de> de::Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = FieldName;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<FieldName, E> {
                Ok(match s {
                    "version" => FieldName::Version,
                    "thread" => FieldName::Thread,
                    "call" => FieldName::Call,
                    "ret" => FieldName::Ret,
                    "op" => FieldName::Op,
                    "key" => FieldName::Key,
                    "value" => FieldName::Value,
                    "result" => FieldName::Result,
                    other => FieldName::Unknown(other.to_string()),
                })
            }
        }
        d.deserialize_identifier(NameVisitor)
    }
}

/// The line with every number token `-0` (negative zero written as an
/// integer) turned into ` 0`, which is the integer it means. serde_json
/// reads `-0` as the float -0.0, which the exact readers below would
/// reject; `-0.0` and `-0e0` stay as they are (fractions and exponents are
/// errors). Tokens inside strings are left alone.
fn normalize_minus_zero(line: &str) -> Cow<'_, str> {
    if !line.contains("-0") {
        return Cow::Borrowed(line);
    }
    let b = line.as_bytes();
    let mut out: Option<Vec<u8>> = None;
    let mut in_string = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if in_string => i += 1, // skip the escaped byte
            b'"' => in_string = !in_string,
            b'-' if !in_string
                && b.get(i + 1) == Some(&b'0')
                && !matches!(b.get(i + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) =>
            {
                out.get_or_insert_with(|| b.to_vec())[i] = b' ';
            }
            _ => {}
        }
        i += 1;
    }
    match out {
        // Only an ASCII '-' was replaced by an ASCII ' ': still UTF-8.
        Some(bytes) => Cow::Owned(String::from_utf8(bytes).unwrap_or_else(|_| line.to_string())),
        None => Cow::Borrowed(line),
    }
}

fn read_fields(line: &str) -> Result<Fields<'_>, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    (&mut de)
        .deserialize_map(FieldsVisitor)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| {
            let msg = e.to_string();
            // serde_json appends " at line L column C"; the line is always 1.
            match msg.rfind(" at line 1 column") {
                Some(i) => format!("bad JSON: {}", &msg[..i]),
                None => format!("bad JSON: {msg}"),
            }
        })
}

fn parse_line(line: &str, version: u64) -> Result<Line, String> {
    let line = normalize_minus_zero(line);
    let fields = read_fields(&line)?;
    if fields.version.is_some() {
        return Err(
            "a version header must be the first non-blank line, and only one is allowed".into(),
        );
    }
    let thread = required_u64(&fields.thread, "thread")?;
    let call = required_u64(&fields.call, "call")?;
    let ret = match &fields.ret {
        None => {
            return Err(
                "missing field `ret` (write `\"ret\": null` for a pending operation)".into(),
            )
        }
        Some(Field::Null) => None,
        Some(v) => Some(exact_u64(v, "ret")?),
    };
    if let Some(r) = ret {
        if r <= call {
            return Err(format!("`ret` ({r}) must be greater than `call` ({call})"));
        }
    }
    let name = match &fields.op {
        None => return Err("missing field `op`".into()),
        Some(Field::Str(s)) => s.as_ref(),
        Some(other) => return Err(format!("`op` must be a string, found {other}")),
    };
    if let Some(scan) = scan_op(name) {
        if version < 2 {
            return Err(format!(
                "`{name}` needs version 2 of the format (start the file with the line {{\"version\":2}})"
            ));
        }
        return parse_scan(&fields, thread, call, ret, scan).map(Line::Scan);
    }
    let key = match &fields.key {
        None => return Err("missing field `key`".into()),
        Some(v) => exact_i64(v, "key")?,
    };
    let takes_value = match name {
        "insert" | "insert_if_absent" => true,
        "get" | "contains_key" | "remove" => false,
        _ => {
            return Err(format!(
                "unknown op `{name}` (the ops are insert, get, contains_key, remove, insert_if_absent{})",
                if version >= 2 { ", len, iter" } else { "; version 2 adds len and iter" }
            ))
        }
    };
    let value = match (&fields.value, takes_value) {
        (None | Some(Field::Null), true) => {
            return Err(format!("`{name}` needs an integer `value`"));
        }
        (Some(v), true) => exact_i64(v, "value")?,
        (None | Some(Field::Null), false) => 0,
        (Some(_), false) => {
            return Err(format!(
                "`{name}` takes no `value` (it must be null or absent)"
            ));
        }
    };
    let op = match name {
        "insert" => Op::Insert { key, value },
        "insert_if_absent" => Op::InsertIfAbsent { key, value },
        "get" => Op::Get { key },
        "contains_key" => Op::ContainsKey { key },
        _ => Op::Remove { key },
    };
    let outcome = match ret {
        // "ignored when `ret` is null"
        None => Outcome::Pending,
        Some(ret) => {
            let result = match (&fields.result, op) {
                (None, _) => {
                    return Err("missing field `result` (required when `ret` is an integer)".into())
                }
                (Some(Field::Bool(b)), Op::ContainsKey { .. }) => Ret::Bool(*b),
                (Some(other), Op::ContainsKey { .. }) => {
                    return Err(format!(
                        "the `result` of contains_key must be true or false, found {other}"
                    ))
                }
                (Some(Field::Null), _) => Ret::Opt(None),
                (Some(v), _) => Ret::Opt(Some(exact_i64(v, "result")?)),
            };
            Outcome::Returned { ret, result }
        }
    };
    Ok(Line::Op(Operation {
        thread,
        call,
        op,
        outcome,
    }))
}

fn scan_op(name: &str) -> Option<ScanOp> {
    match name {
        "len" => Some(ScanOp::Len),
        "iter" => Some(ScanOp::Iter),
        _ => None,
    }
}

/// The rest of a `len` or `iter` line (version 2).
fn parse_scan(
    fields: &Fields<'_>,
    thread: u64,
    call: u64,
    ret: Option<u64>,
    op: ScanOp,
) -> Result<Scan, String> {
    let name = op.name();
    if !matches!(fields.key, None | Some(Field::Null)) {
        return Err(format!(
            "`{name}` takes no `key` (it must be null or absent)"
        ));
    }
    if !matches!(fields.value, None | Some(Field::Null)) {
        return Err(format!(
            "`{name}` takes no `value` (it must be null or absent)"
        ));
    }
    let Some(ret) = ret else {
        // "ignored when `ret` is null"
        return Ok(Scan::pending(thread, call, op));
    };
    let result = match (&fields.result, op) {
        (None, _) => {
            return Err("missing field `result` (required when `ret` is an integer)".into())
        }
        (Some(v), ScanOp::Len) => Scanned::Len(exact_i64(v, "result")?),
        (Some(Field::Ints(keys)), ScanOp::Iter) => Scanned::Keys(keys.clone()),
        (Some(other), ScanOp::Iter) => {
            return Err(format!(
                "the `result` of iter must be an array of integer keys, found {other}"
            ))
        }
    };
    Ok(Scan {
        thread,
        call,
        op,
        outcome: Some((ret, result)),
    })
}

fn required_u64(v: &Option<Field<'_>>, field: &str) -> Result<u64, String> {
    match v {
        None => Err(format!("missing field `{field}`")),
        Some(v) => exact_u64(v, field),
    }
}

fn exact_u64(v: &Field<'_>, field: &str) -> Result<u64, String> {
    match v {
        Field::U64(n) => Ok(*n),
        _ => Err(format!(
            "`{field}` must be an integer from 0 to 2^64-1, found {v}"
        )),
    }
}

fn exact_i64(v: &Field<'_>, field: &str) -> Result<i64, String> {
    match v {
        Field::I64(n) => Ok(*n),
        Field::U64(n) if i64::try_from(*n).is_ok() => Ok(*n as i64),
        _ => Err(format!(
            "`{field}` must be an integer from -2^63 to 2^63-1, found {v}"
        )),
    }
}

/// Why a history cannot be written in the file format.
#[derive(Debug)]
pub enum WriteError {
    /// The operation (index into the history; a recording's scans are
    /// numbered after its operations) is not one of the five single-key
    /// operations the format knows.
    UnknownOp(usize, Op),
    /// The result does not have the shape the operation returns.
    BadResult(usize),
    /// Operation `.0` ends at or before its call.
    BadTimes(usize),
    /// Two operations of one thread overlap (indices).
    Overlap(usize, usize),
    /// Writing failed.
    Io(io::Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::UnknownOp(i, op) => write!(
                f,
                "operation {i} ({op}) is not in the history file format \
                 (insert, get, contains_key, remove, insert_if_absent)"
            ),
            WriteError::BadResult(i) => write!(f, "operation {i}: result of the wrong shape"),
            WriteError::BadTimes(i) => write!(f, "operation {i}: ret <= call"),
            WriteError::Overlap(a, b) => write!(
                f,
                "operations {a} and {b} of one thread overlap (a loom-shaped history); \
                 the file format cannot express program order without real time"
            ),
            WriteError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// Writes a history in the JSON Lines format, one operation a line, in the
/// given order (version 1: no header). Nothing is written if the history
/// cannot be expressed.
pub fn write(ops: &[Operation], out: &mut impl Write) -> Result<(), WriteError> {
    let text = to_string(ops)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The history as JSON Lines text; see [`write`].
pub fn to_string(ops: &[Operation]) -> Result<String, WriteError> {
    render(ops, &[])
}

/// Writes a recording: its operations, then its scans. With scans it is a
/// version-2 file (the first line is `{"version":2}`); without, version 1,
/// byte for byte what [`write`] writes.
pub fn write_recording(recording: &Recording, out: &mut impl Write) -> Result<(), WriteError> {
    let text = recording_to_string(recording)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The recording as JSON Lines text; see [`write_recording`].
pub fn recording_to_string(recording: &Recording) -> Result<String, WriteError> {
    render(&recording.operations, &recording.scans)
}

fn render(ops: &[Operation], scans: &[Scan]) -> Result<String, WriteError> {
    use std::fmt::Write as _;
    validate_for_file(ops, scans)?;
    let mut s = String::with_capacity(ops.len() * 80 + scans.len() * 80);
    if !scans.is_empty() {
        let _ = writeln!(s, "{{\"version\":{VERSION}}}");
    }
    for o in ops {
        let ret = o.ret().map_or("null".to_string(), |r| r.to_string());
        let _ = write!(
            s,
            "{{\"thread\":{},\"call\":{},\"ret\":{},\"op\":\"{}\",\"key\":{}",
            o.thread,
            o.call,
            ret,
            o.op.name(),
            o.op.key()
        );
        if let Op::Insert { value, .. } | Op::InsertIfAbsent { value, .. } = o.op {
            let _ = write!(s, ",\"value\":{value}");
        }
        match o.result() {
            None => {}
            Some(Ret::Bool(b)) => {
                let _ = write!(s, ",\"result\":{b}");
            }
            Some(Ret::Opt(None)) => s.push_str(",\"result\":null"),
            Some(Ret::Opt(Some(v))) => {
                let _ = write!(s, ",\"result\":{v}");
            }
            Some(_) => unreachable!("checked by validate_for_file"),
        }
        s.push_str("}\n");
    }
    for scan in scans {
        let _ = write!(
            s,
            "{{\"thread\":{},\"call\":{},\"ret\":",
            scan.thread, scan.call
        );
        match &scan.outcome {
            None => {
                let _ = write!(s, "null,\"op\":\"{}\"", scan.op.name());
            }
            Some((ret, Scanned::Len(n))) => {
                let _ = write!(s, "{ret},\"op\":\"len\",\"result\":{n}");
            }
            Some((ret, Scanned::Keys(keys))) => {
                let _ = write!(s, "{ret},\"op\":\"iter\",\"result\":[");
                for (i, k) in keys.iter().enumerate() {
                    let _ = write!(s, "{}{k}", if i == 0 { "" } else { "," });
                }
                s.push(']');
            }
        }
        s.push_str("}\n");
    }
    Ok(s)
}

fn validate_for_file(ops: &[Operation], scans: &[Scan]) -> Result<(), WriteError> {
    for (i, o) in ops.iter().enumerate() {
        match o.op {
            Op::Insert { .. }
            | Op::InsertIfAbsent { .. }
            | Op::Get { .. }
            | Op::ContainsKey { .. }
            | Op::Remove { .. } => {}
            other => return Err(WriteError::UnknownOp(i, other)),
        }
        if let Outcome::Returned { ret, result } = o.outcome {
            if ret <= o.call {
                return Err(WriteError::BadTimes(i));
            }
            if result.kind() != o.op.ret_kind() {
                return Err(WriteError::BadResult(i));
            }
        }
    }
    // Scans are numbered after the operations.
    for (j, scan) in scans.iter().enumerate() {
        let i = ops.len() + j;
        match &scan.outcome {
            Some((ret, _)) if *ret <= scan.call => return Err(WriteError::BadTimes(i)),
            Some((_, Scanned::Len(_))) if scan.op != ScanOp::Len => {
                return Err(WriteError::BadResult(i))
            }
            Some((_, Scanned::Keys(_))) if scan.op != ScanOp::Iter => {
                return Err(WriteError::BadResult(i))
            }
            _ => {}
        }
    }
    let spans = ops
        .iter()
        .map(|o| (o.thread, o.call, o.ret()))
        .chain(scans.iter().map(|s| (s.thread, s.call, s.ret())));
    let mut by_thread: HashMap<u64, Vec<(u64, Option<u64>, usize)>> = HashMap::new();
    for (i, (thread, call, ret)) in spans.enumerate() {
        by_thread.entry(thread).or_default().push((call, ret, i));
    }
    for idx in by_thread.values_mut() {
        idx.sort_by_key(|&(call, _, _)| call);
        for w in idx.windows(2) {
            let ((_, a_ret, a), (b_call, _, b)) = (w[0], w[1]);
            if a_ret.is_none_or(|r| r >= b_call) {
                return Err(WriteError::Overlap(a, b));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    /// Thread ids chosen so that a fixed multiply-shift hash sends all of
    /// them to one bucket (the low 40 bits of their hash are equal) must
    /// spread under the hasher the parser uses for ids from the file.
    #[test]
    fn crafted_thread_ids_do_not_share_a_bucket() {
        const C: u64 = 0x9E37_79B9_7F4A_7C15;
        // Inverse of C modulo 2^64 (Newton's iteration).
        let mut inv: u64 = C;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(C.wrapping_mul(inv)));
        }
        assert_eq!(C.wrapping_mul(inv), 1);
        let ids: Vec<u64> = (1..=4096u64)
            .map(|i| {
                let h = i << 40; // the hash wanted: low 40 bits zero
                let m = h ^ (h >> 29) ^ (h >> 58); // undo `h ^ (h >> 29)`
                m.wrapping_mul(inv)
            })
            .collect();
        let build = ThreadIdHasher::default();
        let mut low: Vec<u64> = ids.iter().map(|&id| build.hash_one(id) & 0xFFFF).collect();
        low.sort_unstable();
        low.dedup();
        assert!(
            low.len() > 3000,
            "4096 crafted ids fall into only {} of 65536 buckets",
            low.len()
        );
    }
}
