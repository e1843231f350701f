"""Carbon-aware time shifting, in one place.

- :mod:`~sci_lightning.shifting.durations`: the ``2h`` / ``90m`` duration parser.
- :mod:`~sci_lightning.shifting.planner`: the pure planner (forecast in, best start out; no I/O).
- :mod:`~sci_lightning.shifting.interruptible`: the pure planner for jobs that may pause
  (forecast in, the lowest-emission run slots before a deadline out; exact DP).
- :mod:`~sci_lightning.shifting.history`: the job's expected duration (config, the previous
  ``sci_report.json`` of the same job, or its first epoch).
- :mod:`~sci_lightning.shifting.fetch`: planning on a provider's forecast (and the SDK cross-check).
- :mod:`~sci_lightning.shifting.schedule`: the schedule modes before training, one dispatch
  (report, wait, slurm); :mod:`~sci_lightning.shifting.slurm`: the ``sbatch --begin`` time.
- :mod:`~sci_lightning.shifting.display`: every view of a plan (tables, PNG chart, countdown line).
- The command line is :mod:`sci_lightning.app.plan` (``python -m sci_lightning.plan``);
  ``schedule=interrupt`` (run slots, needs Lightning) is :mod:`sci_lightning.app.schedule`.

The names below load lazily, so importing this package (as ``settings`` does for the
duration parser) loads none of the planner, the history or the schedule until one is used.
None of them imports torch or Lightning.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sci_lightning._lazy import lazy_getattr

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and editors
    from sci_lightning.shifting.durations import format_duration, parse_duration
    from sci_lightning.shifting.history import DurationEstimate, resolve_duration
    from sci_lightning.shifting.interruptible import InterruptiblePlan, Slot, plan_interruptible
    from sci_lightning.shifting.planner import Plan, PlanError, plan_best_start
    from sci_lightning.shifting.schedule import ScheduleOutcome, before_training

_EXPORTS = {
    "format_duration": "sci_lightning.shifting.durations",
    "parse_duration": "sci_lightning.shifting.durations",
    "Plan": "sci_lightning.shifting.planner",
    "PlanError": "sci_lightning.shifting.planner",
    "plan_best_start": "sci_lightning.shifting.planner",
    "InterruptiblePlan": "sci_lightning.shifting.interruptible",
    "Slot": "sci_lightning.shifting.interruptible",
    "plan_interruptible": "sci_lightning.shifting.interruptible",
    "DurationEstimate": "sci_lightning.shifting.history",
    "resolve_duration": "sci_lightning.shifting.history",
    "ScheduleOutcome": "sci_lightning.shifting.schedule",
    "before_training": "sci_lightning.shifting.schedule",
}

__all__ = [
    "DurationEstimate",
    "InterruptiblePlan",
    "Plan",
    "PlanError",
    "ScheduleOutcome",
    "Slot",
    "before_training",
    "format_duration",
    "parse_duration",
    "plan_best_start",
    "plan_interruptible",
    "resolve_duration",
]


__getattr__ = lazy_getattr(__name__, _EXPORTS)
