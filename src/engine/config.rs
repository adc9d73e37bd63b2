//! Engine configuration and the injectable clock.

use std::path::PathBuf;
use std::sync::Arc;

pub use crate::vocab::{Clock, EvictionPolicy, ManualClock, SyncPolicy, SystemClock};
pub use crate::wal::{IoChoice, WalRecovery};

/// What opening a data directory does when the newest snapshot does not validate (a
/// snapshot is written to a temporary name, fsynced and renamed, so a bad one is damage,
/// never a crash artefact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SnapshotRecovery {
    /// Refuse to open, naming the file, the offset and the choices (the default).
    #[default]
    Refuse,
    /// Load the newest snapshot that validates (or none, when the log reaches back to its
    /// first record) and replay the log from its LSN: nothing is lost when the log covers
    /// the gap (the log is kept from the older snapshot's LSN for this); the open refuses
    /// when it does not.
    UseOlder,
}

impl std::str::FromStr for SnapshotRecovery {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" => Ok(Self::Refuse),
            "use-older" => Ok(Self::UseOlder),
            _ => Err(crate::Error::invalid(
                "snapshot-recovery",
                format!("one of refuse, use-older; got '{s}'"),
            )),
        }
    }
}

impl std::fmt::Display for SnapshotRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refuse => "refuse",
            Self::UseOlder => "use-older",
        })
    }
}

use crate::vocab::StorageMode;

/// Size limits on client input. Every limit is in bytes except `max_dim`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest key (default 64 KiB).
    pub max_key_bytes: usize,
    /// Longest blob value (default 512 MiB, Redis's proto-max-bulk-len).
    pub max_value_bytes: usize,
    /// Longest element name (default 64 KiB).
    pub max_element_bytes: usize,
    /// Longest attributes JSON (default 64 KiB).
    pub max_attributes_bytes: usize,
    /// Largest vector dimension (default 65,536).
    pub max_dim: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_key_bytes: 64 << 10,
            max_value_bytes: 512 << 20,
            max_element_bytes: 64 << 10,
            max_attributes_bytes: 64 << 10,
            max_dim: 65_536,
        }
    }
}

/// Redis's default number of databases.
pub const DEFAULT_DATABASES: u32 = 16;

