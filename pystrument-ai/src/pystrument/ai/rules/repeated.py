"""N+1 shape: one parent doing the same database/network/file call many times.

The tree merges identical frames, so the call count is inferred from samples (see ``tree.py``): a
built-in call such as ``Connection.execute`` holding ``k`` samples was called at least ``k / 2`` times,
and ``k`` is bounded below by the node's time minus the time any long samples could have added. The
evidence gives that proven lower bound and, when the record's samples are dense (the time is made of
many short events), an estimate. Peer records of the same endpoint tell whether it happens every time.
When the record has spans (SQL queries, HTTP calls: ``span_repeats.py``) the finding names the statement,
its exact count per request and the issuing line; repeats too fast for the samples are reported from spans alone.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from pystrument.core.analysis import AnalysisContext, Finding

from ..calls import topmost_blocking
from ..messages import REPEATED_FIXES
from ..tree import INLINE, Frame, TreeView, source_of
from . import span_repeats
from .base import finding, r, severity
from .source_hints import call_in_loop

KINDS = ("db", "network", "file")
WHAT = {"db": "database calls", "network": "network calls", "file": "file operations"}
FIXES = REPEATED_FIXES
CONFIDENCE = {"db": 0.7, "network": 0.5, "file": 0.4}


@dataclass
class _Group:
    site: Frame  # the function whose calls repeat: the one called per item of a loop, else the I/O's caller
    parent: Frame | None
    kind: str
    loop: str = ""  # how the loop around ``site`` was seen, when it was
    ms: float = 0.0
    ops: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    io: dict[str, list[Frame]] = field(default_factory=lambda: defaultdict(list))  # built-in I/O nodes by function


_IO_BUILTINS = ("execute", "recv", "recv_into", "sendall", "send", "read", "write", "fetchone", "fetchall")


def _groups(view: TreeView) -> dict[tuple[str, str, int, str], _Group]:
    groups: dict[tuple[str, str, int, str], _Group] = {}
    for frame, kind in topmost_blocking(view.frames):
        if kind not in KINDS:
            continue
        owner = frame.app_owner()
        if owner is None:
            continue
        site, parent, loop = _loop_around(view, owner) or (owner, owner.app_caller(), "")
        group = groups.setdefault((*site.key, kind), _Group(site, parent, kind, loop))
        group.ms += frame.node.time_ms
        group.ops[frame.function] += frame.node.time_ms
        if frame.is_builtin:
            group.io[frame.function].append(frame)
        else:  # a library entry (requests.get, pymongo ...): count the built-in I/O calls under it
            for child in _builtin_io(frame):
                group.io[child.function].append(child)
    return groups


def _loop_around(view: TreeView, owner: Frame) -> tuple[Frame, Frame, str] | None:
    """(the application function called per item of a loop, the function with the loop, how it was seen).

    The innermost such loop at or above ``owner``: a comprehension or generator frame calling it (Python
    gives them frames before 3.12, generator expressions always), or, with captured source, a call of it
    inside a ``for``/``while`` body or a comprehension in its caller's lines.
    """
    current: Frame | None = owner
    while current is not None:
        caller = current.app_caller()
        if caller is None:
            return None
        comprehension = next((a for a in current.ancestors() if a.function in INLINE or a is caller), None)
        if comprehension is not None and comprehension.function in INLINE:
            return current, caller, f"called from a {comprehension.function} in {caller.function}"
        source = source_of(view.record, caller.node)
        line = call_in_loop(source, current.function.rpartition(".")[2]) if source else ""
        if line:
            return current, caller, f"called in a loop in {caller.function}: {line}"
        current = caller
    return None


def _builtin_io(frame: Frame) -> list[Frame]:
    found = []
    stack = list(frame.children)
    while stack:
        child = stack.pop()
        if child.is_builtin and child.function.rpartition(".")[2] in _IO_BUILTINS:
            found.append(child)
        else:
            stack.extend(child.children)
    return found


def _proven_calls(view: TreeView, group: _Group) -> int:
    """Calls proven by the built-in I/O function called most (calls of different functions may be one call)."""
    return max((view.node_min_calls(frames) for frames in group.io.values()), default=0)


def _builtin_ms(group: _Group) -> float:
    return sum(f.node.time_ms for frames in group.io.values() for f in frames)


def _builtin_samples(view: TreeView, group: _Group) -> int:
    """The samples in the group's built-in I/O nodes: counted in the tree when it says (``CallNode.samples``),
    else estimated from their time at the record's average weight. Counted, one long call is one heavy sample:
    estimated, a 1.4 ms scan sampled every 10 us read as ~50 calls (a false N+1 in a CI run)."""
    counted = sum(f.node.samples for frames in group.io.values() for f in frames)
    return counted if counted else view.estimated_samples(_builtin_ms(group))


def _sampled_nodes(owner: Frame) -> int:
    """Nodes with self time in the owner's subtree (the owner itself included)."""
    count = 0
    stack = [owner]
    while stack:
        frame = stack.pop()
        count += frame.node.self_ms > 0
        stack.extend(frame.children)
    return count


