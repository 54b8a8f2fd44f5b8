//! Detects a documented misuse that would otherwise never end: a user
//! closure of a map operation (`compute`'s `f`, `remove_if`'s and
//! `replace_if`'s `pred`, `get_or_insert_with`'s `make`) that writes to the
//! same map.
//!
//! Such a write makes the enclosing operation's CAS fail, so the operation
//! calls the closure again, which writes again: a livelock (a `compute` that
//! calls `compute` on its own key spun forever). Java's ConcurrentHashMap
//! throws "Recursive update" in the same place. Here a thread-local mark
//! names the map whose closure this thread is running; every write
//! operation checks it first, and panics with a clear message instead.
//! Reads inside a closure are allowed (they end), and so are writes to
//! another map.
//!
//! The mark needs `std`'s thread locals, and is left out under loom and
//! shuttle, whose threads are not OS threads (their scenarios never break
//! the rule). Without it the misuse still hangs, as documented.

#[cfg(all(feature = "std", not(any(kovan_map_loom, feature = "shuttle"))))]
mod imp {
    use core::cell::Cell;

    std::thread_local! {
        /// The address of the map whose closure this thread runs (0: none).
        static INSIDE: Cell<usize> = const { Cell::new(0) };
    }

    /// Restores the previous mark when the closure returns or unwinds.
    pub(crate) struct Mark {
        previous: usize,
    }

    impl Drop for Mark {
        fn drop(&mut self) {
            let previous = self.previous;
            let _ = INSIDE.try_with(|inside| inside.set(previous));
        }
    }

    /// Marks this thread as running a closure of the map at `map`.
    #[inline]
    pub(crate) fn enter(map: *const ()) -> Mark {
        let previous = INSIDE
            .try_with(|inside| inside.replace(map as usize))
            .unwrap_or(0);
        Mark { previous }
    }

    /// Panics if this thread is inside a closure of the map at `map`.
    #[inline]
    pub(crate) fn check(map: *const (), operation: &str) {
        let inside = INSIDE.try_with(Cell::get).unwrap_or(0);
        if inside != 0 && inside == map as usize {
            recursive_update(operation);
        }
    }

    #[cold]
    #[inline(never)]
    fn recursive_update(operation: &str) -> ! {
        panic!(
            "kovan_map: recursive update: `{operation}` was called on a map from inside a \
             closure that the same map is running (compute, remove_if, replace_if, \
             get_or_insert_with). The closure runs again whenever a concurrent write \
             changes the key, so a write from inside it would never end; write to the map \
             after the call returns instead"
        );
    }
}

#[cfg(not(all(feature = "std", not(any(kovan_map_loom, feature = "shuttle")))))]
mod imp {
    /// Without thread locals: no mark.
    pub(crate) struct Mark;

    #[inline]
    pub(crate) fn enter(_map: *const ()) -> Mark {
        Mark
    }

    #[inline]
    pub(crate) fn check(_map: *const (), _operation: &str) {}
}

pub(crate) use imp::{check, enter};

/// Runs the user closure `f` of the map at `map` under the mark.
#[inline]
pub(crate) fn run<R>(map: *const (), f: impl FnOnce() -> R) -> R {
    let _mark = enter(map);
    f()
}
