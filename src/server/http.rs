//! HTTP/1.x on the RESP port: `GET /health`, `GET /stats` (and the seed's `/cache/stats`),
//! `GET /metrics`, `GET /analytics?…` and `POST /api/query` (see [`super::http_analytics`]),
//! and `GET /dashboard`, a self-contained page that reads those (see [`DASHBOARD_HTML`]).
//!
//! A connection whose first line ends in `HTTP/1.0` or `HTTP/1.1` is HTTP. One request
//! per connection (`Connection: close`); anything unexpected gets a 4xx, never a panic.
//! With a password configured, everything but /health needs `Authorization: Bearer <password>`;
//! /health stays open.

use std::sync::atomic::Ordering::Relaxed;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::http_analytics::{self, MAX_BODY_BYTES};
use super::metrics;
use super::shared::Shared;

/// The dashboard (issue #15 point 7): one page, no external resource; its inline script draws
/// SVG charts from `/stats`, `/analytics` and `POST /api/query`.
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");

/// Longest request head (request line plus headers) accepted.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// Whether buffered input starts an HTTP request: `Some(true)` HTTP, `Some(false)` RESP,
/// `None` undecided (the first line is not complete yet).
pub fn looks_like_http(buf: &[u8]) -> Option<bool> {
    looks_like_http_resuming(buf, &mut 0)
}

/// [`looks_like_http`] over a buffer that grows between calls: `*scanned` (0 at first) is
/// where the search for the first line's end resumes, so a first line sent a byte at a time
/// is searched once, not once per read.
pub fn looks_like_http_resuming(buf: &[u8], scanned: &mut usize) -> Option<bool> {
    if buf.first() == Some(&b'*') {
        return Some(false);
    }
    let window = &buf[..buf.len().min(MAX_HEAD_BYTES)];
    let from = (*scanned).min(window.len());
    let Some(nl) = window[from..].iter().position(|&b| b == b'\n') else {
        *scanned = window.len();
        return if buf.len() >= MAX_HEAD_BYTES {
            Some(false)
        } else {
            None
        };
    };
    let nl = from + nl;
    let line = window[..nl].strip_suffix(b"\r").unwrap_or(&window[..nl]);
    Some(line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0"))
}

/// Where the request head ends (after its blank line), or `None` while it is incomplete.
pub(crate) fn head_end(buf: &[u8]) -> Option<usize> {
    HeadScan::default().find(buf)
}

/// The search for a request head's end over a buffer that grows between calls: the bytes
/// searched are not searched again, so a head sent a byte at a time costs its length, not
/// its length squared.
#[derive(Debug, Default)]
pub(crate) struct HeadScan {
    /// `buf[..scanned]` holds no head end (neither `\r\n\r\n` nor `\n\n`).
    scanned: usize,
    /// Bytes looked at (the tests' work bound).
    #[cfg(test)]
    examined: usize,
}

impl HeadScan {
    /// [`head_end`] of `buf`, the same buffer as at the last call with more at its end.
    /// As before: the first `\r\n\r\n`, else the first `\n\n`.
    pub(crate) fn find(&mut self, buf: &[u8]) -> Option<usize> {
        let from = self.scanned.min(buf.len());
        // A terminator may straddle the old end: start that far before it.
        let crlf = from.saturating_sub(3);
        let lf = from.saturating_sub(1);
        #[cfg(test)]
        {
            self.examined += (buf.len() - crlf) + (buf.len() - lf);
        }
        let found = buf[crlf..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| crlf + p + 4)
            .or_else(|| {
                buf[lf..]
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|p| lf + p + 2)
            });
        if found.is_none() {
            self.scanned = buf.len();
        }
        found
    }
}

