//! The public API, checked against its documentation, once per map.

mod common;

mod hash_map {
    use kovan_map::HashMap;
    crate::api_suite!(HashMap);
}
