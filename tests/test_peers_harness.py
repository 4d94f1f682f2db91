"""The peer harness's own verdicts (tests/peers/driver.py, suites.py): each check fails when it must."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

PEERS = Path(__file__).parent / "peers"


@pytest.fixture(scope="module")
def driver():
    pytest.importorskip("tomllib", reason="the peer driver reads pyproject.toml with tomllib (Python 3.11+; nox runs it on 3.11)")
    sys.path.insert(0, str(PEERS))
    try:
        spec = importlib.util.spec_from_file_location("peers_driver", PEERS / "driver.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(PEERS))


def result(driver, tmp_path: Path, notes=None, output: str = "", returncode: int = 0, records: list[str] | None = None):
    records_file = tmp_path / "records.jsonl"
    if records is not None:
        records_file.write_text("".join(json.dumps({"name": n}) + "\n" for n in records))
    return driver.RunResult(mode="with", outcomes={}, internal_errors=[], notes=notes or {}, seconds=0.0, output=output,
                            tail="", records_file=records_file, returncode=returncode)


def test_a_test_failing_only_with_pystrument_is_a_problem(driver):
    without = {"t::a": "passed", "t::b": "failed", "t::c": "skipped", "t::d": "passed", "t::e": "xfailed"}
    with_ = {"t::a": "error", "t::b": "failed", "t::c": "passed", "t::e": "xfailed", "t::f": "failed"}
    problems, remarks = driver.compare(without, with_)
    assert problems == ["t::a: passed without pystrument, error with it",
                        "t::d: passed without pystrument, did not run with it",
                        "t::f: ran only with pystrument (failed)"]
    assert remarks == ["t::c: skipped without pystrument, passed with it"]
    assert driver.compare(without, dict(without)) == ([], [])


def test_a_test_failing_only_without_pystrument_is_a_remark(driver):
    problems, remarks = driver.compare({"t::a": "failed"}, {"t::a": "passed"})
    assert problems == [] and remarks == ["t::a: failed without pystrument, passed with it (fails without: flaky?)"]


def test_the_process_must_end_as_without_pystrument(driver, tmp_path):
    clean = result(driver, tmp_path, output="1 passed\n")
    assert driver.process_problems(clean, result(driver, tmp_path, output="1 passed\n")) == []
    assert driver.process_problems(clean, result(driver, tmp_path, returncode=1)) == ["exit code 1 with pystrument, 0 without"]
    noisy = result(driver, tmp_path, output="1 passed\nException ignored in: <function f>\nTypeError: boom\n")
    (problem,) = driver.process_problems(clean, noisy)
    assert "1 'Exception ignored' report(s) with pystrument, 0 without" in problem and "TypeError: boom" in problem


def test_one_record_per_request(driver, tmp_path):
    from suites import one_record_per_request

    requests = {"requests": {"GET /": 2, "POST /{id}/update": 1}}
    assert one_record_per_request(result(driver, tmp_path, requests, records=["GET /", "POST /{id}/update", "GET /"])) == []
    (problem,) = one_record_per_request(result(driver, tmp_path, requests, records=["GET /", "GET /x"]))
    assert "missing {'GET /': 1, 'POST /{id}/update': 1}, unexpected {'GET /x': 1}" in problem
    assert one_record_per_request(result(driver, tmp_path, {}, records=[])) != []  # no request seen proves nothing
    # the continuous aggregates the default mode (both) ships beside them are not request records
    (tmp_path / "records.jsonl").write_text("".join(json.dumps(row) + "\n" for row in [
        {"name": "GET /", "kind": "request"}, {"name": "GET /", "kind": "aggregate"}]))
    assert one_record_per_request(result(driver, tmp_path, {"requests": {"GET /": 1}})) == []
    assert one_record_per_request(result(driver, tmp_path, {"requests": {"GET /": 2}})) != []


def test_every_request_recorded(driver, tmp_path):
    from suites import every_request_recorded

    assert every_request_recorded(result(driver, tmp_path, {"http_requests": 3, "records": 3})) == []
    assert every_request_recorded(result(driver, tmp_path, {"http_requests": 3, "records": 2})) != []
    assert every_request_recorded(result(driver, tmp_path, {"http_requests": 0, "records": 0})) != []


def test_every_suite_is_pinned_and_inserts_pystrument(driver):
    assert len({p.name for p in driver.SUITES}) == len(driver.SUITES)
    for peer in driver.SUITES:
        assert peer.version.count(".") >= 1 and not peer.version.startswith(("<", ">", "~", "="))
        assert peer.runner or peer.plugins or peer.script, f"{peer.name}: pystrument is never inserted"
        for plugin in peer.plugins:
            assert (PEERS / "plugins" / f"{plugin}.py").exists(), plugin
        assert not peer.script or (PEERS / "plugins" / peer.script).exists(), peer.script
        assert driver.with_local_dependencies(peer.ours)  # our distributions, resolved to folders


def test_the_django_runner_keeps_every_outcome(monkeypatch):
    """peer_django's result class (Django's runner is unittest's, not pytest's): pass, fail, error, skip, expected
    failure, unexpected success, and a failed subtest failing its test."""
    import io
    import unittest

    monkeypatch.syspath_prepend(str(PEERS / "plugins"))
    import peer_django

    monkeypatch.setattr(peer_django, "outcomes", {})

    class Cases(unittest.TestCase):
        def test_pass(self):
            pass

        def test_fail(self):
            self.fail("no")

        def test_error(self):
            raise RuntimeError("boom")

        @unittest.skip("not here")
        def test_skip(self):
            pass

        @unittest.expectedFailure
        def test_xfail(self):
            self.fail("expected")

        @unittest.expectedFailure
        def test_xpass(self):
            pass

        def test_subtest(self):
            for i in range(2):
                with self.subTest(i=i):
                    self.assertEqual(i, 0)

    suite = unittest.defaultTestLoader.loadTestsFromTestCase(Cases)
    unittest.TextTestRunner(stream=io.StringIO(), resultclass=peer_django.OutcomeResult).run(suite)
    got = {name.rsplit(".", 1)[1]: outcome for name, outcome in peer_django.outcomes.items()}
    assert got == {"test_pass": "passed", "test_fail": "failed", "test_error": "error", "test_skip": "skipped",
                   "test_xfail": "xfailed", "test_xpass": "xpassed", "test_subtest": "failed"}
