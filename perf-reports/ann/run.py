#!/usr/bin/env python3
"""ANN perf report: recall@10 vs queries/s (one search thread) for sutra-cache's HNSW
(`exact`, `q8`) beside hnswlib, FAISS HNSW, ScaNN and usearch (f32, i8), same machine, same
run.

Usage (from the repository root):

    python3 perf-reports/ann/run.py --data ../shared/data/minilm-wordnet --n 100000
    python3 perf-reports/ann/run.py --data /tmp/synthetic-768 --name synthetic-768

Creates perf-reports/.venv (gitignored) and installs numpy, hnswlib, faiss-cpu, scann,
usearch and matplotlib into it on first use, and the Python binding (bindings/python, built
against target/release) on every run that measures it, then re-executes itself there. Graph
indexes: M = 16, efConstruction = 200, inner product on L2-normalised vectors (= cosine),
build with --build-threads threads (2), search with one thread. ScaNN, tuned as its authors
advise: a tree of about sqrt(n) leaves trained on the whole base, anisotropic 4-bit
asymmetric hashing (2 dimensions per block, threshold 0.2), reordering of the best 100
exactly; `leaves_to_search` is its sweep.

Every library is queried through Python in batches of all queries with one thread (their best
case through Python), sutra-cache through `Cache.search_batch(threads=1)` (`sutra-py exact`,
`sutra-py q8`); the libs list may also name `sutra` (the raw index from Rust, one query at a
time: examples/ann_bench.rs). Each point records the wall-clock q/s (`qps`) and the q/s by the
process's CPU time (`cpu_qps`: user + system of every thread, what a shared machine's load
does not change); the summary's ratios use `cpu_qps` and interpolate each library's q/s at
recall@10 = 0.95 between the two sweep points around it. Writes perf-reports/ann/<name>.json
and <name>.png and prints a markdown summary.
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
PACKAGES = ["numpy", "hnswlib", "faiss-cpu", "scann", "usearch", "matplotlib", "cffi", "setuptools", "wheel"]


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
    """(the last output, wall q/s, CPU q/s) over `repeat` passes after a warm-up pass."""
    fn()  # warm-up, also yields the ids
    t, c = time.perf_counter(), time.process_time()
    for _ in range(repeat):
        out = fn()
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return out, nq * repeat / wall, nq * repeat / max(cpu, 1e-9)


def point(ef, found, gt, qps, cpu_qps, **extra):
    return dict(event="search", ef=ef, recall=recall(found, gt), qps=qps, cpu_qps=cpu_qps,
                **extra)


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
        (labels, _), qps, cpu = timed(lambda: idx.knn_query(q, k=10, num_threads=1), a.repeat,
                                      len(q))
        rows.append(point(ef, labels, gt, qps, cpu))
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
        (_, labels), qps, cpu = timed(lambda: idx.search(q, 10), a.repeat, len(q))
        rows.append(point(ef, labels, gt, qps, cpu))
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
            m, qps, cpu = timed(lambda: idx.search(q, 10, threads=1), a.repeat, len(q))
            rows.append(point(ef, m.keys, gt, qps, cpu))
        return rows

    return run


def bench_scann(x, q, gt, a):
    import numpy as np
    import scann

    n = len(x)
    leaves = max(1, int(round(np.sqrt(n))))
    r0 = rss_bytes()
    t = time.perf_counter()
    idx = (scann.scann_ops_pybind.builder(x, 10, "dot_product")
           .tree(num_leaves=leaves, num_leaves_to_search=max(1, leaves // 10),
                 training_sample_size=n)
           .score_ah(2, anisotropic_quantization_threshold=0.2)
           .reorder(100)
           .build())
    build = time.perf_counter() - t
    rows = [dict(event="build", build_s=build, rss_delta_bytes=rss_bytes() - r0, leaves=leaves)]
    sweep = sorted({max(1, int(round(leaves * f))) for f in
                    (0.01, 0.02, 0.03, 0.05, 0.07, 0.1, 0.15, 0.2, 0.3, 0.5)})
    for s in sweep:
        (labels, _), qps, cpu = timed(
            lambda: idx.search_batched(q, leaves_to_search=s, pre_reorder_num_neighbors=100),
            a.repeat, len(q))
        rows.append(point(s, labels, gt, qps, cpu, leaves_to_search=s))
    return rows


def install_binding():
    """Builds the release library and installs bindings/python into this venv against it."""
    subprocess.check_call(["cargo", "build", "--release", "--lib", "--quiet"], cwd=REPO,
                          stdout=sys.stderr)
    env = dict(os.environ, CARGO_TARGET_DIR=str(REPO / "target"))
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet",
                           "--disable-pip-version-check", "--no-build-isolation",
                           "--force-reinstall", "--no-deps", str(REPO / "bindings" / "python")],
                          cwd=REPO, env=env, stdout=sys.stderr)


def bench_sutra_py(storage):
    def run(x, q, gt, a):
        import numpy as np
        from sutra_cache import Cache

        c = Cache()
        names = [str(i) for i in range(len(x))]
        r0 = rss_bytes()
        t = time.perf_counter()
        c.vadd_many("ann", names, x, metric="cosine", storage=storage, m=16,
                    ef_construction=200)
        c.index_wait()
        build = time.perf_counter() - t
        rows = [dict(event="build", build_s=build, rss_delta_bytes=rss_bytes() - r0)]
        for ef in a.efs:
            (ids, _), qps, cpu = timed(lambda: c.search_batch("ann", q, 10, ef=ef, threads=1),
                                       a.repeat, len(q))
            rows.append(point(ef, ids.astype(np.int64), gt, qps, cpu))
        c.close()
        return rows

    return run


def at_recall(rows, target, key="cpu_qps"):
    """q/s at recall `target`, interpolated (log q/s, linear recall) between the sweep's
    points around it; None when no point reaches it."""
    import math

    pts = sorted((r["recall"], r[key]) for r in rows if r.get("event") == "search" and key in r)
    above = [p for p in pts if p[0] >= target]
    if not above:
        return None
    hi = max(above, key=lambda p: p[1])
    below = [p for p in pts if p[0] < target and p[1] > hi[1]]
    if not below:
        return hi[1]
    lo = max(below, key=lambda p: p[0])
    f = (target - lo[0]) / (hi[0] - lo[0])
    return math.exp(math.log(lo[1]) + f * (math.log(hi[1]) - math.log(lo[1])))


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
    ap.add_argument("--no-install", action="store_true",
                    help="measure the sutra_cache already installed in the venv (no rebuild)")
    ap.add_argument("--libs",
                    default="sutra-py-exact,sutra-py-q8,hnswlib,faiss,scann,usearch-f32,usearch-i8")
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
        "scann": bench_scann,
        "sutra-py-exact": bench_sutra_py("exact"),
        "sutra-py-q8": bench_sutra_py("q8"),
    }
    if any(lib.startswith("sutra-py") for lib in a.libs.split(",")) and not a.no_install:
        install_binding()
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
    meta = dict(at_recall_095_cpu_qps={lib: at_recall(rows, 0.95) for lib, rows in results.items()},
                name=name, n=n, dim=int(x.shape[1]), queries=len(q), m=16, ef_construction=200,
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
        ax.plot([r["recall"] for r in pts], [r.get("cpu_qps", r["qps"]) for r in pts], marker="o",
                linestyle="-" if lib.startswith("sutra") else "--", label=lib)
    ax.axvline(0.95, color="grey", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per CPU-second (one thread, log)")
    ax.set_title(f"{name}, n={n}, dim={x.shape[1]}, M=16, efC=200 ({commit})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / f"{name}.png", dpi=110)

    at95 = {lib: at_recall(rows, 0.95) for lib, rows in results.items()}
    peer_best = max((v, lib) for lib, v in at95.items()
                    if v and not lib.startswith("sutra")) if any(
        v for lib, v in at95.items() if not lib.startswith("sutra")) else (None, None)
    print(f"\nCPU q/s at recall@10 = 0.95 (interpolated), best peer: {peer_best[1]}")
    print("| library | CPU q/s at 0.95 | ÷ best peer |")
    print("| --- | ---: | ---: |")
    for lib, v in sorted(at95.items(), key=lambda kv: -(kv[1] or 0)):
        ratio = f"{v / peer_best[0]:.2f}" if v and peer_best[0] else "—"
        print(f"| {lib} | " + (f"{v:,.0f}" if v else "—") + f" | {ratio} |")
    print()
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
