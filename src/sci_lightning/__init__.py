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
and the command lines, the only layer that knows Hydra). docs/api.md lists the public API:
these names and each subpackage's ``__all__``; everything else is internal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sci_lightning._lazy import lazy_getattr

__version__ = "0.1.0"

#: The public API: name -> the module that defines it (loaded on first use).
_EXPORTS = {
    "EnergyCarbonCallback": "sci_lightning.lightning.callback",
    "EnergyMonitor": "sci_lightning.energy",
    "Measurement": "sci_lightning.energy",
    "EnergyResult": "sci_lightning.energy.base",
    "CarbonConfig": "sci_lightning.settings",
    "EnergyConfig": "sci_lightning.settings",
    "SciConfig": "sci_lightning.settings",
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
}

if TYPE_CHECKING:  # what type checkers see; at run time the names load lazily (below)
    from sci_lightning.carbon import build_provider
    from sci_lightning.carbon.carbon_aware_sdk import CarbonAwareSdkProvider
    from sci_lightning.carbon.chain import FallbackProvider
    from sci_lightning.carbon.electricity_maps import ElectricityMapsProvider
    from sci_lightning.carbon.static import StaticProvider
    from sci_lightning.carbon.trace import TraceProvider
    from sci_lightning.carbon.uk_grid import UkGridProvider
    from sci_lightning.carbon.watttime import WattTimeProvider
    from sci_lightning.energy import EnergyMonitor, Measurement
    from sci_lightning.energy.base import EnergyResult
    from sci_lightning.lightning.callback import EnergyCarbonCallback
    from sci_lightning.sci.compute import SciResult, compute_sci
    from sci_lightning.sci.report import SciReport
    from sci_lightning.settings import CarbonConfig, EnergyConfig, SciConfig, coerce
    from sci_lightning.shifting.planner import plan_best_start

__all__ = [  # the same names as _EXPORTS (tests/test_layout.py checks)
    "CarbonAwareSdkProvider",
    "CarbonConfig",
    "ElectricityMapsProvider",
    "EnergyCarbonCallback",
    "EnergyConfig",
    "EnergyMonitor",
    "EnergyResult",
    "FallbackProvider",
    "Measurement",
    "SciConfig",
    "SciReport",
    "SciResult",
    "StaticProvider",
    "TraceProvider",
    "UkGridProvider",
    "WattTimeProvider",
    "__version__",
    "build_provider",
    "coerce",
    "compute_sci",
    "plan_best_start",
]

__getattr__ = lazy_getattr(__name__, _EXPORTS)
