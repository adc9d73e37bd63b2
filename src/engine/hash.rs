//! Hash calls: Redis's hash commands (HSET, HGET, HDEL, HINCRBY, HSCAN, …).
//!
//! A hash is one key holding fields → values. It is one evictable entry, as a blob: its TTL
//! is the key's (EXPIRE, TTL, PERSIST; a new hash gets `EngineConfig::default_ttl_ms` as a
//! blob written without a TTL does, and writes to its fields keep it), LRU/LFU eviction removes it whole, and its bytes
//! (fields, values and overheads) count against the byte cap. Every write is one
//! `HSet`/`HDel` record with absolute values, logged then applied under the shard's write
//! lock through `Store::apply` (WAL replay applies the same records the same way).

use std::sync::atomic::Ordering;

use super::api::Engine;
use super::blob::parse_redis_int;
use crate::error::{Error, Result};
use crate::store::{
    expired, Appends, EntryRef, HashValue, LazyNow, Record, Removal, ShardData, Value, NO_ELEM,
};

/// One page of an HSCAN.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HashScanPage {
    /// Cursor for the next call; 0 when the scan is complete.
    pub cursor: u64,
    /// Field, value pairs of this page.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A field and its value.
pub type FieldValue = (Vec<u8>, Vec<u8>);

