//! Unit tests of the snapshot sections (`super`).

use super::*;

fn config() -> crate::store::StoreConfig {
    crate::store::StoreConfig {
        live: Default::default(),
        databases: 16,
        clock: Arc::new(crate::vocab::SystemClock),
        snapshot_piece_bytes: 4 << 20,
        index_min_elements: 1_000,
        fixed_seeds: false,
    }
}

/// Adds elements `range` of a 128-d exact set `key` (deterministic vectors).
fn add(store: &Store, key: &[u8], range: std::ops::Range<usize>) {
    use super::super::record::AddRec;
    use std::borrow::Cow;
    let names: Vec<Vec<u8>> = range
        .clone()
        .map(|i| format!("e{i}").into_bytes())
        .collect();
    let adds = range
        .zip(&names)
        .map(|(i, name)| AddRec {
            name,
            vector: Cow::Owned(
                (0..128u64)
                    .map(|j| {
                        // splitmix64 of (element, component): distinct random vectors.
                        let mut x = ((i as u64) << 8 | j).wrapping_add(0x9e37_79b9_7f4a_7c15);
                        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                        ((x ^ (x >> 31)) >> 40) as f32 / (1u64 << 24) as f32 - 0.5
                    })
                    .collect(),
            ),
            attrs: None,
            expires_at: 0,
        })
        .collect();
    let rec = super::super::Record::VAdd {
        db: 0,
        key,
        params: SetParams {
            dim: 128,
            metric: crate::vocab::Metric::Cosine,
            storage: crate::vocab::StorageMode::Exact,
            m: 16,
            ef_construction: 32,
            projection: 0,
        },
        adds,
    };
    store
        .apply_locking(&super::super::Appends::new(), &rec)
        .unwrap();
}

/// Runs `f` on the set `key` of database 0 under its shard's write lock.
fn with_set<R>(store: &Store, key: &[u8], f: impl FnOnce(&mut VectorSet) -> R) -> R {
    let h = store.hash(key);
    let mut data = store.shards[Store::shard_of(h)].data.write();
    let slot = data.find(h, 0, key).expect("the set");
    match &mut data.entry_mut(slot).expect("its entry").value {
        Value::VSet(set) => f(set),
        _ => panic!("not a set"),
    }
}

/// A set's graph layout is kept by the snapshot and its saved graph restored with it: a
/// new 128-d exact set traverses 4-bit codes with 20 level-0 links; a set of the legacy
/// layout (as every set loaded from a snapshot written before layouts were saved) is
/// written without a layout section, loads with the legacy layout (INT8, 32 links), and
/// its graph is restored, not rebuilt.
#[test]
fn a_sets_graph_layout_survives_a_snapshot_and_its_graph_is_restored_with_it() {
    let store = Store::new(config());
    add(&store, b"new", 0..1_200);
    add(&store, b"old", 0..10);
    let legacy = with_set(&store, b"old", |set| {
        assert!(set.vindex.is_none());
        set.layout = GraphLayout::legacy(&set.params);
        set.layout
    });
    add(&store, b"old", 10..1_200);
    let fresh = with_set(&store, b"new", |set| set.layout);
    assert_eq!(
        (fresh.mode, fresh.m_max0, legacy.mode, legacy.m_max0),
        (crate::index::Mode::Q4, 16, crate::index::Mode::Q8, 32)
    );
    for key in [&b"new"[..], b"old"] {
        store.settle_set(0, key);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = store.write_snapshot(dir.path(), 1, || Ok(1)).unwrap();
    let snap = Snapshot::open(&path).unwrap();
    let layouts: Vec<&[u8]> = snap
        .sections()
        .filter(|&(kind, _, _)| kind == SET_LAYOUT)
        .map(|(_, _, b)| b)
        .collect();
    assert_eq!(
        layouts,
        vec![&fresh.encode()[..]],
        "only the new layout is written"
    );
    let loaded = Store::new(config());
    loaded.load_snapshot(&snap).unwrap();
    for (key, layout) in [(&b"new"[..], fresh), (b"old", legacy)] {
        loaded.settle_set(0, key);
        let (got, restored, params) = with_set(&loaded, key, |set| {
            let ix = set.vindex.clone().expect("an index");
            (set.layout, ix.restored_nodes(), ix.params())
        });
        assert_eq!(got, layout);
        assert_eq!((params.mode, params.m_max0), (layout.mode, layout.m_max0));
        // Restored, not rebuilt (a rebuild restores 0); a node no walk from the entry
        // point reaches would be left out and inserted as a new one (`Restore::finish`).
        let name = String::from_utf8_lossy(key);
        assert!(restored > 1_100, "{name}: {restored} of 1,200 restored");
    }
}

#[test]
fn a_layout_section_that_does_not_fit_its_set_is_refused() {
    let p = SetParams {
        dim: 768,
        metric: crate::vocab::Metric::Cosine,
        storage: crate::vocab::StorageMode::Q8,
        m: 16,
        ef_construction: 200,
        projection: 0,
    };
    let q4 = GraphLayout {
        mode: crate::index::Mode::Q4,
        m_max0: 20,
    };
    assert!(
        GraphLayout::decode(&q4.encode(), &p).is_err(),
        "4-bit codes in a q8 set"
    );
    let exact = SetParams {
        storage: crate::vocab::StorageMode::Exact,
        ..p
    };
    assert_eq!(GraphLayout::decode(&q4.encode(), &exact), Ok(q4));
    let narrow = GraphLayout { m_max0: 8, ..q4 };
    assert!(
        GraphLayout::decode(&narrow.encode(), &exact).is_err(),
        "M_max0 < M"
    );
    assert!(
        GraphLayout::decode(&[2, 3, 20, 0, 0, 0], &exact).is_err(),
        "format 2"
    );
    assert!(
        GraphLayout::decode(&[1, 3, 20, 0, 0], &exact).is_err(),
        "short"
    );
}

#[test]
fn a_key_the_fuzzy_copy_met_twice_loads_once_as_its_later_copy() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = SnapshotWriter::create(dir.path(), 5, 0).unwrap();
    let mut blobs = 2u64.to_le_bytes().to_vec();
    for v in [&b"old"[..], b"new"] {
        put_bytes(&mut blobs, b"k");
        put_bytes(&mut blobs, v);
        blobs.extend_from_slice(&0u64.to_le_bytes());
    }
    w.section(BLOBS, 0, &[&blobs]).unwrap();
    let snap = Snapshot::open(&w.finish(7).unwrap()).unwrap();
    assert_eq!((snap.lsn, snap.consistent_lsn), (5, 7));
    let store = Store::new(config());
    store.load_snapshot(&snap).unwrap();
    let h = store.hash(b"k");
    let data = store.shards[Store::shard_of(h)].data.read();
    let entry = data.find(h, 0, b"k").and_then(|s| data.entry(s)).unwrap();
    assert!(matches!(&entry.value, Value::Blob { data, .. } if &data[..] == b"new"));
    assert_eq!(data.live(), 1);
    assert_eq!(store.counters.keys.load(Ordering::Relaxed), 1);
}
