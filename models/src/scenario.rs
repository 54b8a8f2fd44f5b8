//! Random concurrent scenarios (for quickcheck) and simulated histories.
//!
//! - [`Scenario`]: a sequential prefix, a few threads of operations, and a
//!   suffix, over a few hot keys. `Arbitrary` generates small ones (loom and
//!   shuttle sized) and shrinks by dropping threads and operations and by
//!   simplifying arguments. [`Scenario::run_threads`] runs one on real
//!   threads against any map and records the history.
//! - [`simulate`]: a history that is linearizable by construction: each
//!   operation gets a random interval and a linearization point inside it,
//!   and results come from applying the operations to the spec in
//!   linearization-point order. Used by tests and the benchmark.

use std::ops::RangeInclusive;

use quickcheck::{Arbitrary, Gen};

use crate::history::{History, Operation, Outcome};
use crate::spec::{Func, Key, Op, Pred, Ret, Spec, Value};

/// Which operations a generator draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpMix {
    /// Every single-key operation of the API.
    All,
    /// Only the five the history file format knows (insert, get,
    /// contains_key, remove, insert_if_absent).
    FileFormat,
}

/// Shape of generated scenarios.
#[derive(Clone, Debug)]
pub struct ScenarioConfig {
    /// Number of parallel threads.
    pub threads: RangeInclusive<usize>,
    /// Operations per parallel thread.
    pub ops_per_thread: RangeInclusive<usize>,
    /// Operations in the sequential prefix.
    pub prefix: RangeInclusive<usize>,
    /// Operations in the sequential suffix.
    pub suffix: RangeInclusive<usize>,
    /// Keys are drawn from `0..keys` (a few hot keys).
    pub keys: Key,
    /// Values are drawn from `0..values`.
    pub values: Value,
    /// Which operations.
    pub mix: OpMix,
}

impl Default for ScenarioConfig {
    /// Loom-sized: 2 or 3 threads of 1 to 3 operations, 2 keys.
    fn default() -> Self {
        ScenarioConfig {
            threads: 2..=3,
            ops_per_thread: 1..=3,
            prefix: 0..=2,
            suffix: 0..=2,
            keys: 2,
            values: 4,
            mix: OpMix::All,
        }
    }
}

impl ScenarioConfig {
    /// Shuttle-sized: 2 to 4 threads of up to 8 operations, 3 keys.
    pub fn shuttle() -> Self {
        ScenarioConfig {
            threads: 2..=4,
            ops_per_thread: 1..=8,
            prefix: 0..=4,
            suffix: 0..=3,
            keys: 3,
            values: 6,
            mix: OpMix::All,
        }
    }
}

/// A concurrent scenario: `prefix` runs first on one thread, then the
/// `threads` run in parallel, then `suffix` runs after they all joined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// Sequential operations before the threads start.
    pub prefix: Vec<Op>,
    /// The parallel threads' operations, each in program order.
    pub threads: Vec<Vec<Op>>,
    /// Sequential operations after every thread joined.
    pub suffix: Vec<Op>,
}

fn below(g: &mut Gen, n: u64) -> u64 {
    if n <= 1 {
        0
    } else {
        u64::arbitrary(g) % n
    }
}

fn in_range(g: &mut Gen, r: &RangeInclusive<usize>) -> usize {
    let (lo, hi) = (*r.start(), *r.end());
    if hi <= lo {
        lo
    } else {
        lo + below(g, (hi - lo + 1) as u64) as usize
    }
}

/// A random predicate with constants in `0..values`.
pub fn arbitrary_pred(g: &mut Gen, values: Value) -> Pred {
    let c = below(g, values.max(1) as u64) as Value;
    match below(g, 8) {
        0 => Pred::Always,
        1 => Pred::Never,
        2 => Pred::Eq(c),
        3 => Pred::Ne(c),
        4 => Pred::Lt(c),
        5 => Pred::Gt(c),
        6 => Pred::Even,
        _ => Pred::Odd,
    }
}

/// A random `compute` closure with constants in `0..values`.
pub fn arbitrary_func(g: &mut Gen, values: Value) -> Func {
    let c = below(g, values.max(1) as u64) as Value;
    match below(g, 7) {
        0 => Func::Keep,
        1 => Func::Set(c),
        2 => Func::Add(1 + below(g, 2) as Value),
        3 => Func::AddOrInsert { add: 1, init: c },
        4 => Func::Remove,
        5 => Func::RemoveIf(arbitrary_pred(g, values)),
        _ => Func::InsertIfAbsent(c),
    }
}

