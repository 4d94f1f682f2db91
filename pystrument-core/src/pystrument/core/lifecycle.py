"""How the SDK ends with the process: open units are ended, queued records delivered, hooks switched off.

``shutdown()`` runs once, at interpreter exit (``atexit``) or from our SIGTERM handler, within
``shutdown_timeout`` (the largest of the live clients'): it waits up to half that time for units still
open in other threads (a response already sent whose unit the server has not ended yet: a server
thread calls ``close()`` just after the last write), ends those still open then (their records carry
the tag ``pystrument.ended=shutdown``), delivers what is queued in the time left, closes the sinks,
and switches the profiler hook off in every thread before the interpreter tears its modules down.

Signals (installed from the main thread when the first client is built, ``flush_on_sigterm=True``):

- SIGTERM left at its default (waitress, a plain script): ``shutdown()``, then the default action
  again, so the process still dies by SIGTERM (exit status unchanged).
- SIGTERM or SIGINT with a handler of the host's (``default_int_handler`` raising KeyboardInterrupt
  included): what is queued is delivered (bounded, open units are not waited for: the host may keep
  serving), then the host's handler runs as before; the exit that follows runs ``shutdown()``.
- A signal set to be ignored stays ignored. A server that installs its own handlers later (gunicorn,
  uvicorn) replaces ours and exits normally after its graceful shutdown: ``atexit`` covers it.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any

from .failsafe import report

if TYPE_CHECKING:
    from .client import Client

ENDED_TAG = "pystrument.ended"

_clients: weakref.WeakSet[Client] = weakref.WeakSet()
_state = {"done": False}
_previous: dict[int, Any] = {}


def register(client: Client) -> None:
    """A live client: ended by ``shutdown()``; the first one installs the signal handlers."""
    _clients.add(client)
    if client.config.async_send and client.config.flush_on_sigterm:
        install_signal_handlers()


def shutdown(timeout: float | None = None) -> None:
    """End every client once: open units, queued records, sinks, profiler hooks (see the module doc)."""
    if _state["done"]:
        return
    _state["done"] = True
    clients = [c for c in list(_clients) if c.enabled]
    if timeout is None:
        timeout = max((c.config.shutdown_timeout for c in clients), default=0.0)
    deadline = time.monotonic() + timeout
    wait_until = time.monotonic() + timeout / 2
    for client in clients:
        try:
            client.end_open_units(wait_until)
        except Exception as exc:  # never fail interpreter exit
            report("ending open units at exit", exc)
    for client in clients:
        try:
            client.close(max(0.0, deadline - time.monotonic()))
        except Exception as exc:
            report("client close at exit", exc)
    release_hooks(clients)


def release_hooks(clients: list[Client]) -> None:
    """Switch the profiler hook off here and make every other thread drop it at its next sample: a hook
    left on while the interpreter tears down calls into torn-down modules ('Exception ignored in ...').
    The continuous mode's sampling thread (if it ran) stops too."""
    continuous = sys.modules.get("pystrument.core.continuous.sampler")
    if continuous is not None:
        try:
            continuous.stop_sampler()
        except Exception as exc:
            report("continuous sampler stop at exit", exc)
    seen: set[int] = set()
    for client in clients:
        collector = getattr(client, "collector", None)
        if collector is None or id(collector) in seen:
            continue
        seen.add(id(collector))
        try:
            (getattr(collector, "shutdown", None) or collector.close)()
        except Exception as exc:
            report("collector shutdown at exit", exc)


def install_signal_handlers() -> None:
    """Install ours for SIGTERM and SIGINT, once, from the main thread (Python's rule for signals)."""
    if _previous or threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGINT"):
        signum = getattr(signal, name, None)
        if signum is None:
            continue
        try:
            previous = signal.getsignal(signum)
            if previous is signal.SIG_IGN or previous is None:  # ignored, or set outside Python: leave it
                continue
            signal.signal(signum, _on_signal)
            _previous[signum] = previous
        except (ValueError, OSError):  # not supported here: nothing changes
            continue


def _on_signal(signum: int, frame: Any) -> None:
    previous = _previous.get(signum, signal.SIG_DFL)
    if previous is signal.SIG_DFL:
        try:
            shutdown()
        finally:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
        return
    for client in list(_clients):
        try:
            if client.enabled:
                client.flush(client.config.shutdown_timeout)
        except Exception as exc:
            report("flush on signal", exc)
    if callable(previous):
        previous(signum, frame)


def _after_fork_in_child() -> None:
    _state["done"] = False
    for client in list(_clients):
        client.after_fork()


atexit.register(shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
