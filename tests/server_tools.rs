//! Redis's own tools against the server: `redis-cli` (RESP2 and RESP3) and
//! `redis-benchmark -P 16` with no errors. scripts/setup.sh installs redis-tools; a missing
//! tool fails the test loudly rather than skipping it.

mod server_support;

use std::process::Command;

use server_support::TestServer;

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "{name} is not installed: run scripts/setup.sh (Debian package redis-tools)"
    );
    Command::new(name)
}

fn cli(srv: &TestServer, extra: &[&str], args: &[&str]) -> String {
    let out = tool("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &srv.addr.port().to_string()])
        .args(extra)
        .args(args)
        .output()
        .expect("redis-cli runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn redis_cli_drives_strings_and_vector_sets_in_both_protocols() {
    let srv = TestServer::start();
    assert_eq!(cli(&srv, &[], &["PING"]), "PONG\n");
    assert_eq!(cli(&srv, &[], &["SET", "k", "v", "EX", "100"]), "OK\n");
    assert_eq!(cli(&srv, &[], &["GET", "k"]), "v\n");
    assert_eq!(cli(&srv, &[], &["TTL", "k"]), "100\n");
    assert_eq!(
        cli(&srv, &[], &["VADD", "vs", "VALUES", "2", "1", "0", "a"]),
        "1\n"
    );
    assert_eq!(
        cli(&srv, &[], &["VADD", "vs", "VALUES", "2", "0", "1", "b"]),
        "1\n"
    );
    assert_eq!(
        cli(
            &srv,
            &[],
            &["VSIM", "vs", "VALUES", "2", "1", "0", "WITHSCORES"]
        ),
        "a\n1\nb\n0.5\n"
    );
    assert_eq!(
        cli(
            &srv,
            &["-3"],
            &["VSIM", "vs", "VALUES", "2", "1", "0", "WITHSCORES"]
        ),
        "a 1\nb 0.5\n"
    );
    assert_eq!(cli(&srv, &[], &["TYPE", "vs"]), "vectorset\n");
    assert_eq!(cli(&srv, &[], &["DBSIZE"]), "2\n");
    let info = cli(&srv, &[], &["INFO", "stats"]);
    assert!(info.contains("keyspace_hits:1"), "{info}");
    let err = cli(&srv, &[], &["NOSUCH"]);
    assert!(err.starts_with("ERR unknown command 'NOSUCH'"), "{err}");
}

/// `redis-cli --bigkeys`, `--memkeys` and `--hotkeys` walk the keyspace with SCAN, TYPE,
/// STRLEN, MEMORY USAGE and OBJECT FREQ; each finds the key it should.
#[test]
fn redis_cli_finds_big_memory_heavy_and_hot_keys() {
    use sutra_cache::server::ServerConfig;
    let config =
        ServerConfig::try_parse_from(["x", "--in-memory", "true", "--eviction-policy", "lfu"])
            .unwrap();
    let srv = TestServer::with_config(config);
    for i in 0..20 {
        let v = "x".repeat(10 + i);
        assert_eq!(cli(&srv, &[], &["SET", &format!("k{i}"), &v]), "OK\n");
    }
    let big = "y".repeat(5000);
    assert_eq!(cli(&srv, &[], &["SET", "big", &big]), "OK\n");
    assert_eq!(
        cli(&srv, &[], &["VADD", "vs", "VALUES", "2", "1", "0", "a"]),
        "1\n"
    );
    // Reads through one connection (`-r` repeats the command) make `k3` hot.
    cli(&srv, &["-r", "400"], &["GET", "k3"]);

    let bigkeys = cli(&srv, &[], &["--bigkeys"]);
    assert!(
        bigkeys.contains("Biggest string found '\"big\"' has 5000 bytes"),
        "{bigkeys}"
    );
    let usage = cli(&srv, &[], &["MEMORY", "USAGE", "big"]);
    let memkeys = cli(&srv, &[], &["--memkeys"]);
    assert!(
        memkeys.contains(&format!(
            "Biggest string found '\"big\"' has {} bytes",
            usage.trim()
        )),
        "{usage} {memkeys}"
    );
    assert!(usage.trim().parse::<u64>().unwrap() > 5000, "{usage}");
    let hotkeys = cli(&srv, &[], &["--hotkeys"]);
    let first = hotkeys
        .lines()
        .find(|l| l.starts_with("hot key found with counter:"))
        .unwrap_or_else(|| panic!("{hotkeys}"));
    assert!(first.ends_with("keyname: \"k3\""), "{hotkeys}");
    let freq: u32 = cli(&srv, &[], &["OBJECT", "FREQ", "k3"])
        .trim()
        .parse()
        .unwrap();
    assert!(freq > 5, "400 reads left the LFU counter at {freq}");
}

#[test]
fn redis_benchmark_runs_pipelined_without_errors() {
    let srv = TestServer::start();
    let out = tool("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &srv.addr.port().to_string()])
        .args([
            "-t",
            "ping,set,get,mset",
            "-P",
            "16",
            "-n",
            "20000",
            "-c",
            "8",
            "-q",
        ])
        .output()
        .expect("redis-benchmark runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    for t in ["PING_INLINE", "PING_MBULK", "SET", "GET", "MSET"] {
        assert!(stdout.contains(t), "{t} missing: {stdout}");
    }
    assert!(
        !stdout.contains("ERR") && !stderr.contains("ERR"),
        "{stdout}\n{stderr}"
    );
    let mut c = srv.connect();
    let info = String::from_utf8(c.call(&[b"INFO", b"stats"])).unwrap();
    assert!(info.contains("total_error_replies:0\r\n"), "{info}");
    assert!(srv.engine.dbsize() > 0);
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_binary_serves_then_exits_cleanly_on_sigterm() {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(["serve", "--port", &port.to_string(), "--in-memory", "true"])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut conn = None;
    for _ in 0..200 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            conn = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut s = conn.expect("the server accepts connections");
    use std::io::{Read, Write};
    s.write_all(b"SET k v\r\nGET k\r\n").unwrap();
    let mut reply = [0u8; 12];
    s.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"+OK\r\n$1\r\nv\r\n");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let start = std::time::Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed().as_secs() < 10,
            "no exit within 10 s of SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_binary_refuses_a_public_bind_without_a_password_and_says_why() {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args([
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            &free_port().to_string(),
        ])
        .env_remove("SUTRA_PASSWORD")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on 0.0.0.0 without a password"),
        "{err}"
    );
}

#[test]
fn redis_py_drives_the_server() {
    let srv = TestServer::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/server_redis_py.py");
    let out = Command::new("python3")
        .args([script, &srv.addr.port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
