"""A bounded timeline of energy intervals: O(1) amortised per step, O(max_intervals) memory.

Each step boundary adds ``(start, end, joules)``. Consecutive steps are accumulated into
a pending bucket until it spans at least the current resolution ``width_s``; the bucket
is then appended. When the list grows past ``max_intervals`` adjacent pairs are merged
(halving the list) and the resolution is raised to the new mean interval width, so a run
of any length keeps at most ``max_intervals`` roughly even intervals. Energy is never
lost: every joule added is in exactly one interval (or the pending bucket).

Times are POSIX seconds (``time.time()``) internally; :meth:`intervals` converts to
aware UTC :class:`~sci_lightning.energy.base.EnergyInterval`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from sci_lightning.energy.base import EnergyInterval

__all__ = ["Timeline", "fit_rows", "rows_to_intervals"]


class Timeline:
    """Bounded list of ``(start_ts, end_ts, energy_j)`` intervals.

    Args:
        max_intervals: upper bound on stored intervals (>= 2).
    """

    def __init__(self, max_intervals: int = 512) -> None:
        if max_intervals < 2:
            raise ValueError(f"max_intervals must be >= 2, got {max_intervals}")
        self.max_intervals = int(max_intervals)
        self.width_s = 0.0
        self._rows: list[list[float]] = []  # [start_ts, end_ts, energy_j]
        self._pending: list[float] | None = None

    def __len__(self) -> int:
        return len(self._rows) + (1 if self._pending is not None else 0)

    def add(self, start_ts: float, end_ts: float, energy_j: float) -> None:
        """Record ``energy_j`` joules drawn between two POSIX timestamps."""
        p = self._pending
        if p is None:
            p = self._pending = [start_ts, end_ts, 0.0]
        p[1] = end_ts
        p[2] += energy_j
        if p[1] - p[0] >= self.width_s:
            self._rows.append(p)
            self._pending = None
            if len(self._rows) >= self.max_intervals:
                self._halve()

    def _halve(self) -> None:
        rows = self._rows
        merged = [
            [rows[i][0], rows[i + 1][1], rows[i][2] + rows[i + 1][2]] if i + 1 < len(rows) else rows[i]
            for i in range(0, len(rows), 2)
        ]
        self._rows = merged
        span = merged[-1][1] - merged[0][0]
        self.width_s = max(self.width_s * 2.0, span / max(1, len(merged)))

    def extend(self, rows: Iterable[Iterable[float]]) -> None:
        """Append finished intervals (e.g. a previous run part), keeping the bound."""
        self.flush()
        for r in rows:
            s, e, j = (float(x) for x in r)
            self._rows.append([s, e, j])
            if len(self._rows) >= self.max_intervals:
                self._halve()

    def flush(self) -> None:
        """Close the pending bucket (call at the end of a measurement)."""
        if self._pending is not None:
            self._rows.append(self._pending)
            self._pending = None
            if len(self._rows) >= self.max_intervals:
                self._halve()

    def rows(self) -> list[list[float]]:
        """Copy of the intervals, pending bucket included, as ``[start_ts, end_ts, energy_j]``."""
        out = [list(r) for r in self._rows]
        if self._pending is not None:
            out.append(list(self._pending))
        return out

    @property
    def total_j(self) -> float:
        return sum(r[2] for r in self._rows) + (self._pending[2] if self._pending else 0.0)

    def intervals(self, scale: float = 1.0) -> list[EnergyInterval]:
        """The timeline as aware-UTC :class:`EnergyInterval` objects, energy x ``scale``."""
        return rows_to_intervals(self.rows(), scale)

    def state_dict(self) -> dict[str, Any]:
        return {"max_intervals": self.max_intervals, "width_s": self.width_s, "rows": self.rows()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rows = []
        self._pending = None
        self.width_s = float(state.get("width_s", 0.0))
        self.extend(state.get("rows", []))


def rows_to_intervals(rows: Iterable[Iterable[float]], scale: float = 1.0) -> list[EnergyInterval]:
    """``[start_ts, end_ts, energy_j]`` rows as aware-UTC intervals, energy x ``scale``."""
    utc = timezone.utc
    stamp = datetime.fromtimestamp
    return [EnergyInterval(stamp(s, utc), stamp(e, utc), j * scale) for s, e, j in rows]


def fit_rows(rows: list[list[float]], energy_j: float, start_ts: float, end_ts: float) -> list[list[float]]:
    """``rows`` rescaled so they sum to ``energy_j``, keeping their shape.

    Reconciles a timeline built from cheap per-step readings with the exact total (or a
    job total over several ranks). Rows summing to zero become one flat interval
    ``[start_ts, end_ts]`` carrying all of ``energy_j``.
    """
    total_j = sum(r[2] for r in rows)
    if total_j > 0:
        return [[s, e, j * energy_j / total_j] for s, e, j in rows]
    return [[start_ts, max(start_ts, end_ts), energy_j]]
