//! The `sutra-cache` command.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sutra-cache",
    version,
    about = "An embedding cache that speaks RESP"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the RESP/HTTP server.
    Serve,
    /// Print the SIMD instruction set the distance kernels use.
    Isa,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve => {
            eprintln!("sutra-cache: the server is not built yet (see the Server issue)");
            std::process::ExitCode::from(2)
        }
        Command::Isa => {
            println!(
                "{}",
                sutra_cache::Engine::open(Default::default())
                    .map(|e| e.simd_isa())
                    .unwrap_or("unknown")
            );
            std::process::ExitCode::SUCCESS
        }
    }
}
