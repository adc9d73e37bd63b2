//! Commands: one table entry per command (name, arity, flags, handler), grouped in files.
//! Every handler is a thin translation: parse arguments → one engine call → encode reply.

mod acl;
mod analytics;
mod args;
mod cache;
mod client;
mod cluster;
mod command;
mod config;
mod config_rewrite;
mod conn;
mod debug;
mod dump;
#[cfg(test)]
mod fuzz;
mod hash;
mod info;
mod keyspace;
mod repl;
mod server;
mod slowlog;
mod string;
mod table;
mod tracking;
mod tx;
mod vset;

use bytes::Bytes;

pub use args::{arg_i64, arg_str, is, parse_f64, scan_args, slices};
pub use table::*;
pub use tracking::leave;
pub use tx::{takes_gate_itself, unwatch_all};

use super::reply::Out;
use super::shared::Shared;
use crate::{Error, Writer};

/// Per-connection state that commands read and change.
#[derive(Debug, Default)]
pub struct Client {
    /// Id, addresses and names, shared with the registry CLIENT LIST reads.
    pub info: std::sync::Arc<super::clients::ClientInfo>,
    /// Passed AUTH (or no password is configured).
    pub authenticated: bool,
    /// Close the connection once the pending replies are written (QUIT).
    pub close_after_reply: bool,
    /// Commands queued since MULTI (`None` outside a transaction).
    pub multi: Option<tx::Queued>,
    /// Keys this connection WATCHes.
    pub watch: super::tx::ClientWatch,
    /// Client-side caching (CLIENT TRACKING) as this connection's reads need it.
    pub tracking: Tracked,
    /// Channels this connection SUBSCRIBEs to.
    pub subscriptions: std::collections::HashSet<Bytes>,
    /// ASKING was sent: the next command may use a slot this node imports (cluster mode).
    pub asking: bool,
    /// The manager's connection copying keys of migrating slots (SUTRA.CLUSTER MIGRATOR).
    pub migrator: bool,
    /// The engine of the database SELECT chose (`None`: database 0, the shared engine).
    pub selected: Option<std::sync::Arc<crate::Engine>>,
    /// Work the connection does after the command, which waits (WAIT) or takes the
    /// connection over (SUTRA.PSYNC).
    pub deferred: Option<Deferred>,
    /// The port a replica said it serves on (`REPLCONF listening-port`).
    pub repl_listening_port: u16,
    /// READONLY was sent (cluster mode): reads may be served by a replica of their slot.
    pub readonly: bool,
    /// The log's last LSN after this connection's last write (Redis's `woff`): what its
    /// WAIT waits for replicas to acknowledge (0: no write yet, WAIT returns at once).
    pub write_offset: u64,
    /// The ACL user's rules as taken at ACL generation `acl_generation` (`None`: not yet).
    pub user: Option<std::sync::Arc<super::acl::User>>,
    pub acl_generation: u64,
    /// AUTH/HELLO AUTH failures in a row (each past the third waits before its reply).
    pub auth_failures: u32,
    /// A clock reading the next command's timing may start from, taken just before it
    /// (when its request was read, or when the command before it in the same run of
    /// buffered requests ended): one clock read per command instead of two. The connection
    /// clears it before anything that waits.
    pub clock: Option<std::time::Instant>,
}

impl Client {
    /// The ACL user this connection runs as.
    pub fn username(&self) -> String {
        self.info
            .names
            .lock()
            .user
            .clone()
            .unwrap_or_else(|| "default".into())
    }

    /// Makes `name` (`None`: `default`) this connection's user; its rules are taken at the
    /// next command.
    pub fn set_user(&mut self, name: Option<String>) {
        self.info.names.lock().user = name.filter(|n| n != "default");
        self.user = None;
    }
}

/// What a command left for its connection to do once the replies before it are out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deferred {
    /// `WAIT`: reply how many replicas acknowledged `offset`, waiting until `replicas` have
    /// or `timeout_ms` passed (0: no limit).
    Wait {
        replicas: usize,
        offset: u64,
        timeout_ms: u64,
    },
    /// `SUTRA.PSYNC`: the connection becomes the stream to a replica.
    Psync { replid: String, offset: i64 },
    /// A failed AUTH past the third in a row: the reply waits this long.
    Pause(std::time::Duration),
}

