"""Cardinality limits of one record, applied at ingest: a call tree with more nodes than ``max_nodes_per_record``
or more distinct functions than ``max_functions_per_record`` is folded, and the record kept, marked
``truncated``.

Folding keeps the heaviest nodes, best first from the root (a child never outweighs its parent, so what is
kept is a connected tree), taking a node of a function not yet kept only while fewer than the limit of
distinct functions are kept. Everything else goes, with its whole subtree, into one ``[other]`` node per
parent (``pruned``: how many frames it replaced, the same shape the SDK gives its own pruned frames), whose
``time_ms`` and ``self_ms`` are the folded subtrees' summed time: every kept node's ``time_ms`` is still its
``self_ms`` plus its children's, and the record's totals are unchanged. Roll-ups leave ``[other]`` nodes out of
the function aggregates (rollup.self_times), as for the SDK's.

The common case, a tree within the limits, costs one walk counting the nodes (no set of functions is built
while the tree has no more nodes than the function limit).
"""

from __future__ import annotations

import heapq

import msgspec
from pystrument.core.calltree import OTHER
from pystrument.server.ingest.types import IngestNode, IngestRecord


def _count(tree: IngestNode, stop: int) -> int:
    """Nodes in the tree, counting stopped beyond ``stop``."""
    n, stack = 0, [tree]
    pop, extend = stack.pop, stack.extend
    while stack:
        node = pop()
        n += 1
        if n > stop:
            return n
        if node.children:
            extend(node.children)
    return n


def _distinct(tree: IngestNode, stop: int) -> int:
    keys: set[tuple[str, str, int]] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        keys.add((node.function, node.file, node.line))
        if len(keys) > stop:
            break
        stack.extend(node.children)
    return len(keys)


def _subtree(node: IngestNode) -> tuple[int, int]:
    """(frames, samples) of a whole subtree (its root's ``samples`` already counts those below it)."""
    n, stack = 0, [node]
    while stack:
        x = stack.pop()
        n += x.pruned or 1
        stack.extend(x.children)
    return n, node.samples


def needs_folding(tree: IngestNode | None, max_nodes: int, max_functions: int) -> bool:
    if tree is None:
        return False
    nodes = _count(tree, max(max_nodes, max_functions))
    if nodes > max_nodes:
        return True
    return nodes > max_functions and _distinct(tree, max_functions) > max_functions


def fold_tree(tree: IngestNode, max_nodes: int, max_functions: int) -> IngestNode:
    """The tree folded to at most ``max_nodes`` nodes (``[other]`` nodes included) of at most ``max_functions``
    distinct functions (``[other]`` left out)."""
    budget = max(1, max_nodes // 2)  # real nodes; each may get one [other] child, so the total stays <= max_nodes
    kept: set[int] = set()
    keys: set[tuple[str, str, int]] = set()
    heap: list[tuple[float, int, IngestNode]] = [(-tree.time_ms, 0, tree)]
    counter = 1
    while heap and len(kept) < budget:
        _t, _i, node = heapq.heappop(heap)
        key = (node.function, node.file, node.line)
        if key not in keys:
            if len(keys) >= max_functions:
                continue
            keys.add(key)
        kept.add(id(node))
        for child in node.children:
            heapq.heappush(heap, (-child.time_ms, counter, child))
            counter += 1
    del heap
    return _rebuild(tree, kept)


def _rebuild(tree: IngestNode, kept: set[int]) -> IngestNode:
    """The kept nodes as new nodes (post-order, without recursion: trees may be deep)."""
    done: dict[int, IngestNode] = {}
    stack: list[tuple[IngestNode, bool]] = [(tree, False)]
    while stack:
        node, expanded = stack.pop()
        if not expanded:
            stack.append((node, True))
            stack.extend((c, False) for c in node.children if id(c) in kept)
            continue
        children: list[IngestNode] = []
        other_time, other_frames, other_samples = 0.0, 0, 0
        for c in node.children:
            if id(c) in kept:
                children.append(done.pop(id(c)))
            else:
                frames, samples = _subtree(c)
                other_time += c.time_ms
                other_frames += frames
                other_samples += samples
        if other_frames:
            children.append(IngestNode(OTHER, "", 0, other_time, other_time, False, (), other_frames, other_samples))
        done[id(node)] = msgspec.structs.replace(node, children=tuple(children))
    return done[id(tree)]


def fold_record(record: IngestRecord, max_nodes: int, max_functions: int) -> IngestRecord:
    """The record with its tree folded (and ``truncated`` set) when over a limit; else the record itself."""
    tree = record.call_tree
    if tree is None or not needs_folding(tree, max_nodes, max_functions):
        return record
    return msgspec.structs.replace(record, call_tree=fold_tree(tree, max_nodes, max_functions), truncated=True)
