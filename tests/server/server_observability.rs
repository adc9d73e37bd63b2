//! Observability over RESP: INFO commandstats/latencystats as Redis 7 prints them, SLOWLOG,
//! and CONFIG SET of what can change while serving, with CONFIG GET and INFO reflecting it.

use crate::server_support;

use server_support::{cmd, TestServer};

fn text(reply: Vec<u8>) -> String {
    String::from_utf8(reply).expect("utf-8")
}

/// The value of `field` on INFO line `prefix...:` (e.g. `cmdstat_get` → `calls=2,...`).
fn info_line(info: &str, name: &str) -> Option<String> {
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")).map(str::to_string))
}

fn field(line: &str, key: &str) -> String {
    line.split(',')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        .to_string()
}

#[test]
fn commandstats_count_calls_failures_and_rejections_per_command_and_subcommand() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words("INCR k", "-ERR value is not an integer or out of range\r\n");
    c.check_words(
        "GET a b",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.call(&[b"CONFIG", b"GET", b"maxmemory"]);
    let info = text(c.call(&[b"INFO", b"commandstats"]));
    assert!(info.starts_with("$"), "a bulk reply in RESP2");
    assert!(info.contains("# Commandstats\r\n"), "{info}");
    let get = info_line(&info, "cmdstat_get").expect("get counted");
    assert_eq!(field(&get, "calls"), "2");
    assert_eq!(field(&get, "rejected_calls"), "1");
    assert_eq!(field(&get, "failed_calls"), "0");
    let usec: u64 = field(&get, "usec").parse().unwrap();
    let per_call: f64 = field(&get, "usec_per_call").parse().unwrap();
    assert!(
        per_call >= 0.0 && usec as f64 <= per_call * 2.0 + 1.0,
        "{get}"
    );
    assert_eq!(
        field(&get, "usec_per_call")
            .split('.')
            .nth(1)
            .unwrap()
            .len(),
        2
    );
    let incr = info_line(&info, "cmdstat_incr").expect("incr counted");
    assert_eq!(
        (field(&incr, "calls"), field(&incr, "failed_calls")),
        ("1".into(), "1".into())
    );
    let cfg = info_line(&info, "cmdstat_config|get").expect("subcommand counted");
    assert_eq!(field(&cfg, "calls"), "1");
    assert!(
        info_line(&info, "cmdstat_del").is_none(),
        "never called: not listed"
    );

    let lat = text(c.call(&[b"INFO", b"latencystats"]));
    assert!(lat.contains("# Latencystats\r\n"), "{lat}");
    let line = info_line(&lat, "latency_percentiles_usec_get").expect("get's percentiles");
    let keys: Vec<&str> = line
        .split(',')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["p50", "p99", "p99.9"]);
    for kv in line.split(',') {
        let v = kv.split('=').nth(1).unwrap();
        assert_eq!(v.split('.').nth(1).map(str::len), Some(3), "{line}");
        assert!(v.parse::<f64>().unwrap() > 0.0);
    }

    // INFO with no argument (Redis's default) leaves both out; `all` has them.
    let default = text(c.call(&[b"INFO"]));
    assert!(!default.contains("# Commandstats") && !default.contains("# Latencystats"));
    assert!(default.contains("# Server"));
    let all = text(c.call(&[b"INFO", b"all"]));
    assert!(all.contains("# Commandstats") && all.contains("# Latencystats"));

    c.check_words("CONFIG RESETSTAT", "+OK\r\n");
    let info = text(c.call(&[b"INFO", b"commandstats", b"latencystats"]));
    assert!(info_line(&info, "cmdstat_get").is_none(), "{info}");
    assert!(info_line(&info, "latency_percentiles_usec_get").is_none());
}

#[test]
fn latency_tracking_and_its_percentiles_are_set_as_in_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check(
        &cmd(&[
            b"CONFIG",
            b"SET",
            b"latency-tracking-info-percentiles",
            b"50 99.99 100",
        ]),
        b"+OK\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"latency-tracking-info-percentiles"]),
        b"*2\r\n$33\r\nlatency-tracking-info-percentiles\r\n$12\r\n50 99.99 100\r\n",
    );
    c.check_words("PING", "+PONG\r\n");
    let lat = text(c.call(&[b"INFO", b"latencystats"]));
    let line = info_line(&lat, "latency_percentiles_usec_ping").expect("ping");
    let keys: Vec<&str> = line
        .split(',')
        .map(|kv| kv.split('=').next().unwrap())
        .collect();
    assert_eq!(keys, ["p50", "p99.99", "p100"]);
    c.check(
        &cmd(&[b"CONFIG", b"SET", b"latency-tracking-info-percentiles", b"50 101"]),
        b"-ERR CONFIG SET failed (possibly related to argument 'latency-tracking-info-percentiles') - latency-tracking-info-percentiles arguments must be numbers between 0 and 100, separated by spaces\r\n",
    );
    // Without tracking, calls are still counted but no histogram is made.
    c.check_words("CONFIG SET latency-tracking no", "+OK\r\n");
    c.check_words("ECHO x", "$1\r\nx\r\n");
    let info = text(c.call(&[b"INFO", b"commandstats", b"latencystats"]));
    assert!(info_line(&info, "cmdstat_echo").is_some());
    assert!(
        info_line(&info, "latency_percentiles_usec_echo").is_none(),
        "{info}"
    );
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"latency-tracking"]),
        b"*2\r\n$16\r\nlatency-tracking\r\n$2\r\nno\r\n",
    );
}

