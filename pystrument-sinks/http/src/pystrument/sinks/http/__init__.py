"""HTTP sink: delivers records to the pystrument server (the default transport).

    configure(project_key="...", api_endpoint="http://localhost:8000")
    # or: sinks=["https://pystrument.example.com?timeout=10&spool_max_bytes=134217728"]

Batches go to ``POST /api/v1/performance/batch`` (one record to ``/collect``), gzip, over a keep-alive
connection pool, with ``X-Project-Key``. While the server is unreachable, batches wait in the dispatcher's
bounded on-disk spool (the sink declares ``spool = True``) and are replayed in order when it is back.
Options: docs/sinks.md.
"""

from __future__ import annotations

from collections.abc import Callable

from pystrument.core import hookimpl

from .sink import HttpSink

__all__ = ["HttpSink"]


@hookimpl
def register_sinks(register: Callable[..., None]) -> None:
    register("http", HttpSink)
    register("https", HttpSink)
