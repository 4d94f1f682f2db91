"""The merged call tree of many records, cut to the heaviest ``limit_nodes`` nodes.

Frames merge by (function, file, line) under the same merged parent; times are summed over the
records. The root is a synthetic node named after the endpoint whose children are the records'
trees. Pruning keeps the heaviest nodes (a child never outweighs its parent, so what is kept is a
connected tree); the pruned children of a node become one ``other`` node carrying their summed time,
so every node's ``time_ms`` is its ``self_ms`` plus its children's. A node's ``path`` is stable
(short hashes of the frames from the root; an ``other`` node's path ends in ``/*``): pass it back as
``expand=`` to get that node's content (for an ``other`` node: the pruned siblings).
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Iterable
from typing import Any

from pystrument.core.calltree import OTHER
from pystrument.core.record import CallNode, Record


class _M:
    __slots__ = ("function", "file", "line", "time", "self", "samples", "is_app", "children", "path")

    def __init__(self, function: str, file: str, line: int, is_app: bool, path: str) -> None:
        self.function, self.file, self.line, self.is_app, self.path = function, file, line, is_app, path
        self.time = 0.0
        self.self = 0.0
        self.samples = 0
        self.children: dict[tuple[str, str, int], _M] = {}


def _seg(function: str, file: str, line: int) -> str:
    return hashlib.blake2b(f"{function}\x00{file}\x00{line}".encode(), digest_size=4).hexdigest()


_OTHER = (OTHER, "", 0)


def _add(parent: _M, node: CallNode, size: list[int], max_nodes: int) -> None:
    """Merge ``node``'s tree under ``parent``. ``size[0]``: nodes in the merged tree; once it reaches ``max_nodes``
    a frame new under its parent is merged, with its whole subtree, into the parent's ``[other]`` node."""
    stack = [(parent, node)]
    while stack:
        p, n = stack.pop()
        key = (n.function, n.file, n.line)
        m = p.children.get(key)
        folded = False
        if m is None:
            if size[0] >= max_nodes:
                key, folded = _OTHER, True
                m = p.children.get(key)
            if m is None:
                m = p.children[key] = _M(*key, n.is_app, f"{p.path}/{_seg(*key)}")
                size[0] += 1
        m.time += n.time_ms
        m.self += n.time_ms if folded else n.self_ms
        m.samples += n.samples
        m.is_app = m.is_app or n.is_app
        if not folded:
            stack.extend((m, c) for c in n.children)


def add_tree(root: _M, tree: CallNode, size: list[int], max_nodes: int, unwrap: bool = False) -> None:
    """Merge ``tree`` under ``root`` (as ``merge`` does with each record's tree), its time and samples counted in.
    ``unwrap``: the tree's root is a synthetic ``[root]`` that ``root`` stands for (its children go under ``root``)."""
    if unwrap:
        for child in tree.children:
            _add(root, child, size, max_nodes)
        root.self += tree.self_ms
    else:
        _add(root, tree, size, max_nodes)
    root.time += tree.time_ms
    root.samples += tree.samples


def new_root(root_name: str) -> _M:
    return _M(root_name, "", 0, False, "root")


def merge(records: Iterable[Record], root_name: str, max_nodes: int = 200_000) -> tuple[_M, int]:
    """The records' trees merged; at most about ``max_nodes`` nodes (plus one ``[other]`` per parent) whatever
    they hold, so memory is bounded by the setting ``flame_max_nodes``, not by the records."""
    root = new_root(root_name)
    count = 0
    size = [1]
    for r in records:
        count += 1
        if r.call_tree is not None:
            add_tree(root, r.call_tree, size, max_nodes)
    return root, count


def _find(root: _M, path: str) -> tuple[_M, bool] | None:
    """The node at ``path`` and whether the path names its pruned-children (``/*``) view."""
    other = path.endswith("/*")
    parts = (path[:-2] if other else path).split("/")
    if not parts or parts[0] != "root":
        return None
    node = root
    for seg in parts[1:]:
        node = next((c for c in node.children.values() if c.path.rsplit("/", 1)[1] == seg), None)  # type: ignore[assignment]
        if node is None:
            return None
    return node, other


def _kept(roots: list[_M], limit: int) -> set[int]:
    kept: set[int] = set()
    heap: list[tuple[float, int, _M]] = []
    counter = 0
    for r in roots:
        heap.append((-r.time, counter, r))
        counter += 1
    heapq.heapify(heap)
    while heap and len(kept) < limit:
        _t, _i, node = heapq.heappop(heap)
        kept.add(id(node))
        for c in node.children.values():
            counter += 1
            heapq.heappush(heap, (-c.time, counter, c))
    return kept


def _out(node: _M, kept: set[int]) -> dict[str, Any]:
    children = sorted(node.children.values(), key=lambda c: -c.time)
    shown = [c for c in children if id(c) in kept]
    pruned = [c for c in children if id(c) not in kept]
    out_children = [_out(c, kept) for c in shown]
    if pruned:
        t = sum(c.time for c in pruned)
        out_children.append({
            "function": f"[other: {len(pruned)} frames]", "file": "", "line": 0, "time_ms": round(t, 3), "self_ms": round(t, 3),
            "samples": sum(c.samples for c in pruned),
            "is_app": any(c.is_app for c in pruned), "children": [], "other": True, "path": node.path + "/*",
        })
    return {
        "function": node.function, "file": node.file, "line": node.line, "time_ms": round(node.time, 3),
        "self_ms": round(node.self, 3), "samples": node.samples, "is_app": node.is_app, "children": out_children, "other": False, "path": node.path,
    }


def render(root: _M, limit_nodes: int, expand: str | None = None) -> dict[str, Any] | None:
    """The tree to answer (None when ``expand`` names no node)."""
    if not expand:
        return _out(root, _kept([root], limit_nodes))
    found = _find(root, expand)
    if found is None:
        return None
    node, other = found
    if not other:
        return _out(node, _kept([node], limit_nodes))
    kept_global = _kept([root], limit_nodes)
    pruned = [c for c in node.children.values() if id(c) not in kept_global]
    pruned.sort(key=lambda c: -c.time)
    kept = _kept(pruned, limit_nodes) | {id(c) for c in pruned}
    t = sum(c.time for c in pruned)
    return {
        "function": f"[other: {len(pruned)} frames]", "file": "", "line": 0, "time_ms": round(t, 3), "self_ms": 0.0,
        "samples": sum(c.samples for c in pruned), "is_app": any(c.is_app for c in pruned), "other": True, "path": expand,
        "children": [_out(c, kept) for c in pruned],
    }
