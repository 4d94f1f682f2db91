"""pystrument for Django (WSGI and ASGI deployments, sync and async views).

The original middleware form (code written for it needs only the import path changed), in ``settings.py``::

    MIDDLEWARE = [
        "pystrument.adapters.django.PerformanceMiddleware",   # first: it measures everything below it
        ...
    ]
    PYSTRUMENT = {"project_key": "...", "api_endpoint": "http://..."}   # or the legacy PERFORMANCE_MONITOR

Without either setting, configuration comes from env and files. The middleware is sync and async
capable, so under ASGI it runs in the event loop with no thread hop; sync views that Django runs
through ``sync_to_async`` are sampled in their worker thread. Requests are named by Django's own
``resolver_match.route`` (``GET /users/{user_id}/`` for ``users/<int:user_id>/``); a request that
resolved to no view is ``METHOD [unmatched]``. A view's exception is recorded from ``process_exception``
(which returns None: Django's own handling runs unchanged). Streaming and file responses end the unit
when Django closes the response, after the last chunk.
"""

# Lazy (PEP 562): importing this package, or its ``plugin`` module (which the runner loads in every
# process), does not import Django; the first attribute asked for loads ``.middleware``, which does.
from __future__ import annotations

from pystrument.adapters.base import lazy_exports

__all__ = ["PerformanceMiddleware", "route_template"]

__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)
