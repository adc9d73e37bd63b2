//! Similarity search through the engine once a set has its HNSW index, on the committed
//! minilm-wordnet fixture (tests/data/minilm-wordnet-5k; brute force as the truth).

use std::sync::Arc;

use sutra_cache::*;

use crate::npy;

/// Rows `0..rows` of a matrix of the minilm-wordnet fixture as f32, with its dimension.
fn npy_f16(name: &str, rows: usize) -> (Vec<f32>, usize) {
    let m = npy::read_fixture(name, rows);
    (m.values, m.dim)
}

const N: usize = 5_000;
const Q: usize = 100;

fn load() -> (Vec<f32>, Vec<f32>, usize) {
    let (base, dim) = npy_f16("base.f16.npy", N);
    let (queries, _) = npy_f16("queries.f16.npy", Q);
    (base, queries, dim)
}

fn truth(base: &[f32], q: &[f32], dim: usize, live: &dyn Fn(usize) -> bool) -> Vec<usize> {
    let mut s: Vec<(f32, usize)> = (0..base.len() / dim)
        .filter(|&i| live(i))
        .map(|i| {
            (
                base[i * dim..(i + 1) * dim]
                    .iter()
                    .zip(q)
                    .map(|(a, b)| a * b)
                    .sum(),
                i,
            )
        })
        .collect();
    s.sort_by(|a, b| b.0.total_cmp(&a.0));
    s.into_iter().take(10).map(|x| x.1).collect()
}

fn recall(
    e: &Engine,
    key: &[u8],
    base: &[f32],
    queries: &[f32],
    dim: usize,
    live: &dyn Fn(usize) -> bool,
) -> f64 {
    let mut found = 0;
    for qi in 0..Q {
        let q = &queries[qi * dim..(qi + 1) * dim];
        let want = truth(base, q, dim, live);
        let hits = e
            .vsearch(key, Query::Vector(q), &SearchParams::default())
            .unwrap();
        for h in hits {
            let i: usize = std::str::from_utf8(&h.element).unwrap().parse().unwrap();
            if want.contains(&i) {
                found += 1;
            }
        }
    }
    found as f64 / (Q * 10) as f64
}

fn engine() -> Engine {
    Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap()
}

fn add_all(
    e: &Engine,
    key: &[u8],
    opts: &VectorSetOptions,
    base: &[f32],
    dim: usize,
    which: impl Iterator<Item = usize>,
) {
    let names: Vec<(String, usize)> = which.map(|i| (i.to_string(), i)).collect();
    for chunk in names.chunks(500) {
        let adds: Vec<ElementAdd> = chunk
            .iter()
            .map(|(n, i)| ElementAdd::new(n.as_bytes(), &base[i * dim..(i + 1) * dim]))
            .collect();
        e.vadd_many(key, opts, &adds).unwrap();
    }
}

/// An in-memory engine with the first `N` base vectors in the exact set `m`, its graph built
/// (ef_construction 64 keeps the build quick at opt-level 1; the perf report uses 200).
fn exact_set() -> (Engine, VectorSetOptions, Vec<f32>, Vec<f32>, usize) {
    let (base, queries, dim) = load();
    let e = engine();
    let opts = VectorSetOptions {
        ef_construction: Some(64),
        ..Default::default()
    };
    add_all(&e, b"m", &opts, &base, dim, 0..N);
    e.index_settle();
    (e, opts, base, queries, dim)
}

#[test]
fn recall_at_10_is_high_at_the_default_ef_and_holds_under_churn() {
    let (e, opts, base, queries, dim) = exact_set();
    let info = e.vinfo(b"m").unwrap().unwrap();
    assert_eq!(info.index_nodes, N, "{info:?}");
    assert!(info.max_level >= 1);
    let r0 = recall(&e, b"m", &base, &queries, dim, &|_| true);
    assert!(
        r0 >= 0.95,
        "recall@10 {r0} (first {N} rows of base, first {Q} queries)"
    );
    // Remove and re-add half of the elements three times (seeded by the round number).
    for round in 0..3 {
        let half: Vec<usize> = (0..N).filter(|i| (i * 7 + round * 3) % 2 == 0).collect();
        for &i in &half {
            assert!(e.vrem(b"m", i.to_string().as_bytes()).unwrap());
        }
        add_all(&e, b"m", &opts, &base, dim, half.into_iter());
        e.index_settle();
    }
    let r1 = recall(&e, b"m", &base, &queries, dim, &|_| true);
    assert!(r0 - r1 <= 0.01, "recall after churn {r1}, before {r0}");
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().index_nodes, N);
}

