//! Redis's DUMP and RESTORE: a key's value as Redis's DUMP payload (`crate::rdb`), and a
//! payload written back as a key through the engine's own write calls (validated as any
//! write is), logged as one group: after a crash the restored key is there whole or not at
//! all.
//!
//! Strings and hashes carry exactly; a vector set is written in Redis 8's form for its
//! storage: `q8` as Redis's int8 codes (the stored codes), `bin` as its bits, `exact` and
//! `noquant` as f32 (the unit vector and its norm: Redis's `NOQUANT`, so an `exact` set
//! comes back `noquant`). Per-element TTLs (this server's own) are not in Redis's format
//! and are not carried. The set's HNSW graph goes in Redis's node form (reciprocal links
//! within Redis's caps), and a restored set gets its graph from the indexer, once the
//! payload's graph has passed Redis's checks.

use super::api::Engine;
use super::types::*;
use crate::error::{Error, Result};
use crate::index::{Hit, Slot};
use crate::rdb::{self, VSet, VSetNode};
use crate::store::{expired, Appends};
use crate::vocab::{Metric, StorageMode};

/// Why RESTORE refused a payload (nothing was changed), with Redis's texts as `Display`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayloadRefusal {
    /// Redis's `DUMP payload version or checksum are wrong`: the footer names an RDB
    /// version above the newest known, or the checksum does not match.
    VersionOrChecksum,
    /// Redis's `Bad data format`, with what is wrong (for logs; Redis says no more).
    BadFormat(String),
}

impl std::fmt::Display for PayloadRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PayloadRefusal::VersionOrChecksum => {
                f.write_str("DUMP payload version or checksum are wrong")
            }
            PayloadRefusal::BadFormat(_) => f.write_str("Bad data format"),
        }
    }
}

/// What [`Engine::restore`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Restored {
    /// The key holds the payload's value now.
    Written,
    /// The key exists and REPLACE was not asked: nothing changed (Redis's BUSYKEY).
    BusyKey,
    /// The TTL had already passed: the key was not created (an existing one was removed
    /// under REPLACE), as Redis does.
    AlreadyExpired,
    /// The payload was refused; nothing changed.
    Refused(PayloadRefusal),
}

/// RESTORE's options.
#[derive(Clone, Copy, Debug, Default)]
pub struct RestoreOptions {
    /// Replace an existing key (Redis's REPLACE).
    pub replace: bool,
    /// The key's expiry: `Never` (Redis's TTL 0), `InMs`, or `AtMs` (ABSTTL). `Default`
    /// counts as `Never`: a restored key has the TTL it is given, as in Redis.
    pub expiry: Expiry,
}

impl From<rdb::Error> for PayloadRefusal {
    fn from(e: rdb::Error) -> Self {
        match e {
            rdb::Error::VersionOrChecksum => PayloadRefusal::VersionOrChecksum,
            rdb::Error::BadFormat(why) => PayloadRefusal::BadFormat(why),
            e @ rdb::Error::Unsupported(_) => PayloadRefusal::BadFormat(e.to_string()),
        }
    }
}

/// The unit vector and norm of `v` (the vector itself when its norm is 0), as f32.
fn unit_and_norm(v: &[f32]) -> (Vec<f32>, f64) {
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let unit = v
        .iter()
        .map(|&x| {
            if norm > 0.0 {
                (f64::from(x) / norm) as f32
            } else {
                x
            }
        })
        .collect();
    (unit, norm)
}

/// Redis's projection matrix for `input` → `dim` (`createProjectionMatrix`).
fn projection_matrix(input: usize, dim: usize) -> Vec<f32> {
    let scale = (1.0 / (input as f64).sqrt()) as f32;
    let mut m = Vec::with_capacity(input * dim);
    for i in 0..dim {
        for j in 0..input {
            let sign = if (i & j).count_ones() % 2 == 0 {
                1.0
            } else {
                -1.0
            };
            m.push(sign * scale);
        }
    }
    m
}

