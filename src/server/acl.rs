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

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use hashbrown::HashSet;
use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::cmd::{acl_categories, Spec, CATEGORIES, COMMANDS};

/// Entries ACL LOG keeps (Redis's `acllog-max-len` default).
pub const LOG_MAX: usize = 128;

/// One key pattern: `~p` (read and write), `%R~p`, `%W~p`, `%RW~p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPattern {
    pub pattern: Bytes,
    pub read: bool,
    pub write: bool,
}

impl KeyPattern {
    fn describe(&self) -> String {
        let p = String::from_utf8_lossy(&self.pattern);
        match (self.read, self.write) {
            (true, true) => format!("~{p}"),
            (true, false) => format!("%R~{p}"),
            _ => format!("%W~{p}"),
        }
    }
}

/// One ACL user.
#[derive(Clone, Debug)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `sanitize-payload` / `skip-sanitize-payload` (RESTORE always validates here).
    pub sanitize: Option<bool>,
    /// SHA-256 of each password, lower-case hex, in the order added.
    pub passwords: Vec<String>,
    pub allkeys: bool,
    pub keys: Vec<KeyPattern>,
    pub allchannels: bool,
    pub channels: Vec<Bytes>,
    /// The commands it may run, by name.
    allowed: HashSet<&'static str>,
    /// `cmd|first-arg` allowances for commands not allowed whole (lower case).
    firstargs: BTreeMap<&'static str, Vec<String>>,
    /// Set by `+@all` (and `allcommands`), cleared by `-@all`: commands added later would be
    /// allowed, so the rules describe as `+@all …`.
    future: bool,
}

impl Denied {
    /// ACL DRYRUN's text for a refusal.
    pub fn dryrun(&self, spec: &Spec, args: &[Bytes]) -> String {
        match self {
            Denied::Command => format!(
                "This user has no permissions to run the '{}' command",
                full_name(spec, args)
            ),
            Denied::Key(k) => format!(
                "This user has no permissions to access the '{}' key",
                String::from_utf8_lossy(k)
            ),
            Denied::Channel(c) => format!(
                "This user has no permissions to access the '{}' channel",
                String::from_utf8_lossy(c)
            ),
        }
    }
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Command,
    /// The key (argument) refused.
    Key(Bytes),
    Channel(Bytes),
}

impl Denied {
    /// Redis 7.0's NOPERM reply.
    pub fn reply(&self, spec: &Spec, args: &[Bytes]) -> String {
        match self {
            Denied::Command => format!(
                "NOPERM this user has no permissions to run the '{}' command",
                full_name(spec, args)
            ),
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel(_) => "NOPERM this user has no permissions to access one of the \
                                   channels used as arguments"
                .into(),
        }
    }
}

/// A command's name as Redis names it in ACL replies: `container|subcommand` for a
/// subcommand of a container command (`acl|whoami`), else the command's name.
pub fn full_name(spec: &Spec, args: &[Bytes]) -> String {
    let subs = super::cmd::subcommands(spec.name);
    match args.get(1) {
        Some(a) if !subs.is_empty() => match subs
            .iter()
            .find(|(n, _)| a.eq_ignore_ascii_case(n.as_bytes()))
        {
            Some((n, _)) => format!("{}|{n}", spec.name),
            None => spec.name.to_string(),
        },
        _ => spec.name.to_string(),
    }
}

