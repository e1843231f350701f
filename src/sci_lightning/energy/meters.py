"""Which meters measure this process: ``build_meters`` (best method per component) and
``NullMeter`` (a component that cannot be measured, reported as 0 J with the reason)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sci_lightning.energy._common import FaultLog
from sci_lightning.energy.base import METHODS, ComponentEnergy, EnergyMeter
from sci_lightning.energy.cpu import CpuTimeEnergyMeter, RaplEnergyMeter, find_rapl_domains
from sci_lightning.energy.nvml import NvmlEnergyMeter
from sci_lightning.energy.ram import RamEstimateMeter
from sci_lightning.settings import EnergyConfig, coerce

__all__ = ["NullMeter", "build_meters"]


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
        return [
            ComponentEnergy(
                self.component, self.device, 0.0, "none", METHODS["none"][0], "partial", [self.reason]
            )
        ]


def build_meters(
    cfg: EnergyConfig | Mapping[str, Any] | None,
    device_indices: list[int] | None,
    *,
    visible_devices: str | None = None,
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
    cfg = coerce(EnergyConfig, cfg, "energy")
    if not cfg.enabled:
        return []
    meters: list[EnergyMeter] = []
    if cfg.gpu != "off" and device_indices:
        mode = "sampling" if cfg.gpu == "sampling" else "auto"
        kwargs: dict[str, Any] = {}
        if visible_devices is not None:
            kwargs["visible_devices"] = visible_devices
        meters.append(
            NvmlEnergyMeter(
                list(device_indices), mode=mode, sampling_interval_s=cfg.gpu_sampling_interval_s, **kwargs
            )
        )
    if cfg.cpu != "off":
        estimate = CpuTimeEnergyMeter(tdp_w=cfg.cpu_tdp_w, cores=cfg.cpu_cores)
        if cfg.cpu in ("auto", "rapl"):
            domains, reason = find_rapl_domains(cfg.rapl_root)
            if reason is None:
                meters.append(
                    RaplEnergyMeter(cfg.rapl_root, fallback=estimate, include_dram=cfg.ram != "off")
                )
            else:
                if cfg.cpu == "rapl" or "not readable" in reason:
                    FaultLog("CPU energy (RAPL)").fault(
                        f"{reason}; CPU energy is estimated from CPU time instead"
                    )
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