/// What a connection's reads do for client-side caching (the table itself is
/// [`super::tracking::Tracking`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tracked {
    /// Tracking is on (either mode).
    pub on: bool,
    /// On in default mode: reads register their names.
    pub default_mode: bool,
    pub optin: bool,
    pub optout: bool,
    /// CLIENT CACHING yes|no, for the next command.
    pub caching: Option<bool>,
}

impl Tracked {
    /// Whether this command's reads are to be registered.
    fn registers(&self) -> bool {
        self.default_mode
            && if self.optin {
                self.caching == Some(true)
            } else if self.optout {
                self.caching != Some(false)
            } else {
                true
            }
    }
}

/// What a handler works with.
pub struct Ctx<'a> {
    /// Engine, configuration and counters.
    pub shared: &'a Shared,
    /// The engine of the connection's selected database (every key command's).
    pub engine: &'a crate::Engine,
    /// This connection.
    pub client: &'a mut Client,
    /// Where the reply goes.
    pub out: &'a mut Out,
    /// Where writes go: the engine's write calls, acknowledged by whoever runs the command
    /// (the connection, once per pipeline; EXEC's transaction, as one record).
    pub w: Writer<'a>,
    /// Set by a write command that, this time, changed nothing (SET NX on an existing key,
    /// DEL of missing keys): WATCHers of its keys are not disturbed, as in Redis.
    pub unchanged: bool,
}

/// An error reply; the text starts with its Redis prefix (`ERR`, `WRONGTYPE`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub String);

impl CmdError {
    /// `ERR <msg>`.
    pub fn err(msg: impl std::fmt::Display) -> Self {
        CmdError(format!("ERR {msg}"))
    }
    /// Redis's `ERR syntax error`.
    pub fn syntax() -> Self {
        CmdError("ERR syntax error".into())
    }
    /// Redis's `ERR value is not an integer or out of range`.
    pub fn not_integer() -> Self {
        CmdError("ERR value is not an integer or out of range".into())
    }
}

impl From<Error> for CmdError {
    fn from(e: Error) -> Self {
        match e {
            Error::WrongType => {
                CmdError("WRONGTYPE Operation against a key holding the wrong kind of value".into())
            }
            Error::OutOfMemory { .. } => CmdError(e.to_string()),
            Error::DimensionMismatch { expected, got } => CmdError(format!(
                "ERR Vector dimension mismatch - got {got} but set has {expected}"
            )),
            Error::ConfiguredDimension { expected, got } => CmdError(format!(
                "ERR Vector dimension mismatch - got {got} but this server's vector dimension \
                 (VECTOR_DIMENSION) is {expected}"
            )),
            // Redis's reply once its persistence fails: writes refused, reads served.
            Error::WalPoisoned(why) => CmdError(format!(
                "MISCONF Errors writing to the WAL: {why}. Commands that may modify the data \
                 set are disabled"
            )),
            other => CmdError(format!("ERR {other}")),
        }
    }
}

/// Result of a handler: the reply has been written, or this error is to be written.
pub type CmdResult = Result<(), CmdError>;

/// What the connection does after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum After {
    /// Go on.
    Continue,
    /// Write pending replies, then close (QUIT).
    Close,
    /// Close at once without a reply (a command that looks like an HTTP request mid-stream).
    Drop,
}

/// Runs one command and writes its reply (inside MULTI: queues it and answers `QUEUED`).
/// `gate_held`: the caller already holds the transaction gate's shared mode on this thread,
/// as a connection does over a run of pipelined commands; it must not for a command that
/// [`takes_gate_itself`] (EXEC). Otherwise the command takes it.
pub fn execute(
    shared: &Shared,
    client: &mut Client,
    out: &mut Out,
    args: &[Bytes],
    gate_held: bool,
    w: &Writer<'_>,
) -> After {
    execute_found(shared, client, out, args, lookup(&args[0]), gate_held, w)
}

