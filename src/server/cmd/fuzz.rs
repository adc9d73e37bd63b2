//! Random commands from the whole table, with arguments drawn from a vocabulary of tokens
//! that have broken parsers before (signs, overflows, NaN, empty and binary strings, every
//! option keyword, vectors of the wrong size), run against one engine: no command may panic,
//! and every reply must be exactly one well-formed RESP2/RESP3 value.

use bytes::Bytes;

use super::{execute, After, Client, COMMANDS};
use crate::server::reply::Out;
use crate::server::shared::Shared;
use crate::server::ServerConfig;
use crate::{Engine, EngineConfig};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "16",
    "100",
    "-100",
    "65536",
    "65537",
    "4294967296",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "1e400",
    "-0",
    "0.5",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "+1",
    " 1",
    "1 ",
    "0x10",
    "",
    "*",
    "k",
    "k1",
    "k2",
    "s",
    "q",
    "n",
    "e1",
    "e2",
    "e3",
    "{\"a\":1}",
    "{bad",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "NX",
    "XX",
    "GT",
    "LT",
    "KEEPTTL",
    "GET",
    "COUNT",
    "MATCH",
    "TYPE",
    "string",
    "vectorset",
    "WITHSCORES",
    "WITHATTRIBS",
    "VALUES",
    "FP32",
    "ELE",
    "Q8",
    "NOQUANT",
    "BIN",
    "REDUCE",
    "M",
    "EF",
    "CAS",
    "SETATTR",
    "EPSILON",
    "TRUTH",
    "NOTHREAD",
    "FILTER",
    "RAW",
    "SYNC",
    "ASYNC",
    "ID",
    "SETNAME",
    "GETNAME",
    "SETINFO",
    "LIB-NAME",
    "LIB-VER",
    "INFO",
    "DOCS",
    "LIST",
    "COUNT",
    "GETKEYS",
    "maxmemory",
    "*max*",
    "keyspace",
    "all",
    "everything",
    "THRESHOLD",
    "LIMIT",
    "ELEMENTS",
    "WITHELEMENTS",
    "default",
    "AUTH",
    "SETNAME",
    "3",
    "2",
];

/// One argument: a token, a number near a boundary, a binary blob or a float vector blob.
fn arg(r: &mut Rng) -> Bytes {
    match r.below(10) {
        0 => {
            let n = r.below(40);
            Bytes::from((0..n).map(|_| r.next() as u8).collect::<Vec<u8>>())
        }
        1 => {
            // An FP32 blob: 1–8 floats, sometimes NaN or Inf, sometimes a ragged length.
            let n = 1 + r.below(8);
            let mut b = Vec::new();
            for _ in 0..n {
                let x = match r.below(8) {
                    0 => f32::NAN,
                    1 => f32::INFINITY,
                    _ => (r.below(2000) as f32 - 1000.0) / 100.0,
                };
                b.extend_from_slice(&x.to_le_bytes());
            }
            b.truncate(b.len() - r.below(2) * 2);
            Bytes::from(b)
        }
        2 => Bytes::from(format!("{}", r.next() as i64 >> r.below(64))),
        _ => Bytes::from_static(TOKENS[r.below(TOKENS.len())].as_bytes()),
    }
}

