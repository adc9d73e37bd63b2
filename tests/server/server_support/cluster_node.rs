//! `sutra-cache serve` processes for the cluster tests (`server_cluster_tools.rs`,
//! `server_cluster_crash.rs`): started on a free loopback port, killed with SIGKILL and
//! started again on the same port and data directory, and the manager
//! (`sutra-cache cluster …`) as a command or a child process. A node's stderr is kept (each
//! start appended to one file, as `serve.rs` keeps it) and its tail printed when the test
//! fails while the node is held, or when it exits before listening.

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// One server process; killed when dropped (printing its stderr if the test is failing).
pub struct Node {
    pub port: u16,
    mode: String,
    dir: Option<PathBuf>,
    child: Option<Child>,
    /// The stderr of every start, appended.
    log: PathBuf,
    /// Where the current start's part of `log` begins.
    start_at: u64,
    _logdir: tempfile::TempDir,
}

impl Node {
    /// A node in `mode` (`off`, `emulated`, `yes`) keeping its data in `dir`, or in memory.
    pub fn start(mode: &str, dir: Option<&Path>) -> Node {
        let logdir = tempfile::tempdir().expect("a temporary directory");
        let mut node = Node {
            port: free_port(),
            mode: mode.to_string(),
            dir: dir.map(Path::to_path_buf),
            child: None,
            log: logdir.path().join("server.stderr"),
            start_at: 0,
            _logdir: logdir,
        };
        node.start_again();
        node
    }

    /// Starts the process (again, after [`Node::kill9`]) on the same port and directory,
    /// and waits until it accepts connections.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the node on {} still runs", self.port);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server's stderr file");
        self.start_at = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
        cmd.args(["serve", "--port", &self.port.to_string()])
            .args(["--cluster-mode", &self.mode])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null());
        match &self.dir {
            Some(d) => cmd.args(["--storage-path", d.to_str().unwrap()]),
            None => cmd.args(["--in-memory", "true"]),
        };
        let _ = writeln!(
            file,
            "--- sutra-cache {}",
            cmd.get_args()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        cmd.stderr(file);
        self.child = Some(cmd.spawn().expect("binary starts"));
        self.wait_ready();
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills the node and starts it again on the same port with `dir`.
    pub fn restart(mut self, mode: &str, dir: &Path) -> Node {
        self.kill9();
        self.mode = mode.to_string();
        self.dir = Some(dir.to_path_buf());
        self.start_again();
        self
    }

    fn wait_ready(&mut self) {
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().unwrap()) {
                panic!(
                    "the server for port {} exited: {status}\n{}",
                    self.port,
                    self.stderr_tail()
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no server on {}\n{}",
                self.port,
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The tail of what the current start wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        super::serve::stderr_tail(&self.log, self.start_at)
    }

    /// `127.0.0.1:port`.
    pub fn endpoint(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Sends one command, returns the raw reply bytes as text (the commands used answer in
    /// one short frame).
    pub fn call(&self, args: &[&str]) -> String {
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
        if std::thread::panicking() {
            let state = match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(status))) => format!("had exited: {status}"),
                Some(_) => "was running".to_string(),
                None => "was not running (killed by the test)".to_string(),
            };
            eprintln!(
                "the node on port {} {state}\n{}",
                self.port,
                self.stderr_tail()
            );
        }
        self.kill9();
    }
}

/// Endpoints of `nodes`.
pub fn endpoints(nodes: &[&Node]) -> Vec<String> {
    nodes.iter().map(|n| n.endpoint()).collect()
}

/// Runs `sutra-cache cluster <args>`: whether it succeeded, and its stdout + stderr.
pub fn manager(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("cluster")
        .args(args)
        .output()
        .expect("manager runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `sutra-cache cluster <args>` as a child process (output discarded).
pub fn manager_child(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("cluster")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("manager runs")
}

/// A RESP reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

/// One connection speaking RESP2, reading whole replies.
pub struct RespConn {
    r: BufReader<TcpStream>,
}

impl RespConn {
    pub fn open(port: u16) -> std::io::Result<RespConn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.set_nodelay(true)?;
        Ok(RespConn {
            r: BufReader::new(s),
        })
    }

    /// Sends the commands in one write and reads their replies.
    pub fn pipeline(&mut self, cmds: &[Vec<&[u8]>]) -> std::io::Result<Vec<Resp>> {
        let mut req = Vec::new();
        for args in cmds {
            req.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
            for a in args {
                req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                req.extend_from_slice(a);
                req.extend_from_slice(b"\r\n");
            }
        }
        self.r.get_mut().write_all(&req)?;
        cmds.iter().map(|_| self.read()).collect()
    }

    pub fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Resp> {
        Ok(self.pipeline(&[args.to_vec()])?.remove(0))
    }

    fn read(&mut self) -> std::io::Result<Resp> {
        let mut line = Vec::new();
        self.r.read_until(b'\n', &mut line)?;
        if line.len() < 3 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad RESP");
        Ok(match line[0] {
            b'+' => Resp::Simple(text),
            b'-' => Resp::Error(text),
            b':' => Resp::Int(text.parse().map_err(|_| bad())?),
            b'$' => {
                let n: i64 = text.parse().map_err(|_| bad())?;
                if n < 0 {
                    Resp::Bulk(None)
                } else {
                    let mut b = vec![0u8; n as usize + 2];
                    self.r.read_exact(&mut b)?;
                    b.truncate(n as usize);
                    Resp::Bulk(Some(b))
                }
            }
            b'*' => {
                let n: i64 = text.parse().map_err(|_| bad())?;
                if n < 0 {
                    Resp::Array(None)
                } else {
                    Resp::Array(Some((0..n).map(|_| self.read()).collect::<Result<_, _>>()?))
                }
            }
            _ => return Err(bad()),
        })
    }
}
