//! The cache handle: open and close, databases, statistics, checkpoint, introspection (blobs
//! and key expiry through it: `keys.rs`).

use std::ffi::{c_char, CStr, CString};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use super::status::*;
use crate::{Counters, Engine, EngineConfig, EvictionPolicy, Expiry, SyncPolicy, TtlState};

/// An open cache. Thread-safe: any number of threads may call any function on one handle at
/// once, except `sutra_cache_close`, which must not overlap any other call on the handle.
///
/// The engine has 16 numbered databases (Redis's `SELECT` numbers); a handle addresses one of
/// them in every call made through it: database 0 for the handle `sutra_cache_open` returns,
/// the one asked for for a handle from `sutra_cache_select`. Statistics, caps, eviction,
/// checkpoints and `sutra_cache_flush` are the engine's, across databases.
pub struct sutra_cache {
    pub(crate) engine: Engine,
    /// Shared by the handle `sutra_cache_open` made and every handle selected from it; set
    /// when the former is closed, so calls through the others answer `SUTRA_CLOSED`.
    closed: Arc<AtomicBool>,
    /// Made by `sutra_cache_select`: closing it frees the handle only, not the engine.
    selected: bool,
}

/// Set once by [`quiet_opens`] (the `ffi_args` fuzz target, through
/// `crate::fuzzing::quiet_c_abi_opens`): every later `sutra_cache_open` opens its engine the
/// way the other fuzz targets open theirs.
static QUIET_OPENS: AtomicBool = AtomicBool::new(false);

/// From now on in this process, `sutra_cache_open` starts no background thread (neither the
/// maintenance tick nor the indexer, which a C caller's handle would start and
/// `sutra_cache_close` join on every call: most of what an execution of the `ffi_args` fuzz
/// target cost in wall time), seeds its hashes and random picks with fixed values, and keeps a
/// small analytics lookup log. What a caller reaches through the C ABI is unchanged but for
/// work those threads would do on their own time: active expiry (expired keys are still
/// reclaimed when touched) and indexing a vector set of 1,000 elements or more (a fuzz input
/// makes at most 64 calls; below 1,000 elements no index is built anyway).
pub(crate) fn quiet_opens() {
    QUIET_OPENS.store(true, Ordering::Relaxed);
}

/// Evict least recently used entries at a cap (the default).
pub const SUTRA_EVICTION_LRU: i32 = 0;
/// Evict least frequently used entries at a cap.
pub const SUTRA_EVICTION_LFU: i32 = 1;
/// Refuse writes at a cap with `SUTRA_OUT_OF_MEMORY`.
pub const SUTRA_EVICTION_NOEVICTION: i32 = 2;

/// `ttl_ms` value: the configured default TTL (none if it is 0).
pub const SUTRA_TTL_DEFAULT: i64 = 0;
/// `ttl_ms` value: never expires.
pub const SUTRA_TTL_NEVER: i64 = -1;
/// `ttl_ms` value: keep the current expiry of an existing entry (default TTL when new).
pub const SUTRA_TTL_KEEP: i64 = -2;

/// `sutra_cache_set` flag: write only if the key does not exist (Redis's NX).
pub const SUTRA_SET_IF_ABSENT: u32 = 1;
/// `sutra_cache_set` flag: write only if the key exists (Redis's XX).
pub const SUTRA_SET_IF_PRESENT: u32 = 2;

/// `*ttl_ms_out` of the ttl calls when the key or element does not exist (Redis's PTTL -2).
pub const SUTRA_TTL_MISSING: i64 = -2;
/// `*ttl_ms_out` of the ttl calls when it exists without expiry (Redis's PTTL -1).
pub const SUTRA_TTL_NO_EXPIRY: i64 = -1;
// The C names of the crate's TTL answers (cbindgen needs literals above).
const _: () = assert!(SUTRA_TTL_MISSING == crate::TTL_MISSING);
const _: () = assert!(SUTRA_TTL_NO_EXPIRY == crate::TTL_NO_EXPIRY);

