//! The model reclaimer held against kovan 0.2.0's rule, scenario by scenario:
//! each test is an execution kovan allows (the model must not fail it, and
//! where it says so, must explore it) or one kovan forbids (the model must
//! fail it).
//!
//! Two groups:
//!
//! * **Fidelity tests** (they pass on the model as it is): each names the
//!   wrong model it would catch.
//! * **Review findings** (`finding_*`; each failed on the model the review
//!   read, commit 126723f, and passes since the model's fix): each
//!   is an execution on which the model departs from kovan 0.2.0, either a
//!   false alarm (the model fails an execution kovan makes safe) or a hidden
//!   execution (the model accepts an unsafe use of kovan, or never explores
//!   a load value kovan allows). Each cites the kovan source it rests on
//!   (`guard.rs`, `slot.rs` of kovan 0.2.0).
//!
//! Outcomes that must be *reached* are recorded in process-wide std atomics
//! (not loom's: loom does not see them) and checked after the whole loom
//! exploration. Each test has its own statics.

use super::*;
use loom::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize as StdAtomicUsize, Ordering as Std};

/// A node with kovan's header first, as the maps' nodes.
#[repr(C)]
struct N {
    _h: Header,
    v: u64,
}

fn node(v: u64) -> *mut N {
    alloc(N {
        _h: Header::new(),
        v,
    })
}

/// A loom exploration with a preemption bound (small: a shared machine).
fn check(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(bound);
    builder.check(f);
}

/// Unlinks the node `link` holds (if any) and retires it; answers whether
/// this call did.
fn remove(link: &Link<N>, guard: &Guard) -> bool {
    let cur = link.load(Ordering::Acquire, guard);
    if cur.is_null() {
        return false;
    }
    if link.cas(
        cur,
        Shared::null(),
        Ordering::AcqRel,
        Ordering::Relaxed,
        guard,
    ) {
        // SAFETY: unlinked by the CAS above, retired once.
        unsafe { retire(cur.ptr()) };
        true
    } else {
        false
    }
}

/// At the end of a run: destroys what `link` still holds (the test owns it,
/// as a map's drop does), so loom's leak check sees only what the
/// reclaimer kept.
fn destroy_linked(link: &Link<N>) {
    let g = pin();
    let last = link.load(Ordering::Acquire, &g).ptr();
    drop(g);
    if !last.is_null() {
        // SAFETY: linked and unretired; no other thread is left.
        unsafe { destroy(last) };
    }
}

// ===========================================================================
// Fidelity tests: they pass today.
// ===========================================================================

/// kovan: a node loaded while reachable stays allocated until the guard
/// drops (`try_retire`'s scan sees the reader's slot, or the reader's load
/// after its fence sees the unlink). Catches: a model that frees at retire
/// regardless of publications.
#[test]
fn a_node_loaded_while_reachable_is_protected_after_its_removal() {
    loom::model(|| {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let node = node(7);
        let link = Arc::new(Link::new(node));
        let guard = pin();
        let seen = link.load(Ordering::Acquire, &guard);
        let l2 = Arc::clone(&link);
        let t = loom::thread::spawn(move || {
            let g = pin();
            let cur = l2.load(Ordering::Acquire, &g);
            if l2.cas(cur, Shared::null(), Ordering::AcqRel, Ordering::Relaxed, &g) {
                // SAFETY: unlinked by the CAS above.
                unsafe { retire(cur.ptr()) };
            }
        });
        // SAFETY: loaded while reachable under `guard`.
        assert_eq!(unsafe { seen.deref() }.v, 7);
        t.join().unwrap();
        drop(guard);
        model_quiesce();
    });
}

