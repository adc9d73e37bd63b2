"""The embedded engine through the C ABI."""

import threading

import numpy as np
import pytest

import sutra_cache
from sutra_cache import Cache, errors
from sutra_cache.engine import WAL_SYNC_ALWAYS


@pytest.fixture
def cache():
    with Cache(active_expire_interval_ms=0) as c:
        yield c


def test_version_and_isa_are_reported():
    assert sutra_cache.version() == sutra_cache.__version__
    assert sutra_cache.simd_isa()


def test_blob_set_get_delete_round_trip(cache):
    assert cache.set("k", b"v" * 10_000)  # larger than the initial scratch buffer
    assert cache.get("k") == b"v" * 10_000
    assert cache.get(b"missing") is None
    assert not cache.set("k", b"x", nx=True)
    assert not cache.set("other", b"x", xx=True)
    assert cache.delete("k") and not cache.delete("k")
    assert cache.get("k") is None


def test_ttl_expire_and_persist_follow_redis_conventions(cache):
    cache.set("k", b"v", ttl_ms=60_000)
    assert 50_000 < cache.ttl("k") <= 60_000
    assert cache.persist("k")
    assert cache.ttl("k") == -1
    assert cache.ttl("missing") == -2
    assert cache.expire("k", 0)
    assert cache.get("k") is None
    with pytest.raises(errors.InvalidArgument):
        cache.set("k", b"v", ttl_ms=-5)


def test_vectors_come_back_exactly_and_into_preallocated_arrays(cache):
    rng = np.random.default_rng(7)
    m = rng.standard_normal((50, 16)).astype(np.float32)
    names = [f"e{i}" for i in range(50)]
    assert cache.vadd_many("model", names, m) == 50
    assert cache.vinfo("model") == (16, 50)
    assert np.array_equal(cache.vget("model", "e3"), m[3])
    out = np.empty(16, dtype=np.float32)
    got = cache.vget("model", "e4", out=out)
    assert got is not None and np.shares_memory(got, out) and np.array_equal(out, m[4])
    assert cache.vget("model", "nope") is None
    with pytest.raises(errors.BufferTooSmall):
        cache.vget("model", "e4", out=np.empty(8, dtype=np.float32))
    rows = np.empty((3, 16), dtype=np.float32)
    vecs, found = cache.vget_many("model", ["e1", "zz", "e2"], out=rows)
    assert np.shares_memory(vecs, rows)
    assert found.tolist() == [True, False, True]
    assert np.array_equal(vecs[0], m[1]) and np.array_equal(vecs[2], m[2]) and not vecs[1].any()


def test_search_finds_the_query_itself_first_and_invalidate_removes_neighbours(cache):
    rng = np.random.default_rng(3)
    m = rng.standard_normal((200, 32)).astype(np.float32)
    cache.vadd_many("s", [f"e{i}" for i in range(200)], m, metric="cosine")
    names, scores = cache.search("s", m[17], k=5)
    assert names[0] == b"e17" and abs(scores[0] - 1.0) < 1e-3
    assert len(names) == 5 and scores.dtype == np.float32 and np.all(np.diff(scores) <= 1e-6)
    names, _ = cache.search_element("s", "e17", k=3, exhaustive=True)
    assert names[0] == b"e17"
    near = m[17] + 0.001
    assert cache.invalidate("s", near, 0.999) >= 1
    assert cache.vget("s", "e17") is None
    assert cache.vinfo("s")[1] < 200


def test_filtered_search_keeps_only_elements_whose_attributes_pass(cache):
    rng = np.random.default_rng(5)
    m = rng.standard_normal((300, 16)).astype(np.float32)
    for i in range(300):
        attrs = None if i % 10 == 9 else f'{{"g": {i % 3}, "name": "e{i}"}}'
        cache.vadd("f", f"e{i}", m[i], attributes=attrs)
    names, scores = cache.search("f", m[4], k=10, filter=".g == 1 and 'e' in .name")
    assert names[0] == b"e4" and len(names) == 10
    assert all(int(n[1:]) % 3 == 1 and int(n[1:]) % 10 != 9 for n in names)
    exact, _ = cache.search("f", m[4], k=10, filter=".g == 1", exhaustive=True)
    assert exact[0] == b"e4" and len(exact) == 10
    assert cache.search("f", m[4], k=10, filter=".g > 5", filter_ef=50)[0] == []
    with pytest.raises(errors.InvalidArgument) as e:
        cache.search("f", m[4], filter=".g ==")
    assert "filter" in str(e.value)


