//! COMMAND and its subcommands (the command table as Redis describes it).

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx, COMMANDS};
use crate::glob::glob_match;

fn command_info(ctx: &mut Ctx<'_>, spec: &super::Spec) {
    let out = &mut *ctx.out;
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    out.set(spec.flags.len());
    for f in spec.flags {
        out.simple(f);
    }
    out.int(i64::from(spec.keys.0));
    out.int(i64::from(spec.keys.1));
    out.int(i64::from(spec.keys.2));
    // ACL categories (a container's own: its subcommands have theirs, ACL CAT lists them).
    let acl = crate::server::acl::commands();
    let cats: Vec<&str> = acl
        .by_name(spec.name)
        .map(|id| acl.all[id].categories().collect())
        .unwrap_or_default();
    out.set(cats.len());
    for c in cats {
        out.simple(&format!("@{c}"));
    }
    out.set(0); // tips
    out.array(0); // key specifications
    out.array(0); // subcommands
}

fn command_doc(ctx: &mut Ctx<'_>, spec: &super::Spec) {
    let out = &mut *ctx.out;
    out.bulk(spec.name.as_bytes());
    out.map(3);
    out.bulk(b"summary");
    out.bulk(spec.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(b"0.1.0");
    out.bulk(b"group");
    out.bulk(spec.group.as_bytes());
}

pub fn command(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    if args.len() == 1 {
        ctx.out.array(COMMANDS.len());
        for spec in COMMANDS {
            command_info(ctx, spec);
        }
        return Ok(());
    }
    let sub = &args[1];
    if is(sub, "count") {
        ctx.out.int(COMMANDS.len() as i64);
    } else if is(sub, "list") {
        // COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]: every
        // command and, as in Redis 7, every subcommand (`config|get`).
        use crate::server::acl::{category_bit, AclCommand};
        let keep: Box<dyn Fn(&AclCommand) -> bool> = match &args[2..] {
            [] => Box::new(|_| true),
            [f, kind, value] if is(f, "filterby") && is(kind, "pattern") => {
                let p = value.to_ascii_lowercase();
                Box::new(move |c: &AclCommand| glob_match(&p, c.full.as_bytes()))
            }
            [f, kind, value] if is(f, "filterby") && is(kind, "aclcat") => {
                let bit = std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| category_bit(&v.to_ascii_lowercase()));
                match bit {
                    Some(bit) => Box::new(move |c: &AclCommand| c.is_in(bit)),
                    None => Box::new(|_| false),
                }
            }
            // No modules.
            [f, kind, _] if is(f, "filterby") && is(kind, "module") => Box::new(|_| false),
            _ => return Err(CmdError::syntax()),
        };
        let names: Vec<&str> = crate::server::acl::commands()
            .all
            .iter()
            .filter(|c| keep(c))
            .map(|c| c.full.as_str())
            .collect();
        ctx.out.array(names.len());
        for name in names {
            ctx.out.bulk(name.as_bytes());
        }
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, COMMAND_HELP);
    } else if is(sub, "info") {
        if args.len() == 2 {
            ctx.out.array(COMMANDS.len());
            for spec in COMMANDS {
                command_info(ctx, spec);
            }
        } else {
            ctx.out.array(args.len() - 2);
            for name in &args[2..] {
                match super::lookup(name) {
                    Some(spec) => command_info(ctx, spec),
                    None => ctx.out.null_array(),
                }
            }
        }
    } else if is(sub, "docs") {
        let specs: Vec<&super::Spec> = if args.len() == 2 {
            COMMANDS.iter().collect()
        } else {
            args[2..].iter().filter_map(|n| super::lookup(n)).collect()
        };
        ctx.out.map(specs.len());
        for spec in specs {
            command_doc(ctx, spec);
        }
    } else {
        return Err(CmdError::err(format!(
            "COMMAND {} is not supported by sutra-cache",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )));
    }
    Ok(())
}

const COMMAND_HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands.",
    "COUNT",
    "    Return the total number of commands in this server.",
    "LIST",
    "    Return a list of all commands in this server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "HELP",
    "    Print this help.",
];
