"""Coherent L1s: two `MultiTierSutraCache` instances in separate processes share a shard.
After one of them sets or semantically invalidates an entry, or the shard expires or evicts
it, the other one stops serving the old vector once the change is acknowledged plus the
propagation delay, and never serves it again (each wait polls with a generous deadline;
nothing here is timed)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from sutra_cache import MultiTierSutraCache
from sutra_cache.multitier import TRACKING_CLIENT_NAME
from conftest import start_sutra

PEER = Path(__file__).resolve().parent / "l1_peer.py"
OLD = [1.0, 0.0, 0.0]
NEW = [0.0, 1.0, 0.0]


class Peer:
    def __init__(self, port: int) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PEER), str(port)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=os.environ.copy())
        self.hello = self.read()

    def send(self, **cmd) -> None:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        assert line, f"the peer process exited ({self.proc.poll()})"
        return json.loads(line)

    def close(self) -> None:
        try:
            self.send(op="quit")
        except BrokenPipeError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def tracking_supported(port: int) -> bool:
    mt = MultiTierSutraCache(10, "127.0.0.1", port)
    try:
        return mt.wait_coherent(30)
    finally:
        mt.close()


@pytest.fixture(scope="module")
def shard(tmp_path_factory):
    """A shard that evicts: at most 50 entries (the seed's MAX_CONCEPTS, scaled down)."""
    gen = start_sutra(tmp_path_factory.mktemp("coherence"), {"MAX_CONCEPTS": "50"})
    port = next(gen)
    try:
        assert tracking_supported(port), "the L1's tracking connection did not come up"
        yield port
    finally:
        gen.close()


@pytest.fixture
def peer(shard):
    redis.Redis(port=shard).flushall()
    p = Peer(shard)
    assert p.hello["coherent"], p.hello
    yield p
    p.close()


def change_and_watch(peer, text, change, expect):
    """Primes the peer's L1 with OLD, makes the change, and checks the peer stops serving OLD
    (and never serves it again afterwards)."""
    peer.send(op="prime", text=text, model="m", expect=OLD)
    assert peer.read()["ok"], "the peer never held the entry in its L1"
    peer.send(op="watch", text=text, model="m", old=OLD, deadline=60, after=300)
    assert peer.read()["watching"]
    change()
    acked = time.monotonic()
    seen = peer.read()
    assert seen["changed_at"] is not None, "the peer kept serving the old vector for 60 s"
    assert seen["value"] == expect
    assert seen["violations"] == 0, f"the old vector came back {seen['violations']} times: {seen}"
    return max(0.0, seen["changed_at"] - acked)


def test_a_set_in_one_process_reaches_the_other_processes_l1(shard, peer):
    writer = MultiTierSutraCache(10, "127.0.0.1", shard)
    writer.set_sync("t", OLD, "m")
    change_and_watch(peer, "t", lambda: writer.set_sync("t", NEW, "m"), NEW)
    writer.close()


def test_a_semantic_invalidation_reaches_the_other_processes_l1(shard, peer):
    writer = MultiTierSutraCache(10, "127.0.0.1", shard)
    writer.set_sync("t", OLD, "m")
    writer.set_sync("keep", NEW, "m")
    removed = []
    change_and_watch(peer, "t", lambda: removed.extend(
        writer.semantic_invalidate_sync([0.99, 0.1, 0.0], 0.9)), None)
    assert [r.text for r in removed] == ["t"]
    writer.close()


def test_an_expiry_on_the_shard_reaches_the_other_processes_l1(shard, peer):
    writer = MultiTierSutraCache(10, "127.0.0.1", shard)
    writer.set_sync("t", OLD, "m", ttl=2)
    change_and_watch(peer, "t", lambda: None, None)
    writer.close()


def test_an_eviction_on_the_shard_reaches_the_other_processes_l1(shard, peer):
    writer = MultiTierSutraCache(10, "127.0.0.1", shard)
    writer.set_sync("t", OLD, "m")

    def fill():  # 100 newer entries into a shard capped at 50: "t" is the oldest
        for i in range(100):
            writer.l2_cache.set_sync(f"filler {i}", NEW, "m")
    change_and_watch(peer, "t", fill, None)
    assert redis.Redis(port=shard).execute_command("VISMEMBER", "emb:m", "t") == 0
    writer.close()


def test_deleting_the_set_or_flushing_the_shard_empties_the_other_l1(shard, peer):
    writer = MultiTierSutraCache(10, "127.0.0.1", shard)
    raw = redis.Redis(port=shard)
    writer.set_sync("t", OLD, "m")
    change_and_watch(peer, "t", lambda: raw.delete("emb:m"), None)
    writer.set_sync("t", OLD, "m")
    change_and_watch(peer, "t", lambda: raw.flushall(), None)
    writer.close()


def test_a_lost_tracking_connection_flushes_the_l1_and_reconnects(shard):
    redis.Redis(port=shard).flushall()
    mt = MultiTierSutraCache(10, "127.0.0.1", shard)
    assert mt.wait_coherent(30)
    mt.set_sync("t", OLD, "m")
    end = time.monotonic() + 30
    while mt.stats()["l1"]["size"] == 0 and time.monotonic() < end:
        mt.get_sync("t", "m")
    assert mt.stats()["l1"]["size"] == 1
    raw = redis.Redis(port=shard, protocol=2)
    ids = [c["id"] for c in raw.client_list() if c.get("name") == TRACKING_CLIENT_NAME]
    assert len(ids) == 1
    raw.client_kill_filter(_id=ids[0])
    end = time.monotonic() + 30
    while mt.stats()["l1"]["tracking_reconnects"] == 0 and time.monotonic() < end:
        time.sleep(0.01)
    assert mt.stats()["l1"]["size"] == 0 and mt.stats()["l1"]["tracking_reconnects"] >= 1
    assert mt.wait_coherent(30)
    assert mt.get_sync("t", "m") == OLD
    mt.close()


def test_a_value_read_while_its_invalidation_arrives_never_enters_the_l1():
    """The client-side caching race, without timing: an invalidation (of the entry, of its
    set, a flush, or a reconnect of the tracking connection) between the start of an L2 read
    and its end keeps the value read out of the L1; an unrelated one does not."""
    from sutra_cache.multitier import _L1
    k, other = (b"emb:m", b"t"), (b"emb:m", b"u")
    l1 = _L1(10)
    assert not l1.end(k, l1.begin(k), [1.0], None, 0.0)  # tracking not connected yet
    l1.flush(7)  # the tracking connection is up (epoch 7)
    for invalidate in (lambda: l1.drop(k), lambda: l1.drop_set(b"emb:m"), lambda: l1.flush(),
                       lambda: l1.flush(8)):
        token = l1.begin(k)
        invalidate()
        assert not l1.end(k, token, OLD, None, 0.0)
        assert l1.lookup(k, 0.0) is None
    token = l1.begin(k)
    l1.drop(other)
    l1.drop_set(b"emb:other")
    assert l1.end(k, token, NEW, None, 0.0) and l1.lookup(k, 0.0)[0] == NEW
    # two overlapping reads: an invalidation during either keeps both values out
    l1.drop(k)
    t1 = l1.begin(k)
    t2 = l1.begin(k)
    l1.drop(k)
    assert not l1.end(k, t1, OLD, None, 0.0) and not l1.end(k, t2, OLD, None, 0.0)
    assert l1.end(k, l1.begin(k), NEW, None, 0.0)  # the next read is clean again
