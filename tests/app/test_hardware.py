"""What a job ran on (sci_lightning.app.hardware): host, CPU, versions, and a real Trainer's devices."""

from __future__ import annotations

import os
import platform
import socket

import lightning as L
import timm
import torch

from sci_lightning.app import hardware
from sci_lightning.app.hardware import hardware_info


def test_without_a_trainer_the_host_cpu_and_versions_are_given():
    info = hardware_info()
    assert info == {
        "host": socket.gethostname(),
        "cpu": info["cpu"],
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": L.__version__,
        "timm": timm.__version__,
    }
    assert info["cpu"]  # never empty: /proc/cpuinfo's model name or the platform's


def test_a_cpu_trainer_adds_its_devices_and_no_gpu():
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False)
    info = hardware_info(trainer)
    assert {k: info[k] for k in ("accelerator", "devices", "num_nodes", "world_size", "device")} == {
        "accelerator": "cpu",
        "devices": 1,
        "num_nodes": 1,
        "world_size": 1,
        "device": "cpu",
    }
    assert "gpu" not in info and "cuda" not in info


def test_the_cpu_name_is_read_from_proc_cpuinfo(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n")
    real_path = hardware.Path
    monkeypatch.setattr(hardware, "Path", lambda p: cpuinfo if p == "/proc/cpuinfo" else real_path(p))
    assert hardware._cpu_name() == "Test CPU @ 2.00GHz"


def test_without_proc_cpuinfo_the_platform_names_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setattr(hardware, "Path", lambda p: tmp_path / "missing")
    assert hardware._cpu_name() == (platform.processor() or platform.machine())
