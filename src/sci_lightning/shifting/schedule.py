"""The schedule modes before training, in one dispatch: ``none``, ``report``, ``wait``, ``slurm``.

:func:`before_training` chooses the mode (config group ``schedule/``, schema
:class:`sci_lightning.settings.ScheduleConfig`) from one table, ``_MODES``; each mode is
a short function here. The plan itself comes from :mod:`~sci_lightning.shifting.fetch`
(the provider's forecast on the pure planner); what is printed or drawn, from
:mod:`~sci_lightning.shifting.display`. ``schedule=interrupt`` trains in run slots, which
needs Lightning: it is :func:`sci_lightning.app.schedule.plan_slots` with
:class:`~sci_lightning.lightning.slot_schedule.SlotSchedule` (here it only reports).

* ``none`` -- no forecast is fetched; training starts at once.
* ``report`` -- plan, start now, and report what starting at the best time would have
  saved (:meth:`ScheduleOutcome.findings` -> the ``carbon_aware`` block of the run report).
* ``wait`` -- sleep until the best start with a visible countdown (one updating line on a
  terminal, a log line every ``log_every`` otherwise), re-plan every ``replan_every`` when
  a fresher forecast has been issued, never wait longer than ``max_wait``; Ctrl-C leaves
  cleanly (:class:`WaitCancelled`, a ``SystemExit`` with status 130: no traceback, no training).
* ``slurm`` -- compute the plan's start as an ``sbatch --begin`` time
  (:func:`~sci_lightning.shifting.slurm.slurm_begin_time`); a job already running can no
  longer be delayed, so it then behaves like ``report``. See docs/carbon_aware.md for the submitit launcher recipe.

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
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from sci_lightning.carbon.base import IntensityProvider, ensure_utc
from sci_lightning.errors import ConfigError
from sci_lightning.settings import ScheduleConfig, coerce
from sci_lightning.shifting.display import countdown_line
from sci_lightning.shifting.durations import format_duration, parse_duration
from sci_lightning.shifting.fetch import fetch_plan
from sci_lightning.shifting.history import DurationEstimate
from sci_lightning.shifting.planner import Plan, PlanError, carbon_aware_findings, check_align
from sci_lightning.shifting.slurm import slurm_begin_time
from sci_lightning.timefmt import utc_minutes

__all__ = [
    "ScheduleOutcome",
    "WaitCancelled",
    "before_training",
    "plan_after_first_epoch",
    "system_clock",
    "wait_for_best_start",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]

#: The ``schedule`` settings as the entry points take them (an OmegaConf node is a Mapping too).
ScheduleSettings = ScheduleConfig | Mapping[str, Any]
#: An intensity provider, or a zero-argument factory building it only when a mode needs it.
ProviderSource = IntensityProvider | Callable[[], IntensityProvider] | None


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


# --------------------------------------------------------------------------- the dispatch


@dataclass(frozen=True)
class _ModeContext:
    """What a mode needs besides the plan: the settings, the provider, the job and the clock."""

    schedule: ScheduleConfig
    provider: IntensityProvider
    duration: timedelta
    window_end: datetime
    clock: Clock
    sleep: Callable[[float], object]
    stream: TextIO | None
    isatty: bool | None


def before_training(
    cfg: ScheduleSettings,
    provider: ProviderSource,
    *,
    duration: DurationEstimate | timedelta | str | None,
    clock: Clock = system_clock,
    sleep: Callable[[float], object] = time.sleep,
    stream: TextIO | None = None,
    isatty: bool | None = None,
) -> ScheduleOutcome:
    """Run the configured schedule mode before ``Trainer.fit``: plan, then the mode of ``_MODES``.

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
        plan, check = fetch_plan(prov, dur, now=now, window_end=window_end, align=check_align(schedule.align))
    except ConfigError:
        raise
    except Exception as exc:  # provider faults and unusable forecasts: start now, say why
        return _planning_failed(
            schedule.mode, f"carbon-aware planning failed, starting now: {exc}", clock(), dsource
        )
    context = _ModeContext(schedule, prov, dur, window_end, clock, sleep, stream, isatty)
    out = _MODES[schedule.mode](plan, context)
    out.duration_source = dsource
    out.sdk_cross_check = check
    return out


