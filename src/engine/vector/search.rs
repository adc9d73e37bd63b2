//! Search: the query prepared once, top-k through the graph plus an exact scan of the not-yet-indexed elements.

use std::cmp::Ordering as CmpOrdering;
use std::collections::BinaryHeap;

use crate::engine::api::Engine;
use crate::engine::filter::Filter;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{with_search_bufs as with_bufs, LazyNow, PreparedQuery, VIndex, VectorSet};

impl Engine {
    pub(crate) fn prepare(&self, set: &VectorSet, query: Query<'_>) -> Result<PreparedQuery> {
        let mut pq = PreparedQuery::default();
        self.prepare_into(set, query, &mut pq)?;
        Ok(pq)
    }

    /// [`Engine::prepare`] into `pq`, reusing its buffers.
    pub(crate) fn prepare_into(
        &self,
        set: &VectorSet,
        query: Query<'_>,
        pq: &mut PreparedQuery,
    ) -> Result<()> {
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
                    set.prepare_query_into(&crate::store::project(v, p.dim), pq);
                    return Ok(());
                }
                if v.len() != set.params.dim {
                    return Err(Error::DimensionMismatch {
                        expected: set.params.dim,
                        got: v.len(),
                    });
                }
                set.prepare_query_into(v, pq);
                Ok(())
            }
            Query::Element(name) => {
                let s = set
                    .find(self.store.hash(name), name)
                    .ok_or_else(|| Error::NotFound {
                        what: format!("element '{}'", String::from_utf8_lossy(name)),
                    })?;
                let mut v = vec![0f32; set.params.dim];
                set.read_vector(s, &mut v);
                set.prepare_query_into(&v, pq);
                Ok(())
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
        Ok(self
            .vsearch_with_metric(key, query, params, None)?
            .map(|(hits, _)| hits)
            .unwrap_or_default())
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
        Ok(self
            .vsearch_with_metric(key, query, params, Some((filter, filter_ef)))?
            .map(|(hits, _)| hits)
            .unwrap_or_default())
    }

    /// As [`Engine::vsearch`] (with `Some((filter, filter_ef))`: [`Engine::vsearch_filtered`]),
    /// also returning the set's metric (which says what a score means), with one lookup of
    /// the key: `None` for a missing key. VSIM's path (its reply's scores depend on the
    /// metric).
    pub fn vsearch_with_metric(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
        filter: Option<(&Filter, usize)>,
    ) -> Result<Option<(Vec<SearchHit>, Metric)>> {
        let mut hits = Vec::with_capacity(params.count.min(1024));
        let metric = self.vsearch_visit(key, query, params, filter, |name, score, attrs| {
            hits.push(SearchHit {
                element: name.to_vec(),
                score,
                attributes: attrs.map(str::to_owned),
            })
        })?;
        Ok(metric.map(|m| (hits, m)))
    }

    /// The search itself: hands each hit to `visit` best first, under the set's lock (its
    /// name, score and, when `params.with_attributes`, its attributes), so a caller that
    /// copies them elsewhere (the C ABI) makes no vector of hits. `filter` as in
    /// [`Engine::vsearch_with_metric`]. Returns the set's metric, `None` for a missing key.
    pub(crate) fn vsearch_visit(
        &self,
        key: &[u8],
        query: Query<'_>,
        params: &SearchParams,
        filter: Option<(&Filter, usize)>,
        mut visit: impl FnMut(&[u8], f32, Option<&str>),
    ) -> Result<Option<Metric>> {
        let filter = filter.map(|(f, filter_ef)| (f, filter_candidates(params, filter_ef)));
        // The clock is read only if the set or an element met has a TTL.
        let now = LazyNow::new(&self.store);
        let started = std::time::Instant::now();
        let found = with_bufs(|b| {
            self.with_set_slot(key, &now, |set, _, _, _| {
                self.prepare_into(set, query, &mut b.query)?;
                search_set(
                    set,
                    &b.query,
                    params,
                    filter,
                    &now,
                    &mut b.cands,
                    &mut b.hits,
                )?;
                for &(score, s) in &b.hits {
                    if let Some(e) = set.elem(s) {
                        let attrs = e.attrs.as_deref().filter(|_| params.with_attributes);
                        visit(&e.name, score, attrs);
                    }
                }
                Ok(set.params.metric)
            })
        })?;
        self.analytics.search_durations.record(started.elapsed());
        Ok(found)
    }
}

