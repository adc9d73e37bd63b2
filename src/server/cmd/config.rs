//! CONFIG GET/SET/RESETSTAT and its parameter table.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx};
use crate::glob::glob_match;
use crate::server::logging;

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "SET <directive> <value>",
    "    Set the configuration <directive> to <value>.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "REWRITE",
    "    Rewrite the configuration file.",
    "HELP",
    "    Print this help.",
    "(CONFIG SET changes maxmemory, maxmemory-policy, maxclients, timeout, max-concepts,",
    "default-ttl-seconds, loglevel, log, slowlog-log-slower-than, slowlog-max-len,",
    "latency-tracking, latency-tracking-info-percentiles, replica-ignore-maxmemory and",
    "vset-force-single-threaded-execution; REWRITE keeps all but the last in the",
    "--config file. The others are set at start by flags, environment or --config.)",
];

/// Redis's name of an eviction policy.
fn policy_name(p: crate::EvictionPolicy) -> &'static str {
    match p {
        crate::EvictionPolicy::Lru => "allkeys-lru",
        crate::EvictionPolicy::Lfu => "allkeys-lfu",
        crate::EvictionPolicy::NoEviction => "noeviction",
    }
}

fn config_params(ctx: &Ctx<'_>) -> Vec<(&'static str, String)> {
    let sh = ctx.shared;
    let c = &sh.config;
    let (log_filter, log_level) = sh.live.log.lock().clone();
    let percentiles: Vec<String> = sh
        .cmdstats
        .percentiles
        .read()
        .iter()
        .map(|&p| crate::server::cmdstats::percentile_label(p))
        .collect();
    vec![
        ("port", c.port.to_string()),
        ("bind", c.bind.to_string()),
        ("dir", c.storage_path.display().to_string()),
        ("maxmemory", sh.engine.max_bytes().to_string()),
        (
            "maxmemory-policy",
            policy_name(sh.engine.eviction_policy()).to_string(),
        ),
        ("maxclients", sh.live.maxclients.load(Relaxed).to_string()),
        ("timeout", sh.live.timeout_seconds.load(Relaxed).to_string()),
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
        ("max-concepts", sh.engine.max_entries().to_string()),
        (
            "default-ttl-seconds",
            (sh.engine.default_ttl_ms() / 1000).to_string(),
        ),
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
            yes_no(sh.vset_force_single_threaded.load(Relaxed)),
        ),
        (
            "loglevel",
            log_level
                .unwrap_or_else(|| logging::redis_level_of(&log_filter))
                .to_string(),
        ),
        ("log", log_filter),
        (
            "log-format",
            format!("{:?}", c.log_format).to_ascii_lowercase(),
        ),
        (
            "slowlog-log-slower-than",
            sh.slowlog.slower_than.load(Relaxed).to_string(),
        ),
        (
            "slowlog-max-len",
            sh.slowlog.max_len.load(Relaxed).to_string(),
        ),
        (
            "latency-tracking",
            yes_no(sh.cmdstats.latency_tracking.load(Relaxed)),
        ),
        ("latency-tracking-info-percentiles", percentiles.join(" ")),
        (
            "replica-ignore-maxmemory",
            yes_no(sh.repl.ignore_maxmemory.load(Relaxed)),
        ),
        ("replica-read-only", yes_no(sh.repl.read_only.load(Relaxed))),
        ("repl-backlog-size", sh.repl.backlog_bytes.to_string()),
    ]
}

/// A parsed CONFIG SET change, applied only once every pair of the call parsed.
enum Change {
    MaxMemory(u64),
    Policy(crate::EvictionPolicy),
    MaxClients(usize),
    Timeout(u64),
    MaxConcepts(u64),
    DefaultTtl(u64),
    LogLevel(&'static str, &'static str),
    Log(String),
    SlowerThan(i64),
    SlowlogMaxLen(usize),
    LatencyTracking(bool),
    Percentiles(Vec<f64>),
    ForceSingleThreaded(bool),
    ReplicaIgnoreMaxmemory(bool),
}

/// The parameters CONFIG SET changes ([`parse_change`] parses each one's value).
const SETTABLE: &[&str] = &[
    "maxmemory",
    "maxmemory-policy",
    "maxclients",
    "timeout",
    "max-concepts",
    "default-ttl-seconds",
    "loglevel",
    "log",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "latency-tracking",
    "latency-tracking-info-percentiles",
    FORCE_SINGLE_THREADED,
    "replica-ignore-maxmemory",
];

