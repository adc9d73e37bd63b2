#!/usr/bin/env python3
"""redis-py's RedisCluster (RESP2 and RESP3) against sutra-cache nodes in cluster mode.

    python3 tests/server_cluster_redis_py.py PORT [PORT ...]
Run by tests/server/server_cluster_tools.rs with one emulated node or three configured nodes.
Every key lands on the node CLUSTER SLOTS names for its slot; exits non-zero on the first
mismatch.
"""
import struct
import sys

import redis
from redis.cluster import ClusterNode, RedisCluster

ports = [int(p) for p in sys.argv[1:]]
for proto in (2, 3):
    rc = RedisCluster(
        startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports], protocol=proto
    )
    nodes = rc.get_nodes()
    assert sorted(n.port for n in nodes) == sorted(ports), nodes
    # Plain keys spread over the nodes by slot.
    keys = [f"k{proto}:{i}" for i in range(200)]
    for i, k in enumerate(keys):
        assert rc.set(k, str(i))
    for i, k in enumerate(keys):
        assert rc.get(k) == str(i).encode(), k
    assert rc.mget_nonatomic(keys) == [str(i).encode() for i in range(200)]
    # Hash tags keep multi-key commands on one node.
    assert rc.mset({"{user1}:a": "1", "{user1}:b": "2"})
    assert rc.mget("{user1}:a", "{user1}:b", "{user1}:c") == [b"1", b"2", None]
    assert rc.delete("{user1}:a", "{user1}:b") == 2
    # A cross-slot MGET is refused by the server when sent to one node.
    node = rc.get_node_from_key("a")
    try:
        rc.execute_command("MGET", "a", "b", target_nodes=node)
        raise AssertionError("cross-slot MGET was served")
    except redis.exceptions.ClusterCrossSlotError:
        pass
    # Vector sets route by their key, and each node holds only its own.
    for part in range(3):
        key = f"emb{proto}:{{{part}}}"
        for j in range(5):
            vec = struct.pack("<3f", 1.0, float(j), float(part))
            assert rc.execute_command("VADD", key, "FP32", vec, f"e{j}") == 1
        got = rc.execute_command("VSIM", key, "ELE", "e0", "COUNT", "2")
        assert got[0] in (b"e0", "e0"), got
        assert rc.execute_command("VCARD", key) == 5
        owner = rc.get_node_from_key(key)
        assert rc.execute_command("CLUSTER", "COUNTKEYSINSLOT", rc.keyslot(key), target_nodes=owner) >= 1
        assert rc.execute_command("VINVALIDATE", key, "ELE", "e0", "THRESHOLD", "0.999999") == 1
        assert rc.execute_command("VCARD", key) == 4
    # Every node holds only the keys of its slots.
    for n in rc.get_nodes():
        for k in rc.execute_command("KEYS", "*", target_nodes=n):
            assert rc.get_node_from_key(k).port == n.port, (k, n)
    info = rc.cluster_info(target_nodes=RedisCluster.RANDOM)
    assert info["cluster_state"] == "ok", info
    for k in keys:
        rc.delete(k)
    rc.close()
print("ok")
