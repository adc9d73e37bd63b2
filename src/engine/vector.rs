//! Vector-set calls: add, get, remove, search, invalidate, attributes, per-element TTL.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;

use super::api::Engine;
use super::config::EvictionPolicy;
use super::filter::Filter;
use super::types::*;
use crate::error::{Error, Result};
use crate::store::record::AddRec;
use crate::store::{
    expired, Change, ChangeCause, EntryRef, KeyEntry, LazyNow, PreparedQuery, Record, Removal,
    SetParams, ShardData, Value, VectorSet,
};
use crate::store::{with_scratch, VIndex};

/// Default HNSW M (Redis's).
pub(crate) const DEFAULT_M: usize = 16;
/// Default HNSW ef_construction (Redis's build EF).
pub(crate) const DEFAULT_EF_CONSTRUCTION: usize = 200;
/// Accounted bytes of a set's own key entry and headers.
const SET_OVERHEAD: u64 =
    std::mem::size_of::<Option<KeyEntry>>() as u64 + std::mem::size_of::<VectorSet>() as u64 + 64;

impl Engine {
    fn check_element(&self, element: &[u8]) -> Result<()> {
        let limit = self.store.cfg.limits.max_element_bytes;
        if element.len() > limit {
            return Err(Error::TooLarge {
                arg: "element",
                len: element.len(),
                limit,
            });
        }
        Ok(())
    }

