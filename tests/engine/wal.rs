//! The write-ahead log through its public API, on both I/O paths.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::wal::{
    FaultPlan, IoChoice, SyncPolicy, UringIo, Wal, WalOptions, WalRecord, WalRecovery,
};
use sutra_cache::{Error, ErrorCode};

/// The I/O paths to test. io_uring must be available unless `SUTRA_WAL_NO_URING=1` says the
/// machine lacks it (then only the plain path runs, and this is printed).
fn io_paths() -> Vec<IoChoice> {
    match UringIo::new() {
        Ok(_) => vec![IoChoice::Sync, IoChoice::Uring, IoChoice::UringRingWrites],
        Err(e) if std::env::var("SUTRA_WAL_NO_URING").as_deref() == Ok("1") => {
            eprintln!("io_uring unavailable ({e}); testing the plain path only");
            vec![IoChoice::Sync]
        }
        Err(e) => panic!(
            "io_uring cannot be set up here ({e}); set SUTRA_WAL_NO_URING=1 to test only the \
             plain path"
        ),
    }
}

fn opts(io: IoChoice, sync: SyncPolicy, segment_bytes: u64) -> WalOptions {
    WalOptions {
        sync,
        io,
        segment_bytes,
        ..WalOptions::default()
    }
}

fn payload(rng: &mut SmallRng, max: usize) -> Vec<u8> {
    let n = rng.gen_range(0..=max);
    (0..n).map(|_| rng.gen()).collect()
}

fn live_segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wal-") && n.ends_with(".seg"))
        })
        .collect();
    v.sort();
    v
}

fn file_count(dir: &Path) -> usize {
    fs::read_dir(dir).unwrap().count()
}

#[test]
fn records_round_trip_across_segment_rollover_and_recycling() {
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let mut written: Vec<(u8, Vec<u8>)> = Vec::new();
        {
            let (wal, replay) = Wal::open(tmp.path(), opts(io, SyncPolicy::Always, 4096)).unwrap();
            assert!(replay.records.is_empty());
            assert_eq!(replay.stats.next_lsn, 1);
            for i in 0..300u32 {
                let p = payload(&mut rng, 300);
                let lsn = wal.append((i % 7) as u8, &p).unwrap();
                assert_eq!(lsn, u64::from(i) + 1);
                written.push(((i % 7) as u8, p));
            }
            assert!(wal.segment_count() > 5, "{io:?}: rollover happened");
            assert_eq!(wal.durable_lsn(), 300);
            wal.close().unwrap();
        }
        let expect = |written: &[(u8, Vec<u8>)], from: usize| -> Vec<WalRecord> {
            written[from..]
                .iter()
                .enumerate()
                .map(|(i, (k, p))| WalRecord {
                    lsn: (from + i + 1) as u64,
                    kind: *k,
                    payload: p.clone(),
                })
                .collect()
        };
        let (wal, replay) = Wal::open(tmp.path(), opts(io, SyncPolicy::Always, 4096)).unwrap();
        assert_eq!(replay.records, expect(&written, 0), "{io:?}");
        assert_eq!(replay.stats.bytes_truncated, 0);
        assert_eq!(replay.stats.damage, None);
        assert_eq!(
            wal.io_kind(),
            if io == IoChoice::Sync {
                "sync"
            } else {
                "io_uring"
            }
        );

        // Recycle everything below LSN 200; segments become free files and are reused.
        let before = wal.segment_count();
        let recycled = wal.truncate_before(200).unwrap();
        assert!(recycled >= 2, "{io:?}: recycled {recycled}");
        assert_eq!(wal.segment_count(), before - recycled);
        let files_after_truncate = file_count(tmp.path());
        for i in 0..100u32 {
            let p = payload(&mut rng, 300);
            wal.append((i % 5) as u8, &p).unwrap();
            written.push(((i % 5) as u8, p));
        }
        wal.close().unwrap();
        drop(wal);
        assert!(
            file_count(tmp.path()) <= files_after_truncate + 1,
            "{io:?}: free segments were reused rather than new ones created"
        );
        let first_live = live_segments(tmp.path())[0].clone();
        let name = first_live.file_name().unwrap().to_str().unwrap();
        let first_lsn: usize = name[4..24].parse().unwrap();
        assert!(first_lsn <= 200);
        let (_wal, replay) = Wal::open(tmp.path(), opts(io, SyncPolicy::Always, 4096)).unwrap();
        assert_eq!(replay.records, expect(&written, first_lsn - 1), "{io:?}");
        assert_eq!(
            replay.stats.damage, None,
            "{io:?}: recycled bytes never replayed"
        );
    }
}

