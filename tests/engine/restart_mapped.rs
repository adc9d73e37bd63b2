//! Blob values served in place from the snapshot's mapping after a restart: every read,
//! overwrite (same length or not), append, delete, expiry and the next checkpoint see exactly
//! the values written, across several reopenings; a damaged value is refused at open as any
//! damaged section is. Blob values replayed from the log are served from its mapped segments
//! the same way, and stay intact when those segments are freed and their files refilled.

use std::collections::BTreeMap;
use std::path::Path;

use sutra_cache::*;

fn config(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        active_expire_interval_ms: 0,
        ..Default::default()
    }
}

/// Key `i`'s value in generation `g`: big (served mapped) for most keys, small (copied) for
/// every fifth.
fn value(i: usize, g: u8) -> Vec<u8> {
    let len = if i.is_multiple_of(5) {
        7 + i % 50
    } else {
        3072
    };
    (0..len)
        .map(|j| (j as u8).wrapping_mul(31) ^ (i as u8) ^ g)
        .collect()
}

fn check(e: &Engine, model: &BTreeMap<Vec<u8>, Vec<u8>>, n: usize) {
    for i in 0..n {
        let key = format!("k{i}").into_bytes();
        assert_eq!(
            e.get(&key).unwrap().as_deref(),
            model.get(&key).map(|v| &v[..]),
            "k{i}"
        );
    }
}

fn check_all(e: &Engine, model: &BTreeMap<Vec<u8>, Vec<u8>>) {
    for (key, v) in model {
        assert_eq!(
            e.get(key).unwrap().as_deref(),
            Some(&v[..]),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
}

#[test]
fn blobs_served_from_the_mapped_snapshot_read_and_change_like_any_others_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let mut model = BTreeMap::new();
    {
        let e = Engine::open(config(dir.path())).unwrap();
        for i in 0..n {
            let key = format!("k{i}").into_bytes();
            e.set(&key, &value(i, 0), SetOptions::default()).unwrap();
            model.insert(key, value(i, 0));
        }
        e.close().unwrap(); // the closing checkpoint holds every value
    }
    for round in 1..=3u8 {
        let e = Engine::open(config(dir.path())).unwrap();
        assert!(e.recovery_report().unwrap().snapshot.is_some());
        check(&e, &model, n);
        // Changes to values that are (after the first reopen) served from the mapping.
        for i in (round as usize..n).step_by(7) {
            let key = format!("k{i}").into_bytes();
            let v = value(i, round); // same length: the in-place path for owned values
            e.set(&key, &v, SetOptions::default()).unwrap();
            model.insert(key, v);
        }
        for i in (round as usize + 1..n).step_by(11) {
            let key = format!("k{i}").into_bytes();
            let tail = [round; 5];
            let len = e.append(&key, &tail).unwrap();
            let v = model.entry(key).or_default();
            v.extend_from_slice(&tail);
            assert_eq!(len, v.len());
        }
        for i in (round as usize + 2..n).step_by(13) {
            let key = format!("k{i}").into_bytes();
            e.del(&[&key[..]]).unwrap();
            model.remove(&key);
        }
        check(&e, &model, n);
        if round == 2 {
            // A checkpoint while values are mapped copies them from the mapping.
            e.checkpoint().unwrap();
        }
        e.close().unwrap();
    }
    let e = Engine::open(config(dir.path())).unwrap();
    check(&e, &model, n);
    // The values outlive the engine's other parts only as long as it: read after a close of
    // another value's engine handle and a drop.
    let again = e.get(b"k1").unwrap();
    drop(e);
    assert_eq!(again.as_deref(), model.get(&b"k1"[..]).map(|v| &v[..]));
}

#[test]
fn a_flipped_byte_inside_a_mapped_value_is_refused_at_open_naming_the_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![0x5au8; 4096 * 3];
    {
        let e = Engine::open(EngineConfig {
            checkpoint_on_close: false,
            ..config(dir.path())
        })
        .unwrap();
        e.set(b"big", &big, SetOptions::default()).unwrap();
        e.checkpoint().unwrap();
        e.close().unwrap();
    }
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "snap"))
        .unwrap();
    let mut bytes = std::fs::read(&snap).unwrap();
    // Inside the value (the only pattern of 0x5a bytes in the file), deep in its pages.
    let at = bytes
        .windows(64)
        .position(|w| w.iter().all(|&b| b == 0x5a))
        .unwrap()
        + 4096 * 2;
    bytes[at] ^= 0x01;
    std::fs::write(&snap, &bytes).unwrap();
    match Engine::open(config(dir.path())) {
        Err(Error::Corrupt { file, reason, .. }) => {
            assert_eq!(file, snap.display().to_string());
            assert!(reason.contains("checksum"), "{reason}");
        }
        Err(other) => panic!("unexpected error {other}"),
        Ok(e) => panic!(
            "opened over a damaged snapshot: big = {:?} bytes",
            e.get(b"big").unwrap().map(|v| v.len())
        ),
    }
    // The log still holds the write: the lenient open replays it from the start.
    let e = Engine::open(EngineConfig {
        snapshot_recovery: SnapshotRecovery::UseOlder,
        ..config(dir.path())
    })
    .unwrap();
    assert_eq!(e.get(b"big").unwrap(), Some(big));
}

#[test]
fn blobs_replayed_from_the_log_stay_intact_when_its_segments_are_recycled_and_refilled() {
    // No closing snapshot: every open replays the log since the last checkpoint, and big
    // replayed values are served from the log's mapped segments. Checkpoints then free those
    // segments and later writes fill the freed files: a value still pointing into one must
    // keep its bytes (the log deletes such a file instead of reusing it).
    let dir = tempfile::tempdir().unwrap();
    let n = 300;
    let cfg = EngineConfig {
        checkpoint_on_close: false,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        wal_segment_bytes: 256 << 10,
        ..config(dir.path())
    };
    let mut model = BTreeMap::new();
    {
        let e = Engine::open(cfg.clone()).unwrap();
        for i in 0..n {
            let key = format!("k{i}").into_bytes();
            e.set(&key, &value(i, 0), SetOptions::default()).unwrap();
            model.insert(key, value(i, 0));
        }
        e.close().unwrap();
    }
    for round in 1..=3u8 {
        let e = Engine::open(cfg.clone()).unwrap();
        assert!(e.recovery_report().unwrap().records_replayed > 0);
        check_all(&e, &model);
        // Two checkpoints: the second frees the segments the replayed values lie in.
        e.checkpoint().unwrap();
        for i in (round as usize..n).step_by(3) {
            let key = format!("k{i}").into_bytes();
            let v = value(i, round);
            e.set(&key, &v, SetOptions::default()).unwrap();
            model.insert(key, v);
        }
        e.checkpoint().unwrap();
        // About four segments of new keys: they take the freed files, and are the values
        // the next open replays.
        for j in 0..300 {
            let key = format!("fill{round}-{j}").into_bytes();
            let v = value(j, round ^ 0xa5);
            e.set(&key, &v, SetOptions::default()).unwrap();
            model.insert(key, v);
        }
        check_all(&e, &model);
        e.close().unwrap();
        let e = Engine::open(cfg.clone()).unwrap();
        check_all(&e, &model);
        e.close().unwrap();
    }
}
