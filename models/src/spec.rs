//! The sequential specification of a map from `i64` to `i64`.
//!
//! Every single-key operation of the public map API is an [`Op`]; what it
//! returns is a [`Ret`]. Predicates ([`Pred`]) and closures ([`Func`]) are
//! recorded as data, so a recorded history can be replayed against the
//! specification long after the closures are gone.
//!
//! Invariants:
//! - [`apply`] is a pure function of one key's cell (`Option<Value>`) and an
//!   operation: the whole map is that function applied key by key, which is
//!   why the checker may split a history by key (P-compositionality).
//! - The [`Ret`] variant an operation returns depends only on the operation
//!   ([`Op::ret_kind`]), never on the state.

use std::collections::BTreeMap;
use std::fmt;

/// A key of the specified map.
pub type Key = i64;
/// A value of the specified map.
pub type Value = i64;

/// A predicate over a present value, recorded as data (`remove_if`,
/// `replace_if`, [`Func::RemoveIf`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Pred {
    /// Always true.
    Always,
    /// Always false.
    Never,
    /// The value equals the constant.
    Eq(Value),
    /// The value differs from the constant.
    Ne(Value),
    /// The value is less than the constant.
    Lt(Value),
    /// The value is greater than the constant.
    Gt(Value),
    /// The value is even.
    Even,
    /// The value is odd.
    Odd,
}

impl Pred {
    /// Evaluates the predicate on a present value.
    pub fn test(self, v: Value) -> bool {
        match self {
            Pred::Always => true,
            Pred::Never => false,
            Pred::Eq(c) => v == c,
            Pred::Ne(c) => v != c,
            Pred::Lt(c) => v < c,
            Pred::Gt(c) => v > c,
            Pred::Even => v % 2 == 0,
            Pred::Odd => v % 2 != 0,
        }
    }

    /// The constant the predicate compares with, if any.
    pub fn constant(self) -> Option<Value> {
        match self {
            Pred::Eq(c) | Pred::Ne(c) | Pred::Lt(c) | Pred::Gt(c) => Some(c),
            _ => None,
        }
    }
}

impl fmt::Display for Pred {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pred::Always => write!(f, "always"),
            Pred::Never => write!(f, "never"),
            Pred::Eq(c) => write!(f, "=={c}"),
            Pred::Ne(c) => write!(f, "!={c}"),
            Pred::Lt(c) => write!(f, "<{c}"),
            Pred::Gt(c) => write!(f, ">{c}"),
            Pred::Even => write!(f, "even"),
            Pred::Odd => write!(f, "odd"),
        }
    }
}

/// The closure given to `compute`, recorded as data: it sees the current
/// value (`None` if absent) and returns `Some(new)` to insert or replace, or
/// `None` to remove (or leave absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Func {
    /// Returns the current value unchanged.
    Keep,
    /// Always `Some(v)`: insert or overwrite.
    Set(Value),
    /// Present `x` becomes `x + d` (wrapping); absent stays absent.
    Add(Value),
    /// Present `x` becomes `x + d` (wrapping); absent becomes `init`.
    AddOrInsert {
        /// Added to a present value.
        add: Value,
        /// Inserted when absent.
        init: Value,
    },
    /// Always `None`: remove if present.
    Remove,
    /// Removes a present value that satisfies the predicate, keeps others.
    RemoveIf(Pred),
    /// Absent becomes `v`; present stays.
    InsertIfAbsent(Value),
}

impl Func {
    /// Calls the recorded closure.
    pub fn call(self, cur: Option<Value>) -> Option<Value> {
        match (self, cur) {
            (Func::Keep, c) => c,
            (Func::Set(v), _) => Some(v),
            (Func::Add(d), c) => c.map(|x| x.wrapping_add(d)),
            (Func::AddOrInsert { add, .. }, Some(x)) => Some(x.wrapping_add(add)),
            (Func::AddOrInsert { init, .. }, None) => Some(init),
            (Func::Remove, _) => None,
            (Func::RemoveIf(p), Some(x)) => (!p.test(x)).then_some(x),
            (Func::RemoveIf(_), None) => None,
            (Func::InsertIfAbsent(v), None) => Some(v),
            (Func::InsertIfAbsent(_), Some(x)) => Some(x),
        }
    }

