"""XADD records to a Redis stream, pipelined per batch, with an approximate MAXLEN cap.

Delivery is at least once: a pipeline cut by a lost connection may be sent again, so a record can be in
the stream twice; the consumer deduplicates by ``record_id`` (the server's store does).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec
from pystrument.core.contract import REDIS_STREAM, STREAM_ID_FIELD, STREAM_RECORD_FIELD
from pystrument.core.record import Record
from pystrument.core.sinks import ProcessClient, SinkError, url_options

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

DEFAULT_STREAM = REDIS_STREAM
DEFAULT_MAXLEN = 100_000
# The entry's field names: the server's stream consumer reads these.
FIELDS = (STREAM_RECORD_FIELD, STREAM_ID_FIELD)
OPTIONS: dict[str, Callable[[str], Any]] = {"stream": str, "maxlen": int}
_encoder = msgspec.json.Encoder()


class RedisSink:
    """``redis://[:password@]host:port/db?stream=...&maxlen=...`` (``rediss://`` for TLS)."""

    spool = True  # while the server is unreachable its batches wait on disk (the dispatcher's retry queue)

    def __init__(self, url: str, config: Any = None) -> None:
        stripped, opts = url_options(url, OPTIONS, passthrough=True)  # other options are redis-py's own
        parts = urlsplit(stripped)
        if not parts.hostname and "unix" not in parts.scheme:
            raise ValueError(f"redis sink URL {url!r} needs a host, e.g. redis://127.0.0.1:6379/0")
        self.stream = opts.get("stream") or DEFAULT_STREAM
        self.maxlen = opts.get("maxlen", DEFAULT_MAXLEN)
        if self.maxlen < 0:
            raise ValueError(f"redis sink {url!r}: maxlen must be 0 (no cap) or more")
        port = f":{parts.port}" if parts.port else ""
        self.name = f"{parts.scheme}://{parts.hostname}{port}{parts.path or '/0'}#{self.stream}"
        timeout = getattr(config, "sink_timeout", 5.0)
        self._url = stripped
        self._kwargs = dict(socket_timeout=timeout, socket_connect_timeout=timeout,
                            retry=Retry(NoBackoff(), 1),  # one immediate retry: a connection found closed
                            health_check_interval=30)
        try:  # builds a connection object without connecting: checks the URL and redis-py's options
            redis.ConnectionPool.from_url(self._url).make_connection()
        except (ValueError, TypeError) as exc:
            raise ValueError(f"redis sink URL {url!r}: {exc} (our options: maxlen, stream; the others are "
                             "redis-py's, e.g. socket_keepalive, client_name)") from None
        self.counts: Counter[str] = Counter()
        self._client: ProcessClient[redis.Redis] = ProcessClient(lambda: redis.Redis.from_url(self._url, **self._kwargs))

    def send(self, batch: list[Record]) -> None:
        maxlen = self.maxlen or None
        with self._client.lock:
            pipe = self._client.get().pipeline(transaction=False)
            for record in batch:
                pipe.xadd(self.stream, {STREAM_RECORD_FIELD: _encoder.encode(record), STREAM_ID_FIELD: record.record_id},
                          maxlen=maxlen, approximate=True)
            try:
                pipe.execute()
            except redis.AuthenticationError as exc:
                raise SinkError(f"Redis refused our credentials: {exc}; put the password in the URL "
                                "(redis://:PASSWORD@host:port/db)", retry=False) from exc
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                self.counts["errors_connection"] += 1
                raise SinkError(f"cannot reach Redis at {self.name}: {exc}") from exc
            except redis.ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    raise SinkError(f"the key {self.stream!r} holds something that is not a stream; "
                                    "choose another key with ?stream=... or delete it", retry=False) from exc
                raise SinkError(f"Redis answered an error: {exc}") from exc
        self.counts["added"] += len(batch)
        self.counts["pipelines"] += 1

    def close(self) -> None:
        self._client.close()

    def stats(self) -> dict[str, Any]:
        return dict(self.counts)
