//! Vector-set calls through the public engine API.

use sutra_cache::*;

fn engine() -> (Engine, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(1_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    (e, clock)
}

fn opts(storage: StorageMode, metric: Metric) -> VectorSetOptions {
    VectorSetOptions {
        storage: Some(storage),
        metric: Some(metric),
        ..Default::default()
    }
}

use crate::vectors;
use vectors::{cos, vectors};

#[test]
fn exact_mode_returns_the_stored_bytes_exactly() {
    let (e, _) = engine();
    let vs = vectors(50, 768, 7);
    for (i, v) in vs.iter().enumerate() {
        assert!(e
            .vadd(
                b"m",
                &VectorSetOptions::default(),
                ElementAdd::new(format!("e{i}").as_bytes(), v)
            )
            .unwrap());
    }
    for (i, v) in vs.iter().enumerate() {
        let got = e.vget(b"m", format!("e{i}").as_bytes()).unwrap().unwrap();
        let same = got.iter().zip(v).all(|(a, b)| a.to_bits() == b.to_bits());
        assert!(same, "element e{i} differs");
        let mut buf = vec![0f32; 768];
        assert!(e
            .vget_into(b"m", format!("e{i}").as_bytes(), &mut buf)
            .unwrap());
        assert_eq!(&buf, v);
    }
    let mut wrong = vec![0f32; 10];
    assert_eq!(
        e.vget_into(b"m", b"e0", &mut wrong).unwrap_err().code(),
        ErrorCode::InvalidArgument
    );
}

#[test]
fn q8_mode_returns_vectors_close_to_the_originals_and_noquant_exact_ones() {
    let (e, _) = engine();
    let vs = vectors(20, 384, 11);
    for (i, v) in vs.iter().enumerate() {
        let name = format!("e{i}");
        e.vadd(
            b"q",
            &opts(StorageMode::Q8, Metric::Cosine),
            ElementAdd::new(name.as_bytes(), v),
        )
        .unwrap();
        e.vadd(
            b"n",
            &opts(StorageMode::NoQuant, Metric::L2),
            ElementAdd::new(name.as_bytes(), v),
        )
        .unwrap();
    }
    for (i, v) in vs.iter().enumerate() {
        let name = format!("e{i}");
        let q = e.vget(b"q", name.as_bytes()).unwrap().unwrap();
        assert!(cos(&q, v) > 0.999, "q8 cosine {}", cos(&q, v));
        let norm_ratio = q.iter().map(|x| x * x).sum::<f32>().sqrt()
            / v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!(
            (norm_ratio - 1.0).abs() < 0.01,
            "q8 keeps the magnitude: {norm_ratio}"
        );
        assert_eq!(&e.vget(b"n", name.as_bytes()).unwrap().unwrap(), v);
    }
    let info = e.vinfo(b"q").unwrap().unwrap();
    assert_eq!(
        (info.storage, info.metric, info.dim, info.size),
        (StorageMode::Q8, Metric::Cosine, 384, 20)
    );
    let info_n = e.vinfo(b"n").unwrap().unwrap();
    assert!(
        info.memory_bytes < info_n.memory_bytes / 2,
        "q8 uses less memory: {} vs {}",
        info.memory_bytes,
        info_n.memory_bytes
    );
}

#[test]
fn search_finds_the_exact_top_k_for_every_metric_and_mode() {
    let (e, _) = engine();
    let vs = vectors(300, 64, 3);
    let queries = vectors(10, 64, 99);
    for metric in [Metric::Cosine, Metric::Dot, Metric::L2] {
        for storage in [StorageMode::Exact, StorageMode::NoQuant, StorageMode::Q8] {
            let key = format!("{metric:?}-{storage:?}");
            let adds: Vec<_> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| (format!("e{i}"), v))
                .collect();
            let adds: Vec<ElementAdd> = adds
                .iter()
                .map(|(n, v)| ElementAdd::new(n.as_bytes(), v))
                .collect();
            assert_eq!(
                e.vadd_many(key.as_bytes(), &opts(storage, metric), &adds)
                    .unwrap(),
                300
            );
            for q in &queries {
                let truth = |v: &Vec<f32>| -> f32 {
                    match metric {
                        Metric::Cosine => cos(q, v),
                        Metric::Dot => q.iter().zip(v).map(|(a, b)| a * b).sum(),
                        Metric::L2 => -q.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                    }
                };
                let mut want: Vec<(f32, usize)> =
                    vs.iter().enumerate().map(|(i, v)| (truth(v), i)).collect();
                want.sort_by(|a, b| b.0.total_cmp(&a.0));
                let params = SearchParams {
                    count: 10,
                    ..Default::default()
                };
                let hits = e
                    .vsearch(key.as_bytes(), Query::Vector(q), &params)
                    .unwrap();
                assert_eq!(hits.len(), 10);
                let want_names: Vec<String> =
                    want[..10].iter().map(|(_, i)| format!("e{i}")).collect();
                let got: Vec<String> = hits
                    .iter()
                    .map(|h| String::from_utf8(h.element.clone()).unwrap())
                    .collect();
                let overlap = got.iter().filter(|g| want_names.contains(g)).count();
                if storage == StorageMode::Q8 {
                    assert!(overlap >= 8, "{key}: q8 overlap {overlap}");
                } else {
                    assert_eq!(got, want_names, "{key}");
                    assert!((hits[0].score - want[0].0).abs() < 1e-3 * want[0].0.abs().max(1.0));
                }
                assert!(
                    hits.windows(2).all(|w| w[0].score >= w[1].score),
                    "best first"
                );
            }
        }
    }
}

