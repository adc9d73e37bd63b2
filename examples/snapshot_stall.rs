//! How long a snapshot holds up writes: one writer thread adds (overwrites) elements of a big
//! vector set and sets blobs while the main thread takes checkpoints, measured through the
//! Engine API.
//!
//! ```sh
//! cargo run --release --example snapshot_stall -- --n 100000 --dim 768 --checkpoints 3
//! ```
//!
//! The engine has a data directory (`--dir`, default a fresh directory under the system's
//! temp dir) and the `interval` sync policy, no HNSW index (`index_min_elements = MAX`, so the
//! figure is the snapshot's, not the indexer's). After loading `--n` elements it runs the
//! writer (adds cycling over the loaded elements, each followed by a blob SET) and, after
//! 500 ms, `--checkpoints` checkpoints 500 ms apart. `--rate N` paces the writer at N
//! operations (add + set) per second; latency is measured from the operation's start.
//! `--segment-mb N` sets the WAL segment size, `--wal-io auto|sync|uring` its I/O path,
//! `--storage exact|q8|noquant` the set's mode. It prints one JSON line: the writer's
//! operations, their latency percentiles, the slowest one while a checkpoint ran and outside
//! any, and each checkpoint's duration.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sutra_cache::{
    ElementAdd, Engine, EngineConfig, IoChoice, SetOptions, StorageMode, SyncPolicy,
    VectorSetOptions,
};

fn arg(name: &str, default: &str) -> String {
    let mut it = std::env::args();
    while let Some(a) = it.next() {
        if a == name {
            return it.next().unwrap_or_default();
        }
    }
    default.to_string()
}

fn vector(i: usize, dim: usize, out: &mut [f32]) {
    let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for v in out.iter_mut().take(dim) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
    }
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = arg("--n", "100000").parse()?;
    let dim: usize = arg("--dim", "768").parse()?;
    let checkpoints: usize = arg("--checkpoints", "3").parse()?;
    // Writer pace in operations per second (0 = as fast as it can).
    let rate: u64 = arg("--rate", "0").parse()?;
    let segment_mb: u64 = arg("--segment-mb", "64").parse()?;
    let wal_io = match arg("--wal-io", "auto").as_str() {
        "sync" => IoChoice::Sync,
        "uring" => IoChoice::Uring,
        _ => IoChoice::Auto,
    };
    let storage = match arg("--storage", "exact").as_str() {
        "q8" => StorageMode::Q8,
        "noquant" => StorageMode::NoQuant,
        _ => StorageMode::Exact,
    };
    let dir = match arg("--dir", "").as_str() {
        "" => std::env::temp_dir().join(format!("sutra-stall-{}", std::process::id())),
        d => d.into(),
    };
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Arc::new(Engine::open(EngineConfig {
        data_dir: Some(dir.clone()),
        wal_sync: SyncPolicy::Interval(1000),
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        wal_segment_bytes: segment_mb << 20,
        wal_io,
        index_min_elements: usize::MAX,
        ..EngineConfig::default()
    })?);
    let opts = VectorSetOptions {
        storage: Some(storage),
        ..VectorSetOptions::default()
    };
    let mut v = vec![0f32; dim];
    let t = Instant::now();
    for i in 0..n {
        vector(i, dim, &mut v);
        let name = format!("e{i}");
        engine.vadd(b"emb", &opts, ElementAdd::new(name.as_bytes(), &v))?;
    }
    let load_s = t.elapsed().as_secs_f64();

    let stop = Arc::new(AtomicBool::new(false));
    let in_checkpoint = Arc::new(AtomicBool::new(false));
    let writer = {
        let (engine, stop, inside) = (engine.clone(), stop.clone(), in_checkpoint.clone());
        std::thread::spawn(move || {
            let mut v = vec![0f32; dim];
            let mut lat = Vec::new();
            let (mut worst_in, mut worst_out) = (0u64, 0u64);
            let mut i = 0usize;
            let value = vec![7u8; 3072];
            let started = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                if let Some(us) = (i as u64 * 1_000_000).checked_div(rate) {
                    if let Some(wait) = Duration::from_micros(us).checked_sub(started.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
                vector(i + n, dim, &mut v);
                let name = format!("e{}", i % n);
                let t = Instant::now();
                let during = inside.load(Ordering::Relaxed);
                engine
                    .vadd(b"emb", &opts, ElementAdd::new(name.as_bytes(), &v))
                    .expect("vadd");
                engine
                    .set(
                        format!("k{}", i % 1000).as_bytes(),
                        &value,
                        SetOptions::default(),
                    )
                    .expect("set");
                let us = t.elapsed().as_micros() as u64;
                if during || inside.load(Ordering::Relaxed) {
                    worst_in = worst_in.max(us);
                } else {
                    worst_out = worst_out.max(us);
                }
                lat.push(us);
                i += 1;
            }
            (lat, worst_in, worst_out)
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let mut durations = Vec::new();
    for _ in 0..checkpoints {
        in_checkpoint.store(true, Ordering::Relaxed);
        let t = Instant::now();
        engine.checkpoint()?;
        durations.push(t.elapsed().as_secs_f64() * 1e3);
        in_checkpoint.store(false, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    let (mut lat, worst_in, worst_out) = writer.join().map_err(|_| "writer panicked")?;
    lat.sort_unstable();
    println!(
        "{{\"n\": {n}, \"dim\": {dim}, \"rate\": {rate}, \"storage\": \"{storage:?}\", \"load_s\": {load_s:.1}, \
         \"ops\": {}, \"p50_us\": {}, \"p99_us\": {}, \"p999_us\": {}, \"max_us\": {}, \
         \"worst_during_checkpoint_us\": {worst_in}, \"worst_outside_us\": {worst_out}, \
         \"checkpoint_ms\": {:?}}}",
        lat.len(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 0.999),
        lat.last().copied().unwrap_or(0),
        durations
            .iter()
            .map(|d| (d * 10.0).round() / 10.0)
            .collect::<Vec<_>>()
    );
    engine.close()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