/// `wal_sync_interval_ms` value: the engine's default policy (fdatasync every 5000 ms, the
/// seed's `WAL_SYNC_INTERVAL_MS`). Go's zero `WALSync` is this value.
pub const SUTRA_WAL_SYNC_DEFAULT: i64 = 0;
/// `wal_sync_interval_ms` value: fdatasync before each acknowledgement (survives power loss).
pub const SUTRA_WAL_SYNC_ALWAYS: i64 = -1;
/// `wal_sync_interval_ms` value: fdatasync only on checkpoint and close.
pub const SUTRA_WAL_SYNC_NEVER: i64 = -2;

/// Options of `sutra_cache_open`. Fill with `sutra_options_init` first, then change fields,
/// so fields added later get their defaults. Plain data: not shared.
#[repr(C)]
pub struct sutra_options {
    /// Cap on entries (blob keys plus vector-set elements); 0 = none.
    pub max_entries: u64,
    /// Cap on accounted bytes; 0 = none.
    pub max_bytes: u64,
    /// `SUTRA_EVICTION_LRU` (default), `SUTRA_EVICTION_LFU` or `SUTRA_EVICTION_NOEVICTION`.
    pub eviction_policy: i32,
    /// TTL applied when a write gives `SUTRA_TTL_DEFAULT`, in ms; 0 = none.
    pub default_ttl_ms: u64,
    /// Period of the background expiry cycle in ms; 0 = no background thread.
    pub active_expire_interval_ms: u64,
    /// Longest key in bytes.
    pub max_key_bytes: u64,
    /// Longest blob value in bytes.
    pub max_value_bytes: u64,
    /// Longest element name in bytes.
    pub max_element_bytes: u64,
    /// Largest vector dimension.
    pub max_dim: u64,
    /// With a data directory, when the log is fdatasynced: a positive value = every this many
    /// ms (survives a process crash), or `SUTRA_WAL_SYNC_DEFAULT` (every 5000 ms, what
    /// `sutra_options_init` writes), `SUTRA_WAL_SYNC_ALWAYS` (before each acknowledgement:
    /// survives power loss) or `SUTRA_WAL_SYNC_NEVER`.
    pub wal_sync_interval_ms: i64,
    /// With a data directory: take a snapshot every this many ms (0 = not by time).
    pub checkpoint_interval_ms: u64,
    /// With a data directory: take a snapshot on close.
    pub checkpoint_on_close: bool,
    /// Storage of a vector set created by an add whose options leave `storage` at
    /// `SUTRA_UNSPECIFIED`: `SUTRA_STORAGE_EXACT` (the default), `SUTRA_STORAGE_Q8` or
    /// `SUTRA_STORAGE_NOQUANT`.
    pub default_storage_mode: i32,
    /// When non-zero, every vector added must have this dimension (creating a set or
    /// writing into one); another fails with `SUTRA_DIMENSION_MISMATCH`, naming both. 0 = any.
    pub vector_dimension: u64,
}

/// Per-cache or per-vector-set statistics.
#[repr(C)]
#[derive(Default)]
pub struct sutra_stats {
    /// Lookups that found an entry.
    pub hits: u64,
    /// Lookups that found none.
    pub misses: u64,
    /// Successful writes.
    pub sets: u64,
    /// Entries evicted at a cap.
    pub evictions: u64,
    /// Entries reclaimed because their TTL passed.
    pub expirations: u64,
    /// Live entries (blob keys plus elements).
    pub entries: u64,
    /// Accounted bytes.
    pub bytes: u64,
    /// Keys (blobs plus vector sets); 0 in per-set statistics.
    pub keys: u64,
    /// Vector sets; 0 in per-set statistics.
    pub vector_sets: u64,
}

