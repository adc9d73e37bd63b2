//! Redis hashes over RESP: every hash command's bytes as Redis 7.0.15 answers them (RESP2 and
//! RESP3, errors included, captured from redis-server 7.0.15 and checked again against a live
//! one when it is installed), WRONGTYPE both ways, the keyspace commands on a hash, TTL,
//! eviction under the byte cap, MULTI/EXEC, client tracking, HSCAN's guarantee on a big hash,
//! durability across a restart and `kill -9`, and hashes in Redis's numbered databases
//! (SELECT, FLUSHDB, SWAPDB, MOVE, and a restart with hashes outside database 0).

use crate::server_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server_support::{cmd, redis_server, show, words, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use sutra_cache::{EngineConfig, ManualClock};

/// A session: each command (space-separated words) with Redis 7.0.15's reply bytes.
const SESSION: &[(&str, &str)] = &[
    ("HSET h a 1 b 2", ":2\r\n"),
    ("HSET h a", "-ERR wrong number of arguments for 'hset' command\r\n"),
    ("HSET h a 1 b", "-ERR wrong number of arguments for 'hset' command\r\n"),
    ("HMSET h c 3", "+OK\r\n"),
    ("HMSET h c", "-ERR wrong number of arguments for 'hmset' command\r\n"),
    ("HGET h a", "$1\r\n1\r\n"),
    ("HGET h zz", "$-1\r\n"),
    ("HGET nokey a", "$-1\r\n"),
    ("HMGET h a zz b", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n"),
    ("HMGET nokey a", "*1\r\n$-1\r\n"),
    ("HGETALL h", "*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    ("HGETALL nokey", "*0\r\n"),
    ("HKEYS h", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    ("HVALS h", "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n"),
    ("HLEN h", ":3\r\n"),
    ("HLEN nokey", ":0\r\n"),
    ("HEXISTS h a", ":1\r\n"),
    ("HEXISTS h x", ":0\r\n"),
    ("HSTRLEN h a", ":1\r\n"),
    ("HSTRLEN h x", ":0\r\n"),
    ("HINCRBY h a 5", ":6\r\n"),
    ("HINCRBY h n x", "-ERR value is not an integer or out of range\r\n"),
    ("HINCRBY h new -3", ":-3\r\n"),
    ("HSET h s abc", ":1\r\n"),
    ("HINCRBY h s 1", "-ERR hash value is not an integer\r\n"),
    ("HSET h big 9223372036854775807", ":1\r\n"),
    ("HINCRBY h big 1", "-ERR increment or decrement would overflow\r\n"),
    ("HINCRBYFLOAT h f 1.5", "$3\r\n1.5\r\n"),
    ("HINCRBYFLOAT h f 0.1", "$3\r\n1.6\r\n"),
    ("HINCRBYFLOAT h f abc", "-ERR value is not a valid float\r\n"),
    ("HINCRBYFLOAT h s 1", "-ERR hash value is not a float\r\n"),
    ("HINCRBYFLOAT h f inf", "-ERR value is NaN or Infinity\r\n"),
    ("HINCRBYFLOAT h a 1e3", "$4\r\n1006\r\n"),
    ("HINCRBYFLOAT h g 0.1", "$3\r\n0.1\r\n"),
    ("HINCRBYFLOAT h g 0.2", "$3\r\n0.3\r\n"),
    ("HSETNX h a z", ":0\r\n"),
    ("HSETNX h zz z", ":1\r\n"),
    ("HDEL h a a nonexist", ":1\r\n"),
    ("HDEL nokey a", ":0\r\n"),
    ("HRANDFIELD nokey", "$-1\r\n"),
    ("HRANDFIELD nokey 3", "*0\r\n"),
    ("HRANDFIELD h 0", "*0\r\n"),
    ("HRANDFIELD h 100", "*8\r\n$1\r\nb\r\n$1\r\nc\r\n$3\r\nnew\r\n$1\r\ns\r\n$3\r\nbig\r\n$1\r\nf\r\n$1\r\ng\r\n$2\r\nzz\r\n"),
    ("HRANDFIELD h 100 WITHVALUES", "*16\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nnew\r\n$2\r\n-3\r\n$1\r\ns\r\n$3\r\nabc\r\n$3\r\nbig\r\n$19\r\n9223372036854775807\r\n$1\r\nf\r\n$3\r\n1.6\r\n$1\r\ng\r\n$3\r\n0.3\r\n$2\r\nzz\r\n$1\r\nz\r\n"),
    ("HRANDFIELD h 1 bad", "-ERR syntax error\r\n"),
    ("HRANDFIELD h x", "-ERR value is not an integer or out of range\r\n"),
    ("HRANDFIELD h 1 WITHVALUES x", "-ERR syntax error\r\n"),
    ("HSCAN h 0", "*2\r\n$1\r\n0\r\n*16\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nnew\r\n$2\r\n-3\r\n$1\r\ns\r\n$3\r\nabc\r\n$3\r\nbig\r\n$19\r\n9223372036854775807\r\n$1\r\nf\r\n$3\r\n1.6\r\n$1\r\ng\r\n$3\r\n0.3\r\n$2\r\nzz\r\n$1\r\nz\r\n"),
    ("HSCAN h 0 MATCH b*", "*2\r\n$1\r\n0\r\n*4\r\n$1\r\nb\r\n$1\r\n2\r\n$3\r\nbig\r\n$19\r\n9223372036854775807\r\n"),
    ("HSCAN h x", "-ERR invalid cursor\r\n"),
    ("HSCAN h 0 COUNT 0", "-ERR syntax error\r\n"),
    ("HSCAN nokey 0", "*2\r\n$1\r\n0\r\n*0\r\n"),
    ("HSCAN h 0 foo bar", "-ERR syntax error\r\n"),
    ("HSCAN h 0 COUNT", "-ERR syntax error\r\n"),
    ("SET str x", "+OK\r\n"),
    ("HGET str a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HSET str a b", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HGETALL str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HLEN str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HDEL str a", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HINCRBY str a 1", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HSCAN str 0", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("HRANDFIELD str", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("GET h", "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ("TYPE h", "+hash\r\n"),
    ("OBJECT ENCODING h", "$8\r\nlistpack\r\n"),
    ("HSET h2 f xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", ":1\r\n"),
    ("OBJECT ENCODING h2", "$9\r\nhashtable\r\n"),
    ("EXISTS h h2 str", ":3\r\n"),
    ("EXPIRE h 100", ":1\r\n"),
    ("TTL h", ":100\r\n"),
    ("PERSIST h", ":1\r\n"),
    ("TTL h", ":-1\r\n"),
    ("HDEL h2 f", ":1\r\n"),
    ("EXISTS h2", ":0\r\n"),
    ("SET h2 now-a-string", "+OK\r\n"),
    ("TYPE h2", "+string\r\n"),
];

/// The same session's RESP3 replies (after HELLO 3), where they differ in form.
const SESSION_RESP3: &[(&str, &str)] = &[
    ("HGETALL h", "%8\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$3\r\nnew\r\n$2\r\n-3\r\n$1\r\ns\r\n$3\r\nabc\r\n$3\r\nbig\r\n$19\r\n9223372036854775807\r\n$1\r\nf\r\n$3\r\n1.6\r\n$1\r\ng\r\n$3\r\n0.3\r\n$2\r\nzz\r\n$1\r\nz\r\n"),
    ("HMGET h b q", "*2\r\n$1\r\n2\r\n_\r\n"),
    ("HGET h q", "_\r\n"),
    ("HGETALL nokey", "%0\r\n"),
    ("HRANDFIELD h 100 WITHVALUES", "*8\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$3\r\nnew\r\n$2\r\n-3\r\n*2\r\n$1\r\ns\r\n$3\r\nabc\r\n*2\r\n$3\r\nbig\r\n$19\r\n9223372036854775807\r\n*2\r\n$1\r\nf\r\n$3\r\n1.6\r\n*2\r\n$1\r\ng\r\n$3\r\n0.3\r\n*2\r\n$2\r\nzz\r\n$1\r\nz\r\n"),
    ("HSCAN h 0 MATCH z*", "*2\r\n$1\r\n0\r\n*2\r\n$2\r\nzz\r\n$1\r\nz\r\n"),
    ("HSET h", "-ERR wrong number of arguments for 'hset' command\r\n"),
    ("HINCRBYFLOAT h f 1", "$3\r\n2.6\r\n"),
];

fn run_session(c: &mut Conn) {
    for (line, want) in SESSION {
        c.check_words(line, want);
    }
    c.call(&[b"HELLO", b"3"]);
    for (line, want) in SESSION_RESP3 {
        c.check_words(line, want);
    }
}

#[test]
fn every_hash_command_answers_with_redis_7_0_15s_bytes_in_resp2_and_resp3() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    run_session(&mut c);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Connects to `port` once something listens there (30 s deadline).
fn connect_port(port: u16) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_nodelay(true).unwrap();
            return Conn { s };
        }
        assert!(Instant::now() < deadline, "nothing listened on {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Field, value pairs of a flat RESP2 array of bulk strings, sorted.
fn sorted_pairs(reply: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut items = Vec::new();
    let mut lines = reply
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    lines.next(); // the array header
    while let Some(len) = lines.next() {
        if len.is_empty() {
            break;
        }
        assert_eq!(len[0], b'$', "{}", show(reply));
        items.push(lines.next().unwrap().to_vec());
    }
    let mut pairs: Vec<_> = items
        .chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect();
    pairs.sort();
    pairs
}

#[test]
fn a_live_redis_7_server_gives_the_same_bytes_for_the_session_and_for_big_hashes() {
    let Some((_redis, mut r)) = redis_server() else {
        return;
    };
    let version = String::from_utf8(r.call(&[b"INFO", b"server"])).unwrap();
    assert!(version.contains("redis_version:7.0."), "{version}");
    let srv = TestServer::start();
    let mut s = srv.connect();
    // The recorded session, replayed on the live Redis too: the recording is still true.
    run_session(&mut r);
    run_session(&mut s);
    for c in [&mut r, &mut s] {
        c.call(&[b"HELLO", b"2"]);
        c.call(&[b"FLUSHALL"]);
    }
    // Growing past 512 fields (the reference server's hash-max-listpack-entries) turns a
    // hash into a hashtable in both; then the order of
    // fields is each server's own, so whole-hash replies are compared as sorted pairs.
    fn same_on(r: &mut Conn, s: &mut Conn, line: Vec<u8>) {
        r.send(&line);
        s.send(&line);
        let (a, b) = (r.read_reply(), s.read_reply());
        assert_eq!(show(&a), show(&b), "{}", show(&line));
    }
    macro_rules! same {
        ($line:expr) => {
            same_on(&mut r, &mut s, $line)
        };
    }
    for i in 0..700 {
        same!(words(&format!("HSET big f{i} {i}")));
        if i % 7 == 0 || (500..530).contains(&i) {
            same!(words(&format!("HINCRBY big f{} 10", i / 2)));
            same!(words(&format!("HDEL big f{} missing", i / 3)));
            same!(words("OBJECT ENCODING big"));
            same!(words("HLEN big"));
        }
    }
    same!(words("HSTRLEN big f150"));
    same!(words("HMGET big f1 f2 f699 nope"));
    let all = [r.call(&[b"HGETALL", b"big"]), s.call(&[b"HGETALL", b"big"])];
    assert_eq!(sorted_pairs(&all[0]), sorted_pairs(&all[1]));
    let len = r.call(&[b"HLEN", b"big"]);
    assert_eq!(
        format!(":{}\r\n", sorted_pairs(&all[0]).len()).as_bytes(),
        len
    );
    // A value past 64 bytes, a field of one byte: encodings and lengths agree.
    same!(cmd(&[b"HSET", b"wide", b"k", &[b'v'; 65]]));
    same!(words("OBJECT ENCODING wide"));
    same!(words("HDEL wide k"));
    same!(words("EXISTS wide"));
}

#[test]
fn hscan_of_a_big_hash_pages_by_count_and_returns_every_field_present_throughout() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    for i in 0..600 {
        c.check_words(&format!("HSET big f{i} v{i}"), ":1\r\n");
    }
    c.check_words("OBJECT ENCODING big", "$9\r\nhashtable\r\n");
    let mut cursor = b"0".to_vec();
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let reply = c.call(&[b"HSCAN", b"big", &cursor, b"COUNT", b"25"]);
        let mut parts = reply.split(|&b| b == b'\n');
        parts.next();
        parts.next();
        cursor = parts.next().unwrap().strip_suffix(b"\r").unwrap().to_vec();
        let page = &reply[reply.windows(1).position(|w| w == b"*").unwrap()..];
        let body_at = page[1..].iter().position(|&b| b == b'*').unwrap() + 1;
        for (f, _) in sorted_pairs(&page[body_at..]) {
            seen.insert(f);
        }
        pages += 1;
        // Between pages, fields come and go: the first 100 stay for the whole scan.
        let n = 600 + pages;
        c.check_words(&format!("HDEL big f{}", 599 - pages), ":1\r\n");
        c.check_words(&format!("HSET big n{n} x"), ":1\r\n");
        if cursor == b"0" {
            break;
        }
        assert!(pages < 200, "the scan ends");
    }
    assert!(
        pages > 10,
        "COUNT 25 pages a 600-field hash ({pages} pages)"
    );
    for i in 0..100 {
        assert!(
            seen.contains(format!("f{i}").as_bytes()),
            "f{i} was returned"
        );
    }
}

#[test]
fn a_hash_expires_with_its_key_ttl_and_is_evicted_whole_under_the_byte_cap() {
    let clock = ManualClock::new(1_700_000_000_000);
    let config = ServerConfig {
        maxmemory: Some(200_000),
        ..ServerConfig::default()
    };
    let srv = TestServer::with_engine_config(
        config.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            clock: clock.clone(),
            ..config.engine_config()
        },
    );
    let mut c = srv.connect();
    c.check_words("HSET t a 1 b 2", ":2\r\n");
    c.check_words("PEXPIRE t 1000", ":1\r\n");
    c.check_words("HSET t c 3", ":1\r\n");
    c.check_words("PTTL t", ":1000\r\n");
    clock.advance(1_001);
    c.check_words("HGET t a", "$-1\r\n");
    c.check_words("EXISTS t", ":0\r\n");
    // A write after expiry starts a new hash without the old fields or TTL.
    c.check_words("HSET t z 9", ":1\r\n");
    c.check_words("HGETALL t", "*2\r\n$1\r\nz\r\n$1\r\n9\r\n");
    c.check_words("TTL t", ":-1\r\n");

    // The hash's bytes count: MEMORY USAGE grows with its fields.
    let usage = |c: &mut Conn, key: &str| -> i64 {
        let r = c.call(&[b"MEMORY", b"USAGE", key.as_bytes()]);
        std::str::from_utf8(&r[1..r.len() - 2])
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = usage(&mut c, "t");
    c.send(&cmd(&[b"HSET", b"t", b"wide", &[b'w'; 1000]]));
    assert_eq!(c.read_reply(), b":1\r\n");
    assert!(usage(&mut c, "t") >= before + 1000);

    // Under the 200 kB cap, 100 hashes of ~10 kB each: the least recently used go whole.
    let value = vec![b'x'; 5_000];
    for i in 0..100 {
        let key = format!("hh{i}");
        c.send(&cmd(&[
            b"HSET",
            key.as_bytes(),
            b"f1",
            &value,
            b"f2",
            &value,
        ]));
        assert_eq!(c.read_reply(), b":2\r\n");
        // t stays recently used.
        c.check_words("HLEN t", ":2\r\n");
    }
    let live = (0..100)
        .filter(|i| c.call(&[b"EXISTS", format!("hh{i}").as_bytes()]) == b":1\r\n")
        .count();
    assert!(live < 40, "{live} of 100 hashes kept under a 200 kB cap");
    c.check_words("HEXISTS hh99 f2", ":1\r\n");
    c.check_words("HLEN t", ":2\r\n");
    for i in 0..100 {
        let n = c.call(&[b"HLEN", format!("hh{i}").as_bytes()]);
        assert!(
            n == b":0\r\n" || n == b":2\r\n",
            "whole or gone: {}",
            show(&n)
        );
    }
    let info = String::from_utf8(c.call(&[b"INFO", b"stats"])).unwrap();
    assert!(!info.contains("evicted_keys:0\r\n"), "{info}");
}

#[test]
fn a_new_hash_gets_the_default_ttl_as_a_new_string_does_and_keeps_its_ttl_when_written() {
    let srv = TestServer::with_config(ServerConfig {
        default_ttl_seconds: Some(3600),
        ..ServerConfig::default()
    });
    let mut c = srv.connect();
    c.check_words("HSET h a 1", ":1\r\n");
    c.check_words("TTL h", ":3600\r\n");
    c.check_words("EXPIRE h 50", ":1\r\n");
    c.check_words("HSET h b 2", ":1\r\n");
    c.check_words("HINCRBY h a 1", ":2\r\n");
    c.check_words("TTL h", ":50\r\n");
}

#[test]
fn keyspace_commands_treat_a_hash_as_a_key_of_type_hash() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("HSET h1 f v", ":1\r\n");
    c.check_words("SET s1 v", "+OK\r\n");
    c.check_words("VADD v1 VALUES 2 1 0 e", ":1\r\n");
    c.check_words("SCAN 0 TYPE hash", "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nh1\r\n");
    c.check_words("KEYS h*", "*1\r\n$2\r\nh1\r\n");
    c.check_words("DBSIZE", ":3\r\n");
    c.check_words(
        "VADD h1 VALUES 2 1 0 e",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.check_words(
        "HSET v1 f v",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.check_words("DEL h1 s1", ":2\r\n");
    c.check_words("TYPE h1", "+none\r\n");
    c.check_words("HSET h1 f v", ":1\r\n");
    c.check_words("FLUSHALL", "+OK\r\n");
    c.check_words("HLEN h1", ":0\r\n");
}

#[test]
fn multi_exec_runs_hash_writes_together_and_watch_sees_a_hash_change() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.check_words("MULTI", "+OK\r\n");
    a.check_words("HSET m f 1", "+QUEUED\r\n");
    a.check_words("HINCRBY m f 2", "+QUEUED\r\n");
    a.check_words("HGETALL m", "+QUEUED\r\n");
    a.check_words("EXEC", "*3\r\n:1\r\n:3\r\n*2\r\n$1\r\nf\r\n$1\r\n3\r\n");
    a.check_words("WATCH m", "+OK\r\n");
    b.check_words("HSET m g 1", ":1\r\n");
    a.check_words("MULTI", "+OK\r\n");
    a.check_words("HDEL m f", "+QUEUED\r\n");
    a.check_words("EXEC", "*-1\r\n");
    a.check_words("HLEN m", ":2\r\n");
}

#[test]
fn a_tracking_client_is_invalidated_when_a_hash_it_read_changes() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.call(&[b"HELLO", b"3"]);
    a.check_words("CLIENT TRACKING ON", "+OK\r\n");
    b.check_words("HSET emb:1 vector abc", ":1\r\n");
    a.check_words("HGETALL emb:1", "%1\r\n$6\r\nvector\r\n$3\r\nabc\r\n");
    b.check_words("HSET emb:1 vector abd", ":0\r\n");
    let push = b">2\r\n$10\r\ninvalidate\r\n*1\r\n$5\r\nemb:1\r\n";
    assert_eq!(show(&a.read_n(push.len())), show(push));
    a.check_words("HGET emb:1 vector", "$3\r\nabd\r\n");
    b.check_words("HDEL emb:1 vector", ":1\r\n");
    assert_eq!(show(&a.read_n(push.len())), show(push));
}

#[test]
fn hashes_are_per_database_and_flushdb_swapdb_and_move_carry_them() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SELECT 1", "+OK\r\n");
    c.check_words("HSET h f one", ":1\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("HGET h f", "$-1\r\n");
    c.check_words("EXISTS h", ":0\r\n");
    c.check_words("HSET h f zero", ":1\r\n");
    c.check_words("SELECT 1", "+OK\r\n");
    c.check_words("HGET h f", "$3\r\none\r\n");
    c.check_words("TYPE h", "+hash\r\n");
    c.check_words("HDEL h f", ":1\r\n");
    c.check_words("EXISTS h", ":0\r\n");
    c.check_words("HSET h f one", ":1\r\n");
    // FLUSHDB empties database 1 only.
    c.check_words("FLUSHDB", "+OK\r\n");
    c.check_words("HGET h f", "$-1\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("HGET h f", "$4\r\nzero\r\n");
    // SWAPDB: database 0's hash is now database 2's, and writes there land in it.
    c.check_words("SWAPDB 0 2", "+OK\r\n");
    c.check_words("HGET h f", "$-1\r\n");
    c.check_words("SELECT 2", "+OK\r\n");
    c.check_words("HGET h f", "$4\r\nzero\r\n");
    c.check_words("HINCRBY h n 5", ":5\r\n");
    // MOVE takes the hash whole to database 3.
    c.check_words("MOVE h 3", ":1\r\n");
    c.check_words("EXISTS h", ":0\r\n");
    c.check_words("SELECT 3", "+OK\r\n");
    c.check_words(
        "HGETALL h",
        "*4\r\n$1\r\nf\r\n$4\r\nzero\r\n$1\r\nn\r\n$1\r\n5\r\n",
    );
    // ... but not onto a key the target database has.
    c.check_words("SELECT 4", "+OK\r\n");
    c.check_words("HSET h other 1", ":1\r\n");
    c.check_words("MOVE h 3", ":0\r\n");
    c.check_words("HGET h other", "$1\r\n1\r\n");
    c.check_words("SELECT 3", "+OK\r\n");
    c.check_words("HLEN h", ":2\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("DBSIZE", ":0\r\n");
}

/// A durable configuration over `dir` (fdatasync before every acknowledgement).
fn durable(dir: &Path) -> ServerConfig {
    ServerConfig::try_parse_from([
        "x",
        "--in-memory",
        "false",
        "--storage-path",
        dir.to_str().expect("utf-8 temp path"),
        "--wal-sync-interval-ms",
        "0",
    ])
    .expect("flags parse")
}

fn stop(srv: TestServer) {
    let engine = srv.engine.clone();
    srv.stop().expect("run returns Ok");
    engine.close().expect("engine closes");
}

const DURABLE_WRITES: &[(&str, &str)] = &[
    ("HSET d a 1 b 2 c 3", ":3\r\n"),
    ("HDEL d b", ":1\r\n"),
    ("HINCRBY d a 41", ":42\r\n"),
    ("HINCRBYFLOAT d f 0.5", "$3\r\n0.5\r\n"),
    ("HSETNX d c no", ":0\r\n"),
    ("EXPIRE d 100000", ":1\r\n"),
    ("HSET gone x 1", ":1\r\n"),
    ("HDEL gone x", ":1\r\n"),
];

fn check_durable_state(c: &mut Conn) {
    c.check_words(
        "HGETALL d",
        "*6\r\n$1\r\na\r\n$2\r\n42\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\nf\r\n$3\r\n0.5\r\n",
    );
    let ttl = c.call(&[b"TTL", b"d"]);
    let secs: i64 = std::str::from_utf8(&ttl[1..ttl.len() - 2])
        .unwrap()
        .parse()
        .unwrap();
    assert!((99_000..=100_000).contains(&secs), "{}", show(&ttl));
    c.check_words("EXISTS gone", ":0\r\n");
    c.check_words("OBJECT ENCODING d", "$8\r\nlistpack\r\n");
}

#[test]
fn hash_writes_come_back_after_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    for (line, want) in DURABLE_WRITES {
        c.check_words(line, want);
    }
    drop(c);
    // A close writes no snapshot in this harness: the next open replays the log.
    let engine = srv.engine.clone();
    srv.stop().expect("stops");
    drop(engine);
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    check_durable_state(&mut c);
    c.check_words("SAVE", "+OK\r\n");
    c.check_words("HSET d after save", ":1\r\n");
    drop(c);
    stop(srv);
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    c.check_words("HGET d after", "$4\r\nsave\r\n");
    c.check_words("HDEL d after", ":1\r\n");
    check_durable_state(&mut c);
    drop(c);
    stop(srv);
}

/// Hash writes in databases other than 0 (logged framed by kind 10) and a SWAPDB between
/// them, as the state to find again after a restart.
const DURABLE_DB_WRITES: &[(&str, &str)] = &[
    ("SELECT 5", "+OK\r\n"),
    ("HSET five a 1 b 2", ":2\r\n"),
    ("HDEL five b", ":1\r\n"),
    ("SELECT 6", "+OK\r\n"),
    ("HSET six x 1", ":1\r\n"),
    ("SWAPDB 5 6", "+OK\r\n"),
    ("SELECT 5", "+OK\r\n"),
    ("HINCRBY six x 9", ":10\r\n"),
    ("SELECT 6", "+OK\r\n"),
    ("HSETNX five c 3", ":1\r\n"),
    ("SELECT 0", "+OK\r\n"),
    ("HSET zero z 0", ":1\r\n"),
];

fn check_durable_db_state(c: &mut Conn) {
    c.check_words("HGETALL zero", "*2\r\n$1\r\nz\r\n$1\r\n0\r\n");
    c.check_words("HGET six x", "$-1\r\n");
    // After the swap, database 5 holds what database 6 had, with its later writes.
    c.check_words("SELECT 5", "+OK\r\n");
    c.check_words("HGETALL six", "*2\r\n$1\r\nx\r\n$2\r\n10\r\n");
    c.check_words("EXISTS five", ":0\r\n");
    c.check_words("SELECT 6", "+OK\r\n");
    c.check_words(
        "HGETALL five",
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n3\r\n",
    );
    c.check_words("EXISTS six", ":0\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
}

#[test]
fn hashes_in_other_databases_come_back_after_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    for (line, want) in DURABLE_DB_WRITES {
        c.check_words(line, want);
    }
    drop(c);
    let engine = srv.engine.clone();
    srv.stop().expect("stops");
    drop(engine);
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    check_durable_db_state(&mut c);
    c.check_words("SAVE", "+OK\r\n");
    drop(c);
    stop(srv);
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    check_durable_db_state(&mut c);
    drop(c);
    stop(srv);
}

#[test]
fn acknowledged_hash_writes_survive_kill_9_of_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let spawn = |port: u16| {
        Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
            .args(["serve", "--in-memory", "false", "--log", "warn"])
            .arg("--port")
            .arg(port.to_string())
            .arg("--storage-path")
            .arg(dir.path())
            .env("WAL_SYNC_INTERVAL_MS", "0")
            .env_remove("SUTRA_WAL_SYNC")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("the sutra-cache binary starts")
    };
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let port = free_port();
    let child = Killed(spawn(port));
    let mut c = connect_port(port);
    for (line, want) in DURABLE_WRITES {
        c.check_words(line, want);
    }
    // A pipeline of 200 hash writes, all acknowledged before the kill.
    let mut batch = Vec::new();
    for i in 0..200 {
        batch.extend(words(&format!("HSET p:{} f{i} v{i}", i % 10)));
    }
    c.send(&batch);
    assert_eq!(c.read_n(4 * 200), b":1\r\n".repeat(200));
    drop(child); // SIGKILL
    let port = free_port();
    let _child = Killed(spawn(port));
    let mut c = connect_port(port);
    check_durable_state(&mut c);
    for k in 0..10 {
        c.check_words(&format!("HLEN p:{k}"), ":20\r\n");
    }
    c.check_words("HGET p:3 f193", "$4\r\nv193\r\n");
}
