//! Writing and opening snapshot files (format in the module docs).

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Seek, Write};
#[cfg(target_os = "linux")]
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use memmap2::{Mmap, MmapMut, MmapOptions};

use crate::error::{Error, Result};

/// Section alignment in the file.
pub(crate) const ALIGN: u64 = 4096;
const MAGIC: &[u8; 8] = b"SUTRASNP";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 64;
const TOC_ENTRY_BYTES: usize = 32;

#[derive(Clone, Copy, Debug)]
struct TocEntry {
    kind: u32,
    tag: u32,
    offset: u64,
    len: u64,
    crc: u32,
}

/// Removes a snapshot's temporary file unless it was renamed into place: a snapshot that
/// fails (a full disk) does not leave its partial copy taking the space.
struct TmpFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for TmpFile {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Writes one snapshot: sections are appended in order, then the TOC and header.
pub(crate) struct SnapshotWriter {
    tmp: PathBuf,
    /// Removes `tmp` when the writer is dropped before `finish` renamed it.
    guard: TmpFile,
    dest: PathBuf,
    out: BufWriter<File>,
    pos: u64,
    toc: Vec<TocEntry>,
    lsn: u64,
    created_ms: u64,
    /// Bytes handed to the disk for write-back, and those waited for.
    written_back: u64,
    waited_back: u64,
}

/// The writer starts the disk's write-back of the file every this many bytes.
const WRITEBACK_BYTES: u64 = 8 << 20;

impl SnapshotWriter {
    /// Starts `snapshot-<lsn>.snap` in `dir` (written as `.tmp` until [`SnapshotWriter::finish`]).
    pub fn create(dir: &Path, lsn: u64, created_ms: u64) -> Result<Self> {
        let dest = dir.join(format!("snapshot-{lsn:020}.snap"));
        let tmp = dir.join(format!("snapshot-{lsn:020}.snap.tmp"));
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        let guard = TmpFile {
            path: tmp.clone(),
            keep: false,
        };
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(&[0u8; HEADER_BYTES])?;
        Ok(Self {
            guard,
            tmp,
            dest,
            out,
            pos: HEADER_BYTES as u64,
            toc: Vec::new(),
            lsn,
            created_ms,
            written_back: 0,
            waited_back: 0,
        })
    }

    fn pad_to_align(&mut self) -> Result<()> {
        let pad = (ALIGN - self.pos % ALIGN) % ALIGN;
        if pad > 0 {
            self.out.write_all(&vec![0u8; pad as usize])?;
            self.pos += pad;
        }
        Ok(())
    }

    /// Appends a section made of `parts` (written back to back, checksummed together).
    pub fn section(&mut self, kind: u32, tag: u32, parts: &[&[u8]]) -> Result<()> {
        self.begin_section(kind, tag)?;
        for p in parts {
            self.append(p)?;
        }
        Ok(())
    }

    /// Starts a section whose bytes follow in [`SnapshotWriter::append`] calls; it ends where
    /// the next section begins, or at [`SnapshotWriter::finish`].
    pub fn begin_section(&mut self, kind: u32, tag: u32) -> Result<()> {
        self.pad_to_align()?;
        self.toc.push(TocEntry {
            kind,
            tag,
            offset: self.pos,
            len: 0,
            crc: 0,
        });
        Ok(())
    }

