//! ANN benchmark of sutra-cache's HNSW index on an `.npy` dataset (minilm-wordnet layout).
//!
//! ```sh
//! cargo run --release --example ann_bench -- --data ../shared/data/minilm-wordnet \
//!     --n 100000 --modes exact,q8 --build-threads 2 --efs 16,24,32,48,64,96,128,192,256
//! ```
//!
//! Builds the index with `build_parallel` on a rayon pool of `--build-threads` threads
//! (M = 16, efConstruction = 200 unless overridden; `M_max0` as the engine sets it — 1.5·M
//! for `q8`, 2·M otherwise — unless `--m-max0` is given), then searches every query on the
//! calling thread alone for each ef and prints one JSON line per (mode, ef): recall@10
//! against the dataset's `gt.i32.npy` (or an exact brute-force truth computed here when
//! `--n` is smaller than the base), queries per second, and memory per vector.
//! Vectors are L2-normalised (cosine) before use, as the engine does.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use sutra_cache::index::{Hnsw, Metric, Mode, Params, Search, SearchParams, Slot};

type Res<T> = Result<T, String>;

/// The raw HNSW index on a dataset directory (`base.f16.npy`/`base.f32.npy`, `queries`,
/// optional `gt.i32.npy`): recall@10 and queries per second at each ef, per mode.
#[derive(Parser)]
struct Args {
    /// Dataset directory.
    #[arg(long, default_value = "../shared/data/minilm-wordnet")]
    data: PathBuf,
    /// Base rows to index (0: all).
    #[arg(long, default_value_t = 0)]
    n: usize,
    /// Index modes, comma-separated: exact, q8, noquant, q4; and `exact-q8`, `exact-q4`: a
    /// `q8`/`q4` graph whose `ef` candidates are reranked here from the f32 rows, as the
    /// engine's `exact` sets do (`exact-q4` is their layout).
    #[arg(long, value_delimiter = ',', value_parser = parse_mode, default_value = "exact,q8")]
    modes: Vec<Variant>,
    /// ef_search values, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "16,24,32,48,64,96,128,192,256"
    )]
    efs: Vec<usize>,
    /// Threads building the graph.
    #[arg(long, default_value_t = 2)]
    build_threads: usize,
    /// HNSW M.
    #[arg(long, default_value_t = 16)]
    m: usize,
    /// Links on layer 0 (0: 2·M).
    #[arg(long, default_value_t = 0)]
    m_max0: usize,
    /// ef_construction.
    #[arg(long, default_value_t = 200)]
    ef_construction: usize,
    /// Passes over the queries (the median is reported).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Neighbours per query (recall@k).
    #[arg(long, default_value_t = 10)]
    k: usize,
}

/// An index mode, and whether the caller reranks the graph's candidates from its f32.
#[derive(Clone, Copy)]
struct Variant {
    mode: Mode,
    rerank: bool,
}

fn parse_mode(s: &str) -> Res<Variant> {
    match s {
        "exact-q8" => {
            return Ok(Variant {
                mode: Mode::Q8,
                rerank: true,
            })
        }
        "exact-q4" => {
            return Ok(Variant {
                mode: Mode::Q4,
                rerank: true,
            })
        }
        _ => {}
    }
    parse_index_mode(s).map(|mode| Variant {
        mode,
        rerank: false,
    })
}

fn parse_index_mode(s: &str) -> Res<Mode> {
    match s {
        "exact" => Ok(Mode::Exact),
        "q8" => Ok(Mode::Q8),
        "noquant" => Ok(Mode::NoQuant),
        "q4" => Ok(Mode::Q4),
        other => Err(format!(
            "unknown mode {other} (expected exact, q8, noquant, q4, exact-q8 or exact-q4)"
        )),
    }
}

#[path = "../tests/support/npy.rs"]
mod npy;

/// Rows of a `<f2` or `<f4` matrix as f32, first `limit` rows (all when 0), L2-normalised.
fn read_matrix(path: &Path, limit: usize) -> Res<(usize, Vec<f32>)> {
    let m = npy::read(path, limit)?.normalised();
    Ok((m.dim, m.values))
}

/// Ground truth: the dataset's `gt.i32.npy` when the whole base is used, else brute force.
fn truth(
    dir: &Path,
    full: bool,
    base: &[f32],
    queries: &[f32],
    dim: usize,
    k: usize,
) -> Res<Vec<Vec<u32>>> {
    if full {
        let npy::Raw {
            descr,
            shape,
            data: raw,
        } = npy::read_raw(&dir.join("gt.i32.npy"))?;
        if descr != "<i4" || shape.len() != 2 || shape[1] < k {
            return Err(format!("gt.i32.npy: unexpected {descr} {shape:?}"));
        }
        let ids: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as u32)
            .collect();
        return Ok(ids
            .chunks_exact(shape[1])
            .map(|r| r[..k].to_vec())
            .collect());
    }
    use rayon::prelude::*;
    Ok(queries
        .par_chunks_exact(dim)
        .map(|q| {
            let mut scored: Vec<(f32, u32)> = base
                .chunks_exact(dim)
                .enumerate()
                .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u32))
                .collect();
            scored.select_nth_unstable_by(k, |a, b| b.0.total_cmp(&a.0));
            scored.truncate(k);
            scored.into_iter().map(|(_, i)| i).collect()
        })
        .collect())
}

