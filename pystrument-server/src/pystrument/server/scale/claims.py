"""Keys held for a time by one process of the cluster (``SET NX EX``): which endpoint and version had an
automatic analysis recently, whichever ``serve`` or worker process queued it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pystrument.server.scale.connection import key as rkey

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings


class RedisClaims:
    def __init__(self, conn: Any, settings: ServerSettings) -> None:
        self.conn = conn
        self.settings = settings

    def claim(self, key: str, ttl_s: float) -> bool:
        return bool(self.conn.set(rkey(self.settings, "auto", "claim", key), b"1", nx=True, ex=max(1, math.ceil(ttl_s))))

    def release(self, key: str) -> None:
        self.conn.delete(rkey(self.settings, "auto", "claim", key))
