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
