//! The history file format: JSON Lines, one operation a line, as
//! `shared/history-format.md` defines it (that page is the contract; this
//! module follows it to the letter).
//!
//! The format knows five operations: `insert`, `get`, `contains_key`,
//! `remove` and `insert_if_absent`. [`write`] refuses any other operation,
//! and any history the format cannot express (two operations of one thread
//! that overlap, as in a loom [`PhasedHistory`](crate::history::PhasedHistory)).
//!
//! [`parse`] reports the first bad line as the format says: 1-based line
//! numbers counting blank lines; an error about two lines names the later
//! one; with several errors, the first line that is wrong on its own or
//! completes a wrong pair wins. Numbers are read exactly, never through
//! floating point.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::history::{Operation, Outcome};
use crate::spec::{Op, Ret};

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
        if self.line == 0 {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for ParseError {}

/// Reads a history file. Errors print as `FILE:LINE: reason` (or
/// `FILE: reason` when the file cannot be read).
pub fn read_file(path: &Path) -> Result<Vec<Operation>, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
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
                return Err(format!("{name}:{}: {}", err.line, err.message));
            }
            return Err(format!("{name}:{line}: not valid UTF-8"));
        }
    };
    parse(text).map_err(|e| format!("{name}:{e}"))
}

/// Parses a history in the JSON Lines format.
pub fn parse(text: &str) -> Result<Vec<Operation>, ParseError> {
    // Large files are parsed in chunks of whole lines on a few threads;
    // the first bad line of the first chunk that has one is the first bad
    // line of the file.
    let threads = if text.len() < (1 << 20) {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    };
    let mut bounds = vec![0usize];
    for k in 1..threads {
        let at = (text.len() * k / threads).max(*bounds.last().unwrap_or(&0));
        let cut = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
        bounds.push(cut);
    }
    bounds.push(text.len());
    bounds.dedup();
    let chunks: Vec<&str> = bounds.windows(2).map(|w| &text[w[0]..w[1]]).collect();
    let mut first_line = vec![1usize; chunks.len()];
    for i in 1..chunks.len() {
        first_line[i] = first_line[i - 1] + chunks[i - 1].bytes().filter(|&b| b == b'\n').count();
    }
    let results: Vec<Chunk> = if chunks.len() == 1 {
        vec![parse_chunk(chunks[0], 1)]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .zip(&first_line)
                .map(|(c, &l)| s.spawn(move || parse_chunk(c, l)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let mut ops = Vec::new();
    let mut lines_of = Vec::new();
    let mut first_single = None;
    for chunk in results {
        ops.extend(chunk.ops);
        lines_of.extend(chunk.lines);
        if chunk.error.is_some() {
            first_single = chunk.error;
            break;
        }
    }
    // Pairs among the lines read so far (all before any single-line error).
    if let Some(pair) = first_bad_pair(&ops, &lines_of) {
        return Err(pair);
    }
    match first_single {
        Some(e) => Err(e),
        None => Ok(ops),
    }
}

/// The operations of a run of lines, up to its first bad line.
struct Chunk {
    ops: Vec<Operation>,
    lines: Vec<usize>,
    error: Option<ParseError>,
}

fn parse_chunk(text: &str, first_line: usize) -> Chunk {
    let mut chunk = Chunk {
        ops: Vec::new(),
        lines: Vec::new(),
        error: None,
    };
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return chunk;
    }
    for (i, line) in text.split('\n').enumerate() {
        let lineno = first_line + i;
        if line
            .trim_matches(|c| c == ' ' || c == '\t' || c == '\r')
            .is_empty()
        {
            continue;
        }
        match parse_line(line) {
            Ok(op) => {
                chunk.ops.push(op);
                chunk.lines.push(lineno);
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

/// The first line (in file order) that completes a pair of overlapping
/// operations of one thread.
fn first_bad_pair(ops: &[Operation], lines: &[usize]) -> Option<ParseError> {
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
    let mut threads: HashMap<u64, Seen, BuildFastHasher> = HashMap::default();
    for (op, &line) in ops.iter().zip(lines) {
        let end = op.ret().map_or(u128::MAX, u128::from);
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

/// A small fast hasher for thread ids (a multiply and a shift; the ids
/// come from the file, so a collision attack costs only time).
#[derive(Default)]
struct FastHasher(u64);

impl std::hash::Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, n: u64) {
        let h = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = h ^ (h >> 29);
    }
}

type BuildFastHasher = std::hash::BuildHasherDefault<FastHasher>;

/// The hasher for thread ids read from the file.
type ThreadIdHasher = BuildFastHasher;

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
    Str(std::borrow::Cow<'de, str>),
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
                Ok(Field::Str(std::borrow::Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Field<'de>, E> {
                Ok(Field::Str(std::borrow::Cow::Owned(s.to_string())))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Field<'de>, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Field::Other("an array"))
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
    thread: Option<Field<'de>>,
    call: Option<Field<'de>>,
    ret: Option<Field<'de>>,
    op: Option<Field<'de>>,
    key: Option<Field<'de>>,
    value: Option<Field<'de>>,
    result: Option<Field<'de>>,
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

fn parse_line(line: &str) -> Result<Operation, String> {
    let mut de = serde_json::Deserializer::from_str(line);
    let fields = (&mut de)
        .deserialize_map(FieldsVisitor)
        .and_then(|f| de.end().map(|()| f))
        .map_err(|e| {
            let msg = e.to_string();
            // serde_json appends " at line L column C"; the line is always 1.
            match msg.rfind(" at line 1 column") {
                Some(i) => format!("bad JSON: {}", &msg[..i]),
                None => format!("bad JSON: {msg}"),
            }
        })?;

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
    let key = match &fields.key {
        None => return Err("missing field `key`".into()),
        Some(v) => exact_i64(v, "key")?,
    };
    let takes_value = match name {
        "insert" | "insert_if_absent" => true,
        "get" | "contains_key" | "remove" => false,
        _ => {
            return Err(format!(
            "unknown op `{name}` (the ops are insert, get, contains_key, remove, insert_if_absent)"
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
    Ok(Operation {
        thread,
        call,
        op,
        outcome,
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
    /// The operation (index into the history) is not one of the five the
    /// format knows.
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
/// given order. Nothing is written if the history cannot be expressed.
pub fn write(ops: &[Operation], out: &mut impl Write) -> Result<(), WriteError> {
    let text = to_string(ops)?;
    out.write_all(text.as_bytes())?;
    Ok(())
}

/// The history as JSON Lines text; see [`write`].
pub fn to_string(ops: &[Operation]) -> Result<String, WriteError> {
    validate_for_file(ops)?;
    let mut s = String::with_capacity(ops.len() * 80);
    for o in ops {
        use std::fmt::Write as _;
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
    Ok(s)
}

fn validate_for_file(ops: &[Operation]) -> Result<(), WriteError> {
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
    let mut by_thread: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, o) in ops.iter().enumerate() {
        by_thread.entry(o.thread).or_default().push(i);
    }
    for idx in by_thread.values_mut() {
        idx.sort_by_key(|&i| ops[i].call);
        for w in idx.windows(2) {
            let (a, b) = (&ops[w[0]], &ops[w[1]]);
            if !a.precedes(b) {
                return Err(WriteError::Overlap(w[0], w[1]));
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
