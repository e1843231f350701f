"""Hydra glue: the settings dataclasses as Hydra's structured schema, and Hydra's refusals
in the settings' own words.

Hydra and OmegaConf are imported inside the functions only, so importing
:mod:`sci_lightning.settings` never loads them (the library does not know Hydra).
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from sci_lightning.errors import NO_VALUE as _NO_VALUE
from sci_lightning.errors import ConfigError
from sci_lightning.settings.coercion import unknown_setting_error, wrong_type_error
from sci_lightning.settings.schema import Config, PlanConfig

__all__ = ["explain_hydra_error", "register_hydra_schemas"]


def register_hydra_schemas() -> None:
    """Register the dataclasses as Hydra's structured schemas ``base_config`` and ``plan_schema``.

    ``conf/config.yaml`` and ``conf/plan.yaml`` list them first in their defaults, so Hydra
    types every key from the same dataclasses that :func:`coerce` checks.
    Also registers the resolver ``${pid:}`` (this process's id), which makes the run folder
    of ``conf/config.yaml`` unique even for runs started in the same second.
    """
    import os

    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf

    store = ConfigStore.instance()
    store.store(name="base_config", node=Config)
    store.store(name="plan_schema", node=PlanConfig)
    if not OmegaConf.has_resolver("pid"):
        OmegaConf.register_new_resolver("pid", os.getpid, use_cache=True)


def explain_hydra_error(exc: BaseException, root: type = Config) -> ConfigError | None:
    """Hydra's refusal of an override (unknown key, wrong type) in :func:`setting_error`'s words.

    Returns ``None`` when ``exc`` is not such a refusal (it is then shown as Hydra wrote it).
    """
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    cause: BaseException | None = exc
    while cause is not None and not isinstance(
        cause, (ConfigKeyError, ConfigAttributeError, ValidationError)
    ):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    full_key = str(getattr(cause, "full_key", "") or "")
    parent_path, _, key = full_key.rpartition(".")
    parent_cls = _dataclass_at(root, parent_path)
    if parent_cls is None:
        return None
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        return unknown_setting_error(parent_cls, parent_path, key)
    hint = typing.get_type_hints(parent_cls).get(key)
    args = [a for a in typing.get_args(hint) if a is not type(None)] or [hint]
    fake = getattr(cause, "msg", str(cause))
    value = _offending_value(fake)
    return wrong_type_error(args[0], full_key, value)


def _offending_value(message: str) -> Any:
    """The value quoted in an OmegaConf ValidationError ("Value 'abc' of type ...")."""
    if "Value '" in message:
        return message.split("Value '", 1)[1].split("'", 1)[0]
    return _NO_VALUE


def _dataclass_at(root: type, dotted: str) -> type | None:
    """The settings dataclass at ``dotted`` under ``root`` (``"carbon"`` -> CarbonConfig); None if none."""
    cls: Any = root
    for part in [p for p in dotted.split(".") if p]:
        hints = typing.get_type_hints(cls) if dataclasses.is_dataclass(cls) else {}
        cls = hints.get(part)
        if cls is None or not dataclasses.is_dataclass(cls):
            return None
    if isinstance(cls, type) and dataclasses.is_dataclass(cls):
        return cls
    return None
