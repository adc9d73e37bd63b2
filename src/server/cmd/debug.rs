//! DEBUG DIGEST-VALUE and DEBUG RELOAD, behind Redis 7's `enable-debug-command` switch.

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx};

const DEBUG_HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "RELOAD",
    "    Write a snapshot (with a data directory) and keep serving the same data.",
    "HELP",
    "    Print this help.",
];

/// Whether this connection may run DEBUG under `enable-debug-command`.
fn allowed(ctx: &Ctx<'_>) -> bool {
    match ctx
        .shared
        .config
        .enable_debug_command
        .to_ascii_lowercase()
        .as_str()
    {
        "yes" => true,
        "local" => ctx
            .client
            .info
            .addr
            .parse::<std::net::SocketAddr>()
            .is_ok_and(|a| a.ip().is_loopback()),
        _ => false,
    }
}

pub fn debug(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if !allowed(ctx) {
        return Err(CmdError::err(
            "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", \
             you can run it from a local connection, otherwise you need to set this option in \
             the configuration file, and then restart the server.",
        ));
    }
    let sub = &args[1];
    if is(sub, "digest-value") {
        let mut digests = Vec::with_capacity(args.len() - 2);
        for key in &args[2..] {
            let d = ctx.engine.digest_value(key)?.unwrap_or([0; 20]);
            digests.push(d.iter().map(|b| format!("{b:02x}")).collect::<String>());
        }
        ctx.out.array(digests.len());
        for d in &digests {
            ctx.out.simple(d);
        }
        Ok(())
    } else if is(sub, "reload") {
        // Redis saves, empties the dataset and loads the file back. Here the data stays in
        // memory (a snapshot restores exactly what is served: the durability tests check
        // that round trip across restarts); with a data directory a snapshot is written now.
        for a in &args[2..] {
            if !(is(a, "merge") || is(a, "noflush") || is(a, "nosave")) {
                return Err(CmdError::err(format!(
                    "DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options, got '{}'",
                    String::from_utf8_lossy(a)
                )));
            }
        }
        let nosave = args[2..].iter().any(|a| is(a, "nosave"));
        if !nosave && ctx.engine.last_checkpoint_ms().is_some() {
            ctx.engine.checkpoint()?;
        }
        ctx.out.ok();
        Ok(())
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, DEBUG_HELP);
        Ok(())
    } else {
        Err(CmdError::err(format!(
            "DEBUG {} is not supported by sutra-cache (DIGEST-VALUE, RELOAD and HELP are)",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )))
    }
}
