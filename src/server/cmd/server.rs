//! Connection and server commands: PING, ECHO, HELLO, AUTH, SELECT, QUIT, CLIENT, COMMAND,
//! CONFIG, INFO, DBSIZE, FLUSHDB/FLUSHALL, SAVE/BGSAVE/LASTSAVE, TIME.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use subtle::ConstantTimeEq;

use super::{arg_i64, is, CmdError, CmdResult, Ctx, COMMANDS};
use crate::server::glob::glob_match;

/// The Redis version we answer with where tools gate features on it (vector sets: 8.0).
pub const REDIS_COMPAT_VERSION: &str = "8.0.0";

pub fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // A RESP2 connection in subscribed mode gets Redis's pubsub-shaped answer.
    if !ctx.client.subscriptions.is_empty() && !ctx.out.resp3 && args.len() <= 2 {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&args[1]),
        _ => {
            return Err(CmdError::err(
                "wrong number of arguments for 'ping' command",
            ))
        }
    }
    Ok(())
}

pub fn echo(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(())
}

/// Checks a password in constant time (for equal lengths) against the configured one.
fn password_ok(ctx: &Ctx<'_>, given: &[u8]) -> bool {
    match ctx.shared.config.password() {
        Some(p) => bool::from(p.as_bytes().ct_eq(given)),
        None => false,
    }
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    if ctx.shared.config.password().is_none() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. \
             Are you sure your configuration is correct?",
        ));
    }
    let (user, pass) = if args.len() == 3 {
        (&args[1][..], &args[2][..])
    } else {
        (&b"default"[..], &args[1][..])
    };
    if user == b"default" && password_ok(ctx, pass) {
        ctx.client.authenticated = true;
        ctx.out.ok();
        Ok(())
    } else {
        Err(CmdError(WRONGPASS.into()))
    }
}

pub fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut proto = None;
    if args.len() >= 2 {
        let v = super::super::frame::parse_i64(&args[1])
            .ok_or_else(|| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError("NOPROTO unsupported protocol version".into()));
        }
        proto = Some(v);
    }
    let mut i = 2;
    let mut auth: Option<(&[u8], &[u8])> = None;
    let mut setname: Option<&Bytes> = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            auth = Some((&args[i + 1], &args[i + 2]));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            setname = Some(&args[i + 1]);
            i += 2;
        } else {
            return Err(CmdError::err(format!(
                "Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(&args[i])
            )));
        }
    }
    if let Some((user, pass)) = auth {
        if ctx.shared.config.password().is_none() {
            // Redis accepts AUTH default <anything> when no password is configured.
            if user != b"default" {
                return Err(CmdError(WRONGPASS.into()));
            }
        } else if user == b"default" && password_ok(ctx, pass) {
            ctx.client.authenticated = true;
        } else {
            return Err(CmdError(WRONGPASS.into()));
        }
    }
    if !ctx.client.authenticated {
        return Err(CmdError(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the \
             HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and \
             select the RESP protocol version at the same time"
                .into(),
        ));
    }
    if let Some(name) = setname {
        check_client_name(name)?;
        ctx.client.info.names.lock().name = (!name.is_empty()).then(|| name.clone());
    }
    if let Some(p) = proto {
        ctx.out.resp3 = p == 3;
        ctx.client.info.resp.store(p as u8, Relaxed);
    }
    let out = &mut *ctx.out;
    out.map(7);
    // `redis`, as Redis answers: clients gate features on it (redis-py's client-side cache
    // needs server "redis", version 7.4 or later). INFO names sutra-cache.
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_COMPAT_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if out.resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.info.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