#[test]
fn search_by_element_min_score_count_and_attributes() {
    let (e, _) = engine();
    e.vadd(
        b"m",
        &VectorSetOptions::default(),
        ElementAdd {
            attributes: AttrUpdate::Set(r#"{"src":"a"}"#),
            ..ElementAdd::new(b"a", &[1.0, 0.0])
        },
    )
    .unwrap();
    e.vadd(
        b"m",
        &VectorSetOptions::default(),
        ElementAdd::new(b"b", &[0.8, 0.6]),
    )
    .unwrap();
    e.vadd(
        b"m",
        &VectorSetOptions::default(),
        ElementAdd::new(b"c", &[-1.0, 0.0]),
    )
    .unwrap();
    let p = SearchParams {
        count: 10,
        with_attributes: true,
        ..Default::default()
    };
    let hits = e.vsearch(b"m", Query::Element(b"a"), &p).unwrap();
    let names: Vec<&[u8]> = hits.iter().map(|h| h.element.as_slice()).collect();
    assert_eq!(names, vec![&b"a"[..], b"b", b"c"]);
    assert_eq!(hits[0].attributes.as_deref(), Some(r#"{"src":"a"}"#));
    assert!((hits[1].score - 0.8).abs() < 1e-6);
    let p = SearchParams {
        count: 10,
        min_score: Some(0.5),
        ..Default::default()
    };
    assert_eq!(e.vsearch(b"m", Query::Element(b"a"), &p).unwrap().len(), 2);
    let p = SearchParams {
        count: 1,
        ..Default::default()
    };
    assert_eq!(
        e.vsearch(b"m", Query::Vector(&[0.0, 1.0]), &p).unwrap()[0].element,
        b"b"
    );
    assert!(e
        .vsearch(b"missing", Query::Vector(&[0.0, 1.0]), &p)
        .unwrap()
        .is_empty());
    assert_eq!(
        e.vsearch(b"m", Query::Element(b"zz"), &p)
            .unwrap_err()
            .code(),
        ErrorCode::NotFound
    );
}

#[test]
fn remove_card_dim_membership_and_an_emptied_set_is_deleted() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    e.vadd(b"m", &o, ElementAdd::new(b"a", &[1.0, 2.0, 3.0]))
        .unwrap();
    assert!(
        !e.vadd(b"m", &o, ElementAdd::new(b"a", &[3.0, 2.0, 1.0]))
            .unwrap(),
        "update is not new"
    );
    assert_eq!(e.vget(b"m", b"a").unwrap(), Some(vec![3.0, 2.0, 1.0]));
    e.vadd(b"m", &o, ElementAdd::new(b"b", &[1.0, 1.0, 1.0]))
        .unwrap();
    assert_eq!(e.vcard(b"m").unwrap(), 2);
    assert_eq!(e.vdim(b"m").unwrap(), Some(3));
    assert_eq!(e.vdim(b"zz").unwrap(), None);
    assert!(e.vismember(b"m", b"a").unwrap());
    assert!(e.vrem(b"m", b"a").unwrap());
    assert!(!e.vrem(b"m", b"a").unwrap());
    assert!(!e.vismember(b"m", b"a").unwrap());
    assert_eq!(
        e.vget_many(b"m", &[b"a", b"b"]).unwrap(),
        vec![None, Some(vec![1.0, 1.0, 1.0])]
    );
    assert!(e.vrem(b"m", b"b").unwrap());
    assert_eq!(e.key_type(b"m"), None);
    assert_eq!(e.stats().total.entries, 0);
    assert_eq!(e.stats().total.bytes, 0);
}

#[test]
fn freed_slots_are_reused() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    for i in 0..100 {
        e.vadd(
            b"m",
            &o,
            ElementAdd::new(format!("e{i}").as_bytes(), &[1.0, i as f32]),
        )
        .unwrap();
    }
    for i in 0..50 {
        e.vrem(b"m", format!("e{i}").as_bytes()).unwrap();
    }
    for i in 100..150 {
        e.vadd(
            b"m",
            &o,
            ElementAdd::new(format!("e{i}").as_bytes(), &[1.0, i as f32]),
        )
        .unwrap();
    }
    let info = e.vinfo(b"m").unwrap().unwrap();
    assert_eq!((info.size, info.max_slot), (100, 100));
}

/// A removed element's slot stays in the set's arrays until it is reused, so the accounted
/// bytes (what the cap evicts by) keep counting its row; removing the elements of the highest
/// slots cuts the arrays, and the accounted bytes fall with them. Freed slots are reused
/// lowest first, so live elements gather at the low slots.
#[test]
fn freed_slots_stay_accounted_until_reused_and_a_free_tail_is_cut() {
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: usize::MAX, // no graph: only the set's own arrays are accounted
        ..Default::default()
    })
    .unwrap();
    let o = VectorSetOptions::default();
    let dim = 256;
    let add = |i: usize| {
        let v: Vec<f32> = (0..dim).map(|j| (i * dim + j) as f32 + 1.0).collect();
        e.vadd(b"m", &o, ElementAdd::new(format!("e{i:03}").as_bytes(), &v))
            .unwrap();
    };
    let rem = |i: usize| assert!(e.vrem(b"m", format!("e{i:03}").as_bytes()).unwrap());
    for i in 0..100 {
        add(i);
    }
    let full = e.stats().total.bytes;
    let row = 4 * dim as u64; // each slot's f32 row, the bulk of it
                              // Half of them, from the low slots: their rows stay (free slots), only the names and
                              // per-element overhead go.
    for i in 0..50 {
        rem(i);
    }
    let holes = e.stats().total.bytes;
    assert!(
        holes >= full - 50 * (full / 100 - row),
        "50 freed slots still hold their rows: {full} -> {holes} bytes"
    );
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().max_slot, 100);
    // New elements fill the lowest free slots; the accounted bytes come back to the full set's.
    for i in 100..150 {
        add(i);
    }
    let info = e.vinfo(b"m").unwrap().unwrap();
    assert_eq!((info.size, info.max_slot), (100, 100));
    assert_eq!(e.stats().total.bytes, full);
    // The elements of the top 50 slots (e050..e099, added before the refill) go: the arrays
    // are cut to the 50 low slots and the accounted bytes halve.
    for i in 50..100 {
        rem(i);
    }
    let info = e.vinfo(b"m").unwrap().unwrap();
    assert_eq!((info.size, info.max_slot), (50, 50));
    let half = e.stats().total.bytes;
    assert!(
        half <= full / 2 + 1024,
        "cut to 50 of 100 slots: {full} -> {half} bytes"
    );
    for i in 100..150 {
        let v: Vec<f32> = (0..dim).map(|j| (i * dim + j) as f32 + 1.0).collect();
        assert_eq!(
            e.vget(b"m", format!("e{i:03}").as_bytes()).unwrap(),
            Some(v),
            "e{i:03} kept its vector through the cut"
        );
    }
    for i in 100..150 {
        rem(i);
    }
    assert_eq!(e.key_type(b"m"), None);
    assert_eq!(e.stats().total.bytes, 0);
}

