"""The house rules of who may import whom, read from the source (every ``import``, ``from ... import`` and
``importlib.import_module("...")`` with a literal name, at any depth: lazy imports inside functions count
too), so they cannot drift:

- core imports no adapter, sink, server, AI, demo or gate module, and no web framework;
- adapters and sinks never import the server, the AI, the demo or the gate (nor each other's kind: an adapter
  no sink, a sink no adapter);
- the server never imports an adapter, the demo, the AI or the gate (they plug into it through entry points);
- the AI and the gate never import the server (the gate talks to it over HTTP).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("flask", "django", "starlette", "fastapi", "werkzeug", "uvicorn", "waitress", "gunicorn", "quart", "aiohttp")


def _ours(*names: str) -> tuple[str, ...]:
    return tuple(f"pystrument.{n}" for n in names)


# distribution folder (glob) -> module prefixes it must never import
RULES: dict[str, tuple[str, ...]] = {
    "pystrument-core": _ours("adapters", "sinks", "server", "ai", "demo", "gate") + FRAMEWORKS,
    "pystrument-adapters/*": _ours("sinks", "server", "ai", "demo", "gate"),
    "pystrument-sinks/*": _ours("adapters", "server", "ai", "demo", "gate") + FRAMEWORKS,
    "pystrument-server": _ours("adapters", "sinks", "ai", "demo", "gate"),
    "pystrument-ai": _ours("adapters", "sinks", "server", "demo", "gate") + FRAMEWORKS,
    "pystrument-pytest": _ours("adapters", "sinks", "server", "ai", "demo"),
}


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, src: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, relative ones resolved."""
    tree = ast.parse(path.read_text(), str(path))
    here = module_name(path, src)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names if alias.name != "*"]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) in ("import_module", "__import__")):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(dist: Path, forbidden: tuple[str, ...]) -> list[str]:
    src = dist / "src"
    out = []
    for path in sorted(src.rglob("*.py")):
        for line, module in imports(path, src):
            if any(module == f or module.startswith(f + ".") for f in forbidden):
                out.append(f"{path.relative_to(dist.parent)}:{line} imports {module}")
    return sorted(set(out))


def _dists(pattern: str) -> list[Path]:
    return sorted(p for p in ROOT.glob(pattern) if (p / "pyproject.toml").exists() and (p / "src").is_dir())


@pytest.mark.parametrize("pattern", sorted(RULES))
def test_dependency_rules_hold(pattern):
    dists = _dists(pattern)
    assert dists, f"no distribution matches {pattern}: update RULES"
    found = [v for dist in dists for v in violations(dist, RULES[pattern])]
    assert not found, "imports that break the house rules (tests/test_dependency_rules.py):\n" + "\n".join(found)


def test_every_library_distribution_has_a_rule():
    """A new distribution gets a rule (only the demo, the top of the graph, may import anything)."""
    covered = {d for pattern in RULES for d in _dists(pattern)}
    unruled = [d.relative_to(ROOT) for d in _dists("pystrument-*") + _dists("pystrument-*/*")
               if d not in covered and d.name not in ("pystrument-demo", "pystrument-meta")]
    assert not unruled, f"distributions without a dependency rule: {unruled}"


def test_the_reader_catches_relative_lazy_and_dynamic_imports(tmp_path):
    """The checker itself can fail: a planted core module breaking the rules three ways."""
    pkg = tmp_path / "pystrument-core" / "src" / "pystrument" / "core"
    pkg.mkdir(parents=True)
    (tmp_path / "pystrument-core" / "pyproject.toml").write_text("")
    (pkg / "bad.py").write_text(
        "import importlib\n"
        "from ..server import app\n"
        "def later():\n"
        "    import flask\n"
        "    return importlib.import_module('pystrument.sinks.http')\n"
    )
    found = violations(tmp_path / "pystrument-core", RULES["pystrument-core"])
    assert sorted(v.rsplit(" imports ", 1)[1] for v in found) == ["flask", "pystrument.server", "pystrument.server.app", "pystrument.sinks.http"]


# Inside the server: the HTTP layer never reaches up into the scale-out or the assembly (app.py, cli.py), and the
# layers below it (stores, statistics, ingest, analysis) never import the HTTP layer, the scale-out or the assembly.
SERVER = "pystrument.server"
SERVER_RULES: dict[str, tuple[str, ...]] = {
    "api": ("scale", "app", "cli"),
    "scale": ("app", "cli"),
    **{low: ("api", "scale", "app", "cli") for low in ("stores", "stats", "ingest", "analysis")},
}


def _server_graph() -> dict[str, set[str]]:
    src = ROOT / "pystrument-server" / "src"
    modules = {module_name(p, src): p for p in src.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps = set()
        for _line, imported in imports(path, src):
            while imported and imported not in modules:  # a name imported from a module: the module
                imported = imported.rpartition(".")[0]
            if imported and imported != name and imported.startswith(SERVER + "."):
                deps.add(imported)
        graph[name] = deps
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_server_has_no_import_cycle():
    assert _cycles(_server_graph()) == []


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_server_layers_hold():
    broken = []
    for name, deps in _server_graph().items():
        part = name.split(".")[2] if name.count(".") >= 2 else ""
        for dep in deps:
            target = dep.split(".")[2]
            if target in SERVER_RULES.get(part, ()):
                broken.append(f"{name} imports {dep}")
    assert not broken, "server layers (tests/test_dependency_rules.py SERVER_RULES):\n" + "\n".join(sorted(broken))
