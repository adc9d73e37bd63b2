//! The engine's side of the analytics (`crate::analytics`): reading the store's counters at
//! each tick, timing sampled lookups, and the query calls.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use crate::analytics::hist::DurationCounts;
use crate::analytics::log::{Ev, LaneRef};
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
    an.tick(now_ms, &sources, force)?;
    an.coaccess.update(&an.log);
    Ok(())
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

    /// Starts timing a vector-set lookup that will be recorded through `lane` when it is one
    /// its thread times (the lane's position counts the lookups and the lane holds the pace:
    /// no second thread-local read); a thread without a lane counts as
    /// [`Engine::lookup_timer`] does.
    #[inline]
    pub(crate) fn lookup_timer_in(&self, lane: &LaneRef<'_>) -> Option<Instant> {
        match lane.timed(self.analytics.sample_mask_raw()) {
            Some(timed) => timed.then(Instant::now),
            None => self.lookup_timer(),
        }
    }

    /// Ends a timed lookup: its latency goes to the set's histogram (when it reached one) and
    /// the shard's, and the thread's pace (its lane's, or its own without one) is updated.
    #[inline]
    pub(crate) fn lookup_timed(
        &self,
        t0: Option<Instant>,
        set: Option<&EventCounters>,
        lane: Option<&LaneRef<'_>>,
    ) {
        if t0.is_some() {
            let total = &self.store.counters.events.latency;
            let pace = lane.and_then(LaneRef::pace);
            let mask = self.analytics.sample_mask_raw();
            match set {
                Some(s) => analytics::sample_end(t0, &[&s.latency, total], pace, mask),
                None => analytics::sample_end(t0, &[total], pace, mask),
            }
        }
    }

    /// Closes what the counters gained into the series when the clock has reached a new
    /// second since the last tick (the maintenance thread calls it every period; call it
    /// yourself with an engine opened with `active_expire_interval_ms: 0` and a manual
    /// clock). The queries below close the current second's counts first.
    pub fn analytics_tick(&self) -> Result<()> {
        tick(&self.analytics, &self.store, self.store.now_ms(), false)
    }

    /// Closes what the counters gained so far into the current tick's second, even within
    /// it (the queries do, so they see every lookup made before them).
    fn analytics_tick_now(&self) -> Result<()> {
        tick(&self.analytics, &self.store, self.store.now_ms(), true)
    }

    /// The analytics configuration.
    pub fn analytics_config(&self) -> &AnalyticsConfig {
        self.analytics.config()
    }

    /// Sums over the last `window_s` seconds of one vector set's series (`set: None`: the
    /// whole shard); `None` when that series never saw anything.
    pub fn analytics_window(&self, set: Option<&[u8]>, window_s: u64) -> Result<Option<Window>> {
        self.analytics_tick_now()?;
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
        self.analytics_tick_now()?;
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

/// How long operations took ([`Engine::op_durations`]): counts per bucket of
/// [`crate::analytics::hist::DURATION_BOUNDS_NS`] and sums.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpDurations {
    /// Each search of one query (`vsearch`, `vsearch_filtered`; VSIM).
    pub search: DurationCounts,
    /// Each batch of searches (`vsearch_batch`), whole.
    pub batch_search: DurationCounts,
    /// Each fdatasync of a WAL segment; `None` in memory.
    pub fsync: Option<DurationCounts>,
    /// Each snapshot written (checkpoint, SAVE, shutdown); `None` in memory.
    pub snapshot: Option<DurationCounts>,
}

/// Whether the JSON attributes have `value` (case ignored) as one of [`TOPIC_FIELDS`].
/// The attributes a topic word is looked for in.
pub(super) const TOPIC_FIELDS: [&str; 4] = ["topic", "category", "source", "domain"];

pub(super) fn has_attr_value(attrs: Option<&str>, value: &str) -> bool {
    let Some(Ok(serde_json::Value::Object(m))) = attrs.map(serde_json::from_str) else {
        return false;
    };
    TOPIC_FIELDS.iter().any(|f| {
        m.get(*f)
            .and_then(|v| v.as_str())
            .is_some_and(|v| v.eq_ignore_ascii_case(value))
    })
}

