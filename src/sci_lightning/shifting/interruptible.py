"""The carbon-aware planner for interruptible jobs: the lowest-carbon set of run slots.

Pure, on plain data, like :mod:`sci_lightning.shifting.planner`: a forecast, the job's run
time, a deadline, a minimum slot length and a pause cost in; an :class:`InterruptiblePlan`
out. No files, no network; the clock is read only when no ``now`` is given.

The model
    * The job needs ``duration`` of running. Each *resume* (every slot after the first)
      adds ``pause_cost`` (checkpoint + restart) to its remaining work, so a plan of ``n``
      slots runs for ``duration + (n - 1) x pause_cost`` in total.
    * While running it draws ``power_w`` (or ``energy_kwh / duration``, its mean power);
      between two slots, paused in-process, it draws ``pause_idle_w`` (0: the job exits).
      Waiting before the first slot costs nothing.
    * Emissions = power x integral of the intensity over the slots + idle power x integral
      over the gaps between them. The intensity is piecewise constant on the forecast points
      and integrated exactly (each point weighted by its overlap, as in the single-start
      planner).
    * Every slot of a plan of two or more slots lasts at least ``min_slot``; a single slot
      may be of any length. The last slot must end by the deadline, ``window_start +
      deadline``; the deadline is clipped to the forecast's end (noted).

The discretisation (exact, stated once)
    Let ``t0`` be the earliest start (now, or the forecast's first point when it starts
    later) and ``step`` the forecast resolution (the first point's length unless given).
    The grid is ``t_k = t0 + k x step`` for ``k = 0..K``, ``K = floor((deadline_end - t0) / step)``.
    A feasible plan is a sequence of slots ``[a_1, b_1), ..., [a_n, b_n)`` with

    * every start ``a_i`` on the grid;
    * every end but the last, ``b_1 .. b_{n-1}``, on the grid, ``b_i <= a_{i+1}`` (a slot
      may end and the next start at the same grid time; that costs a pause and never wins);
    * the last slot ending exactly when the work is done:
      ``b_n = a_n + duration + (n-1) x pause_cost - sum_{i<n} (b_i - a_i)`` (possibly between
      grid times), with ``b_n <= deadline_end`` and ``b_n > a_n``;
    * for ``n >= 2``: ``b_i - a_i >= min_slot`` for every slot.

    Among all such plans the returned one has the least emissions; the search is exact
    over this set. Ties (within a relative 1e-9) go to the fewest slots, then the
    earliest end. A single slot is then exactly a start of the single-start planner on its
    ``align="window_start"`` grid, so the best interruptible plan is never worse than the
    best single start it is compared with.

The dynamic programme
    State at grid time ``t_k``: ``m`` grid steps run so far in finished slots or the
    running one, ``j`` slots begun, and running or paused. The remaining work is then
    ``W = duration + (j - 1) x pause_cost - m x step`` (``W > 0`` in every state).
    ``paused[k, m, j]`` and ``running[k, m, j]`` hold the least emissions to reach the
    state; a running state's slot already lasts at least ``min_slot``. Transitions:
    wait one step (``paused[k] -> paused[k+1]``, idle power when ``j >= 1``), begin a slot
    of ``c = ceil(min_slot / step)`` steps at once (``paused[k, m, j] -> running[k+c, m+c, j+1]``),
    run one more step (``running[k] -> running[k+1]``), pause (``running[k] -> paused[k]``),
    and finish: from ``running[k]`` run ``W`` more, or from ``paused[k]`` begin the last
    slot of length ``W + pause_cost`` (``j >= 1``, at least ``min_slot``) or ``duration``
    (``j = 0``, the single slot). ``O(K^3 / c)`` states, one vectorised step per ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from sci_lightning.carbon.base import IntensityPoint, IntensitySeries
from sci_lightning.errors import ConfigError
from sci_lightning.shifting.durations import parse_duration
from sci_lightning.shifting.planner import TIE_REL_TOL, Plan, plan_best_start, window_mean
from sci_lightning.timefmt import iso_z

__all__ = ["InterruptiblePlan", "Slot", "plan_interruptible", "slots_emissions_g"]

INTERRUPTIBLE_METHOD = (
    "exact dynamic programme over forecast-resolution steps: run slots before a deadline, "
    "pause cost added per resume, idle power while paused"
)
_EPS_S = 1e-6  # work below a microsecond counts as done (float rounding)
_NOMINAL_POWER_W = 1000.0  # without power or energy, figures are per kW of job power


@dataclass(frozen=True)
class Slot:
    """One run slot ``[start, end)`` with its mean forecast intensity and emissions."""

    start: datetime
    end: datetime
    mean_g_per_kwh: float
    emissions_g: float

    @property
    def length(self) -> timedelta:
        return self.end - self.start

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "length_s": self.length.total_seconds(),
            "mean_g_per_kwh": self.mean_g_per_kwh,
            "emissions_g": self.emissions_g,
        }


@dataclass(frozen=True)
class InterruptiblePlan:
    """The lowest-emission set of run slots before a deadline, and what it saves.

    Figures are estimates: forecast (or replayed) intensities times the job's mean power.
    ``best_single`` is the single-start plan on the same grid and deadline.
    """

    slots: tuple[Slot, ...]
    duration: timedelta
    run_time: timedelta  # duration + (len(slots) - 1) x pause_cost
    deadline_end: datetime
    window_start: datetime
    step: timedelta
    min_slot: timedelta
    pause_cost: timedelta
    power_w: float
    pause_idle_w: float
    emissions_g: float  # running + idle
    idle_emissions_g: float
    energy_kwh: float  # running + idle
    now_emissions_g: float  # one slot of `duration` from window_start
    now_mean_g_per_kwh: float
    best_single: Plan
    best_single_emissions_g: float
    power_is_nominal: bool
    notes: tuple[str, ...] = ()
    method: str = INTERRUPTIBLE_METHOD

    @property
    def mean_g_per_kwh(self) -> float:
        """Emissions per kWh over the whole plan (running and idle)."""
        return self.emissions_g / self.energy_kwh if self.energy_kwh > 0 else 0.0

    @property
    def saving_vs_now_g(self) -> float:
        return self.now_emissions_g - self.emissions_g

    @property
    def saving_vs_now_pct(self) -> float:
        return _pct(self.saving_vs_now_g, self.now_emissions_g)

    @property
    def saving_vs_best_start_g(self) -> float:
        return self.best_single_emissions_g - self.emissions_g

    @property
    def saving_vs_best_start_pct(self) -> float:
        return _pct(self.saving_vs_best_start_g, self.best_single_emissions_g)

    @property
    def best_start_saving_vs_now_pct(self) -> float:
        return _pct(self.now_emissions_g - self.best_single_emissions_g, self.now_emissions_g)

    @property
    def end(self) -> datetime:
        return self.slots[-1].end

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (ISO-8601 UTC times, durations in seconds)."""
        single = self.best_single
        return {
            "slots": [s.to_dict() for s in self.slots],
            "end": iso_z(self.end),
            "duration_s": self.duration.total_seconds(),
            "run_time_s": self.run_time.total_seconds(),
            "deadline_end": iso_z(self.deadline_end),
            "window_start": iso_z(self.window_start),
            "step_s": self.step.total_seconds(),
            "min_slot_s": self.min_slot.total_seconds(),
            "pause_cost_s": self.pause_cost.total_seconds(),
            "power_w": self.power_w,
            "power_is_nominal": self.power_is_nominal,
            "pause_idle_w": self.pause_idle_w,
            "energy_kwh": self.energy_kwh,
            "emissions_g": self.emissions_g,
            "idle_emissions_g": self.idle_emissions_g,
            "mean_g_per_kwh": self.mean_g_per_kwh,
            "now_emissions_g": self.now_emissions_g,
            "now_mean_g_per_kwh": self.now_mean_g_per_kwh,
            "best_start": iso_z(single.best_start),
            "best_start_mean_g_per_kwh": single.best_mean_g_per_kwh,
            "best_start_emissions_g": self.best_single_emissions_g,
            "saving_vs_now_g": self.saving_vs_now_g,
            "saving_vs_now_pct": self.saving_vs_now_pct,
            "saving_vs_best_start_g": self.saving_vs_best_start_g,
            "saving_vs_best_start_pct": self.saving_vs_best_start_pct,
            "best_start_saving_vs_now_pct": self.best_start_saving_vs_now_pct,
            "source": single.source,
            "region": single.region,
            "signal_type": single.signal_type,
            "kind": single.kind,
            "estimated": True,
            "method": self.method,
            "notes": list(self.notes),
        }


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole > 0 else 0.0


