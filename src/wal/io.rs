//! The I/O seam: everything the writer does to segment files goes through [`WalIo`].
//!
//! Three implementations: [`crate::wal::UringIo`] (io_uring, with the fdatasync of one batch
//! in flight while the next batch is written), [`SyncIo`] (plain `pwrite` + `fdatasync`),
//! and [`FaultIo`], a wrapper for tests that fails after N operations or cuts writes short.

use std::fs::File;
use std::io;
#[cfg(target_os = "linux")]
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the WAL writer needs from the operating system. One writer thread owns it.
///
/// At most one sync is in flight: [`WalIo::start_sync`] is followed by
/// [`WalIo::finish_sync`] before the next `start_sync`. Writes issued while a sync is in
/// flight are not covered by it. The file given to `start_sync` stays open until
/// `finish_sync` returns.
pub trait WalIo: Send {
    /// A short name of the implementation: `"io_uring"`, `"sync"`, or the wrapped one's.
    fn kind(&self) -> &'static str;
    /// Writes a prefix of `buf` at `offset`; returns how many bytes were written (short
    /// writes are allowed; 0 for a non-empty `buf` is an error to the caller).
    fn write_at(&mut self, file: &File, buf: &[u8], offset: u64) -> io::Result<usize>;
    /// Starts an fdatasync of `file`, covering every write that completed before the call.
    fn start_sync(&mut self, file: &File) -> io::Result<()>;
    /// Waits for the sync started last and returns its result.
    fn finish_sync(&mut self) -> io::Result<()>;
    /// Pre-allocates `file` to `len` bytes (fallocate, or set_len where unsupported).
    fn allocate(&mut self, file: &File, len: u64) -> io::Result<()>;

    /// Whether a started sync runs while the caller goes on (io_uring), so that writing
    /// the next batch overlaps it. `false`: `start_sync` already did the whole sync.
    fn sync_overlaps(&self) -> bool {
        false
    }

    /// Whether the sync started last has completed, without waiting (`finish_sync` then
    /// returns its result at once). Always true where `start_sync` does the whole sync.
    fn sync_done(&mut self) -> io::Result<bool> {
        Ok(true)
    }

    /// A whole fdatasync: start and wait.
    fn sync_data(&mut self, file: &File) -> io::Result<()> {
        self.start_sync(file)?;
        self.finish_sync()
    }
}

/// Writes all of `buf` at `offset` through `io`, looping over short writes.
pub fn write_all_at(io: &mut dyn WalIo, file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    let mut done = 0usize;
    while done < buf.len() {
        let n = io.write_at(file, &buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "WAL write returned 0 bytes",
            ));
        }
        done += n;
    }
    Ok(())
}

/// Pre-allocates with `fallocate(2)`, falling back to `set_len` where the file system does
/// not support it.
pub(crate) fn fallocate_or_set_len(file: &File, len: u64) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let Ok(len_off) = libc::off_t::try_from(len) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "segment too large",
            ));
        };
        // SAFETY: fallocate only reads its integer arguments; the fd is open for the call.
        let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len_off) };
        if rc == 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        if !matches!(
            err.raw_os_error(),
            Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
        ) {
            return Err(err);
        }
    }
    if file.metadata()?.len() < len {
        file.set_len(len)?;
    }
    Ok(())
}

/// Plain system calls: `pwrite(2)` and `fdatasync(2)` on the calling thread.
#[derive(Debug, Default)]
pub struct SyncIo {
    pending_sync: Option<io::Result<()>>,
}

impl SyncIo {
    /// A new plain-syscall backend.
    pub fn new() -> Self {
        Self::default()
    }
}

impl WalIo for SyncIo {
    fn kind(&self) -> &'static str {
        "sync"
    }

    fn write_at(&mut self, file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        loop {
            match file.write_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    fn start_sync(&mut self, file: &File) -> io::Result<()> {
        // No asynchrony on this path: the sync runs here and its result waits for
        // `finish_sync`.
        self.pending_sync = Some(file.sync_data());
        Ok(())
    }

    fn finish_sync(&mut self) -> io::Result<()> {
        self.pending_sync.take().unwrap_or(Ok(()))
    }

    fn allocate(&mut self, file: &File, len: u64) -> io::Result<()> {
        fallocate_or_set_len(file, len)
    }
}

/// When [`FaultIo`] misbehaves.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    /// Every operation (write, start_sync, allocate) after this many fails with an I/O
    /// error. `None`: never.
    pub fail_after_ops: Option<u64>,
    /// Each write writes at most this many bytes (a short write). `None`: full writes.
    pub max_write_bytes: Option<usize>,
    /// Counts operations, shared with the test that set the plan.
    pub ops: Arc<AtomicU64>,
    /// Each fdatasync takes at least this long and runs while the caller goes on (as on
    /// io_uring): a slow disk, to test what waits for a sync and what does not.
    pub sync_takes: Option<std::time::Duration>,
    /// While this holds `true`, writes and pre-allocations fail with `ENOSPC` (a full disk;
    /// set it back to `false` to free the space).
    pub disk_full: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// While this holds `true`, fdatasyncs fail with `EIO` (a failing disk).
    pub sync_eio: Option<Arc<std::sync::atomic::AtomicBool>>,
}

