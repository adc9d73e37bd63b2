"""SutraCacheClient against three sutra-cache nodes in cluster mode (#16 point 4): exact gets
and sets routed by slot through redis-py's RedisCluster, one model split over hash-tagged
parts on the three nodes, find_similar and semantic_invalidate fanned out to every part and
matching a single node holding the same entries."""

from __future__ import annotations

import asyncio
import gzip
import random
import time
from pathlib import Path

import numpy as np
import pytest
import redis
from redis.crc import key_slot

from sutra_cache import MultiTierSutraCache, SutraCacheClient
from sutra_cache.parts import layout_key, part_keys, part_of

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "minilm-wordnet"
DIM = 16


def vectors(n: int, seed: int) -> list:
    rng = random.Random(seed)
    return [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(n)]


def nodes(ports: list) -> list:
    return [f"127.0.0.1:{p}" for p in ports]


def owner(ports: list, key: str) -> int:
    """The port of the node serving key's slot (read from CLUSTER SLOTS)."""
    slot = key_slot(key.encode())
    for start, end, (_, port, *_), *_ in redis.Redis(port=ports[0]).execute_command(
            "CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return int(port)
    raise AssertionError(f"no node serves slot {slot}")


def test_a_split_model_puts_each_part_on_its_own_node_and_each_entry_in_its_part(sutra_cluster):
    texts = [f"text {i}" for i in range(90)]
    vecs = vectors(90, 1)
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3, strict=True) as c:
        for t, v in zip(texts, vecs):
            assert c.set_sync(t, v, model="minilm")
        for t, v in zip(texts, vecs):
            assert c.get_sync(t, model="minilm") == pytest.approx(v, abs=1e-6)
        assert c.get_sync("never cached", model="minilm") is None
        assert c.models_sync() == ["minilm"]
    keys = part_keys("emb:", "minilm", 3)
    assert len({owner(sutra_cluster, k) for k in keys}) == 3  # one part per node
    per_part = [0, 0, 0]
    for t in texts:
        i = part_of(t.encode(), 3)
        per_part[i] += 1
        node = redis.Redis(port=owner(sutra_cluster, keys[i]))
        assert node.execute_command("VGETF32", keys[i], t) is not None
    for i, k in enumerate(keys):
        assert redis.Redis(port=owner(sutra_cluster, k)).execute_command("VCARD", k) == per_part[i]
    assert min(per_part) > 0
    lk = layout_key("emb:")
    assert redis.Redis(port=owner(sutra_cluster, lk)).hget(lk, "minilm") == b"3"


def test_an_unsplit_model_on_a_cluster_is_one_set_on_its_slots_node(sutra_cluster):
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), strict=True) as c:
        for m in ("a", "b", "c", "d"):
            assert c.set_sync("hello", [1.0, 2.0], model=m)
        for m in ("a", "b", "c", "d"):
            assert c.get_sync("hello", model=m) == [1.0, 2.0]
            assert redis.Redis(port=owner(sutra_cluster, "emb:" + m)).exists("emb:" + m)
        assert c.models_sync() == ["a", "b", "c", "d"]
        assert c.clear_sync() == 4
        assert c.models_sync() == []


def load_both(sutra_port: int, ports: list, texts: list, vecs: list, model: str = "m"):
    single = SutraCacheClient("127.0.0.1", sutra_port, strict=True)
    split = SutraCacheClient(startup_nodes=nodes(ports), parts=3, strict=True)
    for t, v in zip(texts, vecs):
        assert single.set_sync(t, v, model=model, tags={"even": int(t.split()[-1]) % 2 == 0})
        assert split.set_sync(t, v, model=model, tags={"even": int(t.split()[-1]) % 2 == 0})
    return single, split


def same(a: list, b: list) -> None:
    assert [x.text for x in a] == [x.text for x in b]
    assert [x.similarity for x in a] == pytest.approx([x.similarity for x in b], abs=1e-5)
    def tags(x):  # the attributes but the write times (each client wrote its own copy)
        return {k: v for k, v in x.attributes.items() if k not in ("cached_at", "expires_at")}
    assert [tags(x) for x in a] == [tags(x) for x in b]


