//! The change feed: every change to a blob key or a vector-set element, reported to one
//! listener that the engine's owner installs (the server's client-side-caching table).
//!
//! The store calls it at its lowest mutation points (a key or element written, its TTL or
//! attributes changed, removed for any reason — delete, expiry, eviction, semantic
//! invalidation — and a flush), under the shard's write lock, so nothing can change data
//! without being reported and a change is reported before the write that made it returns.
//! Because of that lock the sink must never block on anything that could wait for a shard
//! (it must not call the engine); it may take its own short locks and queue messages.
//!
//! With no listener a report costs one relaxed atomic load.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

/// Why something changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeCause {
    /// A write: added, overwritten, attributes or TTL changed, deleted, removed by a
    /// semantic invalidation, or a flush.
    Write,
    /// Its TTL passed and it was reclaimed (lazily or by the active-expire tick).
    Expired,
    /// Evicted under the memory or entry caps.
    Evicted,
}

/// One reported change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change<'a> {
    /// The blob key or the whole vector set at `key` (written, replaced, deleted, TTL).
    Key(&'a [u8], ChangeCause),
    /// One element of the vector set at `key`.
    Element(&'a [u8], &'a [u8], ChangeCause),
    /// Everything (FLUSHALL / FLUSHDB).
    All,
}

/// Receives the engine's changes. Called under a shard's write lock on the thread that made
/// the change: must not block on anything that could wait for the engine, nor call it.
pub trait ChangeSink: Send + Sync {
    /// One change (borrowed names: copy what you keep).
    fn changed(&self, change: Change<'_>);
}

/// The store's slot for the one listener.
#[derive(Default)]
pub(crate) struct ChangeFeed {
    on: AtomicBool,
    sink: RwLock<Option<Arc<dyn ChangeSink>>>,
}

impl ChangeFeed {
    /// Installs (or with `None` removes) the listener.
    pub fn set(&self, sink: Option<Arc<dyn ChangeSink>>) {
        let mut slot = self.sink.write();
        self.on.store(sink.is_some(), Ordering::Release);
        *slot = sink;
    }

    /// Whether anyone listens (one relaxed load).
    #[inline]
    pub fn listening(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    #[inline]
    pub fn report(&self, change: Change<'_>) {
        if self.listening() {
            self.deliver(change);
        }
    }

    #[cold]
    fn deliver(&self, change: Change<'_>) {
        if let Some(sink) = self.sink.read().as_ref() {
            sink.changed(change);
        }
    }
}
