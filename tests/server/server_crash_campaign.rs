//! The crash campaign of the real binary (#19 point 3): `sutra-cache serve` in `always` mode
//! (`WAL_SYNC_INTERVAL_MS=0`) with small WAL segments (a rollover every few hundred writes),
//! automatic checkpoints by WAL size, a client asking for `BGSAVE` every few milliseconds and
//! vector sets that get their HNSW graph early, under 64 clients each doing a mix of `SET`
//! (half with a TTL, some overwriting their own keys), `MSET`, `MULTI`/`EXEC` (SETs, VADDs,
//! DELs), `VADD`, `VREM` and `VINVALIDATE`, is killed with SIGKILL at a random moment. After
//! the restart on the same directory:
//! - every acknowledged write is there (the value byte for byte, a TTL where one was set and
//!   none where it was cleared, an element with its vector; removed ones absent);
//! - the write each client had in flight when the kill came (no reply read) is there whole
//!   or not at all: an `EXEC` or `MSET` never shows in part;
//! - nothing else is there (`DBSIZE`, `VCARD` match the model);
//! - once the indexer has caught up, each set's graph holds every element and nothing else,
//!   and `VSIM` with an element's own vector finds that element first.
//!
//! Each client owns its keys and element names (the sets are shared), so its model of what
//! must be stored is exact; only its one unanswered write is open, and the restart settles it.
//! Ten kills run in CI (`cargo test --test server server_crash_campaign::`); `SUTRA_CRASH_RUNS=200` is
//! the campaign of `perf-reports/reliability.md`, `SUTRA_CRASH_SEED` repeats a run's choices
//! (kill moments, operations; not the machine's timing).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use redis::Value;

use crate::server_support;
use server_support::serve::{Serve, Served};

const CLIENTS: usize = 64;
const DIM: usize = 8;
const SETS: usize = 4;
/// Sets get their graph from this many elements (`--index-min-elements`).
const GRAPH_MIN: usize = 48;
/// Kills into one data directory before the campaign starts a fresh one.
const RUNS_PER_DIR: usize = 10;
/// The TTL given to half the SETs, in seconds (far beyond the test: none expires during it).
const TTL_SECONDS: u64 = 100_000;

/// Starts the server on `dir`, its stderr appended to `log` (printed if the test fails while
/// it runs; killed with SIGKILL when dropped).
fn start(dir: &Path, log: &Path) -> Served {
    Serve::new()
        .args(["--in-memory", "false", "--log", "warn"])
        .arg("--storage-path")
        .arg(dir)
        .args(["--wal-segment-size", "64kb"])
        .args(["--checkpoint-wal-bytes", "512kb"])
        .args(["--checkpoint-interval-seconds", "0"])
        .args(["--index-min-elements", &GRAPH_MIN.to_string()])
        .env("WAL_SYNC_INTERVAL_MS", "0")
        .env_remove("SUTRA_WAL_SYNC")
        .log_to(log)
        .start_within(Duration::from_secs(120))
}

fn connect(port: u16) -> redis::Connection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let c = client
        .get_connection_with_timeout(Duration::from_secs(30))
        .expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    c
}

fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The vector of element `name`: derived from the name alone.
fn vector_for(name: &str) -> Vec<f32> {
    let mut rng = SmallRng::seed_from_u64(fnv(name.as_bytes()));
    (0..DIM).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
}

fn fp32(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn set_name(s: usize) -> String {
    format!("vs{s}")
}

/// Something a client owns.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Key(String),
    Elem(usize, String),
}

/// What must be stored for an item.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Want {
    Absent,
    /// A blob: its bytes, and whether it carries a TTL.
    Blob(Vec<u8>, bool),
    /// An element (its vector follows from its name).
    Elem,
}

/// One client's model: what its acknowledged writes left, and the effects of the write it
/// had in flight when the server died.
#[derive(Default)]
struct Model {
    acked: BTreeMap<Item, Want>,
    pending: Option<(String, Vec<(Item, Want)>)>,
    ops: u64,
}

impl Model {
    fn get(&self, item: &Item) -> Want {
        self.acked.get(item).cloned().unwrap_or(Want::Absent)
    }

