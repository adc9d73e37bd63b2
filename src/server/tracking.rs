//! Server-assisted client-side caching (Redis 6+'s `CLIENT TRACKING`), extended to
//! vector-set elements, and the publish/subscribe channels its RESP2 form rides on.
//!
//! - The tracking table: in default mode, the names a tracking client read (a blob key or a
//!   whole set: `key`; one element: `key` + NUL + `element`) → the clients that read them. A
//!   tracked read registers its names *before* the command runs, so a write that lands after
//!   the read always finds the registration (a write just before it costs one spurious
//!   invalidation, never a missed one).
//! - BCAST clients register prefixes instead; every change of a key under one is sent.
//! - Changes come from the engine's change feed ([`crate::Engine::set_change_listener`]),
//!   installed only while some client tracks (otherwise a write pays one relaxed load). The
//!   feed calls [`Tracking`] under the changed key's shard lock: it takes only its own mutex
//!   and the client registry's, and queues pushes on bounded per-connection channels
//!   (`try_send`: a client that lets 64k pushes pile up is disconnected, as Redis does past
//!   its output buffer limit), so it never waits for anything that could wait for a shard.
//! - A queued push wakes its connection ([`ClientInfo::wake`], which it selects on with its
//!   socket), so an idle connection gets its invalidations at once; a busy one gets them
//!   after the replies of the batch it runs.
//! - The table is bounded (`--tracking-table-max-keys`, Redis's `tracking-table-max-keys`):
//!   past it, names are dropped by sending their invalidations, as Redis does.

use std::cell::Cell;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use bytes::{BufMut, Bytes, BytesMut};
use hashbrown::HashMap;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::clients::{ClientInfo, Clients};
use crate::{Change, ChangeCause, ChangeSink, Engine};

/// The channel RESP2 clients subscribe to for redirected invalidations.
pub const INVALIDATE_CHANNEL: &[u8] = b"__redis__:invalidate";

/// Pushes a connection may have queued before it is disconnected.
pub const PUSH_QUEUE: usize = 65_536;

/// Something for a connection to write unasked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// Invalidated names; `None`: everything (a flush). `redirected`: sent on behalf of
    /// another client (a RESP2 receiver then writes it as a `__redis__:invalidate` message).
    Invalidate {
        names: Option<Vec<Bytes>>,
        redirected: bool,
    },
    /// The client that invalidations were redirected to is gone (RESP3 only, as Redis).
    RedirBroken(u64),
    /// A published message on a channel this connection subscribes to.
    Message { channel: Bytes, payload: Bytes },
}

impl Push {
    /// Encodes the push for a connection (`resp3`, subscribed to the invalidation channel
    /// or not); nothing when it is not for that connection (Redis drops invalidations for a
    /// RESP2 client that does not receive them by redirection on the channel).
    pub fn encode(&self, out: &mut BytesMut, resp3: bool, subscribed_invalidate: bool) {
        let head = |out: &mut BytesMut, n: usize| {
            out.put_slice(if resp3 { b">" } else { b"*" });
            out.put_slice(n.to_string().as_bytes());
            out.put_slice(b"\r\n");
        };
        let bulk = |out: &mut BytesMut, b: &[u8]| {
            out.put_slice(b"$");
            out.put_slice(b.len().to_string().as_bytes());
            out.put_slice(b"\r\n");
            out.put_slice(b);
            out.put_slice(b"\r\n");
        };
        match self {
            Push::Invalidate { names, redirected } => {
                if resp3 {
                    head(out, 2);
                    bulk(out, b"invalidate");
                } else if *redirected && subscribed_invalidate {
                    head(out, 3);
                    bulk(out, b"message");
                    bulk(out, INVALIDATE_CHANNEL);
                } else {
                    return;
                }
                match names {
                    Some(names) => {
                        out.put_slice(b"*");
                        out.put_slice(names.len().to_string().as_bytes());
                        out.put_slice(b"\r\n");
                        for n in names {
                            bulk(out, n);
                        }
                    }
                    None => out.put_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
                }
            }
            Push::RedirBroken(id) => {
                if resp3 {
                    head(out, 2);
                    bulk(out, b"tracking-redir-broken");
                    out.put_slice(format!(":{id}\r\n").as_bytes());
                }
            }
            Push::Message { channel, payload } => {
                head(out, 3);
                bulk(out, b"message");
                bulk(out, channel);
                bulk(out, payload);
            }
        }
    }
}

/// A tracking client's options (CLIENT TRACKING ON …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// 0: none.
    pub redirect: u64,
    pub prefixes: Vec<Bytes>,
}

