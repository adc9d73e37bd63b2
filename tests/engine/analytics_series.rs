//! Cache analytics' time series through the engine API (issue #15 point 1): buckets roll over
//! across second, minute and hour boundaries on an injected clock, per set and for the shard;
//! history survives a clean restart and a SIGKILL (at most the unclosed second lost).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use sutra_cache::analytics::{Bucket, TierSpec};
use sutra_cache::*;

/// 2026-12-06 00:59:58 UTC: two seconds before an hour (and a minute) boundary.
const T0_S: u64 = 1_796_518_798;

fn config(clock: Arc<ManualClock>, dir: Option<&Path>) -> EngineConfig {
    EngineConfig {
        clock,
        data_dir: dir.map(Path::to_path_buf),
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        checkpoint_wal_bytes: 0,
        ..Default::default()
    }
}

fn add(e: &Engine, set: &[u8], name: &str) {
    let v = [1.0f32, 0.5, 0.25, 0.125];
    e.vadd(
        set,
        &VectorSetOptions::default(),
        ElementAdd::new(name.as_bytes(), &v),
    )
    .unwrap();
}

/// `hits` hits and `misses` misses on `set`.
fn lookups(e: &Engine, set: &[u8], hits: usize, misses: usize) {
    for _ in 0..hits {
        assert!(e.vget(set, b"present").unwrap().is_some());
    }
    for i in 0..misses {
        assert!(e
            .vget(set, format!("absent{i}").as_bytes())
            .unwrap()
            .is_none());
    }
}

fn hm(b: &Bucket) -> (u64, u64, u64) {
    (b.start_s, b.counts.hits(), b.counts.misses())
}

#[test]
fn buckets_roll_over_across_second_minute_and_hour_boundaries_on_an_injected_clock() {
    assert_eq!(T0_S % 3600, 3598);
    let clock = ManualClock::new(T0_S * 1000);
    let e = Engine::open(config(clock.clone(), None)).unwrap();
    add(&e, b"emb:a", "present");
    add(&e, b"emb:b", "present");
    e.analytics_tick().unwrap();
    // Second T0: 3 hits, 1 miss on a; 1 hit on b. Then T0+1: 2 hits on a. Then T0+2 (a new
    // minute and hour): 1 miss on a, 4 hits on b. Then 61 s later: 5 hits on a.
    lookups(&e, b"emb:a", 3, 1);
    lookups(&e, b"emb:b", 1, 0);
    clock.advance(1_000);
    e.analytics_tick().unwrap();
    lookups(&e, b"emb:a", 2, 0);
    clock.advance(1_000);
    e.analytics_tick().unwrap();
    lookups(&e, b"emb:a", 0, 1);
    lookups(&e, b"emb:b", 4, 0);
    clock.advance(61_000);
    e.analytics_tick().unwrap();
    lookups(&e, b"emb:a", 5, 0);
    clock.advance(1_000);
    e.analytics_tick().unwrap();

    let end = T0_S + 100;
    let a = |w| e.analytics_buckets(Some(b"emb:a"), w, 0, end).unwrap();
    let secs: Vec<_> = a(1).iter().map(hm).collect();
    assert_eq!(
        secs,
        vec![
            (T0_S, 3, 1),
            (T0_S + 1, 2, 0),
            (T0_S + 2, 0, 1),
            (T0_S + 63, 5, 0)
        ]
    );
    let hour_start = T0_S + 2;
    let mins: Vec<_> = a(60).iter().map(hm).collect();
    assert_eq!(
        mins,
        vec![
            (hour_start - 60, 5, 1),
            (hour_start, 0, 1),
            (hour_start + 60, 5, 0)
        ]
    );
    let hours: Vec<_> = a(3600).iter().map(hm).collect();
    assert_eq!(hours, vec![(hour_start - 3600, 5, 1), (hour_start, 5, 1)]);
    // The writes: two adds of "present" (one per set) in the first second, each its set's.
    assert_eq!(a(3600)[0].counts.0[2], 1);

    let b: Vec<_> = e
        .analytics_buckets(Some(b"emb:b"), 60, 0, end)
        .unwrap()
        .iter()
        .map(hm)
        .collect();
    assert_eq!(b, vec![(hour_start - 60, 1, 0), (hour_start, 4, 0)]);
    // The shard-wide series is the sum of both.
    let all: Vec<_> = e
        .analytics_buckets(None, 3600, 0, end)
        .unwrap()
        .iter()
        .map(hm)
        .collect();
    assert_eq!(all, vec![(hour_start - 3600, 6, 1), (hour_start, 9, 1)]);

    // Windows: the last 10 s come from the 1 s tier, the last hour from the minute tier.
    let w = e.analytics_window(Some(b"emb:a"), 10).unwrap().unwrap();
    assert_eq!((w.width_s, w.counts.hits(), w.counts.misses()), (1, 5, 0));
    let w = e.analytics_window(Some(b"emb:a"), 3600).unwrap().unwrap();
    assert_eq!((w.width_s, w.counts.hits(), w.counts.misses()), (60, 10, 2));
    assert_eq!(w.hit_rate(), Some(10.0 / 12.0));
    assert!(w.latency.count() <= 12, "sampled lookups only");
    assert!(e.analytics_window(Some(b"emb:none"), 60).unwrap().is_none());
    // A resolution that is not a tier is refused, naming the widths.
    let err = e
        .analytics_buckets(None, 7, 0, end)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("resolution") && err.contains("1, 60, 3600"),
        "{err}"
    );
}

