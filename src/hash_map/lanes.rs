//! Iteration in lanes: the list read as up to eight stretches at once, one
//! element of each in turn, so that one thread has several cache misses in
//! flight instead of one.
//!
//! # Why
//!
//! A pass along the list is a chain of dependent loads: a node's `next`
//! gives the next node's address, a dummy's word gives the next link's
//! place in the directory. Nodes lie where they were allocated, in no
//! relation to list order, so nearly every step misses the caches and the
//! CPU waits for one miss at a time. Eight independent chains read in turn,
//! each step prefetching the element its chain reads next, overlap eight
//! misses: measured 3-4 times faster than one chain (docs/benchmarks.md).
//!
//! # The stretches
//!
//! As in the rayon split (`par.rs`): in a table of `2^k` buckets the
//! dummies' keys are the multiples of `2^(64 - k)`, and for `b <= k` lane
//! `i < 2^b` is the stretch of split-order keys `i << (64 - b) .. (i + 1)
//! << (64 - b)`, whose first bucket `x` is `i` reversed in `b` bits. A lane
//! starts at `Directory::reader_start(x)` (the bucket's dummy, or the
//! nearest linked ancestor's: an earlier key; `None` when the floor bucket
//! of `x` is untouched, so the stretch is empty, as the rayon split argues),
//! skips the nodes before its stretch, and ends at the first element at or
//! past its end. `b` is at most [`LANE_BITS`] and at most the size's log2
//! when the iterator is made (fewer lanes for a small table, where eight
//! lanes starting at one ancestor would each skip the same nodes); the
//! stretches are fixed then and do not depend on later sizes.
//!
//! # Guarantee
//!
//! The stretches are disjoint and cover the key space, and a node's stretch
//! is fixed by its split-order key. Within a lane, the iterator reads
//! batches from one dummy to a later dummy; each batch is one completed
//! pass with the steps of `list::walk` (a live node visited is left through
//! the successor read with it; a dead run is followed only while it is
//! still attached to the last live predecessor, else the batch restarts
//! from its dummy and forgets what it collected). So per lane, as for the
//! one pass of a single chain: every key live for the whole iteration is
//! yielded exactly once, none twice, each with a value it held during the
//! iteration. Dummies never die, so a lane resumes from the dummy its last
//! batch ended at, under a new guard.
//!
//! The order of the entries is no longer split order: a round yields a
//! batch of each lane in turn.

use super::directory::{Directory, Dummy, DUMMY};
use super::list::{self, is_dead, target, Item, Node};
use crate::reclaim::{Guard, Link, Shared};
use crate::sync::{self, Ordering};
use alloc::vec::Vec;

/// log2 of the most lanes an iteration reads at once.
pub(super) const LANE_BITS: u32 = 3;

/// Elements (nodes and dummies) a lane reads in one round, at least: its
/// batch ends at the first dummy after them. Eight lanes of 8: about 64
/// elements under one guard, as a batch of the single chain was.
const LANE_BATCH: usize = 8;

/// One lane: its stretch and where its next batch starts.
struct Lane<'d, K, V> {
    /// The lane's index: its stretch's keys have these top `bits` bits.
    index: usize,
    /// The stretch's split-order bounds, `lo..hi`.
    lo: u128,
    hi: u128,
    /// The dummy the next batch starts from.
    at: Dummy<'d, K, V>,
    /// Met its stretch's end or the list's (removed after the round).
    finished: bool,
}

/// The lanes of one iteration (those not finished yet) and their batch
/// buffers.
pub(super) struct Lanes<'d, K, V, T> {
    dir: &'d Directory<K, V>,
    /// log2 of the number of stretches.
    bits: u32,
    lanes: Vec<Lane<'d, K, V>>,
    /// One buffer a lane, reused from round to round.
    bufs: Vec<Vec<T>>,
}

/// A lane's batch in progress, under one guard: `list::walk`'s state.
struct Walk<'d, 'g, K, V> {
    /// The dummy the batch started from (a restart reads it again).
    start: Dummy<'d, K, V>,
    pred: &'g Link<Node<K, V>>,
    curr: Shared<'g, Node<K, V>>,
    /// The first node of the dead run `curr` belongs to, if any.
    run_start: Option<Shared<'g, Node<K, V>>>,
    /// The dummy `curr` names, if it is a dummy word (resolved when `curr`
    /// was set, so that its link could be prefetched).
    dummy: Option<Dummy<'d, K, V>>,
    /// Elements read in this pass.
    read: usize,
}

/// The top `bits` bits of the split-order key of bucket `b`'s dummy (its
/// index reversed): its lane. `bits <= LANE_BITS`.
#[inline]
fn dummy_lane(b: usize, bits: u32) -> usize {
    /// `i` reversed in three bits.
    const REVERSED: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    usize::from(REVERSED[b & 7]) >> (LANE_BITS - bits)
}