struct Tracker {
    opts: Options,
    info: Weak<ClientInfo>,
    /// The redirect target was found gone (reported once).
    broken: bool,
}

/// The clients that read one key, and those that read single elements of it.
#[derive(Default)]
struct Readers {
    key: HashSet<u64>,
    elems: HashMap<Box<[u8]>, HashSet<u64>>,
}

impl Readers {
    fn names(&self) -> usize {
        usize::from(!self.key.is_empty()) + self.elems.len()
    }

    /// (name, client) registrations.
    fn pairs(&self) -> usize {
        self.key.len() + self.elems.values().map(HashSet::len).sum::<usize>()
    }
}

#[derive(Default)]
struct Table {
    trackers: HashMap<u64, Tracker>,
    keys: HashMap<Box<[u8]>, Readers>,
    /// Tracked names (a key's readers count one, each read element one).
    names: usize,
    /// (name, client) registrations: Redis's `tracking_total_items`.
    pairs: usize,
    /// BCAST prefixes → their clients.
    prefixes: HashMap<Bytes, HashSet<u64>>,
}

/// Invalidations collected under the table's lock, sent after it.
#[derive(Default)]
struct Outbox(Vec<(u64, Option<Bytes>)>);

/// The server's tracking state (one per server).
pub struct Tracking {
    table: Mutex<Table>,
    /// Serializes installing and removing the engine listener.
    listener_gate: Mutex<()>,
    clients: Arc<Clients>,
    engine: Weak<Engine>,
    me: Weak<Tracking>,
    max_keys: AtomicUsize,
    listening: AtomicBool,
}

