//! The lookup log: the last N lookups and writes of vector-set elements, for topic hit rates
//! (issue #15 point 2) and hot concepts (point 3).
//!
//! A ring of N entries (a power of two) of 16 bytes: the element's name hash (64 bits), and a
//! tag of the set's name hash (top 40 bits), the lap of the ring the entry was written in (16
//! bits) and the event (8 bits). The memory is allocated zeroed (`calloc`), so its pages are
//! committed only as the ring fills: `16 × N` bytes at most (64 MiB at the default N = 2^22,
//! which holds an hour at 1,000 lookups/s plus up to 594,304 writes), and 72 KiB of lanes
//! (below: [`LANES`] × 1,152 bytes).
//!
//! Recording a lookup costs no atomic read-modify-write and touches no shared cache line: each
//! thread has a lane of its own (up to [`LANES`] threads; a process-wide pool hands each live
//! thread a lane number, returned when the thread ends), a buffer of [`LANE_ENTRIES`] entries
//! written with plain stores and published by a release store of the lane's tail. A lane is
//! moved into the ring (one `fetch_add` on the ring's head for the whole batch) when it is full,
//! and every lane is moved before anything reads the ring: each analytics tick (before it marks
//! the second), each query ([`LookupLog::scan`], [`LookupLog::scan_from`],
//! [`LookupLog::recorded`]) and each write ([`LookupLog::record_writes`], so a miss always
//! precedes the write that follows it, as the cache-aside attribution needs). So a query sees
//! every lookup that returned before it was issued, in the order each thread made them; the
//! lookups of different threads between two moves are ordered by thread rather than by time,
//! which no query depends on (each thread's own order, and every lookup's place relative to
//! the writes and the ticks, are kept). Threads past the [`LANES`]th write to the ring
//! directly, as every lookup did before (a relaxed `fetch_add` and two stores).
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

use std::cell::Cell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

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

/// Threads with a lane of their own; the others write to the ring directly.
pub const LANES: usize = 64;
/// Entries a lane buffers before its thread moves them to the ring.
pub const LANE_ENTRIES: usize = 64;

/// The lane numbers of the live threads (process-wide: a thread has the same lane in every
/// log), and how many were ever handed out (lanes past it are never used).
static POOL: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static HANDED_OUT: AtomicUsize = AtomicUsize::new(0);
/// A thread's lane number: `UNASSIGNED` until its first lookup, `NO_LANE` when the pool was
/// empty or the thread is ending.
const UNASSIGNED: usize = usize::MAX;
const NO_LANE: usize = usize::MAX - 1;

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(UNASSIGNED) };
    static LANE_OWNER: LaneOwner = LaneOwner::take();
}

/// Holds a thread's lane number and returns it to the pool when the thread ends.
struct LaneOwner(usize);

impl LaneOwner {
    fn take() -> Self {
        let reused = POOL.lock().pop();
        let n = reused.unwrap_or_else(|| {
            HANDED_OUT
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |h| {
                    (h < LANES).then_some(h + 1)
                })
                .unwrap_or(NO_LANE)
        });
        Self(n)
    }
}

impl Drop for LaneOwner {
    fn drop(&mut self) {
        // Lookups made while the thread's other thread-locals are dropped go to the ring.
        let _ = LANE.try_with(|c| c.set(NO_LANE));
        if self.0 < LANES {
            // What the thread left in its lanes stays there until the next move: the lane's
            // next owner appends after it.
            POOL.lock().push(self.0);
        }
    }
}

/// This thread's lane number as last assigned: `UNASSIGNED` before its first lookup, so a
/// lookup only reads the thread-local and finds the lane (or not) with the same bounds check;
/// [`assign_lane`] runs when that fails.
#[inline]
fn lane_number() -> usize {
    LANE.with(Cell::get)
}

/// This thread's lane number, assigned on first use (`NO_LANE` for none).
#[cold]
#[inline(never)]
fn assign_lane() -> usize {
    let n = LANE.with(Cell::get);
    if n != UNASSIGNED {
        return n;
    }
    let n = LANE_OWNER.try_with(|o| o.0).unwrap_or(NO_LANE);
    LANE.with(|c| c.set(n));
    n
}

