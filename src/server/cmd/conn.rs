//! Connection commands: PING, ECHO, AUTH, HELLO, SELECT, QUIT.

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{arg_i64, is, CmdError, CmdResult, Ctx};

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

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// Failed AUTHs in a row a connection may make before each further one waits.
const FREE_AUTH_FAILURES: u32 = 3;

/// Checks `user`/`pass` against the ACL users (a disabled user never passes; a `nopass` one
/// takes any password); on success the connection runs as that user. A failure is logged
/// (the server log and ACL LOG) and, past [`FREE_AUTH_FAILURES`] in a row on this
/// connection, its reply waits 100 ms, doubling to 2 s: guessing costs time.
fn authenticate(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8]) -> CmdResult {
    let name = String::from_utf8_lossy(user).into_owned();
    let found = ctx.shared.acl.get(&name);
    if found.is_some_and(|u| u.password_ok(pass)) {
        ctx.client.authenticated = true;
        ctx.client.set_user(Some(name));
        ctx.client.auth_failures = 0;
        return Ok(());
    }
    ctx.client.auth_failures = ctx.client.auth_failures.saturating_add(1);
    let failures = ctx.client.auth_failures;
    let context = if ctx.client.multi.is_some() {
        "multi"
    } else {
        "toplevel"
    };
    ctx.shared.acl.log(
        "auth",
        context,
        "AUTH".into(),
        name.clone(),
        ctx.client.info.line(ctx.shared.since_start_ms()),
    );
    tracing::warn!(
        client = ctx.client.info.id,
        addr = %ctx.client.info.addr,
        user = %name,
        failures,
        "AUTH failed"
    );
    if failures > FREE_AUTH_FAILURES {
        let ms = (100u64 << (failures - FREE_AUTH_FAILURES - 1).min(5)).min(2000);
        ctx.client.deferred = Some(super::Deferred::Pause(std::time::Duration::from_millis(ms)));
    }
    Err(CmdError(WRONGPASS.into()))
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    if args.len() == 2 {
        let d = ctx.shared.acl.default_user();
        if d.nopass {
            return Err(CmdError::err(
                "AUTH <password> called without any password configured for the default \
                 user. Are you sure your configuration is correct?",
            ));
        }
        authenticate(ctx, b"default", &args[1])?;
    } else {
        authenticate(ctx, &args[1], &args[2])?;
    }
    ctx.out.ok();
    Ok(())
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
        authenticate(ctx, user, pass)?;
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
        // A copy: a slice would keep the whole request buffer it came in alive.
        ctx.client.info.names.lock().name =
            (!name.is_empty()).then(|| Bytes::copy_from_slice(name));
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
    let db = db_arg(ctx, &args[1])?;
    if db != 0 && ctx.shared.cluster.mode != crate::cluster::ClusterMode::Off {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    select_db(ctx, db)?;
    ctx.out.ok();
    Ok(())
}

/// A database number argument: Redis's errors for a non-integer and for one out of range.
pub(super) fn db_arg(ctx: &Ctx<'_>, a: &[u8]) -> Result<u32, CmdError> {
    let db = arg_i64(a)?;
    u32::try_from(db)
        .ok()
        .filter(|&d| d < ctx.engine.databases())
        .ok_or_else(|| CmdError::err("DB index is out of range"))
}

/// Makes `db` the connection's database (checked by [`db_arg`]).
pub(super) fn select_db(ctx: &mut Ctx<'_>, db: u32) -> CmdResult {
    ctx.client.selected = match db {
        0 => None,
        d => Some(std::sync::Arc::new(ctx.shared.engine.select(d)?)),
    };
    ctx.client.info.db.store(db, Relaxed);
    Ok(())
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.close_after_reply = true;
    ctx.out.ok();
    Ok(())
}

pub(super) fn check_client_name(name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err(
            "Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}
