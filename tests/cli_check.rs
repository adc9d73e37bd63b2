//! `sutra-cache check DIR` through the binary: a clean directory, a damaged WAL record, a
//! damaged snapshot, a directory a server holds; the directory is never changed.

use std::path::{Path, PathBuf};
use std::process::Command;

use sutra_cache::*;

fn config(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        ..Default::default()
    }
}

/// A directory with a snapshot (keys 0..50) and a log after it (keys 50..100).
fn populated() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(config(dir.path())).unwrap();
    for i in 0..100 {
        if i == 50 {
            e.checkpoint().unwrap();
        }
        e.set(
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
            SetOptions::default(),
        )
        .unwrap();
    }
    e.close().unwrap();
    dir
}

fn check(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("check")
        .arg(dir)
        .output()
        .expect("binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().expect("exited"), text)
}

/// Every file's path and bytes, to show the check wrote nothing.
fn contents(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn files(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x5a;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_clean_directory_checks_clean_with_exit_0_and_names_the_snapshot_and_the_log() {
    let dir = populated();
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(": ok (LSN "), "{out}");
    assert!(
        out.contains("50 record(s) to replay after the snapshot"),
        "{out}"
    );
    assert!(out.trim_end().ends_with("clean"), "{out}");
    assert_eq!(contents(dir.path()), before, "check changed the directory");
}

#[test]
fn a_damaged_wal_record_is_reported_with_its_file_and_offset_and_exit_1_without_repairing_it() {
    let dir = populated();
    let seg = files(&dir.path().join("wal"), "wal-").pop().unwrap();
    // The first record's payload (header 64 bytes, record header 17).
    flip(&seg, 64 + 20);
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    let expected = format!(
        "wal: DAMAGED: {} at offset 64: record checksum mismatch",
        seg.display()
    );
    assert!(out.contains(&expected), "{out}");
    assert_eq!(contents(dir.path()), before, "check repaired the directory");
    // An open keeps what check said: nothing from the damaged record on.
    let (code2, _) = check(dir.path());
    assert_eq!(code2, 1);
    let e = Engine::open(config(dir.path())).unwrap();
    let report = e.recovery_report().unwrap();
    assert_eq!(
        report.wal_damage.as_deref(),
        out.lines()
            .find_map(|l| l.strip_prefix("wal: DAMAGED: "))
            .map(|l| l.split("; recovery").next().unwrap())
    );
}

#[test]
fn a_damaged_snapshot_is_named_with_its_offset_and_exit_1_when_the_log_still_reaches_back() {
    let dir = populated();
    let snap = files(dir.path(), "snapshot-").pop().unwrap();
    flip(&snap, 20); // inside the header's checksummed bytes
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "snapshot {}: DAMAGED: corrupt data in {} at offset 60: header checksum mismatch",
            snap.display(),
            snap.display()
        )),
        "{out}"
    );
    // The log still starts at LSN 1: an open replays all 100 records.
    assert!(
        out.contains("recovery: loads no snapshot and replays the log up to LSN 100"),
        "{out}"
    );
    assert_eq!(contents(dir.path()), before);
    let e = Engine::open(config(dir.path())).unwrap();
    assert_eq!(e.dbsize(), 100);
}

#[test]
fn every_snapshot_damaged_after_the_log_was_cut_is_exit_2_as_an_open_refuses() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments, so checkpoints recycle the log's beginning.
    let small = EngineConfig {
        wal_segment_bytes: 4096,
        ..config(dir.path())
    };
    let e = Engine::open(small).unwrap();
    for i in 0..300 {
        if i % 100 == 99 {
            e.checkpoint().unwrap();
        }
        e.set(format!("k{i}").as_bytes(), b"v", SetOptions::default())
            .unwrap();
    }
    e.close().unwrap();
    let snaps = files(dir.path(), "snapshot-");
    assert!(snaps.len() >= 2, "{snaps:?}");
    for s in &snaps {
        flip(s, 20);
    }
    let (code, out) = check(dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("recovery: FAILS: no snapshot loads and the log starts at LSN"),
        "{out}"
    );
    assert!(
        Engine::open(config(dir.path())).is_err(),
        "check said an open fails"
    );
}

#[test]
fn a_directory_held_by_a_running_engine_is_refused_with_exit_2() {
    let dir = populated();
    let e = Engine::open(config(dir.path())).unwrap();
    let (code, out) = check(dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("in use by a running server"), "{out}");
    drop(e);
    let (code, out) = check(Path::new("/nonexistent/sutra-dir"));
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("/nonexistent/sutra-dir"), "{out}");
}
