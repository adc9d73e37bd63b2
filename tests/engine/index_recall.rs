//! HNSW index against brute force on a 10k slice of MiniLM-WordNet (the full data set in
//! `$SUTRA_DATA_DIR`, default ../shared/data), or on the committed 5k fixture
//! (tests/data/minilm-wordnet-5k) when that set is absent.
//!
//! Builds use `ef_construction = 64` (not the default 200) to keep the test profile's
//! build time small on 2 cores; searches use the index's default `ef_search`.
//!
//! What production runs is measured: the headline recall is of an `exact` vector set in the
//! engine (its INT8 graph, built by the indexer, and the rerank of the graph's candidates
//! from the set's f32 originals); the index-level tests build the graphs the storage modes
//! use (`Mode::Q4` with `M_max0 = M` for new `exact` sets of 128 dimensions or more — the index
//! tests below build theirs with 20 level-0 links, the width before session 17 —
//! `Mode::Q8` below, lean `Mode::Q8` for `q8`, `Mode::NoQuant` for `noquant`).

use rand::rngs::SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, OnceLock};
use sutra_cache::index::{Hit, Hnsw, Mode, Params, Search, SearchParams, Slot};
use sutra_cache::{ElementAdd, Engine, EngineConfig, Metric, Query, StorageMode, VectorSetOptions};

/// Base rows read from the full data set (the fixture has 5,000).
const MAX_ROWS: usize = 10_000;
const QUERIES: usize = 200;
const BUILD_EF: usize = 64;
const SEED: u64 = 0x1dc0_2026;

struct Data {
    /// Base rows: `MAX_ROWS`, or the fixture's 5,000.
    n: usize,
    dim: usize,
    base: Vec<f32>,
    queries: Vec<f32>,
}

impl Data {
    fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.dim..(i + 1) * self.dim]
    }
    fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }
}

use crate::npy;

/// Rows `0..rows` (or fewer, from the fixture) of a minilm-wordnet matrix as f32, with their
/// count and dimension.
fn load_f16(name: &str, rows: usize) -> (Vec<f32>, usize, usize) {
    let m = npy::read_minilm_or_fixture(name, rows);
    (m.values, m.rows, m.dim)
}

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let (base, n, dim) = load_f16("base.f16.npy", MAX_ROWS);
        let (queries, q, qdim) = load_f16("queries.f16.npy", QUERIES);
        assert_eq!((dim, q), (qdim, QUERIES));
        assert!(n >= 5_000, "{n} base rows: the tests need 5,000");
        Data {
            n,
            dim,
            base,
            queries,
        }
    })
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Exact top-`k` of `query` among `live` rows (brute force, independent of the index).
fn truth(d: &Data, query: &[f32], live: &[bool], k: usize) -> Vec<u32> {
    let mut all: Vec<(f32, u32)> = (0..d.n)
        .filter(|&i| live[i])
        .map(|i| (dot(query, d.row(i)), i as u32))
        .collect();
    all.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
    all.truncate(k);
    all.into_iter().map(|(_, i)| i).collect()
}

/// Exact top-10 of every query over all `n` rows.
fn truth_all() -> &'static Vec<Vec<u32>> {
    static TRUTH: OnceLock<Vec<Vec<u32>>> = OnceLock::new();
    TRUTH.get_or_init(|| {
        let d = data();
        let live = vec![true; d.n];
        (0..QUERIES)
            .map(|q| truth(d, d.query(q), &live, 10))
            .collect()
    })
}

/// recall@10 of the index over all `n` rows at `ef` (0 = the default).
fn recall_at_10(index: &Hnsw, d: &Data, ef: usize) -> f64 {
    let mut s = Search::new();
    let mut found = 0usize;
    for (q, t) in truth_all().iter().enumerate() {
        let hits = index
            .search(d.query(q), SearchParams::k(10).ef(ef), &mut s)
            .expect("search");
        found += hits.iter().filter(|h| t.contains(&h.slot.0)).count();
    }
    found as f64 / (QUERIES * 10) as f64
}

