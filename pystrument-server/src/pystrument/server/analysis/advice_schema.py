"""The shapes of checked advice in the API (advice.py, advice_check.py): a finding's ``prediction`` and its ``check``,
as msgspec structs from which the OpenAPI document's schemas are generated (the server stores plain dicts)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

REF = "#/components/schemas/{name}"


def _d(text: str) -> msgspec.Meta:
    return msgspec.Meta(description=text)


class AdviceTarget(msgspec.Struct):
    """What the finding says to change, as measured: a function, or an N+1 finding's SQL statement or HTTP call."""

    kind: Annotated[Literal["function", "sql", "http"], _d("`function`: its outermost calls' time; `sql`/`http`: its spans' summed time.")]
    function: Annotated[str, _d("The function (for `sql`/`http`: the function issuing it).")] = ""
    file: Annotated[str, _d("Its file (a function target matches this file only when given).")] = ""
    text: Annotated[str, _d("`sql`: the normalised statement; `http`: `METHOD url`.")] = ""


class Prediction(msgspec.Struct):
    """What a finding predicts, fixed when its analysis finished."""

    target: AdviceTarget
    endpoint: Annotated[str, _d("The analysed endpoint.")]
    version: Annotated[str, _d("The analysed version.")]
    records: Annotated[int, _d("Detailed records of that version the baseline was measured on (the latest, at most `advice_records`).")]
    baseline_ms: Annotated[float, _d("The target's time per request at the analysed version (records without it count 0).")]
    share: Annotated[float, _d("The share of the target's time the finding expects to save: its `expected_saving_ms` over the target's "
                               "time in the analysed record, at most 1 (1 when the finding gives no saving).")]
    predicted_ms: Annotated[float, _d("The saving per request predicted: `baseline_ms` x `share`.")]


class AdviceCheck(msgspec.Struct):
    """The prediction checked against the newest later version of the endpoint with at least `advice_min_requests`
    requests (the continuous aggregates' count where present, else detailed records); checked again when a newer
    version qualifies."""

    verdict: Annotated[Literal["confirmed", "partly_confirmed", "not_confirmed"],
                       _d("`confirmed`: the measured saving is at least `advice_confirm_share` (0.5) of the predicted one; "
                          "`partly_confirmed`: at least `advice_partly_share` (0.1); `not_confirmed`: less (no saving).")]
    predicted_ms: Annotated[float, _d("The prediction's `predicted_ms`.")]
    measured_ms: Annotated[float, _d("The measured saving per request: `before_ms` - `after_ms` (negative: it got slower).")]
    before_ms: Annotated[float, _d("The target's time per request at `version`, measured at the check.")]
    after_ms: Annotated[float, _d("The target's time per request at `against`.")]
    version: Annotated[str, _d("The analysed version.")]
    against: Annotated[str, _d("The later version measured.")]
    requests: Annotated[dict[str, int], _d("Requests of the endpoint, `before` (analysed version) and `after`.")]
    records: Annotated[dict[str, int], _d("Detailed records the two measures were taken on, `before` and `after`.")]
    endpoint_ms: Annotated[dict[str, Any], _d("The endpoint's mean duration per request (ms) `before` and `after`, from the roll-ups.")]
    checked_at: Annotated[str, _d("When the verdict was written (UTC, ISO 8601).")]


def components() -> dict[str, Any]:
    _, generated = msgspec.json.schema_components([Prediction, AdviceCheck], ref_template=REF)
    return dict(generated)
