"""schemathesis against the served OpenAPI document (bounded examples, positive and negative data, random
and real path ids): no 5xx, every response conforms to its documented schema, and every JSON answer is in
the envelope."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from pystrument.server.api.openapi import document  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

OPERATIONS = [(method.upper(), path) for path, item in document()["paths"].items() for method in item]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def served(start_server, make_record):
    server = start_server(rate_limit_rps=0)
    with server.client() as c:
        project = c.post("/api/v1/projects", json={"name": "fuzz"}).json()["data"]
        rec = make_record()
        c.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": project["project_key"]})
    schema = schemathesis.openapi.from_url(server.url + "/api/v1/openapi.json")
    real = {"project_id": project["id"], "record_id": rec["record_id"], "version": "1.0"}
    return schema, real, project


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_openapi_conformance(served, method, path):
    schema, real, project = served
    operation = schema[path][method]
    names = {p["name"] for p in document()["paths"][path][method.lower()]["parameters"] if p["in"] == "path"}
    strategies = []
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        strategies.append((mode, operation.as_strategy(mode)))
        if names:
            strategies.append((mode, operation.as_strategy(mode, path_parameters={k: v for k, v in real.items() if k in names})))
    headers = {"X-Project-Key": project["project_key"]} if path.startswith("/api/v1/performance/") else None

    for mode, strategy in strategies:
        @settings(max_examples=8, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case):
            if case.path_parameters and "version" in (case.path_parameters or {}) and case.method == "DELETE":
                case.path_parameters["version"] = "not-a-real-version-" + str(case.path_parameters["version"])[:10]
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)
            assert response.status_code < 500, response.text
            ctype = response.headers.get("content-type") or ""
            ctype = ctype[0] if isinstance(ctype, list) else ctype
            if ctype.startswith("application/json") and not path.endswith("/export"):
                body = response.json()
                assert set(body) == {"code", "msg", "data"}, body
                assert (body["code"] == 0) == (response.status_code < 400), body

        try:
            run()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing can be made invalid in an operation without inputs
