//! The store as records: a full copy for a replica, made of the same [`Record`]s the log
//! holds (each with absolute values), so a replica rebuilds it by applying them as it
//! applies the log.
//!
//! The copy is taken in pieces, each under one shard's read lock, while writes go on. It is
//! fuzzy as a snapshot is: a record logged after the copy began may or may not be reflected
//! in it. Applying, after the copy, every record logged from before its start on (the
//! replication backlog holds them) ends in the master's state, since records are absolute
//! and applying one over a state that already reflects it changes nothing.

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use super::record::{AddRec, Record};
use super::{expired, Store, Value};

/// Where a copy stands between two pieces ([`Store::image_piece`]).
#[derive(Clone, Debug, Default)]
pub struct ImageCursor {
    /// The database map was copied.
    map_done: bool,
    shard: usize,
    /// The next key slot of the shard.
    key: usize,
    /// The next element slot of the vector set at `key` (0: the set starts there).
    elem: usize,
    done: bool,
}

impl ImageCursor {
    /// Whether the whole store was copied.
    pub fn done(&self) -> bool {
        self.done
    }
}

/// Elements of one `VAdd` record of the copy (at most).
const ELEMENTS_PER_RECORD: usize = 1024;
/// Fields of one `HSet` record of the copy (at most).
const FIELDS_PER_RECORD: usize = 4096;

fn push(out: &mut Vec<(u8, Vec<u8>)>, rec: &Record<'_>) -> usize {
    let mut buf = Vec::new();
    rec.encode(&mut buf);
    let n = buf.len();
    out.push((rec.kind(), buf));
    n
}

impl Store {
    /// The next piece of a full copy, as encoded records (kind, payload) appended to `out`:
    /// about `budget` bytes, all read under one shard's read lock. The first piece starts
    /// with the database map (one `DbMap` record per database); a blob is one `SetBlob`, a
    /// hash `HSet` records (the first replaces the key), a vector set `VAdd` records of its
    /// elements with their attributes and TTLs (vectors as reads return them: `q8` and `bin`
    /// sets give their stored codes back, which the replica stores again) followed by an
    /// `ExpireKey` when the set has a TTL. Expired entries are left out. Nothing more to do
    /// once [`ImageCursor::done`].
    pub fn image_piece(&self, c: &mut ImageCursor, budget: usize, out: &mut Vec<(u8, Vec<u8>)>) {
        if c.done {
            return;
        }
        let mut bytes = 0;
        if !c.map_done {
            for (db, ks) in self.db_map.iter().enumerate() {
                let ks = ks.load(Ordering::SeqCst);
                let db = db as u32;
                bytes += push(
                    out,
                    &Record::DbMap {
                        a: db,
                        to_a: ks,
                        b: db,
                        to_b: ks,
                    },
                );
            }
            c.map_done = true;
        }
        while c.shard < self.shards.len() {
            let data = self.shards[c.shard].data.read();
            let now = self.now_ms();
            for (slot, e) in data.slots_from(c.key) {
                if bytes >= budget {
                    c.key = slot as usize;
                    return;
                }
                c.key = slot as usize;
                if expired(e.expires_at, now) {
                    continue;
                }
                let (db, key) = (e.db, &e.key[..]);
                match &e.value {
                    Value::Blob { data, .. } => {
                        bytes += push(
                            out,
                            &Record::SetBlob {
                                db,
                                key,
                                value: data,
                                expires_at: e.expires_at,
                            },
                        );
                    }
                    Value::Hash(h) => {
                        let fields: Vec<(&[u8], &[u8])> =
                            h.fields.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                        for (i, chunk) in fields.chunks(FIELDS_PER_RECORD).enumerate() {
                            bytes += push(
                                out,
                                &Record::HSet {
                                    db,
                                    key,
                                    fresh: (i == 0).then_some(e.expires_at),
                                    pairs: chunk.to_vec(),
                                },
                            );
                        }
                    }
                    Value::VSet(set) => {
                        let slots: Vec<u32> =
                            set.live_slots().filter(|&s| s as usize >= c.elem).collect();
                        let dim = set.params.dim;
                        let mut at = 0;
                        while at < slots.len() {
                            let mut adds = Vec::new();
                            while at < slots.len() && adds.len() < ELEMENTS_PER_RECORD {
                                let s = slots[at];
                                at += 1;
                                let Some(el) = set.elem(s) else { continue };
                                if expired(el.expires_at, now) {
                                    continue;
                                }
                                let mut v = vec![0f32; dim];
                                set.read_vector(s, &mut v);
                                adds.push(AddRec {
                                    name: &el.name,
                                    vector: Cow::Owned(v),
                                    attrs: Some(el.attrs.as_deref()),
                                    expires_at: el.expires_at,
                                });
                            }
                            if !adds.is_empty() {
                                bytes += push(
                                    out,
                                    &Record::VAdd {
                                        db,
                                        key,
                                        params: set.params,
                                        adds,
                                    },
                                );
                            }
                            if bytes >= budget && at < slots.len() {
                                // The rest of this set in the next piece.
                                c.elem = slots[at] as usize;
                                return;
                            }
                        }
                        c.elem = 0;
                        if e.expires_at != 0 {
                            bytes += push(
                                out,
                                &Record::ExpireKey {
                                    db,
                                    key,
                                    at: e.expires_at,
                                },
                            );
                        }
                    }
                }
            }
            drop(data);
            c.shard += 1;
            c.key = 0;
            c.elem = 0;
        }
        c.done = true;
    }
}
