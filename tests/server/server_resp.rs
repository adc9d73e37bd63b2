//! Byte-level tests of every command over TCP on port 0: raw RESP in, exact bytes out,
//! in RESP2 and RESP3.

use crate::server_support;

use server_support::{cmd, f32le, show, words, TestServer};

#[test]
fn ping_echo_and_inline_commands_answer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check(b"*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
    c.check(b"PING\r\n", b"+PONG\r\n");
    c.check(b"ping hello\n", b"$5\r\nhello\r\n");
    c.check_words("ECHO hi", "$2\r\nhi\r\n");
    c.check_words(
        "PING a b",
        "-ERR wrong number of arguments for 'ping' command\r\n",
    );
    c.check(b"\r\n\r\nPING\r\n", b"+PONG\r\n");
    c.check(b"*0\r\n*1\r\n$4\r\nPING\r\n", b"+PONG\r\n");
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..200 {
        input.extend(words(&format!("SET k{i} v{i}")));
        expected.extend(b"+OK\r\n");
    }
    for i in 0..200 {
        input.extend(words(&format!("GET k{i}")));
        let v = format!("v{i}");
        expected.extend(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    c.check(&input, &expected);
}

#[test]
fn unknown_commands_and_wrong_arity_get_redis_errors() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words(
        "FOO a b",
        "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n",
    );
    c.check_words(
        "GET",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.check_words(
        "GET a b",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.check_words(
        "MSET a",
        "-ERR wrong number of arguments for 'mset' command\r\n",
    );
    c.check_words(
        "MSET a b c",
        "-ERR wrong number of arguments for 'mset' command\r\n",
    );
    c.check_words("SELECT 0", "+OK\r\n");
    c.check_words("SELECT 16", "-ERR DB index is out of range\r\n");
    c.check_words(
        "SELECT x",
        "-ERR value is not an integer or out of range\r\n",
    );
}

#[test]
fn set_and_get_with_every_option() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("GET missing", "$-1\r\n");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("SET k v2 NX", "$-1\r\n");
    c.check_words("SET k v2 XX", "+OK\r\n");
    c.check_words("SET n v XX", "$-1\r\n");
    c.check_words("SET k v3 GET", "$2\r\nv2\r\n");
    c.check_words("SET n v GET", "$-1\r\n");
    c.check_words("SET k v EX 100", "+OK\r\n");
    c.check_words("TTL k", ":100\r\n");
    c.check_words("SET k v KEEPTTL", "+OK\r\n");
    c.check_words("TTL k", ":100\r\n");
    c.check_words("SET k v PX 5000", "+OK\r\n");
    c.check_words("TTL k", ":5\r\n");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("TTL k", ":-1\r\n");
    c.check_words("SET k v EXAT 99999999999", "+OK\r\n");
    c.check_words("SET k v NX XX", "-ERR syntax error\r\n");
    c.check_words("SET k v EX 1 PX 1", "-ERR syntax error\r\n");
    c.check_words("SET k v EX", "-ERR syntax error\r\n");
    c.check_words(
        "SET k v EX x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.check_words(
        "SET k v EX 0",
        "-ERR invalid expire time in 'set' command\r\n",
    );
    c.check_words(
        "SET k v EX -5",
        "-ERR invalid expire time in 'set' command\r\n",
    );
    c.check_words(
        "SET k v EX 9223372036854775807",
        "-ERR invalid expire time in 'set' command\r\n",
    );
    c.check_words("SET k v BOGUS", "-ERR syntax error\r\n");
    c.check_words("SETEX s 10 v", "+OK\r\n");
    c.check_words("TTL s", ":10\r\n");
    c.check_words(
        "SETEX s 0 v",
        "-ERR invalid expire time in 'setex' command\r\n",
    );
    c.check_words("PSETEX s 10000 v", "+OK\r\n");
    c.check_words("SETNX s x", ":0\r\n");
    c.check_words("SETNX t x", ":1\r\n");
    c.check_words("STRLEN t", ":1\r\n");
    c.check_words("STRLEN nope", ":0\r\n");
}

#[test]
fn binary_values_round_trip_exactly() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let value: Vec<u8> = (0..=255u8).cycle().take(3072).collect();
    c.check(&cmd(&[b"SET", b"bin\0key", &value]), b"+OK\r\n");
    let mut expected = b"$3072\r\n".to_vec();
    expected.extend(&value);
    expected.extend(b"\r\n");
    c.check(&cmd(&[b"GET", b"bin\0key"]), &expected);
    c.check(&cmd(&[b"SET", b"empty", b""]), b"+OK\r\n");
    c.check(&cmd(&[b"GET", b"empty"]), b"$0\r\n\r\n");
}

#[test]
fn mget_mset_del_exists_and_dbsize() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("MSET a 1 b 2", "+OK\r\n");
    c.check_words("MGET a x b", "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    c.check_words("EXISTS a b x a", ":3\r\n");
    c.check_words("DBSIZE", ":2\r\n");
    c.check_words("DEL a x", ":1\r\n");
    c.check_words("UNLINK b", ":1\r\n");
    c.check_words("DBSIZE", ":0\r\n");
    c.check_words("MSET a 1 b 2", "+OK\r\n");
    c.check_words("FLUSHDB", "+OK\r\n");
    c.check_words("DBSIZE", ":0\r\n");
    c.check_words("MSET a 1", "+OK\r\n");
    c.check_words("FLUSHALL ASYNC", "+OK\r\n");
    c.check_words("DBSIZE", ":0\r\n");
    c.check_words("FLUSHALL NOW", "-ERR syntax error\r\n");
}

#[test]
fn expiry_commands_answer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("EXPIRE nope 10", ":0\r\n");
    c.check_words("TTL nope", ":-2\r\n");
    c.check_words("PTTL nope", ":-2\r\n");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("TTL k", ":-1\r\n");
    c.check_words("EXPIRE k 100", ":1\r\n");
    c.check_words("TTL k", ":100\r\n");
    c.send(&words("PTTL k"));
    let pttl = String::from_utf8(c.read_reply()).unwrap();
    let ms: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!((99_000..=100_000).contains(&ms), "{pttl}");
    c.check_words("PEXPIRE k 50000", ":1\r\n");
    c.check_words("TTL k", ":50\r\n");
    c.check_words("PERSIST k", ":1\r\n");
    c.check_words("PERSIST k", ":0\r\n");
    c.check_words("TTL k", ":-1\r\n");
    c.check_words("EXPIREAT k 99999999999", ":1\r\n");
    c.check_words("PEXPIREAT k 99999999999000", ":1\r\n");
    c.check_words(
        "EXPIRE k x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.check_words(
        "EXPIRE k 9223372036854775807",
        "-ERR invalid expire time in 'expire' command\r\n",
    );
    c.check_words("EXPIRE k 10 ZZ", "-ERR Unsupported option ZZ\r\n");
    c.check_words("EXPIRE k 0", ":1\r\n");
    c.check_words("EXISTS k", ":0\r\n");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("EXPIRE k -1", ":1\r\n");
    c.check_words("GET k", "$-1\r\n");
}

