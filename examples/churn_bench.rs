//! The churn curve: recall@10 and queries/s of a vector set's HNSW index while several times
//! its capacity flows through TTL expiry and LRU eviction, measured through the Engine API.
//!
//! ```sh
//! cargo run --release --example churn_bench -- --data ../shared/data/minilm-wordnet \
//!     --capacity 25000 --flow 3 --every 10000 --efs 16,32,64 --storage exact \
//!     --out perf-reports/ann/churn-exact.json
//! ```
//!
//! One in-memory engine with `max_entries = capacity` (LRU) and a manual clock that moves
//! 1 ms per add. Element `i` is base vector `i` of the dataset. Half the elements
//! (`--ttl-share`; a hash of `i` decides) get a TTL drawn uniformly in [capacity/4, capacity] ms, so they expire after a
//! quarter to one capacity's worth of later adds; the other half never expire and leave by LRU
//! eviction once the cap is reached. The active-expire cycle runs every 1,000 adds. After the
//! first `capacity` adds (fill), `flow × capacity` more are streamed in; at every `--every`
//! adds of the stream (and at its start and end) the bench settles the index
//! (`index_settle`), finds the live elements (`vismember`), computes the exact top-10 of every
//! query over them by brute force, then times `vsearch` over all queries on one thread
//! (median of `--passes` passes; by wall time and by the thread's CPU time) for each ef and
//! scores recall@10. It also counts the graph nodes each query scored
//! (`index::scored_on_this_thread`): the search's work, which no machine load changes.
//!
//! With `--fresh 1` (the default), each checkpoint also builds a second engine holding exactly
//! the live elements (added in one `vadd_many`, no churn) and measures it the same way, its
//! timed passes alternating with the churned engine's: the reference a churned graph should
//! match, and a ratio that machine load affects little. Prints one JSON line per measurement and writes
//! them all as a JSON array to `--out` when given.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};
use sutra_cache::{
    ElementAdd, Engine, EngineConfig, EvictionPolicy, Expiry, ManualClock, Query, SearchParams,
    StorageMode, VectorSetOptions,
};

type Res<T> = Result<T, String>;

/// One measured point: ef, recall@10, q/s by wall time, q/s per CPU second, graph nodes
/// scored per query.
type Point = (usize, f64, f64, f64, f64);

