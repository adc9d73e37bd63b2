//! Bad input gets a typed error naming the argument, and changes nothing.

use sutra_cache::*;

fn engine() -> Engine {
    Engine::open(EngineConfig {
        active_expire_interval_ms: 0,
        limits: Limits {
            max_key_bytes: 16,
            max_value_bytes: 32,
            max_element_bytes: 8,
            max_attributes_bytes: 24,
            max_dim: 4,
        },
        ..Default::default()
    })
    .unwrap()
}

fn check(err: Error, code: ErrorCode, mentions: &str) {
    assert_eq!(err.code(), code, "{err}");
    assert!(
        err.to_string().contains(mentions),
        "'{err}' should mention '{mentions}'"
    );
}

#[test]
fn every_bad_input_is_refused_with_its_argument_named_and_nothing_changes() {
    let e = engine();
    let o = VectorSetOptions::default();
    e.set(b"blob", b"v", SetOptions::default()).unwrap();
    e.vadd(b"m", &o, ElementAdd::new(b"a", &[1.0, 2.0]))
        .unwrap();
    let before = (
        e.stats(),
        e.vget(b"m", b"a").unwrap(),
        e.get(b"blob").unwrap(),
    );

    check(
        e.vadd(b"m", &o, ElementAdd::new(b"b", &[1.0, 2.0, 3.0]))
            .unwrap_err(),
        ErrorCode::DimensionMismatch,
        "expected dimension 2, got 3",
    );
    check(
        e.vadd(b"m", &o, ElementAdd::new(b"b", &[f32::NAN, 1.0]))
            .unwrap_err(),
        ErrorCode::InvalidArgument,
        "vector",
    );
    check(
        e.vadd(b"m", &o, ElementAdd::new(b"b", &[f32::INFINITY, 1.0]))
            .unwrap_err(),
        ErrorCode::InvalidArgument,
        "index 0",
    );
    check(
        e.vadd(b"m", &o, ElementAdd::new(b"b", &[])).unwrap_err(),
        ErrorCode::InvalidArgument,
        "at least one component",
    );
    check(
        e.vadd(b"new", &o, ElementAdd::new(b"b", &[1.0; 5]))
            .unwrap_err(),
        ErrorCode::InvalidArgument,
        "at most 4",
    );
    check(
        e.vadd(b"m", &o, ElementAdd::new(b"too-long-name", &[1.0, 2.0]))
            .unwrap_err(),
        ErrorCode::TooLarge,
        "element",
    );
    check(
        e.vadd(
            b"a-key-that-is-too-long",
            &o,
            ElementAdd::new(b"b", &[1.0, 2.0]),
        )
        .unwrap_err(),
        ErrorCode::TooLarge,
        "key",
    );
    check(
        e.vadd(
            b"m",
            &o,
            ElementAdd {
                attributes: AttrUpdate::Set(r#"{"k":"a long value here"}"#),
                ..ElementAdd::new(b"b", &[1.0, 2.0])
            },
        )
        .unwrap_err(),
        ErrorCode::TooLarge,
        "attributes",
    );
    check(
        e.vadd(
            b"m",
            &o,
            ElementAdd {
                expiry: Expiry::InMs(0),
                ..ElementAdd::new(b"b", &[1.0, 2.0])
            },
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "ttl",
    );
    check(
        e.vadd(b"blob", &o, ElementAdd::new(b"b", &[1.0, 2.0]))
            .unwrap_err(),
        ErrorCode::WrongType,
        "WRONGTYPE",
    );
    check(
        e.vadd(
            b"m2",
            &VectorSetOptions { m: Some(1), ..o },
            ElementAdd::new(b"b", &[1.0]),
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "'m'",
    );
    check(
        e.vadd(
            b"m2",
            &VectorSetOptions {
                ef_construction: Some(0),
                ..o
            },
            ElementAdd::new(b"b", &[1.0]),
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "ef_construction",
    );
    // A batch with one bad element applies none of it.
    let adds = [
        ElementAdd::new(b"ok", &[1.0, 1.0]),
        ElementAdd::new(b"bad", &[f32::NAN, 1.0]),
    ];
    check(
        e.vadd_many(b"m", &o, &adds).unwrap_err(),
        ErrorCode::InvalidArgument,
        "vector",
    );
    assert!(!e.vismember(b"m", b"ok").unwrap());

    check(
        e.set(b"k", &[0u8; 33], SetOptions::default()).unwrap_err(),
        ErrorCode::TooLarge,
        "value",
    );
    check(
        e.set(b"a-key-that-is-too-long", b"v", SetOptions::default())
            .unwrap_err(),
        ErrorCode::TooLarge,
        "key",
    );
    check(
        e.set(
            b"k",
            b"v",
            SetOptions {
                expiry: Expiry::InMs(0),
                ..Default::default()
            },
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "ttl",
    );
    check(
        e.set(
            b"k",
            b"v",
            SetOptions {
                expiry: Expiry::InMs(u64::MAX),
                ..Default::default()
            },
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "ttl",
    );
    check(
        e.mset(&[(b"x", b"1"), (b"y", &[0u8; 40])]).unwrap_err(),
        ErrorCode::TooLarge,
        "value",
    );
    assert_eq!(e.get(b"x").unwrap(), None, "mset wrote nothing");
    check(e.get(b"m").unwrap_err(), ErrorCode::WrongType, "WRONGTYPE");
    check(
        e.vget(b"blob", b"a").unwrap_err(),
        ErrorCode::WrongType,
        "WRONGTYPE",
    );
    check(
        e.vcard(b"blob").unwrap_err(),
        ErrorCode::WrongType,
        "WRONGTYPE",
    );
    check(
        e.vrem(b"blob", b"a").unwrap_err(),
        ErrorCode::WrongType,
        "WRONGTYPE",
    );
    check(
        e.vsearch(b"m", Query::Vector(&[1.0]), &SearchParams::default())
            .unwrap_err(),
        ErrorCode::DimensionMismatch,
        "expected dimension 2",
    );
    check(
        e.vsearch(
            b"m",
            Query::Vector(&[f32::NAN, 1.0]),
            &SearchParams::default(),
        )
        .unwrap_err(),
        ErrorCode::InvalidArgument,
        "finite",
    );
    check(
        e.vsearch(b"m", Query::Element(b"zz"), &SearchParams::default())
            .unwrap_err(),
        ErrorCode::NotFound,
        "element 'zz'",
    );
    check(
        e.invalidate_similar(b"m", Query::Vector(&[1.0, 0.0]), f32::NAN, false)
            .unwrap_err(),
        ErrorCode::InvalidArgument,
        "threshold",
    );
    check(
        e.expire(b"blob", Expiry::Default).unwrap_err(),
        ErrorCode::InvalidArgument,
        "expiry",
    );

    let after = (
        e.stats(),
        e.vget(b"m", b"a").unwrap(),
        e.get(b"blob").unwrap(),
    );
    assert_eq!(before.1, after.1);
    assert_eq!(before.2, after.2);
    assert_eq!(before.0.total.entries, after.0.total.entries);
    assert_eq!(before.0.total.bytes, after.0.total.bytes);
    assert_eq!(before.0.keys, after.0.keys);
}

#[test]
fn eviction_policy_names_parse_and_bad_ones_are_refused() {
    assert_eq!(
        "lru".parse::<EvictionPolicy>().unwrap(),
        EvictionPolicy::Lru
    );
    assert_eq!(
        "allkeys-lfu".parse::<EvictionPolicy>().unwrap(),
        EvictionPolicy::Lfu
    );
    assert_eq!(
        "NoEviction".parse::<EvictionPolicy>().unwrap(),
        EvictionPolicy::NoEviction
    );
    check(
        "random".parse::<EvictionPolicy>().unwrap_err(),
        ErrorCode::InvalidArgument,
        "eviction_policy",
    );
}
