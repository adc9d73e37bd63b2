//! Transactions over TCP: MULTI/EXEC/DISCARD/WATCH/UNWATCH/RESET with Redis 7's exact bytes,
//! EXEC's isolation from other clients, WATCH as optimistic locking, and EXEC's writes
//! surviving a restart.

use crate::server_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use server_support::{cmd, words, Conn, TestServer};
use sutra_cache::server::ServerConfig;

/// Sends every line as one pipeline and checks the concatenated replies.
#[track_caller]
fn check_lines(c: &mut Conn, lines: &[&str], expected: &str) {
    let input: Vec<u8> = lines.iter().flat_map(|l| words(l)).collect();
    c.check(&input, expected.as_bytes());
}

#[test]
fn multi_exec_discard_answer_as_redis_7() {
    // Every expected byte string below is what Redis 7.0.15 answered to the same input.
    let srv = TestServer::start();
    let mut c = srv.connect();
    c.check_words("EXEC", "-ERR EXEC without MULTI\r\n");
    c.check_words("DISCARD", "-ERR DISCARD without MULTI\r\n");
    check_lines(&mut c, &["MULTI", "EXEC"], "+OK\r\n*0\r\n");
    check_lines(
        &mut c,
        &[
            "MULTI", "SET a 1", "SET a x", "GET a", "PING", "ECHO hi", "EXEC",
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *5\r\n+OK\r\n+OK\r\n$1\r\nx\r\n+PONG\r\n$2\r\nhi\r\n",
    );
    // Nested MULTI and WATCH inside MULTI are refused without dooming the transaction.
    check_lines(
        &mut c,
        &["MULTI", "MULTI", "WATCH x", "SET a 2", "EXEC"],
        "+OK\r\n-ERR MULTI calls can not be nested\r\n-ERR WATCH inside MULTI is not allowed\r\n\
         +QUEUED\r\n*1\r\n+OK\r\n",
    );
    // A command refused while queuing (arity, unknown, not allowed) dooms it.
    check_lines(
        &mut c,
        &["MULTI", "SET a", "GET a", "EXEC"],
        "+OK\r\n-ERR wrong number of arguments for 'set' command\r\n+QUEUED\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    check_lines(
        &mut c,
        &["MULTI", "NOSUCH x", "EXEC"],
        "+OK\r\n-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    check_lines(
        &mut c,
        &["MULTI", "SAVE", "EXEC"],
        "+OK\r\n-ERR Command not allowed inside a transaction\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    check_lines(
        &mut c,
        &["MULTI", "SHUTDOWN", "EXEC"],
        "+OK\r\n-ERR Command not allowed inside a transaction\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    // No rollback: an error at run time answers inside EXEC's reply, the rest still runs.
    check_lines(
        &mut c,
        &["MULTI", "SET k v EX 0", "SET k w", "GET k", "EXEC"],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *3\r\n-ERR invalid expire time in 'set' command\r\n+OK\r\n$1\r\nw\r\n",
    );
    // DISCARD drops the queue: nothing of it ran.
    check_lines(
        &mut c,
        &["MULTI", "SET d 1", "DISCARD", "GET d"],
        "+OK\r\n+QUEUED\r\n+OK\r\n$-1\r\n",
    );
    check_lines(
        &mut c,
        &["MULTI", "SET d 1", "RESET", "EXEC", "GET d"],
        "+OK\r\n+QUEUED\r\n+RESET\r\n-ERR EXEC without MULTI\r\n$-1\r\n",
    );
    check_lines(
        &mut c,
        &["MULTI", "FLUSHALL", "DBSIZE", "EXEC"],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n:0\r\n",
    );
    check_lines(&mut c, &["MULTI", "QUIT"], "+OK\r\n+OK\r\n");
    assert!(c.is_closed());

    // RESP3: an aborted EXEC is a null.
    let mut c = srv.connect();
    let hello = c.call(&[b"HELLO", b"3"]);
    assert!(hello.starts_with(b"%7\r\n"));
    check_lines(
        &mut c,
        &["MULTI", "GET zz", "EXEC"],
        "+OK\r\n+QUEUED\r\n*1\r\n_\r\n",
    );
    let mut other = srv.connect();
    check_lines(&mut c, &["SET w 1", "WATCH w"], "+OK\r\n+OK\r\n");
    other.check_words("SET w 2", "+OK\r\n");
    check_lines(
        &mut c,
        &["MULTI", "GET w", "EXEC"],
        "+OK\r\n+QUEUED\r\n_\r\n",
    );
}

#[test]
fn watch_aborts_exec_exactly_when_redis_does() {
    // Expected bytes checked against Redis 7.0.15 for the same two-client sequences.
    let srv = TestServer::start();
    let mut a = srv.connect();
    let mut b = srv.connect();
    let aborted = "+OK\r\n+QUEUED\r\n*-1\r\n";
    let exec_get = |v: &str| {
        if v.is_empty() {
            "+OK\r\n+QUEUED\r\n*1\r\n$-1\r\n".to_string()
        } else {
            format!("+OK\r\n+QUEUED\r\n*1\r\n${}\r\n{v}\r\n", v.len())
        }
    };
    let watch = |a: &mut Conn, k: &str| a.check_words(&format!("WATCH {k}"), "+OK\r\n");
    let exec = |a: &mut Conn, k: &str, expected: &str| {
        check_lines(a, &["MULTI", &format!("GET {k}"), "EXEC"], expected)
    };

    a.check_words(
        "WATCH",
        "-ERR wrong number of arguments for 'watch' command\r\n",
    );
    a.check_words("UNWATCH", "+OK\r\n");

    // Another client's write aborts; so does this client's own.
    watch(&mut a, "k");
    b.check_words("SET k 1", "+OK\r\n");
    exec(&mut a, "k", aborted);
    watch(&mut a, "k");
    a.check_words("SET k 2", "+OK\r\n");
    exec(&mut a, "k", aborted);
    // A write that changed nothing does not.
    watch(&mut a, "k");
    b.check_words("SET k 3 NX", "$-1\r\n");
    b.check_words("DEL missing", ":0\r\n");
    b.check_words("EXPIRE missing 10", ":0\r\n");
    b.check_words("PERSIST k", ":0\r\n");
    exec(&mut a, "k", &exec_get("2"));
    // EXEC unwatches: a later write does not reach the next transaction.
    b.check_words("SET k 4", "+OK\r\n");
    exec(&mut a, "k", &exec_get("4"));
    // Neither after UNWATCH or DISCARD.
    watch(&mut a, "k");
    b.check_words("SET k 5", "+OK\r\n");
    a.check_words("UNWATCH", "+OK\r\n");
    exec(&mut a, "k", &exec_get("5"));
    watch(&mut a, "k");
    check_lines(&mut a, &["MULTI", "DISCARD"], "+OK\r\n+OK\r\n");
    b.check_words("SET k 6", "+OK\r\n");
    exec(&mut a, "k", &exec_get("6"));
    // MSET, DEL and EXPIRE of a watched key abort; so does one of several watched keys.
    for write in ["MSET x 1 k 7", "EXPIRE k 100", "DEL k"] {
        a.check_words("WATCH other k", "+OK\r\n");
        b.check_words(
            write,
            if write.starts_with("MSET") {
                "+OK\r\n"
            } else {
                ":1\r\n"
            },
        );
        exec(&mut a, "k", aborted);
    }
    // A key that did not exist, created by another client.
    watch(&mut a, "k");
    b.check_words("SET k 8", "+OK\r\n");
    exec(&mut a, "k", aborted);
    // FLUSHALL changes the watched keys that exist, and only those.
    watch(&mut a, "k");
    b.check_words("FLUSHALL", "+OK\r\n");
    exec(&mut a, "k", aborted);
    watch(&mut a, "k");
    b.check_words("FLUSHALL", "+OK\r\n");
    exec(&mut a, "k", &exec_get(""));
    // A watched key that expires before EXEC counts as changed.
    a.check_words("SET e 1 PX 30", "+OK\r\n");
    watch(&mut a, "e");
    std::thread::sleep(std::time::Duration::from_millis(80));
    exec(&mut a, "e", aborted);
    // Vector sets: an element added to a watched set aborts.
    watch(&mut a, "vs");
    b.check_words("VADD vs VALUES 2 1 0 e1", ":1\r\n");
    exec(&mut a, "vs", aborted);
    // A client that disconnects while watching leaves nothing behind.
    let mut gone = srv.connect();
    gone.check_words("WATCH k", "+OK\r\n");
    drop(gone);
    watch(&mut a, "k");
    exec(&mut a, "k", &exec_get(""));
}

/// One client runs transactions that set ten keys to the same value while others read all
/// ten: with EXEC isolated, no read ever sees two values.
#[test]
fn no_client_sees_a_transaction_half_done() {
    let srv = TestServer::start();
    const KEYS: usize = 10;
    const ROUNDS: usize = 3000;
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let mut c = srv.connect();
        let stop = stop.clone();
        readers.push(std::thread::spawn(move || {
            let names: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
            let mut args: Vec<&[u8]> = vec![b"MGET"];
            args.extend(names.iter().map(|n| n.as_bytes()));
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let reply = String::from_utf8(c.call(&args)).unwrap();
                let mut lines = reply.split("\r\n").skip(1);
                let mut values = Vec::new();
                while let Some(head) = lines.next() {
                    match head {
                        "$-1" => values.push("nil"),
                        h if h.starts_with('$') => values.push(lines.next().unwrap_or("")),
                        _ => {}
                    }
                }
                assert_eq!(values.len(), KEYS, "{reply:?}");
                let first = values[0];
                assert!(
                    values.iter().all(|v| *v == first),
                    "a read saw a transaction half done: {reply:?}"
                );
                reads += 1;
            }
            reads
        }));
    }
    let mut w = srv.connect();
    let mut expected = Vec::new();
    let mut input = Vec::new();
    for round in 0..ROUNDS {
        input.clear();
        expected.clear();
        input.extend(words("MULTI"));
        expected.extend(b"+OK\r\n");
        for i in 0..KEYS {
            input.extend(cmd(&[
                b"SET",
                format!("k{i}").as_bytes(),
                format!("{round:06}").as_bytes(),
            ]));
            expected.extend(b"+QUEUED\r\n");
        }
        input.extend(words("EXEC"));
        expected.extend(format!("*{KEYS}\r\n").as_bytes());
        for _ in 0..KEYS {
            expected.extend(b"+OK\r\n");
        }
        w.check(&input, &expected);
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(reads > 100, "readers ran only {reads} reads");
}

/// WATCH as optimistic locking: several clients increment one counter by GET, then
/// MULTI / SET / EXEC, retrying when EXEC aborts. No increment is lost.
#[test]
fn watch_makes_read_modify_write_safe_under_contention() {
    let srv = TestServer::start();
    const CLIENTS: usize = 4;
    const EACH: usize = 150;
    let mut threads = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = srv.connect();
        threads.push(std::thread::spawn(move || {
            let mut retries = 0;
            for _ in 0..EACH {
                loop {
                    c.check_words("WATCH counter", "+OK\r\n");
                    let got = String::from_utf8(c.call(&[b"GET", b"counter"])).unwrap();
                    let n: u64 = got
                        .split("\r\n")
                        .nth(1)
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let next = (n + 1).to_string();
                    c.send(&words("MULTI"));
                    c.send(&cmd(&[b"SET", b"counter", next.as_bytes()]));
                    c.send(&words("EXEC"));
                    let replies = [c.read_reply(), c.read_reply(), c.read_reply()];
                    assert_eq!(replies[0], b"+OK\r\n");
                    assert_eq!(replies[1], b"+QUEUED\r\n");
                    match &replies[2][..] {
                        b"*1\r\n+OK\r\n" => break,
                        b"*-1\r\n" => retries += 1,
                        other => panic!("EXEC answered {:?}", String::from_utf8_lossy(other)),
                    }
                }
            }
            retries
        }));
    }
    let retries: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut c = srv.connect();
    let total = (CLIENTS * EACH).to_string();
    c.check_words("GET counter", &format!("${}\r\n{total}\r\n", total.len()));
    // Contention happened (else the test proved nothing about WATCH).
    assert!(retries > 0, "no EXEC was ever aborted");
}

