"""Unit -> Record, in the background thread: the call tree, app metadata, enrichers, source lines."""

from __future__ import annotations

import datetime as dt
import inspect
import linecache
import os
import platform
import socket
from collections.abc import Callable
from typing import Any

from .calltree import build_call_tree
from .continuous.tree import unit_tree
from .failsafe import report
from .record import AppInfo, CallNode, Record
from .spans.build import build_spans
from .unit import Unit
from .version import __version__

Enricher = Callable[[Record], None]

_PYTHON = platform.python_version()
_HOST = socket.gethostname()


def app_info(config: Any, framework: str = "") -> AppInfo:
    return AppInfo(
        name=config.app_name, version=config.app_version, environment=config.environment,
        host=_HOST, pid=os.getpid(), python=_PYTHON, framework=framework, sdk_version=__version__,
    )


class RecordBuilder:
    def __init__(self, config: Any, enrichers: list[tuple[str, Enricher]], collector: Any = None,
                 continuous: Any = None) -> None:
        self.config = config
        self.enrichers = enrichers
        self.collector = collector  # its interval is the one in effect (the finest any client asked for)
        self.continuous = continuous  # the continuous collector (tail-kept units' trees come from its samples)
        self._apps: dict[str, AppInfo] = {}

    def app_of(self, framework: str) -> AppInfo:
        app = self._apps.get(framework)
        if app is None or app.pid != os.getpid():
            app = self._apps[framework] = app_info(self.config, framework)
        return app

    def build(self, unit: Unit) -> Record:
        config = self.config
        interval = getattr(self.collector, "interval", getattr(config, "profiler_interval", 0.0))
        if not unit.detailed and self.continuous is not None:  # tail keep: the unit's own continuous samples
            tree, truncated, count = unit_tree(unit, self.continuous.interval * 1000.0, config.max_tree_nodes)
            interval = self.continuous.interval
        else:
            tree, truncated, count = build_call_tree(unit, config.max_tree_nodes)
        tags = dict(config.tags)
        tags.update(unit.tags)
        record = Record(
            record_id=unit.record_id,
            project_key=config.project_key,
            kind=unit.kind,
            name=unit.name,
            method=unit.method,
            path=unit.path,
            status_code=unit.status_code,
            started_at=dt.datetime.fromtimestamp(unit.started_at, dt.timezone.utc),
            duration_ms=round(unit.duration_ms, 3),
            cpu_ms=round(unit.cpu_ms, 3),
            sample_rate=unit.sample_rate,
            app=self.app_of(unit.framework),
            tags=tags,
            error=unit.error,
            call_tree=tree,
            truncated=truncated,
            is_async=unit.is_async,
            sample_count=count,
            interval_ms=interval * 1000.0,
        )
        spans = unit.spans
        if spans is not None and (spans or spans.dropped):
            record.spans = build_spans(spans, unit.t0)
            record.spans_dropped = spans.dropped
        if config.capture_source and tree is not None:
            record.source = hot_source(tree)
        for name, enrich in self.enrichers:
            try:
                enrich(record)
            except Exception as exc:
                report(f"enricher {name}", exc)
        return record


def hot_source(tree: CallNode, limit: int = 5, max_lines: int = 60) -> dict[str, str]:
    """Source of the application functions with the most self time, keyed ``file:line``."""
    app_nodes: dict[tuple[str, int], float] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if node.is_app and node.file and node.line:
            key = (node.file, node.line)
            app_nodes[key] = app_nodes.get(key, 0.0) + node.self_ms
        stack.extend(node.children)
    out: dict[str, str] = {}
    for (file, line), _ in sorted(app_nodes.items(), key=lambda kv: -kv[1])[:limit]:
        lines = linecache.getlines(file)[line - 1:]
        if not lines:
            continue
        try:
            block = inspect.getblock(lines)
        except Exception:  # not parseable as a block: send a bounded slice
            block = lines
        out[f"{file}:{line}"] = "".join(block[:max_lines])
    return out
