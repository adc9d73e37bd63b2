//! Redis 8 vector-set compatibility over TCP on port 0, byte for byte in RESP2 and RESP3:
//! VLINKS, VRANGE, BIN quantization, REDUCE.

use crate::server_support;

use server_support::{cmd, f32le, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use sutra_cache::EngineConfig;

/// A server whose sets get a graph from their first element.
fn indexed_server() -> TestServer {
    let config = ServerConfig::default();
    let engine = EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: 1,
        ..config.engine_config()
    };
    TestServer::with_engine_config(config, engine)
}

fn resp3(c: &mut Conn) {
    let _ = c.call(&[b"HELLO", b"3"]);
}

fn vadd(c: &mut Conn, key: &str, v: &[f32], name: &str) {
    c.check(
        &cmd(&[b"VADD", key.as_bytes(), b"FP32", &f32le(v), name.as_bytes()]),
        b":1\r\n",
    );
}

/// The expected VLINKS reply of `me` in a two-element set where the other element is
/// `other`: top level first, `other` at every level both have.
fn two_node_links(mine: usize, theirs: usize, other: &[u8], score: Option<&[u8]>) -> Vec<u8> {
    let mut v = format!("*{mine}\r\n").into_bytes();
    for level in (0..mine).rev() {
        let linked = level < theirs;
        let n = usize::from(linked);
        match score {
            Some(s) if s.starts_with(b",") => v.extend(format!("%{n}\r\n").bytes()),
            Some(_) => v.extend(format!("*{}\r\n", 2 * n).bytes()),
            None => v.extend(format!("*{n}\r\n").bytes()),
        }
        if linked {
            v.extend(format!("${}\r\n", other.len()).bytes());
            v.extend_from_slice(other);
            v.extend_from_slice(b"\r\n");
            if let Some(s) = score {
                v.extend_from_slice(s);
            }
        }
    }
    v
}

#[test]
fn vlinks_lists_neighbours_per_level_top_first_with_scores_in_both_protocols() {
    let server = indexed_server();
    let mut c = server.connect();
    vadd(&mut c, "s", &[1.0, 0.0], "a");
    vadd(&mut c, "s", &[0.0, 1.0], "b");
    server.engine.index_settle();
    let la = server.engine.vlinks(b"s", b"a").unwrap().unwrap().len();
    let lb = server.engine.vlinks(b"s", b"b").unwrap().unwrap().len();
    c.check(
        &cmd(&[b"VLINKS", b"s", b"a"]),
        &two_node_links(la, lb, b"b", None),
    );
    c.check(
        &cmd(&[b"vlinks", b"s", b"b"]),
        &two_node_links(lb, la, b"a", None),
    );
    // Orthogonal vectors: cosine 0, Redis's score 0.5.
    c.check(
        &cmd(&[b"VLINKS", b"s", b"a", b"WITHSCORES"]),
        &two_node_links(la, lb, b"b", Some(b"$3\r\n0.5\r\n")),
    );
    c.check(&cmd(&[b"VLINKS", b"s", b"nope"]), b"$-1\r\n");
    c.check(&cmd(&[b"VLINKS", b"none", b"a"]), b"$-1\r\n");
    resp3(&mut c);
    c.check(
        &cmd(&[b"VLINKS", b"s", b"a", b"withscores"]),
        &two_node_links(la, lb, b"b", Some(b",0.5\r\n")),
    );
    c.check(
        &cmd(&[b"VLINKS", b"s", b"b"]),
        &two_node_links(lb, la, b"a", None),
    );
    c.check(&cmd(&[b"VLINKS", b"s", b"nope"]), b"_\r\n");
}

/// The number of levels a VLINKS reply lists (its leading array length).
fn levels_in(reply: &[u8]) -> usize {
    let line = reply.split(|&b| b == b'\r').next().unwrap();
    assert_eq!(line[0], b'*', "{}", String::from_utf8_lossy(reply));
    std::str::from_utf8(&line[1..]).unwrap().parse().unwrap()
}

