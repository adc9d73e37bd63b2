"""The embedded engine: `Cache` over the C ABI, numpy float32 in and out.

Inputs that are already C-contiguous float32 arrays are passed to the engine without a copy;
`vget`, `vget_many` and `search` can write into arrays the caller preallocated (`out=`).
A `Cache` may be shared by threads (the engine is thread-safe and calls release the GIL);
`close` must not overlap other calls. `get` and `search`'s common calls are one C function
each (`_fastcall.c`, no cffi argument conversion); they keep the GIL for a blob of at most
64 KiB and for a search with max(k, ef) <= 16 (ef given, not exhaustive), work shorter than
handing the GIL over and back.

The engine has 16 numbered databases, as Redis: a `Cache` addresses one of them, database 0
unless opened with `db=` (`redis.Redis(db=N)`'s meaning); `Cache.select(db)` returns another
`Cache` over the same engine addressing database `db`.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from . import errors
from ._ffi import ffi, lib

try:  # Cache.get and Cache.search's common calls in C (_fastcall.c); else cffi's path
    from . import _fastcall
except ImportError:  # pragma: no cover - a build without it (e.g. the sources on sys.path)
    _fastcall = None

Key = Union[bytes, str]

_METRICS = {None: lib.SUTRA_UNSPECIFIED, "cosine": lib.SUTRA_METRIC_COSINE,
            "dot": lib.SUTRA_METRIC_DOT, "l2": lib.SUTRA_METRIC_L2}
_STORAGE = {None: lib.SUTRA_UNSPECIFIED, "exact": lib.SUTRA_STORAGE_EXACT,
            "q8": lib.SUTRA_STORAGE_Q8, "noquant": lib.SUTRA_STORAGE_NOQUANT,
            "bin": lib.SUTRA_STORAGE_BIN}
_POLICIES = {"lru": lib.SUTRA_EVICTION_LRU, "lfu": lib.SUTRA_EVICTION_LFU,
             "noeviction": lib.SUTRA_EVICTION_NOEVICTION}

#: `wal_sync_interval_ms` values (a positive value is a period in ms): the C ABI's.
WAL_SYNC_DEFAULT = lib.SUTRA_WAL_SYNC_DEFAULT
WAL_SYNC_ALWAYS = lib.SUTRA_WAL_SYNC_ALWAYS
WAL_SYNC_NEVER = lib.SUTRA_WAL_SYNC_NEVER


_cache_get = lib.sutra_cache_get
_vector_get = lib.sutra_vector_get
_vector_search = lib.sutra_vector_search
_unpack = ffi.unpack
_from_buffer = ffi.from_buffer
_F32 = np.dtype(np.float32)
#: `sutra_search_hit` as a numpy record (a batched search's output buffer).
_HIT = np.dtype([("off", np.uintp), ("len", np.uintp), ("score", np.float32)], align=True)
assert _HIT.itemsize == ffi.sizeof("sutra_search_hit")
#: Hit counts whose score views `_Scratch` keeps made (`Cache.search`'s results).
_SCORE_VIEWS = 64

#: What `_fastcall.Handle`'s calls return for anything they leave to the Python path.
_SLOW = object()


def _address(name: str) -> int:
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))


if _fastcall is not None:
    try:
        _fastcall.bind(_address("sutra_cache_get"), _address("sutra_vector_search"),
                       _address("sutra_search_params_init"), _SLOW, np.empty, _F32)
    except (AttributeError, TypeError, ffi.error):  # pragma: no cover - no function addresses
        _fastcall = None


class _NoFast:
    """A closed `Cache`'s (or a build without `_fastcall`'s) fast calls: every call goes the
    Python way."""

    __slots__ = ()

    def get(self, key: object) -> object:
        return _SLOW

    def search(self, *args: object) -> object:
        return _SLOW

    def close(self) -> None:
        pass


_NO_FAST = _NoFast()


def _fast_calls(h: object) -> object:
    """The fast calls over handle `h` (the C functions take its address)."""
    if _fastcall is None or h == ffi.NULL:
        return _NO_FAST
    return _fastcall.Handle(int(ffi.cast("uintptr_t", h)))


def version() -> str:
    """The library's version."""
    return ffi.string(lib.sutra_version()).decode()


def simd_isa() -> str:
    """The SIMD instruction set the distance kernels use."""
    return ffi.string(lib.sutra_simd_isa()).decode()


def _b(key: Key) -> bytes:
    return key.encode() if isinstance(key, str) else bytes(key)


