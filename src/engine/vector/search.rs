//! Search: the query prepared once, top-k through the graph plus an exact scan of the not-yet-indexed elements.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;

use crate::engine::api::Engine;
use crate::engine::filter::Filter;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{expired, PreparedQuery, VIndex, VectorSet};

impl Engine {
    pub(crate) fn prepare(&self, set: &VectorSet, query: Query<'_>) -> Result<PreparedQuery> {
        match query {
            Query::Vector(v) => {
                self.check_vector(v)?;
                let p = &set.params;
                // A set with a projection (Redis's REDUCE) projects a query of its input
                // dimension; one of its own dimension is taken as projected already.
                if p.projection != 0 && v.len() != p.dim {
                    if v.len() != p.projection {
                        return Err(Error::Conflict {
                            param: crate::error::SetParam::ProjectionInput,
                            set: p.projection.to_string(),
                            asked: v.len().to_string(),
                        });
                    }
                    return Ok(set.prepare_query(&crate::store::project(v, p.dim)));
                }
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

    pub(super) fn vsearch_where(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
        filter: Option<(&Filter, usize)>,
    ) -> Result<Vec<SearchHit>> {
        let now = self.store.now_ms();
        let started = std::time::Instant::now();
        let hits = self
            .with_set(key, |set, _| {
                let q = self.prepare(set, query)?;
                let hits = search_set(set, &q, params, filter, now)?;
                Ok(hits
                    .into_iter()
                    .filter_map(|(score, s)| {
                        let e = set.elem(s)?;
                        Some(SearchHit {
                            element: e.name.to_vec(),
                            score,
                            attributes: if params.with_attributes {
                                e.attrs.as_deref().map(str::to_owned)
                            } else {
                                None
                            },
                        })
                    })
                    .collect())
            })?
            .unwrap_or_default();
        self.analytics.search_durations.record(started.elapsed());
        Ok(hits)
    }
}

/// The `(score, slot)` hits of a prepared query in a set (under its shard's lock), best
/// first: through the graph, or an exact scan for an exhaustive search or a set without one.
pub(super) fn search_set(
    set: &VectorSet,
    q: &PreparedQuery,
    params: &SearchParams,
    filter: Option<(&Filter, usize)>,
    now: u64,
) -> Result<Vec<(f32, u32)>> {
    let keep = |s: u32| {
        filter.is_none_or(|(f, _)| set.elem(s).is_some_and(|e| f.matches(e.attrs.as_deref())))
    };
    Ok(match &set.vindex {
        Some(ix) if !params.exhaustive && params.count > 0 => {
            let examine = filter.map_or(usize::MAX, |(_, ef)| ef.max(params.count));
            graph_top_k(set, ix, q, params, now, &keep, examine)?
        }
        _ => top_k(set, q, params.count, params.min_score, now, &keep),
    })
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
pub(super) fn graph_top_k(
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
        let (graph_hits, pending) = set.graph_candidates(ix, q, want, params.ef, &mut cands)?;
        let mut dropped = graph_hits - cands.len();
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
pub(super) fn top_k(
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
