#!/usr/bin/env python3
"""Replication figures (#16 point 6), in one run:

1. Replication lag: a master and its replica (both with a data directory, the defaults
   otherwise). W writes, one at a time: SET on the master; once the master acknowledged it,
   the replica is polled (GET, back to back on one connection) until the value is there.
   The lag is the time from the acknowledgement to the first GET that sees it (an upper
   bound: it includes up to one GET round trip). Median, p90, p99, max over the W writes.
2. The master's SET throughput and CPU per request with 0 vs 1 replica: two masters started
   alike, M0 without a replica and M1 with one, redis-benchmark SET against each,
   interleaved round by round (so load from other work hits both alike). Per row: requests/s
   and the master's CPU per request (utime+stime from /proc/<pid>/stat over the run, divided
   by the requests), and for M1 its replica's CPU per request too. Medians over the rounds.

    perf-reports/replication.py BIN [ROUNDS] [N] [W]
BIN is the sutra-cache binary (a release build). Prints Markdown.
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
W = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
TCK = os.sysconf("SC_CLK_TCK")
procs = []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(data, extra=()):
    port = free_port()
    args = [BIN, "serve", "--port", str(port), "--storage-path", data, "--log", "warn", *extra]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    for _ in range(400):
        if subprocess.run(["redis-cli", "-p", str(port), "PING"],
                          capture_output=True).stdout.strip() == b"PONG":
            return port, p.pid
        time.sleep(0.05)
    sys.exit(f"server on {port} did not start")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TCK  # utime, stime


class Conn:
    """A minimal RESP client: one command, one reply (enough for SET/GET/INFO/WAIT)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.s.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        line = self._line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.s.recv(65536)
            v, self.buf = self.buf[:n], self.buf[n + 2:]
            return v
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        if line[:1] == b":":
            return int(line[1:])
        return line[1:]


def link_up(port):
    info = Conn(port).call("INFO", "replication").decode()
    return "master_link_status:up" in info


def wait_up(port):
    for _ in range(1200):
        if link_up(port):
            return
        time.sleep(0.05)
    sys.exit("the replica's link never came up")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def bench(port):
    out = subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-n", str(N),
                          "-c", "50", "-r", "100000", "-d", "100", "-q", "--csv"],
                         capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith('"SET"'):
            return float(line.split(",")[1].strip('"'))
    sys.exit(f"no SET row in redis-benchmark's output: {out}")


def main():
    tmp = tempfile.mkdtemp(prefix="sutra-repl-bench-")
    try:
        m0, m0pid = start(f"{tmp}/m0")
        m1, m1pid = start(f"{tmp}/m1")
        r1, r1pid = start(f"{tmp}/r1", ["--replicaof", f"127.0.0.1:{m1}"])
        wait_up(r1)
        load_before = os.getloadavg()

        # 1. Lag.
        m, r = Conn(m1), Conn(r1)
        lags, polls = [], 0
        for i in range(W):
            key, val = f"lag:{i}", f"v{i}"
            m.call("SET", key, val)
            t0 = time.perf_counter()
            while True:
                polls += 1
                if r.call("GET", key) is not None:
                    lags.append(time.perf_counter() - t0)
                    break
        us = [x * 1e6 for x in lags]
        get_rtt = []
        for i in range(2000):
            t = time.perf_counter()
            r.call("GET", f"lag:{i}")
            get_rtt.append((time.perf_counter() - t) * 1e6)

        # 2. Throughput and CPU per request, 0 vs 1 replica, interleaved.
        rows = {"0": [], "1": []}
        for _ in range(ROUNDS):
            for name, port, pid, rpid in (("0", m0, m0pid, None), ("1", m1, m1pid, r1pid)):
                c0, rc0 = cpu(pid), cpu(rpid) if rpid else 0.0
                rps = bench(port)
                c1, rc1 = cpu(pid), cpu(rpid) if rpid else 0.0
                if rpid:
                    # The replica has applied everything before its CPU is read.
                    mc = Conn(port)
                    mc.call("SET", "sync", "y")
                    mc.call("WAIT", 1, 0)
                    rc1 = cpu(rpid)
                rows[name].append((rps, (c1 - c0) / N * 1e6, (rc1 - rc0) / N * 1e6))
        load_after = os.getloadavg()

        print(f"load average before {load_before[0]:.2f} {load_before[1]:.2f} "
              f"{load_before[2]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f} "
              f"{load_after[2]:.2f}; {os.cpu_count()} CPUs\n")
        print(f"### Replication lag ({W} writes, one at a time)\n")
        print("| median | p90 | p99 | max | GET round trip (median) | polls per write |")
        print("|---|---|---|---|---|---|")
        print(f"| {statistics.median(us):.0f} us | {pct(us, 90):.0f} us | {pct(us, 99):.0f} us "
              f"| {max(us):.0f} us | {statistics.median(get_rtt):.0f} us | {polls / W:.2f} |\n")
        print(f"### Master SET throughput, 0 vs 1 replica ({ROUNDS} interleaved rounds of "
              f"redis-benchmark -t set -n {N} -c 50 -d 100, medians)\n")
        print("| replicas | requests/s | master CPU per request | replica CPU per request | "
              "rounds (req/s) |")
        print("|---|---|---|---|---|")
        for name in ("0", "1"):
            rs = rows[name]
            rep = f"{statistics.median(x[2] for x in rs):.2f} us" if name == "1" else "-"
            print(f"| {name} | {statistics.median(x[0] for x in rs):.0f} | "
                  f"{statistics.median(x[1] for x in rs):.2f} us | {rep} | "
                  f"{', '.join(f'{x[0]:.0f}' for x in rs)} |")
        a = statistics.median(x[0] for x in rows["1"]) / statistics.median(x[0] for x in rows["0"])
        b = statistics.median(x[1] for x in rows["1"]) / statistics.median(x[1] for x in rows["0"])
        print(f"\nWith a replica: throughput x{a:.3f}, master CPU per request x{b:.3f}.")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
