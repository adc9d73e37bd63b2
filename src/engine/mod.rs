//! The engine: the one public API. Orders durability; everything else sits below it.

mod analytics;
mod analytics_query;
mod api;
mod blob;
mod check;
mod config;
mod dump;
mod durable;
mod filter;
mod hash;
mod keyspace;
mod replay;
mod replication;
mod types;
mod vector;
mod warm;
mod writer;

pub use analytics::{HotConcept, HotConcepts, OpDurations, Topic, TopicHitRate};
pub use analytics_query::{AnalyticsAnswer, QueryRefusal};
pub use api::Engine;
pub(crate) use blob::parse_redis_int;
pub use check::{check_data_dir, DataDirCheck, SnapshotCheck};
pub use config::{
    Clock, EngineConfig, EvictionPolicy, IoChoice, Limits, ManualClock, SnapshotRecovery,
    SyncPolicy, SystemClock, WalRecovery, DEFAULT_DATABASES,
};
pub use dump::{PayloadRefusal, Renamed, RestoreOptions, Restored};
pub use durable::{Durability, RecoveryReport};
pub use filter::{Filter, FilterError, FilterSyntax};
pub use hash::{FieldValue, HashScanPage};
pub use replication::{ImageCursor, ReplicatedBatch};
pub use types::*;
pub use vector::{ElementLinks, MAX_SEARCH_THREADS};
pub use warm::WarmStatus;
pub use writer::Writer;

pub use crate::store::feed::{Change, ChangeCause, ChangeSink};
