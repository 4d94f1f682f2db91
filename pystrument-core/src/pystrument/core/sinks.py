"""The sink interface, the registry of sink factories by URL scheme, and per-sink statistics.

A sink receives batches of ``Record`` from the background thread: ``send(batch)``, one attempt. It may
raise; the dispatcher's retry queue (retry.py) keeps the batch and tries again with backoff, and counts
what it finally drops. A sink never runs on the request path and never retries by waiting itself.

Optional attributes a sink may declare, read by retry.py: ``spool = True`` (its batches wait on disk, and
survive the process), ``spool_key`` (what identifies its target, for the spool's folder; default: its
name), ``spool_dir`` / ``spool_max_bytes`` (its own values of those settings), ``max_backoff`` (seconds).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from . import plugins
from .record import Record

logger = logging.getLogger("pystrument.sinks")


@runtime_checkable
class Sink(Protocol):
    name: str

    def send(self, batch: list[Record]) -> None: ...

    def close(self) -> None: ...


class SinkError(Exception):
    """Raised by a sink for a failure. ``retry=False`` means retrying cannot help (e.g. a bad key)."""

    def __init__(self, message: str, *, retry: bool = True, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry = retry
        self.retry_after = retry_after


class SinkStats:
    """Counters kept per sink by the dispatcher; ``extra`` holds what ``failed`` is made of, by reason."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0  # records it will never get: given up by its retry queue, or sent while it was stopped
        self.retries = 0
        self.batches = 0
        self.last_error = ""
        self.extra: Counter[str] = Counter()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sent": self.sent, "failed": self.failed, "retries": self.retries,
            "batches": self.batches, "last_error": self.last_error,
        }
        out.update(self.extra)
        return out


SinkFactory = Callable[[str, Any], Sink]


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


class ProcessClient(Generic[C]):
    """A sink's network client, made on first use in each process: a forked child (a pre-fork server's worker)
    makes its own and never closes the parent's. ``lock`` serialises the sink's use of it."""

    def __init__(self, make: Callable[[], C]) -> None:
        self._make = make
        self._client: C | None = None
        self._pid = 0
        self.lock = threading.Lock()

    def get(self) -> C:
        """The client of this process (call with ``lock`` held)."""
        if self._client is None or self._pid != os.getpid():
            self._client = self._make()
            self._pid = os.getpid()
        return self._client

    def close(self) -> None:
        with self.lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None


def url_options(url: str, known: dict[str, Callable[[str], Any]], *, passthrough: bool = False) -> tuple[str, dict[str, Any]]:
    """Split a sink URL into (URL without our options, {option: converted value}).

    ``known`` maps each option name to a converter (``int``, ``float``, ``str``, ``parse_bool``, ...).
    An unknown option raises ``ValueError`` naming the allowed ones, unless ``passthrough`` is set (the
    option then stays in the returned URL, for drivers that take their own options, e.g. pymongo's).
    A value the converter rejects raises ``ValueError`` naming the option and the value.
    """
    parts = urlsplit(url)
    ours: dict[str, Any] = {}
    rest: list[tuple[str, str]] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        convert = known.get(key)
        if convert is None:
            if passthrough:
                rest.append((key, value))
                continue
            allowed = ", ".join(sorted(known)) or "none"
            raise ValueError(f"sink {url!r}: unknown option {key!r} (options: {allowed})")
        try:
            ours[key] = convert(value)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"sink {url!r}: option {key}={value!r} is invalid: {exc}") from None
    stripped = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment))
    return stripped, ours


def parse_bool(value: str) -> bool:
    """'1', 'true', 'yes', 'on' -> True; '0', 'false', 'no', 'off', '' -> False."""
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected true/false")


def sink_factories(schemes: Iterable[str] | None = None) -> dict[str, SinkFactory]:
    """URL scheme -> factory from the plugin registry. ``schemes`` loads only the sink plugins whose
    entry-point names are those schemes (a scheme no entry point is named after loads the others too)."""
    return plugins.provided("register_sinks", schemes)


def url_scheme(url: str) -> str:
    """The scheme a sink URL is looked up by (``mongodb+srv://`` -> ``mongodb``)."""
    return urlsplit(url).scheme.split("+")[0]


def create_sink(url: str, config: Any, factories: dict[str, SinkFactory] | None = None) -> Sink:
    scheme = url_scheme(url)
    factories = sink_factories([scheme]) if factories is None else factories
    factory = factories.get(scheme)
    if factory is None:
        known = ", ".join(sorted(factories)) or "none"
        hint = {
            "http": "pip install pystrument-sink-http", "https": "pip install pystrument-sink-http",
            "file": "pip install pystrument-sink-file", "mongodb": "pip install pystrument-sink-mongo",
            "redis": "pip install pystrument-sink-redis",
        }.get(scheme, "install the plugin that provides it")
        raise ValueError(f"no sink for {url!r}: scheme {scheme!r} is not installed ({hint}); installed schemes: {known}")
    return factory(url, config)