/// Issue 7, bug 1 (kovan `increment_era`, guard.rs 1079-1087: the cached
/// birth epoch is raised, the slot is not republished; `try_retire`,
/// guard.rs 1291: `epoch < min_epoch` skips the slot): a node this
/// thread allocated after its own epoch advance, dereferenced after another
/// thread removed and freed it, is a use after free. Catches: a model that
/// protects a thread's own allocations (the old model).
#[test]
#[should_panic(expected = "use after reclamation")]
fn own_allocation_born_above_the_published_epoch_is_not_protected() {
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let link: Arc<Link<N>> = Arc::new(Link::null());
        let freed = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, f2) = (Arc::clone(&link), Arc::clone(&freed));
        let b = loom::thread::spawn(move || {
            let g = pin();
            let removed = remove(&l2, &g);
            drop(g);
            if removed {
                // No guard live: drains this thread's slot (guard.rs 1572).
                flush();
                f2.store(1, Ordering::Release);
            }
        });
        let g = pin();
        // A live guard: the epoch advances, this thread's cached birth with
        // it, its published epoch stays (guard.rs 1593).
        flush();
        let n = node(1);
        let published = link.cas(
            Shared::null(),
            Shared::from_owned(n, &g),
            Ordering::AcqRel,
            Ordering::Relaxed,
            &g,
        );
        assert!(published);
        if freed.load(Ordering::Acquire) == 1 {
            // SAFETY: none: this is the bug the model must report.
            let _ = unsafe { Shared::from_owned(n, &g).deref() }.v;
        }
        drop(g);
        b.join().unwrap();
        destroy_linked(&link);
        model_quiesce();
    });
}

/// The twin of the test above without the advance: a node born at the
/// epoch its allocator's slot published is protected for the allocator
/// (`try_retire` inserts into every slot with `epoch >= min_epoch`), also
/// when another thread advanced the global epoch meanwhile (births come
/// from the allocator's *cached* birth epoch, `current_birth_epoch`,
/// guard.rs 190-199, not from the global epoch). Catches: a model that
/// births at the global epoch, or refuses every `from_owned` dereference.
#[test]
fn own_allocation_born_at_the_published_epoch_is_protected() {
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let link: Arc<Link<N>> = Arc::new(Link::null());
        let freed = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, f2) = (Arc::clone(&link), Arc::clone(&freed));
        let b = loom::thread::spawn(move || {
            // Another thread's advance: does not raise the allocator's birth.
            flush();
            let g = pin();
            let removed = remove(&l2, &g);
            drop(g);
            if removed {
                flush();
                f2.store(1, Ordering::Release);
            }
        });
        let g = pin();
        let n = node(5);
        assert!(link.cas(
            Shared::null(),
            Shared::from_owned(n, &g),
            Ordering::AcqRel,
            Ordering::Relaxed,
            &g,
        ));
        if freed.load(Ordering::Acquire) == 1 {
            // SAFETY: born at or below this slot's published epoch: held.
            assert_eq!(unsafe { Shared::from_owned(n, &g).deref() }.v, 5);
        }
        drop(g);
        b.join().unwrap();
        destroy_linked(&link);
        model_quiesce();
    });
}

/// The store-buffering pairing prunes a stale read kovan forbids: the
/// remover's 128th retire fences (`try_retire`, guard.rs 1269, runs before
/// `increment_era` at every 128th retire, 128 being a multiple of 64), the
/// reader's first pin transitions and fences (`do_update`, guard.rs 476);
/// the reader saw (Relaxed) a store the remover made after its fence, so in
/// C++20's S the remover's fence precedes the reader's ([atomics.order]
/// 4.4), and the reader's load must see the unlink. Catches: a model without
/// the pairing (it would return the unlinked node, and its dereference
/// would be a false "use after reclamation").
#[test]
fn a_read_behind_a_fence_pair_never_returns_the_unlinked_node() {
    static PRUNED: AtomicBool = AtomicBool::new(false);
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let a = node(1);
        let link = Arc::new(Link::new(a));
        let done = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, d2) = (Arc::clone(&link), Arc::clone(&done));
        let x = loom::thread::spawn(move || {
            let g = pin();
            assert!(remove(&l2, &g));
            drop(g);
            d2.store(1, Ordering::Relaxed);
        });
        if done.load(Ordering::Relaxed) == 1 {
            let g = pin();
            let s = link.load(Ordering::Acquire, &g);
            assert!(
                s.is_null(),
                "model: a read after a fence pair returned the unlinked node"
            );
        }
        x.join().unwrap();
        if model_quiesce() > 0 {
            PRUNED.store(true, Std::Relaxed);
        }
    });
    // The pairing did the work (loom offered the stale value and the model
    // refused it), rather than loom never offering it.
    assert!(PRUNED.load(Std::Relaxed), "no load was ever pruned");
}

