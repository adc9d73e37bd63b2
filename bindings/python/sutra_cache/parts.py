"""One model's entries split over P hash-tagged parts of a cluster (docs/cluster.md, "One
model on many nodes"). The Go client implements the same rules (bindings/go/parts.go).

- With P = 1 the model's set is `namespace + model`, as on a single node.
- With P > 1 part i (0 <= i < P) is the set `f"{namespace}{model}:{{{model}:{i}.{j}}}"`, j the
  smallest integer >= 0 for which the key's hash slot lies in the i-th P-th of the slot space,
  [i * 16384 // P, (i + 1) * 16384 // P): after `sutra-cache cluster create` of P nodes (which
  splits the slots in even contiguous ranges) each part is on its own node.
- An entry of text t lives in part crc32(element name of t) % P (zlib's CRC-32, the element
  name's bytes as in `entry.element_name`).
- P is recorded per model in the hash `sutra-cache:parts:<namespace>` (field: the model) by
  the first client that uses the model; a client configured with another P is refused.
"""

from __future__ import annotations

import zlib
from typing import List, Sequence, Tuple, Union

from redis.crc import key_slot

SLOTS = 16384
MAX_PARTS = 1024
LAYOUT_PREFIX = "sutra-cache:parts:"


def layout_key(namespace: str) -> str:
    """The hash recording each model's number of parts."""
    return LAYOUT_PREFIX + namespace


def check_parts(parts: object) -> int:
    if isinstance(parts, bool) or not isinstance(parts, int) or not 1 <= parts <= MAX_PARTS:
        raise ValueError(f"parts must be an int in [1, {MAX_PARTS}]; got {parts!r}")
    return parts


def part_keys(namespace: str, model: str, parts: int) -> List[str]:
    """The set keys of `model`'s parts, part 0 first."""
    if parts == 1:
        return [namespace + model]
    for what, s in (("namespace", namespace), ("model", model)):
        if "{" in s or "}" in s:
            raise ValueError(f"a {what} split into parts cannot contain '{{' or '}}' (it would "
                             f"change the parts' hash tags); got {s!r}")
    keys = []
    for i in range(parts):
        lo, hi = i * SLOTS // parts, (i + 1) * SLOTS // parts
        j = 0
        while True:
            key = f"{namespace}{model}:{{{model}:{i}.{j}}}"
            if lo <= key_slot(key.encode("utf-8")) < hi:
                keys.append(key)
                break
            j += 1
    return keys


def part_of(element: bytes, parts: int) -> int:
    """The part holding the entry whose element name is `element`."""
    return zlib.crc32(element) % parts if parts > 1 else 0


Node = Union[str, Tuple[str, int]]


def parse_nodes(nodes: Sequence[Node]) -> List[Tuple[str, int]]:
    """`["host:port", ("host", port), ...]` as (host, port) pairs (ValueError naming a bad one)."""
    if isinstance(nodes, (str, bytes)) or not isinstance(nodes, Sequence) or not nodes:
        raise ValueError(f"startup_nodes must be a non-empty list of 'host:port' or (host, port); "
                         f"got {nodes!r}")
    out = []
    for n in nodes:
        if isinstance(n, str):
            host, sep, port_s = n.rpartition(":")
            if not sep or not host or not port_s.isdigit():
                raise ValueError(f"startup node {n!r} is not 'host:port'")
            port = int(port_s)
        elif isinstance(n, tuple) and len(n) == 2 and isinstance(n[0], str) \
                and isinstance(n[1], int) and not isinstance(n[1], bool):
            host, port = n
        else:
            raise ValueError(f"startup node {n!r} is not 'host:port' or (host, port)")
        if not 0 < port < 65536:
            raise ValueError(f"startup node {n!r}: port must be in [1, 65535]")
        out.append((host.strip("[]"), port))
    return out