    /// Appends bytes to the section begun last.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let Some(e) = self.toc.last_mut() else {
            return Err(Error::Corrupt {
                file: self.tmp.display().to_string(),
                offset: self.pos,
                reason: "snapshot bytes written outside a section".into(),
            });
        };
        e.crc = crc32c::crc32c_append(e.crc, bytes);
        e.len += bytes.len() as u64;
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        if self.pos >= self.written_back + WRITEBACK_BYTES {
            self.write_back()?;
        }
        Ok(())
    }

    /// Hands the bytes written so far to the disk in the background and waits for the piece
    /// before them, so the page cache never holds more than about two pieces of this file
    /// dirty: an fdatasync of the log meanwhile (which on ext4 can have to write out other
    /// files' dirty data first) stays short, as with Redis's `rdb-save-incremental-fsync`.
    #[cfg(target_os = "linux")]
    fn write_back(&mut self) -> Result<()> {
        self.out.flush()?;
        let fd = self.out.get_ref().as_raw_fd();
        let range = |from: u64, to: u64| {
            (
                libc::off64_t::try_from(from).unwrap_or(0),
                libc::off64_t::try_from(to - from).unwrap_or(0),
            )
        };
        let (start, len) = range(self.written_back, self.pos);
        // SAFETY: sync_file_range only reads its integer arguments; `fd` is open for the call.
        unsafe { libc::sync_file_range(fd, start, len, libc::SYNC_FILE_RANGE_WRITE) };
        if self.written_back > 0 {
            let (start, len) = range(self.waited_back, self.written_back);
            // SAFETY: sync_file_range only reads its integer arguments; `fd` is open for the
            // call, and waiting on a range of our own file touches no memory of ours.
            unsafe {
                libc::sync_file_range(
                    fd,
                    start,
                    len,
                    libc::SYNC_FILE_RANGE_WAIT_BEFORE
                        | libc::SYNC_FILE_RANGE_WRITE
                        | libc::SYNC_FILE_RANGE_WAIT_AFTER,
                )
            };
            self.waited_back = self.written_back;
        }
        self.written_back = self.pos;
        Ok(())
    }

    /// Outside Linux there is no `sync_file_range`: the bytes are handed to the OS and the
    /// final fsync makes them durable.
    #[cfg(not(target_os = "linux"))]
    fn write_back(&mut self) -> Result<()> {
        self.out.flush()?;
        self.written_back = self.pos;
        self.waited_back = self.pos;
        Ok(())
    }

    /// Writes TOC and header, fsyncs, renames into place and fsyncs the directory.
    /// `consistent_lsn`: the log must be replayed up to this LSN for the image to be exact
    /// (the image was copied while writes went on; see the module docs).
    pub fn finish(mut self, consistent_lsn: u64) -> Result<PathBuf> {
        self.pad_to_align()?;
        let toc_offset = self.pos;
        let mut toc = Vec::with_capacity(self.toc.len() * TOC_ENTRY_BYTES);
        for e in &self.toc {
            toc.extend_from_slice(&e.kind.to_le_bytes());
            toc.extend_from_slice(&e.tag.to_le_bytes());
            toc.extend_from_slice(&e.offset.to_le_bytes());
            toc.extend_from_slice(&e.len.to_le_bytes());
            toc.extend_from_slice(&e.crc.to_le_bytes());
            toc.extend_from_slice(&0u32.to_le_bytes());
        }
        self.out.write_all(&toc)?;
        let file_len = toc_offset + toc.len() as u64;
        let mut h = [0u8; HEADER_BYTES];
        h[0..8].copy_from_slice(MAGIC);
        h[8..12].copy_from_slice(&VERSION.to_le_bytes());
        h[12..16].copy_from_slice(&(self.toc.len() as u32).to_le_bytes());
        h[16..24].copy_from_slice(&self.lsn.to_le_bytes());
        h[24..32].copy_from_slice(&self.created_ms.to_le_bytes());
        h[32..40].copy_from_slice(&toc_offset.to_le_bytes());
        h[40..48].copy_from_slice(&file_len.to_le_bytes());
        h[48..52].copy_from_slice(&crc32c::crc32c(&toc).to_le_bytes());
        h[52..60].copy_from_slice(&consistent_lsn.max(self.lsn).to_le_bytes());
        let hcrc = crc32c::crc32c(&h[..60]);
        h[60..64].copy_from_slice(&hcrc.to_le_bytes());
        let mut file = self.out.into_inner().map_err(|e| e.into_error())?;
        file.rewind()?;
        file.write_all(&h)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.dest)?;
        self.guard.keep = true;
        if let Some(dir) = self.dest.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.dest)
    }
}

