//! `sutra-cache check DIR`: verifies a data directory offline and says what an open would
//! keep. Never modifies the directory.

use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(clap::Args)]
pub struct Args {
    /// The data directory (the server's --data-dir): snapshot-*.snap files and wal/.
    pub dir: PathBuf,
}

/// Exit codes: 0 clean; 1 damage found, the directory still opens (recovery skips a
/// snapshot or cuts the log where shown); 2 an open would refuse the directory, or it
/// cannot be read (also for bad arguments).
pub fn run(a: Args) -> ExitCode {
    let report = match sutra_cache::check_data_dir(&a.dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sutra-cache check: {e}");
            return ExitCode::from(2);
        }
    };
    for s in &report.snapshots {
        match &s.damage {
            None => println!("snapshot {}: ok (LSN {})", s.path.display(), s.lsn),
            Some(d) => println!("snapshot {}: DAMAGED: {d}", s.path.display()),
        }
    }
    if report.snapshots.is_empty() {
        println!("snapshot: none");
    }
    let w = &report.wal;
    println!(
        "wal: {} segment(s), {} record(s) to replay after the snapshot, {} already in it",
        w.segments, w.records_replayed, w.records_skipped
    );
    if let Some(d) = &w.damage {
        println!(
            "wal: DAMAGED: {d}; recovery cuts {} byte(s) there and discards {} later segment(s)",
            w.bytes_truncated, w.segments_discarded
        );
    }
    for l in &report.leftovers {
        println!(
            "leftover {}: a half-written file an open deletes",
            l.display()
        );
    }
    if let Some(r) = &report.refusal {
        println!("recovery: FAILS: {r}");
        return ExitCode::from(2);
    }
    println!(
        "recovery: loads {} and replays the log up to LSN {}",
        report
            .loads
            .as_ref()
            .map_or("no snapshot".to_string(), |p| p.display().to_string()),
        report.last_lsn
    );
    if report.is_clean() {
        println!("clean");
        ExitCode::SUCCESS
    } else {
        println!("damaged: an open keeps what is shown above");
        ExitCode::from(1)
    }
}
