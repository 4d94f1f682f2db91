"""A STAND-IN for pystrument-server, for the UI's end-to-end tests until the real server lands.

It implements the shapes of docs/api.md in memory (projects, ingestion through /performance/batch,
records, endpoints, trends, versions, functions, merged flame graph with "other" nodes and expand=,
compare with a significance test, analyses with a queued -> running -> done lifecycle), serves the
built UI with an SPA fallback, and requires a Bearer token when started with --token.
Standard library only. Not a product: the real server is pystrument-server (issue 5).

    python e2e/stub_api_server.py --port 8123 --static ../pystrument-server/src/pystrument/server/static/ui --token T
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import math
import mimetypes
import re
import secrets
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

LOCK = threading.Lock()
PROJECTS: dict[str, dict] = {}
RECORDS: dict[str, dict] = {}  # record_id -> record (with project_id)
ANALYSES: dict[str, dict] = {}
OPTS = argparse.Namespace(token=None, static=None)


class ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def iso(t: dt.datetime) -> str:
    return t.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def parse_time(value: str) -> dt.datetime:
    m = re.fullmatch(r"(\d+)([mhdw])", value)
    if m:
        n, unit = int(m[1]), m[2]
        return now() - dt.timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: n})
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, 10001, f"'{value}' is not a time: use ISO 8601 or a relative time like 24h or 7d") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def project_view(p: dict) -> dict:
    recs = [r for r in RECORDS.values() if r["_project"] == p["id"]]
    last = max((r["started_at"] for r in recs), default=None)
    return {**p, "record_count": len(recs), "last_seen_at": last}


def get_project(pid: str) -> dict:
    p = PROJECTS.get(pid)
    if not p:
        raise ApiError(404, 20001, f"project {pid} not found")
    return p


def summary(r: dict) -> dict:
    return {k: v for k, v in r.items() if k not in ("call_tree", "source") and not k.startswith("_")}


def filtered(pid: str, q: dict) -> list[dict]:
    out = [r for r in RECORDS.values() if r["_project"] == pid]
    if q.get("endpoint"):
        out = [r for r in out if r["name"] == q["endpoint"]]
    if q.get("version"):
        out = [r for r in out if r.get("app", {}).get("version") == q["version"]]
    if q.get("environment"):
        out = [r for r in out if r.get("app", {}).get("environment") == q["environment"]]
    if q.get("since"):
        t = iso(parse_time(q["since"]))
        out = [r for r in out if r["started_at"] >= t]
    if q.get("until"):
        t = iso(parse_time(q["until"]))
        out = [r for r in out if r["started_at"] <= t]
    if q.get("min_duration"):
        try:
            m = float(q["min_duration"])
        except ValueError:
            raise ApiError(400, 10001, "min_duration must be a number of milliseconds") from None
        out = [r for r in out if r["duration_ms"] >= m]
    st = q.get("status")
    if st:
        if re.fullmatch(r"[1-5]xx", st):
            lo = int(st[0]) * 100
            out = [r for r in out if r.get("status_code") is not None and lo <= r["status_code"] < lo + 100]
        elif st.isdigit():
            out = [r for r in out if r.get("status_code") == int(st)]
        else:
            raise ApiError(400, 10001, "status must be a code like 500 or a class like 5xx")
    return out


# ---- merged flame graph ---------------------------------------------------------------------

def merge_into(acc: dict, node: dict) -> None:
    acc["time_ms"] += node.get("time_ms", 0.0)
    acc["self_ms"] += node.get("self_ms", 0.0)
    for c in node.get("children", []) or []:
        key = (c["function"], c.get("file", ""), c.get("line", 0))
        child = acc["_kids"].get(key)
        if child is None:
            child = acc["_kids"][key] = new_acc(c)
        merge_into(child, c)


def new_acc(n: dict) -> dict:
    return {"function": n["function"], "file": n.get("file", ""), "line": n.get("line", 0), "time_ms": 0.0,
            "self_ms": 0.0, "is_app": bool(n.get("is_app")), "_kids": {}}


def merged_tree(records: list[dict]) -> dict:
    roots = [r["call_tree"] for r in records if r.get("call_tree")]
    keys = {(n["function"], n.get("file", ""), n.get("line", 0)) for n in roots}
    if len(keys) == 1:
        acc = new_acc(roots[0])
        for n in roots:
            merge_into(acc, n)
        return acc
    acc = {"function": "all requests", "file": "", "line": 0, "time_ms": 0.0, "self_ms": 0.0, "is_app": False, "_kids": {}}
    for n in roots:
        merge_into(acc, {"time_ms": n.get("time_ms", 0.0), "self_ms": 0.0, "children": [n]})
    return acc


def emit(acc: dict, path: str, budget: list[int], root_ms: float) -> dict:
    budget[0] -= 1
    kids = sorted(acc["_kids"].values(), key=lambda k: -k["time_ms"])
    out = {k: acc[k] for k in ("function", "file", "line", "time_ms", "self_ms", "is_app")}
    out.update(other=False, path=path, children=[])
    kept, rest = [], []
    for i, k in enumerate(kids):
        small = k["time_ms"] < 0.01 * root_ms
        (rest if (small or budget[0] <= 0) else kept).append((i, k))
    if len(rest) == 1 and budget[0] > 0:
        kept, rest = kept + rest, []
    for i, k in kept:
        out["children"].append(emit(k, f"{path}/{i}", budget, root_ms))
    if rest:
        out["children"].append({
            "function": f"other ({len(rest)} frames)", "file": "", "line": 0, "is_app": False,
            "time_ms": sum(k["time_ms"] for _, k in rest), "self_ms": 0.0, "other": True,
            "path": f"{path}/~other", "children": [],
        })
    return out


def flamegraph(records: list[dict], limit: int, expand: str | None) -> dict:
    acc = merged_tree(records)
    root_ms = acc["time_ms"] or 1.0
    if not expand:
        return {"records": len(records), "root": emit(acc, "0", [limit], root_ms)}
    # expand=<parent path>/~other: the "other" node with its pruned siblings as children
    parts = expand.split("/")
    if parts[-1] != "~other" or parts[0] != "0":
        raise ApiError(400, 10001, f"expand={expand!r} is not the path of an 'other' node")
    node = acc
    for p in parts[1:-1]:
        kids = sorted(node["_kids"].values(), key=lambda k: -k["time_ms"])
        node = kids[int(p)]
    parent = emit(node, "/".join(parts[:-1]), [limit], root_ms)
    kids = sorted(node["_kids"].values(), key=lambda k: -k["time_ms"])
    shown = {c["path"] for c in parent["children"]}
    content = [emit(k, f"{parent['path']}/{i}", [limit], 0.0) for i, k in enumerate(kids) if f"{parent['path']}/{i}" not in shown]
    return {"records": len(records), "root": {
        "function": "other", "file": "", "line": 0, "is_app": False, "other": False, "path": expand,
        "time_ms": sum(c["time_ms"] for c in content), "self_ms": 0.0, "children": content}}


# ---- statistics -----------------------------------------------------------------------------

def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided Mann-Whitney U test, normal approximation."""
    n1, n2 = len(a), len(b)
    if n1 < 2 or n2 < 2:
        return 1.0
    allv = sorted([(v, 0) for v in a] + [(v, 1) for v in b])
    ranks = [0.0] * len(allv)
    i = 0
    while i < len(allv):
        j = i
        while j + 1 < len(allv) and allv[j + 1][0] == allv[i][0]:
            j += 1
        for k in range(i, j + 1):
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    r1 = sum(r for r, (_, g) in zip(ranks, allv) if g == 0)
    u = r1 - n1 * (n1 + 1) / 2
    mu, sigma = n1 * n2 / 2, math.sqrt(n1 * n2 * (n1 + n2 + 1) / 12)
    if sigma == 0:
        return 1.0
    z = abs(u - mu) / sigma
    return math.erfc(z / math.sqrt(2))