pub fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let db = arg_i64(&args[1])?;
    if db != 0 {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.out.ok();
    Ok(())
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

fn check_client_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

const CLIENT_HELP: &[&str] = &[
    "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GETNAME",
    "    Return the name of the current connection.",
    "ID",
    "    Return the ID of the current connection.",
    "INFO",
    "    Return information about the current client connection.",
    "KILL <ip:port>",
    "    Kill connection made from <ip:port>.",
    "KILL <option> <value> [<option> <value> [...]]",
    "    Kill connections. Options are:",
    "    * ADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made from the specified address",
    "    * LADDR (<ip:port>|<unixsocket>:0)",
    "      Kill connections made to specified local address",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Kill connections by type.",
    "    * USER <username>",
    "      Kill connections authenticated by <username>.",
    "    * SKIPME (YES|NO)",
    "      Skip killing current connection (default: yes).",
    "    * ID <client-id>",
    "      Kill connections by client id.",
    "LIST [options ...]",
    "    Return information about client connections. Options:",
    "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
    "      Return clients of specified type.",
    "    * ID <client-id> [<client-id> ...]",
    "      Return clients of specified IDs only.",
    "SETNAME <name>",
    "    Assign the name <name> to the current connection.",
    "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
    "         [OPTIN] [OPTOUT] [NOLOOP]",
    "    Control server assisted client side caching (vector-set elements are invalidated",
    "    as <key>\\0<element>).",
    "CACHING (YES|NO)",
    "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
    "GETREDIR",
    "    Return the client ID we are redirecting to when tracking is enabled.",
    "TRACKINGINFO",
    "    Report tracking status for the current connection.",
    "SETINFO <LIB-NAME|LIB-VER> <value>",
    "    Set client meta attr. Options are:",
    "    * LIB-NAME: the client lib name.",
    "    * LIB-VER: the client lib version.",
    "HELP",
    "    Print this help.",
];

/// Redis's client types: every sutra-cache client is `normal` (no replication, no pub/sub).
fn client_type_is_normal(t: &[u8]) -> Result<bool, CmdError> {
    if is(t, "normal") {
        Ok(true)
    } else if ["master", "replica", "slave", "pubsub"]
        .iter()
        .any(|k| is(t, k))
    {
        Ok(false)
    } else {
        Err(CmdError::err(format!(
            "Unknown client type '{}'",
            String::from_utf8_lossy(t)
        )))
    }
}

/// `CLIENT LIST [TYPE type] [ID id ...]`.
fn client_list(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut all = true;
    if args.len() == 4 && is(&args[2], "type") {
        all = client_type_is_normal(&args[3])?;
    } else if args.len() > 3 && is(&args[2], "id") {
        let parsed = args[3..]
            .iter()
            .map(|a| {
                arg_i64(a)
                    .ok()
                    .filter(|&n| n >= 1)
                    .map(|n| n as u64)
                    .ok_or_else(|| CmdError::err("Invalid client ID"))
            })
            .collect::<Result<Vec<u64>, CmdError>>()?;
        ids = Some(parsed);
    } else if args.len() != 2 {
        return Err(CmdError::syntax());
    }
    let now = ctx.shared.since_start_ms();
    let mut text = String::new();
    for c in ctx.shared.clients.list() {
        if all && ids.as_ref().is_none_or(|ids| ids.contains(&c.id)) {
            text.push_str(&c.line(now));
        }
    }
    ctx.out.verbatim(&text);
    Ok(())
}

/// `CLIENT KILL ip:port` (OK, or an error when no client matches), or `CLIENT KILL` with
/// filters (ID, ADDR, LADDR, TYPE, USER, SKIPME): the number of clients killed.
fn client_kill(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let me = ctx.client.info.id;
    let clients = ctx.shared.clients.list();
    if args.len() == 3 {
        let Some(c) = clients.iter().find(|c| c.addr.as_bytes() == &args[2][..]) else {
            return Err(CmdError::err("No such client"));
        };
        c.kill();
        ctx.out.ok();
        return Ok(());
    }
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    let (mut id, mut addr, mut laddr) = (None, None, None);
    let (mut normal, mut skipme) = (true, true);
    for pair in args[2..].chunks_exact(2) {
        let (opt, v) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            let n = arg_i64(v)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if is(opt, "type") {
            normal = client_type_is_normal(v)?;
        } else if is(opt, "user") {
            if &v[..] != b"default" {
                return Err(CmdError::err(format!(
                    "No such user '{}'",
                    String::from_utf8_lossy(v)
                )));
            }
        } else if is(opt, "addr") {
            addr = Some(v.clone());
        } else if is(opt, "laddr") {
            laddr = Some(v.clone());
        } else if is(opt, "skipme") && (is(v, "yes") || is(v, "no")) {
            skipme = is(v, "yes");
        } else {
            return Err(CmdError::syntax());
        }
    }
    let mut killed = 0;
    for c in clients {
        let fits = normal
            && id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| c.laddr.as_bytes() == &a[..])
            && !(skipme && c.id == me);
        if fits {
            c.kill();
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

pub fn client(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    // Unknown subcommands and wrong counts are refused before this runs.
    let sub = &args[1];
    let info = ctx.client.info.clone();
    if is(sub, "id") {
        ctx.out.int(info.id as i64);
    } else if is(sub, "setname") {
        check_client_name(&args[2])?;
        info.names.lock().name = (!args[2].is_empty()).then(|| args[2].clone());
        ctx.out.ok();
    } else if is(sub, "getname") {
        let name = info.names.lock().name.clone();
        ctx.out.bulk_or_null(name.as_deref());
    } else if is(sub, "setinfo") {
        if args[3].iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
            return Err(CmdError::err(format!(
                "{} cannot contain spaces, newlines or special characters.",
                String::from_utf8_lossy(&args[2]).to_ascii_lowercase()
            )));
        }
        let value = (!args[3].is_empty()).then(|| args[3].clone());
        let mut names = info.names.lock();
        if is(&args[2], "lib-name") {
            names.lib_name = value;
        } else if is(&args[2], "lib-ver") {
            names.lib_ver = value;
        } else {
            return Err(CmdError::err(format!(
                "Unrecognized option '{}'",
                String::from_utf8_lossy(&args[2])
            )));
        }
        drop(names);
        ctx.out.ok();
    } else if is(sub, "info") {
        let line = info.line(ctx.shared.since_start_ms());
        ctx.out.verbatim(&line);
    } else if is(sub, "list") {
        client_list(ctx, args)?;
    } else if is(sub, "kill") {
        client_kill(ctx, args)?;
    } else if is(sub, "tracking") {
        super::tracking::client_tracking(ctx, args)?;
    } else if is(sub, "caching") {
        super::tracking::client_caching(ctx, args)?;
    } else if is(sub, "getredir") {
        super::tracking::client_getredir(ctx)?;
    } else if is(sub, "trackinginfo") {
        super::tracking::client_trackinginfo(ctx)?;
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, CLIENT_HELP);
    } else {
        return Err(CmdError::err(format!(
            "CLIENT {} is not supported by sutra-cache",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )));
    }
    Ok(())
}

fn command_info(ctx: &mut Ctx<'_>, spec: &super::Spec) {
    let out = &mut *ctx.out;
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    out.set(spec.flags.len());
    for f in spec.flags {
        out.simple(f);
    }
    out.int(i64::from(spec.keys.0));
    out.int(i64::from(spec.keys.1));
    out.int(i64::from(spec.keys.2));
    out.set(0); // ACL categories
    out.set(0); // tips
    out.array(0); // key specifications
    out.array(0); // subcommands
}

fn command_doc(ctx: &mut Ctx<'_>, spec: &super::Spec) {
    let out = &mut *ctx.out;
    out.bulk(spec.name.as_bytes());
    out.map(3);
    out.bulk(b"summary");
    out.bulk(spec.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(b"0.1.0");
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
}

pub fn command(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        ctx.out.array(COMMANDS.len());
        for spec in COMMANDS {
            command_info(ctx, spec);
        }
        return Ok(());
    }
    let sub = &args[1];
    if is(sub, "count") {
        ctx.out.int(COMMANDS.len() as i64);
    } else if is(sub, "list") {
        // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]
        let keep: Box<dyn Fn(&super::Spec) -> bool> = match &args[2..] {
            [] => Box::new(|_| true),
            [f, kind, value] if is(f, "filterby") && is(kind, "pattern") => {
                let p = value.to_ascii_lowercase();
                Box::new(move |s: &super::Spec| glob_match(&p, s.name.as_bytes()))
            }
            // No modules, and no ACL categories are kept.
            [f, kind, _] if is(f, "filterby") && (is(kind, "module") || is(kind, "aclcat")) => {
                Box::new(|_| false)
            }
            _ => return Err(CmdError::syntax()),
        };
        let names: Vec<&str> = COMMANDS
            .iter()
            .filter(|s| keep(s))
            .map(|s| s.name)
            .collect();
        ctx.out.array(names.len());
        for name in names {
            ctx.out.bulk(name.as_bytes());
        }
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, COMMAND_HELP);
    } else if is(sub, "info") {
        if args.len() == 2 {
            ctx.out.array(COMMANDS.len());
            for spec in COMMANDS {
                command_info(ctx, spec);
            }
        } else {
            ctx.out.array(args.len() - 2);
            for name in &args[2..] {
                match super::lookup(name) {
                    Some(spec) => command_info(ctx, spec),
                    None => ctx.out.null_array(),
                }
            }
        }
    } else if is(sub, "docs") {
        let specs: Vec<&super::Spec> = if args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            args[2..].iter().filter_map(|n| super::lookup(n)).collect()
        };
        ctx.out.map(specs.len());
        for spec in specs {
            command_doc(ctx, spec);
        }
    } else {
        return Err(CmdError::err(format!(
            "COMMAND {} is not supported by sutra-cache",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )));
    }
    Ok(())
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "HELP",
    "    Print this help.",
];

