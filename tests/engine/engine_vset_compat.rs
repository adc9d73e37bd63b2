//! Redis 8 vector-set inspection through the public engine API: an element's graph links
//! (VLINKS) and the lexicographic range of names (VRANGE).

use std::collections::HashSet;
use std::ops::Bound::{Excluded, Included, Unbounded};

use sutra_cache::*;

fn engine(index_min_elements: usize) -> (Engine, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(1_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        index_min_elements,
        ..Default::default()
    })
    .unwrap();
    (e, clock)
}

use crate::vectors;
use vectors::{cos, vectors};

fn add_all(e: &Engine, key: &[u8], vs: &[Vec<f32>]) {
    let opts = VectorSetOptions::default();
    for (i, v) in vs.iter().enumerate() {
        let name = format!("e{i}");
        assert!(e
            .vadd(key, &opts, ElementAdd::new(name.as_bytes(), v))
            .unwrap());
    }
}

#[test]
fn vlinks_gives_every_level_of_an_indexed_element_with_its_neighbours_scores() {
    let (e, _) = engine(1);
    let vs = vectors(300, 8, 7);
    add_all(&e, b"s", &vs);
    e.index_settle();
    let max_level = e.vinfo(b"s").unwrap().unwrap().max_level;
    let mut tallest = 0;
    for (i, v) in vs.iter().enumerate() {
        let links = e.vlinks(b"s", format!("e{i}").as_bytes()).unwrap().unwrap();
        assert!(!links[0].is_empty(), "e{i} has no level-0 neighbour");
        tallest = tallest.max(links.len() - 1);
        for (level, list) in links.iter().enumerate() {
            let mut seen = HashSet::new();
            for (name, score) in list {
                assert!(seen.insert(name.clone()), "e{i} lists a neighbour twice");
                let j: usize = std::str::from_utf8(&name[1..]).unwrap().parse().unwrap();
                assert_ne!(i, j, "e{i} links to itself");
                // The score is the similarity a search reports (cosine of the two vectors).
                assert!((score - cos(v, &vs[j])).abs() < 1e-4, "{score} vs e{j}");
                // A neighbour at level l has level l itself.
                let theirs = e.vlinks(b"s", name).unwrap().unwrap();
                assert!(theirs.len() > level, "e{j} lacks level {level}");
            }
        }
    }
    assert_eq!(tallest, max_level);
}

#[test]
fn vlinks_leaves_out_removed_neighbours_before_the_graph_forgets_them() {
    let (e, _) = engine(1);
    let vs = vectors(120, 4, 11);
    add_all(&e, b"s", &vs);
    e.index_settle();
    let victim = b"e5".to_vec();
    let before = (0..120)
        .filter(|i| {
            e.vlinks(b"s", format!("e{i}").as_bytes())
                .unwrap()
                .unwrap()
                .iter()
                .flatten()
                .any(|(n, _)| *n == victim)
        })
        .count();
    assert!(before > 0, "nobody links to e5");
    assert!(e.vrem(b"s", &victim).unwrap());
    for i in (0..120).filter(|&i| i != 5) {
        let links = e.vlinks(b"s", format!("e{i}").as_bytes()).unwrap().unwrap();
        assert!(links.iter().flatten().all(|(n, _)| *n != victim), "e{i}");
    }
    assert_eq!(e.vlinks(b"s", &victim).unwrap(), None);
}

