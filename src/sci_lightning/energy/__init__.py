"""Energy meters: NVML (GPU), RAPL or CPU-time estimate (CPU), RSS estimate (RAM).

``build_meters(cfg, device_indices)`` turns an :class:`EnergyConfig` into the list of
meters for the devices this process trains on; :class:`EnergyCarbonCallback
<sci_lightning.callback.EnergyCarbonCallback>` drives them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from sci_lightning.energy._common import EnergyMeterWarning, FaultLog, hostname
from sci_lightning.energy.base import (
    METHODS,
    ComponentEnergy,
    EnergyInterval,
    EnergyMeter,
    EnergyResult,
    utcnow,
)
from sci_lightning.energy.config import EnergyConfig
from sci_lightning.energy.cpu import CpuTimeEnergyMeter, RaplEnergyMeter, find_rapl_domains
from sci_lightning.energy.nvml import NvmlEnergyMeter, parse_cuda_visible_devices, resolve_nvml_indices
from sci_lightning.energy.ram import RamEstimateMeter
from sci_lightning.energy.reduce import merge_parts, reduce_ranks
from sci_lightning.energy.timeline import Timeline
from sci_lightning.errors import ConfigError

__all__ = [
    "METHODS",
    "ComponentEnergy",
    "CpuTimeEnergyMeter",
    "EnergyConfig",
    "EnergyInterval",
    "EnergyMeter",
    "EnergyMeterWarning",
    "EnergyResult",
    "NullMeter",
    "NvmlEnergyMeter",
    "RamEstimateMeter",
    "RaplEnergyMeter",
    "Timeline",
    "build_meters",
    "coerce_energy_config",
    "find_rapl_domains",
    "merge_parts",
    "parse_cuda_visible_devices",
    "reduce_ranks",
    "resolve_nvml_indices",
    "utcnow",
    "validate_energy_config",
]

_CHOICES = {"gpu": ("auto", "counter", "sampling", "off"), "cpu": ("auto", "rapl", "estimate", "off"), "ram": ("estimate", "off")}


class NullMeter(EnergyMeter):
    """A component that cannot be measured: contributes 0 J, says why (method ``none``)."""

    def __init__(self, component: str, device: str, reason: str) -> None:
        self.component = component
        self.device = device
        self.reason = reason

    def start(self) -> None:
        pass

    def read_j(self) -> dict[str, float]:
        return {self.device: 0.0}

    def components(self) -> list[ComponentEnergy]:
        return [ComponentEnergy(self.component, self.device, 0.0, "none", METHODS["none"][0], "partial", [self.reason])]


def coerce_energy_config(cfg: Any) -> EnergyConfig:
    """An :class:`EnergyConfig` from ``None``, an ``EnergyConfig``, a dict or an OmegaConf node.

    Raises:
        ConfigError: unknown keys (named, with the valid ones listed).
    """
    if cfg is None:
        return EnergyConfig()
    if isinstance(cfg, EnergyConfig):
        return cfg
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(cfg, DictConfig):
            cfg = OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover - omegaconf is a dependency
        pass
    if not isinstance(cfg, Mapping):
        raise ConfigError(f"energy: expected an EnergyConfig or a mapping, got {type(cfg).__name__}")
    names = {f.name for f in fields(EnergyConfig)}
    unknown = sorted(set(cfg) - names)
    if unknown:
        raise ConfigError(f"energy: unknown setting(s) {unknown}; valid settings are {sorted(names)}")
    return EnergyConfig(**dict(cfg))


def validate_energy_config(cfg: EnergyConfig) -> None:
    """Refuse impossible settings, naming the setting and the allowed values.

    Raises:
        ConfigError: on the first invalid setting.
    """
    for name, choices in _CHOICES.items():
        value = getattr(cfg, name)
        if value not in choices:
            raise ConfigError(f"energy.{name}={value!r} is not valid; choose one of {', '.join(choices)}")
    checks = [
        ("gpu_sampling_interval_s", cfg.gpu_sampling_interval_s > 0, "must be > 0 seconds (default 0.1)"),
        ("cpu_tdp_w", cfg.cpu_tdp_w > 0, "must be > 0 watts (your CPU's TDP, e.g. 65)"),
        ("cpu_cores", cfg.cpu_cores is None or cfg.cpu_cores >= 1, "must be >= 1 or null (null: os.cpu_count())"),
        ("ram_w_per_gb", cfg.ram_w_per_gb >= 0, "must be >= 0 W/GB (default 0.375)"),
        ("pue", cfg.pue >= 1.0, "must be >= 1.0 (1.0: no data-centre overhead)"),
        ("timeline_max_intervals", cfg.timeline_max_intervals >= 2, "must be >= 2 (default 512)"),
    ]
    for name, ok, hint in checks:
        if not ok:
            raise ConfigError(f"energy.{name}={getattr(cfg, name)!r} {hint}")


def build_meters(
    cfg: EnergyConfig | Mapping[str, Any] | None,
    device_indices: list[int] | None,
    *,
    visible_devices: Any = None,
) -> list[EnergyMeter]:
    """The meters for this process, best method first, as configured.

    Args:
        cfg: energy settings (validated here).
        device_indices: CUDA ordinals this process trains on (e.g.
            ``[trainer.strategy.root_device.index]``); ``None`` or ``[]``: no GPU, so
            no GPU meter.
        visible_devices: ``CUDA_VISIBLE_DEVICES`` override for the NVML meter
            (default: the environment's, read when the meter starts).

    Returns:
        Meters not yet started (no NVML or sysfs access happens for GPUs until
        ``start()``; RAPL readability is probed here to choose the CPU method).
        Unavailability is never an error: the meter falls back and says so.
    """
    cfg = coerce_energy_config(cfg)
    validate_energy_config(cfg)
    if not cfg.enabled:
        return []
    meters: list[EnergyMeter] = []
    if cfg.gpu != "off" and device_indices:
        mode = "sampling" if cfg.gpu == "sampling" else "auto"
        kwargs: dict[str, Any] = {}
        if visible_devices is not None:
            kwargs["visible_devices"] = visible_devices
        meters.append(NvmlEnergyMeter(list(device_indices), mode=mode, sampling_interval_s=cfg.gpu_sampling_interval_s, **kwargs))
    if cfg.cpu != "off":
        estimate = CpuTimeEnergyMeter(tdp_w=cfg.cpu_tdp_w, cores=cfg.cpu_cores)
        if cfg.cpu in ("auto", "rapl"):
            domains, reason = find_rapl_domains(cfg.rapl_root)
            if reason is None:
                meters.append(RaplEnergyMeter(cfg.rapl_root, fallback=estimate, include_dram=cfg.ram != "off"))
            else:
                if cfg.cpu == "rapl" or "not readable" in reason:
                    FaultLog("CPU energy (RAPL)").fault(f"{reason}; CPU energy is estimated from CPU time instead")
                meters.append(estimate)
        else:
            meters.append(estimate)
    if cfg.ram == "estimate" and not any(isinstance(m, RaplEnergyMeter) and m.include_dram for m in meters):
        meters.append(RamEstimateMeter(w_per_gb=cfg.ram_w_per_gb))
    elif cfg.ram == "estimate":
        # RAPL with a DRAM domain measures RAM; fall back to the estimate if there is none
        rapl = next(m for m in meters if isinstance(m, RaplEnergyMeter))
        domains, _ = find_rapl_domains(rapl.root)
        if not any(d.component == "ram" for d in domains):
            meters.append(RamEstimateMeter(w_per_gb=cfg.ram_w_per_gb))
    return meters