impl sutra_stats {
    pub(crate) fn from_counters(c: &Counters) -> Self {
        Self {
            hits: c.hits,
            misses: c.misses,
            sets: c.sets,
            evictions: c.evictions,
            expirations: c.expirations,
            entries: c.entries,
            bytes: c.bytes,
            keys: 0,
            vector_sets: 0,
        }
    }
}

/// The engine behind a handle.
///
/// # Safety
/// `cache` is NULL or a live handle from `sutra_cache_open`.
pub(crate) unsafe fn engine<'a>(cache: *const sutra_cache) -> FfiResult<&'a Engine> {
    // SAFETY: this function's `# Safety` section guarantees what the calls need: the pointer is
    // NULL or points to an initialised value that outlives the call, so `as_ref` gives `None` or a
    // valid shared reference. NULL and bad lengths come back as errors, never dereferenced.
    let handle = unsafe { handle(cache) }?;
    if handle.closed.load(Ordering::Acquire) {
        return Err(Failure::new(
            SUTRA_CLOSED,
            "the cache is closed (the handle sutra_cache_open returned was closed)",
        ));
    }
    Ok(&handle.engine)
}

/// The handle behind a pointer, closed or not.
///
/// # Safety
/// `cache` is NULL or a live handle from `sutra_cache_open` or `sutra_cache_select`.
unsafe fn handle<'a>(cache: *const sutra_cache) -> FfiResult<&'a sutra_cache> {
    // SAFETY: this function's `# Safety` section: NULL or a live, initialised handle that
    // outlives the call, so `as_ref` gives `None` or a valid shared reference.
    unsafe { cache.as_ref() }.ok_or_else(|| Failure::null("cache"))
}

/// The expiry a `ttl_ms` argument asks for.
pub(crate) fn expiry(ttl_ms: i64) -> FfiResult<Expiry> {
    match ttl_ms {
        SUTRA_TTL_DEFAULT => Ok(Expiry::Default),
        SUTRA_TTL_NEVER => Ok(Expiry::Never),
        SUTRA_TTL_KEEP => Ok(Expiry::Keep),
        ms if ms > 0 => Ok(Expiry::InMs(ms as u64)),
        ms => Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument 'ttl_ms': > 0, SUTRA_TTL_DEFAULT, SUTRA_TTL_NEVER or SUTRA_TTL_KEEP; got {ms}"),
        )),
    }
}

pub(crate) fn ttl_code(state: TtlState) -> i64 {
    state.as_ms()
}

/// The policy a `wal_sync_interval_ms` option asks for.
fn sync_policy(ms: i64) -> FfiResult<SyncPolicy> {
    match ms {
        SUTRA_WAL_SYNC_DEFAULT => Ok(SyncPolicy::default()),
        SUTRA_WAL_SYNC_ALWAYS => Ok(SyncPolicy::Always),
        SUTRA_WAL_SYNC_NEVER => Ok(SyncPolicy::Never),
        ms if ms > 0 => Ok(SyncPolicy::Interval(ms as u64)),
        ms => Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!(
                "invalid argument 'wal_sync_interval_ms': > 0, SUTRA_WAL_SYNC_DEFAULT, \
                 SUTRA_WAL_SYNC_ALWAYS or SUTRA_WAL_SYNC_NEVER; got {ms}"
            ),
        )),
    }
}

fn usize_field(v: u64, name: &str) -> FfiResult<usize> {
    usize::try_from(v).map_err(|_| {
        Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{name}': {v} is too large"),
        )
    })
}