def test_errors_map_to_typed_exceptions_with_stable_codes(cache):
    cache.vadd("s", "a", [1.0, 0.0, 0.0])
    with pytest.raises(errors.DimensionMismatch) as e:
        cache.vadd("s", "b", [1.0, 0.0])
    assert e.value.code == 3 and "dimension" in str(e.value)
    with pytest.raises(errors.InvalidArgument):
        cache.vadd("s", "b", [float("nan"), 0.0, 0.0])
    with pytest.raises(errors.Conflict):
        cache.vadd("s", "b", [1.0, 0.0, 0.0], metric="l2")
    with pytest.raises(errors.WrongType):
        cache.get("s")
    cache.set("blob", b"x")
    with pytest.raises(errors.WrongType):
        cache.vadd("blob", "a", [1.0, 0.0, 0.0])
    with pytest.raises(errors.Unsupported):
        cache.checkpoint()


def test_element_ttl_and_per_set_statistics(cache):
    cache.vadd("s", "a", [1.0, 2.0], ttl_ms=-1)
    assert cache.vttl("s", "a") == -1
    assert cache.vexpire("s", "a", 30_000)
    assert 20_000 < cache.vttl("s", "a") <= 30_000
    assert cache.vttl("s", "zz") == -2
    cache.vget("s", "a")
    cache.vget("s", "zz")
    st = cache.vstats("s")
    assert st is not None and st["entries"] == 1 and st["hits"] >= 1 and st["misses"] >= 1
    assert cache.vstats("nothing") is None
    total = cache.stats()
    assert total["keys"] == 1 and total["vector_sets"] == 1 and 0 < total["hit_rate"] < 1


def test_a_capped_cache_evicts_least_recently_used_entries():
    with Cache(max_entries=3, active_expire_interval_ms=0) as c:
        for k in ("a", "b", "c"):
            c.set(k, b"v")
        c.get("a")
        c.set("d", b"v")
        assert c.get("b") is None and c.get("a") == b"v" and c.stats()["evictions"] >= 1


def test_noeviction_policy_raises_out_of_memory():
    with Cache(max_entries=1, eviction_policy="noeviction", active_expire_interval_ms=0) as c:
        c.set("a", b"v")
        with pytest.raises(errors.OutOfMemory):
            c.set("b", b"v")


def test_a_closed_cache_refuses_calls_and_close_is_idempotent():
    c = Cache()
    c.close()
    c.close()
    with pytest.raises(errors.Closed):
        c.get("k")


def test_a_durable_cache_comes_back_after_close_and_reopen(tmp_path):
    v = np.arange(8, dtype=np.float32)
    with Cache(str(tmp_path), wal_sync_interval_ms=WAL_SYNC_ALWAYS, checkpoint_on_close=False) as c:
        c.set("a", b"before")
        c.vadd("s", "e", v)
        assert c.checkpoint() > 0
        c.set("b", b"after")  # only in the WAL
    with Cache(str(tmp_path)) as c:
        assert c.get("a") == b"before" and c.get("b") == b"after"
        assert np.array_equal(c.vget("s", "e"), v)
    with pytest.raises(errors.InvalidArgument):
        Cache(str(tmp_path / "x"), wal_sync_interval_ms=-5)


def test_threads_share_one_cache():
    with Cache(active_expire_interval_ms=0) as c:
        def work(t: int) -> None:
            for i in range(500):
                c.set(f"{t}:{i}", str(i).encode())
                assert c.get(f"{t}:{i}") == str(i).encode()
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert c.stats()["keys"] == 2000


def test_get_into_copies_into_the_callers_buffer(cache):
    cache.set("k", b"abcdef")
    buf = bytearray(16)
    assert cache.get_into("k", buf) == 6 and bytes(buf[:6]) == b"abcdef"
    assert cache.get_into("missing", buf) is None
    with pytest.raises(errors.BufferTooSmall):
        cache.get_into("k", bytearray(2))


def test_index_wait_finishes_a_bulk_load_and_search_finds_every_element(cache):
    cache.index_wait()  # nothing pending: returns at once
    rng = np.random.default_rng(5)
    vecs = rng.standard_normal((1500, 32)).astype(np.float32)  # past the index threshold
    names = [f"e{i}" for i in range(len(vecs))]
    cache.vadd_many("bulk", names, vecs)
    cache.index_wait()
    for i in range(0, 1500, 50):
        found, scores = cache.search("bulk", vecs[i], 1, ef=64)
        assert list(found) == [names[i].encode()] and scores[0] == pytest.approx(1.0, abs=1e-3)
    cache.close()
    with pytest.raises(errors.Closed):
        cache.index_wait()


