//! Replication between `sutra-cache serve` processes on loopback ports: a replica copies its
//! master in full (blobs, hashes, vector sets with attributes and TTLs), then streams its
//! log; WAIT counts replicas that acknowledged; a replica refuses writes; it survives its
//! own kill -9 (continuing from its offset) and its master's (copying again); REPLICAOF NO
//! ONE promotes it with every WAIT-confirmed write kept. Nothing is timed: every wait polls
//! with a generous deadline.

use crate::server_support;

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use server_support::cluster_node::{free_port, Resp, RespConn};

/// One server process with a data directory; killed when dropped. Its stderr is kept (each
/// start appended to one file) and its tail printed when the test fails while it is held.
struct Proc {
    port: u16,
    dir: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
    log: PathBuf,
    /// Where the current start's part of `log` begins.
    start_at: u64,
    _logdir: tempfile::TempDir,
}

impl Proc {
    fn start(dir: &Path, extra: &[&str]) -> Proc {
        Self::start_on(free_port(), dir, extra)
    }

    fn start_on(port: u16, dir: &Path, extra: &[&str]) -> Proc {
        let logdir = tempfile::tempdir().expect("a temporary directory");
        let mut p = Proc {
            port,
            dir: dir.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            child: None,
            log: logdir.path().join("server.stderr"),
            start_at: 0,
            _logdir: logdir,
        };
        p.start_again();
        p
    }

