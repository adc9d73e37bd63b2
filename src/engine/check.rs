//! `check`: what opening a data directory would find, computed without changing it.
//!
//! Mirrors `durable::recover` step by step (newest snapshot that validates and loads, the
//! log from its LSN, the same refusals) but reads segments instead of repairing them and
//! lists `.tmp` leftovers instead of removing them.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::EngineConfig;
use crate::error::{Error, Result};
use crate::snapshot::Snapshot;
use crate::store::Store;
use crate::wal::RecoveryStats;

/// One snapshot file and whether it validates (header, table of contents, every section's
/// checksum) and loads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotCheck {
    /// The file.
    pub path: PathBuf,
    /// The LSN in its name.
    pub lsn: u64,
    /// `None` when it validates and loads; else what is wrong (file, offset, reason).
    pub damage: Option<String>,
}

/// What [`check_data_dir`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDirCheck {
    /// Snapshot files, newest first, each checked.
    pub snapshots: Vec<SnapshotCheck>,
    /// The snapshot an open would load (the newest that checks out).
    pub loads: Option<PathBuf>,
    /// The log as recovery would read it from that snapshot's LSN on: records it would
    /// replay, where it is damaged and how many bytes and segments it would cut.
    pub wal: RecoveryStats,
    /// The last LSN an open would recover (snapshot and log together).
    pub last_lsn: u64,
    /// Half-written files a crash left (an open deletes them).
    pub leftovers: Vec<PathBuf>,
    /// `Some(reason)` when an open with the default recovery settings would refuse the
    /// directory: a damaged newest snapshot, WAL damage that is not a torn tail, or a log
    /// that does not reach the snapshot.
    pub refusal: Option<String>,
    /// What each recovery choice would do about the damage found (empty when there is
    /// none): one line per choice, naming the option and what it keeps and loses.
    pub choices: Vec<String>,
}

impl DataDirCheck {
    /// Nothing damaged, nothing an open would cut or skip.
    pub fn is_clean(&self) -> bool {
        self.refusal.is_none()
            && self.wal.damage.is_none()
            && self.wal.covered_damage.is_none()
            && self.wal.segments_discarded == 0
            && self.snapshots.iter().all(|s| s.damage.is_none())
    }
}

