//! Durability: the engine over a data directory.
//!
//! Layout of `data_dir`: `wal/` (write-ahead log segments, see `wal`), and
//! `snapshot-<lsn>.snap` images (see `snapshot`). The newest two snapshots are kept; the WAL
//! is kept from the older one's LSN on, so a damaged newest snapshot can fall back to the
//! older one plus a longer log: by default the open refuses and says so
//! (`SnapshotRecovery`), as it refuses WAL damage other than a torn tail (`WalRecovery`).
//!
//! Open: newest valid snapshot → WAL replay from its LSN (idempotent records) → attach the WAL
//! as the store's log. Write: validate → log under the shard lock → apply → unlock → wait per
//! sync policy → acknowledge.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::config::{EngineConfig, SnapshotRecovery, WalRecovery};
use crate::error::{Error, Result};
use crate::snapshot::{list_snapshots, RegionHandle, Snapshot};
use crate::store::{Log, Store};
use crate::wal::{Wal, WalOptions};

/// The acknowledgement of writes made under [`crate::Engine::deferring_durability`]: a
/// future that resolves once they are durable under the sync policy (`always`: fdatasynced;
/// interval: written), or fails as the write would have (a poisoned or closed log). Nothing
/// those writes did may be acknowledged to a client before it resolves `Ok`.
///
/// There is one future for WAL waits: this is the log's own [`crate::wal::WaitFor`] (its
/// polling, waking and blocking wait), or nothing to wait for (no write, or an engine in
/// memory, which has no log to make a `WaitFor` from). `WaitFor` stays the log's type (the
/// `wal` layer knows LSNs, not engines); this is the engine's public name for it, with
/// [`Durability::join`] for a pipeline.
#[must_use = "writes are not acknowledged until this resolves"]
#[derive(Debug)]
pub struct Durability(Option<crate::wal::WaitFor>);

impl Durability {
    /// The wait for a logged record.
    pub(crate) fn new(wait: crate::wal::WaitFor) -> Self {
        Durability(Some(wait))
    }

    /// Nothing to wait for (no write, or no log).
    pub(crate) fn ready() -> Self {
        Durability(None)
    }

    /// Whether there is nothing to wait for (no write, or no log): awaiting it returns at
    /// once.
    pub fn is_ready(&self) -> bool {
        self.0.is_none()
    }

    /// The outcome without awaiting, when [`Durability::is_ready`]; `None` otherwise.
    pub fn ready_result(self) -> Option<Result<()>> {
        match self.0 {
            None => Some(Ok(())),
            Some(_) => None,
        }
    }

    /// Blocks until it resolves (for a caller that is not async).
    pub fn wait(self) -> Result<()> {
        match self.0 {
            None => Ok(()),
            Some(f) => f.wait(),
        }
    }

    /// One acknowledgement for the writes of both: it resolves once the later of the two has
    /// (the log acknowledges in LSN order; a failed log fails both). A pipeline of writes
    /// awaits one of these instead of one per write.
    pub fn join(self, other: Durability) -> Durability {
        Durability(match (self.0, other.0) {
            (None, p) | (p, None) => p,
            (Some(a), Some(b)) => Some(if a.lsn() >= b.lsn() { a } else { b }),
        })
    }
}

impl std::future::Future for Durability {
    type Output = Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        match &mut self.0 {
            None => std::task::Poll::Ready(Ok(())),
            Some(f) => std::pin::Pin::new(f).poll(cx),
        }
    }
}