/// A random operation on a key in `0..keys` with values in `0..values`.
pub fn arbitrary_op(g: &mut Gen, keys: Key, values: Value, mix: OpMix) -> Op {
    let key = below(g, keys.max(1) as u64) as Key;
    let value = below(g, values.max(1) as u64) as Value;
    let kinds = match mix {
        OpMix::All => 13,
        OpMix::FileFormat => 5,
    };
    match below(g, kinds) {
        0 => Op::Insert { key, value },
        1 => Op::Get { key },
        2 => Op::Remove { key },
        3 => Op::InsertIfAbsent { key, value },
        4 => Op::ContainsKey { key },
        5 => Op::GetOrInsert { key, value },
        6 => Op::GetOrInsertWith { key, value },
        7 => Op::ForceRemove { key },
        8 => Op::RemoveIf {
            key,
            pred: arbitrary_pred(g, values),
        },
        9 => Op::CompareAndRemove {
            key,
            expected: value,
        },
        10 => Op::ReplaceIf {
            key,
            value,
            pred: arbitrary_pred(g, values),
        },
        11 => Op::CompareAndSwap {
            key,
            expected: below(g, values.max(1) as u64) as Value,
            value,
        },
        _ => Op::Compute {
            key,
            func: arbitrary_func(g, values),
        },
    }
}

impl Arbitrary for Pred {
    fn arbitrary(g: &mut Gen) -> Pred {
        arbitrary_pred(g, 4)
    }
}

impl Arbitrary for Func {
    fn arbitrary(g: &mut Gen) -> Func {
        arbitrary_func(g, 4)
    }
}

impl Arbitrary for Op {
    /// An operation of any kind over keys `0..3` and values `0..4`.
    fn arbitrary(g: &mut Gen) -> Op {
        arbitrary_op(g, 3, 4, OpMix::All)
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Op>> {
        // Towards a `get` of the same key, then key 0.
        let mut out = Vec::new();
        let key = self.key();
        if !matches!(self, Op::Get { .. }) {
            out.push(Op::Get { key });
        }
        if key != 0 {
            out.push(with_key(self, 0));
        }
        Box::new(out.into_iter())
    }
}

fn with_key(op: &Op, k: Key) -> Op {
    let mut op = *op;
    match &mut op {
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
        | Op::Compute { key, .. } => *key = k,
    }
    op
}

impl Scenario {
    /// A random scenario of the given shape.
    pub fn generate(g: &mut Gen, cfg: &ScenarioConfig) -> Scenario {
        let ops = |n: usize, g: &mut Gen| -> Vec<Op> {
            (0..n)
                .map(|_| arbitrary_op(g, cfg.keys, cfg.values, cfg.mix))
                .collect()
        };
        let n = in_range(g, &cfg.prefix);
        let prefix = ops(n, g);
        let t = in_range(g, &cfg.threads);
        let threads = (0..t)
            .map(|_| {
                let n = in_range(g, &cfg.ops_per_thread);
                ops(n, g)
            })
            .collect();
        let n = in_range(g, &cfg.suffix);
        let suffix = ops(n, g);
        Scenario {
            prefix,
            threads,
            suffix,
        }
    }

    /// Total number of operations.
    pub fn len(&self) -> usize {
        self.prefix.len() + self.threads.iter().map(Vec::len).sum::<usize>() + self.suffix.len()
    }

    /// True if the scenario has no operation.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs the scenario on real threads against `map`, recording the
    /// history: the prefix on thread 0, each parallel thread on its own
    /// thread (ids 1, 2, ...; started together at a barrier), then the
    /// suffix on thread 0. `exec` performs one operation on the map.
    pub fn run_threads<M: Sync>(
        &self,
        map: &M,
        exec: impl Fn(&M, &Op) -> Ret + Sync,
    ) -> Vec<Operation> {
        let history = History::new();
        {
            let mut rec = history.recorder(0);
            for op in &self.prefix {
                rec.record(*op, || exec(map, op));
            }
        }
        let barrier = std::sync::Barrier::new(self.threads.len());
        std::thread::scope(|s| {
            for (i, ops) in self.threads.iter().enumerate() {
                let mut rec = history.recorder(i as u64 + 1);
                let (barrier, exec) = (&barrier, &exec);
                s.spawn(move || {
                    barrier.wait();
                    for op in ops {
                        rec.record(*op, || exec(map, op));
                    }
                });
            }
        });
        {
            let mut rec = history.recorder(0);
            for op in &self.suffix {
                rec.record(*op, || exec(map, op));
            }
        }
        history.operations()
    }
}

impl Arbitrary for Scenario {
    /// A loom-sized scenario ([`ScenarioConfig::default`]).
    fn arbitrary(g: &mut Gen) -> Scenario {
        Scenario::generate(g, &ScenarioConfig::default())
    }

