"""``python -m sci_lightning.plan``: when should this job run to emit the least carbon?

Examples::

    python -m sci_lightning.plan carbon=watttime carbon.region=CAISO_NORTH duration=2h
    python -m sci_lightning.plan carbon=carbon_aware_sdk carbon.base_url=http://localhost:5073 \\
        carbon.region=westus duration=90m energy_kwh=1.2 --json
    python -m sci_lightning.plan carbon=trace carbon.trace_path=CISO_2023_hourly.csv \\
        start=2023-06-01T00:00:00Z duration=3h   # back-test on a recorded trace
    python -m sci_lightning.plan carbon=trace carbon.trace_path=DE_2023_hourly.csv \\
        start=2023-06-01T00:00:00Z duration=6h interruptible=true deadline=36h pause_cost=10m min_slot=1h

Prints the best start in the window, its mean forecast intensity, the intensity now, and
(with ``energy_kwh``) the projected operational carbon and SCI now vs shifted -- as a
table, or as JSON with ``--json`` / ``json=true``. ``slurm_begin=true`` prints only the
``sbatch --begin`` time (for shell substitution into a submitit launch). A PNG of the
forecast with the chosen window shaded is written to ``plot_path`` (default:
``carbon_plan.png`` in Hydra's run folder ``outputs/plan/<date>/<time>/``, next to the
config Hydra saves) and its path printed.

``interruptible=true`` plans a job that may pause and resume
(:func:`~sci_lightning.shifting.interruptible.plan_interruptible`): the run slots before
``deadline`` (default ``window_h``) with the least emissions, given ``min_slot``,
``pause_cost`` and ``pause_idle_w``; it prints every slot and the saving versus running now
and versus the best single start, and the plot shades every slot.

All figures are estimates: forecast intensities (or, for ``carbon=trace``/``static``,
recorded/table values) times the energy you give. Exit status 2 on a user error.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TextIO

import hydra
from omegaconf import DictConfig

from sci_lightning.carbon import build_provider, require_credentials
from sci_lightning.carbon.base import IntensityProvider, ProviderError
from sci_lightning.errors import ConfigError, SciLightningError
from sci_lightning.settings import PlanConfig, coerce, register_hydra_schemas
from sci_lightning.shifting.durations import format_duration, parse_duration
from sci_lightning.shifting.interruptible import InterruptiblePlan
from sci_lightning.shifting.planner import Plan
from sci_lightning.shifting.schedule import fetch_interruptible_plan, fetch_plan, slurm_begin_time

__all__ = [
    "PLOT_NAME",
    "format_interruptible_table",
    "format_table",
    "main",
    "plot_plan",
    "run_plan",
    "translate_argv",
]

PLOT_NAME = "carbon_plan.png"

register_hydra_schemas()  # ``plan_schema`` (= PlanConfig), first in conf/plan.yaml's defaults


# --------------------------------------------------------------------------- core (no Hydra)


def _parse_start(text: str | None) -> datetime | None:
    if text in (None, ""):
        return None
    raw = str(text).strip()
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"start={text!r} is not an ISO-8601 time. Fix: e.g. start=2023-06-01T00:00:00Z."
        ) from None
    if ts.tzinfo is None:
        raise ConfigError(
            f"start={text!r} has no time zone. Fix: end it with Z for UTC, e.g. start=2023-06-01T00:00:00Z."
        )
    return ts.astimezone(timezone.utc)


def run_plan(
    cfg: PlanConfig | Mapping[str, Any] | DictConfig,
    *,
    provider: IntensityProvider | None = None,
    now: datetime | None = None,
    output_dir: str | Path | None = None,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Plan, print (table / JSON / begin time) and plot. Returns the JSON-ready result.

    ``cfg`` is a :class:`~sci_lightning.settings.PlanConfig` (a dict or an OmegaConf node is
    checked into one by :func:`~sci_lightning.settings.coerce`). ``provider`` defaults to
    ``build_provider(cfg.carbon)``; ``now`` to ``cfg.start`` or the clock; ``output_dir``
    (for the default plot path) to the current directory.

    Raises:
        ConfigError: a misspelt or impossible setting, an unreadable duration or start.
    """
    cfg = coerce(PlanConfig, cfg)
    stream = stream or sys.stdout
    duration = parse_duration(cfg.duration, "duration")
    now = _parse_start(cfg.start) or now or datetime.now(timezone.utc)
    if provider is None:
        require_credentials(cfg.carbon)
        provider = build_provider(cfg.carbon)
    if cfg.interruptible:
        return _run_interruptible(cfg, provider, duration, now, output_dir, stream)

    plan, check = fetch_plan(provider, duration, now=now, window_h=cfg.window_h, align=cfg.align)
    result: dict[str, Any] = {"plan": plan.to_dict()}
    if check is not None:
        result["sdk_cross_check"] = check
    if cfg.energy_kwh is not None:
        result["projection"] = _projection(plan, cfg.energy_kwh, cfg.embodied_g, cfg.functional_units)
    result["slurm_begin"] = slurm_begin_time(plan, cfg.slurm_tz)
    return _plot_and_print(cfg, result, plan, lambda: format_table(plan, result), output_dir, stream)