def test_default_storage_mode_and_vector_dimension_reach_the_engine():
    v = np.array([0.1, 0.2, 0.3, 0.7], dtype=np.float32)
    with Cache(active_expire_interval_ms=0, default_storage_mode="q8") as c:
        c.vadd("s", "a", v)  # no storage named: the cache's default, q8
        got = c.vget("s", "a")
        assert got is not None and not np.array_equal(got, v)  # dequantized
        with pytest.raises(sutra_cache.errors.Conflict):
            c.vadd("s", "b", v, storage="exact")
    with Cache(active_expire_interval_ms=0) as c:
        c.vadd("s", "a", v)
        assert np.array_equal(c.vget("s", "a"), v)  # exact by default
    with Cache(active_expire_interval_ms=0, vector_dimension=4) as c:
        assert c.vadd("s", "a", v)
        with pytest.raises(sutra_cache.errors.DimensionMismatch, match="is 4"):
            c.vadd("t", "a", v[:3])
        assert c.vinfo("t") == (0, 0)
    with pytest.raises(sutra_cache.errors.InvalidArgument):
        Cache(default_storage_mode="int4")
    with pytest.raises(sutra_cache.errors.InvalidArgument):
        Cache(vector_dimension=-1)


def test_search_batch_gives_every_row_what_search_gives_its_query(cache):
    rng = np.random.default_rng(11)
    vecs = rng.standard_normal((1200, 24)).astype(np.float32)
    cache.vadd_many("b", [str(i) for i in range(len(vecs))], vecs)
    cache.index_wait()
    queries = vecs[::30] + 0.01 * rng.standard_normal((40, 24)).astype(np.float32)
    for threads in (1, 0, 3):
        ids, scores = cache.search_batch("b", queries, 5, ef=48, threads=threads)
        assert ids.shape == (40, 5) and scores.shape == (40, 5) and scores.dtype == np.float32
        assert list(ids.astype(np.int64)[:, 0]) == list(range(0, 1200, 30))
        for i, q in enumerate(queries):
            names, want = cache.search("b", q, 5, ef=48)
            assert list(ids[i]) == names
            assert np.array_equal(scores[i], want)


def test_search_takes_any_query_form_and_grows_its_buffers_for_many_hits_and_long_names():
    rng = np.random.default_rng(5)
    m = rng.standard_normal((120, 16)).astype(np.float32)
    names = [("x" * 200 + f"{i:05d}").encode() for i in range(len(m))]  # 50 hits: 10 KB of names
    with Cache(active_expire_interval_ms=0) as c:
        c.vadd_many("s", names, m, metric="dot")
        q = m[7] + 0.05
        want = np.argsort(-(m @ q), kind="stable")[:50]
        got, scores = c.search("s", q.astype(np.float32), 50, exhaustive=True)
        assert got == [names[i] for i in want]
        assert scores.dtype == np.float32 and np.allclose(scores, (m @ q)[want], rtol=1e-5)
        wide = np.zeros((16, 2), dtype=np.float32)
        wide[:, 0] = q
        for form in (q.tolist(), q.astype(np.float64), wide[:, 0], np.asarray(q, dtype=">f4")):
            assert c.search("s", form, 50, exhaustive=True)[0] == got
        one, s1 = c.search("s", q, 1, exhaustive=True)
        assert one == got[:1] and s1.shape == (1,) and s1[0] == scores[0]
        # A result owns its scores: the next search (same thread buffers) leaves them be.
        other, _ = c.search("s", -q, 1, exhaustive=True)
        assert other != one and s1[0] == scores[0]
        none, s0 = c.search("missing", q, 3)
        assert none == [] and s0.dtype == np.float32 and s0.shape == (0,)
        with pytest.raises(errors.InvalidArgument, match="one-dimensional"):
            c.search("s", m[:2], 3)
        with pytest.raises(errors.InvalidArgument, match="k and ef"):
            c.search("s", q, -1)
        with pytest.raises(errors.DimensionMismatch):
            c.search("s", q[:8], 3)
    with pytest.raises(errors.Closed):
        c.search("s", q, 3)