/// A lane reading in the current round: its walk, its place, its buffer,
/// and how its batch ended (`More` while it reads).
struct Active<'a, 'd, 'g, K, V, T> {
    walk: Walk<'d, 'g, K, V>,
    lane: &'a mut Lane<'d, K, V>,
    buf: &'a mut Vec<T>,
    end: Step<'d, K, V>,
}

/// The most lanes.
const LANES: usize = 1 << LANE_BITS;

/// How a step left a lane's batch.
enum Step<'d, K, V> {
    /// Not done: step again.
    More,
    /// The batch ended at this dummy, where the lane's next batch starts.
    Batch(Dummy<'d, K, V>),
    /// The lane is finished: it met its stretch's end or the list's.
    Finished,
}

impl<'d, K: 'static, V: 'static, T> Lanes<'d, K, V, T> {
    /// The lanes of the table of `dir` as it is now.
    pub(super) fn new(dir: &'d Directory<K, V>) -> Self {
        let bits = dir.size_acquire().trailing_zeros().min(LANE_BITS);
        let count = 1usize << bits;
        let mut lanes = Vec::with_capacity(count);
        for i in 0..count as u64 {
            let (lo, hi, first) = if bits == 0 {
                (0, 1u128 << 64, 0)
            } else {
                let shift = 64 - bits;
                (
                    u128::from(i) << shift,
                    u128::from(i + 1) << shift,
                    (i.reverse_bits() >> shift) as usize,
                )
            };
            // `reader_start` takes a hash, and only its bucket bits count:
            // `first` is its own bucket under any size of at least
            // `2^bits`, and an ancestor of itself under a smaller one (which
            // precedes it in the list). `None`: the stretch is empty.
            if let Some(at) = dir.reader_start(first as u64) {
                lanes.push(Lane {
                    index: i as usize,
                    lo,
                    hi,
                    at,
                    finished: false,
                });
            }
        }
        let mut bufs = Vec::with_capacity(lanes.len());
        bufs.resize_with(lanes.len(), Vec::new);
        Lanes {
            dir,
            bits,
            lanes,
            bufs,
        }
    }

