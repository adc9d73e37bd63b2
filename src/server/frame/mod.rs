//! RESP requests: check-then-parse of multibulk and inline commands, with limits.
//!
//! A request is what Redis accepts from a client: an array of bulk strings
//! (`*N\r\n$len\r\n…\r\n`, "multibulk") or one line of space-separated words ("inline").
//! Nested arrays and other types are refused, as Redis refuses them, so the nesting depth
//! of a request is one by construction.
//!
//! [`parse`] first *checks* that a whole request is buffered (reading only the length
//! headers, skipping payloads), and only then splits it off the buffer: the arguments
//! are [`Bytes`] slices of the one frozen request buffer, so bulk strings are never copied.
//! A connection parses with [`parse_into`] into a [`Scratch`] it keeps, so that a request
//! costs no allocation for its argument list, and so that the check of a request that
//! arrives in pieces resumes where the previous read left it ([`Scratch`]'s progress): the
//! work is linear in the bytes received however they are split (a 64 KiB inline request
//! sent a byte at a time, or a request of a million small arguments, is scanned once, not
//! once per read).
//! Errors carry Redis's text; after one the connection is closed, as Redis does.

use bytes::{Bytes, BytesMut};

mod split;

pub use split::split_args;

/// A connection's reused parsing buffers.
#[derive(Debug, Default)]
pub struct Scratch {
    /// The arguments of the request [`parse_into`] last parsed, name first (empty for an
    /// empty request).
    pub args: Vec<Bytes>,
    /// Where each argument sits in the request (the check's record, used by the split).
    spans: Vec<(usize, usize)>,
    /// How far the check of the buffered, still incomplete request got.
    progress: Progress,
}

/// Where the check of an incomplete request stopped, so that the next [`parse_into`] over
/// the same buffer (with more bytes at its end) resumes there. Offsets are from the
/// buffer's front, which only [`parse_into`] consumes: it resets this when it splits a
/// request off or refuses one. A buffer handed to something else is parsed there with a
/// fresh [`Scratch`].
#[derive(Debug, Default)]
struct Progress {
    /// Multibulk: the arguments the header announced (0: the header is not read yet).
    count: usize,
    /// Multibulk: where the next unchecked argument's `$` header starts; the arguments
    /// before it are in `spans`.
    pos: usize,
    /// Multibulk: the current argument's payload (start, end) once its header is read.
    bulk: Option<(usize, usize)>,
    /// Where the search for the end of the current line (a header's `\r`, an inline
    /// request's `\n`) resumes: the bytes before it were searched.
    scanned: usize,
    /// Bytes examined by the check since the scratch was made (the tests' work bound).
    #[cfg(test)]
    examined: usize,
}

impl Progress {
    fn reset(&mut self) {
        self.count = 0;
        self.pos = 0;
        self.bulk = None;
        self.scanned = 0;
    }

    /// Counts `n` bytes examined (tests only).
    #[inline(always)]
    fn examined(&mut self, _n: usize) {
        #[cfg(test)]
        {
            self.examined += _n;
        }
    }
}

/// Lists longer than this are not kept between requests (an idle connection keeps at most
/// 12 KiB of them: 256 arguments of 32 bytes, 256 spans of 16).
const SCRATCH_KEPT: usize = 256;

impl Scratch {
    /// Drops the arguments (their hold on the request buffer), keeping the lists' memory
    /// unless a huge request grew them. The check's progress over a request still arriving
    /// (and the spans it recorded) is kept.
    pub fn clear(&mut self) {
        self.args.clear();
        if self.args.capacity() > SCRATCH_KEPT {
            self.args = Vec::new();
        }
        if self.spans.capacity() > SCRATCH_KEPT && self.progress.count == 0 {
            self.spans = Vec::new();
        }
    }
}

/// Size limits on requests. Defaults are Redis's where Redis has one, smaller where a
/// Redis default would let one client hold gigabytes.
#[derive(Clone, Debug)]
pub struct FrameLimits {
    /// Longest bulk string (Redis's `proto-max-bulk-len`).
    pub max_bulk_len: usize,
    /// Most arguments in one request.
    pub max_array_len: usize,
    /// Longest inline request line, and longest length header (Redis's 64 KiB).
    pub max_inline_len: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_bulk_len: 64 << 20,
            max_array_len: 1 << 20,
            max_inline_len: 64 << 10,
        }
    }
}

