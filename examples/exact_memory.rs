//! Bytes per searchable element, all in: RSS of a process holding one vector set, through
//! the Engine API (names, TTLs, the f32 returned bit for bit, the graph), where they go, and
//! recall@10 of `vsearch` on the same set (#20 point 4).
//!
//! ```sh
//! cargo run --release --example exact_memory -- --data /tmp/synthetic-768 --n 100000
//! cargo run --release --example exact_memory -- --data /tmp/synthetic-768 --n 100000 --split
//! cargo run --release --example exact_memory -- --data /tmp/synthetic-768 --n 1000000
//! ```
//!
//! With `--split` the set gets its graph only when its last element arrives
//! (`index_min_elements = n`): RSS is read after the first `n − 1` elements (the set's share:
//! names, element records, TTLs, f32 rows, the name table) and again once the graph is built
//! from all of them (the graph's share), and each share is compared with what the engine
//! accounts for it (`Engine::stats`, `vinfo`): RSS beyond the accounted bytes is allocator
//! and array slack, or memory kept after a transient use.
//!
//! The base vectors are read first (and kept: they are the bit-for-bit reference), then the
//! process's RSS is read (`/proc/self/statm`), the elements are added with `vadd_many` in
//! batches of 10,000 (name `emb:<i>`, a TTL of one hour each), the index is settled, and RSS
//! is read again: `(after − before) / n` is what one element costs the process — the store's
//! name table and element record, TTL, the f32 row, the graph's codes and links, allocator
//! and array slack, the indexer's bookkeeping. With `--n` larger than the dataset's base,
//! element `i` is base row `i mod rows` plus Gaussian noise of norm ≈ `--noise` (then
//! normalised), so every element is distinct; recall is then not measured. Otherwise
//! recall@10 of `vsearch` (the product path: graph walk, rerank from the set's f32) against
//! the dataset's `gt.i32.npy` at each `--efs`, and a check that `vget` returns every tenth
//! element's f32 bit for bit. Prints one JSON line per figure.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Parser;
use serde_json::json;
use sutra_cache::{
    ElementAdd, Engine, EngineConfig, Expiry, Query, SearchParams, StorageMode, VectorSetOptions,
};

type Res<T> = Result<T, String>;

/// The server's allocator (src/main.rs), so the figure is the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Elements per `vadd_many`.
const BATCH: usize = 10_000;

#[derive(Parser)]
struct Args {
    /// Dataset directory (minilm-wordnet layout: base.f16.npy, queries.f16.npy, gt.i32.npy).
    #[arg(long)]
    data: PathBuf,
    /// Elements to add (0: the whole base); more than the base repeats it with noise.
    #[arg(long, default_value_t = 0)]
    n: usize,
    /// Storage mode of the set: exact, q8, noquant.
    #[arg(long, default_value = "exact")]
    storage: String,
    /// Norm of the noise added to repeated base rows.
    #[arg(long, default_value_t = 0.3)]
    noise: f32,
    /// Also print every mapping with more than 4 MiB resident (from /proc/self/smaps).
    #[arg(long)]
    smaps: bool,
    /// Build the graph only once every element is in, and report the set's and the graph's
    /// shares of RSS apart.
    #[arg(long)]
    split: bool,
    /// With `--split`: stop after the set's share (no graph), to compare variants quickly.
    #[arg(long)]
    set_only: bool,
    /// TTL of each element in ms (0: none).
    #[arg(long, default_value_t = 3_600_000)]
    ttl_ms: u64,
    /// Run with the engine's analytics off (no series, no lookup log), to see their share.
    #[arg(long)]
    no_analytics: bool,
    /// After the index settled, wait this long and read RSS again: the allocator gives memory
    /// freed by the load's transient buffers back to the system only after its purge delay
    /// (mimalloc v3: 1 s), and only when some thread calls it afterwards.
    #[arg(long, default_value_t = 0)]
    idle_ms: u64,
    /// ef values of the recall measurement.
    #[arg(long, value_delimiter = ',', default_value = "32,48,64,96")]
    efs: Vec<usize>,
}

