//! The analytics over HTTP (issue #15 point 4): `GET /analytics?view=…` (JSON) and
//! `POST /api/query` (a phrase of [`crate::analytics::query::GRAMMAR`], as JSON
//! `{"query": "…"}` or plain text). Each answer is one engine call, as the RESP `ANALYTICS`
//! command's; errors are 400 with a text naming the parameter.

use serde_json::json;

use super::shared::Shared;
use crate::{Filter, QueryRefusal, Topic};

/// Longest request body accepted (a phrase or a small JSON object).
pub const MAX_BODY_BYTES: usize = 16 << 10;

/// `%XX` and `+` decoded; `None` when an escape is malformed or the result is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The query string's parameters, decoded; `Err` names a malformed one.
pub fn params(target: &str) -> Result<Vec<(String, String)>, String> {
    let Some((_, q)) = target.split_once('?') else {
        return Ok(Vec::new());
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match (percent_decode(k), percent_decode(v)) {
                (Some(k), Some(v)) => Ok((k, v)),
                _ => Err(format!(
                    "parameter '{k}' is not valid percent-encoded UTF-8"
                )),
            }
        })
        .collect()
}

fn get<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

fn number(p: &[(String, String)], k: &str, default: u64, min: u64) -> Result<u64, String> {
    match get(p, k) {
        None => Ok(default),
        Some(v) => v.parse::<u64>().ok().filter(|&n| n >= min).ok_or_else(|| {
            format!("parameter '{k}' must be an integer of at least {min}, got '{v}'")
        }),
    }
}

/// `GET /analytics?view=hitrate|series|topic|hot|query|sets&…` as (status, JSON or text).
pub fn analytics(shared: &Shared, target: &str) -> (u16, String) {
    match analytics_json(shared, target) {
        Ok(v) => (200, v.to_string()),
        Err(e) => (400, format!("{e}\n")),
    }
}

