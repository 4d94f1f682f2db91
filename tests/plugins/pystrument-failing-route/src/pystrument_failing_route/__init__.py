"""Test-only server plugin: ``POST /api/v1/test-plugin/fail`` reads its body, decodes it into objects
several times its size, and raises (a bug in a handler: the server answers 500 in the envelope). Installed
only in the test environment (noxfile installs every folder of tests/plugins); the attack suite uses it
to check that a failed request's memory is freed, whatever the input."""

from __future__ import annotations

import json
from collections.abc import Callable

from pystrument.core import hookimpl


class PlantedBug(RuntimeError):
    """The failure this route plants on purpose."""


async def fail(request):  # type: ignore[no-untyped-def]
    body = await request.body()
    decoded = json.loads(body)
    held = [dict(item, copy=i) for i, item in enumerate(decoded)]  # objects a kept traceback would pin
    raise PlantedBug(f"planted failure holding {len(held)} objects")


@hookimpl
def register_routes(register: Callable[..., None]) -> None:
    from starlette.routing import Route

    register(Route("/api/v1/test-plugin/fail", fail, methods=["POST"]))
