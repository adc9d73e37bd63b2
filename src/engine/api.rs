//! The engine: the one public Rust API. Front ends (server, ffi) call nothing else.
//!
//! Blob calls live in `blob.rs`, vector-set calls in `vector.rs`; this file holds the type,
//! opening, statistics, maintenance and the validation shared by both.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::config::{EngineConfig, EvictionPolicy, SyncPolicy};
use super::durable::{recover, Durability, Durable, RecoveryReport};
use super::types::*;
use super::warm::{self, WarmState, WarmStatus};
use crate::analytics::Analytics;
use crate::error::{Error, Result};
use crate::store::{Appends, ChangeSink, Shard, Store, Value};

/// The cache engine. `Send + Sync`: share it behind an `Arc`.
///
/// Readers never block each other; writers to different keys do not serialise on one lock.
///
/// Its keyspace has [`EngineConfig::databases`] databases (Redis's `SELECT` numbers); an
/// `Engine` value reads and writes one of them, database 0 as opened. [`Engine::select`]
/// hands out another value over the same store for another database (what a server
/// connection's `SELECT` does); the engine closes when [`Engine::close`] is called or when
/// the last of these values is dropped.
pub struct Engine {
    pub(crate) store: Arc<Store>,
    /// The configuration it was opened with (the store holds its part, [`Store::cfg`]).
    pub(crate) cfg: Arc<EngineConfig>,
    durable: Option<Arc<Durable>>,
    /// Time series of the counters (`crate::analytics`).
    pub(crate) analytics: Arc<Analytics>,
    /// Background threads and closing, shared by every database's value.
    life: Arc<Life>,
    /// The database this value addresses.
    pub(crate) db: u32,
    /// `db` is a keyspace number, not mapped through SWAPDB's table (WAL replay: records
    /// name keyspaces).
    raw_keyspace: bool,
}

