//! Time series of event counts and latency, in tiers of fixed-width buckets (by default
//! 1 s × 600, 1 min × 10,080, 1 h × 2,160: ten minutes, seven days, ninety days).
//!
//! Every closed delta is added to the bucket of its second in every tier, so the coarse
//! tiers are exact sums of what the fine ones saw. A tier keeps only buckets that saw
//! something, at most `count` of them, the oldest dropped first: memory is bounded by
//! `count × (8 + 48 + 16 + 8 × non-zero latency buckets)` bytes per tier and series.

use std::collections::VecDeque;

use super::hist::Hist;

/// The event kinds counted, in their fixed order.
pub const KINDS: [&str; 6] = [
    "hits",
    "misses",
    "sets",
    "evictions",
    "expirations",
    "invalidations",
];

/// Counts of each kind in [`KINDS`] order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; 6]);

impl Counts {
    /// Lookups that found an entry.
    pub fn hits(&self) -> u64 {
        self.0[0]
    }
    /// Lookups that found none.
    pub fn misses(&self) -> u64 {
        self.0[1]
    }
    /// All counts are zero.
    pub fn is_zero(&self) -> bool {
        self.0.iter().all(|&c| c == 0)
    }
    /// Adds `o` (saturating).
    pub fn add(&mut self, o: &Counts) {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }
    /// `self - earlier`; a counter that went down was reset (CONFIG RESETSTAT), so its whole
    /// current value is new.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts(std::array::from_fn(|i| {
            if self.0[i] >= earlier.0[i] {
                self.0[i] - earlier.0[i]
            } else {
                self.0[i]
            }
        }))
    }
}

/// One tier's shape: bucket width and how many buckets it keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TierSpec {
    /// Bucket width in seconds.
    pub width_s: u64,
    /// Buckets kept.
    pub count: usize,
}

/// A bucket: its start (s since the epoch), counts and latency (non-zero buckets only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket, s since the epoch (a multiple of the width).
    pub start_s: u64,
    /// Event counts.
    pub counts: Counts,
    /// Latency histogram, non-zero buckets only, as `(index, count)`.
    pub latency: Box<[(u8, u32)]>,
}

impl Bucket {
    /// The latency counts as a dense histogram.
    pub fn hist(&self) -> Hist {
        Hist::from_sparse(&self.latency).unwrap_or_default()
    }
    /// Bytes this bucket holds (inline plus its latency pairs).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Bucket>() + self.latency.len() * std::mem::size_of::<(u8, u32)>()
    }
}

/// One tier of buckets, oldest first.
#[derive(Clone, Debug)]
pub struct Tier {
    /// Its shape.
    pub spec: TierSpec,
    /// Buckets that saw something, oldest first.
    pub buckets: VecDeque<Bucket>,
}

impl Tier {
    /// An empty tier.
    pub fn new(spec: TierSpec) -> Self {
        Self {
            spec,
            buckets: VecDeque::new(),
        }
    }

    /// Adds counts observed during second `t_s`.
    pub fn add(&mut self, t_s: u64, c: &Counts, h: &Hist) {
        let w = self.spec.width_s.max(1);
        let start = t_s - t_s % w;
        let span = w.saturating_mul(self.spec.count as u64);
        let newest = self.buckets.back().map(|b| b.start_s);
        // Too old for this tier's window (a late delta): dropped.
        if newest.is_some_and(|n| start.saturating_add(span) <= n) || self.spec.count == 0 {
            return;
        }
        let pos = match newest {
            Some(n) if n == start => Ok(self.buckets.len() - 1),
            Some(n) if n < start => Err(self.buckets.len()),
            None => Err(0),
            _ => self.buckets.binary_search_by_key(&start, |b| b.start_s),
        };
        match pos {
            Ok(i) => {
                let b = &mut self.buckets[i];
                b.counts.add(c);
                if h.count() > 0 {
                    let mut m = b.hist();
                    m.add(h);
                    b.latency = m.sparse();
                }
            }
            Err(i) => self.buckets.insert(
                i,
                Bucket {
                    start_s: start,
                    counts: *c,
                    latency: h.sparse(),
                },
            ),
        }
        let newest = self.buckets.back().map_or(start, |b| b.start_s);
        while self.buckets.len() > self.spec.count
            || self
                .buckets
                .front()
                .is_some_and(|b| b.start_s.saturating_add(span) <= newest)
        {
            self.buckets.pop_front();
        }
    }

    /// Sum of the buckets starting at or after `from_s` and before `to_s`.
    pub fn sum(&self, from_s: u64, to_s: u64) -> (Counts, Hist) {
        let mut c = Counts::default();
        let mut h = Hist::default();
        for b in self
            .buckets
            .iter()
            .filter(|b| b.start_s >= from_s && b.start_s < to_s)
        {
            c.add(&b.counts);
            h.add(&b.hist());
        }
        (c, h)
    }

    /// Bytes the tier holds.
    pub fn bytes(&self) -> usize {
        self.buckets.iter().map(Bucket::bytes).sum()
    }
}

/// A series: one tier per [`TierSpec`], finest first.
#[derive(Clone, Debug)]
pub struct Series {
    /// Tiers, finest first.
    pub tiers: Vec<Tier>,
    /// Second of the newest delta (to drop the least recently active series first).
    pub last_s: u64,
}

impl Series {
    /// An empty series with these tiers.
    pub fn new(specs: &[TierSpec]) -> Self {
        Self {
            tiers: specs.iter().copied().map(Tier::new).collect(),
            last_s: 0,
        }
    }

    /// Adds counts observed during second `t_s` to every tier.
    pub fn add(&mut self, t_s: u64, c: &Counts, h: &Hist) {
        for t in &mut self.tiers {
            t.add(t_s, c, h);
        }
        self.last_s = self.last_s.max(t_s);
    }

    /// The finest tier whose span covers `window_s` seconds (the coarsest when none does).
    pub fn tier_for(&self, window_s: u64) -> Option<&Tier> {
        self.tiers
            .iter()
            .find(|t| t.spec.width_s.saturating_mul(t.spec.count as u64) >= window_s)
            .or(self.tiers.last())
    }

    /// Bytes the series holds.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Series>() + self.tiers.iter().map(Tier::bytes).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(kind: usize) -> Counts {
        let mut c = Counts::default();
        c.0[kind] = 1;
        c
    }

    #[test]
    fn a_tier_keeps_at_most_its_window_and_sums_by_bucket() {
        let mut t = Tier::new(TierSpec {
            width_s: 60,
            count: 3,
        });
        let h = Hist::default();
        for s in [0, 59, 60, 119, 120, 250] {
            t.add(s, &one(0), &h);
        }
        // 250 starts bucket 240; the window of 3 minutes keeps 120.., drops 0 and 60.
        let starts: Vec<u64> = t.buckets.iter().map(|b| b.start_s).collect();
        assert_eq!(starts, vec![120, 240]);
        assert_eq!(t.sum(0, u64::MAX).0.hits(), 2);
        // A late delta inside the window lands in its own bucket, in order.
        t.add(185, &one(1), &h);
        let starts: Vec<u64> = t.buckets.iter().map(|b| b.start_s).collect();
        assert_eq!(starts, vec![120, 180, 240]);
        // One older than the window is dropped.
        t.add(10, &one(1), &h);
        assert_eq!(t.sum(0, u64::MAX).0.misses(), 1);
    }
}
