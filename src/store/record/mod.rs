//! The store's mutation vocabulary: every change is one [`Record`], logged under its shard's
//! write lock (so LSN order is apply order per key) and applied idempotently: a record carries
//! absolute values (whole values, absolute expiry times), so replaying it over a state that
//! already contains it changes nothing.
//!
//! # Payload encoding (the WAL's `kind` byte names the variant)
//!
//! All integers little-endian. `bytes` = `u32 len` + `len` bytes. `f32` = 4 bytes LE.
//!
//! | kind | record      | payload                                                              |
//! |------|-------------|----------------------------------------------------------------------|
//! | 1    | `SetBlob`   | key: bytes, value: bytes, expires_at: u64 (0 = never)                |
//! | 2    | `DelKey`    | key: bytes                                                           |
//! | 3    | `ExpireKey` | key: bytes, at: u64 (0 = persist)                                    |
//! | 4    | `VAdd`      | key: bytes, dim: u32, metric: u8, storage: u8 [0 exact, 1 q8, 2 noquant, 3 bin; + 0x80 when the set has a projection], m: u32, ef_c: u32, n: u32, then n × (name: bytes, dim × f32, attr_tag: u8 [0 keep, 1 clear, 2 set + bytes], expires_at: u64), then with the 0x80 flag the projection's input dim: u32 (`REDUCE`; the vectors are the projected ones) |
//! | 5    | `VRem`      | key: bytes, name: bytes                                              |
//! | 6    | `VExpire`   | key: bytes, name: bytes, at: u64 (0 = persist)                       |
//! | 7    | `VSetAttr`  | key: bytes, name: bytes, tag: u8 [0 clear, 1 set + bytes]            |
//! | 8    | `Flush`     | (empty)                                                              |
//! | 9    | `Group`     | entries to the end: kind: u8 (1–8, 10–14), payload: bytes — the writes of one transaction |
//! | 10   | in database | db: u32, kind: u8 (1–8, 13, 14), then that kind's payload: the record applies in database `db` |
//! | 11   | `Move`      | db: u32, key: bytes, to: u32 (Redis's MOVE: the key leaves `db` for `to` when `to` has none) |
//! | 12   | `DbMap`     | a: u32, to_a: u32, b: u32, to_b: u32 (Redis's SWAPDB: databases `a` and `b` now name the keyspaces `to_a` and `to_b`) |
//! | 13   | `HSet`      | key: bytes, fresh: u8 [0 merge, 1 the write created the hash + expires_at: u64 (0 = never)], n: u32, then n × (field: bytes, value: bytes): the hash at `key` gets these values; `fresh` replaces whatever the key holds by a new hash expiring at `expires_at` (the live write found the key absent or expired), otherwise they merge into the hash there (created when absent) |
//! | 14   | `HDel`      | key: bytes, n: u32, then n × field: bytes (the key goes with its last field) |
//!
//! The database of a record is a keyspace number (a database's keys are stored under one, and
//! SWAPDB exchanges the keyspaces two databases name, leaving the keys where they are), which
//! is the database's own number until a SWAPDB. Kinds 1–7, 13 and 14 are about keyspace 0 as
//! written; a record about another keyspace is the same
//! record framed by kind 10 (so a log written before databases existed reads as database 0).
//! `Flush` (kind 8) alone empties every database (FLUSHALL); framed by kind 10 it empties
//! that one (FLUSHDB). Kinds 13 and 14 (hashes) were added after databases.
//!
//! A `Group` is what [`crate::store::Store::grouped`] logs: the records of one MULTI/EXEC or MSET,
//! framed as one WAL record, so that a crash recovers all of them or (a torn record fails its
//! CRC) none. Groups do not nest.
//!
//! Decoding checks every length against the payload and never panics.

use std::borrow::Cow;

use crate::error::Result;
use crate::vocab::{Metric, StorageMode};

mod decode;

pub(crate) use decode::{decode, vadd_count};

use super::codec::{put_bytes, Reader};
use super::params::SetParams;

/// One element of a [`Record::VAdd`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct AddRec<'a> {
    pub name: &'a [u8],
    pub vector: Cow<'a, [f32]>,
    /// `None` keep, `Some(None)` clear, `Some(Some(json))` set.
    pub attrs: Option<Option<&'a str>>,
    pub expires_at: u64,
}

