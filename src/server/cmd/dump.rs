//! DUMP and RESTORE: Redis's serialized values (the engine's `dump` / `restore`), with
//! Redis's replies and errors in Redis's order.

use bytes::Bytes;

use super::{arg_i64, is, CmdError, CmdResult, Ctx};
use crate::{Expiry, PayloadRefusal, Renamed, RestoreOptions, Restored};

/// DUMP key: the payload, or nil for a missing key.
pub fn dump(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let payload = ctx.engine.dump(&args[1])?;
    ctx.out.bulk_or_null(payload.as_deref());
    Ok(())
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
///
/// As Redis: options first (a repeated IDLETIME/FREQ or both is a syntax error), then
/// BUSYKEY, then the TTL, then the payload. IDLETIME and FREQ are checked and accepted; they
/// set nothing here (eviction order is a logical clock, and a restored key starts with a
/// fresh LFU counter).
pub fn restore(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "absttl") {
            absttl = true;
        } else if is(&args[j], "idletime") && more && !freq {
            if arg_i64(&args[j + 1])? < 0 {
                return Err(CmdError::err("Invalid IDLETIME value, must be >= 0"));
            }
            idle = true;
            j += 1;
        } else if is(&args[j], "freq") && more && !idle {
            if !(0..=255).contains(&arg_i64(&args[j + 1])?) {
                return Err(CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"));
            }
            freq = true;
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    let key = &args[1];
    if !replace && ctx.engine.exists(&[key]) > 0 {
        return Err(busy());
    }
    let ttl = arg_i64(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let expiry = match (ttl, absttl) {
        (0, _) => Expiry::Never,
        (t, true) => Expiry::AtMs(t as u64),
        (t, false) => Expiry::InMs(t as u64),
    };
    match ctx
        .w
        .restore(key, &args[3], RestoreOptions { replace, expiry })?
    {
        Restored::Written | Restored::AlreadyExpired => ctx.out.ok(),
        Restored::BusyKey => return Err(busy()),
        Restored::Refused(why) => {
            if let PayloadRefusal::BadFormat(detail) = &why {
                tracing::debug!(key = %String::from_utf8_lossy(key), "RESTORE refused: {detail}");
            }
            ctx.unchanged = true;
            return Err(CmdError::err(why));
        }
    }
    Ok(())
}

fn busy() -> CmdError {
    CmdError("BUSYKEY Target key name already exists.".into())
}

/// RENAME key newkey / RENAMENX key newkey.
pub fn rename(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let nx = is(&args[0], "renamenx");
    match ctx.w.rename(&args[1], &args[2], nx)? {
        Renamed::NoSuchKey => return Err(CmdError::err("no such key")),
        Renamed::Done if nx => ctx.out.int(1),
        Renamed::Done => ctx.out.ok(),
        Renamed::TargetExists => {
            ctx.unchanged = true;
            ctx.out.int(0);
        }
    }
    Ok(())
}

/// COPY source destination [DB destination-db] [REPLACE], with Redis's errors.
pub fn copy(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let (mut replace, mut db) = (false, None);
    let mut j = 3;
    while j < args.len() {
        if is(&args[j], "replace") {
            replace = true;
        } else if is(&args[j], "db") && j + 1 < args.len() {
            db = Some(super::conn::db_arg(ctx, &args[j + 1])?);
            j += 1;
        } else {
            return Err(CmdError::syntax());
        }
        j += 1;
    }
    if ctx.shared.cluster.mode != crate::cluster::ClusterMode::Off
        && db.is_some_and(|d| d != ctx.engine.db())
    {
        return Err(CmdError::err(
            "Copying to another database is not allowed in cluster mode",
        ));
    }
    if db.is_none_or(|d| d == ctx.engine.db()) && args[1] == args[2] {
        return Err(CmdError::err("source and destination objects are the same"));
    }
    let copied = ctx.w.copy_key(&args[1], &args[2], db, replace)?;
    ctx.unchanged = !copied;
    ctx.out.int(i64::from(copied));
    Ok(())
}
