//! The server over a data directory: SAVE, BGSAVE, LASTSAVE, INFO persistence, /health,
//! restart on the same directory, and `kill -9` of the real binary in `always` mode.

use crate::server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server_support::{words, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use sutra_cache::{EngineConfig, ManualClock};

/// A durable configuration over `dir` with WAL_SYNC_INTERVAL_MS=0 (`always`).
fn durable(dir: &Path) -> ServerConfig {
    ServerConfig::try_parse_from([
        "x",
        "--in-memory",
        "false",
        "--storage-path",
        dir.to_str().expect("utf-8 temp path"),
        "--wal-sync-interval-ms",
        "0",
    ])
    .expect("flags parse")
}

/// One `field:value` line of an INFO reply.
fn info_field(info: &str, field: &str) -> String {
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}: {info}"))
        .to_string()
}

fn info(c: &mut Conn, section: &str) -> String {
    String::from_utf8(c.call(&[b"INFO", section.as_bytes()])).expect("utf-8 INFO")
}

fn int_reply(reply: &[u8]) -> i64 {
    let s = std::str::from_utf8(reply).expect("utf-8");
    s.strip_prefix(':')
        .and_then(|r| r.strip_suffix("\r\n"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("not an integer reply: {s:?}"))
}

/// Stops a server and closes its engine (what `sutra-cache serve` does on shutdown).
fn stop(srv: TestServer) {
    let engine = srv.engine.clone();
    srv.stop().expect("run returns Ok");
    engine.close().expect("engine closes");
}

#[test]
fn writes_before_and_after_save_are_all_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let value = vec![b'v'; 3072];
    {
        let srv = TestServer::with_config(durable(dir.path()));
        let mut c = srv.connect();
        c.check(&server_support::cmd(&[b"SET", b"big", &value]), b"+OK\r\n");
        c.check_words("SET a 1", "+OK\r\n");
        c.check_words("SET gone x", "+OK\r\n");
        c.check_words("VADD vs VALUES 3 1 0 0 e1", ":1\r\n");
        c.check_words("SAVE", "+OK\r\n");
        c.check_words("SET a 2", "+OK\r\n");
        c.check_words("MSET b 3 c 4", "+OK\r\n");
        c.check_words("DEL gone", ":1\r\n");
        c.check_words("VADD vs VALUES 3 0 1 0 e2", ":1\r\n");
        c.check_words("VREM vs e1", ":1\r\n");
        c.send(&words("SHUTDOWN SAVE"));
        assert!(c.is_closed(), "SHUTDOWN closes the connection");
        stop(srv);
    }
    let srv = TestServer::with_config(durable(dir.path()));
    let mut c = srv.connect();
    let got = c.call(&[b"GET", b"big"]);
    assert_eq!(got, [b"$3072\r\n".as_slice(), &value, b"\r\n"].concat());
    c.check_words(
        "MGET a b c gone",
        "*4\r\n$1\r\n2\r\n$1\r\n3\r\n$1\r\n4\r\n$-1\r\n",
    );
    c.check_words("VCARD vs", ":1\r\n");
    c.check_words("VISMEMBER vs e2", ":1\r\n");
    c.check_words("VISMEMBER vs e1", ":0\r\n");
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "1", "{text}");
    stop(srv);
}

