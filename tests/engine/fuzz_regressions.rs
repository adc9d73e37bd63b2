//! Inputs the coverage-guided fuzz targets under `fuzz/` found failing, each replayed here
//! through the public interface next to the fix it led to (the raw inputs are also kept in
//! `fuzz/corpus/<target>/regressions/`, which `scripts/fuzz.sh smoke` runs first).

use std::sync::Arc;

use sutra_cache::{Engine, EngineConfig, Expiry, ManualClock, SetOptions, SnapshotRecovery};

fn engine(clock: &Arc<ManualClock>) -> Engine {
    Engine::open(EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        ..EngineConfig::default()
    })
    .unwrap()
}

/// `commands` target: `SET k0 v EX 6`, the clock moves 6.7 s, then `VREM k0 e1` answered
/// WRONGTYPE (and so did VSETATTR) where Redis answers 0: the element writes type-checked the
/// key before reclaiming its passed TTL, so a string that had expired still counted.
#[test]
fn element_writes_to_a_string_key_whose_ttl_passed_see_no_key_rather_than_a_wrong_type() {
    let clock = ManualClock::new(1_700_000_000_000);
    let e = engine(&clock);
    let ttl = SetOptions {
        expiry: Expiry::InMs(6_000),
        ..SetOptions::default()
    };
    e.set(b"k0", b"v", ttl).unwrap();
    // Before the TTL passes the key is a string: WRONGTYPE is right.
    assert!(e.vrem(b"k0", b"e1").is_err());
    clock.advance(6_741);
    assert!(!e.vrem(b"k0", b"e1").unwrap());
    assert!(!e.vset_attr(b"k0", b"e1", Some("{\"a\":24}")).unwrap());
    assert!(!e.vpersist(b"k0", b"e1").unwrap());
    assert!(!e.vexpire(b"k0", b"e1", Expiry::InMs(10)).unwrap());
    assert_eq!(e.vcard(b"k0").unwrap(), 0);
    assert_eq!(e.get(b"k0").unwrap(), None);
}

/// The sections of a `snapshot_load` input in its structured form (`fuzz/src/lib.rs`): mode
/// byte, LSN byte, then (kind % 9, tag, u16 length, bytes) repeated.
fn snapshot_sections_of_input(data: &[u8]) -> (u64, Vec<(u32, u32, Vec<u8>)>) {
    assert_eq!(data[0] & 1, 0, "a structured input");
    let lsn = u64::from(data[1]);
    let mut at = 2;
    let mut sections = Vec::new();
    while at < data.len() && sections.len() < 32 {
        let byte = |i: usize| data.get(i).copied().unwrap_or(0);
        let (kind, tag) = (u32::from(byte(at) % 9), u32::from(byte(at + 1)));
        let len = usize::from(u16::from_le_bytes([byte(at + 2), byte(at + 3)]));
        let start = (at + 4).min(data.len());
        let end = (start + len).min(data.len());
        sections.push((kind, tag, data[start..end].to_vec()));
        at = end;
    }
    (lsn, sections)
}

/// `snapshot_load` target: a checkpoint whose vector-set section carries the set uid
/// u64::MAX (checksums valid) overflowed `uid + 1` while loading (a panic in a debug build,
/// a wrapped uid in a release one). The loader now refuses the section as corrupt: a bad
/// snapshot refuses the open, naming the file and the reason (nothing changed on disk); told
/// to fall back (`SnapshotRecovery::UseOlder`), the open skips it with the reason. Never a
/// panic either way.
#[test]
fn a_snapshot_whose_set_uid_is_the_largest_u64_is_refused_as_corrupt_not_a_panic() {
    let input = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/snapshot_load/regressions/set-uid-max"),
    )
    .unwrap();
    let (lsn, sections) = snapshot_sections_of_input(&input);
    let dir = tempfile::tempdir().unwrap();
    let borrowed: Vec<(u32, u32, &[u8])> =
        sections.iter().map(|(k, t, b)| (*k, *t, &b[..])).collect();
    sutra_cache::fuzzing::write_snapshot(dir.path(), lsn, &borrowed).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    let config = |recovery| EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        snapshot_recovery: recovery,
        ..EngineConfig::default()
    };
    match Engine::open(config(SnapshotRecovery::Refuse)) {
        Err(sutra_cache::Error::Corrupt { file, reason, .. }) => {
            assert!(file.contains("snapshot-"), "names the snapshot: {file:?}");
            assert!(reason.contains("set uid out of range"), "{reason}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a snapshot with an impossible set uid was loaded"),
    }
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    for name in &before {
        assert!(
            after.contains(name),
            "{name:?} is still there after the refusal"
        );
    }
    // Told to fall back, the open skips the snapshot with the reason.
    let e = Engine::open(config(SnapshotRecovery::UseOlder)).unwrap();
    let report = e.recovery_report().unwrap();
    assert!(
        report
            .snapshots_skipped
            .iter()
            .any(|r| r.contains("set uid out of range")),
        "{:?}",
        report.snapshots_skipped
    );
    e.close().unwrap();
}

