"""Durations as people write them in settings: ``2h``, ``90m``, ``5400s``, ``1h30m``, ``1d``.

The one parser for every duration setting (``schedule.duration``, ``schedule.max_wait``,
``plan``'s ``duration``, ...) and its inverse for messages.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sci_lightning.errors import setting_error
from sci_lightning.timefmt import duration_compact

__all__ = ["format_duration", "parse_duration"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(d|h|m|s)", re.IGNORECASE)
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(value: object, what: str = "schedule.duration", *, allow_zero: bool = False) -> timedelta:
    """Parse ``"2h"``, ``"90m"``, ``"5400s"``, ``"1h30m"``, ``"1.5h"``, ``"1d"`` into a timedelta.

    A ``timedelta`` passes through. Bare numbers are refused because the unit would be a
    guess (write ``5400s`` or ``90m``). Zero is refused unless ``allow_zero`` (e.g. a pause
    cost of ``0s``); negative durations always are. Raises :class:`ConfigError` naming ``what``.
    """
    if isinstance(value, timedelta):
        td = value
    else:
        if isinstance(value, bool) or value is None:
            raise setting_error(
                what, value, "is not a duration", f"Give e.g. {what}=2h, 90m, 5400s or 1h30m."
            )
        if isinstance(value, (int, float)) or re.fullmatch(r"\s*\d+(\.\d*)?\s*", str(value)):
            raise setting_error(
                what,
                value,
                "has no unit",
                f"Write the unit, e.g. {what}={value}s or {what}={value}m (units: d, h, m, s).",
            )
        text = str(value).strip().replace(" ", "")
        pos = 0
        total_s = 0.0
        for m in _DURATION_PART.finditer(text):
            if m.start() != pos:
                break
            total_s += float(m.group(1)) * _UNIT_S[m.group(2).lower()]
            pos = m.end()
        if pos != len(text) or not text:
            raise setting_error(
                what,
                value,
                "is not a duration I can read",
                f"Use numbers with units d/h/m/s, e.g. {what}=2h, 90m, 5400s or 1h30m.",
            )
        td = timedelta(seconds=total_s)
    if allow_zero and td == timedelta(0):
        return td
    if td <= timedelta(0):
        raise setting_error(
            what, value, "must be longer than zero", f"Give a positive duration, e.g. {what}=2h."
        )
    return td


#: ``timedelta(hours=1, minutes=30)`` -> ``"1h30m"``: the settings' form (one formatter, in timefmt).
format_duration = duration_compact
