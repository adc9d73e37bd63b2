//! A fixed number of searches through one path, for counting the instructions a search costs
//! under callgrind (deterministic, unlike time on a shared machine; #20 point 2): the raw
//! index (`index::Hnsw`, exact mode), `Engine::vsearch` or `Engine::vsearch_batch` (one
//! thread) on the same pseudo-random vectors, at the same k and ef. Only the searches are
//! counted: they run inside `searches` and the tool collects in that function alone.
//!
//! ```sh
//! cargo build --release --example search_ir
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*searches*' \
//!   --callgrind-out-file=cg.engine target/release/examples/search_ir --path engine --k 10 --ef 32
//! callgrind_annotate cg.engine | head     # total Ir / --queries = Ir per search
//! ```
//!
//! `scripts/search-ir.sh` runs every path at the usual (k, ef) pairs and prints Ir per search.
//! Under valgrind the distance kernels run their AVX2 form (valgrind has no AVX-512), the same
//! for every path.

use clap::{Parser, ValueEnum};
use sutra_cache::index::{self, Hnsw, Mode, Params, Search, Slot};
use sutra_cache::{ElementAdd, Engine, EngineConfig, Query, SearchParams, VectorSetOptions};

#[derive(Clone, Copy, Debug, PartialEq, ValueEnum)]
enum Path {
    /// `index::Hnsw` in exact mode (f32 rerank inside the graph), as examples/ann_bench.
    Raw,
    /// `Engine::vsearch`, one call per query (an `exact` set: INT8 graph + f32 rerank).
    Engine,
    /// `Engine::vsearch_batch`, all queries in one call on the calling thread.
    Batch,
}

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, value_enum)]
    path: Path,
    /// Elements (a graph is built over all of them; below 1,000 the engine scans instead).
    #[arg(long, default_value_t = 2_000)]
    n: usize,
    #[arg(long, default_value_t = 128)]
    dim: usize,
    /// efConstruction of both graphs (small, so that the build under valgrind is short).
    #[arg(long, default_value_t = 64)]
    ef_construction: usize,
    #[arg(long, default_value_t = 10)]
    k: usize,
    #[arg(long, default_value_t = 32)]
    ef: usize,
    /// Searches counted.
    #[arg(long, default_value_t = 500)]
    queries: usize,
}

/// `n` pseudo-random vectors of `dim` components in [-1, 1] (xorshift from `seed`).
fn vectors(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n * dim)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 20_001) as f32 / 10_000.0 - 1.0
        })
        .collect()
}

/// The counted part: every query through `one`.
#[inline(never)]
fn searches(queries: &[f32], dim: usize, one: impl FnMut(&[f32]) -> usize) -> usize {
    queries.chunks_exact(dim).map(one).sum()
}

#[inline(never)]
fn searches_batch(f: impl FnOnce() -> usize) -> usize {
    f()
}

fn run() -> Result<(), String> {
    let a = Args::parse();
    let (n, dim) = (a.n.max(1), a.dim.max(1));
    let base = vectors(n, dim, 7);
    let queries = vectors(a.queries, dim, 11);
    let found = match a.path {
        Path::Raw => {
            let raw = Hnsw::with_capacity(
                Params::new(dim)
                    .metric(index::Metric::Cosine)
                    .mode(Mode::Exact)
                    .ef_construction(a.ef_construction)
                    .seed(1),
                n,
            )
            .map_err(|e| e.to_string())?;
            let mut s = Search::new();
            for (i, v) in base.chunks_exact(dim).enumerate() {
                raw.insert(Slot(i as u32), v, &mut s)
                    .map_err(|e| e.to_string())?;
            }
            let sp = index::SearchParams::k(a.k).ef(a.ef);
            searches(&queries, dim, |q| {
                raw.search(q, sp, &mut s).map_or(0, |h| h.len())
            })
        }
        Path::Engine | Path::Batch => {
            let e = Engine::open(EngineConfig {
                active_expire_interval_ms: 0,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
            let opts = VectorSetOptions {
                ef_construction: Some(a.ef_construction),
                ..Default::default()
            };
            let names: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let adds: Vec<ElementAdd> = names
                .iter()
                .zip(base.chunks_exact(dim))
                .map(|(nm, v)| ElementAdd::new(nm.as_bytes(), v))
                .collect();
            e.vadd_many(b"m", &opts, &adds).map_err(|e| e.to_string())?;
            e.index_settle();
            let p = SearchParams {
                count: a.k,
                ef: a.ef,
                ..Default::default()
            };
            if a.path == Path::Engine {
                searches(&queries, dim, |q| {
                    e.vsearch(b"m", Query::Vector(q), &p).map_or(0, |h| h.len())
                })
            } else {
                searches_batch(|| {
                    e.vsearch_batch(b"m", &queries, dim, &p, 1)
                        .map_or(0, |b| (0..b.len()).map(|i| b.row(i).count()).sum())
                })
            }
        }
    };
    println!("{found} hits of {} searches", a.queries);
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("search_ir: {e}");
        std::process::exit(1);
    }
}
