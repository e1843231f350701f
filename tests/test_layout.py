"""The layout keeps the design: no import cycles, the library does not import Hydra or
Lightning where it should not, and every ``__all__`` names what the module really has."""

from __future__ import annotations

import ast
import importlib
import re
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


# --------------------------------------------------------------------------- the public surface
# docs/api.md is the public API: the top-level names and each subpackage's ``__init__`` __all__,
# every one listed there; an internal module's __all__ names only what other code uses of it.

REPO = PACKAGE.parents[1]
API_DOC = REPO / "docs" / "api.md"
#: The most names ``sci_lightning`` itself exports (``__version__`` aside).
MAX_TOP_LEVEL = 20
#: Issue 26: packages that still define their own ``__getattr__`` instead of ``_lazy.lazy_getattr``
#: (owned by another helper during the session); remove each once it uses the helper.
OWN_GETATTR_PENDING: set[str] = set()


def _api_doc() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """docs/api.md as {package: names} (the package sections) and {module: names} ("Modules used
    directly"). A bullet is ``- `name`, `name`: what it is`` or ``- `module`: `name`, ...: what``."""
    bullets: list[tuple[str | None, str]] = []
    section: str | None = None
    for line in API_DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            m = re.fullmatch(r"## `([\w.]+)`", line.strip())
            section = m.group(1) if m else line[3:].strip()
        elif line.startswith("- "):
            bullets.append((section, line[2:]))
        elif line.startswith("  ") and bullets:
            bullets[-1] = (bullets[-1][0], bullets[-1][1] + " " + line.strip())
    packages: dict[str, set[str]] = {}
    modules: dict[str, set[str]] = {}
    for sec, text in bullets:
        if sec == "Modules used directly":
            module, names, _ = text.split(": ", 2)
            modules.setdefault(module.strip("`"), set()).update(re.findall(r"`(\w+)`", names))
        elif sec is not None and sec.startswith("sci_lightning"):
            packages.setdefault(sec, set()).update(re.findall(r"`(\w+)`", text.split(": ", 1)[0]))
    return packages, modules


PACKAGES = sorted(name for name, path in MODULES.items() if path.name == "__init__.py")


@pytest.mark.parametrize("name", PACKAGES)
def test_every_package_api_name_is_documented(name):
    exported = set(getattr(importlib.import_module(name), "__all__", []))
    missing = exported - _api_doc()[0].get(name, set())
    assert not missing, (
        f"{name}.__all__ names {sorted(missing)}, which docs/api.md does not list under {name}"
    )


def test_every_documented_name_exists():
    packages, modules = _api_doc()
    for module, names in [*packages.items(), *modules.items()]:
        loaded = importlib.import_module(module)
        absent = sorted(n for n in names if getattr(loaded, n, None) is None)
        assert not absent, f"docs/api.md lists {module}.{absent}, which do not exist"


def test_top_level_is_small_and_its_lazy_table_is_its_all():
    import sci_lightning

    names = set(sci_lightning.__all__) - {"__version__"}
    assert len(names) <= MAX_TOP_LEVEL, f"sci_lightning exports {len(names)} names (at most {MAX_TOP_LEVEL})"
    for package in PACKAGES:
        table = getattr(importlib.import_module(package), "_EXPORTS", None)
        if table is not None:
            exported = set(importlib.import_module(package).__all__) - {"__version__"}
            assert set(table) == exported, f"{package}: _EXPORTS and __all__ differ"


def test_one_lazy_export_mechanism():
    """A module-level ``__getattr__`` comes from ``_lazy.lazy_getattr``, never a hand-written one."""
    own = {
        name
        for name, path in MODULES.items()
        if name != "sci_lightning._lazy"
        and any(
            isinstance(n, ast.FunctionDef) and n.name == "__getattr__"
            for n in ast.parse(path.read_text()).body
        )
    }
    assert own <= OWN_GETATTR_PENDING, (
        f"hand-written module __getattr__ in {sorted(own - OWN_GETATTR_PENDING)}"
    )
    assert own == OWN_GETATTR_PENDING, (
        f"{sorted(OWN_GETATTR_PENDING - own)} now use the helper: drop them from OWN_GETATTR_PENDING"
    )


