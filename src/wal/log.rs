//! [`Wal`]: open (with recovery), append, flush, truncate, close.

use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::format::{encode_record_unsealed, record_size, SEGMENT_HEADER_BYTES};
use super::io::{FaultIo, FaultPlan, SyncIo, WalIo};
use super::recovery::{recover, RecoveryStats, WalRecord, WalRecovery};
use super::segment::sync_dir;
#[cfg(target_os = "linux")]
use super::uring::UringIo;
use super::writer::{open_active, Core, Shared, State, SyncPolicy, Writer};
use crate::{Error, Result};

/// Which I/O path the writer uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IoChoice {
    /// io_uring when it can be set up, plain syscalls otherwise (the choice is logged).
    #[default]
    Auto,
    /// io_uring or an error.
    Uring,
    /// Plain `pwrite` + `fdatasync`.
    Sync,
    /// io_uring with the batch writes submitted on the ring too (measured slower here; kept
    /// for comparison and tested like the others).
    UringRingWrites,
}

impl std::str::FromStr for IoChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "uring" | "io_uring" | "io-uring" => Ok(Self::Uring),
            "sync" => Ok(Self::Sync),
            "uring-ring-writes" => Ok(Self::UringRingWrites),
            _ => Err(Error::invalid(
                "wal_io",
                format!("one of auto, uring, sync, uring-ring-writes; got '{s}'"),
            )),
        }
    }
}

/// How to open a [`Wal`].
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// When appends are acknowledged. Default: `Interval(5000)`, the seed's default.
    pub sync: SyncPolicy,
    /// Which I/O path. Default: `Auto`.
    pub io: IoChoice,
    /// Size segments are pre-allocated to. Default 64 MiB. A payload must fit in one.
    pub segment_bytes: u64,
    /// How many recycled segment files are kept for reuse (more are deleted). Default 4.
    pub max_free_segments: usize,
    /// Records below this LSN (already in a checkpoint) are validated but not returned, and
    /// the next LSN is at least this. Default 0.
    pub replay_from_lsn: u64,
    /// Appenders wait while this many bytes are queued and not yet written. Default 64 MiB.
    pub max_pending_bytes: usize,
    /// What recovery does with damage that is not a torn tail. Default: refuse to open.
    pub recovery: WalRecovery,
    /// Tests only: wrap the I/O path in a fault injector.
    #[doc(hidden)]
    pub fault: Option<FaultPlan>,
    /// Give the records to replay as slices of the mapped segments ([`Replay::mapped`])
    /// instead of copies ([`Replay::records`] stays empty). Replay them before the first
    /// [`Wal::truncate_before`], which may recycle their segments. Default: false.
    pub map_records: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            sync: SyncPolicy::default(),
            io: IoChoice::Auto,
            segment_bytes: 64 << 20,
            max_free_segments: 4,
            replay_from_lsn: 0,
            max_pending_bytes: 64 << 20,
            recovery: WalRecovery::Refuse,
            fault: None,
            map_records: false,
        }
    }
}

/// The records and statistics of recovery, returned by [`Wal::open`].
#[derive(Debug, Default)]
pub struct Replay {
    /// The valid prefix of the log from `replay_from_lsn`, in LSN order (empty with
    /// [`WalOptions::map_records`]).
    pub records: Vec<WalRecord>,
    /// The same records in the mapped segments, with [`WalOptions::map_records`].
    pub mapped: super::recovery::MappedRecords,
    /// What recovery found and repaired.
    pub stats: RecoveryStats,
}

/// A write-ahead log. `Send + Sync`: share it behind an `Arc`; appends from many threads
/// are grouped into one write (and one fdatasync) per batch.
pub struct Wal {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    io_kind: &'static str,
    max_payload: usize,
    max_pending: usize,
    /// Holds an exclusive `flock` on `<dir>/LOCK`: one `Wal` per directory.
    /// The directory lock; released by `close`.
    lock: Mutex<Option<DirLock>>,
    /// The replication tail, once [`Wal::backlog`] made it: fed under the state lock.
    backlog: std::sync::OnceLock<Arc<super::backlog::Backlog>>,
}

