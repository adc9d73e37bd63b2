//! Analytics phrases ([`Engine::analytics_query`]): the seed's questions ("hit rate for
//! financial concepts"), their topic resolved to sets, an attribute value or a cached
//! embedding, and answered from the series, the topic counts and the hot concepts.

use std::sync::Arc;

use super::analytics::{has_attr_value, HotConcept, Topic, TOPIC_FIELDS};
use crate::analytics::{self, Window};
use crate::engine::api::Engine;
use crate::error::Result;

/// The answer to an analytics phrase ([`Engine::analytics_query`]): the seed's sentence and
/// the same figures.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct AnalyticsAnswer {
    /// `hit_rate`, `hot` or `performance`.
    pub ask: &'static str,
    /// The sentence ("Cache hit rate for financial concepts: 73.4% (1,234 hits, 441 misses)").
    pub answer: String,
    /// The topic words as asked.
    pub topic: Option<String>,
    /// How the topic resolved: `shard` (no topic), `vector set` (sets named for it),
    /// `attribute value` (elements whose `.topic`, `.category`, `.source` or `.domain` is the
    /// topic) or `cached embedding` (elements near the cached element named by the topic).
    pub resolved_as: &'static str,
    /// What it resolved to: the sets, the FILTER expression, or `set element`.
    pub resolved_to: Vec<String>,
    /// The window, s.
    pub window_seconds: u64,
    /// "the last hour".
    pub window: String,
    /// Lookups that found an entry (of the topic).
    pub hits: u64,
    /// Lookups that found none (attributed to the topic, with one).
    pub misses: u64,
    /// Hits plus misses.
    pub lookups: u64,
    /// Hits over lookups; `None` with no lookups.
    pub hit_rate: Option<f64>,
    /// Misses no topic could be given (topics by attribute or embedding only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unattributed_misses: Option<u64>,
    /// Writes, evictions, expirations, invalidations (from the series: shard or sets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writes: Option<u64>,
    #[allow(missing_docs)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evictions: Option<u64>,
    #[allow(missing_docs)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expirations: Option<u64>,
    #[allow(missing_docs)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invalidations: Option<u64>,
    /// Median sampled lookup latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_us: Option<f64>,
    /// 99th percentile sampled lookup latency, µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p99_us: Option<f64>,
    /// The hot concepts (`hot`), largest count first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub concepts: Vec<HotConcept>,
    /// Each concept's count is within this of the truth (`hot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_bound: Option<u64>,
}

/// Why a phrase got no answer.
#[derive(Debug)]
pub enum QueryRefusal {
    /// Not in the grammar (the text is [`analytics::query::GRAMMAR`]).
    Unreadable(&'static str),
    /// In the grammar, but naming nothing this shard knows, or asking what it cannot answer.
    Unanswerable(String),
}

fn name_parts(name: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(name)
        .to_lowercase()
        .split([':', '-', '_', '/', '.'])
        .map(str::to_owned)
        .collect()
}

fn percent(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{:.1}%", r * 100.0))
}

enum Resolved {
    Shard,
    Sets(Vec<Vec<u8>>),
    Attr(String),
    Embedding(Vec<u8>, Vec<u8>, f32),
}

impl Engine {
    /// The vector sets that exist now, by name.
    pub fn analytics_live_sets(&self) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = self
            .store
            .set_counters
            .lock()
            .iter()
            .filter(|(_, c)| Arc::strong_count(c) > 1)
            .map(|(n, _)| n.to_vec())
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// The vector sets a topic word names: a set called exactly that, else those with it as
    /// one part of their name between `:` `-` `_` `/` `.` (case ignored).
    pub fn analytics_topic_sets(&self, topic: &str) -> Vec<Vec<u8>> {
        let t = topic.to_lowercase();
        let joined = [t.replace(' ', "_"), t.replace(' ', "-")];
        let keys = self.analytics_live_sets();
        if let Some(k) = keys.iter().find(|k| k.eq_ignore_ascii_case(t.as_bytes())) {
            return vec![k.clone()];
        }
        keys.into_iter()
            .filter(|k| {
                let parts = name_parts(k);
                parts.iter().any(|p| *p == t || joined.contains(p))
            })
            .collect()
    }

