//! The io_uring backend of the [`WalIo`] seam.
//!
//! The writer thread owns the ring. A sync is submitted as an `FSYNC` with
//! `IORING_FSYNC_DATASYNC` and left in flight; writes of the next batch are submitted and
//! waited for while it runs; [`WalIo::finish_sync`] reaps it. That overlap — writing batch
//! n+1 while the fdatasync of batch n is in the kernel — is what io_uring buys here.
//!
//! The batch write itself is one `pwrite(2)` from the writer thread by default, not a ring
//! `WRITE`: the writer waits for it either way, and on this project's machine (kernel 6.18,
//! ext4 on virtio) a buffered ring `WRITE` is punted to an io-wq worker and took ~6× longer
//! per batch (single writer, `interval`: ~4k vs ~25–50k appends/s; see perf-reports/wal.md).
//! [`UringIo::with_ring_writes`] submits the writes on the ring instead.

use std::fs::File;
use std::io;
use std::os::unix::io::AsRawFd;

use io_uring::{opcode, types, IoUring, Probe};

use super::io::{fallocate_or_set_len, SyncIo, WalIo};

const TAG_WRITE: u64 = 1;
const TAG_SYNC: u64 = 2;

/// io_uring: `FSYNC(DATASYNC)` kept in flight across writes; writes by `pwrite(2)` or, with
/// [`UringIo::with_ring_writes`], one ring `WRITE` per call.
pub struct UringIo {
    ring: IoUring,
    /// A sync was submitted and its completion not yet reaped.
    sync_in_flight: bool,
    /// A sync completion reaped while waiting for a write.
    sync_result: Option<io::Result<()>>,
    /// Writes go through the ring (`WRITE`) rather than `pwrite(2)`.
    ring_writes: bool,
}

impl std::fmt::Debug for UringIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringIo")
            .field("sync_in_flight", &self.sync_in_flight)
            .finish()
    }
}

fn cqe_result(res: i32) -> io::Result<usize> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as usize)
    }
}

impl UringIo {
    /// Sets up a ring; fails where io_uring is unavailable (seccomp, old kernel, disabled by
    /// `kernel.io_uring_disabled`) or lacks the `WRITE` or `FSYNC` operations.
    pub fn new() -> io::Result<Self> {
        let ring = IoUring::new(8)?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe)?;
        if !probe.is_supported(opcode::Write::CODE) || !probe.is_supported(opcode::Fsync::CODE) {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "io_uring lacks WRITE or FSYNC",
            ));
        }
        Ok(Self {
            ring,
            sync_in_flight: false,
            sync_result: None,
            ring_writes: false,
        })
    }

    /// As [`UringIo::new`], with every write submitted on the ring as a `WRITE`.
    pub fn with_ring_writes() -> io::Result<Self> {
        let mut u = Self::new()?;
        u.ring_writes = true;
        Ok(u)
    }

    /// Pushes one entry and submits, retrying while the submission queue is full.
    fn push(&mut self, entry: &io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: the entry refers to a file descriptor and (for writes) a buffer that
            // the caller keeps alive until the completion is reaped: `write_at` does not
            // return before reaping its completion, and a sync needs no buffer (the kernel
            // holds its own reference to the file).
            let pushed = unsafe { self.ring.submission().push(entry) };
            if pushed.is_ok() {
                return Ok(());
            }
            self.ring.submit()?;
        }
    }

    /// Waits for at least one completion and files it; returns a write's result if one came.
    fn reap_one(&mut self) -> io::Result<Option<io::Result<usize>>> {
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e)
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(e),
            }
        }
        let mut write = None;
        for cqe in self.ring.completion() {
            match cqe.user_data() {
                TAG_SYNC => {
                    self.sync_in_flight = false;
                    self.sync_result = Some(cqe_result(cqe.result()).map(|_| ()));
                }
                _ => write = Some(cqe_result(cqe.result())),
            }
        }
        Ok(write)
    }
}

impl WalIo for UringIo {
    fn kind(&self) -> &'static str {
        "io_uring"
    }

    fn write_at(&mut self, file: &File, buf: &[u8], offset: u64) -> io::Result<usize> {
        if !self.ring_writes {
            // A sync may be in flight on the ring meanwhile; its completion waits there.
            return SyncIo::new().write_at(file, buf, offset);
        }
        let len = u32::try_from(buf.len()).unwrap_or(u32::MAX);
        let entry = opcode::Write::new(types::Fd(file.as_raw_fd()), buf.as_ptr(), len)
            .offset(offset)
            .build()
            .user_data(TAG_WRITE);
        self.push(&entry)?;
        loop {
            match self.reap_one() {
                Ok(Some(r)) => return r,
                Ok(None) => continue,
                Err(e) => {
                    // The kernel may still be reading `buf`, which the caller is about to
                    // free: there is no safe way on from here. io_uring_enter fails only
                    // on a broken ring (EBADF, EFAULT), never on I/O errors.
                    eprintln!("sutra-cache: io_uring wait failed with a write in flight: {e}");
                    std::process::abort();
                }
            }
        }
    }

    fn start_sync(&mut self, file: &File) -> io::Result<()> {
        if self.sync_in_flight {
            self.finish_sync()?;
        }
        let entry = opcode::Fsync::new(types::Fd(file.as_raw_fd()))
            .flags(types::FsyncFlags::DATASYNC)
            .build()
            .user_data(TAG_SYNC);
        self.sync_result = None;
        self.push(&entry)?;
        self.ring.submit()?;
        self.sync_in_flight = true;
        Ok(())
    }

    fn finish_sync(&mut self) -> io::Result<()> {
        while self.sync_in_flight {
            // A write completion cannot be pending here: `write_at` reaps its own.
            self.reap_one()?;
        }
        self.sync_result.take().unwrap_or(Ok(()))
    }

    fn sync_overlaps(&self) -> bool {
        true
    }

    fn sync_done(&mut self) -> io::Result<bool> {
        if self.sync_in_flight {
            // File whatever has completed, without waiting (writes reap their own, so only
            // the sync's completion can be here).
            for cqe in self.ring.completion() {
                if cqe.user_data() == TAG_SYNC {
                    self.sync_in_flight = false;
                    self.sync_result = Some(cqe_result(cqe.result()).map(|_| ()));
                }
            }
        }
        Ok(!self.sync_in_flight)
    }

    fn allocate(&mut self, file: &File, len: u64) -> io::Result<()> {
        fallocate_or_set_len(file, len)
    }
}

impl Drop for UringIo {
    fn drop(&mut self) {
        // Leave nothing in flight (a sync holds no buffer, but reap it for tidiness).
        let _ = self.finish_sync();
    }
}
