#!/usr/bin/env python3
"""VADD and VSIM throughput over RESP (redis-benchmark cannot send binary vectors).

Loads the first N MiniLM WordNet embeddings (384-d, ../shared/data/minilm-wordnet) into one
vector set with pipelined `VADD key FP32 blob element`, then runs the 1,000 queries with
`VSIM key FP32 blob COUNT 10` from C concurrent clients, and prints a markdown row.
    python3 perf-reports/vector-load.py --port 50051 [--n 20000] [--clients 8]
Needs redis-py and numpy.
"""
import argparse, os, threading, time

import numpy as np
import redis

here = os.path.dirname(os.path.abspath(__file__))
data = os.path.join(here, "..", "..", "shared", "data", "minilm-wordnet")

ap = argparse.ArgumentParser()
ap.add_argument("--host", default="127.0.0.1")
ap.add_argument("--port", type=int, default=50051)
ap.add_argument("--n", type=int, default=20000)
ap.add_argument("--clients", type=int, default=8)
ap.add_argument("--pipeline", type=int, default=64)
a = ap.parse_args()

base = np.load(os.path.join(data, "base.f16.npy"))[: a.n].astype("<f4")
queries = np.load(os.path.join(data, "queries.f16.npy")).astype("<f4")
r = redis.Redis(host=a.host, port=a.port)
r.delete("perf:vs")

t = time.perf_counter()
pipe = r.pipeline(transaction=False)
for i, v in enumerate(base):
    pipe.execute_command("VADD", "perf:vs", "FP32", v.tobytes(), f"e{i}")
    if (i + 1) % a.pipeline == 0:
        pipe.execute()
pipe.execute()
add_s = time.perf_counter() - t
assert r.execute_command("VCARD", "perf:vs") == len(base)

# VSIM is correct at once (elements not yet in the graph are scanned exactly), but its speed
# is the graph's: wait until the background indexer has caught up (CACHESTATS index_pending).
t = time.perf_counter()
while True:
    st = r.execute_command("CACHESTATS", "perf:vs")
    fields = dict(zip(st[::2], st[1::2])) if isinstance(st, list) else st
    if int(fields[b"index_pending"]) == 0:
        break
    time.sleep(0.05)
index_s = time.perf_counter() - t

def worker(qs, out):
    c = redis.Redis(host=a.host, port=a.port)
    for q in qs:
        c.execute_command("VSIM", "perf:vs", "FP32", q.tobytes(), "COUNT", 10)
    out.append(len(qs))

done = []
parts = np.array_split(queries, a.clients)
threads = [threading.Thread(target=worker, args=(p, done)) for p in parts]
t = time.perf_counter()
for th in threads:
    th.start()
for th in threads:
    th.join()
sim_s = time.perf_counter() - t
print(f"| {len(base)} × {base.shape[1]}-d | VADD P{a.pipeline}: {len(base) / add_s:,.0f}/s "
      f"(graph complete {index_s:.1f} s later) "
      f"| VSIM COUNT 10, {a.clients} clients: {sum(done) / sim_s:,.0f}/s |")