/// Whether a `Wal` holds `dir` open now (in this process or another): its `LOCK` file is
/// locked. Creates nothing.
pub fn in_use(dir: &Path) -> Result<bool> {
    use std::os::unix::io::AsRawFd;
    let file = match std::fs::File::open(dir.join("LOCK")) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    // SAFETY: flock only takes the descriptor, which is open for the call.
    let taken = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0;
    if taken {
        drop(DirLock(file)); // unlocked explicitly: see DirLock
    }
    Ok(!taken)
}

/// A locked `LOCK` file. Dropping it unlocks it explicitly (`LOCK_UN`) before closing it: a
/// flock belongs to the open file, and a child that another thread of this process forks
/// holds a copy of every descriptor until it executes its program, so a plain close could
/// leave the directory locked by that copy for a moment (an embedding application that
/// spawns processes, reopening the cache right after closing it, saw "in use").
struct DirLock(std::fs::File);

impl Drop for DirLock {
    fn drop(&mut self) {
        use std::os::unix::io::AsRawFd;
        // SAFETY: flock only takes the descriptor, which `self.0` keeps open for the call.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

/// Takes an exclusive lock on `<dir>/LOCK` (released when the file is closed, including
/// when the process dies).
fn lock_dir(dir: &Path) -> Result<DirLock> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))?;
    // SAFETY: flock only takes the descriptor, which is open for the call.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        return Err(Error::Io(std::io::Error::new(
            e.kind(),
            format!(
                "WAL directory {} is in use by another Wal: {e}",
                dir.display()
            ),
        )));
    }
    Ok(DirLock(file))
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("io", &self.io_kind)
            .field("policy", &self.shared.policy)
            .finish()
    }
}

#[cfg(target_os = "linux")]
fn make_io(choice: IoChoice) -> Result<Box<dyn WalIo>> {
    match choice {
        IoChoice::Sync => Ok(Box::new(SyncIo::new())),
        IoChoice::Uring => match UringIo::new() {
            Ok(u) => Ok(Box::new(u)),
            Err(e) => Err(Error::Unsupported(format!(
                "io_uring cannot be set up: {e}"
            ))),
        },
        IoChoice::UringRingWrites => match UringIo::with_ring_writes() {
            Ok(u) => Ok(Box::new(u)),
            Err(e) => Err(Error::Unsupported(format!(
                "io_uring cannot be set up: {e}"
            ))),
        },
        IoChoice::Auto => match UringIo::new() {
            Ok(u) => Ok(Box::new(u)),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable; the WAL uses pwrite + fdatasync");
                Ok(Box::new(SyncIo::new()))
            }
        },
    }
}

/// Outside Linux there is no io_uring: `Auto` is plain syscalls, asking for the ring is an
/// error that says so.
#[cfg(not(target_os = "linux"))]
fn make_io(choice: IoChoice) -> Result<Box<dyn WalIo>> {
    match choice {
        IoChoice::Sync | IoChoice::Auto => Ok(Box::new(SyncIo::new())),
        IoChoice::Uring | IoChoice::UringRingWrites => Err(Error::Unsupported(
            "io_uring is Linux-only; use wal_io auto or sync".into(),
        )),
    }
}

