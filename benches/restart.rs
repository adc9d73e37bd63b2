//! Restart time and durable appends/s of the engine over a data directory (plain main, run by
//! `perf-reports/restart.sh`, which also measures Redis on the same vectors).
//!
//! `cargo bench --bench restart` with environment variables:
//! - `SUTRA_RESTART_N` — comma-separated element counts (default `100000`);
//! - `SUTRA_RESTART_DIR` — where the data directories go (default the system temp dir);
//! - `SUTRA_APPEND_SECS` — seconds per appends/s cell, 0 to skip (default 2);
//! - `SUTRA_RESP_N=n` — instead, print `n` RESP `SET` commands of the same vectors as
//!   3072-byte blobs on stdout (for `redis-cli --pipe`) and exit;
//! - `SUTRA_RESTART_KEEP=1` — keep the data directories and reuse them on the next run;
//! - `SUTRA_RESTART_REPS` — reopenings per case (default 5, 3 from 500k);
//! - `SUTRA_RESTART_TARGET_ONLY=1` — only the 2nd-checkpoint + tail case;
//! - `SUTRA_RESTART_NO_INDEX=1` — no background index build (for profiling opens).
//!
//! Prints markdown table rows.

use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sutra_cache::*;

const DIM: usize = 768;
const TAIL: usize = 1_000;

/// Element `i`'s vector (xorshift, deterministic, in [-1, 1)).
fn vector(i: usize, out: &mut [f32]) {
    let mut s = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for x in out.iter_mut() {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        *x = (s % 20_000) as f32 / 10_000.0 - 1.0;
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn config(dir: &Path, sync: SyncPolicy) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: sync,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        // `SUTRA_RESTART_NO_INDEX=1`: no background index build (to profile opens alone).
        index_min_elements: if no_index() {
            usize::MAX
        } else {
            EngineConfig::default().index_min_elements
        },
        ..Default::default()
    }
}

fn no_index() -> bool {
    std::env::var("SUTRA_RESTART_NO_INDEX").is_ok_and(|v| v == "1")
}

