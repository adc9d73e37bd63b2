//! Keys → slots, arenas, TTL, eviction, statistics.
//!
//! The keyspace is split into [`SHARDS`] shards by key hash, each behind its own `RwLock`, so
//! readers never block each other and writers to different keys rarely meet. Every mutation is
//! applied under its shard's write lock as an absolute-valued primitive (absolute expiry times,
//! whole values), so applying one twice is harmless — the shape the write-ahead log replays.

mod arena;
mod codec;
mod evict;
mod glob;
mod meta;
mod persist;
pub(crate) mod record;
mod shard;
mod vset;

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

pub(crate) use glob::glob_match;
pub(crate) use meta::AccessMeta;
pub(crate) use persist::BLOB_OVERHEAD;
pub(crate) use shard::{EntryRef, KeyEntry, Shard, ShardData, Value, NO_ELEM};
pub(crate) use vset::{PreparedQuery, SetParams, VectorSet};

use crate::engine::{Counters, EngineConfig};
use crate::error::Result;
pub(crate) use record::Record;

/// Number of shards (a power of two).
pub(crate) const SHARDS: usize = 32;

/// Why an entry left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    Deleted,
    Evicted,
    Expired,
}

/// Where records go once durability is on: the engine's write-ahead log.
pub(crate) trait LogSink: Send + Sync {
    /// Orders and enqueues the record; returns its LSN without waiting for durability.
    fn append(&self, rec: &Record<'_>) -> Result<u64>;
    /// Waits until the record with this LSN is acknowledged per the sync policy.
    fn wait(&self, lsn: u64) -> Result<()>;
}

thread_local! {
    /// Highest LSN this thread logged and has not waited for yet.
    static PENDING_LSN: Cell<u64> = const { Cell::new(0) };
}

/// Global counters (atomics).
#[derive(Default)]
pub(crate) struct GlobalCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub sets: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub keys: AtomicU64,
    pub vsets: AtomicU64,
}

pub(crate) struct Store {
    pub cfg: EngineConfig,
    pub shards: Box<[Shard]>,
    hasher: hashbrown::DefaultHashBuilder,
    tick: AtomicU64,
    lsn: AtomicU64,
    next_uid: AtomicU64,
    pub counters: GlobalCounters,
    evict_lock: Mutex<()>,
    pub closed: AtomicBool,
    /// The log, once the engine attached one (after recovery).
    pub sink: OnceLock<Arc<dyn LogSink>>,
}

impl Store {
    pub fn new(cfg: EngineConfig) -> Self {
        Self {
            cfg,
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            hasher: hashbrown::DefaultHashBuilder::default(),
            tick: AtomicU64::new(1),
            lsn: AtomicU64::new(0),
            next_uid: AtomicU64::new(1),
            counters: GlobalCounters::default(),
            evict_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
            sink: OnceLock::new(),
        }
    }

    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    /// The shard index of a key hash (top bits; the tables use the low ones).
    pub fn shard_of(hash: u64) -> usize {
        (hash >> 59) as usize & (SHARDS - 1)
    }

    pub fn now_ms(&self) -> u64 {
        self.cfg.clock.now_ms()
    }

    pub fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// Logs a mutation (under its shard's write lock, before applying it) and returns its LSN.
    /// Fails (and the caller applies nothing) when the log refuses it.
    pub fn log(&self, rec: &Record<'_>) -> Result<u64> {
        let lsn = match self.sink.get() {
            Some(sink) => {
                let lsn = sink.append(rec)?;
                self.lsn.fetch_max(lsn, Ordering::SeqCst);
                lsn
            }
            None => self.lsn.fetch_add(1, Ordering::SeqCst) + 1,
        };
        PENDING_LSN.with(|p| p.set(p.get().max(lsn)));
        Ok(lsn)
    }

    /// Waits until every record this thread logged is acknowledged (call with no lock held).
    pub fn wait_durable(&self) -> Result<()> {
        let lsn = PENDING_LSN.with(|p| p.replace(0));
        match self.sink.get() {
            Some(sink) if lsn > 0 => sink.wait(lsn),
            _ => Ok(()),
        }
    }

    /// Sets the LSN counter (after recovery).
    pub fn set_lsn(&self, lsn: u64) {
        self.lsn.fetch_max(lsn, Ordering::SeqCst);
    }