impl Wal {
    /// Opens (creating if needed) the WAL in `dir`: recovers and repairs the log, returns
    /// its valid prefix for replay, and starts the writer thread.
    pub fn open(dir: impl AsRef<Path>, opts: WalOptions) -> Result<(Wal, Replay)> {
        let dir = dir.as_ref().to_path_buf();
        let min_segment = (SEGMENT_HEADER_BYTES + record_size(0)) as u64;
        if opts.segment_bytes < min_segment || opts.segment_bytes > (1 << 40) {
            return Err(Error::invalid(
                "segment_bytes",
                format!("between {min_segment} and 2^40"),
            ));
        }
        if let SyncPolicy::Interval(0) = opts.sync {
            return Err(Error::invalid("sync", "an interval of at least 1 ms"));
        }
        let mut io = make_io(opts.io)?;
        if let Some(plan) = opts.fault.clone() {
            io = Box::new(FaultIo::new(io, plan));
        }
        let io_kind = io.kind();
        tracing::info!(dir = %dir.display(), io = io_kind, policy = ?opts.sync, "opening WAL");

        std::fs::create_dir_all(&dir)?;
        let lock = lock_dir(&dir)?;
        let rec = recover(
            &dir,
            opts.replay_from_lsn,
            opts.max_free_segments,
            opts.recovery,
            opts.map_records,
        )?;
        let mut stats = rec.stats;
        let mut segdir = rec.dir;
        let mut tail = rec.tail;
        let mut next_lsn = stats.next_lsn;
        if next_lsn < opts.replay_from_lsn {
            // The whole log is below the checkpoint: start afresh at the checkpoint so LSNs
            // stay consecutive within segments.
            if let Some(t) = tail.take() {
                segdir.sealed.push(super::segment::Sealed {
                    last_lsn: t.last_lsn,
                    path: t.path,
                });
            }
            for s in std::mem::take(&mut segdir.sealed) {
                segdir.recycle(&dir, &s.path, opts.max_free_segments)?;
            }
            sync_dir(&dir)?;
            next_lsn = opts.replay_from_lsn;
            stats.next_lsn = next_lsn;
        }
        let segdir = Mutex::new(segdir);
        let active = open_active(
            io.as_mut(),
            &dir,
            &segdir,
            opts.segment_bytes,
            tail,
            next_lsn,
        )?;
        let shared = Arc::new(Shared {
            core: Mutex::new(Core::new(io, active)),
            state: Mutex::new(State {
                next_lsn,
                pending: Vec::new(),
                written_lsn: next_lsn - 1,
                durable_lsn: next_lsn - 1,
                sync_wanted_lsn: 0,
                poisoned: None,
                stalled: None,
                closing: false,
                writer_exited: false,
                batches: 0,
                unsynced_bytes: 0,
                syncs: 0,
                waiters: Vec::new(),
                wake_at: 0,
            }),
            work: Condvar::new(),
            done: Condvar::new(),
            segdir,
            dir,
            policy: opts.sync,
            segment_bytes: opts.segment_bytes,
            max_free_segments: opts.max_free_segments,
            sync_durations: Default::default(),
        });
        let writer = Writer::new(shared.clone());
        let handle = std::thread::Builder::new()
            .name("wal-writer".into())
            .spawn({
                let shared = shared.clone();
                move || {
                    let run = std::panic::AssertUnwindSafe(|| writer.run());
                    if std::panic::catch_unwind(run).is_err() {
                        // A bug, not an I/O error: fail-stop all the same, never hang.
                        let mut st = shared.state.lock();
                        st.poisoned
                            .get_or_insert_with(|| "the WAL writer thread panicked".into());
                        st.writer_exited = true;
                        shared.notify(st);
                    }
                }
            })?;
        let max_payload =
            (opts.segment_bytes as usize - SEGMENT_HEADER_BYTES).min(u32::MAX as usize) / 8 * 8
                - super::format::RECORD_HEADER_BYTES;
        Ok((
            Wal {
                shared,
                writer: Mutex::new(Some(handle)),
                io_kind,
                max_payload,
                max_pending: opts.max_pending_bytes.max(1),
                lock: Mutex::new(Some(lock)),
                backlog: std::sync::OnceLock::new(),
            },
            Replay {
                records: rec.records,
                mapped: rec.mapped,
                stats,
            },
        ))
    }

