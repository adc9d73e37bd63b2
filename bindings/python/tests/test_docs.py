"""Every ```python block of docs/bindings.md runs: the embedded engine, and the seed's client
against a real sutra-cache standing on 50051 (and a real Redis on 6379 as the migration
source)."""

import os
import re
from pathlib import Path

import pytest
import redis

DOC = Path(__file__).resolve().parents[3] / "docs" / "bindings.md"
N_BLOCKS = 4


def blocks() -> list:
    text = DOC.read_text()
    found = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(found) == N_BLOCKS, f"expected {N_BLOCKS} Python examples in {DOC}"
    return found


@pytest.mark.parametrize("index", range(N_BLOCKS))
def test_python_examples_of_the_docs_run(index, redis_port, sutra, capsys):
    redis.Redis(port=redis_port).flushdb()
    code = blocks()[index]
    code = code.replace("port=6379", f"port={redis_port}").replace("50051", str(sutra))
    saved = dict(os.environ)  # an example may set the seed's variables; keep them to it
    try:
        exec(compile(code, f"{DOC}:python block {index}", "exec"), {"__name__": "__docs__"})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    out = capsys.readouterr().out
    assert out, "each example prints something"
