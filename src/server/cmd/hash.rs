//! Redis's hash commands, each one engine call, with Redis 7.0's replies and errors.

use bytes::Bytes;

use super::{arg_i64, is, scan_args, slices, CmdError, CmdResult, Ctx};
use crate::Error;

/// A field and its value, borrowed from the arguments.
type Pair<'a> = (&'a [u8], &'a [u8]);

/// The field, value pairs of HSET/HMSET (`args[2..]`), or Redis's arity error.
fn pairs<'a>(name: &str, args: &'a [Bytes]) -> Result<Vec<Pair<'a>>, CmdError> {
    let rest = &args[2..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::err(format!(
            "wrong number of arguments for '{name}' command"
        )));
    }
    Ok(rest
        .chunks_exact(2)
        .map(|p| (p[0].as_ref(), p[1].as_ref()))
        .collect())
}

/// Errors of the read-modify-write calls in Redis's words.
fn incr_error(e: Error, float: bool) -> CmdError {
    match e {
        Error::InvalidArgument {
            arg: "increment",
            expected,
        } => CmdError::err(expected),
        Error::InvalidArgument { arg: "value", .. } if float => {
            CmdError::err("hash value is not a float")
        }
        Error::InvalidArgument { arg: "value", .. } => {
            CmdError::err("hash value is not an integer")
        }
        Error::InvalidArgument { arg: "delta", .. } if float => {
            CmdError::err("increment would produce NaN or Infinity")
        }
        Error::InvalidArgument { arg: "delta", .. } => {
            CmdError::err("increment or decrement would overflow")
        }
        other => other.into(),
    }
}

/// `HSET key field value [field value ...]` → how many fields are new.
pub fn hset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = pairs("hset", args)?;
    let new = ctx.w.hset(&args[1], &pairs)?;
    ctx.out.int(new as i64);
    Ok(())
}

/// `HMSET key field value [field value ...]` → OK (deprecated in Redis, still served).
pub fn hmset(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let pairs = pairs("hmset", args)?;
    ctx.w.hset(&args[1], &pairs)?;
    ctx.out.ok();
    Ok(())
}

/// `HSETNX key field value` → 1 when set, 0 when the field existed.
pub fn hsetnx(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let set = ctx.w.hsetnx(&args[1], &args[2], &args[3])?;
    ctx.unchanged = !set;
    ctx.out.int(i64::from(set));
    Ok(())
}

/// `HGET key field`.
pub fn hget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let v = ctx.engine.hget(&args[1], &args[2])?;
    ctx.out.bulk_or_null(v.as_deref());
    Ok(())
}

/// `HMGET key field [field ...]`.
pub fn hmget(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = slices(&args[2..]);
    let values = ctx.engine.hmget(&args[1], &fields)?;
    ctx.out.array(values.len());
    for v in &values {
        ctx.out.bulk_or_null(v.as_deref());
    }
    Ok(())
}

/// `HGETALL key`: a map in RESP3, a flat array in RESP2.
pub fn hgetall(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let all = ctx.engine.hgetall(&args[1])?;
    ctx.out.map(all.len());
    for (f, v) in &all {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}

/// `HKEYS key`.
pub fn hkeys(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let keys = ctx.engine.hkeys(&args[1])?;
    ctx.out.array(keys.len());
    for k in &keys {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// `HVALS key`.
pub fn hvals(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let vals = ctx.engine.hvals(&args[1])?;
    ctx.out.array(vals.len());
    for v in &vals {
        ctx.out.bulk(v);
    }
    Ok(())
}

/// `HLEN key`.
pub fn hlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx.engine.hlen(&args[1])?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HEXISTS key field` → 1 or 0.
pub fn hexists(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let yes = ctx.engine.hexists(&args[1], &args[2])?;
    ctx.out.int(i64::from(yes));
    Ok(())
}

/// `HSTRLEN key field`.
pub fn hstrlen(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let n = ctx.engine.hstrlen(&args[1], &args[2])?;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HDEL key field [field ...]` → how many existed.
pub fn hdel(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let fields = slices(&args[2..]);
    let n = ctx.w.hdel(&args[1], &fields)?;
    ctx.unchanged = n == 0;
    ctx.out.int(n as i64);
    Ok(())
}

/// `HINCRBY key field increment` → the new value.
pub fn hincrby(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let delta = arg_i64(&args[3])?;
    let n = ctx
        .w
        .hincr_by(&args[1], &args[2], delta)
        .map_err(|e| incr_error(e, false))?;
    ctx.out.int(n);
    Ok(())
}

/// `HINCRBYFLOAT key field increment` → the new value as a bulk string.
pub fn hincrbyfloat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let text = ctx
        .w
        .hincr_by_float(&args[1], &args[2], &args[3])
        .map_err(|e| incr_error(e, true))?;
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// `HRANDFIELD key [count [WITHVALUES]]`: one field (or nil), or an array of fields; with
/// WITHVALUES field, value pairs (flat in RESP2, 2-element arrays in RESP3).
pub fn hrandfield(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let with_values = match args.get(3) {
        None => false,
        Some(a) if is(a, "withvalues") && args.len() == 4 => true,
        Some(_) => return Err(CmdError::syntax()),
    };
    let Some(count) = args.get(2) else {
        let one = ctx.engine.hrandfield(&args[1], 1)?;
        ctx.out.bulk_or_null(one.first().map(|(f, _)| f.as_slice()));
        return Ok(());
    };
    let count = arg_i64(count)?;
    if !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CmdError::err("value is out of range"));
    }
    let picked = ctx.engine.hrandfield(&args[1], count)?;
    if !with_values {
        ctx.out.array(picked.len());
        for (f, _) in &picked {
            ctx.out.bulk(f);
        }
    } else if ctx.out.resp3 {
        ctx.out.array(picked.len());
        for (f, v) in &picked {
            ctx.out.array(2);
            ctx.out.bulk(f);
            ctx.out.bulk(v);
        }
    } else {
        ctx.out.array(2 * picked.len());
        for (f, v) in &picked {
            ctx.out.bulk(f);
            ctx.out.bulk(v);
        }
    }
    Ok(())
}

/// `HSCAN key cursor [MATCH pattern] [COUNT count]` → [next cursor, [field, value, …]].
pub fn hscan(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let o = scan_args(&args[2..], false)?;
    let pattern = o.pattern.filter(|p| *p != b"*");
    let page = ctx.engine.hscan(&args[1], o.cursor, pattern, o.count)?;
    ctx.out.array(2);
    ctx.out.bulk(page.cursor.to_string().as_bytes());
    ctx.out.array(2 * page.pairs.len());
    for (f, v) in &page.pairs {
        ctx.out.bulk(f);
        ctx.out.bulk(v);
    }
    Ok(())
}
