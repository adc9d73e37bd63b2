//! The writer thread: group commit, segment rollover, sync policy, fail-stop.
//!
//! Appenders encode records (checksum left blank) into `State::pending` under the lock and
//! wait on `Shared::done`. The writer swaps the whole pending buffer out (everything that
//! arrived while it was busy is one batch), seals each record with the seed of the segment
//! it lands in, and writes the batch with one write per segment touched. Under `always`, it
//! then starts an fdatasync and, while that is in flight, takes and writes the next batch;
//! it reaps the sync before starting the next one. Acknowledgement is a watermark:
//! `written_lsn` (in the page cache) and `durable_lsn` (fdatasynced).
//!
//! Under `interval` and `never`, where an acknowledgement waits only for the write, an
//! appender that is about to wait writes the pending batch itself when nobody else is writing
//! ([`Shared::write_here`]): a write to the page cache costs less than waking this thread
//! and being woken by it. The I/O path and the active segment sit in [`Core`], behind a
//! mutex taken before the state lock by whoever writes, so batches reach the file in LSN
//! order; the thread still does every fdatasync, every segment rollover, and every batch an
//! appender left to it.

use std::fs::OpenOptions;
use std::io;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::format::{record_size, seal_record, SEGMENT_HEADER_BYTES};
use super::io::{write_all_at, WalIo};
use super::recovery::Tail;
use super::segment::{open_new_segment, publish, stage_segment, Active, Sealed, SegmentDir};

/// How often the writer thread looks at an fdatasync in flight on the ring under
/// `interval`/`never` (it writes the batches that arrive meanwhile).
const SYNC_POLL: Duration = Duration::from_micros(500);

/// While the disk is full, the writer thread tries the unwritten records again this often.
pub(crate) const FULL_RETRY: Duration = Duration::from_millis(100);

/// Whether a write failed for lack of space (the disk or the quota is full): the records are
/// kept and written again once space is freed, instead of failing the log for good.
fn is_full(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// Under `interval`, an fdatasync also starts once this many bytes were written since the
/// last one (as Redis's incremental fsync): the page cache never holds much of the log
/// dirty, so no single sync, and no segment rollover (which seals the old segment with
/// one), has hundreds of MB to write at once while writers wait.
const SYNC_AFTER_BYTES: u64 = 8 << 20;

pub use crate::vocab::SyncPolicy;

/// State shared by appenders and the writer, under `Shared::state`.
#[derive(Debug)]
pub(crate) struct State {
    /// LSN the next appended record gets.
    pub next_lsn: u64,
    /// Encoded, unsealed records with LSNs `next_lsn - n ..= next_lsn - 1`.
    pub pending: Vec<u8>,
    /// Every record up to this LSN has been written (is in the page cache).
    pub written_lsn: u64,
    /// Every record up to this LSN has been fdatasynced.
    pub durable_lsn: u64,
    /// `flush` asks for an fdatasync covering this LSN.
    pub sync_wanted_lsn: u64,
    /// Set on the first I/O error: the message every later call returns.
    pub poisoned: Option<String>,
    /// Set while the disk is full: the records of `Core::unwritten` wait to be written
    /// again; appends and waits fail with this message meanwhile; cleared once they are.
    pub stalled: Option<String>,
    /// `close` was called: drain, sync, exit.
    pub closing: bool,
    /// The writer thread has returned.
    pub writer_exited: bool,
    /// Batches written since open (one write per segment touched each).
    pub batches: u64,
    /// fdatasyncs completed since open.
    pub syncs: u64,
    /// Bytes written since the last fdatasync started (under `interval` one starts early
    /// past [`SYNC_AFTER_BYTES`]).
    pub unsynced_bytes: u64,
    /// Async waiters ([`super::WaitFor`]): the LSN each waits for and its waker.
    pub waiters: Vec<(u64, std::task::Waker)>,
    /// Under `always`: an append that brings `next_lsn` to at least this wakes the writer
    /// thread (`work`). The thread sets it, under this lock, right before it waits on `work`
    /// for appends — 0 when idle (any append), the count it gathers for after a sync — and
    /// back to `u64::MAX` when it stops waiting: while it works, appends need not wake it,
    /// as it looks at `pending` under this lock before waiting again. Set and read under
    /// the same lock, and the thread is queued on `work` before `wait` releases the lock, so
    /// an append that sees the thread waiting always reaches it (no lost wake-up).
    pub wake_at: u64,
}

/// What writing needs: the I/O path and the active segment.
pub(crate) struct Core {
    pub io: Box<dyn WalIo>,
    pub active: Active,
    /// An fdatasync started by the writer thread is in flight on `io` (appenders write
    /// meanwhile only where it runs on the ring).
    pub sync_busy: bool,
    /// A batch buffer kept for reuse by [`Shared::write_here`].
    spare: Vec<u8>,
    /// Records a write could not put on disk for lack of space (they precede everything
    /// pending): the writer thread writes them again every [`FULL_RETRY`].
    pub unwritten: Vec<u8>,
}

impl Core {
    pub fn new(io: Box<dyn WalIo>, active: Active) -> Self {
        Self {
            io,
            active,
            sync_busy: false,
            spare: Vec::new(),
            unwritten: Vec::new(),
        }
    }
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("io", &self.io.kind())
            .field("segment", &self.active.path)
            .field("offset", &self.active.offset)
            .finish()
    }
}

