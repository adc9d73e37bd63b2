//! Cache analytics kept in the shard itself (issue #15): time series of lookups, hits,
//! misses, writes, evictions, expirations, invalidations and lookup latency, per vector set
//! and for the whole shard, in tiers of buckets (1 s × 10 min, 1 min × 7 days, 1 h × 90 days
//! by default), persisted in the data directory so history survives restart and kill -9.
//!
//! Cost on the lookup path: none for the counts — the series are the differences of the
//! store's existing per-set and shard-wide atomic counters, read by [`Analytics::tick`] from
//! the maintenance thread once a second. Latency is timed for one lookup in
//! [`AnalyticsConfig::latency_sample_every`] (default 64; a vector-set lookup counts with its
//! thread's lane of the lookup log, other lookups with a thread-local count; the timed ones
//! add two clock reads and one relaxed atomic add into a [`LatencyHist`]), and fewer when a
//! thread is busy: each thread times about [`SAMPLES_PER_S`] (1,024) lookups a second at
//! most, its interval doubling as its rate rises ([`Pace`]), so a busy thread pays nothing
//! measurable for the clock. Accuracy: a bucket's latency quantiles are those of its timed
//! lookups, each within the histogram's 1/8 relative resolution: at 1,000 lookups/s a minute
//! bucket holds ~940 of them, a second bucket ~16; at high rates about 1,024 per second and
//! thread. When a thread's rate changed within a bucket, its slower stretch counts more in
//! the quantiles than its share of the lookups (each timed lookup counts once).
//!
//! Attribution: what the counters gained between two ticks is put in the second of the
//! earlier tick, so a count lands in its true second or the next one (ticks run every
//! maintenance period, 100 ms by default). Knows only the vocabulary and its own files:
//! nothing of the engine, the store, or the front ends.

pub mod coaccess;
pub mod hist;
pub mod log;
mod persist;
pub mod query;
pub mod series;
pub mod topk;

use std::cell::Cell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

pub use hist::{Hist, LatencyHist, HIST_BUCKETS};
pub use persist::SeriesKey;
pub use series::{Bucket, Counts, Series, Tier, TierSpec, KINDS};

use crate::error::{Error, Result};
use persist::{Delta, Files};

/// What [`Analytics`] is configured with (part of the engine's configuration).
#[derive(Clone, Debug)]
pub struct AnalyticsConfig {
    /// Off: no series, no latency timing, no files (the A/B baseline).
    pub enabled: bool,
    /// The tiers, finest first. Default: 1 s × 600, 60 s × 10,080, 3600 s × 2,160.
    pub tiers: Vec<TierSpec>,
    /// Time one lookup in this many (rounded up to a power of two; 1 = every lookup).
    pub latency_sample_every: u32,
    /// Most vector-set series kept; past it the least recently active one is dropped.
    pub max_series: usize,
    /// Rewrite the snapshot (and empty the log) once the log holds this many records.
    pub compact_after_records: u64,
    /// Entries of the lookup log ([`log::LookupLog`], 16 bytes each; rounded up to a power
    /// of two; 0 = no log, so no topics or hot concepts). Default 2^22: 64 MiB at most.
    pub lookup_log_entries: usize,
    /// Counters of the space-saving summary a hot-concepts query uses (40 bytes each while
    /// it runs); its counts are within lookups / counters of the truth. Default 4,096.
    pub hot_counters: usize,
    /// A miss is attributed to a topic when its element is written within this many seconds
    /// after it (the cache-aside pattern: miss, compute, set). Default 300.
    pub attribution_s: u64,
}

/// The most entries a lookup log may have (2^30: 16 GiB).
pub const MAX_LOOKUP_LOG_ENTRIES: usize = 1 << 30;

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tiers: vec![
                TierSpec {
                    width_s: 1,
                    count: 600,
                },
                TierSpec {
                    width_s: 60,
                    count: 10_080,
                },
                TierSpec {
                    width_s: 3_600,
                    count: 2_160,
                },
            ],
            latency_sample_every: 64,
            max_series: 1_024,
            compact_after_records: 100_000,
            lookup_log_entries: 1 << 22,
            hot_counters: 4_096,
            attribution_s: 300,
        }
    }
}