#[test]
fn attributes_are_stored_as_given_read_and_cleared() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    e.vadd(b"m", &o, ElementAdd::new(b"a", &[1.0])).unwrap();
    assert_eq!(e.vget_attr(b"m", b"a").unwrap(), None);
    assert!(e
        .vset_attr(b"m", b"a", Some(r#"{"type":"concept","n":1}"#))
        .unwrap());
    assert_eq!(
        e.vget_attr(b"m", b"a").unwrap().as_deref(),
        Some(r#"{"type":"concept","n":1}"#)
    );
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().attributes_count, 1);
    // As in Redis, attributes are any string, stored and returned as given; FILTER treats
    // one that is not a JSON object as matching nothing.
    for raw in ["[1,2]", "not json", "{\"a\":", "42", "\"str\""] {
        assert!(e.vset_attr(b"m", b"a", Some(raw)).unwrap(), "{raw}");
        assert_eq!(e.vget_attr(b"m", b"a").unwrap().as_deref(), Some(raw));
        let hits = e
            .vsearch_filtered(
                b"m",
                Query::Vector(&[1.0]),
                &SearchParams::default(),
                &Filter::compile("1").unwrap(),
                0,
            )
            .unwrap();
        assert!(hits.is_empty(), "{raw} matched a filter");
    }
    assert!(!e.vset_attr(b"m", b"zz", Some("{}")).unwrap());
    assert!(e.vset_attr(b"m", b"a", Some("")).unwrap());
    assert_eq!(e.vget_attr(b"m", b"a").unwrap(), None);
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().attributes_count, 0);
}