/// Serves one HTTP request whose first bytes are already in `buf`, then closes.
pub async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    mut buf: BytesMut,
    shared: &Shared,
) {
    shared.stats.http_requests.fetch_add(1, Relaxed);
    // The head's end and declared body length, found once: a request arriving in pieces
    // is not searched again from its start at every read.
    let mut scan = HeadScan::default();
    let mut head = None;
    let response = loop {
        if head.is_none() {
            head = scan
                .find(&buf)
                .map(|end| (end, content_length(&buf[..end])));
        }
        match head {
            Some((_, Err(()))) => break plain(400, "Bad Request", "malformed Content-Length\n"),
            Some((_, Ok(n))) if n > MAX_BODY_BYTES => {
                break plain(413, "Payload Too Large", "request body over 16 KiB\n")
            }
            Some((end, Ok(n))) if buf.len() >= end + n => {
                break respond(&buf[..end], &buf[end..end + n], shared)
            }
            // The body is on its way (at most MAX_BODY_BYTES more).
            Some(_) => {}
            None if buf.len() > MAX_HEAD_BYTES => {
                break plain(
                    431,
                    "Request Header Fields Too Large",
                    "request head too large\n",
                );
            }
            None => {}
        }
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_buf(&mut buf),
        )
        .await;
        match read {
            Ok(Ok(n)) if n > 0 => {}
            _ => return,
        }
    };
    let _ = stream.write_all(&response).await;
    let _ = stream.shutdown().await;
}

fn response(status: u16, reason: &str, content_type: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn plain(status: u16, reason: &str, body: &str) -> Vec<u8> {
    response(status, reason, "text/plain; charset=utf-8", "", body)
}

/// The body's length the head declares (0 without Content-Length).
pub(crate) fn content_length(head: &[u8]) -> Result<usize, ()> {
    let head = std::str::from_utf8(head).map_err(|_| ())?;
    match head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
    {
        None => Ok(0),
        Some((_, v)) => v.trim().parse().map_err(|_| ()),
    }
}

/// The full response to one request (head and body).
pub fn respond(head: &[u8], body: &[u8], shared: &Shared) -> Vec<u8> {
    let Ok(head) = std::str::from_utf8(head) else {
        return plain(400, "Bad Request", "request head is not UTF-8\n");
    };
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return plain(400, "Bad Request", "malformed request line\n");
    };
    if !version.starts_with("HTTP/1.") {
        return plain(400, "Bad Request", "unsupported HTTP version\n");
    }
    let path = target.split('?').next().unwrap_or_default();
    let authorization = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.trim());
    let is_get = method == "GET" || method == "HEAD";
    let with_body = |r: Vec<u8>| {
        if method == "HEAD" {
            let end = head_end(&r).unwrap_or(r.len());
            r[..end].to_vec()
        } else {
            r
        }
    };
    let json = |(status, text): (u16, String)| {
        if status == 200 {
            response(200, "OK", "application/json", "", &text)
        } else {
            plain(
                status,
                if status == 400 {
                    "Bad Request"
                } else {
                    "Error"
                },
                &text,
            )
        }
    };
    match path {
        "/api/query" if method != "POST" => response(
            405,
            "Method Not Allowed",
            "text/plain; charset=utf-8",
            "Allow: POST\r\n",
            "POST a phrase: {\"query\": \"Show embedding cache performance\"}\n",
        ),
        "/stats" | "/metrics" | "/cache/stats" | "/analytics" | "/api/query"
            if !authorized(shared, authorization, path) =>
        {
            response(
                401,
                "Unauthorized",
                "text/plain; charset=utf-8",
                "WWW-Authenticate: Bearer realm=\"sutra-cache\"\r\n",
                "a Bearer token is required\n",
            )
        }
        "/api/query" => json(http_analytics::api_query(shared, body)),
        "/health" | "/stats" | "/metrics" | "/cache/stats" | "/analytics" | "/dashboard"
            if !is_get =>
        {
            response(
            405,
            "Method Not Allowed",
            "text/plain; charset=utf-8",
                "Allow: GET, HEAD\r\n",
                "method not allowed\n",
            )
        }
        "/dashboard" => with_body(response(
            200,
            "OK",
            "text/html; charset=utf-8",
            "Cache-Control: no-cache\r\nContent-Security-Policy: default-src 'none'; \
             script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; \
             img-src 'self' data:\r\n",
            DASHBOARD_HTML,
        )),
        "/health" => with_body(response(
            200,
            "OK",
            "application/json",
            "",
            &metrics::health_json(shared),
        )),
        "/analytics" => with_body(json(http_analytics::analytics(shared, target))),
        "/stats" | "/cache/stats" => with_body(response(
            200,
            "OK",
            "application/json",
            "",
            &metrics::stats_json(shared),
        )),
        "/metrics" => with_body(response(
            200,
            "OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "",
            &metrics::metrics_text(shared),
        )),
        _ => plain(
            404,
            "Not Found",
            "not found: try /health, /stats, /cache/stats, /metrics, /analytics, /dashboard or POST /api/query\n",
        ),
    }
}

