"""The names (and units) of every metric sci-lightning logs: one place for all of them.

Each name ends in its unit (``_w``, ``_j``, ``_wh``, ``_kwh``, ``_g``, ``_mg``, ``_s``,
``_usd``). No name is a path prefix of another (``energy/power_w/total`` beside
``energy/power_w/cpu``, never ``energy/power_w`` beside it): trackers that store a metric
as a file at its path (MLflow's file store) cannot hold both a file and a folder of the
same name. :func:`path_prefix_clashes` checks a set of names for that.

Small fit-end figures are also logged in a unit that renders (Wh, mg): a TensorBoard chart
of 1e-4 kWh shows 0.0001 in its data table.

Where they come from:

- per step (every ``log_every_n_steps`` batches, the first batch, every epoch end):
  :func:`power_w` per component and :data:`POWER_TOTAL_W`, :data:`BATCH_J` (J per training batch),
  :data:`SO_FAR_KWH` / :data:`SO_FAR_WH` (energy so far, PUE applied);
- every training epoch: :data:`EPOCH_J`;
- per step and every training epoch, with :class:`~sci_lightning.lightning.running_series.RunningSciSeries`
  (the app adds it): the carbon so far, :data:`SO_FAR_INTENSITY_G_PER_KWH`,
  :data:`SO_FAR_OPERATIONAL_MG`, :data:`SO_FAR_SCI_MG`, :data:`PROJECTED_SCI_MG`, and the
  ``results/*`` so far;
- at fit end: the job totals ``energy/fit/*`` (:func:`fit_energy_metrics`) and the SCI
  ``sci/*`` (:func:`sci_metrics`), to every logger but TensorBoard (:func:`is_fit_end_total`:
  one point is no chart; TensorBoard shows them in the Text summary and the HParams table);
- at the end of a stage outside ``fit`` (validate, test, predict, tune): ``energy/<stage>/*``
  (:func:`stage_energy_metrics`); after ``test`` and ``predict`` also the Consumer SCI
  ``inference/<stage>/*`` (:func:`inference_metrics`), also to every logger but TensorBoard;
- at fit end, one row per run for HParams tables: ``results/*`` (:data:`RESULT_NAMES`), the
  last point of the series above.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from sci_lightning.accounting import STAGES

if TYPE_CHECKING:
    from sci_lightning.accounting import StageRecord
    from sci_lightning.energy.base import EnergyResult
    from sci_lightning.sci.compute import SciResult
    from sci_lightning.sci.inference import InferenceFigures

__all__ = [
    "BATCH_J",
    "EPOCH_J",
    "POWER_TOTAL_W",
    "PROJECTED_SCI_MG",
    "RESULT_NAMES",
    "SO_FAR_INTENSITY_G_PER_KWH",
    "SO_FAR_KWH",
    "SO_FAR_OPERATIONAL_MG",
    "SO_FAR_SCI_MG",
    "SO_FAR_WH",
    "fit_energy_metrics",
    "inference_metrics",
    "is_fit_end_total",
    "path_prefix_clashes",
    "power_w",
    "sci_metrics",
    "stage_energy_metrics",
]

J_PER_KWH = 3.6e6
J_PER_WH = 3600.0

POWER_TOTAL_W = "energy/power_w/total"
BATCH_J = "energy/batch_j"  # IT joules per training batch (was energy/step_j before issue 20)
SO_FAR_KWH = "energy/so_far_kwh"
SO_FAR_WH = "energy/so_far_wh"
EPOCH_J = "energy/epoch_j"
SO_FAR_INTENSITY_G_PER_KWH = "sci/so_far/intensity_g_per_kwh"
SO_FAR_OPERATIONAL_MG = "sci/so_far/operational_mg"
SO_FAR_SCI_MG = "sci/so_far/sci_mg"
PROJECTED_SCI_MG = "sci/projected/sci_mg"

#: The HParams metrics: the run's final results, one sortable column each.
RESULT_NAMES = {
    "val_acc": "results/val_acc",
    "energy_wh": "results/energy_wh",
    "emissions_mg": "results/emissions_mg",
    "sci": "results/sci",
    "cost_usd": "results/cost_usd",
    "fit_time_s": "results/fit_time_s",
}


def power_w(component: str) -> str:
    """``energy/power_w/<component>`` (mean IT power of one component since the last log, W)."""
    if component == "total":
        raise ValueError("'total' is the sum of the components, not a component name")
    return f"energy/power_w/{component}"


def fit_energy_metrics(result: EnergyResult) -> dict[str, float]:
    """The job totals of an :class:`~sci_lightning.energy.base.EnergyResult` (all ranks and parts)."""
    metrics: dict[str, float] = {
        "energy/fit/total_kwh": result.energy_kwh,
        "energy/fit/total_wh": result.energy_kwh * 1000.0,
        "energy/fit/it_kwh": result.it_energy_j / J_PER_KWH,
        "energy/fit/it_wh": result.it_energy_j / J_PER_WH,
        "energy/fit/duration_s": result.duration_s,
        "energy/fit/pue": result.pue,
    }
    if result.duration_s > 0:
        metrics["energy/fit/mean_power_w"] = result.it_energy_j / result.duration_s
    for c in result.components:
        for key, value in (
            (f"energy/fit/{c.component}_kwh", c.energy_kwh),
            (f"energy/fit/{c.component}_wh", c.energy_kwh * 1000.0),
            (f"energy/fit/{c.component}/{c.method}_kwh", c.energy_kwh),
        ):
            metrics[key] = metrics.get(key, 0.0) + value
    return metrics


def stage_energy_metrics(record: StageRecord) -> dict[str, float]:
    """The figures of a stage measured outside ``fit`` (a :class:`~sci_lightning.accounting.StageRecord`)."""
    prefix = f"energy/{record.stage}"
    return {
        f"{prefix}/total_kwh": record.energy_kwh,
        f"{prefix}/total_wh": record.energy_kwh * 1000.0,
        f"{prefix}/it_wh": record.it_energy_kwh * 1000.0,
        f"{prefix}/duration_s": record.duration_s,
    }


def inference_metrics(fig: InferenceFigures) -> dict[str, float]:
    """The Consumer SCI of a test/predict stage (an :class:`~sci_lightning.sci.inference.InferenceFigures`):
    ``inference/<stage>/energy_j_per_sample`` (facility energy per inference, J),
    ``sci_g_per_1000`` (and ``sci_mg_per_1000``), ``operational_g_per_1000``, ``embodied_g_per_1000``
    and ``intensity_g_per_kwh``; a figure that could not be computed is left out."""
    prefix = f"inference/{fig.stage}"
    per_sample = fig.energy_per_sample_kwh
    values = {
        f"{prefix}/energy_j_per_sample": None if per_sample is None else per_sample * J_PER_KWH,
        f"{prefix}/sci_g_per_1000": fig.sci_per_1000_g,
        f"{prefix}/sci_mg_per_1000": None if fig.sci_per_1000_g is None else fig.sci_per_1000_g * 1000.0,
        f"{prefix}/operational_g_per_1000": fig.operational_per_1000_g,
        f"{prefix}/embodied_g_per_1000": fig.embodied_per_1000_g,
        f"{prefix}/intensity_g_per_kwh": fig.intensity_g_per_kwh,
    }
    return {k: float(v) for k, v in values.items() if v is not None}


def sci_metrics(result: SciResult) -> dict[str, float]:
    """The SCI scalars of a :class:`~sci_lightning.sci.compute.SciResult` (g and mg, kWh and Wh)."""
    return {
        "sci/score": float(result.sci),
        "sci/score_mg": float(result.sci) * 1000.0,
        "sci/operational_g": float(result.operational_g),
        "sci/operational_mg": float(result.operational_g) * 1000.0,
        "sci/embodied_g": float(result.embodied_g),
        "sci/embodied_mg": float(result.embodied_g) * 1000.0,
        "sci/energy_kwh": float(result.energy_kwh),
        "sci/energy_wh": float(result.energy_kwh) * 1000.0,
        "sci/intensity_g_per_kwh": float(result.mean_intensity_g_per_kwh),
        "sci/cost_usd": float(result.cost_usd),
    }


def is_fit_end_total(name: str) -> bool:
    """A figure logged once, at the end of the fit or of a stage (``energy/fit/*``,
    ``energy/<stage>/*``, ``inference/<stage>/*``, the SCI ``sci/*`` but the running ``sci/so_far/*`` and
    ``sci/projected/*``): a single point, which TensorBoard does not chart."""
    if name.startswith(tuple(f"energy/{stage}/" for stage in STAGES)) or name.startswith("inference/"):
        return True
    return name.startswith("sci/") and not name.startswith(("sci/so_far/", "sci/projected/"))


def path_prefix_clashes(names: Iterable[str]) -> list[tuple[str, str]]:
    """Pairs ``(a, b)`` where ``a`` is a path prefix of ``b`` (``b`` starts with ``a + "/"``)."""
    unique = sorted(set(names))
    as_set = set(unique)
    clashes = []
    for name in unique:
        parts = name.split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in as_set:
                clashes.append((prefix, name))
    return clashes
