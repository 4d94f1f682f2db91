"""The prompt: grounded in the record, within a token budget, redacted as a whole before it leaves.

Sections, most important first (later ones are cut to fit the budget): the unit (name, times, app),
the rule-based findings, what earlier advice on the endpoint did (``context.advice``: the server's checked
predictions, at most ``MAX_ADVICE``), the hot paths (root-to-leaf paths ordered by the leaf's self time), and the
captured source of the hot application functions (``record.source``, sent with ``capture_source``).
"""

from __future__ import annotations

import json
from typing import Any

from pystrument.core.analysis import AnalysisContext, Finding
from pystrument.core.calltree import AWAIT

from .redact import redact, redact_mapping
from .tree import SYNTHETIC, Frame, TreeView, short_file

CHARS_PER_TOKEN = 4  # a conservative estimate for code and English; no tokenizer download needed

SCHEMA = """{
  "summary": "two or three sentences: where the time goes and the most valuable change",
  "findings": [
    {
      "title": "short title",
      "function": "the function to change, exactly as named in the hot paths",
      "file": "its file, as given", "line": 0,
      "evidence": "the numbers from the profile that show it (ms, share, calls)",
      "suggestion": "the concrete change to make",
      "expected_gain_ms": 0.0,
      "confidence": 0.0
    }
  ]
}"""

LANGUAGES = {
    "en": "Write the summary, titles, evidence and suggestions in English.",
    "zh": "Write the summary, titles, evidence and suggestions in Simplified Chinese (简体中文); keep function names, file names and code as they are.",
}


def system_message(language: str) -> str:
    return (
        "You are a Python performance engineer. You are given one profiled unit of work (a web request, task or "
        "function call) from a sampling profiler: its hot call paths with self times, findings of rule-based "
        "analysers, and sometimes source lines. Find the changes that would make it faster. Name only functions "
        "that appear in the profile; base every claim on the numbers given; estimate the gain in milliseconds for "
        "this unit; confidence is a number from 0 to 1. [thread] holds work that ran in a worker thread, not "
        "on the event loop; [await] is waiting. Secrets and literals were replaced by markers such as "
        "[REDACTED:secret-value] or [REDACTED:email], and ?: ignore those.\n"
        f"{LANGUAGES.get(language, LANGUAGES['en'])}\n"
        "Answer with one JSON object only, no prose and no code fences, in exactly this shape:\n" + SCHEMA
    )


def _frame_label(frame: Frame) -> str:
    node = frame.node
    if frame.is_synthetic:
        return node.function
    if frame.is_builtin:
        return f"{node.function} [built-in]"
    if node.is_app:
        return f"{node.function} ({node.file}:{node.line})"
    return f"{node.function} [{short_file(node.file)}]"


