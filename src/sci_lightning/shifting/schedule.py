"""Acting on a carbon-aware plan before training: ``none``, ``report``, ``wait`` or ``slurm``.

Modes (config group ``schedule/``, schema :class:`sci_lightning.settings.ScheduleConfig`):

* ``none`` -- no forecast is fetched; training starts at once.
* ``report`` -- plan, start now, and report what starting at the best time would have
  saved (:meth:`ScheduleOutcome.findings` -> the ``carbon_aware`` block of the run report).
* ``wait`` -- sleep until the best start with a visible countdown (one updating line on a
  terminal, a log line every ``log_every`` otherwise), re-plan every ``replan_every`` when
  a fresher forecast has been issued, never wait longer than ``max_wait``; Ctrl-C leaves
  cleanly (:class:`WaitCancelled`, a ``SystemExit`` with status 130: no traceback, no training).
* ``slurm`` -- compute the plan's start as an ``sbatch --begin`` time
  (:func:`slurm_begin_time`); a job already running can no longer be delayed, so it then
  behaves like ``report``. See docs/carbon_aware.md for the submitit launcher recipe.

The entry points (:func:`before_training`, :func:`plan_after_first_epoch`) take the
``schedule`` settings as a :class:`~sci_lightning.settings.ScheduleConfig`, a dict or an
OmegaConf node, checked once by :func:`~sci_lightning.settings.coerce`.

Forecast/provider faults never stop training: the job starts now, a warning is logged
once, and the fault is recorded in the outcome's notes. Only configuration mistakes
(a misspelt or impossible setting, an unreadable duration) raise :class:`ConfigError`.

The clock (a function returning an aware UTC datetime) and ``sleep`` are injected, so
tests never really sleep.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, TextIO

from sci_lightning.carbon.base import IntensityProvider, IntensitySeries, ensure_utc
from sci_lightning.errors import ConfigError
from sci_lightning.settings import ScheduleConfig, coerce
from sci_lightning.shifting.durations import format_duration, parse_duration
from sci_lightning.shifting.history import DurationEstimate
from sci_lightning.shifting.planner import (
    Plan,
    PlanError,
    carbon_aware_findings,
    cross_check_optimal,
    plan_best_start,
)

__all__ = [
    "Clock",
    "ScheduleOutcome",
    "WaitCancelled",
    "before_training",
    "fetch_interruptible_plan",
    "fetch_plan",
    "plan_after_first_epoch",
    "sdk_cross_check",
    "slurm_begin_relative",
    "slurm_begin_time",
    "system_clock",
    "wait_for_best_start",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(timezone.utc)


class WaitCancelled(SystemExit):
    """Ctrl-C while waiting for the low-carbon start: exit (status 130) without training."""

    def __init__(
        self, message: str = "cancelled while waiting for the low-carbon start; training not started."
    ):
        super().__init__(130)
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass
class ScheduleOutcome:
    """What the schedule did before training and what it found.

    ``reason`` is one of: ``disabled`` (mode none), ``no_shift`` (report/slurm: started
    now), ``best_start`` / ``max_wait`` (wait: started at the best start / at the
    max_wait limit), ``already_best`` (wait: now is the best start), ``deferred`` (no
    duration yet: plan after the first epoch), ``planning_failed`` (fault; started now).
    """

    mode: str
    reason: str
    plan: Plan | None = None
    started_at: datetime | None = None
    waited_s: float = 0.0
    replans: int = 0
    slurm_begin: str | None = None
    duration_source: str | None = None
    sdk_cross_check: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    def findings(self, energy_kwh: float, actual_start: datetime | None = None) -> dict[str, Any] | None:
        """The run report's ``carbon_aware`` block (None when there is no plan).

        ``actual_start`` defaults to :attr:`started_at`.
        """
        if self.plan is None:
            return None
        start = actual_start or self.started_at or self.plan.now_start
        out = carbon_aware_findings(self.plan, energy_kwh, start)
        out["mode"] = self.mode
        out["reason"] = self.reason
        out["waited_s"] = self.waited_s
        out["replans"] = self.replans
        out["duration_source"] = self.duration_source
        if self.slurm_begin:
            out["slurm_begin"] = self.slurm_begin
        if self.sdk_cross_check is not None:
            out["sdk_cross_check"] = self.sdk_cross_check
        out["notes"] = list(out.get("notes", [])) + [n for n in self.notes if n not in out.get("notes", [])]
        return out


# --------------------------------------------------------------------------- planning from a provider


def fetch_plan(
    provider: IntensityProvider,
    duration: timedelta,
    *,
    now: datetime,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    window_h: float = 24.0,
    align: str = "points",
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
    horizon = we - ws
    series = provider.forecast(start=ws, horizon=horizon)
    if not isinstance(series, IntensitySeries):
        raise PlanError(
            f"provider {getattr(provider, 'name', provider)!r} returned {type(series).__name__}, not a forecast."
        )
    plan = plan_best_start(series, duration, window_start=ws, window_end=we, now=now, align=align)  # type: ignore[arg-type]
    check = None
    sdk = getattr(provider, "forecast_with_optimal", None)
    if sdk is None and series.kind != "fallback":  # a FallbackProvider whose primary (the SDK) answered
        sdk = getattr(getattr(provider, "primary", None), "forecast_with_optimal", None)
    if callable(sdk):
        check = sdk_cross_check(sdk, series, duration, ws, we, now)
        if check is not None and not check["agrees"]:
            msg = f"Carbon Aware SDK cross-check disagrees: {check['reason']}"
            log.warning(msg)
            plan = _with_note(plan, msg)
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
) -> Any:
    """Fetch the forecast from ``now`` to the deadline and plan the run slots on it.

    ``deadline`` is a length from ``now`` or an absolute time (a resumed job keeps its own).
    Returns an :class:`~sci_lightning.shifting.interruptible.InterruptiblePlan`; the plan CLI
    (``interruptible=true``) and ``schedule=interrupt`` both plan through here.
    """
    from sci_lightning.shifting.interruptible import plan_interruptible

    now = ensure_utc(now, "now").replace(microsecond=0)
    horizon = deadline - now if isinstance(deadline, datetime) else deadline
    if horizon <= timedelta(0):
        raise PlanError(f"the deadline is {format_duration(-horizon) if horizon else '0s'} in the past.")
    series = provider.forecast(start=now, horizon=horizon)
    if not isinstance(series, IntensitySeries):
        raise PlanError(
            f"provider {getattr(provider, 'name', provider)!r} returned {type(series).__name__}, not a forecast."
        )
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


def sdk_cross_check(
    forecast_with_optimal: Callable[..., Any],
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
    opts = []
    for o in optimal or []:
        if isinstance(o, dict):
            opts.append((o["start"], float(o["g_per_kwh"])))
        else:
            opts.append(o)
    out = cross_check_optimal(sdk_grid, opts)
    out["grid"] = "window_start (the SDK's dataStartAt + k x resolution)"
    return out


def _with_note(plan: Plan, note: str) -> Plan:
    from dataclasses import replace

    return replace(plan, notes=tuple(plan.notes) + (note,))


# --------------------------------------------------------------------------- slurm


def slurm_begin_time(when: Plan | datetime, tz: tzinfo | str | None = None) -> str:
    """``sbatch --begin`` value (``YYYY-MM-DDTHH:MM:SS``) for the plan's best start.

    Slurm reads this in the *cluster's local time*, without a zone: the UTC start is
    converted to ``tz`` (a tzinfo or IANA name such as ``"Europe/Berlin"``; default the
    local zone of this machine, which is right when you submit from a login node of the
    cluster). Rounded up to the whole second so the job never starts before the window.
    """
    ts = when.best_start if isinstance(when, Plan) else ensure_utc(when, "begin time")
    if ts.microsecond:
        ts = ts.replace(microsecond=0) + timedelta(seconds=1)
    if isinstance(tz, str):
        from zoneinfo import ZoneInfo

        tz = ZoneInfo(tz)
    local = ts.astimezone(tz) if tz is not None else ts.astimezone()
    return local.strftime("%Y-%m-%dT%H:%M:%S")


def slurm_begin_relative(when: Plan | datetime, now: datetime) -> str:
    """Zone-free alternative: ``now+<seconds>`` (sbatch's relative --begin form); ``now`` if due."""
    ts = when.best_start if isinstance(when, Plan) else ensure_utc(when, "begin time")
    delay_s = math.ceil((ts - ensure_utc(now, "now")).total_seconds())
    return "now" if delay_s <= 0 else f"now+{delay_s}"


# --------------------------------------------------------------------------- wait


def _fmt_left(td: timedelta) -> str:
    s = max(0, int(math.ceil(td.total_seconds())))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{sec:02d}"


def _utc_text(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def wait_for_best_start(
    plan: Plan,
    replan: Callable[[datetime], Plan] | None,
    *,
    max_wait: timedelta,
    replan_every: timedelta,
    clock: Clock = system_clock,
    sleep: Callable[[float], Any] = time.sleep,
    stream: TextIO | None = None,
    isatty: bool | None = None,
    log_every: timedelta = timedelta(minutes=10),
) -> ScheduleOutcome:
    """Sleep until ``plan.best_start`` (at most ``max_wait``), re-planning as forecasts refresh.

    ``replan(now)`` returns a new plan (it may raise; the old plan is then kept and the
    fault logged once). A new plan is adopted when its forecast is fresher
    (``generated_at`` later, or unknown). Raises :class:`WaitCancelled` on Ctrl-C.
    """
    stream = stream or sys.stderr
    tty = bool(isatty if isatty is not None else getattr(stream, "isatty", lambda: False)())
    t0 = clock()
    deadline = t0 + max_wait
    notes: list[str] = []
    replans = 0
    warned = False
    next_replan = t0 + replan_every
    next_log = t0

    def target_of(p: Plan) -> tuple[datetime, str]:
        if p.best_start > deadline:
            return deadline, "max_wait"
        return p.best_start, "best_start"

    target, reason = target_of(plan)
    if reason == "max_wait":
        notes.append(
            f"best start {_utc_text(plan.best_start)} is beyond max_wait ({format_duration(max_wait)}); "
            f"starting at {_utc_text(deadline)} instead."
        )
    if target <= t0:
        return ScheduleOutcome("wait", "already_best", plan, started_at=t0, notes=notes)
    log.info(
        "carbon-aware wait: best start %s (forecast mean %.1f g/kWh vs %.1f now, %.1f%% lower); waiting %s",
        _utc_text(plan.best_start),
        plan.best_mean_g_per_kwh,
        plan.now_mean_g_per_kwh,
        plan.saving_pct,
        format_duration(target - t0),
    )
    try:
        while True:
            now = clock()
            if now >= target:
                break
            if replan is not None and now >= next_replan:
                next_replan = now + replan_every
                try:
                    new = replan(now)
                except Exception as exc:  # a provider fault must not stop the job
                    if not warned:
                        log.warning("re-planning failed (%s); keeping the current plan.", exc)
                        notes.append(f"re-planning failed at {_utc_text(now)}: {exc}")
                        warned = True
                    new = None
                if new is not None and (
                    new.generated_at is None
                    or plan.generated_at is None
                    or new.generated_at > plan.generated_at
                ):
                    plan = new
                    replans += 1
                    target, reason = target_of(plan)
                    msg = (
                        f"re-planned with the forecast of {_utc_text(plan.generated_at) if plan.generated_at else 'now'}: "
                        f"best start {_utc_text(plan.best_start)} ({plan.best_mean_g_per_kwh:.1f} g/kWh)"
                    )
                    log.info(msg)
                    notes.append(msg)
                    continue
            remaining = target - now
            line = (
                f"Waiting for the low-carbon start {_utc_text(target)} "
                f"({plan.best_mean_g_per_kwh:.0f} vs {plan.now_mean_g_per_kwh:.0f} g/kWh now): "
                f"{_fmt_left(remaining)} left (Ctrl-C to cancel)"
            )
            if tty:
                stream.write("\r" + line + " ")
                stream.flush()
                tick = timedelta(seconds=1)
            else:
                if now >= next_log:
                    log.info(line)
                    next_log = now + log_every
                tick = log_every
            step = min(remaining, tick)
            if replan is not None:
                step = min(step, max(next_replan - now, timedelta(0)))
            sleep(max(step.total_seconds(), 0.0))
    except KeyboardInterrupt:
        if tty:
            stream.write("\n")
        stream.write("Cancelled while waiting for the low-carbon start; training not started.\n")
        stream.flush()
        raise WaitCancelled() from None
    if tty:
        stream.write("\n")
        stream.flush()
    started = clock()
    log.info("carbon-aware wait over (%s); starting training at %s", reason, _utc_text(started))
    return ScheduleOutcome(
        "wait",
        reason,
        plan,
        started_at=started,
        waited_s=(started - t0).total_seconds(),
        replans=replans,
        notes=notes,
    )


# --------------------------------------------------------------------------- entry points for training


def before_training(
    cfg: ScheduleConfig | Mapping[str, Any] | Any,
    provider: IntensityProvider | Callable[[], IntensityProvider] | None,
    *,
    duration: DurationEstimate | timedelta | str | None,
    clock: Clock = system_clock,
    sleep: Callable[[float], Any] = time.sleep,
    stream: TextIO | None = None,
    isatty: bool | None = None,
) -> ScheduleOutcome:
    """Run the configured schedule mode before ``Trainer.fit``.

    Args:
        cfg: the ``schedule`` settings: a :class:`~sci_lightning.settings.ScheduleConfig`,
            a dict or an OmegaConf node (checked by :func:`~sci_lightning.settings.coerce`).
        provider: the intensity provider, or a zero-argument factory (built only when
            a mode needs it).
        duration: the expected duration (see :func:`sci_lightning.shifting.history.resolve_duration`);
            None defers planning to :func:`plan_after_first_epoch` (the job then reports).
        clock, sleep, stream, isatty: injected for tests.

    Raises:
        ConfigError: a misspelt or impossible setting (unknown mode, unreadable duration).
        WaitCancelled: Ctrl-C during ``wait`` (SystemExit 130; do not start training).
    """
    schedule = coerce(ScheduleConfig, cfg, "schedule")
    if schedule.mode == "none":
        return ScheduleOutcome("none", "disabled", started_at=clock())
    if duration is None:
        return _deferred(schedule.mode, clock())
    dur, dsource = _duration_and_source(duration, "schedule.duration", "config")
    max_wait = parse_duration(schedule.max_wait, "schedule.max_wait")
    now = clock()
    window_end = now + timedelta(hours=schedule.window_h)
    if schedule.mode == "wait":  # only consider starts we are willing to wait for
        window_end = min(window_end, now + max_wait + dur)
    try:
        prov = _provider_of(provider)
        plan, check = fetch_plan(prov, dur, now=now, window_end=window_end, align=schedule.align)
    except ConfigError:
        raise
    except Exception as exc:  # provider faults and unusable forecasts: start now, say why
        return _planning_failed(
            schedule.mode, f"carbon-aware planning failed, starting now: {exc}", clock(), dsource
        )
    if schedule.mode != "wait":
        out = _start_now(schedule.mode, plan, clock())
    else:
        out = _wait_then_start(schedule, prov, plan, dur, window_end, clock, sleep, stream, isatty)
    out.duration_source = dsource
    out.sdk_cross_check = check
    return out


def plan_after_first_epoch(
    cfg: ScheduleConfig | Mapping[str, Any] | Any,
    provider: IntensityProvider | Callable[[], IntensityProvider] | None,
    *,
    actual_start: datetime,
    duration: DurationEstimate | timedelta,
    clock: Clock = system_clock,
) -> ScheduleOutcome:
    """Plan once the first epoch has been timed (``duration`` from
    :func:`~sci_lightning.shifting.history.duration_from_first_epoch`): report-only.

    ``cfg`` is the ``schedule`` settings, as for :func:`before_training`. The window starts
    at ``actual_start`` when the forecast still covers it (else at the forecast's first
    point, noted). Faults are recorded, never raised (except ConfigError).
    """
    schedule = coerce(ScheduleConfig, cfg, "schedule")
    actual_start = ensure_utc(actual_start, "actual_start")
    dur, dsource = _duration_and_source(duration, "duration", "first_epoch")
    try:
        plan, check = fetch_plan(
            _provider_of(provider),
            dur,
            now=actual_start,
            window_start=actual_start,
            window_end=actual_start + timedelta(hours=schedule.window_h),
            align=schedule.align,
        )
    except ConfigError:
        raise
    except Exception as exc:
        msg = f"carbon-aware planning after the first epoch failed: {exc}"
        return _planning_failed(schedule.mode, msg, actual_start, dsource)
    note = "duration measured from the first epoch; the job could only report, not wait."
    return ScheduleOutcome(
        schedule.mode,
        "no_shift",
        plan,
        started_at=actual_start,
        duration_source=dsource,
        sdk_cross_check=check,
        notes=[note],
    )


def _duration_and_source(
    duration: DurationEstimate | timedelta | str, what: str, source: str
) -> tuple[timedelta, str]:
    """The duration as a timedelta and where it came from (``source`` unless an estimate says)."""
    if isinstance(duration, DurationEstimate):
        return duration.duration, duration.source
    return parse_duration(duration, what), source


def _provider_of(provider: IntensityProvider | Callable[[], IntensityProvider] | None) -> IntensityProvider:
    """The provider itself, or built by its factory; PlanError when there is none."""
    prov = provider() if callable(provider) and not isinstance(provider, IntensityProvider) else provider
    if prov is None:
        raise PlanError("no intensity provider configured.")
    return prov


def _deferred(mode: str, now: datetime) -> ScheduleOutcome:
    note = (
        "no expected duration (schedule.duration unset and no previous sci_report.json for this model): "
        "planning after the first epoch; the job runs now and reports what shifting would have saved."
    )
    if mode == "wait":
        log.warning(note)
    return ScheduleOutcome(mode, "deferred", started_at=now, notes=[note])


def _planning_failed(mode: str, msg: str, started_at: datetime, duration_source: str) -> ScheduleOutcome:
    log.warning(msg)
    return ScheduleOutcome(
        mode, "planning_failed", started_at=started_at, duration_source=duration_source, notes=[msg]
    )


def _start_now(mode: str, plan: Plan, now: datetime) -> ScheduleOutcome:
    """``report`` / ``slurm``: start at once and keep the plan for the report."""
    out = ScheduleOutcome(mode, "no_shift", plan, started_at=now)
    if mode == "slurm":
        out.slurm_begin = slurm_begin_time(plan)
        out.notes.append(
            f"slurm: a running job cannot be delayed; submit with --begin={out.slurm_begin} "
            "(hydra.launcher.additional_parameters.begin) to start at the best time."
        )
    log.info(
        "carbon-aware %s: best start %s (%.1f g/kWh) vs now %.1f g/kWh: %.1f%% lower",
        mode,
        _utc_text(plan.best_start),
        plan.best_mean_g_per_kwh,
        plan.now_mean_g_per_kwh,
        plan.saving_pct,
    )
    return out


def _wait_then_start(
    schedule: ScheduleConfig,
    prov: IntensityProvider,
    plan: Plan,
    dur: timedelta,
    window_end: datetime,
    clock: Clock,
    sleep: Callable[[float], Any],
    stream: TextIO | None,
    isatty: bool | None,
) -> ScheduleOutcome:
    """``wait``: sleep until the best start, re-planning on the same provider and window end."""

    def replan(at: datetime) -> Plan:
        new, _ = fetch_plan(prov, dur, now=at, window_start=at, window_end=window_end, align=schedule.align)
        return new

    return wait_for_best_start(
        plan,
        replan,
        max_wait=parse_duration(schedule.max_wait, "schedule.max_wait"),
        replan_every=parse_duration(schedule.replan_every, "schedule.replan_every"),
        log_every=parse_duration(schedule.log_every, "schedule.log_every"),
        clock=clock,
        sleep=sleep,
        stream=stream,
        isatty=isatty,
    )
