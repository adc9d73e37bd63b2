//! Keyspace calls: EXISTS, TTL/EXPIRE/PERSIST, TYPE, DBSIZE, INFO keyspace, SCAN, FLUSHALL/
//! FLUSHDB, SWAPDB and MOVE, over every kind of key.

use super::api::Engine;
use super::blob::kind_of;
use super::types::*;
use crate::error::{Error, Result};
use crate::store::{expired, glob_match, Appends, Record, Removal, ShardData, SHARDS};

impl Engine {
    /// Counts the given keys that exist (a key named twice counts twice, as Redis).
    pub fn exists(&self, keys: &[&[u8]]) -> usize {
        keys.iter().filter(|k| self.key_type(k).is_some()).count()
    }

    /// The body of [`Engine::expire`]: its records are appended through `to`, not awaited.
    pub(crate) fn expire_in(&self, to: &Appends, key: &[u8], expiry: Expiry) -> Result<bool> {
        self.expire_if_in(to, key, expiry, ExpireIf::Always)
    }

    /// The body of [`Engine::expire_if`]: its records are appended through `to`, not awaited.
    pub(crate) fn expire_if_in(
        &self,
        to: &Appends,
        key: &[u8],
        expiry: Expiry,
        cond: ExpireIf,
    ) -> Result<bool> {
        self.check_key(key)?;
        let now = self.store.now_ms();
        let at = Self::expire_target(expiry, now)?;
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        let Some(s) = data.find(h, self.ks(), key) else {
            return Ok(false);
        };
        let current = data.entry(s).map_or(0, |e| e.expires_at);
        if expired(current, now) {
            self.store.remove_key(&mut data, s, Removal::Expired);
            return Ok(false);
        }
        if !cond.holds(current, at) {
            return Ok(false);
        }
        self.set_key_expiry_locked(to, &mut data, key, at, now)?;
        drop(data);
        Ok(true)
    }

    /// Logs and applies a live key's new absolute expiry `at` (0 = never) under its shard's
    /// write lock; a time not after `now` deletes the key.
    pub(super) fn set_key_expiry_locked(
        &self,
        to: &Appends,
        data: &mut ShardData,
        key: &[u8],
        at: u64,
        now: u64,
    ) -> Result<()> {
        let rec = Record::ExpireKey {
            db: self.ks(),
            key,
            at,
        };
        self.store.commit(to, data, &rec, now)?;
        Ok(())
    }

    /// Remaining time to live of a key.
    pub fn ttl(&self, key: &[u8]) -> TtlState {
        let (h, shard) = self.locate(key);
        let now = self.store.now_ms();
        let data = shard.data.read();
        match data.find(h, self.ks(), key).and_then(|s| data.entry(s)) {
            None => TtlState::Missing,
            Some(e) if expired(e.expires_at, now) => TtlState::Missing,
            Some(e) if e.expires_at == 0 => TtlState::NoExpiry,
            Some(e) => TtlState::ExpiresInMs(e.expires_at - now),
        }
    }

    /// The body of [`Engine::persist`]: its records are appended through `to`, not awaited.
    pub(crate) fn persist_in(&self, to: &Appends, key: &[u8]) -> Result<bool> {
        match self.ttl(key) {
            TtlState::ExpiresInMs(_) => self.expire_in(to, key, Expiry::Never),
            _ => Ok(false),
        }
    }

    /// What the key holds.
    pub fn key_type(&self, key: &[u8]) -> Option<KeyKind> {
        let (h, shard) = self.locate(key);
        self.store.reclaim_due(shard);
        let now = self.store.now_ms();
        let data = shard.data.read();
        let e = data.find(h, self.ks(), key).and_then(|s| data.entry(s))?;
        if expired(e.expires_at, now) {
            return None;
        }
        Some(kind_of(&e.value))
    }