    /// Whether every lane is finished.
    pub(super) fn is_done(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Reads one batch of every lane under `guard`, stepping the lanes in
    /// turn, and appends their entries (`extract` of each live node of a
    /// lane's stretch) to `out`, a lane's batch after another's. A lane
    /// whose pass must restart forgets its own batch and reads it again
    /// from its dummy; the other lanes go on.
    ///
    /// A round is all or nothing: the lanes' places move and the entries
    /// reach `out` only when every lane's batch is read. If `extract`
    /// panics (a `Clone` of a key or value), nothing of the round is kept,
    /// and a later call reads the whole round again, so an iterator whose
    /// caller caught the panic still yields every key once (the review's
    /// `tests/iteration_lanes_panic.rs`).
    pub(super) fn read_round<'g>(
        &mut self,
        guard: &'g Guard,
        out: &mut Vec<T>,
        extract: impl Fn(&'g Node<K, V>) -> T,
    ) where
        'd: 'g,
    {
        let (dir, bits) = (self.dir, self.bits);
        // The lanes of this round; those still reading are
        // `active[running[..left]]` (a lane that ends its batch leaves
        // `running`, its walk stays in place: no walk is moved).
        let mut active: [Option<Active<'_, 'd, 'g, K, V, T>>; LANES] = Default::default();
        let mut running = [0u8; LANES];
        let mut left = 0;
        for (lane, buf) in self.lanes.iter_mut().zip(self.bufs.iter_mut()) {
            // What a round that panicked left here is not kept.
            buf.clear();
            let walk = Walk::new(dir, lane.at, guard);
            active[left] = Some(Active {
                walk,
                lane,
                buf,
                end: Step::More,
            });
            running[left] = left as u8;
            left += 1;
        }
        let count = left;
        while left > 0 {
            let mut j = 0;
            while j < left {
                // `j < left <= LANES` and `running` holds indices below
                // `LANES`: the masks only spare bounds checks.
                let i = usize::from(running[j & (LANES - 1)]) & (LANES - 1);
                let Some(a) = active[i].as_mut() else {
                    unreachable!("a running lane has its walk");
                };
                let stretch = (bits, a.lane.index, a.lane.lo, a.lane.hi);
                match a.walk.step(dir, stretch, guard, a.buf, &extract) {
                    Step::More => {
                        j += 1;
                        continue;
                    }
                    end => a.end = end,
                }
                left -= 1;
                running.swap(j, left);
            }
        }
        // Every batch is read: now the lanes move on.
        for a in active.iter_mut().take(count).flatten() {
            match a.end {
                Step::Batch(dummy) => a.lane.at = dummy,
                Step::Finished => a.lane.finished = true,
                Step::More => unreachable!("a lane's batch ended"),
            }
        }
        for buf in &mut self.bufs {
            out.append(buf);
        }
        let mut i = 0;
        while i < self.lanes.len() {
            if self.lanes[i].finished {
                self.lanes.swap_remove(i);
                self.bufs.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }
}

impl<'d: 'g, 'g, K: 'static, V: 'static> Walk<'d, 'g, K, V> {
    /// A pass from `start`.
    fn new(dir: &'d Directory<K, V>, start: Dummy<'d, K, V>, guard: &'g Guard) -> Self {
        let mut walk = Walk {
            start,
            pred: start.next,
            curr: Shared::null(),
            run_start: None,
            dummy: None,
            read: 0,
        };
        walk.begin(dir, guard);
        walk
    }

    /// (Re)starts the pass at its dummy.
    fn begin(&mut self, dir: &'d Directory<K, V>, guard: &'g Guard) {
        self.pred = self.start.next;
        // ORDERING: Acquire pairs with the AcqRel CAS that wrote the
        // dummy's `next`, as in `list::walk`.
        self.curr = self.start.next.load(Ordering::Acquire, guard);
        self.run_start = None;
        self.read = 0;
        self.settle(dir);
    }

    /// One step of `list::walk` over the element at `curr`, with the
    /// stretch `lo..hi` and the batch's end decided as the rayon split's
    /// `read_batch` decides them; live nodes of the stretch go to `buf`.
    /// After it, the element the lane reads next is prefetched.
    fn step<T>(
        &mut self,
        dir: &'d Directory<K, V>,
        (bits, index, lo, hi): (u32, usize, u128, u128),
        guard: &'g Guard,
        buf: &mut Vec<T>,
        extract: &impl Fn(&'g Node<K, V>) -> T,
    ) -> Step<'d, K, V> {
        if self.curr.is_null() {
            return Step::Finished;
        }
        let item = match self.dummy.take() {
            Some(dummy) => Item::Dummy(dummy),
            // SAFETY: `curr` is a node word (`settle` resolved it otherwise)
            // that came from a live holder's `next` (reachable at the load)
            // or from a dead run validated below, as in `list::walk`.
            None => unsafe { list::item(self.curr, dir) },
        };
        match item {
            Item::Dummy(dummy) => {
                self.read += 1;
                // Its key is at or past `hi`: its lane is a later one.
                if dummy_lane(dummy.bucket(), bits) > index {
                    return Step::Finished;
                }
                if self.read >= LANE_BATCH {
                    return Step::Batch(dummy);
                }
                // Dummies never die: their `next` is a live link.
                self.pred = dummy.next;
                // ORDERING: Acquire, as in `begin`.
                self.curr = dummy.next.load(Ordering::Acquire, guard);
                self.run_start = None;
            }
            Item::Node(node) => {
                // ORDERING: Acquire pairs with the AcqRel CAS that wrote
                // `next`.
                // LINEARIZATION(iter): not one point (iteration is weakly
                // consistent): each entry yielded is read at this load, which
                // found its node live (as `LINEARIZATION(get)` in
                // `list::walk`), so its value is one the key held during the
                // iteration.
                let next = node.next.load(Ordering::Acquire, guard);
                if !is_dead(next) {
                    self.read += 1;
                    let key = u128::from(node.hash());
                    if key >= hi {
                        return Step::Finished;
                    }
                    // A node before the stretch (the start was an
                    // ancestor's dummy) is another lane's.
                    if key >= lo {
                        buf.push(extract(node));
                    }
                    self.pred = &node.next;
                    self.curr = next;
                    self.run_start = None;
                } else {
                    // `node` is dead and its `next` frozen: follow it only
                    // if the run is still attached to `pred`.
                    let first = self.run_start.unwrap_or(self.curr);
                    // ORDERING: Acquire, as above.
                    if self.pred.load(Ordering::Acquire, guard) != first {
                        // The abandoned pass's entries are forgotten.
                        buf.clear();
                        sync::hint();
                        self.begin(dir, guard);
                        return Step::More;
                    } else {
                        self.run_start = Some(first);
                        self.curr = target(next);
                    }
                }
            }
        }
        self.settle(dir);
        Step::More
    }

    /// After `curr` was set: resolves a dummy word to its dummy, and asks
    /// the CPU for what this lane reads at its next step (the node at
    /// `curr`, or the link of the dummy it names). The prefetch is a hint
    /// (no protected load), off in the model builds; the resolution is not,
    /// so the models run the steps as they are.
    #[inline]
    fn settle(&mut self, dir: &'d Directory<K, V>) {
        if self.curr.is_null() {
            return;
        }
        if self.curr.tag() & DUMMY == 0 {
            if sync::PREFETCH {
                sync::prefetch(self.curr.ptr());
            }
        } else {
            // SAFETY: a dummy word loaded from `dir`'s list (`named`'s
            // contract).
            let dummy = unsafe { dir.named(self.curr) };
            if sync::PREFETCH {
                sync::prefetch(dummy.next);
            }
            self.dummy = Some(dummy);
        }
    }
}
