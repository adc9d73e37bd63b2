//! The graph's storage: vectors (INT8 codes and/or f32) and fixed-width neighbour lists in
//! contiguous arrays indexed by slot, plus the paper's SEARCH-LAYER and neighbour selection.
//!
//! Layout (bytes per node in `q8` at 384 dimensions, M = 16): codes (384) + scale (4) + level,
//! state and lock (1 each) + the level-0 list (`M_max0` × 4, no count: a list shorter than
//! its width ends with [`NONE`]) + a `u32` offset into one shared pool that holds the upper
//! lists (levels 1..=level, `M` entries each) of the ~1/M nodes that have any. A freed
//! node's upper block goes to a free list per level and is reused by the next node drawing
//! that level.
//!
//! Concurrency: a `Graph` lives behind the index's `RwLock`. Everything sized by the
//! capacity, the upper pool and the offsets into it, and every vector, are written only
//! under the write lock (growth, staging a new element), so readers see them immutable.
//! Neighbour lists and node states are atomics: writers hold the node's mutex (`locks`) and
//! publish a list by storing its entries, then the [`NONE`] terminator when it is shorter
//! than its width (Release); readers load entries (Acquire) up to the terminator or the
//! width, without locking. A reader may see a list mid-rewrite — a mix of old and new
//! entries, every one either a slot below the capacity or the terminator (which only cuts
//! the list short) — which only makes that step of its walk slightly different. The data a
//! link points to (the node's vector, level and upper offset) was written under the write
//! lock before the link could exist, so any reader that can load the link sees it.

use super::huge::{release, resize_huge_with};
use super::param::{Metric, Mode};
use super::search::{Scored, Search};
use crate::quant::q4;
use crate::simd::{dot_f32, dot_i8, l2sq_f32};
use parking_lot::Mutex;
use std::cmp::Reverse;
use std::sync::atomic::{AtomicU32, AtomicU8, Ordering::*};

/// Node states (`Graph::state`).
pub(super) const EMPTY: u8 = 0;
/// Unlinking in progress: traversable, never a result.
pub(super) const REMOVING: u8 = 1;
/// Vector stored, links being built: traversable and linkable, not yet a search result.
pub(super) const STAGED: u8 = 2;
/// In the graph: a search result.
pub(super) const LINKED: u8 = 3;

/// End of a neighbour list shorter than its width (never a slot: `Slot::INVALID`).
pub(super) const NONE: u32 = u32::MAX;

/// Highest level a node can draw.
pub(super) const MAX_LEVEL: usize = 15;

/// A query as the scorer sees it: INT8 codes (traversal in `exact`/`q8`/`q4`), a stored
/// node's packed 4-bit row (`q4` construction), or f32.
#[derive(Clone, Copy)]
pub(super) struct Query<'a> {
    /// Empty when scoring with f32 or a packed row. In `q4` padded to
    /// `quant::q4::padded_dims(dim)` with zeros.
    pub codes: &'a [i8],
    /// `Σ codes` (`q4`: the nibbles' offset of 8 is taken out once per score).
    pub codes_sum: i32,
    /// A stored `q4` node's packed row; empty otherwise.
    pub packed: &'a [u8],
    pub scale: f32,
    /// Squared norm (L2 only).
    pub norm_sq: f32,
    /// The f32 vector; empty for a stored node in `q8` mode.
    pub f32: &'a [f32],
}

pub(super) struct Graph {
    pub dim: usize,
    pub metric: Metric,
    pub mode: Mode,
    /// `M` (levels ≥ 1) and `M_max0` (level 0).
    pub m: usize,
    pub m_max0: usize,
    pub capacity: usize,
    /// `capacity × dim` INT8 codes (`exact`, `q8`).
    pub codes: Vec<i8>,
    /// `capacity × quant::q4::row_bytes(dim)` packed 4-bit codes (`q4`).
    pub packed: Vec<u8>,
    /// Bytes of one packed row (`q4`; 0 otherwise).
    pub packed_row: usize,
    /// `capacity × dim` f32 (`exact`, `noquant`).
    pub vectors: Vec<f32>,
    /// Per slot: INT8 scale, and squared norm of the f32 vector (L2 only, else empty).
    pub scales: Vec<f32>,
    pub norms_sq: Vec<f32>,
    /// Per slot: the node's top level.
    pub levels: Vec<u8>,
    pub state: Vec<AtomicU8>,
    /// Level-0 lists: `capacity × M_max0`, each ended by [`NONE`] when not full.
    pub links0: Vec<AtomicU32>,
    /// Per slot: offset in `pool` of the node's upper lists (levels 1..=level, `M` entries
    /// each, level 1 first); unused for level-0 nodes.
    pub upper_at: Vec<u32>,
    /// Every upper list, in blocks of `level × M` entries.
    pub pool: Vec<AtomicU32>,
    /// Free pool blocks by level (index `level - 1`).
    pub pool_free: Vec<Vec<u32>>,
    /// Per-node writer locks (one byte each).
    pub locks: Vec<Mutex<()>>,
}