const CONFIG_HELP: &[&str] = &[
    "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET <pattern>",
    "    Return parameters matching the glob-like <pattern> and their values.",
    "RESETSTAT",
    "    Reset statistics reported by the INFO command.",
    "HELP",
    "    Print this help.",
    "(Parameters are set at start, by flags and environment variables: CONFIG SET",
    "and REWRITE are not supported.)",
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
        ("databases", "1".to_string()),
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
    ]
}

fn yes_no(b: bool) -> String {
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
        Err(CmdError::err(
            "CONFIG SET is not supported: restart the server with the flag or variable",
        ))
    } else if is(sub, "resetstat") {
        ctx.shared.engine.reset_stats();
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

/// The text of INFO for the asked sections (all by default).
pub fn info_text(ctx: &Ctx<'_>, sections: &[Bytes]) -> String {
    let all = sections.is_empty()
        || sections
            .iter()
            .any(|s| is(s, "all") || is(s, "everything") || is(s, "default"));
    let want = |name: &str| all || sections.iter().any(|s| is(s, name));
    let sh = ctx.shared;
    let c = &sh.config;
    let st = &sh.stats;
    let engine = sh.engine.stats();
    let mut t = String::new();
    let section = |t: &mut String, title: &str| {
        if !t.is_empty() {
            t.push_str("\r\n");
        }
        let _ = write!(t, "# {title}\r\n");
    };
    if want("server") {
        section(&mut t, "Server");
        let _ = write!(
            t,
            "redis_version:{REDIS_COMPAT_VERSION}\r\nsutra_cache_version:{}\r\nredis_mode:standalone\r\n\
             os:{}\r\narch_bits:{}\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\n\
             uptime_in_days:{}\r\nsimd_isa:{}\r\nrole:{}\r\ncache_mode:{}\r\nvector_dimension:{}\r\n\
             vector_storage:{}\r\nprotected_mode:{}\r\ndefault_ttl_seconds:{}\r\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::OS,
            usize::BITS,
            std::process::id(),
            c.port,
            sh.uptime_seconds(),
            sh.uptime_seconds() / 86_400,
            sh.engine.simd_isa(),
            c.role,
            u8::from(c.cache_role()),
            c.vector_dimension.map_or_else(|| "none".to_string(), |d| d.to_string()),
            c.vector_storage.name(),
            yes_no(c.protected_mode),
            c.default_ttl(),
        );
    }
    if want("clients") {
        section(&mut t, "Clients");
        let _ = write!(
            t,
            "connected_clients:{}\r\nmaxclients:{}\r\n",
            st.connected_clients.load(Relaxed),
            c.maxclients
        );
    }
    if want("memory") {
        section(&mut t, "Memory");
        let _ = write!(
            t,
            "used_memory:{}\r\nused_memory_human:{}\r\nmaxmemory:{}\r\nmaxmemory_human:{}\r\n\
             maxmemory_source:{}\r\ncgroup_memory_limit:{}\r\n\
             maxmemory_policy:{}\r\nmax_entries:{}\r\nentries:{}\r\n",
            engine.total.bytes,
            human_bytes(engine.total.bytes),
            c.effective_maxmemory(),
            human_bytes(c.effective_maxmemory()),
            c.maxmemory_source(),
            c.cgroup_memory_limit.unwrap_or(0),
            c.eviction_policy,
            c.max_concepts,
            engine.total.entries,
        );
    }
    if want("persistence") {
        section(&mut t, "Persistence");
        let (wal_io, policy) = sh
            .engine
            .wal_mode()
            .map_or(("none", "none".to_string()), |(io, p)| (io, p.to_string()));
        let _ = write!(
            t,
            "loading:0\r\nrdb_last_save_time:{}\r\nrdb_bgsave_in_progress:{}\r\n\
             rdb_last_bgsave_status:{}\r\naof_enabled:0\r\nstorage_path:{}\r\n\
             in_memory:{}\r\nwal_mode:{}\r\nwal_sync:{policy}\r\nwal_io:{wal_io}\r\n\
             wal_sync_interval_ms:{}\r\nlast_lsn:{}\r\nmmap_enabled:{}\r\n",
            last_save_unix(sh),
            u8::from(sh.bgsave_in_progress.load(Relaxed)),
            if sh.bgsave_failed.load(Relaxed) {
                "err"
            } else {
                "ok"
            },
            c.storage_path.display(),
            u8::from(c.in_memory),
            c.wal_mode(),
            c.wal_sync_interval_ms,
            sh.engine.last_lsn(),
            u8::from(c.mmap_enabled),
        );
        if let Some((batches, syncs)) = sh.engine.wal_io_counts() {
            let _ = write!(t, "wal_batches:{batches}\r\nwal_fsyncs:{syncs}\r\n");
        }
        if let Some(r) = sh.engine.recovery_report() {
            let _ = write!(
                t,
                "recovery_snapshot_loaded:{}\r\nrecovery_snapshot_lsn:{}\r\n\
                 recovery_snapshots_skipped:{}\r\nrecovery_records_replayed:{}\r\n\
                 recovery_records_superseded:{}\r\nrecovery_wal_bytes_truncated:{}\r\n\
                 recovery_ms:{}\r\n",
                u8::from(r.snapshot.is_some()),
                r.snapshot_lsn,
                r.snapshots_skipped.len(),
                r.records_replayed,
                r.records_superseded,
                r.wal_bytes_truncated,
                r.open_ms,
            );
        }
    }
    if want("stats") {
        section(&mut t, "Stats");
        let _ = write!(
            t,
            "total_connections_received:{}\r\ntotal_commands_processed:{}\r\n\
             rejected_connections:{}\r\ntotal_error_replies:{}\r\ntotal_net_input_bytes:{}\r\n\
             total_net_output_bytes:{}\r\nexpired_keys:{}\r\nevicted_keys:{}\r\n\
             keyspace_hits:{}\r\nkeyspace_misses:{}\r\nhit_rate:{:.6}\r\nhttp_requests:{}\r\n",
            ServerStatsGet(&st.total_connections),
            ServerStatsGet(&st.total_commands),
            ServerStatsGet(&st.rejected_connections),
            ServerStatsGet(&st.error_replies),
            ServerStatsGet(&st.net_input_bytes),
            ServerStatsGet(&st.net_output_bytes),
            engine.total.expirations,
            engine.total.evictions,
            engine.total.hits,
            engine.total.misses,
            engine.total.hit_rate(),
            ServerStatsGet(&st.http_requests),
        );
        let tr = sh.tracking.stats();
        let _ = write!(
            t,
            "pubsub_channels:{}\r\ntracking_clients:{}\r\ntracking_total_keys:{}\r\n\
             tracking_total_items:{}\r\ntracking_total_prefixes:{}\r\n",
            sh.pubsub.channels(),
            tr.clients,
            tr.keys,
            tr.items,
            tr.prefixes,
        );
    }
    if want("replication") {
        section(&mut t, "Replication");
        t.push_str("role:master\r\nconnected_slaves:0\r\n");
    }
    if want("keyspace") {
        section(&mut t, "Keyspace");
        if engine.keys > 0 {
            let ttl = sh.engine.key_expiries();
            let _ = write!(
                t,
                "db0:keys={},expires={},avg_ttl={},vector_sets={}\r\n",
                engine.keys, ttl.keys, ttl.avg_ttl_ms, engine.vector_sets
            );
        }
    }
    t
}

struct ServerStatsGet<'a>(&'a std::sync::atomic::AtomicU64);

