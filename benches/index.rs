//! HNSW index benches on MiniLM-WordNet (100k × 384, ../shared/data): search latency over
//! ef 16..256, insert, delete (remove + re-insert), threshold search, of the graphs the
//! storage modes build: an `exact` set's (INT8 traversal, `Mode::Q8`; the engine then reranks
//! its candidates from the set's f32, which `benches/engine.rs`'s `search` group measures
//! through `Engine::vsearch`) and a `q8` set's (the memory-lean `Mode::Q8`).
//!
//! `cargo bench --bench index` loads the full 100k base (`$SUTRA_DATA_DIR/minilm-wordnet`,
//! default `../shared/data`) and builds it in parallel (M = 16, ef_construction = 200); without
//! the data set it says so and measures nothing. Under `cargo test` (no `--bench`) it runs on
//! 1,000 rows, of the committed fixture (tests/data/minilm-wordnet-5k) when the set is absent,
//! so the CI stays fast and needs no data set.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use std::time::Duration;
use sutra_cache::index::{Hnsw, Mode, Params, Search, SearchParams, Slot};

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

#[path = "../tests/support/npy.rs"]
mod npy;

/// Rows `0..rows` (or fewer, from the fixture) of a minilm-wordnet matrix as f32, with their
/// count and dimension.
fn load_f16(name: &str, rows: usize) -> (Vec<f32>, usize, usize) {
    let m = npy::read_minilm_or_fixture(name, rows);
    (m.values, m.rows, m.dim)
}

fn index(c: &mut Criterion) {
    let n = if bench_mode() { 100_000 } else { 1_000 };
    if bench_mode() && !npy::minilm("base.f16.npy").exists() {
        eprintln!(
            "skipping the index benches: {} is absent (they need the full 100k data set; set \
             SUTRA_DATA_DIR to the directory holding minilm-wordnet/)",
            npy::minilm("base.f16.npy").display()
        );
        return;
    }
    let (base, rows, dim) = load_f16("base.f16.npy", n);
    assert_eq!(rows, n);
    let (queries, nq, _) = load_f16("queries.f16.npy", 1_000);
    let row = |i: usize| &base[i * dim..(i + 1) * dim];
    let query = |i: usize| &queries[(i % nq) * dim..(i % nq + 1) * dim];

    let graphs = [
        ("exact_set", Params::new(dim).mode(Mode::Q8)),
        ("q8_set", Params::new(dim).mode(Mode::Q8).memory_lean()),
    ];
    for (mode, params) in graphs {
        let started = std::time::Instant::now();
        let idx = Hnsw::new(params).expect("params");
        let items: Vec<(Slot, &[f32])> = (0..n).map(|i| (Slot(i as u32), row(i))).collect();
        idx.build_parallel(&items).expect("build");
        eprintln!(
            "{mode}: built {n} in {:.1} s, {:?}",
            started.elapsed().as_secs_f64(),
            idx.stats()
        );

        let mut g = c.benchmark_group(format!("index_search_{mode}"));
        let mut s = Search::new();
        for ef in [16, 32, 64, 128, 256] {
            let mut q = 0;
            g.bench_with_input(BenchmarkId::new("k10_ef", ef), &ef, |b, &ef| {
                b.iter(|| {
                    q += 1;
                    black_box(
                        idx.search(query(q), SearchParams::k(10).ef(ef), &mut s)
                            .unwrap()
                            .len(),
                    )
                })
            });
        }
        for t in [0.6f32, 0.8] {
            let mut q = 0;
            g.bench_with_input(BenchmarkId::new("threshold", t), &t, |b, &t| {
                b.iter(|| {
                    q += 1;
                    black_box(
                        idx.search_range(query(q), t, SearchParams::default(), &mut s)
                            .unwrap()
                            .len(),
                    )
                })
            });
        }
        g.finish();

        if mode == "exact_set" {
            let mut g = c.benchmark_group("index_write");
            // Remove then re-insert one element: one delete and one insert per iteration,
            // the graph stays the same size. Timed separately below via iter_custom.
            let mut next = 0usize;
            g.bench_function("remove", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let i = next % n;
                        next += 7919;
                        let t = std::time::Instant::now();
                        assert!(idx.remove(Slot(i as u32), &mut s));
                        total += t.elapsed();
                        idx.insert(Slot(i as u32), row(i), &mut s).unwrap();
                    }
                    total
                })
            });
            g.bench_function("insert", |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let i = next % n;
                        next += 7919;
                        assert!(idx.remove(Slot(i as u32), &mut s));
                        let t = std::time::Instant::now();
                        idx.insert(Slot(i as u32), row(i), &mut s).unwrap();
                        total += t.elapsed();
                    }
                    total
                })
            });
            g.finish();
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = index
}
criterion_main!(benches);
