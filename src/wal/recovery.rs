//! Recovery: reads the segments in LSN order, validates every header and record, returns
//! the valid prefix of the log, and repairs the directory so that what was cut off can
//! never come back (the damaged tail is zeroed, unreachable segments are recycled).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::format::{
    decode_record, record_size, RecordError, SegmentHeader, RECORD_ALIGN, RECORD_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
};
use super::segment::{parse_name, sync_dir, Sealed, SegmentDir};

/// One replayed record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalRecord {
    /// Its log sequence number.
    pub lsn: u64,
    /// The kind byte given to `append`.
    pub kind: u8,
    /// The payload given to `append`.
    pub payload: Vec<u8>,
}

/// What recovery found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    /// Live segment files whose records were read.
    pub segments: usize,
    /// Records returned for replay (those at or above `replay_from_lsn`).
    pub records_replayed: u64,
    /// Valid records skipped because they are below `replay_from_lsn`.
    pub records_skipped: u64,
    /// Bytes of damaged or unreachable records cut off (0 on a clean log).
    pub bytes_truncated: u64,
    /// Segment files recycled because they followed the damage or had a bad header.
    pub segments_discarded: usize,
    /// Where the damage was, when there was any: file, offset and reason.
    pub damage: Option<String>,
    /// The LSN the next append gets.
    pub next_lsn: u64,
}

/// The live segment recovery ends in, which the writer goes on appending to.
#[derive(Debug)]
pub(crate) struct Tail {
    pub path: PathBuf,
    pub header: SegmentHeader,
    pub file_len: u64,
    pub end: u64,
    pub last_lsn: u64,
}

/// Everything [`recover`] hands to the writer.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub records: Vec<WalRecord>,
    pub stats: RecoveryStats,
    pub dir: SegmentDir,
    pub tail: Option<Tail>,
}

fn damage_of(err: RecordError) -> Option<&'static str> {
    match err {
        // The header carries the expected LSN but the record does not check out: a torn or
        // damaged record.
        RecordError::Checksum => Some("record checksum mismatch"),
        RecordError::LenOutOfBounds => Some("record length past the end of the file"),
        // Zeros, stale bytes or the end of the file: the end of the log, unless records of
        // this segment's life follow (checked by the caller).
        RecordError::Lsn(_) | RecordError::Short => None,
    }
}

/// End of the last record past `from` that checks out under `seed` with an LSN at or above
/// `min_lsn`: evidence that the log went on after `from`.
fn last_valid_record_end(buf: &[u8], from: usize, seed: u64, min_lsn: u64) -> Option<usize> {
    let mut end = None;
    let mut off = from + RECORD_ALIGN;
    while off + RECORD_HEADER_BYTES <= buf.len() {
        let mut l = [0u8; 8];
        l.copy_from_slice(&buf[off + 8..off + 16]);
        let lsn = u64::from_le_bytes(l);
        if lsn >= min_lsn && lsn - min_lsn < (1 << 32) {
            if let Ok(r) = decode_record(buf, off, seed, None) {
                end = Some((off + r.size).min(buf.len()));
            }
        }
        off += RECORD_ALIGN;
    }
    end
}

/// A segment's bytes for reading: mapped, not copied (segments are pre-allocated to tens of
/// MiB and mostly unwritten; reading them into the heap was most of the WAL's open time).
enum SegmentBytes {
    Empty,
    Mapped(memmap2::Mmap),
    /// Read into the heap: [`inspect`] holds no lock, so it must not map a file a live
    /// writer may change.
    Owned(Vec<u8>),
}

impl std::ops::Deref for SegmentBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegmentBytes::Empty => &[],
            SegmentBytes::Mapped(m) => m,
            SegmentBytes::Owned(v) => v,
        }
    }
}

/// Maps `path` read-only.
fn map_segment(path: &Path) -> io::Result<SegmentBytes> {
    let file = File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(SegmentBytes::Empty);
    }
    // SAFETY: the caller holds the directory's exclusive lock (`Wal::open` takes it before
    // recovery), so no other `Wal` writes or truncates the segment while it is mapped;
    // recovery itself only overwrites ranges (never shortens the file) and reads nothing of
    // the mapping after that.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(SegmentBytes::Mapped(map))
}

/// Writes zeros over `[from, to)` of `file` and fdatasyncs it.
fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    let chunk = vec![0u8; 1 << 20];
    let mut at = from;
    while at < to {
        let n = (to - at).min(chunk.len() as u64) as usize;
        file.write_all_at(&chunk[..n], at)?;
        at += n as u64;
    }
    file.sync_data()
}

/// Reads and repairs the WAL in `dir` (created if missing).
pub(crate) fn recover(dir: &Path, replay_from_lsn: u64, max_free: usize) -> io::Result<Recovered> {
    fs::create_dir_all(dir)?;
    scan(dir, replay_from_lsn, max_free, true)
}

/// What [`recover`] would find and cut in `dir`, without changing anything there (no
/// zeroing, no recycling, no removal of half-created segments) and without keeping the
/// records: `records_skipped` counts the valid records below `replay_from_lsn`,
/// `records_replayed` those from it on. Segments are read, not mapped, so a live writer's
/// appends cannot invalidate the scan's memory (they can make its tail look torn).
pub fn inspect(dir: &Path, replay_from_lsn: u64) -> io::Result<RecoveryStats> {
    Ok(scan(dir, replay_from_lsn, 0, false)?.stats)
}

