"""Export a stored record: speedscope JSON, pyinstrument's own HTML, a ``.pyisession`` file, or JSON.

The call tree is turned back into a pyinstrument ``Session`` (one frame record per node with self
time, its stack from the root), which pyinstrument's renderers and ``pyinstrument --load`` accept.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec
from pyinstrument.renderers import HTMLRenderer, SpeedscopeRenderer
from pyinstrument.session import Session
from pystrument.core.record import CallNode, Record

FORMATS = {
    "speedscope": ("application/json", "speedscope.json"),
    "html": ("text/html; charset=utf-8", "html"),
    "json": ("application/json", "json"),
    "pyisession": ("application/json", "pyisession"),
}


def _ident(node: CallNode) -> str:
    return f"{node.function}\x00{node.file}\x00{node.line}"


def to_session(record: Record) -> Session:
    frames: list[tuple[list[str], float]] = []
    if record.call_tree is not None:
        stack: list[tuple[CallNode, list[str]]] = [(record.call_tree, [])]
        while stack:
            node, parents = stack.pop()
            path = [*parents, _ident(node)]
            if node.self_ms > 0:
                frames.append((path, node.self_ms / 1000.0))
            stack.extend((c, path) for c in reversed(node.children))
    started = record.started_at.timestamp()
    interval = (record.interval_ms or 1.0) / 1000.0
    return Session(
        frame_records=frames, start_time=started, duration=record.duration_ms / 1000.0, min_interval=interval,
        max_interval=interval, sample_count=record.sample_count or len(frames),
        start_call_stack=[_ident(record.call_tree)] if record.call_tree is not None else ["[empty]\x00\x000"],
        target_description=f"{record.name} ({record.record_id})", cpu_time=record.cpu_ms / 1000.0, sys_path=[], sys_prefixes=[],
    )


def filename(record: Record, fmt: str) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{record.name}-{record.record_id}").strip("_")[:120]
    return f"{stem}.{FORMATS[fmt][1]}"


def export(record: Record, fmt: str) -> tuple[bytes, str]:
    """The file's bytes and media type."""
    media = FORMATS[fmt][0]
    if fmt == "json":
        return msgspec.json.encode(record), media
    session = to_session(record)
    if fmt == "pyisession":
        return json.dumps(session.to_json()).encode(), media
    if fmt == "speedscope":
        return SpeedscopeRenderer().render(session).encode(), media
    return _html(session).encode(), media


def _html(session: Session) -> str:
    """pyinstrument's HTML page, with ``<`` escaped in the embedded session JSON: function and record names
    come from the profiled app, and a ``</script>`` in one must not end the script (stored XSS)."""
    page: str = HTMLRenderer().render(session)
    head, sep, rest = page.partition("const sessionData = ")
    data, sep2, tail = rest.partition(";\n")  # json.dumps never writes a raw newline: the data ends here
    if not sep or not sep2:
        raise RuntimeError("pyinstrument's HTML page changed shape: cannot escape its embedded data")
    return head + sep + data.replace("<", "\\u003c") + sep2 + tail


def describe() -> dict[str, Any]:
    return {k: v[0] for k, v in FORMATS.items()}
