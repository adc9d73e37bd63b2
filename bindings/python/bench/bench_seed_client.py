"""The seed client's costs, one run, one machine (perf-reports/seed-client-*.md):

1. exact hit latency of `SutraCacheClient.get` (vector-set entry: VGETF32, list of floats) against
   the old blob path on the same sutra-cache (GET model:sha256 + the same decoding) and against
   Redis GET of the same blob (redis-server, same client code);
2. `MultiTierSutraCache` L1 hit against the seed's L1 (dict + list in LRU order) at 10k entries;
3. the invalidation propagation delay between two processes' L1s (a set in this process until
   the peer process stops serving the old vector), when the server has CLIENT TRACKING.

    python3 bindings/python/bench/bench_seed_client.py [--entries 10000] [--dim 768]

Needs target/release/sutra-cache (cargo build --release --bin sutra-cache) and redis-server.
Latencies are per call (perf_counter_ns around each call), p50 and p99 over --lookups calls.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import redis

from sutra_cache import MultiTierSutraCache, SutraCacheClient, embedding_key
from sutra_cache.entry import decode_embedding

ROOT = Path(__file__).resolve().parents[3]
PEER = ROOT / "bindings" / "python" / "tests" / "l1_peer.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(port: int) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers PING on {port}")


def pct(samples: List[float], p: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(p / 100 * len(s)))]


def timed(f: Callable[[int], object], n: int) -> List[float]:
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        f(i)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


async def timed_async(f, n: int) -> List[float]:
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        await f(i)
        out.append((time.perf_counter_ns() - t) / 1000)
    return out


class SeedL1:
    """The seed's MultiTierSutraCache L1, as written: dict + access-order list."""

    def __init__(self, max_size: int) -> None:
        self.l1_cache: Dict[str, List[float]] = {}
        self.l1_max_size = max_size
        self.l1_access_order: List[str] = []

    def _cache_key(self, text: str, model: str) -> str:
        text_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
        return f"{model}:{text_hash}"

    def get(self, text: str, model: str = "default") -> Optional[List[float]]:
        cache_key = self._cache_key(text, model)
        if cache_key in self.l1_cache:
            self._mark_l1_access(cache_key)
            return self.l1_cache[cache_key]
        return None

    def _set_l1(self, key: str, value: List[float]) -> None:
        if key in self.l1_cache:
            self.l1_access_order.remove(key)
        else:
            if len(self.l1_cache) >= self.l1_max_size:
                oldest = self.l1_access_order.pop(0)
                del self.l1_cache[oldest]
        self.l1_cache[key] = value
        self.l1_access_order.append(key)

    def _mark_l1_access(self, key: str) -> None:
        if key in self.l1_access_order:
            self.l1_access_order.remove(key)
            self.l1_access_order.append(key)