    /// True if the closure may map a value to a different value (it does
    /// arithmetic), so that value classes are not preserved.
    pub fn shifts_values(self) -> bool {
        matches!(self, Func::Add(d) | Func::AddOrInsert { add: d, .. } if d != 0)
    }
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Func::Keep => write!(f, "keep"),
            Func::Set(v) => write!(f, "set {v}"),
            Func::Add(d) => write!(f, "add {d}"),
            Func::AddOrInsert { add, init } => write!(f, "add {add} or insert {init}"),
            Func::Remove => write!(f, "remove"),
            Func::RemoveIf(p) => write!(f, "remove if {p}"),
            Func::InsertIfAbsent(v) => write!(f, "insert {v} if absent"),
        }
    }
}

/// One single-key operation of the map API, with its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // the fields are the method's arguments
pub enum Op {
    /// `get(&key) -> Option<V>`
    Get { key: Key },
    /// `contains_key(&key) -> bool`
    ContainsKey { key: Key },
    /// `insert(key, value) -> Option<V>` (the old value)
    Insert { key: Key, value: Value },
    /// `insert_if_absent(key, value) -> Option<V>`: `None` if it inserted,
    /// else the present value (unchanged)
    InsertIfAbsent { key: Key, value: Value },
    /// `get_or_insert(key, value) -> V`: the present or the inserted value
    GetOrInsert { key: Key, value: Value },
    /// `get_or_insert_with(key, f) -> V`; `value` is what `f` returns
    GetOrInsertWith { key: Key, value: Value },
    /// `remove(&key) -> Option<V>`
    Remove { key: Key },
    /// `force_remove(&key) -> Option<V>`
    ForceRemove { key: Key },
    /// `remove_if(&key, pred) -> Option<V>`: the removed value, `None` if
    /// absent or refused
    RemoveIf { key: Key, pred: Pred },
    /// `compare_and_remove(&key, &expected) -> Option<V>`
    CompareAndRemove { key: Key, expected: Value },
    /// `replace_if(key, value, pred) -> Result<V, Option<V>>`
    ReplaceIf { key: Key, value: Value, pred: Pred },
    /// `compare_and_swap(key, &expected, value) -> Result<V, Option<V>>`
    CompareAndSwap {
        key: Key,
        expected: Value,
        value: Value,
    },
    /// `compute(key, f) -> Option<V>`: the value after the call
    Compute { key: Key, func: Func },
}

/// The shape of what an operation returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetKind {
    /// `Option<V>`
    Opt,
    /// `bool`
    Bool,
    /// `V`
    Value,
    /// `Result<V, Option<V>>`
    Swap,
}

/// What an operation returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ret {
    /// An `Option<V>` (get, insert, insert_if_absent, remove, force_remove,
    /// remove_if, compare_and_remove, compute).
    Opt(Option<Value>),
    /// A `bool` (contains_key).
    Bool(bool),
    /// A `V` (get_or_insert, get_or_insert_with).
    Value(Value),
    /// A `Result<V, Option<V>>` (replace_if, compare_and_swap): `Ok(old)`
    /// replaced; `Err(Some(cur))` refused; `Err(None)` absent.
    Swap(Result<Value, Option<Value>>),
}

impl Ret {
    /// The shape of this return value.
    pub fn kind(&self) -> RetKind {
        match self {
            Ret::Opt(_) => RetKind::Opt,
            Ret::Bool(_) => RetKind::Bool,
            Ret::Value(_) => RetKind::Value,
            Ret::Swap(_) => RetKind::Swap,
        }
    }
}

