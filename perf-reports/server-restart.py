#!/usr/bin/env python3
"""Restart time of the sutra-cache server against Redis 7's RDB load, as a user sees it:
from the moment the process is started to the first answered request with all data readable
(DBSIZE equals the count loaded and the last key written reads back its value).

The same n keys of 3072 bytes (a 768-d f32 embedding's size) are written into both servers
over RESP. Redis: SAVE, then every round starts redis-server on that dump.rdb. sutra-cache,
as blobs (SET), two cases: `snapshot` (SIGTERM writes the closing checkpoint; rounds restart
from it) and `wal` (SIGKILL after the load and after every round: rounds replay the
write-ahead log); and the same bytes as the elements of one vector set (`VADD emb FP32 ..`,
`--vset`): `vset` (closing snapshot) and `vset-wal` (SIGKILL), ready when VCARD is n and
the last element's vector reads back. Rounds are interleaved (Redis, snapshot, wal, ...);
medians. sutra-cache runs with `--log info`: its "recovered" line gives the open's phases
(snapshot, WAL read, replay), reported as medians beside the total.

    perf-reports/server-restart.py --bin target/release/sutra-cache [--n 100000] [--rounds 5]
        [--dir target/tmp] [--vset] [--vadd-ef 200] [--cases redis,snapshot,wal,vset,vset-wal]

Also the memory each server holds per key (#20 point 4's blob figure): the server's RSS
(/proc/PID/status VmRSS) when it started empty and after the n writes over RESP (sutra-cache
idle ~2 s first, for its allocator's purge delay), divided by n; and RSS per key after the
last timed restart (all data readable; minus the empty server's RSS).

Prints markdown tables; needs redis-server on PATH. Data: ~3.3 KB per key per server on disk
(blobs; a vector set also saves its graph).
"""

import argparse
import functools
import os
import re
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import tempfile
import time

VALUE_BYTES = 3072


try:
    import numpy as np
except ImportError:  # the pure-Python form: ~10x slower to make, as good for the servers
    np = None


CHUNK = 500