def test_search_and_get_results_stay_exact_across_buffer_growth_removals_and_k_above_the_set(cache):
    # Names of 3 to ~600 bytes, so a search's names cross the thread's 4 KiB buffer (which
    # grows, the call running again); removed elements, while still in the graph and after;
    # k above the set's size: every hit's name and score is the reference's, best first.
    n = 1100
    theta = np.arange(n) * np.pi / n
    m = np.zeros((n, 4), dtype=np.float32)
    m[:, 0], m[:, 1] = np.cos(theta), np.sin(theta)  # cosine to (1, 0, 0, 0) falls with i
    names = [f"e{i}-".encode() + bytes([97 + i % 26]) * ((i * 53) % 600) for i in range(n)]
    cache.vadd_many("s", names, m, metric="cosine")
    cache.index_wait()
    q = np.array([1, 0, 0, 0], dtype=np.float32)
    removed = set()
    for gone in ([], [0, 2, 3], [5]):
        for i in gone:
            assert cache.vrem("s", names[i])
        removed.update(gone)
        live = [i for i in range(n) if i not in removed]
        for k in (1, 7, 30):
            want = live[:k]
            for exhaustive in (True, False):
                got, scores = cache.search("s", q, k, ef=200, exhaustive=exhaustive)
                assert got == [names[i] for i in want], (k, exhaustive, gone)
                assert np.allclose(scores, np.cos(theta[want]), atol=1e-5)
                assert np.all(np.diff(scores) <= 0)
            got, _ = cache.search_element("s", names[live[0]], k, ef=200)
            assert got == [names[i] for i in want]
        cache.index_wait()  # the removed nodes leave the graph
    cache.vadd_many("few", names[:3], m[:3], metric="cosine")
    got, scores = cache.search("few", q, 50)
    assert got == names[:3] and scores.shape == (3,)
    assert cache.vrem("few", names[1])
    assert cache.search("few", q, 50)[0] == [names[0], names[2]]
    assert cache.search("few", q, 50, filter=".a == 1")[0] == []  # no attributes: none pass
    # get: a value past the buffer (which grows), one with NUL bytes, an empty one, in turns
    big = bytes(range(256)) * 40
    cache.set("big", big)
    cache.set("small", b"a\x00b")
    cache.set("empty", b"")
    for _ in range(2):
        assert cache.get("small") == b"a\x00b"
        assert cache.get("big") == big
        assert cache.get("empty") == b""
        assert cache.get("missing") is None


def test_search_batch_pads_short_rows_reruns_for_long_names_and_refuses_bad_input(cache):
    cache.vadd("s", "a", np.array([1, 0], dtype=np.float32))
    long_name = "n" * 300
    cache.vadd("s", long_name, np.array([0, 1], dtype=np.float32))
    ids, scores = cache.search_batch("s", np.array([[1, 0], [0, 1]], dtype=np.float32), 3)
    assert ids.shape == (2, 3)
    assert ids[0, 0] == b"a" and ids[1, 0] == long_name.encode()  # past the first names buffer
    assert ids[0, 2] == b"" and np.isnan(scores[0, 2]) and np.isnan(scores[1, 2])
    ids, scores = cache.search_batch("missing", np.ones((3, 2)), 2)
    assert ids.shape == (3, 2) and np.isnan(scores).all() and (ids == b"").all()
    with pytest.raises(errors.InvalidArgument, match="two-dimensional"):
        cache.search_batch("s", np.ones(2), 2)
    with pytest.raises(errors.DimensionMismatch):
        cache.search_batch("s", np.ones((2, 3)), 2)
    with pytest.raises(errors.InvalidArgument, match="row 1"):
        cache.search_batch("s", np.array([[1, 0], [np.nan, 0]]), 2)
    with pytest.raises(errors.InvalidArgument, match="threads"):
        cache.search_batch("s", np.ones((2, 2)), 2, threads=1000)