/// Snapshot files in `dir`, newest (highest LSN) first; removes leftover `.tmp` files.
pub(crate) fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    let Ok(rd) = fs::read_dir(dir) else {
        return Ok(out);
    };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("snapshot-") && name.ends_with(".snap.tmp") {
            let _ = fs::remove_file(entry.path());
            continue;
        }
        if let Some(lsn) = name
            .strip_prefix("snapshot-")
            .and_then(|r| r.strip_suffix(".snap"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((lsn, entry.path()));
        }
    }
    out.sort_by_key(|e| std::cmp::Reverse(e.0));
    Ok(out)
}

/// An opened, validated snapshot.
pub(crate) struct Snapshot {
    path: PathBuf,
    file: File,
    /// The whole file, read-only; `None` only while dropping.
    map: Option<Arc<Mmap>>,
    toc: Vec<TocEntry>,
    /// The image's LSN.
    pub lsn: u64,
    /// The log must be replayed at least up to this LSN (≥ `lsn`) for the image to be exact.
    pub consistent_lsn: u64,
}

fn le_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le_u64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

impl Snapshot {
    /// Opens and validates a snapshot (header, TOC and every section's checksum).
    #[cfg(test)]
    pub fn open(path: &Path) -> Result<Snapshot> {
        let (snap, verification) = Self::open_deferring(path, |_| false)?;
        verification.finish()?;
        Ok(snap)
    }