/// What recovery did at open.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The snapshot loaded, if any.
    pub snapshot: Option<PathBuf>,
    /// Its LSN (0 without one).
    pub snapshot_lsn: u64,
    /// Snapshots that failed validation and were skipped, with the reason.
    pub snapshots_skipped: Vec<String>,
    /// WAL records replayed.
    pub records_replayed: u64,
    /// Replayed records superseded by later state.
    pub records_superseded: u64,
    /// Bytes of a torn or corrupt WAL tail that were cut off.
    pub wal_bytes_truncated: u64,
    /// Where the WAL damage was, if any (a torn tail, or damage cut by
    /// `WalRecovery::TruncateAtDamage`).
    pub wal_damage: Option<String>,
    /// Damage among WAL records the snapshot covers: skipped, nothing lost.
    pub wal_covered_damage: Option<String>,
    /// Wall time of the whole open, in ms.
    pub open_ms: u64,
    /// Of which: validating and loading the snapshot, in µs.
    pub snapshot_us: u64,
    /// Of which: reading and checking the WAL, in µs.
    pub wal_us: u64,
    /// Of which: replaying the WAL records, in µs.
    pub replay_us: u64,
}

/// Durable state of an open engine.
pub(crate) struct Durable {
    pub dir: PathBuf,
    /// The write-ahead log: the engine waits on it, checkpoints and closes it.
    pub wal: Arc<Wal>,
    /// The same log as the store appends to it.
    pub log: Arc<Log>,
    pub report: RecoveryReport,
    /// Serialises checkpoints; holds the LSN of the newest snapshot.
    pub checkpoint: Mutex<u64>,
    pub last_checkpoint_ms: AtomicU64,
    /// Take a snapshot this many ms after the last one (0 = never by time).
    pub checkpoint_interval_ms: u64,
    /// Take a snapshot after this many bytes of WAL (0 = never by size).
    pub checkpoint_wal_bytes: u64,
    /// How long each snapshot took to write (`/metrics`).
    pub snapshot_durations: crate::analytics::hist::Durations,
}

