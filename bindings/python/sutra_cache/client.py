"""The seed's cache client over RESP (redis-py): `SutraCacheClient` and `migrate_from_redis`.

Each embedding is an element of the model's vector set (`sutra_cache.entry` has the format),
so entries can be searched by meaning (`find_similar`) and invalidated semantically
(`semantic_invalidate`). Failures to reach the shard are non-critical as the seed says: a get
is a miss and a set a logged warning, counted in `stats()["errors"]`; `strict=True` raises
`sutra_cache.errors.CacheError` instead. Bad arguments (a NaN, a non-list embedding, a
threshold outside [-1, 1], ...) are programming errors and raise ValueError always.

Every coroutine has a `_sync` twin for callers without an event loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import (Any, Awaitable, Callable, Dict, Generator, Iterable, List, Mapping,
                    NamedTuple, Optional, Sequence, Set, Tuple, Union)

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode as AioClusterNode
from redis.asyncio.cluster import RedisCluster as AioRedisCluster
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException

from . import entry
from .entry import Embedding, decode_embedding, element_name, encode_embedding
from .errors import CacheError, NoQueryEmbedding
from .parts import Node, check_parts, layout_key, parse_nodes, part_keys, part_of

logger = logging.getLogger("sutra_cache.client")

Embedder = Union[Callable[[str], Any], Mapping[str, Callable[[str], Any]]]
Decoder = Callable[[bytes, bytes], Optional[Tuple[str, Embedding]]]

# The operations below are generators that yield requests and receive replies, so the sync
# and async methods share one implementation. Requests:
#   ("cmd", args)            -> the reply (a server error is thrown into the generator)
#   ("pipe", [args, ...])    -> a list of replies, server errors as exception values
#   ("embed", text, model)   -> the embedder's embedding of text for model
#   ("par", [args, ...])     -> a list of replies, the commands sent concurrently (one per
#                               part of a split model), server errors as exception values
#   ("keyed", [(key, args), ...]) -> as "par", each command sent to the node serving key (on
#                               a cluster: for commands whose key the cluster client cannot
#                               find, as ANALYTICS's subcommands)
#   ("nodes",)               -> the primary nodes of a cluster ([None] for one shard)
#   ("on", node, args)       -> the reply of one node (a keyless command: SCAN)
Op = Generator[tuple, Any, Any]

_NOT_FOUND = "element not found"
# What a shard or cluster failure raises (redis-py's RedisClusterException is no RedisError).
_FAILURES = (redis.exceptions.RedisError, OSError, RedisClusterException)


class Similar(NamedTuple):
    """One hit of `find_similar`: the cached text (None if a hashed entry lost its `text`
    attribute), the cosine similarity in [-1, 1], and the entry's attributes."""

    text: Optional[str]
    similarity: float
    attributes: Optional[Dict[str, Any]]


class Removed(NamedTuple):
    """One entry removed by `semantic_invalidate`: its model, element name, text (the element
    name, or None for a hashed name: the text attribute left with the entry) and the cosine
    similarity of the entry to the query."""

    model: str
    element: str
    text: Optional[str]
    similarity: float


def embedding_key(text: str, model: str) -> str:
    """The key of the pre-vector-set blob format, f"{model}:{sha256(text) in hex}" (kept for
    reading old caches and for the perf comparison; new entries are vector-set elements)."""
    return f"{model}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def check_threshold(value: Any, name: str) -> float:
    """A cosine similarity in [-1, 1] (a ValueError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a cosine similarity in [-1, 1]; got {value!r}")
    t = float(value)
    if not (-1.0 <= t <= 1.0):  # also refuses NaN
        raise ValueError(f"{name} must be a cosine similarity in [-1, 1]; got {value!r}")
    return t


def score_of(similarity: float) -> float:
    """VSIM/VINVALIDATE's score (1 + cos) / 2 for a cosine similarity."""
    return (1.0 + similarity) / 2.0


def similarity_of(score: float) -> float:
    """The cosine similarity of a VSIM score, clamped to [-1, 1]."""
    return max(-1.0, min(1.0, 2.0 * score - 1.0))


def _pairs(reply: Any, width: int) -> List[list]:
    """Rows of a VSIM/VINVALIDATE reply: RESP2 flat arrays or RESP3 maps."""
    if isinstance(reply, dict):
        rows = []
        for k, v in reply.items():
            rows.append([k, *(v if isinstance(v, list) else [v])])
        return rows
    reply = list(reply or [])
    return [reply[i:i + width] for i in range(0, len(reply), width)]


def _s(b: Any) -> str:
    return b.decode("utf-8", errors="replace") if isinstance(b, bytes) else str(b)


# A split model's part key after the namespace: "<model>:{<model>:<i>.<j>}" (sutra_cache.parts).
_PART_KEY = re.compile(r"^([^{}]*):\{\1:[0-9]+\.[0-9]+\}$")


def _glob_escape(s: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in s)