/// Replies and TTLs as Redis 7.0.15 gave them for the same sequence.
#[test]
fn expire_conditions_nx_xx_gt_lt_answer_as_redis_7() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET s v", "+OK\r\n");
    // Options are checked before the time, in any order.
    c.check_words(
        "EXPIRE s abc NX XX",
        "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n",
    );
    c.check_words("EXPIRE s abc foo", "-ERR Unsupported option foo\r\n");
    c.check_words(
        "PEXPIRE s 100 GT LT",
        "-ERR GT and LT options at the same time are not compatible\r\n",
    );
    c.check_words("EXPIRE s 100 XX", ":0\r\n"); // no expiry yet
    c.check_words("EXPIRE s 100 GT", ":0\r\n"); // none counts as infinite
    c.check_words("EXPIRE s 100 nx nx", ":1\r\n");
    c.check_words("EXPIRE s 200 NX", ":0\r\n");
    c.check_words("EXPIRE s 100 XX", ":1\r\n");
    c.check_words("EXPIRE s 100 LT", ":0\r\n"); // not earlier
    c.check_words("TTL s", ":100\r\n");
    c.check_words("EXPIRE s 50 XX LT", ":1\r\n");
    c.check_words("EXPIRE s 80 XX GT", ":1\r\n");
    c.check_words("TTL s", ":80\r\n");
    c.check_words("EXPIREAT s 1 GT", ":0\r\n"); // the past is not later: kept
    c.check_words("EXISTS s", ":1\r\n");
    c.check_words("SET t v", "+OK\r\n");
    c.check_words("EXPIRE t 10 XX LT", ":0\r\n");
    c.check_words("EXPIRE t -1 LT", ":1\r\n"); // earlier than never: deleted
    c.check_words("EXISTS t", ":0\r\n");
    c.check_words("EXPIRE missing 10 LT", ":0\r\n");
}

#[test]
fn type_and_scan_cover_both_kinds() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("TYPE nope", "+none\r\n");
    c.check_words("SET blob v", "+OK\r\n");
    c.check_words("TYPE blob", "+string\r\n");
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    c.check_words("TYPE vs", "+vectorset\r\n");
    c.check_words("SCAN 0 COUNT 1000", "");
    let all = String::from_utf8(c.read_reply()).unwrap();
    assert!(all.starts_with("*2\r\n$1\r\n0\r\n*2\r\n"), "{all}");
    assert!(
        all.contains("$4\r\nblob\r\n") && all.contains("$2\r\nvs\r\n"),
        "{all}"
    );
    c.check_words(
        "SCAN 0 COUNT 1000 TYPE vectorset",
        "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nvs\r\n",
    );
    c.check_words(
        "SCAN 0 COUNT 1000 MATCH bl*",
        "*2\r\n$1\r\n0\r\n*1\r\n$4\r\nblob\r\n",
    );
    c.check_words("SCAN 0 TYPE hash", "*2\r\n$1\r\n0\r\n*0\r\n");
    c.check_words(
        "SCAN 0 TYPE nonsense",
        "-ERR unknown type name 'nonsense'\r\n",
    );
    c.check_words("KEYS v*", "*1\r\n$2\r\nvs\r\n");
    c.check_words("KEYS nomatch*", "*0\r\n");
    let all = String::from_utf8(c.call(&[b"KEYS", b"*"])).unwrap();
    assert!(
        all.starts_with("*2\r\n") && all.contains("$4\r\nblob\r\n"),
        "{all}"
    );
    c.check_words(
        "PSUBSCRIBE ch*",
        "-ERR 'psubscribe' is not supported by sutra-cache: there are no pattern subscriptions \
         (SUBSCRIBE to channels by name)\r\n",
    );
    c.check_words("SCAN x", "-ERR invalid cursor\r\n");
    c.check_words("SCAN 0 COUNT 0", "-ERR syntax error\r\n");
    c.check_words("SCAN 0 COUNT", "-ERR syntax error\r\n");
    c.check_words("SCAN 0 FOO bar", "-ERR syntax error\r\n");
}

#[test]
fn a_full_scan_returns_every_key_once_across_pages() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut pipe = Vec::new();
    for i in 0..300 {
        pipe.extend(words(&format!("SET key:{i} x")));
    }
    c.send(&pipe);
    assert_eq!(c.read_n(300 * 5).len(), 1500);
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    loop {
        let reply = c.call(&[b"SCAN", cursor.as_bytes(), b"COUNT", b"17"]);
        let text = String::from_utf8(reply).unwrap();
        let mut lines = text.split("\r\n");
        assert_eq!(lines.next(), Some("*2"));
        lines.next();
        cursor = lines.next().unwrap().to_string();
        for l in lines.filter(|l| l.starts_with("key:")) {
            seen.insert(l.to_string());
        }
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
}

#[test]
fn wrongtype_errors_carry_the_redis_prefix() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    c.check_words("GET vs", wrongtype);
    c.check_words("SET blob v", "+OK\r\n");
    c.check_words("VADD blob VALUES 2 1 0 a", wrongtype);
    c.check_words("VSIM blob VALUES 2 1 0", wrongtype);
    // The key's type is answered before the arguments are judged, as Redis looks it up first.
    c.check_words("VSIM blob VALUES 2 1 x", wrongtype);
    c.check_words("VSIM blob VALUES 2 1 0 BOGUS", wrongtype);
    c.check_words("VCARD blob", wrongtype);
    c.check_words("VEMB blob a", wrongtype);
    c.check_words("MGET vs blob", "*2\r\n$-1\r\n$1\r\nv\r\n");
}

#[test]
fn hello_switches_protocols_and_replies_change_shape() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("HELLO 4", "-NOPROTO unsupported protocol version\r\n");
    c.check_words(
        "HELLO x",
        "-ERR Protocol version is not an integer or out of range\r\n",
    );
    c.check_words("HELLO 3 FOO", "-ERR Syntax error in HELLO option 'FOO'\r\n");
    let hello = String::from_utf8(c.call(&[b"HELLO", b"3"])).unwrap();
    assert!(
        hello.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$5\r\n8.0.0\r\n"),
        "{hello}"
    );
    assert!(
        hello.contains("$5\r\nproto\r\n:3\r\n$2\r\nid\r\n:"),
        "{hello}"
    );
    assert!(hello.ends_with("$7\r\nmodules\r\n*0\r\n"), "{hello}");
    c.check_words("GET nope", "_\r\n");
    c.check_words("VADD vs VALUES 2 1 0 a", "#t\r\n");
    c.check_words("VADD vs VALUES 2 1 0 a", "#f\r\n");
    c.check_words("VINFO nope", "_\r\n");
    c.check_words("CLIENT GETNAME", "_\r\n");
    let hello2 = String::from_utf8(c.call(&[b"HELLO", b"2"])).unwrap();
    assert!(hello2.starts_with("*14\r\n"), "{hello2}");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words("VINFO nope", "*-1\r\n");
    c.check_words("VISMEMBER vs a", ":1\r\n");
    // HELLO without a version answers in the current protocol.
    let hello3 = String::from_utf8(c.call(&[b"HELLO"])).unwrap();
    assert!(hello3.starts_with("*14\r\n"), "{hello3}");
}

#[test]
fn client_commands_keep_per_connection_state() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let mut d = srv.connect();
    let id = String::from_utf8(c.call(&[b"CLIENT", b"ID"])).unwrap();
    let id2 = String::from_utf8(d.call(&[b"CLIENT", b"ID"])).unwrap();
    assert!(id.starts_with(':') && id != id2, "{id} {id2}");
    c.check_words("CLIENT GETNAME", "$-1\r\n");
    c.check_words("CLIENT SETNAME worker-1", "+OK\r\n");
    c.check_words("CLIENT GETNAME", "$8\r\nworker-1\r\n");
    d.check_words("CLIENT GETNAME", "$-1\r\n");
    c.check(
        &cmd(&[b"CLIENT", b"SETNAME", b"a b"]),
        b"-ERR Client names cannot contain spaces, newlines or special characters.\r\n",
    );
    c.check_words("CLIENT SETINFO LIB-NAME redis-py", "+OK\r\n");
    c.check_words("CLIENT SETINFO LIB-VER 5.0", "+OK\r\n");
    c.check_words("CLIENT SETINFO FOO x", "-ERR Unrecognized option 'FOO'\r\n");
    c.check_words(
        "CLIENT NOPE",
        "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n",
    );
    c.check_words(
        "CLIENT ID x",
        "-ERR wrong number of arguments for 'client|id' command\r\n",
    );
    let info = String::from_utf8(c.call(&[b"CLIENT", b"INFO"])).unwrap();
    assert!(
        info.contains("name=worker-1") && info.contains("lib-name=redis-py"),
        "{info}"
    );
}

