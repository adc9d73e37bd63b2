//! Cluster mode over raw RESP bytes: CLUSTER's replies (RESP2 and RESP3) in emulated mode,
//! and three nodes in `yes` mode with a configuration pushed by SUTRA.CLUSTER CONFIG:
//! -MOVED, -ASK with ASKING, -CROSSSLOT (commands and transactions), -CLUSTERDOWN, the
//! epoch rule, and the configuration kept across a restart.

use crate::server_support;

use server_support::{cmd, show, words, Conn, TestServer};
use sutra_cache::cluster::key_slot;
use sutra_cache::server::ServerConfig;

fn config(args: &[&str]) -> ServerConfig {
    let mut all = vec!["sutra-cache-serve"];
    if !args.contains(&"--in-memory") {
        all.extend(["--in-memory", "true"]);
    }
    all.extend_from_slice(args);
    ServerConfig::try_parse_from(all).expect("flags parse")
}

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// A bulk string's bytes, framed.
fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

#[test]
fn cluster_commands_are_refused_as_in_redis_when_cluster_mode_is_off() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    for sub in ["INFO", "SLOTS", "NODES", "SHARDS", "MYID"] {
        c.check_words(
            &format!("CLUSTER {sub}"),
            "-ERR This instance has cluster support disabled\r\n",
        );
    }
    c.check_words(
        "ASKING",
        "-ERR This instance has cluster support disabled\r\n",
    );
    // KEYSLOT needs no cluster (as Redis answers it anywhere).
    c.check_words("CLUSTER KEYSLOT foo", ":12182\r\n");
    // Keys of different slots mix freely.
    c.check_words("MSET a 1 b 2", "+OK\r\n");
    c.check_words("MGET a b", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    let info = text(&c.call(&[b"INFO", b"cluster"]));
    assert!(info.contains("cluster_enabled:0\r\n"), "{info}");
    let info = text(&c.call(&[b"INFO", b"server"]));
    assert!(info.contains("redis_mode:standalone\r\n"), "{info}");
}

