//! Replication's engine side: what a master hands its replicas (the log's tail, a full copy
//! as records) and how a replica applies them (through [`Engine::apply_record`], the replay
//! entry point, with its own log attached, so it logs what it applies and restarts from its
//! own data). The protocol and the connections are the server's (`server::replication`).

use std::sync::Arc;

use super::api::Engine;
use super::durable::Durability;
use crate::error::{Error, Result};
use crate::store::record::{decode, Record};
use crate::store::Appends;
use crate::wal::Backlog;

pub use crate::store::ImageCursor;

/// What [`Engine::apply_replicated`] did.
#[derive(Debug)]
#[must_use = "the records are not durable here until this resolves"]
pub struct ReplicatedBatch {
    /// Records applied.
    pub applied: u64,
    /// Records that changed nothing (superseded: a key of another type, an element gone).
    pub superseded: u64,
    /// For each record, in order: the highest LSN of this engine's log written for it and the
    /// records before it in the batch (0: none yet). A replica maps its master's offsets to
    /// its own LSNs with it, so that once promoted it can continue its former peers.
    pub logged: Vec<u64>,
    /// Resolves once what the records logged here is durable per this engine's sync policy.
    pub durability: Durability,
}

impl Engine {
    /// A master's side: the log's in-memory tail ([`Backlog`]), made at the first call with
    /// room for about `limit_bytes` of records; from then on every record logged is kept
    /// there in LSN order until the limit pushes it out. `Unsupported` for an engine in
    /// memory (it has no log to follow).
    pub fn replication_backlog(&self, limit_bytes: usize) -> Result<Arc<Backlog>> {
        match self.wal() {
            Some(wal) => Ok(wal.backlog(limit_bytes)),
            None => Err(Error::Unsupported(
                "replication follows the master's write-ahead log: start the master with a \
                 data directory (not --in-memory)"
                    .into(),
            )),
        }
    }

    /// The backlog [`Engine::replication_backlog`] made, if it did.
    pub fn replication_backlog_made(&self) -> Option<Arc<Backlog>> {
        self.wal().and_then(|w| w.backlog_if_made())
    }

    /// A master's side: the next piece (about `budget` bytes, read under one shard's read
    /// lock) of a full copy of every database as encoded records `(kind, payload)`; empty
    /// once [`ImageCursor::done`]. The copy is fuzzy: take the backlog's
    /// [`Backlog::next_lsn`] before the first piece, and after the last piece apply every
    /// record from that LSN on, which makes it exact.
    pub fn image_piece(&self, cursor: &mut ImageCursor, budget: usize) -> Vec<(u8, Vec<u8>)> {
        let mut out = Vec::new();
        self.store.image_piece(cursor, budget, &mut out);
        out
    }

    /// A replica's side: applies records of its master (kind + payload as the master's log
    /// holds them, or as [`Engine::image_piece`] made them), in order, each through the
    /// replay entry point and logged here as the write it is. Records name keyspaces, as in
    /// the log. `Corrupt` for a record that does not decode, `WalPoisoned`/`Closed` when
    /// this engine's log refuses a write (the records before it stay applied); the caller
    /// stops following then. The batch is durable here once its `durability` resolves.
    pub fn apply_replicated<'a>(
        &self,
        records: impl IntoIterator<Item = (u8, &'a [u8])>,
    ) -> Result<ReplicatedBatch> {
        let raw = self.raw_keyspaces();
        let to = Appends::new();
        let (mut applied, mut superseded) = (0, 0);
        let mut logged = Vec::new();
        for (kind, payload) in records {
            let rec = decode(kind, payload)?;
            match raw.apply_record(&to, &rec) {
                Ok(true) => applied += 1,
                Err(e @ (Error::WalPoisoned(_) | Error::Closed)) => return Err(e),
                Ok(false) | Err(_) => superseded += 1,
            }
            logged.push(to.lsn());
        }
        Ok(ReplicatedBatch {
            applied,
            superseded,
            logged,
            durability: self.durability(to.lsn()),
        })
    }

    /// A replica's side, before a full copy: empties every database (logged as FLUSHALL).
    pub fn replica_reset(&self) -> Result<Durability> {
        let to = Appends::new();
        self.raw_keyspaces()
            .apply_record(&to, &Record::Flush { db: None })?;
        Ok(self.durability(to.lsn()))
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        AttrUpdate, ElementAdd, Engine, EngineConfig, Expiry, SetOptions, StorageMode, SyncPolicy,
        VectorSetOptions,
    };

    fn durable(dir: &std::path::Path) -> Engine {
        Engine::open(EngineConfig {
            data_dir: Some(dir.to_path_buf()),
            wal_sync: SyncPolicy::Never,
            checkpoint_on_close: false,
            active_expire_interval_ms: 0,
            ..EngineConfig::default()
        })
        .unwrap()
    }

