//! The model reclaimer held against kovan 0.2.0's rule, scenario by scenario:
//! each test is an execution kovan allows (the model must not fail it) or one
//! kovan forbids (the model must fail it).

use super::*;

#[test]
fn a_node_loaded_while_reachable_is_protected_after_its_removal() {
    loom::model(|| {
        model_reset(Epochs::AdvanceAtEveryRetire);
        struct N {
            _h: Header,
            v: u64,
        }
        let node = alloc(N {
            _h: Header::new(),
            v: 7,
        });
        let link = loom::sync::Arc::new(Link::new(node));
        let guard = pin();
        let seen = link.load(Ordering::Acquire, &guard);
        let l2 = loom::sync::Arc::clone(&link);
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
