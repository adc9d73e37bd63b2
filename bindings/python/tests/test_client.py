"""The seed's socket client and two-tier cache against real servers, and migration from Redis."""

import asyncio
import hashlib
import json

import numpy as np
import pytest
import redis

from sutra_cache import MultiTierSutraCache, SutraCacheClient, embedding_key, migrate_from_redis

EMB = np.arange(768, dtype=np.float32) / 768


def test_keys_are_the_model_and_the_sha256_of_the_text():
    assert embedding_key("hello", "minilm") == "minilm:" + hashlib.sha256(b"hello").hexdigest()


def test_sync_client_round_trips_embeddings_and_counts_hits(shard_port, redis_port):
    c = SutraCacheClient("127.0.0.1", shard_port, default_ttl_seconds=3600)
    assert c.get_sync("hello", "m") is None
    assert c.set_sync("hello", EMB, "m")
    got = c.get_sync("hello", "m")
    assert got is not None and np.array_equal(got, EMB)
    raw = redis.Redis(port=shard_port)
    key = embedding_key("hello", "m")
    assert raw.get(key) == EMB.astype("<f4").tobytes()
    assert 3500 < raw.ttl(key) <= 3600
    c.set_sync("short", [1.0, 2.0], "m", ttl_seconds=5)
    assert 0 < raw.ttl(embedding_key("short", "m")) <= 5
    s = c.stats_sync()
    assert {k: s[k] for k in ("hits", "misses", "total_requests")} == {
        "hits": 1, "misses": 1, "total_requests": 2}
    assert s["hit_rate"] == 0.5 and s["shard"] == f"127.0.0.1:{shard_port}"
    assert s["backend"] == ("redis" if shard_port == redis_port else "sutra-cache")
    c.clear_sync()
    assert c.get_sync("hello", "m") is None
    c.close()


def test_async_client_matches_the_seed_api(shard_port):
    async def run() -> dict:
        c = SutraCacheClient("127.0.0.1", shard_port)
        await c.set("t", EMB, "m")
        got = await c.get("t", "m")
        assert got is not None and np.array_equal(got, EMB)
        assert await c.get("other", "m") is None
        s = await c.stats()
        await c.clear()
        assert await c.get("t", "m") is None
        await c.aclose()
        return s

    s = asyncio.run(run())
    assert s["hits"] == 1 and s["misses"] == 1 and s["total_requests"] == 2


def test_two_tier_cache_promotes_l2_hits_and_writes_through(shard_port):
    mt = MultiTierSutraCache(l1_max_size=2, cache_shard_host="127.0.0.1", cache_shard_port=shard_port)
    mt.set_sync("a", EMB, "m")
    assert redis.Redis(port=shard_port).exists(embedding_key("a", "m"))
    assert np.array_equal(mt.get_sync("a", "m"), EMB)  # L1 hit
    other = SutraCacheClient("127.0.0.1", shard_port)
    other.set_sync("b", [1.0, 2.0], "m")  # only in L2
    assert np.array_equal(mt.get_sync("b", "m"), [1.0, 2.0])  # L2 hit, promoted
    assert np.array_equal(mt.get_sync("b", "m"), [1.0, 2.0])  # now an L1 hit
    assert mt.get_sync("zz", "m") is None
    s = mt.stats_sync()
    assert (s["l1"]["hits"], s["l2"]["hits"], s["l2"]["misses"]) == (2, 1, 1)
    assert s["total_requests"] == 4 and s["hits"] == 3 and s["hit_rate"] == 0.75
    for t in ("c", "d", "e"):  # L1 holds 2: older entries leave L1 but stay in L2
        mt.set_sync(t, [0.5], "m")
    assert s["l1"]["max_size"] == 2 and mt.stats_sync()["l1"]["size"] == 2
    assert np.array_equal(mt.get_sync("a", "m"), EMB)
    asyncio.run(mt.set("f", [3.0], "m"))
    assert np.array_equal(asyncio.run(mt.get("f", "m")), [3.0])
    mt.clear_sync()
    assert mt.get_sync("f", "m") is None
    mt.close()


@pytest.fixture(params=["sutra", "redis"])
def target_port(request):
    """The migration target: sutra-cache, and a second Redis as the reference."""
    port = request.getfixturevalue("sutra_port" if request.param == "sutra" else "redis_port_2")
    redis.Redis(port=port).flushdb()
    return port


def test_migration_copies_matching_keys_with_their_ttl(redis_port, target_port):
    src = redis.Redis(port=redis_port)
    src.flushdb()
    for i in range(1200):
        src.set(f"emb:{i}", json.dumps({"text": f"text {i}", "embedding": [float(i), 1.0]}))
    src.set("emb:bad", b"not json")
    src.set("other:1", json.dumps({"text": "x", "embedding": [0.0]}))
    src.pexpire("emb:7", 5000)
    target = SutraCacheClient("127.0.0.1", target_port)
    counts = migrate_from_redis(target, src, "emb:*", model="minilm", batch=100, progress=False)
    assert counts == {"migrated": 1200, "skipped": 1}
    assert np.array_equal(target.get_sync("text 5", "minilm"), [5.0, 1.0])
    assert target.get_sync("x", "minilm") is None
    ttl = redis.Redis(port=target_port).pttl(embedding_key("text 7", "minilm"))
    assert 0 < ttl <= 5000


def test_migration_to_a_second_redis_uses_a_custom_decoder(redis_port, redis_port_2):
    src = redis.Redis(port=redis_port)
    src.flushdb()
    redis.Redis(port=redis_port_2).flushdb()
    for i in range(10):
        src.set(f"raw:{i}", np.full(4, i, dtype="<f4").tobytes())
    target = SutraCacheClient("127.0.0.1", redis_port_2)

    def decode(key: bytes, value: bytes):
        return key.decode(), np.frombuffer(value, dtype="<f4")

    counts = target.migrate_from_redis(src, "raw:*", decode, model="m", progress=True)
    assert counts == {"migrated": 10, "skipped": 0}
    assert np.array_equal(target.get_sync("raw:3", "m"), np.full(4, 3, dtype=np.float32))