#[test]
fn a_tier_keeps_only_its_configured_window_and_memory_stays_within_the_stated_bound() {
    let clock = ManualClock::new(T0_S * 1000);
    let mut cfg = config(clock.clone(), None);
    cfg.analytics.tiers = vec![
        TierSpec {
            width_s: 1,
            count: 5,
        },
        TierSpec {
            width_s: 60,
            count: 3,
        },
    ];
    cfg.analytics.latency_sample_every = 1;
    let e = Engine::open(cfg).unwrap();
    add(&e, b"emb", "present");
    e.analytics_tick().unwrap();
    for _ in 0..400 {
        lookups(&e, b"emb", 1, 0);
        clock.advance(1_000);
        e.analytics_tick().unwrap();
    }
    assert_eq!(
        e.analytics_buckets(Some(b"emb"), 1, 0, u64::MAX)
            .unwrap()
            .len(),
        5
    );
    let mins = e.analytics_buckets(Some(b"emb"), 60, 0, u64::MAX).unwrap();
    assert_eq!(mins.len(), 3);
    let bound = e
        .analytics_config()
        .bytes_per_series(analytics::HIST_BUCKETS)
        + std::mem::size_of::<analytics::Series>();
    for (k, bytes) in e.analytics_memory() {
        assert!(bytes <= bound, "{k:?}: {bytes} > {bound}");
    }
}

#[test]
fn series_survive_a_clean_restart() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_S * 1000);
    {
        let e = Engine::open(config(clock.clone(), Some(dir.path()))).unwrap();
        add(&e, b"emb", "present");
        e.analytics_tick().unwrap();
        lookups(&e, b"emb", 7, 2);
        clock.advance(1_000);
        e.analytics_tick().unwrap();
        // Counted in the current second; close closes it.
        lookups(&e, b"emb", 1, 1);
        e.close().unwrap();
    }
    let e = Engine::open(config(clock.clone(), Some(dir.path()))).unwrap();
    let secs: Vec<_> = e
        .analytics_buckets(Some(b"emb"), 1, 0, u64::MAX)
        .unwrap()
        .iter()
        .map(hm)
        .collect();
    assert_eq!(secs, vec![(T0_S, 7, 2), (T0_S + 1, 1, 1)]);
    // Replaying the WAL at open (the add) is not counted as traffic again.
    let w = e.analytics_window(None, 600).unwrap().unwrap();
    assert_eq!(w.counts.0[2], 1, "one write");
    // New traffic after the restart adds to the same series.
    lookups(&e, b"emb", 2, 0);
    clock.advance(1_000);
    let w = e.analytics_window(Some(b"emb"), 600).unwrap().unwrap();
    assert_eq!((w.counts.hits(), w.counts.misses()), (10, 3));
}

const CHILD_ENV: &str = "SUTRA_ANALYTICS_CRASH_CHILD";
const CLOSED_SECONDS: u64 = 30;

/// The child: `CLOSED_SECONDS` closed seconds of `i + 1` hits each, then traffic in a second
/// that never closes, then it waits to be killed.
fn child(dir: &Path) {
    let clock = ManualClock::new(T0_S * 1000);
    let mut cfg = config(clock.clone(), Some(dir));
    // Force snapshots in the middle, so recovery reads a snapshot and a log after it.
    cfg.analytics.compact_after_records = 7;
    let e = Engine::open(cfg).unwrap();
    add(&e, b"emb", "present");
    e.analytics_tick().unwrap();
    for i in 0..CLOSED_SECONDS {
        lookups(&e, b"emb", i as usize + 1, 0);
        clock.advance(1_000);
        e.analytics_tick().unwrap();
    }
    lookups(&e, b"emb", 1000, 0);
    // Straight to stdout (not through the test harness's capture).
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nready").unwrap();
    out.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_secs(120));
}