# --------------------------------------------------------------------------- public entry


def plan_interruptible(
    series: IntensitySeries,
    duration: timedelta | str,
    *,
    deadline: timedelta | str | None = None,
    min_slot: timedelta | str = "30m",
    pause_cost: timedelta | str = "5m",
    power_w: float | None = None,
    energy_kwh: float | None = None,
    pause_idle_w: float = 0.0,
    now: datetime | None = None,
    window_start: datetime | None = None,
    step: timedelta | None = None,
) -> InterruptiblePlan:
    """The lowest-emission run slots for a job of ``duration`` that must finish within ``deadline``.

    Args:
        series: the forecast.
        duration: the job's run time without pauses.
        deadline: finish by ``window_start + deadline`` (default 24 h).
        min_slot: the shortest slot of a multi-slot plan.
        pause_cost: work each resume adds (``timedelta(0)`` allowed).
        power_w / energy_kwh: the job's mean power, or its energy over ``duration``
            (at most one; neither: 1 kW, and the figures are per kW).
        pause_idle_w: power drawn while paused between slots.
        now, window_start: as in :func:`~sci_lightning.shifting.planner.plan_best_start`.
        step: grid step (default: the forecast's resolution).

    Raises:
        PlanError: the forecast or the window cannot give a plan (see ``plan_best_start``).
        ConfigError: malformed durations or powers.
    """
    dur = parse_duration(duration, "duration")
    horizon = parse_duration(deadline, "deadline") if deadline is not None else timedelta(hours=24)
    job = _job(dur, min_slot, pause_cost, power_w, energy_kwh, pause_idle_w)
    single = plan_best_start(
        series,
        dur,
        window_start=window_start,
        now=now,
        align="window_start",
        window_end=(window_start or now or datetime.now(timezone.utc)) + horizon,
    )
    t0, points = single.now_start, single.points
    end = min(single.window_end, points[-1].end)
    grid_step = step or (points[0].end - points[0].start)
    if grid_step <= timedelta(0):
        raise ConfigError(f"step={grid_step!r} must be longer than zero.")
    cum = _Cumulative(points, t0)
    found = _Programme(cum, job, (end - t0).total_seconds(), grid_step.total_seconds()).solve()
    slots_s = (
        found if found is not None else [(0.0, dur.total_seconds())]
    )  # the DP always has the single slot
    return _assemble(single, job, slots_s, cum, end, grid_step)


