//! `sutra-cache serve` configuration: flags, each with an environment fallback (the
//! seed's variable names where the seed had one); a flag wins over its variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, CommandFactory, Parser};

use super::frame::FrameLimits;
use crate::{EngineConfig, EvictionPolicy, IoChoice, StorageMode, SyncPolicy};

/// Configuration of the RESP/HTTP server and of the engine behind it.
#[derive(Args, Clone, Debug)]
pub struct ServerConfig {
    /// Data directory: `wal/` (the write-ahead log) and `snapshot-<lsn>.snap` files.
    #[arg(long, env = "STORAGE_PATH", default_value = "./data")]
    pub storage_path: PathBuf,

    /// Keep everything in memory only: no files under the storage path.
    #[arg(long, env = "SUTRA_IN_MEMORY", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "false")]
    pub in_memory: bool,

    /// TCP port for RESP and HTTP (one port serves both).
    #[arg(long, env = "STORAGE_PORT", default_value_t = 50051)]
    pub port: u16,

    /// Address to bind. Anything but loopback requires a password (--requirepass).
    #[arg(long, env = "SUTRA_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Expected embedding dimension (the seed's). Reported in INFO and /health; each vector
    /// set fixes its own dimension at its first add.
    #[arg(long, env = "VECTOR_DIMENSION")]
    pub vector_dimension: Option<usize>,

    /// Role of this process in a deployment (the seed's; e.g. `storage`). Reported in INFO
    /// and /health.
    #[arg(long, env = "SUTRA_ROLE", default_value = "storage")]
    pub role: String,

    /// Storage mode of vector sets created by a VADD without a quantization flag:
    /// `exact` (f32 kept, exact bytes back), `q8` (int8 only) or `noquant` (f32 only).
    #[arg(long, env = "CACHE_MODE", default_value = "exact", value_parser = parse_storage_mode)]
    pub cache_mode: StorageMode,

    /// Cap on entries (blob keys plus vector-set elements); 0 = none. The seed's MAX_CONCEPTS.
    #[arg(long, env = "MAX_CONCEPTS", default_value_t = 0)]
    pub max_concepts: u64,

    /// Cap on accounted bytes (e.g. `512mb`, `2gb`); 0 = none (Redis's maxmemory).
    #[arg(long, env = "SUTRA_MAXMEMORY", default_value = "0", value_parser = parse_bytes)]
    pub maxmemory: u64,

    /// What happens at a cap: `lru`, `lfu` or `noeviction` (writes then fail with OOM).
    #[arg(long, env = "EVICTION_POLICY", default_value = "lru")]
    pub eviction_policy: EvictionPolicy,

    /// TTL given to writes that name none, in seconds; 0 = none.
    #[arg(long, env = "DEFAULT_TTL_SECONDS", default_value_t = 0)]
    pub default_ttl_seconds: u64,

    /// The seed's flag, accepted for compatibility: snapshots are always memory-mapped at
    /// recovery, whatever its value. Reported in INFO.
    #[arg(long, env = "MMAP_ENABLED", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "true")]
    pub mmap_enabled: bool,

    /// WAL sync policy: 0 = fdatasync before each acknowledgement (`always`), N > 0 =
    /// fdatasync every N ms (`interval`: an acknowledged write survives a crash of the
    /// process, and a power loss once the next sync has run).
    #[arg(long, env = "WAL_SYNC_INTERVAL_MS", default_value_t = crate::DEFAULT_WAL_SYNC_INTERVAL_MS)]
    pub wal_sync_interval_ms: u64,

    /// Overrides the policy WAL_SYNC_INTERVAL_MS selects: `always`, `interval` (every
    /// WAL_SYNC_INTERVAL_MS, 1000 ms when that is 0) or `never` (only at checkpoints and
    /// shutdown).
    #[arg(long, env = "SUTRA_WAL_SYNC", value_parser = ["always", "interval", "never"], ignore_case = true)]
    pub wal_sync: Option<String>,

    /// The WAL's I/O path: `auto` (io_uring when the kernel allows it, else plain
    /// syscalls), `uring` or `sync` (pwrite + fdatasync).
    #[arg(long, env = "SUTRA_WAL_IO", default_value = "auto", value_parser = parse_wal_io)]
    pub wal_io: IoChoice,

