"""The house's rules, read from the code itself: packages only import downwards (workflows <-
connectors <- marketplace <- integration; every import, those inside functions too), no module
takes part in an import cycle, and outside connectors/ no code compares a vendor's name (it asks
the vendor's provider object instead). See docs/architecture.md."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ["workflows", "connectors", "marketplace", "integration"]  # each may import only those before it


def _modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's revision files are run by Alembic, not imported
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if path.name == "__init__.py" else 0)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            targets = [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in modules else prefix for a in node.names]
        else:
            continue
        for target in targets:
            while target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_packages_only_import_downwards():
    upward = [f"{a} -> {b}" for a, targets in _graph().items() for b in targets
              if LAYERS.index(b.split(".")[0]) > LAYERS.index(a.split(".")[0])]
    assert upward == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (its strongly connected components of more than one module)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_no_module_is_in_an_import_cycle():
    assert _cycles(_graph()) == []


def test_the_rules_see_an_upward_import_and_a_cycle(tmp_path):
    """The checks can fail: a planted upward import (inside a function) and a planted cycle are both seen."""
    modules = {"connectors.x": tmp_path / "x.py", "integration.y": tmp_path / "y.py", "integration.z": tmp_path / "z.py"}
    modules["connectors.x"].write_text("def f():\n    from integration import y\n")
    modules["integration.y"].write_text("from . import z\n")
    modules["integration.z"].write_text("from .y import something\n")
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"connectors.x": {"integration.y"}, "integration.y": {"integration.z"},
                     "integration.z": {"integration.y"}}
    assert _cycles(graph) == [["integration.y", "integration.z"]]


def _vendor_comparisons(path: Path) -> list[str]:
    """Lines of ``path`` that compare something with a vendor key written out ("ghl" == ..., in ("hubspot", ...))."""
    from connectors.registry import PROVIDERS

    def names_vendor(node) -> bool:
        if isinstance(node, ast.Constant):
            return node.value in PROVIDERS
        return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and any(names_vendor(e) for e in node.elts)

    where = path.relative_to(path.parents[1])
    return sorted({f"{where}:{node.lineno}" for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.Compare) and any(names_vendor(side) for side in [node.left, *node.comparators])})


def test_no_vendor_name_is_compared_outside_connectors():
    """A vendor's difference is a question to its provider (connectors/registry.py), not a name ladder."""
    found = [hit for name, path in _modules().items() if not name.startswith("connectors")
             for hit in _vendor_comparisons(path)]
    assert found == []


def test_the_vendor_rule_sees_a_comparison(tmp_path):
    """The check can fail: each way of writing a vendor-name test is seen, a stored value is not."""
    planted = tmp_path / "pkg" / "m.py"
    planted.parent.mkdir()
    planted.write_text('if p == "ghl":\n    pass\nok = p != "hubspot" or p in ("x", "salesforce")\n'
                       'q = s.where(Sub.provider == "twilio")\nstore(provider="ghl")\n')
    assert _vendor_comparisons(planted) == ["pkg/m.py:1", "pkg/m.py:3", "pkg/m.py:4"]


def test_no_test_module_imports_another():
    """What tests share lives in helpers (tests/vendors/, tests/servers.py, conftest), so running one
    test module never collects or runs another's tests as a side effect."""
    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)  # from tests import test_x too
                     else [f"{node.module}.{a.name}" for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.relative_to(ROOT)} -> {n}" for n in names if any(
                part.startswith("test_") for part in n.split("."))]
    assert found == []