def side(values: list[float]) -> dict:
    return {"count": len(values), "p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
            "mean": sum(values) / len(values) if values else 0.0}


def delta(name: str, a: list[float], b: list[float]) -> dict:
    sa, sb = side(a), side(b)
    change = (sb["p50"] - sa["p50"]) / sa["p50"] * 100 if sa["p50"] else 0.0
    p = mann_whitney_p(a, b)
    sd = math.sqrt(((sum((x - sa["mean"]) ** 2 for x in a) + sum((x - sb["mean"]) ** 2 for x in b)) / max(1, len(a) + len(b) - 2)))
    effect = (sb["mean"] - sa["mean"]) / sd if sd else 0.0
    significant = p < 0.05 and abs(change) >= 5
    kind = "unchanged" if not significant else ("regression" if change > 0 else "improvement")
    return {"name": name, "base": sa, "head": sb, "change_pct": change, "delta_ms": sb["p50"] - sa["p50"],
            "p_value": p, "effect_size": effect, "significant": significant, "kind": kind}


def self_by_function(tree: dict | None) -> dict[str, float]:
    out: dict[str, float] = {}
    stack = [tree] if tree else []
    while stack:
        n = stack.pop()
        out[n["function"]] = out.get(n["function"], 0.0) + n.get("self_ms", 0.0)
        stack.extend(n.get("children", []) or [])
    return out