/// Without a fence pair a stale read stays possible, and loom explores it:
/// the reader fenced (its pin) before the remover's fence, then loaded on
/// kovan's fast path (no fence: `protect_load`, guard.rs 289-311). The stale
/// node is protected: the remover's scan saw the reader's slot. Catches: a
/// model that prunes by loom's interleaving order instead of by fences (it
/// would never return the old node here), or one that fences on the fast
/// path.
#[test]
fn a_fast_path_read_without_a_fence_pair_may_return_the_unlinked_node() {
    static SEEN: AtomicBool = AtomicBool::new(false);
    check(3, || {
        model_reset(Epochs::OnlyAtFlush);
        let a = node(1);
        let link = Arc::new(Link::new(a));
        let done = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, d2) = (Arc::clone(&link), Arc::clone(&done));
        let g = pin();
        let x = loom::thread::spawn(move || {
            let g = pin();
            assert!(remove(&l2, &g));
            drop(g);
            d2.store(1, Ordering::Relaxed);
        });
        if done.load(Ordering::Relaxed) == 1 {
            let s = link.load(Ordering::Acquire, &g);
            if !s.is_null() {
                // SAFETY: held by this slot (published before the scan).
                assert_eq!(unsafe { s.deref() }.v, 1);
                SEEN.store(true, Std::Relaxed);
            }
        }
        drop(g);
        x.join().unwrap();
        model_quiesce();
    });
    assert!(
        SEEN.load(Std::Relaxed),
        "the fence-free stale read was never explored"
    );
}

/// Nested pins never transition (kovan `pin`, guard.rs 526-539: only a pin
/// count of 0 checks the epoch), and a flush under a live guard does not
/// drain the slot (guard.rs 1572: `saved_pin == 0`). Catches: a model that
/// releases the slot's list at a nested pin or at such a flush.
#[test]
fn nested_pins_and_a_guarded_flush_keep_what_the_slot_holds() {
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let a = node(3);
        let link = Arc::new(Link::new(a));
        let l2 = Arc::clone(&link);
        let g = pin();
        let seen = link.load(Ordering::Acquire, &g);
        let x = loom::thread::spawn(move || {
            let g = pin();
            remove(&l2, &g);
            drop(g);
            flush();
        });
        flush();
        let inner = pin();
        let inner2 = pin();
        drop(inner);
        // SAFETY: loaded while reachable under `g`, still live.
        assert_eq!(unsafe { seen.deref() }.v, 3);
        drop(inner2);
        drop(g);
        x.join().unwrap();
        model_quiesce();
    });
}

/// Reclamation happens, and before the run ends: once both the reader and
/// the remover have flushed with no guard live (guard.rs 1608-1624), the
/// removed node's payload has been dropped. Catches: a model that never
/// frees before `model_quiesce` (it would never run a payload's drop
/// concurrently with the other thread, hiding use-after-free and drop-race
/// bugs).
#[test]
fn a_removed_node_is_freed_once_every_slot_that_held_it_drained() {
    static DROPS: StdAtomicUsize = StdAtomicUsize::new(0);
    #[repr(C)]
    struct D {
        _h: Header,
    }
    impl Drop for D {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Std::Relaxed);
        }
    }
    check(3, || {
        model_reset(Epochs::OnlyAtFlush);
        DROPS.store(0, Std::Relaxed);
        let d = alloc(D { _h: Header::new() });
        let link = Arc::new(Link::new(d));
        let l2 = Arc::clone(&link);
        let x = loom::thread::spawn(move || {
            let g = pin();
            let cur = l2.load(Ordering::Acquire, &g);
            assert!(l2.cas(cur, Shared::null(), Ordering::AcqRel, Ordering::Relaxed, &g));
            // SAFETY: unlinked by the CAS above.
            unsafe { retire(cur.ptr()) };
            drop(g);
            flush();
        });
        let g = pin();
        let _ = link.load(Ordering::Acquire, &g);
        drop(g);
        x.join().unwrap();
        flush();
        assert_eq!(
            DROPS.load(Std::Relaxed),
            1,
            "model: the removed node was not freed"
        );
        model_quiesce();
    });
}