#[test]
fn slowlog_records_every_command_at_threshold_zero_in_redis_shape() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SLOWLOG LEN", ":0\r\n");
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"slowlog-*"]),
        b"*4\r\n$23\r\nslowlog-log-slower-than\r\n$5\r\n10000\r\n$15\r\nslowlog-max-len\r\n$3\r\n128\r\n",
    );
    c.check_words("CONFIG SET slowlog-log-slower-than 0", "+OK\r\n");
    c.check_words("CLIENT SETNAME watcher", "+OK\r\n");
    let mut long = vec![b"DEL".to_vec()];
    long.extend((0..40).map(|i| format!("k{i}").into_bytes()));
    let long_refs: Vec<&[u8]> = long.iter().map(Vec::as_slice).collect();
    c.check(&cmd(&long_refs), b":0\r\n");
    let big = vec![b'x'; 200];
    c.check(&cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    c.check(&cmd(&[b"AUTH", b"secret"]), b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");

    // Newest first: AUTH (redacted), SET (value cut), DEL (arguments cut), ...
    let got = c.call(&[b"SLOWLOG", b"GET", b"3"]);
    let got = text(got);
    let addr = c.local_addr().to_string();
    let parts: Vec<&str> = got.split("\r\n").collect();
    assert_eq!(parts[0], "*3", "{got}");
    // Entry 1: AUTH.
    assert_eq!(parts[1], "*6");
    assert!(parts[2].starts_with(':'), "id");
    let ts: u64 = parts[3][1..].parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(ts <= now && ts + 600 > now, "a Unix time: {ts}");
    assert!(parts[4].starts_with(':'), "µs");
    assert_eq!(&parts[5..10], ["*2", "$4", "AUTH", "$10", "(redacted)"]);
    assert_eq!(parts[10], format!("${}", addr.len()));
    assert_eq!(parts[11], addr);
    assert_eq!(&parts[12..14], ["$7", "watcher"]);
    // Entry 2: SET with its value cut to 128 bytes and the rest counted.
    let cut = format!("{}... (72 more bytes)", "x".repeat(128));
    assert!(
        got.contains(&format!("${}\r\n{cut}\r\n", cut.len())),
        "{got}"
    );
    // Entry 3: DEL with 41 arguments: 31 kept, then how many more.
    assert!(got.contains("*32\r\n$3\r\nDEL\r\n$2\r\nk0\r\n"), "{got}");
    assert!(
        got.contains("$3\r\nk29\r\n$23\r\n... (10 more arguments)\r\n"),
        "{got}"
    );

    let len: i64 = text(c.call(&[b"SLOWLOG", b"LEN"]))[1..]
        .trim()
        .parse()
        .unwrap();
    assert!(len >= 5, "{len}");
    let all = text(c.call(&[b"SLOWLOG", b"GET", b"-1"]));
    assert!(
        all.starts_with(&format!("*{}\r\n", len + 1)),
        "GET itself ran before: {all}"
    );
    c.check_words(
        "SLOWLOG GET -2",
        "-ERR count should be greater than or equal to -1\r\n",
    );
    c.check_words(
        "SLOWLOG GET x",
        "-ERR count should be greater than or equal to -1\r\n",
    );
    c.check_words(
        "SLOWLOG NOPE",
        "-ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP.\r\n",
    );
    c.check_words("CONFIG SET slowlog-max-len 2", "+OK\r\n");
    c.check_words("SLOWLOG LEN", ":2\r\n");
    c.check_words("SLOWLOG RESET", "+OK\r\n");
    // RESET itself is logged after it empties the log.
    c.check_words("SLOWLOG LEN", ":1\r\n");
    c.check_words("CONFIG SET slowlog-log-slower-than -1", "+OK\r\n");
    c.check_words("SLOWLOG RESET", "+OK\r\n");
    c.check_words("PING", "+PONG\r\n");
    c.check_words("SLOWLOG LEN", ":0\r\n");
    let help = text(c.call(&[b"SLOWLOG", b"HELP"]));
    assert!(help.contains("GET [<count>]"), "{help}");
}

#[test]
fn config_set_changes_the_caps_policy_clients_and_ttl_live() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words(
        "CONFIG SET maxmemory 2mb maxmemory-policy allkeys-lfu",
        "+OK\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"maxmemory*"]),
        b"*4\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n",
    );
    assert_eq!(srv.engine.max_bytes(), 2 << 20);
    assert_eq!(
        srv.engine.eviction_policy(),
        sutra_cache::EvictionPolicy::Lfu
    );
    let mem = text(c.call(&[b"INFO", b"memory"]));
    for line in [
        "maxmemory:2097152\r\n",
        "maxmemory_source:config\r\n",
        "maxmemory_policy:lfu\r\n",
    ] {
        assert!(mem.contains(line), "{line} in {mem}");
    }
    // A lower cap under noeviction refuses writes past it.
    c.check_words("CONFIG SET maxmemory-policy noeviction", "+OK\r\n");
    let value = vec![b'v'; 4096];
    c.check(&cmd(&[b"SET", b"a", &value]), b"+OK\r\n");
    c.check_words("CONFIG SET maxmemory 1kb", "+OK\r\n");
    let refused = text(c.call(&[b"SET", b"b", &value]));
    assert!(refused.starts_with("-OOM"), "{refused}");
    // Back to LRU with the low cap: the write evicts instead.
    c.check_words("CONFIG SET maxmemory-policy allkeys-lru", "+OK\r\n");
    c.check(&cmd(&[b"SET", b"b", &value]), b"+OK\r\n");
    c.check_words("EXISTS a", ":0\r\n");
    c.check_words("CONFIG SET maxmemory 0", "+OK\r\n");

    // The default TTL applies to later writes.
    c.check_words("CONFIG SET default-ttl-seconds 100", "+OK\r\n");
    c.check_words("SET t v", "+OK\r\n");
    c.check_words("TTL t", ":100\r\n");
    c.check_words("CONFIG SET default-ttl-seconds 0", "+OK\r\n");
    c.check_words("SET u v", "+OK\r\n");
    c.check_words("TTL u", ":-1\r\n");

    // maxclients: with 1, a second client is refused as Redis refuses it.
    c.check_words("CONFIG SET maxclients 1", "+OK\r\n");
    let mut d = srv.connect();
    let full = b"-ERR max number of clients reached\r\n";
    assert_eq!(d.read_n(full.len()), full.to_vec());
    c.check_words("CONFIG SET maxclients 10", "+OK\r\n");
    let mut e = srv.connect();
    e.check_words("PING", "+PONG\r\n");
    let clients = text(c.call(&[b"INFO", b"clients"]));
    assert!(clients.contains("maxclients:10\r\n"), "{clients}");

    c.check_words("CONFIG SET loglevel warning", "+OK\r\n");
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"log*"]),
        b"*6\r\n$8\r\nloglevel\r\n$7\r\nwarning\r\n$3\r\nlog\r\n$4\r\nwarn\r\n$10\r\nlog-format\r\n$4\r\ntext\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"SET", b"log", b"sutra_cache=debug,info"]),
        b"+OK\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"log"]),
        b"*2\r\n$3\r\nlog\r\n$22\r\nsutra_cache=debug,info\r\n",
    );
    c.check_words("CONFIG SET max-concepts 5", "+OK\r\n");
    assert_eq!(srv.engine.max_entries(), 5);
}

