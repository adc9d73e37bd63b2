"""Exceptions mapped from the C ABI's status codes (the engine's stable ErrorCode values)."""

from __future__ import annotations


class SutraError(Exception):
    """Any failure reported by the engine; `code` is the stable numeric status."""

    code: int = -1

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class InvalidArgument(SutraError, ValueError):
    code = 1


class WrongType(SutraError, TypeError):
    code = 2


class DimensionMismatch(InvalidArgument):
    code = 3


class OutOfMemory(SutraError, MemoryError):
    code = 4


class NotFound(SutraError, KeyError):
    code = 5

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message plain
        return str(self.args[0]) if self.args else ""


class TooLarge(InvalidArgument):
    code = 6


class IOFailure(SutraError, OSError):
    code = 7


class Corrupt(SutraError):
    code = 8


class WalPoisoned(SutraError):
    code = 9


class Conflict(SutraError):
    code = 10


class Unsupported(SutraError, NotImplementedError):
    code = 11


class Closed(SutraError):
    code = 12


class Internal(SutraError):
    code = 13


class NullArgument(SutraError, ValueError):
    code = 1000


class BufferTooSmall(SutraError):
    code = 1001


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
