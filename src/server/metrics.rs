//! `/stats` (JSON) and `/metrics` (Prometheus text exposition, via prometheus-client).
//! Both read the engine's counters at request time; nothing is cached here.
//!
//! `/metrics`' latency histograms (Prometheus `histogram` type, in seconds): commands
//! (`sutra_cache_command_duration_seconds{command}`, from the per-command HDR histograms
//! INFO latencystats reads, 2 significant figures: a bucket's count is within 1% of its
//! bound), searches (`sutra_cache_search_duration_seconds{kind="query"|"batch"}`), WAL
//! fdatasyncs (`sutra_cache_wal_fsync_duration_seconds`) and snapshots
//! (`sutra_cache_snapshot_duration_seconds`), the last three exact
//! ([`crate::analytics::hist::Durations`]). Every histogram has the buckets of
//! [`DURATION_BOUNDS_NS`]: 1, 2.5, 5 × 10^k from 1 µs to 10 s, then `+Inf`.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use super::shared::Shared;
use crate::analytics::hist::{DurationCounts, DURATION_BOUNDS_NS};
use crate::Counters;

fn counters_json(c: &Counters) -> serde_json::Value {
    serde_json::json!({
        "hits": c.hits,
        "misses": c.misses,
        "total_requests": c.hits.saturating_add(c.misses),
        "hit_rate": c.hit_rate(),
        "sets": c.sets,
        "evictions": c.evictions,
        "expirations": c.expirations,
        "entries": c.entries,
        "bytes": c.bytes,
    })
}

/// `/health`: liveness and what this process is.
pub fn health_json(shared: &Shared) -> String {
    let c = &shared.config;
    let warm = shared.engine.warm_status();
    let wal = shared.engine.wal_mode().map(|(io, policy)| {
        let (sync, interval) = match policy {
            crate::SyncPolicy::Always => ("always", None),
            crate::SyncPolicy::Interval(ms) => ("interval", Some(ms)),
            crate::SyncPolicy::Never => ("never", None),
        };
        serde_json::json!({ "io": io, "sync": sync, "sync_interval_ms": interval })
    });
    serde_json::json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": shared.uptime_seconds(),
        "role": c.role,
        "cache_mode": c.cache_role(),
        "vector_dimension": c.vector_dimension,
        "wal_mode": c.wal_mode(),
        "wal": wal,
        "last_save_unix": shared.engine.last_checkpoint_ms().map(|ms| ms / 1000),
        "wal_sync_interval_ms": c.wal_sync_interval_ms,
        "in_memory": c.in_memory,
        "simd_isa": shared.engine.simd_isa(),
        "warm": warm.warm,
        "warmup": warm,
    })
    .to_string()
}

/// `/stats`: the seed's keys (hits, misses, total_requests, hit_rate, backend, shard)
/// and the same counters per vector set.
pub fn stats_json(shared: &Shared) -> String {
    let s = shared.engine.stats();
    let mut body = counters_json(&s.total);
    let per_set: serde_json::Map<String, serde_json::Value> = shared
        .engine
        .vstats_all()
        .into_iter()
        .map(|(k, c)| (String::from_utf8_lossy(&k).into_owned(), counters_json(&c)))
        .collect();
    if let Some(obj) = body.as_object_mut() {
        obj.insert("backend".into(), "sutra-cache".into());
        obj.insert("shard".into(), shared.config.shard.clone().into());
        obj.insert("keys".into(), s.keys.into());
        obj.insert("vector_sets".into(), s.vector_sets.into());
        obj.insert(
            "connected_clients".into(),
            shared.stats.connected_clients.load(Relaxed).into(),
        );
        obj.insert("sets".into(), per_set.into());
    }
    body.to_string()
}

fn counter(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let c: Counter = Counter::default();
    c.inc_by(value);
    registry.register(name, help, c);
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let g: Gauge = Gauge::default();
    g.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, g);
}

type SetLabels = Vec<(String, String)>;

/// One histogram already counted: sum (s), count, and per-bucket (not cumulative) counts
/// with their upper bounds in seconds, the last `f64::MAX` (`+Inf`).
#[derive(Debug, Clone)]
struct Histo {
    sum: f64,
    count: u64,
    buckets: Vec<(f64, u64)>,
}

