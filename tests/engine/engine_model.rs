//! Random operation sequences — with TTLs, an entry cap and LRU eviction — against a simple
//! reference model; every observable result must be identical.

use std::collections::BTreeMap;

use proptest::prelude::*;
use sutra_cache::*;

#[derive(Clone, Debug)]
enum Op {
    Set {
        k: u8,
        v: u8,
        ttl: Option<u16>,
    },
    SetNx {
        k: u8,
        v: u8,
    },
    Get {
        k: u8,
    },
    Del {
        k: u8,
    },
    Expire {
        k: u8,
        ms: u16,
    },
    Persist {
        k: u8,
    },
    Ttl {
        k: u8,
    },
    VAdd {
        s: u8,
        e: u8,
        v: u8,
        ttl: Option<u16>,
    },
    VGet {
        s: u8,
        e: u8,
    },
    VRem {
        s: u8,
        e: u8,
    },
    VTtl {
        s: u8,
        e: u8,
    },
    Advance {
        ms: u16,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let k = 0u8..4;
    let ttl = proptest::option::weighted(0.3, 1u16..500);
    prop_oneof![
        (k.clone(), any::<u8>(), ttl.clone()).prop_map(|(k, v, ttl)| Op::Set { k, v, ttl }),
        (k.clone(), any::<u8>()).prop_map(|(k, v)| Op::SetNx { k, v }),
        k.clone().prop_map(|k| Op::Get { k }),
        k.clone().prop_map(|k| Op::Del { k }),
        (k.clone(), 0u16..500).prop_map(|(k, ms)| Op::Expire { k, ms }),
        k.clone().prop_map(|k| Op::Persist { k }),
        k.clone().prop_map(|k| Op::Ttl { k }),
        (0u8..2, 0u8..4, 1u8..=255, ttl).prop_map(|(s, e, v, ttl)| Op::VAdd { s, e, v, ttl }),
        (0u8..2, 0u8..4).prop_map(|(s, e)| Op::VGet { s, e }),
        (0u8..2, 0u8..4).prop_map(|(s, e)| Op::VRem { s, e }),
        (0u8..2, 0u8..4).prop_map(|(s, e)| Op::VTtl { s, e }),
        (0u16..300).prop_map(|ms| Op::Advance { ms }),
    ]
}

/// One cached item of the model: value, absolute expiry (0 = never), LRU tick.
#[derive(Clone, Debug)]
struct Item {
    value: Vec<f32>,
    expires_at: u64,
    tick: u64,
}

/// Keys are `b{k}` (blobs, value = [v]) and `(s, e)` elements.
#[derive(Default)]
struct Model {
    now: u64,
    tick: u64,
    cap: usize,
    items: BTreeMap<(u8, u8, u8), Item>, // (kind 0 = blob / 1 = element, key, element)
}

impl Model {
    fn live(&mut self) {
        let now = self.now;
        self.items
            .retain(|_, it| it.expires_at == 0 || it.expires_at > now);
    }
    fn next(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
    fn evict(&mut self) {
        self.live();
        while self.cap > 0 && self.items.len() > self.cap {
            let victim = *self.items.iter().min_by_key(|(_, it)| it.tick).unwrap().0;
            self.items.remove(&victim);
        }
    }
    fn at(&self, ttl: Option<u16>) -> u64 {
        ttl.map_or(0, |t| self.now + t as u64)
    }
    fn ttl(&mut self, id: (u8, u8, u8)) -> TtlState {
        self.live();
        match self.items.get(&id) {
            None => TtlState::Missing,
            Some(it) if it.expires_at == 0 => TtlState::NoExpiry,
            Some(it) => TtlState::ExpiresInMs(it.expires_at - self.now),
        }
    }
}

fn run(ops: Vec<Op>, cap: u64) -> Result<(), TestCaseError> {
    let clock = ManualClock::new(1_000_000);
    let e = Engine::open(EngineConfig {
        clock: clock.clone(),
        max_entries: cap,
        active_expire_interval_ms: 0,
        ..Default::default()
    })
    .unwrap();
    let mut m = Model {
        now: 1_000_000,
        cap: cap as usize,
        ..Default::default()
    };
    let key = |k: u8| format!("b{k}").into_bytes();
    let skey = |s: u8| format!("s{s}").into_bytes();
    let ename = |el: u8| format!("e{el}").into_bytes();
    let opts = |ttl: Option<u16>| SetOptions {
        expiry: ttl.map_or(Expiry::Never, |t| Expiry::InMs(t as u64)),
        ..Default::default()
    };
    for (i, op) in ops.into_iter().enumerate() {
        let ctx = format!("step {i}: {op:?}");
        match op {
            Op::Set { k, v, ttl } => {
                e.set(&key(k), &[v], opts(ttl)).unwrap();
                let t = m.next();
                let at = m.at(ttl);
                m.items.insert(
                    (0, k, 0),
                    Item {
                        value: vec![v as f32],
                        expires_at: at,
                        tick: t,
                    },
                );
                m.evict();
            }
            Op::SetNx { k, v } => {
                let o = SetOptions {
                    condition: SetCondition::IfAbsent,
                    ..Default::default()
                };
                let written = e.set(&key(k), &[v], o).unwrap().written;
                m.live();
                let want = !m.items.contains_key(&(0, k, 0));
                prop_assert_eq!(written, want, "{}", ctx);
                if want {
                    let t = m.next();
                    m.items.insert(
                        (0, k, 0),
                        Item {
                            value: vec![v as f32],
                            expires_at: 0,
                            tick: t,
                        },
                    );
                    m.evict();
                }
            }
            Op::Get { k } => {
                let got = e.get(&key(k)).unwrap().map(|b| vec![b[0] as f32]);
                m.live();
                let t = m.tick + 1;
                let want = m.items.get_mut(&(0, k, 0)).map(|it| {
                    it.tick = t;
                    it.value.clone()
                });
                if want.is_some() {
                    m.tick = t;
                }
                prop_assert_eq!(got, want, "{}", ctx);
            }
            Op::Del { k } => {
                let n = e.del(&[&key(k)]).unwrap();
                m.live();
                prop_assert_eq!(n, m.items.remove(&(0, k, 0)).is_some() as usize, "{}", ctx);
            }
            Op::Expire { k, ms } => {
                let done = e.expire(&key(k), Expiry::InMs(ms as u64)).unwrap();
                m.live();
                let want = m.items.contains_key(&(0, k, 0));
                prop_assert_eq!(done, want, "{}", ctx);
                if want {
                    if ms == 0 {
                        m.items.remove(&(0, k, 0));
                    } else {
                        m.items.get_mut(&(0, k, 0)).unwrap().expires_at = m.now + ms as u64;
                    }
                }
            }
            Op::Persist { k } => {
                let done = e.persist(&key(k)).unwrap();
                let want = matches!(m.ttl((0, k, 0)), TtlState::ExpiresInMs(_));
                prop_assert_eq!(done, want, "{}", ctx);
                if want {
                    m.items.get_mut(&(0, k, 0)).unwrap().expires_at = 0;
                }
            }
            Op::Ttl { k } => {
                let want = m.ttl((0, k, 0));
                prop_assert_eq!(e.ttl(&key(k)), want, "{}", ctx);
            }
            Op::VAdd { s, e: el, v, ttl } => {
                let vector = [1.0f32, v as f32];
                let name = ename(el);
                let add = ElementAdd {
                    expiry: ttl.map_or(Expiry::Never, |t| Expiry::InMs(t as u64)),
                    ..ElementAdd::new(&name, &vector)
                };
                let new = e.vadd(&skey(s), &VectorSetOptions::default(), add).unwrap();
                m.live();
                prop_assert_eq!(new, !m.items.contains_key(&(1, s, el)), "{}", ctx);
                let t = m.next();
                let at = m.at(ttl);
                m.items.insert(
                    (1, s, el),
                    Item {
                        value: vector.to_vec(),
                        expires_at: at,
                        tick: t,
                    },
                );
                m.evict();
            }
            Op::VGet { s, e: el } => {
                let got = e.vget(&skey(s), &ename(el)).unwrap();
                m.live();
                let t = m.tick + 1;
                let want = m.items.get_mut(&(1, s, el)).map(|it| {
                    it.tick = t;
                    it.value.clone()
                });
                if want.is_some() {
                    m.tick = t;
                }
                prop_assert_eq!(got, want, "{}", ctx);
            }
            Op::VRem { s, e: el } => {
                let done = e.vrem(&skey(s), &ename(el)).unwrap();
                m.live();
                prop_assert_eq!(done, m.items.remove(&(1, s, el)).is_some(), "{}", ctx);
            }
            Op::VTtl { s, e: el } => {
                let want = m.ttl((1, s, el));
                prop_assert_eq!(e.vttl(&skey(s), &ename(el)).unwrap(), want, "{}", ctx);
            }
            Op::Advance { ms } => {
                clock.advance(ms as u64);
                m.now += ms as u64;
            }
        }
    }
    // Final state: every blob and element reads as the model says.
    m.live();
    for k in 0..4 {
        let want = m.items.get(&(0, k, 0)).map(|it| it.value.clone());
        prop_assert_eq!(e.get(&key(k)).unwrap().map(|b| vec![b[0] as f32]), want);
    }
    for s in 0..2 {
        for el in 0..4 {
            let want = m.items.get(&(1, s, el)).map(|it| it.value.clone());
            prop_assert_eq!(e.vget(&skey(s), &ename(el)).unwrap(), want);
        }
    }
    let live_entries = m.items.len() as u64;
    prop_assert!(e.stats().total.entries >= live_entries);
    if cap > 0 {
        prop_assert!(e.stats().total.entries <= cap);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_operations_match_the_model_without_a_cap(ops in proptest::collection::vec(op(), 1..80)) {
        run(ops, 0)?;
    }

    #[test]
    fn random_operations_match_the_model_under_an_lru_entry_cap(
        ops in proptest::collection::vec(op(), 1..80),
        cap in 1u64..7,
    ) {
        run(ops, cap)?;
    }
}