#[test]
fn quit_answers_ok_then_closes() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("QUIT", "+OK\r\n");
    assert!(c.is_closed());
}

#[test]
fn command_config_info_and_time_serve_tools() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let count = String::from_utf8(c.call(&[b"COMMAND", b"COUNT"])).unwrap();
    let n: usize = count.trim_start_matches(':').trim().parse().unwrap();
    assert!(n >= 50, "{count}");
    c.check_words(
        "COMMAND INFO get nosuch",
        "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n*-1\r\n",
    );
    let docs = String::from_utf8(c.call(&[b"COMMAND", b"DOCS", b"vsim"])).unwrap();
    assert!(
        docs.starts_with("*2\r\n$4\r\nvsim\r\n*6\r\n$7\r\nsummary\r\n"),
        "{docs}"
    );
    let all = c.call(&[b"COMMAND"]);
    assert!(all.starts_with(format!("*{n}\r\n").as_bytes()));
    c.check_words("CONFIG GET save", "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    c.check_words(
        "CONFIG GET appendonly",
        "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n",
    );
    c.check_words("CONFIG GET nomatch*", "*0\r\n");
    let mm = String::from_utf8(c.call(&[b"CONFIG", b"GET", b"maxmemory*"])).unwrap();
    assert!(mm.starts_with("*4\r\n$9\r\nmaxmemory\r\n"), "{mm}");
    c.check_words(
        "CONFIG SET dir /tmp",
        "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set immutable config\r\n",
    );
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    let info = String::from_utf8(c.call(&[b"INFO"])).unwrap();
    for field in [
        "# Server\r\n",
        "redis_version:",
        "# Memory\r\nused_memory:",
        "# Persistence\r\n",
        "keyspace_hits:1\r\n",
        "keyspace_misses:1\r\n",
        "# Keyspace\r\ndb0:keys=1,",
        "connected_clients:1\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}: {info}");
    }
    let stats = String::from_utf8(c.call(&[b"INFO", b"stats"])).unwrap();
    assert!(
        stats.contains("# Stats") && !stats.contains("# Server"),
        "{stats}"
    );
    c.check_words("HELLO 3", "");
    let _ = c.read_reply();
    let info3 = String::from_utf8(c.call(&[b"INFO", b"server"])).unwrap();
    assert!(
        info3.starts_with('=') && info3.contains("txt:# Server"),
        "{info3}"
    );
    let time = String::from_utf8(c.call(&[b"TIME"])).unwrap();
    assert!(time.starts_with("*2\r\n$10\r\n"), "{time}");
    let last = String::from_utf8(c.call(&[b"LASTSAVE"])).unwrap();
    assert!(last.starts_with(':'), "{last}");
    c.check_words(
        "SAVE",
        "-ERR snapshots need a data directory: this server runs with --in-memory\r\n",
    );
}