@functools.lru_cache(maxsize=4)
def _chunk(c):
    """The values of keys c·CHUNK .. (c+1)·CHUNK-1, made together (numpy, when there)."""
    if np is not None:
        v = np.random.default_rng(c).random((CHUNK, VALUE_BYTES // 4), dtype=np.float32) * 2 - 1
        return [row.astype("<f4").tobytes() for row in v]
    out = []
    for i in range(c * CHUNK, (c + 1) * CHUNK):
        r = random.Random(i)
        out.append(struct.pack("<768f", *(r.random() * 2 - 1 for _ in range(VALUE_BYTES // 4))))
    return out


def value(i):
    """Key i's 3072 bytes: 768 finite f32s in [-1, 1) (stored as a blob or a vector);
    deterministic within a run (with numpy, 1M keys are made in seconds, not minutes)."""
    return _chunk(i // CHUNK)[i % CHUNK]


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(1 << 16)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":"):
            return (kind, rest)
        if kind == b"*":
            return (kind, [self.reply() for _ in range(max(int(rest), 0))])
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return (kind, None)
            while len(self.buf) < n + 2:
                chunk = self.s.recv(1 << 20)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2 :]
            return (kind, data)
        raise ValueError(f"unexpected reply {line[:80]!r}")

    def call(self, *args):
        self.s.sendall(command(*args))
        return self.reply()

    def close(self):
        self.s.close()


def wait_up(port, proc, deadline_s=600):
    """Polls every ~1 ms until the server answers PING; returns the connection."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            c = Conn(port)
        except OSError:
            time.sleep(0.001)
            continue
        try:
            if c.call("PING")[0] == b"+":
                return c
        except (OSError, ConnectionError):
            pass
        c.close()
        time.sleep(0.001)
    raise RuntimeError(f"server on {port} did not start")


def ready(conn, n, vset=False):
    """True when all n keys are readable (Redis answers -LOADING until then)."""
    if vset:
        kind, size = conn.call("VCARD", "emb")
        if kind != b":" or int(size) != n:
            return False
        kind, data = conn.call("VEMB", "emb", f"e:{n - 1}")
        want = struct.unpack("<768f", value(n - 1))
        return kind == b"*" and len(data) == 768 and all(
            float(x[1]) == w or abs(float(x[1]) - w) <= 1e-6 * max(1.0, abs(w)) for x, w in zip(data, want))
    kind, size = conn.call("DBSIZE")
    if kind != b":" or int(size) != n:
        return False
    kind, data = conn.call("GET", f"k:{n - 1}")
    return kind == b"$" and data == value(n - 1)


def load(port, n, vset=False, ef=200):
    c = Conn(port, timeout=600)
    chunk = CHUNK
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        if vset:
            cmds = (command("VADD", "emb", "FP32", value(i), f"e:{i}", "EF", ef) for i in range(start, end))
        else:
            cmds = (command("SET", f"k:{i}", value(i)) for i in range(start, end))
        c.s.sendall(b"".join(cmds))
        for _ in range(start, end):
            kind, _ = c.reply()
            if kind not in (b"+", b":"):
                raise RuntimeError("write failed while loading")
    c.close()


def start(kind, args, port, d, log=None):
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--dir", d, "--dbfilename", "dump.rdb",
               "--save", "", "--appendonly", "no", "--logfile", os.path.join(d, "redis.log")]
        env = None
    else:
        cmd = [args.bin, "serve", "--port", str(port), "--storage-path", d,
               "--in-memory", "false", "--log", "info"]
        env = dict(os.environ, WAL_SYNC_INTERVAL_MS="1000")
    err = open(log, "wb") if log else subprocess.DEVNULL
    try:
        # sutra-cache logs to stdout.
        return subprocess.Popen(cmd, env=env, stdout=err, stderr=subprocess.STDOUT if log else err)
    finally:
        if log:
            err.close()


def phases(log):
    """The open's phases (ms) from sutra-cache's "recovered" log line."""
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return {}
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    for line in text.splitlines():
        if "recovered" in line:
            f = dict(re.findall(r"(\w+)=(\d+)", line))
            return {k: int(f[k]) / 1e3 for k in ("snapshot_us", "wal_us", "replay_us") if k in f}
    return {}


def rss_bytes(pid):
    """The process's resident set (VmRSS), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def stop(proc, kill):
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    proc.wait(timeout=600)


def timed_start(kind, args, port, d, n, vset=False, log=None):
    t0 = time.perf_counter()
    proc = start(kind, args, port, d, log)
    try:
        conn = wait_up(port, proc)
    except RuntimeError as e:
        tail = open(log, errors="replace").read()[-2000:] if log else ""
        raise RuntimeError(f"{e} ({args.bin}):\n{tail}") from None
    while not ready(conn, n, vset):
        time.sleep(0.001)
    ms = (time.perf_counter() - t0) * 1e3
    conn.close()
    return proc, ms


LABEL = {"redis": "Redis 7 RDB load", "snapshot": "sutra-cache blobs, closing snapshot",
         "wal": "sutra-cache blobs, after SIGKILL (log replay)",
         "vset": "sutra-cache vector set, closing snapshot",
         "vset-wal": "sutra-cache vector set, after SIGKILL (log replay)"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the sutra-cache binary (A)")
    ap.add_argument("--bin-b", help="a second binary (B), restarted on the same data right after A")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default="target/tmp")
    ap.add_argument("--port", type=int, default=56560)
    ap.add_argument("--cases", default="redis,snapshot,wal",
                    help="comma-separated, of: redis, snapshot, wal, vset, vset-wal")
    ap.add_argument("--vset", action="store_true", help="add the vset and vset-wal cases")
    ap.add_argument("--vadd-ef", type=int, default=200, help="EF of the loading VADDs")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    args.dir = os.path.abspath(args.dir)
    names = [c for c in args.cases.split(",") if c]
    if args.vset:
        names += [c for c in ("vset", "vset-wal") if c not in names]
    if "redis" not in names:
        names.insert(0, "redis")
    bins = {"A": args.bin} | ({"B": args.bin_b} if args.bin_b else {})
    dirs = {c: tempfile.mkdtemp(prefix=f"restart-{c}-", dir=args.dir) for c in names}
    # Timed runs: (case, binary label); Redis has none.
    runs = [(c, None) if c == "redis" else (c, b) for c in names for b in (bins if c != "redis" else [None])]
    times = {r: [] for r in runs}
    phase = {r: [] for r in runs}
    logs = os.path.join(args.dir, "restart-logs")
    os.makedirs(logs, exist_ok=True)
    procs = []
    rss_load = {}  # case -> (empty, loaded) bytes
    rss_restart = {}  # run -> bytes after its last timed restart

    def kind_of(case):
        return "redis" if case == "redis" else "sutra"

    try:
        # A form's data is written once: into the log-replay case's server, SIGKILLed; the
        # closing-snapshot case starts on a copy of that directory (replaying the log) and is
        # stopped with SIGTERM, which writes its closing snapshot. (Halves the load time of
        # 1M keys; the directories end as if each had been loaded on its own.)
        order = sorted(names, key=lambda c: 0 if c == "redis" or c.endswith("wal") else 1)
        for case in order:
            port = args.port + names.index(case)
            twin = f"{case}-wal" if case in ("vset",) else "wal" if case == "snapshot" else None
            t = time.perf_counter()
            if twin in names:
                subprocess.run(["cp", "-a", "--sparse=always", dirs[twin] + "/.", dirs[case]], check=True)
                proc = start(kind_of(case), args, port, dirs[case])
                procs.append(proc)
                conn = wait_up(port, proc)
                while not ready(conn, args.n, case.startswith("vset")):
                    time.sleep(0.01)
                conn.close()
                print(f"<!-- {case}: copied from {twin}, restarted in {time.perf_counter() - t:.1f} s -->", flush=True)
                stop(proc, kill=False)
                continue
            proc = start(kind_of(case), args, port, dirs[case])
            procs.append(proc)
            wait_up(port, proc).close()
            empty = rss_bytes(proc.pid)
            load(port, args.n, vset=case.startswith("vset"), ef=args.vadd_ef)
            if case != "redis":
                # mimalloc gives freed pages back after its purge delay (1 s), when a thread
                # calls it: idle, then one request.
                time.sleep(2)
                c = Conn(port)
                c.call("PING")
                c.close()
            rss_load[case] = (empty, rss_bytes(proc.pid))
            if case == "redis":
                c = Conn(port, timeout=600)
                assert c.call("SAVE")[0] == b"+"
                c.close()
            print(f"<!-- {case}: loaded {args.n} in {time.perf_counter() - t:.1f} s -->", flush=True)
            stop(proc, kill=case.endswith("wal"))
        for r in range(args.rounds):
            for i, run in enumerate(runs):
                case, b = run
                port = args.port + names.index(case)
                if b is not None:
                    args.bin = bins[b]
                log = os.path.join(logs, f"{case}-{b}-{r}.log") if b else None
                proc, ms = timed_start(kind_of(case), args, port, dirs[case], args.n,
                                       vset=case.startswith("vset"), log=log)
                procs.append(proc)
                times[run].append(ms)
                if r == args.rounds - 1:
                    rss_restart[run] = rss_bytes(proc.pid)
                stop(proc, kill=case.endswith("wal"))
                if log:
                    phase[run].append(phases(log))
            print(f"<!-- round {r + 1}: " + ", ".join(f"{c}{'@' + b if b else ''} {times[(c, b)][-1]:.0f} ms"
                                                       for c, b in runs)
                  + f"; load {os.getloadavg()[0]:.2f} -->", flush=True)
        sizes = {c: sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(dirs[c]) for f in fs)
                 for c in names}
        red = statistics.median(times[("redis", None)])
        print()
        print(f"| {args.n} × {VALUE_BYTES} B | binary | median ms | all rounds ms | × Redis | "
              "open phases (medians: snapshot / WAL read / replay ms) | on disk MB |")
        print("|---|---|---|---|---|---|---|")
        for run in runs:
            case, b = run
            med = statistics.median(times[run])
            ph = ""
            if phase[run] and all(phase[run]):
                ph = " / ".join(f"{statistics.median(p.get(k, 0) for p in phase[run]):.1f}"
                                for k in ("snapshot_us", "wal_us", "replay_us"))
            print(f"| {LABEL[case]} | {b or ''} | {med:.0f} | {' / '.join(f'{t:.0f}' for t in times[run])} | "
                  f"{med / red:.3f} | {ph} | {sizes[case] / 1e6:.0f} |")
        print()
        print(f"| {args.n} × {VALUE_BYTES} B | RSS empty MB | RSS loaded MB | B/key, load over RESP | "
              "× Redis | B/key after the last restart |")
        print("|---|---|---|---|---|---|")
        red_key = (rss_load["redis"][1] - rss_load["redis"][0]) / args.n
        for run in runs:
            case, b = run
            if case not in rss_load or (b not in (None, "A")):
                continue
            empty, full = rss_load[case]
            per = (full - empty) / args.n
            after = rss_restart.get(run)
            print(f"| {LABEL[case]} | {empty / 1e6:.1f} | {full / 1e6:.1f} | {per:.0f} | "
                  f"{per / red_key:.3f} | {(after - empty) / args.n:.0f} |" if after else "|")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)


if __name__ == "__main__":
    main()
