//! The product search path against the raw index, same process, same data: the HNSW index
//! alone (`index::Hnsw`, exact mode, as `examples/ann_bench` runs it), `Engine::vsearch`
//! (one call per query) and `Engine::vsearch_batch` (one call for all queries, one thread),
//! at each ef; and the fixed cost of a search (k = 1, ef = 1) on a set too small for a graph
//! and on the full set.
//!
//! ```sh
//! cargo run --release --example search_path -- --data ../shared/data/minilm-wordnet \
//!     --n 100000 --efs 16,32,64,128 --repeat 5
//! ```
//!
//! Prints one JSON line per (path, ef): recall@10 against `gt.i32.npy` (or brute force when
//! `--n` is smaller than the base), the median over `--repeat` passes of queries per second
//! and µs per query; then one line per fixed-cost measurement (median µs per call). Times are
//! the searching thread's CPU time (/proc/thread-self/schedstat), so that figures taken on a
//! shared machine compare; on a quiet machine they equal wall time.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use sutra_cache::index::{self, Hnsw, Mode, Params, Search, Slot};
use sutra_cache::{ElementAdd, Engine, EngineConfig, Query, SearchParams, VectorSetOptions};

type Res<T> = Result<T, String>;

#[path = "../tests/support/npy.rs"]
mod npy;

/// The product search path against the raw index (see the module documentation).
#[derive(Parser)]
struct Args {
    /// Dataset directory.
    #[arg(long, default_value = "../shared/data/minilm-wordnet")]
    data: PathBuf,
    /// Base rows to load (0: all).
    #[arg(long, default_value_t = 0)]
    n: usize,
    /// ef_search values, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64,128")]
    efs: Vec<usize>,
    /// Passes over the queries (the median is reported).
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Threads building the graph.
    #[arg(long, default_value_t = 2)]
    build_threads: usize,
}

fn read_matrix(path: &Path, limit: usize) -> Res<(usize, Vec<f32>)> {
    let m = npy::read(path, limit)?.normalised();
    Ok((m.dim, m.values))
}

fn truth(dir: &Path, full: bool, base: &[f32], queries: &[f32], dim: usize) -> Res<Vec<Vec<u32>>> {
    if full {
        let raw = npy::read_raw(&dir.join("gt.i32.npy"))?;
        let cols = raw.shape[1];
        let ids: Vec<u32> = raw
            .data
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32)
            .collect();
        return Ok(ids.chunks_exact(cols).map(|r| r[..10].to_vec()).collect());
    }
    use rayon::prelude::*;
    Ok(queries
        .par_chunks_exact(dim)
        .map(|q| {
            let mut s: Vec<(f32, u32)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u32))
                .collect();
            s.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
            s.truncate(10);
            s.into_iter().map(|(_, i)| i).collect()
        })
        .collect())
}

fn recall(found: &[Vec<u32>], gt: &[Vec<u32>]) -> f64 {
    let hit: usize = found
        .iter()
        .zip(gt)
        .map(|(f, g)| f.iter().filter(|x| g.contains(x)).count())
        .sum();
    hit as f64 / (gt.len() * 10) as f64
}

