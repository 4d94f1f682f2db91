from __future__ import annotations

import pytest
from gate_harness import TOKEN
from pystrument_server_process import ServerProcess, new_project


@pytest.fixture
def gate_server(tmp_path):
    """A real ``pystrument-server serve`` with a token and a project "shop"."""
    proc = ServerProcess(tmp_path / "server", {"token": TOKEN}).start()
    try:
        with proc.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
            new_project(client, "shop")
        yield proc
    finally:
        proc.stop()
