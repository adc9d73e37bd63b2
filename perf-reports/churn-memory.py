#!/usr/bin/env python3
"""Resident memory of `sutra-cache serve` under vector eviction churn, against its accounted
bytes: what the automatic cap under a cgroup limit (30% of it, docs/commands.md "Memory cap
in a container") has to leave room for.

The server runs with a data directory (WAL on) and `--maxmemory CAP`; one client adds
768-dimension vectors (the default `exact` storage) with a JSON attribute, in pipelines of
500, far more than the cap holds, so LRU eviction churns the set. After each pipeline it
reads the server's RssAnon (/proc/<pid>/status) and INFO's used_memory. Prints the peak
RssAnon, the accounted bytes, and their ratio.

Usage: python3 perf-reports/churn-memory.py BINARY [--cap-mb 128] [--adds 150000] [--dim 768]
(needs numpy and redis-py: the project venv).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import numpy as np
import redis


def status_field(pid, name):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024
    return 0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("--cap-mb", type=int, default=128)
    ap.add_argument("--adds", type=int, default=150_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--pipeline", type=int, default=500)
    a = ap.parse_args()
    data = tempfile.mkdtemp(prefix="churn-")
    port = free_port()
    err = open(os.path.join(data, "server.stderr"), "w")
    proc = subprocess.Popen(
        [a.binary, "serve", "--port", str(port), "--storage-path", os.path.join(data, "db"),
         "--maxmemory", f"{a.cap_mb}mb", "--log", "warn"],
        stdout=subprocess.DEVNULL, stderr=err)
    try:
        r = redis.Redis(port=port)
        for _ in range(600):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        empty = status_field(proc.pid, "RssAnon")
        rng = np.random.default_rng(1)
        peak, peak_at, peak_used = 0, 0, 0
        t0 = time.time()
        for start in range(0, a.adds, a.pipeline):
            vecs = rng.standard_normal((a.pipeline, a.dim)).astype(np.float32)
            p = r.pipeline(transaction=False)
            for i in range(a.pipeline):
                n = start + i
                attr = json.dumps({"model": "text-embedding-3-small", "text": f"entry {n}",
                                   "source": "churn-memory", "n": n})
                p.execute_command("VADD", "emb", "FP32", vecs[i].tobytes(), f"e{n}",
                                  "SETATTR", attr)
            p.execute()
            rss = status_field(proc.pid, "RssAnon")
            used = int(r.info("memory")["used_memory"])
            if rss > peak:
                peak, peak_at, peak_used = rss, start + a.pipeline, used
        used = int(r.info("memory")["used_memory"])
        stats = r.info("stats")
        card = r.execute_command("VCARD", "emb")
        mib = 2 ** 20
        print(f"cap {a.cap_mb} MiB, {a.adds} adds of {a.dim}-d in pipelines of {a.pipeline}, "
              f"{time.time() - t0:.0f} s: {stats.get('evicted_keys', 0)} evicted keys, "
              f"VCARD {card} at the end")
        print(f"RssAnon empty {empty / mib:.0f} MiB, peak {peak / mib:.0f} MiB after {peak_at} "
              f"adds (used_memory then {peak_used / mib:.0f} MiB); used_memory at the end "
              f"{used / mib:.0f} MiB")
        print(f"peak RssAnon / cap {peak / (a.cap_mb * mib):.2f}; "
              f"peak RssAnon / used_memory at the peak {peak / max(peak_used, 1):.2f}")
    finally:
        proc.kill()
        proc.wait()
        err.close()
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
