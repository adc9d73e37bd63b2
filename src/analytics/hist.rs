//! A compact log-linear latency histogram ("HDR-style" with four sub-buckets per power of
//! two): recorded with one relaxed atomic add, no lock, so the lookup path can feed it; read
//! as plain counts ([`Hist`]) when the analytics tick closes a bucket.
//!
//! Why not the `hdrhistogram` crate: its `record` takes `&mut self`, so a shared histogram
//! on the hit path would need a lock or per-thread copies merged later; this one is a fixed
//! array of `AtomicU32`. Resolution: a value is reported as its bucket's midpoint, within
//! 12.5% of the true value, from 64 ns to 17 s (below: one bucket `< 64 ns`; above: one
//! overflow bucket).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// Number of buckets: one below 64 ns, 4 per octave from 2^6 to 2^34 ns, one overflow.
pub const HIST_BUCKETS: usize = 118;

/// The bucket of a value in ns.
pub fn bucket_of(ns: u64) -> usize {
    if ns < 64 {
        return 0;
    }
    let o = 63 - ns.leading_zeros() as usize; // >= 6
    let sub = ((ns >> (o - 2)) & 3) as usize;
    (1 + (o - 6) * 4 + sub).min(HIST_BUCKETS - 1)
}

/// The range `[lo, hi)` in ns a bucket covers (the overflow bucket's `hi` is `u64::MAX`).
pub fn bucket_range(i: usize) -> (u64, u64) {
    if i == 0 {
        return (0, 64);
    }
    if i >= HIST_BUCKETS - 1 {
        return (1u64 << 35, u64::MAX);
    }
    let o = 6 + (i - 1) / 4;
    let s = ((i - 1) % 4) as u64;
    let lo = (1u64 << o) + s * (1u64 << (o - 2));
    (lo, lo + (1u64 << (o - 2)))
}

/// A histogram recorded concurrently (one relaxed add per value).
#[derive(Debug)]
pub struct LatencyHist([AtomicU32; HIST_BUCKETS]);

impl Default for LatencyHist {
    fn default() -> Self {
        Self(std::array::from_fn(|_| AtomicU32::new(0)))
    }
}

impl LatencyHist {
    /// Counts one value of `ns` nanoseconds.
    #[inline]
    pub fn record(&self, ns: u64) {
        self.0[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counts now (cumulative since creation or the last reset; they wrap at 2^32,
    /// which the tick's difference handles).
    pub fn load(&self) -> Hist {
        Hist(std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed)))
    }

    /// Zeroes every bucket.
    pub fn reset(&self) {
        for b in &self.0 {
            b.store(0, Ordering::Relaxed);
        }
    }
}

/// Plain counts per bucket.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hist(pub [u32; HIST_BUCKETS]);

impl Default for Hist {
    fn default() -> Self {
        Self([0; HIST_BUCKETS])
    }
}

impl Hist {
    /// Values counted.
    pub fn count(&self) -> u64 {
        self.0.iter().map(|&c| u64::from(c)).sum()
    }

    /// Adds `other`'s counts (saturating).
    pub fn add(&mut self, other: &Hist) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
        }
    }

    /// `self - earlier` bucket by bucket, modulo 2^32 (cumulative counters that wrapped).
    pub fn since(&self, earlier: &Hist) -> Hist {
        Hist(std::array::from_fn(|i| {
            self.0[i].wrapping_sub(earlier.0[i])
        }))
    }

    /// The value at quantile `q` (0..=1) as its bucket's midpoint in ns; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &c) in self.0.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                let (lo, hi) = bucket_range(i);
                return Some(if hi == u64::MAX {
                    lo
                } else {
                    lo + (hi - lo) / 2
                });
            }
        }
        None
    }

    /// The non-zero buckets as `(index, count)`.
    pub fn sparse(&self) -> Box<[(u8, u32)]> {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 0)
            .map(|(i, &c)| (i as u8, c))
            .collect()
    }

    /// Counts from `(index, count)` pairs; indices out of range are refused.
    pub fn from_sparse(pairs: &[(u8, u32)]) -> Option<Hist> {
        let mut h = Hist::default();
        for &(i, c) in pairs {
            let slot = h.0.get_mut(usize::from(i))?;
            *slot = slot.saturating_add(c);
        }
        Some(h)
    }
}

