"""Lazy exports (sci_lightning/_lazy.py): loaded on first use, once, from the module named."""

from __future__ import annotations

import sys
import types

import pytest

from sci_lightning._lazy import lazy_getattr


@pytest.fixture
def package(monkeypatch):
    pkg = types.ModuleType("lazy_pkg")
    pkg.__path__ = []  # a package: relative targets resolve against it
    impl = types.ModuleType("lazy_pkg.impl")
    impl.answer = 42
    impl.Thing = type("Thing", (), {})
    monkeypatch.setitem(sys.modules, "lazy_pkg", pkg)
    monkeypatch.setitem(sys.modules, "lazy_pkg.impl", impl)
    pkg.__getattr__ = lazy_getattr("lazy_pkg", {"answer": "lazy_pkg.impl", "Alias": ".impl:Thing"})
    return pkg, impl


def test_a_name_loads_from_its_module_and_is_then_cached(package):
    pkg, impl = package
    assert "answer" not in vars(pkg)
    assert pkg.answer == 42
    assert vars(pkg)["answer"] == 42  # stored: the next lookup does not go through __getattr__
    impl.answer = 0
    assert pkg.answer == 42


def test_module_colon_attr_and_relative_module(package):
    pkg, impl = package
    assert pkg.Alias is impl.Thing


def test_an_unknown_name_is_an_attribute_error_naming_the_package(package):
    pkg, _ = package
    with pytest.raises(AttributeError, match="module 'lazy_pkg' has no attribute 'nope'"):
        pkg.nope  # noqa: B018


def test_the_real_packages_load_without_torch():
    import subprocess

    code = (
        "import sys, sci_lightning, sci_lightning.carbon; "
        "from sci_lightning import plan_best_start; from sci_lightning.carbon import UkGridProvider; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
