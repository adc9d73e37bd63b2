//! The operator's subcommands of the one binary, one file each. `main.rs` flattens
//! [`Tools`] into its command list and calls [`Tools::run`].

use std::process::ExitCode;

pub mod bench;
pub mod check;
pub mod dump;
pub mod export;
pub mod import;
pub mod local;
pub mod migrate;
pub mod npydir;

/// Subcommands that work on a data directory, a dump file or a running server.
#[derive(clap::Subcommand)]
pub enum Tools {
    /// Verify a data directory offline (snapshot and WAL checksums, what an open would keep);
    /// exit 0 clean, 1 damaged but opens, 2 an open would fail. Never modifies it.
    Check(check::Args),
    /// Dump a server's or a data directory's strings, hashes and vector sets (values,
    /// vectors, attributes, TTLs) as JSON Lines or NPY matrices with names (docs/tools.md);
    /// exit 1 on error.
    Export(export::Args),
    /// Load an `export` dump (JSON Lines or NPY directory) or a bare `.npy` matrix with its
    /// names into a server or a data directory; exit 1 at the first bad line.
    Import(import::Args),
    /// Copy every key of a running Redis into this server (strings with TTLs, vector sets;
    /// --embeddings decodes pickled/JSON/raw embeddings into cache entries); resumable.
    Migrate(migrate::Args),
    /// A short load run against a server (SET, GET, VSIM): throughput and latency
    /// percentiles per operation; its bench:* keys are deleted at the end.
    Bench(bench::Args),
}

impl Tools {
    /// Runs the subcommand; its exit code.
    pub fn run(self) -> ExitCode {
        match self {
            Tools::Check(a) => check::run(a),
            Tools::Export(a) => export::run(a),
            Tools::Import(a) => import::run(a),
            Tools::Migrate(a) => migrate::run(a),
            Tools::Bench(a) => bench::run(a),
        }
    }
}