/// Appenders and the writer meet here. Lock order: `core` before `state`.
#[derive(Debug)]
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Taken by whoever writes a batch (the writer thread, or an appender in `write_here`).
    pub core: Mutex<Core>,
    /// The writer waits here for work.
    pub work: Condvar,
    /// Appenders wait here for their acknowledgement.
    pub done: Condvar,
    /// Sealed and free segment files.
    pub segdir: Mutex<SegmentDir>,
    pub dir: PathBuf,
    pub policy: SyncPolicy,
    pub segment_bytes: u64,
    pub max_free_segments: usize,
    /// How long each fdatasync of a segment took (the writer thread's; with io_uring, from
    /// its start to the poll that saw it end: an upper bound). Read by `/metrics`.
    pub sync_durations: crate::analytics::hist::Durations,
}

impl State {
    /// Why appends and waits fail now: the WAL is poisoned (for good) or stalled on a full
    /// disk (until space is freed).
    pub fn refusal(&self) -> Option<&String> {
        self.poisoned.as_ref().or(self.stalled.as_ref())
    }
}

impl Shared {
    /// Whether `lsn` is acknowledged under the policy.
    pub fn acked(&self, st: &State, lsn: u64) -> bool {
        match self.policy {
            SyncPolicy::Always => st.durable_lsn >= lsn,
            _ => st.written_lsn >= lsn,
        }
    }

    /// Whether a wait for `lsn` is over: `Some(Ok)` once acknowledged, `Some(Err)` when it
    /// never will be (poisoned or closed WAL), `None` while it may still be.
    pub fn wait_outcome(&self, st: &State, lsn: u64) -> Option<crate::Result<()>> {
        if self.acked(st, lsn) {
            return Some(Ok(()));
        }
        if let Some(p) = st.refusal() {
            return Some(Err(crate::Error::WalPoisoned(p.clone())));
        }
        if st.writer_exited || lsn >= st.next_lsn {
            return Some(Err(crate::Error::Closed));
        }
        None
    }

    /// Announces a change of the watermarks (or of `poisoned` / `writer_exited`): wakes the
    /// threads waiting on `done` and the async waiters whose wait is over. Releases `st`
    /// first, so that woken tasks do not contend for the lock the writer just held.
    pub fn notify(&self, mut st: parking_lot::MutexGuard<'_, State>) {
        self.done.notify_all();
        if st.waiters.is_empty() {
            return;
        }
        let mut ready = Vec::new();
        let mut i = 0;
        while i < st.waiters.len() {
            if self.wait_outcome(&st, st.waiters[i].0).is_some() {
                ready.push(st.waiters.swap_remove(i).1);
            } else {
                i += 1;
            }
        }
        drop(st);
        for w in ready {
            w.wake();
        }
    }