#[path = "../tests/support/npy.rs"]
mod npy;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// splitmix64, for the noise.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Element `i`: base row `i mod rows`, plus noise when `i ≥ rows`, normalised.
fn element(base: &[f32], dim: usize, i: usize, noise: f32, out: &mut Vec<f32>) {
    let rows = base.len() / dim;
    let r = i % rows;
    out.clear();
    out.extend_from_slice(&base[r * dim..(r + 1) * dim]);
    if i >= rows {
        // Uniform in [-1, 1) has variance 1/3: scale so the noise's norm is ≈ `noise`.
        let a = noise * (3.0 / dim as f32).sqrt();
        for (j, x) in out.iter_mut().enumerate() {
            let u = mix((i as u64) << 20 | j as u64);
            *x += a * ((u >> 40) as f32 / (1u64 << 23) as f32 - 1.0);
        }
        let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.iter_mut().for_each(|x| *x /= norm);
    }
}

fn truth(dir: &Path) -> Res<Vec<Vec<u32>>> {
    let npy::Raw { descr, shape, data } = npy::read_raw(&dir.join("gt.i32.npy"))?;
    if descr != "<i4" || shape.len() != 2 || shape[1] < 10 {
        return Err(format!("gt.i32.npy: unexpected {descr} {shape:?}"));
    }
    Ok(data
        .chunks_exact(4 * shape[1])
        .map(|row| {
            row.chunks_exact(4)
                .take(10)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u32)
                .collect()
        })
        .collect())
}

