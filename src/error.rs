//! The one public error type. Every layer's error converts into it; its numeric
//! [`ErrorCode`] is stable and shared by the C ABI, the RESP replies and the Python
//! exceptions. "Not found" is never an error: lookups return `Option`.

use std::fmt;

/// A fixed parameter of a vector set (named by [`Error::Conflict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetParam {
    /// The similarity metric.
    Metric,
    /// The storage mode (Redis's quantization).
    Storage,
    /// HNSW M.
    M,
    /// A projection (Redis's `REDUCE dim`) asked of a set made without one (the set's
    /// value is `none`).
    Reduce,
    /// The dimension the set's projection takes in (a vector of another dimension was
    /// given to a set with a projection).
    ProjectionInput,
}

impl fmt::Display for SetParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SetParam::Metric => "metric",
            SetParam::Storage => "storage",
            SetParam::M => "M",
            SetParam::Reduce => "reduce",
            SetParam::ProjectionInput => "projection input dimension",
        })
    }
}

/// Stable numeric codes. Appended, never renumbered (the C ABI exposes them).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 0 is success in the C ABI; never carried by an [`Error`].
    Ok = 0,
    /// An argument is malformed or out of range.
    InvalidArgument = 1,
    /// The key holds the other kind of value (blob vs vector set).
    WrongType = 2,
    /// A vector's dimension differs from its set's.
    DimensionMismatch = 3,
    /// A write would pass a cap under the `noeviction` policy.
    OutOfMemory = 4,
    /// The operation needs an existing key or element.
    NotFound = 5,
    /// A key, element name, value or attribute is over its configured limit.
    TooLarge = 6,
    /// An I/O error (WAL, snapshot).
    Io = 7,
    /// A file is damaged.
    Corrupt = 8,
    /// The write-ahead log cannot write: writes fail until the engine is reopened (a failed
    /// write or fdatasync) or until space is freed (a full disk).
    WalPoisoned = 9,
    /// A later write disagrees with the set's fixed parameters (metric, storage, M).
    Conflict = 10,
    /// The request is valid but not supported by this build.
    Unsupported = 11,
    /// The engine is closed.
    Closed = 12,
    /// A bug: an invariant did not hold. Reported instead of panicking.
    Internal = 13,
}

impl ErrorCode {
    /// The code as the C ABI returns it.
    pub fn as_i32(self) -> i32 {
        self as i32
    }
}

/// The error of every public engine call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `arg` is not what was expected.
    #[error("invalid argument '{arg}': {expected}")]
    InvalidArgument {
        /// The argument's name as the caller knows it.
        arg: &'static str,
        /// What was expected, or what is wrong.
        expected: String,
    },
    /// Redis's WRONGTYPE.
    #[error("WRONGTYPE Operation against a key holding the wrong kind of value")]
    WrongType,
    /// The vector's dimension differs from the set's.
    #[error("invalid argument 'vector': expected dimension {expected}, got {got}")]
    DimensionMismatch {
        /// The set's dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// The vector's dimension differs from the dimension the engine is configured with
    /// ([`crate::EngineConfig::vector_dimension`], the seed's `VECTOR_DIMENSION`).
    #[error(
        "invalid argument 'vector': dimension {got}, but this cache's vector dimension \
         (VECTOR_DIMENSION) is {expected}"
    )]
    ConfiguredDimension {
        /// The configured dimension.
        expected: usize,
        /// The vector's.
        got: usize,
    },
    /// A cap would be passed and the policy forbids eviction.
    #[error("OOM command not allowed: {cap} reached and eviction policy is noeviction")]
    OutOfMemory {
        /// Which cap, with its value, e.g. `max_entries=1000`.
        cap: String,
    },
    /// A key or element that must exist does not.
    #[error("{what} does not exist")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// Over a configured size limit.
    #[error("invalid argument '{arg}': {len} bytes is over the limit of {limit}")]
    TooLarge {
        /// Which argument.
        arg: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// An add asked for a vector set parameter other than the one the set was created with.
    #[error("conflict: the set was created with {param} {set}; this add asks for {asked}")]
    Conflict {
        /// Which parameter.
        param: SetParam,
        /// The set's value.
        set: String,
        /// The value the add asked for.
        asked: String,
    },
    /// Valid but not supported here.
    #[error("not supported: {0}")]
    Unsupported(String),
    /// I/O failure.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Damaged file: names the file and offset.
    #[error("corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        /// The file.
        file: String,
        /// Byte offset of the damage.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// The WAL cannot write: fail-stop after a failed write or fdatasync (until reopened),
    /// or stalled on a full disk (until space is freed); the message says which.
    #[error("write-ahead log failed: {0}")]
    WalPoisoned(String),
    /// The engine has been closed.
    #[error("the engine is closed")]
    Closed,
    /// An internal invariant failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            Error::WrongType => ErrorCode::WrongType,
            Error::DimensionMismatch { .. } | Error::ConfiguredDimension { .. } => {
                ErrorCode::DimensionMismatch
            }
            Error::OutOfMemory { .. } => ErrorCode::OutOfMemory,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::TooLarge { .. } => ErrorCode::TooLarge,
            Error::Conflict { .. } => ErrorCode::Conflict,
            Error::Unsupported(_) => ErrorCode::Unsupported,
            Error::Io(_) => ErrorCode::Io,
            Error::Corrupt { .. } => ErrorCode::Corrupt,
            Error::WalPoisoned(_) => ErrorCode::WalPoisoned,
            Error::Closed => ErrorCode::Closed,
            Error::Internal(_) => ErrorCode::Internal,
        }
    }

    /// Shorthand for [`Error::InvalidArgument`].
    pub fn invalid(arg: &'static str, expected: impl fmt::Display) -> Self {
        Error::InvalidArgument {
            arg,
            expected: expected.to_string(),
        }
    }
}

/// Result of every public engine call.
pub type Result<T, E = Error> = std::result::Result<T, E>;
