//! Blob commands: GET, SET, SETEX, PSETEX, SETNX, MGET, MSET, STRLEN, GETEX, GETDEL,
//! INCR/DECR/INCRBY/DECRBY, APPEND.

use bytes::Bytes;

use super::{arg_i64, is, slices, CmdError, CmdResult, Ctx};
use crate::{Expiry, GetThen, SetCondition, SetOptions};

pub fn get(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let out = &mut *ctx.out;
    // The value is encoded straight from the engine's buffer: no copy.
    if ctx.engine.get_with(&args[1], |v| out.bulk(v))?.is_none() {
        out.null();
    }
    Ok(())
}

/// A relative or absolute expiry in `unit_ms` units, as SET/SETEX/GETEX accept it
/// (Redis's `getExpireMillisecondsOrReply`): a positive integer whose time in ms, added to
/// `now` when relative, fits in 63 bits. `cmd` names the command in the error.
pub fn positive_expiry(
    arg: &[u8],
    unit_ms: u64,
    absolute: bool,
    now: u64,
    cmd: &str,
) -> Result<Expiry, CmdError> {
    let n = arg_i64(arg)?;
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let ms = (n as u64).checked_mul(unit_ms).ok_or_else(invalid)?;
    let at = if absolute {
        Some(ms)
    } else {
        ms.checked_add(now)
    };
    if at.is_none_or(|t| t > i64::MAX as u64) {
        return Err(invalid());
    }
    Ok(if absolute {
        Expiry::AtMs(ms)
    } else {
        Expiry::InMs(ms)
    })
}

/// SET's and GETEX's options as Redis's `parseExtendedStringArgumentsOrReply` reads them:
/// an option may repeat (the last time wins), options that contradict each other are a
/// syntax error, and the time is only read later ([`StringOptions::expiry`]), so a syntax
/// error anywhere wins over a bad number.
#[derive(Default)]
struct StringOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    /// The time argument, its unit in ms, and whether it is absolute.
    expire: Option<(&'a [u8], u64, bool)>,
}

impl<'a> StringOptions<'a> {
    fn parse(opts: &'a [Bytes], for_set: bool) -> Result<Self, CmdError> {
        let mut o = StringOptions::default();
        let mut i = 0;
        while i < opts.len() {
            let a = &opts[i];
            let next = opts.get(i + 1);
            // Which of EX / PX / EXAT / PXAT is set (only one ever is).
            let timed = o.expire.map(|(_, unit, abs)| (unit, abs));
            let other_time = |unit: u64, abs: bool| timed.is_some_and(|t| t != (unit, abs));
            let time_opt = [
                ("ex", 1000, false),
                ("px", 1, false),
                ("exat", 1000, true),
                ("pxat", 1, true),
            ]
            .into_iter()
            .find(|(name, _, _)| is(a, name));
            if for_set && is(a, "nx") && !o.xx {
                o.nx = true;
            } else if for_set && is(a, "xx") && !o.nx {
                o.xx = true;
            } else if for_set && is(a, "get") {
                o.get = true;
            } else if for_set && is(a, "keepttl") && !o.persist && timed.is_none() {
                o.keepttl = true;
            } else if !for_set && is(a, "persist") && !o.keepttl && timed.is_none() {
                o.persist = true;
            } else if let Some((_, unit, abs)) = time_opt.filter(|&(_, unit, abs)| {
                !o.keepttl && !o.persist && !other_time(unit, abs) && next.is_some()
            }) {
                o.expire = next.map(|n| (&n[..], unit, abs));
                i += 1;
            } else {
                return Err(CmdError::syntax());
            }
            i += 1;
        }
        Ok(o)
    }

    /// The expiry the options ask for, the time checked now (`cmd` names the command in
    /// the error); `None` when they leave it alone.
    fn expiry(&self, now: u64, cmd: &str) -> Result<Option<Expiry>, CmdError> {
        if let Some((arg, unit, absolute)) = self.expire {
            return positive_expiry(arg, unit, absolute, now, cmd).map(Some);
        }
        Ok(if self.keepttl {
            Some(Expiry::Keep)
        } else if self.persist {
            Some(Expiry::Never)
        } else {
            None
        })
    }
}

pub fn set(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = StringOptions::parse(&args[3..], true)?;
    let engine = &ctx.engine;
    let opts = SetOptions {
        condition: if o.nx {
            SetCondition::IfAbsent
        } else if o.xx {
            SetCondition::IfPresent
        } else {
            SetCondition::Always
        },
        expiry: o.expiry(engine.now_ms(), "set")?.unwrap_or_default(),
        return_old: o.get,
    };
    let outcome = ctx.w.set(&args[1], &args[2], opts)?;
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
    let expiry = positive_expiry(&args[2], unit_ms, false, ctx.engine.now_ms(), cmd)?;
    let opts = SetOptions {
        expiry,
        ..SetOptions::default()
    };
    ctx.w.set(&args[1], &args[3], opts)?;
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
    let outcome = ctx.w.set(&args[1], &args[2], opts)?;
    ctx.unchanged = !outcome.written;
    ctx.out.int(i64::from(outcome.written));
    Ok(())
}

pub fn mget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = slices(&args[1..]);
    let values = ctx.engine.mget(&keys);
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
    ctx.w.mset(&pairs)?;
    ctx.out.ok();
    Ok(())
}

pub fn strlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let len = ctx.engine.get_with(&args[1], |v| v.len())?;
    ctx.out.int(len.unwrap_or(0) as i64);
    Ok(())
}

/// `GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]`: the value, with its expiry
/// changed in the same step (a sliding TTL). As in Redis, a missing key answers nil and a
/// wrong type WRONGTYPE before the time is checked.
pub fn getex(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = StringOptions::parse(&args[2..], false)?;
    let engine = &ctx.engine;
    let then = match o.expiry(engine.now_ms(), "getex") {
        Ok(then) => then,
        Err(e) => {
            // Redis answers nil for a missing key (WRONGTYPE for another type) first.
            return match engine.get(&args[1])? {
                None => {
                    ctx.unchanged = true;
                    ctx.out.null();
                    Ok(())
                }
                Some(_) => Err(e),
            };
        }
    };
    let value = match then {
        Some(then) => ctx.w.get_then(&args[1], GetThen::Expire(then))?,
        None => {
            ctx.unchanged = true;
            engine.get(&args[1])?
        }
    };
    ctx.unchanged |= value.is_none();
    ctx.out.bulk_or_null(value.as_deref());
    Ok(())
}

/// `GETDEL key`: the value, and the key deleted in the same step.
pub fn getdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let value = ctx.w.get_then(&args[1], GetThen::Delete)?;
    ctx.unchanged = value.is_none();
    ctx.out.bulk_or_null(value.as_deref());
    Ok(())
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], delta: i64) -> CmdResult {
    let n = ctx.w.incr_by(key, delta).map_err(|e| match e {
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
    let len = ctx.w.append(&args[1], &args[2]).map_err(|e| match e {
        crate::Error::TooLarge { .. } => {
            CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)")
        }
        other => other.into(),
    })?;
    ctx.out.int(len as i64);
    Ok(())
}
