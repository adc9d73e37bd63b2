"""The embedded hit from Python, per fresh process (#20 point 7): `Cache.get` of a 3 KB blob
over 10k random keys, median over batches of 1,000 random keys, in N new interpreter
processes one after the other (each builds its own cache), so a process-to-process difference
(memory placement, hashing seeds, allocator state) shows as a spread of the per-run medians.

    python3 bindings/python/bench/bench_hit_runs.py [--runs 5] [--pause 0] [--entries 10000]

Prints one JSON line per run (median and quartiles of the per-batch means in µs, by wall
clock and by the thread's CPU time — a batch preempted on a loaded machine moves the first,
not the second —, the CPU it ended on, its involuntary context switches, where its buffers
landed, and the load average) and a summary line. `--pause S` waits S seconds between runs ("minutes
apart"). `--child` runs one measurement in this process (what each run executes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time


def child(entries: int, value_bytes: int, batches: int, batch: int, default_cache: bool,
          str_keys: bool) -> dict:
    import numpy as np

    from sutra_cache import Cache
    from sutra_cache._ffi import ffi

    rng = np.random.default_rng()  # a fresh seed per process, as a user's would be
    values = rng.integers(0, 256, (entries, value_bytes), dtype=np.uint8)
    keys = [f"emb:{i:08d}" if str_keys else f"emb:{i:08d}".encode() for i in range(entries)]
    with (Cache() if default_cache else Cache(active_expire_interval_ms=0)) as c:
        for k, v in zip(keys, values):
            c.set(k, v.tobytes())
        get = c.get
        for k in keys[:batch]:  # warm the call path once
            get(k)
        samples, cpu = [], []
        minflt = nivcsw = 0  # the thread's, inside the timed loops only
        for _ in range(batches):
            ks = [keys[j] for j in rng.integers(0, entries, batch).tolist()]
            ru0 = resource.getrusage(resource.RUSAGE_THREAD)
            u, t = time.thread_time_ns(), time.perf_counter_ns()
            for k in ks:
                get(k)
            t, u = time.perf_counter_ns() - t, time.thread_time_ns() - u
            ru1 = resource.getrusage(resource.RUSAGE_THREAD)
            minflt += ru1.ru_minflt - ru0.ru_minflt
            nivcsw += ru1.ru_nivcsw - ru0.ru_nivcsw
            samples.append(t / batch / 1000)
            cpu.append(u / batch / 1000)
        assert get(keys[0]) == values[0].tobytes()
        # Where this process's buffers landed (4 KiB page offsets): the C call copies the
        # value into the thread's buffer, the result's bytes are copied from there; a copy
        # whose destination is a little past its source modulo 4 KiB stalls its loads
        # (4K aliasing), so the distance is recorded too.
        buf = int(ffi.cast("uintptr_t", c._s.cbuf))
        res = id(get(keys[0])) + 32  # a bytes object's data, CPython 3.11 layout
        offsets = {"buf_page_offset": buf % 4096, "result_page_offset": res % 4096,
                   "copy_distance_mod_4k": (res - buf) % 4096}
    gets = batches * batch
    faults = {"minor_faults_per_1k_gets": round(1000 * minflt / gets, 3),
              "timed_invol_switches": nivcsw}
    with open("/proc/self/smaps_rollup") as f:
        huge = {"anon_huge_kb": int(ln.split()[1]) for ln in f if ln.startswith("AnonHugePages")}
    q = statistics.quantiles(samples, n=4)
    qc = statistics.quantiles(cpu, n=4)
    with open("/proc/self/status") as f:
        switches = {ln.split(":")[0]: int(ln.split()[1]) for ln in f
                    if ln.startswith(("voluntary_ctxt", "nonvoluntary_ctxt"))}
    return {"median_us": round(statistics.median(samples), 3), "p25_us": round(q[0], 3),
            "p75_us": round(q[2], 3), "cpu_median_us": round(statistics.median(cpu), 3),
            "cpu_p25_us": round(qc[0], 3), "cpu_p75_us": round(qc[2], 3),
            "last_cpu": int(open("/proc/self/stat").read().rsplit(")", 1)[1].split()[36]),
            "involuntary_switches": switches.get("nonvoluntary_ctxt_switches"), **offsets,
            **faults, **huge}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pause", type=float, default=0.0, help="seconds between runs")
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--value-bytes", type=int, default=3072)
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--default-cache", action="store_true",
                    help="Cache() as opened by default (background expiry on)")
    ap.add_argument("--str-keys", action="store_true", help="keys as str (encoded per call)")
    ap.add_argument("--child", action="store_true")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(a.entries, a.value_bytes, a.batches, a.batch, a.default_cache,
                               a.str_keys)))
        return
    medians, cpu_medians = [], []
    for run in range(a.runs):
        if run and a.pause:
            time.sleep(a.pause)
        out = subprocess.run(
            [sys.executable, __file__, "--child", "--entries", str(a.entries), "--value-bytes",
             str(a.value_bytes), "--batches", str(a.batches), "--batch", str(a.batch)]
            + ["--default-cache"] * a.default_cache + ["--str-keys"] * a.str_keys,
            check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        r.update(run=run + 1, load=os.getloadavg()[0])
        medians.append(r["median_us"])
        cpu_medians.append(r["cpu_median_us"])
        print(json.dumps(r), flush=True)
    print(json.dumps({"runs": a.runs, "medians_us": medians, "cpu_medians_us": cpu_medians,
                      "max_median_us": max(medians), "max_cpu_median_us": max(cpu_medians),
                      "min_median_us": min(medians)}))


if __name__ == "__main__":
    main()