/// What an engine's values share to close it once: its threads and what closing writes.
struct Life {
    store: Arc<Store>,
    cfg: Arc<EngineConfig>,
    durable: Option<Arc<Durable>>,
    analytics: Arc<Analytics>,
    background: Mutex<Option<(mpsc::Sender<()>, JoinHandle<()>)>>,
    indexer: Mutex<Option<JoinHandle<()>>>,
    closed: AtomicBool,
    /// The warm-up after a restart (`super::warm`).
    warm: Arc<WarmState>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Engine {
    /// Opens an engine: in memory when `config.data_dir` is `None`; otherwise recovers the
    /// newest valid snapshot plus the write-ahead log from the directory, then logs every
    /// write there before acknowledging it.
    pub fn open(config: EngineConfig) -> Result<Engine> {
        if config.databases == 0 {
            return Err(Error::invalid("databases", "at least 1"));
        }
        let cfg = Arc::new(config.clone());
        let interval = config.active_expire_interval_ms;
        let budget = config.active_expire_budget.max(1);
        let (store, durable) = match &config.data_dir {
            None => (Arc::new(Store::new(config.store_config())), None),
            Some(dir) => {
                // Replay: each record decoded and applied by the store's one mutation
                // function (no log is attached yet, so nothing is logged).
                let (store, durable) = recover(&config, dir, |store, kind, payload| {
                    super::replay::replay_logged(
                        store,
                        &crate::store::Appends::new(),
                        kind,
                        payload,
                    )
                })?;
                if store.log.set(durable.log.clone()).is_err() {
                    return Err(Error::Internal("log attached twice".into()));
                }
                // The replay made no evictions of its own; caps lowered since the data was
                // written are enforced now, with the evictions logged.
                store.enforce_caps(&crate::store::Appends::new());
                (store, Some(Arc::new(durable)))
            }
        };
        let sync_every = match config.wal_sync {
            SyncPolicy::Always => Some(0),
            SyncPolicy::Interval(ms) => Some(ms),
            SyncPolicy::Never => None,
        };
        let analytics_dir = config.data_dir.as_ref().map(|d| d.join("analytics"));
        let analytics = Arc::new(Analytics::open(
            config.analytics.clone(),
            analytics_dir.as_deref(),
            sync_every,
        )?);
        super::analytics::baseline(&analytics, &store);
        // Mapped arrays to page in only after a snapshot was loaded; else warm at once.
        let mapped = durable
            .as_ref()
            .is_some_and(|d| d.report.snapshot.is_some());
        // (Without background threads no warm-up runs: nothing to wait for.)
        let warm = Arc::new(if mapped && !config.no_background_threads {
            WarmState::cold()
        } else {
            WarmState::warm()
        });
        let hot_dir = config
            .data_dir
            .clone()
            .filter(|_| config.analytics.enabled && config.analytics.lookup_log_entries > 0);
        let tick_ms = match (interval, &durable) {
            _ if config.no_background_threads => 0,
            (0, None) => 0,
            (0, Some(_)) => 1_000,
            (i, _) => i,
        };
        let background = if tick_ms > 0 {
            let (tx, rx) = mpsc::channel::<()>();
            let weak = Arc::downgrade(&store);
            let dur = durable.clone();
            let an = analytics.clone();
            let (warm, hot_dir) = (warm.clone(), hot_dir.clone());
            let handle = std::thread::Builder::new()
                .name("sutra-maintenance".into())
                .spawn(move || loop {
                    match rx.recv_timeout(std::time::Duration::from_millis(tick_ms)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    let Some(store) = weak.upgrade() else { return };
                    if let Err(e) = super::analytics::tick(&an, &store, store.now_ms(), false) {
                        tracing::error!(error = %e, "analytics tick failed");
                    }
                    if let Some(dir) = &hot_dir {
                        if warm::save_due(&store, &an, &warm) {
                            warm::save_hot_set(&store, &an, &warm, dir);
                        }
                    }
                    if interval > 0 {
                        store.active_expire(budget);
                        // Evictions are logged; nobody waits for their records.
                        store.enforce_caps(&Appends::new());
                    }
                    if let Some(d) = &dur {
                        if d.checkpoint_due(&store) {
                            if let Err(e) = d.checkpoint(&store) {
                                tracing::error!(error = %e, "background checkpoint failed");
                            }
                        }
                    }
                })?;
            Some((tx, handle))
        } else {
            None
        };
        let indexer = if store.cfg.index_min_elements != usize::MAX {
            let weak = Arc::downgrade(&store);
            Some(
                std::thread::Builder::new()
                    .name("sutra-indexer".into())
                    .spawn(move || loop {
                        let Some(store) = weak.upgrade() else { return };
                        if store.closed.load(Ordering::SeqCst) {
                            return;
                        }
                        if !store.index_step() {
                            let mut q = store.index_queue.lock();
                            if q.is_empty() {
                                store
                                    .index_cv
                                    .wait_for(&mut q, std::time::Duration::from_millis(100));
                            }
                        }
                    })?,
            )
        } else {
            None
        };
        if let (true, false, Some(dir)) = (mapped, config.no_background_threads, &config.data_dir) {
            let (weak, state, dir) = (Arc::downgrade(&store), warm.clone(), dir.clone());
            std::thread::Builder::new()
                .name("sutra-warmup".into())
                .spawn(move || warm::run(weak, state, dir))?;
        }
        let life = Arc::new(Life {
            store: store.clone(),
            cfg: cfg.clone(),
            durable: durable.clone(),
            analytics: analytics.clone(),
            background: Mutex::new(background),
            indexer: Mutex::new(indexer),
            closed: AtomicBool::new(false),
            warm,
        });
        Ok(Engine {
            store,
            cfg,
            durable,
            analytics,
            life,
            db: 0,
            raw_keyspace: false,
        })
    }

    /// The same engine addressing database `db` (Redis's `SELECT`): every key call of the
    /// value returned reads and writes that database; statistics, caps, eviction and
    /// durability stay the engine's, across databases. `InvalidArgument` naming `db` when it
    /// is not below [`EngineConfig::databases`].
    pub fn select(&self, db: u32) -> Result<Engine> {
        if u64::from(db) >= u64::from(self.databases()) {
            return Err(Error::invalid(
                "db",
                format!("a database index below {}", self.databases()),
            ));
        }
        Ok(self.in_db(db))
    }

    /// [`Engine::select`] without the range check (replay, MOVE's target checked already).
    pub(crate) fn in_db(&self, db: u32) -> Engine {
        Engine {
            store: self.store.clone(),
            cfg: self.cfg.clone(),
            durable: self.durable.clone(),
            analytics: self.analytics.clone(),
            life: self.life.clone(),
            db,
            raw_keyspace: self.raw_keyspace,
        }
    }

    /// The keyspace this value's database names now (see [`Store::keyspace_of`]: read it
    /// under the lock of the shard it addresses).
    pub(crate) fn ks(&self) -> u32 {
        if self.raw_keyspace {
            self.db
        } else {
            self.store.keyspace_of(self.db)
        }
    }

    /// The database this value addresses (0 as opened).
    pub fn db(&self) -> u32 {
        self.db
    }

    /// How many databases the engine has ([`EngineConfig::databases`]).
    pub fn databases(&self) -> u32 {
        self.cfg.databases
    }

    /// Blocks until every pending index insert and removal is in the vector sets' graphs,
    /// running index work on the calling thread too (with the background indexer, a bulk load
    /// then builds on two threads). Searches never need it for correctness (elements not yet
    /// in a graph are scanned exactly); call it to finish a bulk load or before measuring.
    pub fn index_settle(&self) {
        loop {
            while self.store.index_step() {}
            // The indexer thread may hold the last round: wait until it is done.
            if self.store.index_queue.lock().is_empty()
                && self.store.index_busy.load(Ordering::SeqCst) == 0
            {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Closes the engine (every database's value): stops background work and, with a data
    /// directory, writes a snapshot (unless disabled) and closes the log. Idempotent; later
    /// writes fail.
    pub fn close(&self) -> Result<()> {
        self.life.close()
    }
    /// Writes a snapshot now (SAVE); returns its LSN. Older log segments are recycled.
    pub fn checkpoint(&self) -> Result<u64> {
        match &self.durable {
            Some(d) => {
                self.analytics.checkpoint()?;
                self.life.save_hot_set();
                d.checkpoint(&self.store)
            }
            None => Err(Error::Unsupported(
                "checkpoint: the engine has no data directory".into(),
            )),
        }
    }

    /// Where the warm-up after a restart is: warm once the saved hot set, every other row
    /// mapped from the snapshot and every saved graph are in memory (`engine::warm`).
    pub fn warm_status(&self) -> WarmStatus {
        self.life.warm.status()
    }

    /// Time of the newest snapshot (ms since the Unix epoch); `None` without a data directory.
    pub fn last_checkpoint_ms(&self) -> Option<u64> {
        self.durable
            .as_ref()
            .map(|d| d.last_checkpoint_ms.load(Ordering::Relaxed))
    }

    /// What recovery did at open; `None` without a data directory.
    pub fn recovery_report(&self) -> Option<RecoveryReport> {
        self.durable.as_ref().map(|d| d.report.clone())
    }

    /// The WAL's I/O path (`"io_uring"` or `"sync"`) and sync policy; `None` in memory.
    pub fn wal_mode(&self) -> Option<(&'static str, SyncPolicy)> {
        self.durable
            .as_ref()
            .map(|d| (d.wal.io_kind(), d.wal.policy()))
    }

    /// The write-ahead log; `None` in memory (replication's tail is made from it).
    pub(crate) fn wal(&self) -> Option<&Arc<crate::wal::Wal>> {
        self.durable.as_ref().map(|d| &d.wal)
    }

    /// A value of this engine whose database numbers are keyspace numbers, as records name
    /// them (applying a master's records on a replica, as replay does).
    pub(crate) fn raw_keyspaces(&self) -> Engine {
        Engine {
            raw_keyspace: true,
            ..self.in_db(0)
        }
    }

    /// Waits until the records up to `lsn` are acknowledged per the sync policy (call with
    /// no lock held); at once without a log or for 0.
    pub(crate) fn wait_durable(&self, lsn: u64) -> Result<()> {
        match &self.durable {
            Some(d) if lsn > 0 => d.wal.wait_for(lsn),
            _ => Ok(()),
        }
    }

    /// The acknowledgement of the records up to `lsn`, as a future the log's writer wakes.
    pub(crate) fn durability(&self, lsn: u64) -> Durability {
        match &self.durable {
            Some(d) if lsn > 0 => Durability::new(d.wal.wait_for_async(lsn)),
            _ => Durability::ready(),
        }
    }

    /// WAL batches written and fdatasyncs completed since open; `None` in memory.
    pub fn wal_io_counts(&self) -> Option<(u64, u64)> {
        self.durable.as_ref().map(|d| d.wal.io_counts())
    }

    /// Makes every acknowledged write durable on disk now (fdatasync); returns the durable LSN.
    pub fn flush_log(&self) -> Result<u64> {
        match &self.durable {
            Some(d) => d.wal.flush(),
            None => Ok(self.store.last_lsn()),
        }
    }

    // ---- statistics and maintenance ----

    /// Installs `listener` as the engine's change feed (replacing any other; `None` removes
    /// it): from now on every change to a blob key or a vector-set element — writes,
    /// overwrites, deletes, attribute and TTL changes, expirations (lazy and active),
    /// evictions, semantic invalidation, flushes — is reported to it, on the thread that made
    /// the change, under that key's shard lock and before the change's call returns (see
    /// [`ChangeSink`] for what a listener may do there). Changes replayed at open are not
    /// reported. Without a listener a change costs one relaxed atomic load.
    pub fn set_change_listener(&self, listener: Option<Arc<dyn ChangeSink>>) {
        self.store.feed.set(listener);
    }

    /// Engine-wide statistics (atomics; cheap).
    pub fn stats(&self) -> Stats {
        let c = &self.store.counters;
        Stats {
            total: self.store.totals(),
            keys: c.keys.load(Ordering::Relaxed),
            vector_sets: c.vsets.load(Ordering::Relaxed),
        }
    }

    /// How long searches, WAL fdatasyncs and snapshots took so far (`/metrics`' histograms);
    /// `fsync` and `snapshot` are `None` without a data directory.
    pub fn op_durations(&self) -> super::analytics::OpDurations {
        super::analytics::OpDurations {
            search: self.analytics.search_durations.load(),
            batch_search: self.analytics.batch_search_durations.load(),
            fsync: self.durable.as_ref().map(|d| d.wal.sync_durations()),
            snapshot: self.durable.as_ref().map(|d| d.snapshot_durations.load()),
        }
    }

    /// Zeroes the event counters (hits, misses, sets, evictions, expirations) of the engine
    /// and of every vector set, as Redis's CONFIG RESETSTAT does; the gauges (entries, bytes,
    /// keys) are left as they are.
    pub fn reset_stats(&self) {
        self.store.counters.events.reset();
        for shard in self.store.shards.iter() {
            let data = shard.data.read();
            for (_, entry) in data.slots_from(0) {
                if let Value::VSet(set) = &entry.value {
                    set.counters.reset();
                }
            }
        }
    }

    /// Counters of one vector set; `None` for a missing key.
    pub fn vstats(&self, key: &[u8]) -> Result<Option<Counters>> {
        self.with_set(key, |set, _| Ok(set.counters()))
    }

    /// Counters of every vector set, by key.
    pub fn vstats_all(&self) -> Vec<(Vec<u8>, Counters)> {
        let mut out = Vec::new();
        for shard in self.store.shards.iter() {
            let data = shard.data.read();
            for (_, entry) in data.slots_from(0) {
                if let Value::VSet(set) = &entry.value {
                    out.push((entry.key.to_vec(), set.counters()));
                }
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Reclaims expired entries, examining at most `budget` of them; returns how many were removed.
    pub fn active_expire_cycle(&self, budget: usize) -> usize {
        self.store.active_expire(budget)
    }

    /// The engine clock's current time in ms since the epoch (what TTLs count from).
    pub fn now_ms(&self) -> u64 {
        self.store.now_ms()
    }

    /// The cap on accounted bytes in force; 0 = none (shared by every database).
    pub fn max_bytes(&self) -> u64 {
        self.store.cfg.live.max_bytes()
    }

    /// Changes the byte cap while serving (Redis's `CONFIG SET maxmemory`); 0 = none. Under
    /// a lower cap the engine evicts by its policy before returning (under `noeviction`,
    /// later writes that need room fail instead).
    pub fn set_max_bytes(&self, bytes: u64) {
        self.store.set_max_bytes(bytes);
    }

    /// A replica's Redis `replica-ignore-maxmemory`: `true` makes no eviction and refuses no
    /// write at the caps (the master's evictions arrive as deletions it applies); `false`
    /// enforces them again, evicting by policy before returning.
    pub fn set_evictions_paused(&self, paused: bool) {
        self.store.set_caps_ignored(paused);
    }

    /// Whether [`Engine::set_evictions_paused`] paused evictions.
    pub fn evictions_paused(&self) -> bool {
        self.store.cfg.live.caps_ignored()
    }

    /// The cap on entries (blob keys, hashes and vector-set elements) in force; 0 = none.
    pub fn max_entries(&self) -> u64 {
        self.store.cfg.live.max_entries()
    }

    /// Changes the entry cap while serving, evicting as [`Engine::set_max_bytes`] does.
    pub fn set_max_entries(&self, entries: u64) {
        self.store.set_max_entries(entries);
    }

    /// The eviction policy in force.
    pub fn eviction_policy(&self) -> EvictionPolicy {
        self.store.cfg.live.policy()
    }

    /// Changes the eviction policy while serving (`CONFIG SET maxmemory-policy`): the new
    /// policy ranks entries by the access ticks and LFU counters kept under any policy.
    pub fn set_eviction_policy(&self, policy: EvictionPolicy) {
        self.store.set_eviction_policy(policy);
    }

    /// The TTL given to writes that name none, in ms; 0 = none.
    pub fn default_ttl_ms(&self) -> u64 {
        self.store.cfg.live.default_ttl_ms()
    }

    /// Changes the TTL of later writes that name none (entries already written keep theirs).
    pub fn set_default_ttl_ms(&self, ms: u64) {
        self.store.set_default_ttl_ms(ms);
    }

    /// Storage mode of a vector set created by an add that names none
    /// ([`EngineConfig::default_storage_mode`]).
    pub fn default_storage_mode(&self) -> StorageMode {
        self.cfg.default_storage_mode
    }

    /// The dimension every added vector must have, when configured
    /// ([`EngineConfig::vector_dimension`]).
    pub fn vector_dimension(&self) -> Option<usize> {
        self.cfg.vector_dimension
    }

    /// The SIMD instruction set in use.
    pub fn simd_isa(&self) -> &'static str {
        crate::simd::isa()
    }

    /// Highest LSN applied.
    pub fn last_lsn(&self) -> u64 {
        self.store.last_lsn()
    }

    // ---- shared helpers ----

    pub(crate) fn locate(&self, key: &[u8]) -> (u64, &Shard) {
        let h = self.store.hash(key);
        (h, &self.store.shards[Store::shard_of(h)])
    }

    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        let limit = self.cfg.limits.max_key_bytes;
        if key.len() > limit {
            return Err(Error::TooLarge {
                arg: "key",
                len: key.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Absolute expiry (0 = never) for a write at `now`; `current` is the entry's present one.
    pub(crate) fn resolve_expiry(
        &self,
        expiry: Expiry,
        now: u64,
        current: Option<u64>,
    ) -> Result<u64> {
        let default = || {
            let ttl = self.store.cfg.live.default_ttl_ms();
            if ttl == 0 {
                0
            } else {
                now.saturating_add(ttl)
            }
        };
        Ok(match expiry {
            Expiry::Default => default(),
            Expiry::Never => 0,
            Expiry::InMs(0) => {
                return Err(Error::invalid("ttl", "a positive number of milliseconds"))
            }
            Expiry::InMs(ms) => now
                .checked_add(ms)
                .filter(|&t| t < i64::MAX as u64)
                .ok_or_else(|| {
                    Error::invalid("ttl", "a time to live that fits in 63 bits of ms")
                })?,
            Expiry::AtMs(0) => {
                return Err(Error::invalid("expire_at", "a positive Unix time in ms"))
            }
            Expiry::AtMs(t) => t,
            Expiry::Keep => match current {
                Some(c) => c,
                None => default(),
            },
        })
    }

    /// The absolute expiry an EXPIRE-like call sets (0 = persist). An absolute time of 0 is in
    /// the past (it deletes), not "never".
    pub(crate) fn expire_target(expiry: Expiry, now: u64) -> Result<u64> {
        match expiry {
            Expiry::InMs(ms) => Ok(now.saturating_add(ms)),
            Expiry::AtMs(t) => Ok(t.max(1)),
            Expiry::Never => Ok(0),
            Expiry::Default | Expiry::Keep => Err(Error::invalid(
                "expiry",
                "a time in ms, an absolute time, or never",
            )),
        }
    }

    /// Runs `f` on a live vector set under its shard's read lock; `None` for a missing key,
    /// `WrongType` for a blob.
    pub(crate) fn with_set<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(&crate::store::VectorSet, &crate::store::ShardData) -> Result<R>,
    ) -> Result<Option<R>> {
        let now = crate::store::LazyNow::new(&self.store);
        self.with_set_slot(key, &now, |set, data, _, _| f(set, data))
    }

    /// [`Engine::with_set`] that also hands `f` the set's key slot and its shard, with the
    /// caller's clock (read only if something has a TTL).
    pub(crate) fn with_set_slot<R>(
        &self,
        key: &[u8],
        now: &crate::store::LazyNow<'_>,
        f: impl FnOnce(&crate::store::VectorSet, &crate::store::ShardData, u32, &Shard) -> Result<R>,
    ) -> Result<Option<R>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let data = shard.data.read();
        let Some(slot) = data.find(h, self.ks(), key) else {
            return Ok(None);
        };
        let entry = data
            .entry(slot)
            .ok_or_else(|| Error::Internal("slot".into()))?;
        if now.expired(entry.expires_at) {
            return Ok(None);
        }
        match &entry.value {
            Value::Blob { .. } | Value::Hash(_) => Err(Error::WrongType),
            Value::VSet(set) => f(set, &data, slot, shard).map(Some),
        }
    }
}

impl Drop for Life {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Life {
    /// Writes the hot set (`engine::warm`) when the engine has a data directory and a log.
    fn save_hot_set(&self) {
        let an = self.cfg.analytics.enabled && self.cfg.analytics.lookup_log_entries > 0;
        if let (true, Some(dir)) = (an, &self.cfg.data_dir) {
            warm::save_hot_set(&self.store, &self.analytics, &self.warm, dir);
        }
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        if let Some((tx, handle)) = self.background.lock().take() {
            drop(tx);
            let _ = handle.join();
        }
        self.store.closed.store(true, Ordering::SeqCst);
        self.store.index_cv.notify_all();
        if let Some(h) = self.indexer.lock().take() {
            let _ = h.join();
        }
        self.save_hot_set();
        // The last second's counts, then the analytics snapshot.
        let an = super::analytics::tick(&self.analytics, &self.store, self.store.now_ms(), true)
            .and_then(|()| self.analytics.checkpoint());
        if let Err(e) = an {
            tracing::error!(error = %e, "analytics snapshot at close failed");
        }
        if let Some(d) = &self.durable {
            let snap = if self.cfg.checkpoint_on_close && d.wal.poisoned().is_none() {
                d.checkpoint(&self.store).map(|_| ())
            } else {
                Ok(())
            };
            let closed = d.wal.close();
            snap?;
            closed?;
        }
        Ok(())
    }
}