    fn start_again(&mut self) {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server's stderr file");
        self.start_at = file.seek(SeekFrom::End(0)).unwrap_or(0);
        let _ = writeln!(
            file,
            "--- sutra-cache serve --port {} {}",
            self.port,
            self.extra.join(" ")
        );
        let child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
            .args(["serve", "--port", &self.port.to_string()])
            .args(["--storage-path", self.dir.to_str().unwrap()])
            .args(&self.extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("binary starts");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(Some(status)) = self.child.as_mut().map(|c| c.try_wait().unwrap()) {
                panic!(
                    "the server on {} exited: {status}\n{}",
                    self.port,
                    server_support::serve::stderr_tail(&self.log, self.start_at)
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "no server on {}\n{}",
                self.port,
                server_support::serve::stderr_tail(&self.log, self.start_at)
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM (a clean shutdown), waiting for the exit.
    fn term(&mut self) {
        if let Some(mut c) = self.child.take() {
            self.signal_child(&c, "-TERM");
            let status = c.wait().unwrap();
            assert!(status.success(), "clean exit: {status}");
        }
    }

    /// Sends `sig` (`-STOP`, `-CONT`) to the process.
    fn signal(&self, sig: &str) {
        self.signal_child(self.child.as_ref().unwrap(), sig);
    }

    fn signal_child(&self, c: &Child, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &c.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
        if sig == "-STOP" {
            // kill(1) returns once the signal is sent, not once every thread has stopped: a
            // thread on the other core can still answer (or acknowledge) meanwhile.
            let tasks = format!("/proc/{}/task", c.id());
            let stopped = || {
                std::fs::read_dir(&tasks).is_ok_and(|d| {
                    d.flatten().all(|t| {
                        std::fs::read_to_string(t.path().join("stat")).is_ok_and(|st| {
                            st.rsplit_once(')')
                                .and_then(|(_, rest)| rest.trim_start().chars().next())
                                .is_some_and(|state| state == 'T' || state == 't')
                        })
                    })
                })
            };
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while !stopped() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "kill -STOP took no effect"
                );
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
    }

    fn conn(&self) -> RespConn {
        RespConn::open(self.port).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "the server on port {}:\n{}",
                self.port,
                server_support::serve::stderr_tail(&self.log, self.start_at)
            );
        }
        self.kill9();
    }
}

fn call(c: &mut RespConn, args: &[&str]) -> Resp {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    c.call(&args).unwrap()
}

fn ok(c: &mut RespConn, args: &[&str]) {
    if let Resp::Error(e) = call(c, args) {
        panic!("{args:?}: {e}");
    }
}

fn int(r: Resp) -> i64 {
    match r {
        Resp::Int(n) => n,
        other => panic!("not an integer: {other:?}"),
    }
}

fn bulk(r: Resp) -> Option<String> {
    match r {
        Resp::Bulk(b) => b.map(|b| String::from_utf8(b).unwrap()),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn info_field(c: &mut RespConn, section: &str, field: &str) -> Option<String> {
    let text = bulk(call(c, &["INFO", section])).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::to_string)
}

/// Polls `f` until it holds (60 s at most).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(60), "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connection that survives the server restarting under it (reconnects per call).
fn link_up(port: u16) -> bool {
    RespConn::open(port)
        .ok()
        .and_then(|mut c| {
            let text = bulk(call(&mut c, &["INFO", "replication"]))?;
            Some(text.contains("master_link_status:up"))
        })
        .unwrap_or(false)
}

fn replica_of(master: &Proc) -> String {
    format!("127.0.0.1:{}", master.port)
}

#[test]
fn a_replica_copies_blobs_hashes_and_vector_sets_with_ttls_then_streams_and_wait_counts_it() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Proc::start(md.path(), &["--requirepass", "sesame"]);
    let mut m = master.conn();
    ok(&mut m, &["AUTH", "sesame"]);
    for i in 0..200 {
        ok(&mut m, &["SET", &format!("k{i}"), &format!("v{i}")]);
    }
    ok(&mut m, &["PEXPIRE", "k1", "3600000"]);
    ok(&mut m, &["HSET", "h", "a", "1", "b", "2"]);
    for i in 0..150 {
        let (x, y) = (i as f32, (i * 7 % 13) as f32);
        ok(
            &mut m,
            &[
                "VADD",
                "vs",
                "VALUES",
                "3",
                &x.to_string(),
                &y.to_string(),
                "1",
                &format!("e{i}"),
                "SETATTR",
                &format!("{{\"i\":{i}}}"),
            ],
        );
    }
    ok(&mut m, &["VPEXPIRE", "vs", "e3", "3600000"]);
    ok(&mut m, &["SELECT", "2"]);
    ok(&mut m, &["SET", "in-db-2", "x"]);
    ok(&mut m, &["SELECT", "0"]);

    // A replica with the master's password, following from its start.
    let replica = Proc::start(
        rd.path(),
        &[
            "--replicaof",
            &replica_of(&master),
            "--masterauth",
            "sesame",
        ],
    );
    let mut r = replica.conn();
    eventually("the replica's link is up", || link_up(replica.port));
    // The copy is in: everything as on the master.
    assert_eq!(
        bulk(call(&mut r, &["GET", "k199"])).as_deref(),
        Some("v199")
    );
    assert_eq!(
        int(call(&mut r, &["DBSIZE"])),
        int(call(&mut m, &["DBSIZE"]))
    );
    assert_eq!(
        call(&mut r, &["HGETALL", "h"]),
        call(&mut m, &["HGETALL", "h"])
    );
    assert_eq!(int(call(&mut r, &["VCARD", "vs"])), 150);
    assert_eq!(
        bulk(call(&mut r, &["VGETATTR", "vs", "e42"])).as_deref(),
        Some("{\"i\":42}")
    );
    assert_eq!(
        call(&mut r, &["VEMB", "vs", "e42"]),
        call(&mut m, &["VEMB", "vs", "e42"])
    );
    ok(&mut r, &["SELECT", "2"]);
    assert_eq!(
        bulk(call(&mut r, &["GET", "in-db-2"])).as_deref(),
        Some("x")
    );
    ok(&mut r, &["SELECT", "0"]);
    // TTLs are absolute times: the replica's, read between two of the master's, lies
    // between them (a TTL restarted on the replica would be larger than the later one).
    for (ttl, args) in [("PTTL", vec!["k1"]), ("VPTTL", vec!["vs", "e3"])] {
        let mut a = vec![ttl];
        a.extend(args);
        let before = int(call(&mut m, &a));
        let on_replica = int(call(&mut r, &a));
        let after = int(call(&mut m, &a));
        assert!(before > 0, "{a:?} has a TTL");
        assert!(
            after <= on_replica && on_replica <= before,
            "{a:?}: master {before} then {after}, replica {on_replica}"
        );
    }
    // Its own index answers VSIM (the element itself is its nearest).
    match call(&mut r, &["VSIM", "vs", "ELE", "e10", "COUNT", "3"]) {
        Resp::Array(Some(a)) => {
            assert_eq!(a.len(), 3);
            assert_eq!(a[0], Resp::Bulk(Some(b"e10".to_vec())));
        }
        other => panic!("{other:?}"),
    }

    // Read-only, as Redis's replicas.
    assert_eq!(
        call(&mut r, &["SET", "x", "1"]),
        Resp::Error("READONLY You can't write against a read only replica.".into())
    );
    assert!(
        matches!(call(&mut r, &["WAIT", "1", "10"]), Resp::Error(e) if e.contains("WAIT cannot be used with replica"))
    );

    // Streaming: a write, then WAIT for one replica: once it answers 1, the replica has it.
    for i in 0..50 {
        ok(&mut m, &["SET", &format!("s{i}"), &format!("w{i}")]);
        ok(
            &mut m,
            &["VADD", "vs", "VALUES", "3", "5", "5", "5", &format!("n{i}")],
        );
        ok(&mut m, &["HSET", "h", &format!("f{i}"), "x"]);
        assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
        assert_eq!(
            bulk(call(&mut r, &["GET", &format!("s{i}")])),
            Some(format!("w{i}"))
        );
        assert!(int(call(&mut r, &["VCARD", "vs"])) >= 151 + i);
    }
    ok(&mut m, &["DEL", "k5"]);
    ok(&mut m, &["VREM", "vs", "e7"]);
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    assert_eq!(bulk(call(&mut r, &["GET", "k5"])), None);
    assert_eq!(int(call(&mut r, &["VCARD", "vs"])), 199);
    // WAIT for more replicas than there are: the timeout, then the count.
    assert_eq!(int(call(&mut m, &["WAIT", "2", "50"])), 1);

    // ROLE and INFO in Redis's shapes.
    match call(&mut m, &["ROLE"]) {
        Resp::Array(Some(a)) => {
            assert_eq!(a[0], Resp::Bulk(Some(b"master".to_vec())));
            let offset = int(a[1].clone());
            match &a[2] {
                Resp::Array(Some(reps)) => {
                    assert_eq!(reps.len(), 1);
                    let Resp::Array(Some(one)) = &reps[0] else {
                        panic!()
                    };
                    assert_eq!(
                        one[1],
                        Resp::Bulk(Some(replica.port.to_string().into_bytes()))
                    );
                    let acked: i64 = bulk(one[2].clone()).unwrap().parse().unwrap();
                    assert!(acked <= offset && acked > 0);
                }
                other => panic!("{other:?}"),
            }
        }
        other => panic!("{other:?}"),
    }
    match call(&mut r, &["ROLE"]) {
        Resp::Array(Some(a)) => {
            assert_eq!(a[0], Resp::Bulk(Some(b"slave".to_vec())));
            assert_eq!(a[2], Resp::Int(master.port as i64));
            assert_eq!(a[3], Resp::Bulk(Some(b"connected".to_vec())));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        info_field(&mut m, "replication", "role").as_deref(),
        Some("master")
    );
    assert_eq!(
        info_field(&mut m, "replication", "connected_slaves").as_deref(),
        Some("1")
    );
    let slave0 = info_field(&mut m, "replication", "slave0").unwrap();
    assert!(
        slave0.contains(&format!("port={}", replica.port)) && slave0.contains("state=online"),
        "{slave0}"
    );
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("slave")
    );
    assert_eq!(
        info_field(&mut r, "replication", "master_replid"),
        info_field(&mut m, "replication", "master_replid")
    );
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
}

#[test]
fn a_replica_killed_and_restarted_continues_from_its_offset_without_a_full_copy() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Proc::start(md.path(), &[]);
    let mut m = master.conn();
    let mut replica = Proc::start(rd.path(), &["--replicaof", &replica_of(&master)]);
    eventually("link up", || link_up(replica.port));
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("a{i}"), "1"]);
    }
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    // The replica keeps its offset at most 200 ms after applying (and at each PING).
    eventually("the replica kept its offset", || {
        std::fs::read_to_string(rd.path().join("replication.json"))
            .is_ok_and(|t| t.contains(&format!("\"offset\":{offset}")))
    });
    replica.kill9();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("b{i}"), "2"]);
    }
    ok(&mut m, &["DEL", "a0"]);
    replica.start_again();
    eventually("link up again", || link_up(replica.port));
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let mut r = replica.conn();
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 199);
    assert_eq!(bulk(call(&mut r, &["GET", "b99"])).as_deref(), Some("2"));
    assert_eq!(bulk(call(&mut r, &["GET", "a0"])), None);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut m, "stats", "sync_partial_ok").as_deref(),
        Some("1")
    );
}

