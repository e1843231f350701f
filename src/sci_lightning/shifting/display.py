"""How a carbon-aware plan is shown: the printed tables, the PNG chart, the countdown line.

Every view of a plan lives here, so the plan command (``python -m sci_lightning.plan``),
``schedule=interrupt`` and ``schedule=wait`` show the same things the same way:

- :func:`format_table` / :func:`format_interruptible_table`: the human-readable answer;
- :func:`plot_plan` (:func:`plot_result`: never fails the answer): a PNG of the forecast with
  the best window, or every run slot, shaded (matplotlib, imported only when plotting);
- :func:`countdown_line`: the line ``schedule=wait`` updates while it waits.

Nothing here plans or fetches; the figures are the plan's (estimates, as it says).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sci_lightning.shifting.durations import format_duration
from sci_lightning.shifting.interruptible import InterruptiblePlan
from sci_lightning.shifting.planner import Plan
from sci_lightning.timefmt import countdown, utc_minutes

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "PLOT_NAME",
    "countdown_line",
    "format_interruptible_table",
    "format_table",
    "plot_plan",
    "plot_result",
]

#: The chart's file name in a run folder (``outputs/plan/<date>/<time>/`` for the plan command).
PLOT_NAME = "carbon_plan.png"


def countdown_line(plan: Plan, target: datetime, left: timedelta) -> str:
    """The line ``schedule=wait`` shows while it waits for ``target``, ``left`` to go."""
    return (
        f"Waiting for the low-carbon start {utc_minutes(target)} "
        f"({plan.best_mean_g_per_kwh:.0f} vs {plan.now_mean_g_per_kwh:.0f} g/kWh now): "
        f"{countdown(left)} left (Ctrl-C to cancel)"
    )


# --------------------------------------------------------------------------- tables


def format_table(plan: Plan, result: dict[str, Any]) -> str:
    """The human-readable answer of the plan command (``result``: its JSON-ready result)."""
    t = utc_minutes
    gen = t(plan.generated_at) if plan.generated_at else "unknown"
    lines = [
        f"Carbon-aware plan for a {format_duration(plan.duration)} job "
        f"(window {t(plan.window_start)} .. {t(plan.window_end)}, {plan.candidates} candidate starts)",
        f"Intensity: {plan.source}, region {plan.region}, {plan.signal_type} signal, {plan.kind} data, "
        f"forecast issued {gen}",
        "",
    ]
    proj = result.get("projection")
    lines += _start_rows(plan, proj)
    lines += ["", _saving_line(plan, proj)]
    if not proj:
        lines.append("(give energy_kwh=<kWh> to project grams of CO2e and SCI)")
    lines.append(
        f"sbatch --begin={result['slurm_begin']} (local time of this machine unless slurm_tz is set)"
    )
    check = result.get("sdk_cross_check")
    if check is not None:
        lines.append(
            f"Carbon Aware SDK cross-check: {'agrees' if check['agrees'] else 'DISAGREES'} - {check['reason']}"
        )
    lines.append(
        "Figures are estimates: forecast (or recorded/table) intensities, averaged over the job window "
        "weighted by overlap."
    )
    if plan.kind == "static":
        lines.append(
            "note: static (table) intensities do not vary in time, so no start is better; "
            "choose a forecast provider (e.g. carbon=watttime) to shift in time."
        )
    lines += [f"note: {note}" for note in plan.notes]
    return "\n".join(lines + _plot_lines(result))


def _start_rows(plan: Plan, proj: dict[str, Any] | None) -> list[str]:
    """The table's head and its "run now" and "best start" rows."""
    head = f"{'':<12}{'start':<22}{'end':<22}{'mean gCO2e/kWh':>16}"
    if proj:
        head += f"{'operational g':>16}{'SCI g/unit':>14}"
    rows = [head]
    for label, s, mean, key in (
        ("run now", plan.now_start, plan.now_mean_g_per_kwh, "now"),
        ("best start", plan.best_start, plan.best_mean_g_per_kwh, "shifted"),
    ):
        row = f"{label:<12}{utc_minutes(s):<22}{utc_minutes(s + plan.duration):<22}{mean:>16.1f}"
        if proj:
            row += f"{proj[f'operational_{key}_g']:>16.1f}{proj[f'sci_{key}_g_per_unit']:>14.1f}"
        rows.append(row)
    return rows


