"""Bar charts of a comparison (PNG): one per compared figure, and all of them in one figure.

Bars of estimated figures are hatched, the baseline is grey and each bar is labelled
with its value and its difference to the baseline. Past :data:`MAX_LABELLED_BARS` jobs
only the combined figure is drawn, with numbered, unlabelled bars (estimated ones
lighter) at a bounded size: the table holds every value. Drawn with matplotlib's object API
on the Agg canvas (no pyplot, no global backend change).
"""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sci_lightning.compare.records import JobRecord, quality_class
from sci_lightning.compare.tables import Comparison, format_number, format_signed_pct, quality_mark
from sci_lightning.fileio import atomic_write

__all__ = ["CHARTS", "write_charts"]


@dataclass(frozen=True)
class ChartSpec:
    """One bar chart: which value, how to scale it and how to title it."""

    name: str  # file: comparison_<name>.png
    title: str
    value_key: str
    diff_key: str | None
    quality_key: str | None  # values[...] with the quality; None: measured
    better: str  # "higher" | "lower"


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("accuracy", "Top-1 validation accuracy", "val_acc", "val_acc", None, "higher"),
    ChartSpec("time", "Time to train", "duration_s", "duration_s", None, "lower"),
    ChartSpec("energy", "Energy", "energy_kwh", "energy_kwh", "energy_quality", "lower"),
    ChartSpec("cost", "Cost", "cost_usd", "cost_usd", None, "lower"),
    ChartSpec("sci", "SCI", "sci", "sci", "sci_quality", "lower"),
    ChartSpec(
        "carbon_aware_saving", "Carbon-aware saving", "carbon_aware_saving_g", None, "_estimated", "higher"
    ),
)


def _scale(spec: ChartSpec, values: list[float | None], sci_unit: str | None) -> tuple[float, str]:
    """Factor and unit that keep the numbers readable."""
    vmax = max((abs(v) for v in values if v is not None), default=0.0)
    if spec.value_key == "val_acc":
        return 100.0, "%"
    if spec.value_key == "duration_s":
        if vmax >= 7200:
            return 1 / 3600, "h"
        if vmax >= 120:
            return 1 / 60, "min"
        return 1.0, "s"
    if spec.value_key == "energy_kwh":
        return (1000.0, "Wh") if vmax < 0.1 else (1.0, "kWh")
    if spec.value_key == "cost_usd":
        return 1.0, "$USD"
    if spec.value_key == "sci":
        return 1.0, sci_unit or "gCO2e per functional unit"
    return 1.0, "gCO2e"


def _draw_chart(ax: Any, comp: Comparison, spec: ChartSpec) -> None:
    jobs = comp.jobs
    raw = [j.values.get(spec.value_key) if j.ok else None for j in jobs]
    sci_unit = comp.baseline.values.get("sci_unit") if comp.baseline else None
    factor, unit = _scale(spec, raw, sci_unit)
    vals = [None if v is None else v * factor for v in raw]
    xs = list(range(len(jobs)))
    heights = [v if v is not None else 0.0 for v in vals]
    colors, hatches, qualities = _bar_styles(comp, spec)
    vmax = max((abs(v) for v in vals if v is not None), default=1.0) or 1.0
    if len(jobs) > MAX_LABELLED_BARS:  # plain bars: estimated ones lighter instead of hatched
        from matplotlib.colors import to_rgba

        # one LineCollection instead of a Rectangle per bar: drawing 200 bars stays cheap
        width_pt = ax.get_position().width * ax.figure.get_figwidth() * 72
        ax.vlines(
            xs,
            0.0,
            heights,
            colors=[to_rgba(c, 0.45 if h else 1.0) for c, h in zip(colors, hatches)],
            linewidth=max(0.5, 0.8 * width_pt / len(jobs)),
        )
        _dense_axes(ax, jobs, comp, spec, unit, vals, vmax)
        return
    bars = ax.bar(xs, heights, color=colors, edgecolor="black", linewidth=0.6)
    for bar, h in zip(bars, hatches):
        bar.set_hatch(h)
    for x, j, v, d, q in zip(xs, jobs, vals, comp.diffs, qualities):
        y = (v if v is not None and v > 0 else 0.0) + vmax * 0.02
        text = _bar_text(comp, spec, j, v, d, q)
        ax.text(x, y, text, ha="center", va="bottom", fontsize=8, color="#b00020" if not j.ok else "black")
    ax.set_xticks(xs)
    ax.set_xticklabels(
        _tick_labels(comp),
        fontsize=8,
        rotation=0 if len(jobs) <= 4 else 25,
        ha="center" if len(jobs) <= 4 else "right",
    )
    ax.set_ylabel(unit)
    ax.set_title(f"{spec.title} ({unit}), {spec.better} is better", fontsize=10)
    ax.set_ylim(min(0.0, min((v for v in vals if v is not None), default=0.0) * 1.2), vmax * 1.3)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _bar_styles(comp: Comparison, spec: ChartSpec) -> tuple[list[str], list[str], list[Any]]:
    """Each bar's colour (the baseline grey), hatch (estimated figures hatched) and quality."""
    colors, hatches, qualities = [], [], []
    for j in comp.jobs:
        colors.append("#7f7f7f" if j is comp.baseline else "#1f77b4")
        q = (
            "estimated"
            if spec.quality_key == "_estimated"
            else (j.values.get(spec.quality_key) if spec.quality_key else "measured")
        )
        qualities.append(q)
        hatches.append("" if quality_class(q) == "measured" else "//")
    return colors, hatches, qualities