#[test]
fn vlinks_of_a_small_set_answers_from_a_graph_made_on_demand_and_errors_are_redis_texts() {
    // The default server: sets under 1,000 elements are searched without a graph until
    // VLINKS asks for one.
    let server = TestServer::start();
    let mut c = server.connect();
    vadd(&mut c, "small", &[1.0, 0.0], "a");
    vadd(&mut c, "small", &[0.0, 1.0], "b");
    let la = levels_in(&c.call(&[b"VLINKS", b"small", b"a"]));
    let lb = levels_in(&c.call(&[b"VLINKS", b"small", b"b"]));
    assert!(la >= 1 && lb >= 1);
    c.check(
        &cmd(&[b"VLINKS", b"small", b"a"]),
        &two_node_links(la, lb, b"b", None),
    );
    c.check(
        &cmd(&[b"VLINKS", b"small", b"b", b"WITHSCORES"]),
        &two_node_links(lb, la, b"a", Some(b"$3\r\n0.5\r\n")),
    );
    // An element added later is linked before VLINKS answers.
    vadd(&mut c, "small", &[1.0, 1.0], "c");
    let lc = levels_in(&c.call(&[b"VLINKS", b"small", b"c"]));
    let reply = c.call(&[b"VLINKS", b"small", b"c"]);
    let level0 = reply
        .split(|&b| b == b'\n')
        .rev()
        .take(5)
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect::<Vec<_>>();
    assert!(
        level0.iter().any(|l| l == "a\r") && level0.iter().any(|l| l == "b\r"),
        "c's level 0 lists a and b: {level0:?} of {lc} levels"
    );
    c.check(
        &cmd(&[b"VLINKS", b"small", b"a", b"BOGUS"]),
        b"-ERR wrong number of arguments for 'vlinks' command\r\n",
    );
    c.check(
        &cmd(&[b"VLINKS", b"small", b"a", b"WITHSCORES", b"x"]),
        b"-ERR wrong number of arguments for 'vlinks' command\r\n",
    );
    c.check(
        &cmd(&[b"VLINKS", b"small"]),
        b"-ERR wrong number of arguments for 'vlinks' command\r\n",
    );
    c.check(&cmd(&[b"SET", b"str", b"v"]), b"+OK\r\n");
    c.check(
        &cmd(&[b"VLINKS", b"str", b"a"]),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    resp3(&mut c);
    let expected = two_node_links_from(&mut c, la);
    c.check(&cmd(&[b"VLINKS", b"small", b"a", b"WITHSCORES"]), &expected);
}

/// `a`'s WITHSCORES reply in RESP3, rebuilt from its plain reply: each level a map of its
/// neighbours with their Redis scores to `a` = (1, 0).
fn two_node_links_from(c: &mut Conn, levels: usize) -> Vec<u8> {
    let plain = c.call(&[b"VLINKS", b"small", b"a"]);
    let text = String::from_utf8(plain).unwrap();
    let mut lines = text.split("\r\n");
    assert_eq!(lines.next().unwrap(), format!("*{levels}"));
    let mut out = format!("*{levels}\r\n");
    for _ in 0..levels {
        let n: usize = lines.next().unwrap()[1..].parse().unwrap();
        out.push_str(&format!("%{n}\r\n"));
        for _ in 0..n {
            let len = lines.next().unwrap();
            let name = lines.next().unwrap();
            let score = match name {
                "b" => "0.5",
                "c" => "0.8535533845424652", // (1 + cos 45°)/2 in f32
                other => panic!("{other}"),
            };
            out.push_str(&format!("{len}\r\n{name}\r\n,{score}\r\n"));
        }
    }
    out.into_bytes()
}

fn values(c: &mut Conn, args: &[&str]) -> Vec<u8> {
    let a: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
    c.call(&a)
}

#[test]
fn bin_quantization_stores_sign_bits_and_answers_as_redis_in_both_protocols() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (name, v) in [("a", ["3", "-4"]), ("b", ["1", "1"]), ("c", ["-1", "1"])] {
        assert_eq!(
            values(
                &mut c,
                &["VADD", "s", "VALUES", "2", v[0], v[1], name, "BIN"]
            ),
            b":1\r\n"
        );
    }
    // Scores are 1 − hamming/dim: a has the query's signs, b one differing, c two.
    c.check(
        &cmd(&[b"VSIM", b"s", b"VALUES", b"2", b"1", b"-1", b"WITHSCORES"]),
        b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n0.5\r\n$1\r\nc\r\n$1\r\n0\r\n",
    );
    // VEMB: ±1 per component; RAW: "bin", the bits in 64-bit words, the L2 norm given.
    c.check(
        &cmd(&[b"VEMB", b"s", b"a"]),
        b"*2\r\n$1\r\n1\r\n$2\r\n-1\r\n",
    );
    c.check(
        &cmd(&[b"VEMB", b"s", b"a", b"RAW"]),
        b"*3\r\n+bin\r\n$8\r\n\x01\x00\x00\x00\x00\x00\x00\x00\r\n$1\r\n5\r\n",
    );
    let info = c.call(&[b"VINFO", b"s"]);
    assert!(
        info.starts_with(b"*18\r\n+quant-type\r\n+bin\r\n"),
        "{}",
        String::from_utf8_lossy(&info)
    );
    c.check(&cmd(&[b"OBJECT", b"ENCODING", b"s"]), b"$3\r\nbin\r\n");
    // Every later VADD names the same quantization, as in Redis.
    c.check(
        &cmd(&[b"VADD", b"s", b"VALUES", b"2", b"1", b"1", b"x", b"Q8"]),
        b"-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check(
        &cmd(&[b"VADD", b"s", b"VALUES", b"2", b"1", b"1", b"x"]),
        b"-ERR asked quantization mismatch with existing vector set\r\n",
    );
    resp3(&mut c);
    c.check(
        &cmd(&[b"VSIM", b"s", b"ELE", b"a", b"WITHSCORES", b"COUNT", b"2"]),
        b"%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n",
    );
    c.check(&cmd(&[b"VEMB", b"s", b"c"]), b"*2\r\n,-1\r\n,1\r\n");
    c.check(
        &cmd(&[b"VEMB", b"s", b"b", b"RAW"]),
        b"*3\r\n+bin\r\n$8\r\n\x03\x00\x00\x00\x00\x00\x00\x00\r\n,1.4142135381698608\r\n",
    );
    let info = c.call(&[b"VINFO", b"s"]);
    assert!(
        info.starts_with(b"%9\r\n+quant-type\r\n+bin\r\n"),
        "{}",
        String::from_utf8_lossy(&info)
    );
}

