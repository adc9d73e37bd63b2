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
//! | 9    | `Group`     | entries to the end: kind: u8 (1–8), payload: bytes — the writes of one transaction |
//!
//! A `Group` is what [`crate::store::Store::grouped`] logs: the records of one MULTI/EXEC or MSET,
//! framed as one WAL record, so that a crash recovers all of them or (a torn record fails its
//! CRC) none. Groups do not nest.
//!
//! Decoding checks every length against the payload and never panics.

use std::borrow::Cow;

use crate::error::Result;
use crate::vocab::{Metric, StorageMode};

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
        key: &'a [u8],
        value: &'a [u8],
        expires_at: u64,
    },
    DelKey {
        key: &'a [u8],
    },
    ExpireKey {
        key: &'a [u8],
        at: u64,
    },
    VAdd {
        key: &'a [u8],
        params: SetParams,
        adds: Vec<AddRec<'a>>,
    },
    VRem {
        key: &'a [u8],
        name: &'a [u8],
    },
    VExpire {
        key: &'a [u8],
        name: &'a [u8],
        at: u64,
    },
    VSetAttr {
        key: &'a [u8],
        name: &'a [u8],
        attrs: Option<&'a str>,
    },
    Flush,
    /// Framed records (see the table): applied in order, all or none.
    Group {
        records: &'a [u8],
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

impl Record<'_> {
    /// The WAL kind byte.
    pub fn kind(&self) -> u8 {
        match self {
            Record::SetBlob { .. } => 1,
            Record::DelKey { .. } => 2,
            Record::ExpireKey { .. } => 3,
            Record::VAdd { .. } => 4,
            Record::VRem { .. } => 5,
            Record::VExpire { .. } => 6,
            Record::VSetAttr { .. } => 7,
            Record::Flush => 8,
            Record::Group { .. } => GROUP_KIND,
        }
    }

    /// Appends the payload to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Record::SetBlob {
                key,
                value,
                expires_at,
            } => {
                put_bytes(out, key);
                put_bytes(out, value);
                out.extend_from_slice(&expires_at.to_le_bytes());
            }
            Record::DelKey { key } => put_bytes(out, key),
            Record::ExpireKey { key, at } => {
                put_bytes(out, key);
                out.extend_from_slice(&at.to_le_bytes());
            }
            Record::VAdd { key, params, adds } => {
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
            Record::VRem { key, name } => {
                put_bytes(out, key);
                put_bytes(out, name);
            }
            Record::VExpire { key, name, at } => {
                put_bytes(out, key);
                put_bytes(out, name);
                out.extend_from_slice(&at.to_le_bytes());
            }
            Record::VSetAttr { key, name, attrs } => {
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
            Record::Flush => {}
            Record::Group { records } => out.extend_from_slice(records),
        }
    }
}

