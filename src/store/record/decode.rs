//! Decoding a record's payload: every length checked against the payload, never a panic.

use std::borrow::Cow;

use crate::error::Result;

use super::super::codec::Reader;
use super::super::params::SetParams;
use super::*;

/// Little-endian f32 bytes as f32s: one copy (a replayed record's vector is not aligned
/// for `f32` in the log's mapping).
fn f32s_from_le(raw: &[u8]) -> Vec<f32> {
    #[cfg(target_endian = "little")]
    {
        let n = raw.len() / 4;
        let mut v = vec![0f32; n];
        bytemuck::cast_slice_mut::<f32, u8>(&mut v).copy_from_slice(&raw[..n * 4]);
        v
    }
    #[cfg(not(target_endian = "little"))]
    {
        raw.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect()
    }
}

/// How many elements a `VAdd` record (bare, or framed with its keyspace) adds to which
/// set: `(keyspace, key, elements)`, read without decoding the elements; `None` for any
/// other record (or one that does not read). Recovery counts them before the replay so a
/// set's arrays are sized once instead of doubling (and copying) as the replay grows them.
pub(crate) fn vadd_count(kind: u8, payload: &[u8]) -> Option<(u32, &[u8], usize)> {
    let mut r = Reader::new(payload, "wal record");
    let db = match kind {
        4 => 0,
        IN_DB_KIND => {
            let db = r.u32().ok()?;
            (r.u8().ok()? == 4).then_some(db)?
        }
        _ => return None,
    };
    let key = r.bytes().ok()?;
    let dim = r.u32().ok()? as usize;
    r.take(1 + 1 + 4 + 4).ok()?;
    let n = r.u32().ok()? as usize;
    // Each element holds at least its vector: a count the payload cannot hold is no size.
    (n <= payload.len() / dim.max(1).saturating_mul(4)).then_some((db, key, n))
}

/// Decodes a payload of the given kind.
pub(crate) fn decode(kind: u8, payload: &[u8]) -> Result<Record<'_>> {
    let mut r = Reader::new(payload, "wal record");
    let rec = match kind {
        1 => Record::SetBlob {
            db: 0,
            key: r.bytes()?,
            value: r.bytes()?,
            expires_at: r.u64()?,
        },
        2 => Record::DelKey {
            db: 0,
            key: r.bytes()?,
        },
        3 => Record::ExpireKey {
            db: 0,
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
                let vector = f32s_from_le(raw);
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
                db: 0,
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
            db: 0,
            key: r.bytes()?,
            name: r.bytes()?,
        },
        6 => Record::VExpire {
            db: 0,
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
            Record::VSetAttr {
                db: 0,
                key,
                name,
                attrs,
            }
        }
        8 => Record::Flush { db: None },
        IN_DB_KIND => {
            let db = r.u32()?;
            let inner = r.u8()?;
            if !matches!(inner, 1..=8 | HSET_KIND | HDEL_KIND) {
                return Err(r.bad("a database frame around a record that has no database"));
            }
            let rec = decode(inner, &payload[r.pos..])?.in_db(db);
            r.pos = payload.len();
            rec
        }
        MOVE_KIND => Record::Move {
            db: r.u32()?,
            key: r.bytes()?,
            to: r.u32()?,
        },
        DBMAP_KIND => Record::DbMap {
            a: r.u32()?,
            to_a: r.u32()?,
            b: r.u32()?,
            to_b: r.u32()?,
        },
        GROUP_KIND => {
            group_records(payload)?;
            r.pos = payload.len();
            Record::Group { records: payload }
        }
        HSET_KIND => {
            let key = r.bytes()?;
            let fresh = match r.u8()? {
                0 => None,
                1 => Some(r.u64()?),
                _ => return Err(r.bad("unknown fresh flag")),
            };
            let n = r.u32()? as usize;
            if n > payload.len() {
                return Err(r.bad("implausible field count"));
            }
            let mut pairs = Vec::with_capacity(n);
            for _ in 0..n {
                pairs.push((r.bytes()?, r.bytes()?));
            }
            Record::HSet {
                db: 0,
                key,
                fresh,
                pairs,
            }
        }
        HDEL_KIND => {
            let key = r.bytes()?;
            let n = r.u32()? as usize;
            if n > payload.len() {
                return Err(r.bad("implausible field count"));
            }
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push(r.bytes()?);
            }
            Record::HDel { db: 0, key, fields }
        }
        k => return Err(r.bad(&format!("unknown record kind {k}"))),
    };
    if r.pos != payload.len() {
        return Err(r.bad("trailing bytes after the record"));
    }
    Ok(rec)
}