fn build(d: &Data, mode: Mode) -> Hnsw {
    let index = Hnsw::new(
        Params::new(d.dim)
            .mode(mode)
            .ef_construction(BUILD_EF)
            .seed(SEED),
    )
    .expect("params");
    let items: Vec<(Slot, &[f32])> = (0..d.n).map(|i| (Slot(i as u32), d.row(i))).collect();
    index.build_parallel(&items).expect("build");
    index
}

/// The graph an `exact` vector set builds (INT8 traversal; the engine reranks) over all `n`
/// rows, shared by the read-only tests.
fn shared() -> &'static Hnsw {
    static INDEX: OnceLock<Hnsw> = OnceLock::new();
    INDEX.get_or_init(|| build(data(), Mode::Q8))
}

/// The index-level `Mode::Exact` graph (f32 rerank inside the index) over all `n` rows: the
/// reference the range search is checked on.
fn shared_exact() -> &'static Hnsw {
    static INDEX: OnceLock<Hnsw> = OnceLock::new();
    INDEX.get_or_init(|| build(data(), Mode::Exact))
}

#[test]
fn an_exact_set_in_the_engine_has_recall_at_10_of_at_least_0_95_at_the_default_ef() {
    let d = data();
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..EngineConfig::default()
    })
    .expect("open");
    let opts = VectorSetOptions {
        metric: Some(Metric::Cosine),
        storage: Some(StorageMode::Exact),
        ef_construction: Some(BUILD_EF),
        ..VectorSetOptions::default()
    };
    let names: Vec<String> = (0..d.n).map(|i| i.to_string()).collect();
    for chunk in (0..d.n).collect::<Vec<_>>().chunks(1_000) {
        let adds: Vec<ElementAdd<'_>> = chunk
            .iter()
            .map(|&i| ElementAdd::new(names[i].as_bytes(), d.row(i)))
            .collect();
        e.vadd_many(b"minilm", &opts, &adds).expect("vadd");
    }
    e.index_settle();
    let info = e.vinfo(b"minilm").unwrap().expect("the set");
    // Every element is in the graph: the searches below take the graph's path, not the
    // exact scan of elements not indexed yet.
    assert_eq!((info.index_nodes, info.index_pending), (d.n, 0));
    assert!(info.max_level >= 1);
    let params = sutra_cache::SearchParams::default();
    let mut found = 0usize;
    for (q, t) in truth_all().iter().enumerate() {
        let hits = e
            .vsearch(b"minilm", Query::Vector(d.query(q)), &params)
            .expect("search");
        assert_eq!(hits.len(), 10);
        found += hits
            .iter()
            .filter(|h| {
                let row: u32 = std::str::from_utf8(&h.element).unwrap().parse().unwrap();
                t.contains(&row)
            })
            .count();
    }
    let recall = found as f64 / (QUERIES * 10) as f64;
    println!("engine exact set: recall@10 = {recall:.4}, {info:?}");
    assert!(
        recall >= 0.95,
        "engine exact set: recall@10 {recall:.4} < 0.95 (ef_construction {BUILD_EF})"
    );
}

#[test]
fn the_exact_sets_graph_has_recall_at_10_of_at_least_0_95_before_the_rerank() {
    let d = data();
    let index = shared();
    assert_eq!(index.len(), d.n);
    let recall = recall_at_10(index, d, 0);
    let stats = index.stats();
    println!("q8 graph: recall@10 = {recall:.4}, {stats:?}");
    assert!(
        recall >= 0.95,
        "recall@10 {recall:.4} < 0.95 (seed {SEED:#x}, ef {})",
        index.params().ef_search
    );
    assert!(stats.max_level >= 1 && stats.nodes == d.n);
}

