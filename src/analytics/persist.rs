//! The analytics' durable form, in `<data_dir>/analytics/`: `series.snap` (every series, all
//! tiers) and `series.log` (the deltas closed since that snapshot, one record per series and
//! closed second, appended with `write(2)` at the tick that closes them).
//!
//! Why a file of its own rather than a WAL record kind: the deltas are not mutations of the
//! store and are never replayed into it; what the WAL would give them is "written before the
//! process can die", which a `write(2)` at the tick gives equally (a SIGKILL cannot lose what
//! the kernel already has), so a kill -9 loses only the deltas not yet closed — the current
//! second, at most one maintenance tick of events. Against power loss the log is fdatasynced
//! with the same period as the WAL's `interval` policy. Each log record carries a sequence
//! number and the snapshot the highest one it holds, so a crash between writing a snapshot
//! and emptying the log never counts a delta twice. Every record and the snapshot are
//! checksummed (CRC32C); a torn log tail is ignored, a damaged snapshot is an error naming
//! the file and offset.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::hist::Hist;
use super::series::{Bucket, Counts, Series, TierSpec};
use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"SUTRAAN1";

/// Latency as `(bucket, count)` pairs.
type Sparse = Box<[(u8, u32)]>;

/// Which series a record belongs to: the whole shard or one vector set.
pub type SeriesKey = Option<Vec<u8>>;

/// A closed delta: what one series saw during one second.
#[derive(Clone, Debug, PartialEq)]
pub struct Delta {
    pub seq: u64,
    pub second: u64,
    pub key: SeriesKey,
    pub counts: Counts,
    pub hist: Hist,
}

fn put_key(out: &mut Vec<u8>, key: &SeriesKey) {
    match key {
        None => out.push(0),
        Some(k) => {
            out.push(1);
            out.extend_from_slice(&(k.len() as u32).to_le_bytes());
            out.extend_from_slice(k);
        }
    }
}

fn put_counts(out: &mut Vec<u8>, c: &Counts, latency: &[(u8, u32)]) {
    for v in c.0 {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(latency.len() as u16).to_le_bytes());
    for &(i, n) in latency {
        out.push(i);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Bounds-checked reading; every failure names the file and offset.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    base: u64,
    file: &'a Path,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: &str) -> Error {
        Error::Corrupt {
            file: self.file.display().to_string(),
            offset: self.base + self.at as u64,
            reason: reason.into(),
        }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.b.len());
        let Some(end) = end else {
            return Err(self.err("truncated"));
        };
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().expect("2")))
    }
    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().expect("4")))
    }
    fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().expect("8")))
    }
    fn key(&mut self) -> Result<SeriesKey> {
        match self.u8()? {
            0 => Ok(None),
            1 => {
                let n = self.u32()? as usize;
                Ok(Some(self.take(n)?.to_vec()))
            }
            _ => Err(self.err("bad series tag")),
        }
    }
    fn counts(&mut self) -> Result<(Counts, Sparse)> {
        let mut c = Counts::default();
        for v in &mut c.0 {
            *v = self.u64()?;
        }
        let n = self.u16()? as usize;
        let mut pairs = Vec::with_capacity(n.min(256));
        for _ in 0..n {
            pairs.push((self.u8()?, self.u32()?));
        }
        if Hist::from_sparse(&pairs).is_none() {
            return Err(self.err("latency bucket out of range"));
        }
        Ok((c, pairs.into()))
    }
}

/// The analytics directory's files.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    log: File,
    /// Records in the log now.
    pub log_records: u64,
}

impl Files {
    fn snap_path(dir: &Path) -> PathBuf {
        dir.join("series.snap")
    }
    fn log_path(dir: &Path) -> PathBuf {
        dir.join("series.log")
    }