/// One thread's buffer. Only its thread writes `tail` and the entries; `flushed` moves under
/// `moving`, by whichever thread moves the lane to the ring.
#[derive(Debug)]
#[repr(align(128))]
struct Lane {
    tail: AtomicU64,
    flushed: AtomicU64,
    moving: Mutex<()>,
    /// When its thread times a lookup (the lane's position counts the lookups).
    pace: super::Pace,
    entries: [[AtomicU64; 2]; LANE_ENTRIES],
}

impl Default for Lane {
    fn default() -> Self {
        Self {
            tail: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            moving: Mutex::new(()),
            pace: super::Pace::default(),
            entries: std::array::from_fn(|_| Default::default()),
        }
    }
}

/// Where one lookup of this thread is recorded ([`LookupLog::lane`]): taken when the lookup
/// starts, so the lookup reads the thread-local lane number and the lane's position once for
/// its latency sample and its entry.
#[derive(Clone, Copy, Debug)]
pub struct LaneRef<'a> {
    log: &'a LookupLog,
    lane: Option<&'a Lane>,
    /// The lane's tail when taken (only its thread moves it, and only through this).
    tail: u64,
}

impl<'a> LaneRef<'a> {
    /// Whether this lookup is one its thread times (see [`super::Pace`]; `min_mask`: the
    /// configured interval minus 1); `None` without a lane.
    #[inline]
    pub fn timed(&self, min_mask: u32) -> Option<bool> {
        self.lane.map(|l| {
            self.tail & u64::from(min_mask) == 0 && l.pace.due(self.tail, u64::from(min_mask))
        })
    }

    /// The lane's pace (`None` without a lane).
    #[inline]
    pub fn pace(&self) -> Option<&'a super::Pace> {
        self.lane.map(|l| &l.pace)
    }

    /// Records the lookup (`Ev::Hit` or `Ev::Miss`; a write goes through
    /// [`LookupLog::record_writes`]).
    #[inline]
    pub fn record(self, set_hash: u64, elem_hash: u64, ev: Ev) {
        debug_assert!(ev != Ev::Write, "writes go through record_writes");
        let tag = set_tag(set_hash) | ev as u64;
        match self.lane {
            Some(lane) => self.log.push(lane, self.tail, elem_hash, tag),
            None if !self.log.slots.is_empty() => self.log.record_in_ring(elem_hash, tag),
            None => {}
        }
    }
}

