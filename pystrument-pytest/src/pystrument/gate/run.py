"""One gated test run: the SDK set up to profile everything and send it to the server, each test function a
unit, and at the end the upload flushed, the comparison with the baseline made and judged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from pystrument.core import ConfigError, configure
from pystrument.core.client import Client
from pystrument.core.compare_client import CompareClient, GateError
from pystrument.core.comparison import gate_lines, regressions
from pystrument.core.unit import Unit

from .budgets import report as budget_report
from .calibration import Calibrator
from .options import GateOptions

FLUSH_TIMEOUT_S = 120.0
UPLOAD_BATCH, UPLOAD_INTERVAL_S = 1000, 60.0


@dataclass
class GateRun:
    options: GateOptions
    server: CompareClient
    project: dict[str, Any]
    client: Client
    calibrator: Calibrator
    lines: list[str] = field(default_factory=list)
    exit_status: pytest.ExitCode = pytest.ExitCode.OK  # TESTS_FAILED on a regression, USAGE_ERROR when it could not judge

    @classmethod
    def start(cls, options: GateOptions) -> GateRun:
        """Check the server, the token and the project before any test runs, then set up the SDK."""
        try:
            server = CompareClient(options.server, options.token)
            project = server.project(options.project)
        except GateError as exc:
            raise pytest.UsageError(f"--pystrument: {exc}") from None
        if options.budgets is not None:  # checked by the server before any test runs: a bad budget is a usage error now
            try:
                server.check_budgets(project["id"], options.version, options.environment, options.budgets)
            except GateError as exc:
                raise pytest.UsageError(f"--pystrument-budgets: {exc}") from None
        key = options.key or project.get("project_key")
        if not key:
            raise pytest.UsageError("--pystrument needs --pystrument-key (or PYSTRUMENT_PROJECT_KEY): the project's ingestion key "
                                    "(`pystrument-server projects list`)")
        # every unit profiled in detail and kept (no sampling, no overhead governor, no minimum duration, no continuous
        # aggregates: the gate compares request records), sent to the server only;
        # records that cannot be delivered are counted (spool off), and the report says so
        try:
            client = configure(project_key=key, sinks=[options.server], api_endpoint="", sampling_rate=1.0, max_overhead_pct=100,
                               profiling_mode="detailed",
                               min_duration_ms=0.0, app_name=str(project["name"]), app_version=options.version,
                               environment=options.environment, spool_max_bytes=0, max_queue_size=100_000, strict=True,
                               # sent in few, large batches: the server ingesting beside the tests (on the same machine, as in
                               # CI jobs that start one) slows them unevenly (calibration.py)
                               batch_size=UPLOAD_BATCH, flush_interval=UPLOAD_INTERVAL_S)
        except ConfigError as exc:  # e.g. an invalid PYSTRUMENT_* variable in the CI environment
            raise pytest.UsageError(f"--pystrument: the SDK's configuration is invalid: {exc}") from None
        calibrator = Calibrator(client)  # the machine's speed, timed between the units (calibration.py)
        client.unit_ending = calibrator
        return cls(options, server, project, client, calibrator)

    # -- each test function is a unit of kind "function" named by its node id ------------------------------------
    def start_test(self, nodeid: str) -> Unit | None:
        self.calibrator.calibrate()
        unit = self.client.start("function", nodeid, tags={"runner": "pytest"})
        if unit is not None:
            self.calibrator.hosts.add(unit)
        return unit

    def end_test(self, unit: Unit | None, exc: BaseException | None = None) -> None:
        if unit is not None:
            self.calibrator.hosts.discard(unit)
            self.client.finish(unit, exc)

    # -- the end of the run -----------------------------------------------------------------------------------------
    def finish(self) -> None:
        o = self.options
        self.lines.append(f"version {o.version} of project {self.project['name']} (environment {o.environment}) on {o.server}")
        try:
            self._upload()
            self._check_budgets()
            baseline = o.baseline or self.server.previous_version(self.project["id"], o.version, o.environment)
            if baseline is None:
                self.lines.append(("PASS: " if self.exit_status == pytest.ExitCode.OK else "") + "no baseline yet (this is the project's first version in this environment); later runs "
                                  "compare with it, or pass --pystrument-baseline")
                return
            metric = "cpu_calibrated" if o.metric == "cpu" else o.metric  # per record, relative to the machine (calibration.py)
            result = self.server.compare(self.project["id"], baseline, o.version, environment=o.environment, metric=metric)
        except GateError as exc:
            self.exit_status = pytest.ExitCode.USAGE_ERROR
            self.lines.append(f"ERROR: the gate could not compare: {exc}")
            return
        self.lines += gate_lines(result, o.thresholds)
        if regressions(result, o.thresholds):
            self.exit_status = pytest.ExitCode.TESTS_FAILED
        self.lines.append(f"details: {self.server.base.rsplit('/api/v1', 1)[0]}/projects/{self.project['id']}/compare?"
                          f"base={baseline}&head={o.version}")

    def _check_budgets(self) -> None:
        """The uploaded version against the budgets (the file's, else the project's): a breach fails the run (docs/budgets.md)."""
        o = self.options
        result = self.server.check_budgets(self.project["id"], o.version, o.environment, o.budgets)
        self.lines += budget_report(result)
        if result.get("breaches"):
            self.exit_status = pytest.ExitCode.TESTS_FAILED

    def _upload(self) -> None:
        delivered = self.client.flush(FLUSH_TIMEOUT_S)
        # a batch the server could not take yet waits in the sink's retry queue (in memory: spool_max_bytes=0); the
        # close gives it 5 s more and counts what is still there as failed, so the stats are read after it
        self.client.close(timeout=5.0)
        stats = self.client.stats()
        sinks = stats.get("sinks", {}).values()
        sent = sum(int(s.get("sent", 0)) for s in sinks)
        lost = {f"dropped ({reason})": n for reason, n in stats.get("dropped", {}).items() if n}
        lost.update({f"failed to send ({s.get('last_error') or 'no error text'})": s["failed"] for s in sinks if s.get("failed")})
        if not delivered:
            raise GateError(f"records were still queued after {FLUSH_TIMEOUT_S:g} s: the server is too slow or unreachable")
        if lost:
            raise GateError(f"some records were not delivered ({', '.join(f'{k} {v}' for k, v in sorted(lost.items()))}): the comparison "
                            "would judge part of the run; see the server's log")
        self.lines.append(f"uploaded {sent} record(s), {self.calibrator.runs} of them the machine's calibration")
