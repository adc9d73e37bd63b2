#!/usr/bin/env python3
"""ANN perf report: recall@10 vs queries/s (one search thread) for sutra-cache's HNSW
(`exact`, `q8`) beside hnswlib, FAISS HNSW and usearch (f32, i8), same machine, same run.

Usage (from the repository root):

    python3 perf-reports/ann/run.py --data ../shared/data/minilm-wordnet --n 100000
    python3 perf-reports/ann/run.py --data /tmp/synthetic-768 --name synthetic-768

Creates perf-reports/.venv (gitignored) and installs numpy, hnswlib, faiss-cpu, usearch and
matplotlib into it on first use, then re-executes itself there. All indexes: M = 16,
efConstruction = 200, inner product on L2-normalised vectors (= cosine), build with
--build-threads threads (2), search with one thread. Peers are queried in batches of all
queries with one thread (their best case through Python); sutra-cache is queried one query
at a time from Rust (examples/ann_bench.rs). Writes perf-reports/ann/<name>.json and
<name>.png and prints a markdown summary.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VENV = REPO / "perf-reports" / ".venv"
PACKAGES = ["numpy", "hnswlib", "faiss-cpu", "usearch", "matplotlib"]


def ensure_venv():
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    subprocess.check_call([str(py), "-m", "pip", "install", "-q", *PACKAGES])
    os.execv(str(py), [str(py), __file__, *sys.argv[1:]])


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(data, n):
    import numpy as np

    base = np.load(data / "base.f16.npy", mmap_mode="r")
    total = base.shape[0]
    n = total if n <= 0 else min(n, total)
    x = np.ascontiguousarray(base[:n], dtype=np.float32)
    q = np.load(data / "queries.f16.npy").astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    if n == total:
        gt = np.load(data / "gt.i32.npy")[:, :10]
    else:  # exact truth on the slice
        s = q @ x.T
        gt = np.argsort(-s, axis=1)[:, :10]
    return x, q, gt, n


def recall(found, gt):
    hits = sum(len(set(map(int, f)) & set(map(int, g))) for f, g in zip(found, gt))
    return hits / (gt.shape[0] * gt.shape[1])


def timed(fn, repeat, nq):
    fn()  # warm-up, also yields the ids
    t = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, nq * repeat / (time.perf_counter() - t)


def bench_hnswlib(x, q, gt, a):
    import hnswlib

    r0 = rss_bytes()
    idx = hnswlib.Index(space="ip", dim=x.shape[1])
    idx.init_index(max_elements=len(x), ef_construction=200, M=16)
    t = time.perf_counter()
    idx.add_items(x, num_threads=a.build_threads)
    build = time.perf_counter() - t
    rows = [dict(event="build", build_s=build, rss_delta_bytes=rss_bytes() - r0)]
    for ef in a.efs:
        idx.set_ef(ef)
        (labels, _), qps = timed(lambda: idx.knn_query(q, k=10, num_threads=1), a.repeat, len(q))
        rows.append(dict(event="search", ef=ef, recall=recall(labels, gt), qps=qps))
    return rows


def bench_faiss(x, q, gt, a):
    import faiss

    r0 = rss_bytes()
    faiss.omp_set_num_threads(a.build_threads)
    idx = faiss.IndexHNSWFlat(x.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
    idx.hnsw.efConstruction = 200
    t = time.perf_counter()
    idx.add(x)
    build = time.perf_counter() - t
    rows = [dict(event="build", build_s=build, rss_delta_bytes=rss_bytes() - r0)]
    faiss.omp_set_num_threads(1)
    for ef in a.efs:
        idx.hnsw.efSearch = ef
        (_, labels), qps = timed(lambda: idx.search(q, 10), a.repeat, len(q))
        rows.append(dict(event="search", ef=ef, recall=recall(labels, gt), qps=qps))
    return rows


def bench_usearch(dtype):
    def run(x, q, gt, a):
        import numpy as np
        from usearch.index import Index

        r0 = rss_bytes()
        idx = Index(ndim=x.shape[1], metric="ip", dtype=dtype, connectivity=16, expansion_add=200)
        t = time.perf_counter()
        idx.add(np.arange(len(x)), x, threads=a.build_threads)
        build = time.perf_counter() - t
        rows = [
            dict(
                event="build",
                build_s=build,
                rss_delta_bytes=rss_bytes() - r0,
                memory_bytes=int(idx.memory_usage),
                bytes_per_vector=idx.memory_usage / len(x),
            )
        ]
        for ef in a.efs:
            idx.expansion_search = ef
            m, qps = timed(lambda: idx.search(q, 10, threads=1), a.repeat, len(q))
            rows.append(dict(event="search", ef=ef, recall=recall(m.keys, gt), qps=qps))
        return rows

    return run


def bench_sutra(a, n):
    subprocess.check_call(
        ["cargo", "build", "--release", "--example", "ann_bench"], cwd=REPO, stdout=sys.stderr
    )
    cmd = [
        str(REPO / "target" / "release" / "examples" / "ann_bench"),
        "--data", str(a.data), "--n", str(n), "--modes", "exact,q8",
        "--build-threads", str(a.build_threads), "--repeat", str(a.repeat),
        "--efs", ",".join(map(str, a.efs)),
    ]
    print("+", " ".join(cmd), file=sys.stderr)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=REPO).stdout
    rows = {}
    for line in out.splitlines():
        r = json.loads(line)
        rows.setdefault(f"sutra-cache {r.pop('variant')}", []).append(r)
    return rows


def best_at(rows, floor):
    ok = [r for r in rows if r.get("event") == "search" and r["recall"] >= floor]
    return max(ok, key=lambda r: r["qps"]) if ok else None


def main():
    ensure_venv()
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=REPO / ".." / "shared" / "data" / "minilm-wordnet")
    ap.add_argument("--name", default=None, help="output name (default: the data folder's)")
    ap.add_argument("--n", type=int, default=0, help="base rows to use (0 = all)")
    ap.add_argument("--efs", type=lambda s: [int(v) for v in s.split(",")],
                    default=[16, 24, 32, 48, 64, 96, 128, 192, 256])
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--libs", default="sutra,hnswlib,faiss,usearch-f32,usearch-i8")
    a = ap.parse_args()
    a.data = a.data.resolve()
    name = a.name or a.data.name

    x, q, gt, n = load(a.data, a.n)
    print(f"{name}: n={n} dim={x.shape[1]} queries={len(q)}", file=sys.stderr)
    peers = {
        "hnswlib": bench_hnswlib,
        "faiss": bench_faiss,
        "usearch-f32": bench_usearch("f32"),
        "usearch-i8": bench_usearch("i8"),
    }
    results = {}
    load_avg = [os.getloadavg()]
    # Interleave: sutra-cache first, then each peer, with a load sample between.
    for lib in a.libs.split(","):
        t = time.perf_counter()
        if lib == "sutra":
            results.update(bench_sutra(a, n))
        else:
            results[lib] = peers[lib](x, q, gt, a)
        load_avg.append(os.getloadavg())
        print(f"{lib}: {time.perf_counter() - t:.1f} s, load {load_avg[-1]}", file=sys.stderr)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                            capture_output=True, text=True).stdout.strip()
    meta = dict(name=name, n=n, dim=int(x.shape[1]), queries=len(q), m=16, ef_construction=200,
                build_threads=a.build_threads, repeat=a.repeat, commit=commit,
                nproc=os.cpu_count(), loadavg=load_avg,
                date=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    out = REPO / "perf-reports" / "ann"
    (out / f"{name}.json").write_text(json.dumps(dict(meta=meta, results=results), indent=1))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for lib, rows in results.items():
        pts = [r for r in rows if r["event"] == "search"]
        ax.plot([r["recall"] for r in pts], [r["qps"] for r in pts], marker="o",
                linestyle="-" if lib.startswith("sutra") else "--", label=lib)
    ax.axvline(0.95, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries/s (one thread, log)")
    ax.set_title(f"{name}, n={n}, dim={x.shape[1]}, M=16, efC=200 ({commit})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)

    print(f"| {name} | build s ({a.build_threads} thr) | best q/s at recall ≥ 0.95 (ef, recall) "
          f"| max recall | bytes/vector |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for lib, rows in results.items():
        b = next(r for r in rows if r["event"] == "build")
        best = best_at(rows, 0.95)
        top = max(r["recall"] for r in rows if r["event"] == "search")
        bpv = b.get("bytes_per_vector")
        print(f"| {lib} | {b['build_s']:.1f} | "
              + (f"{best['qps']:,.0f} (ef {best['ef']}, {best['recall']:.3f})" if best else "—")
              + f" | {top:.3f} | " + (f"{bpv:,.0f}" if bpv else "—") + " |")


if __name__ == "__main__":
    main()