/// The prune-and-yield loop terminates and leaves a possible execution when
/// several stale stores precede the latest one: each pruned store was seen
/// before the yield, so loom does not return it again (loom rt/atomic.rs,
/// `match_load_to_stores`, the `is_seen_before_yield` rule). Catches: a
/// model that reloads without yielding (the same stale store forever:
/// "Model exceeded maximum number of branches") or that raises a failure in
/// the run that continues after `skip_branch`.
#[test]
fn the_prune_loop_terminates_through_several_stale_stores() {
    check(2, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let a = node(0);
        let link = Arc::new(Link::new(a));
        let done = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, d2) = (Arc::clone(&link), Arc::clone(&done));
        let x = loom::thread::spawn(move || {
            let g = pin();
            for v in 1..=3 {
                let cur = l2.load(Ordering::Acquire, &g);
                let new = node(v);
                assert!(l2.cas(
                    cur,
                    Shared::from_owned(new, &g),
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                    &g
                ));
                // SAFETY: unlinked by the CAS above.
                unsafe { retire(cur.ptr()) };
            }
            drop(g);
            d2.store(1, Ordering::Relaxed);
        });
        if done.load(Ordering::Relaxed) == 1 {
            let g = pin();
            let s = link.load(Ordering::Acquire, &g);
            // SAFETY: the latest store: linked and unretired.
            assert_eq!(unsafe { s.deref() }.v, 3);
        }
        x.join().unwrap();
        let g = pin();
        let last = link.load(Ordering::Acquire, &g).ptr();
        drop(g);
        // SAFETY: the map (this test) owns what is still linked at the end.
        unsafe { destroy(last) };
        model_quiesce();
    });
}

// ===========================================================================
// Review findings: each failed on the model as reviewed (126723f).
// ===========================================================================

/// FALSE ALARM (word ABA in `impossible_read`).
///
/// Execution: the link holds `a` (its initial store). W pushes `b`
/// (`a -> b`), writes `flag = 1` (Relaxed), restores `a` (`b -> a`,
/// AcqRel), retires `b`, flushes, then stores `done = 1` (Relaxed). One
/// of the retire and the flush fences in kovan: the retire if it was a
/// 64th (`try_retire`, guard.rs 1269), else the flush, whose batch then
/// holds `b` (guard.rs 1584). R reads `done == 1`, pins (its first pin
/// transitions and fences, `do_update` guard.rs 476) and loads the link.
///
/// kovan (C++20 [atomics.order] 4.4): W's fence precedes R's in S (W's
/// fence happens before `done`'s store, which is coherence-ordered before
/// R's `done` load, which happens before R's fence), so R's load must read
/// W's *second* store of `a` or later, which is the last store: it reads
/// from W's release CAS, synchronizes with it, and `flag` reads 1.
///
/// The model checks a load by its *word*, not by the store loom chose: the
/// initial store of `a` is stale, but the second store of the same word is
/// not, so `impossible_read` accepts loom's choice of the initial store. R
/// then has no happens-before with W and loom lets `flag` read 0: the model
/// explores an execution kovan forbids, and fails it. In the maps a link
/// word does come back (bug 2 of issue 7: the overflow head returns to
/// `first`); a payload read after such a load is a loom "causality
/// violation" false alarm.
#[test]
fn finding_false_alarm_a_stale_store_of_a_word_stored_again_is_accepted() {
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let a = node(1);
        let link = Arc::new(Link::new(a));
        let flag = Arc::new(crate::sync::AtomicUsize::new(0));
        let done = Arc::new(crate::sync::AtomicUsize::new(0));
        let (l2, f2, d2) = (Arc::clone(&link), Arc::clone(&flag), Arc::clone(&done));
        let a_word = a as usize;
        let w = loom::thread::spawn(move || {
            let g = pin();
            let cur = l2.load(Ordering::Acquire, &g);
            let b = node(2);
            let b = Shared::from_owned(b, &g);
            assert!(l2.cas(cur, b, Ordering::AcqRel, Ordering::Relaxed, &g));
            f2.store(1, Ordering::Relaxed);
            assert!(l2.cas(b, cur, Ordering::AcqRel, Ordering::Relaxed, &g));
            // SAFETY: `b` was unlinked by the CAS above, retired once.
            unsafe { retire(b.ptr()) };
            drop(g);
            // Whether or not the retire was a 64th (and fenced), this flush
            // then fences: it submits the batch that holds `b`.
            flush();
            d2.store(1, Ordering::Relaxed);
        });
        if done.load(Ordering::Relaxed) == 1 {
            let g = pin();
            let s = link.load(Ordering::Acquire, &g);
            assert_eq!(s.ptr() as usize, a_word);
            assert_eq!(
                flag.load(Ordering::Relaxed),
                1,
                "model: the load returned a stale store of a word stored again \
                 (kovan's fence pairing forces the newest one, which synchronizes)"
            );
        }
        w.join().unwrap();
        // SAFETY: `a` is linked and unretired: the test owns it at the end.
        unsafe { destroy(a) };
        model_quiesce();
    });
}

