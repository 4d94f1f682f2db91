"""failsafe keeps internal errors as text: the failed call's frames and locals are freed."""

from __future__ import annotations

import gc
import weakref

import pytest
from pystrument.core import failsafe


class Payload:
    pass


@pytest.mark.internal_errors_expected
def test_a_reported_error_keeps_text_and_frees_the_failed_calls_locals():
    refs = []

    def fails() -> None:
        payload = Payload()
        refs.append(weakref.ref(payload))
        raise ValueError("bad payload " + "x" * 50_000)

    for _ in range(3):
        with failsafe.failsafe("unit test"):
            fails()
    gc.collect()
    assert [r() for r in refs] == [None, None, None]
    first = failsafe.internal_errors[0]
    assert (first.where, first.type) == ("unit test", "ValueError") and first.message.startswith("bad payload")
    assert "in fails" in first.traceback and "raise ValueError" in first.traceback
    assert len(first.message) < failsafe.MAX_TEXT + 100 and "characters cut" in first.message
    assert str(first).startswith("unit test: ValueError: bad payload")
    assert [e.where for e in failsafe.internal_errors] == ["unit test"] * 3


@pytest.mark.internal_errors_expected
def test_an_exception_whose_str_fails_is_still_reported():
    class Odd(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no text")

    failsafe.report("odd", Odd())
    assert failsafe.internal_errors[0].message == "<str() failed: RuntimeError>"
