//! TTL reclamation and eviction under caps, for every policy.

use sutra_cache::*;

fn engine(
    max_entries: u64,
    max_bytes: u64,
    policy: EvictionPolicy,
) -> (Engine, std::sync::Arc<ManualClock>) {
    let clock = ManualClock::new(10_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        max_entries,
        max_bytes,
        eviction_policy: policy,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    (e, clock)
}

fn put(e: &Engine, k: &str) -> Result<SetOutcome> {
    e.set(k.as_bytes(), b"value", SetOptions::default())
}

#[test]
fn lru_evicts_the_least_recently_used_entry_at_the_entry_cap() {
    let (e, _) = engine(3, 0, EvictionPolicy::Lru);
    put(&e, "a").unwrap();
    put(&e, "b").unwrap();
    put(&e, "c").unwrap();
    e.get(b"a").unwrap(); // a is now the most recent; b the least
    put(&e, "d").unwrap();
    assert_eq!(e.key_type(b"b"), None, "b evicted");
    for k in ["a", "c", "d"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
    put(&e, "e").unwrap();
    assert_eq!(e.key_type(b"c"), None, "then c");
    assert_eq!(e.stats().total.evictions, 2);
    assert_eq!(e.stats().total.entries, 3);
}

#[test]
fn lru_treats_single_elements_of_a_set_and_blobs_alike() {
    let (e, _) = engine(4, 0, EvictionPolicy::Lru);
    let o = VectorSetOptions::default();
    e.vadd(b"m", &o, ElementAdd::new(b"x1", &[1.0, 0.0]))
        .unwrap();
    put(&e, "blob").unwrap();
    e.vadd(b"m", &o, ElementAdd::new(b"x2", &[0.0, 1.0]))
        .unwrap();
    e.vadd(b"m", &o, ElementAdd::new(b"x3", &[1.0, 1.0]))
        .unwrap();
    e.vget(b"m", b"x1").unwrap();
    put(&e, "blob2").unwrap(); // evicts "blob" (least recent), not a whole set
    assert_eq!(e.key_type(b"blob"), None);
    assert_eq!(e.vcard(b"m").unwrap(), 3);
    put(&e, "blob3").unwrap(); // then x2
    assert!(!e.vismember(b"m", b"x2").unwrap());
    assert!(e.vismember(b"m", b"x1").unwrap());
    assert_eq!(e.vstats(b"m").unwrap().unwrap().evictions, 1);
    assert_eq!(e.stats().total.evictions, 2);
}

#[test]
fn expired_entries_go_before_any_live_one() {
    let (e, clock) = engine(3, 0, EvictionPolicy::Lru);
    put(&e, "old").unwrap();
    put(&e, "mid").unwrap();
    e.set(
        b"ttl",
        b"v",
        SetOptions {
            expiry: Expiry::InMs(100),
            ..Default::default()
        },
    )
    .unwrap();
    clock.advance(200);
    put(&e, "new").unwrap();
    assert!(
        e.key_type(b"old").is_some(),
        "the expired entry went first, not the LRU one"
    );
    assert_eq!(e.stats().total.evictions, 0);
    assert_eq!(e.stats().total.expirations, 1);
}

#[test]
fn the_byte_cap_evicts_until_the_accounted_bytes_fit() {
    let (e, _) = engine(0, 20_000, EvictionPolicy::Lru);
    let v = vec![1u8; 1_000];
    for i in 0..100 {
        e.set(format!("k{i:03}").as_bytes(), &v, SetOptions::default())
            .unwrap();
        assert!(e.stats().total.bytes <= 20_000);
    }
    let kept: Vec<usize> = (0..100)
        .filter(|i| e.key_type(format!("k{i:03}").as_bytes()).is_some())
        .collect();
    assert!(kept.len() >= 10 && kept.len() < 20, "{kept:?}");
    assert_eq!(*kept.last().unwrap(), 99);
    assert!(
        kept.windows(2).all(|w| w[1] == w[0] + 1),
        "the newest survive: {kept:?}"
    );
}

#[test]
fn noeviction_refuses_writes_at_a_cap_with_an_error_naming_it() {
    let (e, clock) = engine(2, 0, EvictionPolicy::NoEviction);
    put(&e, "a").unwrap();
    e.set(
        b"b",
        b"v",
        SetOptions {
            expiry: Expiry::InMs(50),
            ..Default::default()
        },
    )
    .unwrap();
    let err = e
        .vadd(
            b"m",
            &VectorSetOptions::default(),
            ElementAdd::new(b"x", &[1.0]),
        )
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::OutOfMemory);
    assert!(err.to_string().contains("max_entries=2"), "{err}");
    assert!(put(&e, "c").is_err());
    put(&e, "a").expect("overwriting an existing key adds no entry");
    clock.advance(100);
    put(&e, "c").expect("an expired entry makes room");
    assert_eq!(e.get(b"a").unwrap(), Some(b"value".to_vec()));
    let (e, _) = engine(0, 1_000, EvictionPolicy::NoEviction);
    let err = e
        .set(b"big", &[0u8; 2_000], SetOptions::default())
        .unwrap_err();
    assert!(err.to_string().contains("max_bytes=1000"), "{err}");
    assert_eq!(e.dbsize(), 0);
}

#[test]
fn lfu_keeps_frequently_read_entries_and_evicts_cold_ones() {
    let (e, _) = engine(10, 0, EvictionPolicy::Lfu);
    for i in 0..10 {
        put(&e, &format!("k{i}")).unwrap();
    }
    for _ in 0..200 {
        for i in 0..5 {
            e.get(format!("k{i}").as_bytes()).unwrap();
        }
    }
    for i in 10..15 {
        put(&e, &format!("k{i}")).unwrap();
        for _ in 0..200 {
            e.get(format!("k{i}").as_bytes()).unwrap();
        }
    }
    for i in 0..5 {
        assert!(
            e.key_type(format!("k{i}").as_bytes()).is_some(),
            "hot k{i} kept"
        );
    }
    let cold_left = (5..10)
        .filter(|i| e.key_type(format!("k{i}").as_bytes()).is_some())
        .count();
    assert_eq!(cold_left, 0, "all cold keys evicted");
}

#[test]
fn lfu_sampling_stays_within_the_cap_at_scale() {
    let (e, _) = engine(1_000, 0, EvictionPolicy::Lfu);
    for i in 0..5_000 {
        put(&e, &format!("k{i}")).unwrap();
    }
    assert_eq!(e.stats().total.entries, 1_000);
    assert_eq!(e.stats().total.evictions, 4_000);
}

#[test]
fn active_expiry_reclaims_in_bounded_steps() {
    let (e, clock) = engine(0, 0, EvictionPolicy::Lru);
    for i in 0..1_000 {
        e.set(
            format!("k{i}").as_bytes(),
            b"v",
            SetOptions {
                expiry: Expiry::InMs(10),
                ..Default::default()
            },
        )
        .unwrap();
    }
    e.vadd(
        b"m",
        &VectorSetOptions::default(),
        ElementAdd {
            expiry: Expiry::InMs(10),
            ..ElementAdd::new(b"x", &[1.0])
        },
    )
    .unwrap();
    put(&e, "keep").unwrap();
    assert_eq!(e.active_expire_cycle(100), 0, "nothing expired yet");
    clock.advance(10);
    assert_eq!(e.active_expire_cycle(100), 100);
    let mut total = 100;
    while total < 1_001 {
        let n = e.active_expire_cycle(100);
        assert!(n > 0 && n <= 100);
        total += n;
    }
    assert_eq!(e.dbsize(), 1);
    assert_eq!(e.stats().total.expirations, 1_001);
    assert_eq!(e.key_type(b"m"), None, "the emptied set went too");
}

#[test]
fn the_background_thread_expires_without_any_access() {
    let e = Engine::open(EngineConfig {
        active_expire_interval_ms: 5,
        ..Default::default()
    })
    .unwrap();
    for i in 0..100 {
        e.set(
            format!("k{i}").as_bytes(),
            b"v",
            SetOptions {
                expiry: Expiry::InMs(1),
                ..Default::default()
            },
        )
        .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while e.stats().total.expirations < 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(e.stats().total.expirations, 100);
    assert_eq!(e.dbsize(), 0);
}

#[test]
fn eviction_work_does_not_grow_with_the_number_of_entries() {
    // Reads leave stale items in the access log; it stays bounded (compaction) and
    // evictions still pick the true LRU entry.
    let (e, _) = engine(2_000, 0, EvictionPolicy::Lru);
    for i in 0..2_000 {
        put(&e, &format!("k{i}")).unwrap();
    }
    for _ in 0..20 {
        for i in 1..2_000 {
            e.get(format!("k{i}").as_bytes()).unwrap();
        }
    }
    put(&e, "new").unwrap();
    assert_eq!(e.key_type(b"k0"), None);
    put(&e, "new2").unwrap();
    assert_eq!(e.key_type(b"k1"), None);
    assert!(e.key_type(b"k2").is_some());
}

#[test]
fn lowering_the_caps_while_serving_evicts_down_to_them_at_once() {
    let (e, _) = engine(0, 0, EvictionPolicy::Lru);
    for i in 0..10 {
        put(&e, &format!("k{i}")).unwrap();
    }
    e.get(b"k0").unwrap(); // k0 is the most recent now
    assert_eq!((e.max_entries(), e.max_bytes()), (0, 0));
    e.set_max_entries(4);
    assert_eq!(e.max_entries(), 4);
    assert_eq!(e.stats().total.entries, 4, "evicted before returning");
    for k in ["k0", "k7", "k8", "k9"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept (most recent)");
    }
    let bytes = e.stats().total.bytes;
    e.set_max_bytes(bytes / 2);
    assert_eq!(e.max_bytes(), bytes / 2);
    assert!(e.stats().total.bytes <= bytes / 2);
    assert!(e.stats().total.entries < 4);
    // Raising the caps (0 = none) lets writes grow again.
    e.set_max_entries(0);
    e.set_max_bytes(0);
    for i in 0..10 {
        put(&e, &format!("n{i}")).unwrap();
    }
    assert!(e.stats().total.entries >= 10);
}

#[test]
fn a_policy_changed_while_serving_governs_the_next_write_at_a_cap() {
    let (e, _) = engine(3, 0, EvictionPolicy::Lru);
    for k in ["a", "b", "c"] {
        put(&e, k).unwrap();
    }
    e.set_eviction_policy(EvictionPolicy::NoEviction);
    assert_eq!(e.eviction_policy(), EvictionPolicy::NoEviction);
    assert!(matches!(put(&e, "d"), Err(Error::OutOfMemory { .. })));
    // LFU ranks by the counters kept under the other policies: the read ones stay.
    e.set_eviction_policy(EvictionPolicy::Lfu);
    for _ in 0..50 {
        e.get(b"a").unwrap();
        e.get(b"c").unwrap();
    }
    put(&e, "d").unwrap();
    assert_eq!(e.key_type(b"b"), None, "the cold one went");
    // Back to LRU: its access order is rebuilt from the last accesses, whatever LFU did.
    e.set_eviction_policy(EvictionPolicy::Lru);
    e.get(b"a").unwrap();
    e.get(b"d").unwrap();
    put(&e, "e").unwrap();
    assert_eq!(e.key_type(b"c"), None, "c was the least recently used");
    for k in ["a", "d", "e"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
}

#[test]
fn a_default_ttl_changed_while_serving_applies_to_later_writes_only() {
    let (e, _) = engine(0, 0, EvictionPolicy::Lru);
    put(&e, "before").unwrap();
    e.set_default_ttl_ms(60_000);
    assert_eq!(e.default_ttl_ms(), 60_000);
    put(&e, "after").unwrap();
    assert_eq!(e.ttl(b"before"), TtlState::NoExpiry);
    assert_eq!(e.ttl(b"after"), TtlState::ExpiresInMs(60_000));
    e.set_default_ttl_ms(0);
    put(&e, "later").unwrap();
    assert_eq!(e.ttl(b"later"), TtlState::NoExpiry);
}

#[test]
fn an_entry_cap_set_after_filling_without_one_evicts_in_access_order() {
    // With no cap no LRU access log is kept; setting one rebuilds it from the entries' last
    // accesses, so blobs and elements go least recently used first from the first eviction.
    let (e, _) = engine(0, 0, EvictionPolicy::Lru);
    let o = VectorSetOptions::default();
    for i in 0..6 {
        put(&e, &format!("k{i}")).unwrap();
        let name = format!("x{i}");
        e.vadd(b"s", &o, ElementAdd::new(name.as_bytes(), &[i as f32, 1.0]))
            .unwrap();
    }
    e.get(b"k0").unwrap();
    e.vget(b"s", b"x0").unwrap();
    e.get(b"k1").unwrap();
    // Oldest first now: x1 k2 x2 k3 x3 k4 x4 k5 x5 k0 x0 k1.
    e.set_max_entries(9);
    assert_eq!(e.stats().total.entries, 9);
    assert!(!e.vismember(b"s", b"x1").unwrap(), "x1 went first");
    assert_eq!(e.key_type(b"k2"), None, "then k2");
    assert!(!e.vismember(b"s", b"x2").unwrap(), "then x2");
    for k in ["k0", "k1", "k3", "k4", "k5"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
    // Accesses under the cap keep the order: k3 read, then a write evicts x3, not k3.
    e.get(b"k3").unwrap();
    put(&e, "n0").unwrap();
    assert!(
        !e.vismember(b"s", b"x3").unwrap(),
        "x3 was the least recent"
    );
    assert!(e.key_type(b"k3").is_some());
    // Cap removed (the log stops), accesses and writes meanwhile, then a cap again: the
    // order is rebuilt from what happened while no log was kept.
    e.set_max_entries(0);
    put(&e, "n1").unwrap();
    e.get(b"k4").unwrap();
    e.vget(b"s", b"x4").unwrap();
    // Oldest first: k5 x5 k0 x0 k1 k3 n0 n1 k4 x4.
    e.set_max_entries(7);
    for k in ["k5", "k0"] {
        assert_eq!(e.key_type(k.as_bytes()), None, "{k} evicted");
    }
    assert!(!e.vismember(b"s", b"x5").unwrap(), "x5 evicted");
    for k in ["k1", "k3", "n0", "n1", "k4"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
    assert!(e.vismember(b"s", b"x0").unwrap() && e.vismember(b"s", b"x4").unwrap());
    assert_eq!(e.stats().total.evictions, 7);
}

#[test]
fn a_byte_cap_set_after_filling_under_lfu_then_lru_evicts_the_least_recent() {
    // Neither LFU nor LRU without a cap keeps an access log: switching to LRU under a byte
    // cap must start it from the ticks every policy keeps.
    let (e, _) = engine(0, 0, EvictionPolicy::Lfu);
    for i in 0..8 {
        put(&e, &format!("k{i}")).unwrap();
    }
    for i in (0..8).rev() {
        e.get(format!("k{i}").as_bytes()).unwrap();
    }
    // Least recent first: k7 k6 … k0. LRU with no cap yet: still no log.
    e.set_eviction_policy(EvictionPolicy::Lru);
    put(&e, "k8").unwrap();
    e.get(b"k0").unwrap();
    // Least recent first: k7 k6 k5 k4 k3 k2 k1 k8 k0.
    let per_key = e.stats().total.bytes / 9;
    e.set_max_bytes(per_key * 5);
    assert_eq!(e.stats().total.entries, 5);
    for k in ["k7", "k6", "k5", "k4"] {
        assert_eq!(e.key_type(k.as_bytes()), None, "{k} evicted");
    }
    for k in ["k3", "k2", "k1", "k8", "k0"] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
}

#[test]
fn a_cap_given_at_reopen_evicts_by_the_accesses_since_the_load() {
    // Filled with no cap (no log), reopened with one: the load starts the log, the end of
    // recovery brings the store under the cap, and later accesses decide the next victim.
    let dir = tempfile::tempdir().unwrap();
    let cfg = |max_entries| EngineConfig {
        data_dir: Some(dir.path().to_path_buf()),
        max_entries,
        eviction_policy: EvictionPolicy::Lru,
        active_expire_interval_ms: 0,
        ..Default::default()
    };
    let e = Engine::open(cfg(0)).unwrap();
    for i in 0..10 {
        put(&e, &format!("k{i}")).unwrap();
    }
    e.checkpoint().unwrap();
    e.close().unwrap();
    drop(e);
    let e = Engine::open(cfg(4)).unwrap();
    assert_eq!(e.stats().total.entries, 4, "brought under the cap at open");
    let kept: Vec<String> = (0..10)
        .map(|i| format!("k{i}"))
        .filter(|k| e.key_type(k.as_bytes()).is_some())
        .collect();
    assert_eq!(kept.len(), 4);
    // Read all but the first kept one: a write then evicts exactly that one.
    for k in &kept[1..] {
        e.get(k.as_bytes()).unwrap();
    }
    put(&e, "new").unwrap();
    assert_eq!(
        e.key_type(kept[0].as_bytes()),
        None,
        "{} was least recent",
        kept[0]
    );
    for k in &kept[1..] {
        assert!(e.key_type(k.as_bytes()).is_some(), "{k} kept");
    }
}
