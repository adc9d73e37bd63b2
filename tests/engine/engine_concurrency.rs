//! The engine is Send + Sync and stays consistent under threads.

use std::sync::Arc;
use std::thread;

use sutra_cache::*;

#[allow(dead_code)]
use crate::vectors;

#[test]
fn the_engine_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
}

#[test]
fn concurrent_readers_and_writers_on_many_keys_stay_consistent() {
    let e = Arc::new(Engine::open(EngineConfig::default()).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let e = e.clone();
            thread::spawn(move || {
                let o = VectorSetOptions::default();
                for i in 0..2_000u32 {
                    let k = format!("t{t}:k{}", i % 100);
                    e.set(k.as_bytes(), &i.to_le_bytes(), SetOptions::default())
                        .unwrap();
                    let got = e.get(k.as_bytes()).unwrap().unwrap();
                    assert_eq!(got.len(), 4);
                    let v = [1.0, i as f32, t as f32];
                    e.vadd(
                        b"shared",
                        &o,
                        ElementAdd::new(format!("t{t}e{}", i % 50).as_bytes(), &v),
                    )
                    .unwrap();
                    let back = e
                        .vget(b"shared", format!("t{t}e{}", i % 50).as_bytes())
                        .unwrap()
                        .unwrap();
                    assert_eq!(back, v, "own writes are read back");
                    if i % 7 == 0 {
                        e.vsearch(b"shared", Query::Vector(&v), &SearchParams::default())
                            .unwrap();
                        e.vrem(b"shared", format!("t{t}e{}", (i + 25) % 50).as_bytes())
                            .unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = e.stats();
    assert_eq!(s.keys, 401);
    assert_eq!(s.total.entries, 400 + e.vcard(b"shared").unwrap());
}

#[test]
fn concurrent_writers_under_a_cap_never_leave_it_exceeded() {
    let e = Arc::new(
        Engine::open(EngineConfig {
            max_entries: 500,
            active_expire_interval_ms: 0,
            ..Default::default()
        })
        .unwrap(),
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let e = e.clone();
            thread::spawn(move || {
                for i in 0..3_000 {
                    e.set(format!("t{t}:{i}").as_bytes(), b"v", SetOptions::default())
                        .unwrap();
                    if i % 3 == 0 {
                        e.vadd(
                            b"m",
                            &VectorSetOptions::default(),
                            ElementAdd::new(format!("t{t}:{i}").as_bytes(), &[1.0, 2.0]),
                        )
                        .unwrap();
                    }
                    e.get(format!("t{t}:{}", i / 2).as_bytes()).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = e.stats();
    assert!(s.total.entries <= 500, "{s:?}");
    assert_eq!(s.total.entries, 4 * 3_000 + 4 * 1_000 - s.total.evictions);
}

#[test]
fn no_reader_sees_an_mset_half_done() {
    // As in Redis: "it is not possible for clients to see that some of the keys were
    // updated while others are unchanged". Many keys, so they spread over many shards.
    let e = Arc::new(Engine::open(EngineConfig::default()).unwrap());
    let keys: Vec<String> = (0..16).map(|i| format!("user:{i}:embedding")).collect();
    let writers: Vec<_> = (0..2u32)
        .map(|t| {
            let (e, keys) = (e.clone(), keys.clone());
            thread::spawn(move || {
                for i in 0..3_000u32 {
                    let v = (i * 2 + t).to_le_bytes();
                    let pairs: Vec<(&[u8], &[u8])> =
                        keys.iter().map(|k| (k.as_bytes(), &v[..])).collect();
                    e.mset(&pairs).unwrap();
                }
            })
        })
        .collect();
    let reader = {
        let (e, keys) = (e.clone(), keys.clone());
        thread::spawn(move || {
            let names: Vec<&[u8]> = keys.iter().map(|k| k.as_bytes()).collect();
            let mut seen = 0;
            for _ in 0..20_000 {
                let got = e.mget(&names);
                if got[0].is_none() {
                    continue;
                }
                seen += 1;
                assert!(
                    got.iter().all(|v| v == &got[0]),
                    "a half-done MSET: {got:?}"
                );
            }
            seen
        })
    };
    for w in writers {
        w.join().unwrap();
    }
    assert!(reader.join().unwrap() > 0);
}

/// Read-your-writes through the background indexer: an element changed by `vadd` is found by
/// the very next search, even while the indexer takes its old node out of the graph and links
/// the new one in during that search (the docs' Python example lost its element this way,
/// one run in 25: the walk ran before the re-insertion, the pending list was read after it).
#[test]
fn a_changed_element_is_found_by_the_next_search_while_the_indexer_relinks_it() {
    let e = Engine::open(EngineConfig::default()).unwrap();
    let o = VectorSetOptions::default();
    let dim = 128;
    let base = vectors::vectors(1_000, dim, 7);
    let names: Vec<String> = (0..base.len()).map(|i| format!("e{i}")).collect();
    let adds: Vec<ElementAdd> = base
        .iter()
        .zip(&names)
        .map(|(v, n)| ElementAdd::new(n.as_bytes(), v))
        .collect();
    e.vadd_many(b"s", &o, &adds).unwrap();
    e.index_settle();
    // ef above the set's size: the walk reaches every node the graph holds, so only the race
    // between the walk and the pending list could lose the element.
    let params = SearchParams {
        count: 3,
        ef: 2_000,
        ..Default::default()
    };
    let mut missed = Vec::new();
    for round in 0..3_000u32 {
        let i = (round as usize * 37) % base.len();
        let attrs = format!(r#"{{"round": {round}}}"#);
        e.vadd(
            b"s",
            &o,
            ElementAdd {
                attributes: AttrUpdate::Set(&attrs),
                ..ElementAdd::new(names[i].as_bytes(), &base[i])
            },
        )
        .unwrap();
        // Start the search at a varying point of the indexer's round (it wakes on the write).
        let wait = std::time::Instant::now();
        while wait.elapsed() < std::time::Duration::from_micros(u64::from(round % 60)) {
            std::hint::spin_loop();
        }
        let filter = Filter::compile(&format!(".round == {round}")).unwrap();
        let hits = e
            .vsearch_filtered(b"s", Query::Vector(&base[i]), &params, &filter, 0)
            .unwrap();
        if hits.len() != 1 || hits[0].element != names[i].as_bytes() {
            missed.push(round);
        }
        let plain = e.vsearch(b"s", Query::Vector(&base[i]), &params).unwrap();
        if plain.first().map(|h| h.element.as_slice()) != Some(names[i].as_bytes()) {
            missed.push(round);
        }
    }
    assert!(
        missed.is_empty(),
        "searches that missed the changed element: {missed:?}"
    );
}