#[test]
fn fresh_and_removed_elements_are_seen_before_the_indexer_runs() {
    let (base, queries, dim) = load();
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: 1_000,
        ..Default::default()
    })
    .unwrap();
    let opts = VectorSetOptions {
        ef_construction: Some(32),
        ..Default::default()
    };
    add_all(&e, b"m", &opts, &base, dim, 0..2_000);
    e.index_settle();
    // A new element is found at once, graph or not.
    let q = &queries[..dim];
    e.vadd(b"m", &opts, ElementAdd::new(b"fresh", q)).unwrap();
    let hits = e
        .vsearch(b"m", Query::Vector(q), &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].element, b"fresh");
    // A removed element is never returned, even while the graph still holds it.
    let top = hits[1].element.clone();
    e.vrem(b"m", &top).unwrap();
    e.vrem(b"m", b"fresh").unwrap();
    let hits = e
        .vsearch(
            b"m",
            Query::Vector(q),
            &SearchParams {
                count: 50,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(hits
        .iter()
        .all(|h| h.element != top && h.element != b"fresh"));
    // An updated element is scored by its new vector.
    e.vadd(b"m", &opts, ElementAdd::new(b"7", q)).unwrap();
    let hits = e
        .vsearch(b"m", Query::Vector(q), &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].element, b"7");
    assert!((hits[0].score - 1.0).abs() < 1e-3);
    // Removing the 20 nearest right after the graph answered them: a top-10 still has 10
    // live results (the search asks the graph again when stale hits leave too few).
    let q2 = &queries[dim..2 * dim];
    let exact = |count| SearchParams {
        count,
        exhaustive: true,
        ..Default::default()
    };
    let nearest = e.vsearch(b"m", Query::Vector(q2), &exact(20)).unwrap();
    for h in &nearest {
        assert!(e.vrem(b"m", &h.element).unwrap());
    }
    let hits = e
        .vsearch(
            b"m",
            Query::Vector(q2),
            &SearchParams {
                count: 10,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits
        .iter()
        .all(|h| nearest.iter().all(|n| n.element != h.element)));
    let truth = e.vsearch(b"m", Query::Vector(q2), &exact(10)).unwrap();
    let found = hits
        .iter()
        .filter(|h| truth.iter().any(|t| t.element == h.element))
        .count();
    assert!(found >= 8, "{found} of the exact top 10 after removals");
}

#[test]
fn searches_run_while_other_threads_add_and_remove() {
    let (base, queries, dim) = load();
    let e = Arc::new(engine());
    let opts = VectorSetOptions {
        ef_construction: Some(32),
        ..Default::default()
    };
    add_all(&e, b"m", &opts, &base, dim, 0..1_500);
    let base = Arc::new(base);
    let writer = {
        let (e, base) = (e.clone(), base.clone());
        std::thread::spawn(move || {
            for i in 1_500..2_500usize {
                e.vadd(
                    b"m",
                    &opts,
                    ElementAdd::new(i.to_string().as_bytes(), &base[i * dim..(i + 1) * dim]),
                )
                .unwrap();
                if i % 3 == 0 {
                    e.vrem(b"m", (i - 1_000).to_string().as_bytes()).unwrap();
                }
            }
        })
    };
    let reader = {
        let e = e.clone();
        std::thread::spawn(move || {
            for qi in 0..300 {
                let q = &queries[(qi % Q) * dim..(qi % Q + 1) * dim];
                let hits = e
                    .vsearch(b"m", Query::Vector(q), &SearchParams::default())
                    .unwrap();
                assert_eq!(hits.len(), 10);
                assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
            }
        })
    };
    writer.join().unwrap();
    reader.join().unwrap();
    e.index_settle();
    let card = e.vcard(b"m").unwrap() as usize;
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().index_nodes, card);
}

/// Top-10 at a small ef (where the graph's exact shape decides the answer) of every query:
/// element names and score bits.
fn answers(e: &Engine, key: &[u8], queries: &[f32], dim: usize) -> Vec<Vec<(Vec<u8>, u32)>> {
    let params = SearchParams {
        ef: 12,
        ..Default::default()
    };
    (0..Q)
        .map(|qi| {
            let q = &queries[qi * dim..(qi + 1) * dim];
            e.vsearch(key, Query::Vector(q), &params)
                .unwrap()
                .into_iter()
                .map(|h| (h.element.to_vec(), h.score.to_bits()))
                .collect()
        })
        .collect()
}

