//! Whole-server commands: DBSIZE, FLUSHALL/FLUSHDB, SAVE/BGSAVE, LASTSAVE, TIME, SHUTDOWN.

use std::sync::atomic::Ordering::Relaxed;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx};

pub fn dbsize(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.engine.dbsize() as i64);
    Ok(())
}

/// FLUSHDB (the selected database) and FLUSHALL (every database).
pub fn flush(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "sync") || is(&args[1], "async") => {}
        _ => return Err(CmdError::syntax()),
    }
    if is(&args[0], "flushdb") {
        ctx.w.flush_db()?;
    } else {
        ctx.w.flush()?;
    }
    ctx.out.ok();
    Ok(())
}

/// SWAPDB index1 index2, with Redis's errors.
pub fn swapdb(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.mode != crate::cluster::ClusterMode::Off {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    let index = |a: &[u8], which: &str| {
        super::arg_i64(a).map_err(|_| CmdError::err(format!("invalid {which} DB index")))
    };
    let (a, b) = (index(&args[1], "first")?, index(&args[2], "second")?);
    let n = i64::from(ctx.engine.databases());
    if !(0..n).contains(&a) || !(0..n).contains(&b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    ctx.w.swap_db(a as u32, b as u32)?;
    ctx.out.ok();
    Ok(())
}

fn no_data_dir() -> CmdError {
    CmdError::err("snapshots need a data directory: this server runs with --in-memory")
}

/// SAVE writes a snapshot now and answers when it is on disk; BGSAVE [SCHEDULE] starts one
/// on a background thread and answers at once.
pub fn save(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sh = ctx.shared;
    if sh.engine.last_checkpoint_ms().is_none() {
        return Err(no_data_dir());
    }
    if !is(&args[0], "bgsave") {
        sh.engine.checkpoint()?;
        ctx.out.ok();
        return Ok(());
    }
    match args.len() {
        1 => {}
        2 if is(&args[1], "schedule") => {}
        _ => return Err(CmdError::syntax()),
    }
    if sh.bgsave_in_progress.swap(true, Relaxed) {
        return Err(CmdError::err("Background save already in progress"));
    }
    let engine = sh.engine.clone();
    let running = sh.bgsave_in_progress.clone();
    let failed = sh.bgsave_failed.clone();
    let spawned = std::thread::Builder::new()
        .name("sutra-bgsave".into())
        .spawn(move || {
            let r = engine.checkpoint();
            if let Err(e) = &r {
                tracing::error!(error = %e, "BGSAVE failed");
            }
            failed.store(r.is_err(), Relaxed);
            running.store(false, Relaxed);
        });
    if let Err(e) = spawned {
        sh.bgsave_in_progress.store(false, Relaxed);
        return Err(CmdError::err(format!(
            "cannot start a background save: {e}"
        )));
    }
    ctx.out.simple("Background saving started");
    Ok(())
}

/// Unix time (s) of the newest snapshot; the start time when running in memory.
pub fn last_save_unix(sh: &crate::server::shared::Shared) -> u64 {
    sh.engine
        .last_checkpoint_ms()
        .map_or(sh.started_unix, |ms| ms / 1000)
}

pub fn lastsave(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    ctx.out.int(last_save_unix(ctx.shared) as i64);
    Ok(())
}

pub fn time(ctx: &mut Ctx<'_>, _args: &[Bytes]) -> CmdResult {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk(now.as_secs().to_string().as_bytes());
    ctx.out.bulk(now.subsec_micros().to_string().as_bytes());
    Ok(())
}

/// SHUTDOWN [NOSAVE|SAVE]: stops accepting, answers requests already read, closes the
/// engine. Like Redis, a successful SHUTDOWN sends no reply: the connection closes.
/// Closing the engine writes a snapshot either way (`checkpoint_on_close`): with the WAL
/// nothing acknowledged is lost without one, and the snapshot makes the next start fast.
pub fn shutdown(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    match args.len() {
        1 => {}
        2 if is(&args[1], "nosave") || is(&args[1], "save") => {}
        _ => return Err(CmdError::syntax()),
    }
    ctx.shared.shutdown_requested.notify_one();
    ctx.client.close_after_reply = true;
    Ok(())
}
