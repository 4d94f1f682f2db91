"""Bearer-token check and the per-project-key rate limit (an in-process token bucket)."""

from __future__ import annotations

import hmac
import math
import threading
import time

from pystrument.server.api.envelope import AUTHENTICATION_ERROR, PERMISSION_ERROR, RATE_LIMIT_ERROR, ApiError
from starlette.requests import Request


def check_token(request: Request, token: str, read_token: str = "") -> None:
    if not token and not read_token:
        return
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value:
        raise ApiError(AUTHENTICATION_ERROR, "this server needs 'Authorization: Bearer <token>' (the token set with --token or PYSTRUMENT_SERVER_TOKEN)")
    given = value.strip().encode()
    if token and hmac.compare_digest(given, token.encode()):
        return
    if read_token and hmac.compare_digest(given, read_token.encode()):
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            raise ApiError(PERMISSION_ERROR, f"the read-only token cannot {request.method} {request.url.path}: use the server's full token")
        return
    raise ApiError(AUTHENTICATION_ERROR, "the bearer token is not valid for this server")


class RateLimiter:
    """One token bucket per key: ``rate`` requests per second, ``burst`` at once. rate 0: unlimited."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        if self.rate <= 0:
            return
        wait = self.take(key, self.rate, self.burst)
        if wait:
            raise ApiError(RATE_LIMIT_ERROR, f"rate limit: at most {self.rate:g} requests/s per project key (burst {self.burst}); retry in {wait}s",
                           headers={"Retry-After": str(wait)})

    def take(self, key: str, rate: float, burst: int) -> int:
        """Take one token from ``key``'s bucket (``rate`` per second, ``burst`` at once): 0 when taken, else
        the whole seconds until one is there."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / rate))
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 100_000:  # forget idle keys
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < 60}
            return 0
