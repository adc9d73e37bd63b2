//! Status codes, the caller-owned error object, the panic guard every entry point runs in,
//! and the argument checks (kept in release builds).
//!
//! Status codes `0..=999` are exactly [`ErrorCode`] values (appended, never renumbered).
//! Codes from 1000 up are conditions that exist only at the C boundary (a NULL pointer, an
//! output buffer that is too small); they are kept out of [`ErrorCode`] because neither the
//! engine nor the RESP server can produce them.

use std::ffi::{c_char, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::{Error, ErrorCode};

/// Success.
pub const SUTRA_OK: i32 = 0;
/// An argument is malformed or out of range.
pub const SUTRA_INVALID_ARGUMENT: i32 = 1;
/// The key holds the other kind of value (blob vs vector set).
pub const SUTRA_WRONG_TYPE: i32 = 2;
/// A vector's dimension differs from its set's.
pub const SUTRA_DIMENSION_MISMATCH: i32 = 3;
/// A write would pass a cap under the `noeviction` policy.
pub const SUTRA_OUT_OF_MEMORY: i32 = 4;
/// The operation needs an existing key or element.
pub const SUTRA_NOT_FOUND: i32 = 5;
/// A key, element name, value or attribute is over its configured limit.
pub const SUTRA_TOO_LARGE: i32 = 6;
/// An I/O error (WAL, snapshot).
pub const SUTRA_IO: i32 = 7;
/// A file is damaged.
pub const SUTRA_CORRUPT: i32 = 8;
/// The write-ahead log failed earlier; writes fail until the cache is reopened.
pub const SUTRA_WAL_POISONED: i32 = 9;
/// A later write disagrees with the set's fixed parameters (metric, storage, M).
pub const SUTRA_CONFLICT: i32 = 10;
/// The request is valid but not supported by this build.
pub const SUTRA_UNSUPPORTED: i32 = 11;
/// The cache is closed.
pub const SUTRA_CLOSED: i32 = 12;
/// A bug: an invariant did not hold (or a panic was caught at the boundary).
pub const SUTRA_INTERNAL: i32 = 13;
/// C boundary only: a required pointer argument is NULL (or a NULL pointer with a non-zero length).
pub const SUTRA_NULL_ARGUMENT: i32 = 1000;
/// C boundary only: an output buffer is too small; the needed length was written to the
/// length output, the buffer is left unspecified.
pub const SUTRA_BUFFER_TOO_SMALL: i32 = 1001;

/// Capacity, in bytes, of `sutra_error.message` (including the terminating NUL).
pub const SUTRA_ERROR_MESSAGE_CAPACITY: usize = 256;

/// An optional, caller-owned error report. Every call that takes one resets it (code 0, empty
/// message) and, on failure, fills it with the status and a NUL-terminated UTF-8 message
/// (truncated at a character boundary to fit). Not shared: one per calling thread at a time.
#[repr(C)]
pub struct sutra_error {
    /// The status the call returned.
    pub code: i32,
    /// Length of `message` in bytes, without the NUL.
    pub message_len: usize,
    /// NUL-terminated UTF-8 text.
    pub message: [c_char; SUTRA_ERROR_MESSAGE_CAPACITY],
}

/// A failed call: the status and its message.
pub(crate) struct Failure {
    pub status: i32,
    pub message: String,
}

impl Failure {
    pub fn new(status: i32, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    pub fn null(arg: &str) -> Self {
        Self::new(SUTRA_NULL_ARGUMENT, format!("argument '{arg}' is NULL"))
    }
    pub fn too_small(what: &str, needed: usize, capacity: usize) -> Self {
        Self::new(
            SUTRA_BUFFER_TOO_SMALL,
            format!("buffer '{what}' holds {capacity}, {needed} needed"),
        )
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Self::new(e.code().as_i32(), e.to_string())
    }
}

pub(crate) type FfiResult<T = ()> = Result<T, Failure>;

/// The status constant's name for every [`ErrorCode`]. An exhaustive match: adding a variant
/// to `ErrorCode` fails to compile here until the header names it.
fn error_code_name(code: ErrorCode) -> &'static CStr {
    match code {
        ErrorCode::Ok => c"SUTRA_OK",
        ErrorCode::InvalidArgument => c"SUTRA_INVALID_ARGUMENT",
        ErrorCode::WrongType => c"SUTRA_WRONG_TYPE",
        ErrorCode::DimensionMismatch => c"SUTRA_DIMENSION_MISMATCH",
        ErrorCode::OutOfMemory => c"SUTRA_OUT_OF_MEMORY",
        ErrorCode::NotFound => c"SUTRA_NOT_FOUND",
        ErrorCode::TooLarge => c"SUTRA_TOO_LARGE",
        ErrorCode::Io => c"SUTRA_IO",
        ErrorCode::Corrupt => c"SUTRA_CORRUPT",
        ErrorCode::WalPoisoned => c"SUTRA_WAL_POISONED",
        ErrorCode::Conflict => c"SUTRA_CONFLICT",
        ErrorCode::Unsupported => c"SUTRA_UNSUPPORTED",
        ErrorCode::Closed => c"SUTRA_CLOSED",
        ErrorCode::Internal => c"SUTRA_INTERNAL",
    }
}

/// Every `ErrorCode`, in code order (used to map a status back to its name).
const ERROR_CODES: [ErrorCode; 14] = [
    ErrorCode::Ok,
    ErrorCode::InvalidArgument,
    ErrorCode::WrongType,
    ErrorCode::DimensionMismatch,
    ErrorCode::OutOfMemory,
    ErrorCode::NotFound,
    ErrorCode::TooLarge,
    ErrorCode::Io,
    ErrorCode::Corrupt,
    ErrorCode::WalPoisoned,
    ErrorCode::Conflict,
    ErrorCode::Unsupported,
    ErrorCode::Closed,
    ErrorCode::Internal,
];

/// The name of a status code (`"SUTRA_NOT_FOUND"`), or `"SUTRA_UNKNOWN"`; a static string.
/// Thread-safe.
#[no_mangle]
pub extern "C" fn sutra_status_name(status: i32) -> *const c_char {
    let name = match status {
        SUTRA_NULL_ARGUMENT => c"SUTRA_NULL_ARGUMENT",
        SUTRA_BUFFER_TOO_SMALL => c"SUTRA_BUFFER_TOO_SMALL",
        s => ERROR_CODES
            .iter()
            .find(|c| c.as_i32() == s)
            .map(|&c| error_code_name(c))
            .unwrap_or(c"SUTRA_UNKNOWN"),
    };
    name.as_ptr()
}

/// Resets `err` (when given), runs `f` with panics caught, and reports its outcome in `err`.
pub(crate) fn guard(err: *mut sutra_error, f: impl FnOnce() -> FfiResult) -> i32 {
    // SAFETY: the caller passes NULL or a pointer to a writable `sutra_error` (header contract).
    let err = unsafe { err.as_mut() };
    let failure = match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => None,
        Ok(Err(failure)) => Some(failure),
        Err(panic) => {
            let text = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown payload".to_string());
            Some(Failure::new(
                SUTRA_INTERNAL,
                format!("internal error: panic caught at the C boundary: {text}"),
            ))
        }
    };
    let status = failure.as_ref().map_or(SUTRA_OK, |f| f.status);
    if let Some(err) = err {
        err.code = status;
        let message = failure.as_ref().map_or("", |f| f.message.as_str());
        write_message(err, message);
    }
    status
}

