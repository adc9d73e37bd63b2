//! Read-only inspection of one node's links (Redis's VLINKS).

use super::graph::LINKED;
use super::hnsw::Hnsw;
use super::param::Slot;

impl Hnsw {
    /// The node's neighbour lists, index `l` holding level `l` (level 0 first, up to the
    /// node's top level); `None` when the slot is not in the graph. Lists are read as a search
    /// reads them (no lock): a list being rewritten may show a mix of its old and new
    /// entries.
    pub fn links(&self, slot: Slot) -> Option<Vec<Vec<Slot>>> {
        let g = self.graph.read();
        if g.state(slot.0) != LINKED {
            return None;
        }
        let top = g.levels[slot.index()] as usize;
        let mut buf = Vec::new();
        Some(
            (0..=top)
                .map(|level| {
                    g.neighbours_into(slot.0, level, &mut buf);
                    buf.iter().map(|&s| Slot(s)).collect()
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Params, Search};
    use super::*;

    #[test]
    fn links_list_every_level_of_a_node_and_only_nodes_of_the_graph() {
        let ix = Hnsw::new(Params::new(2).m(4)).unwrap();
        let mut s = Search::new();
        for i in 0..200u32 {
            let a = i as f32 * 0.031;
            ix.insert(Slot(i), &[a.cos(), a.sin()], &mut s).unwrap();
        }
        let mut tallest = 0;
        for i in 0..200u32 {
            let levels = ix.links(Slot(i)).expect("in the graph");
            assert!(!levels[0].is_empty(), "slot {i} has no level-0 link");
            for (l, list) in levels.iter().enumerate() {
                for n in list {
                    assert_ne!(*n, Slot(i));
                    // A link at level l points to a node that has level l.
                    assert!(ix.links(*n).expect("linked").len() > l);
                }
            }
            tallest = tallest.max(levels.len() - 1);
        }
        assert_eq!(tallest, ix.stats().max_level);
        assert!(ix.links(Slot(500)).is_none());
        assert!(ix.remove(Slot(7), &mut s));
        assert!(ix.links(Slot(7)).is_none());
    }
}