/// Decodes a payload of the given kind.
pub(crate) fn decode(kind: u8, payload: &[u8]) -> Result<Record<'_>> {
    let mut r = Reader::new(payload, "wal record");
    let rec = match kind {
        1 => Record::SetBlob {
            key: r.bytes()?,
            value: r.bytes()?,
            expires_at: r.u64()?,
        },
        2 => Record::DelKey { key: r.bytes()? },
        3 => Record::ExpireKey {
            key: r.bytes()?,
            at: r.u64()?,
        },
        4 => {
            let key = r.bytes()?;
            let dim = r.u32()? as usize;
            let metric = metric_from(r.u8()?).ok_or_else(|| r.bad("unknown metric"))?;
            let code = r.u8()?;
            let storage =
                storage_from(code & !PROJECTED).ok_or_else(|| r.bad("unknown storage"))?;
            let m = r.u32()? as usize;
            let ef_construction = r.u32()? as usize;
            let n = r.u32()? as usize;
            if dim == 0 || n > payload.len() {
                return Err(r.bad("implausible dimension or element count"));
            }
            let mut adds = Vec::with_capacity(n);
            for _ in 0..n {
                let name = r.bytes()?;
                let raw = r.take(dim.checked_mul(4).ok_or_else(|| r.bad("dimension"))?)?;
                let vector: Vec<f32> = raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let attrs = match r.u8()? {
                    0 => None,
                    1 => Some(None),
                    2 => Some(Some(r.str()?)),
                    _ => return Err(r.bad("unknown attribute tag")),
                };
                adds.push(AddRec {
                    name,
                    vector: Cow::Owned(vector),
                    attrs,
                    expires_at: r.u64()?,
                });
            }
            let projection = if code & PROJECTED != 0 {
                match r.u32()? as usize {
                    0 => return Err(r.bad("a projection from dimension 0")),
                    p => p,
                }
            } else {
                0
            };
            Record::VAdd {
                key,
                params: SetParams {
                    dim,
                    metric,
                    storage,
                    m,
                    ef_construction,
                    projection,
                },
                adds,
            }
        }
        5 => Record::VRem {
            key: r.bytes()?,
            name: r.bytes()?,
        },
        6 => Record::VExpire {
            key: r.bytes()?,
            name: r.bytes()?,
            at: r.u64()?,
        },
        7 => {
            let key = r.bytes()?;
            let name = r.bytes()?;
            let attrs = match r.u8()? {
                0 => None,
                1 => Some(r.str()?),
                _ => return Err(r.bad("unknown attribute tag")),
            };
            Record::VSetAttr { key, name, attrs }
        }
        8 => Record::Flush,
        GROUP_KIND => {
            group_records(payload)?;
            r.pos = payload.len();
            Record::Group { records: payload }
        }
        k => return Err(r.bad(&format!("unknown record kind {k}"))),
    };
    if r.pos != payload.len() {
        return Err(r.bad("trailing bytes after the record"));
    }
    Ok(rec)
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
mod tests {
    use super::*;

    fn round_trip(r: Record<'_>) {
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(decode(r.kind(), &buf).unwrap(), r);
        // Every truncation is refused, never a panic.
        for cut in 0..buf.len() {
            assert!(decode(r.kind(), &buf[..cut]).is_err() || cut == buf.len());
        }
    }

    #[test]
    fn every_record_round_trips_and_every_truncation_is_refused() {
        round_trip(Record::SetBlob {
            key: b"k",
            value: b"value",
            expires_at: 42,
        });
        round_trip(Record::DelKey { key: b"k" });
        round_trip(Record::ExpireKey { key: b"k", at: 7 });
        round_trip(Record::VAdd {
            key: b"m",
            params: SetParams {
                dim: 3,
                metric: Metric::L2,
                storage: StorageMode::Q8,
                m: 16,
                ef_construction: 200,
                projection: 0,
            },
            adds: vec![
                AddRec {
                    name: b"a",
                    vector: Cow::Owned(vec![1.0, -2.5, 3.25]),
                    attrs: Some(Some("{\"x\":1}")),
                    expires_at: 0,
                },
                AddRec {
                    name: b"b",
                    vector: Cow::Owned(vec![0.0, 1.0, f32::MIN_POSITIVE]),
                    attrs: Some(None),
                    expires_at: 9,
                },
            ],
        });
        round_trip(Record::VAdd {
            key: b"r",
            params: SetParams {
                dim: 2,
                metric: Metric::Cosine,
                storage: StorageMode::Bin,
                m: 16,
                ef_construction: 200,
                projection: 5,
            },
            adds: vec![AddRec {
                name: b"a",
                vector: Cow::Owned(vec![1.0, -2.5]),
                attrs: None,
                expires_at: 0,
            }],
        });
        round_trip(Record::VRem {
            key: b"m",
            name: b"a",
        });
        round_trip(Record::VExpire {
            key: b"m",
            name: b"a",
            at: 5,
        });
        round_trip(Record::VSetAttr {
            key: b"m",
            name: b"a",
            attrs: Some("{}"),
        });
        round_trip(Record::VSetAttr {
            key: b"m",
            name: b"a",
            attrs: None,
        });
        round_trip(Record::Flush);
    }

    #[test]
    fn unknown_kinds_and_garbage_are_errors() {
        assert!(decode(99, b"").is_err());
        assert!(decode(4, &[0xff; 64]).is_err());
        assert!(decode(
            1,
            &[1, 0, 0, 0, b'k', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]
        )
        .is_err());
    }
}