#[test]
fn a_durable_exec_is_acknowledged_once_logged_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        ServerConfig::try_parse_from([
            "x",
            "--in-memory",
            "false",
            "--storage-path",
            dir.path().to_str().unwrap(),
            "--wal-sync-interval-ms",
            "0",
        ])
        .unwrap()
    };
    let srv = TestServer::with_config(config());
    let mut c = srv.connect();
    let lsn_before = srv.engine.last_lsn();
    check_lines(
        &mut c,
        &[
            "MULTI",
            "SET a 1",
            "SET b 2 EX 1000",
            "VADD vs VALUES 2 1 0 e1",
            "DEL nothing",
            "APPEND a 5",
            "VSETATTR vs e1 {\"n\":1}",
            "EXEC",
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *6\r\n+OK\r\n+OK\r\n:1\r\n:0\r\n:2\r\n:1\r\n",
    );
    // The five writes went to the log as one record (APPEND and VSETATTR too): a crash
    // recovers all or none.
    assert_eq!(srv.engine.last_lsn(), lsn_before + 1);
    let engine = srv.engine.clone();
    srv.stop().unwrap();
    engine.close().unwrap();
    drop(engine);
    let srv = TestServer::with_config(config());
    let mut c = srv.connect();
    c.check_words("MGET a b", "*2\r\n$2\r\n15\r\n$1\r\n2\r\n");
    c.check_words("VCARD vs", ":1\r\n");
    c.check_words("VGETATTR vs e1", "$7\r\n{\"n\":1}\r\n");
    let ttl = String::from_utf8(c.call(&[b"TTL", b"b"])).unwrap();
    assert!(ttl.starts_with(":9") || ttl.starts_with(":1000"), "{ttl}");
}
