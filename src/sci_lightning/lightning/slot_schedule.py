"""SlotSchedule: train only inside the run slots of an interruptible plan, pausing between them.

The slots come from :func:`sci_lightning.shifting.interruptible.plan_interruptible` (or are
given as ``(start, end)`` pairs). After every training batch the callback reads its clock
(injectable, so a test can run it on a fake clock); when the current slot has ended and
work remains it pauses until the next slot's start:

- ``pause="wait"``: in-process. The pause's idle energy is measured by the
  EnergyCarbonCallback's monitor in its own window (``pause<N>``) and reported on its own
  line (``slots.pauses`` in the report: start, end, duration, IT energy). The ``fit``
  window stays open, so the job's totals include the idle energy and time: they are the
  job's, measured, nothing left out.
- ``pause="exit"``: the fit ends cleanly (``trainer.should_stop``), ``last.ckpt`` is
  written at fit end by :class:`~sci_lightning.lightning.checkpointing.LastCheckpoint`
  (after the energy window is closed, so the resumed job's parts sum exactly), the status
  is ``paused`` and :attr:`paused` / the printed lines give the next slot's start as an
  ``sbatch --begin`` time and the ``ckpt_path`` to resume from. Lightning counts the epoch
  that was stopped as done, so bound such a run by ``trainer.max_steps`` for the exact
  planned work.

**Never misses the deadline.** Before pausing, the remaining work is estimated (seconds per
step run so far x remaining steps of ``trainer.estimated_stepping_batches``); if the next
slot's start + ``pause_cost`` + that work would end after the deadline, or no slot is left,
training runs straight through (noted). The slots actually run (start, end, steps), the
pauses and the notes are in the report's ``slots`` block, across resumed parts. Place it
*before* the EnergyCarbonCallback in ``callbacks`` (its final block is published in
``on_fit_end``, which the energy callback's report then reads).

**Re-planning.** With ``replan(now, remaining)`` (``remaining``: the work left, seconds per
step so far x remaining steps, or ``None`` before any step) the callback asks for fresh
slots each time an in-process pause ends, i.e. at every slot start after the first; a
new plan replaces the remaining slots (noted), and when its first slot starts later the
job pauses again. A failing re-plan keeps the current slots (noted once). With
``intensity(start, end)`` (mean gCO2e/kWh, or ``None``) every slot run records its
``mean_g_per_kwh``. A paused (``exit``) run's checkpoint holds the deadline and the work
left (``remaining_s``), so the next part can re-plan the rest (the app does).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any, TextIO

from lightning.pytorch.callbacks import Callback
from typing_extensions import override

from sci_lightning.accounting import FIT
from sci_lightning.carbon.base import ensure_utc
from sci_lightning.errors import ConfigError
from sci_lightning.lightning.checkpointing import LastCheckpoint
from sci_lightning.lightning.wiring import EnergyLink
from sci_lightning.shifting.interruptible import Slot
from sci_lightning.shifting.schedule import system_clock
from sci_lightning.shifting.slurm import slurm_begin_time

if TYPE_CHECKING:
    from lightning.pytorch import LightningModule, Trainer
    from lightning.pytorch.utilities.types import STEP_OUTPUT

    from sci_lightning.lightning.callback import EnergyCarbonCallback

__all__ = ["PauseExit", "SlotSchedule"]


@dataclass(frozen=True)
class PauseExit:
    """A run that exited at a slot's end: when to start it again and from which checkpoint."""

    next_start: datetime
    sbatch_begin: str  # ``sbatch --begin`` value, in ``tz`` (default this machine's zone)
    ckpt_path: str | None

    def lines(self) -> list[str]:
        """What the run prints when it exits."""
        return [
            f"paused: next slot starts {self.next_start.isoformat()} (sbatch --begin={self.sbatch_begin})",
            f"resume with: ckpt_path={self.ckpt_path}",
        ]


def _iso(ts: datetime) -> str:
    return ts.isoformat()


