//! SLOWLOG GET [count] | LEN | RESET | HELP, with Redis 7's replies.

use bytes::Bytes;

use super::{arg_i64, is, CmdError, CmdResult, Ctx};

const SLOWLOG_HELP: &[&str] = &[
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Print this help.",
];

/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn slowlog(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let log = &ctx.shared.slowlog;
    if is(sub, "get") {
        let count = match args.get(2) {
            None => Some(10),
            Some(a) => match arg_i64(a) {
                Ok(-1) => None,
                Ok(n) if n >= 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
                _ => return Err(CmdError::err("count should be greater than or equal to -1")),
            },
        };
        let entries = log.newest(count);
        ctx.out.array(entries.len());
        for e in entries {
            ctx.out.array(6);
            ctx.out.int(e.id as i64);
            ctx.out.int(e.time as i64);
            ctx.out.int(i64::try_from(e.micros).unwrap_or(i64::MAX));
            ctx.out.array(e.argv.len());
            for a in &e.argv {
                ctx.out.bulk(a);
            }
            ctx.out.bulk(e.addr.as_bytes());
            ctx.out.bulk(&e.name);
        }
    } else if is(sub, "len") {
        ctx.out.int(log.len() as i64);
    } else if is(sub, "reset") {
        log.reset();
        ctx.out.ok();
    } else {
        super::keyspace::help_lines(ctx, SLOWLOG_HELP);
    }
    Ok(())
}
