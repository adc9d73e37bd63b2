"""Fixtures: a real redis-server (Debian's; scripts/setup.sh installs it) and a real
`sutra-cache serve`, each on a free loopback port in a temporary directory."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest
import redis

ROOT = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_ping(port: int, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before answering PING")
        try:
            if redis.Redis(port=port, socket_timeout=0.5).ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not answer PING on port {port} within 20 s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_redis(tmp: Path) -> Iterator[int]:
    exe = shutil.which("redis-server")
    if exe is None:
        raise RuntimeError("redis-server is not installed: run scripts/setup.sh")
    port = _free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_ping(port, proc, "redis-server")
        yield port
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real Redis (the migration source, and a reference shard)."""
    yield from start_redis(tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def redis_port_2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A second Redis (a migration target speaking the same protocol)."""
    yield from start_redis(tmp_path_factory.mktemp("redis2"))


@functools.lru_cache(maxsize=None)
def _sutra_binary() -> Path:
    exe = TARGET / "release" / "sutra-cache"
    subprocess.run(["cargo", "build", "--release", "--bin", "sutra-cache", "--quiet"], cwd=ROOT,
                   check=True, env={**os.environ, "CARGO_TARGET_DIR": str(TARGET)})
    return exe


def free_port() -> int:
    return _free_port()


def start_sutra(data: Path, env_extra: dict | None = None, args: list | None = None,
                port: int | None = None, base_env: dict | None = None) -> Iterator[int]:
    """A `sutra-cache serve` on a free loopback port with its data in `data`."""
    exe = _sutra_binary()
    port = port or _free_port()
    env = {**(os.environ if base_env is None else base_env), "STORAGE_PORT": str(port),
           "STORAGE_PATH": str(data), "RUST_LOG": "warn", **(env_extra or {})}
    proc = subprocess.Popen([exe, "serve", *(args or [])], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        _wait_for_ping(port, proc, "sutra-cache serve")
        yield port
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def sutra_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real `sutra-cache serve` on a free port (configured by the seed's environment
    variables); any failure to start fails the tests."""
    yield from start_sutra(tmp_path_factory.mktemp("sutra-data"))


@pytest.fixture
def sutra(sutra_port: int) -> int:
    """The shared sutra-cache server, emptied."""
    redis.Redis(port=sutra_port).flushall()
    return sutra_port


@pytest.fixture(params=["sutra", "redis"])
def shard_port(request: pytest.FixtureRequest) -> int:
    """Each socket test runs against sutra-cache and, as a reference, against Redis."""
    port = request.getfixturevalue("sutra_port" if request.param == "sutra" else "redis_port")
    redis.Redis(port=port).flushdb()
    return port


def start_sutra_cluster(tmp: Path, n: int = 3) -> Iterator[list]:
    """`n` nodes with `--cluster-mode yes` on free loopback ports, made a cluster by
    `sutra-cache cluster create` (the slots split in even contiguous ranges, in port order
    as given); yields their ports."""
    import contextlib

    with contextlib.ExitStack() as stack:
        ports = [stack.enter_context(contextlib.contextmanager(start_sutra)(
            tmp / f"node{i}", {"SUTRA_CLUSTER_MODE": "yes"})) for i in range(n)]
        subprocess.run([str(_sutra_binary()), "cluster", "create",
                        *(f"127.0.0.1:{p}" for p in ports)],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        yield ports


@pytest.fixture(scope="session")
def sutra_cluster_ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list]:
    """Three `sutra-cache serve` nodes in cluster mode made a cluster (shared by the tests)."""
    yield from start_sutra_cluster(tmp_path_factory.mktemp("sutra-cluster"))


@pytest.fixture
def sutra_cluster(sutra_cluster_ports: list) -> list:
    """The shared three-node cluster, emptied."""
    for p in sutra_cluster_ports:
        redis.Redis(port=p).flushall()
    return sutra_cluster_ports