    /// The I/O path in use: `"io_uring"` or `"sync"`.
    pub fn io_kind(&self) -> &'static str {
        self.io_kind
    }

    /// The sync policy in use.
    pub fn policy(&self) -> SyncPolicy {
        self.shared.policy
    }

    /// The largest payload one record can hold.
    pub fn max_payload_bytes(&self) -> usize {
        self.max_payload
    }

    /// Appends one record and blocks until it is acknowledged under the sync policy.
    /// Returns its LSN.
    pub fn append(&self, kind: u8, payload: &[u8]) -> Result<u64> {
        let lsn = self.enqueue(&[(kind, payload)])?.end - 1;
        self.wait_for(lsn)?;
        Ok(lsn)
    }

    /// Appends records with consecutive LSNs (one batch) and blocks until all are
    /// acknowledged. Returns their LSNs, `first..last + 1`.
    pub fn append_batch(&self, records: &[(u8, &[u8])]) -> Result<std::ops::Range<u64>> {
        let lsns = self.enqueue(records)?;
        if !lsns.is_empty() {
            self.wait_for(lsns.end - 1)?;
        }
        Ok(lsns)
    }

    /// Queues records without waiting and returns their LSNs; [`Wal::wait_for`] the last
    /// one before acknowledging to a client. LSN order is the order of these calls.
    pub fn enqueue(&self, records: &[(u8, &[u8])]) -> Result<std::ops::Range<u64>> {
        let mut bytes = 0usize;
        for (_, p) in records {
            if p.len() > self.max_payload {
                return Err(Error::TooLarge {
                    arg: "payload",
                    len: p.len(),
                    limit: self.max_payload,
                });
            }
            bytes += record_size(p.len());
        }
        let mut st = self.shared.state.lock();
        let mut asked = false;
        loop {
            if let Some(p) = st.refusal() {
                return Err(Error::WalPoisoned(p.clone()));
            }
            if st.closing || st.writer_exited {
                return Err(Error::Closed);
            }
            if st.pending.is_empty() || st.pending.len() + bytes <= self.max_pending {
                break;
            }
            if !asked {
                // Too much queued: write it here or have the thread write it, then look again.
                drop(st);
                self.shared.write_or_wake();
                st = self.shared.state.lock();
                asked = true;
                continue;
            }
            self.shared.done.wait(&mut st);
            asked = false;
        }
        let first = st.next_lsn;
        st.pending.reserve(bytes);
        let backlog = self.backlog.get();
        for (kind, payload) in records {
            let lsn = st.next_lsn;
            encode_record_unsealed(&mut st.pending, lsn, *kind, payload);
            if let Some(b) = backlog {
                b.push(lsn, *kind, payload);
            }
            st.next_lsn += 1;
        }
        let end = st.next_lsn;
        // Under `always` the thread is woken when it waits for appends (`State::wake_at`,
        // decided here under the lock it set it under); under interval/never the waiter
        // writes the batch itself or wakes the thread (`write_or_wake`), and the thread also
        // looks every interval for records no one waits for.
        let wake = self.shared.policy == SyncPolicy::Always && end >= st.wake_at;
        drop(st);
        if wake {
            self.shared.work.notify_one();
        }
        Ok(first..end)
    }

    /// The replication tail of this log ([`super::Backlog`]), made at the first call with
    /// room for about `limit_bytes` of records: from then on every appended record is also
    /// kept there, in LSN order, until the limit pushes it out. Later calls return the same
    /// one (their limit is ignored). Appends cost nothing extra until it is made.
    pub fn backlog(&self, limit_bytes: usize) -> Arc<super::backlog::Backlog> {
        if let Some(b) = self.backlog.get() {
            return b.clone();
        }
        // Made under the state lock, which every append takes to get its LSN: no record is
        // missed between the backlog's first LSN and the first one it receives.
        let st = self.shared.state.lock();
        self.backlog
            .get_or_init(|| Arc::new(super::backlog::Backlog::new(st.next_lsn, limit_bytes)))
            .clone()
    }

    /// [`Wal::backlog`], made now (if it was not) holding the newest of `records` (the
    /// tail [`Wal::open`] returned, read back from the log) that fit in about `limit_bytes`:
    /// a restarted master serves partial resyncs from what its log still held. Call it
    /// before the first append to keep every record; after, the records are not used (the
    /// backlog starts at the next LSN).
    pub fn backlog_seeded(
        &self,
        limit_bytes: usize,
        records: &[WalRecord],
    ) -> Arc<super::backlog::Backlog> {
        if let Some(b) = self.backlog.get() {
            return b.clone();
        }
        let st = self.shared.state.lock();
        self.backlog
            .get_or_init(|| {
                Arc::new(super::backlog::Backlog::seeded(
                    records,
                    st.next_lsn,
                    limit_bytes,
                ))
            })
            .clone()
    }

    /// The replication tail if [`Wal::backlog`] made one.
    pub fn backlog_if_made(&self) -> Option<Arc<super::backlog::Backlog>> {
        self.backlog.get().cloned()
    }

    /// Blocks until `lsn` is acknowledged under the sync policy (or fails: poisoned WAL,
    /// closed WAL): [`Wal::wait_for_async`]'s wait, blocking ([`WaitFor::wait`]).
    pub fn wait_for(&self, lsn: u64) -> Result<()> {
        self.wait_for_async(lsn).wait()
    }

    /// The wait for `lsn`: a future for callers that must not block a thread (an async
    /// server), which resolves when `lsn` is acknowledged under the sync policy, or fails
    /// (poisoned WAL, closed WAL); the writer thread wakes it; it works with any executor.
    /// [`WaitFor::wait`] blocks for it instead.
    pub fn wait_for_async(&self, lsn: u64) -> WaitFor {
        WaitFor {
            shared: self.shared.clone(),
            lsn,
            yielded: false,
        }
    }

    /// fdatasyncs everything appended so far (in every policy) and returns the durable LSN.
    pub fn flush(&self) -> Result<u64> {
        let mut st = self.shared.state.lock();
        let target = st.next_lsn - 1;
        st.sync_wanted_lsn = st.sync_wanted_lsn.max(target);
        self.shared.work.notify_one();
        loop {
            // Fail-stop first: a poisoned log fails every call, even with nothing to sync
            // (its first segment may be what failed).
            if let Some(p) = st.refusal() {
                return Err(Error::WalPoisoned(p.clone()));
            }
            if st.durable_lsn >= target {
                return Ok(st.durable_lsn);
            }
            if st.writer_exited {
                return Err(Error::Closed);
            }
            self.shared.done.wait(&mut st);
        }
    }

    /// Every record up to this LSN has been fdatasynced.
    pub fn durable_lsn(&self) -> u64 {
        self.shared.state.lock().durable_lsn
    }

    /// Every record up to this LSN has been written (to the page cache at least).
    pub fn written_lsn(&self) -> u64 {
        self.shared.state.lock().written_lsn
    }

    /// Batches written and fdatasyncs completed since open (group commit: the records
    /// appended divided by either is the mean batch size).
    pub fn io_counts(&self) -> (u64, u64) {
        let st = self.shared.state.lock();
        (st.batches, st.syncs)
    }

    /// How long the fdatasyncs of segments took so far (`/metrics`).
    pub fn sync_durations(&self) -> crate::analytics::hist::DurationCounts {
        self.shared.sync_durations.load()
    }

    /// The LSN the next appended record gets.
    pub fn next_lsn(&self) -> u64 {
        self.shared.state.lock().next_lsn
    }

    /// Why appends fail now, if they do: the I/O error that poisoned the WAL (for good),
    /// or a full disk (until space is freed: the records a write could not put on disk are
    /// written again every 100 ms, and appends are accepted once they are).
    pub fn poisoned(&self) -> Option<String> {
        self.shared.state.lock().refusal().cloned()
    }

    /// Recycles every sealed segment whose records are all below `lsn` (a checkpoint's
    /// LSN); the active segment is never recycled. Returns how many were recycled.
    pub fn truncate_before(&self, lsn: u64) -> Result<usize> {
        let mut segdir = self.shared.segdir.lock();
        let mut n = 0;
        while segdir.sealed.first().is_some_and(|s| s.last_lsn < lsn) {
            let s = segdir.sealed.remove(0);
            segdir.recycle(&self.shared.dir, &s.path, self.shared.max_free_segments)?;
            n += 1;
        }
        if n > 0 {
            sync_dir(&self.shared.dir)?;
        }
        Ok(n)
    }

    /// Live segment files (sealed ones plus the active one).
    pub fn segment_count(&self) -> usize {
        self.shared.segdir.lock().sealed.len() + 1
    }

    /// Writes and fdatasyncs everything queued, then stops the writer. Later calls fail with
    /// [`Error::Closed`]. Returns the poisoning error if the WAL was poisoned.
    pub fn close(&self) -> Result<()> {
        {
            let mut st = self.shared.state.lock();
            st.closing = true;
            self.shared.work.notify_one();
        }
        if let Some(h) = self.writer.lock().take() {
            if h.join().is_err() {
                return Err(Error::Internal("WAL writer thread panicked".into()));
            }
        }
        self.lock.lock().take(); // another Wal may open the directory now
        match &self.shared.state.lock().poisoned {
            Some(p) => Err(Error::WalPoisoned(p.clone())),
            None => Ok(()),
        }
    }
}

