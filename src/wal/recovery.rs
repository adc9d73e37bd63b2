//! Recovery: reads the segments in LSN order, validates every header and record, returns
//! the valid prefix of the log, and repairs the directory so that what was cut off can
//! never come back (the damaged tail is zeroed, unreachable segments are recycled).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{
    decode_record, record_size, RecordError, SegmentHeader, RECORD_ALIGN, RECORD_HEADER_BYTES,
    SEGMENT_HEADER_BYTES,
};
use super::segment::{live_name, parse_name, sync_dir, Sealed, SegmentDir};

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
    /// The damage cut is a torn tail: the last segment's last records do not check out and
    /// nothing valid follows them (a write a crash interrupted). Cut quietly.
    pub torn_tail: bool,
    /// The damage is not a torn tail (valid records follow it, later segments follow it, a
    /// segment header is bad or a segment file is cut short): [`WalRecovery::Refuse`]
    /// refuses to open, [`WalRecovery::TruncateAtDamage`] cuts the log there.
    pub mid_log_damage: bool,
    /// Records that check out after the damage (in its segment and in the later ones): what
    /// cutting the log there loses, at least.
    pub records_after_damage: u64,
    /// Damage found among records below `replay_from_lsn` (which a snapshot covers):
    /// skipped, the log read on from the next record that checks out.
    pub covered_damage: Option<String>,
    /// Segments wholly below `replay_from_lsn`, not read at all.
    pub segments_covered: usize,
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
    pub mapped: MappedRecords,
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

/// Whether `lsn` is a plausible LSN of this segment's life at or after `min_lsn`.
fn plausible(lsn: u64, min_lsn: u64) -> bool {
    lsn >= min_lsn && lsn - min_lsn < (1 << 32)
}

/// The first record past `from` (on the 8-byte grid) that checks out under `seed` with an
/// LSN at or above `min_lsn`: its offset and LSN.
fn next_valid_record(buf: &Segment, from: usize, seed: u64, min_lsn: u64) -> Option<(usize, u64)> {
    let mut off = from + RECORD_ALIGN;
    while off + RECORD_HEADER_BYTES <= buf.len() {
        // A record's header is never all zeros (its LSN is at least 1): candidates in a
        // range the file system holds no data for (a pre-allocated, never written part of
        // the segment) are skipped without reading it.
        off = buf.next_data(off)?;
        if off + RECORD_HEADER_BYTES > buf.len() {
            break;
        }
        let mut l = [0u8; 8];
        l.copy_from_slice(&buf[off + 8..off + 16]);
        let lsn = u64::from_le_bytes(l);
        if plausible(lsn, min_lsn) && decode_record(buf, off, seed, None).is_ok() {
            return Some((off, lsn));
        }
        off += RECORD_ALIGN;
    }
    None
}

/// The records past `from` that check out under `seed` with an LSN at or above `min_lsn`
/// (evidence that the log went on after `from`): how many, and where the last one ends.
fn valid_records_after(
    buf: &Segment,
    from: usize,
    seed: u64,
    min_lsn: u64,
) -> (u64, Option<usize>) {
    let (mut n, mut end) = (0, None);
    let mut at = from;
    while let Some((off, _)) = next_valid_record(buf, at, seed, min_lsn) {
        let size = decode_record(buf, off, seed, None).map_or(RECORD_ALIGN, |r| r.size);
        n += 1;
        end = Some((off + size).min(buf.len()));
        // The next candidate is past this record (its payload may hold record-like bytes).
        at = off + size.max(RECORD_ALIGN) - RECORD_ALIGN;
    }
    (n, end)
}

/// Records to replay as slices of the mapped segments (`WalOptions::map_records`): no
/// copy of the log into the heap. Dropping it unmaps the segments (on a helper thread when
/// they are big: `unmap`).
#[derive(Default)]
pub struct MappedRecords {
    segments: Vec<Segment>,
    /// `(lsn, kind, segment, payload start, payload end)`.
    records: Vec<(u64, u8, u32, usize, usize)>,
}

