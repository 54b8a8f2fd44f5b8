//! The public API, checked against its documentation, once per map.

mod common;

mod hash_map {
    use kovan_map::HashMap;
    crate::api_suite!(HashMap);
}

#[test]
fn maps_cross_threads_exactly_when_their_contents_can() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    send::<kovan_map::HashMap<u64, String>>();
    sync::<kovan_map::HashMap<u64, String>>();
    // A map of `Cell`s may move to another thread, but not be shared.
    send::<kovan_map::HashMap<u64, std::cell::Cell<u64>>>();
    send::<kovan_map::HopscotchMap<u64, String>>();
    sync::<kovan_map::HopscotchMap<u64, String>>();
    send::<kovan_map::HopscotchMap<u64, std::cell::Cell<u64>>>();
}

mod hopscotch_map {
    use kovan_map::HopscotchMap;
    crate::api_suite!(HopscotchMap);
}
