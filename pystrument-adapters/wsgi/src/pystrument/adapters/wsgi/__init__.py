"""pystrument for any WSGI application.

    from pystrument.adapters.wsgi import PerformanceMiddleware
    application = PerformanceMiddleware(application, {"project_key": "...", "api_endpoint": "http://..."})

Each sampled request becomes one ``request`` unit: started when the server calls the app, finished
when the response iterable is exhausted or closed, whichever comes first (so streamed bodies are
counted while they are produced), or at once for a list/tuple body or a ``wsgi.file_wrapper`` (no
application code runs after those). Between the app's return and the end, the unit is sampled only
inside the body's ``next()``/``close()``: the server's (or test's) own code is not the unit's. A body
dropped unread and unclosed ends the unit at the client's next safe point. The
status line, headers, body chunks and the iterable itself pass through unchanged; an exception
propagates as the same object. A bare WSGI app has no router: requests are named ``route(environ)``
when given, else ``METHOD [unmatched]`` (framework adapters such as Flask's set the route template).
"""

# Lazy (PEP 562): importing this package, or its plugin modules (which the runner loads in every process),
# imports neither the middleware nor the profiler; the first attribute asked for loads ``.middleware``.
from __future__ import annotations

from pystrument.adapters.base import lazy_exports

__all__ = ["PerformanceMiddleware", "request_unit"]

__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)
