//! State every connection shares: the engine, the configuration, server-level counters.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use super::clients::Clients;
use super::cluster::ClusterState;
use super::cmdstats::CommandStats;
use super::config::{ServerConfig, WriteOffload};
use super::frame::FrameLimits;
use super::slowlog::SlowLog;
use super::tracking::{PubSub, Tracking};
use super::tx::Transactions;
use crate::{Engine, SyncPolicy};

/// Shared by all connections of one server.
pub struct Shared {
    /// The engine every command calls.
    pub engine: Arc<Engine>,
    /// The configuration the server started with.
    pub config: ServerConfig,
    /// Request limits derived from the configuration.
    pub limits: FrameLimits,
    /// Server-level counters.
    pub stats: ServerStats,
    /// When the server started.
    pub started: Instant,
    /// Start time in seconds since the Unix epoch (LASTSAVE before any save).
    pub started_unix: u64,
    /// Notified by the SHUTDOWN command.
    pub shutdown_requested: Arc<tokio::sync::Notify>,
    /// Writes wait on the WAL writer (an fdatasync under `always`, a write under `interval`):
    /// run them off the async workers, so many are in flight and group commit batches them.
    pub offload_writes: bool,
    /// Commands run with the WAL wait deferred and awaited by the connection's task
    /// (`--write-offload async`, the default, with a WAL that waits).
    pub defer_durability: bool,
    /// A BGSAVE is running.
    pub bgsave_in_progress: Arc<AtomicBool>,
    /// The last BGSAVE failed.
    pub bgsave_failed: Arc<AtomicBool>,
    /// MULTI/EXEC's gate and the WATCHed keys.
    pub tx: Transactions,
    /// The open connections (CLIENT LIST / KILL).
    pub clients: Arc<Clients>,
    /// Client-side caching: the tracking table (CLIENT TRACKING).
    pub tracking: Arc<Tracking>,
    /// Publish/subscribe channels.
    pub pubsub: PubSub,
    /// Cluster mode: this node's id and the configuration in force.
    pub cluster: ClusterState,
    /// Redis 8's `vset-force-single-threaded-execution` (CONFIG GET/SET; default `no`).
    /// Kept and reported only: every command runs on the server's workers here, so there
    /// is no background VSIM/VADD CAS thread for it to turn off.
    pub vset_force_single_threaded: AtomicBool,
    /// Per-command calls, times and latency histograms (INFO commandstats/latencystats).
    pub cmdstats: CommandStats,
    /// SLOWLOG.
    pub slowlog: SlowLog,
    /// The server's settings CONFIG SET changes (the engine keeps its own).
    pub live: LiveSettings,
    /// Replication: this node's role, its replicas or its master (`server::replication`).
    pub repl: Arc<super::replication::Replication>,
    /// ACL users (the `default` one's password is `--requirepass`) and ACL LOG.
    pub acl: super::acl::Acl,
}

/// Server settings changeable while serving (CONFIG SET); they start as configured.
pub struct LiveSettings {
    /// Most simultaneous clients.
    pub maxclients: AtomicUsize,
    /// `maxmemory` was changed by CONFIG SET (INFO's `maxmemory_source:config`).
    pub maxmemory_set: AtomicBool,
    /// The log filter in force (EnvFilter syntax) and, when set by `loglevel`, its Redis name.
    pub log: parking_lot::Mutex<(String, Option<&'static str>)>,
    /// Seconds a client may stay idle before it is closed (`timeout`; 0: never).
    pub timeout_seconds: AtomicU64,
    /// The `--config` file keys of the settings CONFIG SET changed (CONFIG REWRITE writes them).
    pub changed: parking_lot::Mutex<std::collections::BTreeSet<&'static str>>,
}

impl LiveSettings {
    /// How long a client may stay idle, if it is limited.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        match self
            .timeout_seconds
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => None,
            // Redis's largest `timeout` (INT_MAX seconds) keeps a deadline representable.
            s => Some(std::time::Duration::from_secs(s.min(i32::MAX as u64))),
        }
    }

    /// CONFIG SET timeout (the caller wakes the connections, which take the new value when
    /// they wait again: [`super::clients::Clients::wake_all`]).
    pub fn set_idle_timeout(&self, seconds: u64) {
        self.timeout_seconds
            .store(seconds, std::sync::atomic::Ordering::Relaxed);
    }
}