fn scan(dir: &Path, replay_from_lsn: u64, max_free: usize, repair: bool) -> io::Result<Recovered> {
    let map_segment = |path: &Path| -> io::Result<SegmentBytes> {
        if repair {
            map_segment(path)
        } else {
            Ok(SegmentBytes::Owned(fs::read(path)?))
        }
    };
    let mut live: Vec<(u64, PathBuf)> = Vec::new();
    let mut segdir = SegmentDir::default();
    let mut frees: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(lsn) = parse_name(name, "wal-") {
            live.push((lsn, entry.path()));
        } else if let Some(id) = parse_name(name, "free-") {
            frees.push((id, entry.path()));
        } else if repair && name.starts_with("wal-") && name.ends_with(".tmp") {
            fs::remove_file(entry.path())?;
        }
    }
    live.sort();
    frees.sort();
    segdir.next_free_id = frees.last().map_or(0, |(id, _)| id + 1);
    segdir.free = frees.into_iter().map(|(_, p)| p).collect();

    let mut stats = RecoveryStats::default();
    let mut records = Vec::new();
    let mut good: Vec<Tail> = Vec::new();
    let mut discard: Vec<PathBuf> = Vec::new();
    let mut expected: Option<u64> = None;
    let mut stopped = false;
    let mut dir_changed = false;
    let first_name_lsn = live.first().map(|(l, _)| *l);
    let mut mapped: Vec<SegmentBytes> = Vec::new();

    for (name_lsn, path) in live {
        let shown = path.display().to_string();
        if stopped {
            // Unreachable after the damage: count what it held, then recycle it.
            let buf = map_segment(&path)?;
            if let Ok(h) = SegmentHeader::decode(&buf) {
                let mut at = SEGMENT_HEADER_BYTES;
                let mut lsn = h.first_lsn;
                while let Ok(r) = decode_record(&buf, at, h.seed, Some(lsn)) {
                    stats.bytes_truncated += r.size.min(buf.len() - at) as u64;
                    at += r.size;
                    lsn += 1;
                }
            }
            discard.push(path);
            continue;
        }
        let buf = map_segment(&path)?;
        let header = match SegmentHeader::decode(&buf) {
            Ok(h) if h.first_lsn != name_lsn => Err(format!(
                "header first_lsn {} differs from the file name's {name_lsn}",
                h.first_lsn
            )),
            Ok(h) if expected.is_some_and(|e| e != h.first_lsn) => Err(format!(
                "segment starts at LSN {} but the log continues at {}",
                h.first_lsn,
                expected.unwrap_or(0)
            )),
            Ok(h) => Ok(h),
            Err(e) => Err(format!("segment header: {e}")),
        };
        let header = match header {
            Ok(h) => h,
            Err(reason) => {
                stats.damage = Some(format!("{shown} at offset 0: {reason}"));
                stopped = true;
                discard.push(path);
                continue;
            }
        };
        stats.segments += 1;
        let mut at = SEGMENT_HEADER_BYTES;
        let mut lsn = header.first_lsn;
        let stop = loop {
            match decode_record(&buf, at, header.seed, Some(lsn)) {
                Ok(r) => {
                    if lsn >= replay_from_lsn {
                        stats.records_replayed += 1;
                        if repair {
                            records.push(WalRecord {
                                lsn,
                                kind: r.kind,
                                payload: r.payload.to_vec(),
                            });
                        }
                    } else {
                        stats.records_skipped += 1;
                    }
                    // Stays aligned even when the file was cut inside the padding: the
                    // writer goes on at the aligned end.
                    at += r.size;
                    lsn += 1;
                }
                Err(e) => break e,
            }
        };
        let mut damage_end = None;
        let mut reason = damage_of(stop);
        if reason.is_some() {
            let mut l = [0u8; 4];
            l.copy_from_slice(&buf[at..at + 4]);
            let len = u32::from_le_bytes(l) as usize;
            damage_end = Some(at.saturating_add(record_size(len)).min(buf.len()));
        }
        if let Some(end) = last_valid_record_end(&buf, at, header.seed, lsn) {
            reason = reason.or(Some("valid records follow an unreadable one"));
            damage_end = Some(damage_end.map_or(end, |d: usize| d.max(end)));
        }
        if let (Some(reason), Some(end)) = (reason, damage_end) {
            stats.damage = Some(format!("{shown} at offset {at}: {reason}"));
            stats.bytes_truncated += (end - at) as u64;
            stopped = true;
            if repair {
                let file = OpenOptions::new().write(true).open(&path)?;
                zero_range(&file, at as u64, end as u64)?;
            }
        }
        expected = Some(lsn);
        good.push(Tail {
            path,
            header,
            file_len: buf.len() as u64,
            end: at as u64,
            last_lsn: lsn - 1,
        });
        mapped.push(buf);
    }
    // Unmapping scanned segments (every page faulted in) is left to a helper thread; if
    // none can be started, the closure and the maps are dropped here.
    if !mapped.is_empty() {
        let _ = std::thread::Builder::new()
            .name("sutra-unmap".into())
            .spawn(move || drop(mapped));
    }

    for path in &discard {
        stats.segments_discarded += 1;
        if repair {
            segdir.recycle(dir, path, max_free)?;
            dir_changed = true;
        }
    }
    if dir_changed {
        sync_dir(dir)?;
    }
    if let (Some(d), true) = (&stats.damage, repair) {
        tracing::warn!(
            damage = %d,
            bytes_truncated = stats.bytes_truncated,
            segments_discarded = stats.segments_discarded,
            "WAL damaged: truncated at the first bad record"
        );
    }
    let tail = good.pop();
    segdir.sealed = good
        .into_iter()
        .map(|t| Sealed {
            last_lsn: t.last_lsn,
            path: t.path,
        })
        .collect();
    stats.next_lsn = match &tail {
        Some(t) => t.last_lsn + 1,
        None => first_name_lsn.unwrap_or(1).max(1),
    };
    Ok(Recovered {
        records,
        stats,
        dir: segdir,
        tail,
    })
}
