"""Search through the Python binding against hnswlib, FAISS (HNSWFlat) and usearch, in the
same process and run, on ../shared/data/minilm-wordnet (100k × 384, cosine): recall@10 against
the exact ground truth and queries per second, one thread.

    python3 bindings/python/bench/bench_search.py [--base 100000] [--queries 1000]

Peers missing from the environment are reported as such (pip install hnswlib faiss-cpu usearch).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from sutra_cache import Cache

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "minilm-wordnet"
M, EF_CONSTRUCTION = 16, 200


def recall_at_10(found: list, gt: np.ndarray) -> float:
    return float(np.mean([len(set(f[:10]) & set(g[:10])) / 10 for f, g in zip(found, gt)]))


def timed(label: str, build, search, queries: np.ndarray, gt: np.ndarray, efs: list) -> None:
    t = time.perf_counter()
    build()
    built = time.perf_counter() - t
    for ef in efs:
        t = time.perf_counter()
        found = [search(q, ef) for q in queries]
        dt = time.perf_counter() - t
        print(f"{label:28s} ef={ef:<4} recall@10={recall_at_10(found, gt):.3f} "
              f"q/s={len(queries) / dt:9.0f} build={built:6.1f}s", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef", default="16,64,128")
    a = ap.parse_args()
    if not (DATA / "base.f16.npy").exists():
        raise SystemExit(f"missing data set {DATA}: see shared/data/README.md")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    base = np.load(DATA / "base.f16.npy")[: a.base].astype(np.float32)
    queries = np.load(DATA / "queries.f16.npy")[: a.queries].astype(np.float32)
    if a.base == 100_000:
        gt = np.load(DATA / "gt.i32.npy")[: a.queries]
    else:  # exact ground truth of the subset
        gt = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    efs = [int(x) for x in a.ef.split(",")]
    names = [str(i) for i in range(len(base))]

    cache = Cache(active_expire_interval_ms=0)

    def sutra_build() -> None:
        for i in range(0, len(base), 10_000):
            cache.vadd_many("wordnet", names[i:i + 10_000], base[i:i + 10_000], metric="cosine",
                            m=M, ef_construction=EF_CONSTRUCTION)
        cache.index_wait()  # the graph complete (built by the indexer and this thread)

    def sutra_search(q: np.ndarray, ef: int) -> list:
        found, _ = cache.search("wordnet", q, 10, ef=ef)
        return [int(x) for x in found]

    timed("sutra-cache (python)", sutra_build, sutra_search, queries, gt, efs)

    try:
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=base.shape[1])

        def hb() -> None:
            idx.init_index(max_elements=len(base), M=M, ef_construction=EF_CONSTRUCTION)
            idx.set_num_threads(1)
            idx.add_items(base, np.arange(len(base)))

        def hs(q: np.ndarray, ef: int) -> list:
            idx.set_ef(max(ef, 10))
            return idx.knn_query(q, k=10)[0][0].tolist()

        timed("hnswlib", hb, hs, queries, gt, efs)
    except ImportError:
        print("hnswlib: not installed")

    try:
        import faiss

        faiss.omp_set_num_threads(1)
        fx = faiss.IndexHNSWFlat(base.shape[1], M, faiss.METRIC_INNER_PRODUCT)
        fx.hnsw.efConstruction = EF_CONSTRUCTION

        def fs(q: np.ndarray, ef: int) -> list:
            fx.hnsw.efSearch = max(ef, 10)
            return fx.search(q[None, :], 10)[1][0].tolist()

        timed("faiss HNSWFlat", lambda: fx.add(base), fs, queries, gt, efs)
    except ImportError:
        print("faiss: not installed")

    try:
        from usearch.index import Index

        ux = Index(ndim=base.shape[1], metric="ip", dtype="f32", connectivity=M,
                   expansion_add=EF_CONSTRUCTION)

        def us(q: np.ndarray, ef: int) -> list:
            ux.expansion_search = max(ef, 10)
            return ux.search(q, 10).keys.tolist()

        timed("usearch (f32)", lambda: ux.add(np.arange(len(base)), base, threads=1), us,
              queries, gt, efs)
    except ImportError:
        print("usearch: not installed")


if __name__ == "__main__":
    main()
