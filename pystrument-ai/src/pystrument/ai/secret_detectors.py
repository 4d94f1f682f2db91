"""The detectors of detect-secrets (Yelp), run on one line of text at a time, without files or a baseline.

Every plugin the library ships (keyword assignments, AWS, private keys, Basic auth in URLs, JWTs, quoted
high-entropy strings, Stripe, Slack, GitHub, GitLab, OpenAI, PyPI, npm, Twilio, SendGrid, ...) except the
public-IP one (an address is not a secret, and the analysis may need it), through each plugin's own
``analyze_string``. That is the library's scanning without its global settings (``scan_line`` reads and
changes process-wide settings, which concurrent prompts would race on) and without its verification
(which sends a found secret to its provider to check it: nothing leaves the server from here). The
library's false-positive filters that fit a single line are applied (UUIDs, sequential strings, templates,
``$variables``, ids, indirect references such as ``password = get_password()``).

The library is imported on the first redaction, not with ``pystrument.ai`` (it imports ``requests``: half a
second at server start otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from detect_secrets.plugins.base import BasePlugin

LEFT_OUT = {"Public IP (ipv4)"}
# every pattern of the keyword detector contains one of its DENYLIST words: a line without any is skipped
# (measured: the keyword detector was 70% of the library's time on prompts; bench/bench_redact.py)
_KEYWORD_HINT = re.compile(r"(?i)key|pass|pwd|secret|contrase")


def kind_of(secret_type: str) -> str:
    """The marker's kind for a plugin's ``secret_type``: ``AWS Access Key`` -> ``aws-access-key``."""
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


@lru_cache(maxsize=1)
def plugins() -> tuple[Any, ...]:
    """One instance of each of the library's plugins (``BasePlugin``), but the left-out ones."""
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    mapping: Mapping[str, type[BasePlugin]] = get_mapping_from_secret_type_to_class()  # detect-secrets returns a TypeVar bound nowhere else
    return tuple(cls() for secret_type, cls in sorted(mapping.items()) if secret_type not in LEFT_OUT)


def _filtered(value: str, line: str, plugin: Any) -> bool:
    from detect_secrets.filters import heuristic
    from detect_secrets.plugins.high_entropy_strings import HighEntropyStringsPlugin
    from detect_secrets.plugins.keyword import KeywordDetector

    if (heuristic.is_sequential_string(value) or heuristic.is_potential_uuid(value) or heuristic.is_templated_secret(value)
            or heuristic.is_prefixed_with_dollar_sign(value) or heuristic.is_not_alphanumeric_string(value)
            or heuristic.is_likely_id_string(value, line, plugin)):
        return True
    if isinstance(plugin, HighEntropyStringsPlugin):
        return plugin.calculate_shannon_entropy(value) <= plugin.entropy_limit
    if isinstance(plugin, KeywordDetector):
        return heuristic.is_indirect_reference(line)
    return False


def find(line: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, kind) of every secret the library's detectors find in ``line``."""
    from detect_secrets.plugins.keyword import KeywordDetector

    has_keyword = _KEYWORD_HINT.search(line) is not None
    for plugin in plugins():
        if not has_keyword and isinstance(plugin, KeywordDetector):
            continue
        for value in set(plugin.analyze_string(line)):
            if not value or _filtered(value, line, plugin):
                continue
            kind = kind_of(plugin.secret_type)
            start = line.find(value)
            while start >= 0:
                yield start, start + len(value), kind
                start = line.find(value, start + len(value))
