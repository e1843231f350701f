"""The schedule before the fit, one dispatch for every mode (``python -m sci_lightning schedule=...``).

:func:`schedule_before_fit` chooses the mode: ``none`` plans nothing; ``report``, ``wait``
and ``slurm`` are :func:`sci_lightning.shifting.schedule.before_training` (the modes that
need no Lightning, one short function each there); ``interrupt`` is :func:`plan_slots` here.

``schedule=interrupt``: before training, :func:`plan_slots` plans the lowest-carbon slots
before the deadline (:func:`~sci_lightning.shifting.fetch.fetch_interruptible_plan`, the same
planner and the same printed table, :mod:`~sci_lightning.shifting.display`, as
``python -m sci_lightning.plan interruptible=true``) and returns the
:class:`~sci_lightning.lightning.slot_schedule.SlotSchedule` to put before the
EnergyCarbonCallback. A run resumed from a paused run's checkpoint keeps that run's
deadline and re-plans only the work left (``remaining_s`` in the checkpoint).

``schedule.pause=exit``: when the first slot is later than now the run exits at once
(nothing is built), else it trains to the slot's end, checkpoints and exits. Either way it
prints the ``sbatch --begin`` time and the ``ckpt_path`` to resume with, ``run_summary.json``
says ``status: paused`` and the exit status is :data:`PAUSED_EXIT_CODE` (75, EX_TEMPFAIL),
so a batch script can tell "resubmit me" from success (0) and failure.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, ScheduleConfig, setting_error

if TYPE_CHECKING:
    from sci_lightning.carbon.base import IntensityProvider
    from sci_lightning.lightning.slot_schedule import PauseExit, SlotSchedule
    from sci_lightning.shifting.history import DurationEstimate
    from sci_lightning.shifting.interruptible import InterruptiblePlan, Slot
    from sci_lightning.shifting.schedule import ScheduleOutcome

__all__ = [
    "PAUSED_EXIT_CODE",
    "SlotsStart",
    "check_interrupt_settings",
    "schedule_before_fit",
]

PAUSED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): paused at a slot's end, resubmit to continue


@dataclass
class SlotsStart:
    """What planning the slots gave: the callback, or a pause before training, or neither (fault)."""

    schedule: SlotSchedule | None = None  # None: planning failed, train straight through
    plan: InterruptiblePlan | None = None
    exit_before: PauseExit | None = None  # pause=exit and the first slot is later than now
    notes: list[str] = field(default_factory=list)


@dataclass
class ScheduleStart:
    """What the schedule gave before the fit: nothing (``none``), the plan's outcome
    (``report`` / ``wait`` / ``slurm``) or the slots (``interrupt``)."""

    outcome: ScheduleOutcome | None = None
    slots: SlotsStart | None = None


def schedule_before_fit(
    settings: Config,
    provider: IntensityProvider | None,
    duration: Callable[[], DurationEstimate | None],
    ckpt_path: str | None,
    *,
    plot_dir: Path | None = None,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], object] | None = None,
) -> ScheduleStart:
    """Run the configured schedule mode before the fit (the one place that chooses it).

    ``duration()`` gives the job's expected run time (asked only by a mode that plans);
    ``clock`` / ``sleep`` (default the system's) drive the mode (tests give fakes).

    Raises:
        ConfigError: a misspelt or impossible setting.
        WaitCancelled: Ctrl-C during ``wait`` (SystemExit 130: do not train).
    """
    import time

    from sci_lightning.shifting.schedule import before_training, system_clock

    mode = settings.schedule.mode
    if mode == "none":
        return ScheduleStart()
    if provider is None:
        raise ConfigError(f"schedule.mode={mode} needs an intensity provider (the carbon settings).")
    clock, sleep = clock or system_clock, sleep or time.sleep
    if mode == "interrupt":
        slots = plan_slots(
            settings, provider, duration(), ckpt_path, plot_dir=plot_dir, clock=clock, sleep=sleep
        )
        return ScheduleStart(slots=slots)
    outcome = before_training(settings.schedule, provider, duration=duration(), clock=clock, sleep=sleep)
    return ScheduleStart(outcome=outcome)


def check_interrupt_settings(settings: Config) -> None:
    """``pause=exit`` needs a checkpoint to resume from and ``trainer.max_steps`` for the exact work."""
    schedule = settings.schedule
    if schedule.mode != "interrupt" or schedule.pause != "exit":
        return
    if not settings.save_checkpoint:
        raise setting_error(
            "save_checkpoint",
            False,
            "schedule.pause=exit resumes from last.ckpt",
            "Set save_checkpoint=true, or schedule.pause=wait.",
        )
    if settings.trainer.max_steps is None or settings.trainer.max_steps < 1:
        raise setting_error(
            "trainer.max_steps",
            settings.trainer.max_steps,
            "schedule.pause=exit ends an epoch early and Lightning counts it as done, so without a step bound "
            "the resumed job would skip the rest of that epoch",
            "Set trainer.max_steps to the planned optimizer steps (max_epochs x batches per epoch), "
            "or use schedule.pause=wait.",
        )


def _resumed_state(ckpt_path: str | None) -> dict[str, Any] | None:
    """The SlotSchedule state in a paused run's checkpoint (``None``: a fresh job)."""
    if not ckpt_path:
        return None
    import torch

    saved = torch.load(ckpt_path, map_location="cpu", weights_only=False)
    callbacks = (saved.get("callbacks") or {}) if isinstance(saved, dict) else {}
    state = next((v for k, v in callbacks.items() if str(k).startswith("SlotSchedule")), None)
    return state if isinstance(state, dict) and state.get("deadline") else None


def plan_slots(
    settings: Config,
    provider: IntensityProvider,
    duration: DurationEstimate | timedelta | str | None,
    ckpt_path: str | None,
    *,
    plot_dir: Path | None = None,
    clock: Callable[[], datetime],
    sleep: Callable[[float], object],
    stream: TextIO | None = None,
) -> SlotsStart:
    """Plan the slots (or, resumed, the rest of them) and print the plan like the plan CLI.

    ``duration``: the expected run time (a DurationEstimate, timedelta or text; ``None``
    is refused: the slots need it). Provider faults never stop training: the job then runs
    straight through, said in the output and the report's ``slots`` notes.

    Raises:
        ConfigError: no duration for a fresh job, an unreadable deadline.
    """
    from sci_lightning.lightning.slot_schedule import PauseExit
    from sci_lightning.shifting.display import PLOT_NAME, format_interruptible_table, plot_result
    from sci_lightning.shifting.slurm import slurm_begin_time

    schedule, out = settings.schedule, stream or sys.stdout
    now = clock().replace(microsecond=0)
    deadline, work = _deadline_and_work(schedule, ckpt_path, duration, now, out)
    planner = _SlotPlanner(provider, schedule, deadline)
    try:
        iplan = planner.plan(now, work)
    except ConfigError:
        raise
    except Exception as exc:  # a provider fault or an unusable forecast: train now, say why
        msg = f"schedule=interrupt: planning the slots failed, training straight through now: {exc}"
        print(f"warning: {msg}", file=sys.stderr)
        return SlotsStart(notes=[msg])
    result: dict[str, Any] = {"slurm_begin": slurm_begin_time(iplan.slots[0].start, None)}
    if plot_dir is not None:
        result.update(plot_result(iplan, Path(plot_dir) / PLOT_NAME))
    print(format_interruptible_table(iplan, result), file=out)
    if iplan.slots[0].start > now and schedule.pause == "exit":
        paused = PauseExit(iplan.slots[0].start, result["slurm_begin"], ckpt_path)
        print("\n".join(paused.lines()), file=sys.stderr)
        return SlotsStart(plan=iplan, exit_before=paused)
    slots = planner.follow(iplan, work, clock, sleep)
    return SlotsStart(schedule=slots, plan=iplan)


def _deadline_and_work(
    schedule: ScheduleConfig,
    ckpt_path: str | None,
    duration: DurationEstimate | timedelta | str | None,
    now: datetime,
    out: TextIO,
) -> tuple[datetime, timedelta]:
    """The deadline and the work to plan: a resumed job's own (its checkpoint), else from the settings."""
    from sci_lightning.shifting.durations import format_duration, parse_duration
    from sci_lightning.shifting.history import DurationEstimate

    state = _resumed_state(ckpt_path)
    work: timedelta | None = None
    if state is not None:
        deadline = datetime.fromisoformat(state["deadline"])
        work = timedelta(seconds=float(state["remaining_s"])) if state.get("remaining_s") else None
        print(
            f"Resuming an interruptible job: deadline {deadline.isoformat()}, "
            f"{'work left ' + format_duration(work) if work else 'work left unknown'}",
            file=out,
        )
    else:
        span = (
            parse_duration(schedule.deadline, "schedule.deadline")
            if schedule.deadline
            else timedelta(hours=schedule.window_h)
        )
        deadline = now + span
    if work is not None:
        return deadline, work
    if duration is None:
        raise ConfigError(
            "Invalid setting schedule.duration=None: schedule=interrupt plans slots for the job's run time and "
            "no earlier sci_report.json of this model gives it. Set schedule.duration (e.g. 2h)."
        )
    if isinstance(duration, DurationEstimate):
        return deadline, duration.duration
    return deadline, parse_duration(duration, "schedule.duration")


class _SlotPlanner:
    """Slots before one deadline on the provider's forecast: the first plan, then the re-plans."""

    def __init__(self, provider: IntensityProvider, schedule: ScheduleConfig, deadline: datetime) -> None:
        from sci_lightning.shifting.durations import parse_duration

        self.provider, self.schedule, self.deadline = provider, schedule, deadline
        self.pause_cost = parse_duration(schedule.pause_cost, "schedule.pause_cost", allow_zero=True)

    def plan(self, at: datetime, work: timedelta) -> InterruptiblePlan:
        from sci_lightning.shifting.fetch import fetch_interruptible_plan

        return fetch_interruptible_plan(
            self.provider,
            work,
            now=at,
            deadline=self.deadline,
            min_slot=self.schedule.min_slot,
            pause_cost=self.pause_cost,
        )

    def follow(
        self,
        iplan: InterruptiblePlan,
        work: timedelta,
        clock: Callable[[], datetime],
        sleep: Callable[[float], object],
    ) -> SlotSchedule:
        """The callback that trains in ``iplan``'s slots, re-planning here and reading the history."""
        from sci_lightning.lightning.carbon_budget import covered_mean
        from sci_lightning.lightning.slot_schedule import SlotSchedule

        def replan(at: datetime, remaining: timedelta | None) -> tuple[Slot, ...]:
            return self.plan(at.replace(microsecond=0), remaining or work).slots

        def intensity(start: datetime, end: datetime) -> float | None:
            return covered_mean(self.provider.history(start, end), start, end)

        return SlotSchedule(
            iplan.slots,
            deadline=self.deadline,
            pause=self.schedule.pause,
            pause_cost=self.pause_cost,
            clock=clock,
            sleep=sleep,
            tz=None,
            replan=replan,
            intensity=intensity,
        )
