//! What MULTI/EXEC and WATCH need beyond the engine: a gate that lets EXEC run its queued
//! commands with no other client's command in between, and a registry of watched keys that
//! writes mark, as Redis's `touchWatchedKey` does.
//!
//! The engine makes each call atomic on its own (under its shard locks); a transaction is a
//! property of the RESP protocol, so it lives here. Every command runs under one stripe of
//! [`Gate`] in shared mode, the stripe its thread owns, so commands on different threads do
//! not contend on one cache line; EXEC takes every stripe exclusively.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashMap;
use parking_lot::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// The server's transaction state.
#[derive(Default)]
pub struct Transactions {
    /// Ordinary commands against EXEC.
    pub gate: Gate,
    /// WATCHed keys.
    pub watches: Watches,
}

/// Stripes of the gate: more than the threads that usually run commands (workers and the
/// blocking pool's busy ones); two threads on one stripe only share its shared mode.
const STRIPES: usize = 16;

/// One stripe, on a cache line of its own.
#[repr(align(128))]
#[derive(Default)]
struct Stripe(RwLock<()>);

/// The gate between ordinary commands (shared) and EXEC (exclusive).
pub struct Gate {
    stripes: Box<[Stripe]>,
}

impl Default for Gate {
    fn default() -> Self {
        Self {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
        }
    }
}

/// Holds the gate exclusively: no other command runs until it is dropped.
pub struct Exclusive<'a> {
    _stripes: Vec<RwLockWriteGuard<'a, ()>>,
}

impl Gate {
    /// The stripe this thread uses, assigned round robin on first use.
    fn mine(&self) -> &RwLock<()> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static SLOT: Cell<usize> = const { Cell::new(usize::MAX) };
        }
        let slot = SLOT.with(|s| {
            if s.get() == usize::MAX {
                s.set(NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES);
            }
            s.get()
        });
        &self.stripes[slot].0
    }

    /// Shared mode, for one ordinary command. Must not be taken twice on one thread.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.mine().read()
    }

    /// Exclusive mode, for EXEC: waits for the commands running now, holds back the rest.
    /// Stripes are taken in order, so two EXECs cannot deadlock.
    pub fn exclusive(&self) -> Exclusive<'_> {
        Exclusive {
            _stripes: self.stripes.iter().map(|s| s.0.write()).collect(),
        }
    }
}

/// A watched key's name in the registry: its database (4 bytes, big-endian) then the key,
/// so one key name in two databases is two watched keys, as in Redis.
pub fn frame(db: u32, key: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(4 + key.len());
    v.extend_from_slice(&db.to_be_bytes());
    v.extend_from_slice(key);
    v.into()
}

/// The database and key of a [`frame`]d name.
pub fn unframe(framed: &[u8]) -> (u32, &[u8]) {
    match framed.split_first_chunk::<4>() {
        Some((db, key)) => (u32::from_be_bytes(*db), key),
        None => (0, framed),
    }
}

/// A connection's WATCH: the flag writes raise, and the keys with whether each existed.
#[derive(Debug, Default)]
pub struct ClientWatch {
    /// Set by a write to any watched key.
    pub dirty: Arc<AtomicBool>,
    /// Watched keys, and whether each existed when watched (a key that existed and is gone
    /// at EXEC expired or was evicted: Redis counts that as a change).
    pub keys: Vec<(Bytes, bool)>,
}

/// A watcher of a key: its client id and the flag a write raises.
type Watcher = (u64, Arc<AtomicBool>);

/// Who watches which key.
#[derive(Default)]
pub struct Watches {
    /// Keys with at least one watcher (a load on every write: zero skips the lock).
    watched: AtomicUsize,
    by_key: Mutex<HashMap<Bytes, Vec<Watcher>>>,
}

impl Watches {
    /// Whether any key is watched at all.
    pub fn any(&self) -> bool {
        self.watched.load(Ordering::Acquire) > 0
    }

    /// Adds `key` to client `id`'s watch (once).
    pub fn watch(&self, id: u64, w: &mut ClientWatch, key: &Bytes, exists: bool) {
        if w.keys.iter().any(|(k, _)| k == key) {
            return;
        }
        let mut map = self.by_key.lock();
        let list = map.entry(key.clone()).or_default();
        if list.is_empty() {
            self.watched.fetch_add(1, Ordering::AcqRel);
        }
        list.push((id, w.dirty.clone()));
        w.keys.push((key.clone(), exists));
    }

    /// Drops every key client `id` watches and clears its flag (UNWATCH, EXEC, DISCARD,
    /// disconnect).
    pub fn unwatch(&self, id: u64, w: &mut ClientWatch) {
        if !w.keys.is_empty() {
            let mut map = self.by_key.lock();
            for (key, _) in w.keys.drain(..) {
                if let Some(list) = map.get_mut(&key) {
                    list.retain(|(c, _)| *c != id);
                    if list.is_empty() {
                        map.remove(&key);
                        self.watched.fetch_sub(1, Ordering::AcqRel);
                    }
                }
            }
        }
        w.dirty.store(false, Ordering::Release);
    }

    /// A write changed `key`: every client watching it will fail its EXEC.
    pub fn touch(&self, key: &[u8]) {
        if let Some(list) = self.by_key.lock().get(key) {
            for (_, flag) in list {
                flag.store(true, Ordering::Release);
            }
        }
    }

    /// Every watched key for which `exists` holds is about to be removed (FLUSHALL).
    pub fn touch_where(&self, exists: impl Fn(&[u8]) -> bool) {
        for (key, list) in self.by_key.lock().iter() {
            if exists(key) {
                for (_, flag) in list {
                    flag.store(true, Ordering::Release);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_touch_reaches_every_watcher_of_the_key_and_only_them() {
        let w = Watches::default();
        let (mut a, mut b) = (ClientWatch::default(), ClientWatch::default());
        let k = Bytes::from_static(b"k");
        w.watch(1, &mut a, &k, true);
        w.watch(1, &mut a, &k, true);
        w.watch(2, &mut b, &Bytes::from_static(b"other"), false);
        assert!(w.any());
        w.touch(b"k");
        assert!(a.dirty.load(Ordering::Acquire));
        assert!(!b.dirty.load(Ordering::Acquire));
        w.unwatch(1, &mut a);
        assert!(!a.dirty.load(Ordering::Acquire) && a.keys.is_empty());
        w.unwatch(2, &mut b);
        assert!(!w.any());
    }

    #[test]
    fn exclusive_waits_for_shared_holders() {
        let gate = Arc::new(Gate::default());
        let held = gate.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let t = std::thread::spawn(move || {
            let _g = held.shared();
            tx.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::time::Instant::now()
        });
        rx.recv().unwrap();
        let _x = gate.exclusive();
        let got = std::time::Instant::now();
        let released = t.join().unwrap();
        assert!(
            got >= released,
            "exclusive entered while a shared holder ran"
        );
    }
}
