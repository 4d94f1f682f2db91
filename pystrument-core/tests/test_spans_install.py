"""Span hooks load only when their library is imported: nothing is imported by the SDK itself."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def _run(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_a_client_imports_no_library_and_a_later_import_is_hooked() -> None:
    out = _run("""
        import json, sys
        from pystrument.core import Client
        client = Client(sinks=["memory://x"], profiling_mode="detailed")  # continuous mode imports asyncio
        loaded = sorted(m for m in ("sqlite3", "wrapt", "asyncio", "sqlalchemy", "requests", "httpx", "urllib3") if m in sys.modules)
        import sqlite3  # after the client: the post-import hook patches it now
        from importlib.machinery import SourceFileLoader
        print(json.dumps({
            "loaded_before": loaded,
            "patched": getattr(sqlite3.connect, "__pystrument_spans__", False),
            "dbapi2_patched": getattr(sqlite3.dbapi2.connect, "__pystrument_spans__", False),
            "real_loader": isinstance(sqlite3.__loader__, SourceFileLoader) and sqlite3.__spec__.loader is sqlite3.__loader__,
            "wrapt_after": "wrapt" in sys.modules,
        }))
    """)
    assert out == {"loaded_before": [], "patched": True, "dbapi2_patched": True, "real_loader": True, "wrapt_after": False}


def test_capture_spans_off_registers_no_hook() -> None:
    out = _run("""
        import json, sys
        from pystrument.core import Client
        Client(sinks=["memory://x"], capture_spans=False)
        import sqlite3
        print(json.dumps({"patched": getattr(sqlite3.connect, "__pystrument_spans__", False)}))
    """)
    assert out == {"patched": False}