def test_the_c_fast_path_is_shipped_and_answers_as_the_general_path(cache):
    # `Cache.get` and `Cache.search`'s common calls go through sutra_cache._fastcall (built by
    # setup.py beside the cffi module); every other form takes the cffi path. Both must give
    # the same answers: values past the thread buffer and past the size kept under the GIL,
    # str keys (non-ASCII too), misses, many hits with long names, min_score, exhaustive.
    from sutra_cache import engine

    assert engine._fastcall is not None, "the wheel lacks sutra_cache._fastcall"
    values = {"a": b"x", "é-ключ": b"\x00" * 5000, b"big": bytes(range(256)) * 4096,
              "empty": b""}  # big: 1 MiB, copied with the GIL released
    for k, v in values.items():
        cache.set(k, v)
    for _ in range(2):
        for k, v in values.items():
            assert cache.get(k) == v
            buf = bytearray(len(v) + 1)
            assert cache.get_into(k, buf) == len(v) and bytes(buf[:len(v)]) == v
        assert cache.get("missing") is None and cache.get(b"missing") is None
    assert cache.get(bytearray(b"a")) == b"x" and cache.get(memoryview(b"a")) == b"x"
    with pytest.raises(UnicodeEncodeError):
        cache.get("\udc80")
    cache.vadd("s", "e", np.ones(4, dtype=np.float32))
    with pytest.raises(errors.WrongType):
        cache.get("s")
    rng = np.random.default_rng(11)
    m = rng.standard_normal((300, 16)).astype(np.float32)
    names = [("n" * (i % 97) + f"{i}").encode() for i in range(len(m))]
    cache.vadd_many("v", names, m)
    cache.index_wait()
    for i in range(0, 300, 37):
        q = m[i]
        for k, ef, min_score, exhaustive in ((1, 1, None, False), (10, 64, None, False),
                                             (60, 0, None, True), (5, 8, 0.2, False),
                                             (200, 300, None, False), (0, 1, None, False)):
            fast = cache.search("v", q, k, ef=ef, min_score=min_score, exhaustive=exhaustive)
            general = cache.search("v", q.astype(np.float64).tolist(), k, ef=ef,
                                   min_score=min_score, exhaustive=exhaustive)
            assert fast[0] == general[0], (i, k, ef)
            assert fast[1].dtype == np.float32 and fast[1].flags.writeable
            assert np.array_equal(fast[1], general[1])
            if min_score is not None:
                assert np.all(fast[1] >= min_score)
        assert cache.search("v", q, 1)[0] == [names[i]]
        assert cache.search(b"v", q, 1)[0] == [names[i]]
    assert cache.search("absent", m[0], 3)[0] == []
    with pytest.raises(errors.WrongType):
        cache.search(b"big", m[0], 3)


def test_fast_calls_from_threads_and_through_selected_databases_follow_close():
    # The fast path's out-buffers are per thread, and a search or a large get releases the GIL:
    # threads reading at once each get their own answers. A selected `Cache` raises Closed
    # once the engine is closed, as on the general path.
    rng = np.random.default_rng(12)
    m = rng.standard_normal((400, 8)).astype(np.float32)
    with Cache(active_expire_interval_ms=0) as c:
        c.vadd_many("v", [str(i) for i in range(len(m))], m)
        c.index_wait()
        for i in range(40):
            c.set(f"k{i}", bytes([i]) * (70_000 + i))  # above the size read under the GIL
        failures = []

        def work(t: int) -> None:
            for r in range(30):
                i = (t * 7 + r) % 40
                if c.get(f"k{i}") != bytes([i]) * (70_000 + i):
                    failures.append(("get", t, i))
                j = (t * 13 + r * 3) % len(m)
                if c.search("v", m[j], 3, ef=64)[0][0] != str(j).encode():
                    failures.append(("search", t, j))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert failures == []
        d3 = c.select(3)
        d3.set("a", b"3")
        d3.vadd("v3", "e", np.ones(8, dtype=np.float32))
        assert d3.get("a") == b"3" and c.get("a") is None
        assert d3.search("v3", np.ones(8, dtype=np.float32), 1)[0] == [b"e"]
    with pytest.raises(errors.Closed):
        d3.get("a")
    with pytest.raises(errors.Closed):
        d3.search("v3", np.ones(8, dtype=np.float32), 1)
    d3.close()
    with pytest.raises(errors.Closed):
        d3.get("a")
    with pytest.raises(errors.Closed):
        c.get("a")


def test_a_threads_get_buffer_is_freed_when_the_thread_ends():
    # Each thread that reads keeps its own out-buffer (grown to the largest value it read);
    # it must go with the thread, as the Python path's threading.local buffers do: 200
    # threads each reading a 1 MiB value would otherwise keep 200 MiB.
    def rss_kib() -> int:
        with open("/proc/self/status") as f:
            return next(int(ln.split()[1]) for ln in f if ln.startswith("VmRSS"))

    value = b"v" * (1 << 20)
    with Cache(active_expire_interval_ms=0) as c:
        c.set("big", value)
        got = []

        def read() -> None:
            got.append(c.get("big") == value)

        for _ in range(20):  # warm: the allocator's arenas reach their steady size
            t = threading.Thread(target=read)
            t.start()
            t.join()
        before = rss_kib()
        for _ in range(200):
            t = threading.Thread(target=read)
            t.start()
            t.join()
        grown = rss_kib() - before
        assert all(got) and len(got) == 220
        assert grown < 100 * 1024, f"RSS grew {grown} KiB over 200 threads"
