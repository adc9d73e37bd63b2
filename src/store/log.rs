//! Where the store's records go, and the explicit value a caller's writes are tracked in.
//!
//! [`Log`] is the write-ahead log as the store appends to it (under a shard's write lock,
//! before the record is applied). [`Appends`] is what one caller (an engine call, a server
//! connection's pipeline, a transaction) has appended and not yet waited for: the highest LSN
//! and, inside a group, the framed records still to be logged as one. The store never waits:
//! the caller reads [`Appends::lsn`] and waits per the sync policy (the engine does).

use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::wal::Wal;

use super::record::Record;

/// The log the store appends to once the engine attached one (after recovery).
pub(crate) struct Log {
    target: Target,
    /// Payload bytes logged since the last checkpoint (a checkpoint trigger).
    pub bytes_since_checkpoint: AtomicU64,
}

enum Target {
    Wal(Arc<Wal>),
    /// Encoded records kept in memory (unit tests of replay).
    #[cfg(test)]
    Memory(parking_lot::Mutex<Vec<(u8, Vec<u8>)>>),
}

thread_local! {
    /// Scratch for encoding a record (a write allocates nothing once it has grown).
    static ENCODE_BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl Log {
    /// The write-ahead log as the store's log.
    pub fn wal(wal: Arc<Wal>) -> Self {
        Self {
            target: Target::Wal(wal),
            bytes_since_checkpoint: AtomicU64::new(0),
        }
    }

    /// A log that keeps encoded records in memory, for tests.
    #[cfg(test)]
    pub fn memory() -> Self {
        Self {
            target: Target::Memory(Default::default()),
            bytes_since_checkpoint: AtomicU64::new(0),
        }
    }

    /// The records a [`Log::memory`] holds, oldest first (kind, payload).
    #[cfg(test)]
    pub fn records(&self) -> Vec<(u8, Vec<u8>)> {
        match &self.target {
            Target::Memory(m) => m.lock().clone(),
            Target::Wal(_) => Vec::new(),
        }
    }

    /// Orders and enqueues the record; returns its LSN without waiting for durability.
    fn append(&self, rec: &Record<'_>) -> Result<u64> {
        ENCODE_BUF.with(|b| {
            let mut buf = b.borrow_mut();
            buf.clear();
            rec.encode(&mut buf);
            self.bytes_since_checkpoint
                .fetch_add(buf.len() as u64 + 24, Ordering::Relaxed);
            let lsn = match &self.target {
                Target::Wal(wal) => wal.enqueue(&[(rec.kind(), &buf)])?.end - 1,
                #[cfg(test)]
                Target::Memory(m) => {
                    let mut m = m.lock();
                    m.push((rec.kind(), buf.clone()));
                    m.len() as u64
                }
            };
            if buf.capacity() > 1 << 20 {
                *buf = Vec::new();
            }
            Ok(lsn)
        })
    }

    /// The largest payload one record may have.
    fn max_payload(&self) -> usize {
        match &self.target {
            Target::Wal(wal) => wal.max_payload_bytes(),
            #[cfg(test)]
            Target::Memory(_) => usize::MAX,
        }
    }

    /// The error an append would fail with now (a failed-stop log), if any.
    fn refusal(&self) -> Result<()> {
        match &self.target {
            Target::Wal(wal) => match wal.poisoned() {
                Some(why) => Err(Error::WalPoisoned(why)),
                None => Ok(()),
            },
            #[cfg(test)]
            Target::Memory(_) => Ok(()),
        }
    }
}

/// What one caller has appended and not yet waited for: the explicit value a write's
/// acknowledgement is made from (the engine waits for [`Appends::lsn`] per the sync policy,
/// at once or, for a pipeline, once for all of them). Not shared between threads.
#[derive(Default)]
pub(crate) struct Appends {
    /// The highest LSN appended through this (0: none).
    lsn: Cell<u64>,
    /// Inside a group ([`super::Store::grouped`]): its framed records, logged at its end.
    group: Option<RefCell<Vec<u8>>>,
}

impl Appends {
    /// Nothing appended yet, outside any group.
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest LSN appended through this, 0 when none: waiting for it waits for every
    /// record appended through this (the log acknowledges in LSN order).
    pub fn lsn(&self) -> u64 {
        self.lsn.get()
    }

    /// Whether this builds a group (its appends are logged together at the group's end).
    pub fn in_group(&self) -> bool {
        self.group.is_some()
    }

    fn note(&self, lsn: u64) {
        self.lsn.set(self.lsn.get().max(lsn));
    }
}

impl super::Store {
    /// Whether mutations go to a log (else [`super::Store::append`] only counts LSNs, and
    /// callers may skip building the record).
    pub fn logging(&self) -> bool {
        self.log.get().is_some()
    }

    /// Appends a mutation (under its shard's write lock, before applying it) and returns its
    /// LSN, which `to` remembers for the caller's wait. Fails (and the caller applies nothing)
    /// when the log refuses it. Without a log it only counts the LSN; inside a group it adds
    /// the record to the group and returns the LSN so far.
    pub(super) fn append(&self, to: &Appends, rec: &Record<'_>) -> Result<u64> {
        let Some(log) = self.log.get() else {
            let lsn = self.count_lsn();
            to.note(lsn);
            return Ok(lsn);
        };
        if let Some(group) = &to.group {
            // A failed-stop log refuses the write before it is applied, as outside a group.
            log.refusal()?;
            let mut buf = group.borrow_mut();
            // A group about to outgrow the log's record size is logged as it stands first,
            // so a transaction larger than that reaches the log in pieces.
            if !buf.is_empty() && buf.len() >= log.max_payload() / 2 {
                self.append_group(log, to, &buf)?;
                buf.clear();
            }
            super::record::push_to_group(&mut buf, rec);
            return Ok(self.last_lsn());
        }
        let lsn = log.append(rec)?;
        self.lsn.fetch_max(lsn, Ordering::SeqCst);
        to.note(lsn);
        Ok(lsn)
    }

    fn append_group(&self, log: &Log, to: &Appends, records: &[u8]) -> Result<()> {
        let lsn = log.append(&Record::Group { records })?;
        self.lsn.fetch_max(lsn, Ordering::SeqCst);
        to.note(lsn);
        Ok(())
    }

    /// Runs `f` with a group: the records appended through the [`Appends`] it is handed reach
    /// the log as one [`Record::Group`], appended (through `to`, which then holds its LSN)
    /// before this returns: after a crash recovery finds all of them or none. The writes are
    /// applied as `f` makes them and logged at its end, so the caller must keep other writers
    /// off the keys `f` touches until then (the server's MULTI/EXEC gate does, or the
    /// caller's shard write locks: `take_gate: false`, MSET), or the log's order could differ
    /// from memory's. With `take_gate` the group gate is held exclusively meanwhile (a
    /// checkpoint takes it shared, so no image holds part of a group). Inside a group `f`
    /// joins it; without a log this only runs `f`. An error means the group could not be
    /// logged (the log refused it): its writes are in memory only.
    pub fn grouped<R>(
        &self,
        to: &Appends,
        take_gate: bool,
        f: impl FnOnce(&Appends) -> R,
    ) -> Result<R> {
        let Some(log) = self.log.get() else {
            return Ok(f(to));
        };
        if to.in_group() {
            return Ok(f(to));
        }
        let _gate = take_gate.then(|| self.group_gate.write());
        /// Ends the group however `f` ends; a group left by a panic is still logged, so
        /// memory and log agree.
        struct Open<'a> {
            store: &'a super::Store,
            log: &'a Log,
            to: &'a Appends,
            group: Appends,
        }
        impl Open<'_> {
            fn close(&mut self) -> Result<()> {
                self.to.note(self.group.lsn());
                let buf = match &self.group.group {
                    Some(g) => std::mem::take(&mut *g.borrow_mut()),
                    None => return Ok(()),
                };
                self.group.group = None;
                if buf.is_empty() {
                    return Ok(());
                }
                self.store.append_group(self.log, self.to, &buf)
            }
        }
        impl Drop for Open<'_> {
            fn drop(&mut self) {
                let _ = self.close();
            }
        }
        let mut open = Open {
            store: self,
            log,
            to,
            group: Appends {
                lsn: Cell::new(0),
                group: Some(RefCell::new(Vec::new())),
            },
        };
        let r = f(&open.group);
        open.close()?;
        Ok(r)
    }
}
