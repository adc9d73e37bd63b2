//! A node's part in a cluster (`--cluster-mode`): its id, the configuration it accepted
//! last (kept in the data directory), and where a keyed command's slot is served.

use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::config::ServerConfig;
use crate::cluster::{
    load_config, load_or_make_node_id, store_config, ClusterMode, NodeAddr, Routes, Shard,
    SlotRange, Topology, SLOTS,
};

/// Cluster state shared by every connection.
pub struct ClusterState {
    /// `off`, `emulated` or `yes`.
    pub mode: ClusterMode,
    /// This node's id (CLUSTER MYID; how configurations name it).
    pub my_id: String,
    /// Where the id and the configuration are kept (none in memory).
    dir: Option<PathBuf>,
    /// The configuration in force (`yes` mode, once one was pushed).
    routes: RwLock<Option<Arc<Routes>>>,
    /// Serializes configuration pushes (check of the epoch, store, swap).
    pushing: Mutex<()>,
}

/// Where a command's slot is served, when not here.
#[derive(Debug, PartialEq, Eq)]
pub enum Elsewhere {
    /// `-MOVED slot endpoint`.
    Moved(u16, String),
    /// `-ASK slot endpoint`.
    Ask(u16, String),
    /// `-CLUSTERDOWN …`.
    Down(&'static str),
    /// `-TRYAGAIN …`: a write to a key of a slot being copied away (the manager's copy of
    /// a key and a client's write to it must not interleave); clients retry.
    TryAgain(u16),
}

impl Elsewhere {
    /// The error reply's text.
    pub fn message(&self) -> String {
        match self {
            Elsewhere::Moved(slot, at) => format!("MOVED {slot} {at}"),
            Elsewhere::Ask(slot, at) => format!("ASK {slot} {at}"),
            Elsewhere::Down(why) => format!("CLUSTERDOWN {why}"),
            Elsewhere::TryAgain(slot) => format!(
                "TRYAGAIN Slot {slot} is migrating: writes to its existing keys wait until \
                 their copy is done"
            ),
        }
    }
}

/// `-CLUSTERDOWN` text before any configuration arrived.
pub const NOT_CONFIGURED: &str =
    "The cluster is not configured yet: push a configuration (sutra-cache cluster create)";

impl ClusterState {
    /// Not in a cluster.
    pub fn off() -> Self {
        ClusterState {
            mode: ClusterMode::Off,
            my_id: String::new(),
            dir: None,
            routes: RwLock::new(None),
            pushing: Mutex::new(()),
        }
    }

    /// The state `config` asks for: the node id (kept in the data directory unless in
    /// memory) and, in `yes` mode, the configuration accepted before a restart.
    pub fn open(config: &ServerConfig) -> Result<Self, String> {
        if config.cluster_mode == ClusterMode::Off {
            return Ok(Self::off());
        }
        let dir = (!config.in_memory).then(|| config.storage_path.clone());
        let my_id = load_or_make_node_id(dir.as_deref(), config.cluster_node_id.as_deref())?;
        let mut routes = None;
        if config.cluster_mode == ClusterMode::Yes {
            if let Some(d) = &dir {
                if let Some(t) = load_config(d)? {
                    let r = Routes::new(t).map_err(|e| e.to_string())?;
                    tracing::info!(epoch = r.topo.epoch, "cluster configuration restored");
                    routes = Some(Arc::new(r));
                }
            }
        }
        Ok(ClusterState {
            mode: config.cluster_mode,
            my_id,
            dir,
            routes: RwLock::new(routes),
            pushing: Mutex::new(()),
        })
    }

    /// The configuration in force (`yes` mode).
    pub fn routes(&self) -> Option<Arc<Routes>> {
        self.routes.read().clone()
    }

    /// The configuration in force as JSON (`yes` mode, once one was pushed).
    pub fn config_json(&self) -> Option<String> {
        self.routes().map(|r| r.topo.to_json())
    }

    /// The epoch in force (0 before any configuration).
    pub fn epoch(&self) -> u64 {
        self.routes.read().as_ref().map_or(0, |r| r.topo.epoch)
    }

