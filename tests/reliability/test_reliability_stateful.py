"""schemathesis, stateful, over the whole API of a real server process: sequences of calls that feed each
answer's ids into the next call (OpenAPI links: a created project into every per-project operation and into
ingestion with its key, an ingested record into reading, export and analysis, a queued analysis into its
lookup). Bounded examples; no 5xx; every response but the export file is in the envelope; responses
conform to the document. (Each operation alone, with random and real ids, is
pystrument-server/tests/test_server_schemathesis.py.)

The server's document has no links; they are added here, to the copy the test loads."""

from __future__ import annotations

import copy
import os
from collections import Counter

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, Phase, settings  # noqa: E402
from pystrument.server.api.openapi import document  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance  # noqa: E402

EXAMPLES = int(os.environ.get("PYSTRUMENT_RELIABILITY_STATEFUL_EXAMPLES", "50"))
PROJECT = "/api/v1/projects/{project_id}"
RECORD = "/api/v1/records/{record_id}"


def _ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _links(doc: dict) -> int:
    """Add OpenAPI links to ``doc`` (in place); returns how many."""
    pid = {"project_id": "$response.body#/data/id"}
    rid = {"record_id": "$response.body#/data/record_id"}
    per_project = [(PROJECT, "get"), (PROJECT, "put"), (PROJECT, "delete"), (PROJECT + "/rotate-key", "post"), (PROJECT + "/records", "get"),
                   (PROJECT + "/endpoints", "get"), (PROJECT + "/trends", "get"), (PROJECT + "/versions", "get"),
                   (PROJECT + "/functions", "get"), (PROJECT + "/flamegraph", "get"), (PROJECT + "/compare", "get"),
                   (PROJECT + "/versions/{version}", "delete"), (PROJECT + "/analyses", "get")]
    table = {
        ("/api/v1/projects", "post", "201"): [(p, m, pid) for p, m in per_project] + [
            ("/api/v1/performance/collect", "post", {"header.X-Project-Key": "$response.body#/data/project_key"}),
            ("/api/v1/performance/batch", "post", {"header.X-Project-Key": "$response.body#/data/project_key"}),
        ],
        (PROJECT + "/rotate-key", "post", "200"): [(PROJECT, "get", pid),
                                                   ("/api/v1/performance/collect", "post", {"header.X-Project-Key": "$response.body#/data/project_key"})],
        ("/api/v1/performance/collect", "post", "200"): [(RECORD, "get", rid), (RECORD + "/export", "get", rid), (RECORD + "/analyses", "get", rid),
                                                         ("/api/v1/analysis/analyze/{record_id}", "post", rid)],
        (PROJECT + "/records", "get", "200"): [(RECORD, "get", {"record_id": "$response.body#/data/items/0/record_id"}),
                                               (RECORD + "/export", "get", {"record_id": "$response.body#/data/items/0/record_id"})],
        ("/api/v1/analysis/analyze/{record_id}", "post", "202"): [("/api/v1/analysis/{analysis_id}", "get", {"analysis_id": "$response.body#/data/analysis_id"})],
        ("/api/v1/projects", "get", "200"): [(PROJECT, "get", {"project_id": "$response.body#/data/items/0/id"}),
                                             (PROJECT + "/records", "get", {"project_id": "$response.body#/data/items/0/id"})],
    }
    count = 0
    for (path, method, status), targets in table.items():
        response = doc["paths"][path][method]["responses"][status]
        links = response.setdefault("links", {})
        for target, target_method, parameters in targets:
            name = f"{target_method.upper()} {target}".replace("/", "_").replace("{", "").replace("}", "").replace(" ", "")
            links[name] = {"operationRef": _ref(target, target_method), "parameters": parameters}
            count += 1
    return count


def test_stateful_sequences_over_the_whole_api(server_process, project_in, record, figures):
    server = server_process()
    with server.client() as c:  # a project with records, found through GET /projects -> records -> record
        seed = project_in(c, "seed")
        r = c.post("/api/v1/performance/batch", json=[record(), record(name="POST /orders"), record(error={"type": "E", "message": "m"})],
                   headers={"X-Project-Key": seed["project_key"]})
        assert r.status_code == 200 and r.json()["data"]["accepted"] == 3, r.text
    doc = copy.deepcopy(document())
    n_links = _links(doc)
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.update(base_url=server.url)
    statuses: Counter[int] = Counter()
    operations: Counter[str] = Counter()
    linked_ok: Counter[str] = Counter()
    problems: list[str] = []

    class Machine(schema.as_state_machine()):
        def teardown(self):
            """Every scenario starts from the same server state (only the seed project): the same choices
            must meet the same answers, or hypothesis reports its data generation as flaky."""
            with server.client() as c:
                for p in c.get("/api/v1/projects").json()["data"]["items"]:
                    if p["id"] != seed["id"]:
                        assert c.delete(f"/api/v1/projects/{p['id']}").status_code == 200
                if c.get(f"/api/v1/projects/{seed['id']}").status_code != 200:
                    raise AssertionError("the seed project was changed or deleted by a scenario")

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            statuses[response.status_code] += 1
            operations[f"{case.method} {case.path}"] += 1
            if "{" in case.path and response.status_code < 300:
                linked_ok[f"{case.method} {case.path}"] += 1
            try:
                case.validate_response(response, checks=[not_a_server_error, content_type_conformance, response_schema_conformance])
                assert response.status_code < 500, response.text
                if not case.path.endswith("/export") or response.status_code >= 400:
                    body = response.json()
                    assert set(body) == {"code", "msg", "data"}, body
                    assert (body["code"] == 0) == (response.status_code < 400), body
            except BaseException as exc:  # kept: the server's state makes hypothesis' replays of a failure differ
                problems.append(f"{case.method} {case.formatted_path} {case.query or ''} -> {response.status_code} {response.text[:300]}: "
                                f"{type(exc).__name__}: {str(exc)[:500]}")
                raise

    try:
        Machine.run(settings=settings(max_examples=EXAMPLES, stateful_step_count=6, deadline=None, database=None, derandomize=True,
                                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck)))
    except BaseException:
        if problems:
            pytest.fail("first failing call: " + problems[0], pytrace=False)
        raise
    five = sum(n for s, n in statuses.items() if s >= 500)
    figures(links=n_links, calls=sum(statuses.values()), operations_reached=len(operations), responses_5xx=five,
            id_operations_succeeded=len(linked_ok),
            statuses=dict(sorted(statuses.items())))
    assert five == 0, problems
    # the links were followed: calls reached operations that need an id from an earlier answer, with success
    assert any("{record_id}" in op for op in linked_ok) and any("{project_id}" in op for op in linked_ok), (linked_ok, operations)
