"""Writes docs/api.md from the server's OpenAPI document (run: python docs/gen_api_reference.py).

The document is the one GET /api/v1/openapi.json serves (``pystrument.server.api.openapi.document()``); a new
endpoint, parameter or field shows up here when this script is run again. Operation descriptions,
parameter docs and error codes live in pystrument-server's openapi_text.py, shapes in openapi.py; only the
prose of HEADER is written here. tests/test_api_reference.py fails when the committed file is stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HEADER = """# HTTP API reference

Generated from the server's OpenAPI document by `python docs/gen_api_reference.py`; do not edit by hand
(descriptions and error codes: `pystrument-server/src/pystrument/server/openapi_text.py`; shapes:
`openapi.py`). A running server serves the same document at `GET /api/v1/openapi.json` and a browsable
page at `/docs`.

## Conventions

- **Prefix** `/api/v1` (plus `/health`). Request and response bodies are JSON; request bodies may be
  gzip (`Content-Encoding: gzip`), up to the server's `max_body_bytes` after decompression (413 beyond).
- **Envelope.** Every response, errors included, is `{"code": 0, "msg": "success", "data": ...}`; only
  the file of an export, the OpenAPI document, `/docs` and the UI at `/` are not. `code` is 0 on success
  and one of the codes below otherwise, `msg` says what is wrong and how to fix it, and HTTP statuses stay
  meaningful (the Errors table of each operation gives both). An `/api/` path no route matches answers
  404 and a method a route does not have 405, both with code 10001 (other unknown GET paths are the UI's).
- **Two credentials.** The *bearer token* (`--token`, `PYSTRUMENT_SERVER_TOKEN`) is needed by every
  operation except ingestion and health, as `Authorization: Bearer <token>`, when the server has one; a
  server without one answers everybody (it refuses to listen beyond loopback without one). A second,
  read-only token (`read_token`) may only GET: writes with it get 10003. The *project key*
  (`X-Project-Key`, or `project_key` in each record) authenticates ingestion only, into its own project:
  it cannot read anything, and ingestion never looks at the bearer token.
- **Times** are ISO 8601 strings in UTC; `since`/`until` also take relative times (`30m`, `24h`, `7d`,
  `2w` before now). **Durations** are milliseconds (floats). Statistics come from log-scale histograms
  (percentiles within about 4%).
- **Paging.** Only the record list is paged (`page` from 1, `page_size` up to 500, `total` over all
  pages); every other list is answered whole (`limit` caps the functions and failed jobs lists).
- **The SDK** (the HTTP sink) acts on these answers: 20003 (HTTP 401) stop sending; 10004 (HTTP 429,
  `Retry-After` seconds) back off; 413 split the batch; 5xx and connection errors retry with backoff,
  the batches spooled to disk meanwhile (the SDK's retry queue, docs/sinks.md).
- **With Redis** (`--redis`), the statistics GETs (endpoints, trends, functions, flame graph, compare,
  versions) answer with `X-Pystrument-Cache: hit` or `miss` (the shared cache; see deploy.md).
- **CORS**: only the origins in `cors_origins` are allowed; a preflight from another origin gets HTTP 400
  with code 10003.
"""


def esc(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def anchor(name: str) -> str:
    return name.lower()


def type_of(schema: dict[str, Any]) -> str:
    """A short human reading of a JSON schema: `string or null`, `array of [Record](#record)`, ..."""
    if not schema:
        return "any"
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{anchor(name)})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " or ".join(type_of(s) for s in schema[key])
    if "allOf" in schema:
        parts = [type_of(s) for s in schema["allOf"]]
        return parts[0] if len(parts) == 1 else " and ".join(parts)
    if "const" in schema:
        return f"`{schema['const']!r}`".replace("'", '"')
    if "enum" in schema:
        return " or ".join(f"`{v}`" for v in schema["enum"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        return " or ".join(type_of({**schema, "type": k}) for k in kind)
    if kind == "array":
        return f"array of {type_of(schema.get('items', {}))}"
    if is_inline_object(schema):
        return "{" + ", ".join(f"{name}: {type_of(prop)}" for name, prop in schema["properties"].items()) + "}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {type_of(schema['additionalProperties'])}"
    bounds = []
    if "minimum" in schema or "maximum" in schema:
        bounds.append(f"{schema.get('minimum', '')}..{schema.get('maximum', '')}")
    if "minLength" in schema or "maxLength" in schema:
        bounds.append(f"length {schema.get('minLength', 0)}..{schema.get('maxLength', '')}")
    return kind + (f" ({', '.join(bounds)})" if bounds else "")


def is_inline_object(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and bool(schema.get("properties"))


def field_rows(schema: dict[str, Any], prefix: str = "") -> list[str]:
    """One table row per field; fields of inline objects (and of arrays of them) follow as dotted names."""
    rows = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        item = prop.get("items", {}) if prop.get("type") == "array" else {}
        nested = prop if is_inline_object(prop) else item if is_inline_object(item) else None
        kind = type_of(prop) if nested is None else ("object" if nested is prop else "array of objects")
        desc = esc(prop.get("description", ""))
        if prop.get("default") not in (None, {}, [], ""):
            desc = f"{desc} Default `{json.dumps(prop['default'])}`.".strip()
        rows.append(f"| `{prefix}{name}` | {esc(kind)} | {'yes' if name in required else 'no'} | {desc} |")
        if nested is not None:
            rows += field_rows(nested, f"{prefix}{name}{'[]' if nested is item else ''}.")
    return rows


def fields_table(schema: dict[str, Any]) -> list[str]:
    rows = field_rows(schema)
    return ["| Field | Type | Required | Description |", "|---|---|---|---|", *rows] if rows else []


def describe_schema(schema: dict[str, Any]) -> list[str]:
    """A schema as a sentence (a reference, a union, a composition) or a field table."""
    if "$ref" in schema or "anyOf" in schema or "oneOf" in schema:
        return [type_of(schema) + "."]
    if "allOf" in schema:
        refs = [s for s in schema["allOf"] if "$ref" in s]
        extra = [s for s in schema["allOf"] if "$ref" not in s]
        out = [f"The fields of {' and '.join(type_of(r) for r in refs)}" + (", and:" if extra else ".")]
        for part in extra:
            out += ["", *fields_table(part)]
        return out
    if is_inline_object(schema):
        return fields_table(schema)
    return [type_of(schema) + "."]


def auth(op: dict[str, Any], method: str) -> str:
    if op.get("security") == []:
        keyed = any(p["in"] == "header" and p["name"] == "X-Project-Key" for p in op.get("parameters", []))
        return "project key (`X-Project-Key`)" if keyed else "none"
    return "bearer token" if method == "get" else "bearer token (not the read-only one)"


def operation(path: str, method: str, op: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`", "", f"**{op.get('summary', '')}.** {op.get('description', '')}".rstrip(), "",
           f"Auth: {auth(op, method)}.", ""]
    params = op.get("parameters", [])
    if params:
        out += ["| Parameter | In | Type | Required | Description |", "|---|---|---|---|---|"]
        for p in params:
            out.append(f"| `{p['name']}` | {p['in']} | {esc(type_of(p.get('schema', {})))} | {'yes' if p.get('required') else 'no'} "
                       f"| {esc(p.get('description', ''))} |")
        out.append("")
    body = op.get("requestBody")
    if body:
        for media, content in body["content"].items():
            out += [f"Request body ({media}, {'required' if body.get('required') else 'optional'}): " + "\n".join(describe_schema(content["schema"])), ""]
    for status, response in op["responses"].items():
        if not status.startswith("2"):
            continue
        content = response.get("content", {})
        envelope = content.get("application/json", {}).get("schema", {})
        if "data" in envelope.get("properties", {}):
            data = envelope["properties"]["data"]
            lines = describe_schema(data)
            if len(lines) == 1:
                out += [f"Response {status}: the envelope; `data` is {lines[0]}", ""]
            else:
                out += [f"Response {status}: the envelope; `data`:", "", *lines, ""]
        else:
            out += [f"Response {status}: {esc(response.get('description', ''))} Content types: "
                    + ", ".join(f"`{media}`" for media in content) + ".", ""]
    errors = op.get("x-error-codes", [])
    if errors:
        out += ["Errors:", "", "| HTTP | Code | When |", "|---|---|---|"]
        out += [f"| {e['status']} | {e['code']} | {esc(e['when'])} |" for e in errors]
        out.append("")
    return out


def codes_table(doc: dict[str, Any]) -> list[str]:
    statuses: dict[int, set[int]] = {}
    for item in doc["paths"].values():
        for op in item.values():
            for e in op.get("x-error-codes", []):
                statuses.setdefault(e["code"], set()).add(e["status"])
            statuses.setdefault(0, set()).update(int(s) for s in op["responses"] if s.startswith("2"))
    out = ["## Codes", "", "| Code | Meaning | HTTP statuses |", "|---|---|---|"]
    for entry in doc["info"].get("x-error-codes", []):
        seen = ", ".join(str(s) for s in sorted(statuses.get(entry["code"], ())))
        out.append(f"| {entry['code']} | {esc(entry['meaning'])} | {seen} |")
    return [*out, ""]


def render_document(doc: dict[str, Any]) -> str:
    ops: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ops.setdefault((op.get("tags") or ["other"])[0], []).append((path, method, op))
    tags = {t["name"]: t.get("description", "") for t in doc.get("tags", [])}
    order = [*[t for t in tags if t in ops], *[t for t in ops if t not in tags]]

    out = [HEADER, *codes_table(doc), "## Operations", "", "| Operation | Summary |", "|---|---|"]
    for tag in order:
        out += [f"| `{m.upper()} {p}` | {esc(o.get('summary', ''))} |" for p, m, o in ops[tag]]
    out.append("")
    for tag in order:
        out += [f"## {tag.capitalize()}", ""]
        if tags.get(tag):
            out += [tags[tag], ""]
        for path, method, op in ops[tag]:
            out += operation(path, method, op)
    out += ["## Schemas", ""]
    for name, schema in doc["components"]["schemas"].items():
        out += [f"### {name}", ""]
        if schema.get("description"):
            out += [esc(schema["description"]), ""]
        out += [*describe_schema(schema), ""]
    return "\n".join(out).rstrip() + "\n"


def render() -> str:
    from pystrument.server.api.openapi import document

    return render_document(document())


if __name__ == "__main__":
    target = Path(__file__).with_name("api.md")
    target.write_text(render())
    print(f"wrote {target}")
