//! The fuzz targets' bodies: each `src/bin/<target>.rs` hands AFL++'s input to one function
//! here, and `src/bin/replay.rs` runs the committed corpora through them without AFL++.
//! Every target checks what must hold for any input (no panic, and the target's own
//! properties); a panic is a crash to AFL++.

mod ffi;
mod model;
pub mod reply;

use std::io::Write;

use bytes::Bytes;
use sutra_cache::fuzzing::{self, FrameLimits, Session};
use sutra_cache::{Engine, EngineConfig, Filter};

pub use ffi::ffi_args;
pub use model::commands;

/// A target's body.
pub type Target = fn(&[u8]);

/// The targets by name, for the replay runner.
pub const TARGETS: &[(&str, Target)] = &[
    ("resp_frame", resp_frame),
    ("commands", commands),
    ("http_request", http_request),
    ("wal_decode", wal_decode),
    ("wal_open", wal_open),
    ("snapshot_load", snapshot_load),
    ("snapshot_open", snapshot_open),
    ("filter_expr", filter_expr),
    ("ffi_args", ffi_args),
];

/// The `main` of the binary of target `$name` (`src/bin/$name.rs`): AFL++ runs it in
/// persistent mode (many inputs per process). One binary per target rather than one for
/// all: AFL++ scans the whole coverage map after every execution, and a binary holding only
/// what its target reaches has a map of 2-4 thousand edges for the parsers instead of 100
/// thousand. Without AFL++ it runs its standard input once (`resp_frame < crash-file`
/// replays a crash); `--repeat N` runs the input N times and prints the time per run (what
/// an execution costs, without AFL++).
#[macro_export]
macro_rules! target_main {
    ($name:ident) => {
        fn main() {
            let target: $crate::Target = $crate::$name;
            let name = stringify!($name);
            // Work every input would repeat is done here, before AFL++'s fork server starts
            // (`afl::fuzz!` starts it): each forked child inherits it.
            $crate::prepare::$name();
            let args: Vec<String> = std::env::args().skip(1).collect();
            if args.first().map(String::as_str) == Some("--repeat") {
                $crate::repeat(name, target, args.get(1).and_then(|n| n.parse().ok()));
                return;
            }
            afl::fuzz!(|data: &[u8]| target(data));
        }
    };
}

/// `TARGET --repeat N < input`: the time per run of `target` on one input.
pub fn repeat(name: &str, target: Target, n: Option<u32>) {
    use std::io::Read;
    let n = n.unwrap_or(1000).max(1);
    let mut data = Vec::new();
    std::io::stdin()
        .read_to_end(&mut data)
        .expect("the input on stdin");
    let start = std::time::Instant::now();
    for _ in 0..n {
        target(&data);
    }
    println!("{name}: {n} runs, {:?} per run", start.elapsed() / n);
}

/// What a target would otherwise set up on its first input, done once before AFL++'s fork
/// server starts, so that no execution pays for it (one function per target: a binary links
/// only its own).
pub mod prepare {
    /// The HTTP target's server state (an engine and its configuration).
    pub fn http_request() {
        let _ = sutra_cache::fuzzing::http_request(b"GET /health HTTP/1.1\r\n\r\n");
    }
    pub fn resp_frame() {}
    pub fn commands() {}
    pub fn wal_decode() {}
    pub fn wal_open() {}
    pub fn snapshot_load() {}
    pub fn snapshot_open() {}
    pub fn filter_expr() {}
    /// The C ABI's opens start no thread from here on (`sutra_cache_open` started the
    /// maintenance tick and the indexer, and `sutra_cache_close` joined them, on every input).
    pub fn ffi_args() {
        sutra_cache::fuzzing::quiet_c_abi_opens();
    }
}

/// Reads structured values off the front of the fuzzer's bytes; past the end, zeros.
pub struct Input<'a>(pub &'a [u8]);

impl<'a> Input<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn u8(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else {
            return 0;
        };
        self.0 = rest;
        b
    }
    pub fn u16(&mut self) -> u16 {
        u16::from(self.u8()) | (u16::from(self.u8()) << 8)
    }
    pub fn u32(&mut self) -> u32 {
        u32::from(self.u16()) | (u32::from(self.u16()) << 16)
    }
    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }
    /// Up to `n` bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head
    }
    /// A length-prefixed byte string (one length byte).
    pub fn short(&mut self) -> &'a [u8] {
        let n = self.u8() as usize;
        self.bytes(n)
    }
    /// A length-prefixed byte string (two length bytes).
    pub fn long(&mut self) -> &'a [u8] {
        let n = self.u16() as usize;
        self.bytes(n)
    }
}

