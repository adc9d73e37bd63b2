//! Semantic invalidation: remove every element similar to a query, atomically.

use std::sync::atomic::Ordering;

use crate::engine::api::Engine;
use crate::engine::filter::Filter;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{Appends, Record, Value};

impl Engine {
    /// The body of [`Engine::invalidate_similar`]: its records are appended through `to`, not awaited.
    pub(crate) fn invalidate_similar_in(
        &self,
        to: &Appends,
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool,
    ) -> Result<Invalidated> {
        self.invalidate_similar_where_in(to, key, query, threshold, return_removed, None)
    }

    /// The body of [`Engine::invalidate_similar_where`]: its records are appended through `to`, not awaited.
    pub(crate) fn invalidate_similar_where_in(
        &self,
        to: &Appends,
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
        let (mut data, _, slot) = self.lock_key(key, now, None)?;
        let Some(slot) = slot else {
            return Ok(Invalidated::default());
        };
        let victims: Vec<(f32, u32)> = {
            let entry = data.entry(slot).expect("found");
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
            let n = v.len() as u64;
            set.counters.invalidations.fetch_add(n, Ordering::Relaxed);
            self.store
                .counters
                .events
                .invalidations
                .fetch_add(n, Ordering::Relaxed);
            v
        };
        let mut out = Invalidated {
            count: victims.len(),
            removed: Vec::new(),
        };
        for (score, s) in victims {
            let Some(Value::VSet(set)) = data.entry(slot).map(|e| &e.value) else {
                continue;
            };
            let Some(e) = set.elem(s) else {
                continue;
            };
            let name = e.name.to_vec();
            let attributes = e.attrs.as_deref().map(str::to_owned);
            let rec = Record::VRem {
                db: self.ks(),
                key,
                name: &name,
            };
            self.store.commit(to, &mut data, &rec, now)?;
            if return_removed {
                out.removed.push(SearchHit {
                    element: name.clone(),
                    score,
                    attributes,
                });
            }
        }
        drop(data);
        Ok(out)
    }
}