def _plot_and_print(
    cfg: PlanConfig,
    result: dict[str, Any],
    plotted: Any,
    table: Any,
    output_dir: str | Path | None,
    stream: TextIO,
) -> dict[str, Any]:
    """Write the PNG of ``plotted`` (unless only the begin time is asked), then print the begin
    time, the JSON or ``table()``. Returns ``result`` (with the plot's path)."""
    if cfg.plot and not cfg.slurm_begin:
        path = Path(cfg.plot_path) if cfg.plot_path else Path(output_dir or ".") / PLOT_NAME
        result.update(_plot_result(plotted, path))
    if cfg.slurm_begin:
        print(result["slurm_begin"], file=stream)
    elif cfg.json:
        print(json.dumps(result, indent=2), file=stream)
    else:
        print(table(), file=stream)
    return result


def _run_interruptible(
    cfg: PlanConfig,
    provider: IntensityProvider,
    duration: Any,
    now: datetime,
    output_dir: str | Path | None,
    stream: TextIO,
) -> dict[str, Any]:
    """``interruptible=true``: plan the run slots, then print and plot them like :func:`run_plan`."""
    deadline = parse_duration(cfg.deadline, "deadline") if cfg.deadline else timedelta(hours=cfg.window_h)
    iplan = fetch_interruptible_plan(
        provider,
        duration,
        now=now,
        deadline=deadline,
        min_slot=cfg.min_slot,
        pause_cost=cfg.pause_cost,
        energy_kwh=cfg.energy_kwh,
        pause_idle_w=cfg.pause_idle_w,
    )
    result: dict[str, Any] = {"plan": iplan.best_single.to_dict(), "interruptible": iplan.to_dict()}
    result["slurm_begin"] = slurm_begin_time(iplan.slots[0].start, cfg.slurm_tz)  # the first slot
    return _plot_and_print(
        cfg, result, iplan, lambda: format_interruptible_table(iplan, result), output_dir, stream
    )


def _projection(plan: Plan, energy_kwh: float, embodied_g: float, functional_units: float) -> dict[str, Any]:
    """Operational carbon and SCI of the job run now vs at the best start (estimates)."""
    proj = plan.project(energy_kwh)
    m_g, r = float(embodied_g), float(functional_units)
    return {
        "energy_kwh": proj.energy_kwh,
        "operational_now_g": proj.now_g,
        "operational_shifted_g": proj.shifted_g,
        "saving_g": proj.saving_g,
        "saving_pct": proj.saving_pct,
        "embodied_g": m_g,
        "functional_units": r,
        "sci_now_g_per_unit": (proj.now_g + m_g) / r,
        "sci_shifted_g_per_unit": (proj.shifted_g + m_g) / r,
        "estimated": True,
        "basis": "forecast intensity x given energy_kwh; SCI = (E x I + M) / R",
    }


def _plot_result(plan: Plan | InterruptiblePlan, path: Path) -> dict[str, Any]:
    """``{"plot": path}``, or ``{"plot": None, "plot_error": why}``: a plot never hides the answer."""
    try:
        return {"plot": str(plot_plan(plan, path))}
    except Exception as exc:  # a plotting problem must not hide the answer
        return {"plot": None, "plot_error": str(exc)}


