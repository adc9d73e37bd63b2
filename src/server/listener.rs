//! The accept loop: client limit, one task per connection, graceful shutdown; and
//! [`serve`], what `sutra-cache serve` runs.

use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use std::net::SocketAddr;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::ServerConfig;
use super::connection;
use super::shared::Shared;
use super::stream::ClientStream;
use crate::Engine;

/// Threads of the runtime's blocking pool (long commands: VSIM, scans).
const MAX_BLOCKING_THREADS: usize = 64;

/// Redis 7's reply to a client refused by protected mode, byte for byte.
pub const PROTECTED_MODE_DENIED: &[u8] = b"-DENIED Redis is running in protected mode because \
protected mode is enabled and no password is set for the default user. In this mode connections \
are only accepted from the loopback interface. If you want to connect from external computers to \
Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the \
command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from \
the same host the server is running, however MAKE SURE Redis is not publicly accessible from \
internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you \
can just disable the protected mode by editing the Redis configuration file, and setting the \
protected mode option to 'no', and then restarting the server. 3) If you started the server \
manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an \
authentication password for the default user. NOTE: You only need to do one of the above things \
in order for the server to start accepting connections from the outside.\r\n";

/// Decrements the connected-clients gauge when a connection task ends, however it ends.
struct ClientSlot(Arc<Shared>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.stats.connected_clients.fetch_sub(1, Relaxed);
    }
}

/// The sockets a server accepts on: the plain port, the TLS port, or both.
#[derive(Default)]
pub struct Listeners {
    /// RESP and HTTP in the clear.
    pub plain: Option<TcpListener>,
    /// RESP and HTTP over TLS (the acceptor comes from the configuration's `--tls-*`).
    pub tls: Option<TcpListener>,
}

/// Serves RESP and HTTP on `listener` until `shutdown` completes; then stops accepting,
/// lets every connection finish the requests it has read (up to the configured grace
/// period) and returns. The caller owns the engine and closes it afterwards.
pub async fn run(
    listener: TcpListener,
    engine: Arc<Engine>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let listeners = Listeners {
        plain: Some(listener),
        tls: None,
    };
    run_on(listeners, engine, config, shutdown).await
}

/// Accepts on `listener`, or waits forever when there is none.
async fn accept(listener: &Option<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// [`run`] on a plain port, a TLS port or both (a TLS listener needs the configuration's
/// certificate and key; they are read here, and a bad one is an error before serving).
pub async fn run_on(
    listeners: Listeners,
    engine: Arc<Engine>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let acceptor = match &listeners.tls {
        Some(_) => Some(super::tls::acceptor(&config).map_err(io::Error::other)?),
        None => None,
    };
    let cluster = super::cluster::ClusterState::open(&config).map_err(io::Error::other)?;
    let replica_of = config.replica_of().map_err(io::Error::other)?;
    let shared = Arc::new(Shared::new(engine, config).with_cluster(cluster));
    if let Some(path) = &shared.config.aclfile {
        // Redis's `aclfile`: the users it lists (a `default` line there wins over
        // --requirepass); a file that cannot be read or parsed stops the start.
        let users = super::acl::load_file(path).map_err(io::Error::other)?;
        shared.acl.replace(users);
    }
    let Listeners { plain, tls } = listeners;
    if let Some(addr) = plain
        .as_ref()
        .or(tls.as_ref())
        .and_then(|l| l.local_addr().ok())
    {
        shared
            .repl
            .listening_port
            .store(addr.port(), std::sync::atomic::Ordering::Relaxed);
    }
    if let Some((host, port)) = replica_of {
        shared.repl.follow(shared.engine.clone(), host, port);
    }
    if let Some(routes) = shared.cluster.routes() {
        shared
            .repl
            .reconcile_cluster(&shared.engine, &routes.topo, &shared.cluster.my_id);
    }
    let ring = uring_ring(&shared)?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    let asked = shared.shutdown_requested.clone();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = asked.notified() => {
                tracing::info!("SHUTDOWN asked by a client");
                break;
            }
            accepted = accept(&plain) => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let (shared, stop) = (shared.clone(), stop_rx.clone());
                #[cfg(target_os = "linux")]
                if let Some((ring, _)) = &ring {
                    match super::uring::UringTcp::new(stream, ring.clone()) {
                        Ok(stream) => {
                            tasks.spawn(admit(stream, peer, shared, stop));
                        }
                        Err(e) => tracing::warn!(%peer, error = %e, "client not served"),
                    }
                    continue;
                }
                tasks.spawn(admit(stream, peer, shared, stop));
            }
            accepted = accept(&tls) => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed (TLS port)");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone().expect("a TLS listener has its acceptor");
                let (shared, stop) = (shared.clone(), stop_rx.clone());
                tasks.spawn(async move {
                    let handshake =
                        tokio::time::timeout(super::tls::HANDSHAKE_TIMEOUT, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(tls)) => admit(tls, peer, shared, stop).await,
                        Ok(Err(e)) => {
                            tracing::info!(%peer, error = %e, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::info!(%peer, "TLS handshake timed out");
                        }
                    }
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(plain);
    drop(tls);
    // The link to a master stops; connections streaming to replicas end.
    shared.repl.stop();
    let _ = stop_tx.send(true);
    // Connections waiting for a request see the stop at once.
    shared.clients.wake_all();
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "shutdown grace period over; closing remaining clients"
        );
        tasks.shutdown().await;
    }
    #[cfg(target_os = "linux")]
    if let Some((ring, driver)) = ring {
        // Every connection is gone: its operations are cancelled or done.
        driver.abort();
        let _ = driver.await;
        drop(ring);
    }
    // No client writes any more: the replication history is marked clean at the last LSN.
    shared.repl.shutdown_cleanly(&shared.engine);
    Ok(())
}

