"""The per-project-key rate limit held in Redis, so every ``serve`` process shares one bucket per key.

The same token bucket as ``security.RateLimiter`` (``rate`` per second, ``burst`` at once), updated
atomically by a Lua script using the Redis clock, so processes on several machines agree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from pystrument.server.api.security import RateLimiter
from pystrument.server.scale.connection import key as rkey

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings

# KEYS[1] bucket; ARGV rate, burst. Returns {allowed (0/1), tokens left * 1000}.
_BUCKET = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil then tokens = burst; ts = now end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then tokens = tokens - 1; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, math.floor(tokens * 1000)}
"""


class RedisRateLimiter(RateLimiter):
    """``security.RateLimiter`` with its buckets in Redis: ``check(key)`` (inherited) raises 10004 with
    ``Retry-After`` when over."""

    def __init__(self, conn: Any, settings: ServerSettings) -> None:
        super().__init__(settings.rate_limit_rps, settings.rate_limit_burst)
        self.settings = settings
        self._script = conn.register_script(_BUCKET)

    def take(self, key: str, rate: float, burst: int) -> int:
        """Take one token from ``key``'s shared bucket: 0 when taken, else the whole seconds until one is there."""
        allowed, left = self._script(keys=[rkey(self.settings, "ratelimit", key)], args=[rate, burst])
        if int(allowed):
            return 0
        return max(1, math.ceil((1.0 - int(left) / 1000) / rate))
