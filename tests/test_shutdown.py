"""Records survive shutdown: Flask under waitress in a subprocess, signalled right after its last
response (a 500); every record, the failed request's included, is in the file sink after the exit, the
exit status is the one the signal gives without pystrument, and nothing is printed.
``nox -s shutdown`` runs the same check 50 times per signal (tests/fixtures/shutdown_check.py)."""

from __future__ import annotations

import signal

import pytest

pytest.importorskip("pystrument.adapters.flask")
pytest.importorskip("waitress")

from shutdown_check import run_once  # noqa: E402  (tests/fixtures is on pythonpath)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 0)],
                         ids=["SIGTERM", "SIGINT"])
def test_every_record_survives_the_signal(tmp_path, signum, status):
    ok, problem, returncode = run_once(signum, tmp_path)
    assert ok, problem
    # SIGTERM at its default still kills by the signal; waitress ends on KeyboardInterrupt with status 0
    assert returncode == status
