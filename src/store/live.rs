//! The settings a running store may change (CONFIG SET): its caps, eviction policy and the
//! default TTL. Each is one atomic, read where the old plain field was read (a relaxed load:
//! a write racing a change sees the old or the new value, either being valid).

use std::sync::atomic::{
    AtomicBool, AtomicU64, AtomicU8,
    Ordering::{AcqRel, Acquire, Relaxed},
};

use std::collections::VecDeque;

use super::{EntryRef, ShardData, Store, Value, NO_ELEM};
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
    /// Whether the shards keep their LRU access logs: only LRU eviction reads them, and
    /// only a cap makes it evict, so without one the 16 bytes an entry costs there are
    /// saved (`Store::refresh_access_logs` starts and stops them).
    access_logged: AtomicBool,
}

fn policy_code(p: EvictionPolicy) -> u8 {
    match p {
        EvictionPolicy::Lru => 0,
        EvictionPolicy::Lfu => 1,
        EvictionPolicy::NoEviction => 2,
    }
}

/// The access logs are needed when LRU may evict: the policy is LRU and a cap is set. (A
/// replica ignoring its caps keeps them, to evict at once when it stops ignoring them.)
fn wants_access_log(policy: EvictionPolicy, max_entries: u64, max_bytes: u64) -> bool {
    policy == EvictionPolicy::Lru && (max_entries > 0 || max_bytes > 0)
}

impl Live {
    pub fn new(max_entries: u64, max_bytes: u64, policy: EvictionPolicy, ttl_ms: u64) -> Self {
        Self {
            max_entries: max_entries.into(),
            max_bytes: max_bytes.into(),
            policy: policy_code(policy).into(),
            default_ttl_ms: ttl_ms.into(),
            caps_ignored: AtomicBool::new(false),
            access_logged: AtomicBool::new(wants_access_log(policy, max_entries, max_bytes)),
        }
    }

    /// Whether accesses go to the shards' LRU access logs now (LRU with a cap). Read under
    /// a shard lock: a change takes every shard's write lock after it flips this, so an
    /// access under the lock sees the value its shard's log was last rebuilt for.
    pub fn access_logged(&self) -> bool {
        self.access_logged.load(Acquire)
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
        self.refresh_access_logs();
        self.enforce_caps(&super::Appends::new());
    }

    /// Changes the byte cap; the store is brought under it at once (evicting by policy).
    pub fn set_max_bytes(&self, n: u64) {
        self.cfg.live.max_bytes.store(n, Relaxed);
        self.refresh_access_logs();
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
    /// which only it keeps (and only under a cap): switching to it rebuilds them from the
    /// ticks.
    pub fn set_eviction_policy(&self, p: EvictionPolicy) {
        self.cfg.live.policy.store(policy_code(p), Relaxed);
        self.refresh_access_logs();
        self.enforce_caps(&super::Appends::new());
    }

    /// Starts or stops the shards' LRU access logs after a change of the caps or the
    /// policy: a log started is rebuilt from every live entry's last access tick, so LRU
    /// evicts in access order from its first eviction on; a log stopped is emptied and its
    /// memory given back.
    fn refresh_access_logs(&self) {
        // One change at a time, so the last flip is the one the logs are left in.
        let _serial = self.evict_lock.lock();
        let live = &self.cfg.live;
        let want = wants_access_log(live.policy(), live.max_entries(), live.max_bytes());
        if live.access_logged.swap(want, AcqRel) == want {
            return;
        }
        for shard in self.shards.iter() {
            // The write lock keeps every access of this shard out: one made before it was
            // made under the old setting and is in the ticks read here; one made after
            // sees the new one.
            let data = shard.data.write();
            let mut log = shard.access.lock();
            *log = VecDeque::new();
            if want {
                log.extend(access_order(&data));
            }
        }
    }
}

/// Every live entry of a shard as an access-log item, in last-access order.
fn access_order(data: &ShardData) -> Vec<(u64, EntryRef)> {
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
    items
}

#[cfg(test)]
mod tests {
    use crate::{Engine, EngineConfig, EvictionPolicy, SetOptions};

    fn logged(e: &Engine) -> usize {
        e.store.shards.iter().map(|s| s.access.lock().len()).sum()
    }

    #[test]
    fn the_access_logs_hold_items_only_while_lru_has_a_cap() {
        let e = Engine::open(EngineConfig {
            active_expire_interval_ms: 0,
            ..Default::default()
        })
        .unwrap();
        for i in 0..100 {
            let k = format!("k{i}");
            e.set(k.as_bytes(), b"v", SetOptions::default()).unwrap();
            e.get(k.as_bytes()).unwrap();
        }
        assert_eq!(logged(&e), 0, "LRU without a cap keeps no log");
        e.set_max_entries(1_000);
        assert_eq!(logged(&e), 100, "a cap starts it: one item per live entry");
        e.get(b"k0").unwrap();
        assert_eq!(logged(&e), 101);
        e.set_eviction_policy(EvictionPolicy::Lfu);
        assert_eq!(logged(&e), 0, "LFU reads no log");
        e.get(b"k1").unwrap();
        assert_eq!(logged(&e), 0);
        e.set_eviction_policy(EvictionPolicy::Lru);
        assert_eq!(logged(&e), 100);
        e.set_max_entries(0);
        e.set_max_bytes(1 << 30);
        assert_eq!(logged(&e), 100, "either cap keeps it");
        e.set_max_bytes(0);
        assert_eq!(logged(&e), 0);
    }
}