/// The execution of the two findings below: X removes `a` (retiring it)
/// and then stores `done = 1` (Relaxed); R, having pinned once before if
/// `pin_first`, reads `done == 1`, pins and loads the link. If it reads `a`
/// it dereferences it (`seen`): safe in kovan in both findings.
fn read_after_a_relaxed_done(
    epochs: Epochs,
    pin_first: bool,
    seen: &'static AtomicBool,
    pruned: &'static StdAtomicUsize,
) {
    model_reset(epochs);
    let a = node(1);
    let link = Arc::new(Link::new(a));
    let done = Arc::new(crate::sync::AtomicUsize::new(0));
    let (l2, d2) = (Arc::clone(&link), Arc::clone(&done));
    if pin_first {
        drop(pin());
    }
    let x = loom::thread::spawn(move || {
        let g = pin();
        assert!(remove(&l2, &g));
        drop(g);
        d2.store(1, Ordering::Relaxed);
    });
    if done.load(Ordering::Relaxed) == 1 {
        let g = pin();
        let s = link.load(Ordering::Acquire, &g);
        if !s.is_null() {
            // SAFETY: kovan protects it (see the findings).
            assert_eq!(unsafe { s.deref() }.v, 1);
            seen.store(true, Std::Relaxed);
        }
    }
    x.join().unwrap();
    pruned.fetch_add(model_quiesce() as usize, Std::Relaxed);
}

/// HIDDEN (the model fences at every retire; kovan fences only at every
/// 64th).
///
/// Execution (epoch never advances): X unlinks `a` (`a -> null`) and
/// retires it as, say, its 5th retire; then stores `done = 1` (Relaxed). R
/// reads `done == 1`, pins (its first pin: transition and fence) and loads
/// the link: `a`. It dereferences `a`.
///
/// kovan: `enqueue_node` (guard.rs 1037, 1070) runs `try_retire`, the only
/// fence of a retire, only when `count.is_multiple_of(RETIRE_FREQ)` (64,
/// slot.rs), and `increment_era` only every `EPOCH_FREQ` (128); a 5th
/// retire has no fence at all. With one fence (R's) there is no pairing,
/// and `done` is Relaxed, so R may read `a`. It is safe: `a`'s batch is
/// scanned later (a 64th retire, a flush with a batch, or X's exit, all
/// fenced); by the pairing that scan sees R's slot (epoch 1 >= `a`'s birth)
/// or R's load would have seen the unlink.
///
/// The model records a virtual fence at every retire (`retire` calls
/// `registry.fence`), so it prunes R's reading of `a` and never explores
/// it: reader logic reached when a writer's unlink is not yet fenced (dead
/// run validation reading the old predecessor, CASes that then fail, ...)
/// is explored only in interleavings where the reader's fence comes first.
/// (The fix cannot just drop the fence: the model scans at retire, before
/// R published, and would then flag R's dereference. The scan must move to
/// a later fenced point, as kovan's batch does.) The same holds for
/// `flush`, which the model always fences while kovan fences only if the
/// batch is non-empty (guard.rs 1584: `take_batch` returns `None`).
#[test]
fn finding_hidden_a_non_scanning_retire_is_fenced_by_the_model() {
    static SEEN: AtomicBool = AtomicBool::new(false);
    static PRUNED: StdAtomicUsize = StdAtomicUsize::new(0);
    check(3, || {
        read_after_a_relaxed_done(Epochs::OnlyAtFlush, false, &SEEN, &PRUNED);
    });
    assert!(
        SEEN.load(Std::Relaxed),
        "the model never explored a read of a node whose unlink no fence followed yet \
         (loom offered it and the model pruned it {} times)",
        PRUNED.load(Std::Relaxed)
    );
}

