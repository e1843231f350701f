"""NVML meter against a scripted fake driver (pynvml functions replaced at the NVML boundary)."""

from __future__ import annotations

import math
import sys
import warnings

import pynvml
import pytest
from fake_nvml import FakeGpu, FakeNvml

from sci_lightning.energy import (
    EnergyMeterWarning,
    NvmlEnergyMeter,
    parse_cuda_visible_devices,
    resolve_nvml_indices,
)

UUIDS = ["GPU-aaaa1111-0000", "GPU-bbbb2222-0000", "GPU-cccc3333-0000", "GPU-dddd4444-0000"]


def _fake(monkeypatch, **kw) -> FakeNvml:
    return FakeNvml(gpus=[FakeGpu(uuid=u, **kw) for u in UUIDS]).install(monkeypatch)


def _meter(indices, **kw) -> NvmlEnergyMeter:
    kw.setdefault("visible_devices", None)
    kw.setdefault("torch_uuids", {})
    kw.setdefault("start_sampler_thread", False)
    return NvmlEnergyMeter(indices, **kw)


# ------------------------------------------------------------------ counter path
def test_counter_path_reads_millijoule_deltas_for_selected_gpu_only(monkeypatch):
    fake = _fake(monkeypatch)
    m = _meter([1])
    m.start()
    assert m.read_j() == {UUIDS[1]: 0.0}
    fake.gpus[1].energy_mj += 2_500  # 2.5 J on the metered GPU
    fake.gpus[0].energy_mj += 99_000  # another GPU: must be ignored
    assert m.read_j() == {UUIDS[1]: pytest.approx(2.5)}
    fake.gpus[1].energy_mj += 500
    m.stop()
    (c,) = m.components()
    assert (c.component, c.device, c.method, c.quality, c.status) == (
        "gpu",
        UUIDS[1],
        "nvml_energy_counter",
        "measured",
        "ok",
    )
    assert c.energy_j == pytest.approx(3.0)
    assert m.counter_baselines_mj() == {UUIDS[1]: 1_000_000}
    assert fake.gpus[1].power_reads == 0  # the counter path takes no power samples


# ------------------------------------------------------------------ sampling path
def _analytic_energy(t1: float) -> float:
    # p(t) = 150 + 100 sin(2 pi t / 7) + 0.5 t  [W]
    return 150 * t1 + 100 * 7 / (2 * math.pi) * (1 - math.cos(2 * math.pi * t1 / 7)) + 0.25 * t1**2


@pytest.mark.parametrize("field_supported", [True, False])
def test_power_sampling_trapezoid_matches_analytic_curve(monkeypatch, field_supported):
    clock = {"t": 0.0}
    power = lambda: 1000.0 * (150 + 100 * math.sin(2 * math.pi * clock["t"] / 7) + 0.5 * clock["t"])  # noqa: E731
    fake = FakeNvml(
        gpus=[
            FakeGpu(uuid=UUIDS[0], power_mw=power, counter_supported=False, field_supported=field_supported)
        ]
    )
    fake.install(monkeypatch)
    m = _meter([0], clock=lambda: clock["t"])
    m.start()  # counter unsupported -> sampling, first sample at t=0
    dt, t1 = 0.1, 53.3
    for i in range(1, int(round(t1 / dt)) + 1):
        clock["t"] = i * dt
        m.sample()
    got = m.read_j()[UUIDS[0]]
    want = _analytic_energy(clock["t"])
    assert abs(got - want) / want < 0.01
    (c,) = m.components()
    assert c.method == "nvml_power_sampling" and c.quality == "measured" and c.status == "ok"
    assert any("unsupported" in n for n in c.notes)
    source = "NVML_FI_DEV_POWER_INSTANT" if field_supported else "nvmlDeviceGetPowerUsage"
    assert any(source in n for n in c.notes)


def test_forced_sampling_mode_uses_power_even_with_counter(monkeypatch):
    fake = _fake(monkeypatch, power_mw=200_000.0)
    clock = {"t": 10.0}
    m = _meter([0], mode="sampling", clock=lambda: clock["t"])
    m.start()
    clock["t"] = 12.0
    m.sample()
    assert m.read_j()[UUIDS[0]] == pytest.approx(400.0)  # 200 W x 2 s
    assert fake.gpus[0].counter_reads == 0


def test_sampler_thread_integrates_in_background(monkeypatch):
    _fake(monkeypatch, counter_supported=False, power_mw=50_000.0)
    m = NvmlEnergyMeter([0], sampling_interval_s=0.01, visible_devices=None, torch_uuids={})
    m.start()
    assert m._thread is not None and m._thread.is_alive()
    import time

    deadline = time.monotonic() + 5
    while m.read_j()[UUIDS[0]] <= 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    m.stop()
    assert m._thread is None
    assert m.read_j()[UUIDS[0]] > 0


# ------------------------------------------------------------------ device selection
def test_parse_cuda_visible_devices_stops_at_first_invalid_entry():
    assert parse_cuda_visible_devices(None) is None
    assert parse_cuda_visible_devices("") == []
    assert parse_cuda_visible_devices("2, 0") == ["2", "0"]
    assert parse_cuda_visible_devices("1,-1,2") == ["1"]
    assert parse_cuda_visible_devices("GPU-cccc,GPU-aaaa") == ["GPU-cccc", "GPU-aaaa"]