/// Whether CONFIG SET may change parameter `name` (lower case).
fn settable(name: &str) -> bool {
    SETTABLE.contains(&name)
}

/// Parses one `CONFIG SET name value` pair of a settable parameter: `Ok(None)` when `name`
/// is not one (read-only or unknown), `Err(why)` when its value is refused.
fn parse_change(name: &str, value: &[u8]) -> Result<Option<Change>, String> {
    let text = std::str::from_utf8(value).unwrap_or("");
    let int = |min: i64| -> Result<i64, String> {
        let n = crate::server::frame::parse_i64(value)
            .ok_or("argument couldn't be parsed into an integer")?;
        if n < min {
            return Err(format!(
                "argument must be between {min} and {} inclusive",
                i64::MAX
            ));
        }
        Ok(n)
    };
    let one_of = |options: &[&str]| {
        format!(
            "argument(s) must be one of the following: {}",
            options.join(", ")
        )
    };
    Ok(Some(match name {
        "maxmemory" => Change::MaxMemory(
            crate::server::config::parse_bytes(text)
                .map_err(|_| "argument must be a memory value")?,
        ),
        "maxmemory-policy" => {
            const POLICIES: [&str; 3] = ["allkeys-lru", "allkeys-lfu", "noeviction"];
            match text.to_ascii_lowercase().as_str() {
                p @ ("allkeys-lru" | "allkeys-lfu" | "noeviction" | "lru" | "lfu") => {
                    Change::Policy(p.parse().map_err(|_| one_of(&POLICIES))?)
                }
                _ => return Err(one_of(&POLICIES)),
            }
        }
        "maxclients" => Change::MaxClients(int(1)? as usize),
        "timeout" => {
            let s = int(0)?;
            if s > i64::from(i32::MAX) {
                return Err(format!(
                    "argument must be between 0 and {} inclusive",
                    i32::MAX
                ));
            }
            Change::Timeout(s as u64)
        }
        "max-concepts" => Change::MaxConcepts(int(0)? as u64),
        "default-ttl-seconds" => Change::DefaultTtl(int(0)? as u64),
        "loglevel" => {
            let names: Vec<&str> = logging::REDIS_LEVELS.iter().map(|(n, _)| *n).collect();
            let lower = text.to_ascii_lowercase();
            let &(level, filter) = logging::REDIS_LEVELS
                .iter()
                .find(|(n, _)| *n == lower)
                .ok_or_else(|| one_of(&names))?;
            Change::LogLevel(level, filter)
        }
        "log" => {
            tracing_subscriber::EnvFilter::try_new(text)
                .map_err(|e| format!("argument is not a log filter: {e}"))?;
            Change::Log(text.to_string())
        }
        "slowlog-log-slower-than" => Change::SlowerThan(int(-1)?),
        "slowlog-max-len" => Change::SlowlogMaxLen(int(0)? as usize),
        "latency-tracking" => Change::LatencyTracking(yes_or_no(text)?),
        FORCE_SINGLE_THREADED => Change::ForceSingleThreaded(yes_or_no(text)?),
        "replica-ignore-maxmemory" => Change::ReplicaIgnoreMaxmemory(yes_or_no(text)?),
        "latency-tracking-info-percentiles" => {
            Change::Percentiles(crate::server::cmdstats::parse_percentiles(text)?)
        }
        _ => return Ok(None),
    }))
}

/// Redis's boolean parameter value, case-insensitively.
fn yes_or_no(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err("argument must be 'yes' or 'no'".into()),
    }
}

