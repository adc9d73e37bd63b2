//! A golden snapshot of format version 1 (`tests/data/snapshot-v1/`): the engine must keep
//! opening it with the same content, so an unintended change of the snapshot format (or of
//! the store's sections in it) fails here.
//!
//! Regenerate (only for an intended format change, with a new version number):
//! `SUTRA_REGEN_GOLDEN_SNAPSHOT=1 cargo test --test engine durability_golden::`.

use std::path::{Path, PathBuf};

use sutra_cache::*;

/// The clock reading when the golden file was written (2026-11-28T00:00:00Z).
const T0: u64 = 1_795_824_000_000;
/// The LSN of the golden snapshot: every write of `fill` is in it.
const LSN: u64 = 57;

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshot-v1")
}

fn config(dir: &Path, now: u64) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        clock: ManualClock::new(now),
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        ..Default::default()
    }
}

fn vector(i: usize) -> [f32; 4] {
    [
        i as f32 * 0.25,
        -1.5 / (i as f32 + 1.0),
        1e-3 * i as f32,
        -0.0,
    ]
}

fn blob(i: usize) -> Vec<u8> {
    (0..i * 7).map(|j| (j * 31 + i) as u8).collect()
}

/// The golden content: 20 blobs (one with a far expiry, one that expires 1 s after T0),
/// an exact vector set with attributes and an element expiry, and a Q8 set.
fn fill(e: &Engine) {
    for i in 0..20 {
        let expiry = match i {
            3 => Expiry::AtMs(T0 + 86_400_000 * 365),
            4 => Expiry::AtMs(T0 + 1_000),
            _ => Expiry::Never,
        };
        let opts = SetOptions {
            expiry,
            ..Default::default()
        };
        e.set(format!("blob:{i}").as_bytes(), &blob(i), opts)
            .unwrap();
    }
    for i in 0..30 {
        let v = vector(i);
        let name = format!("el:{i}");
        let attrs = format!(r#"{{"i":{i}}}"#);
        let add = ElementAdd {
            attributes: if i % 3 == 0 {
                AttrUpdate::Set(&attrs)
            } else {
                AttrUpdate::Keep
            },
            expiry: if i == 7 {
                Expiry::AtMs(T0 + 1_000)
            } else {
                Expiry::Never
            },
            ..ElementAdd::new(name.as_bytes(), &v)
        };
        e.vadd(b"set:exact", &VectorSetOptions::default(), add)
            .unwrap();
    }
    let q8 = VectorSetOptions {
        storage: Some(StorageMode::Q8),
        ..Default::default()
    };
    for i in 0..7 {
        let v = vector(i + 1);
        e.vadd(
            b"set:q8",
            &q8,
            ElementAdd::new(format!("q:{i}").as_bytes(), &v),
        )
        .unwrap();
    }
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "snap"))
        .collect();
    v.sort();
    v
}