    fn keys_with(&self, f: impl Fn(&Item, &Want) -> bool) -> Vec<Item> {
        self.acked
            .iter()
            .filter(|(i, w)| f(i, w))
            .map(|(i, _)| i.clone())
            .collect()
    }
}

/// One write: the request and its effects once acknowledged.
struct Op {
    kind: &'static str,
    /// `MULTI`/`EXEC` when set.
    atomic: bool,
    cmds: Vec<redis::Cmd>,
    effects: Vec<(Item, Want)>,
}

fn value_for(key: &str, version: u64, rng: &mut SmallRng) -> Vec<u8> {
    let len = rng.gen_range(0..600);
    let mut v = format!("{key}@{version}:").into_bytes();
    v.extend((0..len).map(|i| (fnv(key.as_bytes()) as usize + i) as u8));
    v
}

fn set_cmd(key: &str, value: &[u8], ttl: bool) -> redis::Cmd {
    let mut c = redis::cmd("SET");
    c.arg(key).arg(value);
    if ttl {
        c.arg("EX").arg(TTL_SECONDS);
    }
    c
}

fn vadd_cmd(set: usize, name: &str) -> redis::Cmd {
    let mut c = redis::cmd("VADD");
    c.arg(set_name(set))
        .arg("FP32")
        .arg(fp32(&vector_for(name)))
        .arg(name);
    c
}

/// A key the client writes: a new one, or (one time in four) one of its own again.
fn pick_key(t: usize, n: &mut u64, model: &Model, rng: &mut SmallRng) -> String {
    if rng.gen_bool(0.25) {
        let own = model.keys_with(|i, _| matches!(i, Item::Key(_)));
        if let Some(Item::Key(k)) = own.get(rng.gen_range(0..own.len().max(1))) {
            return k.clone();
        }
    }
    *n += 1;
    format!("c{t}:k{n}")
}

fn next_op(t: usize, n: &mut u64, model: &Model, rng: &mut SmallRng) -> Op {
    let roll = rng.gen_range(0..100);
    let elems = || model.keys_with(|i, w| matches!(i, Item::Elem(..)) && *w == Want::Elem);
    match roll {
        0..=29 => {
            let key = pick_key(t, n, model, rng);
            let ttl = rng.gen_bool(0.5);
            let value = value_for(&key, *n, rng);
            Op {
                kind: "SET",
                atomic: false,
                cmds: vec![set_cmd(&key, &value, ttl)],
                effects: vec![(Item::Key(key), Want::Blob(value, ttl))],
            }
        }
        30..=39 => {
            let mut c = redis::cmd("MSET");
            let mut effects = Vec::new();
            for _ in 0..rng.gen_range(2..7) {
                let key = pick_key(t, n, model, rng);
                if effects.iter().any(|(i, _)| *i == Item::Key(key.clone())) {
                    continue;
                }
                let value = value_for(&key, *n, rng);
                c.arg(&key).arg(&value);
                effects.push((Item::Key(key), Want::Blob(value, false)));
            }
            Op {
                kind: "MSET",
                atomic: false,
                cmds: vec![c],
                effects,
            }
        }
        40..=51 => {
            let (mut cmds, mut effects) = (Vec::new(), Vec::<(Item, Want)>::new());
            for _ in 0..rng.gen_range(2..6) {
                match rng.gen_range(0..3) {
                    0 => {
                        let key = pick_key(t, n, model, rng);
                        let item = Item::Key(key.clone());
                        if effects.iter().any(|(i, _)| *i == item) {
                            continue;
                        }
                        let ttl = rng.gen_bool(0.5);
                        let value = value_for(&key, *n, rng);
                        cmds.push(set_cmd(&key, &value, ttl));
                        effects.push((item, Want::Blob(value, ttl)));
                    }
                    1 => {
                        *n += 1;
                        let (set, name) = (rng.gen_range(0..SETS), format!("c{t}:e{n}"));
                        cmds.push(vadd_cmd(set, &name));
                        effects.push((Item::Elem(set, name), Want::Elem));
                    }
                    _ => {
                        let own = model.keys_with(|i, w| {
                            matches!(i, Item::Key(_)) && matches!(w, Want::Blob(..))
                        });
                        let Some(item) = own.get(rng.gen_range(0..own.len().max(1))) else {
                            continue;
                        };
                        if effects.iter().any(|(i, _)| i == item) {
                            continue;
                        }
                        let Item::Key(key) = item else { continue };
                        cmds.push(redis::cmd("DEL").arg(key).clone());
                        effects.push((item.clone(), Want::Absent));
                    }
                }
            }
            Op {
                kind: "EXEC",
                atomic: true,
                cmds,
                effects,
            }
        }
        52..=84 => {
            *n += 1;
            let (set, name) = (rng.gen_range(0..SETS), format!("c{t}:e{n}"));
            Op {
                kind: "VADD",
                atomic: false,
                cmds: vec![vadd_cmd(set, &name)],
                effects: vec![(Item::Elem(set, name), Want::Elem)],
            }
        }
        _ => {
            let own = elems();
            let Some(Item::Elem(set, name)) = own.get(rng.gen_range(0..own.len().max(1))) else {
                *n += 1;
                let (set, name) = (rng.gen_range(0..SETS), format!("c{t}:e{n}"));
                return Op {
                    kind: "VADD",
                    atomic: false,
                    cmds: vec![vadd_cmd(set, &name)],
                    effects: vec![(Item::Elem(set, name), Want::Elem)],
                };
            };
            let item = Item::Elem(*set, name.clone());
            if roll < 93 {
                Op {
                    kind: "VREM",
                    atomic: false,
                    cmds: vec![redis::cmd("VREM").arg(set_name(*set)).arg(name).clone()],
                    effects: vec![(item, Want::Absent)],
                }
            } else {
                // Removes what scores at least 0.99999 against the element's own vector:
                // the element itself (random 8-d vectors are never that close).
                let mut c = redis::cmd("VINVALIDATE");
                c.arg(set_name(*set))
                    .arg("ELE")
                    .arg(name)
                    .arg("THRESHOLD")
                    .arg("0.99999");
                Op {
                    kind: "VINVALIDATE",
                    atomic: false,
                    cmds: vec![c],
                    effects: vec![(item, Want::Absent)],
                }
            }
        }
    }
}

