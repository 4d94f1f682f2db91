"""A read-only view of a record's call tree, with what the rules need: parents, owners, sample bounds.

The call tree merges identical frames (one node per call path, not per call) and its times come from
samples, so a call count cannot be read off a node. What a sampled tree can prove:

- each sample weighs at least one profiler interval (the sampler fires only after ``interval`` has
  passed), so ``excess = covered_ms - sample_count * interval`` bounds the time that long samples
  (one blocking call, say) added beyond the minimum; a node of ``T`` ms therefore holds at least
  ``(T - excess) / interval`` samples (:meth:`TreeView.min_samples`);
- a sample inside a built-in (C) function is taken at that function's call or return event, so such a
  node with ``k`` samples was called at least ``k / 2`` times (:meth:`TreeView.min_calls`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from pystrument.core.calltree import AWAIT, OTHER, ROOT, SDK, THREAD
from pystrument.core.record import CallNode, Record

# THREAD: the SDK puts the samples of a thread it followed the unit into (a thread pool running a
# ``def`` route, ``asyncio.to_thread``) under one node of that name: its subtree did not run on the
# unit's own thread (for an async unit: not on the event loop). Older records have no such node.
SYNTHETIC = frozenset({AWAIT, OTHER, SDK, ROOT, THREAD})
# frames that belong to the function around them (Python < 3.12 gives comprehensions frames of their own)
INLINE = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>", "<genexpr>", "<lambda>"})
ASYNC_FRAMEWORKS = frozenset({"asgi", "starlette", "fastapi", "quart", "litestar", "aiohttp", "sanic", "django-asgi"})


@dataclass(eq=False)
class Frame:
    """One node of the tree with its place in it."""

    node: CallNode
    parent: Frame | None
    depth: int
    children: list[Frame] = field(default_factory=list)

    @property
    def function(self) -> str:
        return self.node.function

    @property
    def is_app(self) -> bool:
        return self.node.is_app

    @property
    def is_owner(self) -> bool:
        """Application code that findings can name: not a comprehension inside another app function."""
        if not self.node.is_app:
            return False
        if self.node.function in INLINE:
            parent = self.parent
            return parent is None or not parent.node.is_app
        return True

    @property
    def is_builtin(self) -> bool:
        return self.node.file in ("<built-in>", "")

    @property
    def is_synthetic(self) -> bool:
        return self.node.function in SYNTHETIC

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.node.function, self.node.file, self.node.line)

    @property
    def location(self) -> str:
        return f"{self.node.file}:{self.node.line}" if self.node.file else ""

    def ancestors(self) -> Iterator[Frame]:
        frame = self.parent
        while frame is not None:
            yield frame
            frame = frame.parent

    def app_owner(self) -> Frame | None:
        """The nearest application frame at or above this one (comprehensions count as their function)."""
        if self.is_owner:
            return self
        return next((a for a in self.ancestors() if a.is_owner), None)

    def app_caller(self) -> Frame | None:
        """The nearest application frame strictly above this one (comprehensions count as their function)."""
        return next((a for a in self.ancestors() if a.is_owner), None)

    def path(self, limit: int = 8) -> list[str]:
        names = [self.function] + [a.function for a in self.ancestors()]
        names.reverse()
        if len(names) > limit:
            names = names[:2] + ["..."] + names[-(limit - 3):]
        return names


class TreeView:
    """The frames of one record, flattened, with the record-level numbers the rules need."""

    def __init__(self, record: Record) -> None:
        self.record = record
        self.frames: list[Frame] = []
        self.root: Frame | None = None
        if record.call_tree is not None:
            self.root = self._add(record.call_tree, None, 0)
        await_ms = sum(f.node.time_ms for f in self.frames if f.function == AWAIT)
        tree_ms = record.call_tree.time_ms if record.call_tree is not None else 0.0
        self.total_ms = max(record.duration_ms, tree_ms) or 1e-9
        self.await_ms = await_ms
        self.covered_ms = max(tree_ms - await_ms, 0.0)
        count = record.sample_count
        interval = record.interval_ms or 1.0
        if count:
            interval = min(interval, self.covered_ms / count) if self.covered_ms else interval
        self.interval_ms = max(interval, 1e-6)
        self.sample_count = count
        # time the long samples added beyond one interval each (see the module docstring)
        self.excess_ms = max(self.covered_ms - count * self.interval_ms, 0.0) if count else self.covered_ms
        # how close the samples are to one per interval: near 1 when the time is made of many short events
        self.density = (count * self.interval_ms / self.covered_ms) if (count and self.covered_ms) else 0.0
        # the same against the thread's CPU time: near 1 when the samples were sparse in wall time only
        # because the host was busy (the thread waited for a CPU), not because of long calls
        cpu = min(record.cpu_ms, self.covered_ms)
        self.cpu_density = (count * self.interval_ms / cpu) if (count and cpu > 0) else 0.0

    def _add(self, node: CallNode, parent: Frame | None, depth: int) -> Frame:
        frame = Frame(node, parent, depth)
        self.frames.append(frame)
        frame.children = [self._add(child, frame, depth + 1) for child in node.children]
        return frame

    def share(self, ms: float) -> float:
        return ms / self.total_ms

    def min_samples(self, ms: float) -> int:
        """A lower bound on the samples behind ``ms`` of one node (at least 1 when ``ms > 0``)."""
        if ms <= 0:
            return 0
        return max(1, math.floor((ms - self.excess_ms) / self.interval_ms + 1e-9))

    def estimated_samples(self, ms: float) -> int:
        """The samples behind ``ms`` if that node's samples weigh the record's average."""
        if ms <= 0 or not self.sample_count or not self.covered_ms:
            return 0
        return max(1, round(ms * self.sample_count / self.covered_ms))

    def min_calls(self, ms: float) -> int:
        """A lower bound on the calls of a built-in function node (two events per call at most)."""
        return max(1, math.ceil(self.min_samples(ms) / 2)) if ms > 0 else 0

    def node_min_calls(self, frames: list[Frame]) -> int:
        """A lower bound on the calls of one built-in function, from its nodes (one per call path).

        Records whose nodes carry their sample count (``CallNode.samples``) give it exactly: at most two
        samples per call (its call and return events). Older records bound the samples by time.
        """
        counted = [f.node.samples - sum(c.node.samples for c in f.children) for f in frames]
        if any(n > 0 for n in counted):
            return sum(math.ceil(n / 2) for n in counted if n > 0)
        return self.min_calls(sum(f.node.time_ms for f in frames))

    def is_async(self) -> tuple[bool, str]:
        """Whether the unit ran as a coroutine, and the evidence for it."""
        if any(f.function == AWAIT for f in self.frames):
            return True, "the call tree has [await] time"
        framework = (self.record.app.framework or "").lower()
        if framework in ASYNC_FRAMEWORKS:
            return True, f"the unit was recorded by the {framework} adapter"
        tops = [f for f in self.frames if f.is_owner and f.app_caller() is None]
        if tops and any("/asyncio/" in a.node.file.replace("\\", "/") for a in tops[0].ancestors()):
            return True, "the event loop's frames are above the application code"
        for top in tops[:3]:
            source = source_of(self.record, top.node)
            if source and is_async_source(source):
                return True, f"the source of {top.function} starts with async def"
        if self.record.tags.get("async") in ("1", "true", "yes"):
            return True, "the record is tagged async"
        return False, ""


def source_of(record: Record, node: CallNode) -> str:
    """The captured source lines of a function (``record.source`` is keyed ``file:line``)."""
    if not record.source or not node.file:
        return ""
    return record.source.get(f"{node.file}:{node.line}", "")


def is_async_source(source: str) -> bool:
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("@", "#")):
            continue
        return stripped.startswith("async def ")
    return False


def is_sync_source(source: str) -> bool:
    for line in source.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("@", "#")):
            continue
        return stripped.startswith("def ")
    return False


def short_file(path: str) -> str:
    """The last two components of a path, for titles."""
    parts = path.replace("\\", "/").rsplit("/", 2)
    return "/".join(parts[-2:]) if len(parts) > 1 else path