fn analytics_json(shared: &Shared, target: &str) -> Result<serde_json::Value, String> {
    let p = params(target)?;
    let engine = &shared.engine;
    let view = get(&p, "view").unwrap_or("hitrate");
    let set = get(&p, "set").filter(|s| *s != "*");
    let window = number(&p, "window", 3600, 1)?;
    let e = |e: crate::Error| e.to_string();
    let known = [
        "view",
        "set",
        "window",
        "resolution",
        "from",
        "to",
        "filter",
        "count",
        "q",
        "near",
        "threshold",
    ];
    if let Some((k, _)) = p.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(format!(
            "unknown parameter '{k}' (expected one of {})",
            known.join(", ")
        ));
    }
    Ok(match view {
        "sets" => json!({"sets": engine.analytics_series().into_iter().flatten()
            .map(|k| String::from_utf8_lossy(&k).into_owned()).collect::<Vec<_>>()}),
        "hitrate" => {
            let w = engine
                .analytics_window(set.map(str::as_bytes), window)
                .map_err(e)?
                .unwrap_or_default();
            json!({"set": set, "window_seconds": window, "resolution_seconds": w.width_s,
                   "hits": w.counts.hits(), "misses": w.counts.misses(), "lookups": w.lookups(),
                   "hit_rate": w.hit_rate()})
        }
        "series" => {
            let resolution = number(&p, "resolution", 60, 1)?;
            let from = number(&p, "from", 0, 0)?;
            let to = number(&p, "to", u64::MAX, 0)?;
            let b = engine
                .analytics_buckets(set.map(str::as_bytes), resolution, from, to)
                .map_err(e)?;
            let buckets: Vec<_> = b
                .iter()
                .map(|b| {
                    let h = b.hist();
                    let c = b.counts.0;
                    json!({"start": b.start_s, "hits": c[0], "misses": c[1], "writes": c[2],
                           "evictions": c[3], "expirations": c[4], "invalidations": c[5],
                           "latency_p50_ns": h.quantile(0.5), "latency_p99_ns": h.quantile(0.99)})
                })
                .collect();
            json!({"set": set, "resolution_seconds": resolution, "buckets": buckets})
        }
        "topic" | "hot" => {
            let set = set.ok_or("parameter 'set' is required for this view")?;
            let filter = get(&p, "filter")
                .map(|f| Filter::compile_arg(f.as_bytes()))
                .transpose()
                .map_err(|e| format!("parameter 'filter': {e}"))?;
            let near = get(&p, "near");
            let threshold = get(&p, "threshold")
                .map(|t| t.parse::<f64>().ok().filter(|t| t.is_finite()))
                .map(|t| t.ok_or("parameter 'threshold' must be a number"))
                .transpose()?;
            let topic = match (&filter, near, threshold) {
                (Some(_), Some(_), _) => return Err("give one of 'filter' and 'near'".into()),
                (Some(f), None, _) => Some(Topic::Filter(f)),
                (None, Some(el), Some(t)) => {
                    let info = engine
                        .vinfo(set.as_bytes())
                        .map_err(e)?
                        .ok_or_else(|| format!("parameter 'set': no vector set '{set}'"))?;
                    Some(Topic::Near {
                        query: crate::Query::Element(el.as_bytes()),
                        threshold: match info.metric {
                            crate::Metric::Cosine => (2.0 * t - 1.0) as f32,
                            _ => t as f32,
                        },
                    })
                }
                (None, Some(_), None) => return Err("parameter 'near' needs 'threshold'".into()),
                (None, None, _) => None,
            };
            if view == "hot" {
                let count = number(&p, "count", 10, 1)?.min(10_000) as usize;
                serde_json::to_value(
                    engine
                        .analytics_hot(set.as_bytes(), topic.as_ref(), count, window)
                        .map_err(e)?,
                )
                .map_err(|e| e.to_string())?
            } else {
                let topic = topic.ok_or("parameter 'filter' or 'near' is required for view=topic")?;
                serde_json::to_value(
                    engine
                        .analytics_topic(set.as_bytes(), &topic, window)
                        .map_err(e)?,
                )
                .map_err(|e| e.to_string())?
            }
        }
        "query" => {
            let q = get(&p, "q").ok_or("parameter 'q' (the phrase) is required for view=query")?;
            return phrase(shared, q).map_err(|(_, t)| t);
        }
        other => {
            return Err(format!(
                "parameter 'view': unknown view '{other}' (expected hitrate, series, topic, hot, query or sets)"
            ))
        }
    })
}

fn phrase(shared: &Shared, q: &str) -> Result<serde_json::Value, (u16, String)> {
    match shared.engine.analytics_query(q) {
        Ok(a) => serde_json::to_value(a).map_err(|e| (500, e.to_string())),
        Err(QueryRefusal::Unreadable(grammar)) => Err((
            400,
            format!("cannot read the phrase {q:?}; the grammar accepted:\n{grammar}\n"),
        )),
        Err(QueryRefusal::Unanswerable(why)) => Err((400, format!("{why}\n"))),
    }
}

/// `POST /api/query` with `{"query": "…"}` or the phrase as plain text.
pub fn api_query(shared: &Shared, body: &[u8]) -> (u16, String) {
    let Ok(text) = std::str::from_utf8(body) else {
        return (400, "the body must be UTF-8\n".into());
    };
    let q = if text.trim_start().starts_with('{') {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(v) => match v.get("query").and_then(|q| q.as_str()) {
                Some(q) => q.to_string(),
                None => return (400, "the JSON body needs a string field 'query'\n".into()),
            },
            Err(e) => return (400, format!("the body is not valid JSON: {e}\n")),
        }
    } else {
        text.to_string()
    };
    match phrase(shared, &q) {
        Ok(v) => (200, v.to_string()),
        Err((s, t)) => (s, t),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_are_percent_decoded_and_bad_escapes_name_the_parameter() {
        let p =
            params("/analytics?view=topic&filter=.topic%20%3D%3D%20%22news%22&set=a+b").unwrap();
        assert_eq!(get(&p, "filter"), Some(".topic == \"news\""));
        assert_eq!(get(&p, "set"), Some("a b"));
        let e = params("/analytics?filter=%zz").unwrap_err();
        assert!(e.contains("'filter'"), "{e}");
    }
}