    /// Keys with an expiry and their mean time to live, as Redis's INFO keyspace reports
    /// them (`expires`, `avg_ttl`; Redis estimates the mean from samples, this is exact: the
    /// totals are kept per shard as keys change). As in Redis's `expires`, keys whose TTL
    /// passed but that were not reclaimed yet still count; the mean is of `expiry − now`
    /// over the keys counted (so those lower it), never below 0.
    /// Of this value's database.
    pub fn key_expiries(&self) -> KeyExpiries {
        self.db_counts().expiries
    }

    /// Number of live keys of this value's database (keys whose TTL passed but were not
    /// reclaimed yet included, as Redis).
    pub fn dbsize(&self) -> u64 {
        self.db_counts().keys
    }

    /// Redis's INFO keyspace: every database that holds a key, by number, with its keys,
    /// keys with an expiry and their mean time to live (as [`Engine::key_expiries`]).
    pub fn keyspace(&self) -> Vec<DbKeyspace> {
        (0..self.databases())
            .map(|db| self.in_db(db).db_counts())
            .filter(|d| d.keys > 0)
            .collect()
    }

    /// Redis's RANDOMKEY: a key of this value's database picked at random (each key about
    /// equally likely), `None` when the database holds no live key. A key whose TTL passed
    /// is never returned: the pick moves on to the next live key of the database.
    pub fn random_key(&self) -> Option<Vec<u8>> {
        let ks = self.ks();
        let now = self.store.now_ms();
        let counts: Vec<u64> = self
            .store
            .shards
            .iter()
            .map(|s| s.data.read().db_counts(ks).keys)
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        // The n-th key of the database (counting the shards in order), then the first live
        // key at or after it, wrapping round once.
        let mut n = self.store.random() % total;
        let mut start = 0;
        for (i, &c) in counts.iter().enumerate() {
            if n < c {
                start = i;
                break;
            }
            n -= c;
        }
        for step in 0..=SHARDS {
            let shard_i = (start + step) % SHARDS;
            let data = self.store.shards[shard_i].data.read();
            let mut seen = 0u64;
            for (_, e) in data.slots_from(0) {
                if e.db != ks {
                    continue;
                }
                // In the first shard, skip to the n-th key; elsewhere (and on the wrap back
                // to the first shard) take the first live one.
                let skipping = step == 0 && seen < n;
                seen += 1;
                if skipping || expired(e.expires_at, now) {
                    continue;
                }
                return Some(e.key.to_vec());
            }
        }
        None
    }

    fn db_counts(&self) -> DbKeyspace {
        let (mut keys, mut expiring, mut sum) = (0u64, 0u64, 0u128);
        for shard in self.store.shards.iter() {
            let data = shard.data.read();
            let c = data.db_counts(self.ks());
            keys += c.keys;
            expiring += c.expiries;
            sum += c.expiry_sum;
        }
        let avg_ttl_ms = match expiring {
            0 => 0,
            n => {
                let mean_at = sum / u128::from(n);
                u64::try_from(mean_at.saturating_sub(u128::from(self.store.now_ms())))
                    .unwrap_or(u64::MAX)
            }
        };
        DbKeyspace {
            db: self.db,
            keys,
            expiries: KeyExpiries {
                keys: expiring,
                avg_ttl_ms,
            },
        }
    }

