//! The hostile-input catalogue: each case gets Redis's kind of error or a closed
//! connection; a client connected throughout is unaffected; nothing stored is lost.
//! Two lists: inputs on the plain port of an open server ([`catalogue`]), and inputs on the
//! plain and TLS ports of a server with a password, ACL users and TLS
//! ([`tls_and_acl_catalogue`]: TLS garbage, plain RESP on the TLS port, a restricted user
//! trying to widen its rights — also through a container's subcommands (CLIENT KILL, CONFIG
//! GET, MEMORY PURGE) — or reach keys outside its patterns, AUTH brute force).

use crate::server_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use server_support::{cmd, f32le, show, words, Conn, TestServer};
use sutra_cache::server::ServerConfig;
use tokio_rustls::rustls;

/// The first flight of a real TLS client (rustls): a ClientHello record.
fn client_hello() -> Vec<u8> {
    #[allow(deprecated)] // as in the server: ring, see server/tls.rs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    let name = "localhost".try_into().unwrap();
    let mut c = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut out = Vec::new();
    c.write_tls(&mut out).unwrap();
    assert_eq!(out[0], 0x16, "a handshake record");
    out
}

const TLS_ON_PLAIN: &str =
    "-ERR Protocol error: a TLS handshake on the plain port (use the TLS port, --tls-port)\r\n";

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
        case(
            "a TLS ClientHello on the plain port",
            client_hello(),
            ErrorThenClose(TLS_ON_PLAIN),
        ),
        case(
            "a TLS record header and garbage on the plain port",
            b"\x16\x03\x01\x00\x05hello".to_vec(),
            ErrorThenClose(TLS_ON_PLAIN),
        ),
        case(
            "a NUL byte inside an inline command",
            b"PI\x00NG\r\n".to_vec(),
            ReplyPrefix("-ERR unknown command 'PI"),
        ),
        case(
            "an ACL rule starting with a non-ASCII character",
            words("ACL SETUSER x \u{e9}"),
            Reply("-ERR Error in ACL SETUSER modifier '\u{e9}': Syntax error\r\n"),
        ),
        case(
            "a nested MULTI",
            [words("MULTI"), words("MULTI"), words("DISCARD")].concat(),
            Reply("+OK\r\n-ERR MULTI calls can not be nested\r\n+OK\r\n"),
        ),
        case(
            "EXEC without MULTI",
            words("EXEC"),
            Reply("-ERR EXEC without MULTI\r\n"),
        ),
        case(
            "an unknown command inside MULTI aborts the EXEC",
            [words("MULTI"), words("SET keep overwritten"), words("NOSUCHCMD"), words("EXEC")].concat(),
            Reply(
                "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCHCMD', with args beginning with: \r\n\
                 -EXECABORT Transaction discarded because of previous errors.\r\n",
            ),
        ),
        case(
            "DEBUG on a server without --enable-debug-command",
            words("DEBUG RELOAD"),
            ReplyPrefix("-ERR DEBUG command not allowed"),
        ),
        case(
            "CONFIG SET of a parameter that cannot change",
            words("CONFIG SET port 1"),
            ReplyPrefix("-ERR CONFIG SET failed"),
        ),
        case(
            "SHUTDOWN with an unknown option",
            words("SHUTDOWN NOW"),
            Reply("-ERR syntax error\r\n"),
        ),
        case(
            "SELECT of a database out of range",
            words("SELECT 99"),
            Reply("-ERR DB index is out of range\r\n"),
        ),
        case(
            "a negative expire time",
            words("SET keep x EX -1"),
            Reply("-ERR invalid expire time in 'set' command\r\n"),
        ),
        case(
            "a VADD over another type",
            words("VADD keep VALUES 2 1 0 x"),
            Reply("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
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
    assert!(
        cases.len() + tls_and_acl_catalogue().len() >= 50,
        "{} + {} cases",
        cases.len(),
        tls_and_acl_catalogue().len()
    );
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

/// Sends `input` one byte per write (the socket has TCP_NODELAY: one segment each).
fn trickle(c: &mut Conn, input: &[u8]) {
    for b in input {
        c.s.write_all(std::slice::from_ref(b)).expect("write");
    }
}

/// Requests trickled in a byte at a time (the parser's check resumes where the last read
/// left it, so this costs the server work linear in the bytes, not quadratic: the unit tests
/// of `server::frame` and `server::http` bound the bytes examined): each gets its right
/// answer, and a bystander is served meanwhile.
#[test]
fn requests_trickled_in_a_byte_at_a_time_get_their_answers() {
    let srv = TestServer::start();
    let mut bystander = srv.connect();
    bystander.check_words("SET keep safe", "+OK\r\n");
    bystander.check_words("VADD keepvs VALUES 2 1 0 a", ":1\r\n");

    // A 60 KiB inline request (the limit is 64 KiB).
    let mut c = srv.connect();
    let value = "v".repeat(60 << 10);
    trickle(
        &mut c,
        format!("SET trickled:inline {value}\r\n").as_bytes(),
    );
    assert_eq!(show(&c.read_n(5)), "+OK\\r\\n");
    c.check_words("STRLEN trickled:inline", ":61440\r\n");
    bystander.check_words("PING", "+PONG\r\n");

    // A multibulk request of 4,001 small arguments.
    let mut args: Vec<Vec<u8>> = vec![b"MSET".to_vec()];
    for i in 0..2_000 {
        args.push(format!("trickled:{i}").into_bytes());
        args.push(format!("{i}").into_bytes());
    }
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    trickle(&mut c, &cmd(&args));
    assert_eq!(show(&c.read_n(5)), "+OK\\r\\n");
    c.check_words("GET trickled:1999", "$4\r\n1999\r\n");
    c.check_words("GET trickled:0", "$1\r\n0\r\n");

    // An inline line over the limit, trickled: refused once it passes 64 KiB.
    let mut c = srv.connect();
    let long = vec![b'x'; (64 << 10) + 1];
    trickle(&mut c, &long);
    let reply = "-ERR Protocol error: too big inline request\r\n";
    assert_eq!(show(&c.read_n(reply.len())), show(reply.as_bytes()));
    assert!(c.is_closed());

    // An HTTP request whose 15 KiB head arrives a byte at a time.
    let mut c = srv.connect();
    let mut head = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
    while head.len() < 15 << 10 {
        head.extend(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    head.extend(b"\r\n");
    trickle(&mut c, &head);
    let got = read_to_end(&mut c);
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", show(&got));

    bystander.check_words("PING", "+PONG\r\n");
    assert_state_intact(&srv, "trickled requests");
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

/// Where a case of [`tls_and_acl_catalogue`] sends its bytes.
enum Port {
    /// The plain port, after `AUTH user password` when given.
    Plain(Option<(&'static str, &'static str)>),
    /// The TLS port, as raw bytes (no TLS client).
    Tls,
}

/// What a TLS-and-ACL case must get.
enum Want {
    /// This reply; then the connection still serves (`AUTH app apppw` answers `+OK`).
    Reply(&'static str),
    /// This error, then the connection is closed.
    ErrorThenClose(&'static str),
    /// The connection is closed without a RESP reply (at most a TLS alert).
    ClosedWithoutReply,
}

const NOPERM_KEYS: &str =
    "-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
const WRONGPASS: &str = "-WRONGPASS invalid username-password pair or user is disabled.\r\n";

fn noperm(command: &'static str) -> &'static str {
    Box::leak(
        format!("-NOPERM this user has no permissions to run the '{command}' command\r\n")
            .into_boxed_str(),
    )
}

/// Inputs on a server with `--requirepass adminpw`, users `dash` (`~d:* +@read`, password
/// `dashpw`) and `app` (`~a:* +@all -@admin`, `apppw`), and a TLS port.
fn tls_and_acl_catalogue() -> Vec<(&'static str, Port, Vec<u8>, Want)> {
    use Port::*;
    use Want::*;
    let dash = Plain(Some(("dash", "dashpw")));
    let app = || Plain(Some(("app", "apppw")));
    let mut bad_hello = client_hello();
    bad_hello[5] = 0x02; // a ServerHello's type: not what a server accepts first
    let mut brute = Vec::new();
    for _ in 0..6 {
        brute.extend(words("AUTH app wrong"));
    }
    vec![
        (
            "plain RESP on the TLS port",
            Tls,
            words("PING"),
            ClosedWithoutReply,
        ),
        (
            "an HTTP request on the TLS port",
            Tls,
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            ClosedWithoutReply,
        ),
        (
            "binary garbage on the TLS port",
            Tls,
            b"\x00\x01\x02\x03garbage\r\n".to_vec(),
            ClosedWithoutReply,
        ),
        (
            "a handshake record of the wrong type on the TLS port",
            Tls,
            bad_hello,
            ClosedWithoutReply,
        ),
        (
            "a TLS ClientHello on the plain port of a TLS server",
            Plain(None),
            client_hello(),
            ErrorThenClose(TLS_ON_PLAIN),
        ),
        (
            "a read-only user grants itself every command",
            dash,
            words("ACL SETUSER dash +@all"),
            Reply(noperm("acl|setuser")),
        ),
        (
            "a read-only user removes the default user's password",
            Plain(Some(("dash", "dashpw"))),
            words("ACL SETUSER default nopass"),
            Reply(noperm("acl|setuser")),
        ),
        (
            "a read-only user writes one of its own keys",
            Plain(Some(("dash", "dashpw"))),
            words("SET d:k x"),
            Reply(noperm("set")),
        ),
        (
            "a user without @admin widens its own key patterns",
            app(),
            words("ACL SETUSER app ~*"),
            Reply(noperm("acl|setuser")),
        ),
        (
            "a user without @admin changes the password",
            app(),
            words("CONFIG SET requirepass x"),
            Reply(noperm("config|set")),
        ),
        (
            "a user without @admin reloads the ACL file",
            app(),
            words("ACL LOAD"),
            Reply(noperm("acl|load")),
        ),
        (
            "a user without @admin runs DEBUG",
            app(),
            words("DEBUG RELOAD"),
            Reply(noperm("debug")),
        ),
        (
            "a user without @admin shuts the server down",
            app(),
            words("SHUTDOWN NOSAVE"),
            Reply(noperm("shutdown")),
        ),
        // Escalations through subcommands: in Redis 7 a container's subcommands have their
        // own categories, and `-@admin` denies exactly the ones in @admin.
        (
            "a user without @admin kills every normal connection",
            app(),
            words("CLIENT KILL TYPE normal"),
            Reply(noperm("client|kill")),
        ),
        (
            "a user without @admin pauses every client",
            app(),
            words("CLIENT PAUSE 100000"),
            Reply(noperm("client|pause")),
        ),
        (
            "a user without @admin exempts itself from eviction",
            app(),
            words("CLIENT NO-EVICT on"),
            Reply(noperm("client|no-evict")),
        ),
        (
            "a user without @admin lists the other connections",
            app(),
            words("CLIENT LIST"),
            Reply(noperm("client|list")),
        ),
        (
            "a user without @admin reads the password from the config",
            app(),
            words("CONFIG GET requirepass"),
            Reply(noperm("config|get")),
        ),
        (
            "a user without @admin rewrites the config file",
            app(),
            words("CONFIG REWRITE"),
            Reply(noperm("config|rewrite")),
        ),
        (
            "a user without @admin reads other clients' arguments in the slow log",
            app(),
            words("SLOWLOG GET"),
            Reply(noperm("slowlog|get")),
        ),
        (
            "a user without @admin reads the password hashes",
            app(),
            words("ACL GETUSER default"),
            Reply(noperm("acl|getuser")),
        ),
        (
            "a user without @admin probes another user's rights",
            app(),
            words("ACL DRYRUN dash SET d:k x"),
            Reply(noperm("acl|dryrun")),
        ),
        (
            "a user without @admin kills connections inside MULTI/EXEC",
            app(),
            [
                words("MULTI"),
                words("CLIENT KILL TYPE normal"),
                words("EXEC"),
            ]
            .concat(),
            Reply(
                "+OK\r\n-NOPERM this user has no permissions to run the 'client|kill' \
                 command\r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
            ),
        ),
        (
            "a user without @admin reconfigures the cluster",
            app(),
            words("SUTRA.CLUSTER EPOCH"),
            Reply(noperm("sutra.cluster|epoch")),
        ),
        (
            "a user without @admin makes the server a replica",
            app(),
            words("REPLICAOF 127.0.0.1 1"),
            Reply(noperm("replicaof")),
        ),
        (
            "a read-only user purges the allocator (MEMORY PURGE is not @read)",
            Plain(Some(("dash", "dashpw"))),
            words("MEMORY PURGE"),
            Reply(noperm("memory|purge")),
        ),
        (
            "a read-only user reads the memory statistics (MEMORY STATS is not @read)",
            Plain(Some(("dash", "dashpw"))),
            words("MEMORY STATS"),
            Reply(noperm("memory|stats")),
        ),
        (
            "a read-only user runs OBJECT HELP (@keyspace, not @read)",
            Plain(Some(("dash", "dashpw"))),
            words("OBJECT HELP"),
            Reply(noperm("object|help")),
        ),
        (
            "a read-only user measures a key outside its patterns (MEMORY USAGE)",
            Plain(Some(("dash", "dashpw"))),
            words("MEMORY USAGE a:k"),
            Reply(NOPERM_KEYS),
        ),
        (
            "a read-only user reads the encoding of a key outside its patterns",
            Plain(Some(("dash", "dashpw"))),
            words("OBJECT ENCODING a:k"),
            Reply(NOPERM_KEYS),
        ),
        (
            "a read-only user kills a connection",
            Plain(Some(("dash", "dashpw"))),
            words("CLIENT KILL TYPE normal"),
            Reply(noperm("client|kill")),
        ),
        (
            "a key-pattern escape through RENAME",
            app(),
            words("RENAME a:k d:k"),
            Reply(NOPERM_KEYS),
        ),
        (
            "a key-pattern escape through MSET",
            app(),
            words("MSET a:1 1 d:k 2"),
            Reply(NOPERM_KEYS),
        ),
        (
            "a key-pattern escape through COPY",
            app(),
            words("COPY d:k a:stolen"),
            Reply(NOPERM_KEYS),
        ),
        (
            "a key-pattern escape inside MULTI/EXEC",
            app(),
            [
                words("MULTI"),
                words("SET a:1 x"),
                words("SET d:k x"),
                words("EXEC"),
            ]
            .concat(),
            Reply(
                "+OK\r\n+QUEUED\r\n-NOPERM this user has no permissions to access one of the \
                 keys used as arguments\r\n-EXECABORT Transaction discarded because of previous \
                 errors.\r\n",
            ),
        ),
        (
            "a key-pattern escape through a search of another set",
            app(),
            words("VSIM d:vs VALUES 2 1 0"),
            Reply(NOPERM_KEYS),
        ),
        (
            "AUTH brute force: six wrong passwords, each answered (slowed past the third)",
            Plain(None),
            brute,
            Reply(Box::leak(WRONGPASS.repeat(6).into_boxed_str())),
        ),
        (
            "HELLO with a wrong password",
            Plain(None),
            words("HELLO 3 AUTH app wrong"),
            Reply(WRONGPASS),
        ),
        (
            "a command before AUTH",
            Plain(None),
            words("GET d:k"),
            Reply("-NOAUTH Authentication required.\r\n"),
        ),
        (
            "an oversized AUTH before authenticating",
            Plain(None),
            cmd(&[b"AUTH", &[b'x'; 100_000]]),
            ErrorThenClose("-ERR Protocol error: unauthenticated bulk length\r\n"),
        ),
    ]
}

/// Reads until the server closes the connection (or 10 s pass: then it is left open).
fn read_until_closed(s: &mut std::net::TcpStream) -> (Vec<u8>, bool) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (all, true),
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A reset is a close too.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return (all, true),
            Err(_) => return (all, false),
        }
    }
}

#[test]
fn tls_garbage_plain_resp_on_the_tls_port_and_acl_escalations_are_refused_and_harm_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.path().join("server.pem"), cert.pem()).unwrap();
    std::fs::write(dir.path().join("server.key"), key.serialize_pem()).unwrap();
    let srv = TestServer::with_tls(ServerConfig {
        tls_cert_file: Some(dir.path().join("server.pem")),
        tls_key_file: Some(dir.path().join("server.key")),
        tls_auth_clients: "no".into(),
        requirepass: Some("adminpw".into()),
        ..ServerConfig::default()
    });
    let mut admin = srv.connect();
    admin.check_words("AUTH adminpw", "+OK\r\n");
    admin.check_words("ACL SETUSER dash on >dashpw ~d:* +@read", "+OK\r\n");
    admin.check_words("ACL SETUSER app on >apppw ~a:* +@all -@admin", "+OK\r\n");
    admin.check_words("SET d:k safe", "+OK\r\n");
    admin.check_words("SET a:k mine", "+OK\r\n");
    admin.check_words("VADD d:vs VALUES 2 1 0 e", ":1\r\n");
    let intact = |admin: &mut Conn, name: &str| {
        for (line, want) in [
            ("GET d:k", "$4\r\nsafe\r\n"),
            ("GET a:k", "$4\r\nmine\r\n"),
            ("VCARD d:vs", ":1\r\n"),
            ("EXISTS a:1 a:stolen", ":0\r\n"),
            ("ACL GETUSER app", ""),
        ] {
            admin.send(&words(line));
            let got = admin.read_reply();
            if want.is_empty() {
                // The user's rules are what the admin set: no key pattern but a:*.
                let text = String::from_utf8_lossy(&got).into_owned();
                assert!(
                    text.contains("~a:*") && !text.contains("~*\r\n"),
                    "{name}: {text}"
                );
            } else {
                assert_eq!(show(&got), show(want.as_bytes()), "after {name}: {line}");
            }
        }
    };
    let cases = tls_and_acl_catalogue();
    for (name, port, input, want) in cases {
        match port {
            Port::Tls => {
                let mut s = std::net::TcpStream::connect(srv.tls_addr.unwrap()).unwrap();
                s.write_all(&input).unwrap();
                let (got, closed) = read_until_closed(&mut s);
                assert!(
                    closed,
                    "case: {name}: the TLS port left the connection open"
                );
                // Nothing but TLS records (an alert: content type 0x15) comes back.
                assert!(
                    got.is_empty() || got[0] == 0x15,
                    "case: {name}: got {}",
                    show(&got)
                );
                assert!(matches!(want, Want::ClosedWithoutReply), "case: {name}");
            }
            Port::Plain(auth) => {
                let mut c = srv.connect();
                if let Some((user, pass)) = auth {
                    c.check_words(&format!("AUTH {user} {pass}"), "+OK\r\n");
                }
                c.send(&input);
                match want {
                    Want::Reply(reply) => {
                        let got = c.read_n(reply.len());
                        assert_eq!(show(&got), show(reply.as_bytes()), "case: {name}");
                        // Still serving, and the right password still works.
                        c.check_words("AUTH app apppw", "+OK\r\n");
                        c.check_words("GET a:k", "$4\r\nmine\r\n");
                    }
                    Want::ErrorThenClose(reply) => {
                        let got = c.read_n(reply.len());
                        assert_eq!(show(&got), show(reply.as_bytes()), "case: {name}");
                        assert!(c.is_closed(), "case: {name}: connection left open");
                    }
                    Want::ClosedWithoutReply => panic!("case: {name}: not a plain-port outcome"),
                }
            }
        }
        admin.check_words("PING", "+PONG\r\n");
        intact(&mut admin, name);
    }
}
