//! Real deletion: the removed node's in-neighbours are relinked so that the graph stays as
//! navigable as if the node had never been there, the entry point moves, and the slot is
//! free for reuse.
//!
//! For each level of the removed node `x`: the nodes that may link to `x` are looked for
//! among `x`'s neighbours and their neighbours (links are not symmetric, but a node that
//! chose `x` is near `x`, so almost always within two hops). Each node `y` that links to `x`
//! drops the link (and any link to another removed node) and refills from `x`'s neighbours,
//! nearest to `y` first, keeping a candidate when the selection heuristic accepts it against
//! `y`'s remaining list (nearer to `y` than to any of them; the nearest few candidates are
//! tried); when none passes, the nearest
//! is taken so `y` does not lose degree. `x`'s own lists are left in place, so a search that
//! still walks through `x` (it read a link before the repair) reaches live nodes; they are
//! reset when the slot is reused, under the write lock, once no search can be inside.

use super::graph::{Graph, LINKED, REMOVING};
use super::hnsw::Hnsw;
use super::param::Slot;
use super::search::{Scored, Search};
use parking_lot::RwLockReadGuard;
use std::sync::atomic::Ordering::*;

/// Candidates a repair tries with the heuristic before it takes the nearest.
const REPAIR_TRIES: usize = 4;

impl Hnsw {
    /// Removes `slot` from the graph, relinking its neighbours; the slot may then be reused
    /// by an insert. False when the slot was not in the index. Runs under the read lock,
    /// beside searches and inserts (not beside an insert or removal of the same slot).
    pub fn remove(&self, slot: Slot, s: &mut Search) -> bool {
        let g = self.graph.read();
        let x = slot.0;
        let Some(state) = g.state.get(slot.index()) else {
            return false;
        };
        if state
            .compare_exchange(LINKED, REMOVING, AcqRel, Acquire)
            .is_err()
        {
            return false;
        }
        self.nodes.fetch_sub(1, Relaxed);
        let level = g.levels[slot.index()] as usize;
        for l in 0..=level {
            self.unlink_level(&g, x, l, s);
        }
        self.move_entry_from(&g, x);
        state.store(super::graph::EMPTY, Release);
        true
    }

    /// Repairs every node that links to `x` at `level`.
    fn unlink_level(&self, g: &RwLockReadGuard<'_, Graph>, x: u32, level: usize, s: &mut Search) {
        // s.slots: x's neighbours; s.slots2: the nodes to check (one and two hops away).
        {
            let _x = g.locks[x as usize].lock();
            g.neighbours_into(x, level, &mut s.slots);
        }
        s.visited.clear(g.capacity);
        s.visited.insert(x);
        s.slots2.clear();
        for &n in &s.slots {
            if s.visited.insert(n) {
                s.slots2.push(n);
            }
        }
        for &n in &s.slots {
            for nn in Graph::neighbours(g.list(n, level)) {
                if s.visited.insert(nn) {
                    s.slots2.push(nn);
                }
            }
        }
        let mut check = std::mem::take(&mut s.slots2);
        for &y in &check {
            let links_x = Graph::neighbours(g.list(y, level)).any(|n| n == x);
            if links_x && g.linkable(y) {
                self.repair(g, y, x, level, s);
            }
        }
        check.clear();
        s.slots2 = check;
    }

    /// Rewrites `y`'s list at `level` without `x` (and without removed nodes), refilled from
    /// `x`'s neighbours (`s.slots`).
    fn repair(&self, g: &Graph, y: u32, x: u32, level: usize, s: &mut Search) {
        let _y = g.locks[y as usize].lock();
        if !Graph::neighbours(g.list(y, level)).any(|n| n == x) {
            return;
        }
        // s.selected: the kept list (scores unused); s.sorted: candidates by score to y.
        s.selected.clear();
        s.selected.extend(
            Graph::neighbours(g.list(y, level))
                .filter(|&n| n != x && n != y && g.state(n) == LINKED)
                .map(|slot| Scored { score: 0.0, slot }),
        );
        let m_max = g.m_max(level);
        let base = g.node_query(y);
        s.sorted.clear();
        for &c in &s.slots {
            if c != y && c != x && g.state(c) == LINKED && !s.selected.iter().any(|k| k.slot == c) {
                s.sorted.push(Scored {
                    score: g.score(&base, c),
                    slot: c,
                });
            }
        }
        s.sorted.sort_unstable_by(|a, b| b.cmp(a));
        let before = s.selected.len();
        // The heuristic is tried on the nearest few candidates only: the room is usually one
        // entry, and a candidate far down the list rarely passes where the nearest failed.
        for &c in s.sorted.iter().take(REPAIR_TRIES) {
            if s.selected.len() >= m_max {
                break;
            }
            let q = g.node_query(c.slot);
            if s.selected.iter().all(|r| g.score(&q, r.slot) < c.score) {
                s.selected.push(c);
            }
        }
        if s.selected.len() == before && s.selected.len() < m_max {
            if let Some(&nearest) = s.sorted.first() {
                s.selected.push(nearest);
            }
        }
        g.set_list(y, level, s.selected.iter().map(|c| c.slot));
    }

    /// Moves the entry point off `x` (to a neighbour on its top level, else to the live node
    /// with the highest level; none when the graph is empty).
    fn move_entry_from(&self, g: &Graph, x: u32) {
        if self.load_entry().0 != x {
            return;
        }
        let _e = self.entry_lock.lock();
        let (ep, top) = self.load_entry();
        if ep != x {
            return;
        }
        let same_level = Graph::neighbours(g.list(x, top))
            .find(|&n| g.state(n) == LINKED && g.levels[n as usize] as usize >= top);
        if let Some(n) = same_level {
            self.store_entry(n, top);
            return;
        }
        let best = (0..g.capacity)
            .filter(|&i| i != x as usize && g.state[i].load(Acquire) == LINKED)
            .max_by_key(|&i| g.levels[i]);
        match best {
            Some(i) => self.store_entry(i as u32, g.levels[i] as usize),
            None => self.store_entry(u32::MAX, 0),
        }
    }
}