#[test]
fn reduce_projects_vectors_remembers_the_projection_and_answers_redis_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    // Redis's projection of (1,0,0,0) to 2 dimensions is (½, ½); of (0,1,0,0), (½, −½).
    let add = |c: &mut Conn, v: [&str; 4], name: &str| {
        values(
            c,
            &[
                "VADD", "r", "REDUCE", "2", "VALUES", "4", v[0], v[1], v[2], v[3], name, "NOQUANT",
            ],
        )
    };
    assert_eq!(add(&mut c, ["1", "0", "0", "0"], "a"), b":1\r\n");
    assert_eq!(add(&mut c, ["0", "1", "0", "0"], "b"), b":1\r\n");
    c.check(&cmd(&[b"VDIM", b"r"]), b":2\r\n");
    c.check(
        &cmd(&[b"VEMB", b"r", b"b"]),
        b"*2\r\n$3\r\n0.5\r\n$4\r\n-0.5\r\n",
    );
    let info = String::from_utf8(c.call(&[b"VINFO", b"r"])).unwrap();
    assert!(
        info.contains("+vector-dim\r\n:2\r\n+projection-input-dim\r\n:4\r\n"),
        "{info}"
    );
    // A query of the input dimension is projected too.
    c.check(
        &cmd(&[
            b"VSIM",
            b"r",
            b"VALUES",
            b"4",
            b"0",
            b"1",
            b"0",
            b"0",
            b"WITHSCORES",
        ]),
        b"*4\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\na\r\n$3\r\n0.5\r\n",
    );
    // Redis's errors, in Redis's order.
    assert_eq!(
        values(
            &mut c,
            &["VADD", "r", "REDUCE", "3", "VALUES", "4", "1", "2", "3", "4", "c", "NOQUANT"]
        ),
        b"-ERR Vector dimension mismatch - got 4 but set has 2\r\n"
    );
    assert_eq!(
        values(
            &mut c,
            &["VADD", "r", "REDUCE", "2", "VALUES", "3", "1", "2", "3", "c", "NOQUANT"]
        ),
        b"-ERR Input dimension mismatch for projection - got 3 but projection expects 4\r\n"
    );
    c.check(
        &cmd(&[b"VSIM", b"r", b"VALUES", b"3", b"1", b"2", b"3"]),
        b"-ERR Input dimension mismatch for projection - got 3 but projection expects 4\r\n",
    );
    assert_eq!(
        values(&mut c, &["VADD", "p", "VALUES", "2", "1", "1", "a"]),
        b":1\r\n"
    );
    assert_eq!(
        values(
            &mut c,
            &["VADD", "p", "REDUCE", "2", "VALUES", "2", "1", "0", "b"]
        ),
        b"-ERR cannot add projection to existing set without projection\r\n"
    );
    for bad in ["0", "-1", "x"] {
        assert_eq!(
            values(
                &mut c,
                &["VADD", "q", "REDUCE", bad, "VALUES", "2", "1", "0", "a"]
            ),
            b"-ERR invalid vector specification\r\n"
        );
    }
    // VSIM takes no REDUCE (Redis reads it as an unknown vector format).
    c.check(
        &cmd(&[
            b"VSIM", b"r", b"REDUCE", b"2", b"VALUES", b"4", b"1", b"0", b"0", b"0",
        ]),
        b"-ERR invalid vector specification\r\n",
    );
    resp3(&mut c);
    c.check(&cmd(&[b"VEMB", b"r", b"a"]), b"*2\r\n,0.5\r\n,0.5\r\n");
    let info = String::from_utf8(c.call(&[b"VINFO", b"r"])).unwrap();
    assert!(info.contains("+projection-input-dim\r\n:4\r\n"), "{info}");
}

