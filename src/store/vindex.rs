//! A vector set's HNSW index, maintained in the background.
//!
//! Writers never wait for graph insertion: an add or remove only records the slot's new
//! version under a small mutex and queues the set for the indexer. The indexer (one engine
//! thread) copies pending vectors under the shard's read lock, then inserts into / removes from
//! the graph with no shard lock held, and records which version each slot has in the graph.
//!
//! Invariant: a slot is *current* in the graph when `indexed[s] == live[s] != 0`; every slot
//! whose live version is not current is in `pending` (removals too, until the graph forgot
//! them). A search walks the graph, drops hits that are not current, and scans `pending`
//! exactly — so results never miss a fresh entry and never return a removed one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use super::params::{GraphLayout, SetParams};
use crate::error::Result;
use crate::index::{self, Hnsw, Image, Search, Slot};
use crate::snapshot::MappedArray;
use crate::vocab::StorageMode;

/// Version bookkeeping of one index.
#[derive(Default)]
struct State {
    /// Version of each slot's current content; 0 = no element.
    live: Vec<u64>,
    /// Version of each slot in the graph; 0 = not in the graph.
    indexed: Vec<u64>,
    /// Slots whose live version is not (yet) what the graph holds.
    pending: HashMap<u32, u64>,
    next_version: u64,
    /// Queued with the indexer.
    queued: bool,
}

pub(crate) struct VIndex {
    hnsw: RwLock<Arc<Hnsw>>,
    params: index::Params,
    /// The graph's scores are INT8 estimates the caller must rerank with the set's f32
    /// (`exact` sets).
    reranks: bool,
    /// Graph removals since the graph was built (a rebuild trigger).
    removed_since_build: AtomicU64,
    state: Mutex<State>,
    /// A graph saved in the snapshot this set was loaded from, until the indexer restored it.
    saved: Mutex<Option<Arc<SavedGraph>>>,
    /// Nodes the last restore put back (0 when the graph was built instead).
    restored_nodes: AtomicU64,
    /// Bytes of the graph and the version bookkeeping already accounted in the store's totals.
    pub accounted_bytes: AtomicU64,
    /// Held by an index round: rounds of one set never overlap (the graph's operations on a
    /// slot must not, and a restore or rebuild swaps the graph under a round's feet).
    pub round: Mutex<()>,
}

/// A snapshot's graph image (mapped) and each slot's live version when the set was loaded:
/// a node is restored only while its slot still holds that version (the vector the topology
/// was built for).
pub(crate) struct SavedGraph {
    image: MappedArray,
    versions: Vec<u64>,
}

impl SavedGraph {
    pub fn bytes(&self) -> &[u8] {
        self.image.bytes()
    }

    /// The version `slot` must still have for its node to be restored (0: none).
    pub fn version(&self, slot: u32) -> u64 {
        self.versions.get(slot as usize).copied().unwrap_or(0)
    }
}

impl std::fmt::Debug for VIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VIndex")
            .field("nodes", &self.graph().len())
            .field("pending", &self.pending_len())
            .finish()
    }
}

/// Elements a rebuild links between two looks at its `stop` condition.
const REBUILD_BATCH: usize = 4_096;

/// One unit of indexer work: a slot, its version, and its vector in search form (or `None`
/// for a removal).
pub(crate) type Work = (u32, u64, Option<Vec<f32>>);

thread_local! {
    static SCRATCH: std::cell::RefCell<Search> = std::cell::RefCell::new(Search::new());
}

/// Runs `f` with this thread's search scratch (a query allocates nothing once it has grown).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Search) -> R) -> R {
    SCRATCH.with(|s| f(&mut s.borrow_mut()))
}

/// A search's buffers, kept per thread between searches (a search then allocates nothing
/// of its own): the prepared query, the graph's candidates, the hits kept.
#[derive(Default)]
pub(crate) struct SearchBufs {
    pub query: super::PreparedQuery,
    pub cands: Vec<(f32, u32)>,
    pub hits: Vec<(f32, u32)>,
}

/// Hits and candidates a thread's kept buffers may hold (a search for more makes its own
/// and drops them after, so one huge `count` does not stay in every thread).
const KEPT_BUFFER_ENTRIES: usize = 4_096;