def _path_text(frame: Frame, max_frames: int = 12) -> str:
    """Root to leaf; a long path keeps its root, its last application frames above the elision, and its tail."""
    chain = [frame, *frame.ancestors()][::-1]
    shown: list[Frame | None] = list(chain)
    if len(chain) > max_frames:
        tail = chain[-(max_frames // 2):]
        middle_apps = [f for f in chain[1: -(max_frames // 2)] if f.node.is_app][-3:]
        shown = [chain[0], *middle_apps, None, *tail]
    return " > ".join("..." if f is None else _frame_label(f) for f in shown)


def hot_paths(view: TreeView, limit: int = 30) -> list[str]:
    # the SDK's span capture (pystrument/core/spans) is not the application's hot path: its time is the profiler's cost
    leaves = [f for f in view.frames if f.node.self_ms > 0 and f.function not in SYNTHETIC - {AWAIT}
              and "/pystrument/core/spans/" not in f.node.file.replace("\\", "/")]
    leaves.sort(key=lambda f: -f.node.self_ms)
    lines = []
    for frame in leaves[:limit]:
        share = view.share(frame.node.self_ms)
        if share < 0.005:
            break
        lines.append(f"- self {frame.node.self_ms:.1f} ms ({share:.1%}): {_path_text(frame)}")
    return lines


def _finding_text(f: Finding) -> str:
    where = f" at {f.file}:{f.line}" if f.file else ""
    evidence = json.dumps(f.evidence, ensure_ascii=False, default=str)
    if len(evidence) > 600:
        evidence = evidence[:600] + "..."
    return (f"- [{f.severity}] {f.analyser}: {f.title}\n  function: {f.function}{where}\n  evidence: {evidence}\n"
            f"  suggestion: {f.suggestion}\n  expected saving: {f.expected_saving_ms} ms, confidence {f.confidence}")


MAX_ADVICE = 8
VERDICTS = {"confirmed": "CONFIRMED", "partly_confirmed": "PARTLY CONFIRMED", "not_confirmed": "NOT CONFIRMED (no saving measured)"}


def _advice_text(item: dict[str, Any]) -> str:
    """One earlier finding, what it predicted and what the next version measured (the server's advice check)."""
    def ms(key: str) -> str:
        value = item.get(key)
        return f"{float(value):.1f} ms" if isinstance(value, (int, float)) else "?"

    return (f"- {VERDICTS.get(str(item.get('verdict')), str(item.get('verdict')))}: {str(item.get('title', ''))[:200]}\n"
            f"  target: {str(item.get('target') or item.get('function') or '')[:200]}; suggested: {str(item.get('suggestion', ''))[:200]}\n"
            f"  predicted saving {ms('predicted_ms')}, measured {ms('measured_ms')} "
            f"(version {item.get('version')} {ms('before_ms')} -> version {item.get('against')} {ms('after_ms')})")


def _header(context: AnalysisContext, view: TreeView) -> str:
    rec = context.record
    app = rec.app
    parts = [f"Unit: {rec.name} (kind {rec.kind}" + (f", {rec.method} status {rec.status_code}" if rec.method else "") + ")",
             f"Duration {rec.duration_ms:.1f} ms, CPU {rec.cpu_ms:.1f} ms, {rec.sample_count} samples at {rec.interval_ms:g} ms"
             + (f", {view.await_ms:.1f} ms awaiting" if view.await_ms else "") + (", call tree truncated" if rec.truncated else "")]
    app_bits = {k: v for k, v in {"app": app.name, "version": app.version, "environment": app.environment,
                                  "framework": app.framework, "python": app.python}.items() if v}
    if app_bits:
        parts.append("App: " + ", ".join(f"{k} {v}" for k, v in app_bits.items()))
    if rec.error is not None:
        parts.append(f"Raised: {rec.error.type}: {rec.error.message[:300]}")
    if context.peers:
        durations = sorted(p.duration_ms for p in context.peers)
        parts.append(f"Same endpoint, {len(durations)} recent records: median {durations[len(durations) // 2]:.1f} ms, max {durations[-1]:.1f} ms")
    return "\n".join(parts)


_OMITTED = "\n({n} more omitted for length)"


def user_message(context: AnalysisContext, findings: list[Finding], token_budget: int) -> str:
    """The user message, at most ``token_budget`` tokens (estimated), already redacted."""
    view = TreeView(context.record)
    budget = token_budget * CHARS_PER_TOKEN - len(system_message("zh"))
    # each part is measured redacted (a marker may be longer than what it replaces); the whole is redacted again
    # last, so that nothing can skip it
    sections: list[str] = [redact(_header(context, view))]
    used = len(sections[0])

    def add(title: str, items: list[str], at_least: int = 0, reserve: int = 0) -> None:
        """Append a section of as many items as fit, ``at_least`` of them whatever their size, leaving
        ``reserve`` characters for the sections after it."""
        nonlocal used
        kept: list[str] = []
        items = [redact(item) for item in items]
        size = len(title) + 2
        for index, item in enumerate(items):
            # room for this item, keeping room for the "(N more omitted)" line that may follow
            room = budget - used - size - 1 - reserve - len(_OMITTED.format(n=len(items)))
            if len(item) > room:
                if index >= at_least or room < 20:
                    break
                item = item[:room - 1] + "…"  # an item sent whatever its size is cut to the budget, never past it
            kept.append(item)
            size += len(item) + 1
        if kept:
            omitted = len(items) - len(kept)
            text = f"{title}\n" + "\n".join(kept) + (_OMITTED.format(n=omitted) if omitted else "")
            sections.append(text)
            used += len(text) + 2

    paths_title = "Hot paths (root > ... > leaf; self time of the leaf, share of the unit):"
    paths = hot_paths(view)
    # the first 3 hot paths are always sent: the findings leave room for them
    room_for_paths = len(paths_title) + 2 + sum(len(redact(path)) + 1 for path in paths[:3])
    add("Rule-based findings (already verified from the profile):", [_finding_text(f) for f in findings[:12]],
        reserve=room_for_paths)
    add("Earlier advice on this endpoint and what the later version measured (time per request):",
        [_advice_text(item) for item in context.advice[:MAX_ADVICE]], reserve=room_for_paths)
    add(paths_title, paths, at_least=3)
    tags = redact_mapping(dict(list(context.record.tags.items())[:20]))
    add("Tags:", [f"- {k}={v[:120]}" for k, v in tags.items()])
    sources = []
    for key, text in _hot_sources(context, view):
        lines = text.rstrip("\n").splitlines()[:40]
        sources.append(f"--- {key} ---\n" + "\n".join(lines))
    add("Source of the hot application functions:", sources)
    return redact("\n\n".join(sections))


def _hot_sources(context: AnalysisContext, view: TreeView) -> list[tuple[str, str]]:
    if not context.record.source:
        return []
    weight: dict[str, float] = {}
    for frame in view.frames:
        if frame.node.is_app and frame.node.file:
            key = f"{frame.node.file}:{frame.node.line}"
            weight[key] = weight.get(key, 0.0) + frame.node.time_ms
    return sorted(context.record.source.items(), key=lambda kv: -weight.get(kv[0], 0.0))


def build_messages(context: AnalysisContext, findings: list[Finding], token_budget: int, language: str) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system_message(language)},
        {"role": "user", "content": user_message(context, findings, token_budget)},
    ]
