//! The store's content as snapshot sections, and back.
//!
//! | kind | tag        | content                                                                  |
//! |------|------------|--------------------------------------------------------------------------|
//! | 1    | shard      | blobs: count u64, then count × (key: bytes, value: bytes, expires_at u64) |
//! | 2    | set number | set meta: key: bytes, key expires_at u64, dim u32, metric u8, storage u8 (as a `VAdd` record's, 0x80 flagging a projection), m u32, ef_construction u32, [projection input dim u32, with the flag], uid u64, slots u64 `n`, then n × (present u8; if 1: name: bytes, attr tag u8 [0 none, 1 + bytes], expires_at u64) |
//! | 3    | set number | f32 originals, `n × dim` (exact, noquant; else empty)                    |
//! | 4    | set number | INT8 codes, `n × dim` (q8); sign bits, `n × ⌈dim/64⌉ × 8` bytes (bin, bit `j` of a row in byte `j/8`, bit `j%8`); else empty (ignored if an exact set has them) |
//! | 5    | set number | f32 scales, `n`                                                          |
//! | 6    | set number | f32 norms, `n`                                                           |
//! | 8    | shard      | blobs of keyspaces other than 0: count u64, then count × (keyspace u32, key: bytes, value: bytes, expires_at u64) |
//! | 9    | set number | the set's keyspace u32, when not 0 (written just before the set's kind 2) |
//! | 10   | 0          | the databases' keyspaces (after a SWAPDB): count u32, then count × keyspace u32, database 0 first |
//! | 12   | set number | the set's graph layout (`GraphLayout::encode`: format 1 u8, traversal mode u8 [1 INT8, 2 f32, 3 4-bit], `M_max0` u32), when not the legacy one (INT8, `M_max0` = 2·M, 1.5·M for q8); written just before the set's kind 2 |
//! | 11   | shard      | hashes (when the shard has any): count u64, then count × (keyspace u32, key: bytes, expires_at u64, encoding u8 [0 listpack, 1 hashtable], n u32, n × (field: bytes, value: bytes)) |
//!
//! Kinds 1 and 2 alone are keyspace 0 (database 0), as snapshots were written before
//! databases existed; kinds 8–10 were added after them (kind 7 is the graph, below), and
//! kind 11 (hashes) after those, kind 12 (graph layouts) last: a set without it (every set of
//! older snapshots) has the legacy layout, so its saved graph is restored as it was built.
//!
//! Arrays (kinds 3–6) are mapped copy-on-write at open: restart does not read vectors.
//! Blob values (kinds 1 and 8) of `MAPPED_BLOB_MIN` bytes or more are served in place from a
//! read-only mapping of their section (`snapshot::BlobBytes`) until they are overwritten or
//! deleted; the section stays mapped while one of its values does.
//! The graph (kind 7) is mapped too and restored by the indexer after open, from the saved
//! lists and the set's vectors, without a distance computation; until then (and for any node
//! whose slot changed since), searches scan the not-yet-indexed slots exactly, as always.
//! Kind 8 came after the others: snapshots without it (older ones) hold no hashes, and a
//! reader that does not know it skips it.
//! Snapshots without kind 7 (older ones, sets without a graph) build the graph instead.
//! A snapshot is fuzzy (each shard is copied in pieces, each under the shard's read lock, so
//! writes wait for one piece at most) and carries the LSN taken before the first copy plus
//! the LSN the log had reached (and was made durable to) after the last; replaying the log
//! from the first makes it exact, because records are absolute (see `record`) and every
//! change the copy may have seen is one of them. A key met twice by the scan (written again
//! meanwhile) loads as its later copy.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::apply::HASH_OVERHEAD;
use super::arena::Arena;
use super::codec::{put_bytes, Reader};
use super::hash::HashValue;
use super::params::GraphLayout;
use super::record::{metric_code, metric_from, storage_code, storage_from, PROJECTED};
use super::shard::Shard;
use super::vindex::VIndex;
use super::{
    expired, AccessMeta, EntryRef, KeyEntry, Removal, SetParams, Store, Value, VectorSet, NO_ELEM,
};
use crate::error::{Error, Result};
use crate::snapshot::{RegionHandle, Snapshot, SnapshotWriter};