#[test]
fn an_emulated_cluster_is_one_node_owning_every_slot_in_redis_reply_shapes() {
    let srv = TestServer::with_config(config(&["--cluster-mode", "emulated"]));
    let port = srv.addr.port();
    let mut c = srv.connect();
    let id = c.call(&[b"CLUSTER", b"MYID"]);
    let id = text(&id);
    let id = id.trim_end().rsplit('\n').next().unwrap().to_string();
    assert_eq!(id.len(), 40, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let node2 = format!("{}:{port}\r\n{}*0\r\n", bulk("127.0.0.1"), bulk(&id));
    c.check(
        &words("CLUSTER SLOTS"),
        format!("*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n{node2}").as_bytes(),
    );
    let shard = |resp3: bool| {
        let map = |n: usize| {
            if resp3 {
                format!("%{n}\r\n")
            } else {
                format!("*{}\r\n", 2 * n)
            }
        };
        let mut v = format!(
            "*1\r\n{}{}*2\r\n:0\r\n:16383\r\n{}*1\r\n{}",
            map(2),
            bulk("slots"),
            bulk("nodes"),
            map(7)
        );
        for (k, val) in [
            ("id", bulk(&id)),
            ("port", format!(":{port}\r\n")),
            ("ip", bulk("127.0.0.1")),
            ("endpoint", bulk("127.0.0.1")),
            ("role", bulk("master")),
            ("replication-offset", ":0\r\n".into()),
            ("health", bulk("online")),
        ] {
            v.push_str(&bulk(k));
            v.push_str(&val);
        }
        v
    };
    let resp2 = shard(false);
    c.check(&words("CLUSTER SHARDS"), resp2.as_bytes());
    let nodes = format!("{id} 127.0.0.1:{port}@{port} myself,master - 0 0 1 connected 0-16383\n");
    c.check(&words("CLUSTER NODES"), bulk(&nodes).as_bytes());
    let info = text(&c.call(&[b"CLUSTER", b"INFO"]));
    for line in [
        "cluster_state:ok\r\n",
        "cluster_slots_assigned:16384\r\n",
        "cluster_known_nodes:1\r\n",
        "cluster_size:1\r\n",
    ] {
        assert!(info.contains(line), "{line} in {info}");
    }
    // RESP3: real maps, an empty map for the metadata, verbatim text.
    c.call(&[b"HELLO", b"3"]);
    c.check(
        &words("CLUSTER SLOTS"),
        format!(
            "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n{}",
            node2.replace("*0\r\n", "%0\r\n")
        )
        .as_bytes(),
    );
    c.check(&words("CLUSTER SHARDS"), shard(true).as_bytes());
    c.check(
        &words("CLUSTER NODES"),
        format!("={}\r\ntxt:{nodes}\r\n", nodes.len() + 4).as_bytes(),
    );
    let info = text(&c.call(&[b"INFO", b"cluster"]));
    assert!(
        info.contains("cluster_enabled:1\r\ncluster_mode:emulated\r\n"),
        "{info}"
    );
}

#[test]
fn keyslot_counts_and_lists_keys_by_slot() {
    let srv = TestServer::with_config(config(&["--cluster-mode", "emulated"]));
    let mut c = srv.connect();
    c.check_words("CLUSTER KEYSLOT foo", ":12182\r\n");
    c.check_words("CLUSTER KEYSLOT {user1000}.following", ":3443\r\n");
    c.check_words("CLUSTER KEYSLOT {user1000}.followers", ":3443\r\n");
    c.check_words("CLUSTER KEYSLOT foo{}{bar}", ":8363\r\n");
    for k in ["{t}a", "{t}b", "{t}c", "other"] {
        c.check_words(&format!("SET {k} v"), "+OK\r\n");
    }
    c.send(&cmd(&[
        b"VADD", b"{t}set", b"VALUES", b"2", b"1", b"0", b"e",
    ]));
    assert_eq!(c.read_reply(), b":1\r\n");
    let slot = key_slot(b"t");
    c.check_words(&format!("CLUSTER COUNTKEYSINSLOT {slot}"), ":4\r\n");
    let listed = text(&c.call(&words_args(&format!("CLUSTER GETKEYSINSLOT {slot} 10"))));
    assert!(listed.starts_with("*4\r\n"), "{listed}");
    for k in ["{t}a", "{t}b", "{t}c", "{t}set"] {
        assert!(
            listed.contains(&bulk(k)),
            "{k} in {}",
            show(listed.as_bytes())
        );
    }
    let two = c.call(&words_args(&format!("CLUSTER GETKEYSINSLOT {slot} 2")));
    assert!(two.starts_with(b"*2\r\n"), "{}", show(&two));
    c.check_words("CLUSTER COUNTKEYSINSLOT 16384", "-ERR Invalid slot\r\n");
    c.check_words("CLUSTER COUNTKEYSINSLOT x", "-ERR Invalid slot\r\n");
    c.check_words(
        "CLUSTER GETKEYSINSLOT 1 -1",
        "-ERR Invalid slot or number of keys\r\n",
    );
    c.check_words(
        "CLUSTER GETKEYSINSLOT 1",
        "-ERR wrong number of arguments for 'cluster|getkeysinslot' command\r\n",
    );
    c.check_words(
        "CLUSTER NOPE",
        "-ERR unknown subcommand 'NOPE'. Try CLUSTER HELP.\r\n",
    );
    let help = text(&c.call(&[b"CLUSTER", b"HELP"]));
    assert!(help.contains("+GETKEYSINSLOT <slot> <count>\r\n"), "{help}");
}

fn words_args(line: &str) -> Vec<&[u8]> {
    line.split(' ').map(str::as_bytes).collect()
}

#[test]
fn multi_key_commands_and_transactions_across_slots_get_crossslot() {
    let srv = TestServer::with_config(config(&["--cluster-mode", "emulated"]));
    let mut c = srv.connect();
    let cross = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    c.check_words("MSET a 1 b 2", cross);
    c.check_words("MGET a b", cross);
    c.check_words("DEL a b", cross);
    c.check_words("EXISTS a b", cross);
    c.check_words("WATCH a b", cross);
    c.check_words("MSET {u}a 1 {u}b 2", "+OK\r\n");
    c.check_words("MGET {u}a {u}b", "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    c.check_words("DEL {u}a {u}b", ":2\r\n");
    // A transaction's commands share one slot: a command of another slot is refused and
    // the transaction aborted.
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("SET {u}a 1", "+QUEUED\r\n");
    c.check_words("SET {v}a 1", cross);
    c.check_words("PING", "+QUEUED\r\n");
    c.check_words(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("SET {u}a 1", "+QUEUED\r\n");
    c.check_words("INCR {u}b", "+QUEUED\r\n");
    c.check_words("EXEC", "*2\r\n+OK\r\n:1\r\n");
    // Keyless commands run anywhere.
    c.check_words("DBSIZE", ":2\r\n");
}

/// Three in-memory nodes in `yes` mode named a, b, c.
struct Three {
    nodes: Vec<TestServer>,
}

impl Three {
    fn start() -> Three {
        let nodes = ["a", "b", "c"]
            .iter()
            .map(|id| {
                TestServer::with_config(config(&["--cluster-mode", "yes", "--cluster-node-id", id]))
            })
            .collect();
        Three { nodes }
    }

    fn port(&self, i: usize) -> u16 {
        self.nodes[i].addr.port()
    }

    /// a: 0-5460, b: 5461-10922, c: 10923-16383, and `extra` shard fields per shard.
    fn config(&self, epoch: u64, extra: [&str; 3]) -> String {
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        let shards: Vec<String> = ["a", "b", "c"]
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    r#"{{"slot_ranges":[{{"start":{},"end":{}}}],"master":{{"id":"{id}","ip":"127.0.0.1","port":{}}}{}}}"#,
                    ranges[i].0,
                    ranges[i].1,
                    self.port(i),
                    extra[i]
                )
            })
            .collect();
        format!(r#"{{"epoch":{epoch},"shards":[{}]}}"#, shards.join(","))
    }

    fn push(&self, json: &str) -> Vec<Vec<u8>> {
        self.nodes
            .iter()
            .map(|n| {
                n.connect()
                    .call(&[b"SUTRA.CLUSTER", b"CONFIG", json.as_bytes()])
            })
            .collect()
    }

    fn conn(&self, i: usize) -> Conn {
        self.nodes[i].connect()
    }
}

/// A key (with `prefix`) whose slot is within `lo..=hi`.
fn key_in(prefix: &str, lo: u16, hi: u16) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| (lo..=hi).contains(&key_slot(k.as_bytes())))
        .unwrap()
}

