//! The write-ahead log: bytes and LSNs, nothing about keys or vectors.
//!
//! A record is `(lsn, kind, payload)`: the WAL assigns the LSN (consecutive from 1), stores
//! the kind byte and payload opaquely, and gives them back in LSN order on the next open.
//! The on-disk format, its invariants and the crash cases it survives are specified in
//! [`format`].
//!
//! # How the engine uses it
//! ```text
//! open:    let (wal, replay) = Wal::open(dir, WalOptions { replay_from_lsn: snapshot_lsn + 1, .. })?;
//!          for r in replay.records { engine.apply(r.lsn, r.kind, &r.payload) }   // idempotent by LSN
//!          report replay.stats (bytes_truncated, damage) and wal.io_kind() in INFO
//! write:   validate → encode the mutation as (kind, payload)
//!          → let lsn = wal.append(kind, &payload)?      // blocks until acked per policy
//!          → apply to the store at `lsn` → acknowledge the client
//!          (or: let lsns = wal.enqueue(..)?; apply; wal.wait_for(lsns.end - 1)?; acknowledge)
//! batch:   wal.append_batch(&[(kind, &p1), (kind, &p2), ..])  // consecutive LSNs, one wait
//! snapshot: take it at LSN c (every record ≤ c applied), make it durable,
//!          then wal.truncate_before(c + 1) recycles the segments wholly below it
//! shutdown: wal.flush()?; checkpoint; wal.close()?
//! ```
//! Errors: [`crate::Error::WalPoisoned`] after any write or fdatasync failure (fail-stop:
//! every later append fails until the WAL is reopened; an fdatasync is never retried), and
//! while the disk is full (`ENOSPC`/`EDQUOT` from a write or a segment's pre-allocation: the
//! records not written are kept, appends and waits fail, the writer thread writes them again
//! every 100 ms and appends are accepted once it could — writes resume by themselves once
//! space is freed; a new segment needs its whole pre-allocated size),
//! [`crate::Error::TooLarge`] for a payload over [`Wal::max_payload_bytes`],
//! [`crate::Error::Closed`] after [`Wal::close`], [`crate::Error::Io`] when opening fails.
//!
//! # Sync policies ([`SyncPolicy`])
//! - `Always`: `append` returns after an fdatasync covering the record. Appenders that
//!   arrive while a write or fdatasync is in flight form the next batch: one write and one
//!   fdatasync per batch, and on io_uring the write of batch n+1 overlaps the fdatasync of
//!   batch n.
//! - `Interval(ms)`: `append` returns once the batch's write completed (page cache: survives
//!   `kill -9`); an fdatasync runs every `ms`.
//! - `Never`: as `Interval` without the periodic fdatasync ([`Wal::flush`] and
//!   [`Wal::close`] still sync).
//!
//! # I/O paths
//! Through the [`WalIo`] seam: [`UringIo`] (default when io_uring can be set up: the
//! fdatasync runs on the ring while the next batch is written with `pwrite`; see
//! [`UringIo`] for why the write is not a ring `WRITE` by default),
//! [`SyncIo`] (`pwrite` + `fdatasync`; chosen automatically when io_uring is unavailable, or
//! with [`IoChoice::Sync`]), [`FaultIo`] (tests). [`Wal::io_kind`] says which is active.
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

mod backlog;
pub mod format;
mod io;
mod log;
mod recovery;
mod segment;
#[cfg(target_os = "linux")]
mod uring;
mod writer;

pub use backlog::{Backlog, Changed, TailRead, TailRecord};
pub use io::{FaultIo, FaultPlan, SyncIo, WalIo};
pub use log::{in_use, IoChoice, Replay, WaitFor, Wal, WalOptions};
pub(crate) use recovery::inspect_bytes;
pub use recovery::{inspect, MappedRecords, RecoveryStats, WalRecord, WalRecovery};
#[cfg(target_os = "linux")]
pub use uring::UringIo;
pub use writer::SyncPolicy;
