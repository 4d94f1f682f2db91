"""One Redis connection per process, from the ``redis`` setting, with an error that says how to fix it."""

from __future__ import annotations

from typing import Any

from ..settings import SettingsError


def connect(settings: Any) -> Any:
    try:
        import redis
    except ImportError:
        raise SettingsError("the redis setting needs redis-py and RQ: pip install 'pystrument-server[redis]'") from None
    try:
        conn = redis.Redis.from_url(settings.redis, health_check_interval=30, socket_keepalive=True)
        conn.ping()
    except (redis.RedisError, ValueError) as exc:
        raise SettingsError(f"redis {settings.redis!r}: cannot connect ({type(exc).__name__}: {exc}); "
                            "check the URL (redis://host:6379/0) and that Redis is running") from None
    return conn


def key(settings: Any, *parts: str) -> str:
    """A Redis key under the configured prefix: ``key(s, "cache", "gen", pid)`` -> ``pystrument:cache:gen:<pid>``."""
    return settings.redis_prefix + ":".join(parts)