#[test]
fn nodes_refuse_keys_until_configured_then_redirect_with_moved() {
    let three = Three::start();
    let mut a = three.conn(0);
    a.check_words(
        "GET foo",
        "-CLUSTERDOWN The cluster is not configured yet: push a configuration (sutra-cache cluster create)\r\n",
    );
    a.check_words("PING", "+PONG\r\n");
    a.check_words("SUTRA.CLUSTER EPOCH", ":0\r\n");
    let info = text(&a.call(&[b"CLUSTER", b"INFO"]));
    assert!(info.contains("cluster_state:fail\r\n"), "{info}");
    a.check_words("CLUSTER SLOTS", "*0\r\n");
    for r in three.push(&three.config(1, ["", "", ""])) {
        assert_eq!(show(&r), "+OK\\r\\n");
    }
    a.check_words("SUTRA.CLUSTER EPOCH", ":1\r\n");
    // foo is slot 12182: node c's.
    let c_port = three.port(2);
    a.check_words("GET foo", &format!("-MOVED 12182 127.0.0.1:{c_port}\r\n"));
    a.check_words("SET foo 1", &format!("-MOVED 12182 127.0.0.1:{c_port}\r\n"));
    let mut c = three.conn(2);
    c.check_words("SET foo 1", "+OK\r\n");
    c.check_words("GET foo", "$1\r\n1\r\n");
    // Vector-set commands route by their key too.
    let b_port = three.port(1);
    let kb = key_in("emb:", 5461, 10922);
    let moved = format!("-MOVED {} 127.0.0.1:{b_port}\r\n", key_slot(kb.as_bytes()));
    a.check(
        &cmd(&[b"VADD", kb.as_bytes(), b"VALUES", b"2", b"1", b"0", b"e"]),
        moved.as_bytes(),
    );
    a.check(
        &cmd(&[b"VSIM", kb.as_bytes(), b"ELE", b"e"]),
        moved.as_bytes(),
    );
    let mut b = three.conn(1);
    b.check(
        &cmd(&[b"VADD", kb.as_bytes(), b"VALUES", b"2", b"1", b"0", b"e"]),
        b":1\r\n",
    );
    // In a transaction a redirect aborts it.
    a.check_words("MULTI", "+OK\r\n");
    a.check_words("GET foo", &format!("-MOVED 12182 127.0.0.1:{c_port}\r\n"));
    a.check_words(
        "EXEC",
        "-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // The replies describe the three shards.
    let slots = text(&a.call(&[b"CLUSTER", b"SLOTS"]));
    assert!(
        slots.starts_with("*3\r\n*3\r\n:0\r\n:5460\r\n*4\r\n"),
        "{slots}"
    );
    let nodes = text(&b.call(&[b"CLUSTER", b"NODES"]));
    let expected_b =
        format!("b 127.0.0.1:{b_port}@{b_port} myself,master - 0 0 1 connected 5461-10922\n");
    assert!(nodes.contains(&expected_b), "{nodes}");
    assert!(
        nodes.contains(&format!(
            "c 127.0.0.1:{c_port}@{c_port} master - 0 0 1 connected 10923-16383\n"
        )),
        "{nodes}"
    );
    let info = text(&b.call(&[b"CLUSTER", b"INFO"]));
    assert!(
        info.contains("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n"),
        "{info}"
    );
    assert!(
        info.contains("cluster_known_nodes:3\r\ncluster_size:3\r\ncluster_current_epoch:1\r\n"),
        "{info}"
    );
}

#[test]
fn configurations_go_forward_by_epoch_only() {
    let three = Three::start();
    let one = three.config(2, ["", "", ""]);
    three.push(&one);
    let mut a = three.conn(0);
    a.check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", one.as_bytes()]),
        b"+OK\r\n",
    );
    let older = three.config(1, ["", "", ""]);
    a.check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", older.as_bytes()]),
        b"-ERR configuration epoch 1 is older than this node's 2: refused\r\n",
    );
    let same_epoch_other = one
        .replace("5460", "5459")
        .replace("\"start\":5461", "\"start\":5460");
    a.check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", same_epoch_other.as_bytes()]),
        b"-ERR configuration epoch 2 is this node's but the content differs: a new configuration needs a higher epoch\r\n",
    );
    let overlapping = three
        .config(3, ["", "", ""])
        .replace("\"start\":5461", "\"start\":5000");
    a.check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", overlapping.as_bytes()]),
        b"-ERR slot 5000 is given to shards[0] and shards[1]\r\n",
    );
    let without_a = three
        .config(3, ["", "", ""])
        .replace("\"id\":\"a\"", "\"id\":\"z\"");
    let r = text(&a.call(&[b"SUTRA.CLUSTER", b"CONFIG", without_a.as_bytes()]));
    assert!(
        r.starts_with("-ERR the configuration does not list this node (a)"),
        "{r}"
    );
    let r = text(&a.call(&[b"SUTRA.CLUSTER", b"CONFIG", b"{not json"]));
    assert!(
        r.starts_with("-ERR the configuration is not valid JSON"),
        "{r}"
    );
    a.check_words("SUTRA.CLUSTER EPOCH", ":2\r\n");
    // Emulated and off nodes take no configuration.
    let emu = TestServer::with_config(config(&["--cluster-mode", "emulated"]));
    emu.connect().check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", one.as_bytes()]),
        b"-ERR Cluster configuration needs --cluster-mode yes on this node\r\n",
    );
}

