//! Three `sutra-cache serve --cluster-mode yes` processes on loopback ports, configured by
//! `sutra-cache cluster create`, driven by Redis Cluster clients unchanged: redis-py's
//! RedisCluster, go-redis's ClusterClient (`tests/go_cluster`), `redis-benchmark --cluster` and
//! `redis-cli -c` (scripts/setup.sh installs them; see `server_support::tools` for what a
//! missing one does).
//! Also the manager's other subcommands and a restart of a node.

use crate::server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use server_support::cluster_node::{endpoints, manager, Node};
use server_support::tools;

fn tool(name: &str) -> Command {
    Command::new(name)
}

fn run_redis_py(ports: &[u16]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/server_cluster_redis_py.py"
    );
    let out = tool("python3")
        .arg(script)
        .args(ports.iter().map(u16::to_string))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn redis_py_cluster_client_works_against_one_emulated_node() {
    if tools::missing_redis_py() {
        return;
    }
    let node = Node::start("emulated", None);
    run_redis_py(&[node.port]);
}
fn three_configured() -> Vec<Node> {
    let nodes: Vec<Node> = (0..3).map(|_| Node::start("yes", None)).collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let mut args = vec!["create".to_string()];
    args.extend(endpoints(&refs));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = manager(&args);
    assert!(ok, "{out}");
    nodes
}

#[test]
fn redis_py_cluster_client_works_against_three_nodes_made_by_cluster_create() {
    if tools::missing_redis_py() {
        return;
    }
    let nodes = three_configured();
    for n in &nodes {
        assert_eq!(n.call(&["SUTRA.CLUSTER", "EPOCH"]), ":1\r\n");
    }
    run_redis_py(&nodes.iter().map(|n| n.port).collect::<Vec<_>>());
}

#[test]
fn go_redis_cluster_client_works_against_three_nodes_made_by_cluster_create() {
    if tools::missing(
        "go",
        tools::has_command("go"),
        "run scripts/setup.sh, then `. scripts/env.sh`",
    ) {
        return;
    }
    let nodes = three_configured();
    // tests/go_cluster is its own module (go-redis only); go fetches it through the module
    // proxy into the module cache when it is not there yet.
    let out = tool("go")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/go_cluster"))
        .args(["run", "."])
        .args(nodes.iter().map(|n| n.port.to_string()))
        .output()
        .expect("go runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{text}");
}

/// Which node (by port) serves each slot, from a node's configuration in force.
fn slot_owners(node: &Node) -> sutra_cache::cluster::Routes {
    let json = call_raw(node.port, &[b"SUTRA.CLUSTER", b"GETCONFIG"]);
    let body = &json[json.iter().position(|&b| b == b'\n').unwrap() + 1..json.len() - 2];
    let topo = sutra_cache::cluster::Topology::parse(body).expect("a configuration");
    sutra_cache::cluster::Routes::new(topo).unwrap()
}