/// Checks the data directory `dir` offline: every snapshot's checksums and contents, every
/// WAL segment header and record checksum, and whether an open would succeed. Changes
/// nothing. Fails when `dir` is not a readable directory, or when a running server holds
/// its log (its appends would look like a torn tail).
pub fn check_data_dir(dir: &Path) -> Result<DataDirCheck> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("{}: {e}", dir.display()),
        ))
    })?;
    if !meta.is_dir() {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} is not a directory", dir.display()),
        )));
    }
    let wal_dir = dir.join("wal");
    if crate::wal::in_use(&wal_dir)? {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::WouldBlock,
            format!(
                "{} is in use by a running server: stop it, or check a copy of the directory",
                dir.display()
            ),
        )));
    }
    let mut snapshots = Vec::new();
    let mut leftovers = Vec::new();
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snapshot-") && name.ends_with(".snap.tmp") {
            leftovers.push(entry.path());
        } else if let Some(lsn) = name
            .strip_prefix("snapshot-")
            .and_then(|r| r.strip_suffix(".snap"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            snapshots.push(SnapshotCheck {
                path: entry.path(),
                lsn,
                damage: None,
            });
        }
    }
    if let Ok(rd) = std::fs::read_dir(&wal_dir) {
        for entry in rd.flatten() {
            let name = entry.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.starts_with("wal-") && n.ends_with(".tmp"))
            {
                leftovers.push(entry.path());
            }
        }
    }
    leftovers.sort();
    snapshots.sort_by_key(|s| std::cmp::Reverse(s.lsn));

    let config = EngineConfig::default();
    let mut loads = None;
    let (mut snap_lsn, mut consistent_lsn) = (0, 0);
    for s in &mut snapshots {
        let loaded = Snapshot::open_deferring(&s.path, |_| false).and_then(|(snap, verify)| {
            verify.finish()?;
            Arc::new(Store::new(config.store_config())).load_snapshot(&snap)?;
            Ok((snap.lsn, snap.consistent_lsn))
        });
        match loaded {
            Ok((lsn, consistent)) if loads.is_none() => {
                loads = Some(s.path.clone());
                snap_lsn = lsn;
                consistent_lsn = consistent;
            }
            Ok(_) => {}
            Err(e) => s.damage = Some(e.to_string()),
        }
    }
    let wal = if wal_dir.is_dir() {
        crate::wal::inspect(&wal_dir, snap_lsn + 1)?
    } else {
        RecoveryStats {
            next_lsn: 1,
            ..Default::default()
        }
    };
    let valid = wal.records_replayed + wal.records_skipped;
    let first_wal_lsn = (valid > 0 && wal.segments_covered == 0).then(|| wal.next_lsn - valid);
    let first_replayed = (wal.records_replayed > 0).then(|| wal.next_lsn - wal.records_replayed);
    let last_lsn = if wal.records_replayed > 0 {
        wal.next_lsn - 1
    } else {
        snap_lsn
    };
    let mut refusal = None;
    let mut choices = Vec::new();
    let loads_name = |p: &Option<PathBuf>| {
        p.as_ref().map_or("no snapshot".to_string(), |p| {
            format!("snapshot {}", p.display())
        })
    };
    // What the log cannot give the snapshot the fallback loads: a refusal whatever is chosen.
    let mut hard = None;
    let any_damaged = snapshots.iter().any(|s| s.damage.is_some());
    if loads.is_none() && any_damaged && first_wal_lsn.is_some_and(|f| f > 1) {
        hard = Some(format!(
            "no snapshot loads and the log starts at LSN {}, not 1",
            first_wal_lsn.unwrap_or(0)
        ));
    } else if let Some(first) = first_replayed.filter(|&f| snap_lsn > 0 && f > snap_lsn + 1) {
        hard = Some(format!(
            "the log starts at LSN {first} but the snapshot ends at {snap_lsn}"
        ));
    } else if last_lsn < consistent_lsn {
        hard = Some(format!(
            "the log ends at LSN {last_lsn}, before LSN {consistent_lsn} which the snapshot \
             needs; move that snapshot away to start from the one before it"
        ));
    }
    if let Some(newest) = snapshots.first().filter(|s| s.damage.is_some()) {
        refusal = Some(format!(
            "the newest snapshot {} is damaged: {}",
            newest.path.display(),
            newest.damage.as_deref().unwrap_or_default()
        ));
        let covers = hard.is_none() && !wal.mid_log_damage && last_lsn >= newest.lsn;
        choices.push(if covers {
            format!(
                "--snapshot-recovery=use-older: loads {} and replays the log to LSN {last_lsn}, \
                 past the damaged snapshot's LSN {}: nothing is lost",
                loads_name(&loads),
                newest.lsn
            )
        } else {
            format!(
                "--snapshot-recovery=use-older: would load {}, but the log does not cover \
                 everything up to the damaged snapshot's LSN {} (see below): restore the \
                 snapshot from a copy",
                loads_name(&loads),
                newest.lsn
            )
        });
    }
    if wal.mid_log_damage {
        refusal.get_or_insert_with(|| {
            format!(
                "the WAL is damaged before its end: {}",
                wal.damage.as_deref().unwrap_or_default()
            )
        });
        choices.push(format!(
            "--wal-recovery=truncate-at-damage: keeps the log up to LSN {last_lsn} and drops \
             for good the {} record(s) that check out after the damage ({} byte(s) cut, {} \
             later segment file(s) recycled)",
            wal.records_after_damage, wal.bytes_truncated, wal.segments_discarded
        ));
    }
    if let Some(h) = hard {
        refusal = Some(match refusal {
            Some(r) => format!("{r}; and {h}"),
            None => h,
        });
    }
    Ok(DataDirCheck {
        snapshots,
        loads,
        wal,
        last_lsn,
        leftovers,
        refusal,
        choices,
    })
}