/// Checks the replies of an acknowledged `op`.
fn check_replies(op: &Op, replies: &[Value]) {
    assert_eq!(replies.len(), op.cmds.len(), "{}: {replies:?}", op.kind);
    for (reply, (item, want)) in replies.iter().zip(&op.effects) {
        let ok = match (op.kind, item, want, reply) {
            ("MSET", ..) => matches!(reply, Value::Okay),
            (_, Item::Key(_), Want::Blob(..), Value::Okay) => true,
            (_, Item::Key(_), Want::Absent, Value::Int(1)) => true,
            (_, Item::Elem(..), Want::Elem, Value::Int(1)) => true,
            (_, Item::Elem(..), Want::Absent, Value::Int(1)) => true,
            _ => false,
        };
        assert!(ok, "{}: {item:?} answered {reply:?}", op.kind);
    }
}

/// One client until the server dies (or `stop`): writes, records what was acknowledged.
fn client(
    t: usize,
    port: u16,
    seed: u64,
    mut model: Model,
    n0: u64,
    acks: Arc<AtomicU64>,
) -> (Model, u64) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut n = n0;
    let Ok(mut con) = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(30)))
    else {
        return (model, n);
    };
    let _ = con.set_read_timeout(Some(Duration::from_secs(120)));
    loop {
        let op = next_op(t, &mut n, &model, &mut rng);
        if op.effects.is_empty() {
            continue;
        }
        model.pending = Some((op.kind.to_owned(), op.effects.clone()));
        let replies: redis::RedisResult<Vec<Value>> = if op.atomic {
            let mut p = redis::pipe();
            p.atomic();
            for c in &op.cmds {
                p.add_command(c.clone());
            }
            p.query(&mut con)
        } else {
            op.cmds[0].query::<Value>(&mut con).map(|v| vec![v])
        };
        let replies = match replies {
            Ok(r) => r,
            Err(e)
                if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() =>
            {
                return (model, n); // killed: this write's outcome is open
            }
            Err(e) => panic!("client {t}: {} answered an error: {e}", op.kind),
        };
        if op.kind == "MSET" {
            assert_eq!(replies, vec![Value::Okay], "MSET");
        } else {
            check_replies(&op, &replies);
        }
        for (item, want) in op.effects {
            model.acked.insert(item, want);
        }
        model.pending = None;
        model.ops += 1;
        acks.fetch_add(1, Ordering::Relaxed);
    }
}

