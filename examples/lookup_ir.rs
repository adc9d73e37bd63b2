//! A fixed number of `vget_into` lookups with analytics on or off, for counting the
//! instructions a lookup costs under `valgrind --tool=cachegrind` (deterministic, unlike
//! time on a shared machine). Issue #15 point 1: analytics must not make a hit slower.
//!
//! ```sh
//! cargo build --release --example lookup_ir
//! for a in on off; do for k in 100000 200000; do
//!   valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=cg.$a.$k \
//!     target/release/examples/lookup_ir --analytics $a --case hot64 --lookups $k
//! done; done
//! ```
//!
//! The instructions of one lookup are (Ir at 200k − Ir at 100k) / 100k: the setup (the
//! engine, the set of `--elements` 768-d elements) is the same in both runs and cancels.
//! `scripts/lookup-ir.sh` runs that for every case and prints on − off; `cg_diff` of an on
//! and an off run shows where the difference goes.

use clap::{Parser, ValueEnum};
use sutra_cache::{ElementAdd, Engine, EngineConfig, VectorSetOptions};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Case {
    /// A hit on one of 64 hot elements (the bench's `hit_768d_hot64`).
    Hot64,
    /// A hit on any element (the bench's `hit_768d_random10k`).
    Random,
    /// A miss (the bench's `miss`).
    Miss,
}

#[derive(Parser, Debug)]
struct Args {
    /// Analytics `on` (the default configuration) or `off` (`analytics.enabled = false`).
    #[arg(long)]
    analytics: String,
    #[arg(long, value_enum)]
    case: Case,
    /// Lookups to make.
    #[arg(long)]
    lookups: usize,
    /// Elements in the set (768-d).
    #[arg(long, default_value_t = 1_000)]
    elements: usize,
}

fn main() -> Result<(), String> {
    let a = Args::parse();
    let on = match a.analytics.as_str() {
        "on" => true,
        "off" => false,
        other => return Err(format!("--analytics: 'on' or 'off', got '{other}'")),
    };
    if a.elements < 64 {
        return Err(format!("--elements: at least 64, got {}", a.elements));
    }
    let dim = 768;
    let mut cfg = EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: usize::MAX,
        ..Default::default()
    };
    cfg.analytics.enabled = on;
    let e = Engine::open(cfg).map_err(|e| e.to_string())?;
    let names: Vec<Vec<u8>> = (0..a.elements)
        .map(|i| format!("text:{i:08}").into_bytes())
        .collect();
    let mut v = vec![0f32; dim];
    for (i, name) in names.iter().enumerate() {
        for (j, x) in v.iter_mut().enumerate() {
            *x = ((i * 31 + j * 7) % 97) as f32 - 48.0;
        }
        e.vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(name, &v),
        )
        .map_err(|e| e.to_string())?;
    }
    let mut out = vec![0f32; dim];
    let mut found = 0usize;
    let mut i = 0usize;
    for _ in 0..a.lookups {
        let hit = match a.case {
            Case::Hot64 => {
                i = i.wrapping_add(13);
                e.vget_into(b"m", &names[i % 64], &mut out)
            }
            Case::Random => {
                i = i.wrapping_add(3_331);
                e.vget_into(b"m", &names[i % names.len()], &mut out)
            }
            Case::Miss => e.vget_into(b"m", b"absent", &mut out),
        }
        .map_err(|e| e.to_string())?;
        found += usize::from(std::hint::black_box(hit));
    }
    println!("{found} of {} lookups hit", a.lookups);
    // Not dropped: closing the engine ticks the analytics once more, which reads the whole
    // lookup log (co-access), work proportional to the lookups that is not the lookups'.
    std::mem::forget(e);
    Ok(())
}
