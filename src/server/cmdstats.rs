//! Per-command statistics as Redis 7 keeps them: calls, time, rejected and failed calls
//! (`INFO commandstats`) and a latency histogram per command (`INFO latencystats`,
//! hdrhistogram with Redis's bounds: 1 ns to 1 s, 2 significant figures).
//!
//! The hot path takes no shared lock: each thread that runs commands records into its own
//! table (behind a mutex only that thread and an INFO or RESETSTAT ever take), found
//! through a thread-local; INFO merges the tables. A table of a thread that ended is folded
//! into `retired` the next time a thread registers or INFO runs.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Weak};

use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};

/// Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE (ns) and precision.
const HIST_MIN_NS: u64 = 1;
const HIST_MAX_NS: u64 = 1_000_000_000;
const HIST_SIGFIG: u8 = 2;

/// Redis's default `latency-tracking-info-percentiles`.
pub const DEFAULT_PERCENTILES: [f64; 3] = [50.0, 99.0, 99.9];

/// Parses Redis's `latency-tracking-info-percentiles` value: numbers from 0 to 100 separated
/// by spaces (none: no percentiles), with Redis's error text.
pub fn parse_percentiles(text: &str) -> Result<Vec<f64>, String> {
    text.split_whitespace()
        .map(|word| match word.parse::<f64>() {
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
            _ => Err(
                "latency-tracking-info-percentiles arguments must be numbers between 0 \
                      and 100, separated by spaces"
                    .to_string(),
            ),
        })
        .collect()
}

/// The counters of one command (or container subcommand, `config|get`).
#[derive(Default, Clone)]
pub struct Slot {
    pub calls: u64,
    /// Time spent running it, in ns (Redis shows µs).
    pub nanos: u64,
    /// Refused before running (arity, authentication, a cluster redirection, …).
    pub rejected: u64,
    /// Ran and answered an error.
    pub failed: u64,
    /// Latencies in ns, made at the first timed call.
    pub hist: Option<Box<Histogram<u64>>>,
}

impl Slot {
    fn merge(&mut self, o: &Slot) {
        self.calls += o.calls;
        self.nanos += o.nanos;
        self.rejected += o.rejected;
        self.failed += o.failed;
        if let Some(h) = &o.hist {
            match &mut self.hist {
                Some(mine) => {
                    // Same bounds on both sides: cannot fail.
                    let _ = mine.add(&**h);
                }
                None => self.hist = Some(h.clone()),
            }
        }
    }
}

/// One thread's counters, one [`Slot`] per name of [`super::cmd::stat_names`].
#[derive(Default, Clone)]
pub struct Table {
    pub slots: Vec<Slot>,
}

impl Table {
    fn slot(&mut self, i: usize) -> &mut Slot {
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    fn merge(&mut self, o: &Table) {
        for (i, s) in o.slots.iter().enumerate() {
            self.slot(i).merge(s);
        }
    }
}

struct Inner {
    tables: Mutex<Vec<Arc<Mutex<Table>>>>,
    retired: Mutex<Table>,
}

type Mine = Vec<(Weak<Inner>, Arc<Mutex<Table>>)>;

thread_local! {
    /// This thread's tables, one per server it ran commands for (tests run several).
    static MINE: RefCell<Mine> = const { RefCell::new(Vec::new()) };
}

/// The statistics of one server.
pub struct CommandStats {
    inner: Arc<Inner>,
    /// Redis's `latency-tracking`: record latencies into the histograms.
    pub latency_tracking: AtomicBool,
    /// Redis's `latency-tracking-info-percentiles`.
    pub percentiles: RwLock<Vec<f64>>,
}

impl Default for CommandStats {
    fn default() -> Self {
        Self::configured(true, DEFAULT_PERCENTILES.to_vec())
    }
}

impl CommandStats {
    /// Empty statistics with these settings (`latency-tracking`, its percentiles).
    pub fn configured(latency_tracking: bool, percentiles: Vec<f64>) -> Self {
        Self {
            inner: Arc::new(Inner {
                tables: Mutex::new(Vec::new()),
                retired: Mutex::new(Table::default()),
            }),
            latency_tracking: AtomicBool::new(latency_tracking),
            percentiles: RwLock::new(percentiles),
        }
    }

    /// Runs `f` on this thread's table, registering one on first use.
    fn with_mine(&self, f: impl FnOnce(&mut Table)) {
        MINE.with(|mine| {
            let mut mine = mine.borrow_mut();
            let ptr = Arc::as_ptr(&self.inner);
            if let Some((_, t)) = mine.iter().find(|(w, _)| w.as_ptr() == ptr) {
                f(&mut t.lock());
                return;
            }
            // Servers that are gone no longer need this thread's tables.
            mine.retain(|(w, _)| w.strong_count() > 0);
            let t = Arc::new(Mutex::new(Table::default()));
            self.fold_retired();
            self.inner.tables.lock().push(t.clone());
            f(&mut t.lock());
            mine.push((Arc::downgrade(&self.inner), t));
        });
    }

    /// A command ran for `nanos` and answered an error (`failed`) or not.
    pub fn record(&self, slot: usize, nanos: u64, failed: bool) {
        let track = self.latency_tracking.load(Relaxed);
        self.with_mine(|t| {
            let s = t.slot(slot);
            s.calls += 1;
            s.nanos += nanos;
            s.failed += u64::from(failed);
            if track {
                s.hist
                    .get_or_insert_with(|| {
                        Box::new(
                            Histogram::new_with_bounds(HIST_MIN_NS, HIST_MAX_NS, HIST_SIGFIG)
                                .expect("valid bounds"),
                        )
                    })
                    .saturating_record(nanos.clamp(HIST_MIN_NS, HIST_MAX_NS));
            }
        });
    }

