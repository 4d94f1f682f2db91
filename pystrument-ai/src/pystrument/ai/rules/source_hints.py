"""Hints read from captured source lines (``record.source``, sent only with ``capture_source``).

Line-based on purpose: the captured lines are a window of the function, not always parseable code.
"""

from __future__ import annotations

import re

_LIST_ASSIGN = re.compile(r"^\s*(?:self\.)?(\w+)\s*(?::\s*list[^=]*)?=\s*(?:\[\s*\]|list\(\s*\)|\[[^\]]*\])\s*(?:#.*)?$")
_LOOP = re.compile(r"^(\s*)(?:async\s+)?(?:for|while)\b")


def _loop_lines(lines: list[str]) -> set[int]:
    """Indices of the lines inside a for/while body."""
    inside: set[int] = set()
    for i, line in enumerate(lines):
        m = _LOOP.match(line)
        if not m:
            continue
        indent = len(m.group(1))
        for j in range(i + 1, len(lines)):
            text = lines[j]
            if not text.strip():
                continue
            if len(text) - len(text.lstrip()) <= indent:
                break
            inside.add(j)
    return inside


def list_membership_in_loop(source: str) -> list[str]:
    """Names of lists tested with ``in`` inside a loop (O(n) each test, O(n^2) overall)."""
    lines = source.splitlines()
    lists = {m.group(1) for m in map(_LIST_ASSIGN.match, lines) if m}
    if not lists:
        return []
    found: list[str] = []
    for i in sorted(_loop_lines(lines)):
        line = lines[i]
        for name in lists:
            pattern = rf"\b(?:not\s+)?in\s+(?:self\.)?{re.escape(name)}\b(?!\s*[\[(.])"
            for m in re.finditer(pattern, line):
                head = line[: m.start()].strip()
                if head.startswith("for ") or re.search(r"\bfor\s+[\w, ()]+$", head):
                    continue  # iteration, not a membership test
                if name not in found:
                    found.append(name)
    return found


def sort_in_loop(source: str) -> bool:
    lines = source.splitlines()
    return any(re.search(r"\bsorted\(|\.sort\(", lines[i]) for i in _loop_lines(lines))


def call_in_loop(source: str, name: str) -> str:
    """The first line calling ``name(...)`` inside a for/while body or a comprehension, else ``""``."""
    lines = source.splitlines()
    call = re.compile(rf"(?<![\w.]){re.escape(name)}\s*\(|\.{re.escape(name)}\s*\(")
    in_loop = _loop_lines(lines)
    for i, line in enumerate(lines):
        code = line.split("#", 1)[0]
        m = call.search(code)
        if m and (i in in_loop or re.search(r"\bfor\s+[\w, ()]+\s+in\b", code[m.end():])):
            return line.strip()
    return ""
