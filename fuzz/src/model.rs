//! The command layer: sequences of commands against an in-memory engine.
//!
//! First byte even: commands over a few keys and elements, built from the input, each reply
//! checked against a reference model of the blob and vector-set commands (values, counts,
//! types, TTLs under a clock the input moves, WRONGTYPE). Odd: any command name and
//! arguments straight from the input, each reply one well-formed RESP value.

use std::collections::BTreeMap;

use bytes::Bytes;
use sutra_cache::fuzzing::Session;

use crate::reply::{self, Value};
use crate::Input;

#[derive(Clone, Debug)]
enum Val {
    Str(Vec<u8>),
    Set {
        dim: usize,
        elems: BTreeMap<Vec<u8>, Option<String>>,
    },
}

#[derive(Clone, Debug)]
struct Entry {
    val: Val,
    expires_at: Option<u64>,
}

#[derive(Default)]
struct Model {
    now: u64,
    keys: BTreeMap<Vec<u8>, Entry>,
    /// Keys that expired: gone for every command, but DBSIZE may still count them until
    /// they are reclaimed (as Redis's does).
    expired: std::collections::BTreeSet<Vec<u8>>,
}

impl Model {
    fn purge(&mut self) {
        let now = self.now;
        let expired = &mut self.expired;
        self.keys.retain(|k, e| {
            let live = e.expires_at.is_none_or(|at| at > now);
            if !live {
                expired.insert(k.clone());
            }
            live
        });
    }
}

const KEYS: &[&[u8]] = &[b"k0", b"k1", b"k2", b"{k}3"];
const ELEMS: &[&[u8]] = &[b"e0", b"e1", b"e2", b"e3", b"e4", b"\x00e\xff"];

fn b(s: &[u8]) -> Bytes {
    Bytes::copy_from_slice(s)
}

fn one(out: &[u8], args: &[Bytes]) -> Value {
    let mut values =
        reply::parse_all(out).unwrap_or_else(|e| panic!("{args:?}: malformed reply {out:?}: {e}"));
    assert_eq!(values.len(), 1, "{args:?}: not one reply: {out:?}");
    values.pop().unwrap()
}

fn int(v: i64) -> Value {
    Value::Int(v)
}

fn is_error(v: &Value) -> bool {
    matches!(v, Value::Error(_))
}

fn wrongtype(v: &Value) -> bool {
    matches!(v, Value::Error(e) if e.starts_with(b"WRONGTYPE"))
}

