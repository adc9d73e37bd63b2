//! The shared vocabulary: the policies and enumerations every layer and front end names.
//!
//! Each is defined here once, at the bottom of the crate (it imports nothing from it but
//! [`crate::Error`]), with one parser ([`std::str::FromStr`], case-insensitive) and one
//! [`std::fmt::Display`], and its default written once. The store, the index, the WAL and the
//! engine use these types; the server's configuration and commands parse and print them
//! through these impls; the C ABI maps its integer codes to them (`src/ffi`), and the Go and
//! Python bindings use the C ABI's constants, never their own numbers.
//!
//! The clock ([`Clock`]) and the event figures ([`Counters`]) sit here too: every layer reads
//! them, none owns them.
//!
//! Two vocabularies exist for storage modes on purpose: ours (`exact`, `q8`, `noquant`,
//! [`StorageMode::name`]) and Redis's VINFO/OBJECT ENCODING names (`exact`, `int8`, `f32`,
//! [`StorageMode::redis_name`]); the parser accepts both.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// The seed's `WAL_SYNC_INTERVAL_MS` default: fdatasync every 5000 ms.
pub const DEFAULT_WAL_SYNC_INTERVAL_MS: u64 = 5_000;

/// The interval an explicit `interval` policy uses when the configured interval is 0 (which
/// alone would mean `always`).
pub const FALLBACK_WAL_SYNC_INTERVAL_MS: u64 = 1_000;

/// Redis's TTL/PTTL answer for a key or element that does not exist.
pub const TTL_MISSING: i64 = -2;

/// Redis's TTL/PTTL answer for one that exists without expiry.
pub const TTL_NO_EXPIRY: i64 = -1;

fn invalid(what: &'static str, expected: &str, got: &str) -> Error {
    Error::invalid(what, format!("one of {expected}; got '{got}'"))
}

/// Similarity measure of a vector set, fixed at creation. Scores are similarities: higher is
/// nearer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Metric {
    /// Cosine similarity (vectors are normalised at insert; search is a dot product).
    #[default]
    Cosine,
    /// Inner product.
    Dot,
    /// Euclidean distance (scores are negative squared distances: higher is nearer).
    L2,
}

impl Metric {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Cosine => "cosine",
            Metric::Dot => "dot",
            Metric::L2 => "l2",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Metric {
    type Err = Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "cosine" => Ok(Self::Cosine),
            "dot" => Ok(Self::Dot),
            "l2" => Ok(Self::L2),
            _ => Err(invalid("metric", "cosine, dot, l2", s)),
        }
    }
}

/// How a vector set stores its vectors, fixed at creation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum StorageMode {
    /// Original f32 kept (gets return the exact bytes stored); the graph traverses INT8 codes
    /// and searches rerank with the f32.
    #[default]
    Exact,
    /// INT8 codes only (4× less memory); gets return dequantized vectors.
    Q8,
    /// f32 only; the index traverses f32.
    NoQuant,
    /// One bit per dimension (the sign of each component), Redis's `BIN`: scores are
    /// `1 − 2·hamming/dim` (cosine of the ±1 vectors; Redis's score `1 − hamming/dim`); gets
    /// return ±1 per component. Cosine sets only.
    Bin,
}

impl StorageMode {
    /// Our name: `exact`, `q8`, `noquant`.
    pub fn name(self) -> &'static str {
        match self {
            StorageMode::Exact => "exact",
            StorageMode::Q8 => "q8",
            StorageMode::NoQuant => "noquant",
            StorageMode::Bin => "bin",
        }
    }

    /// Redis's name (VINFO `quant-type`, OBJECT ENCODING): `exact` (ours), `int8`, `f32`,
    /// `bin`.
    pub fn redis_name(self) -> &'static str {
        match self {
            StorageMode::Exact => "exact",
            StorageMode::Q8 => "int8",
            StorageMode::NoQuant => "f32",
            StorageMode::Bin => "bin",
        }
    }
}

impl fmt::Display for StorageMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for StorageMode {
    type Err = Error;
    /// Either vocabulary: `exact`; `q8` or `int8`; `noquant` or `f32`; `bin`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "exact" => Ok(Self::Exact),
            "q8" | "int8" => Ok(Self::Q8),
            "noquant" | "f32" => Ok(Self::NoQuant),
            "bin" => Ok(Self::Bin),
            _ => Err(invalid("storage_mode", "exact, q8, noquant, bin", s)),
        }
    }
}