#[test]
fn info_persistence_reports_policy_io_and_what_recovery_replayed() {
    let dir = tempfile::tempdir().unwrap();
    let no_close_snapshot = |cfg: &ServerConfig| EngineConfig {
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        ..cfg.engine_config()
    };
    {
        let cfg = durable(dir.path());
        let srv = TestServer::with_engine_config(cfg.clone(), no_close_snapshot(&cfg));
        let mut c = srv.connect();
        let text = info(&mut c, "persistence");
        assert_eq!(info_field(&text, "wal_sync"), "always", "{text}");
        assert_eq!(info_field(&text, "in_memory"), "0", "{text}");
        let io = info_field(&text, "wal_io");
        assert!(io == "io_uring" || io == "sync", "{text}");
        assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "0", "{text}");
        assert_eq!(
            info_field(&text, "recovery_records_replayed"),
            "0",
            "{text}"
        );
        c.check_words("SET k1 a", "+OK\r\n");
        c.check_words("SAVE", "+OK\r\n");
        c.check_words("SET k2 b", "+OK\r\n");
        c.check_words("SET k3 c", "+OK\r\n");
        c.check_words("DEL k1", ":1\r\n");
        stop(srv);
    }
    let cfg = durable(dir.path());
    let srv = TestServer::with_engine_config(cfg.clone(), no_close_snapshot(&cfg));
    let mut c = srv.connect();
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "1", "{text}");
    assert_eq!(
        info_field(&text, "recovery_records_replayed"),
        "3",
        "{text}"
    );
    assert_eq!(
        info_field(&text, "recovery_wal_bytes_truncated"),
        "0",
        "{text}"
    );
    let last = int_reply(&c.call(&[b"LASTSAVE"]));
    assert_eq!(info_field(&text, "rdb_last_save_time"), last.to_string());
    c.check_words("MGET k1 k2 k3", "*3\r\n$-1\r\n$1\r\nb\r\n$1\r\nc\r\n");
    // /health names the WAL's mode.
    let mut h = TcpStream::connect(srv.addr).unwrap();
    h.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    h.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = String::new();
    h.read_to_string(&mut resp).unwrap();
    let body = resp.split("\r\n\r\n").nth(1).expect("a body");
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["wal"]["sync"], "always", "{body}");
    assert_eq!(v["wal"]["io"], io_of(&text), "{body}");
    stop(srv);
}

fn io_of(info: &str) -> String {
    info_field(info, "wal_io")
}

#[test]
fn lastsave_moves_to_the_time_of_the_latest_save_and_bgsave() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_700_000_000_000);
    let cfg = durable(dir.path());
    let srv = TestServer::with_engine_config(
        cfg.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            clock: clock.clone(),
            ..cfg.engine_config()
        },
    );
    let mut c = srv.connect();
    assert_eq!(int_reply(&c.call(&[b"LASTSAVE"])), 1_700_000_000);
    c.check_words("SET k v", "+OK\r\n");
    clock.advance(5_000);
    c.check_words("SAVE", "+OK\r\n");
    assert_eq!(int_reply(&c.call(&[b"LASTSAVE"])), 1_700_000_005);
    clock.advance(7_000);
    c.check_words("BGSAVE", "+Background saving started\r\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    while int_reply(&c.call(&[b"LASTSAVE"])) != 1_700_000_012 {
        assert!(Instant::now() < deadline, "BGSAVE never finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "rdb_last_bgsave_status"), "ok", "{text}");
    assert_eq!(info_field(&text, "rdb_last_save_time"), "1700000012");
    c.check_words("BGSAVE NOW", "-ERR syntax error\r\n");
    stop(srv);
}

#[test]
fn save_without_a_data_directory_says_why_it_cannot() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words(
        "SAVE",
        "-ERR snapshots need a data directory: this server runs with --in-memory\r\n",
    );
    c.check_words(
        "BGSAVE",
        "-ERR snapshots need a data directory: this server runs with --in-memory\r\n",
    );
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "wal_io"), "none", "{text}");
}

// ---- the real binary ----

/// A free TCP port on loopback (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn spawn_binary(dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args(["serve", "--in-memory", "false", "--log", "warn"])
        .arg("--port")
        .arg(port.to_string())
        .arg("--storage-path")
        .arg(dir)
        .env("WAL_SYNC_INTERVAL_MS", "0")
        .env_remove("SUTRA_WAL_SYNC")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("the sutra-cache binary starts")
}