impl Engine {
    /// The key's value as Redis's DUMP payload; `None` when the key does not exist. A vector
    /// set's graph is brought up to date first (and built for a small set, as VLINKS does),
    /// so that the payload carries a graph a Redis can search. `Unsupported` for a vector
    /// set whose metric is not cosine (Redis's vector sets are cosine only).
    pub fn dump(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = match self.key_type(key) {
            None => return Ok(None),
            Some(KeyKind::Blob) => self.get(key)?.map(rdb::Value::String),
            Some(KeyKind::Hash) => {
                let pairs = self.hgetall(key)?;
                (!pairs.is_empty()).then_some(rdb::Value::Hash(pairs))
            }
            Some(KeyKind::VectorSet) => {
                self.graph_now(key, true)?;
                self.dump_set(key)?.map(rdb::Value::VSet)
            }
        };
        Ok(value.map(|v| rdb::encode(&v)))
    }

    /// A vector set in Redis's serialized form, read under its shard's read lock.
    fn dump_set(&self, key: &[u8]) -> Result<Option<VSet>> {
        let now = self.store.now_ms();
        self.with_set(key, |set, _| {
            let p = set.params;
            if p.metric != Metric::Cosine {
                return Err(Error::Unsupported(format!(
                    "DUMP of a vector set whose metric is {}: Redis's vector sets are cosine only",
                    p.metric
                )));
            }
            let live: Vec<u32> = set
                .live_slots()
                .filter(|&s| set.elem(s).is_some_and(|e| !expired(e.expires_at, now)))
                .collect();
            // Slots whose graph node is their live version, and their links (level 0 first).
            let mut linked: hashbrown::HashMap<u32, Vec<Vec<u64>>> = hashbrown::HashMap::new();
            if let Some(ix) = &set.vindex {
                let hits: Vec<Hit> = live
                    .iter()
                    .map(|&s| Hit {
                        slot: Slot(s),
                        score: 0.0,
                    })
                    .collect();
                let mut current = Vec::with_capacity(hits.len());
                ix.filter(&hits, &mut current);
                let current: hashbrown::HashSet<u32> = current.iter().map(|&(_, s)| s).collect();
                let graph = ix.graph();
                for &s in &current {
                    if let Some(levels) = graph.links(Slot(s)) {
                        let levels = levels
                            .iter()
                            .map(|l| {
                                l.iter()
                                    .filter(|n| current.contains(&n.0))
                                    .map(|n| u64::from(n.0) + 1)
                                    .collect()
                            })
                            .collect();
                        linked.insert(s, levels);
                    }
                }
            }
            let quant = match p.storage {
                StorageMode::Q8 => rdb::vset::QUANT_Q8,
                StorageMode::Bin => rdb::vset::QUANT_BIN,
                StorageMode::Exact | StorageMode::NoQuant => rdb::vset::QUANT_F32,
            };
            let mut v = vec![0f32; p.dim];
            let mut nodes = Vec::with_capacity(live.len());
            for &s in &live {
                let Some(e) = set.elem(s) else { continue };
                set.read_vector(s, &mut v);
                let (unit, norm) = unit_and_norm(&v);
                let (vector, l2, range) = match quant {
                    rdb::vset::QUANT_Q8 => {
                        let range = unit.iter().fold(0f32, |m, u| m.max(u.abs()));
                        let codes = unit
                            .iter()
                            .map(|u| {
                                let q = if range > 0.0 {
                                    (u / range * 127.0).round()
                                } else {
                                    0.0
                                };
                                q.clamp(-127.0, 127.0) as i8 as u8
                            })
                            .collect();
                        (codes, norm as f32, range)
                    }
                    rdb::vset::QUANT_BIN => {
                        let mut bits = vec![0i8; set.code_row()];
                        crate::store::sign_bits(&v, &mut bits);
                        (
                            bits.into_iter().map(|b| b as u8).collect(),
                            set.norm(s),
                            0.0,
                        )
                    }
                    _ => (
                        unit.iter().flat_map(|x| x.to_le_bytes()).collect(),
                        norm as f32,
                        0.0,
                    ),
                };
                nodes.push(VSetNode {
                    name: e.name.to_vec(),
                    attrs: e.attrs.as_deref().map(|a| a.as_bytes().to_vec()),
                    vector,
                    l2,
                    range,
                    id: u64::from(s) + 1,
                    links: linked.remove(&s).unwrap_or_else(|| vec![Vec::new()]),
                });
            }
            if nodes.is_empty() {
                return Ok(None);
            }
            Ok(Some(VSet {
                dim: p.dim as u32,
                quant,
                m: p.m as u32,
                projection_input: p.projection as u32,
                matrix: if p.projection > 0 {
                    projection_matrix(p.projection, p.dim)
                } else {
                    Vec::new()
                },
                nodes,
            }))
        })
        .map(Option::flatten)
    }

