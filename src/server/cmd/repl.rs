//! Replication's commands: `REPLICAOF`/`SLAVEOF`, `ROLE`, `WAIT`, `REPLCONF`, and the
//! replica's `SUTRA.PSYNC` (see `server::replication`).

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{arg_i64, is, CmdError, CmdResult, Ctx, Deferred};

/// `REPLICAOF host port` / `REPLICAOF NO ONE` (and `SLAVEOF`).
pub fn replicaof(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    if is(&args[1], "no") && is(&args[2], "one") {
        if repl.is_replica() {
            repl.promote(&ctx.shared.engine);
            tracing::info!("REPLICAOF NO ONE: this node is a master now");
        }
        ctx.out.ok();
        return Ok(());
    }
    let host = std::str::from_utf8(&args[1])
        .ok()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| CmdError::err("REPLICAOF's host must be a host name or an address"))?
        .to_string();
    let port = match arg_i64(&args[2]) {
        Ok(p) if (1..=65_535).contains(&p) => p as u16,
        _ => return Err(CmdError::err("Invalid master port")),
    };
    if let Some(f) = &*repl.following.lock() {
        if f.host == host && f.port == port {
            ctx.out.simple("OK Already connected to specified master");
            return Ok(());
        }
    }
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(CmdError::err("REPLICAOF needs the server's runtime"));
    }
    repl.follow(ctx.shared.engine.clone(), host.clone(), port);
    tracing::info!(master = %format!("{host}:{port}"), "REPLICAOF: following a master");
    ctx.out.ok();
    Ok(())
}

/// `ROLE`: `master offset [[ip port offset] …]` or `slave host port state offset`.
pub fn role(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    let following = repl
        .following
        .lock()
        .as_ref()
        .map(|f| (f.host.clone(), f.port, f.state));
    match following {
        Some((host, port, state)) => {
            ctx.out.array(5);
            ctx.out.bulk(b"slave");
            ctx.out.bulk(host.as_bytes());
            ctx.out.int(i64::from(port));
            ctx.out.bulk(state.word().as_bytes());
            ctx.out.int(repl.offset.load(Ordering::SeqCst) as i64);
        }
        None => {
            let replicas: Vec<_> = repl.replicas.lock().clone();
            ctx.out.array(3);
            ctx.out.bulk(b"master");
            ctx.out.int(ctx.shared.engine.last_lsn() as i64);
            ctx.out.array(replicas.len());
            for r in replicas {
                ctx.out.array(3);
                ctx.out.bulk(r.ip.as_bytes());
                ctx.out.bulk(r.port.to_string().as_bytes());
                ctx.out
                    .bulk(r.ack.load(Ordering::SeqCst).to_string().as_bytes());
            }
        }
    }
    Ok(())
}

/// `WAIT numreplicas timeout`: how many replicas acknowledged every write this connection
/// made.
pub fn wait(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.repl.is_replica() {
        return Err(CmdError::err(
            "WAIT cannot be used with replica instances. Please also note that since Redis \
             4.0 if a replica is configured to be writable (which is not the default) writes \
             to replicas are just local and are not propagated.",
        ));
    }
    let n = arg_i64(&args[1])?;
    let timeout = arg_i64(&args[2])?;
    if timeout < 0 {
        return Err(CmdError::err("timeout is negative"));
    }
    // Every write this connection made is at or below the log's last LSN after its last
    // write (Redis's semantics: a connection that wrote nothing waits for nothing).
    let offset = ctx.client.write_offset;
    let replicas = usize::try_from(n.max(0)).unwrap_or(usize::MAX);
    let have = ctx.shared.repl.acked_at_least(offset);
    if have >= replicas || ctx.client.multi.is_some() {
        ctx.out.int(have as i64);
        return Ok(());
    }
    ctx.client.deferred = Some(Deferred::Wait {
        replicas,
        offset,
        timeout_ms: timeout as u64,
    });
    Ok(())
}

/// `REPLCONF listening-port <port> | capa … | ack <offset> | getack *`: a replica's
/// handshake.
pub fn replconf(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::syntax());
    }
    for pair in args[1..].chunks(2) {
        if is(&pair[0], "listening-port") {
            match arg_i64(&pair[1]) {
                Ok(p) if (0..=65_535).contains(&p) => ctx.client.repl_listening_port = p as u16,
                _ => return Err(CmdError::err("Invalid listening port")),
            }
        } else if is(&pair[0], "ack") || is(&pair[0], "getack") {
            // On the replication stream (handled there); nothing to answer here.
            return Ok(());
        } else if !(is(&pair[0], "capa") || is(&pair[0], "ip-address")) {
            return Err(CmdError::err(format!(
                "Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(&pair[0])
            )));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `SUTRA.PSYNC replid offset`: a sutra-cache replica asks for the log after `offset` of
/// the history `replid` (`? -1`: everything). The connection becomes the stream.
pub fn psync(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let replid = std::str::from_utf8(&args[1])
        .map_err(|_| CmdError::err("the replication id is 40 hex digits or ?"))?
        .to_string();
    let offset = arg_i64(&args[2])?;
    ctx.client.deferred = Some(Deferred::Psync { replid, offset });
    Ok(())
}