    fn check_vector(&self, v: &[f32]) -> Result<()> {
        if v.is_empty() {
            return Err(Error::invalid("vector", "at least one component"));
        }
        let max = self.store.cfg.limits.max_dim;
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

    fn check_attrs(&self, json: &str) -> Result<()> {
        let limit = self.store.cfg.limits.max_attributes_bytes;
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

    /// Adds or updates one element; creates the set on first add. True when the element is new.
    pub fn vadd(&self, key: &[u8], opts: &VectorSetOptions, add: ElementAdd<'_>) -> Result<bool> {
        self.vadd_many(key, opts, std::slice::from_ref(&add))
            .map(|n| n == 1)
    }

    /// Adds many elements at once; all validated before any is applied. Returns how many were new.
    /// With [`crate::EngineConfig::vector_dimension`] set, every vector must have that
    /// dimension.
    pub fn vadd_many(
        &self,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
    ) -> Result<usize> {
        if let Some(expected) = self.store.cfg.vector_dimension {
            if let Some(a) = adds.iter().find(|a| a.vector.len() != expected) {
                return Err(Error::ConfiguredDimension {
                    expected,
                    got: a.vector.len(),
                });
            }
        }
        self.vadd_logged(key, opts, adds)
    }

    /// [`Engine::vadd_many`] without the configured-dimension check: recovery replays what
    /// was logged, whatever the dimension configured now.
    pub(crate) fn vadd_logged(
        &self,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
    ) -> Result<usize> {
        self.check_key(key)?;
        let Some(first) = adds.first() else {
            return Ok(0);
        };
        let dim = first.vector.len();
        for a in adds {
            self.check_element(a.element)?;
            self.check_vector(a.vector)?;
            if a.vector.len() != dim {
                return Err(Error::DimensionMismatch {
                    expected: dim,
                    got: a.vector.len(),
                });
            }
            if let AttrUpdate::Set(json) = a.attributes {
                self.check_attrs(json)?;
            }
            self.resolve_expiry(a.expiry, self.store.now_ms(), None)?;
        }
        if let Some(m) = opts.m {
            if !(2..=512).contains(&m) {
                return Err(Error::invalid("m", format!("2..=512, got {m}")));
            }
        }
        if let Some(ef) = opts.ef_construction {
            if !(1..=100_000).contains(&ef) {
                return Err(Error::invalid(
                    "ef_construction",
                    format!("1..=100000, got {ef}"),
                ));
            }
        }
        let (h, shard) = self.locate(key);
        let n = self.retry_oom(|| {
            let mut data = shard.data.write();
            self.vadd_locked(shard, &mut data, h, key, opts, adds)
        })?;
        self.store.enforce_caps();
        self.store.wait_durable()?;
        Ok(n)
    }

    fn vadd_locked(
        &self,
        shard: &crate::store::Shard,
        data: &mut ShardData,
        h: u64,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
    ) -> Result<usize> {
        let store = &self.store;
        let now = store.now_ms();
        let dim = adds[0].vector.len();
        let mut slot = data.find(h, key);
        if let Some(s) = slot {
            if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                store.remove_key(data, s, Removal::Expired);
                slot = None;
            }
        }
        let params = match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
            Some(Value::Blob { .. }) => return Err(Error::WrongType),
            Some(Value::VSet(set)) => {
                let p = set.params;
                let conflict = |what: &str, set: &str, asked: &str| {
                    Err(Error::Conflict(format!(
                        "the set was created with {what} {set}; this add asks for {asked}"
                    )))
                };
                if let Some(m) = opts.metric.filter(|&m| m != p.metric) {
                    return conflict("metric", p.metric.name(), m.name());
                }
                if let Some(s) = opts.storage.filter(|&s| s != p.storage) {
                    return conflict("storage", p.storage.name(), s.name());
                }
                if let Some(m) = opts.m.filter(|&m| m != p.m) {
                    return conflict("M", &p.m.to_string(), &m.to_string());
                }
                if dim != p.dim {
                    return Err(Error::DimensionMismatch {
                        expected: p.dim,
                        got: dim,
                    });
                }
                p
            }
            None => SetParams {
                dim,
                metric: opts.metric.unwrap_or_default(),
                storage: opts.storage.unwrap_or(store.cfg.default_storage_mode),
                m: opts.m.unwrap_or(DEFAULT_M),
                ef_construction: opts.ef_construction.unwrap_or(DEFAULT_EF_CONSTRUCTION),
            },
        };
        // A zero vector is stored as Redis stores it: under cosine it has no direction, so
        // it scores 0.5 (cosine 0) against every query.
        // Look every element up once: its name hash, and its slot and expiry when it exists.
        let hashes: Vec<u64> = adds.iter().map(|a| store.hash(a.element)).collect();
        let found: Vec<Option<(u32, u64)>> =
            match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
                Some(Value::VSet(set)) => adds
                    .iter()
                    .zip(&hashes)
                    .map(|(a, &eh)| {
                        let s = set.find(eh, a.element)?;
                        set.elem(s).map(|e| (s, e.expires_at))
                    })
                    .collect(),
                _ => vec![None; adds.len()],
            };
        // Room: count the new elements and their bytes before changing anything.
        let (new_entries, new_bytes) = match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
            Some(Value::VSet(set)) => {
                adds.iter()
                    .zip(&found)
                    .fold((0u64, 0u64), |(n, b), (a, f)| {
                        if f.is_some() {
                            (n, b)
                        } else {
                            let al = match a.attributes {
                                AttrUpdate::Set(j) => j.len(),
                                _ => 0,
                            };
                            (n + 1, b + set.element_bytes(a.element.len(), al))
                        }
                    })
            }
            _ => {
                let probe = VectorSet::new(params, 0);
                let b = adds
                    .iter()
                    .map(|a| probe.element_bytes(a.element.len(), 0))
                    .sum::<u64>();
                (adds.len() as u64, b + SET_OVERHEAD)
            }
        };
        store.check_room(new_entries, new_bytes)?;
        // Resolve every expiry first: the record carries absolute times.
        let mut resolved = Vec::with_capacity(adds.len());
        for (a, f) in adds.iter().zip(&found) {
            let current = f.map(|(_, at)| at).filter(|&at| !expired(at, now));
            resolved.push(self.resolve_expiry(a.expiry, now, current)?);
        }
        if !store.logging() {
            store.count_lsn();
        } else {
            store.log(&Record::VAdd {
                key,
                params,
                adds: adds
                    .iter()
                    .zip(&resolved)
                    .map(|(a, &at)| AddRec {
                        name: a.element,
                        vector: std::borrow::Cow::Borrowed(a.vector),
                        attrs: match a.attributes {
                            AttrUpdate::Keep => None,
                            AttrUpdate::Clear => Some(None),
                            AttrUpdate::Set(j) => Some(Some(j)),
                        },
                        expires_at: at,
                    })
                    .collect(),
            })?;
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                let s = data.insert(KeyEntry {
                    key: key.into(),
                    hash: h,
                    expires_at: 0,
                    value: Value::VSet(Box::new(VectorSet::new(params, store.next_uid()))),
                    bytes: SET_OVERHEAD,
                });
                store.counters.keys.fetch_add(1, Ordering::Relaxed);
                store.counters.vsets.fetch_add(1, Ordering::Relaxed);
                store.account(0, SET_OVERHEAD as i64);
                s
            }
        };
        // An element whose TTL passed does not exist: reclaim it so the add counts as new.
        let stale: Vec<EntryRef> = found
            .iter()
            .flatten()
            .filter(|&&(_, at)| expired(at, now))
            .map(|&(s, _)| EntryRef { key: slot, elem: s })
            .collect();
        for e in stale {
            store.remove_element(data, e, Removal::Expired);
        }
        let mut expiries = Vec::new();
        let mut accesses = Vec::with_capacity(adds.len());
        let mut added = 0usize;
        {
            let entry = data.entry_mut(slot).expect("present");
            let Value::VSet(set) = &mut entry.value else {
                return Err(Error::Internal("set vanished".into()));
            };
            for ((a, &at), &eh) in adds.iter().zip(&resolved).zip(&hashes) {
                let attrs = match a.attributes {
                    AttrUpdate::Keep => None,
                    AttrUpdate::Clear => Some(None),
                    AttrUpdate::Set(j) => Some(Some(j)),
                };
                let tick = store.next_tick();
                let (es, is_new, delta) =
                    set.upsert(a.element, eh, a.vector, attrs, Some(at), tick, now);
                store
                    .feed
                    .report(Change::Element(key, a.element, ChangeCause::Write));
                added += is_new as usize;
                store.account(is_new as i64, delta);
                set.counters.sets.fetch_add(1, Ordering::Relaxed);
                let e = EntryRef {
                    key: slot,
                    elem: es,
                };
                if at != 0 {
                    expiries.push((at, e));
                }
                accesses.push((tick, e));
            }
        }
        {
            let min = store.cfg.index_min_elements;
            let entry = data.entry_mut(slot).expect("present");
            if let Value::VSet(set) = &mut entry.value {
                set.maybe_index(min);
                store.queue_index(&entry.key, set);
            }
        }
        data.entries += added;
        for (at, e) in expiries {
            data.push_expiry(at, e);
        }
        shard.access.lock().extend(accesses);
        store
            .counters
            .events
            .sets
            .fetch_add(adds.len() as u64, Ordering::Relaxed);
        Ok(added)
    }

    /// The element's vector: the exact f32 stored in `exact`/`noquant` mode, dequantized in `q8`.
    pub fn vget(&self, key: &[u8], element: &[u8]) -> Result<Option<Vec<f32>>> {
        let mut out = Vec::new();
        let found = self.vget_inner(key, element, |set, slot| {
            out.resize(set.params.dim, 0.0);
            set.read_vector(slot, &mut out);
            Ok(())
        })?;
        Ok(found.map(|_| out))
    }

    /// Like [`Engine::vget`] into a caller buffer of exactly the set's dimension; false on a miss.
    pub fn vget_into(&self, key: &[u8], element: &[u8], out: &mut [f32]) -> Result<bool> {
        let found = self.vget_inner(key, element, |set, slot| {
            if out.len() != set.params.dim {
                return Err(Error::invalid(
                    "out",
                    format!(
                        "a buffer of the set's dimension {}, got {}",
                        set.params.dim,
                        out.len()
                    ),
                ));
            }
            set.read_vector(slot, out);
            Ok(())
        })?;
        Ok(found.is_some())
    }

    /// Looks one element up under the read lock, counting the hit or miss.
    fn vget_inner(
        &self,
        key: &[u8],
        element: &[u8],
        read: impl FnOnce(&VectorSet, u32) -> Result<()>,
    ) -> Result<Option<()>> {
        self.check_element(element)?;
        let store = &self.store;
        let now = LazyNow::new(store);
        let mut expired_elem = false;
        // One lookup of the key and one of the element under the read lock; the clock is read
        // only when the set or the element has a TTL.
        let r = self.with_set_slot(key, &now, |set, data, slot, shard| {
            if let Some(s) = set.find(store.hash(element), element) {
                let el = set.elem(s).expect("live");
                if now.expired(el.expires_at) {
                    expired_elem = true;
                } else {
                    read(set, s)?;
                    let e = EntryRef { key: slot, elem: s };
                    store.touch(shard, data, e, &el.meta, &now);
                    set.counters.hits.fetch_add(1, Ordering::Relaxed);
                    store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok(Some(()));
                }
            }
            set.counters.misses.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        })?;
        if expired_elem {
            self.reclaim_element_if_expired(key, element);
        }
        match r {
            Some(Some(())) => Ok(Some(())),
            Some(None) | None => {
                store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    fn reclaim_element_if_expired(&self, key: &[u8], element: &[u8]) {
        let now = self.store.now_ms();
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        if let Some(e) = find_elem(&self.store, &data, h, key, element) {
            if data.current_expiry(e).is_some_and(|at| expired(at, now)) {
                self.store.remove_entry(&mut data, e, Removal::Expired);
            }
        }
    }

    /// Many elements of one set; `None` for each miss.
    pub fn vget_many(&self, key: &[u8], elements: &[&[u8]]) -> Result<Vec<Option<Vec<f32>>>> {
        elements.iter().map(|e| self.vget(key, e)).collect()
    }

    /// Removes an element; true when it existed. An emptied set is deleted (as Redis).
    pub fn vrem(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        let now = self.store.now_ms();
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        self.check_set_type(&data, h, key)?;
        let Some(e) = find_elem(&self.store, &data, h, key, element) else {
            return Ok(false);
        };
        let live = !data.current_expiry(e).is_some_and(|at| expired(at, now));
        let why = if live {
            self.store.log(&Record::VRem { key, name: element })?;
            Removal::Deleted
        } else {
            Removal::Expired
        };
        self.store.remove_entry(&mut data, e, why);
        drop(data);
        self.store.wait_durable()?;
        Ok(live)
    }

    fn check_set_type(&self, data: &ShardData, h: u64, key: &[u8]) -> Result<()> {
        match data
            .find(h, key)
            .and_then(|s| data.entry(s))
            .map(|e| &e.value)
        {
            Some(Value::Blob { .. }) => Err(Error::WrongType),
            _ => Ok(()),
        }
    }

    /// Number of live elements (0 for a missing key).
    pub fn vcard(&self, key: &[u8]) -> Result<u64> {
        self.check_key(key)?;
        self.store.reclaim_due(self.locate(key).1);
        Ok(self.with_set(key, |s, _| Ok(s.len() as u64))?.unwrap_or(0))
    }

    /// Dimension of the set; `None` for a missing key.
    pub fn vdim(&self, key: &[u8]) -> Result<Option<usize>> {
        self.with_set(key, |s, _| Ok(s.params.dim))
    }

    /// Description of the set; `None` for a missing key.
    pub fn vinfo(&self, key: &[u8]) -> Result<Option<VectorSetInfo>> {
        self.check_key(key)?;
        self.store.reclaim_due(self.locate(key).1);
        self.with_set(key, |s, _| {
            Ok(VectorSetInfo {
                dim: s.params.dim,
                metric: s.params.metric,
                storage: s.params.storage,
                m: s.params.m,
                ef_construction: s.params.ef_construction,
                size: s.len(),
                attributes_count: s.attrs_count,
                uid: s.uid,
                max_slot: s.slot_capacity() as u64,
                max_level: s
                    .vindex
                    .as_ref()
                    .map_or(0, |ix| ix.graph().stats().max_level),
                index_nodes: s.vindex.as_ref().map_or(0, |ix| ix.graph().len()),
                index_pending: s.vindex.as_ref().map_or(0, |ix| ix.pending_len()),
                index_restored: s.vindex.as_ref().map_or(0, |ix| ix.restored_nodes()),
                memory_bytes: s.bytes + SET_OVERHEAD + s.index_bytes(),
            })
        })
    }

    /// What a key is, the bytes it accounts for and (under `lfu`) its access frequency,
    /// without counting as an access (OBJECT, MEMORY USAGE). `None` for a missing or expired
    /// key.
    pub fn key_info(&self, key: &[u8]) -> Result<Option<KeyInfo>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let now = self.store.now_ms();
        let lfu = self.store.cfg.eviction_policy == EvictionPolicy::Lfu;
        let data = shard.data.read();
        let Some(entry) = data.find(h, key).and_then(|s| data.entry(s)) else {
            return Ok(None);
        };
        if expired(entry.expires_at, now) {
            return Ok(None);
        }
        Ok(Some(match &entry.value {
            Value::Blob { meta, .. } => KeyInfo {
                kind: KeyKind::Blob,
                memory_bytes: entry.bytes,
                lfu_frequency: lfu.then(|| meta.frequency(now)),
                storage: None,
            },
            Value::VSet(s) => KeyInfo {
                kind: KeyKind::VectorSet,
                memory_bytes: s.bytes + SET_OVERHEAD + s.index_bytes(),
                lfu_frequency: lfu.then(|| {
                    s.live_slots()
                        .filter_map(|slot| s.elem(slot))
                        .filter(|e| !expired(e.expires_at, now))
                        .map(|e| e.meta.frequency(now))
                        .max()
                        .unwrap_or(0)
                }),
                storage: Some(s.params.storage),
            },
        }))
    }

    /// Sets (`Some(text)`, stored as given: FILTER reads it as a JSON object; an empty string
    /// clears) or clears (`None`) attributes;
    /// false when the element does not exist.
    pub fn vset_attr(&self, key: &[u8], element: &[u8], json: Option<&str>) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        if let Some(j) = json.filter(|j| !j.is_empty()) {
            self.check_attrs(j)?;
        }
        let now = self.store.now_ms();
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        self.check_set_type(&data, h, key)?;
        let Some(e) = find_elem(&self.store, &data, h, key, element) else {
            return Ok(false);
        };
        if data.current_expiry(e).is_some_and(|at| expired(at, now)) {
            self.store.remove_entry(&mut data, e, Removal::Expired);
            return Ok(false);
        }
        let grow = json.map_or(0, |j| j.len() as u64 + 32);
        self.store.check_room(0, grow)?;
        let attrs = json.filter(|j| !j.is_empty());
        self.store.log(&Record::VSetAttr {
            key,
            name: element,
            attrs,
        })?;
        let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) else {
            return Err(Error::Internal("set vanished".into()));
        };
        let delta = set.set_attrs(e.elem, attrs);
        self.store
            .feed
            .report(Change::Element(key, element, ChangeCause::Write));
        self.store.account(0, delta);
        drop(data);
        self.store.enforce_caps();
        self.store.wait_durable()?;
        Ok(true)
    }

    /// The element's attributes; `None` when the element or its attributes are missing.
    pub fn vget_attr(&self, key: &[u8], element: &[u8]) -> Result<Option<String>> {
        self.check_element(element)?;
        let now = self.store.now_ms();
        let eh = self.store.hash(element);
        Ok(self
            .with_set(key, |set, _| {
                Ok(set
                    .find(eh, element)
                    .and_then(|s| set.elem(s))
                    .filter(|e| !expired(e.expires_at, now))
                    .and_then(|e| e.attrs.as_deref().map(str::to_owned)))
            })?
            .flatten())
    }

    /// Random elements: `count > 0` distinct (at most the set's size), `count < 0` may repeat
    /// (exactly |count|), as Redis's VRANDMEMBER.
    pub fn vrandmember(&self, key: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
        let now = self.store.now_ms();
        let store = &self.store;
        Ok(self
            .with_set(key, |set, _| {
                let live = |s: u32| set.elem(s).filter(|e| !expired(e.expires_at, now));
                let mut out = Vec::new();
                if count >= 0 {
                    let want = (count as u64).min(set.len() as u64) as usize;
                    if want * 2 >= set.len() {
                        let mut all: Vec<u32> = set.live_slots().collect();
                        for i in (1..all.len()).rev() {
                            all.swap(i, (store.random() % (i as u64 + 1)) as usize);
                        }
                        out.extend(
                            all.into_iter()
                                .filter_map(live)
                                .take(want)
                                .map(|e| e.name.to_vec()),
                        );
                    } else {
                        let mut seen = hashbrown::HashSet::new();
                        while out.len() < want {
                            let Some(s) = set.random_slot(store.random()) else {
                                break;
                            };
                            if seen.insert(s) {
                                if let Some(e) = live(s) {
                                    out.push(e.name.to_vec());
                                }
                            }
                            if seen.len() >= set.len() {
                                break;
                            }
                        }
                    }
                } else {
                    let want = count.unsigned_abs().min(1 << 20) as usize;
                    let mut misses = 0;
                    while out.len() < want && misses < want * 4 + 64 {
                        match set.random_slot(store.random()).and_then(live) {
                            Some(e) => out.push(e.name.to_vec()),
                            None => misses += 1,
                        }
                    }
                }
                Ok(out)
            })?
            .unwrap_or_default())
    }

    /// Whether the element exists (and is not expired).
    pub fn vismember(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        Ok(self.vttl(key, element)? != TtlState::Missing)
    }

    fn prepare(&self, set: &VectorSet, query: Query<'_>) -> Result<PreparedQuery> {
        match query {
            Query::Vector(v) => {
                self.check_vector(v)?;
                if v.len() != set.params.dim {
                    return Err(Error::DimensionMismatch {
                        expected: set.params.dim,
                        got: v.len(),
                    });
                }
                Ok(set.prepare_query(v))
            }
            Query::Element(name) => {
                let s = set
                    .find(self.store.hash(name), name)
                    .ok_or_else(|| Error::NotFound {
                        what: format!("element '{}'", String::from_utf8_lossy(name)),
                    })?;
                let mut v = vec![0f32; set.params.dim];
                set.read_vector(s, &mut v);
                Ok(set.prepare_query(&v))
            }
        }
    }

    /// Top-k most similar elements, best first. An empty list for a missing key.
    pub fn vsearch(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
    ) -> Result<Vec<SearchHit>> {
        self.vsearch_where(key, query, params, None)
    }

    /// As [`Engine::vsearch`], keeping only elements whose attributes pass `filter` (Redis's
    /// `VSIM … FILTER`), with `filter_ef` as Redis's FILTER-EF: through the graph, at most
    /// this many candidates are examined (0: `count × 100`); an exhaustive search (or a set
    /// without a graph) examines every element.
    pub fn vsearch_filtered(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
        filter: &Filter,
        filter_ef: usize,
    ) -> Result<Vec<SearchHit>> {
        let ef = match filter_ef {
            0 => params.count.saturating_mul(100),
            n => n,
        };
        self.vsearch_where(key, query, params, Some((filter, ef)))
    }

    fn vsearch_where(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
        filter: Option<(&Filter, usize)>,
    ) -> Result<Vec<SearchHit>> {
        let now = self.store.now_ms();
        Ok(self
            .with_set(key, |set, _| {
                let q = self.prepare(set, query)?;
                let keep = |s: u32| {
                    filter.is_none_or(|(f, _)| {
                        set.elem(s).is_some_and(|e| f.matches(e.attrs.as_deref()))
                    })
                };
                let hits = match &set.vindex {
                    Some(ix) if !params.exhaustive && params.count > 0 => {
                        let examine = filter.map_or(usize::MAX, |(_, ef)| ef.max(params.count));
                        graph_top_k(set, ix, &q, params, now, &keep, examine)?
                    }
                    _ => top_k(set, &q, params.count, params.min_score, now, &keep),
                };
                Ok(hits
                    .into_iter()
                    .map(|(score, s)| {
                        let e = set.elem(s).expect("live");
                        SearchHit {
                            element: e.name.to_vec(),
                            score,
                            attributes: if params.with_attributes {
                                e.attrs.as_deref().map(str::to_owned)
                            } else {
                                None
                            },
                        }
                    })
                    .collect())
            })?
            .unwrap_or_default())
    }

    /// Removes, atomically with respect to other writes to the set, every element whose
    /// score against `query` is `>= threshold` (metric units). Names come back only when
    /// `return_removed`.
    pub fn invalidate_similar(
        &self,
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool,
    ) -> Result<Invalidated> {
        self.invalidate_similar_where(key, query, threshold, return_removed, None)
    }

    /// As [`Engine::invalidate_similar`], removing only elements whose attributes also pass
    /// `filter` (when given): e.g. every cached embedding near a query that came from one
    /// source.
    pub fn invalidate_similar_where(
        &self,
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool,
        filter: Option<&Filter>,
    ) -> Result<Invalidated> {
        self.check_key(key)?;
        if !threshold.is_finite() {
            return Err(Error::invalid("threshold", "a finite number"));
        }
        let now = self.store.now_ms();
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        let Some(slot) = data.find(h, key) else {
            return Ok(Invalidated::default());
        };
        let victims: Vec<(f32, u32)> = {
            let entry = data.entry(slot).expect("found");
            if expired(entry.expires_at, now) {
                return Ok(Invalidated::default());
            }
            let Value::VSet(set) = &entry.value else {
                return Err(Error::WrongType);
            };
            let q = self.prepare(set, query)?;
            let mut v: Vec<(f32, u32)> = set
                .live_slots()
                .map(|s| (set.score(s, &q), s))
                .filter(|&(score, s)| {
                    score >= threshold
                        && filter.is_none_or(|f| {
                            set.elem(s).is_some_and(|e| f.matches(e.attrs.as_deref()))
                        })
                })
                .collect();
            v.sort_by(|a, b| b.0.total_cmp(&a.0));
            v
        };
        let mut out = Invalidated {
            count: victims.len(),
            removed: Vec::new(),
        };
        for (score, s) in victims {
            if let Some(Value::VSet(set)) = data.entry(slot).map(|e| &e.value) {
                if let Some(e) = set.elem(s) {
                    self.store.log(&Record::VRem { key, name: &e.name })?;
                    if return_removed {
                        out.removed.push(SearchHit {
                            element: e.name.to_vec(),
                            score,
                            attributes: e.attrs.as_deref().map(str::to_owned),
                        });
                    }
                }
            }
            self.store
                .remove_entry(&mut data, EntryRef { key: slot, elem: s }, Removal::Deleted);
        }
        drop(data);
        self.store.wait_durable()?;
        Ok(out)
    }

    /// Sets the expiry of one element (relative, absolute, or `Never`); false when it does not
    /// exist. An expiry in the past removes the element.
    pub fn vexpire(&self, key: &[u8], element: &[u8], expiry: Expiry) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        let now = self.store.now_ms();
        let at = Self::expire_target(expiry, now)?;
        let (h, shard) = self.locate(key);
        let mut data = shard.data.write();
        self.check_set_type(&data, h, key)?;
        let Some(e) = find_elem(&self.store, &data, h, key, element) else {
            return Ok(false);
        };
        if data.current_expiry(e).is_some_and(|t| expired(t, now)) {
            self.store.remove_entry(&mut data, e, Removal::Expired);
            return Ok(false);
        }
        self.store.log(&Record::VExpire {
            key,
            name: element,
            at,
        })?;
        if at != 0 && at <= now {
            self.store.remove_entry(&mut data, e, Removal::Deleted);
        } else {
            if let Some(Value::VSet(set)) = data.entry_mut(e.key).map(|en| &mut en.value) {
                if let Some(el) = set.elem_mut(e.elem) {
                    el.expires_at = at;
                    self.store
                        .feed
                        .report(Change::Element(key, element, ChangeCause::Write));
                }
            }
            data.push_expiry(at, e);
        }
        drop(data);
        self.store.wait_durable()?;
        Ok(true)
    }

    /// Remaining TTL of one element.
    pub fn vttl(&self, key: &[u8], element: &[u8]) -> Result<TtlState> {
        self.check_element(element)?;
        let now = self.store.now_ms();
        let eh = self.store.hash(element);
        Ok(self
            .with_set(key, |set, _| {
                Ok(match set.find(eh, element).and_then(|s| set.elem(s)) {
                    None => TtlState::Missing,
                    Some(e) if expired(e.expires_at, now) => TtlState::Missing,
                    Some(e) if e.expires_at == 0 => TtlState::NoExpiry,
                    Some(e) => TtlState::ExpiresInMs(e.expires_at - now),
                })
            })?
            .unwrap_or(TtlState::Missing))
    }

    /// Removes one element's expiry; true when it had one.
    pub fn vpersist(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        match self.vttl(key, element)? {
            TtlState::ExpiresInMs(_) => self.vexpire(key, element, Expiry::Never),
            _ => Ok(false),
        }
    }
}

