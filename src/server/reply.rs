//! RESP2 / RESP3 reply encoding straight into the connection's output buffer.
//!
//! Commands write their reply through [`Out`]; it knows the protocol version the client
//! chose with HELLO and picks the encoding Redis picks for each reply kind (a map is a
//! flat array in RESP2, a double a bulk string, a boolean an integer, null `$-1`).

use bytes::{BufMut, BytesMut};

/// The reply sink of one connection.
#[derive(Debug, Default)]
pub struct Out {
    /// Encoded replies not yet written to the socket.
    pub buf: BytesMut,
    /// RESP3 after `HELLO 3`.
    pub resp3: bool,
}

impl Out {
    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.buf.reserve(body.len() + 3);
        self.buf.put_u8(prefix);
        self.buf.put_slice(body);
        self.buf.put_slice(b"\r\n");
    }

    fn int_line(&mut self, prefix: u8, n: i64) {
        let mut b = itoa::Buffer::new();
        self.line(prefix, b.format(n).as_bytes());
    }

    /// `+OK`.
    pub fn ok(&mut self) {
        self.buf.put_slice(b"+OK\r\n");
    }

    /// A simple string (must not contain CR or LF).
    pub fn simple(&mut self, s: &str) {
        self.line(b'+', sanitize(s).as_bytes());
    }

    /// An error reply; `msg` starts with its prefix (`ERR`, `WRONGTYPE`, …).
    pub fn error(&mut self, msg: &str) {
        self.line(b'-', sanitize(msg).as_bytes());
    }

    /// An integer.
    pub fn int(&mut self, n: i64) {
        self.int_line(b':', n);
    }

    /// A bulk string.
    pub fn bulk(&mut self, data: &[u8]) {
        self.buf.reserve(data.len() + 16);
        self.int_line(b'$', data.len() as i64);
        self.buf.put_slice(data);
        self.buf.put_slice(b"\r\n");
    }

    /// A bulk string, or null.
    pub fn bulk_or_null(&mut self, data: Option<&[u8]>) {
        match data {
            Some(d) => self.bulk(d),
            None => self.null(),
        }
    }

    /// A null bulk string (`$-1` / `_`).
    pub fn null(&mut self) {
        self.buf
            .put_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }

    /// A null array (`*-1` / `_`).
    pub fn null_array(&mut self) {
        self.buf
            .put_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }

    /// An array header of `len` elements.
    pub fn array(&mut self, len: usize) {
        self.int_line(b'*', len as i64);
    }

    /// A set header (an array in RESP2).
    pub fn set(&mut self, len: usize) {
        self.int_line(if self.resp3 { b'~' } else { b'*' }, len as i64);
    }

    /// A map header of `len` pairs (a flat array of `2 × len` in RESP2).
    pub fn map(&mut self, len: usize) {
        if self.resp3 {
            self.int_line(b'%', len as i64);
        } else {
            self.int_line(b'*', 2 * len as i64);
        }
    }

    /// A boolean (`:1`/`:0` in RESP2, `#t`/`#f` in RESP3), as Redis modules reply.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.put_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.buf.put_slice(if b { b":1\r\n" } else { b":0\r\n" });
        }
    }

    /// A double (a bulk string in RESP2), in the shortest form that reads back exactly.
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.resp3 {
            self.line(b',', text.as_bytes());
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// Text such as INFO's (a verbatim string in RESP3, a bulk string in RESP2).
    pub fn verbatim(&mut self, text: &str) {
        if self.resp3 {
            self.int_line(b'=', text.len() as i64 + 4);
            self.buf.put_slice(b"txt:");
            self.buf.put_slice(text.as_bytes());
            self.buf.put_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }
}

/// Redis's double text: shortest round-trip digits, `inf`, `-inf`, `nan`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        "nan".to_string()
    } else if d.is_infinite() {
        if d > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        let mut s = format!("{d}");
        if s == "-0" {
            s = "-0".to_string();
        }
        s
    }
}

fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    if s.bytes().any(|b| b == b'\r' || b == b'\n') {
        std::borrow::Cow::Owned(s.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn both(f: impl Fn(&mut Out)) -> (String, String) {
        let mut two = Out::default();
        f(&mut two);
        let mut three = Out {
            resp3: true,
            ..Default::default()
        };
        f(&mut three);
        (
            String::from_utf8_lossy(&two.buf).into_owned(),
            String::from_utf8_lossy(&three.buf).into_owned(),
        )
    }

    #[test]
    fn each_reply_kind_encodes_as_redis_does_in_both_protocols() {
        assert_eq!(both(|o| o.null()), ("$-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|o| o.null_array()), ("*-1\r\n".into(), "_\r\n".into()));
        assert_eq!(both(|o| o.map(2)), ("*4\r\n".into(), "%2\r\n".into()));
        assert_eq!(
            both(|o| o.boolean(true)),
            (":1\r\n".into(), "#t\r\n".into())
        );
        assert_eq!(
            both(|o| o.double(0.5)),
            ("$3\r\n0.5\r\n".into(), ",0.5\r\n".into())
        );
        assert_eq!(
            both(|o| o.verbatim("a")),
            ("$1\r\na\r\n".into(), "=5\r\ntxt:a\r\n".into())
        );
        assert_eq!(
            both(|o| o.bulk(b"")),
            ("$0\r\n\r\n".into(), "$0\r\n\r\n".into())
        );
    }

    #[test]
    fn errors_never_carry_line_breaks() {
        let (two, _) = both(|o| o.error("ERR a\r\nb"));
        assert_eq!(two, "-ERR a  b\r\n");
    }

    #[test]
    fn doubles_use_the_shortest_exact_digits() {
        assert_eq!(format_double(1.0), "1");
        assert_eq!(format_double(f64::from(0.1f32)), "0.10000000149011612");
        assert_eq!(format_double(f64::INFINITY), "inf");
    }
}
