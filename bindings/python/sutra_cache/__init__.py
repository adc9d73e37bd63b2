"""sutra-cache for Python: the embedded engine (`Cache`) over the C ABI, and the socket
client of the seed (`SutraCacheClient`, `MultiTierSutraCache`, `migrate_from_redis`)."""

from .client import MultiTierSutraCache, SutraCacheClient, embedding_key, migrate_from_redis
from .engine import Cache, simd_isa, version
from .errors import SutraError

__all__ = [
    "Cache",
    "MultiTierSutraCache",
    "SutraCacheClient",
    "SutraError",
    "embedding_key",
    "migrate_from_redis",
    "simd_isa",
    "version",
]
__version__ = "0.1.0"