/// The SHA-256 of a password as ACL lists it.
pub fn hash_password(pass: &[u8]) -> String {
    let d = Sha256::digest(pass);
    let mut s = String::with_capacity(64);
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn glob(p: &[u8], s: &[u8]) -> bool {
    crate::glob::glob_match(p, s)
}

/// Redis's texts for a rule it refuses (after `Error in ACL SETUSER modifier '…': `).
const UNKNOWN: &str = "Unknown command or category name in ACL";
const SYNTAX: &str = "Syntax error";
const NOPASS_GONE: &str = "The password you are trying to remove from the user does not exist";

impl User {
    /// A new user as ACL SETUSER creates one: off, no password, no keys, no channels, no
    /// commands.
    pub fn new(name: &str) -> User {
        User {
            name: name.to_string(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            allkeys: false,
            keys: Vec::new(),
            allchannels: false,
            channels: Vec::new(),
            allowed: HashSet::new(),
            firstargs: BTreeMap::new(),
            future: false,
        }
    }

    /// The `default` user: on, every command, key and channel; `password` or `nopass`.
    pub fn default_user(password: Option<&str>) -> User {
        let mut u = User::new("default");
        for rule in ["on", "~*", "&*", "+@all"] {
            u.apply(rule.as_bytes()).expect("valid rule");
        }
        match password {
            Some(p) => u.passwords.push(hash_password(p.as_bytes())),
            None => u.nopass = true,
        }
        u
    }

    /// May run everything on every key and channel (the check can be skipped).
    pub fn unrestricted(&self) -> bool {
        self.allkeys && self.allchannels && self.allowed.len() == COMMANDS.len()
    }

    /// Applies one ACL SETUSER rule; the error is Redis's reason.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let text = std::str::from_utf8(rule).map_err(|_| SYNTAX)?;
        let lower = text.to_ascii_lowercase();
        match lower.as_str() {
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "allkeys" | "~*" => {
                self.allkeys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.allchannels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
            }
            "allcommands" => return self.apply(b"+@all"),
            "nocommands" => return self.apply(b"-@all"),
            "sanitize-payload" => self.sanitize = Some(true),
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "clearselectors" => {}
            "reset" => {
                for r in [
                    "resetpass",
                    "resetkeys",
                    "resetchannels",
                    "off",
                    "sanitize-payload",
                    "-@all",
                ] {
                    self.apply(r.as_bytes())?;
                }
            }
            _ => return self.apply_prefixed(text, rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, text: &str, rule: &[u8]) -> Result<(), &'static str> {
        let first = rule.first().copied().ok_or(SYNTAX)?;
        let rest = &text[1..];
        match first {
            b'>' => {
                let h = hash_password(rest.as_bytes());
                if !self.passwords.contains(&h) {
                    self.passwords.push(h);
                }
                self.nopass = false;
            }
            b'#' => {
                if rest.len() != 64 || !rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                {
                    return Err(
                        "The password hash must be exactly 64 characters and contain \
                                only lowercase hexadecimal characters",
                    );
                }
                if !self.passwords.iter().any(|p| p == rest) {
                    self.passwords.push(rest.to_string());
                }
                self.nopass = false;
            }
            b'<' | b'!' => {
                let h = if first == b'<' {
                    hash_password(rest.as_bytes())
                } else {
                    rest.to_string()
                };
                let before = self.passwords.len();
                self.passwords.retain(|p| *p != h);
                if self.passwords.len() == before {
                    return Err(NOPASS_GONE);
                }
            }
            b'~' | b'%' => {
                let (read, write, pattern) = if first == b'~' {
                    (true, true, &rule[1..])
                } else {
                    let tilde = rule.iter().position(|&b| b == b'~').ok_or(SYNTAX)?;
                    let flags = &text[1..tilde];
                    if flags.is_empty() {
                        return Err(SYNTAX);
                    }
                    let (mut r, mut w) = (false, false);
                    for c in flags.bytes() {
                        match c.to_ascii_uppercase() {
                            b'R' => r = true,
                            b'W' => w = true,
                            _ => return Err(SYNTAX),
                        }
                    }
                    (r, w, &rule[tilde + 1..])
                };
                if self.allkeys {
                    return Err(
                        "Adding a pattern after the * pattern (or the 'allkeys' flag) \
                                is not valid and does not have any effect. Try 'resetkeys' to \
                                start with an empty list of patterns",
                    );
                }
                if pattern == b"*" && read && write {
                    self.allkeys = true;
                    self.keys.clear();
                } else {
                    let p = KeyPattern {
                        pattern: Bytes::copy_from_slice(pattern),
                        read,
                        write,
                    };
                    if !self.keys.contains(&p) {
                        self.keys.push(p);
                    }
                }
            }
            b'&' => {
                if self.allchannels {
                    return Err(
                        "Adding a pattern after the * pattern (or the 'allchannels' \
                                flag) is not valid and does not have any effect. Try \
                                'resetchannels' to start with an empty list of channels",
                    );
                }
                if rest == "*" {
                    self.allchannels = true;
                    self.channels.clear();
                } else if !self.channels.iter().any(|c| c == rest.as_bytes()) {
                    self.channels.push(Bytes::copy_from_slice(rest.as_bytes()));
                }
            }
            b'+' | b'-' => {
                let allow = first == b'+';
                let name = rest.to_ascii_lowercase();
                if let Some(cat) = name.strip_prefix('@') {
                    if cat == "all" {
                        self.allowed.clear();
                        self.firstargs.clear();
                        if allow {
                            self.allowed.extend(COMMANDS.iter().map(|s| s.name));
                        }
                        self.future = allow;
                        return Ok(());
                    }
                    let cat = CATEGORIES.iter().find(|c| **c == cat).ok_or(UNKNOWN)?;
                    for s in COMMANDS.iter().filter(|s| acl_categories(s).contains(cat)) {
                        self.set_command(s.name, allow);
                    }
                } else if let Some((cmd, sub)) = name.split_once('|') {
                    let spec = super::cmd::lookup(cmd.as_bytes()).ok_or(UNKNOWN)?;
                    if !allow {
                        return Err(UNKNOWN);
                    }
                    if sub.is_empty() || sub.contains('|') {
                        return Err(SYNTAX);
                    }
                    if self.allowed.contains(spec.name) {
                        return Ok(());
                    }
                    let subs = self.firstargs.entry(spec.name).or_default();
                    if !subs.iter().any(|s| *s == sub) {
                        subs.push(sub.to_string());
                    }
                } else {
                    let spec = super::cmd::lookup(name.as_bytes()).ok_or(UNKNOWN)?;
                    self.set_command(spec.name, allow);
                }
            }
            b'(' => return Err("Selectors are not supported by sutra-cache"),
            _ => return Err(SYNTAX),
        }
        Ok(())
    }

    fn set_command(&mut self, name: &'static str, allow: bool) {
        self.firstargs.remove(name);
        if allow {
            self.allowed.insert(name);
        } else {
            self.allowed.remove(name);
        }
    }

    fn may_run(&self, spec: &Spec, args: &[Bytes]) -> bool {
        if self.allowed.contains(spec.name) {
            return true;
        }
        match (self.firstargs.get(spec.name), args.get(1)) {
            (Some(subs), Some(a)) => subs.iter().any(|s| a.eq_ignore_ascii_case(s.as_bytes())),
            _ => false,
        }
    }

    /// Whether this user may run `args` (a looked-up command): the command (or its first
    /// argument), then its keys (read-only commands read them, others write), then the
    /// channels of SUBSCRIBE/PUBLISH.
    pub fn check(&self, spec: &Spec, args: &[Bytes]) -> Result<(), Denied> {
        if spec.flags.contains(&"no_auth") {
            return Ok(());
        }
        if !self.may_run(spec, args) {
            return Err(Denied::Command);
        }
        if !self.allkeys {
            let read = spec.flags.contains(&"readonly");
            let write = spec.flags.contains(&"write");
            let (need_r, need_w) = match (read, write) {
                (true, false) => (true, false),
                (false, true) => (false, true),
                _ => (true, true),
            };
            for key in super::cmd::key_args(spec, args) {
                let ok = self
                    .keys
                    .iter()
                    .any(|p| (p.read || !need_r) && (p.write || !need_w) && glob(&p.pattern, key));
                if !ok {
                    return Err(Denied::Key(key.clone()));
                }
            }
        }
        if !self.allchannels {
            let channels: &[Bytes] = match spec.name {
                "publish" => &args[1..2],
                "subscribe" => &args[1..],
                _ => &[],
            };
            for ch in channels {
                if !self.channels.iter().any(|p| glob(p, ch)) {
                    return Err(Denied::Channel(ch.clone()));
                }
            }
        }
        Ok(())
    }

    /// Whether `pass` opens this user (enabled, and `nopass` or one of its passwords).
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        if !self.enabled {
            return false;
        }
        if self.nopass {
            return true;
        }
        let h = hash_password(pass);
        let mut ok = false;
        for p in &self.passwords {
            ok |= bool::from(p.as_bytes().ct_eq(h.as_bytes()));
        }
        ok
    }

    /// The flags ACL GETUSER lists, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    /// The key patterns as GETUSER lists them.
    pub fn keys_text(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        self.keys
            .iter()
            .map(KeyPattern::describe)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The channel patterns as GETUSER lists them.
    pub fn channels_text(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        self.channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The command rules, as Redis 7.0 works them out from what is allowed: `+@all` or
    /// `-@all`, then, greedily, the category that fits best (more commands in common than
    /// different, fewest differences), then single commands, then first arguments.
    pub fn command_rules(&self) -> String {
        let additive = !self.future;
        let mut fake = User::new("");
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        if !additive {
            fake.apply(b"+@all").expect("valid");
        }
        // What is left to explain: the categories applied so far are taken out of it.
        let mut temp = self.clone();
        let mut applied = vec![false; CATEGORIES.len()];
        loop {
            let mut best: Option<usize> = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for (j, cat) in CATEGORIES.iter().enumerate() {
                if applied[j] {
                    continue;
                }
                let (mut on, mut off) = (0, 0);
                for s in COMMANDS.iter().filter(|s| acl_categories(s).contains(cat)) {
                    if temp.allowed.contains(s.name) {
                        on += 1;
                    } else {
                        off += 1;
                    }
                }
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                if same > diff && (diff < mindiff || (diff == mindiff && same > maxsame)) {
                    best = Some(j);
                    mindiff = diff;
                    maxsame = same;
                }
            }
            let Some(j) = best else { break };
            let (op, inv) = if additive { ("+@", "-@") } else { ("-@", "+@") };
            let cat = CATEGORIES[j];
            fake.apply(format!("{op}{cat}").as_bytes()).expect("valid");
            temp.apply(format!("{inv}{cat}").as_bytes()).expect("valid");
            rules.push(format!("{op}{cat}"));
            applied[j] = true;
        }
        for s in COMMANDS {
            let mine = self.allowed.contains(s.name);
            if mine != fake.allowed.contains(s.name) {
                rules.push(format!("{}{}", if mine { "+" } else { "-" }, s.name));
                fake.set_command(s.name, mine);
            }
            if !mine {
                for sub in self.firstargs.get(s.name).into_iter().flatten() {
                    rules.push(format!("+{}|{sub}", s.name));
                }
            }
        }
        rules.join(" ")
    }

    /// The user as ACL LIST and the ACL file write it (without `user <name> `).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.flags().iter().map(|f| f.to_string()).collect();
        parts.extend(self.passwords.iter().map(|p| format!("#{p}")));
        if self.allkeys {
            parts.push("~*".into());
        } else {
            parts.extend(self.keys.iter().map(KeyPattern::describe));
        }
        if self.allchannels {
            parts.push("&*".into());
        } else {
            parts.push("resetchannels".into());
            parts.extend(
                self.channels
                    .iter()
                    .map(|c| format!("&{}", String::from_utf8_lossy(c))),
            );
        }
        parts.push(self.command_rules());
        parts.join(" ")
    }
}

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
