//! The index: insertion (the paper's INSERT), k-NN and threshold search, exhaustive scans,
//! figures. Removal is in `remove.rs`.

use super::graph::{Graph, Query, EMPTY, LINKED, MAX_LEVEL, STAGED};
use super::param::{Hit, Metric, Mode, Params, SearchParams, Slot, Stats};
use super::search::{Scored, Search};
use crate::error::{Error, Result};
use parking_lot::{Mutex, RwLock, RwLockReadGuard};
use rayon::prelude::*;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

/// An HNSW index over dense [`Slot`]s. `Send + Sync`: searches, inserts and removals may run
/// from many threads at once (each with its own [`Search`] scratch); see the module docs.
pub struct Hnsw {
    pub(super) params: Params,
    pub(super) graph: RwLock<Graph>,
    /// Entry point: `(level << 32) | slot`; slot `u32::MAX` when empty.
    entry: AtomicU64,
    /// Serialises entry point changes.
    pub(super) entry_lock: Mutex<()>,
    /// Elements in the graph (LINKED).
    pub(super) nodes: AtomicUsize,
    /// Level draws so far (input of the level hash).
    draws: AtomicU64,
}

const NO_ENTRY: u64 = u32::MAX as u64;

/// Elements `build_parallel` links under one read guard.
const BUILD_CHUNK: usize = 4096;

