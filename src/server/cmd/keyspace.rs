//! Keyspace commands: DEL/UNLINK, EXISTS, EXPIRE family, TTL/PTTL, PERSIST, TYPE, SCAN.

use bytes::Bytes;

use super::{arg_i64, is, scan_args, slices, CmdError, CmdResult, Ctx};
use crate::{ExpireIf, Expiry, KeyKind, TtlState};

pub fn del(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx.w.del(&slices(&args[1..]))?;
    ctx.unchanged = n == 0;
    ctx.out.int(n as i64);
    Ok(())
}

/// MOVE key db, with Redis's errors.
pub fn move_key(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.mode != crate::cluster::ClusterMode::Off {
        return Err(CmdError::err("MOVE is not allowed in cluster mode"));
    }
    let db = super::conn::db_arg(ctx, &args[2])?;
    if db == ctx.engine.db() {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let moved = ctx.w.move_key(&args[1], db)?;
    ctx.unchanged = !moved;
    ctx.out.int(i64::from(moved));
    Ok(())
}

pub fn exists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx.engine.exists(&slices(&args[1..]));
    ctx.out.int(n as i64);
    Ok(())
}

/// Reads the expiry argument of EXPIRE and friends. A time not in the future (relative
/// ≤ 0) is sent as an absolute time in the past, which deletes the key, as in Redis. As in
/// Redis, a time that overflows 64 bits of ms (a relative one once added to `now`) is an
/// error before the key is looked up.
pub fn expiry_arg(
    arg: &[u8],
    unit_ms: i64,
    absolute: bool,
    now: u64,
    cmd: &str,
) -> Result<Expiry, CmdError> {
    let n = arg_i64(arg)?;
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    let ms = n.checked_mul(unit_ms).ok_or_else(invalid)?;
    if !absolute && ms.checked_add(now as i64).is_none() {
        return Err(invalid());
    }
    Ok(match (absolute, ms) {
        // 0 would mean "no expiry" to the engine; 1 ms after the epoch is in the past.
        (_, ms) if ms <= 0 => Expiry::AtMs(1),
        (true, ms) => Expiry::AtMs(ms as u64),
        (false, ms) => Expiry::InMs(ms as u64),
    })
}

fn expire_generic(
    ctx: &mut Ctx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    cmd: &str,
) -> CmdResult {
    let cond = expire_condition(&args[3..])?;
    let expiry = expiry_arg(&args[2], unit_ms, absolute, ctx.engine.now_ms(), cmd)?;
    let done = ctx.w.expire_if(&args[1], expiry, cond)?;
    ctx.unchanged = !done;
    ctx.out.int(i64::from(done));
    Ok(())
}

/// Redis 7's NX / XX / GT / LT options of the EXPIRE family (any order, repeats allowed),
/// checked before the time as Redis does.
fn expire_condition(opts: &[Bytes]) -> Result<ExpireIf, CmdError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for o in opts {
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            return Err(CmdError::err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(o)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(CmdError::err(
            "NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if gt && lt {
        return Err(CmdError::err(
            "GT and LT options at the same time are not compatible",
        ));
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => ExpireIf::NoExpiry,
        (_, _, true, _) => ExpireIf::Later,
        (_, true, _, true) => ExpireIf::EarlierWithExpiry,
        (_, false, _, true) => ExpireIf::Earlier,
        (_, true, ..) => ExpireIf::HasExpiry,
        _ => ExpireIf::Always,
    })
}

pub fn expire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, false, "expire")
}

pub fn pexpire(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, false, "pexpire")
}

pub fn expireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1000, true, "expireat")
}

pub fn pexpireat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, 1, true, "pexpireat")
}

/// Redis's TTL reply: -2 missing, -1 no expiry, else the time left (seconds rounded).
pub fn ttl_reply(state: TtlState, in_ms: bool) -> i64 {
    if in_ms {
        state.as_ms()
    } else {
        state.as_secs()
    }
}

pub fn ttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.out.int(ttl_reply(ctx.engine.ttl(&args[1]), false));
    Ok(())
}

pub fn pttl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    ctx.out.int(ttl_reply(ctx.engine.ttl(&args[1]), true));
    Ok(())
}

pub fn persist(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let had = ctx.w.persist(&args[1])?;
    ctx.unchanged = !had;
    ctx.out.int(i64::from(had));
    Ok(())
}

pub fn key_type(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let name = ctx
        .engine
        .key_type(&args[1])
        .map_or("none", KeyKind::redis_name);
    ctx.out.simple(name);
    Ok(())
}

/// Redis type names that exist in Redis but never here: a scan for them finds nothing.
const ABSENT_TYPES: &[&str] = &["list", "set", "zset", "stream", "ReJSON-RL"];

