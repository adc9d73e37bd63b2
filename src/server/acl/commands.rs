//! The commands as ACL rules see them (Redis 7's model): every command of the table and
//! every subcommand of a container command (`client|kill`, `config|get`) is one ACL command
//! with an id and its own categories; a user allows a set of ids. `-@admin` therefore denies
//! exactly the subcommands Redis puts in `@admin` (CLIENT KILL, CONFIG SET) and keeps the
//! others (CLIENT SETNAME, CONFIG HELP).
//!
//! The categories are Redis 7.0.15's (its COMMAND INFO) for every command and subcommand it
//! has; commands it lacks (Redis 8's vector sets, the cache's own) derive theirs from their
//! flags and group, as Redis derives a module command's.

use std::sync::OnceLock;

use bytes::Bytes;

use crate::server::cmd::{lookup, subcommands, Spec, COMMANDS};

/// Redis's categories, in Redis's order (`vectorset` added by Redis 8's vector sets).
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

/// The bit of a category (by lower-case name) in [`AclCommand::cats`].
pub fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES.iter().position(|c| *c == name).map(|i| 1 << i)
}

/// Redis 7.0.15's categories of a command or subcommand (`container|sub`) it has, as its
/// COMMAND INFO lists them; CLIENT NO-TOUCH and SETINFO are Redis 7.2's. `None` for a command
/// Redis 7 does not have.
#[rustfmt::skip]
fn redis_categories(full: &str) -> Option<&'static [&'static str]> {
    Some(match full {
        "client" | "acl" | "acl|help" | "acl|whoami" | "acl|genpass" | "acl|cat" | "config" | "config|help" | "slowlog" | "slowlog|help" | "object" | "memory" | "memory|purge" | "memory|help" | "memory|doctor" | "memory|malloc-stats" | "memory|stats" | "cluster" | "cluster|countkeysinslot" | "cluster|info" | "cluster|getkeysinslot" | "cluster|slots" | "cluster|myid" | "cluster|keyslot" | "cluster|shards" | "cluster|nodes" | "cluster|help"
            => &["slow"],
        "acl|users" | "acl|dryrun" | "acl|list" | "acl|log" | "acl|save" | "acl|load" | "acl|getuser" | "acl|deluser" | "acl|setuser" | "debug" | "config|get" | "config|resetstat" | "config|rewrite" | "config|set" | "slowlog|get" | "slowlog|reset" | "slowlog|len" | "save" | "bgsave" | "shutdown" | "replicaof" | "slaveof" | "replconf"
            => &["admin", "slow", "dangerous"],
        "client|setname" | "client|reply" | "client|getredir" | "client|id" | "client|caching" | "client|info" | "client|getname" | "client|help" | "client|trackinginfo" | "client|tracking" | "command" | "command|docs" | "command|count" | "command|list" | "command|info" | "command|getkeys" | "command|getkeysandflags" | "command|help" | "wait"
            => &["slow", "connection"],
        "ping" | "echo" | "hello" | "auth" | "select" | "quit" | "reset" | "asking" | "readonly" | "readwrite"
            => &["fast", "connection"],
        "setnx" | "getex" | "getdel" | "incr" | "decr" | "incrby" | "decrby" | "append"
            => &["write", "string", "fast"],
        "unlink" | "expire" | "pexpire" | "expireat" | "pexpireat" | "persist" | "renamenx" | "move"
            => &["keyspace", "write", "fast"],
        "object|idletime" | "object|freq" | "object|encoding" | "object|refcount" | "randomkey" | "scan" | "dump"
            => &["keyspace", "read", "slow"],
        "client|list" | "client|pause" | "client|unblock" | "client|unpause" | "client|kill" | "client|no-evict"
            => &["admin", "slow", "dangerous", "connection"],
        "hset" | "hmset" | "hsetnx" | "hdel" | "hincrby" | "hincrbyfloat"
            => &["write", "hash", "fast"],
        "dbsize" | "exists" | "ttl" | "pttl" | "type"
            => &["keyspace", "read", "fast"],
        "hget" | "hmget" | "hlen" | "hexists" | "hstrlen"
            => &["read", "hash", "fast"],
        "hgetall" | "hkeys" | "hvals" | "hrandfield" | "hscan"
            => &["read", "hash", "slow"],
        "multi" | "discard" | "watch" | "unwatch"
            => &["fast", "transaction"],
        "set" | "setex" | "psetex" | "mset"
            => &["write", "string", "slow"],
        "flushdb" | "flushall" | "restore"
            => &["keyspace", "write", "slow", "dangerous"],
        "get" | "mget" | "strlen"
            => &["read", "string", "fast"],
        "del" | "rename" | "copy"
            => &["keyspace", "write", "slow"],
        "lastsave" | "role"
            => &["admin", "fast", "dangerous"],
        "subscribe" | "unsubscribe"
            => &["pubsub", "slow"],
        "info"
            => &["slow", "dangerous"],
        "swapdb"
            => &["keyspace", "write", "fast", "dangerous"],
        "time"
            => &["fast"],
        "publish"
            => &["pubsub", "fast"],
        "exec"
            => &["slow", "transaction"],
        "keys"
            => &["keyspace", "read", "slow", "dangerous"],
        "object|help"
            => &["keyspace", "slow"],
        "memory|usage"
            => &["read", "slow"],
        "client|no-touch" | "client|setinfo"
            => &["slow", "connection"],
        _ => return None,
    })
}