/// A mutation.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Record<'a> {
    SetBlob {
        db: u32,
        key: &'a [u8],
        value: &'a [u8],
        expires_at: u64,
    },
    DelKey {
        db: u32,
        key: &'a [u8],
    },
    ExpireKey {
        db: u32,
        key: &'a [u8],
        at: u64,
    },
    VAdd {
        db: u32,
        key: &'a [u8],
        params: SetParams,
        adds: Vec<AddRec<'a>>,
    },
    VRem {
        db: u32,
        key: &'a [u8],
        name: &'a [u8],
    },
    VExpire {
        db: u32,
        key: &'a [u8],
        name: &'a [u8],
        at: u64,
    },
    VSetAttr {
        db: u32,
        key: &'a [u8],
        name: &'a [u8],
        attrs: Option<&'a str>,
    },
    /// Empties one database (`Some`, FLUSHDB) or every one (`None`, FLUSHALL).
    Flush {
        db: Option<u32>,
    },
    /// Framed records (see the table): applied in order, all or none.
    Group {
        records: &'a [u8],
    },
    /// The key `key` of database `db` becomes the key of database `to` (applied only while
    /// `to` has no such key).
    Move {
        db: u32,
        key: &'a [u8],
        to: u32,
    },
    /// Databases `a` and `b` now name keyspaces `to_a` and `to_b` (absolute, so applying it
    /// twice is harmless).
    DbMap {
        a: u32,
        to_a: u32,
        b: u32,
        to_b: u32,
    },
    /// Fields of a hash set to these values (kind 13).
    HSet {
        db: u32,
        key: &'a [u8],
        /// `Some(expires_at)` (0 = never): the write created the hash (the key was absent
        /// or expired then), with this expiry (the engine's default TTL).
        fresh: Option<u64>,
        pairs: Vec<(&'a [u8], &'a [u8])>,
    },
    /// Fields removed from a hash (kind 14).
    HDel {
        db: u32,
        key: &'a [u8],
        fields: Vec<&'a [u8]>,
    },
}

/// Appends `rec` to a [`Record::Group`]'s `records`.
pub(crate) fn push_to_group(out: &mut Vec<u8>, rec: &Record<'_>) {
    out.push(rec.kind());
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    rec.encode(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_le_bytes());
}

/// The records of a [`Record::Group`], in order (checked, as [`decode`] checks).
pub(crate) fn group_records(records: &[u8]) -> Result<Vec<Record<'_>>> {
    let mut r = Reader::new(records, "wal group record");
    let mut out = Vec::new();
    while !r.at_end() {
        let kind = r.u8()?;
        let payload = r.bytes()?;
        if kind == GROUP_KIND {
            return Err(r.bad("a group inside a group"));
        }
        out.push(decode(kind, payload)?);
    }
    Ok(out)
}

/// The kind byte of [`Record::Group`].
pub(crate) const GROUP_KIND: u8 = 9;
/// The kind byte framing a record about a database other than 0 (or FLUSHDB).
pub(crate) const IN_DB_KIND: u8 = 10;
const MOVE_KIND: u8 = 11;
const DBMAP_KIND: u8 = 12;
const HSET_KIND: u8 = 13;
const HDEL_KIND: u8 = 14;

impl<'a> Record<'a> {
    /// The database a record about keys is in (`None`: FLUSHALL, a group, MOVE, SWAPDB).
    fn framed_db(&self) -> Option<u32> {
        match *self {
            Record::SetBlob { db, .. }
            | Record::DelKey { db, .. }
            | Record::ExpireKey { db, .. }
            | Record::VAdd { db, .. }
            | Record::VRem { db, .. }
            | Record::VExpire { db, .. }
            | Record::VSetAttr { db, .. }
            | Record::HSet { db, .. }
            | Record::HDel { db, .. } => (db != 0).then_some(db),
            Record::Flush { db } => db,
            Record::Group { .. } | Record::Move { .. } | Record::DbMap { .. } => None,
        }
    }