#[test]
fn a_migrating_slot_sends_missing_keys_to_the_target_with_ask() {
    let three = Three::start();
    let slot = key_slot(b"foo"); // 12182, node c's
    let migration = format!(
        r#","migrations":[{{"slot_ranges":[{{"start":{slot},"end":{slot}}}],"node_id":"a"}}]"#
    );
    three.push(&three.config(1, ["", "", ""]));
    let mut c = three.conn(2);
    c.check_words("SET foo{x} 1", "+OK\r\n");
    c.check_words("SET {foo}here 1", "+OK\r\n");
    let r = three.push(&three.config(2, ["", "", &migration]));
    assert!(r.iter().all(|r| r == b"+OK\r\n"), "{r:?}");
    let (a_port, c_port) = (three.port(0), three.port(2));
    // On the source: a key it has is served; a missing one is asked of the target.
    let k_here = "foo{x}";
    let slot_x = key_slot(k_here.as_bytes());
    assert_ne!(slot_x, slot);
    c.check_words("GET foo", &format!("-ASK {slot} 127.0.0.1:{a_port}\r\n"));
    c.check_words("SET foo 2", &format!("-ASK {slot} 127.0.0.1:{a_port}\r\n"));
    let nodes = text(&c.call(&[b"CLUSTER", b"NODES"]));
    assert!(nodes.contains(&format!(" [{slot}->-a]\n")), "{nodes}");
    // A key still here is read here; a client's write to it waits (TRYAGAIN) until the
    // manager's connection has copied and deleted it.
    c.check_words("GET {foo}here", "$1\r\n1\r\n");
    c.check_words(
        "SET {foo}here 2",
        &format!("-TRYAGAIN Slot {slot} is migrating: writes to its existing keys wait until their copy is done\r\n"),
    );
    let mut manager = three.conn(2);
    manager.check_words("SUTRA.CLUSTER MIGRATOR", "+OK\r\n");
    manager.check_words("DEL {foo}here", ":1\r\n");
    c.check_words(
        "SET {foo}here 2",
        &format!("-ASK {slot} 127.0.0.1:{a_port}\r\n"),
    );
    // On the target: MOVED to the owner unless ASKING came just before.
    let mut a = three.conn(0);
    a.check_words("GET foo", &format!("-MOVED {slot} 127.0.0.1:{c_port}\r\n"));
    a.check_words("ASKING", "+OK\r\n");
    a.check_words("SET foo 2", "+OK\r\n");
    a.check_words("GET foo", &format!("-MOVED {slot} 127.0.0.1:{c_port}\r\n"));
    a.check_words("ASKING", "+OK\r\n");
    a.check_words("GET foo", "$1\r\n2\r\n");
    let nodes = text(&a.call(&[b"CLUSTER", b"NODES"]));
    assert!(nodes.contains(&format!(" [{slot}-<-c]\n")), "{nodes}");
    // The flip: epoch 3 gives the slot to a.
    let flipped = three
        .config(3, ["", "", ""])
        .replace("\"start\":10923", &format!("\"start\":{}", slot + 1))
        .replace(
            "{\"start\":0,\"end\":5460}",
            &format!("{{\"start\":0,\"end\":5460}},{{\"start\":10923,\"end\":{slot}}}"),
        );
    let r = three.push(&flipped);
    assert!(r.iter().all(|r| r == b"+OK\r\n"), "{r:?} {flipped}");
    a.check_words("GET foo", "$1\r\n2\r\n");
    c.check_words("GET foo", &format!("-MOVED {slot} 127.0.0.1:{a_port}\r\n"));
}

