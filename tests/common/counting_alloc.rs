//! The system allocator, counting the bytes currently allocated: for the
//! memory tests and the benchmark's bytes-per-entry figures. Each binary
//! that wants it includes this file and installs `Counting` (live bytes)
//! or `CountingWithPeak` (live bytes and their peak) as its
//! `#[global_allocator]` (one per binary).

#![allow(dead_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

/// The system allocator, counting the bytes currently allocated.
pub struct Counting;

/// The system allocator, counting the bytes currently allocated and the
/// peak of that count (one more atomic operation per allocation than
/// `Counting`, which the benchmark's timings do without).
pub struct CountingWithPeak;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);

fn grew(bytes: usize, track_peak: bool) {
    let now = LIVE_BYTES.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
    if track_peak {
        PEAK_BYTES.fetch_max(now, Ordering::Relaxed);
    }
}

fn shrank(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes as isize, Ordering::Relaxed);
}

/// `GlobalAlloc` for `$allocator`: `System`'s, counted.
macro_rules! counted_system_allocator {
    ($allocator:ty, track_peak: $track_peak:expr) => {
        // SAFETY: forwards every call to `System` unchanged; only counts.
        unsafe impl GlobalAlloc for $allocator {
            unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
                // SAFETY: the caller's contract, passed on.
                let ptr = unsafe { System.alloc(layout) };
                if !ptr.is_null() {
                    grew(layout.size(), $track_peak);
                }
                ptr
            }

            unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
                // SAFETY: as above.
                let ptr = unsafe { System.alloc_zeroed(layout) };
                if !ptr.is_null() {
                    grew(layout.size(), $track_peak);
                }
                ptr
            }

            unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
                // SAFETY: as above.
                unsafe { System.dealloc(ptr, layout) };
                shrank(layout.size());
            }

            unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
                // SAFETY: as above.
                let new = unsafe { System.realloc(ptr, layout, new_size) };
                if !new.is_null() {
                    if new_size >= layout.size() {
                        grew(new_size - layout.size(), $track_peak);
                    } else {
                        shrank(layout.size() - new_size);
                    }
                }
                new
            }
        }
    };
}

counted_system_allocator!(Counting, track_peak: false);
counted_system_allocator!(CountingWithPeak, track_peak: true);

/// Bytes allocated and not yet freed, by every thread.
pub fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// The most bytes live at once since the last `reset_peak` (only under
/// `CountingWithPeak`).
pub fn peak_bytes() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

/// Restarts the peak at the live figure; returns it.
pub fn reset_peak() -> isize {
    let now = live_bytes();
    PEAK_BYTES.store(now, Ordering::Relaxed);
    now
}