    /// The body of [`Engine::restore`].
    pub(crate) fn restore_in(
        &self,
        to: &Appends,
        key: &[u8],
        payload: &[u8],
        opts: RestoreOptions,
    ) -> Result<Restored> {
        self.check_key(key)?;
        let value = match rdb::decode(payload) {
            Ok(v) => v,
            Err(e) => return Ok(Restored::Refused(e.into())),
        };
        if let rdb::Value::VSet(set) = &value {
            if let Err(why) = self.check_restorable(set) {
                return Ok(Restored::Refused(PayloadRefusal::BadFormat(why)));
            }
        }
        let exists = self.exists(&[key]) > 0;
        if exists && !opts.replace {
            return Ok(Restored::BusyKey);
        }
        let now = self.store.now_ms();
        let at = match opts.expiry {
            Expiry::InMs(ms) => Some(now.saturating_add(ms)),
            Expiry::AtMs(t) => Some(t),
            _ => None,
        };
        self.store.grouped(to, true, |to| {
            if at.is_some_and(|t| t <= now) {
                if exists {
                    self.del_in(to, &[key])?;
                }
                return Ok(Restored::AlreadyExpired);
            }
            if exists {
                self.del_in(to, &[key])?;
            }
            let expiry = at.map_or(Expiry::Never, Expiry::AtMs);
            match &value {
                rdb::Value::String(s) => {
                    let opts = SetOptions {
                        expiry,
                        ..SetOptions::default()
                    };
                    self.set_in(to, key, s, opts)?;
                }
                rdb::Value::Hash(pairs) => {
                    let pairs: Vec<(&[u8], &[u8])> =
                        pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                    self.hset_in(to, key, &pairs)?;
                    self.set_key_expiry(to, key, expiry)?;
                }
                rdb::Value::VSet(set) => {
                    self.restore_set(to, key, set)?;
                    self.set_key_expiry(to, key, expiry)?;
                }
            }
            Ok(Restored::Written)
        })?
    }

    /// Gives a key the expiry it was restored with: `AtMs`, or none (a new hash or set may
    /// have been given the default TTL by its first write).
    fn set_key_expiry(&self, to: &Appends, key: &[u8], expiry: Expiry) -> Result<()> {
        match expiry {
            Expiry::AtMs(_) => {
                self.expire_in(to, key, expiry)?;
            }
            _ => {
                if !matches!(self.ttl(key), TtlState::NoExpiry | TtlState::Missing) {
                    self.persist_in(to, key)?;
                }
            }
        }
        Ok(())
    }

