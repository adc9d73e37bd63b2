"""Hit latency from Python: the embedded engine, and the two-tier cache's L1 against the seed's
L1 (a dict plus a list kept in LRU order with list.remove, O(n)) at 10k entries.

    python3 bindings/python/bench/bench_hit.py [--entries 10000] [--dim 768]

Prints medians over batches of 50 calls (time.perf_counter_ns around each batch); machine noise
matters, so compare numbers from the same run only. The L2 is never touched (all hits are L1).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from sutra_cache import Cache, MultiTierSutraCache


class SeedL1:
    """The seed's L1: dict of embeddings plus an LRU order list (list.remove is O(n))."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.cache: Dict[str, List[float]] = {}
        self.order: List[str] = []

    def _key(self, text: str, model: str) -> str:
        return f"{model}:{hashlib.sha256(text.encode()).hexdigest()}"

    def get(self, text: str, model: str) -> Optional[List[float]]:
        key = self._key(text, model)
        if key in self.cache:
            self.order.remove(key)
            self.order.append(key)
            return self.cache[key]
        return None

    def set(self, text: str, emb: List[float], model: str) -> None:
        key = self._key(text, model)
        if key in self.cache:
            self.order.remove(key)
        elif len(self.cache) >= self.max_size:
            del self.cache[self.order.pop(0)]
        self.cache[key] = emb
        self.order.append(key)


def median_ns(f: Callable[[int], object], n: int, batch: int = 50) -> float:
    """Median over batches of `batch` calls of the mean time per call (the timer's own
    cost is amortised over the batch)."""
    samples = []
    for start in range(0, n - batch + 1, batch):
        t = time.perf_counter_ns()
        for i in range(start, start + batch):
            f(i)
        samples.append((time.perf_counter_ns() - t) / batch)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--calls", type=int, default=50_000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    embs = rng.standard_normal((a.entries, a.dim)).astype(np.float32)
    texts = [f"text number {i}" for i in range(a.entries)]
    order = rng.integers(0, a.entries, a.calls).tolist()

    with Cache(active_expire_interval_ms=0) as c:
        keys = [f"k{i}".encode() for i in range(a.entries)]
        for k, e in zip(keys, embs):
            c.set(k, e.tobytes())
        harness = median_ns(lambda i: keys[order[i]], a.calls)
        blob = median_ns(lambda i: c.get(keys[order[i]]), a.calls)
        hot = [keys[j] for j in range(16)]
        blob_hot = median_ns(lambda i: c.get(hot[i & 15]), a.calls)
        into = bytearray(a.dim * 4)
        blob_into = median_ns(lambda i: c.get_into(keys[order[i]], into), a.calls)
        c.vadd_many("m", [str(i) for i in range(a.entries)], embs)
        out = np.empty(a.dim, dtype=np.float32)
        names = [str(i) for i in range(a.entries)]
        vec = median_ns(lambda i: c.vget("m", names[order[i]], out=out), a.calls)
    print(f"harness alone (lambda + key lookup, no call) median: {harness / 1000:.2f} us")
    print(f"embedded blob get ({a.dim * 4} B value) median: {blob / 1000:.2f} us")
    print(f"embedded blob get, 16 hot keys (cache-resident) median: {blob_hot / 1000:.2f} us")
    print(f"embedded blob get_into a preallocated buffer median: {blob_into / 1000:.2f} us")
    print(f"embedded vget into a preallocated array (dim {a.dim}) median: {vec / 1000:.2f} us")

    mt = MultiTierSutraCache(l1_max_size=a.entries, cache_shard_host="127.0.0.1",
                             cache_shard_port=1, tracking=False)  # L2 never reached
    seed = SeedL1(a.entries)
    now = time.time()
    for t, e in zip(texts, embs):
        mt._l1.put((b"emb:m", t.encode()), e.tolist(), None, now)  # as a promotion leaves it
        seed.set(t, e.tolist(), "m")
    ours = median_ns(lambda i: mt.get_sync(texts[order[i]], "m"), a.calls)
    theirs = median_ns(lambda i: seed.get(texts[order[i]], "m"), a.calls)
    s = mt.stats()
    assert s["l1"]["hits"] == s["total_requests"] and s["l2"]["total_requests"] == 0
    print(f"two-tier L1 hit median: {ours / 1000:.2f} us; seed L1 (dict + list) at "
          f"{a.entries} entries: {theirs / 1000:.2f} us; speed-up {theirs / ours:.1f}x")
    mt.close()


if __name__ == "__main__":
    main()
