//! Redis's numbered databases over TCP, byte for byte: SELECT and `--databases`, every key
//! command scoped to the connection's database, FLUSHDB/FLUSHALL, SWAPDB, MOVE, INFO
//! keyspace, WATCH and MULTI/EXEC across databases, cluster mode's refusal, persistence
//! across restarts (log replay and snapshot), and a data directory written before databases
//! existed opening with everything in database 0.

use crate::server_support;

use std::path::Path;

use server_support::{words, Conn, TestServer};
use sutra_cache::server::ServerConfig;

fn config(args: &[&str]) -> ServerConfig {
    let mut all = vec!["x"];
    all.extend_from_slice(args);
    ServerConfig::try_parse_from(all).expect("flags parse")
}

fn durable(dir: &Path) -> ServerConfig {
    config(&[
        "--in-memory",
        "false",
        "--storage-path",
        dir.to_str().expect("utf-8 temp path"),
        "--wal-sync-interval-ms",
        "0",
    ])
}

/// The `# Keyspace` section's lines.
fn keyspace(c: &mut Conn) -> String {
    let reply = c.call(&[b"INFO", b"keyspace"]);
    let text = String::from_utf8(reply).expect("utf-8");
    let body = text.split_once("\r\n").map(|(_, b)| b).unwrap_or("");
    body.lines()
        .filter(|l| l.starts_with("db"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// [`keyspace`] with each `avg_ttl` checked to be within `(0, max]` ms and written `T`
/// (the mean time to live shrinks as the test runs).
fn keyspace_ttl_masked(c: &mut Conn, max: u64) -> String {
    keyspace(c)
        .lines()
        .map(|l| match l.rsplit_once("avg_ttl=") {
            Some((head, t)) if t != "0" => {
                let t: u64 = t.parse().expect("avg_ttl is a number");
                assert!(t > 0 && t <= max, "{l}");
                format!("{head}avg_ttl=T")
            }
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// CLIENT INFO's line.
fn client_info(c: &mut Conn) -> String {
    String::from_utf8(c.call(&[b"CLIENT", b"INFO"])).expect("utf-8")
}

#[test]
fn select_scopes_every_key_command_to_the_connections_database() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k zero", "+OK\r\n");
    c.check_words("SELECT 9", "+OK\r\n");
    c.check_words("GET k", "$-1\r\n");
    c.check_words("EXISTS k", ":0\r\n");
    c.check_words("SET k nine", "+OK\r\n");
    c.check_words("SET other x", "+OK\r\n");
    c.check_words("GET k", "$4\r\nnine\r\n");
    c.check_words("DBSIZE", ":2\r\n");
    c.check_words("EXPIRE k 100", ":1\r\n");
    c.check_words("TTL k", ":100\r\n");
    c.check_words("TYPE k", "+string\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e1", ":1\r\n");
    c.check_words("VCARD vs", ":1\r\n");
    c.check_words("VSIM vs VALUES 2 1 0", "*1\r\n$2\r\ne1\r\n");
    c.check_words("SCAN 0 COUNT 1000 MATCH *", "*2\r\n$1\r\n0\r\n*3\r\n");
    let mut keys = Vec::new();
    for _ in 0..3 {
        keys.push(c.read_reply());
    }
    keys.sort();
    assert_eq!(
        keys,
        vec![
            b"$1\r\nk\r\n".to_vec(),
            b"$2\r\nvs\r\n".to_vec(),
            b"$5\r\nother\r\n".to_vec()
        ]
    );
    c.check_words("KEYS o*", "*1\r\n$5\r\nother\r\n");
    c.check_words("DEL other", ":1\r\n");
    // Database 0 is untouched; a second connection starts there.
    let mut d = srv.connect();
    d.check_words("GET k", "$4\r\nzero\r\n");
    d.check_words("TTL k", ":-1\r\n");
    d.check_words("DBSIZE", ":1\r\n");
    d.check_words("VCARD vs", ":0\r\n");
    d.check_words("KEYS *", "*1\r\n$1\r\nk\r\n");
    let info = client_info(&mut d);
    assert!(info.contains(" db=0 "), "{info}");
    let info = client_info(&mut c);
    assert!(info.contains(" db=9 "), "{info}");
    // The same key bytes in two databases are two keys, whatever the bytes.
    c.call(&[b"SET", b"\x00\x00\x00\x09k", b"binary"]);
    d.check_words("EXISTS \x00\x00\x00\x09k", ":0\r\n");
    // RESET goes back to database 0.
    c.check_words("RESET", "+RESET\r\n");
    c.check_words("GET k", "$4\r\nzero\r\n");
}

#[test]
fn select_refuses_an_index_out_of_range_or_not_an_integer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SELECT 15", "+OK\r\n");
    c.check_words("SELECT 16", "-ERR DB index is out of range\r\n");
    c.check_words("SELECT -1", "-ERR DB index is out of range\r\n");
    c.check_words(
        "SELECT x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.check_words(
        "CONFIG GET databases",
        "*2\r\n$9\r\ndatabases\r\n$2\r\n16\r\n",
    );
    drop(srv);
    let srv = TestServer::with_config(config(&["--databases", "4"]));
    let mut c = srv.connect();
    c.check_words("SELECT 3", "+OK\r\n");
    c.check_words("SELECT 4", "-ERR DB index is out of range\r\n");
    c.check_words("SWAPDB 0 4", "-ERR DB index is out of range\r\n");
    c.check_words("MOVE k 4", "-ERR DB index is out of range\r\n");
    c.check_words(
        "CONFIG GET databases",
        "*2\r\n$9\r\ndatabases\r\n$1\r\n4\r\n",
    );
}

#[test]
fn flushdb_empties_one_database_and_flushall_every_one() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    for db in [0, 1, 2] {
        c.check_words(&format!("SELECT {db}"), "+OK\r\n");
        c.check_words(&format!("SET k{db} v"), "+OK\r\n");
        c.check_words(&format!("VADD s{db} VALUES 2 1 {db} e"), ":1\r\n");
    }
    c.check_words("SELECT 1", "+OK\r\n");
    c.check_words("FLUSHDB", "+OK\r\n");
    c.check_words("DBSIZE", ":0\r\n");
    assert_eq!(
        keyspace(&mut c),
        "db0:keys=2,expires=0,avg_ttl=0\ndb2:keys=2,expires=0,avg_ttl=0"
    );
    c.check_words("SELECT 2", "+OK\r\n");
    c.check_words("VCARD s2", ":1\r\n");
    c.check_words("FLUSHALL", "+OK\r\n");
    assert_eq!(keyspace(&mut c), "");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("DBSIZE", ":0\r\n");
}

#[test]
fn info_keyspace_lists_each_database_with_keys_as_redis_prints_it() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    assert_eq!(keyspace(&mut c), "");
    c.check_words("SELECT 9", "+OK\r\n");
    c.check_words("SET a 1", "+OK\r\n");
    assert_eq!(keyspace(&mut c), "db9:keys=1,expires=0,avg_ttl=0");
    c.check_words("SELECT 10", "+OK\r\n");
    c.check_words("SET a 1", "+OK\r\n");
    c.check_words("SET b 1 PX 100000000", "+OK\r\n");
    assert_eq!(
        keyspace_ttl_masked(&mut c, 100_000_000),
        "db9:keys=1,expires=0,avg_ttl=0\ndb10:keys=2,expires=1,avg_ttl=T"
    );
}

#[test]
fn swapdb_exchanges_two_databases_for_every_client_at_once() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.check_words("SET k in0", "+OK\r\n");
    a.check_words("VADD vs VALUES 2 1 0 zero", ":1\r\n");
    b.check_words("SELECT 5", "+OK\r\n");
    b.check_words("SET k in5", "+OK\r\n");
    b.check_words("SET only5 x EX 1000", "+OK\r\n");
    a.check_words("SWAPDB 0 5", "+OK\r\n");
    a.check_words("GET k", "$3\r\nin5\r\n");
    a.check_words("TTL only5", ":1000\r\n");
    a.check_words("VCARD vs", ":0\r\n");
    b.check_words("GET k", "$3\r\nin0\r\n");
    b.check_words("VSIM vs VALUES 2 1 0", "*1\r\n$4\r\nzero\r\n");
    b.check_words("DBSIZE", ":2\r\n");
    assert_eq!(
        keyspace_ttl_masked(&mut a, 1_000_000),
        "db0:keys=2,expires=1,avg_ttl=T\ndb5:keys=2,expires=0,avg_ttl=0"
    );
    // Writes after the swap land where the clients now point; swapping back restores all.
    b.check_words("SET after x", "+OK\r\n");
    a.check_words("SWAPDB 5 0", "+OK\r\n");
    a.check_words("GET after", "$1\r\nx\r\n");
    a.check_words("GET k", "$3\r\nin0\r\n");
    a.check_words("SWAPDB 3 3", "+OK\r\n");
    a.check_words("SWAPDB x 1", "-ERR invalid first DB index\r\n");
    a.check_words("SWAPDB 1 y", "-ERR invalid second DB index\r\n");
}

#[test]
fn move_carries_a_key_with_its_ttl_to_another_database_only_when_absent_there() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v EX 500", "+OK\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e1", ":1\r\n");
    c.check_words("MOVE k 3", ":1\r\n");
    c.check_words("EXISTS k", ":0\r\n");
    c.check_words("MOVE missing 3", ":0\r\n");
    c.check_words("MOVE vs 3", ":1\r\n");
    c.check_words("SELECT 3", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("TTL k", ":500\r\n");
    c.check_words("VSIM vs VALUES 2 1 0", "*1\r\n$2\r\ne1\r\n");
    c.check_words("SET clash here", "+OK\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("SET clash there", "+OK\r\n");
    c.check_words("MOVE clash 3", ":0\r\n");
    c.check_words("GET clash", "$5\r\nthere\r\n");
    c.check_words(
        "MOVE clash 0",
        "-ERR source and destination objects are the same\r\n",
    );
    c.check_words(
        "MOVE clash x",
        "-ERR value is not an integer or out of range\r\n",
    );
    assert_eq!(
        keyspace_ttl_masked(&mut c, 500_000),
        "db0:keys=1,expires=0,avg_ttl=0\ndb3:keys=3,expires=1,avg_ttl=T"
    );
}

#[test]
fn multi_exec_runs_each_command_in_the_database_selected_before_it() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("SET k zero", "+QUEUED\r\n");
    c.check_words("SELECT 2", "+QUEUED\r\n");
    c.check_words("SET k two", "+QUEUED\r\n");
    c.check_words("EXEC", "*3\r\n+OK\r\n+OK\r\n+OK\r\n");
    c.check_words("GET k", "$3\r\ntwo\r\n");
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("GET k", "$4\r\nzero\r\n");
}

#[test]
fn watch_sees_writes_to_the_watched_key_in_its_own_database_only() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut other = srv.connect();
    c.check_words("SELECT 4", "+OK\r\n");
    c.check_words("WATCH k", "+OK\r\n");
    // The same name in database 0 is another key.
    other.check_words("SET k zero", "+OK\r\n");
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("SET k four", "+QUEUED\r\n");
    c.check_words("EXEC", "*1\r\n+OK\r\n");
    c.check_words("WATCH k", "+OK\r\n");
    other.check_words("SELECT 4", "+OK\r\n");
    other.check_words("SET k changed", "+OK\r\n");
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("SET k mine", "+QUEUED\r\n");
    c.check_words("EXEC", "*-1\r\n");
    // MOVE into the watched database touches the key there.
    c.check_words("WATCH moved", "+OK\r\n");
    other.check_words("SELECT 0", "+OK\r\n");
    other.check_words("SET moved x", "+OK\r\n");
    other.check_words("MOVE moved 4", ":1\r\n");
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("GET moved", "+QUEUED\r\n");
    c.check_words("EXEC", "*-1\r\n");
}

