//! The front end's decoders as the fuzz targets under `fuzz/` drive them (see
//! [`crate::fuzzing`]): RESP framing, the HTTP request head, and commands run in process
//! against an in-memory engine, exactly as a connection runs them.

use std::sync::{Arc, OnceLock};

use bytes::{Bytes, BytesMut};

use super::cmd::{execute, After, Client};
use super::frame::{parse_into, split_args, FrameLimits, Scratch};
use super::reply::Out;
use super::shared::Shared;
use super::ServerConfig;
use crate::{Engine, EngineConfig};

/// What [`resp_stream`] made of a buffer: the requests, then how it stopped.
#[derive(Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Every request parsed, in order (`None` for an empty request).
    pub requests: Vec<Option<Vec<Bytes>>>,
    /// The protocol error that stopped parsing, if one did (else the rest is incomplete).
    pub error: Option<&'static str>,
    /// Bytes left unparsed when no error stopped parsing (0 after an error: the connection
    /// closes, and how much it had read by then depends on how the bytes arrived).
    pub left: usize,
}

fn drain(
    buf: &mut BytesMut,
    limits: &FrameLimits,
    auth: bool,
    scratch: &mut Scratch,
    into: &mut Parsed,
) -> bool {
    loop {
        match parse_into(buf, limits, auth, scratch) {
            Ok(Some(())) if scratch.args.is_empty() => into.requests.push(None),
            Ok(Some(())) => into.requests.push(Some(std::mem::take(&mut scratch.args))),
            Ok(None) => return true,
            Err(e) => {
                into.error = Some(e.0);
                return false;
            }
        }
    }
}

/// Small limits, so that the fuzzer reaches every limit check with small inputs.
pub fn small_limits() -> FrameLimits {
    FrameLimits {
        max_bulk_len: 4096,
        max_array_len: 64,
        max_inline_len: 1024,
    }
}

/// Parses `data` as a connection reads it, arriving in pieces that end at `cuts` (offsets,
/// in any order; out-of-range ones are ignored), through one [`Scratch`] whose check resumes
/// from one piece to the next, as a connection's does. Parsing stops at the first protocol
/// error, as the connection closes then.
pub fn resp_stream(data: &[u8], cuts: &[usize], limits: &FrameLimits, auth: bool) -> Parsed {
    let mut cuts: Vec<usize> = cuts.iter().copied().filter(|&c| c < data.len()).collect();
    cuts.sort_unstable();
    cuts.push(data.len());
    let mut parsed = Parsed {
        requests: Vec::new(),
        error: None,
        left: 0,
    };
    let mut buf = BytesMut::new();
    let mut scratch = Scratch::default();
    let mut from = 0;
    for cut in cuts {
        buf.extend_from_slice(&data[from..cut]);
        from = cut;
        if !drain(&mut buf, limits, auth, &mut scratch, &mut parsed) {
            break;
        }
        // As a connection between two reads.
        scratch.clear();
    }
    if parsed.error.is_none() {
        parsed.left = buf.len();
    }
    parsed
}

/// The inline-command splitter (quotes and escapes, as redis-cli's `sdssplitargs`).
pub fn split_inline(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    split_args(line)
}

fn http_shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let engine = Engine::open(EngineConfig {
            active_expire_interval_ms: 0,
            index_min_elements: usize::MAX,
            fixed_seeds: true,
            ..EngineConfig::default()
        })
        .expect("an in-memory engine opens");
        let config = ServerConfig {
            requirepass: Some("secret".into()),
            ..ServerConfig::default()
        };
        Shared::new(Arc::new(engine), config)
    })
}

/// Whether `data` is taken for HTTP on the RESP port, and if its head is complete, the
/// response the server sends to it (a password `secret` is configured).
pub fn http_request(data: &[u8]) -> (Option<bool>, Option<Vec<u8>>) {
    let is_http = super::http::looks_like_http(data);
    // As `http::serve` decides once the bytes so far are all that came (a bad or too large
    // Content-Length gets a fixed 400/413 there, without parsing further).
    let response = super::http::head_end(data).and_then(|end| {
        match super::http::content_length(&data[..end]) {
            Ok(n) if n <= super::http_analytics::MAX_BODY_BYTES && data.len() >= end + n => Some(
                super::http::respond(&data[..end], &data[end..end + n], http_shared()),
            ),
            _ => None,
        }
    });
    (is_http, response)
}

/// `ServerConfig::default()`, built once: it runs the command-line parser over no arguments
/// (with clap's debug assertions in a fuzz build, most of the time of a short input). Without
/// latency tracking: which histogram buckets a command's time lands in is the machine's
/// doing, not the input's (paths the fuzzer would see change from run to run); CONFIG SET
/// latency-tracking yes still turns it on.
fn default_config() -> ServerConfig {
    static DEFAULT: OnceLock<ServerConfig> = OnceLock::new();
    DEFAULT
        .get_or_init(|| ServerConfig {
            latency_tracking: false,
            ..ServerConfig::default()
        })
        .clone()
}

/// The analytics defaults with a lookup log of 1,024 entries instead of 4 Mi: the same code
/// paths, without allocating and freeing a 64 MiB ring for every input.
pub fn small_analytics() -> crate::analytics::AnalyticsConfig {
    crate::analytics::AnalyticsConfig {
        lookup_log_entries: 1024,
        ..Default::default()
    }
}

/// One client of an in-memory engine whose clock moves only when told to: commands run
/// through the same [`execute`] a connection calls.
pub struct Session {
    shared: Shared,
    client: Client,
    clock: Arc<crate::ManualClock>,
}

impl Session {
    /// A fresh engine (no background threads, no HNSW builds, fixed hash seeds: runs are
    /// deterministic)
    /// with `max_entries`/`max_bytes` caps (0 = none).
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let clock = crate::ManualClock::new(1_700_000_000_000);
        let engine = Engine::open(EngineConfig {
            max_entries,
            max_bytes,
            clock: clock.clone(),
            active_expire_interval_ms: 0,
            index_min_elements: usize::MAX,
            analytics: small_analytics(),
            fixed_seeds: true,
            ..EngineConfig::default()
        })
        .expect("an in-memory engine opens");
        Self::with_engine(Arc::new(engine), clock)
    }

    /// A client of `engine` (whose configuration reads `clock`).
    pub fn with_engine(engine: Arc<Engine>, clock: Arc<crate::ManualClock>) -> Self {
        let shared = Shared::new(engine, default_config());
        let client = Client {
            authenticated: true,
            ..Client::default()
        };
        Self {
            shared,
            client,
            clock,
        }
    }

    /// Moves the engine's clock forward.
    pub fn advance_ms(&self, ms: u64) {
        self.clock.advance(ms);
    }

    /// Runs one command (`args` non-empty) and returns its reply bytes (RESP3 when
    /// `resp3`), or `None` when the connection would be dropped without a reply.
    pub fn run(&mut self, args: &[Bytes], resp3: bool) -> Option<Vec<u8>> {
        let mut out = Out {
            resp3,
            ..Out::default()
        };
        let shared = &self.shared;
        let client = &mut self.client;
        let (after, durable) = shared
            .engine
            .deferring_durability(|w| execute(shared, client, &mut out, args, false, w));
        durable.wait().expect("in memory: nothing to wait for");
        // Leave subscribed mode and undo QUIT/AUTH effects so that the next commands run.
        if !self.client.subscriptions.is_empty() {
            super::cmd::leave(&self.shared, &mut self.client);
        }
        self.client.authenticated = true;
        self.client.close_after_reply = false;
        (after != After::Drop).then(|| out.buf.to_vec())
    }
}
