"""Redaction of everything that leaves the server for an AI provider.

Applied to the whole prompt text, last, after it is built (so no part can skip it), and to tag values
by key before that. Secrets are found by the detectors of detect-secrets (``secret_detectors.py``) and by
our own rules for what it misses (``secret_rules.py``), line by line; each secret is replaced whole by a
marker naming its kind, e.g. ``[REDACTED:secret-value]``, ``[REDACTED:card-number]``,
``[REDACTED:email]``. Private key blocks go whole (they span lines). Then SQL literals (string and number
literals inside SQL statements become ``'?'`` and ``?``) and the user part of absolute home paths
(``/home/alice/app.py`` -> ``~/app.py``).

Kept on purpose (the analysis needs them, and they are not secrets): identifiers that contain a secret's
word (``get_password_hash``, ``token_bucket``), UUIDs (request and record ids), hex inside file paths
(commits, cache directories), timestamps, version strings, SQL placeholders, IP addresses.
"""

from __future__ import annotations

import re

from . import secret_detectors, secret_rules

MARKER = "[REDACTED:{kind}]"
_MARKER = re.compile(r"\[REDACTED:[a-z0-9-]+\]")

_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)", re.S)
# kinds that say less than another detector's kind for the same text (higher: says less); the others are 0
_GENERIC = {"secret-keyword": 1, "secret-value": 1, "base64-high-entropy-string": 2, "hex-high-entropy-string": 2, "hex-token": 3,
            "random-token": 3}

# SQL: a statement keyword, then literals inside it
_SQL_LINE = re.compile(r"(?i)\b(select\b.+?\bfrom|insert\s+into|update\b.+?\bset|delete\s+from|values\s*\(|where\b)")
_SQL_STRING = re.compile(r"""(?i)(=|<>|!=|<=|>=|<|>|\blike|\bin\s*\(|\bvalues\s*\(|,|\bthen|\bis)\s*'(?:[^'\\]|\\.|'')*'""")
_SQL_NUMBER = re.compile(r"(?i)(=|<>|!=|<=|>=|<|>|\bin\s*\(|\bvalues\s*\(|,\s*|\blimit|\boffset|\bbetween|\band)\s*-?\d+(?:\.\d+)?(?![\w.])")

_HOME = [
    (re.compile(r"(?<![\w.])/home/[^/\s:'\"]+"), "~"),
    (re.compile(r"(?<![\w.])/Users/[^/\s:'\"]+"), "~"),
    (re.compile(r"(?<![\w.])/root(?=/)"), "~"),
    (re.compile(r"(?i)\b[A-Z]:\\Users\\[^\\\s:'\"]+"), "~"),
]


def _secrets(line: str) -> str:
    # (start, end, kind, 0 for detect-secrets / 1 for our rules: the library's name wins a tie)
    spans = [*((*s, 0) for s in secret_detectors.find(line)), *((*s, 1) for s in secret_rules.find(line))]
    if not spans:
        return line
    if "[REDACTED:" in line:  # redacted before (a part, then the whole prompt): a marker is not a secret
        markers = [m.span() for m in _MARKER.finditer(line)]
        spans = [s for s in spans if not any(s[0] < end and start < s[1] for start, end in markers)]
        if not spans:
            return line
    spans.sort(key=lambda s: (s[0], -s[1], _GENERIC.get(s[2], 0), s[3], s[2]))
    out: list[str] = []
    pos = 0
    cur_start, cur_end, cur_kind, _ = spans[0]
    for start, end, kind, _ in spans[1:]:
        if start < cur_end:  # overlapping: one secret, as wide as both, named by the most specific detector
            cur_end = max(cur_end, end)
            if _GENERIC.get(kind, 0) < _GENERIC.get(cur_kind, 0):
                cur_kind = kind
            continue
        out += [line[pos:cur_start], MARKER.format(kind=cur_kind)]
        pos = cur_end
        cur_start, cur_end, cur_kind = start, end, kind
    out += [line[pos:cur_start], MARKER.format(kind=cur_kind), line[cur_end:]]
    return "".join(out)


def _sql(line: str) -> str:
    if not _SQL_LINE.search(line):
        return line
    line = _SQL_STRING.sub(lambda m: f"{m.group(1)} '?'", line)
    return _SQL_NUMBER.sub(lambda m: f"{m.group(1).rstrip()} ?", line)


def redact(text: str) -> str:
    """The text with secrets, SQL literals, e-mail addresses and home directories removed."""
    if not text:
        return text
    text = _PRIVATE_KEY.sub(MARKER.format(kind="private-key"), text)
    text = "\n".join(_sql(_secrets(line)) for line in text.split("\n"))
    for pattern, replacement in _HOME:
        text = pattern.sub(replacement, text)
    return text


# a tag is secret if its key ends with a secret's word (as in text) or has one of these anywhere in it
_SECRET_KEY_NAME = re.compile(r"(?i)^(?:" + secret_rules.KEY + r"|.*(?:passw(?:or)?d|passwd|secret|authorization|cookie|credential|api[_-]?key).*)$")


def redact_mapping(values: dict[str, str]) -> dict[str, str]:
    """Tag-like pairs: values of secret-named keys go entirely, the others are redacted as text."""
    return {key: (MARKER.format(kind="secret-value") if _SECRET_KEY_NAME.match(key) else redact(str(value))) for key, value in values.items()}
