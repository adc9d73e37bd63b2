//! Awaiting WAL acknowledgements without blocking a thread: `Wal::wait_for_async` and
//! `Engine::deferring_durability` (what the server's connections use), on every I/O path.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use sutra_cache::wal::{FaultPlan, IoChoice, SyncPolicy, UringIo, Wal, WalOptions};
use sutra_cache::{Engine, EngineConfig, ErrorCode, SetOptions};

fn io_paths() -> Vec<IoChoice> {
    match UringIo::new() {
        Ok(_) => vec![IoChoice::Sync, IoChoice::Uring],
        Err(e) if std::env::var("SUTRA_WAL_NO_URING").as_deref() == Ok("1") => {
            eprintln!("io_uring unavailable ({e}); testing the plain path only");
            vec![IoChoice::Sync]
        }
        Err(e) => panic!("io_uring cannot be set up here ({e}); set SUTRA_WAL_NO_URING=1"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// Awaits `f`, failing the test instead of hanging when a wake-up is lost.
async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("an async WAL wait never woke up")
}

#[test]
fn async_waits_resolve_only_once_the_policy_acknowledges_and_none_is_lost() {
    let rt = runtime();
    for io in io_paths() {
        for policy in [SyncPolicy::Always, SyncPolicy::Interval(50)] {
            let tmp = tempfile::tempdir().unwrap();
            let (wal, _) = Wal::open(
                tmp.path(),
                WalOptions {
                    sync: policy,
                    io,
                    segment_bytes: 64 << 10, // rollovers on the way
                    ..WalOptions::default()
                },
            )
            .unwrap();
            let wal = Arc::new(wal);
            let tasks: Vec<_> = (0..32u8)
                .map(|t| {
                    let wal = wal.clone();
                    rt.spawn(async move {
                        let mut lsns = Vec::new();
                        for i in 0..40u32 {
                            let payload = vec![t; 100 + (i as usize * 37) % 900];
                            let lsn = wal.enqueue(&[(t, &payload)]).unwrap().end - 1;
                            bounded(wal.wait_for_async(lsn)).await.unwrap();
                            // Resolved means acknowledged under the policy, never earlier.
                            match policy {
                                SyncPolicy::Always => assert!(wal.durable_lsn() >= lsn),
                                _ => assert!(wal.written_lsn() >= lsn),
                            }
                            lsns.push(lsn);
                        }
                        lsns
                    })
                })
                .collect();
            let mut all: Vec<u64> = rt.block_on(async {
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.unwrap());
                }
                all
            });
            all.sort_unstable();
            assert_eq!(
                all,
                (1..=32 * 40).collect::<Vec<u64>>(),
                "{io:?} {policy:?}"
            );
            // A wait for an LSN never handed out fails at once instead of hanging.
            let e = rt
                .block_on(bounded(wal.wait_for_async(10_000)))
                .unwrap_err();
            assert_eq!(e.code(), ErrorCode::Closed);
            wal.close().unwrap();
            let (_, replay) = Wal::open(tmp.path(), WalOptions::default()).unwrap();
            assert_eq!(replay.records.len(), 32 * 40);
        }
    }
}

