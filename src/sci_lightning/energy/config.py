"""Hydra schema for the ``energy/`` config group (owned by the energy meters)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EnergyConfig:
    enabled: bool = True
    # auto: the best available per component (NVML counter > NVML power sampling for GPUs;
    # RAPL > CPU-time estimate for CPUs). Other values force a method.
    gpu: str = "auto"  # auto | counter | sampling | off
    cpu: str = "auto"  # auto | rapl | estimate | off
    ram: str = "estimate"  # estimate | off
    gpu_sampling_interval_s: float = 0.1
    cpu_tdp_w: float = 65.0  # whole package TDP used by the CPU-time estimate
    cpu_cores: int | None = None  # physical cores behind cpu_tdp_w (None: os.cpu_count())
    ram_w_per_gb: float = 0.375
    pue: float = 1.0
    timeline_max_intervals: int = 512
    rapl_root: str = "/sys/class/powercap"