/// The candidates a filtered search examines through the graph for a FILTER-EF of
/// `filter_ef` (0: `count × 100`, Redis's default).
fn filter_candidates(params: &SearchParams, filter_ef: usize) -> usize {
    match filter_ef {
        0 => params.count.saturating_mul(100),
        n => n,
    }
}

/// The `(score, slot)` hits of a prepared query in a set (under its shard's lock), best
/// first, into `out` (cleared first; `cands` is working space): through the graph, or an
/// exact scan for an exhaustive search or a set without one.
pub(super) fn search_set(
    set: &VectorSet,
    q: &PreparedQuery,
    params: &SearchParams,
    filter: Option<(&Filter, usize)>,
    now: &LazyNow<'_>,
    cands: &mut Vec<(f32, u32)>,
    out: &mut Vec<(f32, u32)>,
) -> Result<()> {
    out.clear();
    let keep = |s: u32| {
        filter.is_none_or(|(f, _)| set.elem(s).is_some_and(|e| f.matches(e.attrs.as_deref())))
    };
    match &set.vindex {
        Some(ix) if !params.exhaustive && params.count > 0 => {
            let examine = filter.map_or(usize::MAX, |(_, ef)| ef.max(params.count));
            graph_top_k(set, ix, q, params, now, &keep, examine, cands, out)
        }
        _ => {
            top_k(set, q, params.count, params.min_score, now, &keep, out);
            Ok(())
        }
    }
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

/// Top-k through the HNSW graph of the live elements that `keep` accepts, plus an exact scan
/// of the elements not indexed yet; best first into `kept`, asking the graph for at most
/// `examine` candidates (`cands` is working space). Graph hits that are stale (updated or
/// removed since indexing), expired or filtered out are dropped.
#[allow(clippy::too_many_arguments)]
pub(super) fn graph_top_k(
    set: &VectorSet,
    ix: &VIndex,
    q: &PreparedQuery,
    params: &SearchParams,
    now: &LazyNow<'_>,
    keep: &impl Fn(u32) -> bool,
    examine: usize,
    cands: &mut Vec<(f32, u32)>,
    kept: &mut Vec<(f32, u32)>,
) -> Result<()> {
    let k = params.count;
    let most = set.len().max(1).min(examine.max(1));
    // Ask the graph for exactly k (so `ef` means what it means to hnswlib or Redis); only when
    // hits were dropped as stale, expired or filtered out and fewer than k remain, ask again
    // for more.
    let mut want = k.min(most);
    loop {
        cands.clear();
        kept.clear();
        let (graph_hits, pending) = set.graph_candidates(ix, q, want, params.ef, cands)?;
        let mut dropped = graph_hits - cands.len();
        for s in pending {
            if set.elem(s).is_some() {
                cands.push((set.score(s, q), s));
            }
        }
        // Best first, and stop at the k-th hit kept: each check reads the element's entry
        // (a likely cache miss), and an `exact` set's graph hands back all `ef` reranked
        // candidates, of which only k are wanted.
        cands.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut last = None;
        for &(score, s) in cands.iter() {
            if params.min_score.is_some_and(|m| score < m) {
                break; // sorted: no later candidate passes either
            }
            if last.replace(s) == Some(s) {
                continue; // the same slot twice (a pending slot the walk also found)
            }
            if set.elem(s).is_some_and(|e| !now.expired(e.expires_at)) && keep(s) {
                kept.push((score, s));
                if kept.len() == k {
                    break;
                }
            } else {
                dropped += 1;
            }
        }
        if kept.len() >= k || dropped == 0 || want >= most {
            break;
        }
        want = want.saturating_mul(2).saturating_add(dropped).min(most);
    }
    Ok(())
}

/// Exact top-k by a scan of every live, unexpired slot; best first into `out`.
pub(super) fn top_k(
    set: &VectorSet,
    q: &PreparedQuery,
    k: usize,
    min_score: Option<f32>,
    now: &LazyNow<'_>,
    keep: &impl Fn(u32) -> bool,
    out: &mut Vec<(f32, u32)>,
) {
    out.clear();
    if k == 0 {
        return;
    }
    // The heap lives in `out`'s buffer (same layout), handed back sorted.
    let mut heap: BinaryHeap<Worst> = BinaryHeap::from(
        std::mem::take(out)
            .into_iter()
            .map(|(score, s)| Worst(score, s))
            .collect::<Vec<_>>(),
    );
    heap.reserve(k.min(set.len()) + 1);
    for s in set.live_slots() {
        if set.elem(s).is_some_and(|e| now.expired(e.expires_at)) || !keep(s) {
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
    *out = heap.into_vec().into_iter().map(|w| (w.0, w.1)).collect();
    out.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
}
