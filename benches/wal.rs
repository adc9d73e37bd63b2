//! Durable appends per second: 1, 8 and 64 concurrent writers, `always` and `interval`
//! policies, io_uring and plain syscalls. Each record is 3,100 bytes (a 768-d f32 vector
//! and its key). Run: `cargo bench --bench wal`; `WAL_BENCH_DIR=/dev/shm` puts the WAL on
//! tmpfs (fdatasync is then free: the software's own ceiling).

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sutra_cache::wal::{IoChoice, SyncPolicy, UringIo, Wal, WalOptions};

const PAYLOAD_BYTES: usize = 3100;

/// Time for `writers` threads to append `iters` records between them.
fn run(wal: &Arc<Wal>, writers: usize, iters: u64) -> Duration {
    let barrier = Arc::new(Barrier::new(writers + 1));
    let per = iters.div_ceil(writers as u64);
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let wal = wal.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let payload = vec![t as u8; PAYLOAD_BYTES];
                barrier.wait();
                for _ in 0..per {
                    wal.append(1, &payload).expect("append");
                }
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    for t in threads {
        t.join().expect("writer thread");
    }
    start
        .elapsed()
        .mul_f64(iters as f64 / (per * writers as u64) as f64)
}

fn appends(c: &mut Criterion) {
    let mut ios = vec![("sync", IoChoice::Sync)];
    if UringIo::new().is_ok() {
        ios.insert(0, ("io_uring", IoChoice::Uring));
        ios.insert(1, ("io_uring_ring_writes", IoChoice::UringRingWrites));
    } else {
        eprintln!("io_uring unavailable: benchmarking the plain path only");
    }
    for (policy_name, policy) in [
        ("always", SyncPolicy::Always),
        ("interval_5000ms", SyncPolicy::Interval(5000)),
    ] {
        let mut group = c.benchmark_group(format!("wal_append_{policy_name}"));
        group.throughput(Throughput::Elements(1));
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        for (io_name, io) in &ios {
            for writers in [1usize, 8, 64] {
                let dir = match std::env::var_os("WAL_BENCH_DIR") {
                    Some(base) => tempfile::tempdir_in(base),
                    None => tempfile::tempdir(),
                }
                .expect("tempdir");
                let opts = WalOptions {
                    sync: policy,
                    io: *io,
                    ..WalOptions::default()
                };
                let (wal, _) = Wal::open(dir.path(), opts).expect("open");
                let wal = Arc::new(wal);
                group.bench_with_input(
                    BenchmarkId::new(*io_name, format!("{writers}_writers")),
                    &writers,
                    |b, &w| b.iter_custom(|iters| run(&wal, w, iters)),
                );
                wal.close().expect("close");
            }
        }
        group.finish();
    }
}

criterion_group!(benches, appends);
criterion_main!(benches);
