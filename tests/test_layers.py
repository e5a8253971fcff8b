"""Imports run one way down the layers, with no cycles: read from the source, never from a run.

Every module under app/ is parsed (ast) and each import in it, at the top, inside a function or
under TYPE_CHECKING, is an edge from its module to the module it names. Each module belongs to
a layer (LAYERS, the longest matching prefix wins) and each layer may import only the layers in
ALLOWED. A failure names the edge: "app.x (layer) imports app.y (layer)".

    main, cli                 the composition roots: they may import anything
    tools                     demo, simulation, sample report: run by the command line only
    web, api                  routers, side by side: neither imports the other
    http                      what web and api share: the request session, callers, path types,
                              exports and the report as HTTP answers
    reports                   exports and the report
    contract                  the JSON documents of API.md (API, console forms, JSON export)
    jobs                      periodic work owning its transactions: scheduler, mail delivery
    services                  use cases: they flush, never commit
    process                   the server process's own limits: heavy-work slots, middleware
    shared                    what services, reports and web share: Jinja, translations, formats,
                              the charts' geometry, the words for stored codes
    foundation                settings, logs, database, models, secrets, SMTP, backups
    consensus                 the method, pure: it imports nothing else of app
"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app"

LAYERS = {
    "app": "root",
    "app.main": "root",
    "app.cli": "root",
    "app.tools": "tools",
    "app.web": "web",
    "app.api": "api",
    "app.http": "http",
    "app.reports": "reports",
    "app.contract": "contract",
    "app.scheduler": "jobs",
    "app.delivery": "jobs",
    "app.services": "services",
    "app.heavy": "process",
    "app.middleware": "process",
    "app.templating": "shared",
    "app.charts": "shared",
    "app.names": "shared",
    "app.settings": "foundation",
    "app.logs": "foundation",
    "app.db": "foundation",
    "app.models": "foundation",
    "app.security": "foundation",
    "app.mail": "foundation",
    "app.backup": "foundation",
    "app.readiness": "foundation",
    "app.consensus": "consensus",
}

UNPLACED = "no layer"
_BELOW_SERVICES = {"shared", "foundation", "consensus"}
_SERVICES_AND_BELOW = {"services", *_BELOW_SERVICES}
_REPORTS_AND_BELOW = {"reports", "contract", "process", *_SERVICES_AND_BELOW}
ALLOWED: dict[str, set[str]] = {
    "root": set(LAYERS.values()),
    "tools": {"tools", "jobs", *_REPORTS_AND_BELOW},
    "web": {"web", "http", "jobs", *_REPORTS_AND_BELOW},
    "api": {"api", "http", "jobs", *_REPORTS_AND_BELOW},
    "http": {"http", *_REPORTS_AND_BELOW},
    "reports": _REPORTS_AND_BELOW,
    "contract": {"contract", *_SERVICES_AND_BELOW},
    "jobs": {"jobs", *_SERVICES_AND_BELOW},
    "services": _SERVICES_AND_BELOW,
    "process": {"process", "shared", "foundation"},
    "shared": {"shared", "foundation"},
    "foundation": {"foundation"},
    "consensus": {"consensus"},
}

# The method computes; it reads no database, request, template, file or network.
IMPURE = {"sqlalchemy", "fastapi", "starlette", "jinja2", "babel", "httpx", "psycopg", "os"}
IMPURE |= {"pathlib", "io", "socket", "sqlite3", "subprocess", "smtplib", "openpyxl", "weasyprint"}


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(path): path for path in sorted(APP.rglob("*.py"))}


def _owner(name: str) -> str | None:
    """The module an imported name lives in: the name itself, or the nearest package above it."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imported(module: str) -> Iterator[tuple[str, int]]:
    """Every name `module` imports, with its line: absolute and relative, anywhere in the file."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                above = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*above, *([base] if base else [])])
            for alias in node.names:
                named = f"{base}.{alias.name}"
                yield (named if named in MODULES else base), node.lineno


def _edges() -> dict[tuple[str, str], int]:
    """(importer, imported module) → the first line it is imported on, for modules of app."""
    edges: dict[tuple[str, str], int] = {}
    for module in MODULES:
        for name, line in _imported(module):
            target = _owner(name) if name == "app" or name.startswith("app.") else None
            if target is not None and target != module:
                edges.setdefault((module, target), line)
    return edges


def _layer(module: str) -> str:
    """The layer of the longest prefix naming the module or a package above it (bare `app` is
    the package's own __init__ only)."""
    prefixes = [p for p in LAYERS if module == p or (p != "app" and module.startswith(p + "."))]
    return LAYERS[max(prefixes, key=len)] if prefixes else UNPLACED


def test_every_module_has_a_layer() -> None:
    unplaced = sorted(m for m in MODULES if _layer(m) == UNPLACED)
    assert not unplaced, f"give these modules a layer in tests/test_layers.py: {unplaced}"
    stale = sorted(p for p in LAYERS if not any(m == p or m.startswith(p + ".") for m in MODULES))
    assert not stale, f"LAYERS names modules that no longer exist: {stale}"


def test_every_import_runs_down_the_layers() -> None:
    wrong = [
        f"{a} ({_layer(a)}) imports {b} ({_layer(b)}), line {line}"
        for (a, b), line in sorted(_edges().items())
        if _layer(b) not in ALLOWED.get(_layer(a), set())
    ]
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_two_modules_import_each_other_round_a_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b in _edges():
        graph[a].add(b)
    cycles = [" → ".join([*c, c[0]]) for c in _cycles(graph)]
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each in a cycle order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = stack[stack.index(v) :]
            del stack[stack.index(v) :]
            if len(component) > 1:
                found.append(_ordered(sorted(component), graph))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _ordered(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One cycle through the component's first module, for a readable message."""
    members, start = set(component), component[0]
    paths = [[start]]
    while paths:
        path = paths.pop(0)
        for w in sorted(graph[path[-1]] & members):
            if w == start:
                return path
            if w not in path:
                paths.append([*path, w])
    return component


def test_the_method_reads_nothing_outside_itself() -> None:
    impure = [
        f"{module} imports {name}, line {line}"
        for module in MODULES
        if _layer(module) == "consensus"
        for name, line in _imported(module)
        if name.split(".")[0] in IMPURE
    ]
    assert not impure, "app.consensus must stay pure:\n" + "\n".join(impure)
