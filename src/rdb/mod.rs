//! Redis's DUMP payload format: one value RDB-encoded, then the 2-byte RDB version and the
//! CRC-64 (Jones, Redis's `crc64.c`) of everything before it, both little-endian.
//!
//! What this module reads and writes (Redis's `rdb.c`, `rdbLoadObject`/`rdbSaveObject`):
//! - strings (type 0): raw, integer-encoded (`11|000000`… int8/16/32) and LZF-compressed;
//! - hashes: type 4 (field/value strings; what this writes, which every Redis since 2.x
//!   loads), type 16 (a listpack, what Redis 7 writes for a small hash) and type 13 (a
//!   ziplist, Redis 6's);
//! - vector sets: type 7 (a module value of the `vectorset` module type, encver 0, as Redis
//!   8's `vset.c` saves it: dimension, count, quantization and M, flags, the projection
//!   matrix, then each element's name, attributes, vector and HNSW node), validated as
//!   Redis validates it before a set exists ([`vset`]).
//!
//! Knows nothing of the engine: [`Value`] is the payload's content, which the engine turns
//! into its own writes. Every length and offset is checked: a damaged payload is an
//! [`Error`], never a panic.

mod listpack;
mod lzf;
pub mod vset;

pub use vset::{VSet, VSetNode};

/// The RDB version written in the footer of strings and hashes: Redis 7.0's, so that Redis
/// 7.0 and every later Redis accept the payload (a Redis refuses a version above its own).
pub const RDB_VERSION_PLAIN: u16 = 10;
/// The RDB version written in the footer of vector sets: Redis 8.0's, the first Redis with
/// vector sets.
pub const RDB_VERSION_VSET: u16 = 12;
/// The highest footer version accepted: the newest Redis RDB version this format is known
/// to be unchanged in for the types read here. Above it RESTORE answers Redis's
/// "version or checksum are wrong", as a Redis older than the payload does.
pub const RDB_VERSION_MAX: u16 = 15;

const TYPE_STRING: u8 = 0;
const TYPE_HASH: u8 = 4;
const TYPE_MODULE_2: u8 = 7;
const TYPE_HASH_ZIPLIST: u8 = 13;
const TYPE_HASH_LISTPACK: u8 = 16;

const ENC_INT8: u64 = 0;
const ENC_INT16: u64 = 1;
const ENC_INT32: u64 = 2;
const ENC_LZF: u64 = 3;

/// The CRC-64 Redis puts in DUMP payloads and RDB files (Jones polynomial, reflected).
pub fn crc64(bytes: &[u8]) -> u64 {
    const CRC: crc::Crc<u64> = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
    CRC.checksum(bytes)
}

/// A value as a DUMP payload holds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Redis's string.
    String(Vec<u8>),
    /// Redis's hash: fields and values, in the payload's order.
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    /// Redis 8's vector set.
    VSet(VSet),
}

/// Why a payload is refused, with Redis's two texts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The footer's version is above [`RDB_VERSION_MAX`], the checksum does not match, or
    /// the payload is shorter than its footer.
    #[error("DUMP payload version or checksum are wrong")]
    VersionOrChecksum,
    /// The value cannot be read (what is wrong, for logs and tests).
    #[error("Bad data format")]
    BadFormat(String),
    /// A well-formed value of a type this server does not keep.
    #[error("Bad data format: RDB type {0} is not supported (this server keeps strings, hashes and vector sets)")]
    Unsupported(u8),
}

pub(crate) fn bad(why: impl Into<String>) -> Error {
    Error::BadFormat(why.into())
}