/// Writes the golden content into a fresh directory and returns its snapshot file.
fn write_fresh(dir: &Path) -> PathBuf {
    let e = Engine::open(config(dir, T0)).unwrap();
    fill(&e);
    assert_eq!(e.checkpoint().unwrap(), LSN);
    e.close().unwrap();
    let files = snapshot_files(dir);
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

#[test]
fn the_golden_version_1_snapshot_opens_with_its_content() {
    if std::env::var_os("SUTRA_REGEN_GOLDEN_SNAPSHOT").is_some() {
        let tmp = tempfile::tempdir().unwrap();
        let snap = write_fresh(tmp.path());
        let out = golden_dir();
        std::fs::create_dir_all(&out).unwrap();
        for old in snapshot_files(&out) {
            std::fs::remove_file(old).unwrap();
        }
        std::fs::copy(&snap, out.join(snap.file_name().unwrap())).unwrap();
    }
    let golden = snapshot_files(&golden_dir());
    assert_eq!(golden.len(), 1, "one golden snapshot expected: {golden:?}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(&golden[0], tmp.path().join(golden[0].file_name().unwrap())).unwrap();

    // Opened 2 s after it was written: the two entries expiring after 1 s stay dead.
    let e = Engine::open(config(tmp.path(), T0 + 2_000)).unwrap();
    let report = e.recovery_report().unwrap();
    assert_eq!(report.snapshot_lsn, LSN, "{report:?}");
    assert!(report.snapshots_skipped.is_empty(), "{report:?}");
    assert_eq!(report.records_replayed, 0);
    assert_eq!(e.last_lsn(), LSN);
    for i in 0..20 {
        let got = e.get(format!("blob:{i}").as_bytes()).unwrap();
        if i == 4 {
            assert_eq!(got, None, "an expired blob came back");
        } else {
            assert_eq!(got, Some(blob(i)), "blob:{i}");
        }
    }
    assert_eq!(
        e.ttl(b"blob:3"),
        TtlState::ExpiresInMs(86_400_000 * 365 - 2_000)
    );
    assert_eq!(e.ttl(b"blob:5"), TtlState::NoExpiry);
    for i in 0..30 {
        let name = format!("el:{i}");
        let got = e.vget(b"set:exact", name.as_bytes()).unwrap();
        if i == 7 {
            assert_eq!(got, None, "an expired element came back");
            continue;
        }
        let got = got.unwrap_or_else(|| panic!("{name} missing"));
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&vector(i)), "{name}");
        let attrs = e.vget_attr(b"set:exact", name.as_bytes()).unwrap();
        let want = (i % 3 == 0).then(|| format!(r#"{{"i":{i}}}"#));
        assert_eq!(attrs, want, "{name} attributes");
    }
    let info = e.vinfo(b"set:q8").unwrap().unwrap();
    assert_eq!(e.vcard(b"set:q8").unwrap(), 7, "{info:?}");
    assert_eq!(e.vdim(b"set:q8").unwrap(), Some(4));
    for i in 0..7 {
        let got = e
            .vget(b"set:q8", format!("q:{i}").as_bytes())
            .unwrap()
            .unwrap();
        for (a, b) in got.iter().zip(vector(i + 1)) {
            assert!((a - b).abs() <= 0.02 * b.abs().max(1.0), "q:{i}: {got:?}");
        }
    }
    // Searching works on the loaded index.
    let hits = e
        .vsearch(
            b"set:exact",
            Query::Vector(&vector(12)),
            &SearchParams {
                count: 3,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(
        hits.first().map(|h| h.element.as_slice()),
        Some(&b"el:12"[..])
    );
    e.close().unwrap();
}

#[test]
fn a_fresh_snapshot_has_the_golden_files_magic_and_version() {
    // Section order depends on per-process hash seeds, so whole files differ run to run; the
    // header's magic and format version must not (bumping them means a new golden directory).
    let golden = std::fs::read(&snapshot_files(&golden_dir())[0]).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let fresh = std::fs::read(write_fresh(tmp.path())).unwrap();
    assert_eq!(&golden[..8], b"SUTRASNP");
    assert_eq!(&golden[8..12], &1u32.to_le_bytes());
    assert_eq!(&fresh[..12], &golden[..12]);
    assert_eq!(
        &fresh[16..24],
        &LSN.to_le_bytes(),
        "the header's LSN field moved"
    );
    assert_eq!(
        &fresh[24..32],
        &T0.to_le_bytes(),
        "the creation time field moved"
    );
}

fn graph_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/snapshot-v1-graph")
}

/// 300 elements of 8 dimensions, in a set with an HNSW graph (kind 7 section, graph image
/// version 1). Regenerate (only for an intended format change):
/// `SUTRA_REGEN_GOLDEN_GRAPH=1 cargo test --test engine durability_golden::`.
fn graph_vector(i: usize) -> Vec<f32> {
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..8)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 2_001) as f32 / 1_000.0 - 1.0
        })
        .collect()
}

fn graph_config(dir: &Path) -> EngineConfig {
    EngineConfig {
        index_min_elements: 1,
        ..config(dir, T0)
    }
}

#[test]
fn the_golden_graph_snapshot_restores_its_graph() {
    if std::env::var_os("SUTRA_REGEN_GOLDEN_GRAPH").is_some() {
        let tmp = tempfile::tempdir().unwrap();
        let e = Engine::open(graph_config(tmp.path())).unwrap();
        for i in 0..300 {
            e.vadd(
                b"set:graph",
                &VectorSetOptions::default(),
                ElementAdd::new(format!("g:{i}").as_bytes(), &graph_vector(i)),
            )
            .unwrap();
        }
        e.index_settle();
        e.checkpoint().unwrap();
        e.close().unwrap();
        let out = graph_dir();
        std::fs::create_dir_all(&out).unwrap();
        for old in snapshot_files(&out) {
            std::fs::remove_file(old).unwrap();
        }
        let snap = &snapshot_files(tmp.path())[0];
        std::fs::copy(snap, out.join(snap.file_name().unwrap())).unwrap();
    }
    let golden = snapshot_files(&graph_dir());
    assert_eq!(golden.len(), 1, "one golden snapshot expected: {golden:?}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(&golden[0], tmp.path().join(golden[0].file_name().unwrap())).unwrap();
    let e = Engine::open(graph_config(tmp.path())).unwrap();
    e.index_settle();
    let info = e.vinfo(b"set:graph").unwrap().unwrap();
    // Every node came back from the saved topology: none was inserted again.
    assert_eq!(info.index_restored, 300, "{info:?}");
    assert_eq!(info.index_nodes, 300, "{info:?}");
    for i in (0..300).step_by(23) {
        let hits = e
            .vsearch(
                b"set:graph",
                Query::Vector(&graph_vector(i)),
                &SearchParams {
                    count: 1,
                    ..Default::default()
                },
            )
            .unwrap();
        let top = e.vget(b"set:graph", &hits[0].element).unwrap().unwrap();
        // Cosine: the top hit is the element itself or one pointing the same way.
        let dot: f32 = top.iter().zip(graph_vector(i)).map(|(a, b)| a * b).sum();
        let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            dot / (n(&top) * n(&graph_vector(i))) > 0.9999,
            "query {i}: {hits:?}"
        );
    }
    e.close().unwrap();
}
