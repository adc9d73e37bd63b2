"""The embedded engine's numbered databases (Redis's SELECT) through the C ABI."""

import gc

import numpy as np
import pytest

from sutra_cache import Cache, errors
from sutra_cache.engine import WAL_SYNC_ALWAYS


@pytest.fixture
def cache():
    with Cache(active_expire_interval_ms=0) as c:
        yield c


def test_a_value_written_in_database_3_is_invisible_in_database_0(cache):
    db3 = cache.select(3)
    assert (cache.db, db3.db, db3.databases) == (0, 3, 16)
    db3.set("k", b"three")
    assert cache.get("k") is None and db3.get("k") == b"three"
    cache.set("k", b"zero")
    assert cache.get("k") == b"zero" and db3.get("k") == b"three"
    db3.vadd("vs", "a", np.array([1, 0, 0], dtype=np.float32))
    assert db3.vinfo("vs") == (3, 1) and cache.vinfo("vs") == (0, 0)
    assert db3.search("vs", [1, 0, 0], k=1)[0] == [b"a"]
    assert cache.search("vs", [1, 0, 0], k=1)[0] == []
    assert (cache.dbsize(), db3.dbsize()) == (1, 2)
    assert cache.stats()["keys"] == 3  # statistics are the engine's, every database's


def test_a_cache_opened_with_db_addresses_that_database(tmp_path):
    with Cache(str(tmp_path), db=5) as c5:
        assert c5.db == 5
        c5.set("k", b"five")
        assert c5.select(0).get("k") is None
    with Cache(str(tmp_path)) as c0:
        assert c0.get("k") is None and c0.select(5).get("k") == b"five"


def test_flushdb_empties_one_database_and_flush_empties_every_one(cache):
    db3, db4 = cache.select(3), cache.select(4)
    for c in (cache, db3, db4):
        c.set("k", b"v")
    db3.flushdb()
    assert (cache.dbsize(), db3.dbsize(), db4.dbsize()) == (1, 0, 1)
    assert db4.get("k") == b"v"
    db4.flush()
    assert (cache.dbsize(), db3.dbsize(), db4.dbsize()) == (0, 0, 0)


def test_a_database_out_of_range_is_refused_naming_db_and_the_range(cache, tmp_path):
    with pytest.raises(errors.InvalidArgument, match=r"'db'.*0\.\.=15.*got 16"):
        cache.select(16)
    with pytest.raises(errors.InvalidArgument, match=r"db: a database index in 0\.\.=15; got -1"):
        cache.select(-1)
    with pytest.raises(errors.InvalidArgument, match="db: an int"):
        cache.select("3")
    with pytest.raises(errors.InvalidArgument, match=r"'db'.*got 99"):
        Cache(str(tmp_path), db=99)
    with Cache(str(tmp_path)) as again:  # the failed open closed what it opened
        assert again.dbsize() == 0


def test_closing_a_selected_cache_frees_only_it_and_closing_the_opener_closes_every_one(cache):
    db3 = cache.select(3)
    db3.set("k", b"v")
    db3.close()
    db3.close()  # idempotent
    with pytest.raises(errors.Closed):
        db3.get("k")
    assert cache.select(3).get("k") == b"v"  # the engine is still open
    db7 = cache.select(7)
    cache.close()
    with pytest.raises(errors.Closed, match="closed"):
        db7.set("k", b"v")
    with pytest.raises(errors.Closed):
        db7.select(1)
    db7.close()


def test_a_selected_cache_keeps_the_engine_alive_when_the_opener_is_dropped():
    db3 = Cache(active_expire_interval_ms=0).select(3)
    gc.collect()
    db3.set("k", b"v")
    assert db3.get("k") == b"v" and db3.db == 3
    db3.close()


def test_database_3_comes_back_after_close_and_reopen(tmp_path):
    with Cache(str(tmp_path), wal_sync_interval_ms=WAL_SYNC_ALWAYS, checkpoint_on_close=False) as c:
        db3 = c.select(3)
        db3.set("snap", b"in the snapshot")
        assert db3.checkpoint() > 0
        db3.set("tail", b"in the log")
        db3.vadd("vs", "e", np.arange(4, dtype=np.float32))
    with Cache(str(tmp_path)) as c:
        assert c.get("snap") is None and c.dbsize() == 0
        db3 = c.select(3)
        assert db3.get("snap") == b"in the snapshot" and db3.get("tail") == b"in the log"
        assert np.array_equal(db3.vget("vs", "e"), np.arange(4, dtype=np.float32))
        assert db3.dbsize() == 3