/// Everything [`crate::Engine::open`] needs.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Cap on entries (blob keys plus vector-set elements); 0 = none. The seed's `MAX_CONCEPTS`.
    pub max_entries: u64,
    /// Cap on accounted bytes; 0 = none.
    pub max_bytes: u64,
    /// What to do at a cap.
    pub eviction_policy: EvictionPolicy,
    /// TTL applied when a write gives none, in ms; 0 = none. The seed's `DEFAULT_TTL_SECONDS` × 1000.
    pub default_ttl_ms: u64,
    /// Storage mode of a vector set created by an add that names none
    /// ([`crate::VectorSetOptions::storage`] `None`). Default [`StorageMode::Exact`]; the
    /// server's `VECTOR_STORAGE`.
    pub default_storage_mode: StorageMode,
    /// When set, every vector added (creating a set or writing into one) must have this
    /// dimension, or the add fails with [`crate::Error::ConfiguredDimension`] naming both.
    /// The seed's `VECTOR_DIMENSION`. Recovery replays what was logged regardless.
    pub vector_dimension: Option<usize>,
    /// Number of databases (Redis's `databases`, default 16): keys live in one of
    /// `0..databases` ([`crate::Engine::select`]); at least 1.
    pub databases: u32,
    /// Size limits on input.
    pub limits: Limits,
    /// The clock for TTLs.
    pub clock: Arc<dyn Clock>,
    /// Period of the background active-expire cycle in ms; 0 = no background thread
    /// (call [`crate::Engine::active_expire_cycle`] yourself).
    pub active_expire_interval_ms: u64,
    /// Most entries one active-expire cycle may examine (bounded work per tick).
    pub active_expire_budget: usize,
    /// Data directory; `None` keeps everything in memory only.
    pub data_dir: Option<PathBuf>,
    /// When writes are acknowledged (with a data directory). Default: [`SyncPolicy::default`]
    /// (every [`crate::DEFAULT_WAL_SYNC_INTERVAL_MS`], the seed's `WAL_SYNC_INTERVAL_MS`).
    pub wal_sync: SyncPolicy,
    /// The WAL's I/O path (io_uring when available by default).
    pub wal_io: IoChoice,
    /// Size of a WAL segment file.
    pub wal_segment_bytes: u64,
    /// What opening does with WAL damage that is not a torn tail (valid records after a bad
    /// one, damage in a segment later ones follow): refuse (default) or cut the log there.
    pub wal_recovery: WalRecovery,
    /// What opening does when the newest snapshot does not validate: refuse (default) or
    /// fall back to an older one and the log.
    pub snapshot_recovery: SnapshotRecovery,
    /// Take a snapshot after this many ms (0 = never by time).
    pub checkpoint_interval_ms: u64,
    /// Take a snapshot after this many bytes of WAL (0 = never by size).
    pub checkpoint_wal_bytes: u64,
    /// Take a snapshot when the engine is closed (graceful shutdown).
    pub checkpoint_on_close: bool,
    /// Bytes a snapshot copies per hold of a shard's read lock (default 4 MiB): a write waits
    /// at most for one such piece while a snapshot is taken, never for the whole shard.
    pub snapshot_piece_bytes: usize,
    /// A vector set gets an HNSW index once it holds this many elements (smaller sets are
    /// searched by an exact SIMD scan, which is faster there). `usize::MAX` = never.
    pub index_min_elements: usize,
    /// Cache analytics: time series per vector set and for the shard (on by default).
    pub analytics: crate::analytics::AnalyticsConfig,
    /// Make the replication backlog ([`crate::Engine::replication_backlog`]) at open, with
    /// room for this many bytes, holding the records the log still has after the last
    /// snapshot: a restarted master serves its replicas' partial resyncs from them. `None`
    /// (default): the backlog is made when a replica first asks, starting empty.
    pub replication_backlog_at_open: Option<usize>,
    /// Test hook: WAL I/O through a fault-injecting backend (see [`crate::wal::FaultPlan`]).
    #[doc(hidden)]
    pub wal_fault: Option<crate::wal::FaultPlan>,
    /// Fuzz hook (`crate::fuzzing`): no thread of the engine's own besides the WAL writer.
    /// The maintenance thread is not started (no analytics ticks, timed checkpoints, active
    /// expiry or cap enforcement by time: only what calls do), and no warm-up runs after a
    /// snapshot load (the engine reports itself warm; mapped arrays page in when read).
    /// Nothing then runs beside an input's calls but the WAL writer, nor after them.
    #[doc(hidden)]
    pub no_background_threads: bool,
    /// Fuzz hook: the store's key hashes (so which shard a key lands in and the order KEYS
    /// and SCAN walk) and its random picks (VRANDMEMBER, HRANDFIELD, RANDOMKEY) from fixed
    /// seeds instead of one per engine: the same calls on a fresh engine take the same
    /// paths. Never for a server (a fixed hash seed lets clients choose colliding keys).
    #[doc(hidden)]
    pub fixed_seeds: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_entries: 0,
            max_bytes: 0,
            eviction_policy: EvictionPolicy::Lru,
            default_ttl_ms: 0,
            default_storage_mode: StorageMode::Exact,
            vector_dimension: None,
            databases: DEFAULT_DATABASES,
            limits: Limits::default(),
            clock: Arc::new(SystemClock),
            active_expire_interval_ms: 100,
            active_expire_budget: 2_000,
            data_dir: None,
            wal_sync: SyncPolicy::default(),
            wal_io: IoChoice::Auto,
            wal_segment_bytes: 64 << 20,
            wal_recovery: WalRecovery::Refuse,
            snapshot_recovery: SnapshotRecovery::Refuse,
            checkpoint_interval_ms: 3_600_000,
            checkpoint_wal_bytes: 512 << 20,
            checkpoint_on_close: true,
            snapshot_piece_bytes: 4 << 20,
            index_min_elements: 1_000,
            analytics: crate::analytics::AnalyticsConfig::default(),
            replication_backlog_at_open: None,
            wal_fault: None,
            no_background_threads: false,
            fixed_seeds: false,
        }
    }
}

impl EngineConfig {
    /// What the store needs of it: its caps, eviction policy, clock and work sizes.
    pub(crate) fn store_config(&self) -> crate::store::StoreConfig {
        crate::store::StoreConfig {
            live: crate::store::Live::new(
                self.max_entries,
                self.max_bytes,
                self.eviction_policy,
                self.default_ttl_ms,
            ),
            databases: self.databases,
            clock: self.clock.clone(),
            snapshot_piece_bytes: self.snapshot_piece_bytes,
            index_min_elements: self.index_min_elements,
            fixed_seeds: self.fixed_seeds,
        }
    }
}