/// A topic of one vector set: which of its elements' lookups belong to it.
#[derive(Clone, Copy, Debug)]
pub enum Topic<'a> {
    /// Elements whose attributes pass a VSIM `FILTER` expression.
    Filter(&'a crate::engine::filter::Filter),
    /// Elements with this string as one of their `.topic`, `.category`, `.source` or
    /// `.domain` attributes (what a topic word of the phrase grammar resolves to).
    AttrValue(&'a str),
    /// Elements whose similarity to a query (an element of the set or a vector) is at least
    /// `threshold` (the engine's score: cosine similarity for cosine sets).
    Near {
        /// The centre of the neighbourhood.
        query: crate::engine::types::Query<'a>,
        /// Least engine score to belong.
        threshold: f32,
    },
}

/// A topic's hit rate over a window ([`Engine::analytics_topic`]), counted from the lookup
/// log. A hit belongs to the topic when its element is in it now; a miss when its element
/// was written within `attribution_seconds` after the miss (cache-aside: miss, compute, set)
/// and is in the topic now. The misses that cannot be attributed are counted apart.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct TopicHitRate {
    /// Lookups of the topic's elements that found them.
    pub hits: u64,
    /// Attributed misses.
    pub misses: u64,
    /// `hits + misses`.
    pub lookups: u64,
    /// `hits / lookups`; `None` with no lookups.
    pub hit_rate: Option<f64>,
    /// Misses of the set whose element was not written within the attribution time after
    /// (or is gone): they may belong to any topic.
    pub unattributed_misses: u64,
    /// Hits of the set whose element is gone since (their topic is unknown).
    pub unresolved_hits: u64,
    /// Every lookup of the set in the window.
    pub set_lookups: u64,
    /// The window, s.
    pub window_seconds: u64,
    /// Seconds after a miss within which a write attributes it.
    pub attribution_seconds: u64,
    /// Whether the lookup log still holds the whole window (else only its end was counted).
    pub complete: bool,
    /// The first second the log holds completely.
    pub log_from: Option<u64>,
}

/// One hot concept.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct HotConcept {
    /// The vector set.
    #[serde(serialize_with = "lossy")]
    pub set: Vec<u8>,
    /// The element's name.
    #[serde(serialize_with = "lossy")]
    pub element: Vec<u8>,
    /// Lookups counted (at most `error` more than the true count).
    pub count: u64,
    /// Most the count overestimates by (≤ the answer's `error_bound`).
    pub error: u64,
}

/// The most-looked-up elements ([`Engine::analytics_hot`]).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct HotConcepts {
    /// Largest count first.
    pub concepts: Vec<HotConcept>,
    /// Lookups fed to the summary (those of the topic, when one was given).
    pub lookups: u64,
    /// Counters of the space-saving summary.
    pub counters: usize,
    /// Every count is within this of the truth: `lookups / counters`.
    pub error_bound: u64,
    /// Top counters left out because their element is not in the set now (never written, or
    /// removed since).
    pub not_cached: u64,
    /// The window, s.
    pub window_seconds: u64,
    /// Whether the lookup log still holds the whole window.
    pub complete: bool,
    /// The first second the log holds completely.
    pub log_from: Option<u64>,
}

fn lossy<S: serde::Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(b))
}

impl Engine {
    /// The window `[from, to)` in seconds ending now, as the series count it.
    fn log_window(&self, window_s: u64) -> Result<(u64, u64)> {
        if window_s == 0 {
            return Err(crate::Error::invalid(
                "window",
                "a number of seconds of at least 1",
            ));
        }
        self.analytics_tick_now()?;
        let now_s = self.store.now_ms() / 1000;
        Ok((now_s.saturating_sub(window_s), now_s + 1))
    }

