//! The settings a running store may change (CONFIG SET): its caps, eviction policy and the
//! default TTL. Each is one atomic, read where the old plain field was read (a relaxed load:
//! a write racing a change sees the old or the new value, either being valid).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering::Relaxed};

use super::{EntryRef, Store, Value, NO_ELEM};
use crate::vocab::EvictionPolicy;

/// Caps, eviction policy and default TTL, changeable while the store serves.
#[derive(Debug, Default)]
pub(crate) struct Live {
    max_entries: AtomicU64,
    max_bytes: AtomicU64,
    policy: AtomicU8,
    default_ttl_ms: AtomicU64,
    /// A replica that ignores the caps (Redis's `replica-ignore-maxmemory`): no eviction and
    /// no refusal at a cap; its master's evictions reach it as deletions.
    caps_ignored: AtomicBool,
}

fn policy_code(p: EvictionPolicy) -> u8 {
    match p {
        EvictionPolicy::Lru => 0,
        EvictionPolicy::Lfu => 1,
        EvictionPolicy::NoEviction => 2,
    }
}

impl Live {
    pub fn new(max_entries: u64, max_bytes: u64, policy: EvictionPolicy, ttl_ms: u64) -> Self {
        Self {
            max_entries: max_entries.into(),
            max_bytes: max_bytes.into(),
            policy: policy_code(policy).into(),
            default_ttl_ms: ttl_ms.into(),
            caps_ignored: AtomicBool::new(false),
        }
    }

    /// Whether the caps are ignored now (a replica following its master's evictions).
    pub fn caps_ignored(&self) -> bool {
        self.caps_ignored.load(Relaxed)
    }

    /// Cap on entries; 0 = none.
    pub fn max_entries(&self) -> u64 {
        self.max_entries.load(Relaxed)
    }

    /// Cap on accounted bytes; 0 = none.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes.load(Relaxed)
    }

    /// What happens at a cap.
    pub fn policy(&self) -> EvictionPolicy {
        match self.policy.load(Relaxed) {
            0 => EvictionPolicy::Lru,
            1 => EvictionPolicy::Lfu,
            _ => EvictionPolicy::NoEviction,
        }
    }

    /// TTL of writes that name none, in ms; 0 = none.
    pub fn default_ttl_ms(&self) -> u64 {
        self.default_ttl_ms.load(Relaxed)
    }
}

impl Store {
    /// Changes the entry cap; the store is brought under it at once (evicting by policy).
    pub fn set_max_entries(&self, n: u64) {
        self.cfg.live.max_entries.store(n, Relaxed);
        self.enforce_caps(&super::Appends::new());
    }

    /// Changes the byte cap; the store is brought under it at once (evicting by policy).
    pub fn set_max_bytes(&self, n: u64) {
        self.cfg.live.max_bytes.store(n, Relaxed);
        self.enforce_caps(&super::Appends::new());
    }

    /// Ignores the caps (`true`: no eviction, no refusal at a cap) or enforces them again
    /// (`false`: the store is brought under them at once, evicting by policy).
    pub fn set_caps_ignored(&self, on: bool) {
        self.cfg.live.caps_ignored.store(on, Relaxed);
        if !on {
            self.enforce_caps(&super::Appends::new());
        }
    }

    /// Changes the default TTL of later writes (entries written before keep theirs).
    pub fn set_default_ttl_ms(&self, ms: u64) {
        self.cfg.live.default_ttl_ms.store(ms, Relaxed);
    }

    /// Changes the eviction policy. Every policy keeps each entry's last access tick and LFU
    /// counter, so the new one starts from them; LRU also needs its per-shard access logs,
    /// which only it keeps in access order: switching to it rebuilds them from the ticks.
    pub fn set_eviction_policy(&self, p: EvictionPolicy) {
        let old = self.cfg.live.policy.swap(policy_code(p), Relaxed);
        if p == EvictionPolicy::Lru && old != policy_code(EvictionPolicy::Lru) {
            self.rebuild_access_logs();
        }
        self.enforce_caps(&super::Appends::new());
    }

    /// Replaces each shard's access log by every live entry in last-access order. An access
    /// racing it is pushed to the new log as well (a duplicate item is skipped as stale).
    fn rebuild_access_logs(&self) {
        for shard in self.shards.iter() {
            let data = shard.data.read();
            let mut items: Vec<(u64, EntryRef)> = Vec::with_capacity(data.entries);
            for (slot, entry) in data.slots_from(0) {
                let key = EntryRef {
                    key: slot,
                    elem: NO_ELEM,
                };
                match &entry.value {
                    Value::Blob { meta, .. } => items.push((meta.last_tick(), key)),
                    Value::Hash(h) => items.push((h.meta.last_tick(), key)),
                    Value::VSet(set) => {
                        for s in set.live_slots() {
                            if let Some(el) = set.elem(s) {
                                items.push((el.meta.last_tick(), EntryRef { key: slot, elem: s }));
                            }
                        }
                    }
                }
            }
            items.sort_unstable_by_key(|&(tick, _)| tick);
            let mut log = shard.access.lock();
            log.clear();
            log.extend(items);
        }
    }
}
