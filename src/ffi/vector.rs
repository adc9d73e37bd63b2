//! Vector sets over the C ABI: options, add, get, get-many, remove, element expiry,
//! statistics (searches and invalidation are in `search`).

use super::cache::{engine, expiry, sutra_cache, sutra_stats, ttl_code};
use super::status::*;
use crate::{AttrUpdate, ElementAdd, Expiry, Metric, StorageMode, VectorSetOptions};

/// Metric or storage value: keep the set's (or the default when the set is new).
pub const SUTRA_UNSPECIFIED: i32 = 0;
/// Cosine similarity (the default).
pub const SUTRA_METRIC_COSINE: i32 = 1;
/// Inner product.
pub const SUTRA_METRIC_DOT: i32 = 2;
/// Euclidean distance (scores are negative squared distances).
pub const SUTRA_METRIC_L2: i32 = 3;
/// Original f32 kept plus INT8 codes (the default): gets return the exact floats stored.
pub const SUTRA_STORAGE_EXACT: i32 = 1;
/// INT8 codes only: gets return dequantized vectors.
pub const SUTRA_STORAGE_Q8: i32 = 2;
/// f32 only.
pub const SUTRA_STORAGE_NOQUANT: i32 = 3;
/// One bit per dimension (Redis's `BIN`: the sign of each component; scores from the Hamming
/// distance; gets return ±1 per component). Cosine sets only.
pub const SUTRA_STORAGE_BIN: i32 = 4;

/// A `SUTRA_STORAGE_*` code (`SUTRA_UNSPECIFIED` = none).
pub(crate) fn storage_mode(code: i32) -> FfiResult<Option<StorageMode>> {
    match code {
        SUTRA_UNSPECIFIED => Ok(None),
        SUTRA_STORAGE_EXACT => Ok(Some(StorageMode::Exact)),
        SUTRA_STORAGE_Q8 => Ok(Some(StorageMode::Q8)),
        SUTRA_STORAGE_NOQUANT => Ok(Some(StorageMode::NoQuant)),
        SUTRA_STORAGE_BIN => Ok(Some(StorageMode::Bin)),
        s => Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument 'storage': {s}"),
        )),
    }
}

/// The `SUTRA_STORAGE_*` code of a storage mode.
pub(crate) fn storage_code(mode: StorageMode) -> i32 {
    match mode {
        StorageMode::Exact => SUTRA_STORAGE_EXACT,
        StorageMode::Q8 => SUTRA_STORAGE_Q8,
        StorageMode::NoQuant => SUTRA_STORAGE_NOQUANT,
        StorageMode::Bin => SUTRA_STORAGE_BIN,
    }
}

/// Parameters of a vector set: they create it on the first add; on later adds every non-zero
/// field must equal the set's (else `SUTRA_CONFLICT`). Fill with
/// `sutra_vector_set_options_init`. Plain data: not shared.
#[repr(C)]
pub struct sutra_vector_set_options {
    /// `SUTRA_METRIC_*` or `SUTRA_UNSPECIFIED`.
    pub metric: i32,
    /// `SUTRA_STORAGE_*` or `SUTRA_UNSPECIFIED`.
    pub storage: i32,
    /// HNSW M; 0 = unspecified (default 16).
    pub m: u32,
    /// HNSW ef_construction; 0 = unspecified (default 200).
    pub ef_construction: u32,
}