/// The graph a large `exact` set builds — 4-bit codes, 20 level-0 links
/// (`GraphLayout::new_set`) — with its `ef` candidates reranked from the f32, as the set
/// does: recall@10 ≥ 0.95 at the default ef.
#[test]
fn the_four_bit_graph_with_its_candidates_reranked_has_recall_at_10_of_at_least_0_95() {
    let d = data();
    let index = Hnsw::new(
        Params::new(d.dim)
            .mode(Mode::Q4)
            .m_max0(20)
            .ef_construction(BUILD_EF)
            .seed(SEED),
    )
    .expect("params");
    let items: Vec<(Slot, &[f32])> = (0..d.n).map(|i| (Slot(i as u32), d.row(i))).collect();
    index.build_parallel(&items).expect("build");
    let ef = index.params().ef_search;
    let mut s = Search::new();
    let mut found = 0;
    for (q, want) in truth_all().iter().enumerate().take(QUERIES) {
        let query = d.query(q);
        let hits = index
            .search(query, SearchParams::k(ef).ef(ef), &mut s)
            .expect("search");
        let mut reranked: Vec<(f32, u32)> = hits
            .iter()
            .map(|h| (dot(query, d.row(h.slot.index())), h.slot.0))
            .collect();
        reranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        found += reranked
            .iter()
            .take(10)
            .filter(|h| want.contains(&h.1))
            .count();
    }
    let recall = found as f64 / (QUERIES * 10) as f64;
    println!(
        "q4 graph, reranked: recall@10 = {recall:.4}, {:?}",
        index.stats()
    );
    assert!(
        recall >= 0.95,
        "recall@10 {recall:.4} < 0.95 (seed {SEED:#x}, ef {ef})"
    );
}

#[test]
fn the_noquant_and_index_level_exact_modes_reach_the_same_recall() {
    let d = data();
    for mode in [Mode::NoQuant, Mode::Exact] {
        let built;
        let index = match mode {
            Mode::Exact => shared_exact(),
            _ => {
                built = build(d, mode);
                &built
            }
        };
        let recall = recall_at_10(index, d, 0);
        println!("{mode:?}: recall@10 = {recall:.4}");
        assert!(
            recall >= 0.95,
            "{mode:?}: recall@10 {recall:.4} < 0.95 (seed {SEED:#x})"
        );
    }
}

#[test]
fn q8_lean_layout_holds_500_bytes_per_vector_at_recall_0_95() {
    let d = data();
    let index = Hnsw::with_capacity(
        Params::new(d.dim)
            .mode(Mode::Q8)
            .memory_lean()
            .ef_construction(BUILD_EF)
            .seed(SEED),
        d.n,
    )
    .expect("params");
    let items: Vec<(Slot, &[f32])> = (0..d.n).map(|i| (Slot(i as u32), d.row(i))).collect();
    index.build_parallel(&items).expect("build");
    let recall = recall_at_10(&index, d, 0);
    let per_vector = index.stats().memory_bytes as f64 / d.n as f64;
    println!("q8 lean: recall@10 = {recall:.4}, {per_vector:.1} bytes per vector");
    assert!(
        recall >= 0.95,
        "q8 lean: recall@10 {recall:.4} < 0.95 (seed {SEED:#x})"
    );
    assert!(
        per_vector <= 500.0,
        "q8 lean: {per_vector:.1} bytes per 384-d vector > 500"
    );
}

#[test]
fn removing_and_readding_half_three_times_drops_recall_by_at_most_0_01() {
    let d = data();
    let index = build(d, Mode::Q8);
    let before = recall_at_10(&index, d, 0);
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut order: Vec<usize> = (0..d.n).collect();
    let mut s = Search::new();
    for round in 0..3 {
        order.shuffle(&mut rng);
        let half = &order[..d.n / 2];
        for &i in half {
            assert!(
                index.remove(Slot(i as u32), &mut s),
                "round {round}: remove {i}"
            );
        }
        assert_eq!(index.len(), d.n - d.n / 2);
        // Searches on the half-emptied graph return only live elements.
        let hits = index
            .search(d.query(0), SearchParams::k(10), &mut s)
            .unwrap();
        assert!(hits.iter().all(|h| index.contains(h.slot)));
        for &i in half {
            index
                .insert(Slot(i as u32), d.row(i), &mut s)
                .expect("re-insert");
        }
        assert_eq!(index.len(), d.n);
    }
    let after = recall_at_10(&index, d, 0);
    println!("churn: recall@10 {before:.4} -> {after:.4}");
    assert!(
        after >= before - 0.01,
        "recall@10 dropped from {before:.4} to {after:.4} after 3 rounds of 50% churn (seed {SEED:#x})"
    );
}

