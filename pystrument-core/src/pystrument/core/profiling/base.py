from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from types import FrameType

    from ..unit import Unit


class Collector(Protocol):
    """Takes samples for units of work. ``start``/``stop`` run on the unit's own thread and context and
    must be cheap; whatever a unit gathers stays on the unit (``Unit.samples``, ``Unit.cuts``) and is
    turned into a call tree later, in the background thread."""

    name: str
    interval: float

    def start(self, unit: Unit, entry_frame: FrameType | None) -> None: ...

    def stop(self, unit: Unit) -> None: ...

    # Optional (the client skips them when absent): the unit's code stops running in this context
    # (``leave``) and runs again (``enter``) without the unit ending, e.g. around a WSGI body's next().
    def enter(self, unit: Unit) -> None: ...

    def leave(self, unit: Unit) -> None: ...

    def close(self) -> None: ...
