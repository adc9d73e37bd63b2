//! ACL users as Redis 7.0 has them: users with passwords (SHA-256), on/off, command rules
//! (`+cmd`, `-cmd`, `+@category`, `-@category`, `+cmd|first-arg`, `allcommands`,
//! `nocommands`), key patterns (`~pattern`, `%R~`, `%W~`, `allkeys`, `resetkeys`) and pub/sub
//! channel patterns (`&pattern`, `allchannels`, `resetchannels`); the `default` user (its
//! password is `--requirepass`); the permission check every command passes; ACL LOG; the
//! `--aclfile` text (`user <name> <rules>` lines). The commands are `cmd/acl.rs`'s.
//!
//! What differs from Redis: no selectors (`(...)` rules are refused); a key's access kind is
//! the command's (a read-only command reads its keys, a write command writes them), not
//! Redis's per-key-spec flags.
//!
//! `commands.rs` holds the commands as ACL rules see them (each command and each subcommand of
//! a container, with Redis 7's categories); `user.rs` one user (rules, description, the
//! permission check); this file the set of users, ACL LOG and the `--aclfile` text.

mod commands;
mod user;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};

pub use commands::{category_bit, commands, AclCommand, CATEGORIES};
pub use user::{full_name, Denied, User};

/// Entries ACL LOG keeps (Redis's `acllog-max-len` default).
pub const LOG_MAX: usize = 128;

/// Checks a user name as Redis does.
pub fn valid_name(name: &[u8]) -> Result<&str, &'static str> {
    if name.iter().any(|&b| b == b' ' || b == 0) {
        return Err("Usernames can't contain spaces or null characters");
    }
    std::str::from_utf8(name).map_err(|_| "Usernames must be UTF-8 here")
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    /// `auth`, `command`, `key` or `channel`.
    pub reason: &'static str,
    /// `toplevel` or `multi`.
    pub context: &'static str,
    pub object: String,
    pub username: String,
    /// When it last happened (milliseconds since the Unix epoch).
    pub at_ms: u64,
    pub client_info: String,
}

/// The users, ACL LOG, and a generation that changes whenever a user does (connections
/// holding a user's rules take them again).
pub struct Acl {
    users: RwLock<BTreeMap<String, Arc<User>>>,
    generation: AtomicU64,
    log: Mutex<VecDeque<LogEntry>>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Acl {
    /// Only the `default` user, with `password` (`--requirepass`) or `nopass`.
    pub fn new(password: Option<&str>) -> Acl {
        let mut users = BTreeMap::new();
        users.insert(
            "default".to_string(),
            Arc::new(User::default_user(password)),
        );
        Acl {
            users: RwLock::new(users),
            generation: AtomicU64::new(0),
            log: Mutex::new(VecDeque::new()),
        }
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    pub fn get(&self, name: &str) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn default_user(&self) -> Arc<User> {
        self.get("default").expect("the default user always exists")
    }

    /// Whether a new connection starts authenticated (the default user is on and nopass).
    pub fn open_by_default(&self) -> bool {
        let d = self.default_user();
        d.enabled && d.nopass
    }

    /// Every user, sorted by name.
    pub fn users(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// ACL SETUSER: the rules applied to a copy of the user (or a new one); all or nothing.
    /// The error is `(rule, reason)`.
    pub fn set_user(&self, name: &str, rules: &[Bytes]) -> Result<(), (Bytes, &'static str)> {
        let mut users = self.users.write();
        let mut u = match users.get(name) {
            Some(u) => (**u).clone(),
            None => User::new(name),
        };
        for r in rules {
            u.apply(r).map_err(|why| (r.clone(), why))?;
        }
        users.insert(name.to_string(), Arc::new(u));
        self.generation.fetch_add(1, Relaxed);
        Ok(())
    }

    /// ACL DELUSER: how many of `names` existed (the caller checked `default` is not one).
    pub fn delete(&self, names: &[&str]) -> usize {
        let mut users = self.users.write();
        let n = names.iter().filter(|n| users.remove(**n).is_some()).count();
        self.generation.fetch_add(1, Relaxed);
        n
    }

    /// Replaces every user (ACL LOAD, the `--aclfile` at start); a file without `default`
    /// keeps the current default user.
    pub fn replace(&self, mut new: BTreeMap<String, Arc<User>>) {
        let mut users = self.users.write();
        if !new.contains_key("default") {
            if let Some(d) = users.get("default") {
                new.insert("default".into(), d.clone());
            }
        }
        *users = new;
        self.generation.fetch_add(1, Relaxed);
    }

    /// Records a refusal (a repeat of the same one within a minute counts up instead).
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: String,
        username: String,
        client_info: String,
    ) {
        let now = now_ms();
        let mut log = self.log.lock();
        let similar = log.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.at_ms) < 60_000
        });
        // A repeat counts up and moves to the head, as in Redis.
        if let Some(mut e) = similar.and_then(|i| log.remove(i)) {
            e.count += 1;
            e.at_ms = now;
            e.client_info = client_info;
            log.push_front(e);
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object,
            username,
            at_ms: now,
            client_info,
        });
        log.truncate(LOG_MAX);
    }

    /// The newest `n` entries, newest first.
    pub fn log_entries(&self, n: usize) -> Vec<LogEntry> {
        self.log.lock().iter().take(n).cloned().collect()
    }

    pub fn log_reset(&self) {
        self.log.lock().clear();
    }

    /// The ACL file's text: one `user <name> <rules>` line per user.
    pub fn file_text(&self) -> String {
        self.users()
            .iter()
            .map(|u| format!("user {} {}\n", u.name, u.describe()))
            .collect()
    }
}

