//! TTL reclamation and eviction under the caps.
//!
//! - Expired entries: each shard keeps a lazy min-heap of `(expires_at, entry)`. Reclaiming
//!   pops it; an item whose entry no longer carries that expiry is stale and skipped.
//! - LRU: each shard keeps an access log `(tick, entry)` in tick order; the front item whose
//!   entry still has that tick is the shard's least recently used entry. The global victim is
//!   the oldest over the shards (a constant number of peeks). The logs are kept only while
//!   the policy is LRU and a cap is set (`Live::access_logged`): starting them rebuilds them
//!   from every entry's last access tick, which every policy keeps.
//! - LFU: Redis's approximation — sample entries, evict the lowest decayed counter (exact
//!   when the cache holds few entries: then every entry is a candidate).
//!
//! Every step is O(1) amortised: stale items are pushed once and popped once, and logs are
//! compacted when stale items outnumber live ones.

use std::cmp::Reverse;
use std::sync::atomic::Ordering;

use super::{
    expired, Appends, EntryRef, Record, Removal, Shard, ShardData, Store, Value, NO_ELEM, SHARDS,
};
use crate::error::{Error, Result};
use crate::vocab::EvictionPolicy;

/// Candidates examined per LFU eviction.
const LFU_SAMPLES: usize = 16;
/// At or below this many entries, LFU examines all of them.
const LFU_EXHAUSTIVE: u64 = 64;

impl Store {
    fn over_caps(&self) -> bool {
        let c = &self.counters;
        let (max_entries, max_bytes) = (self.cfg.live.max_entries(), self.cfg.live.max_bytes());
        (max_entries > 0 && c.entries.load(Ordering::Relaxed) > max_entries)
            || (max_bytes > 0 && c.bytes.load(Ordering::Relaxed) > max_bytes)
    }

    /// Under `noeviction`: fails when adding `entries` / `bytes` would pass a cap.
    pub fn check_room(&self, entries: u64, bytes: u64) -> Result<()> {
        // A replayed write was accepted when it was made.
        if self.cfg.live.policy() != EvictionPolicy::NoEviction
            || self.recovering()
            || self.cfg.live.caps_ignored()
        {
            return Ok(());
        }
        let c = &self.counters;
        let (max_entries, max_bytes) = (self.cfg.live.max_entries(), self.cfg.live.max_bytes());
        if entries > 0
            && max_entries > 0
            && c.entries.load(Ordering::Relaxed) + entries > max_entries
        {
            return Err(Error::OutOfMemory {
                cap: format!("max_entries={}", max_entries),
            });
        }
        if bytes > 0 && max_bytes > 0 && c.bytes.load(Ordering::Relaxed) + bytes > max_bytes {
            return Err(Error::OutOfMemory {
                cap: format!("max_bytes={}", max_bytes),
            });
        }
        Ok(())
    }

    /// Brings the store back under its caps: expired entries first, then by policy.
    /// Called after a write, with no shard lock held; the evictions' deletes are appended
    /// through `to` (the caller's, so they join its group and its wait).
    pub fn enforce_caps(&self, to: &Appends) {
        // A replay applies the evictions the log holds; it makes none of its own. Nor does a
        // replica ignoring the caps: its master's evictions reach it as deletions.
        if self.recovering() || self.cfg.live.caps_ignored() || !self.over_caps() {
            return;
        }
        let _serial = self.evict_lock.lock();
        let mut guard = 0usize;
        while self.over_caps() {
            guard += 1;
            if guard > 1_000_000 {
                break;
            }
            if self.reclaim_earliest_expired() {
                continue;
            }
            let done = match self.cfg.live.policy() {
                EvictionPolicy::Lru => self.evict_lru(to),
                EvictionPolicy::Lfu => self.evict_lfu(to),
                EvictionPolicy::NoEviction => false,
            };
            if !done {
                break;
            }
        }
    }

