"""sci-lightning: train image classifiers and report their measured energy, carbon and SCI.

Public API (imported lazily, so ``python -m sci_lightning.plan`` does not load torch)::

    from sci_lightning import EnergyCarbonCallback, compute_sci, build_provider
    from sci_lightning import WattTimeProvider, CarbonAwareSdkProvider, ElectricityMapsProvider
    from sci_lightning import UkGridProvider, StaticProvider, TraceProvider, FallbackProvider
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EnergyCarbonCallback": "sci_lightning.callback",
    "compute_sci": "sci_lightning.sci",
    "SciResult": "sci_lightning.sci",
    "build_provider": "sci_lightning.carbon",
    "StaticProvider": "sci_lightning.carbon.static",
    "TraceProvider": "sci_lightning.carbon.trace",
    "WattTimeProvider": "sci_lightning.carbon.watttime",
    "CarbonAwareSdkProvider": "sci_lightning.carbon.carbon_aware_sdk",
    "ElectricityMapsProvider": "sci_lightning.carbon.electricity_maps",
    "UkGridProvider": "sci_lightning.carbon.uk_grid",
    "FallbackProvider": "sci_lightning.carbon.chain",
    "plan_best_start": "sci_lightning.carbon.plan",
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