/// What the server holds for `item`, read through `con`.
fn observe(con: &mut redis::Connection, items: &[Item]) -> Vec<Want> {
    let mut p = redis::pipe();
    for item in items {
        match item {
            Item::Key(k) => {
                p.cmd("GET").arg(k).cmd("PTTL").arg(k);
            }
            Item::Elem(s, name) => {
                p.cmd("VISMEMBER").arg(set_name(*s)).arg(name);
                p.cmd("PING");
            }
        }
    }
    let replies: Vec<Value> = p.query(con).expect("the checks are answered");
    items
        .iter()
        .zip(replies.chunks(2))
        .map(|(item, r)| match (item, &r[0], &r[1]) {
            (Item::Key(_), Value::Nil, _) => Want::Absent,
            (Item::Key(k), Value::BulkString(b), Value::Int(ttl)) => {
                assert!(
                    *ttl == -1 || (*ttl > 0 && *ttl <= TTL_SECONDS as i64 * 1000),
                    "{k}: PTTL {ttl}"
                );
                Want::Blob(b.clone(), *ttl != -1)
            }
            (Item::Elem(..), Value::Int(1), _) => Want::Elem,
            (Item::Elem(..), Value::Int(0), _) => Want::Absent,
            other => panic!("unexpected replies {other:?}"),
        })
        .collect()
}

/// Totals over the campaign.
#[derive(Default, Debug)]
struct Totals {
    kills: usize,
    acked_ops: u64,
    items_checked: u64,
    open_applied: usize,
    open_not_applied: usize,
    groups_open: usize,
    during_checkpoint: usize,
    /// WAL segments seen (each past the first of a directory is a rollover).
    segments: u64,
    elements_searched: u64,
    graphs_checked: usize,
    restored_nodes: u64,
}

fn cachestats(con: &mut redis::Connection, set: &str) -> BTreeMap<String, i64> {
    let v: Value = redis::cmd("CACHESTATS").arg(set).query(con).unwrap();
    let mut out = BTreeMap::new();
    if let Value::Array(items) = v {
        for pair in items.chunks(2) {
            if let (Value::BulkString(k), Value::Int(n)) = (&pair[0], &pair[1]) {
                out.insert(String::from_utf8_lossy(k).into_owned(), *n);
            }
        }
    }
    out
}

