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
#[cfg(target_os = "linux")]
mod uring;

pub use config::ServerConfig;
pub use frame::FrameLimits;
pub use listener::{run, run_on, serve, Listeners, PROTECTED_MODE_DENIED};
pub use probe::check_health;

/// Whether plain-port clients can be served over io_uring here (`--io-uring-sockets`): a
/// ring with the operations they need can be set up; the error says why not.
#[cfg(target_os = "linux")]
pub fn io_uring_sockets_available() -> std::io::Result<()> {
    uring::available()
}

/// Whether plain-port clients can be served over io_uring here: never but on Linux.
#[cfg(not(target_os = "linux"))]
pub fn io_uring_sockets_available() -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "io_uring is Linux's",
    ))
}
