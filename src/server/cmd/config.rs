//! CONFIG GET/SET/RESETSTAT and its parameter table.

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx};
use crate::glob::glob_match;

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "HELP",
    "    Print this help.",
    "SET <parameter> <value>",
    "    Set vset-force-single-threaded-execution (yes|no); the other parameters are set",
    "    at start, by flags and environment variables. REWRITE is not supported.",
];

fn config_params(ctx: &Ctx<'_>) -> Vec<(&'static str, String)> {
    let c = &ctx.shared.config;
    let policy = match c.eviction_policy {
        crate::EvictionPolicy::Lru => "allkeys-lru",
        crate::EvictionPolicy::Lfu => "allkeys-lfu",
        crate::EvictionPolicy::NoEviction => "noeviction",
    };
    vec![
        ("port", c.port.to_string()),
        ("bind", c.bind.to_string()),
        ("dir", c.storage_path.display().to_string()),
        ("maxmemory", c.effective_maxmemory().to_string()),
        ("maxmemory-policy", policy.to_string()),
        ("maxclients", c.maxclients.to_string()),
        ("timeout", c.idle_timeout_seconds.to_string()),
        ("proto-max-bulk-len", c.proto_max_bulk_len.to_string()),
        (
            "client-query-buffer-limit",
            c.client_query_buffer_limit.to_string(),
        ),
        ("databases", c.databases.to_string()),
        ("save", String::new()),
        (
            "appendonly",
            if c.in_memory { "no" } else { "yes" }.to_string(),
        ),
        (
            "appendfsync",
            match c.wal_sync_policy() {
                crate::SyncPolicy::Always => "always",
                crate::SyncPolicy::Interval(_) => "everysec",
                crate::SyncPolicy::Never => "no",
            }
            .to_string(),
        ),
        ("max-concepts", c.max_concepts.to_string()),
        ("default-ttl-seconds", c.default_ttl().to_string()),
        ("wal-sync-interval-ms", c.wal_sync_interval_ms.to_string()),
        ("cache-mode", yes_no(c.cache_role())),
        ("vector-storage", c.vector_storage.name().to_string()),
        ("protected-mode", yes_no(c.protected_mode)),
        (
            "tracking-table-max-keys",
            c.tracking_table_max_keys.to_string(),
        ),
        (HNSW_MAX_THREADS, vset_threads(c).to_string()),
        (
            FORCE_SINGLE_THREADED,
            yes_no(
                ctx.shared
                    .vset_force_single_threaded
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
        ),
    ]
}

/// Redis 8's mutable vector-set setting (`yes`/`no`, default `no`): in Redis it runs VSIM
/// and VADD CAS on the main thread instead of a background one. Here every command runs on
/// the server's workers, so the value is kept and reported and changes nothing.
const FORCE_SINGLE_THREADED: &str = "vset-force-single-threaded-execution";

/// Redis 8's vector-set setting: the most threads its VSIM and VADD CAS work runs on
/// (immutable in Redis, default 32).
const HNSW_MAX_THREADS: &str = "vectorset-hnsw-max-threads";

/// The threads vector-set searches and adds run on here: the server's worker threads
/// (`--threads`, 0 = one per core), as every command runs on them.
fn vset_threads(c: &crate::server::ServerConfig) -> usize {
    if c.threads > 0 {
        c.threads
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

pub(super) fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_string()
}

/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn config(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "get") {
        let params = config_params(ctx);
        let hits: Vec<&(&str, String)> = params
            .iter()
            .filter(|(name, _)| {
                args[2..]
                    .iter()
                    .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()))
            })
            .collect();
        ctx.out.map(hits.len());
        for (name, value) in hits {
            ctx.out.bulk(name.as_bytes());
            ctx.out.bulk(value.as_bytes());
        }
        Ok(())
    } else if is(sub, "set") {
        // Redis refuses to change an immutable parameter, naming it; the others are set at
        // start here.
        if let Some(p) = args[2..]
            .iter()
            .step_by(2)
            .find(|p| is(p, HNSW_MAX_THREADS))
        {
            return Err(CmdError::err(format!(
                "CONFIG SET failed (possibly related to argument '{}') - can't set immutable config",
                String::from_utf8_lossy(p)
            )));
        }
        // The settable vector-set parameter: every pair names it (Redis sets all the pairs
        // of one CONFIG SET or none).
        let pairs = &args[2..];
        if pairs.len().is_multiple_of(2)
            && pairs
                .iter()
                .step_by(2)
                .all(|p| is(p, FORCE_SINGLE_THREADED))
        {
            let mut value = None;
            for pair in pairs.chunks(2) {
                value = Some(if is(&pair[1], "yes") {
                    true
                } else if is(&pair[1], "no") {
                    false
                } else {
                    return Err(CmdError::err(format!(
                        "CONFIG SET failed (possibly related to argument '{}') - argument must \
                         be 'yes' or 'no'",
                        String::from_utf8_lossy(&pair[0])
                    )));
                });
            }
            if let Some(v) = value {
                ctx.shared
                    .vset_force_single_threaded
                    .store(v, std::sync::atomic::Ordering::Relaxed);
            }
            ctx.out.ok();
            return Ok(());
        }
        Err(CmdError::err(
            "CONFIG SET is not supported: restart the server with the flag or variable",
        ))
    } else if is(sub, "resetstat") {
        ctx.engine.reset_stats();
        ctx.shared.stats.reset();
        ctx.out.ok();
        Ok(())
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, CONFIG_HELP);
        Ok(())
    } else {
        Err(CmdError::err(format!(
            "CONFIG {} is not supported: the configuration is set at start (flags and \
             environment variables, see `sutra-cache serve --help`)",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )))
    }
}
