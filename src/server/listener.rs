//! The accept loop: client limit, one task per connection, graceful shutdown; and
//! [`serve`], what `sutra-cache serve` runs.

use std::future::Future;
use std::io;
use std::process::ExitCode;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::config::ServerConfig;
use super::connection;
use super::shared::Shared;
use crate::{Engine, Error};

/// Decrements the connected-clients gauge when a connection task ends, however it ends.
struct ClientSlot(Arc<Shared>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.stats.connected_clients.fetch_sub(1, Relaxed);
    }
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
    let grace = Duration::from_secs(config.shutdown_grace_seconds);
    let shared = Arc::new(Shared::new(engine, config));
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
            accepted = listener.accept() => {
                let mut stream = match accepted {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    }
                };
                shared.stats.total_connections.fetch_add(1, Relaxed);
                let now = shared.stats.connected_clients.fetch_add(1, Relaxed);
                let slot = ClientSlot(shared.clone());
                if now >= shared.config.maxclients {
                    shared.stats.rejected_connections.fetch_add(1, Relaxed);
                    tasks.spawn(async move {
                        let _slot = slot;
                        let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                        let _ = stream.shutdown().await;
                    });
                    continue;
                }
                let shared = shared.clone();
                let stop = stop_rx.clone();
                tasks.spawn(async move {
                    let _slot = slot;
                    connection::serve(stream, shared, stop).await;
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(
            left = tasks.len(),
            "shutdown grace period over; closing remaining clients"
        );
        tasks.shutdown().await;
    }
    Ok(())
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
pub fn serve(config: ServerConfig) -> ExitCode {
    if let Err(reason) = config.validate() {
        eprintln!("sutra-cache: {reason}");
        return ExitCode::from(2);
    }
    let mut config = config;
    let engine = match Engine::open(config.engine_config()) {
        Ok(e) => e,
        // Until the durability layer lands the engine refuses a data directory: serve
        // from memory, and say so here, in INFO (in_memory:1) and in /health.
        Err(Error::Unsupported(why)) if !config.in_memory => {
            tracing::warn!(reason = %why, "persistence unavailable: serving from memory only");
            config.in_memory = true;
            match Engine::open(config.engine_config()) {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("sutra-cache: cannot open the engine: {e}");
                    return ExitCode::from(1);
                }
            }
        }
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
    let runtime = match builder.enable_all().thread_name("sutra-server").build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sutra-cache: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let addr = config.listen_addr();
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        tracing::info!(
            %addr,
            version = env!("CARGO_PKG_VERSION"),
            simd = engine.simd_isa(),
            in_memory = config.in_memory,
            "sutra-cache listening (RESP and HTTP)"
        );
        run(listener, engine.clone(), config, termination()).await
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