impl std::fmt::Debug for MappedRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MappedRecords")
            .field("records", &self.records.len())
            .finish()
    }
}

impl MappedRecords {
    /// How many records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The first record's LSN.
    pub fn first_lsn(&self) -> Option<u64> {
        self.records.first().map(|r| r.0)
    }

    /// The mappings the records lie in. A caller may keep one (a clone) after this is
    /// dropped, to serve bytes of its records in place: while one is kept, the log never
    /// writes over the file again (`SegmentDir::recycle` deletes it instead of reusing it;
    /// the active segment is only appended to), so the bytes stay those that were replayed.
    pub fn segment_maps(&self) -> impl Iterator<Item = &Arc<memmap2::Mmap>> + '_ {
        self.segments.iter().filter_map(|s| match &s.bytes {
            SegmentBytes::Mapped(m) => Some(m),
            _ => None,
        })
    }

    /// `(lsn, kind, payload)` in LSN order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u8, &[u8])> + '_ {
        self.records
            .iter()
            .map(|&(lsn, kind, seg, a, b)| (lsn, kind, &self.segments[seg as usize][a..b]))
    }

    /// Copies of the last records, at least `bytes` of payload of them when there are as
    /// many (what a replication backlog of that size is seeded with).
    pub fn tail_copies(&self, bytes: usize) -> Vec<WalRecord> {
        let mut start = self.records.len();
        let mut total = 0usize;
        while start > 0 && total <= bytes {
            start -= 1;
            let r = self.records[start];
            total += r.4 - r.3;
        }
        self.iter()
            .skip(start)
            .map(|(lsn, kind, p)| WalRecord {
                lsn,
                kind,
                payload: p.to_vec(),
            })
            .collect()
    }
}

impl Drop for MappedRecords {
    fn drop(&mut self) {
        unmap(std::mem::take(&mut self.segments));
    }
}

/// Mapped segments at least this big in all are unmapped on a helper thread.
const UNMAP_IN_BACKGROUND_BYTES: usize = 64 << 20;

/// Drops (unmaps) `segments`: on a helper thread when they are big (unmapping faulted-in
/// segments takes milliseconds per hundred MiB), else here (starting a thread costs more
/// than unmapping a few small files; a small log, a test's or a fuzz input's, would start
/// one at every open).
fn unmap(segments: Vec<Segment>) {
    let bytes: usize = segments.iter().map(|s| s.len()).sum();
    if bytes >= UNMAP_IN_BACKGROUND_BYTES {
        // If no thread can be started, the closure (and the mappings) is dropped here.
        let _ = std::thread::Builder::new()
            .name("sutra-unmap".into())
            .spawn(move || drop(segments));
    } else {
        drop(segments);
    }
}

/// What recovery does with damage that is not a torn tail (a record that does not check out
/// with valid records after it, damage in a segment later ones follow, a bad segment header,
/// a segment file cut short). A torn tail (the last segment's last records unreadable and
/// nothing valid after them: a write a crash interrupted) is always cut quietly, and damage
/// in records below `replay_from_lsn` (which a snapshot covers) is skipped whatever this
/// says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WalRecovery {
    /// Refuse to open, naming the file and offset, and change nothing (the default).
    #[default]
    Refuse,
    /// Keep the log up to the first bad record; zero the rest of that segment and recycle
    /// the later ones (what followed the damage is lost for good).
    TruncateAtDamage,
}

impl std::str::FromStr for WalRecovery {
    type Err = crate::Error;
    fn from_str(s: &str) -> crate::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "refuse" => Ok(Self::Refuse),
            "truncate-at-damage" => Ok(Self::TruncateAtDamage),
            _ => Err(crate::Error::invalid(
                "wal-recovery",
                format!("one of refuse, truncate-at-damage; got '{s}'"),
            )),
        }
    }
}

