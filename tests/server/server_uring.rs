//! The plain port's clients over io_uring (`--io-uring-sockets yes`), driven through RESP:
//! what the epoll path does, the io_uring path must do too — pipelines, values larger than
//! the receive and send buffers, many connections, clients leaving mid-reply, CLIENT KILL,
//! the output-buffer limit, shutdown with clients connected. (The other server suites run
//! on the default path; `SUTRA_IO_URING_SOCKETS=yes|no|auto` runs them on the one named.)

use crate::server_support;

use std::io::{Read, Write};
use std::net::Shutdown;

use server_support::{cmd, words, Conn, TestServer};
use sutra_cache::server::ServerConfig;

/// A server with io_uring client sockets, or `None` (said) where io_uring is not usable.
fn uring_server(config: ServerConfig) -> Option<TestServer> {
    if let Err(e) = sutra_cache::server::io_uring_sockets_available() {
        eprintln!("io_uring not usable here ({e}): nothing to test");
        return None;
    }
    let srv = TestServer::exactly(ServerConfig {
        io_uring_sockets: "yes".into(),
        ..config
    });
    let mut c = srv.connect();
    let info = String::from_utf8_lossy(&c.call(&[b"INFO", b"server"])).into_owned();
    assert!(info.contains("io_uring_sockets:yes\r\n"), "{info}");
    Some(srv)
}

fn connected_clients(c: &mut Conn) -> usize {
    let info = String::from_utf8_lossy(&c.call(&[b"INFO", b"clients"])).into_owned();
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("connected_clients:"))
        .unwrap_or_else(|| panic!("{info}"));
    line.trim().parse().unwrap()
}

/// Asks until only `n` clients are connected (a closed connection's task ends after its
/// close is seen; no time limit beyond the client's read timeout on each call).
fn wait_for_clients(c: &mut Conn, n: usize) {
    while connected_clients(c) != n {
        std::thread::yield_now();
    }
}

#[test]
fn epoll_is_kept_when_asked() {
    let srv = TestServer::exactly(ServerConfig {
        io_uring_sockets: "no".into(),
        ..ServerConfig::default()
    });
    let mut c = srv.connect();
    let info = String::from_utf8_lossy(&c.call(&[b"INFO", b"server"])).into_owned();
    assert!(info.contains("io_uring_sockets:no\r\n"), "{info}");
    c.check_words("SET k v", "+OK\r\n");
    c.check_words("GET k", "$1\r\nv\r\n");
}

#[test]
fn unpipelined_and_pipelined_requests() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut c = srv.connect();
    for i in 0..200 {
        let v = format!("value-{i}");
        c.check_words(&format!("SET key:{i} {v}"), "+OK\r\n");
        c.check_words(&format!("GET key:{i}"), &format!("${}\r\n{v}\r\n", v.len()));
    }
    // 1,000 requests in one write, the replies in order.
    let mut pipeline = Vec::new();
    let mut expected = Vec::new();
    for i in 0..1000 {
        pipeline.extend_from_slice(&words(&format!("INCR counter:{}", i % 7)));
        expected.extend_from_slice(format!(":{}\r\n", i / 7 + 1).as_bytes());
    }
    c.check(&pipeline, &expected);
    // The same pipeline one byte at a time through the kernel (many small receives).
    let mut c2 = srv.connect();
    let req = words("GET key:5");
    for b in req.iter().chain(req.iter()) {
        c2.send(std::slice::from_ref(b));
    }
    c2.check(b"", b"$7\r\nvalue-5\r\n$7\r\nvalue-5\r\n");
}

#[test]
fn values_larger_than_the_ring_buffers() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut c = srv.connect();
    // 3 MiB: many 16 KiB receives in, several 256 KiB sends out.
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    c.check(&cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    let mut expected = format!("${}\r\n", big.len()).into_bytes();
    expected.extend_from_slice(&big);
    expected.extend_from_slice(b"\r\n");
    c.check(&words("GET big"), &expected);
    // Pipelined: the replies of three large GETs in a row.
    let three = [words("GET big"), words("GET big"), words("GET big")].concat();
    c.check(&three, &expected.repeat(3));
}

