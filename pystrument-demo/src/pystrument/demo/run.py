"""The demo: everything a newcomer needs to see pystrument work, in about a minute.

1. the server starts on the embedded default (SQLite in the data folder, in-process analysis worker);
2. a project ``demo-shop`` is created (or reused) through the API;
3. the sample shop (shop.py) runs as its own process, instrumented with the ASGI adapter and the HTTP
   sink, first as version 1.0 and then as 1.1, and receives traffic (with a progress bar);
4. typical slow requests of the regressed and the N+1 endpoints are analysed;
5. the comparison of 1.0 and 1.1 is printed, with the URL of the UI. The server keeps serving until Ctrl-C
   (``--no-serve`` stops instead, for scripts and tests).
Everything goes through the HTTP API of docs/api.md, as a user's own tools would.
"""

from __future__ import annotations

import random
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click
import httpx
from pystrument.server.api.connlimits import uvicorn_options

PROJECT = "demo-shop"
VERSIONS = ("1.0", "1.1")
# (weight, method, path or a function of a random generator); /health is excluded from profiling
TRAFFIC: list[tuple[int, str, Any]] = [
    (20, "GET", lambda r: "/products?limit=50"),
    (25, "GET", lambda r: f"/products/{r.randint(1, 300)}"),
    (20, "GET", lambda r: f"/search?q={r.choice(['oak', 'lamp', 'red', 'wool', 'glass'])}"),
    (15, "POST", lambda r: "/checkout"),
    (10, "GET", lambda r: "/reports/daily"),
    (5, "POST", lambda r: "/payments/retry"),
    (5, "GET", lambda r: "/health"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Api:
    """The pystrument API through its envelope."""

    def __init__(self, base: str, token: str | None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.Client(base_url=f"{base}/api/v1", headers=headers, timeout=30)

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        body = response.json()
        if body.get("code") != 0:
            raise click.ClickException(f"{method} {path}: {body.get('code')} {body.get('msg')}")
        return body["data"]


def wait_until(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = check()
        except (httpx.HTTPError, OSError):
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise click.ClickException(f"the demo gave up waiting for {what} after {timeout:.0f}s")


def start_server(settings: Any, store: Any) -> tuple[Any, threading.Thread]:
    import uvicorn
    from pystrument.server.app import create_app

    app = create_app(settings, store=store)
    server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning", **uvicorn_options(settings)))
    thread = threading.Thread(target=server.run, name="pystrument-demo-server", daemon=True)
    thread.start()
    wait_until(lambda: server.started, 30, "the server to start")
    return server, thread


def project_of(api: Api) -> dict[str, Any]:
    projects: list[dict[str, Any]] = api.call("GET", "/projects")["items"]
    for project in projects:
        if project["name"] == PROJECT:
            return project
    created: dict[str, Any] = api.call("POST", "/projects", json={"name": PROJECT, "description": "the pystrument demo shop"})
    return created


def app_folder(data_dir: Path) -> Path:
    """A copy of the shop's source in the data folder: the shop runs from there as a user's app would."""
    folder = data_dir / "demo-app"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "shop.py").write_text((Path(__file__).parent / "shop.py").read_text())
    return folder


def drive_version(version: str, base: str, key: str, requests: int, seed: int, app_dir: Path) -> None:
    port = free_port()
    shop = subprocess.Popen(
        [sys.executable, "-m", "pystrument.demo.shop_app", "--app-dir", str(app_dir), "--version", version,
         "--port", str(port), "--api", base, "--key", key],
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/health", timeout=2).status_code == 200, 60, f"shop {version} to start")
        rng = random.Random(seed)
        weights = [w for w, _, _ in TRAFFIC]
        plan = [rng.choices(TRAFFIC, weights)[0] for _ in range(requests)]
        with httpx.Client(base_url=url, timeout=30) as http, ThreadPoolExecutor(4) as pool:

            def one(item: tuple[int, str, Any]) -> None:
                _, method, path = item
                try:
                    if method == "POST":
                        http.post(path(rng), json={"customer": "demo", "products": rng.sample(range(1, 300), 12)})
                    else:
                        http.get(path(rng))
                except httpx.HTTPError as exc:  # the demo goes on; say what happened
                    click.echo(f"\n  {method} {path(rng)}: {exc}", err=True)

            with click.progressbar(pool.map(one, plan), length=requests, label=f"  traffic to shop {version}") as bar:
                for _ in bar:
                    pass
    finally:
        shop.terminate()  # the SDK flushes its queue at exit (SIGTERM -> uvicorn shutdown -> atexit)
        try:
            shop.wait(20)
        except subprocess.TimeoutExpired:
            shop.kill()


def analyse_slow(api: Api, project_id: str, endpoint: str, version: str) -> dict[str, Any] | None:
    """Analyse a typically slow request: the 5th slowest (the very slowest is often a cold first call)."""
    items = api.call("GET", f"/projects/{project_id}/records",
                     params={"endpoint": endpoint, "version": version, "sort": "-duration_ms", "page_size": 5})["items"]
    if not items:
        return None
    record_id = items[-1]["record_id"]
    task = api.call("POST", f"/analysis/analyze/{record_id}", json={})
    analysis: dict[str, Any] = wait_until(lambda: (a := api.call("GET", f"/analysis/{task['analysis_id']}"))["status"] in ("done", "failed") and a,
                                          60, f"the analysis of {endpoint}")
    return analysis


def cli_hint(store_flag: str) -> str:
    """How to reach this demo's store from a shell: the CLI's full path (the demo's venv may not be on PATH)."""
    bin_dir = Path(sys.executable).parent
    cli = bin_dir / "pystrument-server"
    command = str(cli) if cli.exists() else f"{sys.executable} -m pystrument.server"
    lines = [f"\nYour own app, in the same store: {command} {store_flag} projects create my-app   (prints its project key)"]
    if (bin_dir / "activate").exists():
        lines.append(f"  or put the CLI on PATH first: source {bin_dir / 'activate'}")
    lines.append("A Flask or FastAPI app on this server in three commands (`projects create NAME --env` prints the SDK's settings): "
                 "docs/first-app.md")
    return "\n".join(lines)


def run_demo(settings: Any, store: Any, *, requests: int, serve: bool, store_flag: str = "") -> dict[str, Any]:
    base = f"http://{settings.host}:{settings.port}"
    click.echo(f"pystrument demo: server on {base} (store {settings.store_label()})")
    server, thread = start_server(settings, store)
    api = Api(base, settings.token)
    project = project_of(api)
    pid = project["id"]
    before = api.call("GET", f"/projects/{pid}/records", params={"page_size": 1})["total"]
    app_dir = app_folder(Path(settings.data_dir))
    for n, version in enumerate(VERSIONS):
        drive_version(version, base, project["project_key"], requests, seed=n, app_dir=app_dir)
    expected = before + int(requests * len(VERSIONS) * 0.9)  # /health is not profiled
    wait_until(lambda: api.call("GET", f"/projects/{pid}/records", params={"page_size": 1})["total"] >= expected,
               60, "the records to arrive")
    click.echo("  analysing slow requests ...")
    analyses = [a for a in (analyse_slow(api, pid, "GET /search", "1.1"),
                            analyse_slow(api, pid, "GET /products/{product_id}", "1.1")) if a]
    comparison = api.call("GET", f"/projects/{pid}/compare", params={"base": "1.0", "head": "1.1"})
    click.echo("\nWhat changed from 1.0 to 1.1:")
    for delta in comparison["endpoints"]:
        if delta["kind"] != "unchanged":
            click.echo(f"  {delta['kind']:<12} {delta['name']:<32} p50 {delta['base']['p50']:.1f} -> {delta['head']['p50']:.1f} ms "
                       f"(mean {delta['base']['mean']:.1f} -> {delta['head']['mean']:.1f} ms, {delta['change_pct']:+.0f}%, q={delta['q_value']:.2g})")
    for analysis in analyses:
        click.echo(f"\nAnalysis of {analysis['record_id']} ({analysis['status']}): {analysis.get('summary', '')[:300]}")
        for finding in analysis.get("findings", [])[:3]:
            click.echo(f"  - {finding['title']} [{finding.get('function', '')}] saves ~{finding.get('expected_saving_ms', 0):.0f} ms")
    click.echo(f"\nOpen the UI: {base}/projects/{pid}\n  version comparison: {base}/projects/{pid}/compare?base=1.0&head=1.1")
    if store_flag:
        click.echo(cli_hint(store_flag))
    result = {"project": project, "comparison": comparison, "analyses": analyses}
    if serve:
        click.echo("The server keeps running; Ctrl-C stops it.")
        try:
            while thread.is_alive():
                thread.join(1)
        except KeyboardInterrupt:
            pass
    server.should_exit = True
    thread.join(10)
    return result