    /// As [`Snapshot::open`], except that the checksums of the sections whose kind `defer`
    /// selects are computed in the background: the returned [`Verification`] must be
    /// finished (it fails naming the first damaged section) before anything loaded from
    /// those sections is used. Header, TOC and every other section are verified on return.
    /// Lets the caller parse the (verified) metadata while the big arrays are checksummed.
    pub fn open_deferring(
        path: &Path,
        defer: impl Fn(u32) -> bool,
    ) -> Result<(Snapshot, Verification)> {
        let corrupt = |offset: u64, reason: &str| Error::Corrupt {
            file: path.display().to_string(),
            offset,
            reason: reason.into(),
        };
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < HEADER_BYTES as u64 {
            return Err(corrupt(0, "shorter than a header"));
        }
        // SAFETY: the file is opened read-only and snapshot files are never modified after
        // their rename into place (new images go to new files), so the mapping stays valid.
        let map = unsafe { Mmap::map(&file)? };
        let h = &map[..HEADER_BYTES];
        if crc32c::crc32c(&h[..60]) != le_u32(h, 60) {
            return Err(corrupt(60, "header checksum mismatch"));
        }
        if &h[0..8] != MAGIC {
            return Err(corrupt(0, "bad magic"));
        }
        let version = le_u32(h, 8);
        if version != VERSION {
            return Err(corrupt(8, &format!("unsupported format version {version}")));
        }
        let n = le_u32(h, 12) as u64;
        let lsn = le_u64(h, 16);
        // 0 in files written before the field existed: consistent at their LSN.
        let consistent_lsn = le_u64(h, 52).max(lsn);
        let toc_offset = le_u64(h, 32);
        let file_len = le_u64(h, 40);
        if file_len != len {
            return Err(corrupt(
                40,
                &format!("file is {len} bytes, header says {file_len}"),
            ));
        }
        let toc_end = n
            .checked_mul(TOC_ENTRY_BYTES as u64)
            .and_then(|b| b.checked_add(toc_offset))
            .filter(|&e| e <= len && toc_offset >= HEADER_BYTES as u64)
            .ok_or_else(|| corrupt(32, "table of contents outside the file"))?;
        let toc_bytes = &map[toc_offset as usize..toc_end as usize];
        if crc32c::crc32c(toc_bytes) != le_u32(h, 48) {
            return Err(corrupt(toc_offset, "table of contents checksum mismatch"));
        }
        let mut toc = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let b = &toc_bytes[i * TOC_ENTRY_BYTES..(i + 1) * TOC_ENTRY_BYTES];
            let e = TocEntry {
                kind: le_u32(b, 0),
                tag: le_u32(b, 4),
                offset: le_u64(b, 8),
                len: le_u64(b, 16),
                crc: le_u32(b, 24),
            };
            let at = toc_offset + (i * TOC_ENTRY_BYTES) as u64;
            let end = e.offset.checked_add(e.len).filter(|&x| x <= toc_offset);
            if end.is_none() || !e.offset.is_multiple_of(ALIGN) || e.offset < HEADER_BYTES as u64 {
                return Err(corrupt(at, "section outside the file or misaligned"));
            }
            toc.push(e);
        }
        // Sections not deferred are verified here, on all cores; deferred ones start on
        // helper threads and are finished by `Verification::finish`.
        let map = Arc::new(map);
        let (now, later): (Vec<&TocEntry>, Vec<&TocEntry>) =
            toc.iter().partition(|e| !defer(e.kind));
        let ranges = |es: &[&TocEntry]| -> Vec<(usize, usize)> {
            es.iter()
                .map(|e| (e.offset as usize, (e.offset + e.len) as usize))
                .collect()
        };
        let expect = |es: &[&TocEntry]| -> Vec<(u64, u32)> {
            es.iter().map(|e| (e.offset, e.crc)).collect()
        };
        let job = Arc::new(CrcJob::new(map.clone(), &ranges(&now)));
        let helpers = job.spawn_helpers(|| verify_threads() - 1);
        Verification {
            path: path.to_path_buf(),
            job,
            helpers,
            expected: expect(&now),
        }
        .finish()?;
        let job = Arc::new(CrcJob::new(map.clone(), &ranges(&later)));
        let helpers = job.spawn_helpers(|| (verify_threads() - 1).max(1));
        let verification = Verification {
            path: path.to_path_buf(),
            job,
            helpers,
            expected: expect(&later),
        };
        Ok((
            Snapshot {
                path: path.to_path_buf(),
                file,
                map: Some(map),
                toc,
                lsn,
                consistent_lsn,
            },
            verification,
        ))
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sections in file order as `(kind, tag, bytes)`.
    pub fn sections(&self) -> impl Iterator<Item = (u32, u32, &[u8])> + '_ {
        self.toc.iter().map(|e| {
            (
                e.kind,
                e.tag,
                &self.map.as_deref().map_or(&[][..], |m| &m[..])
                    [e.offset as usize..(e.offset + e.len) as usize],
            )
        })
    }

    /// Maps a section privately (copy-on-write: writes stay in memory, the file never changes).
    pub fn map_section(&self, kind: u32, tag: u32) -> Result<Option<MappedArray>> {
        let Some(e) = self.toc.iter().find(|e| e.kind == kind && e.tag == tag) else {
            return Ok(None);
        };
        if e.len == 0 {
            return Ok(Some(MappedArray { map: None }));
        }
        // SAFETY: a private (copy-on-write) mapping of a file that is never modified after
        // it was renamed into place; its range was checked against the file length.
        let map = unsafe {
            MmapOptions::new()
                .offset(e.offset)
                .len(e.len as usize)
                .map_copy(&self.file)?
        };
        Ok(Some(MappedArray { map: Some(map) }))
    }
}

impl Snapshot {
    /// Maps a section read-only (shared with the page cache) for values served in place
    /// (`super::blob`); `None` when the snapshot has no such section or it is empty.
    pub fn map_section_shared(&self, kind: u32, tag: u32) -> Result<Option<Mmap>> {
        let Some(e) = self
            .toc
            .iter()
            .find(|e| e.kind == kind && e.tag == tag && e.len > 0)
        else {
            return Ok(None);
        };
        // SAFETY: a read-only mapping of a file that is never modified after it was renamed
        // into place (an unlink by a later checkpoint leaves the mapping valid); its range
        // was checked against the file length at open.
        let map = unsafe {
            MmapOptions::new()
                .offset(e.offset)
                .len(e.len as usize)
                .map(&self.file)?
        };
        Ok(Some(map))
    }
}

