//! One ACL user: its passwords, on/off, command rules, key and channel patterns; parsing
//! `ACL SETUSER` rules, describing them as ACL LIST does, and the permission check every
//! command passes.

use std::collections::BTreeMap;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::commands::{category_bit, commands, CATEGORIES};
use crate::server::cmd::Spec;

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
    /// The ACL commands it may run (commands and subcommands), by id
    /// ([`super::commands::commands`]).
    allowed: Vec<bool>,
    /// Every ACL command is allowed (kept up to date by [`User::apply`]).
    all_allowed: bool,
    /// `cmd|first-arg` allowances for commands (not containers) not allowed whole, by id
    /// (lower case).
    firstargs: BTreeMap<usize, Vec<String>>,
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
    let t = commands();
    match t.id_of(spec, args) {
        Some(id) => t.all[id].full.clone(),
        None => spec.name.to_string(),
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
const SUB_FIRSTARG: &str = "Allowing first-arg of a subcommand is not supported";

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
            allowed: vec![false; commands().all.len()],
            all_allowed: false,
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
        self.allkeys && self.allchannels && self.all_allowed
    }

    /// Applies one ACL SETUSER rule; the error is Redis's reason.
    pub fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let applied = self.apply_rule(rule);
        self.all_allowed = self.allowed.iter().all(|&a| a);
        applied
    }

    fn apply_rule(&mut self, rule: &[u8]) -> Result<(), &'static str> {
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
            "allcommands" => return self.apply_rule(b"+@all"),
            "nocommands" => return self.apply_rule(b"-@all"),
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
                    self.apply_rule(r.as_bytes())?;
                }
            }
            _ => return self.apply_prefixed(text, rule),
        }
        Ok(())
    }

    fn apply_prefixed(&mut self, text: &str, rule: &[u8]) -> Result<(), &'static str> {
        let first = rule.first().copied().ok_or(SYNTAX)?;
        // A first character beyond ASCII is no rule (and no place to cut the text).
        let rest = text.get(1..).ok_or(SYNTAX)?;
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
                let t = commands();
                if let Some(cat) = name.strip_prefix('@') {
                    if cat == "all" {
                        self.allowed.fill(allow);
                        self.firstargs.clear();
                        self.future = allow;
                        return Ok(());
                    }
                    // Each command in the category, and each subcommand in it (a container's
                    // subcommands follow it, as Redis visits them).
                    let bit = category_bit(cat).ok_or(UNKNOWN)?;
                    for (id, c) in t.all.iter().enumerate() {
                        if c.is_in(bit) {
                            self.change(id, allow);
                        }
                    }
                } else if let (true, Some((cmd, sub))) = (allow, name.rsplit_once('|')) {
                    // `+container|sub` allows a subcommand; `+cmd|arg` a command's first
                    // argument (Redis's deprecated first-arg rule).
                    let id = t.by_name(cmd).ok_or(UNKNOWN)?;
                    if t.all[id].parent.is_some() {
                        return Err(SUB_FIRSTARG);
                    }
                    if sub.is_empty() {
                        return Err(SYNTAX);
                    }
                    if !t.all[id].subs.is_empty() {
                        let sub_id = t.by_name(&name).ok_or(UNKNOWN)?;
                        self.change(sub_id, true);
                    } else if !self.allowed[id] {
                        let subs = self.firstargs.entry(id).or_default();
                        if !subs.iter().any(|s| *s == sub) {
                            subs.push(sub.to_string());
                        }
                    }
                } else {
                    // `+cmd`, `-cmd`, `-container|sub`.
                    let id = t.by_name(&name).ok_or(UNKNOWN)?;
                    self.change(id, allow);
                }
            }
            b'(' => return Err("Selectors are not supported by sutra-cache"),
            _ => return Err(SYNTAX),
        }
        Ok(())
    }

    /// Allows or denies one ACL command (a container: with all its subcommands), forgetting
    /// its first-arg allowances (Redis's ACLChangeSelectorPerm).
    fn change(&mut self, id: usize, allow: bool) {
        self.allowed[id] = allow;
        self.firstargs.remove(&id);
        for sub in commands().all[id].subs.clone() {
            self.allowed[sub] = allow;
        }
    }

    fn may_run(&self, id: usize, args: &[Bytes]) -> bool {
        if self.allowed[id] {
            return true;
        }
        match (self.firstargs.get(&id), args.get(1)) {
            (Some(subs), Some(a)) => subs.iter().any(|s| a.eq_ignore_ascii_case(s.as_bytes())),
            _ => false,
        }
    }

    /// Whether this user may run `args` (a looked-up command): the command — a container's
    /// subcommand by its own permission — (or its first argument), then its keys (read-only
    /// commands read them, others write), then the channels of SUBSCRIBE/PUBLISH. A container
    /// with an unknown subcommand is refused (Redis has no such command).
    pub fn check(&self, spec: &Spec, args: &[Bytes]) -> Result<(), Denied> {
        if spec.flags.contains(&"no_auth") {
            return Ok(());
        }
        let t = commands();
        let Some(id) = t.id_of(spec, args) else {
            return Err(Denied::Command);
        };
        if !self.may_run(id, args) {
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
            // A subcommand's key (OBJECT FREQ key, MEMORY USAGE key) is read; a command's keys
            // are its spec's.
            let entry = &t.all[id];
            let (spec_args, need_r, need_w) = match entry.parent {
                Some(_) => (&[][..], true, false),
                None => (args, need_r, need_w),
            };
            let sub_key = entry.key.and_then(|i| args.get(i));
            for key in sub_key
                .into_iter()
                .chain(crate::server::cmd::key_args(spec, spec_args))
            {
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
    /// different, fewest differences; subcommands count as commands), then single commands
    /// and subcommands (`-client|kill`), then first arguments.
    pub fn command_rules(&self) -> String {
        let t = commands();
        let additive = !self.future;
        let mut fake = User::new("");
        let mut rules = vec![if additive { "-@all" } else { "+@all" }.to_string()];
        if !additive {
            fake.apply_rule(b"+@all").expect("valid");
        }
        // What is left to explain: the categories applied so far are taken out of it.
        let mut temp = self.clone();
        let mut applied = vec![false; CATEGORIES.len()];
        loop {
            let mut best: Option<usize> = None;
            let (mut mindiff, mut maxsame) = (usize::MAX, 0);
            for j in (0..CATEGORIES.len()).filter(|&j| !applied[j]) {
                let (mut on, mut off) = (0, 0);
                for (id, _) in t.all.iter().enumerate().filter(|(_, c)| c.is_in(1 << j)) {
                    if temp.allowed[id] {
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
            fake.apply_rule(format!("{op}{cat}").as_bytes())
                .expect("valid");
            temp.apply_rule(format!("{inv}{cat}").as_bytes())
                .expect("valid");
            rules.push(format!("{op}{cat}"));
            applied[j] = true;
        }
        // A container before its subcommands: `+client` then `-client|kill`.
        for (id, c) in t.all.iter().enumerate() {
            let mine = self.allowed[id];
            if mine != fake.allowed[id] {
                rules.push(format!("{}{}", if mine { "+" } else { "-" }, c.full));
                fake.change(id, mine);
            }
            if !mine {
                for arg in self.firstargs.get(&id).into_iter().flatten() {
                    rules.push(format!("+{}|{arg}", c.full));
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
