//! Co-access (issue #15 point 6): which elements of a vector set are looked up right after
//! which, so a client prefetching neighbours is offered those actually asked next.
//!
//! Built from the lookup log ([`super::log::LookupLog`]) by the maintenance thread at each
//! analytics tick (and before each query), never on the lookup path: each new lookup of a set
//! is paired with the previous [`DISTANCE`] lookups of the same set, and counted as their
//! successor. Each element keeps [`SUCCESSORS`] successor counters, kept by the
//! Misra–Gries rule (a successor not among them decrements all, and takes a counter that
//! reaches zero), so a successor that follows an element more than `1 / (SUCCESSORS + 1)`
//! of the time is always among them. At most [`MAX_KEYS`] elements are tracked (about 100
//! bytes each, 13 MiB); past that the table starts afresh. Lookups of many clients
//! interleave in the log, so a pair may be two clients' lookups: with many clients the counts
//! are a statistical signal, not a per-client sequence.

use std::collections::HashMap;

use parking_lot::Mutex;

use super::log::{Ev, LookupLog};

/// Successor counters kept per element.
pub const SUCCESSORS: usize = 4;
/// A lookup counts as the successor of each of the previous this-many lookups of its set.
pub const DISTANCE: usize = 3;
/// Elements tracked at most.
pub const MAX_KEYS: usize = 1 << 17;

type Successors = [(u64, u32); SUCCESSORS];

#[derive(Debug, Default)]
struct Inner {
    /// Log position processed up to.
    pos: u64,
    /// (set tag, element hash) → its successors.
    next: HashMap<(u64, u64), Successors>,
    /// Per set tag: its last lookups, newest last.
    recent: HashMap<u64, Vec<u64>>,
}

/// The co-access table.
#[derive(Debug, Default)]
pub struct CoAccess {
    inner: Mutex<Inner>,
}

fn bump(s: &mut Successors, elem: u64) {
    if let Some(c) = s.iter_mut().find(|c| c.1 > 0 && c.0 == elem) {
        c.1 += 1;
    } else if let Some(c) = s.iter_mut().find(|c| c.1 == 0) {
        *c = (elem, 1);
    } else {
        for c in s.iter_mut() {
            c.1 -= 1;
        }
    }
}

impl CoAccess {
    /// Reads the lookups recorded since the last call into the table.
    pub fn update(&self, log: &LookupLog) {
        let mut guard = self.inner.lock();
        let st = &mut *guard;
        let (next, recent) = (&mut st.next, &mut st.recent);
        st.pos = log.scan_from(st.pos, |set, elem, ev| {
            if ev == Ev::Write {
                return;
            }
            let r = recent.entry(set).or_default();
            for &prev in r.iter() {
                if prev == elem {
                    continue;
                }
                if next.len() >= MAX_KEYS && !next.contains_key(&(set, prev)) {
                    next.clear();
                }
                bump(next.entry((set, prev)).or_default(), elem);
            }
            if r.last() != Some(&elem) {
                if r.len() == DISTANCE {
                    r.remove(0);
                }
                r.push(elem);
            }
        });
    }

    /// The elements most often looked up right after `elem` in the set tagged `set`, most
    /// often first, with their counts.
    pub fn next(&self, set: u64, elem: u64) -> Vec<(u64, u32)> {
        let st = self.inner.lock();
        let mut v: Vec<(u64, u32)> = st
            .next
            .get(&(set, elem))
            .map(|s| s.iter().copied().filter(|c| c.1 > 0).collect())
            .unwrap_or_default();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analytics::log::set_tag;

    #[test]
    fn the_element_looked_up_after_another_most_often_comes_first() {
        let log = LookupLog::new(1 << 10);
        let co = CoAccess::default();
        let s = 7 << 40;
        for round in 0..10 {
            log.record(s, 1, Ev::Hit);
            log.record(s, if round % 5 == 0 { 3 } else { 2 }, Ev::Hit);
            log.record(s, 100 + round, Ev::Miss);
            log.record(s, 200 + round, Ev::Hit);
            log.record(s, 300 + round, Ev::Hit);
            co.update(&log);
        }
        let n = co.next(set_tag(s), 1);
        assert_eq!(n[0].0, 2, "{n:?}");
        // Another set's lookups are not successors.
        log.record(9 << 40, 1, Ev::Hit);
        log.record(s, 5, Ev::Hit);
        co.update(&log);
        assert!(co.next(set_tag(9 << 40), 1).is_empty());
        // Writes are not lookups.
        log.record(s, 6, Ev::Write);
        co.update(&log);
        assert!(co.next(set_tag(s), 5).is_empty());
    }
}