/// The categories of a command Redis 7 lacks, as Redis derives them: `read`/`write`/`admin`/
/// `pubsub`/`fast` (else `slow`) from its flags, the data type or area from its group;
/// `admin` commands are `dangerous`.
fn derived_categories(spec: &Spec) -> Vec<&'static str> {
    let flag = |f: &str| spec.flags.contains(&f);
    let mut cats = Vec::new();
    // Redis's `vectorset` category holds the twelve vector-set commands of Redis 8.0;
    // VRANGE (8.4) is not in it (Redis's own suite, tests/acls.py, checks the set).
    if spec.group == "vector_set" && spec.name != "vrange" {
        cats.push("vectorset");
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
    cats.push(if flag("fast") { "fast" } else { "slow" });
    if flag("admin") {
        cats.push("dangerous");
    }
    cats
}

/// One ACL command: a command of the table, or a subcommand of a container command.
pub struct AclCommand {
    /// `get`, or `client|kill` for a subcommand.
    pub full: String,
    pub spec: &'static Spec,
    /// The container's id, for a subcommand.
    pub parent: Option<usize>,
    /// A container's subcommands' ids.
    pub subs: std::ops::Range<usize>,
    /// Arity (name included; for a subcommand, the container's name counts as one).
    pub arity: i32,
    /// Its categories: bit `i` is [`CATEGORIES`]`[i]`.
    pub cats: u32,
    /// The argument that is a (read) key of a subcommand (OBJECT FREQ key, MEMORY USAGE key);
    /// a command's keys are its spec's.
    pub key: Option<usize>,
}

impl AclCommand {
    /// Its categories by name, in [`CATEGORIES`]'s order.
    pub fn categories(&self) -> impl Iterator<Item = &'static str> + '_ {
        CATEGORIES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.cats & (1 << i) != 0)
            .map(|(_, c)| *c)
    }

    /// Whether it is in a category (by bit).
    pub fn is_in(&self, bit: u32) -> bool {
        self.cats & bit != 0
    }
}

/// Every ACL command: each command of [`COMMANDS`] in order, each container followed by its
/// subcommands.
pub struct AclCommands {
    pub all: Vec<AclCommand>,
    /// The id of each command of [`COMMANDS`], by its index there.
    base: Vec<usize>,
}

fn mask(cats: &[&str]) -> u32 {
    cats.iter()
        .filter_map(|c| category_bit(c))
        .fold(0, |m, b| m | b)
}

/// The ACL commands (built once).
pub fn commands() -> &'static AclCommands {
    static T: OnceLock<AclCommands> = OnceLock::new();
    T.get_or_init(|| {
        let mut all = Vec::new();
        let mut base = Vec::with_capacity(COMMANDS.len());
        for spec in COMMANDS {
            let id = all.len();
            base.push(id);
            let subs = subcommands(spec.name);
            let cats =
                redis_categories(spec.name).map_or_else(|| mask(&derived_categories(spec)), mask);
            all.push(AclCommand {
                full: spec.name.to_string(),
                spec,
                parent: None,
                subs: id + 1..id + 1 + subs.len(),
                arity: spec.arity,
                cats,
                key: None,
            });
            for &(sub, arity) in subs {
                let full = format!("{}|{sub}", spec.name);
                let cats = match redis_categories(&full) {
                    Some(c) => mask(c),
                    // The cache's own containers (SUTRA.CLUSTER): HELP is harmless, the
                    // rest is the container's.
                    None if sub == "help" => mask(&["slow"]),
                    None => mask(&derived_categories(spec)),
                };
                let key = match (spec.name, sub) {
                    ("object", "encoding" | "freq" | "idletime" | "refcount")
                    | ("memory", "usage") => Some(2),
                    _ => None,
                };
                all.push(AclCommand {
                    full,
                    spec,
                    parent: Some(id),
                    subs: 0..0,
                    arity,
                    cats,
                    key,
                });
            }
        }
        AclCommands { all, base }
    })
}