fn add_range(e: &Engine, from: usize, to: usize) {
    let mut buf = vec![0f32; DIM * 1000];
    let mut i = from;
    while i < to {
        let n = (to - i).min(1000);
        let names: Vec<String> = (i..i + n).map(|j| format!("e{j}")).collect();
        for (k, chunk) in buf.chunks_mut(DIM).take(n).enumerate() {
            vector(i + k, chunk);
        }
        let adds: Vec<ElementAdd<'_>> = names
            .iter()
            .zip(buf.chunks(DIM))
            .map(|(name, v)| ElementAdd::new(name.as_bytes(), v))
            .collect();
        e.vadd_many(b"emb", &VectorSetOptions::default(), &adds)
            .unwrap();
        i += n;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Builds `n` elements, checkpoints, adds a WAL tail of `TAIL`, then times reopenings.
fn restart(n: usize, root: &Path, second: bool, tail: usize) {
    let dir = root.join(format!("sutra-restart-{n}-{}-{tail}", u8::from(second)));
    // `SUTRA_RESTART_KEEP=1` keeps the data directory and reuses it (for profiling opens).
    let keep = std::env::var("SUTRA_RESTART_KEEP").is_ok_and(|v| v == "1");
    let reuse = keep && dir.join("built").exists();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let t = Instant::now();
    let mut graph_build_s = f64::NAN;
    if !reuse {
        let e = Engine::open(config(&dir, SyncPolicy::Interval(5_000))).unwrap();
        add_range(&e, 0, n);
        // The graph complete before the checkpoint, as in a server that has run a while.
        let g = Instant::now();
        e.index_settle();
        graph_build_s = g.elapsed().as_secs_f64();
        e.checkpoint().unwrap();
        if second {
            // Steady state: the log before the previous checkpoint is recycled.
            e.checkpoint().unwrap();
        }
        // The tail: one WAL record per element.
        let mut v = vec![0f32; DIM];
        for i in n..n + tail {
            vector(i, &mut v);
            let name = format!("e{i}");
            e.vadd(
                b"emb",
                &VectorSetOptions::default(),
                ElementAdd::new(name.as_bytes(), &v),
            )
            .unwrap();
        }
        e.flush_log().unwrap();
        e.close().unwrap();
        std::fs::write(dir.join("built"), b"").unwrap();
    }
    let build_s = t.elapsed().as_secs_f64();
    let reps = env_or("SUTRA_RESTART_REPS", if n >= 500_000 { "3" } else { "5" })
        .parse()
        .expect("SUTRA_RESTART_REPS: a count");
    let bytes: u64 = walk_size(&dir);
    let mut times = Vec::new();
    let mut graph_times = Vec::new();
    let mut restored = 0;
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    let mut report = None;
    let mut probe = vec![0f32; DIM];
    vector(n / 2, &mut probe);
    for _ in 0..reps {
        let t = Instant::now();
        let e = Engine::open(config(&dir, SyncPolicy::Interval(5_000))).unwrap();
        // Ready: an element from the snapshot and one from the tail are served.
        let got = e.vget(b"emb", format!("e{}", n / 2).as_bytes()).unwrap();
        assert_eq!(got.as_deref(), Some(&probe[..]));
        let last = format!("e{}", n + tail - 1);
        assert!(e.vismember(b"emb", last.as_bytes()).unwrap());
        times.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(e.vcard(b"emb").unwrap(), (n + tail) as u64);
        // Graph ready: restored from the snapshot (and the tail inserted) by the indexer.
        e.index_settle();
        graph_times.push(t.elapsed().as_secs_f64() * 1e3);
        let info = e.vinfo(b"emb").unwrap().unwrap();
        assert!(no_index() || info.index_nodes == n + tail, "{info:?}");
        restored = info.index_restored;
        report = e.recovery_report();
        if let Some(r) = &report {
            phases[0].push(r.snapshot_us as f64 / 1e3);
            phases[1].push(r.wal_us as f64 / 1e3);
            phases[2].push(r.replay_us as f64 / 1e3);
        }
        e.close().unwrap();
    }
    let r = report.unwrap();
    if !keep {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!(
        "| sutra-cache restart, {} | {n} + {tail} tail | {:.1} ms (median of {reps}; min {:.1}) | snapshot + {} WAL records replayed; open phases (medians): snapshot {:.1} ms, WAL read {:.1} ms, replay {:.1} ms; data dir {:.0} MB; build {:.1} s (its graph {:.1} s); graph ready after {:.0} ms ({restored} nodes restored, the tail inserted) |",
        if second {
            "2nd checkpoint (log before it recycled)"
        } else {
            "1st checkpoint (whole load still in the log)"
        },
        median(times.clone()),
        times.iter().cloned().fold(f64::MAX, f64::min),
        r.records_replayed,
        median(phases[0].clone()),
        median(phases[1].clone()),
        median(phases[2].clone()),
        bytes as f64 / 1e6,
        build_s,
        graph_build_s,
        median(graph_times)
    );
}

fn walk_size(p: &Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() {
                        walk_size(&p)
                    } else {
                        e.metadata().map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Durable `set`s of 3072-byte values from `threads` writers for `secs`; returns sets/s.
fn appends(root: &Path, threads: usize, sync: SyncPolicy, secs: f64) -> f64 {
    let dir = root.join("sutra-appends");
    let _ = std::fs::remove_dir_all(&dir);
    let e = Arc::new(
        Engine::open(EngineConfig {
            wal_segment_bytes: 64 << 20,
            ..config(&dir, sync)
        })
        .unwrap(),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let hs: Vec<_> = (0..threads)
        .map(|t| {
            let (e, stop, count) = (e.clone(), stop.clone(), count.clone());
            std::thread::spawn(move || {
                let mut v = vec![0f32; DIM];
                vector(t, &mut v);
                let value: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("t{t}:{}", i % 10_000);
                    e.set(key.as_bytes(), &value, SetOptions::default())
                        .unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    for h in hs {
        h.join().unwrap();
    }
    let rate = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    e.close().unwrap();
    drop(e);
    let _ = std::fs::remove_dir_all(&dir);
    rate
}

/// RESP `SET e<i> <3072 bytes>` for each vector, for `redis-cli --pipe`.
fn resp(n: usize) {
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out.lock());
    let mut v = vec![0f32; DIM];
    for i in 0..n {
        vector(i, &mut v);
        let key = format!("e{i}");
        write!(
            out,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n",
            key.len(),
            DIM * 4
        )
        .unwrap();
        for x in &v {
            out.write_all(&x.to_le_bytes()).unwrap();
        }
        out.write_all(b"\r\n").unwrap();
    }
    out.flush().unwrap();
}

fn main() {
    if let Ok(n) = std::env::var("SUTRA_RESP_N") {
        resp(n.parse().expect("SUTRA_RESP_N: a count"));
        return;
    }
    let root = std::path::PathBuf::from(env_or(
        "SUTRA_RESTART_DIR",
        &std::env::temp_dir().display().to_string(),
    ));
    let e = Engine::open(config(&root.join("sutra-probe"), SyncPolicy::Always)).unwrap();
    let io = e.wal_mode().map(|m| m.0).unwrap_or("?");
    drop(e);
    let _ = std::fs::remove_dir_all(root.join("sutra-probe"));
    println!("WAL I/O path: {io}; SIMD: {}", sutra_cache::simd::isa());
    println!();
    println!("| what | elements | time | notes |");
    println!("|---|---|---|---|");
    // `cargo test --all-targets` runs this binary without `--bench`: a small smoke run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let counts = if quick {
        "2000".to_owned()
    } else {
        env_or("SUTRA_RESTART_N", "100000")
    };
    for n in counts.split(',') {
        let n = n.trim().parse().expect("SUTRA_RESTART_N: counts");
        // `SUTRA_RESTART_TARGET_ONLY=1`: only the target's case (2nd checkpoint + tail).
        let target_only = std::env::var("SUTRA_RESTART_TARGET_ONLY").is_ok_and(|v| v == "1");
        if n < 500_000 && !target_only {
            restart(n, &root, false, TAIL);
        }
        restart(n, &root, true, TAIL);
        if !target_only {
            restart(n, &root, true, 0);
        }
    }
    let secs: f64 = if quick {
        0.05
    } else {
        env_or("SUTRA_APPEND_SECS", "2").parse().unwrap_or(2.0)
    };
    if secs > 0.0 {
        println!();
        println!("| durable sets/s (3072-byte values) | 1 writer | 8 writers | 64 writers |");
        println!("|---|---|---|---|");
        for (name, sync) in [
            ("always (fdatasync before ack)", SyncPolicy::Always),
            (
                "interval 5000 ms (seed default)",
                SyncPolicy::Interval(5_000),
            ),
        ] {
            let r: Vec<String> = [1, 8, 64]
                .iter()
                .map(|&t| format!("{:.0}", appends(&root, t, sync, secs)))
                .collect();
            println!("| {name} | {} | {} | {} |", r[0], r[1], r[2]);
        }
    }
}
