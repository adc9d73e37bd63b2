"""The seed's client API over RESP (redis-py): `SutraCacheClient`, `MultiTierSutraCache`
(an in-process L1 in front of a shard) and `migrate_from_redis`.

Embeddings are stored as blobs of little-endian float32 under `embedding_key(text, model)`
= f"{model}:{sha256(text).hexdigest()}", so any RESP server holding them (sutra-cache or
Redis) serves the same keys. Every coroutine has a `_sync` twin.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Callable, Optional, Sequence, Tuple, Union

import numpy as np
import redis
import redis.asyncio as aioredis
from tqdm import tqdm

from .engine import Cache

Embedding = Union[Sequence[float], np.ndarray]
Decoder = Callable[[bytes, bytes], Optional[Tuple[str, Embedding]]]


def embedding_key(text: str, model: str) -> str:
    """The cache key of `(model, text)`: f"{model}:{sha256(text) in hex}"."""
    return f"{model}:{hashlib.sha256(text.encode('utf-8')).hexdigest()}"


def encode_embedding(embedding: Embedding) -> bytes:
    """Little-endian float32 bytes of an embedding."""
    return np.asarray(embedding, dtype="<f4").tobytes()


def decode_embedding(raw: bytes) -> np.ndarray:
    """A read-only float32 view of stored bytes (no copy)."""
    return np.frombuffer(raw, dtype="<f4")


def _ex_ms(ttl_seconds: Optional[float]) -> Optional[int]:
    if ttl_seconds is None or ttl_seconds <= 0:
        return None
    return max(1, int(ttl_seconds * 1000))


class SutraCacheClient:
    """A client of one cache shard (sutra-cache's RESP port, 50051 by default).

    `stats()` counts this client's lookups: hits, misses, total_requests, hit_rate, plus
    `backend` (what the server says it is) and `shard` (host:port).
    """

    def __init__(self, cache_host: str = "localhost", cache_port: int = 50051,
                 default_ttl_seconds: Optional[float] = None, *, password: Optional[str] = None,
                 socket_timeout: float = 5.0) -> None:
        self.cache_host = cache_host
        self.cache_port = cache_port
        self.default_ttl_seconds = default_ttl_seconds
        self._kw = dict(host=cache_host, port=cache_port, password=password,
                        socket_timeout=socket_timeout)
        self._redis = redis.Redis(**self._kw)
        self._aio: Optional[Tuple[asyncio.AbstractEventLoop, aioredis.Redis]] = None
        self._backend: Optional[str] = None
        self.hits = 0
        self.misses = 0

    def _async_client(self) -> aioredis.Redis:
        loop = asyncio.get_running_loop()
        if self._aio is None or self._aio[0] is not loop:
            self._aio = (loop, aioredis.Redis(**self._kw))
        return self._aio[1]

    def _ttl_ms(self, ttl_seconds: Optional[float]) -> Optional[int]:
        return _ex_ms(self.default_ttl_seconds if ttl_seconds is None else ttl_seconds)

    def _count(self, raw: Optional[bytes]) -> Optional[np.ndarray]:
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return decode_embedding(raw)

    # ---- raw blobs (used by the two-tier cache) ----

    def get_raw_sync(self, key: str) -> Optional[bytes]:
        return self._redis.get(key)

    async def get_raw(self, key: str) -> Optional[bytes]:
        return await self._async_client().get(key)

    def set_raw_sync(self, key: str, value: bytes, ttl_seconds: Optional[float] = None) -> bool:
        return bool(self._redis.set(key, value, px=self._ttl_ms(ttl_seconds)))

    async def set_raw(self, key: str, value: bytes, ttl_seconds: Optional[float] = None) -> bool:
        return bool(await self._async_client().set(key, value, px=self._ttl_ms(ttl_seconds)))

    # ---- the seed's API ----

    async def get(self, text: str, model: str = "default") -> Optional[np.ndarray]:
        """The cached embedding of `text` under `model`, or None."""
        return self._count(await self.get_raw(embedding_key(text, model)))

    def get_sync(self, text: str, model: str = "default") -> Optional[np.ndarray]:
        return self._count(self.get_raw_sync(embedding_key(text, model)))

    async def set(self, text: str, embedding: Embedding, model: str = "default",
                  ttl_seconds: Optional[float] = None) -> bool:
        """Caches `embedding` for `(model, text)`; `ttl_seconds` None = the client's default."""
        return await self.set_raw(embedding_key(text, model), encode_embedding(embedding), ttl_seconds)

    def set_sync(self, text: str, embedding: Embedding, model: str = "default",
                 ttl_seconds: Optional[float] = None) -> bool:
        return self.set_raw_sync(embedding_key(text, model), encode_embedding(embedding), ttl_seconds)

    async def clear(self) -> None:
        """Empties the shard (FLUSHDB) and resets this client's counters."""
        await self._async_client().flushdb()
        self.hits = self.misses = 0

    def clear_sync(self) -> None:
        self._redis.flushdb()
        self.hits = self.misses = 0

    def _stats(self, backend: str) -> dict:
        total = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "total_requests": total,
            "hit_rate": self.hits / total if total else 0.0,
            "backend": backend,
            "shard": f"{self.cache_host}:{self.cache_port}",
        }

    @staticmethod
    def _backend_of(info: dict) -> str:
        return "sutra-cache" if any(str(k).startswith("sutra") for k in info) else "redis"

    async def stats(self) -> dict:
        """hits, misses, total_requests, hit_rate, backend, shard."""
        if self._backend is None:
            self._backend = self._backend_of(await self._async_client().info("server"))
        return self._stats(self._backend)

    def stats_sync(self) -> dict:
        if self._backend is None:
            self._backend = self._backend_of(self._redis.info("server"))
        return self._stats(self._backend)

    def migrate_from_redis(self, redis_client: redis.Redis, pattern: str = "*",
                           decode: Optional[Decoder] = None, model: str = "default",
                           batch: int = 500, progress: bool = True) -> dict:
        """See `migrate_from_redis`."""
        return migrate_from_redis(self, redis_client, pattern, decode, model, batch, progress)

    def close(self) -> None:
        self._redis.close()

    async def aclose(self) -> None:
        if self._aio is not None:
            await self._aio[1].aclose()
            self._aio = None


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
    """Copies every key of `redis_client` matching `pattern` into `target`.

    `decode(key, value)` returns `(text, embedding)` or None to skip the key (default:
    `json_decoder`). Keys are rewritten as `embedding_key(text, model)`; a remaining TTL is
    kept. Shows a tqdm progress bar; returns {"migrated": n, "skipped": m}.
    """
    decode = decode or json_decoder
    total = redis_client.dbsize() if pattern == "*" else None
    migrated = skipped = 0
    bar = tqdm(total=total, desc=f"migrate {pattern} -> {target.cache_host}:{target.cache_port}",
               unit="key", disable=not progress)
    keys: list = []

    def flush(keys: list) -> None:
        nonlocal migrated, skipped
        read = redis_client.pipeline(transaction=False)
        for k in keys:
            read.get(k)
            read.pttl(k)
        replies = read.execute()
        write = target._redis.pipeline(transaction=False)
        n = 0
        for i, k in enumerate(keys):
            value, pttl = replies[2 * i], replies[2 * i + 1]
            item = decode(k, value) if isinstance(value, bytes) else None
            if item is None:
                skipped += 1
                continue
            text, embedding = item
            px = pttl if isinstance(pttl, int) and pttl > 0 else target._ttl_ms(None)
            write.set(embedding_key(text, model), encode_embedding(embedding), px=px)
            n += 1
        if n:
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


