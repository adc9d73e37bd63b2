//! The `sutra-cache` command.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cli;
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
    /// Check a running server: exit 0 when its `GET /health` answers status ok, 1 otherwise
    /// (one line says why). The container's health check.
    Health(HealthArgs),
    /// Print the SIMD instruction set the distance kernels use.
    Isa,
    /// Manage a cluster: create|add-node|remove-node|rebalance|status|check (docs/cluster.md).
    Cluster(sutra_cache::cluster::manager::ManagerArgs),
    #[command(flatten)]
    Tools(cli::Tools),
}

#[derive(clap::Args)]
struct HealthArgs {
    /// Server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Server port (the server's own variable, so a container checks the port it serves).
    #[arg(long, env = "STORAGE_PORT", default_value_t = 50051)]
    port: u16,
    /// Seconds to wait for the whole answer.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

/// The command line; for `serve --config FILE`, parsed again with the file's settings as
/// defaults (a flag, then an environment variable, wins over the file).
fn parse() -> Result<Cli, clap::Error> {
    let cli = Cli::try_parse()?;
    let Command::Serve(config) = &cli.command else {
        return Ok(cli);
    };
    let Some(path) = config.config.clone() else {
        return Ok(cli);
    };
    let serve = Cli::command()
        .find_subcommand("serve")
        .cloned()
        .expect("serve is a subcommand");
    let serve = ServerConfig::with_config_file(serve, &path)
        .map_err(|e| Cli::command().error(clap::error::ErrorKind::InvalidValue, e))?;
    let cmd = Cli::command().mut_subcommand("serve", |_| serve);
    Cli::from_arg_matches(&cmd.try_get_matches()?)
}

fn main() -> std::process::ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A health check's bad arguments are "unhealthy" (1): Docker reserves other codes.
            let health = std::env::args().nth(1).as_deref() == Some("health");
            return std::process::ExitCode::from(match (e.use_stderr(), health) {
                (false, _) => 0, // --help, --version
                (true, true) => 1,
                (true, false) => 2,
            });
        }
    };
    match cli.command {
        Command::Serve(config) => {
            sutra_cache::server::logging::init(config.log_format, &config.log_filter);
            sutra_cache::server::serve(*config)
        }
        Command::Health(a) => {
            let timeout = std::time::Duration::try_from_secs_f64(a.timeout)
                .ok()
                .filter(|t| !t.is_zero());
            let Some(timeout) = timeout else {
                println!("unhealthy: --timeout must be a positive number of seconds");
                return std::process::ExitCode::FAILURE;
            };
            match sutra_cache::server::check_health(&a.host, a.port, timeout) {
                Ok(line) => {
                    println!("healthy: {line}");
                    std::process::ExitCode::SUCCESS
                }
                Err(why) => {
                    println!("unhealthy: {why}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
        Command::Cluster(a) => sutra_cache::cluster::manager::run(a),
        Command::Tools(t) => t.run(),
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