/// Before AUTH, Redis accepts at most this many arguments …
const UNAUTH_MAX_ARRAY_LEN: usize = 10;
/// … and bulk strings at most this long.
const UNAUTH_MAX_BULK_LEN: usize = 16 << 10;

/// A protocol violation; the text follows `-ERR ` in the reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

/// One parsed request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    /// A command and its arguments (never empty).
    Command(Vec<Bytes>),
    /// An empty line or `*0` / `*-1`: nothing to do.
    Empty,
}

/// Parses one request off the front of `buf`. `Ok(None)` means "incomplete: read more".
/// `authenticated` applies Redis's tighter limits to clients that have not authenticated.
pub fn parse(
    buf: &mut BytesMut,
    limits: &FrameLimits,
    authenticated: bool,
) -> Result<Option<Request>, ProtocolError> {
    let mut s = Scratch::default();
    Ok(parse_into(buf, limits, authenticated, &mut s)?.map(|()| {
        if s.args.is_empty() {
            Request::Empty
        } else {
            Request::Command(s.args)
        }
    }))
}

/// [`parse`] into `s`: `Ok(Some(()))` when a request was split off, its arguments in
/// `s.args` (none for an empty request), which is cleared first.
pub fn parse_into(
    buf: &mut BytesMut,
    limits: &FrameLimits,
    authenticated: bool,
    s: &mut Scratch,
) -> Result<Option<()>, ProtocolError> {
    s.args.clear();
    let p = &s.progress;
    if buf.is_empty() || p.pos > buf.len() || p.scanned > buf.len() {
        // Nothing buffered, or not the buffer the progress was made on: start over.
        s.progress.reset();
        if buf.is_empty() {
            return Ok(None);
        }
    }
    let result = if buf[0] == b'*' {
        parse_multibulk(buf, limits, authenticated, s)
    } else {
        parse_inline(buf, limits, s)
    };
    if !matches!(result, Ok(None)) {
        // A request split off, or refused: the next check starts at the new front.
        s.progress.reset();
    }
    result
}

/// Finds the first `byte` of `buf[from..]` (its index in `buf`), resuming the search at
/// `*scanned` when that is further on and recording how far it got: bytes are searched
/// once however often the line's end is looked for.
fn find_resuming(buf: &[u8], from: usize, byte: u8, p: &mut Progress) -> Option<usize> {
    let start = from.max(p.scanned);
    match buf[start..].iter().position(|&b| b == byte) {
        Some(rel) => {
            p.examined(rel + 1);
            p.scanned = start + rel;
            Some(start + rel)
        }
        None => {
            p.examined(buf.len() - start);
            p.scanned = buf.len();
            None
        }
    }
}

/// Redis's `string2ll` (the engine's reader, shared so INCR and RESP agree).
pub(crate) use crate::engine::parse_redis_int as parse_i64;

/// Reads a `<prefix><integer>\r\n` header at `pos`; returns (value, position after it).
/// The search for its `\r` resumes where the last call over the same header stopped.
fn header(
    buf: &[u8],
    pos: usize,
    limits: &FrameLimits,
    too_big: &'static str,
    invalid: &'static str,
    p: &mut Progress,
) -> Result<Option<(i64, usize)>, ProtocolError> {
    let Some(cr) = find_resuming(buf, pos, b'\r', p) else {
        if buf.len() - pos > limits.max_inline_len {
            return Err(ProtocolError(too_big));
        }
        return Ok(None);
    };
    if cr - pos > limits.max_inline_len {
        return Err(ProtocolError(too_big));
    }
    if cr + 1 >= buf.len() {
        return Ok(None);
    }
    if buf[cr + 1] != b'\n' {
        return Err(ProtocolError(invalid));
    }
    p.examined(cr - pos);
    let value = parse_i64(&buf[pos + 1..cr]).ok_or(ProtocolError(invalid))?;
    Ok(Some((value, cr + 2)))
}