fn connect_when_up(child: &mut Child, port: u16) -> Conn {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.set_nodelay(true).unwrap();
            return Conn { s };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the server exited before listening: {status}");
        }
        assert!(Instant::now() < deadline, "the server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn acknowledged_writes_survive_kill_9_of_the_server_in_always_mode() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = spawn_binary(dir.path(), port);
    let mut c = connect_when_up(&mut child, port);
    // Pipelined: every write below is acknowledged before the kill.
    let mut batch = Vec::new();
    for i in 0..300 {
        batch.extend(words(&format!("SET key:{i} value-{i}")));
    }
    c.send(&batch);
    assert_eq!(c.read_n(5 * 300), b"+OK\r\n".repeat(300));
    c.check_words("DEL key:7", ":1\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e", ":1\r\n");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");

    let port = free_port();
    let mut child = spawn_binary(dir.path(), port);
    let mut c = connect_when_up(&mut child, port);
    for i in 0..300 {
        let want = if i == 7 {
            "$-1\r\n".to_string()
        } else {
            let v = format!("value-{i}");
            format!("${}\r\n{v}\r\n", v.len())
        };
        c.check_words(&format!("GET key:{i}"), &want);
    }
    c.check_words("VISMEMBER vs e", ":1\r\n");
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "0", "{text}");
    assert_eq!(
        info_field(&text, "recovery_records_replayed"),
        "302",
        "{text}"
    );

    // SIGTERM: a graceful stop that writes a snapshot; the next start loads it.
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(sent.success());
    let status = child.wait().expect("reaped");
    assert!(status.success(), "graceful exit: {status}");
    let snapshots = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
        .count();
    assert!(snapshots >= 1, "SIGTERM wrote a snapshot");
    let port = free_port();
    let mut child = spawn_binary(dir.path(), port);
    let mut c = connect_when_up(&mut child, port);
    c.check_words("GET key:299", "$9\r\nvalue-299\r\n");
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "1", "{text}");
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

#[test]
fn a_pipeline_of_durable_sets_is_acknowledged_by_a_few_group_commits_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = durable(dir.path());
    // No snapshot at close: the restart replays the log.
    let engine_cfg = EngineConfig {
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        ..cfg.engine_config()
    };
    let fsyncs = |c: &mut Conn| -> u64 {
        info_field(&info(c, "persistence"), "wal_fsyncs")
            .parse()
            .expect("a count")
    };
    let value = |i: usize| format!("value-{i}-{}", "x".repeat(i * 37 % 500));
    let big = vec![b'b'; 3072];
    {
        let srv = TestServer::with_engine_config(cfg.clone(), engine_cfg.clone());
        let mut c = srv.connect();
        let before = fsyncs(&mut c);
        let mut batch = Vec::new();
        for i in 0..64 {
            let v = value(i);
            batch.extend(server_support::cmd(&[
                b"SET",
                format!("p:{i}").as_bytes(),
                v.as_bytes(),
            ]));
        }
        c.send(&batch);
        assert_eq!(
            server_support::show(&c.read_n(5 * 64)),
            server_support::show(&b"+OK\r\n".repeat(64))
        );
        let took = fsyncs(&mut c) - before;
        // Without one wait per batch, each SET waits for its own fdatasync: 64 of them.
        assert!(
            took <= 8,
            "a 64-SET pipeline from one client took {took} fdatasyncs"
        );
        // A pipeline longer than one read (128 × 3 KB): the reads already waiting run under
        // the same acknowledgement, instead of one group commit per read (~25 of them).
        let before = fsyncs(&mut c);
        let mut batch = Vec::new();
        for i in 0..128 {
            batch.extend(server_support::cmd(&[
                b"SET",
                format!("big:{i}").as_bytes(),
                &big,
            ]));
        }
        c.send(&batch);
        assert_eq!(
            server_support::show(&c.read_n(5 * 128)),
            server_support::show(&b"+OK\r\n".repeat(128))
        );
        let took = fsyncs(&mut c) - before;
        assert!(
            took <= 12,
            "a 400 KB pipeline of SETs took {took} fdatasyncs"
        );
        // A read after a write in the same pipeline sees it; a write after a read is
        // acknowledged in order.
        let mut mixed = words("SET m 1");
        mixed.extend(words("GET m"));
        mixed.extend(words("SET m 22"));
        mixed.extend(words("GET m"));
        c.check(&mixed, b"+OK\r\n$1\r\n1\r\n+OK\r\n$2\r\n22\r\n");
        stop(srv);
    }
    let srv = TestServer::with_engine_config(cfg.clone(), engine_cfg);
    let mut c = srv.connect();
    let text = info(&mut c, "persistence");
    assert_eq!(info_field(&text, "recovery_snapshot_loaded"), "0", "{text}");
    assert_eq!(
        info_field(&text, "recovery_records_replayed"),
        "194",
        "{text}"
    );
    for i in 0..64 {
        let v = value(i);
        c.check(
            &server_support::cmd(&[b"GET", format!("p:{i}").as_bytes()]),
            format!("${}\r\n{v}\r\n", v.len()).as_bytes(),
        );
    }
    c.check_words("GET m", "$2\r\n22\r\n");
    let got = c.call(&[b"GET", b"big:127"]);
    assert_eq!(got, [b"$3072\r\n".as_slice(), &big, b"\r\n"].concat());
    stop(srv);
}