/// Opens the data directory: loads the newest valid snapshot into `store`, replays the WAL.
/// Returns the store and the durable state; the caller attaches the sink after replay.
pub(crate) fn recover(
    config: &EngineConfig,
    dir: &Path,
    apply: impl Fn(&Arc<Store>, u8, &[u8]) -> Result<bool>,
) -> Result<(Arc<Store>, Durable)> {
    let started = Instant::now();
    std::fs::create_dir_all(dir)?;
    let mut report = RecoveryReport::default();
    // No TTL is judged and no cap enforced until the snapshot and the log are applied
    // (`Store::begin_recovery`).
    let recovering = || {
        let s = Arc::new(Store::new(config.store_config()));
        s.begin_recovery();
        s
    };
    let mut store = recovering();
    let mut first_error: Option<Error> = None;
    let snapshots = list_snapshots(dir)?;
    let mut consistent_lsn = 0;
    for (_, path) in &snapshots {
        // Every section's checksum is computed on helper threads while this thread loads
        // the (not yet verified) sections: the loaders trust no byte beyond bounds checks
        // (they never panic on any content: the snapshot_load fuzz target), nothing is
        // served before `finish` (open has not returned), and a mismatch discards the
        // loaded store, so a damaged snapshot is refused (or skipped) exactly as before.
        let loaded = Snapshot::open_deferring(path, |_| true).and_then(|(s, verify)| {
            let fresh = recovering();
            let load = fresh.load_snapshot(&s);
            verify.finish()?;
            load?;
            Ok((fresh, s.lsn, s.consistent_lsn))
        });
        match loaded {
            Ok((s, lsn, consistent)) => {
                store = s;
                report.snapshot = Some(path.clone());
                report.snapshot_lsn = lsn;
                consistent_lsn = consistent;
                break;
            }
            Err(e) if config.snapshot_recovery == SnapshotRecovery::Refuse => {
                return Err(refuse_snapshot(dir, &snapshots, path, e));
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "snapshot skipped");
                report.snapshots_skipped.push(e.to_string());
                first_error.get_or_insert(e);
            }
        }
    }
    report.snapshot_us = started.elapsed().as_micros() as u64;
    let lsn = report.snapshot_lsn;
    let wal_started = Instant::now();
    let (wal, replay) = Wal::open(
        dir.join("wal"),
        WalOptions {
            sync: config.wal_sync,
            io: config.wal_io,
            segment_bytes: config.wal_segment_bytes,
            replay_from_lsn: lsn + 1,
            recovery: config.wal_recovery,
            fault: config.wal_fault.clone(),
            // Replayed from the mapped segments: the log is not copied into the heap.
            map_records: true,
            ..Default::default()
        },
    )
    .map_err(|e| match e {
        // The log's refusal of damage that is not a torn tail: say what the choices are.
        Error::Corrupt {
            file,
            offset,
            reason,
        } if config.wal_recovery == WalRecovery::Refuse => Error::Corrupt {
            file,
            offset,
            reason: format!(
                "{reason}. Choices: see what each keeps with `sutra-cache check {}`; start \
                 from what precedes the damage with --wal-recovery=truncate-at-damage \
                 (EngineConfig::wal_recovery; the records after it are lost for good); or \
                 restore the directory from a copy",
                dir.display()
            ),
        },
        e => e,
    })?;
    let wal = Arc::new(wal);
    // Without a usable snapshot, the log must reach back to the first record.
    if report.snapshot.is_none() {
        if let Some(e) = first_error {
            let complete = replay.stats.records_skipped == 0
                && replay.mapped.first_lsn().is_none_or(|l| l <= 1);
            if !complete {
                return Err(e);
            }
        }
    }
    if let Some(first) = replay.mapped.first_lsn() {
        if first > lsn + 1 && lsn > 0 {
            return Err(Error::Corrupt {
                file: dir.join("wal").display().to_string(),
                offset: 0,
                reason: format!("the log starts at LSN {first} but the snapshot ends at {lsn}"),
            });
        }
    }
    report.wal_bytes_truncated = replay.stats.bytes_truncated;
    report.wal_damage = replay.stats.damage.clone();
    report.wal_covered_damage = replay.stats.covered_damage.clone();
    report.wal_us = wal_started.elapsed().as_micros() as u64;
    let replay_started = Instant::now();
    // How many elements the log adds to each vector set: each set's arrays are sized once.
    let mut adds: std::collections::HashMap<(u32, &[u8]), usize> = Default::default();
    for (_, kind, payload) in replay.mapped.iter() {
        if let Some((db, key, n)) = crate::store::record::vadd_count(kind, payload) {
            *adds.entry((db, key)).or_default() += n;
        }
    }
    store.expect_replayed_adds(
        adds.into_iter()
            .map(|((db, k), n)| ((db, k.into()), n))
            .collect(),
    );
    // Blob values are served from the log's mappings, as a snapshot's from its: no copy, no
    // fresh heap pages (`Store::blob_value`). A segment stays mapped while one of its values
    // lives, and the log deletes such a segment instead of reusing it.
    let regions: Vec<RegionHandle> = replay
        .mapped
        .segment_maps()
        .map(|m| RegionHandle::shared(m.clone()))
        .collect();
    let mut last = lsn;
    for (r_lsn, kind, payload) in replay.mapped.iter() {
        match apply(&store, kind, payload) {
            Ok(true) => report.records_replayed += 1,
            Ok(false) => report.records_superseded += 1,
            Err(e) => {
                return Err(Error::Corrupt {
                    file: dir.join("wal").display().to_string(),
                    offset: 0,
                    reason: format!("record at LSN {r_lsn} does not decode: {e}"),
                })
            }
        }
        last = last.max(r_lsn);
    }
    drop(regions);
    // The image was copied while writes went on: without the log up to the point the copy
    // ended it may mix states (that log was made durable before the snapshot was renamed,
    // so only damage to the log gets here).
    if last < consistent_lsn {
        return Err(Error::Corrupt {
            file: dir.join("wal").display().to_string(),
            offset: 0,
            reason: format!(
                "the log ends at LSN {last}, before LSN {consistent_lsn} which snapshot {} needs; \
                 move that snapshot away to start from the one before it",
                report
                    .snapshot
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ),
        });
    }
    // Exactly the log's LSN: replaying through the ordinary calls counts one LSN per write
    // applied, more than the log's for a group (one record, many writes).
    store.reset_lsn(last.max(wal.next_lsn().saturating_sub(1)));
    store.end_recovery();
    if let Some(limit) = config.replication_backlog_at_open {
        // Before any append: the backlog holds the log's tail and every record after it.
        let b = wal.backlog_seeded(limit, &replay.mapped.tail_copies(limit));
        tracing::info!(
            first = b.first_lsn(),
            next = b.next_lsn(),
            "replication backlog made from the log's tail"
        );
    }
    report.replay_us = replay_started.elapsed().as_micros() as u64;
    report.open_ms = started.elapsed().as_millis() as u64;
    tracing::info!(
        snapshot = ?report.snapshot,
        replayed = report.records_replayed,
        ms = report.open_ms,
        snapshot_us = report.snapshot_us,
        wal_us = report.wal_us,
        replay_us = report.replay_us,
        wal_io = wal.io_kind(),
        "recovered"
    );
    let now = store.now_ms();
    Ok((
        store,
        Durable {
            dir: dir.to_path_buf(),
            log: Arc::new(Log::wal(wal.clone())),
            wal,
            report,
            checkpoint: Mutex::new(lsn),
            last_checkpoint_ms: AtomicU64::new(now),
            checkpoint_interval_ms: config.checkpoint_interval_ms,
            checkpoint_wal_bytes: config.checkpoint_wal_bytes,
            snapshot_durations: Default::default(),
        },
    ))
}

