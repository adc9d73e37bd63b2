//! Applying a logged record: the one place a key's removal, expiry or attribute change
//! happens, for live writes (the engine appends the record, then applies it under the same
//! shard write lock) and for WAL replay alike.
//!
//! A record carries absolute values (whole values, absolute expiry times), so applying it
//! over a state that already contains it changes nothing: replaying a log suffix over a fuzzy
//! snapshot, or twice, ends in the same state.

use std::sync::atomic::Ordering;

use super::hash::HashValue;
use super::meta::AccessMeta;
use super::record::Record;
use super::{
    expired, Change, ChangeCause, EntryRef, KeyEntry, Removal, ShardData, Store, Value, NO_ELEM,
};

/// Accounted bytes of a hash's own key entry beyond its fields.
pub(crate) const HASH_OVERHEAD: u64 =
    std::mem::size_of::<Option<KeyEntry>>() as u64 + std::mem::size_of::<HashValue>() as u64 + 32;

impl Store {
    /// The element `element` of the vector set `key` (hash `h`) in this shard, if both exist
    /// (expired or not).
    pub fn find_element(
        &self,
        data: &ShardData,
        h: u64,
        db: u32,
        key: &[u8],
        element: &[u8],
    ) -> Option<EntryRef> {
        let slot = data.find(h, db, key)?;
        let Value::VSet(set) = &data.entry(slot)?.value else {
            return None;
        };
        let s = set.find(self.hash(element), element)?;
        Some(EntryRef { key: slot, elem: s })
    }