#[test]
fn when_the_wal_fails_under_a_pipeline_every_write_of_it_is_answered_with_the_error() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use sutra_cache::wal::{FaultPlan, IoChoice};
    let plan = |fail_after_ops, ops: &Arc<AtomicU64>| FaultPlan {
        fail_after_ops,
        ops: ops.clone(),
        ..FaultPlan::default()
    };
    // How many I/O operations opening a fresh directory takes: the next one (the pipeline's
    // first write) fails.
    let opening = {
        let dir = tempfile::tempdir().unwrap();
        let ops = Arc::new(AtomicU64::new(0));
        let cfg = durable(dir.path());
        let engine = sutra_cache::Engine::open(EngineConfig {
            wal_fault: Some(plan(None, &ops)),
            wal_io: IoChoice::Sync,
            checkpoint_on_close: false,
            ..cfg.engine_config()
        })
        .unwrap();
        // The WAL's writer thread makes the first segment after the open: its I/O counts as
        // the opening's once the segment has its live name (nothing else runs before a write).
        let live = dir.path().join("wal").join(format!("wal-{:020}.seg", 1));
        let start = std::time::Instant::now();
        while !live.exists() {
            assert!(
                start.elapsed().as_secs() < 30,
                "no first segment at {live:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let n = ops.load(Ordering::SeqCst);
        engine.close().unwrap();
        n
    };
    let dir = tempfile::tempdir().unwrap();
    let ops = Arc::new(AtomicU64::new(0));
    let cfg = durable(dir.path());
    let srv = TestServer::with_engine_config(
        cfg.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            checkpoint_on_close: false,
            wal_fault: Some(plan(Some(opening), &ops)),
            // Plain syscalls: an io_uring torn down by the fault can interrupt (EINTR) the
            // blocking reads of other threads of the test process.
            wal_io: IoChoice::Sync,
            ..cfg.engine_config()
        },
    );
    let mut c = srv.connect();
    let mut batch = words("SET a 1");
    batch.extend(words("GET a"));
    batch.extend(words("SET b 2"));
    batch.extend(words("PING"));
    c.send(&batch);
    let replies: Vec<String> = (0..4)
        .map(|_| String::from_utf8(c.read_reply()).unwrap())
        .collect();
    for i in [0, 2] {
        assert!(
            replies[i].starts_with("-MISCONF Errors writing to the WAL: fdatasync failed")
                || replies[i].starts_with("-MISCONF Errors writing to the WAL: write failed"),
            "{replies:?}"
        );
    }
    // The read ran after the write was applied (it sees it, as in Redis); it is not a write,
    // so its reply stands.
    assert_eq!(replies[1], "$1\r\n1\r\n", "{replies:?}");
    assert_eq!(replies[3], "+PONG\r\n", "{replies:?}");
    drop(c);
    drop(srv);
}