    fn resolve_topic(&self, topic: Option<&str>) -> std::result::Result<Resolved, QueryRefusal> {
        let Some(t) = topic else {
            return Ok(Resolved::Shard);
        };
        let sets = self.analytics_topic_sets(t);
        if !sets.is_empty() {
            return Ok(Resolved::Sets(sets));
        }
        let live = self.analytics_live_sets();
        for set in &live {
            let any = self
                .with_set(set, |vs, _| {
                    Ok(vs.live_slots().any(|s| {
                        vs.elem(s)
                            .is_some_and(|e| has_attr_value(e.attrs.as_deref(), t))
                    }))
                })
                .ok()
                .flatten()
                .unwrap_or(false);
            if any {
                return Ok(Resolved::Attr(t.to_string()));
            }
        }
        for set in &live {
            if let Ok(Some(info)) = self.vinfo(set) {
                if self.vismember(set, t.as_bytes()).unwrap_or(false) {
                    let threshold = match info.metric {
                        crate::Metric::Cosine => 0.7,
                        _ => 0.85,
                    };
                    return Ok(Resolved::Embedding(
                        set.clone(),
                        t.as_bytes().to_vec(),
                        threshold,
                    ));
                }
            }
        }
        let names: Vec<String> = live
            .iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect();
        Err(QueryRefusal::Unanswerable(format!(
            "unknown topic '{t}': no vector set is named for it, no element has it as .{} and no element is called so (sets: {})",
            TOPIC_FIELDS.join(", ."),
            if names.is_empty() { "none".into() } else { names.join(", ") }
        )))
    }

