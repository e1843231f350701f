"""CarbonBudget: a real tiny fit that projects its total after every epoch, warns, or stops resumably."""

from __future__ import annotations

import json
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import torch
from fake_nvml import StepMeter, TinyModule
from lightning.pytorch import Trainer

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries
from sci_lightning.carbon.static import lookup_static
from sci_lightning.errors import ConfigError
from sci_lightning.lightning.callback import EnergyCarbonCallback
from sci_lightning.lightning.carbon_budget import CarbonBudget, CarbonBudgetWarning, project_job
from sci_lightning.lightning.checkpointing import AtomicCheckpointIO, LastCheckpoint

J_PER_READ = 3600.0  # 1 Wh per meter reading; with PUE 1.0, kWh = readings / 1000
STEPS_PER_EPOCH, EPOCHS = 8, 4  # TinyModule(n=64, batch_size=8)


def _energy(out: Path) -> EnergyCarbonCallback:
    return EnergyCarbonCallback(
        meters=[StepMeter("gpu", "GPU-a", J_PER_READ)],
        output_dir=str(out),
        energy={"min_read_interval_s": 0, "pue": 1.0},
        carbon={"provider": "static", "region": "FR"},
    )


def _fit(out: Path, callbacks: list, ckpt_path: str | None = None) -> Trainer:
    trainer = Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=EPOCHS,
        default_root_dir=str(out),
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        plugins=[AtomicCheckpointIO()],
        enable_checkpointing=any(isinstance(cb, LastCheckpoint) for cb in callbacks),
    )
    trainer.fit(TinyModule(n=64, batch_size=8), ckpt_path=ckpt_path)
    return trainer


def _report(out: Path) -> dict:
    return json.loads((out / "sci_report.json").read_text())


def test_projection_is_energy_per_step_times_planned_steps_and_forecast_for_the_rest():
    kwh, g = project_job(1.0, steps_done=2, steps_planned=8, so_far_g_per_kwh=100.0, rest_g_per_kwh=10.0)
    assert kwh == pytest.approx(4.0) and g == pytest.approx(1.0 * 100 + 3.0 * 10)
    assert project_job(1.0, 2, 8, 100.0, None) == (pytest.approx(4.0), pytest.approx(400.0))
    assert project_job(1.0, 2, 8, None, None) == (pytest.approx(4.0), None)


def test_stop_ends_the_fit_at_the_budget_with_a_resumable_checkpoint_and_says_so(tmp_path):
    first, second = tmp_path / "part1", tmp_path / "part2"
    energy = _energy(first)
    budget = CarbonBudget({"budget_kwh": 0.02, "budget_action": "stop"})  # the job needs ~0.03 kWh
    last = LastCheckpoint(first / "checkpoints", every_min=None)
    with pytest.warns(CarbonBudgetWarning, match="Stopped at the carbon budget after 8/32 steps"):
        trainer = _fit(first, [energy, budget, last])
    assert trainer.global_step == STEPS_PER_EPOCH  # stopped after the first epoch, cleanly
    assert energy.end.status == "completed" and budget.stopped

    report = _report(first)
    b = report["budget"]
    assert b["stopped"] and b["exceeded"] and b["action"] == "stop" and b["budget_kwh"] == 0.02
    assert (b["steps_done"], b["steps_planned"], b["fraction_done"]) == (8, 32, 0.25)
    assert b["projected_kwh"] == pytest.approx(b["energy_so_far_kwh"] * 4)
    assert b["projected_kwh"] > 0.02 and b["energy_so_far_kwh"] < 0.02
    assert b["intensity_so_far_g_per_kwh"] == pytest.approx(lookup_static("FR").g_per_kwh)  # static FR table
    assert b["projected_g"] == pytest.approx(lookup_static("FR").g_per_kwh * b["projected_kwh"])
    ckpt = first / "checkpoints" / "last.ckpt"
    assert b["checkpoint"] == str(ckpt) and "25.0% of the planned work" in b["statement"]
    assert ckpt.is_file()

    # resume without a budget: the job finishes, and its totals are the sum of both parts
    energy2 = _energy(second)
    trainer2 = _fit(
        second, [energy2, LastCheckpoint(second / "checkpoints", every_min=None)], ckpt_path=str(ckpt)
    )
    assert trainer2.global_step == STEPS_PER_EPOCH * EPOCHS
    part1, part2 = energy2.parts
    assert part1["steps"] == 8 and part2["steps"] == 24 and energy2.unmeasured_s == 0
    assert energy2.result.it_energy_j == pytest.approx(part1["it_energy_j"] + part2["it_energy_j"])
    assert part1["it_energy_j"] == pytest.approx(energy.result.it_energy_j)
    assert "budget" not in _report(second)