#[test]
fn vadd_and_the_vector_set_reads_answer_as_redis_8() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VADD vs VALUES 3 1 0 0 a", ":1\r\n");
    c.check_words("VADD vs VALUES 3 1 0 0 a", ":0\r\n");
    c.check(
        &cmd(&[
            b"VADD",
            b"vs",
            b"FP32",
            &f32le(&[0.0, 1.0, 0.0]),
            b"b",
            b"SETATTR",
            br#"{"t":1}"#,
        ]),
        b":1\r\n",
    );
    c.check_words("VCARD vs", ":2\r\n");
    c.check_words("VCARD nope", ":0\r\n");
    c.check_words("VDIM vs", ":3\r\n");
    c.check_words("VDIM nope", "-ERR key does not exist\r\n");
    c.check_words("VISMEMBER vs a", ":1\r\n");
    c.check_words("VISMEMBER vs z", ":0\r\n");
    c.check_words("VISMEMBER nope z", ":0\r\n");
    c.check_words("VGETATTR vs b", "$7\r\n{\"t\":1}\r\n");
    c.check_words("VGETATTR vs a", "$-1\r\n");
    c.check_words("VGETATTR nope a", "$-1\r\n");
    c.check(
        &cmd(&[b"VSETATTR", b"vs", b"a", br#"{"x":"y"}"#]),
        b":1\r\n",
    );
    c.check_words("VSETATTR vs zz {}", ":0\r\n");
    c.check_words("VSETATTR nope zz {}", ":0\r\n");
    c.check(&cmd(&[b"VSETATTR", b"vs", b"a", b""]), b":1\r\n");
    c.check_words("VGETATTR vs a", "$-1\r\n");
    c.check_words("VEMB vs a", "*3\r\n$1\r\n1\r\n$1\r\n0\r\n$1\r\n0\r\n");
    c.check_words("VEMB vs zz", "$-1\r\n");
    c.check_words("VEMB nope zz", "$-1\r\n");
    c.check_words("VEMB vs a FOO", "-ERR invalid option\r\n");
    let mut raw = b"*3\r\n+f32\r\n$12\r\n".to_vec();
    raw.extend(f32le(&[1.0, 0.0, 0.0]));
    raw.extend(b"\r\n$1\r\n1\r\n");
    c.check(&words("VEMB vs a RAW"), &raw);
    let info = String::from_utf8(c.call(&[b"VINFO", b"vs"])).unwrap();
    assert!(
        info.starts_with("*18\r\n+quant-type\r\n+exact\r\n+hnsw-m\r\n:16\r\n+vector-dim\r\n:3\r\n+projection-input-dim\r\n:0\r\n+size\r\n:2\r\n+max-level\r\n:0\r\n+attributes-count\r\n:1\r\n+vset-uid\r\n:"),
        "{info}"
    );
    assert!(info.contains("\r\n+hnsw-max-node-uid\r\n:"), "{info}");
    c.check_words("VRANDMEMBER nope", "$-1\r\n");
    c.check_words("VRANDMEMBER nope 3", "*0\r\n");
    c.check_words("VRANDMEMBER vs 0", "*0\r\n");
    c.check_words("VRANDMEMBER vs x", "-ERR COUNT value is not an integer\r\n");
    let one = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs"])).unwrap();
    assert!(one == "$1\r\na\r\n" || one == "$1\r\nb\r\n", "{one}");
    let two = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs", b"5"])).unwrap();
    assert!(two.starts_with("*2\r\n"), "{two}");
    let dup = String::from_utf8(c.call(&[b"VRANDMEMBER", b"vs", b"-5"])).unwrap();
    assert!(dup.starts_with("*5\r\n"), "{dup}");
    c.check_words("VREM vs a", ":1\r\n");
    c.check_words("VREM vs a", ":0\r\n");
    c.check_words("VREM nope a", ":0\r\n");
    c.check_words("VREM vs b", ":1\r\n");
    c.check_words("EXISTS vs", ":0\r\n");
}

#[test]
fn vadd_refuses_what_redis_refuses() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    c.check_words(
        "VADD vs VALUES 2 1 0",
        "-ERR wrong number of arguments for 'vadd' command\r\n",
    );
    c.check_words(
        "VADD vs VALUES 3 1 0 1 b",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 b Q8",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 b M 32",
        "-ERR asked M value mismatch with existing vector set\r\n",
    );
    c.check_words("VADD vs VALUES 2 1 0 b M 16 CAS EF 100", ":1\r\n");
    c.check_words("VADD vs VALUES 2 1 0 c EF 0", "-ERR invalid EF\r\n");
    c.check_words("VADD vs VALUES 2 1 0 c M 1", "-ERR invalid M\r\n");
    c.check_words(
        "VADD vs VALUES 2 1 0 c FOO",
        "-ERR invalid option after element\r\n",
    );
    c.check_words(
        "VADD vs VALUES x 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 0 c d e",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 nan c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 abc c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs VALUES 5 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs BLOB 2 1 0 c",
        "-ERR invalid vector specification\r\n",
    );
    c.check(
        &cmd(&[b"VADD", b"vs", b"FP32", b"abc", b"c"]),
        b"-ERR invalid vector specification\r\n",
    );
    c.check_words(
        "VADD vs REDUCE 1 VALUES 2 1 0 c",
        "-ERR cannot add projection to existing set without projection\r\n",
    );
    c.check_words(
        "VADD vs REDUCE 1 VALUES 3 1 0 1 c",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words(
        "VADD vs VALUES 2 1 0 c BIN",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words("VADD q VALUES 2 1 0 a Q8", ":1\r\n");
    c.check_words("VADD q VALUES 2 0 1 b Q8", ":1\r\n");
    c.check_words(
        "VADD q VALUES 2 0 1 c",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    c.check_words("VADD n VALUES 2 1 0 a NOQUANT M 8", ":1\r\n");
    let info = String::from_utf8(c.call(&[b"VINFO", b"n"])).unwrap();
    assert!(
        info.contains("+quant-type\r\n+f32\r\n+hnsw-m\r\n:8\r\n"),
        "{info}"
    );
    let info = String::from_utf8(c.call(&[b"VINFO", b"q"])).unwrap();
    assert!(info.contains("+quant-type\r\n+int8\r\n"), "{info}");
    // Redis's int8 raw form: codes of the unit vector, its L2 norm, the quantization range.
    c.check_words("VADD q VALUES 2 3 -4 r Q8", ":1\r\n");
    // The codes round-trip exactly (95 = round(0.6 / 0.8 × 127), -127); norm and range are
    // those of the stored (dequantized) vector, so codes × range / 127 × norm is what VEMB
    // answers: (2.992…, -4).
    let raw = c.call(&[b"VEMB", b"q", b"r", b"RAW"]);
    let head = b"*4\r\n+int8\r\n$2\r\n\x5f\x81\r\n";
    assert!(raw.starts_with(head), "{:?}", String::from_utf8_lossy(&raw));
    let doubles: Vec<f64> = String::from_utf8(raw[head.len()..].to_vec())
        .unwrap()
        .split("\r\n")
        .filter(|l| !l.starts_with('$') && !l.is_empty())
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(doubles.len(), 2, "{doubles:?}");
    assert!((doubles[0] - 4.9953).abs() < 1e-3, "norm {doubles:?}");
    assert!((doubles[1] - 0.8008).abs() < 1e-3, "range {doubles:?}");
    let x0 = 95.0 * doubles[1] / 127.0 * doubles[0];
    assert!((x0 - 2.992126).abs() < 1e-4, "{x0}");
    // Attributes are stored as given, as Redis does (FILTER never matches a non-object).
    c.check(
        &cmd(&[
            b"VADD", b"vs", b"VALUES", b"2", b"1", b"0", b"c", b"SETATTR", b"{bad",
        ]),
        b":1\r\n",
    );
    c.check_words("VGETATTR vs c", "$4\r\n{bad\r\n");
}

#[test]
fn vsim_replies_in_redis_shapes_in_both_protocols() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("VSIM nope VALUES 2 1 0", "*0\r\n");
    // A missing key answers an empty array whatever the arguments.
    c.check_words("VSIM nope VALUES 2 1 x", "*0\r\n");
    c.check_words("VSIM nope VALUES 2 1 0 BOGUS", "*0\r\n");
    c.check_words("VSIM nope VALUES 2 1 0 EPSILON 0.5 WITHSCORES", "*0\r\n");
    c.check(
        &cmd(&[
            b"VADD",
            b"vs",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"a",
            b"SETATTR",
            br#"{"k":1}"#,
        ]),
        b":1\r\n",
    );
    c.check_words("VADD vs VALUES 2 0 1 b", ":1\r\n");
    c.check_words("VADD vs VALUES 2 -1 0 c", ":1\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0",
        "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 COUNT 1", "*1\r\n$1\r\na\r\n");
    c.check_words(
        "VSIM vs ELE a COUNT 2 TRUTH NOTHREAD",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check(
        &cmd(&[b"VSIM", b"vs", b"FP32", &f32le(&[1.0, 0.0]), b"WITHSCORES"]),
        b"*6\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n0.5\r\n$1\r\nc\r\n$1\r\n0\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 WITHSCORES WITHATTRIBS COUNT 2",
        "*6\r\n$1\r\na\r\n$1\r\n1\r\n$7\r\n{\"k\":1}\r\n$1\r\nb\r\n$3\r\n0.5\r\n$-1\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 EPSILON 0.5",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 EPSILON 0.1", "*1\r\n$1\r\na\r\n");
    c.check_words("VSIM vs ELE zz", "-ERR element not found in set\r\n");
    c.check_words(
        "VSIM vs VALUES 3 1 0 0",
        "-ERR Vector dimension mismatch - got 3 but set has 2\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 COUNT 0", "-ERR invalid COUNT\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 EPSILON -1",
        "-ERR invalid EPSILON\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 EF 0", "-ERR invalid EF\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 BOGUS",
        "-ERR syntax error in VSIM command\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 x",
        "-ERR invalid vector specification\r\n",
    );
    // FILTER: only `a` has attributes; elements without any never match.
    c.check_words("VSIM vs VALUES 2 1 0 FILTER .k==1", "*1\r\n$1\r\na\r\n");
    c.check_words(
        "VSIM vs VALUES 2 -1 0 FILTER .k==1 FILTER-EF 5 COUNT 1",
        "*1\r\n$1\r\na\r\n",
    );
    c.check_words("VSIM vs VALUES 2 1 0 FILTER .k>1", "*0\r\n");
    c.check_words("VSIM vs VALUES 2 1 0 FILTER not(.k) TRUTH", "*0\r\n");
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k==",
        "-ERR syntax error in FILTER expression near: .k==\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k@1",
        "-ERR syntax error in FILTER expression near: @1\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 FILTER .k==1 FILTER-EF 0",
        "-ERR invalid FILTER-EF\r\n",
    );
    c.check_words("HELLO 3", "");
    let _ = c.read_reply();
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2",
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2 WITHSCORES",
        "%2\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,0.5\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 1 WITHATTRIBS",
        "%1\r\n$1\r\na\r\n$7\r\n{\"k\":1}\r\n",
    );
    c.check_words(
        "VSIM vs VALUES 2 1 0 COUNT 2 WITHSCORES WITHATTRIBS",
        "%2\r\n$1\r\na\r\n*2\r\n,1\r\n$7\r\n{\"k\":1}\r\n$1\r\nb\r\n*2\r\n,0.5\r\n_\r\n",
    );
    c.check_words("VEMB vs b", "*2\r\n,0\r\n,1\r\n");
}

#[test]
fn the_cache_extensions_work_end_to_end() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    let va = f32le(&[0.1, 0.2, 0.3]);
    let vb = f32le(&[-0.5, 0.25, 1e-7]);
    c.check(
        &cmd(&[b"VADDM", b"m", b"FP32", b"a", &va, b"b", &vb]),
        b":2\r\n",
    );
    c.check(&cmd(&[b"VADDM", b"m", b"FP32", b"a", &va]), b":0\r\n");
    let mut exact = b"$12\r\n".to_vec();
    exact.extend(&va);
    exact.extend(b"\r\n");
    c.check(&words("VGETF32 m a"), &exact);
    c.check_words("VGETF32 m zz", "$-1\r\n");
    c.check_words("VGETF32 nope zz", "$-1\r\n");
    let mut many = b"*3\r\n$12\r\n".to_vec();
    many.extend(&vb);
    many.extend(b"\r\n$-1\r\n$12\r\n");
    many.extend(&va);
    many.extend(b"\r\n");
    c.check(&cmd(&[b"VMGETF32", b"m", b"b", b"zz", b"a"]), &many);
    c.check_words(
        "VADDM m FP32 a",
        "-ERR wrong number of arguments for 'vaddm' command\r\n",
    );
    c.check_words("VADDM m Q9 FP32 a b", "-ERR syntax error\r\n");
    c.check(
        &cmd(&[b"VADDM", b"m", b"FP32", b"c", b"abc"]),
        b"-ERR invalid vector specification\r\n",
    );
    c.check(
        &cmd(&[b"VADDM", b"m", b"Q8", b"FP32", b"c", &va]),
        b"-ERR asked quantization mismatch with existing vector set\r\n",
    );
    // Per-element TTL.
    c.check_words("VTTL m a", ":-1\r\n");
    c.check_words("VTTL m zz", ":-2\r\n");
    c.check_words("VEXPIRE m a 100", ":1\r\n");
    c.check_words("VTTL m a", ":100\r\n");
    c.check_words("VPEXPIRE m a 20000", ":1\r\n");
    c.check_words("VTTL m a", ":20\r\n");
    c.check_words("VEXPIRE m zz 100", ":0\r\n");
    c.check_words("VPERSIST m a", ":1\r\n");
    c.check_words("VPERSIST m a", ":0\r\n");
    c.check_words("VPTTL m a", ":-1\r\n");
    c.check_words("VADD t VALUES 2 1 0 a EX 50", ":1\r\n");
    c.check_words("VTTL t a", ":50\r\n");
    c.check_words("VADD t VALUES 2 1 0 b PX 7000", ":1\r\n");
    c.check_words("VTTL t b", ":7\r\n");
    c.check_words(
        "VADD t VALUES 2 1 0 c EX 0",
        "-ERR invalid expire time in 'vadd ex' command\r\n",
    );
    c.check_words("VEXPIRE t a 0", ":1\r\n");
    c.check_words("VISMEMBER t a", ":0\r\n");
    // Semantic invalidation.
    c.check_words("VADD inv VALUES 2 1 0 x", ":1\r\n");
    c.check_words("VADD inv VALUES 2 1 0.1 y", ":1\r\n");
    c.check_words("VADD inv VALUES 2 0 1 z", ":1\r\n");
    c.check_words("VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.99", ":2\r\n");
    c.check_words("VCARD inv", ":1\r\n");
    c.check_words(
        "VINVALIDATE inv ELE z THRESHOLD 0.9 WITHELEMENTS",
        "*2\r\n$1\r\nz\r\n$1\r\n1\r\n",
    );
    c.check_words("EXISTS inv", ":0\r\n");
    c.check_words("VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.5", ":0\r\n");
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0",
        "-ERR THRESHOLD is required\r\n",
    );
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0 THRESHOLD x",
        "-ERR invalid THRESHOLD\r\n",
    );
    c.check_words("VADD inv VALUES 2 1 0 x", ":1\r\n");
    c.check_words(
        "VINVALIDATE inv ELE nope THRESHOLD 0.5",
        "-ERR element not found in set\r\n",
    );
    // FILTER: only near elements whose attributes also pass (here: one source of two).
    c.check(
        &cmd(&[
            b"VADD",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0.05",
            b"w",
            b"SETATTR",
            br#"{"src":"web"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0.02",
            b"d",
            b"SETATTR",
            br#"{"src":"docs"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VINVALIDATE",
            b"inv",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"THRESHOLD",
            b"0.99",
            b"FILTER",
            b".src == 'web'",
        ]),
        b":1\r\n",
    );
    c.check_words("VISMEMBER inv w", ":0\r\n");
    c.check_words("VISMEMBER inv d", ":1\r\n");
    c.check_words("VISMEMBER inv x", ":1\r\n"); // near, but no attributes
    c.check_words(
        "VINVALIDATE inv VALUES 2 1 0 THRESHOLD 0.9 FILTER .src==",
        "-ERR syntax error in FILTER expression near: .src==\r\n",
    );
}

