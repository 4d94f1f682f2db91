"""An example third-party plugin: one module, one entry point (see docs/plugins.md).

- a sink for ``example://NAME`` URLs that appends records to ``SENT[NAME]``;
- an enricher that tags every record with ``enriched_by=pystrument-example``.
"""

from __future__ import annotations

from pystrument.core import hookimpl

SENT: dict[str, list] = {}


class ExampleSink:
    def __init__(self, url: str, config: object) -> None:
        self.name = url
        self.key = url.split("://", 1)[1]

    def send(self, batch: list) -> None:
        SENT.setdefault(self.key, []).extend(batch)

    def close(self) -> None:
        pass


def enrich(record) -> None:
    record.tags["enriched_by"] = "pystrument-example"


@hookimpl
def register_sinks(register):
    register("example", ExampleSink)


@hookimpl
def register_enrichers(register):
    register(enrich)
