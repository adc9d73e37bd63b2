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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::Engine;

/// Redis's replication id: 40 hex digits, new for each life of a master.
pub fn new_replid() -> String {
    crate::cluster::new_node_id()
}

/// The file where a master keeps its replication history (`<data_dir>/`this), once it has
/// served a replica: its replication id, the former one it continues, and at a clean
/// shutdown its last LSN.
pub const MASTER_FILE: &str = "replication-master.json";

/// Map entries a replica keeps from its master's offsets to its own LSNs at most.
const MAP_MAX: usize = 1 << 22;

/// A former history this node continues (Redis's `master_replid2`): a replica that followed
/// it up to `last` continues here, from the LSN of this node's log that matches its offset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Former {
    /// That history's replication id.
    pub replid: String,
    /// Its last offset this node has: a replica at or below it may continue.
    pub last: u64,
    /// `None`: that history's offsets are this node's LSNs (this master before a restart it
    /// may have lost records in). Else `(offset there, LSN here)` pairs in increasing order,
    /// each saying that this node's log up to that LSN holds that history up to that offset
    /// (a promoted replica's map).
    pub map: Option<Vec<(u64, u64)>>,
}

impl Former {
    /// The LSN of this node's log that holds the former history up to `offset`, if known.
    pub fn own_lsn(&self, offset: u64) -> Option<u64> {
        if offset > self.last {
            return None;
        }
        match &self.map {
            None => Some(offset),
            Some(m) => {
                let i = m.partition_point(|&(o, _)| o <= offset);
                (i > 0).then(|| m[i - 1].1)
            }
        }
    }
}

/// What [`MASTER_FILE`] holds.
#[derive(serde::Serialize, serde::Deserialize, Debug, Default)]
struct KeptHistory {
    replid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replid2: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    second_last: Option<u64>,
    /// The last LSN at a clean shutdown; absent while the node runs (a crash leaves it so).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    clean_lsn: Option<u64>,
}