#[test]
fn random_members_are_distinct_for_positive_counts_and_may_repeat_for_negative() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    for i in 0..20 {
        e.vadd(
            b"m",
            &o,
            ElementAdd::new(format!("e{i}").as_bytes(), &[1.0, i as f32]),
        )
        .unwrap();
    }
    let mut r = e.vrandmember(b"m", 5).unwrap();
    r.sort();
    r.dedup();
    assert_eq!(r.len(), 5);
    assert_eq!(e.vrandmember(b"m", 100).unwrap().len(), 20);
    assert_eq!(e.vrandmember(b"m", -50).unwrap().len(), 50);
    assert!(e.vrandmember(b"zz", 3).unwrap().is_empty());
    assert!(e.vrandmember(b"m", 0).unwrap().is_empty());
}

#[test]
fn later_adds_must_agree_with_the_set_parameters() {
    let (e, _) = engine();
    e.vadd(
        b"m",
        &opts(StorageMode::Q8, Metric::Cosine),
        ElementAdd::new(b"a", &[1.0, 0.0]),
    )
    .unwrap();
    let err = e
        .vadd(
            b"m",
            &opts(StorageMode::NoQuant, Metric::Cosine),
            ElementAdd::new(b"b", &[1.0, 0.0]),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Conflict);
    let m32 = VectorSetOptions {
        m: Some(32),
        ..Default::default()
    };
    assert_eq!(
        e.vadd(b"m", &m32, ElementAdd::new(b"b", &[1.0, 0.0]))
            .unwrap_err()
            .code(),
        ErrorCode::Conflict
    );
    assert!(e
        .vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(b"b", &[0.0, 1.0])
        )
        .unwrap());
    assert_eq!(e.vcard(b"m").unwrap(), 2);
}

