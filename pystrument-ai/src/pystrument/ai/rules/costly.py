"""Known costly calls on the request path: regex compilation, JSON of large objects, deepcopy, imports.

Each pattern matches frames of the standard-library module that does the work (``re._compiler``,
``json.encoder``, ``copy``, ``importlib._bootstrap``); the time of the outermost matching frames is
charged to the application function that called into them.
"""

from __future__ import annotations

from collections import defaultdict

from pystrument.core.analysis import AnalysisContext, Finding

from .. import messages
from ..calls import COSTLY_PATTERNS, CostlyPattern
from ..tree import Frame, TreeView, short_file
from .base import finding, r, severity


class CostlyCallAnalyser:
    name = "costly_calls"

    def __init__(self, min_ms: float = 5.0, min_share: float = 0.05, patterns: tuple[CostlyPattern, ...] = COSTLY_PATTERNS) -> None:
        self.min_ms = min_ms
        self.min_share = min_share
        self.patterns = patterns

    def analyse(self, context: AnalysisContext) -> list[Finding]:
        view = TreeView(context.record)
        if view.root is None:
            return []
        findings = []
        for pattern in self.patterns:
            groups: dict[tuple[str, str, int], list[Frame]] = defaultdict(list)
            for frame in view.frames:
                if not pattern.matches(frame) or any(pattern.matches(a) for a in frame.ancestors()):
                    continue
                owner = _owner(frame, pattern)
                if owner is not None:
                    groups[owner.key].append(frame)
            for frames in groups.values():
                ms = sum(f.node.time_ms for f in frames)
                share = view.share(ms)
                if ms < self.min_ms or share < self.min_share:
                    continue
                owner = _owner(frames[0], pattern)
                assert owner is not None
                findings.append(self._finding(view, pattern, owner, frames, ms, share))
        return findings

    def _finding(self, view: TreeView, pattern: CostlyPattern, owner: Frame, frames: list[Frame], ms: float, share: float) -> Finding:
        entry = _entry(frames[0], owner)
        samples = view.min_samples(ms)
        evidence: dict[str, object] = {
            "time_ms": r(ms), "share": round(share, 3), "call": entry.function, "call_location": entry.location,
            "path": " > ".join(frames[0].path()), "samples_at_least": samples,
        }
        if pattern.key in ("json_encode", "json_decode", "deepcopy") and view.sample_count:
            # long samples inside one call mean large objects: the average sample weighs more than the interval
            evidence["mean_sample_ms"] = r(ms / max(view.estimated_samples(ms), 1), 2)
        if pattern.key == "import":
            evidence["modules_executed"] = sorted({short_file(f.node.file) for f in _module_frames(frames)})[:5]
            evidence["note"] = messages.NOTES["costly.import_once"]
        title = f"{pattern.title}: {owner.function} ({ms:.1f} ms, {share:.0%})"
        return finding(self.name, title, owner, evidence, pattern.suggestion, ms * pattern.saving_factor,
                       pattern.confidence, severity(ms, share), f"costly.{pattern.key}", {"ms": r(ms), "share": round(share, 3)},
                       f"costly.{pattern.key}", "costly.import_once" if pattern.key == "import" else "")


def _owner(frame: Frame, pattern: CostlyPattern) -> Frame | None:
    """The application frame that called into the matched work (for imports: above every import frame)."""
    owner = frame.app_caller()
    if pattern.key == "import":
        # a module's own top-level code is application code too: go above the outermost import frame
        outer = frame
        for ancestor in frame.ancestors():
            if pattern.matches(ancestor):
                outer = ancestor
        owner = outer.app_caller()
    return owner


def _entry(frame: Frame, owner: Frame) -> Frame:
    entry = frame
    for ancestor in frame.ancestors():
        if ancestor is owner:
            break
        entry = ancestor
    return entry


def _module_frames(frames: list[Frame]) -> list[Frame]:
    out = []
    stack = list(frames)
    while stack:
        frame = stack.pop()
        if frame.function == "<module>":
            out.append(frame)
        stack.extend(frame.children)
    return out