struct Args {
    data: PathBuf,
    capacity: usize,
    flow: usize,
    every: usize,
    efs: Vec<usize>,
    storage: StorageMode,
    passes: usize,
    queries: usize,
    fresh: bool,
    /// Share of elements given a TTL (per mille).
    ttl_permille: u64,
    out: Option<PathBuf>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        data: PathBuf::from("../shared/data/minilm-wordnet"),
        capacity: 25_000,
        flow: 3,
        every: 10_000,
        efs: vec![16, 32, 64],
        storage: StorageMode::Exact,
        passes: 3,
        queries: 1_000,
        fresh: true,
        ttl_permille: 500,
        out: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<usize>().map_err(|e| format!("{s}: {e}"));
        match flag.as_str() {
            "--data" => a.data = PathBuf::from(val()?),
            "--capacity" => a.capacity = num(val()?)?.max(1),
            "--flow" => a.flow = num(val()?)?,
            "--every" => a.every = num(val()?)?.max(1),
            "--passes" => a.passes = num(val()?)?.max(1),
            "--queries" => a.queries = num(val()?)?,
            "--fresh" => a.fresh = val()? != "0",
            "--ttl-share" => {
                let f: f64 = val()?.parse().map_err(|e| format!("--ttl-share: {e}"))?;
                a.ttl_permille = (f.clamp(0.0, 1.0) * 1000.0).round() as u64;
            }
            "--out" => a.out = Some(PathBuf::from(val()?)),
            "--efs" => {
                a.efs = val()?
                    .split(',')
                    .map(|s| num(s.to_string()))
                    .collect::<Res<_>>()?
            }
            "--storage" => {
                a.storage = match val()?.as_str() {
                    "exact" => StorageMode::Exact,
                    "q8" => StorageMode::Q8,
                    "noquant" => StorageMode::NoQuant,
                    other => return Err(format!("unknown storage {other}")),
                }
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(a)
}

#[path = "../tests/support/npy.rs"]
mod npy;

/// The first `limit` rows (0 = all) of a `.npy` matrix, unit length: (dimension, values).
fn read_f16(path: &std::path::Path, limit: usize) -> Res<(usize, Vec<f32>)> {
    let m = npy::read(path, limit)?.normalised();
    Ok((m.dim, m.values))
}

/// splitmix64 (the TTL draws).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Element `i`'s expiry: a `ttl_permille` share (half by default) lives a quarter to one
/// capacity of adds, the others never expire.
fn expiry_of(i: usize, capacity: usize, ttl_permille: u64) -> Expiry {
    let h = mix(i as u64 ^ 0xc0ffee);
    if (h >> 40) % 1000 >= ttl_permille {
        Expiry::Never
    } else {
        let lo = (capacity / 4).max(1) as u64;
        let span = (capacity as u64 - lo).max(1);
        Expiry::InMs(lo + (h & 0xff_ffff_ffff) % span)
    }
}

fn name(i: usize) -> Vec<u8> {
    format!("e{i}").into_bytes()
}

fn id_of(element: &[u8]) -> Option<usize> {
    std::str::from_utf8(element.get(1..)?).ok()?.parse().ok()
}

/// Exact top-10 (ids) of every query over the `live` rows.
fn truth(base: &[f32], dim: usize, live: &[usize], queries: &[f32]) -> Vec<Vec<usize>> {
    use rayon::prelude::*;
    queries
        .par_chunks_exact(dim)
        .map(|q| {
            let mut scored: Vec<(f32, usize)> = live
                .iter()
                .map(|&i| {
                    let v = &base[i * dim..(i + 1) * dim];
                    (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i)
                })
                .collect();
            let k = 10.min(scored.len());
            if k < scored.len() {
                scored.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
            }
            scored.truncate(k);
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect()
}

/// CPU time of the calling thread, in seconds (`CLOCK_THREAD_CPUTIME_ID`): unlike wall time it
/// does not count the time other processes ran on this core, so q/s per CPU second moves far
/// less with the machine's load.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: FFI call writing into the timespec we own; the clock id is a constant.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return f64::NAN;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// For each ef and each engine: median q/s over `passes` timed passes (by wall time and by
/// this thread's CPU time) and recall@10 of the last. The engines' passes alternate
/// (A B A B …), so a change of machine load hits both alike and their ratio stays meaningful
/// on a shared machine.
#[allow(clippy::too_many_arguments)]
fn measure(
    engines: &[&Engine],
    key: &[u8],
    queries: &[f32],
    dim: usize,
    gt: &[Vec<usize>],
    efs: &[usize],
    passes: usize,
) -> Res<Vec<Vec<Point>>> {
    let nq = queries.len() / dim;
    let mut out = vec![Vec::new(); engines.len()];
    for &ef in efs {
        let params = SearchParams {
            count: 10,
            ef,
            ..SearchParams::default()
        };
        let mut rates = vec![Vec::new(); engines.len()];
        let mut cpu_rates = vec![Vec::new(); engines.len()];
        let mut results = vec![Vec::with_capacity(nq); engines.len()];
        let mut scored = vec![0u64; engines.len()];
        for _ in 0..passes {
            for (e, engine) in engines.iter().enumerate() {
                results[e].clear();
                let t = Instant::now();
                let cpu = thread_cpu_s();
                let before = sutra_cache::index::scored_on_this_thread();
                for q in queries.chunks_exact(dim) {
                    results[e].push(
                        engine
                            .vsearch(key, Query::Vector(q), &params)
                            .map_err(|e| e.to_string())?,
                    );
                }
                rates[e].push(nq as f64 / t.elapsed().as_secs_f64());
                cpu_rates[e].push(nq as f64 / (thread_cpu_s() - cpu));
                scored[e] = sutra_cache::index::scored_on_this_thread() - before;
            }
        }
        for e in 0..engines.len() {
            rates[e].sort_by(f64::total_cmp);
            let qps = rates[e][rates[e].len() / 2];
            cpu_rates[e].sort_by(f64::total_cmp);
            let cpu_qps = cpu_rates[e][cpu_rates[e].len() / 2];
            let mut found = 0usize;
            let mut wanted = 0usize;
            for (hits, truth) in results[e].iter().zip(gt) {
                wanted += truth.len();
                found += hits
                    .iter()
                    .filter_map(|h| id_of(&h.element))
                    .filter(|i| truth.contains(i))
                    .count();
            }
            let recall = if wanted == 0 {
                1.0
            } else {
                found as f64 / wanted as f64
            };
            out[e].push((ef, recall, qps, cpu_qps, scored[e] as f64 / nq as f64));
        }
    }
    Ok(out)
}

/// Of every 10th live element, how many a search by its own vector (count 3, ef 64) misses.
fn self_misses(
    engine: &Engine,
    key: &[u8],
    base: &[f32],
    dim: usize,
    live: &[usize],
) -> Res<usize> {
    let params = SearchParams {
        count: 3,
        ef: 64,
        ..SearchParams::default()
    };
    let mut misses = 0;
    for &j in live.iter().step_by(10) {
        let hits = engine
            .vsearch(key, Query::Vector(&base[j * dim..(j + 1) * dim]), &params)
            .map_err(|e| e.to_string())?;
        if !hits.iter().any(|h| id_of(&h.element) == Some(j)) {
            misses += 1;
        }
    }
    Ok(misses)
}

fn loadavg() -> Value {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let v: Vec<f64> = s
                .split_whitespace()
                .take(3)
                .filter_map(|x| x.parse().ok())
                .collect();
            (v.len() == 3).then(|| json!(v))
        })
        .unwrap_or(Value::Null)
}

fn run() -> Res<()> {
    let a = parse_args()?;
    let total = a.capacity * (1 + a.flow);
    let (dim, base) = read_f16(&a.data.join("base.f16.npy"), total)?;
    if base.len() / dim < total {
        return Err(format!(
            "the dataset has {} vectors, the run needs capacity × (1 + flow) = {total}",
            base.len() / dim
        ));
    }
    let (_, mut queries) = read_f16(&a.data.join("queries.f16.npy"), a.queries)?;
    queries.truncate(a.queries.max(1) * dim);
    let clock = ManualClock::new(1_000_000);
    let engine = Engine::open(EngineConfig {
        max_entries: a.capacity as u64,
        eviction_policy: EvictionPolicy::Lru,
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        ..EngineConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let key = b"churn";
    let opts = VectorSetOptions {
        storage: Some(a.storage),
        ..VectorSetOptions::default()
    };
    let storage = format!("{:?}", a.storage).to_lowercase();
    let mut rows: Vec<Value> = Vec::new();
    let mut emit = |v: Value| {
        println!("{v}");
        rows.push(v);
    };
    // Elements that may still be live: ids from `oldest` on.
    let mut oldest = 0usize;
    let mut add_s = 0.0f64;
    let mut added_since = 0usize;
    for i in 0..total {
        let v = &base[i * dim..(i + 1) * dim];
        let el = name(i);
        let add = ElementAdd {
            expiry: expiry_of(i, a.capacity, a.ttl_permille),
            ..ElementAdd::new(&el, v)
        };
        let t = Instant::now();
        engine.vadd(key, &opts, add).map_err(|e| e.to_string())?;
        add_s += t.elapsed().as_secs_f64();
        added_since += 1;
        clock.advance(1);
        if (i + 1) % 1_000 == 0 {
            engine.active_expire_cycle(10_000);
        }
        let streamed = (i + 1).saturating_sub(a.capacity);
        let checkpoint = i + 1 == a.capacity
            || (i + 1 > a.capacity && (streamed % a.every == 0 || i + 1 == total));
        if !checkpoint {
            continue;
        }
        engine.active_expire_cycle(usize::MAX);
        let t = Instant::now();
        engine.index_settle();
        let settle_s = t.elapsed().as_secs_f64();
        let mut live = Vec::new();
        for j in oldest..=i {
            if engine.vismember(key, &name(j)).map_err(|e| e.to_string())? {
                live.push(j);
            }
        }
        oldest = live.first().copied().unwrap_or(i + 1);
        let gt = truth(&base, dim, &live, &queries);
        let info = engine
            .vinfo(key)
            .map_err(|e| e.to_string())?
            .ok_or("the set vanished")?;
        let counters = engine.stats().total;
        let ttl_live = live
            .iter()
            .filter(|&&j| expiry_of(j, a.capacity, a.ttl_permille) != Expiry::Never)
            .count();
        // The reference: a second engine holding exactly the live elements, added at once.
        let other = if a.fresh {
            let other = Engine::open(EngineConfig {
                active_expire_interval_ms: 0,
                ..EngineConfig::default()
            })
            .map_err(|e| e.to_string())?;
            let names: Vec<Vec<u8>> = live.iter().map(|&j| name(j)).collect();
            let adds: Vec<ElementAdd<'_>> = live
                .iter()
                .zip(&names)
                .map(|(&j, n)| ElementAdd::new(n, &base[j * dim..(j + 1) * dim]))
                .collect();
            other
                .vadd_many(key, &opts, &adds)
                .map_err(|e| e.to_string())?;
            other.index_settle();
            Some(other)
        } else {
            None
        };
        // Every 10th live element searched by its own vector: how many are not among the
        // top 3 (a healthy graph misses almost none; an element missing from the graph, or
        // unreachable, is missed).
        let self_misses = self_misses(&engine, key, &base, dim, &live)?;
        let mut engines = vec![&engine];
        engines.extend(other.as_ref());
        let mut m = measure(&engines, key, &queries, dim, &gt, &a.efs, a.passes)?;
        if let Some(other) = other {
            other.close().map_err(|e| e.to_string())?;
        }
        let fresh = if m.len() > 1 {
            m.pop().unwrap_or_default()
        } else {
            Vec::new()
        };
        let curve = m.pop().unwrap_or_default();
        for (n, &(ef, recall, qps, cpu_qps, scored)) in curve.iter().enumerate() {
            let mut row = json!({
                "event": "checkpoint", "storage": storage, "capacity": a.capacity,
                "added": i + 1, "streamed": streamed, "flowed": streamed as f64 / a.capacity as f64,
                "live": live.len(), "live_with_ttl": ttl_live,
                "self_misses": self_misses, "self_checked": live.len().div_ceil(10), "index_nodes": info.index_nodes,
                "max_level": info.max_level, "max_slot": info.max_slot,
                "index_bytes": info.memory_bytes,
                "evictions": counters.evictions, "expirations": counters.expirations,
                "ef": ef, "recall": recall, "qps": qps, "cpu_qps": cpu_qps, "passes": a.passes,
                "scored_per_query": scored,
                "queries": queries.len() / dim,
                "settle_s": settle_s,
                "add_us": add_s * 1e6 / added_since as f64,
                "loadavg": loadavg(),
            });
            if let Some(&(_, fr, fq, fc, fs)) = fresh.get(n) {
                row["fresh_recall"] = json!(fr);
                row["fresh_qps"] = json!(fq);
                row["fresh_cpu_qps"] = json!(fc);
                row["fresh_scored_per_query"] = json!(fs);
            }
            emit(row);
        }
        add_s = 0.0;
        added_since = 0;
    }
    engine.close().map_err(|e| e.to_string())?;
    if let Some(path) = &a.out {
        let text = serde_json::to_string_pretty(&rows).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("churn_bench: {e}");
        std::process::exit(1);
    }
}
