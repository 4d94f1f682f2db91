"""Turn a unit's raw samples into the record's call tree (runs in the background thread).

Samples are pyinstrument frame infos (``function\\x00file\\x00line`` plus ``\\x01``-separated attributes),
root to leaf, each with a weight in seconds. The tree is cut at the unit's entry frame, pruned to
``max_nodes`` by keeping the heaviest nodes (a child never outweighs its parent, so what is kept is a
connected tree) and the time of what is pruned goes to one ``[other]`` node per parent, so that every
node's ``time_ms`` still equals its ``self_ms`` plus its children's.
"""

from __future__ import annotations

import heapq
import os
import sys
import sysconfig
from functools import lru_cache
from operator import ne
from typing import Any

from .record import CallNode
from .unit import Unit

AWAIT = "[await]"
SDK = "[pystrument]"  # time spent in the SDK's own start/stop code at the unit's edges
OTHER = "[other]"
ROOT = "[root]"


class _Node:
    __slots__ = ("ident", "cls", "time", "self_time", "children")

    def __init__(self, ident: str, cls: str = "") -> None:
        self.ident = ident
        self.cls = cls
        self.time = 0.0
        self.self_time = 0.0
        self.children: dict[str, _Node] = {}


def _library_prefixes() -> tuple[str, ...]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            paths.add(path)
    # our own code is never the application's, wherever it is installed (editable installs too)
    try:
        import pystrument

        paths.update(os.path.join(p, "") for p in pystrument.__path__)
    except ImportError:  # pragma: no cover
        pass
    return tuple(sorted(p for p in paths if p))


_PREFIXES = _library_prefixes()
_SDK_DIRS = tuple(os.path.join(p, "core", "") for p in __import__("pystrument").__path__)


@lru_cache(maxsize=8192)
def is_app_file(path: str) -> bool:
    """Application code: not the standard library, not an installed package, not pystrument, not generated."""
    if not path:
        return False
    if path.startswith("<"):
        return path in ("<string>", "<stdin>") or path.startswith("<ipython-input-")
    if "site-packages" in path or "dist-packages" in path:
        return False
    return not path.startswith(_PREFIXES)


def _split(frame_info: str) -> tuple[str, str]:
    ident, _, attrs = frame_info.partition("\x01")
    cls = ""
    if "\x01c" in frame_info:
        for attr in attrs.split("\x01"):
            if attr[:1] == "c":
                cls = attr[1:]
    return ident, cls


def aggregate(unit: Unit) -> tuple[_Node, int, int]:
    """Merge the samples into a tree of ``_Node`` (times in seconds). Returns (root, samples, nodes)."""
    root = _Node(ROOT)
    nodes = 1
    prev_stack: list[Any] = [None]  # matches no stack, not even an empty one
    prev_path: list[_Node] = [root]
    cuts = unit.cuts
    count = 0
    for stack, weight in unit.samples:
        count += 1
        start = 1
        cut = cuts.get(stack[0]) if stack else None
        if cut is not None:
            first, entry, entry_index = cut
            info = stack[entry_index] if entry_index < len(stack) else ""
            if info.startswith(entry) and (len(info) == len(entry) or info[len(entry)] == "\x01"):
                start = first
            else:
                start = max(1, _find_entry(stack, entry) + (first - entry_index))
        frames = stack[start:]
        if frames == prev_stack:  # the common case: the same stack as the previous sample
            prev_path[-1].self_time += weight
            continue
        if not frames or (frames[0] != prev_stack[0] and _is_sdk(frames[0])):
            frames = _SDK_FRAMES
        # consecutive samples share most of their stack: walk only from where they differ
        # (the comparison runs in C: map(ne) and list.index, no Python loop per frame)
        differs = list(map(ne, frames, prev_stack))
        common = differs.index(True) if True in differs else len(differs)
        path = prev_path[: common + 1]
        node = path[-1]
        for frame_info in frames[common:]:
            ident, cls = _split(frame_info)
            child = node.children.get(ident)
            if child is None:
                child = node.children[ident] = _Node(ident, cls)
                nodes += 1
            path.append(child)
            node = child
        node.self_time += weight
        prev_stack, prev_path = frames, path
    _total(root)
    return root, count, nodes


