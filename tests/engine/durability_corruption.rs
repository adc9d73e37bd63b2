//! The corruption campaign: random bit flips, truncations and zeroed pages in the WAL
//! segments and snapshot files of a data directory, with the engine stopped, and (a second
//! campaign) while it runs and checkpoints. Each trial checks that opening never panics,
//! never serves a value that was not written, and never loses an acknowledged write
//! silently: an open with the default settings either serves every acknowledged write, or
//! refuses naming the damaged file and offset (and `check_data_dir` refuses too), or cuts a
//! reported torn tail; the open told to start from what precedes the damage serves a state
//! the writes passed through (a prefix of them), never a mix.
//!
//! `CORRUPTION_TRIALS` sets the trial count (CI: 100 per campaign; the long form in
//! perf-reports/reliability.md: `CORRUPTION_TRIALS=1000 cargo test --test
//! durability_corruption -- --nocapture`).

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::*;

const SET: &[u8] = b"vs";

fn trials() -> usize {
    std::env::var("CORRUPTION_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100)
}

fn config(dir: &Path) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: SyncPolicy::Interval(1_000),
        wal_io: IoChoice::Sync,
        wal_segment_bytes: 16 << 10,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        ..Default::default()
    }
}

fn lenient(dir: &Path) -> EngineConfig {
    EngineConfig {
        wal_recovery: WalRecovery::TruncateAtDamage,
        snapshot_recovery: SnapshotRecovery::UseOlder,
        ..config(dir)
    }
}

/// One acknowledged write, in acknowledgement (= LSN) order.
#[derive(Clone, Debug)]
enum Write {
    Blob(Vec<u8>, Vec<u8>),
    Element(Vec<u8>, Vec<u32>),
}

/// What a store holds: blobs and elements (vectors as bit patterns).
#[derive(Default, Debug, PartialEq)]
struct State {
    blobs: BTreeMap<Vec<u8>, Vec<u8>>,
    elements: BTreeMap<Vec<u8>, Vec<u32>>,
}

fn write_one(e: &Engine, rng: &mut SmallRng, i: u32) -> Write {
    // Half the writes overwrite an earlier key.
    let k = if i.is_multiple_of(2) {
        i
    } else {
        rng.gen_range(0..=i)
    };
    if i % 3 == 2 {
        let name = format!("el{k}").into_bytes();
        let v: Vec<f32> = (0..8).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
        e.vadd(
            SET,
            &VectorSetOptions::default(),
            ElementAdd::new(&name, &v),
        )
        .unwrap();
        Write::Element(name, v.iter().map(|x| x.to_bits()).collect())
    } else {
        let key = format!("key{k}").into_bytes();
        let len = rng.gen_range(0..300);
        let value: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        e.set(&key, &value, SetOptions::default()).unwrap();
        Write::Blob(key, value)
    }
}

