//! The engine: the one public Rust API. Front ends (server, ffi) call nothing else.

use super::config::EngineConfig;
use super::types::*;
use crate::error::Result;

/// The cache engine. `Send + Sync`: share it behind an `Arc`.
///
/// Readers never block each other; writers to different keys do not serialise on one lock.
pub struct Engine {
    pub(crate) inner: std::sync::Arc<crate::store::Store>,
}

#[allow(unused_variables)]
impl Engine {
    /// Opens an engine (in memory when `config.data_dir` is `None`).
    pub fn open(config: EngineConfig) -> Result<Engine> {
        todo!()
    }

    // ---- blobs ----

    /// Writes a blob under `key`.
    pub fn set(&self, key: &[u8], value: &[u8], opts: SetOptions) -> Result<SetOutcome> {
        todo!()
    }
    /// Reads a blob. `Err(WrongType)` when the key holds a vector set.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        todo!()
    }
    /// Reads a blob and hands a borrowed slice to `f` (no copy).
    pub fn get_with<R>(&self, key: &[u8], f: impl FnOnce(&[u8]) -> R) -> Result<Option<R>> {
        todo!()
    }
    /// Reads many blobs; a missing key or a vector set reads as `None` (as Redis's MGET).
    pub fn mget(&self, keys: &[&[u8]]) -> Vec<Option<Vec<u8>>> {
        todo!()
    }
    /// Writes many blobs with the default expiry; all validated before any is written.
    pub fn mset(&self, pairs: &[(&[u8], &[u8])]) -> Result<()> {
        todo!()
    }
    /// Deletes keys (blobs or whole vector sets); returns how many existed.
    pub fn del(&self, keys: &[&[u8]]) -> Result<usize> {
        todo!()
    }
    /// Counts the given keys that exist (a key named twice counts twice, as Redis).
    pub fn exists(&self, keys: &[&[u8]]) -> usize {
        todo!()
    }
    /// Sets the expiry of a key (relative or absolute); false when the key does not exist.
    /// An expiry in the past deletes the key.
    pub fn expire(&self, key: &[u8], expiry: Expiry) -> Result<bool> {
        todo!()
    }
    /// Remaining time to live of a key.
    pub fn ttl(&self, key: &[u8]) -> TtlState {
        todo!()
    }
    /// Removes a key's expiry; true when it had one.
    pub fn persist(&self, key: &[u8]) -> Result<bool> {
        todo!()
    }
    /// What the key holds.
    pub fn key_type(&self, key: &[u8]) -> Option<KeyKind> {
        todo!()
    }
    /// Number of live keys.
    pub fn dbsize(&self) -> u64 {
        todo!()
    }
    /// One page of a cursor scan (Redis's SCAN guarantee: a key present for the whole scan is
    /// returned at least once). `pattern` is a Redis glob.
    pub fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
        kind: Option<KeyKind>,
    ) -> ScanPage {
        todo!()
    }
    /// Removes every key.
    pub fn flush(&self) -> Result<()> {
        todo!()
    }

    // ---- vector sets ----

    /// Adds or updates one element; creates the set on first add. True when the element is new.
    pub fn vadd(&self, key: &[u8], opts: &VectorSetOptions, add: ElementAdd<'_>) -> Result<bool> {
        todo!()
    }
    /// Adds many elements at once; all validated before any is applied. Returns how many were new.
    pub fn vadd_many(
        &self,
        key: &[u8],
        opts: &VectorSetOptions,
        adds: &[ElementAdd<'_>],
    ) -> Result<usize> {
        todo!()
    }
    /// The element's vector: the exact f32 stored in `exact`/`noquant` mode, dequantized in `q8`.
    pub fn vget(&self, key: &[u8], element: &[u8]) -> Result<Option<Vec<f32>>> {
        todo!()
    }
    /// Like [`Engine::vget`] into a caller buffer of exactly the set's dimension; false on a miss.
    pub fn vget_into(&self, key: &[u8], element: &[u8], out: &mut [f32]) -> Result<bool> {
        todo!()
    }
    /// Many elements of one set; `None` for each miss.
    pub fn vget_many(&self, key: &[u8], elements: &[&[u8]]) -> Result<Vec<Option<Vec<f32>>>> {
        todo!()
    }
    /// Removes an element; true when it existed. An emptied set is deleted (as Redis).
    pub fn vrem(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        todo!()
    }
    /// Number of live elements (0 for a missing key).
    pub fn vcard(&self, key: &[u8]) -> Result<u64> {
        todo!()
    }
    /// Dimension of the set; `None` for a missing key.
    pub fn vdim(&self, key: &[u8]) -> Result<Option<usize>> {
        todo!()
    }
    /// Description of the set; `None` for a missing key.
    pub fn vinfo(&self, key: &[u8]) -> Result<Option<VectorSetInfo>> {
        todo!()
    }
    /// Sets (`Some(json)`, a JSON object; empty string clears) or clears (`None`) attributes;
    /// false when the element does not exist.
    pub fn vset_attr(&self, key: &[u8], element: &[u8], json: Option<&str>) -> Result<bool> {
        todo!()
    }
    /// The element's attributes; `None` when the element or its attributes are missing.
    pub fn vget_attr(&self, key: &[u8], element: &[u8]) -> Result<Option<String>> {
        todo!()
    }
    /// Random elements: `count > 0` distinct (at most the set's size), `count < 0` may repeat
    /// (exactly |count|), as Redis's VRANDMEMBER.
    pub fn vrandmember(&self, key: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
        todo!()
    }
    /// Whether the element exists (and is not expired).
    pub fn vismember(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        todo!()
    }
    /// Top-k most similar elements, best first. An empty list for a missing key.
    pub fn vsearch(&self, key: &[u8], query: Query<'_>, params: &SearchParams) -> Result<Vec<SearchHit>> {
        todo!()
    }
    /// Removes, atomically with respect to other writes to the set, every element whose
    /// score against `query` is `>= threshold` (metric units). Names come back only when
    /// `return_removed`.
    pub fn invalidate_similar(
        &self,
        key: &[u8],
        query: Query<'_>,
        threshold: f32,
        return_removed: bool,
    ) -> Result<Invalidated> {
        todo!()
    }
    /// Sets the expiry of one element; false when it does not exist.
    pub fn vexpire(&self, key: &[u8], element: &[u8], expiry: Expiry) -> Result<bool> {
        todo!()
    }
    /// Remaining TTL of one element.
    pub fn vttl(&self, key: &[u8], element: &[u8]) -> Result<TtlState> {
        todo!()
    }
    /// Removes one element's expiry; true when it had one.
    pub fn vpersist(&self, key: &[u8], element: &[u8]) -> Result<bool> {
        todo!()
    }

    // ---- statistics and maintenance ----

    /// Engine-wide statistics (atomics; cheap).
    pub fn stats(&self) -> Stats {
        todo!()
    }
    /// Counters of one vector set; `None` for a missing key.
    pub fn vstats(&self, key: &[u8]) -> Result<Option<Counters>> {
        todo!()
    }
    /// Counters of every vector set, by key.
    pub fn vstats_all(&self) -> Vec<(Vec<u8>, Counters)> {
        todo!()
    }
    /// Reclaims expired entries, examining at most `budget` of them; returns how many were removed.
    pub fn active_expire_cycle(&self, budget: usize) -> usize {
        todo!()
    }
    /// The SIMD instruction set in use.
    pub fn simd_isa(&self) -> &'static str {
        crate::simd::isa()
    }
    /// Highest LSN applied.
    pub fn last_lsn(&self) -> u64 {
        todo!()
    }
}