def _saving_line(plan: Plan, proj: dict[str, Any] | None) -> str:
    later = plan.delay.total_seconds() > 0
    saving = (
        f"saving: {plan.saving_g_per_kwh:.1f} gCO2e/kWh ({plan.saving_pct:.1f}%) by starting "
        f"{format_duration(plan.delay) if later else 'now'}"
    )
    if later:
        saving += " later"
    if proj:
        saving += f"; {proj['saving_g']:.1f} gCO2e for {proj['energy_kwh']:g} kWh"
    return saving


def _plot_lines(result: dict[str, Any]) -> list[str]:
    """Where the chart was written, or why not."""
    if result.get("plot"):
        return [f"plot: {result['plot']}"]
    if result.get("plot_error"):
        return [f"plot not written: {result['plot_error']}"]
    return []


def format_interruptible_table(iplan: InterruptiblePlan, result: dict[str, Any]) -> str:
    """The human-readable answer for ``interruptible=true``: every slot and both savings."""
    t, single = utc_minutes, iplan.best_single
    per = " (per kW of job power; give energy_kwh for grams)" if iplan.power_is_nominal else ""
    lines = [
        f"Interruptible plan for a {format_duration(iplan.duration)} job, finishing by {t(iplan.deadline_end)} "
        f"(min slot {format_duration(iplan.min_slot)}, pause cost {format_duration(iplan.pause_cost)}, "
        f"idle {iplan.pause_idle_w:g} W while paused)",
        f"Intensity: {single.source}, region {single.region}, {single.signal_type} signal, {single.kind} data",
        "",
        f"{'':<20}{'start':<22}{'end':<22}{'mean gCO2e/kWh':>16}{'gCO2e':>12}",
    ]
    lines += _slot_rows(iplan)
    lines += [
        "",
        f"{len(iplan.slots)} slot(s), {format_duration(iplan.run_time)} of running: {iplan.emissions_g:.1f} gCO2e{per}",
        f"saving vs running now: {iplan.saving_vs_now_g:.1f} gCO2e ({iplan.saving_vs_now_pct:.1f}%); "
        f"vs best single start: {iplan.saving_vs_best_start_g:.1f} gCO2e ({iplan.saving_vs_best_start_pct:.1f}%)",
        f"sbatch --begin={result['slurm_begin']} (the first slot; local time of this machine unless slurm_tz is set)",
        "Figures are estimates: forecast (or recorded/table) intensities x the job's mean power; "
        "the slots are exact for the forecast's step grid.",
    ]
    if single.kind == "measured":
        lines.append("note: recorded values replayed as a forecast (perfect foresight), not a real forecast.")
    lines += [f"note: {note}" for note in iplan.notes]
    return "\n".join(lines + _plot_lines(result))


def _slot_rows(iplan: InterruptiblePlan) -> list[str]:
    """A row per slot, the idle pauses, then "run now" and "best single start" to compare."""
    t, single = utc_minutes, iplan.best_single
    rows = [
        f"{f'slot {i}':<20}{t(slot.start):<22}{t(slot.end):<22}{slot.mean_g_per_kwh:>16.1f}"
        f"{slot.emissions_g:>12.1f}"
        for i, slot in enumerate(iplan.slots, 1)
    ]
    if iplan.idle_emissions_g:
        rows.append(f"{'paused (idle)':<20}{'':<44}{'':>16}{iplan.idle_emissions_g:>12.1f}")
    end_now = single.now_start + iplan.duration
    return rows + [
        f"{'run now':<20}{t(single.now_start):<22}{t(end_now):<22}{single.now_mean_g_per_kwh:>16.1f}"
        f"{iplan.now_emissions_g:>12.1f}",
        f"{'best single start':<20}{t(single.best_start):<22}{t(single.best_end):<22}"
        f"{single.best_mean_g_per_kwh:>16.1f}{iplan.best_single_emissions_g:>12.1f}",
    ]


# --------------------------------------------------------------------------- the PNG


def plot_result(plan: Plan | InterruptiblePlan, path: Path) -> dict[str, str | None]:
    """``{"plot": path}``, or ``{"plot": None, "plot_error": why}``: a plot never hides the answer."""
    try:
        return {"plot": str(plot_plan(plan, path))}
    except Exception as exc:  # a plotting problem must not hide the answer
        return {"plot": None, "plot_error": str(exc)}


