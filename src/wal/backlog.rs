//! The replication backlog: a read-only tail of the log kept in memory, for replicas.
//!
//! Once [`super::Wal::backlog`] has made one, every record the log assigns an LSN to is also
//! copied here (inside the same lock that assigns the LSN, so the backlog holds them in LSN
//! order, with no gap), and the oldest are dropped once the kept payloads pass the limit in
//! bytes (Redis's `repl-backlog-size`). A reader asks for the records from an LSN on: it gets
//! those kept, or learns that the LSN has already been dropped (a replica that fell that far
//! behind needs a full copy). Readers never block the log: a future ([`Backlog::changed`])
//! resolves when records past a given LSN arrive, woken by the appender, on any executor.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

/// One record as the log holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailRecord {
    /// Its LSN.
    pub lsn: u64,
    /// The kind byte given to `append`.
    pub kind: u8,
    /// The payload given to `append`.
    pub payload: Arc<[u8]>,
}

/// What [`Backlog::read_from`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum TailRead {
    /// The records from the LSN asked for on (empty: none yet).
    Records(Vec<TailRecord>),
    /// The LSN asked for was dropped (or precedes the backlog's start).
    Gone {
        /// The oldest LSN still kept (or the next to come when none is kept).
        first_kept: u64,
    },
}

struct Inner {
    records: VecDeque<TailRecord>,
    /// Payload bytes kept (plus a per-record overhead).
    bytes: usize,
    limit: usize,
    /// The LSN of the oldest record kept, or of the next one when none is.
    first: u64,
    /// The LSN the next record gets.
    next: u64,
    wakers: Vec<Waker>,
}

/// An in-memory tail of the log (see the module's documentation).
pub struct Backlog {
    inner: Mutex<Inner>,
}

/// Bytes counted per record beyond its payload.
const RECORD_OVERHEAD: usize = 32;

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = self.inner.lock();
        f.debug_struct("Backlog")
            .field("first", &i.first)
            .field("next", &i.next)
            .field("bytes", &i.bytes)
            .finish()
    }
}

impl Backlog {
    /// An empty backlog whose first record will be `next_lsn`, keeping about `limit` bytes.
    pub(crate) fn new(next_lsn: u64, limit: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                records: VecDeque::new(),
                bytes: 0,
                limit: limit.max(1),
                first: next_lsn,
                next: next_lsn,
                wakers: Vec::new(),
            }),
        }
    }

    /// A backlog holding the newest of `records` (consecutive LSNs ending just before
    /// `next_lsn`: the log's tail a recovery read back) that fit in about `limit` bytes, whose
    /// next record will be `next_lsn`. A restarted master serves its replicas' partial
    /// resyncs from it. Records that do not end at `next_lsn - 1` or leave a gap are not
    /// kept (only the consecutive run ending there is).
    pub(crate) fn seeded(
        records: &[super::recovery::WalRecord],
        next_lsn: u64,
        limit: usize,
    ) -> Self {
        let limit = limit.max(1);
        // The consecutive run ending at `next_lsn - 1`, cut to the limit from the old end.
        let mut start = records.len();
        let mut bytes = 0usize;
        let mut want = next_lsn;
        while start > 0 {
            let r = &records[start - 1];
            if r.lsn + 1 != want {
                break;
            }
            let size = r.payload.len() + RECORD_OVERHEAD;
            if bytes + size > limit && start < records.len() {
                break;
            }
            bytes += size;
            want = r.lsn;
            start -= 1;
        }
        let b = Self::new(want, limit);
        for r in &records[start..] {
            b.push(r.lsn, r.kind, &r.payload);
        }
        b
    }

    /// Adds the record the log just gave `lsn` (called under the log's state lock, in LSN
    /// order).
    pub(crate) fn push(&self, lsn: u64, kind: u8, payload: &[u8]) {
        let wakers = {
            let mut i = self.inner.lock();
            debug_assert_eq!(lsn, i.next, "the backlog receives every LSN in order");
            i.next = lsn + 1;
            i.bytes += payload.len() + RECORD_OVERHEAD;
            i.records.push_back(TailRecord {
                lsn,
                kind,
                payload: payload.into(),
            });
            while i.bytes > i.limit && i.records.len() > 1 {
                if let Some(old) = i.records.pop_front() {
                    i.bytes -= old.payload.len() + RECORD_OVERHEAD;
                }
            }
            i.first = i.records.front().map_or(i.next, |r| r.lsn);
            std::mem::take(&mut i.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    /// The records from `lsn` on, at most about `max_bytes` of payload (at least one record
    /// when any is there), or [`TailRead::Gone`] when `lsn` is no longer kept. An `lsn` past
    /// the newest record answers no records.
    pub fn read_from(&self, lsn: u64, max_bytes: usize) -> TailRead {
        let i = self.inner.lock();
        if lsn < i.first {
            return TailRead::Gone {
                first_kept: i.first,
            };
        }
        let mut out = Vec::new();
        let mut bytes = 0;
        let skip = (lsn - i.first).min(i.records.len() as u64) as usize;
        for r in i.records.iter().skip(skip) {
            if !out.is_empty() && bytes + r.payload.len() > max_bytes {
                break;
            }
            bytes += r.payload.len();
            out.push(r.clone());
        }
        TailRead::Records(out)
    }

    /// Whether records from `lsn` on are still kept (a partial resync from `lsn` can be
    /// served).
    pub fn holds(&self, lsn: u64) -> bool {
        let i = self.inner.lock();
        lsn >= i.first && lsn <= i.next
    }

    /// The LSN the next record will get (every record before it has passed through here,
    /// since the backlog was made).
    pub fn next_lsn(&self) -> u64 {
        self.inner.lock().next
    }

    /// The oldest LSN kept (the next to come when none is).
    pub fn first_lsn(&self) -> u64 {
        self.inner.lock().first
    }

    /// The payload bytes kept (with a per-record overhead).
    pub fn bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Resolves once the backlog holds a record with an LSN of `lsn` or more.
    pub fn changed(&self, lsn: u64) -> Changed<'_> {
        Changed { backlog: self, lsn }
    }
}

/// The future of [`Backlog::changed`].
pub struct Changed<'a> {
    backlog: &'a Backlog,
    lsn: u64,
}

