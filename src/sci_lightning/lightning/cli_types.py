"""LightningCLI (jsonargparse) reads our settings as what they are: a misspelling is refused at parse time.

``EnergyCarbonCallback(energy=..., carbon=..., sci=...)`` takes a settings dataclass or a
dict. In a LightningCLI YAML the dict branch used to accept anything, so
``sci: {functional_unt: epoch}`` passed ``--print_config`` and failed only in ``fit``, under a
long traceback. :func:`register` tells jsonargparse how to read each settings dataclass
(:data:`SETTINGS_TYPES`): through :func:`sci_lightning.settings.coerce`, the one way settings
enter the library. A mapping that ``coerce`` refuses (unknown key, wrong type, value out of
range) stops the command at parse time with our one line on stderr (exit status 2), e.g.::

    error: Invalid setting sci.functional_unt: unknown key. Did you mean sci.functional_unit? ...

Imported with :mod:`sci_lightning.lightning`; it registers the types only where jsonargparse
is installed (a LightningCLI is then possible) and imports nothing else.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sci_lightning.errors import SciLightningError
from sci_lightning.settings import CarbonConfig, EnergyConfig, PrometheusConfig, SciConfig, coerce

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["register_if_available"]

#: The settings dataclasses a LightningCLI YAML may spell, with their place in messages.
SETTINGS_TYPES: dict[type[DataclassInstance], str] = {
    EnergyConfig: "energy",
    CarbonConfig: "carbon",
    SciConfig: "sci",
    PrometheusConfig: "prometheus",
}

_registered = False

T = TypeVar("T", bound="DataclassInstance")


def _reader(cls: type[T], path: str) -> Callable[[object], T]:
    def read(value: object) -> T:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f"{cls.__name__} settings are a mapping, got {type(value).__name__}")
        try:
            return coerce(cls, value, path)
        except SciLightningError as exc:  # refused here, in one line, before jsonargparse's tree of unions
            print(f"error: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None

    return read


def _as_dict(value: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(value)


def register() -> bool:
    """Register the settings types with jsonargparse (idempotent); ``False`` without jsonargparse."""
    global _registered
    if _registered:
        return True
    try:
        from jsonargparse.typing import register_type
    except ImportError:
        return False
    for cls, path in SETTINGS_TYPES.items():
        register_type(cls, serializer=_as_dict, deserializer=_reader(cls, path))
    _registered = True
    return True


def register_if_available() -> bool:
    """:func:`register` where jsonargparse is installed (LightningCLI's parser), else nothing."""
    if "jsonargparse" not in sys.modules and importlib.util.find_spec("jsonargparse") is None:
        return False
    return register()
