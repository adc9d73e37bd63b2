//! Applying the hash records (`HSet`, `HDel`): the part of [`Store::apply`](super::Store)'s
//! one mutation path that changes a hash, under the write lock of the key's shard.

use std::sync::atomic::Ordering;

use super::apply::HASH_OVERHEAD;
use super::hash::HashValue;
use super::meta::AccessMeta;
use super::{
    expired, Change, ChangeCause, EntryRef, KeyEntry, Removal, ShardData, Store, Value, NO_ELEM,
};

impl Store {
    /// Applies `HSet`: the hash at `key` in keyspace `db` gets these field values. `fresh` (the live write
    /// created the hash: the key was absent or its TTL had passed) replaces whatever the key
    /// holds by a new hash expiring at `Some(at)` (0 = never); otherwise the fields merge into the hash there, even
    /// one whose TTL has passed by `now` (a replay's clock: it had not when the write was
    /// made, and a later record may extend it), and a key of another type (met only by a
    /// replay over a fuzzy snapshot) is replaced. Returns how many fields are new.
    pub(super) fn apply_hset(
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
        self.note_key_written(h, slot, key, tick);
        new
    }

    /// Applies `HDel`: removes these fields of the hash at `key` in keyspace `db` (the key
    /// with its last one). Returns how many existed.
    pub(super) fn apply_hdel(
        &self,
        data: &mut ShardData,
        db: u32,
        key: &[u8],
        fields: &[&[u8]],
    ) -> usize {
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
}