def _wait_episodes(view: TreeView, group: _Group) -> int:
    """Samples beyond what the thread's CPU time can hold: each needs a wait (or a preemption) to end in.

    Consecutive samples are at least one interval apart, and that interval is CPU time or waiting, so
    ``sample_count - cpu_ms / interval`` samples ended a wait. When this group holds most of the time
    the thread was not on a CPU, those waits are its calls (sync units only: an async unit's CPU time
    includes other tasks').
    """
    cpu = view.record.cpu_ms
    if group.kind not in ("network", "file") or cpu <= 0 or view.is_async()[0]:
        return 0
    off_cpu = view.covered_ms - cpu
    if off_cpu <= 0 or group.ms < 0.5 * off_cpu:
        return 0
    return max(0, int(view.sample_count - cpu / view.interval_ms))


class RepeatedCallAnalyser:
    name = "n_plus_one"

    def __init__(self, min_calls: int = 5, min_estimated_calls: int = 10, min_density: float = 0.35, min_ms: float = 5.0,
                 min_share: float = 0.05) -> None:
        self.min_calls = min_calls
        self.min_estimated_calls = min_estimated_calls
        self.min_density = min_density
        self.min_ms = min_ms
        self.min_share = min_share

    def analyse(self, context: AnalysisContext) -> list[Finding]:
        view = TreeView(context.record)
        spanned = span_repeats.repeats(context.record, self.min_calls)
        if view.root is None:  # no sample landed in the unit: its spans still count its calls
            duration = context.record.duration_ms or 1.0
            return [self._span_finding(rep, context, min(rep.ms / duration, 1.0)) for rep in spanned]
        peer_groups = [(_groups(peer_view), peer_view) for peer_view in (TreeView(p) for p in context.peers) if peer_view.root]
        findings = []
        for key, group in _groups(view).items():
            share = view.share(group.ms)
            if group.ms < self.min_ms or share < self.min_share:
                continue
            calls_here = _proven_calls(view, group)
            # the same shape in other records of the endpoint: the best proof among them counts too
            calls_at_least = max([calls_here] + [_proven_calls(pv, g[key]) for g, pv in peer_groups if key in g])
            estimated = 0
            dense = view.density >= self.min_density or (view.cpu_density >= 0.6 and not view.is_async()[0])
            if dense and _sampled_nodes(group.site) >= 3:
                # one slow call leaves one long sample in one node; repeated calls leave time in the
                # caller's own lines and in the calls around it (execute, fetchone, ...) as well
                estimated = _builtin_samples(view, group) // 2
            estimated = max(estimated, _wait_episodes(view, group))
            # calls shorter than the sampling interval leave fewer samples than calls: then the loop
            # around the calls (seen in the tree or in the captured source) is the evidence
            if calls_at_least < self.min_calls and estimated < self.min_estimated_calls and not group.loop:
                continue
            found = self._finding(view, key, group, share, calls_here, calls_at_least, estimated, peer_groups)
            span_repeats.attach(found, spanned, group.site.node.file, group.site.function, context.record, list(context.peers))
            findings.append(found)
        for repeat in spanned:  # repeats whose calls were too short for the samples to show them
            if not repeat.used:
                findings.append(self._span_finding(repeat, context, view.share(repeat.ms)))
        return findings

    @staticmethod
    def _span_finding(repeat: span_repeats.SpanRepeat, context: AnalysisContext, share: float) -> Finding:
        kind = span_repeats.WHAT[repeat.kind][1]  # counted exactly: more confident than a count from samples
        return span_repeats.finding(repeat, context.record, list(context.peers), share, FIXES[kind], CONFIDENCE[kind] + 0.2,
                                    f"repeated.{kind}")

    def _finding(self, view: TreeView, key: tuple[str, str, int, str], group: _Group, share: float, calls_here: int,
                 calls_at_least: int, estimated: int, peer_groups: list[tuple[dict[tuple[str, str, int, str], _Group], TreeView]]) -> Finding:
        site, parent = group.site, group.parent
        ops = sorted(group.ops.items(), key=lambda kv: -kv[1])
        proven = calls_at_least >= self.min_calls
        counted = proven or estimated >= self.min_estimated_calls
        evidence: dict[str, object] = {
            "time_ms": r(group.ms), "share": round(share, 3), "calls_at_least": calls_at_least,
            "calls_at_least_in_this_record": calls_here,
            "calls_basis": "proven from sample counts" if proven else
                           "estimated: samples were sparse in wall time (waits or a busy host), so no count could be proven"
                           if counted else
                           "a loop: the calls were too short for the samples to count them (fewer samples than calls)",
            "operations": {name: r(ms) for name, ms in ops[:5]},
            "record_samples": view.sample_count, "interval_ms": r(view.interval_ms, 3),
        }
        if estimated:
            evidence["calls_estimated"] = estimated
        if group.loop:
            evidence["loop"] = group.loop
        if parent is not None:
            evidence["parent"] = parent.function
            evidence["parent_location"] = parent.location
        if peer_groups:
            times = [g[key].ms for g, _p in peer_groups if key in g]
            evidence["peers_with_pattern"] = f"{len(times)} of {len(peer_groups)}"
            if times:
                evidence["peers_median_ms"] = r(statistics.median(times))
        count = max(calls_at_least, estimated)
        where = f" under {parent.function}" if parent is not None else ""
        what = WHAT[group.kind]
        if proven:
            title = f"N+1 shape: {site.function} makes at least {calls_at_least} {what}{where} ({group.ms:.1f} ms, {share:.0%})"
            code, n = "repeated.at_least", calls_at_least
            confidence = CONFIDENCE[group.kind] + (0.1 if calls_at_least >= 10 or group.loop else 0.0)
        elif counted:
            title = f"N+1 shape: {site.function} makes about {estimated} {what}{where} ({group.ms:.1f} ms, {share:.0%})"
            code, n = "repeated.about", estimated
            confidence = CONFIDENCE[group.kind] - (0.1 if group.loop else 0.2)
        else:
            title = f"N+1 shape: {site.function} makes {what} once per item of a loop{where} ({group.ms:.1f} ms, {share:.0%})"
            code, n = "repeated.per_item", 0
            confidence = CONFIDENCE[group.kind] - 0.1
            count = max(count, 2)
        saving = group.ms * (1.0 - 1.0 / max(count, 1)) * 0.8
        params = {"count": n, "kind": group.kind, "parent": parent.function if parent is not None else "", "ms": r(group.ms),
                  "share": round(share, 3)}
        return finding(self.name, title, site, evidence, FIXES[group.kind], saving, confidence, severity(group.ms, share), code, params,
                       f"repeated.{group.kind}")