fn wait_kept_offset(dir: &Path, offset: &str) {
    // A replica keeps its offset at most 200 ms after applying.
    eventually("the replica kept its offset", || {
        std::fs::read_to_string(dir.join("replication.json"))
            .is_ok_and(|t| t.contains(&format!("\"offset\":{offset}")))
    });
}

fn syncs(m: &mut RespConn) -> (String, String) {
    (
        info_field(m, "stats", "sync_full").unwrap(),
        info_field(m, "stats", "sync_partial_ok").unwrap(),
    )
}

#[test]
fn after_its_master_is_killed_and_restarted_a_replica_continues_it_without_a_full_copy() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master = Proc::start(md.path(), &[]);
    let replica = Proc::start(rd.path(), &["--replicaof", &replica_of(&master)]);
    let mut m = master.conn();
    for i in 0..50 {
        ok(&mut m, &["SET", &format!("k{i}"), "before"]);
    }
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let old_id = info_field(&mut m, "replication", "master_replid").unwrap();
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    master.kill9();
    eventually("the replica sees its master gone", || {
        !link_up(replica.port)
    });
    master.start_again();
    let mut m = master.conn();
    // After a crash (records may have been lost) a new id, continuing the old one up to
    // the LSN recovered (Redis's replid2 and second_repl_offset, the offset after it).
    let new_id = info_field(&mut m, "replication", "master_replid").unwrap();
    assert_ne!(new_id, old_id);
    assert_eq!(
        info_field(&mut m, "replication", "master_replid2").as_deref(),
        Some(old_id.as_str())
    );
    let second: u64 = info_field(&mut m, "replication", "second_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(second, offset.parse::<u64>().unwrap() + 1);
    ok(&mut m, &["SET", "k0", "after"]);
    ok(&mut m, &["DEL", "k1"]);
    eventually("link up again", || link_up(replica.port));
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let mut r = replica.conn();
    assert_eq!(bulk(call(&mut r, &["GET", "k0"])).as_deref(), Some("after"));
    assert_eq!(bulk(call(&mut r, &["GET", "k1"])), None);
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 49);
    // The restarted master served a partial resync, no full copy.
    assert_eq!(syncs(&mut m), ("0".into(), "1".into()));
    assert_eq!(
        info_field(&mut r, "replication", "master_replid").as_deref(),
        Some(new_id.as_str())
    );
}