#[test]
fn every_acknowledged_append_from_many_threads_replays() {
    for io in io_paths() {
        for policy in [
            SyncPolicy::Always,
            SyncPolicy::Interval(5),
            SyncPolicy::Never,
        ] {
            let tmp = tempfile::tempdir().unwrap();
            let (wal, _) = Wal::open(tmp.path(), opts(io, policy, 64 << 10)).unwrap();
            let wal = Arc::new(wal);
            let threads: Vec<_> = (0..16u64)
                .map(|t| {
                    let wal = wal.clone();
                    std::thread::spawn(move || {
                        let mut rng = SmallRng::seed_from_u64(t);
                        let mut acked = Vec::new();
                        for i in 0..100 {
                            let p = payload(&mut rng, 200);
                            let lsn = if i % 10 == 9 {
                                let r = wal.append_batch(&[(1, &p), (2, &p)]).unwrap();
                                assert_eq!(r.end - r.start, 2);
                                acked.push((r.start, 1u8, p.clone()));
                                r.start + 1
                            } else {
                                wal.append(t as u8, &p).unwrap()
                            };
                            let kind = if i % 10 == 9 { 2 } else { t as u8 };
                            acked.push((lsn, kind, p));
                        }
                        acked
                    })
                })
                .collect();
            let mut acked: BTreeMap<u64, (u8, Vec<u8>)> = BTreeMap::new();
            for t in threads {
                for (lsn, k, p) in t.join().unwrap() {
                    assert!(acked.insert(lsn, (k, p)).is_none(), "LSN {lsn} given twice");
                }
            }
            assert_eq!(acked.len(), 1760);
            if policy == SyncPolicy::Always {
                assert_eq!(wal.durable_lsn(), 1760);
            }
            Arc::try_unwrap(wal).unwrap().close().unwrap();
            let (_w, replay) = Wal::open(tmp.path(), opts(io, policy, 64 << 10)).unwrap();
            let got: BTreeMap<u64, (u8, Vec<u8>)> = replay
                .records
                .into_iter()
                .map(|r| (r.lsn, (r.kind, r.payload)))
                .collect();
            assert_eq!(got, acked, "{io:?} {policy:?}");
        }
    }
}

#[test]
fn interval_policy_acknowledges_before_fdatasync_and_flush_makes_it_durable() {
    for io in io_paths() {
        for policy in [SyncPolicy::Interval(600_000), SyncPolicy::Never] {
            let tmp = tempfile::tempdir().unwrap();
            let (wal, _) = Wal::open(tmp.path(), opts(io, policy, 1 << 20)).unwrap();
            let lsn = wal.append(9, b"page cache").unwrap();
            assert_eq!(wal.written_lsn(), lsn);
            assert_eq!(wal.durable_lsn(), 0, "{io:?} {policy:?}: no fdatasync yet");
            assert_eq!(wal.flush().unwrap(), lsn);
            assert_eq!(wal.durable_lsn(), lsn);
        }
    }
}

#[test]
fn interval_policy_fdatasyncs_on_its_own_within_the_interval() {
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(tmp.path(), opts(io, SyncPolicy::Interval(20), 1 << 20)).unwrap();
        let lsn = wal.append(1, b"x").unwrap();
        wait_durable(&wal, lsn, &format!("{io:?}: interval sync never ran"));
    }
}

