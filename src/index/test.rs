//! Unit tests on small random data (the dataset tests are in tests/engine/index_recall.rs).

use super::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const SEED: u64 = 7;

fn random_vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = SmallRng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.gen_range(-1.0f32..1.0)).collect())
        .collect()
}

fn brute(vs: &[Vec<f32>], q: &[f32], metric: Metric, k: usize) -> Vec<u32> {
    let score = |v: &[f32]| match metric {
        Metric::L2 => -v.iter().zip(q).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
        _ => v.iter().zip(q).map(|(a, b)| a * b).sum(),
    };
    let mut all: Vec<(f32, u32)> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| (score(v), i as u32))
        .collect();
    all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    all.into_iter().take(k).map(|(_, i)| i).collect()
}

#[test]
fn an_empty_index_returns_no_hits() {
    let index = Hnsw::new(Params::new(4)).unwrap();
    let mut s = Search::new();
    assert!(index
        .search(&[1.0, 0.0, 0.0, 0.0], SearchParams::k(5), &mut s)
        .unwrap()
        .is_empty());
    let range = index.search_range(&[1.0, 0.0, 0.0, 0.0], 0.0, SearchParams::default(), &mut s);
    assert!(range.unwrap().is_empty());
    assert_eq!(index.stats().nodes, 0);
}

#[test]
fn bad_parameters_and_vectors_are_errors_not_panics() {
    assert!(Hnsw::new(Params::new(0)).is_err());
    assert!(Hnsw::new(Params::new(4).m(1)).is_err());
    assert!(Hnsw::new(Params::new(4).ef_construction(0)).is_err());
    let index = Hnsw::new(Params::new(4)).unwrap();
    let mut s = Search::new();
    assert!(index.insert(Slot(0), &[1.0; 3], &mut s).is_err());
    assert!(index.insert(Slot(0), &[f32::NAN; 4], &mut s).is_err());
    assert!(index.insert(Slot::INVALID, &[1.0; 4], &mut s).is_err());
    index.insert(Slot(0), &[1.0; 4], &mut s).unwrap();
    assert!(
        index.insert(Slot(0), &[1.0; 4], &mut s).is_err(),
        "slot in use"
    );
    assert!(index.search(&[1.0; 5], SearchParams::k(1), &mut s).is_err());
    assert!(!index.remove(Slot(1), &mut s));
    assert!(!index.remove(Slot(1 << 30), &mut s));
    let batch: Vec<(Slot, &[f32])> = vec![(Slot(1), &[1.0; 4]), (Slot(1), &[2.0; 4])];
    assert!(
        index.build_parallel(&batch).is_err(),
        "duplicate slot in a batch"
    );
    assert_eq!(index.len(), 1, "a failed batch inserts nothing");
    assert!(
        index.insert(Slot(1), &[0.5; 4], &mut s).is_ok(),
        "the batch's slot is free"
    );
}

#[test]
fn every_metric_and_mode_finds_the_true_neighbours_of_random_data() {
    let vs = random_vectors(600, 16, SEED);
    let queries = random_vectors(20, 16, SEED + 1);
    for metric in [Metric::Dot, Metric::L2] {
        for mode in [Mode::Exact, Mode::Q8, Mode::NoQuant] {
            let index = Hnsw::new(Params::new(16).metric(metric).mode(mode).m(8)).unwrap();
            let items: Vec<(Slot, &[f32])> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| (Slot(i as u32), v.as_slice()))
                .collect();
            index.build_parallel(&items).unwrap();
            let mut s = Search::new();
            let mut found = 0;
            for q in &queries {
                let t = brute(&vs, q, metric, 5);
                let hits = index.search(q, SearchParams::k(5).ef(64), &mut s).unwrap();
                assert_eq!(hits.len(), 5);
                found += hits.iter().filter(|h| t.contains(&h.slot.0)).count();
                let exact = index
                    .search(q, SearchParams::k(5).exhaustive(true), &mut s)
                    .unwrap();
                if mode != Mode::Q8 {
                    let slots: Vec<u32> = exact.iter().map(|h| h.slot.0).collect();
                    assert_eq!(
                        slots, t,
                        "{metric:?} {mode:?}: the exhaustive scan is exact"
                    );
                }
            }
            let recall = found as f64 / 100.0;
            assert!(
                recall >= 0.9,
                "{metric:?} {mode:?}: recall@5 {recall} (seed {SEED})"
            );
        }
    }
}

#[test]
fn a_removed_slot_is_never_returned_and_can_be_reused() {
    let vs = random_vectors(200, 8, SEED);
    let index = Hnsw::new(Params::new(8).metric(Metric::L2).m(4)).unwrap();
    let mut s = Search::new();
    for (i, v) in vs.iter().enumerate() {
        index.insert(Slot(i as u32), v, &mut s).unwrap();
    }
    // Remove everything but one, including the entry point.
    for i in 1..200 {
        assert!(index.remove(Slot(i), &mut s));
        assert!(!index.remove(Slot(i), &mut s), "removed twice");
    }
    let hits = index.search(&vs[5], SearchParams::k(10), &mut s).unwrap();
    assert_eq!(
        hits.iter().map(|h| h.slot).collect::<Vec<_>>(),
        vec![Slot(0)]
    );
    assert!(index.remove(Slot(0), &mut s));
    assert!(index
        .search(&vs[5], SearchParams::k(10), &mut s)
        .unwrap()
        .is_empty());
    assert_eq!(index.stats().nodes, 0);
    // Reuse with other vectors.
    index.insert(Slot(3), &vs[7], &mut s).unwrap();
    let mut out = [0f32; 8];
    assert!(index.vector_into(Slot(3), &mut out));
    assert_eq!(out.as_slice(), vs[7].as_slice());
    let hits = index.search(&vs[7], SearchParams::k(1), &mut s).unwrap();
    assert_eq!(hits[0].slot, Slot(3));
    assert_eq!(hits[0].score, 0.0);
}

