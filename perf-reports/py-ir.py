"""Instructions per Python call, counted by callgrind (#20 points 2 and 7): deterministic, so
the CPU work of a call can be told apart from memory and scheduling effects on a loaded
machine. `py-ir.sh` runs this script under callgrind with N and 2N calls; the difference
divided by N is one call's instructions, the setup cancelling.

    python3 perf-reports/py-ir.py search|get|search_batch|c_get --calls N [--seed S]

- `search`: `Cache.search(key, q, k, ef=ef)` on a 100-element set (an exact scan: no graph,
  so the setup is deterministic), cycling through 100 queries.
- `search_batch`: `Cache.search_batch` of the same queries, `--calls` rows in calls of 100.
- `get`: `Cache.get` of a 3,072-byte blob over `--entries` keys, in a pseudo-random order
  (`--seed`, the same order for every process).
"""
import argparse

import numpy as np

from sutra_cache import Cache

ap = argparse.ArgumentParser()
ap.add_argument("op", choices=["search", "search_batch", "get"])
ap.add_argument("--calls", type=int, required=True)
ap.add_argument("--k", type=int, default=1)
ap.add_argument("--ef", type=int, default=1)
ap.add_argument("--entries", type=int, default=10_000)
ap.add_argument("--seed", type=int, default=0)
a = ap.parse_args()
rng = np.random.default_rng(a.seed)
with Cache(active_expire_interval_ms=0) as c:
    if a.op in ("search", "search_batch"):
        base = rng.standard_normal((100, 384)).astype(np.float32)
        qs = rng.standard_normal((100, 384)).astype(np.float32)
        c.vadd_many("s", [str(i) for i in range(100)], base)
        rows = list(qs)
        search, k, ef = c.search, a.k, a.ef
        search("s", rows[0], k, ef=ef)  # the thread's buffers made before counting
        if a.op == "search":
            for i in range(a.calls):
                search("s", rows[i % 100], k, ef=ef)
        else:
            for _ in range(a.calls // 100):
                c.search_batch("s", qs, k, ef=ef)
    else:
        values = rng.integers(0, 256, (a.entries, 3072), dtype=np.uint8)
        keys = [f"emb:{i:08d}".encode() for i in range(a.entries)]
        for key, v in zip(keys, values):
            c.set(key, v.tobytes())
        order = [keys[j] for j in rng.integers(0, a.entries, a.calls).tolist()]
        get = c.get
        get(keys[0])
        for key in order:
            get(key)