/// # Safety
/// `o` is NULL or points to an initialised struct.
unsafe fn set_options(o: *const sutra_vector_set_options) -> FfiResult<VectorSetOptions> {
    // SAFETY: this function's `# Safety` section guarantees what the calls need: the pointer is
    // NULL or points to an initialised value that outlives the call, so `as_ref` gives `None` or a
    // valid shared reference. NULL and bad lengths come back as errors, never dereferenced.
    let Some(o) = (unsafe { o.as_ref() }) else {
        return Ok(VectorSetOptions::default());
    };
    let metric = match o.metric {
        SUTRA_UNSPECIFIED => None,
        SUTRA_METRIC_COSINE => Some(Metric::Cosine),
        SUTRA_METRIC_DOT => Some(Metric::Dot),
        SUTRA_METRIC_L2 => Some(Metric::L2),
        m => {
            return Err(Failure::new(
                SUTRA_INVALID_ARGUMENT,
                format!("invalid argument 'metric': {m}"),
            ))
        }
    };
    let storage = storage_mode(o.storage)?;
    let nonzero = |v: u32| (v != 0).then_some(v as usize);
    Ok(VectorSetOptions {
        metric,
        storage,
        m: nonzero(o.m),
        ef_construction: nonzero(o.ef_construction),
        reduce: None,
    })
}

/// # Safety
/// `ptr` is NULL or points to `len` readable bytes that outlive `'a`.
unsafe fn attr_update<'a>(ptr: *const u8, len: usize) -> FfiResult<AttrUpdate<'a>> {
    if ptr.is_null() {
        return Ok(AttrUpdate::Keep);
    }
    // SAFETY: this function's `# Safety` section guarantees what the calls need: each (pointer,
    // length) pair is NULL or that many readable bytes that stay valid and unchanged for the call,
    // as `bytes` requires. NULL and bad lengths come back as errors, never dereferenced.
    let raw = unsafe { bytes(ptr, len, "attributes") }?;
    if raw.is_empty() {
        return Ok(AttrUpdate::Clear);
    }
    let text = std::str::from_utf8(raw).map_err(|_| {
        Failure::new(
            SUTRA_INVALID_ARGUMENT,
            "invalid argument 'attributes': not UTF-8",
        )
    })?;
    Ok(AttrUpdate::Set(text))
}

/// Fills `options` with "unspecified" everywhere. Does nothing when NULL.
///
/// # Safety
/// `options` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_set_options_init(options: *mut sutra_vector_set_options) {
    if options.is_null() {
        return;
    }
    let value = sutra_vector_set_options {
        metric: SUTRA_UNSPECIFIED,
        storage: SUTRA_UNSPECIFIED,
        m: 0,
        ef_construction: 0,
    };
    // SAFETY: non-NULL and writable per the contract.
    unsafe { options.write(value) };
}

/// Adds or updates one element of the vector set at `key` (created on the first add with
/// `options`, which may be NULL). `vector` has `dim` finite floats. `attributes` is text of
/// `attributes_len` bytes (stored as given; FILTER reads it as a JSON object); NULL keeps
/// the element's attributes, length 0 clears them.
/// `ttl_ms` is > 0 or one of `SUTRA_TTL_*`. `*added` (may be NULL) is true for a new element.
///
/// # Safety
/// `cache` is a live handle; each pointer/length pair is readable (NULL only with length 0,
/// or NULL `attributes`); `options` is NULL or initialised; `added` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_add(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    vector: *const f32,
    dim: usize,
    attributes: *const u8,
    attributes_len: usize,
    ttl_ms: i64,
    options: *const sutra_vector_set_options,
    added: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each (pointer, length) pair is NULL or that
        // many readable, aligned f32 that stay valid for the call, as `floats` requires. NULL and
        // bad lengths come back as errors, never dereferenced.
        let (engine, key, element, vector) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(element, element_len, "element")?,
                floats(vector, dim, "vector")?,
            )
        };
        let add = ElementAdd {
            element,
            vector,
            // SAFETY: this function's `# Safety` section guarantees what the calls need:
            // `attributes` is NULL or `attributes_len` readable bytes, as `attr_update` requires.
            // NULL and bad lengths come back as errors, never dereferenced.
            attributes: unsafe { attr_update(attributes, attributes_len) }?,
            expiry: expiry(ttl_ms)?,
        };
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `options` is
        // NULL or an initialised `sutra_vector_set_options`, as `set_options` requires. NULL and
        // bad lengths come back as errors, never dereferenced.
        let opts = unsafe { set_options(options) }?;
        let is_new = engine.vadd(key, &opts, add)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(a) = unsafe { added.as_mut() } {
            *a = is_new;
        }
        Ok(())
    })
}