/// The future of [`Wal::wait_for_async`].
#[must_use = "a future does nothing unless awaited"]
pub struct WaitFor {
    shared: Arc<Shared>,
    lsn: u64,
    /// Under `interval`/`never` the first poll that finds the record unwritten yields once
    /// before writing: the other tasks ready on this thread append theirs meanwhile, and one
    /// write then covers them all (group commit of the page-cache write).
    yielded: bool,
}

impl WaitFor {
    /// The LSN this waits for (acknowledgements move a watermark: waiting for the highest
    /// LSN of several records waits for all of them).
    pub fn lsn(&self) -> u64 {
        self.lsn
    }
}

impl WaitFor {
    /// Blocks the calling thread until the record is acknowledged (or the wait fails).
    pub fn wait(self) -> Result<()> {
        self.shared.write_or_wake();
        let mut st = self.shared.state.lock();
        loop {
            if let Some(outcome) = self.shared.wait_outcome(&st, self.lsn) {
                return outcome;
            }
            self.shared.done.wait(&mut st);
        }
    }
}

impl std::fmt::Debug for WaitFor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitFor").field("lsn", &self.lsn).finish()
    }
}

impl std::future::Future for WaitFor {
    type Output = Result<()>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<()>> {
        if let Some(outcome) = self
            .shared
            .wait_outcome(&self.shared.state.lock(), self.lsn)
        {
            return std::task::Poll::Ready(outcome);
        }
        if !self.yielded && self.shared.policy != SyncPolicy::Always {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return std::task::Poll::Pending;
        }
        self.shared.write_or_wake();
        let mut st = self.shared.state.lock();
        if let Some(outcome) = self.shared.wait_outcome(&st, self.lsn) {
            return std::task::Poll::Ready(outcome);
        }
        // Registered under the same lock the writer takes to move the watermarks, so the
        // wake-up cannot be missed. A waiter already registered with this task's waker is
        // updated in place rather than added twice.
        let lsn = self.lsn;
        match st
            .waiters
            .iter_mut()
            .find(|(l, w)| *l == lsn && w.will_wake(cx.waker()))
        {
            Some(_) => {}
            None => st.waiters.push((lsn, cx.waker().clone())),
        }
        std::task::Poll::Pending
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}
