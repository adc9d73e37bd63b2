"""The header's declarations in the subset of C that cffi's cdef parses (no imports of the
library: setup.py uses it to build the compiled module)."""

from __future__ import annotations

import re


def cdef_from_header(text: str) -> str:
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