impl From<Option<Value>> for Ret {
    fn from(v: Option<Value>) -> Ret {
        Ret::Opt(v)
    }
}
impl From<bool> for Ret {
    fn from(v: bool) -> Ret {
        Ret::Bool(v)
    }
}
impl From<Value> for Ret {
    fn from(v: Value) -> Ret {
        Ret::Value(v)
    }
}
impl From<Result<Value, Option<Value>>> for Ret {
    fn from(v: Result<Value, Option<Value>>) -> Ret {
        Ret::Swap(v)
    }
}

fn fmt_opt(f: &mut fmt::Formatter<'_>, v: Option<Value>) -> fmt::Result {
    match v {
        Some(v) => write!(f, "Some({v})"),
        None => write!(f, "None"),
    }
}

impl fmt::Display for Ret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Ret::Opt(v) => fmt_opt(f, v),
            Ret::Bool(b) => write!(f, "{b}"),
            Ret::Value(v) => write!(f, "{v}"),
            Ret::Swap(Ok(v)) => write!(f, "Ok({v})"),
            Ret::Swap(Err(v)) => {
                write!(f, "Err(")?;
                fmt_opt(f, v)?;
                write!(f, ")")
            }
        }
    }
}

impl Op {
    /// The key the operation acts on.
    pub fn key(&self) -> Key {
        match *self {
            Op::Get { key }
            | Op::ContainsKey { key }
            | Op::Insert { key, .. }
            | Op::InsertIfAbsent { key, .. }
            | Op::GetOrInsert { key, .. }
            | Op::GetOrInsertWith { key, .. }
            | Op::Remove { key }
            | Op::ForceRemove { key }
            | Op::RemoveIf { key, .. }
            | Op::CompareAndRemove { key, .. }
            | Op::ReplaceIf { key, .. }
            | Op::CompareAndSwap { key, .. }
            | Op::Compute { key, .. } => key,
        }
    }

    /// The method's name in the map API (and in the history file format,
    /// for the five operations it knows).
    pub fn name(&self) -> &'static str {
        match self {
            Op::Get { .. } => "get",
            Op::ContainsKey { .. } => "contains_key",
            Op::Insert { .. } => "insert",
            Op::InsertIfAbsent { .. } => "insert_if_absent",
            Op::GetOrInsert { .. } => "get_or_insert",
            Op::GetOrInsertWith { .. } => "get_or_insert_with",
            Op::Remove { .. } => "remove",
            Op::ForceRemove { .. } => "force_remove",
            Op::RemoveIf { .. } => "remove_if",
            Op::CompareAndRemove { .. } => "compare_and_remove",
            Op::ReplaceIf { .. } => "replace_if",
            Op::CompareAndSwap { .. } => "compare_and_swap",
            Op::Compute { .. } => "compute",
        }
    }

    /// The shape of what this operation returns.
    pub fn ret_kind(&self) -> RetKind {
        match self {
            Op::ContainsKey { .. } => RetKind::Bool,
            Op::GetOrInsert { .. } | Op::GetOrInsertWith { .. } => RetKind::Value,
            Op::ReplaceIf { .. } | Op::CompareAndSwap { .. } => RetKind::Swap,
            _ => RetKind::Opt,
        }
    }

    /// True if the operation never changes the map, whatever it holds.
    pub fn is_read_only(&self) -> bool {
        match *self {
            Op::Get { .. } | Op::ContainsKey { .. } => true,
            Op::RemoveIf { pred, .. } | Op::ReplaceIf { pred, .. } => pred == Pred::Never,
            Op::Compute { func, .. } => func == Func::Keep || func == Func::Add(0),
            _ => false,
        }
    }

    /// The constants the operation mentions (arguments, predicate and closure
    /// constants); used to pick representative states.
    pub fn constants(&self, out: &mut Vec<Value>) {
        match *self {
            Op::Get { .. } | Op::ContainsKey { .. } | Op::Remove { .. } => {}
            Op::ForceRemove { .. } => {}
            Op::Insert { value, .. }
            | Op::InsertIfAbsent { value, .. }
            | Op::GetOrInsert { value, .. }
            | Op::GetOrInsertWith { value, .. } => out.push(value),
            Op::RemoveIf { pred, .. } => out.extend(pred.constant()),
            Op::CompareAndRemove { expected, .. } => out.push(expected),
            Op::ReplaceIf { value, pred, .. } => {
                out.push(value);
                out.extend(pred.constant());
            }
            Op::CompareAndSwap {
                expected, value, ..
            } => out.extend([expected, value]),
            Op::Compute { func, .. } => match func {
                Func::Keep | Func::Remove => {}
                Func::Set(v) | Func::InsertIfAbsent(v) | Func::Add(v) => out.push(v),
                Func::AddOrInsert { add, init } => out.extend([add, init]),
                Func::RemoveIf(p) => out.extend(p.constant()),
            },
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        match *self {
            Op::Get { key }
            | Op::ContainsKey { key }
            | Op::Remove { key }
            | Op::ForceRemove { key } => write!(f, "{name}({key})"),
            Op::Insert { key, value }
            | Op::InsertIfAbsent { key, value }
            | Op::GetOrInsert { key, value }
            | Op::GetOrInsertWith { key, value } => write!(f, "{name}({key}, {value})"),
            Op::RemoveIf { key, pred } => write!(f, "{name}({key}, {pred})"),
            Op::CompareAndRemove { key, expected } => write!(f, "{name}({key}, {expected})"),
            Op::ReplaceIf { key, value, pred } => write!(f, "{name}({key}, {value}, {pred})"),
            Op::CompareAndSwap {
                key,
                expected,
                value,
            } => write!(f, "{name}({key}, {expected}, {value})"),
            Op::Compute { key, func } => write!(f, "{name}({key}, {func})"),
        }
    }
}

