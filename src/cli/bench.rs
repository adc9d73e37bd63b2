//! `sutra-cache bench`: a short load run against a server (SET, GET, VSIM), one connection
//! per client thread, each request timed; prints throughput and latency percentiles.
//! Its keys are `bench:*` and are deleted at the end.

use std::process::ExitCode;
use std::time::Instant;

use super::dump::connect;

/// Arguments of `bench`.
#[derive(clap::Args)]
pub struct Args {
    /// The server.
    #[arg(long, default_value = "redis://127.0.0.1:50051")]
    pub url: String,
    /// Concurrent clients (one connection and thread each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub clients: u32,
    /// Requests per operation, shared by the clients.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: u64,
    /// Value size of SET, in bytes (an f32 embedding of 384 dimensions is 1536).
    #[arg(long, default_value_t = 1536)]
    pub value_size: usize,
    /// Dimension of the vectors VSIM searches (a set of --set-size elements is built first).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub dim: u32,
    /// Elements in the searched set.
    #[arg(long, default_value_t = 2000)]
    pub set_size: u32,
    /// Operations to run, in order: any of set, get, vsim.
    #[arg(long, value_delimiter = ',', default_value = "set,get,vsim")]
    pub ops: Vec<String>,
}

fn vector(seed: u64, dim: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x % 2000) as f32 / 1000.0 - 1.0).to_le_bytes()
        })
        .collect()
}

/// Exit 0 when every request succeeded; 1 at the first error (named).
pub fn run(a: Args) -> ExitCode {
    match bench(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sutra-cache bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn one(
    op: &str,
    con: &mut redis::Connection,
    i: u64,
    a: &Args,
    value: &[u8],
) -> redis::RedisResult<()> {
    match op {
        "set" => redis::cmd("SET")
            .arg(format!("bench:k{}", i % 10_000))
            .arg(value)
            .query(con),
        "get" => redis::cmd("GET")
            .arg(format!("bench:k{}", i % 10_000))
            .query::<Option<Vec<u8>>>(con)
            .map(|_| ()),
        _ => redis::cmd("VSIM")
            .arg("bench:vs")
            .arg("FP32")
            .arg(vector(i + 1_000_000, a.dim))
            .arg("COUNT")
            .arg(10)
            .query::<Vec<Vec<u8>>>(con)
            .map(|_| ()),
    }
}

fn bench(a: &Args) -> Result<(), String> {
    for op in &a.ops {
        if !["set", "get", "vsim"].contains(&op.as_str()) {
            return Err(format!("--ops: unknown operation {op:?} (set, get, vsim)"));
        }
    }
    let mut con = connect(&a.url)?;
    if a.ops.iter().any(|o| o == "vsim") {
        let pb = super::local::spinner("building bench:vs");
        for chunk in (0..a.set_size as u64).collect::<Vec<_>>().chunks(500) {
            let mut p = redis::pipe();
            for &i in chunk {
                p.cmd("VADD")
                    .arg("bench:vs")
                    .arg("FP32")
                    .arg(vector(i, a.dim))
                    .arg(format!("e{i}"))
                    .ignore();
            }
            p.query::<()>(&mut con).map_err(|e| format!("VADD: {e}"))?;
            pb.set_position(chunk.last().copied().unwrap_or(0) + 1);
        }
        pb.finish_and_clear();
    }
    println!(
        "{:<5} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "op", "requests", "ops/s", "p50 us", "p99 us", "p99.9 us", "max us"
    );
    let value = vec![b'x'; a.value_size];
    for op in &a.ops {
        let started = Instant::now();
        let per = a.requests.div_ceil(a.clients as u64);
        let results: Vec<Result<Vec<u32>, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..a.clients as u64)
                .map(|c| {
                    let (op, value) = (op.as_str(), &value);
                    s.spawn(move || -> Result<Vec<u32>, String> {
                        let mut con = connect(&a.url)?;
                        let mut lat = Vec::with_capacity(per as usize);
                        for i in 0..per.min(a.requests.saturating_sub(c * per)) {
                            let t = Instant::now();
                            one(op, &mut con, c * per + i, a, value)
                                .map_err(|e| format!("{op}: {e}"))?;
                            lat.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        }
                        Ok(lat)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a client thread panicked".into()))
                })
                .collect()
        });
        let secs = started.elapsed().as_secs_f64();
        let mut lat = Vec::new();
        for r in results {
            lat.extend(r?);
        }
        lat.sort_unstable();
        let q = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        println!(
            "{:<5} {:>9} {:>10.0} {:>9} {:>9} {:>9} {:>9}",
            op,
            lat.len(),
            lat.len() as f64 / secs,
            q(0.5),
            q(0.99),
            q(0.999),
            lat[lat.len() - 1]
        );
    }
    let keys: Vec<String> = (0..10_000.min(a.requests))
        .map(|i| format!("bench:k{i}"))
        .chain(["bench:vs".to_string()])
        .collect();
    for chunk in keys.chunks(1000) {
        redis::cmd("DEL")
            .arg(chunk)
            .query::<i64>(&mut con)
            .map_err(|e| format!("DEL: {e}"))?;
    }
    Ok(())
}