#[test]
fn many_connections_at_once() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut conns: Vec<Conn> = (0..300).map(|_| srv.connect()).collect();
    // Every connection sends before any reads: all their operations are in flight together.
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(
            &[
                words(&format!("SET c:{i} {i}")),
                words(&format!("GET c:{i}")),
            ]
            .concat(),
        );
    }
    for (i, c) in conns.iter_mut().enumerate() {
        let v = i.to_string();
        c.check(b"", format!("+OK\r\n${}\r\n{v}\r\n", v.len()).as_bytes());
    }
    let mut probe = srv.connect();
    assert_eq!(connected_clients(&mut probe), 301);
    conns.clear();
    wait_for_clients(&mut probe, 1);
    probe.check_words("DBSIZE", ":300\r\n");
}

#[test]
fn a_client_leaving_mid_reply_leaves_the_server_serving() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut c = srv.connect();
    let big = vec![b'x'; 1 << 20];
    c.check(&cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    let mut probe = srv.connect();
    for _ in 0..20 {
        let mut gone = srv.connect();
        // 8 MiB of replies asked for; a little read, then the client closes.
        gone.send(&words("GET big").repeat(8));
        let mut some = [0u8; 4096];
        let _ = gone.s.read(&mut some);
        gone.s.shutdown(Shutdown::Both).unwrap();
        drop(gone);
    }
    wait_for_clients(&mut probe, 2);
    c.check_words("STRLEN big", ":1048576\r\n");
    probe.check_words("PING", "+PONG\r\n");
}

#[test]
fn client_kill_closes_an_io_uring_client() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut victim = srv.connect();
    let id = String::from_utf8_lossy(&victim.call(&[b"CLIENT", b"ID"]))
        .trim_start_matches(':')
        .trim()
        .to_string();
    let mut killer = srv.connect();
    killer.check_words(&format!("CLIENT KILL ID {id}"), ":1\r\n");
    // Its receive was in flight: the kill ends it and the client sees the close.
    assert!(victim.is_closed());
    wait_for_clients(&mut killer, 1);
    killer.check_words("PING", "+PONG\r\n");
}

#[test]
fn a_slow_consumer_is_cut_at_the_output_buffer_limit() {
    let Some(srv) = uring_server(ServerConfig {
        client_output_buffer_limit: 1 << 20,
        ..ServerConfig::default()
    }) else {
        return;
    };
    let mut c = srv.connect();
    let big = vec![b'v'; 256 << 10];
    c.check(&cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    // Never reads: the socket's buffers fill, the replies queue past 1 MiB, and the server
    // closes the connection. Writing fails once it has.
    let mut slow = srv.connect();
    slow.s.set_read_timeout(None).unwrap();
    let req = words("GET big").repeat(64);
    let mut writes = 0;
    while slow.s.write_all(&req).is_ok() {
        writes += 1;
        assert!(writes < 100_000, "still accepting requests");
    }
    // Everything sent before the cut is readable, then the end.
    let mut rest = Vec::new();
    let _ = slow.s.read_to_end(&mut rest);
    let info = String::from_utf8_lossy(&c.call(&[b"INFO", b"stats"])).into_owned();
    assert!(
        info.contains("client_output_buffer_limit_disconnections:1\r\n"),
        "{info}"
    );
    c.check_words("STRLEN big", ":262144\r\n");
}

#[test]
fn shutdown_with_clients_connected_answers_what_they_sent() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut idle: Vec<Conn> = (0..20).map(|_| srv.connect()).collect();
    for c in idle.iter_mut() {
        c.check_words("PING", "+PONG\r\n");
    }
    let mut last = srv.connect();
    last.check_words("SET k v", "+OK\r\n");
    srv.stop().expect("stopped cleanly");
    // Every connection is closed by the stop.
    for c in idle.iter_mut() {
        assert!(c.is_closed());
    }
    assert!(last.is_closed());
}

#[test]
fn a_client_that_shuts_its_side_still_gets_its_replies() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut c = srv.connect();
    let value = vec![b'z'; 100 << 10];
    c.send(&[cmd(&[b"SET", b"k", &value]), words("GET k"), words("QUIT")].concat());
    c.s.shutdown(Shutdown::Write).unwrap();
    let mut all = Vec::new();
    c.s.read_to_end(&mut all).unwrap();
    let mut expected = b"+OK\r\n".to_vec();
    expected.extend_from_slice(format!("${}\r\n", value.len()).as_bytes());
    expected.extend_from_slice(&value);
    expected.extend_from_slice(b"\r\n+OK\r\n");
    assert_eq!(all.len(), expected.len());
    assert!(all == expected);
}

#[test]
fn http_is_served_over_io_uring_too() {
    let Some(srv) = uring_server(ServerConfig::default()) else {
        return;
    };
    let mut c = srv.connect();
    c.send(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    let mut all = Vec::new();
    c.s.read_to_end(&mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
}
