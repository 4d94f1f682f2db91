"""Turn a unit's raw samples into the record's call tree (runs in the background thread).

Samples are pyinstrument frame infos (``function\\x00file\\x00line`` plus ``\\x01``-separated attributes),
root to leaf, each with a weight in seconds. The tree is cut at the unit's entry frame, pruned to
``max_nodes`` by keeping the heaviest nodes (a child never outweighs its parent, so what is kept is a
connected tree) and the time of what is pruned goes to one ``[other]`` node per parent, so that every
node's ``time_ms`` still equals its ``self_ms`` plus its children's. Samples taken in a thread the unit
was followed into (a thread pool) go under a ``[thread]`` node.

This is the background thread's hot loop (bench/bench_core.py, (c)): a node is a plain list (see
``_new``) because creating 500 slotted objects per profile cost more than the whole walk over the samples,
each distinct frame info is parsed once per process (``_FRAMES``), and consecutive samples are compared
in C (``map(ne)``) so that only the frames where a stack differs from the previous one are walked.
"""

from __future__ import annotations

import heapq
import os
import sys
import sysconfig
from collections.abc import Iterator
from functools import lru_cache
from operator import attrgetter, itemgetter
from typing import Any

from .record import CallNode
from .unit import Unit

AWAIT = "[await]"
SDK = "[pystrument]"  # time spent in the SDK's own start/stop code at the unit's edges
OTHER = "[other]"
ROOT = "[root]"
THREAD = "[thread]"  # work of the unit that ran in another thread (a thread pool), followed there

# A node: [children by frame identifier, self seconds, self samples, parsed frame, total seconds, total samples]
_Node = list[Any]
KIDS, SELF, SELF_N, FRAME, TIME, TOTAL_N = range(6)
Frame = tuple[str, str, str, int, bool]  # (identifier, function, file, line, is_app)


def _new(frame: Frame) -> _Node:
    return [{}, 0.0, 0, frame, 0.0, 0]


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
# the SDK's own code on a request's path: core and the framework adapters (every copy on the namespace path)
_SDK_DIRS = tuple(os.path.join(p, sub, "") for p in __import__("pystrument").__path__ for sub in ("core", "adapters"))
_SPANS_DIRS = tuple(os.path.join(p, "core", "spans", "") for p in __import__("pystrument").__path__)


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


# pyinstrument frame info -> (identifier, function, file, line, is_app), parsed once per distinct frame
_FRAMES: dict[str, Frame] = {}
_FRAMES_MAX = 65536


def _parse(frame_info: str) -> Frame:
    parsed = _FRAMES.get(frame_info)
    if parsed is not None:
        return parsed
    ident, _, attrs = frame_info.partition("\x01")
    function, _, rest = ident.partition("\x00")
    file, _, line = rest.partition("\x00")
    if attrs:
        for attr in attrs.split("\x01"):
            if attr[:1] == "c":
                function = f"{attr[1:]}.{function}"
    parsed = (ident, function or ident, file, int(line) if line.isdigit() else 0,
              is_app_file(file) and file != "<built-in>")
    if len(_FRAMES) >= _FRAMES_MAX:
        _FRAMES.clear()
    _FRAMES[frame_info] = parsed
    return parsed


_SDK_FRAMES = [f"{SDK}\x00\x000"]
_THREAD_FRAME = f"{THREAD}\x00\x000"


def aggregate(unit: Unit) -> tuple[_Node, int, int]:
    """Merge the samples into a tree of nodes (self times in seconds; totals are left to ``_convert_all``
    or ``_total``). Returns (root, samples, nodes)."""
    root = _new(_parse(ROOT))
    nodes = 1
    path: list[_Node] = [root]  # the root, then the node of each of the previous sample's own frames
    leaf = root
    start = _NOWHERE  # index of the unit's first frame in the previous sample's stack
    offset = 0  # path index = stack index - offset
    cuts_get = unit.cuts.get
    parsed_get = _FRAMES.get
    for stack, weight, differs_at in unit.samples:
        if differs_at < 0:  # the same stack as the previous sample (the collector compared them)
            leaf[SELF] += weight
            leaf[SELF_N] += 1
            continue
        if differs_at > start and not (differs_at == start + 1 and differs_at < len(stack) and _is_edge(stack[differs_at])):
            # the same thread and the same frames down to below the unit's entry: walk only what changed
            # (a change right below the entry into our code, a block's __exit__, is placed by _own_frames)
            del path[differs_at - offset:]
            node = path[-1]
            walk = stack[differs_at:]
        else:  # another thread, the SDK's own frames, or the unit's first frame changed: from the root
            walk, start, followed = _own_frames(stack, cuts_get(stack[0]) if stack else None)
            offset = start - 1 - followed
            del path[1:]
            node = root
        for frame_info in walk:
            parsed = parsed_get(frame_info) or _parse(frame_info)
            kids = node[KIDS]
            child = kids.get(parsed[0])
            if child is None:
                child = kids[parsed[0]] = [{}, 0.0, 0, parsed, 0.0, 0]
                nodes += 1
            path.append(child)
            node = child
        node[SELF] += weight
        node[SELF_N] += 1
        leaf = node
    return root, len(unit.samples), nodes


