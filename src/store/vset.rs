//! One vector set: element names → dense `u32` slots, and per-slot arenas of vectors.
//!
//! Layout per storage mode (slot `s`, dimension `d`):
//! - `exact`: `f32s[s*d..]` original values (returned byte for byte), `norms[s]` (‖original‖);
//!   its graph keeps the traversal codes.
//! - `q8`: only `codes`, `scales`, `norms`; reads dequantize (and rescale by the norm for cosine).
//! - `noquant`: only `f32s` and `norms`.
//! - `bin`: the sign bits in `codes` (a row of `⌈d/64⌉ × 8` bytes, bit `j` in byte `j/8`, bit
//!   `j%8`: Redis's 64-bit words, little-endian), and `norms`; reads give ±1 per component.
//!
//! Invariants: `index` maps every live element name to its slot; `elems[s]` is `Some` exactly
//! for live slots; free slots are in `free` and are reused first, lowest first, so that the
//! live elements gather at the low slots and the arrays can lose their free tail: removing the
//! element of the highest slot cuts every free slot at the end from the arrays (and gives
//! their memory back once they hold less than half their capacity).
//!
//! Accounting: each live element accounts [`VectorSet::element_bytes`] (its name and
//! attributes, its row of every array); a free slot still holds its rows, which `slack`
//! accounts ([`VectorSet::resync_slack`]), so the store's totals count what the arrays hold,
//! not only what live elements use.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;

use std::sync::Arc;

use super::arena::Arena;
use super::meta::AccessMeta;
use super::params::GraphLayout;
pub(crate) use super::params::SetParams;
use super::vindex::{with_scratch, VIndex};
use crate::analytics::{self, LatencyHist};
use crate::vocab::{Counters, Metric, StorageMode};
use crate::{quant, simd};

mod elem;
mod image;

pub(crate) use elem::{table_hash, Attrs, Elem};

/// Counters of events, of one set or of the whole store (atomics: bumped under a shared
/// lock).
#[derive(Debug, Default)]
pub(crate) struct EventCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub sets: AtomicU64,
    pub evictions: AtomicU64,
    pub expirations: AtomicU64,
    /// Elements removed by semantic invalidation.
    pub invalidations: AtomicU64,
    /// Latency of the sampled lookups (see [`crate::analytics::sample_start`]).
    pub latency: LatencyHist,
    /// The set's name hash, as the lookup log records it (set at registration).
    pub log_id: AtomicU64,
}

impl EventCounters {
    /// The counts as [`Counters`] (entries and bytes left 0 for the caller).
    pub fn load(&self) -> Counters {
        Counters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            sets: self.sets.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            expirations: self.expirations.load(Ordering::Relaxed),
            ..Counters::default()
        }
    }

    /// Zeroes every counter.
    pub fn reset(&self) {
        for c in [
            &self.hits,
            &self.misses,
            &self.sets,
            &self.evictions,
            &self.expirations,
            &self.invalidations,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.latency.reset();
    }

    /// The cumulative counts and latency, as the analytics tick reads them.
    pub fn readings(&self) -> (analytics::Counts, analytics::Hist) {
        let c = [
            &self.hits,
            &self.misses,
            &self.sets,
            &self.evictions,
            &self.expirations,
            &self.invalidations,
        ]
        .map(|a| a.load(Ordering::Relaxed));
        (analytics::Counts(c), self.latency.load())
    }
}

#[derive(Debug)]
pub(crate) struct VectorSet {
    pub params: SetParams,
    pub uid: u64,
    index: HashTable<u32>,
    elems: Vec<Option<Elem>>,
    /// Free slots below `elems.len()`; the lowest is reused first.
    free: BTreeSet<u32>,
    live: usize,
    f32s: Arena<f32>,
    codes: Arena<i8>,
    /// The INT8 codes' scales: `q8` sets only.
    scales: Arena<f32>,
    norms: Arena<f32>,
    pub attrs_count: usize,
    pub counters: Arc<EventCounters>,
    /// Accounted bytes of all live elements.
    pub bytes: u64,
    /// Accounted bytes of the free slots' rows ([`VectorSet::resync_slack`]).
    pub slack: u64,
    /// The HNSW index, once the set is large enough to want one.
    pub vindex: Option<Arc<VIndex>>,
    /// The layout its graph has (or will have): fixed when the set is made, kept in
    /// snapshots.
    pub layout: GraphLayout,
    /// Set when the index has new pending work that must be queued with the indexer.
    pub index_wants_queue: bool,
}

