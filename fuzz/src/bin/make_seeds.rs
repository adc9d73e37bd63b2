//! Writes the seeds of the `wal_decode` and `snapshot_load` targets (and of `wal_open` and
//! `snapshot_open`, which take the same inputs) from a real data
//! directory (blobs with TTLs, vector sets with attributes, removals), so the fuzzer starts
//! from files the engine writes. `cargo run --release --bin make_seeds` (idempotent).
use std::path::Path;

use sutra_cache::{Engine, EngineConfig};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let dir = tempfile::tempdir().unwrap();
    let config = || EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        wal_segment_bytes: 1 << 20,
        active_expire_interval_ms: 0,
        index_min_elements: 2,
        ..EngineConfig::default()
    };
    let mut s = sutra_cache::fuzzing::Session::with_engine(
        std::sync::Arc::new(Engine::open(config()).unwrap()),
        sutra_cache::ManualClock::new(0),
    );
    for cmd in [
        "SET k1 v1",
        "SET k2 v2 EX 1000",
        "VADD s VALUES 3 1 2 3 e1 SETATTR {\"a\":1}",
        "VADD s VALUES 3 3 2 1 e2",
        "VADD s VALUES 3 0 1 0 e3 EX 1000",
        "VADD q VALUES 2 1 0 e1 Q8",
        "VADD b VALUES 2 1 0 e1 BIN",
        "VREM s e3",
        "DEL k1",
        "MSET m1 a m2 b",
        "EXPIRE m1 100",
        "VSETATTR s e2 {\"b\":\"x\"}",
    ] {
        let args: Vec<bytes::Bytes> = cmd
            .split(' ')
            .map(|w| w.as_bytes().to_vec().into())
            .collect();
        s.run(&args, false).unwrap();
    }
    drop(s);
    let wal = dir.path().join("wal");
    let seg = std::fs::read_dir(&wal)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .unwrap();
    let bytes = std::fs::read(&seg).unwrap();
    // The segment is preallocated: keep its records, not the zeros after them.
    let end = bytes.len() - bytes.iter().rev().take_while(|&&b| b == 0).count();
    let end = end.div_ceil(8) * 8;
    let mut raw = vec![1u8];
    raw.extend_from_slice(&bytes[..end.min(bytes.len())]);
    let w = root.join("wal_decode");
    std::fs::create_dir_all(&w).unwrap();
    std::fs::write(w.join("segment-of-a-session"), &raw).unwrap();
    // The same records as (kind, payload) pairs.
    let mut structured = vec![0u8];
    let mut at = 64;
    while let Ok(r) = sutra_cache::wal::format::decode_record(
        &bytes,
        at,
        u64::from_le_bytes(bytes[16..24].try_into().unwrap()),
        None,
    ) {
        structured.push(r.kind);
        structured.extend_from_slice(&(r.payload.len() as u16).to_le_bytes());
        structured.extend_from_slice(r.payload);
        at += r.size;
    }
    std::fs::write(w.join("records-of-a-session"), &structured).unwrap();
    // A checkpoint: the snapshot file, raw and as sections.
    let engine = Engine::open(config()).unwrap();
    engine.checkpoint().unwrap();
    let snap = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "snap"))
        .unwrap();
    let sn = root.join("snapshot_load");
    std::fs::create_dir_all(&sn).unwrap();
    let (lsn, sections) = sutra_cache::fuzzing::snapshot_sections(&snap).unwrap();
    let mut structured = vec![0u8, lsn as u8];
    for (kind, tag, bytes) in &sections {
        structured.push(*kind as u8);
        structured.push(*tag as u8);
        structured.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        structured.extend_from_slice(bytes);
    }
    std::fs::write(sn.join("sections-of-a-checkpoint"), &structured).unwrap();
    // The raw file: the same checkpoint cut to its non-empty sections of the first kinds
    // (each section is 4 KiB-aligned: the whole file would be a large seed).
    let small = tempfile::tempdir().unwrap();
    let mut kept: Vec<(u32, u32, &[u8])> = Vec::new();
    for (kind, tag, bytes) in &sections {
        if !bytes.is_empty() && !kept.iter().any(|k| k.0 == *kind) {
            kept.push((*kind, *tag, bytes));
        }
    }
    kept.truncate(3);
    let path = sutra_cache::fuzzing::write_snapshot(small.path(), lsn, &kept).unwrap();
    let mut raw = vec![1u8];
    raw.extend_from_slice(&std::fs::read(path).unwrap());
    std::fs::write(sn.join("file-of-a-checkpoint"), &raw).unwrap();
    engine.close().unwrap();
    // The end-to-end targets (a whole data directory's open) take the same inputs.
    for (from, to, names) in [
        (
            "wal_decode",
            "wal_open",
            ["segment-of-a-session", "records-of-a-session"],
        ),
        (
            "snapshot_load",
            "snapshot_open",
            ["sections-of-a-checkpoint", "file-of-a-checkpoint"],
        ),
    ] {
        std::fs::create_dir_all(root.join(to)).unwrap();
        for name in names {
            std::fs::copy(root.join(from).join(name), root.join(to).join(name)).unwrap();
        }
    }
    println!(
        "seeds written: {} sections, segment {} bytes",
        sections.len(),
        end
    );
}