impl ServerStats {
    /// Counts `n` error replies of text `msg` (no leading `-`): INFO's `total_error_replies`
    /// and its errorstats section.
    pub fn error_reply(&self, msg: &str, n: u64) {
        self.error_replies
            .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        self.errors.record(msg, n);
    }

    /// CONFIG RESETSTAT: zeroes the counters of events (not the connected-clients gauge nor
    /// the client-id sequence).
    pub fn reset(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        for c in [
            &self.total_connections,
            &self.rejected_connections,
            &self.total_commands,
            &self.error_replies,
            &self.protocol_errors,
            &self.output_buffer_limit_disconnections,
            &self.query_buffer_limit_disconnections,
            &self.http_requests,
            &self.net_input_bytes,
            &self.net_output_bytes,
        ] {
            c.store(0, Relaxed);
        }
        self.errors.reset();
    }
}

impl Shared {
    /// Builds the shared state.
    pub fn new(engine: Arc<Engine>, config: ServerConfig) -> Self {
        let limits = config.frame_limits();
        let offload_writes = config.write_offload != WriteOffload::Inline
            && matches!(
                engine.wal_mode(),
                Some((_, SyncPolicy::Always | SyncPolicy::Interval(_)))
            );
        let clients: Arc<Clients> = Arc::default();
        let defer_durability = offload_writes && config.write_offload == WriteOffload::Async;
        Self {
            offload_writes,
            defer_durability,
            bgsave_in_progress: Arc::new(AtomicBool::new(false)),
            bgsave_failed: Arc::new(AtomicBool::new(false)),
            tx: Transactions::default(),
            tracking: Tracking::new(&engine, clients.clone(), config.tracking_table_max_keys),
            pubsub: PubSub::default(),
            cluster: ClusterState::off(),
            vset_force_single_threaded: AtomicBool::new(false),
            cmdstats: CommandStats::configured(
                config.latency_tracking,
                super::cmdstats::parse_percentiles(&config.latency_tracking_info_percentiles)
                    .unwrap_or_else(|_| super::cmdstats::DEFAULT_PERCENTILES.to_vec()),
            ),
            repl: Arc::new(super::replication::Replication::new(&config, &engine)),
            slowlog: SlowLog::configured(config.slowlog_log_slower_than, config.slowlog_max_len),
            live: LiveSettings {
                maxclients: AtomicUsize::new(config.maxclients),
                maxmemory_set: AtomicBool::new(false),
                log: parking_lot::Mutex::new((config.log_filter.clone(), None)),
                timeout_seconds: AtomicU64::new(config.idle_timeout_seconds),
                changed: Default::default(),
            },
            acl: super::acl::Acl::new(config.password()),
            clients,
            engine,
            config,
            limits,
            stats: ServerStats::default(),
            started: Instant::now(),
            started_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            shutdown_requested: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The same with the cluster state `config` asks for ([`ClusterState::open`]).
    pub fn with_cluster(mut self, cluster: ClusterState) -> Self {
        self.cluster = cluster;
        self
    }

    /// Milliseconds since start (the clock of CLIENT LIST's age and idle).
    pub fn since_start_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// Seconds since start.
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Counters of the server itself (the engine counts hits and misses).
#[derive(Default)]
pub struct ServerStats {
    /// Plain-port clients are served over io_uring (`--io-uring-sockets`).
    pub io_uring_sockets: std::sync::atomic::AtomicBool,
    /// Clients connected now.
    pub connected_clients: AtomicUsize,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
    /// Connections refused at the client limit.
    pub rejected_connections: AtomicU64,
    /// Commands executed.
    pub total_commands: AtomicU64,
    /// Commands answered with an error (count them with [`ServerStats::error_reply`]).
    pub error_replies: AtomicU64,
    /// The same error replies by prefix (INFO errorstats).
    pub errors: super::errorstats::ErrorStats,
    /// Connections closed for a protocol error or a buffer limit.
    pub protocol_errors: AtomicU64,
    /// Of those, closed because their queued replies passed `client-output-buffer-limit`.
    pub output_buffer_limit_disconnections: AtomicU64,
    /// Of those, closed because their unparsed input passed `client-query-buffer-limit`.
    pub query_buffer_limit_disconnections: AtomicU64,
    /// HTTP requests served.
    pub http_requests: AtomicU64,
    /// Bytes read from clients.
    pub net_input_bytes: AtomicU64,
    /// Bytes written to clients.
    pub net_output_bytes: AtomicU64,
    /// Source of client ids.
    pub next_client_id: AtomicU64,
}
