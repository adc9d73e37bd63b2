"""Loads libsutra_cache through cffi (ABI mode), declaring what include/sutra_cache.h declares.

The declarations are read from the header itself (shipped next to the library), so the
binding cannot drift from the C ABI. SUTRA_CACHE_LIB and SUTRA_CACHE_HEADER override the
packaged files (useful against a development build).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from cffi import FFI

_NATIVE = Path(__file__).resolve().parent / "_native"


def _cdef_from_header(text: str) -> str:
    """The header's declarations in the subset of C that cffi's cdef parses."""
    out: list[str] = []
    defines: dict[str, str] = {}
    skip = 0
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#ifdef __cplusplus"):
            skip += 1
            continue
        if skip:
            if s.startswith("#endif"):
                skip -= 1
            continue
        if s.startswith("#"):
            m = re.match(r"#define\s+(SUTRA_\w+)\s+(-?\d+)\s*$", s)
            if m:
                defines[m.group(1)] = m.group(2)
                out.append(f"#define {m.group(1)} {m.group(2)}")
            continue
        out.append(line.split("//", 1)[0])
    body = "\n".join(out)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    # Array sizes named by a constant: cffi wants the number.
    return re.sub(r"\[(SUTRA_\w+)\]", lambda m: f"[{defines[m.group(1)]}]", body)


def _load() -> tuple[FFI, object]:
    header = Path(os.environ.get("SUTRA_CACHE_HEADER", _NATIVE / "sutra_cache.h"))
    library = Path(os.environ.get("SUTRA_CACHE_LIB", _NATIVE / "libsutra_cache.so"))
    if not header.exists() or not library.exists():
        raise ImportError(
            f"sutra_cache: native files missing ({header}, {library}); "
            "install with `pip install ./bindings/python`"
        )
    ffi = FFI()
    ffi.cdef(_cdef_from_header(header.read_text()))
    return ffi, ffi.dlopen(str(library))


ffi, lib = _load()