impl AclCommands {
    /// The id of a command of [`COMMANDS`].
    fn base_of(&self, spec: &Spec) -> Option<usize> {
        let offset = (spec as *const Spec as usize).wrapping_sub(COMMANDS.as_ptr() as usize);
        let index = offset / std::mem::size_of::<Spec>();
        let id = *self.base.get(index)?;
        std::ptr::eq(self.all[id].spec, spec).then_some(id)
    }

    /// The id a call runs as: a container's subcommand (`args[1]`), or the command (a
    /// container called alone, as `COMMAND` is, runs as itself). `None` for a container's
    /// unknown subcommand (Redis knows no such command).
    pub fn id_of(&self, spec: &Spec, args: &[Bytes]) -> Option<usize> {
        let id = self.base_of(spec)?;
        let subs = self.all[id].subs.clone();
        let Some(sub) = args.get(1).filter(|_| !subs.is_empty()) else {
            return Some(id);
        };
        let name = &self.all[id].full;
        subs.into_iter().find(|&s| {
            let full = self.all[s].full.as_bytes();
            sub.eq_ignore_ascii_case(&full[name.len() + 1..])
        })
    }

    /// The id of `name` (`get`, `client|kill`; any case), as ACL rules name commands.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        let (cmd, sub) = match name.split_once('|') {
            Some((c, s)) => (c, Some(s)),
            None => (name, None),
        };
        let id = self.base_of(lookup(cmd.as_bytes())?)?;
        let Some(sub) = sub else { return Some(id) };
        self.all[id]
            .subs
            .clone()
            .find(|&s| self.all[s].full[cmd.len() + 1..].eq_ignore_ascii_case(sub))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cats(name: &str) -> Vec<&'static str> {
        let t = commands();
        t.all[t.by_name(name).unwrap()].categories().collect()
    }

    #[test]
    fn subcommands_have_their_own_categories_as_in_redis_7() {
        assert_eq!(cats("client"), ["slow"]);
        assert_eq!(
            cats("client|kill"),
            ["admin", "slow", "dangerous", "connection"]
        );
        assert_eq!(cats("client|setname"), ["slow", "connection"]);
        assert_eq!(cats("config|get"), ["admin", "slow", "dangerous"]);
        assert_eq!(cats("config|help"), ["slow"]);
        assert_eq!(cats("object|freq"), ["keyspace", "read", "slow"]);
        assert_eq!(cats("memory|usage"), ["read", "slow"]);
        assert_eq!(cats("cluster|info"), ["slow"]);
        assert_eq!(cats("info"), ["slow", "dangerous"]);
        assert_eq!(cats("get"), ["read", "string", "fast"]);
        assert_eq!(cats("vadd"), ["write", "slow", "vectorset"]);
        assert_eq!(cats("sutra.cluster|config"), ["admin", "slow", "dangerous"]);
        assert!(commands().by_name("client|nosuch").is_none());
        assert!(commands().by_name("get|x").is_none());
        assert_eq!(
            commands().by_name("CLIENT|Kill"),
            commands().by_name("client|kill")
        );
    }

    #[test]
    fn every_command_and_subcommand_has_an_id_and_a_speed() {
        let t = commands();
        let (fast, slow) = (category_bit("fast").unwrap(), category_bit("slow").unwrap());
        for (id, c) in t.all.iter().enumerate() {
            assert_eq!(t.by_name(&c.full), Some(id), "{}", c.full);
            assert!(c.is_in(fast) != c.is_in(slow), "{}", c.full);
        }
        let client = lookup(b"client").unwrap();
        let kill = [Bytes::from_static(b"CLIENT"), Bytes::from_static(b"KILL")];
        assert_eq!(t.id_of(client, &kill), t.by_name("client|kill"));
        assert_eq!(t.id_of(client, &kill[..1]), t.by_name("client"));
        let nosuch = [Bytes::from_static(b"CLIENT"), Bytes::from_static(b"NOSUCH")];
        assert_eq!(t.id_of(client, &nosuch), None);
    }
}
