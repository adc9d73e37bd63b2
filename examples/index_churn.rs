//! Index-level churn: how well real deletion (`Hnsw::remove`'s repair) holds recall when the
//! elements flow through a fixed-size window, with no engine and no rebuild.
//!
//! ```sh
//! cargo run --release --example index_churn -- --data ../shared/data/minilm-wordnet \
//!     --window 20000 --steps 20000 --every 5000 --ef 64
//! ```
//!
//! Builds the first `window` base vectors with `build_parallel`, then `steps` times removes
//! the oldest element (or, with `--random 1`, one drawn at random) and inserts the next base
//! vector into the freed slot (one thread). Every `every` steps it prints recall@10 at `ef` (brute force over the window as
//! truth), the same figure for a graph built fresh from the window, the mean level-0 degree
//! of both, queries/s of both (median of 3 alternating passes), and how many elements have
//! no level-0 in-link.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;
use sutra_cache::index::{Hnsw, Mode, Params, Search, SearchParams, Slot};

#[path = "../tests/support/npy.rs"]
mod npy;

/// The first `limit` rows of a `.npy` matrix, unit length: (dimension, values).
fn read_f16(path: &std::path::Path, limit: usize) -> (usize, Vec<f32>) {
    let m = npy::read(path, limit)
        .unwrap_or_else(|e| panic!("{e}"))
        .normalised();
    (m.dim, m.values)
}

fn main() {
    let mut data = PathBuf::from("../shared/data/minilm-wordnet");
    let (mut window, mut steps, mut every, mut ef, mut nq) = (20_000, 20_000, 5_000, 64, 500);
    let mut mode = Mode::Exact;
    let mut random = false;
    let mut it = std::env::args().skip(1);
    while let Some(f) = it.next() {
        let v = it.next().expect("flag value");
        let n = || v.parse::<usize>().expect("number");
        match f.as_str() {
            "--data" => data = PathBuf::from(&v),
            "--window" => window = n(),
            "--steps" => steps = n(),
            "--every" => every = n().max(1),
            "--ef" => ef = n(),
            "--queries" => nq = n(),
            "--mode" => mode = if v == "q8" { Mode::Q8 } else { Mode::Exact },
            "--random" => random = v != "0",
            _ => panic!("unknown flag {f}"),
        }
    }
    let (dim, base) = read_f16(&data.join("base.f16.npy"), window + steps);
    let (_, queries) = read_f16(&data.join("queries.f16.npy"), nq);
    let row = |i: usize| &base[i * dim..(i + 1) * dim];
    let params = Params::new(dim).mode(mode);
    let params = if mode == Mode::Q8 {
        params.memory_lean()
    } else {
        params
    };
    // The element each slot holds.
    let mut elem: Vec<usize> = (0..window).collect();
    let recall = |index: &Hnsw, elem: &[usize]| -> f64 {
        let mut s = Search::new();
        let mut found = 0;
        for q in queries.chunks_exact(dim) {
            let mut sc: Vec<(f32, usize)> = elem
                .iter()
                .map(|&i| (row(i).iter().zip(q).map(|(a, b)| a * b).sum(), i))
                .collect();
            sc.select_nth_unstable_by(10, |a, b| b.0.total_cmp(&a.0));
            let truth: Vec<usize> = sc[..10].iter().map(|x| x.1).collect();
            let hits = index
                .search(q, SearchParams::k(10).ef(ef), &mut s)
                .expect("search");
            found += hits
                .iter()
                .filter(|h| truth.contains(&elem[h.slot.index()]))
                .count();
        }
        found as f64 / (queries.len() / dim * 10) as f64
    };
    let index = Hnsw::with_capacity(params, window).expect("params");
    let items: Vec<(Slot, &[f32])> = (0..window).map(|i| (Slot(i as u32), row(i))).collect();
    index.build_parallel(&items).expect("build");
    // Slot i % window holds element i.
    let mut s = Search::new();
    let t = Instant::now();
    for step in 0..=steps {
        if step % every == 0 {
            let churned = recall(&index, &elem);
            let fresh = Hnsw::with_capacity(params, window).expect("params");
            let items: Vec<(Slot, &[f32])> = (0..window)
                .map(|j| (Slot(j as u32), row(elem[j])))
                .collect();
            fresh.build_parallel(&items).expect("build");
            let fresh_recall = recall(&fresh, &elem);
            // Reachability at level 0 from every node's own walk is costly; count nodes with
            // no in-link at level 0 instead.
            let mut indeg = vec![0u32; window];
            for sl in 0..window {
                for n in index.neighbours(Slot(sl as u32), 0) {
                    indeg[n.index()] += 1;
                }
            }
            let orphans = indeg.iter().filter(|&&d| d == 0).count();
            let degree = |ix: &Hnsw| {
                (0..window)
                    .map(|j| ix.neighbours(Slot(j as u32), 0).len())
                    .sum::<usize>() as f64
                    / window as f64
            };
            // Search time, passes alternating between the two graphs.
            let (mut tc, mut tf) = (Vec::new(), Vec::new());
            for _ in 0..3 {
                for (ix, out) in [(&index, &mut tc), (&fresh, &mut tf)] {
                    let t = Instant::now();
                    for q in queries.chunks_exact(dim) {
                        ix.search(q, SearchParams::k(10).ef(ef), &mut s)
                            .expect("search");
                    }
                    out.push((queries.len() / dim) as f64 / t.elapsed().as_secs_f64());
                }
            }
            tc.sort_by(f64::total_cmp);
            tf.sort_by(f64::total_cmp);
            println!(
                "{}",
                json!({"step": step, "removed_share": step as f64 / window as f64,
                       "recall": churned, "fresh_recall": fresh_recall, "ef": ef,
                       "no_in_links": orphans,
                       "degree0": degree(&index), "fresh_degree0": degree(&fresh),
                       "qps": tc[1], "fresh_qps": tf[1], "elapsed_s": t.elapsed().as_secs_f64()})
            );
        }
        if step == steps {
            break;
        }
        let victim = if random {
            let mut x = (step as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            x ^= x >> 29;
            (x % window as u64) as usize
        } else {
            step % window
        };
        let slot = Slot(victim as u32);
        assert!(index.remove(slot, &mut s));
        index
            .insert(slot, row(window + step), &mut s)
            .expect("insert");
        elem[victim] = window + step;
    }
}