#[test]
fn invalidation_removes_exactly_the_elements_above_the_threshold() {
    let (e, _) = engine();
    let vs = vectors(500, 32, 5);
    let q = &vs[0];
    for (i, v) in vs.iter().enumerate() {
        e.vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(format!("e{i}").as_bytes(), v),
        )
        .unwrap();
    }
    let want: Vec<usize> = (0..vs.len()).filter(|&i| cos(q, &vs[i]) >= 0.3).collect();
    let out = e
        .invalidate_similar(b"m", Query::Vector(q), 0.3, true)
        .unwrap();
    assert_eq!(out.count, want.len());
    assert!(out.count > 1);
    assert!(out.removed.iter().all(|h| h.score >= 0.3));
    for i in 0..vs.len() {
        let present = e.vismember(b"m", format!("e{i}").as_bytes()).unwrap();
        assert_eq!(present, !want.contains(&i), "element e{i}");
    }
    assert_eq!(e.vcard(b"m").unwrap() as usize, 500 - want.len());
    let again = e
        .invalidate_similar(b"m", Query::Vector(q), 0.3, false)
        .unwrap();
    assert_eq!(again.count, 0);
}

#[test]
fn element_ttls_expire_single_elements_not_the_set() {
    let (e, clock) = engine();
    let o = VectorSetOptions::default();
    e.vadd(
        b"m",
        &o,
        ElementAdd {
            expiry: Expiry::InMs(1_000),
            ..ElementAdd::new(b"short", &[1.0, 0.0])
        },
    )
    .unwrap();
    e.vadd(b"m", &o, ElementAdd::new(b"long", &[0.0, 1.0]))
        .unwrap();
    assert_eq!(
        e.vttl(b"m", b"short").unwrap(),
        TtlState::ExpiresInMs(1_000)
    );
    assert_eq!(e.vttl(b"m", b"long").unwrap(), TtlState::NoExpiry);
    assert_eq!(e.vttl(b"m", b"none").unwrap(), TtlState::Missing);
    assert!(e.vexpire(b"m", b"long", Expiry::InMs(5_000)).unwrap());
    assert!(e.vpersist(b"m", b"long").unwrap());
    clock.advance(1_000);
    assert_eq!(e.vget(b"m", b"short").unwrap(), None);
    let hits = e
        .vsearch(b"m", Query::Vector(&[1.0, 0.0]), &SearchParams::default())
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].element, b"long");
    assert_eq!(e.vcard(b"m").unwrap(), 1);
    assert_eq!(e.vstats(b"m").unwrap().unwrap().expirations, 1);
    assert_eq!(e.key_type(b"m"), Some(KeyKind::VectorSet));
}

#[test]
fn expired_elements_are_not_counted_and_a_set_of_only_expired_elements_is_gone() {
    let (e, clock) = engine();
    let o = VectorSetOptions::default();
    for (i, ms) in [(0u8, 1_000u64), (1, 2_000), (2, 3_000)] {
        e.vadd(
            b"m",
            &o,
            ElementAdd {
                expiry: Expiry::InMs(ms),
                ..ElementAdd::new(&[b'e', b'0' + i], &[1.0, i as f32])
            },
        )
        .unwrap();
    }
    assert_eq!(e.vcard(b"m").unwrap(), 3);
    // No read touched the elements: nothing was reclaimed lazily before the counts.
    clock.advance(1_000);
    assert_eq!(e.vcard(b"m").unwrap(), 2);
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().size, 2);
    clock.advance(1_000);
    assert_eq!(e.vcard(b"m").unwrap(), 1);
    clock.advance(1_000);
    // Every element expired: the set no longer exists for any key-level call.
    assert_eq!(e.exists(&[b"m"]), 0);
    assert_eq!(e.key_type(b"m"), None);
    assert_eq!(e.vcard(b"m").unwrap(), 0);
    assert_eq!(e.del(&[b"m"]).unwrap(), 0);
    // The same through DEL alone, on a fresh set.
    e.vadd(
        b"n",
        &o,
        ElementAdd {
            expiry: Expiry::InMs(10),
            ..ElementAdd::new(b"x", &[1.0, 0.0])
        },
    )
    .unwrap();
    clock.advance(10);
    assert_eq!(e.del(&[b"n"]).unwrap(), 0);
    assert_eq!(e.dbsize(), 0);
}

