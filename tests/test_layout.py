"""The package's layout rules: stages never import upwards, no import cycles, and library
modules neither print, exit nor parse arguments (commands do that).

Every ``import`` of a cebench module counts, also those inside functions: a lazy import
is still a dependency.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "cebench"

#: The floors, lowest first. A module may import modules of its own floor or lower ones,
#: with one exception: the grid imports nothing of cebench at all.
FLOORS = {
    "cebench.errors": 0, "cebench.atomic": 0, "cebench.environment": 0, "cebench.asvconf": 0,
    "cebench.grid": 1,
    "cebench.impls": 2, "cebench.measure": 2, "cebench.semantics": 2,
    "cebench.results": 3,
    "cebench.publish": 4,
    "cebench.asvbench": 5, "cebench.gpu_validate": 5, "cebench.history": 5,
    "cebench.docfigures": 5,
    "cebench.commands": 6, "cebench.cli": 6, "cebench.__main__": 6, "cebench": 6,
}
#: Stages of one floor that must not import each other.
SIBLINGS = [{"cebench.measure", "cebench.semantics"}]
#: Modules allowed to print / exit / parse arguments.
FRONT_ENDS = ("cebench.commands", "cebench.cli", "cebench.__main__")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in PACKAGE.rglob("*.py")}


def imported(name: str, tree: ast.Module) -> set[str]:
    """The cebench modules ``tree`` imports (resolved to modules where a name is one)."""
    known = set(modules_cache)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("cebench")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cebench"):
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in known else node.module)
    out.discard(name)
    return out


def stage(name: str) -> str:
    best = max((s for s in FLOORS if name == s or name.startswith(s + ".")), key=len)
    return best


modules_cache = modules()
GRAPH = {name: imported(name, tree) for name, tree in modules_cache.items()}


def test_every_module_has_a_floor():
    assert all(stage(name) for name in GRAPH)
    assert {"cebench.grid.cases", "cebench.measure.timing", "cebench.results.compare",
            "cebench.publish.dashboard", "cebench.commands.compare"} <= set(GRAPH)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_upward_import(name):
    here = stage(name)
    for target in sorted(GRAPH[name]):
        there = stage(target)
        if here == "cebench.grid":
            assert there == "cebench.grid", f"{name} imports {target}: the grid imports nothing of cebench"
        assert FLOORS[there] <= FLOORS[here], f"{name} (floor {FLOORS[here]}) imports {target} (floor {FLOORS[there]})"
        for pair in SIBLINGS:
            assert not (here in pair and there in pair and here != there), f"{name} imports its sibling {target}"


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt.startswith("cebench") and nxt in graph:
                if state.get(nxt) == 1:
                    return stack[stack.index(nxt):] + [nxt]
                if nxt not in state and (cycle := visit(nxt)):
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycles():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_the_rules_catch_a_cycle_and_an_upward_import():
    """The checks themselves can fail: a planted cycle and a planted upward import."""
    assert find_cycle({"cebench.a": {"cebench.b"}, "cebench.b": {"cebench.a"}}) == [
        "cebench.a", "cebench.b", "cebench.a"]
    planted = ast.parse("def f():\n    from cebench.publish import plots\n")
    targets = imported("cebench.grid.cases", planted)
    assert targets == {"cebench.publish.plots"}
    assert FLOORS[stage("cebench.publish.plots")] > FLOORS[stage("cebench.grid.cases")]


def front_end_calls(tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id == "print":
                found.append(f"print() at line {node.lineno}")
            elif isinstance(f, ast.Attribute) and f.attr == "exit" and getattr(f.value, "id", "") == "sys":
                found.append(f"sys.exit() at line {node.lineno}")
            elif isinstance(f, ast.Attribute) and f.attr == "ArgumentParser":
                found.append(f"argparse.ArgumentParser at line {node.lineno}")
    return found


def main_block_removed(tree: ast.Module) -> ast.Module:
    """The module without its ``if __name__ == "__main__":`` block (a script entry point)."""
    body = [n for n in tree.body if not (
        isinstance(n, ast.If) and isinstance(n.test, ast.Compare)
        and getattr(n.test.left, "id", "") == "__name__")]
    return ast.Module(body=body, type_ignores=[])


@pytest.mark.parametrize("name", sorted(n for n in GRAPH if not n.startswith(FRONT_ENDS)))
def test_library_modules_do_not_print_exit_or_parse(name):
    tree = main_block_removed(modules_cache[name])
    assert front_end_calls(tree) == [], f"{name}: library code must return or raise"