impl std::fmt::Display for WalRecovery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Refuse => "refuse",
            Self::TruncateAtDamage => "truncate-at-damage",
        })
    }
}

/// A segment's bytes for reading: mapped, not copied (segments are pre-allocated to tens of
/// MiB and mostly unwritten; reading them into the heap was most of the WAL's open time).
enum SegmentBytes {
    Empty,
    /// Shared with the values served from it ([`MappedRecords::segment_maps`]).
    Mapped(Arc<memmap2::Mmap>),
    /// Read into the heap: [`inspect`] holds no lock, so it must not map a file a live
    /// writer may change.
    Owned(Vec<u8>),
}

impl std::ops::Deref for SegmentBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SegmentBytes::Empty => &[],
            SegmentBytes::Mapped(m) => &m[..],
            SegmentBytes::Owned(v) => v,
        }
    }
}

/// A segment's bytes and where the file system says data may be: `data` lists the byte
/// ranges that are not holes or unwritten pre-allocation (`SEEK_DATA`/`SEEK_HOLE`); `None`
/// means all of it. Written but not yet written-back pages count as data.
struct Segment {
    bytes: SegmentBytes,
    data: Option<Vec<(usize, usize)>>,
}

impl std::ops::Deref for Segment {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Segment {
    fn all(bytes: SegmentBytes) -> Segment {
        Segment { bytes, data: None }
    }

    /// The first offset at or after `off` (kept on [`RECORD_ALIGN`]) that may hold data;
    /// `None` when nothing after it does.
    fn next_data(&self, off: usize) -> Option<usize> {
        let Some(ranges) = &self.data else {
            return Some(off);
        };
        let i = ranges.partition_point(|&(_, end)| end <= off);
        let &(start, _) = ranges.get(i)?;
        Some(if start > off {
            start.next_multiple_of(RECORD_ALIGN)
        } else {
            off
        })
    }
}

/// The ranges of `file` (of `len` bytes) that hold data, from `SEEK_DATA`/`SEEK_HOLE`;
/// `None` (treat everything as data) where the file system cannot say.
#[cfg(target_os = "linux")]
fn data_ranges(file: &File, len: u64) -> Option<Vec<(usize, usize)>> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    let mut out = Vec::new();
    let mut at: i64 = 0;
    let len = i64::try_from(len).ok()?;
    while at < len {
        // SAFETY: lseek only reads its integer arguments; `fd` is open for the call.
        let start = unsafe { libc::lseek(fd, at, libc::SEEK_DATA) };
        if start < 0 {
            // ENXIO: no data at or after `at`; anything else: the file system cannot say.
            return (io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO)).then_some(out);
        }
        // SAFETY: lseek only reads its integer arguments; `fd` is open for the call.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        if end <= start {
            return None;
        }
        let end = end.min(len);
        out.push((usize::try_from(start).ok()?, usize::try_from(end).ok()?));
        at = end;
    }
    Some(out)
}

#[cfg(not(target_os = "linux"))]
fn data_ranges(_file: &File, _len: u64) -> Option<Vec<(usize, usize)>> {
    None
}

/// Maps `path` read-only, with its data ranges.
fn map_segment(path: &Path) -> io::Result<Segment> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Segment::all(SegmentBytes::Empty));
    }
    // SAFETY: the caller holds the directory's exclusive lock (`Wal::open` takes it before
    // recovery), so no other `Wal` writes or truncates the segment while it is mapped;
    // recovery itself only overwrites ranges past the last valid record (never shortens the
    // file). A mapping kept after recovery (`MappedRecords::segment_maps`) is read only below
    // that point: the writer appends past it, and a segment pinned so is deleted instead of
    // reused (`SegmentDir::recycle`), so those bytes never change while mapped.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    Ok(Segment {
        bytes: SegmentBytes::Mapped(Arc::new(map)),
        data: data_ranges(&file, len),
    })
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

