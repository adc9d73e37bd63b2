//! Opening a WAL with no segment yet: the open only stages the first segment (its header
//! written); pre-allocation, fdatasync, the live name and the directory's fsync are the
//! writer thread's first job, and no record is acknowledged as durable before them.

use std::fs;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sutra_cache::wal::{FaultPlan, IoChoice, SyncPolicy, Wal, WalOptions};
use sutra_cache::ErrorCode;

const SEGMENT: u64 = 8 << 20;

fn opts(sync: SyncPolicy, fault: Option<FaultPlan>) -> WalOptions {
    WalOptions {
        sync,
        io: IoChoice::Sync,
        segment_bytes: SEGMENT,
        fault,
        ..WalOptions::default()
    }
}

#[test]
fn opening_an_empty_wal_does_one_write_and_leaves_preallocation_and_syncs_to_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let ops = Arc::new(AtomicU64::new(0));
    // Every I/O operation after the first fails. Made on the opener's thread, the segment
    // (pre-allocation, header, fdatasync) would fail the open itself.
    let (wal, replay) = Wal::open(
        tmp.path(),
        opts(
            SyncPolicy::Always,
            Some(FaultPlan {
                fail_after_ops: Some(1),
                ops: ops.clone(),
                ..FaultPlan::default()
            }),
        ),
    )
    .expect("the open does only the header's write");
    assert!(replay.records.is_empty());
    // The writer thread's pre-allocation is the second operation: it fails, and fail-stop
    // refuses every append from then on, naming what failed.
    let err = wal.append(1, b"x").unwrap_err();
    assert_eq!(err.code(), ErrorCode::WalPoisoned, "{err}");
    let text = err.to_string();
    assert!(
        text.contains("segment creation") && text.contains("allocate is operation 2"),
        "{text}"
    );
    assert!(ops.load(Ordering::SeqCst) >= 2);
    drop(wal);
    // Nothing was published: no live segment, and a reopen (without faults) starts afresh.
    let names = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("wal-"))
            .collect();
        v.sort();
        v
    };
    assert!(
        !names(tmp.path()).iter().any(|n| n.ends_with(".seg")),
        "{:?}",
        names(tmp.path())
    );
    let (wal, replay) = Wal::open(tmp.path(), opts(SyncPolicy::Always, None)).unwrap();
    assert!(replay.records.is_empty());
    assert_eq!(wal.append(1, b"after").unwrap(), 1);
    wal.close().unwrap();
    assert_eq!(names(tmp.path()), vec![format!("wal-{:020}.seg", 1)]);
}

#[test]
fn a_staged_first_segment_is_published_preallocated_and_its_records_survive_a_reopen() {
    for sync in [SyncPolicy::Always, SyncPolicy::Interval(5)] {
        let tmp = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(tmp.path(), opts(sync, None)).unwrap();
        let mut last = 0;
        for i in 0..100u32 {
            last = wal.append(2, &i.to_le_bytes()).unwrap();
        }
        assert_eq!(last, 100);
        wal.close().unwrap();
        drop(wal);
        let mut files: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| e.file_name().to_string_lossy().starts_with("wal-"))
            .collect();
        assert_eq!(
            files.len(),
            1,
            "{sync:?}: one live segment, no staging file left"
        );
        let seg = files.pop().unwrap();
        assert_eq!(
            seg.file_name().to_string_lossy(),
            format!("wal-{:020}.seg", 1)
        );
        assert!(
            seg.metadata().unwrap().len() >= SEGMENT,
            "{sync:?}: pre-allocated to the segment size"
        );
        let (_wal, replay) = Wal::open(tmp.path(), opts(sync, None)).unwrap();
        assert_eq!(replay.records.len(), 100, "{sync:?}");
        for (i, r) in replay.records.iter().enumerate() {
            assert_eq!(r.lsn, i as u64 + 1);
            assert_eq!(r.payload, (i as u32).to_le_bytes());
        }
    }
}
