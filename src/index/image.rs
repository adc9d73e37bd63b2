//! A graph's topology as bytes (levels and neighbour lists, no vectors), and an index rebuilt
//! from it without a single distance computation.
//!
//! A snapshot keeps the vectors already (the engine's set arrays), so an [`Image`] holds only
//! what the vectors cannot give back: which slots are nodes, each node's top level, its
//! lists, the entry point. Restoring stages each node's vector at its saved level and
//! publishes the saved lists: no SEARCH-LAYER, no neighbour selection, so a restart gets its
//! graph back in the time of a copy instead of a build.
//!
//! # Byte format (version 1, little-endian)
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 4 | format version (1) |
//! | 4 | 4 | `M` |
//! | 8 | 4 | `M_max0` |
//! | 12 | 4 | entry point slot (`u32::MAX`: none) |
//! | 16 | 4 | entry point level |
//! | 20 | 4 | reserved (0) |
//! | 24 | 8 | `n`: slots described |
//! | 32 | 8 | `nodes`: slots that are nodes |
//! | 40 | 8 | `u`: upper-list entries |
//! | 48 | 8 | level draws so far |
//! | 56 | `n` | per slot: its top level, or 255 when the slot is not a node |
//! | … | 0–3 | zero padding to a multiple of 4 |
//! | … | `nodes × M_max0 × 4` | level-0 lists of the nodes, in slot order, each `M_max0` wide, padded with `u32::MAX` |
//! | … | `u × 4` | upper lists of the nodes with a level ≥ 1, in slot order: levels 1..=top, `M` wide each, padded with `u32::MAX` |
//!
//! Invariants (checked by [`Image::decode`]): every level is ≤ 15 or 255, `nodes` and `u`
//! match the level bytes, lengths match exactly. A list entry may name any slot: restoring
//! keeps only links to nodes it staged (a target that is not a node, lacks the level, or was
//! not staged is dropped), so a stale or damaged entry cannot strand a walk.

use super::graph::{Graph, EMPTY, LINKED, MAX_LEVEL, NONE};
use super::hnsw::Hnsw;
use super::param::{Params, Slot};
use crate::error::{Error, Result};
use std::sync::atomic::Ordering::*;

const VERSION: u32 = 1;
const HEADER_BYTES: usize = 56;
/// Level byte of a slot that is not a node.
const NO_NODE: u8 = 255;

/// A graph's topology (see the module docs for its bytes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    m: usize,
    m_max0: usize,
    entry: u32,
    entry_level: usize,
    draws: u64,
    /// Per slot: top level, or [`NO_NODE`].
    levels: Vec<u8>,
    /// Level-0 lists of the nodes in slot order, `m_max0` wide.
    links0: Vec<u32>,
    /// Upper lists of the nodes with a level ≥ 1, in slot order, `m` wide per level.
    upper: Vec<u32>,
}

