//! `sutra-cache serve` configuration: flags, each with an environment fallback (the
//! seed's variable names where the seed had one); a flag wins over its variable.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, CommandFactory, Parser};

pub use super::config_values::*;
use super::frame::FrameLimits;
use crate::{
    EngineConfig, EvictionPolicy, IoChoice, SnapshotRecovery, StorageMode, SyncPolicy, WalRecovery,
};

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

    /// Address to bind. With no password, protected mode (on by default) serves only
    /// loopback clients whatever the address.
    #[arg(long, env = "SUTRA_BIND", default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Redis's protected mode: when on (`yes`, the default) and no password is set, a client
    /// connecting from anything but loopback gets Redis's `-DENIED ...` explanation and is
    /// closed. `no` serves every client (the container image sets it: the port is reachable
    /// only on its Docker network unless published; a published port needs a password).
    #[arg(long, env = "SUTRA_PROTECTED_MODE", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "yes")]
    pub protected_mode: bool,

    /// The dimension of every vector (the seed's): when set, a VADD/VADDM whose vector has
    /// another dimension, creating a set or writing into one, fails naming both.
    #[arg(long, env = "VECTOR_DIMENSION", value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub vector_dimension: Option<u64>,

    /// Role of this process in a deployment (the seed's: `storage`, `cache_shard`, …).
    /// Reported in INFO and /health; `cache_shard` implies CACHE_MODE=true.
    #[arg(long, env = "SUTRA_ROLE", default_value = "storage")]
    pub role: String,

    /// The seed's CACHE_MODE: `true` selects the cache role's defaults (DEFAULT_TTL_SECONDS
    /// 86400 unless given; LRU eviction and exact storage are the defaults anyway). The
    /// storage mode of new vector sets is VECTOR_STORAGE.
    #[arg(long, env = "CACHE_MODE", default_value = "false", value_parser = parse_cache_mode, action = ArgAction::Set)]
    pub cache_mode: bool,

    /// Storage mode of vector sets created by a VADD without a quantization flag:
    /// `exact` (f32 kept, exact bytes back), `q8` (int8 only), `noquant` (f32 only) or `bin`
    /// (one sign bit per dimension, Redis's BIN).
    #[arg(long, env = "VECTOR_STORAGE", default_value = "exact", value_parser = parse_storage_mode)]
    pub vector_storage: StorageMode,

    /// Cap on entries (blob keys plus vector-set elements); 0 = none. The seed's MAX_CONCEPTS.
    #[arg(long, env = "MAX_CONCEPTS", default_value_t = 0)]
    pub max_concepts: u64,

    /// Cap on accounted bytes (e.g. `512mb`, `2gb`; Redis's maxmemory); 0 = none. When not
    /// given and the process runs under a cgroup memory limit (a container's), the cap is
    /// 30% of that limit (the process's memory measured up to 2.7 times its accounted
    /// bytes under eviction churn), so the server evicts instead of being OOM-killed.
    #[arg(long, env = "SUTRA_MAXMEMORY", value_parser = parse_bytes)]
    pub maxmemory: Option<u64>,

    /// Where the cgroup filesystem is mounted (read for the memory limit at start).
    #[arg(
        long,
        env = "SUTRA_CGROUP_ROOT",
        default_value = "/sys/fs/cgroup",
        hide = true
    )]
    pub cgroup_root: PathBuf,

    /// The cgroup memory limit found at start ([`ServerConfig::detect_memory_limit`]).
    #[arg(skip)]
    pub cgroup_memory_limit: Option<u64>,

    /// What happens at a cap: `lru`, `lfu` or `noeviction` (writes then fail with OOM).
    #[arg(long, env = "EVICTION_POLICY", default_value = "lru")]
    pub eviction_policy: EvictionPolicy,

    /// TTL given to writes that name none, in seconds; 0 = none. Default: 86400 in the
    /// cache role (CACHE_MODE=true or SUTRA_ROLE=cache_shard), 0 otherwise.
    #[arg(long, env = "DEFAULT_TTL_SECONDS")]
    pub default_ttl_seconds: Option<u64>,

    /// The seed's flag. `true` (the default) is how the server works: snapshots are
    /// memory-mapped at recovery. `false` is refused at start (there is no other path).
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

    /// What start-up does with WAL damage that is not a torn tail (valid records after a bad
    /// one, damage in a segment later ones follow): `refuse` (start fails naming the file,
    /// the offset and the choices; nothing is changed) or `truncate-at-damage` (start from
    /// what precedes the damage; the records after it are dropped for good). A torn tail is
    /// always cut, and damage in records the snapshot covers always skipped.
    #[arg(long, env = "SUTRA_WAL_RECOVERY", default_value = "refuse", value_parser = parse_wal_recovery)]
    pub wal_recovery: WalRecovery,

    /// What start-up does when the newest snapshot does not validate: `refuse` (start fails
    /// naming the file, the offset and the choices) or `use-older` (load the newest snapshot
    /// that validates and replay the log from it: nothing is lost when the log covers the
    /// gap, which `sutra-cache check` tells).
    #[arg(long, env = "SUTRA_SNAPSHOT_RECOVERY", default_value = "refuse", value_parser = parse_snapshot_recovery)]
    pub snapshot_recovery: SnapshotRecovery,

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

    /// Size of a WAL segment file (e.g. `64mb`, pre-allocated): the log rolls over to a new
    /// segment when one is full.
    #[arg(long, env = "SUTRA_WAL_SEGMENT_SIZE", default_value = "64mb", value_parser = parse_bytes)]
    pub wal_segment_size: u64,

    /// A vector set gets its HNSW index once it holds this many elements (smaller sets are
    /// searched by an exact scan).
    #[arg(long, env = "SUTRA_INDEX_MIN_ELEMENTS", default_value_t = 1000)]
    pub index_min_elements: usize,

    /// Cache analytics kept in the shard (series, topics, hot concepts, prefetch hints;
    /// CACHE.ANALYTICS, /analytics, /dashboard). `no` turns them off: no series files, no
    /// lookup log, no latency sampling on the lookup path.
    #[arg(long, env = "SUTRA_ANALYTICS", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "yes")]
    pub analytics: bool,

    /// Entries of the analytics lookup log (16 bytes each, rounded up to a power of two;
    /// 0 = no log, so no topic hit rates, hot concepts or co-access): the last N lookups
    /// and writes of vector-set elements. Its pages are committed as it fills, up to 16 × N
    /// bytes (64 MiB at the default 4194304), which INFO memory reports as
    /// `analytics_lookup_log_bytes`; it is not counted in `used_memory` (the cap), like
    /// client buffers.
    #[arg(long, env = "SUTRA_ANALYTICS_LOOKUP_LOG", default_value_t = 1 << 22)]
    pub analytics_lookup_log: usize,

    /// Log filter (tracing-subscriber EnvFilter syntax, e.g. `info`, `sutra_cache=debug`).
    /// CONFIG SET `log` (the same syntax) or `loglevel` (Redis's names) changes it live.
    #[arg(long = "log", env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,

    /// Log lines as `text` or `json` (one JSON object per line: timestamp, level, fields,
    /// target).
    #[arg(
        long,
        env = "SUTRA_LOG_FORMAT",
        default_value = "text",
        value_enum,
        ignore_case = true
    )]
    pub log_format: super::logging::LogFormat,

    /// A TOML file of settings whose keys are these flags' names (`maxmemory = "2gb"`,
    /// `port = 6380`, `in-memory = true`). A flag or environment variable given as well wins
    /// over the file; an unknown key is an error naming it.
    #[arg(long, env = "SUTRA_CONFIG")]
    pub config: Option<PathBuf>,

    /// Password for AUTH (and Bearer token for /stats and /metrics); empty = none.
    /// It is the `default` user's password (see ACL SETUSER for other users).
    #[arg(long, env = "SUTRA_PASSWORD", hide_env_values = true)]
    pub requirepass: Option<String>,

    /// Redis's `aclfile`: the ACL users, one `user <name> <rules...>` line each, loaded at
    /// start and by ACL LOAD, written by ACL SAVE. Without it, users made with ACL SETUSER
    /// live until the server stops.
    #[arg(long, env = "SUTRA_ACLFILE")]
    pub aclfile: Option<PathBuf>,

    /// TCP port for RESP and HTTP over TLS (Redis's `tls-port`); 0 (the default) = none.
    /// With a TLS port, `--port 0` serves no plain port (as Redis); without one, `--port 0`
    /// picks a free port.
    #[arg(long, env = "SUTRA_TLS_PORT", default_value_t = 0)]
    pub tls_port: u16,

    /// The server's certificate chain (PEM), leaf first (Redis's `tls-cert-file`).
    #[arg(long, env = "SUTRA_TLS_CERT_FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The private key of `--tls-cert-file` (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "SUTRA_TLS_KEY_FILE", hide_env_values = true)]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates (PEM) that client certificates must chain to (Redis's
    /// `tls-ca-cert-file`); needed unless `--tls-auth-clients no`.
    #[arg(long, env = "SUTRA_TLS_CA_CERT_FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// Client certificates on the TLS port (Redis's `tls-auth-clients`): `yes` (the
    /// default, as Redis) requires one signed by `--tls-ca-cert-file`; `optional` checks one
    /// when given; `no` asks for none.
    #[arg(long, env = "SUTRA_TLS_AUTH_CLIENTS", default_value = "yes", value_parser = ["yes", "no", "optional"], ignore_case = true)]
    pub tls_auth_clients: String,

    /// Number of databases (Redis's `databases`): SELECT takes 0 to N-1; cluster mode serves
    /// only database 0, as Redis Cluster does.
    #[arg(long, env = "SUTRA_DATABASES", default_value_t = crate::engine::DEFAULT_DATABASES)]
    pub databases: u32,

    /// Most simultaneous clients; one more gets "-ERR max number of clients reached".
    #[arg(long, env = "SUTRA_MAXCLIENTS", default_value_t = 10_000)]
    pub maxclients: usize,

    /// Most names (keys and vector-set elements) the client-side-caching table tracks for
    /// default-mode CLIENT TRACKING clients; past it, names are dropped by invalidating them
    /// (Redis's `tracking-table-max-keys`); 0 = no limit.
    #[arg(
        long,
        env = "SUTRA_TRACKING_TABLE_MAX_KEYS",
        default_value_t = 1_000_000
    )]
    pub tracking_table_max_keys: usize,

    /// Who may run DEBUG (Redis 7's `enable-debug-command`): `no` (default), `yes`, or
    /// `local` (clients on a loopback address).
    #[arg(
        long,
        env = "SUTRA_ENABLE_DEBUG_COMMAND",
        default_value = "no",
        value_parser = ["no", "yes", "local"],
        ignore_case = true
    )]
    pub enable_debug_command: String,

    /// Log commands that ran at least this many µs in the SLOWLOG; 0 = every command, -1 =
    /// none (Redis's `slowlog-log-slower-than`).
    #[arg(long, env = "SUTRA_SLOWLOG_LOG_SLOWER_THAN", default_value_t = crate::server::slowlog::DEFAULT_SLOWER_THAN_US, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..))]
    pub slowlog_log_slower_than: i64,

    /// Entries the SLOWLOG keeps (Redis's `slowlog-max-len`).
    #[arg(long, env = "SUTRA_SLOWLOG_MAX_LEN", default_value_t = crate::server::slowlog::DEFAULT_MAX_LEN)]
    pub slowlog_max_len: usize,

    /// Per-command latency histograms for INFO latencystats (Redis's `latency-tracking`).
    #[arg(long, env = "SUTRA_LATENCY_TRACKING", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "yes")]
    pub latency_tracking: bool,

    /// The percentiles INFO latencystats prints, separated by spaces (Redis's
    /// `latency-tracking-info-percentiles`).
    #[arg(long, env = "SUTRA_LATENCY_TRACKING_INFO_PERCENTILES", default_value = "50 99 99.9", value_parser = |s: &str| crate::server::cmdstats::parse_percentiles(s).map(|_| s.to_string()))]
    pub latency_tracking_info_percentiles: String,

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

    /// Cluster mode: `off` (the default), `emulated` (this node owns every hash slot, so
    /// Redis Cluster clients work against it alone) or `yes` (it serves the slots of the
    /// configuration a manager pushes, `sutra-cache cluster create`; kept in the data
    /// directory across restarts).
    #[arg(
        long,
        env = "SUTRA_CLUSTER_MODE",
        default_value = "off",
        value_enum,
        ignore_case = true
    )]
    pub cluster_mode: crate::cluster::ClusterMode,

    /// This node's cluster id (CLUSTER MYID). Default: a random 40-hex-digit id made once
    /// and kept in the data directory (`cluster-node-id`; a new one per start in memory).
    #[arg(long, env = "SUTRA_CLUSTER_NODE_ID")]
    pub cluster_node_id: Option<String>,

    /// Follow this master from the start (`host:port`, Redis's `replicaof`): a replica
    /// copies the master, then streams its log; REPLICAOF changes it while serving.
    #[arg(long, env = "SUTRA_REPLICAOF")]
    pub replicaof: Option<String>,

    /// Password a replica sends its master (Redis's `masterauth`); empty = none.
    #[arg(long, env = "SUTRA_MASTERAUTH", hide_env_values = true)]
    pub masterauth: Option<String>,

    /// A replica refuses clients' writes (Redis's `replica-read-only`, default yes).
    #[arg(long, env = "SUTRA_REPLICA_READ_ONLY", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "yes")]
    pub replica_read_only: bool,

    /// A replica makes no evictions of its own at --maxmemory / --max-concepts (Redis's
    /// `replica-ignore-maxmemory`, default yes): it applies its master's, which arrive as
    /// deletions in the log. CONFIG SET changes it.
    #[arg(long, env = "SUTRA_REPLICA_IGNORE_MAXMEMORY", value_parser = BoolishValueParser::new(), action = ArgAction::Set, default_value = "yes")]
    pub replica_ignore_maxmemory: bool,

    /// Bytes of log records a master keeps in memory for replicas that reconnect (Redis's
    /// `repl-backlog-size`); a replica further behind copies everything again.
    #[arg(long, env = "SUTRA_REPL_BACKLOG_SIZE", default_value = "64mb", value_parser = parse_bytes)]
    pub repl_backlog_size: u64,

    /// Threads serving clients; 0 = one per CPU core.
    #[arg(long, env = "SUTRA_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// Plain-port client sockets over io_uring (Linux): `no` (the default) keeps tokio's
    /// epoll streams; `auto` uses io_uring when a ring with the needed operations can be set
    /// up at start, else epoll with a log line; `yes` requires it (the start fails without
    /// it). TLS clients are always on epoll.
    #[arg(long, env = "SUTRA_IO_URING_SOCKETS", default_value = "no", value_parser = ["auto", "yes", "no"], ignore_case = true)]
    pub io_uring_sockets: String,

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
pub(super) struct Standalone {
    #[command(flatten)]
    pub(super) config: ServerConfig,
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