fn apply(ctx: &Ctx<'_>, change: Change) -> Result<(), String> {
    let sh = ctx.shared;
    match change {
        Change::MaxMemory(b) => {
            sh.engine.set_max_bytes(b);
            sh.live.maxmemory_set.store(true, Relaxed);
        }
        Change::Policy(p) => sh.engine.set_eviction_policy(p),
        Change::MaxClients(n) => sh.live.maxclients.store(n, Relaxed),
        Change::Timeout(s) => {
            sh.live.set_idle_timeout(s);
            // Connections already waiting take the new limit too.
            sh.clients.wake_all();
        }
        Change::MaxConcepts(n) => sh.engine.set_max_entries(n),
        Change::DefaultTtl(s) => sh.engine.set_default_ttl_ms(s.saturating_mul(1000)),
        Change::LogLevel(level, filter) => {
            logging::set_filter(filter)?;
            *sh.live.log.lock() = (filter.to_string(), Some(level));
        }
        Change::Log(filter) => {
            logging::set_filter(&filter)?;
            *sh.live.log.lock() = (filter, None);
        }
        Change::SlowerThan(us) => sh.slowlog.slower_than.store(us, Relaxed),
        Change::SlowlogMaxLen(n) => sh.slowlog.set_max_len(n),
        Change::LatencyTracking(on) => sh.cmdstats.latency_tracking.store(on, Relaxed),
        Change::Percentiles(ps) => *sh.cmdstats.percentiles.write() = ps,
        Change::ForceSingleThreaded(on) => sh.vset_force_single_threaded.store(on, Relaxed),
        Change::ReplicaIgnoreMaxmemory(on) => {
            sh.repl.ignore_maxmemory.store(on, Relaxed);
            // Only a replica ignores the caps; a master always enforces them.
            if sh.repl.is_replica() {
                sh.engine.set_evictions_paused(on);
            }
        }
    }
    Ok(())
}

/// CONFIG SET name value [name value ...]: every pair is checked before any is applied, and
/// the errors are Redis's (unknown name, immutable parameter, bad value, duplicate).
fn config_set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError(
            "ERR wrong number of arguments for 'config|set' command".into(),
        ));
    }
    let known = config_params(ctx);
    let failed = |name: &str, why: &str| {
        CmdError::err(format!(
            "CONFIG SET failed (possibly related to argument '{name}') - {why}"
        ))
    };
    // As Redis: first the names (an unknown one wins; else the last immutable or repeated
    // one), then the values; nothing is applied unless all of them pass.
    let pairs: Vec<(String, &[u8], &[u8])> = args[2..]
        .chunks(2)
        .map(|p| {
            (
                String::from_utf8_lossy(&p[0]).to_ascii_lowercase(),
                &p[0][..],
                &p[1][..],
            )
        })
        .collect();
    let mut name_error: Option<(&[u8], &str)> = None;
    for (i, (name, given, _)) in pairs.iter().enumerate() {
        if !known.iter().any(|(n, _)| n == name) {
            return Err(CmdError::err(format!(
                "Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(given)
            )));
        }
        if !settable(name) {
            name_error = Some((given, "can't set immutable config"));
        }
        if pairs[..i].iter().any(|(n, _, _)| n == name) {
            name_error = Some((given, "duplicate parameter"));
        }
    }
    if let Some((given, why)) = name_error {
        return Err(failed(&String::from_utf8_lossy(given), why));
    }
    let mut changes = Vec::new();
    let mut seen = Vec::new();
    for (name, given, value) in &pairs {
        match parse_change(name, value) {
            Ok(Some(c)) => changes.push(c),
            Ok(None) => {
                return Err(failed(
                    &String::from_utf8_lossy(given),
                    "can't set immutable config",
                ))
            }
            Err(why) => return Err(failed(&String::from_utf8_lossy(given), &why)),
        }
        seen.push(name.clone());
    }
    for (change, name) in changes.into_iter().zip(&seen) {
        apply(ctx, change).map_err(|why| failed(name, &why))?;
        if let Some(key) = super::config_rewrite::file_key(name) {
            ctx.shared.live.changed.lock().insert(key);
        }
    }
    ctx.out.ok();
    Ok(())
}

/// Redis 8's vector-set setting: the most threads its VSIM and VADD CAS work runs on
/// (immutable in Redis, default 32).
const HNSW_MAX_THREADS: &str = "vectorset-hnsw-max-threads";

/// Redis 8's mutable vector-set setting (`yes`/`no`, default `no`): in Redis it runs VSIM
/// and VADD CAS on the main thread instead of a background one. Here every command runs on
/// the server's workers, so the value is kept and reported and changes nothing.
const FORCE_SINGLE_THREADED: &str = "vset-force-single-threaded-execution";

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
        config_set(ctx, args)
    } else if is(sub, "rewrite") {
        let params = config_params(ctx);
        super::config_rewrite::rewrite(ctx, &params)
    } else if is(sub, "resetstat") {
        ctx.engine.reset_stats();
        ctx.shared.stats.reset();
        ctx.shared.cmdstats.reset();
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
