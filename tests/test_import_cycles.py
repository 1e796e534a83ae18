"""The report and explain packages have no import cycles (not even inside functions or TYPE_CHECKING)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest


def _modules(package: str) -> dict[str, Path]:
    pkg = importlib.import_module(package)
    out = {package: Path(pkg.__file__)}
    for m in pkgutil.walk_packages(pkg.__path__, package + "."):
        spec = importlib.util.find_spec(m.name)
        out[m.name] = Path(spec.origin)
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of ``known`` that module ``name`` imports anywhere in its source."""
    is_pkg = path.name == "__init__.py"
    here = name if is_pkg else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = here
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            mod = (base + "." + node.module if node.module else base) if node.level else node.module
            subs = {f"{mod}.{a.name}" for a in node.names} & known
            found |= subs or {mod}  # "from . import charts" imports charts, not the package again
    return {m for m in found if m in known and m != name}


@pytest.mark.parametrize("package", ["seethrough.report", "seethrough.explain"])
def test_no_import_cycles(package):
    mods = _modules(package)
    graph = {n: _imports(n, p, set(mods)) for n, p in mods.items()}

    def visit(node, stack):
        if node in stack:
            raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(node):] + [node]))
        for nxt in sorted(graph[node]):
            visit(nxt, stack + [node])

    for n in sorted(graph):
        if n != package:  # the package's own lazy re-exports are not a cycle
            visit(n, [])
