//! A strict RESP2/RESP3 reply parser: every reply the server writes must be well formed.

/// One reply value (RESP3 aggregates folded into the RESP2 shapes they stand for).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(Vec<u8>),
    Error(Vec<u8>),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Value>),
    Double(f64),
    Other,
}

fn line(b: &[u8]) -> Result<(&[u8], usize), String> {
    let end = b
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("a line without CRLF")?;
    Ok((&b[1..end], end + 2))
}

fn count(s: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(s)
        .map_err(|e| e.to_string())?
        .parse::<i64>()
        .map_err(|e| format!("bad count {s:?}: {e}"))
}

/// The value at the start of `b` and its length.
pub fn parse(b: &[u8]) -> Result<(Value, usize), String> {
    let first = *b.first().ok_or("an empty reply")?;
    let (text, after) = line(b)?;
    if text.contains(&b'\r') || text.contains(&b'\n') {
        return Err(format!("CR or LF inside a line: {text:?}"));
    }
    let bulk = |n: i64| -> Result<(Vec<u8>, usize), String> {
        let end = after + usize::try_from(n).map_err(|_| "a negative length")?;
        if b.get(end..end + 2) != Some(b"\r\n") {
            return Err(format!("a bulk of {n} bytes not followed by CRLF"));
        }
        Ok((b[after..end].to_vec(), end + 2))
    };
    match first {
        b'+' => Ok((Value::Simple(text.to_vec()), after)),
        b'-' => Ok((Value::Error(text.to_vec()), after)),
        b':' => Ok((Value::Int(count(text)?), after)),
        b'_' => Ok((Value::Null, after)),
        b'#' | b'(' => Ok((Value::Other, after)),
        b',' => {
            let s = std::str::from_utf8(text).map_err(|e| e.to_string())?;
            let d = match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => s.parse().map_err(|e| format!("bad double {s:?}: {e}"))?,
            };
            Ok((Value::Double(d), after))
        }
        b'$' | b'=' | b'!' => {
            let n = count(text)?;
            if n == -1 && first == b'$' {
                return Ok((Value::Null, after));
            }
            let (data, len) = bulk(n)?;
            Ok((
                if first == b'!' {
                    Value::Error(data)
                } else {
                    Value::Bulk(data)
                },
                len,
            ))
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = count(text)?;
            if n == -1 && first == b'*' {
                return Ok((Value::Null, after));
            }
            let n = usize::try_from(n).map_err(|_| "a negative aggregate length")?;
            let items = if matches!(first, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut at = after;
            let mut out = Vec::with_capacity(items.min(1024));
            for _ in 0..items {
                let (v, len) = parse(&b[at..]).map_err(|e| format!("in an aggregate: {e}"))?;
                out.push(v);
                at += len;
            }
            if first == b'|' {
                // Attributes precede the value they describe.
                let (v, len) = parse(&b[at..])?;
                return Ok((v, at + len));
            }
            Ok((Value::Array(out), at))
        }
        t => Err(format!("unknown type byte {:?}", t as char)),
    }
}

/// Every value in `b`, which must hold whole values only.
pub fn parse_all(mut b: &[u8]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (v, len) = parse(b)?;
        out.push(v);
        b = &b[len..];
    }
    Ok(out)
}
