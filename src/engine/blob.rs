//! Blob calls: Redis's string commands (the keyspace commands are in `keyspace.rs`).

use std::sync::atomic::Ordering;

use super::api::Engine;
use super::types::*;
use crate::error::{Error, Result};
use crate::store::{
    blob_bytes, expired, Appends, EntryRef, Found, LazyNow, Record, Removal, Shard, ShardData,
    Value, NO_ELEM,
};

impl Engine {
    /// The body of [`Engine::set`]: its records are appended through `to`, not awaited.
    pub(crate) fn set_in(
        &self,
        to: &Appends,
        key: &[u8],
        value: &[u8],
        opts: SetOptions,
    ) -> Result<SetOutcome> {
        self.check_key(key)?;
        let limit = self.cfg.limits.max_value_bytes;
        if value.len() > limit {
            return Err(Error::TooLarge {
                arg: "value",
                len: value.len(),
                limit,
            });
        }
        // The expiry is checked before the lock, so a bad one changes nothing; of the
        // expiries only a relative one needs the clock for that (its sum must fit).
        let now = match opts.expiry {
            Expiry::InMs(_) => self.store.now_ms(),
            _ => 0,
        };
        self.resolve_expiry(opts.expiry, now, None)?;
        let (h, shard) = self.locate(key);
        let out = self.retry_oom(|| {
            let mut data = shard.data.write();
            self.set_locked(to, &mut data, h, key, value, opts)
        })?;
        self.store.enforce_caps(to);
        Ok(out)
    }

    /// Under `noeviction`, a write that fails for room is retried once after reclaiming
    /// expired entries (expired entries always go first).
    pub(crate) fn retry_oom<R>(&self, mut f: impl FnMut() -> Result<R>) -> Result<R> {
        match f() {
            Err(Error::OutOfMemory { .. }) if self.store.reclaim_earliest_expired() => {
                while self.store.reclaim_earliest_expired() {}
                f()
            }
            other => other,
        }
    }