@dataclass(frozen=True)
class _Job:
    """The job as the planner sees it: run time, slot rules and powers (checked)."""

    duration: timedelta
    min_slot: timedelta
    pause_cost: timedelta
    power_w: float
    power_is_nominal: bool
    pause_idle_w: float


def _job(
    dur: timedelta,
    min_slot: timedelta | str,
    pause_cost: timedelta | str,
    power_w: float | None,
    energy_kwh: float | None,
    pause_idle_w: float,
) -> _Job:
    """The checked job; ConfigError for a malformed duration or power."""
    slot_min = parse_duration(min_slot, "min_slot")
    pause = _non_negative(pause_cost, "pause_cost")
    power, nominal = _power_w(power_w, energy_kwh, dur)
    idle_w = float(pause_idle_w)
    if not math.isfinite(idle_w) or idle_w < 0:
        raise ConfigError(f"pause_idle_w={pause_idle_w!r} must be a finite number >= 0.")
    return _Job(dur, slot_min, pause, power, nominal, idle_w)


def _assemble(
    single: Plan,
    job: _Job,
    slots_s: list[tuple[float, float]],
    cum: _Cumulative,
    end: datetime,
    grid_step: timedelta,
) -> InterruptiblePlan:
    """The plan of the slots found (offsets in seconds from the earliest start): emissions and savings."""
    t0, power, idle_w = single.now_start, job.power_w, job.pause_idle_w
    slots = tuple(_slot(single.points, t0, a, b, power) for a, b in slots_s)
    gaps = list(zip(slots_s, slots_s[1:]))
    run_g = math.fsum(s.emissions_g for s in slots)
    idle_g = math.fsum(idle_w / 1000.0 * cum.integral_gh(b, a) for (_, b), (a, _) in gaps)
    run_s = math.fsum(b - a for a, b in slots_s)
    gap_s = math.fsum(a - b for (_, b), (a, _) in gaps)
    kw_h = power / 1000.0 * job.duration.total_seconds() / 3600.0
    notes = list(single.notes)
    if job.power_is_nominal:
        notes.append(
            "no power or energy given: figures are for a job drawing 1 kW (percentages hold for any power "
            "when pause_idle_w=0)."
        )
    return InterruptiblePlan(
        slots=slots,
        duration=job.duration,
        run_time=timedelta(seconds=run_s),
        deadline_end=end,
        window_start=t0,
        step=grid_step,
        min_slot=job.min_slot,
        pause_cost=job.pause_cost,
        power_w=power,
        pause_idle_w=idle_w,
        emissions_g=run_g + idle_g,
        idle_emissions_g=idle_g,
        energy_kwh=(power * run_s + idle_w * gap_s) / 3.6e6,
        now_emissions_g=kw_h * single.now_mean_g_per_kwh,
        now_mean_g_per_kwh=single.now_mean_g_per_kwh,
        best_single=single,
        best_single_emissions_g=kw_h * single.best_mean_g_per_kwh,
        power_is_nominal=job.power_is_nominal,
        notes=tuple(notes),
    )


