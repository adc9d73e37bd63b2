//! Client-side caching (CLIENT TRACKING, CACHING, TRACKINGINFO, GETREDIR) and the
//! publish/subscribe commands its RESP2 form uses (SUBSCRIBE, UNSUBSCRIBE, PUBLISH). The
//! table and the pushes are [`crate::server::tracking`].

use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;

use super::{arg_i64, is, CmdError, CmdResult, Ctx, Tracked};
use crate::server::shared::Shared;
use crate::server::tracking::{check, Options};

/// CLIENT TRACKING on|off [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP].
pub fn client_tracking(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let on = if is(&args[2], "on") {
        true
    } else if is(&args[2], "off") {
        false
    } else {
        return Err(CmdError::syntax());
    };
    let mut opts = Options::default();
    let mut redirect_given = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let more = i + 1 < args.len();
        if is(a, "redirect") && more {
            if redirect_given {
                return Err(CmdError::err(
                    "A client can only redirect to a single other client",
                ));
            }
            redirect_given = true;
            let id = arg_i64(&args[i + 1])?;
            opts.redirect = u64::try_from(id).unwrap_or(0);
            if id != 0 && (id < 0 || ctx.shared.clients.get(opts.redirect).is_none()) {
                return Err(CmdError::err(
                    "The client ID you want redirect to does not exist",
                ));
            }
            i += 2;
        } else if is(a, "prefix") && more {
            // A copy: a slice would keep the whole request buffer it came in alive.
            opts.prefixes.push(Bytes::copy_from_slice(&args[i + 1]));
            i += 2;
        } else if is(a, "bcast") {
            opts.bcast = true;
            i += 1;
        } else if is(a, "optin") {
            opts.optin = true;
            i += 1;
        } else if is(a, "optout") {
            opts.optout = true;
            i += 1;
        } else if is(a, "noloop") {
            opts.noloop = true;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
    }
    let tracking = &ctx.shared.tracking;
    let id = ctx.client.info.id;
    if on {
        let current = tracking.options(id).map(|(o, _)| o);
        check(&opts, current.as_ref()).map_err(CmdError::err)?;
        ctx.client.tracking = Tracked {
            on: true,
            default_mode: !opts.bcast,
            optin: opts.optin,
            optout: opts.optout,
            caching: None,
        };
        tracking.enable(&ctx.client.info, opts);
    } else {
        tracking.disable(id);
        ctx.client.tracking = Tracked::default();
    }
    ctx.client.info.tracking.store(on, Relaxed);
    ctx.out.ok();
    Ok(())
}

/// CLIENT CACHING yes|no: whether the next command's reads are tracked (OPTIN/OPTOUT).
pub fn client_caching(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let t = &mut ctx.client.tracking;
    if !t.on || !(t.optin || t.optout) {
        return Err(CmdError::err(
            "CLIENT CACHING can be called only when the client is in tracking mode with OPTIN \
             or OPTOUT mode enabled",
        ));
    }
    if is(&args[2], "yes") {
        if !t.optin {
            return Err(CmdError::err(
                "CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ));
        }
        t.caching = Some(true);
    } else if is(&args[2], "no") {
        if !t.optout {
            return Err(CmdError::err(
                "CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ));
        }
        t.caching = Some(false);
    } else {
        return Err(CmdError::syntax());
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT GETREDIR: the redirect target, 0 without one, -1 when not tracking.
pub fn client_getredir(ctx: &mut Ctx<'_>) -> CmdResult {
    let r = match ctx.shared.tracking.options(ctx.client.info.id) {
        Some((o, _)) => o.redirect as i64,
        None => -1,
    };
    ctx.out.int(r);
    Ok(())
}

/// CLIENT TRACKINGINFO: flags, redirect and prefixes, as Redis answers.
pub fn client_trackinginfo(ctx: &mut Ctx<'_>) -> CmdResult {
    let state = ctx.shared.tracking.options(ctx.client.info.id);
    let caching = ctx.client.tracking.caching;
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    let mut flags: Vec<&str> = Vec::new();
    match &state {
        None => flags.push("off"),
        Some((o, broken)) => {
            flags.push("on");
            if o.bcast {
                flags.push("bcast");
            }
            if o.optin {
                flags.push("optin");
                if caching == Some(true) {
                    flags.push("caching-yes");
                }
            }
            if o.optout {
                flags.push("optout");
                if caching == Some(false) {
                    flags.push("caching-no");
                }
            }
            if o.noloop {
                flags.push("noloop");
            }
            if *broken {
                flags.push("broken_redirect");
            }
        }
    }
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(state.as_ref().map_or(-1, |(o, _)| o.redirect as i64));
    out.bulk(b"prefixes");
    let prefixes: Vec<Bytes> = state
        .map(|(o, _)| o.prefixes)
        .unwrap_or_default()
        .into_iter()
        .collect();
    out.array(prefixes.len());
    for p in prefixes {
        out.bulk(&p);
    }
    Ok(())
}

/// The subscribe/unsubscribe confirmation Redis sends per channel.
fn confirm(ctx: &mut Ctx<'_>, kind: &[u8], channel: Option<&[u8]>) {
    let n = ctx.client.subscriptions.len() as i64;
    let out = &mut *ctx.out;
    if out.resp3 {
        out.buf.extend_from_slice(b">3\r\n");
    } else {
        out.array(3);
    }
    out.bulk(kind);
    out.bulk_or_null(channel);
    out.int(n);
}

/// SUBSCRIBE channel …
pub fn subscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    for ch in &args[1..] {
        // A copy: a slice would keep the whole request buffer it came in alive while
        // subscribed.
        let ch = Bytes::copy_from_slice(ch);
        if ctx.client.subscriptions.insert(ch.clone()) {
            ctx.shared.pubsub.subscribe(ctx.client.info.id, &ch);
        }
        confirm(ctx, b"subscribe", Some(&ch));
    }
    ctx.client.info.pubsub.store(true, Relaxed);
    Ok(())
}

/// UNSUBSCRIBE [channel …] (none: every channel).
pub fn unsubscribe(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let channels: Vec<Bytes> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        let mut all: Vec<Bytes> = ctx.client.subscriptions.iter().cloned().collect();
        all.sort();
        all
    };
    if channels.is_empty() {
        confirm(ctx, b"unsubscribe", None);
    }
    for ch in channels {
        if ctx.client.subscriptions.remove(&ch) {
            ctx.shared.pubsub.unsubscribe(ctx.client.info.id, &ch);
        }
        confirm(ctx, b"unsubscribe", Some(&ch));
    }
    let subscribed = !ctx.client.subscriptions.is_empty();
    ctx.client.info.pubsub.store(subscribed, Relaxed);
    Ok(())
}

/// PUBLISH channel message: how many subscribers it was queued for.
pub fn publish(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx
        .shared
        .pubsub
        .publish(&ctx.shared.clients, &args[1], &args[2]);
    ctx.out.int(n as i64);
    Ok(())
}

/// A connection that ends (or RESETs) stops tracking and leaves its channels.
pub fn leave(shared: &Shared, client: &mut super::Client) {
    if client.tracking.on {
        shared.tracking.disable(client.info.id);
        client.tracking = Tracked::default();
        client.info.tracking.store(false, Relaxed);
    }
    client.info.pubsub.store(false, Relaxed);
    for ch in client.subscriptions.drain() {
        shared.pubsub.unsubscribe(client.info.id, &ch);
    }
}