def _bar_text(
    comp: Comparison, spec: ChartSpec, j: JobRecord, v: float | None, d: dict[str, Any], q: Any
) -> str:
    """The label above a bar: its value and quality mark, the difference to the baseline, the saving's %."""
    if not j.ok:
        return "failed"
    if v is None:
        return "n/a"
    text = format_number(v) + quality_mark(q)
    if spec.diff_key and j is not comp.baseline:
        text += f"\n({format_signed_pct(d.get(spec.diff_key))})"
    if spec.value_key == "carbon_aware_saving_g" and j.values.get("carbon_aware_saving_pct") is not None:
        text += f"\n({format_number(j.values['carbon_aware_saving_pct'])}%)"
    return text


def _tick_labels(comp: Comparison) -> list[str]:
    """Each job's label, wrapped at 14 characters (at most 40), the baseline marked."""
    labels = []
    for j in comp.jobs:
        lab = j.label if len(j.label) <= 40 else j.label[:39] + "…"
        lab = "\n".join(textwrap.wrap(lab.replace(",", ", "), 14)).replace(", ", ",")
        labels.append(lab + ("\n(baseline)" if j is comp.baseline else ""))
    return labels


def _dense_axes(
    ax: Any,
    jobs: list[Any],
    comp: Comparison,
    spec: ChartSpec,
    unit: str,
    vals: list[float | None],
    vmax: float,
) -> None:
    """Axes of a chart with many bars: numbered ticks, no text per bar (the table holds the values)."""
    step = max(1, len(jobs) // 25)
    ticks = list(range(0, len(jobs), step))
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(i + 1) for i in ticks], fontsize=7)
    ax.set_xlabel(f"job (1-{len(jobs)}, in comparison.md order; failed jobs have no bar)", fontsize=8)
    ax.set_ylabel(unit)
    ax.set_title(f"{spec.title} ({unit}), {spec.better} is better", fontsize=10)
    ax.set_ylim(min(0.0, min((v for v in vals if v is not None), default=0.0) * 1.2), vmax * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


#: Above this many jobs the bars carry no labels and the figure stops growing (drawing 200
#: labelled bars on a 260-inch figure took minutes; the table holds every value).
MAX_LABELLED_BARS = 24
_MAX_WIDTH_IN = 24.0

_DENSE_FOOTNOTE = "lighter bars: estimated (not measured); grey: baseline; the values are in comparison.md"
_FOOTNOTE = "hatched bars: estimated (not measured); grey: baseline; (+x%/-x%): relative to the baseline"


def write_charts(
    comp: Comparison, out_dir: str | os.PathLike[str], combined: bool = True, per_metric: bool = True
) -> list[Path]:
    """Bar charts (PNG): ``comparison_<metric>.png`` per metric and ``comparison.png`` with all.

    Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend change).
    Returns the written paths.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out_dir = Path(out_dir)
    written: list[Path] = []
    n = len(comp.jobs)
    width = min(max(5.0, 1.3 * n + 2.0), _MAX_WIDTH_IN)
    if per_metric and n <= MAX_LABELLED_BARS:  # past it, the combined figure alone (one draw, not seven)
        for spec in CHARTS:
            fig = Figure(figsize=(width, 4.2), dpi=100)
            FigureCanvasAgg(fig)
            ax = fig.add_subplot(1, 1, 1)
            _draw_chart(ax, comp, spec)
            fig.text(0.5, 0.01, _FOOTNOTE, ha="center", fontsize=7, color="#444444")
            fig.tight_layout(rect=(0, 0.04, 1, 1))
            path = out_dir / f"comparison_{spec.name}.png"
            _atomic_write_fig(fig, path)
            written.append(path)
    if combined:
        fig = Figure(figsize=(min(3 * max(4.5, 1.2 * n + 1.0), 1.5 * _MAX_WIDTH_IN), 9.0), dpi=100)
        FigureCanvasAgg(fig)
        for i, spec in enumerate(CHARTS):
            _draw_chart(fig.add_subplot(2, 3, i + 1), comp, spec)
        base = f" (baseline: {comp.baseline.label})" if comp.baseline else ""
        fig.suptitle(f"Model comparison{base}", fontsize=12)
        note = _FOOTNOTE if n <= MAX_LABELLED_BARS else _DENSE_FOOTNOTE
        fig.text(0.5, 0.01, note, ha="center", fontsize=8, color="#444444")
        if n <= MAX_LABELLED_BARS:
            fig.tight_layout(rect=(0, 0.03, 1, 0.96))
        else:  # fixed margins: tight_layout measures every tick label again
            fig.subplots_adjust(left=0.05, right=0.98, bottom=0.09, top=0.9, wspace=0.25, hspace=0.35)
        path = out_dir / "comparison.png"
        _atomic_write_fig(fig, path)
        written.append(path)
    return written


def _atomic_write_fig(fig: Any, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