    /// Writes a blob under the write lock (`data`) of the shard of `h`, the key's hash.
    fn set_locked(
        &self,
        to: &Appends,
        data: &mut ShardData,
        h: u64,
        key: &[u8],
        value: &[u8],
        opts: SetOptions,
    ) -> Result<SetOutcome> {
        let store = &self.store;
        let now = store.now_ms();
        let mut slot = data.find(h, self.ks(), key);
        if let Some(s) = slot {
            if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                store.remove_key(data, s, Removal::Expired);
                slot = None;
            }
        }
        let old = match (slot, opts.return_old) {
            (Some(s), true) => match &data.entry(s).map(|e| &e.value) {
                Some(Value::Blob { data: v, .. }) => Some(v.to_vec()),
                _ => return Err(Error::WrongType),
            },
            _ => None,
        };
        let proceed = match opts.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => slot.is_none(),
            SetCondition::IfPresent => slot.is_some(),
        };
        if !proceed {
            return Ok(SetOutcome {
                written: false,
                old,
            });
        }
        let current = slot.and_then(|s| data.entry(s)).map(|e| e.expires_at);
        let expires_at = self.resolve_expiry(opts.expiry, now, current)?;
        let bytes = blob_bytes(key.len(), value.len());
        let replaces_blob = slot
            .is_some_and(|s| matches!(data.entry(s).map(|e| &e.value), Some(Value::Blob { .. })));
        if replaces_blob {
            let old_bytes = slot.and_then(|s| data.entry(s)).map_or(0, |e| e.bytes);
            store.check_room(0, bytes.saturating_sub(old_bytes))?;
        } else {
            store.check_room(1, bytes)?;
        }
        let rec = Record::SetBlob {
            db: self.ks(),
            key,
            value,
            expires_at,
        };
        let found = Found {
            key: Some((h, slot)),
            elems: None,
        };
        store.commit_found(to, data, &rec, now, found)?;
        Ok(SetOutcome { written: true, old })
    }

    /// Reads a blob. `Err(WrongType)` when the key holds a vector set.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.get_with(key, |v| v.to_vec())
    }

    /// Reads a blob and hands a borrowed slice to `f` (no copy).
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        let t0 = self.lookup_timer();
        let r = self.get_with_untimed(key, f);
        self.lookup_timed(t0, None, None);
        r
    }

    fn get_with_untimed<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let store = &self.store;
        let now = LazyNow::new(store);
        {
            let data = shard.data.read();
            if let Some(slot) = data.find(h, self.ks(), key) {
                let entry = data.entry(slot).expect("found");
                if !now.expired(entry.expires_at) {
                    return match &entry.value {
                        Value::VSet(_) | Value::Hash(_) => Err(Error::WrongType),
                        Value::Blob { data: v, meta } => {
                            let e = EntryRef {
                                key: slot,
                                elem: NO_ELEM,
                            };
                            store.touch(shard, &data, e, meta, &now);
                            store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
                            Ok(Some(f(v)))
                        }
                    };
                }
            } else {
                store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
        }
        self.reclaim_if_expired(shard, h, key);
        store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// The body of [`Engine::get_then`]: its records are appended through `to`, not awaited.
    pub(crate) fn get_then_in(
        &self,
        to: &Appends,
        key: &[u8],
        then: GetThen,
    ) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let store = &self.store;
        let now = store.now_ms();
        let target = match then {
            GetThen::Expire(e) => Some(Self::expire_target(e, now)?),
            GetThen::Delete => None,
        };
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        let live = data
            .find(h, self.ks(), key)
            .filter(|&s| data.entry(s).is_some_and(|e| !expired(e.expires_at, now)));
        let Some(s) = live else {
            if let Some(s) = data.find(h, self.ks(), key) {
                store.remove_key(&mut data, s, Removal::Expired);
            }
            store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let entry = data.entry(s).expect("found above");
        let (value, current) = match &entry.value {
            Value::VSet(_) | Value::Hash(_) => return Err(Error::WrongType),
            Value::Blob { data: v, meta } => {
                let e = EntryRef {
                    key: s,
                    elem: NO_ELEM,
                };
                if target.is_some() {
                    store.touch(shard, &data, e, meta, &LazyNow::new(store));
                }
                (v.to_vec(), entry.expires_at)
            }
        };
        store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
        match target {
            None => {
                let rec = Record::DelKey { db: self.ks(), key };
                store.commit(to, &mut data, &rec, now)?;
            }
            Some(at) if at == current => {} // e.g. PERSIST of a key without a TTL
            Some(at) => self.set_key_expiry_locked(to, &mut data, key, at, now)?,
        }
        drop(data);
        Ok(Some(value))
    }

    /// The body of [`Engine::incr_by`]: its records are appended through `to`, not awaited.
    pub(crate) fn incr_by_in(&self, to: &Appends, key: &[u8], delta: i64) -> Result<i64> {
        let mut result = 0;
        self.update_blob(to, key, |old| {
            let n = match old {
                None => 0,
                Some(v) => parse_redis_int(v).ok_or_else(|| {
                    Error::invalid("value", "the key holds a value that is not an integer")
                })?,
            };
            result = n
                .checked_add(delta)
                .ok_or_else(|| Error::invalid("delta", "increment or decrement would overflow"))?;
            Ok(result.to_string().into_bytes())
        })?;
        Ok(result)
    }

    /// The body of [`Engine::append`]: its records are appended through `to`, not awaited.
    pub(crate) fn append_in(&self, to: &Appends, key: &[u8], tail: &[u8]) -> Result<usize> {
        let mut len = 0;
        self.update_blob(to, key, |old| {
            let mut v = Vec::with_capacity(old.map_or(0, <[u8]>::len) + tail.len());
            v.extend_from_slice(old.unwrap_or_default());
            v.extend_from_slice(tail);
            len = v.len();
            Ok(v)
        })?;
        Ok(len)
    }

    /// Replaces a blob by `f(current value)` (`None` when missing or expired) under one hold
    /// of its shard's write lock, keeping its expiry: the read-modify-write calls.
    fn update_blob(
        &self,
        to: &Appends,
        key: &[u8],
        mut f: impl FnMut(Option<&[u8]>) -> Result<Vec<u8>>,
    ) -> Result<()> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let limit = self.cfg.limits.max_value_bytes;
        self.retry_oom(|| {
            let now = self.store.now_ms();
            let mut data = shard.data.write();
            let old = data
                .find(h, self.ks(), key)
                .and_then(|s| data.entry(s))
                .filter(|e| !expired(e.expires_at, now));
            let new = match old.map(|e| &e.value) {
                Some(Value::VSet(_) | Value::Hash(_)) => return Err(Error::WrongType),
                Some(Value::Blob { data: v, .. }) => f(Some(v))?,
                None => f(None)?,
            };
            if new.len() > limit {
                return Err(Error::TooLarge {
                    arg: "value",
                    len: new.len(),
                    limit,
                });
            }
            let opts = SetOptions {
                expiry: Expiry::Keep,
                ..SetOptions::default()
            };
            self.set_locked(to, &mut data, h, key, &new, opts)
        })?;
        self.store.enforce_caps(to);
        Ok(())
    }

    /// Removes `key` if it has expired (lazy expiry after a read found it so).
    pub(crate) fn reclaim_if_expired(&self, shard: &Shard, h: u64, key: &[u8]) {
        let now = self.store.now_ms();
        let mut data = shard.data.write();
        if let Some(s) = data.find(h, self.ks(), key) {
            if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                self.store.remove_key(&mut data, s, Removal::Expired);
            }
        }
    }

    /// Reads many blobs; a missing key or a vector set reads as `None` (as Redis's MGET).
    /// All at one instant: the keys' shards are read-locked together (in shard order, as
    /// MSET write-locks them), so an MGET never sees an MSET half done.
    pub fn mget(&self, keys: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        if keys.len() < 2 {
            return keys.iter().map(|k| self.get(k).ok().flatten()).collect();
        }
        let store = &self.store;
        let located: Vec<Option<(u64, usize)>> = keys
            .iter()
            .map(|k| {
                self.check_key(k).ok()?;
                let h = store.hash(k);
                Some((h, crate::store::Store::shard_of(h)))
            })
            .collect();
        let mut order: Vec<usize> = located.iter().flatten().map(|&(_, i)| i).collect();
        order.sort_unstable();
        order.dedup();
        let locked: Vec<_> = order.iter().map(|&i| store.shards[i].data.read()).collect();
        let now = LazyNow::new(store);
        let mut lapsed = Vec::new();
        let out = keys
            .iter()
            .zip(&located)
            .map(|(key, loc)| {
                let &(h, i) = loc.as_ref()?;
                let (shard, data) = (&store.shards[i], &locked[order.binary_search(&i).ok()?]);
                let Some(slot) = data.find(h, self.ks(), key) else {
                    store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                    return None;
                };
                let entry = data.entry(slot)?;
                if now.expired(entry.expires_at) {
                    lapsed.push((h, i, *key));
                    store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                    return None;
                }
                match &entry.value {
                    Value::VSet(_) | Value::Hash(_) => None,
                    Value::Blob { data: v, meta } => {
                        let e = EntryRef {
                            key: slot,
                            elem: NO_ELEM,
                        };
                        store.touch(shard, data, e, meta, &now);
                        store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
                        Some(v.to_vec())
                    }
                }
            })
            .collect();
        drop(locked);
        for (h, i, key) in lapsed {
            self.reclaim_if_expired(&store.shards[i], h, key);
        }
        out
    }

    /// The body of [`Engine::mset`]: its records are appended through `to`, not awaited.
    pub(crate) fn mset_in(&self, to: &Appends, pairs: &[(&[u8], &[u8])]) -> Result<()> {
        let limit = self.cfg.limits.max_value_bytes;
        for (k, v) in pairs {
            self.check_key(k)?;
            if v.len() > limit {
                return Err(Error::TooLarge {
                    arg: "value",
                    len: v.len(),
                    limit,
                });
            }
        }
        if self.store.cfg.live.policy() == super::EvictionPolicy::NoEviction {
            let bytes: u64 = pairs
                .iter()
                .map(|(k, v)| blob_bytes(k.len(), v.len()))
                .sum();
            let new = pairs
                .iter()
                .filter(|(k, _)| self.key_type(k).is_none())
                .count();
            self.retry_oom(|| self.store.check_room(new as u64, bytes))?;
        }
        // Every key's shard write-locked at once, in shard order (so two MSETs cannot
        // deadlock): as in Redis no reader sees some of the keys written and others not, and
        // the writes reach the log as one group before any lock is released, so a crash
        // keeps all of them or none.
        let located: Vec<(u64, usize)> = pairs
            .iter()
            .map(|(k, _)| {
                let h = self.store.hash(k);
                (h, crate::store::Store::shard_of(h))
            })
            .collect();
        let mut order: Vec<usize> = located.iter().map(|&(_, i)| i).collect();
        order.sort_unstable();
        order.dedup();
        let mut locked: Vec<_> = order
            .iter()
            .map(|&i| (i, self.store.shards[i].data.write()))
            .collect();
        let written = self.store.grouped(to, false, |group| -> Result<()> {
            for ((k, v), &(h, i)) in pairs.iter().zip(&located) {
                let at = order.binary_search(&i).expect("locked above");
                let data = &mut locked[at].1;
                self.set_locked(group, data, h, k, v, SetOptions::default())?;
            }
            Ok(())
        });
        drop(locked);
        written??;
        self.store.enforce_caps(to);
        Ok(())
    }

    /// The body of [`Engine::del`]: its records are appended through `to`, not awaited.
    pub(crate) fn del_in(&self, to: &Appends, keys: &[&[u8]]) -> Result<usize> {
        for k in keys {
            self.check_key(k)?;
        }
        let now = self.store.now_ms();
        let mut n = 0;
        for k in keys {
            let (h, shard) = self.locate(k);
            self.store.reclaim_due(shard);
            let mut data = shard.data.write();
            if let Some(s) = data.find(h, self.ks(), k) {
                let live = data.entry(s).is_some_and(|e| !expired(e.expires_at, now));
                if live {
                    let rec = Record::DelKey {
                        db: self.ks(),
                        key: k,
                    };
                    self.store.commit(to, &mut data, &rec, now)?;
                } else {
                    self.store.remove_key(&mut data, s, Removal::Expired);
                }
                n += live as usize;
            }
        }
        Ok(n)
    }
}

/// What a stored value is.
pub(crate) fn kind_of(v: &Value) -> KeyKind {
    match v {
        Value::Blob { .. } => KeyKind::Blob,
        Value::VSet(_) => KeyKind::VectorSet,
        Value::Hash(_) => KeyKind::Hash,
    }
}

/// Redis's `string2ll`: optional '-', digits, no leading zeros (but `0` itself), no '+',
/// within i64. INCR reads a blob with it; the server reads RESP lengths and integer
/// arguments with it.
pub(crate) fn parse_redis_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first()? {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(digit)?
        } else {
            v.checked_add(digit)?
        };
    }
    Some(v)
}
