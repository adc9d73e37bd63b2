//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH, and RESET (which also ends one).
//!
//! Between MULTI and EXEC a connection's commands are checked (name, arity, auth) and
//! queued; EXEC runs them in order holding the server's gate exclusively, so no other
//! client's command runs in between and none sees a transaction half done — what Redis's
//! single thread gives. A write's durability (WAL) is awaited once for the whole EXEC,
//! before its reply leaves. As in Redis there is no rollback: a queued command that fails
//! when run answers its error inside EXEC's reply and the others still run.

use std::sync::atomic::Ordering;

use bytes::Bytes;

use super::{lookup, run, CmdError, CmdResult, Ctx, Out, Shared, Spec};
use crate::server::cmd::Client;

/// Commands queued since MULTI.
#[derive(Debug, Default)]
pub struct Queued {
    /// Each command's arguments, name first.
    cmds: Vec<Vec<Bytes>>,
    /// Their size, bounded by the client query buffer limit.
    bytes: usize,
    /// A command was refused while queuing: EXEC answers EXECABORT.
    pub failed: bool,
    /// The hash slot of the queued commands' keys (cluster mode).
    pub slot: Option<u16>,
}

impl Queued {
    /// Whether running the queue may hold its thread for long (see [`super::may_block`]).
    pub fn may_block(&self) -> bool {
        self.cmds
            .iter()
            .any(|c| lookup(&c[0]).is_some_and(super::may_block))
    }
}

/// Commands that run at once inside MULTI instead of being queued (Redis's list).
pub fn runs_inside_multi(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// EXEC takes the gate exclusively itself, and so does a command that
/// [`runs_exclusively`]; every other command runs under its shared mode.
pub fn takes_gate_itself(spec: &Spec) -> bool {
    spec.name == "exec" || runs_exclusively(spec)
}

/// Commands whose engine call is several writes logged as one group (RESTORE, COPY: a
/// delete under REPLACE, the value, its TTL; RENAME: and the old name's delete): outside a transaction they run with the gate held
/// exclusively, as EXEC does, so no other client's write to the key can fall between
/// their writes (which would be logged before the group yet applied inside it). Inside
/// EXEC they already run under it.
pub fn runs_exclusively(spec: &Spec) -> bool {
    matches!(spec.name, "restore" | "rename" | "renamenx" | "copy")
}

/// Queues one checked command of a transaction and answers `QUEUED`.
pub fn queue(shared: &Shared, client: &mut Client, out: &mut Out, spec: &Spec, args: &[Bytes]) {
    let Some(q) = client.multi.as_mut() else {
        return;
    };
    let refuse = |q: &mut Queued, out: &mut Out, msg: &str| {
        q.failed = true;
        shared.stats.error_reply(msg, 1);
        out.error(msg);
    };
    if spec.flags.contains(&"no_multi") {
        return refuse(q, out, "ERR Command not allowed inside a transaction");
    }
    let size: usize = args.iter().map(|a| a.len() + 16).sum();
    let limit = usize::try_from(shared.config.client_query_buffer_limit).unwrap_or(usize::MAX);
    if q.bytes.saturating_add(size) > limit {
        return refuse(
            q,
            out,
            &format!(
                "ERR the queued commands of this transaction are over the client query buffer \
                 limit ({limit} bytes): send them in smaller transactions"
            ),
        );
    }
    q.bytes += size;
    q.cmds.push(args.to_vec());
    out.simple("QUEUED");
}

pub fn multi(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Queued::default());
    ctx.out.ok();
    Ok(())
}

pub fn discard(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

pub fn exec(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let Some(queued) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    if queued.failed {
        unwatch_all(ctx.shared, ctx.client);
        return Err(CmdError(
            "EXECABORT Transaction discarded because of previous errors.".into(),
        ));
    }
    let shared = ctx.shared;
    let _exclusive = shared.tx.gate.exclusive();
    // Under the gate no write can slip in between this check and the queued commands.
    let changed = ctx.client.watch.dirty.load(Ordering::Acquire)
        || ctx.client.watch.keys.iter().any(|(k, existed)| {
            let (db, key) = crate::server::tx::unframe(k);
            *existed && ctx.engine.in_db(db).exists(&[key]) == 0
        });
    unwatch_all(shared, ctx.client);
    if changed {
        ctx.out.null_array();
        return Ok(());
    }
    let start = ctx.out.buf.len();
    ctx.out.array(queued.cmds.len());
    let (client, out, w) = (&mut *ctx.client, &mut *ctx.out, ctx.w);
    // One WAL record for the whole transaction: a crash recovers all of it or none.
    let logged = w.atomically(|group| {
        for args in &queued.cmds {
            // Looked up when queued; the table does not change.
            if let Some(spec) = lookup(&args[0]) {
                run(shared, client, out, spec, args, group);
            }
        }
    });
    if let Err(e) = logged {
        ctx.out.buf.truncate(start);
        return Err(e.into());
    }
    Ok(())
}

pub fn watch(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    let (shared, client) = (ctx.shared, &mut *ctx.client);
    for key in &args[1..] {
        let exists = ctx.engine.exists(&[key]) > 0;
        let framed = crate::server::tx::frame(ctx.engine.db(), key);
        shared
            .tx
            .watches
            .watch(client.info.id, &mut client.watch, &framed, exists);
    }
    ctx.out.ok();
    Ok(())
}

pub fn unwatch(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// RESET: the connection as new — no transaction, no watched keys, RESP2, no name, and
/// unauthenticated again when a password is set.
pub fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.client.multi = None;
    unwatch_all(ctx.shared, ctx.client);
    super::tracking::leave(ctx.shared, ctx.client);
    ctx.client.info.names.lock().name = None;
    ctx.client
        .info
        .resp
        .store(2, std::sync::atomic::Ordering::Relaxed);
    ctx.client.authenticated = ctx.shared.acl.open_by_default();
    ctx.client.set_user(None);
    super::conn::select_db(ctx, 0)?;
    ctx.out.resp3 = false;
    ctx.out.simple("RESET");
    Ok(())
}

/// Forgets every key the client watches (also when its connection ends).
pub fn unwatch_all(shared: &Shared, client: &mut Client) {
    shared.tx.watches.unwatch(client.info.id, &mut client.watch);
}