impl AnalyticsConfig {
    /// Checks the tiers (each wider than the last and a multiple of it, at least one bucket).
    pub fn validate(&self) -> Result<()> {
        if self.tiers.is_empty() {
            return Err(Error::invalid("analytics tiers", "at least one tier"));
        }
        for (i, t) in self.tiers.iter().enumerate() {
            if t.width_s == 0 || t.count == 0 {
                return Err(Error::invalid(
                    "analytics tiers",
                    "a bucket width and count of at least 1",
                ));
            }
            if i > 0 {
                let p = self.tiers[i - 1].width_s;
                if t.width_s <= p || t.width_s % p != 0 {
                    return Err(Error::invalid(
                        "analytics tiers",
                        "each width a larger multiple of the previous one",
                    ));
                }
            }
        }
        if self.lookup_log_entries > MAX_LOOKUP_LOG_ENTRIES {
            return Err(Error::invalid(
                "analytics lookup log entries",
                format!(
                    "at most {MAX_LOOKUP_LOG_ENTRIES} (16 GiB), got {}",
                    self.lookup_log_entries
                ),
            ));
        }
        Ok(())
    }

    /// Upper bound of the bytes one series can hold with these tiers, and what a bucket
    /// costs with `latency_buckets` non-zero latency buckets.
    pub fn bytes_per_series(&self, latency_buckets: usize) -> usize {
        let per_bucket =
            std::mem::size_of::<Bucket>() + latency_buckets * std::mem::size_of::<(u8, u32)>();
        self.tiers.iter().map(|t| t.count * per_bucket).sum()
    }
}

/// Timed lookups a thread aims at per second, at most: past it, the interval between timed
/// lookups doubles (up to [`MAX_SAMPLE_INTERVAL`]) so that the two clock reads of a timed
/// lookup cost a busy thread nothing measurable (a pair is 50–300 ns in a VM).
pub const SAMPLES_PER_S: u64 = 1_024;
/// The longest interval between a thread's timed lookups.
pub const MAX_SAMPLE_INTERVAL: u64 = 1 << 20;

/// When a thread times its next lookup: one in `mask + 1` of its lookups (a power of two, at
/// least the configured [`AnalyticsConfig::latency_sample_every`]), re-chosen after each
/// timed lookup from the rate since the previous one so that the thread times about
/// [`SAMPLES_PER_S`] lookups a second. Only its thread writes it (relaxed atomics, so a
/// vector-set lane can hold one).
#[derive(Debug, Default)]
pub struct Pace {
    /// The interval beyond the configured one, minus 1 (0 until the rate says otherwise).
    mask: AtomicU64,
    /// When the last timed lookup ended, ns since [`clock_base`] (0: none yet).
    last_ns: AtomicU64,
}

/// The process's time base for [`Pace`].
fn clock_base() -> Instant {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

impl Pace {
    /// Whether the lookup numbered `n` (a count of the thread's lookups) is timed, with
    /// `min_mask` the configured interval minus 1.
    #[inline]
    pub fn due(&self, n: u64, min_mask: u64) -> bool {
        n & (self.mask.load(Ordering::Relaxed) | min_mask) == 0
    }

    /// After a timed lookup that ended at `end`: the next interval, from how many lookups
    /// this thread made since its last timed one ended and how long that took.
    pub fn timed(&self, end: Instant, min_mask: u64) {
        let end_ns = u64::try_from(end.saturating_duration_since(clock_base()).as_nanos())
            .unwrap_or(u64::MAX)
            .max(1);
        let interval = (self.mask.load(Ordering::Relaxed) | min_mask) + 1;
        let last = self.last_ns.load(Ordering::Relaxed);
        self.last_ns.store(end_ns, Ordering::Relaxed);
        if last == 0 || end_ns <= last {
            return;
        }
        // Lookups per second since the last timed one, over the timed ones wanted a second.
        let want = u128::from(interval) * 1_000_000_000
            / (u128::from(end_ns - last) * u128::from(SAMPLES_PER_S));
        let next = u64::try_from(want)
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_SAMPLE_INTERVAL)
            .next_power_of_two();
        self.mask.store(next - 1, Ordering::Relaxed);
    }
}