/// Checks the footer (Redis's `verifyDumpPayload`: a zero checksum means none) and reads
/// the value. Bytes after the value, before the footer, are ignored, as Redis ignores them.
pub fn decode(payload: &[u8]) -> Result<Value, Error> {
    if payload.len() < 10 {
        return Err(Error::VersionOrChecksum);
    }
    let body_len = payload.len() - 10;
    let footer = &payload[body_len..];
    let version = u16::from_le_bytes([footer[0], footer[1]]);
    if version > RDB_VERSION_MAX {
        return Err(Error::VersionOrChecksum);
    }
    let mut crc_bytes = [0u8; 8];
    crc_bytes.copy_from_slice(&footer[2..]);
    let expected = u64::from_le_bytes(crc_bytes);
    if expected != 0 && crc64(&payload[..payload.len() - 8]) != expected {
        return Err(Error::VersionOrChecksum);
    }
    let mut r = Reader::new(&payload[..body_len]);
    let ty = r.u8()?;
    match ty {
        TYPE_STRING => Ok(Value::String(r.string()?)),
        TYPE_HASH => {
            let n = r.len()?;
            let mut pairs = Vec::with_capacity(n.min(1 << 16) as usize);
            for _ in 0..n {
                let f = r.string()?;
                let v = r.string()?;
                pairs.push((f, v));
            }
            hash_value(pairs)
        }
        TYPE_HASH_LISTPACK => hash_value(listpack::pairs(&listpack::listpack(&r.string()?)?)?),
        TYPE_HASH_ZIPLIST => hash_value(listpack::pairs(&listpack::ziplist(&r.string()?)?)?),
        TYPE_MODULE_2 => Ok(Value::VSet(vset::read(&mut r)?)),
        other => Err(Error::Unsupported(other)),
    }
}

fn hash_value(pairs: listpack::Pairs) -> Result<Value, Error> {
    if pairs.is_empty() {
        return Err(bad("empty hash"));
    }
    let mut seen = hashbrown::HashSet::with_capacity(pairs.len());
    let unique = pairs.iter().all(|(f, _)| seen.insert(&f[..]));
    drop(seen);
    if !unique {
        return Err(bad("duplicate hash field"));
    }
    Ok(Value::Hash(pairs))
}

/// The DUMP payload of a value.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut w = Vec::new();
    let version = match value {
        Value::String(s) => {
            w.push(TYPE_STRING);
            put_string(&mut w, s);
            RDB_VERSION_PLAIN
        }
        Value::Hash(pairs) => {
            w.push(TYPE_HASH);
            put_len(&mut w, pairs.len() as u64);
            for (f, v) in pairs {
                put_string(&mut w, f);
                put_string(&mut w, v);
            }
            RDB_VERSION_PLAIN
        }
        Value::VSet(set) => {
            w.push(TYPE_MODULE_2);
            vset::write(&mut w, set);
            RDB_VERSION_VSET
        }
    };
    w.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(&w);
    w.extend_from_slice(&crc.to_le_bytes());
    w
}

/// Redis's `rdbSaveLen`.
pub(crate) fn put_len(w: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        w.push(n as u8);
    } else if n < 1 << 14 {
        w.push(0x40 | (n >> 8) as u8);
        w.push(n as u8);
    } else if n <= u64::from(u32::MAX) {
        w.push(0x80);
        w.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        w.push(0x81);
        w.extend_from_slice(&n.to_be_bytes());
    }
}

/// Redis's `rdbSaveRawString` without compression: a string that is the canonical decimal
/// text of an integer that fits 32 bits is saved integer-encoded (as Redis saves it), any
/// other as its length and bytes.
pub(crate) fn put_string(w: &mut Vec<u8>, s: &[u8]) {
    if let Some(i) = canonical_int(s) {
        if let Ok(v) = i8::try_from(i) {
            w.push(0xC0 | ENC_INT8 as u8);
            w.push(v as u8);
            return;
        }
        if let Ok(v) = i16::try_from(i) {
            w.push(0xC0 | ENC_INT16 as u8);
            w.extend_from_slice(&v.to_le_bytes());
            return;
        }
        if let Ok(v) = i32::try_from(i) {
            w.push(0xC0 | ENC_INT32 as u8);
            w.extend_from_slice(&v.to_le_bytes());
            return;
        }
    }
    put_len(w, s.len() as u64);
    w.extend_from_slice(s);
}

/// The integer `s` is the canonical text of (no sign on 0, no leading zeros or `+`), as
/// Redis's `string2ll` and its round-trip check accept, within 11 bytes.
fn canonical_int(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let v: i64 = text.parse().ok()?;
    (v.to_string().as_bytes() == s).then_some(v)
}