/// Blob values at least this long are served from the snapshot's mapping after a restart
/// (not copied); shorter ones are copied, as a copy costs less than the page they would pin.
pub(super) const MAPPED_BLOB_MIN: usize = 128;

const BLOBS: u32 = 1;
const SET_META: u32 = 2;
const SET_F32: u32 = 3;
const SET_CODES: u32 = 4;
const SET_SCALES: u32 = 5;
const SET_NORMS: u32 = 6;
const SET_GRAPH: u32 = 7;
const DB_BLOBS: u32 = 8;
const SET_DB: u32 = 9;
const DB_MAP: u32 = 10;
const HASHES: u32 = 11;
const SET_LAYOUT: u32 = 12;

/// Per-entry bytes of a blob in accounting (must match the engine's).
pub(crate) const BLOB_OVERHEAD: u64 = std::mem::size_of::<Option<KeyEntry>>() as u64 + 8 + 32 + 32;
/// Accounted bytes of a set's own key entry and headers.
pub(crate) const SET_OVERHEAD: u64 =
    std::mem::size_of::<Option<KeyEntry>>() as u64 + std::mem::size_of::<VectorSet>() as u64 + 64;

/// A vector set met by a snapshot's scan: its metadata, copied then, and what the snapshot
/// needs to copy its arrays piece by piece afterwards.
struct SetCopy {
    db: u32,
    key: Box<[u8]>,
    hash: u64,
    uid: u64,
    meta: Vec<u8>,
    /// The set's graph layout (kind 12), when not the legacy one.
    layout: Option<Vec<u8>>,
    /// Byte length and bytes per row of each array (f32s, codes, scales, norms) at the scan.
    arrays: [(usize, usize); 4],
    vindex: Option<Arc<VIndex>>,
}

/// A set's metadata section (kind 2).
fn set_meta(e: &KeyEntry, set: &VectorSet) -> Vec<u8> {
    let mut meta = Vec::new();
    put_bytes(&mut meta, &e.key);
    meta.extend_from_slice(&e.expires_at.to_le_bytes());
    let p = set.params;
    meta.extend_from_slice(&(p.dim as u32).to_le_bytes());
    meta.push(metric_code(p.metric));
    // A set with a projection (`REDUCE`) flags its storage byte and stores the projection's
    // input dimension after ef_construction (as a `VAdd` record does).
    let projected = p.projection != 0;
    meta.push(storage_code(p.storage) | if projected { PROJECTED } else { 0 });
    meta.extend_from_slice(&(p.m as u32).to_le_bytes());
    meta.extend_from_slice(&(p.ef_construction as u32).to_le_bytes());
    if projected {
        meta.extend_from_slice(&(p.projection as u32).to_le_bytes());
    }
    meta.extend_from_slice(&set.uid.to_le_bytes());
    meta.extend_from_slice(&(set.slot_capacity() as u64).to_le_bytes());
    for slot in set.slot_images() {
        match slot {
            None => meta.push(0),
            Some(s) => {
                meta.push(1);
                put_bytes(&mut meta, s.name);
                match s.attrs {
                    None => meta.push(0),
                    Some(a) => {
                        meta.push(1);
                        put_bytes(&mut meta, a.as_bytes());
                    }
                }
                meta.extend_from_slice(&s.expires_at.to_le_bytes());
            }
        }
    }
    meta
}