/// Adds `count` elements at once, all validated before any is applied. Element `i` is named
/// `elements[i][0..element_lens[i]]` and its vector is `vectors[i*dim .. (i+1)*dim]`
/// (row-major). `*added` (may be NULL) is how many were new.
///
/// # Safety
/// `cache` is a live handle; `elements` and `element_lens` hold `count` entries, each a
/// readable name; `vectors` holds `count * dim` floats; `options` is NULL or initialised;
/// `added` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_add_many(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    elements: *const *const u8,
    element_lens: *const usize,
    vectors: *const f32,
    count: usize,
    dim: usize,
    ttl_ms: i64,
    options: *const sutra_vector_set_options,
    added: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        let total = count.checked_mul(dim).ok_or_else(|| {
            Failure::new(
                SUTRA_INVALID_ARGUMENT,
                "invalid argument 'count': count * dim overflows",
            )
        })?;
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each (pointer, length) pair is NULL or that
        // many readable, aligned f32 that stay valid for the call, as `floats` requires; `elements`
        // is NULL or `count` readable pointers, as `element_array` requires; each length array is
        // NULL or `count` readable `size_t`, as `usize_array` requires. NULL and bad lengths come
        // back as errors, never dereferenced.
        let (engine, key, names, lens, vectors) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                element_array(elements, count)?,
                usize_array(element_lens, count, "element_lens")?,
                floats(vectors, total, "vectors")?,
            )
        };
        let expiry = expiry(ttl_ms)?;
        let mut adds = Vec::with_capacity(count);
        for (i, (&name, &len)) in names.iter().zip(lens).enumerate() {
            // SAFETY: this function's `# Safety` section guarantees what the calls need: each
            // (pointer, length) pair is NULL or that many readable bytes that stay valid and
            // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as
            // errors, never dereferenced.
            let element = unsafe { bytes(name, len, "elements[i]") }?;
            let vector = &vectors[i * dim..(i + 1) * dim];
            adds.push(ElementAdd {
                element,
                vector,
                attributes: AttrUpdate::Keep,
                expiry,
            });
        }
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `options` is
        // NULL or an initialised `sutra_vector_set_options`, as `set_options` requires. NULL and
        // bad lengths come back as errors, never dereferenced.
        let opts = unsafe { set_options(options) }?;
        let n = engine.vadd_many(key, &opts, &adds)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(a) = unsafe { added.as_mut() } {
            *a = n;
        }
        Ok(())
    })
}

/// # Safety
/// `ptr` is NULL (only with count 0) or points to `count` readable pointers.
unsafe fn element_array<'a>(ptr: *const *const u8, count: usize) -> FfiResult<&'a [*const u8]> {
    if ptr.is_null() {
        return if count == 0 {
            Ok(&[])
        } else {
            Err(Failure::null("elements"))
        };
    }
    // SAFETY: checked non-NULL; `count` readable pointers per the contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, count) })
}

/// # Safety
/// `ptr` is NULL (only with count 0) or points to `count` readable `usize`s.
unsafe fn usize_array<'a>(ptr: *const usize, count: usize, arg: &str) -> FfiResult<&'a [usize]> {
    // SAFETY: this function's `# Safety` section guarantees what the calls need: each output buffer
    // is NULL or `capacity` writable, aligned elements no one else accesses during the call, as
    // `out_slice` requires (it checks NULL, size and alignment). NULL and bad lengths come back as
    // errors, never dereferenced.
    unsafe { out_slice(ptr.cast_mut(), count, arg) }.map(|s| &*s)
}

