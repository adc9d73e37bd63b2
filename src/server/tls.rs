//! TLS on the RESP/HTTP port (rustls, ring provider): the acceptor built from Redis's
//! options (`--tls-cert-file`, `--tls-key-file`, `--tls-ca-cert-file`, `--tls-auth-clients`),
//! and a TLS session over TCP as a [`ClientStream`].

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use bytes::BytesMut;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, server::WebPkiClientVerifier, RootCertStore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::config::ServerConfig;
use super::stream::{poll_read_once, ClientStream};

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The certificates of a PEM file, in order.
fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{what} {shown}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{what} {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} {shown}: no PEM certificate in it"));
    }
    Ok(certs)
}

/// The acceptor of the TLS port, from the configuration (`validate` has checked that the
/// files are named). An unreadable file, a key that does not match the certificate and a CA
/// file without certificates are errors naming the option and the file.
pub fn acceptor(config: &ServerConfig) -> Result<TlsAcceptor, String> {
    let (Some(cert), Some(key)) = (&config.tls_cert_file, &config.tls_key_file) else {
        return Err("--tls-port needs --tls-cert-file and --tls-key-file".into());
    };
    // ring: builds with a C compiler alone (aws-lc-rs, rustls's default, needs more);
    // rustls 0.23.48 deprecates it only for lacking post-quantum key exchange
    // (X25519MLKEM768), which docs/security.md states.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(cert, "--tls-cert-file")?;
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| format!("--tls-key-file {}: {e}", key.display()))?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let auth = config.tls_auth_clients.to_ascii_lowercase();
    let builder = if auth == "no" {
        builder.with_no_client_auth()
    } else {
        let Some(ca) = &config.tls_ca_cert_file else {
            return Err(format!(
                "--tls-auth-clients {auth} needs --tls-ca-cert-file (or --tls-auth-clients no)"
            ));
        };
        let mut roots = RootCertStore::empty();
        for c in certificates(ca, "--tls-ca-cert-file")? {
            roots
                .add(c)
                .map_err(|e| format!("--tls-ca-cert-file {}: {e}", ca.display()))?;
        }
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
        let verifier = if auth == "optional" {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(
            verifier
                .build()
                .map_err(|e| format!("--tls-ca-cert-file {}: {e}", ca.display()))?,
        )
    };
    let server = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("--tls-cert-file/--tls-key-file: {e}"))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

impl ClientStream for TlsStream<TcpStream> {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().0.peer_addr()
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.get_ref().0.local_addr()
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        poll_read_once(self, buf)
    }
}