/// CPU seconds (user + system, every thread) this process has used so far, from
/// `/proc/self/stat` (clock ticks, assumed 100 per second; 0 where there is no procfs): a build
/// figure that, unlike wall time, does not grow when other jobs take the cores.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which ends with the last ')'): state is field 3, utime
    // and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn variant_name(v: Variant) -> &'static str {
    match (v.mode, v.rerank) {
        (Mode::Q8, true) => "exact-q8",
        (Mode::Q4, true) => "exact-q4",
        (m, _) => mode_name(m),
    }
}

fn mode_name(mode: Mode) -> &'static str {
    match mode {
        Mode::Q4 => "q4",
        Mode::Exact => "exact",
        Mode::Q8 => "q8",
        Mode::NoQuant => "noquant",
    }
}

fn run() -> Res<()> {
    let mut a = Args::parse();
    a.repeat = a.repeat.max(1);
    let (dim, base) = read_matrix(&a.data.join("base.f16.npy"), a.n)?;
    let (_, queries) = read_matrix(&a.data.join("queries.f16.npy"), 0)?;
    let n = base.len() / dim;
    let total = npy::read_raw(&a.data.join("base.f16.npy"))?.shape[0];
    // No searches (`--efs ''`, a build-only run for profiling): no truth needed.
    let gt = if a.efs.is_empty() {
        Vec::new()
    } else {
        truth(&a.data, n == total, &base, &queries, dim, a.k)?
    };
    let nq = queries.len() / dim;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(a.build_threads)
        .build()
        .map_err(|e| e.to_string())?;
    for &variant in &a.modes {
        let mode = variant.mode;
        let params = Params::new(dim)
            .metric(Metric::Cosine)
            .mode(mode)
            .m(a.m)
            .ef_construction(a.ef_construction);
        // As the engine configures a set: q8 is memory-lean (M_max0 = 1.5·M), else 2·M.
        let params = match (a.m_max0, mode) {
            (0, Mode::Q8) => params.memory_lean(),
            (0, _) => params,
            (m0, _) => params.m_max0(m0),
        };
        let index = Hnsw::with_capacity(params, n).map_err(|e| e.to_string())?;
        let items: Vec<(Slot, &[f32])> = base
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, v)| (Slot(i as u32), v))
            .collect();
        let (t, cpu0) = (Instant::now(), cpu_seconds());
        pool.install(|| index.build_parallel(&items))
            .map_err(|e| e.to_string())?;
        let build_s = t.elapsed().as_secs_f64();
        let build_cpu_s = cpu_seconds() - cpu0;
        let stats = index.stats();
        println!(
            "{}",
            json!({"lib": "sutra-cache", "variant": variant_name(variant), "event": "build",
                   "n": n, "dim": dim, "m": a.m, "m_max0": index.params().m_max0, "ef_construction": a.ef_construction,
                   "build_threads": a.build_threads, "build_s": build_s, "build_cpu_s": build_cpu_s,
                   "isa": sutra_cache::simd::isa(),
                   "kernels": sutra_cache::simd::kernel_names().iter().map(|(_, k)| *k).collect::<Vec<_>>(),
                   "max_level": stats.max_level, "nodes": stats.nodes,
                   "memory_bytes": stats.memory_bytes,
                   "bytes_per_vector": stats.memory_bytes as f64 / n as f64})
        );
        let mut s = Search::new();
        let mut top: Vec<(f32, u32)> = Vec::new();
        for &ef in &a.efs {
            let sp = SearchParams::k(a.k).ef(ef);
            // `exact-*`: all `ef` candidates, reranked from the f32 rows as the engine does.
            let mut one = |q: &[f32], out: &mut Vec<u32>| -> Res<()> {
                out.clear();
                if !variant.rerank {
                    let hits = index.search(q, sp, &mut s).map_err(|e| e.to_string())?;
                    out.extend(hits.iter().map(|h| h.slot.0));
                    return Ok(());
                }
                let hits = index
                    .search(q, SearchParams::k(ef.max(a.k)).ef(ef), &mut s)
                    .map_err(|e| e.to_string())?;
                for h in hits {
                    sutra_cache::simd::prefetch(&base[h.slot.index() * dim..][..dim]);
                }
                top.clear();
                top.extend(hits.iter().map(|h| {
                    let i = h.slot.index();
                    (
                        sutra_cache::simd::dot_f32(q, &base[i * dim..(i + 1) * dim]),
                        h.slot.0,
                    )
                }));
                let k = a.k.min(top.len());
                if k > 0 && k < top.len() {
                    top.select_nth_unstable_by(k - 1, |x, y| y.0.total_cmp(&x.0));
                }
                top.truncate(k);
                top.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
                out.extend(top.iter().map(|t| t.1));
                Ok(())
            };
            // Warm-up pass (also grows the scratch), then timed passes.
            let mut hits_all: Vec<Vec<u32>> = Vec::with_capacity(nq);
            let mut ids = Vec::new();
            for q in queries.chunks_exact(dim) {
                one(q, &mut ids)?;
                hits_all.push(ids.clone());
            }
            let t = Instant::now();
            for _ in 0..a.repeat {
                for q in queries.chunks_exact(dim) {
                    one(q, &mut ids)?;
                    std::hint::black_box(ids.len());
                }
            }
            let secs = t.elapsed().as_secs_f64();
            let found: usize = hits_all
                .iter()
                .zip(&gt)
                .map(|(h, g)| h.iter().filter(|x| g.contains(x)).count())
                .sum();
            let recall = found as f64 / (nq * a.k) as f64;
            println!(
                "{}",
                json!({"lib": "sutra-cache", "variant": variant_name(variant), "event": "search",
                       "n": n, "ef": ef, "recall": recall,
                       "qps": (nq * a.repeat) as f64 / secs})
            );
        }
    }
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ann_bench: {e}");
        std::process::exit(1);
    }
}