_SDK_FRAMES = [f"{SDK}\x00\x000"]


def _is_sdk(frame_info: str) -> bool:
    file = frame_info.split("\x00", 2)[1] if "\x00" in frame_info else ""
    return file.startswith(_SDK_DIRS)


def _find_entry(stack: list[str], entry: str) -> int:
    """Index of the deepest frame that is the unit's entry frame (0, the thread marker, if none is)."""
    for index in range(len(stack) - 1, 0, -1):
        if stack[index].partition("\x01")[0] == entry:
            return index
    return 0


def _total(node: _Node) -> float:
    total = node.self_time
    for child in node.children.values():
        total += _total(child)
    node.time = total
    return total


def _trim_root(root: _Node) -> _Node:
    """Drop the synthetic root when the unit has a single top frame."""
    if len(root.children) == 1 and root.self_time == 0:
        return next(iter(root.children.values()))
    return root


def _keep(root: _Node, max_nodes: int) -> set[int] | None:
    """Ids of the nodes to keep (the heaviest, connected), or None when nothing needs pruning."""
    kept: set[int] = set()
    heap: list[tuple[float, int, _Node]] = [(-root.time, 0, root)]
    tiebreak = 1
    budget = max_nodes
    while heap and budget > 0:
        _, _, node = heapq.heappop(heap)
        kept.add(id(node))
        budget -= 1
        for child in node.children.values():
            heapq.heappush(heap, (-child.time, tiebreak, child))
            tiebreak += 1
    return None if not heap else kept


def _convert(node: _Node, kept: set[int] | None, scale: float) -> CallNode:
    function, _, rest = node.ident.partition("\x00")
    file, _, line = rest.partition("\x00")
    if node.cls:
        function = f"{node.cls}.{function}"
    children: list[CallNode] = []
    other_time = 0.0
    other_count = 0
    kids = node.children
    for child in (sorted(kids.values(), key=_by_time) if len(kids) > 1 else kids.values()):
        if kept is None or id(child) in kept:
            children.append(_convert(child, kept, scale))
        else:
            other_time += child.time
            other_count += _count(child)
    if other_count:
        children.append(CallNode(function=OTHER, time_ms=other_time * scale, self_ms=other_time * scale, pruned=other_count))
    return CallNode(
        function=function or node.ident,
        file=file,
        line=int(line) if line.isdigit() else 0,
        time_ms=node.time * scale,
        self_ms=node.self_time * scale,
        is_app=is_app_file(file) and file != "<built-in>",
        children=children,
    )


def _by_time(node: _Node) -> float:
    return -node.time


def _count(node: _Node) -> int:
    return 1 + sum(_count(c) for c in node.children.values())


def build_call_tree(unit: Unit, max_nodes: int) -> tuple[CallNode | None, bool, int]:
    """Returns (call tree in ms, truncated, sample count)."""
    if not unit.samples:
        return None, False, 0
    root, count, nodes = aggregate(unit)
    top = _trim_root(root)
    if unit.is_async:
        # time the unit spent switched out (awaiting) is not sampled in its context: show it as pyinstrument does
        uncovered = unit.duration_ms / 1000.0 - top.time
        if uncovered > 0:
            wait = top.children.get(AWAIT) or _Node(AWAIT)
            top.children[AWAIT] = wait
            wait.self_time += uncovered
            wait.time += uncovered
            top.time += uncovered
    kept = None if nodes + 1 <= max_nodes else _keep(top, max_nodes - 1)
    if kept is not None:
        # every parent that loses children gains one [other] node: shrink the budget until it fits
        budget = max_nodes - 1
        while budget > 1:
            others = sum(1 for n in _walk(top) if id(n) in kept and any(id(c) not in kept for c in n.children.values()))
            if len(kept) + others <= max_nodes:
                break
            budget = max(1, budget - others)
            kept = _keep(top, budget) or kept
    tree = _convert(top, kept, 1000.0)
    return tree, kept is not None or unit.dropped_samples > 0, count


def _walk(node: _Node):  # type: ignore[no-untyped-def]
    yield node
    for child in node.children.values():
        yield from _walk(child)
