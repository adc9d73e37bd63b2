//! The command table: every command's [`Spec`] (name, arity, flags, key positions, what it
//! reads for client-side caching, its handler), lookup by name, the subcommands of container
//! commands with their arities, the names INFO commandstats counts under, and Redis's refusals
//! of unknown commands and subcommands. Running a command is `cmd::execute`'s.

use std::sync::OnceLock;

use bytes::Bytes;

use super::*;

pub(super) type Handler = fn(&mut Ctx<'_>, &[Bytes]) -> CmdResult;

/// The names a read-only command reads, for client-side caching: a tracking client that
/// runs it is sent an invalidation when one of them changes (`key`, or `key` + NUL +
/// `element` for one element of a vector set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reads {
    /// Not a keyed read (writes, server commands, SCAN/KEYS).
    Nothing,
    /// Its key arguments, whole (a blob, or a whole vector set: VSIM, VCARD, VINFO, …).
    Keys,
    /// One element: the key is argument 1, the element argument 2.
    Element,
    /// Elements: the key is argument 1, the elements every argument from 2 on.
    Elements,
}

/// One command of the table.
pub struct Spec {
    /// Lower-case name.
    pub name: &'static str,
    /// Redis arity: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i32,
    /// Redis command flags (COMMAND INFO).
    pub flags: &'static [&'static str],
    /// First key argument (0 = none), last key (-1 = last argument), step.
    pub keys: (i32, i32, i32),
    /// What a read registers for a client in default tracking mode (CLIENT TRACKING).
    pub reads: Reads,
    /// COMMAND DOCS group.
    pub group: &'static str,
    /// COMMAND DOCS summary.
    pub summary: &'static str,
    /// The handler.
    pub run: Handler,
}

pub(super) const WRITE: &[&str] = &["write"];
pub(super) const WRITE_OOM: &[&str] = &["write", "denyoom"];
pub(super) const WRITE_OOM_FAST: &[&str] = &["write", "denyoom", "fast"];
pub(super) const READ: &[&str] = &["readonly", "fast"];
pub(super) const READ_SLOW: &[&str] = &["readonly"];
pub(super) const CONN: &[&str] = &["fast", "loading", "stale"];
pub(super) const NOAUTH: &[&str] = &["noscript", "loading", "stale", "fast", "no_auth"];
pub(super) const ADMIN: &[&str] = &["admin", "noscript"];
pub(super) const ADMIN_NO_MULTI: &[&str] = &["admin", "noscript", "no_multi"];
pub(super) const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];

macro_rules! spec {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $reads:expr, $group:literal, $run:path, $summary:literal) => {
        Spec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            reads: $reads,
            group: $group,
            summary: $summary,
            run: $run,
        }
    };
}

pub(super) const NOKEY: (i32, i32, i32) = (0, 0, 0);
pub(super) const KEY1: (i32, i32, i32) = (1, 1, 1);
pub(super) const KEYS: (i32, i32, i32) = (1, -1, 1);