fn bulks(names: &[&str]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", names.len()).into_bytes();
    for n in names {
        v.extend(format!("${}\r\n{n}\r\n", n.len()).bytes());
    }
    v
}

#[test]
fn vrange_returns_lexicographic_ranges_with_redis_syntax_and_errors() {
    let server = TestServer::start();
    let mut c = server.connect();
    for (i, n) in ["banana", "apple", "cherry", "apricot", "app", "date"]
        .iter()
        .enumerate()
    {
        vadd(&mut c, "f", &[1.0, i as f32], n);
    }
    for proto3 in [false, true] {
        if proto3 {
            resp3(&mut c);
        }
        let mut q = |args: &[&str], names: &[&str]| {
            let mut a: Vec<&[u8]> = vec![b"VRANGE", b"f"];
            a.extend(args.iter().map(|s| s.as_bytes()));
            c.check(&cmd(&a), &bulks(names));
        };
        q(
            &["-", "+"],
            &["app", "apple", "apricot", "banana", "cherry", "date"],
        );
        q(
            &["-", "+", "-1"],
            &["app", "apple", "apricot", "banana", "cherry", "date"],
        );
        q(&["[apple", "[cherry", "2"], &["apple", "apricot"]);
        q(&["(apple", "(cherry"], &["apricot", "banana"]);
        q(&["[app", "[apr"], &["app", "apple"]);
        q(&["[cherry", "[cherry"], &["cherry"]);
        q(&["[date", "[apple"], &[]);
        q(&["-", "+", "0"], &[]);
        q(&["[zebra", "+"], &[]);
        q(&["(banana", "+", "10"], &["cherry", "date"]);
    }
    c.check(&cmd(&[b"VRANGE", b"nokey", b"-", b"+"]), b"*0\r\n");
    let errors: [(&[&[u8]], &[u8]); 8] = [
        (&[b"-", b"+", b"x"], b"-ERR invalid COUNT value\r\n"),
        (&[b"apple", b"+"], b"-ERR invalid start range format\r\n"),
        (&[b"[", b"+"], b"-ERR invalid start range format\r\n"),
        (&[b"-", b"cherry"], b"-ERR invalid end range format\r\n"),
        (&[b"-", b""], b"-ERR invalid end range format\r\n"),
        (
            &[b"+", b"+"],
            b"-ERR '-' can only be used as first argument, '+' only as second\r\n",
        ),
        (
            &[b"-", b"-"],
            b"-ERR '-' can only be used as first argument, '+' only as second\r\n",
        ),
        (
            &[b"-", b"+", b"1", b"2"],
            b"-ERR wrong number of arguments for 'vrange' command\r\n",
        ),
    ];
    for (args, reply) in errors {
        let mut a: Vec<&[u8]> = vec![b"VRANGE", b"f"];
        a.extend_from_slice(args);
        c.check(&cmd(&a), reply);
    }
    c.check(
        &cmd(&[b"VRANGE", b"f", b"-"]),
        b"-ERR wrong number of arguments for 'vrange' command\r\n",
    );
    c.check(&cmd(&[b"SET", b"str", b"v"]), b"+OK\r\n");
    c.check(
        &cmd(&[b"VRANGE", b"str", b"-", b"+"]),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
}

#[test]
fn config_get_shows_redis_vector_set_setting_and_set_refuses_it_as_immutable() {
    let config = ServerConfig {
        threads: 3,
        ..ServerConfig::default()
    };
    let server = TestServer::with_config(config);
    let mut c = server.connect();
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"vectorset-*"]),
        b"*2\r\n$26\r\nvectorset-hnsw-max-threads\r\n$1\r\n3\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"SET", b"vectorset-hnsw-max-threads", b"8"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'vectorset-hnsw-max-threads') - can't set immutable config\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"SET", b"maxclients", b"5", b"VECTORSET-HNSW-MAX-THREADS", b"8"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'VECTORSET-HNSW-MAX-THREADS') - can't set immutable config\r\n",
    );
    resp3(&mut c);
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"vectorset-hnsw-max-threads"]),
        b"%1\r\n$26\r\nvectorset-hnsw-max-threads\r\n$1\r\n3\r\n",
    );
}