/// Bytes per piece when a section is checksummed on several threads.
const PIECE_BYTES: usize = 8 << 20;

/// A checksum job smaller than this is done by the thread that finishes it, without helper
/// threads: checksumming 1 MiB takes about as long as starting and joining a thread (tens
/// of microseconds), and a small snapshot (or a test's, or a fuzz input's) would otherwise
/// start one or two threads per open for nothing.
const SMALL_JOB_BYTES: usize = 1 << 20;

/// Threads used to verify a snapshot: the machine's cores, at most 8.
fn verify_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
}

/// The checksums of byte ranges of one buffer, computed piece by piece
/// ([`PIECE_BYTES`]) by any number of threads: pieces are handed out through an atomic
/// counter, and each range's checksum is combined from its pieces' (`crc32c_combine`), so
/// one big vector section is spread over every thread.
pub(crate) struct CrcJob {
    bytes: Arc<dyn AsRef<[u8]> + Send + Sync>,
    /// `(range index, start, end)` in range order.
    pieces: Vec<(usize, usize, usize)>,
    ranges: usize,
    next: AtomicUsize,
    /// Per piece: its checksum in the low 32 bits, bit 32 set once computed.
    done: Vec<AtomicU64>,
}

impl CrcJob {
    /// A job over `ranges` (`start..end` each, inside `bytes`).
    pub fn new(bytes: Arc<dyn AsRef<[u8]> + Send + Sync>, ranges: &[(usize, usize)]) -> Self {
        let pieces: Vec<(usize, usize, usize)> = ranges
            .iter()
            .enumerate()
            .flat_map(|(i, &(start, end))| {
                let n = (end - start).div_ceil(PIECE_BYTES).max(1);
                (0..n).map(move |k| {
                    let a = start + k * PIECE_BYTES;
                    (i, a, (a + PIECE_BYTES).min(end))
                })
            })
            .collect();
        let done = pieces.iter().map(|_| AtomicU64::new(0)).collect();
        CrcJob {
            bytes,
            pieces,
            ranges: ranges.len(),
            next: AtomicUsize::new(0),
            done,
        }
    }

    fn piece_crc(&self, k: usize) -> u32 {
        let (_, a, b) = self.pieces[k];
        crc32c::crc32c(&(*self.bytes).as_ref()[a..b])
    }

    /// Computes pieces until none is left to take.
    fn work(&self) {
        loop {
            let k = self.next.fetch_add(1, Ordering::Relaxed);
            if k >= self.pieces.len() {
                return;
            }
            let c = self.piece_crc(k);
            self.done[k].store(u64::from(c) | 1 << 32, Ordering::Release);
        }
    }

    /// Starts `n()` threads working on the job (fewer if threads cannot be started: the
    /// finishing thread does the rest), none for a job under [`SMALL_JOB_BYTES`].
    pub fn spawn_helpers(
        self: &Arc<Self>,
        n: impl FnOnce() -> usize,
    ) -> Vec<std::thread::JoinHandle<()>> {
        let bytes: usize = self.pieces.iter().map(|&(_, a, b)| b - a).sum();
        if bytes < SMALL_JOB_BYTES {
            return Vec::new();
        }
        let n = n().min(self.pieces.len());
        (0..n)
            .filter_map(|_| {
                let job = self.clone();
                std::thread::Builder::new()
                    .name("sutra-verify".into())
                    .spawn(move || job.work())
                    .ok()
            })
            .collect()
    }

    /// Works on the job on this thread too, waits for `helpers`, and returns each range's
    /// checksum. A piece a helper never finished (it died) is computed here.
    pub fn finish(&self, helpers: Vec<std::thread::JoinHandle<()>>) -> Vec<u32> {
        self.work();
        for h in helpers {
            let _ = h.join();
        }
        let mut out: Vec<Option<u32>> = vec![None; self.ranges];
        for (k, &(i, a, b)) in self.pieces.iter().enumerate() {
            let d = self.done[k].load(Ordering::Acquire);
            let c = if d >> 32 == 1 {
                d as u32
            } else {
                self.piece_crc(k)
            };
            out[i] = Some(match out[i] {
                None => c,
                Some(prev) => crc32c::crc32c_combine(prev, c, b - a),
            });
        }
        out.into_iter().map(|c| c.unwrap_or(0)).collect()
    }