/// Every command the server knows.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    // connection and server
    spec!("ping", -1, CONN, NOKEY, Reads::Nothing, "connection", conn::ping, "Returns the server's liveliness response."),
    spec!("echo", 2, CONN, NOKEY, Reads::Nothing, "connection", conn::echo, "Returns the given string."),
    spec!("hello", -1, NOAUTH, NOKEY, Reads::Nothing, "connection", conn::hello, "Handshakes with the server (protocol version, auth, name)."),
    spec!("auth", -2, NOAUTH, NOKEY, Reads::Nothing, "connection", conn::auth, "Authenticates the connection."),
    spec!("select", 2, CONN, NOKEY, Reads::Nothing, "connection", conn::select, "Changes the selected database (0 to --databases - 1; only 0 in cluster mode)."),
    spec!("quit", -1, NOAUTH, NOKEY, Reads::Nothing, "connection", conn::quit, "Closes the connection."),
    spec!("client", -2, CONN, NOKEY, Reads::Nothing, "connection", client::client, "CLIENT ID|SETNAME|GETNAME|SETINFO|INFO."),
    spec!("command", -1, &["loading", "stale"], NOKEY, Reads::Nothing, "server", command::command, "Returns details about commands."),
    spec!("acl", -2, &["admin", "noscript", "loading", "stale"], NOKEY, Reads::Nothing, "server", acl::acl, "ACL users (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, LOG, SAVE, LOAD, DRYRUN, GENPASS) and CAT, Redis's command categories (vectorset included)."),
    spec!("debug", -2, &["admin", "noscript", "loading", "stale"], NOKEY, Reads::Nothing, "server", debug::debug, "DEBUG DIGEST-VALUE key…|RELOAD|HELP (with --enable-debug-command)."),
    spec!("config", -2, ADMIN, NOKEY, Reads::Nothing, "server", config::config, "CONFIG GET parameter [parameter ...]."),
    spec!("slowlog", -2, &["admin", "random", "loading", "stale"], NOKEY, Reads::Nothing, "server", slowlog::slowlog, "SLOWLOG GET [count]|LEN|RESET|HELP: the commands that ran longer than slowlog-log-slower-than µs."),
    spec!("info", -1, &["loading", "stale"], NOKEY, Reads::Nothing, "server", info::info, "Returns information and statistics about the server."),
    spec!("dbsize", 1, READ, NOKEY, Reads::Nothing, "server", server::dbsize, "Returns the number of keys in the selected database."),
    spec!("flushdb", -1, WRITE, NOKEY, Reads::Nothing, "server", server::flush, "Removes every key of the selected database."),
    spec!("flushall", -1, WRITE, NOKEY, Reads::Nothing, "server", server::flush, "Removes every key of every database."),
    spec!("swapdb", 3, &["write", "fast"], NOKEY, Reads::Nothing, "server", server::swapdb, "Swaps two databases: each one's keys are the other's, for every client at once."),
    spec!("save", 1, ADMIN_NO_MULTI, NOKEY, Reads::Nothing, "server", server::save, "Writes a snapshot now (needs a data directory)."),
    spec!("bgsave", -1, ADMIN, NOKEY, Reads::Nothing, "server", server::save, "Writes a snapshot on a background thread (needs a data directory)."),
    spec!("lastsave", 1, &["fast", "loading", "stale"], NOKEY, Reads::Nothing, "server", server::lastsave, "Time of the last successful snapshot."),
    spec!("time", 1, &["fast", "loading", "stale"], NOKEY, Reads::Nothing, "server", server::time, "Returns the server time."),
    spec!("shutdown", -1, ADMIN_NO_MULTI, NOKEY, Reads::Nothing, "server", server::shutdown, "Stops the server gracefully [NOSAVE|SAVE] (FORCE, NOW and ABORT are not supported)."),
    spec!("subscribe", -2, &["pubsub", "noscript", "loading", "stale"], NOKEY, Reads::Nothing, "pubsub", tracking::subscribe, "Listens for messages published to channels (and, on __redis__:invalidate, for redirected invalidations)."),
    spec!("unsubscribe", -1, &["pubsub", "noscript", "loading", "stale"], NOKEY, Reads::Nothing, "pubsub", tracking::unsubscribe, "Stops listening to channels (all of them without arguments)."),
    spec!("publish", 3, &["pubsub", "loading", "stale", "fast"], NOKEY, Reads::Nothing, "pubsub", tracking::publish, "Posts a message to a channel; returns how many subscribers got it."),
    spec!("reset", 1, &["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"], NOKEY, Reads::Nothing, "connection", tx::reset, "Resets the connection: ends a transaction, unwatches, RESP2, unnamed."),
    // transactions
    spec!("multi", 1, TX, NOKEY, Reads::Nothing, "transactions", tx::multi, "Starts a transaction: later commands are queued until EXEC."),
    spec!("exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], NOKEY, Reads::Nothing, "transactions", tx::exec, "Runs the queued commands with no other client's command in between."),
    spec!("discard", 1, TX, NOKEY, Reads::Nothing, "transactions", tx::discard, "Drops the queued commands."),
    spec!("watch", -2, TX, KEYS, Reads::Nothing, "transactions", tx::watch, "EXEC will fail if any of these keys changes first."),
    spec!("unwatch", 1, TX, NOKEY, Reads::Nothing, "transactions", tx::unwatch, "Forgets the watched keys."),
    // strings
    spec!("get", 2, READ, KEY1, Reads::Keys, "string", string::get, "Returns the value of a key."),
    spec!("set", -3, WRITE_OOM, KEY1, Reads::Nothing, "string", string::set, "Sets the value of a key [EX|PX|EXAT|PXAT|KEEPTTL] [NX|XX] [GET]."),
    spec!("setex", 4, WRITE_OOM, KEY1, Reads::Nothing, "string", string::setex, "Sets a value with an expiry in seconds."),
    spec!("psetex", 4, WRITE_OOM, KEY1, Reads::Nothing, "string", string::psetex, "Sets a value with an expiry in milliseconds."),
    spec!("setnx", 3, WRITE_OOM, KEY1, Reads::Nothing, "string", string::setnx, "Sets a value when the key does not exist."),
    spec!("mget", -2, READ, KEYS, Reads::Keys, "string", string::mget, "Returns the values of keys."),
    spec!("mset", -3, WRITE_OOM, (1, -1, 2), Reads::Nothing, "string", string::mset, "Sets many keys."),
    spec!("strlen", 2, READ, KEY1, Reads::Keys, "string", string::strlen, "Length of a value."),
    spec!("getex", -2, &["write", "fast"], KEY1, Reads::Nothing, "string", string::getex, "Returns a value and sets or removes its expiry [EX|PX|EXAT|PXAT|PERSIST]."),
    spec!("getdel", 2, &["write", "fast"], KEY1, Reads::Nothing, "string", string::getdel, "Returns a value and deletes the key."),
    spec!("incr", 2, WRITE_OOM_FAST, KEY1, Reads::Nothing, "string", string::incr, "Adds 1 to the integer a key holds."),
    spec!("decr", 2, WRITE_OOM_FAST, KEY1, Reads::Nothing, "string", string::decr, "Subtracts 1 from the integer a key holds."),
    spec!("incrby", 3, WRITE_OOM_FAST, KEY1, Reads::Nothing, "string", string::incrby, "Adds n to the integer a key holds."),
    spec!("decrby", 3, WRITE_OOM_FAST, KEY1, Reads::Nothing, "string", string::decrby, "Subtracts n from the integer a key holds."),
    spec!("append", 3, WRITE_OOM_FAST, KEY1, Reads::Nothing, "string", string::append, "Appends to a value; returns the new length."),
    // keyspace
    spec!("del", -2, WRITE, KEYS, Reads::Nothing, "generic", keyspace::del, "Deletes keys."),
    spec!("unlink", -2, &["write", "fast"], KEYS, Reads::Nothing, "generic", keyspace::del, "Deletes keys."),
    spec!("exists", -2, READ, KEYS, Reads::Keys, "generic", keyspace::exists, "Counts existing keys."),
    spec!("expire", -3, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::expire, "Sets a key's time to live in seconds."),
    spec!("pexpire", -3, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::pexpire, "Sets a key's time to live in milliseconds."),
    spec!("expireat", -3, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::expireat, "Sets a key's expiry as a Unix time in seconds."),
    spec!("pexpireat", -3, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::pexpireat, "Sets a key's expiry as a Unix time in milliseconds."),
    spec!("ttl", 2, READ, KEY1, Reads::Keys, "generic", keyspace::ttl, "Time to live of a key in seconds."),
    spec!("pttl", 2, READ, KEY1, Reads::Keys, "generic", keyspace::pttl, "Time to live of a key in milliseconds."),
    spec!("persist", 2, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::persist, "Removes a key's expiry."),
    spec!("type", 2, READ, KEY1, Reads::Keys, "generic", keyspace::key_type, "Type of a key: string, hash or vectorset."),
    spec!("keys", 2, READ_SLOW, NOKEY, Reads::Nothing, "generic", keyspace::keys, "Every key matching a pattern (a full scan: prefer SCAN)."),
    spec!("object", -2, READ_SLOW, (2, 2, 1), Reads::Keys, "generic", keyspace::object, "OBJECT ENCODING|FREQ|REFCOUNT key: how a key is stored and how often it is read."),
    spec!("memory", -2, READ_SLOW, NOKEY, Reads::Nothing, "server", keyspace::memory, "MEMORY USAGE key: the bytes a key accounts for."),
    spec!("randomkey", 1, READ_SLOW, NOKEY, Reads::Nothing, "generic", keyspace::randomkey, "A random key of the selected database (nil when it is empty)."),
    spec!("scan", -2, READ_SLOW, NOKEY, Reads::Nothing, "generic", keyspace::scan, "Iterates the keys [MATCH pattern] [COUNT n] [TYPE type]."),
    spec!("dump", 2, READ_SLOW, KEY1, Reads::Keys, "generic", dump::dump, "Returns a key's value in Redis's DUMP format (strings, hashes, vector sets)."),
    spec!("restore", -4, WRITE_OOM, KEY1, Reads::Nothing, "generic", dump::restore, "Creates a key from a DUMP payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]."),
    spec!("rename", 3, WRITE, (1, 2, 1), Reads::Nothing, "generic", dump::rename, "Renames a key (its value and TTL), replacing the new name's key."),
    spec!("renamenx", 3, &["write", "fast"], (1, 2, 1), Reads::Nothing, "generic", dump::rename, "Renames a key only when the new name does not exist."),
    spec!("copy", -3, WRITE_OOM, (1, 2, 1), Reads::Nothing, "generic", dump::copy, "Copies a key's value and TTL to another key [DB db] [REPLACE]."),
    spec!("move", 3, &["write", "fast"], KEY1, Reads::Nothing, "generic", keyspace::move_key, "Moves a key to another database (when it has no such key)."),
    // hashes
    spec!("hset", -4, WRITE_OOM_FAST, KEY1, Reads::Nothing, "hash", hash::hset, "Sets fields of a hash; returns how many are new."),
    spec!("hmset", -4, WRITE_OOM_FAST, KEY1, Reads::Nothing, "hash", hash::hmset, "Sets fields of a hash (deprecated: HSET)."),
    spec!("hsetnx", 4, WRITE_OOM_FAST, KEY1, Reads::Nothing, "hash", hash::hsetnx, "Sets a field only when it does not exist."),
    spec!("hget", 3, READ, KEY1, Reads::Keys, "hash", hash::hget, "The value of a field."),
    spec!("hmget", -3, READ, KEY1, Reads::Keys, "hash", hash::hmget, "The values of fields."),
    spec!("hgetall", 2, READ_SLOW, KEY1, Reads::Keys, "hash", hash::hgetall, "Every field and value of a hash."),
    spec!("hkeys", 2, READ_SLOW, KEY1, Reads::Keys, "hash", hash::hkeys, "Every field of a hash."),
    spec!("hvals", 2, READ_SLOW, KEY1, Reads::Keys, "hash", hash::hvals, "Every value of a hash."),
    spec!("hlen", 2, READ, KEY1, Reads::Keys, "hash", hash::hlen, "Number of fields."),
    spec!("hexists", 3, READ, KEY1, Reads::Keys, "hash", hash::hexists, "Whether a field exists."),
    spec!("hstrlen", 3, READ, KEY1, Reads::Keys, "hash", hash::hstrlen, "Length of a field's value."),
    spec!("hdel", -3, &["write", "fast"], KEY1, Reads::Nothing, "hash", hash::hdel, "Removes fields; returns how many existed."),
    spec!("hincrby", 4, WRITE_OOM_FAST, KEY1, Reads::Nothing, "hash", hash::hincrby, "Adds an integer to a field's integer."),
    spec!("hincrbyfloat", 4, WRITE_OOM_FAST, KEY1, Reads::Nothing, "hash", hash::hincrbyfloat, "Adds a float to a field's number."),
    spec!("hrandfield", -2, READ_SLOW, KEY1, Reads::Keys, "hash", hash::hrandfield, "Random fields [count [WITHVALUES]]."),
    spec!("hscan", -3, READ_SLOW, KEY1, Reads::Keys, "hash", hash::hscan, "Iterates the fields and values of a hash [MATCH pattern] [COUNT n]."),
    // Redis 8 vector sets
    spec!("vadd", -5, WRITE_OOM, KEY1, Reads::Nothing, "vector_set", vset::vadd, "Adds an element to a vector set."),
    spec!("vsim", -4, READ_SLOW, KEY1, Reads::Keys, "vector_set", vset::vsim, "Most similar elements to a vector or an element."),
    spec!("vemb", -3, READ, KEY1, Reads::Element, "vector_set", vset::vemb, "The vector of an element."),
    spec!("vrem", 3, WRITE, KEY1, Reads::Nothing, "vector_set", vset::vrem, "Removes an element."),
    spec!("vcard", 2, READ, KEY1, Reads::Keys, "vector_set", vset::vcard, "Number of elements."),
    spec!("vdim", 2, READ, KEY1, Reads::Keys, "vector_set", vset::vdim, "Dimension of the set."),
    spec!("vinfo", 2, READ, KEY1, Reads::Keys, "vector_set", vset::vinfo, "Information about a vector set."),
    spec!("vsetattr", 4, &["write", "fast"], KEY1, Reads::Nothing, "vector_set", vset::vsetattr, "Sets or clears an element's JSON attributes."),
    spec!("vgetattr", 3, READ, KEY1, Reads::Element, "vector_set", vset::vgetattr, "An element's JSON attributes."),
    spec!("vrandmember", -2, READ_SLOW, KEY1, Reads::Keys, "vector_set", vset::vrandmember, "Random elements."),
    spec!("vismember", 3, READ_SLOW, KEY1, Reads::Element, "vector_set", vset::vismember, "Whether an element exists."),
    spec!("vlinks", -3, READ, KEY1, Reads::Keys, "vector_set", vset::vlinks, "An element's neighbours per level of the set's HNSW graph [WITHSCORES]."),
    spec!("vrange", -4, READ_SLOW, KEY1, Reads::Keys, "vector_set", vset::vrange, "Element names in a lexicographic range, [count] of them."),
    // the cache's own
    spec!("vgetf32", 3, READ, KEY1, Reads::Element, "sutra", cache::vgetf32, "An element's vector as a float32 little-endian blob (exact bytes in exact mode)."),
    spec!("vmgetf32", -3, READ, KEY1, Reads::Elements, "sutra", cache::vmgetf32, "Many elements' vectors as float32 little-endian blobs."),
    spec!("vaddm", -5, WRITE_OOM, KEY1, Reads::Nothing, "sutra", cache::vaddm, "Adds many elements at once."),
    spec!("vexpire", 4, &["write", "fast"], KEY1, Reads::Nothing, "sutra", cache::vexpire, "Sets an element's time to live in seconds."),
    spec!("vpexpire", 4, &["write", "fast"], KEY1, Reads::Nothing, "sutra", cache::vpexpire, "Sets an element's time to live in milliseconds."),
    spec!("vttl", 3, READ, KEY1, Reads::Element, "sutra", cache::vttl, "Time to live of an element in seconds."),
    spec!("vpttl", 3, READ, KEY1, Reads::Element, "sutra", cache::vpttl, "Time to live of an element in milliseconds."),
    spec!("vpersist", 3, &["write", "fast"], KEY1, Reads::Nothing, "sutra", cache::vpersist, "Removes an element's expiry."),
    spec!("vinvalidate", -6, WRITE, KEY1, Reads::Nothing, "sutra", cache::vinvalidate, "Atomically removes every element at least this similar."),
    spec!("analytics", -2, READ, NOKEY, Reads::Nothing, "sutra", analytics::analytics, "Cache analytics: SETS, HITRATE, SERIES, TOPIC, HOT, QUERY, LOG, HELP."),
    spec!("cachestats", -1, READ, NOKEY, Reads::Nothing, "sutra", cache::cachestats, "Hits, misses and hit rate, global or of one set."),
    // cluster (--cluster-mode)
    spec!("cluster", -2, &["loading", "stale"], NOKEY, Reads::Nothing, "cluster", cluster::cluster, "CLUSTER SLOTS|SHARDS|NODES|INFO|MYID|KEYSLOT|COUNTKEYSINSLOT|GETKEYSINSLOT|HELP."),
    spec!("asking", 1, &["fast"], NOKEY, Reads::Nothing, "cluster", cluster::asking, "The next command may use a slot this node is importing."),
    spec!("readonly", 1, &["loading", "stale", "fast"], NOKEY, Reads::Nothing, "cluster", cluster::readonly, "Accepted: a replica serves reads of its master's slots to any connection."),
    spec!("readwrite", 1, &["loading", "stale", "fast"], NOKEY, Reads::Nothing, "cluster", cluster::readonly, "Accepted (undoes READONLY)."),
    // replication
    spec!("replicaof", 3, &["admin", "noscript", "stale", "no_multi"], NOKEY, Reads::Nothing, "server", repl::replicaof, "REPLICAOF host port | NO ONE: follow a master, or become one."),
    spec!("slaveof", 3, &["admin", "noscript", "stale", "no_multi"], NOKEY, Reads::Nothing, "server", repl::replicaof, "SLAVEOF host port | NO ONE (REPLICAOF's old name)."),
    spec!("role", 1, &["noscript", "loading", "stale", "fast"], NOKEY, Reads::Nothing, "server", repl::role, "This node's role in replication, its offset and its replicas or master."),
    spec!("wait", 3, &["noscript"], NOKEY, Reads::Nothing, "generic", repl::wait, "Waits until N replicas acknowledged every write made so far (or the timeout in ms); returns how many did."),
    spec!("replconf", -1, &["admin", "noscript", "loading", "stale", "allow_busy"], NOKEY, Reads::Nothing, "server", repl::replconf, "A replica's handshake (listening-port, capa, ack)."),
    spec!("sutra.psync", 3, &["admin", "noscript", "no_multi"], NOKEY, Reads::Nothing, "sutra", repl::psync, "SUTRA.PSYNC replid offset: a sutra-cache replica asks for the log after offset (? -1: a full copy first)."),
    spec!("sutra.cluster", -2, &["admin", "noscript", "no_multi"], NOKEY, Reads::Nothing, "sutra", cluster::sutra_cluster, "SUTRA.CLUSTER CONFIG <json>|EPOCH|GETCONFIG|MIGRATOR|HELP: the manager's side of a node."),
];