thread_local! {
    /// Lookups this thread made outside a lane (blobs), and its pace.
    static SAMPLE: Cell<u64> = const { Cell::new(0) };
    static PACE: Pace = const {
        Pace {
            mask: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
        }
    };
}

/// Starts timing this lookup when it is the thread's sampled one (`min_mask`: the configured
/// interval minus 1; see [`Pace`]).
#[inline]
pub fn sample_start(min_mask: u32) -> Option<Instant> {
    let n = SAMPLE.with(|c| {
        let n = c.get().wrapping_add(1);
        c.set(n);
        n
    });
    // The pace is read only at every configured interval (the pace's mask includes it).
    if n & u64::from(min_mask) != 0 {
        return None;
    }
    PACE.with(|p| p.due(n, u64::from(min_mask)))
        .then(Instant::now)
}

/// Records a sampled lookup's latency into each histogram, and paces the thread's next
/// timed lookup outside a lane (`pace`: `None`) or in one (the lane's).
#[inline]
pub fn sample_end(t0: Option<Instant>, into: &[&LatencyHist], pace: Option<&Pace>, min_mask: u32) {
    if let Some(t0) = t0 {
        let end = Instant::now();
        let ns = u64::try_from(end.saturating_duration_since(t0).as_nanos()).unwrap_or(u64::MAX);
        for h in into {
            h.record(ns);
        }
        match pace {
            Some(p) => p.timed(end, u64::from(min_mask)),
            None => PACE.with(|p| p.timed(end, u64::from(min_mask))),
        }
    }
}

/// One counter source read at a tick: the shard-wide counters (`key: None`) or a vector
/// set's. `id` tells sources apart across ticks (a set deleted and created again under the
/// same name is a new source); `gone` when this is the source's last reading.
#[derive(Debug)]
pub struct Source<'a> {
    /// Tells sources apart across ticks.
    pub id: usize,
    /// `None`: the shard-wide counters; else the vector set's name.
    pub key: Option<&'a [u8]>,
    /// Cumulative counts.
    pub counts: Counts,
    /// Cumulative latency histogram.
    pub hist: Hist,
    /// This is the source's last reading (its set is gone).
    pub gone: bool,
}

/// Sums over a window of one series.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Window {
    /// First second covered (aligned down to `width_s`).
    pub from_s: u64,
    /// End (exclusive), s.
    pub to_s: u64,
    /// Width of the buckets summed.
    pub width_s: u64,
    /// Event counts in the window.
    pub counts: Counts,
    /// Latency of the sampled lookups in the window.
    pub latency: Hist,
}

impl Window {
    /// Hits plus misses.
    pub fn lookups(&self) -> u64 {
        self.counts.hits() + self.counts.misses()
    }
    /// Hits over lookups; `None` with no lookups.
    pub fn hit_rate(&self) -> Option<f64> {
        let n = self.lookups();
        (n > 0).then(|| self.counts.hits() as f64 / n as f64)
    }
}

#[derive(Debug, Default)]
struct State {
    /// Second of the last tick that closed something.
    last_s: Option<u64>,
    prev: HashMap<usize, (Counts, Hist)>,
    series: HashMap<SeriesKey, Series>,
    files: Option<Files>,
    seq: u64,
    last_sync_ms: u64,
}

