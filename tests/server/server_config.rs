//! The seed's configuration over RESP: VECTOR_DIMENSION, VECTOR_STORAGE, the cache role.

use crate::server_support;

use server_support::{cmd, f32le, TestServer};
use sutra_cache::server::ServerConfig;

fn config(args: &[&str]) -> ServerConfig {
    let mut v = vec!["sutra-cache", "--in-memory", "true"];
    v.extend_from_slice(args);
    ServerConfig::try_parse_from(v).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn vector_dimension_refuses_vadd_and_vaddm_of_another_dimension_naming_both() {
    let srv = TestServer::with_config(config(&["--vector-dimension", "4"]));
    let mut c = srv.connect();
    let err = "-ERR Vector dimension mismatch - got 3 but this server's vector dimension \
               (VECTOR_DIMENSION) is 4\r\n";
    // Creating a set with another dimension: refused, nothing created.
    c.check_words("VADD s VALUES 3 1 0 0 a", err);
    c.check_words("EXISTS s", ":0\r\n");
    let three = f32le(&[1.0, 0.0, 0.0]);
    c.check(
        &cmd(&[b"VADD", b"s", b"FP32", &three, b"a"]),
        err.as_bytes(),
    );
    c.check(
        &cmd(&[b"VADDM", b"s", b"FP32", b"a", &three]),
        err.as_bytes(),
    );
    // The configured dimension works; a later add of another one is refused whole.
    c.check_words("VADD s VALUES 4 1 0 0 0 a", ":1\r\n");
    let four = f32le(&[0.0, 1.0, 0.0, 0.0]);
    c.check(
        &cmd(&[b"VADDM", b"s", b"FP32", b"b", &four, b"c", &three]),
        err.as_bytes(),
    );
    c.check_words("VCARD s", ":1\r\n");
    c.check_words("VDIM s", ":4\r\n");
    let info = String::from_utf8(c.call(&[b"INFO", b"server"])).unwrap();
    assert!(info.contains("vector_dimension:4\r\n"), "{info}");
}

#[test]
fn vadd_without_a_flag_creates_sets_in_the_configured_vector_storage() {
    let srv = TestServer::with_config(config(&["--vector-storage", "noquant"]));
    let mut c = srv.connect();
    c.check_words("VADD s VALUES 2 1 0 a", ":1\r\n");
    c.check_words("OBJECT ENCODING s", "$3\r\nf32\r\n");
    // A later add without a flag agrees with the set; Q8 does not, as in Redis.
    c.check_words("VADD s VALUES 2 0 1 b", ":1\r\n");
    c.check_words(
        "VADD s VALUES 2 1 1 c Q8",
        "-ERR asked quantization mismatch with existing vector set\r\n",
    );
    assert_eq!(
        srv.engine.default_storage_mode(),
        sutra_cache::StorageMode::NoQuant
    );
    let cfg = c.call(&[b"CONFIG", b"GET", b"vector-storage"]);
    assert_eq!(cfg, b"*2\r\n$14\r\nvector-storage\r\n$7\r\nnoquant\r\n");
}

#[test]
fn the_cache_shard_role_applies_a_day_of_ttl_and_reports_itself() {
    let srv = TestServer::with_config(config(&["--role", "cache_shard"]));
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("TTL k", ":86400\r\n");
    c.check_words("VADD s VALUES 2 1 0 a", ":1\r\n");
    c.check_words("VTTL s a", ":86400\r\n");
    c.check_words("SET p v EX 5", "+OK\r\n");
    c.check_words("TTL p", ":5\r\n");
    let info = String::from_utf8(c.call(&[b"INFO", b"server"])).unwrap();
    for line in [
        "role:cache_shard\r\n",
        "cache_mode:1\r\n",
        "default_ttl_seconds:86400\r\n",
        "protected_mode:yes\r\n",
    ] {
        assert!(info.contains(line), "{line} missing: {info}");
    }
    let cfg = c.call(&[b"CONFIG", b"GET", b"cache-mode"]);
    assert_eq!(cfg, b"*2\r\n$10\r\ncache-mode\r\n$3\r\nyes\r\n");
}

#[test]
fn the_storage_role_keeps_entries_without_ttl_by_default() {
    let srv = TestServer::with_config(config(&[]));
    let mut c = srv.connect();
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("TTL k", ":-1\r\n");
    let info = String::from_utf8(c.call(&[b"INFO", b"server"])).unwrap();
    assert!(info.contains("cache_mode:0\r\n"), "{info}");
    assert!(info.contains("default_ttl_seconds:0\r\n"), "{info}");
}

/// Runs `sutra-cache` with only `env` and `args`; its exit code and stderr.
fn run_binary(env: &[(&str, &str)], args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .env_clear()
        .envs(env.iter().copied())
        .args(args)
        .output()
        .expect("the binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_binary_refuses_an_old_style_cache_mode_and_mmap_disabled_saying_what_to_do() {
    let serve = ["serve", "--in-memory", "true", "--port", "0"];
    let (code, err) = run_binary(&[("CACHE_MODE", "q8")], &serve);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("set VECTOR_STORAGE=q8 instead"), "{err}");
    let (code, err) = run_binary(&[("MMAP_ENABLED", "false")], &serve);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("MMAP_ENABLED=false is not supported"), "{err}");
}

