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
recorded/table values) times the energy you give. Exit status 2 on a user error; 141 (quietly)
when the reader of stdout closes early (``... | head -1``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NoReturn, TextIO

import hydra
from omegaconf import DictConfig

from sci_lightning.carbon import build_provider, require_credentials
from sci_lightning.carbon.base import IntensityProvider, ProviderError
from sci_lightning.errors import ConfigError, SciLightningError
from sci_lightning.settings import PlanConfig, coerce, register_hydra_schemas
from sci_lightning.shifting.display import PLOT_NAME, format_interruptible_table, format_table, plot_result
from sci_lightning.shifting.durations import parse_duration
from sci_lightning.shifting.fetch import fetch_interruptible_plan, fetch_plan
from sci_lightning.shifting.interruptible import InterruptiblePlan
from sci_lightning.shifting.planner import Plan, check_align
from sci_lightning.shifting.slurm import slurm_begin_time

__all__ = ["main", "run_plan", "translate_argv"]

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
    out = stream or sys.stdout
    duration = parse_duration(cfg.duration, "duration")
    now = _parse_start(cfg.start) or now or datetime.now(timezone.utc)
    if provider is None:
        require_credentials(cfg.carbon)
        provider = build_provider(cfg.carbon)
    if cfg.interruptible:
        return _run_interruptible(cfg, provider, duration, now, output_dir, out)

    plan, check = fetch_plan(provider, duration, now=now, window_h=cfg.window_h, align=check_align(cfg.align))
    result: dict[str, Any] = {"plan": plan.to_dict()}
    if check is not None:
        result["sdk_cross_check"] = check
    if cfg.energy_kwh is not None:
        result["projection"] = _projection(plan, cfg.energy_kwh, cfg.embodied_g, cfg.functional_units)
    result["slurm_begin"] = slurm_begin_time(plan, cfg.slurm_tz)
    return _plot_and_print(cfg, result, plan, lambda: format_table(plan, result), output_dir, out)


def _plot_and_print(
    cfg: PlanConfig,
    result: dict[str, Any],
    plotted: Plan | InterruptiblePlan,
    table: Callable[[], str],
    output_dir: str | Path | None,
    stream: TextIO,
) -> dict[str, Any]:
    """Write the PNG of ``plotted`` (unless only the begin time is asked), then print the begin
    time, the JSON or ``table()``. Returns ``result`` (with the plot's path)."""
    if cfg.plot and not cfg.slurm_begin:
        path = Path(cfg.plot_path) if cfg.plot_path else Path(output_dir or ".") / PLOT_NAME
        result.update(plot_result(plotted, path))
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
    duration: timedelta,
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
    except BrokenPipeError:  # caught here: Hydra would print it as a traceback
        _exit_on_closed_stdout()


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
    try:
        _app()
        sys.stdout.flush()  # what is still buffered goes out here, where a closed pipe is caught
    except BrokenPipeError:
        _exit_on_closed_stdout()


def _exit_on_closed_stdout() -> NoReturn:
    """The reader of stdout has gone (``... | head -1``): stop quietly, as shell tools do.

    Stdout is pointed at devnull so that the flush at exit does not fail again; the status is
    141 (128 + SIGPIPE), what a shell reports for a command whose pipe was closed early.
    """
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(141)


if __name__ == "__main__":
    main()
