"""EnergyMonitor around a plain PyTorch training loop (no Lightning), on the scripted fake NVML.

Training step ``k`` (1-based) makes the fake GPU's energy counter advance by exactly
``k`` joules, so every window's energy is a known sum.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from datetime import datetime, timezone

import pytest
import torch
from fake_nvml import FakeGpu, FakeNvml, StepMeter

from sci_lightning.energy import EnergyMeterWarning, EnergyMonitor, Measurement, NvmlEnergyMeter

T0 = 1_700_000_000.0
BATCH = 8


class Loop:
    """A plain PyTorch loop on random data; each step costs the fake GPU ``step`` joules and 1 s."""

    def __init__(self, gpu: FakeGpu, monitor: EnergyMonitor, clock: list[float]) -> None:
        torch.manual_seed(0)
        self.gpu, self.monitor, self.clock = gpu, monitor, clock
        self.model = torch.nn.Linear(4, 2)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.1)
        self.step = 0

    def train_step(self) -> None:
        x, y = torch.randn(BATCH, 4), torch.randint(0, 2, (BATCH,))
        loss = torch.nn.functional.cross_entropy(self.model(x), y)
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.step += 1
        self.gpu.energy_mj += 1000 * self.step
        self.clock[0] += 1.0
        self.monitor.record_step(images=BATCH)

    def train_steps(self, n: int) -> None:
        for _ in range(n):
            self.train_step()


def _setup(monkeypatch, base_mj: int = 1_000_000, meters=(), **gpu_kw):
    gpu = FakeGpu(uuid="GPU-fake-0", energy_mj=base_mj, **gpu_kw)
    FakeNvml(gpus=[gpu]).install(monkeypatch)
    nvml = NvmlEnergyMeter([0], visible_devices=None, torch_uuids={}, start_sampler_thread=False)
    clock = [T0]
    syncs: list[float] = []
    monitor = EnergyMonitor([nvml, *meters], sync=lambda: syncs.append(clock[0]), clock=lambda: clock[0])
    return gpu, monitor, Loop(gpu, monitor, clock), syncs


def _gpu_j(m: Measurement) -> float:
    return sum(c.energy_j for c in m.components if c.device == "GPU-fake-0")


def test_nested_and_overlapping_windows_have_exact_joules(monkeypatch):
    gpu, monitor, loop, syncs = _setup(monkeypatch)
    monitor.begin_window("train")
    monitor.begin_window("epoch-0")
    for _ in range(2):
        loop.train_step()
    monitor.begin_window("overlap")  # from step 3 to step 6: crosses the epoch boundary
    for _ in range(2):
        loop.train_step()
    epoch0 = monitor.end_window("epoch-0")
    with monitor.measure("epoch-1") as epoch1:
        for _ in range(2):
            loop.train_step()
        overlap = monitor.end_window("overlap")
        assert monitor.open_windows == ["train", "epoch-1"]  # ending one left the others open
        for _ in range(2):
            loop.train_step()
    train = monitor.end_window("train")
    monitor.close()

    assert (_gpu_j(epoch0), _gpu_j(epoch1.measurement), _gpu_j(overlap), _gpu_j(train)) == (
        pytest.approx(1 + 2 + 3 + 4),
        pytest.approx(5 + 6 + 7 + 8),
        pytest.approx(3 + 4 + 5 + 6),
        pytest.approx(36.0),
    )
    (c,) = train.components
    assert (c.component, c.method, c.quality, c.status) == ("gpu", "nvml_energy_counter", "measured", "ok")
    assert (train.steps, train.images, overlap.steps, epoch0.images) == (8, 8 * BATCH, 4, 4 * BATCH)
    assert (train.duration_s, epoch0.duration_s, overlap.duration_s) == (8.0, 4.0, 4.0)
    assert train.started_at == datetime.fromtimestamp(T0, timezone.utc)
    assert overlap.ended_at == datetime.fromtimestamp(T0 + 6, timezone.utc)
    for m in (epoch0, epoch1.measurement, overlap, train):
        assert sum(i.energy_j for i in m.timeline) == pytest.approx(m.energy_j)
        assert m.timeline[0].start >= m.started_at and m.timeline[-1].end <= m.ended_at
    assert [i.energy_j for i in epoch0.timeline] == pytest.approx([1, 2, 3, 4])
    assert len(syncs) == 8  # every window edge, none per step
    assert train.counter_baselines_mj == {"GPU-fake-0": 1_000_000}


def test_window_misuse_is_refused():
    monitor = EnergyMonitor([StepMeter()], clock=lambda: T0)
    monitor.begin_window("a")
    with pytest.raises(ValueError, match="already open"):
        monitor.begin_window("a")
    with pytest.raises(ValueError, match="no open measurement window 'b'"):
        monitor.end_window("b")
    monitor.close()


class Flaky(StepMeter):
    """2 J per read, then a broken sensor from the 4th read on."""

    def read_j(self):
        if self.reads >= 3:
            raise RuntimeError("sensor on fire")
        return super().read_j()


def test_meter_fault_mid_window_warns_once_keeps_energy_so_far_and_is_recorded(monkeypatch):
    flaky = Flaky("cpu", "host-a", joules_per_read=2.0, method="cpu_time_tdp_estimate")
    gpu, monitor, loop, _ = _setup(monkeypatch, meters=[flaky])
    monitor.begin_window("train")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            loop.train_step()
        after_fault = monitor.peek("train")
        monitor.begin_window("late")  # begins after the fault: the frozen meter adds nothing
        for _ in range(3):
            loop.train_step()
        late = monitor.end_window("late")
        train = monitor.end_window("train")
    monitor.close()

    fault = [w for w in caught if "sensor on fire" in str(w.message)]
    assert len(fault) == 1 and issubclass(fault[0].category, EnergyMeterWarning)
    cpu = next(c for c in train.components if c.component == "cpu")
    assert cpu.energy_j == pytest.approx(2 * 3) and cpu.status == "partial"  # reads 1-3, then frozen
    assert any("sensor on fire" in n for n in cpu.notes)
    assert any("sensor on fire" in w for w in train.warnings) and any(
        "sensor on fire" in w for w in late.warnings
    )
    assert _gpu_j(train) == pytest.approx(sum(range(1, 7)))  # the healthy meter carried on
    assert _gpu_j(late) == pytest.approx(4 + 5 + 6) and train.energy_j == pytest.approx(21 + 6)
    assert after_fault.energy_j <= train.energy_j


def test_meter_own_fallback_mid_window_is_flagged(monkeypatch):
    gpu, monitor, loop, _ = _setup(monkeypatch, fail_counter_after=3)  # baseline + 2 step reads, then lost
    monitor.begin_window("train")
    with pytest.warns(EnergyMeterWarning, match="energy counter failed mid-run"):
        loop.train_steps(4)
    train = monitor.end_window("train")
    monitor.close()
    by_method = {c.method: c for c in train.components}
    assert by_method["nvml_energy_counter"].energy_j == pytest.approx(1 + 2)
    assert by_method["nvml_energy_counter"].status == "partial" and "nvml_power_sampling" in by_method
    assert any("mid-run" in w for w in train.warnings)


def test_resume_through_state_dict_adds_previous_parts_of_the_named_window(monkeypatch):
    gpu, monitor, loop, _ = _setup(monkeypatch)
    monitor.begin_window("train")
    for _ in range(3):
        loop.train_step()
    state = json.loads(json.dumps(monitor.state_dict()))  # plain data, as in a checkpoint
    monitor.close()

    # a new process: fresh driver counter, fresh monitor, same window name
    gpu2, monitor2, loop2, _ = _setup(monkeypatch, base_mj=9_000_000)
    loop2.step, loop2.clock[0] = 3, T0 + 100.0
    monitor2.load_state_dict(state)
    monitor2.begin_window("train")
    monitor2.begin_window("eval")  # not in the state: only its own energy
    for _ in range(2):
        loop2.train_step()
    eval_ = monitor2.end_window("eval")
    train = monitor2.end_window("train")
    monitor2.close()

    assert _gpu_j(train) == pytest.approx((1 + 2 + 3) + (4 + 5)) and _gpu_j(eval_) == pytest.approx(4 + 5)
    assert (train.parts, train.steps, train.images, train.duration_s) == (2, 5, 5 * BATCH, 5.0)
    assert train.started_at == datetime.fromtimestamp(T0, timezone.utc)
    assert sum(i.energy_j for i in train.timeline) == pytest.approx(train.energy_j)
    assert eval_.parts == 1

    with pytest.warns(EnergyMeterWarning, match="version"):
        EnergyMonitor([StepMeter()]).load_state_dict({"version": 0, "windows": {}})


def test_monitor_does_not_import_lightning():
    code = "import sys, sci_lightning.energy.monitor; sys.exit('lightning' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