/// Longest command name [`lookup`] finds.
const MAX_NAME: usize = 32;

/// The command table for [`lookup`]: the commands ordered by (name length, first letter),
/// and per such pair the range of them. A lookup compares the name with the one or few
/// commands of its pair: no lower-cased copy of the name, no hash.
struct ByName {
    order: Vec<&'static Spec>,
    /// Indexed by [`bucket`]: the range of `order` holding that pair's commands.
    ranges: Vec<(u16, u16)>,
}

/// Where a name of this length and first byte sits in [`ByName::ranges`]. ASCII letters
/// of either case share a bucket (`& 31` drops the case bit and maps `a`–`z` to 1–26);
/// other first bytes share buckets with them, told apart by the comparison.
fn bucket(len: usize, first: u8) -> usize {
    len * 32 + usize::from(first & 31)
}

fn by_name() -> &'static ByName {
    static T: OnceLock<ByName> = OnceLock::new();
    T.get_or_init(|| {
        let key = |s: &Spec| bucket(s.name.len(), s.name.as_bytes()[0]);
        let mut order: Vec<&'static Spec> = COMMANDS.iter().collect();
        order.sort_by_key(|s| key(s));
        let mut ranges = vec![(0u16, 0u16); bucket(MAX_NAME + 1, 0)];
        for (i, s) in order.iter().enumerate() {
            let r = &mut ranges[key(s)];
            if r.0 == r.1 {
                r.0 = i as u16;
            }
            r.1 = i as u16 + 1;
        }
        ByName { order, ranges }
    })
}

