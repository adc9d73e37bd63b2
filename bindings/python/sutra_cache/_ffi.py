"""Loads the C ABI through cffi.

`pip install` compiles `_sutra_cffi` (cffi's API mode, statically linked with
libsutra_cache.a: the fastest calls). Without it, or with SUTRA_CACHE_LIB set, the shared
library is opened in ABI mode. Either way the declarations are read from
include/sutra_cache.h itself, so the binding cannot drift from the C ABI.
SUTRA_CACHE_LIB and SUTRA_CACHE_HEADER override the packaged files.
"""

from __future__ import annotations

import os
from pathlib import Path

from cffi import FFI

from ._cdef import cdef_from_header

_NATIVE = Path(__file__).resolve().parent / "_native"


def _load() -> tuple[FFI, object]:
    header = Path(os.environ.get("SUTRA_CACHE_HEADER", _NATIVE / "sutra_cache.h"))
    library = Path(os.environ.get("SUTRA_CACHE_LIB", _NATIVE / "libsutra_cache.so"))
    if not header.exists() or not library.exists():
        raise ImportError(
            f"sutra_cache: native files missing ({header}, {library}); "
            "install with `pip install ./bindings/python`"
        )
    ffi = FFI()
    ffi.cdef(cdef_from_header(header.read_text()))
    return ffi, ffi.dlopen(str(library))


if "SUTRA_CACHE_LIB" in os.environ:
    ffi, lib = _load()
else:
    try:
        from ._sutra_cffi import ffi, lib  # type: ignore[import-not-found]
    except ImportError:
        ffi, lib = _load()