def format_table(plan: Plan, result: dict[str, Any]) -> str:
    """The human-readable answer."""

    def t(ts: datetime) -> str:
        return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")

    gen = t(plan.generated_at) if plan.generated_at else "unknown"
    lines = [
        f"Carbon-aware plan for a {format_duration(plan.duration)} job "
        f"(window {t(plan.window_start)} .. {t(plan.window_end)}, {plan.candidates} candidate starts)",
        f"Intensity: {plan.source}, region {plan.region}, {plan.signal_type} signal, {plan.kind} data, "
        f"forecast issued {gen}",
        "",
    ]
    proj = result.get("projection")
    head = f"{'':<12}{'start':<22}{'end':<22}{'mean gCO2e/kWh':>16}"
    if proj:
        head += f"{'operational g':>16}{'SCI g/unit':>14}"
    lines.append(head)
    rows = [
        ("run now", plan.now_start, plan.now_mean_g_per_kwh, "now"),
        ("best start", plan.best_start, plan.best_mean_g_per_kwh, "shifted"),
    ]
    for label, s, mean, key in rows:
        row = f"{label:<12}{t(s):<22}{t(s + plan.duration):<22}{mean:>16.1f}"
        if proj:
            row += f"{proj[f'operational_{key}_g']:>16.1f}{proj[f'sci_{key}_g_per_unit']:>14.1f}"
        lines.append(row)
    saving = f"saving: {plan.saving_g_per_kwh:.1f} gCO2e/kWh ({plan.saving_pct:.1f}%) by starting {format_duration(plan.delay) if plan.delay.total_seconds() > 0 else 'now'}"
    if plan.delay.total_seconds() > 0:
        saving += " later"
    if proj:
        saving += f"; {proj['saving_g']:.1f} gCO2e for {proj['energy_kwh']:g} kWh"
    lines += ["", saving]
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
    for note in plan.notes:
        lines.append(f"note: {note}")
    if result.get("plot"):
        lines.append(f"plot: {result['plot']}")
    elif result.get("plot_error"):
        lines.append(f"plot not written: {result['plot_error']}")
    return "\n".join(lines)


