//! One element: get, remove, attributes, membership, per-element TTL.

use std::sync::atomic::Ordering;

use crate::analytics::log::Ev;
use crate::engine::api::Engine;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{expired, Appends, EntryRef, LazyNow, Record, VectorSet};

impl Engine {
    /// The element's vector in Redis's VEMB RAW form for its set's storage mode; `None`
    /// when the key or the element does not exist.
    pub fn vemb_raw(&self, key: &[u8], element: &[u8]) -> Result<Option<RawEmbedding>> {
        let Some(v) = self.vget(key, element)? else {
            return Ok(None);
        };
        let storage = self
            .key_info(key)?
            .and_then(|i| i.storage)
            .unwrap_or_default();
        if storage == StorageMode::Bin {
            let mut raw = None;
            self.vget_inner(key, element, |set, slot| {
                let mut bits = vec![0i8; set.code_row()];
                crate::store::sign_bits(&v, &mut bits);
                raw = Some(RawEmbedding::Bin {
                    bits: bits.into_iter().map(|b| b as u8).collect(),
                    norm: f64::from(set.norm(slot)),
                });
                Ok(())
            })?;
            return Ok(raw);
        }
        let norm = v
            .iter()
            .map(|x| f64::from(*x) * f64::from(*x))
            .sum::<f64>()
            .sqrt();
        if storage == StorageMode::Q8 {
            // The engine's vector is its codes dequantized (one scale per vector), so this
            // gives back exactly the stored codes.
            let unit: Vec<f64> = v
                .iter()
                .map(|x| {
                    if norm > 0.0 {
                        f64::from(*x) / norm
                    } else {
                        0.0
                    }
                })
                .collect();
            let range = unit.iter().fold(0.0f64, |m, u| m.max(u.abs()));
            let codes = unit
                .iter()
                .map(|u| {
                    let q = if range > 0.0 {
                        (u / range * 127.0).round()
                    } else {
                        0.0
                    };
                    q.clamp(-127.0, 127.0) as i8
                })
                .collect();
            return Ok(Some(RawEmbedding::Int8 { codes, norm, range }));
        }
        let unit = v
            .iter()
            .map(|x| {
                if norm > 0.0 {
                    (f64::from(*x) / norm) as f32
                } else {
                    *x
                }
            })
            .collect();
        Ok(Some(RawEmbedding::F32 { unit, norm }))
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
    pub(super) fn vget_inner(
        &self,
        key: &[u8],
        element: &[u8],
        read: impl FnOnce(&VectorSet, u32) -> Result<()>,
    ) -> Result<Option<()>> {
        self.check_element(element)?;
        // This thread's lane of the lookup log (none when analytics are off): its position
        // also decides whether this lookup is a timed one.
        let lane = self.analytics.log.lane();
        let t0 = self.lookup_timer_in(&lane);
        let store = &self.store;
        let now = LazyNow::new(store);
        let mut expired_elem = false;
        // One lookup of the key and one of the element under the read lock; the clock is read
        // only when the set or the element has a TTL.
        let eh = store.hash(element);
        let r = self.with_set_slot(key, &now, |set, data, slot, shard| {
            let set_id = set.counters.log_id.load(Ordering::Relaxed);
            if let Some(s) = set.find(eh, element) {
                let el = set.elem(s).expect("live");
                if now.expired(el.expires_at) {
                    expired_elem = true;
                } else {
                    read(set, s)?;
                    let e = EntryRef { key: slot, elem: s };
                    store.touch(shard, data, e, &el.meta, &now);
                    set.counters.hits.fetch_add(1, Ordering::Relaxed);
                    store.counters.events.hits.fetch_add(1, Ordering::Relaxed);
                    lane.record(set_id, eh, Ev::Hit);
                    self.lookup_timed(t0, Some(&set.counters), Some(&lane));
                    return Ok(Some(()));
                }
            }
            set.counters.misses.fetch_add(1, Ordering::Relaxed);
            lane.record(set_id, eh, Ev::Miss);
            self.lookup_timed(t0, Some(&set.counters), Some(&lane));
            Ok(None)
        })?;
        if expired_elem {
            self.reclaim_element_if_expired(key, element);
        }
        match r {
            Some(Some(())) => Ok(Some(())),
            Some(None) | None => {
                if r.is_none() {
                    // No such set yet: a cache-aside miss that the set's creation may follow.
                    lane.record(store.hash(key), eh, Ev::Miss);
                    self.lookup_timed(t0, None, Some(&lane));
                }
                store.counters.events.misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
        }
    }

    /// Reclaims an element a read found expired (and its key, if that expired too).
    pub(super) fn reclaim_element_if_expired(&self, key: &[u8], element: &[u8]) {
        // The opening reclaims; a key of another type (replaced meanwhile) is left alone.
        drop(self.lock_element(key, element, self.store.now_ms()));
    }

    /// Many elements of one set; `None` for each miss.
    pub fn vget_many(&self, key: &[u8], elements: &[&[u8]]) -> Result<Vec<Option<Vec<f32>>>> {
        elements.iter().map(|e| self.vget(key, e)).collect()
    }

    /// The body of [`Engine::vrem`]: its records are appended through `to`, not awaited.
    pub(crate) fn vrem_in(&self, to: &Appends, key: &[u8], element: &[u8]) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        let now = self.store.now_ms();
        let (mut data, Some(_)) = self.lock_element(key, element, now)? else {
            return Ok(false);
        };
        let rec = Record::VRem {
            db: self.ks(),
            key,
            name: element,
        };
        self.store.commit(to, &mut data, &rec, now)?;
        drop(data);
        Ok(true)
    }

    /// The body of [`Engine::vset_attr`]: its records are appended through `to`, not awaited.
    pub(crate) fn vset_attr_in(
        &self,
        to: &Appends,
        key: &[u8],
        element: &[u8],
        json: Option<&str>,
    ) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        if let Some(j) = json.filter(|j| !j.is_empty()) {
            self.check_attrs(j)?;
        }
        let now = self.store.now_ms();
        let (mut data, Some(_)) = self.lock_element(key, element, now)? else {
            return Ok(false);
        };
        let grow = json.map_or(0, |j| j.len() as u64 + 32);
        self.store.check_room(0, grow)?;
        let rec = Record::VSetAttr {
            db: self.ks(),
            key,
            name: element,
            attrs: json.filter(|j| !j.is_empty()),
        };
        self.store.commit(to, &mut data, &rec, now)?;
        drop(data);
        self.store.enforce_caps(to);
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

    /// Whether the element exists (and is not expired).
    pub fn vismember(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        Ok(self.vttl(key, element)? != TtlState::Missing)
    }

    /// The body of [`Engine::vexpire`]: its records are appended through `to`, not awaited.
    pub(crate) fn vexpire_in(
        &self,
        to: &Appends,
        key: &[u8],
        element: &[u8],
        expiry: Expiry,
    ) -> Result<bool> {
        self.check_key(key)?;
        self.check_element(element)?;
        let now = self.store.now_ms();
        let at = Self::expire_target(expiry, now)?;
        let (mut data, Some(_)) = self.lock_element(key, element, now)? else {
            return Ok(false);
        };
        let rec = Record::VExpire {
            db: self.ks(),
            key,
            name: element,
            at,
        };
        self.store.commit(to, &mut data, &rec, now)?;
        drop(data);
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

    /// The body of [`Engine::vpersist`]: its records are appended through `to`, not awaited.
    pub(crate) fn vpersist_in(&self, to: &Appends, key: &[u8], element: &[u8]) -> Result<bool> {
        match self.vttl(key, element)? {
            TtlState::ExpiresInMs(_) => self.vexpire_in(to, key, element, Expiry::Never),
            _ => Ok(false),
        }
    }
}
