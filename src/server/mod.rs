//! The RESP + HTTP front end (`sutra-cache serve`). Only this module knows RESP and
//! tokio; every command is one call into [`crate::Engine`].

mod acl;
mod clients;
mod cluster;
mod cmd;
mod cmdstats;
mod config;
mod config_file;
mod config_values;
mod connection;
mod errorstats;
mod frame;
pub(crate) mod fuzzing;
mod http;
mod http_analytics;
mod listener;
pub mod logging;
mod metrics;
mod probe;
mod replication;
mod reply;
mod shared;
mod slowlog;
mod stream;
mod tls;
mod tracking;
mod tx;

pub use config::ServerConfig;
pub use frame::FrameLimits;
pub use listener::{run, run_on, serve, Listeners, PROTECTED_MODE_DENIED};
pub use probe::check_health;