/// HIDDEN (the model's epoch is read at its latest value; kovan's `EPOCH`
/// is an atomic whose loads may be stale).
///
/// Execution: R pins and unpins (its slot publishes epoch 1, fenced). X
/// unlinks `a` and retires it as its 128th retire (`try_retire`: fence, scan
/// sees R's epoch 1 >= birth 1, `a` goes into R's slot list; then
/// `increment_era`: epoch 2), then stores `done = 1` (Relaxed). R reads
/// `done == 1`, pins again and loads the link: `a`, and dereferences it.
///
/// kovan: R's pin reads `EPOCH` with an Acquire load (`pin`, guard.rs 533,
/// `slot::epoch`); nothing orders X's `fetch_add` before it (`done` is
/// Relaxed), so it may read 1 == `drained_epoch`: no transition, no fence,
/// the list (holding `a`) is kept. The load takes the fast path (its epoch
/// read may be 1 too, guard.rs 296-307). R's only fence precedes X's, so R
/// may read `a`, which its slot holds: safe.
///
/// The model reads its epoch as 2 at R's pin: it transitions (releasing
/// `a` from R's slot) and fences after X's fence, so it prunes the read of
/// `a`. The execution is never explored. (Were it explored with the
/// transition, the dereference would be a false "use after reclamation":
/// the fix must let a pin and a load see an older epoch, for example by
/// keeping the epoch in a loom atomic read with kovan's orderings.)
#[test]
fn finding_hidden_a_pin_that_reads_a_stale_epoch_is_never_explored() {
    static SEEN: AtomicBool = AtomicBool::new(false);
    static PRUNED: StdAtomicUsize = StdAtomicUsize::new(0);
    check(3, || {
        read_after_a_relaxed_done(Epochs::AdvanceAtEveryRetire, true, &SEEN, &PRUNED);
    });
    assert!(
        SEEN.load(Std::Relaxed),
        "the model never explored a pin that missed an epoch advance \
         (loom offered the old node and the model pruned it {} times)",
        PRUNED.load(Std::Relaxed)
    );
}

/// HIDDEN BUG (a Relaxed protected load is not protected in kovan; the
/// model protects it anyway).
///
/// Execution: R pins (epoch 1). X pins, flushes (epoch 2, X's cached
/// birth 2), allocates `n` (born 2), links it (AcqRel). R loads the link
/// with `Ordering::Relaxed`: `n`. X removes `n`, retires it, drops its
/// guard, flushes (its slot drained: `n` freed), stores `freed = 1`
/// (Release). R reads `freed == 1` (Acquire) and dereferences `n`.
///
/// kovan: the fast path (`protect_load`, guard.rs 289-311) is protected
/// only through "the Release-Acquire chain through the shared atomic and
/// the epoch counter" (its doc, guard.rs 256-259): with a Relaxed load
/// nothing makes R's `EPOCH` read see 2, so it may read 1 <= `cached_epoch`
/// and return `n` with R's slot still at 1. `try_retire` skips R's slot
/// (1 < min birth 2, guard.rs 1291), and X's flush frees `n`: R's
/// dereference is a use after free.
///
/// The model as reviewed published the latest epoch before every load
/// whatever its ordering, so R's slot holds `n` and the dereference
/// passes. A map load weakened to Relaxed (one of issue 8's mutant classes)
/// would not be caught as the use-after-free it is.
#[test]
#[should_panic(expected = "use after reclamation")]
fn finding_hidden_a_relaxed_load_is_protected_by_the_model() {
    static REACHED: AtomicBool = AtomicBool::new(false);
    check(3, || {
        read_a_node_born_above_the_readers_epoch(Ordering::Relaxed, &REACHED)
    });
    // Not vacuous: the dereference after the free was explored (and
    // accepted).
    assert!(REACHED.load(Std::Relaxed), "scenario not reached");
}