/// Runs `f` with this thread's search buffers. They are taken out of the thread-local for
/// the call (a nested search, or a thread being torn down, gets fresh ones), and put back
/// unless they grew past [`KEPT_BUFFER_ENTRIES`].
pub(crate) fn with_search_bufs<R>(f: impl FnOnce(&mut SearchBufs) -> R) -> R {
    thread_local! {
        static BUFS: std::cell::Cell<SearchBufs> = std::cell::Cell::new(SearchBufs::default());
    }
    let mut b = BUFS.try_with(std::cell::Cell::take).unwrap_or_default();
    let r = f(&mut b);
    if b.cands.capacity().max(b.hits.capacity()) <= KEPT_BUFFER_ENTRIES {
        let _ = BUFS.try_with(|c| c.set(b));
    }
    r
}

impl VIndex {
    pub fn new(p: &SetParams, layout: GraphLayout) -> Result<Self> {
        // An `exact` set keeps its f32 originals in its own arena, so its graph holds only the
        // codes it traverses (INT8, or 4-bit with the `GraphLayout::new_set` layout), and the
        // engine reranks the graph's `ef` candidates from the set's f32 (`reranks`): the
        // graph's rerank in `index::Mode::Exact`, without a second f32 copy of every vector
        // (4·dim bytes per element).
        // A `bin` set's graph holds its ±1 vectors as INT8 codes (±127, one scale): their
        // INT8 dot product is exactly `d − 2·hamming`, so the walk orders nodes as Redis's
        // Hamming distance does, and the set rescores the candidates from its bits.
        // The level-0 width is the layout's too (`q8`'s memory-lean 1.5·M, exact 4-bit's
        // M): a saved graph is restored only into lists of its own width.
        let params = index::Params::new(p.dim)
            .metric(p.metric)
            .mode(layout.mode)
            .m(p.m)
            .m_max0(layout.m_max0)
            .ef_construction(p.ef_construction);
        Ok(Self {
            hnsw: RwLock::new(Arc::new(Hnsw::new(params)?)),
            params,
            reranks: matches!(p.storage, StorageMode::Exact | StorageMode::Bin),
            removed_since_build: AtomicU64::new(0),
            state: Mutex::new(State::default()),
            saved: Mutex::new(None),
            restored_nodes: AtomicU64::new(0),
            accounted_bytes: AtomicU64::new(0),
            round: Mutex::new(()),
        })
    }

    /// The index's parameters.
    pub fn params(&self) -> index::Params {
        self.params
    }

    /// Whether graph hits carry INT8 estimates to rerank with the set's f32 (`exact` sets).
    pub fn reranks(&self) -> bool {
        self.reranks
    }

    /// Keeps a snapshot's graph image for the indexer to restore (call after every loaded
    /// slot was marked: the versions are taken now).
    pub fn set_saved(&self, image: MappedArray) {
        let st = self.state.lock();
        *self.saved.lock() = Some(Arc::new(SavedGraph {
            image,
            versions: st.live.clone(),
        }));
    }

    /// The saved graph still waiting to be restored.
    pub fn saved(&self) -> Option<Arc<SavedGraph>> {
        self.saved.lock().clone()
    }

    /// Forgets the saved graph (it could not be restored: the graph is built instead).
    pub fn drop_saved(&self) {
        *self.saved.lock() = None;
    }

    /// Nodes the last restore put back.
    pub fn restored_nodes(&self) -> usize {
        self.restored_nodes.load(Ordering::Relaxed) as usize
    }

    /// The graph's topology for a snapshot, as bytes (`index::Image`): only nodes whose slot
    /// holds the version the graph has, so every saved node matches the vector the snapshot
    /// keeps for its slot (the caller holds the shard's read lock, so slots cannot change).
    /// While a saved graph waits to be restored, that one is passed on (minus changed slots).
    /// `None` when there is no graph to save.
    pub fn image_bytes(&self) -> Option<Vec<u8>> {
        let st = self.state.lock();
        if let Some(saved) = self.saved() {
            let image = Image::decode(saved.bytes()).ok()?.retain(|s| {
                let v = saved.version(s);
                v != 0 && st.live.get(s as usize) == Some(&v)
            });
            return (image.nodes() > 0).then(|| image.encode());
        }
        let current: Vec<bool> = (0..st.live.len())
            .map(|s| st.live[s] != 0 && st.indexed[s] == st.live[s])
            .collect();
        // Taken under the state lock: a rebuild swaps graph and versions under it together.
        let graph = self.graph();
        drop(st);
        if graph.is_empty() {
            return None;
        }
        Some(
            graph
                .image(|s| current.get(s as usize).copied().unwrap_or(false))
                .encode(),
        )
    }

