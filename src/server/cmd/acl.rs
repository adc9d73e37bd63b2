//! ACL: users (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, DRYRUN, GENPASS), ACL LOG,
//! ACL SAVE/LOAD (`--aclfile`), and CAT, Redis's command categories (each command's and each
//! subcommand's: `acl/commands.rs`). The users and the check are `server/acl/`'s.

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx};
use crate::server::acl::{commands, AclCommand, CATEGORIES};

/// A command's name as ACL CAT lists it: Redis registers the vector-set commands (a module
/// inside Redis) in upper case, its own commands in lower case; a subcommand as
/// `container|sub`.
fn listed_name(c: &AclCommand) -> String {
    if c.spec.group == "vector_set" {
        c.full.to_ascii_uppercase()
    } else {
        c.full.clone()
    }
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
    "HELP",
    "    Print this help.",
];

const NO_ACLFILE: &str = "This Redis instance is not configured to use an ACL file. You may \
    want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming \
    you have a Redis configuration file set) in order to store users in the Redis \
    configuration.";

fn shown(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn acl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    let acl = &ctx.shared.acl;
    if is(sub, "cat") {
        return cat(ctx, args);
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, ACL_HELP);
    } else if is(sub, "whoami") {
        let name = ctx.client.username();
        ctx.out.bulk(name.as_bytes());
    } else if is(sub, "users") {
        let users = acl.users();
        ctx.out.array(users.len());
        for u in &users {
            ctx.out.bulk(u.name.as_bytes());
        }
    } else if is(sub, "list") {
        let users = acl.users();
        ctx.out.array(users.len());
        for u in &users {
            ctx.out
                .bulk(format!("user {} {}", u.name, u.describe()).as_bytes());
        }
    } else if is(sub, "setuser") {
        let name = crate::server::acl::valid_name(&args[2]).map_err(CmdError::err)?;
        acl.set_user(name, &args[3..]).map_err(|(rule, why)| {
            CmdError::err(format!(
                "Error in ACL SETUSER modifier '{}': {why}",
                shown(&rule)
            ))
        })?;
        ctx.out.ok();
    } else if is(sub, "getuser") {
        let Some(u) = acl.get(&shown(&args[2])) else {
            ctx.out.null();
            return Ok(());
        };
        let out = &mut *ctx.out;
        out.map(6);
        out.bulk(b"flags");
        let flags = u.flags();
        out.array(flags.len());
        for f in flags {
            out.bulk(f.as_bytes());
        }
        out.bulk(b"passwords");
        out.array(u.passwords.len());
        for p in &u.passwords {
            out.bulk(p.as_bytes());
        }
        out.bulk(b"commands");
        out.bulk(u.command_rules().as_bytes());
        out.bulk(b"keys");
        out.bulk(u.keys_text().as_bytes());
        out.bulk(b"channels");
        out.bulk(u.channels_text().as_bytes());
        out.bulk(b"selectors");
        out.array(0);
    } else if is(sub, "deluser") {
        let names: Vec<String> = args[2..].iter().map(|a| shown(a)).collect();
        if names.iter().any(|n| n == "default") {
            return Err(CmdError::err("The 'default' user cannot be removed"));
        }
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let n = acl.delete(&refs);
        // Redis closes the connections authenticated as a deleted user.
        for c in ctx.shared.clients.list() {
            let user = c.names.lock().user.clone();
            if user.is_some_and(|u| names.contains(&u)) {
                c.kill();
            }
        }
        ctx.out.int(n as i64);
    } else if is(sub, "log") {
        log(ctx, args)?;
    } else if is(sub, "genpass") {
        genpass(ctx, args)?;
    } else if is(sub, "dryrun") {
        let Some(u) = acl.get(&shown(&args[2])) else {
            return Err(CmdError::err(format!(
                "User '{}' not found",
                shown(&args[2])
            )));
        };
        // As Redis looks it up: a container's subcommand (its own arity), an unknown
        // subcommand is no command.
        let not_found = || CmdError::err(format!("Command '{}' not found", shown(&args[3])));
        let spec = super::lookup(&args[3]).ok_or_else(not_found)?;
        let t = commands();
        let call = &args[3..];
        let found = &t.all[t.id_of(spec, call).ok_or_else(not_found)?];
        let n = call.len() as i32;
        if (found.arity > 0 && n != found.arity) || (found.arity < 0 && n < -found.arity) {
            return Err(CmdError::err(format!(
                "wrong number of arguments for '{}' command",
                found.full
            )));
        }
        match u.check(spec, &args[3..]) {
            Ok(()) => ctx.out.ok(),
            Err(d) => ctx.out.bulk(d.dryrun(spec, &args[3..]).as_bytes()),
        }
    } else if is(sub, "save") {
        let Some(path) = &ctx.shared.config.aclfile else {
            return Err(CmdError::err(NO_ACLFILE));
        };
        save(path, &acl.file_text()).map_err(|e| {
            CmdError::err(format!("There was an error trying to save the ACLs. {e}"))
        })?;
        ctx.out.ok();
    } else if is(sub, "load") {
        let Some(path) = &ctx.shared.config.aclfile else {
            return Err(CmdError::err(NO_ACLFILE));
        };
        let users = crate::server::acl::load_file(path).map_err(CmdError::err)?;
        acl.replace(users);
        // Connections of users that are gone are closed (as Redis does).
        for c in ctx.shared.clients.list() {
            let user = c.names.lock().user.clone();
            if user.is_some_and(|u| acl.get(&u).is_none()) {
                c.kill();
            }
        }
        ctx.out.ok();
    }
    Ok(())
}

