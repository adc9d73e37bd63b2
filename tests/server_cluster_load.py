#!/usr/bin/env python3
"""Clients writing and reading through redis-py's RedisCluster while the cluster changes.

    python3 tests/server_cluster_load.py STOP_FILE THREADS PORT [PORT ...]
Each thread writes its own keys (SET, and VADD into a hash-tagged vector set) and reads
back what it wrote, until STOP_FILE exists; then every acknowledged key is read once more.
Prints one line `acked=N lost=L errors=E ask_unknown=A` and exits non-zero when L or E is
not 0 (the redirects and retries the client follows on its own are not errors).

A is counted apart: redis-py 8.2 cannot follow an -ASK to a node missing from its slot
cache (`get_node` returns None: AttributeError 'NoneType' object has no attribute 'host'),
which a new node is until it owns a slot (CLUSTER SLOTS lists only owners): the command
fails in the client, before it reaches any server, so it is not acknowledged and loses
nothing.
Run by tests/server/server_cluster_tools.rs while `sutra-cache cluster rebalance` moves slots.
"""
import os
import struct
import sys
import threading

from redis.cluster import ClusterNode, RedisCluster

stop_file = sys.argv[1]
threads = int(sys.argv[2])
ports = [int(p) for p in sys.argv[3:]]
lock = threading.Lock()
acked = {}
elements = {}
errors = []
ask_unknown = []


def client():
    rc = RedisCluster(startup_nodes=[ClusterNode("127.0.0.1", p) for p in ports])
    # Retries of one command (TRYAGAIN while its key is being copied, redirects): the
    # default 16 allow about 0.4 s of TRYAGAIN; a busy shared machine copies slower.
    rc.RedisClusterRequestTTL = 160
    return rc


def work(t):
    rc = client()
    i = 0
    mine = {}
    while not os.path.exists(stop_file) or i < 20:
        k = f"load:{t}:{i}"
        v = f"v{t}.{i}".encode()
        try:
            assert rc.set(k, v)
            mine[k] = v
            if i % 10 == 0:
                key = f"lset:{{{t % 7}}}"
                vec = struct.pack("<2f", 1.0, float(i))
                rc.execute_command("VADD", key, "FP32", vec, f"t{t}e{i}")
                with lock:
                    elements.setdefault(key, set()).add(f"t{t}e{i}".encode())
            # Read back one earlier key.
            j = i // 2
            kj = f"load:{t}:{j}"
            got = rc.get(kj) if kj in mine else None
            if kj in mine and got != mine[kj]:
                raise AssertionError(f"{kj}: {got!r} != {mine[kj]!r}")
        except AttributeError as e:
            with lock:
                ask_unknown.append(f"{k}: {e}")
        except Exception as e:  # noqa: BLE001 - every failure counts
            with lock:
                errors.append(f"{k}: {type(e).__name__}: {e}")
        i += 1
    with lock:
        acked.update(mine)
    rc.close()


ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
for th in ts:
    th.start()
for th in ts:
    th.join()
rc = client()
lost = [k for k, v in acked.items() if rc.get(k) != v]
for key, names in elements.items():
    for e in names:
        if rc.execute_command("VISMEMBER", key, e) != 1:
            lost.append(f"{key}/{e.decode()}")
print(f"acked={len(acked)} elements={sum(map(len, elements.values()))} lost={len(lost)} errors={len(errors)} ask_unknown={len(ask_unknown)}")
for line in errors[:10] + lost[:10]:
    print(line)
sys.exit(1 if lost or errors else 0)
