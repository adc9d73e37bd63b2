//! HNSW over dense `u32` slots. Knows nothing of keys, disks or threads (of its own).
//!
//! The graph of Malkov & Yashunin's paper (fields keep its names: `m`, `m_max0 = 2·m` —
//! `1.5·m` with [`Params::memory_lean`] — `ef_construction`, `ef_search`, level multiplier
//! `m_L = 1/ln(m)`), with real deletion and threshold search. The pieces:
//!
//! - [`Hnsw`] — the index: [`Hnsw::insert`], [`Hnsw::build_parallel`] (rayon),
//!   [`Hnsw::remove`], [`Hnsw::search`] (top-k), [`Hnsw::search_range`] (every element with
//!   score ≥ t), exhaustive scans through [`SearchParams::exhaustive`], [`Hnsw::stats`].
//! - [`Search`] — the caller-owned scratch (visited set with a generation counter, the two
//!   heaps, the hit list). One per thread; once grown, a query allocates nothing.
//! - [`Params`], [`SearchParams`], [`Slot`], [`Hit`], [`Metric`], [`Mode`], [`Stats`].
//!
//! # Design
//!
//! **The index owns the vectors it scores** (decided for speed and soundness): per slot it
//! keeps INT8 codes with their scale (`exact`, `q8`) and/or the f32 vector (`exact`,
//! `noquant`) in contiguous `capacity × dim` arrays, next to fixed-width neighbour lists
//! (`m_max0` u32 per node at level 0, ended by a terminator when shorter; `m` per upper
//! level, in one shared pool that only the ~1/m nodes above level 0 use). No trait
//! object or callback sits in the distance loop, and a slot's vector can only be rewritten
//! when no search can be reading it (see Concurrency). [`Hnsw::vector_into`] returns the
//! stored f32 (or the dequantized codes in `q8`). A caller that keeps the f32 itself (the
//! engine's `exact` sets) builds a `q8` graph and reranks its `ef` candidates from its own
//! f32, which is what `exact` mode does inside the graph, without a second copy.
//!
//! Scores are similarities, higher is nearer: the dot product for `Cosine` (the caller
//! normalises vectors and queries) and `Dot`, `−‖a−b‖²` for `L2`. With INT8 codes a score is
//! `scale_a · scale_b · dot_i8(a, b)` (plus the stored squared norms for L2), so one kernel
//! serves every metric. Modes:
//! - `exact`: traverses INT8 codes, reranks the `ef` candidates with f32 (`search`);
//!   threshold searches walk with f32, so nothing below the threshold is ever returned.
//! - `q8`: INT8 only, scores are INT8 estimates (≈ 495 bytes per 384-d vector all included,
//!   with the memory-lean layout the engine gives q8 sets).
//! - `noquant`: f32 only.
//! - `q4`: 4-bit codes only (`crate::quant::q4`, half of `q8`'s bytes), walked with an INT8
//!   query; scores are estimates for a caller that reranks from its own f32 (the engine's
//!   `exact` sets of 128 dimensions or more).
//!
//! **Deletion is real** (`remove.rs`): the nodes that link to the removed one are found
//! within two hops, drop the link and refill from the removed node's neighbours with the
//! selection heuristic; the entry point moves; the slot can be inserted again. On
//! MiniLM-WordNet 10k, three rounds of removing and re-inserting half the elements move
//! recall@10 by ≤ 0.001 (tests/engine/index_recall.rs).
//!
//! **Threshold search** walks level 0 best-first, expanding every candidate at or above the
//! threshold and, as a floor, the `ef` best seen so far; exhaustive scans give exact answers.
//! (With `Dot` on vectors of varied norms the walk can miss elements, as any graph search for
//! maximum inner product can: use the exhaustive scan where that matters.)
//!
//! # Concurrency
//!
//! `Hnsw` is `Send + Sync`. The arrays sit behind one `parking_lot::RwLock`:
//! - searches, the linking phase of inserts, and removals take the **read** lock and run
//!   side by side; neighbour lists are atomics written under per-node mutexes (one byte each,
//!   as hnswlib's per-node locks) and read without locking;
//! - the **write** lock is taken only to store a new vector (a copy of `dim` values, plus
//!   array growth by doubling), so a search waits at most for that copy and for the searches
//!   already running. [`Hnsw::build_parallel`] stores a whole batch under one write lock.
//!
//! Because vectors are only written under the write lock, a slot freed by `remove` and
//! reused by `insert` can never be read half-written by a search that still holds a stale
//! link to it. Operations on the *same* slot must not overlap (the caller's per-element
//! order, e.g. the set's write path). A search returns only elements whose insert finished.
//!
//! # How to integrate (engine)
//!
//! 1. Per vector set, create `Hnsw::new(Params::new(dim).metric(..).mode(..).m(..)
//!    .ef_construction(..))` (map the engine's `Metric`/`StorageMode` one to one). Give the
//!    index the store's slot of each element: `Slot(slot)`. Slots are dense and reused; the
//!    arrays grow to one past the highest slot (`Hnsw::with_capacity` pre-sizes them).
//! 2. `vadd` of a new element: `index.insert(slot, &normalised_vector, &mut search)`; an
//!    update of an existing element: `remove` then `insert` on the same slot. For cosine,
//!    normalise before inserting and before querying. Bulk paths (import, snapshot
//!    recovery, rebuild) call `build_parallel`.
//! 3. `vrem`, TTL expiry, eviction, semantic invalidation: `index.remove(slot, &mut search)`,
//!    then free the slot in the store. Invalidation = `search_range(query, t, ..)` (or with
//!    `exhaustive: true` for an exact answer), then `remove` every hit under the set's write
//!    order, logging each as a delete.
//! 4. `vsearch`: `search(query, SearchParams { k: count, ef, exhaustive }, &mut search)`;
//!    `min_score` filters the hits. Map each `Hit.slot` back to the element name.
//! 5. Keep one [`Search`] per worker thread (e.g. a thread-local or a pool); it is sized by the
//!    index on use, so one scratch serves every set.
//! 6. A background indexer (elements visible before they are linked) keeps its own list of
//!    not-yet-inserted slots and scans them exactly next to `search`; `insert` is the
//!    linking step.
//! 7. `VINFO`: `stats()` gives `max_level`, `nodes`, `memory_bytes`.
//! 8. Snapshots: [`Hnsw::image`] copies the topology (levels, lists, entry point; no
//!    vectors) as an [`Image`] with a byte format; [`Restore`] rebuilds an index from it and
//!    the nodes' vectors without computing a distance (`image.rs`).

mod graph;
mod hnsw;
mod huge;
mod image;
mod inspect;
mod param;
mod remove;
mod search;
#[cfg(test)]
mod test;

pub use graph::scored_on_this_thread;
pub use hnsw::Hnsw;
pub use image::{Image, Restore};
pub use param::{Hit, Metric, Mode, Params, SearchParams, Slot, Stats};
pub use search::Search;
