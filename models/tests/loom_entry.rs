//! The entry API under loom: two threads upsert one key of a one-bucket
//! `HashMap` with `entry(k).and_modify(|v| *v += 1).or_insert(1)`, each as
//! one `compute`. In every interleaving both increments are kept (final
//! value 2) and the two answers are 1 and 2: the second upsert's
//! modification applies to the value its CAS replaced. A terminal call
//! that read the value and then wrote it in a second step would lose one
//! (both threads answering 1, or 2 and 2 from an absent start).
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom cargo test --locked -p kovan-map-models --release --test loom_entry`
#![cfg(kovan_map_loom)]

use kovan_map::HashMap;
use kovan_map_models::harness::{loom_race, loom_race_bounds, KeyIsHash};

type Map = HashMap<u64, u64, KeyIsHash>;

fn upsert(m: &Map) -> u64 {
    m.entry(1).and_modify(|v| *v += 1).or_insert(1)
}

fn upsert_pinned(m: &Map) -> u64 {
    let p = m.pin();
    *p.entry(1).and_modify(|v| *v += 1).or_insert(1)
}

fn both_increments_kept(m: &Map, a: u64, b: u64) {
    let mut answers = [a, b];
    answers.sort_unstable();
    assert_eq!(
        answers,
        [1, 2],
        "one upsert inserted, the other modified it"
    );
    assert_eq!(m.get(&1), Some(2));
    assert_eq!(m.len(), 1);
}

#[test]
fn two_upserts_of_an_absent_key_keep_both_increments() {
    // Bound 2, from an empty one-bucket map: both find the key absent, one
    // push wins, the loser's retry finds it present and modifies it. Would
    // catch: a get-then-insert terminal call (both answer 1, or the final
    // value is 1), or a retry that re-inserted the default.
    loom_race(
        2,
        || Map::with_capacity_and_hasher(1, KeyIsHash),
        upsert,
        upsert_pinned,
        both_increments_kept,
    );
}

#[test]
fn two_upserts_of_a_present_key_keep_both_increments() {
    // Key 1 present with 0 (so the answers are again 1 and 2): both clone
    // and modify 0, one `REPLACED` tag wins, the loser retries on the
    // winner's node. Would catch: a modification applied to a stale read.
    // Bounds: 1 when the epoch advances at every retire (4,570 executions
    // and 4.4 s of this file's 5.5 s at bound 2; one preemption already
    // puts the other thread's whole upsert between a search and its CAS),
    // 2 when it advances only at flush.
    loom_race_bounds(
        1,
        2,
        || {
            let m = Map::with_capacity_and_hasher(1, KeyIsHash);
            m.insert(1, 0);
            m
        },
        upsert_pinned,
        upsert,
        both_increments_kept,
    );
}
