"""`MultiTierSutraCache.warmup` (issue #15 point 5) against a real sutra-cache: the L1 filled
with the shard's hottest concepts (of a topic too) in one round trip per batch, and the seed's
loop form `for concept in hot: await cache_client.warmup(concept)`."""

from __future__ import annotations

import asyncio
import json
import logging
import socket

import pytest

from sutra_cache import CacheError, MultiTierSutraCache, SutraCacheClient


def vec(i: int) -> list:
    return [1.0, float(i % 7), float(i // 7) + 0.5, 0.25]


def fill(port: int, n: int, model: str, topic_of=None) -> SutraCacheClient:
    """n entries of `model` (each test its own: the lookup log outlives FLUSHALL)."""
    c = SutraCacheClient("127.0.0.1", port, namespace="warm:")
    for i in range(n):
        tags = {"topic": topic_of(i)} if topic_of else None
        assert c.set_sync(f"concept {i}", vec(i), model, tags=tags)
    return c


def look_up(c: SutraCacheClient, model: str, counts: dict) -> None:
    for i, times in counts.items():
        for _ in range(times):
            assert c.get_sync(f"concept {i}", model) is not None


class RoundTrips:
    """Counts the commands and pipelines the L2 client's connection sends."""

    def __init__(self, cache: MultiTierSutraCache) -> None:
        self.n = 0
        r = cache.l2_cache._redis
        real_cmd, real_pipe = r.execute_command, r.pipeline

        def cmd(*a, **k):
            self.n += 1
            return real_cmd(*a, **k)

        def pipe(*a, **k):
            p = real_pipe(*a, **k)
            real_exec = p.execute

            def execute(*a2, **k2):
                self.n += 1
                return real_exec(*a2, **k2)
            p.execute = execute
            return p
        r.execute_command, r.pipeline = cmd, pipe


def l1_names(cache: MultiTierSutraCache) -> set:
    return {e.decode() for (_, e) in cache._l1.entries}


def test_warmup_fills_the_l1_with_the_hottest_concepts_one_round_trip_per_batch(sutra):
    c = fill(sutra, 30, "m")
    # concept i looked up 20 - i times for i < 12; the rest never.
    look_up(c, "m", {i: 20 - i for i in range(12)})
    cache = MultiTierSutraCache(5, "127.0.0.1", sutra, namespace="warm:")
    try:
        assert cache.wait_coherent()
        trips = RoundTrips(cache)
        assert cache.warmup_sync(model="m", batch_size=2) == 5
        # ANALYTICS HOT, then 3 batches (2 + 2 + 1) of one pipeline each.
        assert trips.n == 4
        # The 5 hottest, the hottest the most recently used (the LRU's order, coldest first).
        assert [e.decode() for (_, e) in cache._l1.entries] == [f"concept {i}"
                                                               for i in (4, 3, 2, 1, 0)]
        before = trips.n
        for i in range(5):
            assert cache.get_sync(f"concept {i}", "m") == vec(i)
        assert trips.n == before, "served from the L1"
        assert cache.stats()["l1"]["hits"] == 5
        assert cache.stats()["l1"]["warmed"] == 5
    finally:
        cache.close()


def test_warmup_for_a_topic_loads_only_that_topics_hot_concepts(sutra):
    c = fill(sutra, 20, "t", topic_of=lambda i: "financial" if i % 2 else "sports")
    look_up(c, "t", {i: 3 for i in range(20)})
    look_up(c, "t", {0: 5, 2: 5})
    cache = MultiTierSutraCache(100, "127.0.0.1", sutra, namespace="warm:", tracking=False)
    try:
        n = cache.warmup_sync(model="t", topic='.topic == "financial"', count=4)
        assert n == 4
        names = l1_names(cache)
        assert all(int(x.split()[1]) % 2 == 1 for x in names), names
    finally:
        cache.close()


def http_query(port: int, phrase: str) -> dict:
    body = phrase.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /api/query HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200") or head.startswith(b"HTTP/1.1 200"), data[:300]
    return json.loads(payload)


def test_the_seeds_warmup_loop_over_the_hot_concepts_query_works(sutra):
    c = fill(sutra, 12, "loop", topic_of=lambda i: "financial" if i < 6 else "news")
    look_up(c, "loop", {0: 4, 1: 3, 2: 2, 7: 9})
    concepts = http_query(sutra, "Which financial concepts are queried most often?")["concepts"]
    assert [x["element"] for x in concepts[:3]] == ["concept 0", "concept 1", "concept 2"]
    cache = MultiTierSutraCache(100, "127.0.0.1", sutra, namespace="warm:")

    async def seed() -> int:
        loaded = 0
        for concept in concepts:
            loaded += await cache.warmup(concept)
        return loaded
    try:
        assert cache.wait_coherent()
        assert asyncio.run(seed()) == 3
        assert l1_names(cache) == {"concept 0", "concept 1", "concept 2"}
        # A text (as given to set), with its 2 nearest cached neighbours.
        assert cache.warmup_sync("concept 9", "loop", neighbours=2) == 3
        assert "concept 9" in l1_names(cache) and len(cache._l1) == 6
        # Not cached: nothing enters.
        assert cache.warmup_sync("never cached", "loop") == 0
        # A model with no entries has no hot concepts.
        assert cache.warmup_sync(model="empty") == 0
    finally:
        cache.close()


def test_bad_warmup_arguments_are_value_errors(sutra):
    cache = MultiTierSutraCache(10, "127.0.0.1", sutra, namespace="warm:", tracking=False)
    try:
        for kw in ({"count": 0}, {"count": 10_001}, {"batch_size": 0}, {"window_seconds": 0},
                   {"neighbours": -1}, {"topic": 3}):
            with pytest.raises(ValueError):
                cache.warmup_sync(model="m", **kw)
        with pytest.raises(ValueError, match="element"):
            cache.warmup_sync({"set": "warm:m"})
        with pytest.raises(ValueError):
            cache.warmup_sync(3.5)
    finally:
        cache.close()


def test_warmup_against_redis_warns_and_loads_nothing_unless_strict(redis_port, caplog):
    cache = MultiTierSutraCache(10, "127.0.0.1", redis_port, namespace="warm:", tracking=False)
    strict = MultiTierSutraCache(10, "127.0.0.1", redis_port, namespace="warm:",
                                 tracking=False, strict=True)
    try:
        with caplog.at_level(logging.WARNING, logger="sutra_cache"):
            assert cache.warmup_sync(model="m") == 0
        assert any("warmup" in r.getMessage() for r in caplog.records)
        with pytest.raises(CacheError):
            strict.warmup_sync(model="m")
    finally:
        cache.close()
        strict.close()


def test_prefetch_after_an_l2_hit_brings_in_what_was_looked_up_next(sutra):
    c = fill(sutra, 40, "pf")
    for _ in range(4):  # other clients' traffic: concept 3 is asked right after concept 30
        look_up(c, "pf", {30: 1, 3: 1})
    cache = MultiTierSutraCache(20, "127.0.0.1", sutra, namespace="warm:", prefetch=2,
                                tracking=False)
    try:
        assert cache.get_sync("concept 30", "pf") == vec(30)  # an L2 hit
        assert cache.wait_prefetched()
        assert "concept 3" in l1_names(cache)
        assert len(cache._l1) == 3  # the hit, its co-accessed successor and one nearest
        trips = RoundTrips(cache)
        assert cache.get_sync("concept 3", "pf") == vec(3)
        assert trips.n == 0, "served from the L1"
        p = cache.stats()["prefetch"]
        assert p["offered"] == 1 and p["entries"] == 2 and p["hits"] == 1, p
        assert p["round_trips"] == 2, p
        # Unused prefetched entries hold at most a tenth of the L1 (2 here): more L2 hits
        # prefetch more, the oldest unused go first, and what was looked up stays.
        for i in range(10, 16):
            assert cache.get_sync(f"concept {i}", "pf") == vec(i)
            assert cache.wait_prefetched()
        pre = cache._l1.prefetched
        assert 0 < len(pre) <= 2 and all(k in cache._l1.entries for k in pre)
        looked_up = {"concept 30", "concept 3"} | {f"concept {i}" for i in range(10, 16)}
        assert looked_up <= l1_names(cache)
    finally:
        cache.close()


def test_prefetch_is_off_by_default_and_its_options_are_checked(sutra):
    cache = MultiTierSutraCache(10, "127.0.0.1", sutra, namespace="warm:", tracking=False)
    try:
        assert cache.stats()["prefetch"] == {"neighbours": 0}
        assert cache.wait_prefetched()
    finally:
        cache.close()
    for kw in ({"prefetch": -1}, {"prefetch": 1001}, {"prefetch_queue": 0}, {"prefetch": True}):
        with pytest.raises(ValueError):
            MultiTierSutraCache(10, "127.0.0.1", sutra, tracking=False, **kw)