@pytest.mark.parametrize(
    ("visible", "cuda_index", "nvml_index"),
    [
        (None, 2, 2),
        ("2,3", 1, 3),
        ("3,0", 0, 3),
        ("GPU-cccc3333-0000,GPU-aaaa1111-0000", 1, 0),
        ("GPU-dddd", 0, 3),  # abbreviated UUIDs are allowed by CUDA
        ("bbbb2222-0000", 0, 1),
    ],
)
def test_resolve_cuda_index_to_nvml_index(visible, cuda_index, nvml_index):
    assert resolve_nvml_indices([cuda_index], UUIDS, visible) == [nvml_index]


def test_resolve_prefers_torch_uuids_and_rejects_unknown():
    assert resolve_nvml_indices([0], UUIDS, "0", torch_uuids={0: "dddd4444-0000"}) == [3]
    with pytest.raises(LookupError, match="not in CUDA_VISIBLE_DEVICES"):
        resolve_nvml_indices([2], UUIDS, "0,1")
    with pytest.raises(LookupError, match="matches 0 NVML devices"):
        resolve_nvml_indices([0], UUIDS, "GPU-ffff")
    with pytest.raises(LookupError, match="matches 4 NVML devices"):
        resolve_nvml_indices([0], UUIDS, "GPU-")  # ambiguous prefix


def test_meter_honours_cuda_visible_devices_from_environment(monkeypatch):
    fake = _fake(monkeypatch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-cccc3333-0000,GPU-aaaa1111-0000")
    m = NvmlEnergyMeter([1], torch_uuids={}, start_sampler_thread=False)
    m.start()
    fake.gpus[0].energy_mj += 1000
    assert m.read_j() == {UUIDS[0]: pytest.approx(1.0)}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,2")
    m2 = NvmlEnergyMeter([0], torch_uuids={}, start_sampler_thread=False)
    m2.start()
    assert list(m2.read_j()) == [UUIDS[3]]


# ------------------------------------------------------------------ faults
def test_counter_failure_mid_run_falls_back_to_sampling_warns_once_and_flags_partial(monkeypatch):
    clock = {"t": 0.0}
    fake = FakeNvml(gpus=[FakeGpu(uuid=UUIDS[0], power_mw=100_000.0, fail_counter_after=3)]).install(
        monkeypatch
    )
    m = _meter([0], clock=lambda: clock["t"])
    m.start()  # counter read 1 (baseline)
    fake.gpus[0].energy_mj += 4_000
    assert m.read_j()[UUIDS[0]] == pytest.approx(4.0)  # read 2
    fake.gpus[0].energy_mj += 1_000
    assert m.read_j()[UUIDS[0]] == pytest.approx(5.0)  # read 3
    clock["t"] = 1.0
    with pytest.warns(EnergyMeterWarning, match="energy counter failed mid-run") as rec:
        assert m.read_j()[UUIDS[0]] == pytest.approx(5.0)  # read 4 raises GpuIsLost -> sampling from t=1
    assert len(rec) == 1
    clock["t"] = 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        m.sample()
        assert m.read_j()[UUIDS[0]] == pytest.approx(5.0 + 200.0)  # + 100 W x 2 s
    comps = {c.method: c for c in m.components()}
    assert comps["nvml_energy_counter"].energy_j == pytest.approx(5.0)
    assert comps["nvml_power_sampling"].energy_j == pytest.approx(200.0)
    assert {c.status for c in comps.values()} == {"partial"}
    assert any("GPU is lost" in n for n in comps["nvml_power_sampling"].notes)
    assert any("mid-run" in n for n in m.notes)


def test_power_failure_after_counter_failure_stops_but_keeps_energy(monkeypatch):
    clock = {"t": 0.0}
    gpu = FakeGpu(uuid=UUIDS[0], power_mw=100_000.0, fail_counter_after=1)
    FakeNvml(gpus=[gpu]).install(monkeypatch)
    m = _meter([0], clock=lambda: clock["t"])
    m.start()
    with pytest.warns(EnergyMeterWarning):
        m.read_j()
    clock["t"] = 1.0
    m.sample()
    monkeypatch.setattr(
        pynvml, "nvmlDeviceGetFieldValues", lambda h, ids: (_ for _ in ()).throw(pynvml.NVMLError_GpuIsLost())
    )
    clock["t"] = 2.0
    m.sample()
    m.sample()
    assert m.read_j()[UUIDS[0]] == pytest.approx(100.0)
    methods = {c.method for c in m.components()}
    assert "none" in methods


def test_nvml_init_failure_gives_flagged_none_component(monkeypatch):
    FakeNvml(gpus=[FakeGpu(uuid=UUIDS[0])], init_error=pynvml.NVMLError_DriverNotLoaded).install(monkeypatch)
    m = _meter([0])
    with pytest.warns(EnergyMeterWarning, match="driver"):
        m.start()
    assert m.read_j() == {}
    (c,) = m.components()
    assert (c.method, c.status, c.energy_j, c.quality) == ("none", "partial", 0.0, "estimated")
    m.stop()


def test_missing_pynvml_library_is_reported_with_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    m = _meter([0])
    with pytest.warns(EnergyMeterWarning, match="pip install nvidia-ml-py"):
        m.start()
    (c,) = m.components()
    assert c.method == "none" and "nvidia-ml-py" in c.notes[0]


def test_unknown_visible_device_is_reported_not_raised(monkeypatch):
    _fake(monkeypatch)
    m = _meter([0], visible_devices="GPU-ffff")
    with pytest.warns(EnergyMeterWarning, match="cannot tell which GPU"):
        m.start()
    assert m.components()[0].method == "none"


def test_meter_pickles_before_start(monkeypatch):
    import pickle

    _fake(monkeypatch)
    m = _meter([0])
    m.start()
    clone = pickle.loads(pickle.dumps(m))
    assert clone.device_indices == [0] and clone._gpus == []
