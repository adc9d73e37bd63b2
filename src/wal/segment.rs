//! Segment files: names, the directory's bookkeeping, creation and recycling.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::format::{SegmentHeader, SEGMENT_HEADER_BYTES};
use super::io::{write_all_at, WalIo};

/// `wal-<first_lsn>.seg`.
pub fn live_name(first_lsn: u64) -> String {
    format!("wal-{first_lsn:020}.seg")
}

/// `free-<id>.seg`.
pub fn free_name(id: u64) -> String {
    format!("free-{id:020}.seg")
}

/// Parses `<prefix><20 digits>.seg`.
pub fn parse_name(name: &str, prefix: &str) -> Option<u64> {
    let digits = name.strip_prefix(prefix)?.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// fsyncs a directory so renames and creations in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A sealed (full, fdatasynced) live segment.
#[derive(Clone, Debug)]
pub struct Sealed {
    /// LSN of its last record (`first_lsn - 1` when empty).
    pub last_lsn: u64,
    /// Its path.
    pub path: PathBuf,
}

/// The directory's files other than the active segment, shared between the writer thread
/// (which seals segments and takes free ones) and `truncate_before` (which frees sealed
/// ones).
#[derive(Debug, Default)]
pub struct SegmentDir {
    /// Sealed live segments, oldest first.
    pub sealed: Vec<Sealed>,
    /// Recycled files waiting for reuse.
    pub free: Vec<PathBuf>,
    /// Next id for a `free-*` name.
    pub next_free_id: u64,
}

/// Segment files (device, inode) whose mapping may still be read: replayed records' bytes
/// served in place ([`pin`]). While the mapping lives the file is deleted, never reused.
/// Process-wide, so a log reopened in the same process honours the pins of values an
/// earlier engine over the same directory still holds.
static PINNED: parking_lot::Mutex<Vec<Pin>> = parking_lot::Mutex::new(Vec::new());

/// A pinned segment file's (device, inode) and its mapping.
type Pin = ((u64, u64), std::sync::Weak<memmap2::Mmap>);

/// Pins the segment file at `path` while `map` (its mapping) lives: see [`PINNED`].
pub fn pin(path: &Path, map: &std::sync::Arc<memmap2::Mmap>) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(path)?;
    let mut pins = PINNED.lock();
    pins.retain(|(_, w)| w.strong_count() > 0);
    pins.push(((m.dev(), m.ino()), std::sync::Arc::downgrade(map)));
    Ok(())
}

/// Whether `path` is a pinned segment file (a mapping of it is still read).
fn pinned(path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let mut pins = PINNED.lock();
    pins.retain(|(_, w)| w.strong_count() > 0);
    if pins.is_empty() {
        return Ok(false);
    }
    let m = fs::metadata(path)?;
    Ok(pins.iter().any(|(id, _)| *id == (m.dev(), m.ino())))
}

impl SegmentDir {
    /// Renames `path` to a fresh `free-*` name (or deletes it when `max_free` files are
    /// already waiting). Does not fsync the directory.
    pub fn recycle(&mut self, dir: &Path, path: &Path, max_free: usize) -> io::Result<()> {
        if self.free.len() >= max_free || pinned(path)? {
            // A pinned file is unlinked: its mapping keeps the bytes (and the disk space)
            // until it is dropped, and nothing writes over them.
            return fs::remove_file(path);
        }
        let to = dir.join(free_name(self.next_free_id));
        self.next_free_id += 1;
        fs::rename(path, &to)?;
        self.free.push(to);
        Ok(())
    }
}

/// An open live segment that the writer appends to.
#[derive(Debug)]
pub struct Active {
    /// The open file (read + write).
    pub file: File,
    /// Its header.
    pub header: SegmentHeader,
    /// Its path.
    pub path: PathBuf,
    /// Where the next record goes.
    pub offset: u64,
    /// Its pre-allocated size; records never pass it.
    pub capacity: u64,
    /// LSN of its last record (`first_lsn - 1` when empty).
    pub last_lsn: u64,
    /// Where a staged segment's file is until [`publish`] gives it its live name `path`
    /// (`None`: published).
    pub staged: Option<PathBuf>,
}

fn random_seed() -> u64 {
    use rand::RngCore;
    rand::rngs::OsRng.next_u64()
}

/// Makes a new live segment starting at `first_lsn`: reuses a free file when there is one,
/// otherwise creates and pre-allocates a file. The header is written and fdatasynced before
/// the file gets its live name; the directory is fsynced after.
pub fn open_new_segment(
    io: &mut dyn WalIo,
    dir: &Path,
    free: Option<PathBuf>,
    first_lsn: u64,
    capacity: u64,
) -> io::Result<Active> {
    let mut active = stage_segment(io, dir, free, first_lsn, capacity)?;
    publish(io, dir, &mut active)?;
    Ok(active)
}

/// The first half of [`open_new_segment`], without a sync: a staged segment (a new
/// `wal-*.tmp` file, or a free file, with the header written) that the writer can append to
/// at once. [`publish`] makes it durable under its live name; nothing written to it counts as
/// durable before that (recovery deletes a `.tmp` file and treats a `free-*` file as free).
pub fn stage_segment(
    io: &mut dyn WalIo,
    dir: &Path,
    free: Option<PathBuf>,
    first_lsn: u64,
    capacity: u64,
) -> io::Result<Active> {
    let (file, staging, capacity) = match free {
        Some(path) => {
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            (file, path, len.max(capacity))
        }
        None => {
            let tmp = dir.join(format!("wal-{first_lsn:020}.tmp"));
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)?;
            (file, tmp, capacity)
        }
    };
    let header = SegmentHeader {
        seed: random_seed(),
        first_lsn,
        capacity,
    };
    write_all_at(io, &file, &header.encode(), 0)?;
    Ok(Active {
        file,
        header,
        path: dir.join(live_name(first_lsn)),
        offset: SEGMENT_HEADER_BYTES as u64,
        capacity,
        last_lsn: first_lsn - 1,
        staged: Some(staging),
    })
}

/// The second half of [`open_new_segment`] for a staged segment (nothing for a published
/// one): pre-allocates it to its capacity, fdatasyncs it (header and whatever was appended
/// meanwhile), gives it its live name and fsyncs the directory.
pub fn publish(io: &mut dyn WalIo, dir: &Path, active: &mut Active) -> io::Result<()> {
    let Some(staging) = active.staged.take() else {
        return Ok(());
    };
    if active.file.metadata()?.len() < active.capacity {
        io.allocate(&active.file, active.capacity)?;
    }
    io.sync_data(&active.file)?;
    fs::rename(&staging, &active.path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_strangers_are_ignored() {
        assert_eq!(parse_name(&live_name(17), "wal-"), Some(17));
        assert_eq!(parse_name(&free_name(3), "free-"), Some(3));
        assert_eq!(parse_name("wal-17.seg", "wal-"), None);
        assert_eq!(parse_name("wal-0000000000000000001x.seg", "wal-"), None);
        assert_eq!(parse_name(&live_name(17), "free-"), None);
    }
}