#[test]
fn async_waits_fail_when_the_wal_is_poisoned_and_every_acknowledged_record_survives() {
    let rt = runtime();
    for io in io_paths() {
        for fail_after in [3u64, 6, 11, 25] {
            let tmp = tempfile::tempdir().unwrap();
            let plan = FaultPlan {
                fail_after_ops: Some(fail_after),
                max_write_bytes: None,
                ops: Arc::new(AtomicU64::new(0)),
                sync_takes: None,
                ..FaultPlan::default()
            };
            let opened = Wal::open(
                tmp.path(),
                WalOptions {
                    sync: SyncPolicy::Always,
                    io,
                    fault: Some(plan),
                    ..WalOptions::default()
                },
            );
            let Ok((wal, _)) = opened else { continue }; // failed while making the segment
            let wal = Arc::new(wal);
            let tasks: Vec<_> = (0..8u8)
                .map(|t| {
                    let wal = wal.clone();
                    rt.spawn(async move {
                        let mut acked = Vec::new();
                        for i in 0..50u8 {
                            let payload = [t, i];
                            let lsn = match wal.enqueue(&[(t, &payload)]) {
                                Ok(r) => r.end - 1,
                                Err(e) => {
                                    assert_eq!(e.code(), ErrorCode::WalPoisoned, "{e}");
                                    break;
                                }
                            };
                            match bounded(wal.wait_for_async(lsn)).await {
                                Ok(()) => acked.push((lsn, payload.to_vec())),
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
            let acked: Vec<(u64, Vec<u8>)> = rt.block_on(async {
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.unwrap());
                }
                all
            });
            assert!(
                wal.poisoned().is_some(),
                "the fault after {fail_after} ops hit"
            );
            drop(wal);
            let (_, replay) = Wal::open(
                tmp.path(),
                WalOptions {
                    io,
                    ..WalOptions::default()
                },
            )
            .unwrap();
            for (lsn, payload) in &acked {
                let r = replay
                    .records
                    .iter()
                    .find(|r| r.lsn == *lsn)
                    .unwrap_or_else(|| panic!("acknowledged LSN {lsn} lost ({io:?})"));
                assert_eq!(&r.payload, payload);
            }
        }
    }
}

fn engine(dir: &std::path::Path, fault: Option<FaultPlan>) -> Engine {
    Engine::open(EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        wal_fault: fault,
        ..Default::default()
    })
    .unwrap()
}

#[test]
fn deferred_engine_writes_are_acknowledged_by_the_future_and_survive_a_reopen() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    {
        let e = Arc::new(engine(tmp.path(), None));
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let e = e.clone();
                rt.spawn(async move {
                    for i in 0..20 {
                        let key = format!("k{t}:{i}");
                        let (r, durable) = e.deferring_durability(|w| {
                            w.set(key.as_bytes(), key.as_bytes(), SetOptions::default())
                        });
                        r.unwrap();
                        bounded(durable).await.unwrap();
                    }
                })
            })
            .collect();
        rt.block_on(async {
            for t in tasks {
                t.await.unwrap();
            }
        });
        // Nothing written: nothing to wait for.
        let (r, durable) = e.deferring_durability(|w| w.engine().get(b"k0:0"));
        assert_eq!(r.unwrap().as_deref(), Some(&b"k0:0"[..]));
        assert!(durable.is_ready());
        rt.block_on(durable).unwrap();
        // Outside `deferring_durability`, writes wait as before.
        e.set(b"plain", b"v", SetOptions::default()).unwrap();
        e.close().unwrap();
    }
    let e = engine(tmp.path(), None);
    for t in 0..16 {
        for i in 0..20 {
            let key = format!("k{t}:{i}");
            assert_eq!(
                e.get(key.as_bytes()).unwrap().as_deref(),
                Some(key.as_bytes())
            );
        }
    }
    assert_eq!(e.get(b"plain").unwrap().as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_deferred_write_hit_by_an_io_fault_fails_through_its_future() {
    let rt = runtime();
    let tmp = tempfile::tempdir().unwrap();
    let ops = Arc::new(AtomicU64::new(0));
    let e = engine(
        tmp.path(),
        Some(FaultPlan {
            fail_after_ops: Some(1_000_000),
            max_write_bytes: None,
            ops: ops.clone(),
            sync_takes: None,
            ..FaultPlan::default()
        }),
    );
    let (r, durable) = e.deferring_durability(|w| w.set(b"a", b"1", SetOptions::default()));
    r.unwrap();
    rt.block_on(bounded(durable)).unwrap();
    // The next operation of the I/O path fails: the write's future reports it.
    let e = {
        drop(e);
        let ops = Arc::new(AtomicU64::new(0));
        engine(
            tmp.path(),
            Some(FaultPlan {
                fail_after_ops: Some(0),
                max_write_bytes: None,
                ops,
                sync_takes: None,
                ..FaultPlan::default()
            }),
        )
    };
    let (r, durable) = e.deferring_durability(|w| w.set(b"b", b"2", SetOptions::default()));
    let failed = match r {
        Err(e) => e,
        Ok(_) => rt.block_on(bounded(durable)).unwrap_err(),
    };
    assert_eq!(failed.code(), ErrorCode::WalPoisoned, "{failed}");
    // Fail-stop: later writes fail too.
    let (r, durable) = e.deferring_durability(|w| w.set(b"c", b"3", SetOptions::default()));
    let failed = match r {
        Err(e) => e,
        Ok(_) => rt.block_on(bounded(durable)).unwrap_err(),
    };
    assert_eq!(failed.code(), ErrorCode::WalPoisoned, "{failed}");
    drop(e);
    let e = engine(tmp.path(), None);
    assert_eq!(e.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
}