/// A bounds-checked reader over a payload.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or_else(|| bad(format!("truncated at byte {}", self.pos)))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    /// Redis's `rdbLoadLenByRef`: the length, or the special encoding number with `true`.
    fn len_or_enc(&mut self) -> Result<(u64, bool), Error> {
        let b = self.u8()?;
        Ok(match b >> 6 {
            0 => (u64::from(b & 0x3f), false),
            1 => (u64::from(b & 0x3f) << 8 | u64::from(self.u8()?), false),
            3 => (u64::from(b & 0x3f), true),
            _ if b == 0x80 => {
                let mut x = [0u8; 4];
                x.copy_from_slice(self.take(4)?);
                (u64::from(u32::from_be_bytes(x)), false)
            }
            _ if b == 0x81 => {
                let mut x = [0u8; 8];
                x.copy_from_slice(self.take(8)?);
                (u64::from_be_bytes(x), false)
            }
            _ => return Err(bad(format!("unknown length encoding {b:#x}"))),
        })
    }

    /// A length (not a special encoding).
    pub(crate) fn len(&mut self) -> Result<u64, Error> {
        match self.len_or_enc()? {
            (n, false) => Ok(n),
            _ => Err(bad("an encoded string where a length belongs")),
        }
    }

    /// Redis's `rdbGenericLoadStringObject`: raw, integer-encoded or LZF-compressed.
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, Error> {
        let (n, encoded) = self.len_or_enc()?;
        if !encoded {
            let n = usize::try_from(n).map_err(|_| bad("string length"))?;
            return Ok(self.take(n)?.to_vec());
        }
        match n {
            ENC_INT8 => Ok((self.u8()? as i8).to_string().into_bytes()),
            ENC_INT16 => {
                let b = self.take(2)?;
                Ok(i16::from_le_bytes([b[0], b[1]]).to_string().into_bytes())
            }
            ENC_INT32 => {
                let b = self.take(4)?;
                Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    .to_string()
                    .into_bytes())
            }
            ENC_LZF => {
                let clen = usize::try_from(self.len()?).map_err(|_| bad("LZF length"))?;
                let ulen = usize::try_from(self.len()?).map_err(|_| bad("LZF length"))?;
                let data = self.take(clen)?;
                lzf::decompress(data, ulen)
            }
            other => Err(bad(format!("unknown string encoding {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_is_redis_crc64_jones() {
        // Redis's crc64.c test vector.
        assert_eq!(crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
    }

    #[test]
    fn strings_round_trip_in_every_encoding() {
        for s in [
            &b""[..],
            b"a",
            b"12",
            b"-128",
            b"300",
            b"-40000",
            b"2147483647",
            b"2147483648",
            b"007",
            b"x".repeat(70).as_slice(),
            &[0u8, 255, 10][..],
        ] {
            let p = encode(&Value::String(s.to_vec()));
            assert_eq!(decode(&p), Ok(Value::String(s.to_vec())), "{s:?}");
        }
    }

    #[test]
    fn a_damaged_footer_or_body_is_refused_with_redis_errors() {
        let mut p = encode(&Value::String(b"hello".to_vec()));
        let n = p.len();
        p[n - 1] ^= 1;
        assert_eq!(decode(&p), Err(Error::VersionOrChecksum));
        let mut p = encode(&Value::String(b"hello".to_vec()));
        p[n - 10] = 99;
        assert_eq!(decode(&p), Err(Error::VersionOrChecksum));
        assert_eq!(decode(b"short"), Err(Error::VersionOrChecksum));
        // A zero checksum is "none", as in Redis: then the body is what is judged.
        let mut p = vec![TYPE_STRING, 0x0a, b'a'];
        p.extend_from_slice(&10u16.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        assert!(matches!(decode(&p), Err(Error::BadFormat(_))));
        let mut p = vec![2u8, 0];
        p.extend_from_slice(&10u16.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        assert_eq!(decode(&p), Err(Error::Unsupported(2)));
    }

    #[test]
    fn hashes_round_trip_and_duplicate_fields_are_refused() {
        let pairs = vec![
            (b"f1".to_vec(), b"v1".to_vec()),
            (b"n".to_vec(), b"42".to_vec()),
        ];
        let p = encode(&Value::Hash(pairs.clone()));
        assert_eq!(decode(&p), Ok(Value::Hash(pairs)));
        let dup = vec![
            (b"f".to_vec(), b"1".to_vec()),
            (b"f".to_vec(), b"2".to_vec()),
        ];
        assert!(matches!(
            decode(&encode(&Value::Hash(dup))),
            Err(Error::BadFormat(_))
        ));
    }

    #[test]
    fn any_truncation_of_a_payload_is_an_error_not_a_panic() {
        let pairs = vec![(b"field".to_vec(), b"value".repeat(30))];
        let p = encode(&Value::Hash(pairs));
        for cut in 0..p.len() {
            let mut q = p[..cut].to_vec();
            q.extend_from_slice(&10u16.to_le_bytes());
            q.extend_from_slice(&[0; 8]);
            let _ = decode(&q);
        }
    }
}