/// Reads one element's vector into `out[0..capacity]`. On a hit `*found` is true and `*dim` is
/// the set's dimension; when that is over `capacity` the call returns `SUTRA_BUFFER_TOO_SMALL`
/// (with `*dim` set). On a miss (no such key or element) `*found` is false and `*dim` 0.
///
/// # Safety
/// `cache` is a live handle; `key`/`element` readable; `out` holds `capacity` writable floats;
/// `dim` and `found` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_get(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    out: *mut f32,
    capacity: usize,
    dim: *mut usize,
    found: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each output buffer is NULL or `capacity`
        // writable, aligned elements no one else accesses during the call, as `out_slice` requires
        // (it checks NULL, size and alignment); each output pointer is NULL or writable and
        // unaliased for the call, as `out` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, element, buf, dim, found) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(element, element_len, "element")?,
                out_slice(out, capacity, "out")?,
                super::status::out(dim, "dim")?,
                super::status::out(found, "found")?,
            )
        };
        *dim = 0;
        *found = false;
        let Some(d) = engine.vdim(key)? else {
            return Ok(());
        };
        if d > buf.len() {
            if engine.vismember(key, element)? {
                *dim = d;
                *found = true;
                return Err(Failure::too_small("out", d, capacity));
            }
            return Ok(());
        }
        if engine.vget_into(key, element, &mut buf[..d])? {
            *dim = d;
            *found = true;
        }
        Ok(())
    })
}

/// Reads `count` elements of one set into `out` (row-major, `count * dim` floats, capacity
/// `capacity` floats) and `found[i]` (1 for a hit, 0 for a miss; a miss's row is zeroed).
/// `*dim` is the set's dimension (0 for a missing key) and `*hits` the number of hits. When
/// `count * dim` is over `capacity` the call returns `SUTRA_BUFFER_TOO_SMALL` with `*dim` set.
///
/// # Safety
/// `cache` is a live handle; `elements`/`element_lens` hold `count` readable names; `out` holds
/// `capacity` writable floats; `found` holds `count` writable bytes; `dim`, `hits` writable;
/// `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_get_many(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    elements: *const *const u8,
    element_lens: *const usize,
    count: usize,
    out: *mut f32,
    capacity: usize,
    found: *mut u8,
    dim: *mut usize,
    hits: *mut usize,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each output buffer is NULL or `capacity`
        // writable, aligned elements no one else accesses during the call, as `out_slice` requires
        // (it checks NULL, size and alignment); each output pointer is NULL or writable and
        // unaliased for the call, as `out` requires; `elements` is NULL or `count` readable
        // pointers, as `element_array` requires; each length array is NULL or `count` readable
        // `size_t`, as `usize_array` requires. NULL and bad lengths come back as errors, never
        // dereferenced.
        let (engine, key, names, lens, buf, found, dim, hits) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                element_array(elements, count)?,
                usize_array(element_lens, count, "element_lens")?,
                out_slice(out, capacity, "out")?,
                out_slice(found, count, "found")?,
                super::status::out(dim, "dim")?,
                super::status::out(hits, "hits")?,
            )
        };
        *dim = 0;
        *hits = 0;
        found.fill(0);
        let mut keys = Vec::with_capacity(count);
        for (&name, &len) in names.iter().zip(lens) {
            // SAFETY: this function's `# Safety` section guarantees what the calls need: each
            // (pointer, length) pair is NULL or that many readable bytes that stay valid and
            // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as
            // errors, never dereferenced.
            keys.push(unsafe { bytes(name, len, "elements[i]") }?);
        }
        let Some(d) = engine.vdim(key)? else {
            return Ok(());
        };
        *dim = d;
        let needed = count.saturating_mul(d);
        if needed > buf.len() {
            return Err(Failure::too_small("out", needed, capacity));
        }
        let rows = engine.vget_many(key, &keys)?;
        for (i, row) in rows.iter().enumerate() {
            let dst = &mut buf[i * d..(i + 1) * d];
            match row {
                Some(v) if v.len() == d => {
                    dst.copy_from_slice(v);
                    found[i] = 1;
                    *hits += 1;
                }
                Some(v) => {
                    return Err(Failure::new(
                        SUTRA_DIMENSION_MISMATCH,
                        format!(
                            "the set changed dimension during the call ({d} then {})",
                            v.len()
                        ),
                    ))
                }
                None => dst.fill(0.0),
            }
        }
        Ok(())
    })
}

