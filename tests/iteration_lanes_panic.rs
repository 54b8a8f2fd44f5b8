//! `HashMap::iter` after a `Clone` of a value panicked mid-round and the
//! caller caught the panic and went on with the same iterator.
//!
//! Before the lanes (6978da0^) a round's batch was taken out of the
//! iterator before it was read, and its start advanced only after it was
//! read whole: a panic dropped the partial batch and the next call read it
//! again, so every key still came exactly once. With the lanes
//! (`src/hash_map/lanes.rs`), `read_round` keeps each lane's partial
//! batch in the lane's own buffer (`Lanes::bufs`) and moves it to the
//! output only after all lanes finished the round; a panic inside
//! `extract` leaves the panicking lane's partial batch, and the complete
//! batches of lanes already done this round, in those buffers, the
//! panicking lane at its old dummy, and lanes that met their end not yet
//! removed. The next call reads the panicking lane's batch again on top of
//! what its buffer kept (and the finished lanes' last batch again): keys
//! yielded twice, with no other thread running. Fixed: a round is now all
//! or nothing (the lanes move, and the entries reach the output, only once
//! every lane's batch is read; a new round clears what a panicked one
//! left), so the whole round is read again.

mod common;

use common::Identity;
use kovan_map::HashMap;
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

/// The value whose clone panics next (once), or `u64::MAX` for none.
static ARMED: AtomicU64 = AtomicU64::new(u64::MAX);

#[derive(Debug, PartialEq, Eq)]
struct Bomb(u64);

impl Clone for Bomb {
    fn clone(&self) -> Self {
        if ARMED
            .compare_exchange(self.0, u64::MAX, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            panic!("planted clone panic on {}", self.0);
        }
        Bomb(self.0)
    }
}

#[test]
fn an_iterator_resumed_after_a_panicking_clone_yields_no_key_twice() {
    // Eight buckets, eight lanes; keys 0..64 (Identity hash): eight keys in
    // each lane, so each lane's round holds several of them.
    let map: HashMap<u64, Bomb, Identity> = HashMap::with_capacity_and_hasher(8, Identity);
    for k in 0..64u64 {
        map.insert(k, Bomb(k));
    }
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
    let mut panics = 0;
    // A key late in its lane (43 = 0b101011: lane 0b110 of 8, its 6th key).
    ARMED.store(43, Ordering::Relaxed);
    let mut iter = map.iter();
    loop {
        match catch_unwind(AssertUnwindSafe(|| iter.next())) {
            Ok(Some((k, v))) => {
                assert_eq!(v, Bomb(k));
                *seen.entry(k).or_insert(0) += 1;
            }
            Ok(None) => break,
            Err(_) => panics += 1,
        }
    }
    std::panic::set_hook(prev);
    assert_eq!(panics, 1, "the planted panic fired once");
    let twice: Vec<(u64, usize)> = seen
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(&k, &n)| (k, n))
        .collect();
    let missing: Vec<u64> = (0..64).filter(|k| !seen.contains_key(k)).collect();
    assert!(
        twice.is_empty() && missing.is_empty(),
        "after the caught panic: yielded more than once {twice:?}, missing {missing:?}"
    );
}
