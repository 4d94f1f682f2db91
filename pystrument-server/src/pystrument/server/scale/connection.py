"""One Redis connection per process, from the ``redis`` setting, with an error that says how to fix it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pystrument.server.settings import SettingsError

if TYPE_CHECKING:
    from pystrument.server.settings import ServerSettings


def require_redis_extra() -> None:
    """redis-py and RQ come with the ``redis`` extra: say so, instead of a ModuleNotFoundError later."""
    missing = []
    for module, name in (("redis", "redis-py"), ("rq", "RQ")):
        try:
            __import__(module)
        except ImportError:
            missing.append(name)
    if missing:
        raise SettingsError(f"Redis mode (the redis setting, the worker) needs {' and '.join(missing)}, which are not installed: "
                            "pip install 'pystrument-server[redis]'")


def connect(settings: ServerSettings) -> Any:
    require_redis_extra()
    import redis

    try:
        conn = redis.Redis.from_url(settings.redis, health_check_interval=30, socket_keepalive=True)
        conn.ping()
    except (redis.RedisError, ValueError) as exc:
        raise SettingsError(f"redis {settings.redis!r}: cannot connect ({type(exc).__name__}: {exc}); "
                            "check the URL (redis://host:6379/0) and that Redis is running") from None
    return conn


def key(settings: ServerSettings, *parts: str) -> str:
    """A Redis key under the configured prefix: ``key(s, "cache", "gen", pid)`` -> ``pystrument:cache:gen:<pid>``."""
    return settings.redis_prefix + ":".join(parts)
