//! Damaged files: random bit flips and truncations of the snapshots and WAL segments an engine
//! wrote. Opening never panics; it either opens and serves only values that were written, or
//! fails with an error naming the damaged file.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::wal::{self, FaultPlan};
use sutra_cache::*;

const TRIALS: usize = 1_000;
const SETS: [&[u8]; 2] = [b"exact", b"noquant"];

fn config(dir: &Path) -> EngineConfig {
    config_on(dir, "sync")
}

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

/// (set, element) → every vector written for it, as bit patterns.
type ElementVersions = BTreeMap<(Vec<u8>, Vec<u8>), BTreeSet<Vec<u32>>>;

/// Every version of every blob and element written, to check what a damaged directory serves.
#[derive(Default)]
struct Written {
    blobs: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>>,
    elements: ElementVersions,
}

fn write_round(e: &Engine, w: &mut Written, rng: &mut SmallRng, round: u32, n: u32) {
    for i in 0..n {
        // Half the keys are new, half overwrite an earlier round's key.
        let k = if i % 2 == 0 { i } else { i + round * n };
        let key = format!("key{k}").into_bytes();
        let len = rng.gen_range(0..300);
        let value: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        e.set(&key, &value, SetOptions::default()).unwrap();
        w.blobs.entry(key).or_default().insert(value);

        let set = SETS[(i % 2) as usize];
        let storage = if set == b"exact" {
            StorageMode::Exact
        } else {
            StorageMode::NoQuant
        };
        let name = format!("el{k}").into_bytes();
        let v: Vec<f32> = (0..8).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        let opts = VectorSetOptions {
            storage: Some(storage),
            ..Default::default()
        };
        e.vadd(set, &opts, ElementAdd::new(&name, &v)).unwrap();
        w.elements
            .entry((set.to_vec(), name))
            .or_default()
            .insert(v.iter().map(|x| x.to_bits()).collect());
    }
}

/// A data directory with two snapshots and a WAL tail after the newer one.
fn build(dir: &Path) -> Written {
    let mut w = Written::default();
    let mut rng = SmallRng::seed_from_u64(7);
    let e = Engine::open(config(dir)).unwrap();
    write_round(&e, &mut w, &mut rng, 0, 60);
    e.checkpoint().unwrap();
    write_round(&e, &mut w, &mut rng, 1, 60);
    e.checkpoint().unwrap();
    write_round(&e, &mut w, &mut rng, 2, 60);
    e.flush_log().unwrap();
    e.close().unwrap();
    w
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if std::fs::metadata(&p).unwrap().len() > 0 {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Damages one file at random; returns a description of what was done.
fn damage(file: &Path, rng: &mut SmallRng) -> String {
    let mut bytes = std::fs::read(file).unwrap();
    let len = bytes.len();
    let what = if rng.gen_bool(0.3) {
        let keep = rng.gen_range(0..len);
        bytes.truncate(keep);
        format!("truncated to {keep} of {len} bytes")
    } else {
        // Bias towards the start, where headers and the live records are.
        let span = if rng.gen_bool(0.6) {
            len.min(8192)
        } else {
            len
        };
        let flips = rng.gen_range(1..=4);
        let mut at = Vec::new();
        for _ in 0..flips {
            let pos = rng.gen_range(0..span);
            bytes[pos] ^= 1 << rng.gen_range(0..8);
            at.push(pos);
        }
        format!("bits flipped at {at:?}")
    };
    std::fs::write(file, &bytes).unwrap();
    what
}

/// Checks that everything the engine serves was written; returns the entries seen.
fn check_served(e: &Engine, w: &Written, what: &str) -> usize {
    let mut seen = 0;
    let mut cursor = 0;
    loop {
        let page = e.scan(cursor, None, 1000, Some(KeyKind::Blob));
        for key in page.keys {
            let got = e.get(&key).unwrap().expect("a scanned key is present");
            let versions = w.blobs.get(&key);
            assert!(
                versions.is_some_and(|v| v.contains(&got)),
                "{what}: blob {} is garbage",
                String::from_utf8_lossy(&key)
            );
            seen += 1;
        }
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    for set in SETS {
        let card = e.vcard(set).unwrap();
        for name in e.vrandmember(set, card as i64).unwrap() {
            let got: Vec<u32> = e
                .vget(set, &name)
                .unwrap()
                .expect("a listed element")
                .iter()
                .map(|x| x.to_bits())
                .collect();
            let versions = w.elements.get(&(set.to_vec(), name.clone()));
            assert!(
                versions.is_some_and(|v| v.contains(&got)),
                "{what}: element {} is garbage",
                String::from_utf8_lossy(&name)
            );
            seen += 1;
        }
    }
    seen
}

#[test]
fn damaged_snapshots_and_wal_segments_never_panic_or_serve_garbage() {
    let base = tempfile::tempdir().unwrap();
    let written = build(base.path());
    let targets: Vec<PathBuf> = files(base.path())
        .into_iter()
        .map(|p| p.strip_prefix(base.path()).unwrap().to_path_buf())
        .collect();
    let snaps = targets
        .iter()
        .filter(|p| {
            let name = p.to_string_lossy();
            name.starts_with("snapshot-") && name.ends_with(".snap")
        })
        .count();
    assert_eq!(snaps, 2, "two snapshots expected: {targets:?}");
    eprintln!("damaging {targets:?}");
    assert!(targets.len() > snaps, "no WAL segment: {targets:?}");

    // Undamaged, everything comes back.
    {
        let e = Engine::open(config(base.path())).unwrap();
        let total = written.blobs.len() + written.elements.len();
        assert_eq!(check_served(&e, &written, "undamaged"), total);
    }

    let mut rng = SmallRng::seed_from_u64(0xfa17);
    let (mut opened, mut refused) = (0, 0);
    for trial in 0..TRIALS {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        copy_dir(base.path(), &dir);
        // One damaged file, or (one trial in five) two, so both snapshots can be lost.
        let mut what = format!("trial {trial}:");
        let first = rng.gen_range(0..targets.len());
        let mut victims = vec![first];
        if rng.gen_bool(0.2) {
            victims.push((first + rng.gen_range(1..targets.len())) % targets.len());
        }
        for v in victims {
            let how = damage(&dir.join(&targets[v]), &mut rng);
            what += &format!(" {} {how};", targets[v].display());
        }
        // Both I/O paths read the log on open.
        let io = if trial % 2 == 0 { "sync" } else { "auto" };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            match Engine::open(config_on(&dir, io)) {
                Ok(e) => {
                    check_served(&e, &written, &what);
                    None
                }
                Err(err) => Some(err.to_string()),
            }
        }));
        match outcome {
            Err(_) => panic!("{what}: opening panicked"),
            Ok(None) => opened += 1,
            Ok(Some(msg)) => {
                assert!(
                    msg.contains(&dir.display().to_string()),
                    "{what}: the error names no file: {msg}"
                );
                refused += 1;
            }
        }
    }
    eprintln!("{TRIALS} trials: {opened} opened, {refused} refused with an error");
    assert!(opened > 0 && opened + refused == TRIALS);
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
