//! Detects a documented misuse that would otherwise never end: a user
//! closure of a map operation (`compute`'s `f`, `remove_if`'s and
//! `replace_if`'s `pred`, `get_or_insert_with`'s `make`) that writes to the
//! same map.
//!
//! Such a write makes the enclosing operation's CAS fail, so the operation
//! calls the closure again, which writes again: a livelock (a `compute` that
//! calls `compute` on its own key spun forever). Java's ConcurrentHashMap
//! throws "Recursive update" in the same place. Here thread-local marks
//! name the maps whose closures this thread is running, nested ones
//! included (a closure of map A that runs a closure of map B that writes A
//! livelocks A just the same; up to 8 levels are remembered); every write
//! operation checks them first, and panics with a clear message instead.
//! Reads inside a closure are allowed (they end), and so are writes to a
//! map none of whose closures is running.
//!
//! The mark needs `std`'s thread locals, and is left out under loom and
//! shuttle, whose threads are not OS threads (their scenarios never break
//! the rule). Without it the misuse still hangs, as documented.

#[cfg(all(feature = "std", not(any(kovan_map_loom, feature = "shuttle"))))]
mod imp {
    use core::cell::Cell;

    /// Closures of maps this thread runs inside one another that the mark
    /// remembers; deeper ones are counted but not remembered, so a write to
    /// a map whose closure is more than this many levels out is not caught
    /// (it hangs, as documented).
    const DEPTH: usize = 8;

    std::thread_local! {
        /// The addresses of the maps whose closures this thread runs, the
        /// outermost first (`ACTIVE[..depth]`, at most `DEPTH` of them).
        static ACTIVE: [Cell<usize>; DEPTH] = const { [const { Cell::new(0) }; DEPTH] };
        /// How many closures of maps this thread is inside.
        static NESTED: Cell<usize> = const { Cell::new(0) };
    }

    /// Leaves the closure's level when the closure returns or unwinds.
    pub(crate) struct Mark {
        entered: bool,
    }

    impl Drop for Mark {
        fn drop(&mut self) {
            if self.entered {
                let _ = NESTED.try_with(|n| n.set(n.get().saturating_sub(1)));
            }
        }
    }

    /// Marks this thread as running a closure of the map at `map`, inside
    /// whatever closures it already runs (of this map or others: a closure
    /// of map A that runs map B's `compute`, whose closure writes A, would
    /// livelock A's `compute` just as a direct write does).
    #[inline]
    pub(crate) fn enter(map: *const ()) -> Mark {
        let entered = NESTED
            .try_with(|n| {
                let depth = n.get();
                if depth < DEPTH {
                    let _ = ACTIVE.try_with(|active| active[depth].set(map as usize));
                }
                n.set(depth + 1);
            })
            .is_ok();
        Mark { entered }
    }

    /// Panics if this thread is inside a closure of the map at `map`, at
    /// any of the remembered levels.
    #[inline]
    pub(crate) fn check(map: *const (), operation: &str) {
        let depth = NESTED.try_with(Cell::get).unwrap_or(0);
        if depth == 0 {
            return;
        }
        let inside = ACTIVE
            .try_with(|active| {
                active[..depth.min(DEPTH)]
                    .iter()
                    .any(|level| level.get() == map as usize)
            })
            .unwrap_or(false);
        if inside {
            recursive_update(operation);
        }
    }

    #[cold]
    #[inline(never)]
    fn recursive_update(operation: &str) -> ! {
        panic!(
            "kovan_map: recursive update: `{operation}` was called on a map from inside a \
             closure that the same map is running (compute, remove_if, replace_if, \
             get_or_insert_with, an entry chain), perhaps through another map's closure. \
             The closure runs again whenever a concurrent write \
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
