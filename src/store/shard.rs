//! One shard of the keyspace: keys → slots in a slab, each slot holding a blob, a vector set or a hash.
//!
//! Slots never move while their key lives (SCAN cursors are slot positions, so a key present
//! for a whole scan is returned). Freed slots are reused.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use hashbrown::HashTable;
use parking_lot::{Mutex, RwLock};

use super::hash::HashValue;
use super::meta::AccessMeta;
use super::vset::VectorSet;

/// `elem` of an [`EntryRef`] that names a blob key rather than an element.
pub(crate) const NO_ELEM: u32 = u32::MAX;

/// An evictable entry: a blob key (`elem == NO_ELEM`) or one element of the set at `key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct EntryRef {
    pub key: u32,
    pub elem: u32,
}

pub(crate) enum Value {
    Blob {
        data: crate::snapshot::BlobBytes,
        meta: AccessMeta,
    },
    VSet(Box<VectorSet>),
    /// A Redis hash: one evictable entry, as a blob.
    Hash(Box<HashValue>),
}

impl Value {
    /// The access meta of a value evicted as one entry (a blob or a hash).
    pub fn key_meta(&self) -> Option<&AccessMeta> {
        match self {
            Value::Blob { meta, .. } => Some(meta),
            Value::Hash(h) => Some(&h.meta),
            Value::VSet(_) => None,
        }
    }
}

pub(crate) struct KeyEntry {
    /// The keyspace the key lives in (a database's, [`super::Store::keyspace_of`]): part of
    /// its address, next to the key bytes (the hash is of the key bytes alone, so one key name
    /// in every database lands in the same shard, and MOVE changes this field in place).
    pub db: u32,
    pub key: Box<[u8]>,
    pub hash: u64,
    /// Absolute expiry of the key in ms; 0 = never.
    pub expires_at: u64,
    pub value: Value,
    /// Accounted bytes of a blob (vector sets account per element).
    pub bytes: u64,
}

/// The data of a shard, behind its `RwLock`.
#[derive(Default)]
pub(crate) struct ShardData {
    index: HashTable<u32>,
    slots: Vec<Option<KeyEntry>>,
    free: Vec<u32>,
    live: usize,
    /// Per database: live keys, keys with an expiry (INFO keyspace `expires`) and the sum
    /// of their expiry times; grown on demand.
    dbs: Vec<DbCounts>,
    /// Evictable entries in this shard (blob keys plus elements).
    pub entries: usize,
    /// Lazy min-heap of `(expires_at, entry)`; stale items are skipped when popped.
    pub expiry: BinaryHeap<Reverse<(u64, EntryRef)>>,
    /// Items in `expiry` that are known to be current (for compaction).
    pub expiry_live_hint: usize,
}

/// One database's counts in a shard.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct DbCounts {
    pub keys: u64,
    pub expiries: u64,
    pub expiry_sum: u128,
}

/// A shard: its data and its LRU access log.
pub(crate) struct Shard {
    pub data: RwLock<ShardData>,
    /// Access log in tick order (nearly: concurrent readers may interleave): `(tick, entry)`.
    /// An item is current when the entry's tick still equals it; stale ones are skipped.
    pub access: Mutex<VecDeque<(u64, EntryRef)>>,
}

impl Shard {
    pub fn new() -> Self {
        Self {
            data: RwLock::new(ShardData::default()),
            access: Mutex::new(VecDeque::new()),
        }
    }
}

impl ShardData {
    pub fn live(&self) -> usize {
        self.live
    }

    pub fn slot_capacity(&self) -> usize {
        self.slots.len()
    }

    /// The slot of `key` in database `db` (`hash`: the key bytes' hash).
    pub fn find(&self, hash: u64, db: u32, key: &[u8]) -> Option<u32> {
        self.index
            .find(hash, |&s| {
                self.slots[s as usize]
                    .as_ref()
                    .is_some_and(|e| e.db == db && &*e.key == key)
            })
            .copied()
    }

    /// The slots holding `key` in any database, whichever matches `pick` first.
    pub fn find_any(
        &self,
        hash: u64,
        key: &[u8],
        mut pick: impl FnMut(&KeyEntry) -> bool,
    ) -> Option<u32> {
        self.index
            .find(hash, |&s| {
                self.slots[s as usize]
                    .as_ref()
                    .is_some_and(|e| &*e.key == key && pick(e))
            })
            .copied()
    }

    fn db_mut(&mut self, db: u32) -> &mut DbCounts {
        let i = db as usize;
        if self.dbs.len() <= i {
            self.dbs.resize(i + 1, DbCounts::default());
        }
        &mut self.dbs[i]
    }

    /// The counts of database `db` in this shard.
    pub fn db_counts(&self, db: u32) -> DbCounts {
        self.dbs.get(db as usize).copied().unwrap_or_default()
    }

