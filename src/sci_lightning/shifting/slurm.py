"""``schedule=slurm``: a plan's start as an ``sbatch --begin`` time.

A job already running can no longer be delayed, so in training the ``slurm`` mode only
reports (:func:`sci_lightning.shifting.schedule.before_training`) and prints the time to
submit with; ``python -m sci_lightning.plan slurm_begin=true`` prints it for a shell.
See docs/carbon_aware.md for the submitit launcher recipe.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo

from sci_lightning.carbon.base import ensure_utc
from sci_lightning.shifting.planner import Plan

__all__ = ["slurm_begin_relative", "slurm_begin_time"]


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