/// Names of an array-of-bulks reply, in order.
fn names_of(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n");
    let n: usize = lines.next().unwrap()[1..].parse().unwrap();
    (0..n)
        .map(|_| {
            lines.next().unwrap();
            lines.next().unwrap().to_string()
        })
        .collect()
}

#[test]
fn acl_cat_lists_categories_and_the_vector_set_commands_as_redis_names_them() {
    let server = TestServer::start();
    let mut c = server.connect();
    let cats = names_of(&c.call(&[b"ACL", b"CAT"]));
    for want in [
        "keyspace",
        "read",
        "write",
        "string",
        "admin",
        "fast",
        "slow",
        "vectorset",
    ] {
        assert!(cats.iter().any(|c| c == want), "{want} in {cats:?}");
    }
    let mut vs = names_of(&c.call(&[b"ACL", b"CAT", b"VECTORSET"]));
    vs.sort();
    assert_eq!(
        vs,
        [
            "VADD",
            "VCARD",
            "VDIM",
            "VEMB",
            "VGETATTR",
            "VINFO",
            "VISMEMBER",
            "VLINKS",
            "VRANDMEMBER",
            "VREM",
            "VSETATTR",
            "VSIM"
        ]
    );
    let read = names_of(&c.call(&[b"ACL", b"CAT", b"read"]));
    let write = names_of(&c.call(&[b"ACL", b"CAT", b"write"]));
    let vset_writes: Vec<&String> = write.iter().filter(|n| vs.contains(n)).collect();
    assert_eq!(vset_writes, ["VADD", "VREM", "VSETATTR"]);
    // VRANGE (Redis 8.4) is a read of no category of its own, as in Redis.
    assert!(read.iter().any(|n| n == "VRANGE"));
    let fast = names_of(&c.call(&[b"ACL", b"CAT", b"fast"]));
    let mut vset_fast: Vec<&String> = fast.iter().filter(|n| vs.contains(n)).collect();
    vset_fast.sort();
    assert_eq!(
        vset_fast,
        ["VCARD", "VDIM", "VEMB", "VGETATTR", "VINFO", "VLINKS", "VSETATTR"]
    );
    assert!(read.iter().any(|n| n == "get") && read.iter().any(|n| n == "VSIM"));
    assert!(!read.iter().any(|n| n == "VADD" || n == "set"));
    c.check(
        &cmd(&[b"ACL", b"CAT", b"nosuch"]),
        b"-ERR Unknown category 'nosuch'\r\n",
    );
    c.check(
        &cmd(&[b"ACL", b"CAT", b"read", b"x"]),
        b"-ERR wrong number of arguments for 'acl|cat' command\r\n",
    );
    c.check(
        &cmd(&[b"ACL", b"NOPE"]),
        b"-ERR unknown subcommand 'NOPE'. Try ACL HELP.\r\n",
    );
    resp3(&mut c);
    let again = c.call(&[b"ACL", b"CAT", b"vectorset"]);
    assert!(
        again.starts_with(b"*12\r\n"),
        "{}",
        String::from_utf8_lossy(&again)
    );
}

