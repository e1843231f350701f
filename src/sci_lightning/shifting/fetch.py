"""Planning on a provider's forecast: fetch it, run the pure planner, cross-check the SDK.

The planners (:mod:`~sci_lightning.shifting.planner`, :mod:`~sci_lightning.shifting.interruptible`)
take a forecast and do no I/O; this module asks the intensity provider for the forecast
over the planning window and hands it to them. Every schedule mode and the plan command
plan through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from sci_lightning.carbon.base import IntensityPoint, IntensityProvider, IntensitySeries, ensure_utc
from sci_lightning.shifting.durations import format_duration
from sci_lightning.shifting.interruptible import InterruptiblePlan, plan_interruptible
from sci_lightning.shifting.planner import Align, Plan, PlanError, cross_check_optimal, plan_best_start

__all__ = ["fetch_interruptible_plan", "fetch_plan"]

log = logging.getLogger(__name__)

#: ``forecast_with_optimal(start, horizon, window_size_min=...)`` of the Carbon Aware SDK provider.
ForecastWithOptimal = Callable[..., tuple[IntensitySeries, Iterable[Any]]]


@runtime_checkable
class _OptimalForecaster(Protocol):
    """A provider that also returns its own optimal windows (the Carbon Aware SDK's)."""

    def forecast_with_optimal(
        self, start: datetime | None, horizon: timedelta, window_size_min: int | None = None
    ) -> tuple[IntensitySeries, Iterable[Any]]: ...


def fetch_plan(
    provider: IntensityProvider,
    duration: timedelta,
    *,
    now: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    window_h: float = 24.0,
    align: Align = "points",
) -> tuple[Plan, dict[str, Any] | None]:
    """Fetch the provider's forecast for the window and plan on it.

    When the provider is the Carbon Aware SDK (it has ``forecast_with_optimal(start,
    horizon, window_size_min)``), the SDK's own ``optimalDataPoints`` for the job length are
    fetched too and cross-checked against this planner run on the SDK's grid (candidates
    ``dataStartAt + k x resolution``). The second request is needed because the SDK replaces
    ``forecastData`` by window averages when ``windowSize`` is given. The returned dict says
    whether they agree; a disagreement is also logged and noted in the plan. A failing
    cross-check request never fails the plan.
    """
    now = ensure_utc(now, "now").replace(microsecond=0)  # providers send whole-second times (SDK dataStartAt)
    ws = ensure_utc(window_start, "window_start").replace(microsecond=0) if window_start else now
    we = window_end or ws + timedelta(hours=window_h)
    series = _forecast(provider, ws, we - ws)
    plan = plan_best_start(series, duration, window_start=ws, window_end=we, now=now, align=align)
    check = None
    sdk = _sdk_of(provider, series)
    if sdk is not None:
        check = sdk_cross_check(sdk, series, duration, ws, we, now)
        if check is not None and not check["agrees"]:
            msg = f"Carbon Aware SDK cross-check disagrees: {check['reason']}"
            log.warning(msg)
            plan = replace(plan, notes=(*plan.notes, msg))
    return plan, check


def fetch_interruptible_plan(
    provider: IntensityProvider,
    duration: timedelta,
    *,
    now: datetime,
    deadline: timedelta | datetime,
    min_slot: timedelta | str = "30m",
    pause_cost: timedelta | str = "5m",
    energy_kwh: float | None = None,
    pause_idle_w: float = 0.0,
) -> InterruptiblePlan:
    """Fetch the forecast from ``now`` to the deadline and plan the run slots on it.

    ``deadline`` is a length from ``now`` or an absolute time (a resumed job keeps its own).
    The plan CLI (``interruptible=true``) and ``schedule=interrupt`` both plan through here.
    """
    now = ensure_utc(now, "now").replace(microsecond=0)
    horizon = deadline - now if isinstance(deadline, datetime) else deadline
    if horizon <= timedelta(0):
        raise PlanError(f"the deadline is {format_duration(-horizon) if horizon else '0s'} in the past.")
    series = _forecast(provider, now, horizon)
    return plan_interruptible(
        series,
        duration,
        deadline=horizon,
        min_slot=min_slot,
        pause_cost=pause_cost,
        energy_kwh=energy_kwh,
        pause_idle_w=pause_idle_w,
        now=now,
    )


def _forecast(provider: IntensityProvider, start: datetime, horizon: timedelta) -> IntensitySeries:
    """The provider's forecast over ``[start, start + horizon)``; PlanError when it is not one."""
    series = provider.forecast(start=start, horizon=horizon)
    if not isinstance(series, IntensitySeries):
        raise PlanError(
            f"provider {getattr(provider, 'name', provider)!r} returned {type(series).__name__}, not a forecast."
        )
    return series


def _sdk_of(provider: IntensityProvider, series: IntensitySeries) -> ForecastWithOptimal | None:
    """The SDK's ``forecast_with_optimal`` when the forecast came from the Carbon Aware SDK."""
    if isinstance(provider, _OptimalForecaster):
        return provider.forecast_with_optimal
    primary = getattr(provider, "primary", None)  # a FallbackProvider whose primary (the SDK) answered
    if series.kind != "fallback" and isinstance(primary, _OptimalForecaster):
        return primary.forecast_with_optimal
    return None


def sdk_cross_check(
    forecast_with_optimal: ForecastWithOptimal,
    series: IntensitySeries,
    duration: timedelta,
    window_start: datetime,
    window_end: datetime,
    now: datetime,
) -> dict[str, Any] | None:
    """Ask the SDK for its optimal window of ``duration`` and compare with the planner on the SDK's grid.

    Returns None when the duration is not whole minutes (the SDK's ``windowSize`` unit).
    """
    minutes = duration.total_seconds() / 60
    if minutes != int(minutes):
        return None
    try:
        _, optimal = forecast_with_optimal(
            window_start, window_end - window_start, window_size_min=int(minutes)
        )
        sdk_grid = plan_best_start(
            series, duration, window_start=window_start, window_end=window_end, now=now, align="window_start"
        )
    except Exception as exc:  # the cross-check is a bonus, never a failure
        log.warning("Carbon Aware SDK cross-check skipped: %s", exc)
        return {"agrees": False, "reason": f"cross-check not possible: {exc}"}
    out = cross_check_optimal(sdk_grid, [_optimal_window(o) for o in optimal or []])
    out["grid"] = "window_start (the SDK's dataStartAt + k x resolution)"
    return out


def _optimal_window(found: Any) -> IntensityPoint | tuple[datetime, float]:
    """One of the SDK's optimal windows: its provider dict (``start``, ``g_per_kwh``) or as given."""
    if isinstance(found, dict):
        return found["start"], float(found["g_per_kwh"])
    return found
