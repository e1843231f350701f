"""The monitor's read throttle, resolution notes and idle baseline, on a fake clock and the fake NVML.

The fake GPU draws a constant ``POWER_W``: its energy counter is a function of the fake
clock, so a reading taken at any instant is exact and totals can be compared between a
monitor that reads every step and one that reads at most every 0.1 s.
"""

from __future__ import annotations

import pytest
from fake_nvml import FakeGpu, FakeNvml, StepMeter

from sci_lightning.energy import EnergyMonitor, NvmlEnergyMeter
from sci_lightning.energy.monitor import READ_SHARE

T0 = 1_700_000_000.0
POWER_W = 200.0
STEP_S = 1 / 64  # exact in binary, so the fake clock adds up exactly: 8 steps per 0.125 s


class Rig:
    """A fake clock, a fake GPU whose counter follows it, and a monitor over its NVML meter."""

    def __init__(
        self, monkeypatch, interval_s: float, *, mode: str = "auto", idle_baseline_s: float = 0.0
    ) -> None:
        self.now = [T0]
        self.gpu = FakeGpu(uuid="GPU-clock", energy_mj=self._counter_mj, power_mw=POWER_W * 1000)
        self.driver = FakeNvml(gpus=[self.gpu]).install(monkeypatch)
        self.nvml = NvmlEnergyMeter(
            [0],
            mode=mode,
            sampling_interval_s=0.1,
            clock=self.clock,
            visible_devices=None,
            torch_uuids={},
            start_sampler_thread=False,
        )
        self.monitor = EnergyMonitor(
            [self.nvml],
            sync=lambda: None,
            clock=self.clock,
            min_read_interval_s=interval_s,
            idle_baseline_s=idle_baseline_s,
            sleep=self.wait,
        )

    def clock(self) -> float:
        return self.now[0]

    def _counter_mj(self) -> int:
        return 5_000_000 + round((self.now[0] - T0) * POWER_W * 1000)

    def wait(self, seconds: float) -> None:
        self.now[0] += seconds

    def steps(self, n: int, step_s: float = STEP_S) -> None:
        for _ in range(n):
            self.wait(step_s)
            self.monitor.record_step(images=4)


def test_record_step_reads_only_when_due_and_every_edge_reads(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.125)
    m = rig.monitor
    m.begin_window("fit")  # starts the meters: baseline read
    m.advance()
    base = rig.driver.calls
    rig.steps(7)  # 7/64 s: no reading due
    assert rig.driver.calls == base and m.steps_read == 0
    rig.steps(1)  # 0.125 s: due
    assert rig.driver.calls == base + 1 and m.steps_read == 8
    rig.steps(3)
    assert rig.driver.calls == base + 1
    m.peek("fit")
    assert rig.driver.calls == base + 2 and m.steps_read == 11  # an edge reads at once
    m.advance()  # epoch end
    m.begin_window("epoch")
    m.end_window("epoch")
    assert rig.driver.calls == base + 5
    rig.steps(4)  # the edges reset the interval: nothing due yet
    assert rig.driver.calls == base + 5
    m.end_window("fit")
    assert rig.driver.calls == base + 6
    m.close()


def test_zero_interval_reads_every_step(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.0)
    rig.monitor.begin_window("fit")
    base = rig.driver.calls
    rig.steps(7)
    assert rig.driver.calls == base + 7
    rig.monitor.close()


def _run(monkeypatch, interval_s: float):
    rig = Rig(monkeypatch, interval_s)
    m = rig.monitor
    m.begin_window("fit")
    parts = []
    for epoch in range(3):
        m.begin_window("epoch")
        rig.steps(23 + epoch)
        parts.append(m.end_window("epoch"))
        m.advance()
    fit = m.end_window("fit")
    m.close()
    return fit, parts, rig.driver.calls


def test_totals_and_timeline_match_reading_every_step(monkeypatch):
    every, every_parts, every_calls = _run(monkeypatch, 0.0)
    throttled, parts, calls = _run(monkeypatch, 0.1)
    assert calls < every_calls / 3
    assert (
        throttled.energy_j == pytest.approx(every.energy_j) == pytest.approx(POWER_W * throttled.duration_s)
    )
    assert [p.energy_j for p in parts] == pytest.approx([p.energy_j for p in every_parts])
    assert (throttled.steps, throttled.images) == (every.steps, every.images) == (72, 288)
    assert sum(i.energy_j for i in throttled.timeline) == pytest.approx(throttled.energy_j)
    for interval in throttled.timeline:  # constant power: every interval's energy matches its span
        span_s = (interval.end - interval.start).total_seconds()
        assert interval.energy_j == pytest.approx(POWER_W * span_s, rel=1e-4)  # datetimes keep microseconds
    assert throttled.resolution[0].startswith("timeline:") and "0.1 s" in throttled.resolution[0]
    assert "every step" in every.resolution[0]


def test_expensive_reads_widen_the_interval(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.1)

    class Slow(StepMeter):  # a reading that takes 1 s of the (fake) monotonic clock
        def read_j(self):
            rig.wait(1.0)
            return super().read_j()

    m = EnergyMonitor([Slow()], sync=lambda: None, clock=rig.clock, min_read_interval_s=0.1)
    m.begin_window("fit")
    m.advance()
    assert m.read_interval_s == pytest.approx(1.0 / READ_SHARE)  # reading keeps to its share of wall time
    note = m.peek("fit").resolution[0]
    assert "widened from 0.1 s" in note
    m.close()


def test_short_window_note_for_the_counter(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.1)
    m = rig.monitor
    m.begin_window("fit")
    m.begin_window("short")
    rig.steps(3)  # 47 ms
    short = m.end_window("short")
    rig.steps(10)
    fit = m.end_window("fit")
    m.close()
    assert any(
        "47 ms window is shorter than the NVML energy counter's ~100 ms refresh" in n
        for n in short.resolution
    )
    assert not any("shorter than" in n for n in fit.resolution)


def test_power_sampled_figure_states_its_coverage(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.1, mode="sampling")
    m = rig.monitor
    m.begin_window("fit")
    for _ in range(4):  # 4 samples x 0.1 s over a 1 s window: 40 %
        rig.steps(16)
        rig.nvml.sample()
    fit = m.end_window("fit")
    m.close()
    (note,) = [n for n in fit.resolution if "power sampled" in n]
    assert "4 samples x 0.1 s = 40% coverage of the 1 s window" in note
    assert fit.to_result().resolution == fit.resolution


def test_idle_baseline_is_disclosed_not_subtracted(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.1, idle_baseline_s=2.0)
    m = rig.monitor
    m.begin_window("fit")  # measures 2 s of idle first
    assert rig.now[0] == pytest.approx(T0 + 2.0)
    rig.steps(64)
    fit = m.end_window("fit")
    m.close()
    assert fit.idle_power_w == {"GPU-clock": pytest.approx(POWER_W)}
    assert fit.energy_j == pytest.approx(POWER_W * 1.0)  # the window only: nothing subtracted, idle not added
    assert any("idle baseline over 2 s" in n and "not subtracted" in n for n in fit.resolution)
    result = fit.to_result()
    assert result.idle_power_w == fit.idle_power_w and result.to_dict()["idle_power_w"] == {
        "GPU-clock": pytest.approx(POWER_W)
    }


def test_idle_baseline_only_before_the_first_window(monkeypatch):
    rig = Rig(monkeypatch, interval_s=0.1)
    rig.monitor.begin_window("fit")
    with pytest.raises(ValueError, match="before the first window"):
        rig.monitor.measure_idle_baseline(1.0)
    rig.monitor.close()