/// Removes one element (an emptied set is deleted). `*existed` (may be NULL) tells whether it existed.
///
/// # Safety
/// `cache` is a live handle; `key`/`element` readable; `existed` and `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_remove(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    existed: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, element) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(element, element_len, "element")?,
            )
        };
        let e = engine.vrem(key, element)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(x) = unsafe { existed.as_mut() } {
            *x = e;
        }
        Ok(())
    })
}

/// Dimension (`*dim`, 0 when the key is missing) and live element count (`*count`) of a set.
///
/// # Safety
/// `cache` is a live handle; `key` readable; `dim` and `count` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_info(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    dim: *mut usize,
    count: *mut u64,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each output pointer is NULL or writable and
        // unaliased for the call, as `out` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, dim, count) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                super::status::out(dim, "dim")?,
                super::status::out(count, "count")?,
            )
        };
        *dim = engine.vdim(key)?.unwrap_or(0);
        *count = engine.vcard(key)?;
        Ok(())
    })
}

/// Sets one element to expire `ttl_ms` ms from now (0 removes it at once). `*existed` (may be
/// NULL) is false when the element does not exist.
///
/// # Safety
/// `cache` is a live handle; `key`/`element` readable; `existed` and `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_expire(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    ttl_ms: u64,
    existed: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, element) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(element, element_len, "element")?,
            )
        };
        let e = engine.vexpire(key, element, Expiry::InMs(ttl_ms))?;
        // SAFETY: NULL or writable per the contract.
        if let Some(x) = unsafe { existed.as_mut() } {
            *x = e;
        }
        Ok(())
    })
}

/// Remaining time to live of one element in ms, or `SUTRA_TTL_MISSING` / `SUTRA_TTL_NO_EXPIRY`.
///
/// # Safety
/// `cache` is a live handle; `key`/`element` readable; `ttl_ms` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_ttl(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    element: *const u8,
    element_len: usize,
    ttl_ms: *mut i64,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each output pointer is NULL or writable and
        // unaliased for the call, as `out` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, element, ttl_ms) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(element, element_len, "element")?,
                out(ttl_ms, "ttl_ms")?,
            )
        };
        *ttl_ms = ttl_code(engine.vttl(key, element)?);
        Ok(())
    })
}

/// Statistics of one vector set into `*stats` (`keys` and `vector_sets` are 0); `*found` is
/// false (and `*stats` zeroed) when the key does not exist.
///
/// # Safety
/// `cache` is a live handle; `key` readable; `stats`, `found` writable; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_stats(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    stats: *mut sutra_stats,
    found: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires; each output pointer is NULL or writable and
        // unaliased for the call, as `out` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, stats, found) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                out(stats, "stats")?,
                out(found, "found")?,
            )
        };
        match engine.vstats(key)? {
            Some(c) => {
                *stats = sutra_stats::from_counters(&c);
                *found = true;
            }
            None => {
                *stats = sutra_stats::default();
                *found = false;
            }
        }
        Ok(())
    })
}

/// Blocks until every vector added or removed so far is reflected in the sets' HNSW graphs,
/// doing index work on the calling thread too (so a bulk load followed by this call builds
/// with two threads: the engine's indexer and the caller). Searches are correct without it
/// (elements not yet in a graph are scanned exactly); call it before measuring search speed
/// or to finish a bulk load. Thread-safe.
///
/// # Safety
/// `cache` is a live handle; `err` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_vector_index_wait(
    cache: *const sutra_cache,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires.
        // NULL and bad lengths come back as errors, never dereferenced.
        unsafe { engine(cache)? }.index_settle();
        Ok(())
    })
}