impl Store {
    /// Writes a snapshot of everything into `dir` and returns its path. `lsn` must have been
    /// read before this call (every record up to it is in the image).
    ///
    /// The copy is fuzzy: writes go on while it runs, as each shard is read in pieces of
    /// `snapshot_piece_bytes` (config) under its read lock, so the image may also hold effects of later
    /// records. `settle` runs once everything is copied: it must make the log durable up to
    /// an LSN covering every write the copy could have seen, and return that LSN, which the
    /// file records as the point a replay must reach (see the snapshot format).
    pub fn write_snapshot(
        &self,
        dir: &Path,
        lsn: u64,
        settle: impl FnOnce() -> Result<u64>,
    ) -> Result<PathBuf> {
        let now = self.now_ms();
        let mut w = SnapshotWriter::create(dir, lsn, now)?;
        let mut set_no = 0u32;
        let mut piece = Vec::new();
        let piece_bytes = self.cfg.snapshot_piece_bytes.max(1);
        for (i, shard) in self.shards.iter().enumerate() {
            let (blobs, db_blobs, hashes, sets) =
                Self::scan_shard(shard, &self.group_gate, now, piece_bytes);
            w.section(BLOBS, i as u32, &[&blobs])?;
            if db_blobs.len() > 8 {
                w.section(DB_BLOBS, i as u32, &[&db_blobs])?;
            }
            if hashes.len() > 8 {
                w.section(HASHES, i as u32, &[&hashes])?;
            }
            for set in &sets {
                if set.db != 0 {
                    w.section(SET_DB, set_no, &[&set.db.to_le_bytes()])?;
                }
                if let Some(layout) = &set.layout {
                    w.section(SET_LAYOUT, set_no, &[layout])?;
                }
                w.section(SET_META, set_no, &[&set.meta])?;
                for (k, kind) in [SET_F32, SET_CODES, SET_SCALES, SET_NORMS]
                    .into_iter()
                    .enumerate()
                {
                    w.begin_section(kind, set_no)?;
                    let (len, row) = set.arrays[k];
                    let step = (piece_bytes / row.max(1)).max(1) * row.max(1);
                    let mut at = 0;
                    while at < len {
                        let end = (at + step).min(len);
                        Self::copy_array(shard, &self.group_gate, set, k, at..end, &mut piece);
                        w.append(&piece)?;
                        at = end;
                    }
                }
                // The graph keeps its own lock: a node is saved with the version of the
                // vector it was linked for, so one whose slot changed since is re-linked
                // after the replay that brings the change.
                if let Some(graph) = set.vindex.as_ref().and_then(|ix| ix.image_bytes()) {
                    w.section(SET_GRAPH, set_no, &[&graph])?;
                }
                set_no += 1;
            }
        }
        // The map as it is after the copy: a SWAPDB logged after the snapshot's LSN sets
        // absolute entries again on replay, and keys never change keyspace in a swap.
        let map: Vec<u32> = self
            .db_map
            .iter()
            .map(|k| k.load(Ordering::SeqCst))
            .collect();
        if map.iter().enumerate().any(|(i, &k)| k != i as u32) {
            let mut bytes = (map.len() as u32).to_le_bytes().to_vec();
            for k in map {
                bytes.extend_from_slice(&k.to_le_bytes());
            }
            w.section(DB_MAP, 0, &[&bytes])?;
        }
        let consistent = settle()?;
        w.finish(consistent)
    }

