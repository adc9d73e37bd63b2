//! Inspection of a set's graph and names: an element's HNSW links (Redis's VLINKS) and the
//! lexicographic range of element names (Redis's VRANGE).

use std::ops::Bound;

use crate::engine::api::Engine;
use crate::error::Result;
use crate::index::{Hit, Slot};
use crate::store::{expired, Value};

/// One element's links: index `l` holds level `l` of the graph (level 0 first), each
/// neighbour with its score to the element (the engine's score, as [`Engine::vsearch`]'s).
pub type ElementLinks = Vec<Vec<(Vec<u8>, f32)>>;

impl Engine {
    /// Brings the set's graph up to date on the calling thread, first giving a set below
    /// `EngineConfig::index_min_elements` a graph (kept from then on, as any set's), so
    /// that what the graph says (VLINKS, VINFO's max level) is about every element as it
    /// is now, as in Redis, whose inserts and removals change the graph before they
    /// answer. Without `build`, a set without a graph is left without one.
    pub(crate) fn graph_now(&self, key: &[u8], build: bool) -> Result<()> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        if build {
            let mut data = shard.data.write();
            if let Some(slot) = data.find(h, self.ks(), key) {
                if let Some(entry) = data.entry_mut(slot) {
                    if let Value::VSet(set) = &mut entry.value {
                        if set.vindex.is_none() && set.len() > 0 {
                            set.maybe_index(1);
                            self.store.queue_index(&entry.key, set);
                        }
                    }
                }
            }
        }
        self.store.settle_set(self.ks(), key);
        Ok(())
    }

    /// The element's neighbours per level of the set's HNSW graph, level 0 first, each with
    /// its similarity to the element. `None` for a missing key or element.
    ///
    /// An element the graph does not hold yet — the set is below
    /// `EngineConfig::index_min_elements` (searched exactly, without a graph), or the
    /// element was added or changed and the indexer has not linked it — has one level with
    /// no links: `[[]]`. Neighbours the graph still links but that were removed or changed
    /// since are left out, as a search leaves them out.
    pub fn vlinks(&self, key: &[u8], element: &[u8]) -> Result<Option<ElementLinks>> {
        self.check_element(element)?;
        self.graph_now(key, true)?;
        let now = self.store.now_ms();
        let eh = self.store.hash(element);
        Ok(self
            .with_set(key, |set, _| {
                let Some(slot) = set.find(eh, element) else {
                    return Ok(None);
                };
                if set.elem(slot).is_none_or(|e| expired(e.expires_at, now)) {
                    return Ok(None);
                }
                let Some(ix) = &set.vindex else {
                    return Ok(Some(vec![Vec::new()]));
                };
                let graph = ix.graph();
                let Some(levels) = graph.links(Slot(slot)) else {
                    return Ok(Some(vec![Vec::new()]));
                };
                // Keep the slots whose graph node is the live version (the element itself
                // included: an element changed since it was linked has no links yet).
                let mut all: Vec<Hit> = levels
                    .iter()
                    .flatten()
                    .map(|&s| Hit {
                        slot: s,
                        score: 0.0,
                    })
                    .collect();
                all.push(Hit {
                    slot: Slot(slot),
                    score: 0.0,
                });
                let mut current = Vec::with_capacity(all.len());
                ix.filter(&all, &mut current);
                let current: hashbrown::HashSet<u32> = current.iter().map(|&(_, s)| s).collect();
                if !current.contains(&slot) {
                    return Ok(Some(vec![Vec::new()]));
                }
                let mut v = vec![0f32; set.params.dim];
                set.read_vector(slot, &mut v);
                let q = set.prepare_query(&v);
                Ok(Some(
                    levels
                        .iter()
                        .map(|list| {
                            list.iter()
                                .filter(|n| current.contains(&n.0))
                                .filter_map(|n| {
                                    let e = set.elem(n.0)?;
                                    (!expired(e.expires_at, now))
                                        .then(|| (e.name.to_vec(), set.score(n.0, &q)))
                                })
                                .collect()
                        })
                        .collect(),
                ))
            })?
            .flatten())
    }

    /// Element names between `start` and `end` in byte order (Redis's VRANGE: memcmp order,
    /// a prefix before its extensions), at most `count` of them (`None`: all), smallest
    /// first. Empty for a missing key. Costs a pass over the set (plus sorting what is
    /// returned): the set keeps its names in a hash table, not in order.
    pub fn vrange(
        &self,
        key: &[u8],
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        count: Option<usize>,
    ) -> Result<Vec<Vec<u8>>> {
        if count == Some(0) {
            return Ok(Vec::new());
        }
        let now = self.store.now_ms();
        let after_start = |n: &[u8]| match start {
            Bound::Unbounded => true,
            Bound::Included(s) => n >= s,
            Bound::Excluded(s) => n > s,
        };
        let before_end = |n: &[u8]| match end {
            Bound::Unbounded => true,
            Bound::Included(e) => n <= e,
            Bound::Excluded(e) => n < e,
        };
        Ok(self
            .with_set(key, |set, _| {
                let mut names: Vec<&[u8]> = set
                    .live_slots()
                    .filter_map(|s| set.elem(s))
                    .filter(|e| !expired(e.expires_at, now))
                    .map(|e| &e.name[..])
                    .filter(|n| after_start(n) && before_end(n))
                    .collect();
                if let Some(c) = count.filter(|&c| c < names.len()) {
                    names.select_nth_unstable(c);
                    names.truncate(c);
                }
                names.sort_unstable();
                Ok(names.into_iter().map(<[u8]>::to_vec).collect())
            })?
            .unwrap_or_default())
    }
}
