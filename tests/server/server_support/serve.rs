//! `sutra-cache serve` as a child process on a free loopback port, its stderr kept: in a
//! file of its own, or appended to one the test names (a campaign restarting the server on
//! one directory keeps one log). When the test fails while the server is held — a panic on
//! the test's thread, a worker's panic joined there — dropping it prints how it ended (its
//! exit status if it exited by itself) and the tail of its stderr, so a crash in a long run
//! says why. Used by the soak (`server_soak.rs`) and the crash campaign
//! (`server_crash_campaign.rs`); `cluster_node.rs`'s nodes keep theirs the same way.

use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::cluster_node::free_port;

/// How much of the server's stderr a failure prints.
const TAIL_BYTES: u64 = 64 << 10;

/// What to start: `sutra-cache serve --port <free port>` plus these arguments and
/// environment.
#[derive(Default)]
pub struct Serve {
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    log: Option<PathBuf>,
}

impl Serve {
    pub fn new() -> Serve {
        Serve::default()
    }

    /// One more argument after `serve`.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Serve {
        self.args.push(arg.into());
        self
    }

    /// More arguments after `serve`.
    pub fn args<I, S>(mut self, args: I) -> Serve
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, name: &str, value: &str) -> Serve {
        self.env.push((name.into(), Some(value.into())));
        self
    }

    pub fn env_remove(mut self, name: &str) -> Serve {
        self.env.push((name.into(), None));
        self
    }

    /// Appends the server's stderr to `path` (created if missing) instead of a file of its own.
    pub fn log_to(mut self, path: &Path) -> Serve {
        self.log = Some(path.to_owned());
        self
    }

    /// Starts the server and waits (up to `within`) until it accepts connections; panics
    /// with its exit status and stderr if it exits first.
    pub fn start_within(self, within: Duration) -> Served {
        let port = free_port();
        let (log, tmp) = match self.log {
            Some(p) => (p, None),
            None => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                (dir.path().join("server.stderr"), Some(dir))
            }
        };
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("the server's stderr file");
        let start_at = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = writeln!(
            file,
            "--- sutra-cache serve --port {port} {}",
            self.args
                .iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" ")
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
        cmd.arg("serve")
            .arg("--port")
            .arg(port.to_string())
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        for (name, value) in &self.env {
            match value {
                Some(v) => cmd.env(name, v),
                None => cmd.env_remove(name),
            };
        }
        let child = cmd.spawn().expect("the sutra-cache binary starts");
        let mut served = Served {
            port,
            child: Some(child),
            log,
            start_at,
            _tmp: tmp,
        };
        let deadline = Instant::now() + within;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = served.exited() {
                panic!(
                    "the server on port {port} exited before listening: {status}\n{}",
                    served.stderr_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "the server on port {port} did not listen within {within:?}\n{}",
                served.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        served
    }

    /// [`Serve::start_within`] 60 s.
    pub fn start(self) -> Served {
        self.start_within(Duration::from_secs(60))
    }
}

/// The last [`TAIL_BYTES`] of the stderr file `log` from byte `start_at` on (where a start's
/// part of a shared log begins).
pub fn stderr_tail(log: &Path, start_at: u64) -> String {
    let mut text = Vec::new();
    if let Ok(mut f) = std::fs::File::open(log) {
        let end = f.seek(SeekFrom::End(0)).unwrap_or(0);
        let from = start_at.max(end.saturating_sub(TAIL_BYTES));
        if f.seek(SeekFrom::Start(from)).is_ok() {
            let _ = f.read_to_end(&mut text);
        }
    }
    format!(
        "--- the server's stderr ({}, from byte {start_at}) ---\n{}--- end of the server's stderr ---",
        log.display(),
        String::from_utf8_lossy(&text)
    )
}

/// A running server; SIGKILLed when dropped (printing its stderr if the test is failing).
pub struct Served {
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    /// Where this start's part of the log begins.
    start_at: u64,
    _tmp: Option<tempfile::TempDir>,
}

impl Served {
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// The exit status if the server has exited (by itself: the test kills only on drop).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// The last [`TAIL_BYTES`] of what this start wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        stderr_tail(&self.log, self.start_at)
    }

    /// How the server stands now, for a failure message: running, or its exit status.
    pub fn describe(&mut self) -> String {
        match self.exited() {
            Some(status) => format!("the server on port {} had exited: {status}", self.port),
            None => format!("the server on port {} was running", self.port),
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let state = self.describe();
            eprintln!("{state}\n{}", self.stderr_tail());
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
