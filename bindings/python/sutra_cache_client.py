"""The seed's module name: `from sutra_cache_client import MultiTierSutraCache` (and
`SutraCacheClient`, ...) gives the same objects as `sutra_cache`."""

from sutra_cache.client import (Removed, Similar, SutraCacheClient, embedding_key,
                                json_decoder, migrate_from_redis)
from sutra_cache.errors import CacheError, NoQueryEmbedding
from sutra_cache.multitier import MultiTierSutraCache

__all__ = [
    "CacheError",
    "MultiTierSutraCache",
    "NoQueryEmbedding",
    "Removed",
    "Similar",
    "SutraCacheClient",
    "embedding_key",
    "json_decoder",
    "migrate_from_redis",
]