    /// Writes the pending batch on the calling thread, unless someone else holds the writing
    /// side, an fdatasync is in flight, or the batch would not fit in the active segment
    /// (rollover is the thread's). Returns whether nothing is left pending by this call.
    fn write_here(&self) -> bool {
        let Some(mut guard) = self.core.try_lock() else {
            return false;
        };
        let core = &mut *guard;
        // With io_uring the thread's fdatasync runs on the ring while this writes; a sync
        // done by plain syscalls holds the thread, which then writes next.
        if core.sync_busy && !core.io.sync_overlaps() {
            return false;
        }
        // A segment the thread has not published yet (`Writer::run`'s first job) is its own.
        if core.active.staged.is_some() {
            return false;
        }
        let mut st = self.state.lock();
        if st.refusal().is_some() || st.closing || st.writer_exited {
            return false;
        }
        if st.pending.is_empty() {
            return true;
        }
        if core.active.offset + st.pending.len() as u64 > core.active.capacity {
            return false;
        }
        let mut batch = std::mem::replace(&mut st.pending, std::mem::take(&mut core.spare));
        drop(st);
        let mut pos = 0;
        let mut last = core.active.last_lsn;
        while pos < batch.len() {
            let size = record_size(len_of(&batch[pos..]));
            last = lsn_of(&batch[pos..]);
            seal_record(core.active.header.seed, &mut batch[pos..]);
            pos += size;
        }
        if let Err(e) = write_chunk(core, &batch, last) {
            if is_full(&e) {
                // Kept for the thread to write again once space is freed.
                core.unwritten = batch;
                self.stall(&core.active.path, &e);
                self.work.notify_one();
                return true;
            }
            // Fail-stop as the thread would: every waiter gets the error.
            self.poison("write", &e);
            return true;
        }
        let bytes = batch.len() as u64;
        batch.clear();
        core.spare = batch;
        self.mark_written(last, bytes);
        true
    }

    /// Under `interval` and `never`, before waiting for an acknowledgement: writes the
    /// pending batch here ([`Shared::write_here`]) or else wakes the writer thread to write
    /// it. Under `always` nothing to do: every append already woke the thread.
    pub fn write_or_wake(&self) {
        if self.policy != SyncPolicy::Always && !self.write_here() {
            self.work.notify_one();
        }
    }

    /// A batch up to `last` (`bytes` long) is in the page cache: moves the watermark and
    /// wakes its waiters.
    fn mark_written(&self, last: u64, bytes: u64) {
        let mut st = self.state.lock();
        st.unsynced_bytes += bytes;
        // The thread sets its interval's deadline from the first write since a sync, and
        // starts a sync early once enough is written: both need it awake.
        let wake = st.written_lsn == st.durable_lsn
            || (st.unsynced_bytes >= SYNC_AFTER_BYTES
                && st.unsynced_bytes - bytes < SYNC_AFTER_BYTES);
        st.written_lsn = st.written_lsn.max(last);
        st.batches += 1;
        self.notify(st);
        if wake {
            self.work.notify_one();
        }
    }

    fn poison(&self, what: &str, e: &io::Error) {
        let mut st = self.state.lock();
        if st.poisoned.is_none() {
            tracing::error!(error = %e, "WAL {what} failed; the WAL refuses writes until reopened");
            st.poisoned = Some(format!(
                "{what} failed: {e}; writes are refused until the server is restarted (an \
                 fdatasync is never retried: restart once the disk is healthy, and recovery \
                 keeps what reached it)"
            ));
        }
        self.notify(st);
    }