/// The io_uring shared by the plain port's clients, and the task that reaps its completions,
/// per `--io-uring-sockets`: `None` for epoll (`no`, or `auto` where io_uring is not usable,
/// said in the log); an error for `yes` without it.
#[cfg(target_os = "linux")]
fn uring_ring(
    shared: &Shared,
) -> io::Result<Option<(Arc<super::uring::Ring>, tokio::task::JoinHandle<()>)>> {
    let want = shared.config.io_uring_sockets.to_ascii_lowercase();
    if want == "no" {
        return Ok(None);
    }
    match super::uring::Ring::new() {
        Ok(ring) => {
            shared.stats.io_uring_sockets.store(true, Relaxed);
            let driver = tokio::spawn(ring.clone().drive(std::future::pending()));
            Ok(Some((ring, driver)))
        }
        Err(e) if want == "yes" => Err(io::Error::new(
            e.kind(),
            format!("--io-uring-sockets yes: io_uring is not usable here: {e}"),
        )),
        Err(e) => {
            tracing::info!(error = %e, "io_uring not usable here: client sockets on epoll");
            Ok(None)
        }
    }
}

/// Without io_uring (not Linux): epoll, or an error for `--io-uring-sockets yes`.
#[cfg(not(target_os = "linux"))]
fn uring_ring(shared: &Shared) -> io::Result<Option<()>> {
    if shared.config.io_uring_sockets.eq_ignore_ascii_case("yes") {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "--io-uring-sockets yes: io_uring is Linux's",
        ));
    }
    Ok(None)
}

/// A connection accepted (and, on the TLS port, past its handshake): protected mode and
/// the client limit, then served.
async fn admit<S: ClientStream>(
    mut stream: S,
    peer: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Receiver<bool>,
) {
    if shared.config.protected_refuses(peer.ip()) {
        // Redis's protected mode: explain, then close (before reading anything).
        tracing::debug!(%peer, "protected mode: non-loopback client refused");
        let _ = stream.write_all(PROTECTED_MODE_DENIED).await;
        let _ = stream.shutdown().await;
        return;
    }
    shared.stats.total_connections.fetch_add(1, Relaxed);
    let now = shared.stats.connected_clients.fetch_add(1, Relaxed);
    let _slot = ClientSlot(shared.clone());
    if now >= shared.live.maxclients.load(Relaxed) {
        shared.stats.rejected_connections.fetch_add(1, Relaxed);
        let _ = stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await;
        let _ = stream.shutdown().await;
        return;
    }
    connection::serve(stream, shared, stop).await;
}

