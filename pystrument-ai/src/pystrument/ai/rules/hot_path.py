"""Hot path: where the time goes, application code first.

Each frame's self time is charged to its nearest application frame (library and built-in time counts
for the application function that called into it), so the findings name code the user can change,
with the callee that took the time as evidence.
"""

from __future__ import annotations

from collections import defaultdict

from pystrument.core.analysis import AnalysisContext, Finding
from pystrument.core.calltree import AWAIT, THREAD

from .. import messages
from ..calls import topmost_blocking
from ..tree import Frame, TreeView, source_of
from .base import finding, r, severity
from .source_hints import list_membership_in_loop, sort_in_loop


class HotPathAnalyser:
    name = "hot_path"

    def __init__(self, top: int = 3, min_share: float = 0.1, min_ms: float = 2.0) -> None:
        self.top = top
        self.min_share = min_share
        self.min_ms = min_ms

    def analyse(self, context: AnalysisContext) -> list[Finding]:
        view = TreeView(context.record)
        if view.root is None:
            return []
        owned: dict[tuple[str, str, int], float] = defaultdict(float)
        own_self: dict[tuple[str, str, int], float] = defaultdict(float)
        first: dict[tuple[str, str, int], Frame] = {}
        callees: dict[tuple[str, str, int], dict[str, float]] = defaultdict(lambda: defaultdict(float))
        on_cpu: dict[tuple[str, str, int], float] = defaultdict(float)
        has_app = any(f.is_owner for f in view.frames)
        ratio, cpu_frames = _on_cpu_ratio(view)
        for frame in view.frames:
            if frame.is_synthetic or frame.node.self_ms <= 0:
                continue
            owner = frame.app_owner() if has_app else frame
            if owner is None:
                continue
            key = owner.key
            first.setdefault(key, owner)
            owned[key] += frame.node.self_ms
            on_cpu[key] += frame.node.self_ms * (ratio if id(frame) in cpu_frames else 1.0)
            if frame is owner:
                own_self[key] += frame.node.self_ms
            else:
                callees[key][_callee_name(frame, owner)] += frame.node.self_ms
        findings: list[Finding] = []
        for key, ms in sorted(owned.items(), key=lambda kv: -kv[1])[: self.top]:
            share = view.share(ms)
            if share < self.min_share or ms < self.min_ms:
                continue
            frame = first[key]
            findings.append(self._finding(context, view, frame, ms, on_cpu[key], own_self[key], callees[key], share))
        return findings

    def _finding(self, context: AnalysisContext, view: TreeView, frame: Frame, ms: float, cost_ms: float, self_ms: float,
                 callees: dict[str, float], share: float) -> Finding:
        evidence: dict[str, object] = {
            "time_ms": r(ms), "share": round(share, 3), "self_ms": r(self_ms),
            "record_ms": r(view.total_ms), "path": " > ".join(frame.path()),
        }
        note_code, more = "", {}  # more: the suggestion's parameters
        if cost_ms < 0.9 * ms:
            note_code = "hot_path.busy_host"
            evidence["cost_ms"] = r(cost_ms)
            evidence["note"] = messages.NOTES[note_code]
        top_callee = max(callees.items(), key=lambda kv: kv[1]) if callees else None
        if top_callee:
            evidence["hottest_callee"] = top_callee[0]
            evidence["hottest_callee_ms"] = r(top_callee[1])
        saving, confidence = 0.5 * ms, 0.3
        source = source_of(context.record, frame.node)
        lists = list_membership_in_loop(source) if source else []
        if lists:
            names = ", ".join(f"`{n}`" for n in lists)
            evidence["source_hint"] = f"membership test on list {names} inside a loop"
            suggestion_code, more = "hot_path.list_membership", {"lists": names}
            saving, confidence = 0.9 * self_ms, 0.7
        elif source and sort_in_loop(source):
            evidence["source_hint"] = "sort inside a loop"
            suggestion_code = "hot_path.sort_in_loop"
            saving, confidence = 0.6 * ms, 0.5
        elif top_callee and top_callee[1] >= 0.5 * ms:
            suggestion_code, more = "hot_path.callee", {"callee": top_callee[0]}
        else:
            suggestion_code = "hot_path.own_code"
        suggestion = messages.suggestion(suggestion_code, **more)
        saving *= cost_ms / ms
        return finding(self.name, f"Hot path: {frame.function} takes {share:.0%} of the time ({ms:.1f} ms)", frame,
                       evidence, suggestion, saving, confidence, severity(cost_ms, share),
                       "hot_path", {"share": round(share, 3), "ms": r(ms), **more}, suggestion_code, note_code)


def _on_cpu_ratio(view: TreeView) -> tuple[float, frozenset[int]]:
    """The share of the unit's CPU-bound time that its thread really spent on a CPU, and those frames.

    Code that neither waits (blocking I/O, sleeps, locks) nor ran in another thread (``[thread]``) runs on
    the unit's thread's CPU time (``record.cpu_ms``), unless the thread waited for a CPU: on a busy host a
    1 ms loop can take 30 ms of wall time. Its time is then scaled down to the CPU time (never up: an async
    unit's CPU time includes other tasks'). Records without CPU time are not scaled.
    """
    waiting: set[int] = set()
    stack = [f for f, _kind in topmost_blocking(view.frames)] + [f for f in view.frames if f.function in (THREAD, AWAIT)]
    while stack:
        frame = stack.pop()
        if id(frame) not in waiting:
            waiting.add(id(frame))
            stack.extend(frame.children)
    cpu_frames = frozenset(id(f) for f in view.frames if id(f) not in waiting and f.node.self_ms > 0 and not f.is_synthetic)
    cpu_work = sum(f.node.self_ms for f in view.frames if id(f) in cpu_frames)
    cpu = view.record.cpu_ms
    return (min(1.0, cpu / cpu_work) if cpu > 0 and cpu_work > 0 else 1.0), cpu_frames


def _callee_name(frame: Frame, owner: Frame) -> str:
    """The library or built-in function that ``owner`` called on the way to ``frame`` (its entry point)."""
    entry = frame
    for ancestor in frame.ancestors():
        if ancestor is owner:
            break
        entry = ancestor
    return entry.function