    /// Removes the entry with the earliest passed expiry, if any. True when one went.
    pub fn reclaim_earliest_expired(&self) -> bool {
        let now = self.now_ms();
        let mut best: Option<(u64, usize)> = None;
        for (i, shard) in self.shards.iter().enumerate() {
            let mut data = shard.data.write();
            while let Some(&Reverse((at, e))) = data.expiry.peek() {
                if data.current_expiry(e) == Some(at) {
                    if at <= now && best.is_none_or(|(b, _)| at < b) {
                        best = Some((at, i));
                    }
                    break;
                }
                data.expiry.pop();
            }
        }
        let Some((_, i)) = best else {
            return false;
        };
        let mut data = self.shards[i].data.write();
        if let Some(Reverse((at, e))) = data.expiry.pop() {
            if data.current_expiry(e) == Some(at) && expired(at, now) {
                return self.remove_entry(&mut data, e, Removal::Expired);
            }
        }
        true // something stale was popped: progress
    }

    /// Reclaims every entry of this shard whose expiry has passed (the heap items due now, each
    /// popped once, so amortised O(1) per expiring entry). Called before answers that count
    /// (VCARD, DEL, EXISTS, TYPE): a set whose elements all expired is gone, as Redis would
    /// have it. A read-locked peek first, so the common case takes no write lock.
    pub fn reclaim_due(&self, shard: &Shard) {
        let now = self.now_ms();
        {
            let data = shard.data.read();
            match data.expiry.peek() {
                Some(&Reverse((at, _))) if at <= now => {}
                _ => return,
            }
        }
        self.expire_due(&mut shard.data.write(), now, usize::MAX);
    }

    /// Removes every entry of a shard whose TTL has passed by `now` (the end of recovery).
    pub(crate) fn expire_all_due(&self, data: &mut ShardData, now: u64) {
        self.expire_due(data, now, usize::MAX);
    }

    /// Pops the shard's expiry-heap items due at `now`, at most `budget` of them, removing the
    /// entries they still describe (stale items are dropped). Returns (popped, removed).
    fn expire_due(&self, data: &mut ShardData, now: u64, budget: usize) -> (usize, usize) {
        let (mut examined, mut removed) = (0, 0);
        while examined < budget {
            let Some(&Reverse((at, e))) = data.expiry.peek() else {
                break;
            };
            if at > now {
                break;
            }
            data.expiry.pop();
            examined += 1;
            if data.current_expiry(e) == Some(at) {
                data.expiry_live_hint = data.expiry_live_hint.saturating_sub(1);
                removed += usize::from(self.remove_entry(data, e, Removal::Expired));
            }
        }
        (examined, removed)
    }

    /// Active expiry: reclaims expired entries, examining at most `budget` heap items.
    pub fn active_expire(&self, budget: usize) -> usize {
        let now = self.now_ms();
        let mut examined = 0;
        let mut removed = 0;
        let start = (self.random() as usize) % SHARDS;
        for k in 0..SHARDS {
            let shard = &self.shards[(start + k) % SHARDS];
            let mut data = shard.data.write();
            let (x, r) = self.expire_due(&mut data, now, budget - examined);
            examined += x;
            removed += r;
            if data.expiry.len() > 2 * data.expiry_live_hint.max(data.entries) + 1024 {
                data.compact_expiry();
            }
            if examined >= budget {
                break;
            }
        }
        removed
    }

    /// Evicts the least recently used entry. False when there is none.
    fn evict_lru(&self, to: &Appends) -> bool {
        loop {
            let mut best: Option<(u64, usize, EntryRef)> = None;
            for (i, shard) in self.shards.iter().enumerate() {
                let data = shard.data.read();
                let mut log = shard.access.lock();
                while let Some(&(tick, e)) = log.front() {
                    if data.meta(e).is_some_and(|m| m.last_tick() == tick) {
                        if best.is_none_or(|(b, _, _)| tick < b) {
                            best = Some((tick, i, e));
                        }
                        break;
                    }
                    log.pop_front();
                }
            }
            let Some((tick, i, e)) = best else {
                return false;
            };
            let mut data = self.shards[i].data.write();
            if data.meta(e).is_some_and(|m| m.last_tick() == tick) {
                return self.evict(to, &mut data, e);
            }
            // Touched or removed meanwhile: look again.
        }
    }

