//! Warm-up after a restart (issue #15 point 5): the shard pages in its hot set first, then the
//! rest, and says when it is warm.
//!
//! The hot set is the most looked-up elements of each vector set, counted from the lookup log
//! (`crate::analytics::log`, the same log `ANALYTICS HOT` reads) and written by name to
//! `<data dir>/analytics/hot.set` at every snapshot, at close, and once a minute while lookups
//! come in (so a kill -9 loses at most a minute of it). After a restart from a snapshot, the
//! vectors are private mappings of the snapshot file (`store::arena`): nothing is read until
//! touched. A `sutra-warmup` thread then (1) pages in the rows (vector, codes, scale, norm)
//! of every element of the saved hot set, (2) pages in every other mapped row, set by set, a
//! chunk of slots per hold of the shard's read lock, and (3) waits until every graph saved in
//! the snapshot has been restored by the indexer (the HNSW graph is rebuilt on the heap from
//! the image it saved, so its pages are in memory once restored). Paging in is
//! `madvise(MADV_WILLNEED)` over the rows' bytes, then a read of one byte per page.
//!
//! [`WarmStatus`] reports the phase; `/health` shows it. An engine without a data directory,
//! or one that loaded no snapshot, is warm at once (everything it holds is on the heap).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

use crate::analytics::log::{set_tag, Ev};
use crate::analytics::topk::SpaceSaving;
use crate::analytics::Analytics;
use crate::error::{Error, Result};
use crate::store::{Store, Value};

/// Elements of each vector set the hot set keeps (the most looked up).
pub const HOT_PER_SET: usize = 1_024;
/// Counters of the space-saving summary per set while the hot set is counted (40 bytes each).
const HOT_COUNTERS: usize = 2 * HOT_PER_SET;
/// Vector sets the hot set keeps at most (those with the most lookups in the log).
pub const HOT_SETS: usize = 256;
/// Slots paged in per hold of a shard's read lock.
const CHUNK_SLOTS: usize = 4_096;
/// Seconds between two writes of the hot set while lookups come in.
pub const HOT_SAVE_EVERY_S: u64 = 60;

const MAGIC: &[u8; 8] = b"SUTRAHOT";
const VERSION: u32 = 1;
const FILE: &str = "hot.set";

/// Phases, in order.
const PHASES: [&str; 4] = ["hot set", "rest", "index", "warm"];

/// Where the warm-up is (shared by the engine and its `sutra-warmup` thread).
#[derive(Debug)]
pub(crate) struct WarmState {
    phase: AtomicU8,
    hot_elements: AtomicU64,
    hot_paged: AtomicU64,
    bytes_paged: AtomicU64,
    graphs_pending: AtomicU64,
    started: Instant,
    took_ms: AtomicU64,
    /// The log's `recorded()` at the last write of the hot set.
    pub saved_at_recorded: AtomicU64,
    /// Store time (ms) of the last write of the hot set.
    pub saved_at_ms: AtomicU64,
}

/// What [`crate::Engine::warm_status`] reports.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WarmStatus {
    /// Whether the hot set, every other mapped row and every saved graph are in memory.
    pub warm: bool,
    /// `hot set`, `rest`, `index` (waiting for saved graphs to be restored) or `warm`.
    pub phase: &'static str,
    /// Elements in the hot set saved before the restart.
    pub hot_elements: u64,
    /// Of those, found and paged in.
    pub hot_paged: u64,
    /// Bytes of mapped rows paged in so far.
    pub bytes_paged: u64,
    /// Vector sets whose saved graph is not restored yet (in phase `index`).
    pub graphs_pending: u64,
    /// Seconds the warm-up took (so far, while not warm).
    pub seconds: f64,
}

impl WarmState {
    /// A state already warm (nothing mapped to page in).
    pub fn warm() -> Self {
        let s = Self::cold();
        s.phase.store(3, Ordering::SeqCst);
        s
    }

    /// A state at the start of the warm-up.
    pub fn cold() -> Self {
        Self {
            phase: AtomicU8::new(0),
            hot_elements: AtomicU64::new(0),
            hot_paged: AtomicU64::new(0),
            bytes_paged: AtomicU64::new(0),
            graphs_pending: AtomicU64::new(0),
            started: Instant::now(),
            took_ms: AtomicU64::new(0),
            saved_at_recorded: AtomicU64::new(0),
            saved_at_ms: AtomicU64::new(0),
        }
    }

    pub fn status(&self) -> WarmStatus {
        let phase = self.phase.load(Ordering::SeqCst).min(3);
        let seconds = if phase == 3 {
            self.took_ms.load(Ordering::Relaxed) as f64 / 1000.0
        } else {
            self.started.elapsed().as_secs_f64()
        };
        WarmStatus {
            warm: phase == 3,
            phase: PHASES[phase as usize],
            hot_elements: self.hot_elements.load(Ordering::Relaxed),
            hot_paged: self.hot_paged.load(Ordering::Relaxed),
            bytes_paged: self.bytes_paged.load(Ordering::Relaxed),
            graphs_pending: self.graphs_pending.load(Ordering::Relaxed),
            seconds,
        }
    }