/// When WAL records are acknowledged and how often the log is fdatasynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Acknowledge only after an fdatasync covering the record (survives power loss).
    Always,
    /// fdatasync every this many milliseconds (and after 8 MiB written); acknowledge once
    /// the write completed (the record is in the page cache: survives `kill -9`, not power
    /// loss).
    Interval(u64),
    /// Never fdatasync (except on `flush` and `close`); acknowledge once written.
    Never,
}

impl Default for SyncPolicy {
    /// `Interval(5000)`, the seed's default.
    fn default() -> Self {
        Self::Interval(DEFAULT_WAL_SYNC_INTERVAL_MS)
    }
}

impl SyncPolicy {
    /// The seed's `WAL_SYNC_INTERVAL_MS`: 0 means [`SyncPolicy::Always`].
    pub fn from_interval_ms(ms: u64) -> Self {
        if ms == 0 {
            Self::Always
        } else {
            Self::Interval(ms)
        }
    }

    /// A policy named explicitly (`always`, `interval`, `never`, as [`FromStr`] parses it)
    /// over the one `WAL_SYNC_INTERVAL_MS` selects: a named `interval` takes its period from
    /// `interval_ms`, or [`FALLBACK_WAL_SYNC_INTERVAL_MS`] when that is 0; no name is
    /// [`SyncPolicy::from_interval_ms`].
    pub fn named_over_interval(named: Option<SyncPolicy>, interval_ms: u64) -> Self {
        match named {
            Some(Self::Interval(_)) if interval_ms == 0 => {
                Self::Interval(FALLBACK_WAL_SYNC_INTERVAL_MS)
            }
            Some(Self::Interval(_)) => Self::Interval(interval_ms),
            Some(p) => p,
            None => Self::from_interval_ms(interval_ms),
        }
    }

    /// `always`, `interval` or `never`.
    pub fn name(self) -> &'static str {
        match self {
            SyncPolicy::Always => "always",
            SyncPolicy::Interval(_) => "interval",
            SyncPolicy::Never => "never",
        }
    }
}

impl fmt::Display for SyncPolicy {
    /// `always`, `never`, or `interval:<ms>` (INFO's `wal_sync`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncPolicy::Interval(ms) => write!(f, "interval:{ms}"),
            other => f.write_str(other.name()),
        }
    }
}

impl FromStr for SyncPolicy {
    type Err = Error;
    /// `always`, `never`, `interval` (the default period) or `interval:<ms>` with ms > 0:
    /// exactly what [`Display`](fmt::Display) writes, plus the bare name.
    fn from_str(s: &str) -> crate::Result<Self> {
        let expected = "always, never, interval, interval:<ms > 0>";
        match s.to_ascii_lowercase().as_str() {
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            "interval" => Ok(Self::default()),
            other => match other.strip_prefix("interval:").map(str::parse::<u64>) {
                Some(Ok(ms)) if ms > 0 => Ok(Self::Interval(ms)),
                _ => Err(invalid("wal_sync", expected, s)),
            },
        }
    }
}

/// What happens when a write would pass a cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EvictionPolicy {
    /// Evict the least recently used entries (blobs and single elements alike).
    #[default]
    Lru,
    /// Evict the least frequently used entries (Redis's logarithmic counter with decay).
    Lfu,
    /// Refuse the write with [`crate::Error::OutOfMemory`].
    NoEviction,
}

impl EvictionPolicy {
    /// `lru`, `lfu` or `noeviction`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Lru => "lru",
            Self::Lfu => "lfu",
            Self::NoEviction => "noeviction",
        }
    }
}

impl FromStr for EvictionPolicy {
    type Err = Error;
    /// `lru`, `lfu`, `noeviction`, and Redis's `allkeys-lru`, `allkeys-lfu`, `none`.
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "lru" | "allkeys-lru" => Ok(Self::Lru),
            "lfu" | "allkeys-lfu" => Ok(Self::Lfu),
            "noeviction" | "none" => Ok(Self::NoEviction),
            _ => Err(invalid("eviction_policy", "lru, lfu, noeviction", s)),
        }
    }
}

impl fmt::Display for EvictionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Remaining time to live of a key or element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlState {
    /// No such key or element (Redis's -2).
    Missing,
    /// Exists without expiry (Redis's -1).
    NoExpiry,
    /// Expires in this many ms.
    ExpiresInMs(u64),
}

impl TtlState {
    /// Redis's PTTL answer: [`TTL_MISSING`], [`TTL_NO_EXPIRY`] or the ms left.
    pub fn as_ms(self) -> i64 {
        match self {
            TtlState::Missing => TTL_MISSING,
            TtlState::NoExpiry => TTL_NO_EXPIRY,
            TtlState::ExpiresInMs(ms) => i64::try_from(ms).unwrap_or(i64::MAX),
        }
    }

