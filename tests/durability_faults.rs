//! Disk faults under the WAL (through its fault seam): writes refused, reads served, nothing
//! acknowledged lost. (Damaged files: `tests/durability_corruption.rs`.)

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
