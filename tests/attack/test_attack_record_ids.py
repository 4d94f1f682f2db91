"""Attack case: another project's record ids are no existence oracle (issue 15, item 7)."""

from __future__ import annotations

from attack_harness import KEY, assert_attack_survived
from pystrument_server_process import make_record, new_project


def test_record_ids_of_another_project_are_no_duplicates(attack_server, figures):
    """A key that knows (or guesses) another project's record ids learns nothing: not ``duplicate: true``."""
    theirs = make_record()
    r = attack_server.ingest([theirs])
    assert r.status_code == 200
    with attack_server.client() as c:
        other = new_project(c, headers=attack_server.auth)
        r = c.post("/api/v1/performance/collect", json=theirs, headers={KEY: other["project_key"]})
    assert r.status_code == 200 and r.json()["data"].get("duplicate") is not True, r.text[:300]
    assert_attack_survived(attack_server, figures, status=r.status_code)