    /// What the engine refuses of a payload's set that Redis's format allows, checked before
    /// anything is written: a projection other than Redis's matrix (the only one a set here
    /// keeps), attributes that are not UTF-8 text, and what a write would refuse.
    fn check_restorable(&self, set: &VSet) -> std::result::Result<(), String> {
        let dim = set.dim as usize;
        if set.projection_input > 0 {
            let want = projection_matrix(set.projection_input as usize, dim);
            if want.len() != set.matrix.len()
                || want
                    .iter()
                    .zip(&set.matrix)
                    .any(|(a, b)| (a - b).abs() > 1e-6)
            {
                return Err("a projection matrix other than Redis's".into());
            }
        }
        if let Some(expected) = self.cfg.vector_dimension {
            let given = if set.projection_input > 0 {
                set.projection_input as usize
            } else {
                dim
            };
            if given != expected {
                return Err(format!(
                    "vectors of dimension {given}, but this server's vector dimension is {expected}"
                ));
            }
        }
        for n in &set.nodes {
            if let Some(a) = &n.attrs {
                let a = std::str::from_utf8(a).map_err(|_| "attributes that are not UTF-8")?;
                self.check_attrs(a).map_err(|e| e.to_string())?;
            }
            self.check_element(&n.name).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Adds a payload's elements to a new set of its parameters, each vector as Redis stores
    /// it scaled back by its norm.
    fn restore_set(&self, to: &Appends, key: &[u8], set: &VSet) -> Result<()> {
        let dim = set.dim as usize;
        let storage = match set.quant {
            rdb::vset::QUANT_Q8 => StorageMode::Q8,
            rdb::vset::QUANT_BIN => StorageMode::Bin,
            _ => StorageMode::NoQuant,
        };
        let vectors: Vec<Vec<f32>> = set
            .nodes
            .iter()
            .map(|n| {
                rdb::vset::unit_vector(set.quant, dim, n)
                    .into_iter()
                    .map(|u| u * n.l2)
                    .collect()
            })
            .collect();
        let attrs: Vec<Option<&str>> = set
            .nodes
            .iter()
            .map(|n| n.attrs.as_deref().and_then(|a| std::str::from_utf8(a).ok()))
            .collect();
        let adds: Vec<ElementAdd<'_>> = set
            .nodes
            .iter()
            .zip(&vectors)
            .zip(&attrs)
            .map(|((n, v), a)| ElementAdd {
                element: &n.name,
                vector: v,
                attributes: a.map_or(AttrUpdate::Keep, AttrUpdate::Set),
                expiry: Expiry::Never,
            })
            .collect();
        let opts = VectorSetOptions {
            metric: Some(Metric::Cosine),
            storage: Some(storage),
            m: Some(set.m as usize),
            ..VectorSetOptions::default()
        };
        self.vadd_logged(to, key, &opts, &adds, set.projection_input as usize)?;
        Ok(())
    }
}

/// What [`Engine::rename`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renamed {
    /// The key has the new name (with its value and TTL); one with that name was replaced.
    Done,
    /// The key does not exist (Redis's `ERR no such key`).
    NoSuchKey,
    /// RENAMENX: the new name exists; nothing changed.
    TargetExists,
}

/// A key's whole value as the engine holds it, for COPY and RENAME (nothing is converted:
/// a set keeps its storage, metric, projection, attributes and per-element TTLs).
enum Whole {
    Blob(Vec<u8>),
    Hash(Vec<super::FieldValue>),
    Set(SetCopy),
}

struct SetCopy {
    opts: VectorSetOptions,
    projection: usize,
    elements: Vec<ElementCopy>,
}

/// Name, vector (the set's own dimension), attributes, absolute expiry (0: none).
type ElementCopy = (Vec<u8>, Vec<f32>, Option<String>, u64);

impl Engine {
    /// The key's whole value and its absolute expiry (ms), read under its shard's lock.
    fn whole(&self, key: &[u8]) -> Result<Option<(Whole, Option<u64>)>> {
        let now = self.store.now_ms();
        let value = match self.key_type(key) {
            None => return Ok(None),
            Some(KeyKind::Blob) => self.get(key)?.map(Whole::Blob),
            Some(KeyKind::Hash) => {
                let pairs = self.hgetall(key)?;
                (!pairs.is_empty()).then_some(Whole::Hash(pairs))
            }
            Some(KeyKind::VectorSet) => self
                .with_set(key, |set, _| {
                    let p = set.params;
                    let mut elements = Vec::with_capacity(set.len());
                    for s in set.live_slots() {
                        let Some(e) = set.elem(s) else { continue };
                        if expired(e.expires_at, now) {
                            continue;
                        }
                        let mut v = vec![0f32; p.dim];
                        set.read_vector(s, &mut v);
                        if p.storage == StorageMode::Bin {
                            // ±1 per component, scaled to the norm the element was added with.
                            let k = set.norm(s) / (p.dim as f32).sqrt();
                            v.iter_mut().for_each(|x| *x *= k);
                        }
                        let attrs = e.attrs.as_deref().map(|a| a.to_string());
                        elements.push((e.name.to_vec(), v, attrs, e.expires_at));
                    }
                    Ok((!elements.is_empty()).then_some({
                        Whole::Set(SetCopy {
                            opts: VectorSetOptions {
                                metric: Some(p.metric),
                                storage: Some(p.storage),
                                m: Some(p.m),
                                ef_construction: Some(p.ef_construction),
                                reduce: None,
                            },
                            projection: p.projection,
                            elements,
                        })
                    }))
                })?
                .flatten(),
        };
        let at = match self.ttl(key) {
            TtlState::ExpiresInMs(ms) => Some(now.saturating_add(ms)),
            _ => None,
        };
        Ok(value.map(|v| (v, at)))
    }