#[test]
fn a_node_comes_back_with_its_id_and_configuration_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let start = || {
        TestServer::with_config(config(&[
            "--in-memory",
            "false",
            "--storage-path",
            &path,
            "--cluster-mode",
            "yes",
        ]))
    };
    let srv = start();
    let mut c = srv.connect();
    let id_reply = c.call(&[b"CLUSTER", b"MYID"]);
    let id = text(&id_reply).lines().nth(1).unwrap().to_string();
    let json = format!(
        r#"{{"epoch":7,"shards":[{{"slot_ranges":[{{"start":0,"end":16383}}],"master":{{"id":"{id}","ip":"127.0.0.1","port":{}}}}}]}}"#,
        srv.addr.port()
    );
    c.check(
        &cmd(&[b"SUTRA.CLUSTER", b"CONFIG", json.as_bytes()]),
        b"+OK\r\n",
    );
    c.check_words("SET k v", "+OK\r\n");
    drop(c);
    srv.stop().unwrap();
    assert!(dir.path().join("cluster-config.json").exists());
    let srv = start();
    let mut c = srv.connect();
    assert_eq!(c.call(&[b"CLUSTER", b"MYID"]), id_reply);
    c.check_words("SUTRA.CLUSTER EPOCH", ":7\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check(
        &cmd(&[
            b"SUTRA.CLUSTER",
            b"CONFIG",
            json.replace("\"epoch\":7", "\"epoch\":6").as_bytes(),
        ]),
        b"-ERR configuration epoch 6 is older than this node's 7: refused\r\n",
    );
}
