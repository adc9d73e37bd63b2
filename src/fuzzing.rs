//! Doorways for the coverage-guided fuzz targets under `fuzz/` (see `fuzz/README.md`): the
//! decoders that read bytes from outside, reachable from a crate that only links this one.
//! Nothing here is for applications; every function is a thin wrapper over the code a
//! server, a recovery or a C caller runs.
//!
//! - RESP framing and the inline splitter: [`resp_stream`], [`split_inline`];
//! - the HTTP request head on the RESP port: [`http_request`];
//! - commands against an in-memory engine, as a connection runs them: [`Session`];
//! - WAL records: [`apply_logged`] (a record's payload, as replay applies it),
//!   [`segment_bytes`] (a valid segment holding given records, to reach the payload decoders
//!   past the checksums) and [`scan_segments`] (segment files' bytes read by recovery's scan,
//!   in memory); a whole data directory opens through [`crate::Engine::open`];
//! - snapshots: [`write_snapshot`] (a file of given sections with valid checksums),
//!   [`open_snapshot`] (a snapshot file loaded as a data directory's open loads it, into an
//!   in-memory engine) and [`snapshot_sections`] (a file's sections, for seeds).
//!
//! The FILTER parser is public already ([`crate::Filter`]), and so is the C ABI
//! ([`quiet_c_abi_opens`] makes its opens start no thread).

use std::path::{Path, PathBuf};

pub use crate::server::fuzzing::{
    http_request, resp_stream, small_analytics, small_limits, split_inline, Parsed, Session,
};
pub use crate::server::FrameLimits;

use crate::error::{Error, Result};
use crate::wal::format::{encode_record_unsealed, seal_record, SegmentHeader};
use crate::wal::{RecoveryStats, WalRecord};
use crate::{Engine, EngineConfig};

/// Applies one WAL record (kind byte and payload as the log stores them) as replay does.
/// `Ok(false)`: the record was superseded; `Err`: the payload does not decode.
pub fn apply_logged(engine: &Engine, kind: u8, payload: &[u8]) -> Result<bool> {
    engine.apply_logged(kind, payload)
}

/// The name of the live segment file whose first record is `first_lsn`, inside `<dir>/wal`.
pub fn segment_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.seg")
}