/// The names statistics are kept under (INFO commandstats): each command, and each
/// subcommand of a container command as `container|sub` (Redis 7's `config|get`).
pub fn stat_names() -> &'static [String] {
    &stat_table().0
}

/// Per command of [`COMMANDS`]: the index of its first stat name, and its subcommands.
pub(super) type StatTable = (Vec<String>, Vec<usize>);

pub(super) fn stat_table() -> &'static StatTable {
    static T: OnceLock<StatTable> = OnceLock::new();
    T.get_or_init(|| {
        let mut names = Vec::new();
        let mut base = Vec::with_capacity(COMMANDS.len());
        for spec in COMMANDS {
            base.push(names.len());
            let subs = subcommands(spec.name);
            if subs.is_empty() {
                names.push(spec.name.to_string());
            } else {
                names.extend(subs.iter().map(|(sub, _)| format!("{}|{sub}", spec.name)));
            }
        }
        (names, base)
    })
}

/// The position of a command in [`COMMANDS`] (every `&'static Spec` is one of its entries).
fn index_of(spec: &Spec) -> usize {
    (spec as *const Spec as usize - COMMANDS.as_ptr() as usize) / std::mem::size_of::<Spec>()
}

/// [`subcommands`] of a command of the table, looked up by its position (built once) rather
/// than by matching its name on every request.
pub(crate) fn subcommands_of(spec: &Spec) -> &'static [(&'static str, i32)] {
    static SUBS: OnceLock<Vec<&'static [(&'static str, i32)]>> = OnceLock::new();
    let subs = SUBS.get_or_init(|| COMMANDS.iter().map(|s| subcommands(s.name)).collect());
    subs.get(index_of(spec)).copied().unwrap_or_default()
}