def _file_uses(path: Path, importer: str | None) -> set[tuple[str, str]]:
    """(module, name) pairs a file uses: ``from module import name`` and ``module.name`` (aliases too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[tuple[str, str]] = set()
    alias: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(importer, node, path.name == "__init__.py") if importer else node.module or ""
            for a in node.names:
                found.add((target, a.name))
                if f"{target}.{a.name}" in MODULES:
                    alias[a.asname or a.name] = f"{target}.{a.name}"
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.asname and a.name in MODULES:
                    alias[a.asname] = a.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner = ast.unparse(node.value)
            module = alias.get(owner, owner)
            if module in MODULES:
                found.add((module, node.attr))
        elif isinstance(node, ast.Dict):  # lazy-export tables: {"name": "module" or "module:attr"}
            for k, v in zip(node.keys, node.values):
                if isinstance(k, ast.Constant) and isinstance(v, ast.Constant) and isinstance(v.value, str):
                    module, _, attr = v.value.partition(":")
                    found.add((module, attr or str(k.value)))
    return found


def _uses() -> dict[tuple[str, str], set[str]]:
    """Who uses each (module, name): modules of src/, benchmarks and tests, and Hydra configs."""
    users: dict[tuple[str, str], set[str]] = {}
    files = [(name, path, name) for name, path in MODULES.items()]
    files += [(str(p), p, None) for d in ("benchmarks", "tests") for p in sorted((REPO / d).rglob("*.py"))]
    for who, path, importer in files:
        for use in _file_uses(path, importer):
            users.setdefault(use, set()).add(who)
    for cfg in sorted((REPO / "conf").rglob("*.yaml")):
        for target in re.findall(r"(?:_target_|class_path):\s*([\w.]+)", cfg.read_text(encoding="utf-8")):
            module, _, attr = target.rpartition(".")
            users.setdefault((module, attr), set()).add(str(cfg))
    return users


INTERNAL = sorted(
    name for name, path in MODULES.items() if path.name != "__init__.py" and not name.endswith("__main__")
)


@pytest.fixture(scope="module")
def uses() -> dict[tuple[str, str], set[str]]:
    return _uses()


@pytest.mark.parametrize("name", INTERNAL)
def test_internal_all_names_only_what_other_code_uses(name, uses):
    documented = _api_doc()[1].get(name, set())
    unused = [
        n
        for n in getattr(importlib.import_module(name), "__all__", [])
        if n not in documented and not uses.get((name, n), set()) - {name}
    ]
    assert not unused, (
        f"{name}.__all__ names {unused}, which no other module, benchmark, test or config uses: "
        "drop them from __all__ (they stay importable) or list them in docs/api.md"
    )


# -- function length ------------------------------------------------------------------------
MAX_FUNCTION_LINES = 60


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
    """No library function over MAX_FUNCTION_LINES lines (issue 26: the last long ones were split)."""
    long = {f"{name} ({n} lines)" for name, n in LENGTHS.items() if n > MAX_FUNCTION_LINES}
    assert not long, (
        f"split these along their steps (at most {MAX_FUNCTION_LINES} lines each): {sorted(long)}"
    )


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


def test_architecture_doc_names_every_package_and_top_level_module():
    """docs/architecture.md draws the whole package: each subpackage and each top-level module."""
    text = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text(encoding="utf-8")
    wanted = [p.name + "/" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file() and p.name != "conf"]
    wanted += [p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"}]
    missing = sorted(name for name in wanted if name not in text)
    assert not missing, f"docs/architecture.md does not name {missing}"


# -- types on the public surface ------------------------------------------------------------
#: Public functions that may still take or return a bare ``Any``, as ``path::Qual.name(param)``
#: (``(return)`` for the return annotation, ``(**name)`` for a variadic parameter).
BARE_ANY_ALLOWED = {
    # A dataclass field specifier: like ``dataclasses.field`` (typeshed's own overload), a field
    # with no default takes a value that stands for whatever type the field declares.
    "sci/codec.py::report_field(return)",
}


def _is_bare_any(annotation: ast.expr | None) -> bool:
    """``Any``, ``typing.Any`` or either written as a string; ``dict[str, Any]`` and the like are not."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return False
    if isinstance(annotation, ast.Name):
        return annotation.id == "Any"
    return (
        isinstance(annotation, ast.Attribute)
        and annotation.attr == "Any"
        and isinstance(annotation.value, ast.Name)
        and annotation.value.id in {"typing", "typing_extensions"}
    )