/// The execution of the finding above and of its twin below: X flushes
/// (the epoch advances), allocates `n` born at the new epoch, links it,
/// removes it and, with no guard, flushes (so `n` is freed unless R's slot
/// holds it), then says so (Release); R, pinned before all this, loads the
/// link with `order` and dereferences what it read if X said it freed it.
fn read_a_node_born_above_the_readers_epoch(order: Ordering, reached: &'static AtomicBool) {
    model_reset(Epochs::OnlyAtFlush);
    let link: Arc<Link<N>> = Arc::new(Link::null());
    let freed = Arc::new(crate::sync::AtomicUsize::new(0));
    let g = pin();
    let (l2, f2) = (Arc::clone(&link), Arc::clone(&freed));
    let x = loom::thread::spawn(move || {
        let g = pin();
        flush();
        let n = node(9);
        assert!(l2.cas(
            Shared::null(),
            Shared::from_owned(n, &g),
            Ordering::AcqRel,
            Ordering::Relaxed,
            &g
        ));
        let removed = remove(&l2, &g);
        drop(g);
        if removed {
            flush();
            f2.store(1, Ordering::Release);
        }
    });
    let s = link.load(order, &g);
    if !s.is_null() && freed.load(Ordering::Acquire) == 1 {
        reached.store(true, Std::Relaxed);
        // SAFETY: protected by kovan for an Acquire load, not for a Relaxed
        // one (see the finding): the model must tell which.
        assert_eq!(unsafe { s.deref() }.v, 9);
    }
    drop(g);
    x.join().unwrap();
    model_quiesce();
}

/// The twin of the finding above with an Acquire load, which kovan does
/// protect (R's epoch read after the load sees X's advance, so R takes the
/// cold path: publish, fence, reload). It catches a fix of the finding that
/// refuses Acquire loads too.
#[test]
fn an_acquire_load_of_a_node_born_above_the_readers_epoch_is_protected() {
    static REACHED: AtomicBool = AtomicBool::new(false);
    check(3, || {
        read_a_node_born_above_the_readers_epoch(Ordering::Acquire, &REACHED)
    });
    assert!(REACHED.load(Std::Relaxed), "scenario not reached");
}

