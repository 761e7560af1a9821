"""The house plan (README "Layout"): every import between the rooms points the way the plan allows, and no
module imports itself back through others. Read from the source (every ``import``, also those inside
functions and under ``TYPE_CHECKING``), so a new arrow against the plan fails here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROOMS = ("qc", "models", "warehouse", "flows", "dashboards", "bench")
ALLOWED = {
    "qc": {"qc"},
    "models": {"qc", "models"},
    "warehouse": {"qc", "warehouse"},
    "flows": {"qc", "models", "warehouse", "flows"},
    "dashboards": {"qc", "warehouse", "dashboards"},
    "bench": set(ROOMS),
}
# The one write an analyst makes from the dashboard that needs the classifier as well as the warehouse:
# correcting a call's roles runs the application service that `callqc calls swap-roles` runs.
EXCEPTIONS = {("dashboards.views.call", "flows.corrections")}


def _modules() -> dict[str, Path]:
    out = {}
    for room in ROOMS:
        for path in (ROOT / room).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports (``from pkg import sub`` names the submodule ``pkg.sub``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            subs = {f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in modules}
            found |= subs
            if len(subs) < len(node.names):
                found.add(source)
    return {m for m in found if m.split(".")[0] in ROOMS}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        targets = set()
        for m in _imports(name, path, modules):
            while m and m not in modules:  # ``from qc.records import Turn``: the module qc.records
                m = m.rpartition(".")[0]
            if m and m != name:
                targets.add(m)
        graph[name] = targets
    return graph


def test_imports_point_the_way_the_plan_allows():
    wrong = sorted((a, b) for a, targets in _graph().items() for b in targets
                   if b.split(".")[0] not in ALLOWED[a.split(".")[0]] and (a, b) not in EXCEPTIONS)
    assert not wrong, "imports against the plan: " + ", ".join(f"{a} -> {b}" for a, b in wrong)


def test_no_module_imports_itself_back():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_the_checker_sees_function_level_imports_and_cycles(tmp_path):
    """The checker itself: an import inside a function counts, and so does a cycle through it."""
    modules = {"qc.a": tmp_path / "a.py", "qc.b": tmp_path / "b.py", "warehouse.c": tmp_path / "c.py"}
    modules["qc.a"].write_text("def f():\n    from qc.b import g\n    import warehouse.c\n")
    assert _imports("qc.a", modules["qc.a"], modules) == {"qc.b", "warehouse.c"}
