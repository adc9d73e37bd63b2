//! `sutra-cache serve --config FILE` and `--log-format json` through the binary: the file's
//! settings under environment variables and flags, its errors, and JSON log lines whose
//! level CONFIG SET changes while serving.

use crate::server_support;

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use server_support::{cmd, Conn};
use sutra_cache::server::ServerConfig;

/// The binary with none of the server's variables from the test's environment.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sutra-cache"));
    c.arg("serve").args(args);
    for v in ServerConfig::env_var_names() {
        c.env_remove(v);
    }
    c.envs(env.iter().copied());
    c
}

struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(mut c: Command) -> Running {
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs");
        let out = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Running { child, lines }
    }

    /// The next log line (parsed as JSON) that `pick` accepts; fails after a generous wait.
    fn wait_for(&self, what: &str, pick: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line {what} within 60 s"));
            let v: serde_json::Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if pick(&v) {
                return v;
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn message(v: &serde_json::Value) -> &str {
    v["fields"]["message"].as_str().unwrap_or("")
}

#[test]
fn a_config_file_sets_what_flags_and_environment_leave_and_logs_are_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sutra-cache.toml");
    std::fs::write(
        &file,
        "# every key is a flag's name\n\
         in-memory = true\n\
         port = 0\n\
         maxmemory = \"1mb\"\n\
         maxclients = 7\n\
         default-ttl-seconds = 30\n\
         log-format = \"json\"\n\
         eviction-policy = \"lfu\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let srv = Running::start(serve(
        &["--config", path, "--maxmemory", "2mb"],
        &[("SUTRA_MAXCLIENTS", "9")],
    ));
    let listening = srv.wait_for("saying where it listens", |v| {
        message(v).starts_with("sutra-cache listening")
    });
    assert_eq!(listening["level"], "INFO");
    let addr = listening["fields"]["addr"].as_str().expect("addr field");
    let mut c = Conn::to(addr.parse().unwrap());
    let get =
        |c: &mut Conn, name: &str| -> Vec<u8> { c.call(&[b"CONFIG", b"GET", name.as_bytes()]) };
    assert_eq!(
        get(&mut c, "maxmemory"),
        b"*2\r\n$9\r\nmaxmemory\r\n$7\r\n2097152\r\n",
        "flag over file"
    );
    assert_eq!(
        get(&mut c, "maxclients"),
        b"*2\r\n$10\r\nmaxclients\r\n$1\r\n9\r\n",
        "env over file"
    );
    assert_eq!(
        get(&mut c, "default-ttl-seconds"),
        b"*2\r\n$19\r\ndefault-ttl-seconds\r\n$2\r\n30\r\n",
        "file over default"
    );
    assert_eq!(
        get(&mut c, "maxmemory-policy"),
        b"*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n"
    );
    assert_eq!(
        get(&mut c, "log-format"),
        b"*2\r\n$10\r\nlog-format\r\n$4\r\njson\r\n"
    );

    // Debug lines appear once CONFIG SET lowers the level, without a restart.
    assert_eq!(
        c.call(&[b"CONFIG", b"SET", b"loglevel", b"debug"]),
        b"+OK\r\n"
    );
    let mut d = Conn::to(addr.parse().unwrap());
    d.check(&cmd(&[b"PING"]), b"+PONG\r\n");
    let connected = srv.wait_for("for the new client at debug level", |v| {
        message(v) == "client connected"
    });
    assert_eq!(connected["level"], "DEBUG");
    assert_eq!(connected["fields"]["addr"], d.local_addr().to_string());
}

fn refused(file_text: &str) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, file_text).unwrap();
    let out = serve(
        &["--config", file.to_str().unwrap(), "--in-memory", "true"],
        &[],
    )
    .output()
    .expect("binary runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("bad.toml"), "names the file: {err}");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn a_config_file_with_an_unknown_key_a_bad_value_or_bad_toml_is_refused_naming_it() {
    let (code, err) = refused("port = 0\nnosuch = 1\n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown key 'nosuch'"), "{err}");
    let (code, err) = refused("port = \"high\"\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("key 'port'") && err.contains("invalid value 'high'"),
        "{err}"
    );
    let (code, err) = refused("maxmemory = [1, 2]\n");
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("key 'maxmemory' must be a string, number or boolean"),
        "{err}"
    );
    let (code, err) = refused("port = \n");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not valid TOML"), "{err}");
    let missing = serve(&["--config", "/nonexistent/sutra.toml"], &[])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr)
        .contains("cannot read the config file /nonexistent/sutra.toml"));
}