    /// Applies a record about one key under its shard's write lock (`data`, the shard of the
    /// key's hash): `DelKey`, `ExpireKey`, `VRem`, `VExpire`, `VSetAttr`, `HSet`, `HDel`. Returns whether it
    /// changed something (false: the key or element is gone, or the record is of another
    /// kind). `now` decides whether an absolute expiry is in the past (the caller's clock
    /// reading: a live write's, or replay's). Blob writes and element adds are applied by the
    /// engine's write bodies, and `Flush` by [`Store::apply_flush`].
    pub fn apply(&self, data: &mut ShardData, rec: &Record<'_>, now: u64) -> bool {
        match *rec {
            Record::DelKey { db, key } => {
                let h = self.hash(key);
                match data.find(h, db, key) {
                    Some(s) => self.remove_key(data, s, Removal::Deleted) > 0,
                    None => false,
                }
            }
            Record::ExpireKey { db, key, at } => {
                let h = self.hash(key);
                let Some(s) = data.find(h, db, key) else {
                    return false;
                };
                if at != 0 && at <= now {
                    return self.remove_key(data, s, Removal::Deleted) > 0;
                }
                data.set_key_expiry(s, at);
                self.feed.report(Change::Key(key, ChangeCause::Write));
                data.push_expiry(
                    at,
                    EntryRef {
                        key: s,
                        elem: NO_ELEM,
                    },
                );
                true
            }
            Record::VRem { db, key, name } => {
                let h = self.hash(key);
                match self.find_element(data, h, db, key, name) {
                    Some(e) => self.remove_entry(data, e, Removal::Deleted),
                    None => false,
                }
            }
            Record::VExpire { db, key, name, at } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, db, key, name) else {
                    return false;
                };
                if at != 0 && at <= now {
                    return self.remove_entry(data, e, Removal::Deleted);
                }
                if let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) {
                    if let Some(el) = set.elem_mut(e.elem) {
                        el.expires_at = at;
                        self.feed
                            .report(Change::Element(key, name, ChangeCause::Write));
                    }
                }
                data.push_expiry(at, e);
                true
            }
            Record::VSetAttr {
                db,
                key,
                name,
                attrs,
            } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, db, key, name) else {
                    return false;
                };
                let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) else {
                    return false;
                };
                let delta = set.set_attrs(e.elem, attrs);
                self.feed
                    .report(Change::Element(key, name, ChangeCause::Write));
                self.account(0, delta);
                true
            }
            Record::Move { db, key, to } => {
                if !self.can_move(data, self.hash(key), rec, now) {
                    return false;
                }
                let Some(s) = data.find(self.hash(key), db, key) else {
                    return false;
                };
                data.set_db(s, to);
                self.feed.report(Change::Key(key, ChangeCause::Write));
                true
            }
            Record::HSet {
                db,
                key,
                fresh,
                ref pairs,
            } => {
                self.apply_hset(data, db, key, fresh, pairs, now);
                true
            }
            Record::HDel {
                db,
                key,
                ref fields,
            } => self.apply_hdel(data, db, key, fields) > 0,
            Record::SetBlob { .. }
            | Record::VAdd { .. }
            | Record::Flush { .. }
            | Record::DbMap { .. }
            | Record::Group { .. } => false,
        }
    }

    /// Whether a `Move` record would move its key now: the key is live in its keyspace and
    /// absent from the target (a target key whose TTL passed is reclaimed here first).
    pub fn can_move(&self, data: &mut ShardData, h: u64, rec: &Record<'_>, now: u64) -> bool {
        let Record::Move { db, key, to } = *rec else {
            return false;
        };
        if db == to {
            return false;
        }
        let live = |data: &ShardData, ks: u32| {
            data.find(h, ks, key)
                .and_then(|s| data.entry(s).map(|e| (s, e.expires_at)))
                .map(|(s, at)| (s, expired(at, now)))
        };
        match live(data, db) {
            Some((_, false)) => {}
            _ => return false,
        }
        match live(data, to) {
            None => true,
            Some((s, true)) => {
                self.remove_key(data, s, Removal::Expired);
                true
            }
            Some((_, false)) => false,
        }
    }

    /// Applies `HSet`: the hash at `key` in keyspace `db` gets these field values. `fresh` (the live write
    /// created the hash: the key was absent or its TTL had passed) replaces whatever the key
    /// holds by a new hash expiring at `Some(at)` (0 = never); otherwise the fields merge into the hash there, even
    /// one whose TTL has passed by `now` (a replay's clock: it had not when the write was
    /// made, and a later record may extend it), and a key of another type (met only by a
    /// replay over a fuzzy snapshot) is replaced. Returns how many fields are new.
    pub fn apply_hset(
        &self,
        data: &mut ShardData,
        db: u32,
        key: &[u8],
        fresh: Option<u64>,
        pairs: &[(&[u8], &[u8])],
        now: u64,
    ) -> usize {
        let h = self.hash(key);
        let tick = self.next_tick();
        let mut slot = data.find(h, db, key);
        if let Some(s) = slot {
            let is_hash = data
                .entry(s)
                .is_some_and(|e| matches!(e.value, Value::Hash(_)));
            if fresh.is_some() || !is_hash {
                let lapsed = data.entry(s).is_some_and(|e| expired(e.expires_at, now));
                let why = if lapsed {
                    Removal::Expired
                } else {
                    Removal::Deleted
                };
                // The write's own report below covers the key.
                self.remove_key_reporting(data, s, why, false);
                slot = None;
            }
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                let bytes = key.len() as u64 + HASH_OVERHEAD;
                let expires_at = fresh.unwrap_or(0);
                let s = data.insert(KeyEntry {
                    db,
                    key: key.into(),
                    hash: h,
                    expires_at,
                    value: Value::Hash(Box::new(HashValue::new(AccessMeta::new(tick, now)))),
                    bytes,
                });
                data.entries += 1;
                data.push_expiry(
                    expires_at,
                    EntryRef {
                        key: s,
                        elem: NO_ELEM,
                    },
                );
                self.counters.keys.fetch_add(1, Ordering::Relaxed);
                self.account(1, bytes as i64);
                s
            }
        };
        let entry = data.entry_mut(slot).expect("found or inserted");
        let Value::Hash(hv) = &mut entry.value else {
            unreachable!("a hash was found or inserted above");
        };
        let (mut new, mut delta) = (0, 0i64);
        for (f, v) in pairs {
            let (added, d) = hv.set(f, v);
            new += usize::from(added);
            delta += d;
        }
        hv.meta.tick.store(tick, Ordering::Relaxed);
        entry.bytes = entry.bytes.saturating_add_signed(delta);
        self.account(0, delta);
        let e = EntryRef {
            key: slot,
            elem: NO_ELEM,
        };
        self.shards[Store::shard_of(h)]
            .access
            .lock()
            .push_back((tick, e));
        self.feed.report(Change::Key(key, ChangeCause::Write));
        self.counters.events.sets.fetch_add(1, Ordering::Relaxed);
        new
    }

    /// Applies `HDel`: removes these fields of the hash at `key` in keyspace `db` (the key
    /// with its last one). Returns how many existed.
    pub fn apply_hdel(&self, data: &mut ShardData, db: u32, key: &[u8], fields: &[&[u8]]) -> usize {
        let h = self.hash(key);
        let Some(slot) = data.find(h, db, key) else {
            return 0;
        };
        let Some(entry) = data.entry_mut(slot) else {
            return 0;
        };
        let Value::Hash(hv) = &mut entry.value else {
            return 0;
        };
        let (mut gone, mut freed) = (0, 0u64);
        for f in fields {
            if let Some(b) = hv.remove(f) {
                gone += 1;
                freed += b;
            }
        }
        if gone == 0 {
            return 0;
        }
        let empty = hv.fields.is_empty();
        entry.bytes = entry.bytes.saturating_sub(freed);
        self.account(0, -(freed as i64));
        if empty {
            self.remove_key(data, slot, Removal::Deleted);
        } else {
            self.feed.report(Change::Key(key, ChangeCause::Write));
        }
        gone
    }

    /// [`Store::apply`] taking the key's shard write lock itself (WAL replay, a replica
    /// applying its master's records; the clock read now): `Flush` too, under every shard's
    /// lock. With a log attached the record is appended through `to` first, under the same
    /// locks, as a live write does (a replica logs what it applies); a refused append
    /// applies nothing.
    pub fn apply_locking(&self, to: &super::Appends, rec: &Record<'_>) -> crate::Result<bool> {
        let key = match *rec {
            Record::Flush { db } => {
                let mut guards: Vec<_> = self.shards.iter().map(|s| s.data.write()).collect();
                if self.logging() {
                    self.append(to, rec)?;
                }
                self.apply_flush(&mut guards, db);
                return Ok(true);
            }
            Record::DbMap { a, to_a, b, to_b } => {
                let guards: Vec<_> = self.shards.iter().map(|s| s.data.write()).collect();
                if self.logging() {
                    self.append(to, rec)?;
                }
                self.apply_db_map(&guards, [(a, to_a), (b, to_b)]);
                return Ok(true);
            }
            Record::Move { key, .. }
            | Record::DelKey { key, .. }
            | Record::ExpireKey { key, .. }
            | Record::VRem { key, .. }
            | Record::VExpire { key, .. }
            | Record::VSetAttr { key, .. }
            | Record::HSet { key, .. }
            | Record::HDel { key, .. } => key,
            Record::SetBlob { .. } | Record::VAdd { .. } | Record::Group { .. } => {
                return Ok(false)
            }
        };
        let shard = &self.shards[Store::shard_of(self.hash(key))];
        let mut data = shard.data.write();
        if self.logging() {
            self.append(to, rec)?;
        }
        Ok(self.apply(&mut data, rec, self.now_ms()))
    }

    /// Applies `Flush` with every shard's write lock held (`guards`, in shard order): removes
    /// every key of database `db` (`None`: of every database), reported once.
    pub fn apply_flush<G: std::ops::DerefMut<Target = ShardData>>(
        &self,
        guards: &mut [G],
        db: Option<u32>,
    ) {
        for (shard, data) in self.shards.iter().zip(guards.iter_mut()) {
            let slots: Vec<u32> = data
                .slots_from(0)
                .filter(|(_, e)| db.is_none_or(|d| e.db == d))
                .map(|(s, _)| s)
                .collect();
            match db {
                None => {
                    for s in slots {
                        self.remove_key_reporting(data, s, Removal::Deleted, false);
                    }
                    data.clear();
                    shard.access.lock().clear();
                }
                // The other databases' entries stay: their access-log and expiry-heap items
                // stay current, the flushed ones' go stale and are skipped as usual.
                Some(_) => {
                    for s in slots {
                        self.remove_key_reporting(data, s, Removal::Deleted, false);
                    }
                }
            }
        }
        self.feed.report(Change::All);
    }

    /// Applies `DbMap` with every shard's write lock held (`guards`: a reader of the map holds
    /// one of them, so no key call sees half a swap): each database now names its keyspace.
    pub fn apply_db_map<G>(&self, _guards: &[G], pairs: [(u32, u32); 2]) {
        let mut changed = false;
        for (db, to) in pairs {
            if let Some(slot) = self.db_map.get(db as usize) {
                changed |= slot.swap(to, Ordering::SeqCst) != to;
            }
        }
        if changed {
            self.feed.report(Change::All);
        }
    }
}