    fn copy_into(master: &Engine, replica: &Engine) {
        let mut c = super::ImageCursor::default();
        while !c.done() {
            let piece = master.image_piece(&mut c, 200);
            let b = replica
                .apply_replicated(piece.iter().map(|(k, p)| (*k, &p[..])))
                .unwrap();
            b.durability.wait().unwrap();
        }
    }

    #[test]
    fn a_full_copy_then_the_backlog_rebuild_the_master_on_a_replica_that_restarts_from_it() {
        let (md, rd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let m = durable(md.path());
        let q8 = VectorSetOptions {
            storage: Some(StorageMode::Q8),
            ..Default::default()
        };
        for i in 0..300u32 {
            let k = format!("k{i}");
            let ttl = if i % 3 == 0 {
                Expiry::InMs(3_600_000)
            } else {
                Expiry::Never
            };
            m.set(
                k.as_bytes(),
                &i.to_le_bytes(),
                SetOptions {
                    expiry: ttl,
                    ..Default::default()
                },
            )
            .unwrap();
            let v = [1.0, i as f32, 0.25, -2.0];
            let name = format!("e{i}");
            let add = ElementAdd {
                attributes: if i % 2 == 0 {
                    AttrUpdate::Set("{\"i\":2}")
                } else {
                    AttrUpdate::Keep
                },
                expiry: ttl,
                ..ElementAdd::new(name.as_bytes(), &v)
            };
            m.vadd(b"exact", &VectorSetOptions::default(), add).unwrap();
            m.vadd(b"q", &q8, ElementAdd::new(name.as_bytes(), &v))
                .unwrap();
        }
        m.hset(b"h", &[(b"a", b"1"), (b"b", b"2")]).unwrap();
        m.select(3)
            .unwrap()
            .set(b"db3", b"x", SetOptions::default())
            .unwrap();
        m.swap_db(3, 4).unwrap();
        let backlog = m.replication_backlog(1 << 20).unwrap();
        let from = backlog.next_lsn();
        let r = durable(rd.path());
        r.set(b"stale", b"gone after the copy", SetOptions::default())
            .unwrap();
        r.replica_reset().unwrap().wait().unwrap();
        // Writes while the copy is taken, then the tail from before the copy.
        m.set(b"k1", b"during", SetOptions::default()).unwrap();
        copy_into(&m, &r);
        m.vrem(b"exact", b"e5").unwrap();
        m.del(&[b"k2"]).unwrap();
        let tail = match backlog.read_from(from, usize::MAX) {
            crate::wal::TailRead::Records(v) => v,
            other => panic!("{other:?}"),
        };
        assert_eq!(tail.len(), 3);
        r.apply_replicated(tail.iter().map(|t| (t.kind, &t.payload[..])))
            .unwrap()
            .durability
            .wait()
            .unwrap();
        let same = |r: &Engine| {
            assert_eq!(r.get(b"stale").unwrap(), None);
            assert_eq!(r.get(b"k1").unwrap().as_deref(), Some(&b"during"[..]));
            assert_eq!(r.get(b"k2").unwrap(), None);
            assert_eq!(r.ttl(b"k3"), m.ttl(b"k3"));
            assert_eq!(r.vcard(b"exact").unwrap(), 299);
            assert_eq!(r.vcard(b"q").unwrap(), 300);
            assert_eq!(
                r.vget_attr(b"exact", b"e4").unwrap(),
                m.vget_attr(b"exact", b"e4").unwrap()
            );
            assert_eq!(
                r.vttl(b"exact", b"e9").unwrap(),
                m.vttl(b"exact", b"e9").unwrap()
            );
            assert_eq!(
                r.vget(b"exact", b"e7").unwrap(),
                m.vget(b"exact", b"e7").unwrap()
            );
            assert_eq!(r.vget(b"q", b"e7").unwrap(), m.vget(b"q", b"e7").unwrap());
            assert_eq!(r.hgetall(b"h").unwrap(), m.hgetall(b"h").unwrap());
            // SWAPDB's map came along: database 4 names the keyspace holding db3.
            assert_eq!(
                r.select(4).unwrap().get(b"db3").unwrap().as_deref(),
                Some(&b"x"[..])
            );
            assert_eq!(r.dbsize(), m.dbsize());
        };
        same(&r);
        // The replica logged what it applied: it comes back with it.
        r.close().unwrap();
        drop(r);
        let r = durable(rd.path());
        same(&r);
    }

    #[test]
    fn an_engine_in_memory_has_no_log_to_follow() {
        let e = Engine::open(EngineConfig::default()).unwrap();
        assert!(matches!(
            e.replication_backlog(1024),
            Err(crate::Error::Unsupported(_))
        ));
    }
}