impl std::future::Future for Changed<'_> {
    type Output = ();

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut i = self.backlog.inner.lock();
        if i.next > self.lsn {
            return Poll::Ready(());
        }
        if !i.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            i.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Wal, WalOptions};
    use super::*;

    fn lsns(r: TailRead) -> Vec<u64> {
        match r {
            TailRead::Records(v) => v.into_iter().map(|r| r.lsn).collect(),
            TailRead::Gone { first_kept } => panic!("gone, first kept {first_kept}"),
        }
    }

    #[test]
    fn the_backlog_holds_every_record_appended_after_it_was_made_in_lsn_order() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        wal.append(1, b"before").unwrap();
        let b = wal.backlog(1 << 20);
        assert_eq!(b.next_lsn(), 2);
        assert!(matches!(
            b.read_from(1, 100),
            TailRead::Gone { first_kept: 2 }
        ));
        assert_eq!(lsns(b.read_from(2, 100)), Vec::<u64>::new());
        // From several threads at once: still every LSN, in order.
        std::thread::scope(|s| {
            for t in 0..4u8 {
                let wal = &wal;
                s.spawn(move || {
                    for i in 0..50u8 {
                        wal.enqueue(&[(t, &[i; 3]), (t, &[i; 5])]).unwrap();
                    }
                });
            }
        });
        let got = lsns(b.read_from(2, usize::MAX));
        assert_eq!(got, (2..402).collect::<Vec<_>>());
        // The same backlog is handed out again.
        assert!(Arc::ptr_eq(&b, &wal.backlog(10)));
        match b.read_from(2, 0) {
            TailRead::Records(v) => assert_eq!(v.len(), 1, "at least one record"),
            other => panic!("{other:?}"),
        }
        match b.read_from(401, 100) {
            TailRead::Records(v) => assert_eq!(v[0].lsn, 401),
            other => panic!("{other:?}"),
        }
        assert_eq!(lsns(b.read_from(500, 100)), Vec::<u64>::new());
        wal.close().unwrap();
    }

    #[test]
    fn the_oldest_records_are_dropped_past_the_limit_and_readers_are_told() {
        let b = Backlog::new(10, 4 * (100 + RECORD_OVERHEAD));
        for lsn in 10..20 {
            b.push(lsn, 1, &[0; 100]);
        }
        assert_eq!(b.first_lsn(), 16);
        assert!(b.holds(16) && b.holds(20) && !b.holds(15) && !b.holds(21));
        assert_eq!(b.read_from(12, 1000), TailRead::Gone { first_kept: 16 });
        assert_eq!(lsns(b.read_from(16, 250)), vec![16, 17]);
        // A record over the limit alone is still kept.
        b.push(20, 2, &[1; 10_000]);
        assert_eq!(b.first_lsn(), 20);
        assert_eq!(lsns(b.read_from(20, 1)), vec![20]);
    }

    #[test]
    fn a_seeded_backlog_keeps_the_newest_consecutive_records_that_fit() {
        use super::super::recovery::WalRecord;
        let rec = |lsn| WalRecord {
            lsn,
            kind: 1,
            payload: vec![0; 100],
        };
        // A gap before 7: only 7..=9 are the run ending at next - 1.
        let records: Vec<_> = [3, 4, 7, 8, 9].into_iter().map(rec).collect();
        let b = Backlog::seeded(&records, 10, 1 << 20);
        assert_eq!((b.first_lsn(), b.next_lsn()), (7, 10));
        assert_eq!(lsns(b.read_from(7, usize::MAX)), vec![7, 8, 9]);
        // The limit keeps the newest two.
        let b = Backlog::seeded(&records, 10, 2 * (100 + RECORD_OVERHEAD));
        assert_eq!(lsns(b.read_from(8, usize::MAX)), vec![8, 9]);
        assert!(!b.holds(7));
        // Records that do not reach the next LSN: empty, starting there.
        let b = Backlog::seeded(&records, 12, 1 << 20);
        assert_eq!((b.first_lsn(), b.next_lsn()), (12, 12));
        assert!(b.holds(12));
        let b = Backlog::seeded(&[], 5, 10);
        assert_eq!((b.first_lsn(), b.next_lsn()), (5, 5));
    }

    #[test]
    fn a_reader_waiting_for_records_is_woken_by_the_next_append() {
        let b = Arc::new(Backlog::new(1, 1 << 20));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pusher = {
            let b = b.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                b.push(1, 7, b"x");
            })
        };
        rt.block_on(b.changed(1));
        assert_eq!(lsns(b.read_from(1, 10)), vec![1]);
        // Already there: ready at once.
        rt.block_on(b.changed(1));
        pusher.join().unwrap();
    }
}
