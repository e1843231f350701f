"""The layout keeps the design: no import cycles, the library does not import Hydra or
Lightning where it should not, and every ``__all__`` names what the module really has."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "sci_lightning"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(p): p for p in sorted(PACKAGE.rglob("*.py")) if "conf" not in p.relative_to(PACKAGE).parts
}


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(name: str, path: Path, lazy: bool) -> set[str]:
    """Modules ``name`` imports (``lazy``: inside functions too), not under TYPE_CHECKING."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        nested = lazy or isinstance(node, (ast.If, ast.Try))
        for sub in ast.walk(node) if nested else [node]:
            if isinstance(sub, ast.Import):
                found.update(a.name for a in sub.names)
            elif isinstance(sub, ast.ImportFrom):
                target = _resolve(name, sub, path.name == "__init__.py")
                found.add(target)
                found.update(f"{target}.{a.name}" for a in sub.names if f"{target}.{a.name}" in MODULES)
    return found


def _top_level_imports(name: str, path: Path) -> set[str]:
    return _imports(name, path, lazy=False)


# every import counts for cycles, also the ones deferred into functions
GRAPH = {
    name: {m for m in _imports(name, path, lazy=True) if m in MODULES and m != name}
    for name, path in MODULES.items()
}


def _cycle_from(start: str) -> list[str] | None:
    stack = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for nxt in GRAPH[node]:
            if nxt == start:
                return trail + [start]
            if nxt not in trail and len(trail) < 12:
                stack.append((nxt, trail + [nxt]))
    return None


def test_no_import_cycles():
    cycles = [c for c in (_cycle_from(m) for m in MODULES) if c]
    assert not cycles, cycles[0]


def _third_party(name: str) -> set[str]:
    return {m.split(".")[0] for m in _top_level_imports(name, MODULES[name])}


@pytest.mark.parametrize(
    "layer", ["energy", "carbon", "sci", "shifting", "settings", "compare", "campaign", "publish"]
)
def test_library_layers_do_not_import_hydra(layer):
    for name in MODULES:
        if name == f"sci_lightning.{layer}" or name.startswith(f"sci_lightning.{layer}."):
            assert not _third_party(name) & {"hydra", "omegaconf"}, name


@pytest.mark.parametrize("layer", ["energy", "carbon", "sci", "shifting", "settings", "campaign", "publish"])
def test_measurement_and_carbon_layers_do_not_import_lightning(layer):
    for name in MODULES:
        if name == f"sci_lightning.{layer}" or name.startswith(f"sci_lightning.{layer}."):
            assert "lightning" not in _third_party(name), name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_all_is_true(name):
    if name.endswith("__main__"):
        return
    module = importlib.import_module(name)
    for exported in getattr(module, "__all__", []):
        assert getattr(module, exported, None) is not None, (
            f"{name}.__all__ names {exported!r}, which it lacks"
        )


# -- function length ------------------------------------------------------------------------
MAX_FUNCTION_LINES = 60

# Today's longer functions, each being split by the helper that owns its file (issue 26 item 2);
# an entry must go as soon as its function fits (test_long_function_allowlist_is_current), so
# this list only shrinks. module path (under src/sci_lightning) :: qualified name -> owner.
LONG_FUNCTIONS_BEING_SPLIT = {
    "sci/manifest.py::build_impact_manifest": "settings",
    "sci/compute.py::compute_sci": "settings",
    "sci/compute.py::integrate_operational_g": "settings",
    "sci/report.py::build_report": "settings",
    "shifting/planner.py::plan_best_start": "sched",
    "shifting/planner.py::cross_check_optimal": "sched",
    "shifting/schedule.py::wait_for_best_start": "sched",
    "shifting/interruptible.py::plan_interruptible": "sched",
    "shifting/interruptible.py::_solve": "sched",
    "app/interrupt.py::plan_slots": "sched",
    "data/fast.py::build_uint8_cache": "common",
    "lightning/features.py::compute_features": "common",
    "compare/charts.py::_draw_chart": "common",
    "campaign/output.py::_plugins": "common",
}


def _lengths_in(tree: ast.AST, where: str) -> dict[str, int]:
    """Every function and method in ``tree`` -> its length in lines, keyed ``where::Qual.name``.

    The measure: from the ``def`` line to the function's last line, both included (the
    signature, the docstring, comments and blank lines inside all count; decorators do not).
    A nested function counts on its own and as part of the function around it. Methods count
    one by one (a class body is not a function). Data literals (big dict/list constants) are
    meant to live at module level, where no function carries them; one written inside a
    function counts towards it.
    """
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                name = prefix + child.name
                lengths[f"{where}::{name}"] = (child.end_lineno or child.lineno) - child.lineno + 1
                visit(child, name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return lengths


# Only the library is measured (src/sci_lightning, not conf/): not the scripts under
# benchmarks/ and not the tests.
LENGTHS = {
    name: n
    for path in MODULES.values()
    for name, n in _lengths_in(ast.parse(path.read_text()), path.relative_to(PACKAGE).as_posix()).items()
}


def test_functions_fit_on_a_screen():
    """No library function over MAX_FUNCTION_LINES lines, except the allowlisted ones being split."""
    long = {
        f"{name} ({n} lines)"
        for name, n in LENGTHS.items()
        if n > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS_BEING_SPLIT
    }
    assert not long, (
        f"split these along their steps (at most {MAX_FUNCTION_LINES} lines each): {sorted(long)}"
    )


def test_long_function_allowlist_is_current():
    """An allowlisted function that was split (or renamed) leaves the allowlist."""
    stale = [name for name in LONG_FUNCTIONS_BEING_SPLIT if LENGTHS.get(name, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"remove from LONG_FUNCTIONS_BEING_SPLIT: {stale}"


def test_function_length_measure():
    """Def line to last line, docstring, blank lines and nested functions included; decorators not."""
    source = (
        "TABLE = {\n    'a': 1,\n}\n\n"  # module-level data: no function's
        "@decorator\n"
        "def f(x):\n"  # line 6
        '    """Doc."""\n'
        "\n"
        "    def g():\n"
        "        return 1\n"
        "    return g\n"  # line 11
        "class C:\n"
        "    def m(self):\n"
        "        pass\n"
    )
    assert _lengths_in(ast.parse(source), "m.py") == {"m.py::f": 6, "m.py::f.g": 2, "m.py::C.m": 2}
