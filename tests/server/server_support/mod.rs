//! A server on port 0 in a background thread, and a blocking client that speaks raw bytes.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use sutra_cache::server::{run_on, Listeners, ServerConfig};
use sutra_cache::{Engine, EngineConfig};

/// A running server; stops (gracefully) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    /// The TLS port's address (servers started with [`TestServer::with_tls`]).
    pub tls_addr: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// The default configuration (in memory, no password).
    pub fn start() -> Self {
        Self::with_config(ServerConfig::default())
    }

    pub fn with_config(config: ServerConfig) -> Self {
        let engine = EngineConfig {
            active_expire_interval_ms: 0,
            ..config.engine_config()
        };
        Self::with_engine_config(config, engine)
    }

    /// A server with a plain port and a TLS port (the configuration names the certificate
    /// files, as `--tls-*` do).
    pub fn with_tls(config: ServerConfig) -> Self {
        let engine = EngineConfig {
            active_expire_interval_ms: 0,
            ..config.engine_config()
        };
        Self::start_on(config, engine, true)
    }

    /// A server over an engine opened with `engine` (e.g. a manual clock).
    pub fn with_engine_config(config: ServerConfig, engine: EngineConfig) -> Self {
        Self::start_on(config, engine, false)
    }

    /// A server with exactly `config`, whatever SUTRA_IO_URING_SOCKETS says.
    pub fn exactly(config: ServerConfig) -> Self {
        let engine = EngineConfig {
            active_expire_interval_ms: 0,
            ..config.engine_config()
        };
        Self::start_exactly(config, engine, false)
    }

    fn start_on(mut config: ServerConfig, engine: EngineConfig, tls: bool) -> Self {
        // The whole suite on one client-socket path: SUTRA_IO_URING_SOCKETS=yes|no|auto
        // (`ServerConfig::default()` reads no environment).
        if let Ok(v) = std::env::var("SUTRA_IO_URING_SOCKETS") {
            config.io_uring_sockets = v;
        }
        Self::start_exactly(config, engine, tls)
    }

    fn start_exactly(config: ServerConfig, engine: EngineConfig, tls: bool) -> Self {
        let engine = Arc::new(open_retrying(engine));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let e = engine.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let tls_listener = match tls {
                    true => Some(tokio::net::TcpListener::bind("127.0.0.1:0").await?),
                    false => None,
                };
                let tls_addr = tls_listener.as_ref().map(|l| l.local_addr()).transpose()?;
                addr_tx
                    .send((listener.local_addr()?, tls_addr))
                    .expect("test alive");
                let listeners = Listeners {
                    plain: Some(listener),
                    tls: tls_listener,
                };
                run_on(listeners, e, config, async {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let Ok((addr, tls_addr)) = addr_rx.recv() else {
            // `run_on` failed before serving (a bad certificate): say why.
            let why = thread.join().expect("no panic");
            panic!("the server did not start: {why:?}");
        };
        TestServer {
            addr,
            tls_addr,
            engine,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    pub fn connect(&self) -> Conn {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { s }
    }

    /// Stops the server and waits for it (returns what `run` returned).
    pub fn stop(mut self) -> std::io::Result<()> {
        self.stop.take().map(|s| s.send(()));
        self.thread
            .take()
            .expect("running")
            .join()
            .expect("no panic")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Opens an engine. A restart on the same directory retries for a while when the WAL's
/// `flock` is still held: a child that another test of this process is spawning at that
/// moment holds a copy of the old descriptor until its `exec`.
fn open_retrying(cfg: EngineConfig) -> Engine {
    let mut tries = 0;
    loop {
        match Engine::open(cfg.clone()) {
            Ok(e) => return e,
            Err(e) if tries < 100 && e.to_string().contains("in use by another Wal") => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("engine opens: {e:?}"),
        }
    }
}

/// A raw client.
pub struct Conn {
    pub s: TcpStream,
}

/// Shows bytes with CR/LF visible.
pub fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// Encodes a command as a RESP array of bulk strings.
pub fn cmd(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Encodes a command given as space-separated words.
pub fn words(line: &str) -> Vec<u8> {
    let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    cmd(&parts)
}

/// Little-endian f32 bytes.
pub fn f32le(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Conn {
    /// A connection to a server started some other way (the binary).
    pub fn to(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.set_nodelay(true).unwrap();
        Conn { s }
    }

    /// This side's address (what the server lists as the client's `addr`).
    pub fn local_addr(&self) -> SocketAddr {
        self.s.local_addr().expect("connected")
    }

    pub fn send(&mut self, input: &[u8]) {
        self.s.write_all(input).expect("write");
    }

    pub fn read_n(&mut self, n: usize) -> Vec<u8> {
        let mut got = vec![0u8; n];
        let mut filled = 0;
        while filled < n {
            match self.s.read(&mut got[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                // A read with a timeout is not restarted after a signal or an io_uring's
                // task-work notification (a ring of this process being torn down).
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "read failed after {}: {e}: {}",
                    filled,
                    show(&got[..filled])
                ),
            }
        }
        got.truncate(filled);
        got
    }

    /// Sends `input` and asserts the reply bytes are exactly `expected`.
    #[track_caller]
    pub fn check(&mut self, input: &[u8], expected: &[u8]) {
        self.send(input);
        let got = self.read_n(expected.len());
        assert_eq!(
            show(&got),
            show(expected),
            "input: {}",
            show(&input[..input.len().min(300)])
        );
    }

    /// Sends a command given as words and checks the reply.
    #[track_caller]
    pub fn check_words(&mut self, line: &str, expected: &str) {
        self.check(&words(line), expected.as_bytes());
    }

    /// Reads one whole reply of any type and returns its bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_value(&mut out);
        out
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let kind = {
            let b = self.read_n(1);
            assert_eq!(b.len(), 1, "connection closed before a reply");
            out.push(b[0]);
            b[0]
        };
        let line = self.read_line_after_kind(out);
        let n: i64 = std::str::from_utf8(&line)
            .unwrap_or("0")
            .parse()
            .unwrap_or(0);
        match kind {
            b'$' | b'=' if n >= 0 => {
                let body = self.read_n(n as usize + 2);
                out.extend_from_slice(&body);
            }
            b'*' | b'~' | b'>' if n > 0 => {
                for _ in 0..n {
                    self.read_value(out);
                }
            }
            b'%' if n > 0 => {
                for _ in 0..2 * n {
                    self.read_value(out);
                }
            }
            _ => {}
        }
    }

    fn read_line_after_kind(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let start = out.len();
        loop {
            let b = self.read_n(1);
            assert_eq!(b.len(), 1, "connection closed mid-reply: {}", show(out));
            out.push(b[0]);
            if out.len() >= start + 2 && &out[out.len() - 2..] == b"\r\n" {
                return out[start..out.len() - 2].to_vec();
            }
        }
    }

    /// Sends a command and returns its whole reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(&cmd(args));
        self.read_reply()
    }

    /// True when the server has closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        loop {
            return match self.s.read(&mut b) {
                Ok(0) => true,
                Ok(_) => false,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
            };
        }
    }
}

/// The reference redis-server (7.0.15, installed by scripts/setup.sh) on a free port; killed
/// when dropped.
pub struct RedisServer {
    child: std::process::Child,
    pub port: u16,
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A redis-server on a free port, without persistence, once it answers PING, with a
/// connection to it; `None` (the test is skipped) when it is missing and tools are not
/// required (`tools`).
pub fn redis_server() -> Option<(RedisServer, Conn)> {
    use std::time::Instant;
    if tools::missing_redis_tool("redis-server") {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = std::process::Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/setup.sh)");
    let r = RedisServer { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_nodelay(true).unwrap();
            break Conn { s };
        }
        assert!(Instant::now() < deadline, "redis-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    };
    while c.call(&[b"PING"]) != b"+PONG\r\n" {
        assert!(
            Instant::now() < deadline,
            "redis-server never answered PING"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some((r, c))
}

/// External tools (redis-cli, redis-benchmark, redis-server, python3 with redis-py).
/// scripts/setup.sh installs them and scripts/test-all.sh sets `SUTRA_REQUIRE_TOOLS=1`, under
/// which a missing one fails the test; a bare `cargo test` on a machine without them skips
/// the tests that need them, saying on stderr which tool is missing and how to get it.
pub mod cluster_node;
pub mod serve;

pub mod tools {
    use std::process::Command;

    /// Whether a missing external tool fails the test rather than skipping it.
    pub fn required() -> bool {
        std::env::var("SUTRA_REQUIRE_TOOLS").is_ok_and(|v| v == "1")
    }

    /// True when the test must be skipped because `what` is missing (and tools are not
    /// required); panics with the reason when they are.
    pub fn missing(what: &str, available: bool, how: &str) -> bool {
        if available {
            return false;
        }
        let reason = format!("{what} is not available: {how}");
        assert!(!required(), "{reason} (SUTRA_REQUIRE_TOOLS=1)");
        eprintln!("skipped: {reason}");
        true
    }

    pub fn has_command(name: &str) -> bool {
        Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// `python3` in PATH imports redis-py.
    pub fn has_redis_py() -> bool {
        Command::new("python3")
            .args(["-c", "import redis"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// True when a Redis tool (redis-cli, redis-benchmark, redis-server) is missing and the
    /// test must be skipped.
    pub fn missing_redis_tool(name: &str) -> bool {
        missing(
            name,
            has_command(name),
            "run scripts/setup.sh (Debian packages redis-tools, redis-server)",
        )
    }

    /// True when python3 with redis-py is missing and the test must be skipped.
    pub fn missing_redis_py() -> bool {
        missing(
            "python3 with redis-py",
            has_redis_py(),
            "run scripts/setup.sh, then `. scripts/env.sh` (the project venv has redis-py)",
        )
    }
}
