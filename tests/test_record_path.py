"""docs/architecture.md's "The path of a record" names every file whose code runs for one record, and no other:
tests/fixtures/record_path_trace.py traces a real request (the flask adapter, the HTTP sink, the server under
uvicorn, the SQLite store) with ``sys.settrace`` in every thread, and the table is compared with what it found."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pystrument.server")
pytest.importorskip("pystrument.adapters.flask")

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## The path of a record"


def _table() -> tuple[set[str], int]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text[text.index(SECTION):]
    section = section[:section.index("\n## ", len(SECTION))]
    rows = [line for line in section.splitlines() if re.match(r"\| \d+ \|", line)]
    named = {name for row in rows for name in re.findall(r"`(pystrument/[\w/]+\.py)`", row.split("|")[3])}
    stated = re.search(r"Twelve steps and (\d+) files", section)
    assert stated, "the section no longer says how many files the table names"
    return named, int(stated.group(1))


def test_the_path_table_names_every_file_the_record_crosses():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "tests" / "fixtures"), os.environ.get("PYTHONPATH")]))}
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "fixtures" / "record_path_trace.py")], capture_output=True, text=True,
                         env=env, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    crossed = set(json.loads(run.stdout))
    named, stated = _table()
    assert crossed - named == set(), f"docs/architecture.md's path table misses files the record crosses: {sorted(crossed - named)}"
    assert named - crossed == set(), f"docs/architecture.md's path table names files no code of which ran: {sorted(named - crossed)}"
    assert stated == len(named), f"the section says {stated} files; its table names {len(named)}"
    for name in named:  # each named file is where the table says
        assert list(ROOT.glob(f"pystrument-*/**/src/{name}")), name
