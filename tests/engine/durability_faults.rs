//! Disk faults under the WAL (through its fault seam): writes refused, reads served, nothing
//! acknowledged lost. (Damaged files: `tests/engine/durability_corruption.rs`.)

use std::path::Path;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::wal::{self, FaultPlan};
use sutra_cache::*;

fn config_on(dir: &Path, io: &str) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Interval(1_000),
        wal_io: io.parse().unwrap(),
        wal_segment_bytes: 16 << 10,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        ..Default::default()
    }
}

/// One writer's acknowledged writes: blobs by key, vectors by element (in set `faulty`).
type Acked = (Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<f32>)>);

/// Writes from 3 threads through a WAL whose I/O fails after some operations, until the
/// fault; checks fail-stop (writes refused with `WalPoisoned`, reads served) and returns what
/// was acknowledged, or `None` when the fault hit while opening.
fn write_until_fault(dir: &Path, io: &str, policy: SyncPolicy, plan: FaultPlan) -> Option<Acked> {
    let cfg = EngineConfig {
        wal_sync: policy,
        wal_fault: Some(plan),
        ..config_on(dir, io)
    };
    let e = match Engine::open(cfg) {
        Ok(e) => std::sync::Arc::new(e),
        Err(err) => {
            assert_eq!(err.code(), ErrorCode::Io, "{err}");
            return None;
        }
    };
    let threads: Vec<_> = (0..3u64)
        .map(|t| {
            let e = e.clone();
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(t);
                let (mut blobs, mut vectors) = (Vec::new(), Vec::new());
                for n in 0..150 {
                    let key = format!("t{t}/{n}").into_bytes();
                    let r = if n % 2 == 0 {
                        let value: Vec<u8> =
                            (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
                        let r = e.set(&key, &value, SetOptions::default());
                        if r.is_ok() {
                            blobs.push((key, value));
                        }
                        r.map(|_| ())
                    } else {
                        let v: Vec<f32> = (0..8).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
                        let r = e.vadd(
                            b"faulty",
                            &VectorSetOptions::default(),
                            ElementAdd::new(&key, &v),
                        );
                        if r.is_ok() {
                            vectors.push((key, v));
                        }
                        r.map(|_| ())
                    };
                    if let Err(err) = r {
                        assert_eq!(err.code(), ErrorCode::WalPoisoned, "{err}");
                        break;
                    }
                }
                (blobs, vectors)
            })
        })
        .collect();
    let (mut blobs, mut vectors) = (Vec::new(), Vec::new());
    for t in threads {
        let (b, v) = t.join().unwrap();
        blobs.extend(b);
        vectors.extend(v);
    }
    if e.flush_log().is_err() {
        // Fail-stop: every later write is refused, none retried; reads go on.
        for _ in 0..3 {
            let err = e.set(b"after", b"the fault", SetOptions::default());
            assert_eq!(err.unwrap_err().code(), ErrorCode::WalPoisoned);
            let err = e.vadd(
                b"faulty",
                &VectorSetOptions::default(),
                ElementAdd::new(b"after", &[0.5; 8]),
            );
            assert_eq!(err.unwrap_err().code(), ErrorCode::WalPoisoned);
        }
        assert_eq!(e.flush_log().unwrap_err().code(), ErrorCode::WalPoisoned);
        for (k, v) in &blobs {
            assert_eq!(e.get(k).unwrap().as_ref(), Some(v));
        }
        for (k, v) in &vectors {
            assert_eq!(e.vget(b"faulty", k).unwrap().as_ref(), Some(v));
        }
        assert!(
            e.close().is_err(),
            "closing a poisoned engine reports the fault"
        );
    }
    Some((blobs, vectors))
}