fn parse_multibulk(
    buf: &mut BytesMut,
    limits: &FrameLimits,
    authenticated: bool,
    s: &mut Scratch,
) -> Result<Option<()>, ProtocolError> {
    const INVALID_MB: &str = "Protocol error: invalid multibulk length";
    const INVALID_BULK: &str = "Protocol error: invalid bulk length";
    let p = &mut s.progress;
    if p.count == 0 {
        let Some((count, pos)) = header(
            buf,
            0,
            limits,
            "Protocol error: too big mbulk count string",
            INVALID_MB,
            p,
        )?
        else {
            return Ok(None);
        };
        if count <= 0 {
            let _ = buf.split_to(pos);
            return Ok(Some(()));
        }
        if count > i64::from(i32::MAX) || count as u64 > limits.max_array_len as u64 {
            return Err(ProtocolError(INVALID_MB));
        }
        if !authenticated && count as usize > UNAUTH_MAX_ARRAY_LEN {
            return Err(ProtocolError(
                "Protocol error: unauthenticated multibulk length",
            ));
        }
        p.count = count as usize;
        p.pos = pos;
        p.scanned = pos;
        s.spans.clear();
        s.spans.reserve(p.count.min(1024));
    }
    // Check: walk every header, skipping payloads, until the whole request is here,
    // resuming at the first argument not checked yet. Spans are recorded so that the split
    // below does not re-parse.
    while s.spans.len() < p.count {
        let (data, end) = match p.bulk {
            Some(bulk) => bulk,
            None => {
                let pos = p.pos;
                if pos >= buf.len() {
                    reserve_hint(buf, pos + 16);
                    return Ok(None);
                }
                if buf[pos] != b'$' {
                    return Err(ProtocolError(expected_dollar(buf[pos])));
                }
                let Some((len, data)) = header(
                    buf,
                    pos,
                    limits,
                    "Protocol error: too big bulk count string",
                    INVALID_BULK,
                    p,
                )?
                else {
                    return Ok(None);
                };
                if len < 0 || len as u64 > limits.max_bulk_len as u64 {
                    return Err(ProtocolError(INVALID_BULK));
                }
                if !authenticated && len as usize > UNAUTH_MAX_BULK_LEN {
                    return Err(ProtocolError("Protocol error: unauthenticated bulk length"));
                }
                let bulk = (data, data + len as usize);
                p.bulk = Some(bulk);
                bulk
            }
        };
        if end + 2 > buf.len() {
            reserve_hint(buf, end + 2);
            return Ok(None);
        }
        p.examined(2);
        if &buf[end..end + 2] != b"\r\n" {
            return Err(ProtocolError(
                "Protocol error: bulk string not terminated by CRLF",
            ));
        }
        s.spans.push((data, end));
        p.bulk = None;
        p.pos = end + 2;
        p.scanned = p.pos;
    }
    // Parse: split the request off and hand out slices of it.
    let frame = buf.split_to(p.pos).freeze();
    s.args
        .extend(s.spans.iter().map(|&(from, to)| frame.slice(from..to)));
    Ok(Some(()))
}

/// Makes room for a request whose end we now know, so big values arrive in one buffer.
fn reserve_hint(buf: &mut BytesMut, needed: usize) {
    if needed > buf.capacity() {
        buf.reserve(needed - buf.len());
    }
}

fn expected_dollar(got: u8) -> &'static str {
    // Redis prints the byte it got; keep the common cases exact and the rest generic.
    match got {
        b'*' => "Protocol error: expected '$', got '*'",
        b':' => "Protocol error: expected '$', got ':'",
        b'+' => "Protocol error: expected '$', got '+'",
        b'-' => "Protocol error: expected '$', got '-'",
        b'%' => "Protocol error: expected '$', got '%'",
        b'~' => "Protocol error: expected '$', got '~'",
        b'\r' => "Protocol error: expected '$', got '\r'",
        b'\n' => "Protocol error: expected '$', got '\n'",
        b'0'..=b'9' => "Protocol error: expected '$', got a digit",
        _ => "Protocol error: expected '$', got something else",
    }
}

fn parse_inline(
    buf: &mut BytesMut,
    limits: &FrameLimits,
    s: &mut Scratch,
) -> Result<Option<()>, ProtocolError> {
    let Some(nl) = find_resuming(buf, 0, b'\n', &mut s.progress) else {
        if buf.len() > limits.max_inline_len {
            return Err(ProtocolError("Protocol error: too big inline request"));
        }
        return Ok(None);
    };
    if nl > limits.max_inline_len {
        return Err(ProtocolError("Protocol error: too big inline request"));
    }
    let line = buf.split_to(nl + 1);
    let mut line = &line[..nl];
    if line.last() == Some(&b'\r') {
        line = &line[..line.len() - 1];
    }
    let args = split_args(line).ok_or(ProtocolError(
        "Protocol error: unbalanced quotes in request",
    ))?;
    if args.len() > limits.max_array_len {
        return Err(ProtocolError("Protocol error: invalid multibulk length"));
    }
    s.args.extend(args.into_iter().map(Bytes::from));
    Ok(Some(()))
}

#[cfg(test)]
mod tests;
