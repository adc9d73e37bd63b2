//! Inputs the coverage-guided fuzz targets under `fuzz/` found failing, each replayed here
//! through the public interface next to the fix it led to (the raw inputs are also kept in
//! `fuzz/corpus/<target>/regressions/`, which `scripts/fuzz.sh smoke` runs first).

use std::sync::Arc;

use sutra_cache::{Engine, EngineConfig, Expiry, ManualClock, SetOptions};

fn engine(clock: &Arc<ManualClock>) -> Engine {
    Engine::open(EngineConfig {
        clock: clock.clone(),
        active_expire_interval_ms: 0,
        ..EngineConfig::default()
    })
    .unwrap()
}

/// `commands` target: `SET k0 v EX 6`, the clock moves 6.7 s, then `VREM k0 e1` answered
/// WRONGTYPE (and so did VSETATTR) where Redis answers 0: the element writes type-checked the
/// key before reclaiming its passed TTL, so a string that had expired still counted.
#[test]
fn element_writes_to_a_string_key_whose_ttl_passed_see_no_key_rather_than_a_wrong_type() {
    let clock = ManualClock::new(1_700_000_000_000);
    let e = engine(&clock);
    let ttl = SetOptions {
        expiry: Expiry::InMs(6_000),
        ..SetOptions::default()
    };
    e.set(b"k0", b"v", ttl).unwrap();
    // Before the TTL passes the key is a string: WRONGTYPE is right.
    assert!(e.vrem(b"k0", b"e1").is_err());
    clock.advance(6_741);
    assert!(!e.vrem(b"k0", b"e1").unwrap());
    assert!(!e.vset_attr(b"k0", b"e1", Some("{\"a\":24}")).unwrap());
    assert!(!e.vpersist(b"k0", b"e1").unwrap());
    assert!(!e.vexpire(b"k0", b"e1", Expiry::InMs(10)).unwrap());
    assert_eq!(e.vcard(b"k0").unwrap(), 0);
    assert_eq!(e.get(b"k0").unwrap(), None);
}
