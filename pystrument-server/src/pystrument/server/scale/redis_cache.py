"""The shared aggregate cache: answers of the statistics endpoints kept in Redis for every ``serve``
process, invalidated by any write to the project's data (ingest from the API or the stream, purge,
version deletion).

Invalidation is a generation counter per project (``<prefix>cache:gen:<project_id>``) that every
write increments; a cached answer's key holds the generation it was computed at, so a write makes
every older answer unreachable at once (they expire after ``cache_ttl_s``). Each cached endpoint
answers with ``X-Pystrument-Cache: hit`` or ``miss``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import TYPE_CHECKING, Any

from pystrument.core import failsafe
from pystrument.server.api.envelope import ApiError
from pystrument.server.api.security import check_token
from pystrument.server.scale.connection import key as rkey
from starlette.requests import Request

if TYPE_CHECKING:
    import datetime as dt

    from pystrument.core.record import Record
    from pystrument.server.settings import ServerSettings
    from pystrument.server.stores.base import InsertResult, Store

logger = logging.getLogger("pystrument.server.scale")
CACHED = re.compile(r"^/api/v1/projects/([^/]+)/(endpoints|trends|functions|flamegraph|compare|versions)$")
HEADER = b"x-pystrument-cache"


class InvalidatingStore:
    """Wraps a store: every write that changes a project's aggregates bumps its cache generation."""

    def __init__(self, inner: Store, conn: Any, settings: ServerSettings) -> None:
        self._inner = inner
        self._conn = conn
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def invalidate(self, project_id: str) -> None:
        try:
            self._conn.incr(rkey(self._settings, "cache", "gen", project_id))
        except Exception as exc:  # the write succeeded; a stale cache must not hide it for long, so say so loudly
            failsafe.report("cache invalidation", exc)

    def invalidate_all(self) -> None:
        try:
            self._conn.incr(rkey(self._settings, "cache", "gen", "*"))
        except Exception as exc:
            failsafe.report("cache invalidation", exc)

    def insert_records(self, project_id: str, records: list[Record]) -> InsertResult:
        result = self._inner.insert_records(project_id, records)
        if result.accepted:
            self.invalidate(project_id)
        return result

    def purge_before(self, project_id: str, cutoff: dt.datetime) -> int:
        n = self._inner.purge_before(project_id, cutoff)
        if n:
            self.invalidate(project_id)
        return n

    def delete_version(self, project_id: str, version: str) -> int:
        n = self._inner.delete_version(project_id, version)
        self.invalidate(project_id)
        return n

    def delete_project(self, project_id: str) -> bool:
        done = self._inner.delete_project(project_id)
        self.invalidate(project_id)
        return done

    def update_project(self, project_id: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        updated = self._inner.update_project(project_id, fields)
        self.invalidate(project_id)
        return updated

    def maintain(self, *args: Any, **kwargs: Any) -> Any:
        maintain = getattr(self._inner, "maintain", None)
        if maintain is None:
            return 0
        adopted = maintain(*args, **kwargs)
        if adopted:
            self.invalidate_all()
        return adopted


class CacheMiddleware:
    """ASGI middleware serving the statistics GETs from Redis when the project's data has not changed."""

    def __init__(self, app: Any, settings: ServerSettings) -> None:
        self.app = app
        self.settings = settings
        self._redis: Any = None

    def _client(self) -> Any:
        if self._redis is None:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(self.settings.redis)
        return self._redis

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = CACHED.match(scope.get("path", "")) if scope["type"] == "http" and scope["method"] == "GET" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        try:  # never serve a cached answer to a caller the route itself would refuse
            check_token(Request(scope), self.settings.token, self.settings.read_token)
        except ApiError:
            await self.app(scope, receive, send)
            return
        project_id = match.group(1)
        try:
            client = self._client()
            gens = await client.mget(rkey(self.settings, "cache", "gen", project_id), rkey(self.settings, "cache", "gen", "*"))
            digest = hashlib.sha1(scope["path"].encode() + b"?" + scope.get("query_string", b"")).hexdigest()
            cache_key = rkey(self.settings, "cache", project_id, f"{int(gens[0] or 0)}.{int(gens[1] or 0)}", digest)
            cached = await client.get(cache_key)
        except Exception as exc:  # Redis down: answer from the store, uncached
            logger.error("pystrument-server: aggregate cache unavailable, answering uncached: %s: %s", type(exc).__name__, exc)
            await self.app(scope, receive, send)
            return
        if cached is not None:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(cached)).encode()), (HEADER, b"hit")]})
            await send({"type": "http.response.body", "body": cached})
            return
        await self._miss(scope, receive, send, cache_key)

    async def _miss(self, scope: dict[str, Any], receive: Any, send: Any, cache_key: str) -> None:
        status = 0
        chunks: list[bytes] = []

        async def capture(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (HEADER, b"miss")]}
            elif message["type"] == "http.response.body" and status == 200:
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and chunks is not None:
                    try:
                        await self._client().set(cache_key, b"".join(chunks), px=int(self.settings.cache_ttl_s * 1000))
                    except Exception as exc:
                        logger.error("pystrument-server: cannot fill the aggregate cache: %s: %s", type(exc).__name__, exc)
            await send(message)

        await self.app(scope, receive, capture)
