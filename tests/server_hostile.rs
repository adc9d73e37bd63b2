//! The hostile-input catalogue: each case gets Redis's kind of error or a closed
//! connection; a client connected throughout is unaffected; nothing stored is lost.

mod server_support;

use std::time::{Duration, Instant};

use server_support::{cmd, f32le, show, words, Conn, TestServer};
use sutra_cache::server::ServerConfig;

/// What a hostile input must get.
enum Expect {
    /// This error (or reply), then the connection is closed.
    ErrorThenClose(&'static str),
    /// This reply, and the connection still serves (PING answers).
    Reply(&'static str),
    /// A reply starting with this, and the connection still serves.
    ReplyPrefix(&'static str),
    /// An HTTP response starting with this status line, then closed.
    Http(&'static str),
}

fn case(name: &'static str, input: Vec<u8>, expect: Expect) -> (&'static str, Vec<u8>, Expect) {
    (name, input, expect)
}

fn repeat(s: &str, n: usize) -> String {
    s.repeat(n)
}

fn catalogue() -> Vec<(&'static str, Vec<u8>, Expect)> {
    use Expect::*;
    const BULK: &str = "-ERR Protocol error: invalid bulk length\r\n";
    const MULTI: &str = "-ERR Protocol error: invalid multibulk length\r\n";
    let mut nan_blob = f32le(&[1.0, 0.0]);
    nan_blob[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    vec![
        case(
            "negative bulk length",
            b"*1\r\n$-5\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "non-numeric bulk length",
            b"*1\r\n$abc\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "overflowing bulk length",
            b"*1\r\n$99999999999999999999\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "bulk length over the limit",
            b"*1\r\n$67108865\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "bulk length with a plus sign",
            b"*1\r\n$+3\r\nGET\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "empty bulk length",
            b"*1\r\n$\r\n".to_vec(),
            ErrorThenClose(BULK),
        ),
        case(
            "non-numeric array length",
            b"*abc\r\n".to_vec(),
            ErrorThenClose(MULTI),
        ),
        case(
            "overflowing array length",
            b"*99999999999\r\n".to_vec(),
            ErrorThenClose(MULTI),
        ),
        case(
            "array length over the limit",
            b"*2000000\r\n".to_vec(),
            ErrorThenClose(MULTI),
        ),
        case(
            "negative array length is an empty request",
            b"*-5\r\n*1\r\n$4\r\nECHO\r\n".to_vec(),
            Reply("-ERR wrong number of arguments for 'echo' command\r\n"),
        ),
        case(
            "deep nesting",
            repeat("*1\r\n", 10_000).into_bytes(),
            ErrorThenClose("-ERR Protocol error: expected '$', got '*'\r\n"),
        ),
        case(
            "an integer inside a request",
            b"*1\r\n:5\r\n".to_vec(),
            ErrorThenClose("-ERR Protocol error: expected '$', got ':'\r\n"),
        ),
        case(
            "bulk data without its CRLF",
            b"*1\r\n$3\r\nabcXY".to_vec(),
            ErrorThenClose("-ERR Protocol error: bulk string not terminated by CRLF\r\n"),
        ),
        case(
            "a CR without LF after a length",
            b"*1\rX\n".to_vec(),
            ErrorThenClose(MULTI),
        ),
        case(
            "binary garbage as an inline command",
            b"\x00\x01\xfe\xff\r\n".to_vec(),
            ReplyPrefix("-ERR unknown command '"),
        ),
        case(
            "an overlong inline line",
            repeat("a", 70_000).into_bytes(),
            ErrorThenClose("-ERR Protocol error: too big inline request\r\n"),
        ),
        case(
            "an overlong array length line",
            format!("*{}", repeat("1", 70_000)).into_bytes(),
            ErrorThenClose("-ERR Protocol error: too big mbulk count string\r\n"),
        ),
        case(
            "an overlong bulk length line",
            format!("*1\r\n${}", repeat("9", 70_000)).into_bytes(),
            ErrorThenClose("-ERR Protocol error: too big bulk count string\r\n"),
        ),
        case(
            "unbalanced quotes",
            b"SET \"a b\r\n".to_vec(),
            ErrorThenClose("-ERR Protocol error: unbalanced quotes in request\r\n"),
        ),
        case(
            "an unknown command",
            words("FLUSHEVERYTHING now"),
            Reply("-ERR unknown command 'FLUSHEVERYTHING', with args beginning with: 'now' \r\n"),
        ),
        case(
            "a command name longer than any command",
            cmd(&[&[b'x'; 100]]),
            ReplyPrefix("-ERR unknown command 'xxxx"),
        ),
        case(
            "wrong arity",
            words("SET onlykey"),
            Reply("-ERR wrong number of arguments for 'set' command\r\n"),
        ),
        case(
            "wrong type",
            words("GET keepvs"),
            Reply("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
        ),
        case(
            "NaN in VALUES",
            words("VADD keepvs VALUES 2 nan 0 x"),
            Reply("-ERR invalid vector specification\r\n"),
        ),
        case(
            "infinity in VALUES",
            words("VADD keepvs VALUES 2 inf 0 x"),
            ReplyPrefix("-ERR invalid argument 'vector'"),
        ),
        case(
            "NaN inside an FP32 blob",
            cmd(&[b"VADD", b"keepvs", b"FP32", &nan_blob, b"x"]),
            ReplyPrefix("-ERR invalid argument 'vector'"),
        ),
        case(
            "wrong dimension",
            words("VADD keepvs VALUES 3 1 0 0 x"),
            Reply("-ERR Vector dimension mismatch - got 3 but set has 2\r\n"),
        ),
        case(
            "a dimension over Redis's maximum",
            words("VSIM keepvs VALUES 70000 1"),
            Reply("-ERR invalid vector specification\r\n"),
        ),
        case(
            "VALUES promising more numbers than sent",
            words("VSIM keepvs VALUES 5 1 0"),
            Reply("-ERR invalid vector specification\r\n"),
        ),
        case(
            "a huge VSIM COUNT",
            words("VSIM keepvs VALUES 2 1 0 COUNT 9223372036854775807"),
            Reply("*1\r\n$1\r\na\r\n"),
        ),
        case(
            "a huge negative VRANDMEMBER count",
            words("VRANDMEMBER keepvs -9223372036854775807"),
            Reply("-ERR COUNT is over the limit of 1048576 elements per call\r\n"),
        ),
        case(
            "a huge EXPIRE",
            words("EXPIRE keep 9223372036854775807"),
            Reply("-ERR invalid expire time in 'expire' command\r\n"),
        ),
        case(
            "non-UTF-8 attributes",
            cmd(&[b"VSETATTR", b"keepvs", b"a", b"\xff\xfe"]),
            Reply("-ERR attributes must be valid UTF-8\r\n"),
        ),
        case(
            "an HTTP request to an unknown path",
            b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            Http("HTTP/1.1 404 Not Found\r\n"),
        ),
        case(
            "a malformed HTTP request line",
            b"GET /a b HTTP/1.1\r\n\r\n".to_vec(),
            Http("HTTP/1.1 400 Bad Request\r\n"),
        ),
        case(
            "an HTTP POST to /health",
            b"POST /health HTTP/1.1\r\n\r\n".to_vec(),
            Http("HTTP/1.1 405 Method Not Allowed\r\n"),
        ),
        case(
            "an endless HTTP header",
            format!("GET /health HTTP/1.1\r\nX: {}", repeat("a", 20_000)).into_bytes(),
            Http("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        ),
        case(
            "an HTTP request after RESP on one connection",
            b"PING\r\nPOST / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ErrorThenClose("+PONG\r\n"),
        ),
        case(
            "a Host: header line on the RESP stream",
            b"*1\r\n$4\r\nPING\r\nHost: evil\r\n".to_vec(),
            ErrorThenClose("+PONG\r\n"),
        ),
        case(
            "a DEL of a key that does not exist",
            words("DEL no-such-key"),
            Reply(":0\r\n"),
        ),
    ]
}

fn assert_state_intact(srv: &TestServer, what: &str) {
    let mut c = srv.connect();
    c.send(&words("GET keep"));
    assert_eq!(
        show(&c.read_reply()),
        show(b"$4\r\nsafe\r\n"),
        "after {what}"
    );
    c.send(&words("VCARD keepvs"));
    assert_eq!(show(&c.read_reply()), ":1\\r\\n", "after {what}");
}

fn read_to_end(c: &mut Conn) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let chunk = c.read_n(1);
        if chunk.is_empty() {
            return all;
        }
        all.extend(chunk);
    }
}

#[test]
fn every_hostile_input_gets_an_error_or_a_closed_connection_and_harms_nobody() {
    let srv = TestServer::start();
    let mut bystander = srv.connect();
    bystander.check_words("SET keep safe", "+OK\r\n");
    bystander.check_words("VADD keepvs VALUES 2 1 0 a", ":1\r\n");
    let cases = catalogue();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    for (name, input, expect) in cases {
        let mut c = srv.connect();
        c.send(&input);
        match expect {
            Expect::ErrorThenClose(reply) => {
                let got = c.read_n(reply.len());
                assert_eq!(show(&got), show(reply.as_bytes()), "case: {name}");
                assert!(c.is_closed(), "case: {name}: connection left open");
            }
            Expect::Reply(reply) => {
                let got = c.read_n(reply.len());
                assert_eq!(show(&got), show(reply.as_bytes()), "case: {name}");
                c.check_words("PING", "+PONG\r\n");
            }
            Expect::ReplyPrefix(prefix) => {
                let got = c.read_reply();
                assert!(
                    got.starts_with(prefix.as_bytes()),
                    "case: {name}: got {}",
                    show(&got)
                );
                c.check_words("PING", "+PONG\r\n");
            }
            Expect::Http(status) => {
                let got = read_to_end(&mut c);
                assert!(
                    got.starts_with(status.as_bytes()),
                    "case: {name}: got {}",
                    show(&got)
                );
            }
        }
        bystander.check_words("PING", "+PONG\r\n");
        assert_state_intact(&srv, name);
    }
}

#[test]
fn a_client_that_sends_half_a_frame_and_stalls_blocks_nobody_and_is_closed_when_idle() {
    let config = ServerConfig {
        idle_timeout_seconds: 1,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut staller = srv.connect();
    staller.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nonly-part-of-it");
    let mut other = srv.connect();
    other.check_words("SET k other", "+OK\r\n");
    other.check_words("GET k", "$5\r\nother\r\n");
    let t = Instant::now();
    assert!(staller.is_closed(), "the stalled client is closed");
    assert!(t.elapsed() < Duration::from_secs(4));
    // `other` has been idle as long: it is closed too; a new client finds the data.
    assert!(other.is_closed());
    srv.connect().check_words("GET k", "$5\r\nother\r\n");
}

#[test]
fn a_client_over_the_query_buffer_limit_is_closed_without_a_reply() {
    let config = ServerConfig {
        proto_max_bulk_len: 4 << 20,
        client_query_buffer_limit: 1 << 20,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3000000\r\n");
    let chunk = vec![b'x'; 64 << 10];
    for _ in 0..24 {
        if std::io::Write::write_all(&mut c.s, &chunk).is_err() {
            break;
        }
    }
    assert!(c.is_closed());
    let mut other = srv.connect();
    other.check_words("EXISTS k", ":0\r\n");
}

#[test]
fn a_client_over_the_output_buffer_limit_is_closed() {
    let config = ServerConfig {
        client_output_buffer_limit: 100 << 10,
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    let big = vec![b'v'; 200 << 10];
    c.check(&cmd(&[b"SET", b"big", &big]), b"+OK\r\n");
    c.send(&words("GET big"));
    assert!(c.is_closed());
    let mut other = srv.connect();
    other.check_words("STRLEN big", ":204800\r\n");
}

#[test]
fn unauthenticated_clients_get_tight_limits_and_noauth() {
    let config = ServerConfig {
        requirepass: Some("s3cret".into()),
        ..ServerConfig::default()
    };
    let srv = TestServer::with_config(config);
    let mut c = srv.connect();
    c.check_words("GET k", "-NOAUTH Authentication required.\r\n");
    c.check(
        b"*11\r\n",
        b"-ERR Protocol error: unauthenticated multibulk length\r\n",
    );
    assert!(c.is_closed());
    let mut c = srv.connect();
    c.check(
        b"*1\r\n$20000\r\n",
        b"-ERR Protocol error: unauthenticated bulk length\r\n",
    );
    assert!(c.is_closed());
    let mut c = srv.connect();
    c.check_words("AUTH s3cret", "+OK\r\n");
    let big = vec![b'v'; 20_000];
    c.check(&cmd(&[b"SET", b"k", &big]), b"+OK\r\n");
}