def test_find_similar_fans_out_to_every_part_and_matches_one_node(sutra, sutra_cluster):
    texts = [f"entry {i}" for i in range(300)]
    vecs = vectors(300, 2)
    single, split = load_both(sutra, sutra_cluster, texts, vecs)
    with single, split:
        for q in vectors(10, 3):  # small sets and a large EF: both searches are exact
            same(single.find_similar_sync(q, "m", k=10, ef=500),
                 split.find_similar_sync(q, "m", k=10, ef=500))
            got = split.find_similar_sync(q, "m", k=7, min_similarity=0.2, ef=500,
                                          filter=".even")
            same(single.find_similar_sync(q, "m", k=7, min_similarity=0.2, ef=500,
                                          filter=".even"), got)
            assert all(r.attributes["even"] for r in got)
        for t in ("entry 0", "entry 17", "entry 299"):  # a cached text: its part's vector
            hits = split.find_similar_sync(t, "m", k=5, ef=500)
            assert hits[0].text == t
            same(single.find_similar_sync(t, "m", k=5, ef=500), hits)
        hits = asyncio.run(split.find_similar(vecs[5], "m", k=3, ef=500))
        assert hits[0].text == "entry 5"
        with pytest.raises(ValueError, match="not cached"):
            split.find_similar_sync("no such text", "m")


def test_semantic_invalidate_fans_out_and_removes_what_one_node_removes(sutra, sutra_cluster):
    texts = [f"entry {i}" for i in range(300)]
    vecs = vectors(300, 4)
    single, split = load_both(sutra, sutra_cluster, texts, vecs)
    with single, split:
        q = vecs[0]
        a = single.semantic_invalidate_sync(q, 0.3, "m")
        b = split.semantic_invalidate_sync(q, 0.3, "m")
        assert len(a) > 3
        assert sorted(r.text for r in a) == sorted(r.text for r in b)
        # a text query (its vector from its part), over every model of the namespace
        a = single.semantic_invalidate_sync("entry 1", 0.2)
        b = asyncio.run(split.semantic_invalidate("entry 1", 0.2))
        assert "entry 1" in {r.text for r in b}
        assert sorted(r.text for r in a) == sorted(r.text for r in b)
        left_single = {s.text for s in single.find_similar_sync(q, "m", k=300, ef=500)}
        left_split = {s.text for s in split.find_similar_sync(q, "m", k=300, ef=500)}
        assert left_single == left_split
        assert len(left_split) == 300 - len(a) - len(set(texts) - left_split - {r.text for r in a})


def test_clients_with_another_number_of_parts_are_refused_saying_which(sutra_cluster):
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3) as c:
        assert c.set_sync("x", [1.0, 0.0], model="m")
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=2) as other:
        with pytest.raises(ValueError, match="split into 3 parts .* make it with parts=3"):
            other.get_sync("x", model="m")
        with pytest.raises(ValueError, match="parts=3"):
            other.set_sync("y", [1.0, 0.0], model="m")
        assert other.set_sync("y", [1.0, 0.0], model="n")  # another model: its own layout
    with pytest.raises(ValueError, match="needs startup_nodes"):
        SutraCacheClient("127.0.0.1", 1, parts=3)
    with pytest.raises(ValueError, match="not 'host:port'"):
        SutraCacheClient(startup_nodes=["nohost"])
    with pytest.raises(ValueError, match="cannot contain"):
        SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3).set_sync("t", [1.0], "a{b}")


def test_a_cluster_that_cannot_be_reached_gives_misses_not_a_failed_constructor():
    c = SutraCacheClient(startup_nodes=["127.0.0.1:1"], parts=3, socket_timeout=0.2)
    assert c.get_sync("x", "m") is None
    assert c.set_sync("x", [1.0], "m") is False
    assert c.find_similar_sync([1.0], "m") == []
    assert c.stats()["errors"] == 3 and c.stats()["shard"] == "127.0.0.1:1"