class _Flights:
    """Single flight per key: the first caller computes, the others wait for its result."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.sync: Dict[Any, "_SyncFlight"] = {}
        self.aio: Dict[Any, asyncio.Future] = {}
        self.coalesced = 0


class _SyncFlight:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None


def _call_compute(compute: Callable[[str], Any], text: str) -> Any:
    if not callable(compute):
        raise ValueError(f"compute must be a callable taking the text; got {compute!r}")
    return compute(text)



async def compute_through_async(get: Callable[[], Awaitable[Any]],
                                put: Callable[[Any], Awaitable[Any]],
                                compute: Callable[[str], Any], text: str, numpy: bool) -> Any:
    """One get-or-compute (run inside a single flight): `get()`, else `compute(text)` (sync
    or async), `put(value)`, and the value as a hit returns it."""
    hit = await get()
    if hit is not None:
        return hit
    value = _call_compute(compute, text)
    if inspect.isawaitable(value):
        value = await value
    blob = encode_embedding(value, "compute(text)")
    await put(value)
    return decode_embedding(blob, numpy)


def compute_through_sync(get: Callable[[], Any], put: Callable[[Any], Any],
                         compute: Callable[[str], Any], text: str, numpy: bool) -> Any:
    """The sync twin of `compute_through_async` (an async `compute` is refused)."""
    hit = get()
    if hit is not None:
        return hit
    value = _call_compute(compute, text)
    if inspect.isawaitable(value):
        if hasattr(value, "close"):
            value.close()
        raise ValueError("compute is async: use get_or_compute, not the _sync twin")
    blob = encode_embedding(value, "compute(text)")
    put(value)
    return decode_embedding(blob, numpy)

def single_flight_sync(flights: _Flights, key: Any, run: Callable[[], Any]) -> Any:
    with flights.lock:
        flight = flights.sync.get(key)
        leader = flight is None
        if leader:
            flight = flights.sync[key] = _SyncFlight()
        else:
            flights.coalesced += 1
    if not leader:
        flight.done.wait()
        if flight.error is not None:
            raise flight.error
        return flight.value
    try:
        flight.value = run()
        return flight.value
    except BaseException as e:
        flight.error = e
        raise
    finally:
        with flights.lock:
            flights.sync.pop(key, None)
        flight.done.set()


async def single_flight_async(flights: _Flights, key: Any, run: Callable[[], Awaitable[Any]]) -> Any:
    loop = asyncio.get_running_loop()
    fk = (id(loop), key)
    fut = flights.aio.get(fk)
    if fut is not None and fut.get_loop() is loop:
        flights.coalesced += 1
        return await asyncio.shield(fut)
    fut = loop.create_future()
    flights.aio[fk] = fut
    try:
        value = await run()
        fut.set_result(value)
        return value
    except BaseException as e:
        fut.set_exception(e)
        fut.exception()  # retrieved: no "never retrieved" warning when nobody waited
        raise
    finally:
        if flights.aio.get(fk) is fut:
            del flights.aio[fk]


class SutraCacheClient:
    """The seed's `SutraCacheClient`: embeddings cached in a sutra-cache shard.

    `SutraCacheClient(cache_host="storage-cache-shard", cache_port=50051,
    default_ttl_seconds=86400)` as the seed writes it, with keyword options:

    - `password`, `url` (`redis://` / `rediss://`, overrides host and port), `redis_client`
      (an existing `redis.Redis`, or a `redis.asyncio.Redis` for the async methods only;
      it must not decode responses), `socket_timeout` (1 s, as the seed's client);
    - `namespace` ("emb:"): model `m`'s entries are the vector set `namespace + m`;
    - `embedder`: a callable text -> embedding (or a dict model -> callable; may be async)
      used by `find_similar`/`semantic_invalidate` for texts that are not cached;
    - `strict` (False): raise `CacheError` instead of degrading to a miss / a warning;
    - `numpy` (False): `get` returns a read-only float32 array instead of a list;
    - `source` ("embedding_service"): the entries' `source` attribute;
    - `startup_nodes` (["host:port", ...] or [(host, port), ...]): a sutra-cache cluster
      (`--cluster-mode yes`/`emulated`) reached through redis-py's `RedisCluster`: exact gets
      and sets go to the node of their key's slot; `parts` (1): each model's entries are
      split over this many hash-tagged sets (`sutra_cache.parts` has the layout, recorded on
      the cluster so every client agrees), searched and invalidated all at once.
    """

    def __init__(self, cache_host: str = "storage-cache-shard", cache_port: int = 50051,
                 default_ttl_seconds: Optional[int] = 86400, *, password: Optional[str] = None,
                 url: Optional[str] = None, redis_client: Any = None, namespace: str = "emb:",
                 embedder: Optional[Embedder] = None, strict: bool = False, numpy: bool = False,
                 socket_timeout: float = 1.0, source: str = entry.DEFAULT_SOURCE,
                 startup_nodes: Optional[Sequence[Node]] = None, parts: int = 1) -> None:
        if not isinstance(namespace, str):
            raise ValueError(f"namespace must be a str; got {namespace!r}")
        self.parts = check_parts(parts)
        self._startup_nodes: Optional[List[Tuple[str, int]]] = None
        if startup_nodes is not None:
            if url is not None or redis_client is not None:
                raise ValueError("give one of startup_nodes, url and redis_client")
            self._startup_nodes = parse_nodes(startup_nodes)
        elif self.parts != 1:
            raise ValueError(f"parts={parts} splits a model over a cluster's nodes: it needs "
                             "startup_nodes")
        if self.parts > 1:
            part_keys(namespace, "m", 2)  # refuses a namespace with braces, saying why
        if embedder is not None and not (callable(embedder) or isinstance(embedder, Mapping)):
            raise ValueError("embedder must be a callable text -> embedding or a dict model -> callable")
        self.default_ttl_seconds = entry.check_ttl(default_ttl_seconds, "default_ttl_seconds")
        self.namespace = namespace
        self.embedder = embedder
        self.strict = bool(strict)
        self.numpy = bool(numpy)
        self.source = source
        self._aio_given: Optional[aioredis.Redis] = None
        self._given_sync = False
        self._redis: Optional[redis.Redis] = None
        self._aio: Optional[Tuple[asyncio.AbstractEventLoop, aioredis.Redis]] = None
        if redis_client is not None:
            kwargs = redis_client.connection_pool.connection_kwargs
            if kwargs.get("decode_responses"):
                raise ValueError("redis_client must not decode responses (vectors are bytes); "
                                 "create it with decode_responses=False")
            if isinstance(redis_client, aioredis.Redis):
                self._aio_given = redis_client
            else:
                self._redis = redis_client
                self._given_sync = True
            self._connect_kwargs: Dict[str, Any] = dict(kwargs)
        elif self._startup_nodes is not None:
            # RedisCluster connects in its constructor: made on first use instead, so a
            # cluster that is down gives misses, not a failed constructor.
            self._connect_kwargs = dict(password=password, socket_timeout=socket_timeout,
                                        socket_connect_timeout=socket_timeout)
            cache_host, cache_port = self._startup_nodes[0]
        elif url is not None:
            self._redis = redis.Redis.from_url(url, socket_timeout=socket_timeout,
                                               socket_connect_timeout=socket_timeout)
            self._connect_kwargs = dict(self._redis.connection_pool.connection_kwargs)
        else:
            self._connect_kwargs = dict(host=cache_host, port=cache_port, password=password,
                                        socket_timeout=socket_timeout,
                                        socket_connect_timeout=socket_timeout)
            self._redis = redis.Redis(**self._connect_kwargs)
        self._url = url
        self._socket_timeout = socket_timeout
        self.cache_host = str(self._connect_kwargs.get("host", cache_host))
        self.cache_port = int(self._connect_kwargs.get("port", cache_port))
        self._keys: Dict[str, List[Tuple[str, bytes]]] = {}
        self._unchecked: Set[str] = set()  # models whose recorded number of parts is unread
        self._refused: Dict[str, ValueError] = {}  # models recorded with another P
        self._pool: Optional[ThreadPoolExecutor] = None
        self._flights = _Flights()
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.sets = 0
        self.set_errors = 0
        self.last_error: Optional[str] = None
        logger.info("sutra cache client for %s:%s (namespace %r)", self.cache_host,
                    self.cache_port, namespace)

    # ---- connections ----

    @property
    def cluster(self) -> bool:
        """Whether the client talks to a cluster (made with `startup_nodes`)."""
        return self._startup_nodes is not None

    def _sync_client(self) -> Any:
        if self._redis is None and self._startup_nodes is not None:
            try:
                self._redis = RedisCluster(
                    startup_nodes=[ClusterNode(h, p) for h, p in self._startup_nodes],
                    **self._connect_kwargs)
            except RedisClusterException as e:
                raise redis.exceptions.ConnectionError(
                    f"no node of the cluster {self._nodes_text()} answered: {e}") from e
        if self._redis is None:
            raise ValueError("this client was given a redis.asyncio client: use the async "
                             "methods (get, set, ...) rather than the _sync twins")
        return self._redis

    def _async_client(self) -> Optional[aioredis.Redis]:
        """The asyncio client of the running loop (None: a given sync client, run in a thread)."""
        if self._aio_given is not None:
            return self._aio_given
        if self._given_sync:
            return None
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio[0] is not loop:
            if self._startup_nodes is not None:
                client = AioRedisCluster(
                    startup_nodes=[AioClusterNode(h, p) for h, p in self._startup_nodes],
                    **self._connect_kwargs)
            elif self._url is not None:
                client = aioredis.Redis.from_url(self._url, socket_timeout=self._socket_timeout,
                                                 socket_connect_timeout=self._socket_timeout)
            else:
                client = aioredis.Redis(**self._connect_kwargs)
            self._aio = (loop, client)
        return self._aio[1]

    def _nodes_text(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self._startup_nodes or [])

    def _parts_of(self, model: str) -> List[Tuple[str, bytes]]:
        """The (key, key bytes) of model's sets: one, or one per part of a split model."""
        got = self._keys.get(model)
        if got is None or model in self._refused:
            if model in self._refused:
                raise self._refused[model]
            entry.set_key(self.namespace, model)  # checks the model name
            got = [(k, k.encode("utf-8")) for k in part_keys(self.namespace, model, self.parts)]
            self._keys[model] = got
            if self._startup_nodes is not None:
                self._unchecked.add(model)
        return got

    def _locate(self, text: str, model: str) -> Tuple[str, bytes, bytes, bool]:
        """(set key, set key bytes, element name, hashed) of (text, model): the set is the
        model's part that holds the text's entry."""
        keys = self._parts_of(model)
        elem, hashed = element_name(text)
        key, kb = keys[part_of(elem, len(keys))]
        return key, kb, elem, hashed

    def _layout_op(self, model: str) -> Op:
        """Records this client's number of parts for model on the cluster when none is, and
        refuses (ValueError) a model recorded with another number: clients that disagreed
        would look for entries in sets the others do not write."""
        lk = layout_key(self.namespace)
        yield ("cmd", ("HSETNX", lk, model, str(self.parts)))
        got = yield ("cmd", ("HGET", lk, model))
        try:
            recorded = int(got)
        except (TypeError, ValueError):
            raise CacheError(f"the hash {lk!r} records {got!r} parts for model {model!r}, not "
                             "a number") from None
        self._unchecked.discard(model)
        if recorded != self.parts:
            self._refused[model] = ValueError(
                f"model {model!r} is split into {recorded} parts on this cluster (recorded in "
                f"the hash {lk!r}) but this client was made with parts={self.parts}: make it "
                f"with parts={recorded}")
            raise self._refused[model]

    def _checks_op(self) -> Op:
        for model in sorted(self._unchecked):
            yield from self._layout_op(model)

    def _with_checks(self, op: Op) -> Op:
        yield from self._checks_op()
        return (yield from op)

    def _fanout_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(32, max(2, self.parts)),
                                            thread_name_prefix="sutra-cache-fanout")
        return self._pool

    @staticmethod
    def _one_sync(client: Any, args: tuple, node: Any = None) -> Any:
        try:
            if node is None:
                return client.execute_command(*args)
            return node.redis_connection.execute_command(*args)  # the node's own client
        except (redis.exceptions.RedisError, OSError) as e:
            return e
        except RedisClusterException as e:
            return redis.exceptions.ConnectionError(str(e))

    @staticmethod
    async def _one_async(client: Any, args: tuple, node: Any = None) -> Any:
        try:
            if node is None:
                return await client.execute_command(*args)
            return await node.execute_command(*args)  # the node's own connection
        except (redis.exceptions.RedisError, OSError) as e:
            return e
        except RedisClusterException as e:
            return redis.exceptions.ConnectionError(str(e))

    def _parallel_sync(self, client: Any, cmds: List[tuple]) -> List[Any]:
        if len(cmds) == 1:
            return [self._one_sync(client, cmds[0])]
        return list(self._fanout_pool().map(lambda a: self._one_sync(client, a), cmds))

    def _keyed_sync(self, client: Any, cmds: List[Tuple[str, tuple]]) -> List[Any]:
        """Each command on the node serving its key (the client itself on one shard), at
        once; replies in order, errors as values."""
        def one(item: Tuple[str, tuple]) -> Any:
            key, args = item
            if not self.cluster:
                return self._one_sync(client, args)
            try:
                node = client.get_node_from_key(key)
            except (redis.exceptions.RedisError, RedisClusterException) as e:
                return redis.exceptions.ConnectionError(str(e))
            return self._one_sync(client, args, node)
        if len(cmds) == 1:
            return [one(cmds[0])]
        return list(self._fanout_pool().map(one, cmds))

    @staticmethod
    def _value(reply: Any) -> Any:
        if isinstance(reply, BaseException):
            raise reply
        return reply

    # ---- drivers ----

    def _drive_sync(self, op: Op) -> Any:
        client = self._sync_client()
        if self._unchecked:
            op = self._with_checks(op)
        send: Any = None
        throw: Optional[BaseException] = None
        while True:
            try:
                req = op.throw(throw) if throw is not None else op.send(send)
            except StopIteration as stop:
                return stop.value
            send, throw = None, None
            try:
                if req[0] == "cmd":
                    send = client.execute_command(*req[1])
                elif req[0] == "pipe":
                    p = client.pipeline(transaction=False)
                    for args in req[1]:
                        p.execute_command(*args)
                    send = p.execute(raise_on_error=False)
                elif req[0] == "par":
                    send = self._parallel_sync(client, req[1])
                elif req[0] == "keyed":
                    send = self._keyed_sync(client, req[1])
                elif req[0] == "nodes":
                    send = client.get_primaries() if self.cluster else [None]
                elif req[0] == "on":
                    send = self._value(self._one_sync(client, req[2], req[1]))
                else:
                    emb = self._embed(req[1], req[2])
                    if inspect.isawaitable(emb):
                        if hasattr(emb, "close"):
                            emb.close()
                        raise ValueError("the embedder is async: use the async method, not the _sync twin")
                    send = emb
            except _FAILURES as e:
                throw = e

    async def _drive_async(self, op: Op) -> Any:
        client = self._async_client()
        if client is None:
            return await asyncio.to_thread(self._drive_sync, op)
        if self._unchecked:
            op = self._with_checks(op)
        send: Any = None
        throw: Optional[BaseException] = None
        while True:
            try:
                req = op.throw(throw) if throw is not None else op.send(send)
            except StopIteration as stop:
                return stop.value
            send, throw = None, None
            try:
                if req[0] == "cmd":
                    send = await client.execute_command(*req[1])
                elif req[0] == "pipe":
                    p = client.pipeline(transaction=False)
                    for args in req[1]:
                        p.execute_command(*args)
                    send = await p.execute(raise_on_error=False)
                elif req[0] == "par":
                    send = list(await asyncio.gather(
                        *(self._one_async(client, args) for args in req[1])))
                elif req[0] == "keyed":
                    if self.cluster:
                        await client.initialize()
                    send = list(await asyncio.gather(*(
                        self._one_async(client, args,
                                        client.get_node_from_key(key) if self.cluster else None)
                        for key, args in req[1])))
                elif req[0] == "nodes":
                    if self.cluster:
                        await client.initialize()
                        send = client.get_primaries()
                    else:
                        send = [None]
                elif req[0] == "on":
                    send = self._value(await self._one_async(client, req[2], req[1]))
                else:
                    emb = self._embed(req[1], req[2])
                    send = await emb if inspect.isawaitable(emb) else emb
            except _FAILURES as e:
                throw = e

    def _embedder_for(self, model: str) -> Optional[Callable[[str], Any]]:
        if isinstance(self.embedder, Mapping):
            return self.embedder.get(model)
        return self.embedder

    def _embed(self, text: str, model: str) -> Any:
        fn = self._embedder_for(model)
        if fn is None:
            raise NoQueryEmbedding(f"no embedder for model {model!r}")
        return fn(text)

    def _failed(self, what: str, e: BaseException) -> None:
        """Counts a failure; raises CacheError with strict, else logs a warning."""
        self.errors += 1
        self.last_error = f"{what}: {e}"
        if self.strict:
            raise CacheError(f"{what} failed on {self.cache_host}:{self.cache_port}: {e}") from e
        logger.warning("sutra-cache %s failed on %s:%s (non-critical): %s", what, self.cache_host,
                       self.cache_port, e)

    # ---- get ----

    def _get_op(self, text: str, model: str, max_age_seconds: Optional[float],
                with_attrs: bool) -> Op:
        """(raw vector or None, attributes or None)."""
        key, _, elem, _ = self._locate(text, model)
        if max_age_seconds is not None or with_attrs:
            raw, attr = yield ("pipe", [("VGETF32", key, elem), ("VGETATTR", key, elem)])
            for r in (raw, attr):
                if isinstance(r, Exception):
                    raise r
            attrs = entry.parse_attributes(attr)
        else:
            raw = yield ("cmd", ("VGETF32", key, elem))
            attrs = None
        if raw is not None and attrs is not None:
            now = time.time()
            exp = attrs.get("expires_at")
            if isinstance(exp, (int, float)) and now >= exp:
                raw = None
            cached = attrs.get("cached_at")
            if (raw is not None and max_age_seconds is not None
                    and isinstance(cached, (int, float)) and now - cached > max_age_seconds):
                raw = None
        return raw, attrs

    @staticmethod
    def _check_max_age(max_age_seconds: Any) -> None:
        if max_age_seconds is None:
            return
        if isinstance(max_age_seconds, bool) or not isinstance(max_age_seconds, (int, float)) \
                or not max_age_seconds >= 0 or math.isinf(max_age_seconds):
            raise ValueError(f"max_age_seconds must be a finite number >= 0 or None; got {max_age_seconds!r}")

    def _count(self, got: Optional[tuple]) -> Any:
        raw = got[0] if got is not None else None
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return decode_embedding(raw, self.numpy)

    def _fetch_sync(self, text: str, model: str, max_age_seconds: Optional[float] = None,
                    with_attrs: bool = False) -> Optional[tuple]:
        """(raw, attrs) from the shard, or None after a non-critical failure."""
        try:
            if max_age_seconds is None and not with_attrs and (
                    self._redis is not None or self.cluster):
                # the hot path: one VGETF32, no generator
                key, _, elem, _ = self._locate(text, model)
                client = self._sync_client()
                if self._unchecked:
                    self._drive_sync(self._checks_op())
                return client.execute_command("VGETF32", key, elem), None
            self._check_max_age(max_age_seconds)
            return self._drive_sync(self._get_op(text, model, max_age_seconds, with_attrs))
        except _FAILURES as e:
            self._failed(f"get of {text[:60]!r} in {self.namespace + model!r}", e)
            return None

    async def _fetch(self, text: str, model: str, max_age_seconds: Optional[float] = None,
                     with_attrs: bool = False) -> Optional[tuple]:
        try:
            if max_age_seconds is None and not with_attrs:
                client = self._async_client()
                if client is not None:
                    key, _, elem, _ = self._locate(text, model)
                    if self._unchecked:
                        await self._drive_async(self._checks_op())
                    return await client.execute_command("VGETF32", key, elem), None
            self._check_max_age(max_age_seconds)
            return await self._drive_async(self._get_op(text, model, max_age_seconds, with_attrs))
        except _FAILURES as e:
            self._failed(f"get of {text[:60]!r} in {self.namespace + model!r}", e)
            return None

    async def get(self, text: str, model: str = "default", *,
                  max_age_seconds: Optional[float] = None) -> Optional[Union[List[float], Any]]:
        """The cached embedding of `text` under `model` (a list of floats, each exactly the
        stored float32; with `numpy=True` a read-only float32 array), or None. An entry older
        than `max_age_seconds` (by its `cached_at`) is a miss. A shard that cannot be reached
        is a miss with a logged warning (CacheError with strict)."""
        return self._count(await self._fetch(text, model, max_age_seconds))

    def get_sync(self, text: str, model: str = "default", *,
                 max_age_seconds: Optional[float] = None) -> Optional[Union[List[float], Any]]:
        return self._count(self._fetch_sync(text, model, max_age_seconds))

    # ---- set ----

    def _set_args(self, text: str, embedding: Any, model: str, ttl_seconds: Any,
                  tags: Optional[Mapping[str, Any]], now: Optional[float] = None,
                  ttl_ms: Optional[int] = None) -> Tuple[tuple, bytes]:
        key, _, elem, hashed = self._locate(text, model)
        blob = encode_embedding(embedding)
        ttl = entry.check_ttl(ttl_seconds, "ttl_seconds") or self.default_ttl_seconds
        if ttl_ms is not None:  # a remaining TTL (migration): whole seconds, rounded up
            ttl = max(1, -(-ttl_ms // 1000))
        tag_values = entry.check_tags(tags)
        now = time.time() if now is None else now
        attrs = entry.attributes_json(model, now, ttl, text if hashed else None, self.source,
                                      tag_values)
        args: tuple = ("VADD", key, "FP32", blob, elem, "SETATTR", attrs)
        if ttl_ms is not None:
            args += ("PX", ttl_ms)
        elif ttl:
            args += ("EX", ttl)
        return args, blob

    def _set_done(self, what: str, reply_or_error: Any) -> bool:
        if isinstance(reply_or_error, BaseException):
            self.set_errors += 1
            self._failed(what, reply_or_error)
            return False
        self.sets += 1
        return True

    async def set(self, text: str, embedding: Embedding, model: str = "default",
                  ttl_seconds: Optional[int] = None, *,
                  tags: Optional[Mapping[str, Any]] = None) -> bool:
        """Caches `embedding` for (`text`, `model`) as an element of the model's vector set,
        with the seed's metadata as attributes plus `tags` (flat JSON values). `ttl_seconds`
        None or 0: the client's default (86400); a client default of None: no expiry. Returns
        whether the shard stored it (a failure is a logged warning; CacheError with strict)."""
        args, _ = self._set_args(text, embedding, model, ttl_seconds, tags)
        return self._set_done(f"set of {text[:60]!r} in {args[1]!r}",
                              await self._raw_async(args))

    def set_sync(self, text: str, embedding: Embedding, model: str = "default",
                 ttl_seconds: Optional[int] = None, *,
                 tags: Optional[Mapping[str, Any]] = None) -> bool:
        args, _ = self._set_args(text, embedding, model, ttl_seconds, tags)
        return self._set_done(f"set of {text[:60]!r} in {args[1]!r}", self._raw_sync(args))

    def _raw_sync(self, args: tuple) -> Any:
        try:
            client = self._sync_client()
            if self._unchecked:
                self._drive_sync(self._checks_op())
            return client.execute_command(*args)
        except _FAILURES as e:
            return e

    async def _raw_async(self, args: tuple) -> Any:
        def op() -> Op:
            return (yield ("cmd", args))
        try:
            return await self._drive_async(op())
        except _FAILURES as e:
            return e

    # ---- get_or_compute ----

    def _flight_key(self, text: str, model: str) -> tuple:
        key, _, elem, _ = self._locate(text, model)
        return (key, elem)

    async def get_or_compute(self, text: str, model: str, compute: Callable[[str], Any], *,
                             ttl_seconds: Optional[int] = None,
                             max_age_seconds: Optional[float] = None) -> Any:
        """The cached embedding of `text`, or `compute(text)` (sync or async) cached and
        returned. Concurrent callers for the same (text, model) in this process share one
        lookup and one `compute` call (single flight); an exception of `compute` reaches all
        of them and nothing is cached."""
        async def run() -> Any:
            return await compute_through_async(
                lambda: self.get(text, model, max_age_seconds=max_age_seconds),
                lambda value: self.set(text, value, model, ttl_seconds),
                compute, text, self.numpy)
        return await single_flight_async(self._flights, self._flight_key(text, model), run)

    def get_or_compute_sync(self, text: str, model: str, compute: Callable[[str], Any], *,
                            ttl_seconds: Optional[int] = None,
                            max_age_seconds: Optional[float] = None) -> Any:
        def run() -> Any:
            return compute_through_sync(
                lambda: self.get_sync(text, model, max_age_seconds=max_age_seconds),
                lambda value: self.set_sync(text, value, model, ttl_seconds),
                compute, text, self.numpy)
        return single_flight_sync(self._flights, self._flight_key(text, model), run)

    # ---- the namespace's sets ----

    def _model_sets_op(self) -> Op:
        """Every vector set of the namespace (SCAN ... TYPE vectorset on every node)."""
        pattern = _glob_escape(self.namespace) + "*"
        keys: List[str] = []
        for node in (yield ("nodes",)):
            cursor: Any = 0
            while True:
                reply = yield ("on", node, ("SCAN", cursor, "MATCH", pattern, "COUNT", 1000,
                                            "TYPE", "vectorset"))
                cursor, batch = reply if isinstance(reply, (tuple, list)) else (0, [])
                keys.extend(_s(k) for k in batch)
                if int(cursor) == 0:
                    break
        return sorted(set(keys))

    def _model_of(self, key: str) -> str:
        """The model of a set key of the namespace (a part's key names its model)."""
        rest = key[len(self.namespace):]
        m = _PART_KEY.match(rest)
        return m.group(1) if m is not None else rest

    def _models_op(self) -> Op:
        keys = yield from self._model_sets_op()
        return sorted({self._model_of(k) for k in keys})

    def _clear_op(self) -> Op:
        keys = yield from self._model_sets_op()
        for i in range(0, len(keys), 500):
            if self.cluster:  # keys of several slots: one UNLINK each, routed by slot
                for r in (yield ("pipe", [("UNLINK", k) for k in keys[i:i + 500]])):
                    self._value(r)
            else:
                yield ("cmd", ("UNLINK", *keys[i:i + 500]))
        return len({self._model_of(k) for k in keys})

    async def clear(self) -> int:
        """Removes this cache's entries: every vector set of the namespace (other keys of the
        shard stay). Returns how many model sets were removed (0 after a non-critical
        failure)."""
        try:
            return await self._drive_async(self._clear_op())
        except _FAILURES as e:
            self._failed(f"clear of namespace {self.namespace!r}", e)
            return 0

    def clear_sync(self) -> int:
        try:
            return self._drive_sync(self._clear_op())
        except _FAILURES as e:
            self._failed(f"clear of namespace {self.namespace!r}", e)
            return 0

    async def models(self) -> List[str]:
        """The models with entries in the namespace."""
        return await self._drive_async(self._models_op())

    def models_sync(self) -> List[str]:
        return self._drive_sync(self._models_op())

    # ---- find_similar ----

    def _query_blob_op(self, query: Any, model: str, what: str) -> Op:
        """The FP32 bytes of a query for a split model: a text's cached vector (read from the
        part holding it), else the embedder's; None when neither (no embedder)."""
        if not isinstance(query, str):
            return encode_embedding(query, "query")
        key, _, elem, _ = self._locate(query, model)
        raw = yield ("cmd", ("VGETF32", key, elem))
        if raw is not None:
            return raw
        if self._embedder_for(model) is None:
            return None
        emb = yield ("embed", query, model)
        return encode_embedding(emb, "embedder(text)")

    def _find_op(self, query: Any, model: str, k: int, min_similarity: Optional[float],
                 filter: Optional[str], ef: Optional[int] = None) -> Op:
        keys = [key for key, _ in self._parts_of(model)]
        opts: tuple = ("COUNT", k, "WITHSCORES", "WITHATTRIBS")
        min_score = None
        if min_similarity is not None:
            min_score = score_of(min_similarity)
            if 1.0 - min_score > 0:
                opts += ("EPSILON", repr(1.0 - min_score))
        if ef is not None:
            opts += ("EF", ef)
        if filter is not None:
            opts += ("FILTER", filter)
        no_embedding = NoQueryEmbedding(
            f"find_similar: the text {str(query)[:80]!r} is not cached in model {model!r} "
            f"(set {keys[0]!r}) and the client has no embedder for it; pass embedder= "
            "to the client or query with an embedding")
        if len(keys) > 1:
            # A split model: the query's vector to every part at once, the top k merged.
            blob = yield from self._query_blob_op(query, model, "find_similar")
            if blob is None:
                raise no_embedding
            replies = yield ("par", [("VSIM", key, "FP32", blob, *opts) for key in keys])
            rows = [row for r in replies for row in _pairs(self._value(r), 3)]
            rows = [row for row in rows if len(row) >= 3]
            rows.sort(key=lambda row: (-float(row[1]), _s(row[0])))
            reply_rows = rows[:k]
        elif isinstance(query, str):
            key = keys[0]
            elem, _ = element_name(query)
            try:
                reply = yield ("cmd", ("VSIM", key, "ELE", elem, *opts))
            except redis.exceptions.ResponseError as e:
                if _NOT_FOUND not in str(e):
                    raise
                if self._embedder_for(model) is None:
                    raise no_embedding from None
                emb = yield ("embed", query, model)
                blob = encode_embedding(emb, "embedder(text)")
                reply = yield ("cmd", ("VSIM", key, "FP32", blob, *opts))
            reply_rows = _pairs(reply, 3)
        else:
            blob = encode_embedding(query, "query")
            reply = yield ("cmd", ("VSIM", keys[0], "FP32", blob, *opts))
            reply_rows = _pairs(reply, 3)
        out = []
        for row in reply_rows:
            if len(row) < 3:
                continue
            elem_b, score, attr = row[0], float(row[1]), row[2]
            if min_score is not None and score < min_score:
                continue
            elem_b = elem_b if isinstance(elem_b, bytes) else str(elem_b).encode()
            attrs = entry.parse_attributes(attr if isinstance(attr, (bytes, str)) else None)
            out.append(Similar(entry.text_of(elem_b, attrs), similarity_of(score), attrs))
        return out

    def _check_find(self, query: Any, k: Any, min_similarity: Any, ef: Any = None) -> None:
        if isinstance(k, bool) or not isinstance(k, int) or k <= 0:
            raise ValueError(f"k must be a positive int; got {k!r}")
        if ef is not None and (isinstance(ef, bool) or not isinstance(ef, int) or ef <= 0):
            raise ValueError(f"ef must be a positive int or None; got {ef!r}")
        if min_similarity is not None:
            check_threshold(min_similarity, "min_similarity")
        if not isinstance(query, str):
            encode_embedding(query, "query")

    async def find_similar(self, text_or_embedding: Union[str, Embedding], model: str = "default",
                           k: int = 10, min_similarity: Optional[float] = None, *,
                           filter: Optional[str] = None, ef: Optional[int] = None) -> List[Similar]:
        """The `k` cached entries of `model` nearest to a text (its cached embedding, else the
        embedder's) or an embedding, best first, as `Similar(text, similarity, attributes)`;
        `min_similarity` (cosine, [-1, 1]) drops weaker hits; `filter` is a VSIM FILTER
        expression over the attributes (e.g. '.topic == "finance"'); `ef` is VSIM's EF (the
        search's candidate list; the server's default when None). A model split over parts
        is searched in every part at once and the k best of all kept. [] after a
        non-critical failure."""
        self._check_find(text_or_embedding, k, min_similarity, ef)
        try:
            return await self._drive_async(
                self._find_op(text_or_embedding, model, k, min_similarity, filter, ef))
        except _FAILURES as e:
            self._failed(f"find_similar in {self.namespace + model!r}", e)
            return []

    def find_similar_sync(self, text_or_embedding: Union[str, Embedding], model: str = "default",
                          k: int = 10, min_similarity: Optional[float] = None, *,
                          filter: Optional[str] = None, ef: Optional[int] = None) -> List[Similar]:
        self._check_find(text_or_embedding, k, min_similarity, ef)
        try:
            return self._drive_sync(
                self._find_op(text_or_embedding, model, k, min_similarity, filter, ef))
        except _FAILURES as e:
            self._failed(f"find_similar in {self.namespace + model!r}", e)
            return []

    # ---- semantic_invalidate ----

    def _invalidate_op(self, query: Any, threshold: float, model: Optional[str],
                       filter: Optional[str]) -> Op:
        score = repr(score_of(threshold))
        tail: tuple = ("THRESHOLD", score)
        if filter is not None:
            tail += ("FILTER", filter)
        tail += ("WITHELEMENTS",)
        if model is not None:
            models = [model]
        else:
            models = yield from self._models_op()
            for m in models:
                self._parts_of(m)
            yield from self._checks_op()
        removed: List[Removed] = []
        if isinstance(query, str):
            elem, _ = element_name(query)
            missing = []
            for m in models:
                keys = [key for key, _ in self._parts_of(m)]
                if len(keys) > 1:
                    blob = yield from self._query_blob_op(query, m, "semantic_invalidate")
                    if blob is None:
                        missing.append(m)
                        continue
                    replies = yield ("par", [("VINVALIDATE", key, "FP32", blob, *tail)
                                             for key in keys])
                    for r in replies:
                        removed.extend(self._removed(m, self._value(r)))
                    continue
                key = keys[0]
                try:
                    reply = yield ("cmd", ("VINVALIDATE", key, "ELE", elem, *tail))
                except redis.exceptions.ResponseError as e:
                    if _NOT_FOUND not in str(e):
                        raise
                    if self._embedder_for(m) is None:
                        missing.append(m)
                        continue
                    emb = yield ("embed", query, m)
                    blob = encode_embedding(emb, "embedder(text)")
                    reply = yield ("cmd", ("VINVALIDATE", key, "FP32", blob, *tail))
                removed.extend(self._removed(m, reply))
            if missing and len(missing) == len(models):
                where = (f"model {model!r}" if model is not None
                         else f"any model of namespace {self.namespace!r} ({', '.join(missing)})")
                raise NoQueryEmbedding(
                    f"semantic_invalidate: the query text {query[:80]!r} is not cached in {where} "
                    "and the client has no embedder for it; pass embedder= to the client or "
                    "query with an embedding")
            if missing:
                logger.info("semantic_invalidate: %r is not cached in models %s and there is no "
                            "embedder for them; they were skipped", query[:80], missing)
        else:
            blob = encode_embedding(query, "query")
            dim = len(blob) // 4
            if model is None and models:
                # the models of the query's dimension (a part of a split model may be empty)
                all_keys = [(m, key) for m in models for key, _ in self._parts_of(m)]
                dims = yield ("pipe", [("VDIM", key) for _, key in all_keys])
                models = sorted({m for (m, _), d in zip(all_keys, dims) if d == dim})
            for m in models:
                keys = [key for key, _ in self._parts_of(m)]
                replies = yield ("par", [("VINVALIDATE", key, "FP32", blob, *tail)
                                         for key in keys])
                for r in replies:
                    removed.extend(self._removed(m, self._value(r)))
        return removed

    @staticmethod
    def _removed(model: str, reply: Any) -> List[Removed]:
        out = []
        for row in _pairs(reply, 2):
            if len(row) < 2:
                continue
            elem_b = row[0] if isinstance(row[0], bytes) else str(row[0]).encode()
            out.append(Removed(model, _s(elem_b), entry.text_of(elem_b, None),
                               similarity_of(float(row[1]))))
        return out

    def _check_invalidate(self, query: Any, threshold: Any, model: Optional[str]) -> float:
        t = check_threshold(threshold, "similarity_threshold")
        if model is not None:
            entry.set_key(self.namespace, model)
        if not isinstance(query, str):
            encode_embedding(query, "query")
        return t

    async def semantic_invalidate(self, query: Union[str, Embedding],
                                  similarity_threshold: float = 0.85,
                                  model: Optional[str] = None, *,
                                  filter: Optional[str] = None) -> List[Removed]:
        """Removes every cached entry whose cosine similarity to `query` is at least
        `similarity_threshold` (in [-1, 1]; sent to VINVALIDATE as the score (1 + t) / 2), in
        `model`'s set or, with model=None, in every model set of the namespace. A text query
        uses that text's cached embedding in each set that holds it, else the client's
        `embedder`; a text cached nowhere without an embedder raises NoQueryEmbedding. An
        embedding query applies to the sets of its dimension. `filter` (a VSIM FILTER
        expression) narrows what is removed. Returns what was removed ([] after a
        non-critical failure)."""
        t = self._check_invalidate(query, similarity_threshold, model)
        try:
            return await self._drive_async(self._invalidate_op(query, t, model, filter))
        except _FAILURES as e:
            self._failed("semantic_invalidate", e)
            return []

    def semantic_invalidate_sync(self, query: Union[str, Embedding],
                                 similarity_threshold: float = 0.85,
                                 model: Optional[str] = None, *,
                                 filter: Optional[str] = None) -> List[Removed]:
        t = self._check_invalidate(query, similarity_threshold, model)
        try:
            return self._drive_sync(self._invalidate_op(query, t, model, filter))
        except _FAILURES as e:
            self._failed("semantic_invalidate", e)
            return []

    # ---- stats ----

    def stats(self) -> Dict[str, Any]:
        """The seed's keys (hits, misses, total_requests, hit_rate, backend, shard) for this
        client's lookups, plus errors (failed operations, each failed get also a miss), sets,
        set_errors, coalesced (get_or_compute callers served by another's flight) and
        last_error. No I/O."""
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "total_requests": total,
            "hit_rate": self.hits / total if total > 0 else 0,
            "backend": "sutra_storage",
            "shard": (self._nodes_text() if self.cluster
                      else f"{self.cache_host}:{self.cache_port}"),
            "errors": self.errors,
            "sets": self.sets,
            "set_errors": self.set_errors,
            "coalesced": self._flights.coalesced,
            "last_error": self.last_error,
        }

    def migrate_from_redis(self, redis_client: redis.Redis, pattern: str = "*",
                           decode: Optional[Decoder] = None, model: str = "default",
                           batch: int = 500, progress: bool = True) -> dict:
        """See `migrate_from_redis`."""
        return migrate_from_redis(self, redis_client, pattern, decode, model, batch, progress)

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    async def aclose(self) -> None:
        if self._aio is not None and self._aio[1] is not None:
            await self._aio[1].aclose()
            self._aio = None

    def __enter__(self) -> "SutraCacheClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def json_decoder(key: bytes, value: bytes) -> Optional[Tuple[str, Embedding]]:
    """The default decoder: a JSON object with "text" and "embedding" (None skips the key)."""
    try:
        obj = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict) or "text" not in obj or "embedding" not in obj:
        return None
    return str(obj["text"]), obj["embedding"]


