//! Blob commands: GET, SET, SETEX, PSETEX, SETNX, MGET, MSET, STRLEN, GETEX, GETDEL,
//! INCR/DECR/INCRBY/DECRBY, APPEND.

use bytes::Bytes;

use super::{arg_i64, is, slices, CmdError, CmdResult, Ctx};
use crate::{Expiry, GetThen, SetCondition, SetOptions};

pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let out = &mut *ctx.out;
    // The value is encoded straight from the engine's buffer: no copy.
    if ctx
        .shared
        .engine
        .get_with(&args[1], |v| out.bulk(v))?
        .is_none()
    {
        out.null();
    }
    Ok(())
}

/// A relative or absolute expiry in `unit_ms` units, as SET/SETEX/EXPIRE accept it.
/// `cmd` names the command in Redis's "invalid expire time" error.
pub fn positive_expiry(
    arg: &[u8],
    unit_ms: u64,
    absolute: bool,
    cmd: &str,
) -> Result<Expiry, CmdError> {
    let n = arg_i64(arg)?;
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = (n as u64).checked_mul(unit_ms).ok_or_else(invalid)?;
    if ms > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(if absolute {
        Expiry::AtMs(ms)
    } else {
        Expiry::InMs(ms)
    })
}

pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut opts = SetOptions::default();
    let mut expiry_given = false;
    let mut i = 3;
    while i < args.len() {
        let a = &args[i];
        let next = args.get(i + 1);
        if is(a, "nx") && opts.condition == SetCondition::Always {
            opts.condition = SetCondition::IfAbsent;
        } else if is(a, "xx") && opts.condition == SetCondition::Always {
            opts.condition = SetCondition::IfPresent;
        } else if is(a, "get") {
            opts.return_old = true;
        } else if is(a, "keepttl") && !expiry_given {
            opts.expiry = Expiry::Keep;
            expiry_given = true;
        } else if !expiry_given
            && next.is_some()
            && (is(a, "ex") || is(a, "px") || is(a, "exat") || is(a, "pxat"))
        {
            let unit = if is(a, "ex") || is(a, "exat") {
                1000
            } else {
                1
            };
            let absolute = is(a, "exat") || is(a, "pxat");
            opts.expiry = positive_expiry(
                next.map(|b| &b[..]).unwrap_or_default(),
                unit,
                absolute,
                "set",
            )?;
            expiry_given = true;
            i += 1;
        } else {
            return Err(CmdError::syntax());
        }
        i += 1;
    }
    let outcome = ctx.shared.engine.set(&args[1], &args[2], opts)?;
    ctx.unchanged = !outcome.written;
    if opts.return_old {
        ctx.out.bulk_or_null(outcome.old.as_deref());
    } else if outcome.written {
        ctx.out.ok();
    } else {
        ctx.out.null();
    }
    Ok(())
}

fn set_with_expiry(ctx: &mut Ctx<'_>, args: &[Bytes], unit_ms: u64, cmd: &str) -> CmdResult {
    let expiry = positive_expiry(&args[2], unit_ms, false, cmd)?;
    let opts = SetOptions {
        expiry,
        ..SetOptions::default()
    };
    ctx.shared.engine.set(&args[1], &args[3], opts)?;
    ctx.out.ok();
    Ok(())
}

pub fn setex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_with_expiry(ctx, args, 1000, "setex")
}

pub fn psetex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    set_with_expiry(ctx, args, 1, "psetex")
}

pub fn setnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let opts = SetOptions {
        condition: SetCondition::IfAbsent,
        ..SetOptions::default()
    };
    let outcome = ctx.shared.engine.set(&args[1], &args[2], opts)?;
    ctx.unchanged = !outcome.written;
    ctx.out.int(i64::from(outcome.written));
    Ok(())
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = slices(&args[1..]);
    let values = ctx.shared.engine.mget(&keys);
    ctx.out.array(values.len());
    for v in &values {
        ctx.out.bulk_or_null(v.as_deref());
    }
    Ok(())
}

pub fn mset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::err(
            "wrong number of arguments for 'mset' command",
        ));
    }
    let pairs: Vec<(&[u8], &[u8])> = args[1..]
        .chunks_exact(2)
        .map(|p| (&p[0][..], &p[1][..]))
        .collect();
    ctx.shared.engine.mset(&pairs)?;
    ctx.out.ok();
    Ok(())
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = ctx.shared.engine.get_with(&args[1], |v| v.len())?;
    ctx.out.int(len.unwrap_or(0) as i64);
    Ok(())
}

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`: the value, with its expiry
/// changed in the same step (a sliding TTL).
pub fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let then = match &args[2..] {
        [] => None,
        [p] if is(p, "persist") => Some(GetThen::Expire(Expiry::Never)),
        [opt, n] => {
            let (unit, absolute) = if is(opt, "ex") {
                (1000, false)
            } else if is(opt, "px") {
                (1, false)
            } else if is(opt, "exat") {
                (1000, true)
            } else if is(opt, "pxat") {
                (1, true)
            } else {
                return Err(CmdError::syntax());
            };
            Some(GetThen::Expire(positive_expiry(
                n, unit, absolute, "getex",
            )?))
        }
        _ => return Err(CmdError::syntax()),
    };
    let value = match then {
        Some(then) => ctx.shared.engine.get_then(&args[1], then)?,
        None => {
            ctx.unchanged = true;
            ctx.shared.engine.get(&args[1])?
        }
    };
    ctx.unchanged |= value.is_none();
    ctx.out.bulk_or_null(value.as_deref());
    Ok(())
}

/// `GETDEL key`: the value, and the key deleted in the same step.
pub fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let value = ctx.shared.engine.get_then(&args[1], GetThen::Delete)?;
    ctx.unchanged = value.is_none();
    ctx.out.bulk_or_null(value.as_deref());
    Ok(())
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let n = ctx.shared.engine.incr_by(key, delta).map_err(|e| match e {
        crate::Error::InvalidArgument { arg: "value", .. } => CmdError::not_integer(),
        crate::Error::InvalidArgument { arg: "delta", .. } => {
            CmdError::err("increment or decrement would overflow")
        }
        other => other.into(),
    })?;
    ctx.out.int(n);
    Ok(())
}

pub fn incr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &args[1], 1)
}

pub fn decr(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &args[1], -1)
}

pub fn incrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    incr_generic(ctx, &args[1], arg_i64(&args[2])?)
}

pub fn decrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = arg_i64(&args[2])?;
    let delta = n
        .checked_neg()
        .ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_generic(ctx, &args[1], delta)
}

/// `APPEND key tail` → the new length.
pub fn append(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = ctx
        .shared
        .engine
        .append(&args[1], &args[2])
        .map_err(|e| match e {
            crate::Error::TooLarge { .. } => {
                CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)")
            }
            other => other.into(),
        })?;
    ctx.out.int(len as i64);
    Ok(())
}
