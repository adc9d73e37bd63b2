//! The engine over a data directory: reopen, snapshots, WAL replay.

use sutra_cache::*;

fn config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        active_expire_interval_ms: 0,
        ..Default::default()
    }
}

fn fill(e: &Engine, from: usize, to: usize) {
    for i in from..to {
        e.set(
            format!("k{i}").as_bytes(),
            format!("v{i}").as_bytes(),
            SetOptions::default(),
        )
        .unwrap();
        let v = [1.0, i as f32, -0.5];
        let name = format!("e{i}");
        let add = ElementAdd {
            attributes: AttrUpdate::Set(r#"{"n":1}"#),
            ..ElementAdd::new(name.as_bytes(), &v)
        };
        e.vadd(b"m", &VectorSetOptions::default(), add).unwrap();
        e.vadd(
            b"q",
            &VectorSetOptions {
                storage: Some(StorageMode::Q8),
                ..Default::default()
            },
            ElementAdd::new(format!("e{i}").as_bytes(), &v),
        )
        .unwrap();
    }
}

fn check(e: &Engine, from: usize, to: usize) {
    for i in from..to {
        assert_eq!(
            e.get(format!("k{i}").as_bytes()).unwrap(),
            Some(format!("v{i}").into_bytes()),
            "k{i}"
        );
        assert_eq!(
            e.vget(b"m", format!("e{i}").as_bytes()).unwrap(),
            Some(vec![1.0, i as f32, -0.5]),
            "e{i}"
        );
        assert_eq!(
            e.vget_attr(b"m", format!("e{i}").as_bytes())
                .unwrap()
                .as_deref(),
            Some(r#"{"n":1}"#)
        );
        assert!(e.vismember(b"q", format!("e{i}").as_bytes()).unwrap());
    }
}

#[test]
fn writes_survive_a_reopen_from_the_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(EngineConfig {
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap();
        fill(&e, 0, 200);
        e.del(&[b"k5"]).unwrap();
        e.vrem(b"m", b"e6").unwrap();
        e.close().unwrap(); // no snapshot: recovery uses the log alone
    }
    let e = Engine::open(config(dir.path())).unwrap();
    let r = e.recovery_report().unwrap();
    assert_eq!(r.snapshot, None);
    assert!(r.records_replayed >= 600, "{r:?}");
    check(&e, 7, 200);
    assert_eq!(e.get(b"k5").unwrap(), None);
    assert!(!e.vismember(b"m", b"e6").unwrap());
    assert_eq!(e.vinfo(b"q").unwrap().unwrap().storage, StorageMode::Q8);
}

#[test]
fn a_snapshot_plus_the_log_tail_restores_everything() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(EngineConfig {
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap();
        fill(&e, 0, 100);
        let lsn = e.checkpoint().unwrap();
        assert!(lsn >= 300);
        fill(&e, 100, 150);
        e.vrem(b"m", b"e3").unwrap();
        e.set(b"k4", b"changed", SetOptions::default()).unwrap();
        e.close().unwrap();
    }
    let e = Engine::open(config(dir.path())).unwrap();
    let r = e.recovery_report().unwrap();
    assert!(r.snapshot.is_some(), "{r:?}");
    assert!(
        r.records_replayed >= 152 && r.records_replayed < 300,
        "{r:?}"
    );
    check(&e, 5, 150);
    assert_eq!(e.get(b"k4").unwrap(), Some(b"changed".to_vec()));
    assert!(!e.vismember(b"m", b"e3").unwrap());
    // Writes after a mapped restart work (the mapped arena moves to the heap).
    fill(&e, 150, 160);
    check(&e, 150, 160);
    e.close().unwrap();
    drop(e);
    let e = Engine::open(config(dir.path())).unwrap();
    assert_eq!(
        e.recovery_report().unwrap().records_replayed,
        0,
        "close took a snapshot"
    );
    check(&e, 5, 160);
    assert_eq!(e.vcard(b"m").unwrap(), 159);
}

#[test]
fn expired_entries_are_not_resurrected_by_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    {
        let e = Engine::open(EngineConfig {
            clock: clock.clone(),
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap();
        e.set(
            b"short",
            b"v",
            SetOptions {
                expiry: Expiry::InMs(100),
                ..Default::default()
            },
        )
        .unwrap();
        e.vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd {
                expiry: Expiry::InMs(100),
                ..ElementAdd::new(b"x", &[1.0])
            },
        )
        .unwrap();
        e.vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(b"y", &[1.0]),
        )
        .unwrap();
        e.checkpoint().unwrap();
        e.set(
            b"short2",
            b"v",
            SetOptions {
                expiry: Expiry::InMs(100),
                ..Default::default()
            },
        )
        .unwrap();
        e.close().unwrap();
    }
    clock.advance(200);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(e.get(b"short").unwrap(), None);
    assert_eq!(e.get(b"short2").unwrap(), None);
    assert!(!e.vismember(b"m", b"x").unwrap());
    assert!(e.vismember(b"m", b"y").unwrap());
    assert_eq!(e.ttl(b"short"), TtlState::Missing);
}

#[test]
fn a_corrupt_newest_snapshot_is_refused_and_falls_back_to_the_previous_one_when_told() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = Engine::open(EngineConfig {
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap();
        fill(&e, 0, 50);
        e.checkpoint().unwrap();
        fill(&e, 50, 80);
        e.checkpoint().unwrap();
        fill(&e, 80, 90);
        e.close().unwrap();
    }
    let mut snaps: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    snaps.sort();
    assert_eq!(snaps.len(), 2);
    let newest = snaps.last().unwrap();
    let mut bytes = std::fs::read(newest).unwrap();
    let at = 4096 + 2; // inside the first section (sections start at 4096)
    bytes[at] ^= 0x40;
    std::fs::write(newest, &bytes).unwrap();
    match Engine::open(config(dir.path())) {
        Err(Error::Corrupt { file, reason, .. }) => {
            assert_eq!(file, newest.display().to_string());
            assert!(reason.contains("--snapshot-recovery=use-older"), "{reason}");
            assert!(reason.contains("nothing is lost"), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened over a damaged newest snapshot"),
    }
    let e = Engine::open(EngineConfig {
        snapshot_recovery: SnapshotRecovery::UseOlder,
        ..config(dir.path())
    })
    .unwrap();
    let r = e.recovery_report().unwrap();
    assert_eq!(r.snapshots_skipped.len(), 1, "{r:?}");
    assert!(r.snapshots_skipped[0].contains("checksum"), "{r:?}");
    check(&e, 0, 90);
}

#[test]
fn the_wal_mode_is_reported_and_flush_makes_writes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let e = Engine::open(EngineConfig {
        wal_sync: SyncPolicy::Interval(60_000),
        ..config(dir.path())
    })
    .unwrap();
    let (io, policy) = e.wal_mode().unwrap();
    assert!(io == "io_uring" || io == "sync");
    assert_eq!(policy, SyncPolicy::Interval(60_000));
    e.set(b"a", b"1", SetOptions::default()).unwrap();
    assert!(e.flush_log().unwrap() >= 1);
    assert!(Engine::open(EngineConfig::default())
        .unwrap()
        .wal_mode()
        .is_none());
    assert_eq!(
        Engine::open(EngineConfig::default())
            .unwrap()
            .checkpoint()
            .unwrap_err()
            .code(),
        ErrorCode::Unsupported
    );
}

/// What one writer thread of the fuzzy-snapshot test last wrote: blobs and elements of the
/// shared set, `None` once removed.
type Model = (
    std::collections::HashMap<String, Option<Vec<u8>>>,
    std::collections::HashMap<String, Option<Vec<f32>>>,
);

/// One writer: random sets, deletes, adds and removals of its own keys and elements until
/// `stop`; returns what it last wrote.
fn churn(e: &Engine, t: u64, stop: &std::sync::atomic::AtomicBool) -> Model {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let (mut blobs, mut elems) = Model::default();
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let r = next();
        let j = (r >> 8) % 60;
        match r % 4 {
            0 => {
                let k = format!("b{t}-{j}");
                let v: Vec<u8> = (0..1 + next() % 300).map(|_| next() as u8).collect();
                e.set(k.as_bytes(), &v, SetOptions::default()).unwrap();
                blobs.insert(k, Some(v));
            }
            1 => {
                let k = format!("b{t}-{j}");
                e.del(&[k.as_bytes()]).unwrap();
                blobs.insert(k, None);
            }
            2 => {
                let k = format!("e{t}-{j}");
                let v: Vec<f32> = (0..16)
                    .map(|_| (next() % 1000) as f32 / 500.0 - 1.0)
                    .collect();
                e.vadd(
                    b"s",
                    &VectorSetOptions::default(),
                    ElementAdd::new(k.as_bytes(), &v),
                )
                .unwrap();
                elems.insert(k, Some(v));
            }
            _ => {
                let k = format!("e{t}-{j}");
                e.vrem(b"s", k.as_bytes()).unwrap();
                elems.insert(k, None);
            }
        }
    }
    (blobs, elems)
}

fn le_u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn snapshots_copied_while_writes_go_on_restore_the_exact_final_state() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let cfg = EngineConfig {
        wal_sync: SyncPolicy::Interval(20),
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        // Tiny pieces: the copy of every shard and of the set's arrays lets writers in
        // between pieces many times.
        snapshot_piece_bytes: 256,
        index_min_elements: 32,
        ..config(dir.path())
    };
    let e = std::sync::Arc::new(Engine::open(cfg.clone()).unwrap());
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|t| {
            let (e, stop) = (e.clone(), stop.clone());
            std::thread::spawn(move || churn(&e, t, &stop))
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(50));
    // Checkpoints until one was copied while a write landed (its log must go past its LSN);
    // it is the newest when the writers stop.
    let (newest, lsn, consistent) = (0..1000)
        .find_map(|_| {
            let lsn = e.checkpoint().unwrap();
            let path = dir.path().join(format!("snapshot-{lsn:020}.snap"));
            let consistent = le_u64_at(&std::fs::read(&path).unwrap(), 52);
            (consistent > lsn).then_some((path, lsn, consistent))
        })
        .expect("a snapshot copied while writes went on");
    stop.store(true, Ordering::Relaxed);
    let models: Vec<Model> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    e.close().unwrap();
    drop(e);
    assert!(consistent > lsn);

    let e = Engine::open(cfg.clone()).unwrap();
    let report = e.recovery_report().unwrap();
    assert_eq!(report.snapshot.as_deref(), Some(newest.as_path()));
    let mut live = 0;
    for (blobs, elems) in &models {
        for (k, v) in blobs {
            assert_eq!(e.get(k.as_bytes()).unwrap().as_ref(), v.as_ref(), "{k}");
        }
        for (k, v) in elems {
            assert_eq!(
                e.vget(b"s", k.as_bytes()).unwrap().as_ref(),
                v.as_ref(),
                "{k}"
            );
            live += usize::from(v.is_some());
        }
    }
    assert_eq!(e.vcard(b"s").unwrap() as usize, live);
    e.close().unwrap();
    drop(e);

    // Damage the log at the record the image needs last: recovery must refuse the image
    // (it may mix states) rather than serve it, and say which snapshot to move away.
    let mut segs: Vec<_> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|d| d.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .collect();
    segs.sort();
    let mut damaged = false;
    'segs: for seg in &segs {
        let mut bytes = std::fs::read(seg).unwrap();
        let mut at = 64;
        while at + 17 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            if le_u64_at(&bytes, at + 8) == consistent {
                bytes[at + 16] ^= 0xFF; // the kind byte: the CRC no longer checks out
                std::fs::write(seg, &bytes).unwrap();
                damaged = true;
                break 'segs;
            }
            if len == 0 && le_u64_at(&bytes, at + 8) == 0 {
                break;
            }
            at += (17 + len).div_ceil(8) * 8;
        }
    }
    assert!(damaged, "record {consistent} found");
    // By default the damage itself is refused (valid records follow it), naming the segment.
    match Engine::open(cfg.clone()) {
        Err(Error::Corrupt { file, reason, .. }) => {
            assert!(file.contains("wal-"), "{file}: {reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened a log damaged in the middle"),
    }
    // Told to cut the log there, the image is still refused.
    let cfg = EngineConfig {
        wal_recovery: WalRecovery::TruncateAtDamage,
        ..cfg
    };
    match Engine::open(cfg) {
        Err(Error::Corrupt { reason, .. }) => {
            assert!(reason.contains(&consistent.to_string()), "{reason}");
            assert!(reason.contains(&newest.display().to_string()), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("opened with the log short of the image's consistent LSN"),
    }
}

#[test]
fn increments_appends_and_getex_survive_a_reopen_without_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let open = || {
        Engine::open(EngineConfig {
            clock: clock.clone(),
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap()
    };
    {
        let e = open();
        for _ in 0..5 {
            e.incr_by(b"n", 2).unwrap();
        }
        e.append(b"s", b"ab").unwrap();
        e.append(b"s", b"cd").unwrap();
        e.set(b"ttl", b"v", SetOptions::default()).unwrap();
        e.get_then(b"ttl", GetThen::Expire(Expiry::InMs(60_000)))
            .unwrap();
        e.set(b"gone", b"v", SetOptions::default()).unwrap();
        e.get_then(b"gone", GetThen::Delete).unwrap();
        e.close().unwrap();
    }
    let e = open();
    assert_eq!(e.get(b"n").unwrap(), Some(b"10".to_vec()));
    assert_eq!(e.get(b"s").unwrap(), Some(b"abcd".to_vec()));
    assert_eq!(e.ttl(b"ttl"), TtlState::ExpiresInMs(60_000));
    assert_eq!(e.get(b"gone").unwrap(), None);
}

/// Recovery judges no TTL by the clock of the restart: a key whose first, short TTL has passed
/// by then was extended before it ran out, and the writes made meanwhile (an APPEND, a field
/// of a hash, an element of a set, an attribute of an element) come back with it; and what the
/// live writes found expired (and so replaced) stays replaced.
#[test]
fn ttls_extended_before_they_ran_out_keep_the_writes_made_meanwhile_across_recovery() {
    for checkpoint_midway in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(1_000_000);
        let open = || {
            Engine::open(EngineConfig {
                clock: clock.clone(),
                checkpoint_on_close: false,
                ..config(dir.path())
            })
            .unwrap()
        };
        let short = Expiry::InMs(1_000);
        let long = Expiry::InMs(3_600_000);
        let o = VectorSetOptions::default();
        {
            let e = open();
            // Extended in time: every write below must survive.
            e.set(b"blob", b"a", SetOptions::default()).unwrap();
            assert!(e.expire(b"blob", short).unwrap());
            e.append(b"blob", b"b").unwrap();
            e.hset(b"hash", &[(b"f1", b"1")]).unwrap();
            assert!(e.expire(b"hash", short).unwrap());
            e.hset(b"hash", &[(b"f2", b"2")]).unwrap();
            e.vadd(b"set", &o, ElementAdd::new(b"e1", &[1.0, 0.0]))
                .unwrap();
            assert!(e.expire(b"set", short).unwrap());
            e.vadd(b"set", &o, ElementAdd::new(b"e2", &[0.0, 1.0]))
                .unwrap();
            e.vadd(
                b"elems",
                &o,
                ElementAdd {
                    expiry: short,
                    ..ElementAdd::new(b"x", &[1.0, 1.0])
                },
            )
            .unwrap();
            assert!(e.vset_attr(b"elems", b"x", Some(r#"{"n":1}"#)).unwrap());
            if checkpoint_midway {
                e.checkpoint().unwrap();
            }
            clock.advance(500);
            assert!(e.expire(b"blob", long).unwrap());
            assert!(e.expire(b"hash", long).unwrap());
            assert!(e.expire(b"set", long).unwrap());
            assert!(e.vexpire(b"elems", b"x", long).unwrap());
            // Found expired by the live writes, so replaced: must stay replaced.
            e.vadd(b"gone", &o, ElementAdd::new(b"old", &[1.0, 0.0]))
                .unwrap();
            assert!(e.expire(b"gone", short).unwrap());
            e.vadd(
                b"reborn",
                &o,
                ElementAdd {
                    expiry: short,
                    attributes: AttrUpdate::Set(r#"{"old":true}"#),
                    ..ElementAdd::new(b"y", &[1.0, 0.0])
                },
            )
            .unwrap();
            let db1 = e.select(1).unwrap();
            db1.set(b"moved", b"stale", SetOptions::default()).unwrap();
            assert!(db1.expire(b"moved", short).unwrap());
            clock.advance(2_000);
            e.vadd(b"gone", &o, ElementAdd::new(b"new", &[0.0, 1.0]))
                .unwrap();
            e.vadd(b"reborn", &o, ElementAdd::new(b"y", &[0.0, 1.0]))
                .unwrap();
            e.set(b"moved", b"fresh", SetOptions::default()).unwrap();
            assert!(e.move_key(b"moved", 1).unwrap());
            e.close().unwrap();
        }
        clock.advance(10_000);
        let e = open();
        let at = |k: &[u8]| format!("{k:?} (checkpoint midway: {checkpoint_midway})");
        assert_eq!(
            e.get(b"blob").unwrap().as_deref(),
            Some(&b"ab"[..]),
            "{}",
            at(b"blob")
        );
        assert_eq!(e.hgetall(b"hash").unwrap().len(), 2, "{}", at(b"hash"));
        assert_eq!(e.vcard(b"set").unwrap(), 2, "{}", at(b"set"));
        assert!(e.vismember(b"elems", b"x").unwrap(), "{}", at(b"elems"));
        assert_eq!(e.vcard(b"gone").unwrap(), 1, "{}", at(b"gone"));
        assert!(e.vismember(b"gone", b"new").unwrap(), "{}", at(b"gone"));
        assert_eq!(e.ttl(b"gone"), TtlState::NoExpiry, "{}", at(b"gone"));
        assert_eq!(e.vcard(b"reborn").unwrap(), 1, "{}", at(b"reborn"));
        assert_eq!(
            e.vget(b"reborn", b"y").unwrap(),
            Some(vec![0.0, 1.0]),
            "{}",
            at(b"reborn")
        );
        assert_eq!(
            e.vget_attr(b"reborn", b"y").unwrap(),
            None,
            "{}",
            at(b"reborn")
        );
        assert_eq!(
            e.vget_attr(b"elems", b"x").unwrap().as_deref(),
            Some(r#"{"n":1}"#)
        );
        let db1 = e.select(1).unwrap();
        assert_eq!(
            db1.get(b"moved").unwrap().as_deref(),
            Some(&b"fresh"[..]),
            "{}",
            at(b"moved")
        );
        assert_eq!(e.get(b"moved").unwrap(), None, "{}", at(b"moved"));
    }
}