/// [`execute`] with the command already looked up (`found`: [`lookup`] of `args[0]`), so
/// that a connection, which needs the spec before running it, looks it up once.
pub fn execute_found(
    shared: &Shared,
    client: &mut Client,
    out: &mut Out,
    args: &[Bytes],
    found: Option<&'static Spec>,
    gate_held: bool,
    w: &Writer<'_>,
) -> After {
    let name = &args[0];
    // Redis closes a connection whose command is "POST" or "Host:": an HTTP request sent
    // to the RESP stream (a cross-protocol attack from a browser).
    if found.is_none()
        && (name.eq_ignore_ascii_case(b"post") || name.eq_ignore_ascii_case(b"host:"))
    {
        return After::Drop;
    }
    let refused = match found {
        None => Err(match unsupported(name) {
            Some(why) => format!(
                "ERR '{}' is not supported by sutra-cache: {why}",
                String::from_utf8_lossy(name).to_ascii_lowercase()
            ),
            None => unknown_command(args),
        }),
        // As in Redis, the count of arguments and a container's subcommand are checked
        // before authentication.
        Some(spec)
            if (spec.arity > 0 && args.len() as i32 != spec.arity)
                || (spec.arity < 0 && (args.len() as i32) < -spec.arity) =>
        {
            Err(format!(
                "ERR wrong number of arguments for '{}' command",
                spec.name
            ))
        }
        Some(spec) => match subcommand_refusal(spec, args) {
            Some(msg) => Err(msg),
            None if !client.authenticated && !spec.flags.contains(&"no_auth") => {
                Err("NOAUTH Authentication required.".to_string())
            }
            None => match acl_refusal(shared, client, spec, args) {
                Some(msg) => Err(msg),
                None => Ok(spec),
            },
        },
    };
    // Cluster mode: one slot per command (and transaction), served here.
    let refused = match refused {
        Ok(spec) if shared.cluster.mode != crate::cluster::ClusterMode::Off => {
            cluster::route(shared, client, spec, args).map(|()| spec)
        }
        other => other,
    };
    // A replica refuses clients' writes (Redis's replica-read-only); in cluster mode a
    // keyed write was redirected to the master first.
    let refused = match refused {
        Ok(spec) if spec.flags.contains(&"write") && shared.repl.refuses_writes() => {
            Err("READONLY You can't write against a read only replica.".to_string())
        }
        other => other,
    };
    let spec = match refused {
        Ok(spec) => spec,
        Err(msg) => {
            // A command refused inside MULTI dooms the transaction (EXECABORT), as in Redis.
            if let Some(q) = &mut client.multi {
                q.failed = true;
            }
            if let Some(slot) = found.and_then(|spec| stat_slot(spec, args)) {
                shared.cmdstats.reject(slot);
            }
            shared.stats.error_reply(&msg, 1);
            out.error(&msg);
            return After::Continue;
        }
    };
    // A RESP2 connection in subscribed mode only (un)subscribes, pings and leaves (Redis).
    if !client.subscriptions.is_empty()
        && !out.resp3
        && !matches!(
            spec.name,
            "subscribe" | "unsubscribe" | "ping" | "quit" | "reset"
        )
    {
        if let Some(slot) = stat_slot(spec, args) {
            shared.cmdstats.reject(slot);
        }
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context",
            spec.name
        );
        shared.stats.error_reply(&msg, 1);
        out.error(&msg);
        return After::Continue;
    }
    if client.multi.is_some() && !tx::runs_inside_multi(spec) {
        tx::queue(shared, client, out, spec, args);
        return After::Continue;
    }
    if tx::runs_exclusively(spec) && !gate_held {
        let _gate = shared.tx.gate.exclusive();
        run(shared, client, out, spec, args, w);
    } else if gate_held || tx::takes_gate_itself(spec) {
        run(shared, client, out, spec, args, w);
    } else {
        let _gate = shared.tx.gate.shared();
        run(shared, client, out, spec, args, w);
    }
    // CLIENT CACHING yes|no holds for the next command only (for a transaction: to EXEC).
    if client.tracking.caching.is_some()
        && client.multi.is_none()
        && !(spec.name == "client" && is(&args[1], "caching"))
    {
        client.tracking.caching = None;
    }
    if client.close_after_reply {
        After::Close
    } else {
        After::Continue
    }
}