/// A whole segment file (header, then `records` with LSNs from `first_lsn`, checksummed under
/// `seed`), as the log writes one.
pub fn segment_bytes(seed: u64, first_lsn: u64, records: &[(u8, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (kind, payload)) in records.iter().enumerate() {
        let at = body.len();
        encode_record_unsealed(&mut body, first_lsn + i as u64, *kind, payload);
        seal_record(seed, &mut body[at..]);
    }
    let header = SegmentHeader {
        seed,
        first_lsn: first_lsn.max(1),
        capacity: (64 + body.len()) as u64,
    };
    let mut file = header.encode().to_vec();
    file.extend_from_slice(&body);
    file
}

/// Writes `snapshot-<lsn>.snap` into `dir` holding `sections` (kind, tag, bytes), with valid
/// checksums, as a checkpoint writes one.
pub fn write_snapshot(dir: &Path, lsn: u64, sections: &[(u32, u32, &[u8])]) -> Result<PathBuf> {
    let mut w = crate::snapshot::SnapshotWriter::create(dir, lsn, 0)?;
    for (kind, tag, bytes) in sections {
        w.section(*kind, *tag, &[bytes])?;
    }
    w.finish(lsn)
}

/// A snapshot section: kind, tag and bytes.
pub type Section = (u32, u32, Vec<u8>);

/// The LSN and sections of the snapshot file at `path`.
pub fn snapshot_sections(path: &Path) -> Result<(u64, Vec<Section>)> {
    let (snap, verify) = crate::snapshot::Snapshot::open_deferring(path, |_| false)?;
    verify.finish()?;
    let sections = snap
        .sections()
        .map(|(kind, tag, bytes)| (kind, tag, bytes.to_vec()))
        .collect();
    Ok((snap.lsn, sections))
}

/// Recovery's scan of WAL segment files held in memory: `segments` are the LSNs their names
/// carry (`wal-<lsn>.seg`, see [`segment_name`]) and their bytes. What a data directory's open
/// would find (as [`crate::wal::inspect`] reports it: damage, torn tail, counts) and the
/// records from `replay_from_lsn` on that it would replay, with no file opened.
pub fn scan_segments(
    segments: &[(u64, &[u8])],
    replay_from_lsn: u64,
) -> Result<(RecoveryStats, Vec<WalRecord>)> {
    crate::wal::inspect_bytes(segments, replay_from_lsn)
}

/// An in-memory engine (`config` names no data directory) holding what the snapshot file
/// at `path` holds, loaded the way a data directory's open loads its newest snapshot
/// (`engine::durable::recover`): the file opened with every section's checksum deferred,
/// the sections loaded into the empty store in recovery mode, the checksums finished, the
/// LSN set, the recovery ended and the caps enforced. An error is what that open would
/// refuse the snapshot with. What it leaves out is the rest of an open: no WAL (so the log
/// is taken to end at the snapshot's LSN), no lock, analytics or WAL files, no writer
/// thread, and the analytics' baseline is the empty store's.
pub fn open_snapshot(config: EngineConfig, path: &Path) -> Result<Engine> {
    let engine = Engine::open(config)?;
    let store = &engine.store;
    let (snap, verify) = crate::snapshot::Snapshot::open_deferring(path, |_| true)?;
    store.begin_recovery();
    let load = store.load_snapshot(&snap);
    verify.finish()?;
    load?;
    if snap.consistent_lsn > snap.lsn {
        return Err(Error::Corrupt {
            file: path.display().to_string(),
            offset: 0,
            reason: format!(
                "the log ends at LSN {}, before LSN {} which the snapshot needs",
                snap.lsn, snap.consistent_lsn
            ),
        });
    }
    store.reset_lsn(snap.lsn);
    store.end_recovery();
    store.enforce_caps(&crate::store::Appends::new());
    Ok(engine)
}

/// From now on in this process, every `sutra_cache_open` of the C ABI opens its engine
/// as the other fuzz targets open theirs: no background thread (neither the maintenance
/// tick nor the indexer), fixed hash seeds, a small analytics lookup log. The `ffi_args`
/// target calls it once, before AFL++'s fork server starts.
pub fn quiet_c_abi_opens() {
    crate::ffi::quiet_opens();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SetOptions;

    #[test]
    fn a_scan_in_memory_gives_back_the_records_a_segment_holds_and_finds_damage() {
        let records: Vec<(u8, &[u8])> = vec![(1, b"one"), (2, b""), (7, &[0xAB; 300])];
        let seg = segment_bytes(0x5eed, 1, &records);
        let (stats, got) = scan_segments(&[(1, &seg)], 1).unwrap();
        assert_eq!(stats.damage, None);
        assert_eq!(stats.records_replayed, 3);
        let want: Vec<WalRecord> = records
            .iter()
            .enumerate()
            .map(|(i, (kind, payload))| WalRecord {
                lsn: i as u64 + 1,
                kind: *kind,
                payload: payload.to_vec(),
            })
            .collect();
        assert_eq!(got, want);
        // From LSN 3 on, the first two are the snapshot's.
        let (stats, got) = scan_segments(&[(1, &seg)], 3).unwrap();
        assert_eq!((stats.records_skipped, &got[..]), (2, &want[2..]));
        // The second record's checksum flipped: a valid record follows it, damage mid-log.
        let mut bad = seg.clone();
        let second = 64 + crate::wal::format::record_size(3);
        bad[second + 4] ^= 1;
        let (stats, got) = scan_segments(&[(1, &bad)], 1).unwrap();
        assert!(stats.mid_log_damage, "{stats:?}");
        assert_eq!(got, want[..1]);
    }

    #[test]
    fn a_snapshot_opened_in_memory_holds_what_the_checkpoint_held_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(EngineConfig {
            data_dir: Some(dir.path().to_path_buf()),
            ..EngineConfig::default()
        })
        .unwrap();
        engine.set(b"k", b"v", SetOptions::default()).unwrap();
        engine.checkpoint().unwrap();
        engine.close().unwrap();
        let (_, snap) = crate::snapshot::list_snapshots(dir.path()).unwrap()[0].clone();
        let loaded = open_snapshot(EngineConfig::default(), &snap).unwrap();
        assert_eq!(loaded.get(b"k").unwrap(), Some(b"v".to_vec()));
        let mut bytes = std::fs::read(&snap).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&snap, &bytes).unwrap();
        assert!(matches!(
            open_snapshot(EngineConfig::default(), &snap),
            Err(Error::Corrupt { .. })
        ));
    }
}
