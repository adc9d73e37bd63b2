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

/// Exit codes: 0 clean; 1 damage found that an open with the default settings handles by
/// itself (a torn WAL tail, which it cuts; damage in records a snapshot covers, which it
/// skips), nothing acknowledged lost; 2 an open with the default settings refuses the
/// directory (the choices are printed), or it cannot be read (also for bad arguments).
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
        "wal: {} segment(s) read, {} wholly in the snapshot and not read; {} record(s) to \
         replay after the snapshot, {} already in it",
        w.segments, w.segments_covered, w.records_replayed, w.records_skipped
    );
    if let Some(d) = &w.covered_damage {
        println!("wal: damage the snapshot covers (skipped, nothing lost): {d}");
    }
    if let Some(d) = &w.damage {
        if w.mid_log_damage {
            println!(
                "wal: DAMAGED: {d}; {} record(s) that check out follow it",
                w.records_after_damage
            );
        } else {
            println!(
                "wal: torn tail (a write a crash interrupted): {d}; an open cuts {} byte(s) \
                 there",
                w.bytes_truncated
            );
        }
    }
    for l in &report.leftovers {
        println!(
            "leftover {}: a half-written file an open deletes",
            l.display()
        );
    }
    if let Some(r) = &report.refusal {
        println!("recovery: REFUSES to open (nothing is changed until you choose): {r}");
        for c in &report.choices {
            println!("choice: {c}");
        }
        println!(
            "choice: restore the damaged file(s) from a copy, then run `sutra-cache check {}` \
             again",
            a.dir.display()
        );
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
