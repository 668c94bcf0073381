"""The package's shape: no import cycles, the library never imports a command-line module, and
modules and functions stay short enough to read (docs/design.md)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src"
FRONT_ENDS = {"activegan.cli", "activegan.__main__", "activegan.gan.cli", "activegan.label.cli", "activegan.label.web"}


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((ROOT / "activegan").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """activegan modules imported anywhere in the file (inside functions too)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        out |= {t for t in targets if t in known and t != name}
    return out


GRAPH = {name: imports_of(name, path, set(modules())) for name, path in modules().items()}


def test_the_walk_sees_the_package():
    assert {"activegan.loop", "activegan.active.strategies", "activegan.gan.queries", "activegan.label.session"} <= set(GRAPH)
    assert "activegan.active.strategies" in GRAPH["activegan.loop"]


def test_no_import_cycles():
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if nxt.startswith(node + "."):
                continue  # a package re-exporting its own submodules
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt):] + [nxt] if nxt in stack else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for name in GRAPH:
        if name not in state:
            visit(name, [name])


def test_library_modules_never_import_a_front_end():
    for name, deps in GRAPH.items():
        if name in FRONT_ENDS:
            continue
        assert not deps & FRONT_ENDS, f"{name} imports {deps & FRONT_ENDS}"


def test_the_labeling_session_does_not_need_the_web_framework():
    source = modules()["activegan.label.session"].read_text()
    assert "fastapi" not in source and "starlette" not in source and "pydantic" not in source


@pytest.mark.parametrize("name", sorted(modules()))
def test_modules_and_functions_stay_short(name):
    path = modules()[name]
    lines = path.read_text().splitlines()
    assert len(lines) <= 400, f"{path.name}: {len(lines)} lines"
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name != "create_app":
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{path.name}:{node.lineno} {node.name} is {length} lines"
