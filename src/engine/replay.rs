//! Applying logged records (recovery). A record carries absolute values, so applying it over a
//! state that already reflects it, or replaying a suffix over a fuzzy snapshot, ends in the
//! state the log describes: the last record touching an entry decides it.

use super::api::Engine;
use crate::error::Result;
use crate::store::record::{decode, Record};
use crate::store::{Appends, Store};

/// Decodes one logged record (kind + payload as the WAL stores them) and applies it through
/// [`Store::apply_locking`], appending it through `to` when the store has a log attached.
pub(crate) fn replay_logged(store: &Store, to: &Appends, kind: u8, payload: &[u8]) -> Result<bool> {
    store.apply_locking(to, &decode(kind, payload)?)
}

impl Engine {
    /// Applies one logged record (kind + payload as the WAL stores them): `Ok(false)` when
    /// it was superseded by the state it met. `Corrupt` when it does not decode.
    pub(crate) fn apply_logged(&self, kind: u8, payload: &[u8]) -> Result<bool> {
        self.apply_record(&Appends::new(), &decode(kind, payload)?)
    }

    /// The replay entry point: a decoded record goes to the store's one mutation function
    /// through [`crate::store::Store::apply_locking`], as a live write's goes through
    /// `Store::commit` (records name keyspaces, so the value's database plays no part).
    /// Without a log attached (recovery) nothing is logged; with one, the record is appended
    /// through `to` first. `Ok(false)`: superseded (a key or element of another kind, or a
    /// record no write could have made); an error: the log refused it.
    pub(crate) fn apply_record(&self, to: &Appends, rec: &Record<'_>) -> Result<bool> {
        self.store.apply_locking(to, rec)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::engine::types::*;
    use crate::engine::{EngineConfig, EvictionPolicy, ManualClock};
    use crate::store::record::{group_records, push_to_group};
    use crate::store::Log;

    fn engine(clock: Arc<ManualClock>, max_entries: u64) -> Engine {
        Engine::open(EngineConfig {
            clock,
            max_entries,
            eviction_policy: EvictionPolicy::Lru,
            active_expire_interval_ms: 0,
            ..Default::default()
        })
        .unwrap()
    }

    fn state(e: &Engine) -> Vec<String> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            let page = e.scan(cursor, None, 100, None);
            for k in page.keys {
                let line = match e.key_type(&k) {
                    Some(KeyKind::Blob) => {
                        format!("{:?}={:?} ttl={:?}", k, e.get(&k).unwrap(), e.ttl(&k))
                    }
                    Some(KeyKind::VectorSet) => {
                        let info = e.vinfo(&k).unwrap().unwrap();
                        let mut elems: Vec<String> = e
                            .vrandmember(&k, i64::MAX)
                            .unwrap()
                            .into_iter()
                            .map(|el| {
                                format!(
                                    "{:?}:{:?}:{:?}:{:?}",
                                    el,
                                    e.vget(&k, &el).unwrap(),
                                    e.vget_attr(&k, &el).unwrap(),
                                    e.vttl(&k, &el).unwrap()
                                )
                            })
                            .collect();
                        elems.sort();
                        format!(
                            "{:?} {:?}/{:?}/{} {:?}",
                            k, info.metric, info.storage, info.m, elems
                        )
                    }
                    Some(KeyKind::Hash) => {
                        format!("{:?}={:?} ttl={:?}", k, e.hgetall(&k).unwrap(), e.ttl(&k))
                    }
                    None => continue,
                };
                out.push(line);
            }
            cursor = page.cursor;
            if cursor == 0 {
                break;
            }
        }
        out.sort();
        out
    }

    #[test]
    fn replaying_the_log_rebuilds_the_same_state_including_evictions() {
        let clock = ManualClock::new(1_000_000);
        let a = engine(clock.clone(), 40);
        let log = Arc::new(Log::memory());
        assert!(a.store.log.set(log.clone()).is_ok());
        let o = VectorSetOptions::default();
        let q8 = VectorSetOptions {
            storage: Some(StorageMode::Q8),
            metric: Some(Metric::L2),
            m: Some(8),
            ..Default::default()
        };
        for i in 0..30u32 {
            let k = format!("k{}", i % 12);
            a.set(k.as_bytes(), &i.to_le_bytes(), SetOptions::default())
                .unwrap();
            let v = [1.0, i as f32, 0.5];
            let name = format!("e{}", i % 9);
            let add = ElementAdd {
                attributes: if i % 3 == 0 {
                    AttrUpdate::Set("{\"i\":1}")
                } else {
                    AttrUpdate::Keep
                },
                expiry: if i % 4 == 0 {
                    Expiry::InMs(10_000)
                } else {
                    Expiry::Default
                },
                ..ElementAdd::new(name.as_bytes(), &v)
            };
            a.vadd(b"m", &o, add).unwrap();
            a.vadd(b"q", &q8, ElementAdd::new(format!("e{i}").as_bytes(), &v))
                .unwrap();
            let (hk, hf) = (format!("h{}", i % 5), format!("f{}", i % 4));
            a.hset(
                hk.as_bytes(),
                &[(hf.as_bytes(), &i.to_le_bytes()), (b"n", b"1")],
            )
            .unwrap();
            a.hincr_by(hk.as_bytes(), b"n", 2).unwrap();
            if i % 6 == 0 {
                a.hdel(hk.as_bytes(), &[b"f1", b"n"]).unwrap();
                a.expire(hk.as_bytes(), Expiry::InMs(100)).unwrap();
            }
            if i % 5 == 0 {
                a.vrem(b"m", format!("e{}", (i + 1) % 9).as_bytes())
                    .unwrap();
                a.expire(format!("k{}", i % 7).as_bytes(), Expiry::InMs(500))
                    .unwrap();
                a.vset_attr(b"m", b"e2", Some("{\"x\":2}")).unwrap();
                a.vexpire(b"m", b"e3", Expiry::InMs(99)).unwrap();
            }
            if i == 20 {
                a.invalidate_similar(b"q", Query::Vector(&[1.0, 3.0, 0.5]), -4.0, false)
                    .unwrap();
                a.del(&[b"k3"]).unwrap();
            }
            clock.advance(7);
        }
        assert!(a.stats().total.evictions > 0, "the cap evicted something");
        let b = engine(clock.clone(), 0);
        let records = log.records();
        for (kind, payload) in &records {
            assert!(b.apply_logged(*kind, payload).unwrap());
        }
        assert_eq!(state(&a), state(&b));
        // Replaying everything a second time over the result changes nothing (idempotent).
        for (kind, payload) in &records {
            b.apply_logged(*kind, payload).unwrap();
        }
        assert_eq!(state(&a), state(&b));
        // A flush replays too.
        a.flush().unwrap();
        let (kind, payload) = log.records().last().cloned().unwrap();
        b.apply_logged(kind, &payload).unwrap();
        assert_eq!(b.dbsize(), 0);
    }

    fn durable_at(dir: &std::path::Path) -> Engine {
        Engine::open(EngineConfig {
            data_dir: Some(dir.to_path_buf()),
            wal_sync: crate::SyncPolicy::Always,
            checkpoint_on_close: false,
            ..EngineConfig::default()
        })
        .unwrap()
    }

    #[derive(Clone, Copy)]
    enum Write {
        Plain,
        Atomically,
        Mset,
    }

    /// Writes `keep`, then `ga` and `gb` (as one group unless `Plain`), "crashes" (no
    /// checkpoint), damages the bytes of `gb`'s value in the log, and reopens.
    fn torn_after(how: Write) -> (tempfile::TempDir, Engine) {
        let dir = tempfile::tempdir().unwrap();
        let e = durable_at(dir.path());
        e.set(b"keep", b"k", SetOptions::default()).unwrap();
        let write = |w: &crate::Writer<'_>| {
            w.set(b"ga", b"GROUPMARK-A", SetOptions::default()).unwrap();
            w.set(b"gb", b"GROUPMARK-B", SetOptions::default()).unwrap();
        };
        match how {
            Write::Plain => e.deferring_durability(write).1.wait().unwrap(),
            Write::Atomically => e.atomically(write).unwrap(),
            Write::Mset => e
                .mset(&[(b"ga", b"GROUPMARK-A"), (b"gb", b"GROUPMARK-B")])
                .unwrap(),
        }
        e.close().unwrap();
        let mut damaged = 0;
        for f in std::fs::read_dir(dir.path().join("wal")).unwrap() {
            let path = f.unwrap().path();
            let mut bytes = std::fs::read(&path).unwrap();
            if let Some(at) = bytes.windows(11).position(|w| w == b"GROUPMARK-B") {
                bytes[at + 10] ^= 0x55;
                std::fs::write(&path, bytes).unwrap();
                damaged += 1;
            }
        }
        assert_eq!(damaged, 1, "the log holds gb's value once");
        // The caller binds `(_dir, e)`: the engine (which maps files in the directory) is
        // dropped first.
        let e = durable_at(dir.path());
        (dir, e)
    }

    #[test]
    fn a_transaction_is_one_record_and_a_torn_one_recovers_none_of_its_writes() {
        // Whole: one LSN for three writes, all recovered.
        let dir = tempfile::tempdir().unwrap();
        let e = durable_at(dir.path());
        e.set(b"old", b"x", SetOptions::default()).unwrap();
        let before = e.last_lsn();
        e.atomically(|w| {
            w.set(b"a", b"1", SetOptions::default()).unwrap();
            w.set(b"b", b"2", SetOptions::default()).unwrap();
            w.del(&[b"old"]).unwrap();
            // A nested group joins the outer one.
            w.atomically(|w| w.set(b"c", b"3", SetOptions::default()).unwrap())
                .unwrap();
        })
        .unwrap();
        assert_eq!(e.last_lsn(), before + 1, "one record for the group");
        // An MSET is one record too.
        e.mset(&[(b"m1", b"1"), (b"m2", b"2"), (b"m3", b"3")])
            .unwrap();
        assert_eq!(e.last_lsn(), before + 2, "one record for the MSET");
        let end = e.last_lsn();
        e.close().unwrap();
        let e = durable_at(dir.path());
        // Recovery resumes at the log's LSN, not at the count of writes replayed (else a
        // later snapshot would claim LSNs the log has not reached, and replay would skip
        // the records written after it).
        assert_eq!(e.last_lsn(), end);
        assert_eq!(e.get(b"a").unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(e.get(b"c").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(e.get(b"m3").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(e.get(b"old").unwrap(), None);
        e.close().unwrap();
        // Torn: without a group the first write survives the damage to the second…
        let (_dir, e) = torn_after(Write::Plain);
        assert!(e.get(b"ga").unwrap().is_some() && e.get(b"gb").unwrap().is_none());
        assert!(e.get(b"keep").unwrap().is_some());
        // …with one (a transaction, or an MSET), neither does, and what came before is kept.
        for how in [Write::Atomically, Write::Mset] {
            let (_dir, e) = torn_after(how);
            assert_eq!(e.get(b"ga").unwrap(), None);
            assert_eq!(e.get(b"gb").unwrap(), None);
            assert_eq!(e.get(b"keep").unwrap().as_deref(), Some(&b"k"[..]));
            assert!(e.recovery_report().unwrap().wal_damage.is_some());
        }
    }

    #[test]
    fn a_write_inside_a_group_on_a_failed_stop_log_is_refused_and_not_applied() {
        let dir = tempfile::tempdir().unwrap();
        let e = Engine::open(EngineConfig {
            data_dir: Some(dir.path().to_path_buf()),
            wal_sync: crate::SyncPolicy::Always,
            checkpoint_on_close: false,
            wal_fault: Some(crate::wal::FaultPlan {
                fail_after_ops: Some(6),
                ..Default::default()
            }),
            ..EngineConfig::default()
        })
        .unwrap();
        let mut failed = false;
        for i in 0..100u32 {
            if e.set(&i.to_le_bytes(), b"v", SetOptions::default())
                .is_err()
            {
                failed = true;
                break;
            }
        }
        assert!(failed, "the fault plan poisons the log");
        let inner = e
            .atomically(|w| w.set(b"g", b"v", SetOptions::default()))
            .unwrap();
        assert!(
            matches!(inner, Err(crate::Error::WalPoisoned(_))),
            "{inner:?}"
        );
        assert_eq!(e.get(b"g").unwrap(), None, "nothing applied");
    }

    #[test]
    fn a_group_record_decodes_back_and_rejects_nesting_and_bad_lengths() {
        let mut records = Vec::new();
        push_to_group(
            &mut records,
            &Record::SetBlob {
                db: 0,
                key: b"k",
                value: b"v",
                expires_at: 7,
            },
        );
        push_to_group(&mut records, &Record::DelKey { db: 0, key: b"z" });
        let group = Record::Group { records: &records };
        let mut payload = Vec::new();
        group.encode(&mut payload);
        // The format, byte for byte (store/record/mod.rs's table): kind, u32 length, payload.
        #[rustfmt::skip]
        let expected: &[u8] = &[
            1, 18, 0, 0, 0, 1, 0, 0, 0, b'k', 1, 0, 0, 0, b'v', 7, 0, 0, 0, 0, 0, 0, 0,
            2, 5, 0, 0, 0, 1, 0, 0, 0, b'z',
        ];
        assert_eq!(payload, expected);
        assert_eq!(group.kind(), 9);
        assert_eq!(decode(group.kind(), &payload).unwrap(), group);
        let inner = group_records(&records).unwrap();
        assert_eq!(inner[1], Record::DelKey { db: 0, key: b"z" });
        let mut nested = Vec::new();
        push_to_group(&mut nested, &group);
        assert!(decode(group.kind(), &nested).is_err());
        assert!(decode(group.kind(), &payload[..payload.len() - 1]).is_err());
    }
}
