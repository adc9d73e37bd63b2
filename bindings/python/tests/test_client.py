"""The seed's client (`SutraCacheClient`, `MultiTierSutraCache`) against a real sutra-cache:
the seed's snippets, the entry format as other RESP clients see it, every bad input, and
freshness (max age, single-flight get_or_compute)."""

import asyncio
import hashlib
import json
import logging
import math
import os
import threading
import time

import numpy as np
import pytest
import redis

from sutra_cache import (CacheError, MultiTierSutraCache, NoQueryEmbedding, SutraCacheClient,
                         migrate_from_redis)
from conftest import free_port

EMB = (np.arange(768, dtype=np.float32) / 768).tolist()


def unit(*xs):
    v = np.asarray(xs, dtype=np.float64)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


def poll(cond, deadline=30.0, every=0.01):
    """True as soon as cond() is; False after `deadline` seconds (generous: the machine is
    shared)."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(every)
    return bool(cond())


# ---- the seed's snippets ----

def test_the_seeds_client_snippet_runs_as_written(sutra):
    """Step 2 of the seed: construct, set, get (`if result:`), stats() synchronously."""
    async def run():
        cache = SutraCacheClient(cache_host="127.0.0.1", cache_port=sutra,
                                 default_ttl_seconds=86400)
        await cache.set("What is the capital of France?", EMB, model="default")
        result = await cache.get("What is the capital of France?", model="default")
        if result:
            assert result == EMB
        else:
            pytest.fail("the seed's `if result:` saw a miss")
        assert await cache.get("never cached") is None
        stats = cache.stats()
        assert {k: stats[k] for k in ("hits", "misses", "total_requests", "hit_rate", "backend",
                                      "shard")} == {
            "hits": 1, "misses": 1, "total_requests": 2, "hit_rate": 0.5,
            "backend": "sutra_storage", "shard": f"127.0.0.1:{sutra}"}
        await cache.aclose()
    asyncio.run(run())


def test_the_seeds_two_tier_snippet_runs_as_written(sutra):
    cache = MultiTierSutraCache(l1_max_size=10000, cache_shard_host="127.0.0.1",
                                cache_shard_port=sutra)

    async def run():
        await cache.set("hello", EMB, "default", ttl=86400)
        assert await cache.get("hello") == EMB  # L1, or L2 when tracking dropped it
        assert await cache.get("absent") is None
    asyncio.run(run())
    # Reads promote the entry into the L1 (once the tracking connection is up and no
    # invalidation of it, such as the set's own, is in flight).
    assert poll(lambda: cache.get_sync("hello") == EMB and cache.stats()["l1"]["size"] == 1)
    cache.get_sync("hello")
    s = cache.stats()
    assert set(s["l1"]) >= {"size", "max_size", "utilization"}
    assert s["l1"]["max_size"] == 10000 and s["l1"]["size"] == 1
    assert s["l1"]["utilization"] == 1 / 10000 and s["l1"]["hits"] >= 1
    assert s["l2"]["backend"] == "sutra_storage"
    assert s["misses"] == 1 and s["total_requests"] == s["hits"] + 1
    assert s["total_hit_rate"] == (s["l1"]["hits"] + s["l2"]["hits"]) / s["total_requests"]
    assert s["backend"] == "100% Sutra Native"
    cache.close()


def test_the_seeds_service_integration_reads_its_environment(sutra, monkeypatch):
    """Step 3 of the seed, verbatim, and `from_env()` reading the same variables."""
    monkeypatch.setenv("L1_CACHE_SIZE", "123")
    monkeypatch.setenv("CACHE_SHARD_HOST", "127.0.0.1")
    monkeypatch.setenv("CACHE_SHARD_PORT", str(sutra))
    from sutra_cache_client import MultiTierSutraCache as Seeds

    class EmbeddingService:
        def __init__(self):
            self.cache = Seeds(
                l1_max_size=int(os.getenv("L1_CACHE_SIZE", "10000")),
                cache_shard_host=os.getenv("CACHE_SHARD_HOST", "storage-cache-shard"),
                cache_shard_port=int(os.getenv("CACHE_SHARD_PORT", "50051"))
            )

    service = EmbeddingService()
    from_env = MultiTierSutraCache.from_env()
    try:
        for c in (service.cache, from_env):
            assert c.l1_max_size == 123
            assert c.stats()["l2"]["shard"] == f"127.0.0.1:{sutra}"
        asyncio.run(service.cache.set("t", EMB))
        assert asyncio.run(from_env.get("t")) == EMB
    finally:
        service.cache.close()
        from_env.close()
    monkeypatch.setenv("L1_CACHE_SIZE", "lots")
    with pytest.raises(ValueError, match="L1_CACHE_SIZE"):
        MultiTierSutraCache.from_env()


def test_the_seeds_semantic_invalidation_snippet_removes_related_entries(sutra):
    cache_client = SutraCacheClient(cache_host="127.0.0.1", cache_port=sutra)
    cache_client.set_sync("Apple Inc stock data", unit(1, 0, 0), "fin")
    cache_client.set_sync("AAPL share price today", unit(1, 0.1, 0), "fin")  # cos 0.995
    cache_client.set_sync("banana bread recipe", unit(0, 1, 0), "fin")       # cos 0
    cache_client.set_sync("Apple Inc stock data", unit(0, 0, 1, 0), "other")

    async def run():
        return await cache_client.semantic_invalidate(
            query="Apple Inc stock data",
            similarity_threshold=0.85
        )
    removed = asyncio.run(run())
    assert sorted((r.model, r.text) for r in removed) == [
        ("fin", "AAPL share price today"), ("fin", "Apple Inc stock data"),
        ("other", "Apple Inc stock data")]
    assert all(r.similarity >= 0.85 for r in removed)
    assert cache_client.get_sync("banana bread recipe", "fin") is not None
    assert cache_client.get_sync("Apple Inc stock data", "fin") is None


def test_the_seeds_import_line_gives_the_same_objects():
    import sutra_cache
    import sutra_cache_client
    assert sutra_cache_client.MultiTierSutraCache is sutra_cache.MultiTierSutraCache
    assert sutra_cache_client.SutraCacheClient is sutra_cache.SutraCacheClient


# ---- the entry format, as other clients see it ----

def test_entries_are_vector_set_elements_with_the_seeds_attributes(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    before = time.time()
    assert c.set_sync("hello", EMB, "minilm", tags={"topic": "greeting"})
    raw = redis.Redis(port=sutra)
    assert raw.type("emb:minilm") == b"vectorset"
    assert raw.execute_command("VGETF32", "emb:minilm", "hello") == np.asarray(EMB, "<f4").tobytes()
    attrs = json.loads(raw.execute_command("VGETATTR", "emb:minilm", "hello"))
    assert list(attrs) == ["concept_type", "source", "model", "cached_at", "expires_at",
                           "ttl_seconds", "topic"]
    assert attrs["concept_type"] == "embedding_cache" and attrs["source"] == "embedding_service"
    assert attrs["model"] == "minilm" and attrs["ttl_seconds"] == 86400
    assert before <= attrs["cached_at"] <= time.time()
    assert attrs["expires_at"] == pytest.approx(attrs["cached_at"] + 86400)
    assert 86000 < raw.execute_command("VTTL", "emb:minilm", "hello") <= 86400
    # VSIM and VINVALIDATE see the entries; the filter language reads their attributes.
    hits = raw.execute_command("VSIM", "emb:minilm", "ELE", "hello", "WITHSCORES",
                               "FILTER", '.concept_type == "embedding_cache" and .topic == "greeting"')
    hits = hits if isinstance(hits, dict) else dict(zip(hits[::2], hits[1::2]))  # RESP3 or 2
    assert list(hits) == [b"hello"] and float(hits[b"hello"]) > 0.999
    assert raw.execute_command("VINVALIDATE", "emb:minilm", "ELE", "hello", "THRESHOLD", "0.99") == 1
    assert c.get_sync("hello", "minilm") is None


def test_long_texts_and_texts_looking_like_hashes_are_named_by_their_sha256(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    raw = redis.Redis(port=sutra)
    for text in ("é" * 129, "x" * 257, "sha256:abc", "y" * 256):
        c.set_sync(text, [1.0, 2.0], "m")
        assert c.get_sync(text, "m") == [1.0, 2.0]
    assert raw.execute_command("VISMEMBER", "emb:m", "y" * 256) == 1  # 256 bytes: its own name
    for text in ("é" * 129, "x" * 257, "sha256:abc"):  # 258 bytes, 257 bytes, the prefix
        name = "sha256:" + hashlib.sha256(text.encode()).hexdigest()
        assert json.loads(raw.execute_command("VGETATTR", "emb:m", name))["text"] == text
    assert raw.execute_command("VCARD", "emb:m") == 4


def test_exact_hits_return_the_stored_float32_values_bit_for_bit(sutra):
    rng = np.random.default_rng(7)
    v = rng.standard_normal(384).astype(np.float32)
    v[:4] = [np.float32(-0.0), np.float32(1e-45), np.float32(3.4e38), np.float32(1.17549435e-38)]
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("v", v, "m")
    got = c.get_sync("v", "m")
    assert isinstance(got, list) and all(isinstance(x, float) for x in got)
    assert np.asarray(got, dtype=np.float32).tobytes() == v.tobytes()
    npc = SutraCacheClient("127.0.0.1", sutra, numpy=True)
    arr = npc.get_sync("v", "m")
    assert arr.dtype == np.float32 and arr.tobytes() == v.tobytes()
    assert asyncio.run(npc.get("v", "m")).tobytes() == v.tobytes()


def test_clear_removes_the_namespaces_sets_and_leaves_every_other_key(sutra):
    raw = redis.Redis(port=sutra)
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("a", [1.0, 0.0], "m1")
    c.set_sync("b", [1.0, 0.0, 0.0], "m2")
    raw.set("emb:plain-blob", b"not an embedding set")
    raw.set("app:data", b"1")
    raw.execute_command("VADD", "other:m1", "VALUES", 2, 1, 0, "x")
    other_ns = SutraCacheClient("127.0.0.1", sutra, namespace="emb2:")
    other_ns.set_sync("a", [1.0, 0.0], "m1")
    assert sorted(c.models_sync()) == ["m1", "m2"]
    assert asyncio.run(c.clear()) == 2
    assert sorted(raw.keys()) == [b"app:data", b"emb2:m1", b"emb:plain-blob", b"other:m1"]
    assert c.get_sync("a", "m1") is None and other_ns.get_sync("a", "m1") == [1.0, 0.0]
    assert c.clear_sync() == 0


def test_ttls_default_to_a_day_and_an_entry_expires_with_its_ttl(sutra):
    raw = redis.Redis(port=sutra)
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("day", [1.0], "m")
    c.set_sync("zero-means-default", [1.0], "m", ttl_seconds=0)
    assert 86000 < raw.execute_command("VTTL", "emb:m", "zero-means-default") <= 86400
    forever = SutraCacheClient("127.0.0.1", sutra, default_ttl_seconds=None)
    forever.set_sync("forever", [1.0], "m")
    assert raw.execute_command("VTTL", "emb:m", "forever") == -1
    assert json.loads(raw.execute_command("VGETATTR", "emb:m", "forever"))["expires_at"] is None
    c.set_sync("short", [1.0], "m", ttl_seconds=1)
    assert poll(lambda: c.get_sync("short", "m") is None)
    assert c.get_sync("day", "m") == [1.0]


# ---- bad input ----

@pytest.mark.parametrize("bad", [
    [1.0, float("nan")], [float("inf"), 1.0], [1e39], "1,2,3", {"a": 1.0}, 3.0, None,
    [[1.0, 2.0]], ["1.0"], [], np.zeros((2, 2), np.float32), b"\x00\x00\x80\x3f",
])
def test_an_invalid_embedding_is_a_value_error_never_a_cache_failure(sutra, bad):
    c = SutraCacheClient("127.0.0.1", sutra)
    mt = MultiTierSutraCache(10, "127.0.0.1", sutra, tracking=False)
    with pytest.raises(ValueError, match="embedding"):
        c.set_sync("t", bad)
    with pytest.raises(ValueError, match="embedding"):
        asyncio.run(c.set("t", bad))
    with pytest.raises(ValueError, match="embedding"):
        asyncio.run(mt.set("t", bad))
    with pytest.raises(ValueError):
        c.find_similar_sync(bad if not isinstance(bad, str) else [float("nan")])
    assert c.stats()["errors"] == 0 and redis.Redis(port=sutra).dbsize() == 0
    mt.close()


@pytest.mark.parametrize("t", [1.5, -1.01, float("nan"), "0.9", None, True])
def test_a_threshold_outside_minus_one_to_one_is_a_value_error(sutra, t):
    c = SutraCacheClient("127.0.0.1", sutra)
    with pytest.raises(ValueError, match="similarity_threshold"):
        c.semantic_invalidate_sync([1.0, 0.0], similarity_threshold=t)
    with pytest.raises(ValueError, match="similarity_threshold"):
        asyncio.run(c.semantic_invalidate("x", t))
    if t is not None:
        with pytest.raises(ValueError, match="min_similarity"):
            c.find_similar_sync([1.0, 0.0], min_similarity=t)


def test_other_bad_arguments_are_value_errors(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    for call in (lambda: c.set_sync(b"bytes text", [1.0]),
                 lambda: c.get_sync(42),
                 lambda: c.set_sync("t", [1.0], model=""),
                 lambda: c.set_sync("t", [1.0], ttl_seconds=-5),
                 lambda: c.set_sync("t", [1.0], ttl_seconds=1.5),
                 lambda: c.set_sync("t", [1.0], tags={"model": "x"}),
                 lambda: c.set_sync("t", [1.0], tags={"nested": {"a": 1}}),
                 lambda: c.get_sync("t", max_age_seconds=-1),
                 lambda: c.find_similar_sync([1.0], k=0),
                 lambda: MultiTierSutraCache(0, "127.0.0.1", sutra, tracking=False),
                 lambda: SutraCacheClient("127.0.0.1", sutra, default_ttl_seconds=-1),
                 lambda: SutraCacheClient(redis_client=redis.Redis(port=sutra, decode_responses=True))):
        with pytest.raises(ValueError):
            call()
    assert c.stats()["errors"] == 0


def test_a_wrong_dimension_is_a_warning_and_with_strict_an_error_naming_both(sutra, caplog):
    c = SutraCacheClient("127.0.0.1", sutra)
    assert c.set_sync("a", [1.0, 0.0, 0.0], "m")
    with caplog.at_level(logging.WARNING, logger="sutra_cache.client"):
        assert c.set_sync("b", [1.0, 0.0], "m") is False
        assert asyncio.run(c.set("b", [1.0, 0.0], "m")) is False
    assert "dimension" in caplog.text and "got 2" in caplog.text and "3" in caplog.text
    s = c.stats()
    assert s["set_errors"] == 2 and s["errors"] == 2 and "dimension" in s["last_error"]
    strict = SutraCacheClient("127.0.0.1", sutra, strict=True)
    with pytest.raises(CacheError, match="dimension"):
        strict.set_sync("b", [1.0, 0.0], "m")
    with pytest.raises(CacheError, match="dimension"):
        strict.semantic_invalidate_sync([1.0, 0.0], 0.5, model="m")
    assert c.semantic_invalidate_sync([1.0, 0.0], 0.5, model="m") == []
    # model=None: an embedding applies to the sets of its dimension only.
    c.set_sync("c", [0.0, 1.0], "two")
    assert [r.text for r in c.semantic_invalidate_sync([0.0, 1.0], 0.9)] == ["c"]


def test_an_unreachable_shard_is_a_miss_with_a_warning_unless_strict(caplog):
    port = free_port()  # nothing listens there
    c = SutraCacheClient("127.0.0.1", port)
    mt = MultiTierSutraCache(10, "127.0.0.1", port)
    with caplog.at_level(logging.WARNING):
        assert c.get_sync("t") is None
        assert asyncio.run(c.get("t")) is None
        assert c.set_sync("t", [1.0]) is False
        assert asyncio.run(c.set("t", [1.0])) is False
        assert c.find_similar_sync([1.0]) == []
        assert c.semantic_invalidate_sync("t") == []
        assert asyncio.run(c.clear()) == 0
        assert asyncio.run(mt.set("t", [1.0])) is False
        assert asyncio.run(mt.get("t")) is None
    assert "failed" in caplog.text and f"127.0.0.1:{port}" in caplog.text
    s = c.stats()
    assert (s["misses"], s["hits"], s["errors"], s["set_errors"]) == (2, 0, 7, 2)
    assert mt.stats()["l2"]["errors"] == 2 and mt.stats()["misses"] == 1
    assert mt.stats()["l1"]["size"] == 0
    mt.close()
    strict = SutraCacheClient("127.0.0.1", port, strict=True)
    for call in (lambda: strict.get_sync("t"), lambda: asyncio.run(strict.get("t")),
                 lambda: strict.set_sync("t", [1.0]), lambda: strict.clear_sync()):
        with pytest.raises(CacheError, match=f"127.0.0.1:{port}"):
            call()


# ---- find_similar and semantic_invalidate ----

def test_find_similar_ranks_entries_by_cosine_and_returns_texts_and_attributes(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("apple", unit(1, 0, 0), "m", tags={"topic": "fruit"})
    c.set_sync("pear", unit(0.8, 0.6, 0), "m", tags={"topic": "fruit"})   # cos 0.8
    c.set_sync("car", unit(0, 0, 1), "m", tags={"topic": "vehicle"})      # cos 0
    long_text = "apple " * 60
    c.set_sync(long_text, unit(0.99, 0.141, 0), "m")
    hits = c.find_similar_sync(unit(1, 0, 0), "m", k=10)
    assert [h.text for h in hits] == ["apple", long_text, "pear", "car"]
    assert hits[2].similarity == pytest.approx(0.8, abs=1e-5)
    assert hits[0].attributes["topic"] == "fruit"
    text, sim, attrs = hits[3]
    assert (text, attrs["model"]) == ("car", "m") and sim == pytest.approx(0.0, abs=1e-5)
    assert [h.text for h in c.find_similar_sync("apple", "m", k=10, min_similarity=0.7)] == [
        "apple", long_text, "pear"]
    assert [h.text for h in asyncio.run(c.find_similar(
        "apple", "m", k=10, filter='.topic == "fruit"'))] == ["apple", "pear"]
    assert c.find_similar_sync("apple", "no-such-model") == []
    with pytest.raises(NoQueryEmbedding, match="embedder"):
        c.find_similar_sync("not cached", "m")
    embedded = SutraCacheClient("127.0.0.1", sutra, embedder=lambda t: unit(0, 0.1, 1))
    assert embedded.find_similar_sync("vehicles", "m", k=1)[0].text == "car"


def test_semantic_invalidate_maps_the_cosine_threshold_to_the_score(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("q", unit(1, 0), "m")
    c.set_sync("cos-0.8", unit(0.8, 0.6), "m")
    c.set_sync("cos--0.6", unit(-0.6, 0.8), "m")
    assert [r.text for r in c.semantic_invalidate_sync(unit(1, 0), 0.85, "m")] == ["q"]
    assert [r.text for r in c.semantic_invalidate_sync(unit(1, 0), 0.79, "m")] == ["cos-0.8"]
    assert c.semantic_invalidate_sync(unit(1, 0), -0.59, "m") == []
    removed = c.semantic_invalidate_sync(unit(1, 0), -0.61, "m")
    assert [r.text for r in removed] == ["cos--0.6"]
    assert removed[0].similarity == pytest.approx(-0.6, abs=1e-5)


def test_semantic_invalidate_of_an_uncached_text_uses_the_embedder_or_says_what_is_missing(sutra):
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("a", unit(1, 0), "m")
    with pytest.raises(NoQueryEmbedding, match=r"not cached in model 'm'.*no embedder"):
        c.semantic_invalidate_sync("query text", 0.9, model="m")
    with pytest.raises(NoQueryEmbedding, match="not cached in any model"):
        asyncio.run(c.semantic_invalidate("query text", 0.9))
    calls = []

    async def embed(text):  # an async embedder works with the async method
        calls.append(text)
        return unit(1, 0.01)
    e = SutraCacheClient("127.0.0.1", sutra, embedder={"m": embed})
    assert [r.text for r in asyncio.run(e.semantic_invalidate("query text", 0.9))] == ["a"]
    assert calls == ["query text"]
    c.set_sync("b", unit(0, 1), "m")
    with pytest.raises(ValueError, match="async"):
        e.semantic_invalidate_sync("other text", 0.9)


# ---- freshness ----

def test_an_entry_older_than_max_age_is_a_miss(sutra):
    raw = redis.Redis(port=sutra)
    c = SutraCacheClient("127.0.0.1", sutra)
    c.set_sync("old", [1.0, 2.0], "m")
    attrs = json.loads(raw.execute_command("VGETATTR", "emb:m", "old"))
    attrs["cached_at"] -= 100  # as if cached 100 s ago
    raw.execute_command("VSETATTR", "emb:m", "old", json.dumps(attrs))
    assert c.get_sync("old", "m", max_age_seconds=50) is None
    assert asyncio.run(c.get("old", "m", max_age_seconds=50)) is None
    assert c.get_sync("old", "m", max_age_seconds=1000) == [1.0, 2.0]
    assert c.get_sync("old", "m") == [1.0, 2.0]
    mt = MultiTierSutraCache(10, "127.0.0.1", sutra, tracking=False)
    assert mt.get_sync("old", "m") == [1.0, 2.0]            # promoted into L1
    assert mt.get_sync("old", "m", max_age_seconds=50) is None  # L1 knows its cached_at too
    assert mt.stats()["l1"]["size"] == 1
    mt.close()


def test_get_or_compute_computes_once_for_many_concurrent_coroutines(sutra):
    calls = []

    async def compute(text):
        calls.append(text)
        await asyncio.sleep(0.05)
        return [1.0, 2.0, 3.0]

    async def run(cache):
        got = await asyncio.gather(*(cache.get_or_compute("t", "m", compute) for _ in range(50)))
        assert all(g == [1.0, 2.0, 3.0] for g in got)
        assert await cache.get_or_compute("t", "m", compute) == [1.0, 2.0, 3.0]

    c = SutraCacheClient("127.0.0.1", sutra)
    asyncio.run(run(c))
    assert calls == ["t"] and c.stats()["coalesced"] == 49
    redis.Redis(port=sutra).flushall()
    mt = MultiTierSutraCache(10, "127.0.0.1", sutra)
    asyncio.run(run(mt))
    assert calls == ["t", "t"]
    mt.close()


def test_get_or_compute_sync_computes_once_for_many_threads(sutra):
    calls = []
    lock = threading.Lock()

    def compute(text):
        with lock:
            calls.append(text)
        time.sleep(0.2)
        return [4.0, 5.0]

    c = SutraCacheClient("127.0.0.1", sutra)
    barrier = threading.Barrier(16)
    results = []

    def worker():
        barrier.wait()
        results.append(c.get_or_compute_sync("u", "m", compute))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["u"] and results == [[4.0, 5.0]] * 16
    assert c.get_sync("u", "m") == [4.0, 5.0]

    def boom(text):
        raise RuntimeError("model down")
    with pytest.raises(RuntimeError, match="model down"):
        c.get_or_compute_sync("v", "m", boom)
    assert c.get_sync("v", "m") is None


# ---- options, the two-tier cache, migration ----

def test_url_and_existing_redis_clients_are_accepted(sutra):
    by_url = SutraCacheClient(url=f"redis://127.0.0.1:{sutra}/0")
    by_url.set_sync("a", [1.0])
    assert asyncio.run(by_url.get("a")) == [1.0]
    assert by_url.stats()["shard"] == f"127.0.0.1:{sutra}"
    given = SutraCacheClient(redis_client=redis.Redis(port=sutra))
    assert given.get_sync("a") == [1.0] and asyncio.run(given.get("a")) == [1.0]

    async def run():
        import redis.asyncio as aioredis
        aio = SutraCacheClient(redis_client=aioredis.Redis(port=sutra))
        assert await aio.get("a") == [1.0]
        with pytest.raises(ValueError, match="async"):
            aio.get_sync("a")
    asyncio.run(run())


def test_two_tier_l1_is_lru_bounded_and_expires_with_the_entry(sutra):
    mt = MultiTierSutraCache(2, "127.0.0.1", sutra, tracking=False)
    for t in ("a", "b", "c"):
        mt.set_sync(t, [1.0], "m")
    assert mt.stats()["l1"]["size"] == 2
    assert mt.get_sync("a", "m") == [1.0]  # from L2, promoted (evicting b)
    s = mt.stats()
    assert (s["l1"]["hits"], s["l2"]["hits"], s["hits"]) == (0, 1, 1)
    assert mt.get_sync("c", "m") == [1.0] and mt.stats()["l1"]["hits"] == 1
    mt.set_sync("short", [2.0], "m", ttl=1)
    assert poll(lambda: mt.get_sync("short", "m") is None)
    got = mt.get_sync("a", "m")
    got.append(99.0)  # a caller mutating its result does not change the cache
    assert mt.get_sync("a", "m") == [1.0]
    assert mt.clear_sync() == 1 and mt.stats()["l1"]["size"] == 0
    mt.close()


def test_migration_writes_the_vector_set_format_and_keeps_ttls(redis_port, sutra):
    src = redis.Redis(port=redis_port)
    src.flushdb()
    for i in range(1200):
        src.set(f"emb:{i}", json.dumps({"text": f"text {i}", "embedding": [float(i), 1.0]}))
    src.set("emb:bad", b"not json")
    src.set("emb:nan", json.dumps({"text": "nan", "embedding": [math.nan, 1.0]}))
    src.set("other:1", json.dumps({"text": "x", "embedding": [0.0, 1.0]}))
    src.pexpire("emb:7", 5000)
    target = SutraCacheClient("127.0.0.1", sutra)
    counts = migrate_from_redis(target, src, "emb:*", model="minilm", batch=100, progress=False)
    assert counts == {"migrated": 1200, "skipped": 2}
    assert target.get_sync("text 5", "minilm") == [5.0, 1.0]
    assert target.get_sync("x", "minilm") is None
    raw = redis.Redis(port=sutra)
    assert 0 < raw.execute_command("VPTTL", "emb:minilm", "text 7") <= 5000
    assert json.loads(raw.execute_command("VGETATTR", "emb:minilm", "text 7"))["ttl_seconds"] == 5
    assert 86000 < raw.execute_command("VTTL", "emb:minilm", "text 8") <= 86400
    assert raw.execute_command("VCARD", "emb:minilm") == 1200