    /// The disk is full: appends and waits fail until `Core::unwritten` is written again.
    fn stall(&self, path: &std::path::Path, e: &io::Error) {
        let mut st = self.state.lock();
        if st.stalled.is_none() {
            tracing::error!(
                error = %e,
                segment = %path.display(),
                "WAL write failed for lack of space; writes are refused until space is freed"
            );
            st.stalled = Some(format!(
                "disk full writing {}: {e}; writes are refused until space is freed, then \
                 resume by themselves (retried every {} ms); reads are served",
                path.display(),
                FULL_RETRY.as_millis()
            ));
        }
        self.notify(st);
    }

    /// The records kept on a full disk are written: appends are accepted again.
    fn unstall(&self) {
        let mut st = self.state.lock();
        if st.stalled.take().is_some() {
            tracing::warn!("WAL writes resumed: space was freed");
        }
        self.notify(st);
    }
}

/// The writer thread's own state.
pub(crate) struct Writer {
    pub shared: std::sync::Arc<Shared>,
    /// Whether the I/O path overlaps a write with an fdatasync in flight.
    sync_overlaps: bool,
    /// The LSN covered by the fdatasync in flight, if one is.
    sync_in_flight: Option<u64>,
    /// When the last sync started.
    last_sync: Instant,
    /// Moving average of how long a sync takes (start to reaped).
    sync_ewma: Duration,
}

fn lsn_of(rec: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&rec[8..16]);
    u64::from_le_bytes(b)
}

fn len_of(rec: &[u8]) -> usize {
    let mut b = [0u8; 4];
    b.copy_from_slice(&rec[0..4]);
    u32::from_le_bytes(b) as usize
}

/// Opens the recovered tail for appending, or stages the first segment at `next_lsn`.
pub(crate) fn open_active(
    io: &mut dyn WalIo,
    dir: &std::path::Path,
    segdir: &Mutex<SegmentDir>,
    segment_bytes: u64,
    tail: Option<Tail>,
    next_lsn: u64,
) -> io::Result<Active> {
    Ok(match tail {
        Some(t) => {
            let file = OpenOptions::new().read(true).write(true).open(&t.path)?;
            let capacity = t
                .file_len
                .max(t.header.capacity.min(segment_bytes))
                .max(SEGMENT_HEADER_BYTES as u64);
            if t.file_len < capacity {
                io.allocate(&file, capacity)?;
            }
            Active {
                file,
                header: t.header,
                path: t.path,
                offset: t.end,
                capacity,
                last_lsn: t.last_lsn,
                staged: None,
            }
        }
        None => {
            // Staged only: its pre-allocation and syncs (tens of ms on a busy disk) are the
            // writer thread's first job (`Writer::run`), not the opener's.
            let free = segdir.lock().free.pop();
            stage_segment(io, dir, free, next_lsn, segment_bytes)?
        }
    })
}

impl Writer {
    pub fn new(shared: std::sync::Arc<Shared>) -> Self {
        let sync_overlaps = shared.core.lock().io.sync_overlaps();
        Self {
            shared,
            sync_overlaps,
            sync_in_flight: None,
            last_sync: Instant::now(),
            sync_ewma: Duration::ZERO,
        }
    }

    /// Whether an fdatasync should start now.
    fn sync_due(&self, st: &State) -> bool {
        let covered = self.sync_in_flight.unwrap_or(st.durable_lsn);
        if st.written_lsn <= covered {
            return false;
        }
        st.closing
            || st.sync_wanted_lsn > covered
            || match self.shared.policy {
                SyncPolicy::Always => true,
                SyncPolicy::Interval(ms) => {
                    self.last_sync.elapsed() >= Duration::from_millis(ms)
                        || st.unsynced_bytes >= SYNC_AFTER_BYTES
                }
                SyncPolicy::Never => false,
            }
    }