/// Fixed per-element overhead besides the vector and the name: the slot's `Option<Elem>`,
/// norm (a `q8` set's scale is counted with its codes), the name table's bucket and control
/// byte, allocator headers, and the eviction queues' share.
const ELEM_OVERHEAD: u64 = std::mem::size_of::<Option<Elem>>() as u64 + 4 + 8 + 16 + 48;

// The element record's size is part of the memory budget of #20 point 4 (perf-reports).
const _: () = assert!(std::mem::size_of::<Option<Elem>>() == 48);

impl VectorSet {
    pub fn new(params: SetParams, uid: u64) -> Self {
        Self {
            params,
            uid,
            index: HashTable::new(),
            elems: Vec::new(),
            free: BTreeSet::new(),
            live: 0,
            f32s: Arena::default(),
            codes: Arena::default(),
            scales: Arena::default(),
            norms: Arena::default(),
            attrs_count: 0,
            counters: Arc::default(),
            bytes: 0,
            slack: 0,
            vindex: None,
            layout: GraphLayout::new_set(&params),
            index_wants_queue: false,
        }
    }

    pub fn len(&self) -> usize {
        self.live
    }

    /// One past the highest slot ever used.
    pub fn slot_capacity(&self) -> usize {
        self.elems.len()
    }

    fn keeps_f32(&self) -> bool {
        matches!(
            self.params.storage,
            StorageMode::Exact | StorageMode::NoQuant
        )
    }

    /// Only `q8` keeps INT8 codes here: `exact` reads and scans its f32 (the HNSW graph keeps
    /// its own codes for traversal), so quantizing at every add would be wasted work and bytes.
    fn keeps_codes(&self) -> bool {
        matches!(self.params.storage, StorageMode::Q8)
    }

    /// Bytes per slot in the `codes` arena: `dim` INT8 codes (`q8`), the sign bits in 64-bit
    /// words (`bin`), none otherwise.
    pub fn code_row(&self) -> usize {
        code_row(&self.params)
    }

    /// Bytes a new element with this name and attributes accounts for.
    pub fn element_bytes(&self, name_len: usize, attrs_len: usize) -> u64 {
        let d = self.params.dim as u64;
        let mut v = 0;
        if self.keeps_f32() {
            v += 4 * d;
        }
        v += self.code_row() as u64;
        if self.keeps_codes() {
            v += 4;
        }
        v + ELEM_OVERHEAD + round16(name_len) + if attrs_len > 0 { round16(attrs_len) } else { 0 }
    }

    /// Bytes a live element accounts for ([`VectorSet::element_bytes`] of its name and
    /// attributes: a function of their lengths, so the element need not keep it).
    pub fn elem_bytes(&self, e: &Elem) -> u64 {
        self.element_bytes(e.name.len(), e.attrs.len())
    }

    pub fn find(&self, hash: u64, name: &[u8]) -> Option<u32> {
        self.index
            .find(table_hash(hash), |&s| {
                self.elems[s as usize]
                    .as_ref()
                    .is_some_and(|e| &*e.name == name)
            })
            .copied()
    }

    /// The live element whose name hashes to `hash` (the lookup log keeps hashes, not names).
    pub fn find_hash(&self, hash: u64) -> Option<u32> {
        self.index
            .find(table_hash(hash), |&s| {
                self.elems[s as usize]
                    .as_ref()
                    .is_some_and(|e| e.hash32() == hash as u32)
            })
            .copied()
    }

    pub fn elem(&self, slot: u32) -> Option<&Elem> {
        self.elems.get(slot as usize).and_then(|e| e.as_ref())
    }

    pub fn elem_mut(&mut self, slot: u32) -> Option<&mut Elem> {
        self.elems.get_mut(slot as usize).and_then(|e| e.as_mut())
    }

