//! `ANALYTICS` (documented in docs/commands.md): the shard's cache analytics — hit rate and
//! time series by bucket (issue #15 point 1), topic hit rates (point 2), hot concepts
//! (point 3), the phrase grammar of `POST /api/query` (point 4), and what the lookup log
//! holds. Each subcommand is a translation of its arguments into one engine call.

use bytes::Bytes;

use super::vset::{compile_filter, engine_threshold, QueryArg};
use super::{is, parse_f64, CmdError, CmdResult, Ctx};
use crate::Filter;
use crate::{Engine, QueryRefusal, Topic};

const SUBCOMMANDS: &str = "SETS, HITRATE, SERIES, TOPIC, HOT, NEXT, QUERY, LOG or HELP";

const HELP: &[&str] = &[
    "ANALYTICS SETS: the series kept (the shard's, then each vector set's).",
    "ANALYTICS HITRATE [set|*] [WINDOW seconds]: hits, misses, hit rate over the window (default 3600).",
    "ANALYTICS SERIES [set|*] RESOLUTION seconds [FROM unix-s] [TO unix-s]: the buckets.",
    "ANALYTICS TOPIC set (FILTER expr | NEAR (ELE e | VALUES n v.. | FP32 blob) THRESHOLD t) [WINDOW seconds]: a topic's hit rate.",
    "ANALYTICS HOT set [COUNT k] [FILTER expr | NEAR ... THRESHOLD t] [WINDOW seconds]: the most looked-up elements.",
    "ANALYTICS NEXT set element [COUNT k]: what to prefetch after a lookup of element: those looked up right after it most often, then its nearest.",
    "ANALYTICS QUERY phrase: an English phrase of the grammar POST /api/query takes.",
    "ANALYTICS LOG: the lookup log's size in bytes and entries, and entries recorded.",
];

fn series_arg(a: &[u8]) -> Option<&[u8]> {
    (a != b"*").then_some(a)
}

fn u64_arg(a: &[u8], what: &str) -> Result<u64, CmdError> {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err(format!("{what} must be a non-negative integer")))
}

fn window_arg(a: &[u8]) -> Result<u64, CmdError> {
    match u64_arg(a, "WINDOW") {
        Ok(w) if w > 0 => Ok(w),
        _ => Err(CmdError::err("WINDOW must be a positive number of seconds")),
    }
}

/// A topic as given: FILTER or NEAR … THRESHOLD.
enum TopicArg {
    Filter(Filter),
    Near(QueryArg, f64),
}

/// Parses the options from `args[i..]` (WINDOW, COUNT when `count` is allowed, FILTER, NEAR).
fn options(
    args: &[Bytes],
    mut i: usize,
    count_ok: bool,
) -> Result<(u64, usize, Option<TopicArg>), CmdError> {
    let (mut window, mut count, mut topic) = (3600, 10, None);
    while i < args.len() {
        let a = &args[i];
        let v = args.get(i + 1).ok_or_else(|| {
            CmdError::err(format!("{} needs a value", String::from_utf8_lossy(a)))
        })?;
        if is(a, "window") {
            window = window_arg(v)?;
            i += 2;
        } else if count_ok && is(a, "count") {
            count = match u64_arg(v, "COUNT") {
                Ok(c) if (1..=10_000).contains(&c) => c as usize,
                _ => return Err(CmdError::err("COUNT must be an integer from 1 to 10000")),
            };
            i += 2;
        } else if is(a, "filter") {
            if topic.is_some() {
                return Err(CmdError::err("give one topic: FILTER or NEAR"));
            }
            topic = Some(TopicArg::Filter(compile_filter(v)?));
            i += 2;
        } else if is(a, "near") {
            if topic.is_some() {
                return Err(CmdError::err("give one topic: FILTER or NEAR"));
            }
            let (q, used) = QueryArg::parse(args, i + 1)?;
            i += 1 + used;
            if !args.get(i).is_some_and(|a| is(a, "threshold")) {
                return Err(CmdError::err("NEAR needs THRESHOLD t after its query"));
            }
            let t = args
                .get(i + 1)
                .and_then(|t| parse_f64(t))
                .filter(|t| t.is_finite())
                .ok_or_else(|| CmdError::err("THRESHOLD must be a number"))?;
            topic = Some(TopicArg::Near(q, t));
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "unknown option '{}' (expected WINDOW{}, FILTER or NEAR)",
                String::from_utf8_lossy(a),
                if count_ok { ", COUNT" } else { "" }
            )));
        }
    }
    Ok((window, count, topic))
}

