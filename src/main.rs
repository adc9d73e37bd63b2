//! The `sutra-cache` command.

use clap::{Parser, Subcommand};
use sutra_cache::server::ServerConfig;

/// mimalloc instead of glibc malloc: under many clients glibc's arena locks showed up as
/// futex waits in the SET path (per-thread free lists avoid them).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Run the RESP/HTTP server (one port: Redis clients and GET /health, /stats, /metrics).
    Serve(Box<ServerConfig>),
    /// Print the SIMD instruction set the distance kernels use.
    Isa,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(config) => {
            let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            tracing_subscriber::fmt().with_env_filter(filter).init();
            sutra_cache::server::serve(*config)
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