/// Length of the one RESP value at the start of `b`, or why it is not one.
fn value_len(b: &[u8]) -> Result<usize, String> {
    let line_end = b.windows(2).position(|w| w == b"\r\n").ok_or("no CRLF")?;
    let line = std::str::from_utf8(&b[1..line_end]).map_err(|e| e.to_string())?;
    let after = line_end + 2;
    let count = |s: &str| {
        s.parse::<i64>()
            .map_err(|e| format!("bad count {s:?}: {e}"))
    };
    match b[0] {
        b'+' | b'-' | b':' | b',' | b'_' | b'#' | b'(' => Ok(after),
        b'$' | b'=' | b'!' => {
            let n = count(line)?;
            if n < 0 {
                return Ok(after);
            }
            let end = after + n as usize;
            if b.get(end..end + 2) != Some(b"\r\n") {
                return Err(format!("bulk of {n} bytes not followed by CRLF"));
            }
            Ok(end + 2)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count(line)?;
            if n < 0 {
                return Ok(after);
            }
            let items = if matches!(b[0], b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut at = after;
            for _ in 0..items {
                at += value_len(&b[at..]).map_err(|e| format!("in an aggregate: {e}"))?;
            }
            Ok(at)
        }
        t => Err(format!("unknown type byte {:?}", t as char)),
    }
}

/// Valid commands (over a few keys and elements, so they meet each other's data), which the
/// fuzzer mutates: a token replaced, inserted or dropped.
const VALID: &[&str] = &[
    "SET k v EX 100",
    "SET k1 v1 PX 5 NX",
    "SET k2 v2 KEEPTTL GET",
    "GET k",
    "MGET k k1 k2 s",
    "MSET k v k1 v1",
    "DEL k k1",
    "UNLINK k2",
    "EXISTS k s q",
    "EXPIRE k 10 NX",
    "PEXPIRE k1 100 XX GT",
    "EXPIREAT k 1 LT",
    "TTL k",
    "PTTL s",
    "PERSIST k",
    "TYPE s",
    "SCAN 0 MATCH * COUNT 10 TYPE vectorset",
    "KEYS k*",
    "DBSIZE",
    "VADD s VALUES 3 1 2 3 e1 SETATTR {\"a\":1}",
    "VADD s VALUES 3 -1 0.5 2 e2 CAS EF 50 M 16",
    "VADD s VALUES 3 0 0 1 e3 EX 100",
    "VADD q VALUES 3 1 0 0 e1 Q8",
    "VADD n VALUES 3 1 1 0 e1 NOQUANT",
    "VADDM s FP32 e4 AACAPwAAAEAAAEBA",
    "VSIM s VALUES 3 1 2 3 WITHSCORES WITHATTRIBS COUNT 5 EF 10",
    "VSIM s ELE e1 EPSILON 0.5 TRUTH NOTHREAD",
    "VSIM q ELE e1 WITHSCORES",
    "VSIM s VALUES 3 1 2 3 FILTER .a==1 FILTER-EF 10",
    "VSIM s ELE e1 FILTER (.a+1)*2>=4||'x'in.b TRUTH",
    "VEMB s e1 RAW",
    "VEMB q e1 RAW",
    "VEMB n e1",
    "VREM s e2",
    "VCARD s",
    "VDIM q",
    "VINFO s",
    "VSETATTR s e1 {\"b\":2}",
    "VGETATTR s e1",
    "VRANDMEMBER s -3",
    "VRANDMEMBER s 2",
    "VISMEMBER s e1",
    "VGETF32 s e1",
    "VMGETF32 s e1 e2 e9",
    "VEXPIRE s e3 10",
    "VPEXPIRE s e3 -1",
    "VTTL s e1",
    "VPTTL s e3",
    "VPERSIST s e3",
    "VINVALIDATE s ELE e1 THRESHOLD 0.9 WITHELEMENTS",
    "VINVALIDATE s VALUES 3 1 2 3 THRESHOLD 0.99",
    "CACHESTATS s",
    "CACHESTATS",
    "HELLO 3",
    "HELLO 2 SETNAME c",
    "CLIENT SETNAME c",
    "CLIENT GETNAME",
    "CLIENT SETINFO LIB-NAME x",
    "CLIENT ID",
    "CONFIG GET *max*",
    "INFO keyspace",
    "COMMAND DOCS get",
    "COMMAND INFO vadd",
    "COMMAND COUNT",
    "ECHO hi",
    "PING",
    "SELECT 0",
    "TIME",
    "LASTSAVE",
    "SAVE",
    "BGSAVE",
];

/// A command: random tokens, or a valid one mutated.
fn command(r: &mut Rng, names: &[&str]) -> Vec<Bytes> {
    if r.below(3) == 0 {
        let mut args = vec![Bytes::from(
            names[r.below(names.len())].to_ascii_uppercase(),
        )];
        for _ in 0..r.below(7) {
            args.push(arg(r));
        }
        return args;
    }
    let mut args: Vec<Bytes> = VALID[r.below(VALID.len())]
        .split(' ')
        .map(|w| Bytes::from(w.to_string()))
        .collect();
    for _ in 0..r.below(3) {
        let at = 1 + r.below(args.len());
        match r.below(3) {
            0 if at < args.len() => args[at] = arg(r),
            1 => args.insert(at, arg(r)),
            _ if at < args.len() => {
                args.remove(at);
            }
            _ => {}
        }
    }
    args
}

fn run(seed: u64, commands: usize, config: EngineConfig) {
    let engine = std::sync::Arc::new(Engine::open(config).unwrap());
    let shared = Shared::new(engine, ServerConfig::default());
    let mut client = Client {
        authenticated: true,
        ..Client::default()
    };
    let mut r = Rng(seed | 1);
    let names: Vec<&str> = COMMANDS
        .iter()
        .map(|s| s.name)
        .filter(|n| !matches!(*n, "shutdown" | "quit"))
        .collect();
    let mut answered = 0;
    for i in 0..commands {
        let args = command(&mut r, &names);
        let mut out = Out {
            resp3: r.below(4) == 0,
            ..Out::default()
        };
        let shown: Vec<String> = args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let after = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let (after, durable) = shared
                .engine
                .deferring_durability(|w| execute(&shared, &mut client, &mut out, &args, false, w));
            durable.wait().expect("in memory, nothing to wait for");
            after
        }))
        .unwrap_or_else(|_| panic!("command {i} {shown:?} panicked"));
        // WAIT and SUTRA.PSYNC leave their reply to the connection.
        if after == After::Drop || client.deferred.take().is_some() {
            continue;
        }
        // (UN)SUBSCRIBE answers once per channel; every other command once.
        let per_channel = ["subscribe", "unsubscribe"]
            .iter()
            .any(|n| args[0].eq_ignore_ascii_case(n.as_bytes()));
        let mut at = 0;
        loop {
            let len = value_len(&out.buf[at..])
                .unwrap_or_else(|e| panic!("command {i} {shown:?}: reply {:?}: {e}", out.buf));
            at += len;
            if !per_channel || at >= out.buf.len() {
                break;
            }
        }
        assert_eq!(
            at,
            out.buf.len(),
            "command {i} {shown:?}: more than one reply {:?}",
            out.buf
        );
        // Leave subscribed mode so that the next commands run.
        if !client.subscriptions.is_empty() {
            super::leave(&shared, &mut client);
        }
        client.authenticated = true;
        client.close_after_reply = false;
        if out.buf.first() != Some(&b'-') {
            answered += 1;
        }
    }
    // Most commands must get past argument checking, or the deeper paths never run.
    assert!(
        answered * 4 > commands,
        "only {answered} of {commands} not errors"
    );
}

#[test]
fn random_commands_never_panic_and_reply_one_well_formed_value() {
    for seed in 1..=4 {
        run(seed, 20_000, EngineConfig::default());
    }
}

#[test]
fn random_commands_at_a_small_cap_never_panic() {
    run(
        99,
        20_000,
        EngineConfig {
            max_entries: 20,
            max_bytes: 4096,
            index_min_elements: 4,
            ..EngineConfig::default()
        },
    );
}

#[test]
fn random_commands_on_a_durable_engine_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    run(
        7,
        10_000,
        EngineConfig {
            data_dir: Some(dir.path().to_path_buf()),
            wal_sync: crate::SyncPolicy::Interval(50),
            index_min_elements: 4,
            ..EngineConfig::default()
        },
    );
}
