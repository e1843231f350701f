"""Lazy exports: the one way a package offers names without importing their modules up front.

``python -m sci_lightning.plan`` must not load torch, and ``import sci_lightning.carbon``
must not import every provider; so ``sci_lightning``, ``sci_lightning.carbon`` and
``sci_lightning.shifting`` name their exports in a table and load each on first use::

    __getattr__ = lazy_getattr(__name__, {"EnergyMonitor": "sci_lightning.energy"})

A table entry is ``"module"`` (the attribute has the exported name) or ``"module:attr"``;
a module starting with ``.`` is relative to the package. The loaded value is stored in the
package, so the lookup runs once per name. Type checkers see the names through an
``if TYPE_CHECKING:`` import block beside the table.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``package`` that imports ``exports[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module_name, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module_name, package), attr or name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
