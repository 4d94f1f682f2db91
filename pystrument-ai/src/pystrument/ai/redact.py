"""Redaction of everything that leaves the server for an AI provider.

Applied to the whole prompt text, last, after it is built (so no part can skip it), and to tag values
by key before that. What goes: secrets and tokens (API keys, bearer and basic credentials, passwords
in URLs and DSNs, AWS-style keys, JWTs, private keys, ``key=value`` pairs whose key names a secret,
long random-looking strings), SQL literals (string and number literals inside SQL statements), e-mail
addresses, and the user part of absolute home paths (``/home/alice/app.py`` -> ``~/app.py``).
"""

from __future__ import annotations

import math
import re
from collections import Counter

MASK = "[REDACTED]"

_SECRET_KEY = r"[\w.-]*(?:passw(?:or)?d|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth|credential|session[_-]?id|cookie|signature|dsn)[\w.-]*"

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # private key blocks
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S), MASK),
    # credentials in URLs and DSNs: scheme://user:password@host
    (re.compile(r"(?P<head>\b[a-zA-Z][\w+.-]*://[^\s:/@]*:)(?P<secret>[^\s@/]+)(?=@)"), r"\g<head>" + MASK),
    # Authorization headers and bearer / basic tokens
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    # JWTs
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), MASK),
    # provider key formats: OpenAI / Anthropic / DeepSeek / DashScope (sk-...), GitHub, Slack, Google, Stripe
    (re.compile(r"\b(?:sk|pk|rk)-(?:[A-Za-z0-9]+-)*[A-Za-z0-9_]{16,}"), MASK),
    (re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}"), MASK),
    (re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}"), MASK),
    # AWS access key ids (the secret key is caught by its key name or as a random string)
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[0-9A-Z]{16}\b"), MASK),
    # key=value / key: value / "key": "value" where the key names a secret
    (re.compile(r"""(?i)(?P<key>["']?""" + _SECRET_KEY + r"""["']?\s*[:=]\s*)(?P<q>["']?)(?P<value>[^\s"',;&}]+)"""),
     r"\g<key>\g<q>" + MASK),
]

# SQL: a statement keyword, then literals inside it
_SQL_LINE = re.compile(r"(?i)\b(select\b.+?\bfrom|insert\s+into|update\b.+?\bset|delete\s+from|values\s*\(|where\b)")
_SQL_STRING = re.compile(r"""(?i)(=|<>|!=|<=|>=|<|>|\blike|\bin\s*\(|\bvalues\s*\(|,|\bthen|\bis)\s*'(?:[^'\\]|\\.|'')*'""")
_SQL_NUMBER = re.compile(r"(?i)(=|<>|!=|<=|>=|<|>|\bin\s*\(|\bvalues\s*\(|,\s*|\blimit|\boffset|\bbetween|\band)\s*-?\d+(?:\.\d+)?(?![\w.])")

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_HOME = [
    (re.compile(r"(?<![\w.])/home/[^/\s:'\"]+"), "~"),
    (re.compile(r"(?<![\w.])/Users/[^/\s:'\"]+"), "~"),
    (re.compile(r"(?<![\w.])/root(?=/)"), "~"),
    (re.compile(r"(?i)\b[A-Z]:\\Users\\[^\\\s:'\"]+"), "~"),
]
_RANDOM = re.compile(r"(?<![\w/.-])[A-Za-z0-9+_=-]{32,}(?![\w/.-])")
_HEX = re.compile(r"\b[0-9a-fA-F]{32,}\b")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(c / len(text) * math.log2(c / len(text)) for c in counts.values())


def _random_token(match: re.Match[str]) -> str:
    token = match.group(0)
    has_digit = any(ch.isdigit() for ch in token)
    has_alpha = any(ch.isalpha() for ch in token)
    if has_digit and has_alpha and token.count("_") <= 2 and _entropy(token) >= 4.0:
        return MASK
    return token


def _sql(line: str) -> str:
    if not _SQL_LINE.search(line):
        return line
    line = _SQL_STRING.sub(lambda m: f"{m.group(1)} '?'", line)
    return _SQL_NUMBER.sub(lambda m: f"{m.group(1).rstrip()} ?", line)


def redact(text: str) -> str:
    """The text with secrets, SQL literals, e-mail addresses and home directories removed."""
    if not text:
        return text
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    text = "\n".join(_sql(line) for line in text.split("\n"))
    text = _EMAIL.sub("[email]", text)
    for pattern, replacement in _HOME:
        text = pattern.sub(replacement, text)
    text = _HEX.sub(MASK, text)
    return _RANDOM.sub(_random_token, text)


_SECRET_KEY_NAME = re.compile(r"(?i)^" + _SECRET_KEY + r"$")


def redact_mapping(values: dict[str, str]) -> dict[str, str]:
    """Tag-like pairs: values of secret-named keys go entirely, the others are redacted as text."""
    return {key: (MASK if _SECRET_KEY_NAME.match(key) else redact(str(value))) for key, value in values.items()}