def compare(pid: str, q: dict) -> dict:
    base, head = q.get("base"), q.get("head")
    if not base or not head:
        raise ApiError(400, 10001, "compare needs base and head versions: ?base=1.0&head=1.1")
    common = {k: v for k, v in q.items() if k == "endpoint"}
    ra, rb = filtered(pid, {**common, "version": base}), filtered(pid, {**common, "version": head})
    names = sorted({r["name"] for r in ra} & {r["name"] for r in rb})
    endpoints = [delta(n, [r["duration_ms"] for r in ra if r["name"] == n], [r["duration_ms"] for r in rb if r["name"] == n]) for n in names]
    fa = [self_by_function(r.get("call_tree")) for r in ra]
    fb = [self_by_function(r.get("call_tree")) for r in rb]
    fnames = {k for d in fa for k in d} & {k for d in fb for k in d}
    # per function: its self time in each request that ran it
    functions = [delta(f, [d[f] for d in fa if f in d], [d[f] for d in fb if f in d]) for f in sorted(fnames)]
    functions.sort(key=lambda d: -abs(d["delta_ms"]))
    endpoints.sort(key=lambda d: -d["change_pct"])
    return {"base": base, "head": head, "endpoints": endpoints, "functions": functions[:100]}


# ---- analyses -------------------------------------------------------------------------------

def run_analysis(aid: str) -> None:
    time.sleep(0.4)
    with LOCK:
        ANALYSES[aid]["status"] = "running"
    time.sleep(0.8)
    with LOCK:
        a = ANALYSES[aid]
        rec = RECORDS[a["record_id"]]
        fn = max(self_by_function(rec.get("call_tree")).items(), key=lambda kv: kv[1], default=("?", 0.0))
        a.update(status="done", finished_at=iso(now()), findings=[{
            "analyser": "hot_function", "title": "One function holds most of the self time", "function": fn[0],
            "evidence": {"self_ms": fn[1]}, "suggestion": "Cache its result or batch its I/O.",
            "expected_saving_ms": round(fn[1] * 0.6, 1), "confidence": 0.7, "severity": "high"}],
            summary=f"**{fn[0]}** spends `{fn[1]:.1f} ms` of self time.\n\n<script>alert('model')</script> stays text.",
            raw="stand-in analyser output")