    /// Copies one shard's blobs (section kind 1, count first), hashes (kind 8, count first)
    /// and its sets' metadata, in
    /// pieces: the read lock is released after every `piece_bytes` copied. Slots never move,
    /// so the scan goes on from the next slot; a key written meanwhile may be met twice or
    /// not at all, and the log's later records settle it on replay.
    fn scan_shard(
        shard: &Shard,
        gate: &parking_lot::RwLock<()>,
        now: u64,
        piece_bytes: usize,
    ) -> (Vec<u8>, Vec<u8>, Vec<u8>, Vec<SetCopy>) {
        let mut blobs = vec![0u8; 8];
        let mut count = 0u64;
        let mut db_blobs = vec![0u8; 8];
        let mut db_count = 0u64;
        let mut hashes = vec![0u8; 8];
        let mut hash_count = 0u64;
        let mut sets = Vec::new();
        let mut next = 0usize;
        loop {
            // No piece sees part of a MULTI/EXEC group (see `Store::grouped`).
            let _group = gate.read();
            let data = shard.data.read();
            let mut copied = 0usize;
            let mut more = false;
            for (slot, e) in data.slots_from(next) {
                next = slot as usize + 1;
                if expired(e.expires_at, now) {
                    continue;
                }
                match &e.value {
                    Value::Blob { data: v, .. } => {
                        let out = if e.db == 0 {
                            count += 1;
                            &mut blobs
                        } else {
                            db_count += 1;
                            db_blobs.extend_from_slice(&e.db.to_le_bytes());
                            &mut db_blobs
                        };
                        put_bytes(out, &e.key);
                        put_bytes(out, v);
                        out.extend_from_slice(&e.expires_at.to_le_bytes());
                        copied += e.key.len() + v.len() + 16;
                    }
                    Value::Hash(hv) => {
                        let at = hashes.len();
                        hashes.extend_from_slice(&e.db.to_le_bytes());
                        put_bytes(&mut hashes, &e.key);
                        hashes.extend_from_slice(&e.expires_at.to_le_bytes());
                        hashes.push(u8::from(!hv.listpack));
                        hashes.extend_from_slice(&(hv.fields.len() as u32).to_le_bytes());
                        for (f, v) in &hv.fields {
                            put_bytes(&mut hashes, f);
                            put_bytes(&mut hashes, v);
                        }
                        hash_count += 1;
                        copied += hashes.len() - at;
                    }
                    Value::VSet(set) => {
                        let meta = set_meta(e, set);
                        copied += meta.len();
                        let d = set.params.dim;
                        let rows = [d * 4, set.code_row().max(1), 4, 4];
                        let parts = set.arena_bytes();
                        sets.push(SetCopy {
                            db: e.db,
                            key: e.key.clone(),
                            hash: e.hash,
                            uid: set.uid,
                            meta,
                            layout: (set.layout != GraphLayout::legacy(&set.params))
                                .then(|| set.layout.encode()),
                            arrays: std::array::from_fn(|k| {
                                (parts[k][0].len() + parts[k][1].len(), rows[k])
                            }),
                            vindex: set.vindex.clone(),
                        });
                    }
                }
                if copied >= piece_bytes {
                    more = true;
                    break;
                }
            }
            drop(data);
            if !more {
                break;
            }
        }
        blobs[..8].copy_from_slice(&count.to_le_bytes());
        db_blobs[..8].copy_from_slice(&db_count.to_le_bytes());
        hashes[..8].copy_from_slice(&hash_count.to_le_bytes());
        (blobs, db_blobs, hashes, sets)
    }

    /// Copies bytes `range` of array `k` of `set` into `out` (replacing its content), under
    /// the shard's read lock. If the set is gone or smaller since the scan, the rest is
    /// zeros: the records that removed it follow the snapshot's LSN in the log.
    fn copy_array(
        shard: &Shard,
        gate: &parking_lot::RwLock<()>,
        set: &SetCopy,
        k: usize,
        range: Range<usize>,
        out: &mut Vec<u8>,
    ) {
        out.clear();
        let _group = gate.read();
        let data = shard.data.read();
        let current = data
            .find(set.hash, set.db, &set.key)
            .and_then(|s| data.entry(s))
            .and_then(|e| match &e.value {
                Value::VSet(v) if v.uid == set.uid => Some(v),
                _ => None,
            });
        if let Some(v) = current {
            let [head, tail] = v.arena_bytes()[k];
            let (a, b) = (range.start, range.end);
            if a < head.len() {
                out.extend_from_slice(&head[a..b.min(head.len())]);
            }
            let (ta, tb) = (a.max(head.len()) - head.len(), b.saturating_sub(head.len()));
            if ta < tb.min(tail.len()) {
                out.extend_from_slice(&tail[ta..tb.min(tail.len())]);
            }
        }
        drop(data);
        out.resize(range.len(), 0);
    }