    fn enter(&self, phase: u8) {
        if phase == 3 {
            self.took_ms
                .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        }
        self.phase.store(phase, Ordering::SeqCst);
    }
}

/// The hot set's file in a data directory.
pub(crate) fn hot_path(data_dir: &Path) -> PathBuf {
    data_dir.join("analytics").join(FILE)
}

/// One vector set's hot elements: (keyspace, set name, element names, most looked up first).
pub(crate) type HotSet = Vec<HotOfSet>;
/// (keyspace, set name, element names).
pub(crate) type HotOfSet = (u32, Vec<u8>, Vec<Vec<u8>>);

/// Counts the hot set from the whole lookup log: for each vector set (at most [`HOT_SETS`],
/// those with the most lookups), its [`HOT_PER_SET`] most looked-up live elements.
pub(crate) fn count_hot_set(store: &Store, an: &Analytics) -> HotSet {
    let mut per_tag: HashMap<u64, SpaceSaving> = HashMap::new();
    an.log.scan(0, u64::MAX, |e| {
        if e.ev != Ev::Write && (per_tag.len() < 4 * HOT_SETS || per_tag.contains_key(&e.set)) {
            per_tag
                .entry(e.set)
                .or_insert_with(|| SpaceSaving::new(HOT_COUNTERS))
                .add(e.elem);
        }
    });
    if per_tag.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<(u64, HotOfSet)> = Vec::new();
    for shard in store.shards.iter() {
        let data = shard.data.read();
        for (_, e) in data.slots_from(0) {
            let Value::VSet(set) = &e.value else { continue };
            let Some(ss) = per_tag.get(&set_tag(store.hash(&e.key))) else {
                continue;
            };
            let names: Vec<Vec<u8>> = ss
                .top(HOT_PER_SET)
                .into_iter()
                .filter_map(|c| set.find_hash(c.item).and_then(|s| set.elem(s)))
                .map(|el| el.name.to_vec())
                .collect();
            if !names.is_empty() {
                out.push((ss.seen(), (e.db, e.key.to_vec(), names)));
            }
        }
    }
    out.sort_by_key(|o| std::cmp::Reverse(o.0));
    out.truncate(HOT_SETS);
    out.into_iter().map(|(_, h)| h).collect()
}

fn put(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

/// The file's bytes: magic, version, set count, then per set keyspace, name, element count
/// and names (each length-prefixed, u32 little-endian), then the CRC32C of all before it.
pub(crate) fn encode(hot: &HotSet) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(hot.len() as u32).to_le_bytes());
    for (db, key, names) in hot {
        out.extend_from_slice(&db.to_le_bytes());
        put(&mut out, key);
        out.extend_from_slice(&(names.len() as u32).to_le_bytes());
        for n in names {
            put(&mut out, n);
        }
    }
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Reads [`encode`]'s bytes; an error names what is wrong and where.
pub(crate) fn decode(b: &[u8], file: &Path) -> Result<HotSet> {
    let bad = |offset: usize, reason: &str| Error::Corrupt {
        file: file.display().to_string(),
        offset: offset as u64,
        reason: reason.into(),
    };
    if b.len() < 20 || &b[..8] != MAGIC {
        return Err(bad(0, "not a hot-set file (bad magic or too short)"));
    }
    let body = b.len() - 4;
    let crc = u32::from_le_bytes([b[body], b[body + 1], b[body + 2], b[body + 3]]);
    if crc32c::crc32c(&b[..body]) != crc {
        return Err(bad(body, "checksum mismatch"));
    }
    let mut at = 8;
    let u32_at = |at: &mut usize| -> Result<u32> {
        let s = b
            .get(*at..*at + 4)
            .filter(|_| *at + 4 <= body)
            .ok_or_else(|| bad(*at, "truncated"))?;
        *at += 4;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    };
    let bytes_at = |at: &mut usize| -> Result<Vec<u8>> {
        let n = u32_at(at)? as usize;
        let end = at
            .checked_add(n)
            .filter(|&e| e <= body)
            .ok_or_else(|| bad(*at, "a name runs past the end"))?;
        let v = b[*at..end].to_vec();
        *at = end;
        Ok(v)
    };
    let version = u32_at(&mut at)?;
    if version != VERSION {
        return Err(bad(8, &format!("unsupported version {version}")));
    }
    let sets = u32_at(&mut at)? as usize;
    let mut out = Vec::with_capacity(sets.min(HOT_SETS));
    for _ in 0..sets {
        let db = u32_at(&mut at)?;
        let key = bytes_at(&mut at)?;
        let n = u32_at(&mut at)? as usize;
        let mut names = Vec::with_capacity(n.min(HOT_PER_SET));
        for _ in 0..n {
            names.push(bytes_at(&mut at)?);
        }
        out.push((db, key, names));
    }
    if at != body {
        return Err(bad(at, "bytes after the last set"));
    }
    Ok(out)
}

