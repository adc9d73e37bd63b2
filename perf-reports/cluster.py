#!/usr/bin/env python3
"""Cluster overhead and migration rate (#16), in one run:

1. redis-benchmark against one node without cluster mode, one emulated node (the slot
   check on every command; plain redis-benchmark, as --cluster refuses one node) and three `--cluster-mode yes` nodes made by `cluster create` (--cluster),
   interleaved round by round so load from other work hits all three alike. Per row:
   requests/s and server CPU per request: utime+stime of every server process of the
   configuration (/proc/<pid>/stat) over the run, divided by the requests.
2. The migration rate under load: three nodes holding K keys of D bytes, a fourth added,
   `cluster rebalance` timed while redis-benchmark --cluster reads from the cluster.

    perf-reports/cluster.py BIN [ROUNDS] [N] [KEYS]
BIN is the sutra-cache binary (a release build). Prints a Markdown table.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
N = int(sys.argv[3]) if len(sys.argv) > 3 else 200000
KEYS = int(sys.argv[4]) if len(sys.argv) > 4 else 100000
TCK = os.sysconf("SC_CLK_TCK")
procs = []


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(mode, data=None):
    port = free_port()
    args = [BIN, "serve", "--port", str(port), "--cluster-mode", mode, "--log", "warn"]
    args += ["--storage-path", data] if data else ["--in-memory", "true"]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    for _ in range(400):
        if subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True).stdout.strip() == b"PONG":
            return port, p.pid
        time.sleep(0.05)
    sys.exit(f"server on {port} did not start")


def cpu(pids):
    t = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        t += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return t / TCK


def manager(*args):
    r = subprocess.run([BIN, "cluster", *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"cluster {args}: {r.stdout}{r.stderr}")
    return r.stdout


def bench(port, pids, cluster, test, clients, pipeline, n, data=64):
    args = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", test]
    args += ["-c", str(clients), "-P", str(pipeline), "-n", str(n), "-d", str(data)]
    args += ["-r", "100000", "--csv"]
    if cluster:
        args.insert(1, "--cluster")
    c0 = cpu(pids)
    out = subprocess.run(args, capture_output=True, text=True, timeout=600)
    c1 = cpu(pids)
    if "rror" in out.stdout + out.stderr:
        sys.exit(f"redis-benchmark reported errors: {out.stdout}{out.stderr}")
    row = [l for l in out.stdout.splitlines() if l.startswith(f'"{test.upper()}"')]
    if not row:
        sys.exit(f"no {test} result: {args} {out.stdout}{out.stderr}")
    rps = float(row[-1].split(",")[1].strip('"'))
    return rps, (c1 - c0) * 1e6 / n


def crc16(data):
    """Redis Cluster's CRC16 (XMODEM)."""
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def load_keys(ports, keys, size):
    """SETs `key:<i>` (i < keys, `size`-byte values) on the node serving its slot, pipelined."""
    import socket

    slots = subprocess.run(["redis-cli", "-p", str(ports[0]), "--json", "CLUSTER", "SLOTS"],
                           capture_output=True, text=True).stdout
    import json

    owner = {}
    for start, end, master in ((r[0], r[1], r[2]) for r in json.loads(slots)):
        for s in range(start, end + 1):
            owner[s] = master[1]
    batches = {}
    value = b"v" * size
    for i in range(keys):
        k = f"key:{i}".encode()
        cmd = b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, size, value)
        batches.setdefault(owner[crc16(k) % 16384], []).append(cmd)
    for port, cmds in batches.items():
        sock = socket.create_connection(("127.0.0.1", port))
        for j in range(0, len(cmds), 1000):
            chunk = cmds[j:j + 1000]
            sock.sendall(b"".join(chunk))
            got = b""
            while got.count(b"\r\n") < len(chunk):
                got += sock.recv(1 << 16)
            if got != b"+OK\r\n" * len(chunk):
                sys.exit(f"loading keys on {port}: {got[:200]!r}")
        sock.close()


