//! Doorways for the coverage-guided fuzz targets under `fuzz/` (see `fuzz/README.md`): the
//! decoders that read bytes from outside, reachable from a crate that only links this one.
//! Nothing here is for applications; every function is a thin wrapper over the code a
//! server, a recovery or a C caller runs.
//!
//! - RESP framing and the inline splitter: [`resp_stream`], [`split_inline`];
//! - the HTTP request head on the RESP port: [`http_request`];
//! - commands against an in-memory engine, as a connection runs them: [`Session`];
//! - WAL records: [`apply_logged`] (a record's payload, as replay applies it) and
//!   [`segment_bytes`] (a valid segment holding given records, to reach the payload decoders
//!   past the checksums); a whole data directory opens through [`crate::Engine::open`];
//! - snapshots: [`write_snapshot`] (a file of given sections with valid checksums) and
//!   [`snapshot_sections`] (a file's sections, for seeds).
//!
//! The FILTER parser is public already ([`crate::Filter`]), and so is the C ABI.

use std::path::{Path, PathBuf};

pub use crate::server::fuzzing::{
    http_request, resp_stream, small_analytics, small_limits, split_inline, Parsed, Session,
};
pub use crate::server::FrameLimits;

use crate::error::Result;
use crate::wal::format::{encode_record_unsealed, seal_record, SegmentHeader};
use crate::Engine;

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
