//! The parser's cases, the resumed check's work bounds, and its proptests.

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
