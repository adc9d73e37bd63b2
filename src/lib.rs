//! sutra-cache: an embedding cache engine.
//!
//! An exact cache of blobs and embeddings (get/set, TTL, LRU/LFU eviction under caps,
//! statistics) that also understands vectors (per-model vector sets with similarity search
//! and semantic invalidation). [`Engine`] is the whole public Rust API; the RESP server and
//! the C ABI are thin front ends over it. See `ARCHITECTURE.md` for the map.

#![warn(missing_docs)]
// `unsafe` only where ARCHITECTURE.md lists it: simd (intrinsics), snapshot and wal (mmap,
// io_uring, file syscalls), index::huge (madvise), server::uring (io_uring sockets), ffi (the
// C ABI). Each of those modules
// allows it for itself; tests/architecture.rs checks the list.
#![deny(unsafe_code)]

pub mod analytics;
#[doc(hidden)]
pub mod cluster;
mod engine;
mod error;
mod ffi;
#[doc(hidden)]
pub mod fuzzing;
mod glob;
#[doc(hidden)]
pub mod index;
pub mod npy;
#[doc(hidden)]
pub mod quant;
mod rdb;
#[doc(hidden)]
pub mod server;
#[doc(hidden)]
pub mod simd;
mod snapshot;
mod store;
mod vocab;
#[doc(hidden)]
pub mod wal;

pub use engine::*;
pub use error::{Error, ErrorCode, Result, SetParam};
pub use vocab::{DEFAULT_WAL_SYNC_INTERVAL_MS, TTL_MISSING, TTL_NO_EXPIRY};