    /// How writes that wait on the WAL (any policy but `never`) wait: `async` (the write
    /// runs on the worker and its task awaits the WAL writer's wake-up), `spawn-blocking`
    /// (tokio's blocking pool), `block-in-place`, or `inline` (they block the worker).
    #[arg(
        long,
        env = "SUTRA_WRITE_OFFLOAD",
        default_value = "async",
        value_enum,
        hide = true
    )]
    pub write_offload: WriteOffload,

    /// Write a snapshot this many seconds after the last one (if anything was written);
    /// 0 = never by time.
    #[arg(
        long,
        env = "SUTRA_CHECKPOINT_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    pub checkpoint_interval_seconds: u64,

    /// Write a snapshot once this much WAL has been written since the last one (e.g.
    /// `512mb`); 0 = never by size.
    #[arg(long, env = "SUTRA_CHECKPOINT_WAL_BYTES", default_value = "512mb", value_parser = parse_bytes)]
    pub checkpoint_wal_bytes: u64,

    /// Log filter (tracing-subscriber EnvFilter syntax, e.g. `info`, `sutra_cache=debug`).
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// Password for AUTH (and Bearer token for /stats and /metrics); empty = none.
    #[arg(long, env = "SUTRA_PASSWORD", hide_env_values = true)]
    pub requirepass: Option<String>,

    /// Most simultaneous clients; one more gets "-ERR max number of clients reached".
    #[arg(long, env = "SUTRA_MAXCLIENTS", default_value_t = 10_000)]
    pub maxclients: usize,

    /// Close a client idle for this many seconds; 0 = never (Redis's `timeout`).
    #[arg(long = "timeout", env = "SUTRA_TIMEOUT", default_value_t = 0)]
    pub idle_timeout_seconds: u64,

    /// Longest bulk string a client may send (Redis's proto-max-bulk-len).
    #[arg(long, env = "SUTRA_PROTO_MAX_BULK_LEN", default_value = "64mb", value_parser = parse_bytes)]
    pub proto_max_bulk_len: u64,

    /// Most arguments in one command.
    #[arg(long, env = "SUTRA_PROTO_MAX_ARGS", default_value_t = 1 << 20)]
    pub proto_max_args: usize,

    /// Longest inline command line.
    #[arg(long, env = "SUTRA_PROTO_MAX_INLINE_LEN", default_value = "64kb", value_parser = parse_bytes)]
    pub proto_max_inline_len: u64,

    /// Most unparsed input held for one client; past it the client is closed.
    #[arg(long, env = "SUTRA_CLIENT_QUERY_BUFFER_LIMIT", default_value = "256mb", value_parser = parse_bytes)]
    pub client_query_buffer_limit: u64,

    /// Most reply bytes held for one client; past it the client is closed.
    #[arg(long, env = "SUTRA_CLIENT_OUTPUT_BUFFER_LIMIT", default_value = "256mb", value_parser = parse_bytes)]
    pub client_output_buffer_limit: u64,

    /// Name of this shard in /stats (the seed's `shard` key).
    #[arg(long, env = "SUTRA_SHARD", default_value = "0")]
    pub shard: String,

    /// Threads serving clients; 0 = one per CPU core.
    #[arg(long, env = "SUTRA_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Seconds that shutdown waits for clients to finish their in-flight requests.
    #[arg(long, env = "SUTRA_SHUTDOWN_GRACE_SECONDS", default_value_t = 5)]
    pub shutdown_grace_seconds: u64,
}

/// How a write that waits for an fdatasync leaves the async workers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOffload {
    /// The command runs on the async worker with the WAL wait deferred; the connection's
    /// task awaits the acknowledgement (woken by the WAL writer) before replying.
    Async,
    /// `tokio::task::spawn_blocking`: the write runs on the blocking pool.
    SpawnBlocking,
    /// `tokio::task::block_in_place`: the worker becomes a blocking thread for the call.
    BlockInPlace,
    /// On the async worker (blocks it while the WAL acknowledges).
    Inline,
}

#[derive(Parser)]
#[command(name = "sutra-cache-serve")]
struct Standalone {
    #[command(flatten)]
    config: ServerConfig,
}

