//! Errors of the maps' constructors.

use core::fmt;

/// Why a map of the requested capacity cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapacityError {
    /// More buckets than the map can index.
    TooLarge {
        /// The capacity asked for.
        requested: usize,
        /// The largest capacity allowed.
        max: usize,
    },
    /// The allocator could not provide the bucket array.
    AllocFailed {
        /// Buckets in the array that could not be allocated.
        buckets: usize,
    },
}

impl fmt::Display for CapacityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { requested, max } => write!(
                f,
                "capacity {requested} is larger than the maximum of {max} buckets"
            ),
            Self::AllocFailed { buckets } => {
                write!(f, "could not allocate a table of {buckets} buckets")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CapacityError {}

#[cfg(not(feature = "std"))]
impl core::error::Error for CapacityError {}