impl Drop for Graph {
    /// The big arrays withdraw their huge-page advice before they go back to the allocator
    /// (see `index/huge.rs`).
    fn drop(&mut self) {
        release(&mut self.codes);
        release(&mut self.packed);
        release(&mut self.vectors);
        release(&mut self.links0);
    }
}

thread_local! {
    static SCORED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn count_scored(n: usize) {
    SCORED.with(|c| c.set(c.get() + n as u64));
}

/// Nodes the graph walks of this thread have scored so far (greedy descents and layer
/// searches, inserts included): a machine-independent measure of a search's work, for
/// benchmarks that compare two graphs on a noisy machine.
pub fn scored_on_this_thread() -> u64 {
    SCORED.with(|c| c.get())
}

impl Graph {
    pub fn new(dim: usize, metric: Metric, mode: Mode, m: usize, m_max0: usize) -> Self {
        Self {
            dim,
            metric,
            mode,
            m,
            m_max0,
            capacity: 0,
            codes: Vec::new(),
            packed: Vec::new(),
            packed_row: if mode == Mode::Q4 {
                crate::quant::q4::row_bytes(dim)
            } else {
                0
            },
            vectors: Vec::new(),
            scales: Vec::new(),
            norms_sq: Vec::new(),
            levels: Vec::new(),
            state: Vec::new(),
            links0: Vec::new(),
            upper_at: Vec::new(),
            pool: Vec::new(),
            pool_free: vec![Vec::new(); MAX_LEVEL],
            locks: Vec::new(),
        }
    }

    /// Grows every array to `min` slots (when smaller). Write lock held.
    pub fn grow(&mut self, min: usize) {
        if min <= self.capacity {
            return;
        }
        // Exactly `min` slots: the arrays reserve by doubling (`resize_huge_with`, `Vec`'s
        // own growth), so growing one slot at a time is amortised O(1), and no slot past the
        // highest one used is ever written: resident memory follows the slots in use, not
        // the next power of 2 (which cost up to 2× the codes and lists; 100k slots wrote
        // 131,072).
        let cap = min;
        if self.mode.has_i8() {
            resize_huge_with(&mut self.codes, cap * self.dim, || 0);
        }
        if self.packed_row > 0 {
            resize_huge_with(&mut self.packed, cap * self.packed_row, || 0x88);
        }
        if self.mode.has_f32() {
            resize_huge_with(&mut self.vectors, cap * self.dim, || 0.0);
        }
        self.scales.resize(cap, 0.0);
        if self.metric == Metric::L2 {
            self.norms_sq.resize(cap, 0.0);
        }
        self.levels.resize(cap, 0);
        self.state.resize_with(cap, || AtomicU8::new(EMPTY));
        resize_huge_with(&mut self.links0, cap * self.m_max0, || AtomicU32::new(NONE));
        self.upper_at.resize(cap, 0);
        self.locks.resize_with(cap, || Mutex::new(()));
        self.capacity = cap;
    }

    /// Stores a vector into an empty slot with its level (write lock held; slot < capacity).
    pub fn stage(&mut self, i: usize, v: &[f32], level: usize) {
        let d = self.dim;
        if self.mode.has_i8() {
            self.scales[i] = crate::quant::quantize_into(v, &mut self.codes[i * d..(i + 1) * d]);
        }
        if self.packed_row > 0 {
            let r = self.packed_row;
            self.scales[i] =
                crate::quant::q4::quantize_into(v, &mut self.packed[i * r..(i + 1) * r]);
        }
        if self.mode.has_f32() {
            self.vectors[i * d..(i + 1) * d].copy_from_slice(v);
        }
        if self.metric == Metric::L2 {
            self.norms_sq[i] = dot_f32(v, v);
        }
        let old = self.levels[i] as usize;
        if old > 0 {
            self.pool_free[old - 1].push(self.upper_at[i]);
        }
        self.levels[i] = level as u8;
        self.links0[i * self.m_max0].store(NONE, Relaxed);
        if level > 0 {
            let at = self.alloc_upper(level);
            for l in 0..level {
                self.pool[at + l * self.m].store(NONE, Relaxed);
            }
            self.upper_at[i] = at as u32;
        }
        self.state[i].store(STAGED, Release);
    }

    /// A pool block for a node of `level` ≥ 1: a freed one of the same level, else appended
    /// (the pool grows by an eighth at a time, so its slack stays small).
    fn alloc_upper(&mut self, level: usize) -> usize {
        if let Some(at) = self.pool_free[level - 1].pop() {
            return at as usize;
        }
        let at = self.pool.len();
        let need = level * self.m;
        if self.pool.capacity() - at < need {
            self.pool.reserve_exact(need.max(at / 8).max(1024));
        }
        self.pool.resize_with(at + need, || AtomicU32::new(NONE));
        at
    }

    #[inline]
    pub fn state(&self, slot: u32) -> u8 {
        self.state
            .get(slot as usize)
            .map_or(EMPTY, |s| s.load(Acquire))
    }

    /// Whether a node may be linked to (being inserted or in the graph).
    #[inline]
    pub fn linkable(&self, slot: u32) -> bool {
        self.state(slot) >= STAGED
    }

    /// Whether `slot` has `level`. A link at level ≥ 1 can outlive its target: a removal
    /// repairs the in-neighbours it finds within two hops, and at the sparse upper levels
    /// some are missed; once the slot is reused by a node of lower level, following such a
    /// link would strand a walk on a node with no list at that level. Always true at level 0.
    #[inline]
    pub fn on_level(&self, slot: u32, level: usize) -> bool {
        level == 0
            || self
                .levels
                .get(slot as usize)
                .is_some_and(|&l| l as usize >= level)
    }

    /// List width of a level (`M_max0` or `M`).
    #[inline]
    pub fn m_max(&self, level: usize) -> usize {
        if level == 0 {
            self.m_max0
        } else {
            self.m
        }
    }

    /// The node's list at `level` (its full width, [`NONE`]-terminated when shorter); empty
    /// when the node has no such level.
    #[inline]
    pub fn list(&self, slot: u32, level: usize) -> &[AtomicU32] {
        let i = slot as usize;
        if level == 0 {
            let w = self.m_max0;
            self.links0.get(i * w..(i + 1) * w).unwrap_or(&[])
        } else {
            match self.levels.get(i) {
                Some(&top) if level <= top as usize => {
                    let at = self.upper_at[i] as usize + (level - 1) * self.m;
                    self.pool.get(at..at + self.m).unwrap_or(&[])
                }
                _ => &[],
            }
        }
    }

    /// The published entries of a list (lock-free read), up to the terminator.
    #[inline]
    pub fn neighbours(list: &[AtomicU32]) -> impl Iterator<Item = u32> + '_ {
        list.iter()
            .map(|a| a.load(Acquire))
            .take_while(|&n| n != NONE)
    }

    /// Copies a node's neighbours at `level` into `out`.
    pub fn neighbours_into(&self, slot: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend(Self::neighbours(self.list(slot, level)));
    }

    /// Publishes a list (caller holds the node's lock). Extra items are dropped; `NONE`
    /// items must not be passed.
    pub fn set_list(&self, slot: u32, level: usize, items: impl Iterator<Item = u32>) {
        let list = self.list(slot, level);
        let mut n = 0;
        for (dst, s) in list.iter().zip(items) {
            debug_assert_ne!(s, NONE);
            dst.store(s, Release);
            n += 1;
        }
        if let Some(end) = list.get(n) {
            end.store(NONE, Release);
        }
    }

    /// A stored node as a query, in the traversal representation.
    #[inline]
    pub fn node_query(&self, slot: u32) -> Query<'_> {
        let (i, d) = (slot as usize, self.dim);
        let codes = if self.mode.has_i8() {
            &self.codes[i * d..(i + 1) * d]
        } else {
            &[]
        };
        let f32 = if self.mode.has_f32() {
            &self.vectors[i * d..(i + 1) * d]
        } else {
            &[]
        };
        Query {
            codes,
            codes_sum: 0,
            packed: self.packed_row(i),
            scale: self.scales[i],
            norm_sq: self.norms_sq.get(i).copied().unwrap_or(0.0),
            f32,
        }
    }

    /// Score of `slot` against `q` (higher is nearer), with INT8 codes when the query has
    /// them, else with f32. Always inlined: the walks call it for every neighbour, and
    /// inlined its checks of the query and the metric move out of their loops (−5%
    /// instructions per build).
    #[inline(always)]
    pub fn score(&self, q: &Query<'_>, slot: u32) -> f32 {
        let (i, d) = (slot as usize, self.dim);
        let codes = if !q.codes.is_empty() {
            if self.packed_row > 0 {
                q4::dot_query(self.packed_row(i), q.codes, q.codes_sum)
            } else {
                dot_i8(q.codes, &self.codes[i * d..(i + 1) * d])
            }
        } else if !q.packed.is_empty() {
            q4::dot_rows(q.packed, self.packed_row(i))
        } else {
            return self.score_f32(q.f32, slot);
        };
        let dot = codes as f32 * (q.scale * self.scales[i]);
        match self.metric {
            Metric::L2 => -(q.norm_sq + self.norms_sq[i] - 2.0 * dot),
            _ => dot,
        }
    }

    /// Slot `i`'s packed 4-bit row (`q4`; empty otherwise).
    #[inline(always)]
    pub fn packed_row(&self, i: usize) -> &[u8] {
        let r = self.packed_row;
        self.packed.get(i * r..(i + 1) * r).unwrap_or(&[])
    }

    /// Exact score from the stored f32 (`exact`/`noquant` only).
    #[inline]
    pub fn score_f32(&self, q: &[f32], slot: u32) -> f32 {
        let (i, d) = (slot as usize, self.dim);
        let v = &self.vectors[i * d..(i + 1) * d];
        match self.metric {
            Metric::L2 => -l2sq_f32(q, v),
            _ => dot_f32(q, v),
        }
    }

    /// Greedy walk at one level (SEARCH-LAYER with ef = 1): moves to a nearer neighbour
    /// while there is one.
    pub fn greedy(&self, q: &Query<'_>, mut cur: Scored, level: usize) -> Scored {
        let mut scored = 0;
        loop {
            let mut moved = false;
            for n in Self::neighbours(self.list(cur.slot, level)) {
                if !self.on_level(n, level) {
                    continue;
                }
                scored += 1;
                let s = self.score(q, n);
                // Only to linked nodes: a staged one may not have its lists yet (the walk
                // would stop dead on it), a removed one is not a result. Checked only for a
                // better node: a move is rare, a neighbour is not.
                if s > cur.score && self.state(n) == LINKED {
                    cur = Scored { score: s, slot: n };
                    moved = true;
                }
            }
            if !moved {
                count_scored(scored);
                return cur;
            }
        }
    }

    /// SEARCH-LAYER: leaves in `s.found` the (at most) `ef` nearest nodes reached from `entry`
    /// whose state is at least `min_state`.
    pub fn search_layer(
        &self,
        q: &Query<'_>,
        entry: Scored,
        ef: usize,
        level: usize,
        min_state: u8,
        s: &mut Search,
    ) {
        s.visited.clear(self.capacity);
        s.candidates.clear();
        s.found.clear();
        s.visited.insert(entry.slot);
        let mut scored = 0;
        s.candidates.push(entry);
        if self.state(entry.slot) >= min_state {
            s.found.push(Reverse(entry));
        }
        while let Some(c) = s.candidates.pop() {
            if s.found.len() >= ef && s.found.peek().is_some_and(|w| c.score < w.0.score) {
                break;
            }
            // The next candidate is most often the one now on top: start loading its list
            // while this one's neighbours are scored.
            if let Some(next) = s.candidates.peek() {
                crate::simd::prefetch(self.list(next.slot, level));
            }
            // Gather the unvisited neighbours first and prefetch their vectors, so the
            // memory loads overlap instead of each score waiting for its own.
            // The gathering has no data-dependent branch: every entry is written and the
            // count advances by whether it was unvisited.
            let mut batch = std::mem::take(&mut s.batch);
            let list = self.list(c.slot, level);
            if batch.len() < list.len() {
                batch.resize(list.len(), NONE);
            }
            let mut len = 0;
            for n in Self::neighbours(list) {
                batch[len] = n;
                len += (self.on_level(n, level) && s.visited.insert_flag(n)) as usize;
            }
            scored += len;
            for &n in &batch[..len] {
                self.prefetch(q, n);
            }
            for &n in &batch[..len] {
                let score = self.score(q, n);
                let full = s.found.len() >= ef;
                if full && s.found.peek().is_some_and(|w| score <= w.0.score) {
                    continue;
                }
                let cand = Scored { score, slot: n };
                s.candidates.push(cand);
                if self.state(n) >= min_state {
                    if full {
                        // Replaces the farthest in one sift instead of a push and a pop.
                        if let Some(mut worst) = s.found.peek_mut() {
                            *worst = Reverse(cand);
                        }
                    } else {
                        s.found.push(Reverse(cand));
                    }
                }
            }
            s.batch = batch;
        }
        count_scored(scored);
    }

    /// Hints the CPU to load the first cache lines of `slot`'s vector in the representation
    /// `q` scores with, up to 1 KiB: the whole INT8 row (768-d codes: +15-22% q/s against
    /// the first 384 bytes only), the first 256 floats of an f32 row (`noquant` 384-d:
    /// +3-10% against 96; the whole row measured the same) (through `simd::prefetch`; a
    /// no-op off x86-64).
    #[inline]
    fn prefetch(&self, q: &Query<'_>, slot: u32) {
        let (i, d) = (slot as usize, self.dim);
        if !q.codes.is_empty() && self.packed_row > 0 {
            crate::simd::prefetch(self.packed_row(i));
            crate::simd::prefetch(self.scales.get(i..i + 1).unwrap_or(&[]));
        } else if !q.codes.is_empty() {
            if let Some(row) = self.codes.get(i * d..(i + 1) * d) {
                crate::simd::prefetch(&row[..d.min(1024)]);
                // The scale is read right after the dot product.
                crate::simd::prefetch(self.scales.get(i..i + 1).unwrap_or(&[]));
            }
        } else if let Some(row) = self.vectors.get(i * d..(i + 1) * d) {
            crate::simd::prefetch(&row[..d.min(256)]);
        }
    }

    /// Hints the CPU to load the whole f32 vector of `slot` (the rerank's operand).
    #[inline]
    pub fn prefetch_f32(&self, slot: u32) {
        let (i, d) = (slot as usize, self.dim);
        if let Some(row) = self.vectors.get(i * d..(i + 1) * d) {
            crate::simd::prefetch(row);
        }
    }

    /// Range walk at level 0: every LINKED node reached with score ≥ `threshold` goes to
    /// `s.sorted` (unsorted); the walk expands every candidate at or above the threshold and,
    /// as a floor, the `ef` best seen so far.
    pub fn range_layer(
        &self,
        q: &Query<'_>,
        entry: Scored,
        threshold: f32,
        ef: usize,
        s: &mut Search,
    ) {
        s.visited.clear(self.capacity);
        s.candidates.clear();
        s.found.clear();
        s.sorted.clear();
        s.visited.insert(entry.slot);
        s.candidates.push(entry);
        if self.state(entry.slot) == LINKED {
            s.found.push(Reverse(entry));
            if entry.score >= threshold {
                s.sorted.push(entry);
            }
        }
        let bound = |s: &Search| {
            let floor = if s.found.len() >= ef {
                s.found.peek().map_or(f32::NEG_INFINITY, |w| w.0.score)
            } else {
                f32::NEG_INFINITY
            };
            floor.min(threshold)
        };
        while let Some(c) = s.candidates.pop() {
            if c.score < bound(s) {
                break;
            }
            for n in Self::neighbours(self.list(c.slot, 0)) {
                if !s.visited.insert(n) {
                    continue;
                }
                let score = self.score(q, n);
                if score < bound(s) {
                    continue;
                }
                let cand = Scored { score, slot: n };
                s.candidates.push(cand);
                if self.state(n) == LINKED {
                    if score >= threshold {
                        s.sorted.push(cand);
                    }
                    s.found.push(Reverse(cand));
                    if s.found.len() > ef {
                        s.found.pop();
                    }
                }
            }
        }
    }

    /// SELECT-NEIGHBORS-HEURISTIC (paper's Algorithm 4, without extending or keeping pruned
    /// candidates): from `candidates` (sorted nearest first, scores against the base), keeps
    /// a candidate only when it is nearer to the base than to every one already kept.
    pub fn select(&self, candidates: &[Scored], base: u32, m: usize, out: &mut Vec<Scored>) {
        out.clear();
        for &c in candidates {
            if out.len() >= m {
                break;
            }
            if c.slot == base {
                continue;
            }
            let q = self.node_query(c.slot);
            if out.iter().all(|r| self.score(&q, r.slot) < c.score) {
                out.push(c);
            }
        }
    }

    /// Bytes held by the arrays: their written part (the reserve past it is address space
    /// only, never touched; see `grow`).
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.codes.len()
            + self.packed.len()
            + self.vectors.len() * 4
            + (self.scales.len() + self.norms_sq.len()) * 4
            + self.levels.len()
            + self.state.len()
            + self.links0.len() * 4
            + self.upper_at.len() * 4
            + self.pool.len() * 4
            + self
                .pool_free
                .iter()
                .map(|f| f.capacity() * 4)
                .sum::<usize>()
            + self.locks.len() * size_of::<Mutex<()>>()
    }
}