/// Reads the users of an ACL file; the error names the file and the line.
pub fn load_file(path: &std::path::Path) -> Result<BTreeMap<String, Arc<User>>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("Error loading ACLs, opening file '{}': {e}", path.display()))?;
    parse_file(&text).map_err(|e| format!("Error in the ACL file {}: {e}", path.display()))
}

/// Parses an ACL file: `user <name> <rules…>` lines (blank lines and `#` comments skipped).
/// An error names the line and the rule.
pub fn parse_file(text: &str) -> Result<BTreeMap<String, Arc<User>>, String> {
    let mut users = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_ascii_whitespace();
        if words.next() != Some("user") {
            return Err(format!("line {}: should start with user keyword", i + 1));
        }
        let name = words
            .next()
            .ok_or_else(|| format!("line {}: a user name is missing", i + 1))?;
        if users.contains_key(name) {
            return Err(format!("line {}: duplicate user '{name}' found", i + 1));
        }
        let mut u = User::new(name);
        for rule in words {
            u.apply(rule.as_bytes())
                .map_err(|why| format!("line {}: {why}. rule: '{rule}'", i + 1))?;
        }
        users.insert(name.to_string(), Arc::new(u));
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_user_describes_as_redis_lists_it() {
        assert_eq!(User::default_user(None).describe(), "on nopass ~* &* +@all");
    }

    #[test]
    fn command_rules_are_described_from_what_is_allowed() {
        let mut u = User::new("u");
        for r in ["on", ">a", "~cache:*", "+@read"] {
            u.apply(r.as_bytes()).unwrap();
        }
        assert_eq!(u.command_rules(), "-@all +@read");
        u.apply(b"+set").unwrap();
        u.apply(b"-get").unwrap();
        // Single commands come in the command table's order (Redis's: its dict's order).
        assert_eq!(u.command_rules(), "-@all +@read -get +set");
        let mut all = User::new("x");
        all.apply(b"allcommands").unwrap();
        all.apply(b"-set").unwrap();
        assert_eq!(all.command_rules(), "+@all -set");
        all.apply(b"+config|get").unwrap();
        all.apply(b"-config").unwrap();
        all.apply(b"+config|get").unwrap();
        assert_eq!(all.command_rules(), "+@all -config +config|get -set");
    }

    fn user(rules: &str) -> User {
        let mut u = User::new("u");
        for r in rules.split(' ') {
            u.apply(r.as_bytes()).unwrap();
        }
        u
    }

    fn call(words: &str) -> (&'static crate::server::cmd::Spec, Vec<Bytes>) {
        let args: Vec<Bytes> = words
            .split(' ')
            .map(|w| Bytes::from(w.to_string()))
            .collect();
        (crate::server::cmd::lookup(&args[0]).unwrap(), args)
    }

    fn may(u: &User, words: &str) -> bool {
        let (spec, args) = call(words);
        u.check(spec, &args).is_ok()
    }

    #[test]
    fn minus_admin_denies_the_admin_subcommands_and_keeps_the_others() {
        let u = user("on ~* &* +@all -@admin");
        for denied in [
            "CLIENT KILL 1.2.3.4:5",
            "CLIENT PAUSE 100",
            "CLIENT NO-EVICT on",
            "CLIENT LIST",
            "CONFIG SET maxmemory 1",
            "CONFIG GET maxmemory",
            "CONFIG REWRITE",
            "ACL SETUSER x on",
            "ACL LIST",
            "SLOWLOG GET",
            "DEBUG RELOAD",
            "SHUTDOWN",
            "LASTSAVE",
        ] {
            assert!(!may(&u, denied), "{denied}");
        }
        for allowed in [
            "CLIENT SETNAME a",
            "CLIENT ID",
            "CONFIG HELP",
            "ACL WHOAMI",
            "ACL CAT",
            "OBJECT FREQ k",
            "MEMORY USAGE k",
            "CLUSTER INFO",
            "GET k",
            "INFO",
        ] {
            assert!(may(&u, allowed), "{allowed}");
        }
        assert!(!u.unrestricted());
        let (spec, args) = call("CLIENT KILL 1.2.3.4:5");
        assert_eq!(
            u.check(spec, &args).unwrap_err().reply(spec, &args),
            "NOPERM this user has no permissions to run the 'client|kill' command"
        );
        let d = user("on ~* &* +@all -@dangerous");
        assert!(!may(&d, "CLIENT KILL 1.2.3.4:5") && !may(&d, "INFO") && !may(&d, "KEYS *"));
        assert!(may(&d, "CLIENT SETNAME a") && may(&d, "GET k"));
    }

    #[test]
    fn subcommand_rules_allow_and_deny_one_subcommand() {
        let u = user("on ~* -@all +client|setname");
        assert!(may(&u, "CLIENT SETNAME a"));
        assert!(!may(&u, "CLIENT ID") && !may(&u, "CLIENT KILL 1.2.3.4:5"));
        assert_eq!(u.command_rules(), "-@all +client|setname");
        let u = user("on ~* +@all -client|kill");
        assert!(!may(&u, "CLIENT KILL 1.2.3.4:5") && may(&u, "CLIENT PAUSE 1"));
        assert_eq!(u.command_rules(), "+@all -client|kill");
        let u = user("on ~* +@all -@admin +config|get -client|id +select|0");
        assert!(may(&u, "CONFIG GET x") && !may(&u, "CONFIG SET x y"));
        // As Redis 7.0.15 describes the same rules (select|0 is moot: SELECT is allowed).
        assert_eq!(u.command_rules(), "+@all -@admin -client|id +config|get");
        // A container allows every subcommand; a later `-container|sub` takes one back.
        let u = user("on -@all +select|0 +client|id +client -client|kill");
        assert!(may(&u, "CLIENT PAUSE 1") && !may(&u, "CLIENT KILL 1.2.3.4:5"));
        assert!(may(&u, "SELECT 0") && !may(&u, "SELECT 1"));
        assert_eq!(u.command_rules(), "-@all +select|0 +client -client|kill");
        // A read-only user: OBJECT FREQ and MEMORY USAGE read; MEMORY PURGE/DOCTOR do not.
        let u = user("on ~* -@all +@read");
        assert!(may(&u, "OBJECT FREQ k") && may(&u, "MEMORY USAGE k"));
        assert!(!may(&u, "OBJECT HELP") && !may(&u, "MEMORY PURGE") && !may(&u, "MEMORY DOCTOR"));
        assert!(!may(&u, "CLIENT KILL 1.2.3.4:5") && !may(&u, "SET k v"));
        // A subcommand's key is checked: MEMORY USAGE of a key outside the patterns is not.
        let k = user("on ~a:* -@all +@read");
        assert!(may(&k, "MEMORY USAGE a:1") && !may(&k, "MEMORY USAGE b:1"));
        assert!(may(&k, "OBJECT ENCODING a:1") && !may(&k, "OBJECT ENCODING b:1"));
    }

    #[test]
    fn subcommand_rules_are_refused_as_redis_refuses_them() {
        let mut u = User::new("u");
        for (rule, why) in [
            (
                "+config|get|x",
                "Allowing first-arg of a subcommand is not supported",
            ),
            (
                "+client|kill|x",
                "Allowing first-arg of a subcommand is not supported",
            ),
            ("+client|", "Syntax error"),
            ("+select|", "Syntax error"),
            ("-client|nosuch", "Unknown command or category name in ACL"),
            ("+client|nosuch", "Unknown command or category name in ACL"),
            ("-select|0", "Unknown command or category name in ACL"),
            ("-client|kill|x", "Unknown command or category name in ACL"),
            ("+nosuch|x", "Unknown command or category name in ACL"),
            // Not ASCII: a syntax error (cutting its first byte off used to panic).
            ("\u{e9}", "Syntax error"),
            ("\u{e9}x", "Syntax error"),
        ] {
            assert_eq!(u.apply(rule.as_bytes()), Err(why), "{rule}");
        }
    }

    #[test]
    fn described_rules_give_back_the_same_permissions() {
        for rules in [
            "+@all -@admin",
            "+@all -@admin +client|setname",
            "+@all -@admin +config|get",
            "-@all +@read",
            "+@all -@dangerous",
            "-@all +@connection",
            "+@all -client|kill",
            "-@all +client|setname",
            "-@all +@slow -client|kill +get",
            "+@all -@slow +config|get +object|freq",
            "-@all +client -client|pause -client|kill +acl|whoami",
            "-@all +@admin -@dangerous +@keyspace",
            "-@all +select|0 +select|1 +config",
        ] {
            let u = user(rules);
            let text = u.command_rules();
            let again = user(&text);
            assert_eq!(again.command_rules(), text, "{rules}");
            for c in &commands().all {
                let words = match c.arity.unsigned_abs() as usize {
                    n if c.parent.is_some() => {
                        let (cmd, sub) = c.full.split_once('|').unwrap();
                        [cmd, sub]
                            .into_iter()
                            .chain(["x"; 4].into_iter().take(n.saturating_sub(2)))
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                    n => [c.full.as_str()]
                        .into_iter()
                        .chain(["0"; 6].into_iter().take(n.saturating_sub(1)))
                        .collect::<Vec<_>>()
                        .join(" "),
                };
                assert_eq!(
                    may(&u, &words),
                    may(&again, &words),
                    "{rules} / {text}: {words}"
                );
            }
        }
    }

    #[test]
    fn a_file_round_trips_through_its_text() {
        let acl = Acl::new(Some("pw"));
        let rules: Vec<Bytes> = ["on", ">x", "%R~r:*", "~rw:*", "&news", "+@read", "-keys"]
            .iter()
            .map(|s| Bytes::from(s.to_string()))
            .collect();
        acl.set_user("dash", &rules).unwrap();
        let text = acl.file_text();
        let again = Acl::new(None);
        again.replace(parse_file(&text).unwrap());
        assert_eq!(again.file_text(), text);
        assert!(parse_file("user a bogus\n").unwrap_err().contains("line 1"));
    }
}
