//! A data directory served for one tool run: the engine opened on it behind a private
//! loopback listener on a free port, so export and import speak to a directory exactly as
//! they speak to a server (same commands, same semantics). Stops, checkpointing, on drop.

use std::path::Path;
use std::sync::Arc;

use sutra_cache::server::{run, ServerConfig};
use sutra_cache::Engine;

/// A server over a data directory, for the life of this value.
pub struct Local {
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
    engine: Arc<Engine>,
}

impl Local {
    /// Opens `dir` (recovering it as `serve` would; created when missing).
    pub fn open(dir: &Path) -> Result<Local, String> {
        let config = ServerConfig {
            storage_path: dir.to_path_buf(),
            in_memory: false,
            ..ServerConfig::default()
        };
        let engine = Engine::open(config.engine_config())
            .map_err(|e| format!("cannot open {}: {e}", dir.display()))?;
        let engine = Arc::new(engine);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let e = engine.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                let _ = addr_tx.send(listener.local_addr()?);
                run(listener, e, config, async {
                    let _ = stop_rx.await;
                })
                .await
            })
        });
        let addr = addr_rx
            .recv()
            .map_err(|_| "the local listener did not start".to_string())?;
        Ok(Local {
            url: format!("redis://{addr}"),
            stop: Some(stop_tx),
            thread: Some(thread),
            engine,
        })
    }

    /// Stops the listener and closes the engine (a final snapshot, the log synced).
    pub fn close(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.engine
            .close()
            .map_err(|e| format!("closing the data directory: {e}"))
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.shutdown();
        }
    }
}

/// Where a tool reads or writes: a server's URL or a data directory.
#[derive(clap::Args, Clone, Debug)]
pub struct Endpoint {
    /// The server: redis://[user:password@]host:port[/db] (default this server's 127.0.0.1:50051).
    #[arg(long, conflicts_with = "data_dir")]
    pub url: Option<String>,
    /// A data directory instead of a server (it must not be in use by one).
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
}

impl Endpoint {
    /// The URL to connect to, and the local server behind it when it is a directory.
    pub fn resolve(&self) -> Result<(String, Option<Local>), String> {
        match (&self.url, &self.data_dir) {
            (_, Some(d)) => {
                let l = Local::open(d)?;
                Ok((l.url.clone(), Some(l)))
            }
            (Some(u), None) => Ok((u.clone(), None)),
            (None, None) => Ok(("redis://127.0.0.1:50051".into(), None)),
        }
    }
}

/// A progress spinner on stderr (hidden when stderr is not a terminal).
pub fn spinner(what: &str) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {prefix} {pos} entries {msg} [{elapsed}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    pb.set_prefix(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}