#[test]
fn cluster_mode_serves_database_0_only_as_redis_cluster_does() {
    let srv = TestServer::with_config(config(&["--cluster-mode", "emulated"]));
    let mut c = srv.connect();
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("SELECT 1", "-ERR SELECT is not allowed in cluster mode\r\n");
    c.check_words(
        "SWAPDB 0 1",
        "-ERR SWAPDB is not allowed in cluster mode\r\n",
    );
}

#[test]
fn every_database_survives_a_restart_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let fill = |c: &mut Conn| {
        c.check_words("SET k zero", "+OK\r\n");
        c.check_words("SELECT 3", "+OK\r\n");
        c.check_words("SET k three EX 1000", "+OK\r\n");
        c.check_words("VADD vs VALUES 2 1 0 e3 SETATTR {\"n\":3}", ":1\r\n");
        c.check_words("SET gone x", "+OK\r\n");
        c.check_words("SELECT 7", "+OK\r\n");
        c.check_words("SET k seven", "+OK\r\n");
        c.check_words("SET moved m", "+OK\r\n");
        c.check_words("MOVE moved 12", ":1\r\n");
        c.check_words("SELECT 9", "+OK\r\n");
        c.check_words("SET k nine", "+OK\r\n");
        c.check_words("SWAPDB 9 11", "+OK\r\n");
        c.check_words("SELECT 3", "+OK\r\n");
        c.check_words("DEL gone", ":1\r\n");
        c.check_words("SELECT 15", "+OK\r\n");
        c.check_words("SET doomed d", "+OK\r\n");
        c.check_words("FLUSHDB", "+OK\r\n");
    };
    let verify = |c: &mut Conn| {
        c.check_words("SELECT 0", "+OK\r\n");
        c.check_words("GET k", "$4\r\nzero\r\n");
        c.check_words("SELECT 3", "+OK\r\n");
        c.check_words("GET k", "$5\r\nthree\r\n");
        let ttl = c.call(&[b"TTL", b"k"]);
        let ttl: i64 = std::str::from_utf8(&ttl[1..ttl.len() - 2])
            .unwrap()
            .parse()
            .unwrap();
        assert!((990..=1000).contains(&ttl), "{ttl}");
        c.check_words("VGETATTR vs e3", "$7\r\n{\"n\":3}\r\n");
        c.check_words("EXISTS gone", ":0\r\n");
        c.check_words("SELECT 7", "+OK\r\n");
        c.check_words("GET k", "$5\r\nseven\r\n");
        c.check_words("EXISTS moved", ":0\r\n");
        c.check_words("SELECT 12", "+OK\r\n");
        c.check_words("GET moved", "$1\r\nm\r\n");
        c.check_words("SELECT 9", "+OK\r\n");
        c.check_words("DBSIZE", ":0\r\n");
        c.check_words("SELECT 11", "+OK\r\n");
        c.check_words("GET k", "$4\r\nnine\r\n");
        c.check_words("SELECT 15", "+OK\r\n");
        c.check_words("DBSIZE", ":0\r\n");
        c.check_words("SELECT 0", "+OK\r\n");
    };
    {
        let srv = TestServer::with_engine_config(
            durable(dir.path()),
            sutra_cache::EngineConfig {
                checkpoint_on_close: false,
                active_expire_interval_ms: 0,
                ..durable(dir.path()).engine_config()
            },
        );
        let mut c = srv.connect();
        fill(&mut c);
        verify(&mut c);
    }
    // From the log alone (no snapshot was written).
    {
        let srv = TestServer::with_config(durable(dir.path()));
        let mut c = srv.connect();
        verify(&mut c);
        c.check_words("SAVE", "+OK\r\n");
    }
    // From the snapshot SAVE wrote.
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    verify(&mut c);
}

