//! Applying a record: the one function that changes the store for a mutation, for live
//! writes and for WAL replay (and a replica's apply) alike.
//!
//! Outside the store a record reaches it only through
//! - [`Store::commit`] (and [`Store::commit_expired`], [`Store::commit_all`]): a live write,
//!   holding the write lock of the record's shard (a `&mut ShardData` is only reachable
//!   through `Shard::data`'s write guard), appends the record through the caller's
//!   [`Appends`] and then applies it, under that same lock;
//! - [`Store::apply_locking`]: replay (and a replica) takes the locks itself, appends when a
//!   log is attached (a replica logs what it applies; recovery has none) and applies.
//!
//! `Store::append` and `Store::apply` are private to the store, so no caller can apply a
//! record it did not append, nor append one after applying it.
//!
//! A record carries absolute values (whole values, absolute expiry times), so applying it
//! over a state that already contains it changes nothing: replaying a log suffix over a fuzzy
//! snapshot, or twice, ends in the same state.

use std::sync::atomic::Ordering;

use super::hash::HashValue;
use super::meta::AccessMeta;
use super::record::{group_records, AddRec, Record};
use super::{
    expired, Appends, Change, ChangeCause, EntryRef, KeyEntry, Removal, SetParams, ShardData,
    Store, Value, VectorSet, BLOB_OVERHEAD, NO_ELEM, SET_OVERHEAD,
};
use crate::error::Result;

/// Accounted bytes of a hash's own key entry beyond its fields.
pub(crate) const HASH_OVERHEAD: u64 =
    std::mem::size_of::<Option<KeyEntry>>() as u64 + std::mem::size_of::<HashValue>() as u64 + 32;

/// Accounted bytes of a blob of this key and value.
pub(crate) fn blob_bytes(key_len: usize, value_len: usize) -> u64 {
    key_len as u64 + value_len as u64 + BLOB_OVERHEAD
}