def slots_emissions_g(
    points: tuple[IntensityPoint, ...] | list[IntensityPoint],
    slots: list[tuple[datetime, datetime]],
    power_w: float,
    pause_idle_w: float = 0.0,
) -> float:
    """Emissions (g) of running at ``power_w`` in ``slots`` and idling at ``pause_idle_w`` between them.

    Computed with the single-start planner's overlap-weighted mean, independently of the DP.
    """
    run = math.fsum(
        power_w / 1000.0 * (b - a).total_seconds() / 3600.0 * window_mean(points, a, b) for a, b in slots
    )
    idle = math.fsum(
        pause_idle_w / 1000.0 * (a - b).total_seconds() / 3600.0 * window_mean(points, b, a)
        for (_, b), (a, _) in zip(slots, slots[1:])
        if a > b
    )
    return run + idle


# --------------------------------------------------------------------------- inputs


def _non_negative(value: timedelta | str, what: str) -> timedelta:
    """A duration that may be zero (a pause cost), never negative."""
    return parse_duration(value, what, allow_zero=True)


def _power_w(power_w: float | None, energy_kwh: float | None, dur: timedelta) -> tuple[float, bool]:
    """The job's mean running power (W) and whether it is the nominal 1 kW."""
    if power_w is not None and energy_kwh is not None:
        raise ConfigError("give power_w or energy_kwh, not both.")
    if power_w is None and energy_kwh is None:
        return _NOMINAL_POWER_W, True
    value = float(power_w if power_w is not None else energy_kwh * 3.6e6 / dur.total_seconds())  # type: ignore[operator]
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"the job's power ({value!r} W) must be a finite number >= 0.")
    return value, False


class _Cumulative:
    """``integral_gh(a, b)``: the integral of intensity over ``[t0 + a s, t0 + b s)`` in g/kWh x h."""

    def __init__(self, points: tuple[IntensityPoint, ...], t0: datetime):
        edges = [(points[0].start - t0).total_seconds()] + [(p.end - t0).total_seconds() for p in points]
        cum = [0.0]
        for p in points:
            cum.append(cum[-1] + p.g_per_kwh * (p.end - p.start).total_seconds() / 3600.0)
        self.edges_s = np.asarray(edges)
        self.cum_gh = np.asarray(cum)

    def at(self, t_s: np.ndarray | float) -> np.ndarray | np.float64:
        return np.interp(t_s, self.edges_s, self.cum_gh)

    def integral_gh(self, a_s: float, b_s: float) -> float:
        return float(self.at(b_s) - self.at(a_s))