    /// Which of `elems` (name hashes) of `set` belong to `topic` now; absent: not in the set.
    fn topic_members(
        &self,
        set: &[u8],
        topic: Option<&Topic<'_>>,
        elems: impl Iterator<Item = u64>,
    ) -> Result<HashMap<u64, bool>> {
        let r = self.with_set(set, |vs, _| {
            let prepared = match topic {
                Some(Topic::Near { query, threshold }) => {
                    Some((self.prepare(vs, *query)?, *threshold))
                }
                _ => None,
            };
            let mut out = HashMap::new();
            for h in elems {
                let Some(s) = vs.find_hash(h) else { continue };
                let member = match (topic, &prepared) {
                    (None, _) => true,
                    (Some(Topic::Filter(f)), _) => {
                        vs.elem(s).is_some_and(|e| f.matches(e.attrs.as_deref()))
                    }
                    (Some(Topic::AttrValue(v)), _) => vs
                        .elem(s)
                        .is_some_and(|e| has_attr_value(e.attrs.as_deref(), v)),
                    (Some(Topic::Near { .. }), Some((q, t))) => vs.score(s, q) >= *t,
                    (Some(Topic::Near { .. }), None) => false,
                };
                out.insert(h, member);
            }
            Ok(out)
        })?;
        Ok(r.unwrap_or_default())
    }

    fn known_set(&self, set: &[u8]) -> Result<()> {
        match self.vinfo(set)? {
            Some(_) => Ok(()),
            None => Err(crate::Error::invalid(
                "set",
                format!(
                    "an existing vector set ('{}' is none)",
                    String::from_utf8_lossy(set)
                ),
            )),
        }
    }

    /// A topic's hit rate in one vector set over the last `window_s` seconds, counted from
    /// the lookup log (see [`TopicHitRate`] for what is attributed how).
    pub fn analytics_topic(
        &self,
        set: &[u8],
        topic: &Topic<'_>,
        window_s: u64,
    ) -> Result<TopicHitRate> {
        self.known_set(set)?;
        let (from, to) = self.log_window(window_s)?;
        let tag = analytics::log::set_tag(self.store.hash(set));
        let attribution = self.analytics.config().attribution_s;
        let mut lookups: Vec<(u64, u64, u64, Ev)> = Vec::new();
        let mut writes: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
        let cov = self.analytics.log.scan(from, u64::MAX, |e| {
            if e.set != tag {
                return;
            }
            match e.ev {
                Ev::Write => writes.entry(e.elem).or_default().push((e.idx, e.second)),
                ev if e.second < to => lookups.push((e.idx, e.second, e.elem, ev)),
                _ => {}
            }
        });
        let members = self.topic_members(
            set,
            Some(topic),
            lookups
                .iter()
                .map(|l| l.2)
                .collect::<HashSet<_>>()
                .into_iter(),
        )?;
        let mut out = TopicHitRate {
            window_seconds: window_s,
            attribution_seconds: attribution,
            complete: cov.complete,
            log_from: cov.from_s,
            set_lookups: lookups.len() as u64,
            ..Default::default()
        };
        for (idx, second, elem, ev) in lookups {
            let member = members.get(&elem).copied();
            if ev == Ev::Hit {
                match member {
                    Some(true) => out.hits += 1,
                    Some(false) => {}
                    None => out.unresolved_hits += 1,
                }
                continue;
            }
            let written_after = writes.get(&elem).is_some_and(|w| {
                w.iter()
                    .any(|&(i, s)| i > idx && s <= second.saturating_add(attribution))
            });
            match (written_after, member) {
                (true, Some(true)) => out.misses += 1,
                (true, Some(false)) => {}
                _ => out.unattributed_misses += 1,
            }
        }
        out.lookups = out.hits + out.misses;
        out.hit_rate = (out.lookups > 0).then(|| out.hits as f64 / out.lookups as f64);
        Ok(out)
    }

