//! The engine's databases (Redis's SELECT numbers) through its public API: `Engine::select`,
//! `flush_db`, `swap_db`, `move_key`, `keyspace`, and recovery of each from the log and from
//! a snapshot.

use sutra_cache::*;

fn open(dir: Option<&std::path::Path>) -> Engine {
    Engine::open(EngineConfig {
        data_dir: dir.map(|d| d.to_path_buf()),
        wal_sync: SyncPolicy::Always,
        active_expire_interval_ms: 0,
        checkpoint_on_close: false,
        ..Default::default()
    })
    .unwrap()
}

fn vadd(e: &Engine, key: &[u8], name: &[u8], v: &[f32]) {
    e.vadd(key, &VectorSetOptions::default(), ElementAdd::new(name, v))
        .unwrap();
}

#[test]
fn each_database_is_its_own_keyspace_and_caps_count_them_together() {
    let e = Engine::open(EngineConfig {
        max_entries: 3,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    let d5 = e.select(5).unwrap();
    assert_eq!((e.db(), d5.db(), e.databases()), (0, 5, 16));
    e.set(b"k", b"zero", SetOptions::default()).unwrap();
    d5.set(b"k", b"five", SetOptions::default()).unwrap();
    assert_eq!(e.get(b"k").unwrap(), Some(b"zero".to_vec()));
    assert_eq!(d5.get(b"k").unwrap(), Some(b"five".to_vec()));
    assert_eq!((e.dbsize(), d5.dbsize()), (1, 1));
    vadd(&d5, b"vs", b"a", &[1.0, 0.0]);
    assert_eq!(e.vcard(b"vs").unwrap(), 0);
    assert_eq!(d5.vcard(b"vs").unwrap(), 1);
    // The cap of 3 entries is the engine's: a fourth anywhere evicts one.
    e.set(b"more", b"x", SetOptions::default()).unwrap();
    assert_eq!(e.stats().total.entries, 3);
    assert_eq!(e.stats().total.evictions, 1);
    let err = e.select(16).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidArgument, "{err}");
    assert!(err.to_string().contains("db"), "{err}");
}

#[test]
fn flush_db_swap_db_and_move_key_change_only_what_they_name() {
    let e = open(None);
    let (d1, d2) = (e.select(1).unwrap(), e.select(2).unwrap());
    e.set(b"a", b"0", SetOptions::default()).unwrap();
    d1.set(b"a", b"1", SetOptions::default()).unwrap();
    d2.set(b"b", b"2", SetOptions::default()).unwrap();
    e.swap_db(1, 2).unwrap();
    assert_eq!(d1.get(b"b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(d2.get(b"a").unwrap(), Some(b"1".to_vec()));
    assert_eq!(d1.get(b"a").unwrap(), None);
    let ks: Vec<(u32, u64)> = e.keyspace().iter().map(|d| (d.db, d.keys)).collect();
    assert_eq!(ks, vec![(0, 1), (1, 1), (2, 1)]);
    // MOVE: absent in the target → moved; present → nothing changes.
    assert!(e.move_key(b"a", 3).unwrap());
    assert_eq!(e.get(b"a").unwrap(), None);
    assert_eq!(e.select(3).unwrap().get(b"a").unwrap(), Some(b"0".to_vec()));
    d2.set(b"a", b"x", SetOptions::default()).unwrap();
    assert!(!e.select(3).unwrap().move_key(b"a", 2).unwrap());
    assert!(e.move_key(b"a", 0).is_err());
    assert!(e.move_key(b"a", 16).is_err());
    d2.flush_db().unwrap();
    assert_eq!(d2.dbsize(), 0);
    assert_eq!(d1.dbsize(), 1);
    e.flush().unwrap();
    assert!(e.keyspace().is_empty());
}

#[test]
fn databases_swaps_and_moves_are_recovered_from_the_log_and_from_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let e = open(Some(dir.path()));
        let d9 = e.select(9).unwrap();
        e.set(b"k", b"zero", SetOptions::default()).unwrap();
        d9.set(b"k", b"nine", SetOptions::default()).unwrap();
        vadd(&d9, b"vs", b"a", &[1.0, 0.0]);
        e.swap_db(9, 4).unwrap();
        e.select(4).unwrap().move_key(b"vs", 6).unwrap();
        e.select(4).unwrap().flush_db().unwrap();
        e.close().unwrap();
    }
    for round in 0..2 {
        let e = open(Some(dir.path()));
        assert_eq!(
            e.get(b"k").unwrap(),
            Some(b"zero".to_vec()),
            "round {round}"
        );
        assert_eq!(e.select(9).unwrap().dbsize(), 0, "round {round}");
        assert_eq!(e.select(4).unwrap().dbsize(), 0, "round {round}");
        let d6 = e.select(6).unwrap();
        assert_eq!(d6.vcard(b"vs").unwrap(), 1, "round {round}");
        if round == 0 {
            e.checkpoint().unwrap();
        }
        e.close().unwrap();
    }
}
