//! Time to open an empty write-ahead log (a fresh directory) and, after it, to have the first
//! record durable (`always`): the first segment's pre-allocation and syncs, which the writer
//! thread now does after the open, land in the second figure.
//!
//! ```sh
//! cargo run --release --example wal_open -- [runs] [dir]    # default 9 runs under /tmp
//! ```
//!
//! Prints one JSON line: medians and all runs in ms.

use std::time::Instant;

use serde_json::json;
use sutra_cache::wal::{SyncPolicy, Wal, WalOptions};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(9);
    let root = args.next().unwrap_or_else(|| "/tmp".into());
    let (mut open_ms, mut first_ms) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let dir = tempfile::tempdir_in(&root).expect("temp dir");
        let t = Instant::now();
        let (wal, _) = Wal::open(
            dir.path(),
            WalOptions {
                sync: SyncPolicy::Always,
                ..WalOptions::default()
            },
        )
        .expect("open");
        open_ms.push(t.elapsed().as_secs_f64() * 1e3);
        wal.append(1, b"first").expect("append");
        first_ms.push(t.elapsed().as_secs_f64() * 1e3);
        wal.close().expect("close");
    }
    println!(
        "{}",
        json!({"event": "wal_open", "runs": runs, "dir": root,
               "open_ms_median": median(&mut open_ms.clone()), "open_ms": open_ms,
               "first_durable_append_ms_median": median(&mut first_ms.clone()),
               "first_durable_append_ms": first_ms})
    );
}
