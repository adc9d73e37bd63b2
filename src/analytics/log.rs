//! The lookup log: the last N lookups and writes of vector-set elements, for topic hit rates
//! (issue #15 point 2) and hot concepts (point 3).
//!
//! A ring of N entries (a power of two) of 16 bytes: the element's name hash (64 bits), and a
//! tag of the set's name hash (top 40 bits), the lap of the ring the entry was written in (16
//! bits) and the event (8 bits). Recording is one relaxed `fetch_add` on the head and two
//! atomic stores; the memory is allocated zeroed (`calloc`), so its pages are committed only
//! as the ring fills: `16 × N` bytes at most (64 MiB at the default N = 2^22, which holds an
//! hour at 1,000 lookups/s plus up to 594,304 writes).
//!
//! Time is not stored per entry: each analytics tick marks (second, head), so an entry's
//! second is that of the last mark before it — the same attribution as the series (what
//! happened between two ticks belongs to the second of the first). The marks are bounded to
//! [`MAX_MARKS`] (16 bytes each).
//!
//! Accuracy: an entry whose slot is being rewritten while a query reads it is skipped (the lap
//! in its tag does not match); an entry can be read torn only if the ring wraps completely
//! during the read of that one entry. Two names with the same 64-bit hash (or two sets with
//! the same 40-bit hash) count as one.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Most marks kept (one per second with activity: about 36 hours; 2 MiB).
pub const MAX_MARKS: usize = 1 << 17;

/// What an entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Ev {
    /// A lookup that found the element.
    Hit = 1,
    /// A lookup that did not.
    Miss = 2,
    /// The element was written (VADD and the like).
    Write = 3,
}

/// One entry as read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the log (0 = the first entry ever recorded).
    pub idx: u64,
    /// The second it belongs to.
    pub second: u64,
    /// The set's name hash, top 40 bits (see [`set_tag`]).
    pub set: u64,
    /// The element's name hash.
    pub elem: u64,
    /// What happened.
    pub ev: Ev,
}

const SET_MASK: u64 = !0xff_ffff;

/// The part of a set's name hash an entry keeps.
#[inline]
pub fn set_tag(set_hash: u64) -> u64 {
    set_hash & SET_MASK
}

/// The ring.
#[derive(Debug)]
pub struct LookupLog {
    words: Box<[AtomicU64]>,
    mask: u64,
    shift: u32,
    head: AtomicU64,
    marks: Mutex<Marks>,
}

#[derive(Debug, Default)]
struct Marks {
    /// (second, head at that tick), oldest first.
    q: VecDeque<(u64, u64)>,
    /// Entries before this index have no known second (their mark was dropped).
    lost_before: u64,
}

/// What a scan covered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Coverage {
    /// The first second the log still holds every entry of.
    pub from_s: Option<u64>,
    /// Whether the scanned window lies wholly within what the log holds.
    pub complete: bool,
    /// Entries scanned.
    pub entries: u64,
}

impl LookupLog {
    /// A log of `entries` (rounded up to a power of two; 0 = off).
    pub fn new(entries: usize) -> Self {
        let n = if entries == 0 {
            0
        } else {
            entries.next_power_of_two()
        };
        let words: Box<[AtomicU64]> = bytemuck::zeroed_slice_box(n * 2);
        Self {
            words,
            mask: (n as u64).wrapping_sub(1),
            shift: n.trailing_zeros(),
            head: AtomicU64::new(0),
            marks: Mutex::new(Marks::default()),
        }
    }