#[test]
fn config_set_refuses_as_redis_does_and_applies_nothing_of_a_refused_call() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words(
        "CONFIG SET nosuch 1",
        "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuch'\r\n",
    );
    c.check_words(
        "CONFIG SET port 7000",
        "-ERR CONFIG SET failed (possibly related to argument 'port') - can't set immutable config\r\n",
    );
    c.check_words(
        "CONFIG SET vectorset-hnsw-max-threads 4",
        "-ERR CONFIG SET failed (possibly related to argument 'vectorset-hnsw-max-threads') - can't set immutable config\r\n",
    );
    c.check_words(
        "CONFIG SET maxmemory lots",
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n",
    );
    c.check_words(
        "CONFIG SET maxmemory-policy volatile-lru",
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - argument(s) must be one of the following: allkeys-lru, allkeys-lfu, noeviction\r\n",
    );
    c.check_words(
        "CONFIG SET maxclients 0",
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - argument must be between 1 and 9223372036854775807 inclusive\r\n",
    );
    c.check_words(
        "CONFIG SET slowlog-max-len x",
        "-ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - argument couldn't be parsed into an integer\r\n",
    );
    c.check_words(
        "CONFIG SET latency-tracking maybe",
        "-ERR CONFIG SET failed (possibly related to argument 'latency-tracking') - argument must be 'yes' or 'no'\r\n",
    );
    c.check_words(
        "CONFIG SET loglevel loud",
        "-ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning, nothing\r\n",
    );
    c.check_words(
        "CONFIG SET maxclients 5 maxclients 6",
        "-ERR CONFIG SET failed (possibly related to argument 'maxclients') - duplicate parameter\r\n",
    );
    c.check_words(
        "CONFIG SET maxclients 5 slowlog-max-len",
        "-ERR wrong number of arguments for 'config|set' command\r\n",
    );
    // A good pair before a bad one is not applied either.
    c.check_words(
        "CONFIG SET maxclients 5 maxmemory lots",
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value\r\n",
    );
    c.check(
        &cmd(&[b"CONFIG", b"GET", b"maxclients"]),
        b"*2\r\n$10\r\nmaxclients\r\n$5\r\n10000\r\n",
    );
    let info = text(c.call(&[b"INFO", b"commandstats"]));
    let set = info_line(&info, "cmdstat_config|set").expect("counted");
    assert_eq!(field(&set, "failed_calls"), "12", "{set}");
    assert_eq!(field(&set, "rejected_calls"), "0", "{set}");
}

