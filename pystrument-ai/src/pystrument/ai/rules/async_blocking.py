"""Blocking work inside ``async def`` code: while it runs, the event loop serves no other request.

A unit is async when its tree has ``[await]`` time, its adapter is an ASGI one, or its captured source
starts with ``async def``. Under it, two things block the loop:

- synchronous I/O called on the loop's thread (``time.sleep``, sqlite3 / DB-API calls, sockets,
  ``requests``, file reads, subprocesses), but not I/O under asyncio's own code or in a worker thread;
- long CPU stretches: an application function whose time (without awaits and blocking I/O) is long.
  A tree has no time order, so the finding says "up to": the stretch may have awaits in between
  when the function is itself a coroutine (lower confidence), never when it is a plain ``def``.
"""

from __future__ import annotations

from collections import defaultdict

from pystrument.core.analysis import AnalysisContext, Finding
from pystrument.core.calltree import AWAIT

from .. import messages
from ..calls import in_non_blocking_context, topmost_blocking
from ..tree import Frame, TreeView, is_async_source, is_sync_source, source_of
from .base import finding, r, severity

NAMES = {"sleep": "time.sleep", "db": "a synchronous database call", "network": "synchronous network I/O",
         "file": "synchronous file I/O", "subprocess": "a subprocess wait", "lock": "a thread lock wait"}


class AsyncBlockingAnalyser:
    name = "async_blocking"

    def __init__(self, min_io_ms: float = 5.0, min_cpu_ms: float = 20.0) -> None:
        self.min_io_ms = min_io_ms
        self.min_cpu_ms = min_cpu_ms

    def analyse(self, context: AnalysisContext) -> list[Finding]:
        view = TreeView(context.record)
        if view.root is None:
            return []
        is_async, why = view.is_async()
        if not is_async:
            return []
        findings = self._blocking_io(view, why)
        findings += self._cpu_stretches(context, view, why)
        return findings

    def _blocking_io(self, view: TreeView, why: str) -> list[Finding]:
        groups: dict[tuple[tuple[str, str, int], str], list[Frame]] = defaultdict(list)
        for frame, kind in topmost_blocking(view.frames):
            if in_non_blocking_context(frame):
                continue
            owner = frame.app_owner()
            if owner is not None:
                groups[(owner.key, kind)].append(frame)
        findings = []
        for (_key, kind), frames in groups.items():
            ms = sum(f.node.time_ms for f in frames)
            if ms < self.min_io_ms:
                continue
            owner = frames[0].app_owner()
            assert owner is not None
            share = view.share(ms)
            calls = sorted({f.function for f in frames})
            evidence = {
                "blocking_ms": r(ms), "share": round(share, 3), "calls": calls, "kind": kind,
                "async_because": why, "path": " > ".join(frames[0].path()),
                "note": messages.NOTES["async_blocking.loop_blocked"],
            }
            title = f"{NAMES[kind]} blocks the event loop in async code: {owner.function} ({ms:.1f} ms)"
            suggestion = messages.suggestion(f"async_blocking.io.{kind}")
            findings.append(finding(self.name, title, owner, evidence, suggestion, ms, 0.8,
                                    severity(ms, share, high=(50.0, 0.1), medium=(self.min_io_ms * 2, 0.05)),
                                    "async_blocking.io", {"kind": kind, "ms": r(ms)}, f"async_blocking.io.{kind}", "async_blocking.loop_blocked"))
        return findings

    def _cpu_stretches(self, context: AnalysisContext, view: TreeView, why: str) -> list[Finding]:
        # CPU time of each frame's subtree: total minus awaits and blocking I/O (reported above)
        blocked = {id(f) for f, _k in topmost_blocking(view.frames) if not in_non_blocking_context(f)}
        cpu: dict[int, float] = {}
        for frame in reversed(view.frames):  # children before parents
            if frame.function == AWAIT or id(frame) in blocked or in_non_blocking_context(frame):
                cpu[id(frame)] = 0.0
                continue
            cpu[id(frame)] = frame.node.self_ms + sum(cpu[id(c)] for c in frame.children)
        findings = []
        for frame in view.frames:
            if not frame.is_owner or cpu[id(frame)] < self.min_cpu_ms:
                continue
            ms = cpu[id(frame)]
            # report the deepest application frame that holds most of the stretch
            if any(cpu[id(c)] >= 0.8 * ms for c in _app_descendants(frame)):
                continue
            source = source_of(context.record, frame.node)
            coroutine = (frame is view.root) or (bool(source) and is_async_source(source))
            plain_def = bool(source) and is_sync_source(source)
            confidence = 0.7 if plain_def else (0.4 if coroutine else 0.6)
            share = view.share(ms)
            evidence = {
                "cpu_ms": r(ms), "share": round(share, 3), "async_because": why, "path": " > ".join(frame.path()),
                "function_kind": "def" if plain_def else ("async def" if coroutine else "unknown"),
                "note": messages.NOTES["async_blocking.no_await"],
            }
            title = f"CPU-bound work blocks the event loop: {frame.function} ({ms:.1f} ms without an await)"
            suggestion = messages.suggestion("async_blocking.cpu")
            findings.append(finding(self.name, title, frame, evidence, suggestion, ms * 0.9, confidence,
                                    # 20 ms without an await already delays every other request on the loop
                                    severity(ms, share, high=(100.0, 0.2), medium=(20.0, 0.1)),
                                    "async_blocking.cpu", {"ms": r(ms)}, "async_blocking.cpu", "async_blocking.no_await"))
        return findings


def _app_descendants(frame: Frame) -> list[Frame]:
    """The nearest application frames below ``frame`` (through library frames)."""
    out: list[Frame] = []
    stack = list(frame.children)
    while stack:
        child = stack.pop()
        if child.is_owner:
            out.append(child)
        else:
            stack.extend(child.children)
    return out
