"""The seed client's entry format (shared with the Go client byte for byte; docs/bindings.md).

- Each model's entries are elements of ONE vector set, key `namespace + model` (namespace
  default "emb:"), created by the first VADD without a quantization flag (the server's
  default storage, `exact` unless the operator chose otherwise), metric cosine.
- Element name: the text itself when its UTF-8 form is at most 256 bytes and does not start
  with "sha256:"; otherwise "sha256:" + hex(sha256(utf-8 text)), with the full text kept in the
  `text` attribute.
- Attributes: compact JSON (UTF-8, separators "," and ":") with the keys concept_type,
  source, model, cached_at, expires_at, ttl_seconds, then text (hashed names only), then the
  caller's tags sorted by name; tag values are flat JSON values (str, int, float, bool, null).
- Vectors: little-endian float32 (`VADD <set> FP32 <bytes> <element> SETATTR <json> [EX ttl]`,
  read back with `VGETF32 <set> <element>`).
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from array import array
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

HASH_PREFIX = b"sha256:"
MAX_NAME_BYTES = 256
CONCEPT_TYPE = "embedding_cache"
DEFAULT_SOURCE = "embedding_service"
RESERVED_ATTRIBUTES = ("concept_type", "source", "model", "cached_at", "expires_at",
                       "ttl_seconds", "text")

Embedding = Union[Sequence[float], np.ndarray]
_LITTLE = sys.byteorder == "little"


def element_name(text: str) -> Tuple[bytes, bool]:
    """The element name of `text` and whether it is a hash (then the text goes in `text`)."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__}")
    try:
        raw = text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"text is not encodable as UTF-8: {e}") from None
    if len(raw) <= MAX_NAME_BYTES and not raw.startswith(HASH_PREFIX):
        return raw, False
    return HASH_PREFIX + hashlib.sha256(raw).hexdigest().encode("ascii"), True


def set_key(namespace: str, model: str) -> str:
    """The vector set holding `model`'s entries."""
    if not isinstance(model, str) or not model:
        raise ValueError(f"model must be a non-empty str; got {model!r}")
    return namespace + model


def encode_embedding(embedding: Any, name: str = "embedding") -> bytes:
    """Little-endian float32 bytes of a 1-D list/tuple/array of finite numbers.

    Anything else (a str, a dict, a scalar, nested lists, NaN or ±Inf, a value beyond
    float32's range, an empty vector) is a ValueError naming `name`."""
    if isinstance(embedding, np.ndarray):
        if embedding.ndim != 1:
            raise ValueError(f"{name} must be one-dimensional; got shape {embedding.shape}")
        if embedding.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold numbers; got dtype {embedding.dtype}")
        with np.errstate(over="ignore", invalid="ignore"):
            a = np.ascontiguousarray(embedding, dtype="<f4")
        raw = a.tobytes()
        check = a
    elif isinstance(embedding, (list, tuple, array)):
        try:
            arr = array("f", embedding)
        except (TypeError, OverflowError, ValueError):
            bad = next((x for x in embedding
                        if isinstance(x, (str, bytes)) or not isinstance(x, (int, float, np.number))),
                       None)
            raise ValueError(
                f"{name} must be a list of floats; found {type(bad).__name__} {bad!r}") from None
        if not _LITTLE:
            arr.byteswap()
        raw = arr.tobytes()
        check = np.frombuffer(raw, dtype="<f4")
    else:
        raise ValueError(
            f"{name} must be a list of floats (or a tuple or a 1-D numpy array); "
            f"got {type(embedding).__name__}")
    if check.size == 0:
        raise ValueError(f"{name} is empty")
    if not np.isfinite(check).all():
        i = int(np.flatnonzero(~np.isfinite(check))[0])
        raise ValueError(
            f"{name} must hold finite float32 values; element {i} is {float(check[i])!r} "
            "(NaN, ±Inf, or beyond float32's range)")
    return raw


def decode_embedding(raw: bytes, as_numpy: bool = False) -> Union[list, np.ndarray]:
    """The floats of stored little-endian float32 bytes: a list (each float exactly the
    stored float32), or with `as_numpy` a read-only float32 array over the bytes."""
    if as_numpy:
        return np.frombuffer(raw, dtype="<f4")
    a = array("f", raw)
    if not _LITTLE:
        a.byteswap()
    return a.tolist()


def check_ttl(ttl: Any, name: str) -> Optional[int]:
    """None (no expiry) or a positive whole number of seconds."""
    if ttl is None:
        return None
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float, np.integer)):
        raise ValueError(f"{name} must be a whole number of seconds or None; got {ttl!r}")
    if isinstance(ttl, float) and not (math.isfinite(ttl) and ttl.is_integer()):
        raise ValueError(f"{name} must be a whole number of seconds; got {ttl!r}")
    if ttl < 0:
        raise ValueError(f"{name} must be >= 0 (0 or None: the default); got {ttl!r}")
    return int(ttl)


def check_tags(tags: Optional[Mapping[str, Any]]) -> Dict[str, Any]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ValueError(f"tags must be a dict of str to flat JSON values; got {type(tags).__name__}")
    out = {}
    for k, v in tags.items():
        if not isinstance(k, str):
            raise ValueError(f"tag names must be str; got {k!r}")
        if k in RESERVED_ATTRIBUTES:
            raise ValueError(f"tag {k!r} is reserved by the entry format ({', '.join(RESERVED_ATTRIBUTES)})")
        if v is not None and not isinstance(v, (str, int, float, bool)):
            raise ValueError(f"tag {k!r} must be a str, number, bool or None; got {type(v).__name__}")
        if isinstance(v, float) and not math.isfinite(v):
            raise ValueError(f"tag {k!r} must be finite; got {v!r}")
        out[k] = v
    return out


def attributes_json(model: str, cached_at: float, ttl: Optional[int], text: Optional[str],
                    source: str, tags: Mapping[str, Any]) -> str:
    """The entry's attributes as compact JSON, keys in the documented order."""
    attrs: Dict[str, Any] = {
        "concept_type": CONCEPT_TYPE,
        "source": source,
        "model": model,
        "cached_at": cached_at,
        "expires_at": cached_at + ttl if ttl else None,
        "ttl_seconds": ttl if ttl else None,
    }
    if text is not None:
        attrs["text"] = text
    for k in sorted(tags):
        attrs[k] = tags[k]
    return json.dumps(attrs, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def parse_attributes(raw: Optional[bytes]) -> Optional[Dict[str, Any]]:
    """The attributes of an entry (None when missing or not a JSON object)."""
    if raw is None:
        return None
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return obj if isinstance(obj, dict) else None


def text_of(element: bytes, attrs: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The cached text of an element: its name, or for a hashed name the `text` attribute
    (None when the attributes are gone)."""
    if element.startswith(HASH_PREFIX) and len(element) == len(HASH_PREFIX) + 64:
        t = attrs.get("text") if attrs else None
        return t if isinstance(t, str) else None
    return element.decode("utf-8", errors="replace")