#[test]
fn cachestats_counts_hits_and_misses_globally_and_per_set() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words("VADD vs VALUES 2 1 0 a", ":1\r\n");
    c.check_words("VGETF32 vs zz", "$-1\r\n");
    let global = String::from_utf8(c.call(&[b"CACHESTATS"])).unwrap();
    assert!(global.starts_with("*22\r\n$4\r\nhits\r\n:2\r\n$6\r\nmisses\r\n:2\r\n$14\r\ntotal_requests\r\n:4\r\n$8\r\nhit_rate\r\n$3\r\n0.5\r\n"), "{global}");
    let per = String::from_utf8(c.call(&[b"CACHESTATS", b"vs"])).unwrap();
    assert!(
        per.starts_with("*24\r\n$4\r\nhits\r\n:0\r\n$6\r\nmisses\r\n:1\r\n"),
        "{per}"
    );
    assert!(
        per.ends_with(
            "$11\r\nindex_nodes\r\n:0\r\n$13\r\nindex_pending\r\n:0\r\n$14\r\nindex_restored\r\n:0\r\n"
        ),
        "{per}"
    );
    c.check_words("CACHESTATS nope", "*-1\r\n");
    c.check_words(
        "CACHESTATS a b",
        "-ERR wrong number of arguments for 'cachestats' command\r\n",
    );
}

