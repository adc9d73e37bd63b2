//! Byte-level tests of the connection and introspection commands (HELLO, CLIENT, QUIT,
//! COMMAND, CONFIG, INFO, OBJECT, MEMORY) over TCP on port 0: raw RESP in, exact bytes out.

use crate::server_support;

use server_support::{cmd, show, TestServer};

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
