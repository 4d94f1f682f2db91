"""A small client of a running pystrument server's reading API, for CI: find a project, its versions, and
compare two versions (``GET /api/v1/projects/{id}/compare``) with a token, so CI needs no database access.
Standard library only (urllib): CI installs nothing more than the SDK for it.

Every failure is a ``GateError`` whose message says what is wrong and how to fix it: the CI gate exits 2 on it
(a gate that cannot compare must never pass silently).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

API_PREFIX = "/api/v1"


class GateError(Exception):
    """The comparison could not be made (server unreachable, bad token, unknown project, version without data)."""


def api_base(server: str) -> str:
    """``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/api/v1`` give ``http://h:8000/api/v1``."""
    parts = urllib.parse.urlsplit(server.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise GateError(f"server URL {server!r} must look like http://host:port (the address of `pystrument-server serve`)")
    path = parts.path.rstrip("/")
    if not path.endswith(API_PREFIX):
        path += API_PREFIX
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class CompareClient:
    def __init__(self, server: str, token: str | None = None, timeout: float = 120.0) -> None:
        self.base = api_base(server)
        self.server = server
        self.token = token or None
        self.timeout = timeout

    def get(self, path: str, **params: str | None) -> Any:
        """``data`` of the envelope of ``GET path``; a GateError with the server's message on any error."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self._send(urllib.request.Request(f"{self.base}{path}" + (f"?{query}" if query else ""), headers={"Accept": "application/json"}))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        """``data`` of the envelope of ``POST path`` with a JSON body; errors as ``get``."""
        return self._send(urllib.request.Request(f"{self.base}{path}", data=json.dumps(body).encode(), method="POST",
                                                 headers={"Accept": "application/json", "Content-Type": "application/json"}))

    def _send(self, request: urllib.request.Request) -> Any:
        url = request.full_url
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (http(s) only: api_base)
                body = response.read()
        except urllib.error.HTTPError as exc:
            raise GateError(self._explain(exc.code, exc.read())) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise GateError(f"cannot reach the pystrument server at {self.server} ({reason}): is `pystrument-server serve` "
                            f"running there? check the server URL") from None
        envelope = _decode(body)
        if envelope is None or "data" not in envelope:
            raise GateError(f"{url} did not answer with a pystrument envelope: is {self.server} a pystrument server?")
        return envelope["data"]

    def _explain(self, status: int, body: bytes) -> str:
        envelope = _decode(body) or {}
        msg = str(envelope.get("msg") or f"HTTP {status}")
        if status == 401:
            how = "pass the server's token" if not self.token else "the token given is not the server's"
            return f"the server at {self.server} needs a valid token ({msg}): {how} (`pystrument-server serve --token`, PYSTRUMENT_SERVER_TOKEN)"
        return f"the server at {self.server} answered {status}: {msg}"

    def project(self, ref: str) -> dict[str, Any]:
        """The project named ``ref`` (or with id ``ref``)."""
        items: list[dict[str, Any]] = self.get("/projects")["items"]
        for p in items:
            if ref in (p.get("id"), p.get("name")):
                return p
        names = ", ".join(str(p["name"]) for p in items) or "none yet (pystrument-server projects create NAME)"
        raise GateError(f"no project {ref!r} on {self.server}; projects: {names}")

    def versions(self, project_id: str, environment: str | None = None) -> list[dict[str, Any]]:
        """(version, environment) rows with their record counts, newest first."""
        items: list[dict[str, Any]] = self.get(f"/projects/{_q(project_id)}/versions")["items"]
        return [v for v in items if environment is None or v.get("environment") == environment]

    def previous_version(self, project_id: str, current: str, environment: str | None = None) -> str | None:
        """The version seen most recently other than ``current`` (the baseline a CI run compares with), if any."""
        latest: dict[str, str] = {}
        for v in self.versions(project_id, environment):
            if v["version"] != current and v["version"] is not None:
                latest[v["version"]] = max(latest.get(v["version"], ""), str(v["last_seen"]))
        return max(latest, key=lambda v: (latest[v], v)) if latest else None

    def compare(self, project_id: str, base: str, head: str, endpoint: str | None = None, environment: str | None = None,
                metric: str = "duration") -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/projects/{_q(project_id)}/compare", base=base, head=head, endpoint=endpoint,
                                          environment=environment, metric=metric)
        return result

    def check_budgets(self, project_id: str, version: str, environment: str | None = None,
                      budgets: list[Any] | None = None) -> dict[str, Any]:
        """The version checked against ``budgets`` (None: the project's effective budgets) now: breaches and their lines."""
        result: dict[str, Any] = self.post(f"/projects/{_q(project_id)}/budgets/check",
                                           {"version": version, "environment": environment, "budgets": budgets})
        return result


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _decode(body: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