fn write_message(err: &mut sutra_error, message: &str) {
    let mut len = message.len().min(SUTRA_ERROR_MESSAGE_CAPACITY - 1);
    while !message.is_char_boundary(len) {
        len -= 1;
    }
    for (dst, &src) in err.message.iter_mut().zip(&message.as_bytes()[..len]) {
        *dst = src as c_char;
    }
    err.message[len] = 0;
    err.message_len = len;
}

/// A borrowed byte argument: NULL is allowed only with length 0.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` readable bytes that outlive the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, arg: &str) -> FfiResult<&'a [u8]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::null(arg))
        };
    }
    if len > isize::MAX as usize {
        return Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{arg}': length {len} is too large"),
        ));
    }
    // SAFETY: non-NULL, `len` readable bytes per this function's contract, len <= isize::MAX.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A borrowed f32 array argument: NULL is allowed only with length 0.
///
/// # Safety
/// When `ptr` is not NULL it must point to `len` readable, aligned f32 values that outlive the call.
pub(crate) unsafe fn floats<'a>(ptr: *const f32, len: usize, arg: &str) -> FfiResult<&'a [f32]> {
    if ptr.is_null() {
        return if len == 0 {
            Ok(&[])
        } else {
            Err(Failure::null(arg))
        };
    }
    check_array_len::<f32>(len, arg)?;
    if !ptr.is_aligned() {
        return Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{arg}': not aligned for float"),
        ));
    }
    // SAFETY: non-NULL, aligned, `len` readable floats per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A caller-owned output array: NULL is allowed only with capacity 0.
///
/// # Safety
/// When `ptr` is not NULL it must point to `cap` writable, aligned `T`s, unaliased for the call.
pub(crate) unsafe fn out_slice<'a, T>(
    ptr: *mut T,
    cap: usize,
    arg: &str,
) -> FfiResult<&'a mut [T]> {
    if ptr.is_null() {
        return if cap == 0 {
            Ok(&mut [])
        } else {
            Err(Failure::null(arg))
        };
    }
    check_array_len::<T>(cap, arg)?;
    if !ptr.is_aligned() {
        return Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{arg}': misaligned"),
        ));
    }
    // SAFETY: non-NULL, aligned, `cap` writable elements per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(ptr, cap) })
}

fn check_array_len<T>(len: usize, arg: &str) -> FfiResult {
    if !matches!(len.checked_mul(std::mem::size_of::<T>()), Some(b) if b <= isize::MAX as usize) {
        return Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{arg}': length {len} is too large"),
        ));
    }
    Ok(())
}

