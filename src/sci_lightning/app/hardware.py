"""What a job ran on (host, CPU, GPUs, framework versions), for the run summary and the report."""

from __future__ import annotations

import os
import platform
import socket
from pathlib import Path
from typing import Any

import lightning as L
import timm
import torch

__all__ = ["hardware_info"]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware_info(trainer: L.Trainer | None = None) -> dict[str, Any]:
    """Host, CPU, framework versions and, given a Trainer, its devices (and GPU name)."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "timm": timm.__version__,
    }
    if trainer is not None:
        info.update(_trainer_devices(trainer))
    return info


def _trainer_devices(trainer: L.Trainer) -> dict[str, Any]:
    root = trainer.strategy.root_device
    info: dict[str, Any] = {
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
        "devices": trainer.num_devices,
        "num_nodes": trainer.num_nodes,
        "world_size": trainer.world_size,
        "device": str(root),
    }
    if root.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(root)
        info["cuda"] = torch.version.cuda
    return info
