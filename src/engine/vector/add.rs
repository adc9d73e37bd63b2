//! Adding elements: VADD and its batch form (one set, one shard lock, one WAL group).

use crate::engine::api::Engine;
use crate::engine::types::*;
use crate::error::{Error, Result, SetParam};
use smallvec::SmallVec;

use crate::store::record::AddRec;
use crate::store::{
    check_ef_construction, check_m, check_reduce, expired, Appends, Found, Record, SetParams,
    ShardData, Value, VectorSet, SET_OVERHEAD,
};

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

    /// [`Engine::vadd_many`] without the configured-dimension check (RESTORE writes what a
    /// dump holds, whatever the dimension configured now). `projected_from` is a dumped
    /// set's projection input dimension (0: none): its vectors are already projected.
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
            check_reduce(r)?;
        }
        if let Some(m) = opts.m {
            check_m(m)?;
        }
        if let Some(ef) = opts.ef_construction {
            check_ef_construction(ef)?;
        }
        let n = self.retry_oom(|| {
            let now = self.store.now_ms();
            // An expired key is reclaimed with its removal logged: this add makes a new set.
            let (mut data, h, slot) = self.lock_key(key, now, Some(to))?;
            self.vadd_locked(to, &mut data, h, slot, key, opts, adds, projected_from, now)
        })?;
        self.store.enforce_caps(to);
        Ok(n)
    }

    /// An add under the write lock (`data`) of the shard of `h`, the key's hash; `slot` is
    /// the live key there, if any.
    #[allow(clippy::too_many_arguments)]
    fn vadd_locked(
        &self,
        to: &Appends,
        data: &mut ShardData,
        h: u64,
        slot: Option<u32>,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
        projected_from: usize,
        now: u64,
    ) -> Result<usize> {
        let store = &self.store;
        let dim = adds[0].vector.len();
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
                p.check()?;
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
        let vector = |i: usize| -> &[f32] {
            if project {
                &projected[i]
            } else {
                adds[i].vector
            }
        };
        // A zero vector is stored as Redis stores it: under cosine it has no direction, so
        // it scores 0.5 (cosine 0) against every query.
        // Look every element up once: its name hash, and its slot and expiry when it exists.
        let hashes: SmallVec<[u64; 4]> = adds.iter().map(|a| store.hash(a.element)).collect();
        let set = match slot.and_then(|s| data.entry(s)).map(|e| &e.value) {
            Some(Value::VSet(set)) => Some(set),
            _ => None,
        };
        let found: SmallVec<[Option<(u32, u64)>; 4]> = match set {
            Some(set) => adds
                .iter()
                .zip(&hashes)
                .map(|(a, &eh)| {
                    let s = set.find(eh, a.element)?;
                    set.elem(s).map(|e| (s, e.expires_at))
                })
                .collect(),
            None => smallvec::smallvec![None; adds.len()],
        };
        // Room: count the new elements and their bytes before changing anything.
        let (new_entries, new_bytes) = match set {
            Some(set) => adds
                .iter()
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
                }),
            None => {
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
        let mut resolved: SmallVec<[u64; 4]> = SmallVec::with_capacity(adds.len());
        for (a, f) in adds.iter().zip(&found) {
            let current = f.map(|(_, at)| at).filter(|&at| !expired(at, now));
            resolved.push(self.resolve_expiry(a.expiry, now, current)?);
        }
        // Elements whose TTL passed are replaced, not updated (their attributes go): the
        // replay learns it from their removal, logged first. (A removal can empty the set
        // and drop its key, so the apply then looks the key up again.)
        let mut reclaimed = false;
        for (a, f) in adds.iter().zip(&found) {
            if f.is_some_and(|(_, at)| expired(at, now)) {
                reclaimed = true;
                let rec = Record::VRem {
                    db: self.ks(),
                    key,
                    name: a.element,
                };
                store.commit_expired(to, data, &rec, now)?;
            }
        }
        let rec = Record::VAdd {
            db: self.ks(),
            key,
            params,
            adds: adds
                .iter()
                .zip(&resolved)
                .enumerate()
                .map(|(i, (a, &at))| AddRec {
                    name: a.element,
                    vector: std::borrow::Cow::Borrowed(vector(i)),
                    attrs: match a.attributes {
                        AttrUpdate::Keep => None,
                        AttrUpdate::Clear => Some(None),
                        AttrUpdate::Set(j) => Some(Some(j)),
                    },
                    expires_at: at,
                })
                .collect(),
        };
        let found = match reclaimed {
            false => Found {
                key: Some((h, slot)),
                elems: Some(&hashes),
            },
            true => Found::default(),
        };
        let added = store.commit_found(to, data, &rec, now, found)?;
        // The set's lookup-log id is its key's hash (`Store::register_set`).
        self.analytics.log.record_writes(h, &hashes);
        Ok(added)
    }
}

/// Whether vectors of dimension `dim` given to the existing set `p` (with `REDUCE reduce`, or
/// already projected from `projected_from`) are to be projected; Redis's errors otherwise.
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
        // Already projected: a dumped set, or (without REDUCE) a vector of the set's own
        // dimension.
        (_, None) if dim == p.dim && (projected_from != 0 || dim != p.projection) => Ok(false),
        (input, _) if dim == input && projected_from == 0 => Ok(true),
        (input, _) => Err(conflict(SetParam::ProjectionInput, input.to_string(), dim)),
    }
}