/// After a restart: settles every client's open write (whole or not at all), checks every
/// item of every model, that nothing else is stored, and the graphs.
fn verify(con: &mut redis::Connection, models: &mut [Model], what: &str, totals: &mut Totals) {
    for (t, model) in models.iter_mut().enumerate() {
        if let Some((kind, effects)) = model.pending.take() {
            let items: Vec<Item> = effects.iter().map(|(i, _)| i.clone()).collect();
            let got = observe(con, &items);
            let new = effects.iter().zip(&got).all(|((_, w), g)| w == g);
            let old = items.iter().zip(&got).all(|(i, g)| model.get(i) == *g);
            assert!(
                new || old,
                "{what}: client {t}'s unanswered {kind} is visible in part: {:?}",
                items
                    .iter()
                    .zip(&got)
                    .map(|(i, g)| format!("{i:?} = {g:?}"))
                    .collect::<Vec<_>>()
            );
            if effects.len() > 1 {
                totals.groups_open += 1;
            }
            if new && !old {
                totals.open_applied += 1;
                for (item, want) in effects {
                    model.acked.insert(item, want);
                }
            } else {
                totals.open_not_applied += 1;
            }
        }
        let items: Vec<Item> = model.acked.keys().cloned().collect();
        for chunk in items.chunks(2000) {
            let got = observe(con, chunk);
            for (item, g) in chunk.iter().zip(got) {
                let want = model.get(item);
                assert!(
                    want == g,
                    "{what}: client {t}'s acknowledged {item:?}: want {}, got {}",
                    describe(&want),
                    describe(&g)
                );
            }
            totals.items_checked += chunk.len() as u64;
        }
    }
    // Nothing else: as many keys and elements as the models hold.
    let mut keys = 0i64;
    let mut per_set = [0i64; SETS];
    for model in models.iter() {
        for (item, want) in &model.acked {
            match (item, want) {
                (Item::Key(_), Want::Blob(..)) => keys += 1,
                (Item::Elem(s, _), Want::Elem) => per_set[*s] += 1,
                _ => {}
            }
        }
    }
    let sets_present = per_set.iter().filter(|&&n| n > 0).count() as i64;
    let dbsize: i64 = redis::cmd("DBSIZE").query(con).unwrap();
    assert_eq!(dbsize, keys + sets_present, "{what}: DBSIZE");
    for (s, &want) in per_set.iter().enumerate() {
        let card: i64 = redis::cmd("VCARD").arg(set_name(s)).query(con).unwrap();
        assert_eq!(card, want, "{what}: VCARD {}", set_name(s));
    }
    // The graphs: once the indexer caught up, one node per element, and each element is
    // the first hit of a search for its own vector.
    for (s, &card) in per_set.iter().enumerate() {
        let set = set_name(s);
        if card < GRAPH_MIN as i64 {
            continue;
        }
        let deadline = Instant::now() + Duration::from_secs(120);
        let stats = loop {
            let stats = cachestats(con, &set);
            if stats.get("index_pending") == Some(&0) && stats.get("index_nodes") == Some(&card) {
                break stats;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {set}'s graph never caught up with its {card} elements: {stats:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        totals.graphs_checked += 1;
        totals.restored_nodes += stats.get("index_restored").copied().unwrap_or(0) as u64;
        let names: Vec<String> = models
            .iter()
            .flat_map(|m| m.acked.iter())
            .filter_map(|(i, w)| match (i, w) {
                (Item::Elem(x, name), Want::Elem) if *x == s => Some(name.clone()),
                _ => None,
            })
            .collect();
        for chunk in names.chunks(1000) {
            let mut p = redis::pipe();
            for name in chunk {
                p.cmd("VSIM")
                    .arg(&set)
                    .arg("FP32")
                    .arg(fp32(&vector_for(name)))
                    .arg("COUNT")
                    .arg(1);
            }
            let hits: Vec<Vec<String>> = p.query(con).unwrap();
            let lost: Vec<(&String, &Vec<String>)> = chunk
                .iter()
                .zip(&hits)
                .filter(|(name, hit)| hit.first() != Some(*name))
                .collect();
            assert!(
                lost.is_empty(),
                "{what}: {} of {} elements of {set} are not the first hit of their own vector \
                 (graph {stats:?}), e.g. {:?}",
                lost.len(),
                names.len(),
                &lost[..lost.len().min(5)]
            );
            totals.elements_searched += chunk.len() as u64;
        }
    }
}

fn describe(w: &Want) -> String {
    match w {
        Want::Absent => "absent".into(),
        Want::Elem => "an element".into(),
        Want::Blob(v, ttl) => format!(
            "{} bytes {:?}{}",
            v.len(),
            String::from_utf8_lossy(&v[..v.len().min(24)]),
            if *ttl { " with a TTL" } else { " without TTL" }
        ),
    }
}

/// Adds the names of the WAL segments now in `dir` to `seen` (segments are named by their
/// first LSN, and checkpoints delete the old ones: a watcher polls to count rollovers).
fn note_segments(dir: &Path, seen: &mut std::collections::HashSet<String>) {
    for e in std::fs::read_dir(dir.join("wal"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("wal-") && name.ends_with(".seg") {
            seen.insert(name);
        }
    }
}

#[test]
fn after_kill_9_under_64_clients_every_acknowledged_write_is_back_and_no_group_shows_in_part() {
    let runs: usize = std::env::var("SUTRA_CRASH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::var("SUTRA_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("crash campaign: {runs} kills, SUTRA_CRASH_SEED={seed}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let logs = tempfile::tempdir().unwrap();
    let mut totals = Totals::default();
    let started = Instant::now();
    let mut run = 0;
    while run < runs {
        let dir = tempfile::tempdir().unwrap();
        let log = logs.path().join(format!("server-{run}.log"));
        let mut models: Vec<Model> = (0..CLIENTS).map(|_| Model::default()).collect();
        let mut counters = vec![0u64; CLIENTS];
        let seen = Arc::new(parking_lot::Mutex::new(std::collections::HashSet::new()));
        for _ in 0..RUNS_PER_DIR.min(runs - run) {
            let what = format!("kill {run} (seed {seed})");
            let mut server = start(dir.path(), &log);
            let port = server.port;
            let acks = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            // Every other kill is aimed at a checkpoint: it comes a few milliseconds after
            // the n-th BGSAVE started one (the others land wherever they land, automatic
            // checkpoints and BGSAVEs included).
            let at_bgsave = rng.gen_bool(0.5).then(|| rng.gen_range(1..30u32));
            let started_saves = Arc::new(AtomicU64::new(0));
            let saver = {
                let (stop, started_saves) = (stop.clone(), started_saves.clone());
                let pause = rng.gen_range(3..40);
                std::thread::spawn(move || {
                    let mut con = connect(port);
                    while !stop.load(Ordering::Relaxed) {
                        // "Background saving started", or already in progress; none once
                        // the server is killed.
                        match redis::cmd("BGSAVE").query::<Value>(&mut con) {
                            Ok(Value::SimpleString(s)) if s.contains("started") => {
                                started_saves.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) if e.is_io_error() || e.is_connection_dropped() => return,
                            // "Background save already in progress" (an automatic one).
                            Err(_) => {}
                        }
                        std::thread::sleep(Duration::from_millis(pause));
                    }
                })
            };
            let watcher = {
                let (stop, seen, dir) = (stop.clone(), seen.clone(), dir.path().to_owned());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        note_segments(&dir, &mut seen.lock());
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            };
            let clients: Vec<_> = std::mem::take(&mut models)
                .into_iter()
                .enumerate()
                .map(|(t, model)| {
                    let (seed, n0, acks) = (rng.gen(), counters[t], acks.clone());
                    std::thread::spawn(move || client(t, port, seed, model, n0, acks))
                })
                .collect();
            // Kill a random time after the clients' first 64 acknowledgements.
            let deadline = Instant::now() + Duration::from_secs(120);
            while acks.load(Ordering::Relaxed) < CLIENTS as u64 {
                assert!(
                    Instant::now() < deadline,
                    "{what}: the clients got no replies"
                );
                std::thread::sleep(Duration::from_millis(2));
            }
            match at_bgsave {
                Some(n) => {
                    while started_saves.load(Ordering::Relaxed) < u64::from(n) {
                        assert!(Instant::now() < deadline, "{what}: no BGSAVE started");
                        std::thread::sleep(Duration::from_micros(200));
                    }
                    std::thread::sleep(Duration::from_micros(rng.gen_range(0..4000)));
                }
                None => std::thread::sleep(Duration::from_millis(rng.gen_range(0..1500))),
            }
            // The kill is the test's: a server that ended by itself crashed (its stderr is
            // printed as the panic drops it).
            if let Some(status) = server.exited() {
                panic!("{what}: the server exited before the kill: {status}");
            }
            drop(server); // SIGKILL
            stop.store(true, Ordering::Relaxed);
            for (t, c) in clients.into_iter().enumerate() {
                let (model, n) = c.join().expect("a client thread");
                counters[t] = n;
                models.push(model);
            }
            let _ = saver.join();
            let _ = watcher.join();
            totals.kills += 1;
            let torn = std::fs::read_dir(dir.path())
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".tmp"));
            totals.during_checkpoint += usize::from(torn);
            note_segments(dir.path(), &mut seen.lock());
            let segments = seen.lock().len();
            totals.acked_ops += acks.load(Ordering::Relaxed);

            let server = start(dir.path(), &log);
            let mut con = connect(server.port);
            verify(&mut con, &mut models, &what, &mut totals);
            eprintln!(
                "{what}: {} writes acknowledged, {} segments so far{}; verified after {:.0?}",
                acks.load(Ordering::Relaxed),
                segments,
                if torn {
                    ", killed during a checkpoint"
                } else {
                    ""
                },
                started.elapsed()
            );
            drop(server);
            run += 1;
        }
        totals.segments += seen.lock().len() as u64;
    }
    eprintln!(
        "crash campaign totals (seed {seed}, {:.0?}): {totals:?}",
        started.elapsed()
    );
    assert!(totals.acked_ops > 0);
    assert!(totals.graphs_checked > 0, "no set reached a graph");
}