def migrate_from_redis(target: SutraCacheClient, redis_client: redis.Redis, pattern: str = "*",
                       decode: Optional[Decoder] = None, model: str = "default",
                       batch: int = 500, progress: bool = True) -> dict:
    """Copies every key of `redis_client` matching `pattern` into `target` as entries of
    `model` (the vector-set format of `SutraCacheClient.set`).

    `decode(key, value)` returns `(text, embedding)` or None to skip the key (default:
    `json_decoder`); a key whose embedding is invalid (NaN, not a list, ...) is skipped too.
    A remaining TTL is kept (rounded up to whole seconds in the attributes); keys without
    one get the target's default TTL. Shows a tqdm progress bar; returns
    {"migrated": n, "skipped": m}. Errors of the target or the source raise."""
    decode = decode or json_decoder
    total = redis_client.dbsize() if pattern == "*" else None
    migrated = skipped = 0
    from tqdm import tqdm  # the `client` extra; only migration draws a progress bar

    bar = tqdm(total=total, desc=f"migrate {pattern} -> {target.cache_host}:{target.cache_port}",
               unit="key", disable=not progress)
    keys: list = []
    client = target._sync_client()

    def flush(keys: list) -> None:
        nonlocal migrated, skipped
        read = redis_client.pipeline(transaction=False)
        for k in keys:
            read.get(k)
            read.pttl(k)
        replies = read.execute()
        write = client.pipeline(transaction=False)
        n = 0
        now = time.time()
        for i, k in enumerate(keys):
            value, pttl = replies[2 * i], replies[2 * i + 1]
            item = decode(k, value) if isinstance(value, bytes) else None
            if item is None:
                skipped += 1
                continue
            text, embedding = item
            try:
                args, _ = target._set_args(text, embedding, model, None, None, now,
                                           pttl if isinstance(pttl, int) and pttl > 0 else None)
            except ValueError:
                skipped += 1
                continue
            write.execute_command(*args)
            n += 1
        if n:
            if target._unchecked:
                target._drive_sync(target._checks_op())
            write.execute()
        migrated += n
        bar.update(len(keys))

    try:
        for key in redis_client.scan_iter(match=pattern, count=batch):
            keys.append(key)
            if len(keys) >= batch:
                flush(keys)
                keys = []
        if keys:
            flush(keys)
    finally:
        bar.close()
    return {"migrated": migrated, "skipped": skipped}


__all__: Iterable[str] = (
    "SutraCacheClient", "Similar", "Removed", "embedding_key", "migrate_from_redis",
    "json_decoder", "check_threshold", "score_of", "similarity_of",
)
