"""The package's layers: no module imports another that imports it back (at any depth),
and the pure modules import no TensorFlow. Read from the source, nothing is imported."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "search"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def imports(path: Path, known: set[str]) -> set[str]:
    """The package modules ``path`` imports anywhere (functions included), except under
    ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _type_checking(node)
            for n in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            subs = [f"{node.module}.{a.name}" for a in node.names]
            # "from search import pareto" imports the module search.pareto; it reads the
            # package's own code (search/__init__.py, the API's facade) only when it imports
            # a name defined there ("from search import RunConfig")
            names = subs if all(s in known for s in subs) else [node.module] + subs
        else:
            continue
        out |= {n for n in names if n in known}
    return out


def graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    known = set(files)
    return {name: imports(path, known) - {name} for name, path in files.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, as found by a depth-first search (each reported once)."""
    found, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(g.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    return found


def test_no_module_imports_another_that_imports_it_back():
    g = graph()
    assert "search.board" in g and "search.report.html" in g  # the graph is real
    assert cycles(g) == []


def test_the_cycle_finder_finds_one():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_renderers_read_the_board_not_each_other():
    g = graph()
    renderers = {"search.report.terminal", "search.report.markdown", "search.report.tables",
                 "search.report.html", "search.report.plot"}
    for r in renderers:
        assert not g[r] & renderers, (r, g[r] & renderers)
