#!/usr/bin/env python3
"""redis-py (RESP2 and RESP3) against a running sutra-cache server.

    python3 tests/server_redis_py.py PORT
Run by tests/server/server_tools.rs (`redis_py_drives_the_server`, ignored until scripts/setup.sh
installs redis-py). Exits non-zero on the first mismatch.
"""
import struct
import sys
import time

import redis
from redis.commands.vectorset.commands import QuantizationOptions

port = int(sys.argv[1])
for proto in (2, 3):
    r = redis.Redis(port=port, protocol=proto)
    assert r.ping()
    r.flushall()
    assert r.set("k", b"v", ex=100)
    assert r.get("k") == b"v"
    assert r.ttl("k") == 100
    assert r.set("k", b"w", nx=True) is None
    r.mset({"a": "1", "b": "2"})
    assert r.mget("a", "b", "c") == [b"1", b"2", None]
    assert r.exists("a", "b") == 2
    assert r.type("a") in (b"string", "string")
    assert sorted(r.scan_iter(count=2)) == [b"a", b"b", b"k"]
    assert r.delete("a", "zz") == 1
    info = r.info()
    assert info["keyspace_hits"] >= 1 and "used_memory" in info, info
    assert r.config_get("save") == {"save": ""} or r.config_get("save") == {b"save": b""}
    v = r.vset()
    assert v.vadd("vs", [1.0, 0.0, 0.0], "x")
    assert v.vadd("vs", [0.0, 1.0, 0.0], "y", attributes={"t": 1})
    sims = v.vsim("vs", [1.0, 0.0, 0.0], with_scores=True)
    assert {k.decode() if isinstance(k, bytes) else k: s for k, s in sims.items()} == {"x": 1.0, "y": 0.5}, sims
    assert [float(x) for x in v.vemb("vs", "x")] == [1.0, 0.0, 0.0]
    assert v.vcard("vs") == 2 and v.vdim("vs") == 3
    info = v.vinfo("vs")
    assert info[b"quant-type"] in (b"exact", "exact") and info[b"vector-dim"] == 3, info
    assert v.vgetattr("vs", "y") == {"t": 1}
    assert v.vsim("vs", [1.0, 0.0, 0.0], filter=".t == 1") == [b"y"]
    assert v.vsim("vs", [1.0, 0.0, 0.0], filter=".t > 1", filter_ef=10) == []
    assert v.vadd("q8", [3.0, -4.0], "a", quantization=QuantizationOptions.Q8)
    raw = v.vemb("q8", "a", raw=True)
    assert raw["quantization"] in (b"int8", "int8") and raw["raw"] == b"\x5f\x81", raw
    assert abs(raw["range"] - 0.8) < 0.01 and abs(raw["l2"] - 5.0) < 0.01, raw
    assert sorted(v.vrandmember("vs", 2)) == [b"x", b"y"]
    assert v.vrem("vs", "x") and v.vcard("vs") == 1
    raw = r.execute_command("VGETF32", "vs", "y")
    assert struct.unpack("<3f", raw) == (0.0, 1.0, 0.0)
    # redis-py's default pipeline is a MULTI/EXEC transaction (LangChain's RedisStore.mset
    # sends exactly this), and r.transaction() is WATCH-based optimistic locking.
    p = r.pipeline()
    p.set("t1", b"x", ex=60).set("t2", b"y").get("t1").mget("t1", "t2")
    assert p.execute() == [True, True, b"x", [b"x", b"y"]]
    with r.pipeline() as p:
        p.set("t3", b"z").discard()
    assert r.get("t3") is None
    r.set("counter", 5)

    def bump(pipe):
        n = int(pipe.get("counter"))
        pipe.multi()
        pipe.set("counter", n + 1)

    assert r.transaction(bump, "counter") == [True]
    assert r.get("counter") == b"6"
    p = r.pipeline()
    p.watch("counter")
    r2 = redis.Redis(port=port, protocol=proto)
    r2.set("counter", 100)
    p.multi()
    p.set("counter", 7)
    try:
        p.execute()
        raise AssertionError("EXEC after a watched key changed must abort")
    except redis.WatchError:
        pass
    assert r.get("counter") == b"100"
    # CLIENT LIST / KILL as redis-py parses them.
    r2.client_setname("other")
    names = {c["name"]: c for c in r.client_list()}
    assert "other" in names and int(names["other"]["id"]) == r2.client_id(), names
    assert r.client_kill_filter(_id=r2.client_id()) == 1
    assert "other" not in {c["name"] for c in r.client_list()}
    r2.close()
    r.close()

# redis-py's own client-side cache (RESP3 CLIENT TRACKING): a cached GET is served without
# asking the server, and dropped once another client's SET invalidates it.
from redis.cache import CacheConfig

cached = redis.Redis(port=port, protocol=3, cache_config=CacheConfig())
writer = redis.Redis(port=port, protocol=3)
writer.set("cached", b"old")
assert cached.get("cached") == b"old"
hits = writer.info("stats")["keyspace_hits"]
for _ in range(5):
    assert cached.get("cached") == b"old"
assert writer.info("stats")["keyspace_hits"] == hits, "served from redis-py's cache"
assert cached.get_cache().size == 1
writer.set("cached", b"new")
deadline = time.time() + 10
while cached.get("cached") != b"new":
    assert time.time() < deadline, "the cached GET was never invalidated"
    time.sleep(0.01)
assert cached.get("cached") == b"new"
cached.close()
writer.close()
print("redis-py: RESP2 and RESP3 OK, client-side cache invalidated")
