//! Batched search through the public engine API: every row is what a single search returns,
//! on any number of threads, and bad input is refused with the argument named.

use sutra_cache::*;

use crate::npy;

const N: usize = 2_000;
const Q: usize = 60;

fn engine() -> Engine {
    Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap()
}

/// An engine with the first `N` fixture vectors (named by row) in the set `m`, its graph
/// built, plus `extra` more rows added after the build (not yet in the graph: scanned), and
/// `Q` queries.
fn loaded(extra: usize) -> (Engine, Vec<f32>, usize) {
    let base = npy::read_fixture("base.f16.npy", N + extra);
    let queries = npy::read_fixture("queries.f16.npy", Q);
    let dim = base.dim;
    let e = engine();
    let opts = VectorSetOptions {
        ef_construction: Some(64),
        ..Default::default()
    };
    let add = |rows: std::ops::Range<usize>| {
        let names: Vec<String> = rows.clone().map(|i| i.to_string()).collect();
        let adds: Vec<ElementAdd> = rows
            .zip(&names)
            .map(|(i, n)| ElementAdd::new(n.as_bytes(), &base.values[i * dim..(i + 1) * dim]))
            .collect();
        e.vadd_many(b"m", &opts, &adds).unwrap();
    };
    add(0..N);
    e.index_settle();
    if extra > 0 {
        add(N..N + extra);
    }
    (e, queries.values, dim)
}

fn single(e: &Engine, q: &[f32], p: &SearchParams) -> Vec<(Vec<u8>, f32)> {
    e.vsearch(b"m", Query::Vector(q), p)
        .unwrap()
        .into_iter()
        .map(|h| (h.element, h.score))
        .collect()
}

fn rows(b: &BatchHits) -> Vec<Vec<(Vec<u8>, f32)>> {
    (0..b.len())
        .map(|i| b.row(i).map(|(n, s)| (n.to_vec(), s)).collect())
        .collect()
}

#[test]
fn every_row_of_a_batch_is_what_a_single_search_returns_on_any_number_of_threads() {
    let (e, queries, dim) = loaded(0);
    for p in [
        SearchParams::default(),
        SearchParams {
            count: 5,
            ef: 40,
            ..Default::default()
        },
        SearchParams {
            count: 3,
            exhaustive: true,
            ..Default::default()
        },
    ] {
        let want: Vec<_> = queries
            .chunks_exact(dim)
            .map(|q| single(&e, q, &p))
            .collect();
        assert!(want.iter().all(|r| r.len() == p.count));
        for threads in [1, 0, 2, 3] {
            let b = e.vsearch_batch(b"m", &queries, dim, &p, threads).unwrap();
            assert_eq!(b.len(), Q);
            assert_eq!(b.k, p.count);
            assert_eq!(b.scores.len(), Q * p.count);
            assert_eq!(rows(&b), want, "threads {threads}, {p:?}");
        }
    }
}

#[test]
fn a_batch_also_finds_elements_added_after_the_graph_was_built() {
    let (e, _, dim) = loaded(40);
    let base = npy::read_fixture("base.f16.npy", N + 40).values;
    // The new elements themselves as queries: each finds itself first.
    let queries = &base[N * dim..];
    let b = e
        .vsearch_batch(b"m", queries, dim, &SearchParams::default(), 2)
        .unwrap();
    for i in 0..40 {
        let (name, score) = b.row(i).next().unwrap();
        assert_eq!(name, (N + i).to_string().as_bytes());
        assert!(score > 0.999, "{score}");
    }
}

#[test]
fn rows_with_fewer_hits_than_k_are_padded_and_a_missing_key_gives_empty_rows() {
    let e = engine();
    for (i, v) in [[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]].iter().enumerate() {
        e.vadd(
            b"s",
            &VectorSetOptions::default(),
            ElementAdd::new(format!("e{i}").as_bytes(), v),
        )
        .unwrap();
    }
    let p = SearchParams {
        count: 5,
        ..Default::default()
    };
    let b = e
        .vsearch_batch(b"s", &[1.0, 0.0, 0.0, 1.0], 2, &p, 1)
        .unwrap();
    assert_eq!(b.counts, vec![3, 3]);
    assert_eq!(b.row(0).next().unwrap().0, b"e0");
    assert_eq!(b.row(1).next().unwrap().0, b"e1");
    assert!(b.scores[3..5].iter().all(|s| s.is_nan()));
    assert!(b.scores[8..10].iter().all(|s| s.is_nan()));
    assert_eq!(b.spans[4], (0, 0));

    let none = e.vsearch_batch(b"nope", &[1.0; 6], 2, &p, 0).unwrap();
    assert_eq!(none.counts, vec![0, 0, 0]);
    assert_eq!(none.scores.len(), 15);
    let empty = e.vsearch_batch(b"s", &[], 2, &p, 0).unwrap();
    assert!(empty.is_empty());
}

#[test]
fn bad_batches_are_refused_naming_the_argument() {
    let e = engine();
    e.vadd(
        b"s",
        &VectorSetOptions::default(),
        ElementAdd::new(b"a", &[1.0, 2.0, 3.0]),
    )
    .unwrap();
    e.set(b"blob", b"v", SetOptions::default()).unwrap();
    let p = SearchParams::default();
    let invalid = |r: Result<BatchHits>, arg: &str, text: &str| match r {
        Err(Error::InvalidArgument { arg: a, expected }) => {
            assert_eq!(a, arg);
            assert!(expected.contains(text), "{expected}");
        }
        other => panic!("expected an invalid '{arg}', got {other:?}"),
    };
    invalid(e.vsearch_batch(b"s", &[1.0; 7], 3, &p, 1), "queries", "7");
    invalid(
        e.vsearch_batch(b"s", &[1.0; 3], 0, &p, 1),
        "dim",
        "at least 1",
    );
    let mut bad = vec![1.0f32; 9];
    bad[7] = f32::NAN;
    invalid(e.vsearch_batch(b"s", &bad, 3, &p, 1), "queries", "row 2");
    invalid(
        e.vsearch_batch(b"s", &[1.0; 3], 3, &p, MAX_SEARCH_THREADS + 1),
        "threads",
        "257",
    );
    assert!(matches!(
        e.vsearch_batch(b"s", &[1.0; 4], 2, &p, 1),
        Err(Error::DimensionMismatch {
            expected: 3,
            got: 2
        })
    ));
    assert!(matches!(
        e.vsearch_batch(b"blob", &[1.0; 3], 3, &p, 1),
        Err(Error::WrongType)
    ));
}
