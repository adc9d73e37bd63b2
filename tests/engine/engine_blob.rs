//! Blob and keyspace calls through the public engine API.

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

fn set(e: &Engine, k: &str, v: &str) {
    assert!(
        e.set(k.as_bytes(), v.as_bytes(), SetOptions::default())
            .unwrap()
            .written
    );
}

#[test]
fn set_then_get_returns_the_bytes_and_missing_keys_read_as_none() {
    let (e, _) = engine();
    set(&e, "a", "1");
    assert_eq!(e.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(e.get(b"nope").unwrap(), None);
    set(&e, "a", "2");
    assert_eq!(e.get(b"a").unwrap(), Some(b"2".to_vec()));
    assert_eq!(e.get_with(b"a", |v| v.len()).unwrap(), Some(1));
    let big = vec![7u8; 100_000];
    e.set(b"big", &big, SetOptions::default()).unwrap();
    assert_eq!(e.get(b"big").unwrap().unwrap(), big);
    e.set(b"", b"empty key", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"").unwrap(), Some(b"empty key".to_vec()));
}

#[test]
fn nx_and_xx_write_only_when_their_condition_holds() {
    let (e, _) = engine();
    let nx = SetOptions {
        condition: SetCondition::IfAbsent,
        ..Default::default()
    };
    let xx = SetOptions {
        condition: SetCondition::IfPresent,
        ..Default::default()
    };
    assert!(!e.set(b"k", b"x", xx).unwrap().written);
    assert_eq!(e.get(b"k").unwrap(), None);
    assert!(e.set(b"k", b"1", nx).unwrap().written);
    assert!(!e.set(b"k", b"2", nx).unwrap().written);
    assert_eq!(e.get(b"k").unwrap(), Some(b"1".to_vec()));
    assert!(e.set(b"k", b"3", xx).unwrap().written);
    assert_eq!(e.get(b"k").unwrap(), Some(b"3".to_vec()));
}

#[test]
fn set_with_get_returns_the_old_value() {
    let (e, _) = engine();
    let get = SetOptions {
        return_old: true,
        ..Default::default()
    };
    assert_eq!(
        e.set(b"k", b"1", get).unwrap(),
        SetOutcome {
            written: true,
            old: None
        }
    );
    assert_eq!(
        e.set(b"k", b"2", get).unwrap(),
        SetOutcome {
            written: true,
            old: Some(b"1".to_vec())
        }
    );
    let nx_get = SetOptions {
        return_old: true,
        condition: SetCondition::IfAbsent,
        ..Default::default()
    };
    assert_eq!(
        e.set(b"k", b"3", nx_get).unwrap(),
        SetOutcome {
            written: false,
            old: Some(b"2".to_vec())
        }
    );
}

#[test]
fn mget_mset_del_exists_and_type_behave_as_redis() {
    let (e, _) = engine();
    e.mset(&[(b"a", b"1"), (b"b", b"2")]).unwrap();
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"x", &[1.0, 0.0]),
    )
    .unwrap();
    assert_eq!(
        e.mget(&[b"a", b"zz", b"b", b"vs"]),
        vec![Some(b"1".to_vec()), None, Some(b"2".to_vec()), None]
    );
    assert_eq!(e.exists(&[b"a", b"a", b"zz", b"vs"]), 3);
    assert_eq!(e.key_type(b"a"), Some(KeyKind::Blob));
    assert_eq!(e.key_type(b"vs"), Some(KeyKind::VectorSet));
    assert_eq!(e.key_type(b"zz"), None);
    assert_eq!(e.dbsize(), 3);
    assert_eq!(e.del(&[b"a", b"vs", b"zz"]).unwrap(), 2);
    assert_eq!(e.dbsize(), 1);
    assert_eq!(e.vcard(b"vs").unwrap(), 0);
    assert_eq!(e.stats().total.entries, 1);
}

#[test]
fn a_blob_read_of_a_vector_set_is_wrongtype_and_set_overwrites_it() {
    let (e, _) = engine();
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"x", &[1.0, 0.0]),
    )
    .unwrap();
    assert_eq!(e.get(b"vs").unwrap_err().code(), ErrorCode::WrongType);
    let get = SetOptions {
        return_old: true,
        ..Default::default()
    };
    assert_eq!(
        e.set(b"vs", b"1", get).unwrap_err().code(),
        ErrorCode::WrongType
    );
    e.set(b"vs", b"1", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"vs").unwrap(), Some(b"1".to_vec()));
    assert_eq!(e.stats().total.entries, 1);
    assert_eq!(e.stats().vector_sets, 0);
}

