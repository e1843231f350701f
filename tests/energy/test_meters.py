"""energy/meters.py: which meters ``build_meters`` picks for each setting (RAPL on a fake sysfs tree,
no GPU touched before ``start``) and ``NullMeter``, the component that cannot be measured."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from sci_lightning.energy import (
    CpuTimeEnergyMeter,
    EnergyConfig,
    EnergyMeterWarning,
    NvmlEnergyMeter,
    RamEstimateMeter,
    RaplEnergyMeter,
    build_meters,
)
from sci_lightning.energy.meters import NullMeter
from sci_lightning.energy.nvml import _UNSET
from sci_lightning.errors import ConfigError


def _rapl(root: Path, *names: str) -> Path:
    """A powercap tree with readable counters: ``package-0`` at intel-rapl:0, ``dram`` under it."""
    for name in names:
        d = root / ("intel-rapl:0" if name.startswith("package") else "intel-rapl:0:0")
        d.mkdir(parents=True)
        (d / "name").write_text(name + "\n")
        (d / "energy_uj").write_text("1000\n")
        (d / "max_energy_range_uj").write_text("1000000\n")
    return root


@pytest.fixture
def rapl_tree(tmp_path: Path) -> Path:
    return _rapl(tmp_path / "powercap", "package-0", "dram")


def _types(meters) -> list[type]:
    return [type(m) for m in meters]


def test_build_meters_auto_without_rapl_or_gpu_is_estimates(tmp_path):
    meters = build_meters(EnergyConfig(rapl_root=str(tmp_path / "none")), None)
    assert _types(meters) == [CpuTimeEnergyMeter, RamEstimateMeter]


def test_build_meters_picks_rapl_and_its_dram_and_nvml(rapl_tree):
    meters = build_meters(EnergyConfig(rapl_root=str(rapl_tree)), [0])
    assert _types(meters) == [NvmlEnergyMeter, RaplEnergyMeter]  # RAPL DRAM replaces the RAM estimate
    assert meters[1].include_dram and isinstance(meters[1].fallback, CpuTimeEnergyMeter)
    meters = build_meters(
        {"gpu": "sampling", "rapl_root": str(rapl_tree), "cpu": "estimate", "ram": "off"}, [1]
    )
    assert _types(meters) == [NvmlEnergyMeter, CpuTimeEnergyMeter]
    assert meters[0].mode == "sampling" and meters[0].device_indices == [1]


def test_build_meters_off_and_forced_rapl_missing(tmp_path):
    assert build_meters(EnergyConfig(enabled=False), [0]) == []
    assert build_meters(EnergyConfig(gpu="off", cpu="off", ram="off"), [0]) == []
    with pytest.warns(EnergyMeterWarning, match="no RAPL domains"):
        meters = build_meters(EnergyConfig(cpu="rapl", rapl_root=str(tmp_path)), None)
    assert isinstance(meters[0], CpuTimeEnergyMeter)


def test_rapl_absent_under_auto_falls_back_quietly(tmp_path):
    """No RAPL at all is the common case (a VM, a laptop without powercap): no warning under auto."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meters = build_meters(EnergyConfig(rapl_root=str(tmp_path / "none")), None)
    assert _types(meters) == [CpuTimeEnergyMeter, RamEstimateMeter]


def test_rapl_without_a_dram_domain_keeps_the_ram_estimate(tmp_path):
    root = _rapl(tmp_path / "powercap", "package-0")
    meters = build_meters(EnergyConfig(rapl_root=str(root), ram_w_per_gb=0.5), None)
    assert _types(meters) == [RaplEnergyMeter, RamEstimateMeter]
    assert meters[1].w_per_gb == 0.5


def test_ram_off_leaves_dram_out_of_rapl_and_no_estimate(rapl_tree):
    meters = build_meters(EnergyConfig(rapl_root=str(rapl_tree), ram="off"), None)
    assert _types(meters) == [RaplEnergyMeter] and meters[0].include_dram is False


def test_no_gpu_meter_without_devices_or_with_gpu_off(tmp_path):
    none = str(tmp_path / "none")
    for devices in (None, []):
        assert NvmlEnergyMeter not in _types(build_meters(EnergyConfig(rapl_root=none), devices))
    assert NvmlEnergyMeter not in _types(build_meters(EnergyConfig(rapl_root=none, gpu="off"), [0]))


def test_the_gpu_meter_gets_the_devices_the_rate_and_the_visible_devices(tmp_path):
    cfg = EnergyConfig(
        rapl_root=str(tmp_path), gpu="counter", gpu_sampling_interval_s=0.25, cpu="off", ram="off"
    )
    (gpu,) = build_meters(cfg, [2, 3], visible_devices="GPU-a,GPU-b,GPU-c,GPU-d")
    assert (gpu.device_indices, gpu.mode, gpu.sampling_interval_s) == ([2, 3], "auto", 0.25)
    assert gpu.visible_devices == "GPU-a,GPU-b,GPU-c,GPU-d"
    (gpu,) = build_meters(cfg, [0])
    assert gpu.visible_devices is _UNSET  # read from the environment when the meter starts


def test_the_cpu_estimate_gets_the_tdp_and_cores(tmp_path):
    meters = build_meters(EnergyConfig(cpu="estimate", cpu_tdp_w=120.0, cpu_cores=8, ram="off"), None)
    (cpu,) = meters
    assert isinstance(cpu, CpuTimeEnergyMeter) and (cpu.tdp_w, cpu.cores) == (120.0, 8)


@pytest.mark.parametrize(
    ("override", "match"),
    [
        (
            {"gpu": "nvidia"},
            "energy.gpu='nvidia': not one of the allowed values. Choose one of: auto, counter, sampling, off",
        ),
        ({"pue": 0.9}, r"energy.pue=0.9: must be >= 1"),
        ({"cpu_tdp_w": 0}, "energy.cpu_tdp_w"),
        ({"gpu_sampling_interval_s": -1}, "energy.gpu_sampling_interval_s"),
        ({"timeline_max_intervals": 1}, "energy.timeline_max_intervals"),
        ({"watts": 3}, r"energy.watts: no such setting"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(override, match):
    with pytest.raises(ConfigError, match=match):
        build_meters(override, None)


def test_null_meter_contributes_zero_and_says_why():
    m = NullMeter("gpu", "GPU-0", "NVML not installed; pip install nvidia-ml-py")
    m.start()
    assert m.read_j() == {"GPU-0": 0.0}
    (c,) = m.components()
    assert (c.component, c.device, c.energy_j, c.method, c.quality, c.status) == (
        "gpu",
        "GPU-0",
        0.0,
        "none",
        "estimated",
        "partial",
    )
    assert c.notes == ["NVML not installed; pip install nvidia-ml-py"]