impl Engine {
    /// Runs `f` on the fields of the live hash at `key`, under its shard's read lock, and
    /// records the access (LRU/LFU, a hit); `Ok(None)` (a miss) when the key is missing or
    /// expired, `Err(WrongType)` when it holds another type.
    fn with_hash<R>(&self, key: &[u8], f: impl FnOnce(&HashValue) -> R) -> Result<Option<R>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let store = &self.store;
        let now = LazyNow::new(store);
        {
            let data = shard.data.read();
            let Some(slot) = data.find(h, self.ks(), key) else {
                store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            };
            let entry = data.entry(slot).expect("found");
            if !now.expired(entry.expires_at) {
                let Value::Hash(hv) = &entry.value else {
                    return Err(Error::WrongType);
                };
                let e = EntryRef {
                    key: slot,
                    elem: NO_ELEM,
                };
                store.touch(shard, &data, e, &hv.meta, &now);
                store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(Some(f(hv)));
            }
        }
        self.reclaim_if_expired(shard, h, key);
        store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
        Ok(None)
    }

    /// Redis's HGET: the value of `field`, `None` when the field or the key is missing.
    pub fn hget(&self, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .with_hash(key, |hv| hv.fields.get(field).map(|v| v.to_vec()))?
            .flatten())
    }

    /// Redis's HMGET: each field's value (`None` when missing; all `None` for a missing key).
    pub fn hmget(&self, key: &[u8], fields: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        Ok(self
            .with_hash(key, |hv| {
                fields
                    .iter()
                    .map(|f| hv.fields.get(*f).map(|v| v.to_vec()))
                    .collect()
            })?
            .unwrap_or_else(|| vec![None; fields.len()]))
    }

    /// Redis's HGETALL: every field and value, in Redis's order while the hash is small
    /// (insertion order); empty for a missing key.
    pub fn hgetall(&self, key: &[u8]) -> Result<Vec<FieldValue>> {
        Ok(self
            .with_hash(key, |hv| {
                hv.fields
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect()
            })?
            .unwrap_or_default())
    }

    /// Redis's HKEYS: every field, in HGETALL's order.
    pub fn hkeys(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .with_hash(key, |hv| hv.fields.keys().map(|f| f.to_vec()).collect())?
            .unwrap_or_default())
    }

    /// Redis's HVALS: every value, in HGETALL's order.
    pub fn hvals(&self, key: &[u8]) -> Result<Vec<Vec<u8>>> {
        Ok(self
            .with_hash(key, |hv| hv.fields.values().map(|v| v.to_vec()).collect())?
            .unwrap_or_default())
    }

    /// Redis's HLEN: the number of fields (0 for a missing key).
    pub fn hlen(&self, key: &[u8]) -> Result<usize> {
        Ok(self.with_hash(key, |hv| hv.fields.len())?.unwrap_or(0))
    }

    /// Redis's HEXISTS.
    pub fn hexists(&self, key: &[u8], field: &[u8]) -> Result<bool> {
        Ok(self
            .with_hash(key, |hv| hv.fields.contains_key(field))?
            .unwrap_or(false))
    }

    /// Redis's HSTRLEN: the length of a field's value (0 when missing).
    pub fn hstrlen(&self, key: &[u8], field: &[u8]) -> Result<usize> {
        Ok(self
            .with_hash(key, |hv| hv.fields.get(field).map_or(0, |v| v.len()))?
            .unwrap_or(0))
    }

    /// Redis's HRANDFIELD with a count: `count ≥ 0` distinct fields (all of them, in
    /// HGETALL's order, when `count` reaches the hash's size), `count < 0` exactly |count|
    /// fields that may repeat. Empty for a missing key.
    pub fn hrandfield(&self, key: &[u8], count: i64) -> Result<Vec<FieldValue>> {
        let store = &self.store;
        Ok(self
            .with_hash(key, |hv| {
                let len = hv.fields.len();
                let pair = |i: usize| {
                    let (f, v) = hv.fields.get_index(i).expect("in range");
                    (f.to_vec(), v.to_vec())
                };
                if len == 0 {
                    return Vec::new();
                }
                if count < 0 {
                    let want = count.unsigned_abs().min(1 << 24) as usize;
                    return (0..want)
                        .map(|_| pair((store.random() % len as u64) as usize))
                        .collect();
                }
                let want = count as u64;
                if want >= len as u64 {
                    return (0..len).map(pair).collect();
                }
                // A partial Fisher–Yates shuffle of the positions.
                let mut pos: Vec<usize> = (0..len).collect();
                for i in 0..want as usize {
                    let j = i + (store.random() % (len - i) as u64) as usize;
                    pos.swap(i, j);
                }
                pos.truncate(want as usize);
                pos.into_iter().map(pair).collect()
            })?
            .unwrap_or_default())
    }

    /// Redis's HSCAN: one page from `cursor` (0 starts), fields matching the glob `pattern`;
    /// `count` is the work hint. A small hash comes whole in one page (as Redis answers a
    /// listpack); a field present for the whole scan is returned at least once.
    pub fn hscan(
        &self,
        key: &[u8],
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<HashScanPage> {
        Ok(self
            .with_hash(key, |hv| {
                let (cursor, positions) = hv.scan(cursor, count, pattern);
                let pairs = positions
                    .into_iter()
                    .filter_map(|i| hv.fields.get_index(i))
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect();
                HashScanPage { cursor, pairs }
            })?
            .unwrap_or_default())
    }

    /// The live hash at `key` under the shard's write lock: its fields (`None` when missing
    /// or expired, which is reclaimed here), `Err(WrongType)` for another type.
    fn hash_for_write<'d>(
        &self,
        data: &'d mut ShardData,
        h: u64,
        key: &[u8],
        now: u64,
    ) -> Result<Option<&'d HashValue>> {
        let Some(slot) = data.find(h, self.ks(), key) else {
            return Ok(None);
        };
        if data.entry(slot).is_some_and(|e| expired(e.expires_at, now)) {
            self.store.remove_key(data, slot, Removal::Expired);
            return Ok(None);
        }
        match data.entry(slot).map(|e| &e.value) {
            Some(Value::Hash(hv)) => Ok(Some(hv)),
            Some(_) => Err(Error::WrongType),
            None => Ok(None),
        }
    }

    /// Checks fields and values against the value limit.
    fn check_pairs(&self, pairs: &[(&[u8], &[u8])]) -> Result<()> {
        let limit = self.cfg.limits.max_value_bytes;
        for (f, v) in pairs {
            for (arg, x) in [("field", f), ("value", v)] {
                if x.len() > limit {
                    return Err(Error::TooLarge {
                        arg,
                        len: x.len(),
                        limit,
                    });
                }
            }
        }
        Ok(())
    }

    /// Logs and applies `pairs` on the hash at `key` under its shard's write lock, after
    /// checking room under `noeviction`; returns how many fields are new. `only_new`: leave
    /// fields that exist alone (HSETNX).
    fn hset_locked(
        &self,
        to: &Appends,
        data: &mut ShardData,
        h: u64,
        key: &[u8],
        pairs: &[(&[u8], &[u8])],
        now: u64,
    ) -> Result<usize> {
        let store = &self.store;
        let (new_key, grows) = match self.hash_for_write(data, h, key, now)? {
            None => (
                true,
                key.len() as u64
                    + crate::store::HASH_OVERHEAD
                    + pairs
                        .iter()
                        .map(|(f, v)| HashValue::field_bytes(f, v))
                        .sum::<u64>(),
            ),
            Some(hv) => {
                let grows = pairs
                    .iter()
                    .map(|(f, v)| match hv.fields.get(*f) {
                        Some(old) => v.len().saturating_sub(old.len()) as u64,
                        None => HashValue::field_bytes(f, v),
                    })
                    .sum();
                (false, grows)
            }
        };
        store.check_room(u64::from(new_key), grows)?;
        // A new hash gets the default TTL, as a blob written without one does.
        let fresh = match new_key {
            true => Some(self.resolve_expiry(crate::Expiry::Default, now, None)?),
            false => None,
        };
        let ks = self.ks();
        let rec = Record::HSet {
            db: ks,
            key,
            fresh,
            pairs: pairs.to_vec(),
        };
        store.commit(to, data, &rec, now)
    }

    /// The body of [`Engine::hset`]: its records are appended through `to`, not awaited.
    pub(crate) fn hset_in(
        &self,
        to: &Appends,
        key: &[u8],
        pairs: &[(&[u8], &[u8])],
    ) -> Result<usize> {
        self.check_key(key)?;
        self.check_pairs(pairs)?;
        if pairs.is_empty() {
            return Err(Error::invalid("pairs", "at least one field and value"));
        }
        let (h, shard) = self.locate(key);
        let new = self.retry_oom(|| {
            let now = self.store.now_ms();
            let mut data = shard.data.write();
            self.hset_locked(to, &mut data, h, key, pairs, now)
        })?;
        self.store.enforce_caps(to);
        Ok(new)
    }

    /// The body of [`Engine::hsetnx`]: its records are appended through `to`, not awaited.
    pub(crate) fn hsetnx_in(
        &self,
        to: &Appends,
        key: &[u8],
        field: &[u8],
        value: &[u8],
    ) -> Result<bool> {
        self.check_key(key)?;
        self.check_pairs(&[(field, value)])?;
        let (h, shard) = self.locate(key);
        let set = self.retry_oom(|| {
            let now = self.store.now_ms();
            let mut data = shard.data.write();
            if self
                .hash_for_write(&mut data, h, key, now)?
                .is_some_and(|hv| hv.fields.contains_key(field))
            {
                return Ok(false);
            }
            self.hset_locked(to, &mut data, h, key, &[(field, value)], now)?;
            Ok(true)
        })?;
        self.store.enforce_caps(to);
        Ok(set)
    }

    /// The body of [`Engine::hdel`]: its records are appended through `to`, not awaited.
    pub(crate) fn hdel_in(&self, to: &Appends, key: &[u8], fields: &[&[u8]]) -> Result<usize> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let now = self.store.now_ms();
        let mut data = shard.data.write();
        let present: Vec<&[u8]> = match self.hash_for_write(&mut data, h, key, now)? {
            None => return Ok(0),
            Some(hv) => {
                let mut seen = hashbrown::HashSet::new();
                fields
                    .iter()
                    .copied()
                    .filter(|f| hv.fields.contains_key(*f) && seen.insert(*f))
                    .collect()
            }
        };
        if present.is_empty() {
            return Ok(0);
        }
        let ks = self.ks();
        let rec = Record::HDel {
            db: ks,
            key,
            fields: present,
        };
        self.store.commit(to, &mut data, &rec, now)
    }

    /// Replaces one field by `f(current value)` (`None` when missing) under one hold of the
    /// shard's write lock; returns what `f` returned beside the new value.
    fn update_field<R>(
        &self,
        to: &Appends,
        key: &[u8],
        field: &[u8],
        mut f: impl FnMut(Option<&[u8]>) -> Result<(Vec<u8>, R)>,
    ) -> Result<R> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let out = self.retry_oom(|| {
            let now = self.store.now_ms();
            let mut data = shard.data.write();
            let old = self
                .hash_for_write(&mut data, h, key, now)?
                .and_then(|hv| hv.fields.get(field));
            let (new, r) = f(old.map(|v| &v[..]))?;
            self.check_pairs(&[(field, &new)])?;
            self.hset_locked(to, &mut data, h, key, &[(field, &new)], now)?;
            Ok(r)
        })?;
        self.store.enforce_caps(to);
        Ok(out)
    }

    /// The body of [`Engine::hincr_by`]: its records are appended through `to`, not awaited.
    pub(crate) fn hincr_by_in(
        &self,
        to: &Appends,
        key: &[u8],
        field: &[u8],
        delta: i64,
    ) -> Result<i64> {
        self.update_field(to, key, field, |old| {
            let n = match old {
                None => 0,
                Some(v) => parse_redis_int(v)
                    .ok_or_else(|| Error::invalid("value", "hash value is not an integer"))?,
            };
            let sum = n
                .checked_add(delta)
                .ok_or_else(|| Error::invalid("delta", "increment or decrement would overflow"))?;
            Ok((sum.to_string().into_bytes(), sum))
        })
    }

    /// The body of [`Engine::hincr_by_float`]: its records are appended through `to`, not
    /// awaited. `delta` is the increment's text (Redis reads it as a long double).
    pub(crate) fn hincr_by_float_in(
        &self,
        to: &Appends,
        key: &[u8],
        field: &[u8],
        delta: &[u8],
    ) -> Result<String> {
        let d = parse_redis_float(delta)
            .ok_or_else(|| Error::invalid("increment", "value is not a valid float"))?;
        if !d.is_finite() {
            return Err(Error::invalid("increment", "value is NaN or Infinity"));
        }
        self.update_field(to, key, field, |old| {
            let n = match old {
                None => 0.0,
                Some(v) => parse_redis_float(v)
                    .ok_or_else(|| Error::invalid("value", "hash value is not a float"))?,
            };
            let sum = n + d;
            if !sum.is_finite() {
                return Err(Error::invalid(
                    "delta",
                    "increment would produce NaN or Infinity",
                ));
            }
            let text = match (Decimal::parse(old.unwrap_or(b"0")), Decimal::parse(delta)) {
                (Some(a), Some(b)) => a.add(b).map(Decimal::text),
                _ => None,
            }
            .unwrap_or_else(|| format_float(sum));
            Ok((text.clone().into_bytes(), text))
        })
    }
}