# ---- HTTP -----------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def send(self, status: int, body: bytes, ctype: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def envelope(self, status: int, data: object, code: int = 0, msg: str = "success") -> None:
        self.send(status, json.dumps({"code": code, "msg": msg, "data": data}).encode(), "application/json")

    def body(self) -> object:
        raw = self.raw
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        try:
            return json.loads(raw or b"{}")
        except ValueError as e:
            raise ApiError(400, 10001, f"request body is not JSON: {e}") from None

    def do_GET(self) -> None:
        self.dispatch("GET")

    def do_POST(self) -> None:
        self.dispatch("POST")

    def do_PUT(self) -> None:
        self.dispatch("PUT")

    def do_DELETE(self) -> None:
        self.dispatch("DELETE")

    def dispatch(self, method: str) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        self.raw = self.rfile.read(n) if n else b""  # always read it: the connection is kept alive
        url = urlparse(self.path)
        if not url.path.startswith("/api/"):
            return self.static(url.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        m = re.fullmatch(r"/api/v1/records/([^/]+)/export", url.path)
        if m and method == "GET" and q.get("format", "json") == "json":
            if OPTS.token and self.headers.get("Authorization") != f"Bearer {OPTS.token}":
                return self.envelope(401, None, 10002, "authentication required")
            rec = RECORDS.get(unquote(m[1]))
            if rec:
                body = json.dumps({k: v for k, v in rec.items() if not k.startswith("_")}).encode()
                return self.send(200, body, "application/json", {"Content-Disposition": f'attachment; filename="{rec["record_id"]}.json"'})
        try:
            status, data = self.api(method, url.path[len("/api/v1"):], q)
            self.envelope(status, data)
        except ApiError as e:
            self.envelope(e.status, None, e.code, e.msg)

    def api(self, method: str, path: str, q: dict) -> tuple[int, object]:
        public = path.startswith("/performance/") or path == "/health"
        if OPTS.token and not public and self.headers.get("Authorization") != f"Bearer {OPTS.token}":
            raise ApiError(401, 10002, "authentication required: send Authorization: Bearer <server token>")
        with LOCK:
            return self.route(method, path, q)

    def route(self, method: str, path: str, q: dict) -> tuple[int, object]:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        match (method, parts):
            case ("GET", ["health"]):
                return 200, {"status": "ok", "store": "stand-in memory", "version": "stub"}
            case ("GET", ["projects"]):
                items = [project_view(p) for p in PROJECTS.values()]
                return 200, {"items": items, "total": len(items)}
            case ("POST", ["projects"]):
                b = self.body()
                name = str(b.get("name") or "").strip() if isinstance(b, dict) else ""
                if not name:
                    raise ApiError(400, 10001, "name is required")
                if any(p["name"] == name for p in PROJECTS.values()):
                    raise ApiError(400, 20002, f"a project named {name!r} exists")
                p = {"id": uuid.uuid4().hex[:12], "name": name, "description": b.get("description", ""),
                     "project_key": "pk_" + secrets.token_hex(16), "created_at": iso(now()), "settings": {}}
                PROJECTS[p["id"]] = p
                return 201, project_view(p)
            case ("GET", ["projects", pid]):
                return 200, project_view(get_project(pid))
            case ("POST", ["projects", pid, "rotate-key"]):
                p = get_project(pid)
                p["project_key"] = "pk_" + secrets.token_hex(16)
                return 200, project_view(p)
            case ("POST", ["performance", "batch"]):
                return self.ingest()
            case ("GET", ["projects", pid, "records"]):
                get_project(pid)
                recs = filtered(pid, q)
                sort = q.get("sort", "-started_at")
                key = sort.lstrip("-")
                if key not in ("started_at", "duration_ms"):
                    raise ApiError(400, 10001, "sort must be started_at or duration_ms, with - for descending")
                recs.sort(key=lambda r: r[key], reverse=sort.startswith("-"))
                page, size = int(q.get("page", 1)), int(q.get("page_size", 50))
                return 200, {"items": [summary(r) for r in recs[(page - 1) * size: page * size]], "total": len(recs), "page": page, "page_size": size}
            case ("GET", ["records", rid]):
                r = RECORDS.get(rid)
                if not r:
                    raise ApiError(404, 10001, f"record {rid} not found")
                return 200, {k: v for k, v in r.items() if not k.startswith("_")}
            case ("GET", ["projects", pid, "endpoints"]):
                get_project(pid)
                groups: dict[str, list[dict]] = {}
                for r in filtered(pid, q):
                    groups.setdefault(r["name"], []).append(r)
                items = []
                for name, rs in groups.items():
                    d = [r["duration_ms"] for r in rs]
                    errs = sum(1 for r in rs if (r.get("status_code") or 0) >= 500 or r.get("error"))
                    items.append({"endpoint": name, "method": rs[0].get("method"), "count": len(rs), "error_count": errs,
                                  "error_rate": errs / len(rs), "p50": percentile(d, .5), "p95": percentile(d, .95),
                                  "p99": percentile(d, .99), "max": max(d), "mean": sum(d) / len(d),
                                  "versions": sorted({r.get("app", {}).get("version", "") for r in rs})})
                items.sort(key=lambda e: -e["p95"])
                return 200, {"items": items}
            case ("GET", ["projects", pid, "trends"]):
                get_project(pid)
                bucket = q.get("bucket", "1h")
                m = re.fullmatch(r"(\d+)([mhd])", bucket)
                if not m:
                    raise ApiError(400, 10001, "bucket must look like 5m, 1h or 1d")
                secs = int(m[1]) * {"m": 60, "h": 3600, "d": 86400}[m[2]]
                groups2: dict[int, list[dict]] = {}
                for r in filtered(pid, q):
                    t = parse_time(r["started_at"]).timestamp()
                    groups2.setdefault(int(t // secs) * secs, []).append(r)
                pts = []
                if groups2:
                    for b in range(min(groups2), max(groups2) + 1, secs):
                        rs = groups2.get(b, [])
                        d = [r["duration_ms"] for r in rs]
                        pts.append({"t": iso(dt.datetime.fromtimestamp(b, dt.timezone.utc)), "count": len(rs),
                                    "error_count": sum(1 for r in rs if (r.get("status_code") or 0) >= 500),
                                    "p50": percentile(d, .5), "p95": percentile(d, .95), "p99": percentile(d, .99)})
                return 200, {"bucket": bucket, "points": pts}
            case ("GET", ["projects", pid, "versions"]):
                get_project(pid)
                vs: dict[tuple, list[str]] = {}
                for r in filtered(pid, {}):
                    vs.setdefault((r["app"].get("version", ""), r["app"].get("environment", "")), []).append(r["started_at"])
                return 200, {"items": [{"version": v, "environment": e, "count": len(ts), "first_seen": min(ts), "last_seen": max(ts)}
                                       for (v, e), ts in sorted(vs.items())]}
            case ("GET", ["projects", pid, "functions"]):
                get_project(pid)
                recs = filtered(pid, q)
                per: dict[str, list[float]] = {}
                for r in recs:
                    for f, s in self_by_function(r.get("call_tree")).items():
                        per.setdefault(f, []).append(s)
                total = sum(sum(v) for v in per.values()) or 1.0
                items = [{"function": f, "file": "", "line": 0, "is_app": True, "self_ms_total": sum(v), "self_share": sum(v) / total,
                          "request_share": len(v) / max(1, len(recs)), "p50_self_ms": percentile(v, .5), "p95_self_ms": percentile(v, .95),
                          "calls_in": len(v)} for f, v in per.items()]
                items.sort(key=lambda x: -x["self_ms_total"])
                return 200, {"items": items[: int(q.get("limit", 50))]}
            case ("GET", ["projects", pid, "flamegraph"]):
                get_project(pid)
                return 200, flamegraph(filtered(pid, q), int(q.get("limit_nodes", 500)), q.get("expand"))
            case ("GET", ["projects", pid, "compare"]):
                get_project(pid)
                return 200, compare(pid, q)
            case ("GET", ["analysis", "providers"]):
                return 200, {"items": [{"name": "rules", "default_model": None, "configured": True},
                                       {"name": "openai", "default_model": "gpt-4o-mini", "configured": False}]}
            case ("POST", ["analysis", "analyze", rid]):
                r = RECORDS.get(rid)
                if not r:
                    raise ApiError(404, 10001, f"record {rid} not found")
                b = self.body()
                provider = (b.get("provider") if isinstance(b, dict) else None) or "rules"
                if any(a["record_id"] == rid and a["provider"] == provider and a["status"] in ("queued", "running") for a in ANALYSES.values()):
                    raise ApiError(409, 20006, "an analysis of this record with this provider is in progress")
                aid = uuid.uuid4().hex[:12]
                ANALYSES[aid] = {"id": aid, "record_id": rid, "project_id": r["_project"], "provider": provider, "model": None,
                                 "status": "queued", "created_at": iso(now()), "finished_at": None, "summary": "", "findings": [],
                                 "error": None, "raw": None}
                threading.Thread(target=run_analysis, args=(aid,), daemon=True).start()
                return 202, {"task_id": aid, "analysis_id": aid, "status": "queued"}
            case ("GET", ["analysis", aid]):
                if aid not in ANALYSES:
                    raise ApiError(404, 10001, f"analysis {aid} not found")
                return 200, ANALYSES[aid]
            case ("GET", ["records", rid, "analyses"]):
                return 200, {"items": sorted((a for a in ANALYSES.values() if a["record_id"] == rid), key=lambda a: a["created_at"], reverse=True)}
        raise ApiError(404, 10001, f"no route {method} /api/v1{path}")

    def ingest(self) -> tuple[int, object]:
        key = self.headers.get("X-Project-Key", "")
        project = next((p for p in PROJECTS.values() if p["project_key"] == key), None)
        if not project:
            raise ApiError(401, 20003, "invalid project key")
        b = self.body()
        records = b.get("records", []) if isinstance(b, dict) else b
        accepted, dups, rejected = 0, 0, []
        for i, r in enumerate(records):
            missing = [f for f in ("record_id", "name", "started_at", "duration_ms") if f not in r]
            if missing:
                rejected.append({"index": i, "record_id": r.get("record_id"), "code": 20004, "error": f"records[{i}].{missing[0]}: required"})
                continue
            if r["record_id"] in RECORDS:
                dups += 1
                continue
            r = {**r, "_project": project["id"]}
            r.setdefault("app", {})
            for k, d in (("kind", "request"), ("method", None), ("path", None), ("status_code", None), ("cpu_ms", 0.0),
                         ("sample_rate", 1.0), ("tags", {}), ("error", None), ("truncated", False)):
                r.setdefault(k, d)
            r["started_at"] = iso(parse_time(r["started_at"]))
            RECORDS[r["record_id"]] = r
            accepted += 1
        if not accepted and not dups and rejected:
            raise ApiError(422, 20004, "every record was rejected")
        return 200, {"accepted": accepted, "duplicates": dups, "rejected": rejected}

    def static(self, path: str) -> None:
        root = Path(OPTS.static) if OPTS.static else None
        if not root or not (root / "index.html").exists():
            return self.send(503, b"UI not built: run `nox -s ui`", "text/plain")
        f = (root / path.lstrip("/")).resolve()
        if root.resolve() not in f.parents or not f.is_file():
            f = root / "index.html"  # SPA fallback
        cache = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
        self.send(200, f.read_bytes(), mimetypes.guess_type(f.name)[0] or "application/octet-stream", {"Cache-Control": cache})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--static", default=None)
    ap.add_argument("--token", default=None)
    ns = ap.parse_args()
    OPTS.token, OPTS.static = ns.token, ns.static
    server = ThreadingHTTPServer(("127.0.0.1", ns.port), Handler)
    print(f"stand-in API listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
