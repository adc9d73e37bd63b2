//! Replication: a node follows a master by streaming its write-ahead log (Redis's
//! `REPLICAOF`, `ROLE`, `INFO replication`, `WAIT`). docs/replication.md describes the
//! protocol; this module is the node's state, `master` the master's side of one replica's
//! connection, `replica` the replica's link to its master.
//!
//! Offsets are the master's LSNs: a replica at offset `o` has applied every record of its
//! master up to LSN `o`. A replica acknowledges an offset (`REPLCONF ACK`) only once what it
//! applied is durable in its own log, so `WAIT n` counts replicas that would keep the write
//! through a crash of theirs (under their sync policy).

pub(crate) mod master;
pub(crate) mod replica;

use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::Engine;

/// Redis's replication id: 40 hex digits, new for each life of a master.
pub fn new_replid() -> String {
    crate::cluster::new_node_id()
}

/// One replica connected to this master.
#[derive(Debug)]
pub struct ReplicaLink {
    /// Its address as seen here.
    pub ip: String,
    /// The port it serves clients on (`REPLCONF listening-port`), 0 when not told.
    pub port: u16,
    /// The highest offset it acknowledged (durable there).
    pub ack: AtomicU64,
    /// `wait_bgsave` while the full copy is sent, then `online`.
    pub online: AtomicBool,
    /// When it last acknowledged, in ms since the server started.
    pub last_ack_ms: AtomicU64,
}

/// Where a replica's link to its master stands (ROLE's and INFO's words).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Not connected (waiting before the next attempt).
    Connect,
    /// Connecting and handshaking.
    Connecting,
    /// Receiving the full copy.
    Sync,
    /// Streaming the log.
    Connected,
}

impl LinkState {
    /// ROLE's word.
    pub fn word(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// The master a replica follows and its link's state.
#[derive(Debug)]
pub struct Following {
    pub host: String,
    pub port: u16,
    /// Bumped by every REPLICAOF: a link of an older generation stops.
    pub generation: u64,
    pub state: LinkState,
    /// When data last came from the master, ms since the server started.
    pub last_io_ms: u64,
    /// The task following the master.
    pub task: Option<tokio::task::AbortHandle>,
}

/// A node's replication state (both roles).
pub struct Replication {
    /// This node's replication id as a master (new at start and at each promotion).
    replid: Mutex<String>,
    /// `Some`: this node is a replica of that master.
    pub following: Mutex<Option<Following>>,
    /// Generation of the newest REPLICAOF; taken by a link around each batch it applies, so
    /// that once REPLICAOF has returned no record of the old master is applied.
    pub apply_gate: Mutex<u64>,
    /// A replica: the master's replication id and the offset applied (and durable) here.
    pub master_replid: Mutex<String>,
    pub offset: AtomicU64,
    /// The replicas connected to this master.
    pub replicas: Mutex<Vec<Arc<ReplicaLink>>>,
    /// Woken when a replica acknowledges (WAIT).
    pub acked: tokio::sync::Notify,
    /// Redis's `replica-read-only`.
    pub read_only: AtomicBool,
    /// The port this node serves clients on (told to its master).
    pub listening_port: AtomicU16,
    /// Bytes of log records kept for replicas (Redis's `repl-backlog-size`).
    pub backlog_bytes: usize,
    /// The password sent to the master (Redis's `masterauth`).
    pub masterauth: Option<String>,
    /// Where a replica keeps its offset (`<data_dir>/replication.json`); `None` in memory.
    pub state_file: Option<std::path::PathBuf>,
    /// Full copies served / partial resyncs accepted (INFO stats).
    pub full_syncs: AtomicU64,
    pub partial_syncs_ok: AtomicU64,
    pub partial_syncs_err: AtomicU64,
    /// The server stops: streams to replicas end.
    pub closing: AtomicBool,
    pub closed: tokio::sync::Notify,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("replid", &*self.replid.lock())
            .field("following", &*self.following.lock())
            .finish()
    }
}

impl Replication {
    /// The state of a master with no replica yet.
    pub fn new(config: &super::config::ServerConfig) -> Self {
        Self {
            replid: Mutex::new(new_replid()),
            following: Mutex::new(None),
            apply_gate: Mutex::new(0),
            master_replid: Mutex::new(String::new()),
            offset: AtomicU64::new(0),
            replicas: Mutex::new(Vec::new()),
            acked: tokio::sync::Notify::new(),
            read_only: AtomicBool::new(config.replica_read_only),
            listening_port: AtomicU16::new(config.port),
            backlog_bytes: usize::try_from(config.repl_backlog_size).unwrap_or(usize::MAX),
            masterauth: config.masterauth.clone().filter(|p| !p.is_empty()),
            state_file: (!config.in_memory).then(|| config.storage_path.join("replication.json")),
            full_syncs: AtomicU64::new(0),
            partial_syncs_ok: AtomicU64::new(0),
            partial_syncs_err: AtomicU64::new(0),
            closing: AtomicBool::new(false),
            closed: tokio::sync::Notify::new(),
        }
    }

