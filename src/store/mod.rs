//! Keys → slots, arenas, TTL, eviction, statistics.
//!
//! The keyspace is split into [`SHARDS`] shards by key hash, each behind its own `RwLock`, so
//! readers never block each other and writers to different keys rarely meet. Every mutation is
//! applied under its shard's write lock as an absolute-valued primitive (absolute expiry times,
//! whole values), so applying one twice is harmless — the shape the write-ahead log replays.

mod apply;
mod apply_hash;
mod arena;
mod codec;
mod evict;
pub(crate) mod feed;
mod hash;
mod image;
mod live;
mod log;
mod meta;
mod params;
mod persist;
pub(crate) mod record;
mod shard;
mod vindex;
mod vset;

use std::cell::Cell;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use std::collections::VecDeque;
use std::sync::Weak;

use parking_lot::{Condvar, Mutex};

pub(crate) use crate::glob::glob_match;
pub use apply::Found;
pub(crate) use apply::{blob_bytes, HASH_OVERHEAD};
pub(crate) use feed::{Change, ChangeCause, ChangeFeed, ChangeSink};
pub(crate) use hash::HashValue;
pub use image::ImageCursor;
pub(crate) use live::Live;
pub(crate) use log::{Appends, Log};
pub(crate) use meta::AccessMeta;
pub(crate) use params::{check_ef_construction, check_m, check_reduce, project};
#[cfg(test)]
pub(crate) use persist::first_graph_image;
pub(crate) use persist::{BLOB_OVERHEAD, SET_OVERHEAD};
pub(crate) use shard::{EntryRef, KeyEntry, Shard, ShardData, Value, NO_ELEM};
pub(crate) use vindex::{with_search_bufs, SavedGraph, VIndex};
pub(crate) use vset::{sign_bits, EventCounters, PreparedQuery, SetParams, VectorSet};

use crate::index::{Image, Restore};
use crate::vocab::{Clock, Counters, EvictionPolicy};
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

impl Removal {
    /// The change feed's name for it.
    pub fn cause(self) -> ChangeCause {
        match self {
            Removal::Deleted => ChangeCause::Write,
            Removal::Evicted => ChangeCause::Evicted,
            Removal::Expired => ChangeCause::Expired,
        }
    }
}

/// A vector set (by key) whose index has pending work.
pub(crate) type IndexWork = (Box<[u8]>, Weak<VIndex>);

/// Global counters (atomics).
#[derive(Default)]
pub(crate) struct GlobalCounters {
    /// Hits, misses, writes, evictions, expirations over blobs and every set.
    pub events: vset::EventCounters,
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
    pub keys: AtomicU64,
    pub vsets: AtomicU64,
}

/// What the store is configured with (the engine derives it from its own configuration).
pub(crate) struct StoreConfig {
    /// Caps (entries: blob keys plus elements; accounted bytes), what happens at one, and
    /// the default TTL: changeable while serving ([`live`]).
    pub live: live::Live,
    /// Number of databases (each names a keyspace, [`Store::keyspace_of`]).
    pub databases: u32,
    /// The clock of TTLs and LFU decay.
    pub clock: Arc<dyn Clock>,
    /// Bytes a snapshot copies per hold of a shard's read lock.
    pub snapshot_piece_bytes: usize,
    /// A set gets an HNSW index once it holds this many elements (`usize::MAX` = never).
    pub index_min_elements: usize,
    /// Key hashes and random picks from fixed seeds (`EngineConfig::fixed_seeds`).
    pub fixed_seeds: bool,
}

/// A vector set's name and its counters.
pub(crate) type SetCounters = (Box<[u8]>, Arc<vset::EventCounters>);

/// Elements the log being replayed adds to each vector set, by `(keyspace, key)`.
pub(crate) type ReplayAdds = std::collections::HashMap<(u32, Box<[u8]>), usize>;

