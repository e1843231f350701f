"""Energy meters: NVML (GPU), RAPL or CPU-time estimate (CPU), RSS estimate (RAM).

``build_meters(cfg, device_indices)`` turns an :class:`EnergyConfig` into the list of
meters for the devices this process trains on; :class:`EnergyMonitor` drives them in
named windows (returning a :class:`Measurement` each), with or without Lightning;
:class:`EnergyCarbonCallback <sci_lightning.lightning.callback.EnergyCarbonCallback>`
is its Lightning adapter.
"""

from __future__ import annotations

from sci_lightning.energy._common import EnergyMeterWarning
from sci_lightning.energy.base import (
    METHODS,
    ComponentEnergy,
    EnergyInterval,
    EnergyMeter,
    EnergyResult,
    Measurement,
    utcnow,
)
from sci_lightning.energy.cpu import CpuTimeEnergyMeter, RaplEnergyMeter, find_rapl_domains
from sci_lightning.energy.meters import NullMeter, build_meters
from sci_lightning.energy.monitor import EnergyMonitor
from sci_lightning.energy.nvml import NvmlEnergyMeter, parse_cuda_visible_devices, resolve_nvml_indices
from sci_lightning.energy.ram import RamEstimateMeter
from sci_lightning.energy.reduce import merge_measurements, merge_segments, reduce_measurements, reduce_ranks
from sci_lightning.energy.timeline import Timeline
from sci_lightning.settings import EnergyConfig

__all__ = [
    "METHODS",
    "ComponentEnergy",
    "CpuTimeEnergyMeter",
    "EnergyConfig",
    "EnergyInterval",
    "EnergyMeter",
    "EnergyMeterWarning",
    "EnergyMonitor",
    "EnergyResult",
    "Measurement",
    "NullMeter",
    "NvmlEnergyMeter",
    "RamEstimateMeter",
    "RaplEnergyMeter",
    "Timeline",
    "build_meters",
    "find_rapl_domains",
    "merge_measurements",
    "merge_segments",
    "parse_cuda_visible_devices",
    "reduce_measurements",
    "reduce_ranks",
    "resolve_nvml_indices",
    "utcnow",
]