impl std::fmt::Display for ServerStatsGet<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.load(Relaxed))
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "K", "M", "G", "T"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n}B")
    } else {
        format!("{v:.2}{}", UNITS[i])
    }
}

pub fn info(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let text = info_text(ctx, &args[1..]);
    ctx.out.verbatim(&text);
    Ok(())
}

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.shared.engine.dbsize() as i64);
    Ok(())
}

pub fn flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "sync") || is(&args[1], "async") => {}
        _ => return Err(CmdError::syntax()),
    }
    ctx.shared.engine.flush()?;
    ctx.out.ok();
    Ok(())
}

fn no_data_dir() -> CmdError {
    CmdError::err("snapshots need a data directory: this server runs with --in-memory")
}

/// SAVE writes a snapshot now and answers when it is on disk; BGSAVE [SCHEDULE] starts one
/// on a background thread and answers at once.
pub fn save(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = ctx.shared;
    if sh.engine.last_checkpoint_ms().is_none() {
        return Err(no_data_dir());
    }
    if !is(&args[0], "bgsave") {
        sh.engine.checkpoint()?;
        ctx.out.ok();
        return Ok(());
    }
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {}
        _ => return Err(CmdError::syntax()),
    }
    if sh.bgsave_in_progress.swap(true, Relaxed) {
        return Err(CmdError::err("Background save already in progress"));
    }
    let engine = sh.engine.clone();
    let running = sh.bgsave_in_progress.clone();
    let failed = sh.bgsave_failed.clone();
    let spawned = std::thread::Builder::new()
        .name("sutra-bgsave".into())
        .spawn(move || {
            let r = engine.checkpoint();
            if let Err(e) = &r {
                tracing::error!(error = %e, "BGSAVE failed");
            }
            failed.store(r.is_err(), Relaxed);
            running.store(false, Relaxed);
        });
    if let Err(e) = spawned {
        sh.bgsave_in_progress.store(false, Relaxed);
        return Err(CmdError::err(format!(
            "cannot start a background save: {e}"
        )));
    }
    ctx.out.simple("Background saving started");
    Ok(())
}

/// Unix time (s) of the newest snapshot; the start time when running in memory.
pub fn last_save_unix(sh: &crate::server::shared::Shared) -> u64 {
    sh.engine
        .last_checkpoint_ms()
        .map_or(sh.started_unix, |ms| ms / 1000)
}

pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(last_save_unix(ctx.shared) as i64);
    Ok(())
}

pub fn time(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE]: stops accepting, answers requests already read, closes the
/// engine. Like Redis, a successful SHUTDOWN sends no reply: the connection closes.
/// Closing the engine writes a snapshot either way (`checkpoint_on_close`): with the WAL
/// nothing acknowledged is lost without one, and the snapshot makes the next start fast.
pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "nosave") || is(&args[1], "save") => {}
        _ => return Err(CmdError::syntax()),
    }
    ctx.shared.shutdown_requested.notify_one();
    ctx.client.close_after_reply = true;
    Ok(())
}