#[test]
fn an_injected_wal_fault_stops_engine_writes_and_reopening_recovers_every_acknowledged_one() {
    let mut ios = vec!["sync"];
    if wal::UringIo::new().is_ok() {
        ios.push("uring");
    }
    let mut poisoned = 0;
    for io in ios {
        for policy in [SyncPolicy::Always, SyncPolicy::Interval(2)] {
            for (trial, fail_after) in [1u64, 2, 3, 5, 8, 13, 21, 34, 55, 89]
                .into_iter()
                .enumerate()
            {
                let short = trial % 2 == 1;
                let what = format!("{io} {policy:?} fail_after={fail_after} short={short}");
                let tmp = tempfile::tempdir().unwrap();
                let plan = FaultPlan {
                    fail_after_ops: Some(fail_after),
                    max_write_bytes: short.then_some(61),
                    ops: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0)),
                    sync_takes: None,
                    ..FaultPlan::default()
                };
                let Some((blobs, vectors)) = write_until_fault(tmp.path(), io, policy, plan) else {
                    continue;
                };
                if blobs.len() + vectors.len() < 450 {
                    poisoned += 1;
                }
                let e = Engine::open(EngineConfig {
                    wal_sync: policy,
                    ..config_on(tmp.path(), io)
                })
                .unwrap_or_else(|err| panic!("{what}: reopen failed: {err}"));
                for (k, v) in &blobs {
                    assert_eq!(e.get(k).unwrap().as_ref(), Some(v), "{what}: blob lost");
                }
                for (k, v) in &vectors {
                    let got = e.vget(b"faulty", k).unwrap();
                    assert_eq!(got.as_ref(), Some(v), "{what}: vector lost");
                }
                e.set(b"after", b"reopen", SetOptions::default())
                    .unwrap_or_else(|err| panic!("{what}: writes fail after reopen: {err}"));
            }
        }
    }
    assert!(poisoned >= 10, "only {poisoned} trials hit the fault");
}

/// Writes `key` until `pred` holds for the outcome or 60 s pass (the writer thread retries
/// every 100 ms: a generous deadline, no timing assertion).
fn write_until(e: &Engine, key: &[u8], pred: impl Fn(&Result<()>) -> bool) -> Result<()> {
    let start = std::time::Instant::now();
    loop {
        let r = e.set(key, b"probe", SetOptions::default()).map(|_| ());
        if pred(&r) {
            return r;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "no such outcome in 60 s; last: {r:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_full_disk_refuses_writes_with_a_clear_error_serves_reads_and_resumes_once_space_is_freed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut ios = vec!["sync"];
    if wal::UringIo::new().is_ok() {
        ios.push("uring");
    }
    for io in ios {
        for policy in [SyncPolicy::Always, SyncPolicy::Interval(5)] {
            let what = format!("{io} {policy:?}");
            let tmp = tempfile::tempdir().unwrap();
            let full = std::sync::Arc::new(AtomicBool::new(false));
            let cfg = EngineConfig {
                wal_sync: policy,
                // Small segments: rollovers (a new file, its pre-allocation) meet the full
                // disk too.
                wal_segment_bytes: 8 << 10,
                wal_fault: Some(FaultPlan {
                    disk_full: Some(full.clone()),
                    ..FaultPlan::default()
                }),
                ..config_on(tmp.path(), io)
            };
            let e = Engine::open(cfg.clone()).unwrap();
            let mut acked: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
            let mut n = 0;
            let mut write = |e: &Engine, acked: &mut Vec<_>| {
                let (k, v) = (format!("k{n}").into_bytes(), vec![b'v'; 100 + n % 50]);
                n += 1;
                let r = e.set(&k, &v, SetOptions::default());
                if r.is_ok() {
                    acked.push((k, v));
                }
                r
            };
            for _ in 0..300 {
                write(&e, &mut acked).unwrap();
            }
            full.store(true, Ordering::SeqCst);
            // The first write to meet the full disk fails, and so does every one after it,
            // at once, naming the cause and what happens next.
            let err = loop {
                if let Err(err) = write(&e, &mut acked) {
                    break err;
                }
            };
            let msg = err.to_string();
            assert_eq!(err.code(), ErrorCode::WalPoisoned, "{what}: {msg}");
            assert!(
                msg.contains("disk full") && msg.contains("resume by themselves"),
                "{what}: {msg}"
            );
            for _ in 0..20 {
                let again = write(&e, &mut acked).expect_err("refused while the disk is full");
                assert!(again.to_string().contains("disk full"), "{what}: {again}");
            }
            // Reads go on: every acknowledged write is served.
            for (k, v) in &acked {
                assert_eq!(e.get(k).unwrap().as_ref(), Some(v), "{what}");
            }
            // Space is freed: writes resume by themselves.
            full.store(false, Ordering::SeqCst);
            write_until(&e, b"probe", |r| r.is_ok()).unwrap();
            for _ in 0..300 {
                write(&e, &mut acked)
                    .unwrap_or_else(|err| panic!("{what}: a write after space was freed: {err}"));
            }
            e.close().unwrap();
            drop(e);
            // Nothing acknowledged was lost.
            let e = Engine::open(EngineConfig {
                wal_fault: None,
                ..cfg
            })
            .unwrap_or_else(|err| panic!("{what}: reopen: {err}"));
            for (k, v) in &acked {
                assert_eq!(e.get(k).unwrap().as_ref(), Some(v), "{what}: lost");
            }
            assert!(acked.len() >= 600, "{what}");
        }
    }
}