impl Default for ServerConfig {
    /// The defaults of `sutra-cache serve` with no flags and no environment, in memory.
    fn default() -> Self {
        let c = Standalone::command();
        let mut c = c
            .get_arguments()
            .cloned()
            .collect::<Vec<_>>()
            .into_iter()
            .fold(
                clap::Command::new("defaults").no_binary_name(true),
                |cmd, arg| cmd.arg(arg.env(None::<&str>)),
            );
        let m = c
            .try_get_matches_from_mut(std::iter::empty::<&str>())
            .expect("defaults parse");
        let mut cfg = <ServerConfig as clap::FromArgMatches>::from_arg_matches(&m)
            .expect("defaults are valid");
        cfg.in_memory = true;
        cfg
    }
}

impl ServerConfig {
    /// Parses flags (first element is the program name) with environment fallbacks.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        Standalone::try_parse_from(args).map(|s| s.config)
    }

    /// Every environment variable the server reads.
    pub fn env_var_names() -> Vec<String> {
        Standalone::command()
            .get_arguments()
            .filter_map(|a| a.get_env())
            .map(|e| e.to_string_lossy().into_owned())
            .collect()
    }

    /// The `--flag` that environment variable `var` backs, if the server reads `var`.
    pub fn flag_for_env(var: &str) -> Option<String> {
        Standalone::command()
            .get_arguments()
            .find(|a| a.get_env().is_some_and(|e| e == var))
            .and_then(|a| a.get_long().map(|l| format!("--{l}")))
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind, self.port)
    }

    /// The password, when one is set and not empty.
    pub fn password(&self) -> Option<&str> {
        self.requirepass.as_deref().filter(|p| !p.is_empty())
    }

    /// Refuses settings the server must not start with, saying why.
    pub fn validate(&self) -> Result<(), String> {
        if !self.bind.is_loopback() && self.password().is_none() {
            return Err(format!(
                "refusing to listen on {} without a password: anyone who can reach the port \
                 could read and delete every entry. Set --requirepass (or SUTRA_PASSWORD), \
                 or bind 127.0.0.1",
                self.bind
            ));
        }
        if self.maxclients == 0 {
            return Err("--maxclients must be at least 1".into());
        }
        if self.proto_max_bulk_len > self.client_query_buffer_limit {
            return Err(format!(
                "--proto-max-bulk-len ({}) is over --client-query-buffer-limit ({}): \
                 such a value could never be received",
                self.proto_max_bulk_len, self.client_query_buffer_limit
            ));
        }
        Ok(())
    }

    /// The engine's configuration.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            max_entries: self.max_concepts,
            max_bytes: self.maxmemory,
            eviction_policy: self.eviction_policy,
            default_ttl_ms: self.default_ttl_seconds.saturating_mul(1000),
            data_dir: (!self.in_memory).then(|| self.storage_path.clone()),
            wal_sync: self.wal_sync_policy(),
            wal_io: self.wal_io,
            checkpoint_interval_ms: self.checkpoint_interval_seconds.saturating_mul(1000),
            checkpoint_wal_bytes: self.checkpoint_wal_bytes,
            checkpoint_on_close: true,
            ..EngineConfig::default()
        }
    }

    /// Request size limits.
    pub fn frame_limits(&self) -> FrameLimits {
        FrameLimits {
            max_bulk_len: usize::try_from(self.proto_max_bulk_len).unwrap_or(usize::MAX),
            max_array_len: self.proto_max_args,
            max_inline_len: usize::try_from(self.proto_max_inline_len).unwrap_or(usize::MAX),
        }
    }

    /// Idle timeout, when set.
    pub fn idle_timeout(&self) -> Option<Duration> {
        (self.idle_timeout_seconds > 0).then(|| Duration::from_secs(self.idle_timeout_seconds))
    }

    /// The WAL sync policy: `--wal-sync` when given, else as WAL_SYNC_INTERVAL_MS selects
    /// ([`SyncPolicy::named_over_interval`]).
    pub fn wal_sync_policy(&self) -> SyncPolicy {
        let named = self.wal_sync.as_deref().and_then(|s| s.parse().ok());
        SyncPolicy::named_over_interval(named, self.wal_sync_interval_ms)
    }

    /// The WAL sync policy's name: `always`, `interval` or `never`.
    pub fn wal_mode(&self) -> &'static str {
        self.wal_sync_policy().name()
    }
}