#[test]
fn config_sets_and_gets_redis_vset_force_single_threaded_execution_in_both_protocols() {
    let server = TestServer::start();
    let mut c = server.connect();
    let get: &[&[u8]] = &[b"CONFIG", b"GET", b"vset-force-single-threaded-execution"];
    c.check(
        &cmd(get),
        b"*2\r\n$36\r\nvset-force-single-threaded-execution\r\n$2\r\nno\r\n",
    );
    c.check(
        &cmd(&[
            b"CONFIG",
            b"SET",
            b"vset-force-single-threaded-execution",
            b"yes",
        ]),
        b"+OK\r\n",
    );
    c.check(
        &cmd(get),
        b"*2\r\n$36\r\nvset-force-single-threaded-execution\r\n$3\r\nyes\r\n",
    );
    // The setting is the server's: another connection sees it.
    let mut other = server.connect();
    other.check(
        &cmd(&[b"CONFIG", b"GET", b"vset-*"]),
        b"*2\r\n$36\r\nvset-force-single-threaded-execution\r\n$3\r\nyes\r\n",
    );
    for bad in [&b""[..], b"abc", b"2", b"-1", b"True"] {
        c.check(
            &cmd(&[b"CONFIG", b"SET", b"vset-force-single-threaded-execution", bad]),
            b"-ERR CONFIG SET failed (possibly related to argument 'vset-force-single-threaded-execution') - argument must be 'yes' or 'no'\r\n",
        );
    }
    // A refused value changes nothing; VADD and VSIM answer the same under either value.
    c.check(
        &cmd(&[b"VADD", b"k", b"VALUES", b"2", b"1", b"0", b"a"]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[b"VSIM", b"k", b"VALUES", b"2", b"1", b"0", b"NOTHREAD"]),
        b"*1\r\n$1\r\na\r\n",
    );
    c.check(
        &cmd(&[
            b"CONFIG",
            b"SET",
            b"VSET-FORCE-SINGLE-THREADED-EXECUTION",
            b"NO",
        ]),
        b"+OK\r\n",
    );
    c.check(
        &cmd(&[b"VSIM", b"k", b"VALUES", b"2", b"1", b"0"]),
        b"*1\r\n$1\r\na\r\n",
    );
    resp3(&mut c);
    c.check(
        &cmd(get),
        b"%1\r\n$36\r\nvset-force-single-threaded-execution\r\n$2\r\nno\r\n",
    );
}

fn debug_server(mode: &str, dir: Option<&std::path::Path>) -> TestServer {
    let mut flags = vec![
        "x",
        "--enable-debug-command",
        mode,
        "--wal-sync-interval-ms",
        "0",
    ];
    if let Some(d) = dir {
        flags.extend([
            "--in-memory",
            "false",
            "--storage-path",
            d.to_str().unwrap(),
        ]);
    } else {
        flags.extend(["--in-memory", "true"]);
    }
    TestServer::with_config(ServerConfig::try_parse_from(flags).expect("flags parse"))
}

/// The one simple string of a one-key DIGEST-VALUE reply.
fn digest(c: &mut Conn, key: &[u8]) -> String {
    let r = c.call(&[b"DEBUG", b"DIGEST-VALUE", key]);
    let text = String::from_utf8(r).unwrap();
    assert!(
        text.starts_with("*1\r\n+") && text.len() == 4 + 1 + 40 + 2,
        "{text}"
    );
    text[5..45].to_string()
}

