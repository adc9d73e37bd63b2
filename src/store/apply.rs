//! Applying a logged record: the one place a key's removal, expiry or attribute change
//! happens, for live writes (the engine appends the record, then applies it under the same
//! shard write lock) and for WAL replay alike.
//!
//! A record carries absolute values (whole values, absolute expiry times), so applying it
//! over a state that already contains it changes nothing: replaying a log suffix over a fuzzy
//! snapshot, or twice, ends in the same state.

use super::record::Record;
use super::{Change, ChangeCause, EntryRef, Removal, ShardData, Store, Value, NO_ELEM};

impl Store {
    /// The element `element` of the vector set `key` (hash `h`) in this shard, if both exist
    /// (expired or not).
    pub fn find_element(
        &self,
        data: &ShardData,
        h: u64,
        key: &[u8],
        element: &[u8],
    ) -> Option<EntryRef> {
        let slot = data.find(h, key)?;
        let Value::VSet(set) = &data.entry(slot)?.value else {
            return None;
        };
        let s = set.find(self.hash(element), element)?;
        Some(EntryRef { key: slot, elem: s })
    }

    /// Applies a record about one key under its shard's write lock (`data`, the shard of the
    /// key's hash): `DelKey`, `ExpireKey`, `VRem`, `VExpire`, `VSetAttr`. Returns whether it
    /// changed something (false: the key or element is gone, or the record is of another
    /// kind). `now` decides whether an absolute expiry is in the past (the caller's clock
    /// reading: a live write's, or replay's). Blob writes and element adds are applied by the
    /// engine's write bodies, and `Flush` by [`Store::apply_flush`].
    pub fn apply(&self, data: &mut ShardData, rec: &Record<'_>, now: u64) -> bool {
        match *rec {
            Record::DelKey { key } => {
                let h = self.hash(key);
                match data.find(h, key) {
                    Some(s) => self.remove_key(data, s, Removal::Deleted) > 0,
                    None => false,
                }
            }
            Record::ExpireKey { key, at } => {
                let h = self.hash(key);
                let Some(s) = data.find(h, key) else {
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
            Record::VRem { key, name } => {
                let h = self.hash(key);
                match self.find_element(data, h, key, name) {
                    Some(e) => self.remove_entry(data, e, Removal::Deleted),
                    None => false,
                }
            }
            Record::VExpire { key, name, at } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, key, name) else {
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
            Record::VSetAttr { key, name, attrs } => {
                let h = self.hash(key);
                let Some(e) = self.find_element(data, h, key, name) else {
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
            Record::SetBlob { .. } | Record::VAdd { .. } | Record::Flush | Record::Group { .. } => {
                false
            }
        }
    }

    /// [`Store::apply`] taking the key's shard write lock itself (WAL replay; the clock read
    /// now): `Flush` too, under every shard's lock.
    pub fn apply_locking(&self, rec: &Record<'_>) -> bool {
        let key = match *rec {
            Record::Flush => {
                let mut guards: Vec<_> = self.shards.iter().map(|s| s.data.write()).collect();
                self.apply_flush(&mut guards);
                return true;
            }
            Record::DelKey { key }
            | Record::ExpireKey { key, .. }
            | Record::VRem { key, .. }
            | Record::VExpire { key, .. }
            | Record::VSetAttr { key, .. } => key,
            Record::SetBlob { .. } | Record::VAdd { .. } | Record::Group { .. } => return false,
        };
        let shard = &self.shards[Store::shard_of(self.hash(key))];
        self.apply(&mut shard.data.write(), rec, self.now_ms())
    }

    /// Applies `Flush` with every shard's write lock held (`guards`, in shard order): removes
    /// every key, reported once.
    pub fn apply_flush<G: std::ops::DerefMut<Target = ShardData>>(&self, guards: &mut [G]) {
        for (shard, data) in self.shards.iter().zip(guards.iter_mut()) {
            let slots: Vec<u32> = data.slots_from(0).map(|(s, _)| s).collect();
            for s in slots {
                self.remove_key_reporting(data, s, Removal::Deleted, false);
            }
            data.clear();
            shard.access.lock().clear();
        }
        self.feed.report(Change::All);
    }
}
