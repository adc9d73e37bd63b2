"""The Python side of the search-path report: `Cache.search` (one call per query) and
`Cache.search_batch` (one call for all queries, threads=1) on minilm-wordnet, recall@10 and
the median q/s over --repeat passes at each ef; then the fixed cost of a search (k=1, ef=1)
on the full set and on a set of 100. One JSON line per figure (the same fields as
examples/search_path.rs). Run by perf-reports/search-path.sh.

    python3 perf-reports/search-path.py --data ../shared/data/minilm-wordnet --n 100000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from sutra_cache import Cache


def load(path: Path, n: int) -> np.ndarray:
    a = np.load(path, mmap_mode="r")
    a = np.asarray(a[:n] if n else a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def median_secs(repeat: int, one_pass) -> float:
    """Median over `repeat` passes of the thread's CPU time (time.thread_time): on a shared
    machine a pass of single searches is preempted several times and its wall time measures
    the load more than the search (threads=1 batches run on this thread too)."""
    one_pass()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.thread_time()
        one_pass()
        times.append(time.thread_time() - t)
    return float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/minilm-wordnet")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--efs", default="16,32,64,128")
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    data = Path(a.data)
    base = load(data / "base.f16.npy", a.n)
    queries = np.ascontiguousarray(load(data / "queries.f16.npy", 0))
    n, nq = len(base), len(queries)
    if n == np.load(data / "base.f16.npy", mmap_mode="r").shape[0]:
        gt = np.load(data / "gt.i32.npy")[:, :10]
    else:
        gt = np.argsort(-(queries @ base.T), axis=1)[:, :10]

    def recall(found: np.ndarray) -> float:
        return float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(found, gt)]))

    def emit(**kw) -> None:
        print(json.dumps(kw), flush=True)

    with Cache(active_expire_interval_ms=0) as c:
        t = time.perf_counter()
        for i in range(0, n, 1000):
            c.vadd_many("m", [str(j) for j in range(i, min(i + 1000, n))], base[i:i + 1000])
        c.index_wait()
        emit(event="build", path="python", n=n, s=time.perf_counter() - t)
        for ef in [int(x) for x in a.efs.split(",") if x]:
            found = np.array([[int(x) for x in c.search("m", q, 10, ef=ef)[0]] for q in queries])

            def single() -> None:
                for q in queries:
                    c.search("m", q, 10, ef=ef)

            secs = median_secs(a.repeat, single)
            emit(event="search", path="python", n=n, ef=ef, recall=recall(found),
                 qps=nq / secs, us_per_query=secs * 1e6 / nq)
            ids, _ = c.search_batch("m", queries, 10, ef=ef, threads=1)
            secs = median_secs(a.repeat, lambda: c.search_batch("m", queries, 10, ef=ef, threads=1))
            emit(event="search", path="python_batch", n=n, ef=ef,
                 recall=recall(ids.astype(np.int64)), qps=nq / secs, us_per_query=secs * 1e6 / nq)
        c.vadd_many("s", [str(j) for j in range(100)], base[:100])
        for set_name, key in (("full", "m"), ("100", "s")):
            def single1() -> None:
                for q in queries:
                    c.search(key, q, 1, ef=1)

            secs = median_secs(a.repeat, single1)
            emit(event="fixed", path="python", set=set_name, k=1, ef=1,
                 us_per_query=secs * 1e6 / nq)
            secs = median_secs(a.repeat, lambda: c.search_batch(key, queries, 1, ef=1, threads=1))
            emit(event="fixed", path="python_batch", set=set_name, k=1, ef=1,
                 us_per_query=secs * 1e6 / nq)


if __name__ == "__main__":
    main()
