"""lightning/first_epoch_planner.py: in real (tiny, CPU) fits whose every step takes a scripted 450 s,
the first epoch is timed exactly (4 steps: 1800 s), the job's duration estimated from it (x max_epochs)
and the carbon-aware start planned once on the provider's forecast; a planning fault only warns."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest
from scripted import ScriptClock, ScriptedModule, quiet_trainer

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries, ProviderError
from sci_lightning.lightning import first_epoch_planner
from sci_lightning.lightning.first_epoch_planner import FirstEpochPlanner
from sci_lightning.settings import ScheduleConfig

T0 = datetime(2026, 6, 1, tzinfo=timezone.utc)
STEP_S = 450.0


class _Forecast(IntensityProvider):
    """An hourly forecast from T0: 400 gCO2e/kWh, 100 for the two hours from ``dip_at_h``."""

    name, region, signal_type = "forecast", "XX", "marginal"

    def __init__(self, dip_at_h: int = 5, fail: bool = False) -> None:
        self.dip_at_h, self.fail, self.calls = dip_at_h, fail, 0

    def history(self, start, end) -> IntensitySeries:  # pragma: no cover - the planner asks forecasts only
        raise NotImplementedError

    def forecast(self, start=None, horizon=timedelta(hours=24)) -> IntensitySeries:
        self.calls += 1
        if self.fail:
            raise ProviderError(self.name, "service down.", "try later.")
        values = [100.0 if self.dip_at_h <= h < self.dip_at_h + 2 else 400.0 for h in range(30)]
        points = [
            IntensityPoint(T0 + timedelta(hours=h), T0 + timedelta(hours=h + 1), v)
            for h, v in enumerate(values)
        ]
        return IntensitySeries(points, "forecast", "XX", "marginal", "forecast", generated_at=T0)


@pytest.fixture
def clock(monkeypatch) -> ScriptClock:
    """The scripted clock the model advances, also the planner's epoch timer."""
    clock = ScriptClock()
    monkeypatch.setattr(first_epoch_planner, "time", SimpleNamespace(perf_counter=clock))
    return clock


def _fit(tmp_path: Path, clock: ScriptClock, planner: FirstEpochPlanner, **kw) -> ScriptedModule:
    kw.setdefault("max_epochs", 2)
    model = ScriptedModule(clock, n=32, batch_size=8, train_s=STEP_S)  # 4 steps: a 1800 s epoch
    quiet_trainer(
        tmp_path,
        [planner],
        num_sanity_val_steps=0,
        limit_val_batches=0,
        **kw,
    ).fit(model)
    return model


def test_the_first_epoch_times_the_job_and_the_start_is_planned_once(tmp_path, clock):
    provider = _Forecast(dip_at_h=5)
    planner = FirstEpochPlanner(ScheduleConfig(mode="report", window_h=12.0), provider, started_at=T0)
    assert planner.outcome is None
    _fit(tmp_path, clock, planner)
    outcome = planner.outcome
    assert outcome is not None and outcome.plan is not None and provider.calls == 1  # not again at epoch 2
    assert outcome.plan.duration == timedelta(seconds=1800 * 2)  # first epoch x max_epochs
    assert (outcome.mode, outcome.reason, outcome.duration_source) == ("report", "no_shift", "first_epoch")
    assert outcome.plan.best_start == T0 + timedelta(hours=5) and outcome.started_at == T0
    assert outcome.plan.best_mean_g_per_kwh == 100.0 and outcome.plan.now_mean_g_per_kwh == 400.0


def test_the_estimate_scales_with_max_epochs(tmp_path, clock):
    planner = FirstEpochPlanner(ScheduleConfig(mode="report", window_h=12.0), _Forecast(), started_at=T0)
    _fit(tmp_path, clock, planner, max_epochs=3)
    assert planner.outcome is not None and planner.outcome.plan is not None
    assert planner.outcome.plan.duration == timedelta(seconds=1800 * 3)


def test_a_provider_given_lazily_is_built_when_the_plan_is_made(tmp_path, clock):
    built: list[_Forecast] = []

    def provider() -> _Forecast:
        built.append(_Forecast())
        return built[-1]

    planner = FirstEpochPlanner(ScheduleConfig(mode="report", window_h=12.0), provider, started_at=T0)
    assert built == []
    _fit(tmp_path, clock, planner, max_epochs=1)
    assert len(built) == 1 and planner.outcome is not None and planner.outcome.plan is not None


def test_a_provider_fault_is_recorded_in_the_outcome_and_training_goes_on(tmp_path, clock):
    planner = FirstEpochPlanner(ScheduleConfig(mode="report"), _Forecast(fail=True), started_at=T0)
    model = _fit(tmp_path, clock, planner)
    assert model.calls["train"] == 8
    assert planner.outcome is not None and planner.outcome.reason == "planning_failed"
    assert planner.outcome.plan is None and "service down" in " ".join(planner.outcome.notes)


def test_a_planning_error_warns_and_leaves_no_outcome(tmp_path, clock):
    bad = {"mode": "report", "windw_h": 12}  # a misspelt setting: the planner refuses it
    planner = FirstEpochPlanner(bad, _Forecast(), started_at=T0)  # type: ignore[arg-type]
    with pytest.warns(UserWarning, match=r"carbon-aware planning after the first epoch failed \(.*windw_h"):
        model = _fit(tmp_path, clock, planner)
    assert planner.outcome is None and model.calls["train"] == 8
