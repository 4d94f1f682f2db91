"""The HTTP sink: batches to the pystrument server, and an on-disk spool while it is unreachable.

``send(batch)`` runs in the dispatcher's background thread. While the spool is empty it POSTs the batch
straight away (gzip, keep-alive connections on http.client: transport.py). When the server cannot take it (connection error, timeout, 5xx,
429/10004) the batch goes to the spool and a replay thread sends spooled batches oldest first, with
exponential backoff and jitter, honouring ``Retry-After``; new batches go behind them, so the order is
kept. A bad project key (401/20003) or a wrong URL (404) stops the sink with one error line.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import random
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec
from pystrument.core.failsafe import report
from pystrument.core.record import Record
from pystrument.core.sinks import SinkError, parse_bool, url_options

from .endpoint import BATCH_PATH, COLLECT_PATH, api_base, display_name
from .response import Action, Outcome, classify
from .spool import Spool
from .transport import Transport, TransportError

logger = logging.getLogger("pystrument.sinks.http")

OPTIONS: dict[str, Callable[[str], Any]] = {
    "timeout": float, "gzip": parse_bool, "key": str, "spool_dir": str, "spool_max_bytes": int,
    "max_backoff": float,
}
_encoder = msgspec.json.Encoder()
_USER_AGENT = "pystrument-sink-http/0.1"


def default_spool_root() -> Path:
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"pystrument-spool-{uid}"


def _value(record: Record) -> tuple[bool, float]:
    return (record.error is not None or (record.status_code or 0) >= 500, float(record.duration_ms))


class HttpSink:
    """``http(s)://host:port[/prefix][?options]``: see docs/sinks.md for the options."""

    def __init__(self, url: str, config: Any) -> None:
        stripped, opts = url_options(url, OPTIONS)
        self.base = api_base(stripped)
        self.name = display_name(stripped)
        self.key = opts.get("key") or getattr(config, "project_key", "")
        self.timeout: float = opts["timeout"] if opts.get("timeout") else getattr(config, "sink_timeout", 5.0)
        self.gzip = opts.get("gzip", True)
        self.max_backoff = opts.get("max_backoff", 30.0)
        self.spool_max = opts.get("spool_max_bytes", getattr(config, "spool_max_bytes", 64 * 1024 * 1024))
        root = Path(opts.get("spool_dir") or getattr(config, "spool_dir", "") or default_spool_root())
        self.spool_root = root / hashlib.sha1(f"{self.base} {self.key}".encode()).hexdigest()[:12]  # per server and key
        self.shutdown_timeout = getattr(config, "shutdown_timeout", 2.0)
        self.counts: Counter[str] = Counter()
        self.disabled = ""
        self._headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        if self.key:
            self._headers["X-Project-Key"] = self.key
        if self.gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._pid = 0
        self._setup_lock = threading.Lock()
        self._spool: Spool | None = None
        self._thread: threading.Thread | None = None
        self._transport: Transport | None = None
        self._wake = threading.Event()
        self._closing = False
        self._close_deadline = 0.0
        self._retry_at = 0.0
        self._failures = 0
        self._outage_logged = False
        self._stop_announced = False

    # -- per-process setup (lazy, and again in a forked child) ---------------------------------
    def _ensure_process(self) -> None:
        if self._pid == os.getpid():
            return
        with self._setup_lock:
            if self._pid == os.getpid():
                return
            if self._spool is not None:
                self._spool.forget()  # a forked child: the parent keeps its spool folder and lock
            # a request that fails after it was sent is tried once more on a fresh connection (ingest is idempotent)
            self._transport = Transport(self.base, self.timeout)
            self._wake = threading.Event()
            self._thread = None
            self._spool = None
            self._retry_at = 0.0
            self._failures = 0
            if self.spool_max > 0:
                try:
                    self._spool = Spool(self.spool_root, self.spool_max)
                except OSError as exc:
                    logger.error("pystrument: HTTP sink %s cannot spool to %s (%s); it runs without a spool: set "
                                 "spool_dir to a writable folder", self.name, self.spool_root, exc)
                    self._spool = None
            if self._spool is not None:
                if len(self._spool):
                    logger.info("pystrument: HTTP sink %s replays %d records left by an earlier process",
                                self.name, len(self._spool))
                    self._start_replay()
            self._pid = os.getpid()

    # -- the sink interface ---------------------------------------------------------------------
    def send(self, batch: list[Record]) -> None:
        self._ensure_process()
        if self.disabled:
            self._stop_announced = True  # the dispatcher logs it, once
            raise SinkError(self.disabled, retry=False)
        payloads = [_encoder.encode(r) for r in batch]
        spool = self._spool
        if spool is not None and (len(spool) or time.monotonic() < self._retry_at):
            self._to_spool(batch, payloads)  # behind what waits, to keep the order
            return
        outcome = self._deliver(payloads)
        if outcome.action is Action.OK:
            self._failures = 0
            return
        if outcome.action is Action.STOP:
            self.disabled = outcome.reason
            self._stop_announced = True
            raise SinkError(outcome.reason, retry=False)
        self._schedule_retry(outcome)
        if spool is None:
            raise SinkError(outcome.reason, retry_after=outcome.retry_after)
        self._to_spool(batch, payloads)

    def close(self) -> None:
        """Give the replay thread up to ``shutdown_timeout`` to drain the spool; what is left stays on disk."""
        self._closing = True
        self._close_deadline = time.monotonic() + self.shutdown_timeout
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.shutdown_timeout + 0.5)  # a POST still in flight: its batch stays spooled
        if self.disabled and not self._stop_announced:
            logger.error("pystrument: sink %s stopped sending: %s", self.name, self.disabled)
        if self._spool is not None and self._pid == os.getpid():
            self._spool.close()
        if self._transport is not None and self._pid == os.getpid():
            self._transport.close()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.counts)
        if self._spool is not None:
            out.update(self._spool.stats())
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
        assert self._transport is not None
        data = gzip.compress(body, compresslevel=1, mtime=0) if self.gzip else body
        self.counts["requests"] += 1
        try:
            resp = self._transport.post(urlsplit(url).path, data, self._headers)
        except TransportError as exc:
            self.counts["errors_connection"] += 1
            return Outcome(Action.RETRY, f"cannot reach {self.name}: {exc}")
        if resp.status >= 500:
            self.counts["errors_5xx"] += 1
        elif resp.status == 429:
            self.counts["errors_429"] += 1
        return classify(resp.status, resp.headers, resp.data, sent, single)

    def _schedule_retry(self, outcome: Outcome) -> None:
        self._failures += 1
        if outcome.retry_after is not None:
            delay = outcome.retry_after
            self.counts["retry_after_honoured"] += 1
        else:
            delay = min(0.25 * 2 ** min(self._failures, 10), self.max_backoff) * (0.5 + random.random())
        self._retry_at = time.monotonic() + delay
        if not self._outage_logged:
            self._outage_logged = True
            where = f"spooling to {self._spool.dir}" if self._spool is not None else "no spool (spool_max_bytes=0)"
            logger.warning("pystrument: HTTP sink %s cannot deliver now (%s); %s, retrying with backoff",
                           self.name, outcome.reason, where)

    # -- the spool ------------------------------------------------------------------------------
    def _to_spool(self, batch: list[Record], payloads: list[bytes]) -> None:
        assert self._spool is not None
        items = [(payload, *_value(record)) for payload, record in zip(payloads, batch, strict=True)]
        dropped = self._spool.put(items)
        self.counts["spooled"] += len(items)
        if dropped and self._spool.dropped == dropped:
            logger.warning("pystrument: HTTP sink %s: spool full (%d bytes); dropping the fastest successful records first "
                           "(counted as dropped_spool_full)", self.name, self.spool_max)
        self._start_replay()

    def _start_replay(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._replay_loop, name="pystrument-http-replay", daemon=True)
            self._thread.start()
        self._wake.set()

    def _replay_loop(self) -> None:
        try:
            self._replay()
        except Exception as exc:  # never let the thread die silently
            report("http sink replay", exc)
            self._thread = None

    def _replay(self) -> None:
        spool = self._spool
        assert spool is not None
        while True:
            now = time.monotonic()
            if self._closing and (not len(spool) or now >= self._close_deadline or self.disabled):
                return
            wait = self._retry_at - now
            if wait > 0:
                if self._closing:
                    wait = min(wait, self._close_deadline - now)
                self._wake.wait(wait)
                self._wake.clear()
                continue
            batch = spool.oldest()
            if batch is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            outcome = self._deliver(batch.records)
            if outcome.action is Action.OK:
                spool.done(batch)
                self.counts["replayed"] += len(batch.records)
                self._failures = 0
                if not len(spool) and self._outage_logged:
                    self._outage_logged = False
                    logger.warning("pystrument: HTTP sink %s delivers again; the spool is replayed", self.name)
            elif outcome.action is Action.STOP:
                spool.release(batch)
                self.disabled = outcome.reason  # announced by the next send() (through the dispatcher) or close()
                return
            else:
                spool.release(batch)
                self._schedule_retry(outcome)
