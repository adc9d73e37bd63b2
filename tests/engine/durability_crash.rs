//! Process-crash test through the engine: this test binary re-runs itself as a child that
//! opens an [`Engine`] on a data directory and writes blobs (`set`) and vectors (`vadd`) from
//! several threads while another thread checkpoints, printing every acknowledgement (key and a
//! hash of the value) on stdout. The parent SIGKILLs it at a random moment, reopens the engine,
//! and checks every acknowledged write byte for byte, and that everything present is a value
//! that was written (values are derived from their keys, so any stray byte shows). Kills
//! alternate between the io_uring and plain WAL paths; each reopen uses the other one.
//!
//! `SUTRA_SOAK_ITERS=n` runs `n` kills per sync policy instead of 25 (see
//! `scripts/soak-crash.sh`); `SUTRA_SOAK_SEED` repeats a run's kill moments and the
//! children's choices (printed at the start; the machine's timing is not repeated).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::wal;
use sutra_cache::*;

use crate::crash;

const CHILD_ENV: &str = "SUTRA_ENGINE_CRASH_CHILD";
const TEST_NAME: &str = "acknowledged_engine_writes_survive_sigkill_at_a_random_moment";
const DIM: usize = 16;
const WRITERS: usize = 3;
const SETS: [&[u8]; 2] = [b"vs0", b"vs1"];
/// Elements from which a set has an HNSW graph.
const GRAPH_MIN: usize = 64;
/// The line a settled child prints once its checkpoint of settled graphs is durable.
const CHECKPOINTED: &str = "C checkpointed";

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The blob written under `key`: its length and bytes follow from the key alone.
fn blob_for(key: &[u8]) -> Vec<u8> {
    let mut rng = SmallRng::seed_from_u64(fnv(key));
    let len = rng.gen_range(1..700);
    (0..len).map(|_| rng.gen()).collect()
}

/// The vector written for element `name` (finite, varied, sign bits set).
fn vector_for(name: &[u8]) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(fnv(name) ^ 0x9e37_79b9);
    (0..DIM).map(|_| rng.gen_range(-4.0f32..4.0)).collect()
}

fn vector_hash(v: &[f32]) -> u64 {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    fnv(&bytes)
}

fn config(dir: &Path, policy: SyncPolicy, io: &str) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: policy,
        wal_io: io.parse().expect("an I/O path"),
        wal_segment_bytes: 256 << 10,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close: false,
        // Sets get their HNSW graph early, so checkpoints taken mid-write hold graphs too.
        index_min_elements: GRAPH_MIN,
        ..Default::default()
    }
}

fn policy_named(name: &str) -> SyncPolicy {
    match name {
        "always" => SyncPolicy::Always,
        _ => SyncPolicy::Interval(20),
    }
}

/// The child: writes until killed (or 10 s pass), printing `B key hash` / `V set elem hash`
/// after each acknowledgement, while a thread checkpoints every few milliseconds.
fn run_child(spec: &str) -> ! {
    let mut parts = spec.split(',');
    let (dir, policy, iter, io) = (
        parts.next().unwrap_or_default().to_owned(),
        policy_named(parts.next().unwrap_or_default()),
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let settled_first = parts.next() == Some("settled");
    let seed: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let engine = Arc::new(
        Engine::open(config(Path::new(&dir), policy, &io)).expect("child opens the engine"),
    );
    let start = Instant::now();
    let done = Arc::new(AtomicBool::new(false));
    let checkpointer = {
        let (engine, done) = (engine.clone(), done.clone());
        std::thread::spawn(move || {
            let mut rng = SmallRng::seed_from_u64(seed);
            if settled_first {
                // One checkpoint taken once each set has a graph and the indexer caught up,
                // announced on stdout: the parent kills after it, so the reopen has a saved
                // graph to restore however loaded the machine is.
                while SETS
                    .iter()
                    .any(|s| engine.vcard(s).unwrap_or(0) < GRAPH_MIN as u64)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                engine.index_settle();
                engine.checkpoint().expect("checkpoint");
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{CHECKPOINTED}");
                let _ = out.flush();
            }
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(rng.gen_range(2..25)));
                engine.checkpoint().expect("checkpoint");
            }
        })
    };
    // Writers run for 10 s, or until killed (a settled run waits for its checkpoint first).
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let (engine, iter) = (engine.clone(), iter.clone());
            std::thread::spawn(move || {
                let mut rng = SmallRng::seed_from_u64(seed ^ (t as u64 + 1));
                let mut n = 0u64;
                while start.elapsed() < Duration::from_secs(10) {
                    n += 1;
                    if rng.gen_bool(0.5) {
                        let key = format!("b/{iter}/{t}/{n}");
                        let value = blob_for(key.as_bytes());
                        engine
                            .set(key.as_bytes(), &value, SetOptions::default())
                            .expect("set");
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "B {key} {}", fnv(&value));
                        let _ = out.flush();
                    } else {
                        let set = SETS[rng.gen_range(0..SETS.len())];
                        let elem = format!("e/{iter}/{t}/{n}");
                        let v = vector_for(elem.as_bytes());
                        engine
                            .vadd(
                                set,
                                &VectorSetOptions::default(),
                                ElementAdd::new(elem.as_bytes(), &v),
                            )
                            .expect("vadd");
                        let mut out = std::io::stdout().lock();
                        let set = std::str::from_utf8(set).unwrap_or_default();
                        let _ = writeln!(out, "V {set} {elem} {}", vector_hash(&v));
                        let _ = out.flush();
                    }
                }
            })
        })
        .collect();
    for w in writers {
        let _ = w.join();
    }
    done.store(true, Ordering::Relaxed);
    let _ = checkpointer.join();
    std::process::exit(0);
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Ack {
    Blob(String),
    Vector(String, String),
}