/// Every key `node` holds (redis-cli --scan).
fn keys_of(node: &Node) -> Vec<String> {
    let out = tool("redis-cli")
        .args(["-p", &node.port.to_string(), "--scan"])
        .output()
        .expect("redis-cli runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn redis_benchmark_cluster_runs_against_three_nodes_with_no_errors() {
    if tools::missing_redis_tool("redis-benchmark") || tools::missing_redis_tool("redis-cli") {
        return;
    }
    let nodes = three_configured();
    let out = tool("redis-benchmark")
        .args([
            "--cluster",
            "-h",
            "127.0.0.1",
            "-p",
            &nodes[1].port.to_string(),
        ])
        .args(["-n", "3000", "-c", "12", "-r", "100000", "--csv"])
        .args(["-t", "ping,set,get,incr,mset"])
        .output()
        .expect("redis-benchmark runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Cluster has 3 master nodes"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    for t in ["\"SET\"", "\"GET\"", "\"INCR\"", "\"MSET (10 keys)\""] {
        assert!(text.contains(t), "no {t} result: {text}");
    }
    // The benchmark's keys went to every node, each to the node that serves its slot.
    let routes = slot_owners(&nodes[0]);
    for n in &nodes {
        let keys = keys_of(n);
        assert!(!keys.is_empty(), "node {} got no keys", n.port);
        for k in keys {
            let slot = sutra_cache::cluster::key_slot(k.as_bytes());
            assert_eq!(routes.owner(slot).unwrap().master.port, n.port, "{k}");
        }
    }
}

#[test]
fn redis_cli_follows_redirects_between_three_nodes() {
    if tools::missing_redis_tool("redis-cli") {
        return;
    }
    let nodes = three_configured();
    let cli = |port: u16, args: &[&str]| {
        let out = tool("redis-cli")
            .args(["-c", "-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // foo is slot 12182, the third node's; every node gets there.
    for n in &nodes {
        assert_eq!(cli(n.port, &["SET", "foo", "bar"]), "OK");
        assert_eq!(cli(n.port, &["GET", "foo"]), "bar");
    }
    assert_eq!(nodes[2].call(&["GET", "foo"]), "$3\r\nbar\r\n");
    assert!(nodes[0].call(&["GET", "foo"]).starts_with("-MOVED 12182 "));
    let slots = cli(nodes[0].port, &["CLUSTER", "SLOTS"]);
    assert!(slots.contains(&nodes[1].port.to_string()), "{slots}");
}

/// Sends `args` and reads the whole reply through a raw connection.
fn call_raw(port: u16, args: &[&[u8]]) -> Vec<u8> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        req.extend_from_slice(a);
        req.extend_from_slice(b"\r\n");
    }
    s.write_all(&req).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    let n = s.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// The node of `nodes` that serves `key` (follows one MOVED).
fn owner_of<'a>(nodes: &'a [&'a Node], key: &str) -> &'a Node {
    let r = nodes[0].call(&["TYPE", key]);
    match r.strip_prefix("-MOVED ") {
        Some(rest) => {
            let port: u16 = rest.trim().rsplit(':').next().unwrap().parse().unwrap();
            nodes.iter().find(|n| n.port == port).unwrap()
        }
        None => nodes[0],
    }
}

#[test]
fn add_node_and_rebalance_move_only_the_needed_slots_with_every_key() {
    let dirs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let nodes: Vec<Node> = dirs[..3]
        .iter()
        .map(|d| Node::start("yes", Some(d.path())))
        .collect();
    let refs: Vec<&Node> = nodes.iter().collect();
    let mut args = vec!["create".to_string()];
    args.extend(endpoints(&refs));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let (ok, out) = manager(&a);
    assert!(ok, "{out}");
    let seed = endpoints(&refs)[0].clone();
    // Blobs with and without TTLs, and vector sets with attributes and element TTLs.
    let n_blobs = 600;
    for i in 0..n_blobs {
        let k = format!("blob:{i}");
        let o = owner_of(&refs, &k);
        let r = if i % 3 == 0 {
            o.call(&["SET", &k, &format!("v{i}"), "EX", "1000"])
        } else {
            o.call(&["SET", &k, &format!("v{i}")])
        };
        assert_eq!(r, "+OK\r\n", "{k}");
    }
    // Hashes (RedisVL's and LlamaIndex's entries), with and without TTLs.
    let n_hashes = 30;
    for i in 0..n_hashes {
        let k = format!("hash:{i}");
        let o = owner_of(&refs, &k);
        assert_eq!(
            o.call(&["HSET", &k, "text", &format!("t{i}"), "n", "1"]),
            ":2\r\n"
        );
        if i % 2 == 0 {
            assert_eq!(o.call(&["EXPIRE", &k, "1000"]), ":1\r\n");
        }
    }
    for p in 0..12 {
        let k = format!("emb:{{{p}}}");
        let o = owner_of(&refs, &k);
        for e in 0..5 {
            let vec: Vec<u8> = [1.0f32, e as f32, p as f32]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect();
            let attr = format!("{{\"n\":{e}}}");
            let r = call_raw(
                o.port,
                &[
                    b"VADD",
                    k.as_bytes(),
                    b"FP32",
                    &vec,
                    format!("e{e}").as_bytes(),
                    b"SETATTR",
                    attr.as_bytes(),
                ],
            );
            assert_eq!(r, b":1\r\n");
        }
        assert_eq!(o.call(&["VPEXPIRE", &k, "e1", "5000000"]), ":1\r\n");
    }
    let node4 = Node::start("yes", Some(dirs[3].path()));
    let (ok, out) = manager(&["add-node", &seed, &format!("127.0.0.1:{}", node4.port)]);
    assert!(ok, "{out}");
    assert_eq!(node4.call(&["DBSIZE"]), ":0\r\n");
    let (ok, out) = manager(&["rebalance", &seed, "--step-slots", "1000"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("moving 4096 slots (the minimum to even out 4 nodes)"),
        "{out}"
    );
    let all: Vec<&Node> = nodes.iter().chain(std::iter::once(&node4)).collect();
    let (ok, out) = manager(&["check", &seed]);
    assert!(ok, "{out}");
    // Every key is on its owner only, with its value, TTL, attributes and element TTLs.
    let mut total = 0;
    for n in &all {
        let keys: i64 = n.call(&["DBSIZE"]).trim()[1..].parse().unwrap();
        total += keys;
        let c = n.call(&["CLUSTER", "COUNTKEYSINSLOT", "0"]);
        assert!(c.starts_with(':'), "{c}");
    }
    assert_eq!(total, n_blobs + n_hashes + 12);
    assert!(node4.call(&["DBSIZE"]) != ":0\r\n");
    for i in 0..n_hashes {
        let k = format!("hash:{i}");
        let o = owner_of(&all, &k);
        let t = format!("t{i}");
        assert_eq!(
            o.call(&["HGETALL", &k]),
            format!(
                "*4\r\n$4\r\ntext\r\n${}\r\n{t}\r\n$1\r\nn\r\n$1\r\n1\r\n",
                t.len()
            ),
            "{k}"
        );
        let ttl: i64 = o.call(&["TTL", &k]).trim()[1..].parse().unwrap();
        if i % 2 == 0 {
            assert!(ttl > 900 && ttl <= 1000, "{k}: {ttl}");
        } else {
            assert_eq!(ttl, -1, "{k}");
        }
    }
    for i in 0..n_blobs {
        let k = format!("blob:{i}");
        let o = owner_of(&all, &k);
        let v = format!("v{i}");
        assert_eq!(
            o.call(&["GET", &k]),
            format!("${}\r\n{v}\r\n", v.len()),
            "{k}"
        );
        let ttl = o.call(&["TTL", &k]);
        if i % 3 == 0 {
            let t: i64 = ttl.trim()[1..].parse().unwrap();
            assert!(t > 900 && t <= 1000, "{k}: {ttl}");
        } else {
            assert_eq!(ttl, ":-1\r\n", "{k}");
        }
    }
    for p in 0..12 {
        let k = format!("emb:{{{p}}}");
        let o = owner_of(&all, &k);
        assert_eq!(o.call(&["VCARD", &k]), ":5\r\n", "{k}");
        assert_eq!(o.call(&["VGETATTR", &k, "e3"]), "$7\r\n{\"n\":3}\r\n");
        let ttl: i64 = o.call(&["VTTL", &k, "e1"]).trim()[1..].parse().unwrap();
        assert!(ttl > 4000 && ttl <= 5000, "{k}: {ttl}");
        assert_eq!(o.call(&["VTTL", &k, "e2"]), ":-1\r\n");
        let emb = call_raw(o.port, &[b"VGETF32", k.as_bytes(), b"e4"]);
        let want: Vec<u8> = [1.0f32, 4.0, p as f32]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        assert_eq!(&emb[emb.len() - 14..emb.len() - 2], &want[..]);
    }
    // Balanced now: a second rebalance moves nothing.
    let (ok, out) = manager(&["rebalance", &seed]);
    assert!(ok && out.contains("balanced: nothing to move"), "{out}");
    // A restarted node comes back with the configuration in force.
    let node4 = node4.restart("yes", dirs[3].path());
    let (ok, out) = manager(&["check", &seed]);
    assert!(ok, "{out}");
    // Removing a node moves its slots and keys to the others.
    let keys4 = node4.call(&["DBSIZE"]);
    let (ok, out) = manager(&["remove-node", &seed, &format!("127.0.0.1:{}", node4.port)]);
    assert!(ok, "{out}");
    assert_eq!(node4.call(&["DBSIZE"]), ":0\r\n", "moved away: {keys4}");
    let (ok, out) = manager(&["status", &seed]);
    assert!(ok, "{out}");
    assert!(!out.contains(&format!(":{} ", node4.port)), "{out}");
    let mut total = 0;
    for n in &nodes {
        total += n.call(&["DBSIZE"]).trim()[1..].parse::<i64>().unwrap();
    }
    assert_eq!(total, n_blobs + n_hashes + 12);
    let (ok, out) = manager(&["check", &seed]);
    assert!(ok, "{out}");
}

#[test]
fn the_manager_refuses_what_it_cannot_do_saying_why() {
    let off = Node::start("off", None);
    let (ok, out) = manager(&["create", &format!("127.0.0.1:{}", off.port)]);
    assert!(!ok);
    assert!(out.contains("cluster support disabled"), "{out}");
    let (ok, out) = manager(&["create", "nohost"]);
    assert!(!ok && out.contains("expected host:port"), "{out}");
    let yes = Node::start("yes", None);
    let (ok, out) = manager(&["status", &format!("127.0.0.1:{}", yes.port)]);
    assert!(!ok && out.contains("no cluster configuration yet"), "{out}");
}

#[test]
fn fifty_redis_py_clients_lose_nothing_while_a_fourth_node_is_added_and_rebalanced() {
    if tools::missing_redis_py() {
        return;
    }
    let nodes = three_configured();
    let seed = format!("127.0.0.1:{}", nodes[0].port);
    let node4 = Node::start("yes", None);
    let (ok, out) = manager(&["add-node", &seed, &format!("127.0.0.1:{}", node4.port)]);
    assert!(ok, "{out}");
    let dir = tempfile::tempdir().unwrap();
    let stop = dir.path().join("stop");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server_cluster_load.py");
    let load = tool("python3")
        .arg(script)
        .arg(&stop)
        .arg("50")
        .args(nodes.iter().chain([&node4]).map(|n| n.port.to_string()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    // Let the clients write for a while before the move (the keys' count grows).
    let start = Instant::now();
    while nodes[0].call(&["DBSIZE"]) == ":0\r\n" || start.elapsed() < Duration::from_secs(2) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the clients wrote nothing"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (ok, out) = manager(&["rebalance", &seed, "--step-slots", "64"]);
    std::fs::write(&stop, b"").unwrap();
    let res = load.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    assert!(ok, "{out}\n{report}");
    assert!(res.status.success(), "{report}\n{out}");
    eprintln!("{report}{out}");
    let (ok, out) = manager(&["check", &seed]);
    assert!(ok, "{out}");
    let counts: Vec<i64> = nodes
        .iter()
        .chain([&node4])
        .map(|n| n.call(&["DBSIZE"]).trim()[1..].parse().unwrap())
        .collect();
    assert!(counts.iter().all(|&c| c > 0), "{counts:?}");
}