    /// Puts a restored graph in place (the indexer, after staging every node it could): the
    /// `restored` slots are current at the versions given, every other live slot is pending.
    pub fn install_restored(&self, fresh: Hnsw, restored: &[(u32, u64)]) {
        self.restored_nodes
            .store(restored.len() as u64, Ordering::Relaxed);
        self.install(fresh, restored);
        self.drop_saved();
    }

    /// A writer stored new content in `slot` (or removed it: `present == false`). Returns true
    /// when the set must be queued with the indexer.
    pub fn mark(&self, slot: u32, present: bool) -> bool {
        let mut st = self.state.lock();
        let s = slot as usize;
        if st.live.len() <= s {
            st.live.resize(s + 1, 0);
            st.indexed.resize(s + 1, 0);
        }
        let v = if present {
            st.next_version += 1;
            st.next_version
        } else {
            0
        };
        st.live[s] = v;
        if st.indexed[s] == v {
            st.pending.remove(&slot);
        } else {
            st.pending.insert(slot, v);
        }
        let queue = !st.pending.is_empty() && !st.queued;
        if queue {
            st.queued = true;
        }
        queue
    }

    /// Up to `n` pending slots with their live versions.
    pub fn pending_batch(&self, n: usize) -> Vec<(u32, u64)> {
        let st = self.state.lock();
        st.pending.iter().take(n).map(|(&s, &v)| (s, v)).collect()
    }

    /// Applies work to the graph (indexer thread only; no shard lock held). Items whose version
    /// changed meanwhile are skipped (they stay pending).
    pub fn apply(&self, work: Vec<Work>) {
        let hnsw = self.graph();
        let mut inserts: Vec<(u32, u64, Vec<f32>)> = Vec::new();
        with_scratch(|scratch| {
            for (slot, v, vector) in work {
                if self.live_version(slot) != v {
                    continue;
                }
                if hnsw.contains(Slot(slot)) {
                    hnsw.remove(Slot(slot), scratch);
                    self.removed_since_build.fetch_add(1, Ordering::Relaxed);
                }
                match vector {
                    Some(vec) => inserts.push((slot, v, vec)),
                    None => self.record(slot, 0),
                }
            }
            if inserts.len() >= 256 {
                let items: Vec<(Slot, &[f32])> = inserts
                    .iter()
                    .map(|(s, _, v)| (Slot(*s), v.as_slice()))
                    .collect();
                if hnsw.build_parallel(&items).is_ok() {
                    for (s, v, _) in &inserts {
                        self.record(*s, *v);
                    }
                }
            } else {
                for (s, v, vec) in &inserts {
                    if hnsw.insert(Slot(*s), vec, scratch).is_ok() {
                        self.record(*s, *v);
                    }
                }
            }
        });
    }

    /// The current graph.
    pub fn graph(&self) -> Arc<Hnsw> {
        self.hnsw.read().clone()
    }

    /// Real deletion relinks only a removed node's near neighbourhood; under heavy churn (more
    /// removals since the build than a quarter of the nodes) the graph is rebuilt instead.
    pub fn needs_rebuild(&self) -> bool {
        let n = self.graph().len() as u64;
        let removed = self.removed_since_build.load(Ordering::Relaxed);
        removed >= 1_000.max(n / 4)
    }

    /// Live versions of these slots, to build a new graph from.
    pub fn live_versions(&self, slots: &[u32]) -> Vec<u64> {
        let st = self.state.lock();
        slots
            .iter()
            .map(|&s| st.live.get(s as usize).copied().unwrap_or(0))
            .collect()
    }