/// Applies `op` to one key's cell (`None`: the key is absent) and returns
/// what the operation returns and the cell afterwards.
///
/// This is the whole specification: [`Spec`] applies it key by key.
pub fn apply(cell: Option<Value>, op: &Op) -> (Ret, Option<Value>) {
    match *op {
        Op::Get { .. } => (Ret::Opt(cell), cell),
        Op::ContainsKey { .. } => (Ret::Bool(cell.is_some()), cell),
        Op::Insert { value, .. } => (Ret::Opt(cell), Some(value)),
        Op::InsertIfAbsent { value, .. } => match cell {
            None => (Ret::Opt(None), Some(value)),
            Some(cur) => (Ret::Opt(Some(cur)), cell),
        },
        Op::GetOrInsert { value, .. } | Op::GetOrInsertWith { value, .. } => match cell {
            None => (Ret::Value(value), Some(value)),
            Some(cur) => (Ret::Value(cur), cell),
        },
        Op::Remove { .. } | Op::ForceRemove { .. } => (Ret::Opt(cell), None),
        Op::RemoveIf { pred, .. } => match cell {
            Some(cur) if pred.test(cur) => (Ret::Opt(Some(cur)), None),
            _ => (Ret::Opt(None), cell),
        },
        Op::CompareAndRemove { expected, .. } => match cell {
            Some(cur) if cur == expected => (Ret::Opt(Some(cur)), None),
            _ => (Ret::Opt(None), cell),
        },
        Op::ReplaceIf { value, pred, .. } => match cell {
            Some(cur) if pred.test(cur) => (Ret::Swap(Ok(cur)), Some(value)),
            other => (Ret::Swap(Err(other)), other),
        },
        Op::CompareAndSwap {
            expected, value, ..
        } => match cell {
            Some(cur) if cur == expected => (Ret::Swap(Ok(cur)), Some(value)),
            other => (Ret::Swap(Err(other)), other),
        },
        Op::Compute { func, .. } => {
            let after = func.call(cell);
            (Ret::Opt(after), after)
        }
    }
}

