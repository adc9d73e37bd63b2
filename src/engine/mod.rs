//! The engine: the one public API. Orders durability; everything else sits below it.

mod api;
mod blob;
mod config;
mod types;
mod vector;

pub use api::Engine;
pub use config::{Clock, EngineConfig, EvictionPolicy, Limits, ManualClock, SystemClock};
pub use types::*;