impl Histo {
    fn from_durations(d: &DurationCounts) -> Self {
        let buckets = DURATION_BOUNDS_NS
            .iter()
            .map(|&b| b as f64 / 1e9)
            .chain([f64::MAX])
            .zip(d.counts)
            .collect();
        Histo {
            sum: d.sum_ns as f64 / 1e9,
            count: d.count(),
            buckets,
        }
    }

    /// From an HDR histogram of ns and the exact sum of what it recorded.
    fn from_hdr(h: &hdrhistogram::Histogram<u64>, sum_ns: u64) -> Self {
        let mut below = 0u64;
        let mut buckets = Vec::with_capacity(DURATION_BOUNDS_NS.len() + 1);
        for &b in &DURATION_BOUNDS_NS {
            let cum = h.count_between(0, b).min(h.len());
            buckets.push((b as f64 / 1e9, cum.saturating_sub(below)));
            below = below.max(cum);
        }
        buckets.push((f64::MAX, h.len().saturating_sub(below)));
        Histo {
            sum: sum_ns as f64 / 1e9,
            count: h.len(),
            buckets,
        }
    }
}

/// Histograms by label set, encoded as one Prometheus histogram family.
#[derive(Debug, Default)]
struct Histos(Vec<(SetLabels, Histo)>);