/// `kill -9` during a stream of transactions (and BGSAVEs from another client): after each
/// restart every acknowledged EXEC is there whole, and every other one whole or not at all.
#[test]
fn transactions_are_recovered_whole_or_not_at_all_after_kill_9() {
    const PARTS: usize = 40;
    /// Kills the server however the test ends (a failed assertion must not leave it up).
    struct Killed(Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.subsec_nanos() as u64);
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    // Every transaction in the keyspace is there with all its keys.
    let whole = |c: &mut Conn, round: usize| {
        let keys = String::from_utf8(c.call(&[b"KEYS", b"t:*"])).unwrap();
        let mut parts: std::collections::HashMap<String, usize> = Default::default();
        for k in keys.split("\r\n").filter(|l| l.starts_with("t:")) {
            let tx = k.rsplit_once(':').unwrap().0.to_string();
            *parts.entry(tx).or_default() += 1;
        }
        for (tx, n) in &parts {
            assert_eq!(
                *n, PARTS,
                "round {round}: transaction {tx} came back in part"
            );
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let big = "e".repeat(3072);
    let mut first = 0usize;
    for round in 0..6 {
        let port = free_port();
        let mut child = Killed(spawn_binary(dir.path(), port));
        let mut c = connect_when_up(&mut child.0, port);
        whole(&mut c, round); // what the previous round left
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let saver = {
            let stop = stop.clone();
            let mut s = connect_when_up(&mut child.0, port);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // One simple-string or error line back; none once the server is killed.
                    if s.s.write_all(&words("BGSAVE")).is_err() {
                        return;
                    }
                    let mut line = Vec::new();
                    let mut byte = [0u8; 1];
                    while !line.ends_with(b"\r\n") {
                        match s.s.read(&mut byte) {
                            Ok(1) => line.push(byte[0]),
                            _ => return,
                        }
                    }
                    std::thread::sleep(Duration::from_millis(15));
                }
            })
        };
        // Acknowledged transactions so far this round, so the kill waits for the first.
        let acks = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = {
            let stop = stop.clone();
            let big = big.clone();
            let acks = acks.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in first.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    // Many writes per transaction, so that a kill often lands while one is
                    // being logged.
                    let mut req = words("MULTI");
                    req.extend(words(&format!("SET t:{i}:a {i}")));
                    req.extend(words(&format!("SET t:{i}:b {i}")));
                    for j in 0..PARTS - 2 {
                        req.extend(words(&format!("SET t:{i}:c{j} {big}")));
                    }
                    req.extend(words("EXEC"));
                    let mut want = b"+OK\r\n".to_vec();
                    want.extend(b"+QUEUED\r\n".repeat(PARTS));
                    want.extend(format!("*{PARTS}\r\n").as_bytes());
                    want.extend(b"+OK\r\n".repeat(PARTS));
                    let mut got = vec![0u8; want.len()];
                    if c.s.write_all(&req).is_err() || c.s.read_exact(&mut got).is_err() {
                        return acked; // killed before the reply: not acknowledged
                    }
                    assert_eq!(got, want);
                    acked.push(i);
                    acks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                acked
            })
        };
        // Kill at a random moment after the first acknowledgement: a fixed delay from the
        // start can end before a loaded machine acknowledged anything.
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while acks.load(std::sync::atomic::Ordering::Relaxed) == 0
            && std::time::Instant::now() < deadline
            && !writer.is_finished()
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(next() % 300));
        drop(child); // SIGKILL
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let acked = writer.join().expect("writer");
        let _ = saver.join();
        assert!(
            !acked.is_empty(),
            "round {round}: no transaction was acknowledged"
        );
        // Acknowledged ones must all be back, whole.
        let port = free_port();
        let mut child = Killed(spawn_binary(dir.path(), port));
        let mut c = connect_when_up(&mut child.0, port);
        whole(&mut c, round);
        for &i in &acked {
            c.check_words(
                &format!("MGET t:{i}:a t:{i}:b"),
                &format!("*2\r\n${0}\r\n{i}\r\n${0}\r\n{i}\r\n", i.to_string().len()),
            );
            c.check_words(&format!("STRLEN t:{i}:c0"), ":3072\r\n");
        }
        first = acked.last().unwrap() + 2;
        drop(child);
    }
}

