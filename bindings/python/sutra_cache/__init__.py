"""sutra-cache for Python: the embedded engine (`Cache`) over the C ABI, and the seed's cache
client over RESP (`SutraCacheClient`, `MultiTierSutraCache`, `migrate_from_redis`); the
top-level module `sutra_cache_client` re-exports the client names for the seed's import line."""

from .client import (Removed, Similar, SutraCacheClient, embedding_key, json_decoder,
                     migrate_from_redis)
from .engine import Cache, simd_isa, version
from .errors import CacheError, NoQueryEmbedding, SutraError
from .multitier import MultiTierSutraCache

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