def plot_plan(plan: Plan | InterruptiblePlan, path: str | Path) -> Path:
    """Write a PNG of the forecast with the best window (and the run-now window) shaded.

    For an :class:`InterruptiblePlan` every run slot is shaded, with the best single start
    outlined for comparison.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        if isinstance(plan, InterruptiblePlan):
            _draw_slots(ax, plan)
            headline, single = (
                f"Interruptible {plan.duration.total_seconds() / 3600:.2f} h job",
                plan.best_single,
            )
        else:
            _draw_best_start(ax, plan)
            headline, single = f"Best start for a {plan.duration.total_seconds() / 3600:.2f} h job", plan
        _label_and_save(fig, ax, headline, single, path)
    finally:
        plt.close(fig)
    return path


def _num(ts: datetime) -> float:
    """A time as matplotlib's date number (the axis is a date axis: :func:`_draw_forecast`)."""
    from matplotlib.dates import date2num

    return float(date2num(ts))


def _draw_forecast(ax: Axes, plan: Plan) -> tuple[float, float]:
    """The forecast as steps on a UTC date axis; returns the first and last time plotted."""
    pts = plan.points
    xs = [_num(p.start) for p in pts] + [_num(pts[-1].end)]
    ys = [p.g_per_kwh for p in pts] + [pts[-1].g_per_kwh]
    ax.xaxis_date(timezone.utc)
    ax.step(xs, ys, where="post", color="0.2", lw=1.2, label=f"{plan.kind} intensity")
    return xs[0], xs[-1]


def _draw_best_start(ax: Axes, plan: Plan) -> None:
    first, last = _draw_forecast(ax, plan)
    ax.axvspan(
        _num(plan.now_start),
        _num(plan.now_start + plan.duration),
        color="tab:red",
        alpha=0.15,
        label=f"run now: {plan.now_mean_g_per_kwh:.0f} g/kWh",
    )
    ax.axvspan(
        _num(plan.best_start),
        _num(plan.best_end),
        color="tab:green",
        alpha=0.3,
        label=f"best: {plan.best_mean_g_per_kwh:.0f} g/kWh (-{plan.saving_pct:.0f}%)",
    )
    ax.axvline(_num(plan.window_end), color="0.5", ls=":", lw=1)
    ax.set_xlim(min(first, _num(plan.window_start)), max(last, _num(plan.best_end)))


def _draw_slots(ax: Axes, iplan: InterruptiblePlan) -> None:
    """The forecast, the run-now window, the best single start outlined, every slot shaded."""
    single = iplan.best_single
    first, last = _draw_forecast(ax, single)
    ax.axvspan(
        _num(single.now_start),
        _num(single.now_start + iplan.duration),
        color="tab:red",
        alpha=0.12,
        label=f"run now: {single.now_mean_g_per_kwh:.0f} g/kWh",
    )
    ax.axvspan(
        _num(single.best_start),
        _num(single.best_end),
        fill=False,
        hatch="//",
        edgecolor="tab:blue",
        lw=0.8,
        label=f"best single start: {single.best_mean_g_per_kwh:.0f} g/kWh",
    )
    slots_label = (
        f"{len(iplan.slots)} slot(s): -{iplan.saving_vs_now_pct:.0f}% vs now, "
        f"-{iplan.saving_vs_best_start_pct:.0f}% vs best start"
    )
    for i, slot in enumerate(iplan.slots):
        ax.axvspan(
            _num(slot.start),
            _num(slot.end),
            color="tab:green",
            alpha=0.35,
            label=slots_label if i == 0 else None,
        )
    ax.axvline(_num(iplan.deadline_end), color="0.5", ls=":", lw=1, label="deadline")
    ax.set_xlim(min(first, _num(iplan.window_start)), max(last, _num(iplan.deadline_end)))


def _label_and_save(fig: Figure, ax: Axes, headline: str, plan: Plan, path: Path) -> None:
    """Axis labels, a title naming the region, signal, kind and source, the legend; write the PNG."""
    ax.set_ylabel("gCO2e/kWh")
    ax.set_xlabel("time (UTC)")
    source = plan.source if len(plan.source) <= 90 else plan.source[:87] + "..."
    ax.set_title(f"{headline}: {plan.region} ({plan.signal_type}, {plan.kind})\n{source}", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)