def _report(plan: Plan, ctx: _ModeContext) -> ScheduleOutcome:
    """``report``: start at once and keep the plan for the report."""
    out = ScheduleOutcome(ctx.schedule.mode, "no_shift", plan, started_at=ctx.clock())
    _log_plan(ctx.schedule.mode, plan)
    return out


def _slurm(plan: Plan, ctx: _ModeContext) -> ScheduleOutcome:
    """``slurm``: a running job cannot be delayed: report, and say the ``--begin`` to submit with."""
    out = ScheduleOutcome("slurm", "no_shift", plan, started_at=ctx.clock())
    out.slurm_begin = slurm_begin_time(plan)
    out.notes.append(
        f"slurm: a running job cannot be delayed; submit with --begin={out.slurm_begin} "
        "(hydra.launcher.additional_parameters.begin) to start at the best time."
    )
    _log_plan("slurm", plan)
    return out


def _wait(plan: Plan, ctx: _ModeContext) -> ScheduleOutcome:
    """``wait``: sleep until the best start, re-planning on the same provider and window end."""
    schedule = ctx.schedule

    def replan(at: datetime) -> Plan:
        new, _ = fetch_plan(
            ctx.provider,
            ctx.duration,
            now=at,
            window_start=at,
            window_end=ctx.window_end,
            align=check_align(schedule.align),
        )
        return new

    return wait_for_best_start(
        plan,
        replan,
        max_wait=parse_duration(schedule.max_wait, "schedule.max_wait"),
        replan_every=parse_duration(schedule.replan_every, "schedule.replan_every"),
        log_every=parse_duration(schedule.log_every, "schedule.log_every"),
        clock=ctx.clock,
        sleep=ctx.sleep,
        stream=ctx.stream,
        isatty=ctx.isatty,
    )


#: Mode -> what it does with the plan (``none`` never plans; ``interrupt`` is planned in slots
#: by :mod:`sci_lightning.app.schedule`, so here it only reports).
_MODES: dict[str, Callable[[Plan, _ModeContext], ScheduleOutcome]] = {
    "report": _report,
    "slurm": _slurm,
    "wait": _wait,
    "interrupt": _report,
}


def _log_plan(mode: str, plan: Plan) -> None:
    log.info(
        "carbon-aware %s: best start %s (%.1f g/kWh) vs now %.1f g/kWh: %.1f%% lower",
        mode,
        utc_minutes(plan.best_start),
        plan.best_mean_g_per_kwh,
        plan.now_mean_g_per_kwh,
        plan.saving_pct,
    )