/// `auto`, `uring` or `sync`.
pub fn parse_wal_io(s: &str) -> Result<IoChoice, String> {
    s.parse::<IoChoice>().map_err(|e| e.to_string())
}

/// `exact`, `q8` or `noquant` (Redis's `int8` and `f32` too): [`StorageMode`]'s parser.
pub fn parse_storage_mode(s: &str) -> Result<StorageMode, String> {
    s.parse::<StorageMode>().map_err(|e| e.to_string())
}

/// A byte count with an optional unit as Redis's config accepts: `1024`, `64kb`, `1mb`,
/// `2gb` (powers of 1024; `k`, `m`, `g` too).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim().to_ascii_lowercase();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a byte count such as 1024, 64kb or 2gb; got '{s}'"))?;
    let mul: u64 = match unit {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown unit '{unit}' in '{s}' (use b, kb, mb or gb)"
            ))
        }
    };
    n.checked_mul(mul)
        .ok_or_else(|| format!("'{s}' does not fit in 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts_accept_redis_units() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("64kb"), Ok(64 << 10));
        assert_eq!(parse_bytes("2GB"), Ok(2 << 30));
        assert!(parse_bytes("12xb").is_err());
        assert!(parse_bytes("").is_err());
    }

    #[test]
    fn defaults_are_loopback_on_the_seed_port() {
        let c = ServerConfig::default();
        assert_eq!(c.port, 50051);
        assert!(c.bind.is_loopback());
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.storage_path, PathBuf::from("./data"));
    }

    #[test]
    fn a_public_bind_without_password_is_refused_with_a_reason() {
        let c = ServerConfig::try_parse_from(["x", "--bind", "0.0.0.0", "--in-memory", "true"])
            .unwrap();
        let err = c.validate().unwrap_err();
        assert!(err.contains("without a password"), "{err}");
        let c =
            ServerConfig::try_parse_from(["x", "--bind", "0.0.0.0", "--requirepass", "s"]).unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn the_wal_sync_policy_follows_the_seed_variable_unless_the_flag_overrides_it() {
        let p = |args: &[&str]| {
            let mut v = vec!["x"];
            v.extend_from_slice(args);
            ServerConfig::try_parse_from(v).unwrap().wal_sync_policy()
        };
        assert_eq!(p(&["--wal-sync-interval-ms", "0"]), SyncPolicy::Always);
        assert_eq!(
            p(&["--wal-sync-interval-ms", "250"]),
            SyncPolicy::Interval(250)
        );
        assert_eq!(
            p(&["--wal-sync-interval-ms", "0", "--wal-sync", "never"]),
            SyncPolicy::Never
        );
        assert_eq!(
            p(&["--wal-sync-interval-ms", "0", "--wal-sync", "interval"]),
            SyncPolicy::Interval(1000)
        );
        assert_eq!(
            p(&["--wal-sync-interval-ms", "70", "--wal-sync", "ALWAYS"]),
            SyncPolicy::Always
        );
        assert!(ServerConfig::try_parse_from(["x", "--wal-sync", "sometimes"]).is_err());
        assert!(ServerConfig::try_parse_from(["x", "--wal-io", "mmap"]).is_err());
        let c = ServerConfig::try_parse_from([
            "x",
            "--wal-io",
            "sync",
            "--checkpoint-interval-seconds",
            "7",
            "--checkpoint-wal-bytes",
            "1mb",
        ])
        .unwrap();
        let e = c.engine_config();
        assert_eq!(e.wal_io, IoChoice::Sync);
        assert_eq!(e.checkpoint_interval_ms, 7000);
        assert_eq!(e.checkpoint_wal_bytes, 1 << 20);
        assert!(e.data_dir.is_some());
    }

    #[test]
    fn the_seed_variables_are_all_read() {
        let names = ServerConfig::env_var_names();
        for v in [
            "STORAGE_PATH",
            "STORAGE_PORT",
            "VECTOR_DIMENSION",
            "SUTRA_ROLE",
            "CACHE_MODE",
            "MAX_CONCEPTS",
            "EVICTION_POLICY",
            "DEFAULT_TTL_SECONDS",
            "MMAP_ENABLED",
            "WAL_SYNC_INTERVAL_MS",
            "RUST_LOG",
        ] {
            assert!(names.iter().any(|n| n == v), "{v} is not read");
        }
    }
}