def _window(slot: Slot | tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = (slot.start, slot.end) if isinstance(slot, Slot) else slot
    return ensure_utc(start, "slot start"), ensure_utc(end, "slot end")


class SlotSchedule(Callback):
    """Train inside ``slots`` before ``deadline``; between slots wait in-process or exit.

    Args:
        slots: the run slots (``Slot`` objects or ``(start, end)`` pairs, aware datetimes).
        deadline: the job must be done by then.
        pause: ``wait`` (sleep in-process) or ``exit`` (end the fit, resume later).
        pause_cost: the time a resume adds (checked against the deadline).
        clock: the current UTC time; sleep: ``sleep(seconds)`` (both injectable for tests).
        tz: the zone of the printed ``sbatch --begin`` time (default this machine's).
        stream: where the pause lines are printed (default stderr).
        energy: the EnergyCarbonCallback that measures the pauses and reports the ``slots`` block
            (default: the one in ``trainer.callbacks``, found in ``setup``); it must come before
            it in ``callbacks`` (checked in ``setup``).

    ``paused`` is the :class:`PauseExit` of a run that exited at a slot's end (else ``None``);
    ``record()`` is the report's ``slots`` block.

    Raises:
        ConfigError: no slots, a slot that ends before it starts, overlapping slots,
            an unknown ``pause``.
    """

    def __init__(
        self,
        slots: Sequence[Slot | tuple[datetime, datetime]],
        *,
        deadline: datetime,
        pause: str = "wait",
        pause_cost: timedelta = timedelta(minutes=5),
        clock: Callable[[], datetime] = system_clock,
        sleep: Callable[[float], object] = time.sleep,
        tz: tzinfo | str | None = None,
        stream: TextIO | None = None,
        replan: Callable[[datetime, timedelta | None], Sequence[Slot | tuple[datetime, datetime]]]
        | None = None,
        intensity: Callable[[datetime, datetime], float | None] | None = None,
        energy: EnergyCarbonCallback | None = None,
    ) -> None:
        super().__init__()
        self._energy = EnergyLink(
            self, energy, "before", "its final slots block must reach the report at fit end"
        )
        self.slots = [_window(s) for s in slots]
        self.deadline = ensure_utc(deadline, "deadline")
        self.pause, self.pause_cost = pause, pause_cost
        self.clock, self.sleep, self.tz, self.stream = clock, sleep, tz, stream
        self.replan, self.intensity = replan, intensity
        self._planned_means = [s.mean_g_per_kwh if isinstance(s, Slot) else None for s in slots]
        self._check()
        self.paused: PauseExit | None = None
        self.run: list[dict[str, Any]] = []  # slots actually run: start, end, steps
        self.pauses: list[dict[str, Any]] = []  # in-process pauses: start, end, duration_s, it_energy_j
        self.notes: list[str] = []
        self._straight_through = False
        self._status = "running"  # then completed | interrupted (paused: ``paused`` is set)
        self._closed_s, self._closed_steps = 0.0, 0  # training in the closed slots, all parts
        self._slot_start, self._slot_step = self.clock(), 0
        self._in_slot = False  # a slot is open (its time and steps are not yet in _closed_*)
        self._remaining_s: float | None = None  # work left when the run paused (exit), for the next part
        self._replan_failed = False

    def _check(self) -> None:
        if self.pause not in ("wait", "exit"):
            raise ConfigError(
                f"Invalid setting schedule.pause={self.pause!r}: not one of wait, exit. "
                "Use schedule.pause=wait or schedule.pause=exit."
            )
        if not self.slots:
            raise ConfigError("SlotSchedule: no run slots. Plan them with plan_interruptible.")
        for (a0, a1), (b0, _) in zip(self.slots, [*self.slots[1:], (None, None)]):
            if a1 <= a0 or (b0 is not None and b0 < a1):
                raise ConfigError(
                    f"SlotSchedule: slot [{_iso(a0)}, {_iso(a1)}) is empty or overlaps the next. "
                    "Give sorted, disjoint slots."
                )

    # ------------------------------------------------------------------ hooks
    @override
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        """Link the energy callback and check the order (before training)."""
        if stage == FIT:
            self._energy.resolve(trainer)

    @override
    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Before the first step of this part: wait for (or, ``exit``, stop until) a slot."""
        self.paused, self._status, self._straight_through = None, "running", False
        now = self._now(trainer)
        slot = self._slot_at(now)
        if slot is None:
            self._run_straight_through(now, None)
        elif slot[0] > now:
            self._pause(trainer, now, slot[0])
        if not trainer.should_stop:
            self._open_slot(trainer)

    @override
    def on_train_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: STEP_OUTPUT,
        batch: object,
        batch_idx: int,
    ) -> None:
        """At a slot's end with work left: pause until the next slot, unless the deadline forbids it."""
        now = self._now(trainer)
        current = self._slot_at(self._slot_start)
        if (
            self._straight_through
            or current is None
            or now < current[1]
            or self._remaining_steps(trainer) <= 0
        ):
            return
        following = self._slot_at(now)
        if following is None or not self._fits(trainer, now, following[0]):
            self._run_straight_through(now, following)
            return
        self._close_slot(trainer, now)
        self._pause(trainer, now, max(following[0], now))
        self._replan_and_wait(trainer)
        if not trainer.should_stop:
            self._open_slot(trainer)

    @override
    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        """Close the slot; publish the final ``slots`` block (before the energy callback reports)."""
        self._end(trainer, "completed")

    @override
    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        """Interrupted or failed: the slot run so far is closed and reported."""
        self._end(trainer, "interrupted")

    def _end(self, trainer: Trainer, status: str) -> None:
        if self.run and self.run[-1]["end"] is None:
            self._close_slot(trainer, self.clock())
        self._status = status
        self._publish(trainer)

    def _now(self, trainer: Trainer) -> datetime:
        """The clock; under DDP rank 0's, so that every rank pauses at the same step."""
        now = self.clock()
        return trainer.strategy.broadcast(now, src=0) if getattr(trainer, "world_size", 1) > 1 else now

    # ------------------------------------------------------------------ slots
    def _slot_at(self, when: datetime) -> tuple[datetime, datetime] | None:
        """The slot containing ``when``, else the next one (``None``: no slot left)."""
        return next(((s, e) for s, e in self.slots if e > when), None)

    def _open_slot(self, trainer: Trainer) -> None:
        self._slot_start, self._slot_step, self._in_slot = self.clock(), trainer.global_step, True
        self.run.append({"start": _iso(self._slot_start), "end": None, "steps": 0})
        self._publish(trainer)

    def _close_slot(self, trainer: Trainer, now: datetime) -> None:
        steps = trainer.global_step - self._slot_step
        self.run[-1].update(
            end=_iso(now), steps=steps, mean_g_per_kwh=self._intensity_over(self._slot_start, now)
        )
        self._closed_s += (now - self._slot_start).total_seconds()
        self._closed_steps += steps
        self._in_slot = False

    def _intensity_over(self, start: datetime, end: datetime) -> float | None:
        """The slot's mean intensity from ``intensity`` (``None`` without one, or on a fault)."""
        if self.intensity is None or end <= start:
            return None
        try:
            value = self.intensity(start, end)
        except Exception:
            return None
        return None if value is None else float(value)

    def _remaining_work(self, trainer: Trainer, now: datetime) -> timedelta | None:
        """Seconds per step run so far (all parts) x the remaining steps; ``None`` before any step."""
        steps_run = self._closed_steps + (trainer.global_step - self._slot_step if self._in_slot else 0)
        if steps_run <= 0:
            return None
        run_s = self._closed_s + (
            max((now - self._slot_start).total_seconds(), 0.0) if self._in_slot else 0.0
        )
        return timedelta(seconds=run_s / steps_run * self._remaining_steps(trainer))

    def _replan_and_wait(self, trainer: Trainer) -> None:
        """After a pause: re-plan on a fresher forecast; pause again while the new first slot is later."""
        while self.replan is not None and not trainer.should_stop:
            now = self.clock()
            work = self._remaining_work(trainer, now)
            try:
                fresh = [_window(s) for s in self.replan(now, work)]
            except Exception as err:
                if not self._replan_failed:
                    self._replan_failed = True
                    self.notes.append(
                        f"Re-planning at {_iso(now)} failed ({type(err).__name__}: {err}); "
                        "kept the current slots."
                    )
                return
            if not fresh or fresh == [s for s in self.slots if s[1] > now]:
                return
            self.slots, self._planned_means = fresh, [None] * len(fresh)
            self.notes.append(
                f"Re-planned at {_iso(now)} on a fresher forecast: "
                + ", ".join(f"[{_iso(a)}, {_iso(b)})" for a, b in fresh)
                + "."
            )
            first = self._slot_at(now)
            if first is None or first[0] <= now:
                return
            if not self._fits(trainer, now, first[0]):
                self._run_straight_through(now, first)
                return
            self._pause(trainer, now, first[0])

    def _remaining_steps(self, trainer: Trainer) -> int:
        """Planned optimizer steps not yet run (0 for an unbounded run: it never pauses)."""
        planned = trainer.estimated_stepping_batches
        return max(int(planned) - trainer.global_step, 0) if math.isfinite(planned) else 0

    def _fits(self, trainer: Trainer, now: datetime, next_start: datetime) -> bool:
        """Whether pausing until ``next_start`` still ends the remaining work by the deadline."""
        steps_run = self._closed_steps + trainer.global_step - self._slot_step
        if steps_run <= 0:
            return True
        run_s = self._closed_s + (now - self._slot_start).total_seconds()
        work_s = run_s / steps_run * self._remaining_steps(trainer)
        return next_start + self.pause_cost + timedelta(seconds=work_s) <= self.deadline

    def _run_straight_through(self, now: datetime, following: tuple[datetime, datetime] | None) -> None:
        self._straight_through = True
        why = (
            "no slot is left"
            if following is None
            else (f"pausing until {_iso(following[0])} would end the remaining work after the deadline")
        )
        self.notes.append(f"Ran straight through from {_iso(now)}: {why} ({_iso(self.deadline)}).")

    # ------------------------------------------------------------------ pauses
    def _pause(self, trainer: Trainer, now: datetime, until: datetime) -> None:
        """Wait until ``until`` (its idle energy in its own monitor window), or exit until then."""
        if self.pause == "exit":
            self._exit(trainer, until)
            return
        energy = self._energy.running()
        monitor = energy.monitor if energy is not None else None
        name = f"pause{len(self.pauses) + 1}"
        if monitor is not None:
            monitor.begin_window(name)
        while (left_s := (until - self.clock()).total_seconds()) > 0:
            self.sleep(left_s)
        measured = monitor.end_window(name) if monitor is not None else None
        ended = self.clock()
        self.pauses.append(
            {
                "start": _iso(now),
                "end": _iso(ended),
                "duration_s": (ended - now).total_seconds(),
                "it_energy_j": measured.energy_j if measured is not None else None,
                "measured_s": measured.duration_s if measured is not None else None,
            }
        )

    def _exit(self, trainer: Trainer, until: datetime) -> None:
        last = next((cb for cb in trainer.checkpoint_callbacks if isinstance(cb, LastCheckpoint)), None)
        work = self._remaining_work(trainer, self.clock())
        self._remaining_s = work.total_seconds() if work is not None else None
        self.paused = PauseExit(until, slurm_begin_time(until, self.tz), last.last_path if last else None)
        trainer.should_stop = True
        self._publish(trainer)
        if trainer.is_global_zero:
            print("\n".join(self.paused.lines()), file=self.stream or sys.stderr)

    # ------------------------------------------------------------------ the report
    def record(self) -> dict[str, Any]:
        """The report's ``slots`` block."""
        return {
            "status": "paused" if self.paused is not None else self._status,
            "pause": self.pause,
            "deadline": _iso(self.deadline),
            "planned": [
                {"start": _iso(s), "end": _iso(e), "mean_g_per_kwh": m}
                for (s, e), m in zip(self.slots, self._planned_means)
            ],
            "run": [dict(r) for r in self.run],
            "pauses": list(self.pauses),
            "next_start": _iso(self.paused.next_start) if self.paused else None,
            "sbatch_begin": self.paused.sbatch_begin if self.paused else None,
            "ckpt_path": self.paused.ckpt_path if self.paused else None,
            "notes": list(self.notes),
        }

    def _publish(self, trainer: Trainer) -> None:
        """Keep the report's ``slots`` block current (it is read when the energy callback reports)."""
        energy = self._energy.running()
        if energy is not None:
            energy.report_meta["slots"] = self.record()

    # ------------------------------------------------------------------ checkpoint
    @override
    def state_dict(self) -> dict[str, Any]:
        """The slots run, the pauses and the notes so far (the report lists every part's)."""
        return {
            "run": [dict(r) for r in self.run],
            "pauses": list(self.pauses),
            "notes": list(self.notes),
            "closed_s": self._closed_s,
            "closed_steps": self._closed_steps,
            "deadline": _iso(self.deadline),
            "remaining_s": self._remaining_s,
            "status": self.record()["status"],
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Continue the record of a resumed job."""
        self.run = [dict(r) for r in state_dict.get("run", [])]
        self.pauses = list(state_dict.get("pauses", []))
        self.notes = list(state_dict.get("notes", []))
        self._closed_s = float(state_dict.get("closed_s", 0.0))
        self._closed_steps = int(state_dict.get("closed_steps", 0))