    /// Opens (creating) `dir`; returns the files, the snapshot's series and sequence number,
    /// and the log's deltas after it, in order.
    #[allow(clippy::type_complexity)]
    pub fn open(
        dir: &Path,
        specs: &[TierSpec],
    ) -> Result<(Files, Vec<(SeriesKey, Series)>, u64, Vec<Delta>)> {
        fs::create_dir_all(dir)?;
        let snap = Self::snap_path(dir);
        let (series, snap_seq) = match fs::read(&snap) {
            Ok(b) => read_snapshot(&b, &snap, specs)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), 0),
            Err(e) => return Err(e.into()),
        };
        let logp = Self::log_path(dir);
        let bytes = match fs::read(&logp) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let (deltas, good) = read_log(&bytes, &logp);
        let log = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&logp)?;
        // A torn tail is cut so new records follow the last whole one.
        log.set_len(good as u64)?;
        let n = deltas.len() as u64;
        let deltas: Vec<Delta> = deltas.into_iter().filter(|d| d.seq > snap_seq).collect();
        let mut f = Files {
            dir: dir.to_path_buf(),
            log,
            log_records: n,
        };
        use std::io::Seek;
        f.log.seek(std::io::SeekFrom::End(0))?;
        Ok((f, series, snap_seq, deltas))
    }

    /// Appends closed deltas (one `write(2)`).
    pub fn append(&mut self, deltas: &[Delta]) -> Result<()> {
        if deltas.is_empty() {
            return Ok(());
        }
        let mut out = Vec::with_capacity(deltas.len() * 96);
        for d in deltas {
            let mut p = Vec::with_capacity(96);
            p.extend_from_slice(&d.seq.to_le_bytes());
            p.extend_from_slice(&d.second.to_le_bytes());
            put_key(&mut p, &d.key);
            put_counts(&mut p, &d.counts, &d.hist.sparse());
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(&crc32c::crc32c(&p).to_le_bytes());
            out.extend_from_slice(&p);
        }
        self.log.write_all(&out)?;
        self.log_records += deltas.len() as u64;
        Ok(())
    }

    /// fdatasyncs the log.
    pub fn sync(&self) -> Result<()> {
        self.log.sync_data()?;
        Ok(())
    }

    /// Writes every series as the new snapshot (temp → fsync → rename → fsync dir), then
    /// empties the log.
    pub fn write_snapshot<'a>(
        &mut self,
        seq: u64,
        specs: &[TierSpec],
        series: impl Iterator<Item = (&'a SeriesKey, &'a Series)>,
    ) -> Result<()> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(&(specs.len() as u32).to_le_bytes());
        for s in specs {
            out.extend_from_slice(&s.width_s.to_le_bytes());
            out.extend_from_slice(&(s.count as u64).to_le_bytes());
        }
        let all: Vec<_> = series.collect();
        out.extend_from_slice(&(all.len() as u32).to_le_bytes());
        for (k, s) in all {
            put_key(&mut out, k);
            out.extend_from_slice(&s.last_s.to_le_bytes());
            for t in &s.tiers {
                out.extend_from_slice(&(t.buckets.len() as u32).to_le_bytes());
                for b in &t.buckets {
                    out.extend_from_slice(&b.start_s.to_le_bytes());
                    put_counts(&mut out, &b.counts, &b.latency);
                }
            }
        }
        let crc = crc32c::crc32c(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        let tmp = self.dir.join("series.snap.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&out)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, Self::snap_path(&self.dir))?;
        File::open(&self.dir)?.sync_all()?;
        self.log.set_len(0)?;
        use std::io::Seek;
        self.log.seek(std::io::SeekFrom::Start(0))?;
        self.log_records = 0;
        Ok(())
    }
}

