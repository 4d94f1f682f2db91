"""The attack suite's server: ``AttackServer`` (a real ``pystrument-server serve`` process under an address-space
cap, its peak RSS sampled) and ``assert_attack_survived`` (the common end of every case). The fixtures that
make them are in this folder's conftest.py."""

from __future__ import annotations

import random
import resource
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
from pystrument_server_process import ServerProcess, make_record, new_project, stored_ids

ADDRESS_SPACE_CAP = 3 * 1024**3
RSS_LIMIT_MB = 512
FULL_CHECK, SAMPLE = 5_000, 300
TOKEN = "attack-token-3f9c2a7e"
KEY = "X-Project-Key"


def _address_space_cap(cap: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return apply


class _RssSampler(threading.Thread):
    """The peak of the resident memory of a process and its children, sampled every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.02) -> None:
        super().__init__(daemon=True, name=f"rss-sampler-{pid}")
        self.process = psutil.Process(pid)
        self.every = every
        self.peak = 0
        self._halt = threading.Event()

    def sample(self) -> int:
        try:
            total = self.process.memory_info().rss
            for child in self.process.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.NoSuchProcess:
                    pass
        except psutil.NoSuchProcess:
            return self.peak
        self.peak = max(self.peak, total)
        return total

    def run(self) -> None:
        while not self._halt.wait(self.every):
            self.sample()

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


class AttackServer:
    """A real server under attack: ``url``, ``port``, ``token``, ``project_key``, ``project_id``, ``auth``
    (the token's header), ``acknowledged`` (record ids the server acknowledged), ``client()``, ``ingest()``,
    ``peak_rss_mb()``, ``assert_healthy()``, ``log()``."""

    def __init__(self, folder: Path, settings: dict[str, Any], cap_gb: float = ADDRESS_SPACE_CAP / 1024**3) -> None:
        self.process = ServerProcess(folder, {"token": TOKEN, **{k: str(v) for k, v in settings.items()}},
                                     preexec_fn=_address_space_cap(int(cap_gb * 1024**3)))
        self.token = TOKEN
        self.auth = {"Authorization": f"Bearer {TOKEN}"}
        self.acknowledged: set[str] = set()
        self.sampler: _RssSampler | None = None

    def start(self) -> AttackServer:
        self.process.start()
        assert self.process.proc is not None
        self.sampler = _RssSampler(self.process.proc.pid)
        self.sampler.sample()
        self.sampler.start()
        with self.client() as c:
            project = new_project(c, headers=self.auth)
        self.project_id, self.project_key = project["id"], project["project_key"]
        self.ingest([make_record(name=f"GET /before/{i}") for i in range(20)])  # acknowledged before the attack
        return self

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port

    def client(self, **kw: Any) -> httpx.Client:
        return self.process.client(**kw)

    def ingest(self, records: list[dict[str, Any]], client: httpx.Client | None = None) -> httpx.Response:
        """POST a batch; the ids of an accepted batch join ``acknowledged`` (those the server did not reject)."""
        c = client or self.client()
        try:
            r = c.post("/api/v1/performance/batch", json={"records": records}, headers={KEY: self.project_key})
        finally:
            if client is None:
                c.close()
        if r.status_code == 200:
            rejected = {item["index"] for item in r.json()["data"]["rejected"]}
            self.acknowledged.update(rec["record_id"] for i, rec in enumerate(records) if i not in rejected)
        return r

    def peak_rss_mb(self) -> float:
        assert self.sampler is not None
        self.sampler.sample()
        return round(self.sampler.peak / 2**20, 1)

    def rss_mb(self) -> float:
        assert self.sampler is not None
        return round(self.sampler.sample() / 2**20, 1)

    def log(self) -> str:
        return self.process.log()

    def assert_healthy(self) -> None:
        """Alive, /health 200, a normal batch accepted, and nothing acknowledged is lost."""
        assert self.process.alive(), f"the server died; its log:\n{self.log()[-3000:]}"
        with self.client(timeout=30) as c:
            r = c.get("/health")
            assert r.status_code == 200 and r.json()["data"]["status"] == "ok", r.text
            batch = [make_record(name="GET /after") for _ in range(5)]
            r = self.ingest(batch, client=c)
            assert r.status_code == 200 and r.json()["data"]["accepted"] == 5, r.text[:500]
            missing = self.missing(c)
        assert not missing, f"{len(missing)} acknowledged record(s) are not stored, e.g. {sorted(missing)[:3]}"

    def missing(self, c: httpx.Client) -> set[str]:
        """Acknowledged ids not stored: all of them checked through the records list up to ``FULL_CHECK`` ids; beyond
        (paging 100,000 records takes minutes), the list's total and ``SAMPLE`` random ids read one by one."""
        if len(self.acknowledged) <= FULL_CHECK:
            return self.acknowledged - stored_ids(c, self.project_id, headers=self.auth)
        r = c.get(f"/api/v1/projects/{self.project_id}/records", params={"page_size": 1, "since": "2000-01-01T00:00:00Z"}, headers=self.auth)
        assert r.status_code == 200 and r.json()["data"]["total"] >= len(self.acknowledged), r.text[:300]
        sample = random.sample(sorted(self.acknowledged), SAMPLE)
        return {rid for rid in sample if c.get(f"/api/v1/records/{rid}", headers=self.auth).status_code != 200}

    def stop(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
        self.process.stop()


def assert_attack_survived(server: AttackServer, figures: Any, **values: Any) -> None:
    """The common end of a case: peak RSS under the limit, healthy after; the figures reported."""
    peak = server.peak_rss_mb()
    figures(**values, peak_rss_mb=peak)
    assert peak < RSS_LIMIT_MB, f"peak RSS {peak} MB >= {RSS_LIMIT_MB} MB"
    server.assert_healthy()
    figures(healthy_after=True)