    /// Makes helpers stop after their current piece (the job is abandoned).
    fn abandon(&self) {
        self.next.store(usize::MAX / 2, Ordering::Relaxed);
    }
}

/// Checksums of snapshot sections still being computed ([`Snapshot::open_deferring`]).
#[must_use = "deferred sections are unverified until `finish` returns Ok"]
pub(crate) struct Verification {
    path: PathBuf,
    job: Arc<CrcJob>,
    helpers: Vec<std::thread::JoinHandle<()>>,
    /// Per range of the job: the section's offset and the checksum its TOC entry records.
    expected: Vec<(u64, u32)>,
}

impl Verification {
    /// Completes the checksums (helping on this thread) and compares them with the TOC:
    /// an error names the file and the offset of the first damaged section.
    pub fn finish(mut self) -> Result<()> {
        let helpers = std::mem::take(&mut self.helpers);
        let crcs = self.job.finish(helpers);
        match self
            .expected
            .iter()
            .zip(&crcs)
            .find(|((_, want), got)| want != *got)
        {
            Some(((offset, _), _)) => Err(Error::Corrupt {
                file: self.path.display().to_string(),
                offset: *offset,
                reason: "section checksum mismatch".into(),
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Verification {
    fn drop(&mut self) {
        if !self.helpers.is_empty() {
            // Not finished (the load failed first): helpers stop after their current piece.
            self.job.abandon();
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        // Unmapping a big, fully faulted-in mapping (verification touched every page) takes
        // milliseconds per hundred MiB; it is done off the opening thread. Served sections
        // have their own mappings (`map_section`), so nothing waits for this one.
        if let Some(map) = self
            .map
            .take()
            .filter(|m| m.len() >= UNMAP_IN_BACKGROUND_BYTES)
        {
            // If no thread can be started, the closure (and the map) is dropped right here.
            let _ = std::thread::Builder::new()
                .name("sutra-unmap".into())
                .spawn(move || drop(map));
        }
    }
}

/// Mappings at least this big are unmapped on a helper thread.
const UNMAP_IN_BACKGROUND_BYTES: usize = 64 << 20;

/// A privately mapped section (copy-on-write), aligned to [`ALIGN`].
pub(crate) struct MappedArray {
    map: Option<MmapMut>,
}

impl MappedArray {
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        self.map.as_deref_mut().unwrap_or(&mut [])
    }

    /// Asks the kernel to read bytes `offset..offset + len` of the mapping ahead
    /// (`madvise(MADV_WILLNEED)`); a hint, so a refusal is ignored. Out-of-range: nothing.
    pub fn will_need(&self, offset: usize, len: usize) {
        if let Some(m) = &self.map {
            if len > 0 && offset.checked_add(len).is_some_and(|e| e <= m.len()) {
                let _ = m.advise_range(memmap2::Advice::WillNeed, offset, len);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn piecewise_parallel_checksums_equal_serial_ones() {
        let sizes = [
            0,
            1,
            4096,
            PIECE_BYTES - 1,
            PIECE_BYTES,
            PIECE_BYTES + 1,
            3 * PIECE_BYTES + 12_345,
        ];
        let owned: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| bytes(n, i as u8))
            .collect();
        let serial: Vec<u32> = owned.iter().map(|b| crc32c::crc32c(b)).collect();
        let all: Vec<u8> = owned.concat();
        let mut ranges = Vec::new();
        let mut at = 0;
        for b in &owned {
            ranges.push((at, at + b.len()));
            at += b.len();
        }
        let all: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(all);
        for helpers in [0, 1, 2, 7] {
            let job = Arc::new(CrcJob::new(all.clone(), &ranges));
            let h = job.spawn_helpers(|| helpers);
            assert_eq!(job.finish(h), serial, "{helpers} helpers");
        }
        let job = CrcJob::new(all, &[]);
        assert!(job.finish(Vec::new()).is_empty());
    }

    #[test]
    fn a_job_under_a_mebibyte_is_checksummed_without_helper_threads() {
        let small: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes(SMALL_JOB_BYTES - 1, 3));
        let job = Arc::new(CrcJob::new(
            small.clone(),
            &[(0, 4096), (4096, SMALL_JOB_BYTES - 1)],
        ));
        let h = job.spawn_helpers(|| panic!("no thread count is needed for a small job"));
        assert!(h.is_empty());
        let want = vec![
            crc32c::crc32c(&(*small).as_ref()[..4096]),
            crc32c::crc32c(&(*small).as_ref()[4096..]),
        ];
        assert_eq!(job.finish(h), want);
        let big: Arc<dyn AsRef<[u8]> + Send + Sync> = Arc::new(bytes(SMALL_JOB_BYTES, 4));
        let job = Arc::new(CrcJob::new(big.clone(), &[(0, SMALL_JOB_BYTES)]));
        let h = job.spawn_helpers(|| 1);
        assert_eq!(h.len(), 1, "a job of a mebibyte gets its helper");
        assert_eq!(job.finish(h), vec![crc32c::crc32c((*big).as_ref())]);
    }

    fn snap_offsets(path: &Path) -> Vec<u64> {
        Snapshot::open(path)
            .unwrap()
            .toc
            .iter()
            .map(|e| e.offset)
            .collect()
    }

    #[test]
    fn a_flipped_byte_in_any_piece_of_a_big_section_fails_open() {
        let dir = std::env::temp_dir().join(format!("sutra-snap-par-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let big = bytes(2 * PIECE_BYTES + 777, 7);
        let mut w = SnapshotWriter::create(&dir, 9, 0).unwrap();
        w.section(1, 0, &[b"small"]).unwrap();
        w.section(2, 0, &[&big]).unwrap();
        let path = w.finish(9).unwrap();
        let snap = Snapshot::open(&path).unwrap();
        let big_at = snap.toc[1].offset as usize;
        drop(snap);
        let clean = fs::read(&path).unwrap();
        let small_at = snap_offsets(&path)[0];
        for at in [0, PIECE_BYTES - 1, PIECE_BYTES, 2 * PIECE_BYTES + 776] {
            let mut damaged = clean.clone();
            damaged[big_at + at] ^= 0x10;
            fs::write(&path, &damaged).unwrap();
            match Snapshot::open(&path) {
                Err(Error::Corrupt { offset, reason, .. }) => {
                    assert_eq!(offset, big_at as u64);
                    assert!(reason.contains("checksum"), "{reason}");
                }
                Err(e) => panic!("flip at {at}: unexpected error {e}"),
                Ok(_) => panic!("flip at {at}: opened a damaged snapshot"),
            }
            // Deferred: open succeeds (the big section is still being checked), `finish`
            // reports the damage.
            let (_snap, verify) = Snapshot::open_deferring(&path, |k| k == 2).unwrap();
            match verify.finish() {
                Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, big_at as u64),
                other => panic!("flip at {at}: deferred verification gave {other:?}"),
            }
        }
        // A section that is not deferred is checked before `open_deferring` returns.
        let mut damaged = clean.clone();
        damaged[small_at as usize + 1] ^= 0x01;
        fs::write(&path, &damaged).unwrap();
        match Snapshot::open_deferring(&path, |k| k == 2) {
            Err(Error::Corrupt { offset, .. }) => assert_eq!(offset, small_at),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("a damaged metadata section passed"),
        }
        fs::write(&path, &clean).unwrap();
        let (_snap, verify) = Snapshot::open_deferring(&path, |k| k == 2).unwrap();
        verify.finish().unwrap();
        let _ = fs::remove_dir_all(&dir);
    }
}