fn find_elem(
    store: &crate::store::Store,
    data: &ShardData,
    h: u64,
    key: &[u8],
    element: &[u8],
) -> Option<EntryRef> {
    let slot = data.find(h, key)?;
    let Value::VSet(set) = &data.entry(slot)?.value else {
        return None;
    };
    let s = set.find(store.hash(element), element)?;
    Some(EntryRef { key: slot, elem: s })
}

/// Min-heap item for top-k: the worst kept hit on top.
struct Worst(f32, u32);
impl PartialEq for Worst {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == CmpOrdering::Equal
    }
}
impl Eq for Worst {}
impl PartialOrd for Worst {
    fn partial_cmp(&self, o: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(o))
    }
}
impl Ord for Worst {
    fn cmp(&self, o: &Self) -> CmpOrdering {
        o.0.total_cmp(&self.0).then(self.1.cmp(&o.1))
    }
}

/// Top-k through the HNSW graph, plus an exact scan of the elements not indexed yet; best
/// first. Graph hits that are stale (updated or removed since indexing) are dropped.
/// Top-k through the graph of the live elements that `keep` accepts, asking the graph for at
/// most `examine` candidates.
fn graph_top_k(
    set: &VectorSet,
    ix: &VIndex,
    q: &PreparedQuery,
    params: &SearchParams,
    now: u64,
    keep: &impl Fn(u32) -> bool,
    examine: usize,
) -> Result<Vec<(f32, u32)>> {
    let k = params.count;
    let most = set.len().max(1).min(examine.max(1));
    // Ask the graph for exactly k (so `ef` means what it means to hnswlib or Redis); only when
    // hits were dropped as stale, expired or filtered out and fewer than k remain, ask again
    // for more.
    let mut want = k.min(most);
    let mut cands = Vec::with_capacity(want + 16);
    loop {
        cands.clear();
        let mut graph_hits = 0;
        let pending = with_scratch(|scratch| -> Result<Vec<u32>> {
            let graph = ix.graph();
            // An `exact` set's graph scores with INT8 codes: take all `ef` candidates and
            // rerank them from the set's f32, as `index::Mode::Exact` does inside the graph.
            let ef = match params.ef {
                0 => graph.params().ef_search,
                ef => ef,
            };
            let sp = crate::index::SearchParams {
                k: if ix.reranks() { want.max(ef) } else { want },
                ef: params.ef,
                exhaustive: false,
            };
            let hits = graph.search(&q.v, sp, scratch)?;
            graph_hits = hits.len();
            Ok(ix.filter(hits, &mut cands))
        })?;
        let mut dropped = graph_hits - cands.len();
        if ix.reranks() {
            // The f32 rows are seldom cached and each is read once: ask for all of them first.
            for c in &cands {
                set.prefetch(c.1);
            }
            for c in cands.iter_mut() {
                c.0 = set.score(c.1, q);
            }
        }
        for s in pending {
            if set.elem(s).is_some() {
                cands.push((set.score(s, q), s));
            }
        }
        cands.retain(|&(score, s)| {
            let live = set.elem(s).is_some_and(|e| !expired(e.expires_at, now)) && keep(s);
            dropped += usize::from(!live);
            live && params.min_score.is_none_or(|m| score >= m)
        });
        if cands.len() >= k || dropped == 0 || want >= most {
            break;
        }
        want = want.saturating_mul(2).saturating_add(dropped).min(most);
    }
    cands.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    cands.dedup_by_key(|c| c.1);
    cands.truncate(k);
    Ok(cands)
}

/// Exact top-k by a scan of every live, unexpired slot; best first.
fn top_k(
    set: &VectorSet,
    q: &PreparedQuery,
    k: usize,
    min_score: Option<f32>,
    now: u64,
    keep: &impl Fn(u32) -> bool,
) -> Vec<(f32, u32)> {
    if k == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Worst> = BinaryHeap::with_capacity(k.min(set.len()) + 1);
    for s in set.live_slots() {
        if set.elem(s).is_some_and(|e| expired(e.expires_at, now)) || !keep(s) {
            continue;
        }
        let score = set.score(s, q);
        if min_score.is_some_and(|m| score < m) {
            continue;
        }
        if heap.len() < k {
            heap.push(Worst(score, s));
        } else if heap.peek().is_some_and(|w| score > w.0) {
            heap.pop();
            heap.push(Worst(score, s));
        }
    }
    let mut v: Vec<(f32, u32)> = heap.into_iter().map(|w| (w.0, w.1)).collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    v
}
