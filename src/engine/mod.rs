//! The engine: the one public API. Orders durability; everything else sits below it.

mod api;
mod config;
mod types;

pub use api::Engine;
pub use config::{Clock, EngineConfig, EvictionPolicy, Limits, ManualClock, SystemClock};
pub use types::*;