#[test]
fn a_lagging_replica_continues_from_the_log_of_a_master_killed_and_restarted_meanwhile() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master = Proc::start(md.path(), &[]);
    let mut replica = Proc::start(rd.path(), &["--replicaof", &replica_of(&master)]);
    eventually("link up", || link_up(replica.port));
    let mut m = master.conn();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("a{i}"), "1"]);
    }
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    wait_kept_offset(rd.path(), &offset);
    replica.kill9();
    // Writes the replica misses, then the master dies too.
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("b{i}"), "2"]);
    }
    ok(&mut m, &["DEL", "a0"]);
    ok(&mut m, &["HSET", "h", "f", "v"]);
    master.kill9();
    master.start_again();
    replica.start_again();
    eventually("link up again", || link_up(replica.port));
    let mut m = master.conn();
    ok(&mut m, &["SET", "c", "3"]);
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    // The records it missed came from the restarted master's log: no full copy.
    assert_eq!(syncs(&mut m), ("0".into(), "1".into()));
    let mut r = replica.conn();
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 201);
    assert_eq!(int(call(&mut m, &["DBSIZE"])), 201);
    for i in 1..100 {
        assert_eq!(
            bulk(call(&mut r, &["GET", &format!("a{i}")])).as_deref(),
            Some("1")
        );
    }
    for i in 0..100 {
        assert_eq!(
            bulk(call(&mut r, &["GET", &format!("b{i}")])).as_deref(),
            Some("2")
        );
    }
    assert_eq!(bulk(call(&mut r, &["GET", "a0"])), None);
    assert_eq!(
        bulk(call(&mut r, &["HGET", "h", "f"])).as_deref(),
        Some("v")
    );
    assert_eq!(bulk(call(&mut r, &["GET", "c"])).as_deref(), Some("3"));
}