/// True if, in every cell where `op` returns `ret`, `op` leaves the cell
/// unchanged.
///
/// Such an operation is an *observer* of that outcome. The checker uses this
/// fact twice: an observer whose result matches the current state can be
/// linearized at once without branching (moving it earlier in any
/// linearization keeps every state the same), and dropping an observer from
/// a history can only remove constraints.
pub fn observes(op: &Op, ret: &Ret) -> bool {
    match (*op, *ret) {
        (Op::Get { .. } | Op::ContainsKey { .. }, _) => true,
        (Op::Insert { value, .. }, Ret::Opt(old)) => old == Some(value),
        (Op::InsertIfAbsent { .. }, Ret::Opt(r)) => r.is_some(),
        (Op::GetOrInsert { value, .. } | Op::GetOrInsertWith { value, .. }, Ret::Value(r)) => {
            r != value
        }
        (
            Op::Remove { .. }
            | Op::ForceRemove { .. }
            | Op::RemoveIf { .. }
            | Op::CompareAndRemove { .. },
            Ret::Opt(r),
        ) => r.is_none(),
        (Op::ReplaceIf { value, .. } | Op::CompareAndSwap { value, .. }, Ret::Swap(r)) => match r {
            Err(_) => true,
            Ok(old) => old == value,
        },
        (Op::Compute { func, .. }, Ret::Opt(after)) => compute_observes(func, after),
        // A result of the wrong shape never matches, so "every cell where it
        // matches" is empty.
        _ => true,
    }
}

/// A value the cell must hold for `op` to return `ret`, when the result
/// pins it down: every cell where `op` returns `ret` is `Some(v)`. `None`
/// when the result allows an absent cell, or several values.
///
/// If no operation can ever write `v`, no linearization can give `op` that
/// result: the checker uses this to reject reads of values never written
/// at once.
pub fn needs_value(op: &Op, ret: &Ret) -> Option<Value> {
    match (*op, *ret) {
        (
            Op::Get { .. }
            | Op::Insert { .. }
            | Op::InsertIfAbsent { .. }
            | Op::Remove { .. }
            | Op::ForceRemove { .. }
            | Op::RemoveIf { .. }
            | Op::CompareAndRemove { .. }
            | Op::Compute {
                func: Func::Keep, ..
            },
            Ret::Opt(Some(v)),
        ) => Some(v),
        (Op::GetOrInsert { value, .. } | Op::GetOrInsertWith { value, .. }, Ret::Value(v)) => {
            (v != value).then_some(v)
        }
        (Op::ReplaceIf { .. } | Op::CompareAndSwap { .. }, Ret::Swap(Ok(v) | Err(Some(v)))) => {
            Some(v)
        }
        _ => None,
    }
}

/// The value `op` may write into the cell, if any (`None` for operations
/// that only read or remove). `compute` closures that do arithmetic can
/// write values not known in advance: see [`Func::shifts_values`].
pub fn writes_value(op: &Op) -> Option<Value> {
    match *op {
        Op::Insert { value, .. }
        | Op::InsertIfAbsent { value, .. }
        | Op::GetOrInsert { value, .. }
        | Op::GetOrInsertWith { value, .. }
        | Op::ReplaceIf { value, .. }
        | Op::CompareAndSwap { value, .. } => Some(value),
        Op::Compute { func, .. } => match func {
            Func::Set(v) | Func::InsertIfAbsent(v) => Some(v),
            Func::AddOrInsert { init, .. } => Some(init),
            _ => None,
        },
        _ => None,
    }
}

