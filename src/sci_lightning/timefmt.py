"""How the project writes times and durations: one function per format, used everywhere.

Timestamps (all in UTC; a naive datetime is taken to be UTC already):

=============================  ==================================  ==========================
function                       example                             used for
=============================  ==================================  ==========================
:func:`iso_utc`                ``2026-12-03T14:05:00.250000+00:00``  reports, markdown, CycloneDX
:func:`iso_z`                  ``2026-12-03T14:05:00.250000Z``        plans, schedules (JSON)
:func:`iso_seconds_z`          ``2026-12-03T14:05:00Z``               HTTP queries, SPDX
:func:`iso_millis_z`           ``2026-12-03T14:05:00.250Z``           Impact Framework manifests
:func:`utc_minutes`            ``2026-12-03 14:05 UTC``               text for people
=============================  ==================================  ==========================

Durations:

=============================  ==================================
:func:`duration_compact`       ``1h30m`` (settings' form, ``2h`` in a config)
:func:`duration_words`         ``42 s``, ``3 min 05 s``, ``2 h 07 min``
:func:`duration_short`         ``42s``, ``3m05s``, ``2h04m`` (progress lines)
:func:`countdown`              ``1:02:03`` (hours:minutes:seconds left, rounded up)
=============================  ==================================
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

__all__ = [
    "countdown",
    "duration_compact",
    "duration_short",
    "duration_words",
    "iso_millis_z",
    "iso_seconds_z",
    "iso_utc",
    "iso_z",
    "utc_minutes",
]


def _utc(ts: datetime) -> datetime:
    """``ts`` in UTC; a naive ``ts`` is taken to be UTC already."""
    return ts.astimezone(timezone.utc) if ts.tzinfo is not None else ts.replace(tzinfo=timezone.utc)


def iso_utc(ts: datetime, timespec: str = "auto") -> str:
    """ISO 8601 in UTC with its offset: ``2026-12-03T14:05:00+00:00``."""
    return _utc(ts).isoformat(timespec=timespec)


def iso_z(ts: datetime, timespec: str = "auto") -> str:
    """ISO 8601 in UTC with ``Z`` for the zone: ``2026-12-03T14:05:00Z``."""
    return iso_utc(ts, timespec).replace("+00:00", "Z")


def iso_seconds_z(ts: datetime) -> str:
    """Whole seconds in UTC with ``Z``: ``2026-12-03T14:05:00Z`` (what HTTP APIs and SPDX expect)."""
    return _utc(ts).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_millis_z(ts: datetime) -> str:
    """Milliseconds in UTC with ``Z``: ``2026-12-03T14:05:00.250Z`` (the Impact Framework's form)."""
    t = _utc(ts)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def utc_minutes(ts: datetime) -> str:
    """For people: ``2026-12-03 14:05 UTC``."""
    return _utc(ts).strftime("%Y-%m-%d %H:%M UTC")


def duration_compact(td: timedelta) -> str:
    """``timedelta(hours=1, minutes=30)`` -> ``"1h30m"`` (seconds kept when present; ``"0s"`` for zero)."""
    total = int(round(td.total_seconds()))
    if total == 0:
        return "0s"
    pieces = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size:
            n, total = divmod(total, size)
            pieces.append(f"{n}{unit}")
    return "".join(pieces)


def duration_words(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 07 min`` (``n/a`` when not a finite number)."""
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or not math.isfinite(seconds):
        return "n/a"
    total = int(round(seconds))
    if total < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def duration_short(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h04m`` (whole seconds, never negative)."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def countdown(left: timedelta) -> str:
    """Time left as ``h:mm:ss``, rounded up to the second (never negative)."""
    s = max(0, int(math.ceil(left.total_seconds())))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{sec:02d}"