#[test]
fn debug_is_refused_unless_enabled_as_redis_7_refuses_it() {
    let refused = b"-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.\r\n";
    let server = TestServer::start();
    let mut c = server.connect();
    c.check(&cmd(&[b"DEBUG", b"DIGEST-VALUE", b"k"]), refused);
    c.check(&cmd(&[b"DEBUG", b"RELOAD"]), refused);
    c.check(&cmd(&[b"DEBUG", b"NOSUCH"]), refused);
    // `local` lets a loopback client in.
    let local = debug_server("local", None);
    let mut c = local.connect();
    c.check(&cmd(&[b"DEBUG", b"RELOAD"]), b"+OK\r\n");
    c.check(
        &cmd(&[b"DEBUG", b"SLEEP", b"1"]),
        b"-ERR DEBUG SLEEP is not supported by sutra-cache (DIGEST-VALUE, RELOAD and HELP are)\r\n",
    );
    assert!(ServerConfig::try_parse_from(["x", "--enable-debug-command", "maybe"]).is_err());
}

#[test]
fn debug_digest_value_follows_content_not_insertion_order() {
    let server = debug_server("yes", None);
    let mut c = server.connect();
    c.check(
        &cmd(&[b"DEBUG", b"DIGEST-VALUE", b"none", b"none2"]),
        format!("*2\r\n+{0}\r\n+{0}\r\n", "0".repeat(40)).as_bytes(),
    );
    vadd(&mut c, "a", &[1.0, 0.0], "x");
    vadd(&mut c, "a", &[0.0, 1.0], "y");
    vadd(&mut c, "b", &[0.0, 1.0], "y");
    vadd(&mut c, "b", &[1.0, 0.0], "x");
    let d1 = digest(&mut c, b"a");
    assert_ne!(d1, "0".repeat(40));
    assert_eq!(d1, digest(&mut c, b"b"), "same content, other order");
    c.check(
        &cmd(&[b"VSETATTR", b"a", b"y", br#"{"color":"red"}"#]),
        b":1\r\n",
    );
    let d2 = digest(&mut c, b"a");
    assert_ne!(d1, d2, "an attribute changes the digest");
    c.check(
        &cmd(&[b"VSETATTR", b"a", b"y", br#"{"color":"blue"}"#]),
        b":1\r\n",
    );
    let d3 = digest(&mut c, b"a");
    assert_ne!(d2, d3);
    c.check(&cmd(&[b"VSETATTR", b"a", b"y", b""]), b":1\r\n");
    assert_eq!(
        digest(&mut c, b"a"),
        d1,
        "attribute removed: back to the first content"
    );
    c.check(
        &cmd(&[b"VADD", b"a", b"VALUES", b"2", b"1", b"1", b"x"]),
        b":0\r\n",
    );
    assert_ne!(digest(&mut c, b"a"), d1, "a vector changes the digest");
    c.check(&cmd(&[b"SET", b"s1", b"v"]), b"+OK\r\n");
    c.check(&cmd(&[b"SET", b"s2", b"v"]), b"+OK\r\n");
    assert_eq!(digest(&mut c, b"s1"), digest(&mut c, b"s2"));
    resp3(&mut c);
    let r = c.call(&[b"DEBUG", b"DIGEST-VALUE", b"none"]);
    assert_eq!(r, format!("*1\r\n+{}\r\n", "0".repeat(40)).into_bytes());
}

#[test]
fn debug_reload_keeps_the_data_and_writes_a_snapshot_it_restarts_from() {
    let dir = tempfile::tempdir().unwrap();
    let before;
    {
        let server = debug_server("yes", Some(dir.path()));
        let mut c = server.connect();
        for i in 0..20 {
            let name = format!("e{i}");
            vadd(&mut c, "vs", &[1.0, i as f32, 0.5], &name);
        }
        c.check(&cmd(&[b"VSETATTR", b"vs", b"e3", br#"{"n":3}"#]), b":1\r\n");
        before = digest(&mut c, b"vs");
        c.check(&cmd(&[b"DEBUG", b"RELOAD"]), b"+OK\r\n");
        assert_eq!(digest(&mut c, b"vs"), before);
        c.check(&cmd(&[b"VCARD", b"vs"]), b":20\r\n");
        c.check(
            &cmd(&[b"DEBUG", b"RELOAD", b"BOGUS"]),
            b"-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options, got 'BOGUS'\r\n",
        );
        server.stop().unwrap();
    }
    let server = debug_server("yes", Some(dir.path()));
    let mut c = server.connect();
    assert_eq!(
        digest(&mut c, b"vs"),
        before,
        "the restarted server has the same set"
    );
    c.check(&cmd(&[b"VGETATTR", b"vs", b"e3"]), b"$7\r\n{\"n\":3}\r\n");
}