    /// The thread's body: runs until `close` or the first I/O error.
    pub fn run(mut self) {
        let mut batch: Vec<u8> = Vec::new();
        // Its own handle, so a held `core` guard does not borrow `self`.
        let shared = self.shared.clone();
        {
            // A segment staged by `Wal::open`: published before anything is synced, so no
            // record is acknowledged as durable in a file without its live name.
            let mut core = shared.core.lock();
            let core = &mut *core;
            if let Err(e) = publish(core.io.as_mut(), &shared.dir, &mut core.active) {
                // The loop below stops at once on a poisoned WAL.
                self.shared.poison("segment creation", &e);
            }
        }
        loop {
            let mut st = self.shared.state.lock();
            // Under interval/never a sync in flight on the ring is polled, never waited for
            // with the writing side held: appenders go on writing (and being acknowledged)
            // while it runs, as that policy promises. Closing waits for it.
            let poll = self.shared.policy != SyncPolicy::Always && self.sync_overlaps;
            loop {
                if st.poisoned.is_some() {
                    break;
                }
                if st.stalled.is_some() {
                    // Try the kept records again after a while (at once when closing).
                    if !st.closing {
                        self.shared.work.wait_for(&mut st, FULL_RETRY);
                    }
                    break;
                }
                let waited_for = self.sync_in_flight.is_some() && (!poll || st.closing);
                if !st.pending.is_empty() || waited_for || self.sync_due(&st) {
                    break;
                }
                if st.closing {
                    break;
                }
                if self.sync_in_flight.is_some() {
                    // Look at the sync again shortly, writing whatever arrives meanwhile.
                    self.shared.work.wait_for(&mut st, SYNC_POLL);
                    break;
                }
                // Under interval/never, appenders do not wake this thread for each record
                // (they write it themselves or ask): it also looks every interval (never: every
                // second) for records queued by an appender that never waited.
                match self.shared.policy {
                    SyncPolicy::Interval(ms) if st.written_lsn > st.durable_lsn => {
                        let deadline = self.last_sync + Duration::from_millis(ms);
                        self.shared.work.wait_until(&mut st, deadline);
                    }
                    SyncPolicy::Interval(ms) => {
                        self.shared
                            .work
                            .wait_for(&mut st, Duration::from_millis(ms));
                    }
                    SyncPolicy::Never => {
                        self.shared.work.wait_for(&mut st, Duration::from_secs(1));
                    }
                    SyncPolicy::Always => {
                        st.wake_at = 0;
                        self.shared.work.wait(&mut st);
                        st.wake_at = u64::MAX;
                    }
                }
            }
            if self.sync_in_flight.is_some()
                && self.shared.policy == SyncPolicy::Always
                && self.sync_overlaps
            {
                // Let the next batch gather for about half the usual sync time, then write
                // it while the sync finishes: its own sync starts the moment this one ends.
                let deadline = self.last_sync + self.sync_ewma / 2;
                while !st.closing && st.poisoned.is_none() && Instant::now() < deadline {
                    self.shared.work.wait_until(&mut st, deadline);
                }
            }
            if st.poisoned.is_some() {
                break;
            }
            drop(st);
            // The batch is taken under the writing side's lock, so no appender's batch can
            // reach the file between an earlier one taken here and its write.
            let mut core = shared.core.lock();
            if !core.unwritten.is_empty() {
                // What a full disk refused, before anything queued since.
                let mut kept = std::mem::take(&mut core.unwritten);
                match self.write_batch(&mut core, &mut kept) {
                    Ok(last) => {
                        self.shared.mark_written(last, kept.len() as u64);
                        self.shared.unstall();
                    }
                    Err((e, done)) => {
                        if done > 0 {
                            let last = core.active.last_lsn;
                            self.shared.mark_written(last, done as u64);
                        }
                        let closing = self.shared.state.lock().closing;
                        if is_full(&e) && !closing {
                            core.unwritten = kept.split_off(done);
                            continue;
                        }
                        drop(core);
                        self.shared.poison("write", &e);
                        break;
                    }
                }
            }
            let closing = {
                let mut st = self.shared.state.lock();
                std::mem::swap(&mut st.pending, &mut batch);
                st.closing
            };
            if !batch.is_empty() {
                let last = match self.write_batch(&mut core, &mut batch) {
                    Ok(last) => last,
                    Err((e, done)) => {
                        if done > 0 {
                            let last = core.active.last_lsn;
                            self.shared.mark_written(last, done as u64);
                        }
                        if is_full(&e) && !closing {
                            core.unwritten = batch.split_off(done);
                            batch.clear();
                            let path = core.active.path.clone();
                            drop(core);
                            self.shared.stall(&path, &e);
                            continue;
                        }
                        drop(core);
                        self.shared.poison("write", &e);
                        break;
                    }
                };
                let bytes = batch.len() as u64;
                batch.clear();
                self.shared.mark_written(last, bytes);
            }
            let poll_now = poll && !closing;
            let finished = match self.sync_in_flight {
                Some(_) if poll_now => core.io.sync_done(),
                _ => Ok(true),
            };
            let finished = match finished {
                Ok(f) => f,
                Err(e) => {
                    drop(core);
                    self.shared.poison("fdatasync", &e);
                    break;
                }
            };
            if let Some(covered) = self.sync_in_flight.take_if(|_| finished) {
                let synced = core.io.finish_sync();
                core.sync_busy = false;
                if let Err(e) = synced {
                    drop(core);
                    self.shared.poison("fdatasync", &e);
                    break;
                }
                // An upper bound of the sync's duration (it may have ended during the write).
                let took = self.last_sync.elapsed();
                self.shared.sync_durations.record(took);
                self.sync_ewma = (self.sync_ewma * 7 + took) / 8;
                let mut st = self.shared.state.lock();
                let acked = covered.saturating_sub(st.durable_lsn);
                st.durable_lsn = st.durable_lsn.max(covered);
                st.syncs += 1;
                self.shared.notify(st);
                if self.shared.policy == SyncPolicy::Always && acked >= 2 && self.gather(acked) {
                    // The writers just acknowledged are back: write them, then one sync.
                    // (Under `always` no appender writes, so holding `core` here blocks no one.)
                    continue;
                }
            }
            let mut st = self.shared.state.lock();
            if self.sync_in_flight.is_none() && self.sync_due(&st) {
                let covered = st.written_lsn;
                st.unsynced_bytes = 0;
                drop(st);
                // Taken before starting: with plain syscalls `start_sync` is the whole sync,
                // and `sync_ewma` measures from here.
                self.last_sync = Instant::now();
                let c = &mut *core;
                if let Err(e) = c.io.start_sync(&c.active.file) {
                    drop(core);
                    self.shared.poison("fdatasync", &e);
                    break;
                }
                core.sync_busy = true;
                self.sync_in_flight = Some(covered);
            } else if closing && st.pending.is_empty() && self.sync_in_flight.is_none() {
                break;
            }
        }
        if self.sync_in_flight.take().is_some() {
            // Already poisoned or closing; the result no longer changes anything.
            let mut core = shared.core.lock();
            let _ = core.io.finish_sync();
            core.sync_busy = false;
        }
        let mut st = self.shared.state.lock();
        st.writer_exited = true;
        self.shared.notify(st);
    }