/// The ring.
#[derive(Debug)]
pub struct LookupLog {
    /// The entries: (element hash, tag with the lap).
    slots: Box<[[AtomicU64; 2]]>,
    mask: u64,
    shift: u32,
    head: AtomicU64,
    lanes: Box<[Lane]>,
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
        let slots: Box<[[AtomicU64; 2]]> = bytemuck::zeroed_slice_box(n);
        Self {
            slots,
            mask: (n as u64).wrapping_sub(1),
            shift: n.trailing_zeros(),
            head: AtomicU64::new(0),
            lanes: (0..if n == 0 { 0 } else { LANES })
                .map(|_| Lane::default())
                .collect(),
            marks: Mutex::new(Marks::default()),
        }
    }

    /// Entries it holds at most.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes the ring can hold at most (the marks add at most 16 × [`MAX_MARKS`], the lanes
    /// [`LANES`] × 1,152).
    pub fn bytes(&self) -> usize {
        self.slots.len() * 16
    }

    /// Entries recorded so far (every lane moved to the ring first).
    pub fn recorded(&self) -> u64 {
        self.flush();
        self.head.load(Ordering::Relaxed)
    }

    /// Records one lookup (`Ev::Hit` or `Ev::Miss`) in this thread's lane: plain stores, and
    /// one lane in [`LANE_ENTRIES`] moved to the ring. A write goes through
    /// [`LookupLog::record_writes`]. A lookup path takes the lane when it starts instead
    /// ([`LookupLog::lane`]) and records through it.
    #[inline]
    pub fn record(&self, set_hash: u64, elem_hash: u64, ev: Ev) {
        if ev == Ev::Write {
            self.record_writes(set_hash, &[elem_hash]);
            return;
        }
        self.lane().record(set_hash, elem_hash, ev);
    }

    /// Where this thread's next lookup goes: its lane, or the ring directly (a thread past
    /// the [`LANES`]th), or nowhere (an empty log). Costs no thread-local access when the log
    /// is empty.
    #[inline]
    pub fn lane(&self) -> LaneRef<'_> {
        let lane = if self.lanes.is_empty() {
            None
        } else {
            match self.lanes.get(lane_number()) {
                Some(lane) => Some(lane),
                None => self.lanes.get(assign_lane()),
            }
        };
        let tail = lane.map_or(0, |l| l.tail.load(Ordering::Relaxed));
        LaneRef {
            log: self,
            lane,
            tail,
        }
    }

    /// Records one lookup in the ring directly (a thread without a lane).
    #[cold]
    #[inline(never)]
    fn record_in_ring(&self, elem: u64, tag: u64) {
        let i = self.head.fetch_add(1, Ordering::Relaxed);
        self.put(i, elem, tag);
    }

    /// Records writes of elements of one set, after every lookup recorded before them.
    pub fn record_writes(&self, set_hash: u64, elem_hashes: &[u64]) {
        if self.slots.is_empty() || elem_hashes.is_empty() {
            return;
        }
        self.flush();
        let tag = set_tag(set_hash) | Ev::Write as u64;
        let i0 = self
            .head
            .fetch_add(elem_hashes.len() as u64, Ordering::Relaxed);
        for (i, &e) in (i0..).zip(elem_hashes) {
            self.put(i, e, tag);
        }
    }

    /// Appends to this thread's lane, and moves the lane to the ring when this entry fills
    /// it. So the lane never holds more than [`LANE_ENTRIES`] unmoved entries: the entry a
    /// push overwrites was moved by this thread's own last move or by a reader's before it
    /// (whose lock this thread's move took after), so every mover's reads of an entry come
    /// before it is overwritten.
    #[inline]
    fn push(&self, lane: &Lane, t: u64, elem: u64, tag: u64) {
        let e = &lane.entries[(t % LANE_ENTRIES as u64) as usize];
        e[0].store(elem, Ordering::Relaxed);
        e[1].store(tag, Ordering::Relaxed);
        lane.tail.store(t + 1, Ordering::Release);
        if (t + 1).is_multiple_of(LANE_ENTRIES as u64) {
            self.move_lane(lane);
        }
    }

    /// Moves what `lane` holds to the ring, in its order: one `fetch_add` for the batch, then
    /// runs of entries copied with the lap of their place in the ring (constant within a run:
    /// it changes only where the ring wraps).
    #[inline(never)]
    fn move_lane(&self, lane: &Lane) {
        let _one_mover = lane.moving.lock();
        let f = lane.flushed.load(Ordering::Relaxed);
        let t = lane.tail.load(Ordering::Acquire);
        if t == f {
            return;
        }
        let cap = self.capacity() as u64;
        let mut i = self.head.fetch_add(t - f, Ordering::Relaxed);
        let mut k = f;
        while k < t {
            let o = i & self.mask;
            let l = k % LANE_ENTRIES as u64;
            let run = (t - k).min(cap - o).min(LANE_ENTRIES as u64 - l) as usize;
            let lap = ((i >> self.shift) & 0xffff) << 8;
            let (o, l) = (o as usize, l as usize);
            let dst = &self.slots[o..o + run];
            let src = &lane.entries[l..l + run];
            for (d, s) in dst.iter().zip(src) {
                d[0].store(s[0].load(Ordering::Relaxed), Ordering::Relaxed);
                d[1].store(s[1].load(Ordering::Relaxed) | lap, Ordering::Release);
            }
            i += run as u64;
            k += run as u64;
        }
        lane.flushed.store(t, Ordering::Release);
    }

    /// Moves every lane to the ring: afterwards the ring holds every lookup recorded before
    /// (in the happens-before sense: by this thread, or by one whose lookup returned before
    /// this call began).
    pub fn flush(&self) {
        let used = HANDED_OUT.load(Ordering::Acquire).min(self.lanes.len());
        for lane in &self.lanes[..used] {
            if lane.tail.load(Ordering::Acquire) != lane.flushed.load(Ordering::Acquire) {
                self.move_lane(lane);
            }
        }
    }

    /// Writes entry `i` (the position a `fetch_add` on the head gave).
    #[inline]
    fn put(&self, i: u64, elem: u64, tag: u64) {
        let slot = &self.slots[(i & self.mask) as usize];
        let lap = (i >> self.shift) & 0xffff;
        slot[0].store(elem, Ordering::Relaxed);
        slot[1].store(tag | (lap << 8), Ordering::Release);
    }

    /// Marks the head at `second` (each tick that reaches a new second), after moving every
    /// lane to the ring, so what was recorded before the tick belongs to the seconds before.
    pub fn mark(&self, second: u64) {
        if self.slots.is_empty() {
            return;
        }
        self.flush();
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
        if self.slots.is_empty() {
            return from;
        }
        self.flush();
        let head = self.head.load(Ordering::Acquire);
        let oldest = head.saturating_sub(self.capacity() as u64);
        for i in from.max(oldest)..head {
            let slot = &self.slots[(i & self.mask) as usize];
            let tag = slot[1].load(Ordering::Acquire);
            if (tag >> 8) & 0xffff != (i >> self.shift) & 0xffff {
                continue;
            }
            let ev = match tag & 0xff {
                1 => Ev::Hit,
                2 => Ev::Miss,
                3 => Ev::Write,
                _ => continue,
            };
            f(tag & SET_MASK, slot[0].load(Ordering::Relaxed), ev);
        }
        head.max(from)
    }

    /// Calls `f` with every entry whose second is in `[from_s, to_s)`, oldest first, and says
    /// what was covered.
    pub fn scan(&self, from_s: u64, to_s: u64, mut f: impl FnMut(Entry)) -> Coverage {
        if self.slots.is_empty() {
            return Coverage::default();
        }
        self.flush();
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
            let slot = &self.slots[(i & self.mask) as usize];
            let tag = slot[1].load(Ordering::Acquire);
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
            let elem = slot[0].load(Ordering::Relaxed);
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
    fn lookups_of_many_threads_are_all_read_in_each_threads_order_by_the_next_query() {
        let l = std::sync::Arc::new(LookupLog::new(1 << 16));
        l.mark(1);
        // More lookups per thread than a lane holds, and a count that leaves each lane
        // partly full: the query must move the rest.
        let per = 3 * LANE_ENTRIES as u64 + 5;
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let l = l.clone();
                s.spawn(move || {
                    for k in 0..per {
                        l.record(t << 40, t * 1_000 + k, Ev::Hit);
                    }
                });
            }
        });
        let mut seen: Vec<Vec<u64>> = vec![Vec::new(); 4];
        let c = l.scan(0, 10, |e| seen[(e.set >> 40) as usize].push(e.elem));
        assert_eq!(c.entries, 4 * per);
        for (t, got) in seen.iter().enumerate() {
            let want: Vec<u64> = (0..per).map(|k| t as u64 * 1_000 + k).collect();
            assert_eq!(got, &want, "thread {t}");
        }
        assert_eq!(l.recorded(), 4 * per);
    }

    #[test]
    fn a_miss_on_one_thread_precedes_the_write_another_thread_makes_after_it() {
        let l = std::sync::Arc::new(LookupLog::new(1 << 10));
        l.mark(1);
        let l2 = l.clone();
        // The miss stays in the other thread's lane (far from full) when the write comes.
        std::thread::spawn(move || l2.record(5 << 40, 42, Ev::Miss))
            .join()
            .unwrap();
        l.record(5 << 40, 7, Ev::Hit);
        l.record_writes(5 << 40, &[42, 43]);
        let mut order = Vec::new();
        l.scan(0, 10, |e| order.push((e.elem, e.ev)));
        let miss = order.iter().position(|&x| x == (42, Ev::Miss)).unwrap();
        let write = order.iter().position(|&x| x == (42, Ev::Write)).unwrap();
        assert!(miss < write, "{order:?}");
        assert!(order.iter().position(|&x| x == (7, Ev::Hit)).unwrap() < write);
        assert_eq!(order.len(), 4);
    }

    #[test]
    fn lookups_recorded_before_a_mark_belong_to_the_second_before_it() {
        let l = LookupLog::new(1 << 10);
        l.mark(10);
        l.record(1 << 40, 1, Ev::Hit);
        l.record(1 << 40, 2, Ev::Miss);
        l.mark(11);
        l.record(1 << 40, 3, Ev::Hit);
        assert_eq!(all(&l, 10, 11).len(), 2);
        assert_eq!(all(&l, 11, 12), vec![(11, 3, Ev::Hit)]);
    }

    #[test]
    fn a_lane_takes_the_bytes_the_docs_state() {
        assert_eq!(std::mem::size_of::<Lane>(), 1_152);
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