def test_stop_without_a_last_checkpoint_saves_one_at_fit_end(tmp_path):
    energy = _energy(tmp_path)
    budget = CarbonBudget({"budget_g": 0.5, "budget_action": "stop"})  # ~0.03 kWh x 56 g/kWh = ~1.7 g
    with pytest.warns(CarbonBudgetWarning, match="Stopped at the carbon budget"):
        trainer = _fit(tmp_path, [energy, budget])
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert trainer.global_step == STEPS_PER_EPOCH and ckpt.is_file()
    saved = torch.load(ckpt, weights_only=False)
    (state,) = [v for k, v in saved["callbacks"].items() if k.startswith("EnergyCarbonCallback")]
    assert state["parts"][-1]["status"] == "completed"  # saved after the energy window closed
    assert _report(tmp_path)["budget"]["checkpoint"] == str(ckpt)


def test_warn_only_warns_once_and_training_goes_on(tmp_path):
    energy = _energy(tmp_path)
    budget = CarbonBudget({"budget_kwh": 0.02})  # action: warn
    with pytest.warns(CarbonBudgetWarning) as caught:
        trainer = _fit(tmp_path, [energy, budget])
    assert len([w for w in caught if issubclass(w.category, CarbonBudgetWarning)]) == 1
    assert trainer.global_step == STEPS_PER_EPOCH * EPOCHS and not budget.stopped
    b = _report(tmp_path)["budget"]
    assert b["exceeded"] and not b["stopped"] and b["fraction_done"] == 1.0 and b["checkpoint"] is None
    assert not (tmp_path / "checkpoints").exists()


def test_within_the_budget_nothing_is_said_but_the_projection_is_reported(tmp_path):
    energy = _energy(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CarbonBudgetWarning)
        _fit(tmp_path, [energy, CarbonBudget({"budget_g": 1e6, "budget_kwh": 1e3, "budget_action": "stop"})])
    b = _report(tmp_path)["budget"]
    assert not b["exceeded"] and not b["stopped"] and b["steps_done"] == 32
    assert "within the budget" in b["statement"]


class _Cleaner(IntensityProvider):
    """100 g/kWh so far, a forecast of 10 g/kWh for every later time."""

    name, region = "fake", "XX"

    def history(self, start: datetime, end: datetime) -> IntensitySeries:
        return IntensitySeries(
            [IntensityPoint(start - timedelta(hours=1), end + timedelta(hours=1), 100.0)],
            "fake",
            "XX",
            "average",
            "measured",
        )

    def forecast(self, start=None, horizon=timedelta(hours=24)) -> IntensitySeries:
        return IntensitySeries(
            [IntensityPoint(start, start + horizon, 10.0)], "fake", "XX", "average", "forecast"
        )

    def current(self) -> IntensityPoint:
        now = datetime.now(timezone.utc)
        return IntensityPoint(now, now + timedelta(hours=1), 100.0)


def test_the_forecast_prices_the_remaining_steps(tmp_path):
    energy = _energy(tmp_path)
    budget = CarbonBudget({"budget_g": 1e6}, provider=_Cleaner())
    _fit(tmp_path, [energy, budget])
    b = budget.record  # after the last epoch nothing remains: the mean so far
    assert b["intensity_source"] == "mean so far" and b["projected_g"] == pytest.approx(
        100 * b["projected_kwh"]
    )

    fresh = CarbonBudget({"budget_g": 1e6}, provider=_Cleaner())
    so_far, rest, source = fresh._intensities(energy, datetime.now(timezone.utc), remaining_s=60.0)
    # a time-weighted mean over now-relative windows: equal up to rounding (100.00000000000001)
    assert (so_far, rest, source) == (pytest.approx(100.0), pytest.approx(10.0), "forecast")


def test_a_budget_needs_a_limit_and_valid_settings():
    with pytest.raises(ConfigError, match="needs a budget"):
        CarbonBudget({})
    with pytest.raises(ConfigError, match="sci.budget_action='halt'"):
        CarbonBudget({"budget_g": 1.0, "budget_action": "halt"})
    with pytest.raises(ConfigError, match="sci.budget_kwh"):
        CarbonBudget({"budget_kwh": -1.0})


@pytest.mark.slow
def test_the_app_wires_the_budget_from_the_sci_settings(compose, tmp_path):
    from tiny_run import TINY_FIT

    from sci_lightning.app.train import run

    overrides = [
        "experiment=quickstart",
        "model=densenet",
        "model.image_size=32",
        *TINY_FIT,
        "trainer.max_epochs=2",
        f"output_dir={tmp_path}",
        "sci.budget_kwh=1e-12",
        "sci.budget_action=stop",
    ]
    with pytest.warns(CarbonBudgetWarning, match="Stopped at the carbon budget after 2/4 steps"):
        run(compose(overrides))
    b = _report(tmp_path)["budget"]
    assert (
        b["stopped"]
        and b["fraction_done"] == 0.5
        and b["checkpoint"] == str(tmp_path / "checkpoints" / "last.ckpt")
    )
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()
