"""docs/api.md is generated from the OpenAPI document and is current; the document describes every operation,
parameter and error code it lists."""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("pystrument.server")
from pystrument.server.api.envelope import DEFAULT_STATUS  # noqa: E402
from pystrument.server.api.openapi import document  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs"
TEXT = "pystrument-server/src/pystrument/server/openapi_text.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("gen_api_reference", DOCS / "gen_api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def operations():
    return [(method, path, op) for path, item in document()["paths"].items() for method, op in item.items()]


def test_api_reference_is_current():
    assert (DOCS / "api.md").read_text() == load_generator().render(), (
        "docs/api.md is stale: run `python docs/gen_api_reference.py`"
    )


def test_every_operation_is_in_the_reference():
    text = (DOCS / "api.md").read_text()
    for method, path, _op in operations():
        assert f"### `{method.upper()} {path}`" in text


def test_every_operation_and_parameter_is_described():
    missing = []
    for method, path, op in operations():
        if not op.get("summary") or not op.get("description"):
            missing.append(f"{method.upper()} {path}: summary or description")
        for param in op.get("parameters", []):
            if not param.get("description"):
                missing.append(f"{method.upper()} {path}: parameter {param['in']} {param['name']}")
    assert not missing, f"describe these in {TEXT} (OPERATIONS or PARAMETERS): {missing}"


def test_error_codes_are_documented_consistently():
    doc = document()
    known = {entry["code"] for entry in doc["info"]["x-error-codes"]}
    assert known >= set(DEFAULT_STATUS), "every code of envelope.py needs a meaning in openapi_text.CODES"
    for method, path, op in operations():
        errors = op["x-error-codes"]
        assert errors, f"{method.upper()} {path} lists no error codes"
        for e in errors:
            assert e["code"] in known, (method, path, e)
            response = op["responses"][str(e["status"])]
            enum = response["content"]["application/json"]["schema"]["allOf"][1]["properties"]["code"]["enum"]
            assert e["code"] in enum and str(e["code"]) in response["description"], (method, path, e)
        if op.get("security") != []:  # every operation behind the token says so
            assert {"status": 401, "code": 10002} in [{"status": e["status"], "code": e["code"]} for e in errors], (method, path)


def test_the_generator_renders_a_new_operation_without_text():
    """An endpoint added without prose still appears, with its parameters and shape, when regenerated."""
    doc = document()
    doc = {**doc, "paths": {**doc["paths"], "/api/v1/projects/{project_id}/thing": {"get": {
        "summary": "A thing", "tags": ["statistics"], "x-error-codes": [],
        "parameters": [{"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "Success.", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"data": {"type": "object", "properties": {"q_value": {"type": "number"}}}}}}}}},
    }}}}
    text = load_generator().render_document(doc)
    section = text.split("### `GET /api/v1/projects/{project_id}/thing`", 1)[1].split("\n### ", 1)[0]
    assert "| `project_id` | path | string | yes |" in section
    assert "| `q_value` | number | no |" in section
