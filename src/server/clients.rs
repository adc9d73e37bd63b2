//! The connected clients, as CLIENT LIST / INFO / KILL see them: each connection registers
//! its [`ClientInfo`] for as long as it is open. The connection's task and the registry
//! share that one record, so a name set with CLIENT SETNAME is what CLIENT LIST shows.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::Mutex;
use tokio::sync::Notify;

/// What a client set about itself (CLIENT SETNAME / SETINFO, HELLO SETNAME).
#[derive(Debug, Default, Clone)]
pub struct Names {
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// CLIENT SETINFO LIB-NAME.
    pub lib_name: Option<Bytes>,
    /// CLIENT SETINFO LIB-VER.
    pub lib_ver: Option<Bytes>,
    /// The ACL user it authenticated as (`None`: `default`).
    pub user: Option<String>,
}

/// One connection's record.
#[derive(Debug, Default)]
pub struct ClientInfo {
    /// CLIENT ID.
    pub id: u64,
    /// The peer's address (`ip:port`).
    pub addr: String,
    /// The server's address of this connection.
    pub laddr: String,
    /// When the connection was accepted, in ms since the server started.
    pub created_ms: u64,
    /// When its last request arrived, in ms since the server started.
    pub active_ms: AtomicU64,
    /// Protocol version: 2 or 3.
    pub resp: AtomicU8,
    /// Names the client gave itself.
    pub names: Mutex<Names>,
    /// CLIENT KILL asked this connection to close.
    pub killed: AtomicBool,
    /// Wakes the connection's task while it waits for a request, for whatever should end or
    /// change that wait: it was killed, a push was queued for it, the server stops, the idle
    /// timeout changed. One signal for all, so that a waiting connection polls one future
    /// beside its socket: polling a push channel's receive, the shutdown watch and two more
    /// `Notified`s cost ~600 instructions per request of a client that sends one at a time
    /// (perf-reports/server-cpu-2026-12-07.md, session 16). The connection finds out what
    /// happened from the state itself.
    pub wake: Notify,
    /// Where pushes for this connection are queued (invalidations, published messages);
    /// the connection writes them even while it waits for a request.
    pub push: Option<tokio::sync::mpsc::Sender<super::tracking::Push>>,
    /// Subscribes to a channel (CLIENT LIST type `pubsub`, flag `P`).
    pub pubsub: AtomicBool,
    /// Tracking is on (CLIENT LIST flag `t`).
    pub tracking: AtomicBool,
    /// A push was queued since the connection last drained its channel (set after the
    /// push is queued, before [`ClientInfo::wake`]): a connection that is sent none does
    /// not look at the channel after each batch.
    pub pushed: AtomicBool,
    /// The selected database (SELECT; CLIENT LIST `db`).
    pub db: AtomicU32,
}

impl ClientInfo {
    /// Asks the connection to close; it does once its current request is answered.
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.wake.notify_one();
    }

    /// Redis's CLIENT LIST / CLIENT INFO line (the fields sutra-cache tracks).
    /// Redis's CLIENT LIST flags: `P` subscribed, `t` tracking, `N` neither.
    fn flags(&self) -> &'static str {
        match (self.pubsub.load(Relaxed), self.tracking.load(Relaxed)) {
            (true, true) => "Pt",
            (true, false) => "P",
            (false, true) => "t",
            (false, false) => "N",
        }
    }

    pub fn line(&self, now_ms: u64) -> String {
        let names = self.names.lock().clone();
        let s = |b: &Option<Bytes>| {
            b.as_ref()
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default()
        };
        format!(
            "id={} addr={} laddr={} name={} age={} idle={} flags={} db={} user={} resp={} \
             lib-name={} lib-ver={}\n",
            self.id,
            self.addr,
            self.laddr,
            s(&names.name),
            now_ms.saturating_sub(self.created_ms) / 1000,
            now_ms.saturating_sub(self.active_ms.load(Relaxed)) / 1000,
            self.flags(),
            self.db.load(Relaxed),
            names.user.as_deref().unwrap_or("default"),
            self.resp.load(Relaxed).max(2),
            s(&names.lib_name),
            s(&names.lib_ver),
        )
    }
}

/// Every open connection, by id.
#[derive(Default)]
pub struct Clients {
    map: Mutex<HashMap<u64, Arc<ClientInfo>>>,
}

impl Clients {
    /// Adds a connection; it is removed when the returned guard drops.
    pub fn register(self: &Arc<Self>, info: Arc<ClientInfo>) -> Registered {
        self.map.lock().insert(info.id, info.clone());
        Registered {
            clients: self.clone(),
            id: info.id,
        }
    }

    /// The open connection with this id. A killed one is gone at once, as in Redis (CLIENT
    /// KILL frees the client before it answers), though its task may still be closing.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        self.map
            .lock()
            .get(&id)
            .filter(|c| !c.killed.load(Relaxed))
            .cloned()
    }

    /// Wakes every open connection (see [`ClientInfo::wake`]): the server stops, the idle
    /// timeout changed.
    pub fn wake_all(&self) {
        for c in self.map.lock().values() {
            c.wake.notify_one();
        }
    }

    /// The open connections, oldest first (killed ones left out, as [`Clients::get`]).
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        let mut all: Vec<Arc<ClientInfo>> = self
            .map
            .lock()
            .values()
            .filter(|c| !c.killed.load(Relaxed))
            .cloned()
            .collect();
        all.sort_by_key(|c| c.id);
        all
    }
}

/// Keeps a connection in the registry while it lives.
pub struct Registered {
    clients: Arc<Clients>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.clients.map.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_listed_while_registered() {
        let clients = Arc::new(Clients::default());
        let a = Arc::new(ClientInfo {
            id: 7,
            addr: "127.0.0.1:5".into(),
            created_ms: 1_000,
            ..ClientInfo::default()
        });
        a.names.lock().name = Some(Bytes::from_static(b"worker"));
        let guard = clients.register(a.clone());
        let list = clients.list();
        assert_eq!(list.len(), 1);
        let line = list[0].line(4_500);
        assert!(line.starts_with("id=7 addr=127.0.0.1:5 laddr= name=worker age=3 idle=4 "));
        assert!(line.ends_with("resp=2 lib-name= lib-ver=\n"), "{line}");
        drop(guard);
        assert!(clients.list().is_empty());
    }

    #[test]
    fn a_killed_connection_is_gone_before_its_task_closes_it() {
        let clients = Arc::new(Clients::default());
        let a = Arc::new(ClientInfo {
            id: 1,
            ..ClientInfo::default()
        });
        let b = Arc::new(ClientInfo {
            id: 2,
            ..ClientInfo::default()
        });
        let _ga = clients.register(a.clone());
        let _gb = clients.register(b.clone());
        a.kill();
        // Still registered (its task has not dropped the guard), but neither listed nor found.
        assert_eq!(clients.list().iter().map(|c| c.id).collect::<Vec<_>>(), [2]);
        assert!(clients.get(1).is_none());
        assert!(clients.get(2).is_some());
    }
}
