//! ACL CAT: Redis's command categories, derived from the command table (flags and group).
//! There is one user here (the `--password` one), so the other ACL subcommands are refused.

use bytes::Bytes;

use super::{is, CmdError, CmdResult, Ctx, Spec, COMMANDS};

/// Redis 8's categories, in Redis's order (`vectorset` added by Redis 8's vector sets).
pub const CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "vectorset",
];

/// The categories a command belongs to, as Redis derives them: `read`/`write`/`admin`/
/// `pubsub`/`fast` (else `slow`) from its flags, the data type or area from its group;
/// `admin` commands and whole-keyspace ones are `dangerous`.
pub fn categories(spec: &Spec) -> Vec<&'static str> {
    let flag = |f: &str| spec.flags.contains(&f);
    let mut cats = Vec::new();
    match spec.group {
        "generic" => cats.push("keyspace"),
        "string" => cats.push("string"),
        "connection" => cats.push("connection"),
        "transactions" => cats.push("transaction"),
        // Redis's `vectorset` category holds the twelve vector-set commands of Redis 8.0;
        // VRANGE (8.4) is not in it (Redis's own suite, tests/acls.py, checks the set).
        "vector_set" if spec.name != "vrange" => cats.push("vectorset"),
        "server" if matches!(spec.name, "dbsize" | "flushdb" | "flushall") => cats.push("keyspace"),
        _ => {}
    }
    if flag("readonly") {
        cats.push("read");
    }
    if flag("write") {
        cats.push("write");
    }
    if flag("pubsub") {
        cats.push("pubsub");
    }
    if flag("admin") {
        cats.push("admin");
    }
    if flag("fast") {
        cats.push("fast");
    } else {
        cats.push("slow");
    }
    if flag("admin") || matches!(spec.name, "keys" | "flushdb" | "flushall") {
        cats.push("dangerous");
    }
    cats
}

/// A command's name as ACL CAT lists it: Redis registers the vector-set commands (a module
/// inside Redis) in upper case, its own commands in lower case.
fn listed_name(spec: &Spec) -> String {
    if spec.group == "vector_set" {
        spec.name.to_ascii_uppercase()
    } else {
        spec.name.to_string()
    }
}

const ACL_HELP: &[&str] = &[
    "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "HELP",
    "    Print this help.",
    "(sutra-cache has one user, authenticated by the --password setting: the other ACL",
    "subcommands are not supported.)",
];

/// Unknown subcommands and wrong counts are refused before this runs (`cmd::subcommands`).
pub fn acl(ctx: &mut Ctx<'_>, args: &[Bytes]) -> CmdResult {
    let sub = &args[1];
    if is(sub, "cat") {
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
        let names: Vec<String> = COMMANDS
            .iter()
            .filter(|s| categories(s).contains(cat))
            .map(listed_name)
            .collect();
        ctx.out.array(names.len());
        for n in &names {
            ctx.out.bulk(n.as_bytes());
        }
        Ok(())
    } else if is(sub, "help") {
        super::keyspace::help_lines(ctx, ACL_HELP);
        Ok(())
    } else {
        Err(CmdError::err(format!(
            "ACL {} is not supported: sutra-cache has one user, authenticated by the \
             --password setting",
            String::from_utf8_lossy(sub).to_ascii_uppercase()
        )))
    }
}