/// A required output pointer.
///
/// # Safety
/// When not NULL, `ptr` must point to a writable, aligned `T`.
pub(crate) unsafe fn out<'a, T>(ptr: *mut T, arg: &str) -> FfiResult<&'a mut T> {
    if !ptr.is_aligned() {
        return Err(Failure::new(
            SUTRA_INVALID_ARGUMENT,
            format!("invalid argument '{arg}': misaligned"),
        ));
    }
    // SAFETY: `ptr` is aligned (checked above) and, when not NULL, points to a writable `T`
    // (this function's `# Safety`), so `as_mut` gives `None` or a valid unique reference.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(arg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_constants_equal_the_error_codes() {
        let named = [
            SUTRA_OK,
            SUTRA_INVALID_ARGUMENT,
            SUTRA_WRONG_TYPE,
            SUTRA_DIMENSION_MISMATCH,
            SUTRA_OUT_OF_MEMORY,
            SUTRA_NOT_FOUND,
            SUTRA_TOO_LARGE,
            SUTRA_IO,
            SUTRA_CORRUPT,
            SUTRA_WAL_POISONED,
            SUTRA_CONFLICT,
            SUTRA_UNSUPPORTED,
            SUTRA_CLOSED,
            SUTRA_INTERNAL,
        ];
        for (code, constant) in ERROR_CODES.iter().zip(named) {
            assert_eq!(code.as_i32(), constant, "{code:?}");
            // SAFETY: sutra_status_name returns a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(sutra_status_name(constant)) };
            assert_eq!(name, error_code_name(*code));
        }
        for (i, code) in ERROR_CODES.iter().enumerate() {
            assert_eq!(code.as_i32(), i as i32, "codes are dense and in order");
        }
    }

    #[test]
    fn boundary_only_codes_have_names_and_unknown_codes_say_so() {
        // SAFETY: static NUL-terminated strings.
        unsafe {
            assert_eq!(
                CStr::from_ptr(sutra_status_name(SUTRA_BUFFER_TOO_SMALL)),
                c"SUTRA_BUFFER_TOO_SMALL"
            );
            assert_eq!(
                CStr::from_ptr(sutra_status_name(SUTRA_NULL_ARGUMENT)),
                c"SUTRA_NULL_ARGUMENT"
            );
            assert_eq!(CStr::from_ptr(sutra_status_name(-7)), c"SUTRA_UNKNOWN");
        }
    }

    #[test]
    fn a_panic_becomes_an_internal_status_with_its_message() {
        let mut err = std::mem::MaybeUninit::<sutra_error>::zeroed();
        let status = guard(err.as_mut_ptr(), || panic!("boom"));
        // SAFETY: zeroed is a valid sutra_error, and guard wrote it.
        let err = unsafe { err.assume_init() };
        assert_eq!(status, SUTRA_INTERNAL);
        assert_eq!(err.code, SUTRA_INTERNAL);
        // SAFETY: guard NUL-terminates the message.
        let msg = unsafe { CStr::from_ptr(err.message.as_ptr()) }
            .to_str()
            .unwrap();
        assert!(msg.contains("boom"), "{msg}");
        assert_eq!(msg.len(), err.message_len);
    }

    #[test]
    fn a_long_message_is_truncated_at_a_character_boundary() {
        let long = "é".repeat(300);
        let mut err = std::mem::MaybeUninit::<sutra_error>::zeroed();
        let status = guard(err.as_mut_ptr(), || {
            Err(Failure::new(SUTRA_INVALID_ARGUMENT, long))
        });
        // SAFETY: zeroed is a valid sutra_error, and guard wrote it.
        let err = unsafe { err.assume_init() };
        assert_eq!(status, SUTRA_INVALID_ARGUMENT);
        assert!(err.message_len < SUTRA_ERROR_MESSAGE_CAPACITY);
        // SAFETY: guard NUL-terminates the message.
        let msg = unsafe { CStr::from_ptr(err.message.as_ptr()) }.to_str();
        assert!(msg.is_ok(), "valid UTF-8 after truncation");
        assert_eq!(msg.unwrap().chars().count(), err.message_len / 2);
    }

    #[test]
    fn a_null_pointer_with_a_length_is_refused() {
        // SAFETY: NULL pointers are checked before any read.
        unsafe {
            assert_eq!(
                bytes(std::ptr::null(), 0, "k").map(|b| b.len()).ok(),
                Some(0)
            );
            assert_eq!(
                bytes(std::ptr::null(), 3, "k").err().map(|f| f.status),
                Some(SUTRA_NULL_ARGUMENT)
            );
            assert_eq!(
                out_slice::<f32>(std::ptr::null_mut(), 1, "o")
                    .err()
                    .map(|f| f.status),
                Some(SUTRA_NULL_ARGUMENT)
            );
            assert_eq!(
                out::<bool>(std::ptr::null_mut(), "o")
                    .err()
                    .map(|f| f.status),
                Some(SUTRA_NULL_ARGUMENT)
            );
        }
    }
}