#[test]
fn the_health_check_exits_1_on_bad_arguments_or_no_server_and_0_on_a_healthy_one() {
    let (code, _) = run_binary(&[], &["health", "--port", "notaport"]);
    assert_eq!(
        code,
        Some(1),
        "Docker reserves exit codes other than 0 and 1"
    );
    let (code, _) = run_binary(&[("STORAGE_PORT", "x")], &["health"]);
    assert_eq!(code, Some(1));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port().to_string();
    drop(closed);
    let (code, _) = run_binary(&[], &["health", "--port", &port, "--timeout", "2"]);
    assert_eq!(code, Some(1));
    let srv = TestServer::with_config(config(&["--role", "cache_shard"]));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .env_clear()
        .args(["health", "--port", &srv.addr.port().to_string()])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{line}");
    assert!(
        line.starts_with("healthy: ok") && line.contains("role cache_shard"),
        "{line}"
    );
}

/// INFO memory's `analytics_lookup_log_bytes` / `_max_bytes`.
fn lookup_log_bytes(c: &mut server_support::Conn) -> (u64, u64) {
    let info = String::from_utf8(c.call(&[b"INFO", b"memory"])).unwrap();
    let get = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name} in {info}"))
            .trim()
            .parse()
            .unwrap()
    };
    (
        get("analytics_lookup_log_bytes"),
        get("analytics_lookup_log_max_bytes"),
    )
}

#[test]
fn the_analytics_lookup_log_is_sized_by_its_flag_and_reported_by_info_memory() {
    // 1000 entries round up to 1024: 16 KiB at most, committed as lookups fill it.
    let srv = TestServer::with_config(config(&["--analytics-lookup-log", "1000"]));
    let mut c = srv.connect();
    assert_eq!(lookup_log_bytes(&mut c), (0, 16_384));
    c.check_words("VADD s VALUES 2 1 0 a", ":1\r\n");
    for _ in 0..3 {
        c.check_words("VEMB s a", "*2\r\n$1\r\n1\r\n$1\r\n0\r\n");
    }
    c.check_words("VEMB s nope", "$-1\r\n");
    // One write and four lookups.
    assert_eq!(lookup_log_bytes(&mut c), (5 * 16, 16_384));
    for _ in 0..1100 {
        c.check_words("VEMB s nope", "$-1\r\n");
    }
    assert_eq!(lookup_log_bytes(&mut c), (16_384, 16_384));
    drop(c);
    drop(srv);

    // No log at all: with 0 entries, and with analytics off.
    for args in [["--analytics-lookup-log", "0"], ["--analytics", "no"]] {
        let srv = TestServer::with_config(config(&args));
        let mut c = srv.connect();
        c.check_words("VADD s VALUES 2 1 0 a", ":1\r\n");
        c.check_words("VEMB s a", "*2\r\n$1\r\n1\r\n$1\r\n0\r\n");
        assert_eq!(lookup_log_bytes(&mut c), (0, 0), "{args:?}");
    }
}

#[test]
fn the_binary_refuses_a_lookup_log_past_its_bound_naming_it() {
    let (code, err) = run_binary(
        &[],
        &[
            "serve",
            "--in-memory",
            "true",
            "--port",
            "0",
            "--analytics-lookup-log",
            "2000000000",
        ],
    );
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("analytics lookup log entries"), "{err}");
    assert!(err.contains("at most 1073741824"), "{err}");
}