#[test]
fn a_full_disk_answers_writes_misconf_serves_reads_and_writes_resume_once_space_is_freed() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use sutra_cache::wal::{FaultPlan, IoChoice};
    let dir = tempfile::tempdir().unwrap();
    let full = Arc::new(AtomicBool::new(false));
    let cfg = durable(dir.path());
    let srv = TestServer::with_engine_config(
        cfg.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            wal_fault: Some(FaultPlan {
                disk_full: Some(full.clone()),
                ..FaultPlan::default()
            }),
            wal_io: IoChoice::Sync,
            ..cfg.engine_config()
        },
    );
    let mut c = srv.connect();
    c.check_words("SET before 1", "+OK\r\n");
    c.check_words("VADD vs VALUES 2 1 0 e1", ":1\r\n");
    full.store(true, Ordering::SeqCst);
    // Redis's reply once persistence fails: -MISCONF, naming the cause and what happens next.
    for cmd in ["SET during 2", "VADD vs VALUES 2 0 1 e2", "DEL before"] {
        let reply = String::from_utf8(call_words(&mut c, cmd)).unwrap();
        assert!(
            reply.starts_with("-MISCONF Errors writing to the WAL: disk full")
                && reply.contains("resume by themselves"),
            "{cmd}: {reply}"
        );
    }
    // Reads are served.
    c.check_words("GET before", "$1\r\n1\r\n");
    c.check_words("VCARD vs", ":1\r\n");
    // Space is freed: writes resume by themselves (retried every 100 ms; polled).
    full.store(false, Ordering::SeqCst);
    let start = Instant::now();
    loop {
        let reply = call_words(&mut c, "SET after 3");
        if reply == b"+OK\r\n" {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "writes did not resume: {}",
            String::from_utf8_lossy(&reply)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    c.check_words("GET after", "$1\r\n3\r\n");
    drop(c);
    drop(srv);
}

#[test]
fn a_failed_fdatasync_answers_writes_misconf_saying_to_restart_and_reads_are_served() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use sutra_cache::wal::{FaultPlan, IoChoice};
    let dir = tempfile::tempdir().unwrap();
    let mut config = durable(dir.path());
    config.wal_sync = Some("always".into());
    let eio = Arc::new(AtomicBool::new(false));
    let srv = TestServer::with_engine_config(
        config.clone(),
        EngineConfig {
            active_expire_interval_ms: 0,
            checkpoint_on_close: false,
            wal_fault: Some(FaultPlan {
                sync_eio: Some(eio.clone()),
                ..FaultPlan::default()
            }),
            wal_io: IoChoice::Sync,
            ..config.engine_config()
        },
    );
    let mut c = srv.connect();
    c.check_words("SET a 1", "+OK\r\n");
    eio.store(true, Ordering::SeqCst);
    let reply = String::from_utf8(call_words(&mut c, "SET b 2")).unwrap();
    assert!(
        reply.starts_with("-MISCONF Errors writing to the WAL: fdatasync failed")
            && reply.contains("until the server is restarted"),
        "{reply}"
    );
    // An fdatasync is never retried: even with the disk healthy again, writes stay refused
    // until a restart.
    eio.store(false, Ordering::SeqCst);
    let again = String::from_utf8(call_words(&mut c, "SET c 3")).unwrap();
    assert!(again.starts_with("-MISCONF"), "{again}");
    c.check_words("GET a", "$1\r\n1\r\n");
    drop(c);
    drop(srv);
    // Restarted, the acknowledged write is there.
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    c.check_words("GET a", "$1\r\n1\r\n");
    c.check_words("SET d 4", "+OK\r\n");
}

fn call_words(c: &mut Conn, line: &str) -> Vec<u8> {
    let parts: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    c.call(&parts)
}