    /// Whether this process has the cache role: CACHE_MODE=true or SUTRA_ROLE=cache_shard.
    pub fn cache_role(&self) -> bool {
        self.cache_mode || self.role.eq_ignore_ascii_case("cache_shard")
    }

    /// TTL of writes that name none, in seconds: DEFAULT_TTL_SECONDS when given, else
    /// 86400 in the cache role and 0 (none) otherwise.
    pub fn default_ttl(&self) -> u64 {
        self.default_ttl_seconds.unwrap_or(if self.cache_role() {
            CACHE_ROLE_TTL_SECONDS
        } else {
            0
        })
    }

    /// Whether a client connecting from `peer` is refused by protected mode: protected mode
    /// on, no password, and `peer` not a loopback address (127.0.0.0/8, ::1, or either
    /// mapped into IPv6).
    pub fn protected_refuses(&self, peer: IpAddr) -> bool {
        self.protected_mode && self.password().is_none() && !peer.to_canonical().is_loopback()
    }

    /// Reads the cgroup memory limit under `--cgroup-root` into
    /// [`ServerConfig::cgroup_memory_limit`] (none outside a limited cgroup).
    pub fn detect_memory_limit(&mut self) {
        let self_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        self.cgroup_memory_limit = cgroup_memory_limit(&self.cgroup_root, &self_cgroup);
    }