/// Under `interval`, an acknowledgement needs the write, never the fdatasync: appends go on
/// being acknowledged while a (slow) sync is in flight, and writing several MB starts a sync
/// before the interval ends (so no sync or rollover later has much to write at once).
#[test]
fn interval_appends_are_acknowledged_while_a_slow_fdatasync_runs() {
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let ops = Arc::new(AtomicU64::new(0));
        let (wal, _) = Wal::open(
            tmp.path(),
            WalOptions {
                fault: Some(FaultPlan {
                    ops,
                    sync_takes: Some(std::time::Duration::from_secs(1)),
                    ..FaultPlan::default()
                }),
                ..opts(io, SyncPolicy::Interval(1), 64 << 20)
            },
        )
        .unwrap();
        let first = wal.append(1, b"first").unwrap();
        // The thread starts the (1 s) sync of `first` within its 1 ms interval.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let mut last = first;
        for i in 0..200u32 {
            last = wal.append(2, &i.to_le_bytes()).unwrap();
            assert_eq!(wal.written_lsn(), last);
        }
        assert_eq!(
            wal.durable_lsn(),
            0,
            "{io:?}: 200 appends were acknowledged only after the sync in flight ended"
        );
        wait_durable(&wal, last, &format!("{io:?}: later syncs never ran"));
    }
    // Several MB written well within a long interval start a sync on their own.
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(
            tmp.path(),
            opts(io, SyncPolicy::Interval(600_000), 64 << 20),
        )
        .unwrap();
        let mut last = 0;
        for _ in 0..40 {
            last = wal.append(3, &vec![7u8; 1 << 20]).unwrap();
        }
        wait_durable(&wal, last / 2, &format!("{io:?}: no early sync"));
    }
}