#[test]
fn per_set_statistics_count_hits_misses_and_sets() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    e.vadd(b"a", &o, ElementAdd::new(b"x", &[1.0])).unwrap();
    e.vadd(b"b", &o, ElementAdd::new(b"y", &[1.0])).unwrap();
    e.vget(b"a", b"x").unwrap();
    e.vget(b"a", b"nope").unwrap();
    e.vget(b"b", b"y").unwrap();
    let a = e.vstats(b"a").unwrap().unwrap();
    assert_eq!((a.hits, a.misses, a.sets, a.entries), (1, 1, 1, 1));
    let all = e.vstats_all();
    assert_eq!(all.len(), 2);
    assert_eq!(all[1].0, b"b");
    assert_eq!(all[1].1.hits, 1);
    let t = e.stats().total;
    assert_eq!((t.hits, t.misses, t.entries), (2, 1, 2));
    assert_eq!(e.stats().vector_sets, 2);
    // CONFIG RESETSTAT's engine call: events back to 0, gauges kept, counting goes on.
    e.reset_stats();
    let t = e.stats().total;
    assert_eq!((t.hits, t.misses, t.sets, t.entries), (0, 0, 0, 2));
    assert!(t.bytes > 0);
    let a = e.vstats(b"a").unwrap().unwrap();
    assert_eq!((a.hits, a.misses, a.sets, a.entries), (0, 0, 0, 1));
    e.vget(b"a", b"x").unwrap();
    assert_eq!(e.vstats(b"a").unwrap().unwrap().hits, 1);
    assert_eq!(e.stats().total.hits, 1);
}

#[test]
fn a_zero_vector_is_stored_and_has_cosine_zero_to_everything_as_in_redis() {
    let (e, _) = engine();
    let o = VectorSetOptions::default();
    e.vadd(b"z", &o, ElementAdd::new(b"zero", &[0.0, 0.0]))
        .unwrap();
    e.vadd(b"z", &o, ElementAdd::new(b"x", &[1.0, 0.0]))
        .unwrap();
    e.vadd(b"z", &o, ElementAdd::new(b"y", &[0.0, 1.0]))
        .unwrap();
    assert_eq!(e.vget(b"z", b"zero").unwrap(), Some(vec![0.0, 0.0]));
    let hits = e
        .vsearch(b"z", Query::Vector(&[1.0, 0.0]), &SearchParams::default())
        .unwrap();
    let score = |name: &[u8]| hits.iter().find(|h| h.element == name).map(|h| h.score);
    assert_eq!(score(b"x"), Some(1.0));
    assert_eq!(score(b"zero"), Some(0.0));
    assert_eq!(score(b"y"), Some(0.0));
    // A zero query has no direction either: cosine 0 to everything (Redis's score 0.5).
    let hits = e
        .vsearch(b"z", Query::Vector(&[0.0, 0.0]), &SearchParams::default())
        .unwrap();
    assert_eq!(hits.len(), 3);
    assert!(hits.iter().all(|h| h.score == 0.0), "{hits:?}");
}