    /// What the replies describe: the configuration in force, or in emulated mode one
    /// shard of this node (reached at `local`, the address the client connected to)
    /// owning every slot.
    pub fn view(&self, local: &str) -> Option<Arc<Routes>> {
        match self.mode {
            ClusterMode::Off => None,
            ClusterMode::Yes => self.routes(),
            ClusterMode::Emulated => {
                let (ip, port) = split_endpoint(local);
                let topo = Topology {
                    epoch: 1,
                    shards: vec![Shard {
                        slot_ranges: vec![SlotRange {
                            start: 0,
                            end: (SLOTS - 1) as u16,
                        }],
                        master: NodeAddr {
                            id: self.my_id.clone(),
                            ip,
                            port: port.max(1),
                        },
                        replicas: vec![],
                        migrations: vec![],
                    }],
                };
                Routes::new(topo).ok().map(Arc::new)
            }
        }
    }

    /// Accepts a configuration pushed by the manager: refused when its epoch is below the
    /// one in force (or equal with other content), when it does not list this node, or
    /// when it cannot be stored. Returns whether it changed anything.
    pub fn apply(&self, topo: Topology) -> Result<bool, String> {
        if self.mode != ClusterMode::Yes {
            return Err(
                "this node is not in cluster mode yes: start it with --cluster-mode yes".into(),
            );
        }
        let routes = Routes::new(topo).map_err(|e| e.to_string())?;
        let t = &routes.topo;
        if t.shard_of(&self.my_id).is_none() && t.replica_shard(&self.my_id).is_none() {
            return Err(format!(
                "the configuration does not list this node ({}) as a master or a replica: \
                 refusing it (see CLUSTER MYID)",
                self.my_id
            ));
        }
        let _one = self.pushing.lock();
        if let Some(cur) = self.routes() {
            if t.epoch < cur.topo.epoch {
                return Err(format!(
                    "configuration epoch {} is older than this node's {}: refused",
                    t.epoch, cur.topo.epoch
                ));
            }
            if t.epoch == cur.topo.epoch {
                return if *t == cur.topo {
                    Ok(false)
                } else {
                    Err(format!(
                        "configuration epoch {} is this node's but the content differs: a \
                         new configuration needs a higher epoch",
                        t.epoch
                    ))
                };
            }
        }
        if let Some(dir) = &self.dir {
            store_config(dir, t)
                .map_err(|e| format!("cannot store the configuration in {}: {e}", dir.display()))?;
        }
        *self.routes.write() = Some(Arc::new(routes));
        Ok(true)
    }

    /// Where `slot` is served when not here (`yes` mode). `missing`: whether one of the
    /// command's keys does not exist here (asked only for a slot migrating away). `asking`:
    /// the client sent ASKING just before. `write`: the command writes and does not come
    /// from the manager's migrating connection (`SUTRA.CLUSTER MIGRATOR`).
    /// `replica_read`: the command only reads and its connection sent READONLY, so a
    /// replica of the slot's shard serves it (otherwise a replica redirects to the master,
    /// as Redis's do).
    pub fn route(
        &self,
        slot: u16,
        asking: bool,
        write: bool,
        replica_read: bool,
        missing: impl FnOnce() -> bool,
    ) -> Result<(), Elsewhere> {
        if self.mode != ClusterMode::Yes {
            return Ok(());
        }
        let Some(routes) = self.routes() else {
            return Err(Elsewhere::Down(NOT_CONFIGURED));
        };
        let Some(owner) = routes.owner(slot) else {
            return Err(Elsewhere::Down("Hash slot not served"));
        };
        if owner.master.id == self.my_id {
            if let Some(target) = routes.migrating_to(slot) {
                if missing() {
                    return Err(Elsewhere::Ask(slot, target.master.endpoint()));
                }
                if write {
                    return Err(Elsewhere::TryAgain(slot));
                }
            }
            return Ok(());
        }
        if replica_read && owner.replicas.iter().any(|r| r.id == self.my_id) {
            return Ok(());
        }
        let importing_here = routes
            .migrating_to(slot)
            .is_some_and(|t| t.master.id == self.my_id);
        if asking && importing_here {
            return Ok(());
        }
        Err(Elsewhere::Moved(slot, owner.master.endpoint()))
    }
}

/// `ip` and `port` of an `ip:port` (or `[v6]:port`) address.
pub fn split_endpoint(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((ip, port)) => (
            ip.trim_start_matches('[').trim_end_matches(']').to_string(),
            port.parse().unwrap_or(0),
        ),
        None => (addr.to_string(), 0),
    }
}
