"""The one coercion: user input -> a checked settings dataclass (:func:`coerce`).

Input arrives as a dataclass instance, a plain dict (Python, a LightningCLI YAML file) or an
OmegaConf node (Hydra). :func:`coerce` converts every value to its field's type (nested
dataclasses included) and refuses unknown keys, wrong types and values outside what the
field's :func:`~sci_lightning.settings.schema.setting` allows, all in one message format
(:func:`~sci_lightning.errors.setting_error`). It knows no particular settings group: the
groups live in :mod:`sci_lightning.settings.schema`.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Protocol, TypeGuard, TypeVar

from sci_lightning.errors import NO_VALUE as _NO_VALUE
from sci_lightning.errors import ConfigError, setting_error

__all__ = ["coerce", "is_real", "join_path", "unknown_setting_error", "wrong_type_error"]


class _Dataclass(Protocol):
    """Any dataclass (what :func:`coerce` builds)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]


T = TypeVar("T", bound=_Dataclass)


def coerce(cls: type[T], value: object, path: str = "") -> T:
    """``value`` as a checked ``cls``: the one way settings enter the library.

    Args:
        cls: a settings dataclass of this module (e.g. :class:`CarbonConfig`).
        value: ``None`` (the defaults), an instance of ``cls``, a mapping (plain dict,
            LightningCLI/YAML), or an OmegaConf node (Hydra).
        path: where the settings sit (``"carbon"``), used in messages.

    Raises:
        ConfigError: an unknown key (with the valid keys and the nearest match), a value
            of the wrong type, or a value outside what the setting allows.
    """
    if value is None:
        value = {}
    value = _plain(value)
    if isinstance(value, cls):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(cls)}
    if not isinstance(value, Mapping):
        raise setting_error(
            path or cls.__name__,
            value,
            f"expected settings ({cls.__name__}, a dict or a config node)",
            f"Pass a {cls.__name__}(...) or a dict of its settings.",
        )
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, raw in value.items():
        key = str(key)
        if key not in known:
            raise unknown_setting_error(cls, path, key)
        sub = join_path(path, key)
        kwargs[key] = _coerce_value(hints[key], raw, sub, known[key].metadata)
    obj = cls(**kwargs)
    check = getattr(obj, "check", None)
    if check is not None:
        check(path)
    return obj


def unknown_setting_error(cls: type, path: str, key: str) -> ConfigError:
    """``key`` is not a setting of ``cls`` (at ``path``): the nearest name and all valid ones."""
    names = [f.name for f in dataclasses.fields(cls)]
    near = difflib.get_close_matches(key, names, n=1)
    hint = f"Did you mean {join_path(path, near[0])}? " if near else ""
    return setting_error(
        join_path(path, key),
        _NO_VALUE,
        "no such setting",
        f"{hint}The settings of {path or cls.__name__} are: {', '.join(names)}.",
    )


def _plain(value: Any) -> Any:
    """An OmegaConf node as plain containers; anything else unchanged."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with hydra-core
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def join_path(path: str, key: str) -> str:
    """The dotted name of ``key`` under ``path`` (``"carbon"``, ``"region"`` -> ``"carbon.region"``)."""
    return f"{path}.{key}" if path else key


def is_real(value: object) -> TypeGuard[int | float]:
    """A real number (int or float), not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _coerce_value(hint: Any, raw: Any, path: str, meta: Mapping[str, Any]) -> Any:
    """``raw`` converted to ``hint`` (nested dataclasses included) and range-checked."""
    raw = _plain(raw)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if raw is None:
            return None
        hint, origin = args[0], typing.get_origin(args[0])
    if hint is Any:
        return raw
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return coerce(hint, raw, path)
    if origin is list:
        if not isinstance(raw, (list, tuple)):
            raw = [raw] if isinstance(raw, str) else raw
        if not isinstance(raw, list | tuple):
            raise setting_error(path, raw, "expected a list", f"Give a list, e.g. {path}=[a,b].")
        (item,) = typing.get_args(hint) or (Any,)
        return [_coerce_value(item, v, path, meta) for v in raw]
    if raw is None:
        raise setting_error(path, None, "cannot be null", f"Give {_TYPE_WORDS.get(hint, hint)}.")
    value = _convert_scalar(hint, raw, path)
    return _check_allowed(value, path, meta)


def _convert_scalar(hint: type, raw: Any, path: str) -> Any:
    wrong = wrong_type_error(hint, path, raw)
    if hint is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise wrong
    if hint is int:
        if isinstance(raw, bool):
            raise wrong
        if isinstance(raw, int):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                raise wrong from None
        raise wrong
    if hint is float:
        if isinstance(raw, bool):
            raise wrong
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise wrong from None
    if hint is str:
        if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise wrong
    return raw


def wrong_type_error(hint: object, path: str, value: object) -> ConfigError:
    """``value`` at ``path`` is not of the setting's type ``hint``: what was expected and an example."""
    words = _TYPE_WORDS.get(hint, getattr(hint, "__name__", hint))
    return setting_error(path, value, f"expected {words}", _type_fix(hint, path))


def _type_fix(hint: Any, path: str) -> str:
    examples = {bool: f"{path}=true", int: f"{path}=2", float: f"{path}=1.5", str: f"{path}=name"}
    return f"For example {examples.get(hint, path + '=...')}."


def _check_allowed(value: Any, path: str, meta: Mapping[str, Any]) -> Any:
    """``value`` if the setting allows it (a choice in its canonical spelling); else ConfigError."""
    choices = meta.get("choices")
    if choices is not None:
        value = _canonical_choice(value, choices, path)
    if not is_real(value):
        return value
    if not math.isfinite(value):
        raise setting_error(path, value, "must be a finite number", "Give a finite number (not nan or inf).")
    bounds = (
        ("ge", ">=", value >= meta.get("ge", -math.inf)),
        ("gt", ">", value > meta.get("gt", -math.inf)),
        ("le", "<=", value <= meta.get("le", math.inf)),
        ("lt", "<", value < meta.get("lt", math.inf)),
    )
    for key, op, ok in bounds:
        if key in meta and not ok:
            bound = meta[key] if isinstance(meta[key], int) else f"{meta[key]:g}"
            raise setting_error(path, value, f"must be {op} {bound}", f"Give a value {op} {bound}.")
    return value


def _canonical_choice(value: Any, choices: tuple[Any, ...], path: str) -> Any:
    """The allowed choice ``value`` names, matched without regard to case or spaces."""
    key = value.strip().lower() if isinstance(value, str) else value
    for choice in choices:
        if key == (choice.lower() if isinstance(choice, str) else choice):
            return choice
    raise setting_error(
        path, value, "not one of the allowed values", f"Choose one of: {', '.join(map(str, choices))}."
    )