    /// The byte cap the engine gets: `--maxmemory` when given (0 = none), else 30% of the
    /// cgroup memory limit when there is one, else none.
    pub fn effective_maxmemory(&self) -> u64 {
        match (self.maxmemory, self.cgroup_memory_limit) {
            (Some(bytes), _) => bytes,
            (None, Some(limit)) => memory_cap_for_limit(limit),
            (None, None) => 0,
        }
    }

    /// Where the byte cap comes from: `maxmemory`, `cgroup` or `none`.
    pub fn maxmemory_source(&self) -> &'static str {
        match (self.maxmemory, self.cgroup_memory_limit) {
            (Some(_), _) => "maxmemory",
            (None, Some(_)) => "cgroup",
            (None, None) => "none",
        }
    }

    /// Refuses settings the server must not start with, saying why.
    pub fn validate(&self) -> Result<(), String> {
        if !self.mmap_enabled {
            return Err(
                "MMAP_ENABLED=false is not supported: sutra-cache memory-maps its \
                 snapshots at recovery and has no other path. Remove the setting or set it \
                 to true (vectors are served from memory either way)"
                    .into(),
            );
        }
        if self.maxclients == 0 {
            return Err("--maxclients must be at least 1".into());
        }
        if self.databases == 0 {
            return Err("--databases must be at least 1".into());
        }
        if self.proto_max_bulk_len > self.client_query_buffer_limit {
            return Err(format!(
                "--proto-max-bulk-len ({}) is over --client-query-buffer-limit ({}): \
                 such a value could never be received",
                self.proto_max_bulk_len, self.client_query_buffer_limit
            ));
        }
        self.replica_of()?;
        if self.tls_port != 0 {
            if self.tls_cert_file.is_none() || self.tls_key_file.is_none() {
                return Err("--tls-port needs --tls-cert-file and --tls-key-file".into());
            }
            if self.tls_ca_cert_file.is_none() && !self.tls_auth_clients.eq_ignore_ascii_case("no")
            {
                return Err(
                    "--tls-auth-clients yes|optional (yes is the default) needs \
                            --tls-ca-cert-file, the CA that client certificates must chain \
                            to; or set --tls-auth-clients no"
                        .into(),
                );
            }
        }
        Ok(())
    }

    /// Whether a plain (non-TLS) port is served: always unless `--port 0` with a TLS port.
    pub fn serves_plain_port(&self) -> bool {
        self.port != 0 || self.tls_port == 0
    }

    /// `--replicaof host:port` parsed (`None` when not set or empty).
    pub fn replica_of(&self) -> Result<Option<(String, u16)>, String> {
        let Some(v) = self
            .replicaof
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
        else {
            return Ok(None);
        };
        let bad = || format!("--replicaof must be host:port (or \"host port\"), got {v:?}");
        let (host, port) = v
            .rsplit_once(':')
            .or_else(|| v.rsplit_once(' '))
            .ok_or_else(bad)?;
        let port: u16 = port.trim().parse().map_err(|_| bad())?;
        let host = host.trim().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || port == 0 {
            return Err(bad());
        }
        Ok(Some((host.to_string(), port)))
    }

    /// The engine's configuration.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            max_entries: self.max_concepts,
            databases: self.databases,
            max_bytes: self.effective_maxmemory(),
            eviction_policy: self.eviction_policy,
            default_ttl_ms: self.default_ttl().saturating_mul(1000),
            default_storage_mode: self.vector_storage,
            vector_dimension: self
                .vector_dimension
                .map(|d| usize::try_from(d).unwrap_or(usize::MAX)),
            data_dir: (!self.in_memory).then(|| self.storage_path.clone()),
            wal_sync: self.wal_sync_policy(),
            wal_io: self.wal_io,
            wal_recovery: self.wal_recovery,
            snapshot_recovery: self.snapshot_recovery,
            checkpoint_interval_ms: self.checkpoint_interval_seconds.saturating_mul(1000),
            checkpoint_wal_bytes: self.checkpoint_wal_bytes,
            checkpoint_on_close: true,
            wal_segment_bytes: self.wal_segment_size,
            index_min_elements: self.index_min_elements,
            analytics: crate::analytics::AnalyticsConfig {
                enabled: self.analytics,
                lookup_log_entries: self.analytics_lookup_log,
                ..Default::default()
            },
            // A master that served replicas before serves their partial resyncs from the
            // log's tail after a restart.
            replication_backlog_at_open: (!self.in_memory
                && self
                    .storage_path
                    .join(super::replication::MASTER_FILE)
                    .exists())
            .then(|| usize::try_from(self.repl_backlog_size).unwrap_or(usize::MAX)),
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

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