def main():
    load0 = open("/proc/loadavg").read().split()[:3]
    plain = start("off")
    emu = start("emulated")
    three = [start("yes") for _ in range(3)]
    manager("create", *[f"127.0.0.1:{p}" for p, _ in three])
    configs = {
        "1 node, cluster off": (plain[0], [plain[1]], False),
        # redis-benchmark --cluster refuses a cluster of one node ("Invalid cluster").
        "1 node, emulated": (emu[0], [emu[1]], False),
        "3 nodes, --cluster": (three[0][0], [p for _, p in three], True),
    }
    # Warm-up: every key of the GET runs exists.
    for port, pids, cl in configs.values():
        bench(port, pids, cl, "set", 50, 16, N)
    results = {}
    for test, c, pipe in (("get", 50, 1), ("set", 50, 1), ("get", 50, 16)):
        for r in range(ROUNDS):
            for name, (port, pids, cl) in configs.items():
                rps, us = bench(port, pids, cl, test, c, pipe, N)
                results.setdefault((test, c, pipe, name), []).append((rps, us))
                print(f"{test} c{c} P{pipe} r{r} {name}: {rps:.0f} req/s {us:.2f} µs CPU/req", file=sys.stderr)
    load1 = open("/proc/loadavg").read().split()[:3]
    print(f"load before {' '.join(load0)}, after {' '.join(load1)}; {ROUNDS} rounds of {N} requests, medians\n")
    print("| test | configuration | req/s | server CPU µs/request (all nodes) | CPU vs 1 node off |")
    print("|---|---|---|---|---|")
    for test, c, pipe in (("get", 50, 1), ("set", 50, 1), ("get", 50, 16)):
        base = statistics.median(u for _, u in results[(test, c, pipe, "1 node, cluster off")])
        for name in configs:
            rows = results[(test, c, pipe, name)]
            rps = statistics.median(r for r, _ in rows)
            us = statistics.median(u for _, u in rows)
            print(f"| {test.upper()} c{c} P{pipe} | {name} | {rps:,.0f} | {us:.2f} | {us / base:.2f}× |")

    # 2. Migration rate under load.
    keys, size = KEYS, 256
    dirs = [tempfile.mkdtemp(prefix="sutra-cluster-perf") for _ in range(4)]
    four = [start("yes", d) for d in dirs[:3]]
    seed = f"127.0.0.1:{four[0][0]}"
    manager("create", *[f"127.0.0.1:{p}" for p, _ in four])
    # redis-benchmark --cluster puts each node's keys in one slot (one hash tag per node),
    # so the keys to move are written here, spread over every slot.
    load_keys([p for p, _ in four], keys, size)
    total = sum(int(subprocess.run(["redis-cli", "-p", str(p), "DBSIZE"], capture_output=True, text=True).stdout) for p, _ in four)
    new = start("yes", dirs[3])
    manager("add-node", seed, f"127.0.0.1:{new[0]}")
    load = subprocess.Popen(
        ["redis-benchmark", "--cluster", "-p", str(four[0][0]), "-t", "get", "-n", "100000000",
         "-c", "20", "-r", "100000", "-q"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    t0 = time.monotonic()
    out = manager("rebalance", seed, "--step-slots", "256")
    dt = time.monotonic() - t0
    load.kill()
    load.wait()
    m = re.search(r"moved (\d+) slots and (\d+) keys", out)
    slots, moved = int(m.group(1)), int(m.group(2))
    manager("check", seed)
    mb = moved * (size + len("key:00000")) / 1e6
    print(f"\nMigration under load (redis-benchmark --cluster GET, 20 clients, running throughout): "
          f"{total:,} keys of {size} bytes spread over every slot of 3 nodes, add-node + rebalance --step-slots 256 moved "
          f"{slots} slots and {moved:,} keys in {dt:.1f} s: {moved / dt:,.0f} keys/s, {mb / dt:.2f} MB/s "
          f"of keys and values.")


try:
    main()
finally:
    for p in procs:
        p.kill()
        p.wait()