/// Share of the (query, element) pairs of `a` that `b` has too.
fn overlap(a: &[Vec<(Vec<u8>, u32)>], b: &[Vec<(Vec<u8>, u32)>]) -> f64 {
    let (mut same, mut all) = (0, 0);
    for (x, y) in a.iter().zip(b) {
        all += x.len();
        same += x.iter().filter(|h| y.iter().any(|g| g.0 == h.0)).count();
    }
    same as f64 / all.max(1) as f64
}

#[test]
fn a_restart_restores_the_graph_from_the_snapshot_instead_of_building_it() {
    let (base, queries, dim) = load();
    let dir = tempfile::tempdir().unwrap();
    let config = |checkpoint_on_close| EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        wal_sync: SyncPolicy::Never,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        checkpoint_on_close,
        ..Default::default()
    };
    let exact = VectorSetOptions {
        ef_construction: Some(64),
        ..Default::default()
    };
    let q8 = VectorSetOptions {
        storage: Some(StorageMode::Q8),
        ..exact
    };
    let keys = [&b"m"[..], b"q"];
    let all_answers = |e: &Engine| keys.map(|k| answers(e, k, &queries, dim));
    let fresh = {
        let e = Engine::open(config(true)).unwrap();
        add_all(&e, b"m", &exact, &base, dim, 0..N);
        add_all(&e, b"q", &q8, &base, dim, 0..N);
        e.index_settle();
        let a = all_answers(&e);
        e.close().unwrap();
        a
    };
    let removed = |i: usize| i % 17 == 3;
    let live = (0..N).filter(|&i| !removed(i)).count();
    let after_removals = {
        let e = Engine::open(config(true)).unwrap();
        e.index_settle();
        for key in keys {
            let info = e.vinfo(key).unwrap().unwrap();
            assert_eq!(info.index_restored, N, "{info:?}");
            assert_eq!(info.index_nodes, N, "{info:?}");
            assert_eq!(info.index_pending, 0, "{info:?}");
        }
        // The same graph: the same answers, bit for bit, even at ef 12.
        assert_eq!(all_answers(&e), fresh);
        // Removals: the next snapshot's graph is not a fresh build's.
        for i in (0..N).filter(|&i| removed(i)) {
            for key in keys {
                assert!(e.vrem(key, i.to_string().as_bytes()).unwrap());
            }
        }
        e.index_settle();
        let a = all_answers(&e);
        e.close().unwrap();
        a
    };
    {
        let e = Engine::open(config(false)).unwrap();
        e.index_settle();
        for (key, before) in keys.iter().zip(&after_removals) {
            let info = e.vinfo(key).unwrap().unwrap();
            assert_eq!(info.index_restored, live, "{info:?}");
            assert_eq!(info.index_nodes, live, "{info:?}");
            // Removed nodes' stale in-links (repairs miss a few) are not saved, so walks
            // through them can differ: nearly the same answers, not bit for bit.
            let same = overlap(before, &answers(&e, key, &queries, dim));
            assert!(
                same >= 0.98,
                "{}: {same} of the answers kept",
                key[0] as char
            );
        }
        // Changes after the snapshot, left in the log only (no checkpoint at close): an
        // element moved to another vector, a new one, a removed one.
        let moved = &base[0..dim];
        e.vadd(b"m", &exact, ElementAdd::new(b"1", moved)).unwrap();
        e.vadd(b"m", &exact, ElementAdd::new(b"new", &base[dim..2 * dim]))
            .unwrap();
        assert!(e.vrem(b"m", b"2").unwrap());
        e.close().unwrap();
    }
    let e = Engine::open(config(false)).unwrap();
    e.index_settle();
    let info = e.vinfo(b"m").unwrap().unwrap();
    // Restored from the last snapshot: every node but the two whose slot changed since.
    assert_eq!(info.index_restored, live - 2, "{info:?}");
    assert_eq!(info.index_nodes, live, "{info:?}");
    let hits = e
        .vsearch(b"m", Query::Vector(&base[0..dim]), &SearchParams::default())
        .unwrap();
    let names: Vec<&[u8]> = hits.iter().map(|h| &h.element[..]).collect();
    assert!(
        names.contains(&&b"0"[..]) && names.contains(&&b"1"[..]),
        "{names:?}"
    );
    assert!(!names.contains(&&b"2"[..]));
    let r = recall(&e, b"q", &base, &queries, dim, &|i| !removed(i));
    assert!(r >= 0.95, "q8 recall@10 after the restore {r}");
}

