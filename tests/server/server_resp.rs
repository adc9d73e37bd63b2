//! Byte-level tests of every command over TCP on port 0: raw RESP in, exact bytes out,
//! in RESP2 and RESP3.

use crate::server_support;

use server_support::{cmd, f32le, words, TestServer};

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
