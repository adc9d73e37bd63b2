//! The engine's change feed: every kind of change to a key or an element is reported to the
//! installed listener exactly once, with its cause; reads report nothing.

use std::sync::{Arc, Mutex};

use sutra_cache::*;

/// A change as the test records it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Key(String, ChangeCause),
    Elem(String, String, ChangeCause),
    All,
}

#[derive(Default)]
struct Recorder(Mutex<Vec<Seen>>);

impl ChangeSink for Recorder {
    fn changed(&self, change: Change<'_>) {
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        self.0.lock().unwrap().push(match change {
            Change::Key(k, why) => Seen::Key(s(k), why),
            Change::Element(k, e, why) => Seen::Elem(s(k), s(e), why),
            Change::All => Seen::All,
        });
    }
}

impl Recorder {
    fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn key(k: &str, why: ChangeCause) -> Seen {
    Seen::Key(k.into(), why)
}

fn elem(k: &str, e: &str, why: ChangeCause) -> Seen {
    Seen::Elem(k.into(), e.into(), why)
}

use ChangeCause::{Evicted, Expired, Write};

fn listened(max_entries: u64) -> (Engine, Arc<ManualClock>, Arc<Recorder>) {
    let clock = ManualClock::new(10_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        max_entries,
        eviction_policy: EvictionPolicy::Lru,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    let rec = Arc::new(Recorder::default());
    e.set_change_listener(Some(rec.clone()));
    (e, clock, rec)
}

fn add(e: &Engine, set: &str, name: &str, v: [f32; 2], expiry: Expiry) {
    let mut a = ElementAdd::new(name.as_bytes(), &v);
    a.expiry = expiry;
    e.vadd(set.as_bytes(), &VectorSetOptions::default(), a)
        .unwrap();
}

#[test]
fn blob_writes_overwrites_ttl_changes_and_deletes_are_each_reported_once() {
    let (e, _, rec) = listened(0);
    e.set(b"k", b"v1", SetOptions::default()).unwrap();
    assert_eq!(rec.take(), [key("k", Write)]);
    e.set(b"k", b"v2", SetOptions::default()).unwrap();
    e.append(b"k", b"x").unwrap();
    assert_eq!(rec.take(), [key("k", Write), key("k", Write)]);
    // Reads and a write that does not happen report nothing.
    e.get(b"k").unwrap();
    e.exists(&[b"k"]);
    let nx = SetOptions {
        condition: SetCondition::IfAbsent,
        ..Default::default()
    };
    e.set(b"k", b"v3", nx).unwrap();
    assert_eq!(rec.take(), []);
    e.expire(b"k", Expiry::InMs(60_000)).unwrap();
    e.persist(b"k").unwrap();
    assert_eq!(rec.take(), [key("k", Write), key("k", Write)]);
    e.mset(&[(b"a", b"1"), (b"b", b"2")]).unwrap();
    assert_eq!(rec.take(), [key("a", Write), key("b", Write)]);
    assert_eq!(e.del(&[b"k", b"missing"]).unwrap(), 1);
    assert_eq!(rec.take(), [key("k", Write)]);
    e.get_then(b"a", GetThen::Delete).unwrap();
    assert_eq!(rec.take(), [key("a", Write)]);
    // A past expiry deletes.
    e.expire(b"b", Expiry::AtMs(1)).unwrap();
    assert_eq!(rec.take(), [key("b", Write)]);
}

#[test]
fn element_adds_attribute_and_ttl_changes_and_removals_name_the_element() {
    let (e, _, rec) = listened(0);
    add(&e, "s", "a", [1.0, 0.0], Expiry::Default);
    add(&e, "s", "b", [0.0, 1.0], Expiry::Default);
    add(&e, "s", "a", [1.0, 0.5], Expiry::Default); // overwrite
    assert_eq!(
        rec.take(),
        [
            elem("s", "a", Write),
            elem("s", "b", Write),
            elem("s", "a", Write)
        ]
    );
    e.vset_attr(b"s", b"a", Some(r#"{"x":1}"#)).unwrap();
    e.vexpire(b"s", b"b", Expiry::InMs(60_000)).unwrap();
    e.vpersist(b"s", b"b").unwrap();
    assert_eq!(
        rec.take(),
        [
            elem("s", "a", Write),
            elem("s", "b", Write),
            elem("s", "b", Write)
        ]
    );
    // Reads report nothing.
    e.vget(b"s", b"a").unwrap();
    e.vsearch(b"s", Query::Vector(&[1.0, 0.0]), &SearchParams::default())
        .unwrap();
    e.vcard(b"s").unwrap();
    assert_eq!(rec.take(), []);
    assert!(e.vrem(b"s", b"a").unwrap());
    assert!(!e.vrem(b"s", b"a").unwrap());
    assert_eq!(rec.take(), [elem("s", "a", Write)]);
    // The last element's removal takes the set with it: one report.
    assert!(e.vrem(b"s", b"b").unwrap());
    assert_eq!(rec.take(), [elem("s", "b", Write)]);
    assert_eq!(e.key_type(b"s"), None);
    // Deleting a whole set reports the key; a blob written over a set reports the key once.
    add(&e, "t", "x", [1.0, 0.0], Expiry::Default);
    add(&e, "u", "y", [1.0, 0.0], Expiry::Default);
    rec.take();
    e.del(&[b"t"]).unwrap();
    e.set(b"u", b"blob", SetOptions::default()).unwrap();
    assert_eq!(rec.take(), [key("t", Write), key("u", Write)]);
}

#[test]
fn semantic_invalidation_reports_every_removed_element() {
    let (e, _, rec) = listened(0);
    add(&e, "s", "near1", [1.0, 0.0], Expiry::Default);
    add(&e, "s", "near2", [1.0, 0.01], Expiry::Default);
    add(&e, "s", "far", [-1.0, 0.0], Expiry::Default);
    rec.take();
    let out = e
        .invalidate_similar(b"s", Query::Vector(&[1.0, 0.0]), 0.9, false)
        .unwrap();
    assert_eq!(out.count, 2);
    let mut got = rec.take();
    got.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, [elem("s", "near1", Write), elem("s", "near2", Write)]);
}

#[test]
fn expirations_are_reported_lazily_and_actively_with_their_cause() {
    let (e, clock, rec) = listened(0);
    e.set(
        b"lazy",
        b"v",
        SetOptions {
            expiry: Expiry::InMs(1_000),
            ..Default::default()
        },
    )
    .unwrap();
    e.set(
        b"active",
        b"v",
        SetOptions {
            expiry: Expiry::InMs(1_000),
            ..Default::default()
        },
    )
    .unwrap();
    add(&e, "s", "keep", [1.0, 0.0], Expiry::Default);
    add(&e, "s", "gone", [0.0, 1.0], Expiry::InMs(1_000));
    rec.take();
    clock.advance(2_000);
    // A read that meets an expired key reclaims it and reports it.
    assert_eq!(e.get(b"lazy").unwrap(), None);
    assert_eq!(rec.take(), [key("lazy", Expired)]);
    // The active cycle reports the rest.
    e.active_expire_cycle(100);
    let mut got = rec.take();
    got.sort_by_key(|s| format!("{s:?}"));
    assert_eq!(got, [elem("s", "gone", Expired), key("active", Expired)]);
    assert_eq!(e.vcard(b"s").unwrap(), 1);
    assert_eq!(rec.take(), []);
}

#[test]
fn evictions_under_the_entry_cap_are_reported_as_evictions() {
    let (e, _, rec) = listened(2);
    e.set(b"a", b"1", SetOptions::default()).unwrap();
    add(&e, "s", "old", [1.0, 0.0], Expiry::Default);
    rec.take();
    // A third entry evicts the least recently used one (a), then another one evicts `old`.
    e.set(b"b", b"2", SetOptions::default()).unwrap();
    assert_eq!(rec.take(), [key("b", Write), key("a", Evicted)]);
    add(&e, "s", "new", [0.0, 1.0], Expiry::Default);
    assert_eq!(
        rec.take(),
        [elem("s", "new", Write), elem("s", "old", Evicted)]
    );
}

#[test]
fn a_flush_reports_everything_once_and_a_removed_listener_hears_nothing() {
    let (e, _, rec) = listened(0);
    e.set(b"a", b"1", SetOptions::default()).unwrap();
    add(&e, "s", "x", [1.0, 0.0], Expiry::Default);
    rec.take();
    e.flush().unwrap();
    assert_eq!(rec.take(), [Seen::All]);
    e.set_change_listener(None);
    e.set(b"a", b"1", SetOptions::default()).unwrap();
    e.flush().unwrap();
    assert_eq!(rec.take(), []);
}