/// The ACL check of an authenticated client's command: `None` when its user may run it;
/// else the NOPERM reply, logged in ACL LOG.
fn acl_refusal(
    shared: &Shared,
    client: &mut Client,
    spec: &Spec,
    args: &[Bytes],
) -> Option<String> {
    let generation = shared.acl.generation();
    if client.user.is_none() || client.acl_generation != generation {
        client.user = shared.acl.get(&client.username());
        client.acl_generation = generation;
    }
    let denied = match &client.user {
        Some(u) if u.unrestricted() => return None,
        Some(u) => u.check(spec, args).err()?,
        // The user was deleted (its connections are being closed).
        None => super::acl::Denied::Command,
    };
    let (reason, object) = match &denied {
        super::acl::Denied::Command => ("command", super::acl::full_name(spec, args)),
        super::acl::Denied::Key(k) => ("key", String::from_utf8_lossy(k).into_owned()),
        super::acl::Denied::Channel(c) => ("channel", String::from_utf8_lossy(c).into_owned()),
    };
    let context = if client.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    shared.acl.log(
        reason,
        context,
        object,
        client.username(),
        client.info.line(shared.since_start_ms()),
    );
    Some(denied.reply(spec, args))
}

/// Runs one looked-up, checked command, timed for INFO commandstats/latencystats and the
/// SLOWLOG. The caller holds the gate.
fn run(
    shared: &Shared,
    client: &mut Client,
    out: &mut Out,
    spec: &'static Spec,
    args: &[Bytes],
    w: &Writer<'_>,
) {
    let start = client.clock.take().unwrap_or_else(std::time::Instant::now);
    let failed = run_untimed(shared, client, out, spec, args, w);
    if spec.name == "exec" || spec.flags.contains(&"write") {
        // At or past the LSN of every record this command logged (WAIT waits for it).
        client.write_offset = client.write_offset.max(shared.engine.last_lsn());
    }
    let end = std::time::Instant::now();
    // The next command of the same run starts where this one ended.
    client.clock = Some(end);
    let nanos = u64::try_from(end.saturating_duration_since(start).as_nanos()).unwrap_or(u64::MAX);
    if let Some(slot) = stat_slot(spec, args) {
        shared.cmdstats.record(slot, nanos, failed);
    }
    let micros = nanos / 1000;
    if shared.slowlog.wants(micros) && !spec.flags.contains(&"skip_slowlog") {
        let name = client.info.names.lock().name.clone();
        shared.slowlog.push(args, micros, &client.info.addr, name);
    }
}

/// [`run`] without the timing: the handler, its error reply, and the WATCH marks of the
/// keys it wrote. True when it answered an error.
fn run_untimed(
    shared: &Shared,
    client: &mut Client,
    out: &mut Out,
    spec: &Spec,
    args: &[Bytes],
    w: &Writer<'_>,
) -> bool {
    let watched = shared.tx.watches.any() && spec.flags.contains(&"write");
    let selected = client.selected.clone();
    let engine: &crate::Engine = selected.as_deref().unwrap_or(&shared.engine);
    let db = engine.db();
    if watched {
        // Only the watched keys that exist are changed by a flush or a swap (Redis agrees).
        let touched: Option<Vec<u32>> = match spec.name {
            "flushall" => Some((0..engine.databases()).collect()),
            "flushdb" => Some(vec![db]),
            "swapdb" => Some(
                args[1..]
                    .iter()
                    .filter_map(|a| std::str::from_utf8(a).ok()?.parse().ok())
                    .collect(),
            ),
            _ => None,
        };
        if let Some(dbs) = touched {
            shared.tx.watches.touch_where(|k| {
                let (kdb, key) = super::tx::unframe(k);
                dbs.contains(&kdb) && dbs.iter().any(|&d| engine.in_db(d).exists(&[key]) > 0)
            });
        }
    }
    if spec.reads != Reads::Nothing && client.tracking.registers() {
        remember_reads(shared, client.info.id, spec, args);
    }
    let w = match w.with_engine(engine) {
        Ok(w) => w,
        Err(e) => {
            let msg = CmdError::from(e).0;
            shared.stats.error_reply(&msg, 1);
            out.error(&msg);
            return true;
        }
    };
    let mut ctx = Ctx {
        shared,
        engine,
        client,
        out,
        w,
        unchanged: false,
    };
    match (spec.run)(&mut ctx, args) {
        Err(CmdError(msg)) => {
            shared.stats.error_reply(&msg, 1);
            ctx.out.error(&msg);
            return true;
        }
        Ok(()) if watched && !ctx.unchanged => {
            for key in key_args(spec, args) {
                shared.tx.watches.touch(&super::tx::frame(db, key));
            }
            if spec.name == "move" {
                // The key also appeared in the target database.
                if let Some(to) = std::str::from_utf8(&args[2])
                    .ok()
                    .and_then(|s| s.parse::<u32>().ok())
                {
                    shared.tx.watches.touch(&super::tx::frame(to, &args[1]));
                }
            }
        }
        Ok(()) => {}
    }
    false
}

