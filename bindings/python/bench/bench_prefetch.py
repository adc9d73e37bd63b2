"""Semantic prefetch (issue #15 point 6): L1 hit rate and L2 round trips of a
`MultiTierSutraCache` with and without `prefetch=k`, same L1 size, on two traces over real
MiniLM embeddings of WordNet glosses (../shared/data/minilm-wordnet):

- **topical**: sessions that walk through related glosses — a session picks one of the
  dataset's 1,000 queries and looks up glosses among its 30 nearest (the ground truth's
  ids), a random walk of `--session` steps (each step a random one of the 30);
- **uniform**: the same number of lookups, each a gloss drawn uniformly from the same
  cached pool (no locality).

The shard holds the pool: every gloss that is among some query's 30 nearest, plus random
others up to `--pool`. Each trace runs against a fresh server, first with prefetch (the shard's co-access table
starts empty and learns only from that run's lookups), then without. The prefetcher is drained after every lookup
(`wait_prefetched`): the figures are those of a service whose next query arrives after the
prefetch's two round trips (~0.3 ms on loopback); they do not depend on timing.

    python3 bindings/python/bench/bench_prefetch.py [--l1 500] [--k 4] [--sessions 400]

Needs the release binary (`cargo build --release --bin sutra-cache`).
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

from sutra_cache import MultiTierSutraCache, SutraCacheClient

ROOT = Path(__file__).resolve().parents[3]
DATA = Path(os.environ.get("MINILM_WORDNET", ROOT.parent.parent / "shared/data/minilm-wordnet"))
if not DATA.exists():
    DATA = Path("/work/shared/data/minilm-wordnet")


def load(pool: int, near: int, seed: int):
    base = np.load(DATA / "base.f16.npy", mmap_mode="r")
    gt = np.load(DATA / "gt.i32.npy")[:, :near]
    with gzip.open(DATA / "base_texts.txt.gz", "rt", encoding="utf-8") as f:
        texts = f.read().split("\n")
    rng = random.Random(seed)
    ids = set(int(i) for i in gt.ravel())
    while len(ids) < pool:
        ids.add(rng.randrange(base.shape[0]))
    return base, gt, texts, sorted(ids)


def traces(gt, ids, sessions: int, steps: int, seed: int):
    rng = random.Random(seed)
    topical = []
    for _ in range(sessions):
        q = rng.randrange(gt.shape[0])
        topical += [int(gt[q][rng.randrange(gt.shape[1])]) for _ in range(steps)]
    uniform = [ids[rng.randrange(len(ids))] for _ in range(len(topical))]
    return topical, uniform


def start_server(exe: Path, data: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "STORAGE_PORT": str(port), "STORAGE_PATH": data, "RUST_LOG": "warn"}
    proc = subprocess.Popen([str(exe), "serve"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return proc
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("sutra-cache did not start")


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(port: int, trace, texts, l1: int, k: int) -> dict:
    cache = MultiTierSutraCache(l1, "127.0.0.1", port, prefetch=k, namespace="bench:",
                                numpy=True, socket_timeout=10.0)
    try:
        cache.wait_coherent()
        for i in trace:
            assert cache.get_sync(texts[i], "minilm") is not None, texts[i]
            cache.wait_prefetched()
        s = cache.stats()
        n = s["total_requests"]
        fg = cache.l2_hits + cache.misses
        bg = s["prefetch"].get("round_trips", 0)
        return {"lookups": n, "l1_hit_rate": cache.l1_hits / n, "l2_round_trips": fg,
                "prefetch_round_trips": bg, "prefetched": s["prefetch"].get("entries", 0),
                "prefetch_hits": s["prefetch"].get("hits", 0)}
    finally:
        cache.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--l1", type=int, default=500)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--sessions", type=int, default=400)
    ap.add_argument("--session", type=int, default=25, help="lookups per session")
    ap.add_argument("--near", type=int, default=30)
    ap.add_argument("--pool", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "sutra-cache"
    base, gt, texts, ids = load(a.pool, a.near, a.seed)
    topical, uniform = traces(gt, ids, a.sessions, a.session, a.seed)
    print(f"pool {len(ids)} glosses (dim {base.shape[1]}), L1 {a.l1}, k {a.k}, "
          f"{len(topical)} lookups per trace, load {os.getloadavg()[0]:.2f}", flush=True)
    for name, trace in (("topical", topical), ("uniform", uniform)):
        with tempfile.TemporaryDirectory() as data:
            port = free_port()
            proc = start_server(exe, data, port)
            try:
                c = SutraCacheClient("127.0.0.1", port, namespace="bench:", socket_timeout=10.0)
                r = c._sync_client()
                for at in range(0, len(ids), 500):
                    p = r.pipeline(transaction=False)
                    for i in ids[at:at + 500]:
                        args, _ = c._set_args(texts[i], np.asarray(base[i], dtype=np.float32),
                                              "minilm", None, None)
                        p.execute_command(*args)
                    p.execute()
                # Prefetch first: its co-access table starts empty and learns only from this
                # run's own lookups (the run without prefetch does not use it).
                for k in (a.k, 0):
                    res = run(port, trace, texts, a.l1, k)
                    print(f"{name:8} prefetch={k}: L1 hit rate {100 * res['l1_hit_rate']:6.2f}% "
                          f"L2 round trips {res['l2_round_trips']:6d} (+{res['prefetch_round_trips']}"
                          f" in the background), prefetched {res['prefetched']}, of which used "
                          f"{res['prefetch_hits']}", flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
