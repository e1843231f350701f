"""Every setting of sci-lightning, with its check, and the one way to read settings.

The package has one module per concern:

- :mod:`~sci_lightning.settings.schema`: the settings groups (``model``, ``data``, ``trainer``,
  ``energy``, ``carbon``, ``sci``, ``schedule``, ``inference``, ``compare``, ``checkpoint``,
  ``prometheus``, ``plan``), one dataclass each. A field declares its type, its default and,
  through :func:`setting`, what values it allows (``choices``, ``ge``, ``gt``, ``le``,
  ``lt``); rules that tie two fields together live in the group's ``check`` method. Nothing
  else in the package validates settings.
- :mod:`~sci_lightning.settings.coercion`: :func:`coerce`, the one path from user input to a
  checked dataclass. It takes a dataclass instance, a plain dict (Python, a LightningCLI YAML
  file) or an OmegaConf node (Hydra), and refuses unknown keys, wrong types and impossible
  values with one message format, :func:`setting_error`: the setting, what is wrong, what is
  allowed, the fix.
- :mod:`~sci_lightning.settings.hydra`: :func:`register_hydra_schemas` registers the same
  dataclasses as Hydra's structured schema, and :func:`explain_hydra_error` turns Hydra's own
  refusals into that message, so Hydra, LightningCLI and Python can never disagree (Hydra is
  imported inside those functions only).
- :mod:`~sci_lightning.settings.providers`: :data:`PROVIDERS`, the one registry of carbon
  intensity providers that ``carbon.provider`` is checked against.
"""

from __future__ import annotations

from sci_lightning.errors import setting_error
from sci_lightning.settings.coercion import coerce
from sci_lightning.settings.hydra import explain_hydra_error, register_hydra_schemas
from sci_lightning.settings.providers import PROVIDERS
from sci_lightning.settings.schema import (
    FUNCTIONAL_UNITS,
    CarbonConfig,
    CheckpointConfig,
    CompareConfig,
    Config,
    DataConfig,
    EnergyConfig,
    InferenceConfig,
    ModelConfig,
    PlanConfig,
    PrometheusConfig,
    ScheduleConfig,
    SciConfig,
    TrainerConfig,
    setting,
)

__all__ = [
    "FUNCTIONAL_UNITS",
    "PROVIDERS",
    "CarbonConfig",
    "CheckpointConfig",
    "CompareConfig",
    "Config",
    "DataConfig",
    "EnergyConfig",
    "InferenceConfig",
    "ModelConfig",
    "PlanConfig",
    "PrometheusConfig",
    "ScheduleConfig",
    "SciConfig",
    "TrainerConfig",
    "coerce",
    "explain_hydra_error",
    "register_hydra_schemas",
    "setting",
    "setting_error",
]
