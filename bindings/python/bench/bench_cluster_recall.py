"""Recall@10 of one model split over three cluster nodes vs the same entries on one node, at
the same EF (#16 point 4), on ../shared/data/minilm-wordnet (100k x 384, cosine).

    python3 bindings/python/bench/bench_cluster_recall.py [--base 100000] [--queries 1000]
        [--ef 10,20,40,80]

Starts four `sutra-cache serve` (target/release/sutra-cache: build it first) on free
loopback ports: one plain node, and three with --cluster-mode yes made a cluster by
`sutra-cache cluster create`. Loads the first --base entries (text -> vector) through
SutraCacheClient into the plain node (one set) and into the cluster (parts=3: one set per
node), then runs the first --queries queries with find_similar(k=10, ef=EF) against both.
The ground truth is gt.i32.npy with the full base, else exact search over the slice.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from sutra_cache import SutraCacheClient

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data" / "minilm-wordnet"
BIN = ROOT / "target" / "release" / "sutra-cache"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(data: Path, extra_env: dict):
    port = free_port()
    env = {**os.environ, "STORAGE_PORT": str(port), "STORAGE_PATH": str(data),
           "RUST_LOG": "warn", **extra_env}
    proc = subprocess.Popen([str(BIN), "serve"], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if redis.Redis(port=port, socket_timeout=0.5).ping():
                    break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("sutra-cache serve did not start")
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def load(client: SutraCacheClient, texts: list, base: np.ndarray, batch: int = 500) -> float:
    """Writes every entry (pipelined VADDs of SutraCacheClient's own format); seconds."""
    t = time.perf_counter()
    client.set_sync(texts[0], base[0], "minilm")  # records the layout on a cluster
    raw = client._sync_client()
    for i in range(1, len(texts), batch):
        pipe = raw.pipeline(transaction=False)
        for j in range(i, min(i + batch, len(texts))):
            args, _ = client._set_args(texts[j], base[j], "minilm", None, None)
            pipe.execute_command(*args)
        pipe.execute()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--ef", default="10,20,40,80")
    a = ap.parse_args()
    efs = [int(x) for x in a.ef.split(",")]
    base = np.load(DATA / "base.f16.npy", mmap_mode="r")[:a.base].astype(np.float32)
    queries = np.load(DATA / "queries.f16.npy", mmap_mode="r")[:a.queries].astype(np.float32)
    with gzip.open(DATA / "base_texts.txt.gz", "rt", encoding="utf-8") as f:
        texts = [next(f).rstrip("\n") for _ in range(a.base)]
    if a.base == 100_000:
        gt = np.load(DATA / "gt.i32.npy")[:a.queries, :10]
    else:
        gt = np.argsort(-(queries @ base.T), axis=1)[:, :10]
    # Recall over texts (a text may repeat: one entry holds it)
    gt_texts = [{texts[i] for i in row} for row in gt]
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        single_port = stack.enter_context(server(Path(tmp) / "single", {}))
        ports = [stack.enter_context(server(Path(tmp) / f"n{i}", {"SUTRA_CLUSTER_MODE": "yes"}))
                 for i in range(3)]
        subprocess.run([str(BIN), "cluster", "create", *(f"127.0.0.1:{p}" for p in ports)],
                       check=True, stdout=subprocess.DEVNULL)
        single = SutraCacheClient("127.0.0.1", single_port, strict=True, socket_timeout=60)
        split = SutraCacheClient(startup_nodes=[f"127.0.0.1:{p}" for p in ports], parts=3,
                                 strict=True, socket_timeout=60)
        print(f"# {a.base} entries, {a.queries} queries, k=10; cpus={os.cpu_count()}, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        for name, c in (("one node", single), ("3 nodes, parts=3", split)):
            print(f"load {name}: {load(c, texts, base):.1f} s", flush=True)
        for p in ports:
            print(f"  node {p}: {redis.Redis(port=p).dbsize()} keys, cards "
                  f"{[redis.Redis(port=p).execute_command('VCARD', k) for k in redis.Redis(port=p).keys('emb:*')]}")
        for ef in efs:
            line = [f"ef={ef:<4}"]
            recalls = {}
            for name, c in (("one node", single), ("3 nodes", split)):
                t = time.perf_counter()
                total = 0.0
                for q in range(a.queries):
                    hits = {s.text for s in c.find_similar_sync(queries[q], "minilm", k=10, ef=ef)}
                    total += len(hits & gt_texts[q]) / len(gt_texts[q])
                dt = time.perf_counter() - t
                recalls[name] = total / a.queries
                line.append(f"{name}: recall@10={recalls[name]:.4f} ({a.queries / dt:.0f} q/s)")
            line.append(f"diff={recalls['3 nodes'] - recalls['one node']:+.4f}")
            print("  ".join(line), flush=True)
        single.close()
        split.close()


if __name__ == "__main__":
    sys.exit(main())