fn parse_ack(line: &[u8]) -> Option<(Ack, u64)> {
    let line = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
    let f: Vec<&str> = line.split(' ').collect();
    match f.as_slice() {
        ["B", key, hash] => Some((Ack::Blob((*key).to_owned()), hash.parse().ok()?)),
        ["V", set, elem, hash] => Some((
            Ack::Vector((*set).to_owned(), (*elem).to_owned()),
            hash.parse().ok()?,
        )),
        _ => None,
    }
}

/// Checks that every blob and element present is exactly what was written under its name;
/// returns how many of each were found.
fn check_nothing_corrupt(e: &Engine, what: &str) -> (usize, usize) {
    let mut blobs = 0;
    let mut cursor = 0;
    loop {
        let page = e.scan(cursor, None, 1000, Some(KeyKind::Blob));
        for key in page.keys {
            let got = e.get(&key).unwrap().expect("a scanned key is present");
            assert!(
                got == blob_for(&key),
                "{what}: blob {} holds bytes that were never written",
                String::from_utf8_lossy(&key)
            );
            blobs += 1;
        }
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    let mut elements = 0;
    for set in SETS {
        let card = e.vcard(set).unwrap();
        let names = e.vrandmember(set, card as i64).unwrap();
        assert_eq!(
            names.len() as u64,
            card,
            "{what}: vrandmember lists the set"
        );
        for name in names {
            let got = e.vget(set, &name).unwrap().expect("a listed element");
            assert_eq!(got, vector_for(&name), "{what}: element vector changed");
            elements += 1;
        }
    }
    (blobs, elements)
}

/// Once the indexer has restored (or built) each set's graph, it holds every element and
/// nothing else, and a search for an element's own vector finds it first. Returns the nodes
/// restored from the snapshot rather than inserted.
fn check_graphs(e: &Engine, what: &str) -> usize {
    e.index_settle();
    let mut restored = 0;
    for set in SETS {
        let Some(info) = e.vinfo(set).unwrap() else {
            continue;
        };
        if info.size < GRAPH_MIN {
            continue;
        }
        assert_eq!(info.index_nodes, info.size, "{what}: {info:?}");
        assert_eq!(info.index_pending, 0, "{what}: {info:?}");
        restored += info.index_restored;
        let names = e.vrandmember(set, 20).unwrap();
        let first = |name: &[u8], params: &SearchParams| {
            let hits = e
                .vsearch(set, Query::Vector(&vector_for(name)), params)
                .unwrap();
            hits.first().is_some_and(|h| h.element == name)
        };
        let lost: Vec<&Vec<u8>> = names
            .iter()
            .filter(|name| !first(name, &SearchParams::default()))
            .collect();
        let found = names.len() - lost.len();
        // What a lost element is lost to: a walk that misses it (a wide search finds it),
        // or a graph node that does not hold its vector (only an exact scan finds it).
        let wide = SearchParams {
            ef: 2_000,
            ..SearchParams::default()
        };
        let exact = SearchParams {
            exhaustive: true,
            ..SearchParams::default()
        };
        let why: Vec<String> = lost
            .iter()
            .map(|name| {
                format!(
                    "{}: ef 2000 {}, exact scan {}",
                    String::from_utf8_lossy(name),
                    first(name, &wide),
                    first(name, &exact)
                )
            })
            .collect();
        assert!(
            found * 10 >= names.len() * 9,
            "{what}: {found} of {} elements found themselves ({info:?}; {why:?})",
            names.len()
        );
    }
    restored
}

fn run_policy(policy: &str, iterations: usize, rng: &mut SmallRng) -> usize {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap().to_owned();
    // Every acknowledgement over all the kills into this directory.
    let mut acked: BTreeMap<Ack, u64> = BTreeMap::new();
    let mut mid_checkpoint = 0;
    let mut restored = 0;
    // Alternate the WAL's I/O paths (io_uring where it can be set up, else the plain one).
    let ios = if wal::UringIo::new().is_ok() {
        ["auto", "sync"]
    } else {
        ["sync", "sync"]
    };
    for i in 0..iterations {
        let io = ios[i % 2];
        // The last kill of a policy comes after a checkpoint of settled graphs, so at least
        // one reopen restores a graph (under load, random kills can all land before any
        // checkpoint holds one); the others land at random moments.
        let settled = i + 1 == iterations;
        let child = crash::Child {
            test_name: &format!("durability_crash::{TEST_NAME}"),
            env_var: CHILD_ENV,
            spec: format!(
                "{dir},{policy},{i},{io},{},{}",
                if settled { "settled" } else { "random" },
                rng.gen::<u64>()
            ),
        };
        let kill_after = Duration::from_millis(rng.gen_range(0..100));
        let got = if settled {
            crash::run_and_kill_when(
                &child,
                parse_ack,
                |line| line.starts_with(CHECKPOINTED.as_bytes()),
                Duration::from_secs(120),
                kill_after,
            )
        } else {
            crash::run_and_kill(&child, parse_ack, Duration::from_secs(30), kill_after)
        };
        acked.extend(got);

        // A kill during a checkpoint leaves its temporary file behind.
        let torn = std::fs::read_dir(tmp.path())
            .unwrap()
            .flatten()
            .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
        mid_checkpoint += usize::from(torn);
        let what = format!("{policy} {io} kill {i}");
        let e = Engine::open(config(tmp.path(), policy_named(policy), ios[(i + 1) % 2]))
            .unwrap_or_else(|err| panic!("{what}: reopen failed: {err}"));
        for (ack, hash) in &acked {
            match ack {
                Ack::Blob(key) => {
                    let got = e.get(key.as_bytes()).unwrap();
                    let got = got.unwrap_or_else(|| panic!("{what}: acknowledged {key} lost"));
                    assert_eq!(fnv(&got), *hash, "{what}: {key} changed");
                    assert_eq!(got, blob_for(key.as_bytes()), "{what}: {key} changed");
                }
                Ack::Vector(set, elem) => {
                    let got = e.vget(set.as_bytes(), elem.as_bytes()).unwrap();
                    let got =
                        got.unwrap_or_else(|| panic!("{what}: acknowledged {set}/{elem} lost"));
                    assert_eq!(vector_hash(&got), *hash, "{what}: {set}/{elem} changed");
                    let want = vector_for(elem.as_bytes());
                    assert!(
                        got.iter()
                            .zip(&want)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{what}: {set}/{elem} is not bit-exact"
                    );
                }
            }
        }
        let (blobs, elements) = check_nothing_corrupt(&e, &what);
        restored += check_graphs(&e, &what);
        assert!(
            blobs + elements >= acked.len(),
            "{what}: fewer entries than acks"
        );
        e.close().unwrap();
    }
    assert!(acked.len() > 50, "{policy}: only {} acks", acked.len());
    eprintln!("{policy}: {mid_checkpoint} of {iterations} kills hit a checkpoint in progress; {restored} graph nodes restored from snapshots over the reopens");
    assert!(restored > 0, "{policy}: no reopen restored a graph");
    acked.len()
}

#[test]
fn acknowledged_engine_writes_survive_sigkill_at_a_random_moment() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
    let per_policy = std::env::var("SUTRA_SOAK_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25usize);
    let seed = std::env::var("SUTRA_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!(
        "SUTRA_SOAK_SEED={seed} (the kill moments and the children's choices; not the timing)"
    );
    let mut rng = SmallRng::seed_from_u64(seed);
    for policy in ["always", "interval"] {
        let acks = run_policy(policy, per_policy, &mut rng);
        eprintln!("{policy}: {per_policy} kills, {acks} acknowledged writes verified");
    }
}
