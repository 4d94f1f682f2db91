"""Writes docs/configuration.md from the settings models (run: python docs/gen_config_reference.py).

tests/test_config_reference.py fails when the committed file is stale.
"""

from __future__ import annotations

from pathlib import Path

HEADER = """# Configuration reference

Generated from the settings models by `python docs/gen_config_reference.py`; do not edit by hand.

SDK settings come from, highest precedence first: arguments in code (`Config(...)`, a dict, or
`configure(...)`), environment variables (`PYSTRUMENT_*`, or the legacy `PERFORMANCE_MONITOR_*`, kept
for compatibility), then a YAML or JSON file (`PYSTRUMENT_CONFIG`, or `pystrument.yaml|yml|json` in the
working directory) whose top-level key is `pystrument` or `performance_monitor`. List settings (`sinks`,
`exclude_paths`) accept a comma-separated string or a JSON list in the environment.

"""


def sections() -> list[str]:
    from pystrument.core.config import reference_markdown

    out = [reference_markdown()]
    try:  # the server's settings, when the server is installed
        from pystrument.server.settings import reference_markdown as server_reference  # type: ignore[import-not-found]
    except ImportError:
        pass
    else:
        out.append(server_reference())
    return out


def render() -> str:
    return HEADER + "\n".join(sections())


if __name__ == "__main__":
    target = Path(__file__).with_name("configuration.md")
    target.write_text(render())
    print(f"wrote {target}")
