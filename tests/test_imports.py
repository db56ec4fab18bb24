"""The import graph of emergency/, alerts/ and geo/ has no cycle, and the libraries stay apart.

Every import counts, the ones inside functions too (a function-local import hides a cycle,
it does not break it); only those under `if TYPE_CHECKING:` (never run) are left out. An
edge goes to the module imported (`from a.b import c` is a.b.c when c is a module, else
a.b). alerts/ and geo/ are libraries: they never import emergency/ (nor geo alerts).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("emergency", "alerts", "geo")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "migrations" in parts and "versions" in parts:
                continue  # alembic loads these by file, one at a time
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool, known: dict[str, Path]) -> set[str]:
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                child = f"{target}.{alias.name}"
                out.add(child if child in known else target)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return {name for name in out if name in known and name != module}


def graph() -> dict[str, set[str]]:
    known = _modules()
    return {
        module: _imports(
            ast.parse(path.read_text(encoding="utf-8")), module, path.name == "__init__.py", known
        )
        for module, path in known.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def _path_in(component: list[str], edges: dict[str, set[str]]) -> list[str]:
    """One cycle through the component's first module, to show in the failure."""
    members = set(component)
    start = component[0]
    paths = {start: [start]}
    todo = [start]
    while todo:
        node = todo.pop(0)
        for child in sorted(edges[node] & members):
            if child == start:
                return [*paths[node], start]
            if child not in paths:
                paths[child] = [*paths[node], child]
                todo.append(child)
    return component


def test_no_import_cycles():
    edges = graph()
    found = cycles(edges)
    shown = "\n".join(" -> ".join(_path_in(c, edges)) for c in found)
    assert not found, f"{len(found)} import cycle(s):\n{shown}"


def test_libraries_never_import_the_application():
    edges = graph()
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in edges.items()
        for target in targets
        if (module.startswith(("alerts.", "geo.")) or module in ("alerts", "geo"))
        and target.split(".")[0] == "emergency"
        or (module.split(".")[0] == "geo" and target.split(".")[0] == "alerts")
    )
    assert not wrong, "\n".join(wrong)


def test_the_cycle_finder_finds_a_cycle():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(edges) == [["a", "b", "c"]]
    assert _path_in(["a", "b", "c"], edges) == ["a", "b", "c", "a"]
