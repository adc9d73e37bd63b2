//! Three `sutra-cache serve --cluster-mode yes` processes on loopback ports, configured by
//! `sutra-cache cluster create`, driven by Redis Cluster clients unchanged: redis-py's
//! RedisCluster and `redis-cli -c` (scripts/setup.sh installs both; a missing tool fails).
//! Also the manager's other subcommands and a restart of a node.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One server process; killed when dropped.
struct Node {
    port: u16,
    child: Child,
}

impl Node {
    fn start(mode: &str, dir: Option<&Path>) -> Node {
        let port = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
        cmd.args(["serve", "--port", &port.to_string(), "--cluster-mode", mode])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        match dir {
            Some(d) => cmd.args(["--storage-path", d.to_str().unwrap()]),
            None => cmd.args(["--in-memory", "true"]),
        };
        let child = cmd.spawn().expect("binary starts");
        let node = Node { port, child };
        node.wait_ready();
        node
    }

    #[allow(dead_code)]
    fn restart(mut self, mode: &str, dir: &Path) -> Node {
        let port = self.port;
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
            .args(["serve", "--port", &port.to_string(), "--cluster-mode", mode])
            .args(["--storage-path", dir.to_str().unwrap()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("binary starts");
        std::mem::swap(&mut self.child, &mut child);
        std::mem::forget(child);
        self.wait_ready();
        self
    }

    fn wait_ready(&self) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "no server on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    #[allow(dead_code)]
    /// Sends one command, returns the raw reply bytes (read until a reply is complete is
    /// not needed here: the commands used answer in one short frame).
    fn call(&self, args: &[&str]) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = vec![0u8; 1 << 16];
        let n = s.read(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tool(name: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "{name} is not installed: run scripts/setup.sh");
    Command::new(name)
}

fn run_redis_py(ports: &[u16]) {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/server_cluster_redis_py.py"
    );
    let out = tool("python3")
        .arg(script)
        .args(ports.iter().map(u16::to_string))
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn redis_py_cluster_client_works_against_one_emulated_node() {
    let node = Node::start("emulated", None);
    run_redis_py(&[node.port]);
}
