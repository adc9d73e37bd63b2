//! kill -9 during a slot migration: three `--cluster-mode yes` nodes with data directories
//! get a fourth (`cluster add-node`), and while `cluster rebalance` moves a quarter of the
//! slots to it and a client keeps writing, one process is killed with SIGKILL — the source
//! node of the move in progress, the target node, or the manager. The killed node is started
//! again on its port and directory, `rebalance` is run again until it succeeds, and then
//! `cluster check` passes, every write the client saw acknowledged is on the node that owns
//! its key (blobs with their value, vector-set elements present), and every key any node
//! holds is on its owner only (no key in two places, no orphan left on a former owner).
//!
//! The kill comes once the target holds a given number of keys, a different number in each
//! run, so the runs hit different moments of a move; a run where the rebalance ended before
//! that point kills after it (still a crash and a restart to survive) and is counted apart
//! in the output. Nothing is timed: every wait polls with a generous deadline.
//! `SUTRA_CLUSTER_CRASH_RUNS` (default 2) sets the runs per role; the campaign is 20.

use crate::server_support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use server_support::cluster_node::{endpoints, manager, manager_child, Node, Resp, RespConn};
use sutra_cache::cluster::{key_slot, Routes, Topology};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Victim {
    Source,
    Target,
    Manager,
}