/// The engine's topic for a set (NEAR's threshold in Redis's score, converted by metric).
fn engine_topic<'a>(engine: &Engine, set: &[u8], t: &'a TopicArg) -> Result<Topic<'a>, CmdError> {
    Ok(match t {
        TopicArg::Filter(f) => Topic::Filter(f),
        TopicArg::Near(q, threshold) => {
            let metric = engine.vinfo(set)?.map(|i| i.metric).ok_or_else(|| {
                CmdError::err(format!(
                    "invalid set: expected an existing vector set ('{}' is none)",
                    String::from_utf8_lossy(set)
                ))
            })?;
            Topic::Near {
                query: q.query(),
                threshold: engine_threshold(metric, *threshold),
            }
        }
    })
}

fn not_found(e: crate::Error) -> CmdError {
    match e {
        crate::Error::NotFound { .. } => CmdError::err("NEAR's element not found in set"),
        other => other.into(),
    }
}

/// `ANALYTICS <subcommand> …` (see [`HELP`]).
pub fn analytics(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let engine = &ctx.shared.engine;
    if is(sub, "help") {
        ctx.out.array(HELP.len());
        for h in HELP {
            ctx.out.simple(h);
        }
        return Ok(());
    }
    if is(sub, "sets") {
        let sets: Vec<_> = engine.analytics_series().into_iter().flatten().collect();
        ctx.out.array(sets.len());
        for s in &sets {
            ctx.out.bulk(s);
        }
        return Ok(());
    }
    if is(sub, "log") {
        let (bytes, entries, recorded) = engine.analytics_log();
        ctx.out.map(3);
        for (k, v) in [
            ("bytes", bytes as u64),
            ("entries", entries as u64),
            ("recorded", recorded),
        ] {
            ctx.out.bulk(k.as_bytes());
            ctx.out.int(v as i64);
        }
        return Ok(());
    }
    if is(sub, "next") {
        let (Some(set), Some(element)) = (args.get(2), args.get(3)) else {
            return Err(CmdError::err(
                "ANALYTICS NEXT needs a vector set and an element",
            ));
        };
        let mut k = 8;
        match &args[4..] {
            [] => {}
            [c, v] if is(c, "count") => {
                k = match u64_arg(v, "COUNT") {
                    Ok(c) if (1..=1_000).contains(&c) => c as usize,
                    _ => return Err(CmdError::err("COUNT must be an integer from 1 to 1000")),
                };
            }
            _ => {
                return Err(CmdError::err(
                    "ANALYTICS NEXT takes only COUNT k after the element",
                ))
            }
        }
        let next = engine.analytics_next(set, element, k)?;
        ctx.out.array(next.len());
        for (name, count) in &next {
            ctx.out.array(2);
            ctx.out.bulk(name);
            ctx.out.int(i64::from(*count));
        }
        return Ok(());
    }
    if is(sub, "query") {
        let [_, _, phrase] = args else {
            return Err(CmdError::err("ANALYTICS QUERY takes one phrase"));
        };
        let text =
            std::str::from_utf8(phrase).map_err(|_| CmdError::err("the phrase must be UTF-8"))?;
        return match engine.analytics_query(text) {
            Ok(a) => {
                ctx.out.bulk(a.answer.as_bytes());
                Ok(())
            }
            Err(QueryRefusal::Unreadable(grammar)) => Err(CmdError::err(format!(
                "unreadable analytics phrase; the grammar: {}",
                grammar.replace('\n', " ")
            ))),
            Err(QueryRefusal::Unanswerable(why)) => Err(CmdError::err(why)),
        };
    }
    if is(sub, "topic") || is(sub, "hot") {
        let hot = is(sub, "hot");
        let Some(set) = args.get(2) else {
            return Err(CmdError::err(format!(
                "ANALYTICS {} needs a vector set",
                if hot { "HOT" } else { "TOPIC" }
            )));
        };
        let (window, count, topic) = options(args, 3, hot)?;
        let topic = topic
            .as_ref()
            .map(|t| engine_topic(engine, set, t))
            .transpose()?;
        if hot {
            let h = engine
                .analytics_hot(set, topic.as_ref(), count, window)
                .map_err(not_found)?;
            let out = &mut *ctx.out;
            out.map(6);
            out.bulk(b"concepts");
            out.array(h.concepts.len());
            for c in &h.concepts {
                out.array(3);
                out.bulk(&c.element);
                out.int(c.count as i64);
                out.int(c.error as i64);
            }
            for (k, v) in [
                ("lookups", h.lookups),
                ("counters", h.counters as u64),
                ("error_bound", h.error_bound),
                ("not_cached", h.not_cached),
            ] {
                out.bulk(k.as_bytes());
                out.int(v as i64);
            }
            out.bulk(b"complete");
            out.int(h.complete as i64);
            return Ok(());
        }
        let topic = topic.ok_or_else(|| CmdError::err("ANALYTICS TOPIC needs FILTER or NEAR"))?;
        let t = engine
            .analytics_topic(set, &topic, window)
            .map_err(not_found)?;
        let out = &mut *ctx.out;
        out.map(8);
        for (k, v) in [
            ("hits", t.hits),
            ("misses", t.misses),
            ("lookups", t.lookups),
            ("unattributed_misses", t.unattributed_misses),
            ("unresolved_hits", t.unresolved_hits),
            ("set_lookups", t.set_lookups),
        ] {
            out.bulk(k.as_bytes());
            out.int(v as i64);
        }
        out.bulk(b"hit_rate");
        out.double(t.hit_rate.unwrap_or(0.0));
        out.bulk(b"complete");
        out.int(t.complete as i64);
        return Ok(());
    }
    let is_hitrate = is(sub, "hitrate");
    if !is_hitrate && !is(sub, "series") {
        return Err(CmdError::err(format!(
            "unknown ANALYTICS subcommand '{}': try {SUBCOMMANDS}",
            String::from_utf8_lossy(sub)
        )));
    }
    let mut i = 2;
    let set = match args.get(2) {
        Some(a)
            if !["window", "resolution", "from", "to"]
                .iter()
                .any(|k| is(a, k)) =>
        {
            i = 3;
            series_arg(a)
        }
        _ => None,
    };
    let (mut window, mut resolution, mut from, mut to) = (3600u64, None, 0u64, u64::MAX);
    while i < args.len() {
        let a = &args[i];
        let v = args.get(i + 1).ok_or_else(|| {
            CmdError::err(format!("{} needs a value", String::from_utf8_lossy(a)))
        })?;
        if is_hitrate && is(a, "window") {
            window = window_arg(v)?;
        } else if !is_hitrate && is(a, "resolution") {
            resolution = Some(u64_arg(v, "RESOLUTION")?);
        } else if !is_hitrate && is(a, "from") {
            from = u64_arg(v, "FROM")?;
        } else if !is_hitrate && is(a, "to") {
            to = u64_arg(v, "TO")?;
        } else {
            return Err(CmdError::err(format!(
                "unknown option '{}' (expected {})",
                String::from_utf8_lossy(a),
                if is_hitrate {
                    "WINDOW"
                } else {
                    "RESOLUTION, FROM or TO"
                }
            )));
        }
        i += 2;
    }
    if let Some(s) = set {
        if engine.vinfo(s)?.is_none() && !engine.analytics_series().contains(&Some(s.to_vec())) {
            return Err(CmdError::err(format!(
                "unknown set '{}': not a vector set and no series kept under that name",
                String::from_utf8_lossy(s)
            )));
        }
    }
    if is_hitrate {
        let w = engine.analytics_window(set, window)?.unwrap_or_default();
        let out = &mut *ctx.out;
        out.map(6);
        for (k, v) in [
            ("hits", w.counts.hits()),
            ("misses", w.counts.misses()),
            ("lookups", w.lookups()),
            ("window_seconds", window),
            ("resolution_seconds", w.width_s),
        ] {
            out.bulk(k.as_bytes());
            out.int(v as i64);
        }
        out.bulk(b"hit_rate");
        out.double(w.hit_rate().unwrap_or(0.0));
        return Ok(());
    }
    let resolution =
        resolution.ok_or_else(|| CmdError::err("ANALYTICS SERIES needs RESOLUTION seconds"))?;
    let buckets = engine.analytics_buckets(set, resolution, from, to)?;
    let out = &mut *ctx.out;
    out.array(buckets.len());
    for b in &buckets {
        let h = b.hist();
        out.array(10);
        out.int(b.start_s as i64);
        for v in b.counts.0 {
            out.int(v as i64);
        }
        out.int(h.count() as i64);
        for q in [0.5, 0.99] {
            out.int(h.quantile(q).map_or(-1, |ns| ns as i64));
        }
    }
    Ok(())
}
