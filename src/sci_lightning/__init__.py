"""sci-lightning: train image classifiers and report their measured energy, carbon and SCI.

Public API (imported lazily, so ``python -m sci_lightning.plan`` does not load torch)::

    from sci_lightning import EnergyCarbonCallback, EnergyMonitor, compute_sci, SciReport
    from sci_lightning import CarbonConfig, EnergyConfig, SciConfig, coerce  # settings
    from sci_lightning import build_provider, WattTimeProvider, CarbonAwareSdkProvider
    from sci_lightning import ElectricityMapsProvider, UkGridProvider, StaticProvider
    from sci_lightning import TraceProvider, FallbackProvider, plan_best_start

The layers, bottom up (see docs/architecture.md): ``settings`` (every setting and its
check), ``energy`` (meters, ``EnergyMonitor``), ``carbon`` (intensity providers), ``sci``
(the score and the typed report), ``shifting`` (carbon-aware planning), ``compare``
(comparison of runs), ``lightning`` (the callback and the classifier), ``app`` (training
and the command lines, the only layer that knows Hydra).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EnergyCarbonCallback": "sci_lightning.lightning.callback",
    "EnergyMonitor": "sci_lightning.energy",
    "Measurement": "sci_lightning.energy",
    "CarbonConfig": "sci_lightning.settings",
    "EnergyConfig": "sci_lightning.settings",
    "SciConfig": "sci_lightning.settings",
    "ScheduleConfig": "sci_lightning.settings",
    "coerce": "sci_lightning.settings",
    "SciReport": "sci_lightning.sci.report",
    "compute_sci": "sci_lightning.sci.compute",
    "SciResult": "sci_lightning.sci.compute",
    "build_provider": "sci_lightning.carbon",
    "StaticProvider": "sci_lightning.carbon.static",
    "TraceProvider": "sci_lightning.carbon.trace",
    "WattTimeProvider": "sci_lightning.carbon.watttime",
    "CarbonAwareSdkProvider": "sci_lightning.carbon.carbon_aware_sdk",
    "ElectricityMapsProvider": "sci_lightning.carbon.electricity_maps",
    "UkGridProvider": "sci_lightning.carbon.uk_grid",
    "FallbackProvider": "sci_lightning.carbon.chain",
    "plan_best_start": "sci_lightning.shifting.planner",
    "EnergyResult": "sci_lightning.energy.base",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sci_lightning' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