#[test]
fn errorstats_count_error_replies_by_prefix_and_resetstat_clears_them() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words(
        "HGET k f",
        "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    );
    c.check_words(
        "GET a b",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    let unknown = text(c.call(&[b"NOSUCHCOMMAND"]));
    assert!(unknown.starts_with("-ERR unknown command"), "{unknown}");
    c.check_words("MULTI", "+OK\r\n");
    c.check_words("INCR k", "+QUEUED\r\n");
    c.check_words(
        "EXEC",
        "*1\r\n-ERR value is not an integer or out of range\r\n",
    );

    let info = text(c.call(&[b"INFO", b"errorstats"]));
    assert!(info.contains("# Errorstats\r\n"), "{info}");
    assert_eq!(
        info_line(&info, "errorstat_ERR").as_deref(),
        Some("count=3")
    );
    assert_eq!(
        info_line(&info, "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
    let stats = text(c.call(&[b"INFO", b"stats"]));
    assert_eq!(
        info_line(&stats, "total_error_replies").as_deref(),
        Some("4")
    );
    // In plain INFO too (Redis 7's default sections include it), between commandstats's
    // place and the cluster section.
    let all = text(c.call(&[b"INFO"]));
    assert!(
        all.contains("# Errorstats\r\nerrorstat_ERR:count=3\r\n"),
        "{all}"
    );
    assert!(!all.contains("# Commandstats"), "{all}");

    c.check_words("CONFIG RESETSTAT", "+OK\r\n");
    let info = text(c.call(&[b"INFO", b"errorstats"]));
    assert!(info_line(&info, "errorstat_ERR").is_none(), "{info}");
    let stats = text(c.call(&[b"INFO", b"stats"]));
    assert_eq!(
        info_line(&stats, "total_error_replies").as_deref(),
        Some("0")
    );

    // A protocol error is an error reply too (the connection then closes).
    let mut bad = srv.connect();
    bad.send(b"*1\r\n$x\r\n");
    let reply = text(bad.read_reply());
    assert!(reply.starts_with("-ERR Protocol error"), "{reply}");
    let info = text(c.call(&[b"INFO", b"errorstats"]));
    assert_eq!(
        info_line(&info, "errorstat_ERR").as_deref(),
        Some("count=1")
    );
}

#[test]
fn config_set_timeout_closes_idle_clients_including_those_already_waiting() {
    let srv = TestServer::start();
    let mut admin = srv.connect();
    let mut idle = srv.connect();
    idle.check_words("PING", "+PONG\r\n");
    admin.check_words("CONFIG GET timeout", "*2\r\n$7\r\ntimeout\r\n$1\r\n0\r\n");
    admin.check_words(
        "CONFIG SET timeout 2147483648",
        "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be \
         between 0 and 2147483647 inclusive\r\n",
    );
    admin.check_words(
        "CONFIG SET timeout -1",
        "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument must be \
         between 0 and 9223372036854775807 inclusive\r\n",
    );
    admin.check_words("CONFIG SET timeout 1", "+OK\r\n");
    admin.check_words("CONFIG GET timeout", "*2\r\n$7\r\ntimeout\r\n$1\r\n1\r\n");
    // `idle` was already waiting for its next request with no limit: it is closed once it
    // has been idle for a second (polled with a generous deadline, no timing asserted).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !idle.is_closed() {
        assert!(
            std::time::Instant::now() < deadline,
            "an idle client outlived the timeout"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // `admin` has been idle as long: a new connection turns the limit off.
    let mut admin = srv.connect();
    admin.check_words("CONFIG SET timeout 0", "+OK\r\n");
    let mut fresh = srv.connect();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    fresh.check_words("PING", "+PONG\r\n");
}