#[test]
fn range_search_in_exact_mode_matches_the_exhaustive_scan() {
    let unit = |mut v: Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    };
    let vs: Vec<Vec<f32>> = random_vectors(1000, 8, SEED)
        .into_iter()
        .map(unit)
        .collect();
    let index = Hnsw::new(Params::new(8).m(8)).unwrap();
    let items: Vec<(Slot, &[f32])> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| (Slot(i as u32), v.as_slice()))
        .collect();
    index.build_parallel(&items).unwrap();
    let mut s = Search::new();
    let (mut exact_total, mut found_total) = (0, 0);
    for q in random_vectors(20, 8, SEED + 2).into_iter().map(unit) {
        let all = SearchParams::default().exhaustive(true);
        let exact = index.search_range(&q, 0.8, all, &mut s).unwrap().to_vec();
        let graph = index
            .search_range(&q, 0.8, SearchParams::default(), &mut s)
            .unwrap();
        assert!(graph.iter().all(|h| h.score >= 0.8));
        exact_total += exact.len();
        found_total += exact
            .iter()
            .filter(|e| graph.iter().any(|h| h.slot == e.slot))
            .count();
    }
    assert!(exact_total > 100, "the test needs hits above the threshold");
    assert!(
        found_total * 100 >= exact_total * 99,
        "{found_total}/{exact_total} (seed {SEED})"
    );
}

/// A removal can miss an in-neighbour at a sparse upper level; once the slot is reused by a
/// node of lower level, the stale link must not strand a walk (it is skipped).
#[test]
fn a_stale_upper_link_to_a_reused_lower_slot_is_skipped() {
    let vs = random_vectors(500, 8, SEED);
    let index = Hnsw::new(Params::new(8).metric(Metric::L2).mode(Mode::NoQuant)).unwrap();
    let items: Vec<(Slot, &[f32])> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| (Slot(i as u32), v.as_slice()))
        .collect();
    index.build_parallel(&items).unwrap();
    let (ep, top) = index.load_entry();
    assert!(top >= 1, "the graph has an upper level");
    let g = index.graph.read();
    let low = (0..500u32)
        .find(|&i| i != ep && g.levels[i as usize] == 0)
        .expect("a level-0 node");
    // The entry point's top list points only at a node without that level, as a stale link
    // to a reused slot would; the query is that node's own vector, so it scores best.
    {
        let _l = g.locks[ep as usize].lock();
        g.set_list(ep, top, std::iter::once(low));
    }
    let q = g.node_query(low);
    let entry = search::Scored {
        score: g.score(&q, ep),
        slot: ep,
    };
    let reached = g.greedy(&q, entry, top);
    assert_eq!(
        reached.slot, ep,
        "the walk followed a link to a node without level {top}"
    );
    assert!(!g.on_level(low, top) && g.on_level(ep, top) && g.on_level(low, 0));
}

/// The `q4` mode as the engine's `exact` sets use it: the graph's `ef` candidates (4-bit
/// estimates) reranked with exact scores hold the true top 5 of random data, for every
/// metric; `vector_into` gives the dequantized codes, close to the original.
#[test]
fn four_bit_graph_candidates_reranked_exactly_find_the_true_neighbours() {
    let vs = random_vectors(600, 64, SEED);
    let queries = random_vectors(20, 64, SEED + 1);
    for metric in [Metric::Dot, Metric::L2, Metric::Cosine] {
        let index = Hnsw::new(Params::new(64).metric(metric).mode(Mode::Q4).m(8)).unwrap();
        let items: Vec<(Slot, &[f32])> = vs
            .iter()
            .enumerate()
            .map(|(i, v)| (Slot(i as u32), v.as_slice()))
            .collect();
        index.build_parallel(&items).unwrap();
        let exact = |q: &[f32], v: &[f32]| -> f32 {
            match metric {
                Metric::L2 => -q.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                _ => q.iter().zip(v).map(|(a, b)| a * b).sum(),
            }
        };
        let mut s = Search::new();
        let mut found = 0;
        for q in &queries {
            let t = brute(&vs, q, metric, 5);
            let hits = index.search(q, SearchParams::k(64).ef(64), &mut s).unwrap();
            let mut rer: Vec<(f32, u32)> = hits
                .iter()
                .map(|h| (exact(q, &vs[h.slot.index()]), h.slot.0))
                .collect();
            rer.sort_by(|a, b| b.0.total_cmp(&a.0));
            found += rer.iter().take(5).filter(|h| t.contains(&h.1)).count();
        }
        let recall = found as f64 / 100.0;
        assert!(
            recall >= 0.95,
            "{metric:?} q4: recall@5 {recall} (seed {SEED})"
        );
        let mut back = vec![0f32; 64];
        assert!(index.vector_into(Slot(3), &mut back));
        let v = &vs[3];
        let cos = exact(v, &back) / (exact(v, v).sqrt() * exact(&back, &back).sqrt());
        let cos = if metric == Metric::L2 {
            let dot: f32 = v.iter().zip(&back).map(|(a, b)| a * b).sum();
            let n = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
            dot / (n(v) * n(&back))
        } else {
            cos
        };
        assert!(cos >= 0.99, "{metric:?}: dequantized cosine {cos}");
    }
}
