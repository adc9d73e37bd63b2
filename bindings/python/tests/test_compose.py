"""deploy/compose.yml's `storage-cache-shard` service (the seed's service definition), run as
the binary with exactly that service's environment (data in a temporary directory, bound to
127.0.0.1 on a free port instead of the container's network), driven by the seed's client
code as the seed document writes it."""

import asyncio
import os
import re
from pathlib import Path

import pytest
import redis
import yaml

from conftest import ROOT, free_port, start_sutra

COMPOSE = Path(os.environ.get("SUTRA_COMPOSE_FILE", ROOT / "deploy" / "compose.yml"))
SERVICE = "storage-cache-shard"


def _expand(value: str) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} with nothing set in the host
    environment (the test must not depend on it); ${VAR:?msg} is an error."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        if op in (":-", "-"):
            return arg
        if op in (":?", "?"):
            raise AssertionError(f"compose requires ${{{name}}}: {arg}")
        return ""
    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:-|-|:\?|\?)?([^}]*)\}", sub, value)


def service_environment() -> dict:
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec.get("services") or {}
    assert SERVICE in services, f"{COMPOSE} has no {SERVICE!r} service (services: {sorted(services)})"
    env = services[SERVICE].get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): _expand(str(v)) for k, v in env.items()}


@pytest.fixture(scope="module")
def compose_shard(tmp_path_factory):
    env = service_environment()
    port = free_port()
    # Exactly the service's environment; only where it lives changes: a temporary data
    # directory, a free loopback port (the container's 50051 on its own network).
    env.update(STORAGE_PATH=str(tmp_path_factory.mktemp("compose-data")), STORAGE_PORT=str(port),
               SUTRA_BIND="127.0.0.1")
    yield from start_sutra(Path(env["STORAGE_PATH"]), env, port=port,
                           base_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})


def test_the_compose_service_runs_the_seeds_client_code(compose_shard, monkeypatch):
    env = service_environment()
    dim = int(env.get("VECTOR_DIMENSION", "768"))
    emb = [((i * 37) % 101) / 101.0 for i in range(dim)]
    near = list(emb)
    near[0] += 0.01

    # Step 3 of the seed: the embedding service reads its environment.
    monkeypatch.setenv("CACHE_SHARD_HOST", "127.0.0.1")
    monkeypatch.setenv("CACHE_SHARD_PORT", str(compose_shard))
    from sutra_cache_client import MultiTierSutraCache, SutraCacheClient

    class EmbeddingService:
        def __init__(self):
            self.cache = MultiTierSutraCache(
                l1_max_size=int(os.getenv("L1_CACHE_SIZE", "10000")),
                cache_shard_host=os.getenv("CACHE_SHARD_HOST", "storage-cache-shard"),
                cache_shard_port=int(os.getenv("CACHE_SHARD_PORT", "50051"))
            )

    service = EmbeddingService()
    cache_client = SutraCacheClient(cache_host="127.0.0.1", cache_port=compose_shard)

    async def run():
        await service.cache.set("Apple Inc stock data", emb, "default", ttl=86400)
        await cache_client.set("Apple Inc quarterly results", near)
        # created by the seed's client with the server's default storage: exact floats
        assert redis.Redis(port=compose_shard).execute_command(
            "OBJECT", "ENCODING", "emb:default") == b"exact"
        result = await service.cache.get("Apple Inc stock data")
        assert result and len(result) == dim
        result = await cache_client.get("Apple Inc quarterly results", model="default")
        if not result:
            pytest.fail("the seed's client missed an entry it had just set")
        # The seed's semantic invalidation, as written.
        removed = await cache_client.semantic_invalidate(
            query="Apple Inc stock data",
            similarity_threshold=0.85
        )
        return removed

    removed = asyncio.run(run())
    assert sorted(r.text for r in removed) == ["Apple Inc quarterly results", "Apple Inc stock data"]
    stats = cache_client.stats()
    assert stats["backend"] == "sutra_storage" and stats["errors"] == 0
    assert stats["shard"] == f"127.0.0.1:{compose_shard}"
    s = service.cache.stats()
    assert s["l2"]["errors"] == 0 and s["l1"]["max_size"] == 10000
    # The service's VECTOR_DIMENSION: another dimension is a non-critical failure naming both.
    if "VECTOR_DIMENSION" in env:
        assert cache_client.set_sync("short vector", [1.0, 2.0, 3.0], "other-model") is False
        assert "got 3" in cache_client.stats()["last_error"]
        assert env["VECTOR_DIMENSION"] in cache_client.stats()["last_error"]
    service.cache.close()
