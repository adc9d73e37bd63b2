//! The C ABI as a C program calls it: the declarations below are `include/sutra_cache.h`'s,
//! and the input picks every argument a caller may legally pass (any length up to the
//! buffer it points into, NULL where NULL is allowed or refused with a status, any flag,
//! TTL, option or enum value, buffers too small). Every call returns a known status, fills
//! the error struct consistently, and never writes past a capacity.

#![allow(non_camel_case_types)]

use std::ptr::{null, null_mut};

use crate::Input;

#[repr(C)]
struct sutra_cache {
    _private: [u8; 0],
}

#[repr(C)]
struct sutra_options {
    max_entries: u64,
    max_bytes: u64,
    eviction_policy: i32,
    default_ttl_ms: u64,
    active_expire_interval_ms: u64,
    max_key_bytes: u64,
    max_value_bytes: u64,
    max_element_bytes: u64,
    max_dim: u64,
    wal_sync_interval_ms: i64,
    checkpoint_interval_ms: u64,
    checkpoint_on_close: bool,
    default_storage_mode: i32,
    vector_dimension: u64,
}

#[repr(C)]
struct sutra_error {
    code: i32,
    message_len: usize,
    message: [u8; 256],
}

#[repr(C)]
struct sutra_search_params {
    count: usize,
    ef: usize,
    use_min_score: bool,
    min_score: f32,
    exhaustive: bool,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct sutra_search_hit {
    name_offset: usize,
    name_len: usize,
    score: f32,
}

#[repr(C)]
struct sutra_vector_set_options {
    metric: i32,
    storage: i32,
    m: u32,
    ef_construction: u32,
}

extern "C" {
    fn sutra_options_init(options: *mut sutra_options);
    fn sutra_cache_open(
        path: *const std::ffi::c_char,
        options: *const sutra_options,
        out: *mut *mut sutra_cache,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_cache_close(cache: *mut sutra_cache, err: *mut sutra_error) -> i32;
    fn sutra_cache_set(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        value: *const u8,
        value_len: usize,
        ttl_ms: i64,
        flags: u32,
        written: *mut bool,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_cache_get(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        value: *mut u8,
        capacity: usize,
        value_len: *mut usize,
        found: *mut bool,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_cache_del(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        existed: *mut bool,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_cache_expire(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        ttl_ms: u64,
        existed: *mut bool,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_cache_ttl(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        ttl_ms: *mut i64,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_search_params_init(params: *mut sutra_search_params);
    fn sutra_vector_set_options_init(options: *mut sutra_vector_set_options);
    fn sutra_vector_add(
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
    ) -> i32;
    fn sutra_vector_get(
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
    ) -> i32;
    fn sutra_vector_search_filtered(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        query: *const f32,
        dim: usize,
        filter: *const u8,
        filter_len: usize,
        filter_ef: usize,
        params: *const sutra_search_params,
        hits: *mut sutra_search_hit,
        hits_capacity: usize,
        names: *mut u8,
        names_capacity: usize,
        hit_count: *mut usize,
        names_len: *mut usize,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_vector_search_element(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        element: *const u8,
        element_len: usize,
        params: *const sutra_search_params,
        hits: *mut sutra_search_hit,
        hits_capacity: usize,
        names: *mut u8,
        names_capacity: usize,
        hit_count: *mut usize,
        names_len: *mut usize,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_vector_invalidate(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        query: *const f32,
        dim: usize,
        threshold: f32,
        removed: *mut usize,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_vector_remove(
        cache: *const sutra_cache,
        key: *const u8,
        key_len: usize,
        element: *const u8,
        element_len: usize,
        removed: *mut bool,
        err: *mut sutra_error,
    ) -> i32;
    fn sutra_status_name(status: i32) -> *const std::ffi::c_char;
}

const KNOWN: &[i32] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 1000, 1001];

fn new_error() -> sutra_error {
    sutra_error {
        code: -77,
        message_len: 999,
        message: [0xAA; 256],
    }
}

/// A status and the error struct it filled agree, and the message fits its buffer.
fn check(what: &str, status: i32, err: &sutra_error) {
    assert!(KNOWN.contains(&status), "{what}: unknown status {status}");
    assert_eq!(
        err.code, status,
        "{what}: error code differs from the status"
    );
    assert!(
        err.message_len < 256,
        "{what}: message_len {}",
        err.message_len
    );
    if status != 0 {
        assert!(err.message_len > 0, "{what}: an error without a message");
    }
    assert_eq!(
        err.message[err.message_len], 0,
        "{what}: message not NUL-terminated"
    );
}

/// A byte string from the input, or NULL (`None`) when its first byte says so.
fn maybe_bytes<'a>(input: &mut Input<'a>) -> Option<&'a [u8]> {
    let b = input.short();
    (b.first() != Some(&0xFF)).then_some(b)
}

fn ptr(b: Option<&[u8]>) -> (*const u8, usize) {
    match b {
        Some(b) => (b.as_ptr(), b.len()),
        None => (null(), 0),
    }
}

fn floats(input: &mut Input<'_>, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| match input.u8() {
            0 => f32::NAN,
            1 => f32::INFINITY,
            2 => f32::MIN_POSITIVE / 2.0,
            3 => f32::MAX,
            b => (f32::from(b) - 128.0) / 16.0,
        })
        .collect()
}

pub fn ffi_args(data: &[u8]) {
    let mut input = Input(data);
    let mut options = std::mem::MaybeUninit::<sutra_options>::uninit();
    // SAFETY: `options` is writable; init fills every field.
    let mut options = unsafe {
        sutra_options_init(options.as_mut_ptr());
        options.assume_init()
    };
    let flags = input.u8();
    if flags & 1 == 1 {
        options.max_entries = u64::from(input.u8());
        options.max_bytes = u64::from(input.u16());
        options.eviction_policy = i32::from(input.u8() as i8);
        options.default_ttl_ms = u64::from(input.u8());
        options.max_key_bytes = u64::from(input.u8());
        options.max_value_bytes = u64::from(input.u16());
        options.max_element_bytes = u64::from(input.u8());
        options.max_dim = u64::from(input.u8());
        options.default_storage_mode = i32::from(input.u8() as i8);
        options.vector_dimension = u64::from(input.u8() % 8);
    }
    options.active_expire_interval_ms = 0;
    let mut cache: *mut sutra_cache = null_mut();
    let mut err = new_error();
    let opts_ptr: *const sutra_options = if flags & 2 == 0 { &options } else { null() };
    // SAFETY: NULL path (in memory), options NULL or initialized, out and err writable.
    let status = unsafe { sutra_cache_open(null(), opts_ptr, &mut cache, &mut err) };
    check("open", status, &err);
    if status != 0 {
        assert!(cache.is_null(), "open failed but returned a handle");
        return;
    }
    let mut steps = 0;
    while !input.is_empty() && steps < 64 {
        steps += 1;
        let op = input.u8();
        let mut err = new_error();
        let key = maybe_bytes(&mut input);
        let (kp, kl) = ptr(key);
        let what = format!("op {}", op % 10);
        let status = match op % 10 {
            0 => {
                let value = maybe_bytes(&mut input);
                let (vp, vl) = ptr(value);
                let ttl = i64::from(input.u8() as i8);
                let fl = u32::from(input.u8() % 5);
                let mut written = false;
                // SAFETY: every pointer is NULL or valid for its length; outputs writable.
                unsafe { sutra_cache_set(cache, kp, kl, vp, vl, ttl, fl, &mut written, &mut err) }
            }
            1 => {
                let cap = input.u8() as usize;
                let mut buf = vec![0x5Au8; cap + 16];
                let (mut len, mut found) = (usize::MAX, false);
                // SAFETY: `buf` holds `cap` writable bytes (and a guard); outputs writable.
                let s = unsafe {
                    sutra_cache_get(
                        cache,
                        kp,
                        kl,
                        buf.as_mut_ptr(),
                        cap,
                        &mut len,
                        &mut found,
                        &mut err,
                    )
                };
                assert!(
                    buf[cap..].iter().all(|&g| g == 0x5A),
                    "get wrote past its capacity"
                );
                if s == 0 && found {
                    assert!(
                        len <= cap,
                        "get: OK with {len} bytes in a {cap}-byte buffer"
                    );
                }
                if s == 1001 {
                    assert!(len > cap, "too small, but {len} ≤ {cap}");
                }
                s
            }
            2 => {
                let mut existed = false;
                // SAFETY: key NULL or valid; outputs writable.
                unsafe { sutra_cache_del(cache, kp, kl, &mut existed, &mut err) }
            }
            3 => {
                let ttl = input.u64() >> (input.u8() % 64);
                let mut existed = false;
                // SAFETY: as above.
                unsafe { sutra_cache_expire(cache, kp, kl, ttl, &mut existed, &mut err) }
            }
            4 => {
                let mut ttl = 0i64;
                // SAFETY: as above.
                unsafe { sutra_cache_ttl(cache, kp, kl, &mut ttl, &mut err) }
            }
            5 => {
                let element = maybe_bytes(&mut input);
                let (ep, el) = ptr(element);
                let dim = (input.u8() % 6) as usize;
                let v = floats(&mut input, dim);
                let attrs = maybe_bytes(&mut input);
                let (ap, al) = ptr(attrs);
                let mut so = std::mem::MaybeUninit::<sutra_vector_set_options>::uninit();
                // SAFETY: `so` is writable; init fills every field.
                let mut so = unsafe {
                    sutra_vector_set_options_init(so.as_mut_ptr());
                    so.assume_init()
                };
                let of = input.u8();
                if of & 1 == 1 {
                    so.metric = i32::from(input.u8() as i8);
                    so.storage = i32::from(input.u8() as i8);
                    so.m = u32::from(input.u8());
                    so.ef_construction = u32::from(input.u16());
                }
                let so_ptr: *const sutra_vector_set_options =
                    if of & 2 == 0 { &so } else { null() };
                let vp = if of & 4 == 0 { v.as_ptr() } else { null() };
                let ttl = i64::from(input.u8() as i8);
                let mut added = false;
                // SAFETY: every pointer is NULL or valid for its length; outputs writable.
                unsafe {
                    sutra_vector_add(
                        cache, kp, kl, ep, el, vp, dim, ap, al, ttl, so_ptr, &mut added, &mut err,
                    )
                }
            }
            6 => {
                let element = maybe_bytes(&mut input);
                let (ep, el) = ptr(element);
                let cap = (input.u8() % 8) as usize;
                let mut out = vec![f32::from_bits(0x7fc0_1234); cap + 4];
                let (mut dim, mut found) = (usize::MAX, false);
                // SAFETY: `out` holds `cap` writable floats (and a guard); outputs writable.
                let s = unsafe {
                    sutra_vector_get(
                        cache,
                        kp,
                        kl,
                        ep,
                        el,
                        out.as_mut_ptr(),
                        cap,
                        &mut dim,
                        &mut found,
                        &mut err,
                    )
                };
                assert!(
                    out[cap..].iter().all(|g| g.to_bits() == 0x7fc0_1234),
                    "vector_get wrote past its capacity"
                );
                s
            }
            7 | 8 => {
                let mut params = std::mem::MaybeUninit::<sutra_search_params>::uninit();
                // SAFETY: `params` is writable; init fills every field.
                let mut params = unsafe {
                    sutra_search_params_init(params.as_mut_ptr());
                    params.assume_init()
                };
                params.count = (input.u8() % 12) as usize;
                params.ef = input.u8() as usize;
                params.use_min_score = input.u8() & 1 == 1;
                params.min_score = (f32::from(input.u8()) - 128.0) / 64.0;
                params.exhaustive = input.u8() & 1 == 1;
                let hits_cap = (input.u8() % 8) as usize;
                let names_cap = input.u8() as usize;
                let guard = sutra_search_hit {
                    name_offset: 0xdead,
                    name_len: 0xbeef,
                    score: 7.0,
                };
                let mut hits = vec![guard; hits_cap + 2];
                let mut names = vec![0x5Au8; names_cap + 16];
                let (mut count, mut names_len) = (usize::MAX, usize::MAX);
                let s = if op % 10 == 7 {
                    let dim = (input.u8() % 6) as usize;
                    let q = floats(&mut input, dim);
                    let filter = maybe_bytes(&mut input);
                    let (fp, fl) = ptr(filter);
                    let fef = input.u8() as usize;
                    // SAFETY: every pointer is NULL or valid for its length; buffers hold
                    // their capacities; outputs writable.
                    unsafe {
                        sutra_vector_search_filtered(
                            cache,
                            kp,
                            kl,
                            q.as_ptr(),
                            dim,
                            fp,
                            fl,
                            fef,
                            &params,
                            hits.as_mut_ptr(),
                            hits_cap,
                            names.as_mut_ptr(),
                            names_cap,
                            &mut count,
                            &mut names_len,
                            &mut err,
                        )
                    }
                } else {
                    let element = maybe_bytes(&mut input);
                    let (ep, el) = ptr(element);
                    // SAFETY: as above.
                    unsafe {
                        sutra_vector_search_element(
                            cache,
                            kp,
                            kl,
                            ep,
                            el,
                            &params,
                            hits.as_mut_ptr(),
                            hits_cap,
                            names.as_mut_ptr(),
                            names_cap,
                            &mut count,
                            &mut names_len,
                            &mut err,
                        )
                    }
                };
                assert!(
                    hits[hits_cap..].iter().all(|h| h.name_offset == 0xdead),
                    "search wrote past hits_capacity"
                );
                assert!(
                    names[names_cap..].iter().all(|&g| g == 0x5A),
                    "search wrote past names_capacity"
                );
                if s == 0 {
                    assert!(
                        count <= hits_cap && names_len <= names_cap,
                        "OK but over capacity"
                    );
                    for h in &hits[..count] {
                        assert!(
                            h.name_offset + h.name_len <= names_len,
                            "a hit's name out of range"
                        );
                    }
                }
                s
            }
            _ => {
                if input.u8() & 1 == 0 {
                    let element = maybe_bytes(&mut input);
                    let (ep, el) = ptr(element);
                    let mut removed = false;
                    // SAFETY: every pointer is NULL or valid for its length; outputs writable.
                    unsafe { sutra_vector_remove(cache, kp, kl, ep, el, &mut removed, &mut err) }
                } else {
                    let dim = (input.u8() % 6) as usize;
                    let q = floats(&mut input, dim);
                    let threshold = (f32::from(input.u8()) - 128.0) / 64.0;
                    let mut removed = 0usize;
                    // SAFETY: as above.
                    unsafe {
                        sutra_vector_invalidate(
                            cache,
                            kp,
                            kl,
                            q.as_ptr(),
                            dim,
                            threshold,
                            &mut removed,
                            &mut err,
                        )
                    }
                }
            }
        };
        check(&what, status, &err);
        // SAFETY: any status is accepted; the name is a static C string.
        let name = unsafe { sutra_status_name(status) };
        assert!(!name.is_null());
    }
    let mut err = new_error();
    // SAFETY: `cache` is the live handle opened above, used by no other call.
    let status = unsafe { sutra_cache_close(cache, &mut err) };
    check("close", status, &err);
}
