"""Where to POST: the server's API base from whatever URL the user gave."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

API_PREFIX = "/api/v1"
BATCH_PATH = "/performance/batch"
COLLECT_PATH = "/performance/collect"


def api_base(url: str) -> str:
    """``http://h:8000``, ``http://h:8000/api/v1`` and ``http://h:8000/api/v1/performance/collect`` (the
    full endpoint, the original form of ``api_endpoint``) all give ``http://h:8000/api/v1``. A server
    mounted under a prefix keeps it: ``http://h/pystrument`` gives ``http://h/pystrument/api/v1``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"HTTP sink URL {url!r} must look like http://host:port (or the full .../api/v1/performance/collect)")
    path = parts.path.rstrip("/")
    for suffix in (COLLECT_PATH, BATCH_PATH, "/performance"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    if not path.endswith(API_PREFIX):
        path += API_PREFIX
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def display_name(url: str) -> str:
    """The URL without credentials or options, for logs and stats."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
