//! The in-memory write paths for an instruction-count A/B (no hardware counters on a shared
//! VM, and criterion's times move with the load): opens an engine without a WAL, loads 10k
//! keys (3 KB blobs, or 768-d elements of one set), then rewrites them N times.
//!
//! ```text
//! cargo build --release --example write_path_ir
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/write_path_ir set 0
//! valgrind --tool=cachegrind --cache-sim=no target/release/examples/write_path_ir set 20000
//! ```
//! (Ir of the second − Ir of the first) / 20000 = instructions per `Engine::set`; `vadd`
//! for `Engine::vadd`. perf-reports/architecture-ab-2026-12-07.md uses it.
use sutra_cache::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(what), Some(Ok(n))) = (args.get(1), args.get(2).map(|n| n.parse::<usize>())) else {
        eprintln!("usage: write_path_ir set|vadd N");
        std::process::exit(2);
    };
    let what = what.as_str();
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: usize::MAX,
        ..Default::default()
    })
    .unwrap();
    let keys: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("emb:{i:08}").into_bytes())
        .collect();
    let dim = 768;
    let mut seed = 42u64;
    let data: Vec<f32> = (0..10_000 * dim)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % 2_000) as f32 / 1_000.0 - 1.0
        })
        .collect();
    let value = vec![7u8; 3072];
    for (i, k) in keys.iter().enumerate() {
        if what == "set" {
            e.set(k, &value, SetOptions::default()).unwrap();
        } else {
            e.vadd(
                b"m",
                &VectorSetOptions::default(),
                ElementAdd::new(k, &data[i * dim..(i + 1) * dim]),
            )
            .unwrap();
        }
    }
    for i in 0..n {
        let j = (i * 13) % keys.len();
        if what == "set" {
            e.set(&keys[j], &value, SetOptions::default()).unwrap();
        } else {
            e.vadd(
                b"m",
                &VectorSetOptions::default(),
                ElementAdd::new(&keys[j], &data[j * dim..(j + 1) * dim]),
            )
            .unwrap();
        }
    }
}