    /// The `k` most-looked-up elements of one vector set over the last `window_s` seconds
    /// (only those of `topic`, when given): space-saving over the lookup log with the
    /// configured number of counters, so each count is within `lookups / counters`.
    pub fn analytics_hot(
        &self,
        set: &[u8],
        topic: Option<&Topic<'_>>,
        k: usize,
        window_s: u64,
    ) -> Result<HotConcepts> {
        self.known_set(set)?;
        if k == 0 {
            return Err(crate::Error::invalid("count", "at least 1"));
        }
        let (from, to) = self.log_window(window_s)?;
        let tag = analytics::log::set_tag(self.store.hash(set));
        let m = self.analytics.config().hot_counters.max(k);
        let mut ss = analytics::topk::SpaceSaving::new(m);
        let cov = match topic {
            None => self.analytics.log.scan(from, to, |e| {
                if e.set == tag && e.ev != Ev::Write {
                    ss.add(e.elem);
                }
            }),
            Some(t) => {
                let mut elems = Vec::new();
                let cov = self.analytics.log.scan(from, to, |e| {
                    if e.set == tag && e.ev != Ev::Write {
                        elems.push(e.elem);
                    }
                });
                let distinct: HashSet<u64> = elems.iter().copied().collect();
                let members = self.topic_members(set, Some(t), distinct.into_iter())?;
                for e in elems {
                    if members.get(&e) == Some(&true) {
                        ss.add(e);
                    }
                }
                cov
            }
        };
        let top = ss.top(m);
        let mut out = HotConcepts {
            lookups: ss.seen(),
            counters: m,
            error_bound: ss.bound(),
            window_seconds: window_s,
            complete: cov.complete,
            log_from: cov.from_s,
            ..Default::default()
        };
        self.with_set(set, |vs, _| {
            for c in top {
                if out.concepts.len() == k {
                    break;
                }
                match vs.find_hash(c.item).and_then(|s| vs.elem(s)) {
                    Some(e) => out.concepts.push(HotConcept {
                        set: set.to_vec(),
                        element: e.name.to_vec(),
                        count: c.count,
                        error: c.error,
                    }),
                    None => out.not_cached += 1,
                }
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// What a client prefetching after a lookup of `element` should bring in: up to `k`
    /// elements of `set`, first those most often looked up right after it (the co-access
    /// table, `analytics::coaccess`, with their counts), then its nearest elements not among
    /// them (count 0). Only live elements; `element` itself never. Empty for a missing set.
    pub fn analytics_next(
        &self,
        set: &[u8],
        element: &[u8],
        k: usize,
    ) -> Result<Vec<(Vec<u8>, u32)>> {
        if k == 0 {
            return Err(crate::Error::invalid("count", "at least 1"));
        }
        self.analytics.coaccess.update(&self.analytics.log);
        let tag = analytics::log::set_tag(self.store.hash(set));
        let next = self.analytics.coaccess.next(tag, self.store.hash(element));
        let mut out: Vec<(Vec<u8>, u32)> = Vec::with_capacity(k);
        let found = self.with_set(set, |vs, _| {
            for (h, count) in next {
                if let Some(e) = vs.find_hash(h).and_then(|s| vs.elem(s)) {
                    if &*e.name != element && out.len() < k {
                        out.push((e.name.to_vec(), count));
                    }
                }
            }
            Ok(())
        })?;
        if found.is_none() || out.len() >= k {
            return Ok(out);
        }
        let params = crate::engine::types::SearchParams {
            count: k + 1 + out.len(),
            ..Default::default()
        };
        let near = match self.vsearch(set, crate::engine::types::Query::Element(element), &params) {
            Ok(hits) => hits,
            Err(crate::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e),
        };
        for h in near {
            if out.len() == k {
                break;
            }
            if h.element != element && !out.iter().any(|(n, _)| *n == h.element) {
                out.push((h.element, 0));
            }
        }
        Ok(out)
    }

    /// Bytes the lookup log can hold at most, and entries recorded so far.
    pub fn analytics_log(&self) -> (usize, usize, u64) {
        let l = &self.analytics.log;
        (l.bytes(), l.capacity(), l.recorded())
    }
}