/// What the engine's indexer does under churn: removed slots are reused by *other* elements
/// (a store's free list), and a backlog is linked with `build_parallel`. The links a removal's
/// repair missed then lead to nodes of the batch that are staged but not linked yet; an insert
/// that started a level's search from one of them got almost no neighbours (up to 48 of 5,000
/// elements could no longer be found, even by their own vector, before that was fixed).
#[test]
fn reusing_freed_slots_for_other_vectors_in_parallel_batches_loses_no_element() {
    const M: usize = 5_000;
    let d = data();
    let mut lost_total = 0;
    for seed in 0..3u64 {
        let index = Hnsw::new(
            Params::new(d.dim)
                .mode(Mode::Q8)
                .ef_construction(BUILD_EF)
                .seed(SEED ^ seed),
        )
        .expect("params");
        let items: Vec<(Slot, &[f32])> = (0..M).map(|i| (Slot(i as u32), d.row(i))).collect();
        index.build_parallel(&items).expect("build");
        // row_of[slot]: the data row the slot holds.
        let mut row_of: Vec<usize> = (0..M).collect();
        let mut rng = SmallRng::seed_from_u64(SEED ^ seed);
        let mut s = Search::new();
        for _ in 0..3 {
            let mut slots: Vec<usize> = (0..M).collect();
            slots.shuffle(&mut rng);
            slots.truncate(M / 2);
            for &slot in &slots {
                assert!(index.remove(Slot(slot as u32), &mut s));
            }
            let mut rows: Vec<usize> = slots.iter().map(|&slot| row_of[slot]).collect();
            rows.shuffle(&mut rng);
            for (&slot, &row) in slots.iter().zip(&rows) {
                row_of[slot] = row;
            }
            let batch: Vec<(Slot, &[f32])> = slots
                .iter()
                .map(|&slot| (Slot(slot as u32), d.row(row_of[slot])))
                .collect();
            index.build_parallel(&batch).expect("re-insert");
        }
        assert_eq!(index.len(), M);
        // Every element finds itself (or a duplicate of its vector) as its nearest.
        let lost: Vec<usize> = (0..M)
            .filter(|&slot| {
                let hits = index
                    .search(d.row(row_of[slot]), SearchParams::k(1), &mut s)
                    .expect("search");
                hits.first().is_none_or(|h| {
                    h.slot.index() != slot && d.row(row_of[h.slot.index()]) != d.row(row_of[slot])
                })
            })
            .collect();
        lost_total += lost.len();
        println!("seed {:#x}: {} lost {:?}", SEED ^ seed, lost.len(), lost);
    }
    // Measured over 10 runs: 0-2 of the 15,000 with the fix; before it, 3-6 in the first
    // seed's 5,000 alone (and up to 48 in other removal orders).
    assert!(
        lost_total <= 4,
        "{lost_total} of 3 x {M} elements not found by their own vector (seeds {SEED:#x} ^ 0..3)"
    );
}