    /// Builds a fresh graph from `items` (slot, version, vector) with no lock held, then swaps
    /// it in: slots whose version changed meanwhile stay pending.
    /// `stop` is asked between batches (the engine is closing): a rebuild given up leaves the
    /// current graph in place.
    pub fn rebuild(&self, items: Vec<(u32, u64, Vec<f32>)>, stop: impl Fn() -> bool) {
        let Ok(fresh) = Hnsw::with_capacity(self.params, items.len()) else {
            return;
        };
        let refs: Vec<(Slot, &[f32])> = items
            .iter()
            .map(|(s, _, v)| (Slot(*s), v.as_slice()))
            .collect();
        for batch in refs.chunks(REBUILD_BATCH) {
            if stop() || fresh.build_parallel(batch).is_err() {
                return;
            }
        }
        let items: Vec<(u32, u64)> = items.iter().map(|(s, v, _)| (*s, *v)).collect();
        self.install(fresh, &items);
    }

    /// Swaps `fresh` in as the graph holding `items` (slot, version); slots whose live
    /// version differs stay (or become) pending.
    fn install(&self, fresh: Hnsw, items: &[(u32, u64)]) {
        let mut st = self.state.lock();
        let n = st.live.len();
        st.indexed = vec![0; n];
        for &(s, v) in items {
            if (s as usize) < n {
                st.indexed[s as usize] = v;
            }
        }
        let pending: HashMap<u32, u64> = (0..n)
            .filter(|&s| st.indexed[s] != st.live[s])
            .map(|s| (s as u32, st.live[s]))
            .collect();
        st.pending = pending;
        *self.hnsw.write() = Arc::new(fresh);
        self.removed_since_build.store(0, Ordering::Relaxed);
    }

    pub fn live_version(&self, slot: u32) -> u64 {
        self.state
            .lock()
            .live
            .get(slot as usize)
            .copied()
            .unwrap_or(0)
    }

    /// The graph now holds version `v` of `slot`. When the slot changed meanwhile (a writer
    /// removed the element while the indexer was inserting it: the writer saw nothing in the
    /// graph and left nothing pending) it becomes pending again, so the graph forgets it.
    fn record(&self, slot: u32, v: u64) {
        let mut st = self.state.lock();
        let s = slot as usize;
        if s < st.indexed.len() {
            st.indexed[s] = v;
            let live = st.live[s];
            if live == v {
                st.pending.remove(&slot);
            } else {
                st.pending.insert(slot, live);
            }
        }
    }

    /// After a round of work: true when more is pending (stay queued), else unqueues.
    pub fn requeue(&self) -> bool {
        let mut st = self.state.lock();
        st.queued = !st.pending.is_empty();
        // A bulk load leaves a table sized for its whole backlog (100k × 768-d: 2.2 MB,
        // 22 bytes an element, kept for nothing once the indexer caught up).
        let len = st.pending.len();
        if st.pending.capacity() > 4 * len.max(1_024) {
            st.pending.shrink_to(2 * len);
        }
        st.queued
    }

    /// The slots holding an element the graph does not (yet) hold at its live version.
    pub fn pending_live(&self) -> Vec<u32> {
        let st = self.state.lock();
        st.pending
            .iter()
            .filter(|(_, &v)| v != 0)
            .map(|(&s, _)| s)
            .collect()
    }

    /// Keeps the graph hits that are current; returns them and the pending slots to scan.
    ///
    /// A search takes [`VIndex::pending_live`] *before* it walks the graph and scans the union
    /// of both lists: the indexer may re-insert a slot while the walk runs (removed from the
    /// graph, then recorded current before this call), and such a slot is then neither among
    /// the hits nor pending now, but was pending before the walk.
    pub fn filter(&self, hits: &[index::Hit], out: &mut Vec<(f32, u32)>) -> Vec<u32> {
        let st = self.state.lock();
        for h in hits {
            let s = h.slot.0 as usize;
            if s < st.live.len() && st.live[s] != 0 && st.indexed[s] == st.live[s] {
                out.push((h.score, h.slot.0));
            }
        }
        st.pending
            .iter()
            .filter(|(_, &v)| v != 0)
            .map(|(&s, _)| s)
            .collect()
    }

    pub fn pending_len(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// Bytes of the version bookkeeping (two versions per slot, the pending map).
    pub fn state_bytes(&self) -> u64 {
        let st = self.state.lock();
        let slot = std::mem::size_of::<(u32, u64)>() + 1;
        ((st.live.capacity() + st.indexed.capacity()) * 8 + st.pending.capacity() * slot) as u64
    }
}
