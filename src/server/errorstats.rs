//! INFO errorstats: error replies counted by their prefix (the first word: `ERR`,
//! `WRONGTYPE`, `MOVED`, …), as Redis 7 counts them.

use std::collections::BTreeMap;

use parking_lot::Mutex;

/// Redis's `ERROR_STATS_NUMBER`: how many distinct prefixes are kept.
pub const MAX_PREFIXES: usize = 128;
/// The one prefix kept once an error of a further new prefix arrives (until CONFIG RESETSTAT).
pub const DISABLED: &str = "ERRORSTATS_DISABLED";

/// Error replies by prefix. Errors are rare next to commands, so one lock is enough.
#[derive(Default)]
pub struct ErrorStats {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_prefix: BTreeMap<String, u64>,
    disabled: bool,
}

/// The prefix Redis files an error reply under: its first word when a space ends it within
/// the first 32 bytes, else `ERR`.
pub fn prefix(msg: &str) -> &str {
    let head = &msg.as_bytes()[..msg.len().min(32)];
    match head.iter().position(|&b| b == b' ') {
        Some(0) | None => "ERR",
        Some(end) => &msg[..end],
    }
}

impl ErrorStats {
    /// Counts `n` error replies with the text `msg` (without RESP's leading `-`).
    pub fn record(&self, msg: &str, n: u64) {
        let p = prefix(msg);
        let mut t = self.inner.lock();
        if t.disabled {
            return;
        }
        if let Some(c) = t.by_prefix.get_mut(p) {
            *c += n;
        } else if t.by_prefix.len() >= MAX_PREFIXES {
            // As Redis: one prefix too many replaces them all, and nothing more is kept.
            tracing::warn!(
                "errorstats stopped tracking error prefixes: more than {MAX_PREFIXES} distinct ones"
            );
            t.by_prefix.clear();
            t.by_prefix.insert(DISABLED.to_string(), 1);
            t.disabled = true;
        } else {
            t.by_prefix.insert(p.to_string(), n);
        }
    }

    /// The section's lines (`errorstat_<PREFIX>:count=<n>`), prefixes in byte order.
    pub fn lines(&self) -> String {
        let t = self.inner.lock();
        let mut s = String::new();
        for (p, c) in &t.by_prefix {
            s.push_str("errorstat_");
            s.push_str(p);
            s.push_str(":count=");
            s.push_str(&c.to_string());
            s.push_str("\r\n");
        }
        s
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        *self.inner.lock() = Table::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_filed_under_its_first_word_or_err() {
        assert_eq!(prefix("WRONGTYPE Operation against a key"), "WRONGTYPE");
        assert_eq!(prefix("MOVED 3999 127.0.0.1:6381"), "MOVED");
        assert_eq!(prefix("NOSPACEHERE"), "ERR");
        assert_eq!(prefix(" leading space"), "ERR");
        assert_eq!(prefix(&format!("{} tail", "X".repeat(40))), "ERR");
    }

    #[test]
    fn counts_sort_by_prefix_and_one_prefix_too_many_disables_the_table() {
        let s = ErrorStats::default();
        s.record("WRONGTYPE a", 1);
        s.record("ERR b", 2);
        s.record("ERR c", 1);
        assert_eq!(
            s.lines(),
            "errorstat_ERR:count=3\r\nerrorstat_WRONGTYPE:count=1\r\n"
        );
        for i in 0..MAX_PREFIXES - 2 {
            s.record(&format!("E{i} x"), 1);
        }
        assert_eq!(s.lines().lines().count(), MAX_PREFIXES);
        s.record("ERR again", 1); // a known prefix still counts
        assert!(s.lines().contains("errorstat_ERR:count=4\r\n"));
        s.record("NEWONE x", 1);
        assert_eq!(s.lines(), "errorstat_ERRORSTATS_DISABLED:count=1\r\n");
        s.record("ERR more", 1);
        assert_eq!(s.lines(), "errorstat_ERRORSTATS_DISABLED:count=1\r\n");
        s.reset();
        s.record("ERR after", 1);
        assert_eq!(s.lines(), "errorstat_ERR:count=1\r\n");
    }
}
