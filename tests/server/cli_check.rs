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

/// Offset of the record with `lsn` in a segment whose first record is `first_lsn`.
fn record_offset(seg: &Path, first_lsn: u64, lsn: u64) -> usize {
    let b = std::fs::read(seg).unwrap();
    let mut at = 64;
    for _ in first_lsn..lsn {
        let len = u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize;
        at += (17 + len).div_ceil(8) * 8;
    }
    at
}

#[test]
fn damage_in_wal_records_the_snapshot_covers_is_skipped_with_exit_1_and_loses_nothing() {
    let dir = populated();
    let seg = files(&dir.path().join("wal"), "wal-").pop().unwrap();
    // The first record's payload (header 64 bytes, record header 17): LSN 1, in the
    // snapshot (which holds LSNs 1..=50).
    flip(&seg, 64 + 20);
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 1, "{out}");
    let expected = format!(
        "wal: damage the snapshot covers (skipped, nothing lost): {} at offset 64: records \
         from LSN 1 to 1 do not check out (record checksum mismatch)",
        seg.display()
    );
    assert!(out.contains(&expected), "{out}");
    assert!(
        out.contains("recovery: loads") && out.contains("up to LSN 100"),
        "{out}"
    );
    assert_eq!(contents(dir.path()), before, "check repaired the directory");
    let e = Engine::open(config(dir.path())).unwrap();
    assert_eq!(e.dbsize(), 100);
    assert!(e.recovery_report().unwrap().wal_damage.is_none());
    for i in [0, 49, 50, 99] {
        assert_eq!(
            e.get(format!("k{i}").as_bytes()).unwrap(),
            Some(format!("v{i}").into_bytes())
        );
    }
}

#[test]
fn a_damaged_wal_record_with_valid_ones_after_it_is_refused_with_exit_2_naming_file_offset_and_choices(
) {
    let dir = populated();
    let seg = files(&dir.path().join("wal"), "wal-").pop().unwrap();
    let at = record_offset(&seg, 1, 60);
    flip(&seg, at + 20);
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 2, "{out}");
    let named = format!("{} at offset {at}: record checksum mismatch", seg.display());
    assert!(
        out.contains(&format!(
            "wal: DAMAGED: {named}, and valid records follow it; 40 record(s)"
        )),
        "{out}"
    );
    assert!(out.contains("recovery: REFUSES to open"), "{out}");
    assert!(
        out.contains(
            "choice: --wal-recovery=truncate-at-damage: keeps the log up to LSN 59 and drops \
             for good the 40 record(s) that check out after the damage"
        ),
        "{out}"
    );
    assert_eq!(contents(dir.path()), before, "check repaired the directory");

    // An open refuses as check said, naming the file, the offset and the choices, and
    // changes nothing.
    let Err(err) = Engine::open(config(dir.path())) else {
        panic!("the open refuses")
    };
    match &err {
        Error::Corrupt {
            file,
            offset,
            reason,
        } => {
            assert_eq!(
                (file.as_str(), *offset),
                (&*seg.display().to_string(), at as u64)
            );
            assert!(
                reason.contains("--wal-recovery=truncate-at-damage"),
                "{reason}"
            );
            assert!(reason.contains("sutra-cache check"), "{reason}");
        }
        e => panic!("not a refusal: {e}"),
    }
    assert_eq!(
        contents(dir.path()),
        before,
        "the refused open changed the directory"
    );

    // Told to, it starts from what precedes the damage.
    let e = Engine::open(EngineConfig {
        wal_recovery: WalRecovery::TruncateAtDamage,
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(e.dbsize(), 59);
    assert_eq!(e.get(b"k58").unwrap(), Some(b"v58".to_vec()));
    assert_eq!(e.get(b"k59").unwrap(), None);
}

#[test]
fn a_damaged_snapshot_is_refused_with_exit_2_naming_its_offset_and_the_lossless_fallback() {
    let dir = populated();
    let snap = files(dir.path(), "snapshot-").pop().unwrap();
    flip(&snap, 20); // inside the header's checksummed bytes
    let before = contents(dir.path());
    let (code, out) = check(dir.path());
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!(
            "snapshot {}: DAMAGED: corrupt data in {} at offset 60: header checksum mismatch",
            snap.display(),
            snap.display()
        )),
        "{out}"
    );
    // The log still starts at LSN 1: falling back replays all 100 records.
    assert!(
        out.contains(
            "choice: --snapshot-recovery=use-older: loads no snapshot and replays the log to \
             LSN 100, past the damaged snapshot's LSN 50: nothing is lost"
        ),
        "{out}"
    );
    assert_eq!(contents(dir.path()), before);
    let Err(err) = Engine::open(config(dir.path())) else {
        panic!("the open refuses")
    };
    let msg = err.to_string();
    assert!(
        msg.contains(&snap.display().to_string()) && msg.contains("offset 60"),
        "{msg}"
    );
    assert!(
        msg.contains("--snapshot-recovery=use-older") && msg.contains("nothing is lost"),
        "{msg}"
    );
    assert_eq!(contents(dir.path()), before);
    let e = Engine::open(EngineConfig {
        snapshot_recovery: SnapshotRecovery::UseOlder,
        ..config(dir.path())
    })
    .unwrap();
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
        out.contains("recovery: REFUSES to open")
            && out.contains("no snapshot loads and the log starts at LSN"),
        "{out}"
    );
    for snapshot_recovery in [SnapshotRecovery::Refuse, SnapshotRecovery::UseOlder] {
        assert!(
            Engine::open(EngineConfig {
                snapshot_recovery,
                ..config(dir.path())
            })
            .is_err(),
            "check said an open fails"
        );
    }
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