/// `snapshot_load` target: a checkpoint whose blob section (checksums valid) names database
/// 2^32-ish for a key made the load grow the per-database counters to that index: an
/// allocation of 137 GB, an abort. A database index beyond the configured `databases` is now
/// refused as corrupt like any other damaged section (Redis refuses an RDB that selects a
/// database it does not have): the open names the snapshot and the reason.
#[test]
fn a_snapshot_key_in_a_database_beyond_the_configured_ones_is_refused_as_corrupt_not_an_abort() {
    let input = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/corpus/snapshot_load/regressions/blob-db-out-of-range"),
    )
    .unwrap();
    let (lsn, sections) = snapshot_sections_of_input(&input);
    let dir = tempfile::tempdir().unwrap();
    let borrowed: Vec<(u32, u32, &[u8])> =
        sections.iter().map(|(k, t, b)| (*k, *t, &b[..])).collect();
    sutra_cache::fuzzing::write_snapshot(dir.path(), lsn, &borrowed).unwrap();
    let config = |recovery| EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        snapshot_recovery: recovery,
        ..EngineConfig::default()
    };
    match Engine::open(config(SnapshotRecovery::Refuse)) {
        Err(sutra_cache::Error::Corrupt { file, reason, .. }) => {
            assert!(file.contains("snapshot-"), "names the snapshot: {file:?}");
            assert!(reason.contains("database index out of range"), "{reason}");
        }
        Err(e) => panic!("refused for another reason: {e}"),
        Ok(_) => panic!("a snapshot with a key in database 2^32 was loaded"),
    }
    // Told to fall back, the open skips the snapshot with the reason.
    let e = Engine::open(config(SnapshotRecovery::UseOlder)).unwrap();
    let report = e.recovery_report().unwrap();
    assert!(
        report
            .snapshots_skipped
            .iter()
            .any(|r| r.contains("database index out of range")),
        "{:?}",
        report.snapshots_skipped
    );
    e.close().unwrap();
}

/// `filter_expr` target ("hangs", not crashes): a FILTER holding a long run of operators,
/// `0 || ... 07!!!!…` with 13,525 `!`, took 4 s to compile (in the instrumented build) and
/// evaluate: the lexer read the whole remaining run of operator characters for every operator
/// it took from it, n²/2 steps. Through `VSIM … FILTER` or the C ABI a 1 MB expression would
/// have held a core for hours. The lexer now reads at most five bytes of the run. A quarter
/// of a megabyte of `!` (and of `not `) compiles and evaluates here; with the quadratic lexer
/// it was 3·10¹⁰ steps, so this test would not finish.
#[test]
fn a_filter_with_a_long_run_of_operators_compiles_in_linear_time() {
    use sutra_cache::Filter;
    let n = 256 * 1024;
    let mut bangs = vec![b'!'; n];
    bangs.extend_from_slice(b".a");
    let f = Filter::compile_arg(&bangs).unwrap();
    // An even number of `!`: `.a` itself.
    assert!(f.matches(Some("{\"a\":1}")));
    assert!(!f.matches(Some("{\"a\":0}")));
    let nots = b"not ".repeat(n / 4 + 1);
    let mut odd = nots.clone();
    odd.extend_from_slice(b"1");
    assert!(!Filter::compile_arg(&odd).unwrap().matches(Some("{}")));
    // A run the lexer cannot take apart is still refused where it stops making sense.
    let mut bad = vec![b'!'; n];
    bad.extend_from_slice(b"nullx");
    assert!(Filter::compile_arg(&bad).is_err());
}