def row(name: str, s: List[float]) -> str:
    return f"| {name} | {pct(s, 50):.1f} | {pct(s, 99):.1f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=200, help="propagation measurements")
    a = ap.parse_args()
    exe = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "release" / "sutra-cache"
    tmp = Path(tempfile.mkdtemp(prefix="bench-seed-"))
    sport, rport = free_port(), free_port()
    procs = [
        subprocess.Popen([str(exe), "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**os.environ, "STORAGE_PORT": str(sport),
                              "STORAGE_PATH": str(tmp / "sutra"), "RUST_LOG": "warn"}),
        subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(rport),
                          "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_ping(sport)
        wait_ping(rport)
        run(a, sport, rport)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run(a: argparse.Namespace, sport: int, rport: int) -> None:
    rng = np.random.default_rng(0)
    embs = rng.standard_normal((a.entries, a.dim)).astype(np.float32)
    texts = [f"text number {i}" for i in range(a.entries)]
    order = rng.integers(0, a.entries, a.lookups).tolist()
    print(f"entries {a.entries}, dim {a.dim}, lookups {a.lookups}; latency per call in us")

    # 1. exact hits: vector-set path vs blob path vs Redis GET, same client machinery.
    client = SutraCacheClient("127.0.0.1", sport, socket_timeout=5.0)
    sutra_raw = redis.Redis(port=sport, protocol=2)
    redis_raw = redis.Redis(port=rport, protocol=2)
    pipe_s, pipe_r = sutra_raw.pipeline(False), redis_raw.pipeline(False)
    for t, e in zip(texts, embs):
        client.set_sync(t, e, "bench")
        pipe_s.set(embedding_key(t, "bench"), e.tobytes(), ex=86400)
        pipe_r.set(embedding_key(t, "bench"), e.tobytes(), ex=86400)
    pipe_s.execute()
    pipe_r.execute()
    blob_keys = [embedding_key(t, "bench") for t in texts]
    assert client.get_sync(texts[5], "bench") == embs[5].tolist()

    def blob_get(r: redis.Redis) -> Callable[[int], object]:
        def f(i: int) -> object:  # the old client's path: sha256 key, GET, floats to a list
            raw = r.get(embedding_key(texts[order[i]], "bench"))
            return decode_embedding(raw)
        return f

    paths = {"vset": lambda i: client.get_sync(texts[order[i]], "bench"),
             "blob": blob_get(sutra_raw), "rget": blob_get(redis_raw)}
    for f in paths.values():  # warm connections and caches
        timed(f, 2000)
    got: Dict[str, List[float]] = {k: [] for k in paths}
    chunk = 1000  # interleaved in chunks, so load changes on the machine hit all paths alike
    for start in range(0, a.lookups, chunk):
        for k, f in paths.items():
            got[k] += timed(lambda i: f(start + i), min(chunk, a.lookups - start))
    vset, blob, rget = got["vset"], got["blob"], got["rget"]
    assert client.stats()["misses"] == 0
    del blob_keys

    async def async_paths():
        aio = redis.asyncio.Redis(port=sport, protocol=2)

        async def blob_async(i: int) -> object:
            return decode_embedding(await aio.get(embedding_key(texts[order[i]], "bench")))
        def vset_async(i: int):
            return client.get(texts[order[i]], "bench")
        await timed_async(vset_async, 2000)
        await timed_async(blob_async, 2000)
        v: List[float] = []
        b: List[float] = []
        for start in range(0, a.lookups, 1000):
            n = min(1000, a.lookups - start)
            v += await timed_async(lambda i: vset_async(start + i), n)
            b += await timed_async(lambda i: blob_async(start + i), n)
        await aio.aclose()
        await client.aclose()
        return v, b
    avset, ablob = asyncio.run(async_paths())
    print("\n| exact hit (sync get_sync / async get) | p50 us | p99 us |\n|---|---|---|")
    print(row("sync: vector-set entry, VGETF32 (SutraCacheClient.get_sync)", vset))
    print(row("sync: old blob path on sutra-cache, GET model:sha256", blob))
    print(row("sync: Redis 7 GET of the same blob", rget))
    print(row("async: vector-set entry (await SutraCacheClient.get)", avset))
    print(row("async: old blob path on sutra-cache", ablob))
    print(f"\nratio vector-set / blob p50: sync {pct(vset, 50) / pct(blob, 50):.3f}, "
          f"async {pct(avset, 50) / pct(ablob, 50):.3f}; vector-set / Redis GET p50: "
          f"{pct(vset, 50) / pct(rget, 50):.3f}")

    # 2. L1 hits at 10k entries: ours (promoted from the shard) vs the seed's dict + list.
    mt = MultiTierSutraCache(a.entries, "127.0.0.1", sport, socket_timeout=5.0)
    mt.wait_coherent(10)
    seed = SeedL1(a.entries)
    for t, e in zip(texts, embs):
        seed._set_l1(seed._cache_key(t, "bench"), e.tolist())
    for t in texts:  # promote every entry into the L1
        mt.get_sync(t, "bench")
    for t in texts:
        mt.get_sync(t, "bench")
    s = mt.stats()
    assert s["l1"]["size"] == a.entries, s["l1"]
    base = s["l1"]["hits"]
    ours: List[float] = []
    theirs: List[float] = []
    for start in range(0, a.lookups, 1000):
        n = min(1000, a.lookups - start)
        ours += timed(lambda i: mt.get_sync(texts[order[start + i]], "bench"), n)
        theirs += timed(lambda i: seed.get(texts[order[start + i]], "bench"), n)
    assert mt.stats()["l1"]["hits"] - base == a.lookups
    print(f"\n| L1 hit at {a.entries} entries | p50 us | p99 us |\n|---|---|---|")
    print(row(f"MultiTierSutraCache.get_sync (tracking: {s['l1']['tracking']})", ours))
    print(row("the seed's dict + list L1 (list.remove per hit)", theirs))
    print(f"\nspeed-up p50: {pct(theirs, 50) / pct(ours, 50):.1f}x")
    mt.close()

    # 3. propagation delay between two processes' L1s.
    peer = subprocess.Popen([sys.executable, str(PEER), str(sport)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)

    def send(**cmd) -> dict:
        peer.stdin.write(json.dumps(cmd) + "\n")
        peer.stdin.flush()
        return json.loads(peer.stdout.readline())

    hello = json.loads(peer.stdout.readline())
    if not hello["coherent"]:
        print(f"\npropagation delay: not measured (peer tracking: {hello['tracking']})")
    else:
        writer = SutraCacheClient("127.0.0.1", sport, socket_timeout=5.0)
        old, new = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
        delays, failures = [], 0
        for r in range(a.rounds):
            text = f"propagation {r}"
            writer.set_sync(text, old, "prop")
            if not send(op="prime", text=text, model="prop", expect=old)["ok"]:
                failures += 1
                continue
            assert send(op="watch", text=text, model="prop", old=old, deadline=30,
                        after=10)["watching"]
            writer.set_sync(text, new, "prop")
            acked = time.monotonic()
            seen = json.loads(peer.stdout.readline())
            if seen["changed_at"] is None or seen["violations"]:
                failures += 1
                continue
            delays.append((seen["changed_at"] - acked) * 1e6)
        print(f"\npropagation delay (set acknowledged -> the peer process stops serving the old "
              f"vector), {len(delays)} rounds, {failures} failures: p50 {pct(delays, 50):.0f} us, "
              f"p99 {pct(delays, 99):.0f} us, max {max(delays):.0f} us; "
              f"{sum(d < 0 for d in delays)} rounds saw the change before the writer's "
              "acknowledgement returned")
    peer.stdin.write(json.dumps({"op": "quit"}) + "\n")
    peer.stdin.flush()
    peer.wait()


if __name__ == "__main__":
    main()