/// The calling thread's CPU time in ns (the first field of /proc/thread-self/schedstat): on a
/// machine shared with other work, a pass of single searches is preempted several times and
/// its wall time measures the load more than the search; its CPU time does not. The kernel
/// brings a running thread's figure up to date only on a tick or a pass through the
/// scheduler: the yield is that pass (without it the figure lags by up to a tick, 4 ms).
fn thread_cpu_ns() -> u64 {
    std::thread::yield_now();
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Median of `repeat` timings of `pass` (seconds of the thread's CPU time per pass; wall time
/// where /proc/thread-self/schedstat is missing).
fn median_secs(repeat: usize, mut pass: impl FnMut()) -> f64 {
    pass(); // warm-up
    let cpu = thread_cpu_ns() > 0;
    let mut t: Vec<f64> = (0..repeat)
        .map(|_| {
            let (s, c) = (Instant::now(), thread_cpu_ns());
            pass();
            if cpu {
                (thread_cpu_ns() - c) as f64 * 1e-9
            } else {
                s.elapsed().as_secs_f64()
            }
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}

fn name_id(name: &[u8]) -> u32 {
    std::str::from_utf8(name).unwrap().parse().unwrap()
}

fn engine_with(base: &[f32], dim: usize, key: &[u8]) -> Res<Engine> {
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    load(&e, base, dim, key)?;
    Ok(e)
}

fn load(e: &Engine, base: &[f32], dim: usize, key: &[u8]) -> Res<()> {
    let names: Vec<String> = (0..base.len() / dim).map(|i| i.to_string()).collect();
    for (c, chunk) in names.chunks(1000).enumerate() {
        let adds: Vec<ElementAdd> = chunk
            .iter()
            .enumerate()
            .map(|(j, n)| {
                let i = c * 1000 + j;
                ElementAdd::new(n.as_bytes(), &base[i * dim..(i + 1) * dim])
            })
            .collect();
        e.vadd_many(key, &VectorSetOptions::default(), &adds)
            .map_err(|e| e.to_string())?;
    }
    e.index_settle();
    Ok(())
}

fn run() -> Res<()> {
    let mut a = Args::parse();
    a.repeat = a.repeat.max(1);
    a.build_threads = a.build_threads.max(1);
    let (dim, base) = read_matrix(&a.data.join("base.f16.npy"), a.n)?;
    let (_, queries) = read_matrix(&a.data.join("queries.f16.npy"), 0)?;
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    let total = npy::read_raw(&a.data.join("base.f16.npy"))?.shape[0];
    let gt = truth(&a.data, n == total, &base, &queries, dim)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.build_threads)
        .build()
        .map_err(|e| e.to_string())?;

    // The raw index, as examples/ann_bench builds it (exact mode, M 16, efConstruction 200).
    let t = Instant::now();
    let raw = Hnsw::with_capacity(
        Params::new(dim)
            .metric(index::Metric::Cosine)
            .mode(Mode::Exact),
        n,
    )
    .map_err(|e| e.to_string())?;
    let items: Vec<(Slot, &[f32])> = base
        .chunks_exact(dim)
        .enumerate()
        .map(|(i, v)| (Slot(i as u32), v))
        .collect();
    pool.install(|| raw.build_parallel(&items))
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        json!({"event": "build", "path": "raw", "n": n, "s": t.elapsed().as_secs_f64()})
    );
    // The engine: an exact set (the default), M 16, efConstruction 200, built by its indexer.
    let t = Instant::now();
    let engine = pool.install(|| engine_with(&base, dim, b"m"))?;
    println!(
        "{}",
        json!({"event": "build", "path": "engine", "n": n, "s": t.elapsed().as_secs_f64()})
    );

    let report = |path: &str, ef: usize, found: &[Vec<u32>], secs: f64| {
        println!(
            "{}",
            json!({"event": "search", "path": path, "n": n, "ef": ef,
                   "recall": recall(found, &gt), "qps": nq as f64 / secs,
                   "us_per_query": secs * 1e6 / nq as f64})
        );
    };
    let mut s = Search::new();
    for &ef in &a.efs {
        let sp = index::SearchParams::k(10).ef(ef);
        let found: Vec<Vec<u32>> = queries
            .chunks_exact(dim)
            .map(|q| {
                raw.search(q, sp, &mut s)
                    .unwrap()
                    .iter()
                    .map(|h| h.slot.0)
                    .collect()
            })
            .collect();
        let secs = median_secs(a.repeat, || {
            for q in queries.chunks_exact(dim) {
                std::hint::black_box(raw.search(q, sp, &mut s).unwrap().len());
            }
        });
        report("raw", ef, &found, secs);

        let p = SearchParams {
            count: 10,
            ef,
            ..Default::default()
        };
        let found: Vec<Vec<u32>> = queries
            .chunks_exact(dim)
            .map(|q| {
                engine
                    .vsearch(b"m", Query::Vector(q), &p)
                    .unwrap()
                    .iter()
                    .map(|h| name_id(&h.element))
                    .collect()
            })
            .collect();
        let secs = median_secs(a.repeat, || {
            for q in queries.chunks_exact(dim) {
                std::hint::black_box(engine.vsearch(b"m", Query::Vector(q), &p).unwrap().len());
            }
        });
        report("engine", ef, &found, secs);

        let b = engine.vsearch_batch(b"m", &queries, dim, &p, 1).unwrap();
        let found: Vec<Vec<u32>> = (0..b.len())
            .map(|i| b.row(i).map(|(nm, _)| name_id(nm)).collect())
            .collect();
        let secs = median_secs(a.repeat, || {
            std::hint::black_box(
                engine
                    .vsearch_batch(b"m", &queries, dim, &p, 1)
                    .unwrap()
                    .len(),
            );
        });
        report("engine_batch", ef, &found, secs);
    }

    // Fixed cost: k = 1, ef = 1, on the full set and on a set of 100 (no graph: a scan).
    let small = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .map_err(|e| e.to_string())?;
    load(&small, &base[..100 * dim], dim, b"s")?;
    let p1 = SearchParams {
        count: 1,
        ef: 1,
        ..Default::default()
    };
    let fixed = |path: &str, set: &str, secs: f64| {
        println!(
            "{}",
            json!({"event": "fixed", "path": path, "set": set, "k": 1, "ef": 1,
                   "us_per_query": secs * 1e6 / nq as f64})
        );
    };
    let sp1 = index::SearchParams::k(1).ef(1);
    fixed(
        "raw",
        "full",
        median_secs(a.repeat, || {
            for q in queries.chunks_exact(dim) {
                std::hint::black_box(raw.search(q, sp1, &mut s).unwrap().len());
            }
        }),
    );
    for (set, e, key) in [("full", &engine, b"m"), ("100", &small, b"s")] {
        fixed(
            "engine",
            set,
            median_secs(a.repeat, || {
                for q in queries.chunks_exact(dim) {
                    std::hint::black_box(e.vsearch(key, Query::Vector(q), &p1).unwrap().len());
                }
            }),
        );
        fixed(
            "engine_batch",
            set,
            median_secs(a.repeat, || {
                std::hint::black_box(e.vsearch_batch(key, &queries, dim, &p1, 1).unwrap().len());
            }),
        );
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("search_path: {e}");
        std::process::exit(1);
    }
}