def _utc_text(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def format_interruptible_table(iplan: InterruptiblePlan, result: dict[str, Any]) -> str:
    """The human-readable answer for ``interruptible=true``: every slot and both savings."""
    t, single = _utc_text, iplan.best_single
    per = " (per kW of job power; give energy_kwh for grams)" if iplan.power_is_nominal else ""
    lines = [
        f"Interruptible plan for a {format_duration(iplan.duration)} job, finishing by {t(iplan.deadline_end)} "
        f"(min slot {format_duration(iplan.min_slot)}, pause cost {format_duration(iplan.pause_cost)}, "
        f"idle {iplan.pause_idle_w:g} W while paused)",
        f"Intensity: {single.source}, region {single.region}, {single.signal_type} signal, {single.kind} data",
        "",
        f"{'':<20}{'start':<22}{'end':<22}{'mean gCO2e/kWh':>16}{'gCO2e':>12}",
    ]
    for i, slot in enumerate(iplan.slots, 1):
        lines.append(
            f"{f'slot {i}':<20}{t(slot.start):<22}{t(slot.end):<22}{slot.mean_g_per_kwh:>16.1f}"
            f"{slot.emissions_g:>12.1f}"
        )
    if iplan.idle_emissions_g:
        lines.append(f"{'paused (idle)':<20}{'':<44}{'':>16}{iplan.idle_emissions_g:>12.1f}")
    end_now = single.now_start + iplan.duration
    lines += [
        f"{'run now':<20}{t(single.now_start):<22}{t(end_now):<22}{single.now_mean_g_per_kwh:>16.1f}"
        f"{iplan.now_emissions_g:>12.1f}",
        f"{'best single start':<20}{t(single.best_start):<22}{t(single.best_end):<22}"
        f"{single.best_mean_g_per_kwh:>16.1f}{iplan.best_single_emissions_g:>12.1f}",
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
    if result.get("plot"):
        lines.append(f"plot: {result['plot']}")
    elif result.get("plot_error"):
        lines.append(f"plot not written: {result['plot_error']}")
    return "\n".join(lines)


def plot_plan(plan: Plan | InterruptiblePlan, path: str | Path) -> Path:
    """Write a PNG of the forecast with the best window (and the run-now window) shaded.

    For an :class:`InterruptiblePlan` every run slot is shaded, with the best single start
    outlined for comparison.
    """
    if isinstance(plan, InterruptiblePlan):
        return _plot_slots(plan, Path(path))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pts = plan.points
    xs = [p.start for p in pts] + [pts[-1].end]
    ys = [p.g_per_kwh for p in pts] + [pts[-1].g_per_kwh]
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        ax.step(xs, ys, where="post", color="0.2", lw=1.2, label=f"{plan.kind} intensity")
        ax.axvspan(
            plan.now_start,
            plan.now_start + plan.duration,
            color="tab:red",
            alpha=0.15,
            label=f"run now: {plan.now_mean_g_per_kwh:.0f} g/kWh",
        )
        ax.axvspan(
            plan.best_start,
            plan.best_end,
            color="tab:green",
            alpha=0.3,
            label=f"best: {plan.best_mean_g_per_kwh:.0f} g/kWh (-{plan.saving_pct:.0f}%)",
        )
        ax.axvline(plan.window_end, color="0.5", ls=":", lw=1)
        ax.set_xlim(min(xs[0], plan.window_start), max(xs[-1], plan.best_end))
        _label_and_save(
            fig, ax, f"Best start for a {plan.duration.total_seconds() / 3600:.2f} h job", plan, path
        )
    finally:
        plt.close(fig)
    return path


def _label_and_save(fig: Any, ax: Any, headline: str, plan: Any, path: Path) -> None:
    """Axis labels, a title naming the region, signal, kind and source, the legend; write the PNG."""
    ax.set_ylabel("gCO2e/kWh")
    ax.set_xlabel("time (UTC)")
    source = plan.source if len(plan.source) <= 90 else plan.source[:87] + "..."
    ax.set_title(f"{headline}: {plan.region} ({plan.signal_type}, {plan.kind})\n{source}", fontsize=9)
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path)


def _plot_slots(iplan: InterruptiblePlan, path: Path) -> Path:
    """The PNG for an interruptible plan: the forecast, the run-now window, every slot shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    single = iplan.best_single
    pts = single.points
    xs = [p.start for p in pts] + [pts[-1].end]
    ys = [p.g_per_kwh for p in pts] + [pts[-1].g_per_kwh]
    fig, ax = plt.subplots(figsize=(10, 4), dpi=100)
    try:
        ax.step(xs, ys, where="post", color="0.2", lw=1.2, label=f"{single.kind} intensity")
        ax.axvspan(
            single.now_start,
            single.now_start + iplan.duration,
            color="tab:red",
            alpha=0.12,
            label=f"run now: {single.now_mean_g_per_kwh:.0f} g/kWh",
        )
        ax.axvspan(
            single.best_start,
            single.best_end,
            fill=False,
            hatch="//",
            edgecolor="tab:blue",
            lw=0.8,
            label=f"best single start: {single.best_mean_g_per_kwh:.0f} g/kWh",
        )
        for i, slot in enumerate(iplan.slots):
            ax.axvspan(
                slot.start,
                slot.end,
                color="tab:green",
                alpha=0.35,
                label=(
                    f"{len(iplan.slots)} slot(s): -{iplan.saving_vs_now_pct:.0f}% vs now, "
                    f"-{iplan.saving_vs_best_start_pct:.0f}% vs best start"
                )
                if i == 0
                else None,
            )
        ax.axvline(iplan.deadline_end, color="0.5", ls=":", lw=1, label="deadline")
        ax.set_xlim(min(xs[0], iplan.window_start), max(xs[-1], iplan.deadline_end))
        _label_and_save(
            fig, ax, f"Interruptible {iplan.duration.total_seconds() / 3600:.2f} h job", single, path
        )
    finally:
        plt.close(fig)
    return path


# --------------------------------------------------------------------------- Hydra entry


_FLAGS = {"--json": "json=true", "--slurm-begin": "slurm_begin=true"}


def translate_argv(argv: list[str]) -> list[str]:
    """Turn ``--json`` / ``--slurm-begin`` into Hydra overrides before Hydra parses argv."""
    return [_FLAGS.get(a, a) for a in argv]


@hydra.main(version_base="1.3", config_path="pkg://sci_lightning.conf", config_name="plan")
def _app(cfg: DictConfig) -> None:
    try:
        settings = coerce(PlanConfig, cfg)
        run_plan(settings, output_dir=_hydra_output_dir())
    except (SciLightningError, ProviderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def _hydra_output_dir() -> str | None:
    """Hydra's run folder (``outputs/plan/<date>/<time>``), None outside a Hydra run."""
    from hydra.core.hydra_config import HydraConfig

    try:
        return HydraConfig.get().runtime.output_dir
    except ValueError:
        return None


def main() -> None:
    """Console entry: ``python -m sci_lightning.plan [overrides] [--json]``."""
    from sci_lightning.app.help import skip_unused_group_listing
    from sci_lightning.app.noise import quiet_third_party

    sys.argv = [sys.argv[0]] + translate_argv(sys.argv[1:])
    quiet_third_party()
    skip_unused_group_listing(sys.argv[1:], app_groups=False)  # --help: conf/hydra/help/plan.yaml
    _app()


if __name__ == "__main__":
    main()
