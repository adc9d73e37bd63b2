//! Input checks shared by the vector-set calls, and the opening of a write to one set or one
//! element (locate, lock, reclaim, type check, find, reclaim): [`Engine::lock_key`] and
//! [`Engine::lock_element`], the one copy of it.

use parking_lot::RwLockWriteGuard;

use crate::engine::api::Engine;
use crate::error::{Error, Result};
use crate::store::{expired, Appends, EntryRef, Record, Removal, ShardData};

impl Engine {
    /// The opening every write to one set shares: lock the key's shard for writing and
    /// reclaim the key if its TTL has passed (whatever it held: a string that expired is no
    /// WRONGTYPE; found by the `commands` fuzz target). `recreate`: the caller makes the key
    /// anew (an add), so the reclaim is logged through it (a replay judges no TTL). Returns
    /// the lock, the key's hash and the live key's slot, if any.
    pub(super) fn lock_key(
        &self,
        key: &[u8],
        now: u64,
        recreate: Option<&Appends>,
    ) -> Result<(RwLockWriteGuard<'_, ShardData>, u64, Option<u32>)> {
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        let mut slot = data.find(h, self.ks(), key);
        if let Some(s) = slot {
            if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                match recreate {
                    Some(to) => {
                        let rec = Record::DelKey { db: self.ks(), key };
                        self.store.commit_expired(to, &mut data, &rec, now)?;
                    }
                    None => {
                        self.store.remove_key(&mut data, s, Removal::Expired);
                    }
                }
                slot = None;
            }
        }
        Ok((data, h, slot))
    }

    /// The opening every write to one element shares: [`Engine::lock_key`], then check the
    /// key holds a vector set (or nothing), find the element, and reclaim it if its TTL has
    /// passed. The element is `None` when there is no live one; the lock is held either way.
    pub(super) fn lock_element(
        &self,
        key: &[u8],
        element: &[u8],
        now: u64,
    ) -> Result<(RwLockWriteGuard<'_, ShardData>, Option<EntryRef>)> {
        let (mut data, h, _) = self.lock_key(key, now, None)?;
        self.check_set_type(&data, h, key)?;
        let found = self.store.find_element(&data, h, self.ks(), key, element);
        if let Some(e) = found {
            if data.current_expiry(e).is_some_and(|at| expired(at, now)) {
                self.store.remove_entry(&mut data, e, Removal::Expired);
                return Ok((data, None));
            }
        }
        Ok((data, found))
    }

    pub(crate) fn check_element(&self, element: &[u8]) -> Result<()> {
        let limit = self.cfg.limits.max_element_bytes;
        if element.len() > limit {
            return Err(Error::TooLarge {
                arg: "element",
                len: element.len(),
                limit,
            });
        }
        Ok(())
    }

    pub(super) fn check_vector(&self, v: &[f32]) -> Result<()> {
        if v.is_empty() {
            return Err(Error::invalid("vector", "at least one component"));
        }
        let max = self.cfg.limits.max_dim;
        if v.len() > max {
            return Err(Error::invalid(
                "vector",
                format!("a dimension of at most {max}, got {}", v.len()),
            ));
        }
        // Branch-free first (vectorizes: an exponent of all ones is NaN or ±Inf), then find
        // the culprit only on the error path.
        let non_finite = v.iter().fold(false, |bad, x| {
            bad | (x.to_bits() & 0x7f80_0000 == 0x7f80_0000)
        });
        if !non_finite {
            return Ok(());
        }
        if let Some(i) = v.iter().position(|x| !x.is_finite()) {
            return Err(Error::invalid(
                "vector",
                format!("finite values, got {} at index {i}", v[i]),
            ));
        }
        Ok(())
    }

    pub(crate) fn check_attrs(&self, json: &str) -> Result<()> {
        let limit = self.cfg.limits.max_attributes_bytes;
        if json.len() > limit {
            return Err(Error::TooLarge {
                arg: "attributes",
                len: json.len(),
                limit,
            });
        }
        // Any string is stored as given, as Redis does; FILTER reads it as JSON and an
        // element whose attributes are not a JSON object matches no expression.
        Ok(())
    }
}
