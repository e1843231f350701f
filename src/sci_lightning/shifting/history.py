"""How long will this job take? Its expected duration, and where that figure came from.

The carbon-aware planner (:mod:`sci_lightning.shifting.planner`) needs the job's run time.
:func:`resolve_duration` takes it, in this order, from

1. the configured ``schedule.duration`` (``"2h"``, ``"90m"``, ...);
2. how long the same job took last time: the newest earlier ``sci_report.json`` under
   ``outputs/`` for the same model and settings (:func:`duration_from_previous_report`);
3. nothing -- the caller then times the first epoch (:func:`duration_from_first_epoch`);
   a job that learns its duration that way has already started and can only report.

This is the one module of :mod:`sci_lightning.shifting` that reads files, and a report file
is read in one function, :func:`_read_report`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from sci_lightning.shifting.durations import parse_duration

__all__ = [
    "DurationEstimate",
    "duration_from_first_epoch",
    "duration_from_previous_report",
    "resolve_duration",
]

#: The file name of a run's report (written by :mod:`sci_lightning.sci.report`).
REPORT_NAME = "sci_report.json"


@dataclass(frozen=True)
class DurationEstimate:
    """An expected job duration and where it came from (``config``, ``previous_report``, ``first_epoch``)."""

    duration: timedelta
    source: str
    detail: str = ""


def resolve_duration(
    configured: timedelta | str | None,
    *,
    model: str | None = None,
    settings: Mapping[str, Any] | None = None,
    outputs_dir: str | os.PathLike = "outputs",
) -> DurationEstimate | None:
    """The expected duration from config (``schedule.duration``) or else a previous report.

    Returns None when neither is available; the caller then measures the first epoch
    (:func:`duration_from_first_epoch`) and reports instead of waiting.
    """
    if configured not in (None, ""):
        return DurationEstimate(parse_duration(configured), "config", f"schedule.duration={configured}")
    if model:
        return duration_from_previous_report(outputs_dir, model, settings)
    return None


def duration_from_previous_report(
    outputs_dir: str | os.PathLike,
    model: str,
    settings: Mapping[str, Any] | None = None,
) -> DurationEstimate | None:
    """The ``duration_s`` of the newest ``sci_report.json`` under ``outputs_dir`` for ``model``.

    A report matches when its ``model`` equals ``model`` and, for every ``settings`` key
    (dotted paths allowed, e.g. ``"data.batch_size"``), the report holds an equal value.
    Newest = latest file modification time. Unreadable reports are skipped. Returns None
    when nothing matches.
    """
    root = Path(outputs_dir)
    if not root.is_dir():
        return None
    newest: tuple[float, Path, float] | None = None  # (mtime_s, path, duration_s)
    for path in root.rglob(REPORT_NAME):
        try:
            report = _read_report(path)
            mtime_s = path.stat().st_mtime
        except (OSError, ValueError):
            continue
        duration_s = _matching_duration_s(report, model, settings)
        if duration_s is not None and (newest is None or mtime_s > newest[0]):
            newest = (mtime_s, path, duration_s)
    if newest is None:
        return None
    return DurationEstimate(timedelta(seconds=newest[2]), "previous_report", str(newest[1]))


def duration_from_first_epoch(
    first_epoch_s: float, max_epochs: int, overhead_s: float = 0.0
) -> DurationEstimate:
    """Expected duration = first epoch time x ``max_epochs`` + ``overhead_s``.

    The first epoch includes warm-up, so this errs long. A job that learns its duration
    this way has already started: it can only *report* what shifting would have saved.
    """
    if not (isinstance(first_epoch_s, (int, float)) and math.isfinite(first_epoch_s) and first_epoch_s > 0):
        raise ValueError(f"first_epoch_s={first_epoch_s!r} must be a positive number of seconds.")
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs={max_epochs!r} must be >= 1.")
    total_s = float(first_epoch_s) * int(max_epochs) + max(float(overhead_s), 0.0)
    return DurationEstimate(
        timedelta(seconds=total_s),
        "first_epoch",
        f"{first_epoch_s:.1f} s x {int(max_epochs)} epochs (measured first epoch)",
    )


# --------------------------------------------------------------------------- reading reports


def _read_report(path: Path) -> dict[str, Any]:
    """The report in ``path`` (the one place a report file is read here).

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not JSON, or not a JSON object.
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object.")
    return data


def _matching_duration_s(
    report: Mapping[str, Any], model: str, settings: Mapping[str, Any] | None
) -> float | None:
    """The report's ``duration_s`` when it is of ``model`` with ``settings``; None otherwise."""
    if report.get("model") != model:
        return None
    if settings and not all(_lookup(report, key) == value for key, value in settings.items()):
        return None
    duration_s = report.get("duration_s")
    if isinstance(duration_s, bool) or not isinstance(duration_s, (int, float)):
        return None
    return float(duration_s) if math.isfinite(duration_s) and duration_s > 0 else None


_MISSING = object()


def _lookup(data: Mapping[str, Any], dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; a sentinel equal to nothing when a part is missing."""
    cur: Any = data
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur
