"""pystrument for Flask, built on the WSGI middleware.

The original middleware form (code written for it needs only the import path changed)::

    from pystrument.adapters.flask import PerformanceMiddleware
    app.wsgi_app = PerformanceMiddleware(app.wsgi_app, config)

or the extension form::

    from pystrument.adapters.flask import Pystrument
    pystrument = Pystrument()           # Pystrument(app, config) works too
    pystrument.init_app(app, config)

Requests are named by Flask's own matched rule (``GET /users/{user_id}`` for ``/users/<int:user_id>``),
read in Flask's ``request_started`` signal; an exception Flask turns into a 500 is recorded from
``got_request_exception``. Flask's error handling runs unchanged.
"""

# Lazy (PEP 562): importing this package, or its ``plugin`` module (which the runner loads in every
# process), does not import Flask; the first attribute asked for loads ``.middleware``, which does.
from __future__ import annotations

from pystrument.adapters.base import lazy_exports

__all__ = ["PerformanceMiddleware", "Pystrument", "rule_template"]

__getattr__, __dir__ = lazy_exports(__name__, "middleware", __all__)