impl Image {
    /// Slots that are nodes in the image, ascending.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.levels
            .iter()
            .enumerate()
            .filter(|(_, &l)| l != NO_NODE)
            .map(|(s, _)| s as u32)
    }

    /// Nodes in the image.
    pub fn nodes(&self) -> usize {
        self.links0.len() / self.m_max0.max(1)
    }

    /// The image without the nodes `keep` refuses (links to them are dropped too).
    pub fn retain(&self, keep: impl Fn(u32) -> bool) -> Image {
        let mut out = Image {
            m: self.m,
            m_max0: self.m_max0,
            entry: NONE,
            entry_level: 0,
            draws: self.draws,
            levels: vec![NO_NODE; self.levels.len()],
            links0: Vec::new(),
            upper: Vec::new(),
        };
        for s in self.slots() {
            if keep(s) {
                out.levels[s as usize] = self.levels[s as usize];
            }
        }
        let kept = |t: u32, level: usize| has_level(&out.levels, t, level);
        let (mut at0, mut at_up) = (0, 0);
        for s in self.slots() {
            let top = self.levels[s as usize] as usize;
            let l0 = &self.links0[at0..at0 + self.m_max0];
            let up = &self.upper[at_up..at_up + top * self.m];
            at0 += self.m_max0;
            at_up += top * self.m;
            if out.levels[s as usize] == NO_NODE {
                continue;
            }
            push_filtered(&mut out.links0, l0, self.m_max0, |t| kept(t, 0));
            for l in 1..=top {
                let list = &up[(l - 1) * self.m..l * self.m];
                push_filtered(&mut out.upper, list, self.m, |t| kept(t, l));
            }
        }
        out.set_entry(self.entry, self.entry_level);
        out
    }

    /// Per slot: whether a walk over the lists of any level from the entry point reaches it.
    fn reachable(&self) -> Vec<bool> {
        let n = self.levels.len();
        let mut next: Vec<Vec<u32>> = vec![Vec::new(); n];
        let (mut at0, mut at_up) = (0, 0);
        for s in self.slots() {
            let top = self.levels[s as usize] as usize;
            let live = |list: &[u32]| {
                list.iter()
                    .copied()
                    .take_while(|&t| t != NONE)
                    .filter(|&t| (t as usize) < n)
                    .collect::<Vec<_>>()
            };
            let mut out = live(&self.links0[at0..at0 + self.m_max0]);
            out.extend(live(&self.upper[at_up..at_up + top * self.m]));
            next[s as usize] = out;
            at0 += self.m_max0;
            at_up += top * self.m;
        }
        let mut seen = vec![false; n];
        if self.entry == NONE || self.entry as usize >= n {
            return seen;
        }
        let mut todo = vec![self.entry];
        seen[self.entry as usize] = true;
        while let Some(s) = todo.pop() {
            for &t in &next[s as usize] {
                if !seen[t as usize] && self.levels[t as usize] != NO_NODE {
                    seen[t as usize] = true;
                    todo.push(t);
                }
            }
        }
        seen
    }

    /// Keeps `(slot, level)` as entry point when it is a node of that level, else takes the
    /// highest node (lowest slot on ties).
    fn set_entry(&mut self, slot: u32, level: usize) {
        if self.levels.get(slot as usize) == Some(&(level as u8)) {
            self.entry = slot;
            self.entry_level = level;
            return;
        }
        let (mut entry, mut entry_level) = (NONE, 0);
        for s in self.slots() {
            let l = self.levels[s as usize] as usize;
            if entry == NONE || l > entry_level {
                (entry, entry_level) = (s, l);
            }
        }
        self.entry = entry;
        self.entry_level = entry_level;
    }

    /// The image's bytes (format in the module docs).
    pub fn encode(&self) -> Vec<u8> {
        let n = self.levels.len();
        let pad = (4 - n % 4) % 4;
        let mut b =
            Vec::with_capacity(HEADER_BYTES + n + pad + (self.links0.len() + self.upper.len()) * 4);
        for v in [
            VERSION,
            self.m as u32,
            self.m_max0 as u32,
            self.entry,
            self.entry_level as u32,
            0,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            n as u64,
            self.nodes() as u64,
            self.upper.len() as u64,
            self.draws,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(&self.levels);
        b.resize(b.len() + pad, 0);
        for v in self.links0.iter().chain(&self.upper) {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// Reads an image, checking every length and level; the error says what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Image> {
        let bad = |offset: usize, reason: &str| Error::Corrupt {
            file: String::new(),
            offset: offset as u64,
            reason: format!("graph image: {reason}"),
        };
        if bytes.len() < HEADER_BYTES {
            return Err(bad(0, "shorter than its header"));
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().expect("8 bytes"));
        if u32_at(0) != VERSION {
            return Err(bad(0, &format!("format version {} (want 1)", u32_at(0))));
        }
        let (m, m_max0) = (u32_at(4) as usize, u32_at(8) as usize);
        if !(2..=Params::MAX_M).contains(&m) || !(m..=2 * Params::MAX_M).contains(&m_max0) {
            return Err(bad(4, "implausible M or M_max0"));
        }
        let (entry, entry_level) = (u32_at(12), u32_at(16) as usize);
        let (n, nodes, u, draws) = (u64_at(24), u64_at(32), u64_at(40), u64_at(48));
        if n > bytes.len() as u64 {
            return Err(bad(24, "more slots than bytes"));
        }
        let n = n as usize;
        let levels = bytes[HEADER_BYTES..]
            .get(..n)
            .ok_or_else(|| bad(56, "short"))?;
        let (mut count, mut upper) = (0u64, 0u64);
        for (i, &l) in levels.iter().enumerate() {
            if l == NO_NODE {
                continue;
            }
            if l as usize > MAX_LEVEL {
                return Err(bad(HEADER_BYTES + i, "level above 15"));
            }
            count += 1;
            upper += l as u64 * m as u64;
        }
        if count != nodes || upper != u {
            return Err(bad(32, "node or upper-list counts do not match the levels"));
        }
        let lists_at = HEADER_BYTES + n + (4 - n % 4) % 4;
        let want = (nodes * m_max0 as u64 + u)
            .checked_mul(4)
            .and_then(|x| x.checked_add(lists_at as u64));
        if want != Some(bytes.len() as u64) {
            return Err(bad(lists_at, "list bytes do not match the counts"));
        }
        let words: Vec<u32> = bytes[lists_at..]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let split = nodes as usize * m_max0;
        let mut image = Image {
            m,
            m_max0,
            entry: NONE,
            entry_level: 0,
            draws,
            levels: levels.to_vec(),
            links0: words[..split].to_vec(),
            upper: words[split..].to_vec(),
        };
        image.set_entry(entry, entry_level);
        Ok(image)
    }
}

/// Whether slot `t` is a node of `levels` (per-slot top levels) that has `level`.
fn has_level(levels: &[u8], t: u32, level: usize) -> bool {
    levels
        .get(t as usize)
        .is_some_and(|&l| l != NO_NODE && l as usize >= level)
}

/// Appends `list`'s entries that pass `keep` (up to the first `NONE`), padded to `width`.
fn push_filtered(out: &mut Vec<u32>, list: &[u32], width: usize, keep: impl Fn(u32) -> bool) {
    let start = out.len();
    out.extend(
        list.iter()
            .copied()
            .take_while(|&t| t != NONE)
            .filter(|&t| keep(t))
            .take(width),
    );
    out.resize(start + width, NONE);
}

impl Hnsw {
    /// The topology of the nodes `keep` accepts (links to other slots are dropped). Holds the
    /// read lock for the copy: searches go on; an insert waits for the copy.
    pub fn image(&self, keep: impl Fn(u32) -> bool) -> Image {
        let g = self.graph.read();
        let mut levels = vec![NO_NODE; g.capacity];
        for (s, lv) in levels.iter_mut().enumerate() {
            if g.state[s].load(Acquire) == LINKED && keep(s as u32) {
                *lv = g.levels[s];
            }
        }
        while levels.last() == Some(&NO_NODE) {
            levels.pop();
        }
        let kept = |t: u32, level: usize| has_level(&levels, t, level);
        let (mut links0, mut upper) = (Vec::new(), Vec::new());
        let mut list = Vec::new();
        for (s, &top) in levels.iter().enumerate() {
            if top == NO_NODE {
                continue;
            }
            g.neighbours_into(s as u32, 0, &mut list);
            push_filtered(&mut links0, &list, g.m_max0, |t| kept(t, 0));
            for l in 1..=top as usize {
                g.neighbours_into(s as u32, l, &mut list);
                push_filtered(&mut upper, &list, g.m, |t| kept(t, l));
            }
        }
        let (ep, top) = self.load_entry();
        let mut image = Image {
            m: g.m,
            m_max0: g.m_max0,
            entry: NONE,
            entry_level: 0,
            draws: self.draws(),
            levels,
            links0,
            upper,
        };
        image.set_entry(ep, top);
        image
    }
}

/// An index being restored from an [`Image`]: stage the nodes' vectors, then
/// [`Restore::finish`].
pub struct Restore {
    index: Hnsw,
    image: Image,
    staged: Vec<bool>,
}

impl Restore {
    /// Starts restoring `image` into an empty index with `params`. Errors when the image was
    /// made with other list widths (`M`, `M_max0`) than `params` has.
    pub fn new(params: Params, image: Image) -> Result<Self> {
        if image.m != params.m || image.m_max0 != params.m_max0 {
            return Err(Error::InvalidArgument {
                arg: "image",
                expected: format!(
                    "a graph with M = {} and M_max0 = {} (it has {} and {})",
                    params.m, params.m_max0, image.m, image.m_max0
                ),
            });
        }
        let index = Hnsw::with_capacity(params, image.levels.len())?;
        Ok(Self {
            index,
            staged: vec![false; image.levels.len()],
            image,
        })
    }

    /// The image being restored (its [`Image::slots`] are the nodes to stage).
    pub fn image(&self) -> &Image {
        &self.image
    }

    /// Stores the vector of one of the image's nodes, at its saved level. Errors when the
    /// slot is not a node of the image, was staged already, or the vector is invalid
    /// (dimension, non-finite values).
    pub fn stage(&mut self, slot: Slot, vector: &[f32]) -> Result<()> {
        self.index.check_vector(vector)?;
        let level = match self.image.levels.get(slot.index()) {
            Some(&l) if l != NO_NODE && !self.staged[slot.index()] => l as usize,
            _ => {
                return Err(Error::InvalidArgument {
                    arg: "slot",
                    expected: format!("a node of the image not staged yet ({} is not)", slot.0),
                })
            }
        };
        let g = self.index.graph.get_mut();
        debug_assert_eq!(g.state(slot.0), EMPTY);
        g.stage(slot.index(), vector, level);
        self.staged[slot.index()] = true;
        Ok(())
    }

    /// `image` (the staged part of the saved one) without the nodes that no walk from the
    /// entry point reaches: nodes whose only in-links were in nodes left out, or that an image
    /// taken while an insert was linking them holds before any list pointed at them.
    /// Published as indexed, such a node would be invisible to every search (nothing leads to
    /// it, and an indexed node is not scanned); left out, it stays pending and the indexer
    /// inserts it as any new node. A restore of a consistent, unchanged graph keeps every node.
    fn reachable_part(image: Image) -> Image {
        let mut image = image;
        loop {
            let reached = image.reachable();
            if image.slots().all(|s| reached[s as usize]) {
                return image;
            }
            image = image.retain(|s| reached[s as usize]);
        }
    }

    /// Publishes the saved lists of the staged nodes (links to nodes not staged dropped) and
    /// returns the index with the slots it holds. Nodes of the image that were not staged
    /// are absent, and so are staged nodes that the dropped links left unreachable from the
    /// entry point (see `reachable_part`): the caller inserts both kinds as new nodes.
    pub fn finish(mut self) -> (Hnsw, Vec<u32>) {
        let staged = std::mem::take(&mut self.staged);
        let image = Self::reachable_part(self.image.retain(|s| staged[s as usize]));
        let kept: Vec<u32> = image.slots().collect();
        let g: &mut Graph = self.index.graph.get_mut();
        // Staged nodes the restore does not keep go back to empty slots (inserted later).
        for (s, &was_staged) in staged.iter().enumerate() {
            if was_staged && image.levels[s] == NO_NODE {
                g.state[s].store(EMPTY, Release);
            }
        }
        let (mut at0, mut at_up) = (0, 0);
        let mut nodes = 0;
        for s in image.slots() {
            let top = image.levels[s as usize] as usize;
            fn live(list: &[u32]) -> impl Iterator<Item = u32> + '_ {
                list.iter().copied().take_while(|&t| t != NONE)
            }
            g.set_list(s, 0, live(&image.links0[at0..at0 + image.m_max0]));
            for l in 1..=top {
                let at = at_up + (l - 1) * image.m;
                g.set_list(s, l, live(&image.upper[at..at + image.m]));
            }
            at0 += image.m_max0;
            at_up += top * image.m;
            g.state[s as usize].store(LINKED, Release);
            nodes += 1;
        }
        self.index.nodes.store(nodes, Release);
        if image.entry != NONE {
            self.index.store_entry(image.entry, image.entry_level);
        }
        self.index.set_draws(image.draws);
        (self.index, kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::{Search, SearchParams};

    fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                let v: Vec<f32> = (0..dim)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        (x >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect();
                let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
                v.into_iter().map(|a| a / n).collect()
            })
            .collect()
    }

    fn built(n: usize, remove_every: usize) -> (Hnsw, Vec<Vec<f32>>) {
        let vs = vectors(n, 24, 7);
        let ix = Hnsw::new(Params::new(24).m(8).ef_construction(64)).unwrap();
        let mut s = Search::new();
        for (i, v) in vs.iter().enumerate() {
            ix.insert(Slot(i as u32), v, &mut s).unwrap();
        }
        if remove_every > 0 {
            for i in (0..n).step_by(remove_every) {
                assert!(ix.remove(Slot(i as u32), &mut s));
            }
        }
        (ix, vs)
    }

    fn restored(ix: &Hnsw, vs: &[Vec<f32>], bytes: &[u8]) -> Hnsw {
        let image = Image::decode(bytes).unwrap();
        let mut r = Restore::new(*ix.params(), image).unwrap();
        let slots: Vec<u32> = r.image().slots().collect();
        for s in slots {
            r.stage(Slot(s), &vs[s as usize]).unwrap();
        }
        r.finish().0
    }

    fn answers(ix: &Hnsw, queries: &[Vec<f32>]) -> Vec<Vec<(u32, u32)>> {
        let mut s = Search::new();
        queries
            .iter()
            .map(|q| {
                ix.search(q, SearchParams::k(10).ef(16), &mut s)
                    .unwrap()
                    .iter()
                    .map(|h| (h.slot.0, h.score.to_bits()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_restored_graph_answers_exactly_as_the_saved_one() {
        let (ix, vs) = built(2_000, 7);
        let bytes = ix.image(|_| true).encode();
        let back = restored(&ix, &vs, &bytes);
        assert_eq!(back.len(), ix.len());
        assert_eq!(back.stats().max_level, ix.stats().max_level);
        let queries = vectors(50, 24, 99);
        assert_eq!(answers(&back, &queries), answers(&ix, &queries));
        for s in (0..2_000u32).step_by(97) {
            assert_eq!(back.neighbours(Slot(s), 0), ix.neighbours(Slot(s), 0));
        }
        // The restored index keeps working: inserts into freed slots and removals.
        let mut sc = Search::new();
        back.insert(Slot(0), &vs[0], &mut sc).unwrap();
        assert!(back.remove(Slot(1), &mut sc));
        assert_eq!(back.len(), ix.len());
    }

    #[test]
    fn encode_and_decode_are_inverse() {
        let (ix, _) = built(500, 5);
        let image = ix.image(|s| s % 3 != 0);
        assert_eq!(Image::decode(&image.encode()).unwrap(), image);
        assert!(image.slots().all(|s| s % 3 != 0));
        assert_eq!(image.nodes(), image.slots().count());
    }

    #[test]
    fn nodes_left_out_take_their_links_with_them() {
        let (ix, vs) = built(1_000, 0);
        let image = Image::decode(&ix.image(|_| true).encode()).unwrap();
        let mut r = Restore::new(*ix.params(), image).unwrap();
        for s in (0..1_000u32).filter(|s| s % 2 == 0) {
            r.stage(Slot(s), &vs[s as usize]).unwrap();
        }
        let back = r.finish().0;
        assert_eq!(back.len(), 500);
        for s in (0..1_000u32).step_by(2) {
            for l in 0..3 {
                assert!(back.neighbours(Slot(s), l).iter().all(|t| t.0 % 2 == 0));
            }
        }
        let mut sc = Search::new();
        let hits = back
            .search(&vs[10], SearchParams::k(5), &mut sc)
            .unwrap()
            .to_vec();
        assert_eq!(hits[0].slot, Slot(10));
        assert!(hits.iter().all(|h| h.slot.0 % 2 == 0));
    }

    /// An image can hold a node that no list points at (taken while an insert had linked
    /// the node's own lists but not yet the reverse links). Restored as indexed it would be
    /// found by no search; the restore leaves it out instead, and once inserted as a new node
    /// it is found.
    #[test]
    fn a_saved_node_nothing_points_at_is_left_out_and_found_once_inserted() {
        let (ix, vs) = built(1_000, 0);
        let mut image = ix.image(|_| true);
        let lost: Vec<u32> = (1..1_000u32)
            .step_by(37)
            .filter(|&s| s != image.entry)
            .collect();
        let strip = |list: &mut [u32]| {
            let live: Vec<u32> = list
                .iter()
                .copied()
                .take_while(|&t| t != NONE)
                .filter(|t| !lost.contains(t))
                .collect();
            list.fill(NONE);
            list[..live.len()].copy_from_slice(&live);
        };
        let m0 = image.m_max0;
        for list in image.links0.chunks_mut(m0) {
            strip(list);
        }
        let m = image.m;
        for list in image.upper.chunks_mut(m) {
            strip(list);
        }
        let mut r = Restore::new(*ix.params(), Image::decode(&image.encode()).unwrap()).unwrap();
        for s in 0..1_000u32 {
            r.stage(Slot(s), &vs[s as usize]).unwrap();
        }
        let (back, kept) = r.finish();
        assert_eq!(kept.len(), 1_000 - lost.len());
        assert!(lost.iter().all(|s| !kept.contains(s)));
        assert_eq!(back.len(), kept.len());
        let mut sc = Search::new();
        for &s in &lost {
            back.insert(Slot(s), &vs[s as usize], &mut sc).unwrap();
        }
        for &s in &lost {
            let hits = back
                .search(&vs[s as usize], SearchParams::k(1), &mut sc)
                .unwrap();
            assert_eq!(hits[0].slot, Slot(s), "inserted node {s} not found");
        }
    }

    #[test]
    fn damaged_images_are_errors_never_panics() {
        let (ix, vs) = built(300, 0);
        let bytes = ix.image(|_| true).encode();
        let mut x = 0x1234_5678_u64;
        for trial in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let mut b = bytes.clone();
            if trial % 4 == 0 {
                b.truncate((x as usize) % bytes.len());
            } else {
                let at = (x as usize) % b.len();
                b[at] ^= 1 << ((x >> 32) % 8);
            }
            // Either rejected, or a graph over the nodes it names (every link dropped or valid).
            if let Ok(image) = Image::decode(&b) {
                if let Ok(mut r) = Restore::new(*ix.params(), image) {
                    let slots: Vec<u32> = r.image().slots().collect();
                    for s in slots {
                        if let Some(v) = vs.get(s as usize) {
                            r.stage(Slot(s), v).unwrap();
                        }
                    }
                    let back = r.finish().0;
                    let mut sc = Search::new();
                    back.search(&vs[0], SearchParams::k(5), &mut sc).unwrap();
                }
            }
        }
    }

    #[test]
    fn an_image_with_other_list_widths_is_refused() {
        let (ix, _) = built(100, 0);
        let image = ix.image(|_| true);
        let err = Restore::new(Params::new(24).m(12), image).err().unwrap();
        assert!(err.to_string().contains("M = 12"), "{err}");
    }
}
