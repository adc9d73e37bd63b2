//! HTTP on the RESP port, AUTH, client limits, graceful shutdown, and the deployment
//! files' configuration.

use crate::server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use server_support::{show, words, TestServer};
use sutra_cache::server::ServerConfig;

fn http(srv: &TestServer, request: impl AsRef<[u8]>) -> (String, String) {
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_ref()).unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8(all).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

fn get(srv: &TestServer, path: &str, auth: Option<&str>) -> (String, String) {
    let auth = auth
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    http(srv, format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n"))
}

#[test]
fn health_answers_json_with_status_version_uptime_and_wal_mode() {
    let srv = TestServer::start();
    let (head, body) = get(&srv, "/health", None);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ok");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["uptime_seconds"].is_u64());
    assert_eq!(v["wal_mode"], "interval");
    let (head, _) = http(&srv, "GET /health HTTP/1.0\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let (head, body) = http(&srv, "HEAD /health HTTP/1.1\r\n\r\n");
    assert!(
        head.starts_with("HTTP/1.1 200 OK") && body.is_empty(),
        "{head}"
    );
}

#[test]
fn stats_carry_the_seed_keys_and_per_set_counters() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("GET nope", "$-1\r\n");
    c.check_words("VADD model:a VALUES 2 1 0 x", ":1\r\n");
    c.check_words("VGETF32 model:a y", "$-1\r\n");
    let (head, body) = get(&srv, "/stats", None);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hits"], 1);
    assert_eq!(v["misses"], 2);
    assert_eq!(v["total_requests"], 3);
    assert!((v["hit_rate"].as_f64().unwrap() - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(v["backend"], "sutra-cache");
    assert_eq!(v["shard"], "0");
    assert_eq!(v["sets"]["model:a"]["misses"], 1);
    assert_eq!(v["sets"]["model:a"]["entries"], 1);
}

#[test]
fn metrics_are_prometheus_text() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
    c.check_words("VADD emb VALUES 2 1 0 x", ":1\r\n");
    let (head, body) = get(&srv, "/metrics", None);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(head.contains("openmetrics-text"), "{head}");
    assert!(body.contains("# TYPE sutra_cache_hits counter\n"), "{body}");
    assert!(body.contains("sutra_cache_hits_total 1\n"), "{body}");
    assert!(
        body.contains("sutra_cache_set_entries{set=\"emb\"} 1\n"),
        "{body}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

/// The value of the exposition line that starts with `series ` (labels included).
fn sample(body: &str, series: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in\n{body}"))
        .parse()
        .unwrap()
}

/// The cumulative bucket counts of one histogram series (`name{labels` without the closing
/// brace), in order, checked to end with `+Inf` equal to its `_count`.
fn buckets(body: &str, name: &str, labels: &str) -> Vec<(String, f64)> {
    let prefix = format!("{name}_bucket{{");
    let rows: Vec<(String, f64)> = body
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (inside, value) = rest.split_once("} ")?;
            let mut le = None;
            let mut others = Vec::new();
            for kv in inside.split(',') {
                match kv.strip_prefix("le=") {
                    Some(v) => le = Some(v.trim_matches('"').to_string()),
                    None => others.push(kv),
                }
            }
            (others.join(",") == labels).then(|| (le.unwrap(), value.parse().unwrap()))
        })
        .collect();
    assert_eq!(rows.len(), 23, "{prefix}: 22 bounds and +Inf\n{body}");
    assert_eq!(rows[0].0, "0.000001", "{rows:?}");
    assert_eq!(rows[22].0, "+Inf", "{rows:?}");
    assert!(
        rows.windows(2).all(|w| w[0].1 <= w[1].1),
        "cumulative: {rows:?}"
    );
    let count = if labels.is_empty() {
        sample(body, &format!("{name}_count"))
    } else {
        sample(body, &format!("{name}_count{{{labels}}}"))
    };
    assert_eq!(rows[22].1, count, "{rows:?}");
    rows
}

#[test]
fn metrics_have_latency_histograms_for_commands_search_fsync_and_snapshot_and_build_info() {
    let dir = tempfile::tempdir().unwrap();
    let config = ServerConfig::try_parse_from([
        "x",
        "--in-memory",
        "false",
        "--storage-path",
        dir.path().to_str().unwrap(),
        "--wal-sync",
        "always",
    ])
    .unwrap();
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    for _ in 0..7 {
        c.check_words("GET k", "$1\r\nv\r\n");
    }
    c.check_words("VADD emb VALUES 2 1 0 a", ":1\r\n");
    c.check_words("VADD emb VALUES 2 0 1 b", ":1\r\n");
    for _ in 0..3 {
        let r = c.call(&[b"VSIM", b"emb", b"VALUES", b"2", b"1", b"0", b"COUNT", b"1"]);
        assert_eq!(show(&r), show(b"*1\r\n$1\r\na\r\n"));
    }
    c.check_words("SAVE", "+OK\r\n");
    let (head, body) = get(&srv, "/metrics", None);
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");

    // Commands: one series per command run, its count the calls (latency tracking is on).
    let cmd = "sutra_cache_command_duration_seconds";
    assert!(
        body.contains(&format!("# TYPE {cmd} histogram\n")),
        "{body}"
    );
    assert!(body.contains(&format!("# UNIT {cmd} seconds\n")), "{body}");
    let get_rows = buckets(&body, cmd, "command=\"get\"");
    assert_eq!(get_rows[22].1, 7.0);
    assert!(sample(&body, &format!("{cmd}_sum{{command=\"get\"}}")) > 0.0);
    assert_eq!(buckets(&body, cmd, "command=\"vsim\"")[22].1, 3.0);
    assert_eq!(buckets(&body, cmd, "command=\"set\"")[22].1, 1.0);
    assert!(!body.contains("command=\"hset\""), "only commands that ran");

    // Searches: the three VSIMs, one query each; no batch yet (an empty histogram).
    let search = "sutra_cache_search_duration_seconds";
    assert!(
        body.contains(&format!("# TYPE {search} histogram\n")),
        "{body}"
    );
    assert_eq!(buckets(&body, search, "kind=\"query\"")[22].1, 3.0);
    assert_eq!(buckets(&body, search, "kind=\"batch\"")[22].1, 0.0);

    // fdatasyncs: under `always`, at least one per acknowledged write; the SAVE's snapshot.
    let fsync = buckets(&body, "sutra_cache_wal_fsync_duration_seconds", "");
    assert!(fsync[22].1 >= 1.0, "{fsync:?}");
    let snap = buckets(&body, "sutra_cache_snapshot_duration_seconds", "");
    assert_eq!(snap[22].1, 1.0);
    assert!(sample(&body, "sutra_cache_snapshot_duration_seconds_sum") > 0.0);

    // What the server is.
    let info = body
        .lines()
        .find(|l| l.starts_with("sutra_cache_build_info{"))
        .unwrap_or_else(|| panic!("{body}"));
    for label in [
        format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        "profile=\"debug\"".to_string(),
        format!("target=\"{}-linux\"", std::env::consts::ARCH),
        "rustc=\"1.".to_string(),
        "simd_isa=\"".to_string(),
    ] {
        assert!(info.contains(&label), "{label} in {info}");
    }
    assert!(info.ends_with("} 1"), "{info}");
    assert_eq!(
        info.contains("commit=\""),
        option_env!("SUTRA_CACHE_COMMIT").is_some(),
        "{info}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    // The per-set label bound: tests/server/analytics_query.rs
    // (metrics_carry_build_info_and_label_at_most_100_sets_by_name).
}

#[test]
fn unknown_paths_get_404_and_nothing_crashes() {
    let srv = TestServer::start();
    let (head, _) = get(&srv, "/", None);
    assert!(head.starts_with("HTTP/1.1 404 Not Found"), "{head}");
    let (head, _) = get(&srv, "/health/../etc/passwd", None);
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, _) = http(&srv, b"GET /health HTTP/1.1\r\n\xff\xfe\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    srv.connect().check_words("PING", "+PONG\r\n");
}

#[test]
fn a_password_requires_auth_for_commands_and_a_bearer_token_for_stats() {
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    c.check_words("PING", "-NOAUTH Authentication required.\r\n");
    c.check_words("SET k v", "-NOAUTH Authentication required.\r\n");
    // Redis 7.0.15's order: the argument count and a container's subcommand come first.
    c.check_words(
        "GET",
        "-ERR wrong number of arguments for 'get' command\r\n",
    );
    c.check_words(
        "OBJECT FOO k",
        "-ERR unknown subcommand 'FOO'. Try OBJECT HELP.\r\n",
    );
    c.check_words("OBJECT ENCODING k", "-NOAUTH Authentication required.\r\n");
    c.check_words(
        "AUTH wrong",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    c.check_words(
        "AUTH bob s3cret",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );
    c.check_words("HELLO 3", "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n");
    c.check_words("AUTH s3cret", "+OK\r\n");
    c.check_words("PING", "+PONG\r\n");
    let mut d = srv.connect();
    d.check_words("AUTH default s3cret", "+OK\r\n");
    d.check_words("SET k v", "+OK\r\n");
    let mut e = srv.connect();
    let hello = e.call(&[
        b"HELLO", b"3", b"AUTH", b"default", b"s3cret", b"SETNAME", b"w",
    ]);
    assert!(hello.starts_with(b"%7\r\n"), "{}", show(&hello));
    e.check_words("CLIENT GETNAME", "$1\r\nw\r\n");
    e.check_words("GET k", "$1\r\nv\r\n");
    let mut f = srv.connect();
    f.check_words(
        "HELLO 3 AUTH default nope",
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
    );

    let (head, _) = get(&srv, "/health", None);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    for path in ["/stats", "/metrics"] {
        let (head, _) = get(&srv, path, None);
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
        assert!(head.contains("WWW-Authenticate: Bearer"), "{head}");
        let (head, _) = get(&srv, path, Some("nope"));
        assert!(head.starts_with("HTTP/1.1 401"), "{path}: {head}");
        let (head, _) = get(&srv, path, Some("s3cret"));
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
    }
}

#[test]
fn auth_without_a_configured_password_is_an_error_as_in_redis() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("AUTH x", "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n");
    let hello = c.call(&[b"HELLO", b"2", b"AUTH", b"default", b"anything"]);
    assert!(hello.starts_with(b"*14\r\n"), "{}", show(&hello));
}

#[test]
fn the_client_over_maxclients_gets_an_error_and_is_closed() {
    let config = ServerConfig {
        maxclients: 2,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut a = srv.connect();
    let mut b = srv.connect();
    a.check_words("PING", "+PONG\r\n");
    b.check_words("PING", "+PONG\r\n");
    let mut c = srv.connect();
    assert_eq!(
        show(&c.read_n(37)),
        show(b"-ERR max number of clients reached\r\n")
    );
    assert!(c.is_closed());
    drop(a);
    // The slot frees once the server notices the close.
    let mut ok = false;
    for _ in 0..50 {
        let mut d = srv.connect();
        d.send(&words("PING"));
        if d.read_reply() == b"+PONG\r\n" {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(ok, "a slot became free after a client left");
    b.check_words("PING", "+PONG\r\n");
}

#[test]
fn shutdown_answers_requests_already_read_then_stops_accepting() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    let addr = srv.addr;
    let engine = srv.engine.clone();
    srv.stop().expect("run returns Ok");
    assert!(c.is_closed(), "clients are closed at shutdown");
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
    assert_eq!(engine.get(b"k").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn the_shutdown_command_stops_the_server_gracefully() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("SHUTDOWN FORCE", "-ERR syntax error\r\n");
    c.send(&words("SHUTDOWN NOSAVE"));
    assert!(
        c.is_closed(),
        "SHUTDOWN closes without a reply, as in Redis"
    );
    let addr = srv.addr;
    srv.stop().expect("run returns Ok");
    assert!(TcpStream::connect(addr).is_err());
}