    /// This node's replication id as a master.
    pub fn replid(&self) -> String {
        self.replid.lock().clone()
    }

    /// Whether this node follows a master.
    pub fn is_replica(&self) -> bool {
        self.following.lock().is_some()
    }

    /// Whether client writes are refused here (a replica with `replica-read-only yes`).
    pub fn refuses_writes(&self) -> bool {
        self.read_only.load(Ordering::Relaxed) && self.is_replica()
    }

    /// `REPLICAOF host port`: follow that master (from the offset kept in the data
    /// directory when it is the same master's history, else by a full copy). Stops
    /// following any other. Needs a tokio runtime.
    pub fn follow(self: &Arc<Self>, engine: Arc<Engine>, host: String, port: u16) {
        let generation = {
            let mut gate = self.apply_gate.lock();
            *gate += 1;
            *gate
        };
        let mut f = self.following.lock();
        if let Some(old) = f.take() {
            if let Some(t) = old.task {
                t.abort();
            }
        }
        let task = tokio::spawn(replica::follow(
            self.clone(),
            engine,
            host.clone(),
            port,
            generation,
        ));
        *f = Some(Following {
            host,
            port,
            generation,
            state: LinkState::Connect,
            last_io_ms: 0,
            task: Some(task.abort_handle()),
        });
    }

    /// `REPLICAOF NO ONE`: stop following and become a master with a new replication id
    /// (replicas of this node then copy it in full). Every record applied so far stays; none
    /// of the old master's is applied after this returns.
    pub fn promote(&self) {
        {
            let mut gate = self.apply_gate.lock();
            *gate += 1;
        }
        let old = self.following.lock().take();
        if let Some(t) = old.and_then(|o| o.task) {
            t.abort();
        }
        *self.replid.lock() = new_replid();
        self.master_replid.lock().clear();
        if let Some(path) = &self.state_file {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Cluster mode: follows the master of the shard `topo` lists this node (`my_id`) as a
    /// replica of (unless it does already), or, listed as a master, stops following. Needs
    /// a tokio runtime to follow.
    pub fn reconcile_cluster(
        self: &Arc<Self>,
        engine: &Arc<Engine>,
        topo: &crate::cluster::Topology,
        my_id: &str,
    ) {
        match topo.replica_shard(my_id) {
            Some(i) => {
                let m = &topo.shards[i].master;
                let same = self
                    .following
                    .lock()
                    .as_ref()
                    .is_some_and(|f| f.host == m.ip && f.port == m.port);
                if !same && tokio::runtime::Handle::try_current().is_ok() {
                    tracing::info!(master = %m.endpoint(), "cluster: following this shard's master");
                    self.follow(engine.clone(), m.ip.clone(), m.port);
                }
            }
            None => {
                if topo.shard_of(my_id).is_some() && self.is_replica() {
                    tracing::info!("cluster: this node is its shard's master now");
                    self.promote();
                }
            }
        }
    }

    /// Stops following (server shutdown): the link's task ends.
    pub fn stop(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.closed.notify_waiters();
        *self.apply_gate.lock() += 1;
        if let Some(f) = self.following.lock().as_mut() {
            if let Some(t) = f.task.take() {
                t.abort();
            }
        }
    }

    /// Sets the link's state (from the link of `generation` only).
    pub(crate) fn set_state(&self, generation: u64, state: LinkState, now_ms: u64) {
        if let Some(f) = self.following.lock().as_mut() {
            if f.generation == generation {
                f.state = state;
                if state == LinkState::Connected || state == LinkState::Sync {
                    f.last_io_ms = now_ms;
                }
            }
        }
    }

    /// How many replicas acknowledged `offset` or more.
    pub fn acked_at_least(&self, offset: u64) -> usize {
        self.replicas
            .lock()
            .iter()
            .filter(|r| r.ack.load(Ordering::SeqCst) >= offset)
            .count()
    }

    /// `WAIT`: waits until `n` replicas acknowledged `offset` or `timeout` passed (`None`:
    /// no limit); returns how many had.
    pub async fn wait_for_acks(
        &self,
        n: usize,
        offset: u64,
        timeout: Option<std::time::Duration>,
    ) -> usize {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let notified = self.acked.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let have = self.acked_at_least(offset);
            if have >= n {
                return have;
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return self.acked_at_least(offset);
                    }
                }
                None => notified.await,
            }
        }
    }