    /// The key a record is about (`None`: a flush, a database map, a group), whose shard's
    /// write lock applies it.
    pub fn key(&self) -> Option<&'a [u8]> {
        match *self {
            Record::SetBlob { key, .. }
            | Record::DelKey { key, .. }
            | Record::ExpireKey { key, .. }
            | Record::VAdd { key, .. }
            | Record::VRem { key, .. }
            | Record::VExpire { key, .. }
            | Record::VSetAttr { key, .. }
            | Record::Move { key, .. }
            | Record::HSet { key, .. }
            | Record::HDel { key, .. } => Some(key),
            Record::Flush { .. } | Record::DbMap { .. } | Record::Group { .. } => None,
        }
    }

    /// The kind byte of the record itself, without a database frame.
    fn base_kind(&self) -> u8 {
        match self {
            Record::SetBlob { .. } => 1,
            Record::DelKey { .. } => 2,
            Record::ExpireKey { .. } => 3,
            Record::VAdd { .. } => 4,
            Record::VRem { .. } => 5,
            Record::VExpire { .. } => 6,
            Record::VSetAttr { .. } => 7,
            Record::Flush { .. } => 8,
            Record::Group { .. } => GROUP_KIND,
            Record::Move { .. } => MOVE_KIND,
            Record::DbMap { .. } => DBMAP_KIND,
            Record::HSet { .. } => HSET_KIND,
            Record::HDel { .. } => HDEL_KIND,
        }
    }

    /// The same record in database `db` (decoding a kind-10 frame).
    fn in_db(self, db: u32) -> Record<'a> {
        let mut r = self;
        match &mut r {
            Record::SetBlob { db: d, .. }
            | Record::DelKey { db: d, .. }
            | Record::ExpireKey { db: d, .. }
            | Record::VAdd { db: d, .. }
            | Record::VRem { db: d, .. }
            | Record::VExpire { db: d, .. }
            | Record::VSetAttr { db: d, .. }
            | Record::HSet { db: d, .. }
            | Record::HDel { db: d, .. } => *d = db,
            Record::Flush { db: d } => *d = Some(db),
            Record::Group { .. } | Record::Move { .. } | Record::DbMap { .. } => {}
        }
        r
    }

    /// The WAL kind byte.
    pub fn kind(&self) -> u8 {
        match self.framed_db() {
            Some(_) => IN_DB_KIND,
            None => self.base_kind(),
        }
    }

    /// Appends the payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(db) = self.framed_db() {
            out.extend_from_slice(&db.to_le_bytes());
            out.push(self.base_kind());
        }
        match self {
            Record::SetBlob {
                key,
                value,
                expires_at,
                ..
            } => {
                put_bytes(out, key);
                put_bytes(out, value);
                out.extend_from_slice(&expires_at.to_le_bytes());
            }
            Record::DelKey { key, .. } => put_bytes(out, key),
            Record::ExpireKey { key, at, .. } => {
                put_bytes(out, key);
                out.extend_from_slice(&at.to_le_bytes());
            }
            Record::VAdd {
                key, params, adds, ..
            } => {
                put_bytes(out, key);
                out.extend_from_slice(&(params.dim as u32).to_le_bytes());
                out.push(metric_code(params.metric));
                let flag = if params.projection != 0 { PROJECTED } else { 0 };
                out.push(storage_code(params.storage) | flag);
                out.extend_from_slice(&(params.m as u32).to_le_bytes());
                out.extend_from_slice(&(params.ef_construction as u32).to_le_bytes());
                out.extend_from_slice(&(adds.len() as u32).to_le_bytes());
                for a in adds {
                    put_bytes(out, a.name);
                    out.reserve(a.vector.len() * 4);
                    for x in a.vector.iter() {
                        out.extend_from_slice(&x.to_le_bytes());
                    }
                    match a.attrs {
                        None => out.push(0),
                        Some(None) => out.push(1),
                        Some(Some(j)) => {
                            out.push(2);
                            put_bytes(out, j.as_bytes());
                        }
                    }
                    out.extend_from_slice(&a.expires_at.to_le_bytes());
                }
                if params.projection != 0 {
                    out.extend_from_slice(&(params.projection as u32).to_le_bytes());
                }
            }
            Record::VRem { key, name, .. } => {
                put_bytes(out, key);
                put_bytes(out, name);
            }
            Record::VExpire { key, name, at, .. } => {
                put_bytes(out, key);
                put_bytes(out, name);
                out.extend_from_slice(&at.to_le_bytes());
            }
            Record::VSetAttr {
                key, name, attrs, ..
            } => {
                put_bytes(out, key);
                put_bytes(out, name);
                match attrs {
                    None => out.push(0),
                    Some(j) => {
                        out.push(1);
                        put_bytes(out, j.as_bytes());
                    }
                }
            }
            Record::Flush { .. } => {}
            Record::Group { records } => out.extend_from_slice(records),
            Record::Move { db, key, to } => {
                out.extend_from_slice(&db.to_le_bytes());
                put_bytes(out, key);
                out.extend_from_slice(&to.to_le_bytes());
            }
            Record::DbMap { a, to_a, b, to_b } => {
                for x in [a, to_a, b, to_b] {
                    out.extend_from_slice(&x.to_le_bytes());
                }
            }
            Record::HSet {
                key, fresh, pairs, ..
            } => {
                put_bytes(out, key);
                match fresh {
                    None => out.push(0),
                    Some(at) => {
                        out.push(1);
                        out.extend_from_slice(&at.to_le_bytes());
                    }
                }
                out.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
                for (f, v) in pairs {
                    put_bytes(out, f);
                    put_bytes(out, v);
                }
            }
            Record::HDel { key, fields, .. } => {
                put_bytes(out, key);
                out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
                for f in fields {
                    put_bytes(out, f);
                }
            }
        }
    }
}

pub(crate) fn metric_code(m: Metric) -> u8 {
    match m {
        Metric::Cosine => 0,
        Metric::Dot => 1,
        Metric::L2 => 2,
    }
}

pub(crate) fn metric_from(c: u8) -> Option<Metric> {
    Some(match c {
        0 => Metric::Cosine,
        1 => Metric::Dot,
        2 => Metric::L2,
        _ => return None,
    })
}

/// Flag added to a `VAdd` record's storage byte when the set has a projection.
pub(crate) const PROJECTED: u8 = 0x80;

pub(crate) fn storage_code(s: StorageMode) -> u8 {
    match s {
        StorageMode::Exact => 0,
        StorageMode::Q8 => 1,
        StorageMode::NoQuant => 2,
        StorageMode::Bin => 3,
    }
}

pub(crate) fn storage_from(c: u8) -> Option<StorageMode> {
    Some(match c {
        0 => StorageMode::Exact,
        1 => StorageMode::Q8,
        2 => StorageMode::NoQuant,
        3 => StorageMode::Bin,
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
