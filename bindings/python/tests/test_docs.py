"""Every ```python block of docs/bindings.md runs (socket examples against a real Redis,
standing in for the shard on 50051, and against sutra-cache once its server is built)."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "bindings.md"


def blocks() -> list:
    text = DOC.read_text()
    found = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert len(found) >= 3, f"expected the Python examples in {DOC}"
    return found


@pytest.mark.parametrize("index", range(3))
def test_python_examples_of_the_docs_run(index, redis_port, redis_port_2, capsys):
    code = blocks()[index]
    code = code.replace("port=6379", f"port={redis_port}").replace("50051", str(redis_port_2))
    exec(compile(code, f"{DOC}:python block {index}", "exec"), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert out, "each example prints something"