#[test]
fn a_master_shut_down_cleanly_keeps_its_replication_id_and_its_replica_continues() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master = Proc::start(md.path(), &[]);
    let replica = Proc::start(rd.path(), &["--replicaof", &replica_of(&master)]);
    eventually("link up", || link_up(replica.port));
    let mut m = master.conn();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("k{i}"), "1"]);
    }
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let id = info_field(&mut m, "replication", "master_replid").unwrap();
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    drop(m);
    master.term();
    master.start_again();
    let mut m = master.conn();
    assert_eq!(
        info_field(&mut m, "replication", "master_replid").as_deref(),
        Some(id.as_str())
    );
    assert_eq!(
        info_field(&mut m, "replication", "master_repl_offset").as_deref(),
        Some(offset.as_str())
    );
    ok(&mut m, &["SET", "after", "restart"]);
    ok(&mut m, &["DEL", "k5"]);
    eventually("link up again", || link_up(replica.port));
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    assert_eq!(syncs(&mut m), ("0".into(), "1".into()));
    let mut r = replica.conn();
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 100);
    assert_eq!(
        bulk(call(&mut r, &["GET", "after"])).as_deref(),
        Some("restart")
    );
    assert_eq!(bulk(call(&mut r, &["GET", "k5"])), None);
    assert_eq!(bulk(call(&mut r, &["GET", "k99"])).as_deref(), Some("1"));
}

#[test]
fn replicas_of_a_lost_master_pointed_at_the_promoted_one_continue_without_a_full_copy() {
    let (md, r1d, r2d) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let mut master = Proc::start(md.path(), &[]);
    let r1 = Proc::start(r1d.path(), &["--replicaof", &replica_of(&master)]);
    let mut r2 = Proc::start(r2d.path(), &[]);
    let mut c2 = r2.conn();
    ok(
        &mut c2,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    eventually("both links up", || link_up(r1.port) && link_up(r2.port));
    let mut m = master.conn();
    let old_id = info_field(&mut m, "replication", "master_replid").unwrap();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("a{i}"), "1"]);
    }
    ok(&mut m, &["MULTI"]);
    ok(&mut m, &["SET", "tx1", "x"]);
    ok(&mut m, &["SET", "tx2", "y"]);
    ok(&mut m, &["EXEC"]);
    assert_eq!(int(call(&mut m, &["WAIT", "2", "0"])), 2);
    let offset = info_field(&mut m, "replication", "master_repl_offset").unwrap();
    wait_kept_offset(r2d.path(), &offset);
    // The second replica goes away and misses the next writes; the first has them.
    drop(c2);
    r2.kill9();
    for i in 0..100 {
        ok(&mut m, &["SET", &format!("b{i}"), "2"]);
    }
    ok(&mut m, &["DEL", "a0"]);
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    let last: u64 = info_field(&mut m, "replication", "master_repl_offset")
        .unwrap()
        .parse()
        .unwrap();
    master.kill9();
    let mut c1 = r1.conn();
    ok(&mut c1, &["REPLICAOF", "NO", "ONE"]);
    // The promoted node continues the old master's history up to what it applied.
    assert_eq!(
        info_field(&mut c1, "replication", "master_replid2").as_deref(),
        Some(old_id.as_str())
    );
    assert_eq!(
        info_field(&mut c1, "replication", "second_repl_offset").as_deref(),
        Some((last + 1).to_string().as_str())
    );
    ok(&mut c1, &["SET", "after-promotion", "3"]);
    // The lagging replica comes back and is pointed at the promoted one.
    r2.start_again();
    let mut c2 = r2.conn();
    ok(&mut c2, &["REPLICAOF", "127.0.0.1", &r1.port.to_string()]);
    eventually("link up to the promoted node", || link_up(r2.port));
    assert_eq!(int(call(&mut c1, &["WAIT", "1", "0"])), 1);
    assert_eq!(syncs(&mut c1), ("0".into(), "1".into()));
    assert_eq!(int(call(&mut c2, &["DBSIZE"])), 202);
    assert_eq!(int(call(&mut c1, &["DBSIZE"])), 202);
    for i in 1..100 {
        assert_eq!(
            bulk(call(&mut c2, &["GET", &format!("a{i}")])).as_deref(),
            Some("1")
        );
        assert_eq!(
            bulk(call(&mut c2, &["GET", &format!("b{i}")])).as_deref(),
            Some("2")
        );
    }
    assert_eq!(bulk(call(&mut c2, &["GET", "a0"])), None);
    assert_eq!(bulk(call(&mut c2, &["GET", "tx2"])).as_deref(), Some("y"));
    assert_eq!(
        bulk(call(&mut c2, &["GET", "after-promotion"])).as_deref(),
        Some("3")
    );
    // It follows the new history from now on.
    ok(&mut c1, &["SET", "later", "4"]);
    assert_eq!(int(call(&mut c1, &["WAIT", "1", "0"])), 1);
    assert_eq!(bulk(call(&mut c2, &["GET", "later"])).as_deref(), Some("4"));
}