/// Everything the engine serves.
fn served(e: &Engine) -> State {
    let mut s = State::default();
    let mut cursor = 0;
    loop {
        let page = e.scan(cursor, None, 1000, Some(KeyKind::Blob));
        for key in page.keys {
            let v = e.get(&key).unwrap().expect("a scanned key is present");
            s.blobs.insert(key, v);
        }
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    let card = e.vcard(SET).unwrap();
    for name in e.vrandmember(SET, card as i64).unwrap() {
        let v = e.vget(SET, &name).unwrap().expect("a listed element");
        s.elements
            .insert(name, v.iter().map(|x| x.to_bits()).collect());
    }
    s
}

/// The `c` for which `state` is what the first `c` writes leave, if any: the state an
/// engine serves after damage must be one the writes passed through.
fn prefix_of(writes: &[Write], state: &State) -> Option<usize> {
    // Keys whose value in the prefix differs from `state`, kept up to date write by write.
    let mut blobs: BTreeMap<&[u8], &[u8]> = BTreeMap::new();
    let mut elements: BTreeMap<&[u8], &[u32]> = BTreeMap::new();
    let mut differ = state.blobs.len() + state.elements.len();
    if differ == 0 {
        return Some(0);
    }
    for (i, w) in writes.iter().enumerate() {
        match w {
            Write::Blob(k, v) => {
                let want = state.blobs.get(k).map(|x| x.as_slice());
                let before = blobs.get(k.as_slice()).copied() != want;
                blobs.insert(k, v);
                let after = Some(v.as_slice()) != want;
                differ = differ + usize::from(after) - usize::from(before);
            }
            Write::Element(k, v) => {
                let want = state.elements.get(k).map(|x| x.as_slice());
                let before = elements.get(k.as_slice()).copied() != want;
                elements.insert(k, v);
                let after = Some(v.as_slice()) != want;
                differ = differ + usize::from(after) - usize::from(before);
            }
        }
        if differ == 0 {
            // The earliest prefix that matches; later ones that match too write nothing new.
            let mut c = i + 1;
            while c < writes.len() && rewrites_same(&writes[c], &blobs, &elements) {
                c += 1;
            }
            return Some(c);
        }
    }
    None
}

fn rewrites_same(w: &Write, blobs: &BTreeMap<&[u8], &[u8]>, els: &BTreeMap<&[u8], &[u32]>) -> bool {
    match w {
        Write::Blob(k, v) => blobs.get(k.as_slice()) == Some(&v.as_slice()),
        Write::Element(k, v) => els.get(k.as_slice()) == Some(&v.as_slice()),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() {
            if name == "wal" {
                out.extend(files(&p));
            }
        } else if (name.starts_with("wal-") || name.starts_with("snapshot-"))
            && !name.ends_with(".tmp")
        {
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

/// Damages `file` in place: bit flips, a zeroed 4 KiB page, or (when `may_truncate`) a
/// truncation. Returns what was done.
fn damage(file: &Path, rng: &mut SmallRng, may_truncate: bool) -> String {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .unwrap();
    let len = f.metadata().unwrap().len();
    if len == 0 {
        return "empty, left alone".into();
    }
    // Mostly where the content is: the first 64 KiB (headers, the live records).
    let span = if rng.gen_bool(0.7) {
        len.min(64 << 10)
    } else {
        len
    };
    match rng.gen_range(0..10) {
        0..=5 => {
            let mut at = Vec::new();
            for _ in 0..rng.gen_range(1..=4) {
                let pos = rng.gen_range(0..span);
                let mut b = [0u8];
                f.read_exact_at(&mut b, pos).unwrap();
                b[0] ^= 1 << rng.gen_range(0..8);
                f.write_all_at(&b, pos).unwrap();
                at.push(pos);
            }
            format!("bits flipped at {at:?}")
        }
        6 | 7 => {
            let page = rng.gen_range(0..span.div_ceil(4096)) * 4096;
            let n = (len - page).min(4096);
            f.write_all_at(&vec![0u8; n as usize], page).unwrap();
            format!("page at {page} zeroed")
        }
        _ if may_truncate => {
            let keep = rng.gen_range(0..span);
            f.set_len(keep).unwrap();
            format!("truncated to {keep} of {len}")
        }
        _ => {
            let pos = rng.gen_range(0..span);
            f.write_all_at(&[0xA5], pos).unwrap();
            format!("byte at {pos} overwritten")
        }
    }
}

/// Tallies of one campaign.
#[derive(Default, Debug)]
struct Tally {
    trials: usize,
    intact: usize,
    refused: usize,
    torn_tail_cut: usize,
    covered_skipped: usize,
    tail_lost_unreported: usize,
    lenient_opened: usize,
    lenient_lost_writes: usize,
    lenient_refused: usize,
}

/// Opens `dir` after damage and checks the outcome against the acknowledged `writes`.
fn judge(dir: &Path, writes: &[Write], what: &str, t: &mut Tally) {
    t.trials += 1;
    let full = prefix_state(writes);
    let outcome = catch_unwind(AssertUnwindSafe(|| match Engine::open(config(dir)) {
        Ok(e) => {
            let s = served(&e);
            let report = e.recovery_report().unwrap();
            e.close().unwrap();
            Ok((s, report))
        }
        Err(err) => Err(err),
    }));
    let check = check_data_dir(dir).unwrap_or_else(|e| panic!("{what}: check failed: {e}"));
    match outcome {
        Err(_) => panic!("{what}: opening panicked"),
        Ok(Ok((s, report))) => {
            assert!(
                check.refusal.is_none(),
                "{what}: opened but check refuses: {:?}",
                check.refusal
            );
            if report.wal_covered_damage.is_some() {
                t.covered_skipped += 1;
            }
            if s == full {
                t.intact += 1;
            } else {
                let c = prefix_of(writes, &s)
                    .unwrap_or_else(|| panic!("{what}: served a state the writes never made"));
                if report.wal_damage.is_some() {
                    t.torn_tail_cut += 1;
                } else {
                    // Damage that looks exactly like the log's end (its last records' headers
                    // zeroed or their LSNs changed): indistinguishable from an unfinished
                    // write, so only the last records can be lost this way.
                    t.tail_lost_unreported += 1;
                    assert!(
                        writes.len() - c <= 64,
                        "{what}: {} writes lost without a word",
                        writes.len() - c
                    );
                }
            }
        }
        Ok(Err(err)) => {
            let msg = err.to_string();
            assert!(
                matches!(err, Error::Corrupt { .. }),
                "{what}: refused with a non-corruption error: {msg}"
            );
            assert!(
                msg.contains(&dir.display().to_string()) && msg.contains("offset"),
                "{what}: the refusal names no file and offset: {msg}"
            );
            assert!(
                check.refusal.is_some(),
                "{what}: the open refused ({msg}) but check does not"
            );
            t.refused += 1;
            // Told to start from what precedes the damage: a state the writes made.
            let outcome = catch_unwind(AssertUnwindSafe(|| match Engine::open(lenient(dir)) {
                Ok(e) => {
                    let s = served(&e);
                    e.close().unwrap();
                    Some(s)
                }
                Err(_) => None,
            }));
            match outcome {
                Err(_) => panic!("{what}: the lenient open panicked"),
                Ok(Some(s)) => {
                    let c = prefix_of(writes, &s).unwrap_or_else(|| {
                        panic!("{what}: the lenient open served a state the writes never made")
                    });
                    t.lenient_opened += 1;
                    t.lenient_lost_writes += writes.len() - c;
                }
                Ok(None) => t.lenient_refused += 1,
            }
        }
    }
}

fn prefix_state(writes: &[Write]) -> State {
    let mut s = State::default();
    for w in writes {
        match w {
            Write::Blob(k, v) => {
                s.blobs.insert(k.clone(), v.clone());
            }
            Write::Element(k, v) => {
                s.elements.insert(k.clone(), v.clone());
            }
        }
    }
    s
}

#[test]
fn damage_to_a_stopped_engines_files_is_served_exactly_refused_by_name_or_cut_as_a_torn_tail() {
    let base = tempfile::tempdir().unwrap();
    let mut writes = Vec::new();
    {
        // Two snapshots and a WAL of several segments after the newer one.
        let mut rng = SmallRng::seed_from_u64(7);
        let e = Engine::open(config(base.path())).unwrap();
        for i in 0..900u32 {
            if i == 300 || i == 600 {
                e.checkpoint().unwrap();
            }
            writes.push(write_one(&e, &mut rng, i));
        }
        e.close().unwrap();
    }
    let targets: Vec<PathBuf> = files(base.path())
        .into_iter()
        .map(|p| p.strip_prefix(base.path()).unwrap().to_path_buf())
        .collect();
    let snaps = targets
        .iter()
        .filter(|p| p.to_string_lossy().starts_with("snapshot-"))
        .count();
    assert_eq!(snaps, 2, "{targets:?}");
    assert!(
        targets.len() >= snaps + 3,
        "too few WAL segments: {targets:?}"
    );
    {
        let e = Engine::open(config(base.path())).unwrap();
        assert_eq!(served(&e), prefix_state(&writes), "undamaged");
    }

    let mut rng = SmallRng::seed_from_u64(0xc0_22u64);
    let mut t = Tally::default();
    for trial in 0..trials() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        copy_dir(base.path(), &dir);
        let mut what = format!("trial {trial}:");
        let mut victims = vec![rng.gen_range(0..targets.len())];
        if rng.gen_bool(0.2) {
            victims.push(rng.gen_range(0..targets.len()));
        }
        for v in victims {
            let how = damage(&dir.join(&targets[v]), &mut rng, true);
            what += &format!(" {} {how};", targets[v].display());
        }
        judge(&dir, &writes, &what, &mut t);
    }
    eprintln!("stopped-engine campaign: {t:?}");
    assert!(t.refused > 0 && t.intact > 0, "{t:?}");
}

#[test]
fn damage_while_the_engine_writes_and_checkpoints_is_never_served_and_never_lost_silently() {
    let mut t = Tally::default();
    let runs = trials();
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    for trial in 0..runs {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let e = Arc::new(Engine::open(config(&dir)).unwrap());
        let writes = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (e, writes, stop) = (e.clone(), writes.clone(), stop.clone());
            let seed = rng.gen();
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed);
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < 3_000 {
                    let w = write_one(&e, &mut rng, i);
                    writes.lock().unwrap().push(w);
                    i += 1;
                }
            })
        };
        // Checkpoints while the writer runs, and one damaged file at a random moment
        // between them (snapshots are mapped: damaged in place, never truncated).
        // Round 4 damages after the last checkpoint, while writes go on.
        let mut damage_at = rng.gen_range(0..5);
        let mut what = format!("running trial {trial}:");
        for round in 0..6 {
            std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(1..15)));
            if round == damage_at {
                let fs = files(&dir);
                if fs.is_empty() {
                    damage_at += 1;
                    e.checkpoint().unwrap();
                    continue;
                }
                let f = &fs[rng.gen_range(0..fs.len())];
                let is_wal = f.to_string_lossy().contains("/wal/");
                let how = damage(f, &mut rng, is_wal);
                what += &format!(" {} {how};", f.display());
            }
            if round < 4 {
                e.checkpoint().unwrap();
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(rng.gen_range(1..10)));
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        // Reads while running come from memory: exactly what was acknowledged.
        let writes = Arc::try_unwrap(writes).unwrap().into_inner().unwrap();
        assert_eq!(
            served(&e),
            prefix_state(&writes),
            "{what}: served while running"
        );
        e.flush_log().unwrap();
        Arc::try_unwrap(e).ok().unwrap().close().unwrap();
        judge(&dir, &writes, &what, &mut t);
    }
    eprintln!("running-engine campaign: {t:?}");
    assert_eq!(t.trials, runs);
}