    /// Under `always`, right after a sync acknowledged `acked` records: waits a little for
    /// as many new records, because with one request in flight per client the writers just
    /// acknowledged come straight back. Starting the next sync before they do splits the
    /// clients into two groups that alternate between syncs (each sync then covers half of
    /// them); waiting lets one sync cover them all. Bounded by half a sync and 1 ms, so a
    /// writer that does not come back costs at most that once. Returns whether records are
    /// pending (the caller writes them before the next sync).
    fn gather(&self, acked: u64) -> bool {
        let deadline = Instant::now() + (self.sync_ewma / 2).min(Duration::from_millis(1));
        let mut st = self.shared.state.lock();
        let unwritten = |st: &State| st.next_lsn - 1 - st.written_lsn;
        // Woken by the append that completes the count, not by each one before it (no one
        // else writes under `always`: `written_lsn` stays put meanwhile).
        st.wake_at = st.written_lsn.saturating_add(1).saturating_add(acked);
        while unwritten(&st) < acked && !st.closing && st.poisoned.is_none() {
            if self.shared.work.wait_until(&mut st, deadline).timed_out() {
                break;
            }
        }
        st.wake_at = u64::MAX;
        !st.pending.is_empty()
    }

    /// Seals and writes `batch`, rolling over to new segments as records stop fitting.
    /// Returns the LSN of the last record written; on failure, the error and how many bytes
    /// of `batch` were written (whole records, up to `core.active.last_lsn`).
    fn write_batch(
        &mut self,
        core: &mut Core,
        batch: &mut [u8],
    ) -> Result<u64, (io::Error, usize)> {
        let mut start = 0usize;
        let mut pos = 0usize;
        let mut last = core.active.last_lsn;
        while pos < batch.len() {
            let size = record_size(len_of(&batch[pos..]));
            let lsn = lsn_of(&batch[pos..]);
            if core.active.offset + (pos - start + size) as u64 > core.active.capacity {
                write_chunk(core, &batch[start..pos], last).map_err(|e| (e, start))?;
                start = pos;
                self.rollover(core, lsn, size).map_err(|e| (e, start))?;
            }
            // Sealing again (a retry after a full disk, maybe in a new segment) rewrites
            // the checksum for the segment's seed.
            seal_record(core.active.header.seed, &mut batch[pos..]);
            last = lsn;
            pos += size;
        }
        write_chunk(core, &batch[start..pos], last).map_err(|e| (e, start))?;
        Ok(last)
    }