def _ttl(ttl_ms: Optional[int]) -> int:
    """None = the default TTL; -1 never expires; > 0 ms."""
    if ttl_ms is None:
        return lib.SUTRA_TTL_DEFAULT
    if ttl_ms == -1:
        return lib.SUTRA_TTL_NEVER
    if ttl_ms <= 0:
        raise errors.InvalidArgument(f"ttl_ms must be > 0, -1 (never) or None (default); got {ttl_ms}")
    return int(ttl_ms)


def _f32(v: object, name: str) -> np.ndarray:
    a = np.ascontiguousarray(v, dtype=np.float32)
    if a.ndim != 1:
        raise errors.InvalidArgument(f"{name} must be one-dimensional; got shape {a.shape}")
    return a


class _Scratch(threading.local):
    """Per-thread out-parameters, so a call allocates nothing on the hit path."""

    def __init__(self) -> None:
        self.err = ffi.new("sutra_error *")
        self.size = ffi.new("size_t *")
        self.size2 = ffi.new("size_t *")
        self.u64 = ffi.new("uint64_t *")
        self.i64 = ffi.new("int64_t *")
        self.flag = ffi.new("bool *")
        self.flag2 = ffi.new("bool *")
        self.cap = 4096
        self.cbuf = ffi.new("uint8_t[]", self.cap)
        # The buffer as `char *`: ffi.unpack of it makes the result's bytes in one step.
        self.text = ffi.cast("char *", self.cbuf)
        # The hit paths read these in one attribute access: each attribute read on a
        # threading.local costs about as much as the C call itself.
        self.get_args = (self.cbuf, self.cap, self.size, self.flag, self.err, self.text)
        self.len_flag_err = (self.size, self.flag, self.err)
        # Searches: the parameters (and what they were last set to), the hits array and its
        # fields as numpy views (made once: a field view costs as much as the call).
        self.sp = ffi.new("sutra_search_params *")
        lib.sutra_search_params_init(self.sp)
        self.sp_key: Optional[tuple] = None
        self.hits = np.empty(0, dtype=_HIT)
        self.grow_hits(16)

    def grow(self, n: int) -> None:
        self.cap = max(n, 2 * self.cap)
        self.cbuf = ffi.new("uint8_t[]", self.cap)
        self.text = ffi.cast("char *", self.cbuf)
        self.get_args = (self.cbuf, self.cap, self.size, self.flag, self.err, self.text)
        self.search_out = (self.hits_ptr, self.hits.size, self.cbuf, self.cap, self.size,
                           self.size2, self.err)
        self.refresh()

    def refresh(self) -> None:
        """`Cache.search`'s whole per-thread state in one attribute (one threading.local
        read): the parameters' key and struct, the call's out-arguments, the names buffer,
        the hit count and names length, and the scores' views for 0..`_SCORE_VIEWS` hits."""
        self.fast = (self.sp_key, self.sp, self.search_out, self.text, self.size, self.size2,
                     self.score_views)

    def grow_hits(self, n: int) -> None:
        self.hits = np.empty(max(n, 2 * self.hits.size), dtype=_HIT)
        self.hits_ptr = ffi.from_buffer("sutra_search_hit[]", self.hits, require_writable=True)
        self.hits_fields = (self.hits["off"], self.hits["len"], self.hits["score"])
        # Made once, not per call: slicing a view costs about as much as copying it.
        score = self.hits_fields[2]
        self.score_views = tuple(score[:n] for n in range(min(self.hits.size, _SCORE_VIEWS) + 1))
        # What a search call takes after its parameters, in one attribute read.
        self.search_out = (self.hits_ptr, self.hits.size, self.cbuf, self.cap, self.size,
                           self.size2, self.err)
        self.refresh()


def _raise(status: int, err: object) -> None:
    message = ffi.string(err.message).decode("utf-8", "replace") or ffi.string(
        lib.sutra_status_name(status)).decode()
    raise errors.from_status(status, message)