    /// Answers a phrase of the analytics grammar ([`analytics::query::GRAMMAR`]): hit rate
    /// or hot concepts (optionally for a topic) or performance over a window. Deterministic:
    /// no model.
    pub fn analytics_query(
        &self,
        text: &str,
    ) -> std::result::Result<AnalyticsAnswer, QueryRefusal> {
        use analytics::query::{parse, thousands, Ask, GRAMMAR};
        let p = parse(text).map_err(|()| QueryRefusal::Unreadable(GRAMMAR))?;
        let internal = |e: crate::Error| QueryRefusal::Unanswerable(e.to_string());
        let resolved = self.resolve_topic(p.topic.as_deref())?;
        let topic_text = p
            .topic
            .as_ref()
            .map(|t| format!(" for {t} concepts"))
            .unwrap_or_default();
        let mut a = AnalyticsAnswer {
            topic: p.topic.clone(),
            window_seconds: p.window_s,
            window: p.window_text.clone(),
            ..Default::default()
        };
        let live = self.analytics_live_sets();
        let topic_owned;
        let (sets_for_topic, topic): (Vec<Vec<u8>>, Option<Topic<'_>>) = match &resolved {
            Resolved::Shard => {
                a.resolved_as = "shard";
                (live.clone(), None)
            }
            Resolved::Sets(s) => {
                a.resolved_as = "vector set";
                a.resolved_to = s
                    .iter()
                    .map(|k| String::from_utf8_lossy(k).into_owned())
                    .collect();
                (s.clone(), None)
            }
            Resolved::Attr(v) => {
                a.resolved_as = "attribute value";
                a.resolved_to = TOPIC_FIELDS
                    .iter()
                    .map(|f| format!(".{f} == {}", serde_json::Value::from(v.as_str())))
                    .collect();
                (live.clone(), Some(Topic::AttrValue(v)))
            }
            Resolved::Embedding(set, el, t) => {
                a.resolved_as = "cached embedding";
                a.resolved_to = vec![format!(
                    "{} {}",
                    String::from_utf8_lossy(set),
                    String::from_utf8_lossy(el)
                )];
                topic_owned = Topic::Near {
                    query: crate::Query::Element(el),
                    threshold: *t,
                };
                (vec![set.clone()], Some(topic_owned))
            }
        };
        match p.ask {
            Ask::Hot { top } => {
                a.ask = "hot";
                let mut all = Vec::new();
                let mut bound = 0;
                for s in &sets_for_topic {
                    match self.analytics_hot(s, topic.as_ref(), top, p.window_s) {
                        Ok(h) => {
                            bound = bound.max(h.error_bound);
                            a.lookups += h.lookups;
                            all.extend(h.concepts);
                        }
                        Err(crate::Error::InvalidArgument { arg: "set", .. }) => {}
                        Err(e) => return Err(internal(e)),
                    }
                }
                all.sort_by(|x, y| y.count.cmp(&x.count).then(x.element.cmp(&y.element)));
                all.truncate(top);
                a.error_bound = Some(bound);
                let what = p
                    .topic
                    .as_ref()
                    .map(|t| format!("{t} concepts"))
                    .unwrap_or("concepts".into());
                a.answer = if all.is_empty() {
                    format!("No {what} were queried in {}", p.window_text)
                } else {
                    format!(
                        "Most queried {what} in {}: {}",
                        p.window_text,
                        all.iter()
                            .map(|c| format!(
                                "{} ({})",
                                String::from_utf8_lossy(&c.element),
                                thousands(c.count)
                            ))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                a.concepts = all;
                return Ok(a);
            }
            Ask::HitRate | Ask::Performance if topic.is_some() => {
                let mut unattributed = 0;
                for s in &sets_for_topic {
                    match self.analytics_topic(s, topic.as_ref().expect("some"), p.window_s) {
                        Ok(t) => {
                            a.hits += t.hits;
                            a.misses += t.misses;
                            unattributed += t.unattributed_misses;
                        }
                        Err(crate::Error::InvalidArgument { arg: "set", .. }) => {}
                        Err(e) => return Err(internal(e)),
                    }
                }
                a.unattributed_misses = Some(unattributed);
            }
            _ => {
                let mut w = Window::default();
                let windows: Vec<Option<Window>> = match &resolved {
                    Resolved::Sets(s) => s
                        .iter()
                        .map(|s| self.analytics_window(Some(s), p.window_s))
                        .collect::<Result<_>>()
                        .map_err(internal)?,
                    _ => vec![self.analytics_window(None, p.window_s).map_err(internal)?],
                };
                for x in windows.into_iter().flatten() {
                    w.counts.add(&x.counts);
                    w.latency.add(&x.latency);
                }
                let c = w.counts;
                let us = |q| w.latency.quantile(q).map(|ns| ns as f64 / 1000.0);
                a.hits = c.hits();
                a.misses = c.misses();
                a.writes = Some(c.0[2]);
                a.evictions = Some(c.0[3]);
                a.expirations = Some(c.0[4]);
                a.invalidations = Some(c.0[5]);
                a.latency_p50_us = us(0.5);
                a.latency_p99_us = us(0.99);
            }
        }
        a.lookups = a.hits + a.misses;
        a.hit_rate = (a.lookups > 0).then(|| a.hits as f64 / a.lookups as f64);
        let by = match a.resolved_as {
            "attribute value" => " (topic by attribute value)",
            "cached embedding" => " (topic by cached embedding)",
            _ => "",
        };
        if p.ask == Ask::HitRate || a.writes.is_none() {
            a.ask = "hit_rate";
            a.answer = match a.hit_rate {
                Some(r) => format!(
                    "Cache hit rate{topic_text}: {} ({} hits, {} misses){by}",
                    percent(Some(r)),
                    thousands(a.hits),
                    thousands(a.misses)
                ),
                None => format!(
                    "Cache hit rate{topic_text}: no lookups in {}{by}",
                    p.window_text
                ),
            };
        } else {
            a.ask = "performance";
            let us = |v: Option<f64>| v.map_or("n/a".into(), |v| format!("{v:.1} µs"));
            a.answer = format!(
                "Embedding cache performance{topic_text} over {}: {} lookups, hit rate {} ({} hits, {} misses), {} writes, {} evictions, {} expirations, {} invalidations, lookup latency p50 {}, p99 {}",
                p.window_text,
                thousands(a.lookups),
                percent(a.hit_rate),
                thousands(a.hits),
                thousands(a.misses),
                thousands(a.writes.unwrap_or(0)),
                thousands(a.evictions.unwrap_or(0)),
                thousands(a.expirations.unwrap_or(0)),
                thousands(a.invalidations.unwrap_or(0)),
                us(a.latency_p50_us),
                us(a.latency_p99_us),
            );
        }
        Ok(a)
    }
}