thread_local! {
    /// The client whose command runs on this thread (NOLOOP), 0 when none.
    static CURRENT: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` as client `id`'s command (so a write it makes is known to be its own).
pub fn as_client<R>(id: u64, f: impl FnOnce() -> R) -> R {
    struct Restore(u64);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|c| c.replace(id)));
    f()
}

/// Counts for INFO.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackingStats {
    pub clients: usize,
    pub keys: usize,
    pub items: usize,
    pub prefixes: usize,
}

impl Tracking {
    pub fn new(engine: &Arc<Engine>, clients: Arc<Clients>, max_keys: usize) -> Arc<Self> {
        Arc::new_cyclic(|me| Tracking {
            table: Mutex::new(Table::default()),
            listener_gate: Mutex::new(()),
            clients,
            engine: Arc::downgrade(engine),
            me: me.clone(),
            max_keys: AtomicUsize::new(max_keys),
            listening: AtomicBool::new(false),
        })
    }

    /// Turns tracking on (or changes its options) for `info`'s client. The caller checked
    /// the options (see [`check`]).
    pub fn enable(&self, info: &Arc<ClientInfo>, opts: Options) {
        let _gate = self.listener_gate.lock();
        let n = {
            let mut t = self.table.lock();
            let old_prefixes = t
                .trackers
                .get(&info.id)
                .map(|tr| tr.opts.prefixes.clone())
                .unwrap_or_default();
            let mut opts = opts;
            let mut all = old_prefixes;
            for p in std::mem::take(&mut opts.prefixes) {
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            if opts.bcast && all.is_empty() {
                all.push(Bytes::new()); // BCAST without PREFIX: every key
            }
            for p in &all {
                t.prefixes.entry(p.clone()).or_default().insert(info.id);
            }
            opts.prefixes = all;
            t.trackers.insert(
                info.id,
                Tracker {
                    opts,
                    info: Arc::downgrade(info),
                    broken: false,
                },
            );
            t.trackers.len()
        };
        if n > 0 && !self.listening.load(Relaxed) {
            if let (Some(engine), Some(me)) = (self.engine.upgrade(), self.me.upgrade()) {
                engine.set_change_listener(Some(me));
                self.listening.store(true, Relaxed);
            }
        }
    }

    /// Turns tracking off for client `id` (also when its connection ends): its prefixes and
    /// its registrations are dropped.
    pub fn disable(&self, id: u64) {
        let _gate = self.listener_gate.lock();
        let n = {
            let mut t = self.table.lock();
            let Some(tr) = t.trackers.remove(&id) else {
                return;
            };
            for p in &tr.opts.prefixes {
                if let Some(set) = t.prefixes.get_mut(p) {
                    set.remove(&id);
                    if set.is_empty() {
                        t.prefixes.remove(p);
                    }
                }
            }
            // A default-mode client's registrations are not searched for here (that would
            // cost the whole table per disconnect): as in Redis, its id stays where it was
            // registered, `send` skips ids that no longer track, and `remember` prunes a
            // reader set once it holds more ids than there are trackers. Ids are never
            // reused, so a stale one can't reach another client. The last tracker to leave
            // empties the table.
            if t.trackers.is_empty() {
                t.keys.clear();
                t.names = 0;
                t.pairs = 0;
            }
            t.trackers.len()
        };
        if n == 0 && self.listening.load(Relaxed) {
            if let Some(engine) = self.engine.upgrade() {
                engine.set_change_listener(None);
            }
            self.listening.store(false, Relaxed);
        }
    }

    /// A tracking client's options, if it tracks.
    pub fn options(&self, id: u64) -> Option<(Options, bool)> {
        self.table
            .lock()
            .trackers
            .get(&id)
            .map(|t| (t.opts.clone(), t.broken))
    }

    /// Registers that client `id` (default mode) is about to read `key` (element `None`:
    /// the key or the whole set) or these elements of the set at `key`.
    pub fn remember(&self, id: u64, key: &[u8], elements: Option<&[Bytes]>) {
        let mut out = Outbox::default();
        {
            let mut t = self.table.lock();
            let t = &mut *t;
            let live = &t.trackers;
            let r = t.keys.entry_ref(key).or_default();
            let before = r.names();
            let mut pairs = t.pairs;
            match elements {
                None => {
                    pairs += usize::from(r.key.insert(id));
                    pairs -= prune(&mut r.key, live);
                }
                Some(elems) => {
                    for e in elems {
                        let readers = r.elems.entry_ref(&e[..]).or_default();
                        pairs += usize::from(readers.insert(id));
                        pairs -= prune(readers, live);
                    }
                }
            }
            t.names = t.names + r.names() - before;
            t.pairs = pairs;
            let max = self.max_keys.load(Relaxed);
            if max > 0 && t.names > max {
                Self::evict(t, max, key, &mut out);
            }
        }
        self.send(out, 0, ChangeCause::Evicted);
    }

    /// Drops names until at most `max` are tracked, invalidating them for their readers
    /// (the key being registered goes last).
    fn evict(t: &mut Table, max: usize, keep: &[u8], out: &mut Outbox) {
        let victims: Vec<Box<[u8]>> = {
            let mut n = t.names;
            let mut v = Vec::new();
            for (k, r) in t.keys.iter() {
                if n <= max {
                    break;
                }
                if &**k != keep {
                    n -= r.names();
                    v.push(k.clone());
                }
            }
            v
        };
        for k in victims {
            if let Some(r) = t.keys.remove(&k) {
                t.names -= r.names();
                t.pairs -= r.pairs();
                collect(&k, r, out);
            }
        }
    }

    /// Counts for INFO.
    pub fn stats(&self) -> TrackingStats {
        let t = self.table.lock();
        TrackingStats {
            clients: t.trackers.len(),
            keys: t.keys.len(),
            items: t.pairs,
            prefixes: t.prefixes.len(),
        }
    }

    /// Sends collected invalidations. `by`: the client whose command made the change (NOLOOP).
    fn send(&self, out: Outbox, by: u64, cause: ChangeCause) {
        if out.0.is_empty() {
            return;
        }
        let mut t = self.table.lock();
        for (id, name) in out.0 {
            let Some(tr) = t.trackers.get_mut(&id) else {
                continue; // no longer tracking
            };
            if tr.opts.noloop && id == by && cause == ChangeCause::Write {
                continue;
            }
            let push = Push::Invalidate {
                names: name.map(|n| vec![n]),
                redirected: tr.opts.redirect != 0,
            };
            let target = if tr.opts.redirect != 0 {
                match self.clients.get(tr.opts.redirect) {
                    Some(target) => target,
                    None => {
                        if !tr.broken {
                            tr.broken = true;
                            if let Some(me) = tr.info.upgrade() {
                                deliver(&me, Push::RedirBroken(tr.opts.redirect));
                            }
                        }
                        continue;
                    }
                }
            } else {
                match tr.info.upgrade() {
                    Some(me) => me,
                    None => continue,
                }
            };
            deliver(&target, push);
        }
    }
}

/// Queues `push` for a connection without waiting; one that let [`PUSH_QUEUE`] pushes pile
/// up is closed.
pub fn deliver(info: &ClientInfo, push: Push) -> bool {
    let Some(tx) = &info.push else {
        return false;
    };
    match tx.try_send(push) {
        Ok(()) => {
            // The connection polls no receive while it waits: this wakes it to drain them.
            info.pushed.store(true, Relaxed);
            info.wake.notify_one();
            true
        }
        Err(mpsc::error::TrySendError::Full(_)) => {
            tracing::warn!(client = info.id, "closing client: too many unread pushes");
            info.kill();
            false
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Drops the ids of clients that no longer track from a reader set once it holds more ids
/// than there are trackers (so at least one is stale): each prune is paid for by the
/// disconnects that left stale ids behind, and no set outgrows the live trackers by much.
/// Returns how many it dropped.
fn prune(readers: &mut HashSet<u64>, live: &HashMap<u64, Tracker>) -> usize {
    let before = readers.len();
    if before > live.len() {
        readers.retain(|id| live.contains_key(id));
    }
    before - readers.len()
}

/// Invalidations for every reader of key `k` (its whole-key readers and element readers).
fn collect(k: &[u8], r: Readers, out: &mut Outbox) {
    let key = Bytes::copy_from_slice(k);
    for c in r.key {
        out.0.push((c, Some(key.clone())));
    }
    for (e, cs) in r.elems {
        let name = element_name(k, &e);
        for c in cs {
            out.0.push((c, Some(name.clone())));
        }
    }
}

/// The invalidation name of an element: `key`, one NUL byte, `element`.
pub fn element_name(key: &[u8], element: &[u8]) -> Bytes {
    let mut n = BytesMut::with_capacity(key.len() + 1 + element.len());
    n.put_slice(key);
    n.put_u8(0);
    n.put_slice(element);
    n.freeze()
}

impl ChangeSink for Tracking {
    fn changed(&self, change: Change<'_>) {
        let mut out = Outbox::default();
        let cause;
        {
            let mut t = self.table.lock();
            let t = &mut *t;
            if t.trackers.is_empty() {
                return;
            }
            match change {
                Change::All => {
                    cause = ChangeCause::Write;
                    t.keys.clear();
                    t.names = 0;
                    t.pairs = 0;
                    // Every tracking client is told, in either mode (Redis).
                    out.0.extend(t.trackers.keys().map(|&id| (id, None)));
                }
                Change::Key(k, why) => {
                    cause = why;
                    if let Some(r) = t.keys.remove(k) {
                        t.names -= r.names();
                        t.pairs -= r.pairs();
                        collect(k, r, &mut out);
                    }
                    bcast(t, k, || Bytes::copy_from_slice(k), &mut out);
                }
                Change::Element(k, e, why) => {
                    cause = why;
                    if let Some(r) = t.keys.get_mut(k) {
                        let before = r.names();
                        let key_readers = std::mem::take(&mut r.key);
                        let elem_readers = r.elems.remove(e);
                        t.names -= before - r.names();
                        t.pairs -=
                            key_readers.len() + elem_readers.as_ref().map_or(0, HashSet::len);
                        if r.names() == 0 {
                            t.keys.remove(k);
                        }
                        if !key_readers.is_empty() {
                            let key = Bytes::copy_from_slice(k);
                            out.0
                                .extend(key_readers.into_iter().map(|c| (c, Some(key.clone()))));
                        }
                        if let Some(cs) = elem_readers {
                            let name = element_name(k, e);
                            out.0
                                .extend(cs.into_iter().map(|c| (c, Some(name.clone()))));
                        }
                    }
                    bcast(t, k, || element_name(k, e), &mut out);
                }
            }
        }
        let by = CURRENT.with(Cell::get);
        self.send(out, by, cause);
    }
}

/// BCAST clients whose prefix matches key `k` get `name()`.
fn bcast(t: &Table, k: &[u8], name: impl Fn() -> Bytes, out: &mut Outbox) {
    if t.prefixes.is_empty() {
        return;
    }
    let mut made: Option<Bytes> = None;
    for (p, cs) in &t.prefixes {
        if k.starts_with(p) {
            let n = made.get_or_insert_with(&name).clone();
            out.0.extend(cs.iter().map(|&c| (c, Some(n.clone()))));
        }
    }
}

/// Checks CLIENT TRACKING ON's options against Redis's rules (`current`: the options of a
/// client already tracking). `Err` is the error text after `ERR `.
pub fn check(opts: &Options, current: Option<&Options>) -> Result<(), String> {
    if opts.optin && opts.optout {
        return Err("You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if !opts.prefixes.is_empty() && !opts.bcast {
        return Err("PREFIX option requires BCAST mode to be enabled".into());
    }
    if let Some(cur) = current {
        if cur.bcast != opts.bcast {
            return Err(
                "You can't switch BCAST mode on/off before disabling tracking for this \
                        client, and then re-enabling it with a different mode."
                    .into(),
            );
        }
        if (cur.optin && opts.optout) || (cur.optout && opts.optin) {
            return Err(
                "You can't switch OPTIN/OPTOUT mode before disabling tracking for \
                        this client, and then re-enabling it with a different mode."
                    .into(),
            );
        }
    }
    if opts.bcast && (opts.optin || opts.optout) {
        return Err("OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    let existing = current.map_or(&[][..], |c| &c.prefixes[..]);
    for (i, p) in opts.prefixes.iter().enumerate() {
        for e in existing {
            if e != p && (e.starts_with(p) || p.starts_with(e)) {
                return Err(overlap(p, "an existing", e));
            }
        }
        for q in &opts.prefixes[i + 1..] {
            if q != p && (q.starts_with(p) || p.starts_with(q)) {
                return Err(overlap(p, "another provided", q));
            }
        }
    }
    Ok(())
}

fn overlap(a: &[u8], which: &str, b: &[u8]) -> String {
    format!(
        "Prefix '{}' overlaps with {which} prefix '{}'. Prefixes for a single client must not \
         overlap.",
        String::from_utf8_lossy(a),
        String::from_utf8_lossy(b)
    )
}

/// Publish/subscribe channels → subscribers.
#[derive(Default)]
pub struct PubSub {
    channels: Mutex<HashMap<Bytes, HashSet<u64>>>,
}

impl PubSub {
    pub fn subscribe(&self, id: u64, channel: &Bytes) {
        self.channels
            .lock()
            .entry(channel.clone())
            .or_default()
            .insert(id);
    }

    pub fn unsubscribe(&self, id: u64, channel: &[u8]) {
        let mut ch = self.channels.lock();
        if let Some(set) = ch.get_mut(channel) {
            set.remove(&id);
            if set.is_empty() {
                ch.remove(channel);
            }
        }
    }

    /// Sends `payload` to every subscriber of `channel`; returns how many got it.
    pub fn publish(&self, clients: &Clients, channel: &Bytes, payload: &Bytes) -> usize {
        let ids: Vec<u64> = match self.channels.lock().get(&channel[..]) {
            Some(set) => set.iter().copied().collect(),
            None => return 0,
        };
        ids.into_iter()
            .filter_map(|id| clients.get(id))
            .filter(|c| {
                deliver(
                    c,
                    Push::Message {
                        channel: channel.clone(),
                        payload: payload.clone(),
                    },
                )
            })
            .count()
    }

    /// Channels with at least one subscriber.
    pub fn channels(&self) -> usize {
        self.channels.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(p: &Push, resp3: bool, sub: bool) -> String {
        let mut b = BytesMut::new();
        p.encode(&mut b, resp3, sub);
        String::from_utf8_lossy(&b).into_owned()
    }

    #[test]
    fn pushes_encode_as_redis_writes_them_in_each_protocol() {
        let inv = Push::Invalidate {
            names: Some(vec![Bytes::from_static(b"k")]),
            redirected: true,
        };
        assert_eq!(
            enc(&inv, true, false),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(
            enc(&inv, false, true),
            "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        assert_eq!(enc(&inv, false, false), "");
        let all = Push::Invalidate {
            names: None,
            redirected: false,
        };
        assert_eq!(enc(&all, true, false), ">2\r\n$10\r\ninvalidate\r\n_\r\n");
        assert_eq!(enc(&all, false, true), "", "not redirected: not for RESP2");
        assert_eq!(
            enc(&Push::RedirBroken(7), true, false),
            ">2\r\n$21\r\ntracking-redir-broken\r\n:7\r\n"
        );
    }

    #[test]
    fn option_checks_follow_redis() {
        let o = |bcast, optin, optout, prefixes: &[&'static str]| Options {
            bcast,
            optin,
            optout,
            prefixes: prefixes
                .iter()
                .map(|p| Bytes::from_static(p.as_bytes()))
                .collect(),
            ..Options::default()
        };
        assert!(check(&o(true, false, false, &["a", "b"]), None).is_ok());
        assert!(check(&o(false, false, false, &["a"]), None)
            .unwrap_err()
            .starts_with("PREFIX option requires BCAST"));
        assert!(check(&o(false, true, true, &[]), None).is_err());
        assert!(check(&o(true, true, false, &[]), None).is_err());
        assert!(check(&o(true, false, false, &["ab", "a"]), None)
            .unwrap_err()
            .contains("overlaps"));
        let on = o(true, false, false, &["a"]);
        assert!(check(&o(false, false, false, &[]), Some(&on)).is_err());
        assert!(check(&o(true, false, false, &["ab"]), Some(&on)).is_err());
    }
}