fn run() -> Res<()> {
    let a = Args::parse();
    let storage = match a.storage.as_str() {
        "exact" => StorageMode::Exact,
        "q8" => StorageMode::Q8,
        "noquant" => StorageMode::NoQuant,
        other => {
            return Err(format!(
                "--storage: {other} (expected exact, q8 or noquant)"
            ))
        }
    };
    let m = npy::read(&a.data.join("base.f16.npy"), 0)?.normalised();
    let (dim, base) = (m.dim, m.values);
    let rows = base.len() / dim;
    let n = if a.n == 0 { rows } else { a.n };
    let mut config = EngineConfig {
        active_expire_interval_ms: 0,
        ..EngineConfig::default()
    };
    if a.split {
        config.index_min_elements = n;
    }
    if a.no_analytics {
        config.analytics.enabled = false;
        config.analytics.lookup_log_entries = 0;
    }
    let engine = Engine::open(config).map_err(|e| e.to_string())?;
    let key = b"emb";
    let opts = VectorSetOptions {
        storage: Some(storage),
        ..VectorSetOptions::default()
    };
    let name = |i: usize| format!("emb:{i}").into_bytes();
    // The batch buffers are made before the first reading, so only the engine's memory
    // lies between the two.
    let mut vecs: Vec<Vec<f32>> = (0..BATCH).map(|_| Vec::with_capacity(dim)).collect();
    let before = rss_bytes();
    let t = Instant::now();
    // With --split the last element goes alone, after the set's share is read.
    let mut starts: Vec<usize> = (0..n).step_by(BATCH).collect();
    if a.split && n > 1 && (n - 1) % BATCH != 0 {
        starts.push(n - 1);
        starts.sort_unstable();
    }
    let mut set_share = None;
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(n);
        if a.split && start == n - 1 {
            let rss = rss_bytes();
            let accounted = engine.stats().total.bytes;
            let per = rss.saturating_sub(before) as f64 / (n - 1) as f64;
            println!(
                "{}",
                json!({"event": "set_share", "elements": n - 1, "rss_bytes_per_element": per,
                       "accounted_bytes_per_element": accounted as f64 / (n - 1) as f64,
                       "f32_bytes": 4 * dim})
            );
            set_share = Some((rss, accounted));
            if a.set_only {
                return Ok(());
            }
        }
        // A slice, not `truncate`: the buffers were resident at the first reading, and
        // freeing them mid-run (the lone last element of `--split`) made the growth read
        // up to 30 MB low once the allocator gave them back.
        let batch = &mut vecs[..end - start];
        let names: Vec<Vec<u8>> = (start..end).map(name).collect();
        for (i, v) in (start..end).zip(batch.iter_mut()) {
            element(&base, dim, i, a.noise, v);
        }
        let adds: Vec<ElementAdd<'_>> = names
            .iter()
            .zip(batch.iter())
            .map(|(el, v)| ElementAdd {
                expiry: if a.ttl_ms == 0 {
                    Expiry::Never
                } else {
                    Expiry::InMs(a.ttl_ms)
                },
                ..ElementAdd::new(el, v)
            })
            .collect();
        engine
            .vadd_many(key, &opts, &adds)
            .map_err(|e| e.to_string())?;
    }
    engine.index_settle();
    let add_s = t.elapsed().as_secs_f64();
    let after = rss_bytes();
    let per = (after.saturating_sub(before)) as f64 / n as f64;
    let info = engine
        .vinfo(key)
        .map_err(|e| e.to_string())?
        .ok_or("the set is missing")?;
    let accounted = engine.stats().total.bytes;
    println!(
        "{}",
        json!({"event": "memory", "storage": a.storage, "n": n, "dim": dim,
               "rss_before": before, "rss_after": after, "bytes_per_element": per,
               "f32_bytes": 4 * dim, "ratio_to_f32": per / (4 * dim) as f64,
               "accounted_bytes_per_element": accounted as f64 / n as f64,
               "index_nodes": info.index_nodes, "add_and_index_s": add_s,
               "isa": sutra_cache::simd::isa()})
    );
    if a.idle_ms > 0 {
        std::thread::sleep(std::time::Duration::from_millis(a.idle_ms));
        // One allocation and free after the delay, as any request would make.
        drop(std::hint::black_box(vec![0u8; 64]));
        let idle = rss_bytes();
        println!(
            "{}",
            json!({"event": "memory_after_idle", "idle_ms": a.idle_ms, "rss_after": idle,
                   "bytes_per_element": idle.saturating_sub(before) as f64 / n as f64})
        );
    }
    if let Some((rss, acc)) = set_share {
        let graph_rss = after.saturating_sub(rss) as f64 / n as f64;
        let graph_acc = accounted.saturating_sub(acc) as f64 / n as f64;
        println!(
            "{}",
            json!({"event": "graph_share", "rss_bytes_per_element": graph_rss,
                   "accounted_bytes_per_element": graph_acc})
        );
    }
    if a.smaps {
        print_big_mappings();
    }
    // f32 bit for bit (every tenth element).
    let mut want = Vec::new();
    let mut mismatches = 0usize;
    for i in (0..n).step_by(10) {
        element(&base, dim, i, a.noise, &mut want);
        let got = engine
            .vget(key, &name(i))
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("element {i} missing"))?;
        if got
            .iter()
            .map(|x| x.to_bits())
            .ne(want.iter().map(|x| x.to_bits()))
        {
            mismatches += 1;
        }
    }
    println!(
        "{}",
        json!({"event": "bit_exact", "checked": n.div_ceil(10), "mismatches": mismatches})
    );
    if n != rows {
        return Ok(());
    }
    let gt = truth(&a.data)?;
    let q = npy::read(&a.data.join("queries.f16.npy"), 0)?.normalised();
    for &ef in &a.efs {
        let params = SearchParams {
            count: 10,
            ef,
            ..SearchParams::default()
        };
        let mut found = 0usize;
        for (query, g) in q.values.chunks_exact(dim).zip(&gt) {
            let hits = engine
                .vsearch(key, Query::Vector(query), &params)
                .map_err(|e| e.to_string())?;
            for h in hits {
                let id: u32 = std::str::from_utf8(&h.element[4..])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or("bad element name")?;
                found += g.contains(&id) as usize;
            }
        }
        println!(
            "{}",
            json!({"event": "recall", "ef": ef, "recall_at_10": found as f64 / (10 * gt.len()) as f64})
        );
    }
    Ok(())
}

/// Mappings with more than 4 MiB resident: address range, size and Rss in KiB.
fn print_big_mappings() {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut range = String::new();
    let mut size = 0u64;
    for line in smaps.lines() {
        let mut f = line.split_whitespace();
        match (f.next(), f.next()) {
            (Some("Size:"), Some(v)) => size = v.parse().unwrap_or(0),
            (Some("Rss:"), Some(v)) => {
                let rss: u64 = v.parse().unwrap_or(0);
                if rss > 4096 {
                    println!(
                        "{}",
                        json!({"event": "mapping", "range": range, "size_kib": size, "rss_kib": rss})
                    );
                }
            }
            (Some(first), _) if first.contains('-') && !first.ends_with(':') => {
                range = line.to_string()
            }
            _ => {}
        }
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("exact_memory: {e}");
        std::process::exit(1);
    }
}