/// True if `op` can take a present key to absent (in some cell). Used by
/// the weak checks of `iter`: a key is present for a whole iteration only
/// if no such operation on it may take effect meanwhile.
pub fn may_remove(op: &Op) -> bool {
    match *op {
        Op::Remove { .. } | Op::ForceRemove { .. } | Op::CompareAndRemove { .. } => true,
        Op::RemoveIf { pred, .. } => pred != Pred::Never,
        Op::Compute { func, .. } => match func {
            Func::Remove => true,
            Func::RemoveIf(p) => p != Pred::Never,
            _ => false,
        },
        _ => false,
    }
}

/// Whether the key is present just after `op` returned `ret`, when the
/// outcome alone says so (`None` when it depends on the cell before: a
/// refused or absent `remove_if`, say). Reads count: a `get` that returned
/// a value saw the key present.
pub fn presence_after(op: &Op, ret: &Ret) -> Option<bool> {
    match (*op, *ret) {
        (Op::Get { .. }, Ret::Opt(v)) => Some(v.is_some()),
        (Op::ContainsKey { .. }, Ret::Bool(b)) => Some(b),
        (
            Op::Insert { .. }
            | Op::InsertIfAbsent { .. }
            | Op::GetOrInsert { .. }
            | Op::GetOrInsertWith { .. },
            _,
        ) => Some(true),
        (Op::Remove { .. } | Op::ForceRemove { .. }, _) => Some(false),
        (Op::RemoveIf { .. } | Op::CompareAndRemove { .. }, Ret::Opt(Some(_))) => Some(false),
        (Op::ReplaceIf { .. } | Op::CompareAndSwap { .. }, Ret::Swap(r)) => {
            Some(!matches!(r, Err(None)))
        }
        (Op::Compute { .. }, Ret::Opt(after)) => Some(after.is_some()),
        _ => None,
    }
}

/// For `compute`: does every cell `c` with `func(c) == after` equal `after`?
fn compute_observes(func: Func, after: Option<Value>) -> bool {
    match (func, after) {
        (Func::Keep, _) => true,
        (Func::Set(_), _) => false,
        (Func::Add(d), Some(_)) => d == 0,
        (Func::Add(_), None) => true,
        (Func::AddOrInsert { add, init }, Some(y)) => add == 0 && init != y,
        (Func::AddOrInsert { .. }, None) => true,
        (Func::Remove, None) => false,
        (Func::Remove, Some(_)) => true,
        (Func::RemoveIf(p), None) => p == Pred::Never,
        (Func::RemoveIf(_), Some(_)) => true,
        (Func::InsertIfAbsent(v), Some(y)) => y != v,
        (Func::InsertIfAbsent(_), None) => true,
    }
}

/// The sequential map: the state of the specification over all keys.
///
/// ```
/// use kovan_map_models::spec::{Op, Ret, Spec};
/// let mut spec = Spec::new();
/// assert_eq!(spec.step(&Op::Insert { key: 1, value: 2 }), Ret::Opt(None));
/// let (ret, after) = spec.apply(&Op::Remove { key: 1 });
/// assert_eq!(ret, Ret::Opt(Some(2)));
/// assert!(after.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Spec {
    map: BTreeMap<Key, Value>,
}

impl Spec {
    /// The empty map.
    pub fn new() -> Spec {
        Spec::default()
    }

    /// Applies `op` to a copy of this state: what it returns and the state
    /// afterwards.
    pub fn apply(&self, op: &Op) -> (Ret, Spec) {
        let mut next = self.clone();
        let ret = next.step(op);
        (ret, next)
    }

    /// Applies `op` in place and returns what it returns.
    pub fn step(&mut self, op: &Op) -> Ret {
        let key = op.key();
        let (ret, after) = apply(self.map.get(&key).copied(), op);
        match after {
            Some(v) => self.map.insert(key, v),
            None => self.map.remove(&key),
        };
        ret
    }

    /// The value of `key`.
    pub fn get(&self, key: Key) -> Option<Value> {
        self.map.get(&key).copied()
    }

    /// Number of present keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True if no key is present.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The present entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, Value)> + '_ {
        self.map.iter().map(|(k, v)| (*k, *v))
    }
}
