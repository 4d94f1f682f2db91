"""Analysis plumbing through HTTP, on both stores: a rule-based analyser and an AI provider registered
as plugins in the test, jobs on the in-process worker, 20005 and 20006."""

from __future__ import annotations

import threading

import pytest
from pystrument.core import hookimpl, plugins
from pystrument.core.analysis import SEVERITY_RANK, AIUnavailable, AnalysisResult, Finding
from pystrument_testing.polling import wait_until


class SlowestFunction:
    """Flags the application function with the most self time (a real, if small, analyser)."""

    name = "slowest"
    gate = threading.Event()

    def analyse(self, context):
        assert self.gate.wait(10), "test gate never opened"
        best, stack = None, [context.record.call_tree]
        while stack:
            node = stack.pop()
            if node.is_app and (best is None or node.self_ms > best.self_ms):
                best = node
            stack.extend(node.children)
        # a minor finding first: the worker stores them most important first (severity, then saving x confidence)
        return [Finding(analyser=self.name, title="minor", function="minor", severity="low", expected_saving_ms=1000.0),
                Finding(analyser=self.name, title=f"{best.function} is the hot spot", function=best.function, file=best.file,
                        line=best.line, evidence={"self_ms": best.self_ms, "peers": len(context.peers)}, expected_saving_ms=best.self_ms / 2)]


class EchoAI:
    name = "echo"
    default_model = "echo-1"

    def is_configured(self, settings):
        return bool(settings.get("api_key"))

    def analyse(self, context, findings, settings):
        if settings.get("api_key") == "down":
            raise AIUnavailable("echo service refused the connection", reason="unreachable")
        return AnalysisResult(summary=f"{settings['model']}: {len(findings)} finding(s) confirmed", findings=findings, raw="raw reply")


class AnalysisPlugin:
    @staticmethod
    @hookimpl
    def register_analysers(register):
        register("slowest", SlowestFunction())

    @staticmethod
    @hookimpl
    def register_ai_providers(register):
        register("echo", EchoAI())
        register("silent", EchoAI())


@pytest.fixture
def analysis_server(start_server, store_kind):
    unregister = plugins.register(AnalysisPlugin(), name="test-analysis")
    SlowestFunction.gate.set()
    try:
        yield start_server(store_kind, ai={"echo": {"api_key": "sk-echo-secret-4711"}})
    finally:
        unregister()
        SlowestFunction.gate.set()


def _wait(c, analysis_id, timeout=15):
    return wait_until(lambda: (data := c.get(f"/api/v1/analysis/{analysis_id}").json()["data"])["status"] in ("done", "failed") and data,
                      timeout, 0.05, lambda: "analysis did not finish")


def test_analysis_jobs(analysis_server, make_record):
    with analysis_server.client() as c:
        project = c.post("/api/v1/projects", json={"name": "an"}).json()["data"]
        rec = make_record(duration=50, helper_ms=40)
        c.post("/api/v1/performance/batch", json=[rec, make_record(duration=30)], headers={"X-Project-Key": project["project_key"]})

        providers = c.get("/api/v1/analysis/providers").json()["data"]["items"]
        configured = {p["name"]: p["configured"] for p in providers}
        # other installed providers (pystrument-ai's, the example plugin's) are listed too
        assert {name: configured[name] for name in ("rules", "echo", "silent")} == {"rules": True, "echo": True, "silent": False}
        assert "sk-echo-secret-4711" not in str(providers)  # provider keys are never returned

        SlowestFunction.gate.clear()
        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}")
        assert r.status_code == 202 and r.json()["data"]["status"] == "queued"
        first = r.json()["data"]["analysis_id"]
        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={})
        assert r.status_code == 409 and r.json()["code"] == 20006 and r.json()["data"]["analysis_id"] == first
        SlowestFunction.gate.set()
        done = _wait(c, first)
        assert done["status"] == "done" and done["provider"] == "rules" and done["project_id"] == project["id"]
        ours = [f for f in done["findings"] if f["analyser"] == "slowest"]  # installed analysers add their own
        assert ours[0]["function"] == "helper" and ours[0]["evidence"] == {"self_ms": 40.0, "peers": 1}
        assert [f["function"] for f in ours] == ["helper", "minor"]
        ranks = [SEVERITY_RANK[f.get("severity", "medium")] for f in done["findings"]]
        assert ranks == sorted(ranks, reverse=True), done["findings"]
        assert done["finished_at"] >= done["created_at"]

        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "echo", "language": "zh"})
        ai = _wait(c, r.json()["data"]["analysis_id"])
        n = len(ai["findings"])  # every installed analyser's findings reach the provider
        assert n >= 1 and "slowest" in {f["analyser"] for f in ai["findings"]}
        assert ai["status"] == "done" and ai["model"] == "echo-1" and ai["summary"] == f"echo-1: {n} finding(s) confirmed" and ai["raw"] == "raw reply"
        items = c.get(f"/api/v1/records/{rec['record_id']}/analyses").json()["data"]["items"]
        assert {i["id"] for i in items} == {first, ai["id"]}

        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "nope"})
        assert r.status_code == 400 and r.json()["code"] == 20005 and "echo" in r.json()["msg"]
        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "silent"})
        assert r.status_code == 503 and r.json()["code"] == 20005 and "not configured" in r.json()["msg"]
        r = c.post("/api/v1/analysis/analyze/missing")
        assert r.status_code == 404
        r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"language": "fr"})
        assert r.status_code == 400 and "language" in r.json()["msg"]
        assert c.get("/api/v1/analysis/unknown").status_code == 404


def test_ai_unavailable_is_stored_as_a_failed_analysis(start_server, make_record):
    unregister = plugins.register(AnalysisPlugin(), name="test-analysis")
    SlowestFunction.gate.set()
    try:
        server = start_server(ai={"echo": {"api_key": "down"}})
        with server.client() as c:
            project = c.post("/api/v1/projects", json={"name": "an2"}).json()["data"]
            rec = make_record()
            c.post("/api/v1/performance/collect", json=rec, headers={"X-Project-Key": project["project_key"]})
            r = c.post(f"/api/v1/analysis/analyze/{rec['record_id']}", json={"provider": "echo"})
            failed = _wait(c, r.json()["data"]["analysis_id"])
            assert failed["status"] == "failed" and failed["error"].startswith("20005") and "refused" in failed["error"]
            assert "slowest" in {f["analyser"] for f in failed["findings"]}  # the rules' findings are kept
    finally:
        unregister()