/// Fills `options` with the defaults. Does nothing when `options` is NULL.
///
/// # Safety
/// `options` is NULL or points to writable memory for one `sutra_options`.
#[no_mangle]
pub unsafe extern "C" fn sutra_options_init(options: *mut sutra_options) {
    if options.is_null() {
        return;
    }
    let d = EngineConfig::default();
    let value = sutra_options {
        max_entries: d.max_entries,
        max_bytes: d.max_bytes,
        eviction_policy: SUTRA_EVICTION_LRU,
        default_ttl_ms: d.default_ttl_ms,
        active_expire_interval_ms: d.active_expire_interval_ms,
        max_key_bytes: d.limits.max_key_bytes as u64,
        max_value_bytes: d.limits.max_value_bytes as u64,
        max_element_bytes: d.limits.max_element_bytes as u64,
        max_dim: d.limits.max_dim as u64,
        wal_sync_interval_ms: SUTRA_WAL_SYNC_DEFAULT,
        checkpoint_interval_ms: d.checkpoint_interval_ms,
        checkpoint_on_close: d.checkpoint_on_close,
        default_storage_mode: super::vector::storage_code(d.default_storage_mode),
        vector_dimension: d.vector_dimension.map_or(0, |v| v as u64),
    };
    // SAFETY: non-NULL and writable per the contract; `write` needs no initialised value.
    unsafe { options.write(value) };
}

/// Opens a cache. `path` is a NUL-terminated data directory, or NULL (or "") for a cache in
/// memory only; `options` may be NULL for the defaults. On success `*out` is the new handle;
/// on failure `*out` is set to NULL. Free the handle with `sutra_cache_close`.
///
/// # Safety
/// `path` is NULL or NUL-terminated; `options` is NULL or initialised; `out` is writable;
/// `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_open(
    path: *const c_char,
    options: *const sutra_options,
    out: *mut *mut sutra_cache,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: each output
        // pointer is NULL or writable and unaliased for the call, as `out` requires. NULL and bad
        // lengths come back as errors, never dereferenced.
        let out = unsafe { super::status::out(out, "out") }?;
        *out = std::ptr::null_mut();
        let mut config = EngineConfig::default();
        // SAFETY: this function's `# Safety` section guarantees what the calls need: the pointer is
        // NULL or points to an initialised value that outlives the call, so `as_ref` gives `None`
        // or a valid shared reference. NULL and bad lengths come back as errors, never
        // dereferenced.
        if let Some(o) = unsafe { options.as_ref() } {
            config.max_entries = o.max_entries;
            config.max_bytes = o.max_bytes;
            config.eviction_policy = match o.eviction_policy {
                SUTRA_EVICTION_LRU => EvictionPolicy::Lru,
                SUTRA_EVICTION_LFU => EvictionPolicy::Lfu,
                SUTRA_EVICTION_NOEVICTION => EvictionPolicy::NoEviction,
                p => {
                    return Err(Failure::new(
                        SUTRA_INVALID_ARGUMENT,
                        format!(
                            "invalid argument 'eviction_policy': one of SUTRA_EVICTION_*; got {p}"
                        ),
                    ))
                }
            };
            config.default_ttl_ms = o.default_ttl_ms;
            config.active_expire_interval_ms = o.active_expire_interval_ms;
            config.limits.max_key_bytes = usize_field(o.max_key_bytes, "max_key_bytes")?;
            config.limits.max_value_bytes = usize_field(o.max_value_bytes, "max_value_bytes")?;
            config.limits.max_element_bytes =
                usize_field(o.max_element_bytes, "max_element_bytes")?;
            config.limits.max_dim = usize_field(o.max_dim, "max_dim")?;
            config.wal_sync = sync_policy(o.wal_sync_interval_ms)?;
            config.checkpoint_interval_ms = o.checkpoint_interval_ms;
            config.checkpoint_on_close = o.checkpoint_on_close;
            config.default_storage_mode = super::vector::storage_mode(o.default_storage_mode)?
                .ok_or_else(|| {
                    Failure::new(
                        SUTRA_INVALID_ARGUMENT,
                        "invalid argument 'default_storage_mode': one of SUTRA_STORAGE_*; got 0",
                    )
                })?;
            config.vector_dimension = match o.vector_dimension {
                0 => None,
                d => Some(usize_field(d, "vector_dimension")?),
            };
        }
        if !path.is_null() {
            // SAFETY: non-NULL and NUL-terminated per the contract.
            let bytes = unsafe { CStr::from_ptr(path) }.to_bytes();
            if !bytes.is_empty() {
                use std::os::unix::ffi::OsStrExt;
                config.data_dir = Some(std::ffi::OsStr::from_bytes(bytes).into());
            }
        }
        if QUIET_OPENS.load(Ordering::Relaxed) {
            config.no_background_threads = true;
            config.fixed_seeds = true;
            config.index_min_elements = usize::MAX;
            config.analytics.lookup_log_entries = 1024;
        }
        let engine = Engine::open(config)?;
        *out = Box::into_raw(Box::new(sutra_cache {
            engine,
            closed: Arc::new(AtomicBool::new(false)),
            selected: false,
        }));
        Ok(())
    })
}