#[test]
fn an_exact_set_holds_each_f32_vector_once() {
    let (e, _, base, queries, dim) = exact_set();
    let info = e.vinfo(b"m").unwrap().unwrap();
    let per = info.memory_bytes as f64 / N as f64;
    // f32 original (4·dim) + INT8 codes for the graph (dim) + lists and per-element overheads
    // (names, metadata) ≈ 5·dim + 330 (2,248 B at 384-d) — up to ~dim + 650 more when the graph's
    // arrays doubled past the element count (growth depends on the indexer's batches). A
    // second f32 copy in the graph would add at least another 4·dim (≥ 3,780 B).
    let budget = (6 * dim + 800) as f64;
    assert!(
        per <= budget,
        "{per:.0} bytes per {dim}-d element > {budget}: {info:?}"
    );
    // And the graph's INT8 candidates are reranked from those f32: exact scores.
    let q = &queries[..dim];
    let hits = e
        .vsearch(b"m", Query::Vector(q), &SearchParams::default())
        .unwrap();
    for h in &hits {
        let i: usize = std::str::from_utf8(&h.element).unwrap().parse().unwrap();
        let v = &base[i * dim..(i + 1) * dim];
        let n = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let cos = v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>() / (n(v) * n(q));
        assert!((h.score - cos).abs() < 1e-5, "{} vs exact {cos}", h.score);
    }
    assert!(recall(&e, b"m", &base, &queries, dim, &|_| true) >= 0.95);
}

#[test]
fn filtered_search_through_the_graph_returns_only_matches_and_finds_the_exact_ones() {
    let (base, queries, dim) = load();
    let e = engine();
    let opts = VectorSetOptions {
        ef_construction: Some(64),
        ..Default::default()
    };
    // Element i gets {"g": i % 10, "name": "e<i>"}; every tenth element has none.
    let names: Vec<String> = (0..4_000).map(|i| i.to_string()).collect();
    let attrs: Vec<String> = (0..4_000)
        .map(|i| format!(r#"{{"g": {}, "name": "e{i}"}}"#, i % 10))
        .collect();
    for chunk in (0..4_000).collect::<Vec<_>>().chunks(500) {
        let adds: Vec<ElementAdd> = chunk
            .iter()
            .map(|&i| ElementAdd {
                attributes: if i % 10 == 9 {
                    AttrUpdate::Keep
                } else {
                    AttrUpdate::Set(&attrs[i])
                },
                ..ElementAdd::new(names[i].as_bytes(), &base[i * dim..(i + 1) * dim])
            })
            .collect();
        e.vadd_many(b"f", &opts, &adds).unwrap();
    }
    e.index_settle();
    assert!(e.vinfo(b"f").unwrap().unwrap().index_nodes >= 3_900);
    let params = SearchParams {
        count: 10,
        ..Default::default()
    };
    let exact = SearchParams {
        exhaustive: true,
        ..params
    };
    let g3 = Filter::compile(".g == 3 and 'e' in .name").unwrap();
    let (mut found, mut wanted) = (0, 0);
    for q in queries.chunks(dim).take(50) {
        let hits = e
            .vsearch_filtered(b"f", Query::Vector(q), &params, &g3, 0)
            .unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| std::str::from_utf8(&h.element)
            .unwrap()
            .parse::<usize>()
            .unwrap()
            % 10
            == 3));
        let truth = e
            .vsearch_filtered(b"f", Query::Vector(q), &exact, &g3, 0)
            .unwrap();
        wanted += truth.len();
        found += truth
            .iter()
            .filter(|t| hits.iter().any(|h| h.element == t.element))
            .count();
    }
    let recall = found as f64 / wanted as f64;
    assert!(recall >= 0.9, "filtered recall@10 {recall}");
    // Elements without attributes never match, not even an always-true filter.
    let all = Filter::compile("1").unwrap();
    let hits = e
        .vsearch_filtered(
            b"f",
            Query::Vector(&queries[..dim]),
            &SearchParams {
                count: 4_000,
                exhaustive: true,
                ..Default::default()
            },
            &all,
            0,
        )
        .unwrap();
    assert_eq!(hits.len(), 3_600);
    // A filter nothing passes returns nothing, after examining at most FILTER-EF candidates.
    let none = Filter::compile(".g > 100").unwrap();
    let hits = e
        .vsearch_filtered(b"f", Query::Vector(&queries[..dim]), &params, &none, 50)
        .unwrap();
    assert!(hits.is_empty());
}