    /// Entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.words.len() / 2
    }

    /// Bytes it can hold at most (the ring; the marks add at most 16 × [`MAX_MARKS`]).
    pub fn bytes(&self) -> usize {
        self.words.len() * 8
    }

    /// Entries recorded so far (the head).
    pub fn recorded(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// Records one event: a relaxed `fetch_add` and two stores.
    #[inline]
    pub fn record(&self, set_hash: u64, elem_hash: u64, ev: Ev) {
        if self.words.is_empty() {
            return;
        }
        let i = self.head.fetch_add(1, Ordering::Relaxed);
        let o = ((i & self.mask) * 2) as usize;
        let lap = (i >> self.shift) & 0xffff;
        self.words[o].store(elem_hash, Ordering::Relaxed);
        self.words[o + 1].store(
            set_tag(set_hash) | (lap << 8) | ev as u64,
            Ordering::Release,
        );
    }

    /// Marks the head at `second` (each tick that reaches a new second).
    pub fn mark(&self, second: u64) {
        if self.words.is_empty() {
            return;
        }
        let head = self.head.load(Ordering::Relaxed);
        let oldest = head.saturating_sub(self.capacity() as u64);
        let mut m = self.marks.lock();
        if m.q.back().is_some_and(|&(s, h)| s >= second || h == head) {
            if let Some(b) = m.q.back_mut() {
                // Nothing recorded since: move the mark forward instead of adding one.
                if b.1 == head && b.0 < second {
                    b.0 = second;
                }
            }
            return;
        }
        m.q.push_back((second, head));
        while m.q.len() > 1 && m.q[1].1 <= oldest {
            m.q.pop_front();
        }
        if m.q.len() > MAX_MARKS {
            m.q.pop_front();
            m.lost_before = m.q.front().map_or(0, |f| f.1);
        }
    }

    /// Calls `f(set tag, element hash, event)` with every entry from position `from` on that
    /// the ring still holds (oldest first) and returns the position after the last: pass it
    /// as `from` next time. An entry whose slot is being written while read is skipped.
    pub fn scan_from(&self, from: u64, mut f: impl FnMut(u64, u64, Ev)) -> u64 {
        if self.words.is_empty() {
            return from;
        }
        let head = self.head.load(Ordering::Acquire);
        let oldest = head.saturating_sub(self.capacity() as u64);
        for i in from.max(oldest)..head {
            let o = ((i & self.mask) * 2) as usize;
            let tag = self.words[o + 1].load(Ordering::Acquire);
            if (tag >> 8) & 0xffff != (i >> self.shift) & 0xffff {
                continue;
            }
            let ev = match tag & 0xff {
                1 => Ev::Hit,
                2 => Ev::Miss,
                3 => Ev::Write,
                _ => continue,
            };
            f(tag & SET_MASK, self.words[o].load(Ordering::Relaxed), ev);
        }
        head.max(from)
    }

    /// Calls `f` with every entry whose second is in `[from_s, to_s)`, oldest first, and says
    /// what was covered.
    pub fn scan(&self, from_s: u64, to_s: u64, mut f: impl FnMut(Entry)) -> Coverage {
        if self.words.is_empty() {
            return Coverage::default();
        }
        let head = self.head.load(Ordering::Acquire);
        let (marks, lost_before) = {
            let m = self.marks.lock();
            (m.q.iter().copied().collect::<Vec<_>>(), m.lost_before)
        };
        let oldest = head.saturating_sub(self.capacity() as u64).max(lost_before);
        // The second of entry `i`: that of the last mark at or before it (the first mark's for
        // entries before every mark).
        let second_at = |i: u64| -> u64 {
            let p = marks.partition_point(|&(_, h)| h <= i);
            marks[p.saturating_sub(1)].0
        };
        let Some(&(first_s, _)) = marks.first() else {
            return Coverage {
                from_s: None,
                complete: head == 0,
                entries: 0,
            };
        };
        let start = if from_s <= first_s {
            0
        } else {
            let p = marks.partition_point(|&(s, _)| s < from_s);
            marks.get(p).map_or(head, |&(_, h)| h)
        };
        let end = {
            let p = marks.partition_point(|&(s, _)| s < to_s);
            if p == 0 && to_s <= first_s {
                0
            } else {
                marks.get(p).map_or(head, |&(_, h)| h.min(head))
            }
        };
        let covered_from = if oldest == 0 {
            Some(first_s)
        } else {
            Some(second_at(oldest) + 1)
        };
        let complete = start >= oldest;
        let mut entries = 0;
        let mut m = 0usize;
        for i in start.max(oldest)..end {
            let o = ((i & self.mask) * 2) as usize;
            let tag = self.words[o + 1].load(Ordering::Acquire);
            let lap = (i >> self.shift) & 0xffff;
            if (tag >> 8) & 0xffff != lap {
                continue;
            }
            let ev = match tag & 0xff {
                1 => Ev::Hit,
                2 => Ev::Miss,
                3 => Ev::Write,
                _ => continue,
            };
            let elem = self.words[o].load(Ordering::Relaxed);
            while m + 1 < marks.len() && marks[m + 1].1 <= i {
                m += 1;
            }
            let second = if marks[m].1 <= i { marks[m].0 } else { first_s };
            entries += 1;
            f(Entry {
                idx: i,
                second,
                set: tag & SET_MASK,
                elem,
                ev,
            });
        }
        Coverage {
            from_s: covered_from,
            complete,
            entries,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(l: &LookupLog, from: u64, to: u64) -> Vec<(u64, u64, Ev)> {
        let mut v = Vec::new();
        l.scan(from, to, |e| v.push((e.second, e.elem, e.ev)));
        v
    }

    #[test]
    fn entries_take_the_second_of_the_mark_before_them() {
        let l = LookupLog::new(16);
        l.mark(100);
        l.record(1 << 40, 7, Ev::Hit);
        l.record(1 << 40, 8, Ev::Miss);
        l.mark(101);
        l.record(1 << 40, 9, Ev::Write);
        l.mark(105);
        assert_eq!(
            all(&l, 0, 200),
            vec![(100, 7, Ev::Hit), (100, 8, Ev::Miss), (101, 9, Ev::Write)]
        );
        assert_eq!(all(&l, 101, 200), vec![(101, 9, Ev::Write)]);
        assert_eq!(all(&l, 0, 101).len(), 2);
        assert!(all(&l, 102, 200).is_empty());
    }

    #[test]
    fn a_full_ring_keeps_the_last_n_and_says_the_window_is_incomplete() {
        let l = LookupLog::new(8);
        l.mark(10);
        for e in 0..5 {
            l.record(0, e, Ev::Hit);
        }
        l.mark(11);
        for e in 5..12 {
            l.record(0, e, Ev::Hit);
        }
        let mut seen = Vec::new();
        let c = l.scan(0, 100, |e| seen.push(e.elem));
        assert_eq!(seen, (4..12).collect::<Vec<_>>());
        assert!(!c.complete);
        assert_eq!(c.from_s, Some(11));
        let c = l.scan(11, 100, |_| {});
        assert!(c.complete, "{c:?}");
    }

    #[test]
    fn an_empty_log_records_nothing() {
        let l = LookupLog::new(0);
        l.mark(1);
        l.record(1, 2, Ev::Hit);
        assert_eq!(l.bytes(), 0);
        assert!(all(&l, 0, 10).is_empty());
    }
}
