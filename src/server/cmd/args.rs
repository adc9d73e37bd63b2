//! Argument helpers shared by the command files (re-exported by `cmd`).

use bytes::Bytes;

use super::CmdError;

/// An integer argument, or Redis's "not an integer" error.
pub fn arg_i64(a: &[u8]) -> Result<i64, CmdError> {
    crate::server::frame::parse_i64(a).ok_or_else(CmdError::not_integer)
}

/// A float argument as Redis's `string2d` reads it (no NaN, no trailing junk).
pub fn parse_f64(a: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(a).ok()?;
    if s.is_empty() || s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
        return None;
    }
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v)
}

/// A UTF-8 argument (for names and JSON), or an error naming it.
pub fn arg_str<'a>(a: &'a [u8], what: &str) -> Result<&'a str, CmdError> {
    std::str::from_utf8(a).map_err(|_| CmdError::err(format!("{what} must be valid UTF-8")))
}

/// Whether `a` is the keyword `kw` (ASCII, case-insensitive).
pub fn is(a: &[u8], kw: &str) -> bool {
    a.eq_ignore_ascii_case(kw.as_bytes())
}

/// Borrowed byte slices of arguments.
pub fn slices(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|a| a.as_ref()).collect()
}

/// The arguments of Redis's SCAN family after the key: `cursor [MATCH pattern] [COUNT n]`
/// and, for SCAN, `[TYPE name]`.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    /// At least 1, at most 2^20 (one call cannot ask for an unbounded page).
    pub count: usize,
    /// The `TYPE` argument as given (only when the caller accepts it).
    pub kind: Option<&'a [u8]>,
}

/// Parses `args` (the cursor first) as SCAN (`with_type`) or HSCAN read them, with Redis's
/// errors: `invalid cursor`, a syntax error for an unknown option, a missing value or a
/// COUNT below 1.
pub fn scan_args(args: &[Bytes], with_type: bool) -> Result<ScanArgs<'_>, CmdError> {
    let cursor = std::str::from_utf8(&args[0])
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| CmdError::err("invalid cursor"))?;
    let mut out = ScanArgs {
        cursor,
        pattern: None,
        count: 10,
        kind: None,
    };
    let mut i = 1;
    while i < args.len() {
        let Some(value) = args.get(i + 1) else {
            return Err(CmdError::syntax());
        };
        if is(&args[i], "match") {
            out.pattern = Some(value);
        } else if is(&args[i], "count") {
            let n = arg_i64(value)?;
            if n < 1 {
                return Err(CmdError::syntax());
            }
            out.count = usize::try_from(n).unwrap_or(usize::MAX).min(1 << 20);
        } else if with_type && is(&args[i], "type") {
            out.kind = Some(value);
        } else {
            return Err(CmdError::syntax());
        }
        i += 2;
    }
    Ok(out)
}