    /// Writes `whole` under `key` (which does not exist) with the expiry `at`.
    fn write_whole_in(
        &self,
        to: &Appends,
        key: &[u8],
        whole: &Whole,
        at: Option<u64>,
    ) -> Result<()> {
        let expiry = at.map_or(Expiry::Never, Expiry::AtMs);
        match whole {
            Whole::Blob(v) => {
                let opts = SetOptions {
                    expiry,
                    ..SetOptions::default()
                };
                self.set_in(to, key, v, opts)?;
            }
            Whole::Hash(pairs) => {
                let pairs: Vec<(&[u8], &[u8])> =
                    pairs.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                self.hset_in(to, key, &pairs)?;
                self.set_key_expiry(to, key, expiry)?;
            }
            Whole::Set(set) => {
                let adds: Vec<ElementAdd<'_>> = set
                    .elements
                    .iter()
                    .map(|(name, v, attrs, exp)| ElementAdd {
                        element: name,
                        vector: v,
                        attributes: attrs.as_deref().map_or(AttrUpdate::Keep, AttrUpdate::Set),
                        expiry: if *exp == 0 {
                            Expiry::Never
                        } else {
                            Expiry::AtMs(*exp)
                        },
                    })
                    .collect();
                self.vadd_logged(to, key, &set.opts, &adds, set.projection)?;
                self.set_key_expiry(to, key, expiry)?;
            }
        }
        Ok(())
    }

    /// The body of [`Engine::copy_key`].
    pub(crate) fn copy_key_in(
        &self,
        to: &Appends,
        key: &[u8],
        dst: &[u8],
        db: Option<u32>,
        replace: bool,
    ) -> Result<bool> {
        self.check_key(dst)?;
        let target = match db {
            Some(db) => self.select(db)?,
            None => self.select(self.db())?,
        };
        if target.db() == self.db() && key == dst {
            return Err(Error::invalid(
                "destination",
                "source and destination objects are the same",
            ));
        }
        let Some((whole, at)) = self.whole(key)? else {
            return Ok(false);
        };
        let exists = target.exists(&[dst]) > 0;
        if exists && !replace {
            return Ok(false);
        }
        self.store.grouped(to, true, |to| {
            if exists {
                target.del_in(to, &[dst])?;
            }
            target.write_whole_in(to, dst, &whole, at)?;
            Ok(true)
        })?
    }

