//! The weaker promises of `len` and `iter` under shuttle's random and PCT
//! schedules, for both maps (through `adapter::MapUnderTest`).
//!
//! Run with:
//! `cargo test -p kovan-map-models --features shuttle --release --test shuttle_weak_promises`
//!
//! Each scenario records every operation and every `len`/`iter` call in a
//! history (`History::for_model`) and checks it whole: the single-key
//! operations for linearizability, the scans against their promises
//! (`lincheck::weak`): `len` exact when no write is in flight and never
//! negative; `iter` yields every key present for the whole iteration
//! exactly once and never a key twice. The tables are tiny, so a writer
//! resizes the hopscotch table and unlinks chain nodes while a scanner is
//! in the middle of them.
#![cfg(feature = "shuttle")]

use kovan_map::{HashMap, HopscotchMap};
use kovan_map_models::adapter::{exec, MapUnderTest};
use kovan_map_models::harness::{shuttle_explore as explore, KeyIsHash};
use kovan_map_models::history::History;
use kovan_map_models::lincheck;
use kovan_map_models::spec::Op;
use shuttle::sync::Arc;
use shuttle::thread;

/// Schedules per scheduler (random, then PCT).
const SCHEDULES: usize = 300;

fn chains() -> HashMap<i64, i64, KeyIsHash> {
    HashMap::with_capacity_and_hasher(2, KeyIsHash)
}

fn hopscotch() -> HopscotchMap<i64, i64, KeyIsHash, 2> {
    HopscotchMap::with_capacity_and_hasher(4, KeyIsHash)
}

/// Keys 0 and 1 are present from the start and key 1 stays; a writer
/// inserts 2, 3 and 4 (growing a 4-slot table), removes 0 and 2; a scanner
/// iterates, counts, and iterates again meanwhile; after both joined, a
/// count and an iteration must be exact. Would catch: an iteration that
/// loses key 1 while a resize or an unlink moves it, or yields it twice
/// (once from each table); a count off after the writes.
fn scans_during_writes_keep_their_promises<M>(make: fn() -> M)
where
    M: MapUnderTest + Send + 'static,
{
    explore(SCHEDULES, move || {
        let map = Arc::new(make());
        let history = History::for_model();
        {
            let mut rec = history.recorder(0);
            for key in [0, 1] {
                let op = Op::Insert { key, value: key };
                rec.record(op, || exec(&*map, &op));
            }
        }
        let writer = {
            let map = Arc::clone(&map);
            let mut rec = history.recorder(1);
            thread::spawn(move || {
                for op in [
                    Op::Insert { key: 2, value: 2 },
                    Op::Remove { key: 0 },
                    Op::Insert { key: 3, value: 3 },
                    Op::Insert { key: 4, value: 4 },
                    Op::Remove { key: 2 },
                ] {
                    rec.record(op, || exec(&*map, &op));
                }
            })
        };
        let scanner = {
            let map = Arc::clone(&map);
            let mut rec = history.recorder(2);
            thread::spawn(move || {
                rec.record_iter(|| map.iter_keys());
                rec.record_len(|| map.len());
                rec.record_iter(|| map.iter_keys());
            })
        };
        writer.join().unwrap();
        scanner.join().unwrap();
        {
            let mut rec = history.recorder(3);
            rec.record_len(|| map.len());
            rec.record_iter(|| map.iter_keys());
        }
        let recording = history.recording();
        assert_eq!(recording.scans.len(), 5);
        lincheck::assert_recording_ok(&recording);
    });
}

#[test]
fn hash_map_scans_during_writes_keep_their_promises() {
    scans_during_writes_keep_their_promises(chains);
}

#[test]
fn hopscotch_map_scans_during_writes_keep_their_promises() {
    scans_during_writes_keep_their_promises(hopscotch);
}