/// Whether a request may read `path`: with the `default` user `nopass` (no --requirepass),
/// anyone; else `Authorization: Bearer <password>` (one of the default user's passwords, as
/// the dashboard sends), or `Authorization: Basic <base64 user:password>` for an ACL user
/// that is on and may run the command serving the same data (INFO for /stats, /cache/stats
/// and /metrics; ANALYTICS for /analytics and /api/query).
fn authorized(shared: &Shared, authorization: Option<&str>, path: &str) -> bool {
    let default = shared.acl.default_user();
    if default.enabled && default.nopass {
        return true;
    }
    let Some((scheme, token)) = authorization.and_then(|v| v.trim().split_once(' ')) else {
        return false;
    };
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return default.password_ok(token.as_bytes());
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return false;
    }
    use base64::Engine as _;
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(token) else {
        return false;
    };
    let Some(colon) = decoded.iter().position(|&b| b == b':') else {
        return false;
    };
    let (name, pass) = (&decoded[..colon], &decoded[colon + 1..]);
    let Some(user) = shared.acl.get(&String::from_utf8_lossy(name)) else {
        return false;
    };
    let command: &[u8] = match path {
        "/analytics" | "/api/query" => b"analytics",
        _ => b"info",
    };
    let spec = super::cmd::lookup(command).expect("a command of the table");
    user.password_ok(pass)
        && user
            .check(spec, &[bytes::Bytes::from_static(command)])
            .is_ok()
}

#[cfg(test)]
mod tests {
    use super::{head_end, looks_like_http, looks_like_http_resuming, HeadScan, MAX_HEAD_BYTES};

    /// What the resumable searches answer for each prefix of `wire` fed a byte at a time,
    /// and the bytes the head search looked at.
    fn byte_by_byte(wire: &[u8]) -> (Vec<Option<usize>>, Vec<Option<bool>>, usize) {
        let (mut scan, mut scanned) = (HeadScan::default(), 0);
        let (mut heads, mut kinds) = (Vec::new(), Vec::new());
        for n in 1..=wire.len() {
            heads.push(scan.find(&wire[..n]));
            kinds.push(looks_like_http_resuming(&wire[..n], &mut scanned));
        }
        (heads, kinds, scan.examined)
    }

    #[test]
    fn a_head_sent_a_byte_at_a_time_is_searched_once() {
        let mut wire = b"GET /health HTTP/1.1\r\n".to_vec();
        while wire.len() < MAX_HEAD_BYTES - 100 {
            wire.extend(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        wire.extend(b"\r\n");
        let (heads, kinds, examined) = byte_by_byte(&wire);
        assert_eq!(heads.last(), Some(&Some(wire.len())));
        assert!(heads[..wire.len() - 1].iter().all(Option::is_none));
        assert_eq!(kinds.last(), Some(&Some(true)));
        // Each byte is looked at by the two searches, and 4 more per read at the seam
        // (before: ~n² = 2.6·10^8 for this head).
        assert!(examined <= 6 * wire.len(), "{examined} for {}", wire.len());
    }

    proptest::proptest! {
        #[test]
        fn the_resumable_searches_answer_as_the_one_shot_ones(
            wire in proptest::collection::vec(
                proptest::sample::select(vec![b'\r', b'\n', b'a', b' ', b'*', b'H']),
                1..80,
            ),
        ) {
            let (heads, kinds, _) = byte_by_byte(&wire);
            for n in 1..=wire.len() {
                proptest::prop_assert_eq!(heads[n - 1], head_end(&wire[..n]));
                proptest::prop_assert_eq!(kinds[n - 1], looks_like_http(&wire[..n]));
            }
        }
    }

    #[test]
    fn the_first_line_decides_between_http_and_resp() {
        assert_eq!(
            looks_like_http(b"GET /health HTTP/1.1\r\nHost: x\r\n"),
            Some(true)
        );
        assert_eq!(looks_like_http(b"GET /health HTTP/1.0\n"), Some(true));
        assert_eq!(looks_like_http(b"*1\r\n$4\r\nPING\r\n"), Some(false));
        assert_eq!(looks_like_http(b"PING\r\n"), Some(false));
        assert_eq!(looks_like_http(b"GET /hea"), None);
    }
}
