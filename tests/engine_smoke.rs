use sutra_cache::*;

#[test]
fn a_blob_and_a_vector_round_trip() {
    let e = Engine::open(EngineConfig::default()).unwrap();
    e.set(b"k", b"v", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"k").unwrap(), Some(b"v".to_vec()));
    let v = [0.25f32, -1.5, 3.0];
    assert!(e
        .vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(b"a", &v)
        )
        .unwrap());
    assert_eq!(e.vget(b"m", b"a").unwrap(), Some(v.to_vec()));
    let hits = e
        .vsearch(b"m", Query::Vector(&v), &SearchParams::default())
        .unwrap();
    assert_eq!(hits[0].element, b"a");
    assert!((hits[0].score - 1.0).abs() < 1e-5);
}
