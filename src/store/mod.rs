//! Keys → slots, arenas, TTL, eviction, statistics.

pub(crate) struct Store;
