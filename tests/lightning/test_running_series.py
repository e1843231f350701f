"""lightning/running_series.py: the carbon story as lines, in real (tiny, CPU) fits with a scripted
10 W meter on a scripted clock (1 s a training step) and a constant 100 gCO2e/kWh grid, so every point
is exact: when points are logged, energy, emissions, SCI so far per unit, the projected SCI, cost
and time, the provider asked at most once per refresh, and a fault that leaves training alone.

TensorBoard's reader on the same series: tests/sci/test_loggers.py."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripted import ConstantPowerMeter, ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.carbon.base import IntensitySeries
from sci_lightning.carbon.static import StaticProvider
from sci_lightning.lightning import running_series
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.publish import publish
from sci_lightning.lightning.running_series import RunningSciSeries

P_W, G_PER_KWH = 10.0, 100.0
J_PER_KWH = 3.6e6


class _Grid(StaticProvider):
    """A constant grid that counts the times it is asked for its history."""

    def __init__(self) -> None:
        super().__init__("FR", g_per_kwh=G_PER_KWH)
        self.asked = 0

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        self.asked += 1
        return super().history(start, end)


class _ValModule(ScriptedModule):
    def validation_step(self, batch, batch_idx) -> None:
        super().validation_step(batch, batch_idx)
        self.log("val/acc", 0.75)


@pytest.fixture
def clock(monkeypatch) -> ScriptClock:
    """The scripted clock, also the series' clock (elapsed time, the provider's refresh)."""
    clock = ScriptClock()
    monkeypatch.setattr(running_series, "time", SimpleNamespace(monotonic=clock))
    return clock


@pytest.fixture
def points(monkeypatch) -> list[tuple[int, dict[str, float]]]:
    """Every point the series published (its step, the values known), as it reached the loggers."""
    published: list[tuple[int, dict[str, float]]] = []

    def record(trainer, metrics, step=None, **kw) -> None:
        published.append((int(step or 0), {k: v for k, v in metrics.items() if v is not None}))
        publish(trainer, metrics, step=step, **kw)

    monkeypatch.setattr(running_series, "publish", record)
    return published


def _fit(tmp_path: Path, clock: ScriptClock, series: RunningSciSeries | None, energy: bool = True, **kw):
    callbacks: list = []
    if energy:
        meter = ConstantPowerMeter(clock, P_W)
        out = tempfile.mkdtemp(
            prefix="out", dir=tmp_path
        )  # each fit its own folder: a run's results are kept
        callbacks.append(EnergyCarbonCallback(meters=[meter], output_dir=out, clock=clock, compute_sci=False))
    callbacks += [series] if series is not None else []
    kw.setdefault("max_epochs", 2)
    kw.setdefault("limit_val_batches", 0)
    trainer = quiet_trainer(
        tmp_path,
        callbacks,
        num_sanity_val_steps=0,
        **kw,
    )
    trainer.fit(_ValModule(clock, n=32, batch_size=8, eval_s=0.0))  # 4 batches an epoch, 1 s each


def _kwh(seconds: float) -> float:
    return P_W * seconds / J_PER_KWH


def test_points_on_the_first_batch_every_n_batches_and_every_epoch_end(tmp_path, clock, points):
    sci = {"functional_unit": "epoch", "price_per_hour_usd": 3.6}
    _fit(tmp_path, clock, RunningSciSeries(sci, provider=_Grid(), log_every_n_steps=2))
    # batches 1, 2, (4: its epoch's last, at the epoch end), epoch 1 end, 6, (8), epoch 2 end
    assert [step for step, _ in points] == [0, 1, 4, 5, 8]  # Lightning's own logging steps
    seconds = [1, 2, 4, 6, 8]  # scripted seconds (= batches run) at each point
    epochs = [0.25, 0.5, 1.0, 1.5, 2.0]  # epochs done, the current one's share included
    for (_, m), s, r in zip(points, seconds, epochs):
        operational_mg = _kwh(s) * G_PER_KWH * 1000
        assert m["results/energy_wh"] == pytest.approx(_kwh(s) * 1000)
        assert m["sci/so_far/intensity_g_per_kwh"] == pytest.approx(G_PER_KWH)
        assert m["sci/so_far/operational_mg"] == pytest.approx(operational_mg)
        assert m["results/emissions_mg"] == pytest.approx(operational_mg)
        assert m["sci/so_far/sci_mg"] == pytest.approx(operational_mg / r)
        assert m["results/sci"] == pytest.approx(operational_mg / r / 1000)
        # energy per step so far x 8 steps planned, at 100 g/kWh, per the 2 epochs planned
        assert m["sci/projected/sci_mg"] == pytest.approx(_kwh(8) * G_PER_KWH * 1000 / 2)
        assert m["results/fit_time_s"] == pytest.approx(s)
        assert m["results/cost_usd"] == pytest.approx(s / 3600 * 3.6)
        assert "results/val_acc" not in m  # no validation in this fit


def test_the_job_unit_divides_by_one_and_other_units_are_known_only_at_the_end(tmp_path, clock, points):
    _fit(tmp_path, clock, RunningSciSeries({"functional_unit": "job"}, provider=_Grid()), max_epochs=1)
    (_, last) = points[-1]
    assert last["sci/so_far/sci_mg"] == pytest.approx(last["sci/so_far/operational_mg"])
    assert last["sci/projected/sci_mg"] == pytest.approx(_kwh(4) * G_PER_KWH * 1000)
    points.clear()
    _fit(tmp_path, clock, RunningSciSeries({"functional_unit": "1000_images"}, provider=_Grid()))
    assert len(points) == 3  # the first batch (the rate is the Trainer's 50) and the 2 epoch ends
    for _, m in points:
        assert "sci/so_far/sci_mg" not in m and "results/sci" not in m and "sci/projected/sci_mg" not in m
        assert m["sci/so_far/operational_mg"] > 0


def test_the_rate_defaults_to_the_trainers_and_zero_logs_epoch_ends_only(tmp_path, clock, points):
    _fit(tmp_path, clock, RunningSciSeries(provider=_Grid()), log_every_n_steps=3)
    assert [step for step, _ in points] == [0, 2, 4, 5, 8]  # batches 1, 3, epoch 1, 6, epoch 2
    points.clear()
    _fit(tmp_path, clock, RunningSciSeries(provider=_Grid(), log_every_n_steps=0))
    assert [step for step, _ in points] == [4, 8]


def test_val_accuracy_joins_from_the_first_validation_on(tmp_path, clock, points):
    _fit(tmp_path, clock, RunningSciSeries(provider=_Grid(), log_every_n_steps=2), limit_val_batches=1)
    assert [m.get("results/val_acc") for _, m in points] == [None, None, 0.75, 0.75, 0.75]


def test_the_provider_is_asked_at_most_once_per_refresh(tmp_path, clock, points):
    grid = _Grid()
    _fit(tmp_path, clock, RunningSciSeries(provider=grid, log_every_n_steps=1, intensity_refresh_s=60.0))
    assert grid.asked == 1  # 8 scripted seconds: the first answer serves every point
    grid = _Grid()
    _fit(tmp_path, clock, RunningSciSeries(provider=grid, log_every_n_steps=1, intensity_refresh_s=2.0))
    assert grid.asked == 4  # at 1, 3, 5 and 7 s (the points at 2, 4, 6, 8 s reuse the last answer)


def test_without_a_running_energy_callback_nothing_is_logged(tmp_path, clock, points):
    _fit(tmp_path, clock, RunningSciSeries(provider=_Grid(), log_every_n_steps=1), energy=False)
    assert points == []


def test_a_provider_fault_leaves_the_carbon_series_out_and_keeps_the_energy(tmp_path, clock, points):
    class Down(_Grid):
        def history(self, start, end):
            raise OSError("grid API down")

        def current(self):
            raise OSError("grid API down")

    with pytest.warns(UserWarning, match="grid API down"):
        _fit(tmp_path, clock, RunningSciSeries(provider=Down(), log_every_n_steps=0))
    assert [sorted(m) for _, m in points] == [
        ["results/cost_usd", "results/energy_wh", "results/fit_time_s"]
    ] * 2
    assert points[-1][1]["results/energy_wh"] == pytest.approx(_kwh(8) * 1000)


def test_running_series_fault_warns_once_and_training_goes_on(tmp_path, clock, points):
    class Broken(RunningSciSeries):
        def so_far(self, trainer, energy, epochs_done=None):
            raise RuntimeError("no projection")

    with pytest.warns(UserWarning, match="RunningSciSeries: no running series") as seen:
        _fit(tmp_path, clock, Broken(provider=_Grid(), log_every_n_steps=1))
    assert sum("RunningSciSeries" in str(w.message) for w in seen) == 1 and points == []