/// Reads and repairs the WAL in `dir` (created if missing). Damage other than a torn tail
/// is handled per `mode`: refused with [`crate::Error::Corrupt`] (nothing changed) or cut.
pub(crate) fn recover(
    dir: &Path,
    replay_from_lsn: u64,
    max_free: usize,
    mode: WalRecovery,
    map_records: bool,
) -> crate::Result<Recovered> {
    fs::create_dir_all(dir)?;
    scan(
        dir,
        None,
        replay_from_lsn,
        max_free,
        Some(mode),
        map_records,
    )
}

/// What [`recover`] would find and cut in `dir` with [`WalRecovery::TruncateAtDamage`],
/// without changing anything there (no zeroing, no recycling, no removal of half-created
/// segments) and without keeping the records: `records_skipped` counts the valid records
/// below `replay_from_lsn` that were read, `records_replayed` those from it on, and
/// `mid_log_damage` says whether [`WalRecovery::Refuse`] would refuse. Segments are read,
/// not mapped, so a live writer's appends cannot invalidate the scan's memory (they can
/// make its tail look torn).
pub fn inspect(dir: &Path, replay_from_lsn: u64) -> crate::Result<RecoveryStats> {
    Ok(scan(dir, None, replay_from_lsn, 0, None, false)?.stats)
}

/// [`inspect`] of segment files held in memory: `segments` are the LSNs their file names
/// carry (`wal-<lsn>.seg`) and their bytes. The same scan reads them (headers, records,
/// damage and where it ends) as it reads a directory's files; the valid records from
/// `replay_from_lsn` on, which recovery would replay, come back too. For the `wal_decode`
/// fuzz target (`crate::fuzzing::scan_segments`): no file is opened.
pub(crate) fn inspect_bytes(
    segments: &[(u64, &[u8])],
    replay_from_lsn: u64,
) -> crate::Result<(RecoveryStats, Vec<WalRecord>)> {
    let r = scan(
        Path::new(""),
        Some(segments),
        replay_from_lsn,
        0,
        None,
        false,
    )?;
    Ok((r.stats, r.records))
}

/// Hard damage: where and why.
struct Hard {
    file: String,
    offset: u64,
    reason: String,
}