/// What a live write already found under the write lock it holds when it commits a record
/// ([`Store::commit_found`]), so the apply does not look it up again. Replay has nothing
/// (`Found::default()`: the apply looks everything up).
#[derive(Clone, Copy, Default, Debug)]
pub struct Found<'a> {
    /// The record's key: its hash and its live slot (`None`: absent; a key whose TTL passed
    /// was already reclaimed).
    pub key: Option<(u64, Option<u32>)>,
    /// A `VAdd`'s element names' hashes, in the record's order; every element among them
    /// whose TTL passed was already removed.
    pub elems: Option<&'a [u64]>,
}

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

    /// A live write's one way to change the store: appends `rec` through `to` (to the log,
    /// or to the caller's group), then applies it. `data` is the write lock of the shard of
    /// the record's key, held across both, so LSN order is apply order for the key; `now` is
    /// the caller's clock reading. A refused append applies nothing. Returns what
    /// [`Store::apply`] returns, `0` for a record that did not fit the state.
    pub fn commit(
        &self,
        to: &Appends,
        data: &mut ShardData,
        rec: &Record<'_>,
        now: u64,
    ) -> Result<usize> {
        self.commit_found(to, data, rec, now, Found::default())
    }

    /// [`Store::commit`] for a write that already looked its key (and its elements' names)
    /// up under the same `data` guard: `found` says what it found, so the apply does not
    /// look again. Debug builds check `found` against the state.
    pub fn commit_found(
        &self,
        to: &Appends,
        data: &mut ShardData,
        rec: &Record<'_>,
        now: u64,
        found: Found<'_>,
    ) -> Result<usize> {
        self.debug_check_shard(data, rec);
        self.append(to, rec)?;
        Ok(self.apply(data, rec, now, found).unwrap_or(0))
    }

    /// A key (`DelKey`) or an element (`VRem`) the caller found expired and is about to
    /// replace (an add onto it, a MOVE onto it): its removal is logged when a log is attached
    /// (a replay judges no TTL, so it must be told), and applied as an expiry, under `data`,
    /// the write lock of the record's shard.
    pub fn commit_expired(
        &self,
        to: &Appends,
        data: &mut ShardData,
        rec: &Record<'_>,
        now: u64,
    ) -> Result<()> {
        self.debug_check_shard(data, rec);
        if self.logging() {
            self.append(to, rec)?;
        }
        match *rec {
            Record::DelKey { db, key } => {
                if let Some(s) = data.find(self.hash(key), db, key) {
                    if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                        self.remove_key(data, s, Removal::Expired);
                    }
                }
            }
            Record::VRem { db, key, name } => {
                if let Some(e) = self.find_element(data, self.hash(key), db, key, name) {
                    if data.current_expiry(e).is_some_and(|at| expired(at, now)) {
                        self.remove_entry(data, e, Removal::Expired);
                    }
                }
            }
            _ => debug_assert!(false, "commit_expired takes DelKey or VRem"),
        }
        Ok(())
    }

    /// [`Store::commit`] for a record about every shard (`Flush`, `DbMap`), with every
    /// shard's write lock held (`guards`, in shard order).
    pub fn commit_all<G: std::ops::DerefMut<Target = ShardData>>(
        &self,
        to: &Appends,
        guards: &mut [G],
        rec: &Record<'_>,
    ) -> Result<()> {
        debug_assert_eq!(guards.len(), self.shards.len());
        self.append(to, rec)?;
        self.apply_all(guards, rec);
        Ok(())
    }

    /// Checks (in debug builds) that `data` is the shard of `rec`'s key.
    fn debug_check_shard(&self, data: &ShardData, rec: &Record<'_>) {
        if cfg!(debug_assertions) {
            if let Some(key) = rec.key() {
                let shard = &self.shards[Store::shard_of(self.hash(key))];
                debug_assert!(
                    std::ptr::eq(shard.data.data_ptr(), data),
                    "a record applied under another shard's lock"
                );
            }
        }
    }

    /// Applies a record about one key under its shard's write lock (`data`, the shard of the
    /// key's hash): the one function that changes the store for a mutation, reached through
    /// [`Store::commit`] (a live write) and [`Store::apply_locking`] (replay). `now` decides
    /// whether an absolute expiry is in the past (the caller's clock reading: a live
    /// write's, or replay's). `None` when the record does not fit the state (an element add
    /// onto a key of another type, or onto a set with other parameters: superseded in a
    /// replay over a fuzzy snapshot); else what it changed: `SetBlob` 1; `VAdd` the new
    /// elements; `HSet` the new fields; `HDel` the fields removed; the others 1 when they
    /// changed something, 0 when the key or element is gone. `Flush`, `DbMap` and `Group`
    /// are applied by [`Store::commit_all`] and [`Store::apply_locking`].
    fn apply(
        &self,
        data: &mut ShardData,
        rec: &Record<'_>,
        now: u64,
        found: Found<'_>,
    ) -> Option<usize> {
        Some(match *rec {
            Record::SetBlob {
                db,
                key,
                value,
                expires_at,
            } => {
                self.apply_set_blob(data, db, key, value, expires_at, now, found);
                1
            }
            Record::VAdd {
                db,
                key,
                params,
                ref adds,
            } => return self.apply_vadd(data, db, key, params, adds, now, found),
            Record::DelKey { db, key } => {
                let h = self.hash(key);
                match data.find(h, db, key) {
                    Some(s) => usize::from(self.remove_key(data, s, Removal::Deleted) > 0),
                    None => 0,
                }
            }
            Record::ExpireKey { db, key, at } => {
                let h = self.hash(key);
                let Some(s) = data.find(h, db, key) else {
                    return Some(0);
                };
                if at != 0 && at <= now {
                    return Some(usize::from(self.remove_key(data, s, Removal::Deleted) > 0));
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
                1
            }
            Record::VRem { db, key, name } => {
                let h = self.hash(key);
                match self.find_element(data, h, db, key, name) {
                    Some(e) => usize::from(self.remove_entry(data, e, Removal::Deleted)),
                    None => 0,
                }
            }
            Record::VExpire { db, key, name, at } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, db, key, name) else {
                    return Some(0);
                };
                if at != 0 && at <= now {
                    return Some(usize::from(self.remove_entry(data, e, Removal::Deleted)));
                }
                if let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) {
                    if let Some(el) = set.elem_mut(e.elem) {
                        el.expires_at = at;
                        self.feed
                            .report(Change::Element(key, name, ChangeCause::Write));
                    }
                }
                data.push_expiry(at, e);
                1
            }
            Record::VSetAttr {
                db,
                key,
                name,
                attrs,
            } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, db, key, name) else {
                    return Some(0);
                };
                let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) else {
                    return Some(0);
                };
                let delta = set.set_attrs(e.elem, attrs);
                self.feed
                    .report(Change::Element(key, name, ChangeCause::Write));
                self.account(0, delta);
                1
            }
            Record::Move { db, key, to } => {
                if !self.can_move(data, self.hash(key), rec, now) {
                    return Some(0);
                }
                let Some(s) = data.find(self.hash(key), db, key) else {
                    return Some(0);
                };
                data.set_db(s, to);
                self.feed.report(Change::Key(key, ChangeCause::Write));
                1
            }
            Record::HSet {
                db,
                key,
                fresh,
                ref pairs,
            } => self.apply_hset(data, db, key, fresh, pairs, now),
            Record::HDel {
                db,
                key,
                ref fields,
            } => self.apply_hdel(data, db, key, fields),
            Record::Flush { .. } | Record::DbMap { .. } | Record::Group { .. } => 0,
        })
    }

    /// The slot of `key` in keyspace `db` (hash `h`), reclaimed first (and `None`) when its
    /// TTL has passed by `now`.
    fn live_slot(
        &self,
        data: &mut ShardData,
        h: u64,
        db: u32,
        key: &[u8],
        now: u64,
    ) -> Option<u32> {
        let s = data.find(h, db, key)?;
        if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
            self.remove_key(data, s, Removal::Expired);
            return None;
        }
        Some(s)
    }

    /// The key's hash and live slot: as the caller found them (`found.key`), or looked up
    /// here (reclaiming a key whose TTL passed by `now`).
    fn locate_live(
        &self,
        data: &mut ShardData,
        db: u32,
        key: &[u8],
        now: u64,
        found: Found<'_>,
    ) -> (u64, Option<u32>) {
        match found.key {
            Some((h, slot)) => {
                debug_assert_eq!(h, self.hash(key), "a found key's hash");
                debug_assert_eq!(slot, data.find(h, db, key), "a found key's slot");
                debug_assert!(
                    slot.is_none_or(|s| !data.entry(s).is_some_and(|e| expired(e.expires_at, now))),
                    "a found key whose TTL passed"
                );
                (h, slot)
            }
            None => {
                let h = self.hash(key);
                (h, self.live_slot(data, h, db, key, now))
            }
        }
    }

    /// Applies `SetBlob`: the key holds this blob, expiring at `expires_at` (0 = never); a
    /// blob there is overwritten in place, any other value (or a key whose TTL passed by
    /// `now`) replaced.
    #[allow(clippy::too_many_arguments)]
    fn apply_set_blob(
        &self,
        data: &mut ShardData,
        db: u32,
        key: &[u8],
        value: &[u8],
        expires_at: u64,
        now: u64,
        found: Found<'_>,
    ) {
        let (h, slot) = self.locate_live(data, db, key, now, found);
        let bytes = blob_bytes(key.len(), value.len());
        let tick = self.next_tick();
        let replaces_blob = slot
            .is_some_and(|s| matches!(data.entry(s).map(|e| &e.value), Some(Value::Blob { .. })));
        let slot = match slot {
            Some(s) if replaces_blob => {
                let old_bytes = data.entry(s).map_or(0, |e| e.bytes);
                data.set_key_expiry(s, expires_at);
                let entry = data.entry_mut(s).expect("found above");
                match &mut entry.value {
                    // Same length (a cached embedding refreshed): overwrite in place, no
                    // allocation and no free. Readers copy under the shard lock held here.
                    // (A value served from a mapped snapshot is replaced instead.)
                    Value::Blob { data: old, meta }
                        if old.len() == value.len() && old.is_owned() =>
                    {
                        if let Some(old) = old.owned_mut() {
                            old.copy_from_slice(value);
                        }
                        *meta = AccessMeta::new(tick, now);
                    }
                    other => {
                        *other = Value::Blob {
                            data: self.blob_value(value),
                            meta: AccessMeta::new(tick, now),
                        }
                    }
                }
                entry.bytes = bytes;
                self.account(0, bytes as i64 - old_bytes as i64);
                s
            }
            existing => {
                if let Some(s) = existing {
                    // Another type overwritten (reported once, as the write, below).
                    self.remove_key_reporting(data, s, Removal::Deleted, false);
                }
                let s = data.insert(KeyEntry {
                    db,
                    key: key.into(),
                    hash: h,
                    expires_at,
                    value: Value::Blob {
                        data: self.blob_value(value),
                        meta: AccessMeta::new(tick, now),
                    },
                    bytes,
                });
                data.entries += 1;
                self.counters.keys.fetch_add(1, Ordering::Relaxed);
                self.account(1, bytes as i64);
                s
            }
        };
        data.push_expiry(
            expires_at,
            EntryRef {
                key: slot,
                elem: NO_ELEM,
            },
        );
        self.note_key_written(h, slot, key, tick);
    }

    /// A blob value of `value`'s bytes: during recovery, values of `MAPPED_BLOB_MIN` bytes or
    /// more that lie in a replayed log segment's mapping (registered for the replay by
    /// `engine::durable`) are served from it in place, as a snapshot's are; otherwise (and
    /// for every live write) a heap copy.
    fn blob_value(&self, value: &[u8]) -> crate::snapshot::BlobBytes {
        if self.recovering() {
            crate::snapshot::BlobBytes::in_region_or_copied(value, super::persist::MAPPED_BLOB_MIN)
        } else {
            value.into()
        }
    }

    /// What every write of a whole key's value (a blob set, a hash's fields) notes once
    /// applied: the key's place in its shard's LRU access log at `tick`, the change feed and
    /// the `sets` counter.
    #[inline]
    pub(super) fn note_key_written(&self, h: u64, slot: u32, key: &[u8], tick: u64) {
        let e = EntryRef {
            key: slot,
            elem: NO_ELEM,
        };
        if self.cfg.live.access_logged() {
            self.shards[Store::shard_of(h)]
                .access
                .lock()
                .push_back((tick, e));
        }
        self.feed.report(Change::Key(key, ChangeCause::Write));
        self.counters.events.sets.fetch_add(1, Ordering::Relaxed);
    }

    /// Applies `VAdd`: the elements get these vectors (already projected when the set
    /// projects), attributes and absolute expiries, the set made with `params` when the key
    /// is missing (or its TTL passed by `now`); an element whose TTL passed is replaced, not
    /// updated. `None` (nothing changed) when the key holds another type, or a set whose
    /// dimension, metric, storage or M differ from `params`. Returns how many elements are
    /// new.
    #[allow(clippy::too_many_arguments)]
    fn apply_vadd(
        &self,
        data: &mut ShardData,
        db: u32,
        key: &[u8],
        params: SetParams,
        adds: &[AddRec<'_>],
        now: u64,
        found: Found<'_>,
    ) -> Option<usize> {
        let (h, slot) = self.locate_live(data, db, key, now, found);
        match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
            Some(Value::VSet(set)) => {
                let p = set.params;
                let same = (p.dim, p.metric, p.storage, p.m)
                    == (params.dim, params.metric, params.storage, params.m);
                if !same {
                    return None;
                }
            }
            Some(Value::Blob { .. } | Value::Hash(_)) => return None,
            None => {}
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                let set = Box::new(VectorSet::new(params, self.next_uid()));
                self.register_set(key, &set.counters);
                let s = data.insert(KeyEntry {
                    db,
                    key: key.into(),
                    hash: h,
                    expires_at: 0,
                    value: Value::VSet(set),
                    bytes: SET_OVERHEAD,
                });
                self.counters.keys.fetch_add(1, Ordering::Relaxed);
                self.counters.vsets.fetch_add(1, Ordering::Relaxed);
                self.account(0, SET_OVERHEAD as i64);
                s
            }
        };
        let hashes: std::borrow::Cow<'_, [u64]> = match found.elems {
            Some(hs) => {
                debug_assert!(
                    hs.len() == adds.len()
                        && adds.iter().zip(hs).all(|(a, &h)| h == self.hash(a.name)),
                    "found element hashes"
                );
                hs.into()
            }
            None => adds.iter().map(|a| self.hash(a.name)).collect(),
        };
        // An element whose TTL passed does not exist: reclaim it so the add counts as new
        // (a caller that found the elements reclaimed those itself).
        let stale: smallvec::SmallVec<[EntryRef; 4]> = match data.entry(slot).map(|e| &e.value) {
            Some(Value::VSet(set)) if found.elems.is_none() || cfg!(debug_assertions) => adds
                .iter()
                .zip(hashes.iter())
                .filter_map(|(a, &eh)| {
                    let s = set.find(eh, a.name)?;
                    let at = set.elem(s)?.expires_at;
                    expired(at, now).then_some(EntryRef { key: slot, elem: s })
                })
                .collect(),
            _ => smallvec::SmallVec::new(),
        };
        debug_assert!(
            found.elems.is_none() || stale.is_empty(),
            "a caller that found the elements left one whose TTL passed"
        );
        for e in stale {
            self.remove_element(data, e, Removal::Expired);
        }
        let mut expiries: smallvec::SmallVec<[_; 4]> = smallvec::SmallVec::new();
        // Under the shard's write lock: a change of the setting waits for it.
        let logged = self.cfg.live.access_logged();
        let mut accesses: smallvec::SmallVec<[_; 4]> =
            smallvec::SmallVec::with_capacity(if logged { adds.len() } else { 0 });
        let mut added = 0usize;
        {
            let entry = data.entry_mut(slot).expect("present");
            let Value::VSet(set) = &mut entry.value else {
                unreachable!("a set was found or inserted above");
            };
            if let Some(n) = self.take_replayed_adds(db, key) {
                set.reserve(n);
            }
            for (a, &eh) in adds.iter().zip(hashes.iter()) {
                let tick = self.next_tick();
                let (es, is_new, delta) = set.upsert(
                    a.name,
                    eh,
                    &a.vector,
                    a.attrs,
                    Some(a.expires_at),
                    tick,
                    now,
                );
                self.feed
                    .report(Change::Element(key, a.name, ChangeCause::Write));
                added += is_new as usize;
                self.account(is_new as i64, delta);
                set.counters.sets.fetch_add(1, Ordering::Relaxed);
                let e = EntryRef {
                    key: slot,
                    elem: es,
                };
                if a.expires_at != 0 {
                    expiries.push((a.expires_at, e));
                }
                if logged {
                    accesses.push((tick, e));
                }
            }
            // New elements took free slots (or grew the arrays).
            self.account(0, set.resync_slack());
            set.maybe_index(self.cfg.index_min_elements);
            self.queue_index(&entry.key, set);
        }
        data.entries += added;
        for (at, e) in expiries {
            data.push_expiry(at, e);
        }
        if logged {
            self.shards[Store::shard_of(h)]
                .access
                .lock()
                .extend(accesses);
        }
        self.counters
            .events
            .sets
            .fetch_add(adds.len() as u64, Ordering::Relaxed);
        Some(added)
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

    /// Replay's (and a replica's) entry point: applies a logged record taking the locks it
    /// needs itself (the key's shard's, or every shard's for `Flush` and `DbMap`; a `Group`'s
    /// records one by one), with the clock read now. With a log attached (a replica logging
    /// what it applies) the record is appended through `to` first, under the same locks, as
    /// a live write's (a group as one group); a refused append applies nothing. `Ok(false)`
    /// when the record did not fit the state (superseded) or is implausible (an element add
    /// whose parameters or vectors no write could have made: the log is not trusted that far).
    pub fn apply_locking(&self, to: &Appends, rec: &Record<'_>) -> Result<bool> {
        match *rec {
            Record::Flush { .. } | Record::DbMap { .. } => {
                let mut guards: Vec<_> = self.shards.iter().map(|s| s.data.write()).collect();
                if self.logging() {
                    self.append(to, rec)?;
                }
                self.apply_all(&mut guards, rec);
                return Ok(true);
            }
            Record::Group { records } => {
                // Each write of the group as if logged alone (superseded ones are normal).
                let records = group_records(records)?;
                return self
                    .grouped(to, true, |g| -> Result<()> {
                        for rec in &records {
                            self.apply_locking(g, rec)?;
                        }
                        Ok(())
                    })?
                    .map(|()| true);
            }
            Record::VAdd {
                params, ref adds, ..
            } if !plausible(&params, adds) => return Ok(false),
            _ => {}
        }
        let Some(key) = rec.key() else {
            return Ok(false);
        };
        let shard = &self.shards[Store::shard_of(self.hash(key))];
        let mut data = shard.data.write();
        if self.logging() {
            self.append(to, rec)?;
        }
        Ok(self
            .apply(&mut data, rec, self.now_ms(), Found::default())
            .is_some())
    }

    /// Applies `Flush` or `DbMap` with every shard's write lock held (`guards`).
    fn apply_all<G: std::ops::DerefMut<Target = ShardData>>(
        &self,
        guards: &mut [G],
        rec: &Record<'_>,
    ) {
        match *rec {
            Record::Flush { db } => self.apply_flush(guards, db),
            Record::DbMap { a, to_a, b, to_b } => self.apply_db_map(guards, [(a, to_a), (b, to_b)]),
            _ => debug_assert!(false, "apply_all takes Flush or DbMap"),
        }
    }

    /// Applies `Flush` with every shard's write lock held (`guards`, in shard order): removes
    /// every key of database `db` (`None`: of every database), reported once.
    fn apply_flush<G: std::ops::DerefMut<Target = ShardData>>(
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
    fn apply_db_map<G>(&self, _guards: &[G], pairs: [(u32, u32); 2]) {
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

/// Whether an element add read from a log is one a write could have made: the parameters in
/// the ranges a write accepts ([`SetParams::check`]) and every component finite.
fn plausible(params: &SetParams, adds: &[AddRec<'_>]) -> bool {
    params.check().is_ok()
        && adds
            .iter()
            .all(|a| a.vector.len() == params.dim && a.vector.iter().all(|x| x.is_finite()))
}
