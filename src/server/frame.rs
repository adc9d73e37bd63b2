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

/// Splits an inline line as Redis's `sdssplitargs`: words separated by blanks, "double
/// quotes" with `\n \r \t \b \a \\ \" \xHH` escapes, 'single quotes' with `\'`.
/// `None` for unbalanced quotes or a closing quote not followed by a blank.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return Some(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 3 < n && line[i + 1] == b'x' {
                    if let (Some(h), Some(l)) = (hex(line[i + 2]), hex(line[i + 3])) {
                        cur.push(h * 16 + l);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < n {
                    i += 1;
                    cur.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                } else {
                    cur.push(c);
                }
                i += 1;
            } else if in_sq {
                if i >= n {
                    return None;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return None;
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => cur.push(c),
                }
                i += 1;
            }
        }
        args.push(cur);
    }
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Vec<Request>, ProtocolError> {
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(r) = parse(&mut buf, &FrameLimits::default(), true)? {
            out.push(r);
        }
        Ok(out)
    }

    fn cmd(args: &[&str]) -> Request {
        Request::Command(
            args.iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn pipelined_multibulk_requests_parse_one_after_another() {
        let got = parse_all(b"*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n").unwrap();
        assert_eq!(got, vec![cmd(&["PING"]), cmd(&["GET", "k"])]);
    }

    #[test]
    fn a_request_split_anywhere_waits_for_the_rest() {
        let full = b"*2\r\n$3\r\nGET\r\n$5\r\nhello\r\n";
        for cut in 0..full.len() {
            let mut buf = BytesMut::from(&full[..cut]);
            assert_eq!(
                parse(&mut buf, &FrameLimits::default(), true),
                Ok(None),
                "cut {cut}"
            );
            assert_eq!(buf.len(), cut, "nothing consumed at cut {cut}");
        }
    }

    #[test]
    fn inline_commands_split_on_blanks_and_honour_quotes() {
        let got = parse_all(b"SET k \"a b\\x41\\n\"\r\nset 'it\\'s' x\n\r\n").unwrap();
        assert_eq!(
            got,
            vec![
                cmd(&["SET", "k", "a bA\n"]),
                cmd(&["set", "it's", "x"]),
                Request::Empty
            ]
        );
    }

    #[test]
    fn unbalanced_quotes_are_a_protocol_error() {
        assert_eq!(
            parse_all(b"SET \"k\r\n"),
            Err(ProtocolError(
                "Protocol error: unbalanced quotes in request"
            ))
        );
        assert_eq!(
            parse_all(b"SET \"k\"x\r\n"),
            Err(ProtocolError(
                "Protocol error: unbalanced quotes in request"
            ))
        );
    }

    #[test]
    fn bad_lengths_get_redis_errors() {
        let inv_bulk = Err(ProtocolError("Protocol error: invalid bulk length"));
        assert_eq!(parse_all(b"*1\r\n$-5\r\n"), inv_bulk);
        assert_eq!(parse_all(b"*1\r\n$abc\r\n"), inv_bulk);
        assert_eq!(parse_all(b"*1\r\n$99999999999\r\n"), inv_bulk);
        let inv_mb = Err(ProtocolError("Protocol error: invalid multibulk length"));
        assert_eq!(parse_all(b"*x\r\n"), inv_mb);
        assert_eq!(parse_all(b"*99999999999\r\n"), inv_mb);
        assert_eq!(
            parse_all(b"*1\r\n*1\r\n"),
            Err(ProtocolError("Protocol error: expected '$', got '*'"))
        );
    }

    #[test]
    fn unauthenticated_clients_get_tighter_limits() {
        let mut buf = BytesMut::from(&b"*11\r\n"[..]);
        assert_eq!(
            parse(&mut buf, &FrameLimits::default(), false),
            Err(ProtocolError(
                "Protocol error: unauthenticated multibulk length"
            ))
        );
        let mut buf = BytesMut::from(&b"*1\r\n$16385\r\n"[..]);
        assert_eq!(
            parse(&mut buf, &FrameLimits::default(), false),
            Err(ProtocolError("Protocol error: unauthenticated bulk length"))
        );
    }

    #[test]
    fn zero_and_negative_counts_are_empty_requests() {
        assert_eq!(
            parse_all(b"*0\r\n*-1\r\n").unwrap(),
            vec![Request::Empty, Request::Empty]
        );
    }

    #[test]
    fn integers_parse_as_redis_string2ll() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-12"), Some(-12));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b"01",
            b"-0",
            b"1 ",
            b" 1",
            b"1.0",
            b"abc",
            b"9223372036854775808",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn a_reused_scratch_holds_only_the_last_requests_arguments() {
        let wire =
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*0\r\nGET k\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3";
        let mut buf = BytesMut::from(&wire[..]);
        let mut s = Scratch::default();
        let limits = FrameLimits::default();
        let mut got = Vec::new();
        while let Some(()) = parse_into(&mut buf, &limits, true, &mut s).unwrap() {
            got.push(s.args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
        }
        let want: Vec<Vec<Vec<u8>>> = vec![
            vec![b"SET".to_vec(), b"k".to_vec(), b"v".to_vec()],
            vec![],
            vec![b"GET".to_vec(), b"k".to_vec()],
            vec![b"PING".to_vec()],
        ];
        assert_eq!(got, want);
        assert!(
            s.args.is_empty(),
            "an incomplete request leaves no arguments"
        );
    }
    #[test]
    fn arguments_are_slices_of_one_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nSET\r\n$5\r\nvalue\r\n"[..]);
        let Some(Request::Command(args)) = parse(&mut buf, &FrameLimits::default(), true).unwrap()
        else {
            panic!("expected a command");
        };
        let gap = args[1].as_ptr() as usize - args[0].as_ptr() as usize;
        assert_eq!(
            gap,
            3 + 2 + 4,
            "the value sits right after SET\\r\\n$5\\r\\n"
        );
    }

    /// Every outcome of parsing `wire` (requests as argument lists, then the error if one
    /// ends it), fed in `chunks` (sizes, cycled; empty: all at once) through one scratch.
    fn outcomes(
        wire: &[u8],
        chunks: &[usize],
        limits: &FrameLimits,
        authenticated: bool,
    ) -> (Vec<Vec<Vec<u8>>>, Option<ProtocolError>, usize) {
        let mut buf = BytesMut::new();
        let mut s = Scratch::default();
        let mut got = Vec::new();
        let mut fed = 0;
        let mut sizes = chunks.iter().cycle();
        while fed < wire.len() {
            let n = sizes
                .next()
                .map_or(wire.len(), |&n| n.max(1))
                .min(wire.len() - fed);
            buf.extend_from_slice(&wire[fed..fed + n]);
            fed += n;
            loop {
                match parse_into(&mut buf, limits, authenticated, &mut s) {
                    Ok(Some(())) => got.push(s.args.iter().map(|a| a.to_vec()).collect()),
                    Ok(None) => break,
                    Err(e) => return (got, Some(e), s.progress.examined),
                }
            }
            s.clear();
        }
        (got, None, s.progress.examined)
    }

    /// A pipeline of multibulk requests of `args` arguments of `len` bytes.
    fn multibulk(args: usize, len: usize) -> Vec<u8> {
        let mut wire = format!("*{args}\r\n").into_bytes();
        for i in 0..args {
            wire.extend(format!("${len}\r\n").as_bytes());
            wire.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, len));
            wire.extend(b"\r\n");
        }
        wire
    }

    #[test]
    fn a_long_inline_request_sent_a_byte_at_a_time_is_scanned_once() {
        let limits = FrameLimits::default();
        let mut wire = b"SET k ".to_vec();
        wire.extend(std::iter::repeat_n(b'v', limits.max_inline_len - 10));
        wire.extend(b"\r\n");
        let (got, err, examined) = outcomes(&wire, &[1], &limits, true);
        assert_eq!(err, None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0][2].len(), limits.max_inline_len - 10);
        // Before the check resumed: ~n²/2 = 2·10^9 bytes for this request.
        assert!(
            examined <= wire.len(),
            "{examined} bytes examined for a request of {}",
            wire.len()
        );
    }

    #[test]
    fn a_request_of_many_small_arguments_sent_a_byte_at_a_time_is_checked_once() {
        let limits = FrameLimits::default();
        let wire = multibulk(20_000, 1);
        let (got, err, examined) = outcomes(&wire, &[1], &limits, true);
        assert_eq!(err, None);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), 20_000);
        assert!(got[0]
            .iter()
            .enumerate()
            .all(|(i, a)| a == &[b'a' + (i % 26) as u8]));
        // Before: every header re-checked at every read, ~(7·20,000)²/14 = 1.4·10^9.
        assert!(
            examined <= 2 * wire.len(),
            "{examined} bytes examined for a request of {}",
            wire.len()
        );
        // And in pieces of other sizes, with payloads split too.
        let wire = multibulk(3_000, 100);
        let (got, err, examined) = outcomes(&wire, &[7, 1, 130, 3], &limits, true);
        assert_eq!((got.len(), got[0].len(), err), (1, 3_000, None));
        assert!(examined <= 2 * wire.len(), "{examined}");
    }

    #[test]
    fn a_long_unterminated_line_is_refused_after_one_scan() {
        let limits = FrameLimits::default();
        let wire = vec![b'x'; limits.max_inline_len + 1];
        let (got, err, examined) = outcomes(&wire, &[1], &limits, true);
        assert!(got.is_empty());
        assert_eq!(
            err,
            Some(ProtocolError("Protocol error: too big inline request"))
        );
        assert!(examined <= wire.len(), "{examined}");
        let mut wire = b"*1\r\n$".to_vec();
        wire.extend(std::iter::repeat_n(b'1', limits.max_inline_len + 1));
        let (_, err, examined) = outcomes(&wire, &[1], &limits, true);
        assert_eq!(
            err,
            Some(ProtocolError("Protocol error: too big bulk count string"))
        );
        assert!(examined <= 2 * wire.len(), "{examined}");
    }

    #[test]
    fn the_progress_starts_over_after_a_request_and_after_an_error() {
        let limits = FrameLimits::default();
        let mut s = Scratch::default();
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1"[..]);
        assert_eq!(parse_into(&mut buf, &limits, true, &mut s), Ok(None));
        assert_eq!(s.spans.len(), 1);
        // A batch ends between the reads: the spans recorded so far stay.
        s.clear();
        buf.extend_from_slice(b"\r\nk\r\nPING\r\n");
        assert_eq!(parse_into(&mut buf, &limits, true, &mut s), Ok(Some(())));
        assert_eq!(s.args, ["GET", "k"]);
        assert_eq!(parse_into(&mut buf, &limits, true, &mut s), Ok(Some(())));
        assert_eq!(s.args, ["PING"]);
        let mut buf = BytesMut::from(&b"*1\r\n$2\r\nabXY"[..]);
        assert!(parse_into(&mut buf, &limits, true, &mut s).is_err());
        assert_eq!(
            (s.progress.count, s.progress.pos, s.progress.scanned),
            (0, 0, 0)
        );
        // Another buffer (a connection's next life) parses from its own front.
        let mut buf = BytesMut::from(&b"ECHO x\n"[..]);
        assert_eq!(parse_into(&mut buf, &limits, true, &mut s), Ok(Some(())));
        assert_eq!(s.args, ["ECHO", "x"]);
    }
    proptest::proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_consume_past_the_input(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            authenticated in proptest::prelude::any::<bool>(),
        ) {
            let limits = FrameLimits { max_bulk_len: 64, max_array_len: 16, max_inline_len: 128 };
            let mut buf = BytesMut::from(&data[..]);
            let mut before = buf.len();
            while let Ok(Some(_)) = parse(&mut buf, &limits, authenticated) {
                proptest::prop_assert!(buf.len() < before || buf.is_empty());
                before = buf.len();
            }
        }

        #[test]
        fn bytes_fed_in_any_pieces_parse_as_they_do_at_once(
            reqs in proptest::collection::vec(
                (
                    proptest::prelude::any::<bool>(),
                    proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12), 0..6),
                ),
                0..6,
            ),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            chunks in proptest::collection::vec(1usize..9, 0..4),
            authenticated in proptest::prelude::any::<bool>(),
        ) {
            // Valid requests (multibulk, or inline words of printable bytes), then garbage.
            let mut wire = Vec::new();
            for (inline, args) in &reqs {
                if *inline {
                    for a in args {
                        wire.extend(a.iter().map(|b| b'a' + b % 26));
                        wire.push(b' ');
                    }
                    wire.extend(b"\r\n");
                } else {
                    wire.extend(format!("*{}\r\n", args.len()).as_bytes());
                    for a in args {
                        wire.extend(format!("${}\r\n", a.len()).as_bytes());
                        wire.extend(a);
                        wire.extend(b"\r\n");
                    }
                }
            }
            wire.extend(&tail);
            let limits = FrameLimits { max_bulk_len: 10, max_array_len: 5, max_inline_len: 24 };
            let (once, once_err, _) = outcomes(&wire, &[], &limits, authenticated);
            for pieces in [&[1][..], &chunks[..]] {
                let (got, err, examined) = outcomes(&wire, pieces, &limits, authenticated);
                proptest::prop_assert_eq!(&got, &once);
                proptest::prop_assert_eq!(&err, &once_err);
                proptest::prop_assert!(examined <= 2 * wire.len() + 2, "{} for {}", examined, wire.len());
            }
        }

        #[test]
        fn a_pipeline_parses_the_same_however_it_is_split(
            cmds in proptest::collection::vec(
                proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..5),
                1..6,
            ),
            cut in 0usize..400,
        ) {
            let mut wire = Vec::new();
            for c in &cmds {
                wire.extend(format!("*{}\r\n", c.len()).as_bytes());
                for a in c {
                    wire.extend(format!("${}\r\n", a.len()).as_bytes());
                    wire.extend(a);
                    wire.extend(b"\r\n");
                }
            }
            let cut = cut.min(wire.len());
            let mut buf = BytesMut::new();
            let mut got = Vec::new();
            for chunk in [&wire[..cut], &wire[cut..]] {
                buf.extend_from_slice(chunk);
                while let Some(r) = parse(&mut buf, &FrameLimits::default(), true).unwrap() {
                    if let Request::Command(args) = r {
                        got.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
                    }
                }
            }
            proptest::prop_assert_eq!(got, cmds);
            proptest::prop_assert!(buf.is_empty());
        }
    }
}