#[test]
fn config_rewrite_keeps_what_config_set_changed_in_the_file_for_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sutra-cache.toml");
    std::fs::write(
        &file,
        "# settings of this shard\n\
         in-memory = true\n\
         port = 0\n\
         log-format = \"json\"\n\
         maxmemory = \"1mb\" # small on purpose\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let start = || {
        let srv = Running::start(serve(&["--config", path], &[]));
        let listening = srv.wait_for("saying where it listens", |v| {
            message(v).starts_with("sutra-cache listening")
        });
        let addr = listening["fields"]["addr"].as_str().unwrap().to_string();
        (srv, Conn::to(addr.parse().unwrap()))
    };
    let (srv, mut c) = start();
    for (name, value) in [
        ("maxmemory", "3mb"),
        ("timeout", "7"),
        ("slowlog-max-len", "5"),
        ("slowlog-log-slower-than", "-1"),
        ("maxmemory-policy", "allkeys-lfu"),
        ("latency-tracking", "no"),
        ("latency-tracking-info-percentiles", "50 90"),
        // A filter that keeps the INFO line the next start is found by.
        ("log", "info,tokio=warn"),
    ] {
        assert_eq!(
            c.call(&[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()]),
            b"+OK\r\n",
            "{name}"
        );
    }
    assert_eq!(c.call(&[b"CONFIG", b"REWRITE"]), b"+OK\r\n");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.starts_with("# settings of this shard\nin-memory = true\nport = 0\n"),
        "comments and other keys stay: {text}"
    );
    assert!(
        text.contains("maxmemory = 3145728 # small on purpose\n"),
        "{text}"
    );
    for line in [
        "timeout = 7\n",
        "slowlog-max-len = 5\n",
        "slowlog-log-slower-than = -1\n",
        "eviction-policy = \"lfu\"\n",
        "latency-tracking = false\n",
        "latency-tracking-info-percentiles = \"50 90\"\n",
        "log = \"info,tokio=warn\"\n",
    ] {
        assert!(text.contains(line), "{line} in {text}");
    }
    assert!(!text.contains("maxclients"), "unchanged, not added: {text}");
    drop(c);
    drop(srv);

    // The next start reads the rewritten file back.
    let (_srv, mut c) = start();
    let get = |c: &mut Conn, name: &str| -> String {
        let r = c.call(&[b"CONFIG", b"GET", name.as_bytes()]);
        let r = String::from_utf8(r).unwrap();
        r.rsplit("\r\n").nth(1).unwrap().to_string()
    };
    assert_eq!(get(&mut c, "maxmemory"), "3145728");
    assert_eq!(get(&mut c, "timeout"), "7");
    assert_eq!(get(&mut c, "slowlog-max-len"), "5");
    assert_eq!(get(&mut c, "slowlog-log-slower-than"), "-1");
    assert_eq!(get(&mut c, "maxmemory-policy"), "allkeys-lfu");
    assert_eq!(get(&mut c, "latency-tracking"), "no");
    assert_eq!(get(&mut c, "latency-tracking-info-percentiles"), "50 90");
    assert_eq!(get(&mut c, "log"), "info,tokio=warn");
}

#[test]
fn config_rewrite_without_a_config_file_is_refused_as_redis_does() {
    let srv = Running::start(serve(
        &["--in-memory", "true", "--port", "0", "--log-format", "json"],
        &[],
    ));
    let listening = srv.wait_for("saying where it listens", |v| {
        message(v).starts_with("sutra-cache listening")
    });
    let addr = listening["fields"]["addr"].as_str().unwrap();
    let mut c = Conn::to(addr.parse().unwrap());
    assert_eq!(
        c.call(&[b"CONFIG", b"REWRITE"]),
        b"-ERR The server is running without a config file\r\n"
    );
}
