//! TLS on the RESP/HTTP port (`--tls-port`, `--tls-cert-file`, `--tls-key-file`,
//! `--tls-ca-cert-file`, `--tls-auth-clients`), driven by a rustls client, redis-cli --tls
//! and redis-py `ssl=True`, with certificates made at test time (rcgen): RESP and HTTP over
//! TLS, client certificates required / optional / refused, plain RESP on the TLS port and
//! TLS on the plain port refused, the binary with `--port 0` serving only TLS.

use crate::server_support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use server_support::{cmd, show, tools, TestServer};
use sutra_cache::server::ServerConfig;
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConnection, StreamOwned};

/// A CA and the certificates it signed, as PEM files in a temporary directory.
struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ca.pem`; `server.pem`/`server.key` (127.0.0.1, localhost); `client.pem`/`client.key`
    /// signed by the CA; `stranger.pem`/`stranger.key`, a client certificate of another CA.
    fn new() -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let ca = |name: &str| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
            p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
            p.distinguished_name.push(DnType::CommonName, name);
            let cert = p.self_signed(&key).unwrap();
            (cert, key)
        };
        let (ca_cert, ca_key) = ca("sutra-cache test CA");
        let (other_cert, other_key) = ca("another CA");
        let leaf = |sans: Vec<String>, usage, issuer: &rcgen::Certificate, ikey: &KeyPair| {
            let key = KeyPair::generate().unwrap();
            let mut p = CertificateParams::new(sans).unwrap();
            p.extended_key_usages = vec![usage];
            p.distinguished_name.push(DnType::CommonName, "leaf");
            let cert = p.signed_by(&key, issuer, ikey).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", &ca_cert.pem());
        let sans = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let (c, k) = leaf(sans, ExtendedKeyUsagePurpose::ServerAuth, &ca_cert, &ca_key);
        write("server.pem", &c);
        write("server.key", &k);
        let client = ExtendedKeyUsagePurpose::ClientAuth;
        let (c, k) = leaf(vec![], client.clone(), &ca_cert, &ca_key);
        write("client.pem", &c);
        write("client.key", &k);
        let (c, k) = leaf(vec![], client, &other_cert, &other_key);
        write("stranger.pem", &c);
        write("stranger.key", &k);
        Pki { dir }
    }

    /// A server configuration with these files and `--tls-auth-clients auth`.
    fn config(&self, auth: &str) -> ServerConfig {
        ServerConfig {
            tls_cert_file: Some(self.path("server.pem")),
            tls_key_file: Some(self.path("server.key")),
            tls_ca_cert_file: Some(self.path("ca.pem")),
            tls_auth_clients: auth.into(),
            ..ServerConfig::default()
        }
    }

    /// A rustls client trusting the CA, presenting `identity` (`client`, `stranger`) if any.
    fn client(&self, identity: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        let pem = |f: &str| {
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::pem_file_iter(self.path(f))
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
        };
        for c in pem("ca.pem") {
            roots.add(c).unwrap();
        }
        #[allow(deprecated)] // as in the server: ring, see server/tls.rs
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let cfg = match identity {
            None => b.with_no_client_auth(),
            Some(who) => {
                use rustls::pki_types::pem::PemObject;
                let key = rustls::pki_types::PrivateKeyDer::from_pem_file(
                    self.path(&format!("{who}.key")),
                )
                .unwrap();
                b.with_client_auth_cert(pem(&format!("{who}.pem")), key)
                    .unwrap()
            }
        };
        Arc::new(cfg)
    }
}

type Tls = StreamOwned<ClientConnection, TcpStream>;

fn connect(addr: SocketAddr, cfg: Arc<rustls::ClientConfig>) -> Tls {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    StreamOwned::new(ClientConnection::new(cfg, name).unwrap(), tcp)
}

/// Sends `request` and reads until `want` bytes came, the stream ended or failed; what came.
fn exchange(s: &mut impl ReadWrite, request: &[u8], want: usize) -> Result<Vec<u8>, String> {
    s.write_all(request).map_err(|e| e.to_string())?;
    s.flush().map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < want {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("{e} after {}", show(&got))),
        }
    }
    Ok(got)
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn resp_and_http_are_served_over_tls_to_a_client_with_a_certificate_of_the_ca() {
    let pki = Pki::new();
    let srv = TestServer::with_tls(pki.config("yes"));
    let tls = srv.tls_addr.unwrap();
    let mut c = connect(tls, pki.client(Some("client")));
    let set = cmd(&[b"SET", b"k", b"over tls"]);
    assert_eq!(exchange(&mut c, &set, 5).unwrap(), b"+OK\r\n");
    // A pipeline bigger than one TLS record: every reply comes back, in order.
    let mut pipeline = Vec::new();
    for _ in 0..2000 {
        pipeline.extend_from_slice(&cmd(&[b"GET", b"k"]));
    }
    let one = b"$8\r\nover tls\r\n";
    let got = exchange(&mut c, &pipeline, one.len() * 2000).unwrap();
    assert_eq!(got, one.repeat(2000));
    // The plain port serves the same data.
    let mut plain = srv.connect();
    plain.check(&cmd(&[b"GET", b"k"]), one);
    // HTTP on the TLS port.
    let mut h = connect(tls, pki.client(Some("client")));
    let got = exchange(
        &mut h,
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
        usize::MAX,
    )
    .unwrap();
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[test]
fn client_certificates_are_required_checked_or_optional_as_tls_auth_clients_says() {
    let pki = Pki::new();
    let ping = cmd(&[b"PING"]);
    // yes (Redis's default): no certificate, or one of another CA, gets no reply.
    let srv = TestServer::with_tls(pki.config("yes"));
    let tls = srv.tls_addr.unwrap();
    for who in [None, Some("stranger")] {
        let got = exchange(&mut connect(tls, pki.client(who)), &ping, 7);
        assert!(
            !matches!(&got, Ok(b) if b.starts_with(b"+PONG")),
            "{who:?} was served: {got:?}"
        );
    }
    let got = exchange(&mut connect(tls, pki.client(Some("client"))), &ping, 7);
    assert_eq!(got.unwrap(), b"+PONG\r\n");
    drop(srv);
    // optional: no certificate is served; a certificate that does not chain is not.
    let srv = TestServer::with_tls(pki.config("optional"));
    let tls = srv.tls_addr.unwrap();
    let got = exchange(&mut connect(tls, pki.client(None)), &ping, 7);
    assert_eq!(got.unwrap(), b"+PONG\r\n");
    let got = exchange(&mut connect(tls, pki.client(Some("stranger"))), &ping, 7);
    assert!(!matches!(&got, Ok(b) if b.starts_with(b"+PONG")), "{got:?}");
    drop(srv);
    // no: no CA needed, no certificate asked.
    let srv = TestServer::with_tls(ServerConfig {
        tls_ca_cert_file: None,
        ..pki.config("no")
    });
    let got = exchange(
        &mut connect(srv.tls_addr.unwrap(), pki.client(None)),
        &ping,
        7,
    );
    assert_eq!(got.unwrap(), b"+PONG\r\n");
}

#[test]
fn plain_resp_on_the_tls_port_and_tls_on_the_plain_port_are_refused() {
    let pki = Pki::new();
    let srv = TestServer::with_tls(pki.config("no"));
    // Plain RESP on the TLS port: not a TLS hello, the connection closes with no reply.
    let mut raw = TcpStream::connect(srv.tls_addr.unwrap()).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let got = exchange(&mut raw, &cmd(&[b"PING"]), usize::MAX);
    assert!(
        !matches!(&got, Ok(b) if b.windows(4).any(|w| w == b"PONG")),
        "{got:?}"
    );
    // A TLS hello on the plain port: a protocol error, then closed; the server serves on.
    let mut c = connect(srv.addr, pki.client(None));
    assert!(exchange(&mut c, &cmd(&[b"PING"]), 7).is_err());
    srv.connect().check(&cmd(&[b"PING"]), b"+PONG\r\n");
    let mut ok = connect(srv.tls_addr.unwrap(), pki.client(None));
    assert_eq!(
        exchange(&mut ok, &cmd(&[b"PING"]), 7).unwrap(),
        b"+PONG\r\n"
    );
}

#[test]
fn a_certificate_that_cannot_be_read_stops_the_server_naming_the_option() {
    let pki = Pki::new();
    std::fs::write(pki.path("bad.pem"), "not a certificate").unwrap();
    let cfg = ServerConfig {
        tls_cert_file: Some(pki.path("bad.pem")),
        ..pki.config("no")
    };
    let (code, err) = run_binary_with(&cfg_flags(&cfg, 0, free_port()), Duration::ZERO);
    assert_ne!(code, Some(0));
    assert!(
        err.contains("--tls-cert-file") && err.contains("bad.pem"),
        "{err}"
    );
    // The configuration is checked before anything opens: a TLS port without a key.
    let (code, err) = run_binary_with(
        &[
            "--in-memory".into(),
            "true".into(),
            "--tls-port".into(),
            "6399".into(),
        ],
        Duration::ZERO,
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--tls-port needs --tls-cert-file"), "{err}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cfg_flags(cfg: &ServerConfig, port: u16, tls_port: u16) -> Vec<String> {
    let mut v: Vec<String> = [
        "--in-memory",
        "true",
        "--port",
        &port.to_string(),
        "--tls-port",
        &tls_port.to_string(),
        "--tls-auth-clients",
        &cfg.tls_auth_clients,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut file = |flag: &str, p: &Option<PathBuf>| {
        if let Some(p) = p {
            v.push(flag.into());
            v.push(p.display().to_string());
        }
    };
    file("--tls-cert-file", &cfg.tls_cert_file);
    file("--tls-key-file", &cfg.tls_key_file);
    file("--tls-ca-cert-file", &cfg.tls_ca_cert_file);
    v
}

/// Runs `sutra-cache serve <args>`; when it is still running after `wait` (a server that
/// started), it is killed. Its exit code (None if killed) and stderr.
fn run_binary_with(args: &[String], wait: Duration) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60).max(wait);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return (status.code(), err);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `sutra-cache serve` child process; killed when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary serving only TLS (`--port 0 --tls-port N`) and waits until it answers.
fn tls_only_binary(pki: &Pki, auth: &str) -> (Child, u16) {
    let tls_port = free_port();
    let cfg = pki.config(auth);
    let child = Command::new(env!("CARGO_BIN_EXE_sutra-cache"))
        .arg("serve")
        .args(cfg_flags(&cfg, 0, tls_port))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Child(child);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
    loop {
        let client = if auth == "no" { None } else { Some("client") };
        if let Ok(tcp) = TcpStream::connect(addr) {
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let name = ServerName::try_from("127.0.0.1").unwrap();
            let conn = ClientConnection::new(pki.client(client), name).unwrap();
            let mut s = StreamOwned::new(conn, tcp);
            if exchange(&mut s, &cmd(&[b"PING"]), 7).is_ok_and(|r| r == b"+PONG\r\n") {
                return (child, tls_port);
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no TLS server came up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn with_port_0_and_a_tls_port_the_binary_serves_only_tls_to_redis_cli_and_redis_py() {
    if tools::missing_redis_tool("redis-cli") {
        return;
    }
    let pki = Pki::new();
    let (_child, port) = tls_only_binary(&pki, "yes");
    let p = |f: &str| pki.path(f).display().to_string();
    let cli = |extra: &[&str], args: &[&str]| {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "--tls"])
            .args(["--cacert", &p("ca.pem")])
            .args(extra)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let with_cert = ["--cert", &p("client.pem"), "--key", &p("client.key")];
    assert_eq!(cli(&with_cert, &["SET", "cli", "tls"]).trim(), "OK");
    assert_eq!(cli(&with_cert, &["GET", "cli"]).trim(), "tls");
    // Without a client certificate the handshake is refused.
    let refused = cli(&[], &["GET", "cli"]);
    assert!(!refused.contains("tls"), "{refused}");
    if !tools::missing_redis_py() {
        let script = format!(
            r#"
import redis, ssl
ok = redis.Redis(host="127.0.0.1", port={port}, ssl=True, ssl_ca_certs="{ca}",
                 ssl_certfile="{cert}", ssl_keyfile="{key}")
assert ok.get("cli") == b"tls", ok.get("cli")
ok.set("py", "ok")
r3 = redis.Redis(host="127.0.0.1", port={port}, ssl=True, ssl_ca_certs="{ca}",
                 ssl_certfile="{cert}", ssl_keyfile="{key}", protocol=3)
assert r3.get("py") == b"ok"
try:
    redis.Redis(host="127.0.0.1", port={port}, ssl=True, ssl_ca_certs="{ca}",
                socket_timeout=10).ping()
    raise SystemExit("served without a client certificate")
except (redis.ConnectionError, ssl.SSLError, OSError):
    pass
print("redis-py ok")
"#,
            ca = p("ca.pem"),
            cert = p("client.pem"),
            key = p("client.key"),
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && text.contains("redis-py ok"),
            "{text}"
        );
    }
}