/// A float as Redis's `string2ld` reads a stored value: no surrounding spaces, no NaN, the
/// whole text.
pub(crate) fn parse_redis_float(v: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(v).ok()?;
    if s.is_empty() || s.len() > 5120 || s.starts_with(char::is_whitespace) {
        return None;
    }
    let x: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!x.is_nan()).then_some(x)
}

/// A float as HINCRBYFLOAT stores it when [`Decimal`] cannot hold it: plain decimal digits,
/// no exponent, no trailing zeros, `-0` as `0` (Redis's `%.17Lf` with the zeros stripped;
/// here the shortest text that reads back as the same `f64`).
pub(crate) fn format_float(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    format!("{x}")
}

/// Decimal places Redis prints a HINCRBYFLOAT result with (`%.17Lf`).
const PRINTED_PLACES: u32 = 17;

/// An exact decimal `mantissa × 10^-scale`: HINCRBYFLOAT adds the two texts exactly and
/// rounds to Redis's 17 places, which gives Redis's text (`0.1` + `0.2` = `0.3`, where a
/// binary `f64` sum would print `0.30000000000000004`) wherever Redis's long double holds
/// the sum to 17 places; texts beyond an `i128` fall back to the `f64` sum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// `[+-]digits[.digits][(e|E)[+-]digits]`, nothing else.
    fn parse(text: &[u8]) -> Option<Decimal> {
        let s = std::str::from_utf8(text).ok()?;
        let (num, exp) = match s.find(['e', 'E']) {
            Some(i) => (&s[..i], s[i + 1..].parse::<i32>().ok()?),
            None => (s, 0),
        };
        let (neg, num) = match num.as_bytes().first()? {
            b'-' => (true, &num[1..]),
            b'+' => (false, &num[1..]),
            _ => (false, num),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty()
            || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let mut mantissa: i128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mantissa = mantissa
                .checked_mul(10)?
                .checked_add(i128::from(b - b'0'))?;
        }
        let mut scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        let mut d = Decimal {
            mantissa: if neg { -mantissa } else { mantissa },
            scale: scale as u32,
        };
        while d.scale > PRINTED_PLACES + 2 && d.mantissa % 10 == 0 {
            d.mantissa /= 10;
            d.scale -= 1;
        }
        (d.scale <= 36).then_some(d)
    }

    /// The exact sum, `None` past an `i128`.
    fn add(self, other: Decimal) -> Option<Decimal> {
        let scale = self.scale.max(other.scale);
        let up = |d: Decimal| {
            10i128
                .checked_pow(scale - d.scale)
                .and_then(|p| d.mantissa.checked_mul(p))
        };
        Some(Decimal {
            mantissa: up(self)?.checked_add(up(other)?)?,
            scale,
        })
    }

    /// Rounded (half away from zero) to 17 places, trailing zeros and point dropped.
    fn text(self) -> String {
        let mut m = self.mantissa;
        let mut scale = self.scale;
        while scale > PRINTED_PLACES {
            let last = m % 10;
            m /= 10;
            scale -= 1;
            if scale == PRINTED_PLACES && last.abs() >= 5 {
                m += if self.mantissa < 0 { -1 } else { 1 };
            }
        }
        while scale > 0 && m % 10 == 0 {
            m /= 10;
            scale -= 1;
        }
        let digits = m.unsigned_abs().to_string();
        let sign = if m < 0 { "-" } else { "" };
        if scale == 0 {
            return format!("{sign}{digits}");
        }
        let scale = scale as usize;
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        format!("{sign}{int}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(a: &str, b: &str) -> String {
        Decimal::parse(a.as_bytes())
            .unwrap()
            .add(Decimal::parse(b.as_bytes()).unwrap())
            .unwrap()
            .text()
    }

    #[test]
    fn decimal_sums_print_as_redis_prints_its_long_double_sums() {
        assert_eq!(sum("0.1", "0.2"), "0.3");
        assert_eq!(sum("1.5", "0.1"), "1.6");
        assert_eq!(sum("6", "1e3"), "1006");
        assert_eq!(sum("10.50", "-10.5"), "0");
        assert_eq!(sum("-0.5", "0.25"), "-0.25");
        assert_eq!(sum("5.0e3", "2.0e2"), "5200");
        assert_eq!(sum("3", "0.000000000000000001"), "3");
        assert_eq!(sum("0", "0.000000000000000005"), "0.00000000000000001");
        assert_eq!(sum("0", "-0.000000000000000005"), "-0.00000000000000001");
        assert_eq!(sum(".5", "1."), "1.5");
        for bad in [
            "",
            "abc",
            "1.2.3",
            "1e",
            "--1",
            " 1",
            "0x10",
            "1e99999999999",
        ] {
            assert_eq!(Decimal::parse(bad.as_bytes()), None, "{bad:?}");
        }
        assert_eq!(format_float(-0.0), "0");
    }
}