/// splitmix64: the level draws' hash.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Hnsw {
    /// An empty index. Errors when a parameter is out of range (dim 0, M < 2 or > 512,
    /// `M_max0 < M`, ef 0).
    pub fn new(params: Params) -> Result<Self> {
        let bad = |arg, expected: &str| {
            Err(Error::InvalidArgument {
                arg,
                expected: expected.to_string(),
            })
        };
        if params.dim == 0 {
            return bad("dim", "a dimension of at least 1");
        }
        if params.m < 2 || params.m > Params::MAX_M {
            return bad("m", "M between 2 and 512");
        }
        if params.m_max0 < params.m || params.m_max0 > 2 * Params::MAX_M {
            return bad("m_max0", "M_max0 between M and 1024");
        }
        if params.ef_construction == 0 || params.ef_search == 0 {
            return bad("ef", "ef of at least 1");
        }
        Ok(Self {
            graph: RwLock::new(Graph::new(
                params.dim,
                params.metric,
                params.mode,
                params.m,
                params.m_max0,
            )),
            params,
            entry: AtomicU64::new(NO_ENTRY),
            entry_lock: Mutex::new(()),
            nodes: AtomicUsize::new(0),
            draws: AtomicU64::new(0),
        })
    }

    /// An empty index with arrays sized for `capacity` slots up front.
    pub fn with_capacity(params: Params, capacity: usize) -> Result<Self> {
        let index = Self::new(params)?;
        index.graph.write().grow(capacity);
        Ok(index)
    }

    /// The parameters the index was created with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Elements in the graph.
    pub fn len(&self) -> usize {
        self.nodes.load(Relaxed)
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `slot` is in the graph.
    pub fn contains(&self, slot: Slot) -> bool {
        self.graph.read().state(slot.0) == LINKED
    }

    pub(super) fn load_entry(&self) -> (u32, usize) {
        let e = self.entry.load(Acquire);
        (e as u32, (e >> 32) as usize)
    }

    pub(super) fn store_entry(&self, slot: u32, level: usize) {
        self.entry
            .store(((level as u64) << 32) | slot as u64, Release);
    }

    /// Level draws so far (saved with the topology, so a restored index keeps drawing fresh
    /// levels).
    pub(super) fn draws(&self) -> u64 {
        self.draws.load(Relaxed)
    }

    pub(super) fn set_draws(&self, n: u64) {
        self.draws.store(n, Relaxed);
    }

    fn draw_level(&self) -> usize {
        let n = self.draws.fetch_add(1, Relaxed);
        let x = mix(self.params.seed ^ mix(n));
        // u in (0, 1]
        let u = ((x >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        ((-u.ln() * self.params.level_multiplier()) as usize).min(MAX_LEVEL)
    }

    pub(super) fn check_vector(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.params.dim {
            return Err(Error::DimensionMismatch {
                expected: self.params.dim,
                got: v.len(),
            });
        }
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Error::InvalidArgument {
                arg: "vector",
                expected: "finite values".to_string(),
            });
        }
        Ok(())
    }

    fn check_query(&self, v: &[f32]) -> Result<()> {
        if v.len() != self.params.dim {
            return Err(Error::DimensionMismatch {
                expected: self.params.dim,
                got: v.len(),
            });
        }
        Ok(())
    }

    fn stage_locked(&self, g: &mut Graph, slot: Slot, v: &[f32]) -> Result<()> {
        if slot == Slot::INVALID {
            return Err(Error::InvalidArgument {
                arg: "slot",
                expected: "a slot other than u32::MAX".to_string(),
            });
        }
        g.grow(slot.index() + 1);
        if g.state(slot.0) != EMPTY {
            return Err(Error::InvalidArgument {
                arg: "slot",
                expected: format!("a slot not in the index ({} is)", slot.0),
            });
        }
        g.stage(slot.index(), v, self.draw_level());
        Ok(())
    }

    /// Inserts `vector` at `slot` (which must not be in the index; a removed slot may be
    /// reused). The vector is copied (and quantized in `exact`/`q8`). Storing it takes the
    /// write lock for a copy's time; linking it runs under the read lock, beside searches.
    pub fn insert(&self, slot: Slot, vector: &[f32], s: &mut Search) -> Result<()> {
        self.check_vector(vector)?;
        self.stage_locked(&mut self.graph.write(), slot, vector)?;
        self.link(&self.graph.read(), slot.0, s);
        Ok(())
    }

    /// Inserts many elements, linking them in parallel on rayon's pool (import, recovery,
    /// rebuild). All are validated before any is applied; on an error nothing is inserted.
    pub fn build_parallel(&self, items: &[(Slot, &[f32])]) -> Result<()> {
        for (_, v) in items {
            self.check_vector(v)?;
        }
        {
            let mut g = self.graph.write();
            if let Some(max) = items.iter().map(|(s, _)| s.index()).max() {
                if max != Slot::INVALID.index() {
                    g.grow(max + 1);
                }
            }
            for (n, (slot, v)) in items.iter().enumerate() {
                if let Err(e) = self.stage_locked(&mut g, *slot, v) {
                    for (slot, _) in &items[..n] {
                        g.state[slot.index()].store(EMPTY, Release);
                    }
                    return Err(e);
                }
            }
        }
        // Linked in chunks, each under its own read guard, so a writer waiting for the lock
        // (an insert elsewhere) does not hold searches up for the whole build.
        for chunk in items.chunks(BUILD_CHUNK) {
            let g = self.graph.read();
            chunk
                .par_iter()
                .for_each_init(Search::new, |s, (slot, _)| self.link(&g, slot.0, s));
        }
        Ok(())
    }

    /// The paper's INSERT for a staged node.
    fn link(&self, g: &RwLockReadGuard<'_, Graph>, slot: u32, s: &mut Search) {
        let level_q = g.levels[slot as usize] as usize;
        let (ep, top) = loop {
            let (ep, top) = self.load_entry();
            if ep != u32::MAX {
                break (ep, top);
            }
            let _e = self.entry_lock.lock();
            if self.load_entry().0 == u32::MAX {
                g.state[slot as usize].store(LINKED, Release);
                self.nodes.fetch_add(1, Relaxed);
                self.store_entry(slot, level_q);
                return;
            }
        };
        let q = g.node_query(slot);
        let mut cur = Scored {
            score: g.score(&q, ep),
            slot: ep,
        };
        for l in (level_q + 1..=top).rev() {
            cur = g.greedy(&q, cur, l);
        }
        for l in (0..=level_q.min(top)).rev() {
            g.search_layer(&q, cur, self.params.ef_construction, l, STAGED, s);
            s.drain_found_sorted();
            // The next level's search starts from the nearest *linked* node: a staged one
            // (another insert of the batch, reached early or through a link a removal's
            // repair missed, to its reused slot) may have no list there yet, and a walk from
            // it stops dead (the insert got almost no neighbours).
            if let Some(&best) = s
                .sorted
                .iter()
                .find(|c| c.slot != slot && g.state(c.slot) == LINKED)
            {
                cur = best;
            }
            let mut chosen = std::mem::take(&mut s.selected);
            g.select(&s.sorted, slot, self.params.m, &mut chosen);
            {
                let _q = g.locks[slot as usize].lock();
                g.set_list(slot, l, chosen.iter().map(|c| c.slot));
            }
            for c in &chosen {
                self.connect(g, c.slot, slot, c.score, l, s);
            }
            s.selected = chosen;
        }
        g.state[slot as usize].store(LINKED, Release);
        self.nodes.fetch_add(1, Relaxed);
        if level_q > top {
            let _e = self.entry_lock.lock();
            if level_q > self.load_entry().1 || self.load_entry().0 == u32::MAX {
                self.store_entry(slot, level_q);
            }
        }
    }

    /// Adds the edge `e → q` at `level`, shrinking `e`'s list with the heuristic when full.
    fn connect(&self, g: &Graph, e: u32, q: u32, score: f32, level: usize, s: &mut Search) {
        let _lock = g.locks[e as usize].lock();
        if !g.linkable(e) {
            return;
        }
        g.neighbours_into(e, level, &mut s.slots);
        if s.slots.contains(&q) {
            return;
        }
        let m_max = g.m_max(level);
        if s.slots.len() < m_max {
            s.slots.push(q);
            g.set_list(e, level, s.slots.iter().copied());
            return;
        }
        let base = g.node_query(e);
        s.sorted.clear();
        s.sorted.push(Scored { score, slot: q });
        for &n in &s.slots {
            if n != e && g.linkable(n) {
                s.sorted.push(Scored {
                    score: g.score(&base, n),
                    slot: n,
                });
            }
        }
        s.sorted.sort_unstable_by(|a, b| b.cmp(a));
        // `s.selected` is free here: `link` holds its chosen list outside the scratch.
        let mut kept = std::mem::take(&mut s.selected);
        g.select(&s.sorted, e, m_max, &mut kept);
        g.set_list(e, level, kept.iter().map(|c| c.slot));
        s.selected = kept;
    }

    /// Prepares the query in the traversal representation (`codes` taken out of the scratch).
    fn prepare<'q>(&self, query: &'q [f32], codes: &'q mut Vec<i8>, use_codes: bool) -> Query<'q> {
        let norm_sq = if self.params.metric == Metric::L2 {
            crate::simd::dot_f32(query, query)
        } else {
            0.0
        };
        if use_codes {
            let len = if self.params.mode == Mode::Q4 {
                crate::quant::q4::padded_dims(self.params.dim)
            } else {
                self.params.dim
            };
            codes.resize(len, 0);
            // Components past `dim` (the q4 rows' padding) are set to 0.
            let scale = crate::quant::quantize_into(query, codes);
            let codes_sum = codes.iter().map(|&c| c as i32).sum();
            Query {
                codes,
                codes_sum,
                packed: &[],
                scale,
                norm_sq,
                f32: query,
            }
        } else {
            Query {
                codes: &[],
                codes_sum: 0,
                packed: &[],
                scale: 0.0,
                norm_sq,
                f32: query,
            }
        }
    }

    /// Descends from the entry point to level 0 greedily; `None` when the graph is empty.
    fn descend(&self, g: &Graph, q: &Query<'_>) -> Option<Scored> {
        let (ep, top) = self.load_entry();
        if ep == u32::MAX || ep as usize >= g.capacity {
            return None;
        }
        let mut cur = Scored {
            score: g.score(q, ep),
            slot: ep,
        };
        for l in (1..=top).rev() {
            cur = g.greedy(q, cur, l);
        }
        Some(cur)
    }

    /// The `k` nearest elements to `query`, nearest first (fewer when the index is smaller).
    /// `exact` reranks the `ef` INT8 candidates with f32; `q8` scores are INT8 estimates.
    pub fn search<'s>(
        &self,
        query: &[f32],
        params: SearchParams,
        s: &'s mut Search,
    ) -> Result<&'s [Hit]> {
        self.check_query(query)?;
        s.hits.clear();
        if params.k == 0 {
            return Ok(&s.hits);
        }
        let g = self.graph.read();
        if params.exhaustive {
            self.scan_top(&g, query, params.k, s);
            return Ok(&s.hits);
        }
        let ef = if params.ef == 0 {
            self.params.ef_search
        } else {
            params.ef
        }
        .max(params.k);
        let mut codes = std::mem::take(&mut s.codes);
        let q = self.prepare(query, &mut codes, self.params.mode.has_codes());
        if let Some(entry) = self.descend(&g, &q) {
            g.search_layer(&q, entry, ef, 0, LINKED, s);
            s.drain_found_sorted();
            if self.params.mode == Mode::Exact {
                // The f32 rows (4 bytes per dimension, seldom cached) are read once each:
                // ask for all of them before the first is scored.
                for c in s.sorted.iter() {
                    g.prefetch_f32(c.slot);
                }
                for c in s.sorted.iter_mut() {
                    c.score = g.score_f32(query, c.slot);
                }
                s.sorted.sort_unstable_by(|a, b| b.cmp(a));
            }
            s.hits.extend(s.sorted.iter().take(params.k).map(|c| Hit {
                slot: Slot(c.slot),
                score: c.score,
            }));
        }
        s.codes = codes;
        Ok(&s.hits)
    }

    /// Every element whose score against `query` is `≥ threshold`, nearest first: a range
    /// walk over the graph (f32 scores in `exact` and `noquant`, so nothing below the
    /// threshold is returned; INT8 estimates in `q8`), or an exhaustive scan when
    /// `params.exhaustive`. `params.ef` is the floor of the walk; `params.k` is ignored.
    pub fn search_range<'s>(
        &self,
        query: &[f32],
        threshold: f32,
        params: SearchParams,
        s: &'s mut Search,
    ) -> Result<&'s [Hit]> {
        self.check_query(query)?;
        s.hits.clear();
        let g = self.graph.read();
        if params.exhaustive {
            self.scan_range(&g, query, threshold, s);
            return Ok(&s.hits);
        }
        let ef = if params.ef == 0 {
            self.params.ef_search
        } else {
            params.ef
        };
        let mut codes = std::mem::take(&mut s.codes);
        let q = self.prepare(query, &mut codes, !self.params.mode.has_f32());
        if let Some(entry) = self.descend(&g, &q) {
            g.range_layer(&q, entry, threshold, ef, s);
            s.sorted.sort_unstable_by(|a, b| b.cmp(a));
            s.hits.extend(s.sorted.iter().map(|c| Hit {
                slot: Slot(c.slot),
                score: c.score,
            }));
        }
        s.codes = codes;
        Ok(&s.hits)
    }

    /// Scores every element (exact f32 in `exact`/`noquant`, INT8 in `q8`).
    fn scan(&self, g: &Graph, query: &[f32], codes: &mut Vec<i8>, mut f: impl FnMut(Scored)) {
        let q = self.prepare(query, codes, !self.params.mode.has_f32());
        for (i, st) in g.state.iter().enumerate() {
            if st.load(Acquire) == LINKED {
                let slot = i as u32;
                f(Scored {
                    score: g.score(&q, slot),
                    slot,
                });
            }
        }
    }

    fn scan_top(&self, g: &Graph, query: &[f32], k: usize, s: &mut Search) {
        let mut codes = std::mem::take(&mut s.codes);
        s.found.clear();
        let found = &mut s.found;
        self.scan(g, query, &mut codes, |c| {
            if found.len() < k {
                found.push(Reverse(c));
            } else if found.peek().is_some_and(|w| c > w.0) {
                found.pop();
                found.push(Reverse(c));
            }
        });
        s.codes = codes;
        s.drain_found_sorted();
        s.hits.extend(s.sorted.iter().map(|c| Hit {
            slot: Slot(c.slot),
            score: c.score,
        }));
    }

    fn scan_range(&self, g: &Graph, query: &[f32], threshold: f32, s: &mut Search) {
        let mut codes = std::mem::take(&mut s.codes);
        s.sorted.clear();
        let sorted = &mut s.sorted;
        self.scan(g, query, &mut codes, |c| {
            if c.score >= threshold {
                sorted.push(c);
            }
        });
        s.codes = codes;
        s.sorted.sort_unstable_by(|a, b| b.cmp(a));
        s.hits.extend(s.sorted.iter().map(|c| Hit {
            slot: Slot(c.slot),
            score: c.score,
        }));
    }

    /// Copies the element's vector into `out` (length `dim`): the stored f32 in
    /// `exact`/`noquant`, the dequantized codes in `q8`. False when the slot is not in the index.
    pub fn vector_into(&self, slot: Slot, out: &mut [f32]) -> bool {
        let g = self.graph.read();
        if g.state(slot.0) != LINKED || out.len() != g.dim {
            return false;
        }
        let (i, d) = (slot.index(), g.dim);
        if g.mode.has_f32() {
            out.copy_from_slice(&g.vectors[i * d..(i + 1) * d]);
        } else if g.mode == Mode::Q4 {
            crate::quant::q4::dequantize_into(g.packed_row(i), g.scales[i], out);
        } else {
            crate::quant::dequantize_into(&g.codes[i * d..(i + 1) * d], g.scales[i], out);
        }
        true
    }

    /// The element's neighbours at `level` (for snapshots and inspection); empty when the
    /// slot is not in the index or has no such level.
    pub fn neighbours(&self, slot: Slot, level: usize) -> Vec<Slot> {
        let g = self.graph.read();
        if g.state(slot.0) != LINKED {
            return Vec::new();
        }
        let mut out = Vec::new();
        g.neighbours_into(slot.0, level, &mut out);
        out.into_iter().map(Slot).collect()
    }

    /// Figures: highest level, elements, capacity, bytes.
    pub fn stats(&self) -> Stats {
        let g = self.graph.read();
        let (ep, top) = self.load_entry();
        Stats {
            max_level: if ep == u32::MAX { 0 } else { top },
            nodes: self.len(),
            capacity: g.capacity,
            memory_bytes: g.memory_bytes() + std::mem::size_of::<Self>(),
        }
    }
}