#[test]
fn ttl_expire_persist_follow_the_clock() {
    let (e, clock) = engine();
    assert_eq!(e.ttl(b"k"), TtlState::Missing);
    e.set(
        b"k",
        b"v",
        SetOptions {
            expiry: Expiry::InMs(5_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(e.ttl(b"k"), TtlState::ExpiresInMs(5_000));
    clock.advance(4_000);
    assert_eq!(e.ttl(b"k"), TtlState::ExpiresInMs(1_000));
    assert!(e.persist(b"k").unwrap());
    assert!(!e.persist(b"k").unwrap());
    assert_eq!(e.ttl(b"k"), TtlState::NoExpiry);
    assert!(e.expire(b"k", Expiry::InMs(10)).unwrap());
    clock.advance(10);
    assert_eq!(e.get(b"k").unwrap(), None);
    assert_eq!(e.ttl(b"k"), TtlState::Missing);
    assert!(!e.expire(b"k", Expiry::InMs(10)).unwrap());
    assert_eq!(e.stats().total.expirations, 1);
    assert_eq!(e.dbsize(), 0);
}

#[test]
fn an_expiry_in_the_past_deletes_the_key() {
    let (e, clock) = engine();
    set(&e, "k", "v");
    assert!(e.expire(b"k", Expiry::AtMs(clock.now_ms() - 1)).unwrap());
    assert_eq!(e.get(b"k").unwrap(), None);
    assert_eq!(e.dbsize(), 0);
}

#[test]
fn keepttl_keeps_and_a_plain_set_clears_the_expiry() {
    let (e, _) = engine();
    e.set(
        b"k",
        b"1",
        SetOptions {
            expiry: Expiry::InMs(1_000),
            ..Default::default()
        },
    )
    .unwrap();
    e.set(
        b"k",
        b"2",
        SetOptions {
            expiry: Expiry::Keep,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(e.ttl(b"k"), TtlState::ExpiresInMs(1_000));
    set(&e, "k", "3");
    assert_eq!(e.ttl(b"k"), TtlState::NoExpiry);
}

#[test]
fn the_default_ttl_applies_when_a_write_gives_none() {
    let clock = ManualClock::new(1_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        default_ttl_ms: 60_000,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    set(&e, "k", "v");
    assert_eq!(e.ttl(b"k"), TtlState::ExpiresInMs(60_000));
    e.set(
        b"n",
        b"v",
        SetOptions {
            expiry: Expiry::Never,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(e.ttl(b"n"), TtlState::NoExpiry);
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"x", &[1.0]),
    )
    .unwrap();
    assert_eq!(e.vttl(b"vs", b"x").unwrap(), TtlState::ExpiresInMs(60_000));
    clock.advance(60_000);
    assert_eq!(e.get(b"k").unwrap(), None);
    assert_eq!(e.vget(b"vs", b"x").unwrap(), None);
    assert_eq!(e.get(b"n").unwrap(), Some(b"v".to_vec()));
}

#[test]
fn scan_returns_every_key_once_across_pages_with_match_and_type() {
    let (e, _) = engine();
    for i in 0..500 {
        set(&e, &format!("user:{i}"), "x");
    }
    for i in 0..20 {
        e.vadd(
            format!("model:{i}").as_bytes(),
            &VectorSetOptions::default(),
            ElementAdd::new(b"x", &[1.0]),
        )
        .unwrap();
    }
    let collect = |pattern: Option<&[u8]>, kind: Option<KeyKind>| {
        let mut cursor = 0;
        let mut keys = Vec::new();
        let mut pages = 0;
        loop {
            let page = e.scan(cursor, pattern, 37, kind);
            keys.extend(page.keys);
            pages += 1;
            cursor = page.cursor;
            if cursor == 0 {
                break;
            }
        }
        assert!(pages > 1);
        keys.sort();
        keys
    };
    let all = collect(None, None);
    assert_eq!(all.len(), 520);
    let mut dedup = all.clone();
    dedup.dedup();
    assert_eq!(dedup.len(), 520, "no key twice");
    assert_eq!(collect(Some(b"user:1?"), None).len(), 10);
    assert_eq!(collect(None, Some(KeyKind::VectorSet)).len(), 20);
    assert_eq!(collect(Some(b"model:*"), Some(KeyKind::Blob)).len(), 0);
}

#[test]
fn scan_returns_keys_present_throughout_even_while_others_change() {
    let (e, _) = engine();
    for i in 0..300 {
        set(&e, &format!("stay:{i}"), "x");
    }
    let mut cursor = 0;
    let mut seen = std::collections::HashSet::new();
    let mut round = 0;
    loop {
        let page = e.scan(cursor, Some(b"stay:*"), 20, None);
        seen.extend(page.keys);
        for j in 0..10 {
            set(&e, &format!("churn:{round}:{j}"), "y");
            e.del(&[format!("churn:{}:{j}", round.max(1) - 1).as_bytes()])
                .unwrap();
        }
        round += 1;
        cursor = page.cursor;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 300);
}

#[test]
fn flush_removes_everything_and_resets_sizes() {
    let (e, _) = engine();
    set(&e, "a", "1");
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"x", &[1.0]),
    )
    .unwrap();
    e.flush().unwrap();
    assert_eq!(e.dbsize(), 0);
    let s = e.stats();
    assert_eq!((s.total.entries, s.total.bytes, s.vector_sets), (0, 0, 0));
    set(&e, "a", "2");
    assert_eq!(e.get(b"a").unwrap(), Some(b"2".to_vec()));
}

#[test]
fn hits_misses_and_sets_are_counted() {
    let (e, _) = engine();
    set(&e, "a", "1");
    e.get(b"a").unwrap();
    e.get(b"a").unwrap();
    e.get(b"b").unwrap();
    let t = e.stats().total;
    assert_eq!((t.hits, t.misses, t.sets), (2, 1, 1));
    assert!((t.hit_rate() - 2.0 / 3.0).abs() < 1e-9);
}

#[test]
fn key_expiries_count_keys_with_a_ttl_and_their_mean_ttl_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(1_000_000);
    let cfg = EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        data_dir: Some(dir.path().to_path_buf()),
        checkpoint_on_close: false,
        ..Default::default()
    };
    let ex = |ms| SetOptions {
        expiry: Expiry::InMs(ms),
        ..SetOptions::default()
    };
    {
        let e = Engine::open(cfg.clone()).unwrap();
        assert_eq!(e.key_expiries(), KeyExpiries::default());
        e.set(b"a", b"1", ex(1_000)).unwrap();
        e.set(b"b", b"2", SetOptions::default()).unwrap();
        e.checkpoint().unwrap(); // `a` comes back from the snapshot, the rest from the log
        e.set(b"c", b"3", ex(3_000)).unwrap();
        e.set(b"d", b"4", ex(9_000)).unwrap();
        assert!(e.expire(b"b", Expiry::InMs(5_000)).unwrap());
        assert!(e.persist(b"d").unwrap());
        assert_eq!(
            e.key_expiries(),
            KeyExpiries {
                keys: 3,
                avg_ttl_ms: 3_000
            }
        );
        e.close().unwrap();
    }
    let e = Engine::open(cfg).unwrap();
    assert_eq!(
        e.key_expiries(),
        KeyExpiries {
            keys: 3,
            avg_ttl_ms: 3_000
        }
    );
    clock.advance(2_000);
    // PERSIST touches only its own key (DEL would first reclaim every due key of its shard,
    // and `a` may share one with `c`: the hasher is seeded per process).
    assert!(e.persist(b"c").unwrap());
    // `a` expired and is not reclaimed yet: it still counts (as in Redis), 1 s overdue.
    assert_eq!(
        e.key_expiries(),
        KeyExpiries {
            keys: 2,
            avg_ttl_ms: 1_000
        }
    );
    assert_eq!(e.get(b"a").unwrap(), None);
    assert_eq!(
        e.key_expiries(),
        KeyExpiries {
            keys: 1,
            avg_ttl_ms: 3_000
        }
    );
    e.flush().unwrap();
    assert_eq!(e.key_expiries(), KeyExpiries::default());
}

#[test]
fn get_then_refreshes_or_removes_in_the_same_step_as_the_read() {
    let (e, clock) = engine();
    set(&e, "k", "v");
    let ex = |ms| GetThen::Expire(Expiry::InMs(ms));
    assert_eq!(e.get_then(b"k", ex(1000)).unwrap(), Some(b"v".to_vec()));
    assert_eq!(e.ttl(b"k"), TtlState::ExpiresInMs(1000));
    // A sliding TTL: each read pushes the expiry out again.
    clock.advance(900);
    assert_eq!(e.get_then(b"k", ex(1000)).unwrap(), Some(b"v".to_vec()));
    clock.advance(900);
    assert_eq!(e.get(b"k").unwrap(), Some(b"v".to_vec()));
    assert_eq!(
        e.get_then(b"k", GetThen::Expire(Expiry::Never)).unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(e.ttl(b"k"), TtlState::NoExpiry);
    // An expiry in the past deletes after the read; a missing key changes nothing.
    assert_eq!(
        e.get_then(b"k", GetThen::Expire(Expiry::AtMs(1))).unwrap(),
        Some(b"v".to_vec())
    );
    assert_eq!(e.get(b"k").unwrap(), None);
    assert_eq!(e.get_then(b"k", ex(10)).unwrap(), None);
    set(&e, "d", "x");
    assert_eq!(
        e.get_then(b"d", GetThen::Delete).unwrap(),
        Some(b"x".to_vec())
    );
    assert_eq!(e.exists(&[b"d"]), 0);
    assert_eq!(e.get_then(b"d", GetThen::Delete).unwrap(), None);
    // An expired key reads as missing.
    e.set(
        b"short",
        b"s",
        SetOptions {
            expiry: Expiry::InMs(10),
            ..Default::default()
        },
    )
    .unwrap();
    clock.advance(20);
    assert_eq!(e.get_then(b"short", GetThen::Delete).unwrap(), None);
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"a", &[1.0, 0.0]),
    )
    .unwrap();
    assert!(matches!(
        e.get_then(b"vs", GetThen::Delete),
        Err(Error::WrongType)
    ));
    assert_eq!(e.vcard(b"vs").unwrap(), 1);
}

#[test]
fn incr_by_and_append_read_modify_write_keeping_the_ttl() {
    let (e, _) = engine();
    assert_eq!(e.incr_by(b"n", 1).unwrap(), 1);
    assert_eq!(e.incr_by(b"n", -11).unwrap(), -10);
    assert_eq!(e.get(b"n").unwrap(), Some(b"-10".to_vec()));
    e.set(
        b"t",
        b"41",
        SetOptions {
            expiry: Expiry::InMs(5000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(e.incr_by(b"t", 1).unwrap(), 42);
    assert_eq!(e.ttl(b"t"), TtlState::ExpiresInMs(5000));
    for bad in ["x", "1.5", "01", " 1", "99999999999999999999"] {
        set(&e, "b", bad);
        match e.incr_by(b"b", 1) {
            Err(Error::InvalidArgument { arg: "value", .. }) => {}
            other => panic!("{bad:?}: {other:?}"),
        }
        assert_eq!(e.get(b"b").unwrap(), Some(bad.as_bytes().to_vec()));
    }
    set(&e, "max", &i64::MAX.to_string());
    assert!(matches!(
        e.incr_by(b"max", 1),
        Err(Error::InvalidArgument { arg: "delta", .. })
    ));
    assert_eq!(
        e.get(b"max").unwrap(),
        Some(i64::MAX.to_string().into_bytes())
    );
    assert_eq!(e.append(b"s", b"hello").unwrap(), 5);
    assert_eq!(e.append(b"s", b" world").unwrap(), 11);
    assert_eq!(e.get(b"s").unwrap(), Some(b"hello world".to_vec()));
    assert_eq!(e.append(b"t", b"0").unwrap(), 3);
    assert_eq!(e.ttl(b"t"), TtlState::ExpiresInMs(5000));
    e.vadd(
        b"vs",
        &VectorSetOptions::default(),
        ElementAdd::new(b"a", &[1.0, 0.0]),
    )
    .unwrap();
    assert!(matches!(e.incr_by(b"vs", 1), Err(Error::WrongType)));
    assert!(matches!(e.append(b"vs", b"x"), Err(Error::WrongType)));
}

#[test]
fn concurrent_increments_are_never_lost() {
    let (e, _) = engine();
    let e = std::sync::Arc::new(e);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let e = e.clone();
            std::thread::spawn(move || {
                for _ in 0..2000 {
                    e.incr_by(b"c", 1).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(e.get(b"c").unwrap(), Some(b"8000".to_vec()));
}

#[test]
fn overwriting_with_a_value_of_the_same_length_replaces_every_byte() {
    let (e, clock) = engine();
    let opts = SetOptions {
        expiry: Expiry::InMs(1_000),
        ..SetOptions::default()
    };
    e.set(b"k", b"aaaa", opts).unwrap();
    let bytes = e.stats().total.bytes;
    // The same length (written in place), then shorter, then longer again.
    e.set(b"k", b"bbbb", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"k").unwrap().as_deref(), Some(&b"bbbb"[..]));
    assert_eq!(e.stats().total.bytes, bytes);
    assert_eq!(
        e.ttl(b"k"),
        TtlState::NoExpiry,
        "a plain SET clears the TTL"
    );
    e.set(b"k", b"cc", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"k").unwrap().as_deref(), Some(&b"cc"[..]));
    assert!(e.stats().total.bytes < bytes);
    let keep = SetOptions {
        expiry: Expiry::InMs(500),
        ..SetOptions::default()
    };
    e.set(b"k", b"dd", keep).unwrap();
    e.set(
        b"k",
        b"ee",
        SetOptions {
            expiry: Expiry::Keep,
            ..SetOptions::default()
        },
    )
    .unwrap();
    assert_eq!(e.get(b"k").unwrap().as_deref(), Some(&b"ee"[..]));
    clock.advance(500);
    assert_eq!(e.get(b"k").unwrap(), None, "KEEPTTL kept the 500 ms");
    e.set(b"k", b"dddd", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"k").unwrap().as_deref(), Some(&b"dddd"[..]));
    assert_eq!(e.stats().total.bytes, bytes);
}