/// The analytics of one engine.
#[derive(Debug)]
pub struct Analytics {
    cfg: AnalyticsConfig,
    sample_mask: u32,
    sync_every_ms: Option<u64>,
    state: Mutex<State>,
    /// The last lookups and writes of elements (topics and hot concepts).
    pub log: log::LookupLog,
    /// Which elements are looked up right after which (prefetch), built from the log.
    pub coaccess: coaccess::CoAccess,
    /// Held from reading the sources to closing their deltas, so two ticks never interleave
    /// (an older reading closed after a newer one would look like a counter reset).
    tick_lock: Mutex<()>,
    /// How long each vector search took (`Engine::vsearch*`, one per query), for `/metrics`:
    /// kept here because every database's engine value shares the analytics. Recorded
    /// whether or not analytics are enabled.
    pub search_durations: hist::Durations,
    /// How long each batch of searches (`Engine::vsearch_batch`) took, whole.
    pub batch_search_durations: hist::Durations,
}

impl Analytics {
    /// Opens the analytics: in memory, or over `dir` (created), loading its snapshot and
    /// the log after it. `sync_every_ms`: fdatasync the log at most this often (`Some(0)`
    /// every tick, `None` never), as the engine's WAL policy says.
    pub fn open(
        cfg: AnalyticsConfig,
        dir: Option<&Path>,
        sync_every_ms: Option<u64>,
    ) -> Result<Self> {
        cfg.validate()?;
        let sample_mask = cfg.latency_sample_every.max(1).next_power_of_two() - 1;
        let mut st = State::default();
        if let (true, Some(dir)) = (cfg.enabled, dir) {
            let (files, series, seq, deltas) = Files::open(dir, &cfg.tiers)?;
            st.series = series.into_iter().collect();
            st.seq = seq;
            for d in deltas {
                st.seq = st.seq.max(d.seq);
                Self::apply(&cfg, &mut st, &d.key, d.second, &d.counts, &d.hist);
            }
            st.files = Some(files);
        }
        let entries = if cfg.enabled {
            cfg.lookup_log_entries
        } else {
            0
        };
        Ok(Self {
            log: log::LookupLog::new(entries),
            coaccess: coaccess::CoAccess::default(),
            cfg,
            sample_mask,
            sync_every_ms,
            state: Mutex::new(st),
            tick_lock: Mutex::new(()),
            search_durations: Default::default(),
            batch_search_durations: Default::default(),
        })
    }