/// HIDDEN BUG (the dereference check is made once, at `deref`; kovan's
/// protection must last while the reference is used).
///
/// Execution: A pins, flushes (epoch 2, its cached birth 2, its slot still
/// at 1), allocates `n` (born 2), links it, and takes `&N` through
/// `Shared::from_owned(n).deref()` right after the publishing CAS (as
/// `claim`'s `on_insert(shared.deref().value())` did before the fix of
/// issue 7). Before it reads the payload, another thread runs (here a
/// yield; in the maps a `V::clone` that touches an atomic, or a `len`
/// update): B removes `n`, retires it, drops its guard and flushes: `n` is
/// freed. A then reads `n.v`.
///
/// kovan: as in `own_allocation_born_above_the_published_epoch_is_not_protected`,
/// `n` is freed under A's live guard: a use after free, whether A obtained
/// the reference before or after the free.
///
/// The model checks only at `deref`, when `n` was unretired, and keeps the
/// freed memory allocated, so A's read goes unreported. loom gives no
/// schedule point between a CAS and the plain code after it, so a
/// dereference made right after a publication is always checked before any
/// other thread can remove the node: the model catches issue 7's bug 1 only
/// where the map happened to dereference after another atomic operation.
/// (A fix: check at *free* time that no thread with a live guard whose slot
/// does not hold the node has dereferenced it.)
#[test]
#[should_panic(expected = "use after reclamation")]
fn finding_hidden_a_reference_taken_before_the_free_is_not_checked() {
    static REACHED: AtomicBool = AtomicBool::new(false);
    check(3, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let link: Arc<Link<N>> = Arc::new(Link::null());
        let l2 = Arc::clone(&link);
        let b = loom::thread::spawn(move || {
            let g = pin();
            let removed = remove(&l2, &g);
            drop(g);
            if removed {
                flush();
            }
        });
        let g = pin();
        flush();
        let n = node(4);
        assert!(link.cas(
            Shared::null(),
            Shared::from_owned(n, &g),
            Ordering::AcqRel,
            Ordering::Relaxed,
            &g,
        ));
        // SAFETY: none after the CAS (issue 7): the model must report it.
        let r: &N = unsafe { Shared::from_owned(n, &g).deref() };
        loom::thread::yield_now();
        let _ = core::hint::black_box(r.v);
        // Was `n` freed under the reference?
        if with_registry(|reg| reg.nodes.get(&(n as usize)).is_some_and(|m| m.freed)) {
            REACHED.store(true, Std::Relaxed);
        }
        drop(g);
        b.join().unwrap();
        destroy_linked(&link);
        model_quiesce();
    });
    // Not vacuous: the read through a reference to a freed node was
    // explored (and accepted).
    assert!(REACHED.load(Std::Relaxed), "scenario not reached");
}

/// HIDDEN (the registry is invisible to loom's DPOR).
///
/// Execution: T flushes (kovan: `increment_era`, a `fetch_add` on `EPOCH`);
/// the main thread pins (kovan: an `EPOCH` load, guard.rs 533). Each also
/// touches an atomic of its own. In kovan the pin may read the epoch before
/// or after the advance: the two accesses to `EPOCH` race, and a checker
/// that saw them would run both orders.
///
/// The model keeps the epoch and the slots in a plain thread-local, which
/// loom neither sees nor schedules around: its DPOR finds no dependent
/// access between the two threads and runs one order only. Any pair of
/// model events that conflict only through the registry (a pin or a
/// cold-path publication against a retire's scan or a flush's advance, a
/// dereference check against a transition that frees) is ordered by
/// whatever link accesses surround them, never explored for its own sake.
/// (Keeping the epoch, and the slots' published epochs, in loom atomics
/// accessed as kovan accesses them would expose these races to DPOR.)
#[test]
fn finding_hidden_registry_races_are_invisible_to_loom() {
    // (Fixed: the epoch is a loom atomic now. The flushing thread pins
    // first, since kovan's `flush` on a thread without an ID and with
    // nothing to submit returns at once, guard.rs 1529. The pin runs on the
    // spawned thread and the flush on the main one: the other way round,
    // loom 0.7's DPOR gap hides the race (the flusher's own load of the
    // epoch in its pin is the last access loom remembers, so the advance is
    // never scheduled before the other thread's load); see
    // docs/verification.md.)
    static BEFORE: AtomicBool = AtomicBool::new(false);
    static AFTER: AtomicBool = AtomicBool::new(false);
    check(3, || {
        model_reset(Epochs::OnlyAtFlush);
        let mine = Arc::new(crate::sync::AtomicUsize::new(0));
        let m2 = Arc::clone(&mine);
        let t = loom::thread::spawn(move || {
            m2.store(1, Ordering::Relaxed);
            let g = pin();
            let published = with_registry(|r| r.slots[g.slot].published);
            m2.store(2, Ordering::Relaxed);
            drop(g);
            published
        });
        drop(pin());
        flush();
        let published = t.join().unwrap();
        if published == 1 {
            BEFORE.store(true, Std::Relaxed);
        } else {
            AFTER.store(true, Std::Relaxed);
        }
        model_quiesce();
    });
    assert!(
        BEFORE.load(Std::Relaxed) && AFTER.load(Std::Relaxed),
        "loom explored only one order of a pin and a flush of another thread \
         (pin before the advance: {}, after: {})",
        BEFORE.load(Std::Relaxed),
        AFTER.load(Std::Relaxed)
    );
}