fn runs() -> usize {
    std::env::var("SUTRA_CLUSTER_CRASH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// A client that follows `-MOVED` and `-ASK`, waits out `-TRYAGAIN`/`-CLUSTERDOWN` and
/// connection errors (a node being down), and gives up on a command after a deadline (it
/// is then not acknowledged).
struct Client {
    ports: Vec<u16>,
    conns: BTreeMap<u16, RespConn>,
    slots: BTreeMap<u16, u16>,
}

fn redirect(e: &str) -> Option<(bool, u16, u16)> {
    let mut w = e.split(' ');
    let kind = w.next()?;
    let slot = w.next()?.parse().ok()?;
    let port = w.next()?.rsplit(':').next()?.parse().ok()?;
    match kind {
        "MOVED" => Some((false, slot, port)),
        "ASK" => Some((true, slot, port)),
        _ => None,
    }
}

impl Client {
    fn new(ports: Vec<u16>) -> Client {
        Client {
            ports,
            conns: BTreeMap::new(),
            slots: BTreeMap::new(),
        }
    }

    /// Runs `args` (keyed by `args[1]`) on the node serving its key: the reply, or None
    /// when no node acknowledged it within `patience`.
    fn run(&mut self, args: &[&[u8]], patience: Duration) -> Option<Resp> {
        let slot = key_slot(args[1]);
        let start = Instant::now();
        let mut port = *self.slots.get(&slot).unwrap_or(&self.ports[0]);
        let mut asking = false;
        let mut tries = 0usize;
        while start.elapsed() < patience {
            tries += 1;
            let reply = match self.conns.entry(port) {
                std::collections::btree_map::Entry::Occupied(e) => Ok(e.into_mut()),
                std::collections::btree_map::Entry::Vacant(v) => {
                    RespConn::open(port).map(|c| v.insert(c))
                }
            }
            .and_then(|c| {
                if asking {
                    c.pipeline(&[vec![b"ASKING".as_slice()], args.to_vec()])
                        .map(|mut r| r.remove(1))
                } else {
                    c.call(args)
                }
            });
            asking = false;
            match reply {
                Err(_) => {
                    // Down or restarting: try another node, which redirects if needed.
                    self.conns.remove(&port);
                    port = self.ports[tries % self.ports.len()];
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(Resp::Error(e)) => match redirect(&e) {
                    Some((ask, s, p)) => {
                        if !ask {
                            self.slots.insert(s, p);
                        }
                        asking = ask;
                        port = p;
                    }
                    None if e.starts_with("TRYAGAIN") || e.starts_with("CLUSTERDOWN") => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    None => panic!("{:?} answered {e}", String::from_utf8_lossy(args[0])),
                },
                Ok(r) => return Some(r),
            }
        }
        None
    }
}

/// What the writer saw acknowledged.
#[derive(Default)]
struct Acked {
    blobs: BTreeMap<String, String>,
    elements: Vec<(String, String)>,
    unacknowledged: usize,
}

/// Writes blobs `w:<i>` and elements of 16 hash-tagged vector sets until `stop`.
fn writer(
    ports: Vec<u16>,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Acked>>,
    first: usize,
    pace: bool,
) {
    let mut c = Client::new(ports);
    let mut i = first;
    while !stop.load(Ordering::Relaxed) {
        let patience = Duration::from_secs(5);
        if i.is_multiple_of(8) {
            let key = format!("vs:{{{}}}", i % 16);
            let el = format!("e{i}");
            let v: Vec<u8> = [1.0f32, (i % 97) as f32, (i % 13) as f32]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            let r = c.run(
                &[b"VADD", key.as_bytes(), b"FP32", &v, el.as_bytes()],
                patience,
            );
            let mut a = acked.lock().unwrap();
            match r {
                // 0: an attempt given up on (a node killed mid-reply) had added it.
                Some(Resp::Int(_)) => a.elements.push((key, el)),
                None => a.unacknowledged += 1,
                Some(other) => panic!("VADD {key} {el} answered {other:?}"),
            }
        } else {
            let key = format!("w:{i}");
            let val = format!("value-{i}");
            let r = c.run(&[b"SET", key.as_bytes(), val.as_bytes()], patience);
            let mut a = acked.lock().unwrap();
            match r {
                Some(Resp::Simple(ok)) if ok == "OK" => {
                    a.blobs.insert(key, val);
                }
                None => a.unacknowledged += 1,
                Some(other) => panic!("SET {key} answered {other:?}"),
            }
        }
        i += 1;
        // A steady client, not a flood: the runs stay short on a shared machine.
        if pace {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn dbsize(n: &Node) -> i64 {
    n.call(&["DBSIZE"]).trim()[1..].parse().unwrap_or(0)
}

/// The configuration `n` holds, if it answers.
fn config_of(port: u16) -> Option<Topology> {
    let mut c = RespConn::open(port).ok()?;
    match c.call(&[b"SUTRA.CLUSTER", b"GETCONFIG"]).ok()? {
        Resp::Bulk(Some(json)) => Topology::parse(&json).ok(),
        _ => None,
    }
}

/// Every key `port` holds.
fn keys_of(port: u16) -> Vec<Vec<u8>> {
    let mut c = RespConn::open(port).unwrap();
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    loop {
        let Resp::Array(Some(page)) = c.call(&[b"SCAN", &cursor, b"COUNT", b"1000"]).unwrap()
        else {
            panic!("SCAN failed on {port}");
        };
        let [Resp::Bulk(Some(next)), Resp::Array(Some(ks))] = &page[..] else {
            panic!("SCAN answered {page:?}");
        };
        for k in ks {
            if let Resp::Bulk(Some(k)) = k {
                keys.push(k.clone());
            }
        }
        if next == b"0" {
            return keys;
        }
        cursor = next.clone();
    }
}

/// Polls `f` until it holds, failing after `secs` seconds with `what`.
fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "gave up waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One run; returns whether the kill came while the rebalance was still moving keys.
fn one_run(victim: Victim, run: usize, of: usize) -> bool {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut nodes: Vec<Node> = dirs
        .iter()
        .take(3)
        .map(|d| Node::start("yes", Some(d.path())))
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let mut args = vec!["create".to_string()];
    args.extend(endpoints(&refs));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = manager(&a);
    assert!(ok, "{out}");
    let seed = nodes[0].endpoint();
    nodes.push(Node::start("yes", Some(dirs[3].path())));
    let (ok, out) = manager(&["add-node", &seed, &nodes[3].endpoint()]);
    assert!(ok, "{out}");
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();

    // Keys to move: written before the rebalance, then more while it runs.
    let acked = Arc::new(Mutex::new(Acked::default()));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let s = Arc::new(AtomicBool::new(false));
        let w = {
            let (p, s, a) = (ports.clone(), s.clone(), acked.clone());
            std::thread::spawn(move || writer(p, s, a, 0, false))
        };
        wait_for(120, "3,500 writes before the rebalance", || {
            acked.lock().unwrap().blobs.len() >= 3500
        });
        s.store(true, Ordering::Relaxed);
        w.join().unwrap();
    }
    let w = {
        let (p, s, a) = (ports.clone(), stop.clone(), acked.clone());
        std::thread::spawn(move || writer(p, s, a, 1_000_000, true))
    };

    let mut mgr = manager_child(&["rebalance", &seed, "--step-slots", "128"]);
    // Kill once the target holds `threshold` keys (a different moment each run).
    let threshold = 1 + (run * 900) / of.max(1);
    let target_port = nodes[3].port;
    let mut probe = RespConn::open(target_port).unwrap();
    let mut in_flight = false;
    let mut source = None;
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "the rebalance neither ended nor moved {threshold} keys"
        );
        if mgr.try_wait().unwrap().is_some() {
            break;
        }
        let held = match probe.call(&[b"DBSIZE"]) {
            Ok(Resp::Int(n)) => n,
            other => panic!("DBSIZE on the target answered {other:?}"),
        };
        if held >= threshold as i64 {
            // The source of the move in progress, as the target's configuration says.
            let topo = config_of(target_port);
            source = topo.and_then(|t| {
                let s = t.shards.iter().find(|s| !s.migrations.is_empty())?;
                ports.iter().position(|&p| p == s.master.port)
            });
            if victim != Victim::Source || source.is_some() {
                in_flight = mgr.try_wait().unwrap().is_none();
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(probe);
    let killed = match victim {
        Victim::Manager => {
            let _ = mgr.kill();
            None
        }
        Victim::Target => Some(3),
        Victim::Source => Some(source.unwrap_or(run % 3)),
    };
    if let Some(k) = killed {
        nodes[k].kill9();
    }
    // The manager fails (a node is gone) or has finished; either way it ends.
    let _ = mgr.wait();
    if let Some(k) = killed {
        nodes[k].start_again();
    }
    // Run again until it finishes the move and the rest of the rebalance.
    let start = Instant::now();
    loop {
        let (ok, out) = manager(&["rebalance", &seed, "--step-slots", "128"]);
        if ok {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "rebalance keeps failing after the restart: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    stop.store(true, Ordering::Relaxed);
    w.join().unwrap();
    let (ok, out) = manager(&["check", &seed]);
    assert!(ok, "{victim:?} run {run}: {out}");
    let (ok, out) = manager(&["rebalance", &seed]);
    assert!(ok && out.contains("balanced: nothing to move"), "{out}");

    // Every key on its owner only.
    let routes = Routes::new(config_of(nodes[0].port).unwrap()).unwrap();
    let mut owner_of = BTreeMap::new();
    for n in &nodes {
        for k in keys_of(n.port) {
            let owner = routes.owner(key_slot(&k)).unwrap().master.port;
            assert_eq!(
                owner,
                n.port,
                "{victim:?} run {run}: {} is on {} but its slot is served by {owner}",
                String::from_utf8_lossy(&k),
                n.port
            );
            owner_of.insert(k, n.port);
        }
    }
    // Every acknowledged write is there.
    let acked = acked.lock().unwrap();
    let mut conns: BTreeMap<u16, RespConn> = ports
        .iter()
        .map(|&p| (p, RespConn::open(p).unwrap()))
        .collect();
    for (k, v) in &acked.blobs {
        let port = *owner_of
            .get(k.as_bytes())
            .unwrap_or_else(|| panic!("{victim:?} run {run}: acknowledged {k} is lost"));
        let got = conns
            .get_mut(&port)
            .unwrap()
            .call(&[b"GET", k.as_bytes()])
            .unwrap();
        assert_eq!(got, Resp::Bulk(Some(v.clone().into_bytes())), "{k}");
    }
    for (k, e) in &acked.elements {
        let port = *owner_of
            .get(k.as_bytes())
            .unwrap_or_else(|| panic!("{victim:?} run {run}: acknowledged set {k} is lost"));
        let got = conns
            .get_mut(&port)
            .unwrap()
            .call(&[b"VISMEMBER", k.as_bytes(), e.as_bytes()])
            .unwrap();
        assert_eq!(got, Resp::Int(1), "{victim:?} run {run}: {k} {e} is lost");
    }
    let counts: Vec<i64> = nodes.iter().map(dbsize).collect();
    eprintln!(
        "{victim:?} run {run}: killed {} (target held >= {threshold} keys); {} blobs and {} \
         elements acknowledged, all found; {} writes not acknowledged; keys per node {counts:?}",
        if in_flight {
            "mid-rebalance"
        } else {
            "after the rebalance ended"
        },
        acked.blobs.len(),
        acked.elements.len(),
        acked.unacknowledged
    );
    in_flight
}

fn campaign(victim: Victim) {
    let n = runs();
    let hits = (0..n).filter(|&r| one_run(victim, r, n)).count();
    eprintln!("{victim:?}: {n} runs, {hits} killed mid-rebalance, 0 acknowledged writes lost");
}

#[test]
fn killing_the_source_node_during_a_rebalance_loses_no_acknowledged_write() {
    campaign(Victim::Source);
}

#[test]
fn killing_the_target_node_during_a_rebalance_loses_no_acknowledged_write() {
    campaign(Victim::Target);
}

#[test]
fn killing_the_manager_during_a_rebalance_loses_no_acknowledged_write() {
    campaign(Victim::Manager);
}
