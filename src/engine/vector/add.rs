//! Adding elements: VADD and its batch form (one set, one shard lock, one WAL group).

use std::sync::atomic::Ordering;

use crate::analytics::log::Ev;
use crate::engine::api::Engine;
use crate::engine::types::*;
use crate::error::{Error, Result, SetParam};
use crate::store::record::AddRec;
use crate::store::{
    expired, Appends, Change, ChangeCause, EntryRef, KeyEntry, Record, Removal, SetParams,
    ShardData, Value, VectorSet,
};

/// Accounted bytes of a set's own key entry and headers.
pub(super) const SET_OVERHEAD: u64 =
    std::mem::size_of::<Option<KeyEntry>>() as u64 + std::mem::size_of::<VectorSet>() as u64 + 64;

impl Engine {
    /// The body of [`Engine::vadd`]: its records are appended through `to`, not awaited.
    pub(crate) fn vadd_in(
        &self,
        to: &Appends,
        key: &[u8],
        opts: &VectorSetOptions,
        add: ElementAdd<'_>,
    ) -> Result<bool> {
        self.vadd_many_in(to, key, opts, std::slice::from_ref(&add))
            .map(|n| n == 1)
    }

    /// The body of [`Engine::vadd_many`]: its records are appended through `to`, not awaited.
    pub(crate) fn vadd_many_in(
        &self,
        to: &Appends,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
    ) -> Result<usize> {
        if let Some(expected) = self.cfg.vector_dimension {
            if let Some(a) = adds.iter().find(|a| a.vector.len() != expected) {
                return Err(Error::ConfiguredDimension {
                    expected,
                    got: a.vector.len(),
                });
            }
        }
        self.vadd_logged(to, key, opts, adds, 0)
    }

