"""The RESP side of the search-path report (#20 point 2): `VSIM key FP32 <blob> COUNT 10 EF ef`
against a fresh sutra-cache server, pipelined with redis-py (one pipeline of all 1,000
queries per pass) and one round trip per query, on the data and with the figures of
examples/search_path.rs and perf-reports/search-path.py: recall@10, q/s (median of --repeat
passes) and the server's CPU per query (its threads' run time from /proc over the passes,
the figure that does not depend on the client sharing the 2 cores); then the fixed cost of a
k=1, ef=1 VSIM on the full set and on a set of 100. One JSON line per figure.

    python3 perf-reports/search-vsim.py --bin target/release/sutra-cache --n 20000 --efs 32,64
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import redis


def load(path: Path, n: int) -> np.ndarray:
    a = np.load(path, mmap_mode="r")
    a = np.asarray(a[:n] if n else a, dtype=np.float32)
    return a / np.linalg.norm(a, axis=1, keepdims=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu(pid: int) -> float:
    """The server's CPU seconds: the sum over its threads of /proc/PID/task/TID/schedstat's
    first field (ns; exact for threads that are idle when read, as they are between passes),
    finer than /proc/PID/stat's clock ticks."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:  # a thread that ended meanwhile
            pass
    return total / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/release/sutra-cache")
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
    blobs = [q.tobytes() for q in queries]

    def emit(**kw) -> None:
        print(json.dumps(kw), flush=True)

    port = free_port()
    proc = subprocess.Popen([a.bin, "serve", "--port", str(port), "--in-memory", "true",
                             "--log", "warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        r = redis.Redis(port=port)
        for _ in range(400):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        t = time.perf_counter()
        for key, rows in (("m", base), ("s", base[:100])):
            p = r.pipeline(transaction=False)
            for i, v in enumerate(rows):
                p.execute_command("VADD", key, "FP32", v.tobytes(), str(i))
                if len(p) == 1000:
                    p.execute()
            p.execute()
            r.execute_command("VINFO", key)  # finishes the set's indexing
        emit(event="build", path="vsim", n=n, s=time.perf_counter() - t)

        def passes(key: str, k: int, ef: int, pipelined: bool):
            cmd = ("COUNT", k, "EF", ef)
            out = None

            def one_pass():
                nonlocal out
                if pipelined:
                    p = r.pipeline(transaction=False)
                    for b in blobs:
                        p.execute_command("VSIM", key, "FP32", b, *cmd)
                    out = p.execute()
                else:
                    out = [r.execute_command("VSIM", key, "FP32", b, *cmd) for b in blobs]

            one_pass()
            found = out
            times, c0 = [], cpu(proc.pid)
            for _ in range(a.repeat):
                t = time.perf_counter()
                one_pass()
                times.append(time.perf_counter() - t)
            server_us = (cpu(proc.pid) - c0) * 1e6 / (a.repeat * nq)
            return found, float(np.median(times)), server_us

        for ef in [int(x) for x in a.efs.split(",") if x]:
            for pipelined in (True, False):
                found, secs, server_us = passes("m", 10, ef, pipelined)
                ids = [[int(x) for x in row] for row in found]
                rec = float(np.mean([len(set(f) & set(g)) / 10 for f, g in zip(ids, gt)]))
                emit(event="search", path="vsim_pipelined" if pipelined else "vsim", n=n, ef=ef,
                     recall=rec, qps=nq / secs, us_per_query=secs * 1e6 / nq,
                     server_cpu_us_per_query=server_us)
        for set_name, key in (("full", "m"), ("100", "s")):
            _, secs, server_us = passes(key, 1, 1, True)
            emit(event="fixed", path="vsim_pipelined", set=set_name, k=1, ef=1,
                 us_per_query=secs * 1e6 / nq, server_cpu_us_per_query=server_us)
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