/// Closes a cache and frees its handle (NULL is allowed and does nothing). The handle is
/// freed even when an error is returned; it must not be used again.
///
/// For the handle `sutra_cache_open` returned this closes the engine (a snapshot when
/// `checkpoint_on_close`, the log closed); calls through handles selected from it then
/// answer `SUTRA_CLOSED`, and they still have to be closed. For a handle from
/// `sutra_cache_select` it frees that handle only; the engine stays open.
///
/// # Safety
/// `cache` is NULL or a live handle not in use by another call; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_close(cache: *mut sutra_cache, err: *mut sutra_error) -> i32 {
    guard(err, || {
        if !cache.is_null() {
            // SAFETY: a live handle made by Box::into_raw in sutra_cache_open or
            // sutra_cache_select, closed once.
            let cache = unsafe { Box::from_raw(cache) };
            if !cache.selected {
                cache.closed.store(true, Ordering::Release);
                cache.engine.close()?;
            }
        }
        Ok(())
    })
}

/// Makes a new handle on the same engine as `cache` that addresses database `db` (Redis's
/// `SELECT db`) in every call made through it; `cache` keeps addressing its own database.
/// `db` must be below the engine's number of databases (16; `sutra_cache_db` tells it),
/// else `SUTRA_INVALID_ARGUMENT` naming `db` and the range. `cache` may itself come from
/// `sutra_cache_select`.
///
/// On success `*out` is the new handle; on failure `*out` is set to NULL. The new handle is
/// thread-safe as any handle. Free it with `sutra_cache_close`, which frees only it (before or
/// after the engine's handle is closed; once that is closed, calls through the new handle
/// answer `SUTRA_CLOSED`). Each handle holds a share of the engine's memory until it is
/// freed.
///
/// # Safety
/// `cache` is a live handle; `out` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_select(
    cache: *const sutra_cache,
    db: u32,
    out: *mut *mut sutra_cache,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: the output
        // pointer is NULL or writable and unaliased for the call, as `out` requires; `cache` is
        // NULL or a live handle not being closed, as `engine` requires. NULL comes back as an
        // error, never dereferenced.
        let out = unsafe { super::status::out(out, "out") }?;
        *out = std::ptr::null_mut();
        // SAFETY: `cache` is NULL or a live handle not being closed (this function's
        // `# Safety`), which is what `handle` and `engine` require; NULL is an error.
        let (handle, engine) = unsafe { (handle(cache)?, engine(cache)?) };
        let databases = engine.databases();
        if db >= databases {
            return Err(Failure::new(
                SUTRA_INVALID_ARGUMENT,
                format!(
                    "invalid argument 'db': a database index in 0..={} (the cache has {databases} \
                     databases); got {db}",
                    databases - 1
                ),
            ));
        }
        *out = Box::into_raw(Box::new(sutra_cache {
            engine: engine.select(db)?,
            closed: handle.closed.clone(),
            selected: true,
        }));
        Ok(())
    })
}

