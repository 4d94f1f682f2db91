"""The ``_id`` of the server's own MongoDB documents that stand for a key (roll-up rows, continuous aggregates,
budget breaches): a 128-bit hash of the key's parts, so that an upsert of the same key meets the same document."""

from __future__ import annotations

import hashlib
from typing import Any


def hashed_id(*parts: Any) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=16).hexdigest()
