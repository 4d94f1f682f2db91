"""pytest plugin of the peer harness: names every request a Flask app under test dispatches
(``METHOD /rule/{variable}`` from Flask's own matched rule, ``METHOD [unmatched]`` without one) and
hands the counts to ``peer_outcomes`` (note ``requests``), so the driver can compare them with the
records pystrument wrote. Written apart from our Flask adapter on purpose: it is what judges it."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import flask
import peer_outcomes

_VARIABLE = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")
_requests: Counter[str] = Counter()


def _on_request_started(sender: Any, **extra: Any) -> None:
    rule = flask.request.url_rule
    method = flask.request.method
    if rule is None:
        _requests[f"{method} [unmatched]"] += 1
    else:
        template = _VARIABLE.sub(r"{\1}", rule.rule)
        _requests[f"{method} {flask.request.script_root}{template}"] += 1


def pytest_configure(config: Any) -> None:
    flask.request_started.connect(_on_request_started, weak=False)


def pytest_sessionfinish(session: Any, exitstatus: int) -> None:
    peer_outcomes.note("requests", dict(_requests))
