//! A Redis hash: fields → values under one key, evicted and expired as one entry (as a blob).
//!
//! Fields keep their insertion order while the hash is small, as Redis's `listpack` encoding
//! keeps it (HGETALL, HKEYS and HSCAN answer in that order, so replies match Redis's byte for
//! byte); past Redis's `hash-max-listpack-entries` (512, what the reference redis-server
//! 7.0.15 here answers to CONFIG GET; upstream's default is 128) or `hash-max-listpack-value`
//! (64 bytes) the hash is a `hashtable` for good, as in Redis, and a removal moves the last
//! field into the hole (O(1)) instead of shifting.
//!
//! HSCAN of a small hash answers everything at once with cursor 0 (as Redis does for a
//! listpack). A hashtable is scanned downwards by position: the cursor is the position below
//! which fields are still to visit. A removal only ever moves a field from the end into a
//! hole or shifts fields towards the start, so a field present for the whole scan stays below
//! the cursor until visited: it is returned at least once (Redis's guarantee).

use indexmap::IndexMap;

use super::meta::AccessMeta;
use crate::glob::glob_match;

/// Redis's `hash-max-listpack-entries` (as the reference redis-server 7.0.15 has it).
pub(crate) const LISTPACK_MAX_ENTRIES: usize = 512;
/// Redis's `hash-max-listpack-value` (bytes of a field or a value).
pub(crate) const LISTPACK_MAX_VALUE: usize = 64;
/// Accounted bytes of one field beyond its field and value bytes (the map's slot, two boxes).
pub(crate) const FIELD_OVERHEAD: u64 = 48;

/// The fields of a hash.
pub(crate) type Fields = IndexMap<Box<[u8]>, Box<[u8]>, hashbrown::DefaultHashBuilder>;

/// A hash value.
#[derive(Debug)]
pub(crate) struct HashValue {
    pub fields: Fields,
    pub meta: AccessMeta,
    /// Still in Redis's compact encoding (insertion order, OBJECT ENCODING `listpack`).
    pub listpack: bool,
}

impl HashValue {
    pub fn new(meta: AccessMeta) -> Self {
        Self {
            fields: Fields::default(),
            meta,
            listpack: true,
        }
    }

    /// Accounted bytes of one field and its value.
    pub fn field_bytes(field: &[u8], value: &[u8]) -> u64 {
        field.len() as u64 + value.len() as u64 + FIELD_OVERHEAD
    }

    /// Sets a field; returns whether it is new and the change of accounted bytes.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> (bool, i64) {
        if field.len() > LISTPACK_MAX_VALUE
            || value.len() > LISTPACK_MAX_VALUE
            || self.fields.len() >= LISTPACK_MAX_ENTRIES && !self.fields.contains_key(field)
        {
            self.listpack = false;
        }
        match self.fields.get_mut(field) {
            Some(old) => {
                let delta = value.len() as i64 - old.len() as i64;
                if old.len() == value.len() {
                    old.copy_from_slice(value);
                } else {
                    *old = value.into();
                }
                (false, delta)
            }
            None => {
                self.fields.insert(field.into(), value.into());
                (true, Self::field_bytes(field, value) as i64)
            }
        }
    }

    /// Removes a field; returns the accounted bytes it freed.
    pub fn remove(&mut self, field: &[u8]) -> Option<u64> {
        let (f, v) = if self.listpack {
            self.fields.shift_remove_entry(field)?
        } else {
            self.fields.swap_remove_entry(field)?
        };
        Some(Self::field_bytes(&f, &v))
    }

    /// Accounted bytes of every field.
    pub fn bytes(&self) -> u64 {
        self.fields
            .iter()
            .map(|(f, v)| Self::field_bytes(f, v))
            .sum()
    }

    /// Redis's OBJECT ENCODING name.
    pub fn encoding(&self) -> &'static str {
        if self.listpack {
            "listpack"
        } else {
            "hashtable"
        }
    }

    /// Whether loading these fields would leave the hash in the listpack encoding.
    pub fn fits_listpack(&self) -> bool {
        self.fields.len() <= LISTPACK_MAX_ENTRIES
            && self
                .fields
                .iter()
                .all(|(f, v)| f.len() <= LISTPACK_MAX_VALUE && v.len() <= LISTPACK_MAX_VALUE)
    }

    /// One page of HSCAN (see the module docs): the next cursor (0 = done) and the positions
    /// of the fields to return, filtered by `pattern`.
    pub fn scan(&self, cursor: u64, count: usize, pattern: Option<&[u8]>) -> (u64, Vec<usize>) {
        let len = self.fields.len();
        let keep = |i: &usize| {
            pattern.is_none_or(|p| {
                self.fields
                    .get_index(*i)
                    .is_some_and(|(f, _)| glob_match(p, f))
            })
        };
        if self.listpack {
            return (0, (0..len).filter(keep).collect());
        }
        let top = if cursor == 0 {
            len
        } else {
            (cursor as usize).min(len)
        };
        let bottom = top.saturating_sub(count.max(1));
        let next = bottom as u64;
        (next, (bottom..top).rev().filter(keep).collect())
    }
}