_NOWHERE = 1 << 30  # a start no sample reaches: the next sample takes the walk from the root


def _own_frames(stack: list[str], cut: tuple[int, str, int, bool] | None) -> tuple[list[str], int, bool]:
    """(the unit's frames in ``stack``, the index where they start in it, followed) for the tree.

    The cut says where the unit's frames start in that thread; the entry frame is checked to be where
    the cut says, else looked for. Stacks caught in the SDK's own code at the unit's edges become one
    ``[pystrument]`` frame (start is then ``_NOWHERE``, so the next sample is placed from the root).
    """
    if not stack:
        return _SDK_FRAMES, _NOWHERE, False
    if cut is None:
        start, followed = 1, False
    else:
        first, entry, entry_index, followed = cut
        info = stack[entry_index] if entry_index < len(stack) else ""
        if info.startswith(entry) and (len(info) == len(entry) or info[len(entry)] == "\x01"):
            start = first
        else:
            found = _find_entry(stack, entry)
            # not under the entry frame (a server iterating a streamed body): below our frames, if any
            start = found + (first - entry_index) if found else _below_sdk(stack)
            start = max(1, start)
    # our frames at the top (the middleware calling the app) are not the app's: the tree starts below them
    end = len(stack)
    if start >= end:  # in the entry frame itself, between our start/stop calls
        return _SDK_FRAMES, _NOWHERE, False
    if _is_sdk(stack[start]):
        start += 1
        while start < end and _is_sdk(stack[start]):
            start += 1
        if start >= end or _is_builtin(stack[start]):  # in the SDK's own start/stop code at the unit's edges
            return _SDK_FRAMES, _NOWHERE, False
    if start + 1 < end and _is_edge(stack[start + 1]) and all(_is_sdk(f) or _is_builtin(f) for f in stack[start + 2:]):
        # a block's entry frame calling our __exit__/__enter__: the entry, then one [pystrument] frame
        frames = [stack[start], *_SDK_FRAMES]
        start = _NOWHERE
    else:
        frames = stack[start:]
    if followed:
        frames.insert(0, _THREAD_FRAME)
    return frames, start, followed


def _is_builtin(frame_info: str) -> bool:
    return frame_info.split("\x00", 2)[1:2] == ["<built-in>"]


def _below_sdk(stack: list[str]) -> int:
    """The index below the deepest of our frames in ``stack`` (1 if none of ours is there)."""
    for index in range(len(stack) - 1, 0, -1):
        if _is_sdk(stack[index]):
            return index + 1
    return 1


def _is_sdk(frame_info: str) -> bool:
    file = frame_info.split("\x00", 2)[1] if "\x00" in frame_info else ""
    return file.startswith(_SDK_DIRS)


def _is_edge(frame_info: str) -> bool:
    """Our code at a unit's edges (start/stop, a block's __enter__/__exit__), not the span-capture wrappers
    (core/spans), whose frames stand for the library call they time (``Cursor.execute``)."""
    file = frame_info.split("\x00", 2)[1] if "\x00" in frame_info else ""
    return file.startswith(_SDK_DIRS) and not file.startswith(_SPANS_DIRS)


def _find_entry(stack: list[str], entry: str) -> int:
    """Index of the deepest frame that is the unit's entry frame (0, the thread marker, if none is)."""
    for index in range(len(stack) - 1, 0, -1):
        if stack[index].partition("\x01")[0] == entry:
            return index
    return 0


def _total(node: _Node) -> None:
    total = node[SELF]
    samples = node[SELF_N]
    for child in node[KIDS].values():
        _total(child)
        total += child[TIME]
        samples += child[TOTAL_N]
    node[TIME] = total
    node[TOTAL_N] = samples


def _trim_root(root: _Node) -> _Node:
    """Drop the synthetic root when the unit has a single top frame."""
    if len(root[KIDS]) == 1 and root[SELF] == 0:
        return next(iter(root[KIDS].values()))
    return root


def _keep(root: _Node, max_nodes: int) -> set[int] | None:
    """Ids of the nodes to keep (the heaviest, connected), or None when nothing needs pruning."""
    kept: set[int] = set()
    heap: list[tuple[float, int, _Node]] = [(-root[TIME], 0, root)]
    tiebreak = 1
    budget = max_nodes
    while heap and budget > 0:
        _, _, node = heapq.heappop(heap)
        kept.add(id(node))
        budget -= 1
        for child in node[KIDS].values():
            heapq.heappush(heap, (-child[TIME], tiebreak, child))
            tiebreak += 1
    return None if not heap else kept


