//! Blobs and key expiry through a cache handle: set, get, delete, expire, persist, TTL.

use super::cache::*;
use super::status::*;
use crate::{Expiry, SetCondition, SetOptions};

/// Writes a blob. `ttl_ms` is > 0 or one of `SUTRA_TTL_*`; `flags` is 0 or one of
/// `SUTRA_SET_IF_ABSENT` / `SUTRA_SET_IF_PRESENT`. `*written` (may be NULL) tells whether the
/// condition held and the value was written.
///
/// # Safety
/// `cache` is a live handle; `key`/`value` point to `key_len`/`value_len` bytes (NULL only with
/// length 0); `written` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_set(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    value: *const u8,
    value_len: usize,
    ttl_ms: i64,
    flags: u32,
    written: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key, value) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                bytes(value, value_len, "value")?,
            )
        };
        let condition = match flags {
            0 => SetCondition::Always,
            SUTRA_SET_IF_ABSENT => SetCondition::IfAbsent,
            SUTRA_SET_IF_PRESENT => SetCondition::IfPresent,
            f => {
                return Err(Failure::new(
                    SUTRA_INVALID_ARGUMENT,
                    format!("invalid argument 'flags': 0, SUTRA_SET_IF_ABSENT or SUTRA_SET_IF_PRESENT; got {f}"),
                ))
            }
        };
        let opts = SetOptions {
            expiry: expiry(ttl_ms)?,
            condition,
            return_old: false,
        };
        let outcome = engine.set(key, value, opts)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(w) = unsafe { written.as_mut() } {
            *w = outcome.written;
        }
        Ok(())
    })
}

/// Reads a blob into the caller's buffer `value[0..capacity]` (NULL only with capacity 0).
/// On a hit `*found` is true and `*value_len` the value's length; when that is over
/// `capacity`, the call returns `SUTRA_BUFFER_TOO_SMALL` (with `*found` and `*value_len` set:
/// retry with a larger buffer). On a miss `*found` is false and `*value_len` 0.
/// A key holding a vector set is `SUTRA_WRONG_TYPE`.
///
/// # Safety
/// `cache` is a live handle; `key` points to `key_len` bytes; `value` to `capacity` writable
/// bytes; `value_len` and `found` are writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_get(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    value: *mut u8,
    capacity: usize,
    value_len: *mut usize,
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
        let (engine, key, buf, value_len, found) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                out_slice(value, capacity, "value")?,
                out(value_len, "value_len")?,
                out(found, "found")?,
            )
        };
        *value_len = 0;
        *found = false;
        let copied = engine.get_with(key, |v| {
            if v.len() <= buf.len() {
                buf[..v.len()].copy_from_slice(v);
                Ok(v.len())
            } else {
                Err(v.len())
            }
        })?;
        match copied {
            None => Ok(()),
            Some(Ok(len)) => {
                *found = true;
                *value_len = len;
                Ok(())
            }
            Some(Err(needed)) => {
                *found = true;
                *value_len = needed;
                Err(Failure::too_small("value", needed, capacity))
            }
        }
    })
}

/// Deletes a key (a blob or a whole vector set). `*existed` (may be NULL) tells whether it existed.
///
/// # Safety
/// `cache` is a live handle; `key` points to `key_len` bytes; `existed` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_del(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    existed: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key) = unsafe { (engine(cache)?, bytes(key, key_len, "key")?) };
        let n = engine.del(&[key])?;
        // SAFETY: NULL or writable per the contract.
        if let Some(e) = unsafe { existed.as_mut() } {
            *e = n > 0;
        }
        Ok(())
    })
}

/// Sets a key to expire `ttl_ms` ms from now (0 deletes it at once). `*existed` (may be NULL)
/// is false when the key does not exist.
///
/// # Safety
/// `cache` is a live handle; `key` points to `key_len` bytes; `existed` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_expire(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
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
        let (engine, key) = unsafe { (engine(cache)?, bytes(key, key_len, "key")?) };
        let e = engine.expire(key, Expiry::InMs(ttl_ms))?;
        // SAFETY: NULL or writable per the contract.
        if let Some(x) = unsafe { existed.as_mut() } {
            *x = e;
        }
        Ok(())
    })
}

/// Removes a key's expiry. `*had_expiry` (may be NULL) tells whether it had one.
///
/// # Safety
/// `cache` is a live handle; `key` points to `key_len` bytes; `had_expiry` and `err` are NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_persist(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
    had_expiry: *mut bool,
    err: *mut sutra_error,
) -> i32 {
    guard(err, || {
        // SAFETY: this function's `# Safety` section guarantees what the calls need: `cache` is
        // NULL or a live handle from `sutra_cache_open` not being closed, as `engine` requires;
        // each (pointer, length) pair is NULL or that many readable bytes that stay valid and
        // unchanged for the call, as `bytes` requires. NULL and bad lengths come back as errors,
        // never dereferenced.
        let (engine, key) = unsafe { (engine(cache)?, bytes(key, key_len, "key")?) };
        let h = engine.persist(key)?;
        // SAFETY: NULL or writable per the contract.
        if let Some(x) = unsafe { had_expiry.as_mut() } {
            *x = h;
        }
        Ok(())
    })
}

/// Remaining time to live of a key in ms, or `SUTRA_TTL_MISSING` / `SUTRA_TTL_NO_EXPIRY`.
///
/// # Safety
/// `cache` is a live handle; `key` points to `key_len` bytes; `ttl_ms` is writable; `err` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sutra_cache_ttl(
    cache: *const sutra_cache,
    key: *const u8,
    key_len: usize,
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
        let (engine, key, ttl_ms) = unsafe {
            (
                engine(cache)?,
                bytes(key, key_len, "key")?,
                out(ttl_ms, "ttl_ms")?,
            )
        };
        *ttl_ms = ttl_code(engine.ttl(key));
        Ok(())
    })
}