def _slot(points: tuple[IntensityPoint, ...], t0: datetime, a_s: float, b_s: float, power_w: float) -> Slot:
    start, end = t0 + timedelta(seconds=a_s), t0 + timedelta(seconds=b_s)
    mean = window_mean(points, start, end)
    return Slot(start, end, mean, power_w / 1000.0 * (b_s - a_s) / 3600.0 * mean)


# --------------------------------------------------------------------------- the dynamic programme


#: A finish found by the programme: (grams, slots, end_s, (kind, k, m, j)); less is better.
_Finish = tuple[float, int, float, tuple[str, int, int, int]]


class _Programme:
    """The dynamic programme of the module docstring on one grid; :meth:`solve` runs it."""

    def __init__(self, cum: _Cumulative, job: _Job, horizon_s: float, step_s: float) -> None:
        self.cum, self.horizon_s = cum, horizon_s
        dur_s, pause_s = job.duration.total_seconds(), job.pause_cost.total_seconds()
        self.min_slot_s = job.min_slot.total_seconds()
        self.n_steps = n_steps = int(math.floor(horizon_s / step_s + 1e-9))
        self.c = c = max(1, int(math.ceil(self.min_slot_s / step_s - 1e-9)))
        max_slots = n_steps // c + 1
        self.kw, self.idle_kw = job.power_w / 1000.0, job.pause_idle_w / 1000.0
        self.t_s = np.arange(n_steps + 1) * step_s
        self.cell_gh = np.diff(cum.at(self.t_s))  # integral over each grid step
        self.run_g = np.concatenate([[0.0], np.cumsum(self.kw * self.cell_gh)])  # running from 0 to t_k
        m_idx = np.arange(n_steps + 1)[:, None]
        self.j_idx = np.arange(max_slots + 1)[None, :]
        self.work_run = dur_s + (self.j_idx - 1) * pause_s - m_idx * step_s  # remaining in running[., m, j]
        self.work_next = (
            dur_s + self.j_idx * pause_s - m_idx * step_s
        )  # the last slot begun from paused[., m, j]
        self.run_ok = (self.work_run > _EPS_S) & (self.j_idx >= 1)
        self.shape = (n_steps + 1, max_slots + 1)
        self.running = np.full((n_steps + 1, *self.shape), np.inf)
        self.paused = np.full((n_steps + 1, *self.shape), np.inf)
        self.run_began = np.zeros((n_steps + 1, *self.shape), dtype=bool)  # running[k] reached by beginning
        self.paused_by_pause = np.zeros(
            (n_steps + 1, *self.shape), dtype=bool
        )  # paused[k] reached by pausing

    def solve(self) -> list[tuple[float, float]] | None:
        """The best slots as (start_s, end_s) offsets from t0; None if none fits."""
        best: _Finish | None = None
        for k in range(self.n_steps + 1):
            self._advance(k)
            best = self._finishes(k, best)
        return None if best is None else self._backtrack(best[3])

    def _advance(self, k: int) -> None:
        """The states at ``t_k``: run one more step, begin a slot of ``c`` steps, wait, or pause."""
        running, paused, c = self.running, self.paused, self.c
        if k >= 1:  # run one more step
            running[k, 1:, :] = running[k - 1, :-1, :] + self.kw * self.cell_gh[k - 1]
        if k >= c:  # begin a slot of c steps
            began = np.full(self.shape, np.inf)
            began[c:, 1:] = paused[k - c, :-c, :-1] + (self.run_g[k] - self.run_g[k - c])
            self.run_began[k] = began < running[k]
            running[k] = np.minimum(running[k], began)
        running[k] = np.where(self.run_ok, running[k], np.inf)
        if k == 0:
            paused[0, 0, 0] = 0.0
        else:
            wait_g = np.where(self.j_idx >= 1, self.idle_kw * self.cell_gh[k - 1], 0.0)
            paused[k] = paused[k - 1] + wait_g
        self.paused_by_pause[k] = running[k] < paused[k]
        paused[k] = np.minimum(paused[k], running[k])

    def _finishes(self, k: int, best: _Finish | None) -> _Finish | None:
        """``best``, or a better finish at ``t_k``: run the rest, or begin the last slot."""
        t_k = float(self.t_s[k])
        best = _finish(best, "run", k, self.running[k], self.work_run, t_k, self, self.j_idx)
        last_ok = (self.j_idx == 0) | (self.work_next >= self.min_slot_s - _EPS_S)
        began = np.where(last_ok, self.paused[k], np.inf)
        return _finish(best, "new", k, began, self.work_next, t_k, self, self.j_idx + 1)

    def _backtrack(self, state: tuple[str, int, int, int]) -> list[tuple[float, float]]:
        """Slots (start_s, end_s) of the best path, walking the DP's choices back from its finish."""
        kind, k, m, j = state
        t_s, c = self.t_s, self.c
        starts: list[float | None] = []
        ends: list[float] = []
        if kind == "new":
            starts.append(float(t_s[k]))
            ends.append(float(t_s[k] + self.work_next[m, j]))
            where = ("paused", k, m, j)
        else:
            starts.append(None)
            ends.append(float(t_s[k] + self.work_run[m, j]))
            where = ("running", k, m, j)
        while True:
            phase, k, m, j = where
            if phase == "running":
                if self.run_began[k, m, j]:
                    starts[-1] = float(t_s[k - c])
                    where = ("paused", k - c, m - c, j - 1)
                else:
                    where = ("running", k - 1, m - 1, j)
            else:
                if j == 0:
                    break
                if self.paused_by_pause[k, m, j]:
                    starts.append(None)
                    ends.append(float(t_s[k]))
                    where = ("running", k, m, j)
                else:
                    where = ("paused", k - 1, m, j)
        return [(_started(a), b) for a, b in zip(reversed(starts), reversed(ends))]


