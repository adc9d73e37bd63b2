//! CLIENT and its subcommands (LIST, KILL, names, info).

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{arg_i64, conn::check_client_name, is, CmdError, CmdResult, Ctx};

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

/// Redis's client types: a client is `pubsub` while it subscribes to a channel, otherwise
/// `normal` (there is no replication). `Some(pubsub?)`, `None` for a type no client has.
fn client_type(t: &[u8]) -> Result<Option<bool>, CmdError> {
    if is(t, "normal") {
        Ok(Some(false))
    } else if is(t, "pubsub") {
        Ok(Some(true))
    } else if ["master", "replica", "slave"].iter().any(|k| is(t, k)) {
        Ok(None)
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
    let mut kind = None;
    let mut all = true;
    if args.len() == 4 && is(&args[2], "type") {
        kind = client_type(&args[3])?;
        all = kind.is_some();
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
        if all
            && kind.is_none_or(|pubsub| c.pubsub.load(Relaxed) == pubsub)
            && ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
        {
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
    let mut user: Option<String> = None;
    let (mut kind, mut typed, mut skipme) = (None, true, true);
    for pair in args[2..].chunks_exact(2) {
        let (opt, v) = (&pair[0], &pair[1]);
        if is(opt, "id") {
            let n = arg_i64(v)
                .ok()
                .filter(|&n| n >= 1)
                .ok_or_else(|| CmdError::err("client-id should be greater than 0"))?;
            id = Some(n as u64);
        } else if is(opt, "type") {
            kind = client_type(v)?;
            typed = kind.is_some();
        } else if is(opt, "user") {
            let name = String::from_utf8_lossy(v).into_owned();
            if ctx.shared.acl.get(&name).is_none() {
                return Err(CmdError::err(format!("No such user '{name}'")));
            }
            user = Some(name);
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
        let fits = typed
            && kind.is_none_or(|pubsub| c.pubsub.load(Relaxed) == pubsub)
            && id.is_none_or(|id| c.id == id)
            && addr.as_ref().is_none_or(|a| c.addr.as_bytes() == &a[..])
            && laddr.as_ref().is_none_or(|a| c.laddr.as_bytes() == &a[..])
            && user
                .as_ref()
                .is_none_or(|u| c.names.lock().user.as_deref().unwrap_or("default") == u)
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
        // Names are copies: a slice would keep the whole request buffer it came in alive.
        info.names.lock().name = (!args[2].is_empty()).then(|| Bytes::copy_from_slice(&args[2]));
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
        let value = (!args[3].is_empty()).then(|| Bytes::copy_from_slice(&args[3]));
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