/// Writes `body` to `path` durably: a temporary file, fsynced, renamed, the directory
/// fsynced (a crash leaves the old file or the new one).
fn write_durably(path: &std::path::Path, body: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(body)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
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
    /// This node's replication id as a master (kept across a clean restart once it served a
    /// replica, new at a first start and at each promotion).
    replid: Mutex<String>,
    /// The former history this node continues (`master_replid2`).
    former: Mutex<Option<Former>>,
    /// A replica: `(master offset, own LSN)` pairs, each saying this node's log up to that
    /// LSN holds its master's history up to that offset (becomes [`Former::map`] at
    /// promotion).
    lsn_map: Mutex<VecDeque<(u64, u64)>>,
    /// `<data_dir>/replication-master.json`; `None` in memory.
    master_file: Option<std::path::PathBuf>,
    /// Whether the history is kept in `master_file` (it existed at start, or this node has
    /// served a replica or was promoted since).
    keeps_history: AtomicBool,
    /// Redis's `replica-ignore-maxmemory`: a replica makes no evictions of its own (it
    /// applies its master's, which its log holds as deletions).
    pub ignore_maxmemory: AtomicBool,
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
    /// A node's state at start: a master with no replica yet, with the replication history
    /// kept in its data directory if any. After a clean shutdown (the kept last LSN is the
    /// engine's) it keeps its replication id; after a crash (it may have lost records its
    /// replicas received) it takes a new one and continues the old as its former history
    /// up to the LSN it recovered, so replicas at or below it continue, others copy again.
    pub fn new(config: &super::config::ServerConfig, engine: &Engine) -> Self {
        let master_file = (!config.in_memory).then(|| config.storage_path.join(MASTER_FILE));
        let kept: Option<KeptHistory> = master_file.as_ref().and_then(|p| {
            let text = std::fs::read_to_string(p).ok()?;
            match serde_json::from_str(&text) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!(file = %p.display(), error = %e, "replication history unreadable: a new history");
                    None
                }
            }
        });
        let last = engine.last_lsn();
        let (replid, former) = match &kept {
            Some(k) if k.clean_lsn == Some(last) => {
                let former = match (&k.replid2, k.second_last) {
                    (Some(id), Some(l)) => Some(Former {
                        replid: id.clone(),
                        last: l,
                        map: None,
                    }),
                    _ => None,
                };
                (k.replid.clone(), former)
            }
            Some(k) => (
                new_replid(),
                Some(Former {
                    replid: k.replid.clone(),
                    last,
                    map: None,
                }),
            ),
            None => (new_replid(), None),
        };
        let repl = Self {
            replid: Mutex::new(replid),
            former: Mutex::new(former),
            lsn_map: Mutex::new(VecDeque::new()),
            master_file,
            keeps_history: AtomicBool::new(kept.is_some()),
            ignore_maxmemory: AtomicBool::new(config.replica_ignore_maxmemory),
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
        };
        if kept.is_some() {
            // Running: a crash from now on leaves no clean mark.
            repl.keep_history(None);
        }
        repl
    }

    /// Writes the history to [`MASTER_FILE`] (with `clean_lsn` at a clean shutdown).
    fn keep_history(&self, clean_lsn: Option<u64>) {
        let Some(path) = &self.master_file else {
            return;
        };
        let former = self.former.lock().clone();
        // A promoted replica's map is not kept: after a restart it continues its own
        // history only.
        let former = former.filter(|f| f.map.is_none());
        let kept = KeptHistory {
            replid: self.replid(),
            replid2: former.as_ref().map(|f| f.replid.clone()),
            second_last: former.as_ref().map(|f| f.last),
            clean_lsn,
        };
        let body = serde_json::to_vec(&kept).unwrap_or_default();
        if let Err(e) = write_durably(path, &body) {
            tracing::warn!(file = %path.display(), error = %e, "cannot keep the replication history");
        }
    }

    /// A master's side, when a replica asks for the log: from now on the history is kept in
    /// the data directory (and the backlog is made at the next start from the log's tail).
    pub fn serving_replicas(&self) {
        if !self.keeps_history.swap(true, Ordering::SeqCst) {
            self.keep_history(None);
        }
    }

    /// At a clean shutdown, once no client writes any more: marks the history clean at the
    /// engine's last LSN, so the next start keeps the replication id.
    pub fn shutdown_cleanly(&self, engine: &Engine) {
        if self.keeps_history.load(Ordering::SeqCst) {
            self.keep_history(Some(engine.last_lsn()));
        }
    }

    /// The former history this node continues, if any.
    pub fn former(&self) -> Option<Former> {
        self.former.lock().clone()
    }

    /// A master's side of `SUTRA.PSYNC replid offset`: the LSN of this node's log after which
    /// that replica continues (its offset here), when it can: its history is this node's
    /// and the backlog holds the records after its offset, or it is the former history up to
    /// its end and the backlog holds the records after the matching LSN.
    pub fn continuation(
        &self,
        replid: &str,
        offset: i64,
        backlog: &crate::wal::Backlog,
    ) -> Option<u64> {
        let offset = u64::try_from(offset).ok()?;
        let own = if replid == *self.replid.lock() {
            offset
        } else {
            let former = self.former.lock();
            let f = former.as_ref().filter(|f| f.replid == replid)?;
            f.own_lsn(offset)?
        };
        backlog.holds(own + 1).then_some(own)
    }

    /// A replica's side: its log up to `own` holds its master's history up to `offset`.
    pub(crate) fn map_offset(&self, offset: u64, own: u64, engine: &Engine) {
        if own == 0 {
            return;
        }
        let mut m = self.lsn_map.lock();
        match m.back_mut() {
            Some(last) if last.1 == own => last.0 = last.0.max(offset),
            Some(last) if last.0 >= offset => {}
            _ => m.push_back((offset, own)),
        }
        // Entries whose next LSN the backlog no longer holds serve no continuation.
        let first = engine
            .replication_backlog_made()
            .map_or(0, |b| b.first_lsn());
        while m.len() > 1 && (m[0].1 + 1 < first || m.len() > MAP_MAX) {
            m.pop_front();
        }
    }

    /// A replica's side: its master's offsets changed meaning (a full copy, a new master's
    /// history): the map starts again.
    pub(crate) fn clear_map(&self) {
        self.lsn_map.lock().clear();
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
        // Kept from now on, so that once promoted this node continues its peers (an
        // in-memory node has no log to serve them from).
        let _ = engine.replication_backlog(self.backlog_bytes);
        engine.set_evictions_paused(self.ignore_maxmemory.load(Ordering::SeqCst));
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

    /// `REPLICAOF NO ONE`: stop following and become a master with a new replication id,
    /// continuing the old master's history up to the offset applied here as its former one
    /// (`master_replid2`): the old master's other replicas pointed here continue from the
    /// matching LSN of this node's log (others copy it in full). Every record applied so far
    /// stays; none of the old master's is applied after this returns. Evictions resume.
    pub fn promote(&self, engine: &Engine) {
        {
            let mut gate = self.apply_gate.lock();
            *gate += 1;
        }
        let old = self.following.lock().take();
        if let Some(t) = old.and_then(|o| o.task) {
            t.abort();
        }
        let master = std::mem::take(&mut *self.master_replid.lock());
        let map: Vec<(u64, u64)> = self.lsn_map.lock().drain(..).collect();
        let last = self.offset.load(Ordering::SeqCst);
        *self.former.lock() = (!master.is_empty() && !map.is_empty()).then_some(Former {
            replid: master,
            last,
            map: Some(map),
        });
        *self.replid.lock() = new_replid();
        engine.set_evictions_paused(false);
        if let Some(path) = &self.state_file {
            let _ = std::fs::remove_file(path);
        }
        self.keeps_history.store(true, Ordering::SeqCst);
        self.keep_history(None);
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
                    self.promote(engine);
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
        let (replid2, second) = match self.former() {
            Some(f) if !self.is_replica() => (f.replid, (f.last + 1) as i64),
            _ => ("0".repeat(40), -1),
        };
        let _ = write!(
            t,
            "master_failover_state:no-failover\r\nmaster_replid:{replid}\r\n\
             master_replid2:{replid2}\r\n\
             master_repl_offset:{master_offset}\r\nsecond_repl_offset:{second}\r\n\
             repl_backlog_active:{active}\r\nrepl_backlog_size:{size}\r\n\
             repl_backlog_first_byte_offset:{first}\r\nrepl_backlog_histlen:{histlen}\r\n"
        );
        t
    }
}