impl EncodeMetric for Histos {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        for (labels, h) in &self.0 {
            if labels.is_empty() {
                encoder.encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
            } else {
                encoder
                    .encode_family(labels)?
                    .encode_histogram::<NoLabelSet>(h.sum, h.count, &h.buckets, None)?;
            }
        }

        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn histos(
    registry: &mut Registry,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (SetLabels, Histo)>,
) {
    let h = Histos(rows.into_iter().collect());
    registry.register_with_unit(name, help, Unit::Seconds, h);
}

fn labels(pairs: &[(&str, &str)]) -> SetLabels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Most vector sets /metrics labels by name (those with the most lookups, ties by name);
/// the others are summed under `set="_other"`, so a shard with thousands of sets still has at
/// most `MAX_SET_LABELS + 1` series per per-set metric.
pub const MAX_SET_LABELS: usize = 100;

/// `sutra_cache_build_info`'s labels.
fn build_labels(shared: &Shared) -> SetLabels {
    let mut l = labels(&[
        ("version", env!("CARGO_PKG_VERSION")),
        (
            "rustc",
            option_env!("SUTRA_CACHE_RUSTC").unwrap_or("unknown"),
        ),
        (
            "profile",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        ),
        (
            "target",
            &format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        ),
        ("simd_isa", shared.engine.simd_isa()),
    ]);
    if let Some(c) = option_env!("SUTRA_CACHE_COMMIT") {
        l.insert(1, ("commit".to_string(), c.to_string()));
    }
    l
}

/// `/metrics`: Prometheus text exposition (OpenMetrics flavour of prometheus-client).
pub fn metrics_text(shared: &Shared) -> String {
    let mut r = Registry::with_prefix("sutra_cache");
    let s = shared.engine.stats();
    let st = &shared.stats;
    let load = |a: &AtomicU64| a.load(Relaxed);
    counter(&mut r, "hits", "Lookups that found an entry", s.total.hits);
    counter(&mut r, "misses", "Lookups that found none", s.total.misses);
    counter(&mut r, "writes", "Successful writes", s.total.sets);
    counter(
        &mut r,
        "evictions",
        "Entries evicted at a cap",
        s.total.evictions,
    );
    counter(
        &mut r,
        "expirations",
        "Entries reclaimed after their TTL",
        s.total.expirations,
    );
    gauge(
        &mut r,
        "entries",
        "Live entries (blob keys plus elements)",
        s.total.entries,
    );
    gauge(&mut r, "bytes", "Accounted bytes", s.total.bytes);
    gauge(&mut r, "keys", "Keys (blobs plus vector sets)", s.keys);
    gauge(&mut r, "vector_sets", "Vector sets", s.vector_sets);
    gauge(
        &mut r,
        "connected_clients",
        "Clients connected now",
        st.connected_clients.load(Relaxed) as u64,
    );
    counter(
        &mut r,
        "connections",
        "Connections accepted",
        load(&st.total_connections),
    );
    counter(
        &mut r,
        "rejected_connections",
        "Connections refused at maxclients",
        load(&st.rejected_connections),
    );
    counter(
        &mut r,
        "commands",
        "Commands executed",
        load(&st.total_commands),
    );
    counter(
        &mut r,
        "error_replies",
        "Commands answered with an error",
        load(&st.error_replies),
    );
    counter(
        &mut r,
        "protocol_errors",
        "Connections closed for a protocol error or limit",
        load(&st.protocol_errors),
    );
    counter(
        &mut r,
        "http_requests",
        "HTTP requests served",
        load(&st.http_requests),
    );
    gauge(
        &mut r,
        "uptime_seconds",
        "Seconds since start",
        shared.uptime_seconds(),
    );

    let build = Family::<SetLabels, Gauge>::default();
    build.get_or_create(&build_labels(shared)).set(1);
    r.register(
        "build_info",
        "What this server is: version, commit (when the build knew it), compiler, profile, \
         target and SIMD kernels (always 1)",
        build,
    );

    // Latency histograms.
    let names = super::cmd::stat_names();
    let table = shared.cmdstats.snapshot();
    let mut commands: Vec<(SetLabels, Histo)> = table
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, slot)| {
            let h = slot.hist.as_deref().filter(|h| !h.is_empty())?;
            let name = names.get(i)?;
            Some((labels(&[("command", name)]), Histo::from_hdr(h, slot.nanos)))
        })
        .collect();
    commands.sort_by(|a, b| a.0.cmp(&b.0));
    histos(
        &mut r,
        "command_duration",
        "Time to run each command, by command (as INFO commandstats names it); with \
         latency-tracking on",
        commands,
    );
    let d = shared.engine.op_durations();
    histos(
        &mut r,
        "search_duration",
        "Time of each vector search: one query (VSIM), or a whole batch",
        [
            (
                labels(&[("kind", "query")]),
                Histo::from_durations(&d.search),
            ),
            (
                labels(&[("kind", "batch")]),
                Histo::from_durations(&d.batch_search),
            ),
        ],
    );
    histos(
        &mut r,
        "wal_fsync_duration",
        "Time of each fdatasync of a WAL segment (none in memory)",
        d.fsync
            .iter()
            .map(|f| (SetLabels::new(), Histo::from_durations(f))),
    );
    histos(
        &mut r,
        "snapshot_duration",
        "Time to write each snapshot (none in memory)",
        d.snapshot
            .iter()
            .map(|f| (SetLabels::new(), Histo::from_durations(f))),
    );

    let set_hits = Family::<SetLabels, Counter>::default();
    let set_misses = Family::<SetLabels, Counter>::default();
    let set_entries = Family::<SetLabels, Gauge>::default();
    let set_bytes = Family::<SetLabels, Gauge>::default();
    // A bounded label set: the MAX_SET_LABELS sets with the most lookups by name, the rest
    // summed under set="_other" (so a shard with thousands of sets stays scrapeable).
    let mut all = shared.engine.vstats_all();
    all.sort_by(|a, b| {
        (b.1.hits + b.1.misses)
            .cmp(&(a.1.hits + a.1.misses))
            .then(a.0.cmp(&b.0))
    });
    for (rank, (key, c)) in all.into_iter().enumerate() {
        let name = if rank < MAX_SET_LABELS {
            String::from_utf8_lossy(&key).into_owned()
        } else {
            "_other".to_string()
        };
        let labels = vec![("set".to_string(), name)];
        set_hits.get_or_create(&labels).inc_by(c.hits);
        set_misses.get_or_create(&labels).inc_by(c.misses);
        set_entries
            .get_or_create(&labels)
            .inc_by(i64::try_from(c.entries).unwrap_or(i64::MAX));
        set_bytes
            .get_or_create(&labels)
            .inc_by(i64::try_from(c.bytes).unwrap_or(i64::MAX));
    }
    r.register(
        "set_hits",
        "Lookups that found an element, per vector set",
        set_hits,
    );
    r.register(
        "set_misses",
        "Lookups that found no element, per vector set",
        set_misses,
    );
    r.register("set_entries", "Live elements, per vector set", set_entries);
    r.register("set_bytes", "Accounted bytes, per vector set", set_bytes);

    let mut text = String::new();
    if encode(&mut text, &r).is_err() {
        text = "# encoding failed\n".into();
    }
    text
}