/// Upper bounds (ns, inclusive) of [`Durations`]' buckets, as Prometheus histograms are
/// usually bucketed: 1, 2.5, 5 × 10^k from 1 µs to 10 s; one more bucket, `+Inf`, above.
pub const DURATION_BOUNDS_NS: [u64; 22] = [
    1_000,
    2_500,
    5_000,
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// Durations of an operation (a search, an fdatasync, a snapshot) for a Prometheus
/// histogram: exact counts per bucket of [`DURATION_BOUNDS_NS`] plus the exact sum, each a
/// relaxed 64-bit add (no wrap in practice, no lock). 192 bytes.
#[derive(Debug, Default)]
pub struct Durations {
    counts: [AtomicU64; DURATION_BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

/// What [`Durations`] held when read: per-bucket counts (not cumulative; the last is
/// `+Inf`) and the sum in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DurationCounts {
    /// Values per bucket of [`DURATION_BOUNDS_NS`], then above the last bound.
    pub counts: [u64; DURATION_BOUNDS_NS.len() + 1],
    /// Sum of the values, ns.
    pub sum_ns: u64,
}

impl DurationCounts {
    /// Values counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Durations {
    /// Counts one duration.
    #[inline]
    pub fn record(&self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let i = DURATION_BOUNDS_NS.partition_point(|&b| b < ns);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// The counts now.
    pub fn load(&self) -> DurationCounts {
        DurationCounts {
            counts: std::array::from_fn(|i| self.counts[i].load(Ordering::Relaxed)),
            sum_ns: self.sum_ns.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_the_bucket_whose_range_holds_it() {
        for ns in (0..20_000u64)
            .chain((0..40).map(|s| 1u64 << s))
            .chain([u64::MAX])
        {
            let (lo, hi) = bucket_range(bucket_of(ns));
            assert!(
                lo <= ns && (ns < hi || hi == u64::MAX),
                "{ns} in [{lo},{hi})"
            );
        }
    }

    #[test]
    fn a_quantile_is_within_an_eighth_of_the_true_value() {
        let h = LatencyHist::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let c = h.load();
        assert_eq!(c.count(), 10_000);
        for (q, truth) in [(0.5, 500_000f64), (0.9, 900_000.0), (0.99, 990_000.0)] {
            let got = c.quantile(q).unwrap() as f64;
            assert!(
                (got - truth).abs() / truth <= 0.125,
                "q{q}: {got} vs {truth}"
            );
        }
        assert_eq!(Hist::from_sparse(&c.sparse()).unwrap(), c);
        assert!(Hist::from_sparse(&[(200, 1)]).is_none());
    }

    #[test]
    fn a_duration_lands_in_the_first_bucket_whose_bound_is_at_least_it() {
        let d = Durations::default();
        for ns in [
            0,
            1_000,
            1_001,
            2_500,
            9_999_999_999,
            10_000_000_000,
            10_000_000_001,
        ] {
            d.record(Duration::from_nanos(ns));
        }
        let c = d.load();
        assert_eq!(c.counts[0], 2, "0 and 1 µs: le=1µs");
        assert_eq!(c.counts[1], 2, "1.001 and 2.5 µs: le=2.5µs");
        assert_eq!(c.counts[DURATION_BOUNDS_NS.len() - 1], 2, "le=10s");
        assert_eq!(c.counts[DURATION_BOUNDS_NS.len()], 1, "+Inf");
        assert_eq!(c.count(), 7);
        assert_eq!(
            c.sum_ns,
            2 * 10_000_000_000 + 1 + 1_000 + 1_001 + 2_500 + 9_999_999_999
        );
    }
}
