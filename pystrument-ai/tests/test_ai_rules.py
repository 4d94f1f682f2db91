"""Rule-based analysers on hand-made records (bounds, regressions), plugins, settings, lazy litellm."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest
from pystrument.ai import AISettings, RegressionAnalyser, RepeatedCallAnalyser, registered_analysers, run_analysers
from pystrument.ai.tree import TreeView
from pystrument.core import plugins
from pystrument.core.analysis import AnalysisContext, Finding
from pystrument.core.record import CallNode, ErrorInfo, Record


def node(function, time_ms, self_ms=0.0, file="/srv/app/views.py", line=1, is_app=True, children=()):
    return CallNode(function=function, file=file, line=line, time_ms=time_ms, self_ms=self_ms, is_app=is_app, children=list(children))


def builtin(function, ms):
    return node(function, ms, ms, file="<built-in>", line=0, is_app=False)


def record(tree, samples, duration=None, **kw):
    return Record(record_id="r1", name="GET /orders", kind="request", started_at=dt.datetime.now(dt.timezone.utc),
                  duration_ms=duration or tree.time_ms, call_tree=tree, sample_count=samples, interval_ms=1.0, **kw)


def n_plus_one_tree(execute_ms, other_ms):
    return node("orders", execute_ms + other_ms + 8, 2, children=[
        node("load_customer", execute_ms + 6, 1, line=20, children=[builtin("Connection.execute", execute_ms), builtin("Cursor.fetchone", 5)]),
        node("render", other_ms - 0, other_ms, line=40),
    ])


def test_sample_bound_proves_repeated_calls_when_samples_are_dense():
    tree = n_plus_one_tree(60, 30)
    view = TreeView(record(tree, samples=90))
    assert view.excess_ms == pytest.approx(8.0)
    assert view.min_calls(60) == 26  # (60 - 8) samples, two events per call at most
    (f,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree, samples=90)))
    # the function called most proves the count (execute and fetchone of one call are one call, not two)
    assert f.function == "load_customer" and f.evidence["parent"] == "orders" and f.evidence["calls_at_least"] == 26


def counted(function, ms, samples):
    """A built-in node as the SDK sends it now: with its sample count."""
    n = builtin(function, ms)
    n.samples = samples
    return n


def test_node_sample_counts_prove_calls_when_samples_are_sparse_in_time():
    # 40 calls of ~5 ms waits, and a 100 ms wait elsewhere: long samples may be anywhere, so the time
    # bound proves nothing, but the node's own count does: 40 samples in a C function, two at most per call
    tree = node("basket", 300, 100, children=[node("fetch_price", 200, 8, line=20, children=[counted("socket.recv_into", 192, 40)])])
    view = TreeView(record(tree, samples=50))
    assert view.min_calls(192) == 1
    (f,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree, samples=50)))
    assert f.function == "fetch_price" and f.evidence["calls_at_least"] == 20 and "at least 20" in f.title


def test_a_loop_around_the_calls_is_evidence_when_nothing_can_be_counted():
    # calls shorter than the interval: 3 samples for what was many queries; only the comprehension says so
    def tree(loop):
        leaf = node("load_review", 30, 2, line=67, children=[counted("Connection.execute", 28, 3)])
        middle = node("<listcomp>", 30, 0, line=116, children=[leaf]) if loop else leaf
        return node("product_detail", 40, 10, line=111, children=[middle])

    assert RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree(False), samples=5))) == []
    (f,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree(True), samples=5)))
    assert f.function == "load_review" and f.evidence["parent"] == "product_detail"
    assert f.evidence["loop"] == "called from a <listcomp> in product_detail"
    assert "once per item of a loop" in f.title and f.evidence["calls_basis"].startswith("a loop")
    # with captured source and no comprehension frame (Python 3.12+ inlines list comprehensions)
    source = {"/srv/app/views.py:111": "def product_detail(request):\n    reviews = [load_review(c, i) for i in ids]\n"}
    (f,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree(False), samples=5, source=source)))
    assert f.function == "load_review" and "reviews = [load_review(c, i) for i in ids]" in f.evidence["loop"]


def test_one_long_sample_proves_nothing():
    # 60 ms of execute in a record of 31 samples: one sample may hold all of it (a single slow query)
    tree = n_plus_one_tree(60, 30)
    view = TreeView(record(tree, samples=31))
    assert view.min_calls(60) == 1
    assert RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree, samples=31))) == []


def test_hot_path_severity_counts_only_the_time_the_thread_was_on_a_cpu():
    # a sync unit: 34 ms of its own Python code in wall time; on a busy host only 3 ms of it on a CPU
    tree = node("clean_handler", 40, 0, children=[node("summarize", 34, 34, line=5), builtin("socket.recv_into", 6)])
    from pystrument.ai.rules.hot_path import HotPathAnalyser

    (busy,) = [f for f in HotPathAnalyser().analyse(AnalysisContext(record=record(tree, samples=20, cpu_ms=3.0))) if f.function == "summarize"]
    assert busy.severity == "low" and busy.evidence["time_ms"] == 34.0 and busy.evidence["cost_ms"] == pytest.approx(3.0)
    assert busy.expected_saving_ms <= 3.0 * 0.5 + 0.1
    (idle,) = [f for f in HotPathAnalyser().analyse(AnalysisContext(record=record(tree, samples=40, cpu_ms=34.0))) if f.function == "summarize"]
    assert idle.severity == "medium" and "cost_ms" not in idle.evidence
    # waits are not scaled: the recv time stays whole (6 ms of 40), the CPU time covers the Python code
    (old,) = [f for f in HotPathAnalyser().analyse(AnalysisContext(record=record(tree, samples=40))) if f.function == "summarize"]
    assert old.severity == "medium"  # a record without CPU time is not scaled


def test_regression_is_placed_in_the_record():
    tree = node("orders", 100, 10, children=[node("price_lines", 90, 20, file="/srv/app/pricing.py", line=7,
                                                  children=[builtin("Connection.execute", 70)])])
    regressions = [
        {"name": "price_lines (/srv/app/pricing.py:7)", "base": {"count": 40, "p50": 20.0, "p95": 30.0, "mean": 21.0},
         "head": {"count": 38, "p50": 85.0, "p95": 95.0, "mean": 86.0}, "change_pct": 325.0, "delta_ms": 65.0,
         "p_value": 0.001, "effect_size": 2.1, "significant": True, "kind": "regression"},
        {"name": "orders", "delta_ms": -5.0, "kind": "improvement"},
    ]
    (f,) = RegressionAnalyser().analyse(AnalysisContext(record=record(tree, samples=100), regressions=regressions))
    assert (f.function, f.file, f.line) == ("price_lines", "/srv/app/pricing.py", 7)
    assert f.severity == "high" and f.expected_saving_ms == 65.0 and f.evidence["p_value"] == 0.001
    assert "Connection.execute (70.0 ms)" in f.suggestion and f.evidence["in_this_record_ms"] == 90.0
    assert RegressionAnalyser().analyse(AnalysisContext(record=record(tree, samples=100))) == []


def test_regressed_function_absent_from_the_record_is_still_reported():
    tree = node("orders", 10, 10)
    (f,) = RegressionAnalyser().analyse(AnalysisContext(record=record(tree, samples=10), regressions=[
        {"name": "/srv/app/tax.py:3:compute_tax", "delta_ms": 12.0, "change_pct": 40.0, "significant": False, "kind": "regression"}]))
    assert (f.function, f.file, f.line, f.severity) == ("compute_tax", "/srv/app/tax.py", 3, "low")


def test_builtin_and_third_party_analysers_are_registered_through_the_hook():
    names = set(registered_analysers())
    assert {"hot_path", "n_plus_one", "async_blocking", "costly_calls", "regressions"} <= names
    infos = {p.name: p for p in plugins.list_plugins()}
    assert infos["ai"].provides["ai_providers"] == ["openai", "qwen", "deepseek", "custom"]
    if "example-analysis" not in infos:
        pytest.skip("tests/plugins/pystrument-example-analysis is not installed (nox installs it)")
    assert infos["example-analysis"].distribution == "pystrument-example-analysis"
    assert "example_errors" in names
    failed = record(node("orders", 50, 50), samples=50, error=ErrorInfo(type="KeyError", message="sku"))
    findings = run_analysers(AnalysisContext(record=failed))
    assert findings[0].analyser == "example_errors"  # high severity ranks first
    assert any(f.analyser == "hot_path" for f in findings)


@pytest.mark.internal_errors_expected
def test_a_raising_analyser_is_reported_and_the_others_still_run():
    from pystrument.core import failsafe

    class Broken:
        name = "broken"

        def analyse(self, context):
            raise RuntimeError("bug in a third-party rule")

    class Fine:
        name = "fine"

        def analyse(self, context):
            return [Finding(analyser="fine", title="ok")]

    findings = run_analysers(AnalysisContext(record=record(node("x", 5, 5), samples=5)), {"broken": Broken(), "fine": Fine()})
    assert [f.analyser for f in findings] == ["fine"]
    assert failsafe.internal_errors and failsafe.internal_errors[0][0] == "analyser broken"


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("PYSTRUMENT_AI_OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("PYSTRUMENT_AI_QWEN_BASE_URL", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1")
    monkeypatch.setenv("PYSTRUMENT_AI_DEEPSEEK_TIMEOUT", "120")
    monkeypatch.setenv("PYSTRUMENT_AI_CUSTOM_MODEL", "qwen2.5-coder")
    monkeypatch.setenv("PYSTRUMENT_AI_PROMPT_TOKEN_BUDGET", "3000")
    monkeypatch.setenv("PYSTRUMENT_AI_LANGUAGE", "zh")
    s = AISettings()
    assert s.openai.api_key.get_secret_value() == "sk-env" and "sk-env" not in repr(s)
    assert s.qwen.base_url.startswith("https://dashscope-intl") and s.deepseek.timeout == 120
    assert s.custom.model == "qwen2.5-coder" and s.prompt_token_budget == 3000 and s.language == "zh"


def test_settings_are_found_in_what_the_server_passes(monkeypatch):
    from types import SimpleNamespace

    from pystrument.ai import resolve_settings

    monkeypatch.setenv("PYSTRUMENT_AI_TIMEOUT", "33")
    mine = AISettings(timeout=5)
    assert resolve_settings(mine) is mine
    assert resolve_settings(SimpleNamespace(ai=mine, store="sqlite://")) is mine
    assert resolve_settings({"ai": {"retries": 3}}).retries == 3
    assert resolve_settings({"openai": {"model": "gpt-4.1"}}).openai.model == "gpt-4.1"
    assert resolve_settings(SimpleNamespace(store="sqlite://")).timeout == 33
    assert resolve_settings(None).timeout == 33


def test_bad_setting_says_which():
    with pytest.raises(ValueError, match="language"):
        AISettings(language="fr")


def test_importing_pystrument_ai_does_not_import_litellm():
    code = ("import sys, pystrument.ai, pystrument.ai.plugin, pystrument.ai.providers; "
            "from pystrument.core.plugins import collect; collect('register_ai_providers'); "
            "print('litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_importing_pystrument_ai_does_not_import_detect_secrets():
    code = "import sys, pystrument.ai, pystrument.ai.plugin; print('detect_secrets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_prompt_elides_long_library_runs_and_keeps_app_frames():
    from pystrument.ai.prompt import hot_paths

    leaf = builtin("Connection.execute", 40)
    chain = leaf
    for depth in range(18, 0, -1):  # library frames between the app's frames and the leaf
        chain = node(f"lib_{depth}", 40, 0, file=f"/venv/site-packages/orm/m{depth}.py", is_app=False, children=[chain])
    tree = node("handler", 50, 10, children=[node("repository_get", 40, 0, file="/srv/app/repo.py", line=9, children=[chain])])
    (first, *_rest) = hot_paths(TreeView(record(tree, samples=50)))
    assert first.startswith("- self 40.0 ms (80.0%): handler (/srv/app/views.py:1) > repository_get (/srv/app/repo.py:9) > ... >")
    assert first.endswith("Connection.execute [built-in]") and "lib_1 " not in first and first.count(" > ") <= 11


def test_sparse_samples_on_a_busy_host_give_an_estimate_at_lower_confidence():
    # 4x wall time for the CPU time the thread got (descheduled): samples dense in CPU time only
    tree = n_plus_one_tree(240, 120)
    busy = record(tree, samples=92, cpu_ms=95.0)
    (f,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=busy))
    assert f.evidence["calls_at_least_in_this_record"] == 1 and f.evidence["calls_estimated"] >= 10
    assert f.evidence["calls_basis"].startswith("estimated") and f.confidence <= 0.6
    # the same sparse samples with the CPU time of the wall time: long calls, nothing to estimate
    assert RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree, samples=92, cpu_ms=360.0))) == []


def test_a_record_without_samples_gives_no_findings_and_no_error():
    from pystrument.ai import default_analysers

    empty = Record(record_id="r0", name="GET /fast", started_at=dt.datetime.now(dt.timezone.utc), duration_ms=0.2)
    context = AnalysisContext(record=empty, regressions=[{"name": "f", "delta_ms": 3.0, "kind": "regression"}])
    findings = run_analysers(context, {a.name: a for a in default_analysers()})
    assert [f.analyser for f in findings] == ["regressions"] and findings[0].evidence.get("in_this_record_ms") is None


def test_rule_findings_carry_their_title_as_a_code_and_parameters():
    # a UI renders the title in its own language from code + params: they must say what the English title says
    from pystrument.ai.rules.hot_path import HotPathAnalyser

    tree = n_plus_one_tree(60, 30)
    (nplus1,) = RepeatedCallAnalyser().analyse(AnalysisContext(record=record(tree, samples=90)))
    assert nplus1.code == "repeated.at_least"
    assert {k: nplus1.params[k] for k in ("function", "count", "kind", "parent")} == {
        "function": "load_customer", "count": 26, "kind": "db", "parent": "orders"}
    assert nplus1.params["ms"] > 60 and 0 < nplus1.params["share"] <= 1
    assert f"{nplus1.params['count']} database calls under orders ({nplus1.params['ms']:.1f} ms, {nplus1.params['share']:.0%})" in nplus1.title
    hot = [f for f in HotPathAnalyser().analyse(AnalysisContext(record=record(tree, samples=90))) if f.code == "hot_path"]
    assert hot, "the hot path analyser finds the render function"
    for f in hot:
        assert f.params["function"] == f.function
        assert f.title == f"Hot path: {f.function} takes {f.params['share']:.0%} of the time ({f.params['ms']:.1f} ms)"


def _scan_record(execute_samples: int) -> Record:
    """A record sampled every 10 us (dense: 4,000 samples of short events elsewhere), whose ``Catalog.query`` spends
    1.5 ms in built-in calls holding ``execute_samples`` samples (+1 for fetchall)."""
    def counted(function, ms, self_ms, samples, children=(), **kw):
        return CallNode(function=function, file=kw.get("file", "/srv/app/shop.py"), line=kw.get("line", 1), time_ms=ms,
                        self_ms=self_ms, is_app=kw.get("is_app", True), children=list(children), samples=samples)

    query = counted("Catalog.query", 1.55, 0.05, execute_samples + 2, line=55, children=[
        counted("Connection.execute", 1.4, 1.4, execute_samples, file="<built-in>", line=0, is_app=False),
        counted("Cursor.fetchall", 0.1, 0.1, 1, file="<built-in>", line=0, is_app=False)])
    tree = counted("product_detail", 47.0, 0.4, execute_samples + 4040, line=113, children=[
        counted("review_ids", 1.6, 0.05, execute_samples + 3, line=64, children=[query]),
        counted("render", 45.0, 45.0, 4000, line=90)])
    return Record(record_id="r1", name="GET /products/{id}", kind="request", started_at=dt.datetime.now(dt.timezone.utc),
                  duration_ms=47.0, call_tree=tree, sample_count=execute_samples + 4040, interval_ms=0.01)


def test_one_long_call_in_a_dense_record_is_no_n_plus_one():
    """A CI run found "Catalog.query makes about 25 database calls under review_ids": one 1.4 ms scan, sampled every
    10 us, read as dozens of calls because its time was divided by the record's average sample weight. The tree counts
    the samples of each node: one long call is one heavy sample."""
    analyser = RepeatedCallAnalyser(min_ms=0.0, min_share=0.0)
    assert analyser.analyse(AnalysisContext(record=_scan_record(1))) == []
    # the same time made of 60 samples in the built-in call: at least 30 calls, an N+1 shape
    (f,) = analyser.analyse(AnalysisContext(record=_scan_record(60)))
    assert f.function == "Catalog.query" and f.evidence["parent"] == "review_ids"
