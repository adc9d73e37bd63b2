//! Process-crash test: this test binary re-runs itself as a child that appends from several
//! threads and reports each acknowledged record on stdout; the parent SIGKILLs it at a
//! random moment, reopens the WAL and checks every acknowledged record byte for byte.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use sutra_cache::wal::{UringIo, Wal, WalOptions};

use crate::crash;

const CHILD_ENV: &str = "SUTRA_WAL_CRASH_CHILD";
const TEST_NAME: &str = "acknowledged_appends_survive_sigkill_at_a_random_moment";

fn options(policy: &str, io: &str) -> WalOptions {
    WalOptions {
        sync: policy.parse().unwrap(),
        io: io.parse().unwrap(),
        segment_bytes: 64 << 10,
        ..WalOptions::default()
    }
}

/// What the child reports per acknowledged record, and what the parent checks.
fn fingerprint(kind: u8, payload: &[u8]) -> (u8, usize, u32) {
    (kind, payload.len(), crc32c::crc32c(payload))
}

/// The child: appends until killed (or 10 s pass), printing `ACK lsn kind len crc` lines.
fn run_child(spec: &str) -> ! {
    let mut parts = spec.split(',');
    let (dir, policy, io) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (wal, _) = Wal::open(dir, options(policy, io)).expect("child opens the WAL");
    let wal = std::sync::Arc::new(wal);
    let start = Instant::now();
    let threads: Vec<_> = (0..4u8)
        .map(|t| {
            let wal = wal.clone();
            std::thread::spawn(move || {
                let mut rng = SmallRng::from_entropy();
                while start.elapsed() < Duration::from_secs(10) {
                    let n = rng.gen_range(0..3000);
                    let p: Vec<u8> = (0..n).map(|_| rng.gen()).collect();
                    let lsn = wal.append(t, &p).expect("append");
                    let (k, len, crc) = fingerprint(t, &p);
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "ACK {lsn} {k} {len} {crc}");
                    let _ = out.flush();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(0);
}

fn parse_ack(line: &[u8]) -> Option<(u64, (u8, usize, u32))> {
    let line = std::str::from_utf8(line).ok()?.strip_suffix('\n')?;
    let mut f = line.strip_prefix("ACK ")?.split(' ');
    let lsn = f.next()?.parse().ok()?;
    let k = f.next()?.parse().ok()?;
    let len = f.next()?.parse().ok()?;
    let crc = f.next()?.parse().ok()?;
    Some((lsn, (k, len, crc)))
}

#[test]
fn acknowledged_appends_survive_sigkill_at_a_random_moment() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        run_child(&spec);
    }
    let mut ios = vec!["sync"];
    if UringIo::new().is_ok() {
        ios.push("uring");
        ios.push("uring-ring-writes");
    } else {
        eprintln!("io_uring unavailable: crash-testing the plain path only");
    }
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let mut iterations = 0;
    for policy in ["always", "interval:20"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap().to_owned();
        // Every acknowledgement over all the kills into this directory.
        let mut acked: BTreeMap<u64, (u8, usize, u32)> = BTreeMap::new();
        for i in 0..30 {
            let io = ios[i % ios.len()];
            let child = crash::Child {
                test_name: &format!("wal_crash::{TEST_NAME}"),
                env_var: CHILD_ENV,
                spec: format!("{dir},{policy},{io}"),
            };
            let kill_after = Duration::from_millis(rng.gen_range(0..60));
            let got = crash::run_and_kill(&child, parse_ack, Duration::from_secs(20), kill_after);
            acked.extend(got);

            let (wal, replay) = Wal::open(&dir, options(policy, io)).unwrap();
            let on_disk: BTreeMap<u64, (u8, usize, u32)> = replay
                .records
                .iter()
                .map(|r| (r.lsn, fingerprint(r.kind, &r.payload)))
                .collect();
            for (lsn, want) in &acked {
                assert_eq!(
                    on_disk.get(lsn),
                    Some(want),
                    "{policy} {io} kill {i}: acknowledged LSN {lsn} lost or changed"
                );
            }
            let first = replay.records.first().map_or(1, |r| r.lsn);
            for (j, r) in replay.records.iter().enumerate() {
                assert_eq!(
                    r.lsn,
                    first + j as u64,
                    "{policy} kill {i}: a gap in the log"
                );
            }
            wal.close().unwrap();
            iterations += 1;
        }
        assert!(acked.len() > 100, "{policy}: only {} acks", acked.len());
    }
    assert_eq!(iterations, 60);
}
