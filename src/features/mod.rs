//! Integrations behind optional cargo features (all off by default):
//! `serde` here; for `rayon`, the glue both maps share is here (`par.rs`),
//! and each map's splitting lives beside it (`hash_map/par.rs`,
//! `hopscotch/par.rs`), since splitting a map needs its internals.

#[cfg(feature = "rayon")]
pub(crate) mod par;
#[cfg(feature = "serde")]
mod serde;