/// The refusal of a snapshot that does not validate, with the choices: whether an older
/// snapshot validates and the log covers the gap from it to the bad one (nothing lost).
fn refuse_snapshot(dir: &Path, snapshots: &[(u64, PathBuf)], bad: &Path, e: Error) -> Error {
    let (file, offset, why) = match e {
        Error::Corrupt {
            file,
            offset,
            reason,
        } => (file, offset, reason),
        e => (bad.display().to_string(), 0, e.to_string()),
    };
    let bad_lsn = snapshots
        .iter()
        .find(|(_, p)| p == bad)
        .map_or(0, |(l, _)| *l);
    let older = snapshots
        .iter()
        .filter(|(l, _)| *l < bad_lsn)
        .find(|(_, p)| {
            Snapshot::open_deferring(p, |_| false)
                .and_then(|(_, v)| v.finish())
                .is_ok()
        });
    let from = older.map_or(0, |(l, _)| *l);
    let from_name = older.map_or("no snapshot".to_string(), |(_, p)| {
        format!("snapshot {}", p.display())
    });
    let log = crate::wal::inspect(&dir.join("wal"), from + 1).ok();
    let covers = log.as_ref().is_some_and(|w| {
        let first = w.next_lsn - w.records_replayed;
        !w.mid_log_damage && first <= from + 1 && w.next_lsn > bad_lsn
    });
    let fallback = if covers {
        format!(
            "start with --snapshot-recovery=use-older (EngineConfig::snapshot_recovery): it \
             loads {from_name} and replays the log from LSN {}, which reaches past this \
             snapshot's LSN {bad_lsn}: nothing is lost",
            from + 1
        )
    } else {
        format!(
            "--snapshot-recovery=use-older would load {from_name}, but the log does not hold \
             every record from LSN {} to this snapshot's LSN {bad_lsn}, so the open would still \
             refuse; restore the file from a copy",
            from + 1
        )
    };
    Error::Corrupt {
        file,
        offset,
        reason: format!(
            "{why}; refusing to open (nothing was changed). Choices: {fallback}; see what \
             each keeps with `sutra-cache check {}`",
            dir.display()
        ),
    }
}

impl Durable {
    /// Whether the time or WAL-size trigger has fired.
    pub fn checkpoint_due(&self, store: &Store) -> bool {
        let cfg = self;
        let since = store
            .now_ms()
            .saturating_sub(self.last_checkpoint_ms.load(Ordering::Relaxed));
        let bytes = self.log.bytes_since_checkpoint.load(Ordering::Relaxed);
        (cfg.checkpoint_interval_ms > 0 && since >= cfg.checkpoint_interval_ms && bytes > 0)
            || (cfg.checkpoint_wal_bytes > 0 && bytes >= cfg.checkpoint_wal_bytes)
    }

