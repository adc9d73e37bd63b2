#!/usr/bin/env python3
"""Invalidation push latency of CLIENT TRACKING (raw sockets, no client library).

    python3 perf-reports/tracking-latency.py PORT [ROUNDS]

The server must run with a small entry cap for the eviction case (e.g. `--max-concepts 1000`).
For each case a RESP3 tracking client A reads a name and waits idle; a writer B makes the
change; the delay is from B's acknowledgement to A's push arriving (so what an L1 would serve
stale after the write returned). Cases: a SET of the key, a VREM of a tracked element, and an
eviction caused by B's writes at the cap, and an expiry reclaimed by the active-expire
tick (from the expiry time). Prints p50 / p99 / max in microseconds.
"""
import socket
import sys
import time


def enc(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def n(self, k):
        while len(self.buf) < k:
            self.buf += self.s.recv(65536)
        data, self.buf = self.buf[:k], self.buf[k:]
        return data

    def value(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"$", b"="):
            n = int(rest)
            return None if n < 0 else self.n(n + 2)[:-2]
        if kind in (b"*", b">", b"~"):
            n = int(rest)
            return [self.value() for _ in range(max(n, 0))]
        if kind == b"_":
            return None
        if kind == b"%":
            return [self.value() for _ in range(2 * int(rest))]
        return line

    def call(self, *args):
        self.s.sendall(enc(*args))
        return self.value()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main():
    port = int(sys.argv[1])
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    a, b = Conn(port), Conn(port)
    a.call("HELLO", "3")
    b.call("HELLO", "3")
    b.call("FLUSHALL")
    assert a.call("CLIENT", "TRACKING", "ON") == b"+OK"
    cases = {"set": [], "vrem": [], "evict": [], "expire": []}
    for i in range(rounds):
        a.call("GET", "k")
        b.call("SET", "k", i)
        t0 = time.perf_counter()
        push = a.value()
        cases["set"].append(time.perf_counter() - t0)
        assert push[0] == b"invalidate" and push[1] == [b"k"], push
    b.call("VADD", "s", "VALUES", 2, 1, 0, "seed")
    for i in range(rounds):
        b.call("VADD", "s", "VALUES", 2, 1, 0, "e")
        a.call("VGETF32", "s", "e")
        b.call("VREM", "s", "e")
        t0 = time.perf_counter()
        push = a.value()
        cases["vrem"].append(time.perf_counter() - t0)
        assert push[1] == [b"s\x00e"], push
    # Expiry: nobody reads the key again; the active-expire tick reclaims it. The delay is
    # from the expiry time (measured after SET's acknowledgement, so an upper bound of the
    # truth by at most one round trip) to the push.
    for i in range(min(rounds, 100)):
        b.call("SET", "ttl", i, "PX", 20)
        t_exp = time.perf_counter() + 0.020
        a.call("GET", "ttl")
        push = a.value()
        cases["expire"].append(max(0.0, time.perf_counter() - t_exp))
        assert push[1] == [b"ttl"], push
    # Eviction: fill to the cap, A reads every key (LRU order = fill order), then each of B's
    # writes evicts the least recently used key, which A tracks.
    b.call("FLUSHALL")
    got = a.value()
    assert got == [b"invalidate", None], got
    cap = int(b.call("CONFIG", "GET", "max-concepts")[1])
    assert cap > 0, "start the server with --max-concepts N"
    for j in range(cap):
        b.call("SET", "fill%d" % j, 1)
    for j in range(cap):
        a.call("GET", "fill%d" % j)
    for i in range(min(rounds, cap)):
        b.call("SET", "new%d" % i, 1)
        t0 = time.perf_counter()
        push = a.value()
        cases["evict"].append(time.perf_counter() - t0)
        assert push[1] == [b"fill%d" % i], push
    for name, xs in cases.items():
        if xs:
            us = [x * 1e6 for x in xs]
            print(
                f"{name:5} n={len(us):5}  p50={pct(us, 0.5):8.1f} us  p99={pct(us, 0.99):8.1f} us  "
                f"max={max(us):8.1f} us"
            )


if __name__ == "__main__":
    main()