    /// Live slots in order (used by scans; skips holes).
    pub fn live_slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.elems
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(i, _)| i as u32)
    }

    /// Room for `n` more elements in the arrays and the name table, where memory allows
    /// (recovery sizes a set once for the elements the log adds to it; see
    /// `Store::expect_replayed_adds`). Changes nothing a reader sees.
    pub fn reserve(&mut self, n: usize) {
        let d = self.params.dim;
        let row = self.code_row();
        if self.elems.try_reserve(n).is_err() {
            return;
        }
        if self.keeps_f32() {
            self.f32s.reserve(n.saturating_mul(d));
        }
        self.codes.reserve(n.saturating_mul(row));
        if self.keeps_codes() {
            self.scales.reserve(n);
        }
        self.norms.reserve(n);
        let elems = &self.elems;
        let _ = self.index.try_reserve(n, |&x| {
            elems[x as usize]
                .as_ref()
                .map_or(0, |e| table_hash(e.hash32().into()))
        });
    }

    /// Writes the vector of a new or existing element. `vector` is validated (dimension,
    /// finite, non-zero under cosine). Returns `(slot, is_new)`.
    #[allow(clippy::too_many_arguments)]
    pub fn upsert(
        &mut self,
        name: &[u8],
        hash: u64,
        vector: &[f32],
        attrs: Option<Option<&str>>,
        expires_at: Option<u64>,
        tick: u64,
        now_ms: u64,
    ) -> (u32, bool, i64) {
        let d = self.params.dim;
        let (slot, is_new) = match self.find(hash, name) {
            Some(s) => (s, false),
            None => {
                let s = match self.free.pop_first() {
                    Some(s) => s,
                    None => {
                        let s = self.elems.len() as u32;
                        self.elems.push(None);
                        if self.keeps_f32() {
                            self.f32s.extend_zeroed(d);
                        }
                        self.codes.extend_zeroed(self.code_row());
                        if self.keeps_codes() {
                            self.scales.push(0.0);
                        }
                        self.norms.push(0.0);
                        s
                    }
                };
                self.elems[s as usize] = Some(Elem {
                    name: name.into(),
                    attrs: Attrs::default(),
                    expires_at: 0,
                    meta: AccessMeta::tagged(tick, now_ms, hash as u32),
                });
                let elems = &self.elems;
                self.index.insert_unique(table_hash(hash), s, |&x| {
                    elems[x as usize]
                        .as_ref()
                        .map_or(0, |e| table_hash(e.hash32().into()))
                });
                self.live += 1;
                (s, true)
            }
        };
        self.write_vector(slot, vector);
        if let Some(ix) = &self.vindex {
            self.index_wants_queue |= ix.mark(slot, true);
        }
        let elem = self.elems[slot as usize]
            .as_mut()
            .expect("slot just filled");
        let old_bytes = if is_new {
            0
        } else {
            let old = (elem.name.len(), elem.attrs.len());
            elem.meta = AccessMeta::tagged(tick, now_ms, elem.hash32());
            self.element_bytes(old.0, old.1)
        };
        let elem = self.elems[slot as usize]
            .as_mut()
            .expect("slot just filled");
        if let Some(a) = attrs {
            let had = elem.attrs.is_some();
            elem.attrs = Attrs::new(a);
            match (had, elem.attrs.is_some()) {
                (false, true) => self.attrs_count += 1,
                (true, false) => self.attrs_count -= 1,
                _ => {}
            }
        }
        if let Some(at) = expires_at {
            elem.expires_at = at;
        }
        let attrs_len = elem.attrs.len();
        let new_bytes = self.element_bytes(name.len(), attrs_len);
        let delta = new_bytes as i64 - old_bytes as i64;
        self.bytes = (self.bytes as i64 + delta) as u64;
        (slot, is_new, delta)
    }

    fn write_vector(&mut self, slot: u32, v: &[f32]) {
        let d = self.params.dim;
        let s = slot as usize;
        let norm = simd::norm_f32(v);
        self.norms.set(s, norm);
        if self.keeps_f32() {
            self.f32s.row_mut(s * d, d).copy_from_slice(v);
        }
        if self.keeps_codes() {
            let codes = self.codes.row_mut(s * d, d);
            // Scaling a vector does not change its codes, only its scale: the codes of the
            // normalised form are those of the original, with the scale divided by the norm.
            let scale = quant::quantize_into(v, codes);
            let scale = if self.params.metric == Metric::Cosine && norm > 0.0 {
                scale / norm
            } else {
                scale
            };
            self.scales.set(s, scale);
        }
        if self.params.storage == StorageMode::Bin {
            let row = self.code_row();
            sign_bits(v, self.codes.row_mut(s * row, row));
        }
    }

    /// Removes an element; returns its accounted bytes.
    pub fn remove(&mut self, slot: u32) -> Option<Elem> {
        let elem = self.elems.get_mut(slot as usize)?.take()?;
        if let Ok(entry) = self
            .index
            .find_entry(table_hash(elem.hash32().into()), |&s| s == slot)
        {
            entry.remove();
        }
        if elem.attrs.is_some() {
            self.attrs_count -= 1;
        }
        self.free.insert(slot);
        self.live -= 1;
        self.bytes -= self.elem_bytes(&elem);
        if let Some(ix) = &self.vindex {
            self.index_wants_queue |= ix.mark(slot, false);
        }
        if slot as usize + 1 == self.elems.len() {
            self.cut_free_tail();
        }
        Some(elem)
    }

    /// Cuts the free slots at the end of the arrays (never rows mapped from a snapshot), and
    /// gives the arrays' memory back when they use less than half of it.
    fn cut_free_tail(&mut self) {
        let keep = self.mapped_slots();
        let mut n = self.elems.len();
        while n > keep && matches!(self.elems.get(n - 1), Some(None)) {
            n -= 1;
        }
        if n == self.elems.len() {
            return;
        }
        let (d, row) = (self.params.dim, self.code_row());
        self.elems.truncate(n);
        shrink_half_empty(&mut self.elems);
        // Slots at or past `n` are no longer free slots: they no longer exist.
        drop(self.free.split_off(&(n as u32)));
        if self.keeps_f32() {
            self.f32s.truncate(n * d);
        }
        self.codes.truncate(n * row);
        self.scales.truncate(n);
        self.norms.truncate(n);
    }

    /// Bytes one slot holds in the arrays, free or live: its `Option<Elem>`, vector, codes,
    /// scale and norm.
    fn slot_row_bytes(&self) -> u64 {
        let f32_row = if self.keeps_f32() {
            4 * self.params.dim as u64
        } else {
            0
        };
        let scale = if self.keeps_codes() { 4 } else { 0 };
        std::mem::size_of::<Option<Elem>>() as u64 + f32_row + self.code_row() as u64 + scale + 4
    }

    /// Brings `slack` (the rows of the free slots: what the arrays hold beyond the live
    /// elements' own accounting) up to date after slots were taken, freed or cut; returns
    /// the change, for the store's totals.
    pub fn resync_slack(&mut self) -> i64 {
        let now = self.free.len() as u64 * self.slot_row_bytes();
        let delta = now as i64 - self.slack as i64;
        self.slack = now;
        delta
    }

    pub fn set_attrs(&mut self, slot: u32, attrs: Option<&str>) -> i64 {
        let Some(elem) = self.elems.get_mut(slot as usize).and_then(|e| e.as_mut()) else {
            return 0;
        };
        let had = elem.attrs.is_some();
        let old_len = elem.attrs.len();
        elem.attrs = Attrs::new(attrs);
        let has = elem.attrs.is_some();
        let attrs_len = elem.attrs.len();
        let name_len = elem.name.len();
        match (had, has) {
            (false, true) => self.attrs_count += 1,
            (true, false) => self.attrs_count -= 1,
            _ => {}
        }
        let new_bytes = self.element_bytes(name_len, attrs_len);
        let delta = new_bytes as i64 - self.element_bytes(name_len, old_len) as i64;
        self.bytes = (self.bytes as i64 + delta) as u64;
        delta
    }

    /// Pages in slots `start..start + n` of every array mapped from a snapshot (vectors,
    /// codes, scales, norms): see [`Arena::page_in`]. Returns the mapped bytes covered.
    pub fn page_in_slots(&self, start: usize, n: usize) -> usize {
        let (d, row) = (self.params.dim, self.code_row());
        self.f32s.page_in(start * d, n * d)
            + self.codes.page_in(start * row, n * row)
            + self.scales.page_in(start, n)
            + self.norms.page_in(start, n)
    }

    /// Slots whose arrays start in a snapshot's mapping (the rest are on the heap).
    pub fn mapped_slots(&self) -> usize {
        let d = self.params.dim.max(1);
        let row = self.code_row().max(1);
        (self.f32s.mapped_len() / d)
            .max(self.codes.mapped_len() / row)
            .max(self.norms.mapped_len())
    }

    /// The L2 norm of the vector last written to `slot` (as given, before any quantization).
    pub fn norm(&self, slot: u32) -> f32 {
        self.norms.get(slot as usize)
    }

    /// Copies the element's vector (as a read returns it) into `out` (length `dim`).
    pub fn read_vector(&self, slot: u32, out: &mut [f32]) {
        let d = self.params.dim;
        let s = slot as usize;
        if self.keeps_f32() {
            out.copy_from_slice(self.f32s.row(s * d, d));
        } else if self.params.storage == StorageMode::Bin {
            let row = self.code_row();
            let bits = self.codes.row(s * row, row);
            for (j, x) in out.iter_mut().enumerate() {
                *x = if (bits[j / 8] as u8) >> (j % 8) & 1 == 1 {
                    1.0
                } else {
                    -1.0
                };
            }
        } else {
            quant::dequantize_into(self.codes.row(s * d, d), self.scales.get(s), out);
            if self.params.metric == Metric::Cosine {
                let n = self.norms.get(s);
                out.iter_mut().for_each(|x| *x *= n);
            }
        }
    }

    /// The prepared form of a query for [`VectorSet::score`] (normalised for cosine).
    pub fn prepare_query(&self, q: &[f32]) -> PreparedQuery {
        let mut pq = PreparedQuery::default();
        self.prepare_query_into(q, &mut pq);
        pq
    }

    /// [`VectorSet::prepare_query`] into `pq`, reusing its buffers (a search on a thread
    /// that searched before allocates nothing for its query).
    pub fn prepare_query_into(&self, q: &[f32], pq: &mut PreparedQuery) {
        let v = &mut pq.v;
        v.clear();
        pq.codes.clear();
        pq.bits.clear();
        (pq.scale, pq.sqnorm) = (0.0, 0.0);
        if self.params.storage == StorageMode::Bin {
            // Redis quantizes the query too: its sign bits, and for the graph (which holds
            // the ±1 vectors, normalised) the same ±1 vector.
            pq.bits.resize(self.code_row(), 0);
            sign_bits(q, &mut pq.bits);
            let unit = 1.0 / (q.len() as f32).sqrt();
            v.extend(q.iter().map(|&x| if x > 0.0 { unit } else { -unit }));
        } else if self.params.metric == Metric::Cosine {
            // One pass: the copy is the division (the same values as dividing in place).
            let n = simd::norm_f32(q);
            if n > 0.0 {
                v.extend(q.iter().map(|&x| x / n));
            } else {
                v.extend_from_slice(q);
            }
        } else {
            v.extend_from_slice(q);
        }
        // Only a `q8` set scores with the query's INT8 codes (and its squared norm, for l2):
        // the other sets score the f32 `v` (their graph quantizes it itself) or the sign bits.
        if self.params.storage == StorageMode::Q8 {
            pq.codes.resize(v.len(), 0);
            pq.scale = quant::quantize_into(v, &mut pq.codes);
            pq.sqnorm = simd::dot_f32(v, v);
        }
    }

    /// Asks the set's graph for `want` candidates (searching with `ef`, 0 = the graph's
    /// default) and scores them into `cands` as `(score, slot)`: an `exact` set's graph
    /// scores with INT8 codes, so it is asked for all `ef` candidates and they are reranked
    /// from the set's f32 (what `index::Mode::Exact` does inside a graph). Graph hits whose
    /// version is stale are left out. Returns how many hits the graph gave and the slots not
    /// indexed yet (scored by the caller, which scans them).
    pub fn graph_candidates(
        &self,
        ix: &VIndex,
        q: &PreparedQuery,
        want: usize,
        ef: usize,
        cands: &mut Vec<(f32, u32)>,
    ) -> crate::Result<(usize, Vec<u32>)> {
        // Pending before the walk as well as after it (see `VIndex::filter`).
        let before = ix.pending_live();
        let (graph_hits, mut pending) = with_scratch(|scratch| -> crate::Result<_> {
            let graph = ix.graph();
            let ef_search = match ef {
                0 => graph.params().ef_search,
                ef => ef,
            };
            let params = crate::index::SearchParams {
                k: if ix.reranks() {
                    want.max(ef_search)
                } else {
                    want
                },
                ef,
                exhaustive: false,
            };
            let hits = graph.search(&q.v, params, scratch)?;
            Ok((hits.len(), ix.filter(hits, cands)))
        })?;
        if !before.is_empty() {
            pending.extend(before);
            pending.sort_unstable();
            pending.dedup();
            // A slot pending before the walk may be a current hit by now: scored once.
            if !cands.is_empty() {
                let hit: std::collections::HashSet<u32> = cands.iter().map(|c| c.1).collect();
                pending.retain(|s| !hit.contains(s));
            }
        }
        if ix.reranks() {
            // The f32 rows are seldom cached and each is read once: ask for all of them first.
            for c in cands.iter() {
                self.prefetch(c.1);
            }
            for c in cands.iter_mut() {
                c.0 = self.score(c.1, q);
            }
        }
        Ok((graph_hits, pending))
    }

    /// Hints the CPU to load the vector `score` reads for `slot` (f32 row, or INT8 codes).
    #[inline]
    pub fn prefetch(&self, slot: u32) {
        let (d, s) = (self.params.dim, slot as usize);
        if self.keeps_f32() {
            simd::prefetch(self.f32s.row(s * d, d));
        } else {
            let row = self.code_row();
            simd::prefetch(self.codes.row(s * row, row));
        }
    }

    /// Similarity of a live slot to a prepared query, higher is nearer, in metric units.
    pub fn score(&self, slot: u32, q: &PreparedQuery) -> f32 {
        let d = self.params.dim;
        let s = slot as usize;
        if self.keeps_f32() {
            let v = self.f32s.row(s * d, d);
            match self.params.metric {
                Metric::Cosine => {
                    let n = self.norms.get(s);
                    if n > 0.0 {
                        simd::dot_f32(&q.v, v) / n
                    } else {
                        0.0
                    }
                }
                Metric::Dot => simd::dot_f32(&q.v, v),
                Metric::L2 => -simd::l2sq_f32(&q.v, v),
            }
        } else if self.params.storage == StorageMode::Bin {
            // Redis's binary distance `2·hamming/d` as a cosine (`1 − distance`).
            let row = self.code_row();
            let bits = self.codes.row(s * row, row);
            1.0 - 2.0 * hamming(bits, &q.bits) as f32 / d as f32
        } else {
            let c = self.codes.row(s * d, d);
            let sc = self.scales.get(s);
            let dot = simd::dot_i8(&q.codes, c) as f32 * q.scale * sc;
            match self.params.metric {
                Metric::Cosine | Metric::Dot => dot,
                Metric::L2 => {
                    let vsq = simd::dot_i8(c, c) as f32 * sc * sc;
                    -(q.sqnorm + vsq - 2.0 * dot)
                }
            }
        }
    }

    /// Creates the index once the set holds `min` elements; every live slot becomes pending.
    pub fn maybe_index(&mut self, min: usize) {
        if self.vindex.is_some() || self.live < min.max(1) {
            return;
        }
        let Ok(ix) = VIndex::new(&self.params, self.layout) else {
            return;
        };
        let slots: Vec<u32> = self.live_slots().collect();
        for s in slots {
            self.index_wants_queue |= ix.mark(s, true);
        }
        self.vindex = Some(Arc::new(ix));
    }

    /// Graph bytes (and the index's version bookkeeping) accounted in the store's totals.
    pub fn index_bytes(&self) -> u64 {
        self.vindex.as_ref().map_or(0, |ix| {
            ix.accounted_bytes
                .load(std::sync::atomic::Ordering::Relaxed)
        })
    }

    /// The vector of a slot in the form the index takes (normalised for cosine).
    pub fn index_vector(&self, slot: u32) -> Option<Vec<f32>> {
        self.elem(slot)?;
        let mut v = vec![0f32; self.params.dim];
        self.read_vector(slot, &mut v);
        if self.params.metric == Metric::Cosine {
            let n = simd::norm_f32(&v);
            if n > 0.0 {
                v.iter_mut().for_each(|x| *x /= n);
            }
        }
        Some(v)
    }

    /// Counters of this set.
    pub fn counters(&self) -> Counters {
        Counters {
            entries: self.live as u64,
            bytes: self.bytes,
            ..self.counters.load()
        }
    }

    /// A random live slot, or `None` when empty. `r` is a random number.
    pub fn random_slot(&self, mut r: u64) -> Option<u32> {
        if self.live == 0 {
            return None;
        }
        let cap = self.elems.len() as u64;
        // Dense enough: probe random slots; else walk to the k-th live one.
        if self.live as u64 * 4 >= cap {
            for _ in 0..32 {
                let s = (r % cap) as u32;
                if self.elems[s as usize].is_some() {
                    return Some(s);
                }
                r = r
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407)
                    >> 1;
            }
        }
        let k = (r % self.live as u64) as usize;
        self.live_slots().nth(k)
    }
}