    /// Writes a snapshot of `store`, then drops snapshots and WAL segments no longer needed
    /// (the previous snapshot and the log from its LSN stay, as a fallback).
    pub fn checkpoint(&self, store: &Store) -> Result<u64> {
        let mut last = self.checkpoint.lock();
        // Never inside a MULTI/EXEC group: its writes are applied before it is logged.
        let lsn = {
            let _group = store.group_gate.read();
            store.last_lsn()
        };
        self.log.bytes_since_checkpoint.store(0, Ordering::Relaxed);
        // Every write the fuzzy copy may have seen is logged by the time it ends; making the
        // log durable that far before the file is renamed means any image on disk can be
        // made exact by its log, whatever the sync policy.
        let started = Instant::now();
        store.write_snapshot(&self.dir, lsn, || {
            let end = store.last_lsn();
            self.wal.flush()?;
            Ok(end)
        })?;
        self.snapshot_durations.record(started.elapsed());
        let previous = std::mem::replace(&mut *last, lsn);
        self.last_checkpoint_ms
            .store(store.now_ms(), Ordering::Relaxed);
        for (old, path) in list_snapshots(&self.dir)? {
            if old < previous {
                let _ = std::fs::remove_file(path);
            }
        }
        self.wal.truncate_before(previous + 1)?;
        Ok(lsn)
    }
}

#[cfg(test)]
mod tests {
    use crate::snapshot::{list_snapshots, Snapshot};
    use crate::store::{first_graph_image, Store, Value};
    use crate::{ElementAdd, Engine, EngineConfig, SyncPolicy, VectorSetOptions};

    #[test]
    fn a_snapshot_taken_before_the_saved_graph_was_restored_passes_it_on() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = EngineConfig {
            data_dir: Some(dir.path().to_path_buf()),
            wal_sync: SyncPolicy::Never,
            index_min_elements: 100,
            active_expire_interval_ms: 0,
            checkpoint_interval_ms: 0,
            checkpoint_wal_bytes: 0,
            ..Default::default()
        };
        let e = Engine::open(cfg.clone()).unwrap();
        for i in 0..500u64 {
            let v: Vec<f32> = (0..8u64)
                .map(|j| ((i * 2_654_435_761 + j * 40_503) % 1_000) as f32 - 500.0)
                .collect();
            let name = format!("e{i}");
            e.vadd(
                b"s",
                &VectorSetOptions::default(),
                ElementAdd::new(name.as_bytes(), &v),
            )
            .unwrap();
        }
        e.index_settle();
        e.close().unwrap(); // checkpoints, graph included
        let first = Snapshot::open(&list_snapshots(dir.path()).unwrap()[0].1).unwrap();
        let saved = first_graph_image(&first);
        assert!(saved.nodes() > 0);

        // A store loaded from it, with no indexer running: the saved graph waits. A snapshot
        // of that store must carry the saved graph on, not drop it.
        let cfg = EngineConfig {
            data_dir: None,
            ..cfg
        };
        let store = Store::new(cfg.store_config());
        store.load_snapshot(&first).unwrap();
        let out = tempfile::tempdir().unwrap();
        let second = Snapshot::open(
            &store
                .write_snapshot(out.path(), first.lsn, || Ok(first.lsn))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(first_graph_image(&second), saved);

        // And that one restores: every node comes back without an insert.
        let again = Store::new(cfg.store_config());
        again.load_snapshot(&second).unwrap();
        while again.index_step() {}
        let restored: usize = again
            .shards
            .iter()
            .flat_map(|sh| {
                let data = sh.data.read();
                data.slots_from(0)
                    .filter_map(|(_, e)| match &e.value {
                        Value::VSet(set) => set.vindex.as_ref().map(|ix| ix.restored_nodes()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .sum();
        assert_eq!(restored, saved.nodes());
    }
}
