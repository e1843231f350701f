"""The carbon-aware planner: the lowest-carbon start for a job of known duration.

Pure, on plain data: forecast points (:mod:`sci_lightning.carbon.base` types) and a
duration in, a :class:`Plan` out. It reads no files and no network, and reads the clock
only when no ``now`` is given. Fetching the forecast and acting on the plan is
:mod:`sci_lightning.shifting.schedule`; the job's expected duration comes from
:mod:`sci_lightning.shifting.history`.

Method (the same as the GSF Carbon Aware SDK's ``RollingAverage`` / ``AverageOverPeriod``):

* A candidate start ``s`` gives the job window ``[s, s + duration)``.
* Its mean intensity is the average of the forecast points, each weighted by the length of
  its overlap with the job window: ``sum(value_i * overlap_i) / duration``. When the
  duration is not a multiple of the forecast resolution the last (and, for an unaligned
  start, the first) point counts only for the part the job overlaps.
* A window is a candidate only when the forecast covers it completely and it lies inside
  the planning window (the job must *finish* by the window end, like the SDK's
  ``dataEndAt``).
* ``align="points"`` (default): the candidates are the earliest possible start (normally
  "now") plus every forecast point start after it, so candidates step by the forecast's
  resolution and sit on point starts. ``align="window_start"`` reproduces the SDK exactly:
  candidates are ``window_start + k * resolution`` (the SDK steps from ``dataStartAt`` by
  the first point's duration).
* The best start has the lowest mean; ties (equal within a relative 1e-9, i.e. float
  rounding) go to the earliest start. The SDK returns every tied window in
  ``optimalDataPoints``, earliest first.

Forecast hygiene (documented choice): points are sorted; exact duplicates are dropped
with a note; conflicting duplicates or overlaps, and gaps, are refused with the reason
(the SDK also refuses non-continuous data) -- a gap would silently bias the average, and
filling it would invent forecast values. All timestamps must be timezone-aware.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries, ensure_utc
from sci_lightning.errors import ConfigError, SciLightningError
from sci_lightning.shifting.durations import format_duration, parse_duration
from sci_lightning.timefmt import iso_z

__all__ = [
    "METHOD",
    "TIE_REL_TOL",
    "Align",
    "Plan",
    "PlanError",
    "carbon_aware_findings",
    "check_align",
    "cross_check_optimal",
    "plan_best_start",
    "window_mean",
]

Align = Literal["points", "window_start"]

METHOD = "forecast-based projection, rolling window average weighted by overlap"
DEFAULT_WINDOW = timedelta(hours=24)
TIE_REL_TOL = 1e-9


class PlanError(SciLightningError, ValueError):
    """The forecast or the planning window cannot give a plan; the message says why and the fix."""


# --------------------------------------------------------------------------- forecast hygiene


def normalize_points(points: Iterable[IntensityPoint]) -> tuple[list[IntensityPoint], list[str]]:
    """Return the points in time order, UTC, without exact duplicates, plus notes on what was done.

    Raises :class:`PlanError` for naive timestamps, empty or negative intervals, non-finite
    values, conflicting duplicates/overlaps and gaps.
    """
    notes: list[str] = []
    pts: list[IntensityPoint] = []
    for i, p in enumerate(points):
        try:
            start = ensure_utc(p.start, f"forecast point {i} start")
            end = ensure_utc(p.end, f"forecast point {i} end")
        except ValueError as exc:
            raise PlanError(f"{exc} Fix: the provider must return aware UTC timestamps.") from None
        if end <= start:
            raise PlanError(f"forecast point {i} ends ({iso_z(end)}) before it starts ({iso_z(start)}).")
        value = float(p.g_per_kwh)
        if not math.isfinite(value):
            raise PlanError(
                f"forecast point {i} at {iso_z(start)} has a non-finite intensity ({p.g_per_kwh!r})."
            )
        pts.append(IntensityPoint(start, end, value))
    if not pts:
        raise PlanError(
            "the forecast has no points. Fix: check the provider's region and that it offers forecasts."
        )
    if any(b.start < a.start for a, b in zip(pts, pts[1:])):
        notes.append("forecast points were not in time order; sorted them.")
    pts.sort(key=lambda p: (p.start, p.end, p.g_per_kwh))
    out: list[IntensityPoint] = [pts[0]]
    dropped = 0
    for p in pts[1:]:
        prev = out[-1]
        if p == prev:
            dropped += 1
            continue
        if p.start == prev.start:
            raise PlanError(
                f"the forecast has conflicting points for {iso_z(p.start)}: "
                f"{prev.g_per_kwh} g/kWh until {iso_z(prev.end)} and {p.g_per_kwh} g/kWh until "
                f"{iso_z(p.end)}. Fix: the provider returned two forecasts mixed together; "
                "request a single forecast run."
            )
        if p.start < prev.end:
            raise PlanError(
                f"forecast points overlap: [{iso_z(prev.start)}, {iso_z(prev.end)}) and "
                f"[{iso_z(p.start)}, {iso_z(p.end)}). Fix: request a single forecast run."
            )
        if p.start > prev.end:
            raise PlanError(
                f"the forecast has a gap from {iso_z(prev.end)} to {iso_z(p.start)} "
                f"({format_duration(p.start - prev.end)}); a rolling average across it would be wrong. "
                "Fix: request the forecast again or use another provider (carbon.fallback)."
            )
        out.append(p)
    if dropped:
        notes.append(f"dropped {dropped} exact duplicate forecast point(s).")
    return out, notes


def window_mean(
    points: Sequence[IntensityPoint], start: datetime, end: datetime, _starts: list[datetime] | None = None
) -> float:
    """Mean intensity over ``[start, end)``: each point weighted by its overlap with the window.

    ``points`` must be sorted, gap-free and cover the window (see :func:`normalize_points`);
    raises :class:`PlanError` otherwise.
    """
    if end <= start:
        raise PlanError(f"empty window [{iso_z(start)}, {iso_z(end)}).")
    if not points or start < points[0].start or end > points[-1].end:
        raise PlanError(f"the forecast does not cover [{iso_z(start)}, {iso_z(end)}).")
    starts = _starts if _starts is not None else [p.start for p in points]
    i = max(bisect.bisect_right(starts, start) - 1, 0)
    total_s = (end - start).total_seconds()
    terms = []
    while i < len(points) and points[i].start < end:
        p = points[i]
        lo = max(start, p.start)
        hi = min(end, p.end)
        if hi > lo:
            terms.append(p.g_per_kwh * (hi - lo).total_seconds())
        i += 1
    return math.fsum(terms) / total_s


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class CarbonProjection:
    """Projected operational carbon (E x I) of a job run now vs at the best start.

    Figures are estimates: a forecast intensity times the given energy.
    """

    energy_kwh: float
    now_g: float
    shifted_g: float
    saving_g: float
    saving_pct: float


@dataclass(frozen=True)
class Plan:
    """The lowest-carbon start for a job, found in a forecast.

    All times UTC; intensities gCO2e/kWh, *forecast* values (estimates), averaged over
    the job window weighted by overlap (see the module docstring).
    """

    duration: timedelta
    best_start: datetime
    best_end: datetime
    best_mean_g_per_kwh: float
    now_start: datetime
    now_mean_g_per_kwh: float
    saving_g_per_kwh: float
    saving_pct: float
    candidates: int
    source: str
    region: str
    signal_type: str
    kind: str
    generated_at: datetime | None
    window_start: datetime
    window_end: datetime
    align: str = "points"
    method: str = METHOD
    windows: tuple[tuple[datetime, float], ...] = ()  # every candidate (start, mean), time order
    points: tuple[IntensityPoint, ...] = ()  # the cleaned forecast used
    notes: tuple[str, ...] = ()

    @property
    def delay(self) -> timedelta:
        """How long after the window start (now, unless a later start was asked for) the
        best window begins; a leading stretch without intensity data counts as waiting."""
        return self.best_start - self.window_start

    @property
    def data_gap_at_start(self) -> timedelta:
        """How long after the window start the first intensity data begins (0: data covers it);
        ``now_start`` and the "run now" figures are for that earliest start with data."""
        return self.now_start - self.window_start

    def project(self, energy_kwh: float) -> CarbonProjection:
        """Operational carbon E x I (grams) for ``energy_kwh`` run now vs at the best start."""
        energy_kwh = float(energy_kwh)
        if not math.isfinite(energy_kwh) or energy_kwh < 0:
            raise ValueError(f"energy_kwh={energy_kwh!r} must be a finite number >= 0.")
        now_g = energy_kwh * self.now_mean_g_per_kwh
        shifted_g = energy_kwh * self.best_mean_g_per_kwh
        saving_g = now_g - shifted_g
        pct = 100.0 * saving_g / now_g if now_g > 0 else 0.0
        return CarbonProjection(energy_kwh, now_g, shifted_g, saving_g, pct)

    def mean_for_start(self, start: datetime) -> float:
        """Forecast mean intensity of a job of this plan's duration starting at ``start``."""
        start = ensure_utc(start, "start")
        return window_mean(self.points, start, start + self.duration)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (ISO-8601 UTC times, durations in seconds)."""
        return {
            "best_start": iso_z(self.best_start),
            "best_end": iso_z(self.best_end),
            "best_mean_g_per_kwh": self.best_mean_g_per_kwh,
            "now_start": iso_z(self.now_start),
            "now_mean_g_per_kwh": self.now_mean_g_per_kwh,
            "saving_g_per_kwh": self.saving_g_per_kwh,
            "saving_pct": self.saving_pct,
            "delay_s": self.delay.total_seconds(),
            "data_gap_at_start_s": self.data_gap_at_start.total_seconds(),
            "duration_s": self.duration.total_seconds(),
            "candidates": self.candidates,
            "window_start": iso_z(self.window_start),
            "window_end": iso_z(self.window_end),
            "align": self.align,
            "source": self.source,
            "region": self.region,
            "signal_type": self.signal_type,
            "kind": self.kind,
            "generated_at": iso_z(self.generated_at) if self.generated_at else None,
            "method": self.method,
            "notes": list(self.notes),
        }


def plan_best_start(
    series: IntensitySeries,
    duration: timedelta | str,
    *,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
    now: datetime | None = None,
    align: Align = "points",
) -> Plan:
    """Find the start in ``[window_start, window_end - duration]`` with the lowest mean intensity.

    Args:
        series: the forecast (any :class:`IntensitySeries`; usually ``kind="forecast"``).
        duration: the job's expected run time (timedelta or ``"2h"``-style string).
        window_start: earliest start; default ``now``. A start before ``now`` is moved to
            ``now`` (with a note) -- the past cannot be scheduled.
        window_end: the job must finish by then; default ``window_start + 24h``.
        now: the current time (aware); default the system clock. Injected by tests.
        align: ``"points"`` (candidates on forecast point starts, plus the earliest
            start) or ``"window_start"`` (the SDK's ``dataStartAt + k * resolution``).

    Raises:
        PlanError: window in the past or too short, duration longer than the forecast
            horizon, gaps / conflicting points / naive times in the forecast.
        ConfigError: a malformed duration.
    """
    dur = parse_duration(duration, "duration")
    align = check_align(align)
    now = ensure_utc(now, "now") if now is not None else datetime.now(timezone.utc)
    points, notes = normalize_points(series.points)
    notes = list(series.notes) + notes
    ws, we = _planning_window(window_start, window_end, now, notes)
    eff_start, eff_end = _covered_window(points, ws, we, dur, series, notes)
    cands = _candidate_starts(points, series, eff_start, eff_end - dur, align)
    windows = _window_means(points, cands, dur)
    best_s, best_m = pick_best(windows)
    now_m = windows[0][1]
    saving = now_m - best_m
    return Plan(
        duration=dur,
        best_start=best_s,
        best_end=best_s + dur,
        best_mean_g_per_kwh=best_m,
        now_start=eff_start,
        now_mean_g_per_kwh=now_m,
        saving_g_per_kwh=saving,
        saving_pct=100.0 * saving / now_m if now_m > 0 else 0.0,
        candidates=len(windows),
        source=series.source,
        region=series.region,
        signal_type=series.signal_type,
        kind=series.kind,
        generated_at=ensure_utc(series.generated_at, "generated_at") if series.generated_at else None,
        window_start=ws,
        window_end=we,
        align=align,
        windows=windows,
        points=tuple(points),
        notes=tuple(notes),
    )


def _window_means(
    points: Sequence[IntensityPoint], starts: list[datetime], dur: timedelta
) -> tuple[tuple[datetime, float], ...]:
    """Every candidate ``(start, mean over [start, start + dur))``, in the order given."""
    point_starts = [p.start for p in points]
    return tuple((s, window_mean(points, s, s + dur, point_starts)) for s in starts)


def check_align(align: str) -> Align:
    """``align`` as an :data:`Align`; ConfigError naming the two choices otherwise."""
    if align == "points" or align == "window_start":
        return align
    raise ConfigError(f"align={align!r} is not known. Fix: use 'points' or 'window_start'.")


def _planning_window(
    window_start: datetime | None, window_end: datetime | None, now: datetime, notes: list[str]
) -> tuple[datetime, datetime]:
    """The asked window, checked, its start moved to ``now`` when in the past (noted)."""
    ws = ensure_utc(window_start, "window_start") if window_start is not None else now
    we = ensure_utc(window_end, "window_end") if window_end is not None else ws + DEFAULT_WINDOW
    if we <= now:
        raise PlanError(
            f"the planning window ends at {iso_z(we)}, which is in the past (now {iso_z(now)}). "
            "Fix: give a window that ends in the future (e.g. window_h=24 from now)."
        )
    if we <= ws:
        raise PlanError(
            f"the planning window ends ({iso_z(we)}) before it starts ({iso_z(ws)}). Fix: window_end > window_start."
        )
    if ws < now:
        notes.append(f"window start {iso_z(ws)} is in the past; planning from now ({iso_z(now)}).")
        ws = now
    return ws, we


def _covered_window(
    points: Sequence[IntensityPoint],
    ws: datetime,
    we: datetime,
    dur: timedelta,
    series: IntensitySeries,
    notes: list[str],
) -> tuple[datetime, datetime]:
    """The part of ``[ws, we)`` the forecast covers; PlanError when the job does not fit in it."""
    f0, f1 = points[0].start, points[-1].end
    if ws >= f1:
        raise PlanError(
            f"the forecast ends at {iso_z(f1)}, before the planning window starts ({iso_z(ws)}). "
            "Fix: fetch a fresh forecast."
        )
    eff_start, eff_end = max(ws, f0), min(we, f1)
    if eff_start > ws:
        notes.append(
            f"no intensity data covers the window start {iso_z(ws)}: the forecast starts at {iso_z(f0)}, "
            f"{format_duration(f0 - ws)} later; the 'run now' figures are for that earliest start with data, "
            "and delay_s counts the wait from the window start."
        )
    if eff_end - eff_start < dur:
        horizon = f1 - eff_start
        if horizon < dur:
            raise PlanError(
                f"the job duration {format_duration(dur)} is longer than the forecast horizon from "
                f"{iso_z(eff_start)} ({format_duration(horizon)}, forecast ends {iso_z(f1)}; source "
                f"{series.source} {series.region}). Fix: use a shorter duration, a provider with a longer "
                "forecast, or run without time shifting (schedule=none)."
            )
        raise PlanError(
            f"the planning window [{iso_z(eff_start)}, {iso_z(eff_end)}) is shorter than the job "
            f"duration {format_duration(dur)}. Fix: widen the window (window_h) or shorten the duration."
        )
    if we > f1:
        notes.append(f"the window end {iso_z(we)} is past the forecast's end; planning up to {iso_z(f1)}.")
    return eff_start, eff_end


def _candidate_starts(
    points: Sequence[IntensityPoint],
    series: IntensitySeries,
    eff_start: datetime,
    last_start: datetime,
    align: Align,
) -> list[datetime]:
    """The starts to compare: on point starts (``points``) or stepping from the start (``window_start``)."""
    if align == "points":
        return [eff_start] + [p.start for p in points if eff_start < p.start <= last_start]
    step = series.resolution or (points[0].end - points[0].start)
    step = points[0].end - points[0].start if step <= timedelta(0) else step
    cands = []
    s = eff_start
    while s <= last_start:
        cands.append(s)
        s += step
    return cands


def pick_best(windows: Sequence[tuple[datetime, float]]) -> tuple[datetime, float]:
    """The (start, mean) with the lowest mean; ties within float rounding go to the earliest."""
    if not windows:
        raise PlanError("no candidate start fits the window.")
    lowest = min(m for _, m in windows)
    tol = TIE_REL_TOL * max(abs(lowest), 1.0)
    for s, m in sorted(windows, key=lambda w: w[0]):
        if m <= lowest + tol:
            return s, m
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- cross-check and findings


def cross_check_optimal(
    plan: Plan,
    sdk_optimal: Iterable[IntensityPoint | tuple[datetime, float]],
    *,
    rel_tol: float = 1e-6,
) -> dict[str, Any]:
    """Compare the Carbon Aware SDK's ``optimalDataPoints`` with this planner.

    For each SDK optimal window ``(start, value)`` it recomputes the mean over
    ``[start, start + duration)`` from ``plan.points`` and checks that the value matches and
    is as low as the planner's best. Returns ``{"agrees": bool, "sdk_start", "sdk_mean_g_per_kwh",
    "our_mean_for_sdk_start_g_per_kwh", "our_best_start", "our_best_mean_g_per_kwh", "reason"}``.
    The SDK's candidates step from ``dataStartAt``; ours from point starts, so their best
    *means* should agree when both grids coincide, and ours is never worse when the SDK's
    start lies on our grid.
    """
    opts = sorted(_sdk_window(o) for o in sdk_optimal)
    result: dict[str, Any] = {
        "agrees": False,
        "our_best_start": iso_z(plan.best_start),
        "our_best_mean_g_per_kwh": plan.best_mean_g_per_kwh,
        "sdk_start": None,
        "sdk_mean_g_per_kwh": None,
        "our_mean_for_sdk_start_g_per_kwh": None,
        "reason": "",
    }
    if not opts:
        result["reason"] = "the SDK returned no optimalDataPoints."
        return result
    s, v = opts[0]
    result["sdk_start"] = iso_z(s)
    result["sdk_mean_g_per_kwh"] = v
    try:
        ours = plan.mean_for_start(s)
    except PlanError as exc:
        result["reason"] = f"the SDK's window is outside the forecast used here: {exc}"
        return result
    result["our_mean_for_sdk_start_g_per_kwh"] = ours
    problems = _disagreements(plan, s, v, ours, rel_tol * max(abs(v), 1.0))
    result["agrees"] = not problems
    result["reason"] = "; ".join(problems) if problems else "same best window and mean."
    return result


def _sdk_window(found: IntensityPoint | tuple[datetime, float]) -> tuple[datetime, float]:
    """One SDK optimal window as ``(aware start, mean g/kWh)``."""
    if isinstance(found, IntensityPoint):
        return ensure_utc(found.start, "SDK optimal start"), float(found.g_per_kwh)
    return ensure_utc(found[0], "SDK optimal start"), float(found[1])


def _disagreements(plan: Plan, sdk_start: datetime, sdk_mean: float, ours: float, tol: float) -> list[str]:
    """What differs between the SDK's best window and the planner's (empty: they agree)."""
    problems = []
    if abs(ours - sdk_mean) > tol:
        problems.append(
            f"the SDK says {sdk_mean:.6g} g/kWh for the window at {iso_z(sdk_start)}, the forecast gives {ours:.6g}"
        )
    if abs(plan.best_mean_g_per_kwh - sdk_mean) > tol:
        problems.append(
            f"best means differ: SDK {sdk_mean:.6g} g/kWh at {iso_z(sdk_start)}, planner "
            f"{plan.best_mean_g_per_kwh:.6g} at {iso_z(plan.best_start)}"
        )
    elif sdk_start != plan.best_start:
        problems.append(
            f"equal best means but different starts: SDK {iso_z(sdk_start)}, planner {iso_z(plan.best_start)}"
        )
    return problems


def carbon_aware_findings(plan: Plan, energy_kwh: float, actual_start: datetime) -> dict[str, Any]:
    """What time shifting would have saved for a job that started at ``actual_start``.

    Keys: actual_start, best_start, intensity_at_actual_start_g_per_kwh,
    best_window_mean_g_per_kwh, actual_window_mean_g_per_kwh, saving_g, saving_pct,
    energy_kwh, duration_s, source, region, signal_type, kind, generated_at, method,
    estimated (always True: forecast intensities times measured energy), notes.
    ``saving_g`` = energy_kwh x (actual window mean - best window mean); positive means
    the best start would have emitted less. Values the forecast cannot give are None,
    with the reason in notes.
    """
    actual_start = ensure_utc(actual_start, "actual_start")
    energy_kwh = float(energy_kwh)
    notes = list(plan.notes)
    at_start = None
    for p in plan.points:
        if p.start <= actual_start < p.end:
            at_start = p.g_per_kwh
            break
    if at_start is None:
        notes.append(f"the forecast does not cover the actual start {iso_z(actual_start)}.")
    try:
        actual_mean = plan.mean_for_start(actual_start)
    except PlanError:
        actual_mean = None
        notes.append("the forecast does not cover the whole actual job window; no saving computed.")
    saving_g = saving_pct = None
    if actual_mean is not None:
        saving_g = energy_kwh * (actual_mean - plan.best_mean_g_per_kwh)
        saving_pct = (
            100.0 * (actual_mean - plan.best_mean_g_per_kwh) / actual_mean if actual_mean > 0 else 0.0
        )
    return {
        "actual_start": iso_z(actual_start),
        "best_start": iso_z(plan.best_start),
        "best_end": iso_z(plan.best_end),
        "intensity_at_actual_start_g_per_kwh": at_start,
        "best_window_mean_g_per_kwh": plan.best_mean_g_per_kwh,
        "actual_window_mean_g_per_kwh": actual_mean,
        "saving_g": saving_g,
        "saving_pct": saving_pct,
        "energy_kwh": energy_kwh,
        "duration_s": plan.duration.total_seconds(),
        "window_start": iso_z(plan.window_start),
        "window_end": iso_z(plan.window_end),
        "source": plan.source,
        "region": plan.region,
        "signal_type": plan.signal_type,
        "kind": plan.kind,
        "generated_at": iso_z(plan.generated_at) if plan.generated_at else None,
        "method": METHOD,
        "estimated": True,
        "estimate_basis": "forecast intensity (not measured) x the job's energy",
        "notes": notes,
    }