/// Where a call of `spec` with `args` is counted: `None` for an unknown subcommand (Redis
/// counts those nowhere either).
pub fn stat_slot(spec: &'static Spec, args: &[Bytes]) -> Option<usize> {
    let (_, base) = stat_table();
    let first = *base.get(index_of(spec))?;
    let subs = subcommands_of(spec);
    if subs.is_empty() {
        return Some(first);
    }
    let sub = args.get(1)?;
    subs.iter()
        .position(|(name, _)| is(sub, name))
        .map(|i| first + i)
}

/// Looks a command up by name, case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static Spec> {
    let &first = name.first()?;
    if name.len() > MAX_NAME {
        return None;
    }
    let t = by_name();
    let (from, to) = t.ranges[bucket(name.len(), first)];
    t.order[usize::from(from)..usize::from(to)]
        .iter()
        .copied()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Whether a command can hold its thread for long (work proportional to a set's size or
/// to the whole keyspace), so the runtime should move other clients off the thread.
pub fn may_block(spec: &Spec) -> bool {
    matches!(
        spec.name,
        "vsim" | "vinvalidate" | "vaddm" | "flushdb" | "flushall" | "save" | "keys"
    )
}

/// Redis commands clients commonly send that this server deliberately lacks, with what to
/// do instead.
pub(super) fn unsupported(name: &[u8]) -> Option<&'static str> {
    const PUBSUB: &str = "there are no pattern subscriptions (SUBSCRIBE to channels by name)";
    const SCRIPT: &str = "there is no scripting";
    let table: [(&str, &'static str); 6] = [
        ("psubscribe", PUBSUB),
        ("punsubscribe", PUBSUB),
        ("eval", SCRIPT),
        ("evalsha", SCRIPT),
        ("fcall", SCRIPT),
        ("script", SCRIPT),
    ];
    table
        .iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n.as_bytes()))
        .map(|(_, why)| *why)
}