    fn shrink(&self) -> Box<dyn Iterator<Item = Scenario>> {
        let mut out = Vec::new();
        // Drop a whole thread (keep at least one).
        if self.threads.len() > 1 {
            for t in 0..self.threads.len() {
                let mut s = self.clone();
                s.threads.remove(t);
                out.push(s);
            }
        }
        // Drop one operation anywhere.
        for i in 0..self.prefix.len() {
            let mut s = self.clone();
            s.prefix.remove(i);
            out.push(s);
        }
        for t in 0..self.threads.len() {
            for i in 0..self.threads[t].len() {
                let mut s = self.clone();
                s.threads[t].remove(i);
                out.push(s);
            }
        }
        for i in 0..self.suffix.len() {
            let mut s = self.clone();
            s.suffix.remove(i);
            out.push(s);
        }
        // Simplify one operation.
        for t in 0..self.threads.len() {
            for i in 0..self.threads[t].len() {
                for op in self.threads[t][i].shrink() {
                    let mut s = self.clone();
                    s.threads[t][i] = op;
                    out.push(s);
                }
            }
        }
        Box::new(out.into_iter())
    }
}

/// A small, seedable random number generator (SplitMix64), so that
/// simulated histories are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 if `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Shape of a simulated history.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Total operations.
    pub ops: usize,
    /// Threads running at once.
    pub threads: usize,
    /// Keys `0..keys`, drawn uniformly.
    pub keys: Key,
    /// Values: `None` gives every write a value of its own; `Some(v)` draws
    /// from `0..v` (harder: equal values make more orders plausible).
    pub values: Option<Value>,
    /// Threads that crash with one pending operation (at a random point).
    pub pending: usize,
    /// Which operations.
    pub mix: OpMix,
    /// Longest operation, in clock ticks (shortest is 2).
    pub max_duration: u64,
    /// Longest pause between two operations of a thread.
    pub max_gap: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            ops: 1000,
            threads: 4,
            keys: 4,
            values: None,
            pending: 0,
            mix: OpMix::FileFormat,
            max_duration: 20,
            max_gap: 4,
        }
    }
}