/// The whole records of a log and the length they cover (a torn or damaged tail ends it).
fn read_log(b: &[u8], file: &Path) -> (Vec<Delta>, usize) {
    let mut out = Vec::new();
    let mut at = 0usize;
    while b.len() - at >= 8 {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().expect("4")) as usize;
        let crc = u32::from_le_bytes(b[at + 4..at + 8].try_into().expect("4"));
        let Some(p) = b.get(at + 8..at + 8 + len) else {
            break;
        };
        if crc32c::crc32c(p) != crc {
            break;
        }
        let mut r = Reader {
            b: p,
            at: 0,
            base: (at + 8) as u64,
            file,
        };
        let d = (|| -> Result<Delta> {
            let seq = r.u64()?;
            let second = r.u64()?;
            let key = r.key()?;
            let (counts, pairs) = r.counts()?;
            let hist = Hist::from_sparse(&pairs).unwrap_or_default();
            Ok(Delta {
                seq,
                second,
                key,
                counts,
                hist,
            })
        })();
        match d {
            Ok(d) => out.push(d),
            Err(_) => break,
        }
        at += 8 + len;
    }
    (out, at)
}

#[allow(clippy::type_complexity)]
fn read_snapshot(
    b: &[u8],
    file: &Path,
    specs: &[TierSpec],
) -> Result<(Vec<(SeriesKey, Series)>, u64)> {
    let corrupt = |offset: u64, reason: &str| Error::Corrupt {
        file: file.display().to_string(),
        offset,
        reason: reason.into(),
    };
    if b.len() < MAGIC.len() + 4 || &b[..MAGIC.len()] != MAGIC {
        return Err(corrupt(0, "not an analytics snapshot"));
    }
    let body = &b[..b.len() - 4];
    let crc = u32::from_le_bytes(b[b.len() - 4..].try_into().expect("4"));
    if crc32c::crc32c(body) != crc {
        return Err(corrupt((b.len() - 4) as u64, "checksum mismatch"));
    }
    let mut r = Reader {
        b: body,
        at: MAGIC.len(),
        base: 0,
        file,
    };
    let seq = r.u64()?;
    let ntiers = r.u32()? as usize;
    let mut saved = Vec::with_capacity(ntiers.min(16));
    for _ in 0..ntiers {
        let width_s = r.u64()?;
        let count = r.u64()? as usize;
        saved.push(TierSpec { width_s, count });
    }
    let nseries = r.u32()? as usize;
    let mut out = Vec::with_capacity(nseries.min(4096));
    for _ in 0..nseries {
        let key = r.key()?;
        let mut s = Series::new(specs);
        s.last_s = r.u64()?;
        for spec in &saved {
            let nb = r.u32()? as usize;
            // A tier of the same shape loads as it was; one whose shape changed in the
            // configuration starts empty (its buckets are read and dropped).
            let same = specs.iter().position(|t| t == spec);
            for _ in 0..nb {
                let start_s = r.u64()?;
                let (counts, latency) = r.counts()?;
                if let Some(i) = same {
                    s.tiers[i].buckets.push_back(Bucket {
                        start_s,
                        counts,
                        latency,
                    });
                }
            }
        }
        out.push((key, s));
    }
    Ok((out, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torn_log_tail_is_ignored_and_the_whole_records_come_back() {
        let dir = std::env::temp_dir().join(format!("sutra-an-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let specs = [TierSpec {
            width_s: 1,
            count: 10,
        }];
        let (mut f, s, seq, d) = Files::open(&dir, &specs).unwrap();
        assert!(s.is_empty() && seq == 0 && d.is_empty());
        let mut h = Hist::default();
        h.0[5] = 3;
        let delta = |seq| Delta {
            seq,
            second: 100 + seq,
            key: Some(b"emb".to_vec()),
            counts: Counts([1, 2, 3, 4, 5, 6]),
            hist: h,
        };
        f.append(&[delta(1), delta(2)]).unwrap();
        drop(f);
        let logp = dir.join("series.log");
        let mut b = fs::read(&logp).unwrap();
        b.extend_from_slice(&[9, 0, 0, 0, 1, 2]); // torn
        fs::write(&logp, &b).unwrap();
        let (_, _, _, d) = Files::open(&dir, &specs).unwrap();
        assert_eq!(d, vec![delta(1), delta(2)]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