def eventually(what: str, f, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not f():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


def test_multi_tier_l1s_on_a_cluster_are_invalidated_by_a_write_on_any_node(sutra_cluster):
    """Client A caches entries whose parts live on all three nodes; client B (another
    MultiTier, then a plain cluster client) changes them through the cluster: A's next get
    sees each new value, because A holds a tracking connection to every master."""
    texts = [f"coherent {i}" for i in range(12)]
    with MultiTierSutraCache(100, startup_nodes=nodes(sutra_cluster), parts=3) as a, \
            MultiTierSutraCache(100, startup_nodes=nodes(sutra_cluster), parts=3) as b:
        assert a.wait_coherent(30) and b.wait_coherent(30)
        # One tracking connection per master, each named so.
        assert sorted(p for _, p in a._tracker.nodes()) == sorted(sutra_cluster)
        for port in sutra_cluster:
            names = [c.get("name") for c in redis.Redis(port=port).client_list()]
            assert names.count("sutra-cache-l1-tracking") == 2, names
        for i, t in enumerate(texts):
            assert b.set_sync(t, [float(i), 1.0], "m")
        where = {t: a.l2_cache._locate(t, "m") for t in texts}
        owners = {owner(sutra_cluster, where[t][0]) for t in texts}
        assert owners == set(sutra_cluster), "the entries span every node"
        # A caches every entry in its L1.
        for i, t in enumerate(texts):
            eventually(f"{t} in A's L1", lambda t=t, i=i: a.get_sync(t, "m") == [float(i), 1.0]
                       and a._l1.has((where[t][1], where[t][2])))
        hits = a.stats()["l1"]["hits"]
        assert a.get_sync(texts[0], "m") == [0.0, 1.0] and a.stats()["l1"]["hits"] == hits + 1
        # B writes new values through the cluster: A sees every one.
        for i, t in enumerate(texts):
            assert b.set_sync(t, [float(i), 2.0], "m")
        for i, t in enumerate(texts):
            eventually(f"A sees B's write of {t}", lambda t=t, i=i: a.get_sync(t, "m") ==
                       [float(i), 2.0])
        # A plain cluster client's deletion of a whole part drops its entries from A's L1.
        c = SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3)
        c._sync_client().delete(where[texts[0]][0])
        eventually("A misses the deleted part's entry", lambda: a.get_sync(texts[0], "m")
                   is None)
        c.close()
        assert a.stats()["l1"]["coherent"] and a.stats()["l1"]["tracking_messages"] > 0


def test_multi_tier_cache_runs_on_a_cluster_with_its_l1(sutra_cluster):
    with MultiTierSutraCache(100, startup_nodes=nodes(sutra_cluster), parts=3,
                             tracking=False) as mt:
        assert mt.set_sync("a", [1.0, 0.0], "m") and mt.set_sync("b", [0.0, 1.0], "m")
        assert mt.get_sync("a", "m") == [1.0, 0.0]
        assert [s.text for s in mt.find_similar_sync([1.0, 0.1], "m", k=1)] == ["a"]
        assert [r.text for r in mt.semantic_invalidate_sync([1.0, 0.0], 0.99, "m")] == ["a"]
        assert mt.get_sync("a", "m") is None  # dropped from the L1 too


def test_warmup_of_a_split_model_merges_the_hot_concepts_of_every_part(sutra_cluster):
    """MultiTierSutraCache.warmup with parts=3: every part's ANALYTICS HOT (each on its own
    node), merged by count; each entry loaded from its part; a concept's neighbours from all
    parts. (Each test its own model: the lookup log outlives FLUSHALL.)"""
    texts = [f"hot {i}" for i in range(60)]
    vecs = vectors(60, 7)
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3, strict=True) as c:
        for t, v in zip(texts, vecs):
            assert c.set_sync(t, v, model="warm")
        # hot i looked up 30 - i times for i < 20 (distinct counts), the rest never.
        for i in range(20):
            for _ in range(30 - i):
                assert c.get_sync(texts[i], model="warm") is not None
    parts_of_top = {part_of(texts[i].encode(), 3) for i in range(8)}
    assert parts_of_top == {0, 1, 2}, "the 8 hottest span every part"
    keys = part_keys("emb:", "warm", 3)
    with MultiTierSutraCache(8, startup_nodes=nodes(sutra_cluster), parts=3, tracking=False,
                             strict=True) as mt:
        assert mt.warmup_sync(model="warm", batch_size=3) == 8
        # The 8 hottest of all parts, hottest most recently used, each under its part's set.
        assert [(k.decode(), e.decode()) for (k, e) in mt._l1.entries] == [
            (keys[part_of(texts[i].encode(), 3)], texts[i]) for i in reversed(range(8))]
        before = mt.stats()["l1"]["hits"]
        for i in range(8):
            assert mt.get_sync(texts[i], "warm") == pytest.approx(vecs[i], abs=1e-6)
        assert mt.stats()["l1"]["hits"] == before + 8
    # The seed's loop form, one concept with its nearest neighbours from every part.
    near = sorted(range(60), key=lambda j: -float(np.dot(vecs[0], vecs[j])
                                                  / np.linalg.norm(vecs[0])
                                                  / np.linalg.norm(vecs[j])))[:4]
    with MultiTierSutraCache(16, startup_nodes=nodes(sutra_cluster), parts=3, tracking=False,
                             strict=True) as mt:
        assert asyncio.run(mt.warmup("hot 0", model="warm", neighbours=3)) == 4
        assert {e.decode() for (_, e) in mt._l1.entries} == {texts[j] for j in near}
        assert len({k for (k, _) in mt._l1.entries}) > 1, "neighbours from several parts"


