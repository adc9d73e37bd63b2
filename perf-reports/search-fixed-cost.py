"""Fixed cost of a Python search, single vs batched (perf-reports/search-path-2026-12-07.md): a
2,000 x 384 random set (graph) and a 100-element set (scan), 1,000 queries per pass, median of
--passes passes, µs per query. The batched call's per-query time is the engine's work plus a
negligible share of one call, so `single - batch` is what one Python call adds. Times are the
thread's CPU time (time.thread_time): on a loaded machine a pass of 1,000 single calls is
preempted several times and its wall time says more about the load than about the call
(the wall-clock medians are printed beside).

    python3 perf-reports/search-fixed-cost.py [label] [--passes 9]
"""
import argparse
import json
import os
import time

import numpy as np

from sutra_cache import Cache

ap = argparse.ArgumentParser()
ap.add_argument("label", nargs="?", default="")
ap.add_argument("--passes", type=int, default=9)
a = ap.parse_args()
rng = np.random.default_rng(0)
base = rng.standard_normal((2000, 384)).astype(np.float32)
qs = rng.standard_normal((1000, 384)).astype(np.float32)
rows = list(qs)
with Cache(active_expire_interval_ms=0) as c:
    c.vadd_many("m", [str(i) for i in range(2000)], base)
    c.index_wait()
    c.vadd_many("s", [str(i) for i in range(100)], base[:100])
    for key in ("m", "s"):
        for k, ef in ((1, 1), (10, 64)):
            search, batch = c.search, c.search_batch
            ts, tb, ws, wb = [], [], [], []
            for _ in range(a.passes):
                w, t = time.perf_counter(), time.thread_time()
                for q in rows:
                    search(key, q, k, ef=ef)
                ts.append((time.thread_time() - t) / len(rows) * 1e6)
                ws.append((time.perf_counter() - w) / len(rows) * 1e6)
                w, t = time.perf_counter(), time.thread_time()
                batch(key, qs, k, ef=ef)
                tb.append((time.thread_time() - t) / len(rows) * 1e6)
                wb.append((time.perf_counter() - w) / len(rows) * 1e6)
            s, b = float(np.median(ts)), float(np.median(tb))
            print(json.dumps({"label": a.label, "set": {"m": "2000 graph", "s": "100 scan"}[key],
                              "k": k, "ef": ef, "single_us": round(s, 2), "batch_us": round(b, 2),
                              "added_us": round(s - b, 2), "wall_single_us": round(float(np.median(ws)), 2),
                              "wall_batch_us": round(float(np.median(wb)), 2),
                              "load": os.getloadavg()[0]}))
