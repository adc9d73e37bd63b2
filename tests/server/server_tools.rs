//! Redis's own tools against the server: `redis-cli` (RESP2 and RESP3), `redis-benchmark -P
//! 16` with no errors, and redis-py. scripts/setup.sh installs redis-tools and the venv's
//! redis-py, and scripts/test-all.sh sets `SUTRA_REQUIRE_TOOLS=1`, under which a missing tool
//! fails the test loudly. A bare `cargo test` on a machine without them skips those tests,
//! saying on stderr which tool is missing and how to get it.

use crate::server_support;

use std::process::Command;

use server_support::{tools, TestServer};

/// Skips the calling test (returns from it) when a Redis tool is missing.
macro_rules! need_tool {
    ($name:expr) => {
        if tools::missing_redis_tool($name) {
            return;
        }
    };
}

fn tool(name: &str) -> Command {
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
    need_tool!("redis-cli");
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
    need_tool!("redis-cli");
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
    need_tool!("redis-benchmark");
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

/// This machine's address on its default route, when it has one that is not loopback.
fn non_loopback_ip() -> Option<std::net::IpAddr> {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    probe.connect("192.0.2.254:9").ok()?; // no packet is sent: this only picks a route
    let ip = probe.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Reads until the peer closes (or 5 s pass).
fn read_to_close(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

#[test]
fn a_public_bind_without_password_serves_loopback_and_denies_other_clients_as_redis_does() {
    use std::io::Write;
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args([
            "serve",
            "--bind",
            "0.0.0.0",
            "--port",
            &port.to_string(),
            "--in-memory",
            "true",
        ])
        .env_remove("SUTRA_PASSWORD")
        .env_remove("SUTRA_PROTECTED_MODE")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("binary starts");
    let mut local = None;
    for _ in 0..400 {
        if let Ok(s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            local = Some(s);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    let mut local = local.expect("the server starts on 0.0.0.0 without a password");
    local.write_all(b"PING\r\nQUIT\r\n").unwrap();
    assert_eq!(read_to_close(&mut local), b"+PONG\r\n+OK\r\n");
    let denied = match non_loopback_ip() {
        Some(ip) => {
            let mut remote = std::net::TcpStream::connect((ip, port)).expect("connects");
            // Whatever it sends, it gets the explanation and the connection is closed.
            let _ = remote.write_all(b"PING\r\n");
            Some(read_to_close(&mut remote))
        }
        None => {
            eprintln!("no non-loopback address on this machine: socket check skipped");
            None
        }
    };
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    if let Some(reply) = denied {
        assert_eq!(reply, sutra_cache::server::PROTECTED_MODE_DENIED);
        let text = String::from_utf8(reply).unwrap();
        assert!(text.starts_with(
            "-DENIED Redis is running in protected mode because protected mode is enabled \
             and no password is set for the default user. In this mode connections are only \
             accepted from the loopback interface."
        ));
        assert!(text.ends_with(
            "NOTE: You only need to do one of the above things in order for the server to \
             start accepting connections from the outside.\r\n"
        ));
        assert_eq!(text.len(), 1066, "Redis 7's text is 1066 bytes with CRLF");
    }
}

#[test]
fn protected_mode_off_or_a_password_serves_a_non_loopback_client() {
    use std::io::Write;
    let Some(ip) = non_loopback_ip() else {
        eprintln!("no non-loopback address on this machine: nothing to check");
        return;
    };
    for extra in [["--protected-mode", "no"], ["--requirepass", "sekret"]] {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
            .args(["serve", "--bind", "0.0.0.0", "--port", &port.to_string()])
            .args(["--in-memory", "true"])
            .args(extra)
            .env_remove("SUTRA_PASSWORD")
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("binary starts");
        let mut conn = None;
        for _ in 0..400 {
            if let Ok(s) = std::net::TcpStream::connect((ip, port)) {
                conn = Some(s);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        let mut s = conn.expect("reachable on the non-loopback address");
        s.write_all(b"AUTH sekret\r\nPING\r\nQUIT\r\n").unwrap();
        let reply = read_to_close(&mut s);
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let _ = child.wait();
        let text = String::from_utf8_lossy(&reply).into_owned();
        assert!(text.ends_with("+PONG\r\n+OK\r\n"), "{extra:?}: {text}");
        assert!(!text.contains("DENIED"), "{extra:?}: {text}");
    }
}

#[test]
fn redis_py_drives_the_server() {
    if tools::missing_redis_py() {
        return;
    }
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