pub(crate) struct Store {
    pub cfg: StoreConfig,
    pub shards: Box<[Shard]>,
    hasher: foldhash::fast::SeedableRandomState,
    /// The state of [`Store::random`] under fixed seeds.
    rng: AtomicU64,
    tick: AtomicU64,
    lsn: AtomicU64,
    next_uid: AtomicU64,
    pub counters: GlobalCounters,
    evict_lock: Mutex<()>,
    pub closed: AtomicBool,
    /// Set while recovery loads a snapshot and replays the log into this store: the clock
    /// then reads 0, so no TTL is judged passed (see [`Store::begin_recovery`]).
    recovering: AtomicBool,
    /// During recovery: how many elements the log still to be replayed adds to each set,
    /// by `(keyspace, key)` ([`Store::expect_replayed_adds`]); taken by the set's first add.
    replay_adds: Mutex<ReplayAdds>,
    /// The log, once the engine attached one (after recovery).
    pub log: OnceLock<Arc<Log>>,
    /// Vector sets with pending index work, for the indexer.
    pub index_queue: Mutex<VecDeque<IndexWork>>,
    pub index_cv: Condvar,
    /// Index rounds in progress (for `index_settle`).
    pub index_busy: std::sync::atomic::AtomicUsize,
    /// Held exclusively while a group is built and logged ([`Store::grouped`]); a checkpoint
    /// holds it shared for its start LSN and for every piece it copies, so no image holds
    /// part of a group.
    pub group_gate: parking_lot::RwLock<()>,
    /// Where every change to a key or element is reported ([`feed`]).
    pub feed: ChangeFeed,
    /// Every vector set's counters with its name, registered at creation, for the
    /// analytics tick (which drops an entry once its set is gone).
    pub set_counters: Mutex<Vec<SetCounters>>,
    /// Database → the keyspace its keys are stored under (the identity until a SWAPDB, which
    /// exchanges two entries with every shard's write lock held: read it under a shard lock).
    pub db_map: Box<[std::sync::atomic::AtomicU32]>,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Self {
        let cfg_databases = cfg.databases.max(1);
        // hashbrown's default hasher (foldhash) with a seed per store, or a fixed one.
        let hasher = if cfg.fixed_seeds {
            foldhash::fast::SeedableRandomState::fixed()
        } else {
            foldhash::fast::SeedableRandomState::random()
        };
        Self {
            cfg,
            shards: (0..SHARDS).map(|_| Shard::new()).collect(),
            hasher,
            rng: AtomicU64::new(0x5eed),
            tick: AtomicU64::new(1),
            lsn: AtomicU64::new(0),
            next_uid: AtomicU64::new(1),
            counters: GlobalCounters::default(),
            evict_lock: Mutex::new(()),
            closed: AtomicBool::new(false),
            recovering: AtomicBool::new(false),
            replay_adds: Mutex::new(std::collections::HashMap::new()),
            log: OnceLock::new(),
            index_queue: Mutex::new(VecDeque::new()),
            index_cv: Condvar::new(),
            index_busy: std::sync::atomic::AtomicUsize::new(0),
            group_gate: parking_lot::RwLock::new(()),
            feed: ChangeFeed::default(),
            set_counters: Mutex::new(Vec::new()),
            db_map: (0..cfg_databases)
                .map(std::sync::atomic::AtomicU32::new)
                .collect(),
        }
    }

    /// Registers a new vector set's counters under its name (see [`Store::set_counters`]).
    /// Sets that are gone (nobody else holds their counters) are dropped here too whenever the
    /// registry reaches a power of two from 1,024 on, so it stays within twice the live sets
    /// when no analytics tick runs (analytics off, or an engine nobody ticks); amortised O(1).
    pub fn register_set(&self, key: &[u8], counters: &Arc<vset::EventCounters>) {
        counters.log_id.store(self.hash(key), Ordering::Relaxed);
        let mut reg = self.set_counters.lock();
        reg.push((key.into(), counters.clone()));
        if reg.len() >= 1024 && reg.len().is_power_of_two() {
            reg.retain(|(_, c)| Arc::strong_count(c) > 1);
        }
    }

    /// The keyspace database `db` names now (itself beyond the configured databases). Read it
    /// under the lock of the shard it is used in, so a SWAPDB is seen whole or not at all.
    pub fn keyspace_of(&self, db: u32) -> u32 {
        self.db_map
            .get(db as usize)
            .map_or(db, |k| k.load(Ordering::SeqCst))
    }

    pub fn hash(&self, bytes: &[u8]) -> u64 {
        self.hasher.hash_one(bytes)
    }

    /// The shard index of a key hash (top bits; the tables use the low ones).
    pub fn shard_of(hash: u64) -> usize {
        (hash >> 59) as usize & (SHARDS - 1)
    }

    /// The clock of TTLs and LFU decay; 0 during recovery.
    pub fn now_ms(&self) -> u64 {
        if self.recovering.load(Ordering::Relaxed) {
            return 0;
        }
        self.cfg.clock.now_ms()
    }