fn multibulk(args: &[Bytes]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// RESP framing: the first byte picks the limits, authentication and where the input is
/// cut into reads; the rest is the stream. Parsing it in pieces must give exactly what
/// parsing it whole gives, and every command parsed must parse back from its multibulk form.
pub fn resp_frame(data: &[u8]) {
    let Some((&flags, stream)) = data.split_first() else {
        return;
    };
    let authenticated = flags & 1 == 0;
    let limits = if flags & 2 == 0 {
        fuzzing::small_limits()
    } else {
        FrameLimits::default()
    };
    let whole = fuzzing::resp_stream(stream, &[], &limits, authenticated);
    let step = 1 + (flags >> 2) as usize;
    let cuts: Vec<usize> = (1..stream.len()).step_by(step).collect();
    let pieces = fuzzing::resp_stream(stream, &cuts, &limits, authenticated);
    assert_eq!(whole, pieces, "parsing in pieces of {step} bytes differs");
    // (Authenticated: before AUTH, Redis caps a multibulk at 10 arguments but an inline
    // command only by its 64 KiB line, and so does the server.)
    for args in whole.requests.iter().flatten() {
        let again = fuzzing::resp_stream(&multibulk(args), &[], &limits, true);
        assert_eq!(again.error, None, "{args:?} does not parse back");
        assert_eq!(again.requests, vec![Some(args.clone())]);
        assert_eq!(again.left, 0);
    }
    for line in stream.split(|&b| b == b'\n') {
        if let Some(words) = fuzzing::split_inline(line) {
            assert!(words.len() <= line.len(), "more words than bytes");
        }
    }
}

/// The HTTP request head on the RESP port: the response is one well-formed HTTP/1.1
/// response whose Content-Length is its body's.
pub fn http_request(data: &[u8]) {
    let (_, response) = fuzzing::http_request(data);
    let Some(response) = response else { return };
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head ends in an empty line")
        + 4;
    let head = std::str::from_utf8(&response[..head_end]).expect("a UTF-8 response head");
    assert!(head.starts_with("HTTP/1.1 "), "status line {head:?}");
    let status: u16 = head[9..12].parse().expect("a numeric status");
    assert!((200..600).contains(&status));
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .trim()
        .parse()
        .expect("a numeric Content-Length");
    assert_eq!(
        length,
        response.len() - head_end,
        "Content-Length is the body's"
    );
}

/// Commands run against an engine after it loaded a data directory, to prove what it loaded
/// serves without a panic.
fn serve_everything(engine: std::sync::Arc<Engine>) {
    let mut s = Session::with_engine(engine, sutra_cache::ManualClock::new(1_700_000_000_000));
    let run = |s: &mut Session, words: &[&[u8]]| {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        let out = s.run(&args, false).expect("a reply");
        reply::parse_all(&out).unwrap_or_else(|e| panic!("{words:?}: bad reply {out:?}: {e}"));
        out
    };
    let keys = run(&mut s, &[b"KEYS", b"*"]);
    let Ok(mut values) = reply::parse_all(&keys) else {
        return;
    };
    let Some(reply::Value::Array(keys)) = values.pop() else {
        return;
    };
    run(&mut s, &[b"DBSIZE"]);
    run(&mut s, &[b"INFO", b"keyspace"]);
    // Eight keys and two elements each: what a loaded key holds is reached by every command
    // below at a fraction of the cost per input of more (the fuzzer decides what they hold).
    for key in keys.iter().take(8) {
        let reply::Value::Bulk(key) = key else {
            panic!("KEYS answered a non-string {key:?}")
        };
        for cmd in [
            &[&b"TYPE"[..], key][..],
            &[b"GET", key],
            &[b"PTTL", key],
            &[b"VCARD", key],
            &[b"VDIM", key],
            &[b"VINFO", key],
            &[b"VRANDMEMBER", key, b"-5"],
            &[b"CACHESTATS", key],
        ] {
            run(&mut s, cmd);
        }
        let members = run(&mut s, &[b"VRANDMEMBER", key, b"2"]);
        if let Ok(mut v) = reply::parse_all(&members) {
            if let Some(reply::Value::Array(members)) = v.pop() {
                for m in members {
                    if let reply::Value::Bulk(m) = m {
                        run(&mut s, &[b"VEMB", key, &m]);
                        run(&mut s, &[b"VGETATTR", key, &m]);
                        run(&mut s, &[b"VSIM", key, b"ELE", &m, b"COUNT", b"5"]);
                        run(&mut s, &[b"VSIM", key, b"ELE", &m, b"FILTER", b".a > 0"]);
                        run(&mut s, &[b"VREM", key, &m]);
                    }
                }
            }
        }
        run(&mut s, &[b"DEL", key]);
    }
    run(&mut s, &[b"FLUSHALL"]);
}

fn data_dir_config(dir: &std::path::Path) -> EngineConfig {
    EngineConfig {
        data_dir: Some(dir.to_path_buf()),
        wal_sync: sutra_cache::wal::SyncPolicy::Never,
        wal_io: sutra_cache::wal::IoChoice::Sync,
        // Segments of 256 KiB: the writer preallocates a fresh one at every open.
        wal_segment_bytes: 256 << 10,
        checkpoint_on_close: false,
        active_expire_interval_ms: 0,
        checkpoint_interval_ms: 0,
        index_min_elements: usize::MAX,
        analytics: fuzzing::small_analytics(),
        // No maintenance or warm-up thread per input, and fixed hash seeds: the same input
        // takes the same paths (and serves the same keys).
        no_background_threads: true,
        fixed_seeds: true,
        ..EngineConfig::default()
    }
}

/// The in-memory engines of `wal_decode` and `snapshot_load`: `data_dir_config` without the
/// data directory.
fn memory_config() -> EngineConfig {
    EngineConfig {
        active_expire_interval_ms: 0,
        index_min_elements: usize::MAX,
        analytics: fuzzing::small_analytics(),
        no_background_threads: true,
        fixed_seeds: true,
        ..EngineConfig::default()
    }
}

fn temp_dir() -> tempfile::TempDir {
    // /dev/shm when there is one: a fuzz run writes thousands of small files a second.
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("a temporary directory")
}

/// WAL records, read in memory by recovery's own scan. First byte (the mode) even: a list of
/// (kind, payload) records written into a valid segment; odd: the bytes are a segment file as
/// found on disk. Recovery's scan (`fuzzing::scan_segments`: the segment header, every
/// record's header and checksum, the damage rules) reads the segment; with mode bit 2 set,
/// from an LSN past the first (records a snapshot would cover: the covered-damage rules).
/// Written records must come back exactly; the records a default open would replay (none when
/// it would refuse the log) are applied to an in-memory engine as replay applies them, which
/// then serves what it holds when mode bit 1 is set (half the inputs: serving costs more than
/// decoding). No file, thread or data directory per input: `wal_open` is the same input
/// through a whole data directory's open.
pub fn wal_decode(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    let replay_from = if mode & 4 == 4 {
        1 + u64::from(mode >> 4)
    } else {
        1
    };
    let mut records: Vec<(u8, &[u8])> = Vec::new();
    let seg = if mode & 1 == 0 {
        while !input.is_empty() && records.len() < 64 {
            let kind = input.u8();
            records.push((kind, input.long()));
        }
        fuzzing::segment_bytes(0x5eed, 1, &records)
    } else {
        input.0.to_vec()
    };
    let (stats, replayed) =
        fuzzing::scan_segments(&[(1, &seg)], replay_from).expect("a scan in memory opens no file");
    assert_eq!(stats.records_replayed, replayed.len() as u64);
    for pair in replayed.windows(2) {
        assert_eq!(
            pair[0].lsn + 1,
            pair[1].lsn,
            "replayed LSNs are consecutive"
        );
    }
    if mode & 1 == 0 {
        // A segment the log's own encoder wrote holds exactly its records.
        assert_eq!(stats.damage, None, "a written segment is damaged");
        let skipped = (replay_from - 1).min(records.len() as u64) as usize;
        assert_eq!(stats.records_skipped, skipped as u64);
        assert_eq!(replayed.len(), records.len() - skipped);
        for (i, (r, (kind, payload))) in replayed.iter().zip(&records[skipped..]).enumerate() {
            assert_eq!(r.lsn, (skipped + i + 1) as u64);
            assert_eq!(
                (r.kind, &r.payload[..]),
                (*kind, *payload),
                "record {}",
                r.lsn
            );
        }
    }
    if stats.mid_log_damage {
        return;
    }
    let engine = Engine::open(memory_config()).unwrap();
    for r in &replayed {
        let _ = fuzzing::apply_logged(&engine, r.kind, &r.payload);
    }
    if mode & 2 == 2 {
        serve_everything(std::sync::Arc::new(engine));
    }
}

/// `wal_decode`'s input through a whole data directory. First byte even: a list of (kind,
/// payload) records, applied to an in-memory engine as replay applies them (which then serves
/// what it holds when the first byte has bit 1 set), then written into a valid segment that a
/// data directory opens from (replay through the log reader). Odd: the bytes are a segment
/// file as found on disk. Either way the engine that opens must serve what it loaded.
pub fn wal_open(data: &[u8]) {
    let mut input = Input(data);
    let mode = input.u8();
    let dir = temp_dir();
    let wal = dir.path().join("wal");
    std::fs::create_dir_all(&wal).unwrap();
    let seg = if mode & 1 == 0 {
        let mut records: Vec<(u8, &[u8])> = Vec::new();
        while !input.is_empty() && records.len() < 64 {
            let kind = input.u8();
            records.push((kind, input.long()));
        }
        let engine = Engine::open(EngineConfig {
            active_expire_interval_ms: 0,
            index_min_elements: usize::MAX,
            analytics: fuzzing::small_analytics(),
            fixed_seeds: true,
            ..EngineConfig::default()
        })
        .unwrap();
        for (kind, payload) in &records {
            let _ = fuzzing::apply_logged(&engine, *kind, payload);
        }
        if mode & 2 == 2 {
            serve_everything(std::sync::Arc::new(engine));
        }
        fuzzing::segment_bytes(0x5eed, 1, &records)
    } else {
        input.0.to_vec()
    };
    std::fs::File::create(wal.join(fuzzing::segment_name(1)))
        .and_then(|mut f| f.write_all(&seg))
        .unwrap();
    let _ = sutra_cache::wal::inspect(&wal, 1);
    if let Ok(engine) = Engine::open(data_dir_config(dir.path())) {
        let engine = std::sync::Arc::new(engine);
        serve_everything(engine.clone());
        let _ = engine.close();
    }
}

/// Snapshot loading. First byte even: sections (kind, tag, bytes) written into a file with
/// valid checksums, to reach the section decoders; odd: the bytes are the file. The file is
/// loaded into an in-memory engine as a data directory's open loads its snapshot
/// (`fuzzing::open_snapshot`: the same open, checksums, section loaders and end of recovery,
/// without the WAL, lock and analytics files and the WAL writer thread), which loads it or
/// refuses it with an error, and serves what it loaded. `snapshot_open` is the same input
/// through a whole data directory's open.
pub fn snapshot_load(data: &[u8]) {
    let dir = temp_dir();
    let Some(path) = snapshot_file(data, dir.path()) else {
        return;
    };
    if let Ok(engine) = fuzzing::open_snapshot(memory_config(), &path) {
        serve_everything(std::sync::Arc::new(engine));
    }
}

/// Writes `snapshot_load`'s input as a snapshot file into `dir`: its path (`None` when the
/// sections could not be written).
fn snapshot_file(data: &[u8], dir: &std::path::Path) -> Option<std::path::PathBuf> {
    let mut input = Input(data);
    let mode = input.u8();
    if mode & 1 == 0 {
        let lsn = u64::from(input.u8());
        let mut sections: Vec<(u32, u32, &[u8])> = Vec::new();
        while !input.is_empty() && sections.len() < 32 {
            let kind = u32::from(input.u8() % 9);
            let tag = u32::from(input.u8());
            sections.push((kind, tag, input.long()));
        }
        fuzzing::write_snapshot(dir, lsn, &sections).ok()
    } else {
        let path = dir.join(format!("snapshot-{:020}.snap", 1));
        std::fs::write(&path, input.0).unwrap();
        Some(path)
    }
}

/// `snapshot_load`'s input through a whole data directory: the directory holding the file
/// opens (or refuses with an error) and serves what it loaded.
pub fn snapshot_open(data: &[u8]) {
    let dir = temp_dir();
    if snapshot_file(data, dir.path()).is_none() {
        return;
    }
    if let Ok(engine) = Engine::open(data_dir_config(dir.path())) {
        let engine = std::sync::Arc::new(engine);
        serve_everything(engine.clone());
        let _ = engine.close();
    }
}

/// FILTER expressions: bytes up to the first NUL are the expression, the rest an attribute
/// document. Compiling never panics; a compiled filter evaluates against any document (and
/// none) without panicking, and deterministically.
pub fn filter_expr(data: &[u8]) {
    let (expr, attrs) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (
            data,
            &b"{\"a\":1,\"b\":\"x\",\"c\":[1,2],\"d\":null,\"e\":true}"[..],
        ),
    };
    let Ok(filter) = Filter::compile_arg(expr) else {
        return;
    };
    let attrs = String::from_utf8_lossy(attrs);
    let first = filter.matches(Some(&attrs));
    assert_eq!(
        first,
        filter.matches(Some(&attrs)),
        "same input, same answer"
    );
    let _ = filter.matches(None);
    let _ = filter.matches(Some(""));
    let _ = filter.matches(Some("[1,2,3]"));
}