#[test]
fn wait_counts_acknowledgements_of_the_calling_connections_own_writes() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Proc::start(md.path(), &[]);
    let replica = Proc::start(rd.path(), &["--replicaof", &replica_of(&master)]);
    eventually("link up", || link_up(replica.port));
    let mut writer = master.conn();
    let mut reader = master.conn();
    ok(&mut writer, &["SET", "first", "1"]);
    assert_eq!(int(call(&mut writer, &["WAIT", "1", "0"])), 1);
    // The replica stops acknowledging; the writer's next write is not acknowledged.
    replica.signal("-STOP");
    ok(&mut writer, &["SET", "second", "2"]);
    assert_eq!(int(call(&mut writer, &["WAIT", "1", "200"])), 0);
    // A connection that wrote nothing waits for nothing: the replica count, at once
    // (waiting for the master's last write would give 0 after the 60 s timeout).
    ok(&mut reader, &["GET", "second"]);
    assert_eq!(int(call(&mut reader, &["WAIT", "1", "60000"])), 1);
    replica.signal("-CONT");
    assert_eq!(int(call(&mut writer, &["WAIT", "1", "0"])), 1);
    // Once it writes, it waits for its own write.
    ok(&mut reader, &["SET", "third", "3"]);
    assert_eq!(int(call(&mut reader, &["WAIT", "1", "0"])), 1);
    assert_eq!(
        bulk(call(&mut replica.conn(), &["GET", "third"])).as_deref(),
        Some("3")
    );
}