    /// Recovery starts: until [`Store::end_recovery`], nothing has expired (the clock reads 0)
    /// and no cap is enforced. A record's effect must not depend on when it is replayed: a TTL
    /// that has passed by the time of a restart may have been extended by a later record
    /// before it ran out (EXPIRE short, a write, EXPIRE long), and judged by the restart's
    /// clock the key would be dropped with the writes made meanwhile. What a live write found
    /// expired and replaced is in the log instead (a VADD onto an expired set or element logs
    /// its removal first; HSET's `fresh`; MOVE onto an expired key logs its deletion), and
    /// evictions are logged, so the replay needs no clock and no caps.
    pub fn begin_recovery(&self) {
        self.recovering.store(true, Ordering::SeqCst);
    }

    /// Recovery is over: the clock reads the time again and every entry whose TTL has passed is
    /// removed now (the caller enforces the caps once the log is attached, so any eviction that
    /// needs is logged).
    pub fn end_recovery(&self) {
        self.recovering.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.replay_adds.lock());
        let now = self.now_ms();
        for shard in self.shards.iter() {
            self.expire_all_due(&mut shard.data.write(), now);
        }
    }

    /// Recovery: the log about to be replayed adds `adds[(keyspace, key)]` elements to that
    /// set (`record::vadd_count`, summed). The set's first replayed add sizes its arrays and
    /// name table for them once, instead of doubling them (a copy and fresh page faults of
    /// the whole array each time) as the replay grows the set. A hint only: what the set
    /// holds is decided by the records.
    pub fn expect_replayed_adds(&self, adds: ReplayAdds) {
        *self.replay_adds.lock() = adds;
    }

    /// The elements the log being replayed adds to this set, once (see
    /// [`Store::expect_replayed_adds`]); `None` outside recovery or when already taken.
    fn take_replayed_adds(&self, db: u32, key: &[u8]) -> Option<usize> {
        if !self.recovering() {
            return None;
        }
        let mut adds = self.replay_adds.lock();
        if adds.is_empty() {
            return None;
        }
        adds.remove(&(db, Box::<[u8]>::from(key)))
    }

    /// During recovery (no TTL is judged, no cap enforced).
    pub fn recovering(&self) -> bool {
        self.recovering.load(Ordering::Relaxed)
    }

    pub fn next_tick(&self) -> u64 {
        self.tick.fetch_add(1, Ordering::Relaxed)
    }

    /// The LSN of a mutation that is not logged (no data directory).
    pub fn count_lsn(&self) -> u64 {
        self.lsn.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Sets the LSN counter to the log's last LSN (the end of recovery).
    pub fn reset_lsn(&self, lsn: u64) {
        self.lsn.store(lsn, Ordering::SeqCst);
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

    /// A random number (VRANDMEMBER, HRANDFIELD, RANDOMKEY); under fixed seeds the next
    /// of a fixed sequence (splitmix64).
    pub fn random(&self) -> u64 {
        if !self.cfg.fixed_seeds {
            return rand::random();
        }
        let mut z = self
            .rng
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Records an access of a live entry under a shard's read (or write) lock.
    pub fn touch(
        &self,
        shard: &Shard,
        data: &ShardData,
        e: EntryRef,
        meta: &AccessMeta,
        now: &LazyNow<'_>,
    ) {
        let tick = self.next_tick();
        match self.cfg.live.policy() {
            EvictionPolicy::Lru => {
                meta.tick.store(tick, Ordering::Relaxed);
                if self.cfg.live.access_logged() {
                    let mut log = shard.access.lock();
                    log.push_back((tick, e));
                    if log.len() > 2 * data.entries + 1024 {
                        shard::compact_access(&mut log, data);
                    }
                }
            }
            EvictionPolicy::Lfu => meta.touch(tick, now.get(), fast_unit_random()),
            EvictionPolicy::NoEviction => meta.tick.store(tick, Ordering::Relaxed),
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
                // The element's report covers the set that left with it.
                self.remove_key_reporting(data, e.key, Removal::Deleted, false);
                true
            }
            Some(false) => true,
            None => false,
        }
    }

    /// Removes one element but never its set; `Some(emptied)` when it existed.
    pub fn remove_element(&self, data: &mut ShardData, e: EntryRef, why: Removal) -> Option<bool> {
        let KeyEntry { key, value, .. } = data.entry_mut(e.key)?;
        let Value::VSet(set) = value else {
            return None;
        };
        let elem = set.remove(e.elem)?;
        let bytes = set.elem_bytes(&elem);
        // Its slot stays in the arrays, free (unless the arrays' free tail was cut).
        let slack = set.resync_slack();
        self.feed
            .report(Change::Element(key, &elem.name, why.cause()));
        self.queue_index(key, set);
        match why {
            Removal::Evicted => {
                set.counters.evictions.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .events
                    .evictions
                    .fetch_add(1, Ordering::Relaxed);
            }
            Removal::Expired => {
                set.counters.expirations.fetch_add(1, Ordering::Relaxed);
                self.counters
                    .events
                    .expirations
                    .fetch_add(1, Ordering::Relaxed);
            }
            Removal::Deleted => {}
        }
        let empty = set.len() == 0;
        data.entries -= 1;
        self.account(-1, slack - bytes as i64);
        Some(empty)
    }

    /// Removes a whole key; returns how many entries went with it (1 for a blob, the
    /// element count for a set; 0 when absent).
    pub fn remove_key(&self, data: &mut ShardData, slot: u32, why: Removal) -> u64 {
        self.remove_key_reporting(data, slot, why, true)
    }

    /// [`Store::remove_key`]; `report: false` for a flush, which reports everything once.
    pub fn remove_key_reporting(
        &self,
        data: &mut ShardData,
        slot: u32,
        why: Removal,
        report: bool,
    ) -> u64 {
        let Some(entry) = data.remove(slot) else {
            return 0;
        };
        if report {
            self.feed.report(Change::Key(&entry.key, why.cause()));
        }
        let (n, bytes) = match &entry.value {
            Value::Blob { .. } | Value::Hash(_) => (1, entry.bytes),
            Value::VSet(set) => {
                self.counters.vsets.fetch_sub(1, Ordering::Relaxed);
                (
                    set.len() as u64,
                    set.bytes + set.slack + entry.bytes + set.index_bytes(),
                )
            }
        };
        self.counters.keys.fetch_sub(1, Ordering::Relaxed);
        data.entries -= n as usize;
        self.account(-(n as i64), -(bytes as i64));
        match why {
            Removal::Evicted => {
                self.counters
                    .events
                    .evictions
                    .fetch_add(n, Ordering::Relaxed);
            }
            Removal::Expired => {
                self.counters
                    .events
                    .expirations
                    .fetch_add(n, Ordering::Relaxed);
            }
            Removal::Deleted => {}
        }
        n.max(1)
    }

    /// Global counters as a snapshot.
    pub fn totals(&self) -> Counters {
        let c = &self.counters;
        Counters {
            entries: c.entries.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            ..c.events.load()
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

impl Store {
    /// Queues a set's index for the indexer when its last change asked for it.
    pub fn queue_index(&self, key: &[u8], set: &mut VectorSet) {
        if !std::mem::take(&mut set.index_wants_queue) {
            return;
        }
        if let Some(ix) = &set.vindex {
            self.index_queue
                .lock()
                .push_back((key.into(), Arc::downgrade(ix)));
            self.index_cv.notify_one();
        }
    }

    /// Runs the index work of the set `key` of database `db` on the calling thread until its
    /// graph holds every element as it is now (rounds of one set never overlap: a round the
    /// indexer thread is running finishes first). Nothing for a missing key or a set without
    /// a graph.
    pub fn settle_set(&self, db: u32, key: &[u8]) {
        let h = self.hash(key);
        loop {
            let ix = {
                let data = self.shards[Store::shard_of(h)].data.read();
                match data
                    .find(h, db, key)
                    .and_then(|s| data.entry(s))
                    .map(|e| &e.value)
                {
                    Some(Value::VSet(set)) => set.vindex.clone(),
                    _ => None,
                }
            };
            let Some(ix) = ix else { return };
            if ix.pending_len() == 0 && ix.saved().is_none() {
                return;
            }
            self.index_round(key.into(), Arc::downgrade(&ix));
        }
    }

    /// One round of index work (the indexer thread's body; tests call it to settle).
    /// Returns false when there was nothing to do.
    pub fn index_step(&self) -> bool {
        let popped = {
            let mut q = self.index_queue.lock();
            let item = q.pop_front();
            if item.is_some() {
                self.index_busy.fetch_add(1, Ordering::SeqCst);
            }
            item
        };
        let Some((key, weak)) = popped else {
            return false;
        };
        self.index_round(key, weak);
        self.index_busy.fetch_sub(1, Ordering::SeqCst);
        true
    }

    fn index_round(&self, key: Box<[u8]>, weak: Weak<VIndex>) {
        let Some(ix) = weak.upgrade() else {
            return;
        };
        let _round = ix.round.lock();
        let h = self.hash(&key);
        if let Some(saved) = ix.saved() {
            self.restore_graph(&key, h, &ix, &saved);
        }
        if ix.needs_rebuild() {
            let Some(items) = self.with_indexed_set(h, &key, &ix, |set| {
                let slots: Vec<u32> = set.live_slots().collect();
                let versions = ix.live_versions(&slots);
                slots
                    .into_iter()
                    .zip(versions)
                    .filter(|&(_, v)| v != 0)
                    .filter_map(|(s, v)| set.index_vector(s).map(|vec| (s, v, vec)))
                    .collect::<Vec<_>>()
            }) else {
                return;
            };
            ix.rebuild(items, || self.closed.load(Ordering::SeqCst));
        }
        let Some(work) = self.with_indexed_set(h, &key, &ix, |set| {
            // A backlog (a bulk load, a restart's WAL tail) goes in big batches, which `apply`
            // links in parallel from 256 on; a trickle of writes in small ones.
            let n = if ix.pending_len() >= 256 { 4_096 } else { 128 };
            ix.pending_batch(n)
                .into_iter()
                .map(|(s, v)| (s, v, if v == 0 { None } else { set.index_vector(s) }))
                .collect::<Vec<_>>()
        }) else {
            return;
        };
        ix.apply(work);
        self.with_indexed_set(h, &key, &ix, |_| {
            let now = ix.graph().stats().memory_bytes as u64 + ix.state_bytes();
            let before = ix.accounted_bytes.swap(now, Ordering::Relaxed);
            self.account(0, now as i64 - before as i64);
        });
        if ix.requeue() {
            self.index_queue.lock().push_back((key, weak));
        }
    }
}

impl Store {
    /// Runs `f` on the vector set `key` (hash `h`) under its shard's read lock, if it is still
    /// the set whose index is `ix` (it may have been deleted or re-created since it was
    /// queued); `None` otherwise. The set is found by its index in whichever database it is
    /// now (MOVE and SWAPDB change a set's database, not its index).
    fn with_indexed_set<R>(
        &self,
        h: u64,
        key: &[u8],
        ix: &Arc<VIndex>,
        f: impl FnOnce(&VectorSet) -> R,
    ) -> Option<R> {
        let data = self.shards[Store::shard_of(h)].data.read();
        let owns = |e: &KeyEntry| match &e.value {
            Value::VSet(set) => set.vindex.as_ref().is_some_and(|x| Arc::ptr_eq(x, ix)),
            Value::Blob { .. } | Value::Hash(_) => false,
        };
        match data
            .find_any(h, key, owns)
            .and_then(|s| data.entry(s))
            .map(|e| &e.value)
        {
            Some(Value::VSet(set)) => Some(f(set)),
            _ => None,
        }
    }

    /// Restores a set's graph from its snapshot image (the indexer's first round after a
    /// load): each node whose slot still holds the vector it had when saved is staged with
    /// that vector; the saved lists are published; the rest stays pending for ordinary
    /// inserts. A damaged or mismatched image is dropped with a warning (the graph is then
    /// built from the pending slots).
    fn restore_graph(&self, key: &[u8], h: u64, ix: &Arc<VIndex>, saved: &SavedGraph) {
        let started = std::time::Instant::now();
        let restore =
            Image::decode(saved.bytes()).and_then(|image| Restore::new(ix.params(), image));
        let mut restore = match restore {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(key = %String::from_utf8_lossy(key), error = %e,
                    "saved graph not restored; building it instead");
                ix.drop_saved();
                return;
            }
        };
        let slots: Vec<u32> = restore
            .image()
            .slots()
            .filter(|&s| saved.version(s) != 0)
            .collect();
        let mut restored = Vec::with_capacity(slots.len());
        for chunk in slots.chunks(4_096) {
            if self.closed.load(Ordering::SeqCst) {
                return; // closing: the saved graph is passed on to the next snapshot
            }
            let Some(items) = self.with_indexed_set(h, key, ix, |set| {
                chunk
                    .iter()
                    .filter(|&&s| ix.live_version(s) == saved.version(s))
                    .filter_map(|&s| set.index_vector(s).map(|v| (s, saved.version(s), v)))
                    .collect::<Vec<_>>()
            }) else {
                return;
            };
            for (s, version, v) in items {
                if restore.stage(crate::index::Slot(s), &v).is_ok() {
                    restored.push((s, version));
                }
            }
        }
        let (graph, kept) = restore.finish();
        // Nodes the restore could not keep well linked are left pending (inserted as usual).
        let kept: std::collections::HashSet<u32> = kept.into_iter().collect();
        restored.retain(|(s, _)| kept.contains(s));
        ix.install_restored(graph, &restored);
        tracing::info!(key = %String::from_utf8_lossy(key), nodes = restored.len(),
            ms = started.elapsed().as_millis() as u64, "graph restored from the snapshot");
    }
}

/// A uniform number in [0, 1) from a per-thread xorshift (the LFU counter's coin).
fn fast_unit_random() -> f64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(
            0x9E37_79B9_7F4A_7C15 ^ (&STATE as *const _ as u64),
        );
    }
    STATE.with(|s| {
        let mut x = s.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

/// True when an absolute expiry has passed (0 = never).
pub(crate) fn expired(at: u64, now: u64) -> bool {
    at != 0 && at <= now
}

/// The clock, read at most once and only when something needs it: a read of an entry without
/// a TTL under LRU never reads it (a `clock_gettime` is a sizeable part of a cached get).
pub(crate) struct LazyNow<'a> {
    store: &'a Store,
    at: Cell<Option<u64>>,
}

impl<'a> LazyNow<'a> {
    pub fn new(store: &'a Store) -> Self {
        Self {
            store,
            at: Cell::new(None),
        }
    }

    /// Now, the same value on every call.
    pub fn get(&self) -> u64 {
        match self.at.get() {
            Some(t) => t,
            None => {
                let t = self.store.now_ms();
                self.at.set(Some(t));
                t
            }
        }
    }

    /// [`expired`] without reading the clock when there is no expiry.
    pub fn expired(&self, at: u64) -> bool {
        at != 0 && at <= self.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(fixed_seeds: bool) -> Store {
        Store::new(StoreConfig {
            live: Default::default(),
            databases: 16,
            clock: Arc::new(crate::vocab::SystemClock),
            snapshot_piece_bytes: 4 << 20,
            index_min_elements: 1_000,
            fixed_seeds,
        })
    }

    #[test]
    fn fixed_seeds_give_every_store_the_same_hashes_and_random_picks_and_random_ones_do_not() {
        let (a, b) = (store(true), store(true));
        let keys: Vec<Vec<u8>> = (0..64).map(|i| format!("key{i}").into_bytes()).collect();
        let hashes = |s: &Store| keys.iter().map(|k| s.hash(k)).collect::<Vec<u64>>();
        let picks = |s: &Store| (0..16).map(|_| s.random()).collect::<Vec<u64>>();
        assert_eq!(hashes(&a), hashes(&b));
        assert_eq!(picks(&a), picks(&b));
        let p = picks(&store(true));
        assert!(
            p.windows(2).all(|w| w[0] != w[1]),
            "a sequence, not one number: {p:?}"
        );
        // A seed per store otherwise (64 keys hashing alike under two random seeds: ~never).
        assert_ne!(hashes(&store(false)), hashes(&store(false)));
    }

    #[test]
    fn the_set_registry_stays_within_twice_the_live_sets_when_nothing_ticks() {
        let store = Store::new(StoreConfig {
            live: Default::default(),
            databases: 16,
            clock: Arc::new(crate::vocab::SystemClock),
            snapshot_piece_bytes: 4 << 20,
            index_min_elements: 1_000,
            fixed_seeds: false,
        });
        let live: Vec<Arc<vset::EventCounters>> = (0..10)
            .map(|_| Arc::new(vset::EventCounters::default()))
            .collect();
        for (i, c) in live.iter().enumerate() {
            store.register_set(format!("live{i}").as_bytes(), c);
        }
        // 100,000 sets created and dropped, with no analytics tick to forget them.
        for i in 0..100_000 {
            let gone = Arc::new(vset::EventCounters::default());
            store.register_set(format!("gone{i}").as_bytes(), &gone);
        }
        let reg = store.set_counters.lock();
        assert!(reg.len() < 2048, "{} entries", reg.len());
        for i in 0..10 {
            let name = format!("live{i}");
            assert!(reg.iter().any(|(k, _)| &k[..] == name.as_bytes()), "{name}");
        }
    }
}