class MultiTierSutraCache:
    """An in-process L1 (the embedded engine: O(1) LRU, `l1_max_size` entries) in front of a
    shard (L2). Reads promote L2 hits into L1; writes go through to both."""

    def __init__(self, l1_max_size: int = 10_000, cache_shard_host: str = "localhost",
                 cache_shard_port: int = 50051, default_ttl_seconds: Optional[float] = None,
                 *, password: Optional[str] = None) -> None:
        if l1_max_size <= 0:
            raise ValueError(f"l1_max_size must be > 0; got {l1_max_size}")
        self.l1_max_size = l1_max_size
        self.l1 = Cache(max_entries=l1_max_size, eviction_policy="lru",
                        active_expire_interval_ms=0)
        self.l2 = SutraCacheClient(cache_shard_host, cache_shard_port, default_ttl_seconds,
                                   password=password)
        self.l1_hits = self.l1_misses = self.l2_hits = self.l2_misses = 0

    def _l1_ttl(self, ttl_seconds: Optional[float]) -> Optional[int]:
        ms = self.l2._ttl_ms(ttl_seconds)
        return ms if ms is not None else -1

    def _l1_get(self, key: str) -> Optional[np.ndarray]:
        raw = self.l1.get(key)
        if raw is not None:
            self.l1_hits += 1
            return decode_embedding(raw)
        self.l1_misses += 1
        return None

    def _promote(self, key: str, raw: Optional[bytes]) -> Optional[np.ndarray]:
        if raw is None:
            self.l2_misses += 1
            return None
        self.l2_hits += 1
        self.l1.set(key, raw, -1)
        return decode_embedding(raw)

    def get_sync(self, text: str, model: str = "default") -> Optional[np.ndarray]:
        key = embedding_key(text, model)
        hit = self._l1_get(key)
        return hit if hit is not None else self._promote(key, self.l2.get_raw_sync(key))

    async def get(self, text: str, model: str = "default") -> Optional[np.ndarray]:
        key = embedding_key(text, model)
        hit = self._l1_get(key)
        return hit if hit is not None else self._promote(key, await self.l2.get_raw(key))

    def set_sync(self, text: str, embedding: Embedding, model: str = "default",
                 ttl_seconds: Optional[float] = None) -> bool:
        key, raw = embedding_key(text, model), encode_embedding(embedding)
        self.l1.set(key, raw, self._l1_ttl(ttl_seconds))
        return self.l2.set_raw_sync(key, raw, ttl_seconds)

    async def set(self, text: str, embedding: Embedding, model: str = "default",
                  ttl_seconds: Optional[float] = None) -> bool:
        key, raw = embedding_key(text, model), encode_embedding(embedding)
        self.l1.set(key, raw, self._l1_ttl(ttl_seconds))
        return await self.l2.set_raw(key, raw, ttl_seconds)

    def clear_sync(self) -> None:
        self.l1.flush()
        self.l2.clear_sync()
        self.l1_hits = self.l1_misses = self.l2_hits = self.l2_misses = 0

    async def clear(self) -> None:
        self.l1.flush()
        await self.l2.clear()
        self.l1_hits = self.l1_misses = self.l2_hits = self.l2_misses = 0

    def _stats(self, l2: dict) -> dict:
        hits = self.l1_hits + self.l2_hits
        total = self.l1_hits + self.l1_misses
        return {
            "hits": hits,
            "misses": self.l2_misses,
            "total_requests": total,
            "hit_rate": hits / total if total else 0.0,
            "backend": f"multi-tier(l1=embedded, l2={l2['backend']})",
            "shard": l2["shard"],
            "l1": {
                "hits": self.l1_hits,
                "misses": self.l1_misses,
                "hit_rate": self.l1_hits / total if total else 0.0,
                "size": self.l1.stats()["keys"],
                "max_size": self.l1_max_size,
            },
            "l2": {
                "hits": self.l2_hits,
                "misses": self.l2_misses,
                "hit_rate": self.l2_hits / self.l1_misses if self.l1_misses else 0.0,
                "backend": l2["backend"],
            },
        }

    def stats_sync(self) -> dict:
        return self._stats(self.l2.stats_sync())

    async def stats(self) -> dict:
        return self._stats(await self.l2.stats())

    def close(self) -> None:
        self.l1.close()
        self.l2.close()