#[test]
fn range_search_finds_99_percent_of_an_exact_scan_and_nothing_below_the_threshold() {
    let d = data();
    let index = shared_exact();
    let mut s = Search::new();
    let mut rng = SmallRng::seed_from_u64(SEED ^ 1);
    // Queries: the held-out queries and 200 base elements (as "invalidate near an element").
    let mut queries: Vec<&[f32]> = (0..QUERIES).map(|q| d.query(q)).collect();
    queries.extend((0..200).map(|_| d.row(rng.gen_range(0..d.n))));
    // Brute-force scores of every query against every row, computed once.
    let scores: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| (0..d.n).map(|i| dot(q, d.row(i))).collect())
        .collect();
    for t in [0.6f32, 0.7, 0.8] {
        let (mut exact_total, mut found_total) = (0usize, 0usize);
        for (q, brute) in queries.iter().zip(&scores) {
            let exact: Vec<Hit> = index
                .search_range(q, t, SearchParams::default().exhaustive(true), &mut s)
                .unwrap()
                .to_vec();
            // The exhaustive scan is itself checked against brute force.
            let brute = brute.iter().filter(|&&x| x >= t).count();
            assert!(
                exact.len().abs_diff(brute) <= 1,
                "scan {} vs brute {brute}",
                exact.len()
            );
            let graph = index
                .search_range(q, t, SearchParams::default(), &mut s)
                .unwrap();
            assert!(
                graph.iter().all(|h| h.score >= t),
                "a hit below the threshold {t} (seed {SEED:#x})"
            );
            assert!(graph.windows(2).all(|w| w[0].score >= w[1].score));
            exact_total += exact.len();
            found_total += exact
                .iter()
                .filter(|e| graph.iter().any(|h| h.slot == e.slot))
                .count();
        }
        let ratio = found_total as f64 / exact_total.max(1) as f64;
        println!("threshold {t}: {found_total}/{exact_total} = {ratio:.4}");
        assert!(
            exact_total > 0,
            "no element above {t}: the test would be empty"
        );
        assert!(
            ratio >= 0.99,
            "threshold {t}: found {found_total} of {exact_total} ({ratio:.4} < 0.99, seed {SEED:#x})"
        );
    }
}

#[test]
fn searches_run_while_other_threads_insert_and_remove() {
    let d = data();
    const M: usize = 3_000;
    let index = Arc::new(Hnsw::new(Params::new(d.dim).ef_construction(64).seed(SEED)).unwrap());
    let items: Vec<(Slot, &[f32])> = (0..M / 2).map(|i| (Slot(i as u32), d.row(i))).collect();
    index.build_parallel(&items).unwrap();
    std::thread::scope(|scope| {
        // Writer: inserts the second half, removes and re-inserts a band of the first.
        let w = Arc::clone(&index);
        scope.spawn(move || {
            let mut s = Search::new();
            for i in M / 2..M {
                w.insert(Slot(i as u32), d.row(i), &mut s).unwrap();
                let j = i - M / 2;
                if j.is_multiple_of(3) {
                    assert!(w.remove(Slot(j as u32), &mut s));
                    w.insert(Slot(j as u32), d.row(j), &mut s).unwrap();
                }
            }
        });
        // Readers: every hit is a slot that was inserted, scores sorted and exact.
        for r in 0..2 {
            let idx = Arc::clone(&index);
            scope.spawn(move || {
                let mut s = Search::new();
                for n in 0..400 {
                    let q = d.query((n * 2 + r) % QUERIES);
                    let hits = idx.search(q, SearchParams::k(10), &mut s).unwrap();
                    assert!(hits.len() <= 10);
                    for h in hits {
                        assert!(h.slot.index() < M, "hit outside the inserted slots");
                        let exact = dot(q, d.row(h.slot.index()));
                        assert!(
                            (h.score - exact).abs() < 1e-4,
                            "score {} vs {exact}",
                            h.score
                        );
                    }
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                    let range = idx
                        .search_range(q, 0.5, SearchParams::default(), &mut s)
                        .unwrap();
                    assert!(range.iter().all(|h| h.score >= 0.5));
                }
            });
        }
    });
    assert_eq!(index.len(), M);
    let live = {
        let mut l = vec![false; d.n];
        l[..M].iter_mut().for_each(|x| *x = true);
        l
    };
    let mut s = Search::new();
    let mut found = 0;
    for q in 0..50 {
        let t = truth(d, d.query(q), &live, 10);
        let hits = index
            .search(d.query(q), SearchParams::k(10), &mut s)
            .unwrap();
        found += hits.iter().filter(|h| t.contains(&h.slot.0)).count();
    }
    let recall = found as f64 / 500.0;
    assert!(
        recall >= 0.9,
        "recall after concurrent churn {recall:.3} (seed {SEED:#x})"
    );
}