#[test]
fn a_replica_ignores_its_own_caps_and_applies_its_masters_evictions() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = Proc::start(md.path(), &[]);
    let replica = Proc::start(
        rd.path(),
        &["--replicaof", &replica_of(&master), "--max-concepts", "10"],
    );
    eventually("link up", || link_up(replica.port));
    let mut m = master.conn();
    let mut r = replica.conn();
    let get = |c: &mut RespConn, name: &str| match call(c, &["CONFIG", "GET", name]) {
        Resp::Array(Some(v)) => v[1].clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        get(&mut r, "replica-ignore-maxmemory"),
        Resp::Bulk(Some(b"yes".to_vec()))
    );
    for i in 0..50 {
        ok(&mut m, &["SET", &format!("k{i}"), "v"]);
    }
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    // Over its own cap of 10, the replica keeps everything its master has.
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 50);
    // The master's evictions reach it as deletions: the same keys stay.
    ok(&mut m, &["CONFIG", "SET", "max-concepts", "20"]);
    assert_eq!(int(call(&mut m, &["DBSIZE"])), 20);
    ok(&mut m, &["SET", "k-last", "v"]);
    assert_eq!(int(call(&mut m, &["WAIT", "1", "0"])), 1);
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 20);
    let keys = |c: &mut RespConn| match call(c, &["KEYS", "*"]) {
        Resp::Array(Some(mut v)) => {
            v.sort_by_key(|k| format!("{k:?}"));
            v
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(keys(&mut r), keys(&mut m));
    // Set to no, the replica enforces its own cap (as Redis does then).
    ok(&mut r, &["CONFIG", "SET", "replica-ignore-maxmemory", "no"]);
    assert_eq!(
        get(&mut r, "replica-ignore-maxmemory"),
        Resp::Bulk(Some(b"no".to_vec()))
    );
    assert_eq!(int(call(&mut r, &["DBSIZE"])), 10);
    match call(
        &mut r,
        &["CONFIG", "SET", "replica-ignore-maxmemory", "maybe"],
    ) {
        Resp::Error(e) => assert!(e.contains("'yes' or 'no'"), "{e}"),
        other => panic!("{other:?}"),
    }
    // A master enforces its caps whatever the setting says.
    ok(
        &mut m,
        &["CONFIG", "SET", "replica-ignore-maxmemory", "yes"],
    );
    ok(&mut m, &["CONFIG", "SET", "max-concepts", "5"]);
    assert_eq!(int(call(&mut m, &["DBSIZE"])), 5);
}

#[test]
fn replicaof_no_one_after_a_kill_9_of_the_master_keeps_every_wait_confirmed_write() {
    let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut master = Proc::start(md.path(), &[]);
    let replica = Proc::start(rd.path(), &[]);
    let mut r = replica.conn();
    // Made a replica by command this time.
    ok(
        &mut r,
        &["REPLICAOF", "127.0.0.1", &master.port.to_string()],
    );
    eventually("link up", || link_up(replica.port));
    // A writer confirms each batch with WAIT 1 while the master is killed under it.
    let port = master.port;
    let writer = std::thread::spawn(move || {
        let mut confirmed = Vec::new();
        let Ok(mut m) = RespConn::open(port) else {
            return confirmed;
        };
        for batch in 0.. {
            let keys: Vec<String> = (0..10).map(|i| format!("c{batch}-{i}")).collect();
            let mut cmds: Vec<Vec<&[u8]>> = keys
                .iter()
                .map(|k| vec![b"SET".as_slice(), k.as_bytes(), b"v"])
                .collect();
            cmds.push(vec![b"WAIT", b"1", b"0"]);
            match m.pipeline(&cmds) {
                Ok(replies) if replies.last() == Some(&Resp::Int(1)) => confirmed.extend(keys),
                _ => return confirmed,
            }
        }
        confirmed
    });
    eventually("some writes were confirmed", || {
        RespConn::open(replica.port)
            .map(|mut c| int(call(&mut c, &["DBSIZE"])) >= 200)
            .unwrap_or(false)
    });
    master.kill9();
    let confirmed = writer.join().unwrap();
    assert!(confirmed.len() >= 200, "{}", confirmed.len());
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    for k in &confirmed {
        assert_eq!(
            bulk(call(&mut r, &["GET", k])).as_deref(),
            Some("v"),
            "{k} was confirmed"
        );
    }
    // A master now: it takes writes, and keeps them across a restart.
    ok(&mut r, &["SET", "after-promotion", "yes"]);
    drop(r);
    let mut replica = replica;
    replica.kill9();
    replica.start_again();
    let mut r = replica.conn();
    assert_eq!(
        bulk(call(&mut r, &["GET", "after-promotion"])).as_deref(),
        Some("yes")
    );
    assert_eq!(
        bulk(call(&mut r, &["GET", &confirmed[0]])).as_deref(),
        Some("v")
    );
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
}

#[test]
fn a_master_in_memory_is_refused_and_replicaof_checks_its_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let mem_port = free_port();
    let mut mem = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .args([
            "serve",
            "--port",
            &mem_port.to_string(),
            "--in-memory",
            "true",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    eventually("in-memory server up", || RespConn::open(mem_port).is_ok());
    let mut c = RespConn::open(mem_port).unwrap();
    // Asked directly: the reason.
    match call(&mut c, &["SUTRA.PSYNC", "?", "-1"]) {
        Resp::Error(e) => assert!(e.contains("data directory"), "{e}"),
        other => panic!("{other:?}"),
    }
    let replica = Proc::start(
        dir.path(),
        &["--replicaof", &format!("127.0.0.1:{mem_port}")],
    );
    let mut r = replica.conn();
    assert_eq!(
        info_field(&mut r, "replication", "master_link_status").as_deref(),
        Some("down")
    );
    assert_eq!(
        call(&mut r, &["REPLICAOF", "127.0.0.1", "0"]),
        Resp::Error("ERR Invalid master port".into())
    );
    assert!(
        matches!(call(&mut r, &["REPLICAOF", "a"]), Resp::Error(e) if e.contains("wrong number"))
    );
    ok(&mut r, &["REPLICAOF", "NO", "ONE"]);
    ok(&mut r, &["SET", "k", "v"]);
    let _ = mem.kill();
    let _ = mem.wait();
}

/// A `--cluster-mode yes` node with a data directory.
fn cluster_node(dir: &Path) -> Proc {
    Proc::start(dir, &["--cluster-mode", "yes"])
}

fn manager(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("cluster")
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "cluster {args:?}: {text}");
    text
}

/// A key whose slot node `port` owns (by asking it: no -MOVED).
fn key_served_by(c: &mut RespConn, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| !matches!(call(c, &["GET", k]), Resp::Error(_)))
        .unwrap()
}

