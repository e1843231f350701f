"""The tests mirror the package (issue 26): ``src/sci_lightning/P/M.py`` is tested in
``tests/P/test_M.py``; the exceptions are listed below, each with the reason and where the
module is tested today. A new module needs its test file (or an entry here, explained).
See tests/README.md for the whole rule."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
PACKAGE = TESTS.parent / "src" / "sci_lightning"

#: Test folders that mirror no package: end-to-end tests, the helpers, data files.
OWN_FOLDERS = {"e2e", "helpers", "fixtures"}

_BY_CLI = "an entry point; its main() runs in the CLI tests"
#: Modules without a test file of their own: module -> why, and where they are tested today.
EXCEPTIONS: dict[str, str] = {
    "__main__.py": "the training CLI; run as a process in tests/e2e/ and tests/app/test_train.py",
    "__init__.py": "the public surface; tests/test_public_api.py (the README's plain-Lightning example)",
    "plan.py": "python -m sci_lightning.plan: " + _BY_CLI + " (tests/app/test_plan.py)",
    "campaign/__main__.py": _BY_CLI + " (tests/campaign/test_rollup.py)",
    "compare/__main__.py": _BY_CLI + " (tests/compare/test_compare.py)",
    "publish/__main__.py": _BY_CLI + " (tests/publish/test_publish.py)",
    "carbon/__init__.py": "build_provider and the registry: tests/carbon/test_chain.py, test_static.py",
    "shifting/__init__.py": "re-exports and the lazy loader: tests/shifting/",
}


def _modules() -> list[str]:
    """Every module of the package, as a path relative to src/sci_lightning/."""
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _reexports_only(module: str) -> bool:
    """An ``__init__.py`` with no function or class of its own (nothing to test but its imports)."""
    if not module.endswith("__init__.py"):
        return False
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    return not any(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in tree.body)


def mirrored(module: str) -> Path:
    """``energy/reduce.py`` -> ``tests/energy/test_reduce.py``."""
    path = Path(module)
    return TESTS / path.parent / f"test_{path.stem}.py"


def test_every_module_has_its_test_file_at_the_mirrored_path():
    missing = [
        f"{m} -> {mirrored(m).relative_to(TESTS.parent)}"
        for m in _modules()
        if m not in EXCEPTIONS and not _reexports_only(m) and not mirrored(m).is_file()
    ]
    assert not missing, (
        "modules without their test file (write it, or list the module in EXCEPTIONS with why):\n  "
        + "\n  ".join(missing)
    )


def test_every_exception_is_still_one():
    modules = set(_modules())
    stale = [m for m in EXCEPTIONS if m not in modules or mirrored(m).is_file()]
    assert not stale, f"remove from EXCEPTIONS (module gone, or it has its test file now): {stale}"


def test_every_test_folder_mirrors_a_package_and_is_a_python_package():
    for folder in sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))):
        if folder.name in OWN_FOLDERS:
            continue
        assert (PACKAGE / folder.name / "__init__.py").is_file(), f"tests/{folder.name}/ mirrors no package"
        # a package, so that two folders may hold test files of the same name (tests/*/test_output.py)
        assert (folder / "__init__.py").is_file(), f"tests/{folder.name}/ needs an __init__.py"
    assert (TESTS / "__init__.py").is_file() and (TESTS / "e2e" / "__init__.py").is_file()


def test_the_helpers_folder_is_not_a_package():
    """Helpers are imported by bare name (tests/conftest.py puts tests/helpers/ on sys.path); as a
    package they would also exist as ``tests.helpers.x``, a second copy of every fake."""
    assert not (TESTS / "helpers" / "__init__.py").exists()
