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

/// Deterministic pseudo-random vectors (xorshift).
fn vectors(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            (0..dim)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s % 20_001) as f32 / 10_000.0 - 1.0
                })
                .collect()
        })
        .collect()
}

fn cos(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb: f32 = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb)
}

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
fn vlinks_of_an_element_without_a_graph_is_one_empty_level_and_none_when_missing() {
    let (e, _) = engine(1_000);
    add_all(&e, b"small", &vectors(10, 4, 3));
    assert_eq!(
        e.vlinks(b"small", b"e1").unwrap(),
        Some(vec![Vec::<(Vec<u8>, f32)>::new()])
    );
    assert_eq!(e.vlinks(b"small", b"nope").unwrap(), None);
    assert_eq!(e.vlinks(b"nokey", b"e1").unwrap(), None);
    e.set(b"blob", b"v", SetOptions::default()).unwrap();
    assert!(matches!(e.vlinks(b"blob", b"e1"), Err(Error::WrongType)));
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