    /// One page of a cursor scan (Redis's SCAN guarantee: a key present for the whole scan is
    /// returned at least once). `pattern` is a Redis glob; `count` is the work hint.
    pub fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        kind: Option<KeyKind>,
    ) -> ScanPage {
        let now = self.store.now_ms();
        let count = count.max(1);
        let (mut shard_i, mut pos) = ((cursor >> 32) as usize, (cursor & 0xffff_ffff) as usize);
        let mut keys = Vec::new();
        let mut examined = 0;
        while shard_i < SHARDS {
            let data = self.store.shards[shard_i].data.read();
            let ks = self.ks();
            for (slot, e) in data.slots_from(pos) {
                pos = slot as usize + 1;
                examined += 1;
                if e.db != ks {
                    continue;
                }
                let k = kind_of(&e.value);
                if !expired(e.expires_at, now)
                    && kind.is_none_or(|want| want == k)
                    && pattern.is_none_or(|p| glob_match(p, &e.key))
                {
                    keys.push(e.key.to_vec());
                }
                if examined >= count {
                    break;
                }
            }
            if examined >= count && pos < data.slot_capacity() {
                return ScanPage {
                    cursor: ((shard_i as u64) << 32) | pos as u64,
                    keys,
                };
            }
            shard_i += 1;
            pos = 0;
            if examined >= count {
                break;
            }
        }
        let cursor = if shard_i >= SHARDS {
            0
        } else {
            (shard_i as u64) << 32
        };
        ScanPage { cursor, keys }
    }

    /// The body of [`Engine::flush`]: its records are appended through `to`, not awaited.
    pub(crate) fn flush_in(&self, to: &Appends) -> Result<()> {
        let mut guards: Vec<_> = self.store.shards.iter().map(|s| s.data.write()).collect();
        self.store
            .commit_all(to, &mut guards, &Record::Flush { db: None })?;
        drop(guards);
        Ok(())
    }

    /// The body of [`Engine::flush_db`].
    pub(crate) fn flush_db_in(&self, to: &Appends) -> Result<()> {
        let mut guards: Vec<_> = self.store.shards.iter().map(|s| s.data.write()).collect();
        let db = Some(self.ks());
        self.store
            .commit_all(to, &mut guards, &Record::Flush { db })?;
        drop(guards);
        Ok(())
    }

    /// Checks a database number against [`EngineConfig::databases`](crate::EngineConfig).
    pub(crate) fn check_db(&self, db: u32) -> Result<()> {
        if db >= self.databases() {
            return Err(Error::invalid(
                "db",
                format!("a database index below {}", self.databases()),
            ));
        }
        Ok(())
    }

    /// The body of [`Engine::swap_db`].
    pub(crate) fn swap_db_in(&self, to: &Appends, a: u32, b: u32) -> Result<()> {
        self.check_db(a)?;
        self.check_db(b)?;
        // Every shard's write lock: no key call sees half of it (they read the map under
        // their shard's lock).
        let mut guards: Vec<_> = self.store.shards.iter().map(|s| s.data.write()).collect();
        let (ka, kb) = (self.store.keyspace_of(a), self.store.keyspace_of(b));
        let rec = Record::DbMap {
            a,
            to_a: kb,
            b,
            to_b: ka,
        };
        self.store.commit_all(to, &mut guards, &rec)?;
        Ok(())
    }

    /// The body of [`Engine::move_key`].
    pub(crate) fn move_key_in(&self, to: &Appends, key: &[u8], db: u32) -> Result<bool> {
        self.check_key(key)?;
        self.check_db(db)?;
        if db == self.db {
            return Err(Error::invalid(
                "db",
                "a database other than the key's (source and destination are the same)",
            ));
        }
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        let rec = Record::Move {
            db: self.ks(),
            key,
            to: self.store.keyspace_of(db),
        };
        let now = self.store.now_ms();
        let to_ks = self.store.keyspace_of(db);
        // A key there whose TTL passed is replaced; the replay (which judges no TTL) is told
        // by its deletion, logged before the move.
        let target_expired = data
            .find(h, to_ks, key)
            .and_then(|s| data.entry(s))
            .is_some_and(|e| crate::store::expired(e.expires_at, now));
        if !self.store.can_move(&mut data, h, &rec, now) {
            return Ok(false);
        }
        if target_expired {
            // Reclaimed by `can_move` above; the record tells the replay.
            let del = Record::DelKey { db: to_ks, key };
            self.store.commit_expired(to, &mut data, &del, now)?;
        }
        Ok(self.store.commit(to, &mut data, &rec, now)? > 0)
    }
}