/// A history linearizable by construction (see the module docs).
pub fn simulate(cfg: &SimConfig, seed: u64) -> Vec<Operation> {
    let mut rng = Rng::new(seed);
    let threads = cfg.threads.max(1);
    let per_thread = cfg.ops.div_ceil(threads);
    // The crash point (operations done before it) of the first `pending`
    // threads.
    let crash: Vec<Option<usize>> = (0..threads)
        .map(|t| (t < cfg.pending).then(|| rng.below(per_thread.max(1) as u64) as usize))
        .collect();
    struct Sim {
        op: Operation,
        /// Linearization point (time, tie-break); `None`: never took effect.
        lp: Option<(u64, u64)>,
    }
    let mut sims: Vec<Sim> = Vec::with_capacity(cfg.ops);
    let mut next_value: Value = 0;
    // Threads run side by side: the one with the earliest next call goes
    // next, so crashed threads leave the others to make up the count.
    let mut next_call: Vec<u64> = (0..threads)
        .map(|_| 1 + rng.below(cfg.max_gap.max(1)))
        .collect();
    let mut done: Vec<usize> = vec![0; threads];
    let mut alive: Vec<bool> = vec![true; threads];
    while sims.len() < cfg.ops {
        let Some(t) = (0..threads)
            .filter(|&t| alive[t])
            .min_by_key(|&t| (next_call[t], t))
        else {
            break;
        };
        let key = rng.below(cfg.keys.max(1) as u64) as Key;
        let value = match cfg.values {
            None => {
                next_value += 1;
                next_value
            }
            Some(v) => rng.below(v.max(1) as u64) as Value,
        };
        let r = rng.next_u64();
        let op = match cfg.mix {
            OpMix::FileFormat => match r % 20 {
                0..=5 => Op::Insert { key, value },
                6..=11 => Op::Get { key },
                12..=14 => Op::Remove { key },
                15..=17 => Op::InsertIfAbsent { key, value },
                _ => Op::ContainsKey { key },
            },
            OpMix::All => {
                let mut g = Gen::from_size_and_seed(8, r);
                let op = arbitrary_op(&mut g, 1, cfg.values.unwrap_or(1 << 20), OpMix::All);
                with_key(&op, key)
            }
        };
        let duration = 2 + rng.below(cfg.max_duration.saturating_sub(1).max(1));
        let call = next_call[t];
        let ret = call + duration;
        let lp = (call + 1 + rng.below(duration - 1), rng.next_u64());
        if crash[t] == Some(done[t]) {
            let took_effect = rng.below(2) == 0;
            sims.push(Sim {
                op: Operation::pending(t as u64, call, op),
                lp: took_effect.then_some(lp),
            });
            alive[t] = false;
            continue;
        }
        sims.push(Sim {
            op: Operation::returned(t as u64, call, ret, op, Ret::Opt(None)),
            lp: Some(lp),
        });
        done[t] += 1;
        next_call[t] = ret + 1 + rng.below(cfg.max_gap.max(1));
    }
    let mut order: Vec<usize> = (0..sims.len()).filter(|&i| sims[i].lp.is_some()).collect();
    order.sort_by_key(|&i| sims[i].lp);
    let mut spec = Spec::new();
    for i in order {
        let result = spec.step(&sims[i].op.op);
        if let Outcome::Returned { result: r, .. } = &mut sims[i].op.outcome {
            *r = result;
        }
    }
    let mut ops: Vec<Operation> = sims.into_iter().map(|s| s.op).collect();
    ops.sort_by_key(|o| (o.call, o.thread));
    ops
}

/// Changes one completed operation's result so that the history is no
/// longer linearizable (a read made stale, or any result changed to one no
/// order allows when values are unique). Returns the index changed, or
/// `None` if no operation qualified.
///
/// With unique values ([`SimConfig::values`] `None`), a read of a key that
/// was overwritten by an operation that returned before the read was
/// called, given that overwritten value, can never linearize.
pub fn corrupt(ops: &mut [Operation], seed: u64) -> Option<usize> {
    let mut rng = Rng::new(seed);
    // Candidates: a get that returned Some(v), from the middle half.
    let n = ops.len();
    let mut tries = 0;
    while tries < 10 * n.max(1) {
        tries += 1;
        let i = n / 4 + rng.below((n / 2).max(1) as u64) as usize;
        let Some(o) = ops.get(i) else { continue };
        let (Op::Get { key }, Outcome::Returned { result, .. }) = (o.op, o.outcome) else {
            continue;
        };
        // The value this key held before an earlier completed write, that is
        // a value written and overwritten before the get was called.
        let stale = ops[..i].iter().rev().find_map(|w| match (w.op, w.outcome) {
            (
                Op::Insert { key: k, .. },
                Outcome::Returned {
                    ret,
                    result: Ret::Opt(Some(old)),
                },
            ) if k == key && ret < o.call && Ret::Opt(Some(old)) != result => Some(old),
            _ => None,
        });
        if let Some(old) = stale {
            if let Outcome::Returned { result, .. } = &mut ops[i].outcome {
                *result = Ret::Opt(Some(old));
            }
            return Some(i);
        }
    }
    None
}

/// Changes the result of one completed `get` (from the middle half of the
/// history) to a value no simulated operation writes (`-1`), so that the
/// history is not linearizable whatever the value range. Returns the index
/// changed, or `None` if there is no completed `get` with a result there.
pub fn corrupt_unwritten(ops: &mut [Operation], seed: u64) -> Option<usize> {
    let mut rng = Rng::new(seed);
    let n = ops.len();
    for _ in 0..10 * n.max(1) {
        let i = n / 4 + rng.below((n / 2).max(1) as u64) as usize;
        if let Some(Operation {
            op: Op::Get { .. },
            outcome: Outcome::Returned { result, .. },
            ..
        }) = ops.get_mut(i)
        {
            *result = Ret::Opt(Some(-1));
            return Some(i);
        }
    }
    None
}