pub fn commands(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    if mode & 1 == 1 {
        return raw(input, mode);
    }
    let mut s = Session::new(0, 0);
    let mut m = Model {
        now: 1_700_000_000_000,
        ..Model::default()
    };
    let mut steps = 0;
    while !input.is_empty() && steps < 200 {
        steps += 1;
        let op = input.u8();
        let key = KEYS[(input.u8() as usize) % KEYS.len()];
        let elem = ELEMS[(input.u8() as usize) % ELEMS.len()];
        m.purge();
        let mut run = |args: Vec<Bytes>| -> (Value, Vec<Bytes>) {
            let out = s.run(&args, false).expect("a reply");
            (one(&out, &args), args)
        };
        match op % 22 {
            0 => {
                let value = input.short().to_vec();
                let mut args = vec![b(b"SET"), b(key), Bytes::from(value.clone())];
                let ex = input.u8();
                let cond = input.u8() % 3;
                let ttl = (ex % 4 != 0).then(|| u64::from(ex % 60) + 1);
                if let Some(t) = ttl {
                    args.extend([b(b"EX"), Bytes::from(t.to_string())]);
                }
                match cond {
                    1 => args.push(b(b"NX")),
                    2 => args.push(b(b"XX")),
                    _ => {}
                }
                let exists = m.keys.contains_key(key);
                let (got, args) = run(args);
                let applies = match cond {
                    1 => !exists,
                    2 => exists,
                    _ => true,
                };
                if applies {
                    assert_eq!(got, Value::Simple(b"OK".to_vec()), "{args:?}");
                    m.keys.insert(
                        key.to_vec(),
                        Entry {
                            val: Val::Str(value),
                            expires_at: ttl.map(|t| m.now + t * 1000),
                        },
                    );
                } else {
                    assert_eq!(got, Value::Null, "{args:?}");
                }
            }
            1 => {
                let (got, args) = run(vec![b(b"GET"), b(key)]);
                match m.keys.get(key).map(|e| &e.val) {
                    None => assert_eq!(got, Value::Null, "{args:?}"),
                    Some(Val::Str(v)) => assert_eq!(got, Value::Bulk(v.clone()), "{args:?}"),
                    Some(Val::Set { .. }) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            2 => {
                let other = KEYS[(input.u8() as usize) % KEYS.len()];
                let (got, args) = run(vec![b(b"DEL"), b(key), b(other)]);
                let mut n = 0;
                n += i64::from(m.keys.remove(key).is_some());
                n += i64::from(m.keys.remove(other).is_some());
                assert_eq!(got, int(n), "{args:?}");
            }
            3 => {
                let (got, args) = run(vec![b(b"EXISTS"), b(key), b(key)]);
                let n = if m.keys.contains_key(key) { 2 } else { 0 };
                assert_eq!(got, int(n), "{args:?}");
            }
            4 => {
                let other = KEYS[(input.u8() as usize) % KEYS.len()];
                let (v1, v2) = (input.short().to_vec(), input.short().to_vec());
                let (got, args) = run(vec![
                    b(b"MSET"),
                    b(key),
                    Bytes::from(v1.clone()),
                    b(other),
                    Bytes::from(v2.clone()),
                ]);
                assert_eq!(got, Value::Simple(b"OK".to_vec()), "{args:?}");
                for (k, v) in [(key, v1), (other, v2)] {
                    m.keys.insert(
                        k.to_vec(),
                        Entry {
                            val: Val::Str(v),
                            expires_at: None,
                        },
                    );
                }
            }
            5 => {
                let (got, args) = run(vec![b(b"MGET"), b(key), b(b"k1")]);
                let want = [key, &b"k1"[..]]
                    .iter()
                    .map(|k| match m.keys.get(*k).map(|e| &e.val) {
                        Some(Val::Str(v)) => Value::Bulk(v.clone()),
                        _ => Value::Null,
                    })
                    .collect();
                assert_eq!(got, Value::Array(want), "{args:?}");
            }
            6 => {
                let tail = input.short().to_vec();
                let (got, args) = run(vec![b(b"APPEND"), b(key), Bytes::from(tail.clone())]);
                match m.keys.get_mut(key) {
                    None => {
                        assert_eq!(got, int(tail.len() as i64), "{args:?}");
                        m.keys.insert(
                            key.to_vec(),
                            Entry {
                                val: Val::Str(tail),
                                expires_at: None,
                            },
                        );
                    }
                    Some(Entry {
                        val: Val::Str(v), ..
                    }) => {
                        v.extend_from_slice(&tail);
                        assert_eq!(got, int(v.len() as i64), "{args:?}");
                    }
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            7 => {
                let (got, args) = run(vec![b(b"PTTL"), b(key)]);
                let want = match m.keys.get(key) {
                    None => -2,
                    Some(Entry {
                        expires_at: None, ..
                    }) => -1,
                    Some(Entry {
                        expires_at: Some(at),
                        ..
                    }) => (at - m.now) as i64,
                };
                assert_eq!(got, int(want), "{args:?}");
            }
            8 => {
                let ms = 337 * u64::from(input.u8() % 32);
                s.advance_ms(ms);
                m.now += ms;
            }
            9 => {
                let dim = 1 + (input.u8() % 4) as usize;
                let mut comps: Vec<i8> = (0..dim).map(|_| (input.u8() % 9) as i8 - 4).collect();
                if comps.iter().all(|&c| c == 0) {
                    comps[0] = 1;
                }
                let attr = input.u8();
                let mut args = vec![
                    b(b"VADD"),
                    b(key),
                    b(b"VALUES"),
                    b(dim.to_string().as_bytes()),
                ];
                args.extend(comps.iter().map(|c| Bytes::from(c.to_string())));
                args.push(b(elem));
                let json = (attr % 3 == 1).then(|| format!("{{\"a\":{}}}", attr / 3));
                if let Some(j) = &json {
                    args.extend([b(b"SETATTR"), Bytes::from(j.clone())]);
                }
                let (got, args) = run(args);
                match m.keys.get_mut(key) {
                    None => {
                        assert_eq!(got, int(1), "{args:?}");
                        let mut elems = BTreeMap::new();
                        elems.insert(elem.to_vec(), json);
                        m.keys.insert(
                            key.to_vec(),
                            Entry {
                                val: Val::Set { dim, elems },
                                expires_at: None,
                            },
                        );
                    }
                    Some(Entry {
                        val: Val::Set { dim: d, elems },
                        ..
                    }) => {
                        if *d != dim {
                            assert!(is_error(&got), "{args:?}: {got:?}");
                        } else {
                            let added = !elems.contains_key(elem);
                            assert_eq!(got, int(i64::from(added)), "{args:?}");
                            let slot = elems.entry(elem.to_vec()).or_insert(None);
                            if json.is_some() {
                                *slot = json;
                            }
                        }
                    }
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            10 => {
                let (got, args) = run(vec![b(b"VREM"), b(key), b(elem)]);
                match m.keys.get_mut(key) {
                    None => assert_eq!(got, int(0), "{args:?}"),
                    Some(Entry {
                        val: Val::Set { elems, .. },
                        ..
                    }) => {
                        let had = elems.remove(elem).is_some();
                        assert_eq!(got, int(i64::from(had)), "{args:?}");
                        if elems.is_empty() {
                            m.keys.remove(key);
                        }
                    }
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            11 => {
                let (got, args) = run(vec![b(b"VCARD"), b(key)]);
                match m.keys.get(key).map(|e| &e.val) {
                    None => assert_eq!(got, int(0), "{args:?}"),
                    Some(Val::Set { elems, .. }) => {
                        assert_eq!(got, int(elems.len() as i64), "{args:?}")
                    }
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            12 => {
                let (got, args) = run(vec![b(b"VISMEMBER"), b(key), b(elem)]);
                match m.keys.get(key).map(|e| &e.val) {
                    None => assert_eq!(got, int(0), "{args:?}"),
                    Some(Val::Set { elems, .. }) => {
                        assert_eq!(got, int(i64::from(elems.contains_key(elem))), "{args:?}")
                    }
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            13 => {
                let (got, args) = run(vec![b(b"VDIM"), b(key)]);
                match m.keys.get(key).map(|e| &e.val) {
                    Some(Val::Set { dim, .. }) => assert_eq!(got, int(*dim as i64), "{args:?}"),
                    None => assert!(is_error(&got), "{args:?}: {got:?}"),
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            14 => {
                let (got, args) = run(vec![b(b"VGETATTR"), b(key), b(elem)]);
                match m.keys.get(key).map(|e| &e.val) {
                    Some(Val::Set { elems, .. }) => match elems.get(elem) {
                        Some(Some(j)) => {
                            assert_eq!(got, Value::Bulk(j.clone().into_bytes()), "{args:?}")
                        }
                        _ => assert_eq!(got, Value::Null, "{args:?}"),
                    },
                    None => assert_eq!(got, Value::Null, "{args:?}"),
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            15 => {
                let j = format!("{{\"a\":{}}}", input.u8());
                let (got, args) = run(vec![b(b"VSETATTR"), b(key), b(elem), b(j.as_bytes())]);
                match m.keys.get_mut(key).map(|e| &mut e.val) {
                    Some(Val::Set { elems, .. }) => match elems.get_mut(elem) {
                        Some(slot) => {
                            assert_eq!(got, int(1), "{args:?}");
                            *slot = Some(j);
                        }
                        None => assert_eq!(got, int(0), "{args:?}"),
                    },
                    None => assert_eq!(got, int(0), "{args:?}"),
                    Some(_) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                }
            }
            16 => {
                let (got, args) = run(vec![b(b"TYPE"), b(key)]);
                let want: &[u8] = match m.keys.get(key).map(|e| &e.val) {
                    None => b"none",
                    Some(Val::Str(_)) => b"string",
                    Some(Val::Set { .. }) => b"vectorset",
                };
                assert_eq!(got, Value::Simple(want.to_vec()), "{args:?}");
            }
            17 => {
                let (got, args) = run(vec![b(b"DBSIZE")]);
                let live = m.keys.len() as i64;
                let ghosts = m
                    .expired
                    .iter()
                    .filter(|k| !m.keys.contains_key(*k))
                    .count() as i64;
                let Value::Int(n) = got else {
                    panic!("{args:?}: {got:?}")
                };
                assert!(
                    (live..=live + ghosts).contains(&n),
                    "{args:?}: {n}, live {live}"
                );
            }
            18 => {
                let count = 1 + input.u8() % 8;
                let (got, args) = run(vec![
                    b(b"VSIM"),
                    b(key),
                    b(b"ELE"),
                    b(elem),
                    b(b"COUNT"),
                    b(count.to_string().as_bytes()),
                ]);
                match m.keys.get(key).map(|e| &e.val) {
                    Some(Val::Set { elems, .. }) if elems.contains_key(elem) => {
                        let Value::Array(found) = &got else {
                            panic!("{args:?}: {got:?}")
                        };
                        assert_eq!(
                            found.len(),
                            elems.len().min(count as usize),
                            "{args:?}: {got:?}"
                        );
                        let mut seen = std::collections::BTreeSet::new();
                        for f in found {
                            let Value::Bulk(name) = f else {
                                panic!("{args:?}: {got:?}")
                            };
                            assert!(elems.contains_key(name), "{args:?}: {got:?} not a member");
                            assert!(seen.insert(name.clone()), "{args:?}: {got:?} twice");
                        }
                    }
                    Some(Val::Str(_)) => assert!(wrongtype(&got), "{args:?}: {got:?}"),
                    _ => {}
                }
            }
            19 => {
                let secs = 1 + u64::from(input.u8() % 60);
                let (got, args) = run(vec![b(b"EXPIRE"), b(key), b(secs.to_string().as_bytes())]);
                match m.keys.get_mut(key) {
                    Some(e) => {
                        assert_eq!(got, int(1), "{args:?}");
                        e.expires_at = Some(m.now + secs * 1000);
                    }
                    None => assert_eq!(got, int(0), "{args:?}"),
                }
            }
            20 => {
                let (got, args) = run(vec![b(b"PERSIST"), b(key)]);
                match m.keys.get_mut(key) {
                    Some(e) if e.expires_at.is_some() => {
                        assert_eq!(got, int(1), "{args:?}");
                        e.expires_at = None;
                    }
                    _ => assert_eq!(got, int(0), "{args:?}"),
                }
            }
            _ => {
                let (got, args) = run(vec![b(b"FLUSHALL")]);
                assert_eq!(got, Value::Simple(b"OK".to_vec()), "{args:?}");
                m.keys.clear();
                m.expired.clear();
            }
        }
    }
}

/// Any command with arguments from the input: `(name, n, n length-prefixed arguments)`
/// repeated; the mode byte picks RESP3 and small caps.
fn raw(mut input: Input<'_>, mode: u8) {
    let (entries, bytes) = if mode & 2 == 2 { (20, 4096) } else { (0, 0) };
    let mut s = Session::new(entries, bytes);
    let resp3 = mode & 4 == 4;
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let name = input.short();
        if name.is_empty() {
            s.advance_ms(u64::from(input.u16()));
            continue;
        }
        let n = (input.u8() % 12) as usize;
        let mut args = vec![Bytes::copy_from_slice(name)];
        for _ in 0..n {
            args.push(Bytes::copy_from_slice(input.short()));
        }
        let Some(out) = s.run(&args, resp3) else {
            continue;
        };
        let values = reply::parse_all(&out)
            .unwrap_or_else(|e| panic!("{args:?}: malformed reply {out:?}: {e}"));
        let per_channel = [
            &b"subscribe"[..],
            b"unsubscribe",
            b"psubscribe",
            b"punsubscribe",
        ]
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c));
        assert!(
            values.len() == 1 || per_channel,
            "{args:?}: {} replies {out:?}",
            values.len()
        );
    }
}