#[test]
fn in_a_cluster_the_manager_adds_a_replica_that_serves_readonly_reads_and_promotes_it() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut a = cluster_node(dirs[0].path());
    let b = cluster_node(dirs[1].path());
    let c = cluster_node(dirs[2].path());
    let (ea, eb, ec) = (replica_of(&a), replica_of(&b), replica_of(&c));
    manager(&["create", &ea, &eb]);
    manager(&["add-replica", &eb, &ec, &ea]);
    let mut ca = a.conn();
    let key = key_served_by(&mut ca, "k");
    ok(&mut ca, &["SET", &key, "v1"]);
    eventually("the replica's link is up", || link_up(c.port));
    assert_eq!(int(call(&mut ca, &["WAIT", "1", "0"])), 1);

    // The topology lists the replica: CLUSTER SLOTS (after the master), SHARDS, NODES.
    let mut cb = b.conn();
    let Resp::Array(Some(ranges)) = call(&mut cb, &["CLUSTER", "SLOTS"]) else {
        panic!()
    };
    let with_replica: Vec<_> = ranges
        .iter()
        .filter_map(|r| match r {
            Resp::Array(Some(v)) if v.len() == 4 => Some(v[3].clone()),
            _ => None,
        })
        .collect();
    assert_eq!(with_replica.len(), 1, "{ranges:?}");
    let Resp::Array(Some(node)) = &with_replica[0] else {
        panic!()
    };
    assert_eq!(node[1], Resp::Int(c.port as i64));
    let nodes = bulk(call(&mut cb, &["CLUSTER", "NODES"])).unwrap();
    let line = nodes.lines().find(|l| l.contains(&ec)).unwrap();
    assert!(line.contains(" slave "), "{line}");

    // On the replica: reads after READONLY, else -MOVED to the master; writes -MOVED.
    let mut cc = c.conn();
    match call(&mut cc, &["GET", &key]) {
        Resp::Error(e) => assert!(e.starts_with("MOVED") && e.ends_with(&ea), "{e}"),
        other => panic!("{other:?}"),
    }
    ok(&mut cc, &["READONLY"]);
    assert_eq!(bulk(call(&mut cc, &["GET", &key])).as_deref(), Some("v1"));
    match call(&mut cc, &["SET", &key, "x"]) {
        Resp::Error(e) => assert!(e.starts_with("MOVED"), "{e}"),
        other => panic!("{other:?}"),
    }

    // redis-py's RedisCluster reads from the replica with read_from_replicas=True.
    if !server_support::tools::missing_redis_py() {
        let script = format!(
            "import redis\n\
             from redis.cluster import RedisCluster, ClusterNode\n\
             rc = RedisCluster(startup_nodes=[ClusterNode('127.0.0.1', {}), ClusterNode('127.0.0.1', {})], read_from_replicas=True)\n\
             assert any(n.server_type == 'replica' and n.port == {} for n in rc.get_nodes()), rc.get_nodes()\n\
             for _ in range(40):\n    assert rc.get('{key}') == b'v1'\n\
             rc.set('{key}', 'v2')\n",
            a.port, b.port, c.port
        );
        let gets = |c: &mut RespConn| -> i64 {
            let stats = bulk(call(c, &["INFO", "commandstats"])).unwrap();
            stats
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
                .and_then(|l| l.split(',').next())
                .map_or(0, |n| n.parse().unwrap())
        };
        let before = gets(&mut cc);
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            gets(&mut cc) > before,
            "the replica served some of redis-py's GETs"
        );
        assert_eq!(int(call(&mut ca, &["WAIT", "1", "0"])), 1);
    }

    // The master is lost; the manager promotes its replica, which has every acknowledged
    // write and takes new ones for the shard's slots.
    a.kill9();
    manager(&["promote", &eb, &ec]);
    let mut cc = c.conn();
    let value = bulk(call(&mut cc, &["GET", &key])).unwrap();
    assert!(value == "v1" || value == "v2", "{value}");
    ok(&mut cc, &["SET", &key, "v3"]);
    assert_eq!(bulk(call(&mut cc, &["GET", &key])).as_deref(), Some("v3"));
    let text = manager(&["check", &eb]);
    assert!(!text.contains(&ea), "{text}");
    match call(&mut cb, &["GET", &key]) {
        Resp::Error(e) => assert!(e.ends_with(&ec), "{e}"),
        other => panic!("{other:?}"),
    }
}