    pub fn last_lsn(&self) -> u64 {
        self.lsn.load(Ordering::SeqCst)
    }

    pub fn next_uid(&self) -> u64 {
        self.next_uid.fetch_add(1, Ordering::Relaxed)
    }

    /// Makes later set uids larger than `uid` (after loading a snapshot).
    pub fn bump_uid(&self, uid: u64) {
        self.next_uid.fetch_max(uid + 1, Ordering::Relaxed);
    }

    pub fn random(&self) -> u64 {
        rand::random()
    }

    /// Records an access of a live entry under a shard's read (or write) lock.
    pub fn touch(&self, shard: &Shard, data: &ShardData, e: EntryRef, meta: &AccessMeta) {
        let tick = self.next_tick();
        let r = (self.random() >> 11) as f64 / (1u64 << 53) as f64;
        meta.touch(tick, self.now_ms(), r);
        let mut log = shard.access.lock();
        log.push_back((tick, e));
        if log.len() > 2 * data.entries + 1024 {
            shard::compact_access(&mut log, data);
        }
    }

    /// Accounts a new or changed entry.
    pub fn account(&self, entries: i64, bytes: i64) {
        add_signed(&self.counters.entries, entries);
        add_signed(&self.counters.bytes, bytes);
    }

    /// Removes a blob key or one element (and the set when it empties), under the shard's write
    /// lock; updates every counter. Returns whether something was removed.
    pub fn remove_entry(&self, data: &mut ShardData, e: EntryRef, why: Removal) -> bool {
        if e.elem == NO_ELEM {
            return self.remove_key(data, e.key, why) > 0;
        }
        match self.remove_element(data, e, why) {
            Some(true) => {
                self.remove_key(data, e.key, Removal::Deleted);
                true
            }
            Some(false) => true,
            None => false,
        }
    }

    /// Removes one element but never its set; `Some(emptied)` when it existed.
    pub fn remove_element(&self, data: &mut ShardData, e: EntryRef, why: Removal) -> Option<bool> {
        let Value::VSet(set) = &mut data.entry_mut(e.key)?.value else {
            return None;
        };
        let elem = set.remove(e.elem)?;
        match why {
            Removal::Evicted => {
                set.counters.evictions.fetch_add(1, Ordering::Relaxed);
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
            Removal::Expired => {
                set.counters.expirations.fetch_add(1, Ordering::Relaxed);
                self.counters.expirations.fetch_add(1, Ordering::Relaxed);
            }
            Removal::Deleted => {}
        }
        let empty = set.len() == 0;
        data.entries -= 1;
        self.account(-1, -(elem.bytes as i64));
        Some(empty)
    }

    /// Removes a whole key; returns how many entries went with it (1 for a blob, the
    /// element count for a set; 0 when absent).
    pub fn remove_key(&self, data: &mut ShardData, slot: u32, why: Removal) -> u64 {
        let Some(entry) = data.remove(slot) else {
            return 0;
        };
        let (n, bytes) = match &entry.value {
            Value::Blob { .. } => (1, entry.bytes),
            Value::VSet(set) => {
                self.counters.vsets.fetch_sub(1, Ordering::Relaxed);
                (set.len() as u64, set.bytes + entry.bytes)
            }
        };
        self.counters.keys.fetch_sub(1, Ordering::Relaxed);
        data.entries -= n as usize;
        self.account(-(n as i64), -(bytes as i64));
        match why {
            Removal::Evicted => {
                self.counters.evictions.fetch_add(n, Ordering::Relaxed);
            }
            Removal::Expired => {
                self.counters.expirations.fetch_add(n, Ordering::Relaxed);
            }
            Removal::Deleted => {}
        }
        n.max(1)
    }

    /// Global counters as a snapshot.
    pub fn totals(&self) -> Counters {
        let c = &self.counters;
        Counters {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            sets: c.sets.load(Ordering::Relaxed),
            evictions: c.evictions.load(Ordering::Relaxed),
            expirations: c.expirations.load(Ordering::Relaxed),
            entries: c.entries.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
        }
    }
}

fn add_signed(a: &AtomicU64, d: i64) {
    if d >= 0 {
        a.fetch_add(d as u64, Ordering::Relaxed);
    } else {
        a.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
    }
}

/// True when an absolute expiry has passed (0 = never).
pub(crate) fn expired(at: u64, now: u64) -> bool {
    at != 0 && at <= now
}