/// Polls until `lsn` is fdatasynced; fails with `what` after 10 s.
fn wait_durable(wal: &Wal, lsn: u64, what: &str) {
    let start = std::time::Instant::now();
    while wal.durable_lsn() < lsn {
        assert!(start.elapsed().as_secs() < 10, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Under interval/never an appender that waits writes the batch itself; one that never waits
/// still gets its records written (and, under interval, fdatasynced) by the writer thread
/// within the interval. Many appenders from several threads, across segment rollovers (which
/// stay the thread's), land in LSN order.
#[test]
fn interval_records_are_written_by_waiters_or_the_thread_in_lsn_order() {
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        {
            let (wal, _) =
                Wal::open(tmp.path(), opts(io, SyncPolicy::Interval(30), 64 << 10)).unwrap();
            let wal = Arc::new(wal);
            // Nobody waits for this one.
            let lonely = wal.enqueue(&[(3, b"nobody waits".as_slice())]).unwrap().end - 1;
            wait_durable(
                &wal,
                lonely,
                &format!("{io:?}: a record nobody waited for was never written and synced"),
            );
            let threads: Vec<_> = (0..4u8)
                .map(|t| {
                    let wal = wal.clone();
                    std::thread::spawn(move || {
                        for i in 0..300u16 {
                            let mut p = vec![t; 500];
                            p[..2].copy_from_slice(&i.to_le_bytes());
                            let lsn = wal.append(t, &p).unwrap();
                            assert!(wal.written_lsn() >= lsn);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
            assert!(
                wal.segment_count() > 2,
                "{io:?}: the test rolls segments over"
            );
            wal.close().unwrap();
        }
        let (_, replay) = Wal::open(tmp.path(), opts(io, SyncPolicy::Always, 64 << 10)).unwrap();
        assert_eq!(replay.records.len(), 1 + 4 * 300, "{io:?}");
        let mut next = [0u16; 4];
        for (n, r) in replay.records.iter().enumerate() {
            assert_eq!(
                r.lsn,
                replay.records[0].lsn + n as u64,
                "{io:?}: LSNs consecutive"
            );
            if n == 0 {
                assert_eq!(r.payload, b"nobody waits");
                continue;
            }
            let t = r.kind as usize;
            let i = u16::from_le_bytes([r.payload[0], r.payload[1]]);
            assert_eq!(i, next[t], "{io:?}: thread {t}'s records in order");
            next[t] += 1;
        }
    }
}

#[test]
fn a_payload_larger_than_a_segment_is_refused_and_the_wal_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(tmp.path(), opts(IoChoice::Sync, SyncPolicy::Always, 1024)).unwrap();
    let max = wal.max_payload_bytes();
    let err = wal.append(1, &vec![0u8; max + 1]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TooLarge);
    assert_eq!(wal.append(1, &vec![7u8; max]).unwrap(), 1);
    assert_eq!(wal.append(1, &vec![8u8; max]).unwrap(), 2);
    wal.close().unwrap();
    assert_eq!(
        wal.append(1, b"late").unwrap_err().code(),
        ErrorCode::Closed
    );
    drop(wal);
    let (_w, replay) =
        Wal::open(tmp.path(), opts(IoChoice::Sync, SyncPolicy::Always, 1024)).unwrap();
    assert_eq!(replay.records.len(), 2);
    assert_eq!(replay.records[1].payload, vec![8u8; max]);
}

#[test]
fn damage_in_the_middle_is_refused_and_when_told_to_cut_what_follows_never_returns() {
    // Offsets of record i's payload and LSN field: 40-byte payloads make 64-byte records.
    let rec = |i: usize| 64 + i * 64;
    for (what, at) in [("payload", rec(4) + 20), ("lsn", rec(4) + 9)] {
        let tmp = tempfile::tempdir().unwrap();
        let o = opts(IoChoice::Sync, SyncPolicy::Always, 4096);
        {
            let (wal, _) = Wal::open(tmp.path(), o.clone()).unwrap();
            for i in 0..20u8 {
                wal.append(i, &[i; 40]).unwrap();
            }
        }
        let seg = live_segments(tmp.path())[0].clone();
        let mut bytes = fs::read(&seg).unwrap();
        bytes[at] ^= 0x10;
        fs::write(&seg, &bytes).unwrap();

        // By default the open refuses, naming the file and the offset, and changes nothing.
        match Wal::open(tmp.path(), o.clone()) {
            Err(Error::Corrupt { file, offset, .. }) => {
                assert!(
                    file.ends_with("wal-00000000000000000001.seg"),
                    "{what}: {file}"
                );
                assert_eq!(offset, 320, "{what}");
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: a log damaged in the middle opened"),
        }
        assert_eq!(
            fs::read(&seg).unwrap(),
            bytes,
            "{what}: the refusal changed the file"
        );
        let o = WalOptions {
            recovery: WalRecovery::TruncateAtDamage,
            ..o
        };
        let (wal, replay) = Wal::open(tmp.path(), o.clone()).unwrap();
        assert_eq!(replay.records.len(), 4, "{what}");
        let damage = replay.stats.damage.clone().expect("damage reported");
        assert!(
            damage.contains("wal-00000000000000000001.seg at offset 320"),
            "{what}: {damage}"
        );
        assert_eq!(replay.stats.bytes_truncated, 16 * 64, "{what}");
        assert_eq!(wal.append(9, b"new fifth").unwrap(), 5);
        drop(wal);
        let (_w, again) = Wal::open(tmp.path(), o).unwrap();
        assert_eq!(again.stats.damage, None, "{what}");
        assert_eq!(again.records.len(), 5, "{what}");
        assert_eq!(again.records[4].payload, b"new fifth");
    }
}

#[test]
fn a_second_wal_on_the_same_directory_is_refused_until_the_first_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let o = opts(IoChoice::Sync, SyncPolicy::Always, 4096);
    let (wal, _) = Wal::open(tmp.path(), o.clone()).unwrap();
    let err = Wal::open(tmp.path(), o.clone()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Io);
    assert!(err.to_string().contains("in use"), "{err}");
    drop(wal);
    Wal::open(tmp.path(), o).unwrap();
}

#[test]
fn replay_from_lsn_skips_checkpointed_records_and_never_reuses_their_lsns() {
    let tmp = tempfile::tempdir().unwrap();
    let o = |from| WalOptions {
        replay_from_lsn: from,
        ..opts(IoChoice::Sync, SyncPolicy::Always, 4096)
    };
    {
        let (wal, _) = Wal::open(tmp.path(), o(0)).unwrap();
        for i in 0..10u8 {
            wal.append(i, &[i]).unwrap();
        }
    }
    let (wal, replay) = Wal::open(tmp.path(), o(6)).unwrap();
    let lsns: Vec<u64> = replay.records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, vec![6, 7, 8, 9, 10]);
    assert_eq!(replay.stats.records_skipped, 5);
    drop(wal);
    // A checkpoint past the end of the log: the next LSN jumps to it.
    let (wal, replay) = Wal::open(tmp.path(), o(50)).unwrap();
    assert!(replay.records.is_empty());
    assert_eq!(wal.append(1, b"after").unwrap(), 50);
    drop(wal);
    let (_w, replay) = Wal::open(tmp.path(), o(0)).unwrap();
    let lsns: Vec<u64> = replay.records.iter().map(|r| r.lsn).collect();
    assert_eq!(lsns, vec![50]);
}

/// Appends from 4 threads through a fault-injecting backend until the fault; returns the
/// acknowledged records, checking fail-stop on the way.
fn append_until_fault(
    dir: &Path,
    io: IoChoice,
    policy: SyncPolicy,
    plan: FaultPlan,
) -> Vec<WalRecord> {
    let o = WalOptions {
        fault: Some(plan),
        ..opts(io, policy, 2048)
    };
    let wal = match Wal::open(dir, o) {
        Ok((w, _)) => Arc::new(w),
        Err(e) => {
            // The fault hit while making the first segment: nothing was acknowledged.
            assert!(matches!(e.code(), ErrorCode::Io), "{e}");
            return Vec::new();
        }
    };
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(t + 100);
                let mut acked = Vec::new();
                for _ in 0..200 {
                    let p = payload(&mut rng, 150);
                    match wal.append(t as u8, &p) {
                        Ok(lsn) => acked.push(WalRecord {
                            lsn,
                            kind: t as u8,
                            payload: p,
                        }),
                        Err(e) => {
                            assert_eq!(e.code(), ErrorCode::WalPoisoned, "{e}");
                            break;
                        }
                    }
                }
                acked
            })
        })
        .collect();
    let mut acked: Vec<WalRecord> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    acked.sort_by_key(|r| r.lsn);
    if wal.poisoned().is_some() {
        // Fail-stop: every later call fails, none is retried.
        for _ in 0..3 {
            let e = wal.append(0, b"after the fault").unwrap_err();
            assert_eq!(e.code(), ErrorCode::WalPoisoned);
            assert!(e.to_string().contains("injected fault"), "{e}");
        }
        assert_eq!(wal.flush().unwrap_err().code(), ErrorCode::WalPoisoned);
        assert_eq!(wal.close().unwrap_err().code(), ErrorCode::WalPoisoned);
    }
    acked
}

#[test]
fn an_injected_io_fault_poisons_the_wal_and_reopening_recovers_every_acknowledged_record() {
    for io in io_paths() {
        for policy in [SyncPolicy::Always, SyncPolicy::Interval(2)] {
            for (trial, fail_after) in [1u64, 3, 4, 5, 8, 13, 21, 34, 55, 89, 144]
                .into_iter()
                .enumerate()
            {
                let short = trial % 2 == 1;
                let tmp = tempfile::tempdir().unwrap();
                let ops = Arc::new(AtomicU64::new(0));
                let plan = FaultPlan {
                    fail_after_ops: Some(fail_after),
                    max_write_bytes: short.then_some(61),
                    ops: ops.clone(),
                    sync_takes: None,
                    ..FaultPlan::default()
                };
                let acked = append_until_fault(tmp.path(), io, policy, plan);
                let (wal, replay) = Wal::open(tmp.path(), opts(io, policy, 2048)).unwrap();
                let got: BTreeMap<u64, &WalRecord> =
                    replay.records.iter().map(|r| (r.lsn, r)).collect();
                for a in &acked {
                    assert_eq!(
                        got.get(&a.lsn),
                        Some(&a),
                        "{io:?} {policy:?} fail_after={fail_after} short={short}: acked LSN {} lost",
                        a.lsn
                    );
                }
                // The replay is a gap-free prefix and the WAL accepts writes again.
                for (i, r) in replay.records.iter().enumerate() {
                    assert_eq!(r.lsn, i as u64 + 1);
                }
                let next = wal.append(1, b"after reopen").unwrap();
                assert_eq!(next, replay.records.len() as u64 + 1);
            }
        }
    }
}

#[test]
fn short_writes_alone_lose_nothing() {
    for io in io_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let plan = FaultPlan {
            fail_after_ops: None,
            max_write_bytes: Some(5),
            ops: Arc::new(AtomicU64::new(0)),
            sync_takes: None,
            ..FaultPlan::default()
        };
        let acked = append_until_fault(tmp.path(), io, SyncPolicy::Always, plan);
        assert_eq!(acked.len(), 800);
        let (_w, replay) = Wal::open(tmp.path(), opts(io, SyncPolicy::Always, 2048)).unwrap();
        assert_eq!(replay.records, acked, "{io:?}");
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/wal-v1")
}

fn golden_records() -> Vec<(u8, Vec<u8>)> {
    vec![
        (1, b"alpha".to_vec()),
        (2, Vec::new()),
        (
            3,
            b"gamma: a payload that is longer than one record header".to_vec(),
        ),
        (255, (0u8..=255).collect()),
    ]
}

/// Regenerates the golden file; run by hand after an intended format change (and bump
/// `FORMAT_VERSION`): `SUTRA_WAL_WRITE_GOLDEN=1 cargo test --test engine wal::the_golden`.
#[test]
fn the_golden_segment_of_format_version_1_still_reads_and_encodes_identically() {
    use sutra_cache::wal::format::{
        encode_record_unsealed, seal_record, SegmentHeader, FORMAT_VERSION, SEGMENT_HEADER_BYTES,
    };
    let dir = golden_dir();
    if std::env::var("SUTRA_WAL_WRITE_GOLDEN").as_deref() == Ok("1") {
        let _ = fs::remove_dir_all(&dir);
        let (wal, _) = Wal::open(&dir, opts(IoChoice::Sync, SyncPolicy::Always, 1024)).unwrap();
        for (k, p) in golden_records() {
            wal.append(k, &p).unwrap();
        }
        wal.close().unwrap();
        drop(wal);
        fs::remove_file(dir.join("LOCK")).unwrap();
    }
    assert_eq!(
        FORMAT_VERSION, 1,
        "a new format version needs a new golden file"
    );
    let seg = dir.join("wal-00000000000000000001.seg");
    let bytes = fs::read(&seg).expect("golden file tests/data/wal-v1 is missing");
    assert_eq!(bytes.len(), 1024);

    // Reads: open a copy (opening may write) and compare.
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(&seg, tmp.path().join("wal-00000000000000000001.seg")).unwrap();
    let (_w, replay) =
        Wal::open(tmp.path(), opts(IoChoice::Sync, SyncPolicy::Always, 1024)).unwrap();
    let got: Vec<(u8, Vec<u8>)> = replay
        .records
        .into_iter()
        .map(|r| (r.kind, r.payload))
        .collect();
    assert_eq!(got, golden_records());
    assert_eq!(replay.stats.damage, None);

    // Encodes: the same header and records, byte for byte.
    let header = SegmentHeader::decode(&bytes).unwrap();
    assert_eq!((header.first_lsn, header.capacity), (1, 1024));
    let mut expect = header.encode().to_vec();
    for (i, (k, p)) in golden_records().iter().enumerate() {
        let start = expect.len();
        encode_record_unsealed(&mut expect, i as u64 + 1, *k, p);
        seal_record(header.seed, &mut expect[start..]);
    }
    assert_eq!(&bytes[..expect.len()], &expect[..]);
    assert!(bytes[expect.len()..].iter().all(|&b| b == 0));
    assert_eq!(expect.len() - SEGMENT_HEADER_BYTES, 24 + 24 + 72 + 280);
}

/// Applies one random mutation to the files of `dir`: bit flips, a truncation, or a zeroed
/// range. Returns a description for assertion messages.
fn mutate(dir: &Path, rng: &mut SmallRng) -> String {
    let files = live_segments(dir);
    let f = &files[rng.gen_range(0..files.len())];
    let mut bytes = fs::read(f).unwrap();
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    // Damage lands mostly where the records are.
    let used = bytes.iter().rposition(|&b| b != 0).map_or(64, |p| p + 1);
    let what = match rng.gen_range(0..4) {
        0 | 1 => {
            let n = rng.gen_range(1..=3);
            let mut at = Vec::new();
            for _ in 0..n {
                let pos = rng.gen_range(0..used);
                bytes[pos] ^= 1 << rng.gen_range(0..8);
                at.push(pos);
            }
            format!("flip bits at {at:?} of {name}")
        }
        2 => {
            let len = rng.gen_range(0..=used);
            bytes.truncate(len);
            format!("truncate {name} to {len}")
        }
        _ => {
            let a = rng.gen_range(0..used);
            let b = (a + rng.gen_range(1..64)).min(bytes.len());
            bytes[a..b].fill(0);
            format!("zero {a}..{b} of {name}")
        }
    };
    fs::write(f, &bytes).unwrap();
    what
}

#[test]
fn a_thousand_random_bit_flips_and_truncations_never_panic_and_recover_a_valid_prefix() {
    let pristine = tempfile::tempdir().unwrap();
    let mut rng = SmallRng::seed_from_u64(7);
    let mut written = Vec::new();
    {
        let (wal, _) = Wal::open(
            pristine.path(),
            opts(IoChoice::Sync, SyncPolicy::Never, 1024),
        )
        .unwrap();
        for i in 0..40u32 {
            let p = payload(&mut rng, 120);
            let lsn = wal.append((i % 3) as u8, &p).unwrap();
            written.push(WalRecord {
                lsn,
                kind: (i % 3) as u8,
                payload: p,
            });
        }
        wal.close().unwrap();
    }
    assert!(live_segments(pristine.path()).len() >= 3);
    let paths = io_paths();
    let (mut damaged, mut refused) = (0, 0);
    for trial in 0..1000u64 {
        let mut rng = SmallRng::seed_from_u64(1000 + trial);
        let tmp = tempfile::tempdir().unwrap();
        for p in live_segments(pristine.path()) {
            fs::copy(&p, tmp.path().join(p.file_name().unwrap())).unwrap();
        }
        let what = mutate(tmp.path(), &mut rng);
        let io = paths[trial as usize % paths.len()];
        let o = opts(io, SyncPolicy::Never, 1024);
        // By default: a valid prefix (a torn tail cut), or a refusal naming a segment.
        match Wal::open(tmp.path(), o.clone()) {
            Ok((_, replay)) => {
                let n = replay.records.len();
                assert_eq!(replay.records[..], written[..n], "trial {trial}: {what}");
                assert!(!replay.stats.mid_log_damage, "trial {trial}: {what}");
            }
            Err(Error::Corrupt { file, .. }) => {
                assert!(file.contains("wal-"), "trial {trial}: {what}: {file}");
                refused += 1;
            }
            Err(e) => panic!("trial {trial}: {what}: {e}"),
        }
        let o = WalOptions {
            recovery: WalRecovery::TruncateAtDamage,
            ..o
        };
        let (wal, replay) =
            Wal::open(tmp.path(), o.clone()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let n = replay.records.len();
        assert_eq!(replay.records[..], written[..n], "trial {trial}: {what}");
        if n < written.len() {
            damaged += 1;
        }
        if trial % 10 == 0 {
            // The repair holds: a later open sees the same prefix plus what came after.
            let lsn = wal.append(42, b"after repair").unwrap();
            assert_eq!(lsn, n as u64 + 1, "trial {trial}: {what}");
            wal.close().unwrap();
            drop(wal);
            let (_w, again) = Wal::open(tmp.path(), o).unwrap();
            assert_eq!(
                again.records.len(),
                n + 1,
                "trial {trial}: {what}: {:?} then {:?}",
                replay.stats,
                again.stats
            );
            assert_eq!(again.records[..n], written[..n], "trial {trial}: {what}");
            assert_eq!(again.stats.damage, None, "trial {trial}: {what}");
        }
    }
    assert!(
        damaged > 300 && refused > 100,
        "only {damaged} trials lost records, {refused} refused: the mutations miss"
    );
}

/// A flock belongs to the open file, and a child forked by another thread holds a copy of
/// every descriptor until it executes its program (this test binary's crash tests spawn
/// children while other tests reopen their directories). Closing a `Wal` must unlock its
/// directory even while such a copy exists: `in_use` says free and a new `Wal` opens it.
#[test]
fn a_closed_wal_unlocks_its_directory_while_a_forked_child_still_holds_its_descriptors() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
    assert!(sutra_cache::wal::in_use(dir.path()).unwrap());
    // SAFETY: the child calls only async-signal-safe functions (pause, _exit) before it is
    // killed below; it shares nothing with the parent but copies of its descriptors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: async-signal-safe calls in the forked child (see above).
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    wal.close().unwrap();
    let in_use = sutra_cache::wal::in_use(dir.path());
    let reopened = Wal::open(dir.path(), WalOptions::default()).map(|(w, _)| w.close());
    // SAFETY: `pid` is the child forked above; waitpid reaps it.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
    assert!(
        !in_use.unwrap(),
        "the closed Wal's directory still reads as in use"
    );
    reopened
        .expect("a new Wal could not lock the closed one's directory")
        .unwrap();
}
