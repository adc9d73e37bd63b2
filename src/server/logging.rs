//! The server's logs: text or JSON lines (`--log-format`), filtered by an EnvFilter that
//! CONFIG SET `loglevel` / `log` replaces while serving (tracing-subscriber's reload layer).

use std::sync::OnceLock;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// How log lines are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// tracing-subscriber's human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`).
    Json,
}

static RELOAD: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the process's subscriber (once; later calls change nothing). A filter that does
/// not parse falls back to `info`, saying so.
pub fn init(format: LogFormat, filter: &str) {
    let (parsed, bad) = match EnvFilter::try_new(filter) {
        Ok(f) => (f, None),
        Err(e) => (EnvFilter::new("info"), Some(e)),
    };
    let (layer, handle) = reload::Layer::new(parsed);
    let registry = tracing_subscriber::registry().with(layer);
    let installed = match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init(),
    };
    if installed.is_ok() {
        let _ = RELOAD.set(handle);
    }
    if let Some(e) = bad {
        tracing::warn!(filter, error = %e, "log filter does not parse; logging at info");
    }
}

/// Replaces the filter of the subscriber [`init`] installed (nothing to do without one, as
/// when the server runs inside a test). Refuses a filter that does not parse.
pub fn set_filter(filter: &str) -> Result<(), String> {
    let parsed = EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    if let Some(h) = RELOAD.get() {
        h.reload(parsed).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Redis's `loglevel` names and the filter each one sets.
pub const REDIS_LEVELS: [(&str, &str); 5] = [
    ("debug", "debug"),
    ("verbose", "info"),
    ("notice", "info"),
    ("warning", "warn"),
    ("nothing", "off"),
];

/// The Redis `loglevel` a filter amounts to (`notice` for a per-module filter).
pub fn redis_level_of(filter: &str) -> &'static str {
    match filter.trim().to_ascii_lowercase().as_str() {
        "trace" | "debug" => "debug",
        "warn" | "error" => "warning",
        "off" => "nothing",
        _ => "notice",
    }
}