/// The database `cache` addresses into `*db` and the engine's number of databases into
/// `*databases` (either may be NULL).
///
/// # Safety
/// `cache` is a live handle; `db`, `databases` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_db(
    cache: *const sutra_cache,
    db: *mut u32,
    databases: *mut u32,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the call needs: `cache` is
        // NULL or a live handle not being closed, as `engine` requires.
        let engine = unsafe { engine(cache) }?;
        // SAFETY: NULL or writable per the contract.
        if let Some(d) = unsafe { db.as_mut() } {
            *d = engine.db();
        }
        // SAFETY: NULL or writable per the contract.
        if let Some(n) = unsafe { databases.as_mut() } {
            *n = engine.databases();
        }
        Ok(())
    })
}

/// Number of keys (blobs, vector sets, hashes) in the database `cache` addresses (Redis's
/// DBSIZE: keys whose TTL passed but that were not reclaimed yet included).
///
/// # Safety
/// `cache` is a live handle; `keys` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_dbsize(
    cache: *const sutra_cache,
    keys: *mut u64,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle not being closed, as `engine` requires; the output pointer is
        // NULL or writable and unaliased for the call, as `out` requires.
        let (engine, keys) = unsafe { (engine(cache)?, out(keys, "keys")?) };
        *keys = engine.dbsize();
        Ok(())
    })
}

/// Removes every key of the database `cache` addresses (Redis's FLUSHDB); the other
/// databases keep theirs.
///
/// # Safety
/// `cache` is a live handle; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_flushdb(
    cache: *const sutra_cache,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the call needs: `cache` is
        // NULL or a live handle not being closed, as `engine` requires.
        unsafe { engine(cache) }?.flush_db()?;
        Ok(())
    })
}

/// Removes every key of every database (Redis's FLUSHALL); `sutra_cache_flushdb` empties one.
///
/// # Safety
/// `cache` is a live handle; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_flush(
    cache: *const sutra_cache,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires.
        // NULL and bad lengths come back as errors, never dereferenced.
        unsafe { engine(cache) }?.flush()?;
        Ok(())
    })
}

/// Engine-wide statistics into `*stats` (every database's; `sutra_cache_dbsize` counts one).
///
/// # Safety
/// `cache` is a live handle; `stats` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_stats(
    cache: *const sutra_cache,
    stats: *mut sutra_stats,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each output pointer is NULL or writable and unaliased for the call, as `out` requires.
        // NULL and bad lengths come back as errors, never dereferenced.
        let (engine, stats) = unsafe { (engine(cache)?, out(stats, "stats")?) };
        let s = engine.stats();
        *stats = sutra_stats {
            keys: s.keys,
            vector_sets: s.vector_sets,
            ..sutra_stats::from_counters(&s.total)
        };
        Ok(())
    })
}

/// Writes a snapshot of a cache opened with a data directory now; `*lsn` (may be NULL) is
/// the log position it covers. A cache in memory only answers `SUTRA_UNSUPPORTED`.
///
/// # Safety
/// `cache` is a live handle; `lsn` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_checkpoint(
    cache: *const sutra_cache,
    lsn: *mut u64,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires.
        // NULL and bad lengths come back as errors, never dereferenced.
        let at = unsafe { engine(cache) }?.checkpoint()?;
        // SAFETY: NULL or writable per the contract.
        if let Some(l) = unsafe { lsn.as_mut() } {
            *l = at;
        }
        Ok(())
    })
}

/// The library's version ("0.1.0"); a static string. Thread-safe.
#[no_mangle]
pub extern "C" fn sutra_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// The SIMD instruction set the distance kernels use ("avx2", "scalar", …); a static string.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sutra_simd_isa() -> *const c_char {
    static ISA: OnceLock<CString> = OnceLock::new();
    ISA.get_or_init(|| CString::new(crate::simd::isa()).unwrap_or_default())
        .as_ptr()
}