/// Writes an ACL file atomically (a temporary file renamed over it).
fn save(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("acl.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn log(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let mut n = 10usize;
    if let Some(a) = args.get(2) {
        if is(a, "reset") {
            ctx.shared.acl.log_reset();
            ctx.out.ok();
            return Ok(());
        }
        // A negative count lists nothing, as in Redis.
        n = usize::try_from(super::arg_i64(a)?).unwrap_or(0);
    }
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let entries = ctx.shared.acl.log_entries(n);
    let out = &mut *ctx.out;
    out.array(entries.len());
    for e in &entries {
        out.map(7);
        out.bulk(b"count");
        out.int(e.count as i64);
        out.bulk(b"reason");
        out.bulk(e.reason.as_bytes());
        out.bulk(b"context");
        out.bulk(e.context.as_bytes());
        out.bulk(b"object");
        out.bulk(e.object.as_bytes());
        out.bulk(b"username");
        out.bulk(e.username.as_bytes());
        out.bulk(b"age-seconds");
        out.double(now.saturating_sub(e.at_ms) as f64 / 1000.0);
        out.bulk(b"client-info");
        out.bulk(e.client_info.trim_end().as_bytes());
    }
    Ok(())
}

fn genpass(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let bits = match args.get(2) {
        Some(a) => super::arg_i64(a)
            .ok()
            .filter(|b| (1..=4096).contains(b))
            .ok_or_else(|| {
                CmdError::err("ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096")
            })?,
        None => 256,
    };
    if args.len() > 3 {
        return Err(CmdError::syntax());
    }
    let chars = (bits as usize).div_ceil(4);
    let mut bytes = vec![0u8; chars.div_ceil(2)];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let mut hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.truncate(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

fn cat(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    {
        let Some(cat) = args.get(2) else {
            ctx.out.array(CATEGORIES.len());
            for c in CATEGORIES {
                ctx.out.bulk(c.as_bytes());
            }
            return Ok(());
        };
        if args.len() > 3 {
            return Err(CmdError::err(
                "wrong number of arguments for 'acl|cat' command",
            ));
        }
        let Some(cat) = CATEGORIES.iter().find(|c| is(cat, c)) else {
            let shown = String::from_utf8_lossy(&cat[..cat.len().min(128)]).into_owned();
            return Err(CmdError::err(format!("Unknown category '{shown}'")));
        };
        let bit = crate::server::acl::category_bit(cat).unwrap_or(0);
        let names: Vec<String> = commands()
            .all
            .iter()
            .filter(|c| c.is_in(bit))
            .map(listed_name)
            .collect();
        ctx.out.array(names.len());
        for n in &names {
            ctx.out.bulk(n.as_bytes());
        }
        Ok(())
    }
}