    /// Loads a validated snapshot into an empty store. Entries whose expiry passed are skipped.
    pub fn load_snapshot(&self, snap: &Snapshot) -> Result<()> {
        let now = self.now_ms();
        let path = snap.path().display().to_string();
        let wrap = |e: Error| match e {
            Error::Corrupt { offset, reason, .. } => Error::Corrupt {
                file: path.clone(),
                offset,
                reason,
            },
            other => other,
        };
        // A set's keyspace and layout sections come just before its metadata.
        let mut set_db: Option<(u32, u32)> = None;
        let mut set_layout: Option<(u32, &[u8])> = None;
        for (kind, tag, bytes) in snap.sections() {
            match kind {
                BLOBS | DB_BLOBS => {
                    // Served in place from a read-only mapping of the section (values of
                    // `MAPPED_BLOB_MIN` bytes or more; shorter ones are copied).
                    let region = snap.map_section_shared(kind, tag)?.map(RegionHandle::new);
                    let bytes = region.as_ref().map_or(bytes, |r| r.bytes());
                    self.load_blobs(bytes, region.as_ref(), now, kind == DB_BLOBS)
                        .map_err(wrap)?
                }
                HASHES => self.load_hashes(bytes, now).map_err(wrap)?,
                SET_DB => {
                    let mut r = Reader::new(bytes, "snapshot set keyspace");
                    set_db = Some((tag, self.read_db(&mut r)?));
                    r.finish().map_err(wrap)?;
                }
                SET_LAYOUT => set_layout = Some((tag, bytes)),
                SET_META => {
                    let db = match set_db.take() {
                        Some((t, db)) if t == tag => db,
                        _ => 0,
                    };
                    let layout = match set_layout.take() {
                        Some((t, b)) if t == tag => Some(b),
                        _ => None,
                    };
                    self.load_set(snap, tag, db, layout, bytes, now)
                        .map_err(wrap)?
                }
                DB_MAP => self.load_db_map(bytes).map_err(wrap)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn load_db_map(&self, bytes: &[u8]) -> Result<()> {
        let mut r = Reader::new(bytes, "snapshot database map");
        let n = r.u32()? as usize;
        let mut map = Vec::with_capacity(n.min(bytes.len() / 4));
        for _ in 0..n {
            map.push(r.u32()?);
        }
        r.finish()?;
        // Databases beyond this run's count are dropped from the map (their keys stay under
        // their keyspaces, out of reach, as Redis cannot load them either); the rest must
        // still name distinct keyspaces.
        let mut seen = std::collections::HashSet::new();
        if map.iter().any(|k| !seen.insert(*k)) {
            return Err(r.bad("two databases name one keyspace"));
        }
        for (db, ks) in map.into_iter().enumerate() {
            if let Some(slot) = self.db_map.get(db) {
                slot.store(ks, Ordering::SeqCst);
            }
        }
        Ok(())
    }

    fn insert_key(
        &self,
        db: u32,
        key: &[u8],
        expires_at: u64,
        value: Value,
        bytes: u64,
    ) -> Result<u32> {
        let h = self.hash(key);
        let shard = &self.shards[Store::shard_of(h)];
        let mut data = shard.data.write();
        // A key the fuzzy copy met twice (written again during the scan): the later copy
        // stands; the log's records after the snapshot's LSN settle it either way.
        if let Some(old) = data.find(h, db, key) {
            self.remove_key(&mut data, old, Removal::Deleted);
        }
        let is_set = matches!(value, Value::VSet(_));
        if let Value::VSet(set) = &value {
            self.register_set(key, &set.counters);
        }
        let (entries, set_bytes) = match &value {
            Value::Blob { .. } | Value::Hash(_) => (1, 0),
            Value::VSet(s) => (s.len(), s.bytes + s.slack),
        };
        let logged = self.cfg.live.access_logged();
        let accesses: Vec<(u64, u32)> = match &value {
            _ if !logged => Vec::new(),
            Value::Blob { meta, .. } => vec![(meta.last_tick(), NO_ELEM)],
            Value::Hash(hv) => vec![(hv.meta.last_tick(), NO_ELEM)],
            Value::VSet(s) => s
                .live_slots()
                .filter_map(|sl| s.elem(sl).map(|e| (e.meta.last_tick(), sl)))
                .collect(),
        };
        let expiries: Vec<(u64, u32)> = match &value {
            Value::Blob { .. } | Value::Hash(_) => vec![(expires_at, NO_ELEM)],
            Value::VSet(s) => s
                .live_slots()
                .filter_map(|sl| s.elem(sl).map(|e| (e.expires_at, sl)))
                .chain(std::iter::once((expires_at, NO_ELEM)))
                .collect(),
        };
        let slot = data.insert(KeyEntry {
            db,
            key: key.into(),
            hash: h,
            expires_at,
            value,
            bytes,
        });
        data.entries += entries;
        for (at, elem) in expiries {
            data.push_expiry(at, EntryRef { key: slot, elem });
        }
        if logged {
            shard.access.lock().extend(
                accesses
                    .into_iter()
                    .map(|(t, elem)| (t, EntryRef { key: slot, elem })),
            );
        }
        self.counters.keys.fetch_add(1, Ordering::Relaxed);
        if is_set {
            self.counters.vsets.fetch_add(1, Ordering::Relaxed);
        }
        self.account(entries as i64, (bytes + set_bytes) as i64);
        Ok(slot)
    }

    /// A database index read from a snapshot: one of this store's databases. A larger one is
    /// a file written with more `databases` (Redis refuses to load such an RDB too) or damage
    /// the checksums missed; the snapshot_load fuzz target found an index of about 2^32 making
    /// the load grow the per-database counters to 137 GB (an allocation failure, an abort).
    fn read_db(&self, r: &mut Reader<'_>) -> Result<u32> {
        let db = r.u32()?;
        if db >= self.cfg.databases.max(1) {
            return Err(r.bad("database index out of range"));
        }
        Ok(db)
    }

    /// Loads a blobs section (`bytes`; when `region` is given, `bytes` are its mapping and
    /// values of at least [`MAPPED_BLOB_MIN`] bytes point into it instead of being copied).
    fn load_blobs(
        &self,
        bytes: &[u8],
        region: Option<&RegionHandle>,
        now: u64,
        with_db: bool,
    ) -> Result<()> {
        let mut r = Reader::new(bytes, "snapshot blobs");
        let n = r.u64()?;
        for _ in 0..n {
            let db = if with_db { self.read_db(&mut r)? } else { 0 };
            let key = r.bytes()?;
            let value = r.bytes()?;
            let at = r.u64()?;
            if expired(at, now) {
                continue;
            }
            let meta = AccessMeta::new(self.next_tick(), now);
            let b = key.len() as u64 + value.len() as u64 + BLOB_OVERHEAD;
            let mapped = region
                .filter(|_| value.len() >= MAPPED_BLOB_MIN)
                .and_then(|reg| {
                    reg.value(
                        value.as_ptr() as usize - bytes.as_ptr() as usize,
                        value.len(),
                    )
                });
            self.insert_key(
                db,
                key,
                at,
                Value::Blob {
                    data: mapped.unwrap_or_else(|| value.into()),
                    meta,
                },
                b,
            )?;
        }
        r.finish()
    }

    fn load_hashes(&self, bytes: &[u8], now: u64) -> Result<()> {
        let mut r = Reader::new(bytes, "snapshot hashes");
        let n = r.u64()?;
        for _ in 0..n {
            let db = self.read_db(&mut r)?;
            let key = r.bytes()?;
            let at = r.u64()?;
            let encoding = r.u8()?;
            if encoding > 1 {
                return Err(r.bad("unknown hash encoding"));
            }
            let fields = r.u32()? as usize;
            if fields > bytes.len() {
                return Err(r.bad("implausible field count"));
            }
            let mut hv = HashValue::new(AccessMeta::new(self.next_tick(), now));
            hv.fields.reserve(fields);
            for _ in 0..fields {
                let (f, v) = (r.bytes()?, r.bytes()?);
                hv.fields.insert(f.into(), v.into());
            }
            hv.listpack = encoding == 0 && hv.fits_listpack();
            if expired(at, now) || hv.fields.is_empty() {
                continue;
            }
            let b = key.len() as u64 + HASH_OVERHEAD + hv.bytes();
            self.insert_key(db, key, at, Value::Hash(Box::new(hv)), b)?;
        }
        r.finish()
    }

    /// Loads a set from its metadata section (`bytes`) and its other sections (`tag`), with
    /// its layout section when the snapshot has one.
    fn load_set(
        &self,
        snap: &Snapshot,
        tag: u32,
        db: u32,
        layout: Option<&[u8]>,
        bytes: &[u8],
        now: u64,
    ) -> Result<()> {
        let mut r = Reader::new(bytes, "snapshot set");
        let key = r.bytes()?;
        let key_at = r.u64()?;
        let dim = r.u32()? as usize;
        let metric = metric_from(r.u8()?).ok_or_else(|| r.bad("unknown metric"))?;
        let code = r.u8()?;
        let storage = storage_from(code & !PROJECTED).ok_or_else(|| r.bad("unknown storage"))?;
        let m = r.u32()? as usize;
        let ef_construction = r.u32()? as usize;
        let projection = if code & PROJECTED != 0 {
            match r.u32()? as usize {
                0 => return Err(r.bad("a projection from dimension 0")),
                p => p,
            }
        } else {
            0
        };
        let uid = r.u64()?;
        let n = r.u64()? as usize;
        if dim == 0 || n > bytes.len() {
            return Err(r.bad("implausible dimension or slot count"));
        }
        // Later sets get larger uids (`bump_uid`): the last value leaves none to give (the
        // snapshot_load fuzz target found it overflowing).
        if uid == u64::MAX {
            return Err(r.bad("set uid out of range"));
        }
        let mut slots = Vec::with_capacity(n);
        for _ in 0..n {
            match r.u8()? {
                0 => slots.push(None),
                1 => {
                    let name: Box<[u8]> = r.bytes()?.into();
                    let attrs = match r.u8()? {
                        0 => None,
                        1 => Some(Box::<str>::from(r.str()?)),
                        _ => return Err(r.bad("unknown attribute tag")),
                    };
                    let at = r.u64()?;
                    let h = self.hash(&name);
                    slots.push(Some((name, h, attrs, at)));
                }
                _ => return Err(r.bad("unknown slot tag")),
            }
        }
        r.finish()?;
        if expired(key_at, now) {
            return Ok(());
        }
        let bad = |what: &str| Error::Corrupt {
            file: String::new(),
            offset: 0,
            reason: format!("vector set '{}': {what}", String::from_utf8_lossy(key)),
        };
        let params = SetParams {
            dim,
            metric,
            storage,
            m,
            ef_construction,
            projection,
        };
        let arena =
            |kind: u32, elem: usize| -> Result<Option<(crate::snapshot::MappedArray, usize)>> {
                let map = snap
                    .map_section(kind, tag)?
                    .ok_or_else(|| bad("an array section is missing"))?;
                let len = map.bytes().len();
                if len % elem != 0 {
                    return Err(bad("an array section has a partial element"));
                }
                Ok(Some((map, len / elem)))
            };
        let mk_f32 = |kind| -> Result<Arena<f32>> {
            let (m, len) = arena(kind, 4)?.expect("some");
            Arena::from_mapped(m, len).ok_or_else(|| bad("array section too short"))
        };
        let (cm, clen) = arena(SET_CODES, 1)?.expect("some");
        let codes = Arena::from_mapped(cm, clen).ok_or_else(|| bad("codes too short"))?;
        let set = VectorSet::from_image(
            params,
            uid,
            slots,
            mk_f32(SET_F32)?,
            codes,
            mk_f32(SET_SCALES)?,
            mk_f32(SET_NORMS)?,
            || self.next_tick(),
            now,
        )
        .ok_or_else(|| bad("arrays do not match the slots"))?;
        if set.len() == 0 {
            return Ok(());
        }
        let mut set = set;
        // Before the index is made: a saved graph is restored into lists of its own width.
        set.layout = match layout {
            Some(b) => GraphLayout::decode(b, &params).map_err(|e| bad(&e))?,
            None => GraphLayout::legacy(&params),
        };
        set.maybe_index(self.cfg.index_min_elements);
        if let Some(ix) = &set.vindex {
            if let Some(graph) = snap.map_section(SET_GRAPH, tag)? {
                if !graph.bytes().is_empty() {
                    ix.set_saved(graph);
                }
            }
        }
        // Queued here, once: the flag must not queue it again at the first write.
        let wants = std::mem::take(&mut set.index_wants_queue);
        let weak = set.vindex.as_ref().map(std::sync::Arc::downgrade);
        self.bump_uid(uid);
        self.insert_key(db, key, key_at, Value::VSet(Box::new(set)), SET_OVERHEAD)?;
        if let (true, Some(w)) = (wants, weak) {
            self.index_queue.lock().push_back((key.into(), w));
            self.index_cv.notify_one();
        }
        Ok(())
    }
}

/// The graph image a snapshot holds (its first set's), for tests above the store.
#[cfg(test)]
pub(crate) fn first_graph_image(snap: &Snapshot) -> crate::index::Image {
    let (_, _, bytes) = snap
        .sections()
        .find(|&(kind, _, _)| kind == SET_GRAPH)
        .expect("a graph section");
    crate::index::Image::decode(bytes).unwrap()
}

#[cfg(test)]
mod tests;
