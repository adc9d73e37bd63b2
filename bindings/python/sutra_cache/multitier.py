"""The seed's two-tier cache: an in-process L1 in front of a sutra-cache shard (L2), kept
coherent by the server's client-side caching (CLIENT TRACKING).

The L1 is an LRU dict of `l1_max_size` entries keyed by (set key, element name); each entry
expires with the entry's TTL (`expires_at`). A background thread holds a dedicated RESP3
connection with `CLIENT TRACKING ON BCAST PREFIX <namespace>`: an invalidation
`key\\0element` drops that entry, `key` drops the whole model set, a null invalidation (FLUSH*)
or a lost connection flushes the whole L1 (then it reconnects). While that connection is
down nothing new enters the L1, so a value read from L2 can be served from L1 only while
every change to it would reach this process. A value read from L2 is not kept in L1 when an
invalidation of that entry arrived while the read was in flight (the classic client-side
caching race). Against a server without CLIENT TRACKING (or with `tracking=False`) the L1
behaves as the seed's: entries leave it by LRU or TTL only.

On a cluster (`startup_nodes`) there is one such connection per master node (each node
reports the writes it serves), found with CLUSTER SLOTS and looked up again every second: a
master that appears gets its connection (the L1 is emptied and bypassed until it is up), one
that leaves loses it. The L1 is used only while every one of them is up; one going down
empties it, as the single connection's loss does.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Mapping, Optional, Set, Tuple, Union

import redis

from .client import (Removed, Similar, SutraCacheClient, _pairs, compute_through_async,
                     compute_through_sync, single_flight_async,
                     single_flight_sync)
from . import entry
from .entry import Embedding, decode_embedding, element_name
from .parts import part_of

logger = logging.getLogger("sutra_cache.multitier")

L1Key = Tuple[bytes, bytes]
Node = Tuple[str, int]
TRACKING_CLIENT_NAME = "sutra-cache-l1-tracking"  # CLIENT LIST shows the tracking connection
TOPOLOGY_REFRESH_SECONDS = 1.0  # how often a cluster's masters are looked up again


class _L1:
    """LRU of (set key, element) -> (value, expires_at or None, cached_at), thread-safe."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.lock = threading.Lock()
        self.entries: "OrderedDict[L1Key, tuple]" = OrderedDict()
        self.reading: Dict[L1Key, int] = {}
        self.stale: set = set()
        # None: no coherence (nothing may enter); an int: the tracking connection's epoch;
        # -1: no tracking at all (TTL-only, the seed's behaviour).
        self.epoch: Optional[int] = None
        self.invalidations = 0
        self.flushes = 0
        # Entries a prefetch put in and no lookup has used yet; lookups that used one.
        self.prefetched: "OrderedDict[L1Key, None]" = OrderedDict()
        # Unused prefetched entries the L1 holds at most (the oldest goes first past it).
        self.prefetch_cap = max(1, max_size // 10)
        self.prefetch_hits = 0

    def lookup(self, k: L1Key, now: float) -> Optional[tuple]:
        with self.lock:
            e = self.entries.get(k)
            if e is None:
                return None
            if e[1] is not None and now >= e[1]:
                del self.entries[k]
                self.prefetched.pop(k, None)
                return None
            self.entries.move_to_end(k)
            if k in self.prefetched:
                self.prefetched.pop(k, None)
                self.prefetch_hits += 1
            return e

    def has(self, k: L1Key) -> bool:
        with self.lock:
            return k in self.entries

    def begin(self, k: L1Key) -> Optional[int]:
        with self.lock:
            self.reading[k] = self.reading.get(k, 0) + 1
            return self.epoch

    def end(self, k: L1Key, token: Optional[int], value: Any = None,
            expires_at: Optional[float] = None, cached_at: float = 0.0,
            cold: bool = False) -> bool:
        """Ends a read (or write) begun with `begin`; a `value` enters the L1, in the same
        critical section, only if no invalidation of `k` (or flush) came in between. `cold`
        (a prefetch): not over an entry already there, and unused prefetched entries hold at
        most `prefetch_cap` (a tenth of the L1): past it the oldest of them leaves."""
        with self.lock:
            ok = token is not None and token == self.epoch and k not in self.stale
            n = self.reading[k] - 1
            if n:
                self.reading[k] = n
            else:
                del self.reading[k]
                self.stale.discard(k)
            if ok and value is not None:
                if not cold:
                    self._put_locked(k, value, expires_at, cached_at)
                elif k not in self.entries:
                    self._put_locked(k, value, expires_at, cached_at)
                    self.prefetched[k] = None
                    while len(self.prefetched) > self.prefetch_cap:
                        self.entries.pop(self.prefetched.popitem(last=False)[0], None)
                else:
                    return False
            return ok

    def put(self, k: L1Key, value: Any, expires_at: Optional[float], cached_at: float) -> None:
        with self.lock:
            self._put_locked(k, value, expires_at, cached_at)

    def _put_locked(self, k: L1Key, value: Any, expires_at: Optional[float],
                    cached_at: float) -> None:
        if k in self.entries:
            self.entries.move_to_end(k)
        elif len(self.entries) >= self.max_size:
            self.prefetched.pop(self.entries.popitem(last=False)[0], None)
        self.entries[k] = (value, expires_at, cached_at)

    def drop(self, k: L1Key) -> None:
        with self.lock:
            self.invalidations += 1
            self.entries.pop(k, None)
            self.prefetched.pop(k, None)
            if k in self.reading:
                self.stale.add(k)

    def drop_set(self, key: bytes) -> None:
        with self.lock:
            self.invalidations += 1
            for k in [k for k in self.entries if k[0] == key]:
                del self.entries[k]
                self.prefetched.pop(k, None)
            self.stale.update(k for k in self.reading if k[0] == key)

    def flush(self, epoch: Any = "keep") -> None:
        with self.lock:
            self.flushes += 1
            self.entries.clear()
            self.prefetched.clear()
            self.stale.update(self.reading)
            if epoch != "keep":
                self.epoch = epoch

    def __len__(self) -> int:
        return len(self.entries)


class _Tracker(threading.Thread):
    """The tracking connection: RESP3, CLIENT TRACKING ON BCAST PREFIX <namespace>."""

    def __init__(self, l1: _L1, connect: Callable[[], redis.Connection], prefix: bytes,
                 ping_interval: float = 5.0, group: Optional["_Coherence"] = None) -> None:
        super().__init__(name="sutra-cache-l1-tracking", daemon=True)
        self.l1 = l1
        # The connections the L1's coherence needs (this one alone without a group).
        self.group = group if group is not None else _Coherence(l1, [self])
        self.connect = connect
        self.prefix = prefix
        self.ping_interval = ping_interval
        self.stopping = threading.Event()
        self.connected = threading.Event()
        self.supported: Optional[bool] = None
        self.messages = 0
        self.reconnects = 0
        self.last_error: Optional[str] = None

    def _on_invalidate(self, response: list) -> None:
        self.messages += 1
        names = response[1] if len(response) > 1 else None
        if names is None:
            self.l1.flush()
            return
        for name in names:
            if isinstance(name, str):
                name = name.encode("utf-8", errors="surrogateescape")
            key, sep, element = name.partition(b"\x00")
            if sep:
                self.l1.drop((key, element))
            else:
                self.l1.drop_set(key)

    def run(self) -> None:
        backoff = 0.05
        while not self.stopping.is_set():
            conn = None
            try:
                conn = self.connect()
                conn.connect()
                conn._parser.set_invalidation_push_handler(self._on_invalidate)
                args = ["CLIENT", "TRACKING", "ON", "BCAST"]
                if self.prefix:
                    args += ["PREFIX", self.prefix]
                conn.send_command(*args)
                reply = conn.read_response()
                if isinstance(reply, redis.exceptions.ResponseError):
                    raise reply
                self.supported = True
                self.connected.set()
                self.group.up(self)  # changes while disconnected were not seen: L1 emptied
                backoff = 0.05
                self._serve(conn)
            except redis.exceptions.ResponseError as e:
                # The server has no CLIENT TRACKING: the L1 works as the seed's (TTL only).
                self.supported = False
                self.last_error = str(e)
                logger.warning("sutra-cache: the shard refused CLIENT TRACKING (%s); the L1 is "
                               "not invalidated by other processes, entries leave it by LRU or "
                               "TTL only", e)
                self.connected.set()
                self.group.unsupported(self)
                return
            except Exception as e:  # connection lost or refused: flush, retry
                self.last_error = str(e)
                self.group.down(self)
                if self.connected.is_set():
                    logger.warning("sutra-cache: L1 tracking connection lost (%s); L1 flushed, "
                                   "reconnecting", e)
                self.connected.clear()
                self.reconnects += 1
                self.stopping.wait(backoff)
                backoff = min(2.0, backoff * 2)
            finally:
                if conn is not None:
                    try:
                        conn.disconnect()
                    except Exception:
                        pass
        self.group.down(self)

    def _serve(self, conn: redis.Connection) -> None:
        idle_since = time.monotonic()
        ping_sent: Optional[float] = None
        while not self.stopping.is_set():
            if conn.can_read(timeout=0.2):
                reply = conn.read_response(push_request=True)
                idle_since = time.monotonic()
                if reply in (b"PONG", "PONG"):
                    ping_sent = None
                continue
            now = time.monotonic()
            if ping_sent is not None and now - ping_sent > self.ping_interval:
                raise redis.exceptions.ConnectionError(
                    f"no PONG within {self.ping_interval} s on the tracking connection")
            if ping_sent is None and now - idle_since > self.ping_interval:
                conn.send_command("PING")
                ping_sent = now

    def stop(self) -> None:
        self.stopping.set()


class _Coherence:
    """The L1's coherence over one tracking connection per node: one for a shard, one per
    master of a cluster (`discover` lists them; looked up again every
    TOPOLOGY_REFRESH_SECONDS). The L1 takes entries (its epoch is an int) only while every
    connection is up; each (re)connection empties it under a new epoch, each loss empties it
    and bypasses it. A node that refuses CLIENT TRACKING makes the L1 TTL-only (epoch -1)."""

    def __init__(self, l1: _L1, trackers: Optional[List[_Tracker]] = None,
                 connect_to: Optional[Callable[[Node], redis.Connection]] = None,
                 prefix: bytes = b"", ping_interval: float = 5.0,
                 discover: Optional[Callable[[], Set[Node]]] = None) -> None:
        self.l1 = l1
        self.lock = threading.Lock()
        self.trackers: Dict[Any, _Tracker] = {None: t for t in trackers or []}
        self.up_now: set = set()
        self.epoch = 0
        self.connected = threading.Event()
        self.supported: Optional[bool] = None
        self.stopping = threading.Event()
        self.connect_to = connect_to
        self.prefix = prefix
        self.ping_interval = ping_interval
        self.discover = discover
        self.refresher: Optional[threading.Thread] = None
        self.last_error: Optional[str] = None
        self.topology_changes = 0

    # ---- the trackers' reports ----

    def up(self, t: _Tracker) -> None:
        with self.lock:
            if t in self.trackers.values():
                self.up_now.add(t)
            self._settle()

    def down(self, t: _Tracker) -> None:
        with self.lock:
            if t not in self.trackers.values():
                return  # a tracker of a node that left: its loss changes nothing
            self.up_now.discard(t)
            self._settle()

    def unsupported(self, t: _Tracker) -> None:
        with self.lock:
            self.supported = False
            self.l1.flush(-1)
            self.connected.set()

    def _settle(self) -> None:
        """Under the lock: a new epoch (the L1 emptied) when every connection is up, else the
        L1 emptied and bypassed."""
        if self.supported is False:
            return
        if self.trackers and all(t in self.up_now for t in self.trackers.values()):
            self.epoch += 1
            self.supported = True
            self.l1.flush(self.epoch)
            self.connected.set()
        else:
            self.connected.clear()
            self.l1.flush(None)

    # ---- a cluster's nodes ----

    def _change(self, added: Set[Node], removed: Set[Node]) -> None:
        """Registers the trackers of the `added` nodes and drops those of the `removed` ones
        at once (the L1 is coherent again only once all of them are up), then starts and
        stops them."""
        assert self.connect_to is not None
        connect_to = self.connect_to
        new = {n: _Tracker(self.l1, (lambda n=n: connect_to(n)), self.prefix,
                           self.ping_interval, group=self) for n in sorted(added)}
        with self.lock:
            if self.stopping.is_set():
                return
            gone = [self.trackers.pop(n) for n in removed]
            for t in gone:
                self.up_now.discard(t)
            self.trackers.update(new)
            self._settle()
        for t in gone:
            t.stop()
        for t in new.values():
            t.start()

    def _refresh(self) -> None:
        assert self.discover is not None
        while not self.stopping.is_set():
            try:
                nodes = self.discover()
            except Exception as e:  # the cluster unreachable now: keep the connections
                self.last_error = str(e)
                nodes = set()
            if nodes and self.supported is not False and not self.stopping.is_set():
                known = set(self.trackers)
                if nodes != known:
                    self.topology_changes += 1
                    self._change(nodes - known, known - nodes)
            self.stopping.wait(TOPOLOGY_REFRESH_SECONDS)

    # ---- what MultiTierSutraCache uses ----

    @property
    def messages(self) -> int:
        return sum(t.messages for t in list(self.trackers.values()))

    @property
    def reconnects(self) -> int:
        return sum(t.reconnects for t in list(self.trackers.values()))

    def nodes(self) -> List[Any]:
        return list(self.trackers)

    def start(self) -> None:
        if self.discover is None:
            for t in list(self.trackers.values()):
                t.start()
            return
        self.refresher = threading.Thread(target=self._refresh, daemon=True,
                                          name="sutra-cache-l1-topology")
        self.refresher.start()

    def stop(self) -> None:
        with self.lock:
            self.stopping.set()
            trackers = list(self.trackers.values())
        for t in trackers:
            t.stop()

    def join(self, timeout: Optional[float] = None) -> None:
        if self.refresher is not None:
            self.refresher.join(timeout)
        for t in list(self.trackers.values()):
            if t.is_alive():
                t.join(timeout)


def _cluster_masters(client: Any) -> Set[Node]:
    """The master nodes of a cluster (host, port), from CLUSTER SLOTS (redis-py's parsed
    form: {(start, end): {"primary": (host, port), ...}} or the raw list)."""
    slots = client.cluster_slots()
    out: Set[Node] = set()
    if isinstance(slots, dict):
        primaries = [v["primary"] for v in slots.values()]
    else:
        primaries = [r[2] for r in slots]
    for p in primaries:
        host = p[0].decode() if isinstance(p[0], bytes) else str(p[0])
        out.add((host, int(p[1])))
    return out


class _Prefetcher(threading.Thread):
    """Semantic prefetch (issue #15 point 6): after an L2 hit, asks the shard what to bring
    in next (`ANALYTICS NEXT`: the entries looked up right after this one most often, then its
    nearest) and puts those not in the L1 into it, where unused prefetched entries hold at
    most a tenth of its capacity (the oldest unused leaves first). Runs on its own thread from
    a bounded queue: a full queue drops the offer, so a lookup never waits for it."""

    def __init__(self, cache: "MultiTierSutraCache", neighbours: int, size: int) -> None:
        super().__init__(name="sutra-cache-l1-prefetch", daemon=True)
        self.cache = cache
        self.neighbours = neighbours
        self.q: "queue.Queue[Optional[tuple]]" = queue.Queue(maxsize=size)
        self.offered = 0
        self.dropped = 0
        self.entries = 0
        self.round_trips = 0
        self.errors = 0
        self.last_error: Optional[str] = None
        self.unsupported = False

    def offer(self, item: tuple) -> None:
        if self.unsupported:
            return
        try:
            self.q.put_nowait(item)
            self.offered += 1
        except queue.Full:
            self.dropped += 1

    def run(self) -> None:
        while True:
            item = self.q.get()
            try:
                if item is None:
                    return
                self.entries += self.cache._prefetch_now(*item)
            except redis.exceptions.ResponseError as e:
                self.errors += 1
                self.last_error = str(e)
                if "unknown" in str(e).lower():
                    self.unsupported = True
                    logger.warning("sutra-cache: the shard has no ANALYTICS NEXT (%s); "
                                   "prefetch is off", e)
            except Exception as e:  # a lost connection: the next offer retries
                self.errors += 1
                self.last_error = str(e)
            finally:
                self.q.task_done()

    def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.q.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.0005)
        return True

    def stop(self) -> None:
        try:
            self.q.put(None, timeout=1)
        except queue.Full:
            pass