def _started(start_s: float | None) -> float:
    """A backtracked slot's start (every slot's is found before the walk ends)."""
    if start_s is None:
        raise AssertionError("a slot without a start: the programme's choices are inconsistent")
    return start_s


def _finish(
    best: _Finish | None,
    kind: str,
    k: int,
    cost: np.ndarray,
    work: np.ndarray,
    t_k: float,
    dp: _Programme,
    n_slots: np.ndarray,
) -> _Finish | None:
    """``best`` or a better finish from these states at ``t_k`` (the last slot runs ``work`` more)."""
    horizon_s, cum, kw = dp.horizon_s, dp.cum, dp.kw
    ends = t_k + work
    ok = np.isfinite(cost) & (work > _EPS_S) & (ends <= horizon_s + _EPS_S)
    if not ok.any():
        return best
    total = np.where(ok, cost + kw * (cum.at(np.minimum(ends, horizon_s)) - cum.at(t_k)), np.inf)
    lowest = float(total.min())
    tied = total <= lowest + TIE_REL_TOL * max(abs(lowest), 1.0)
    slots = np.broadcast_to(n_slots, total.shape)
    ms, js = np.nonzero(tied)
    order = np.lexsort((ends[ms, js], slots[ms, js]))  # fewest slots, then earliest end
    m, j = int(ms[order[0]]), int(js[order[0]])
    cand: _Finish = (float(total[m, j]), int(slots[m, j]), float(ends[m, j]), (kind, k, m, j))
    return cand if best is None or _better(cand, best) else best


def _better(a: _Finish, b: _Finish) -> bool:
    """Less emissions; within a relative TIE_REL_TOL: fewer slots, then an earlier end."""
    tol = TIE_REL_TOL * max(abs(a[0]), abs(b[0]), 1.0)
    if a[0] < b[0] - tol:
        return True
    if a[0] > b[0] + tol:
        return False
    return (a[1], a[2]) < (b[1], b[2])
