//! Engine hot paths: blob get/set, vector add/get (1 and 2 threads), exact scan of 100k × 384.
//!
//! `cargo bench --bench engine` (set SUTRA_BENCH_QUICK=1 for a short run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use sutra_cache::*;

fn vectors(n: usize, dim: usize, mut seed: u64) -> Vec<f32> {
    (0..n * dim)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2_000) as f32 / 1_000.0 - 1.0
        })
        .collect()
}

fn engine() -> Engine {
    Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap()
}

/// Runs `op(thread, i)` `iters` times split over `threads` threads; returns the wall time
/// scaled to one op per iteration (so the figure is time per op at that parallelism).
fn parallel(threads: usize, iters: u64, op: Arc<dyn Fn(usize, u64) + Send + Sync>) -> Duration {
    let per = iters.div_ceil(threads as u64);
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let op = op.clone();
            std::thread::spawn(move || {
                for i in 0..per {
                    op(t, i);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per * threads as u64) as f64)
}

thread_local! {
    /// A caller-owned output buffer reused across gets, as a real caller (C ABI, Python) has.
    static OUT: std::cell::RefCell<Vec<f32>> = std::cell::RefCell::new(vec![0.0; 768]);
}

fn with_out<R>(f: impl FnOnce(&mut [f32]) -> R) -> R {
    OUT.with(|o| f(&mut o.borrow_mut()))
}

/// One benchmark of `op(thread, i)` run on `threads` threads (see [`parallel`]).
fn bench_par(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    threads: usize,
    op: impl Fn(usize, u64) + Send + Sync + 'static,
) {
    let op: Arc<dyn Fn(usize, u64) + Send + Sync> = Arc::new(op);
    g.bench_function(BenchmarkId::new(name, format!("{threads}t")), |b| {
        b.iter_custom(|iters| parallel(threads, iters, op.clone()))
    });
}

fn blobs(c: &mut Criterion) {
    let e = Arc::new(engine());
    let value = vec![7u8; 3072];
    let keys: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("emb:{i:08}").into_bytes())
        .collect();
    for k in &keys {
        e.set(k, &value, SetOptions::default()).unwrap();
    }
    let keys = Arc::new(keys);
    let mut g = c.benchmark_group("blob");
    for threads in [1usize, 2] {
        let (e2, k2) = (e.clone(), keys.clone());
        bench_par(&mut g, "get_3072B", threads, move |t, i| {
            let key = &k2[((i as usize) * 7 + t * 5_000) % k2.len()];
            black_box(e2.get_with(key, |v| v.len()).unwrap());
        });
        let (e2, k2, v2) = (e.clone(), keys.clone(), Arc::new(value.clone()));
        bench_par(&mut g, "set_3072B", threads, move |t, i| {
            let key = &k2[((i as usize) * 7 + t * 5_000) % k2.len()];
            e2.set(key, &v2, SetOptions::default()).unwrap();
        });
    }
    g.finish();
}

fn vector_sets(c: &mut Criterion) {
    let dim = 768;
    let n = 10_000;
    let data = Arc::new(vectors(n, dim, 42));
    let names: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..n)
            .map(|i| format!("text:{i:08}").into_bytes())
            .collect(),
    );
    let mut g = c.benchmark_group("vector");
    for threads in [1usize, 2] {
        // Storage hot paths without the background indexer (the "add without index").
        let e = Arc::new(
            Engine::open(EngineConfig {
                active_expire_interval_ms: 0,
                index_min_elements: usize::MAX,
                ..Default::default()
            })
            .unwrap(),
        );
        for i in 0..n {
            e.vadd(
                b"m",
                &VectorSetOptions::default(),
                ElementAdd::new(&names[i], &data[i * dim..(i + 1) * dim]),
            )
            .unwrap();
        }
        let (e2, d2, n2) = (e.clone(), data.clone(), names.clone());
        bench_par(&mut g, "add_768d_exact", threads, move |t, i| {
            let j = ((i as usize) * 13 + t * 3_331) % n2.len();
            let add = ElementAdd::new(&n2[j], &d2[j * dim..(j + 1) * dim]);
            e2.vadd(b"m", &VectorSetOptions::default(), add).unwrap();
        });
        // The same updates with the input vector already in cache (one of 64), as when a
        // caller has just computed or received it; the destination row is still random.
        let (e2, d2, n2) = (e.clone(), data.clone(), names.clone());
        bench_par(&mut g, "add_768d_exact_hot_input", threads, move |t, i| {
            let j = ((i as usize) * 13 + t * 3_331) % n2.len();
            let v = j % 64;
            let add = ElementAdd::new(&n2[j], &d2[v * dim..(v + 1) * dim]);
            e2.vadd(b"m", &VectorSetOptions::default(), add).unwrap();
        });
        // A hot working set (64 elements, 192 KB: cache-resident), so the figure is the
        // engine's own cost plus a 3 KB copy from cache.
        let (e2, n2) = (e.clone(), names.clone());
        bench_par(&mut g, "get_768d_copied_hot64", threads, move |t, i| {
            let j = ((i as usize) * 13 + t * 31) % 64;
            with_out(|out| black_box(e2.vget_into(b"m", &n2[j], out).unwrap()));
        });
        // The floor of the random case: the same copies straight out of a plain 30 MB array
        // (no engine), measured in the same run.
        let d2 = data.clone();
        bench_par(
            &mut g,
            "memcpy_768d_random_30MB_baseline",
            threads,
            move |t, i| {
                let j = ((i as usize) * 13 + t * 3_331) % n;
                with_out(|out| {
                    out.copy_from_slice(black_box(&d2[j * dim..(j + 1) * dim]));
                    black_box(out[j % dim])
                });
            },
        );
        let (e2, n2) = (e.clone(), names.clone());
        bench_par(&mut g, "get_768d_copied", threads, move |t, i| {
            let j = ((i as usize) * 13 + t * 3_331) % n2.len();
            with_out(|out| black_box(e2.vget_into(b"m", &n2[j], out).unwrap()));
        });
    }
    g.finish();
}

