"""The model's answer: validated with msgspec, then turned into grounded ``Finding``s."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from pystrument.core.analysis import Finding

from .rules.base import severity
from .tree import TreeView


class AIFinding(msgspec.Struct):
    function: str
    suggestion: str
    title: str = ""
    file: str = ""
    line: int = 0
    evidence: str | dict[str, Any] = ""
    expected_gain_ms: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    confidence: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5


class AIAnswer(msgspec.Struct):
    summary: str
    findings: list[AIFinding]


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.S)


def parse_answer(text: str | None) -> tuple[AIAnswer | None, str]:
    """(answer, "") when ``text`` is a valid answer, else (None, what is wrong)."""
    if not text or not text.strip():
        return None, "the answer is empty"
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1)
    if not body.startswith("{") and "{" in body and "}" in body:
        body = body[body.index("{"): body.rindex("}") + 1]
    try:
        answer = msgspec.json.decode(body, type=AIAnswer, strict=False)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        return None, str(exc)
    if not answer.summary.strip():
        return None, "`summary` is empty"
    return answer, ""


def _match(function: str, names: dict[str, Any]) -> Any:
    bare = function.strip().removesuffix("()")
    if bare in names:
        return names[bare]
    for name, frame in names.items():
        if bare.endswith("." + name) or name.endswith("." + bare):
            return frame
    return None


def to_findings(answer: AIAnswer, view: TreeView, analyser: str) -> list[Finding]:
    """Findings of an answer; a function absent from the profile is kept but marked ungrounded."""
    frames: dict[str, Any] = {}
    for frame in sorted(view.frames, key=lambda f: f.node.time_ms):
        if not frame.is_synthetic:
            frames[frame.function] = frame
    out = []
    for item in answer.findings:
        frame = _match(item.function, frames)
        evidence: dict[str, Any] = dict(item.evidence) if isinstance(item.evidence, dict) else {"text": item.evidence}
        confidence = item.confidence
        file, line = item.file, item.line
        if frame is None:
            evidence["grounded"] = False
            confidence *= 0.5
        else:
            evidence["grounded"] = True
            evidence["time_ms_in_profile"] = round(frame.node.time_ms, 1)
            file, line = frame.node.file, frame.node.line
        gain = item.expected_gain_ms
        out.append(Finding(
            analyser=analyser, title=item.title or item.suggestion[:80], function=item.function, file=file, line=line,
            evidence=evidence, suggestion=item.suggestion, expected_saving_ms=round(gain, 1),
            confidence=round(confidence, 2), severity=severity(gain, gain / view.total_ms),
        ))
    return out