def recall(hits: list, truth: list) -> float:
    return len(set(hits) & set(truth)) / len(truth)


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/minilm-wordnet is not present")
def test_recall_at_10_of_a_model_split_over_three_nodes_matches_one_node(sutra, sutra_cluster):
    """A small slice of minilm-wordnet (the full 100k figure is in perf-reports)."""
    n, nq, ef = 3000, 60, 20
    base = np.load(DATA / "base.f16.npy", mmap_mode="r")[:n].astype(np.float32)
    queries = np.load(DATA / "queries.f16.npy", mmap_mode="r")[:nq].astype(np.float32)
    with gzip.open(DATA / "base_texts.txt.gz", "rt", encoding="utf-8") as f:
        texts = [next(f).rstrip("\n") for _ in range(n)]
    truth = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    single = SutraCacheClient("127.0.0.1", sutra, strict=True)
    split = SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=3, strict=True)
    with single, split:
        index = {}
        for i in range(n):
            index.setdefault(texts[i], i)
            single.set_sync(texts[i], base[i], "minilm")
            split.set_sync(texts[i], base[i], "minilm")
        r = {}
        for name, c in (("single", single), ("split", split)):
            total = 0.0
            for q in range(nq):
                hits = [index[s.text] for s in c.find_similar_sync(queries[q], "minilm", k=10,
                                                                   ef=ef)]
                total += recall(hits, [index[texts[i]] for i in truth[q]])
            r[name] = total / nq
    assert r["single"] > 0.8, r
    assert r["split"] >= r["single"] - 0.03, r


def cosine_nearest(vecs: list, i: int, k: int) -> list:
    """The k entries nearest entry i by cosine similarity (i itself excluded)."""
    a = np.array(vecs, dtype=np.float64)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    sims = a @ a[i]
    return [j for j in np.argsort(-sims, kind="stable") if j != i][:k]


@pytest.mark.parametrize("parts", [1, 3])
def test_prefetch_on_a_cluster_brings_the_co_accessed_entry_and_the_nearest_of_every_part(
        sutra_cluster, parts):
    """MultiTierSutraCache(prefetch=3) on three nodes: after an L2 hit, ANALYTICS NEXT on the
    node of the entry's set (part) gives the entry other clients looked up right after it,
    and the rest are its nearest entries — for a split model, of every part (VSIM FP32 to
    all parts, merged by score). They land in the L1: their gets are L1 hits."""
    model = f"prefetch{parts}"  # each run its own model: the lookup log outlives FLUSHALL
    texts = [f"pf {i}" for i in range(60)]
    vecs = vectors(60, 11)
    keys = part_keys("emb:", model, parts)
    home = part_of(texts[0].encode(), parts)
    near = cosine_nearest(vecs, 0, 2)
    # The successor other clients ask for: in the entry's own part, not among its nearest.
    succ = next(j for j in range(59, 0, -1)
                if part_of(texts[j].encode(), parts) == home and j not in near
                and j not in cosine_nearest(vecs, 0, 3))
    if parts == 3:
        assert len({part_of(texts[j].encode(), 3) for j in near} | {home}) > 1, \
            "the nearest lie in other parts than the entry's"
    with SutraCacheClient(startup_nodes=nodes(sutra_cluster), parts=parts, strict=True) as c:
        for t, v in zip(texts, vecs):
            assert c.set_sync(t, v, model=model)
        for _ in range(5):
            assert c.get_sync(texts[0], model=model) is not None
            assert c.get_sync(texts[succ], model=model) is not None
    with MultiTierSutraCache(40, startup_nodes=nodes(sutra_cluster), parts=parts,
                             tracking=False, strict=True, prefetch=3) as mt:
        assert mt.get_sync(texts[0], model) == pytest.approx(vecs[0], abs=1e-6)  # an L2 hit
        assert mt.wait_prefetched()
        p = mt.stats()["prefetch"]
        assert p["errors"] == 0 and p["entries"] == 3, p
        in_l1 = {e.decode(): k.decode() for (k, e) in mt._l1.entries}
        assert set(in_l1) == {texts[0], texts[succ]} | {texts[j] for j in near}
        # Each under its own part's set.
        assert all(in_l1[texts[j]] == keys[part_of(texts[j].encode(), parts)]
                   for j in [succ, *near])
        before = mt.stats()["l1"]["hits"]
        for j in [succ, *near]:
            assert mt.get_sync(texts[j], model) == pytest.approx(vecs[j], abs=1e-6)
        assert mt.stats()["l1"]["hits"] == before + 3, "the prefetched entries are L1 hits"