    /// Redis's TTL answer: the sentinels, or the seconds left (rounded to nearest).
    pub fn as_secs(self) -> i64 {
        match self {
            TtlState::ExpiresInMs(ms) => {
                i64::try_from(ms.saturating_add(500) / 1000).unwrap_or(i64::MAX)
            }
            other => other.as_ms(),
        }
    }
}

/// Milliseconds since the Unix epoch. Injectable so tests never sleep.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in ms since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock reading `start_ms`.
    pub fn new(start_ms: u64) -> Arc<Self> {
        Arc::new(Self(AtomicU64::new(start_ms)))
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock to `ms`.
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Counters of a vector set or of the whole engine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Successful writes.
    pub sets: u64,
    /// Entries evicted at a cap.
    pub evictions: u64,
    /// Entries reclaimed because their TTL passed.
    pub expirations: u64,
    /// Live entries (blob keys plus elements).
    pub entries: u64,
    /// Accounted bytes.
    pub bytes: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_value() {
        for m in [Metric::Cosine, Metric::Dot, Metric::L2] {
            assert_eq!(m.to_string().parse::<Metric>().unwrap(), m);
        }
        for s in [StorageMode::Exact, StorageMode::Q8, StorageMode::NoQuant] {
            assert_eq!(s.to_string().parse::<StorageMode>().unwrap(), s);
            assert_eq!(s.redis_name().parse::<StorageMode>().unwrap(), s);
        }
        for p in [
            SyncPolicy::Always,
            SyncPolicy::Never,
            SyncPolicy::Interval(250),
        ] {
            assert_eq!(p.to_string().parse::<SyncPolicy>().unwrap(), p);
        }
        for e in [
            EvictionPolicy::Lru,
            EvictionPolicy::Lfu,
            EvictionPolicy::NoEviction,
        ] {
            assert_eq!(e.to_string().parse::<EvictionPolicy>().unwrap(), e);
        }
    }

    #[test]
    fn a_bad_name_is_refused_with_what_was_expected() {
        let e = "fast".parse::<SyncPolicy>().unwrap_err().to_string();
        assert!(
            e.contains("wal_sync") && e.contains("always") && e.contains("fast"),
            "{e}"
        );
        assert!("interval:0".parse::<SyncPolicy>().is_err());
        assert!("cos".parse::<Metric>().is_err());
        assert!("binary".parse::<StorageMode>().is_err());
        assert!("random".parse::<EvictionPolicy>().is_err());
    }

    #[test]
    fn sync_policies_parse_from_flags_and_the_seed_variable() {
        assert_eq!("always".parse::<SyncPolicy>().unwrap(), SyncPolicy::Always);
        assert_eq!("NEVER".parse::<SyncPolicy>().unwrap(), SyncPolicy::Never);
        assert_eq!(
            "interval:250".parse::<SyncPolicy>().unwrap(),
            SyncPolicy::Interval(250)
        );
        assert!("sometimes".parse::<SyncPolicy>().is_err());
        assert_eq!(SyncPolicy::from_interval_ms(0), SyncPolicy::Always);
        assert_eq!(
            SyncPolicy::from_interval_ms(5000),
            SyncPolicy::Interval(5000)
        );
        assert_eq!(SyncPolicy::default(), SyncPolicy::Interval(5000));
        let named = |n: &str| Some(n.parse::<SyncPolicy>().unwrap());
        assert_eq!(
            SyncPolicy::named_over_interval(named("interval"), 0),
            SyncPolicy::Interval(1000)
        );
        assert_eq!(
            SyncPolicy::named_over_interval(named("interval"), 250),
            SyncPolicy::Interval(250)
        );
        assert_eq!(
            SyncPolicy::named_over_interval(named("never"), 0),
            SyncPolicy::Never
        );
        assert_eq!(SyncPolicy::named_over_interval(None, 0), SyncPolicy::Always);
    }

    #[test]
    fn ttl_answers_use_redis_sentinels_and_round_seconds() {
        assert_eq!(TtlState::Missing.as_secs(), -2);
        assert_eq!(TtlState::NoExpiry.as_ms(), -1);
        assert_eq!(TtlState::ExpiresInMs(1499).as_secs(), 1);
        assert_eq!(TtlState::ExpiresInMs(1500).as_secs(), 2);
        assert_eq!(TtlState::ExpiresInMs(1499).as_ms(), 1499);
    }
}