def plan_after_first_epoch(
    cfg: ScheduleSettings,
    provider: ProviderSource,
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
            align=check_align(schedule.align),
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


def _provider_of(provider: ProviderSource) -> IntensityProvider:
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


# --------------------------------------------------------------------------- wait


def wait_for_best_start(
    plan: Plan,
    replan: Callable[[datetime], Plan] | None,
    *,
    max_wait: timedelta,
    replan_every: timedelta,
    clock: Clock = system_clock,
    sleep: Callable[[float], object] = time.sleep,
    stream: TextIO | None = None,
    isatty: bool | None = None,
    log_every: timedelta = timedelta(minutes=10),
) -> ScheduleOutcome:
    """Sleep until ``plan.best_start`` (at most ``max_wait``), re-planning as forecasts refresh.

    ``replan(now)`` returns a new plan (it may raise; the old plan is then kept and the
    fault logged once). A new plan is adopted when its forecast is fresher
    (``generated_at`` later, or unknown). Raises :class:`WaitCancelled` on Ctrl-C.
    """
    t0 = clock()
    deadline = t0 + max_wait
    target, reason = _target(plan, deadline)
    notes: list[str] = []
    if reason == "max_wait":
        notes.append(
            f"best start {utc_minutes(plan.best_start)} is beyond max_wait ({format_duration(max_wait)}); "
            f"starting at {utc_minutes(deadline)} instead."
        )
    if target <= t0:
        return ScheduleOutcome("wait", "already_best", plan, started_at=t0, notes=notes)
    log.info(
        "carbon-aware wait: best start %s (forecast mean %.1f g/kWh vs %.1f now, %.1f%% lower); waiting %s",
        utc_minutes(plan.best_start),
        plan.best_mean_g_per_kwh,
        plan.now_mean_g_per_kwh,
        plan.saving_pct,
        format_duration(target - t0),
    )
    replans = _Replanner(replan, replan_every, t0, notes)
    countdown = _Countdown(stream, isatty, log_every, t0)
    try:
        while (now := clock()) < target:
            fresher = replans.fresher(now, plan)
            if fresher is not None:
                plan = fresher
                target, reason = _target(plan, deadline)
                continue
            tick = countdown.show(countdown_line(plan, target, target - now), now)
            sleep(max(replans.cap(min(target - now, tick), now).total_seconds(), 0.0))
    except KeyboardInterrupt:
        countdown.cancelled()
        raise WaitCancelled() from None
    countdown.done()
    started = clock()
    log.info("carbon-aware wait over (%s); starting training at %s", reason, utc_minutes(started))
    waited_s = (started - t0).total_seconds()
    return ScheduleOutcome(
        "wait", reason, plan, started_at=started, waited_s=waited_s, replans=replans.count, notes=notes
    )


def _target(plan: Plan, deadline: datetime) -> tuple[datetime, str]:
    """When the wait ends and why: the plan's best start, or ``deadline`` (max_wait) if that is earlier."""
    if plan.best_start > deadline:
        return deadline, "max_wait"
    return plan.best_start, "best_start"


class _Replanner:
    """The wait's re-planning: every ``every``, a new plan when its forecast is fresher.

    A failing ``replan`` keeps the current plan; the first fault is logged and noted.
    """

    def __init__(
        self, replan: Callable[[datetime], Plan] | None, every: timedelta, t0: datetime, notes: list[str]
    ) -> None:
        self.replan, self.every, self.notes = replan, every, notes
        self.next_at = t0 + every
        self.count = 0
        self._warned = False

    def fresher(self, now: datetime, plan: Plan) -> Plan | None:
        """A plan on a fresher forecast when one is due and issued (counted and noted), else None."""
        if self.replan is None or now < self.next_at:
            return None
        self.next_at = now + self.every
        try:
            new = self.replan(now)
        except Exception as exc:  # a provider fault must not stop the job
            if not self._warned:
                log.warning("re-planning failed (%s); keeping the current plan.", exc)
                self.notes.append(f"re-planning failed at {utc_minutes(now)}: {exc}")
                self._warned = True
            return None
        if not (
            new.generated_at is None or plan.generated_at is None or new.generated_at > plan.generated_at
        ):
            return None
        self.count += 1
        issued = utc_minutes(new.generated_at) if new.generated_at else "now"
        msg = (
            f"re-planned with the forecast of {issued}: "
            f"best start {utc_minutes(new.best_start)} ({new.best_mean_g_per_kwh:.1f} g/kWh)"
        )
        log.info(msg)
        self.notes.append(msg)
        return new

    def cap(self, step: timedelta, now: datetime) -> timedelta:
        """``step``, shortened so that the next re-plan is not slept past."""
        if self.replan is None:
            return step
        return min(step, max(self.next_at - now, timedelta(0)))


class _Countdown:
    """The wait's display: one updating line on a terminal, else a log line every ``log_every``."""

    def __init__(
        self, stream: TextIO | None, isatty: bool | None, log_every: timedelta, t0: datetime
    ) -> None:
        self.stream: TextIO = stream or sys.stderr
        self.tty = bool(isatty if isatty is not None else getattr(self.stream, "isatty", lambda: False)())
        self.log_every, self.next_log = log_every, t0

    def show(self, line: str, now: datetime) -> timedelta:
        """Show ``line``; returns how long until the display wants to be updated."""
        if self.tty:
            self.stream.write("\r" + line + " ")
            self.stream.flush()
            return timedelta(seconds=1)
        if now >= self.next_log:
            log.info(line)
            self.next_log = now + self.log_every
        return self.log_every

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()

    def cancelled(self) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write("Cancelled while waiting for the low-carbon start; training not started.\n")
        self.stream.flush()
