//! HNSW over dense `u32` slots. Knows nothing of keys, disks or threads.
//!
//! (Full documentation below is completed with the module.)

mod graph;
mod hnsw;
mod param;
mod remove;
mod search;

pub use hnsw::Hnsw;
pub use param::{Hit, Metric, Mode, Params, SearchParams, Slot, Stats};
pub use search::Search;
