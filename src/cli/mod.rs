//! The operator's subcommands of the one binary, one file each. `main.rs` flattens
//! [`Tools`] into its command list and calls [`Tools::run`].

use std::process::ExitCode;

pub mod check;

/// Subcommands that work on a data directory, a dump file or a running server.
#[derive(clap::Subcommand)]
pub enum Tools {
    /// Verify a data directory offline (snapshot and WAL checksums, what an open would keep);
    /// exit 0 clean, 1 damaged but opens, 2 an open would fail. Never modifies it.
    Check(check::Args),
}

impl Tools {
    /// Runs the subcommand; its exit code.
    pub fn run(self) -> ExitCode {
        match self {
            Tools::Check(a) => check::run(a),
        }
    }
}