fn exact_scan(c: &mut Criterion) {
    let dim = 384;
    let n = 100_000;
    let data = vectors(n, dim, 7);
    let e = engine();
    let names: Vec<Vec<u8>> = (0..n).map(|i| format!("t{i}").into_bytes()).collect();
    for chunk in 0..(n / 1_000) {
        let adds: Vec<ElementAdd> = (chunk * 1_000..(chunk + 1) * 1_000)
            .map(|i| ElementAdd::new(&names[i], &data[i * dim..(i + 1) * dim]))
            .collect();
        e.vadd_many(b"m", &VectorSetOptions::default(), &adds)
            .unwrap();
    }
    e.index_settle();
    let q = vectors(1, dim, 99);
    let mut g = c.benchmark_group("search");
    g.sample_size(10);
    g.bench_function("exact_scan_100k_384d_top10", |b| {
        let p = SearchParams {
            count: 10,
            exhaustive: true,
            ..Default::default()
        };
        b.iter(|| black_box(e.vsearch(b"m", Query::Vector(&q), &p).unwrap()))
    });
    g.bench_function("hnsw_100k_384d_top10_default_ef", |b| {
        let p = SearchParams {
            count: 10,
            ..Default::default()
        };
        b.iter(|| black_box(e.vsearch(b"m", Query::Vector(&q), &p).unwrap()))
    });
    g.finish();
}

/// The hit path with analytics on (the default: counters read by the tick, sampled latency,
/// the lookup log's per-thread lane) and off, in the same run: a 768-d get of one of 64 hot
/// elements, then of one of 10k (30 MB), and a miss. `SUTRA_AB_OFF_FIRST=1` runs the off
/// engine's cases first (`scripts/analytics-ab.sh` alternates the order between rounds).
fn analytics_ab(c: &mut Criterion) {
    let dim = 768;
    let n = 10_000;
    let data = vectors(n, dim, 11);
    let names: Vec<Vec<u8>> = (0..n)
        .map(|i| format!("text:{i:08}").into_bytes())
        .collect();
    let mut g = c.benchmark_group("analytics");
    let order = if std::env::var("SUTRA_AB_OFF_FIRST").is_ok_and(|v| v == "1") {
        [false, true]
    } else {
        [true, false]
    };
    for on in order {
        let mut cfg = EngineConfig {
            active_expire_interval_ms: 0,
            index_min_elements: usize::MAX,
            ..Default::default()
        };
        cfg.analytics.enabled = on;
        let e = Arc::new(Engine::open(cfg).unwrap());
        for i in 0..n {
            e.vadd(
                b"m",
                &VectorSetOptions::default(),
                ElementAdd::new(&names[i], &data[i * dim..(i + 1) * dim]),
            )
            .unwrap();
        }
        let tag = if on { "on" } else { "off" };
        let (e2, n2) = (e.clone(), names.clone());
        g.bench_function(format!("hit_768d_hot64_{tag}"), move |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(13);
                with_out(|out| black_box(e2.vget_into(b"m", &n2[i % 64], out).unwrap()))
            })
        });
        let (e2, n2) = (e.clone(), names.clone());
        g.bench_function(format!("hit_768d_random10k_{tag}"), move |b| {
            let mut i = 0usize;
            b.iter(|| {
                i = i.wrapping_add(3_331);
                with_out(|out| black_box(e2.vget_into(b"m", &n2[i % n], out).unwrap()))
            })
        });
        let e2 = e.clone();
        g.bench_function(format!("miss_{tag}"), move |b| {
            b.iter(|| with_out(|out| black_box(e2.vget_into(b"m", b"absent", out).unwrap())))
        });
    }
    g.finish();
}

fn config() -> Criterion {
    let c = Criterion::default();
    if std::env::var_os("SUTRA_BENCH_QUICK").is_some() {
        c.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
    } else {
        c
    }
}

criterion_group! { name = benches; config = config(); targets = blobs, vector_sets, exact_scan, analytics_ab }
criterion_main!(benches);