#[test]
fn a_data_directory_written_before_databases_existed_opens_in_database_0() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/pre-databases-v1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("wal")).unwrap();
    let seg = "wal/wal-00000000000000000001.seg";
    std::fs::copy(fixture.join(seg), dir.path().join(seg)).unwrap();
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    c.check_words("GET plain", "$5\r\nhello\r\n");
    c.check_words("GET ttl:far", "$1\r\nv\r\n");
    let ttl = c.call(&[b"TTL", b"ttl:far"]);
    assert!(ttl.starts_with(b":") && ttl.len() > 8, "{ttl:?}");
    c.check_words("GET counter", "$1\r\n1\r\n");
    c.check_words("EXISTS gone", ":0\r\n");
    c.check_words("VCARD vs", ":2\r\n");
    c.check_words("VGETATTR vs a", "$7\r\n{\"n\":1}\r\n");
    c.check_words("VSIM vs VALUES 3 0 1 0 COUNT 1", "*1\r\n$1\r\nb\r\n");
    assert_eq!(
        keyspace_ttl_masked(&mut c, u64::MAX),
        "db0:keys=4,expires=1,avg_ttl=T"
    );
    for db in 1..16 {
        c.check_words(&format!("SELECT {db}"), "+OK\r\n");
        c.check_words("DBSIZE", ":0\r\n");
    }
    // New writes in another database go on from there, and both survive a restart.
    c.check_words("SET plain elsewhere", "+OK\r\n");
    drop(c);
    drop(srv);
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    c.check_words("GET plain", "$5\r\nhello\r\n");
    c.check_words("SELECT 15", "+OK\r\n");
    c.check_words("GET plain", "$9\r\nelsewhere\r\n");
}