def _as_map(reply: Any) -> Dict[bytes, Any]:
    """A RESP map as redis-py returns it (a dict under RESP3, a flat list under RESP2)."""
    if isinstance(reply, dict):
        return {(k.encode() if isinstance(k, str) else k): v for k, v in reply.items()}
    if isinstance(reply, list):
        return {(reply[i].encode() if isinstance(reply[i], str) else reply[i]): reply[i + 1]
                for i in range(0, len(reply) - 1, 2)}
    raise redis.exceptions.ResponseError(f"unexpected reply to ANALYTICS HOT: {reply!r}")


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"environment variable {name} must be an integer; got {raw!r}") from None


class MultiTierSutraCache:
    """The seed's `MultiTierSutraCache(l1_max_size=10000, cache_shard_host=...,
    cache_shard_port=...)`: L1 (in process) then L2 (the shard), writes through to both.

    Keyword options: `default_ttl_seconds` (86400), `tracking` (True: keep the L1 coherent
    with CLIENT TRACKING), `prefetch` (0: off; k: after an L2 hit, bring the k entries the
    shard offers with ANALYTICS NEXT into the L1, in the background; unused prefetched entries
    hold at most a tenth of the L1),
    `prefetch_queue` (64), and every keyword option of `SutraCacheClient` (password, url,
    redis_client, namespace, embedder, strict, numpy, socket_timeout, source). `l2_cache` is
    the `SutraCacheClient`.
    """

    def __init__(self, l1_max_size: int = 10000, cache_shard_host: str = "storage-cache-shard",
                 cache_shard_port: int = 50051, *, default_ttl_seconds: Optional[int] = 86400,
                 tracking: bool = True, ping_interval: float = 5.0, prefetch: int = 0,
                 prefetch_queue: int = 64, **client_options: Any) -> None:
        if isinstance(l1_max_size, bool) or not isinstance(l1_max_size, int) or l1_max_size <= 0:
            raise ValueError(f"l1_max_size must be a positive int; got {l1_max_size!r}")
        for name, v, least in (("prefetch", prefetch, 0), ("prefetch_queue", prefetch_queue, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or not least <= v <= 1000:
                raise ValueError(f"{name} must be an int from {least} to 1000; got {v!r}")
        self.l1_max_size = l1_max_size
        self.l2_cache = SutraCacheClient(cache_shard_host, cache_shard_port, default_ttl_seconds,
                                         **client_options)
        self._l1 = _L1(l1_max_size)
        self.numpy = self.l2_cache.numpy
        self.l1_hits = 0
        self.l2_hits = 0
        self.misses = 0
        self.warmed = 0
        self._tracker: Optional[_Coherence] = None
        self._prefetcher: Optional[_Prefetcher] = None
        if prefetch and (self.l2_cache._redis is not None or self.l2_cache.cluster):
            self._prefetcher = _Prefetcher(self, prefetch, prefetch_queue)
            self._prefetcher.start()
        if tracking:
            prefix = self.l2_cache.namespace.encode("utf-8")
            if self.l2_cache.cluster:
                # One tracking connection per master: each reports the writes it serves.
                self._tracker = _Coherence(
                    self._l1, connect_to=self._tracking_connection, prefix=prefix,
                    ping_interval=ping_interval,
                    discover=lambda: _cluster_masters(self.l2_cache._sync_client()))
            else:
                self._tracker = _Tracker(self._l1, self._tracking_connection, prefix,
                                         ping_interval).group
            self._tracker.start()
        else:
            self._l1.epoch = -1
        logger.info("multi-tier sutra cache (L1: %d, L2: %s:%s, tracking: %s)", l1_max_size,
                    self.l2_cache.cache_host, self.l2_cache.cache_port, tracking)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None,
                 **options: Any) -> "MultiTierSutraCache":
        """The seed's integration step: `L1_CACHE_SIZE` (10000), `CACHE_SHARD_HOST`
        ("storage-cache-shard"), `CACHE_SHARD_PORT` (50051), `CACHE_SHARD_PASSWORD` (or
        `SUTRA_PASSWORD`), `CACHE_SHARD_URL` (overrides host and port)."""
        env = os.environ if environ is None else environ
        password = env.get("CACHE_SHARD_PASSWORD") or env.get("SUTRA_PASSWORD") or None
        if password is not None:
            options.setdefault("password", password)
        if env.get("CACHE_SHARD_URL"):
            options.setdefault("url", env["CACHE_SHARD_URL"])
        return cls(l1_max_size=_env_int(env, "L1_CACHE_SIZE", 10000),
                   cache_shard_host=env.get("CACHE_SHARD_HOST") or "storage-cache-shard",
                   cache_shard_port=_env_int(env, "CACHE_SHARD_PORT", 50051), **options)

    def _tracking_connection(self, node: Optional[Node] = None) -> redis.Connection:
        """A tracking connection to the shard, or to `node` of a cluster."""
        l2 = self.l2_cache
        kw = dict(l2._connect_kwargs)
        cls = redis.Connection
        if node is not None:
            kw.update(host=node[0], port=node[1])
        elif l2._redis is not None:
            pool = l2._redis.connection_pool
            cls = pool.connection_class
        kw.update(protocol=3, socket_timeout=max(5.0, float(kw.get("socket_timeout") or 0)),
                  socket_keepalive=True, client_name=TRACKING_CLIENT_NAME)
        for k in ("retry", "retry_on_timeout", "retry_on_error", "health_check_interval"):
            kw.pop(k, None)
        return cls(**kw)

    def wait_coherent(self, timeout: float = 10.0) -> bool:
        """Blocks until the tracking connection is up (or found unsupported); whether it is."""
        if self._tracker is None:
            return False
        self._tracker.connected.wait(timeout)
        return bool(self._tracker.connected.is_set() and self._tracker.supported)

    # ---- get ----

    def _l1_hit(self, k: tuple, max_age_seconds: Optional[float]) -> Any:
        now = time.time()
        e = self._l1.lookup(k, now)
        if e is None or (max_age_seconds is not None and now - e[2] > max_age_seconds):
            return None
        self.l1_hits += 1
        v = e[0]
        return v if self.numpy else list(v)

    def _promote(self, k: tuple, token: Optional[int], got: Optional[tuple]) -> Any:
        value = self.l2_cache._count(got)
        if value is None:
            self._l1.end(k, token)
            self.misses += 1
            return None
        self.l2_hits += 1
        if self._prefetcher is not None:
            self._prefetcher.offer((*k, value))
        attrs = got[1] or {}
        exp = attrs.get("expires_at")
        cached = attrs.get("cached_at")
        if self._l1.end(k, token, value, float(exp) if isinstance(exp, (int, float)) else None,
                        float(cached) if isinstance(cached, (int, float)) else time.time()):
            return value if self.numpy else list(value)
        return value

    async def get(self, text: str, model: str = "default", *,
                  max_age_seconds: Optional[float] = None) -> Any:
        """L1, then L2 (promoted into L1), else None. `max_age_seconds`: an entry cached
        longer ago than that is a miss in both tiers."""
        _, kb, elem, _ = self.l2_cache._locate(text, model)
        k = (kb, elem)
        hit = self._l1_hit(k, max_age_seconds)
        if hit is not None:
            return hit
        token = self._l1.begin(k)
        try:
            got = await self.l2_cache._fetch(text, model, max_age_seconds, with_attrs=True)
        except BaseException:
            self._l1.end(k, token)
            raise
        return self._promote(k, token, got)

    def get_sync(self, text: str, model: str = "default", *,
                 max_age_seconds: Optional[float] = None) -> Any:
        _, kb, elem, _ = self.l2_cache._locate(text, model)
        k = (kb, elem)
        hit = self._l1_hit(k, max_age_seconds)
        if hit is not None:
            return hit
        token = self._l1.begin(k)
        try:
            got = self.l2_cache._fetch_sync(text, model, max_age_seconds, with_attrs=True)
        except BaseException:
            self._l1.end(k, token)
            raise
        return self._promote(k, token, got)

    # ---- set ----

    def _after_set(self, k: tuple, token: Optional[int], stored: bool, blob: bytes,
                   args: tuple) -> bool:
        if not stored:
            self._l1.end(k, token)
            return False
        now = time.time()
        ttl = next((int(args[i + 1]) for i in range(len(args) - 1) if args[i] == "EX"), None)
        self._l1.end(k, token, decode_embedding(blob, self.numpy), now + ttl if ttl else None, now)
        return True

    async def set(self, text: str, embedding: Embedding, model: str = "default",
                  ttl: Optional[int] = 86400, *, tags: Optional[Mapping[str, Any]] = None) -> bool:
        """Writes through to L2 and L1 (`ttl` seconds; None or 0: the default TTL). The L1
        keeps the value only when L2 stored it and no invalidation of the entry arrived
        meanwhile (with tracking, the write's own invalidation may drop it; the next get
        then promotes it from L2)."""
        l2 = self.l2_cache
        args, blob = l2._set_args(text, embedding, model, ttl, tags)
        _, kb, elem, _ = l2._locate(text, model)
        k = (kb, elem)
        token = self._l1.begin(k)
        try:
            stored = l2._set_done(f"set of {text[:60]!r} in {args[1]!r}",
                                  await l2._raw_async(args))
        except BaseException:
            self._l1.end(k, token)
            raise
        return self._after_set(k, token, stored, blob, args)

    def set_sync(self, text: str, embedding: Embedding, model: str = "default",
                 ttl: Optional[int] = 86400, *, tags: Optional[Mapping[str, Any]] = None) -> bool:
        l2 = self.l2_cache
        args, blob = l2._set_args(text, embedding, model, ttl, tags)
        _, kb, elem, _ = l2._locate(text, model)
        k = (kb, elem)
        token = self._l1.begin(k)
        try:
            stored = l2._set_done(f"set of {text[:60]!r} in {args[1]!r}", l2._raw_sync(args))
        except BaseException:
            self._l1.end(k, token)
            raise
        return self._after_set(k, token, stored, blob, args)

    # ---- get_or_compute ----

    async def get_or_compute(self, text: str, model: str, compute: Callable[[str], Any], *,
                             ttl: Optional[int] = None,
                             max_age_seconds: Optional[float] = None) -> Any:
        """As `SutraCacheClient.get_or_compute`, through both tiers (single flight per key)."""
        async def run() -> Any:
            return await compute_through_async(
                lambda: self.get(text, model, max_age_seconds=max_age_seconds),
                lambda value: self.set(text, value, model, ttl),
                compute, text, self.numpy)
        return await single_flight_async(self.l2_cache._flights,
                                         self.l2_cache._flight_key(text, model), run)

    def get_or_compute_sync(self, text: str, model: str, compute: Callable[[str], Any], *,
                            ttl: Optional[int] = None,
                            max_age_seconds: Optional[float] = None) -> Any:
        def run() -> Any:
            return compute_through_sync(
                lambda: self.get_sync(text, model, max_age_seconds=max_age_seconds),
                lambda value: self.set_sync(text, value, model, ttl),
                compute, text, self.numpy)
        return single_flight_sync(self.l2_cache._flights, self.l2_cache._flight_key(text, model), run)

    # ---- prefetch ----

    def _prefetch_now(self, kb: bytes, elem: bytes, value: Any = None) -> int:
        """One prefetch after an L2 hit of (kb, elem) whose vector is `value`: the prefetcher
        thread's work."""
        return self.l2_cache._drive_sync(self._prefetch_op(kb, elem, value))

    def _parts_holding(self, kb: bytes) -> List[Tuple[str, bytes]]:
        """The (key, key bytes) of every part of the model whose set (or part) is kb."""
        for parts in list(self.l2_cache._keys.values()):
            if any(b == kb for _, b in parts):
                return parts
        return [(kb.decode("utf-8"), kb)]

    def _prefetch_op(self, kb: bytes, elem: bytes, value: Any) -> Any:
        """The round trips of a prefetch (an Op). `ANALYTICS NEXT` on the node of the entry's
        set (part) offers the entries looked up right after it most often, then its nearest.
        For a model split over parts the co-accessed ones come from the entry's part (the
        shard pairs lookups of one set), and its nearest from every part at once (`VSIM ...
        FP32` of its vector, the scores merged as find_similar merges them). Then one pipeline
        brings the chosen entries not in the L1 (a `VMGETF32` per part, their attributes)."""
        p = self._prefetcher
        assert p is not None
        key = kb.decode("utf-8")
        parts = self._parts_holding(kb)
        want = p.neighbours
        reply = (yield ("keyed", [(key, ("ANALYTICS", "NEXT", key, elem, "COUNT", want))]))[0]
        p.round_trips += 1
        offered = [(bytes(x[0]), int(x[1]) if len(x) > 1 else 0)
                   for x in self.l2_cache._value(reply) or [] if isinstance(x, list) and x]
        chosen: List[Tuple[str, bytes]] = []
        if len(parts) == 1:
            chosen = [(key, n) for n, _ in offered]
        else:
            chosen = [(key, n) for n, count in offered if count > 0]
            if len(chosen) < want:
                blob = None
                if value is not None:
                    try:
                        blob = entry.encode_embedding(value, "the entry's vector")
                    except ValueError:
                        blob = None
                if blob is None:
                    blob = yield ("cmd", ("VGETF32", key, elem))
                if isinstance(blob, bytes):
                    replies = yield ("par", [("VSIM", k, "FP32", blob, "COUNT", want + 1,
                                              "WITHSCORES") for k, _ in parts])
                    p.round_trips += 1
                    near = []
                    for (k, _), r in zip(parts, replies):
                        if isinstance(r, BaseException):
                            continue  # a part without entries yet
                        for row in _pairs(r, 2):
                            if len(row) == 2 and bytes(row[0]) != elem:
                                near.append((-float(row[1]), bytes(row[0]), k))
                    near.sort()
                    taken = {n for _, n in chosen}
                    for _, n, k in near:
                        if len(chosen) >= want:
                            break
                        if n not in taken:
                            taken.add(n)
                            chosen.append((k, n))
        key_bytes = dict(parts)
        chosen = [(k, n) for k, n in chosen[:want] if not self._l1.has((key_bytes[k], n))]
        if not chosen:
            return 0
        by_key: Dict[str, List[bytes]] = {}
        for k, n in chosen:
            by_key.setdefault(k, []).append(n)
        tokens = [(lk, self._l1.begin(lk)) for lk in ((key_bytes[k], n) for k, n in chosen)]
        try:
            replies = yield ("pipe", [("VMGETF32", k, *names) for k, names in by_key.items()]
                             + [("VGETATTR", k, n) for k, n in chosen])
            p.round_trips += 1
        except BaseException:
            for lk, t in tokens:
                self._l1.end(lk, t)
            raise
        vectors: Dict[Tuple[str, bytes], Any] = {}
        for (k, names), r in zip(by_key.items(), replies):
            got = r if isinstance(r, list) else [None] * len(names)
            vectors.update(((k, n), v) for n, v in zip(names, got))
        raws = [vectors.get((k, n)) for k, n in chosen]
        return self._fill(tokens, raws, replies[len(by_key):], cold=True)

    def _fill(self, tokens, raws, attr_replies, cold: bool = False) -> int:
        """Ends the L1 fills `tokens` opened with the vectors `raws` (VMGETF32) and their
        attributes (VGETATTR replies): an entry missing or past its `expires_at` is dropped;
        returns how many entered the L1."""
        now = time.time()
        put = 0
        for (k, t), raw, attr in zip(tokens, raws, attr_replies):
            attrs = entry.parse_attributes(attr if isinstance(attr, bytes) else None) or {}
            exp = attrs.get("expires_at")
            exp = float(exp) if isinstance(exp, (int, float)) else None
            if raw is None or (exp is not None and now >= exp):
                self._l1.end(k, t)
                continue
            cached = attrs.get("cached_at")
            cached = float(cached) if isinstance(cached, (int, float)) else now
            if self._l1.end(k, t, decode_embedding(raw, self.numpy), exp, cached, cold=cold):
                put += 1
        return put

    def wait_prefetched(self, timeout: float = 10.0) -> bool:
        """Blocks until every prefetch offered so far is done (tests, benchmarks); whether
        they all are. True at once with prefetch off."""
        return self._prefetcher is None or self._prefetcher.idle(timeout)

    # ---- warm-up ----

    def _warmup_op(self, concept: Any, model: str, count: Optional[int], topic: Optional[str],
                   window_seconds: int, batch_size: int, neighbours: int) -> Any:
        """The round trips of `warmup` (an Op: yields commands, the driver answers)."""
        l2 = self.l2_cache
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 0:
            raise ValueError(f"neighbours must be an int >= 0; got {neighbours!r}")
        if isinstance(window_seconds, bool) or not isinstance(window_seconds, int) \
                or window_seconds <= 0:
            raise ValueError(f"window_seconds must be a positive int; got {window_seconds!r}")
        keys = l2._parts_of(model)  # one set, or one per part of a split model
        key_bytes = dict(keys)
        items: List[Tuple[str, bytes]] = []  # (set key, element name), hottest first
        if concept is None:
            if count is None:
                count = min(self.l1_max_size, 10_000)
            if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 10_000:
                raise ValueError(f"count must be an int from 1 to 10000; got {count!r}")
            if topic is not None and not isinstance(topic, str):
                raise ValueError(f"topic must be a FILTER expression (str); got {topic!r}")
            tail: list = ["COUNT", min(count, self.l1_max_size), "WINDOW", window_seconds]
            if topic is not None:
                tail += ["FILTER", topic]
            # Every part's hot concepts at once (one part: one command), each on the node of
            # its part; merged by count (each part counts the lookups of its own entries, so
            # the counts compare).
            replies = yield ("keyed", [(k, ("ANALYTICS", "HOT", k, *tail)) for k, _ in keys])
            hot = []
            for (k, _), reply in zip(keys, replies):
                if isinstance(reply, BaseException):
                    if isinstance(reply, redis.exceptions.ResponseError) \
                            and "existing vector set" in str(reply):
                        continue  # this part has no entries yet
                    raise reply
                for c in _as_map(reply).get(b"concepts", []):
                    hot.append((-int(c[1]) if len(c) > 1 else 0, bytes(c[0]), k))
            if len(keys) > 1:
                hot.sort()
            items = [(k, name) for _, name, k in hot[:count]]
        else:
            given, elem = self._concept(concept)
            key = given if given is not None else keys[part_of(elem, len(keys))][0]
            items = [(key, elem)]
            if neighbours and len(keys) == 1:
                reply = yield ("cmd", ("VSIM", key, "ELE", elem, "COUNT", neighbours + 1))
                if isinstance(reply, list):
                    items += [(key, bytes(n)) for n in reply if n != elem][:neighbours]
            elif neighbours:
                # A split model: the entry's vector, then its nearest in every part at once.
                raw = yield ("cmd", ("VGETF32", key, elem))
                if isinstance(raw, bytes):
                    replies = yield ("par", [("VSIM", k, "FP32", raw, "COUNT", neighbours + 1,
                                              "WITHSCORES") for k, _ in keys])
                    near = []
                    for (k, _), reply in zip(keys, replies):
                        for row in _pairs(self.l2_cache._value(reply), 2):
                            if len(row) == 2 and bytes(row[0]) != elem:
                                near.append((-float(row[1]), bytes(row[0]), k))
                    near.sort()
                    items += [(k, name) for _, name, k in near[:neighbours]]
        # Least hot first, so the hottest end up the most recently used in the L1's LRU.
        items = list(reversed(items[:self.l1_max_size]))
        loaded = 0
        for i in range(0, len(items), batch_size):
            batch = items[i:i + batch_size]
            by_key: Dict[str, List[bytes]] = {}
            for k, name in batch:
                by_key.setdefault(k, []).append(name)
            tokens = [(lk, self._l1.begin(lk)) for lk in
                      ((key_bytes.get(k) or k.encode("utf-8"), bytes(n)) for k, n in batch)]
            # One pipeline a batch: a VMGETF32 per set (part) it touches, each entry's
            # attributes.
            try:
                replies = yield ("pipe", [("VMGETF32", k, *names) for k, names in by_key.items()]
                                 + [("VGETATTR", k, n) for k, n in batch])
            except BaseException:
                for lk, t in tokens:
                    self._l1.end(lk, t)
                raise
            vectors: Dict[Tuple[str, bytes], Any] = {}
            for (k, names), reply in zip(by_key.items(), replies):
                if isinstance(reply, Exception):
                    for lk, t in tokens:
                        self._l1.end(lk, t)
                    raise reply
                got = reply if isinstance(reply, list) else [None] * len(names)
                vectors.update(((k, bytes(n)), v) for n, v in zip(names, got))
            raws = [vectors.get((k, bytes(n))) for k, n in batch]
            loaded += self._fill(tokens, raws, replies[len(by_key):])
        self.warmed += loaded
        return loaded

    def _concept(self, concept: Any) -> Tuple[Optional[str], bytes]:
        """(set key, element name) of a concept: a text as given to `set`, an element name
        as ANALYTICS HOT answers it, or a concept of `POST /api/query`'s JSON (a dict with
        `element`, and `set` naming the vector set). The set is None unless the dict names
        it: the model's set, or for a split model the part that holds the element."""
        if isinstance(concept, Mapping):
            elem = concept.get("element")
            if not isinstance(elem, str):
                raise ValueError(f"a concept dict needs an 'element' str; got {concept!r}")
            s = concept.get("set")
            if s is not None and not isinstance(s, str):
                raise ValueError(f"a concept dict's 'set' must be a str; got {s!r}")
            return s, elem.encode("utf-8")
        if isinstance(concept, bytes):
            return None, concept
        if isinstance(concept, str):
            raw = concept.encode("utf-8")
            if raw.startswith(entry.HASH_PREFIX) and len(raw) == len(entry.HASH_PREFIX) + 64:
                return None, raw  # an element name of a long text, as the shard names it
            return None, element_name(concept)[0]
        raise ValueError("concept must be a text, an element name, or a dict with 'element' "
                         f"(as POST /api/query answers); got {type(concept).__name__}")

    async def warmup(self, concept: Any = None, model: str = "default", *,
                     count: Optional[int] = None, topic: Optional[str] = None,
                     window_seconds: int = 3600, batch_size: int = 256,
                     neighbours: int = 0) -> int:
        """Fills the L1 from the shard; returns how many entries entered it.

        `warmup()` (or `warmup(model=...)`): the shard's hottest concepts of the model
        (`ANALYTICS HOT`: the most looked-up entries over the last `window_seconds`; only
        those passing the FILTER expression `topic`, e.g. `'.topic == "financial"'`, when
        given), at most `count` (default: the L1's size), fetched `batch_size` per round
        trip (one pipeline of `VMGETF32` and the entries' attributes). The hottest end up
        the most recently used.

        `warmup(concept)`: the seed's loop form (`for concept in hot: await
        cache_client.warmup(concept)`): that one entry — a text as given to `set`, an
        element name as `ANALYTICS HOT` answers, or a concept dict of `POST /api/query`'s
        JSON — and, with `neighbours=k`, its k nearest cached entries (one more round trip,
        `VSIM ... ELE`). An entry not cached is skipped.

        A model split over parts (`parts` P > 1 on a cluster, docs/cluster.md) is warmed from
        every part: `ANALYTICS HOT` to all parts at once, the counts merged (each part counts
        its own entries' lookups), and each batch one pipeline of a `VMGETF32` per part it
        touches; a concept's neighbours are its nearest in every part (its vector, then
        `VSIM ... FP32` to all parts at once).

        Entries enter the L1 as a `get` would put them (TTL from `expires_at`, coherent with
        the tracking connection: one invalidated while in flight is not kept). Against a
        shard without `ANALYTICS` (e.g. Redis) it logs a warning and returns 0 (CacheError
        with strict)."""
        self.l2_cache._parts_of(model)  # the model's sets (a cluster checks its layout first)
        op = self._warmup_op(concept, model, count, topic, window_seconds, batch_size,
                               neighbours)
        try:
            return await self.l2_cache._drive_async(op)
        except (redis.exceptions.RedisError, OSError) as e:
            self.l2_cache._failed(f"warmup of {self.l2_cache.namespace + model!r}", e)
            return 0

    def warmup_sync(self, concept: Any = None, model: str = "default", *,
                    count: Optional[int] = None, topic: Optional[str] = None,
                    window_seconds: int = 3600, batch_size: int = 256,
                    neighbours: int = 0) -> int:
        self.l2_cache._parts_of(model)  # the model's sets (a cluster checks its layout first)
        op = self._warmup_op(concept, model, count, topic, window_seconds, batch_size,
                               neighbours)
        try:
            return self.l2_cache._drive_sync(op)
        except (redis.exceptions.RedisError, OSError) as e:
            self.l2_cache._failed(f"warmup of {self.l2_cache.namespace + model!r}", e)
            return 0

    # ---- semantic calls, clear ----

    def _drop_removed(self, removed: List[Removed]) -> List[Removed]:
        for r in removed:
            elem = r.element.encode("utf-8")
            keys = self.l2_cache._parts_of(r.model)  # a split model's entry is in one part
            self._l1.drop((keys[part_of(elem, len(keys))][1], elem))
        return removed

    async def find_similar(self, text_or_embedding: Union[str, Embedding], model: str = "default",
                           k: int = 10, min_similarity: Optional[float] = None, *,
                           filter: Optional[str] = None, ef: Optional[int] = None) -> List[Similar]:
        """`SutraCacheClient.find_similar` on the shard."""
        return await self.l2_cache.find_similar(text_or_embedding, model, k, min_similarity,
                                                filter=filter, ef=ef)

    def find_similar_sync(self, text_or_embedding: Union[str, Embedding], model: str = "default",
                          k: int = 10, min_similarity: Optional[float] = None, *,
                          filter: Optional[str] = None, ef: Optional[int] = None) -> List[Similar]:
        return self.l2_cache.find_similar_sync(text_or_embedding, model, k, min_similarity,
                                               filter=filter, ef=ef)

    async def semantic_invalidate(self, query: Union[str, Embedding],
                                  similarity_threshold: float = 0.85,
                                  model: Optional[str] = None, *,
                                  filter: Optional[str] = None) -> List[Removed]:
        """`SutraCacheClient.semantic_invalidate`; what it removed also leaves this L1 at
        once (other processes' L1s drop it through tracking)."""
        return self._drop_removed(await self.l2_cache.semantic_invalidate(
            query, similarity_threshold, model, filter=filter))

    def semantic_invalidate_sync(self, query: Union[str, Embedding],
                                 similarity_threshold: float = 0.85,
                                 model: Optional[str] = None, *,
                                 filter: Optional[str] = None) -> List[Removed]:
        return self._drop_removed(self.l2_cache.semantic_invalidate_sync(
            query, similarity_threshold, model, filter=filter))

    async def clear(self) -> int:
        """Empties the L1 and removes the namespace's model sets from the shard."""
        self._l1.flush()
        return await self.l2_cache.clear()

    def clear_sync(self) -> int:
        self._l1.flush()
        return self.l2_cache.clear_sync()

    # ---- stats ----

    def stats(self) -> Dict[str, Any]:
        """The seed's keys: `l1` {size, max_size, utilization, ...}, `l2` (the L2 client's
        stats), `total_hit_rate` = (L1 hits + L2 hits) / lookups, `backend`; plus hits,
        misses, total_requests, hit_rate of this cache's lookups. No I/O."""
        size = len(self._l1)
        lookups = self.l1_hits + self.l2_hits + self.misses
        t = self._tracker
        hits = self.l1_hits + self.l2_hits
        return {
            "l1": {
                "size": size,
                "max_size": self.l1_max_size,
                "utilization": size / self.l1_max_size,
                "hits": self.l1_hits,
                "warmed": self.warmed,
                "coherent": bool(t is not None and t.supported and t.connected.is_set()),
                "tracking": "off" if t is None else (
                    "unsupported" if t.supported is False else
                    "connected" if t.connected.is_set() else "connecting"),
                "invalidations": self._l1.invalidations,
                "flushes": self._l1.flushes,
                "tracking_messages": t.messages if t is not None else 0,
                "tracking_reconnects": t.reconnects if t is not None else 0,
            },
            "prefetch": self._prefetch_stats(),
            "l2": self.l2_cache.stats(),
            "total_hit_rate": hits / lookups if lookups else 0,
            "backend": "100% Sutra Native",
            "hits": hits,
            "misses": self.misses,
            "total_requests": lookups,
            "hit_rate": hits / lookups if lookups else 0,
        }

    def _prefetch_stats(self) -> Dict[str, Any]:
        p = self._prefetcher
        if p is None:
            return {"neighbours": 0}
        return {"neighbours": p.neighbours, "offered": p.offered, "dropped": p.dropped,
                "entries": p.entries, "hits": self._l1.prefetch_hits,
                "round_trips": p.round_trips, "errors": p.errors,
                "unsupported": p.unsupported}

    def close(self) -> None:
        """Stops the tracking and prefetch threads and closes the connections."""
        if self._prefetcher is not None:
            self._prefetcher.stop()
            self._prefetcher.join(timeout=5)
        if self._tracker is not None:
            self._tracker.stop()
            self._tracker.join(timeout=5)
        self.l2_cache.close()

    async def aclose(self) -> None:
        self.close()
        await self.l2_cache.aclose()

    def __enter__(self) -> "MultiTierSutraCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["MultiTierSutraCache"]
