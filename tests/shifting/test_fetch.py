"""shifting/fetch.py: the provider's forecast handed to the planners; the SDK cross-check source."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries
from sci_lightning.shifting.fetch import fetch_interruptible_plan, fetch_plan
from sci_lightning.shifting.planner import PlanError

T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)


def _series(kind: str = "forecast") -> IntensitySeries:
    values = [400.0] * 5 + [100.0] * 2 + [400.0] * 20
    pts = [
        IntensityPoint(T0 + timedelta(hours=i), T0 + timedelta(hours=i + 1), v) for i, v in enumerate(values)
    ]
    return IntensitySeries(pts, "fake", "XX", "marginal", kind, generated_at=T0)


class Forecasts(IntensityProvider):
    name, region, signal_type = "fake", "XX", "marginal"

    def __init__(self, answer: object = None, kind: str = "forecast") -> None:
        self.answer, self.kind, self.asked = answer, kind, []

    def history(self, start, end):  # pragma: no cover - unused
        raise NotImplementedError

    def forecast(self, start=None, horizon=timedelta(hours=24)):
        self.asked.append((start, horizon))
        return self.answer if self.answer is not None else _series(self.kind)


class Sdk(Forecasts):
    """Answers like the Carbon Aware SDK provider: its own optimal window too."""

    def __init__(self, optimal_start: datetime, **kw) -> None:
        super().__init__(**kw)
        self.optimal_start, self.optimal_asked = optimal_start, []

    def forecast_with_optimal(self, start, horizon, window_size_min=None):
        self.optimal_asked.append(window_size_min)
        return _series(), [{"start": self.optimal_start, "g_per_kwh": 100.0}]


class Chain(Forecasts):
    """Like a FallbackProvider: the SDK is its primary."""

    def __init__(self, primary: Sdk, kind: str) -> None:
        super().__init__(kind=kind)
        self.primary = primary


def test_the_window_asked_of_the_provider_is_the_planning_window():
    prov = Forecasts()
    plan, check = fetch_plan(prov, timedelta(hours=2), now=T0 + timedelta(microseconds=5), window_h=12)
    assert prov.asked == [(T0, timedelta(hours=12))]  # whole seconds, as providers send them
    assert plan.best_start == T0 + timedelta(hours=5) and check is None


def test_a_provider_answering_something_else_is_a_plan_error():
    with pytest.raises(PlanError, match="returned list, not a forecast"):
        fetch_plan(Forecasts(answer=[1, 2]), timedelta(hours=2), now=T0)


def test_the_sdk_is_cross_checked_directly_or_as_the_chain_primary_that_answered():
    sdk = Sdk(T0 + timedelta(hours=5))
    _, check = fetch_plan(sdk, timedelta(hours=2), now=T0)
    assert check is not None and check["agrees"] and sdk.optimal_asked == [120]
    behind = Sdk(T0 + timedelta(hours=5))
    _, check = fetch_plan(Chain(behind, "forecast"), timedelta(hours=2), now=T0)
    assert check is not None and check["agrees"] and behind.optimal_asked == [120]
    unused = Sdk(T0)
    _, check = fetch_plan(Chain(unused, "fallback"), timedelta(hours=2), now=T0)  # the fallback answered
    assert check is None and unused.optimal_asked == []


def test_a_disagreeing_sdk_is_noted_in_the_plan():
    plan, check = fetch_plan(Sdk(T0 + timedelta(hours=1)), timedelta(hours=2), now=T0)
    assert check is not None and not check["agrees"]
    assert any("cross-check disagrees" in note for note in plan.notes)


def test_interruptible_plan_to_an_absolute_deadline_and_a_past_one():
    prov = Forecasts()
    iplan = fetch_interruptible_plan(prov, timedelta(hours=2), now=T0, deadline=T0 + timedelta(hours=20))
    assert prov.asked == [(T0, timedelta(hours=20))]
    assert iplan.slots[0].start == T0 + timedelta(hours=5)
    with pytest.raises(PlanError, match="in the past"):
        fetch_interruptible_plan(prov, timedelta(hours=2), now=T0, deadline=T0 - timedelta(hours=1))
