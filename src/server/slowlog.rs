//! SLOWLOG: the commands that ran at least `slowlog-log-slower-than` µs, newest first, at
//! most `slowlog-max-len` of them, each as Redis 7 records it (id, Unix time, µs, the
//! arguments cut to 32 and each to 128 bytes, the client's address and name).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};

use bytes::Bytes;
use parking_lot::Mutex;

/// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
pub const MAX_ARGC: usize = 32;
pub const MAX_STRING: usize = 128;

/// Redis's defaults.
pub const DEFAULT_SLOWER_THAN_US: i64 = 10_000;
pub const DEFAULT_MAX_LEN: usize = 128;

/// One logged command.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    /// Unix time in seconds when it was logged.
    pub time: u64,
    pub micros: u64,
    pub argv: Vec<Bytes>,
    pub addr: String,
    pub name: Bytes,
}

/// The log and its two settings.
pub struct SlowLog {
    entries: Mutex<VecDeque<Entry>>,
    next_id: AtomicU64,
    /// µs; negative = off, 0 = every command.
    pub slower_than: AtomicI64,
    pub max_len: AtomicUsize,
}

impl Default for SlowLog {
    fn default() -> Self {
        Self::configured(DEFAULT_SLOWER_THAN_US, DEFAULT_MAX_LEN)
    }
}

impl SlowLog {
    /// An empty log with these settings (`slowlog-log-slower-than`, `slowlog-max-len`).
    pub fn configured(slower_than: i64, max_len: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            slower_than: AtomicI64::new(slower_than),
            max_len: AtomicUsize::new(max_len),
        }
    }
}

/// The arguments as Redis keeps them: past 32, the 32nd says how many more there were; an
/// argument over 128 bytes keeps its first 128 and says how many more bytes it had; AUTH's
/// arguments and HELLO's credentials are `(redacted)`.
pub fn logged_args(args: &[Bytes]) -> Vec<Bytes> {
    let redacted = redacted_positions(args);
    let n = args.len().min(MAX_ARGC);
    (0..n)
        .map(|j| {
            if n != args.len() && j == n - 1 {
                Bytes::from(format!("... ({} more arguments)", args.len() - n + 1))
            } else if redacted.contains(&j) {
                Bytes::from_static(b"(redacted)")
            } else if args[j].len() > MAX_STRING {
                let mut s = args[j][..MAX_STRING].to_vec();
                s.extend_from_slice(
                    format!("... ({} more bytes)", args[j].len() - MAX_STRING).as_bytes(),
                );
                Bytes::from(s)
            } else {
                // A copy: a slice would keep the whole request buffer it came in alive
                // for as long as the entry is logged.
                Bytes::copy_from_slice(&args[j])
            }
        })
        .collect()
}

fn redacted_positions(args: &[Bytes]) -> Vec<usize> {
    let name = &args[0];
    if name.eq_ignore_ascii_case(b"auth") {
        return (1..args.len()).collect();
    }
    if name.eq_ignore_ascii_case(b"hello") {
        if let Some(i) = args.iter().position(|a| a.eq_ignore_ascii_case(b"auth")) {
            return vec![i + 1, i + 2];
        }
    }
    Vec::new()
}

impl SlowLog {
    /// Whether a command that ran `micros` µs is to be logged.
    pub fn wants(&self, micros: u64) -> bool {
        let t = self.slower_than.load(Relaxed);
        t >= 0 && micros >= t as u64 && self.max_len.load(Relaxed) > 0
    }

    /// Logs a command (the caller checked [`SlowLog::wants`]).
    pub fn push(&self, args: &[Bytes], micros: u64, addr: &str, name: Option<Bytes>) {
        let entry = Entry {
            id: self.next_id.fetch_add(1, Relaxed),
            time: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            micros,
            argv: logged_args(args),
            addr: addr.to_string(),
            name: name.unwrap_or_default(),
        };
        let max = self.max_len.load(Relaxed);
        let mut log = self.entries.lock();
        log.push_front(entry);
        log.truncate(max);
    }

    /// The newest `count` entries (all with `None`).
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let log = self.entries.lock();
        log.iter()
            .take(count.unwrap_or(usize::MAX))
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// SLOWLOG RESET (ids go on from where they were, as in Redis).
    pub fn reset(&self) {
        self.entries.lock().clear();
    }

    /// `CONFIG SET slowlog-max-len`: a shorter log drops its oldest entries.
    pub fn set_max_len(&self, n: usize) {
        self.max_len.store(n, Relaxed);
        self.entries.lock().truncate(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.to_string())
    }

    #[test]
    fn long_commands_are_cut_as_redis_cuts_them() {
        let mut args = vec![b("del")];
        args.extend((0..40).map(|i| b(&format!("k{i}"))));
        let kept = logged_args(&args);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[30], b("k29"));
        assert_eq!(kept[31], b("... (10 more arguments)"));
        let long = "x".repeat(200);
        let kept = logged_args(&[b("set"), b("k"), b(&long)]);
        assert_eq!(kept[2], b(&format!("{}... (72 more bytes)", &long[..128])));
        assert_eq!(
            logged_args(&[b("AUTH"), b("user"), b("pw")]),
            vec![b("AUTH"), b("(redacted)"), b("(redacted)")]
        );
        assert_eq!(
            logged_args(&[
                b("HELLO"),
                b("3"),
                b("AUTH"),
                b("u"),
                b("p"),
                b("SETNAME"),
                b("n")
            ]),
            vec![
                b("HELLO"),
                b("3"),
                b("AUTH"),
                b("(redacted)"),
                b("(redacted)"),
                b("SETNAME"),
                b("n")
            ]
        );
    }

    #[test]
    fn the_log_keeps_the_newest_entries_up_to_its_length() {
        let log = SlowLog::default();
        log.slower_than.store(0, Relaxed);
        for i in 0..5 {
            assert!(log.wants(0));
            log.push(&[b("get"), b(&format!("k{i}"))], 1, "127.0.0.1:1", None);
        }
        log.set_max_len(3);
        let got = log.newest(None);
        assert_eq!(got.iter().map(|e| e.id).collect::<Vec<_>>(), [4, 3, 2]);
        assert_eq!(log.newest(Some(1))[0].argv[1], b("k4"));
        log.slower_than.store(-1, Relaxed);
        assert!(!log.wants(u64::MAX), "negative = off");
        log.slower_than.store(100, Relaxed);
        assert!(!log.wants(99) && log.wants(100));
        log.reset();
        assert_eq!(log.len(), 0);
    }
}
