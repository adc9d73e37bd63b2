//! The engine's side of the analytics (`crate::analytics`): reading the store's counters at
//! each tick, timing sampled lookups, and the query calls.

use std::sync::Arc;
use std::time::Instant;

use crate::analytics::{self, Analytics, AnalyticsConfig, Bucket, SeriesKey, Source, Window};
use crate::engine::api::Engine;
use crate::error::Result;
use crate::store::{EventCounters, Store};

/// Reads every counter source of `store` (the shard-wide counters and each registered vector
/// set's) and hands them to `an`'s tick; forgets the sets that are gone.
pub(crate) fn tick(an: &Analytics, store: &Store, now_ms: u64, force: bool) -> Result<()> {
    if !force && !an.due(now_ms) {
        return Ok(());
    }
    let _one_at_a_time = an.lock_tick();
    let readings = readings(store, true);
    let sources: Vec<Source<'_>> = readings
        .iter()
        .map(|(id, key, (counts, hist), gone)| Source {
            id: *id,
            key: key.as_deref(),
            counts: *counts,
            hist: *hist,
            gone: *gone,
        })
        .collect();
    an.tick(now_ms, &sources, force)
}

type Reading = (
    usize,
    Option<Box<[u8]>>,
    (analytics::Counts, analytics::Hist),
    bool,
);

/// The sources' readings; with `prune`, registered sets nobody else holds (deleted) are
/// read one last time and dropped from the registry.
fn readings(store: &Store, prune: bool) -> Vec<Reading> {
    let total = &store.counters.events;
    let mut out = vec![(
        total as *const EventCounters as usize,
        None,
        total.readings(),
        false,
    )];
    let mut reg = store.set_counters.lock();
    for (name, c) in reg.iter() {
        let gone = Arc::strong_count(c) == 1;
        out.push((
            Arc::as_ptr(c) as usize,
            Some(name.clone()),
            c.readings(),
            gone,
        ));
    }
    if prune {
        reg.retain(|(_, c)| Arc::strong_count(c) > 1);
    }
    out
}

/// Takes the current readings as the analytics' starting point (after recovery).
pub(crate) fn baseline(an: &Analytics, store: &Store) {
    let readings = readings(store, false);
    let sources: Vec<Source<'_>> = readings
        .iter()
        .map(|(id, key, (counts, hist), gone)| Source {
            id: *id,
            key: key.as_deref(),
            counts: *counts,
            hist: *hist,
            gone: *gone,
        })
        .collect();
    an.baseline(store.now_ms(), &sources);
}

impl Engine {
    /// Starts timing a lookup when analytics are on and this is the thread's sampled one.
    #[inline]
    pub(crate) fn lookup_timer(&self) -> Option<Instant> {
        self.analytics
            .sample_mask()
            .and_then(analytics::sample_start)
    }

    /// Ends a timed lookup: its latency goes to the set's histogram (when it reached one) and
    /// the shard's.
    #[inline]
    pub(crate) fn lookup_timed(&self, t0: Option<Instant>, set: Option<&EventCounters>) {
        if t0.is_some() {
            let total = &self.store.counters.events.latency;
            match set {
                Some(s) => analytics::sample_end(t0, &[&s.latency, total]),
                None => analytics::sample_end(t0, &[total]),
            }
        }
    }

    /// Closes what the counters gained into the series when the clock has reached a new
    /// second since the last tick (the maintenance thread calls it every period; call it
    /// yourself with an engine opened with `active_expire_interval_ms: 0` and a manual
    /// clock). The queries below tick first.
    pub fn analytics_tick(&self) -> Result<()> {
        tick(&self.analytics, &self.store, self.store.now_ms(), false)
    }

    /// The analytics configuration.
    pub fn analytics_config(&self) -> &AnalyticsConfig {
        self.analytics.config()
    }

    /// Sums over the last `window_s` seconds of one vector set's series (`set: None`: the
    /// whole shard); `None` when that series never saw anything.
    pub fn analytics_window(&self, set: Option<&[u8]>, window_s: u64) -> Result<Option<Window>> {
        self.analytics_tick()?;
        Ok(self.analytics.window(set, self.store.now_ms(), window_s))
    }

    /// The buckets of width `width_s` (one of the configured tiers) of a series that start in
    /// `[from_s, to_s)` (seconds since the epoch), oldest first.
    pub fn analytics_buckets(
        &self,
        set: Option<&[u8]>,
        width_s: u64,
        from_s: u64,
        to_s: u64,
    ) -> Result<Vec<Bucket>> {
        self.analytics_tick()?;
        self.analytics.buckets(set, width_s, from_s, to_s)
    }

    /// The series kept: `None` (the shard), then vector-set names.
    pub fn analytics_series(&self) -> Vec<SeriesKey> {
        self.analytics.keys()
    }

    /// Bytes held by each series now.
    pub fn analytics_memory(&self) -> Vec<(SeriesKey, usize)> {
        self.analytics.memory()
    }
}