#[test]
fn vlinks_gives_a_small_set_a_graph_that_then_follows_every_add_and_removal() {
    let (e, _) = engine(1_000);
    let vs = vectors(40, 4, 3);
    add_all(&e, b"small", &vs);
    // Below the indexing threshold the set has no graph until VLINKS asks for one.
    assert_eq!(e.vinfo(b"small").unwrap().unwrap().index_nodes, 0);
    let mut levels = std::collections::HashMap::new();
    for i in 0..40 {
        let name = format!("e{i}");
        let links = e.vlinks(b"small", name.as_bytes()).unwrap().unwrap();
        assert!(!links[0].is_empty(), "{name} has no level-0 neighbour");
        levels.insert(name, links.len() - 1);
    }
    assert_eq!(e.vinfo(b"small").unwrap().unwrap().index_nodes, 40);
    // Later adds are linked before VLINKS answers, as Redis links them before VADD answers.
    let opts = VectorSetOptions::default();
    for (i, v) in vectors(10, 4, 99).iter().enumerate() {
        let name = format!("n{i}");
        e.vadd(b"small", &opts, ElementAdd::new(name.as_bytes(), v))
            .unwrap();
        let links = e.vlinks(b"small", name.as_bytes()).unwrap().unwrap();
        assert!(!links[0].is_empty(), "{name} is not linked");
        levels.insert(name, links.len() - 1);
    }
    // VINFO's max level is the tallest element's after every removal (the graph is brought
    // up to date first), down to the last element.
    let mut names: Vec<String> = levels.keys().cloned().collect();
    names.sort();
    for name in names {
        assert!(e.vrem(b"small", name.as_bytes()).unwrap());
        levels.remove(&name);
        match e.vinfo_current(b"small").unwrap() {
            Some(info) => {
                assert_eq!(
                    info.max_level,
                    *levels.values().max().unwrap(),
                    "after {name}"
                );
                assert_eq!(info.index_pending, 0);
            }
            None => assert!(levels.is_empty()),
        }
    }
    assert_eq!(e.vlinks(b"small", b"nope").unwrap(), None);
    assert_eq!(e.vlinks(b"nokey", b"e1").unwrap(), None);
    e.set(b"blob", b"v", SetOptions::default()).unwrap();
    assert!(matches!(e.vlinks(b"blob", b"e1"), Err(Error::WrongType)));
}

fn bin_opts() -> VectorSetOptions {
    VectorSetOptions {
        storage: Some(StorageMode::Bin),
        ..Default::default()
    }
}

/// Redis's BIN bits of a vector: bit j (byte j/8, bit j%8) set when component j > 0, in
/// 64-bit words.
fn bits_of(v: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; v.len().div_ceil(64) * 8];
    for (j, &x) in v.iter().enumerate() {
        if x > 0.0 {
            out[j / 8] |= 1 << (j % 8);
        }
    }
    out
}

fn hamming(a: &[f32], b: &[f32]) -> usize {
    a.iter()
        .zip(b)
        .filter(|(x, y)| (**x > 0.0) != (**y > 0.0))
        .count()
}

#[test]
fn bin_sets_keep_sign_bits_and_score_by_hamming_distance_with_and_without_a_graph() {
    for index_min in [1_000, 1] {
        let (e, _) = engine(index_min);
        let vs = vectors(200, 70, 5); // 70 dimensions: two 64-bit words
        for (i, v) in vs.iter().enumerate() {
            let name = format!("e{i}");
            e.vadd(b"b", &bin_opts(), ElementAdd::new(name.as_bytes(), v))
                .unwrap();
        }
        e.index_settle();
        let info = e.vinfo(b"b").unwrap().unwrap();
        assert_eq!(info.storage, StorageMode::Bin);
        assert_eq!(StorageMode::Bin.redis_name(), "bin");
        // A read gives ±1 per component; the raw form is the bits and the norm given.
        let got = e.vget(b"b", b"e3").unwrap().unwrap();
        let signs: Vec<f32> = vs[3]
            .iter()
            .map(|&x| if x > 0.0 { 1.0 } else { -1.0 })
            .collect();
        assert_eq!(got, signs);
        let norm = vs[3].iter().map(|x| x * x).sum::<f32>().sqrt();
        match e.vemb_raw(b"b", b"e3").unwrap().unwrap() {
            RawEmbedding::Bin { bits, norm: n } => {
                assert_eq!(bits, bits_of(&vs[3]));
                assert_eq!(bits.len(), 16);
                assert!((n - f64::from(norm)).abs() < 1e-4, "{n} vs {norm}");
            }
            other => panic!("{other:?}"),
        }
        // Scores: the cosine of the ±1 vectors, 1 − 2·hamming/d (Redis's 1 − hamming/d).
        let q = &vs[0];
        for exhaustive in [true, false] {
            let hits = e
                .vsearch(
                    b"b",
                    Query::Vector(q),
                    &SearchParams {
                        count: 10,
                        exhaustive,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(hits.len(), 10);
            assert_eq!(hits[0].element, b"e0");
            assert_eq!(hits[0].score, 1.0);
            for h in &hits {
                let j: usize = std::str::from_utf8(&h.element[1..])
                    .unwrap()
                    .parse()
                    .unwrap();
                let want = 1.0 - 2.0 * hamming(q, &vs[j]) as f32 / 70.0;
                assert!((h.score - want).abs() < 1e-6, "{} vs {want}", h.score);
            }
            if exhaustive {
                let mut all: Vec<usize> = (0..200).map(|j| hamming(q, &vs[j])).collect();
                all.sort();
                let best: Vec<usize> = hits
                    .iter()
                    .map(|h| {
                        let j: usize = std::str::from_utf8(&h.element[1..])
                            .unwrap()
                            .parse()
                            .unwrap();
                        hamming(q, &vs[j])
                    })
                    .collect();
                assert_eq!(best, all[..10].to_vec());
            }
        }
        // As in Redis, a later add must ask for the same quantization.
        let q8 = VectorSetOptions {
            storage: Some(StorageMode::Q8),
            ..Default::default()
        };
        assert!(matches!(
            e.vadd(b"b", &q8, ElementAdd::new(b"x", &vs[0])),
            Err(Error::Conflict {
                param: SetParam::Storage,
                ..
            })
        ));
    }
}

#[test]
fn bin_needs_the_cosine_metric() {
    let (e, _) = engine(1_000);
    let l2 = VectorSetOptions {
        metric: Some(Metric::L2),
        ..bin_opts()
    };
    let err = e
        .vadd(b"b", &l2, ElementAdd::new(b"a", &[1.0, 2.0]))
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { .. }), "{err:?}");
    assert_eq!(e.key_type(b"b"), None);
}