def _convert_all(node: _Node, scale: float) -> CallNode:
    """The whole tree as ``CallNode`` (times scaled to ms, totals summed here), children heaviest first."""
    _, function, file, line, is_app = node[FRAME]
    kids = node[KIDS]
    self_ms = node[SELF] * scale
    if not kids:  # most nodes are leaves
        return CallNode(function, file, line, self_ms, self_ms, is_app, [], 0, node[SELF_N])
    children = [_convert_all(child, scale) for child in kids.values()]
    if len(children) > 1:
        children.sort(key=_BY_TIME_MS, reverse=True)  # stable: equal times keep their first-seen order
    # positional: (function, file, line, time_ms, self_ms, is_app, children, pruned, samples)
    return CallNode(function, file, line, self_ms + sum(map(_BY_TIME_MS, children)), self_ms, is_app, children, 0,
                    node[SELF_N] + sum(map(_SAMPLES, children)))


_BY_TIME_MS = attrgetter("time_ms")
_SAMPLES = attrgetter("samples")


def _convert(node: _Node, kept: set[int] | None, scale: float) -> CallNode:
    """The kept part of the tree as ``CallNode`` (times scaled to ms, after ``_total``), heaviest first."""
    kids = node[KIDS]
    if kept is None:
        children = [_convert(child, None, scale) for child in
                    (sorted(kids.values(), key=_BY_TIME, reverse=True) if len(kids) > 1 else kids.values())]
    else:
        children = []
        other_time = 0.0
        other_count = 0
        other_samples = 0
        for child in sorted(kids.values(), key=_BY_TIME, reverse=True):
            if id(child) in kept:
                children.append(_convert(child, kept, scale))
            else:
                other_time += child[TIME]
                other_count += _count(child)
                other_samples += child[TOTAL_N]
        if other_count:
            children.append(CallNode(OTHER, "", 0, other_time * scale, other_time * scale, False, [], other_count,
                                     other_samples))
    _, function, file, line, is_app = node[FRAME]
    # positional: (function, file, line, time_ms, self_ms, is_app, children, pruned, samples)
    return CallNode(function, file, line, node[TIME] * scale, node[SELF] * scale, is_app, children, 0, node[TOTAL_N])


_BY_TIME = itemgetter(TIME)  # sorted(..., reverse=True) keeps equal times in first-seen order, as before


def _count(node: _Node) -> int:
    return 1 + sum(_count(c) for c in node[KIDS].values())


def build_call_tree(unit: Unit, max_nodes: int) -> tuple[CallNode | None, bool, int]:
    """Returns (call tree in ms, truncated, sample count)."""
    if not unit.samples:
        return None, False, 0
    root, samples, nodes = aggregate(unit)
    top = _trim_root(root)  # every sample's weight is under top
    if unit.is_async:
        # time the unit spent switched out (awaiting) is not sampled in its context: show it as pyinstrument does
        uncovered = unit.duration_ms / 1000.0 - sum(map(_WEIGHT, unit.samples))
        if uncovered > 0:
            wait = top[KIDS].get(AWAIT)
            if wait is None:
                wait = top[KIDS][AWAIT] = _new(_parse(AWAIT))
            wait[SELF] += uncovered
    tree, pruned = to_call_nodes(top, nodes, max_nodes)
    return tree, pruned or unit.dropped_samples > 0, samples


def to_call_nodes(top: _Node, nodes: int, max_nodes: int) -> tuple[CallNode, bool]:
    """An aggregated tree (seconds) as ``CallNode`` in ms, pruned to ``max_nodes`` ([other] nodes);
    returns (tree, whether it was pruned). Also used by the continuous mode's trees."""
    if nodes + 1 <= max_nodes:
        return _convert_all(top, 1000.0), False
    _total(top)
    kept = _keep(top, max_nodes - 1)
    if kept is not None:
        # every parent that loses children gains one [other] node: shrink the budget until it fits
        budget = max_nodes - 1
        while budget > 1:
            others = sum(1 for n in _walk(top) if id(n) in kept and any(id(c) not in kept for c in n[KIDS].values()))
            if len(kept) + others <= max_nodes:
                break
            budget = max(1, budget - others)
            kept = _keep(top, budget) or kept
    return _convert(top, kept, 1000.0), kept is not None


_WEIGHT = itemgetter(1)


def _walk(node: _Node) -> Iterator[_Node]:
    yield node
    for child in node[KIDS].values():
        yield from _walk(child)
