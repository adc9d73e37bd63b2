//! What a set is: cardinality, dimension, VINFO, OBJECT/MEMORY facts, random members.

use crate::engine::api::Engine;
use crate::engine::config::EvictionPolicy;
use crate::engine::types::*;
use crate::error::{Error, Result};
use crate::store::{expired, ShardData, Value, SET_OVERHEAD};

impl Engine {
    pub(super) fn check_set_type(&self, data: &ShardData, h: u64, key: &[u8]) -> Result<()> {
        match data
            .find(h, self.ks(), key)
            .and_then(|s| data.entry(s))
            .map(|e| &e.value)
        {
            Some(Value::Blob { .. }) => Err(Error::WrongType),
            _ => Ok(()),
        }
    }

    /// Number of live elements (0 for a missing key).
    pub fn vcard(&self, key: &[u8]) -> Result<u64> {
        self.check_key(key)?;
        self.store.reclaim_due(self.locate(key).1);
        Ok(self.with_set(key, |s, _| Ok(s.len() as u64))?.unwrap_or(0))
    }

    /// Dimension of the set; `None` for a missing key.
    pub fn vdim(&self, key: &[u8]) -> Result<Option<usize>> {
        self.with_set(key, |s, _| Ok(s.params.dim))
    }

    /// Description of the set; `None` for a missing key.
    pub fn vinfo(&self, key: &[u8]) -> Result<Option<VectorSetInfo>> {
        self.check_key(key)?;
        self.store.reclaim_due(self.locate(key).1);
        self.with_set(key, |s, _| {
            Ok(VectorSetInfo {
                dim: s.params.dim,
                metric: s.params.metric,
                storage: s.params.storage,
                m: s.params.m,
                ef_construction: s.params.ef_construction,
                projection_input_dim: s.params.projection,
                size: s.len(),
                attributes_count: s.attrs_count,
                uid: s.uid,
                max_slot: s.slot_capacity() as u64,
                max_level: s
                    .vindex
                    .as_ref()
                    .map_or(0, |ix| ix.graph().stats().max_level),
                index_nodes: s.vindex.as_ref().map_or(0, |ix| ix.graph().len()),
                index_pending: s.vindex.as_ref().map_or(0, |ix| ix.pending_len()),
                index_restored: s.vindex.as_ref().map_or(0, |ix| ix.restored_nodes()),
                memory_bytes: s.bytes + s.slack + SET_OVERHEAD + s.index_bytes(),
            })
        })
    }

    /// [`Engine::vinfo`] once the set's graph holds every element as it is now (the
    /// indexer's pending work done on the calling thread), so `max_level` is that of the
    /// current elements, as Redis's VINFO reports it (Redis changes its graph before a write
    /// answers). `index_pending` is then 0.
    pub fn vinfo_current(&self, key: &[u8]) -> Result<Option<VectorSetInfo>> {
        self.graph_now(key, false)?;
        self.vinfo(key)
    }

    /// What a key is, the bytes it accounts for and (under `lfu`) its access frequency,
    /// without counting as an access (OBJECT, MEMORY USAGE). `None` for a missing or expired
    /// key.
    pub fn key_info(&self, key: &[u8]) -> Result<Option<KeyInfo>> {
        self.check_key(key)?;
        let (h, shard) = self.locate(key);
        let now = self.store.now_ms();
        let lfu = self.store.cfg.live.policy() == EvictionPolicy::Lfu;
        let data = shard.data.read();
        let Some(entry) = data.find(h, self.ks(), key).and_then(|s| data.entry(s)) else {
            return Ok(None);
        };
        if expired(entry.expires_at, now) {
            return Ok(None);
        }
        Ok(Some(match &entry.value {
            Value::Blob { meta, .. } => KeyInfo {
                kind: KeyKind::Blob,
                memory_bytes: entry.bytes,
                lfu_frequency: lfu.then(|| meta.frequency(now)),
                storage: None,
                hash_encoding: None,
            },
            Value::Hash(hv) => KeyInfo {
                kind: KeyKind::Hash,
                memory_bytes: entry.bytes,
                lfu_frequency: lfu.then(|| hv.meta.frequency(now)),
                storage: None,
                hash_encoding: Some(hv.encoding()),
            },
            Value::VSet(s) => KeyInfo {
                kind: KeyKind::VectorSet,
                memory_bytes: s.bytes + s.slack + SET_OVERHEAD + s.index_bytes(),
                lfu_frequency: lfu.then(|| {
                    s.live_slots()
                        .filter_map(|slot| s.elem(slot))
                        .filter(|e| !expired(e.expires_at, now))
                        .map(|e| e.meta.frequency(now))
                        .max()
                        .unwrap_or(0)
                }),
                storage: Some(s.params.storage),
                hash_encoding: None,
            },
        }))
    }

    /// Random elements: `count > 0` distinct (at most the set's size), `count < 0` may repeat
    /// (exactly |count|), as Redis's VRANDMEMBER.
    pub fn vrandmember(&self, key: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
        let now = self.store.now_ms();
        let store = &self.store;
        Ok(self
            .with_set(key, |set, _| {
                let live = |s: u32| set.elem(s).filter(|e| !expired(e.expires_at, now));
                let mut out = Vec::new();
                if count >= 0 {
                    let want = (count as u64).min(set.len() as u64) as usize;
                    if want * 2 >= set.len() {
                        let mut all: Vec<u32> = set.live_slots().collect();
                        for i in (1..all.len()).rev() {
                            all.swap(i, (store.random() % (i as u64 + 1)) as usize);
                        }
                        out.extend(
                            all.into_iter()
                                .filter_map(live)
                                .take(want)
                                .map(|e| e.name.to_vec()),
                        );
                    } else {
                        let mut seen = hashbrown::HashSet::new();
                        while out.len() < want {
                            let Some(s) = set.random_slot(store.random()) else {
                                break;
                            };
                            if seen.insert(s) {
                                if let Some(e) = live(s) {
                                    out.push(e.name.to_vec());
                                }
                            }
                            if seen.len() >= set.len() {
                                break;
                            }
                        }
                    }
                } else {
                    let want = count.unsigned_abs().min(1 << 20) as usize;
                    let mut misses = 0;
                    while out.len() < want && misses < want * 4 + 64 {
                        match set.random_slot(store.random()).and_then(live) {
                            Some(e) => out.push(e.name.to_vec()),
                            None => misses += 1,
                        }
                    }
                }
                Ok(out)
            })?
            .unwrap_or_default())
    }
}
