//! Heavy hitters by space-saving (Metwally, Agrawal, El Abbadi 2005) with `m` counters kept
//! in an indexed min-heap: O(log m) per item, `m × 40` bytes (the heap's 24-byte entries and
//! the position map's ~16).
//!
//! The bound: after `n` items, each reported count overestimates the item's true count by at
//! most its recorded error, and every error is at most `n / m`; every item whose true count
//! exceeds `n / m` is among the counters. So with `m` counters the top-k is exact in order up
//! to ties within `n / m`.

use std::collections::HashMap;

/// One counter as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// The item.
    pub item: u64,
    /// Its count (true count ≤ this ≤ true count + `error`).
    pub count: u64,
    /// Most it overestimates by.
    pub error: u64,
}

/// The summary.
#[derive(Debug)]
pub struct SpaceSaving {
    m: usize,
    n: u64,
    heap: Vec<Counted>,
    pos: HashMap<u64, usize>,
}

impl SpaceSaving {
    /// A summary with `m` counters (at least 1).
    pub fn new(m: usize) -> Self {
        let m = m.max(1);
        Self {
            m,
            n: 0,
            heap: Vec::with_capacity(m),
            pos: HashMap::with_capacity(m),
        }
    }

    /// Items seen.
    pub fn seen(&self) -> u64 {
        self.n
    }

    /// The error bound now: `n / m`, rounded down.
    pub fn bound(&self) -> u64 {
        self.n / self.m as u64
    }

    /// Counts one occurrence of `item`.
    pub fn add(&mut self, item: u64) {
        self.n += 1;
        if let Some(&i) = self.pos.get(&item) {
            self.heap[i].count += 1;
            self.sift_down(i);
        } else if self.heap.len() < self.m {
            self.heap.push(Counted {
                item,
                count: 1,
                error: 0,
            });
            let i = self.heap.len() - 1;
            self.pos.insert(item, i);
            self.sift_up(i);
        } else {
            let min = self.heap[0];
            self.pos.remove(&min.item);
            self.heap[0] = Counted {
                item,
                count: min.count + 1,
                error: min.count,
            };
            self.pos.insert(item, 0);
            self.sift_down(0);
        }
    }

    /// The `k` largest counters, largest first (ties by item).
    pub fn top(&self, k: usize) -> Vec<Counted> {
        let mut v = self.heap.clone();
        v.sort_by(|a, b| b.count.cmp(&a.count).then(a.item.cmp(&b.item)));
        v.truncate(k);
        v
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos.insert(self.heap[a].item, a);
        self.pos.insert(self.heap[b].item, b);
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let p = (i - 1) / 2;
            if self.heap[p].count <= self.heap[i].count {
                break;
            }
            self.swap(p, i);
            i = p;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut s = i;
            if l < self.heap.len() && self.heap[l].count < self.heap[s].count {
                s = l;
            }
            if r < self.heap.len() && self.heap[r].count < self.heap[s].count {
                s = r;
            }
            if s == i {
                return;
            }
            self.swap(s, i);
            i = s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn counts_are_exact_while_the_items_fit() {
        let mut s = SpaceSaving::new(8);
        for x in [1, 2, 2, 3, 3, 3] {
            s.add(x);
        }
        let t = s.top(2);
        assert_eq!((t[0].item, t[0].count, t[0].error), (3, 3, 0));
        assert_eq!((t[1].item, t[1].count), (2, 2));
    }

    #[test]
    fn on_a_zipf_stream_every_count_is_within_n_over_m() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        // Zipf(1.1) over 10,000 items by inverse transform of the harmonic weights.
        let w: Vec<f64> = (1..=10_000).map(|r| 1.0 / (r as f64).powf(1.1)).collect();
        let total: f64 = w.iter().sum();
        let cdf: Vec<f64> = w
            .iter()
            .scan(0.0, |a, x| {
                *a += x / total;
                Some(*a)
            })
            .collect();
        let mut truth = HashMap::new();
        let mut s = SpaceSaving::new(200);
        for _ in 0..200_000 {
            let u: f64 = rng.gen();
            let item = cdf.partition_point(|&c| c < u) as u64;
            *truth.entry(item).or_insert(0u64) += 1;
            s.add(item);
        }
        let bound = s.bound();
        assert_eq!(bound, 1_000);
        for c in s.top(200) {
            let t = truth.get(&c.item).copied().unwrap_or(0);
            assert!(c.count >= t && c.count - t <= c.error && c.error <= bound);
        }
        for (item, &t) in &truth {
            if t > bound {
                assert!(s.pos.contains_key(item), "{item} ({t}) missing");
            }
        }
    }
}
