"""The HTTP sink: batches to the pystrument server, one attempt per ``send``.

``send(batch)`` runs in the dispatcher's background thread: it encodes the batch, POSTs it (gzip,
keep-alive connections on http.client: transport.py) and reads the answer (response.py). Delivered: it
returns. Too large (413): it sends halves. The server cannot take it now (connection error, timeout, 5xx,
429/10004): it raises ``SinkError(retry=True, retry_after=...)`` and the dispatcher's retry queue keeps the
batch, on disk (``spool = True``), replaying it with backoff (core's retry.py: the one retry layer). A bad
project key (401/20003) or a wrong URL (404) raises ``SinkError(retry=False)``: the sink stops.
"""

from __future__ import annotations

import gzip
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec
from pystrument.core.record import Record
from pystrument.core.sinks import SinkError, parse_bool, url_options

from .endpoint import BATCH_PATH, COLLECT_PATH, api_base, display_name
from .response import Action, Outcome, classify
from .transport import Transport, TransportError

logger = logging.getLogger("pystrument.sinks.http")

OPTIONS: dict[str, Callable[[str], Any]] = {
    "timeout": float, "gzip": parse_bool, "key": str, "spool_dir": str, "spool_max_bytes": int,
    "max_backoff": float,
}
_encoder = msgspec.json.Encoder()
_USER_AGENT = "pystrument-sink-http/0.1"


class HttpSink:
    """``http(s)://host:port[/prefix][?options]``: see docs/sinks.md for the options."""

    spool = True  # the dispatcher keeps what the server could not take on disk, for this process or the next

    def __init__(self, url: str, config: Any) -> None:
        stripped, opts = url_options(url, OPTIONS)
        self.base = api_base(stripped)
        self.name = display_name(stripped)
        self.key = opts.get("key") or getattr(config, "project_key", "")
        self.timeout: float = opts["timeout"] if opts.get("timeout") else getattr(config, "sink_timeout", 5.0)
        self.gzip = opts.get("gzip", True)
        # read by the dispatcher's retry queue (None: the config's setting)
        self.max_backoff: float | None = opts.get("max_backoff")
        self.spool_dir: str | None = opts.get("spool_dir")
        self.spool_max_bytes: int | None = opts.get("spool_max_bytes")
        self.spool_key = f"{self.base} {self.key}"  # one spool per server and key
        self.counts: Counter[str] = Counter()
        self.disabled = ""
        self._headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        if self.key:
            self._headers["X-Project-Key"] = self.key
        if self.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._pid = 0
        self._setup_lock = threading.Lock()
        self._transport: Transport | None = None

    def _ensure_process(self) -> Transport:
        """This process's connections (made lazily, and again in a forked child: never the parent's)."""
        if self._pid != os.getpid() or self._transport is None:
            with self._setup_lock:
                if self._pid != os.getpid() or self._transport is None:
                    # a request that fails after it was sent is tried once more on a fresh connection (ingest is idempotent)
                    self._transport = Transport(self.base, self.timeout)
                    self._pid = os.getpid()
        return self._transport

    # -- the sink interface ---------------------------------------------------------------------
    def send(self, batch: list[Record]) -> None:
        if self.disabled:
            raise SinkError(self.disabled, retry=False)
        outcome = self._deliver([_encoder.encode(r) for r in batch])
        if outcome.action is Action.OK:
            return
        if outcome.action is Action.STOP:
            self.disabled = outcome.reason
            raise SinkError(outcome.reason, retry=False)
        if outcome.retry_after is not None:
            self.counts["retry_after_honoured"] += 1  # passed on: the dispatcher waits that long
        raise SinkError(outcome.reason, retry=True, retry_after=outcome.retry_after)

    def close(self) -> None:
        if self._transport is not None and self._pid == os.getpid():
            self._transport.close()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts)
        if self.disabled:
            out["disabled"] = self.disabled
        return out

    # -- delivery -------------------------------------------------------------------------------
    def _deliver(self, payloads: list[bytes]) -> Outcome:
        """POST the records (one to /collect, many to /batch); a 413 halves the batch until it fits."""
        single = len(payloads) == 1
        if single:
            url, body = self.base + COLLECT_PATH, payloads[0]
        else:
            url, body = self.base + BATCH_PATH, b'{"records":[' + b",".join(payloads) + b"]}"
        outcome = self._post(url, body, len(payloads), single)
        if outcome.action is Action.SPLIT:
            if single:
                self.counts["dropped_too_large"] += 1
                if self.counts["dropped_too_large"] == 1:
                    logger.warning("pystrument: HTTP sink %s: a record of %d bytes is larger than the server accepts; "
                                   "it is dropped (lower max_tree_nodes to make records smaller)", self.name, len(body))
                return Outcome(Action.OK)
            mid = len(payloads) // 2
            first = self._deliver(payloads[:mid])
            if first.action is not Action.OK:
                return first
            return self._deliver(payloads[mid:])
        if outcome.action is Action.OK:
            self.counts["delivered"] += outcome.accepted
            self.counts["duplicates"] += outcome.duplicates
            if outcome.rejected:
                self.counts["rejected"] += len(outcome.rejected)
                if self.counts["rejected"] == len(outcome.rejected):
                    logger.warning("pystrument: HTTP sink %s: the server rejected %d record(s), e.g. %s",
                                   self.name, len(outcome.rejected), outcome.rejected[0].get("error") or outcome.reason)
        return outcome

    def _post(self, url: str, body: bytes, sent: int, single: bool) -> Outcome:
        transport = self._ensure_process()
        data = gzip.compress(body, compresslevel=1, mtime=0) if self.gzip else body
        self.counts["requests"] += 1
        try:
            resp = transport.post(urlsplit(url).path, data, self._headers)
        except TransportError as exc:
            self.counts["errors_connection"] += 1
            return Outcome(Action.RETRY, f"cannot reach {self.name}: {exc}")
        if resp.status >= 500:
            self.counts["errors_5xx"] += 1
        elif resp.status == 429:
            self.counts["errors_429"] += 1
        return classify(resp.status, resp.headers, resp.data, sent, single)