/// A test backend: wraps another and injects the faults of a [`FaultPlan`].
pub struct FaultIo {
    inner: Box<dyn WalIo>,
    plan: FaultPlan,
    /// When the slow sync in flight (`FaultPlan::sync_takes`) started.
    slow_sync: Option<std::time::Instant>,
}

impl FaultIo {
    /// Wraps `inner`.
    pub fn new(inner: Box<dyn WalIo>, plan: FaultPlan) -> Self {
        Self {
            inner,
            plan,
            slow_sync: None,
        }
    }

    fn space(&self) -> io::Result<()> {
        match &self.plan.disk_full {
            Some(full) if full.load(Ordering::SeqCst) => {
                Err(io::Error::from_raw_os_error(libc::ENOSPC))
            }
            _ => Ok(()),
        }
    }

    fn tick(&mut self, what: &str) -> io::Result<()> {
        let n = self.plan.ops.fetch_add(1, Ordering::SeqCst) + 1;
        match self.plan.fail_after_ops {
            Some(limit) if n > limit => Err(io::Error::other(format!(
                "injected fault: {what} is operation {n}, limit {limit}"
            ))),
            _ => Ok(()),
        }
    }
}

impl WalIo for FaultIo {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn write_at(&mut self, file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
        self.tick("write")?;
        self.space()?;
        let n = self
            .plan
            .max_write_bytes
            .map_or(buf.len(), |m| m.min(buf.len()));
        self.inner.write_at(file, &buf[..n], offset)
    }

    fn start_sync(&mut self, file: &File) -> io::Result<()> {
        self.tick("fdatasync")?;
        if self
            .plan
            .sync_eio
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
        {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        if self.slow_sync.is_some() {
            self.finish_sync()?;
        }
        self.inner.start_sync(file)?;
        if self.plan.sync_takes.is_some() {
            // The real sync now; the delay runs while the caller goes on.
            self.inner.finish_sync()?;
            self.slow_sync = Some(std::time::Instant::now());
        }
        Ok(())
    }

    fn finish_sync(&mut self) -> io::Result<()> {
        if let (Some(started), Some(takes)) = (self.slow_sync.take(), self.plan.sync_takes) {
            std::thread::sleep(takes.saturating_sub(started.elapsed()));
            return Ok(());
        }
        self.inner.finish_sync()
    }

    fn sync_overlaps(&self) -> bool {
        self.plan.sync_takes.is_some() || self.inner.sync_overlaps()
    }

    fn sync_done(&mut self) -> io::Result<bool> {
        if let (Some(started), Some(takes)) = (self.slow_sync, self.plan.sync_takes) {
            return Ok(started.elapsed() >= takes);
        }
        self.inner.sync_done()
    }

    fn allocate(&mut self, file: &File, len: u64) -> io::Result<()> {
        self.tick("allocate")?;
        self.space()?;
        self.inner.allocate(file, len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backends() -> Vec<Box<dyn WalIo>> {
        #[allow(unused_mut)] // only Linux adds the io_uring backends
        let mut v: Vec<Box<dyn WalIo>> = vec![Box::new(SyncIo::new())];
        #[cfg(target_os = "linux")]
        if let Ok(u) = crate::wal::UringIo::new() {
            v.push(Box::new(u));
        }
        #[cfg(target_os = "linux")]
        if let Ok(u) = crate::wal::UringIo::with_ring_writes() {
            v.push(Box::new(u));
        }
        v
    }

    #[test]
    fn each_backend_writes_syncs_and_overlaps_a_write_with_a_sync() {
        for mut io in backends() {
            let tmp = tempfile::tempfile().unwrap();
            io.allocate(&tmp, 4096).unwrap();
            assert_eq!(tmp.metadata().unwrap().len(), 4096);
            write_all_at(io.as_mut(), &tmp, b"first", 0).unwrap();
            io.start_sync(&tmp).unwrap();
            write_all_at(io.as_mut(), &tmp, b"second", 100).unwrap();
            io.finish_sync().unwrap();
            io.sync_data(&tmp).unwrap();
            let mut buf = [0u8; 6];
            use std::os::unix::fs::FileExt;
            tmp.read_exact_at(&mut buf, 100).unwrap();
            assert_eq!(&buf, b"second", "{}", io.kind());
        }
    }

    #[test]
    fn fault_io_fails_every_operation_after_the_limit_and_cuts_writes_short() {
        let ops = Arc::new(AtomicU64::new(0));
        let plan = FaultPlan {
            fail_after_ops: Some(2),
            max_write_bytes: Some(3),
            ops: ops.clone(),
            sync_takes: None,
            ..FaultPlan::default()
        };
        let mut io = FaultIo::new(Box::new(SyncIo::new()), plan);
        let tmp = tempfile::tempfile().unwrap();
        assert_eq!(io.write_at(&tmp, b"abcdef", 0).unwrap(), 3);
        io.start_sync(&tmp).unwrap();
        io.finish_sync().unwrap();
        let e = io.write_at(&tmp, b"abcdef", 3).unwrap_err();
        assert!(e.to_string().contains("injected fault"), "{e}");
        assert!(io.start_sync(&tmp).is_err());
        assert_eq!(ops.load(Ordering::SeqCst), 4);
        assert_eq!(io.kind(), "sync");
    }
}