/// Reads the segments of `dir`, or `memory`'s (names' LSNs and bytes; then `mode` is `None`,
/// and `dir` is only a prefix of the names shown).
fn scan(
    dir: &Path,
    memory: Option<&[(u64, &[u8])]>,
    replay_from_lsn: u64,
    max_free: usize,
    mode: Option<WalRecovery>,
    map_records: bool,
) -> crate::Result<Recovered> {
    let repair = mode.is_some();
    let map_records = map_records && repair;
    let mut by_map: Vec<(u64, u8, u32, usize, usize)> = Vec::new();
    let cut = mode == Some(WalRecovery::TruncateAtDamage);
    let named = |lsn: u64| dir.join(live_name(lsn));
    let map_segment = |path: &Path| -> io::Result<Segment> {
        if let Some(memory) = memory {
            let bytes = memory
                .iter()
                .find(|(lsn, _)| named(*lsn) == path)
                .map_or(&[][..], |(_, b)| b);
            Ok(Segment::all(SegmentBytes::Owned(bytes.to_vec())))
        } else if repair {
            map_segment(path)
        } else {
            Ok(Segment::all(SegmentBytes::Owned(fs::read(path)?)))
        }
    };
    let mut live: Vec<(u64, PathBuf)> = Vec::new();
    let mut segdir = SegmentDir::default();
    let mut frees: Vec<(u64, PathBuf)> = Vec::new();
    if let Some(memory) = memory {
        live.extend(memory.iter().map(|(lsn, _)| (*lsn, named(*lsn))));
    }
    let files = match memory {
        Some(_) => None,
        None => Some(fs::read_dir(dir)?),
    };
    for entry in files.into_iter().flatten() {
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
    // Segments wholly below the snapshot point (the next one starts at or before it) are
    // not read: damage there cannot cost a record the snapshot does not hold.
    let start = live
        .iter()
        .rposition(|(l, _)| *l <= replay_from_lsn)
        .unwrap_or(0);
    let mut covered: Vec<Sealed> = Vec::new();
    for i in 0..start {
        covered.push(Sealed {
            last_lsn: live[i + 1].0 - 1,
            path: live[i].1.clone(),
        });
    }
    stats.segments_covered = start;
    let first_name_lsn = live.first().map(|(l, _)| *l);
    let live: Vec<(u64, PathBuf)> = live.split_off(start);
    let last_index = live.len().saturating_sub(1);

    let mut records = Vec::new();
    let mut good: Vec<Tail> = Vec::new();
    let mut discard: Vec<PathBuf> = Vec::new();
    let mut expected: Option<u64> = None;
    let mut stopped = false;
    let mut hard: Option<Hard> = None;
    let mut zero: Option<(PathBuf, u64, u64)> = None;
    let mut dir_changed = false;
    let mut mapped: Vec<Segment> = Vec::new();

    for (index, (name_lsn, path)) in live.into_iter().enumerate() {
        let shown = path.display().to_string();
        if stopped {
            // Unreachable after the damage: count what it held, then (when cutting) recycle.
            let buf = map_segment(&path)?;
            if let Ok(h) = SegmentHeader::decode(&buf) {
                let mut at = SEGMENT_HEADER_BYTES;
                let mut lsn = h.first_lsn;
                while let Ok(r) = decode_record(&buf, at, h.seed, Some(lsn)) {
                    stats.bytes_truncated += r.size.min(buf.len() - at) as u64;
                    stats.records_after_damage += 1;
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
                stats.mid_log_damage = true;
                hard = Some(Hard {
                    file: shown,
                    offset: 0,
                    reason,
                });
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
                        if map_records {
                            let a = r.payload.as_ptr() as usize - buf.as_ptr() as usize;
                            let seg = mapped.len() as u32;
                            by_map.push((lsn, r.kind, seg, a, a + r.payload.len()));
                        } else if repair || memory.is_some() {
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
                Err(e) if lsn < replay_from_lsn => {
                    // A record the snapshot covers does not check out (or the log ends
                    // before the snapshot point): read on from the next record that does,
                    // if it is one the snapshot covers too or the first one it does not.
                    match next_valid_record(&buf, at, header.seed, lsn + 1) {
                        Some((off, l)) if l <= replay_from_lsn => {
                            if stats.covered_damage.is_none() {
                                stats.covered_damage = Some(format!(
                                    "{shown} at offset {at}: records from LSN {lsn} to {} do \
                                     not check out ({}); the snapshot holds them",
                                    l - 1,
                                    damage_of(e).unwrap_or("unreadable")
                                ));
                            }
                            at = off;
                            lsn = l;
                        }
                        _ => break e,
                    }
                }
                Err(e) => break e,
            }
        };
        // Where the needed part of the log breaks off, if it does.
        let reason = damage_of(stop);
        let (after, after_end) = valid_records_after(&buf, at, header.seed, lsn);
        let cut_short = matches!(stop, RecordError::Short | RecordError::LenOutOfBounds)
            && (buf.len() as u64) < header.capacity
            && lsn >= replay_from_lsn;
        let covered_end = lsn < replay_from_lsn && after == 0;
        let why: Option<String> = if covered_end {
            // The rest of this segment is below the snapshot point: the snapshot holds it
            // (a later segment must still start where this one ends).
            if let (Some(r), None) = (reason, &stats.covered_damage) {
                stats.covered_damage = Some(format!(
                    "{shown} at offset {at}: {r} at LSN {lsn}; the snapshot holds it"
                ));
            }
            None
        } else if after > 0 {
            Some(match reason {
                Some(r) => format!("{r}, and valid records follow it"),
                None => "valid records follow an unreadable one".into(),
            })
        } else if cut_short {
            Some(format!(
                "the file is {} bytes, cut short of the {} it was allocated with",
                buf.len(),
                header.capacity
            ))
        } else if reason.is_some() && index < last_index {
            Some(format!(
                "{}, in a segment later segments follow",
                reason.unwrap_or_default()
            ))
        } else {
            None
        };
        let mut end_of_damage = None;
        if let Some(r) = reason {
            let mut l = [0u8; 4];
            l.copy_from_slice(&buf[at..at + 4]);
            let len = u32::from_le_bytes(l) as usize;
            end_of_damage = Some(at.saturating_add(record_size(len)).min(buf.len()));
            if why.is_none() && !covered_end {
                // A torn tail: the crash case, cut quietly.
                stats.torn_tail = true;
                stats.damage = Some(format!("{shown} at offset {at}: {r} (torn tail)"));
            }
        }
        if let Some(end) = after_end {
            end_of_damage = Some(end_of_damage.map_or(end, |d: usize| d.max(end)));
        }
        if let Some(why) = why {
            stats.damage = Some(format!("{shown} at offset {at}: {why}"));
            stats.mid_log_damage = true;
            stats.records_after_damage += after;
            hard = Some(Hard {
                file: shown.clone(),
                offset: at as u64,
                reason: why,
            });
            stopped = true;
        }
        if stats.damage.is_some() && !covered_end {
            if let Some(end) = end_of_damage {
                stats.bytes_truncated += (end - at) as u64;
                if stats.torn_tail || cut {
                    zero = Some((path.clone(), at as u64, end as u64));
                }
            }
        }
        expected = Some(lsn);
        if map_records && lsn > replay_from_lsn.max(header.first_lsn) {
            // Records of this segment are replayed from its mapping: pinned while mapped.
            if let SegmentBytes::Mapped(m) = &buf.bytes {
                super::segment::pin(&path, m)?;
            }
        }
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
    // none can be started, the closure and the maps are dropped here. With `map_records`
    // the replay holds them (and unmaps them the same way once dropped).
    let kept = if map_records {
        MappedRecords {
            segments: std::mem::take(&mut mapped),
            records: by_map,
        }
    } else {
        MappedRecords::default()
    };
    unmap(mapped);

    if let (Some(h), Some(WalRecovery::Refuse)) = (&hard, mode) {
        // Nothing was changed (a torn tail cannot precede hard damage: it ends the log).
        return Err(crate::Error::Corrupt {
            file: h.file.clone(),
            offset: h.offset,
            reason: format!(
                "{}: {} record(s) that check out follow the damage; refusing to open the WAL \
                 (nothing was changed)",
                h.reason, stats.records_after_damage
            ),
        });
    }
    if let (Some((path, from, to)), true) = (&zero, repair) {
        let file = OpenOptions::new().write(true).open(path)?;
        zero_range(&file, *from, *to)?;
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
    if let Some(d) = &stats.covered_damage {
        tracing::warn!(damage = %d, "WAL damage below the snapshot point skipped");
    }
    if let (Some(d), true) = (&stats.damage, repair) {
        if stats.torn_tail {
            tracing::info!(damage = %d, bytes_truncated = stats.bytes_truncated, "WAL torn tail cut");
        } else {
            tracing::warn!(
                damage = %d,
                bytes_truncated = stats.bytes_truncated,
                records_lost = stats.records_after_damage,
                segments_discarded = stats.segments_discarded,
                "WAL damaged: truncated at the first bad record (wal recovery truncate-at-damage)"
            );
        }
    }
    let tail = good.pop();
    segdir.sealed = covered;
    segdir.sealed.extend(good.into_iter().map(|t| Sealed {
        last_lsn: t.last_lsn,
        path: t.path,
    }));
    stats.next_lsn = match &tail {
        Some(t) => t.last_lsn + 1,
        None => first_name_lsn.unwrap_or(1).max(1),
    };
    Ok(Recovered {
        records,
        mapped: kept,
        stats,
        dir: segdir,
        tail,
    })
}
