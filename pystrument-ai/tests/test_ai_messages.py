"""The rule-based findings' suggestions and notes as message codes: the UI's copy of the English templates
(ui/tests/fixtures/finding-messages.json, which ui/tests/findingText.spec.ts holds en.ts and zh.ts to) is this
module's, and the regression analyser's suggestion reads as its template."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from pystrument.ai import messages
from pystrument.ai.rules.regressions import RegressionAnalyser
from pystrument.core.analysis import AnalysisContext
from pystrument.core.record import Record

FIXTURE = Path(__file__).resolve().parents[2] / "ui" / "tests" / "fixtures" / "finding-messages.json"


def test_the_uis_copy_of_the_english_templates_is_current():
    assert json.loads(FIXTURE.read_text()) == messages.catalogue(), (
        "the English suggestions or notes changed: run `python -m pystrument.ai.messages > ui/tests/fixtures/finding-messages.json`, "
        "then update suggest.* and note.* in ui/src/i18n/en.ts and zh.ts")


def test_every_code_has_english_text_without_stray_placeholders():
    catalogue = messages.catalogue()
    assert set(catalogue["suggest"]) >= {"hot_path.callee", "async_blocking.cpu", "costly.import", "repeated.db", "regressed.compare"}
    for code, text in {**catalogue["suggest"], **catalogue["note"]}.items():
        assert text.strip() and "|" not in text and "@" not in text, code  # vue-i18n's plural and link characters


def test_a_regression_finding_carries_its_title_and_suggestion_as_codes():
    record = Record(record_id="r1", name="GET /x", started_at=dt.datetime.now(dt.timezone.utc), duration_ms=30.0)
    context = AnalysisContext(record=record, regressions=[{"name": "app.render", "delta_ms": 12.34, "change_pct": 80.0, "kind": "regression"}])
    (f,) = RegressionAnalyser().analyse(context)
    assert (f.code, f.suggestion_code) == ("regressed", "regressed.compare")
    assert f.params == {"function": "app.render", "delta_ms": 12.3, "change_pct": 80.0}
    assert f.title == "Regressed: app.render +12.3 ms (+80%)"
    assert f.suggestion == ("Compare app.render between the two versions: the change that added 12.3 ms is in it or in what it calls.")