/// Completes on SIGINT or SIGTERM.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `sutra-cache serve`: validates the configuration, opens the engine, binds, serves until
/// SIGINT/SIGTERM, then closes the engine. Logging must be set up by the caller.
pub fn serve(mut config: ServerConfig) -> ExitCode {
    if let Err(reason) = config.validate() {
        eprintln!("sutra-cache: {reason}");
        return ExitCode::from(2);
    }
    config.detect_memory_limit();
    match (config.cgroup_memory_limit, config.maxmemory) {
        (Some(limit), None) => tracing::info!(
            cgroup_limit = limit,
            maxmemory = config.effective_maxmemory(),
            "no --maxmemory: capping accounted bytes at 30% of the cgroup memory limit \
             (evict before the OOM killer)"
        ),
        (Some(limit), Some(cap)) if cap == 0 || cap > limit => tracing::warn!(
            cgroup_limit = limit,
            maxmemory = cap,
            "--maxmemory is off or over the cgroup memory limit: the kernel may kill the \
             process before it evicts"
        ),
        _ => {}
    }
    if !config.bind.is_loopback() && config.password().is_none() {
        if config.protected_mode {
            tracing::warn!(
                bind = %config.bind,
                "no password: protected mode serves only loopback clients (others get \
                 -DENIED); set --requirepass, or --protected-mode no on a private network"
            );
        } else {
            tracing::warn!(
                bind = %config.bind,
                "no password and protected mode off: anyone who can reach the port can read \
                 and delete every entry (publish the port only with --requirepass)"
            );
        }
    }
    let engine = match Engine::open(config.engine_config()) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("sutra-cache: cannot open the engine: {e}");
            return ExitCode::from(1);
        }
    };
    let engine = Arc::new(engine);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.threads > 0 {
        builder.worker_threads(config.threads);
    }
    // Long commands (VSIM, scans) run on the blocking pool. tokio's default of 512 threads
    // let a search-heavy load of 50 connections keep ~515 threads alive, each with its stack
    // and allocator heap: ~380 MB resident with no data at all (tests/server/server_soak.rs).
    // More threads than this do not make searches faster on any core count we run on;
    // past it, offloaded commands wait for a thread.
    builder.max_blocking_threads(MAX_BLOCKING_THREADS);
    // io_uring client sockets: a worker about to wait submits every connection's queued
    // receives and sends in one system call.
    #[cfg(target_os = "linux")]
    if !config.io_uring_sockets.eq_ignore_ascii_case("no") {
        builder.on_thread_park(super::uring::park_hook);
    }
    let runtime = match builder.enable_all().thread_name("sutra-server").build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sutra-cache: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = config.listen_addr();
    let tls_addr = SocketAddr::new(config.bind, config.tls_port);
    let result = runtime.block_on(async {
        let mut listeners = Listeners::default();
        if config.serves_plain_port() {
            listeners.plain = Some(TcpListener::bind(addr).await?);
        }
        if config.tls_port != 0 {
            listeners.tls =
                Some(TcpListener::bind(tls_addr).await.map_err(|e| {
                    io::Error::new(e.kind(), format!("the TLS port {tls_addr}: {e}"))
                })?);
        }
        let shown = |l: &Option<TcpListener>| {
            l.as_ref()
                .and_then(|l| l.local_addr().ok())
                .map_or_else(|| "none".to_string(), |a| a.to_string())
        };
        tracing::info!(
            addr = %shown(&listeners.plain),
            tls_addr = %shown(&listeners.tls),
            version = env!("CARGO_PKG_VERSION"),
            simd = engine.simd_isa(),
            in_memory = config.in_memory,
            wal = ?engine.wal_mode(),
            role = %config.role,
            cache_role = config.cache_role(),
            default_ttl_seconds = config.default_ttl(),
            maxmemory = config.effective_maxmemory(),
            "sutra-cache listening (RESP and HTTP)"
        );
        run_on(listeners, engine.clone(), config, termination()).await
    });
    match result {
        Ok(()) => {
            tracing::info!("stopped accepting; in-flight requests done; closing the engine");
            if let Err(e) = engine.close() {
                eprintln!("sutra-cache: closing the engine failed: {e}");
                return ExitCode::from(1);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sutra-cache: cannot serve on {addr}: {e}");
            ExitCode::from(1)
        }
    }
}
