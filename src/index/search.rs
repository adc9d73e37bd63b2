//! Caller-owned search scratch: a visited set with a generation counter and the two heaps of
//! the paper's SEARCH-LAYER. Reused across calls, so a query allocates nothing once the
//! buffers have grown to the index's size.

use super::param::Hit;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// A slot with its score; ordered by score (then slot), so a max-heap pops the nearest.
#[derive(Clone, Copy, Debug)]
pub(super) struct Scored {
    pub score: f32,
    pub slot: u32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.slot.cmp(&self.slot))
    }
}

/// Visited set over slots: one `u16` tag per slot, "visited" when it equals the current
/// generation. Starting a new search bumps the generation (clearing costs nothing except
/// once every 65,535 searches).
#[derive(Default)]
pub(super) struct Visited {
    tags: Vec<u16>,
    generation: u16,
}

impl Visited {
    /// Starts a new search over `capacity` slots.
    pub fn clear(&mut self, capacity: usize) {
        if self.tags.len() < capacity {
            self.tags.resize(capacity, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.tags.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `slot`; true when it was not marked yet. Slots out of range count as visited.
    #[inline]
    pub fn insert(&mut self, slot: u32) -> bool {
        match self.tags.get_mut(slot as usize) {
            Some(tag) if *tag != self.generation => {
                *tag = self.generation;
                true
            }
            _ => false,
        }
    }

    /// As [`Visited::insert`], written without a branch on the answer (the tag is stored
    /// either way), for walks that gather a list's unvisited entries: whether a neighbour
    /// was seen is a coin flip the branch predictor keeps losing.
    #[inline]
    pub fn insert_flag(&mut self, slot: u32) -> bool {
        let generation = self.generation;
        match self.tags.get_mut(slot as usize) {
            Some(tag) => {
                let fresh = *tag != generation;
                *tag = generation;
                fresh
            }
            None => false,
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.tags.capacity() * 2
    }
}

/// Scratch space of one searching (or inserting, or removing) thread. Create one per thread
/// with [`Search::new`] (or `Default`) and pass it to every call; it sizes itself to the index.
#[derive(Default)]
pub struct Search {
    pub(super) visited: Visited,
    /// Candidates C: max-heap, nearest on top.
    pub(super) candidates: BinaryHeap<Scored>,
    /// Found W: min-heap, farthest on top, at most `ef`.
    pub(super) found: BinaryHeap<Reverse<Scored>>,
    /// Results handed back by the last call.
    pub(super) hits: Vec<Hit>,
    /// The query quantized to INT8.
    pub(super) codes: Vec<i8>,
    /// Working lists of the neighbour selection and the repairs.
    pub(super) sorted: Vec<Scored>,
    pub(super) selected: Vec<Scored>,
    pub(super) slots: Vec<u32>,
    pub(super) slots2: Vec<u32>,
    /// The unvisited neighbours of the node being expanded (prefetched, then scored).
    pub(super) batch: Vec<u32>,
}

impl Search {
    /// Empty scratch; its buffers grow on first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hits of the last call (same slice the call returned).
    pub fn hits(&self) -> &[Hit] {
        &self.hits
    }

    /// Bytes held by the scratch.
    pub fn memory_bytes(&self) -> usize {
        self.visited.memory_bytes()
            + (self.candidates.capacity()
                + self.found.capacity()
                + self.sorted.capacity()
                + self.selected.capacity())
                * std::mem::size_of::<Scored>()
            + self.hits.capacity() * std::mem::size_of::<Hit>()
            + self.codes.capacity()
            + (self.slots.capacity() + self.slots2.capacity() + self.batch.capacity()) * 4
    }

    /// Moves the found heap into `sorted`, nearest first.
    pub(super) fn drain_found_sorted(&mut self) {
        self.sorted.clear();
        self.sorted.extend(self.found.drain().map(|Reverse(s)| s));
        self.sorted.sort_unstable_by(|a, b| b.cmp(a));
    }
}