    /// [`Engine::vadd_many`] without the configured-dimension check: recovery replays what
    /// was logged, whatever the dimension configured now. `projected_from` is a logged set's
    /// projection input dimension (0: none): its vectors are already projected.
    pub(crate) fn vadd_logged(
        &self,
        to: &Appends,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
        projected_from: usize,
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
        if let Some(r) = opts.reduce {
            if !(1..=65_536).contains(&r) {
                return Err(Error::invalid("reduce", format!("1..=65536, got {r}")));
            }
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
            self.vadd_locked(to, &mut data, h, key, opts, adds, projected_from)
        })?;
        self.store.enforce_caps(to);
        Ok(n)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn vadd_locked(
        &self,
        to: &Appends,
        data: &mut ShardData,
        h: u64,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
        projected_from: usize,
    ) -> Result<usize> {
        let store = &self.store;
        let now = store.now_ms();
        let dim = adds[0].vector.len();
        let mut slot = data.find(h, self.ks(), key);
        if let Some(s) = slot {
            if data.entry(s).is_some_and(|e| expired(e.expires_at, now)) {
                // Logged: a replay judges no TTL (`Store::begin_recovery`), so it must be
                // told that this add starts a new set.
                if store.logging() {
                    store.append(to, &Record::DelKey { db: self.ks(), key })?;
                }
                store.remove_key(data, s, Removal::Expired);
                slot = None;
            }
        }
        let mut project = false;
        let params = match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
            Some(Value::Blob { .. } | Value::Hash(_)) => return Err(Error::WrongType),
            Some(Value::VSet(set)) => {
                let p = set.params;
                let conflict =
                    |param, set: &dyn std::fmt::Display, asked: &dyn std::fmt::Display| {
                        Err(Error::Conflict {
                            param,
                            set: set.to_string(),
                            asked: asked.to_string(),
                        })
                    };
                if let Some(m) = opts.metric.filter(|&m| m != p.metric) {
                    return conflict(SetParam::Metric, &p.metric, &m);
                }
                if let Some(s) = opts.storage.filter(|&s| s != p.storage) {
                    return conflict(SetParam::Storage, &p.storage, &s);
                }
                if let Some(m) = opts.m.filter(|&m| m != p.m) {
                    return conflict(SetParam::M, &p.m, &m);
                }
                project = needs_projection(&p, opts.reduce, dim, projected_from)?;
                p
            }
            None => {
                // Redis's REDUCE: the set is made at the reduced dimension and projects.
                let (dim, projection) = match (projected_from, opts.reduce) {
                    (0, Some(r)) => {
                        project = true;
                        (r, dim)
                    }
                    (from, _) => (dim, from),
                };
                let p = SetParams {
                    dim,
                    metric: opts.metric.unwrap_or_default(),
                    storage: opts.storage.unwrap_or(self.cfg.default_storage_mode),
                    m: opts.m.unwrap_or(VectorSetOptions::DEFAULT_M),
                    ef_construction: opts
                        .ef_construction
                        .unwrap_or(VectorSetOptions::DEFAULT_EF_CONSTRUCTION),
                    projection,
                };
                if p.storage == StorageMode::Bin && p.metric != Metric::Cosine {
                    return Err(Error::invalid(
                        "storage",
                        format!(
                            "bin quantization scores by direction: the cosine metric, got {}",
                            p.metric
                        ),
                    ));
                }
                p
            }
        };
        // The projected vectors, when the set projects what it is given.
        let projected: Vec<Vec<f32>> = if project {
            adds.iter()
                .map(|a| crate::store::project(a.vector, params.dim))
                .collect()
        } else {
            Vec::new()
        };
        let projected_adds: Vec<ElementAdd<'_>> = projected
            .iter()
            .zip(adds)
            .map(|(v, a)| ElementAdd { vector: v, ..*a })
            .collect();
        let adds = if project { &projected_adds[..] } else { adds };
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
            // Elements whose TTL passed are replaced, not updated (their attributes go): the
            // replay learns it from their removal, logged first.
            for (a, f) in adds.iter().zip(&found) {
                if f.is_some_and(|(_, at)| expired(at, now)) {
                    store.append(
                        to,
                        &Record::VRem {
                            db: self.ks(),
                            key,
                            name: a.element,
                        },
                    )?;
                }
            }
            store.append(
                to,
                &Record::VAdd {
                    db: self.ks(),
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
                },
            )?;
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                let set = Box::new(VectorSet::new(params, store.next_uid()));
                store.register_set(key, &set.counters);
                let s = data.insert(KeyEntry {
                    db: self.ks(),
                    key: key.into(),
                    hash: h,
                    expires_at: 0,
                    value: Value::VSet(set),
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
                self.analytics.log.record(
                    set.counters.log_id.load(Ordering::Relaxed),
                    eh,
                    Ev::Write,
                );
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
        store.shards[crate::store::Store::shard_of(h)]
            .access
            .lock()
            .extend(accesses);
        store
            .counters
            .events
            .sets
            .fetch_add(adds.len() as u64, Ordering::Relaxed);
        Ok(added)
    }
}

/// Whether vectors of dimension `dim` given to the existing set `p` (with `REDUCE reduce`, or
/// logged as projected from `projected_from`) are to be projected; Redis's errors otherwise.
fn needs_projection(
    p: &SetParams,
    reduce: Option<usize>,
    dim: usize,
    projected_from: usize,
) -> Result<bool> {
    let conflict = |param, set: String, asked: usize| Error::Conflict {
        param,
        set,
        asked: asked.to_string(),
    };
    let mismatch = Error::DimensionMismatch {
        expected: p.dim,
        got: dim,
    };
    // In Redis's order: the dimension first (with REDUCE, the set's must be the one asked
    // for), then whether the set has a projection.
    match (p.projection, reduce) {
        (0, _) if dim != p.dim => Err(mismatch),
        (0, Some(r)) => Err(conflict(SetParam::Reduce, "none".into(), r)),
        (0, None) => Ok(false),
        (_, Some(r)) if r != p.dim => Err(mismatch),
        // Already projected: a logged record, or (without REDUCE) a vector of the set's own
        // dimension.
        (_, None) if dim == p.dim && (projected_from != 0 || dim != p.projection) => Ok(false),
        (input, _) if dim == input && projected_from == 0 => Ok(true),
        (input, _) => Err(conflict(SetParam::ProjectionInput, input.to_string(), dim)),
    }
}
