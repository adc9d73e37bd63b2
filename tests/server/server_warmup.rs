//! Warm-up after a restart (issue #15 point 5): the hot set the lookups made before a restart
//! is paged in first after it, and `/health` (and `sutra-cache health`) says when the shard
//! is warm.

use crate::server_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use server_support::{Conn, TestServer};
use sutra_cache::server::ServerConfig;

fn durable(dir: &Path) -> ServerConfig {
    ServerConfig::try_parse_from([
        "x",
        "--in-memory",
        "false",
        "--storage-path",
        dir.to_str().expect("utf-8 temp path"),
    ])
    .expect("flags parse")
}

fn health(srv: &TestServer) -> serde_json::Value {
    let mut h = TcpStream::connect(srv.addr).unwrap();
    h.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    h.write_all(b"GET /health HTTP/1.0\r\n\r\n").unwrap();
    let mut resp = String::new();
    h.read_to_string(&mut resp).unwrap();
    let body = resp.split("\r\n\r\n").nth(1).expect("a body");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// Polls /health until it says warm (a generous deadline: the machine is shared).
fn wait_warm(srv: &TestServer) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let h = health(srv);
        if h["warm"] == true {
            return h;
        }
        assert!(Instant::now() < deadline, "never warm: {h}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stop(srv: TestServer) {
    let engine = srv.engine.clone();
    srv.stop().expect("run returns Ok");
    engine.close().expect("engine closes");
}

fn fill(c: &mut Conn, n: usize) {
    for i in 0..n {
        let (x, y) = ((i % 17) as f32, (i / 17) as f32 + 1.0);
        let line = format!("VADD emb:m VALUES 4 {x} {y} 1 0.5 e{i}");
        c.check_words(&line, ":1\r\n");
    }
}

#[test]
fn after_a_restart_health_says_warm_once_the_hot_set_from_before_it_is_paged_in() {
    let dir = tempfile::tempdir().unwrap();
    {
        let srv = TestServer::with_config(durable(dir.path()));
        // Nothing mapped yet (no snapshot loaded): warm at once, with no hot set.
        let h = health(&srv);
        assert_eq!(h["warm"], true, "{h}");
        assert_eq!(h["warmup"]["hot_elements"], 0, "{h}");
        let mut c = srv.connect();
        fill(&mut c, 600);
        for (name, times) in [("e1", 5), ("e2", 3), ("e599", 1)] {
            for _ in 0..times {
                let r = c.call(&[b"VEMB", b"emb:m", name.as_bytes()]);
                assert!(r.starts_with(b"*4\r\n"), "{}", String::from_utf8_lossy(&r));
            }
        }
        // A lookup of an element that is not there is not part of the hot set.
        assert_eq!(c.call(&[b"VEMB", b"emb:m", b"absent"]), b"$-1\r\n");
        stop(srv); // closing writes the snapshot and the hot set
    }
    let srv = TestServer::with_config(durable(dir.path()));
    let h = wait_warm(&srv);
    let w = &h["warmup"];
    assert_eq!(w["phase"], "warm", "{h}");
    assert_eq!(w["hot_elements"], 3, "{h}");
    assert_eq!(w["hot_paged"], 3, "{h}");
    assert_eq!(w["graphs_pending"], 0, "{h}");
    // 600 rows of 4 floats and a norm each, at least, came from the snapshot's mapping.
    assert!(w["bytes_paged"].as_u64().unwrap() >= 600 * 20, "{h}");
    // The probe the container runs says it too.
    let line = sutra_cache::server::check_health(
        &srv.addr.ip().to_string(),
        srv.addr.port(),
        Duration::from_secs(5),
    )
    .expect("healthy");
    assert!(line.ends_with(", warm"), "{line}");
    stop(srv);

    // No lookups since the restart: the hot set from before it is kept for the next one;
    // lookups after this one make the next hot set.
    let srv = TestServer::with_config(durable(dir.path()));
    let h = wait_warm(&srv);
    assert_eq!(h["warmup"]["hot_elements"], 3, "{h}");
    let mut c = srv.connect();
    let r = c.call(&[b"VEMB", b"emb:m", b"e5"]);
    assert!(r.starts_with(b"*4\r\n"), "{}", String::from_utf8_lossy(&r));
    stop(srv);
    let srv = TestServer::with_config(durable(dir.path()));
    let h = wait_warm(&srv);
    assert_eq!(h["warmup"]["hot_elements"], 1, "{h}");
    stop(srv);
}

#[test]
fn a_hot_element_removed_before_the_restart_is_left_out_of_the_hot_set() {
    let dir = tempfile::tempdir().unwrap();
    {
        let srv = TestServer::with_config(durable(dir.path()));
        let mut c = srv.connect();
        fill(&mut c, 50);
        for name in ["e7", "e8"] {
            let r = c.call(&[b"VEMB", b"emb:m", name.as_bytes()]);
            assert!(r.starts_with(b"*4\r\n"));
        }
        c.check_words("SAVE", "+OK\r\n"); // the snapshot writes the hot set too
        c.check_words("VREM emb:m e8", ":1\r\n");
        // Closing counts the hot set again: e8 is gone, so only e7 is kept.
        stop(srv);
    }
    let srv = TestServer::with_config(durable(dir.path()));
    let h = wait_warm(&srv);
    assert_eq!(h["warmup"]["hot_elements"], 1, "{h}");
    assert_eq!(h["warmup"]["hot_paged"], 1, "{h}");
    stop(srv);
}

#[test]
fn analytics_next_offers_what_was_looked_up_right_after_an_element_then_its_nearest() {
    let srv = TestServer::start();
    let mut c = srv.connect();
    fill(&mut c, 60);
    for round in 0..6 {
        for name in ["e1", "e40", &format!("e{}", 10 + round)] {
            let r = c.call(&[b"VEMB", b"emb:m", name.as_bytes()]);
            assert!(r.starts_with(b"*4\r\n"), "{}", String::from_utf8_lossy(&r));
        }
    }
    // At most 4 successors are kept per element, so 6 ends with nearest elements.
    let r = c.call(&[b"ANALYTICS", b"NEXT", b"emb:m", b"e1", b"COUNT", b"6"]);
    let text = String::from_utf8_lossy(&r).into_owned();
    // e40 followed e1 every time: first, with its count; then e1's nearest (count 0).
    assert!(text.starts_with("*6\r\n*2\r\n$3\r\ne40\r\n:"), "{text}");
    assert!(text.ends_with(":0\r\n"), "{text}");
    assert!(
        !text.contains("$2\r\ne1\r\n"),
        "never the element itself: {text}"
    );
    // Nothing looked up after it yet: its nearest only.
    let r = c.call(&[b"ANALYTICS", b"NEXT", b"emb:m", b"e59", b"COUNT", b"2"]);
    let text = String::from_utf8_lossy(&r).into_owned();
    assert!(
        text.starts_with("*2\r\n") && text.matches(":0\r\n").count() == 2,
        "{text}"
    );
    // A missing set or element: nothing to offer; bad arguments say which.
    c.check_words("ANALYTICS NEXT nosuch e1", "*0\r\n");
    c.check_words("ANALYTICS NEXT emb:m absent", "*0\r\n");
    let r = c.call(&[b"ANALYTICS", b"NEXT", b"emb:m", b"e1", b"COUNT", b"0"]);
    assert!(
        String::from_utf8_lossy(&r).contains("COUNT must be"),
        "{r:?}"
    );
    let r = c.call(&[b"ANALYTICS", b"NEXT", b"emb:m"]);
    assert!(String::from_utf8_lossy(&r).starts_with("-ERR"), "{r:?}");
}