    /// Evicts an entry with a low LFU counter (sampled). False when there is none.
    fn evict_lfu(&self, to: &Appends) -> bool {
        let now = self.now_ms();
        let total = self.counters.entries.load(Ordering::Relaxed);
        let mut cands: Vec<(u32, u64, usize, EntryRef)> = Vec::with_capacity(LFU_SAMPLES);
        if total <= LFU_EXHAUSTIVE {
            for (i, shard) in self.shards.iter().enumerate() {
                let data = shard.data.read();
                for (slot, entry) in data.slots_from(0) {
                    match &entry.value {
                        Value::Blob { meta, .. } => cands.push((
                            meta.frequency(now),
                            meta.last_tick(),
                            i,
                            EntryRef {
                                key: slot,
                                elem: NO_ELEM,
                            },
                        )),
                        Value::Hash(hv) => cands.push((
                            hv.meta.frequency(now),
                            hv.meta.last_tick(),
                            i,
                            EntryRef {
                                key: slot,
                                elem: NO_ELEM,
                            },
                        )),
                        Value::VSet(set) => {
                            for s in set.live_slots() {
                                let m = &set.elem(s).expect("live slot").meta;
                                cands.push((
                                    m.frequency(now),
                                    m.last_tick(),
                                    i,
                                    EntryRef { key: slot, elem: s },
                                ));
                            }
                        }
                    }
                }
            }
        } else {
            let mut tries = 0;
            while cands.len() < LFU_SAMPLES && tries < LFU_SAMPLES * 8 {
                tries += 1;
                let i = (self.random() as usize) % SHARDS;
                let data = self.shards[i].data.read();
                let cap = data.slot_capacity();
                if cap == 0 || data.live() == 0 {
                    continue;
                }
                let slot = (self.random() % cap as u64) as u32;
                let Some(entry) = data.entry(slot) else {
                    continue;
                };
                match &entry.value {
                    Value::Blob { .. } | Value::Hash(_) => {
                        let meta = entry.value.key_meta().expect("a blob or a hash");
                        cands.push((
                            meta.frequency(now),
                            meta.last_tick(),
                            i,
                            EntryRef {
                                key: slot,
                                elem: NO_ELEM,
                            },
                        ))
                    }
                    Value::VSet(set) => {
                        if let Some(s) = set.random_slot(self.random()) {
                            let m = &set.elem(s).expect("live slot").meta;
                            cands.push((
                                m.frequency(now),
                                m.last_tick(),
                                i,
                                EntryRef { key: slot, elem: s },
                            ));
                        }
                    }
                }
            }
        }
        let Some(&(_, tick, i, e)) = cands.iter().min_by_key(|c| (c.0, c.1)) else {
            return false;
        };
        let mut data = self.shards[i].data.write();
        if data.meta(e).is_some_and(|m| m.last_tick() == tick) {
            return self.evict(to, &mut data, e);
        }
        true
    }

    /// Logs and applies one eviction; false (nothing removed) when the log refuses it.
    fn evict(&self, to: &Appends, data: &mut ShardData, e: EntryRef) -> bool {
        let Some(entry) = data.entry(e.key) else {
            return false;
        };
        let logged = match (&entry.value, e.elem) {
            (Value::Blob { .. } | Value::Hash(_), NO_ELEM) => self.append(
                to,
                &Record::DelKey {
                    db: entry.db,
                    key: &entry.key,
                },
            ),
            (Value::VSet(set), s) => match set.elem(s) {
                Some(el) => self.append(
                    to,
                    &Record::VRem {
                        db: entry.db,
                        key: &entry.key,
                        name: &el.name,
                    },
                ),
                None => return false,
            },
            _ => return false,
        };
        logged.is_ok() && self.remove_entry(data, e, Removal::Evicted)
    }
}