#[test]
fn a_set_created_without_a_storage_mode_takes_the_engines_default_storage_mode() {
    let e = Engine::open(EngineConfig {
        default_storage_mode: StorageMode::Q8,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(e.default_storage_mode(), StorageMode::Q8);
    let v = vectors(1, 8, 3).remove(0);
    e.vadd(
        b"d",
        &VectorSetOptions::default(),
        ElementAdd::new(b"a", &v),
    )
    .unwrap();
    assert_eq!(e.vinfo(b"d").unwrap().unwrap().storage, StorageMode::Q8);
    // A flag still wins over the default.
    let noquant = VectorSetOptions {
        storage: Some(StorageMode::NoQuant),
        ..Default::default()
    };
    e.vadd(b"n", &noquant, ElementAdd::new(b"a", &v)).unwrap();
    assert_eq!(
        e.vinfo(b"n").unwrap().unwrap().storage,
        StorageMode::NoQuant
    );
    // Without configuration the default is exact.
    let (plain, _) = engine();
    assert_eq!(plain.default_storage_mode(), StorageMode::Exact);
    plain
        .vadd(
            b"x",
            &VectorSetOptions::default(),
            ElementAdd::new(b"a", &v),
        )
        .unwrap();
    assert_eq!(
        plain.vinfo(b"x").unwrap().unwrap().storage,
        StorageMode::Exact
    );
}

#[test]
fn a_configured_vector_dimension_refuses_other_dimensions_naming_both() {
    let e = Engine::open(EngineConfig {
        vector_dimension: Some(8),
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(e.vector_dimension(), Some(8));
    let v8 = vectors(1, 8, 5).remove(0);
    let v4 = vectors(1, 4, 5).remove(0);
    let none = VectorSetOptions::default();
    // Creating a set with another dimension is refused; nothing is created.
    let err = e.vadd(b"s", &none, ElementAdd::new(b"a", &v4)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DimensionMismatch);
    let text = err.to_string();
    assert!(
        text.contains("dimension 4") && text.contains("is 8"),
        "{text}"
    );
    assert!(e.vinfo(b"s").unwrap().is_none());
    // The configured dimension is accepted; a later add of another one is refused whole.
    assert!(e.vadd(b"s", &none, ElementAdd::new(b"a", &v8)).unwrap());
    let batch = [ElementAdd::new(b"b", &v8), ElementAdd::new(b"c", &v4)];
    let err = e.vadd_many(b"s", &none, &batch).unwrap_err();
    assert!(matches!(
        err,
        Error::ConfiguredDimension {
            expected: 8,
            got: 4
        }
    ));
    assert_eq!(e.vcard(b"s").unwrap(), 1);
}

#[test]
fn recovery_replays_sets_of_any_dimension_after_the_configured_one_changes() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = |dim| EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        vector_dimension: dim,
        checkpoint_on_close: false,
        active_expire_interval_ms: 0,
        ..Default::default()
    };
    let v4 = vectors(1, 4, 9).remove(0);
    let e = Engine::open(cfg(None)).unwrap();
    e.vadd(
        b"old",
        &VectorSetOptions::default(),
        ElementAdd::new(b"a", &v4),
    )
    .unwrap();
    e.close().unwrap();
    let e = Engine::open(cfg(Some(8))).unwrap();
    assert_eq!(e.vcard(b"old").unwrap(), 1, "the logged add was replayed");
    let err = e
        .vadd(
            b"old",
            &VectorSetOptions::default(),
            ElementAdd::new(b"b", &v4),
        )
        .unwrap_err();
    assert!(matches!(err, Error::ConfiguredDimension { .. }), "{err}");
    e.close().unwrap();
}

#[test]
fn a_conflict_names_the_parameter_and_both_values() {
    let (e, _) = engine();
    let v = [1.0f32, 0.0, 0.0];
    e.vadd(
        b"s",
        &opts(StorageMode::Q8, Metric::Cosine),
        ElementAdd::new(b"a", &v),
    )
    .unwrap();
    let err = e
        .vadd(
            b"s",
            &opts(StorageMode::Exact, Metric::Cosine),
            ElementAdd::new(b"b", &v),
        )
        .unwrap_err();
    match &err {
        Error::Conflict { param, set, asked } => {
            assert_eq!(
                (*param, set.as_str(), asked.as_str()),
                (SetParam::Storage, "q8", "exact")
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "conflict: the set was created with storage q8; this add asks for exact"
    );
    let m32 = VectorSetOptions {
        m: Some(32),
        ..Default::default()
    };
    let err = e.vadd(b"s", &m32, ElementAdd::new(b"b", &v)).unwrap_err();
    assert!(
        matches!(&err, Error::Conflict { param: SetParam::M, set, asked } if set == "16" && asked == "32"),
        "{err:?}"
    );
}

#[test]
fn vemb_raw_gives_the_stored_form_of_each_storage_mode() {
    let (e, _) = engine();
    let v = [3.0f32, -4.0, 0.0, 1.5];
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    for (key, mode) in [
        (&b"x"[..], StorageMode::Exact),
        (b"n", StorageMode::NoQuant),
    ] {
        e.vadd(key, &opts(mode, Metric::L2), ElementAdd::new(b"a", &v))
            .unwrap();
        match e.vemb_raw(key, b"a").unwrap().unwrap() {
            RawEmbedding::F32 { unit, norm: n } => {
                assert!((n - norm).abs() < 1e-9, "{mode:?}");
                for (u, x) in unit.iter().zip(&v) {
                    assert!(
                        (f64::from(*u) - f64::from(*x) / norm).abs() < 1e-6,
                        "{mode:?}"
                    );
                }
            }
            other => panic!("{mode:?}: {other:?}"),
        }
    }
    e.vadd(
        b"q",
        &opts(StorageMode::Q8, Metric::L2),
        ElementAdd::new(b"a", &v),
    )
    .unwrap();
    match e.vemb_raw(b"q", b"a").unwrap().unwrap() {
        RawEmbedding::Int8 {
            codes,
            norm: n,
            range,
        } => {
            assert_eq!(codes.len(), 4);
            // The largest component maps to ±127 and the codes rebuild the stored vector.
            assert_eq!(codes[1], -127);
            let back = e.vget(b"q", b"a").unwrap().unwrap();
            for (q, x) in codes.iter().zip(&back) {
                let u = f64::from(*q) * range / 127.0 * n;
                assert!((u - f64::from(*x)).abs() < 1e-3 * norm, "{q} vs {x}");
            }
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(e.vemb_raw(b"q", b"missing").unwrap(), None);
    assert_eq!(e.vemb_raw(b"nokey", b"a").unwrap(), None);
}

#[test]
fn a_filter_argument_that_does_not_compile_has_redis_error_text() {
    let err = Filter::compile_arg(b".k@1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "syntax error in FILTER expression near: @1"
    );
    assert_eq!(err.offset, 2);
    // At the end of the expression Redis quotes all of it.
    let err = Filter::compile_arg(b".k==").unwrap_err();
    assert_eq!(
        err.to_string(),
        "syntax error in FILTER expression near: .k=="
    );
    assert!(Filter::compile_arg(b".year > 2000").is_ok());
}

#[test]
fn a_graph_search_whose_nearest_elements_expired_returns_k_live_ones_best_first() {
    // The query's 20 nearest elements expire while they are still in the graph: the graph
    // hands them back first, and the search must look further until k live ones are kept.
    let clock = ManualClock::new(1_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        index_min_elements: 1,
        ..Default::default()
    })
    .unwrap();
    let vs = vectors(400, 16, 11);
    let q = vs[0].clone();
    let mut order: Vec<usize> = (0..vs.len()).collect();
    order.sort_by(|&a, &b| cos(&q, &vs[b]).total_cmp(&cos(&q, &vs[a])));
    let near: std::collections::HashSet<Vec<u8>> = order[..20]
        .iter()
        .map(|i| format!("e{i}").into_bytes())
        .collect();
    for (i, v) in vs.iter().enumerate() {
        let name = format!("e{i}");
        let expiry = if near.contains(name.as_bytes()) {
            Expiry::InMs(1_000)
        } else {
            Expiry::Never
        };
        let add = ElementAdd {
            expiry,
            ..ElementAdd::new(name.as_bytes(), v)
        };
        e.vadd(b"m", &VectorSetOptions::default(), add).unwrap();
    }
    e.index_settle();
    assert_eq!(e.vinfo(b"m").unwrap().unwrap().index_nodes, 400);
    clock.advance(1_000);
    for (k, ef) in [(1, 1), (5, 5), (10, 64), (30, 40)] {
        let p = SearchParams {
            count: k,
            ef,
            ..Default::default()
        };
        let hits = e.vsearch(b"m", Query::Vector(&q), &p).unwrap();
        assert_eq!(hits.len(), k, "k {k} ef {ef}");
        let mut seen = std::collections::HashSet::new();
        for h in &hits {
            assert!(!near.contains(&h.element), "an expired element came back");
            assert!(seen.insert(h.element.clone()), "an element came back twice");
        }
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
        // A minimum score: only live hits at or above it, best first (the walk stops at the
        // first candidate below it), and at least one: the hits above pass it.
        let min = hits[k / 2].score;
        let cut = e
            .vsearch(
                b"m",
                Query::Vector(&q),
                &SearchParams {
                    min_score: Some(min),
                    ..p
                },
            )
            .unwrap();
        assert!(
            !cut.is_empty() && cut.len() <= k,
            "k {k} ef {ef}: {}",
            cut.len()
        );
        assert!(cut
            .iter()
            .all(|h| h.score >= min && !near.contains(&h.element)));
        assert!(cut.windows(2).all(|w| w[0].score >= w[1].score));
    }
}