    /// Seals the active segment (fdatasynced) and opens the next one at `first_lsn`, big
    /// enough for a record of `size` bytes.
    fn rollover(&mut self, core: &mut Core, first_lsn: u64, size: usize) -> io::Result<()> {
        // A failed fdatasync is never retried (the kernel may have dropped the pages): its
        // error must not pass for a full disk, whose writes are.
        let never_retried = |e: io::Error| io::Error::other(format!("fdatasync: {e}"));
        if self.sync_in_flight.take().is_some() {
            core.sync_busy = false;
            core.io.finish_sync().map_err(never_retried)?;
        }
        let started = Instant::now();
        core.io
            .sync_data(&core.active.file)
            .map_err(never_retried)?;
        self.shared.sync_durations.record(started.elapsed());
        let old_last = core.active.last_lsn;
        {
            let mut st = self.shared.state.lock();
            st.written_lsn = st.written_lsn.max(old_last);
            st.durable_lsn = st.durable_lsn.max(old_last);
            st.syncs += 1;
            st.unsynced_bytes = 0;
            self.shared.notify(st);
        }
        let capacity = self
            .shared
            .segment_bytes
            .max((SEGMENT_HEADER_BYTES + size) as u64);
        let free = self.shared.segdir.lock().free.pop();
        let next = open_new_segment(
            core.io.as_mut(),
            &self.shared.dir,
            free,
            first_lsn,
            capacity,
        )?;
        let old = std::mem::replace(&mut core.active, next);
        self.shared.segdir.lock().sealed.push(Sealed {
            last_lsn: old.last_lsn,
            path: old.path,
        });
        Ok(())
    }
}

/// Writes one sealed chunk at the active segment's end.
fn write_chunk(core: &mut Core, chunk: &[u8], last: u64) -> io::Result<()> {
    if chunk.is_empty() {
        return Ok(());
    }
    write_all_at(
        core.io.as_mut(),
        &core.active.file,
        chunk,
        core.active.offset,
    )?;
    core.active.offset += chunk.len() as u64;
    core.active.last_lsn = last;
    Ok(())
}
