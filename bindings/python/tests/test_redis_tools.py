"""The Redis tools embedding-cache users already run, installed from PyPI and used unchanged
against sutra-cache, with a real Redis as the reference: RedisVL's `EmbeddingsCache` and
LlamaIndex's `RedisKVStore` (both keep their entries in Redis hashes).

RedisVL runs in the project venv (scripts/setup.sh pins it). LlamaIndex's Redis KV store needs
redis-py < 6, which the rest of the tests cannot use, so scripts/setup.sh gives it a venv of
its own (`.venv-llamaindex`) and the test runs it there as a child process.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
import redis

from conftest import ROOT

from redisvl.extensions.cache.embeddings import EmbeddingsCache

LLAMAINDEX_PYTHON = ROOT / ".venv-llamaindex" / "bin" / "python3"


def _without_times(entry):
    """An EmbeddingsCache entry without its insertion time (differs between servers)."""
    if entry is None:
        return None
    assert isinstance(entry["inserted_at"], float)
    return {k: v for k, v in entry.items() if k != "inserted_at"}


def test_redisvl_embeddings_cache_sets_gets_and_drops_entries_with_ttls(shard_port: int) -> None:
    cache = EmbeddingsCache(name="embedcache", redis_url=f"redis://127.0.0.1:{shard_port}",
                            ttl=600)
    key = cache.set(content="What is machine learning?", model_name="minilm",
                    embedding=[0.1, 0.2, 0.3], metadata={"source": "faq"})
    assert key.startswith("embedcache:")
    got = _without_times(cache.get(content="What is machine learning?", model_name="minilm"))
    assert got == {
        "entry_id": key.split(":", 1)[1],
        "content": "What is machine learning?",
        "model_name": "minilm",
        "embedding": [0.1, 0.2, 0.3],
        "metadata": {"source": "faq"},
    }
    assert cache.get(content="What is machine learning?", model_name="other") is None
    assert cache.exists(content="What is machine learning?", model_name="minilm")
    assert not cache.exists(content="never stored", model_name="minilm")

    keys = cache.mset([
        {"content": "one", "model_name": "minilm", "embedding": [1.0, 2.0]},
        {"content": "two", "model_name": "minilm", "embedding": [3.0, 4.0],
         "metadata": {"n": 2}},
    ])
    assert len(keys) == 2
    many = [_without_times(e) for e in cache.mget(contents=["one", "two", "three"],
                                                   model_name="minilm")]
    assert [e and e["embedding"] for e in many] == [[1.0, 2.0], [3.0, 4.0], None]
    assert many[1]["metadata"] == {"n": 2}
    assert cache.mexists(contents=["one", "three"], model_name="minilm") == [True, False]

    # The TTL is the key's, as Redis's EXPIRE sets it; a per-entry TTL overrides it.
    client = redis.Redis(port=shard_port)
    assert 590 <= client.ttl(key) <= 600
    assert client.type(key) == b"hash"
    short = cache.set(content="short-lived", model_name="minilm", embedding=[9.0], ttl=1)
    assert client.pttl(short) <= 1000
    deadline = time.monotonic() + 30
    while cache.exists(content="short-lived", model_name="minilm"):
        assert time.monotonic() < deadline, "a 1 s TTL passed within 30 s"
        time.sleep(0.1)
    assert cache.get(content="short-lived", model_name="minilm") is None

    cache.drop(content="What is machine learning?", model_name="minilm")
    assert cache.get(content="What is machine learning?", model_name="minilm") is None
    cache.mdrop(contents=["one", "two"], model_name="minilm")
    assert cache.mget(contents=["one", "two"], model_name="minilm") == [None, None]


def test_redisvl_embeddings_cache_async_calls_work_the_same(shard_port: int) -> None:
    cache = EmbeddingsCache(name="asynccache", redis_url=f"redis://127.0.0.1:{shard_port}")

    async def run() -> None:
        await cache.aset(content="a", model_name="m", embedding=[1.5])
        assert _without_times(await cache.aget(content="a", model_name="m"))["embedding"] == [1.5]
        await cache.amset([{"content": "b", "model_name": "m", "embedding": [2.5]}], ttl=100)
        got = await cache.amget(contents=["a", "b", "c"], model_name="m")
        assert [e and e["embedding"] for e in got] == [[1.5], [2.5], None]
        assert await cache.aexists(content="b", model_name="m")
        await cache.adrop(content="a", model_name="m")
        assert await cache.aget(content="a", model_name="m") is None
        await cache.amdrop(contents=["b"], model_name="m")
        assert not await cache.aexists(content="b", model_name="m")

    asyncio.run(run())


LLAMAINDEX_SCRIPT = r"""
import asyncio, json, sys
from llama_index.storage.kvstore.redis import RedisKVStore

kv = RedisKVStore.from_host_and_port("127.0.0.1", int(sys.argv[1]))
out = {}
kv.put("doc1", {"text": "hello", "n": 1}, collection="docs")
kv.put("doc2", {"text": "world", "n": 2}, collection="docs")
out["get"] = kv.get("doc1", collection="docs")
out["missing"] = kv.get("nope", collection="docs")
out["all"] = kv.get_all(collection="docs")
kv.put_all([("a", {"x": 1}), ("b", {"y": [1, 2]})], collection="batch", batch_size=1)
out["batch"] = kv.get_all(collection="batch")
out["deleted"] = [kv.delete("doc1", collection="docs"), kv.delete("doc1", collection="docs")]
out["after_delete"] = kv.get_all(collection="docs")

async def run():
    await kv.aput("x", {"v": [1, 2, 3]}, collection="async")
    out["aget"] = await kv.aget("x", collection="async")
    await kv.aput_all([("y", {"v": 1}), ("z", {"v": 2})], collection="async")
    out["aget_all"] = await kv.aget_all(collection="async")
    out["adeleted"] = [await kv.adelete("x", collection="async"),
                       await kv.adelete("x", collection="async")]
    out["after_adelete"] = await kv.aget_all(collection="async")

asyncio.run(run())
print(json.dumps(out, sort_keys=True))
"""


def test_llamaindex_redis_kvstore_puts_gets_and_deletes_sync_and_async(shard_port: int) -> None:
    assert LLAMAINDEX_PYTHON.exists(), \
        f"{LLAMAINDEX_PYTHON} is missing: run scripts/setup.sh (it makes .venv-llamaindex)"
    run = subprocess.run([str(LLAMAINDEX_PYTHON), "-c", LLAMAINDEX_SCRIPT, str(shard_port)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out == {
        "get": {"text": "hello", "n": 1},
        "missing": None,
        "all": {"doc1": {"text": "hello", "n": 1}, "doc2": {"text": "world", "n": 2}},
        "batch": {"a": {"x": 1}, "b": {"y": [1, 2]}},
        "deleted": [True, False],
        "after_delete": {"doc2": {"text": "world", "n": 2}},
        "aget": {"v": [1, 2, 3]},
        "aget_all": {"x": {"v": [1, 2, 3]}, "y": {"v": 1}, "z": {"v": 2}},
        "adeleted": [True, False],
        "after_adelete": {"y": {"v": 1}, "z": {"v": 2}},
    }
    # The collections are Redis hashes, one per collection.
    client = redis.Redis(port=shard_port)
    assert client.type("docs") == b"hash"
    assert client.hkeys("async") == [b"y", b"z"]
