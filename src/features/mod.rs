//! Integrations behind optional cargo features (all off by default):
//! `serde` here; `rayon`'s parallel iteration lives beside each map
//! (`hash_map/par.rs`, `hopscotch/par.rs`), since splitting a map needs
//! its internals.

mod serde;