#[test]
fn many_clients_at_once_each_read_back_exactly_what_they_wrote() {
    let srv = TestServer::start();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let mut c = srv.connect();
            std::thread::spawn(move || {
                let mut input: Vec<u8> = Vec::new();
                let mut expected: Vec<u8> = Vec::new();
                for i in 0..300 {
                    let v = format!("value-{t}-{i}-{}", "x".repeat(i % 50));
                    input.extend(cmd(&[b"SET", format!("c{t}:{i}").as_bytes(), v.as_bytes()]));
                    expected.extend(b"+OK\r\n");
                }
                for i in 0..300 {
                    let v = format!("value-{t}-{i}-{}", "x".repeat(i % 50));
                    input.extend(cmd(&[b"GET", format!("c{t}:{i}").as_bytes()]));
                    expected.extend(format!("${}\r\n{v}\r\n", v.len()).as_bytes());
                }
                for chunk in input.chunks(1000) {
                    c.send(chunk);
                }
                assert_eq!(c.read_n(expected.len()), expected, "client {t}");
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    assert_eq!(srv.engine.dbsize(), 16 * 300);
}

#[test]
fn resp3_gives_maps_sets_booleans_doubles_and_nulls_where_redis_does() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.send(&words("HELLO 3"));
    let _ = c.read_reply();
    c.check_words("CONFIG GET save", "%1\r\n$4\r\nsave\r\n$0\r\n\r\n");
    c.check_words(
        "COMMAND INFO get",
        "*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n*0\r\n*0\r\n",
    );
    c.check_words("VADD vs VALUES 2 1 0 a", "#t\r\n");
    c.check_words("VADD vs VALUES 2 0 1 b", "#t\r\n");
    c.check_words("VISMEMBER vs a", "#t\r\n");
    c.check_words("VISMEMBER vs z", "#f\r\n");
    c.check_words("VSETATTR vs z {}", "#f\r\n");
    c.check_words("VEMB vs a", "*2\r\n,1\r\n,0\r\n");
    c.check_words("VEMB vs z", "_\r\n");
    let mut raw = b"*3\r\n+f32\r\n$8\r\n".to_vec();
    raw.extend(f32le(&[1.0, 0.0]));
    raw.extend(b"\r\n,1\r\n");
    c.check(&words("VEMB vs a RAW"), &raw);
    let info = String::from_utf8(c.call(&[b"VINFO", b"vs"])).unwrap();
    assert!(
        info.starts_with("%9\r\n+quant-type\r\n+exact\r\n+hnsw-m\r\n:16\r\n"),
        "{info}"
    );
    c.check_words("VRANDMEMBER nope", "_\r\n");
    c.check_words("VGETATTR vs a", "_\r\n");
    c.check_words("VGETF32 vs z", "_\r\n");
    c.check_words("CACHESTATS nope", "_\r\n");
    let stats = String::from_utf8(c.call(&[b"CACHESTATS", b"vs"])).unwrap();
    assert!(stats.starts_with("%12\r\n$4\r\nhits\r\n:"), "{stats}");
    assert!(stats.contains("$8\r\nhit_rate\r\n,"), "{stats}");
    c.check_words(
        "VINVALIDATE vs VALUES 2 1 0 THRESHOLD 0.9 WITHELEMENTS",
        "%1\r\n$1\r\na\r\n,1\r\n",
    );
    c.check_words("VREM vs b", "#t\r\n");
    c.check_words("VREM vs b", "#f\r\n");
    c.check_words("SET k v GET", "_\r\n");
    c.check_words("SET k v NX", "_\r\n");
    c.check_words("MGET k nope", "*2\r\n$1\r\nv\r\n_\r\n");
    c.check_words("SCAN 0 MATCH k", "*2\r\n$1\r\n0\r\n*1\r\n$1\r\nk\r\n");
}

#[test]
fn info_keyspace_counts_keys_with_an_expiry_and_their_mean_ttl_as_redis_does() {
    let clock = sutra_cache::ManualClock::new(1_700_000_000_000);
    let srv = TestServer::with_engine_config(
        sutra_cache::server::ServerConfig::default(),
        sutra_cache::EngineConfig {
            active_expire_interval_ms: 0,
            clock: clock.clone(),
            ..Default::default()
        },
    );
    let mut c = srv.connect();
    let keyspace = |line: &str| {
        let body = format!("# Keyspace\r\n{line}");
        format!("${}\r\n{body}\r\n", body.len())
    };
    c.check_words("INFO keyspace", &keyspace(""));
    c.check_words("SET a 1", "+OK\r\n");
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=1,expires=0,avg_ttl=0\r\n"),
    );
    c.check_words("SET b 2 EX 100", "+OK\r\n");
    c.check_words("SET c 3 PX 50000", "+OK\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e", ":1\r\n");
    c.check_words("EXPIRE vs 200", ":1\r\n");
    // (100 000 + 50 000 + 200 000) / 3 ms, rounded down.
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=4,expires=3,avg_ttl=116666\r\n"),
    );
    clock.advance(10_000);
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=4,expires=3,avg_ttl=106666\r\n"),
    );
    // Removing, replacing or overwriting an expiry moves both figures.
    c.check_words("PERSIST b", ":1\r\n");
    c.check_words("SET a 9 PX 1000", "+OK\r\n");
    c.check_words("SET c 4", "+OK\r\n");
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=4,expires=2,avg_ttl=95500\r\n"),
    );
    c.check_words("SET a 10 KEEPTTL", "+OK\r\n");
    c.check_words("DEL vs", ":1\r\n");
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=3,expires=1,avg_ttl=1000\r\n"),
    );
    // A key that expired and was reclaimed no longer counts.
    clock.advance(1_000);
    c.check_words("GET a", "$-1\r\n");
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=2,expires=0,avg_ttl=0\r\n"),
    );
    c.check_words("SET d 1 EX 5", "+OK\r\n");
    c.check_words("FLUSHALL", "+OK\r\n");
    c.check_words("INFO keyspace", &keyspace(""));
    c.check_words("SET e 1", "+OK\r\n");
    c.check_words(
        "INFO keyspace",
        &keyspace("db0:keys=1,expires=0,avg_ttl=0\r\n"),
    );
}

#[test]
fn object_and_memory_usage_answer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k hello", "+OK\r\n");
    c.check_words("OBJECT ENCODING k", "$3\r\nraw\r\n");
    c.check_words("OBJECT REFCOUNT k", ":1\r\n");
    c.check_words("OBJECT ENCODING nope", "$-1\r\n");
    c.check_words("MEMORY USAGE nope", "$-1\r\n");
    // Not under the default lru policy: Redis's own words.
    c.check_words(
        "OBJECT FREQ k",
        "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please \
         note that when switching between policies at runtime LRU and LFU data will take some \
         time to adjust.\r\n",
    );
    c.check_words(
        "OBJECT FOO k",
        "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
    );
    c.check_words(
        "OBJECT ENCODING",
        "-ERR wrong number of arguments for 'object|encoding' command\r\n",
    );
    c.check_words(
        "OBJECT",
        "-ERR wrong number of arguments for 'object' command\r\n",
    );
    c.check_words(
        "MEMORY USAGE",
        "-ERR wrong number of arguments for 'memory|usage' command\r\n",
    );
    c.check_words(
        "MEMORY USAGE k SAMPLES x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.check_words("MEMORY USAGE k FOO", "-ERR syntax error\r\n");
    c.check_words(
        "MEMORY FOO",
        "-ERR unknown subcommand 'FOO'. Try MEMORY HELP.\r\n",
    );
    let idle = String::from_utf8(c.call(&[b"OBJECT", b"IDLETIME", b"k"])).unwrap();
    assert!(
        idle.starts_with("-ERR OBJECT IDLETIME is not tracked"),
        "{idle}"
    );
    // MEMORY USAGE is what the key accounts for: it grows with the value, and a vector set's
    // with its elements.
    let usage = |c: &mut server_support::Conn, k: &str| -> i64 {
        let r = String::from_utf8(c.call(&[b"MEMORY", b"USAGE", k.as_bytes(), b"SAMPLES", b"0"]))
            .unwrap();
        r.trim_start_matches(':')
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{r}"))
    };
    let small = usage(&mut c, "k");
    c.send(&cmd(&[b"SET", b"k", &[b'v'; 3000]]));
    assert_eq!(c.read_reply(), b"+OK\r\n");
    let large = usage(&mut c, "k");
    assert!(large >= small + 2995, "{small} → {large}");
    c.check_words("VADD vs VALUES 4 1 0 0 0 a", ":1\r\n");
    let one = usage(&mut c, "vs");
    c.check_words("VADD vs VALUES 4 0 1 0 0 b", ":1\r\n");
    assert!(usage(&mut c, "vs") > one);
    c.check_words("OBJECT ENCODING vs", "$5\r\nexact\r\n");
    let help = String::from_utf8(c.call(&[b"OBJECT", b"HELP"])).unwrap();
    assert!(
        help.starts_with('*') && help.contains("FREQ <key>"),
        "{help}"
    );
}

#[test]
fn incr_append_getex_and_getdel_answer_as_redis_7() {
    // Expected bytes are Redis 7.0.15's for the same commands.
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("INCR a", ":1\r\n");
    c.check_words("INCRBY a 10", ":11\r\n");
    c.check_words("DECRBY a 3", ":8\r\n");
    c.check_words("DECR a", ":7\r\n");
    c.check_words("GET a", "$1\r\n7\r\n");
    for bad in ["x", "1.5", "01", "-0"] {
        c.check_words(&format!("SET b {bad}"), "+OK\r\n");
        c.check_words("INCR b", "-ERR value is not an integer or out of range\r\n");
    }
    c.check_words(
        "INCRBY a x",
        "-ERR value is not an integer or out of range\r\n",
    );
    c.check_words("SET m 9223372036854775807", "+OK\r\n");
    c.check_words("INCR m", "-ERR increment or decrement would overflow\r\n");
    c.check_words(
        "DECRBY a -9223372036854775808",
        "-ERR decrement would overflow\r\n",
    );
    c.check_words("SET t 5 EX 100", "+OK\r\n");
    c.check_words("INCR t", ":6\r\n");
    c.check_words("TTL t", ":100\r\n");
    c.check_words("APPEND s hello", ":5\r\n");
    c.check_words("APPEND s world", ":10\r\n");
    c.check_words("GET s", "$10\r\nhelloworld\r\n");
    c.check_words("APPEND t 0", ":2\r\n");
    c.check_words("TTL t", ":100\r\n");
    c.check_words("GETDEL s", "$10\r\nhelloworld\r\n");
    c.check_words("GETDEL s", "$-1\r\n");
    c.check_words("SET g v", "+OK\r\n");
    c.check_words("GETEX g", "$1\r\nv\r\n");
    c.check_words("TTL g", ":-1\r\n");
    c.check_words("GETEX g EX 100", "$1\r\nv\r\n");
    c.check_words("TTL g", ":100\r\n");
    c.check_words("GETEX g PERSIST", "$1\r\nv\r\n");
    c.check_words("TTL g", ":-1\r\n");
    c.check_words(
        "GETEX g EX 0",
        "-ERR invalid expire time in 'getex' command\r\n",
    );
    c.check_words("GETEX g FOO", "-ERR syntax error\r\n");
    c.check_words("GETEX g EX 1 PX 2", "-ERR syntax error\r\n");
    c.check_words("GETEX g PERSIST x", "-ERR syntax error\r\n");
    c.check_words("GETEX nope EX 10", "$-1\r\n");
    c.check_words("GETEX g EXAT 1", "$1\r\nv\r\n");
    c.check_words("EXISTS g", ":0\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e", ":1\r\n");
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    for cmd in ["INCR vs", "APPEND vs x", "GETEX vs EX 10", "GETDEL vs"] {
        c.check_words(cmd, wrongtype);
    }
    c.check_words("VCARD vs", ":1\r\n");
}