    /// Moves the key at `slot` to database `to` (the caller checked `to` has no such key).
    pub fn set_db(&mut self, slot: u32, to: u32) {
        let Some((from, at)) = self.entry(slot).map(|e| (e.db, e.expires_at)) else {
            return;
        };
        self.count_key(from, at, false);
        self.count_key(to, at, true);
        if let Some(e) = self.entry_mut(slot) {
            e.db = to;
        }
    }

    pub fn entry(&self, slot: u32) -> Option<&KeyEntry> {
        self.slots.get(slot as usize).and_then(|e| e.as_ref())
    }

    /// Sets a key's expiry (0 = none); every change of a key's `expires_at` goes through
    /// here, `insert` or `remove`, so the expiry totals stay exact.
    pub fn set_key_expiry(&mut self, slot: u32, at: u64) {
        let Some((db, old)) = self.entry(slot).map(|e| (e.db, e.expires_at)) else {
            return;
        };
        self.count_expiry(db, old, false);
        self.count_expiry(db, at, true);
        if let Some(e) = self.entry_mut(slot) {
            e.expires_at = at;
        }
    }

    fn count_key(&mut self, db: u32, at: u64, add: bool) {
        let c = self.db_mut(db);
        if add {
            c.keys += 1;
        } else {
            c.keys -= 1;
        }
        self.count_expiry(db, at, add);
    }

    fn count_expiry(&mut self, db: u32, at: u64, add: bool) {
        if at == 0 {
            return;
        }
        let c = self.db_mut(db);
        if add {
            c.expiries += 1;
            c.expiry_sum += u128::from(at);
        } else {
            c.expiries -= 1;
            c.expiry_sum -= u128::from(at);
        }
    }

    pub fn entry_mut(&mut self, slot: u32) -> Option<&mut KeyEntry> {
        self.slots.get_mut(slot as usize).and_then(|e| e.as_mut())
    }

    /// Inserts a new key (the caller checked it is absent); returns its slot.
    pub fn insert(&mut self, entry: KeyEntry) -> u32 {
        let hash = entry.hash;
        self.count_key(entry.db, entry.expires_at, true);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(entry);
                s
            }
            None => {
                self.slots.push(Some(entry));
                (self.slots.len() - 1) as u32
            }
        };
        let slots = &self.slots;
        self.index.insert_unique(hash, slot, |&x| {
            slots[x as usize].as_ref().map(|e| e.hash).unwrap_or(0)
        });
        self.live += 1;
        slot
    }

    pub fn remove(&mut self, slot: u32) -> Option<KeyEntry> {
        let entry = self.slots.get_mut(slot as usize)?.take()?;
        self.count_key(entry.db, entry.expires_at, false);
        if let Ok(e) = self.index.find_entry(entry.hash, |&s| s == slot) {
            e.remove();
        }
        self.free.push(slot);
        self.live -= 1;
        Some(entry)
    }

    /// Live slots from `start` on (for scans and sampling).
    pub fn slots_from(&self, start: usize) -> impl Iterator<Item = (u32, &KeyEntry)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .skip(start)
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
    }

    pub fn push_expiry(&mut self, at: u64, entry: EntryRef) {
        if at != 0 {
            self.expiry.push(Reverse((at, entry)));
            self.expiry_live_hint += 1;
        }
    }

    /// The expiry the entry has now (0 = never, `None` = no such entry).
    pub fn current_expiry(&self, e: EntryRef) -> Option<u64> {
        let entry = self.entry(e.key)?;
        if e.elem == NO_ELEM {
            Some(entry.expires_at)
        } else {
            match &entry.value {
                Value::VSet(set) => set.elem(e.elem).map(|el| el.expires_at),
                Value::Blob { .. } | Value::Hash(_) => None,
            }
        }
    }

    /// The access meta of an evictable entry.
    pub fn meta(&self, e: EntryRef) -> Option<&AccessMeta> {
        let entry = self.entry(e.key)?;
        match (&entry.value, e.elem) {
            (Value::VSet(set), elem) if elem != NO_ELEM => set.elem(elem).map(|el| &el.meta),
            (value, NO_ELEM) => value.key_meta(),
            _ => None,
        }
    }

    pub fn clear(&mut self) {
        *self = ShardData::default();
    }

    /// Rebuilds the expiry heap from current entries when stale items dominate.
    pub fn compact_expiry(&mut self) {
        let items: Vec<_> = std::mem::take(&mut self.expiry).into_vec();
        let kept: Vec<_> = items
            .into_iter()
            .filter(|Reverse((at, e))| self.current_expiry(*e) == Some(*at))
            .collect();
        self.expiry_live_hint = kept.len();
        self.expiry = BinaryHeap::from(kept);
    }
}

/// Removes stale items from an access log, keeping order.
pub(crate) fn compact_access(log: &mut VecDeque<(u64, EntryRef)>, data: &ShardData) {
    log.retain(|(tick, e)| data.meta(*e).is_some_and(|m| m.last_tick() == *tick));
}