    /// Serializes ticks: hold it while reading the sources and calling [`Analytics::tick`].
    pub fn lock_tick(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.tick_lock.lock()
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyticsConfig {
        &self.cfg
    }

    /// The mask [`sample_start`] takes; `None` when analytics are off.
    #[inline]
    pub fn sample_mask(&self) -> Option<u32> {
        self.cfg.enabled.then_some(self.sample_mask)
    }

    /// The sampling mask whether or not analytics are on (a lookup recorded in a lane of the
    /// log, which exists only when they are, samples with it).
    #[inline]
    pub fn sample_mask_raw(&self) -> u32 {
        self.sample_mask
    }

    fn apply(cfg: &AnalyticsConfig, st: &mut State, key: &SeriesKey, s: u64, c: &Counts, h: &Hist) {
        if !st.series.contains_key(key) {
            if key.is_some() {
                let sets = st.series.keys().filter(|k| k.is_some()).count();
                if sets >= cfg.max_series {
                    let oldest = st
                        .series
                        .iter()
                        .filter(|(k, _)| k.is_some())
                        .min_by_key(|(_, v)| v.last_s)
                        .map(|(k, _)| k.clone());
                    if let Some(k) = oldest {
                        st.series.remove(&k);
                    }
                }
            }
            st.series.insert(key.clone(), Series::new(&cfg.tiers));
        }
        st.series.get_mut(key).expect("inserted").add(s, c, h);
    }

    /// Takes the sources' current readings as the starting point without counting them
    /// (at open: what replaying the log counted is not traffic).
    pub fn baseline(&self, now_ms: u64, sources: &[Source<'_>]) {
        let mut st = self.state.lock();
        st.last_s = Some(now_ms / 1000);
        self.log.mark(now_ms / 1000);
        for s in sources {
            st.prev.insert(s.id, (s.counts, s.hist));
        }
    }

    /// Whether a tick at `now_ms` would close anything (a cheap check before gathering the
    /// sources).
    pub fn due(&self, now_ms: u64) -> bool {
        self.cfg.enabled && self.state.lock().last_s != Some(now_ms / 1000)
    }

    /// Closes what the sources gained since the last tick into the second of that tick, when
    /// the clock has moved to a new second since (or always, with `force`: at close);
    /// appends the deltas to the log.
    pub fn tick(&self, now_ms: u64, sources: &[Source<'_>], force: bool) -> Result<()> {
        if !self.cfg.enabled {
            return Ok(());
        }
        let now_s = now_ms / 1000;
        let mut st = self.state.lock();
        if st.last_s.is_none_or(|at| now_s > at) {
            self.log.mark(now_s);
        }
        let Some(at) = st.last_s else {
            st.last_s = Some(now_s);
            for s in sources {
                st.prev.entry(s.id).or_insert((s.counts, s.hist));
            }
            return Ok(());
        };
        if now_s <= at && !force {
            return Ok(());
        }
        let mut closed: HashMap<SeriesKey, (Counts, Hist)> = HashMap::new();
        for s in sources {
            let (pc, ph) = st.prev.get(&s.id).copied().unwrap_or_default();
            let dc = s.counts.since(&pc);
            let dh = s.hist.since(&ph);
            if s.gone {
                st.prev.remove(&s.id);
            } else {
                st.prev.insert(s.id, (s.counts, s.hist));
            }
            if dc.is_zero() && dh.count() == 0 {
                continue;
            }
            let e = closed.entry(s.key.map(<[u8]>::to_vec)).or_default();
            e.0.add(&dc);
            e.1.add(&dh);
        }
        st.last_s = Some(now_s.max(at));
        let mut deltas = Vec::with_capacity(closed.len());
        for (key, (c, h)) in closed {
            st.seq += 1;
            Self::apply(&self.cfg, &mut st, &key, at, &c, &h);
            deltas.push(Delta {
                seq: st.seq,
                second: at,
                key,
                counts: c,
                hist: h,
            });
        }
        let seq = st.seq;
        let st = &mut *st;
        if let Some(f) = st.files.as_mut() {
            f.append(&deltas)?;
            if let Some(every) = self.sync_every_ms {
                if !deltas.is_empty() && now_ms.saturating_sub(st.last_sync_ms) >= every {
                    f.sync()?;
                    st.last_sync_ms = now_ms;
                }
            }
            if f.log_records >= self.cfg.compact_after_records {
                f.write_snapshot(seq, &self.cfg.tiers, st.series.iter())?;
            }
        }
        Ok(())
    }

    /// Writes the snapshot now and empties the log (at close and SAVE).
    pub fn checkpoint(&self) -> Result<()> {
        let mut st = self.state.lock();
        let seq = st.seq;
        let st = &mut *st;
        if let Some(f) = st.files.as_mut() {
            f.write_snapshot(seq, &self.cfg.tiers, st.series.iter())?;
        }
        Ok(())
    }

    /// The series kept: `None` is the whole shard, then every vector set's name, sorted.
    pub fn keys(&self) -> Vec<SeriesKey> {
        let mut k: Vec<SeriesKey> = self.state.lock().series.keys().cloned().collect();
        k.sort();
        k
    }

    /// Sums of `key`'s series over the last `window_s` seconds before `now_ms`, from the
    /// finest tier that covers the window (its start aligned down to that tier's width).
    /// `None` when the series has never seen anything.
    pub fn window(&self, key: Option<&[u8]>, now_ms: u64, window_s: u64) -> Option<Window> {
        let st = self.state.lock();
        let s = st.series.get(&key.map(<[u8]>::to_vec))?;
        let t = s.tier_for(window_s)?;
        let w = t.spec.width_s;
        let now_s = now_ms / 1000;
        let from = now_s.saturating_sub(window_s);
        let from = from - from % w;
        let to = now_s + 1;
        let (counts, latency) = t.sum(from, to);
        Some(Window {
            from_s: from,
            to_s: to,
            width_s: w,
            counts,
            latency,
        })
    }

    /// The buckets of `key`'s tier of width `width_s` that start in `[from_s, to_s)`.
    pub fn buckets(
        &self,
        key: Option<&[u8]>,
        width_s: u64,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<Bucket>> {
        if !self.cfg.tiers.iter().any(|t| t.width_s == width_s) {
            let widths: Vec<String> = self
                .cfg
                .tiers
                .iter()
                .map(|t| t.width_s.to_string())
                .collect();
            return Err(Error::invalid(
                "resolution",
                format!(
                    "one of the configured bucket widths in seconds: {}",
                    widths.join(", ")
                ),
            ));
        }
        let st = self.state.lock();
        let Some(s) = st.series.get(&key.map(<[u8]>::to_vec)) else {
            return Ok(Vec::new());
        };
        Ok(s.tiers
            .iter()
            .find(|t| t.spec.width_s == width_s)
            .map(|t| {
                t.buckets
                    .iter()
                    .filter(|b| b.start_s >= from_s && b.start_s < to_s)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Bytes the series hold now, per series key.
    pub fn memory(&self) -> Vec<(SeriesKey, usize)> {
        let st = self.state.lock();
        let mut v: Vec<_> = st
            .series
            .iter()
            .map(|(k, s)| (k.clone(), s.bytes()))
            .collect();
        v.sort();
        v
    }
}

#[cfg(test)]
mod pace_tests {
    use std::time::Duration;

    use super::*;

    /// The end of a timed lookup `us` µs after the time base.
    fn at(us: u64) -> Instant {
        clock_base() + Duration::from_micros(us)
    }

    #[test]
    fn a_pace_times_one_in_the_configured_interval_until_the_rate_passes_its_budget() {
        let p = Pace::default();
        let min = 63; // one in 64
        assert!(p.due(0, min) && p.due(64, min) && !p.due(32, min));
        // The first timed lookup only sets the time; 64 lookups over 1 ms later is 64,000/s:
        // 62.5 timed a second at one in 64 ... wants one in 62.5 -> 64, the configured one.
        p.timed(at(1_000), min);
        p.timed(at(2_000), min);
        assert!(p.due(64, min) && !p.due(32, min));
        // 64 lookups in 10 µs: 6.4 M/s wants one in 6,250 -> 8,192.
        p.timed(at(2_010), min);
        assert!(!p.due(4_096, min) && p.due(8_192, min));
        // 8,192 lookups in 8 s: slow again -> back to the configured interval.
        p.timed(at(8_002_010), min);
        assert!(p.due(64, min) && !p.due(63, min));
        // Never past the longest interval; a clock that did not move changes nothing.
        let end = at(8_002_010) + Duration::from_nanos(1);
        p.timed(end, min);
        assert!(p.due(MAX_SAMPLE_INTERVAL, min) && !p.due(MAX_SAMPLE_INTERVAL / 2, min));
        p.timed(end, min);
        assert!(p.due(MAX_SAMPLE_INTERVAL, min) && !p.due(MAX_SAMPLE_INTERVAL / 2, min));
    }

    #[test]
    fn a_busy_thread_times_about_its_budget_a_second_and_every_lookup_at_interval_one() {
        // Every lookup timed when configured so and slow enough (analytics_series' tests).
        let p = Pace::default();
        for i in 0..100u64 {
            assert!(p.due(i, 0));
            p.timed(at(10_000 + i * 10_000), 0); // 100 lookups/s
        }
        // 10 M lookups/s simulated for one second: timed ones stay near the budget.
        let q = Pace::default();
        let (mut timed, mut t_ns) = (0u64, 1_000_000u64);
        for n in 0..10_000_000u64 {
            t_ns += 100;
            if q.due(n, 63) {
                timed += 1;
                q.timed(clock_base() + Duration::from_nanos(t_ns), 63);
            }
        }
        assert!(
            (SAMPLES_PER_S / 2..=SAMPLES_PER_S * 2).contains(&timed),
            "{timed} timed in a simulated second"
        );
    }
}
