"""Exceptions mapped from the C ABI's status codes (the engine's stable ErrorCode values).

Each class's `code` is the header's `SUTRA_*` constant, read through cffi from
include/sutra_cache.h, so the numbers are written once (in the C ABI).
"""

from __future__ import annotations

from ._ffi import lib


class SutraError(Exception):
    """Any failure reported by the engine; `code` is the stable numeric status."""

    code: int = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidArgument(SutraError, ValueError):
    code = lib.SUTRA_INVALID_ARGUMENT


class WrongType(SutraError, TypeError):
    code = lib.SUTRA_WRONG_TYPE


class DimensionMismatch(InvalidArgument):
    code = lib.SUTRA_DIMENSION_MISMATCH


class OutOfMemory(SutraError, MemoryError):
    code = lib.SUTRA_OUT_OF_MEMORY


class NotFound(SutraError, KeyError):
    code = lib.SUTRA_NOT_FOUND

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message plain
        return str(self.args[0]) if self.args else ""


class TooLarge(InvalidArgument):
    code = lib.SUTRA_TOO_LARGE


class IOFailure(SutraError, OSError):
    code = lib.SUTRA_IO


class Corrupt(SutraError):
    code = lib.SUTRA_CORRUPT


class WalPoisoned(SutraError):
    code = lib.SUTRA_WAL_POISONED


class Conflict(SutraError):
    code = lib.SUTRA_CONFLICT


class Unsupported(SutraError, NotImplementedError):
    code = lib.SUTRA_UNSUPPORTED


class Closed(SutraError):
    code = lib.SUTRA_CLOSED


class Internal(SutraError):
    code = lib.SUTRA_INTERNAL


class NullArgument(SutraError, ValueError):
    code = lib.SUTRA_NULL_ARGUMENT


class BufferTooSmall(SutraError):
    code = lib.SUTRA_BUFFER_TOO_SMALL


class CacheError(SutraError):
    """A cache operation of the socket client failed (shard unreachable, timeout, or a server
    error such as a vector of the wrong dimension). Raised only with `strict=True`; otherwise
    the failure is a logged warning (a get is a miss)."""


class NoQueryEmbedding(SutraError, ValueError):
    """A text query (find_similar, semantic_invalidate) has no embedding: the text is not
    cached in the model's set and the client was given no `embedder`."""


BY_CODE: dict[int, type[SutraError]] = {
    cls.code: cls
    for cls in (
        InvalidArgument, WrongType, DimensionMismatch, OutOfMemory, NotFound, TooLarge,
        IOFailure, Corrupt, WalPoisoned, Conflict, Unsupported, Closed, Internal,
        NullArgument, BufferTooSmall,
    )
}


def from_status(code: int, message: str) -> SutraError:
    """The exception for a non-zero status."""
    cls = BY_CODE.get(code, SutraError)
    return cls(message, code)
