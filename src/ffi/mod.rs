//! The C ABI (`include/sutra_cache.h`, made by cbindgen from this module): thin translations
//! of [`crate::Engine`] calls, no logic. Conventions: `sutra_<object>_<verb>` names, typed
//! opaque handles, `int32_t` status codes ([`status`]), an optional caller-owned
//! `sutra_error`, caller-owned output buffers with a capacity and a returned length, arguments
//! borrowed only for the call, every pointer and length checked in release builds, and no
//! panic crossing the boundary (each entry point runs in [`status::guard`]).
#![allow(non_camel_case_types)]
#![allow(unsafe_code)] // listed in ARCHITECTURE.md; every block after a `// SAFETY:` comment

mod cache;
mod keys;
pub(crate) use cache::quiet_opens;
// Status constants exist for the header; Rust code maps `ErrorCode`s to them numerically.
mod search;
#[allow(dead_code)]
mod status;
mod vector;
