//! Pause-point scenarios (`shuttle` builds): one thread, the *worker*, is
//! stopped at named points of the library (`kovan_map::model::Pause`, which
//! only the shuttle builds call) while the scenario's main thread runs a
//! step, such as finishing a migration, migrating the new table in its turn
//! and retiring it, or removing and re-inserting keys. Random and PCT
//! schedules give a thread a few steps of window; these stops give it whole
//! migrations. Used by `tests/shuttle_copy_pauses.rs` and
//! `tests/shuttle_copy_pauses_review.rs`.
//!
//! [`run`] checks, after every thread is joined: every expected key exactly
//! once in `iter`, each with its expected value from `get`, `len` exact;
//! that the worker made every stop in order (a skipped stop fails the run:
//! the main thread's `recv` sees the worker gone); and the points the worker
//! passed from its last stop on (its log), as the scenario asks. Over the
//! model reclaimer any dereference of memory kovan would not protect fails
//! the run.

use crate::harness::shuttle_explore as explore;
use kovan_map::model::{set_pause_hook, Pause};
use kovan_map::HopscotchMap;
use shuttle::sync::mpsc::{channel, Receiver, Sender};
use shuttle::sync::Arc;
use shuttle::thread;
use std::cell::RefCell;
use std::hash::BuildHasher;

/// The maps of the scenarios: `u64` keys and values.
pub type Map<S, const H: usize> = HopscotchMap<u64, u64, S, H>;

/// The stops the worker makes, in order, with the channels that announce a
/// stop and let it go on, and every point it passed (stopped or not).
struct Stops {
    at: Vec<Pause>,
    announce: Sender<Pause>,
    go: Receiver<()>,
    log: Vec<Pause>,
    /// Where in `log` the last stop was made.
    last_stop: usize,
}

shuttle::thread_local! {
    /// Set only on the worker thread of a scenario.
    static STOPS: RefCell<Option<Stops>> = RefCell::new(None);
}

/// The pause hook: logs the point and stops the worker at its next
/// expected point, once each.
fn hook(point: Pause) {
    STOPS.with(|stops| {
        let mut stops = stops.borrow_mut();
        let Some(stops) = stops.as_mut() else {
            return;
        };
        stops.log.push(point);
        if stops.at.first() != Some(&point) {
            return;
        }
        stops.at.remove(0);
        stops.last_stop = stops.log.len() - 1;
        stops.announce.send(point).expect("the scenario is waiting");
        stops.go.recv().expect("the scenario lets the worker go on");
    });
}

/// One scenario: `make` builds the map; the worker runs `work` and stops at
/// each of `stops` in turn, where the main thread runs the matching step of
/// `steps` before letting it go on. Then `check_log` sees the points the
/// worker passed, from its last stop on (that stop included), and the map
/// must hold exactly `expected`.
pub struct Scenario<S: 'static, const H: usize> {
    /// Builds the map (on the main thread, before the worker starts).
    pub make: fn() -> Map<S, H>,
    /// What the worker does; it stops at each of `stops` on the way.
    pub work: fn(&Map<S, H>),
    /// The points the worker stops at, in order, each once.
    pub stops: Vec<Pause>,
    /// What the main thread does while the worker waits at the stop of
    /// the same index.
    pub steps: Vec<fn(&Map<S, H>)>,
    /// Checks the points the worker passed from its last stop on.
    pub check_log: fn(&[Pause]),
    /// The map's entries at the end, exactly.
    pub expected: &'static [(u64, u64)],
}

/// Runs `scenario` under `iterations` random and as many PCT schedules
/// (`harness::shuttle_explore`), with the pause hook set, and checks it.
pub fn run<S, const H: usize>(iterations: usize, scenario: Scenario<S, H>)
where
    S: BuildHasher + Send + Sync + 'static,
{
    assert_eq!(scenario.stops.len(), scenario.steps.len());
    set_pause_hook(Some(hook));
    let scenario = std::sync::Arc::new(scenario);
    explore(iterations, move || {
        let sc = std::sync::Arc::clone(&scenario);
        let map = Arc::new((sc.make)());
        let (announce, announced) = channel();
        let (let_go, go) = channel();
        let worker = {
            let map = Arc::clone(&map);
            let stops = sc.stops.clone();
            let work = sc.work;
            thread::spawn(move || {
                STOPS.with(|s| {
                    *s.borrow_mut() = Some(Stops {
                        at: stops,
                        announce,
                        go,
                        log: Vec::new(),
                        last_stop: 0,
                    })
                });
                work(&map);
                let mut left = STOPS.with(|s| s.borrow_mut().take()).expect("set above");
                assert_eq!(left.at, vec![], "the worker skipped a stop");
                left.log.split_off(left.last_stop)
            })
        };
        for (stop, step) in sc.stops.iter().zip(&sc.steps) {
            let at = announced
                .recv()
                .unwrap_or_else(|_| panic!("the worker ended without stopping at {stop:?}"));
            assert_eq!(at, *stop);
            step(&map);
            let_go.send(()).unwrap();
        }
        let log = worker.join().unwrap();
        assert_eq!(
            log.first(),
            sc.stops.last(),
            "the log starts at the last stop"
        );
        (sc.check_log)(&log);
        let mut keys: Vec<u64> = map.iter().map(|(k, _)| k).collect();
        keys.sort_unstable();
        let mut want: Vec<u64> = sc.expected.iter().map(|&(k, _)| k).collect();
        want.sort_unstable();
        assert_eq!(keys, want, "every key exactly once");
        for &(k, v) in sc.expected {
            assert_eq!(map.get(&k), Some(v), "key {k}");
        }
        assert_eq!(map.len(), sc.expected.len(), "len");
    });
}

/// Inserts each key with value `key * 10`; each must be new.
pub fn insert_all<S: BuildHasher, const H: usize>(map: &Map<S, H>, keys: &[u64]) {
    for &k in keys {
        assert_eq!(map.insert(k, k * 10), None, "key {k}");
    }
}

/// Removes each key; each must hold `key * 10`.
pub fn remove_all<S: BuildHasher, const H: usize>(map: &Map<S, H>, keys: &[u64]) {
    for &k in keys {
        assert_eq!(map.remove(&k), Some(k * 10), "key {k}");
    }
}

/// The entries `(key, key * 10)`.
pub fn times_ten(keys: &[u64]) -> Vec<(u64, u64)> {
    keys.iter().map(|&k| (k, k * 10)).collect()
}

/// `v` as a static slice (a scenario's `expected`).
pub fn leak(v: Vec<(u64, u64)>) -> &'static [(u64, u64)] {
    Box::leak(v.into_boxed_slice())
}

/// How often `point` occurs in `log`.
pub fn count(log: &[Pause], point: Pause) -> usize {
    log.iter().filter(|&&p| p == point).count()
}

/// A step that does nothing.
pub fn nothing<S, const H: usize>(_: &Map<S, H>) {}

/// A `check_log` that checks nothing.
pub fn no_check(_: &[Pause]) {}