def _bare_any_in(tree: ast.AST, where: str) -> set[str]:
    """Every bare ``Any`` in the signature of a public function or method of ``tree``: one whose
    own name and every enclosing class's and function's name do not start with ``_`` (dunder
    methods such as ``__init__`` are public: a class's constructor is its signature)."""
    found: set[str] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if child.name.startswith("_") and not _is_dunder(child.name):
                    continue
                name = prefix + child.name
                if not isinstance(child, ast.ClassDef):
                    a = child.args
                    params = [(p.arg, p) for p in a.posonlyargs + a.args + a.kwonlyargs]
                    params += [(f"*{p.arg}", p) for p in [a.vararg] if p]
                    params += [(f"**{p.arg}", p) for p in [a.kwarg] if p]
                    found.update(f"{where}::{name}({arg})" for arg, p in params if _is_bare_any(p.annotation))
                    if _is_bare_any(child.returns):
                        found.add(f"{where}::{name}(return)")
                visit(child, name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


def _public_module(path: Path) -> bool:
    """Not a private module or package (``_lazy.py``); ``__init__`` and ``__main__`` are public."""
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return not any(p.startswith("_") and not _is_dunder(p) for p in parts)


def test_public_functions_name_their_types():
    """Issue 26: no public function or method of the library takes or returns a bare ``Any``
    (a ``dict[str, Any]`` of JSON-like data is fine); write the real type, a Protocol of what
    the code uses, or ``object`` where it reads nothing of the value."""
    found = {
        hit
        for path in MODULES.values()
        if _public_module(path)
        for hit in _bare_any_in(ast.parse(path.read_text()), path.relative_to(PACKAGE).as_posix())
    }
    assert found <= BARE_ANY_ALLOWED, f"name the real type in: {sorted(found - BARE_ANY_ALLOWED)}"
    assert found == BARE_ANY_ALLOWED, (
        f"{sorted(BARE_ANY_ALLOWED - found)} are typed now: drop them from BARE_ANY_ALLOWED"
    )


def test_bare_any_measure():
    """What counts: bare ``Any`` in public signatures (strings and ``typing.Any`` too), nothing else."""
    source = (
        "import typing\n"
        "def f(x: Any, y: dict[str, Any], *a: Any, **kw: 'Any') -> typing.Any: ...\n"
        "def _private(x: Any) -> Any: ...\n"
        "def g(x: object) -> list[Any]: ...\n"
        "class C:\n"
        "    def __init__(self, x: Any) -> None: ...\n"
        "    def m(self, batch: Any) -> None: ...\n"
        "    def _hidden(self, batch: Any) -> None: ...\n"
        "class _Private:\n"
        "    def m(self, batch: Any) -> None: ...\n"
    )
    assert _bare_any_in(ast.parse(source), "m.py") == {
        "m.py::f(x)",
        "m.py::f(*a)",
        "m.py::f(**kw)",
        "m.py::f(return)",
        "m.py::C.__init__(x)",
        "m.py::C.m(batch)",
    }
    assert not _public_module(PACKAGE / "_lazy.py")
    assert _public_module(PACKAGE / "sci" / "__init__.py")


# -- names that moved are listed -----------------------------------------------------------------
BEFORE_ISSUE_26 = Path(__file__).parent / "fixtures" / "public_names_before_issue26.txt"


def _moved_names_bullets() -> list[str]:
    """The bullets of CHANGELOG.md's "Issue 26: moved names" section, each as one string."""
    text = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    section = text.split("## Issue 26: moved names", 1)[1].split("\n## ", 1)[0]
    return [b for b in re.split(r"\n(?=- )", section) if b.startswith("- ")]


def _still_there(module: str, name: str) -> bool:
    try:
        return hasattr(importlib.import_module(module), name)
    except ImportError:
        return False


def _listed(module: str, name: str, bullets: list[str]) -> bool:
    """A bullet names both the old module (with or without ``sci_lightning.``) and the name."""
    short = module.removeprefix("sci_lightning.")
    word = re.compile(rf"(?<![\w.]){re.escape(name)}(?!\w)|\.{re.escape(name)}(?!\w)")
    return any((short in b or module in b) and word.search(b) for b in bullets)


def test_every_moved_public_name_is_in_the_changelog():
    """Issue 26: each name an ``__all__`` exported before the issue is still importable from its
    module, or CHANGELOG.md's moved-names section says where it went."""
    bullets = _moved_names_bullets()
    old = [line for line in BEFORE_ISSUE_26.read_text().splitlines() if line and not line.startswith("#")]
    unlisted = [
        dotted
        for dotted in old
        if not _still_there(*dotted.rsplit(".", 1)) and not _listed(*dotted.rsplit(".", 1), bullets)
    ]
    assert not unlisted, (
        f"moved or removed without a CHANGELOG line under 'Issue 26: moved names': {unlisted}"
    )


def test_moved_names_check_can_fail():
    bullets = ["- `sci_lightning.app.summary.format_duration` -> `sci_lightning.timefmt.duration_words`"]
    assert _listed("sci_lightning.app.summary", "format_duration", bullets)
    assert not _listed("sci_lightning.app.summary", "format", bullets)
    assert not _listed("sci_lightning.app.help", "format_duration", bullets)
    assert not _still_there("sci_lightning.app.summary", "format_duration")
    assert _still_there("sci_lightning.timefmt", "duration_words")