/// Redis's projection (a Hadamard sign matrix over √in), computed independently.
fn projected(v: &[f32], out: usize) -> Vec<f32> {
    (0..out)
        .map(|i| {
            v.iter()
                .enumerate()
                .map(|(j, &x)| if (i & j).count_ones() % 2 == 0 { x } else { -x })
                .sum::<f32>()
                / (v.len() as f32).sqrt()
        })
        .collect()
}

fn reduce_opts(dim: usize) -> VectorSetOptions {
    VectorSetOptions {
        storage: Some(StorageMode::NoQuant),
        reduce: Some(dim),
        ..Default::default()
    }
}

#[test]
fn reduce_projects_adds_and_queries_and_the_set_remembers_its_projection() {
    let (e, _) = engine(1_000);
    let vs = vectors(100, 12, 21);
    for (i, v) in vs.iter().enumerate() {
        let name = format!("e{i}");
        e.vadd(b"r", &reduce_opts(5), ElementAdd::new(name.as_bytes(), v))
            .unwrap();
    }
    assert_eq!(e.vdim(b"r").unwrap(), Some(5));
    let info = e.vinfo(b"r").unwrap().unwrap();
    assert_eq!((info.dim, info.projection_input_dim), (5, 12));
    // The stored vector is the projected one (Redis's VEMB returns it too).
    let got = e.vget(b"r", b"e7").unwrap().unwrap();
    for (a, b) in got.iter().zip(projected(&vs[7], 5)) {
        assert!((a - b).abs() < 1e-5, "{got:?}");
    }
    // A query of the input dimension is projected; one of the set's dimension is taken as
    // projected already: both answer the same.
    let p = SearchParams {
        count: 5,
        exhaustive: true,
        ..Default::default()
    };
    let by_input = e.vsearch(b"r", Query::Vector(&vs[7]), &p).unwrap();
    let by_projected = e
        .vsearch(b"r", Query::Vector(&projected(&vs[7], 5)), &p)
        .unwrap();
    assert_eq!(by_input[0].element, b"e7");
    assert_eq!(
        by_input.iter().map(|h| &h.element).collect::<Vec<_>>(),
        by_projected.iter().map(|h| &h.element).collect::<Vec<_>>()
    );
    // Without REDUCE an input-dimension vector is still projected.
    let plain = VectorSetOptions {
        storage: Some(StorageMode::NoQuant),
        ..Default::default()
    };
    e.vadd(b"r", &plain, ElementAdd::new(b"x", &vs[0])).unwrap();
    assert_eq!(e.vget(b"r", b"x").unwrap().unwrap().len(), 5);
    // Redis's refusals, as conflicts naming what differs.
    let conflict = |r: Result<bool>, param: SetParam| match r {
        Err(Error::Conflict { param: p, .. }) => assert_eq!(p, param),
        other => panic!("{other:?}"),
    };
    // Another REDUCE dimension: Redis's dimension mismatch (the set's dimension, the input's).
    assert!(matches!(
        e.vadd(b"r", &reduce_opts(4), ElementAdd::new(b"y", &vs[0])),
        Err(Error::DimensionMismatch {
            expected: 5,
            got: 12
        })
    ));
    conflict(
        e.vadd(b"r", &reduce_opts(5), ElementAdd::new(b"y", &vs[0][..7])),
        SetParam::ProjectionInput,
    );
    assert!(matches!(
        e.vsearch(b"r", Query::Vector(&vs[0][..7]), &p),
        Err(Error::Conflict {
            param: SetParam::ProjectionInput,
            ..
        })
    ));
    e.vadd(b"plain", &plain, ElementAdd::new(b"a", &vs[0]))
        .unwrap();
    conflict(
        e.vadd(b"plain", &reduce_opts(5), ElementAdd::new(b"b", &vs[1])),
        SetParam::Reduce,
    );
    assert!(matches!(
        e.vadd(
            b"plain",
            &reduce_opts(5),
            ElementAdd::new(b"b", &vs[1][..3])
        ),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        e.vadd(b"z", &reduce_opts(0), ElementAdd::new(b"a", &vs[0])),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn bin_sets_and_projections_come_back_from_a_snapshot_and_from_the_log() {
    for checkpoint in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let config = || EngineConfig {
            data_dir: Some(dir.path().to_path_buf()),
            wal_sync: SyncPolicy::Always,
            active_expire_interval_ms: 0,
            checkpoint_on_close: checkpoint,
            ..Default::default()
        };
        let vs = vectors(30, 12, 8);
        let (bits, reduced) = {
            let e = Engine::open(config()).unwrap();
            let both = VectorSetOptions {
                storage: Some(StorageMode::Bin),
                reduce: Some(6),
                ..Default::default()
            };
            for (i, v) in vs.iter().enumerate() {
                let name = format!("e{i}");
                e.vadd(b"b", &bin_opts(), ElementAdd::new(name.as_bytes(), v))
                    .unwrap();
                e.vadd(b"r", &reduce_opts(6), ElementAdd::new(name.as_bytes(), v))
                    .unwrap();
                e.vadd(b"rb", &both, ElementAdd::new(name.as_bytes(), v))
                    .unwrap();
            }
            let out = (
                e.vemb_raw(b"b", b"e4").unwrap(),
                e.vget(b"r", b"e4").unwrap(),
            );
            e.close().unwrap();
            out
        };
        let e = Engine::open(config()).unwrap();
        let report = e.recovery_report().unwrap();
        assert_eq!(report.snapshot.is_some(), checkpoint, "{report:?}");
        assert_eq!(e.vemb_raw(b"b", b"e4").unwrap(), bits);
        assert_eq!(e.vget(b"r", b"e4").unwrap(), reduced);
        for key in [&b"r"[..], b"rb"] {
            let info = e.vinfo(key).unwrap().unwrap();
            assert_eq!(
                (info.dim, info.projection_input_dim, info.size),
                (6, 12, 30)
            );
        }
        assert_eq!(e.vinfo(b"rb").unwrap().unwrap().storage, StorageMode::Bin);
        // The projection still applies to new adds and queries after the restart.
        e.vadd(b"r", &reduce_opts(6), ElementAdd::new(b"new", &vs[9]))
            .unwrap();
        let hit = e
            .vsearch(
                b"r",
                Query::Vector(&vs[9]),
                &SearchParams {
                    count: 2,
                    exhaustive: true,
                    ..Default::default()
                },
            )
            .unwrap();
        let mut names: Vec<&[u8]> = hit.iter().map(|h| &h.element[..]).collect();
        names.sort();
        assert_eq!(names, vec![&b"e9"[..], b"new"]);
        assert!((hit[0].score - 1.0).abs() < 1e-5);
    }
}

#[test]
fn vrange_returns_names_in_byte_order_between_bounds() {
    let (e, clock) = engine(1_000);
    let names = ["apple", "apricot", "banana", "cherry", "date", "fig", "app"];
    let opts = VectorSetOptions::default();
    for (i, n) in names.iter().enumerate() {
        let v = [1.0, i as f32];
        e.vadd(b"f", &opts, ElementAdd::new(n.as_bytes(), &v))
            .unwrap();
    }
    let r = |s, en, c| -> Vec<String> {
        e.vrange(b"f", s, en, c)
            .unwrap()
            .into_iter()
            .map(|b| String::from_utf8(b).unwrap())
            .collect()
    };
    let b = |s: &'static str| s.as_bytes();
    assert_eq!(
        r(Unbounded, Unbounded, None),
        ["app", "apple", "apricot", "banana", "cherry", "date", "fig"]
    );
    assert_eq!(
        r(Included(b("apple")), Included(b("cherry")), Some(3)),
        ["apple", "apricot", "banana"]
    );
    assert_eq!(
        r(Excluded(b("apple")), Excluded(b("cherry")), None),
        ["apricot", "banana"]
    );
    assert_eq!(
        r(Included(b("app")), Included(b("apr")), None),
        ["app", "apple"]
    );
    assert_eq!(
        r(Included(b("cherry")), Included(b("cherry")), None),
        ["cherry"]
    );
    assert!(r(Included(b("fig")), Included(b("apple")), None).is_empty());
    assert!(r(Unbounded, Unbounded, Some(0)).is_empty());
    assert!(e
        .vrange(b"none", Unbounded, Unbounded, None)
        .unwrap()
        .is_empty());
    // An expired element is not in the range.
    e.vexpire(b"f", b"date", Expiry::InMs(10)).unwrap();
    clock.advance(20);
    assert_eq!(r(Included(b("cherry")), Unbounded, None), ["cherry", "fig"]);
    // Iterating with an exclusive start visits each name once.
    let mut seen = Vec::new();
    let mut from: Option<Vec<u8>> = None;
    loop {
        let start = from.as_deref().map_or(Unbounded, Excluded);
        let batch = e.vrange(b"f", start, Unbounded, Some(2)).unwrap();
        if batch.is_empty() {
            break;
        }
        from = batch.last().cloned();
        seen.extend(batch);
    }
    assert_eq!(seen.len(), 6);
}

#[test]
fn digest_value_is_the_same_for_the_same_content_and_changes_with_it() {
    let (e, clock) = engine(1_000);
    let vs = vectors(30, 4, 5);
    add_all(&e, b"a", &vs);
    let opts = VectorSetOptions::default();
    for (i, v) in vs.iter().enumerate().rev() {
        let name = format!("e{i}");
        e.vadd(b"b", &opts, ElementAdd::new(name.as_bytes(), v))
            .unwrap();
    }
    let da = e.digest_value(b"a").unwrap().unwrap();
    assert_eq!(Some(da), e.digest_value(b"b").unwrap());
    assert_eq!(e.digest_value(b"none").unwrap(), None);
    e.vset_attr(b"a", b"e1", Some("x")).unwrap();
    assert_ne!(Some(da), e.digest_value(b"a").unwrap());
    e.vset_attr(b"a", b"e1", None).unwrap();
    assert_eq!(Some(da), e.digest_value(b"a").unwrap());
    // An expired element no longer counts; its set then equals one without it.
    e.vexpire(b"a", b"e0", Expiry::InMs(5)).unwrap();
    e.vrem(b"b", b"e0").unwrap();
    clock.advance(10);
    assert_eq!(e.digest_value(b"a").unwrap(), e.digest_value(b"b").unwrap());
    // Reading the digest is not an access.
    let hits = e.stats().total.hits;
    e.set(b"s", b"v", SetOptions::default()).unwrap();
    e.digest_value(b"s").unwrap().unwrap();
    assert_eq!(e.stats().total.hits, hits);
}