/// Registers, before a tracked read runs, the names it reads (see [`Reads`]): a write that
/// lands after the read then always finds them.
fn remember_reads(shared: &Shared, id: u64, spec: &Spec, args: &[Bytes]) {
    let tracking = &shared.tracking;
    match spec.reads {
        Reads::Nothing => {}
        Reads::Keys => {
            for key in key_args(spec, args) {
                tracking.remember(id, key, None);
            }
        }
        Reads::Element => tracking.remember(id, &args[1], Some(&args[2..3])),
        Reads::Elements => tracking.remember(id, &args[1], Some(&args[2..])),
    }
}

/// The key arguments of a command, from its (first, last, step) key spec.
pub(crate) fn key_args<'a>(spec: &Spec, args: &'a [Bytes]) -> impl Iterator<Item = &'a Bytes> {
    let (first, last, step) = spec.keys;
    let n = args.len() as i32;
    let last = if last < 0 { n + last } else { last.min(n - 1) };
    let (first, step) = (first.max(1), step.max(1));
    let range = if spec.keys.0 == 0 {
        0..0
    } else {
        first..last + 1
    };
    range
        .step_by(step as usize)
        .filter_map(move |i| args.get(i as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_is_in_the_table_once_and_lower_case() {
        let mut seen = std::collections::HashSet::new();
        for s in COMMANDS {
            assert!(seen.insert(s.name), "{} twice", s.name);
            assert_eq!(s.name, s.name.to_ascii_lowercase());
            assert!(s.arity != 0, "{}", s.name);
        }
        for s in COMMANDS {
            assert!(
                std::ptr::eq(lookup(s.name.as_bytes()).unwrap(), s),
                "{}",
                s.name
            );
            let upper = s.name.to_ascii_uppercase();
            assert!(
                std::ptr::eq(lookup(upper.as_bytes()).unwrap(), s),
                "{}",
                s.name
            );
        }
    }

    #[test]
    fn every_keyed_read_says_what_it_reads_for_client_side_caching() {
        for s in COMMANDS {
            let read = s.flags.contains(&"readonly") && s.keys != NOKEY;
            assert_eq!(read, s.reads != Reads::Nothing, "{}", s.name);
            if matches!(s.reads, Reads::Element | Reads::Elements) {
                assert_eq!(s.keys, KEY1, "{}", s.name);
                assert!(s.arity.abs() >= 3, "{}", s.name);
            }
        }
    }

    #[test]
    fn the_subcommand_table_by_position_is_the_one_by_name() {
        for s in COMMANDS {
            assert_eq!(subcommands_of(s), subcommands(s.name), "{}", s.name);
        }
        assert!(!subcommands_of(lookup(b"config").unwrap()).is_empty());
    }

    #[test]
    fn lookup_ignores_case_and_rejects_long_names() {
        assert_eq!(lookup(b"GeT").map(|s| s.name), Some("get"));
        assert!(lookup(&[b'a'; 40]).is_none());
        assert!(lookup(b"nosuch").is_none());
        assert!(lookup(b"").is_none());
        // Same length and first letter as GET, or a first byte that shares its bucket.
        assert!(lookup(b"gex").is_none());
        assert!(lookup(b"\x07et").is_none());
    }

    #[test]
    fn unknown_commands_quote_their_first_arguments() {
        let args = [
            Bytes::from_static(b"foo"),
            Bytes::from_static(b"a"),
            Bytes::from_static(b"b"),
        ];
        assert_eq!(
            unknown_command(&args),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
    }

    #[test]
    fn floats_parse_as_redis_reads_them() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1x"), None);
    }
}