    /// A command was refused before it ran.
    pub fn reject(&self, slot: usize) {
        self.with_mine(|t| t.slot(slot).rejected += 1);
    }

    /// Folds the tables of threads that ended into `retired`.
    fn fold_retired(&self) {
        let mut tables = self.inner.tables.lock();
        let mut retired = self.inner.retired.lock();
        tables.retain(|t| {
            // Only the registry holds it: its thread is gone.
            if Arc::strong_count(t) == 1 {
                retired.merge(&t.lock());
                false
            } else {
                true
            }
        });
    }

    /// Every thread's counters added up.
    pub fn snapshot(&self) -> Table {
        self.fold_retired();
        let mut all = self.inner.retired.lock().clone();
        for t in self.inner.tables.lock().iter() {
            all.merge(&t.lock());
        }
        all
    }

    /// CONFIG RESETSTAT.
    pub fn reset(&self) {
        *self.inner.retired.lock() = Table::default();
        for t in self.inner.tables.lock().iter() {
            *t.lock() = Table::default();
        }
    }
}

/// `50`, `99.9`: Redis's `%f` with the trailing zeros (and point) trimmed.
pub fn percentile_label(p: f64) -> String {
    let s = format!("{p:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The `# Commandstats` and `# Latencystats` lines of a snapshot: `names[i]` names slot i.
pub fn commandstats_lines(t: &Table, names: &[String]) -> String {
    let mut rows: Vec<(&str, &Slot)> = t
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.calls > 0 || s.rejected > 0 || s.failed > 0)
        .filter_map(|(i, s)| Some((names.get(i)?.as_str(), s)))
        .collect();
    rows.sort_by_key(|(n, _)| *n);
    let mut out = String::new();
    for (name, s) in rows {
        let usec = s.nanos / 1000;
        let per_call = if s.calls == 0 {
            0.0
        } else {
            s.nanos as f64 / 1000.0 / s.calls as f64
        };
        out.push_str(&format!(
            "cmdstat_{name}:calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}\r\n",
            s.calls, s.rejected, s.failed
        ));
    }
    out
}

/// The `# Latencystats` lines: each command with a histogram, at `percentiles`.
pub fn latencystats_lines(t: &Table, names: &[String], percentiles: &[f64]) -> String {
    let mut rows: Vec<(&str, &Histogram<u64>)> = t
        .slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| Some((names.get(i)?.as_str(), s.hist.as_deref()?)))
        .filter(|(_, h)| !h.is_empty())
        .collect();
    rows.sort_by_key(|(n, _)| *n);
    let mut out = String::new();
    for (name, h) in rows {
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let ns = h.value_at_quantile(p / 100.0);
                format!("p{}={:.3}", percentile_label(p), ns as f64 / 1000.0)
            })
            .collect();
        out.push_str(&format!(
            "latency_percentiles_usec_{name}:{}\r\n",
            values.join(",")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["get".into(), "set".into(), "config|get".into()]
    }

    #[test]
    fn threads_record_apart_and_info_adds_them_up_even_after_a_thread_ends() {
        let stats = Arc::new(CommandStats::default());
        stats.record(0, 2_000, false);
        let s2 = stats.clone();
        std::thread::spawn(move || {
            s2.record(0, 4_000, false);
            s2.record(1, 1_000, true);
            s2.reject(2);
        })
        .join()
        .unwrap();
        let t = stats.snapshot();
        assert_eq!(t.slots[0].calls, 2);
        assert_eq!(t.slots[0].nanos, 6_000);
        assert_eq!((t.slots[1].calls, t.slots[1].failed), (1, 1));
        assert_eq!((t.slots[2].calls, t.slots[2].rejected), (0, 1));
        let text = commandstats_lines(&t, &names());
        assert_eq!(
            text,
            "cmdstat_config|get:calls=0,usec=0,usec_per_call=0.00,rejected_calls=1,failed_calls=0\r\n\
             cmdstat_get:calls=2,usec=6,usec_per_call=3.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_set:calls=1,usec=1,usec_per_call=1.00,rejected_calls=0,failed_calls=1\r\n"
        );
        let lat = latencystats_lines(&t, &names(), &DEFAULT_PERCENTILES);
        // hdrhistogram's highest equivalent value of each bucket, as Redis's hdr_histogram
        // reports it (2 significant figures: 2000 ns is in the 8 ns wide bucket up to 2007).
        assert_eq!(
            lat,
            "latency_percentiles_usec_get:p50=2.007,p99=4.015,p99.9=4.015\r\n\
             latency_percentiles_usec_set:p50=1.003,p99=1.003,p99.9=1.003\r\n"
        );
        assert_eq!(
            stats.inner.tables.lock().len(),
            1,
            "the ended thread's table was folded"
        );
        stats.reset();
        assert!(commandstats_lines(&stats.snapshot(), &names()).is_empty());
    }

    #[test]
    fn percentile_labels_are_trimmed_as_redis_prints_them() {
        assert_eq!(percentile_label(50.0), "50");
        assert_eq!(percentile_label(99.9), "99.9");
        assert_eq!(percentile_label(99.99), "99.99");
        assert_eq!(percentile_label(0.5), "0.5");
    }
}