#[test]
fn string_and_expire_options_are_read_in_redis_7_order() {
    // Found by a random differential run against Redis 7.0.15; expected bytes are its
    // replies to the same sequence. An option may repeat (last wins), contradicting options
    // are a syntax error before any number is read, GETEX answers nil for a missing key
    // before checking its time, an EXPIRE time that overflows is an error before the key
    // is looked up, and a container's unknown subcommand or wrong count is refused before
    // running (inside MULTI: at queueing, so EXEC aborts).
    let cases: &[(&str, &str)] = &[
        ("FLUSHALL", "+OK\r\n"),
        (
            "SET k1 v EX 0 PXAT 9999999999999 NX",
            "-ERR syntax error\r\n",
        ),
        ("SET n1 3.0 Px ex abc PX abc", "-ERR syntax error\r\n"),
        ("SET a v XX XX PXAT 9999999999999", "$-1\r\n"),
        ("SET k1 v Px 100 Px 100 NX", "+OK\r\n"),
        (
            "SET k1 v PX 0 Px 100 PXAT 9999999999",
            "-ERR syntax error\r\n",
        ),
        (
            "SET k3 hello ex Px 9223372036854775807",
            "-ERR syntax error\r\n",
        ),
        ("SET k1 12 Px -1 BOGUS PX 0", "-ERR syntax error\r\n"),
        ("SET k3 v PXAT 1 PXAT 9999999999999 XX", "$-1\r\n"),
        ("SET k1 v PXAT PERSIST BOGUS", "-ERR syntax error\r\n"),
        (
            "SET k1 v PXAT 1 XX PXAT 0",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k1 v PX 9223372036854775807 PX 100000", "+OK\r\n"),
        ("TTL k1", ":100\r\n"),
        (
            "SET k1 v PX 9223372036854775807",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (
            "SET k1 v EX 9223372036854775",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (
            "SET k1 v EX 9223372036854775807",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k1 v KEEPTTL KEEPTTL", "+OK\r\n"),
        ("SET k1 v KEEPTTL EX 10", "-ERR syntax error\r\n"),
        ("SET k1 v GET GET", "$1\r\nv\r\n"),
        (
            "SETEX k1 9223372036854775 v",
            "-ERR invalid expire time in 'setex' command\r\n",
        ),
        (
            "PSETEX k1 9223372036854775807 v",
            "-ERR invalid expire time in 'psetex' command\r\n",
        ),
        ("GETEX missing EXAT KEEPTTL", "$-1\r\n"),
        ("GETEX missing EXAT abc", "$-1\r\n"),
        ("GETEX missing EX -1 EX -1", "$-1\r\n"),
        ("GETEX k1 EXAT abc EXAT 100", "$1\r\nv\r\n"),
        ("GETEX k1 EX -1 EX -1", "$-1\r\n"),
        ("GETEX k1 EX -1", "$-1\r\n"),
        ("GETEX k1 KEEPTTL", "-ERR syntax error\r\n"),
        ("GETEX k1 GET", "-ERR syntax error\r\n"),
        ("GETEX k1 PERSIST PERSIST", "$-1\r\n"),
        ("GETEX k1 PERSIST EX 10", "-ERR syntax error\r\n"),
        ("GETEX k1 EX 10 PERSIST", "-ERR syntax error\r\n"),
        ("GETEX k1 PX 9223372036854775807", "$-1\r\n"),
        (
            "PEXPIRE k1 9223372036854775807",
            "-ERR invalid expire time in 'pexpire' command\r\n",
        ),
        (
            "PEXPIRE missing 9223372036854775807",
            "-ERR invalid expire time in 'pexpire' command\r\n",
        ),
        (
            "EXPIRE missing 9223372036854775807",
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        (
            "EXPIRE missing 9223372036854775",
            "-ERR invalid expire time in 'expire' command\r\n",
        ),
        ("EXPIREAT missing 9223372036854775", ":0\r\n"),
        ("PEXPIREAT missing 9223372036854775807", ":0\r\n"),
        ("PEXPIRE missing abc FOO", "-ERR Unsupported option FOO\r\n"),
        (
            "PEXPIRE missing abc NX",
            "-ERR value is not an integer or out of range\r\n",
        ),
        ("PEXPIRE k1 100 XX XX", ":0\r\n"),
        (
            "OBJECT FOO k1",
            "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
        ),
        (
            "OBJECT ENCODING",
            "-ERR wrong number of arguments for 'object|encoding' command\r\n",
        ),
        (
            "OBJECT ENCODING k1 k2",
            "-ERR wrong number of arguments for 'object|encoding' command\r\n",
        ),
        (
            "MEMORY FOO",
            "-ERR unknown subcommand 'FOO'. Try MEMORY HELP.\r\n",
        ),
        (
            "MEMORY USAGE",
            "-ERR wrong number of arguments for 'memory|usage' command\r\n",
        ),
        (
            "CONFIG FOO",
            "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n",
        ),
        (
            "CONFIG GET",
            "-ERR wrong number of arguments for 'config|get' command\r\n",
        ),
        (
            "CLIENT FOO",
            "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n",
        ),
        (
            "CLIENT SETNAME",
            "-ERR wrong number of arguments for 'client|setname' command\r\n",
        ),
        (
            "COMMAND FOO",
            "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n",
        ),
        ("MULTI", "+OK\r\n"),
        (
            "OBJECT FOO k1",
            "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
        ),
        (
            "OBJECT ENCODING",
            "-ERR wrong number of arguments for 'object|encoding' command\r\n",
        ),
        (
            "CLIENT SETNAME a b",
            "-ERR wrong number of arguments for 'client|setname' command\r\n",
        ),
        ("MEMORY USAGE k1", "+QUEUED\r\n"),
        (
            "EXEC",
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
        ),
    ];
    let srv = TestServer::start();
    let mut c = srv.connect();
    for (cmd, want) in cases {
        c.check_words(cmd, want);
    }
}

/// The text of a bulk or verbatim reply.
fn text_of(reply: &[u8]) -> String {
    let s = String::from_utf8_lossy(reply).into_owned();
    let body = s.split_once("\r\n").map_or("", |(_, b)| b);
    body.strip_suffix("\r\n").unwrap_or(body).to_string()
}

#[test]
fn client_list_shows_every_connection_and_client_kill_closes_one() {
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.check_words("CLIENT SETNAME worker-a", "+OK\r\n");
    b.check_words("CLIENT SETNAME watcher", "+OK\r\n");
    let a_id = String::from_utf8_lossy(&a.call(&[b"CLIENT", b"ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    let b_id = String::from_utf8_lossy(&b.call(&[b"CLIENT", b"ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    assert_ne!(a_id, b_id);
    // Two workers may accept the connections in either order, so the lines are found by
    // id, not by position (CLIENT LIST lists by ascending id).
    let list = text_of(&b.call(&[b"CLIENT", b"LIST"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let line_of = |id: &str| -> &str {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("id={id} addr=127.0.0.1:")))
            .unwrap_or_else(|| panic!("no line for id {id}: {list}"))
    };
    assert!(line_of(&a_id).contains(" name=worker-a "), "{list}");
    assert!(line_of(&b_id).contains(" name=watcher "), "{list}");
    let ids: Vec<u64> = lines
        .iter()
        .map(|l| l["id=".len()..l.find(' ').unwrap()].parse().unwrap())
        .collect();
    assert!(ids[0] < ids[1], "listed by ascending id: {list}");
    assert!(lines
        .iter()
        .all(|l| l.contains(" laddr=127.0.0.1:") && l.contains(" db=0 ")));
    let only_a = text_of(&b.call(&[b"CLIENT", b"LIST", b"ID", a_id.as_bytes()]));
    assert_eq!(only_a.lines().count(), 1, "{only_a}");
    assert!(only_a.contains(" name=worker-a "));
    b.check_words(
        "CLIENT LIST TYPE normal",
        &format!("${}\r\n{list}\r\n", list.len()),
    );
    b.check_words("CLIENT LIST TYPE pubsub", "$0\r\n\r\n");
    b.check_words(
        "CLIENT LIST TYPE bogus",
        "-ERR Unknown client type 'bogus'\r\n",
    );
    b.check_words("CLIENT LIST ID 0", "-ERR Invalid client ID\r\n");
    b.check_words("CLIENT LIST FOO", "-ERR syntax error\r\n");
    b.check_words(
        "CLIENT KILL ID 0",
        "-ERR client-id should be greater than 0\r\n",
    );
    b.check_words("CLIENT KILL ID 1 FOO", "-ERR syntax error\r\n");
    b.check_words("CLIENT KILL USER nobody", "-ERR No such user 'nobody'\r\n");
    b.check_words("CLIENT KILL 10.0.0.1:1", "-ERR No such client\r\n");
    // SKIPME defaults to yes: killing every normal client spares the caller.
    b.check_words(&format!("CLIENT KILL ID {a_id}"), ":1\r\n");
    assert!(a.is_closed(), "the killed connection closes");
    let after = text_of(&b.call(&[b"CLIENT", b"LIST"]));
    assert_eq!(after.lines().count(), 1, "{after}");
    assert!(after.contains(" name=watcher "));
    b.check_words("CLIENT KILL TYPE normal", ":0\r\n");
    b.check_words("PING", "+PONG\r\n");
    let help = b.call(&[b"CLIENT", b"HELP"]);
    assert!(help.starts_with(b"*"), "{}", show(&help));
    // Killing itself (SKIPME no): answered, then closed.
    b.check_words("CLIENT KILL TYPE normal SKIPME no", ":1\r\n");
    assert!(b.is_closed());
}

#[test]
fn config_resetstat_zeroes_the_info_counters() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words(
        "FOO",
        "-ERR unknown command 'FOO', with args beginning with: \r\n",
    );
    let field = |info: &str, name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} missing in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    let before = text_of(&c.call(&[b"INFO", b"stats"]));
    assert_eq!(field(&before, "keyspace_hits"), 1);
    assert_eq!(field(&before, "keyspace_misses"), 1);
    assert!(field(&before, "total_commands_processed") >= 4);
    c.check_words("CONFIG RESETSTAT", "+OK\r\n");
    let after = text_of(&c.call(&[b"INFO", b"stats"]));
    assert_eq!(field(&after, "keyspace_hits"), 0);
    assert_eq!(field(&after, "keyspace_misses"), 0);
    assert!(field(&after, "total_commands_processed") <= 2, "{after}");
    c.check_words("DBSIZE", ":1\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    let again = text_of(&c.call(&[b"INFO", b"stats"]));
    assert_eq!(field(&again, "keyspace_hits"), 1);
}

/// Redis 8's vector-set behaviours that users rely on (issue #21's silent differences):
/// zero vectors, raw attributes, repeated `!`/`not`, and escapes in FILTER strings.
#[test]
fn zero_vectors_raw_attributes_and_filter_edge_cases_answer_as_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    // A zero vector is accepted; under cosine it scores 0.5 against anything.
    c.check_words("VADD r1 VALUES 2 0 0 c", ":1\r\n");
    c.check_words("VADD r1 VALUES 2 1 0 a", ":1\r\n");
    c.check_words(
        "VSIM r1 VALUES 2 1 0 WITHSCORES",
        "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nc\r\n$3\r\n0.5\r\n",
    );
    c.check_words("VEMB r1 c", "*2\r\n$1\r\n0\r\n$1\r\n0\r\n");
    // Attributes are any string, returned as given; FILTER does not match a non-object.
    for raw in ["invalid json", "[1,2]", "\"str\""] {
        c.check(&cmd(&[b"VSETATTR", b"r1", b"a", raw.as_bytes()]), b":1\r\n");
        let mut want = format!("${}\r\n", raw.len()).into_bytes();
        want.extend(raw.as_bytes());
        want.extend(b"\r\n");
        c.check(&cmd(&[b"VGETATTR", b"r1", b"a"]), &want);
        c.check(
            &cmd(&[b"VSIM", b"r1", b"VALUES", b"2", b"1", b"0", b"FILTER", b"1"]),
            b"*0\r\n",
        );
    }
    // Repeated prefix not.
    c.check(
        &cmd(&[
            b"VADD",
            b"f",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"i1",
            b"SETATTR",
            br#"{"active": true, "n": 5}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"f",
            b"VALUES",
            b"2",
            b"0",
            b"1",
            b"i2",
            b"SETATTR",
            br#"{"active": false, "n": 0}"#,
        ]),
        b":1\r\n",
    );
    let filter = |c: &mut server_support::Conn, expr: &[u8], want: &[u8]| {
        c.check(
            &cmd(&[b"VSIM", b"f", b"VALUES", b"2", b"1", b"0", b"FILTER", expr]),
            want,
        );
    };
    let i1: &[u8] = b"*1\r\n$2\r\ni1\r\n";
    let i2: &[u8] = b"*1\r\n$2\r\ni2\r\n";
    filter(&mut c, b"!!.active", i1);
    filter(&mut c, b"not not .active", i1);
    filter(&mut c, b"!!!.active", i2);
    filter(&mut c, b"!!.n == 1", i1);
    filter(&mut c, b".n > 1 and not not .active", i1);
    filter(&mut c, b".n < 1 and not not .active", b"*0\r\n");
    filter(
        &mut c,
        b"!.active or !!.active",
        b"*2\r\n$2\r\ni1\r\n$2\r\ni2\r\n",
    );
    // Escapes inside FILTER strings, both quote styles.
    c.check(
        &cmd(&[
            b"VADD",
            b"e",
            b"VALUES",
            b"2",
            b"1",
            b"0",
            b"x",
            b"SETATTR",
            br#"{"dq": "a\"b", "sq": "O'Brien", "bs": "x\\y", "nl": "l1\nl2"}"#,
        ]),
        b":1\r\n",
    );
    c.check(
        &cmd(&[
            b"VADD",
            b"e",
            b"VALUES",
            b"2",
            b"0",
            b"1",
            b"y",
            b"SETATTR",
            br#"{"dq": "ab", "sq": "OBrien", "bs": "xy", "nl": "l1l2"}"#,
        ]),
        b":1\r\n",
    );
    for expr in [
        &br#".dq == "a\"b""#[..],
        br".sq == 'O\'Brien'",
        br#".bs == "x\\y""#,
        br#".nl == "l1\nl2""#,
        br#""\"b" in .dq"#,
        br#".dq in ["zzz", "a\"b"]"#,
        br#"'a"b' == .dq"#,
        br#".sq == "O'Brien""#,
    ] {
        c.check(
            &cmd(&[b"VSIM", b"e", b"VALUES", b"2", b"1", b"0", b"FILTER", expr]),
            b"*1\r\n$1\r\nx\r\n",
        );
    }
}
