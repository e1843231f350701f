"""``schedule=interrupt`` in ``python -m sci_lightning``: plan the run slots, print them, follow them.

Before training, :func:`plan_slots` plans the lowest-carbon slots before the deadline
(:func:`~sci_lightning.shifting.schedule.fetch_interruptible_plan`, the same planner and the
same printed table as ``python -m sci_lightning.plan interruptible=true``) and returns the
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
from typing import Any, TextIO

from sci_lightning.errors import ConfigError
from sci_lightning.settings import Config, setting_error

__all__ = ["PAUSED_EXIT_CODE", "SlotsStart", "check_interrupt_settings", "plan_slots"]

PAUSED_EXIT_CODE = 75  # EX_TEMPFAIL (sysexits.h): paused at a slot's end, resubmit to continue


@dataclass
class SlotsStart:
    """What planning the slots gave: the callback, or a pause before training, or neither (fault)."""

    schedule: Any = None  # SlotSchedule, or None (planning failed: train straight through)
    plan: Any = None  # the InterruptiblePlan
    exit_before: Any = None  # PauseExit: pause=exit and the first slot is later than now
    notes: list[str] = field(default_factory=list)


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
    provider: Any,
    duration: Any,
    ckpt_path: str | None,
    *,
    plot_dir: Any = None,
    clock: Callable[[], datetime],
    sleep: Callable[[float], Any],
    stream: TextIO | None = None,
) -> SlotsStart:
    """Plan the slots (or, resumed, the rest of them) and print the plan like the plan CLI.

    ``duration``: the expected run time (a DurationEstimate, timedelta or text; ``None``
    is refused: the slots need it). Provider faults never stop training: the job then runs
    straight through, said in the output and the report's ``slots`` notes.

    Raises:
        ConfigError: no duration for a fresh job, an unreadable deadline.
    """
    from sci_lightning.app.plan import _plot_result, format_interruptible_table
    from sci_lightning.lightning.carbon_budget import covered_mean
    from sci_lightning.lightning.slot_schedule import PauseExit, SlotSchedule
    from sci_lightning.shifting.durations import format_duration, parse_duration
    from sci_lightning.shifting.history import DurationEstimate
    from sci_lightning.shifting.schedule import fetch_interruptible_plan, slurm_begin_time

    schedule, out = settings.schedule, stream or sys.stdout
    now = clock().replace(microsecond=0)
    pause_cost = parse_duration(schedule.pause_cost, "schedule.pause_cost", allow_zero=True)
    state = _resumed_state(ckpt_path)
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
        deadline, work = now + span, None
    if work is None:
        if duration is None:
            raise ConfigError(
                "Invalid setting schedule.duration=None: schedule=interrupt plans slots for the job's run time and "
                "no earlier sci_report.json of this model gives it. Set schedule.duration (e.g. 2h)."
            )
        work = (
            duration.duration
            if isinstance(duration, DurationEstimate)
            else parse_duration(duration, "schedule.duration")
        )

    def plan(at: datetime, remaining: timedelta) -> Any:
        return fetch_interruptible_plan(
            provider, remaining, now=at, deadline=deadline, min_slot=schedule.min_slot, pause_cost=pause_cost
        )

    try:
        iplan = plan(now, work)
    except ConfigError:
        raise
    except Exception as exc:  # a provider fault or an unusable forecast: train now, say why
        msg = f"schedule=interrupt: planning the slots failed, training straight through now: {exc}"
        print(f"warning: {msg}", file=sys.stderr)
        return SlotsStart(notes=[msg])
    result: dict[str, Any] = {"slurm_begin": slurm_begin_time(iplan.slots[0].start, None)}
    if plot_dir is not None:
        result.update(_plot_result(iplan, plot_dir / "carbon_plan.png"))
    print(format_interruptible_table(iplan, result), file=out)
    if iplan.slots[0].start > now and schedule.pause == "exit":
        paused = PauseExit(iplan.slots[0].start, result["slurm_begin"], ckpt_path)
        print("\n".join(paused.lines()), file=sys.stderr)
        return SlotsStart(plan=iplan, exit_before=paused)

    def replan(at: datetime, remaining: timedelta | None) -> Any:
        return plan(at.replace(microsecond=0), remaining or work).slots

    def intensity(start: datetime, end: datetime) -> float | None:
        return covered_mean(provider.history(start, end), start, end)

    slots = SlotSchedule(
        iplan.slots,
        deadline=deadline,
        pause=schedule.pause,
        pause_cost=pause_cost,
        clock=clock,
        sleep=sleep,
        tz=None,
        replan=replan,
        intensity=intensity,
    )
    return SlotsStart(schedule=slots, plan=iplan)