pub fn scan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_args(&args[1..], true)?;
    let mut kind: Option<KeyKind> = None;
    let mut absent_type = false;
    if let Some(value) = o.kind {
        if is(value, "string") {
            kind = Some(KeyKind::Blob);
        } else if is(value, "vectorset") {
            kind = Some(KeyKind::VectorSet);
        } else if is(value, "hash") {
            kind = Some(KeyKind::Hash);
        } else if ABSENT_TYPES.iter().any(|t| is(value, t)) {
            absent_type = true;
        } else {
            return Err(CmdError::err(format!(
                "unknown type name '{}'",
                String::from_utf8_lossy(value)
            )));
        }
    }
    if absent_type {
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    }
    let page = ctx.engine.scan(o.cursor, o.pattern, o.count, kind);
    ctx.out.array(2);
    ctx.out.bulk(page.cursor.to_string().as_bytes());
    ctx.out.array(page.keys.len());
    for k in &page.keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// KEYS pattern: every live key matching, by scanning the whole keyspace page by page.
/// RANDOMKEY: a random key of the selected database, nil when it holds none (Redis).
pub fn randomkey(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    match ctx.engine.random_key() {
        Some(key) => ctx.out.bulk(&key),
        None => ctx.out.null(),
    }
    Ok(())
}

pub fn keys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pattern = (&args[1][..] != b"*").then_some(&args[1][..]);
    let mut cursor = 0;
    let mut found = Vec::new();
    loop {
        let page = ctx.engine.scan(cursor, pattern, 1024, None);
        found.extend(page.keys);
        if page.cursor == 0 {
            break;
        }
        cursor = page.cursor;
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

pub(super) fn help_lines(ctx: &mut Ctx<'_>, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
}

/// `OBJECT ENCODING|FREQ|IDLETIME|REFCOUNT key`, `OBJECT HELP` (what `redis-cli --hotkeys`
/// asks for every key: FREQ under the `lfu` policy).
/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn object(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") {
        help_lines(
            ctx,
            &[
                "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "ENCODING <key>",
                "    How the value is stored: raw (a blob), listpack or hashtable (a hash), or a",
                "    vector set's storage mode (exact, int8, f32).",
                "FREQ <key>",
                "    The logarithmic access frequency counter (lfu eviction policy only); of a",
                "    vector set, the highest among its elements.",
                "REFCOUNT <key>",
                "    Always 1.",
                "HELP",
                "    Prints this help.",
            ],
        );
        return Ok(());
    }
    if is(sub, "idletime") {
        // LRU order is a logical clock here, not a time of last access.
        return Err(CmdError::err(
            "OBJECT IDLETIME is not tracked by sutra-cache: LRU order is kept by a logical \
             clock, not by access times (OBJECT FREQ works under --eviction-policy lfu)",
        ));
    }
    let Some(info) = ctx.engine.key_info(&args[2])? else {
        ctx.out.null();
        return Ok(());
    };
    if is(sub, "encoding") {
        let name = match (info.storage, info.hash_encoding) {
            (Some(mode), _) => mode.redis_name(),
            (None, Some(encoding)) => encoding,
            (None, None) => "raw",
        };
        ctx.out.bulk(name.as_bytes());
    } else if is(sub, "refcount") {
        ctx.out.int(1);
    } else {
        let freq = info.lfu_frequency.ok_or_else(|| {
            CmdError::err(
                "An LFU maxmemory policy is not selected, access frequency not tracked. Please \
                 note that when switching between policies at runtime LRU and LFU data will \
                 take some time to adjust.",
            )
        })?;
        ctx.out.int(i64::from(freq));
    }
    Ok(())
}

/// `MEMORY USAGE key [SAMPLES n]` (the bytes the key accounts for against the byte cap;
/// exact, so SAMPLES is accepted and ignored) and `MEMORY HELP`.
/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn memory(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "help") {
        help_lines(
            ctx,
            &[
                "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "USAGE <key> [SAMPLES <count>]",
                "    The bytes <key> accounts for against the byte cap (exact: SAMPLES is",
                "    accepted and ignored).",
                "HELP",
                "    Prints this help.",
            ],
        );
        return Ok(());
    }
    if !is(sub, "usage") {
        return Err(CmdError::err(format!(
            "MEMORY {} is not supported by sutra-cache (MEMORY USAGE is; INFO memory has the totals)",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )));
    }
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "samples") && i + 1 < args.len() {
            arg_i64(&args[i + 1])?;
            i += 2;
        } else {
            return Err(CmdError::syntax());
        }
    }
    match ctx.engine.key_info(&args[2])? {
        Some(info) => ctx
            .out
            .int(i64::try_from(info.memory_bytes).unwrap_or(i64::MAX)),
        None => ctx.out.null(),
    }
    Ok(())
}