/// The subcommands Redis 7 knows of its container commands, with their arity (name
/// included). Redis refuses an unknown subcommand, or a wrong count of arguments to a known
/// one, before running anything, so inside MULTI it is refused at queueing time.
pub(crate) fn subcommands(container: &str) -> &'static [(&'static str, i32)] {
    match container {
        "object" => &[
            ("encoding", 3),
            ("freq", 3),
            ("help", 2),
            ("idletime", 3),
            ("refcount", 3),
        ],
        "memory" => &[
            ("doctor", 2),
            ("help", 2),
            ("malloc-stats", 2),
            ("purge", 2),
            ("stats", 2),
            ("usage", -3),
        ],
        "acl" => &[
            ("cat", -2),
            ("deluser", -3),
            ("dryrun", -4),
            ("genpass", -2),
            ("getuser", 3),
            ("help", 2),
            ("list", 2),
            ("load", 2),
            ("log", -2),
            ("save", 2),
            ("setuser", -3),
            ("users", 2),
            ("whoami", 2),
        ],
        "config" => &[
            ("get", -3),
            ("help", 2),
            ("resetstat", 2),
            ("rewrite", 2),
            ("set", -4),
        ],
        "slowlog" => &[("get", -2), ("help", 2), ("len", 2), ("reset", 2)],
        "command" => &[
            ("count", 2),
            ("docs", -2),
            ("getkeys", -3),
            ("getkeysandflags", -3),
            ("help", 2),
            ("info", -2),
            ("list", -2),
        ],
        "client" => &[
            ("caching", 3),
            ("getname", 2),
            ("getredir", 2),
            ("help", 2),
            ("id", 2),
            ("info", 2),
            ("kill", -3),
            ("list", -2),
            ("no-evict", 3),
            ("no-touch", 3),
            ("pause", -3),
            ("reply", 3),
            ("setinfo", 4),
            ("setname", 3),
            ("tracking", -3),
            ("trackinginfo", 2),
            ("unblock", -3),
            ("unpause", 2),
        ],
        "cluster" => &[
            ("countkeysinslot", 3),
            ("getkeysinslot", 4),
            ("help", 2),
            ("info", 2),
            ("keyslot", 3),
            ("myid", 2),
            ("nodes", 2),
            ("shards", 2),
            ("slots", 2),
        ],
        "sutra.cluster" => &[
            ("config", 3),
            ("epoch", 2),
            ("getconfig", 2),
            ("help", 2),
            ("migrator", 2),
        ],
        _ => &[],
    }
}

