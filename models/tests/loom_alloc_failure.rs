//! Review of c867ed4 (directory segments and overflow heads from
//! `reclaim::alloc_bytes`, which is `loom::alloc::alloc` under loom).
//!
//! `loom::alloc::alloc` (loom 0.7.3, `src/alloc.rs`) calls
//! `std::alloc::alloc` and then tracks the pointer it got, *also when that
//! pointer is null*: a failed allocation becomes a live tracked block at
//! address 0 that nothing ever frees. So the maps' allocation-failure path
//! (`allocate` answers `AllocFailed`, `try_with_capacity_and_hasher`
//! answers `CapacityError::AllocFailed`), which frees nothing because
//! nothing was allocated, fails the execution with loom's
//! "Allocation leaked"; a second failed allocation in one execution panics
//! inside loom with "pointer already tracked". Before c867ed4 the segment
//! came from `alloc::alloc::alloc_zeroed`/`alloc`, untracked.
//!
//! 2^55 buckets is below `MAX_BUCKETS` (2^60), and its segment layout
//! (2^58 bytes of links plus the state words) is a valid `Layout`, so the
//! request reaches the allocator, which cannot map 256 PiB and answers
//! null.
//!
//! Run with:
//! `RUSTFLAGS="--cfg kovan_map_loom" CARGO_TARGET_DIR=target/loom cargo test --locked -p kovan-map-models --release --test loom_alloc_failure`
#![cfg(kovan_map_loom)]

use kovan_map::model::{model_quiesce, model_reset, Epochs};
use kovan_map::{CapacityError, HashMap};
use kovan_map_models::harness::{loom_model, KeyIsHash};

const HUGE: usize = 1 << 55;

#[test]
fn a_failed_directory_allocation_leaks_nothing_under_loom() {
    loom_model(0, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        let r = HashMap::<u64, u64, KeyIsHash>::try_with_capacity_and_hasher(HUGE, KeyIsHash);
        assert!(
            matches!(r, Err(CapacityError::AllocFailed { .. })),
            "the allocator was expected to refuse {HUGE} buckets"
        );
        model_quiesce();
    });
}

#[test]
fn two_failed_directory_allocations_in_one_execution_are_no_error() {
    loom_model(0, || {
        model_reset(Epochs::AdvanceAtEveryRetire);
        for _ in 0..2 {
            let r = HashMap::<u64, u64, KeyIsHash>::try_with_capacity_and_hasher(HUGE, KeyIsHash);
            assert!(matches!(r, Err(CapacityError::AllocFailed { .. })));
        }
        model_quiesce();
    });
}