/// A query in the form scoring wants.
#[derive(Default)]
pub(crate) struct PreparedQuery {
    pub v: Vec<f32>,
    /// INT8 codes, their scale and the squared norm of `v` (`q8` sets; empty and 0 otherwise).
    pub codes: Vec<i8>,
    pub scale: f32,
    pub sqnorm: f32,
    /// The query's sign bits (`bin` sets; empty otherwise).
    pub bits: Vec<i8>,
}

/// Bytes per slot of a set's `codes` arena (see [`VectorSet::code_row`]).
pub(crate) fn code_row(p: &SetParams) -> usize {
    match p.storage {
        StorageMode::Q8 => p.dim,
        StorageMode::Bin => p.dim.div_ceil(64) * 8,
        StorageMode::Exact | StorageMode::NoQuant => 0,
    }
}

/// Redis's binary quantization: bit `j` set when component `j` is positive (the padding bits
/// of the last word stay 0, so they never count in a distance).
/// The bytes are stored as `i8` (the codes arena's type).
pub(crate) fn sign_bits(v: &[f32], out: &mut [i8]) {
    out.fill(0);
    for (j, &x) in v.iter().enumerate() {
        if x > 0.0 {
            out[j / 8] = (out[j / 8] as u8 | 1 << (j % 8)) as i8;
        }
    }
}

/// Number of differing bits of two rows of 64-bit words.
fn hamming(a: &[i8], b: &[i8]) -> u32 {
    let word = |c: &[i8]| {
        c.iter()
            .rev()
            .fold(0u64, |w, &byte| (w << 8) | u64::from(byte as u8))
    };
    a.chunks_exact(8)
        .zip(b.chunks_exact(8))
        .map(|(x, y)| (word(x) ^ word(y)).count_ones())
        .sum()
}

/// Gives a vector's spare memory back once it uses less than half of it (keeping a quarter
/// of headroom, so a set that grows again does not reallocate at once).
pub(crate) fn shrink_half_empty<T>(v: &mut Vec<T>) {
    if v.capacity() >= 2 * v.len() && v.capacity() * std::mem::size_of::<T>() >= 64 << 10 {
        v.shrink_to(v.len() + v.len() / 4);
    }
}

fn round16(n: usize) -> u64 {
    (n as u64).div_ceil(16) * 16 + 16
}
