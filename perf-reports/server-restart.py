#!/usr/bin/env python3
"""Restart time of the sutra-cache server against Redis 7's RDB load, as a user sees it:
from the moment the process is started to the first answered request with all data readable
(DBSIZE equals the count loaded and the last key written reads back its value).

The same n keys of 3072 bytes (a 768-d f32 embedding's size) are written into both servers
over RESP. Redis: SAVE, then every round starts redis-server on that dump.rdb. sutra-cache,
two cases: `snapshot` (SIGTERM writes the closing checkpoint; rounds restart from it) and
`wal` (SIGKILL after the load and after every round: rounds replay the write-ahead log).
Rounds are interleaved (Redis, snapshot, wal, Redis, ...); medians.

    perf-reports/server-restart.py --bin target/release/sutra-cache [--n 100000] [--rounds 5]
        [--dir target/tmp]

Prints a markdown table; needs redis-server on PATH. Data: ~3.3 KB per key per server on disk.
"""

import argparse
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time

VALUE_BYTES = 3072


def value(i):
    return random.Random(i).randbytes(VALUE_BYTES)


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


def ready(conn, n):
    """True when all n keys are readable (Redis answers -LOADING until then)."""
    kind, size = conn.call("DBSIZE")
    if kind != b":" or int(size) != n:
        return False
    kind, data = conn.call("GET", f"k:{n - 1}")
    return kind == b"$" and data == value(n - 1)


def load(port, n):
    c = Conn(port)
    chunk = 500
    for start in range(0, n, chunk):
        end = min(n, start + chunk)
        c.s.sendall(b"".join(command("SET", f"k:{i}", value(i)) for i in range(start, end)))
        for _ in range(start, end):
            kind, _ = c.reply()
            if kind != b"+":
                raise RuntimeError("SET failed while loading")
    c.close()


def start(kind, args, port, d):
    if kind == "redis":
        cmd = ["redis-server", "--port", str(port), "--dir", d, "--dbfilename", "dump.rdb",
               "--save", "", "--appendonly", "no", "--logfile", os.path.join(d, "redis.log")]
        env = None
    else:
        cmd = [args.bin, "serve", "--port", str(port), "--storage-path", d,
               "--in-memory", "false", "--log", "warn"]
        env = dict(os.environ, WAL_SYNC_INTERVAL_MS="1000")
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc, kill):
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    proc.wait(timeout=600)


def timed_start(kind, args, port, d, n):
    t0 = time.perf_counter()
    proc = start(kind, args, port, d)
    conn = wait_up(port, proc)
    while not ready(conn, n):
        time.sleep(0.001)
    ms = (time.perf_counter() - t0) * 1e3
    conn.close()
    return proc, ms


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--dir", default="target/tmp")
    ap.add_argument("--port", type=int, default=56560)
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    args.dir = os.path.abspath(args.dir)
    cases = {"redis": "redis", "snapshot": "sutra", "wal": "sutra"}
    dirs = {c: tempfile.mkdtemp(prefix=f"restart-{c}-", dir=args.dir) for c in cases}
    times = {c: [] for c in cases}
    procs = []
    try:
        for i, (case, kind) in enumerate(cases.items()):
            port = args.port + i
            proc = start(kind, args, port, dirs[case])
            procs.append(proc)
            wait_up(port, proc).close()
            t = time.perf_counter()
            load(port, args.n)
            if case == "redis":
                c = Conn(port, timeout=600)
                assert c.call("SAVE")[0] == b"+"
                c.close()
            print(f"<!-- {case}: loaded {args.n} in {time.perf_counter() - t:.1f} s -->", flush=True)
            stop(proc, kill=(case == "wal"))
        for r in range(args.rounds):
            for i, (case, kind) in enumerate(cases.items()):
                port = args.port + i
                proc, ms = timed_start(kind, args, port, dirs[case], args.n)
                procs.append(proc)
                times[case].append(ms)
                stop(proc, kill=(case == "wal"))
            print(f"<!-- round {r + 1}: " + ", ".join(f"{c} {times[c][-1]:.0f} ms" for c in cases)
                  + f"; load {os.getloadavg()[0]:.2f} -->", flush=True)
        sizes = {c: sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(dirs[c]) for f in fs)
                 for c in cases}
        red = statistics.median(times["redis"])
        print()
        print(f"| {args.n} keys × {VALUE_BYTES} B | median ms | all rounds ms | × Redis | on disk MB |")
        print("|---|---|---|---|---|")
        label = {"redis": "Redis 7 RDB load", "snapshot": "sutra-cache, closing snapshot",
                 "wal": "sutra-cache, after SIGKILL (log replay)"}
        for c in cases:
            med = statistics.median(times[c])
            print(f"| {label[c]} | {med:.0f} | {' / '.join(f'{t:.0f}' for t in times[c])} | "
                  f"{med / red:.2f} | {sizes[c] / 1e6:.0f} |")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for d in dirs.values():
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