/// Redis's refusal of a container command's subcommand (see [`subcommands`]), if any.
pub(super) fn subcommand_refusal(spec: &Spec, args: &[Bytes]) -> Option<String> {
    let subs = subcommands_of(spec);
    let sub = args.get(1).filter(|_| !subs.is_empty())?;
    let Some(&(name, arity)) = subs.iter().find(|(n, _)| is(sub, n)) else {
        let shown = String::from_utf8_lossy(&sub[..sub.len().min(128)]).into_owned();
        return Some(format!(
            "ERR unknown subcommand '{shown}'. Try {} HELP.",
            spec.name.to_ascii_uppercase()
        ));
    };
    let n = args.len() as i32;
    let fits = if arity > 0 { n == arity } else { n >= -arity };
    (!fits).then(|| {
        format!(
            "ERR wrong number of arguments for '{}|{name}' command",
            spec.name
        )
    })
}

pub(super) fn unknown_command(args: &[Bytes]) -> String {
    let mut rest = String::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        let text = String::from_utf8_lossy(&a[..a.len().min(room)]).into_owned();
        rest.push_str(&format!("'{text}' "));
    }
    let name = String::from_utf8_lossy(&args[0][..args[0].len().min(128)]).into_owned();
    format!("ERR unknown command '{name}', with args beginning with: {rest}")
}