class Cache:
    """An embedded sutra-cache engine (in memory)."""

    def __init__(
        self,
        path: Optional[str] = None,
        *,
        max_entries: int = 0,
        max_bytes: int = 0,
        eviction_policy: str = "lru",
        default_ttl_ms: int = 0,
        active_expire_interval_ms: Optional[int] = None,
        wal_sync_interval_ms: Optional[int] = None,
        checkpoint_on_close: Optional[bool] = None,
        default_storage_mode: str = "exact",
        vector_dimension: int = 0,
        db: int = 0,
    ) -> None:
        """Opens a cache; `path` is a data directory (None keeps it in memory only).
        `wal_sync_interval_ms`: > 0 = fdatasync every that many ms, `WAL_SYNC_DEFAULT` (every
        5000 ms), `WAL_SYNC_ALWAYS` (before each acknowledgement) or `WAL_SYNC_NEVER`.
        `default_storage_mode` ("exact", "q8", "noquant", "bin"): storage of a set created by an
        add that names none (the server's VECTOR_STORAGE). `vector_dimension` > 0: every
        vector added must have it, else DimensionMismatch naming both (the server's
        VECTOR_DIMENSION); 0 = any. `db`: the database (0..15) every call of this `Cache`
        addresses, as `redis.Redis(db=N)`; `select` gives others."""
        self._h = ffi.NULL
        self._fast = _NO_FAST  # this handle's fast calls (`_fast_calls`)
        self._engine_h = ffi.NULL  # the handle sutra_cache_open returned: closing it closes
        self._parent: Optional[Cache] = None
        if isinstance(db, bool) or not isinstance(db, int):
            raise errors.InvalidArgument(f"db: an int; got {db!r}")
        self._s = _Scratch()
        self._name_guess = 16  # bytes per hit name a batched search first allows
        opts = ffi.new("sutra_options *")
        lib.sutra_options_init(opts)
        opts.max_entries = max_entries
        opts.max_bytes = max_bytes
        if eviction_policy not in _POLICIES:
            raise errors.InvalidArgument(f"eviction_policy: one of {sorted(_POLICIES)}; got {eviction_policy!r}")
        opts.eviction_policy = _POLICIES[eviction_policy]
        opts.default_ttl_ms = default_ttl_ms
        if active_expire_interval_ms is not None:
            opts.active_expire_interval_ms = active_expire_interval_ms
        if wal_sync_interval_ms is not None:
            opts.wal_sync_interval_ms = wal_sync_interval_ms
        if checkpoint_on_close is not None:
            opts.checkpoint_on_close = checkpoint_on_close
        if default_storage_mode is None or default_storage_mode not in _STORAGE:
            raise errors.InvalidArgument(
                f"default_storage_mode: one of exact, q8, noquant, bin; got {default_storage_mode!r}")
        opts.default_storage_mode = _STORAGE[default_storage_mode]
        if not isinstance(vector_dimension, int) or vector_dimension < 0:
            raise errors.InvalidArgument(f"vector_dimension: an int >= 0; got {vector_dimension!r}")
        opts.vector_dimension = vector_dimension
        out = ffi.new("sutra_cache **")
        cpath = ffi.NULL if path is None else path.encode()
        st = lib.sutra_cache_open(cpath, opts, out, self._s.err)
        if st:
            _raise(st, self._s.err)
        self._engine_h = self._h = out[0]
        if db != 0:
            try:
                self._h = self._select_handle(db)
            except BaseException:
                self.close()
                raise
        self._fast = _fast_calls(self._h)

    def _select_handle(self, db: int) -> object:
        if isinstance(db, bool) or not isinstance(db, int):
            raise errors.InvalidArgument(f"db: an int; got {db!r}")
        if not 0 <= db < 2**32:
            raise errors.InvalidArgument(
                f"db: a database index in 0..={self.databases - 1}; got {db}")
        out = ffi.new("sutra_cache **")
        st = lib.sutra_cache_select(self._handle(), db, out, self._s.err)
        if st:
            _raise(st, self._s.err)
        return out[0]

    # ---- databases ----

    def select(self, db: int) -> "Cache":
        """Another `Cache` over the same engine addressing database `db` (Redis's SELECT;
        0..15, else InvalidArgument naming db and the range); this one keeps its database.
        Its `close` frees only it; closing the `Cache` that opened the engine closes the engine
        (calls through a selected one then raise Closed). The selected `Cache` keeps the one it
        came from alive."""
        view = Cache.__new__(Cache)
        view._h = ffi.NULL
        view._fast = _NO_FAST
        view._engine_h = ffi.NULL
        view._parent = self
        view._s = _Scratch()
        view._name_guess = self._name_guess
        view._h = self._select_handle(db)
        view._fast = _fast_calls(view._h)
        return view

    @property
    def db(self) -> int:
        """The database this `Cache` addresses."""
        db = ffi.new("uint32_t *")
        st = lib.sutra_cache_db(self._handle(), db, ffi.NULL, self._s.err)
        if st:
            _raise(st, self._s.err)
        return int(db[0])

    @property
    def databases(self) -> int:
        """How many databases the engine has."""
        n = ffi.new("uint32_t *")
        st = lib.sutra_cache_db(self._handle(), ffi.NULL, n, self._s.err)
        if st:
            _raise(st, self._s.err)
        return int(n[0])

    def dbsize(self) -> int:
        """Number of keys in this `Cache`'s database (Redis's DBSIZE)."""
        s = self._s
        st = lib.sutra_cache_dbsize(self._handle(), s.u64, s.err)
        if st:
            _raise(st, s.err)
        return int(s.u64[0])

    def flushdb(self) -> None:
        """Removes every key of this `Cache`'s database (Redis's FLUSHDB)."""
        st = lib.sutra_cache_flushdb(self._handle(), self._s.err)
        if st:
            _raise(st, self._s.err)

    # ---- lifetime ----

    def close(self) -> None:
        """Closes this `Cache` (idempotent): the engine too when this `Cache` opened it (every
        `Cache` selected from it then raises Closed); a selected `Cache` frees only itself."""
        getattr(self, "_fast", _NO_FAST).close()
        self._fast = _NO_FAST
        h, self._h = getattr(self, "_h", ffi.NULL), ffi.NULL
        engine_h, self._engine_h = getattr(self, "_engine_h", ffi.NULL), ffi.NULL
        self._parent = None
        if h != ffi.NULL and h != engine_h:
            st = lib.sutra_cache_close(h, self._s.err)
            if st:
                lib.sutra_cache_close(engine_h, ffi.NULL)
                _raise(st, self._s.err)
        if engine_h != ffi.NULL:
            st = lib.sutra_cache_close(engine_h, self._s.err)
            if st:
                _raise(st, self._s.err)

    def __enter__(self) -> "Cache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        h = getattr(self, "_h", None)
        engine_h = getattr(self, "_engine_h", None)
        if h is not None and h != ffi.NULL and h != engine_h:
            lib.sutra_cache_close(h, ffi.NULL)
        getattr(self, "_fast", _NO_FAST).close()
        if engine_h is not None and engine_h != ffi.NULL:
            lib.sutra_cache_close(engine_h, ffi.NULL)
        self._h = self._engine_h = ffi.NULL

    def _handle(self) -> object:
        if self._h == ffi.NULL:
            raise errors.Closed("the cache is closed")
        return self._h

    # ---- blobs ----

    def set(self, key: Key, value: bytes, ttl_ms: Optional[int] = None, *, nx: bool = False,
            xx: bool = False) -> bool:
        """Writes a blob; False when `nx`/`xx` did not hold."""
        s = self._s
        k = _b(key)
        flags = (lib.SUTRA_SET_IF_ABSENT if nx else 0) | (lib.SUTRA_SET_IF_PRESENT if xx else 0)
        st = lib.sutra_cache_set(self._handle(), k, len(k), value, len(value), _ttl(ttl_ms),
                                 flags, s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def get(self, key: Key) -> Optional[bytes]:
        """A blob's bytes, or None."""
        r = self._fast.get(key)
        if r is not _SLOW:
            return r
        return self._get(key)

    def _get(self, key: Key) -> Optional[bytes]:
        # The general path (cffi): what `_fastcall` leaves to Python, and the whole of it
        # without that module.
        if type(key) is not bytes:
            key = _b(key)
        h = self._h
        if not h:
            raise errors.Closed("the cache is closed")
        while True:
            cbuf, cap, size, flag, err, text = self._s.get_args
            st = _cache_get(h, key, len(key), cbuf, cap, size, flag, err)
            if st == 0:
                return _unpack(text, size[0]) if flag[0] else None
            if st != lib.SUTRA_BUFFER_TOO_SMALL:
                _raise(st, err)
            self._s.grow(size[0])

    def get_into(self, key: Key, out: Union[bytearray, memoryview, np.ndarray]) -> Optional[int]:
        """Copies a blob into the caller's writable buffer (no allocation); returns its length,
        or None on a miss. A buffer that is too small raises BufferTooSmall."""
        if type(key) is not bytes:
            key = _b(key)
        h = self._h
        if not h:
            raise errors.Closed("the cache is closed")
        buf = _from_buffer(out, require_writable=True)
        size, flag, err = self._s.len_flag_err
        st = _cache_get(h, key, len(key), buf, len(buf), size, flag, err)
        if st:
            _raise(st, err)
        return size[0] if flag[0] else None

    def delete(self, key: Key) -> bool:
        """Deletes a key (blob or vector set); True when it existed."""
        s = self._s
        k = _b(key)
        st = lib.sutra_cache_del(self._handle(), k, len(k), s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def flush(self) -> None:
        """Removes every key of every database (Redis's FLUSHALL; `flushdb` empties one)."""
        st = lib.sutra_cache_flush(self._handle(), self._s.err)
        if st:
            _raise(st, self._s.err)

    def expire(self, key: Key, ttl_ms: int) -> bool:
        """Sets a key to expire in `ttl_ms` ms (0 deletes); False when it does not exist."""
        s = self._s
        k = _b(key)
        if ttl_ms < 0:
            raise errors.InvalidArgument(f"ttl_ms must be >= 0; got {ttl_ms}")
        st = lib.sutra_cache_expire(self._handle(), k, len(k), ttl_ms, s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def persist(self, key: Key) -> bool:
        """Removes a key's expiry; True when it had one."""
        s = self._s
        k = _b(key)
        st = lib.sutra_cache_persist(self._handle(), k, len(k), s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def ttl(self, key: Key) -> int:
        """Remaining TTL in ms; -1 without expiry, -2 when missing (Redis's PTTL)."""
        s = self._s
        k = _b(key)
        st = lib.sutra_cache_ttl(self._handle(), k, len(k), s.i64, s.err)
        if st:
            _raise(st, s.err)
        return int(s.i64[0])

    # ---- vector sets ----

    def _set_opts(self, metric: Optional[str], storage: Optional[str], m: Optional[int],
                  ef_construction: Optional[int]) -> object:
        if metric is None and storage is None and m is None and ef_construction is None:
            return ffi.NULL
        if metric not in _METRICS:
            raise errors.InvalidArgument(f"metric: one of cosine, dot, l2; got {metric!r}")
        if storage not in _STORAGE:
            raise errors.InvalidArgument(f"storage: one of exact, q8, noquant, bin; got {storage!r}")
        o = ffi.new("sutra_vector_set_options *")
        lib.sutra_vector_set_options_init(o)
        o.metric, o.storage = _METRICS[metric], _STORAGE[storage]
        o.m, o.ef_construction = m or 0, ef_construction or 0
        return o

    def vadd(self, key: Key, element: Key, vector: object, *, attributes: Optional[str] = None,
             ttl_ms: Optional[int] = None, metric: Optional[str] = None,
             storage: Optional[str] = None, m: Optional[int] = None,
             ef_construction: Optional[int] = None) -> bool:
        """Adds or updates one element (creating the set); True when it is new."""
        s = self._s
        k, e, v = _b(key), _b(element), _f32(vector, "vector")
        a, alen = (ffi.NULL, 0) if attributes is None else (attributes.encode(), len(attributes.encode()))
        st = lib.sutra_vector_add(self._handle(), k, len(k), e, len(e),
                                  ffi.from_buffer("float[]", v), v.size, a, alen, _ttl(ttl_ms),
                                  self._set_opts(metric, storage, m, ef_construction), s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def vadd_many(self, key: Key, elements: Sequence[Key], vectors: object, *,
                  ttl_ms: Optional[int] = None, metric: Optional[str] = None,
                  storage: Optional[str] = None, m: Optional[int] = None,
                  ef_construction: Optional[int] = None) -> int:
        """Adds rows of `vectors` (n × dim) under `elements`; returns how many were new."""
        s = self._s
        k = _b(key)
        mat = np.ascontiguousarray(vectors, dtype=np.float32)
        if mat.ndim != 2 or mat.shape[0] != len(elements):
            raise errors.InvalidArgument(
                f"vectors must be (len(elements), dim); got {mat.shape} for {len(elements)} elements")
        names = [_b(e) for e in elements]
        cnames = [ffi.from_buffer(n) for n in names]
        ptrs = ffi.new("uint8_t *[]", cnames)
        lens = ffi.new("size_t[]", [len(n) for n in names])
        st = lib.sutra_vector_add_many(self._handle(), k, len(k), ptrs, lens,
                                       ffi.from_buffer("float[]", mat), mat.shape[0], mat.shape[1],
                                       _ttl(ttl_ms),
                                       self._set_opts(metric, storage, m, ef_construction),
                                       s.size, s.err)
        if st:
            _raise(st, s.err)
        return int(s.size[0])

    def vinfo(self, key: Key) -> Tuple[int, int]:
        """(dimension, element count) of a set; (0, 0) when missing."""
        s = self._s
        k = _b(key)
        st = lib.sutra_vector_info(self._handle(), k, len(k), s.size, s.u64, s.err)
        if st:
            _raise(st, s.err)
        return int(s.size[0]), int(s.u64[0])

    def vget(self, key: Key, element: Key, out: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """The element's vector (float32), or None. With `out` (a C-contiguous float32 array
        at least the set's dimension long) the vector is written there and `out` (or a view of
        its first `dim` floats when it is longer) returned."""
        if type(key) is not bytes:
            key = _b(key)
        if type(element) is not bytes:
            element = _b(element)
        h = self._h
        if not h:
            raise errors.Closed("the cache is closed")
        size, flag, err = self._s.len_flag_err
        callers = out is not None
        if out is None:
            dim, _ = self.vinfo(key)
            out = np.empty(max(dim, 1), dtype=np.float32)
        elif out.dtype != _F32 or not out.flags.c_contiguous:
            raise errors.InvalidArgument("out must be a C-contiguous float32 array")
        while True:
            n = out.size
            st = _vector_get(h, key, len(key), element, len(element),
                             _from_buffer("float[]", out, require_writable=True), n,
                             size, flag, err)
            if st == 0:
                if not flag[0]:
                    return None
                got = size[0]
                return out if got == n and out.ndim == 1 else out[:got]
            if st != lib.SUTRA_BUFFER_TOO_SMALL or callers:
                _raise(st, err)  # a caller's buffer that is too small is the caller's error
            out = np.empty(size[0], dtype=np.float32)

    def vget_many(self, key: Key, elements: Sequence[Key],
                  out: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
        """(vectors (n × dim) float32, found (n,) bool) for many elements of one set; a miss's
        row is zeros. `out` may be a preallocated C-contiguous float32 (n × dim) array."""
        s = self._s
        k = _b(key)
        names = [_b(e) for e in elements]
        n = len(names)
        ptrs = ffi.new("uint8_t *[]", [ffi.from_buffer(x) for x in names])
        lens = ffi.new("size_t[]", [len(x) for x in names])
        if out is None:
            dim, _ = self.vinfo(key)
            out = np.empty((n, dim), dtype=np.float32)
        elif out.dtype != np.float32 or not out.flags.c_contiguous:
            raise errors.InvalidArgument("out must be a C-contiguous float32 array")
        found = np.zeros(n, dtype=np.uint8)
        st = lib.sutra_vector_get_many(self._handle(), k, len(k), ptrs, lens, n,
                                       ffi.from_buffer("float[]", out, require_writable=True), out.size,
                                       ffi.from_buffer("uint8_t[]", found, require_writable=True),
                                       s.size, s.size2, s.err)
        if st:
            _raise(st, s.err)
        dim = int(s.size[0])
        return out.reshape(-1)[: n * dim].reshape(n, dim), found.astype(bool)

    def vrem(self, key: Key, element: Key) -> bool:
        """Removes an element; True when it existed."""
        s = self._s
        k, e = _b(key), _b(element)
        st = lib.sutra_vector_remove(self._handle(), k, len(k), e, len(e), s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    @staticmethod
    def _set_params(s: "_Scratch", k: int, ef: int, min_score: Optional[float],
                    exhaustive: bool) -> None:
        if k < 0 or ef < 0:
            raise errors.InvalidArgument(f"k and ef must be >= 0; got k={k}, ef={ef}")
        p = s.sp
        p.count, p.ef, p.exhaustive = k, ef, exhaustive
        p.use_min_score, p.min_score = min_score is not None, min_score or 0.0
        s.sp_key = (k, ef, min_score, exhaustive)
        if k > s.hits.size:
            s.grow_hits(k)
        s.refresh()

    @staticmethod
    def _hits(s: "_Scratch", out: tuple) -> Tuple[list, np.ndarray]:
        """The names and scores a successful search call left in the scratch buffers."""
        n = out[4][0]
        if n == 0:
            return [], np.empty(0, dtype=_F32)
        off, ln, score = s.hits_fields
        raw = _unpack(s.text, out[5][0])
        scores = s.score_views[n].copy() if n < len(s.score_views) else score[:n].copy()
        if n == 1:
            return [raw], scores
        # Names are packed in hit order: each starts where the previous one ends.
        names = []
        o = 0
        for e in ln[:n].tolist():
            names.append(raw[o:o + e])
            o += e
        return names, scores

    def _search(self, call: object, args: tuple, k: int, ef: int, min_score: Optional[float],
                exhaustive: bool) -> Tuple[list, np.ndarray]:
        # Per-thread, reused: the parameters struct (rewritten only when they change), the
        # hits array (with its field views) and the names buffer. A call allocates only its
        # results: the names (bytes) and the scores array.
        h = self._h
        if not h:
            raise errors.Closed("the cache is closed")
        s = self._s
        if s.sp_key != (k, ef, min_score, exhaustive):
            self._set_params(s, k, ef, min_score, exhaustive)
        while True:
            out = s.search_out
            st = call(h, *args, s.sp, *out)
            if st == 0:
                return self._hits(s, out)
            size, size2 = out[4], out[5]
            if st != lib.SUTRA_BUFFER_TOO_SMALL:
                _raise(st, out[6])
            if size[0] > s.hits.size:
                s.grow_hits(size[0])
            if size2[0] > s.cap:
                s.grow(size2[0])

    def search(self, key: Key, query: object, k: int = 10, *, ef: int = 0,
               min_score: Optional[float] = None, exhaustive: bool = False,
               filter: Optional[str] = None, filter_ef: int = 0) -> Tuple[list, np.ndarray]:
        """Top-k most similar elements: (names as bytes, float32 scores), best first.

        `filter` keeps only elements whose JSON attributes pass a Redis `VSIM ... FILTER`
        expression (e.g. ``'.year > 1950 and .genre == "drama"'``); through the graph at most
        `filter_ef` candidates are examined (0: ``k * 100``). A one-dimensional C-contiguous
        float32 query is passed without a copy (the fastest call)."""
        # The common call (a bytes or str key, a C-contiguous float32 vector, no filter) is
        # one C call of `_fastcall`; anything else, an error included, the general path.
        if filter is None:
            r = self._fast.search(key, query, k, ef, min_score, exhaustive)
            if r is not _SLOW:
                return r
        if type(key) is not bytes:
            key = _b(key)
        if type(query) is np.ndarray and query.dtype is _F32 and query.ndim == 1 \
                and query.flags.c_contiguous:
            q = query
        else:
            q = _f32(query, "query")
        qbuf = _from_buffer("float[]", q)
        if filter is not None:
            fb = filter.encode()
            return self._search(lib.sutra_vector_search_filtered,
                                (key, len(key), qbuf, len(q), fb, len(fb), filter_ef), k, ef,
                                min_score, exhaustive)
        return self._search(_vector_search, (key, len(key), qbuf, len(q)), k, ef, min_score,
                            exhaustive)

    def search_batch(self, key: Key, queries: object, k: int = 10, *, ef: int = 0,
                     threads: int = 1, min_score: Optional[float] = None,
                     exhaustive: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """Top-k of every row of `queries` (an n × dim array) in one call: (ids, scores), two
        n × k arrays, row i best first as `search` returns it for query i.

        `ids` holds the elements' names as a fixed-width bytes array (numpy ``S``; names made
        of digits convert with ``ids.astype(np.int64)``; numpy drops trailing NUL bytes of a
        name); `scores` is float32. A row with fewer than k hits is padded with ``b""`` and
        NaN. `threads`: 1 runs on the calling thread, 0 one thread per core, n a pool of n
        threads (at most 256); the GIL is released for the whole batch."""
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim != 2:
            raise errors.InvalidArgument(f"queries must be two-dimensional (n × dim); got shape {q.shape}")
        if k < 0 or threads < 0:
            raise errors.InvalidArgument(f"k and threads must be >= 0; got k={k}, threads={threads}")
        s = self._s
        kb = _b(key)
        n, dim = q.shape
        p = ffi.new("sutra_search_params *")
        lib.sutra_search_params_init(p)
        p.count, p.ef, p.exhaustive = k, ef, exhaustive
        if min_score is not None:
            p.use_min_score, p.min_score = True, min_score
        hits = np.empty(max(n * k, 1), dtype=_HIT)
        counts = np.empty(max(n, 1), dtype=np.uintp)
        names = np.empty(max(n * k * self._name_guess, 1), dtype=np.uint8)
        h = self._handle()
        qbuf = ffi.from_buffer("float[]", q)
        hbuf = ffi.from_buffer("sutra_search_hit[]", hits, require_writable=True)
        cbuf = ffi.from_buffer("size_t[]", counts, require_writable=True)
        while True:
            st = lib.sutra_vector_search_batch(
                h, kb, len(kb), qbuf, n, dim, p, threads, hbuf, hits.size,
                ffi.from_buffer("uint8_t[]", names, require_writable=True), names.size, cbuf,
                s.size, s.err)
            if st == 0:
                break
            needed = int(s.size[0])
            if st != lib.SUTRA_BUFFER_TOO_SMALL or needed <= names.size:
                _raise(st, s.err)
            names = np.empty(needed, dtype=np.uint8)
            self._name_guess = max(self._name_guess, -(-needed // max(n * k, 1)))
        hits = hits[: n * k].reshape(n, k)
        scores = np.ascontiguousarray(hits["score"])
        lens = hits["len"].astype(np.intp)
        width = max(int(lens.max()) if lens.size else 0, 1)
        col = np.arange(width)
        used = int(s.size[0])
        if used == 0:
            return np.zeros((n, k), dtype=f"S{width}"), scores
        pos = np.minimum(hits["off"].astype(np.intp)[..., None] + col, used - 1)
        chars = np.where(col < lens[..., None], names[pos], 0).astype(np.uint8)
        ids = np.ascontiguousarray(chars).view(f"S{width}").reshape(n, k)
        return ids, scores

    def search_element(self, key: Key, element: Key, k: int = 10, *, ef: int = 0,
                       min_score: Optional[float] = None, exhaustive: bool = False) -> Tuple[list, np.ndarray]:
        """Like `search`, near an element of the set."""
        kb, e = _b(key), _b(element)
        return self._search(lib.sutra_vector_search_element, (kb, len(kb), e, len(e)), k, ef,
                            min_score, exhaustive)

    def invalidate(self, key: Key, query: object, threshold: float) -> int:
        """Atomically removes every element scoring >= `threshold` against `query`; returns how many."""
        s = self._s
        kb, q = _b(key), _f32(query, "query")
        st = lib.sutra_vector_invalidate(self._handle(), kb, len(kb), ffi.from_buffer("float[]", q),
                                         q.size, threshold, s.size, s.err)
        if st:
            _raise(st, s.err)
        return int(s.size[0])

    def vexpire(self, key: Key, element: Key, ttl_ms: int) -> bool:
        """Sets an element to expire in `ttl_ms` ms; False when it does not exist."""
        s = self._s
        k, e = _b(key), _b(element)
        if ttl_ms < 0:
            raise errors.InvalidArgument(f"ttl_ms must be >= 0; got {ttl_ms}")
        st = lib.sutra_vector_expire(self._handle(), k, len(k), e, len(e), ttl_ms, s.flag, s.err)
        if st:
            _raise(st, s.err)
        return bool(s.flag[0])

    def vttl(self, key: Key, element: Key) -> int:
        """An element's remaining TTL in ms; -1 without expiry, -2 when missing."""
        s = self._s
        k, e = _b(key), _b(element)
        st = lib.sutra_vector_ttl(self._handle(), k, len(k), e, len(e), s.i64, s.err)
        if st:
            _raise(st, s.err)
        return int(s.i64[0])

    # ---- statistics and maintenance ----

    @staticmethod
    def _stats_dict(st: object) -> dict:
        d = {f: int(getattr(st, f)) for f in ("hits", "misses", "sets", "evictions",
                                              "expirations", "entries", "bytes", "keys", "vector_sets")}
        total = d["hits"] + d["misses"]
        d["hit_rate"] = d["hits"] / total if total else 0.0
        return d

    def stats(self) -> dict:
        """Engine-wide statistics, every database's (hits, misses, hit_rate, sets, evictions,
        entries, keys, ...); `dbsize` counts one database's keys."""
        st = ffi.new("sutra_stats *")
        rc = lib.sutra_cache_stats(self._handle(), st, self._s.err)
        if rc:
            _raise(rc, self._s.err)
        return self._stats_dict(st)

    def vstats(self, key: Key) -> Optional[dict]:
        """Statistics of one vector set, or None when it does not exist."""
        s = self._s
        k = _b(key)
        st = ffi.new("sutra_stats *")
        rc = lib.sutra_vector_stats(self._handle(), k, len(k), st, s.flag, s.err)
        if rc:
            _raise(rc, s.err)
        return self._stats_dict(st) if s.flag[0] else None

    def index_wait(self) -> None:
        """Blocks until every vector added or removed so far is in the HNSW graphs (helping
        on this thread). Searches are correct without it: elements not yet in a graph are
        scanned exactly. Call it to finish a bulk load, or before measuring search speed."""
        st = lib.sutra_vector_index_wait(self._handle(), self._s.err)
        if st:
            _raise(st, self._s.err)

    def checkpoint(self) -> int:
        """Writes a snapshot now; returns the log position it covers. A cache in memory only
        raises Unsupported."""
        lsn = ffi.new("uint64_t *")
        st = lib.sutra_cache_checkpoint(self._handle(), lsn, self._s.err)
        if st:
            _raise(st, self._s.err)
        return int(lsn[0])