    /// The offset and replication id kept in the data directory by a replica, if any.
    pub(crate) fn load_position(&self) -> Option<(String, u64)> {
        let path = self.state_file.as_ref()?;
        let text = std::fs::read_to_string(path).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((v["replid"].as_str()?.to_string(), v["offset"].as_u64()?))
    }

    /// Keeps the position (written to a temporary file then renamed: a crash leaves the old
    /// one or the new one; an old one only makes the replica apply some records again,
    /// which records allow).
    pub(crate) fn save_position(&self, replid: &str, offset: u64) {
        let Some(path) = &self.state_file else { return };
        let tmp = path.with_extension("json.tmp");
        let body = serde_json::json!({"replid": replid, "offset": offset}).to_string();
        if std::fs::write(&tmp, body)
            .and_then(|()| std::fs::rename(&tmp, path))
            .is_err()
        {
            tracing::warn!(file = %path.display(), "cannot keep the replication offset");
        }
    }

    /// Forgets the kept position (before a full copy replaces the data).
    pub(crate) fn forget_position(&self) {
        if let Some(path) = &self.state_file {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Redis's INFO replication section (without its title).
    pub fn info(&self, engine: &Engine, now_ms: u64) -> String {
        use std::fmt::Write;
        let mut t = String::new();
        let following = self.following.lock();
        let master_offset = match &*following {
            Some(f) => {
                let offset = self.offset.load(Ordering::SeqCst);
                let up = f.state == LinkState::Connected;
                let _ = write!(
                    t,
                    "role:slave\r\nmaster_host:{}\r\nmaster_port:{}\r\nmaster_link_status:{}\r\n\
                     master_last_io_seconds_ago:{}\r\nmaster_sync_in_progress:{}\r\n\
                     slave_read_repl_offset:{offset}\r\nslave_repl_offset:{offset}\r\n\
                     slave_priority:100\r\nslave_read_only:{}\r\nreplica_announced:1\r\n",
                    f.host,
                    f.port,
                    if up { "up" } else { "down" },
                    if f.last_io_ms == 0 {
                        -1
                    } else {
                        (now_ms.saturating_sub(f.last_io_ms) / 1000) as i64
                    },
                    u8::from(f.state == LinkState::Sync),
                    u8::from(self.read_only.load(Ordering::Relaxed)),
                );
                if !up {
                    t.push_str("master_link_down_since_seconds:-1\r\n");
                }
                offset
            }
            None => {
                t.push_str("role:master\r\n");
                engine.last_lsn()
            }
        };
        drop(following);
        let replicas = self.replicas.lock();
        let _ = write!(t, "connected_slaves:{}\r\n", replicas.len());
        for (i, r) in replicas.iter().enumerate() {
            let ack = r.ack.load(Ordering::SeqCst);
            let _ = write!(
                t,
                "slave{i}:ip={},port={},state={},offset={ack},lag={}\r\n",
                r.ip,
                r.port,
                if r.online.load(Ordering::Relaxed) {
                    "online"
                } else {
                    "wait_bgsave"
                },
                now_ms.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000
            );
        }
        drop(replicas);
        let replid = if self.is_replica() {
            let m = self.master_replid.lock().clone();
            if m.is_empty() {
                self.replid()
            } else {
                m
            }
        } else {
            self.replid()
        };
        let (active, size, first, histlen) = match engine.replication_backlog_made() {
            Some(b) => {
                let first = b.first_lsn();
                (1, self.backlog_bytes, first, b.next_lsn() - first)
            }
            _ => (0, self.backlog_bytes, 0, 0),
        };
        let _ = write!(
            t,
            "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\n\
             master_replid2:0000000000000000000000000000000000000000\r\n\
             master_repl_offset:{master_offset}\r\nsecond_repl_offset:-1\r\n\
             repl_backlog_active:{active}\r\nrepl_backlog_size:{size}\r\n\
             repl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n"
        );
        t
    }
}
