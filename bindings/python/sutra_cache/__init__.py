"""sutra-cache for Python: the embedded engine (`Cache`) over the C ABI, and the seed's cache
client over RESP (`SutraCacheClient`, `MultiTierSutraCache`, `migrate_from_redis`); the
top-level module `sutra_cache_client` re-exports the client names for the seed's import line."""

from typing import Any

from .engine import Cache, simd_isa, version
from .errors import CacheError, NoQueryEmbedding, SutraError

# The client's names need redis-py (the `client` extra): imported on first use, so the
# embedded engine works with the core install (cffi and numpy only).
_CLIENT_NAMES = {
    "Removed": "client", "Similar": "client", "SutraCacheClient": "client",
    "embedding_key": "client", "json_decoder": "client", "migrate_from_redis": "client",
    "MultiTierSutraCache": "multitier",
}


def __getattr__(name: str) -> Any:
    module = _CLIENT_NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'sutra_cache' has no attribute {name!r}")
    import importlib
    try:
        value = getattr(importlib.import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as e:
        raise ImportError(
            f"sutra_cache.{name} needs {e.name!r}, which the core install leaves out: "
            "pip install 'sutra_cache[client]'") from e
    globals()[name] = value
    return value

__all__ = [
    "Cache",
    "CacheError",
    "MultiTierSutraCache",
    "NoQueryEmbedding",
    "Removed",
    "Similar",
    "SutraCacheClient",
    "SutraError",
    "embedding_key",
    "json_decoder",
    "migrate_from_redis",
    "simd_isa",
    "version",
]
__version__ = "0.1.0"