#[test]
fn pipelined_commands_across_select_are_answered_in_order() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for db in 0..16 {
        input.extend(words(&format!("SELECT {db}")));
        input.extend(words(&format!("SET k v{db}")));
        expected.extend(b"+OK\r\n+OK\r\n");
    }
    for db in 0..16 {
        input.extend(words(&format!("SELECT {db}")));
        input.extend(words("GET k"));
        let v = format!("v{db}");
        expected.extend(format!("+OK\r\n${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    c.check(&input, &expected);
}

#[test]
fn randomkey_answers_a_key_of_the_selected_database_and_nil_when_it_is_empty() {
    let server = TestServer::start();
    let mut c = server.connect();
    c.check_words("RANDOMKEY", "$-1\r\n");
    c.check_words(
        "RANDOMKEY x",
        "-ERR wrong number of arguments for 'randomkey' command\r\n",
    );
    c.check_words("SELECT 5", "+OK\r\n");
    for i in 0..20 {
        c.check_words(&format!("SET other{i} v"), "+OK\r\n");
    }
    c.check_words("SELECT 3", "+OK\r\n");
    c.check_words("RANDOMKEY", "$-1\r\n");
    c.check_words("SET only v", "+OK\r\n");
    c.check_words("RANDOMKEY", "$4\r\nonly\r\n");
    c.check_words("DEL only", ":1\r\n");
    c.check_words("RANDOMKEY", "$-1\r\n");
    // Fifty keys of every kind in database 3, spread over the shards: every answer is one
    // of them (never database 5's), and 200 draws give more than one of them.
    let mut names = std::collections::BTreeSet::new();
    for i in 0..50 {
        let name = format!("k{i}");
        match i % 3 {
            0 => c.check_words(&format!("SET {name} v"), "+OK\r\n"),
            1 => c.check_words(&format!("HSET {name} f v"), ":1\r\n"),
            _ => c.check_words(&format!("VADD {name} VALUES 2 1 0 e"), ":1\r\n"),
        }
        names.insert(name);
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        let reply = c.call(&[b"RANDOMKEY"]);
        let text = String::from_utf8(reply).expect("utf-8");
        let name = text.split("\r\n").nth(1).expect("a bulk reply").to_string();
        assert!(names.contains(&name), "{text:?} is not a key of database 3");
        seen.insert(name);
    }
    assert!(seen.len() > 1, "200 draws answered only {seen:?}");
    c.check_words("FLUSHDB", "+OK\r\n");
    c.check_words("RANDOMKEY", "$-1\r\n");
    let _ = c.call(&[b"HELLO", b"3"]);
    c.check_words("RANDOMKEY", "_\r\n");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("RANDOMKEY", "$1\r\nk\r\n");
}