    /// The body of [`Engine::rename`].
    pub(crate) fn rename_in(
        &self,
        to: &Appends,
        key: &[u8],
        dst: &[u8],
        nx: bool,
    ) -> Result<Renamed> {
        self.check_key(dst)?;
        let Some((whole, at)) = self.whole(key)? else {
            return Ok(Renamed::NoSuchKey);
        };
        if key == dst {
            return Ok(if nx {
                Renamed::TargetExists
            } else {
                Renamed::Done
            });
        }
        let exists = self.exists(&[dst]) > 0;
        if exists && nx {
            return Ok(Renamed::TargetExists);
        }
        self.store.grouped(to, true, |to| {
            if exists {
                self.del_in(to, &[dst])?;
            }
            self.write_whole_in(to, dst, &whole, at)?;
            self.del_in(to, &[key])?;
            Ok(Renamed::Done)
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EngineConfig;

    fn engine() -> Engine {
        Engine::open(EngineConfig::default()).unwrap()
    }

    fn restore(e: &Engine, key: &[u8], payload: &[u8], replace: bool) -> Restored {
        e.restore(
            key,
            payload,
            RestoreOptions {
                replace,
                expiry: Expiry::Never,
            },
        )
        .unwrap()
    }

    #[test]
    fn strings_and_hashes_come_back_equal_and_busy_keys_are_left_alone() {
        let e = engine();
        e.set(b"s", b"hello", SetOptions::default()).unwrap();
        e.hset(b"h", &[(b"f", b"1"), (b"g", b"two")]).unwrap();
        let s = e.dump(b"s").unwrap().unwrap();
        let h = e.dump(b"h").unwrap().unwrap();
        assert_eq!(e.dump(b"missing").unwrap(), None);
        assert_eq!(restore(&e, b"s", &s, false), Restored::BusyKey);
        assert_eq!(restore(&e, b"s2", &s, false), Restored::Written);
        assert_eq!(e.get(b"s2").unwrap().as_deref(), Some(&b"hello"[..]));
        assert_eq!(restore(&e, b"s2", &h, true), Restored::Written);
        assert_eq!(e.hgetall(b"s2").unwrap(), e.hgetall(b"h").unwrap());
        assert_eq!(e.ttl(b"s2"), TtlState::NoExpiry);
    }

    #[test]
    fn a_vector_set_round_trips_in_each_storage_mode() {
        let e = engine();
        for (key, storage) in [
            (&b"x"[..], StorageMode::Exact),
            (b"q", StorageMode::Q8),
            (b"n", StorageMode::NoQuant),
            (b"b", StorageMode::Bin),
        ] {
            let opts = VectorSetOptions {
                storage: Some(storage),
                ..Default::default()
            };
            for i in 0..40u32 {
                let v = [i as f32 + 1.0, (i % 7) as f32 - 3.0, 0.5, -(i as f32)];
                let name = format!("e{i}");
                let mut add = ElementAdd::new(name.as_bytes(), &v);
                if i % 3 == 0 {
                    add.attributes = AttrUpdate::Set("{\"i\":1}");
                }
                e.vadd(key, &opts, add).unwrap();
            }
            let payload = e.dump(key).unwrap().unwrap();
            let mut copy = key.to_vec();
            copy.extend_from_slice(b":copy");
            assert_eq!(restore(&e, &copy, &payload, false), Restored::Written);
            assert_eq!(e.vcard(&copy).unwrap(), 40);
            assert_eq!(
                e.vget_attr(&copy, b"e3").unwrap().as_deref(),
                Some("{\"i\":1}")
            );
            assert_eq!(e.vget_attr(&copy, b"e4").unwrap(), None);
            let want = if storage == StorageMode::Exact {
                StorageMode::NoQuant
            } else {
                storage
            };
            let info = e.key_info(&copy).unwrap().unwrap();
            assert_eq!(info.storage, Some(want), "{storage:?}");
            for i in 0..40u32 {
                let name = format!("e{i}");
                let a = e.vemb_raw(key, name.as_bytes()).unwrap().unwrap();
                let b = e.vemb_raw(&copy, name.as_bytes()).unwrap().unwrap();
                match (a, b) {
                    (RawEmbedding::Int8 { codes: x, .. }, RawEmbedding::Int8 { codes: y, .. }) => {
                        assert_eq!(x, y)
                    }
                    (RawEmbedding::Bin { bits: x, .. }, RawEmbedding::Bin { bits: y, .. }) => {
                        assert_eq!(x, y)
                    }
                    (
                        RawEmbedding::F32 { unit: x, norm: n },
                        RawEmbedding::F32 { unit: y, norm: m },
                    ) => {
                        assert!((n - m).abs() < 1e-4 * n.max(1.0));
                        for (p, q) in x.iter().zip(&y) {
                            assert!((p - q).abs() < 1e-5);
                        }
                    }
                    other => panic!("forms differ: {other:?}"),
                }
            }
            // The dump of the copy is a valid payload too.
            let again = e.dump(&copy).unwrap().unwrap();
            assert!(rdb::decode(&again).is_ok());
        }
    }

    #[test]
    fn damaged_payloads_are_refused_and_change_nothing() {
        let e = engine();
        e.set(b"s", b"v", SetOptions::default()).unwrap();
        let mut p = e.dump(b"s").unwrap().unwrap();
        let n = p.len();
        p[n - 3] ^= 0x40;
        assert_eq!(
            restore(&e, b"s", &p, true),
            Restored::Refused(PayloadRefusal::VersionOrChecksum)
        );
        assert_eq!(e.get(b"s").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(matches!(
            restore(&e, b"t", b"\x07\x00\x0c\x00\0\0\0\0\0\0\0\0", false),
            Restored::Refused(PayloadRefusal::BadFormat(_))
        ));
        assert_eq!(e.exists(&[b"t"]), 0);
    }

    #[test]
    fn a_ttl_in_the_past_removes_a_replaced_key_and_creates_nothing() {
        let e = engine();
        e.set(b"s", b"v", SetOptions::default()).unwrap();
        let p = e.dump(b"s").unwrap().unwrap();
        let past = RestoreOptions {
            replace: true,
            expiry: Expiry::AtMs(1),
        };
        assert_eq!(e.restore(b"s", &p, past).unwrap(), Restored::AlreadyExpired);
        assert_eq!(e.exists(&[b"s"]), 0);
        let later = RestoreOptions {
            replace: false,
            expiry: Expiry::InMs(60_000),
        };
        assert_eq!(e.restore(b"s", &p, later).unwrap(), Restored::Written);
        assert!(matches!(e.ttl(b"s"), TtlState::ExpiresInMs(ms) if ms > 50_000));
    }
}
