//! Snapshots: point-in-time images as files of checksummed sections, laid out so that opening
//! maps them (memmap2) instead of parsing them. This module knows files, sections and
//! checksums, not vectors: the store decides what the sections hold.
//!
//! # File format, version 1
//!
//! All integers little-endian. Every section starts at a multiple of 4096 bytes, so
//! an array section can be mapped and cast (bytemuck) to `&[f32]` / `&[i8]` in place.
//!
//! Header, bytes 0..64:
//!
//! | offset | size | field                                                   |
//! |--------|------|---------------------------------------------------------|
//! | 0      | 8    | magic `SUTRASNP`                                        |
//! | 8      | 4    | format version (1)                                      |
//! | 12     | 4    | section count `n`                                       |
//! | 16     | 8    | LSN: every record with a smaller or equal LSN is in the image |
//! | 24     | 8    | creation time, ms since the Unix epoch                  |
//! | 32     | 8    | offset of the table of contents                         |
//! | 40     | 8    | file length                                             |
//! | 48     | 4    | crc32c of the table of contents                         |
//! | 52     | 8    | consistent LSN: the log must be replayed at least this far for the image to be exact (0 in older files: the LSN) |
//! | 60     | 4    | crc32c of bytes 0..60                                   |
//!
//! Table of contents: `n` entries of 32 bytes: kind u32, tag u32 (the store's own, e.g. which
//! vector set), offset u64, length u64, crc32c u32 of the section's bytes, reserved u32.
//!
//! Invariants checked on open, each failure an error naming the file and offset, never a panic:
//! header CRC, magic, version, file length equal to the header's, TOC inside the file and its
//! CRC, every section inside the file, aligned, and matching its CRC.
//!
//! The store copies its content while writes go on (in pieces, each under a shard's read
//! lock, so no write waits for the whole copy): the image may hold effects of records after
//! its LSN, each of which is in the log by the time the file is renamed into place (the
//! writer fdatasyncs the log up to the consistent LSN first). Replaying from LSN + 1 (records
//! are absolute and idempotent) makes it exact; recovery refuses an image whose log ends
//! before its consistent LSN.
//!
//! Crash safety: a snapshot is written to `<name>.tmp`, fsynced, renamed, and the directory
//! fsynced; a crash at any step leaves either no snapshot of that LSN or a complete one.
//! Leftover `.tmp` files are deleted on open.
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

mod blob;
mod file;

pub(crate) use blob::{BlobBytes, RegionHandle};
pub(crate) use file::{list_snapshots, MappedArray, Snapshot, SnapshotWriter};

#[cfg(target_endian = "big")]
compile_error!("snapshots map little-endian arrays in place: big-endian hosts are not supported");