#[test]
fn series_survive_sigkill_losing_at_most_the_unclosed_second() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        child(Path::new(&dir));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut c = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "analytics_series::series_survive_sigkill_losing_at_most_the_unclosed_second",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = c.stdout.take().unwrap();
    let ready = BufReader::new(out)
        .lines()
        .map_while(|l| l.ok())
        .any(|l| l.trim_end().ends_with("ready"));
    c.kill().unwrap(); // SIGKILL
    c.wait().unwrap();
    assert!(ready, "the child never got ready");

    let clock = ManualClock::new((T0_S + CLOSED_SECONDS) * 1000);
    let e = Engine::open(config(clock, Some(dir.path()))).unwrap();
    let secs = e.analytics_buckets(Some(b"emb"), 1, 0, u64::MAX).unwrap();
    let want: Vec<_> = (0..CLOSED_SECONDS).map(|i| (T0_S + i, i + 1, 0)).collect();
    assert_eq!(secs.iter().map(hm).collect::<Vec<_>>(), want);
    let total: u64 = (1..=CLOSED_SECONDS).sum();
    let w = e.analytics_window(Some(b"emb"), 3600).unwrap().unwrap();
    assert_eq!(
        w.counts.hits(),
        total,
        "minute tier agrees, the unclosed 1000 lost"
    );
}

#[test]
fn op_durations_count_each_search_batch_fsync_and_snapshot_for_the_metrics_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(T0_S * 1000);
    let e = Engine::open(EngineConfig {
        wal_sync: SyncPolicy::Always,
        ..config(clock, Some(dir.path()))
    })
    .unwrap();
    let none = e.op_durations();
    assert_eq!(none.search.count(), 0);
    assert_eq!(none.snapshot.map(|s| s.count()), Some(0));
    add(&e, b"emb", "present");
    add(&e, b"emb", "other");
    let params = SearchParams {
        count: 1,
        ..Default::default()
    };
    for _ in 0..3 {
        let hits = e
            .vsearch(b"emb", Query::Vector(&[1.0, 0.5, 0.25, 0.125]), &params)
            .unwrap();
        assert_eq!(hits.len(), 1);
    }
    let rows = [1.0f32, 0.5, 0.25, 0.125, 0.0, 1.0, 0.0, 0.0];
    e.vsearch_batch(b"emb", &rows, 4, &params, 1).unwrap();
    e.checkpoint().unwrap();
    let d = e.op_durations();
    assert_eq!(d.search.count(), 3, "one per query");
    assert_eq!(d.batch_search.count(), 1, "one per batch, whole");
    assert!(d.search.sum_ns > 0);
    assert_eq!(d.snapshot.unwrap().count(), 1);
    // Under `always` every acknowledged write waited for an fdatasync.
    assert!(d.fsync.unwrap().count() >= 1, "{:?}", d.fsync);
    e.close().unwrap();

    let mem = Engine::open(EngineConfig::default()).unwrap();
    assert_eq!(
        (mem.op_durations().fsync, mem.op_durations().snapshot),
        (None, None)
    );
}

/// The memory of 7 days of series of one set, measured (the perf entry's figure): default
/// tiers, one lookup (timed: every lookup sampled) in each minute for 7 days and an hour.
#[test]
fn seven_days_of_one_sets_series_take_the_measured_memory_within_the_stated_bound() {
    let clock = ManualClock::new(T0_S * 1000);
    let mut cfg = config(clock.clone(), None);
    cfg.analytics.latency_sample_every = 1;
    let e = Engine::open(cfg).unwrap();
    add(&e, b"emb", "present");
    e.analytics_tick().unwrap();
    let minutes = 7 * 24 * 60 + 60;
    for _ in 0..minutes {
        lookups(&e, b"emb", 1, 1);
        clock.advance(60_000);
        e.analytics_tick().unwrap();
    }
    let per_minute = e.analytics_buckets(Some(b"emb"), 60, 0, u64::MAX).unwrap();
    assert_eq!(
        per_minute.len(),
        7 * 24 * 60,
        "the minute tier holds exactly 7 days"
    );
    let bytes = e
        .analytics_memory()
        .into_iter()
        .find(|(k, _)| k.as_deref() == Some(&b"emb"[..]))
        .map(|(_, b)| b)
        .unwrap();
    let bound = e
        .analytics_config()
        .bytes_per_series(analytics::HIST_BUCKETS)
        + std::mem::size_of::<analytics::Series>();
    eprintln!("7 days of one set's series: {bytes} bytes (bound {bound})");
    assert!(bytes <= bound, "{bytes} > {bound}");
}