/// Counts the hot set and writes it to `<data_dir>/analytics/hot.set` (through a temporary
/// file and a rename, so a crash leaves the old file or the new one). Nothing is written when
/// the log holds no lookup (a restart's file is kept until new lookups make a new one).
pub(crate) fn save_hot_set(store: &Store, an: &Analytics, state: &WarmState, data_dir: &Path) {
    let recorded = an.log.recorded();
    if recorded == 0 {
        return;
    }
    let hot = count_hot_set(store, an);
    if hot.is_empty() {
        return;
    }
    let path = hot_path(data_dir);
    let tmp = path.with_extension("set.tmp");
    let written = std::fs::create_dir_all(path.parent().unwrap_or(data_dir))
        .and_then(|()| std::fs::write(&tmp, encode(&hot)))
        .and_then(|()| std::fs::rename(&tmp, &path));
    match written {
        Ok(()) => {
            state.saved_at_recorded.store(recorded, Ordering::Relaxed);
            state.saved_at_ms.store(store.now_ms(), Ordering::Relaxed);
        }
        Err(e) => tracing::warn!(file = %path.display(), error = %e, "hot set not saved"),
    }
}

/// Whether the maintenance thread should write the hot set now: lookups came in since the
/// last write, and [`HOT_SAVE_EVERY_S`] passed.
pub(crate) fn save_due(store: &Store, an: &Analytics, state: &WarmState) -> bool {
    an.log.recorded() != state.saved_at_recorded.load(Ordering::Relaxed)
        && store
            .now_ms()
            .saturating_sub(state.saved_at_ms.load(Ordering::Relaxed))
            >= HOT_SAVE_EVERY_S * 1000
}

/// Pages in the hot set, then the rest, then waits for the saved graphs (see the module
/// notes). Stops early when the store closes or is dropped.
pub(crate) fn run(store: Weak<Store>, state: Arc<WarmState>, data_dir: PathBuf) {
    let path = hot_path(&data_dir);
    let hot = match std::fs::read(&path) {
        Ok(b) => decode(&b, &path).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "hot set unreadable: warming without it");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    };
    let total: usize = hot.iter().map(|h| h.2.len()).sum();
    state.hot_elements.store(total as u64, Ordering::Relaxed);
    let live = |s: &Store| !s.closed.load(Ordering::SeqCst);
    for (db, key, names) in &hot {
        let Some(s) = store.upgrade().filter(|s| live(s)) else {
            return;
        };
        let h = s.hash(key);
        let data = s.shards[Store::shard_of(h)].data.read();
        let Some(Value::VSet(set)) = data
            .find(h, *db, key)
            .and_then(|k| data.entry(k))
            .map(|e| &e.value)
        else {
            continue;
        };
        for n in names {
            if let Some(slot) = set.find(s.hash(n), n) {
                let b = set.page_in_slots(slot as usize, 1);
                state.bytes_paged.fetch_add(b as u64, Ordering::Relaxed);
                state.hot_paged.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    state.enter(1);
    let Some(s) = store.upgrade() else { return };
    for shard in s.shards.iter() {
        let sets: Vec<u32> = shard
            .data
            .read()
            .slots_from(0)
            .filter(|(_, e)| matches!(e.value, Value::VSet(_)))
            .map(|(k, _)| k)
            .collect();
        for k in sets {
            let mut from = 0;
            loop {
                if !live(&s) {
                    return;
                }
                let data = shard.data.read();
                let Some(Value::VSet(set)) = data.entry(k).map(|e| &e.value) else {
                    break;
                };
                let n = set.mapped_slots();
                if from >= n {
                    break;
                }
                let b = set.page_in_slots(from, CHUNK_SLOTS);
                state.bytes_paged.fetch_add(b as u64, Ordering::Relaxed);
                from += CHUNK_SLOTS;
            }
        }
    }
    state.enter(2);
    loop {
        if !live(&s) {
            return;
        }
        let pending: u64 = s
            .shards
            .iter()
            .map(|shard| {
                let data = shard.data.read();
                data.slots_from(0)
                    .filter(|(_, e)| match &e.value {
                        Value::VSet(set) => {
                            set.vindex.as_ref().is_some_and(|ix| ix.saved().is_some())
                        }
                        _ => false,
                    })
                    .count() as u64
            })
            .sum();
        state.graphs_pending.store(pending, Ordering::Relaxed);
        if pending == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    state.enter(3);
    tracing::info!(status = ?state.status(), "warm");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hot_set_file_reads_back_as_written_and_damage_is_an_error_not_a_panic() {
        let hot: HotSet = vec![
            (0, b"emb:m".to_vec(), vec![b"a".to_vec(), b"bb".to_vec()]),
            (3, b"other".to_vec(), vec![Vec::new()]),
        ];
        let b = encode(&hot);
        let p = Path::new("hot.set");
        assert_eq!(decode(&b, p).unwrap(), hot);
        for cut in 0..b.len() {
            assert!(decode(&b[..cut], p).is_err(), "cut at {cut}");
        }
        for i in 0..b.len() {
            let mut d = b.clone();
            d[i] ^= 0x40;
            assert!(decode(&d, p).is_err(), "flip at {i}");
        }
    }
}
