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
    """Modules ``name`` imports: ``lazy`` counts every import (inside functions and under
    TYPE_CHECKING too); otherwise those that run at import time."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in tree.body:
        if not lazy and isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
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


# every import counts for cycles, also the ones deferred into functions or made for type checkers
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
