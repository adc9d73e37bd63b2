//! The engine's integration tests (one binary: CI links it once): the public Rust API,
//! durability, the WAL, the index and the data-set tests, one module per concern.
//! Run one module with `cargo test --test engine wal_crash::`.

#[path = "../support/crash.rs"]
mod crash;
#[path = "../support/npy.rs"]
mod npy;
#[path = "../support/vectors.rs"]
mod vectors;

mod analytics_series;
mod durability_corruption;
mod durability_crash;
mod durability_engine;
mod durability_faults;
mod durability_golden;
mod engine_blob;
mod engine_changes;
mod engine_concurrency;
mod engine_databases;
mod engine_evict;
mod engine_index;
mod engine_input;
mod engine_model;
mod engine_search_batch;
mod engine_vector;
mod engine_vset_compat;
mod fuzz_regressions;
mod index_recall;
mod quant_minilm;
mod restart_mapped;
mod wal;
mod wal_async;
mod wal_crash;
mod wal_open;
